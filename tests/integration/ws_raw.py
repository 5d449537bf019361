"""ws_raw.py -- a small raw-socket WebSocket client for XMPP over
WebSocket tests (RFC 6455 framing, RFC 7395 XMPP subprotocol).

Everything is done by hand so tests can send exactly what they want: an
upgrade request with any headers (or none of the required ones), frames
with any opcode, FIN and RSV bits, masked or not, with the payload
length in the 7-bit, 16-bit or 64-bit form whatever its size, declared
lengths that do not match the payload, and messages split into
fragments anywhere (even inside a UTF-8 sequence). What comes back is
checked as strictly: server frames must be unmasked and have no RSV
bits, close frames are parsed into (code, reason), and every XMPP
message must parse on its own as exactly one element.

>>> ws = WsClient(port, tls=True)
>>> ws.handshake()                     # -> HttpResponse, status 101
>>> ws.login(user, password, 'res')     # <open/>, PLAIN, restart, bind
>>> ws.send_text("<iq .../>"); ws.recv_el()

Every read has a deadline: nothing here can hang a test.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from xmpp_raw import (NS_BIND, NS_CLIENT, NS_PING, NS_SASL, NS_STREAM,
                      NS_STREAMS, Timeout, fresh_source_ip, q, tostr)

NS_FRAMING = 'urn:ietf:params:xml:ns:xmpp-framing'
WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
PATH = '/xmpp-websocket'
DEFAULT_TIMEOUT = 3.0

# Opcodes (RFC 6455 5.2).
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(
        (key + WS_GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def open_xml(to='localhost', version='1.0', extra=''):
    """An RFC 7395 <open/>; None leaves an attribute out."""
    attrs = " xmlns='%s'" % NS_FRAMING
    if to is not None:
        attrs += ' to=%s' % quoteattr(to)
    if version is not None:
        attrs += ' version=%s' % quoteattr(version)
    if extra:
        attrs += ' ' + extra
    return '<open%s/>' % attrs


CLOSE_XML = "<close xmlns='%s'/>" % NS_FRAMING


def frame(opcode, payload=b'', fin=True, mask=True, rsv=0, length=None,
          length_form=None, mask_key=None):
    """Bytes of one frame. rsv: the three RSV bits as 0..7; length: the
    declared payload length (default the real one); length_form: 7, 16
    or 64 to force an encoding of the length (default the minimal
    one)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    form = length_form or (7 if n <= 125 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = struct.pack('!BB', b0, mbit | n)
    elif form == 16:
        head = struct.pack('!BBH', b0, mbit | 126, n)
    else:
        head = struct.pack('!BBQ', b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    body = bytes(c ^ key[i & 3] for i, c in enumerate(payload))
    return head + key + body


def close_payload(code=None, reason=''):
    if code is None:
        return b''
    return struct.pack('!H', code) + reason.encode()


class WsClosed(AssertionError):
    """The server sent a close frame (code/reason) or ended TCP while a
    data message was expected."""

    def __init__(self, msg, code=None, reason=None, eof=False):
        super().__init__(msg)
        self.code, self.reason, self.eof = code, reason, eof


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = \
            fin, rsv, opcode, payload

    def close_code(self):
        """(code or None, reason) of a close frame."""
        p = self.payload
        assert len(p) != 1, 'close frame with a 1-byte body'
        if not p:
            return None, ''
        return struct.unpack('!H', p[:2])[0], p[2:].decode('utf-8')

    def __repr__(self):
        return 'Frame(fin=%d op=%d %r)' % (self.fin, self.opcode,
                                           self.payload[:200])


class HttpResponse:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason = status, reason
        self.headers = headers     # lower-case name -> value (joined)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return 'HTTP %d %s %r %r' % (self.status, self.reason,
                                     self.headers, self.body[:200])


class WsClient:
    """One TCP (or TLS) connection to an HTTP listener."""

    def __init__(self, port, tls=False, host='127.0.0.1',
                 timeout=DEFAULT_TIMEOUT, source=None):
        self.timeout = timeout
        self.source = source or fresh_source_ip()
        self.sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=(self.source, 0))
        # Each frame leaves at once (fragments and pings in between are
        # seen by the server as they were sent, without Nagle's delay).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock,
                                        server_hostname='localhost')
        self.buf = bytearray()
        self.eof = False
        self.log = []            # ('<' or '>', opcode, payload) seen
        self.pings = []          # payloads of server pings received
        self.pongs = []          # payloads of pongs received
        self.auto_pong = True    # answer server pings while reading
        self.partial = None      # (opcode, bytes) of a fragmented message
        self.header = None       # attributes of the server's last <open/>
        self.features = None
        self.jid = None
        self._id = 0

    # -- bytes ---------------------------------------------------------------

    def send_raw(self, data, ignore_errors=False):
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout):
            if not ignore_errors:
                raise

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError,
                ssl.SSLZeroReturnError):
            data = b''
        except ssl.SSLError as e:
            if 'APPLICATION_DATA_AFTER_CLOSE_NOTIFY' not in str(e):
                raise
            data = b''
        if not data:
            self.eof = True
        self.buf += data

    def _take(self, n, deadline):
        """n bytes from the buffer; partial data stays buffered on a
        timeout, so a later call resumes the same frame."""
        while len(self.buf) < n:
            if self.eof:
                raise WsClosed('connection closed by the server', eof=True)
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- HTTP ---------------------------------------------------------------

    def handshake(self, path=PATH, headers=None, method='GET', key=None,
                  timeout=None, then=b''):
        """Sends an upgrade request and reads the response. headers:
        {name: value} replacing the defaults (case-insensitively); a
        value of None drops that header; then: bytes sent in the same
        write right after the request (e.g. a first frame). Checks
        nothing; returns an HttpResponse (self.key holds the key
        sent)."""
        self.key = key or new_key()
        hdrs = [('Host', 'localhost'), ('Upgrade', 'websocket'),
                ('Connection', 'Upgrade'), ('Sec-WebSocket-Key', self.key),
                ('Sec-WebSocket-Version', '13'),
                ('Sec-WebSocket-Protocol', 'xmpp')]
        for name, value in (headers or {}).items():
            hdrs = [(n, v) for n, v in hdrs
                    if n.lower() != name.lower()]
            if value is not None:
                hdrs.append((name, value))
        req = '%s %s HTTP/1.1\r\n%s\r\n' % (method, path, ''.join(
            '%s: %s\r\n' % h for h in hdrs))
        self.send_raw(req.encode() + then)
        return self.read_response(timeout)

    def read_response(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while b'\r\n\r\n' not in self.buf:
                if self.eof:
                    raise AssertionError('connection closed before an HTTP '
                                         'response: %r' % bytes(self.buf))
                self._fill(deadline)
        except socket.timeout:
            raise Timeout('no HTTP response: %r' % bytes(self.buf))
        end = self.buf.index(b'\r\n\r\n')
        head = bytes(self.buf[:end]).decode('latin-1')
        del self.buf[:end + 4]
        lines = head.split('\r\n')
        parts = lines[0].split(' ', 2)
        assert parts[0] in ('HTTP/1.1', 'HTTP/1.0') and len(parts) >= 2, \
            'bad status line %r' % lines[0]
        status = int(parts[1])
        headers = {}
        for ln in lines[1:]:
            name, _, value = ln.partition(':')
            name = name.strip().lower()
            value = value.strip()
            headers[name] = (headers[name] + ', ' + value
                             if name in headers else value)
        body = b''
        if status != 101 and 'content-length' in headers:
            try:
                body = self._take(int(headers['content-length']), deadline)
            except (socket.timeout, WsClosed):
                body = bytes(self.buf)
        return HttpResponse(status, parts[2] if len(parts) > 2 else '',
                            headers, body)

    def upgrade(self, **kw):
        """handshake() that must succeed as RFC 6455 4.2.2 and RFC 7395
        3.3 say: 101, Upgrade, Connection, the right Sec-WebSocket-Accept
        and Sec-WebSocket-Protocol: xmpp."""
        r = self.handshake(**kw)
        assert r.status == 101, 'upgrade refused: %r' % r
        assert (r.header('upgrade') or '').lower() == 'websocket', r
        assert 'upgrade' in [t.strip().lower() for t in
                             (r.header('connection') or '').split(',')], r
        assert r.header('sec-websocket-accept') == accept_key(self.key), \
            'wrong Sec-WebSocket-Accept: %r' % r
        assert r.header('sec-websocket-protocol') == 'xmpp', r
        return r

    # -- frames ---------------------------------------------------------------

    def send_frame(self, opcode, payload=b'', ignore_errors=False, **kw):
        """See frame() for the keywords."""
        self.log.append(('>', opcode, payload))
        self.send_raw(frame(opcode, payload, **kw), ignore_errors)

    def send_text(self, text, **kw):
        self.send_frame(TEXT, text.encode() if isinstance(text, str)
                        else text, **kw)

    def send_fragments(self, parts, opcode=TEXT, between=None, **kw):
        """One message as len(parts) frames (str or bytes each);
        between(i) is called after fragment i (not after the last)."""
        for i, part in enumerate(parts):
            if isinstance(part, str):
                part = part.encode()
            self.send_frame(opcode if i == 0 else CONT, part,
                            fin=(i == len(parts) - 1), **kw)
            if between and i < len(parts) - 1:
                between(i)

    def send_close(self, code=1000, reason='', ignore_errors=True):
        self.send_frame(CLOSE, close_payload(code, reason),
                        ignore_errors=ignore_errors)

    def recv_frame(self, timeout=None):
        """The next frame as sent (no reassembly, no automatic pong).
        Raises WsClosed(eof=True) on end of connection, Timeout on the
        deadline (a partly read frame stays buffered)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            # Peek the whole frame before consuming anything.
            while True:
                n = self._frame_len()
                if n is not None and len(self.buf) >= n:
                    break
                if self.eof:
                    raise WsClosed('connection closed by the server'
                                   + self._tail(), eof=True)
                self._fill(deadline)
        except socket.timeout:
            raise Timeout('timed out waiting for a frame' + self._tail())
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, 'server frame is masked (RFC 6455 5.1)'
        assert not b0 & 0x70, 'server frame with RSV bits set'
        hlen = n - self._plen
        payload = bytes(self.buf[hlen:n])
        del self.buf[:n]
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload)
        self.log.append(('<', f.opcode, payload))
        return f

    def _frame_len(self):
        """Total length of the frame at the buffer's start, or None if
        its header is not complete yet."""
        if len(self.buf) < 2:
            return None
        ln = self.buf[1] & 0x7F
        hl = 2 + (4 if self.buf[1] & 0x80 else 0)
        if ln == 126:
            if len(self.buf) < 4:
                return None
            ln = struct.unpack('!H', self.buf[2:4])[0]
            hl += 2
        elif ln == 127:
            if len(self.buf) < 10:
                return None
            ln = struct.unpack('!Q', self.buf[2:10])[0]
            hl += 8
        self._plen = ln
        return hl + ln

    def _tail(self):
        return '\n--- last frames (< from server) ---\n%s\n---' % '\n'.join(
            '%s op=%d %r' % (d, op, p[:300]) for d, op, p in self.log[-8:])

    def recv_message(self, timeout=None):
        """The next data message as (opcode, bytes), fragments joined.
        Pings are answered (unless auto_pong is off) and recorded, pongs
        recorded; a close frame raises WsClosed with its code."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            if f.opcode == PING:
                assert f.fin and len(f.payload) <= 125, f
                self.pings.append(f.payload)
                if self.auto_pong:
                    self.send_frame(PONG, f.payload, ignore_errors=True)
                continue
            if f.opcode == PONG:
                self.pongs.append(f.payload)
                continue
            if f.opcode == CLOSE:
                code, reason = f.close_code()
                raise WsClosed('server sent close %r %r%s'
                               % (code, reason, self._tail()), code, reason)
            if f.opcode == CONT:
                assert self.partial is not None, 'stray continuation frame'
                self.partial[1].extend(f.payload)
            else:
                assert f.opcode in (TEXT, BINARY), 'server opcode %d' \
                    % f.opcode
                assert self.partial is None, \
                    'new data frame inside a fragmented message'
                self.partial = (f.opcode, bytearray(f.payload))
            if f.fin:
                op, data = self.partial
                self.partial = None
                return op, bytes(data)

    def recv_xml(self, timeout=None):
        """The text of the next message, which must be a text message."""
        op, data = self.recv_message(timeout)
        assert op == TEXT, 'server sent a binary message: %r' % data[:200]
        return data.decode('utf-8')

    def recv_el(self, timeout=None):
        """The next message parsed standalone: exactly one element
        (RFC 7395 3.3.3)."""
        text = self.recv_xml(timeout)
        assert not text.lstrip().startswith(('<?', '<!')), \
            'XML declaration, PI or DTD in a server message: %r' % text
        try:
            return ET.fromstring(text)
        except ET.ParseError as e:
            raise AssertionError('server message is not one well-formed '
                                 'element (%s): %r' % (e, text))

    def expect_close(self, code=None, timeout=None, reply=True):
        """Reads until a close frame, which is returned as (code,
        reason); data messages on the way are a failure. code: wanted
        code or list of them. reply: answer with a close frame (as a
        client should). Then the server must end the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            el = self.recv_el(max(deadline - time.monotonic(), 0.001))
        except WsClosed as e:
            if e.eof:
                raise AssertionError('connection ended without a close '
                                     'frame' + self._tail())
            got = (e.code, e.reason)
        else:
            raise AssertionError('expected a close frame, got message %s%s'
                                 % (tostr(el), self._tail()))
        if code is not None:
            wanted = [code] if isinstance(code, int) else list(code)
            assert got[0] in wanted, 'close code %r (%r), wanted %s%s' % (
                got[0], got[1], wanted, self._tail())
        if reply:
            self.send_close(got[0] if got[0] not in (None, 1005) else 1000)
        self.expect_eof(max(deadline - time.monotonic(), 1.0))
        return got

    def expect_eof(self, timeout=None):
        """The server ends TCP in time; only control frames may come."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                f = self.recv_frame(max(deadline - time.monotonic(), 0.001))
            except WsClosed:
                return
            except Timeout:
                raise Timeout('server did not end the connection'
                              + self._tail())
            assert f.opcode in (PING, PONG, CLOSE), \
                'data after the close frame: %r' % f

    # -- XMPP framing (RFC 7395) ----------------------------------------------

    def next_id(self):
        self._id += 1
        return 'w%d' % self._id

    def open(self, to='localhost', **kw):
        """Sends <open/>; reads the server's <open/> and features.
        Returns the features element."""
        self.send_text(open_xml(to, **kw))
        self.recv_open()
        self.features = self.recv_el()
        assert self.features.tag == q(NS_STREAM, 'features'), \
            'expected stream features, got ' + tostr(self.features)
        return self.features

    def recv_open(self, timeout=None):
        el = self.recv_el(timeout)
        assert el.tag == q(NS_FRAMING, 'open'), \
            'expected <open/>, got ' + tostr(el)
        self.header = dict(el.attrib)
        return el

    def mechanisms(self):
        m = self.features.find(q(NS_SASL, 'mechanisms'))
        return [] if m is None else [
            e.text for e in m.findall(q(NS_SASL, 'mechanism'))]

    def auth_plain(self, user, password):
        """PLAIN; returns the <success/> or <failure/> element."""
        msg = base64.b64encode(('\0%s\0%s' % (user, password)).encode())
        self.send_text("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
                       % (NS_SASL, msg.decode()))
        el = self.recv_el()
        assert el.tag in (q(NS_SASL, 'success'), q(NS_SASL, 'failure')), \
            'expected a SASL result, got ' + tostr(el)
        return el

    def bind(self, resource=None):
        iid = self.next_id()
        res = '<resource>%s</resource>' % escape(resource) \
            if resource is not None else ''
        self.send_text("<iq xmlns='%s' type='set' id='%s'><bind xmlns='%s'>"
                       "%s</bind></iq>" % (NS_CLIENT, iid, NS_BIND, res))
        el = self.recv_el()
        assert el.tag == q(NS_CLIENT, 'iq') and el.get('id') == iid and \
            el.get('type') == 'result', 'bind failed: ' + tostr(el)
        jid = el.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid')))
        assert jid is not None and jid.text, 'no <jid/> in ' + tostr(el)
        self.jid = jid.text
        return self.jid

    def login(self, user, password, resource=None, upgrade=True):
        """Upgrade (unless done), <open/>, PLAIN, restart, bind. Returns
        the full JID."""
        if upgrade:
            self.upgrade()
        self.open()
        el = self.auth_plain(user, password)
        assert el.tag == q(NS_SASL, 'success'), 'auth failed: ' + tostr(el)
        self.open()
        assert self.features.find(q(NS_BIND, 'bind')) is not None, \
            'no <bind/> after the restart: ' + tostr(self.features)
        return self.bind(resource)

    def recv_stanza(self, pred=lambda el: True, timeout=None,
                    what='matching element'):
        """Reads messages, dropping those pred rejects, until one
        matches."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout('timed out waiting for ' + what + self._tail())
            try:
                el = self.recv_el(left)
            except Timeout:
                raise Timeout('timed out waiting for ' + what + self._tail())
            if pred(el):
                return el

    def sync(self, timeout=None):
        """XEP-0199 ping to the server: returns the elements that
        arrived before its result (a barrier, as ImClient.sync)."""
        iid = self.next_id()
        self.send_text("<iq xmlns='%s' type='get' id='%s' to='localhost'>"
                       "<ping xmlns='%s'/></iq>" % (NS_CLIENT, iid, NS_PING))
        got = []
        while True:
            el = self.recv_el(timeout)
            if el.tag == q(NS_CLIENT, 'iq') and el.get('id') == iid:
                assert el.get('type') == 'result', tostr(el)
                return got
            got.append(el)

    def presence(self, type_=None, to=None):
        attrs = " xmlns='%s'" % NS_CLIENT
        if type_:
            attrs += ' type=%s' % quoteattr(type_)
        if to:
            attrs += ' to=%s' % quoteattr(to)
        self.send_text('<presence%s/>' % attrs)

    def message(self, to, body='hi', type_='chat', id_=None):
        attrs = " xmlns='%s' to=%s type=%s" % (NS_CLIENT, quoteattr(to),
                                              quoteattr(type_))
        if id_:
            attrs += ' id=%s' % quoteattr(id_)
        self.send_text('<message%s><body>%s</body></message>'
                       % (attrs, escape(body)))

    def expect_stream_error(self, cond, timeout=None, skip_open=False):
        """The next message is <stream:error/> with condition cond (or
        one of a list; None: any), then <close/> and a close frame 1000,
        then the connection ends. skip_open: an <open/> first is
        allowed. Returns the error element."""
        deadline = time.monotonic() + (timeout or self.timeout)
        el = self.recv_el(timeout)
        if skip_open and el.tag == q(NS_FRAMING, 'open'):
            el = self.recv_el(max(deadline - time.monotonic(), 0.001))
        assert el.tag == q(NS_STREAM, 'error'), \
            'expected a stream error, got %s%s' % (tostr(el), self._tail())
        conds = [c.tag for c in el if c.tag != q(NS_STREAMS, 'text')]
        wanted = [cond] if isinstance(cond, str) else list(cond or [])
        assert len(conds) == 1 and conds[0].startswith(
            '{%s}' % NS_STREAMS) and (cond is None or conds[0] in [
                q(NS_STREAMS, w) for w in wanted]), \
            'expected stream error %s, got %s' % (wanted, tostr(el))
        self.expect_framing_close(max(deadline - time.monotonic(), 1.0))
        return el

    def expect_framing_close(self, timeout=None):
        """<close/>, then close frame 1000, then end of connection.
        Returns the <close/> element."""
        deadline = time.monotonic() + (timeout or self.timeout)
        el = self.recv_el(timeout)
        assert el.tag == q(NS_FRAMING, 'close'), \
            'expected <close/>, got %s%s' % (tostr(el), self._tail())
        self.expect_close(1000, max(deadline - time.monotonic(), 1.0))
        return el

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
