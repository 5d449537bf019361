"""s2s_env.py -- a throw-away federation environment for the integration
suite: a private CA, a DNS server (dnsmasq) that answers only from the
records a test declares, and Prosody and ejabberd instances that resolve
through it, plus the tern `s2s:` configuration text.

Everything runs on loopback, on free ports, in temporary directories;
nothing reads or writes /etc. Every process started here is also stopped
at interpreter exit (atexit) if a test forgot to.

Domain names: Prosody 0.12 resolves with libunbound (lua-unbound), which
serves the special-use zones of RFC 6761/6762/7686/8375 itself
(localhost., test., invalid., onion., local., home.arpa., ...): a query for
anything under .test never leaves Prosody, and lua-unbound offers no
option to turn that off. Federation with Prosody therefore uses names
under .example (RFC 2606), e.g. p.example, e.example, tern.example;
PROSODY_UNRESOLVABLE lists the suffixes Prosody cannot look up. ejabberd
(Erlang's inet_res) and tern have no such restriction.
"""

import atexit
import json
import os
import pwd
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import types
import uuid
from pathlib import Path

PROSODY = shutil.which('prosody') or '/usr/bin/prosody'
PROSODYCTL = shutil.which('prosodyctl') or '/usr/bin/prosodyctl'
EJABBERDCTL = '/usr/sbin/ejabberdctl'
DNSMASQ = shutil.which('dnsmasq') or '/usr/sbin/dnsmasq'
OPENSSL = shutil.which('openssl') or '/usr/bin/openssl'

# Names libunbound answers locally (NXDOMAIN or its own localhost data)
# whatever the forwarder says: Prosody cannot resolve them.
PROSODY_UNRESOLVABLE = ('.test', '.invalid', '.localhost', '.onion',
                        '.local', '.home.arpa', '.resolver.arpa',
                        '.service.arpa')

_LIVE = []   # objects with a .stop() whose processes may be running


def _stop_all():
    for obj in list(_LIVE):
        try:
            obj.stop()
        except Exception:
            pass


atexit.register(_stop_all)


def have_prosody():
    return os.access(PROSODY, os.X_OK) and os.access(PROSODYCTL, os.X_OK)


def have_ejabberd():
    if not os.access(EJABBERDCTL, os.X_OK):
        return False
    try:
        pwd.getpwnam('ejabberd')
    except KeyError:
        return False
    return os.geteuid() == 0    # it must run as the ejabberd user


def have_dnsmasq():
    return os.access(DNSMASQ, os.X_OK)


# ---------------------------------------------------------------------------
# ports

from conftest import free_ports  # noqa: E402 (n free TCP ports)


def free_udp_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(200):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(('127.0.0.1', 0))
            port = t.getsockname()[1]
            try:
                u.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
        finally:
            t.close()
            u.close()
    raise RuntimeError('no free UDP+TCP port')


def wait_port(port, deadline, proc=None, host='127.0.0.1'):
    """True once port accepts a connection; False when proc exits or the
    deadline (time.monotonic()) passes."""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _read(path):
    try:
        return Path(path).read_bytes().decode('utf-8', 'replace')
    except OSError:
        return ''


def _wait_log(obj, text, timeout):
    deadline = time.monotonic() + timeout
    while True:
        if text in obj.log():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _terminate(proc, timeout=10.0, group=False):
    """SIGTERM (to the process group if group) then SIGKILL. Returns the
    exit status, or None if it had to be killed."""
    if proc is None or proc.poll() is not None:
        if group and proc is not None:
            _killpg(proc.pid, signal.SIGKILL)
        return None if proc is None else proc.returncode
    deadline = time.monotonic() + timeout
    if group:
        _killpg(proc.pid, signal.SIGTERM)
    else:
        proc.terminate()
    try:
        proc.wait(timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = None
    if group:
        # The leader may be a wrapper (ejabberdctl's shell) that is gone
        # while the VM still shuts down: wait for the whole group.
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _killpg(proc.pid, signal.SIGKILL)   # whatever is left of it
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    return rc


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _killpg(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------------------
# certificates

def _openssl(*args, cwd=None):
    r = subprocess.run([OPENSSL] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError('openssl %s failed: %s%s'
                           % (' '.join(map(str, args)), r.stdout, r.stderr))
    return r.stdout


_EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']


def _san(domains, srv_id=True, xmpp_addr=False):
    """The [alt] section: DNS-IDs, SRV-IDs (RFC 4985 / RFC 7712:
    id-on-dnsSRV 1.3.6.1.5.5.7.8.7 as IA5String '_xmpp-server.<domain>'),
    optionally XmppAddr (id-on-xmppAddr 1.3.6.1.5.5.7.8.5, UTF8String)."""
    lines = []
    for i, d in enumerate(domains, 1):
        lines.append('DNS.%d = %s' % (i, d))
    n = 0
    for d in domains:
        if srv_id:
            n += 1
            lines.append('otherName.%d = 1.3.6.1.5.5.7.8.7;IA5STRING:'
                         '_xmpp-server.%s' % (n, d))
        if xmpp_addr:
            n += 1
            lines.append('otherName.%d = 1.3.6.1.5.5.7.8.5;UTF8:%s' % (n, d))
    return '\n'.join(lines) + '\n'


class CA:
    """A throw-away certification authority (EC P-256) in a directory."""

    def __init__(self, directory, name='tern test CA'):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = str(self.dir / 'ca.pem')
        self.ca_key = str(self.dir / 'ca.key')
        _openssl('req', '-x509', *_EC, '-nodes', '-sha256', '-days', '3',
                 '-subj', '/CN=%s' % name,
                 '-addext', 'basicConstraints=critical,CA:TRUE',
                 '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
                 '-keyout', self.ca_key, '-out', self.ca_path)

    def issue(self, name, domains, srv_id=True, xmpp_addr=False, days=2,
              eku='serverAuth,clientAuth'):
        """(cert_path, key_path) of a leaf for `domains` (the first is
        also the CN). name: file name stem."""
        domains = [domains] if isinstance(domains, str) else list(domains)
        cert = self.dir / ('%s.pem' % name)
        key = self.dir / ('%s.key' % name)
        csr = self.dir / ('%s.csr' % name)
        ext = self.dir / ('%s.ext' % name)
        ext.write_text(
            'basicConstraints = critical,CA:FALSE\n'
            'keyUsage = critical,digitalSignature\n'
            'extendedKeyUsage = %s\n'
            'subjectKeyIdentifier = hash\n'
            'authorityKeyIdentifier = keyid\n'
            'subjectAltName = @alt\n'
            '[alt]\n%s' % (eku, _san(domains, srv_id, xmpp_addr)))
        _openssl('req', '-new', *_EC, '-nodes', '-sha256',
                 '-subj', '/CN=%s' % domains[0], '-keyout', key, '-out', csr)
        _openssl('x509', '-req', '-in', csr, '-CA', self.ca_path,
                 '-CAkey', self.ca_key,
                 '-set_serial', str(random.getrandbits(63) | 1),
                 '-days', str(days), '-sha256', '-extfile', ext,
                 '-out', cert)
        return str(cert), str(key)


def make_ca(directory, name='tern test CA'):
    return CA(directory, name)


def self_signed(directory, name, domains, srv_id=True, xmpp_addr=False):
    """(cert_path, key_path) of a self-signed certificate with the same
    SANs as CA.issue gives."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    domains = [domains] if isinstance(domains, str) else list(domains)
    cert, key = d / ('%s.pem' % name), d / ('%s.key' % name)
    cnf = d / ('%s.cnf' % name)
    cnf.write_text(
        '[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n'
        '[dn]\nCN = %s\n'
        '[v3]\n'
        'basicConstraints = critical,CA:FALSE\n'
        'keyUsage = critical,digitalSignature\n'
        'extendedKeyUsage = serverAuth,clientAuth\n'
        'subjectKeyIdentifier = hash\n'
        'subjectAltName = @alt\n'
        '[alt]\n%s' % (domains[0], _san(domains, srv_id, xmpp_addr)))
    _openssl('req', '-x509', *_EC, '-nodes', '-sha256', '-days', '2',
             '-config', cnf, '-keyout', key, '-out', cert)
    return str(cert), str(key)


# ---------------------------------------------------------------------------
# DNS

class DnsServer:
    """dnsmasq in the foreground on 127.0.0.1:<port> (UDP and TCP),
    answering only from the records declared here: no resolv.conf, no
    /etc/hosts, no /etc/dnsmasq.conf, no upstream; every other name is
    NXDOMAIN (--local=/#/). TTL 0, so clients do not cache.

    >>> dns = DnsServer(tmp)
    >>> dns.srv('_xmpp-server._tcp.a.example', 'a.example', 40123)
    >>> dns.a('a.example', '127.0.0.1')
    >>> dns.start()
    Records declared after start() take effect on restart() (same port).
    """

    def __init__(self, workdir=None, user=None):
        """user: --user for dnsmasq (default: dnsmasq's own, i.e. it
        drops from root to nobody)."""
        self.dir = Path(workdir or tempfile.mkdtemp(prefix='tern-dns-'))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logfile = self.dir / 'dnsmasq.log'
        self.user = user
        self.records = []
        self.port = None
        self.proc = None
        self._log = None

    # -- records ------------------------------------------------------------

    def a(self, name, ip='127.0.0.1'):
        self.records.append('--host-record=%s,%s' % (name, ip))
        return self

    def aaaa(self, name, ip='::1'):
        return self.a(name, ip)

    def srv(self, service_name, target, port, priority=0, weight=5):
        """e.g. srv('_xmpp-server._tcp.a.example', 'a.example', 40123).
        The target needs its own a() record."""
        self.records.append('--srv-host=%s,%s,%d,%d,%d' % (
            service_name, target, port, priority, weight))
        return self

    def srv_unavailable(self, service_name):
        """RFC 2782 'service decidedly not available' (target '.')."""
        self.records.append('--srv-host=%s' % service_name)
        return self

    def cname(self, alias, target):
        """target must be a name declared here too."""
        self.records.append('--cname=%s,%s' % (alias, target))
        return self

    def clear(self):
        self.records = []
        return self

    # -- process ------------------------------------------------------------

    def argv(self):
        argv = [DNSMASQ, '--keep-in-foreground', '--conf-file=/dev/null',
                '--no-resolv', '--no-hosts', '--no-poll',
                '--listen-address=127.0.0.1', '--bind-interfaces',
                '--port=%d' % self.port, '--local=/#/', '--local-ttl=0',
                '--pid-file=%s' % (self.dir / 'dnsmasq.pid'),
                '--log-facility=-', '--log-queries']
        if self.user:
            argv.append('--user=%s' % self.user)
        return argv + self.records

    def start(self, timeout=10.0):
        for attempt in range(3):
            if self.port is None or attempt:
                self.port = free_udp_tcp_port()
            if self._start(timeout):
                return self
        raise RuntimeError('dnsmasq did not start:\n' + self.log()[-3000:])

    def restart(self, timeout=10.0):
        """Stops and starts again on the same port with the records
        declared now."""
        self.stop()
        if not self._start(timeout):
            raise RuntimeError('dnsmasq did not restart:\n'
                               + self.log()[-3000:])
        return self

    def _start(self, timeout):
        self._log = open(self.logfile, 'ab')
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log,
                                     cwd=str(self.dir))
        _LIVE.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._forget()
                return False
            try:
                # Any answer will do (a fresh name: nothing cached).
                dns_query(self.port,
                          'probe-%d.invalid' % random.getrandbits(30),
                          'A', timeout=0.3)
                return True
            except (OSError, DnsError):
                time.sleep(0.05)
        self.stop()
        return False

    def _forget(self):
        if self in _LIVE:
            _LIVE.remove(self)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self):
        rc = _terminate(self.proc, 5)
        self._forget()
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return _read(self.logfile)

    def queries(self):
        """[(type, name)] of the queries dnsmasq logged, in order."""
        out = []
        for ln in self.log().splitlines():
            i = ln.find(' query[')
            if i < 0:
                continue
            rest = ln[i + 7:]
            qtype, _, rest = rest.partition('] ')
            out.append((qtype, rest.split(' from ')[0]))
        return out

    def query(self, name, qtype='A', tcp=False, timeout=2.0):
        """(rcode name, [answers]) from this server (see dns_query)."""
        return dns_query(self.port, name, qtype, tcp=tcp, timeout=timeout)

    @property
    def address(self):
        return '127.0.0.1:%d' % self.port

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class DnsError(Exception):
    pass


_QTYPES = {'A': 1, 'NS': 2, 'CNAME': 5, 'SOA': 6, 'TXT': 16, 'AAAA': 28,
           'SRV': 33, 'ANY': 255}
_RCODES = {0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN',
           4: 'NOTIMP', 5: 'REFUSED'}


def _dns_name(msg, off):
    labels, jumped, end = [], False, None
    for _ in range(128):
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode('ascii', 'replace'))
        off += n
    return '.'.join(labels), (end if jumped else off)


def dns_query(port, name, qtype='A', tcp=False, timeout=2.0,
              host='127.0.0.1'):
    """One DNS query (RD set) to host:port. Returns (rcode name, answers)
    where answers is a list of ('A', ip), ('AAAA', ip), ('SRV', priority,
    weight, port, target), ('CNAME', target) or (type number, raw bytes).
    Raises DnsError on no answer."""
    qid = random.getrandbits(16)
    q = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip('.').split('.'):
        b = label.encode()
        q += bytes([len(b)]) + b
    q += b'\0' + struct.pack('>HH', _QTYPES[qtype.upper()], 1)
    try:
        if tcp:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(struct.pack('>H', len(q)) + q)
                buf = b''
                while len(buf) < 2 or len(buf) < 2 + struct.unpack(
                        '>H', buf[:2])[0]:
                    chunk = s.recv(65536)
                    if not chunk:
                        raise DnsError('TCP connection closed')
                    buf += chunk
                msg = buf[2:2 + struct.unpack('>H', buf[:2])[0]]
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(q, (host, port))
                while True:
                    msg, _ = s.recvfrom(65536)
                    if struct.unpack('>H', msg[:2])[0] == qid:
                        break
    except socket.timeout:
        raise DnsError('no answer from %s:%d' % (host, port))
    except ConnectionRefusedError:
        raise DnsError('connection refused by %s:%d' % (host, port))
    _id, flags, qd, an, _ns, _ar = struct.unpack('>HHHHHH', msg[:12])
    rcode = _RCODES.get(flags & 0xF, str(flags & 0xF))
    off = 12
    for _ in range(qd):
        _, off = _dns_name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = _dns_name(msg, off)
        rtype, _cls, _ttl, rdlen = struct.unpack('>HHIH', msg[off:off + 10])
        off += 10
        rd = msg[off:off + rdlen]
        if rtype == 1:
            answers.append(('A', socket.inet_ntop(socket.AF_INET, rd)))
        elif rtype == 28:
            answers.append(('AAAA', socket.inet_ntop(socket.AF_INET6, rd)))
        elif rtype == 33:
            pri, wei, prt = struct.unpack('>HHH', rd[:6])
            answers.append(('SRV', pri, wei, prt, _dns_name(msg, off + 6)[0]))
        elif rtype == 5:
            answers.append(('CNAME', _dns_name(msg, off)[0]))
        else:
            answers.append((rtype, rd))
        off += rdlen
    return rcode, answers


# ---------------------------------------------------------------------------
# Prosody

def _lua_str(s):
    return json.dumps(str(s))   # a JSON string is a valid Lua string here


class _RefServer:
    """What the reference servers share: start-up with retries on other
    ports, accounts and addresses. A subclass defines _installed(),
    _prepare() (fresh ports and files), _start(timeout, last) -> bool and
    _register(user, password) -> CompletedProcess."""

    tool = 'register'

    def start(self, timeout=None):
        if not self._installed():
            raise RuntimeError(self.missing)
        for attempt in range(3):
            self._prepare()
            if self._start(timeout or self.start_timeout,
                           last=attempt == 2):
                return self
        return self

    def adduser(self, user, password):
        r = self._register(user, password)
        if r.returncode != 0:
            raise RuntimeError('%s %s failed (%d): %s%s'
                               % (self.tool, user, r.returncode, r.stdout,
                                  r.stderr))
        return user

    def jid(self, user, resource=None):
        j = '%s@%s' % (user, self.domain)
        return j + '/' + resource if resource else j


class ProsodyServer(_RefServer):
    """A Prosody 0.12 on free loopback ports with a throw-away config and
    data directory. DNS: lua-unbound forwarding to the DnsServer only
    (`unbound = { resolvconf = false; hoststxt = false; forward =
    "127.0.0.1@PORT" }`), so it never reads /etc/resolv.conf or
    /etc/hosts. Its domain and every peer it resolves must avoid
    PROSODY_UNRESOLVABLE (.test among them)."""

    def __init__(self, workdir, domain, cert, key, cafile, dns_port,
                 muc=False, s2s_secure_auth=False,
                 s2s_require_encryption=True, s2s_direct_tls=True,
                 dialback=True, log_level='debug', extra='', modules=(),
                 wrapper=(), dialback_secret=None):
        """extra: Lua lines appended to the global section; modules:
        further modules_enabled; wrapper: argv prefix for the server
        (e.g. strace). dialback_secret: Prosody's (default: a random one,
        kept in .dialback_secret); its keys are XEP-0185 ones, so
        s2s_raw.dialback_key(secret, receiving, p.domain, stream id)
        predicts them."""
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.cert, self.key, self.cafile = str(cert), str(key), str(cafile)
        self.dns_port = dns_port
        self.muc = 'conference.%s' % domain if muc is True else (muc or None)
        self.s2s_secure_auth = s2s_secure_auth
        self.s2s_require_encryption = s2s_require_encryption
        self.s2s_direct_tls = s2s_direct_tls
        self.dialback = dialback
        self.log_level = log_level
        self.extra = extra
        self.modules = list(modules)
        self.wrapper = list(wrapper)
        self.dialback_secret = dialback_secret or uuid.uuid4().hex
        self.config = self.dir / 'prosody.cfg.lua'
        self.logfile = self.dir / 'prosody.log'
        self.outfile = self.dir / 'stdout.log'
        self.proc = None
        self._out = None
        self.c2s_port = self.s2s_port = self.s2s_direct_port = None

    def _write_config(self):
        (self.c2s_port, self.s2s_port,
         self.s2s_direct_port) = free_ports(3)
        data = self.dir / 'data'
        data.mkdir(exist_ok=True)
        capath = self.dir / 'capath'   # empty: trust only cafile
        capath.mkdir(exist_ok=True)
        # where Prosody looks for <host>.crt files (none: ssl{} says it)
        (self.dir / 'certs').mkdir(exist_ok=True)
        mods = ['roster', 'saslauth', 'tls', 'disco', 'ping', 'presence',
                'message', 'iq', 'posix']
        if self.dialback:
            mods.append('dialback')
        mods += self.modules
        b = lambda v: 'true' if v else 'false'   # noqa: E731
        text = (
            '-- written by s2s_env.py\n'
            'run_as_root = true\n'
            'daemonize = false\n'
            'pidfile = %(pid)s\n'
            'data_path = %(data)s\n'
            'log = { { levels = { min = %(lvl)s }, to = "file", '
            'filename = %(log)s } }\n'
            'interfaces = { "127.0.0.1" }\n'
            'local_interfaces = { "127.0.0.1" }\n'
            'use_ipv6 = false\n'
            'c2s_ports = { %(c2s)d }\n'
            'c2s_direct_tls_ports = { }\n'
            's2s_ports = { %(s2s)d }\n'
            's2s_direct_tls_ports = { %(s2sd)s }\n'
            'component_ports = { }\n'
            'http_ports = { }\n'
            'https_ports = { }\n'
            'c2s_require_encryption = true\n'
            's2s_require_encryption = %(req)s\n'
            's2s_secure_auth = %(sec)s\n'
            's2s_timeout = 20\n'
            's2s_close_timeout = 2\n'
            'dialback_secret = %(dbsecret)s\n'
            'authentication = "internal_hashed"\n'
            'storage = "internal"\n'
            'unbound = { resolvconf = false; hoststxt = false; '
            'forward = "127.0.0.1@%(dns)d" }\n'
            'ssl = { certificate = %(cert)s; key = %(key)s; '
            'cafile = %(ca)s; capath = %(capath)s }\n'
            'modules_enabled = { %(mods)s }\n'
            'modules_disabled = { "limits"; "admin_socket" }\n'
            '%(extra)s\n'
            'VirtualHost %(domain)s\n'
            % dict(pid=_lua_str(self.dir / 'prosody.pid'),
                   data=_lua_str(data), lvl=_lua_str(self.log_level),
                   log=_lua_str(self.logfile), c2s=self.c2s_port,
                   s2s=self.s2s_port,
                   s2sd=self.s2s_direct_port if self.s2s_direct_tls else '',
                   req=b(self.s2s_require_encryption),
                   sec=b(self.s2s_secure_auth), dns=self.dns_port,
                   cert=_lua_str(self.cert), key=_lua_str(self.key),
                   ca=_lua_str(self.cafile), capath=_lua_str(capath),
                   mods='; '.join(_lua_str(m) for m in mods),
                   extra=self.extra, domain=_lua_str(self.domain),
                   dbsecret=_lua_str(self.dialback_secret)))
        if self.muc:
            text += ('Component %s "muc"\n'
                     '    restrict_room_creation = false\n'
                     % _lua_str(self.muc))
        self.config.write_text(text)
        if not self.s2s_direct_tls:
            self.s2s_direct_port = None

    start_timeout = 20.0
    missing = 'prosody is not installed'

    def _installed(self):
        return have_prosody()

    def _prepare(self):
        self._write_config()

    def _start(self, timeout, last):
        mark = len(self.log())      # the log is appended to on retries
        self._out = open(self.outfile, 'ab')
        self.proc = subprocess.Popen(
            self.wrapper + [PROSODY, '-F', '--config', str(self.config)],
            stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._out,
            cwd=str(self.dir), start_new_session=True)
        _LIVE.append(self)
        deadline = time.monotonic() + timeout
        ports = [self.c2s_port, self.s2s_port] + (
            [self.s2s_direct_port] if self.s2s_direct_port else [])
        # Prosody keeps running when it cannot bind a port, and a port
        # accepting connections may be someone else's: wait for its own
        # word (logged at info) that it listens on each.
        verbose = self.log_level in ('debug', 'info')
        for p in ports:
            while True:
                log = self.log()[mark:]
                failed = 'Failed to open server port' in log
                if not failed and (
                        'on [127.0.0.1]:%d' % p in log if verbose
                        else wait_port(p, time.monotonic() + 0.2)):
                    break
                if failed or not self.alive() or \
                        time.monotonic() > deadline:
                    text = log[-4000:] + _read(self.outfile)[-2000:]
                    self.stop()
                    if not last and failed:
                        return False
                    raise RuntimeError('prosody did not listen on %d:\n%s'
                                       % (p, text))
                time.sleep(0.05)
        return True

    def stop(self):
        rc = _terminate(self.proc, 10, group=True)
        if self in _LIVE:
            _LIVE.remove(self)
        if self._out:
            self._out.close()
            self._out = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def prosodyctl(self, *args, timeout=30):
        return subprocess.run(
            [PROSODYCTL, '--config', str(self.config)] +
            [str(a) for a in args],
            capture_output=True, text=True, timeout=timeout, cwd=str(self.dir),
            stdin=subprocess.DEVNULL)

    tool = 'prosodyctl register'

    def _register(self, user, password):
        return self.prosodyctl('register', user, self.domain, password)

    def log(self):
        return _read(self.logfile)

    def wait_log(self, text, timeout=5.0):
        """True once text is in the log (it is written asynchronously)."""
        return _wait_log(self, text, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# ejabberd

# xmpp_stream_out (p1_xmpp, used by ejabberd_s2s_out) looks up the SRV
# records with inet_res, which the inetrc points at the DnsServer, but the
# addresses of the SRV targets (and of the domain without SRV) with
# net:getaddrinfo/2, i.e. the C library: /etc/hosts and /etc/resolv.conf's
# servers, never the DnsServer. So ejabberd gets a copy of xmpp_stream_out
# (compiled from the debug_info abstract code of the installed one, first
# on its code path with -pa) whose only change is that call going to
# tern_s2s_dns:getaddrinfo/2, which asks inet (the same inetrc) instead.
_EJ_DNS_ERL = r"""
-module(tern_s2s_dns).
-export([getaddrinfo/2]).
%% net:getaddrinfo/2 as xmpp_stream_out uses it, through inet_res.
getaddrinfo(Host, Service) ->
    Port = list_to_integer(Service),
    Found = [#{family => Fam, type => stream, protocol => tcp,
               addr => #{family => Fam, addr => IP, port => Port}}
             || Fam <- [inet, inet6],
                IP <- case inet:getaddrs(Host, Fam) of
                          {ok, IPs} -> IPs;
                          {error, _} -> []
                      end],
    case Found of
        [] -> {error, nxdomain};
        _ -> {ok, Found}
    end.
"""

_EJ_PATCH_EVAL = r"""
Out = os:getenv("TERN_PATCH_DIR"),
{ok, _} = compile:file(filename:join(Out, "tern_s2s_dns.erl"),
                       [{outdir, Out}, report_errors]),
{ok, {_, [{abstract_code, {raw_abstract_v1, Forms}}]}} =
    beam_lib:chunks(code:which(xmpp_stream_out), [abstract_code]),
Walk = fun W({call, A, {remote, A2, {atom, A3, net}, {atom, A4, getaddrinfo}},
              Args}) ->
               put(patched, true),
               {call, A, {remote, A2, {atom, A3, tern_s2s_dns},
                          {atom, A4, getaddrinfo}}, W(Args)};
           W(T) when is_tuple(T) -> list_to_tuple(W(tuple_to_list(T)));
           W(L) when is_list(L) -> [W(E) || E <- L];
           W(X) -> X
       end,
Forms2 = Walk(Forms),
true = get(patched),
{ok, xmpp_stream_out, Bin} = compile:forms(Forms2, [binary, debug_info]),
ok = file:write_file(filename:join(Out, "xmpp_stream_out.beam"), Bin),
halt(0).
"""

_ej_patch_dir = []


def ejabberd_dns_patch():
    """The directory (readable by all) holding the patched
    xmpp_stream_out.beam and tern_s2s_dns.beam; built once per
    process."""
    if _ej_patch_dir and Path(_ej_patch_dir[0], 'xmpp_stream_out.beam'
                              ).exists():
        return _ej_patch_dir[0]
    d = tempfile.mkdtemp(prefix='tern-ejabberd-patch-')
    os.chmod(d, 0o755)
    Path(d, 'tern_s2s_dns.erl').write_text(_EJ_DNS_ERL)
    # In its own directory, without crash dumps: nothing lands in the
    # checkout whatever happens.
    r = subprocess.run(['erl', '-noshell', '-noinput', '-eval',
                        _EJ_PATCH_EVAL],
                       env=dict(os.environ, TERN_PATCH_DIR=d,
                                ERL_CRASH_DUMP_BYTES='0'),
                       capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, cwd=d)
    if r.returncode != 0 or not Path(d, 'xmpp_stream_out.beam').exists():
        shutil.rmtree(d, ignore_errors=True)
        raise RuntimeError('could not build the ejabberd DNS patch:\n%s%s'
                           % (r.stdout, r.stderr))
    for f in Path(d).iterdir():
        os.chmod(f, 0o644)
    _ej_patch_dir[:] = [d]
    atexit.register(shutil.rmtree, d, True)
    return d


class EjabberdServer(_RefServer):
    """An ejabberd 23.01 as the ejabberd user (setpriv, as
    bench/compare.sh) with its own node name, Mnesia spool, config dir
    and distribution port (no epmd). Its files live in a directory of
    their own under /tmp (the ejabberd user must reach them; pytest's
    tmp_path is root-only) that stop() removes after copying the logs to
    workdir.

    DNS: Erlang's inet_res only, told by ERL_INETRC (<config
    dir>/inetrc, which ejabberdctl exports) to ask the DnsServer and
    nothing else: {lookup, [file, dns]} where the `file` table holds only
    localhost (the Erlang distribution needs it; {hosts_file, ""} keeps
    /etc/hosts out) and {resolv_conf, ""} keeps /etc/resolv.conf out.
    SRV lookups use inet_res as such; the address lookups of s2s targets
    would go to the C library, hence dns_patch (ejabberd_dns_patch). One
    exception no configuration reaches: the Erlang VM resolves its own
    host name natively once at boot (inet_config, before the inetrc is
    read), the only time it reads /etc/hosts and /etc/resolv.conf."""

    def __init__(self, workdir, domain, cert, key, cafile, dns_port,
                 muc=False, dialback=True, s2s_direct_tls=True,
                 loglevel='info', extra='', modules=None, dns_patch=True,
                 wrapper=()):
        """extra: YAML appended at the top level; modules: {name: yaml
        text} added to the modules section; dns_patch: see
        ejabberd_dns_patch; wrapper: argv prefix for the server."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.domain = domain
        self.src_cert, self.src_key = str(cert), str(key)
        self.src_ca = str(cafile)
        self.dns_port = dns_port
        self.muc = 'conference.%s' % domain if muc is True else (muc or None)
        self.dialback = dialback
        self.s2s_direct_tls = s2s_direct_tls
        self.loglevel = loglevel
        self.extra = extra
        self.modules = dict(modules or {})
        self.dns_patch = dns_patch
        self.wrapper = list(wrapper)
        self.dir = None
        self.proc = None
        self._out = None
        self.node = None
        self.c2s_port = self.s2s_port = self.s2s_direct_port = None
        self.dist_port = None

    @property
    def cafile(self):
        return self.src_ca

    def _prepare(self):
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix='tern-ejabberd-'))
            os.chmod(self.dir, 0o755)
        d = self.dir
        for sub in ('spool', 'log'):     # fresh: the node name changes
            shutil.rmtree(d / sub, ignore_errors=True)
            (d / sub).mkdir()
        (self.c2s_port, self.s2s_port, self.s2s_direct_port,
         self.dist_port) = free_ports(4)
        self.node = 'tern%d_%d@localhost' % (os.getpid(),
                                             random.getrandbits(24))
        (d / 'cert.pem').write_text(_read(self.src_key) + _read(self.src_cert))
        shutil.copyfile(self.src_ca, d / 'ca.pem')
        (d / 'inetrc').write_text(
            '{resolv_conf, ""}.\n'
            '{hosts_file, ""}.\n'
            '{host, {127,0,0,1}, ["localhost"]}.\n'
            '{nameserver, {127,0,0,1}, %d}.\n'
            '{lookup, [file, dns]}.\n'
            '{inet6, false}.\n' % self.dns_port)
        mods = {'mod_disco': '{}', 'mod_ping': '{}', 'mod_roster': '{}',
                'mod_offline': '{}', 'mod_caps': '{}'}
        if self.dialback:
            mods['mod_s2s_dialback'] = '{}'
        if self.muc:
            mods['mod_muc'] = ('{host: "%s", access: all, access_create: all,'
                               ' access_persistent: all}' % self.muc)
        mods.update(self.modules)
        listen = (
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_c2s,'
            ' starttls_required: true}\n'
            '  - {port: %d, ip: "127.0.0.1", module: ejabberd_s2s_in}\n'
            % (self.c2s_port, self.s2s_port))
        if self.s2s_direct_tls:
            listen += ('  - {port: %d, ip: "127.0.0.1", '
                       'module: ejabberd_s2s_in, tls: true}\n'
                       % self.s2s_direct_port)
        (d / 'ejabberd.yml').write_text(
            '# written by s2s_env.py\n'
            'hosts: ["%(domain)s"]\n'
            'loglevel: %(loglevel)s\n'
            'certfiles: ["%(d)s/cert.pem"]\n'
            'ca_file: "%(d)s/ca.pem"\n'
            's2s_cafile: "%(d)s/ca.pem"\n'
            's2s_use_starttls: required\n'
            's2s_access: all\n'
            's2s_dns_timeout: 3\n'
            's2s_dns_retries: 1\n'
            'outgoing_s2s_families: [ipv4]\n'
            'outgoing_s2s_timeout: 10\n'
            'acme: {auto: false}\n'
            'auth_method: [internal]\n'
            'auth_password_format: scram\n'
            'listen:\n%(listen)s'
            'acl:\n  local: {user_regexp: ""}\n'
            'access_rules:\n'
            '  local: {allow: local}\n'
            '  c2s: {allow: all}\n'
            '  s2s: {allow: all}\n'
            'modules:\n%(mods)s'
            '%(extra)s\n'
            % dict(domain=self.domain, loglevel=self.loglevel, d=d,
                   listen=listen, extra=self.extra,
                   mods=''.join('  %s: %s\n' % kv for kv in mods.items())))
        pa = ' -pa %s' % ejabberd_dns_patch() if self.dns_patch else ''
        (d / 'ejabberdctl.cfg').write_text(
            'ERLANG_NODE=%s\n'
            'ERL_DIST_PORT=%d\n'
            'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 +sbwt none '
            '+sbwtdcpu none +sbwtdio none%s"\n'
            % (self.node, self.dist_port, pa))
        subprocess.run(['chown', '-R', 'ejabberd:ejabberd', str(d)],
                       check=True, timeout=30)
        os.chmod(d / 'cert.pem', 0o600)

    def _ctl_argv(self, *args):
        d = self.dir
        return ['setpriv', '--reuid', 'ejabberd', '--regid', 'ejabberd',
                '--init-groups', 'env', 'HOME=%s' % d, EJABBERDCTL,
                '--config-dir', str(d), '--config', str(d / 'ejabberd.yml'),
                '--ctl-config', str(d / 'ejabberdctl.cfg'),
                '--logs', str(d / 'log'), '--spool', str(d / 'spool')] + [
                    str(a) for a in args]

    start_timeout = 40.0
    missing = 'ejabberd is not installed (or not root)'

    def _installed(self):
        return have_ejabberd()

    def _start(self, timeout, last):
        self._out = open(self.dir / 'stdout.log', 'ab')
        self.proc = subprocess.Popen(
            self.wrapper + self._ctl_argv('foreground'),
            stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._out, cwd=str(self.dir),
            start_new_session=True)
        _LIVE.append(self)
        deadline = time.monotonic() + timeout
        ports = [self.c2s_port, self.s2s_port] + (
            [self.s2s_direct_port] if self.s2s_direct_tls else [])
        # A port accepting connections may be someone else's: at info
        # level, wait for ejabberd's own word that it listens on each.
        verbose = self.loglevel in ('info', 'debug')
        for p in ports:
            while not ('connections at 127.0.0.1:%d for' % p in self.log()
                       if verbose else
                       wait_port(p, time.monotonic() + 0.2, self.proc)):
                if not self.alive() or time.monotonic() > deadline:
                    text = self.log()[-4000:] + _read(
                        self.dir / 'stdout.log')[-3000:]
                    self._stop_proc()
                    if not last and ('eaddrinuse' in text or
                                     'in use' in text):
                        return False
                    self.stop()
                    raise RuntimeError('ejabberd did not listen on %d:\n%s'
                                       % (p, text))
                time.sleep(0.05)
        if not self.s2s_direct_tls:
            self.s2s_direct_port = None
        return True

    def _stop_proc(self):
        rc = _terminate(self.proc, 15, group=True)
        if self._out:
            self._out.close()
            self._out = None
        return rc

    def stop(self, keep=False):
        """Stops the node, copies its logs into workdir/ejabberd-logs and
        removes its directory (unless keep)."""
        rc = self._stop_proc()
        if self in _LIVE:
            _LIVE.remove(self)
        if self.dir is not None and self.dir.exists():
            dst = self.workdir / 'ejabberd-logs'
            dst.mkdir(exist_ok=True)
            for f in list((self.dir / 'log').glob('*.log')) + [
                    self.dir / 'stdout.log', self.dir / 'ejabberd.yml',
                    self.dir / 'inetrc']:
                if f.exists():
                    shutil.copyfile(f, dst / f.name)
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def ctl(self, *args, timeout=60):
        return subprocess.run(self._ctl_argv(*args), capture_output=True,
                              text=True, timeout=timeout, cwd=str(self.dir),
                              stdin=subprocess.DEVNULL)

    tool = 'ejabberdctl register'

    def _register(self, user, password):
        return self.ctl('register', user, self.domain, password)

    def log(self):
        if self.dir is not None:
            return _read(self.dir / 'log' / 'ejabberd.log')
        return _read(self.workdir / 'ejabberd-logs' / 'ejabberd.log')

    def wait_log(self, text, timeout=5.0):
        """True once text is in the log (it is written asynchronously)."""
        return _wait_log(self, text, timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# slixmpp against these servers

def slix_target(server, cafile=None):
    """An object xmpp_slix.login accepts for a ProsodyServer or
    EjabberdServer: its c2s STARTTLS port, and the CA as the trust anchor
    (slixmpp checks the certificate against the JID's domain)."""
    return types.SimpleNamespace(
        jid=server.jid, domain=server.domain, port=server.c2s_port,
        port_direct=None, cert=str(cafile or server.cafile))


# ---------------------------------------------------------------------------
# tern

def _yaml_scalar(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


def _yaml_flow(v):
    if isinstance(v, dict):
        return '{%s}' % ', '.join('%s: %s' % (_yaml_scalar(k), _yaml_flow(x))
                                  for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return '[%s]' % ', '.join(_yaml_flow(x) for x in v)
    return _yaml_scalar(v)


def tern_s2s_config(s2s_port=None, s2s_direct_port=None, dns_port=None,
                    ca_file=None, require_valid_certs=False, static=None,
                    idle_timeout=300, **more):
    """The `s2s:` section of tern.yaml (text ending in a newline), e.g.

        s2s:
          ca_file: "/tmp/.../ca.pem"
          require_valid_certs: false
          resolver: {servers: ["127.0.0.1:40053"]}
          static: {"other.example": {"ip": "127.0.0.1", "port": 40269}}
          idle_timeout: 300

    The ports are not part of it: the listeners go in `listen:` (see
    tern_s2s_listen). static: {domain: {ip:, port:, tls: 'direct'}}.
    more: other keys of the section as they are spelled there
    (require_valid_certs_for, allow_dialback_for, require_tls,
    connect_timeout, max_queue, dialback_secret)."""
    lines = ['s2s:']
    if ca_file:
        lines.append('  ca_file: %s' % _yaml_scalar(str(ca_file)))
    lines.append('  require_valid_certs: %s'
                 % _yaml_scalar(bool(require_valid_certs)))
    if dns_port is not None:
        lines.append('  resolver: {servers: ["127.0.0.1:%d"]}' % dns_port)
    if static:
        lines.append('  static: %s' % _yaml_flow(static))
    if idle_timeout is not None:
        lines.append('  idle_timeout: %d' % idle_timeout)
    for k, v in more.items():
        if v is not None:
            lines.append('  %s: %s' % (k, _yaml_flow(v)))
    return '\n'.join(lines) + '\n'


def tern_s2s_listen(s2s_port, s2s_direct_port=None, ip='127.0.0.1'):
    """The `listen:` items (as lines of a block sequence, two-space
    indent) for tern's STARTTLS and direct-TLS s2s listeners."""
    out = '  - {ip: %s, port: %d, service: s2s}\n' % (ip, s2s_port)
    if s2s_direct_port:
        out += ('  - {ip: %s, port: %d, service: s2s, tls: direct}\n'
                % (ip, s2s_direct_port))
    return out
