"""conftest.py -- fixtures for tern's integration suite.

Starts a real ternd (TERND, default <repo>/build/ternd) on free loopback
ports with a throw-away SQLite file and a self-signed certificate for
localhost, manages accounts through ternctl (TERNCTL, default
<repo>/build/ternctl), and on teardown stops it with SIGTERM, requiring
exit status 0 and a log free of sanitizer reports. On a test failure the
server log written during the test is attached to the report.

Run with Debian's interpreter (it has python3-slixmpp and python3-pytest):
    /usr/bin/python3 -m pytest tests/integration
"""

import itertools
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERND = os.environ.get('TERND', str(REPO / 'build' / 'ternd'))
TERNCTL = os.environ.get('TERNCTL', str(REPO / 'build' / 'ternctl'))
DOMAIN = 'localhost'

SANITIZER_MARKS = ('AddressSanitizer', 'LeakSanitizer', 'runtime error:')

LIVE = []          # servers started and not yet stopped
STARTED = []       # every server ever started, in order
_counter = itertools.count(1)


def free_ports(n):
    """n distinct ports nobody listens on right now (bind to 0, all held
    open together so the kernel cannot hand out one twice, then closed)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(('127.0.0.1', 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port():
    return free_ports(1)[0]


def sanitizer_report(text):
    """The sanitizer lines in text, or ''."""
    hits = [ln for ln in text.splitlines()
            if any(m in ln for m in SANITIZER_MARKS)]
    return '\n'.join(hits)


class Server:
    """One ternd process and its files."""

    def __init__(self, workdir, cert, key, c2s=None, extra='',
                 modules=None, tls=None, domain=DOMAIN, s2s=None):
        """modules: {name: {option: value}} for some modules; every
        built module is still loaded (see module_config). tls: further
        keys of the tls section, e.g. {'compact': 'false'}. domain: the
        one host served. s2s: None, or the text of the s2s section
        (federation; s2s listeners with STARTTLS and direct TLS are then
        added on port_s2s and port_s2s_direct)."""
        self.tls_extra = ''.join(', %s: %s' % kv for kv in (tls or {}).items())
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = str(cert), str(key)
        self.domain = domain
        self.s2s = s2s
        self.c2s = {'require_tls': 'true', 'max_stanza_size': 262144,
                    'max_preauth_stanza': 10240, 'preauth_timeout': 30,
                    'auth_attempts': 3}
        self.c2s.update(c2s or {})
        self.extra = extra + module_config(modules)
        self.config = self.dir / 'tern.yaml'
        self.logfile = self.dir / 'ternd.log'
        self.db = self.dir / 'tern.db'
        self.proc = None
        self.returncode = None
        self._write_config()

    def _write_config(self):
        # STARTTLS, XEP-0368 direct TLS, no TLS at all; HTTP over direct
        # TLS and plain HTTP (WebSocket, BOSH, host-meta).
        (self.port, self.port_direct, self.port_plain, self.port_https,
         self.port_http, self.port_s2s, self.port_s2s_direct) = free_ports(7)
        c2s_text = ', '.join('%s: %s' % kv for kv in self.c2s.items())
        s2s_text = ''
        if self.s2s is not None:
            s2s_text = (
                '  - {ip: 127.0.0.1, port: %d, service: s2s}\n'
                '  - {ip: 127.0.0.1, port: %d, service: s2s, tls: direct}\n'
                % (self.port_s2s, self.port_s2s_direct))
        self.config.write_text(
            'hosts: [%s]\n'
            'tls: {cert: %s, key: %s%s}\n'
            'storage: {backend: sqlite, path: %s}\n'
            'listen:\n'
            '  - {ip: 127.0.0.1, port: %d, service: c2s}\n'
            '  - {ip: 127.0.0.1, port: %d, service: c2s, tls: direct}\n'
            '  - {ip: 127.0.0.1, port: %d, service: c2s, tls: none}\n'
            '  - {ip: 127.0.0.1, port: %d, service: http, tls: direct}\n'
            '  - {ip: 127.0.0.1, port: %d, service: http}\n'
            '%s'
            'log: {level: debug}\n'
            'c2s: {%s}\n%s%s'
            % (self.domain, self.cert, self.key, self.tls_extra, self.db,
               self.port, self.port_direct, self.port_plain, self.port_https,
               self.port_http, s2s_text, c2s_text,
               's2s:\n' + self.s2s if self.s2s else '', self.extra))

    # -- process -----------------------------------------------------------

    def start(self, timeout=10.0):
        """Starts ternd and waits until all three ports accept. Retries
        with other ports if one was taken meanwhile."""
        if not os.access(TERND, os.X_OK):
            pytest.fail('ternd not found at %s (set TERND)' % TERND)
        for attempt in range(3):
            if self._start(timeout, last=(attempt == 2)):
                return self
            self._write_config()
        return self

    def _start(self, timeout, last):
        # A restart (same database, e.g. after kill()) appends to the log.
        self._log = open(self.logfile, 'ab' if self.proc else 'wb')
        self.proc = subprocess.Popen([TERND, '-c', str(self.config)],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     cwd=str(self.dir))
        # A restarted server is live again: stopped and checked at teardown.
        self.returncode = None
        LIVE.append(self)
        STARTED.append(self)
        deadline = time.monotonic() + timeout
        pending = [self.port, self.port_direct, self.port_plain,
                   self.port_https, self.port_http]
        if self.s2s is not None:
            pending += [self.port_s2s, self.port_s2s_direct]
        while pending:
            if self.proc.poll() is not None:
                self._forget()
                self.returncode = self.proc.returncode
                log = self.log()
                if not last and 'in use' in log:
                    self.returncode = None
                    return False
                pytest.fail('ternd exited with %s during start-up:\n%s'
                            % (self.proc.returncode, log[-5000:]))
            try:
                socket.create_connection(('127.0.0.1', pending[0]),
                                         timeout=0.5).close()
                pending.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                self.returncode = 'killed: never listened'
                pytest.fail('ternd did not listen on port %d within %ss:\n%s'
                            % (pending[0], timeout, self.log()[-5000:]))
            time.sleep(0.05)
        return True

    def _forget(self):
        if self in LIVE:
            LIVE.remove(self)
        self._log.close()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._forget()

    def stop(self, timeout=10.0):
        """SIGTERM and wait. Returns the exit status (None if it had to be
        killed)."""
        if self.proc is None or self.returncode is not None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self.returncode = 'hung: killed after SIGTERM'
                return self.returncode
        self.returncode = self.proc.returncode
        self._forget()
        return self.returncode

    def check_clean_exit(self):
        """Stops the server and asserts a clean exit and log."""
        rc = self.stop()
        log = self.log()
        assert rc == 0, 'ternd exit status %r after SIGTERM\n%s' % (
            rc, log[-8000:])
        rep = sanitizer_report(log)
        assert not rep, 'sanitizer report in ternd log:\n%s\n%s' % (
            rep, log[-20000:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            return self.logfile.read_bytes().decode('utf-8', 'replace')
        except OSError:
            return ''

    def log_size(self):
        try:
            return self.logfile.stat().st_size
        except OSError:
            return 0

    # -- accounts ----------------------------------------------------------

    def ternctl(self, *args, timeout=20):
        return subprocess.run([TERNCTL, '-c', str(self.config)] +
                              [str(a) for a in args],
                              capture_output=True, text=True,
                              timeout=timeout, cwd=str(self.dir))

    def adduser(self, user, password):
        r = self.ternctl('adduser', '%s@%s' % (user, self.domain), password)
        assert r.returncode == 0, 'ternctl adduser %s failed (%d): %s%s' % (
            user, r.returncode, r.stdout, r.stderr)
        return user

    def new_user(self, prefix='u', password=None):
        """Creates a fresh account; returns (localpart, password)."""
        user = '%s%d%s' % (prefix, next(_counter), uuid.uuid4().hex[:6])
        password = password or 'pw-' + uuid.uuid4().hex[:10]
        self.adduser(user, password)
        return user, password

    def jid(self, user, resource=None):
        j = '%s@%s' % (user, self.domain)
        return j + '/' + resource if resource else j


def built_modules():
    """Names of the modules compiled into TERND: the modules_gen.c that
    CMake wrote beside it, else the src/mod/mod_*.c files."""
    gen = Path(TERND).resolve().parent / 'modules_gen.c'
    try:
        names = re.findall(r'&tn_mod_(\w+),', gen.read_text())
    except OSError:
        names = []
    return names or sorted(p.stem[4:] for p in (REPO / 'src' / 'mod')
                           .glob('mod_*.c'))


def module_config(modules):
    """The 'modules:' section for options {name: {key: value}}: a
    mapping selects the modules it lists, so it lists every built module
    (in the default order) and gives options to those in `modules`."""
    if not modules:
        return ''
    names = built_modules()
    names += [n for n in modules if n not in names]
    lines = ['modules:']
    for n in names:
        opts = modules.get(n)
        lines.append('  %s: %s' % (n, '{%s}' % ', '.join(
            '%s: %s' % kv for kv in opts.items()) if opts else 'null'))
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------------------
# fixtures

@pytest.fixture(scope='session')
def certs(tmp_path_factory):
    """(cert, key) paths of a self-signed certificate for localhost."""
    d = tmp_path_factory.mktemp('pki')
    cert, key = d / 'cert.pem', d / 'key.pem'
    r = subprocess.run(
        ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
         '-sha256', '-days', '2', '-subj', '/CN=localhost',
         '-addext', 'subjectAltName=DNS:localhost',
         '-keyout', str(key), '-out', str(cert)],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return str(cert), str(key)


@pytest.fixture(scope='session')
def cafile(certs):
    return certs[0]


@pytest.fixture(scope='module')
def server(certs, tmp_path_factory):
    """A ternd shared by the tests of one module (tests use their own
    accounts)."""
    s = Server(tmp_path_factory.mktemp('ternd'), *certs).start()
    yield s
    s.check_clean_exit()


@pytest.fixture
def make_server(certs, tmp_path):
    """Factory for servers owned by one test (e.g. to stop them). Each is
    stopped and checked at teardown unless the test stopped it."""
    made = []

    def make(**kw):
        s = Server(tmp_path / ('ternd%d' % len(made)), *certs, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc is not None and s.returncode is None:
            s.check_clean_exit()
        else:
            rep = sanitizer_report(s.log())
            assert not rep, 'sanitizer report in ternd log:\n' + rep


@pytest.fixture(autouse=True)
def _log_marks(request):
    """Remembers where each live server's log stood when the test
    began."""
    request.node._tern_marks = {id(s): s.log_size() for s in LIVE}
    request.node._tern_servers = list(LIVE)
    request.node._tern_first_new = len(STARTED)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    marks = getattr(item, '_tern_marks', {})
    seen = getattr(item, '_tern_servers', [])
    new = STARTED[getattr(item, '_tern_first_new', len(STARTED)):]
    for s in list(dict.fromkeys(seen + new)):
        text = s.log().encode()[marks.get(id(s), 0):].decode(
            'utf-8', 'replace')
        if len(text) > 30000:
            text = '[...]\n' + text[-30000:]
        rep.sections.append(('ternd log %s (%s)' % (s.dir.name, rep.when),
                             text))
