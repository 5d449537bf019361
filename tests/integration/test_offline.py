"""test_offline.py -- XEP-0160 offline messages (with RFC 6121 8.5.2.2):
a chat or normal message with a body for an account with no available
resource is stored and delivered at the next initial presence with an
XEP-0203 <delay/> (from the server's domain), in order, then deleted;
messages without a body, headlines and groupchat are not stored; an
account that does not exist gets service-unavailable, and so does a
full queue (modules: {offline: {max_messages: N}}); a negative-priority
initial presence gets nothing; and a stored message survives a restart
and a SIGKILL of the server once the sender's next ping was answered
(the server holds the sender until the message is committed)."""

import re
import time
from datetime import datetime, timezone

import pytest

from xmpp_raw import NS_CLIENT, NS_PING, q, tostr
import xmpp_slix
from xmpp_slix import run
from im_helpers import (BODY, NS_DELAY, error_of, im, messages, settle)

assert im  # a fixture, used by name

DELAY = q(NS_DELAY, 'delay')
STAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$')


def offline_user(server):
    u, pw = server.new_user('off')
    return u, pw, server.jid(u)


def check_delay(m, domain, before, after):
    d = m.find(DELAY)
    assert d is not None, 'no XEP-0203 delay: ' + tostr(m)
    assert d.get('from') == domain, tostr(m)
    stamp = d.get('stamp')
    assert stamp and STAMP.match(stamp), 'XEP-0082 stamp: %r' % stamp
    t = datetime.strptime(stamp[:19], '%Y-%m-%dT%H:%M:%S').replace(
        tzinfo=timezone.utc).timestamp()
    assert before - 2 <= t <= after + 2, (stamp, before, after)


def test_stored_and_delivered_once(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    t0 = time.time()
    a.message(b, 'while you were out', type_='chat', id_='off1',
              extra="<x xmlns='urn:example:extra'>kept</x>")
    assert a.sync() == [], 'storing must not bounce'
    t1 = time.time()
    # Not at bind, at initial presence.
    c = im(bu, bpw, available=False)
    assert messages(c.initial) == []
    c.presence()
    got = messages(c.sync())
    assert len(got) == 1, [tostr(m) for m in got]
    m = got[0]
    assert m.findtext(BODY) == 'while you were out'
    assert (m.get('from'), m.get('id'), m.get('type')) == \
        (a.jid, 'off1', 'chat'), tostr(m)
    assert m.get('to') in (c.jid, b), tostr(m)
    assert m.findtext('{urn:example:extra}x') == 'kept', tostr(m)
    check_delay(m, server.domain, t0, t1)
    c.close()
    # Deleted once delivered: the next login gets nothing.
    d = im(bu, bpw)
    assert messages(d.initial) == [], [tostr(e) for e in d.initial]


@pytest.mark.slix
def test_slixmpp_gets_offline_message(server, im):
    """A stock client sees the stored message and its XEP-0203 delay."""
    a = im()
    bu, bpw, b = offline_user(server)
    a.message(b, 'saved for slixmpp', type_='chat')
    assert a.sync() == []

    async def go():
        c = await xmpp_slix.login(server, bu, bpw)
        try:
            c.register_plugin('xep_0203')
            c.send_presence()
            m = await c.next_message()
            assert m['body'] == 'saved for slixmpp'
            assert str(m['from']) == a.jid
            assert str(m['delay']['from']) == server.domain
            assert abs(m['delay']['stamp'].timestamp() - time.time()) < 60
        finally:
            await c.close()
    run(go())


def test_order_preserved(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    n = 20
    for i in range(n):
        a.message(b, 'm%d' % i, type_='chat' if i % 2 else None)
    assert a.sync() == []
    c = im(bu, bpw)
    assert [m.findtext(BODY) for m in messages(c.initial)] == \
        ['m%d' % i for i in range(n)]


def test_from_several_senders(server, im):
    a1, a2 = im(), im()
    bu, bpw, b = offline_user(server)
    a1.message(b, 'one')
    a1.sync()
    a2.message(b, 'two')
    a2.sync()
    a1.message(b, 'three')
    a1.sync()
    c = im(bu, bpw)
    got = messages(c.initial)
    assert [(m.get('from'), m.findtext(BODY)) for m in got] == [
        (a1.jid, 'one'), (a2.jid, 'two'), (a1.jid, 'three')]


@pytest.mark.parametrize('stanza', [
    # XEP-0085 chat state only.
    "<message to='%s' type='chat'><active "
    "xmlns='http://jabber.org/protocol/chatstates'/></message>",
    "<message to='%s' type='chat'/>",
    # XEP-0334 / RFC 6121 8.5.2.2.1: headlines are not stored.
    "<message to='%s' type='headline'><body>news</body></message>",
])
def test_not_stored(server, im, stanza):
    a = im()
    bu, bpw, b = offline_user(server)
    a.send(stanza % b)
    a.expect_quiet('no error for what is not stored')
    c = im(bu, bpw)
    assert messages(c.initial) == [], [tostr(e) for e in c.initial]


def test_groupchat_to_offline_user_refused(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    a.message(b, 'gc', type_='groupchat', id_='gc')
    got = a.sync()
    assert len(got) == 1 and error_of(got[0]) == ('cancel',
                                                  'service-unavailable'), \
        [tostr(e) for e in got]
    c = im(bu, bpw)
    assert messages(c.initial) == []


def test_unknown_user(server, im):
    """RFC 6121 8.5.1: service-unavailable, from the address used."""
    a = im()
    to = 'nobody-%s@%s' % (a.user, server.domain)
    a.message(to, 'hello?', type_='chat', id_='nx')
    got = a.sync()
    assert len(got) == 1, [tostr(e) for e in got]
    e = got[0]
    assert (e.get('type'), e.get('id'), e.get('from')) == \
        ('error', 'nx', to), tostr(e)
    assert error_of(e) == ('cancel', 'service-unavailable')


def test_to_full_jid_of_offline_user(server, im):
    """RFC 6121 8.5.3.2.1: chat to a full JID with no session is treated
    as to the bare JID, here: stored."""
    a = im()
    bu, bpw, b = offline_user(server)
    a.message(b + '/phone', 'to a resource', type_='chat')
    assert a.sync() == []
    c = im(bu, bpw)
    assert [m.findtext(BODY) for m in messages(c.initial)] == \
        ['to a resource']


def test_negative_priority_gets_nothing(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    a.message(b, 'wait for a real client')
    a.sync()
    neg = im(bu, bpw, priority=-1)
    assert messages(neg.initial) == []
    # A later positive priority of the same resource is not an initial
    # presence; a new resource is.
    pos = im(bu, bpw, priority=1)
    assert [m.findtext(BODY) for m in messages(pos.initial)] == \
        ['wait for a real client']
    assert messages(neg.sync()) == [], 'negative resource got it'


def test_delivered_to_one_resource_only(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    a.message(b, 'once')
    a.sync()
    c1 = im(bu, bpw, resource='c1')
    c2 = im(bu, bpw, resource='c2')
    settle(c1, c2)
    assert [m.findtext(BODY) for m in messages(c1.initial)] == ['once']
    assert messages(c2.initial) == []


def test_quota(make_server, im, cafile):
    srv = make_server(modules={'offline': {'max_messages': 2}}).start()
    a = im(srv=srv)
    bu, bpw, b = offline_user(srv)
    for i in range(3):
        a.message(b, 'q%d' % i, type_='chat', id_='q%d' % i)
    got = a.sync()
    assert len(got) == 1, [tostr(e) for e in got]
    assert got[0].get('id') == 'q2', tostr(got[0])
    assert error_of(got[0]) == ('cancel', 'service-unavailable')
    c = im(bu, bpw, srv=srv)
    assert [m.findtext(BODY) for m in messages(c.initial)] == ['q0', 'q1']
    c.close()
    # Delivered messages free the quota.
    a.message(b, 'again', type_='chat')
    assert a.sync() == []


# -- durability ---------------------------------------------------------------

@pytest.mark.parametrize('how', ['restart', 'sigkill'])
def test_survives_restart(make_server, cafile, im, how):
    srv = make_server().start()
    a = im(srv=srv)
    bu, bpw, b = offline_user(srv)
    a.message(b, 'durable', type_='chat', id_='dur')
    # The ping's answer means the message was committed (the server holds
    # the sender until then).
    r = a.query('get', "<ping xmlns='%s'/>" % NS_PING, to=srv.domain)
    assert r.get('type') == 'result', tostr(r)
    a.close()
    if how == 'sigkill':
        srv.kill()
    else:
        assert srv.stop() == 0
    srv.returncode = None
    srv.start()
    c = im(bu, bpw, srv=srv)
    got = messages(c.initial)
    assert [(m.findtext(BODY), m.get('id')) for m in got] == \
        [('durable', 'dur')], [tostr(e) for e in c.initial]
    assert got[0].find(q(NS_DELAY, 'delay')) is not None
    c.close()
    d = im(bu, bpw, srv=srv)
    assert messages(d.initial) == []


def test_message_body_stored_verbatim(server, im):
    a = im()
    bu, bpw, b = offline_user(server)
    text = 'a & b < c \u00e9\u4e2d "q" \'s\''
    a.send("<message to='%s' xml:lang='de'><body>a &amp; b &lt; c "
           "\u00e9\u4e2d \"q\" 's'</body><subject>s</subject>"
           "<thread>t1</thread></message>" % b)
    a.sync()
    c = im(bu, bpw)
    m = messages(c.initial)[0]
    assert m.findtext(BODY) == text
    assert m.findtext(q(NS_CLIENT, 'thread')) == 't1'
    assert m.get('{http://www.w3.org/XML/1998/namespace}lang') == 'de'
