"""test_delivery.py -- RFC 6121 8.5: where the server delivers a stanza
for a local account. A full JID: that resource (8.5.3.1), whatever its
presence; a bare JID (8.5.2): chat and normal to the available
resource(s) of highest non-negative priority, headline to every
non-negative one, never to a negative priority or a resource that sent
no presence, groupchat refused; a full JID that is not connected
(8.5.3.2): chat and normal as to the bare JID, headline dropped,
groupchat refused, IQ refused; and IQs to a user's bare JID, which the
server answers on the user's behalf (XEP-0030 account identity,
XEP-0199 ping)."""

import pytest

from xmpp_raw import NS_CLIENT, NS_DISCO_INFO, NS_PING, q, tostr
from im_helpers import (BODY, IQ, error_of, im, messages, settle)

assert im  # a fixture, used by name


def bodies(c):
    return [m.findtext(BODY) for m in messages(c.sync())]


@pytest.fixture
def family(im):
    """User b with five resources: p5a and p5b (priority 5), p1
    (priority 1), neg (priority -1), nopres (bound, no presence); and a
    sender a."""
    b = im(resource='p5a', priority=5)
    rs = {'p5a': b,
          'p5b': im(b.user, b.pw, resource='p5b', priority=5),
          'p1': im(b.user, b.pw, resource='p1', priority=1),
          'neg': im(b.user, b.pw, resource='neg', priority=-1),
          'nopres': im(b.user, b.pw, resource='nopres', available=False)}
    a = im()
    settle(a, *rs.values())
    return a, b.bare, rs


def received(rs):
    """{resource: [bodies]} after a barrier on each."""
    return {name: bodies(c) for name, c in rs.items()}


# -- full JID (8.5.3.1) -------------------------------------------------------

def test_full_jid_delivered_to_that_resource_only(family):
    a, b, rs = family
    for name in ('p1', 'neg', 'nopres'):
        a.message(rs[name].jid, 'for ' + name, type_='chat', id_='m-' + name)
    a.sync()
    got = received(rs)
    assert got == {'p5a': [], 'p5b': [], 'p1': ['for p1'],
                   'neg': ['for neg'], 'nopres': ['for nopres']}, got


def test_full_jid_keeps_attributes(family):
    a, b, rs = family
    a.message(rs['p1'].jid, 'x', type_='normal', id_='keep1')
    a.sync()
    m = rs['p1'].sync()[0]
    assert (m.get('from'), m.get('to'), m.get('id'), m.get('type')) == \
        (a.jid, rs['p1'].jid, 'keep1', 'normal'), tostr(m)


# -- bare JID (8.5.2) ---------------------------------------------------------

@pytest.mark.parametrize('type_', ['chat', 'normal', None])
def test_bare_chat_to_highest_priority(family, type_):
    """8.5.2.1.1: chat/normal to the highest priority; a tie goes to all
    of them (a server MAY pick one; tern delivers to each, as Prosody
    and ejabberd do)."""
    a, b, rs = family
    a.message(b, 'to bare', type_=type_)
    a.sync()
    got = received(rs)
    assert got == {'p5a': ['to bare'], 'p5b': ['to bare'], 'p1': [],
                   'neg': [], 'nopres': []}, got


def test_bare_headline_to_all_non_negative(family):
    a, b, rs = family
    a.message(b, 'news', type_='headline')
    a.sync()
    got = received(rs)
    assert got == {'p5a': ['news'], 'p5b': ['news'], 'p1': ['news'],
                   'neg': [], 'nopres': []}, got


def test_bare_follows_priority_changes(family):
    a, b, rs = family
    rs['p1'].presence(priority=10)
    settle(rs['p1'], *rs.values())
    a.message(b, 'now p1', type_='chat')
    a.sync()
    assert received(rs) == {'p5a': [], 'p5b': [], 'p1': ['now p1'],
                            'neg': [], 'nopres': []}


def test_bare_groupchat_refused(family):
    """8.5.2.1.1: groupchat to a bare JID: service-unavailable."""
    a, b, rs = family
    a.message(b, 'room?', type_='groupchat', id_='gc1')
    got = a.sync()
    assert len(got) == 1, [tostr(e) for e in got]
    e = got[0]
    assert e.get('type') == 'error' and e.get('id') == 'gc1', tostr(e)
    assert e.get('from') == b, tostr(e)
    assert error_of(e) == ('cancel', 'service-unavailable'), tostr(e)
    assert all(v == [] for v in received(rs).values())


def test_bare_error_message_dropped(family):
    a, b, rs = family
    a.message(b, 'err', type_='error')
    a.expect_quiet('error messages get no error')
    assert all(v == [] for v in received(rs).values())


def test_negative_priority_only_gets_no_bare_messages(im):
    """8.5.2.1.1: a negative priority never receives bare-JID messages;
    with only such resources the account counts as offline (the message
    is stored, see test_offline.py)."""
    b = im(priority=-5)
    a = im()
    settle(a, b)
    a.message(b.bare, 'stored', type_='chat')
    assert a.sync() == []
    b.expect_quiet('negative priority got a bare-JID message')
    # A positive resource logging in gets it from offline storage.
    b2 = im(b.user, b.pw, resource='pos', priority=0)
    assert [m.findtext(BODY) for m in messages(b2.initial)] == ['stored']


def test_no_presence_gets_no_bare_messages(im):
    b = im(available=False)
    a = im()
    settle(a, b)
    a.message(b.bare, 'for later', type_='chat')
    assert a.sync() == []
    b.expect_quiet('a resource without presence got a bare-JID chat')
    # Once it sends initial presence it gets the stored message.
    b.presence()
    assert [m.findtext(BODY) for m in messages(b.sync())] == ['for later']


# -- full JID not connected (8.5.3.2) -----------------------------------------

@pytest.mark.parametrize('type_', ['chat', 'normal'])
def test_offline_resource_falls_back_to_bare(family, type_):
    a, b, rs = family
    a.message(b + '/gone', 'fallback', type_=type_, id_='fb')
    assert a.sync() == []
    got = received(rs)
    assert got == {'p5a': ['fallback'], 'p5b': ['fallback'], 'p1': [],
                   'neg': [], 'nopres': []}, got


def test_offline_resource_headline_dropped(family):
    a, b, rs = family
    a.message(b + '/gone', 'news', type_='headline')
    a.expect_quiet('headline to a missing resource: silently dropped')
    assert all(v == [] for v in received(rs).values())


def test_offline_resource_groupchat_refused(family):
    a, b, rs = family
    a.message(b + '/gone', 'gc', type_='groupchat', id_='gc2')
    got = a.sync()
    assert len(got) == 1 and got[0].get('id') == 'gc2', \
        [tostr(e) for e in got]
    assert error_of(got[0]) == ('cancel', 'service-unavailable')
    assert all(v == [] for v in received(rs).values())


def test_iq_to_missing_resource_refused(family):
    a, b, rs = family
    r = a.query('get', "<query xmlns='urn:example:q'/>", to=b + '/gone')
    assert error_of(r) == ('cancel', 'service-unavailable'), tostr(r)
    assert all(v == [] for v in received(rs).values())


# -- IQ to a bare JID: answered by the server ---------------------------------

def test_disco_info_of_account(family):
    """XEP-0030 / RFC 6121 8.5.2: the server answers for the account:
    identity account/registered."""
    a, b, rs = family
    r = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=b)
    assert r.get('type') == 'result' and r.get('from') == b, tostr(r)
    ids = [(i.get('category'), i.get('type')) for i in
           r.iter(q(NS_DISCO_INFO, 'identity'))]
    assert ('account', 'registered') in ids, tostr(r)
    assert all(v == [] for v in received(rs).values()), \
        'an IQ to the bare JID reached a resource'


def test_ping_to_bare_jid(family):
    a, b, rs = family
    r = a.query('get', "<ping xmlns='%s'/>" % NS_PING, to=b)
    assert r.get('type') == 'result' and r.get('from') == b, tostr(r)
    assert all(len(c.sync()) == 0 for c in rs.values())


def test_unknown_iq_to_bare_jid(family):
    a, b, rs = family
    r = a.query('get', "<query xmlns='urn:example:nothing'/>", to=b)
    assert error_of(r) == ('cancel', 'service-unavailable'), tostr(r)
    assert r.get('from') == b
    assert all(len(c.sync()) == 0 for c in rs.values())


def test_iq_to_bare_jid_of_unknown_account(im, server):
    """RFC 6121 8.5.1: no such account: an IQ gets service-unavailable
    (answering a ping would also tell that the name is free)."""
    a = im()
    r = a.query('get', "<ping xmlns='%s'/>" % NS_PING,
                to='nobody-%s@%s' % (a.user, server.domain))
    assert r.get('type') == 'error', \
        'ping answered for an account that does not exist: ' + tostr(r)
    assert error_of(r)[1] in ('service-unavailable', 'item-not-found'), \
        tostr(r)


def test_iq_result_to_bare_jid_not_delivered(family):
    a, b, rs = family
    a.send("<iq type='result' id='stray' to='%s'/>" % b)
    a.expect_quiet('no reply to a result')
    assert all(len(c.sync()) == 0 for c in rs.values())


# -- nonexistent user ---------------------------------------------------------

def test_message_to_unknown_user(im, server):
    """RFC 6121 8.5.1: no such account: service-unavailable."""
    a = im()
    to = 'nobody-%s@%s' % (a.user, server.domain)
    a.message(to, 'hello?', type_='chat', id_='nx')
    got = a.sync()
    assert len(got) == 1 and got[0].get('id') == 'nx', [tostr(e)
                                                         for e in got]
    assert got[0].tag == q(NS_CLIENT, 'message')
    assert got[0].get('from') == to
    assert error_of(got[0]) == ('cancel', 'service-unavailable')


def test_presence_to_unknown_user_silently_dropped(im, server):
    """RFC 6121 8.5.1: presence to a nonexistent account is ignored."""
    a = im()
    a.presence(to='nobody-%s@%s' % (a.user, server.domain))
    a.expect_quiet('presence to a nonexistent user')


def test_iq_to_own_bare_jid(im):
    a = im()
    r = a.query('get', "<ping xmlns='%s'/>" % NS_PING, to=a.bare)
    assert r.get('type') == 'result', tostr(r)
    assert r.tag == IQ
