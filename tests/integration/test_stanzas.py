"""test_stanzas.py -- RFC 6120 8 and 10: stanza routing between local
sessions, `from` stamping, stanza errors, and the server's own IQ
services: XEP-0199 ping, XEP-0030 disco#info, XEP-0092 version."""

import pytest

from xmpp_raw import (NS_CLIENT, NS_DISCO_INFO, NS_PING, NS_VERSION,
                      RawClient, q, stanza_error, tostr)
import xmpp_slix
from xmpp_slix import run

MESSAGE = q(NS_CLIENT, 'message')
IQ = q(NS_CLIENT, 'iq')
PING = "<ping xmlns='%s'/>" % NS_PING


@pytest.fixture
def login(server, cafile):
    """Factory: a bound raw client for a fresh (or given) account."""
    made = []

    def make(user=None, pw=None, resource='r'):
        if user is None:
            user, pw = server.new_user('st')
        c = RawClient(server.port, cafile=cafile)
        made.append(c)
        c.login(user, pw, resource=resource)
        c.user, c.pw = user, pw
        return c
    yield make
    for c in made:
        c.close()


def next_message(c, timeout=None):
    return c.wait_for(lambda e: e.tag == MESSAGE, timeout=timeout,
                      what='a message')


# -- routing ------------------------------------------------------------------

def test_message_between_full_jids(login):
    a, b = login(), login()
    a.send("<message to='%s' type='chat' id='hello1'><body>hi b</body>"
           "</message>" % b.jid)
    m = next_message(b)
    assert m.get('from') == a.jid
    assert m.get('to') == b.jid
    assert m.get('type') == 'chat'
    assert m.get('id') == 'hello1'
    assert m.findtext(q(NS_CLIENT, 'body')) == 'hi b'


def test_from_is_stamped(login):
    a, b = login(), login()
    for forged in ('admin@localhost/x', b.jid, 'localhost',
                   '%s@localhost/other' % a.user):
        a.send("<message from='%s' to='%s' id='f'><body>x</body></message>"
               % (forged, b.jid))
        m = next_message(b)
        assert m.get('from') == a.jid, \
            'forged from %r passed: %s' % (forged, tostr(m))


def test_from_stamped_without_from(login):
    a, b = login(), login()
    a.send("<message to='%s'><body>x</body></message>" % b.jid)
    assert next_message(b).get('from') == a.jid


def test_payload_preserved(login):
    a, b = login(), login()
    a.send("<message to='%s' id='p' xml:lang='de'><body>a &amp; b &lt; c "
           "\u00e9\u4e2d</body><x xmlns='urn:example:ext' attr='&quot;'>"
           "<y>deep</y></x></message>" % b.jid)
    m = next_message(b)
    assert m.findtext(q(NS_CLIENT, 'body')) == 'a & b < c \u00e9\u4e2d'
    x = m.find('{urn:example:ext}x')
    assert x is not None and x.get('attr') == '"', tostr(m)
    assert x.findtext('{urn:example:ext}y') == 'deep'
    assert m.get('{http://www.w3.org/XML/1998/namespace}lang') == 'de'


def test_many_messages_in_order(login):
    a, b = login(), login()
    n = 300
    a.send(''.join("<message to='%s' id='m%d'><body>%d</body></message>"
                   % (b.jid, i, i) for i in range(n)))
    got = [next_message(b).findtext(q(NS_CLIENT, 'body')) for i in range(n)]
    assert got == [str(i) for i in range(n)]


def test_iq_between_clients(login):
    a, b = login(), login()
    iid = a.iq('get', "<query xmlns='urn:example:q'/>", to=b.jid)
    req = b.wait_for(lambda e: e.tag == IQ, what='the routed iq')
    assert req.get('from') == a.jid and req.get('id') == iid
    assert req.find('{urn:example:q}query') is not None
    b.send("<iq type='result' id='%s' to='%s'><query xmlns='urn:example:q'>"
           "<item/></query></iq>" % (iid, a.jid))
    r = a.iq_reply(iid)
    assert r.get('type') == 'result' and r.get('from') == b.jid, tostr(r)


def test_iq_to_unconnected_resource(login):
    a, b = login(), login()
    for to in ('%s@localhost/notconnected' % b.user,
               '%s@localhost/gone' % a.user):
        r = a.query('get', "<query xmlns='urn:example:q'/>", to=to)
        assert r.get('type') == 'error', tostr(r)
        assert stanza_error(r) == ('cancel', 'service-unavailable'), tostr(r)
        assert r.get('from') == to, tostr(r)


def test_iq_to_unknown_user_full_jid(login):
    a = login()
    r = a.query('get', "<query xmlns='urn:example:q'/>",
                to='nobody-here@localhost/x')
    assert r.get('type') == 'error', tostr(r)
    assert stanza_error(r)[0] == 'cancel', tostr(r)
    assert stanza_error(r)[1] in ('service-unavailable',
                                  'item-not-found'), tostr(r)


@pytest.mark.parametrize('to', ['a@b@c', '@localhost', 'user@',
                                'a@localhost/', 'x' * 1100 + '@localhost',
                                'a@[not-an-ip]'],
                         ids=['two-at', 'empty-local', 'empty-domain',
                              'empty-resource', 'long-local', 'bad-ip'])
def test_message_to_malformed_jid(login, to):
    a = login()
    a.send("<message to='%s' id='bad'><body>x</body></message>" % to)
    m = next_message(a)
    assert m.get('type') == 'error' and m.get('id') == 'bad', tostr(m)
    assert stanza_error(m) == ('modify', 'jid-malformed'), tostr(m)


def test_iq_to_malformed_jid(login):
    a = login()
    r = a.query('get', PING, to='a@b@c')
    assert stanza_error(r) == ('modify', 'jid-malformed'), tostr(r)


# -- server IQ services --------------------------------------------------------

def test_ping_server(login):
    a = login()
    r = a.query('get', PING, to='localhost')
    assert r.get('type') == 'result', tostr(r)
    assert r.get('from') == 'localhost'
    assert len(r) == 0, 'ping result must be empty: ' + tostr(r)


def test_ping_without_to(login):
    # No 'to' means the account's bare JID (RFC 6120 10.3.3): answered by
    # the server on the user's behalf.
    a = login()
    r = a.query('get', PING)
    assert r.get('type') == 'result', tostr(r)


def test_unknown_namespace_iq(login):
    a = login()
    r = a.query('get', "<query xmlns='urn:example:nothing-here'/>",
                to='localhost')
    assert r.get('type') == 'error', tostr(r)
    assert stanza_error(r) == ('cancel', 'service-unavailable'), tostr(r)


def test_disco_info(login):
    a = login()
    r = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to='localhost')
    assert r.get('type') == 'result', tostr(r)
    qr = r.find(q(NS_DISCO_INFO, 'query'))
    assert qr is not None, tostr(r)
    ids = [(i.get('category'), i.get('type'))
           for i in qr.findall(q(NS_DISCO_INFO, 'identity'))]
    assert ('server', 'im') in ids, tostr(r)
    feats = [f.get('var') for f in qr.findall(q(NS_DISCO_INFO, 'feature'))]
    for f in (NS_DISCO_INFO, NS_PING, NS_VERSION):
        assert f in feats, '%s missing: %s' % (f, tostr(r))
    assert len(feats) == len(set(feats)), 'duplicate features'


def test_version(login):
    a = login()
    r = a.query('get', "<query xmlns='%s'/>" % NS_VERSION, to='localhost')
    assert r.get('type') == 'result', tostr(r)
    qr = r.find(q(NS_VERSION, 'query'))
    assert qr is not None, tostr(r)
    assert qr.findtext(q(NS_VERSION, 'name')) == 'tern'
    assert qr.findtext(q(NS_VERSION, 'version')), tostr(r)


def test_version_set_refused(login):
    a = login()
    r = a.query('set', "<query xmlns='%s'/>" % NS_VERSION, to='localhost')
    assert r.get('type') == 'error', tostr(r)


@pytest.mark.parametrize('payload', ['', "<a xmlns='urn:x'/><b xmlns="
                                     "'urn:x'/>"], ids=['none', 'two'])
def test_iq_get_child_count(login, payload):
    # RFC 6120 8.2.3: get/set carries exactly one child.
    a = login()
    r = a.query('get', payload, to='localhost')
    assert r.get('type') == 'error', tostr(r)
    assert stanza_error(r)[1] == 'bad-request', tostr(r)


def test_iq_bad_type(login):
    a = login()
    r = a.query('fetch', PING, to='localhost')
    assert r.get('type') == 'error', tostr(r)
    assert stanza_error(r)[1] == 'bad-request', tostr(r)


@pytest.mark.parametrize('typ', ['result', 'error'])
def test_unexpected_result_dropped(login, typ):
    a = login()
    body = "<error type='cancel'><service-unavailable xmlns=" \
        "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error>" \
        if typ == 'error' else ''
    a.send("<iq type='%s' id='nobody-asked' to='localhost'>%s</iq>"
           % (typ, body))
    a.send("<iq type='%s' id='nobody-asked2' to='%s@localhost/gone'>%s</iq>"
           % (typ, a.user, body))
    a.expect_nothing(0.5)
    assert a.query('get', PING, to='localhost').get('type') == 'result'


def test_error_message_not_bounced(login):
    # Errors are never answered with errors (RFC 6120 8.3.1).
    a = login()
    a.send("<message type='error' to='%s@localhost/gone' id='e'><error "
           "type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:"
           "xmpp-stanzas'/></error></message>" % a.user)
    a.expect_nothing(0.5)


@pytest.mark.slix
def test_slixmpp_chat_and_disco(server):
    ua, pa = server.new_user('sa')
    ub, pb = server.new_user('sb')

    async def go():
        a = await xmpp_slix.login(server, ua, pa, resource='a')
        b = await xmpp_slix.login(server, ub, pb, resource='b')
        try:
            a.send_message(mto=b.boundjid, mbody='ping-pong', mtype='chat')
            m = await b.next_message()
            assert m['body'] == 'ping-pong'
            assert m['from'] == a.boundjid
            b.send_message(mto=m['from'], mbody='pong', mtype='chat')
            m2 = await a.next_message()
            assert m2['body'] == 'pong' and m2['from'] == b.boundjid
            r = await xmpp_slix.ping(a, 'localhost')
            assert r['type'] == 'result'
        finally:
            await a.close()
            await b.close()
    run(go())
