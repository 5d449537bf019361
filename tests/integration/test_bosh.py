"""test_bosh.py -- BOSH (XEP-0124) carrying XMPP (XEP-0206) at POST
/http-bind, spoken over raw HTTP/1.1 (bosh_raw.py): session creation,
SASL PLAIN, restart and bind, messages both ways with a TCP client, wait
and hold, rids (window, replays, order), binding errors, overactivity,
polling, pause, termination, inactivity, acknowledgements, CORS and
shutdown with requests held.

Sessions use short 'wait' values so held requests come back quickly;
servers of their own (make_server) give short inactivity and pause
limits."""

import time
from xml.sax.saxutils import quoteattr

import pytest

from bosh_raw import (NS_BIND, NS_CLIENT, NS_HTTPBIND, NS_PING, NS_SASL,
                      NS_STREAM, NS_TLS, BoshClient, HttpClosed, HttpConn,
                      body_xml, creation_attrs, local, message_xml, q, tostr)
from xmpp_raw import RawClient, stanza_error

pytestmark = pytest.mark.raw

CT_XML = 'text/xml; charset=utf-8'


# -- fixtures -------------------------------------------------------------

@pytest.fixture
def bosh(server):
    """Factory of BoshClients on the shared server (TLS listener unless
    tls=False), closed at teardown."""
    made = []

    def make(tls=True, srv=None, **kw):
        s = srv or server
        b = BoshClient(s.port_https if tls else s.port_http, tls=tls, **kw)
        made.append(b)
        return b
    yield make
    for b in made:
        b.close()


@pytest.fixture
def tcp(server, cafile):
    """Factory of TCP clients logged in and bound (a fresh account each
    unless given)."""
    made = []

    def make(srv=None, user=None, pw=None, resource='tcp'):
        s = srv or server
        if user is None:
            user, pw = s.new_user('tcp')
        c = RawClient(s.port, cafile=cafile)
        made.append(c)
        c.login(user, pw, resource=resource)
        c.user = user
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def bosh_user(server, bosh):
    """Factory: a fresh account logged in over BOSH (https), bound to
    resource 'web'. Extra keywords go to BoshClient.login (wait, hold,
    ack...)."""
    def make(srv=None, resource='web', **kw):
        s = srv or server
        user, pw = s.new_user('bosh')
        b = bosh(srv=s)
        b.user = user
        b.login(user, pw, resource=resource, **kw)
        return b
    return make


def creation(b, **kw):
    """Creates a session and returns (creation response, features),
    polling once if the features were not in the creation response."""
    r = b.create(**kw)
    feats = b.wait_features()
    return r, feats


def assert_terminate(r, cond):
    """A terminal binding error (XEP-0124 17.2): HTTP 200, type
    'terminate', the condition (or one of a list)."""
    conds = [cond] if isinstance(cond, str) else list(cond)
    r.check_body()
    assert r.type == 'terminate' and r.condition in conds, \
        'expected <body type=terminate condition=%s>, got %r' % (
            '|'.join(conds), r)


def assert_bad_request(r):
    """Binding syntax errors: terminate bad-request with HTTP 200, or (a
    legacy HTTP condition, XEP-0124 17.1) a plain HTTP 400."""
    if r.status == 400:
        return
    assert_terminate(r, 'bad-request')


def assert_empty(r):
    r.check_body()
    assert not r.terminated, 'unexpected terminate: %r' % r
    assert not r.children, 'expected an empty <body/>: %r' % r


def ping_full_jid(tcp_client, jid):
    """Sends a ping from tcp_client to jid; returns the id."""
    return tcp_client.iq('get', "<ping xmlns='%s'/>" % NS_PING, to=jid)


def is_iq(iid):
    return lambda e: local(e.tag) == 'iq' and e.get('id') == iid


def is_message(e):
    return local(e.tag) == 'message'


def new_session_check_gone(b, rid=None):
    """The next request on b's sid must be answered item-not-found."""
    r = b.post('', rid=rid, timeout=5)
    assert_terminate(r, 'item-not-found')


# -- session creation (XEP-0124 7, XEP-0206 5) ----------------------------

def test_session_creation_response(bosh):
    b = bosh()
    r, feats = creation(b, wait=30, hold=1)
    assert r.http.header('Content-Type', '').lower().replace(' ', '') == \
        CT_XML.replace(' ', ''), r.http.header_list
    assert r.body.tag == q(NS_HTTPBIND, 'body')
    assert r.attr('sid') and len(r.attr('sid')) >= 8, r
    assert r.attr('wait') == '30', r
    assert r.attr('hold') == '1', r
    assert r.attr('requests') == '2', r
    assert r.attr('ver') == '1.6', r
    assert r.attr('from') == 'localhost', r
    assert r.attr('xmpp:version') == '1.0', r
    assert r.attr('authid'), r
    assert r.attr('inactivity') == '60', r
    assert r.attr('polling') == '2', r
    assert r.attr('maxpause') == '120', r
    assert r.type is None, r
    # The features: SASL mechanisms with PLAIN over https, no STARTTLS.
    assert feats.find(q(NS_TLS, 'starttls')) is None, tostr(feats)
    assert 'PLAIN' in b.mechanisms(feats), tostr(feats)
    # Two sessions never share a sid.
    b2 = bosh()
    b2.create(wait=30)
    assert b2.sid != b.sid


def test_creation_clamps_wait_and_hold(bosh):
    """wait = min(requested, max_wait 60), hold = min(requested,
    max_hold 1), requests = hold + 1 (XEP-0124 7.2: MUST NOT exceed the
    request)."""
    b = bosh()
    r = b.create(wait=3600, hold=5)
    assert r.attr('wait') == '60', r
    assert r.attr('hold') == '1', r
    assert r.attr('requests') == '2', r


def test_creation_unknown_host(bosh):
    b = bosh()
    r = b.create(to='nowhere.example', check=False)
    assert_terminate(r, 'host-unknown')


def test_creation_over_plain_http_offers_no_plain(bosh):
    """On the plain HTTP listener nothing is protected by TLS: PLAIN is
    not offered (c2s.require_tls) and an attempt does not succeed."""
    b = bosh(tls=False)
    _, feats = creation(b, wait=2)
    assert 'PLAIN' not in b.mechanisms(feats), tostr(feats)
    r = b.post("<auth xmlns='%s' mechanism='PLAIN'>AGEAYg==</auth>"
               % NS_SASL, timeout=6)
    assert r.find('success') is None, r


# -- login, stanzas both ways (XEP-0206 6) ---------------------------------

def test_login_bind_and_messages_both_ways(bosh_user, tcp):
    b = bosh_user(wait=10)
    assert b.jid == '%s@localhost/web' % b.user
    t = tcp()
    # BOSH -> TCP, with text beyond ASCII (Content-Length counts bytes).
    # The request that carried it is then held (nothing to return).
    text = 'h\u00e9llo \u2713 \U0001d11e'
    p = b.send(message_xml(t.jid, text, id_='m1'))
    m = t.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                   what='message from BOSH')
    assert m.get('from') == b.jid, tostr(m)
    assert m.findtext(q(NS_CLIENT, 'body')) == text, tostr(m)
    # TCP -> BOSH while a request is held: it comes back at once.
    assert not p.done(0.5), 'request not held: %r' % p.result()
    t.send("<message to='%s' type='chat' id='m2'><body>%s</body></message>"
           % (b.jid, text))
    r = p.result(5)
    r.check_body()
    assert r.received_at - p.sent_at < 3, \
        'held request returned after %.1fs' % (r.received_at - p.sent_at)
    msgs = [c for c in r.children if local(c.tag) == 'message']
    assert len(msgs) == 1, r
    # Stanzas are in jabber:client (XEP-0206 9), not in httpbind.
    assert msgs[0].tag == q(NS_CLIENT, 'message'), tostr(msgs[0])
    assert msgs[0].get('from') == t.jid, tostr(msgs[0])
    assert msgs[0].findtext(q(NS_CLIENT, 'body')) == text, tostr(msgs[0])
    # A stanza arriving while nothing is held is queued and returned by
    # the next request at once.
    t.send("<message to='%s' type='chat' id='m3'><body>queued</body>"
           "</message>" % b.jid)
    t.query('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost')
    time.sleep(0.2)
    r = b.post('', timeout=15)
    got = [c for c in r.children if local(c.tag) == 'message']
    assert got, 'queued message not in the next response: %r' % r
    assert r.elapsed < 1.5, 'queued message held back %.2fs' % r.elapsed
    assert got[0].findtext(q(NS_CLIENT, 'body')) == 'queued', tostr(got[0])
    # The server's own IQ services work through the session.
    pong = b.ping()
    assert pong.get('type') == 'result', tostr(pong)


def test_bosh_to_bosh_message(bosh_user):
    a, c = bosh_user(wait=5), bosh_user(wait=5)
    p = c.send('')
    assert not p.done(0.3)
    a.send(message_xml(c.jid, 'between two BOSH sessions'))
    r = p.result(5)
    m = r.find('message')
    if m is None:
        m = c.exchange('', is_message, timeout=5, what='message')
    assert m.get('from') == a.jid, tostr(m)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'between two BOSH sessions'


def test_sasl_failure_then_success(server, bosh):
    user, pw = server.new_user('bsf')
    b = bosh()
    creation(b, wait=5)
    res = b.auth_plain(user, 'wrong-' + pw)
    assert res.tag == q(NS_SASL, 'failure'), tostr(res)
    assert res.find(q(NS_SASL, 'not-authorized')) is not None, tostr(res)
    res = b.auth_plain(user, pw)
    assert res.tag == q(NS_SASL, 'success'), tostr(res)
    feats = b.restart()
    assert feats.find(q(NS_BIND, 'bind')) is not None, tostr(feats)
    assert b.bind('again') == '%s@localhost/again' % user


# -- wait and hold (XEP-0124 8, 10) ----------------------------------------

def test_wait_returns_empty_body(bosh):
    b = bosh()
    r, _ = creation(b, wait=2)
    assert r.attr('wait') == '2'
    r = b.post('', timeout=8)
    assert_empty(r)
    assert 1.5 <= r.elapsed <= 4.5, 'empty response after %.2fs (wait=2)' \
        % r.elapsed


def test_hold_second_request_releases_first(bosh):
    b = bosh()
    creation(b, wait=2, hold=1)
    p1 = b.send('')
    assert not p1.done(0.5), 'first request not held: %r' % p1.result()
    p2 = b.send('')
    r1 = p1.result(1.5)
    assert_empty(r1)
    assert r1.received_at - p2.sent_at < 1.0, \
        'held request released %.2fs after the second arrived' % (
            r1.received_at - p2.sent_at)
    assert not p2.done(0.5), 'second request not held: %r' % p2.result()
    r2 = p2.result(5)
    assert_empty(r2)


def test_pipelined_requests_on_one_connection(bosh):
    """Two requests written at once on one keep-alive connection (XEP-0124
    3 recommends pipelining): the second releases the first, the answers
    come in order, the second is held."""
    b = bosh()
    creation(b, wait=2, hold=1)
    c = b.connect()
    r1 = body_xml(b.attrs())
    r2 = body_xml(b.attrs())
    t0 = time.monotonic()
    c.send_request('POST', '/http-bind', b.http_headers(), r1)
    c.send_request('POST', '/http-bind', b.http_headers(), r2)
    a1 = c.read_response(5)
    t1 = time.monotonic() - t0
    a2 = c.read_response(6)
    t2 = time.monotonic() - t0
    for a in (a1, a2):
        assert a.status == 200, a
        body = a.xml()
        assert body.tag == q(NS_HTTPBIND, 'body') and \
            body.get('type') is None, a
    assert t1 < 1.0, 'first pipelined request not released by the second ' \
        '(answered after %.2fs)' % t1
    assert t2 >= 1.5, 'second pipelined request not held (%.2fs)' % t2
    # The connection stays usable.
    c.send_request('POST', '/http-bind', b.http_headers(),
                   body_xml(b.attrs(), "<iq type='get' id='pp' to='"
                            "localhost' xmlns='jabber:client'><ping xmlns='"
                            "urn:xmpp:ping'/></iq>"))
    a3 = c.read_response(6)
    assert a3.status == 200, a3


def test_client_drops_held_request(bosh_user, tcp):
    """The connection of a held request breaks and a stanza arrives
    meanwhile: the client resends an exact copy of the request (XEP-0124
    14.3) and gets the stanza (in the buffered response, or in a fresh
    one if the server saw the close); the session goes on."""
    b = bosh_user(wait=3)
    t = tcp()
    c = b.connect()
    rid = b.rid + 1
    p = b.send('', conn=c, rid=rid)
    assert not p.done(0.3), p.result()
    c.close()
    time.sleep(0.3)
    t.send("<message to='%s' type='chat'><body>after drop</body></message>"
           % b.jid)
    t.query('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost')
    again = b.post('', rid=rid, timeout=8)
    again.check_body()
    assert not again.terminated, 'resent rid refused: %r' % again
    b.rid = rid
    m = b.exchange('', is_message, timeout=8, what='message after drop')
    assert m.findtext(q(NS_CLIENT, 'body')) == 'after drop', tostr(m)
    assert b.ping().get('type') == 'result'


# -- rids (XEP-0124 14) ----------------------------------------------------

def test_replayed_rid_gets_same_response(bosh_user):
    b = bosh_user(wait=5)
    rid = b.rid + 1
    iid = 'replay1'
    payload = ("<iq type='get' id='%s' to='localhost' xmlns='%s'><ping "
               "xmlns='%s'/></iq>" % (iid, NS_CLIENT, NS_PING))
    r = b.post(payload, rid=rid, timeout=10)
    r.check_body()
    if r.find('iq') is None:
        pytest.fail('ping result not in the response to its request: %r' % r)
    again = b.post(payload, rid=rid, timeout=10)
    assert again.status == 200, again
    assert again.raw == r.raw, 'replay differs:\n%r\n%r' % (r.raw, again.raw)
    # Replaying on another connection gives the same, too.
    c = b.connect()
    third = b.raw_post(body_xml({'rid': rid, 'sid': b.sid}, payload), conn=c)
    assert third.raw == r.raw, third
    # ... and the session goes on with the next rid.
    b.rid = rid
    pong = b.ping()
    assert pong.get('type') == 'result', tostr(pong)


def test_rid_beyond_window_item_not_found(bosh):
    b = bosh()
    r, _ = creation(b, wait=2)
    # Nothing held; requests=2: rid+1 and rid+2 are in the window.
    r = b.post('', rid=b.rid + 3, timeout=5)
    assert_terminate(r, 'item-not-found')
    assert r.elapsed < 1.5, r
    new_session_check_gone(b)


def test_old_rid_not_buffered_item_not_found(bosh):
    """A rid far below the last one (its response is not buffered):
    item-not-found (XEP-0124 14.3)."""
    b = bosh()
    creation(b, wait=2)
    r = b.post('', rid=b.rid - 50, timeout=5)
    assert_terminate(r, 'item-not-found')


def test_out_of_order_rids_processed_in_order(bosh_user, tcp):
    b = bosh_user(wait=2)
    t = tcp()
    base = b.rid
    p2 = b.send(message_xml(t.jid, 'second'), rid=base + 2)
    assert not p2.done(0.6), 'rid+2 answered before rid+1 arrived: %r' \
        % p2.result()
    t.expect_nothing(0.2)
    p1 = b.send(message_xml(t.jid, 'first'), rid=base + 1)
    r1 = p1.result(6)
    r2 = p2.result(6)
    for r in (r1, r2):
        r.check_body()
        assert not r.terminated, r
    assert r1.received_at <= r2.received_at + 0.05, \
        'rid+2 answered before rid+1'
    got = []
    while len(got) < 2:
        m = t.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                       what='messages from BOSH')
        got.append(m.findtext(q(NS_CLIENT, 'body')))
    assert got == ['first', 'second'], got
    b.rid = base + 2


# -- binding errors (XEP-0124 17) ------------------------------------------

def test_bad_sid_item_not_found(bosh):
    b = bosh()
    r = b.raw_post(body_xml({'rid': 1234567, 'sid': 'no-such-sid'}))
    assert_terminate(r, 'item-not-found')


def test_missing_rid_bad_request(bosh):
    b = bosh()
    creation(b, wait=2)
    r = b.raw_post(body_xml({'sid': b.sid}))
    assert_bad_request(r)


@pytest.mark.parametrize('rid', ['abc', '-5', '', '1e3'])
def test_invalid_rid_bad_request(bosh, rid):
    b = bosh()
    creation(b, wait=2)
    r = b.raw_post(body_xml({'sid': b.sid, 'rid': rid}))
    if r.status == 200 and r.condition == 'item-not-found':
        return      # a rid that cannot be in the window: also acceptable
    assert_bad_request(r)


def test_creation_without_rid_bad_request(bosh):
    b = bosh()
    a = creation_attrs(None)
    del a['rid']
    r = b.raw_post(body_xml(a))
    assert_bad_request(r)


MALFORMED = {
    'truncated': "<body rid='10' xmlns='%s'><message" % NS_HTTPBIND,
    'not_xml': 'hello world',
    'empty': '',
    'wrong_root': "<stream rid='10' to='localhost' xmlns='%s'/>" % NS_HTTPBIND,
    'wrong_ns': "<body rid='10' to='localhost' xmlns='urn:nope'/>",
    'two_roots': "<body rid='10' to='localhost' xmlns='%s'/><body/>"
                 % NS_HTTPBIND,
    'bad_utf8': b"<body rid='10' to='localhost' xmlns='" +
                NS_HTTPBIND.encode() + b"'>\xff\xfe</body>",
}


@pytest.mark.parametrize('name', sorted(MALFORMED))
def test_malformed_body_bad_request(server, bosh, name):
    b = bosh()
    r = b.raw_post(MALFORMED[name], timeout=5)
    assert_bad_request(r)
    # The server is fine afterwards.
    b2 = bosh()
    b2.create(wait=2)


def test_malformed_body_in_session(bosh_user, tcp):
    """Malformed XML in a session's request: nothing of it is
    processed."""
    b = bosh_user(wait=2)
    t = tcp()
    data = body_xml(b.attrs(), message_xml(t.jid, 'half')).encode()
    r = b.raw_post(data[:-9])    # '</body>' and a bit cut off
    assert_bad_request(r)
    t.expect_nothing(0.5)


def test_dtd_rejected_nothing_processed(bosh_user, tcp):
    b = bosh_user(wait=2)
    t = tcp()
    attrs = ''.join(' %s=%s' % (k, quoteattr(str(v)))
                    for k, v in b.attrs().items())
    data = ("<?xml version='1.0'?><!DOCTYPE body [<!ENTITY x 'pwned'>]>"
            "<body%s xmlns='%s'><message to='%s' type='chat' xmlns='%s'>"
            "<body>&x;</body></message></body>"
            % (attrs, NS_HTTPBIND, t.jid, NS_CLIENT))
    r = b.raw_post(data, timeout=5)
    assert_bad_request(r)
    t.expect_nothing(0.8)


def test_billion_laughs_creation(bosh):
    lol = ("<?xml version='1.0'?><!DOCTYPE body [<!ENTITY a 'aaaaaaaaaa'>"
           + ''.join("<!ENTITY %s '%s'>" % (chr(ord('b') + i),
                                            ('&%s;' % chr(ord('a') + i)) * 10)
                     for i in range(8))
           + "]><body rid='5' to='localhost' hold='1' wait='5' ver='1.6' "
           "xmlns='%s'>&i;</body>" % NS_HTTPBIND)
    b = bosh()
    t0 = time.monotonic()
    r = b.raw_post(lol, timeout=5)
    assert_bad_request(r)
    assert time.monotonic() - t0 < 2
    bosh().create(wait=2)


# -- overactivity and polling (XEP-0124 11, 12) ----------------------------

def test_too_many_simultaneous_requests(bosh):
    """hold=1, requests=2. rid+1 is held, rid+3 waits for rid+2; when rid+2
    arrives three requests are open and none answered: policy-violation
    (XEP-0124 11). A server that answered the held rid+1 as soon as rid+3
    arrived never had three open requests: then everything goes on
    normally."""
    b = bosh()
    creation(b, wait=3, hold=1)
    base = b.rid
    p1 = b.send('', rid=base + 1)
    assert not p1.done(0.4), p1.result()
    p3 = b.send('', rid=base + 3)
    released = p1.done(0.4)
    p2 = b.send('', rid=base + 2)
    rs = [p.result(8) for p in (p1, p2, p3)]
    for r in rs:
        r.check_body()
    if released:
        assert not rs[0].terminated, rs[0]
        assert not any(r.terminated for r in rs), rs
    else:
        assert any(r.condition == 'policy-violation' for r in rs), \
            'three open requests with requests=2 and no policy-violation: ' \
            '%r' % rs
        for r in rs:
            assert r.terminated or not r.children, r
        new_session_check_gone(b, rid=base + 4)


def test_polling_too_frequent(bosh):
    """hold=0 makes a polling session (requests=1); two empty polls closer
    than 'polling' seconds after an empty response: policy-violation
    (XEP-0124 12)."""
    b = bosh()
    r = b.create(wait=5, hold=0)
    assert r.attr('hold') == '0' and r.attr('requests') == '1', r
    polling = int(r.attr('polling'))
    empty_before = b.features is None
    if empty_before:
        time.sleep(polling + 0.3)     # the creation answer was empty
        b.wait_features()
    verdict = None
    for _ in range(4):
        r = b.post('', timeout=5)
        r.check_body()
        assert r.elapsed < 1.0, 'polling request held %.2fs' % r.elapsed
        if r.terminated:
            verdict = r
            break
    assert verdict is not None, 'polling every few ms never refused'
    assert verdict.condition == 'policy-violation', verdict
    new_session_check_gone(b)


def test_polling_at_allowed_rate(make_server):
    srv = make_server(extra='bosh: {polling: 1}\n').start()
    b = BoshClient(srv.port_https)
    try:
        r = b.create(wait=5, hold=0)
        assert r.attr('polling') == '1', r
        if b.features is None:
            time.sleep(1.2)
        b.wait_features()
        for _ in range(2):
            time.sleep(1.2)
            r = b.post('', timeout=5)
            assert_empty(r)
            assert r.elapsed < 1.0, r.elapsed
    finally:
        b.close()


# -- pause (XEP-0124 10) ---------------------------------------------------

def test_pause_beyond_maxpause_policy_violation(bosh):
    b = bosh()
    r, _ = creation(b, wait=2)
    maxpause = int(r.attr('maxpause'))
    r = b.post('', pause=maxpause + 1, timeout=5)
    assert_terminate(r, 'policy-violation')


def test_pause_returns_held_and_extends_inactivity(make_server):
    srv = make_server(extra='bosh: {max_inactivity: 2, max_pause: 5}\n') \
        .start()
    b = BoshClient(srv.port_https)
    try:
        r = b.create(wait=3)
        assert r.attr('inactivity') == '2' and r.attr('maxpause') == '5', r
        b.wait_features()
        p1 = b.send('')
        assert not p1.done(0.3), p1.result()
        t0 = time.monotonic()
        rp = b.post('', pause=4, timeout=5)
        assert_empty(rp)     # "MUST NOT contain any payloads"
        r1 = p1.result(2)
        assert_empty(r1)
        assert time.monotonic() - t0 < 1.0, 'pause did not return at once'
        time.sleep(3.0)      # > inactivity (2 s), < pause (4 s)
        p = b.send('')
        # Alive: held (an ended session would say item-not-found at once).
        if p.done(0.4):
            pytest.fail('session gone after 3 s of a 4 s pause: %r'
                        % p.result())
        end = b.terminate()
        assert end.type == 'terminate', end
        p.result(4)
    finally:
        b.close()


# -- terminate (XEP-0124 13) -----------------------------------------------

def test_terminate_ends_session(bosh_user, tcp):
    b = bosh_user(wait=3)
    t = tcp()
    iid = ping_full_jid(t, b.jid)
    got = b.exchange('', is_iq(iid), timeout=8, what='ping from TCP')
    assert got.get('from') == t.jid, tostr(got)
    p = b.send("<iq type='result' id='%s' to='%s' xmlns='%s'/>"
               % (iid, t.jid, NS_CLIENT))
    assert t.iq_reply(iid).get('type') == 'result'
    r = b.terminate()
    r.check_body()
    assert r.type == 'terminate', r
    assert r.condition in (None, ''), r
    held = p.result(3)
    held.check_body()
    # The resource is gone: an iq to it bounces.
    err = t.query('get', "<ping xmlns='%s'/>" % NS_PING, to=b.jid)
    assert err.get('type') == 'error', tostr(err)
    assert stanza_error(err) == ('cancel', 'service-unavailable'), tostr(err)
    new_session_check_gone(b)


def test_terminate_releases_held_request(bosh):
    b = bosh()
    creation(b, wait=5)
    p = b.send('')
    assert not p.done(0.3)
    r = b.terminate('')
    assert r.type == 'terminate', r
    held = p.result(2)
    held.check_body()


# -- inactivity (XEP-0124 10) ----------------------------------------------

def test_inactivity_ends_session(make_server, bosh, tcp):
    """With bosh.max_inactivity 2: a request held for 3 s is not
    'inactivity'; 2 s without any request ends the session and unbinds
    the resource."""
    srv = make_server(extra='bosh: {max_inactivity: 2}\n').start()
    user, pw = srv.new_user('inact')
    b = bosh(srv=srv)
    b.login(user, pw, resource='web', wait=3)
    assert b.created.attr('inactivity') == '2', b.created
    t = tcp(srv=srv)
    r = b.post('', timeout=6)
    assert_empty(r)
    assert r.elapsed > 2.5, r.elapsed
    pong = b.ping()
    assert pong.get('type') == 'result'
    # Now nothing for 3.5 s.
    time.sleep(3.5)
    err = t.query('get', "<ping xmlns='%s'/>" % NS_PING, to=b.jid)
    assert stanza_error(err) == ('cancel', 'service-unavailable'), \
        'BOSH resource still bound after inactivity: ' + tostr(err)
    new_session_check_gone(b)


# -- acknowledgements (XEP-0124 9) -----------------------------------------

def test_acks(bosh):
    b = bosh()
    rid0 = b.rid
    r, _ = creation(b, wait=2, ack='1')
    assert r.attr('ack') == str(rid0), \
        'creation response must carry ack=rid when acks are used: %r' % r
    p1 = b.send('')
    assert not p1.done(0.4)
    p2 = b.send('')
    r1 = p1.result(3)
    assert r1.attr('ack') == str(p2.rid), \
        'response to %d released by %d needs ack=%d: %r' % (
            p1.rid, p2.rid, p2.rid, r1)
    r2 = p2.result(5)
    assert r2.attr('ack') is None, \
        'no ack when it would equal the rid: %r' % r2


# -- CORS and methods -----------------------------------------------------

def preflight(port, tls, origin):
    c = HttpConn(port, tls=tls)
    try:
        return c.request('OPTIONS', '/http-bind', [
            ('Origin', origin),
            ('Access-Control-Request-Method', 'POST'),
            ('Access-Control-Request-Headers', 'content-type')])
    finally:
        c.close()


@pytest.mark.parametrize('tls', [True, False], ids=['https', 'http'])
def test_cors_preflight(server, tls):
    origin = 'https://app.example'
    r = preflight(server.port_https if tls else server.port_http, tls,
                  origin)
    assert r.status in (200, 204), r
    assert r.header('Access-Control-Allow-Origin') in (origin, '*'), r
    meths = [m.upper() for m in r.tokens('Access-Control-Allow-Methods')]
    assert 'POST' in meths and 'OPTIONS' in meths, r
    assert 'content-type' in r.tokens('Access-Control-Allow-Headers'), r
    assert (r.header('Access-Control-Max-Age') or '').isdigit(), r


def test_cors_on_post(bosh):
    b = bosh()
    b.headers = [('Origin', 'https://app.example')]
    r = b.create(wait=2)
    assert r.http.header('Access-Control-Allow-Origin') in (
        'https://app.example', '*'), r.http


def test_cors_origins_restricted(make_server):
    srv = make_server(extra="http: {origins: ['https://good.example']}\n") \
        .start()
    good = preflight(srv.port_https, True, 'https://good.example')
    assert good.status in (200, 204), good
    assert good.header('Access-Control-Allow-Origin') == \
        'https://good.example', good
    evil = preflight(srv.port_https, True, 'https://evil.example')
    assert evil.status == 403, evil
    assert not evil.has_header('Access-Control-Allow-Origin'), evil
    # A POST from the evil origin gets no permission for the page to read
    # the answer.
    b = BoshClient(srv.port_https, headers=[('Origin',
                                              'https://evil.example')])
    try:
        r = b.create(wait=2, check=False)
        assert not r.http.has_header('Access-Control-Allow-Origin'), r.http
    finally:
        b.close()
    # Clients that send no Origin (not browsers) are not affected.
    b = BoshClient(srv.port_https)
    try:
        b.create(wait=2)
        b2 = BoshClient(srv.port_https, headers=[('Origin',
                                                  'https://good.example')])
        r = b2.create(wait=2)
        assert r.http.header('Access-Control-Allow-Origin') == \
            'https://good.example', r.http
        b2.close()
    finally:
        b.close()


@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE'])
def test_other_methods_405(server, method):
    c = HttpConn(server.port_https, tls=True)
    try:
        r = c.request(method, '/http-bind')
        assert r.status == 405, r
        allow = [m.upper() for m in r.tokens('Allow')]
        assert 'POST' in allow and 'OPTIONS' in allow, r
    finally:
        c.close()


# -- server lifecycle -----------------------------------------------------

def test_shutdown_with_held_requests(make_server, cafile):
    """SIGTERM while BOSH requests are held: ternd exits 0 promptly (the
    held request gets system-shutdown or its connection closes)."""
    srv = make_server().start()
    user, pw = srv.new_user('shut')
    b = BoshClient(srv.port_https)
    b2 = BoshClient(srv.port_http, tls=False)
    try:
        b.login(user, pw, wait=30)
        b2.create(wait=30)
        b2.wait_features()
        p = b.send('')
        p2 = b2.send('')
        assert not p.done(0.3) and not p2.done(0.01)
        t0 = time.monotonic()
        srv.check_clean_exit()
        assert time.monotonic() - t0 < 5, 'shutdown took %.1fs' % (
            time.monotonic() - t0)
        for pend in (p, p2):
            try:
                r = pend.result(3)
            except HttpClosed:
                continue
            r.check_body()
            assert r.terminated, r
            if r.condition == 'remote-stream-error':
                # XEP-0206 7: the stream error inside.
                err = r.find('error', NS_STREAM)
                assert err is not None and err.find(
                    '{urn:ietf:params:xml:ns:xmpp-streams}system-shutdown') \
                    is not None, r
            else:
                assert r.condition == 'system-shutdown', r
    finally:
        b.close()
        b2.close()


def test_held_request_outlives_request_timeout(make_server):
    """http.request_timeout limits the time to send a request, not how
    long a complete BOSH request may be held."""
    srv = make_server(extra='http: {request_timeout: 1}\n').start()
    b = BoshClient(srv.port_https)
    try:
        creation(b, wait=3)
        r = b.post('', timeout=7)
        assert_empty(r)
        assert r.elapsed > 2.5, r.elapsed
    finally:
        b.close()
