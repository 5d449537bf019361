"""test_http.py -- ternd's HTTP/1.1 server (RFC 9112) on both `service:
http` listeners (direct TLS and plain): keep-alive, Connection: close and
HTTP/1.0, pipelining, 404/405, size limits (413/431), garbage, request
and idle timeouts, message framing errors, X-Forwarded-For from trusted
proxies (log and per-address login-failure limit over BOSH) and XEP-0156
host-meta (XRD and JSON).

Raw sockets through bosh_raw.HttpConn; after every hostile exchange a
fresh request must still be answered."""

import json
import time

import pytest

from bosh_raw import (NS_SASL, BoshClient, HttpConn, HttpTimeout, body_xml,
                      creation_attrs, q, tostr)

pytestmark = pytest.mark.raw

NS_XRD = 'http://docs.oasis-open.org/ns/xri/xrd-1.0'
REL_WS = 'urn:xmpp:alt-connections:websocket'
REL_BOSH = 'urn:xmpp:alt-connections:xbosh'
HOST_META = '/.well-known/host-meta'
LISTENERS = ['https', 'http']


def port_of(srv, kind):
    return srv.port_https if kind == 'https' else srv.port_http


def conn(srv, kind, **kw):
    return HttpConn(port_of(srv, kind), tls=(kind == 'https'), **kw)


@pytest.fixture
def open_conn(server):
    """Factory of HttpConns to a listener ('https' or 'http') of the
    shared server (or srv), closed at teardown."""
    made = []

    def make(kind, srv=None, **kw):
        c = conn(srv or server, kind, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture(scope='module')
def tight(certs, tmp_path_factory):
    """A ternd with small HTTP limits: 4096-byte requests, 1 s to send a
    request and of keep-alive idleness."""
    from conftest import Server
    s = Server(tmp_path_factory.mktemp('tight'), *certs,
               extra='http: {max_request_size: 4096, request_timeout: 1}\n'
               ).start()
    yield s
    s.check_clean_exit()


def assert_healthy(srv):
    """Both listeners still answer a fresh request."""
    for kind in LISTENERS:
        c = conn(srv, kind)
        try:
            r = c.request('GET', HOST_META)
            assert r.status == 200, r
        finally:
            c.close()


def assert_error_and_close(c, statuses, timeout=3.0):
    """Reads one response with a status in statuses (an int or a tuple),
    then the connection must close. A server that closes without a
    response is refused."""
    statuses = (statuses,) if isinstance(statuses, int) else statuses
    r = c.read_response(timeout)
    assert r.status in statuses, 'expected %s, got %r' % (statuses, r)
    c.wait_closed(timeout)
    return r


def links_xrd(r):
    assert r.status == 200, r
    ct = (r.header('Content-Type') or '').split(';')[0].strip().lower()
    assert ct == 'application/xrd+xml', r
    root = r.xml()
    assert root.tag == q(NS_XRD, 'XRD'), r.body
    return {l.get('rel'): l.get('href') for l in root.findall(q(NS_XRD,
                                                               'Link'))}


def links_json(r):
    assert r.status == 200, r
    ct = (r.header('Content-Type') or '').split(';')[0].strip().lower()
    assert ct == 'application/json', r
    doc = json.loads(r.body.decode('utf-8'))
    return {l['rel']: l['href'] for l in doc['links']}


# -- XEP-0156 host-meta -----------------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_host_meta_xrd(server, open_conn, kind):
    c = open_conn(kind)
    port = port_of(server, kind)
    r = c.request('GET', HOST_META, [('Origin', 'https://app.example')])
    links = links_xrd(r)
    ws, http = ('wss', 'https') if kind == 'https' else ('ws', 'http')
    assert links.get(REL_WS) == '%s://localhost:%d/xmpp-websocket' % (
        ws, port), links
    assert links.get(REL_BOSH) == '%s://localhost:%d/http-bind' % (
        http, port), links
    assert r.header('Access-Control-Allow-Origin') in (
        '*', 'https://app.example'), r


@pytest.mark.parametrize('kind', LISTENERS)
def test_host_meta_json(server, open_conn, kind):
    c = open_conn(kind)
    port = port_of(server, kind)
    r = c.request('GET', HOST_META + '.json',
                  [('Origin', 'https://app.example')])
    links = links_json(r)
    ws, http = ('wss', 'https') if kind == 'https' else ('ws', 'http')
    assert links.get(REL_WS) == '%s://localhost:%d/xmpp-websocket' % (
        ws, port), links
    assert links.get(REL_BOSH) == '%s://localhost:%d/http-bind' % (
        http, port), links
    assert r.header('Access-Control-Allow-Origin') in (
        '*', 'https://app.example'), r


def test_host_meta_follows_host_header(server, open_conn):
    c = open_conn('https')
    r = c.request('GET', HOST_META, host='xmpp.example.net')
    links = links_xrd(r)
    assert links.get(REL_BOSH) == 'https://xmpp.example.net/http-bind', links
    assert links.get(REL_WS) == 'wss://xmpp.example.net/xmpp-websocket', links


def test_host_meta_configured_url(make_server):
    srv = make_server(extra="http: {url: 'https://chat.example.org'}\n") \
        .start()
    for kind in LISTENERS:
        c = conn(srv, kind)
        try:
            links = links_xrd(c.request('GET', HOST_META))
            assert links == {
                REL_WS: 'wss://chat.example.org/xmpp-websocket',
                REL_BOSH: 'https://chat.example.org/http-bind'}, links
            links = links_json(c.request('GET', HOST_META + '.json'))
            assert links.get(REL_WS) == \
                'wss://chat.example.org/xmpp-websocket', links
            assert links.get(REL_BOSH) == \
                'https://chat.example.org/http-bind', links
        finally:
            c.close()


@pytest.mark.parametrize('host', [
    "evil'/><Link rel='x' href='y", 'a"b}{c', 'a b', 'x\\y', 'a<b>'])
def test_host_meta_hostile_host(server, open_conn, host):
    """A Host that cannot be part of a URL is refused (400) or never makes
    the documents malformed or grow links."""
    for path in (HOST_META, HOST_META + '.json'):
        c = open_conn('http')
        r = c.request('GET', path, host=host)
        if r.status == 400:
            continue
        links = links_json(r) if path.endswith('.json') else links_xrd(r)
        assert set(links) == {REL_WS, REL_BOSH}, links
    assert_healthy(server)


def test_host_meta_query_and_absolute_form(server, open_conn):
    """A query is not part of the path; absolute-form targets MUST be
    accepted (RFC 9112 3.2.2)."""
    c = open_conn('http')
    r = c.request('GET', HOST_META + '?x=1')
    assert r.status == 200, r
    port = server.port_http
    r = c.request('GET', 'http://localhost:%d%s' % (port, HOST_META))
    assert r.status == 200, r


# -- keep-alive, close, HTTP/1.0 ------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_keep_alive(server, open_conn, kind):
    c = open_conn(kind)
    for path in (HOST_META, HOST_META + '.json', HOST_META, '/nope'):
        r = c.request('GET', path)
        assert r.status == (404 if path == '/nope' else 200), r
        assert 'close' not in r.tokens('Connection'), r
    # A BOSH session creation on the same connection.
    r = c.request('POST', '/http-bind', [('Content-Type',
                                           'text/xml; charset=utf-8')],
                  body_xml(creation_attrs(1000, wait=2)))
    assert r.status == 200 and r.xml().get('sid'), r
    r = c.request('OPTIONS', '/http-bind',
                  [('Origin', 'https://app.example'),
                   ('Access-Control-Request-Method', 'POST')])
    assert r.status in (200, 204), r
    assert c.is_open(0.2)


@pytest.mark.parametrize('kind', LISTENERS)
def test_connection_close(open_conn, kind):
    c = open_conn(kind)
    r = c.request('GET', HOST_META, [('Connection', 'close')])
    assert r.status == 200, r
    assert 'close' in r.tokens('Connection'), r
    c.wait_closed(2)


@pytest.mark.parametrize('kind', LISTENERS)
def test_http10_closes(open_conn, kind):
    c = open_conn(kind)
    r = c.request('GET', HOST_META, version='HTTP/1.0')
    assert r.status == 200, r
    c.wait_closed(2)


@pytest.mark.parametrize('kind', LISTENERS)
def test_http10_keep_alive(open_conn, kind):
    c = open_conn(kind)
    r = c.request('GET', HOST_META, [('Connection', 'keep-alive')],
                  version='HTTP/1.0')
    assert r.status == 200, r
    assert r.has_header('Content-Length'), r
    r = c.request('GET', HOST_META + '.json', [('Connection', 'keep-alive')],
                  version='HTTP/1.0')
    assert r.status == 200, r
    r = c.request('GET', HOST_META, version='HTTP/1.0')
    assert r.status == 200, r
    c.wait_closed(2)


# -- pipelining ---------------------------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_pipelining(server, open_conn, kind):
    from bosh_raw import build_request
    c = open_conn(kind)
    host = 'localhost:%d' % port_of(server, kind)
    data = (build_request('GET', HOST_META, host=host) +
            build_request('GET', HOST_META + '.json', host=host) +
            build_request('GET', '/missing', host=host) +
            build_request('OPTIONS', '/http-bind',
                          [('Origin', 'https://app.example'),
                           ('Access-Control-Request-Method', 'POST')],
                          host=host))
    c.send_raw(data)
    r1, r2, r3, r4 = [c.read_response(3) for _ in range(4)]
    links_xrd(r1)
    links_json(r2)
    assert r3.status == 404, r3
    assert r4.status in (200, 204) and \
        r4.has_header('Access-Control-Allow-Methods'), r4
    assert c.is_open(0.2)


def test_pipelining_byte_by_byte(server, open_conn):
    """Two requests dribbled in one byte at a time are both answered."""
    from bosh_raw import build_request
    c = open_conn('http')
    data = build_request('GET', HOST_META, host='localhost') * 2
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
    for _ in range(2):
        assert c.read_response(3).status == 200


# -- status codes ------------------------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_unknown_path_404(open_conn, kind):
    c = open_conn(kind)
    for path in ('/', '/http-bind/x', '/.well-known/host-meta.xml',
                 '/' + 'a' * 200):
        r = c.request('GET', path)
        assert r.status == 404, (path, r)
    assert c.request('GET', HOST_META).status == 200


@pytest.mark.parametrize('method', ['BREW', 'DELETE', 'PATCH'])
def test_unknown_method(server, open_conn, method):
    c = open_conn('http')
    r = c.request(method, HOST_META)
    assert r.status in (405, 501), r
    if r.status == 405:
        assert r.has_header('Allow'), 'a 405 MUST carry Allow: %r' % r
    # The connection may close or stay; the server is fine.
    assert_healthy(server)


# -- limits ------------------------------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_body_too_large_413(tight, kind):
    c = conn(tight, kind)
    try:
        body = body_xml(creation_attrs(77, wait=2,
                                       pad='x' * 10000)).encode()
        c.send_request('POST', '/http-bind',
                       [('Content-Type', 'text/xml; charset=utf-8'),
                        ('Content-Length', str(len(body)))], b'')
        c.send_raw(body, ignore_errors=True)
        assert_error_and_close(c, 413)
    finally:
        c.close()
    assert_healthy(tight)


@pytest.mark.parametrize('kind', LISTENERS)
def test_headers_too_large_431(tight, kind):
    c = conn(tight, kind)
    try:
        c.send_request('GET', HOST_META, [('X-Pad', 'p' * 6000)])
        assert_error_and_close(c, (431, 413))
    finally:
        c.close()
    # Many small header lines count the same.
    c = conn(tight, kind)
    try:
        c.send_raw(b'GET ' + HOST_META.encode() + b' HTTP/1.1\r\n'
                   b'Host: localhost\r\n' +
                   b''.join(b'X-H%d: v\r\n' % i for i in range(800)) +
                   b'\r\n', ignore_errors=True)
        assert_error_and_close(c, (431, 413))
    finally:
        c.close()
    assert_healthy(tight)


def test_request_under_limit_accepted(tight):
    """A BOSH request of about 3.5 KB (headers and body under 4096) goes
    through."""
    c = conn(tight, 'https')
    try:
        body = body_xml(creation_attrs(88, wait=1, pad='y' * 3300))
        r = c.request('POST', '/http-bind',
                      [('Content-Type', 'text/xml; charset=utf-8')], body)
        assert r.status == 200 and r.xml().get('sid'), r
    finally:
        c.close()


def test_content_length_huge(server, open_conn):
    """Content-Length far beyond the limit (and beyond 32 bits) is
    refused at once, not awaited."""
    for n in ('99999999999', '18446744073709551617'):
        c = open_conn('http')
        c.send_raw('POST /http-bind HTTP/1.1\r\nHost: localhost\r\n'
                   'Content-Length: %s\r\n\r\n<body' % n)
        assert_error_and_close(c, (413, 400))
    assert_healthy(server)


# -- garbage and framing errors (RFC 9112) ---------------------------------

GARBAGE = {
    'binary': b'\x00\x01\x02\xff\xfe garbage \r\n\r\n',
    'no_version': b'GET /\r\n\r\n',
    'bad_version': b'GET / HTTP/1.1.1\r\nHost: x\r\n\r\n',
    'http2_preface': b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'header_no_colon': b'GET / HTTP/1.1\r\nHost localhost\r\n\r\n',
    'space_before_colon':
        b'POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\n'
        b'hello',
    'two_content_lengths':
        b'POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
        b'Content-Length: 6\r\n\r\nhello!',
    'bad_content_length':
        b'POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\n'
        b'hello',
    'negative_content_length':
        b'POST /http-bind HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
    'bad_chunk':
        b'POST /http-bind HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked'
        b'\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'nul_in_header': b'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n',
    'tls_hello_on_plain': bytes.fromhex(
        '16030100a5010000a10303') + b'\x00' * 40 + b'\r\n\r\n',
}


# Bytes where the method should be may also be taken for an unknown
# method (501); HTTP/2 and broken versions may get 505.
GARBAGE_STATUS = {'binary': (400, 501), 'tls_hello_on_plain': (400, 501),
                  'http2_preface': (400, 501, 505),
                  'bad_version': (400, 505), 'no_version': (400, 505)}


@pytest.mark.parametrize('name', sorted(GARBAGE))
def test_garbage_400_and_close(server, open_conn, name):
    c = open_conn('http')
    c.send_raw(GARBAGE[name], ignore_errors=True)
    assert_error_and_close(c, GARBAGE_STATUS.get(name, 400))
    assert_healthy(server)


def test_garbage_inside_tls(server, open_conn):
    c = open_conn('https')
    c.send_raw(GARBAGE['binary'])
    assert_error_and_close(c, GARBAGE_STATUS['binary'])
    assert_healthy(server)


def test_plain_text_on_tls_listener(server, open_conn):
    """Cleartext HTTP on the TLS listener: the handshake fails, the
    connection closes, nothing else happens."""
    import socket
    s = socket.create_connection(('127.0.0.1', server.port_https), timeout=3)
    try:
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if not s.recv(4096):
                    break
            except ConnectionResetError:
                break
        else:
            pytest.fail('connection left open')
    finally:
        s.close()
    assert_healthy(server)


def test_missing_host_400(server, open_conn):
    """RFC 9112 3.2: an HTTP/1.1 request without Host MUST get 400."""
    for method, path, body in (('GET', HOST_META, b''),
                               ('POST', '/http-bind',
                                body_xml(creation_attrs(5, wait=1)))):
        c = open_conn('http')
        r = c.request(method, path, body=body, host=None)
        assert r.status == 400, (method, path, r)
    assert_healthy(server)


def test_content_length_and_transfer_encoding_close(server, open_conn):
    """RFC 9112 6.1: with both, the server MUST close the connection after
    responding (request smuggling)."""
    c = open_conn('http')
    body = body_xml(creation_attrs(9, wait=1)).encode()
    chunked = b'%x\r\n%s\r\n0\r\n\r\n' % (len(body), body)
    c.send_raw(b'POST /http-bind HTTP/1.1\r\nHost: localhost\r\n'
               b'Content-Type: text/xml\r\nContent-Length: 4\r\n'
               b'Transfer-Encoding: chunked\r\n\r\n' + chunked +
               b'GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n')
    r = c.read_response(3)
    assert r.status in (200, 400, 411, 501), r
    rest = c.wait_closed(3)
    assert b'HTTP/1.1' not in rest, 'answered a smuggled request: %r' % rest
    assert_healthy(server)


def test_chunked_request_body(server, open_conn):
    """RFC 9112 7: a chunked body is a valid HTTP/1.1 request; the
    session is created, or (411) a length is demanded."""
    c = open_conn('https')
    body = body_xml(creation_attrs(11, wait=1)).encode()
    half = len(body) // 2
    data = b'%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n' % (
        half, body[:half], len(body) - half, body[half:])
    c.send_raw(b'POST /http-bind HTTP/1.1\r\nHost: localhost\r\n'
               b'Content-Type: text/xml; charset=utf-8\r\n'
               b'Transfer-Encoding: chunked\r\n\r\n' + data)
    r = c.read_response(3)
    if r.status == 411:
        return
    assert r.status == 200 and r.xml().get('sid'), r


def test_unknown_transfer_coding(server, open_conn):
    c = open_conn('http')
    c.send_raw(b'POST /http-bind HTTP/1.1\r\nHost: localhost\r\n'
               b'Transfer-Encoding: rot13\r\n\r\nhello')
    assert_error_and_close(c, (400, 501))
    assert_healthy(server)


def test_expect_100_continue(server, open_conn):
    c = open_conn('https')
    body = body_xml(creation_attrs(12, wait=1)).encode()
    c.send_request('POST', '/http-bind',
                   [('Content-Type', 'text/xml; charset=utf-8'),
                    ('Expect', '100-continue'),
                    ('Content-Length', str(len(body)))], b'')
    # RFC 9110 10.1.1: the interim 100 comes before the body is sent.
    r = c.read_response(2.0)
    assert r.status == 100, r
    c.send_raw(body)
    r = c.read_response(3)
    assert r.status == 200 and r.xml().get('sid'), r


def test_unknown_expectation_417(server, open_conn):
    c = open_conn('http')
    c.send_request('POST', '/http-bind',
                   [('Content-Type', 'text/xml; charset=utf-8'),
                    ('Expect', 'something-else'),
                    ('Content-Length', '5')], b'')
    assert_error_and_close(c, 417)
    assert_healthy(server)


def test_many_connections_at_once(server):
    """60 connections open at once, each with a request half sent, then
    finished: all answered."""
    cs = []
    try:
        for i in range(60):
            c = conn(server, 'https' if i % 2 else 'http')
            cs.append(c)
            c.send_raw('GET %s HTTP/1.1\r\nHost: localhost\r\n' % HOST_META)
        for c in cs:
            c.send_raw('\r\n')
        for c in cs:
            assert c.read_response(5).status == 200
    finally:
        for c in cs:
            c.close()


# -- timeouts --------------------------------------------------------------

@pytest.mark.parametrize('kind', LISTENERS)
def test_incomplete_request_times_out(tight, kind):
    c = conn(tight, kind)
    try:
        t0 = time.monotonic()
        c.send_raw('GET %s HTTP/1.1\r\nHost: localhost\r\n' % HOST_META)
        rest = c.wait_closed(3.5)
        took = time.monotonic() - t0
        assert took >= 0.7, 'closed after %.2fs, before request_timeout' \
            % took
        assert rest == b'' or rest.startswith(b'HTTP/1.1 408'), rest
    finally:
        c.close()
    assert_healthy(tight)


def test_slow_request_times_out(tight):
    """One byte every 0.2 s keeps no request alive past request_timeout
    (time for the whole request, not between bytes)."""
    c = conn(tight, 'http')
    try:
        t0 = time.monotonic()
        data = ('GET %s HTTP/1.1\r\nHost: localhost\r\n' % HOST_META +
                'X-Slow: ' + 'z' * 100).encode()
        for i in range(len(data)):
            if time.monotonic() - t0 > 4.0:
                break
            if not c.send_raw(data[i:i + 1], ignore_errors=True):
                break
            if not c.is_open(0.2):
                break
        assert c.eof or not c.is_open(0.5), \
            'still open after %.1fs' % (time.monotonic() - t0)
        assert time.monotonic() - t0 < 3.5
        assert c.received == b'' or \
            bytes(c.received).startswith(b'HTTP/1.1 408'), c.received
    finally:
        c.close()


@pytest.mark.parametrize('kind', LISTENERS)
def test_idle_keep_alive_closed(tight, kind):
    c = conn(tight, kind)
    try:
        assert c.request('GET', HOST_META).status == 200
        time.sleep(0.3)
        assert c.request('GET', HOST_META).status == 200, \
            'keep-alive connection closed before request_timeout'
        t0 = time.monotonic()
        rest = c.wait_closed(3.5)
        assert time.monotonic() - t0 >= 0.7
        assert rest == b'' or rest.startswith(b'HTTP/1.1 408'), rest
    finally:
        c.close()


def test_idle_connection_without_request_closed(tight):
    c = conn(tight, 'http')
    try:
        c.wait_closed(3.5)
    finally:
        c.close()


# -- X-Forwarded-For ---------------------------------------------------------

XFF_IP = '203.0.113.7'


def test_forwarded_for_trusted_proxy(make_server):
    srv = make_server(extra="http: {trusted_proxies: ['127.0.0.1']}\n") \
        .start()
    b = BoshClient(srv.port_https, source='127.0.0.1',
                   headers=[('X-Forwarded-For', '6.6.6.6, ' + XFF_IP)])
    try:
        b.create(wait=1)
        b.wait_features()
    finally:
        b.close()
    time.sleep(0.2)
    log = srv.log()
    assert XFF_IP in log, 'forwarded address not in the log'
    # The left-most entry can be forged by the client: the last address
    # not of a trusted proxy is the client.
    assert '6.6.6.6' not in log, 'a forged X-Forwarded-For entry believed'
    # A peer that is not a trusted proxy is not believed.
    b = BoshClient(srv.port_https, source='127.0.3.3',
                   headers=[('X-Forwarded-For', '198.51.100.77')])
    try:
        b.create(wait=1)
    finally:
        b.close()
    time.sleep(0.2)
    assert '198.51.100.77' not in srv.log()


def test_forwarded_for_ignored_without_trusted_proxies(server):
    b = BoshClient(server.port_https, source='127.0.0.1',
                   headers=[('X-Forwarded-For', '198.51.100.99')])
    try:
        b.create(wait=1)
        b.wait_features()
    finally:
        b.close()
    time.sleep(0.2)
    assert '198.51.100.99' not in server.log()


def _failed_plain(srv, xff, source, user, times):
    b = BoshClient(srv.port_https, source=source,
                   headers=[('X-Forwarded-For', xff)])
    try:
        b.create(wait=2)
        b.wait_features()
        for _ in range(times):
            res = b.auth_plain(user, 'wrong')
            assert res.tag == q(NS_SASL, 'failure'), tostr(res)
    finally:
        b.close()


def _plain(srv, xff, source, user, pw):
    b = BoshClient(srv.port_https, source=source,
                   headers=[('X-Forwarded-For', xff)])
    try:
        b.create(wait=2)
        b.wait_features()
        return b.auth_plain(user, pw)
    finally:
        b.close()


def test_login_failure_limit_follows_forwarded_address(make_server):
    """c2s.auth_ip_failures counts the forwarded address when the proxy is
    trusted: the client behind it is blocked, another client behind the
    same proxy is not; an untrusted peer's X-Forwarded-For is ignored."""
    srv = make_server(c2s={'auth_ip_failures': 2, 'auth_ip_window': 60},
                      extra="http: {trusted_proxies: ['127.0.0.1']}\n") \
        .start()
    user, pw = srv.new_user('xff')
    _failed_plain(srv, XFF_IP, '127.0.0.1', user, 2)
    res = _plain(srv, XFF_IP, '127.0.0.1', user, pw)
    assert res.tag == q(NS_SASL, 'failure') and \
        res.find(q(NS_SASL, 'temporary-auth-failure')) is not None, \
        'forwarded address not limited: ' + tostr(res)
    res = _plain(srv, '198.51.100.20', '127.0.0.1', user, pw)
    assert res.tag == q(NS_SASL, 'success'), \
        'other client behind the proxy blocked: ' + tostr(res)
    # From a peer that is not trusted, the header means nothing: its own
    # address counts.
    res = _plain(srv, XFF_IP, '127.0.4.4', user, pw)
    assert res.tag == q(NS_SASL, 'success'), tostr(res)
    _failed_plain(srv, '198.51.100.30', '127.0.4.5', user, 2)
    res = _plain(srv, '198.51.100.31', '127.0.4.5', user, pw)
    assert res.find(q(NS_SASL, 'temporary-auth-failure')) is not None, \
        'untrusted X-Forwarded-For escaped the limit: ' + tostr(res)


def test_unread_pipelined_answers_close(make_server):
    """A client that pipelines requests and never reads the answers gets
    no more of them than c2s.max_out_queue allows queued: the connection
    is closed (and logged), the server stays healthy."""
    import socket
    srv = make_server(c2s={'max_out_queue': 65536}).start()
    s = socket.socket()
    # A tiny receive window, so that answers pile up in ternd, not in the
    # kernel.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(('127.0.0.1', srv.port_http))
    s.settimeout(5)
    req = b'GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\n\r\n'
    try:
        for _ in range(200):
            s.sendall(req * 100)
    except OSError:
        pass  # closed under us: what this test wants
    deadline = time.monotonic() + 10
    while 'answers not read' not in srv.log():
        assert time.monotonic() < deadline, 'ternd kept answering'
        time.sleep(0.1)
    # Reading on ends in EOF or a reset, never in 20,000 answers.
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += len(d)
    except OSError:
        pass
    s.close()
    assert got < 20000 * 300
    assert_healthy(srv)


@pytest.mark.parametrize('path,status', [
    ('/.well-known/host-meta/', 200),
    ('/x/../.well-known/./host-meta', 200),
    ('//.well-known//host-meta', 200),
    ('/%2e%2e/.well-known/host-%6Deta', 200),
    ('/.well-known%2fhost-meta', 400),
    ('/.well-known/host-meta%00', 400),
    ('/.well-known/host-meta%zz', 400),
])
def test_path_normalized(server, open_conn, path, status):
    """Routes see one spelling of a path (SECURITY.md: normalize before
    any decision on it): escapes decoded, dot segments and extra slashes
    resolved; an encoded '/' or NUL, or a broken escape, is refused."""
    c = open_conn('http')
    r = c.request('GET', path)
    assert r.status == status, (path, r)
    if status == 200:
        assert b'urn:xmpp:alt-connections:websocket' in r.body
    assert_healthy(server)
