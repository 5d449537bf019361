"""test_s2s_harness.py -- checks the federation test harness (s2s_env.py,
s2s_raw.py) with no tern involved: the DNS server answers exactly what
was declared; Prosody and ejabberd, resolving only through it, federate
with each other (certificates from the throw-away CA); the raw s2s peer
and the fake authoritative server carry out XEP-0220 dialback against
both; dialback_key is XEP-0185.

Domains are under .example, not .test: Prosody's libunbound serves .test
itself and never asks the DNS server (see s2s_env).
"""


import pytest
import yaml

import s2s_env as E
import s2s_raw as R
from xmpp_raw import NS_SASL, NS_TLS, q, tostr
from xmpp_slix import login, run

pytestmark = pytest.mark.skipif(not E.have_dnsmasq(),
                                reason='dnsmasq (dnsmasq-base) not installed')

need_servers = pytest.mark.skipif(
    not (E.have_prosody() and E.have_ejabberd()),
    reason='needs prosody and ejabberd installed (and root, for ejabberd)')

P_DOMAIN, E_DOMAIN = 'p.example', 'e.example'
BAD, GOOD = 'liar.example', 'honest.example'   # fake authoritative servers


# ---------------------------------------------------------------------------
# pure functions

def test_dialback_key_xep0185_example():
    assert R.dialback_key('s3cr3tf0rd14lb4ck', 'xmpp.example.com',
                          'example.org', 'D60000229F') == \
        '37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643'
    # XEP-0220 example 1: montague.example receiving, capulet originating
    assert R.dialback_key(b's3cr3tf0rd14lb4ck', 'montague.example',
                          'capulet.example', 'D60000229F') == \
        'b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3'


def test_tern_s2s_config_shape(tmp_path):
    text = E.tern_s2s_config(
        5269, 5270, 40053, ca_file=tmp_path / 'ca.pem',
        require_valid_certs=True,
        static={'other.example': {'ip': '127.0.0.1', 'port': 40269,
                                  'tls': 'direct'}},
        dialback_secret='0123456789abcdef0123')
    doc = yaml.safe_load(text)
    assert doc == {'s2s': {
        'ca_file': str(tmp_path / 'ca.pem'),
        'require_valid_certs': True,
        'resolver': {'servers': ['127.0.0.1:40053']},
        'static': {'other.example': {'ip': '127.0.0.1', 'port': 40269,
                                     'tls': 'direct'}},
        'idle_timeout': 300,
        'dialback_secret': '0123456789abcdef0123'}}
    listen = yaml.safe_load('listen:\n' + E.tern_s2s_listen(41000, 41001))
    assert listen == {'listen': [
        {'ip': '127.0.0.1', 'port': 41000, 'service': 's2s'},
        {'ip': '127.0.0.1', 'port': 41001, 'service': 's2s',
         'tls': 'direct'}]}


def test_ca_issues_chain_with_srv_id(tmp_path):
    import ssl
    ca = E.make_ca(tmp_path)
    cert, key = ca.issue('leaf', ['a.example', 'conference.a.example'])
    text = E._openssl('x509', '-in', cert, '-noout', '-text')
    assert 'DNS:a.example, DNS:conference.a.example' in text
    assert 'SRVName::_xmpp-server.a.example' in text
    assert 'TLS Web Server Authentication, TLS Web Client Authentication' \
        in text
    E._openssl('verify', '-CAfile', ca.ca_path, cert)
    ctx = ssl.create_default_context(cafile=ca.ca_path)
    ctx.load_cert_chain(cert, key)          # the key matches
    sc, sk = E.self_signed(tmp_path, 'self', ['b.example'])
    text = E._openssl('x509', '-in', sc, '-noout', '-text')
    assert 'DNS:b.example' in text and 'SRVName::_xmpp-server.b.example' \
        in text


# ---------------------------------------------------------------------------
# (a) DNS

def test_dns_answers_declared_records_only(tmp_path):
    dns = E.DnsServer(tmp_path)
    dns.a('a.example', '127.0.0.1').a('b.example', '127.0.0.2')
    dns.srv('_xmpp-server._tcp.a.example', 'b.example', 40123, 0, 5)
    dns.srv('_xmpp-server._tcp.a.example', 'a.example', 40124, 10, 1)
    dns.srv_unavailable('_xmpps-server._tcp.a.example')
    try:
        dns.start()
        assert dns.query('a.example') == ('NOERROR', [('A', '127.0.0.1')])
        assert dns.query('b.example', tcp=True) == \
            ('NOERROR', [('A', '127.0.0.2')])
        rc, srv = dns.query('_xmpp-server._tcp.a.example', 'SRV')
        assert rc == 'NOERROR'
        assert sorted(srv) == [('SRV', 0, 5, 40123, 'b.example'),
                               ('SRV', 10, 1, 40124, 'a.example')]
        rc, srv = dns.query('_xmpps-server._tcp.a.example', 'SRV', tcp=True)
        assert (rc, [r[4] for r in srv]) == ('NOERROR', [''])   # target '.'
        # a declared name without AAAA: no data, not NXDOMAIN
        assert dns.query('a.example', 'AAAA') == ('NOERROR', [])
        # nothing else exists: not /etc/hosts, not upstream
        for name, qtype in [('localhost', 'A'), ('localhost', 'AAAA'),
                            ('example.com', 'A'), ('c.example', 'A'),
                            ('_xmpp-server._tcp.b.example', 'SRV'),
                            ('_xmpp-server._tcp.example.com', 'SRV')]:
            assert dns.query(name, qtype) == ('NXDOMAIN', []), name
        assert dns.query('localhost', tcp=True) == ('NXDOMAIN', [])
        assert 'forwarded' not in dns.log()
        # new records on restart, same port
        port = dns.port
        dns.a('c.example', '127.0.0.3').restart()
        assert dns.port == port
        assert dns.query('c.example') == ('NOERROR', [('A', '127.0.0.3')])
        assert ('SRV', '_xmpp-server._tcp.a.example') in dns.queries()
    finally:
        dns.stop()
    assert not dns.alive()


# ---------------------------------------------------------------------------
# (b) Prosody <-> ejabberd through the DNS server

@pytest.fixture(scope='module')
def fed(tmp_path_factory):
    """DNS server, Prosody (p.example), ejabberd (e.example), two fake
    authoritative servers (liar.example answers <db:verify/> invalid,
    honest.example valid); all stopped at the end whatever happens."""
    if not (E.have_prosody() and E.have_ejabberd()):
        pytest.skip('needs prosody and ejabberd installed (and root)')
    base = tmp_path_factory.mktemp('fed')
    ca = E.make_ca(base / 'pki')
    certs = {d: ca.issue(d.split('.')[0], [d, 'conference.' + d])
             for d in (P_DOMAIN, E_DOMAIN, BAD, GOOD)}
    started = []
    try:
        dns = E.DnsServer(base / 'dns')
        started.append(dns)
        dns.start()
        bad = R.FakeAuthoritative(BAD, *certs[BAD], verify='invalid')
        started.append(bad)
        good = R.FakeAuthoritative(GOOD, *certs[GOOD], verify='valid')
        started.append(good)
        p = E.ProsodyServer(base / 'prosody', P_DOMAIN, *certs[P_DOMAIN],
                            ca.ca_path, dns.port, muc=True)
        started.append(p)
        ej = E.EjabberdServer(base / 'ejabberd', E_DOMAIN, *certs[E_DOMAIN],
                              ca.ca_path, dns.port, muc=True)
        started.append(ej)
        p.start()
        ej.start()
        for dom, port in ((P_DOMAIN, p.s2s_port), (E_DOMAIN, ej.s2s_port),
                          (BAD, bad.port), (GOOD, good.port)):
            dns.a(dom, '127.0.0.1')
            dns.srv('_xmpp-server._tcp.' + dom, dom, port)
        dns.restart()
        p.adduser('alice', 'alice-pw-123')
        ej.adduser('bob', 'bob-pw-12345')
        yield dict(ca=ca, dns=dns, p=p, e=ej, bad=bad, good=good)
    finally:
        for obj in reversed(started):
            try:
                obj.stop()
            except Exception as ex:      # keep stopping the others
                print('stopping %r: %s' % (obj, ex))


@need_servers
def test_prosody_and_ejabberd_federate(fed):
    p, ej, ca = fed['p'], fed['e'], fed['ca']

    async def main():
        a = await login(E.slix_target(p, ca.ca_path), 'alice',
                        'alice-pw-123', mech='PLAIN')
        b = await login(E.slix_target(ej, ca.ca_path), 'bob',
                        'bob-pw-12345', mech='PLAIN')
        try:
            a.send_message(mto=b.boundjid.full, mbody='p to e',
                           mtype='chat')
            m = await b.next_message(timeout=15)
            assert (m['body'], m['from'].full) == ('p to e',
                                                   a.boundjid.full)
            b.send_message(mto=a.boundjid.full, mbody='e to p',
                           mtype='chat')
            m = await a.next_message(timeout=15)
            assert (m['body'], m['from'].full) == ('e to p',
                                                   b.boundjid.full)
        finally:
            await a.close()
            await b.close()
    run(main(), timeout=40)
    # each found the other through the DNS server
    queries = fed['dns'].queries()
    for dom in (P_DOMAIN, E_DOMAIN):
        assert ('SRV', '_xmpp-server._tcp.' + dom) in queries, queries
        assert ('A', dom) in queries, queries
    assert p.wait_log('Outgoing s2s connection p.example->e.example '
                      'complete'), p.log()[-5000:]
    assert ej.wait_log('Accepted outbound s2s EXTERNAL authentication '
                       'e.example -> p.example'), ej.log()[-5000:]


# ---------------------------------------------------------------------------
# (c) raw peer + fake authoritative server, against both

def _server(fed, which):
    return fed['p'] if which == 'prosody' else fed['e']


@need_servers
@pytest.mark.parametrize('which', ['prosody', 'ejabberd'])
@pytest.mark.parametrize('origin,expect', [(BAD, 'invalid'),
                                           (GOOD, 'valid')])
def test_dialback_via_fake_authoritative(fed, which, origin, expect):
    """A raw peer claims `origin` with a made-up key; the server asks
    origin's (fake) authoritative server, whose answer decides."""
    srv = _server(fed, which)
    fake = fed['bad'] if origin == BAD else fed['good']
    with R.S2SPeer(srv.s2s_port, origin, srv.domain, timeout=10) as c:
        feats = c.open_stream()
        assert c.offers_starttls(), tostr(feats)
        assert c.stream_id
        c.starttls()
        assert c.offers_dialback(), tostr(c.features)
        c.send_db_result('00deadbeef00')
        res = c.wait_db_result(timeout=15)
        assert (res.get('type'), res.get('from'), res.get('to')) == \
            (expect, srv.domain, origin), tostr(res)
    verify = fake.wait_element(
        lambda e: e.tag == q(R.NS_DB, 'verify') and
        e.get('from') == srv.domain, what='<db:verify/> from ' + srv.domain)
    assert (verify.text or '').strip() == '00deadbeef00'
    assert verify.get('to') == origin and verify.get('id')
    n = fake.conn_of(verify)
    tls = [d for m, k, d in fake.events if m == n and k == 'tls']
    assert tls, fake.events       # it came over STARTTLS
    if which == 'ejabberd':       # (Prosody sends no SNI on STARTTLS)
        assert tls[0]['sni'] == origin, tls


@need_servers
def test_prosody_dialback_key_is_xep0185(fed):
    """Prosody's keys are XEP-0185 ones: dialback_key() with its secret
    predicts the key it sent to the fake server."""
    p, good = fed['p'], fed['good']
    with R.S2SPeer(p.s2s_port, GOOD, P_DOMAIN, timeout=10) as c:
        c.open_stream()
        c.starttls()
        c.send_db_result('0123')
        c.wait_db_result(timeout=15)
    el = good.wait_element(lambda e: e.tag == q(R.NS_DB, 'result') and
                           e.get('from') == P_DOMAIN, what='Prosody key')
    sid = good.stream_ids(good.conn_of(el))[-1]
    assert el.text.strip() == R.dialback_key(p.dialback_secret, GOOD,
                                             P_DOMAIN, sid)


@need_servers
@pytest.mark.parametrize('which', ['prosody', 'ejabberd'])
def test_raw_peer_sasl_external_and_direct_tls(fed, which):
    """With a CA-issued client certificate the raw peer authenticates by
    SASL EXTERNAL over STARTTLS, and direct TLS (XEP-0368) works."""
    srv, ca = _server(fed, which), fed['ca']
    cert, key = ca.issue('peer-' + which, ['peer.example'])
    with R.S2SPeer(srv.s2s_port, 'peer.example', srv.domain,
                   certfile=cert, keyfile=key, cafile=ca.ca_path,
                   timeout=10) as c:
        c.open_stream()
        c.starttls()
        assert 'EXTERNAL' in c.mechanisms(), tostr(c.features)
        el = c.sasl_external()
        assert el.tag == q(NS_SASL, 'success'), tostr(el)
        assert c.header.get('from') == srv.domain
    with R.S2SPeer(srv.s2s_direct_port, 'peer.example', srv.domain,
                   direct_tls=True, certfile=cert, keyfile=key,
                   cafile=ca.ca_path, timeout=10) as c:
        feats = c.open_stream()
        assert feats.find(q(NS_TLS, 'starttls')) is None, tostr(feats)
        assert 'EXTERNAL' in c.mechanisms(), tostr(feats)
