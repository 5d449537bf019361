"""test_lifecycle.py -- the daemon as an operator sees it: configuration
errors, shutdown on SIGTERM (every client gets </stream:stream>, exit 0),
and account management with ternctl while ternd runs."""

import re
import signal
import subprocess
import time

import pytest

from conftest import TERND, TERNCTL
from xmpp_raw import NS_SASL, NS_STREAM, NS_STREAMS, RawClient, q, tostr


# -- configuration --------------------------------------------------------------

def _run_ternd(config, timeout=10):
    """Runs ternd expecting it to exit on its own; returns (rc, stderr)."""
    p = subprocess.Popen([TERND, '-c', str(config)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        pytest.fail('ternd kept running with a bad config:\n' + err)
    return p.returncode, err


def _config_lines(certs, tmp_path, port):
    cert, key = certs
    return [
        'hosts:',
        '  - localhost',
        'tls:',
        '  cert: %s' % cert,
        '  key: %s' % key,
        'storage:',
        '  backend: sqlite',
        '  path: %s' % (tmp_path / 'tern.db'),
        'listen:',
        '  - ip: 127.0.0.1',
        '    port: %d' % port,
        '    service: c2s',
        'log:',
        '  level: debug',
        'c2s:',
        '  require_tls: true',
        '  auth_attempts: 3',
    ]


@pytest.mark.parametrize('where,key', [
    (0, 'frobnicate'),          # top level
    (16, 'bogus'),              # inside c2s
    (12, 'colour'),             # inside a listener
])
def test_unknown_config_key(certs, tmp_path, where, key):
    from conftest import free_port
    lines = _config_lines(certs, tmp_path, free_port())
    indent = '' if where == 0 else (
        '    ' if where == 12 else '  ')
    lines.insert(where, '%s%s: 1' % (indent, key))
    lineno = where + 1
    cfg = tmp_path / 'bad.yaml'
    cfg.write_text('\n'.join(lines) + '\n')
    rc, err = _run_ternd(cfg)
    assert rc != 0, 'ternd accepted an unknown key'
    m = re.search(r"%s:(\d+): key '([^']*)': unknown key"
                  % re.escape(str(cfg)), err)
    assert m, 'no "FILE:LINE: key \'...\': unknown key" in:\n' + err
    assert int(m.group(1)) == lineno, err
    assert m.group(2).split('.')[-1] == key, err


def test_config_bad_yaml_and_missing_file(certs, tmp_path):
    cfg = tmp_path / 'broken.yaml'
    cfg.write_text('hosts: [localhost\ntls: {\n')
    rc, err = _run_ternd(cfg)
    assert rc != 0
    assert str(cfg) in err, err
    rc, err = _run_ternd(tmp_path / 'does-not-exist.yaml')
    assert rc != 0
    assert 'does-not-exist.yaml' in err, err


def test_config_bad_value(certs, tmp_path):
    from conftest import free_port
    lines = _config_lines(certs, tmp_path, free_port())
    lines[16] = '  auth_attempts: lots'
    cfg = tmp_path / 'badval.yaml'
    cfg.write_text('\n'.join(lines) + '\n')
    rc, err = _run_ternd(cfg)
    assert rc != 0
    assert '%s:17:' % cfg in err, err


def test_minimal_block_config_starts(certs, tmp_path):
    # The block-style config used above is valid without the bad line.
    from conftest import free_port
    port = free_port()
    cfg = tmp_path / 'good.yaml'
    cfg.write_text('\n'.join(_config_lines(certs, tmp_path, port)) + '\n')
    p = subprocess.Popen([TERND, '-c', str(cfg)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        c = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert p.poll() is None, p.communicate()[1]
            try:
                c = RawClient(port)
                break
            except OSError:
                time.sleep(0.05)
        assert c is not None, 'never listened'
        c.open_stream()
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
    assert p.returncode == 0, err


# -- SIGTERM ----------------------------------------------------------------------

def _expect_shutdown(c):
    """Elements until </stream:stream>: at most a system-shutdown stream
    error; then the connection closes."""
    while True:
        try:
            el = c.recv(timeout=10)
        except AssertionError as e:
            assert 'closed the stream' in str(e), \
                'no </stream:stream> on shutdown: %s' % e
            break
        if el.tag == q(NS_STREAM, 'error'):
            assert el.find(q(NS_STREAMS, 'system-shutdown')) is not None, \
                tostr(el)
    c.expect_closed()


def test_sigterm_closes_streams(make_server, cafile):
    s = make_server().start()
    user, pw = s.new_user('term')
    bound = RawClient(s.port, cafile=cafile)
    bound.login(user, pw, 'one')
    direct = RawClient(s.port_direct, direct_tls=True, cafile=cafile)
    direct.login(user, pw, 'two')
    preauth = RawClient(s.port, cafile=cafile)
    preauth.open_stream()
    tls_only = RawClient(s.port, cafile=cafile)
    tls_only.open_stream()
    tls_only.starttls()
    # Make sure the server has processed everything so far.
    assert bound.query('get', "<ping xmlns='urn:xmpp:ping'/>",
                       to='localhost').get('type') == 'result'
    s.proc.send_signal(signal.SIGTERM)
    for c in (bound, direct, preauth, tls_only):
        _expect_shutdown(c)
    try:
        rc = s.proc.wait(10)
    except subprocess.TimeoutExpired:
        s.kill()
        pytest.fail('ternd did not exit within 10 s of SIGTERM')
    assert rc == 0, s.log()[-5000:]
    s.stop()


def test_sigterm_idle(make_server):
    s = make_server().start()
    t0 = time.monotonic()
    assert s.stop() == 0, s.log()[-5000:]
    assert time.monotonic() - t0 < 5


# -- ternctl ----------------------------------------------------------------------

def _can_login(s, cafile, user, pw):
    c = RawClient(s.port, cafile=cafile)
    try:
        c.open_stream()
        c.starttls()
        el = c.auth_scram(user, pw, restart=False)
        return el.tag == q(NS_SASL, 'success')
    finally:
        c.close()


def test_ternctl_users_sorted(make_server):
    s = make_server().start()
    for name in ('mike', 'alice', 'zed', 'bob'):
        s.adduser(name, 'secret-' + name)
    r = s.ternctl('users', 'localhost')
    assert r.returncode == 0, r.stderr
    assert r.stdout.split('\n') == ['alice@localhost', 'bob@localhost',
                                    'mike@localhost', 'zed@localhost', '']
    r = s.ternctl('adduser', 'alice@localhost', 'again')
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)


def test_ternctl_passwd_and_deluser(make_server, cafile):
    s = make_server().start()
    s.adduser('carol', 'old-secret')
    assert _can_login(s, cafile, 'carol', 'old-secret')
    r = s.ternctl('passwd', 'carol@localhost', 'new-secret')
    assert r.returncode == 0, r.stderr
    assert not _can_login(s, cafile, 'carol', 'old-secret')
    assert _can_login(s, cafile, 'carol', 'new-secret')
    r = s.ternctl('deluser', 'carol@localhost')
    assert r.returncode == 0, r.stderr
    assert not _can_login(s, cafile, 'carol', 'new-secret')
    r = s.ternctl('users', 'localhost')
    assert r.returncode == 0 and 'carol@localhost' not in r.stdout
    r = s.ternctl('deluser', 'carol@localhost')
    assert r.returncode == 1, (r.returncode, r.stderr)
    r = s.ternctl('passwd', 'nobody@localhost', 'x')
    assert r.returncode == 1, (r.returncode, r.stderr)


def test_ternctl_readd_after_delete(make_server, cafile):
    s = make_server().start()
    s.adduser('dave', 'one')
    assert s.ternctl('deluser', 'dave@localhost').returncode == 0
    s.adduser('dave', 'two')
    assert _can_login(s, cafile, 'dave', 'two')
    assert not _can_login(s, cafile, 'dave', 'one')


def test_ternctl_usage_errors(server):
    cfg = str(server.config)
    for args in ([], ['-c', cfg], ['-c', cfg, 'adduser'],
                 ['-c', cfg, 'adduser', 'x@localhost'],
                 ['-c', cfg, 'frobnicate', 'x'],
                 ['-c', cfg, 'users']):
        r = subprocess.run([TERNCTL] + args, capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)


def test_ternctl_bad_jids(server):
    for jid in ('a@b@c', '@localhost', 'noatsign', 'x@example.org',
                'x@localhost/resource'):
        r = server.ternctl('adduser', jid, 'pw')
        assert r.returncode in (1, 2), (jid, r.returncode, r.stdout,
                                        r.stderr)
    r = server.ternctl('users', 'localhost')
    assert '@example.org' not in r.stdout


def test_ternctl_unicode_and_case(server, cafile):
    # nodeprep folds case: the account is the same for both spellings.
    server.adduser('Eve\u00c9', 'pw-eve')
    r = server.ternctl('users', 'localhost')
    assert 'eve\u00e9@localhost' in r.stdout.split('\n'), r.stdout
    assert _can_login(server, cafile, 'eve\u00e9', 'pw-eve')
    r = server.ternctl('adduser', 'EVE\u00e9@localhost', 'again')
    assert r.returncode == 1, (r.returncode, r.stderr)
