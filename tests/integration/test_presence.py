"""test_presence.py -- RFC 6121 4: initial presence broadcast to
subscribers and to the user's own available resources (reflected to the
sender too), probes at login answered with each available resource's
last presence or unavailable (4.3), later presence updates (4.4),
unavailable on explicit logout, on a closed stream and on a broken
connection (4.5), directed presence and the unavailable that follows it
(4.6), no presence to non-subscribers, priority parsing, and
subscription-type presence without a 'to'."""

import socket

import pytest

from xmpp_raw import NS_CLIENT, q, tostr
from im_helpers import (PRESENCE, im, presences, reach, settle, error_of,
                        bare)

assert im  # a fixture, used by name

SHOW = q(NS_CLIENT, 'show')
STATUS = q(NS_CLIENT, 'status')
PRIORITY = q(NS_CLIENT, 'priority')


def pres(els, type_='', from_=None):
    return presences(els, type_, from_)


def only(els, what):
    assert len(els) == 1, '%s: %s' % (what, [tostr(e) for e in els])
    return els[0]


def logout(c):
    """Ends the stream properly and waits for the server to close."""
    c.send('</stream:stream>')
    try:
        c.expect_closed(timeout=3)
    except AssertionError:
        pass
    c.close()


def contacts(im, user, states):
    """Logs in one contact per state ('both', 'from', 'to', ...) of user
    (an ImClient) towards it, reaches the state, and returns them."""
    out = {}
    for st in states:
        c = im()
        reach(user, c, st)
        out[st] = c
    return out


# -- initial presence (4.2) and probes (4.3) ----------------------------------

def test_initial_presence_broadcast_and_probes(server, im):
    a = im(resource='first')
    cs = contacts(im, a, ['both', 'from', 'to', 'none'])
    stranger = im()
    a2_user, a2_pw = a.user, a.pw
    # The contacts show presence with some payload.
    cs['to'].presence(show='dnd', status='busy', priority=3)
    settle(cs['to'])
    # A second resource of A that is bound but not available, and then
    # A logs in a new resource and sends initial presence.
    quiet = im(a2_user, a2_pw, roster=False, available=False)
    settle(a, *cs.values(), stranger, quiet)
    n = im(a2_user, a2_pw, resource='second', available=False)
    n.presence(show='chat', status='hello', priority=5)
    got = n.sync()
    # 4.2.2: reflected to the sender.
    mine = only(pres(got, '', n.jid), 'reflected initial presence')
    assert mine.findtext(STATUS) == 'hello' and mine.findtext(SHOW) == 'chat'
    # 4.3.2: probes answered for contacts A is subscribed to ('to',
    # 'both') with each available resource's presence, payload intact.
    to = only(pres(got, '', cs['to'].bare), 'presence of the "to" contact')
    assert to.get('from') == cs['to'].jid
    assert (to.findtext(SHOW), to.findtext(STATUS),
            to.findtext(PRIORITY)) == ('dnd', 'busy', '3'), tostr(to)
    only(pres(got, '', cs['both'].bare), 'presence of the "both" contact')
    # A's other available resource is there too (4.2.2 / 4.4.2).
    only(pres(got, '', a.jid), 'presence of the other available resource')
    assert pres(got, None, cs['from'].bare) == [], \
        'presence of a contact A is not subscribed to'
    assert pres(got, None, cs['none'].bare) == []
    assert pres(got, None, stranger.bare) == []
    # 4.2.2: broadcast to subscribers ('from', 'both') and to A's own
    # available resources, not to others.
    for who in ('both', 'from'):
        p = only(pres(cs[who].sync(), '', n.jid), who)
        assert p.findtext(STATUS) == 'hello', tostr(p)
        assert p.get('to') in (cs[who].jid, cs[who].bare), tostr(p)
    only(pres(a.sync(), '', n.jid), 'own other resource')
    cs['to'].expect_quiet('"to" contact is not a subscriber')
    cs['none'].expect_quiet('no subscription')
    stranger.expect_quiet('stranger')
    quiet.expect_quiet('a resource that is not available gets no presence')


def test_probe_answer_for_offline_contact(server, im):
    a = im()
    b = im()
    reach(a, b, 'to')
    logout(b)
    settle(a)
    n = im(a.user, a.pw, available=False)
    n.presence()
    got = n.wait_for(lambda e: e.tag == PRESENCE and
                     bare(e.get('from')) == b.bare,
                     what='the answer to the probe of an offline contact')
    # 4.3.2: no available resource: unavailable.
    assert got.get('type') == 'unavailable', tostr(got)


def test_probe_answer_lists_every_resource(server, im):
    a, b = im(), im(resource='one')
    reach(a, b, 'to')
    b2 = im(b.user, b.pw, resource='two', available=False)
    b2.presence(status='second', priority=-1)
    b3 = im(b.user, b.pw, resource='three', available=False)  # no presence
    settle(a, b, b2, b3)
    n = im(a.user, a.pw, available=False)
    n.presence()
    got = pres(n.sync(), '', b.bare)
    assert sorted(p.get('from') for p in got) == sorted([b.jid, b2.jid]), \
        [tostr(p) for p in got]
    assert [p.findtext(STATUS) for p in got if p.get('from') == b2.jid] == \
        ['second']


def test_probe_from_non_subscriber_reveals_nothing(server, im):
    """4.3.2: a probe from someone without a subscription gets no
    presence."""
    a, b = im(), im()
    settle(a, b)
    a.presence('probe', to=b.bare)
    a.sync()
    got = a.sync()
    assert pres(got, '', b.bare) == [], [tostr(e) for e in got]
    for p in pres(got, None, b.bare):
        assert p.get('type') in ('unsubscribed', 'unavailable'), tostr(p)


# -- updates (4.4) ------------------------------------------------------------

def test_presence_update_broadcast(server, im):
    a = im()
    cs = contacts(im, a, ['both', 'from', 'to'])
    stranger = im()
    settle(a, *cs.values(), stranger)
    a.presence(show='away', status='lunch')
    got = a.sync()
    # The update is reflected, but no probes this time: nothing from
    # contacts.
    only(pres(got, '', a.jid), 'reflected update')
    assert len(got) == 1, [tostr(e) for e in got]
    for who in ('both', 'from'):
        p = only(pres(cs[who].sync(), '', a.jid), who)
        assert (p.findtext(SHOW), p.findtext(STATUS)) == ('away', 'lunch')
    cs['to'].expect_quiet('not a subscriber')
    stranger.expect_quiet('stranger')


# -- unavailable (4.5) --------------------------------------------------------

def check_unavailable(a, watchers, others=()):
    for w in watchers:
        p = w.wait_for(lambda e: e.tag == PRESENCE and
                       e.get('from') == a.jid,
                       what='unavailable from %s' % a.jid)
        assert p.get('type') == 'unavailable', tostr(p)
    for o in others:
        o.expect_quiet('not a subscriber')


def test_explicit_unavailable(server, im):
    a = im()
    cs = contacts(im, a, ['from', 'to'])
    a2 = im(a.user, a.pw)
    settle(a, a2, *cs.values())
    a.presence('unavailable', status='gone')
    got = a.sync()
    check_unavailable(a, [cs['from'], a2], [cs['to']])
    # No longer available: bare-JID messages go to the other resource.
    cs['from'].message(a.bare, 'only a2', type_='chat')
    cs['from'].sync()
    assert a2.sync()[0].findtext(q(NS_CLIENT, 'body')) == 'only a2'
    assert [e for e in a.sync() if e.tag != PRESENCE] == [], got
    # And it no longer gets presence broadcasts.
    cs['to'].presence(status='changed')
    cs['to'].sync()
    a.expect_quiet('unavailable resource got presence')
    only(pres(a2.sync(), '', cs['to'].bare), 'a2 still gets it')


def test_unavailable_on_stream_close(server, im):
    a = im()
    cs = contacts(im, a, ['both', 'to'])
    a2 = im(a.user, a.pw)
    settle(a, a2, *cs.values())
    logout(a)
    check_unavailable(a, [cs['both'], a2], [cs['to']])


def test_unavailable_on_broken_connection(server, im):
    """4.5.2 (and RFC 6120 4.4): the connection goes without
    </stream:stream> or an unavailable presence."""
    a = im()
    cs = contacts(im, a, ['from'])
    a2 = im(a.user, a.pw)
    settle(a, a2, cs['from'])
    a.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      b'\x01\x00\x00\x00\x00\x00\x00\x00')
    a.sock.close()          # RST, no TLS close_notify, no stream end
    check_unavailable(a, [cs['from'], a2])


def test_no_unavailable_without_available(server, im):
    """A resource that never sent presence ends silently."""
    a = im(available=False)
    b = im()
    reach(b, a, 'to')          # b subscribes to a; a is not available
    settle(a, b)
    logout(a)
    a2 = im(a.user, a.pw, roster=False)   # a barrier after a's end
    a2.close()
    got = b.sync()
    assert pres(got, 'unavailable', a.jid) == [], [tostr(e) for e in got]


# -- directed presence (4.6) --------------------------------------------------

def test_directed_presence_then_logout(server, im):
    a, e = im(), im()
    sub = contacts(im, a, ['from'])['from']
    settle(a, e, sub)
    a.presence(to=e.jid, status='just for you')
    a.sync()
    p = only(pres(e.sync(), '', a.jid), 'directed presence')
    assert p.findtext(STATUS) == 'just for you'
    sub.expect_quiet('directed presence is not broadcast')
    # 4.6.3: the entity gets unavailable when the user goes.
    logout(a)
    check_unavailable(a, [e, sub])


def test_directed_presence_to_bare_jid(server, im):
    a = im()
    e1 = im(resource='e1')
    e2 = im(e1.user, e1.pw, resource='e2')
    settle(a, e1, e2)
    a.presence(to=e1.bare)
    a.sync()
    for c in (e1, e2):
        only(pres(c.sync(), '', a.jid), 'directed presence to bare JID')
    a.presence('unavailable')
    a.sync()
    check_unavailable(a, [e1, e2])


def test_directed_unavailable_ends_it(server, im):
    """After a directed unavailable the entity gets no second one at
    logout (4.6.3)."""
    a, e = im(), im()
    settle(a, e)
    a.presence(to=e.jid)
    a.presence('unavailable', to=e.jid)
    a.sync()
    got = e.sync()
    assert [p.get('type') for p in pres(got, None, a.jid)] == \
        [None, 'unavailable'], [tostr(x) for x in got]
    logout(a)
    a2 = im(a.user, a.pw, roster=False)   # a's end is processed
    a2.close()
    e.expect_quiet('second unavailable after directed unavailable')


def test_presence_not_sent_to_non_subscriber(server, im):
    a, e = im(), im()
    settle(a, e)
    a.presence(status='broadcast')
    a.sync()
    e.expect_quiet('broadcast reached a non-subscriber')


# -- priority and malformed presence ------------------------------------------

@pytest.mark.parametrize('prio', ['abc', '128', '-129', '', '1.5', '1 2',
                                  '99999999999999999999'])
def test_invalid_priority(server, im, prio):
    a = im(available=False)
    sub = im()
    reach(a, sub, 'from')
    a.presence(priority=prio, status='bad')
    got = a.sync()
    err = only([e for e in got if e.get('type') == 'error'], 'the error')
    assert err.tag == PRESENCE, tostr(err)
    assert error_of(err) == ('modify', 'bad-request'), tostr(err)
    assert [e for e in got if e is not err] == []
    sub.expect_quiet('an invalid presence was broadcast')


@pytest.mark.parametrize('prio', ['-128', '127', '0', '+5'])
def test_valid_priority(server, im, prio):
    a = im(available=False)
    a.presence(priority=prio)
    got = a.sync()
    p = only(pres(got, '', a.jid), 'reflected presence')
    assert p.findtext(PRIORITY) == prio


@pytest.mark.parametrize('type_', ['subscribe', 'subscribed', 'unsubscribe',
                                   'unsubscribed', 'probe'])
def test_subscription_type_without_to(server, im, type_):
    """A subscription request (or probe) needs a contact: without 'to'
    it is refused, changes nothing and the session goes on."""
    a = im()
    b = im(a.user, a.pw)
    settle(a, b)
    a.presence(type_)
    got = a.sync()
    assert len(got) == 1 and got[0].tag == PRESENCE, \
        [tostr(e) for e in got]
    assert got[0].get('type') == 'error', tostr(got[0])
    assert error_of(got[0]) == ('modify', 'bad-request'), tostr(got[0])
    b.expect_quiet('nothing for the other resource')
    assert a.roster() == {}


def test_error_presence_without_to_gets_no_error(server, im):
    """RFC 6120 8.3.1: never an error in reply to an error."""
    a = im()
    a.presence('error')
    a.expect_quiet('error in reply to an error')
