"""test_s2s_interop.py -- federation with the reference servers (issue 7).

tern serves t.example (certificate from a throw-away CA, which every
server trusts); Prosody 0.12 serves p.example and ejabberd 23.01
e.example, each with a MUC service, all from Debian, started here with
their own throw-away configuration (tests/integration/s2s_env.py). All
three find each other through one dnsmasq on a free port, nothing else:
SRV records of _xmpp-server._tcp for every domain. A second tern,
d.example, has a self-signed certificate nobody trusts, so it and the
reference servers authenticate each other by dialback.

For each reference server: a message each way, a mutual presence
subscription with presence updates, a remote user in a tern MUC room,
and dialback both ways. Prosody loads its s2s_bidi module, so t.example
and Prosody share one bidirectional stream (XEP-0288); ejabberd has no
XEP-0288. Domains are under .example: Prosody's resolver (libunbound)
answers .test itself.
"""

import asyncio
import re
import time
import xml.etree.ElementTree as ET

import pytest

import s2s_env as E
from conftest import Server
from im_helpers import MESSAGE, PRESENCE, connect
from xmpp_raw import NS_CLIENT, q, tostr
from xmpp_slix import login, run

T, D = 't.example', 'd.example'
PEERS = ('prosody', 'ejabberd')
WAIT = 15
NS_MUC = 'http://jabber.org/protocol/muc'

pytestmark = [
    pytest.mark.skipif(not E.have_dnsmasq(),
                       reason='dnsmasq (dnsmasq-base) not installed'),
    pytest.mark.skipif(not (E.have_prosody() and E.have_ejabberd()),
                       reason='needs prosody and ejabberd (and root)'),
]


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp('interop')
    ca = E.make_ca(base / 'pki')
    started = []
    try:
        dns = E.DnsServer(base / 'dns').start()
        started.append(dns)
        s2s = ('  resolver: {servers: ["%s"]}\n  connect_timeout: 10\n'
               % dns.address)
        t = Server(base / 'tern', *ca.issue('t', [T, 'conference.' + T]),
                   domain=T, s2s=s2s + '  ca_file: %s\n' % ca.ca_path)
        d = Server(base / 'tern-d',
                   *E.self_signed(base / 'self', 'd', [D, 'conference.' + D]),
                   domain=D, s2s=s2s + '  bidi: false\n')
        p = E.ProsodyServer(base / 'prosody', 'p.example',
                            *ca.issue('p', ['p.example',
                                            'conference.p.example']),
                            ca.ca_path, dns.port, muc=True,
                            modules=('s2s_bidi',))
        ej = E.EjabberdServer(base / 'ejabberd', 'e.example',
                              *ca.issue('e', ['e.example',
                                              'conference.e.example']),
                              ca.ca_path, dns.port, muc=True)
        # Records once everything runs: a server that found a port
        # taken at start moved to another.
        t.start()
        d.start()
        for srv in (t, d):
            for dom in (srv.domain, 'conference.' + srv.domain):
                dns.a(dom).srv('_xmpp-server._tcp.' + dom, dom, srv.port_s2s)
        for srv in (p, ej):
            srv.start()
            started.append(srv)
            for dom in (srv.domain, 'conference.' + srv.domain):
                dns.a(dom).srv('_xmpp-server._tcp.' + dom, dom, srv.s2s_port)
        dns.restart()
        yield {'dns': dns, 'ca': ca, 't': t, 'd': d, 'prosody': p,
               'ejabberd': ej}
        for srv in (t, d):
            srv.check_clean_exit()
    finally:
        for obj in reversed(started):
            try:
                obj.stop()
            except Exception as ex:
                print('stopping %r: %s' % (obj, ex))


_n = [0]


def peer_user(world, which):
    """A fresh account on the reference server; (server, user, pw)."""
    srv = world[which]
    _n[0] += 1
    user = 'u%d%s' % (_n[0], which[0])
    pw = 'pw-%d-secret' % _n[0]
    srv.adduser(user, pw)
    return srv, user, pw


async def peer_login(world, which):
    srv, user, pw = peer_user(world, which)
    c = await login(E.slix_target(srv, world['ca'].ca_path), user, pw,
                    mech='PLAIN', timeout=WAIT)
    c.presences = asyncio.Queue()
    c.add_event_handler('presence', c.presences.put_nowait)
    return c


async def next_presence(c, pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError('%s: no %s' % (c.boundjid, what))
        p = await asyncio.wait_for(c.presences.get(), left)
        if pred(p):
            return p


async def next_message(c, body, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        m = await c.next_message(timeout=max(deadline - time.monotonic(),
                                             0.01))
        if m['body'] == body:
            return m


def tern_wait(c, pred, what, timeout=WAIT):
    """Waits in a thread: the raw client blocks."""
    return asyncio.to_thread(c.wait_for, pred, timeout, what)


def tern_wait_all(c, preds, what, timeout=WAIT):
    """Waits until every predicate has matched one element, in any
    order; returns the matches in the order of preds."""
    def wait():
        found = [None] * len(preds)
        deadline = time.monotonic() + timeout
        while None in found:
            left = deadline - time.monotonic()
            el = c.wait_for(lambda e: any(f is None and p(e) for p, f in
                                          zip(preds, found)),
                            max(left, 0.01), what)
            for i, p in enumerate(preds):
                if found[i] is None and p(el):
                    found[i] = el
                    break
        return found
    return asyncio.to_thread(wait)


def body_of(el):
    b = el.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def logged(server, pattern):
    return re.search(pattern, server.log()) is not None


def chat_both_ways(world, tern_srv, which):
    async def main():
        alice = connect(tern_srv, None)
        bob = await peer_login(world, which)
        try:
            alice.message(bob.boundjid.full, 'tern to %s' % which,
                          type_='chat')
            m = await next_message(bob, 'tern to %s' % which)
            assert m['from'] == alice.jid
            bob.send_message(mto=alice.bare, mbody='%s to tern' % which,
                             mtype='chat')
            el = await tern_wait(alice, lambda e: e.tag == MESSAGE and
                                 body_of(e) == '%s to tern' % which,
                                 'message from ' + which)
            assert el.get('from') == bob.boundjid.full
        finally:
            alice.close()
            await bob.close()
    run(main(), timeout=60)


@pytest.mark.parametrize('which', PEERS)
def test_message_each_way(world, which):
    chat_both_ways(world, world['t'], which)
    t, peer = world['t'], re.escape(world[which].domain)
    # Certificates from the common CA: SASL EXTERNAL.
    assert logged(t, r't\.example -> %s: authenticated \(SASL EXTERNAL, '
                     r'TLS\)' % peer), t.log()[-3000:]
    if which == 'prosody':
        # Prosody (with its s2s_bidi module) offers XEP-0288: its answer
        # came back on our stream.
        assert logged(t, r's2s out \d+ in: <message[^>]*from=.u\d+p@%s'
                      % peer), t.log()[-3000:]
    else:
        # ejabberd has no XEP-0288: it opened its own stream to us.
        assert logged(t, r'%s authenticated by SASL EXTERNAL' % peer)


@pytest.mark.parametrize('which', PEERS)
def test_mutual_subscription_and_presence(world, which):
    async def main():
        alice = connect(world['t'], None)
        bob = await peer_login(world, which)
        try:
            bob.send_presence()
            # slixmpp accepts and subscribes back (auto_authorize,
            # auto_subscribe); alice approves that.
            alice.presence('subscribe', to=bob.boundjid.bare)
            await tern_wait_all(alice, [
                lambda e: e.tag == PRESENCE and e.get('type') == 'subscribed',
                lambda e: e.tag == PRESENCE and e.get('type') == 'subscribe',
                lambda e: e.tag == PRESENCE and
                e.get('from') == bob.boundjid.full and e.get('type') is None,
            ], 'subscribed, subscribe back and presence')
            alice.presence('subscribed', to=bob.boundjid.bare)
            # The approval brings alice's presence to bob (probe-free).
            await next_presence(bob, lambda p: p['from'] == alice.jid and
                                p['type'] == 'available',
                                "alice's presence")
            r = alice.roster()
            assert r[bob.boundjid.bare].get('subscription') == 'both', \
                tostr(r[bob.boundjid.bare])
            # Updates both ways.
            alice.presence(show='dnd', status='busy at tern')
            await next_presence(bob, lambda p: p['from'] == alice.jid and
                                p['status'] == 'busy at tern',
                                'presence update from tern')
            bob.send_presence(pshow='away', pstatus='away at %s' % which)
            el = await tern_wait(
                alice, lambda e: e.tag == PRESENCE and
                e.findtext(q(NS_CLIENT, 'status')) == 'away at %s' % which,
                'presence update from ' + which)
            assert el.findtext(q(NS_CLIENT, 'show')) == 'away'
            # The reference server's roster agrees (asked, not cached).
            deadline = time.monotonic() + WAIT
            while True:
                iq = await bob.get_roster(timeout=WAIT)
                items = iq['roster']['items']
                sub = items.get(alice.bare, {}).get('subscription')
                if sub == 'both' or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            assert sub == 'both', items
        finally:
            alice.close()
            await bob.close()
    run(main(), timeout=90)


@pytest.mark.parametrize('which', PEERS)
def test_remote_user_in_tern_room(world, which):
    room = 'interop-%s@conference.%s' % (which, T)

    async def main():
        alice = connect(world['t'], None)
        bob = await peer_login(world, which)
        try:
            alice.send("<presence to='%s/alice'><x xmlns='%s'/></presence>"
                       % (room, NS_MUC))
            await tern_wait(alice, lambda e: e.tag == PRESENCE and
                            e.get('from') == room + '/alice', 'joined')
            r = alice.query('set', "<query xmlns='%s#owner'><x xmlns="
                            "'jabber:x:data' type='submit'/></query>"
                            % NS_MUC, to=room)
            assert r.get('type') == 'result', tostr(r)
            bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>"
                         % (room, NS_MUC))
            p = await next_presence(bob, lambda p: p['from'] == room + '/bob',
                                    'own presence in the room')
            assert p['type'] != 'error', str(p)
            await tern_wait(alice, lambda e: e.tag == PRESENCE and
                            e.get('from') == room + '/bob', 'bob joined')
            bob.send_message(mto=room, mbody='hello room', mtype='groupchat')
            m = await next_message(bob, 'hello room')
            assert m['from'] == room + '/bob'
            el = await tern_wait(alice, lambda e: e.tag == MESSAGE and
                                 body_of(e) == 'hello room', 'groupchat')
            assert el.get('from') == room + '/bob'
            alice.send("<message to='%s' type='groupchat'><body>hi %s</body>"
                       "</message>" % (room, which))
            m = await next_message(bob, 'hi %s' % which)
            assert m['from'] == room + '/alice'
        finally:
            alice.close()
            await bob.close()
    run(main(), timeout=60)


@pytest.mark.parametrize('which', PEERS)
def test_dialback_both_ways(world, which):
    """d.example's self-signed certificate validates nowhere, and it
    trusts no CA: dialback in both directions (d.example does not use
    XEP-0288, so each direction has a stream of its own), keys checked
    with the authoritative servers."""
    chat_both_ways(world, world['d'], which)
    d, peer = world['d'], re.escape(world[which].domain)
    assert logged(d, r'd\.example -> %s: authenticated \(dialback, TLS\)'
                  % peer), d.log()[-3000:]
    assert logged(d, r'%s authenticated by dialback' % peer)
    # The reference server asked d.example (the authoritative server)
    # about d's key, and d asked it about its own.
    assert logged(d, r'dialback key for d\.example -> %s: valid' % peer)
    assert logged(d, r'd\.example -> %s: key valid' % peer)


@pytest.mark.parametrize('which', PEERS)
def test_tern_user_in_remote_room(world, which):
    """The other way round: a tern user in a room of the reference
    server's MUC service (conference.<domain> federates as a domain of
    its own)."""
    room = 'from-tern@conference.%s' % world[which].domain

    async def main():
        bob = await peer_login(world, which)
        alice = connect(world['t'], None)
        try:
            bob.send_raw("<presence to='%s/bob'><x xmlns='%s'/></presence>"
                         % (room, NS_MUC))
            await next_presence(bob, lambda p: p['from'] == room + '/bob',
                                'own presence in the room')
            # Unlock the new room where the service wants that
            # (XEP-0045 10.1.2: an instant room).
            iq = bob.make_iq_set(ito=room)
            iq.xml.append(ET.fromstring(
                "<query xmlns='%s#owner'><x xmlns='jabber:x:data' "
                "type='submit'/></query>" % NS_MUC))
            await iq.send(timeout=WAIT)
            alice.send("<presence to='%s/alice'><x xmlns='%s'/></presence>"
                       % (room, NS_MUC))
            el = await tern_wait(alice, lambda e: e.tag == PRESENCE and
                                 e.get('from') == room + '/alice',
                                 'own presence from the remote room')
            assert el.get('type') is None, tostr(el)
            await next_presence(bob, lambda p: p['from'] == room + '/alice',
                                'alice joined')
            alice.send("<message to='%s' type='groupchat'><body>hi from "
                       "tern</body></message>" % room)
            m = await next_message(bob, 'hi from tern')
            assert m['from'] == room + '/alice'
            el = await tern_wait(alice, lambda e: e.tag == MESSAGE and
                                 body_of(e) == 'hi from tern', 'echo')
            assert el.get('from') == room + '/alice'
            bob.send_message(mto=room, mbody='hello tern', mtype='groupchat')
            el = await tern_wait(alice, lambda e: e.tag == MESSAGE and
                                 body_of(e) == 'hello tern', 'groupchat')
            assert el.get('from') == room + '/bob'
        finally:
            alice.close()
            await bob.close()
    run(main(), timeout=60)
