"""s2s_raw.py -- raw-socket server-to-server peers for hostile-peer tests.

S2SPeer speaks RFC 6120 s2s by hand (jabber:server streams, STARTTLS with
or without a client certificate, SASL EXTERNAL, XEP-0220 dialback), on
top of xmpp_raw.RawClient (its incremental reader, deadlines, stream
error checks). FakeS2SServer is a listener that plays a remote server:
it accepts s2s streams, offers STARTTLS and dialback, and answers
<db:verify/> (as an Authoritative Server) and <db:result/> (as a
Receiving Server) with the type a test chooses. dialback_key() is
XEP-0185.

Every read has a deadline: nothing here can hang a test.
"""

import hashlib
import hmac
import socket
import ssl
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from xmpp_raw import (DEFAULT_TIMEOUT, NS_SASL, NS_STREAM, NS_STREAMS,
                      NS_TLS, RawClient, StreamClosed, Timeout, q, tostr)

NS_SERVER = 'jabber:server'
NS_DB = 'jabber:server:dialback'
NS_DB_FEATURE = 'urn:xmpp:features:dialback'
NS_BIDI_FEATURE = 'urn:xmpp:features:bidi'
ALPN_S2S = 'xmpp-server'      # XEP-0368


def dialback_key(secret, receiving, originating, stream_id):
    """XEP-0185: HMAC-SHA256 keyed with the lowercase hex SHA-256 digest
    of the secret (the 64 hex characters, as text), over
    "<Receiving Server> <Originating Server> <Stream ID>"; lowercase hex.

    >>> dialback_key('s3cr3tf0rd14lb4ck', 'xmpp.example.com',
    ...              'example.org', 'D60000229F')
    '37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643'

    secret: str (UTF-8) or bytes, used as given (a configured secret is
    not hex-decoded first)."""
    if isinstance(secret, str):
        secret = secret.encode()
    hkey = hashlib.sha256(secret).hexdigest().encode()
    msg = ('%s %s %s' % (receiving, originating, stream_id)).encode()
    return hmac.new(hkey, msg, hashlib.sha256).hexdigest()


def s2s_header(to=None, from_=None, version='1.0', db=True, id_=None,
               xmlns=NS_SERVER, stream_ns=NS_STREAM, xml_decl=True,
               extra=''):
    """A jabber:server stream header. None leaves an attribute out."""
    parts = ['<stream:stream']
    if xmlns is not None:
        parts.append(' xmlns=%s' % quoteattr(xmlns))
    if stream_ns is not None:
        parts.append(' xmlns:stream=%s' % quoteattr(stream_ns))
    if db:
        parts.append(" xmlns:db='%s'" % NS_DB)
    for name, val in (('from', from_), ('to', to), ('id', id_),
                      ('version', version)):
        if val is not None:
            parts.append(' %s=%s' % (name, quoteattr(val)))
    if extra:
        parts.append(' ' + extra)
    parts.append('>')
    return ("<?xml version='1.0'?>" if xml_decl else '') + ''.join(parts)


def _client_ctx(certfile=None, keyfile=None, cafile=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class S2SPeer(RawClient):
    """One outgoing s2s connection, by hand.

    >>> p = S2SPeer(port, 'evil.example', 'tern.example')
    >>> p.open_stream()               # header, then features
    >>> p.starttls()                  # new stream, new features
    >>> p.send_db_result(key)
    >>> p.wait_db_result()            # <db:result type=.../>

    certfile/keyfile: a client certificate offered in TLS (for SASL
    EXTERNAL). cafile: verify the server's certificate against it (and
    its name against to_domain); default no verification. sni: the
    server name sent (default to_domain; False for none). alpn: for
    direct TLS, default ['xmpp-server']."""

    def __init__(self, port, from_domain, to_domain, host='127.0.0.1',
                 direct_tls=False, certfile=None, keyfile=None, cafile=None,
                 sni=None, alpn=None, timeout=DEFAULT_TIMEOUT, source=None):
        self.from_domain = from_domain
        self.to_domain = to_domain
        self.certfile, self.keyfile = certfile, keyfile
        self.alpn = alpn if alpn is not None else (
            [ALPN_S2S] if direct_tls else None)
        sni_name = to_domain if sni is None else (sni or None)
        super().__init__(port, host=host, direct_tls=direct_tls,
                         cafile=cafile, timeout=timeout,
                         server_name=sni_name, source=source)

    # -- TLS ---------------------------------------------------------------

    def ssl_context(self):
        return _client_ctx(self.certfile, self.keyfile, self.cafile,
                           self.alpn)

    def peer_cert(self):
        """The server's certificate (DER) or None."""
        return self.sock.getpeercert(binary_form=True) if self.tls else None

    def alpn_protocol(self):
        return self.sock.selected_alpn_protocol() if self.tls else None

    # -- stream ------------------------------------------------------------

    def header_text(self, to=None, from_=None, version='1.0', db=True,
                    **kw):
        return s2s_header(to=self.to_domain if to is None else to,
                          from_=self.from_domain if from_ is None else from_,
                          version=version, db=db, **kw)

    def open_stream(self, to=None, from_=None, version='1.0', db=True,
                    features=None, **kw):
        """Sends our header, reads the answer header, and (for version
        1.0 streams, or features=True) the features element, which it
        returns (else None). to/from_ '' leave the attribute out."""
        to = self.to_domain if to is None else (to or None)
        from_ = self.from_domain if from_ is None else (from_ or None)
        self.send(s2s_header(to=to, from_=from_, version=version, db=db,
                             **kw))
        self.recv_header()
        if features is None:
            features = version is not None
        self.features = None
        if features:
            self.features = self.recv()
            assert self.features.tag == q(NS_STREAM, 'features'), \
                'expected stream features, got ' + tostr(self.features)
        return self.features

    def restart(self, **kw):
        self._reset_parser()
        self.header = None
        return self.open_stream(**kw)

    @property
    def stream_id(self):
        return (self.header or {}).get('id')

    def offers_starttls(self):
        return self._feature(NS_TLS, 'starttls') is not None

    def requires_starttls(self):
        el = self._feature(NS_TLS, 'starttls')
        return el is not None and el.find(q(NS_TLS, 'required')) is not None

    def offers_dialback(self):
        return self._feature(NS_DB_FEATURE, 'dialback') is not None

    def _feature(self, ns, name):
        if self.features is None:
            return None
        return self.features.find(q(ns, name))

    def feature_names(self):
        """['{ns}name', ...] of the current features."""
        return [c.tag for c in (self.features if self.features is not None
                                else [])]

    # -- SASL EXTERNAL (RFC 6120 6, XEP-0178) -------------------------------

    def sasl_external(self, authzid=None, restart=True):
        """<auth mechanism='EXTERNAL'> with '=' (no authzid) or the
        base64 authzid. Returns <success/> or <failure/>; restarts the
        stream after success."""
        self.sasl_auth('EXTERNAL', authzid.encode() if authzid else b'')
        el = self.sasl_result()
        if el.tag == q(NS_SASL, 'success') and restart:
            self.restart()
        return el

    # -- dialback (XEP-0220) ------------------------------------------------

    def send_db_result(self, key, from_=None, to=None):
        self.send('<db:result from=%s to=%s>%s</db:result>' % (
            quoteattr(from_ or self.from_domain),
            quoteattr(to or self.to_domain), escape(key)))

    def send_db_verify(self, key, id_, from_=None, to=None):
        """As a Receiving Server asking the authoritative one (the
        connection's from/to are ours/theirs)."""
        self.send('<db:verify from=%s to=%s id=%s>%s</db:verify>' % (
            quoteattr(from_ or self.from_domain),
            quoteattr(to or self.to_domain), quoteattr(id_), escape(key)))

    def wait_db_result(self, timeout=None):
        """The next <db:result/> (other elements are dropped)."""
        return self.wait_for(lambda e: e.tag == q(NS_DB, 'result'),
                             timeout=timeout, what='<db:result/>')

    def wait_db_verify(self, timeout=None):
        return self.wait_for(lambda e: e.tag == q(NS_DB, 'verify'),
                             timeout=timeout, what='<db:verify/>')

    def dialback(self, secret, timeout=None, from_=None, to=None):
        """Sends the XEP-0185 key for this stream (computed with secret)
        and returns the type of the <db:result/> answer."""
        key = dialback_key(secret, to or self.to_domain,
                           from_ or self.from_domain, self.stream_id)
        self.send_db_result(key, from_, to)
        return self.wait_db_result(timeout).get('type')

    # -- stanzas -----------------------------------------------------------

    def send_message(self, to, from_, body='hi', id_=None, type_='chat'):
        self.send("<message xmlns='%s' to=%s from=%s type=%s id=%s>"
                  '<body>%s</body></message>' % (
                      NS_SERVER, quoteattr(to), quoteattr(from_),
                      quoteattr(type_), quoteattr(id_ or uuid.uuid4().hex),
                      escape(body)))

    def connect_secure(self, starttls=True):
        """Stream, then STARTTLS unless the stream is already TLS.
        Returns the features after TLS."""
        if self.header is None:
            self.open_stream()
        if starttls and not self.tls:
            return self.starttls()
        return self.features


def stream_error_condition(el):
    """Local name of the condition of a <stream:error/>."""
    conds = [c.tag.split('}', 1)[1] for c in el
             if c.tag.startswith('{%s}' % NS_STREAMS)
             and not c.tag.endswith('}text')]
    return conds[0] if len(conds) == 1 else conds


# ---------------------------------------------------------------------------

class _Conn:
    """Server side of one accepted connection (in its own thread)."""

    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        self.tls = False
        self.stream_from = None
        self.stream_to = None
        self.sni = None

    # parsing

    def _reset(self):
        self.parser = ET.XMLPullParser(events=('start', 'end'))
        self.depth = 0
        self.root = None

    def _elements(self, deadline):
        """Yields ('header', attrs), ('el', element), ('end', None) until
        the stream or connection ends or the deadline passes."""
        while time.monotonic() < deadline and not self.server._stopping:
            self.sock.settimeout(min(0.2, max(0.01,
                                              deadline - time.monotonic())))
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            try:
                self.parser.feed(data)
                events = list(self.parser.read_events())
            except ET.ParseError as e:
                self.server._record_event(self, 'malformed', str(e))
                self.send("<stream:error><not-well-formed xmlns='%s'/>"
                          "</stream:error></stream:stream>" % NS_STREAMS)
                return
            for ev, el in events:
                if ev == 'start':
                    if self.depth == 0:
                        self.root = el
                        yield 'header', dict(el.attrib)
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 1:
                        try:
                            self.root.remove(el)
                        except ValueError:
                            pass
                        yield 'el', el
                    elif self.depth == 0:
                        yield 'end', None
                        return

    def send(self, text):
        try:
            self.sock.sendall(text.encode())
        except (OSError, ssl.SSLError):
            pass

    # protocol

    def run(self):
        deadline = time.monotonic() + self.server.conn_timeout
        try:
            if self.server.direct_tls and not self._start_tls():
                return
            while self._serve_stream(deadline):
                pass            # TLS started: a new stream
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def _serve_stream(self, deadline):
        """One stream; True when it ends in STARTTLS (restart)."""
        self._reset()
        for kind, val in self._elements(deadline):
            if kind == 'header':
                self._answer_header(val)
            elif kind == 'el':
                self.server._record(self, val)
                r = self._handle(val)
                if r == 'restart':
                    return True
                if not r:
                    return False
            else:
                self.send('</stream:stream>')
                return False
        return False

    def _answer_header(self, attrs):
        srv = self.server
        self.stream_from = attrs.get('from')
        self.stream_to = attrs.get('to')
        self.stream_id = uuid.uuid4().hex
        srv._record_header(self, attrs)
        srv._record_event(self, 'stream', {
            'id': self.stream_id, 'from': self.stream_from,
            'to': self.stream_to, 'tls': self.tls})
        me = self.stream_to or srv.domain
        feats = ''
        if not self.tls and srv.offer_starttls:
            feats += "<starttls xmlns='%s'>%s</starttls>" % (
                NS_TLS, '<required/>' if srv.require_tls else '')
        if srv.offer_dialback and (self.tls or not srv.require_tls):
            feats += "<dialback xmlns='%s'><errors/></dialback>" \
                % NS_DB_FEATURE
        feats += srv.extra_features
        self.send(s2s_header(
            to=self.stream_from, from_=me, id_=self.stream_id,
            version='1.0' if attrs.get('version') else None) +
            ('<stream:features>%s</stream:features>' % feats
             if attrs.get('version') else ''))

    def _handle(self, el):
        srv = self.server
        if el.tag == q(NS_TLS, 'starttls'):
            if self.tls or not srv.offer_starttls:
                self.send("<failure xmlns='%s'/></stream:stream>" % NS_TLS)
                return False
            self.send("<proceed xmlns='%s'/>" % NS_TLS)
            if not self._start_tls():
                return False
            return 'restart'
        if el.tag == q(NS_DB, 'verify'):
            t = srv._decide(srv.verify, el, self)
            if t is None:
                return True             # no answer: let it time out
            self._sleep(srv.delay)
            self.send("<db:verify from=%s to=%s id=%s type=%s/>" % (
                quoteattr(el.get('to') or ''), quoteattr(el.get('from') or ''),
                quoteattr(el.get('id') or ''), quoteattr(t)))
            return True
        if el.tag == q(NS_DB, 'result'):
            t = srv._decide(srv.result, el, self)
            if t is None:
                return True
            self._sleep(srv.delay)
            self.send("<db:result from=%s to=%s type=%s/>" % (
                quoteattr(el.get('to') or ''), quoteattr(el.get('from') or ''),
                quoteattr(t)))
            return True
        return True

    def _sleep(self, delay):
        end = time.monotonic() + (delay or 0)
        while time.monotonic() < end and not self.server._stopping:
            time.sleep(0.02)

    def _start_tls(self):
        srv = self.server
        ctx = srv.ssl_context()

        def sni_cb(sslobj, name, _ctx):
            self.sni = name
        ctx.sni_callback = sni_cb
        try:
            self.sock.settimeout(srv.conn_timeout)
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            srv._record_event(self, 'tls-failed', str(e))
            return False
        self.tls = True
        cert = self.sock.getpeercert(binary_form=True)
        srv._record_event(self, 'tls', {
            'sni': self.sni, 'alpn': self.sock.selected_alpn_protocol(),
            'client_cert': cert})
        return True


class FakeS2SServer:
    """A listener playing a remote XMPP server for s2s tests.

    It accepts jabber:server streams (STARTTLS offered; direct TLS with
    direct_tls=True), advertises dialback, and answers
      <db:verify/>  with type `verify` (as an Authoritative Server:
                    'valid', 'invalid', 'error', None for no answer, or
                    a callable(element, conn) -> one of those), and
      <db:result/>  with type `result` (as a Receiving Server, same
                    choices, default 'valid': whoever asks may send to
                    it; Prosody, asked to verify a key, first
                    authenticates its own stream to the authoritative
                    server that way, then sends <db:verify/> on it).
    Everything it receives is kept in .received as (conn number, element)
    and .headers as (conn number, attributes); .events has TLS details
    (SNI, ALPN, client certificate: requested only with client_ca, which
    it must then chain to). delay: seconds before answering.

    >>> auth = FakeS2SServer('origin.example', cert, key, verify='invalid')
    >>> dns.srv('_xmpp-server._tcp.origin.example', 'origin.example',
    ...         auth.port)
    """

    def __init__(self, domain, cert, key, verify='valid', result='valid',
                 port=None, direct_tls=False, offer_starttls=True,
                 require_tls=True, offer_dialback=True, extra_features='',
                 delay=0, conn_timeout=30, client_ca=None,
                 alpn=(ALPN_S2S,)):
        self.domain = domain
        self.cert, self.key = cert, key
        self.verify, self.result = verify, result
        self.direct_tls = direct_tls
        self.offer_starttls = offer_starttls and not direct_tls
        self.require_tls = require_tls
        self.offer_dialback = offer_dialback
        self.extra_features = extra_features
        self.delay = delay
        self.conn_timeout = conn_timeout
        self.client_ca = client_ca
        self.alpn = alpn
        self.received = []
        self.headers = []
        self.events = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._stopping = False
        self._nconn = 0
        self._threads = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', port or 0))
        self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def ssl_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        if self.client_ca:
            # asks for a client certificate (optional), which must then
            # chain to client_ca; recorded in .events
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(self.client_ca)
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        return ctx

    def _accept(self):
        while not self._stopping:
            try:
                s, addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._nconn += 1
                n = self._nconn
            c = _Conn(self, s, addr)
            c.n = n
            t = threading.Thread(target=c.run, daemon=True)
            self._threads.append(t)
            t.start()

    def _decide(self, how, el, conn):
        return how(el, conn) if callable(how) else how

    def _record(self, conn, el):
        with self._cond:
            self.received.append((conn.n, el))
            self._cond.notify_all()

    def _record_header(self, conn, attrs):
        with self._cond:
            self.headers.append((conn.n, attrs))
            self._cond.notify_all()

    def _record_event(self, conn, kind, data):
        with self._cond:
            self.events.append((conn.n, kind, data))
            self._cond.notify_all()

    @property
    def connections(self):
        return self._nconn

    def stream_ids(self, conn=None):
        """The ids we gave our stream headers (of one connection
        number, or all), in order."""
        with self._lock:
            return [d['id'] for n, k, d in self.events
                    if k == 'stream' and conn in (None, n)]

    def conn_of(self, el):
        """Connection number an element arrived on."""
        with self._lock:
            for n, e in self.received:
                if e is el:
                    return n
        return None

    def wait_element(self, pred, timeout=5.0, what='element'):
        """The first received element pred accepts (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, el in self.received:
                    if pred(el):
                        return el
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout('fake server %s got no %s; got: %s' % (
                        self.domain, what,
                        [tostr(e) for _, e in self.received]))
                self._cond.wait(left)

    def wait_verify(self, timeout=5.0):
        return self.wait_element(lambda e: e.tag == q(NS_DB, 'verify'),
                                 timeout, '<db:verify/>')

    def wait_result(self, timeout=5.0):
        return self.wait_element(lambda e: e.tag == q(NS_DB, 'result'),
                                 timeout, '<db:result/>')

    def stop(self):
        self._stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        self._acceptor.join(2)
        for t in self._threads:
            t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# the Authoritative Server role is the usual one
FakeAuthoritative = FakeS2SServer

__all__ = ['ALPN_S2S', 'FakeAuthoritative', 'FakeS2SServer', 'NS_BIDI_FEATURE',
           'NS_DB', 'NS_DB_FEATURE', 'NS_SERVER', 'S2SPeer', 'StreamClosed',
           'Timeout', 'dialback_key', 's2s_header', 'stream_error_condition']
