"""test_websocket.py -- XMPP over WebSocket (RFC 7395) on ternd's HTTP
listeners, GET /xmpp-websocket: the opening handshake (RFC 6455 4,
subprotocol 'xmpp', Origin allow-list), the framing namespace (<open/>,
<close/>, see-other-uri, stream restart, one element per message,
restricted XML), login and routing to WebSocket and TCP users, and the
WebSocket layer's rules (masking, opcodes, RSV bits, control frames,
fragmentation with interleaved pings, size limits 1009, invalid UTF-8,
keepalive pings, the closing handshake, server shutdown).

Raw sockets through ws_raw.WsClient; logins go over the direct-TLS
listener (port_https), frame-level abuse mostly over plain HTTP
(port_http) and, where TLS record boundaries could matter, both. After
every hostile exchange a fresh connection must still get its <open/>.
"""

import base64
import os
import time
import xml.etree.ElementTree as ET

import pytest

from im_helpers import ImClient, presences, reach
from xmpp_raw import (NS_BIND, NS_CLIENT, NS_SASL, NS_STREAM, NS_TLS,
                      RawClient, Timeout, q, tostr)
from ws_raw import (BINARY, CLOSE, CLOSE_XML, CONT, NS_FRAMING, PING, PONG,
                    TEXT, WsClient, WsClosed, frame, open_xml)

pytestmark = pytest.mark.raw

OPEN = open_xml()
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'
PING_IQ = ("<iq xmlns='jabber:client' type='get' id='%s' to='localhost'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>")
KINDS = ['http', 'https']


def port_of(srv, kind):
    return srv.port_https if kind == 'https' else srv.port_http


@pytest.fixture
def ws(server):
    """Factory: a WsClient to the shared server (or srv) on 'http' or
    'https', upgraded unless upgrade=False; closed at teardown."""
    made = []

    def make(kind='http', srv=None, upgrade=True, **kw):
        s = srv or server
        c = WsClient(port_of(s, kind), tls=(kind == 'https'))
        made.append(c)
        if upgrade:
            c.upgrade(**kw)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def logged(server, ws):
    """Factory: a fresh account logged in over wss (srv= another
    server), bound to resource 'ws'."""
    def make(srv=None, resource='ws'):
        s = srv or server
        user, pw = s.new_user('ws')
        c = ws('https', srv=s, upgrade=False)
        c.login(user, pw, resource)
        c.bare = s.jid(user)
        return c
    return make


def assert_healthy(srv):
    """A fresh connection still gets its <open/> and features."""
    with WsClient(srv.port_http) as c:
        c.upgrade()
        c.open()
        assert c.header.get('from') == 'localhost'


def expect_no_upgrade(r, status):
    assert r.status == status, 'wanted %d, got %r' % (status, r)
    assert r.header('sec-websocket-accept') is None, r


# -- opening handshake ------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_upgrade(ws, kind):
    c = ws(kind, upgrade=False)
    r = c.upgrade()     # checks 101, Upgrade, Connection, Accept, Protocol
    assert r.reason.lower().startswith('switching protocols'), r


def test_accept_key_known_answer(ws):
    # RFC 6455 1.3's example.
    c = ws(upgrade=False)
    r = c.upgrade(key='dGhlIHNhbXBsZSBub25jZQ==')
    assert r.header('sec-websocket-accept') == 's3pPLMBiTxaQ9kYGzzhZRbK+xOo='


@pytest.mark.parametrize('protocols', ['chat, xmpp', 'xmpp, chat',
                                       'chat,xmpp', 'a, b,  xmpp  '])
def test_protocol_in_list(ws, protocols):
    ws(upgrade=False).upgrade(headers={'Sec-WebSocket-Protocol': protocols})


def test_header_names_and_tokens_case_insensitive(ws):
    # RFC 9110 5.1: field names are case-insensitive; RFC 6455 4.2.1:
    # the Upgrade value is compared case-insensitively and Connection
    # need only contain the token (Firefox sends "keep-alive, Upgrade").
    c = ws(upgrade=False)
    key = base64.b64encode(os.urandom(16)).decode()
    c.upgrade(key=key, headers={
        'Upgrade': 'WebSocket', 'Connection': 'keep-alive, Upgrade',
        'sec-websocket-key': key, 'SEC-WEBSOCKET-VERSION': '13',
        'sec-websocket-protocol': 'xmpp', 'Host': 'chat.example.net:5281'})


@pytest.mark.parametrize('protocols', [None, 'chat', 'xmpp-framing',
                                       'chat, superchat', ''])
def test_no_xmpp_protocol_400(server, ws, protocols):
    c = ws(upgrade=False)
    r = c.handshake(headers={'Sec-WebSocket-Protocol': protocols})
    expect_no_upgrade(r, 400)


@pytest.mark.parametrize('version', ['8', '12', '14', 'x'])
def test_wrong_version_426(ws, version):
    c = ws(upgrade=False)
    r = c.handshake(headers={'Sec-WebSocket-Version': version})
    expect_no_upgrade(r, 426)
    versions = [v.strip() for v in
                (r.header('sec-websocket-version') or '').split(',')]
    assert versions == ['13'], r


@pytest.mark.parametrize('key', [
    None, '', 'not base64 at all!!',
    base64.b64encode(b'x' * 15).decode(),
    base64.b64encode(b'x' * 17).decode(),
    base64.b64encode(b'x' * 16).decode()[:-2]])
def test_bad_key_400(ws, key):
    c = ws(upgrade=False)
    r = c.handshake(headers={'Sec-WebSocket-Key': key})
    expect_no_upgrade(r, 400)


@pytest.mark.parametrize('headers', [{'Upgrade': None},
                                     {'Upgrade': 'h2c'}])
def test_missing_upgrade_400(ws, headers):
    c = ws(upgrade=False)
    expect_no_upgrade(c.handshake(headers=headers), 400)


def test_origin_allow_list(make_server, ws):
    srv = make_server(extra="http: {origins: ['https://good.example']}\n")
    srv.start()
    r = ws(srv=srv, upgrade=False).handshake(
        headers={'Origin': 'https://evil.example'})
    expect_no_upgrade(r, 403)
    ws(srv=srv, upgrade=False).upgrade(
        headers={'Origin': 'https://good.example'})
    # No Origin: not a browser, allowed.
    ws('https', srv=srv, upgrade=False).upgrade()
    assert_healthy(srv)


def test_any_origin_by_default(ws):
    ws(upgrade=False).upgrade(headers={'Origin': 'https://anything.example'})


@pytest.mark.parametrize('kind', KINDS)
def test_unknown_path_404(ws, kind):
    r = ws(kind, upgrade=False).handshake(path='/xmpp-websocket-nope')
    expect_no_upgrade(r, 404)


def test_post_405(ws):
    r = ws(upgrade=False).handshake(method='POST',
                                    headers={'Content-Length': '0'})
    expect_no_upgrade(r, 405)
    # RFC 9110 15.5.6: a 405 lists the allowed methods.
    assert 'GET' in (r.header('allow') or ''), r


# -- framing: open, features, login -----------------------------------------

def check_open(c):
    h = c.header
    assert h.get('from') == 'localhost', h
    assert h.get('id'), 'no stream id: %r' % h
    assert h.get('version') == '1.0', h
    assert h.get(XML_LANG) == 'en', h


@pytest.mark.parametrize('kind', KINDS)
def test_open_and_features(ws, kind):
    c = ws(kind)
    feats = c.open()          # each message parsed standalone by recv_el
    check_open(c)
    assert feats.find(q(NS_TLS, 'starttls')) is None, \
        'no STARTTLS over WebSocket: ' + tostr(feats)
    if kind == 'https':
        assert 'PLAIN' in c.mechanisms(), tostr(feats)
    other = ws(kind)
    other.open()
    assert other.header['id'] != c.header['id']


def test_login_restart_bind(server, ws):
    user, pw = server.new_user('ws')
    c = ws('https')
    feats = c.open()
    assert feats.find(q(NS_SASL, 'mechanisms')) is not None
    el = c.auth_plain(user, pw)
    assert el.tag == q(NS_SASL, 'success'), tostr(el)
    feats = c.open()
    check_open(c)
    assert feats.find(q(NS_BIND, 'bind')) is not None, tostr(feats)
    assert feats.find(q(NS_SASL, 'mechanisms')) is None, tostr(feats)
    jid = c.bind('phone')
    assert jid == server.jid(user, 'phone')
    assert c.sync() == []


def test_wrong_password(server, ws):
    user, _ = server.new_user('ws')
    c = ws('https')
    c.open()
    el = c.auth_plain(user, 'wrong')
    assert el.tag == q(NS_SASL, 'failure'), tostr(el)


def test_message_between_websocket_users(logged):
    a, b = logged(), logged()
    a.message(b.jid, 'hello over ws', id_='m1')
    m = b.recv_stanza(lambda e: e.tag == q(NS_CLIENT, 'message'),
                      what='the message')
    assert m.get('from') == a.jid and m.get('id') == 'm1', tostr(m)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'hello over ws'


def test_message_websocket_to_tcp_and_back(server, logged, cafile):
    a = logged()
    tu, tpw = server.new_user('tcp')
    t = RawClient(server.port, cafile=cafile)
    try:
        tj = t.login(tu, tpw, resource='desk')
        a.message(tj, 'to tcp', id_='w2t')
        m = t.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                       what='message from ws')
        assert m.get('from') == a.jid, tostr(m)
        assert m.findtext(q(NS_CLIENT, 'body')) == 'to tcp'
        t.send("<message to='%s' type='chat' id='t2w'><body>to ws &amp; "
               "back</body></message>" % a.jid)
        m = a.recv_stanza(lambda e: e.tag == q(NS_CLIENT, 'message'),
                          what='message from tcp')
        assert (m.get('from'), m.get('id')) == (tj, 't2w'), tostr(m)
        assert m.findtext(q(NS_CLIENT, 'body')) == 'to ws & back'
    finally:
        t.close()


def test_big_stanza_64bit_length(logged):
    # > 65535 bytes: the 64-bit length form both ways.
    a, b = logged(), logged()
    body = 'x' * 70000
    a.message(b.jid, body)
    m = b.recv_stanza(lambda e: e.tag == q(NS_CLIENT, 'message'),
                      timeout=6, what='the big message')
    assert m.findtext(q(NS_CLIENT, 'body')) == body


def test_16bit_length_form(logged):
    a = logged()
    iq = PING_IQ % ('p' * 200)
    assert len(iq) > 125
    a.send_text(iq)
    r = a.recv_el()
    assert r.get('id') == 'p' * 200 and r.get('type') == 'result', tostr(r)


def test_whitespace_message_ignored(logged):
    a = logged()
    a.send_text(' \n\t ')
    a.send_text(' ')
    assert a.sync() == []


# -- framing: closing ---------------------------------------------------------

def test_host_unknown(server, ws):
    c = ws()
    c.send_text(open_xml(to='nothere.example'))
    # RFC 6120 4.9.1.1 lets the server answer <open/> first.
    c.expect_stream_error('host-unknown', skip_open=True)
    assert_healthy(server)


@pytest.mark.parametrize('kind', KINDS)
def test_first_frame_in_the_upgrade_write(ws, kind):
    # Bytes after the request's blank line are the first frame: they
    # must not be lost with the HTTP request buffer.
    c = ws(kind, upgrade=False)
    c.upgrade(then=frame(TEXT, OPEN) + frame(PING, b'early'))
    c.recv_open()
    el = c.recv_el()
    assert el.tag == q(NS_STREAM, 'features'), tostr(el)
    # The pong may come before or after those.
    if not c.pongs:
        f = c.recv_frame()
        assert f.opcode == PONG, f
        c.pongs.append(f.payload)
    assert c.pongs == [b'early'], c.pongs


@pytest.mark.parametrize('kind', KINDS)
def test_client_close_element(ws, kind):
    c = ws(kind)
    c.open()
    c.send_text(CLOSE_XML)
    c.expect_framing_close()


def test_client_close_frame(ws):
    c = ws()
    c.open()
    c.send_close(1000, 'bye')
    code, _ = c.expect_close(reply=False)
    assert code in (1000, None), code


def test_client_close_frame_without_code(ws):
    c = ws()
    c.open()
    c.send_frame(CLOSE, b'')
    code, _ = c.expect_close(reply=False)
    assert code in (1000, None), code


@pytest.mark.parametrize('code', [999, 1005, 1006, 1015, 1016, 2000, 5000])
def test_client_close_frame_reserved_code(server, ws, code):
    # RFC 6455 7.4: these may not appear on the wire; whatever the server
    # answers, it must not echo them.
    c = ws()
    c.open()
    c.send_close(code)
    got, _ = c.expect_close(reply=False)
    assert got in (1002, 1000, None), got
    assert_healthy(server)


def test_client_close_frame_one_byte_body(server, ws):
    c = ws()
    c.send_frame(CLOSE, b'\x03')
    got, _ = c.expect_close(reply=False)
    assert got in (1002, None), got
    assert_healthy(server)


@pytest.mark.parametrize('how', ['close-element', 'close-frame', 'tcp-drop'])
def test_leaving_makes_unavailable(server, logged, cafile, how):
    """A TCP contact subscribed to the WebSocket user sees it go
    unavailable however it leaves."""
    w = logged()
    w.send_text("<iq xmlns='jabber:client' type='get' id='ro'>"
                "<query xmlns='jabber:iq:roster'/></iq>")
    w.recv_stanza(lambda e: e.get('id') == 'ro', what='roster')
    w.presence()
    w.sync()
    tu, tpw = server.new_user('tcp')
    t = ImClient(server, tu, tpw, cafile=cafile)
    try:
        t.login(tu, tpw, resource='desk')
        t.roster_get()
        t.presence()
        t.sync()
        reach(t, w, 'to')
        w.presence()
        w.sync()
        got = t.sync()
        deadline = time.monotonic() + 3
        while not presences(got, '', w.jid):
            assert time.monotonic() < deadline, 'never saw the ws user online'
            got = t.sync()
        if how == 'close-element':
            w.send_text(CLOSE_XML)
            w.expect_framing_close()
        elif how == 'close-frame':
            w.send_close(1000)
            w.expect_close(reply=False)
        else:
            w.close()
        p = t.wait_for(lambda e: e.tag == q(NS_CLIENT, 'presence') and
                       e.get('from') == w.jid, what='unavailable presence')
        assert p.get('type') == 'unavailable', tostr(p)
    finally:
        t.close()


def test_see_other_uri(make_server, ws):
    uri = 'wss://other.example/xmpp-websocket'
    srv = make_server(extra="http: {see_other_uri: '%s'}\n" % uri)
    srv.start()
    c = ws(srv=srv)
    c.send_text(OPEN)
    el = c.recv_el()
    assert el.tag == q(NS_FRAMING, 'close'), tostr(el)
    assert el.get('see-other-uri') == uri, tostr(el)
    c.expect_close(1000)


# -- framing: what a message may hold -----------------------------------------

@pytest.mark.parametrize('when,text', [
    ('first', "<!DOCTYPE open [<!ENTITY x 'y'>]>" + OPEN),
    ('first', "<?xml version='1.0'?>" + OPEN),
    ('first', "<?xml version='1.0' encoding='UTF-8'?>" + OPEN),
    ('first', "<?foo bar?>" + OPEN),
    ('opened', "<iq xmlns='jabber:client' type='get' id='pi'><?foo bar?>"
               "</iq>"),
    ('opened', "<!DOCTYPE iq><iq xmlns='jabber:client' type='get' "
               "id='dtd'/>"),
], ids=['dtd', 'xmldecl', 'xmldecl-enc', 'pi-first', 'pi-inside',
        'doctype-later'])
def test_restricted_xml(server, ws, when, text):
    c = ws()
    if when == 'opened':
        c.open()
    c.send_text(text)
    c.expect_stream_error('restricted-xml', skip_open=(when == 'first'))
    assert_healthy(server)


def test_restricted_xml_after_login(server, logged):
    a = logged()
    a.send_text("<message xmlns='jabber:client' to='%s'><?x?><body>hi"
                "</body></message>" % a.jid)
    a.expect_stream_error('restricted-xml')
    assert_healthy(server)


@pytest.mark.parametrize('when,text', [
    ('first', "<open xmlns='%s' to='localhost' version='1.0'" % NS_FRAMING),
    ('first', "<open xmlns='%s' to='localhost' version='1.0'>" % NS_FRAMING),
    ('opened', "<a></b>"),
    ('opened', "<iq xmlns='jabber:client' type='get' id='x'></message>"),
    ('opened', "<iq xmlns='jabber:client' type='get' id='x' id='y'/>"),
    ('opened', "<iq xmlns='jabber:client' type='get' id='x'>&nope;</iq>"),
    ('opened', "not xml at all"),
], ids=['unterminated-open', 'open-not-empty', 'mismatch', 'mismatch-iq',
        'dup-attr', 'undefined-entity', 'text'])
def test_not_well_formed(server, ws, when, text):
    c = ws()
    if when == 'opened':
        c.open()
    c.send_text(text)
    # An undefined entity is also restricted XML (RFC 6120 11.1).
    conds = ['not-well-formed'] + (['restricted-xml'] if '&' in text else [])
    c.expect_stream_error(conds, skip_open=(when == 'first'))
    assert_healthy(server)


def test_two_elements_in_one_message(server, logged):
    a = logged()
    a.send_text("<presence xmlns='jabber:client'/>"
                "<presence xmlns='jabber:client'/>")
    a.expect_stream_error(['bad-format', 'not-well-formed'])
    assert_healthy(server)


def test_element_split_across_messages(server, logged):
    a = logged()
    a.send_text("<message xmlns='jabber:client' to='%s'>" % a.jid)
    a.send_text("<body>hi</body></message>", ignore_errors=True)
    a.expect_stream_error(['bad-format', 'not-well-formed'])
    assert_healthy(server)


def test_stanza_before_open(server, ws):
    c = ws()
    c.send_text("<message xmlns='jabber:client' to='x@localhost'>"
                "<body>hi</body></message>")
    c.expect_stream_error(None, skip_open=True)   # any condition
    assert_healthy(server)


def test_stanza_before_auth(server, ws):
    c = ws('https')
    c.open()
    c.send_text(PING_IQ % 'early')
    c.expect_stream_error('not-authorized')
    assert_healthy(server)


# -- WebSocket layer ----------------------------------------------------------

@pytest.mark.parametrize('kind', KINDS)
def test_unmasked_frame_1002(server, ws, kind):
    c = ws(kind)
    c.send_text(OPEN, mask=False)
    c.expect_close(1002)
    assert_healthy(server)


def test_unmasked_frame_after_login_1002(server, logged):
    a = logged()
    a.send_text(PING_IQ % 'um', mask=False)
    a.expect_close(1002)
    assert_healthy(server)


def test_binary_frame_1003(server, ws):
    c = ws()
    c.send_frame(BINARY, OPEN.encode())
    c.expect_close(1003)
    assert_healthy(server)


@pytest.mark.parametrize('opcode', [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_1002(server, ws, opcode):
    c = ws()
    c.send_frame(opcode, b'abc')
    c.expect_close(1002)
    if opcode in (7, 0xF):
        assert_healthy(server)


@pytest.mark.parametrize('rsv', [1, 2, 4, 7])
def test_rsv_bits_1002(server, ws, rsv):
    # No extension was negotiated (RFC 6455 5.2).
    c = ws()
    c.send_text(OPEN, rsv=rsv)
    c.expect_close(1002)
    assert_healthy(server)


def test_rsv_bit_on_ping_1002(ws):
    c = ws()
    c.send_frame(PING, b'x', rsv=4)
    c.expect_close(1002)


def test_control_frame_too_long_1002(server, ws):
    c = ws()
    c.send_frame(PING, b'p' * 126)
    c.expect_close(1002)
    assert_healthy(server)


def test_fragmented_control_frame_1002(server, ws):
    c = ws()
    c.send_frame(PING, b'part1', fin=False)
    c.send_frame(CONT, b'part2', ignore_errors=True)
    c.expect_close(1002)
    assert_healthy(server)


def test_continuation_without_start_1002(server, ws):
    c = ws()
    c.send_frame(CONT, OPEN.encode())
    c.expect_close(1002)
    assert_healthy(server)


def test_new_message_inside_fragmented_one_1002(server, ws):
    c = ws()
    c.send_frame(TEXT, OPEN[:10].encode(), fin=False)
    c.send_frame(TEXT, OPEN[10:].encode())
    c.expect_close(1002)
    assert_healthy(server)


@pytest.mark.parametrize('payload', [b'', b'abc', bytes(range(125))],
                         ids=['empty', 'short', '125'])
def test_ping_pong(ws, payload):
    c = ws()
    c.send_frame(PING, payload)
    f = c.recv_frame()
    assert (f.opcode, f.fin, f.payload) == (PONG, True, payload), f
    c.open()          # still fine


def test_unsolicited_pong_ignored(ws):
    # RFC 6455 5.5.3: a Pong may be sent unsolicited; no response.
    c = ws()
    c.send_frame(PONG, b'heartbeat')
    c.open()


@pytest.mark.parametrize('kind', KINDS)
def test_fragmented_open_with_interleaved_ping(ws, kind):
    c = ws(kind)
    parts = [OPEN[:7], OPEN[7:40], OPEN[40:]]
    c.send_fragments(parts, between=lambda i: c.send_frame(
        PING, b'mid%d' % i))
    # The pongs and the answer to the reassembled <open/>, in whatever
    # order the server wrote them (RFC 6455 5.5.2 only says "as soon as
    # is practical").
    c.auto_pong = False
    pongs, texts = [], []
    while len(pongs) < 2 or len(texts) < 2:
        try:
            f = c.recv_frame()
        except Timeout:
            raise AssertionError('pongs %r, messages %r' % (pongs, texts))
        if f.opcode == PONG:
            pongs.append(f.payload)
        else:
            assert f.opcode == TEXT and f.fin, f
            texts.append(ET.fromstring(f.payload))
    assert pongs == [b'mid0', b'mid1'], pongs
    assert [e.tag for e in texts] == [q(NS_FRAMING, 'open'),
                                      q(NS_STREAM, 'features')], texts


def test_fragmented_stanza_with_utf8_split(logged):
    """A multi-byte character split between fragments is fine (only the
    whole message must be UTF-8)."""
    a, b = logged(), logged()
    body = 'h\u00e9llo \u20ac \U0001f600 end'
    data = ("<message xmlns='jabber:client' to='%s' type='chat'><body>%s"
            "</body></message>" % (b.jid, body)).encode()
    cut1 = data.index('\u00e9'.encode()) + 1        # inside 2-byte char
    cut2 = data.index('\u20ac'.encode()) + 2        # inside 3-byte char
    cut3 = data.index('\U0001f600'.encode()) + 1    # inside 4-byte char
    a.send_fragments([data[:cut1], data[cut1:cut2], data[cut2:cut3],
                      data[cut3:]])
    m = b.recv_stanza(lambda e: e.tag == q(NS_CLIENT, 'message'),
                      what='the fragmented message')
    assert m.findtext(q(NS_CLIENT, 'body')) == body


def test_many_small_fragments(logged):
    a = logged()
    iq = (PING_IQ % 'frag').encode()
    a.send_fragments([iq[i:i + 3] for i in range(0, len(iq), 3)])
    r = a.recv_el()
    assert r.get('id') == 'frag' and r.get('type') == 'result', tostr(r)


def test_empty_fragments(logged):
    a = logged()
    iq = (PING_IQ % 'empty-frag').encode()
    a.send_fragments([b'', iq[:20], b'', iq[20:], b''])
    r = a.recv_el()
    assert r.get('id') == 'empty-frag', tostr(r)


def test_many_frames_in_one_write(logged):
    a = logged()
    ids = ['burst%d' % i for i in range(60)]
    a.send_raw(b''.join(frame(TEXT, PING_IQ % i) for i in ids) +
               frame(PING, b'end'))
    got = [a.recv_el().get('id') for _ in ids]
    assert got == ids


@pytest.mark.parametrize('kind', KINDS)
def test_frame_byte_by_byte(ws, kind):
    # Headers (incl. the 16-bit length and the mask) cut anywhere; over
    # TLS every byte is its own record.
    c = ws(kind)
    data = frame(TEXT, open_xml(extra="pad='%s'" % ('p' * 100)))
    assert data[1] & 0x7F == 126
    for i in range(len(data)):
        c.send_raw(data[i:i + 1])
        if i < 12:
            time.sleep(0.002)
    c.recv_open()


def test_shutdown_closes_websockets(make_server, ws):
    srv = make_server().start()
    user, pw = srv.new_user('sd')
    live = ws('https', srv=srv, upgrade=False)
    live.login(user, pw, 'r')
    half = ws(srv=srv)
    half.open()
    half.send_frame(TEXT, b'<iq', fin=False)     # mid-message
    srv.check_clean_exit()
    for c in (live, half):
        el = c.recv_el()
        assert el.tag == q(NS_STREAM, 'error') and el.find(
            '{urn:ietf:params:xml:ns:xmpp-streams}system-shutdown') \
            is not None, tostr(el)
        el = c.recv_el()
        assert el.tag == q(NS_FRAMING, 'close'), tostr(el)
        # 1001 "going away" (RFC 6455 7.4.1) or a plain 1000.
        c.expect_close([1000, 1001], reply=False)


def expect_utf8_refusal(c):
    """Close 1007, or a not-well-formed stream error (+ <close/>, 1000)."""
    try:
        el = c.recv_el()
    except WsClosed as e:
        assert not e.eof, 'connection ended without a close frame'
        assert e.code == 1007, 'close code %r, wanted 1007' % e.code
        c.send_close(1007)
        c.expect_eof()
        return
    if el.tag == q(NS_FRAMING, 'open'):
        el = c.recv_el()
    assert el.tag == q(NS_STREAM, 'error') and \
        el.find('{urn:ietf:params:xml:ns:xmpp-streams}not-well-formed') \
        is not None, 'wanted close 1007 or not-well-formed: ' + tostr(el)
    c.expect_framing_close()


@pytest.mark.parametrize('bad', [b'\xff', b'\xc3\x28', b'\xed\xa0\x80',
                                 b'\xc0\xaf', b'\xf4\x90\x80\x80'],
                         ids=['ff', 'bad-cont', 'surrogate', 'overlong',
                              'above-10ffff'])
def test_invalid_utf8(server, ws, bad):
    c = ws()
    c.send_text(("<open xmlns='%s' to='localhost' version='1.0' x='"
                 % NS_FRAMING).encode() + bad + b"'/>")
    expect_utf8_refusal(c)
    assert_healthy(server)


def test_invalid_utf8_after_login(server, logged):
    a = logged()
    a.send_text(("<message xmlns='jabber:client' to='%s'><body>"
                 % a.jid).encode() + b'\xc3\x28' + b'</body></message>')
    expect_utf8_refusal(a)
    assert_healthy(server)


def test_truncated_utf8_at_message_end(server, logged):
    # Valid so far, but the message ends inside a character.
    a = logged()
    a.send_fragments([b"<message xmlns='jabber:client'><body>\xe2\x82",
                      b'</body></message>\xe2'])
    expect_utf8_refusal(a)
    assert_healthy(server)


# -- size limits ------------------------------------------------------------

def padded_open(size):
    """An <open/> of exactly size bytes."""
    head = "<open xmlns='%s' to='localhost' version='1.0' pad='" % NS_FRAMING
    tail = "'/>"
    return head + 'x' * (size - len(head) - len(tail)) + tail


@pytest.mark.parametrize('kind', KINDS)
def test_preauth_limit_one_frame_1009(server, ws, kind):
    c = ws(kind)
    c.send_text(padded_open(12000), ignore_errors=True)
    c.expect_close(1009)
    assert_healthy(server)


@pytest.mark.parametrize('kind', KINDS)
def test_preauth_limit_fragments_1009(server, ws, kind):
    c = ws(kind)
    data = padded_open(12000)
    c.send_fragments([data[:4000], data[4000:8000], data[8000:]],
                     ignore_errors=True)
    c.expect_close(1009)
    assert_healthy(server)


def test_preauth_under_limit_ok(ws):
    c = ws()
    c.send_text(padded_open(9000))
    c.recv_open()


@pytest.mark.parametrize('length', [1 << 40, (1 << 63) - 1],
                         ids=['2^40', '2^63-1'])
def test_huge_declared_length_1009(server, ws, length):
    """A frame header claiming far more than the limit is refused at
    once, without waiting for (or buffering) the payload."""
    c = ws()
    c.send_frame(TEXT, b'<open', length=length)
    c.expect_close(1009)
    assert_healthy(server)


def test_length_msb_set(server, ws):
    # RFC 6455 5.2: the most significant bit of the 64-bit length MUST
    # be 0.
    c = ws()
    c.send_frame(TEXT, b'<open', length=(1 << 63) + 5)
    c.expect_close([1002, 1009])
    assert_healthy(server)


@pytest.fixture
def small(make_server):
    return make_server(c2s={'max_stanza_size': 4096}).start()


def test_postauth_limit_one_frame_1009(small, logged):
    a = logged(srv=small)
    a.message(a.jid, 'y' * 3000, id_='fits')
    m = a.recv_stanza(lambda e: e.tag == q(NS_CLIENT, 'message'),
                      what='message under the limit')
    assert m.get('id') == 'fits'
    a.message(a.jid, 'z' * 5000, id_='big')
    a.expect_close(1009)
    assert_healthy(small)


def test_postauth_limit_fragments_1009(small, logged):
    a = logged(srv=small)
    data = ("<message xmlns='jabber:client' to='%s'><body>%s</body>"
            "</message>" % (a.jid, 'z' * 6000))
    a.send_fragments([data[i:i + 1500] for i in range(0, len(data), 1500)],
                     ignore_errors=True)
    a.expect_close(1009)
    assert_healthy(small)


def test_postauth_preauth_limit_still_applies_before_auth(small, ws):
    c = ws(srv=small)
    c.send_text(padded_open(11000), ignore_errors=True)
    c.expect_close(1009)


# -- keepalive ----------------------------------------------------------------

def test_keepalive_pings(make_server, ws):
    # 2 s between pings: the client that answers has 4 s of slack, so a
    # loaded machine (ASan, parallel jobs) does not make it look silent.
    srv = make_server(extra='http: {websocket_ping: 2}\n').start()
    user, pw = srv.new_user('ka')
    live = ws('https', srv=srv, upgrade=False)
    live.login(user, pw, 'live')          # answers pings (auto_pong)
    mute = ws(srv=srv)
    mute.open()
    mute.auto_pong = False
    t0 = time.monotonic()
    mute_end = None
    first_ping = None
    while time.monotonic() < t0 + 8.4 or mute_end is None:
        now = time.monotonic()
        assert now < t0 + 11, 'silent client still connected after 11 s'
        try:
            el = live.recv_el(timeout=0.05)
            raise AssertionError('client answering pings got %s after '
                                 '%.1f s (%d pings before)' % (
                                     tostr(el), now - t0, len(live.pings)))
        except Timeout:
            pass
        if live.pings and first_ping is None:
            first_ping = time.monotonic() - t0
        if mute_end is None:
            try:
                # Pings, maybe a stream error and <close/>, a close frame.
                f = mute.recv_frame(timeout=0.05)
                assert f.opcode in (PING, TEXT, CLOSE), f
                if f.opcode == CLOSE:
                    mute_end = time.monotonic() - t0
            except Timeout:
                pass
            except WsClosed:
                mute_end = time.monotonic() - t0
    assert first_ping is not None and first_ping < 5, \
        'no server ping within 5 s (first at %r)' % first_ping
    assert mute_end >= 2.0, 'silent client closed too early (%.1f s)' \
        % mute_end
    # The live one is still there and working after > 8 s.
    assert live.sync() == []
    assert len(live.pings) >= 2, live.pings
    assert_healthy(srv)
