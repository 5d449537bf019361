"""test_bench_smoke.py -- keeps the load generator (bench/ternbench.c)
working: a small `login`, a short flat-out `chat` and the idle holder of
compare.sh's sweep (`idle --ready-file`, chat beside it) against a test
ternd, asserting correctness only (exit status 0, nothing lost), never
speed.

TERNBENCH selects the binary; the default is the ternbench beside TERND if
there is one, else <repo>/build/ternbench.
"""

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, TERND, sanitizer_report


def _ternbench():
    env = os.environ.get('TERNBENCH')
    if env:
        return env
    beside = Path(TERND).resolve().parent / 'ternbench'
    if beside.exists():
        return str(beside)
    return str(REPO / 'build' / 'ternbench')


TERNBENCH = _ternbench()


def figures(text):
    """The 'key: value' lines of ternbench's output as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(': ')
        if sep and key and ' ' not in key:
            out[key] = value.strip()
    return out


@pytest.fixture(scope='module')
def bench_server(certs, tmp_path_factory):
    """A ternd that lets the bench register its accounts in band and does
    not throttle logins per address."""
    from conftest import Server
    s = Server(tmp_path_factory.mktemp('ternd-bench'), *certs,
               c2s={'auth_ip_failures': 0},
               modules={'register': {'allow_registration': 'true',
                                     'ip_limit': 1000000,
                                     'min_password_length': 1}}).start()
    yield s
    s.check_clean_exit()


def run_bench(server, *args, timeout=60):
    if not os.access(TERNBENCH, os.X_OK):
        pytest.fail('ternbench not found at %s (set TERNBENCH)' % TERNBENCH)
    cmd = [TERNBENCH, args[0], '--port', str(server.port),
           '--domain', server.domain, '--server-pid', str(server.proc.pid),
           '--timeout', str(timeout - 5)] + [str(a) for a in args[1:]]
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=timeout)
    rep = sanitizer_report(r.stderr)
    assert not rep, 'sanitizer report from ternbench:\n' + r.stderr
    return r, figures(r.stdout)


@pytest.mark.slow
def test_bench_login_100_clients_all_succeed(bench_server):
    r, f = run_bench(bench_server, 'login', '--users', 100,
                     '--user-prefix', 'smokelogin', '--register',
                     '--concurrency', 50)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f['logins_ok'] == '100', r.stdout
    assert f['failures'] == '0', r.stdout
    assert f['result'] == 'ok'
    assert 'cpu_ms_per_login' in f


@pytest.mark.slow
def test_bench_chat_flat_out_loses_nothing(bench_server):
    r, f = run_bench(bench_server, 'chat', '--users', 200,
                     '--user-prefix', 'smokechat', '--register',
                     '--duration', 3, '--warmup', 0.5)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f['lost'] == '0', r.stdout
    assert f['reordered'] == '0', r.stdout
    assert int(f['sent']) > 0, r.stdout
    assert f['delivered_total'] == f['sent'], r.stdout
    assert f['result'] == 'ok'
    assert 'cpu_s_per_1000_stanzas' in f


@pytest.mark.slow
def test_bench_idle_holds_sessions_until_stop_file_while_chat_runs(
        bench_server, tmp_path):
    ready, stop = tmp_path / 'ready', tmp_path / 'stop'
    r, f = run_bench(bench_server, 'login', '--users', 50, '--clients', 0,
                     '--user-prefix', 'smokeidle', '--register')
    assert r.returncode == 0, r.stdout + r.stderr
    cmd = [TERNBENCH, 'idle', '--port', str(bench_server.port),
           '--domain', bench_server.domain,
           '--server-pid', str(bench_server.proc.pid), '--timeout', '55',
           '--users', '50', '--user-prefix', 'smokeidle', '--hold', '0.5',
           '--ready-file', str(ready), '--stop-file', str(stop),
           '--linger', '50']
    holder = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and holder.poll() is None and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), 'no ready file'
        held = figures(ready.read_text())
        assert held['sessions_established'] == '50'
        assert 'rss_kib_per_session' in held
        assert holder.poll() is None, 'the holder did not linger'
        r, f = run_bench(bench_server, 'chat', '--users', 20,
                         '--user-prefix', 'smokeidlechat', '--register',
                         '--rate', 200, '--duration', 1, '--warmup', 0.2)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f['lost'] == '0', r.stdout
        stop.touch()
        out, err = holder.communicate(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.communicate()
    assert not sanitizer_report(err), err
    assert holder.returncode == 0, out + err
    f = figures(out)
    assert f['sessions_alive_end'] == '50', out
    assert f['result'] == 'ok', out
