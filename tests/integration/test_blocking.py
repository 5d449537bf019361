"""test_blocking.py -- XEP-0191 Blocking Command: the blocklist get,
block and unblock (one, several, all) with pushes to the resources that
asked for the list (3.2-3.5), bad requests, the JID matching rules
("JID Matching": full JID, bare JID, domain/resource, domain and its
subdomains), enforcement in both directions (3.3: inbound messages and IQ
get/set from a blocked entity get service-unavailable, presence and IQ
results vanish; outbound stanzas get not-acceptable with
<blocked xmlns='urn:xmpp:blocking:errors'/>), presence on block (unavailable
to a subscribed contact) and on unblock (current presence), probes and
offline storage under a block, the max_items option, persistence across
a restart, and slixmpp's xep_0191 plugin.

Barriers: bsync() pings without a 'to' (handled for the account), so it
works even when the user has blocked the server's own domain."""

from xml.sax.saxutils import quoteattr

import pytest

from xmpp_raw import NS_CLIENT, NS_DISCO_INFO, NS_PING, NS_STANZAS, q, tostr
from im_helpers import (IQ, MESSAGE, connect, error_of, im,
                        messages, presences)
import xmpp_slix
from xmpp_slix import run

assert im  # a fixture, used by name

NS_BLOCKING = 'urn:xmpp:blocking'
NS_BLOCKING_ERRORS = 'urn:xmpp:blocking:errors'
BLOCKLIST = q(NS_BLOCKING, 'blocklist')
BLOCK = q(NS_BLOCKING, 'block')
UNBLOCK = q(NS_BLOCKING, 'unblock')
ITEM = q(NS_BLOCKING, 'item')


# -- helpers ------------------------------------------------------------------

_n = [0]


def bsync(c):
    """Barrier: a ping without 'to'; returns what arrived before it."""
    _n[0] += 1
    iid = 'bs%d' % _n[0]
    c.send("<iq type='get' id='%s'><ping xmlns='%s'/></iq>" % (iid, NS_PING))
    got = []
    while True:
        el = c.recv()
        if el.tag == IQ and el.get('id') == iid:
            assert el.get('type') == 'result', tostr(el)
            return got
        got.append(el)


def quiet(c, what=''):
    got = bsync(c)
    assert not got, '%s: unexpected for %s: %s' % (
        what, c.jid, [tostr(e) for e in got])


def items_xml(jids):
    return ''.join('<item jid=%s/>' % quoteattr(j) for j in jids)


def blocklist(c):
    """The JIDs of a blocklist get, in the order returned."""
    r = c.query('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.get('type') == 'result', tostr(r)
    bl = r.find(BLOCKLIST)
    assert bl is not None, tostr(r)
    assert all(i.tag == ITEM for i in bl), tostr(r)
    return [i.get('jid') for i in bl]


def send_action(c, name, jids):
    """Sends a block/unblock set; returns its id."""
    return c.iq('set', "<%s xmlns='%s'>%s</%s>"
                % (name, NS_BLOCKING, items_xml(jids), name))


def act(c, name, jids):
    """block/unblock round trip: asserts an empty result (XEP-0191 3.3:
    'MUST return an IQ-result') and returns what else arrived before the
    barrier (pushes...)."""
    iid = send_action(c, name, jids)
    els = bsync(c)
    replies = [e for e in els if e.tag == IQ and e.get('id') == iid]
    assert len(replies) == 1, [tostr(e) for e in els]
    r = replies[0]
    assert r.get('type') == 'result', tostr(r)
    assert len(r) == 0, 'result with payload: ' + tostr(r)
    assert r.get('to') == c.jid, tostr(r)
    return [e for e in els if e is not r]


def block(c, *jids):
    return act(c, 'block', jids)


def unblock(c, *jids):
    return act(c, 'unblock', jids)


def action_error(c, payload, type_='set'):
    r = c.query(type_, payload)
    assert r.get('type') == 'error', tostr(r)
    return error_of(r)


def check_push(c, el, name, jids):
    """An iq set to c's full JID with exactly the action and items."""
    assert el.tag == IQ and el.get('type') == 'set', tostr(el)
    assert el.get('to') == c.jid, tostr(el)
    assert el.get('from') in (None, c.bare), tostr(el)
    assert el.get('id'), tostr(el)
    assert len(el) == 1, tostr(el)
    a = el[0]
    assert a.tag == q(NS_BLOCKING, name), tostr(el)
    assert [i.get('jid') for i in a] == list(jids), tostr(el)
    assert all(i.tag == ITEM for i in a), tostr(el)


def blocked_error(el, from_):
    """XEP-0191 3.3 outbound: error type cancel, not-acceptable and the
    application condition <blocked/>, from the address as given."""
    assert el.get('type') == 'error', tostr(el)
    assert el.get('from') == from_, tostr(el)
    err = el.find(q(NS_CLIENT, 'error'))
    assert err is not None and err.get('type') == 'cancel', tostr(el)
    assert err.find(q(NS_STANZAS, 'not-acceptable')) is not None, tostr(el)
    assert err.find(q(NS_BLOCKING_ERRORS, 'blocked')) is not None, tostr(el)


def one(els, what):
    assert len(els) == 1, '%s: %s' % (what, [tostr(e) for e in els])
    return els[0]


def subscribe_both(a, b):
    """Mutual subscription with real stanzas; both are available."""
    for x, y in ((a, b), (b, a)):
        x.presence('subscribe', to=y.bare)
        bsync(x)
        bsync(y)
        y.presence('subscribed', to=x.bare)
        bsync(y)
    bsync(a)
    bsync(b)


# -- discovery and the list itself --------------------------------------------

def test_feature_in_server_disco(im):
    a = im()
    r = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO,
                to=a.server.domain)
    assert r.get('type') == 'result', tostr(r)
    feats = [f.get('var') for f in r.find(q(NS_DISCO_INFO, 'query'))
             if f.tag == q(NS_DISCO_INFO, 'feature')]
    assert NS_BLOCKING in feats, feats


def test_empty_blocklist(im):
    a = im()
    r = a.query('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert r.get('type') == 'result', tostr(r)
    assert r.get('to') == a.jid
    bl = r.find(BLOCKLIST)
    assert bl is not None and len(bl) == 0, tostr(r)


def test_block_list_unblock_canonical(im):
    a = im()
    assert block(a, 'Romeo@Montague.NET', 'iago@shakespeare.lit',
                 'Example.ORG/Res', 'x@y.lit/Phone') == []
    assert blocklist(a) == ['example.org/Res', 'iago@shakespeare.lit',
                            'romeo@montague.net', 'x@y.lit/Phone']
    # Blocking again changes nothing; a duplicate in one request is one.
    block(a, 'romeo@montague.net', 'ROMEO@montague.net')
    assert len(blocklist(a)) == 4
    unblock(a, 'romeo@MONTAGUE.net', 'nobody@nowhere.lit')
    assert blocklist(a) == ['example.org/Res', 'iago@shakespeare.lit',
                            'x@y.lit/Phone']
    unblock(a)
    assert blocklist(a) == []


def test_blocklist_survives_sessions(im):
    a = im()
    block(a, 'pest@example.lit')
    a.close()
    a2 = im(a.user, a.pw)
    assert blocklist(a2) == ['pest@example.lit']


# -- pushes -------------------------------------------------------------------

def test_pushes_go_to_interested_resources(im):
    a1 = im(resource='one')
    a2 = im(a1.user, a1.pw, resource='two')
    a3 = im(a1.user, a1.pw, resource='three')
    for c in (a1, a2):
        bsync(c)
    assert blocklist(a1) == []
    assert blocklist(a2) == []
    # a3 never asked for the list: no pushes for it.
    got = block(a1, 'a@x.lit', 'B@X.lit')
    check_push(a1, one(got, 'push to the requester'), 'block',
               ['a@x.lit', 'b@x.lit'])
    check_push(a2, one(bsync(a2), 'push to a2'), 'block',
               ['a@x.lit', 'b@x.lit'])
    quiet(a3, 'not interested')
    got = unblock(a2, 'a@x.lit')
    check_push(a2, one(got, 'unblock push'), 'unblock', ['a@x.lit'])
    check_push(a1, one(bsync(a1), 'unblock push'), 'unblock', ['a@x.lit'])
    quiet(a3)
    # Unblock all: an empty <unblock/> (XEP-0191 3.5).
    got = unblock(a1)
    check_push(a1, one(got, 'unblock-all push'), 'unblock', [])
    check_push(a2, one(bsync(a2), 'unblock-all push'), 'unblock', [])
    quiet(a3)


def test_interest_ends_with_the_session(im):
    a1 = im(resource='one')
    blocklist(a1)
    a1.close()
    a1b = im(a1.user, a1.pw, resource='one')   # same full JID, new session
    a2 = im(a1.user, a1.pw, resource='two')
    bsync(a1b)
    block(a2, 'z@x.lit')
    quiet(a1b, 'the new session did not ask for the list')


# -- bad requests -------------------------------------------------------------

@pytest.mark.parametrize('payload,cond', [
    ("<block xmlns='%s'/>" % NS_BLOCKING, 'bad-request'),
    ("<block xmlns='%s'><other/></block>" % NS_BLOCKING, 'bad-request'),
    ("<block xmlns='%s'><item/></block>" % NS_BLOCKING, 'bad-request'),
    ("<block xmlns='%s'><item jid='ok@x.lit'/><item/></block>" % NS_BLOCKING,
     'bad-request'),
    ("<block xmlns='%s'><item jid='a@b@c'/></block>" % NS_BLOCKING,
     'jid-malformed'),
    ("<block xmlns='%s'><item jid='ok@x.lit'/><item jid=''/></block>"
     % NS_BLOCKING, 'jid-malformed'),
    ("<block xmlns='%s'><item jid='x.lit/'/></block>" % NS_BLOCKING,
     'jid-malformed'),
    ("<unblock xmlns='%s'><item jid='@x.lit'/></unblock>" % NS_BLOCKING,
     'jid-malformed'),
    ("<unblock xmlns='%s'><item/></unblock>" % NS_BLOCKING, 'bad-request'),
    ("<blocklist xmlns='%s'/>" % NS_BLOCKING, 'bad-request'),
])
def test_bad_set_changes_nothing(im, payload, cond):
    a = im()
    block(a, 'keep@x.lit')
    assert action_error(a, payload) == ('modify', cond)
    assert blocklist(a) == ['keep@x.lit']
    quiet(a)


@pytest.mark.parametrize('payload', [
    "<block xmlns='%s'><item jid='a@x.lit'/></block>" % NS_BLOCKING,
    "<unblock xmlns='%s'/>" % NS_BLOCKING,
])
def test_get_with_set_payload(im, payload):
    a = im()
    assert action_error(a, payload, 'get') == ('modify', 'bad-request')


def test_other_users_list_is_forbidden(im):
    a, b = im(), im()
    block(b, 'secret@x.lit')
    r = a.query('get', "<blocklist xmlns='%s'/>" % NS_BLOCKING, to=b.bare)
    assert error_of(r) == ('auth', 'forbidden'), tostr(r)
    assert 'secret' not in tostr(r)
    r = a.query('set', "<unblock xmlns='%s'/>" % NS_BLOCKING, to=b.bare)
    assert error_of(r) == ('auth', 'forbidden'), tostr(r)
    assert blocklist(b) == ['secret@x.lit']


def test_max_items(make_server, cafile):
    srv = make_server(modules={'blocking': {'max_items': 3}}).start()
    a = connect(srv, cafile)
    try:
        block(a, 'a@x.lit', 'b@x.lit')
        r = a.query('set', "<block xmlns='%s'>%s</block>" % (
            NS_BLOCKING, items_xml(['c@x.lit', 'd@x.lit'])))
        assert error_of(r) == ('modify', 'policy-violation'), tostr(r)
        assert blocklist(a) == ['a@x.lit', 'b@x.lit']
        block(a, 'b@x.lit', 'c@x.lit')     # one new: fits
        assert blocklist(a) == ['a@x.lit', 'b@x.lit', 'c@x.lit']
    finally:
        a.close()


# -- inbound ------------------------------------------------------------------

def test_inbound_message_from_blocked_gets_service_unavailable(im):
    a, b = im(), im()
    block(a, b.bare)
    for to in (a.bare, a.jid):
        for typ in ('chat', 'normal', 'headline'):
            b.message(to, 'let me in', type_=typ, id_='m-' + typ)
            e = one(bsync(b), 'error to the blocked sender')
            assert e.tag == MESSAGE and e.get('id') == 'm-' + typ, tostr(e)
            assert e.get('from') == to and e.get('to') == b.jid, tostr(e)
            assert error_of(e) == ('cancel', 'service-unavailable'), tostr(e)
    # An error message is dropped without a word.
    b.send("<message type='error' to='%s'><error type='cancel'>"
           "<item-not-found xmlns='%s'/></error></message>"
           % (a.jid, NS_STANZAS))
    quiet(b)
    quiet(a, 'nothing from a blocked contact')


def test_inbound_iq_from_blocked(im):
    a, b = im(), im()
    block(a, b.bare)
    for to in (a.jid, a.bare):
        r = b.query('get', "<ping xmlns='%s'/>" % NS_PING, to=to)
        assert error_of(r) == ('cancel', 'service-unavailable'), tostr(r)
        assert r.get('from') == to, tostr(r)
    r = b.query('set', "<query xmlns='jabber:iq:private'/>", to=a.jid)
    assert error_of(r) == ('cancel', 'service-unavailable'), tostr(r)
    # IQ results and errors: silently dropped.
    b.send("<iq type='result' id='x1' to='%s'/>" % a.jid)
    quiet(b)
    quiet(a)


def test_inbound_presence_from_blocked_vanishes(im):
    a, b = im(), im()
    block(a, b.bare)
    b.presence(to=a.jid)                 # directed presence
    b.presence('subscribe', to=a.bare)   # subscription request
    b.presence('probe', to=a.bare)
    # b's own roster records its request (b blocked nobody); nothing else.
    got = bsync(b)
    assert not presences(got) and not [e for e in got if e.tag != IQ], \
        'no error, no answer (XEP-0191 3.3): %s' % [tostr(e) for e in got]
    quiet(a, 'nothing reaches the user')
    # The request was not stored either: unblocking shows no request and
    # the roster has no trace of b.
    unblock(a, b.bare)
    items = a.roster()
    assert b.bare not in items, items
    a2 = im(a.user, a.pw, resource='later')
    assert not presences(a2.initial, 'subscribe'), a2.initial


def test_blocked_message_not_stored_offline(im):
    a, b = im(), im()
    block(a, b.bare)
    user, pw = a.user, a.pw
    a.close()
    c = im()   # a barrier that a's session is gone
    bsync(c)
    b.message('%s@localhost' % user, 'offline?', type_='chat', id_='off1')
    e = one(bsync(b), 'error for an offline blocked recipient')
    assert error_of(e) == ('cancel', 'service-unavailable'), tostr(e)
    a2 = im(user, pw)
    assert not messages(a2.initial), [tostr(x) for x in a2.initial]
    assert blocklist(a2) == [b.bare]


def test_unblocked_contact_gets_through(im):
    a, b = im(), im()
    block(a, b.bare)
    unblock(a, b.bare)
    b.message(a.jid, 'hello again', type_='chat')
    bsync(b)
    m = one(messages(bsync(a)), 'delivered after unblock')
    assert m.get('from') == b.jid


def test_unblock_all_lets_everyone_in(im):
    a, b, c = im(), im(), im()
    block(a, b.bare, c.jid)
    unblock(a)
    for x in (b, c):
        x.message(a.jid, 'hi', type_='chat')
        quiet(x)
    got = messages(bsync(a))
    assert sorted(m.get('from') for m in got) == sorted([b.jid, c.jid])


# -- outbound -----------------------------------------------------------------

def test_outbound_message_to_blocked_is_refused(im):
    a, b = im(), im()
    block(a, b.bare)
    for to in (b.bare, b.jid):
        a.message(to, 'Can you hear me now?', type_='chat', id_='o1')
        e = one(bsync(a), 'error for the user')
        assert e.tag == MESSAGE and e.get('id') == 'o1', tostr(e)
        assert e.get('to') == a.jid, tostr(e)
        blocked_error(e, to)
        assert e.findtext(q(NS_CLIENT, 'body')) == 'Can you hear me now?'
    quiet(b, 'nothing routed to the blocked contact')


def test_outbound_iq_to_blocked_is_refused(im):
    a, b = im(), im()
    block(a, b.bare)
    r = a.query('get', "<ping xmlns='%s'/>" % NS_PING, to=b.jid)
    blocked_error(r, b.jid)
    # A result or error to a blocked entity: dropped, nothing back.
    a.send("<iq type='result' id='z' to='%s'/>" % b.jid)
    a.send("<message type='error' to='%s'/>" % b.jid)
    quiet(a)
    quiet(b)


def test_outbound_presence_to_blocked_is_not_sent(im):
    a, b = im(), im()
    block(a, b.bare)
    a.presence(to=b.jid)
    a.presence('subscribe', to=b.bare)
    quiet(a, 'no error for presence')
    quiet(b, 'no presence from the user')
    items = a.roster()
    assert b.bare not in items, 'subscribe went through: %s' % items


def test_user_own_resources_unaffected(im):
    a1 = im(resource='one')
    a2 = im(a1.user, a1.pw, resource='two')
    block(a1, a1.bare, 'localhost')      # even self and own domain
    a2.message(a1.jid, 'note to self', type_='chat')
    quiet(a2)
    m = one(messages(bsync(a1)), 'self message')
    assert m.get('from') == a2.jid


# -- matching -----------------------------------------------------------------

def test_full_jid_blocks_only_that_resource(im):
    a = im()
    b1 = im(resource='r1')
    b2 = im(b1.user, b1.pw, resource='r2')
    bsync(b1)
    block(a, b1.jid)
    b1.message(a.jid, 'from r1', type_='chat')
    assert error_of(one(bsync(b1), 'error'))[1] == 'service-unavailable'
    b2.message(a.jid, 'from r2', type_='chat')
    quiet(b2)
    m = one(messages(bsync(a)), 'r2 gets through')
    assert m.get('from') == b2.jid
    a.message(b1.jid, 'x', type_='chat', id_='f1')
    blocked_error(one(bsync(a), 'to r1'), b1.jid)
    a.message(b2.jid, 'y', type_='chat')
    quiet(a)
    assert one(messages(bsync(b2)), 'to r2').findtext(
        q(NS_CLIENT, 'body')) == 'y'


def test_bare_jid_blocks_every_resource(im):
    a = im()
    b1 = im(resource='r1')
    b2 = im(b1.user, b1.pw, resource='r2')
    bsync(b1)
    block(a, b1.bare)
    for b in (b1, b2):
        b.message(a.jid, 'hi', type_='chat')
        assert error_of(one(bsync(b), 'error'))[1] == 'service-unavailable'
    quiet(a)


def test_domain_block_covers_users_resources_and_subdomains(im):
    a = im()
    b = im()
    block(a, 'montague.lit')
    for to in ('romeo@montague.lit', 'romeo@montague.lit/orchard',
               'montague.lit', 'montague.lit/gate',
               'romeo@chat.montague.lit', 'a.b.montague.lit'):
        a.message(to, 'x', type_='chat', id_='d')
        blocked_error(one(bsync(a), to), to)
    # Not subdomains: refused only because the domain is not served here.
    for to in ('romeo@xmontague.lit', 'romeo@montague.lite', 'lit'):
        a.message(to, 'x', type_='chat', id_='d')
        e = one(bsync(a), to)
        assert error_of(e) == ('cancel', 'remote-server-not-found'), tostr(e)
    # The local domain: every other user of it.
    block(a, 'localhost')
    b.message(a.jid, 'hi', type_='chat')
    assert error_of(one(bsync(b), 'error'))[1] == 'service-unavailable'
    a.message(b.jid, 'hi', type_='chat', id_='l')
    blocked_error(one(bsync(a), 'to b'), b.jid)
    quiet(b)


def test_domain_resource_blocks_only_that_jid(im):
    a = im()
    block(a, 'montague.lit/gate')
    a.message('montague.lit/gate', 'x', type_='chat')
    blocked_error(one(bsync(a), 'exact'), 'montague.lit/gate')
    for to in ('montague.lit', 'montague.lit/other',
               'romeo@montague.lit/gate'):
        a.message(to, 'x', type_='chat')
        e = one(bsync(a), to)
        assert error_of(e) == ('cancel', 'remote-server-not-found'), tostr(e)


# -- presence on block and unblock --------------------------------------------

def test_block_sends_unavailable_and_stops_presence(im):
    a1 = im(resource='one')
    a2 = im(a1.user, a1.pw, resource='two')
    b = im()
    subscribe_both(a1, b)
    bsync(a2)
    block(a1, b.bare)
    got = presences(bsync(b), 'unavailable')
    assert sorted(p.get('from') for p in got) == sorted([a1.jid, a2.jid]), \
        [tostr(p) for p in got]
    quiet(b)
    # Presence changes no longer flow either way.
    a1.presence(status='busy')
    bsync(a1)
    assert not presences(bsync(b)), 'presence leaked to the blocked contact'
    b.presence(status='away')
    got = bsync(b)
    assert [p.get('from') for p in presences(got)] == [b.jid], \
        'only its own echo: %s' % [tostr(e) for e in got]
    assert not presences(bsync(a1), from_=b.bare)
    # A probe from a new resource of b is not answered.
    b2 = im(b.user, b.pw, resource='new')
    assert not presences(b2.initial, from_=a1.bare), \
        [tostr(x) for x in b2.initial]
    # Unblocking sends the current presence of each available resource.
    bsync(b)
    unblock(a1, b.bare)
    for x in (b, b2):
        got = presences(bsync(x), '', from_=a1.bare)
        frm = {p.get('from'): p for p in got}
        assert sorted(frm) == sorted([a1.jid, a2.jid]), \
            [tostr(p) for p in got]
        assert frm[a1.jid].findtext(q(NS_CLIENT, 'status')) == 'busy'
    b.presence(status='back')
    bsync(b)
    got = presences(bsync(a1), from_=b.jid)
    assert got and got[-1].findtext(q(NS_CLIENT, 'status')) == 'back'


def test_block_of_unsubscribed_contact_sends_nothing(im):
    a, c = im(), im()
    block(a, c.bare)
    quiet(c, 'no presence for a contact without a subscription')
    unblock(a, c.bare)
    quiet(c)


def test_domain_block_sends_unavailable_to_subscribed_users(im):
    a, b, c = im(), im(), im()
    subscribe_both(a, b)
    block(a, 'localhost')
    got = presences(bsync(b), 'unavailable')
    assert [p.get('from') for p in got] == [a.jid]
    quiet(c)


# -- persistence --------------------------------------------------------------

def test_blocklist_persists_across_restart(make_server, cafile):
    srv = make_server().start()
    ua, pa = srv.new_user('bla')
    ub, pb = srv.new_user('blb')
    a = connect(srv, cafile, ua, pa)
    try:
        block(a, srv.jid(ub), 'x.lit/r', 'montague.lit')
    finally:
        a.close()
    assert srv.stop() == 0, srv.log()[-3000:]
    srv.returncode = None     # start again on the same database
    srv.start()
    # The recipient is offline: its list comes from the store.
    b = connect(srv, cafile, ub, pb)
    try:
        b.message(srv.jid(ua), 'after restart', type_='chat', id_='p')
        e = one(bsync(b), 'error after restart')
        assert error_of(e) == ('cancel', 'service-unavailable'), tostr(e)
        a = connect(srv, cafile, ua, pa)
        try:
            assert blocklist(a) == [srv.jid(ub), 'montague.lit', 'x.lit/r']
            assert not messages(a.initial)
            a.message(b.jid, 'x', type_='chat')
            blocked_error(one(bsync(a), 'outbound'), b.jid)
        finally:
            a.close()
    finally:
        b.close()


# -- slixmpp ------------------------------------------------------------------

def test_slixmpp_xep_0191(server):
    user, pw = server.new_user('sx')
    other, opw = server.new_user('sy')

    async def go():
        c1 = await xmpp_slix.login(server, user, pw, resource='one')
        c2 = await xmpp_slix.login(server, user, pw, resource='two')
        o = await xmpp_slix.login(server, other, opw, resource='o')
        try:
            for c in (c1, c2):
                c.register_plugin('xep_0191')
            pushes = []
            c2.add_event_handler('blocked', lambda iq: pushes.append(
                ('block', sorted(str(j) for j in iq['block']['items']))))
            c2.add_event_handler('unblocked', lambda iq: pushes.append(
                ('unblock', sorted(str(j) for j in iq['unblock']['items']))))
            r = await c2['xep_0191'].get_blocked(timeout=5)
            assert set(r['blocklist']['items']) == set()
            await c1['xep_0191'].block([server.jid(other), 'x.lit'],
                                       timeout=5)
            r = await c1['xep_0191'].get_blocked(timeout=5)
            assert sorted(str(j) for j in r['blocklist']['items']) == \
                sorted([server.jid(other), 'x.lit'])
            # The blocked contact's message bounces.
            m = o.make_message(mto=server.jid(user), mbody='hi', mtype='chat')
            errors = []
            o.add_event_handler('message_error', errors.append)
            m.send()
            await xmpp_slix.ping(o, server.domain)
            await xmpp_slix.ping(o, server.domain)
            assert [e['error']['condition'] for e in errors] == \
                ['service-unavailable']
            await c1['xep_0191'].unblock([server.jid(other)], timeout=5)
            await xmpp_slix.ping(c2, server.domain)
            assert pushes == [('block', sorted([server.jid(other), 'x.lit'])),
                              ('unblock', [server.jid(other)])], pushes
            o.make_message(mto=c1.boundjid.full, mbody='now',
                           mtype='chat').send()
            msg = await c1.next_message()
            assert msg['body'] == 'now'
        finally:
            for c in (c1, c2, o):
                await c.close()
    run(go())
