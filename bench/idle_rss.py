#!/usr/bin/python3
"""idle_rss.py -- server memory per idle authenticated XMPP session.

Opens N client sessions to one XMPP server over loopback, each carried
all the way to an idle, authenticated, bound and available session:
stream header, STARTTLS (RFC 6120 5) unless --tls none, SASL SCRAM-SHA-1
(RFC 5802) or PLAIN, stream restart, resource binding (RFC 6120 7),
initial presence (RFC 6121 4.2) and one ping round trip (XEP-0199) that
proves the server has handled everything. It reads VmRSS from
/proc/<pid>/status after a warm-up batch and again once all N sessions
sit idle, and prints the difference per session in KiB.

By default it starts its own ternd (--ternd, default build/ternd) on free
ports in a work directory (--workdir, default a temp dir) with a
self-signed certificate, accounts bench1..benchN@localhost created with
ternctl (the database is kept in the work directory and reused by later
runs), logging at warn. With --attach HOST:PORT:PID it measures an
already running server instead (any server: Prosody, ejabberd), whose
accounts USER_FMT % i (--user-fmt) must exist with --password.

Raw sockets, ssl and asyncio streams only (no XMPP library), so the
client side stays small enough to hold tens of thousands of sessions.
Source addresses go round robin over 127.0.1.1..127.0.1.250 so that a
large N does not exhaust the ephemeral ports of one address.

With --transport websocket the sessions use the XMPP WebSocket binding
(RFC 7395) at /xmpp-websocket instead: direct TLS (wss) in place of
STARTTLS, or plain ws with --tls none; the same steps inside framed
messages. With --attach, PORT is then the server's HTTP(S) port.

Examples (Debian's interpreter):
    /usr/bin/python3 bench/idle_rss.py -n 2000
    /usr/bin/python3 bench/idle_rss.py -n 2000 --tls none
    /usr/bin/python3 bench/idle_rss.py -n 2000 --tls both --mech plain
    /usr/bin/python3 bench/idle_rss.py -n 2000 --transport websocket
Every wait has a deadline; the script ends on its own.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NS_CLIENT = 'jabber:client'
NS_STREAM = 'http://etherx.jabber.org/streams'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'

RE_FEATURES = re.compile(rb'</stream:features>|<stream:features\s*/>')
RE_PROCEED = re.compile(rb'<proceed[\s/>]')
RE_SASL_END = re.compile(
    rb'<(challenge|success|failure)[^>]*?(/>|>(.*?)</\1>)', re.S)
RE_BIND = re.compile(rb'<iq[^>]*id=[\'"]b[\'"][^>]*>.*?</iq>|'
                     rb'<iq[^>]*id=[\'"]b[\'"][^>]*/>', re.S)
RE_PING = re.compile(rb'<iq[^>]*id=[\'"]p[\'"][^>]*(/>|>.*?</iq>)', re.S)
RE_ERROR = re.compile(rb'<stream:error')


class SessionError(Exception):
    """One session could not be established."""


def vm_rss_kib(pid):
    """VmRSS of pid in KiB, from /proc/<pid>/status."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    raise SystemExit('pid %d has no VmRSS: the server exited' % pid)


def header(domain):
    return ("<?xml version='1.0'?><stream:stream to='%s' xmlns='%s' "
            "xmlns:stream='%s' version='1.0'>"
            % (domain, NS_CLIENT, NS_STREAM)).encode()


class Client:
    """One session: the steps of a login, then idle."""

    def __init__(self, args, index, source):
        self.args = args
        self.index = index
        self.source = source
        self.user = args.user_fmt % index
        self.buf = b''
        self.reader = self.writer = None

    async def expect(self, regex):
        """Reads until regex matches the bytes received since the last
        expect; returns the match and drops what it covered."""
        deadline = time.monotonic() + self.args.timeout
        while True:
            m = regex.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            if RE_ERROR.search(self.buf):
                raise SessionError('stream error: %r' % self.buf[:300])
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionError('timeout waiting for %r (have %r)'
                                   % (regex.pattern[:40], self.buf[:200]))
            data = await asyncio.wait_for(self.reader.read(65536), left)
            if not data:
                raise SessionError('connection closed (have %r)'
                                   % self.buf[:200])
            self.feed(data)

    def feed(self, data):
        self.buf += data

    def send(self, data):
        self.writer.write(data if isinstance(data, bytes) else data.encode())

    async def open_stream(self):
        self.buf = b''
        self.send(header(self.args.domain))
        await self.expect(RE_FEATURES)

    async def sasl_plain(self):
        cred = base64.b64encode(
            b'\0' + self.user.encode() + b'\0' + self.args.password.encode())
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                  % (NS_SASL, cred.decode()))
        m = await self.expect(RE_SASL_END)
        if m.group(1) != b'success':
            raise SessionError('PLAIN: %r' % m.group(0)[:200])

    async def sasl_scram(self):
        """SCRAM-SHA-1 without channel binding (RFC 5802 5)."""
        nonce = base64.b64encode(os.urandom(18)).decode()
        bare = 'n=%s,r=%s' % (self.user, nonce)
        self.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
                  % (NS_SASL, base64.b64encode(
                      ('n,,' + bare).encode()).decode()))
        m = await self.expect(RE_SASL_END)
        if m.group(1) != b'challenge':
            raise SessionError('SCRAM first: %r' % m.group(0)[:200])
        first = base64.b64decode(m.group(3) or b'').decode()
        f = dict(kv.split('=', 1) for kv in first.split(','))
        if not f.get('r', '').startswith(nonce):
            raise SessionError('SCRAM: bad nonce')
        salted = hashlib.pbkdf2_hmac('sha1', self.args.password.encode(),
                                     base64.b64decode(f['s']), int(f['i']))
        ckey = hmac.new(salted, b'Client Key', 'sha1').digest()
        stored = hashlib.sha1(ckey).digest()
        final_wo = 'c=biws,r=%s' % f['r']
        msg = ('%s,%s,%s' % (bare, first, final_wo)).encode()
        sig = hmac.new(stored, msg, 'sha1').digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        final = '%s,p=%s' % (final_wo, base64.b64encode(proof).decode())
        self.send("<response xmlns='%s'>%s</response>"
                  % (NS_SASL, base64.b64encode(final.encode()).decode()))
        m = await self.expect(RE_SASL_END)
        if m.group(1) != b'success':
            raise SessionError('SCRAM final: %r' % m.group(0)[:200])

    async def run(self, tls_ctx):
        a = self.args
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port,
                                    local_addr=(self.source, 0)),
            a.timeout)
        await self.open_stream()
        if tls_ctx is not None:
            self.send("<starttls xmlns='%s'/>" % NS_TLS)
            await self.expect(RE_PROCEED)
            await asyncio.wait_for(
                self.writer.start_tls(tls_ctx, server_hostname=a.domain),
                a.timeout)
            await self.open_stream()
        await self.login()

    async def login(self):
        """From an open stream: SASL, restart, bind, presence, ping; one
        element per send (as the WebSocket binding needs)."""
        if self.args.mech == 'plain':
            await self.sasl_plain()
        else:
            await self.sasl_scram()
        await self.open_stream()
        self.send("<iq xmlns='%s' type='set' id='b'><bind xmlns='%s'>"
                  "<resource>r%d</resource></bind></iq>"
                  % (NS_CLIENT, NS_BIND, self.index))
        await self.expect(RE_BIND)
        self.send("<presence xmlns='%s'/>" % NS_CLIENT)
        self.send("<iq xmlns='%s' type='get' id='p'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>" % NS_CLIENT)
        await self.expect(RE_PING)
        self.buf = b''

    def close(self):
        if self.writer is not None:
            self.writer.transport.abort()


class WsClient(Client):
    """The same session over the WebSocket binding (RFC 7395): one element
    per text message, <open/> for the stream header."""

    NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'

    def __init__(self, args, index, source):
        super().__init__(args, index, source)
        self.raw = b''

    def feed(self, data):
        """Unframes server messages (unmasked, RFC 6455 5.2) into buf;
        answers pings."""
        self.raw += data
        while len(self.raw) >= 2:
            op, n, hl = self.raw[0] & 15, self.raw[1] & 127, 2
            if n == 126:
                if len(self.raw) < 4:
                    return
                n, hl = int.from_bytes(self.raw[2:4], 'big'), 4
            elif n == 127:
                if len(self.raw) < 10:
                    return
                n, hl = int.from_bytes(self.raw[2:10], 'big'), 10
            if len(self.raw) < hl + n:
                return
            payload, self.raw = self.raw[hl:hl + n], self.raw[hl + n:]
            if op in (0, 1):
                self.buf += payload
            elif op == 9:
                self.frame(10, payload)
            elif op == 8:
                raise SessionError('close frame %r' % payload[:2])

    def frame(self, op, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | op])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, 'big')
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, 'big')
        self.writer.write(head + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send(self, data):
        self.frame(1, data if isinstance(data, bytes) else data.encode())

    async def open_stream(self):
        self.buf = b''
        self.send("<open xmlns='%s' to='%s' version='1.0'/>"
                  % (self.NS_FRAMING, self.args.domain))
        await self.expect(RE_FEATURES)

    async def run(self, tls_ctx):
        a = self.args
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(a.host, a.port, ssl=tls_ctx,
                                    server_hostname=a.domain if tls_ctx
                                    else None,
                                    local_addr=(self.source, 0)),
            a.timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(('GET /xmpp-websocket HTTP/1.1\r\nHost: %s\r\n'
                           'Upgrade: websocket\r\nConnection: Upgrade\r\n'
                           'Sec-WebSocket-Key: %s\r\n'
                           'Sec-WebSocket-Version: 13\r\n'
                           'Sec-WebSocket-Protocol: xmpp\r\n\r\n'
                           % (a.domain, key)).encode())
        head = await asyncio.wait_for(self.reader.readuntil(b'\r\n\r\n'),
                                      a.timeout)
        if not head.startswith(b'HTTP/1.1 101'):
            raise SessionError('handshake: %r' % head[:100])
        await self.open_stream()
        await self.login()


async def open_many(args, first, count, tls_ctx, clients):
    """Opens sessions first..first+count-1 with bounded concurrency."""
    sem = asyncio.Semaphore(args.concurrency)
    errors = []

    async def one(i):
        async with sem:
            src = '127.0.1.%d' % (1 + i % 250)
            c = (WsClient if args.transport == 'websocket' else Client)(
                args, i, src)
            clients.append(c)
            try:
                await c.run(tls_ctx)
            except (SessionError, OSError, asyncio.TimeoutError,
                    ssl.SSLError) as e:
                errors.append('session %d: %s' % (i, e))

    await asyncio.gather(*(one(i) for i in range(first, first + count)))
    return errors


async def drain_idle(clients, seconds):
    """Lets the sessions sit idle, discarding whatever the server sends
    (nothing is expected)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(min(0.2, end - time.monotonic()))


async def measure(args, pid, tls):
    tls_ctx = None
    if tls:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls_ctx.check_hostname = False
        tls_ctx.verify_mode = ssl.CERT_NONE
    clients = []
    t0 = time.monotonic()
    errs = await open_many(args, 1, args.warmup, tls_ctx, clients)
    if errs:
        raise SystemExit('warm-up failed: %s' % errs[0])
    await drain_idle(clients, args.settle)
    before = vm_rss_kib(pid)
    t1 = time.monotonic()
    errs = await open_many(args, args.warmup + 1, args.n, tls_ctx, clients)
    t2 = time.monotonic()
    if errs:
        for c in clients:
            c.close()
        raise SystemExit('%d of %d sessions failed; first: %s'
                         % (len(errs), args.n, errs[0]))
    await drain_idle(clients, args.settle)
    after = vm_rss_kib(pid)
    if args.hold:
        print('holding %d sessions for %.0f s (pid %d)'
              % (len(clients), args.hold, pid), flush=True)
        await drain_idle(clients, args.hold)
    for c in clients:
        c.close()
    await asyncio.sleep(0.2)
    return {
        'tls': 'starttls' if tls else 'none', 'n': args.n,
        'warmup': args.warmup, 'rss_before_kib': before,
        'rss_after_kib': after,
        'kib_per_session': (after - before) / args.n,
        'login_s': t2 - t1, 'warmup_s': t1 - t0,
    }


# ---------------------------------------------------------------------------
# our own ternd

def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, **kw)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def prepare_ternd(args, work):
    """Certificate, accounts and config in work; returns the config."""
    work.mkdir(parents=True, exist_ok=True)
    cert, key = work / 'cert.pem', work / 'key.pem'
    if not cert.exists():
        run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
             '-days', '3650', '-subj', '/CN=localhost', '-addext',
             'subjectAltName=DNS:localhost', '-keyout', str(key),
             '-out', str(cert)])
    db = work / 'tern.db'
    conf = work / 'tern.yaml'
    args.port_tls, args.port_plain = free_port(), free_port()
    args.port_https, args.port_http = free_port(), free_port()
    conf.write_text(
        'hosts: [localhost]\n'
        'tls: {cert: %s, key: %s}\n'
        'storage: {backend: sqlite, path: %s}\n'
        'listen:\n'
        '  - {ip: 127.0.0.1, port: %d, service: c2s}\n'
        '  - {ip: 127.0.0.1, port: %d, service: c2s, tls: none}\n'
        '  - {ip: 127.0.0.1, port: %d, service: http, tls: direct}\n'
        '  - {ip: 127.0.0.1, port: %d, service: http}\n'
        'log: {level: warn}\n'
        'c2s: {require_tls: false, auth_ip_failures: 0}\n'
        % (cert, key, db, args.port_tls, args.port_plain, args.port_https,
           args.port_http))
    marker = work / 'accounts'
    have = int(marker.read_text()) if marker.exists() else 0
    want = args.n + args.warmup
    if have < want:
        print('creating accounts %d..%d with ternctl' % (have + 1, want),
              file=sys.stderr, flush=True)
        for i in range(have + 1, want + 1):
            run([args.ternctl, '-c', str(conf), 'adduser',
                 (args.user_fmt % i) + '@' + args.domain, args.password])
        marker.write_text(str(want))
    return conf


def start_ternd(args, conf, log):
    cmd = args.wrap.split() if args.wrap else []
    proc = subprocess.Popen(cmd + [args.ternd, '-c', str(conf)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + (120 if args.wrap else 10)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('ternd exited with %d' % proc.returncode)
        try:
            socket.create_connection(('127.0.0.1', args.port_plain),
                                     0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit('ternd did not start')


def stop_ternd(proc):
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=2000,
                    help='sessions measured (default 2000)')
    ap.add_argument('--warmup', type=int, default=50,
                    help='sessions opened before the first reading')
    ap.add_argument('--tls', choices=('starttls', 'none', 'both'),
                    default='both')
    ap.add_argument('--transport', choices=('tcp', 'websocket'),
                    default='tcp',
                    help='websocket: RFC 7395 at /xmpp-websocket; '
                         '--tls starttls then means wss (direct TLS)')
    ap.add_argument('--mech', choices=('scram-sha-1', 'plain'),
                    default='scram-sha-1')
    ap.add_argument('--concurrency', type=int, default=64)
    ap.add_argument('--settle', type=float, default=2.0,
                    help='idle seconds before each reading')
    ap.add_argument('--hold', type=float, default=0,
                    help='seconds to keep the sessions open after the '
                         'reading (to inspect the server)')
    ap.add_argument('--timeout', type=float, default=60.0,
                    help='deadline of each step of a login')
    ap.add_argument('--ternd', default=str(REPO / 'build' / 'ternd'))
    ap.add_argument('--ternctl', default=str(REPO / 'build' / 'ternctl'))
    ap.add_argument('--wrap', default='',
                    help='command prefix for ternd, e.g. "valgrind '
                         '--tool=massif" (the pid is the same process)')
    ap.add_argument('--workdir', help='kept between runs (accounts)')
    ap.add_argument('--attach', metavar='HOST:PORT:PID',
                    help='measure a running server instead of ternd')
    ap.add_argument('--domain', default='localhost')
    ap.add_argument('--user-fmt', default='bench%d')
    ap.add_argument('--password', default='benchpw')
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.n + args.warmup + 64 > hard:
        raise SystemExit('-n too large for ulimit -Hn %d' % hard)

    modes = ['starttls', 'none'] if args.tls == 'both' else [args.tls]
    results = []
    if args.attach:
        host, port, pid = args.attach.rsplit(':', 2)
        args.host = host
        for mode in modes:
            args.port = int(port)
            results.append(asyncio.run(measure(args, int(pid),
                                               mode == 'starttls')))
    else:
        tmp = None
        work = Path(args.workdir) if args.workdir else None
        if work is None:
            tmp = tempfile.mkdtemp(prefix='idle_rss.')
            work = Path(tmp)
        try:
            conf = prepare_ternd(args, work)
            args.host = '127.0.0.1'
            for mode in modes:
                with open(work / ('ternd-%s.log' % mode), 'wb') as log:
                    proc = start_ternd(args, conf, log)
                    try:
                        if args.transport == 'websocket':
                            args.port = (args.port_https
                                         if mode == 'starttls'
                                         else args.port_http)
                        else:
                            args.port = (args.port_tls if mode == 'starttls'
                                         else args.port_plain)
                        results.append(asyncio.run(
                            measure(args, proc.pid, mode == 'starttls')))
                    except BaseException:
                        if proc.poll() is not None:
                            print('ternd exited with %d; log in %s'
                                  % (proc.returncode, log.name),
                                  file=sys.stderr)
                            args.keep = True
                        raise
                    finally:
                        stop_ternd(proc)
        finally:
            if tmp and not getattr(args, 'keep', False):
                shutil.rmtree(tmp, ignore_errors=True)

    print('%-9s %6s %12s %12s %10s %8s' % ('tls', 'n', 'rss_before',
                                          'rss_after', 'KiB/sess',
                                          'login_s'))
    for r in results:
        print('%-9s %6d %9d KiB %9d KiB %10.2f %8.1f'
              % (r['tls'], r['n'], r['rss_before_kib'], r['rss_after_kib'],
                 r['kib_per_session'], r['login_s']))
    if len(results) == 2:
        print('TLS share: %.2f KiB/session'
              % (results[0]['kib_per_session']
                 - results[1]['kib_per_session']))


if __name__ == '__main__':
    main()
