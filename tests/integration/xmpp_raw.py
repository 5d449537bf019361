"""xmpp_raw.py -- a small raw-socket XMPP client for transcript-style tests.

Speaks RFC 6120 byte by byte so tests can send exactly what they want
(broken headers, forbidden XML, pipelined plaintext, hand-made SASL) and
check exactly what comes back: the stream header (4.7), stream features
(4.3.2), STARTTLS (5), SASL PLAIN and SCRAM with channel binding (6,
RFC 5802, RFC 5929 tls-server-end-point, RFC 9266 tls-exporter), resource
binding (7) and stream errors (4.9).

Every read has a deadline: nothing here can hang a test.
"""

import base64
import ctypes
import hashlib
import hmac
import os
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = 'http://etherx.jabber.org/streams'
NS_CLIENT = 'jabber:client'
NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls'
NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl'
NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind'
NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session'
NS_STREAMS = 'urn:ietf:params:xml:ns:xmpp-streams'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_SASL_CB = 'urn:xmpp:sasl-cb:0'
NS_PING = 'urn:xmpp:ping'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_VERSION = 'jabber:iq:version'

DEFAULT_TIMEOUT = 3.0

_next_source = [0]


def fresh_source_ip():
    """A loopback address not used before by this process (127.0.1.1,
    127.0.1.2, ...): every connection looks like its own client, so the
    server's per-IP failed-login limit only sees what a test means it to."""
    _next_source[0] += 1
    n = _next_source[0] % (254 * 254)
    return '127.0.%d.%d' % (1 + n // 254, 1 + n % 254)


def q(ns, name):
    """Clark notation: q(NS_SASL, 'success') -> '{urn:...}success'."""
    return '{%s}%s' % (ns, name)


def tostr(el):
    """Serialises an element for assertion messages."""
    if el is None:
        return 'None'
    return ET.tostring(el, encoding='unicode')


def stream_header(to='localhost', version='1.0', xmlns=NS_CLIENT,
                  stream_ns=NS_STREAM, xml_decl=True, extra=''):
    """Builds an initial stream header. Pass None to leave an attribute
    out."""
    parts = ['<stream:stream']
    if to is not None:
        parts.append(' to=%s' % quoteattr(to))
    if xmlns is not None:
        parts.append(' xmlns=%s' % quoteattr(xmlns))
    if stream_ns is not None:
        parts.append(' xmlns:stream=%s' % quoteattr(stream_ns))
    if version is not None:
        parts.append(' version=%s' % quoteattr(version))
    if extra:
        parts.append(' ' + extra)
    parts.append('>')
    return ("<?xml version='1.0'?>" if xml_decl else '') + ''.join(parts)


class Timeout(AssertionError):
    """Nothing (or not the expected thing) arrived before the deadline."""


class StreamClosed(AssertionError):
    """The peer closed the stream or the connection while we expected
    more."""


# ---------------------------------------------------------------------------
# Channel binding data (RFC 5929, RFC 9266)

_libssl = None


def _load_libssl():
    global _libssl
    if _libssl is None:
        lib = ctypes.CDLL('libssl.so.3')
        lib.SSL_get_version.restype = ctypes.c_char_p
        lib.SSL_get_version.argtypes = [ctypes.c_void_p]
        lib.SSL_export_keying_material.restype = ctypes.c_int
        lib.SSL_export_keying_material.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
            ctypes.c_size_t, ctypes.c_int]
        _libssl = lib
    return _libssl


def tls_exporter(sslsock):
    """RFC 9266 tls-exporter channel binding data: 32 bytes of
    SSL_export_keying_material with label "EXPORTER-Channel-Binding" and
    no context. Python's ssl module does not expose it, so this reads the
    SSL* out of CPython 3.11's PySSLSocket (PyObject_HEAD, Socket weakref,
    SSL *ssl) and checks it is the right pointer by asking OpenSSL for the
    protocol version. Returns None when that check fails."""
    try:
        lib = _load_libssl()
    except OSError:
        return None
    obj = sslsock._sslobj
    psz = ctypes.sizeof(ctypes.c_void_p)
    ptr = ctypes.c_void_p.from_address(id(obj) + 3 * psz).value
    if not ptr:
        return None
    ver = lib.SSL_get_version(ptr)
    if ver is None or ver.decode() != sslsock.version():
        return None
    out = ctypes.create_string_buffer(32)
    label = b'EXPORTER-Channel-Binding'
    if lib.SSL_export_keying_material(ptr, out, 32, label, len(label),
                                      None, 0, 0) != 1:
        return None
    return out.raw


def tls_server_end_point(sslsock):
    """RFC 5929 4.1: hash of the server certificate (DER). The test
    certificate is signed with SHA-256, so the hash is SHA-256."""
    der = sslsock.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest()


# ---------------------------------------------------------------------------
# SCRAM (RFC 5802, RFC 7677)

def _saslname(s):
    return s.replace('=', '=3D').replace(',', '=2C')


def _hashname(mech):
    m = mech[:-5] if mech.endswith('-PLUS') else mech
    return {'SCRAM-SHA-1': 'sha1', 'SCRAM-SHA-256': 'sha256',
            'SCRAM-SHA-512': 'sha512'}[m]


class Scram:
    """Client side of one SCRAM exchange."""

    def __init__(self, mech, user, password, gs2_flag='n', cb_data=b'',
                 authzid=None, nonce=None):
        self.hname = _hashname(mech)
        self.user = user
        self.password = password
        self.cnonce = nonce or base64.b64encode(os.urandom(18)).decode()
        az = 'a=%s' % _saslname(authzid) if authzid else ''
        self.gs2_header = '%s,%s,' % (gs2_flag, az)
        self.cb_data = cb_data
        self.first_bare = 'n=%s,r=%s' % (_saslname(user), self.cnonce)
        self.server_sig = None

    def client_first(self):
        return (self.gs2_header + self.first_bare).encode()

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.hname).digest()

    def client_final(self, server_first):
        sf = server_first.decode()
        attrs = dict(kv.split('=', 1) for kv in sf.split(','))
        nonce = attrs['r']
        assert nonce.startswith(self.cnonce), \
            'server nonce %r does not extend ours %r' % (nonce, self.cnonce)
        assert len(nonce) > len(self.cnonce), 'server added no nonce'
        salt = base64.b64decode(attrs['s'])
        iters = int(attrs['i'])
        assert iters >= 4096, 'iteration count %d < 4096 (RFC 5802 5.1)' \
            % iters
        salted = hashlib.pbkdf2_hmac(self.hname, self.password.encode(),
                                     salt, iters)
        client_key = self._hmac(salted, b'Client Key')
        stored_key = hashlib.new(self.hname, client_key).digest()
        cbind = base64.b64encode(self.gs2_header.encode() +
                                 self.cb_data).decode()
        without_proof = 'c=%s,r=%s' % (cbind, nonce)
        auth_msg = ','.join([self.first_bare, sf, without_proof]).encode()
        sig = self._hmac(stored_key, auth_msg)
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        server_key = self._hmac(salted, b'Server Key')
        self.server_sig = self._hmac(server_key, auth_msg)
        return ('%s,p=%s' % (without_proof,
                             base64.b64encode(proof).decode())).encode()

    def verify_server_final(self, data):
        text = data.decode()
        assert text.startswith('v='), 'server-final is %r' % text
        got = base64.b64decode(text[2:].split(',')[0])
        assert hmac.compare_digest(got, self.server_sig), \
            'server signature does not verify (mutual auth failed)'


# ---------------------------------------------------------------------------

class RawClient:
    """One TCP connection speaking XMPP by hand.

    >>> s = RawClient(port)
    >>> s.send(stream_header(to='nowhere'))
    >>> s.expect_stream_error('host-unknown')
    """

    def __init__(self, port, host='127.0.0.1', direct_tls=False,
                 cafile=None, timeout=DEFAULT_TIMEOUT, server_name='localhost',
                 source=None, domain='localhost', session=None):
        """source: local address to connect from; default a fresh
        127.0.x.y (see fresh_source_ip). domain: the 'to' of stream
        headers unless open_stream is told another. session: an
        ssl.SSLSession to offer for resumption (direct TLS)."""
        self.port = port
        self.domain = domain
        self.timeout = timeout
        self.cafile = cafile
        self.server_name = server_name
        self.source = source or fresh_source_ip()
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(self.source, 0))
        self.tls = False
        self.received = bytearray()   # everything read, for messages
        self.header = None            # attributes of the server's header
        self.header_tag = None
        self.features = None
        self.jid = None
        self._id = 0
        self._reset_parser()
        if direct_tls:
            self._wrap_tls(session=session)

    # -- low level ---------------------------------------------------------

    def _reset_parser(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.root = None
        self.pending = []
        self.stream_ended = False
        self.eof = False
        self.reset_by_peer = False

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.cafile)
        if self.cafile is None:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _wrap_tls(self, ctx=None, session=None):
        ctx = ctx or self.ssl_context()
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock,
                                    server_hostname=self.server_name,
                                    session=session)
        self.tls = True

    def next_id(self):
        self._id += 1
        return 'r%d' % self._id

    def send(self, data, ignore_errors=False):
        """Writes str or bytes in one sendall."""
        if isinstance(data, str):
            data = data.encode()
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError,
                socket.timeout):
            if not ignore_errors:
                raise

    def transcript(self, n=1500):
        tail = bytes(self.received[-n:]).decode('utf-8', 'replace')
        return '\n--- last bytes received ---\n%s\n---' % tail

    def _fill(self, deadline):
        """One read into the parser; sets eof on close or reset."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            self.reset_by_peer = True
            data = b''
        except ssl.SSLEOFError:
            data = b''
        except ssl.SSLZeroReturnError:
            data = b''
        except ssl.SSLError as e:
            if 'APPLICATION_DATA_AFTER_CLOSE_NOTIFY' in str(e):
                data = b''
            else:
                raise
        if not data:
            self.eof = True
            return
        self.received += data
        try:
            self.parser.feed(data)
        except ET.ParseError as e:
            raise AssertionError('server sent malformed XML: %s%s'
                                 % (e, self.transcript()))
        for ev, el in self.parser.read_events():
            if ev == 'start':
                if self.depth == 0:
                    self.root = el
                    self.header = dict(el.attrib)
                    self.header_tag = el.tag
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
                    try:
                        self.root.remove(el)
                    except ValueError:
                        pass
                elif self.depth == 0:
                    self.stream_ended = True

    def recv(self, timeout=None):
        """Returns the next first-level element. Raises StreamClosed when
        the stream or connection ends first, Timeout on the deadline."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            if self.pending:
                return self.pending.pop(0)
            if self.stream_ended:
                raise StreamClosed('server closed the stream (</stream:stream>)'
                                   + self.transcript())
            if self.eof:
                raise StreamClosed('server closed the connection'
                                   + self.transcript())
            try:
                self._fill(deadline)
            except socket.timeout:
                raise Timeout('timed out waiting for an element'
                              + self.transcript())

    def recv_header(self, timeout=None):
        """Waits for the server's stream header and returns its
        attributes."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while self.header is None:
            if self.eof:
                raise StreamClosed('connection closed before the stream '
                                   'header' + self.transcript())
            try:
                self._fill(deadline)
            except socket.timeout:
                raise Timeout('no stream header' + self.transcript())
        assert self.header_tag == q(NS_STREAM, 'stream'), \
            'server stream root is %r' % self.header_tag
        return self.header

    def wait_for(self, pred, timeout=None, what='matching element'):
        """Reads elements, dropping those pred rejects, until one
        matches."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout('timed out waiting for ' + what
                              + self.transcript())
            el = self.recv(timeout=left)
            if pred(el):
                return el

    def expect_nothing(self, timeout=0.5):
        """Asserts no element arrives within timeout."""
        try:
            el = self.recv(timeout=timeout)
        except Timeout:
            return
        raise AssertionError('unexpected element: ' + tostr(el))

    def expect_closed(self, timeout=None):
        """Asserts the connection closes (recv gives EOF) in time. Bytes
        after </stream:stream> are a failure."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not self.eof:
            try:
                self._fill(deadline)
            except socket.timeout:
                raise Timeout('connection not closed by the server'
                              + self.transcript())
            assert not self.pending, 'data after the error: %s' % [
                tostr(e) for e in self.pending]

    def expect_stream_error(self, cond, timeout=None, text=None):
        """Asserts that the next element (stream features excepted) is a
        stream error with condition cond (or one of a list of them), that </stream:stream> follows
        and the connection closes. Returns the error element."""
        deadline = time.monotonic() + (timeout or self.timeout)
        if self.header is None:
            self.recv_header(timeout=deadline - time.monotonic())
        while True:
            left = deadline - time.monotonic()
            try:
                el = self.recv(timeout=max(left, 0.01))
            except StreamClosed as e:
                raise AssertionError('expected stream error <%s/>, but: %s'
                                     % (cond, e))
            if el.tag != q(NS_STREAM, 'features'):
                break
        assert el.tag == q(NS_STREAM, 'error'), \
            'expected stream error <%s/>, got %s' % (cond, tostr(el))
        conds = [c.tag for c in el if c.tag != q(NS_STREAMS, 'text')]
        wanted = [cond] if isinstance(cond, str) else list(cond)
        assert len(conds) == 1 and conds[0] in [q(NS_STREAMS, w)
                                                for w in wanted], \
            'expected stream error <%s/>, got %s' % (
                '/> or <'.join(wanted), tostr(el))
        # </stream:stream> must follow, then the socket must close.
        while not self.stream_ended:
            if self.eof:
                raise AssertionError('connection closed without '
                                     '</stream:stream>' + self.transcript())
            try:
                self._fill(deadline)
            except socket.timeout:
                raise Timeout('no </stream:stream> after the stream error'
                              + self.transcript())
            assert not self.pending, 'data after the stream error: %s' % [
                tostr(e) for e in self.pending]
        self.expect_closed(timeout=max(deadline - time.monotonic(), 0.5))
        return el

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- stream level ------------------------------------------------------

    def open_stream(self, to=None, version='1.0', **kw):
        """Sends a stream header (to: self.domain unless given) and
        reads the server's header and features. Returns the features
        element."""
        if to is None:
            to = self.domain
        self.send(stream_header(to=to, version=version, **kw))
        self.recv_header()
        self.features = self.recv()
        assert self.features.tag == q(NS_STREAM, 'features'), \
            'expected stream features, got ' + tostr(self.features)
        return self.features

    def restart(self):
        """RFC 6120 4.3.3 stream restart (after SASL success)."""
        self._reset_parser()
        self.header = None
        return self.open_stream()

    def starttls(self, ctx=None, session=None):
        """RFC 6120 5.4: <starttls/>, <proceed/>, handshake, new stream.
        Returns the new features. session: an ssl.SSLSession to offer for
        resumption (ctx must then be the context it came from)."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.recv()
        assert el.tag == q(NS_TLS, 'proceed'), \
            'expected <proceed/>, got ' + tostr(el)
        self._wrap_tls(ctx, session)
        self._reset_parser()
        self.header = None
        return self.open_stream()

    def mechanisms(self):
        m = self.features.find(q(NS_SASL, 'mechanisms'))
        if m is None:
            return []
        return [e.text for e in m.findall(q(NS_SASL, 'mechanism'))]

    def channel_binding(self, cbtype):
        if cbtype == 'tls-server-end-point':
            return tls_server_end_point(self.sock)
        if cbtype == 'tls-exporter':
            return tls_exporter(self.sock)
        if cbtype == 'tls-unique':
            return self.sock.get_channel_binding('tls-unique')
        raise ValueError(cbtype)

    # -- SASL --------------------------------------------------------------

    def sasl_auth(self, mech, initial=None):
        """Sends <auth/>; initial is bytes (base64-encoded here), '=' for
        an empty response, or None for no initial response."""
        if initial is None:
            body = ''
        elif initial == b'':
            body = '='
        else:
            body = base64.b64encode(initial).decode()
        self.send("<auth xmlns='%s' mechanism=%s>%s</auth>"
                  % (NS_SASL, quoteattr(mech), body))

    def sasl_response(self, data):
        body = base64.b64encode(data).decode() if data else ''
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, body))

    def sasl_result(self):
        """Reads the next SASL element (challenge/success/failure)."""
        el = self.recv()
        assert el.tag in (q(NS_SASL, 'challenge'), q(NS_SASL, 'success'),
                          q(NS_SASL, 'failure')), \
            'expected a SASL element, got ' + tostr(el)
        return el

    def auth_plain(self, user, password, authzid=''):
        """PLAIN (RFC 4616). Returns <success/> or <failure/>; restarts
        the stream after success."""
        msg = ('%s\0%s\0%s' % (authzid, user, password)).encode()
        self.sasl_auth('PLAIN', msg)
        el = self.sasl_result()
        if el.tag == q(NS_SASL, 'success'):
            self.authenticated_as = user
            self.restart()
        return el

    def auth_scram(self, user, password, mech='SCRAM-SHA-256', cb=None,
                   cb_data=None, authzid=None, restart=True):
        """SCRAM. cb: None (gs2 flag 'n'), 'y', or a channel binding type
        ('tls-exporter', 'tls-server-end-point', 'tls-unique') for 'p=';
        cb_data overrides the binding data sent. Verifies the server
        signature on success. Returns the final <success/>/<failure/>."""
        if cb is None:
            flag, data = 'n', b''
        elif cb == 'y':
            flag, data = 'y', b''
        else:
            flag = 'p=' + cb
            data = cb_data if cb_data is not None else \
                self.channel_binding(cb)
            assert data is not None, 'no %s data available' % cb
        s = Scram(mech, user, password, flag, data, authzid)
        self.sasl_auth(mech, s.client_first())
        el = self.sasl_result()
        if el.tag != q(NS_SASL, 'challenge'):
            return el
        self.sasl_response(s.client_final(base64.b64decode(el.text or '')))
        el = self.sasl_result()
        if el.tag == q(NS_SASL, 'challenge'):
            # server-final as a challenge (allowed): empty response.
            s.verify_server_final(base64.b64decode(el.text or ''))
            self.sasl_response(b'')
            el = self.sasl_result()
        elif el.tag == q(NS_SASL, 'success'):
            assert el.text, 'SCRAM <success/> without server-final ' \
                '(RFC 6120 6.3.10 wants additional data)'
            s.verify_server_final(base64.b64decode(el.text))
        if el.tag == q(NS_SASL, 'success') and restart:
            self.restart()
        return el

    # -- binding and stanzas ----------------------------------------------

    def bind(self, resource=None):
        """RFC 6120 7: returns the full JID the server assigned."""
        iid = self.next_id()
        res = '<resource>%s</resource>' % escape(resource) \
            if resource is not None else ''
        self.send("<iq type='set' id='%s'><bind xmlns='%s'>%s</bind></iq>"
                  % (iid, NS_BIND, res))
        el = self.recv()
        assert el.tag == q(NS_CLIENT, 'iq') and el.get('id') == iid and \
            el.get('type') == 'result', 'bind failed: ' + tostr(el)
        jid = el.find('%s/%s' % (q(NS_BIND, 'bind'), q(NS_BIND, 'jid')))
        assert jid is not None and jid.text, 'no <jid/> in ' + tostr(el)
        self.jid = jid.text
        return self.jid

    def iq(self, type_, payload='', to=None, id_=None, from_=None):
        """Sends an iq; returns its id."""
        iid = id_ or self.next_id()
        attrs = " type='%s' id='%s'" % (type_, iid)
        if to is not None:
            attrs += ' to=%s' % quoteattr(to)
        if from_ is not None:
            attrs += ' from=%s' % quoteattr(from_)
        self.send('<iq%s>%s</iq>' % (attrs, payload))
        return iid

    def iq_reply(self, iid, timeout=None):
        """Waits for the iq result/error with id iid (other elements are
        dropped)."""
        return self.wait_for(
            lambda e: e.tag == q(NS_CLIENT, 'iq') and e.get('id') == iid
            and e.get('type') in ('result', 'error'),
            timeout=timeout, what="iq reply id='%s'" % iid)

    def query(self, type_, payload='', to=None, timeout=None):
        """iq round trip: returns the reply element."""
        return self.iq_reply(self.iq(type_, payload, to), timeout)

    def login(self, user, password, resource=None, mech='SCRAM-SHA-256',
              starttls=True):
        """Stream, STARTTLS (unless direct TLS), SASL, bind. Returns the
        full JID."""
        if self.header is None:
            self.open_stream()
        if starttls and not self.tls:
            self.starttls()
        if mech == 'PLAIN':
            el = self.auth_plain(user, password)
        else:
            el = self.auth_scram(user, password, mech)
        assert el.tag == q(NS_SASL, 'success'), 'auth failed: ' + tostr(el)
        return self.bind(resource)


def stanza_error(el):
    """(type, condition local name) of a stanza error reply, or (None,
    None)."""
    err = el.find(q(NS_CLIENT, 'error'))
    if err is None:
        return None, None
    conds = [c.tag.split('}', 1)[1] for c in err
             if c.tag.startswith('{%s}' % NS_STANZAS) and
             not c.tag.endswith('}text')]
    return err.get('type'), (conds[0] if len(conds) == 1 else conds)


def sasl_condition(el):
    """Local name of the condition in a SASL <failure/>."""
    conds = [c.tag.split('}', 1)[1] for c in el
             if c.tag != q(NS_SASL, 'text')]
    return conds[0] if len(conds) == 1 else conds
