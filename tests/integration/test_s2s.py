"""test_s2s.py -- federation between two ternd instances (issue 7).

Two servers, a.test and b.test, on loopback, find each other through a
real DNS server (dnsmasq on a free port, answering only the records
declared here; tern's s2s.resolver points at it and nothing else):
  _xmpp-server._tcp.a.test            -> a.test, A's STARTTLS s2s port
  _xmpps-server._tcp.b.test           -> b.test, B's direct-TLS port only
                                         (XEP-0368)
  _xmpp-server._tcp.conference.X.test -> X's STARTTLS port
With certificates from a throw-away CA (s2s.ca_file) streams authenticate
with SASL EXTERNAL; with self-signed certificates by dialback; with
s2s.require_valid_certs the self-signed peer is refused. Users are raw
clients (im_helpers) so every stanza is checked as sent and received.
"""

import re
import socket
import threading
import time

import pytest

from conftest import Server, free_port
from im_helpers import MESSAGE, PRESENCE, connect, error_of
from s2s_env import DnsServer, have_dnsmasq, make_ca, self_signed
from xmpp_raw import NS_CLIENT, q, tostr

pytestmark = pytest.mark.skipif(not have_dnsmasq(),
                                reason='dnsmasq (dnsmasq-base) not installed')

A, B = 'a.test', 'b.test'
NS_VCARD = 'vcard-temp'
NS_MUC = 'http://jabber.org/protocol/muc'
NS_MUC_USER = 'http://jabber.org/protocol/muc#user'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
WAIT = 10   # seconds for anything that crosses servers


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp('s2s-pki')
    ca = make_ca(d / 'ca')
    out = {'ca': ca.ca_path}
    for name in (A, B):
        domains = [name, 'conference.' + name]
        out[name] = ca.issue(name.split('.')[0], domains)
        out['self-' + name] = self_signed(d / 'self', name.split('.')[0],
                                          domains)
    return out


def s2s_text(dns, ca=None, extra='', connect_timeout=8):
    text = '  resolver: {servers: ["%s"]}\n' % dns.address
    if ca:
        text += '  ca_file: %s\n' % ca
    return text + '  connect_timeout: %d\n' % connect_timeout + extra


def declare(dns, a, b):
    """The records of the module docstring for servers a and b."""
    dns.clear()
    dns.a(A).a(B).a('conference.' + A).a('conference.' + B)
    dns.srv('_xmpp-server._tcp.' + A, A, a.port_s2s)
    dns.srv('_xmpps-server._tcp.' + B, B, b.port_s2s_direct)
    dns.srv('_xmpp-server._tcp.conference.' + A, 'conference.' + A,
            a.port_s2s)
    dns.srv('_xmpp-server._tcp.conference.' + B, 'conference.' + B,
            b.port_s2s)


def start_pair(tmp, pki, mode, a_extra='', b_extra='', bidi=True):
    """(dns, a, b): mode 'ca' (certificates from the CA, trusted) or
    'self' (self-signed, nothing trusted). bidi=False: each direction on
    a stream of its own (no XEP-0288)."""
    if not bidi:
        a_extra += '  bidi: false\n'
        b_extra += '  bidi: false\n'
    dns = DnsServer(tmp / 'dns').start()
    servers = []
    for name, extra in ((A, a_extra), (B, b_extra)):
        cert, key = pki[name] if mode == 'ca' else pki['self-' + name]
        s = Server(tmp / name, cert, key, domain=name,
                   s2s=s2s_text(dns, pki['ca'] if mode == 'ca' else None,
                                extra))
        servers.append(s)
    # Records after the start: a server that found a port taken moved.
    for s in servers:
        s.start()
    declare(dns, *servers)
    dns.restart()
    return dns, servers[0], servers[1]


def stop_pair(dns, *servers):
    try:
        for s in servers:
            if s.returncode is None:
                s.check_clean_exit()
    finally:
        dns.stop()


@pytest.fixture(scope='module')
def fed(pki, tmp_path_factory):
    """a.test and b.test with CA certificates; a.test's streams idle out
    after 4 s (so later tests also cover streams coming back)."""
    dns, a, b = start_pair(tmp_path_factory.mktemp('fed'), pki, 'ca',
                           a_extra='  idle_timeout: 4\n')
    yield a, b
    stop_pair(dns, a, b)


def wait_for(c, pred, what, timeout=WAIT):
    return c.wait_for(pred, timeout=timeout, what=what)


def body_of(el):
    b = el.find(q(NS_CLIENT, 'body'))
    return b.text if b is not None else None


def chat(sender, receiver, text):
    """sender -> receiver's bare JID; returns what the receiver got."""
    sender.message(receiver.bare, text, type_='chat')
    return wait_for(receiver, lambda e: e.tag == MESSAGE and
                    body_of(e) == text, 'message %r' % text)


def log_has(server, pattern):
    return re.search(pattern, server.log()) is not None


def subscribe_both(alice, bob):
    """A mutual presence subscription between two online clients, each
    step seen arriving on the other side."""
    alice.presence('subscribe', to=bob.bare)
    req = wait_for(bob, lambda e: e.tag == PRESENCE and
                   e.get('type') == 'subscribe', 'subscribe')
    assert req.get('from') == alice.bare
    bob.presence('subscribed', to=alice.bare)
    wait_for(alice, lambda e: e.tag == PRESENCE and
             e.get('type') == 'subscribed', 'subscribed')
    # The subscription brings bob's presence (probe answered).
    wait_for(alice, lambda e: e.tag == PRESENCE and
             e.get('from') == bob.jid and e.get('type') is None,
             "bob's presence")
    bob.presence('subscribe', to=alice.bare)
    wait_for(alice, lambda e: e.tag == PRESENCE and
             e.get('type') == 'subscribe', 'subscribe from bob')
    alice.presence('subscribed', to=bob.bare)
    wait_for(bob, lambda e: e.tag == PRESENCE and
             e.get('from') == alice.jid and e.get('type') is None,
             "alice's presence")


# -- CA certificates: SASL EXTERNAL -------------------------------------------

def test_message_both_ways(fed):
    a, b = fed
    alice, bob = connect(a, None), connect(b, None)
    try:
        got = chat(alice, bob, 'hello from a')
        assert got.get('from') == alice.jid
        assert got.get('to') == bob.bare
        got = chat(bob, alice, 'hello from b')
        assert got.get('from') == bob.jid
        # In order, many at once (queued while the stream comes up, or
        # sent on the live one).
        for i in range(20):
            alice.message(bob.bare, 'n%d' % i, type_='chat')
        for i in range(20):
            el = wait_for(bob, lambda e: e.tag == MESSAGE, 'message n%d' % i)
            assert body_of(el) == 'n%d' % i
    finally:
        alice.close()
        bob.close()
    # One stream for the pair, reused for all of it, and made
    # bidirectional (XEP-0288): b.test answered on it.
    assert len(re.findall(r'a\.test -> b\.test: new stream', a.log())) == 1
    assert log_has(a, r's2s out \d+ a\.test -> b\.test: authenticated '
                      r'\(SASL EXTERNAL, TLS\)')
    assert log_has(b, r'a\.test authenticated by SASL EXTERNAL')
    assert log_has(b, r'bidirectional for b\.test -> a\.test')
    assert not log_has(b, r'b\.test -> a\.test: new stream')
    # b.test publishes only _xmpps-server: a.test used direct TLS.
    assert log_has(a, r'connected to 127\.0\.0\.1:%d \(direct TLS\)'
                   % b.port_s2s_direct)


def test_subscription_and_presence(fed):
    a, b = fed
    alice, bob = connect(a, None), connect(b, None)
    try:
        subscribe_both(alice, bob)
        roster = alice.roster()
        assert roster[bob.bare].get('subscription') == 'both'
        assert bob.roster()[alice.bare].get('subscription') == 'both'
        # Updates are broadcast across.
        alice.presence(show='away', status='lunch')
        el = wait_for(bob, lambda e: e.tag == PRESENCE and
                      e.get('from') == alice.jid and
                      e.findtext(q(NS_CLIENT, 'status')) == 'lunch',
                      'presence update')
        assert el.findtext(q(NS_CLIENT, 'show')) == 'away'
        # A new login of bob probes alice: her presence comes back.
        bob2 = connect(b, None, bob.user, bob.pw, drain=False)
        try:
            el = wait_for(bob2, lambda e: e.tag == PRESENCE and
                          e.get('from') == alice.jid, 'probe answer')
            assert el.findtext(q(NS_CLIENT, 'status')) == 'lunch'
        finally:
            bob2.close()
        # Going offline is seen too.
        alice.presence('unavailable')
        wait_for(bob, lambda e: e.tag == PRESENCE and
                 e.get('from') == alice.jid and
                 e.get('type') == 'unavailable', 'unavailable')
    finally:
        alice.close()
        bob.close()


def test_offline_message(fed):
    a, b = fed
    bob_user, bob_pw = b.new_user('bob')
    alice = connect(a, None)
    try:
        alice.message(b.jid(bob_user), 'while you were out', type_='chat')
        # Stored by b.test once it arrived: poll with fresh logins.
        deadline = time.monotonic() + WAIT
        got = None
        while got is None and time.monotonic() < deadline:
            bob = connect(b, None, bob_user, bob_pw)
            try:
                got = next((e for e in bob.initial if e.tag == MESSAGE), None)
            finally:
                bob.close()
            if got is None:
                time.sleep(0.3)
        assert got is not None, 'offline message never delivered'
        assert body_of(got) == 'while you were out'
        assert got.get('from').startswith(alice.bare)
    finally:
        alice.close()


def test_vcard_and_disco_across(fed):
    a, b = fed
    alice, bob = connect(a, None), connect(b, None)
    try:
        r = alice.query('set', "<vCard xmlns='%s'><FN>Alice A</FN></vCard>"
                        % NS_VCARD)
        assert r.get('type') == 'result', tostr(r)
        r = bob.query('get', "<vCard xmlns='%s'/>" % NS_VCARD,
                      to=alice.bare, timeout=WAIT)
        assert r.get('type') == 'result', tostr(r)
        assert r.get('from') == alice.bare
        assert r.find(q(NS_VCARD, 'vCard')).findtext(
            q(NS_VCARD, 'FN')) == 'Alice A'
        r = bob.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=A,
                      timeout=WAIT)
        assert r.get('type') == 'result', tostr(r)
        ident = r.find(q(NS_DISCO_INFO, 'query')).find(
            q(NS_DISCO_INFO, 'identity'))
        assert ident.get('category') == 'server'
        # An IQ to a user that does not exist over there.
        r = bob.query('get', "<vCard xmlns='%s'/>" % NS_VCARD,
                      to='nobody@' + A, timeout=WAIT)
        assert r.get('type') == 'error'
        assert error_of(r) == ('cancel', 'service-unavailable')
    finally:
        alice.close()
        bob.close()


def muc_presence(c, room_nick, extra=''):
    c.send("<presence to='%s'><x xmlns='%s'/>%s</presence>"
           % (room_nick, NS_MUC, extra))


def test_remote_user_joins_local_room(fed):
    a, b = fed
    room = 'fedroom%d@conference.%s' % (int(time.time() * 1000) % 100000, A)
    alice, bob = connect(a, None), connect(b, None)
    try:
        muc_presence(alice, room + '/alice')
        wait_for(alice, lambda e: e.tag == PRESENCE and
                 e.get('from') == room + '/alice', 'own presence')
        # Instant room (XEP-0045 10.1.2).
        r = alice.query('set', "<query xmlns='%s#owner'><x xmlns='jabber:x:"
                        "data' type='submit'/></query>" % NS_MUC, to=room)
        assert r.get('type') == 'result', tostr(r)
        muc_presence(bob, room + '/bob')
        el = wait_for(bob, lambda e: e.tag == PRESENCE and
                      e.get('from') == room + '/bob', 'join', timeout=WAIT)
        assert el.get('type') is None, tostr(el)
        wait_for(alice, lambda e: e.tag == PRESENCE and
                 e.get('from') == room + '/bob', 'bob joined')
        bob.send("<message to='%s' type='groupchat'><body>hi room</body>"
                 "</message>" % room)
        for c in (alice, bob):
            el = wait_for(c, lambda e: e.tag == MESSAGE and
                          body_of(e) == 'hi room', 'groupchat')
            assert el.get('from') == room + '/bob'
        alice.send("<message to='%s' type='groupchat'><body>welcome</body>"
                   "</message>" % room)
        el = wait_for(bob, lambda e: e.tag == MESSAGE and
                      body_of(e) == 'welcome', 'groupchat to remote')
        assert el.get('from') == room + '/alice'
    finally:
        alice.close()
        bob.close()


def test_unknown_domain_bounces(fed):
    a, _ = fed
    alice = connect(a, None)
    try:
        alice.message('x@nowhere.test', 'anyone?', id_='m1')
        el = wait_for(alice, lambda e: e.tag == MESSAGE and
                      e.get('type') == 'error', 'bounce')
        assert el.get('id') == 'm1'
        assert el.get('from') == 'x@nowhere.test'
        assert error_of(el) == ('cancel', 'remote-server-not-found')
        r = alice.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO,
                        to='nowhere.test', timeout=WAIT)
        assert error_of(r) == ('cancel', 'remote-server-not-found')
    finally:
        alice.close()


def test_idle_stream_closes_and_comes_back(fed):
    a, b = fed
    alice, bob = connect(a, None), connect(b, None)
    try:
        chat(alice, bob, 'before idle')
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and not log_has(
                a, r's2s out \d+ a\.test -> b\.test: idle, closing'):
            time.sleep(0.2)
        assert log_has(a, r'a\.test -> b\.test: idle, closing')
        # Sent at once: they wait, in order, while the stream comes back.
        for i in range(10):
            alice.message(bob.bare, 'q%d' % i, type_='chat')
        for i in range(10):
            el = wait_for(bob, lambda e: e.tag == MESSAGE, 'message q%d' % i)
            assert body_of(el) == 'q%d' % i
    finally:
        alice.close()
        bob.close()


# -- failures -----------------------------------------------------------------

@pytest.fixture
def lonely(pki, tmp_path):
    """a.test alone, with DNS records for servers that fail: dead.test
    (SRV to a closed port), silent.test (accepts, never speaks, via a
    static route), nosrv.test (no SRV: 5269 on an address where nothing
    listens), unavail.test (SRV target '.')."""
    dns = DnsServer(tmp_path / 'dns').start()
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(silent.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=accept, daemon=True)
    t.start()
    a = Server(tmp_path / 'a', *pki[A], domain=A,
               s2s=s2s_text(dns, pki['ca'],
                            '  static: {silent.test: {ip: 127.0.0.1, '
                            'port: %d}}\n  max_queue: 3\n'
                            % silent.getsockname()[1],
                            connect_timeout=2))
    a.start()
    dns.a(A).srv('_xmpp-server._tcp.' + A, A, a.port_s2s)
    dns.a('dead.test').srv('_xmpp-server._tcp.dead.test', 'dead.test',
                           free_port())
    dns.a('nosrv.test', '127.0.0.77')
    dns.srv_unavailable('_xmpp-server._tcp.unavail.test')
    dns.restart()
    yield a
    stop.set()
    t.join()
    for s in held:
        s.close()
    silent.close()
    stop_pair(dns, a)


@pytest.mark.parametrize('domain,cond', [
    ('dead.test', 'remote-server-not-found'),
    ('nosrv.test', 'remote-server-not-found'),
    ('unavail.test', 'remote-server-not-found'),
    ('silent.test', 'remote-server-timeout'),
])
def test_failed_server_bounces(lonely, domain, cond):
    alice = connect(lonely, None)
    try:
        t0 = time.monotonic()
        for i in range(3):
            alice.message('x@' + domain, 'm%d' % i, id_='m%d' % i)
        alice.send("<iq type='result' id='r1' to='x@%s'/>" % domain)
        for i in range(3):
            el = wait_for(alice, lambda e: e.tag == MESSAGE and
                          e.get('type') == 'error', 'bounce %d' % i)
            assert el.get('id') == 'm%d' % i
            assert error_of(el)[1] == cond
        assert time.monotonic() - t0 < 8
        # The iq result was dropped, not bounced.
        alice.expect_quiet()
    finally:
        alice.close()
    assert lonely.alive()


def test_queue_bound_while_setting_up(lonely):
    """s2s.max_queue (3 here) stanzas wait for a stream being set up;
    more bounce at once with resource-constraint."""
    alice = connect(lonely, None)
    try:
        for i in range(5):
            alice.message('x@silent.test', 'q%d' % i, id_='q%d' % i)
        got = {}
        for _ in range(5):
            el = wait_for(alice, lambda e: e.tag == MESSAGE and
                          e.get('type') == 'error', 'bounce')
            got[el.get('id')] = error_of(el)
        assert got['q3'] == ('wait', 'resource-constraint')
        assert got['q4'] == ('wait', 'resource-constraint')
        for i in range(3):
            assert got['q%d' % i] == ('wait', 'remote-server-timeout')
    finally:
        alice.close()


def test_back_off_after_failure(lonely):
    """After a failed stream, stanzas for that server bounce at once
    (no lookups, no connections) for 2 s, then it is tried again."""
    streams = re.compile(r'a\.test -> dead\.test: new stream')
    alice = connect(lonely, None)
    try:
        def bounce(id_):
            alice.message('x@dead.test', 'hello', id_=id_)
            el = wait_for(alice, lambda e: e.tag == MESSAGE and
                          e.get('type') == 'error', 'bounce ' + id_)
            assert el.get('id') == id_
            assert error_of(el) == ('cancel', 'remote-server-not-found')
            return el
        bounce('first')
        assert len(streams.findall(lonely.log())) == 1
        el = bounce('second')
        assert 'next attempt in' in tostr(el)
        assert len(streams.findall(lonely.log())) == 1
        time.sleep(2.2)
        bounce('third')
        assert len(streams.findall(lonely.log())) == 2
        assert log_has(lonely, r'a\.test -> dead\.test: next attempt in 4 s')
    finally:
        alice.close()


# -- each direction on its own stream: SASL EXTERNAL, or dialback -------------

@pytest.mark.parametrize('mode,how', [('ca', 'SASL EXTERNAL'),
                                      ('self', 'dialback')])
def test_own_streams_both_ways(pki, tmp_path, mode, how):
    """With s2s.bidi off each server sends on a stream of its own. CA
    certificates: SASL EXTERNAL; self-signed ones: dialback, each key
    checked with the authoritative server."""
    dns, a, b = start_pair(tmp_path, pki, mode, bidi=False)
    try:
        alice, bob = connect(a, None), connect(b, None)
        try:
            chat(alice, bob, '%s a->b' % how)
            chat(bob, alice, '%s b->a' % how)
        finally:
            alice.close()
            bob.close()
        for s, me, peer in ((a, 'a', 'b'), (b, 'b', 'a')):
            assert log_has(s, r's2s out \d+ %s\.test -> %s\.test: '
                              r'authenticated \(%s, TLS\)' % (me, peer, how))
            assert log_has(s, r'%s\.test authenticated by %s' % (peer, how))
            assert not log_has(s, 'bidirectional')
            if how == 'dialback':
                assert log_has(s, r'dialback key for %s\.test -> %s\.test: '
                                  r'valid' % (me, peer))
    finally:
        stop_pair(dns, a, b)


def test_require_valid_certs_refuses_self_signed(pki, tmp_path):
    dns, a, b = start_pair(tmp_path, pki, 'self', bidi=False,
                           a_extra='  require_valid_certs: true\n')
    try:
        alice, bob = connect(a, None), connect(b, None)
        try:
            alice.message(bob.bare, 'no way', id_='x1')
            el = wait_for(alice, lambda e: e.tag == MESSAGE and
                          e.get('type') == 'error', 'bounce at a')
            assert error_of(el)[1] == 'remote-server-not-found'
            bob.message(alice.bare, 'no way back', id_='x2')
            el = wait_for(bob, lambda e: e.tag == MESSAGE and
                          e.get('type') == 'error', 'bounce at b')
            assert error_of(el)[1] == 'remote-server-not-found'
            # Nothing reached either side.
            alice.expect_quiet()
            bob.expect_quiet()
        finally:
            alice.close()
            bob.close()
        assert log_has(a, r'a\.test -> b\.test: .*certificate')
        assert log_has(a, r'b\.test refused: a valid certificate is '
                          r'required')
        assert not log_has(a, r'authenticated by')
    finally:
        stop_pair(dns, a, b)


# -- PEP across servers (XEP-0163) ---------------------------------------------

def test_pep_across_federation(fed):
    """alice@a.test and bob@b.test with a mutual subscription: a.test
    learns bob's caps by asking his client across the stream (the answer
    comes back to alice's bare JID), sends him alice's PEP notifications
    and, when he logs in again, her last item; bob reads her node."""
    from pep_helpers import (get_items, items_of, new_caps, pep_connect,
                             publish_ok, tune, tune_title)
    a, b = fed
    node = 'http://jabber.org/protocol/tune'
    alice, bob = connect(a, None), connect(b, None)
    try:
        subscribe_both(alice, bob)
        assert alice.roster()[bob.bare].get('subscription') == 'both'
    finally:
        alice.close()
        bob.close()
    caps = new_caps(node)
    alice = pep_connect(a, None, alice.user, alice.pw)
    bob = pep_connect(b, None, bob.user, bob.pw, caps=caps)
    bob2 = None
    try:
        assert (alice.bare, '%s#%s' % (caps.node, caps.ver)) in \
            bob.disco_queries
        publish_ok(alice, node, tune('Dies Natalis'))
        (ev,) = bob.events(1, node, seen=bob.initial, what='notification')
        assert ev.get('from') == alice.bare and ev.get('to') == bob.jid
        r = get_items(bob, node, to=alice.bare)
        assert r.get('type') == 'result', tostr(r)
        (_, payload), = items_of(r, node)
        assert tune_title(payload) == 'Dies Natalis'
        # Another resource with the same caps: no query (cached by
        # hash), the last item at once.
        bob2 = pep_connect(b, None, bob.user, bob.pw, caps=caps)
        (ev,) = bob2.events(1, node, seen=bob2.initial, what='last item')
        assert ev.get('to') == bob2.jid
        assert not bob2.disco_queries
    finally:
        for c in (alice, bob, bob2):
            if c is not None:
                c.close()
