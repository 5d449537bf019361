"""test_ext_last.py -- XEP-0012 Last Activity (mod_last): the server's
uptime, an account's time since its last logout with the status of its
last unavailable presence, 0 while it has an available resource, and who
may ask (XEP-0012 3 and 8: the account itself and subscribers; others get
forbidden)."""

from xml.sax.saxutils import escape

from ext_helpers import (IQ, MINIMAL_MODULES, assert_error, connect,
                         disco_info, features, login, logout, result_child,
                         start_with_modules, sync)
from xmpp_raw import NS_CLIENT, q, tostr

import time

NS_LAST = 'jabber:iq:last'
NS_ROSTER = 'jabber:iq:roster'
LAST = "<query xmlns='%s'/>" % NS_LAST
PRESENCE = q(NS_CLIENT, 'presence')


def last(c, to):
    """(seconds, text) of a successful last-activity result."""
    r = c.query('get', LAST, to=to)
    qe = result_child(r, NS_LAST, 'query')
    assert r.get('from') == to, tostr(r)
    assert len(qe) == 0, tostr(r)
    return int(qe.get('seconds')), qe.text or ''


def available(c, status=None):
    body = '<status>%s</status>' % escape(status) if status else ''
    c.send('<presence>%s</presence>' % body)
    sync(c)


def unavailable(c, status=None):
    body = '<status>%s</status>' % escape(status) if status else ''
    c.send("<presence type='unavailable'>%s</presence>" % body)
    sync(c)


def subscribe(fan, star):
    """fan subscribes to star's presence and star approves: star's roster
    then has fan with subscription 'from'."""
    star.query('get', "<query xmlns='%s'/>" % NS_ROSTER)  # interested
    available(star)
    fan.send("<presence type='subscribe' to='%s'/>" % star.bare)
    star.wait_for(lambda e: e.tag == PRESENCE and
                  e.get('type') == 'subscribe', what='subscribe')
    star.send("<presence type='subscribed' to='%s'/>" % fan.bare)

    def pushed_from(e):
        item = e.find('{%s}query/{%s}item' % (NS_ROSTER, NS_ROSTER))
        return (e.tag == IQ and e.get('type') == 'set' and item is not None
                and item.get('jid') == fan.bare and
                item.get('subscription') == 'from')
    star.wait_for(pushed_from, what='roster push subscription=from')


# -- the server -----------------------------------------------------------------

def test_server_uptime(make_server, login):
    t0 = time.time()
    s = make_server().start()
    c = login(s)
    secs, text = last(c, 'localhost')
    assert 0 <= secs <= time.time() - t0 + 1, secs
    assert text == ''  # XEP-0012 5: SHOULD NOT contain character data


# -- an account -------------------------------------------------------------------

def test_own_available_is_zero(server, login):
    a = login(server, resource='one')
    available(a)
    b = login(server, a.user, a.pw, resource='two')
    assert last(b, a.bare) == (0, '')
    assert last(a, a.bare) == (0, '')


def test_own_after_logout_has_status(server, login, cafile):
    a = login(server, resource='one')
    available(a)
    unavailable(a, 'Heading Home')
    logout(a)
    b = login(server, a.user, a.pw, resource='two')  # no presence sent
    secs, text = last(b, a.bare)
    assert 0 <= secs <= 2 and text == 'Heading Home', (secs, text)


def test_logout_without_status(server, login):
    a = login(server, resource='one')
    available(a)
    logout(a)  # the server sends unavailable on our behalf
    b = login(server, a.user, a.pw, resource='two')
    secs, text = last(b, a.bare)
    assert 0 <= secs <= 2 and text == '', (secs, text)


def test_status_forgotten_when_available_again(server, login):
    a = login(server, resource='one')
    available(a)
    unavailable(a, 'brb')
    available(a, 'back')
    logout(a)
    b = login(server, a.user, a.pw, resource='two')
    assert last(b, a.bare)[1] == ''


def test_status_special_characters(server, login):
    a = login(server, resource='one')
    available(a)
    status = "l\u00e0st <&> 'word' \u263a"
    unavailable(a, status)
    logout(a)
    b = login(server, a.user, a.pw, resource='two')
    assert last(b, a.bare)[1] == status


def test_last_resource_counts(server, login):
    a1 = login(server, resource='one')
    a2 = login(server, a1.user, a1.pw, resource='two')
    available(a1)
    available(a2)
    unavailable(a1, 'first gone')
    logout(a1)
    a3 = login(server, a1.user, a1.pw, resource='three')
    assert last(a3, a1.bare) == (0, '')      # two is still available
    unavailable(a2, 'second gone')
    logout(a2)
    # three is still bound (though not available): neither one nor two
    # was the last resource to go, so nothing is recorded yet.
    assert_error(a3.query('get', LAST, to=a1.bare), 'cancel',
                 'item-not-found')
    logout(a3)
    a4 = login(server, a1.user, a1.pw, resource='four')
    secs, text = last(a4, a1.bare)
    assert 0 <= secs <= 2 and text == '', (secs, text)


def test_no_record_is_item_not_found(server, login):
    a = login(server)
    assert_error(a.query('get', LAST, to=a.bare), 'cancel', 'item-not-found')
    # Without 'to' the IQ is for the account itself as well.
    assert_error(a.query('get', LAST), 'cancel', 'item-not-found')


def test_stranger_is_forbidden(server, login):
    a, b = login(server), login(server)
    available(a)
    assert_error(b.query('get', LAST, to=a.bare), 'auth', 'forbidden')
    logout(a)
    assert_error(b.query('get', LAST, to=a.bare), 'auth', 'forbidden')
    # An account that does not exist: RFC 6121 8.5.1.
    assert_error(b.query('get', LAST, to='nobody-here@localhost'), 'cancel',
                 'service-unavailable')


def test_subscriber_may_ask(server, login):
    star, fan = login(server, resource='s'), login(server)
    subscribe(fan, star)
    assert last(fan, star.bare) == (0, '')
    unavailable(star, 'off to bed')
    logout(star)
    secs, text = last(fan, star.bare)
    assert 0 <= secs <= 2 and text == 'off to bed', (secs, text)
    # The subscription is one-way: star may not ask about fan.
    s2 = login(server, star.user, star.pw, resource='s2')
    assert_error(s2.query('get', LAST, to=fan.bare), 'auth', 'forbidden')


def test_seconds_grow(server, login):
    a = login(server, resource='one')
    logout(a)
    b = login(server, a.user, a.pw, resource='two')
    s1 = last(b, a.bare)[0]
    time.sleep(1.1)
    s2 = last(b, a.bare)[0]
    assert s2 >= s1 + 1, (s1, s2)


def test_set_unsupported(server, login):
    a = login(server)
    assert_error(a.query('set', LAST, to='localhost'), 'cancel',
                 'service-unavailable')
    assert_error(a.query('set', LAST), 'cancel', 'service-unavailable')


def test_feature_in_disco(server, login):
    assert NS_LAST in features(disco_info(login(server)))


def test_absent_without_module(make_server, login):
    s = start_with_modules(make_server, MINIMAL_MODULES)
    c = login(s)
    assert NS_LAST not in features(disco_info(c))
    for to in ('localhost', c.bare):
        assert_error(c.query('get', LAST, to=to), 'cancel',
                     'service-unavailable')
