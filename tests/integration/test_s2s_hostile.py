"""test_s2s_hostile.py -- hostile server-to-server peers against ternd.

One ternd serves a.test with a certificate from a throw-away CA that it
also trusts (s2s.ca_file) and a fixed dialback secret, so tests can make
valid keys. Peers are raw sockets (s2s_raw.S2SPeer); the authoritative
servers of the domains they claim are FakeS2SServer instances found
through dnsmasq, answering <db:verify/> as each test decides. A user of
a.test (a raw client) checks that nothing a refused peer sent was
delivered, and the log that each refusal was recorded.
"""

import re
import threading
import time

import pytest

from conftest import Server
from im_helpers import MESSAGE, connect
from s2s_env import DnsServer, have_dnsmasq, make_ca, self_signed
from s2s_raw import (NS_DB, FakeS2SServer, S2SPeer, dialback_key)
from xmpp_raw import (NS_SASL, NS_STANZAS, NS_STREAMS, NS_TLS, Timeout, q,
                      tostr)

pytestmark = pytest.mark.skipif(not have_dnsmasq(),
                                reason='dnsmasq (dnsmasq-base) not installed')

A = 'a.test'
SECRET = 'hostile-test-secret-0123456789'


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    """(a, dns, pki, fakes): ternd for a.test; FakeS2SServer for
    good.test (verifies every key) and liar.test (denies every key);
    strict.test is on require_valid_certs_for."""
    d = tmp_path_factory.mktemp('hostile')
    ca = make_ca(d / 'ca')
    pki = {
        'ca': ca.ca_path,
        A: ca.issue('a', [A, 'conference.' + A]),
        'b.test': ca.issue('b', ['b.test']),
        'self': self_signed(d / 'self', 'x', ['good.test', 'liar.test',
                                              'strict.test']),
    }
    dns = DnsServer(d / 'dns').start()
    fakes = {
        'good.test': FakeS2SServer('good.test', *pki['self'],
                                   verify='valid'),
        'liar.test': FakeS2SServer('liar.test', *pki['self'],
                                   verify='invalid'),
        'strict.test': FakeS2SServer('strict.test', *pki['self'],
                                     verify='valid'),
    }
    a = Server(d / 'a', *pki[A], domain=A,
               s2s='  resolver: {servers: ["%s"]}\n'
                   '  ca_file: %s\n'
                   '  dialback_secret: %s\n'
                   '  require_valid_certs_for: [strict.test]\n'
                   '  connect_timeout: 5\n'
                   % (dns.address, pki['ca'], SECRET))
    a.start()   # first: it may move to other ports
    dns.a(A).srv('_xmpp-server._tcp.' + A, A, a.port_s2s)
    for name, f in fakes.items():
        dns.a(name).srv('_xmpp-server._tcp.' + name, name, f.port)
    dns.restart()
    yield a, dns, pki, fakes
    try:
        a.check_clean_exit()
    finally:
        for f in fakes.values():
            f.stop()
        dns.stop()


def peer(a, from_domain, to=A, **kw):
    return S2SPeer(a.port_s2s, from_domain, to, **kw)


def logged(a, pattern, timeout=3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, a.log()):
            return True
        time.sleep(0.05)
    return False


def db_error(el):
    err = el.find(q('jabber:server', 'error'))
    if err is None:
        err = el.find(q(NS_DB, 'error'))
    if err is None:
        return None
    return [c.tag.split('}', 1)[1] for c in err
            if c.tag.startswith('{%s}' % NS_STANZAS)][0]


@pytest.fixture
def alice(env):
    c = connect(env[0], None)
    yield c
    c.close()


# -- stream level -------------------------------------------------------------

def test_features_before_and_after_tls(env):
    a = env[0]
    with peer(a, 'good.test') as p:
        f = p.open_stream()
        assert p.requires_starttls()
        assert not p.offers_dialback()        # only after TLS
        assert p.header.get('from') == A
        p.starttls()
        assert p.offers_dialback()
        # A self-signed certificate (or none): no SASL EXTERNAL.
        assert p.features.find(q(NS_SASL, 'mechanisms')) is None, tostr(f)


def test_direct_tls_listener(env):
    a, _, pki, _ = env
    with S2SPeer(a.port_s2s_direct, 'b.test', A, direct_tls=True,
                 certfile=pki['b.test'][0], keyfile=pki['b.test'][1],
                 cafile=pki['ca']) as p:
        p.open_stream()
        assert not p.offers_starttls()
        assert p.offers_dialback()
        mechs = p.features.find(q(NS_SASL, 'mechanisms'))
        assert mechs is not None and [m.text for m in mechs] == ['EXTERNAL']


def test_unknown_host(env):
    a = env[0]
    with peer(a, 'good.test', to='other.test') as p:
        p.send(p.header_text())
        p.expect_stream_error('host-unknown')
    with peer(a, 'good.test') as p:
        p.send(p.header_text(to=''))
        p.expect_stream_error('host-unknown')
    assert logged(a, r'closing with host-unknown')


def test_wrong_namespace_and_version(env):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.send(p.header_text(xmlns='jabber:client'))
        p.expect_stream_error('invalid-namespace')
    with peer(a, 'good.test') as p:
        p.send(p.header_text(version=None))
        p.expect_stream_error('unsupported-version')


def test_stream_from_a_local_domain(env):
    a = env[0]
    with peer(a, A) as p:
        p.send(p.header_text())
        p.expect_stream_error('invalid-from')


def test_restart_may_not_change_from(env):
    a, _, pki, _ = env
    cert, key = pki['b.test']
    with peer(a, 'b.test', certfile=cert, keyfile=key) as p:
        p.connect_secure()
        el = p.sasl_external(restart=False)
        assert el.tag == q(NS_SASL, 'success'), tostr(el)
        p._reset_parser()
        p.header = None
        p.send(p.header_text(from_='liar.test'))
        p.expect_stream_error('invalid-from')


def test_plaintext_after_starttls_is_dropped(env):
    """Bytes pipelined behind <starttls/> are never read (STARTTLS
    injection): the db:verify sent with it gets no answer."""
    a = env[0]
    key = dialback_key(SECRET, 'asker.test', A, 'sid')
    with peer(a, 'asker.test') as p:
        p.open_stream()
        p.send("<starttls xmlns='%s'/><db:verify from='asker.test' to='%s' "
               "id='sid'>%s</db:verify>" % (NS_TLS, A, key))
        el = p.recv()
        assert el.tag == q(NS_TLS, 'proceed'), tostr(el)
        p._wrap_tls()
        p._reset_parser()
        p.header = None
        p.open_stream()
        p.expect_nothing(timeout=0.5)
        # The same request after TLS is answered.
        p.send_db_verify(key, 'sid')
        assert p.wait_db_verify().get('type') == 'valid'


def test_connection_churn_leaves_nothing(env, alice):
    """Hundreds of peers that connect and vanish at every stage: the
    server keeps serving, and LeakSanitizer (at teardown) finds nothing."""
    import socket
    a = env[0]
    for i in range(150):
        s = socket.create_connection(('127.0.0.1', a.port_s2s), timeout=3)
        if i % 3:
            s.sendall(p_header(i).encode())
        if i % 3 == 2:
            s.sendall(b"<starttls xmlns='%s'/>" % NS_TLS.encode())
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b'\x01\x00\x00\x00\x00\x00\x00\x00')
        s.close()      # RST
    for i in range(20):
        with peer(a, 'good.test') as p:
            p.connect_secure()
            p.send_db_result('00')
        # gone mid-verification
    with peer(a, 'good.test') as p:
        p.connect_secure()
        assert p.dialback('x', timeout=8) == 'valid'
        p.send_message(alice.jid, 'still@good.test', body='alive')
        alice.wait_for(lambda e: e.tag == MESSAGE, timeout=5,
                       what='message after the churn')


def p_header(i):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            "xmlns:db='jabber:server:dialback' from='c%d.test' to='%s' "
            "version='1.0'>" % (i, A))


def test_stanza_before_tls(env, alice):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.open_stream()
        p.send_message(alice.jid, 'x@good.test', body='plaintext')
        p.expect_stream_error('not-authorized')
    alice.expect_quiet()


def test_stanza_before_authentication(env, alice):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.connect_secure()
        p.send_message(alice.jid, 'x@good.test', body='too early')
        p.expect_stream_error('not-authorized')
    alice.expect_quiet()
    assert logged(a, r'closing with not-authorized: Stanza before '
                     r'authentication')


def test_preauth_flood_and_dtd(env):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.connect_secure()
        p.send('<db:verify from="x" to="y">' + 'A' * 20000 + '</db:verify>',
               ignore_errors=True)
        p.expect_stream_error('policy-violation')
    with peer(a, 'good.test') as p:
        p.send("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e 'x'>]>"
               + p.header_text(), ignore_errors=True)
        p.expect_stream_error('restricted-xml')


# -- dialback -----------------------------------------------------------------

def test_dialback_verified_then_forged_from(env, alice):
    a, _, _, fakes = env
    good = fakes['good.test']
    with peer(a, 'good.test') as p:
        p.connect_secure()
        p.send_db_result('0123456789abcdef')
        r = p.wait_db_result(timeout=8)
        assert r.get('type') == 'valid', tostr(r)
        assert r.get('from') == A and r.get('to') == 'good.test'
        # tern asked good.test's authoritative server over a fresh
        # connection, with our stream id and the key as sent.
        v = good.wait_element(lambda e: e.tag == q(NS_DB, 'verify') and
                              e.get('id') == p.stream_id, timeout=5,
                              what='<db:verify/> about this stream')
        assert v.get('from') == A and v.get('to') == 'good.test'
        assert (v.text or '').strip() == '0123456789abcdef'
        p.send_message(alice.jid, 'someone@good.test/r', body='legit')
        el = alice.wait_for(lambda e: e.tag == MESSAGE, timeout=5,
                            what='message from good.test')
        assert el.get('from') == 'someone@good.test/r'
        # Another domain on the same stream: refused, nothing delivered.
        p.send_message(alice.jid, 'mallory@other.test', body='forged')
        p.expect_stream_error('invalid-from')
    alice.expect_quiet()
    assert logged(a, r'message from mallory@other\.test, a domain not '
                     r'authenticated on this stream')


def test_forged_local_domain(env, alice):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.connect_secure()
        # Dialback for our own domain: not something a peer can own.
        p.send_db_result('00', from_=A)
        r = p.wait_db_result()
        assert r.get('type') == 'error'
        assert db_error(r) == 'improper-addressing'
        assert p.dialback('whatever', timeout=8) == 'valid'
        p.send_message(alice.jid, alice.bare, body='from alice herself?')
        p.expect_stream_error('invalid-from')
    alice.expect_quiet()


def test_dialback_denied_by_authoritative_server(env, alice):
    a, _, _, fakes = env
    with peer(a, 'liar.test') as p:
        p.connect_secure()
        p.send_db_result('deadbeef')
        r = p.wait_db_result(timeout=8)
        assert r.get('type') == 'invalid', tostr(r)
        p.expect_stream_error('not-authorized')
    fakes['liar.test'].wait_verify()
    alice.expect_quiet()
    assert logged(a, r'dialback key for liar\.test -> a\.test denied by its '
                     r'authoritative server')


def test_dialback_for_unhosted_or_policy(env):
    a, _, _, fakes = env
    with peer(a, 'strict.test') as p:
        p.connect_secure()
        p.send_db_result('00', to='elsewhere.test')
        r = p.wait_db_result()
        assert r.get('type') == 'error' and db_error(r) == 'item-not-found'
        # strict.test must present a valid certificate: no dialback.
        p.send_db_result('00')
        r = p.wait_db_result()
        assert r.get('type') == 'error' and db_error(r) == 'not-authorized'
    assert not [el for _, el in fakes['strict.test'].received
                if el.tag == q(NS_DB, 'verify')]
    assert logged(a, r'strict\.test refused: a valid certificate is '
                     r'required')


def test_dialback_requests_are_bounded(env):
    """Each request makes us look up and connect to the claimed
    domain's server: 64 per stream, then the stream ends."""
    a = env[0]
    with peer(a, 'good.test') as p:
        p.connect_secure()
        for i in range(64):
            p.send_db_result('00', from_='nx%d.test' % i)
            r = p.wait_db_result(timeout=8)
            assert r.get('type') == 'error', tostr(r)
            assert db_error(r) == 'remote-server-not-found', tostr(r)
        p.send_db_result('00', from_='nx64.test')
        p.expect_stream_error('policy-violation')


def test_dialback_before_tls_refused(env):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.open_stream()
        p.send_db_result('00')
        r = p.wait_db_result()
        assert r.get('type') == 'error' and db_error(r) == 'policy-violation'


def test_verify_requests_are_answered(env):
    """We are the authoritative server of a.test: keys made with our
    secret for (receiving, a.test, id) are valid, others not."""
    a = env[0]
    with peer(a, 'asker.test') as p:
        p.open_stream()     # answered even before TLS
        good = dialback_key(SECRET, 'asker.test', A, 'stream-1')
        p.send_db_verify(good, 'stream-1')
        v = p.wait_db_verify()
        assert (v.get('type'), v.get('from'), v.get('to'), v.get('id')) == (
            'valid', A, 'asker.test', 'stream-1')
        p.send_db_verify(good, 'stream-2')
        assert p.wait_db_verify().get('type') == 'invalid'
        p.send_db_verify(dialback_key(SECRET, 'other.test', A, 'stream-1'),
                         'stream-1')
        assert p.wait_db_verify().get('type') == 'invalid'
        p.send_db_verify(good, 'stream-1', to='elsewhere.test')
        v = p.wait_db_verify()
        assert v.get('type') == 'error' and db_error(v) == 'item-not-found'


# -- SASL EXTERNAL ------------------------------------------------------------

def test_sasl_external_only_for_the_named_domain(env, alice):
    """A valid certificate for b.test authenticates b.test, and nothing
    else (CVE-2021-32919)."""
    a, _, pki, fakes = env
    cert, key = pki['b.test']
    # Claiming another domain: EXTERNAL is not even offered.
    with peer(a, 'liar.test', certfile=cert, keyfile=key) as p:
        f = p.connect_secure()
        assert f.find(q(NS_SASL, 'mechanisms')) is None, tostr(f)
        el = p.sasl_external()
        assert el.tag == q(NS_SASL, 'failure')
        assert el.find(q(NS_SASL, 'not-authorized')) is not None
    with peer(a, 'b.test', certfile=cert, keyfile=key) as p:
        p.connect_secure()
        el = p.sasl_external(authzid='liar.test', restart=False)
        assert el.find(q(NS_SASL, 'invalid-authzid')) is not None, tostr(el)
        el = p.sasl_external(authzid='b.test')
        assert el.tag == q(NS_SASL, 'success'), tostr(el)
        p.send_message(alice.jid, 'bob@b.test/x', body='with a certificate')
        got = alice.wait_for(lambda e: e.tag == MESSAGE, timeout=5,
                             what='message from b.test')
        assert got.get('from') == 'bob@b.test/x'
        # Dialback for liar.test on this stream is checked on its own
        # merits (and denied), not waved through by b.test's certificate.
        p.send_db_result('feed', from_='liar.test')
        r = p.wait_db_result(timeout=8)
        assert r.get('type') == 'invalid'
        p.expect_stream_error('not-authorized')
    alice.expect_quiet()


# -- XEP-0288 -----------------------------------------------------------------

def test_bidi_carries_our_stanzas_back(env, alice):
    a = env[0]
    streams = re.compile(r'a\.test -> good\.test: new stream')
    before = len(streams.findall(a.log()))
    with peer(a, 'good.test') as p:
        p.connect_secure()
        assert p.features.find(q('urn:xmpp:features:bidi', 'bidi')) \
            is not None, tostr(p.features)
        p.send("<bidi xmlns='urn:xmpp:bidi'/>")
        assert p.dialback('any', timeout=8) == 'valid'
        alice.message('carol@good.test/x', 'over bidi', type_='chat')
        el = p.wait_for(lambda e: e.tag == q('jabber:server', 'message'),
                        timeout=5, what='message on the bidi stream')
        assert el.get('from') == alice.jid
        assert el.get('to') == 'carol@good.test/x'
        assert el.findtext(q('jabber:server', 'body')) == 'over bidi'
        # Only the pair it authenticated: liar.test gets its own stream.
        alice.message('x@liar.test', 'not for you', type_='chat')
        p.expect_nothing(timeout=1)
    # No stream of ours to good.test was needed (only the verification
    # connection to its authoritative server).
    assert len(streams.findall(a.log())) == before
    assert logged(a, r'bidirectional for a\.test -> good\.test')


def test_bidi_outbound_checks_what_comes_back(env, alice):
    """We ask a peer offering XEP-0288 for a bidirectional stream; what
    it sends back on it must come from the domain we connected to."""
    a, dns, pki, fakes = env
    jid = alice.jid
    legit = ("<message xmlns='jabber:server' from='carol@bidi.test/r' "
             "to='%s' type='chat'><body>back on your stream</body>"
             "</message>" % jid)
    forged = ("<message xmlns='jabber:server' from='eve@other.test/r' "
              "to='%s' type='chat'><body>forged</body></message>" % jid)

    def result(el, conn):
        threading.Timer(0.3, conn.send, (legit,)).start()
        threading.Timer(0.6, conn.send, (forged,)).start()
        return 'valid'
    fake = FakeS2SServer('bidi.test', *pki['self'], result=result,
                         extra_features="<bidi xmlns='urn:xmpp:features:"
                                        "bidi'/>")
    try:
        dns.a('bidi.test').srv('_xmpp-server._tcp.bidi.test', 'bidi.test',
                               fake.port)
        dns.restart()
        alice.message('carol@bidi.test', 'hello bidi', type_='chat')
        fake.wait_element(lambda e: e.tag == q('urn:xmpp:bidi', 'bidi'),
                          timeout=8, what='<bidi/> request')
        got = alice.wait_for(lambda e: e.tag == MESSAGE, timeout=5,
                             what='message back on our stream')
        assert got.get('from') == 'carol@bidi.test/r'
        err = fake.wait_element(
            lambda e: e.tag == q('http://etherx.jabber.org/streams', 'error'),
            timeout=5, what='our stream error')
        assert err.find(q(NS_STREAMS, 'invalid-from')) is not None, tostr(err)
        alice.expect_quiet()
        assert logged(a, r'message from eve@other\.test/r, a domain not '
                         r'authenticated on this stream')
    finally:
        fake.stop()


def test_remote_probe_learns_nothing(env, alice):
    """A remote JID with no subscription probes a local user who is
    online: no presence comes back (RFC 6121 4.3.2), at most
    'unsubscribed'; a subscription request is only passed on."""
    a = env[0]
    alice.presence(status='secret status')
    alice.sync()
    with peer(a, 'good.test') as p:
        p.connect_secure()
        p.send("<bidi xmlns='urn:xmpp:bidi'/>")
        assert p.dialback('any', timeout=8) == 'valid'
        p.send("<presence xmlns='jabber:server' type='probe' "
               "from='mallory@good.test' to='%s'/>" % alice.bare)
        p.send("<presence xmlns='jabber:server' type='probe' "
               "from='mallory@good.test/r' to='%s'/>" % alice.jid)
        p.send("<presence xmlns='jabber:server' type='subscribe' "
               "from='mallory@good.test' to='%s'/>" % alice.bare)
        req = alice.wait_for(lambda e: e.tag == q('jabber:client',
                                                  'presence') and
                             e.get('type') == 'subscribe', timeout=5,
                             what='subscription request')
        assert req.get('from') == 'mallory@good.test'
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            try:
                el = p.recv(timeout=0.3)
            except Timeout:
                continue
            assert el.tag == q('jabber:server', 'presence'), tostr(el)
            assert el.get('type') in ('unsubscribed', 'unavailable',
                                      'error'), tostr(el)
            assert 'secret' not in tostr(el)


def test_without_bidi_we_connect_ourselves(env, alice):
    a, _, _, fakes = env
    good = fakes['good.test']
    with peer(a, 'good.test') as p:
        p.connect_secure()
        assert p.dialback('any', timeout=8) == 'valid'
        alice.message('dave@good.test', 'on our own stream', type_='chat')
        el = good.wait_element(lambda e: e.tag == q('jabber:server',
                                                    'message'),
                               timeout=8, what='message at good.test')
        assert el.get('from') == alice.jid
        p.expect_nothing(timeout=0.5)


def test_starttls_twice(env):
    a = env[0]
    with peer(a, 'good.test') as p:
        p.connect_secure()
        p.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = p.recv()
        assert el.tag == q(NS_TLS, 'failure')
