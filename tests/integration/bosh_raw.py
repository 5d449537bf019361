"""bosh_raw.py -- raw HTTP/1.1 and BOSH (XEP-0124, XEP-0206) clients for
the integration suite.

HttpConn is one TCP (or TLS, certificate not verified: the suite's cert is
self-signed) connection speaking HTTP/1.1 byte by byte: keep-alive,
pipelining (write several requests, then read the responses in order),
hand-made broken requests, and responses parsed into status, headers and
body (Content-Length, chunked, or delimited by the close; RFC 9112 6.3).

BoshClient is one BOSH session over such connections: it builds <body/>
wrappers with the attributes a test wants, keeps the rid, and sends
requests either synchronously (post) or in the background on a connection
of their own (send -> Pending), so a test can hold a request and send
another next to it, or send rid+2 before rid+1. login() creates a session,
authenticates with SASL PLAIN, restarts the stream (xmpp:restart) and
binds a resource; exchange() sends payloads and polls until an expected
element arrives.

Every read has a deadline: nothing here can hang a test.
"""

import base64
import os
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from xmpp_raw import (NS_BIND, NS_CLIENT, NS_PING, NS_SASL, NS_STREAM,  # noqa: F401
                      NS_TLS, fresh_source_ip)

NS_HTTPBIND = 'http://jabber.org/protocol/httpbind'
NS_XBOSH = 'urn:xmpp:xbosh'
NS_XML = 'http://www.w3.org/XML/1998/namespace'

BOSH_PATH = '/http-bind'
DEFAULT_TIMEOUT = 5.0


def q(ns, name):
    return '{%s}%s' % (ns, name)


def local(tag):
    """'{ns}name' -> 'name'."""
    return tag.split('}', 1)[1] if tag.startswith('{') else tag


def ns_of(tag):
    return tag[1:].split('}', 1)[0] if tag.startswith('{') else ''


def tostr(el):
    if el is None:
        return 'None'
    return ET.tostring(el, encoding='unicode')


class HttpError(AssertionError):
    """The connection broke or a response was malformed."""


class HttpTimeout(HttpError):
    """No (complete) response before the deadline."""


class HttpClosed(HttpError):
    """The server closed the connection before a complete response."""


# ---------------------------------------------------------------------------
# HTTP/1.1

class Response:
    """One parsed HTTP response."""

    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version          # 'HTTP/1.1'
        self.status = status            # int
        self.reason = reason
        self.header_list = headers      # [(name, value)] as received
        self.body = body                # bytes
        self.raw_head = raw_head        # bytes up to and including CRLFCRLF
        self.received_at = time.monotonic()

    def header(self, name, default=None):
        """The value of header name (case-insensitive); several are joined
        with ', ' (RFC 9110 5.3)."""
        vals = self.headers_named(name)
        return ', '.join(vals) if vals else default

    def headers_named(self, name):
        n = name.lower()
        return [v for k, v in self.header_list if k.lower() == n]

    def has_header(self, name):
        return bool(self.headers_named(name))

    def tokens(self, name):
        """The comma-separated tokens of a header, lower-cased."""
        v = self.header(name) or ''
        return [t.strip().lower() for t in v.split(',') if t.strip()]

    @property
    def text(self):
        return self.body.decode('utf-8', 'replace')

    def xml(self):
        """The body parsed as XML (raises AssertionError if malformed)."""
        try:
            return ET.fromstring(self.body)
        except ET.ParseError as e:
            raise AssertionError('malformed XML in HTTP response (%s): %r'
                                 % (e, self.body[:2000]))

    def __repr__(self):
        return '<Response %s %s %r %r>' % (self.status, self.reason,
                                           self.header_list,
                                           self.body[:300])


def build_request(method, path, headers=None, body=b'', version='HTTP/1.1',
                  host='localhost', content_length=True):
    """Bytes of one request. headers: list of (name, value) or dict; Host
    is added unless given (host=None leaves it out), Content-Length when
    there is a body (content_length=False leaves it out)."""
    if isinstance(body, str):
        body = body.encode('utf-8')
    hdrs = list(headers.items()) if isinstance(headers, dict) \
        else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if host is not None and 'host' not in names:
        hdrs.insert(0, ('Host', host))
    if content_length and (body or method in ('POST', 'PUT')) \
            and 'content-length' not in names \
            and 'transfer-encoding' not in names:
        hdrs.append(('Content-Length', str(len(body))))
    head = '%s %s %s\r\n' % (method, path, version)
    head += ''.join('%s: %s\r\n' % kv for kv in hdrs) + '\r\n'
    return head.encode('latin-1') + body


_CONN_HOST = object()     # send_request: the connection's own Host


class HttpConn:
    """One client connection to an HTTP listener.

    >>> c = HttpConn(server.port_http)
    >>> r = c.request('GET', '/.well-known/host-meta')
    >>> r.status
    200
    """

    def __init__(self, port, tls=False, host='127.0.0.1',
                 timeout=DEFAULT_TIMEOUT, source=None,
                 server_name='localhost'):
        """source: local address to connect from (default a fresh
        127.0.x.y, see xmpp_raw.fresh_source_ip; pass '127.0.0.1' where the
        peer address matters, e.g. a trusted proxy)."""
        self.port = port
        self.tls = tls
        self.timeout = timeout
        self.source = source or fresh_source_ip()
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(self.source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_name)
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.received = bytearray()
        self.host_header = 'localhost:%d' % port

    # -- low level -----------------------------------------------------------

    def send_raw(self, data, ignore_errors=False):
        """Writes str or bytes; with ignore_errors a peer that already
        closed is not an error (returns False)."""
        if isinstance(data, str):
            data = data.encode('utf-8')
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout, OSError):
            if not ignore_errors:
                raise
            return False

    def _fill(self, deadline):
        """One read into buf; sets eof on close or reset. Raises
        socket.timeout at the deadline."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.reset = True
            data = b''
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b''
        except ssl.SSLError as e:
            if 'APPLICATION_DATA_AFTER_CLOSE_NOTIFY' in str(e) or \
                    'UNEXPECTED_EOF' in str(e):
                data = b''
            else:
                raise
        except OSError as e:
            if isinstance(e, socket.timeout):
                raise
            self.reset = True
            data = b''
        if not data:
            self.eof = True
            return
        self.buf += data
        self.received += data

    def _need(self, pred, deadline, what):
        while not pred():
            if self.eof:
                raise HttpClosed('connection closed while waiting for %s; '
                                 'received %r' % (what,
                                                  bytes(self.received[-500:])))
            try:
                self._fill(deadline)
            except socket.timeout:
                raise HttpTimeout('timed out waiting for %s; buffered %r'
                                  % (what, bytes(self.buf[:500])))

    # -- requests and responses ----------------------------------------------

    def send_request(self, method, path, headers=None, body=b'',
                     version='HTTP/1.1', host=_CONN_HOST, **kw):
        """Writes one request (Host defaults to localhost:PORT; host=None
        sends none)."""
        data = build_request(method, path, headers, body, version,
                             host=self.host_header if host is _CONN_HOST
                             else host, **kw)
        self.send_raw(data)

    def read_response(self, timeout=None, head_only=False):
        """Reads one complete response. head_only: the request was HEAD
        (no body follows)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        self._need(lambda: b'\r\n\r\n' in self.buf, deadline,
                   'response header')
        end = self.buf.index(b'\r\n\r\n') + 4
        raw_head = bytes(self.buf[:end])
        del self.buf[:end]
        lines = raw_head[:-4].decode('latin-1').split('\r\n')
        parts = lines[0].split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/') or \
                not parts[1].isdigit() or len(parts[1]) != 3:
            raise HttpError('malformed status line %r' % lines[0])
        version, status = parts[0], int(parts[1])
        reason = parts[2] if len(parts) > 2 else ''
        headers = []
        for ln in lines[1:]:
            if ':' not in ln or ln[0] in ' \t':
                raise HttpError('malformed header line %r in %r'
                                % (ln, raw_head))
            k, v = ln.split(':', 1)
            if k != k.strip():
                raise HttpError('whitespace before colon in %r' % ln)
            headers.append((k, v.strip()))
        resp = Response(version, status, reason, headers, b'', raw_head)
        if head_only or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.tokens('Transfer-Encoding')
        if te:
            if te[-1] != 'chunked':
                raise HttpError('unsupported Transfer-Encoding %r' % te)
            resp.body = self._read_chunked(deadline)
        elif resp.has_header('Content-Length'):
            vals = set(v.strip() for v in
                       resp.header('Content-Length').split(','))
            if len(vals) != 1 or not next(iter(vals)).isdigit():
                raise HttpError('bad Content-Length %r'
                                % resp.header('Content-Length'))
            n = int(vals.pop())
            self._need(lambda: len(self.buf) >= n, deadline,
                       'response body (%d bytes)' % n)
            resp.body = bytes(self.buf[:n])
            del self.buf[:n]
        else:
            # Delimited by the close (RFC 9112 6.3 item 8).
            while not self.eof:
                try:
                    self._fill(deadline)
                except socket.timeout:
                    raise HttpTimeout('response without Content-Length '
                                      'never ended: %r' % raw_head)
            resp.body = bytes(self.buf)
            self.buf.clear()
            resp.close_delimited = True
        resp.received_at = time.monotonic()
        return resp

    def _read_chunked(self, deadline):
        out = bytearray()
        while True:
            self._need(lambda: b'\r\n' in self.buf, deadline, 'chunk size')
            i = self.buf.index(b'\r\n')
            size = int(bytes(self.buf[:i]).split(b';')[0].strip(), 16)
            del self.buf[:i + 2]
            if size == 0:
                # trailers up to an empty line
                while True:
                    self._need(lambda: b'\r\n' in self.buf, deadline,
                               'trailer')
                    i = self.buf.index(b'\r\n')
                    line = bytes(self.buf[:i])
                    del self.buf[:i + 2]
                    if not line:
                        return bytes(out)
            self._need(lambda: len(self.buf) >= size + 2, deadline, 'chunk')
            out += self.buf[:size]
            del self.buf[:size + 2]

    def request(self, method, path, headers=None, body=b'', timeout=None,
                **kw):
        """send_request + read_response."""
        self.send_request(method, path, headers, body, **kw)
        return self.read_response(timeout, head_only=(method == 'HEAD'))

    # -- connection state ----------------------------------------------------

    def wait_closed(self, timeout=None):
        """Waits for the server to close; returns the bytes that arrived
        meanwhile. Raises HttpTimeout if it stays open."""
        deadline = time.monotonic() + (timeout or self.timeout)
        start = len(self.received)
        while not self.eof:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise HttpTimeout('connection still open after %.1fs; got %r'
                                  % (timeout or self.timeout,
                                     bytes(self.received[start:])[:500]))
        return bytes(self.received[start:])

    def is_open(self, wait=0.2):
        """True if the server has not closed within wait seconds (data
        that arrives meanwhile stays buffered)."""
        deadline = time.monotonic() + wait
        while not self.eof:
            try:
                self._fill(deadline)
            except socket.timeout:
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# BOSH

def body_xml(attrs=None, payload='', xmpp_ns=True):
    """A <body/> wrapper: attrs {name: value} (None values are left out;
    'xml:lang' and 'xmpp:*' names are written as given), payload a str of
    child elements."""
    parts = ['<body']
    for k, v in (attrs or {}).items():
        if v is None:
            continue
        parts.append(' %s=%s' % (k, quoteattr(str(v))))
    parts.append(" xmlns='%s'" % NS_HTTPBIND)
    if xmpp_ns:
        parts.append(" xmlns:xmpp='%s'" % NS_XBOSH)
    if payload:
        parts.append('>%s</body>' % payload)
    else:
        parts.append('/>')
    return ''.join(parts)


def creation_attrs(rid, to='localhost', wait=60, hold=1, **extra):
    """The attributes of a XEP-0206 session creation request."""
    a = {'content': 'text/xml; charset=utf-8', 'hold': hold, 'rid': rid,
         'to': to, 'ver': '1.6', 'wait': wait, 'xml:lang': 'en',
         'xmpp:version': '1.0'}
    a.update(extra)
    return a


class BoshResponse:
    """An HTTP response to a BOSH request, with the <body/> parsed (body
    is None when the HTTP status is not 200 or the payload is not XML)."""

    def __init__(self, http, rid=None, sent_at=None):
        self.http = http
        self.status = http.status
        self.raw = http.body
        self.rid = rid
        self.sent_at = sent_at
        self.received_at = http.received_at
        self.body = None
        self.parse_error = None
        if http.status == 200:
            try:
                self.body = ET.fromstring(http.body)
            except ET.ParseError as e:
                self.parse_error = e

    @property
    def elapsed(self):
        return self.received_at - self.sent_at

    def attr(self, name, default=None):
        """Attribute of <body/>; 'xmpp:foo' means {urn:xmpp:xbosh}foo."""
        if self.body is None:
            return default
        if name.startswith('xmpp:'):
            name = q(NS_XBOSH, name[5:])
        elif name == 'xml:lang':
            name = q(NS_XML, 'lang')
        return self.body.get(name, default)

    @property
    def type(self):
        return self.attr('type')

    @property
    def condition(self):
        return self.attr('condition')

    @property
    def terminated(self):
        return self.type == 'terminate'

    @property
    def children(self):
        return list(self.body) if self.body is not None else []

    def find(self, local_name, ns=None):
        """First child with that local name (and namespace, if given)."""
        for c in self.children:
            if local(c.tag) == local_name and (ns is None or
                                               ns_of(c.tag) == ns):
                return c
        return None

    def check_body(self):
        """Asserts a 200 with a <body/> in the httpbind namespace."""
        assert self.status == 200, 'HTTP %s: %r' % (self.status, self.raw)
        assert self.body is not None, 'response is not XML (%s): %r' % (
            self.parse_error, self.raw)
        assert self.body.tag == q(NS_HTTPBIND, 'body'), \
            'response root is %s' % self.body.tag
        return self

    def __repr__(self):
        return '<BoshResponse rid=%s HTTP %s %r>' % (self.rid, self.status,
                                                     self.raw[:1500])


class Pending:
    """A BOSH request running in a background thread on a connection of
    its own. result() waits for its BoshResponse (or re-raises the error
    the thread met)."""

    def __init__(self, fn, rid):
        self.rid = rid
        self._result = None
        self._exc = None
        self._done = threading.Event()
        self.sent_at = time.monotonic()
        self._t = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._t.start()

    def _run(self, fn):
        try:
            self._result = fn()
        except BaseException as e:   # handed to result()
            self._exc = e
        finally:
            self._done.set()

    def done(self, wait=0.0):
        """True once the response arrived (waits up to wait seconds)."""
        return self._done.wait(wait) if wait else self._done.is_set()

    def result(self, timeout=DEFAULT_TIMEOUT + 10):
        if not self._done.wait(timeout):
            raise HttpTimeout('no response to rid %s within %.1fs'
                              % (self.rid, timeout))
        if self._exc is not None:
            raise self._exc
        return self._result


class BoshClient:
    """One BOSH session (XEP-0124 with XEP-0206) at path on port.

    Synchronous requests (post) reuse one keep-alive connection; send()
    runs a request in the background on a fresh connection, so a test can
    keep one request held while it sends others."""

    def __init__(self, port, tls=True, path=BOSH_PATH, timeout=DEFAULT_TIMEOUT,
                 source=None, rid=None, headers=None):
        """headers: extra HTTP headers for every request (e.g.
        X-Forwarded-For); source: see HttpConn."""
        self.port = port
        self.tls = tls
        self.path = path
        self.timeout = timeout
        self.source = source or fresh_source_ip()
        self.headers = list(headers or [])
        self.rid = rid if rid is not None else \
            int.from_bytes(os.urandom(4), 'big') + 100000
        self.sid = None
        self.created = None        # the session creation BoshResponse
        self.wait = None
        self.features = None
        self.inbox = []            # payload elements received, in order
        self.jid = None
        self._conn = None
        self._conns = []
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------

    def connect(self):
        c = HttpConn(self.port, tls=self.tls, timeout=self.timeout,
                     source=self.source)
        with self._lock:
            self._conns.append(c)
        return c

    def http_headers(self, extra=None):
        h = [('Content-Type', 'text/xml; charset=utf-8')] + self.headers
        return h + list(extra or [])

    def next_rid(self):
        self.rid += 1
        return self.rid

    def attrs(self, rid=None, **extra):
        """sid and rid (the next one unless given) plus extra."""
        a = {'rid': self.next_rid() if rid is None else rid, 'sid': self.sid}
        a.update(extra)
        return a

    def raw_post(self, data, conn=None, timeout=None, headers=None, rid=None):
        """POSTs data (str/bytes, sent as is) and returns the BoshResponse.
        conn: an HttpConn (default the client's keep-alive one; reopened if
        the server closed it)."""
        # A request may be held for up to 'wait' seconds.
        timeout = timeout or (self.timeout + (self.wait or 0))
        own = conn is None
        if own:
            # Reuse the keep-alive connection unless the server closed it
            # meanwhile (idle timeout); no retry once a request was sent.
            if self._conn is None or not self._conn.is_open(wait=0.005):
                self._conn = self.connect()
            conn = self._conn
        sent = time.monotonic()
        conn.send_request('POST', self.path, self.http_headers(headers),
                          data)
        http = conn.read_response(timeout)
        if own and (http.tokens('Connection').count('close') or
                    http.version == 'HTTP/1.0'):
            conn.close()
            self._conn = None
        return BoshResponse(http, rid, sent)

    def post(self, payload='', rid=None, timeout=None, conn=None,
             headers=None, **attrs):
        """Sends one request (sid, the next rid unless given, attrs) and
        returns its BoshResponse. The payload elements of the response are
        appended to inbox."""
        a = self.attrs(rid, **attrs)
        r = self.raw_post(body_xml(a, payload), conn=conn, timeout=timeout,
                          headers=headers, rid=a['rid'])
        self._collect(r)
        return r

    def send(self, payload='', rid=None, timeout=None, headers=None,
             conn=None, **attrs):
        """Like post, but in the background on a fresh connection (or
        conn); returns a Pending."""
        a = self.attrs(rid, **attrs)
        data = body_xml(a, payload)
        c = conn or self.connect()

        def run():
            r = self.raw_post(data, conn=c, timeout=timeout,
                              headers=headers, rid=a['rid'])
            self._collect(r)
            return r
        p = Pending(run, a['rid'])
        return p

    def _collect(self, r):
        if r.body is not None and not r.terminated:
            with self._lock:
                for c in r.children:
                    if c.tag == q(NS_STREAM, 'features'):
                        self.features = c
                    self.inbox.append(c)

    def close(self):
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self._conn = None

    # -- session -------------------------------------------------------------

    def create(self, to='localhost', wait=60, hold=1, check=True, **extra):
        """Session creation request (XEP-0124 7.1, XEP-0206 5). Returns the
        BoshResponse; with check, asserts a sid came back."""
        rid = self.rid
        a = creation_attrs(rid, to=to, wait=wait, hold=hold, **extra)
        r = self.raw_post(body_xml(a), rid=rid)
        self.created = r
        if check:
            r.check_body()
            assert not r.terminated, 'session creation refused: %r' % r
            assert r.attr('sid'), 'no sid in the creation response: %r' % r
        if r.body is not None and not r.terminated:
            self.sid = r.attr('sid')
            self.wait = int(r.attr('wait') or wait)
            self._collect(r)
        return r

    def take(self, pred):
        """Removes and returns the first inbox element pred accepts, or
        None."""
        with self._lock:
            for i, el in enumerate(self.inbox):
                if pred(el):
                    return self.inbox.pop(i)
        return None

    def exchange(self, payload, pred, timeout=None, what='element'):
        """Sends payload, then polls with empty requests until an element
        pred accepts has arrived (each response is checked: 200, no
        terminate). Returns that element (removed from inbox)."""
        deadline = time.monotonic() + (timeout or (self.timeout +
                                                   (self.wait or 0)))
        first = True
        while True:
            el = self.take(pred)
            if el is not None:
                return el
            left = deadline - time.monotonic()
            if left <= 0:
                raise HttpTimeout('no %s arrived; inbox: %s' % (
                    what, [tostr(e)[:300] for e in self.inbox]))
            r = self.post(payload if first else '',
                          timeout=max(left, 0.5) + 1)
            first = False
            r.check_body()
            assert not r.terminated, 'session terminated waiting for %s: ' \
                '%r' % (what, r)

    def wait_features(self, timeout=None):
        """The <stream:features/> of the current stream (polls if the
        last response did not carry them)."""
        if self.features is None:
            self.exchange('', lambda e: e.tag == q(NS_STREAM, 'features'),
                          timeout, 'stream features')
        f, self.features = self.features, None
        self.take(lambda e: e is f)
        return f

    def mechanisms(self, features):
        mechs = features.find(q(NS_SASL, 'mechanisms'))
        if mechs is None:
            return []
        return [m.text for m in mechs.findall(q(NS_SASL, 'mechanism'))]

    def auth_plain(self, user, password, authzid=''):
        """Sends <auth mechanism='PLAIN'/>; returns the <success/> or
        <failure/> element."""
        data = base64.b64encode(('%s\0%s\0%s' % (authzid, user, password))
                                .encode()).decode()
        return self.exchange(
            "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, data),
            lambda e: e.tag in (q(NS_SASL, 'success'), q(NS_SASL, 'failure')),
            what='SASL result')

    def restart(self, to='localhost'):
        """xmpp:restart='true' (XEP-0206 6); returns the new features."""
        self.features = None
        r = self.post('', to=to, **{'xml:lang': 'en', 'xmpp:restart': 'true'})
        r.check_body()
        assert not r.terminated, 'restart refused: %r' % r
        return self.wait_features()

    def bind(self, resource=None):
        res = '<resource>%s</resource>' % escape(resource) \
            if resource is not None else ''
        iid = 'bind%d' % self.rid
        el = self.exchange(
            "<iq type='set' id='%s' xmlns='%s'><bind xmlns='%s'>%s</bind>"
            "</iq>" % (iid, NS_CLIENT, NS_BIND, res),
            lambda e: local(e.tag) == 'iq' and e.get('id') == iid,
            what='bind result')
        assert el.get('type') == 'result', 'bind failed: ' + tostr(el)
        jid = el.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid')))
        assert jid is not None and jid.text, 'no <jid/> in ' + tostr(el)
        self.jid = jid.text
        return self.jid

    def login(self, user, password, resource=None, wait=10, hold=1,
              presence=False, **extra):
        """Creates the session, SASL PLAIN, restart, bind (and an initial
        presence if asked). Returns the full JID."""
        if self.sid is None:
            self.create(wait=wait, hold=hold, **extra)
        feats = self.wait_features()
        assert 'PLAIN' in self.mechanisms(feats), \
            'PLAIN not offered: ' + tostr(feats)
        res = self.auth_plain(user, password)
        assert res.tag == q(NS_SASL, 'success'), 'auth failed: ' + tostr(res)
        feats = self.restart()
        assert feats.find(q(NS_BIND, 'bind')) is not None, \
            'no <bind/> after restart: ' + tostr(feats)
        jid = self.bind(resource)
        if presence:
            r = self.post("<presence xmlns='%s'/>" % NS_CLIENT)
            r.check_body()
        return jid

    def ping(self, to='localhost'):
        """XEP-0199 ping through the session; returns the reply iq."""
        iid = 'ping%d' % self.rid
        return self.exchange(
            "<iq type='get' id='%s' to=%s xmlns='%s'><ping xmlns='%s'/></iq>"
            % (iid, quoteattr(to), NS_CLIENT, NS_PING),
            lambda e: local(e.tag) == 'iq' and e.get('id') == iid,
            what='ping reply')

    def terminate(self, payload="<presence type='unavailable' "
                  "xmlns='jabber:client'/>"):
        return self.post(payload, type='terminate')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def message_xml(to, text, id_=None, type_='chat'):
    return "<message xmlns='%s' to=%s type='%s'%s><body>%s</body></message>" \
        % (NS_CLIENT, quoteattr(to), type_,
           ' id=%s' % quoteattr(id_) if id_ else '', escape(text))
