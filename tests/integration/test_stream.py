"""test_stream.py -- RFC 6120 streams: headers, features, STARTTLS and
stream errors, spoken over raw sockets (sections 4, 5, 4.9, 11.1)."""

import time

import pytest

from xmpp_raw import (NS_BIND, NS_CLIENT, NS_PING, NS_SASL, NS_SASL_CB,
                      NS_SESSION, NS_STREAM, NS_TLS, RawClient, Timeout,
                      q, stream_header, tostr)

pytestmark = pytest.mark.raw

ALL_MECHS = {'SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS', 'SCRAM-SHA-256',
             'SCRAM-SHA-1', 'PLAIN'}
PING = "<ping xmlns='%s'/>" % NS_PING


def child_tags(el):
    return [c.tag for c in el]


@pytest.fixture
def raw(server, cafile):
    """Factory of raw connections closed at teardown."""
    made = []

    def make(port=None, direct_tls=False):
        if port is None:
            port = server.port_direct if direct_tls else server.port
        c = RawClient(port, direct_tls=direct_tls, cafile=cafile)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def logged_in(server, raw):
    """A fresh user logged in over STARTTLS, bound."""
    user, pw = server.new_user()
    c = raw()
    c.login(user, pw, resource='r')
    return c


# -- headers and features --------------------------------------------------

def test_header_and_features_before_tls(raw):
    c = raw()
    feats = c.open_stream()
    h = c.header
    assert h.get('from') == 'localhost'
    assert h.get('id'), 'stream id missing (RFC 6120 4.7.3)'
    assert h.get('version') == '1.0'
    assert b'jabber:client' in bytes(c.received), \
        'server header lacks xmlns=jabber:client'
    assert child_tags(feats) == [q(NS_TLS, 'starttls')], \
        'before TLS only <starttls/> may be offered: ' + tostr(feats)
    st = feats.find(q(NS_TLS, 'starttls'))
    assert child_tags(st) == [q(NS_TLS, 'required')]


def test_stream_ids_differ(raw):
    a, b = raw(), raw()
    a.open_stream()
    b.open_stream()
    assert a.header['id'] != b.header['id']
    assert len(a.header['id']) >= 8


def test_version_1x_accepted_answered_with_1_0(raw):
    # RFC 6120 4.7.5: a higher minor version gets the lower one back.
    c = raw()
    c.open_stream(version='1.1')
    assert c.header.get('version') == '1.0'


def test_features_after_starttls(raw):
    c = raw()
    c.open_stream()
    feats = c.starttls()
    assert set(c.mechanisms()) == ALL_MECHS, tostr(feats)
    assert feats.find(q(NS_TLS, 'starttls')) is None, \
        'STARTTLS offered again after TLS'
    cb = feats.find(q(NS_SASL_CB, 'sasl-channel-binding'))
    assert cb is not None, 'no XEP-0440 <sasl-channel-binding/>: ' + \
        tostr(feats)
    types = {e.get('type') for e in cb.findall(q(NS_SASL_CB,
                                                 'channel-binding'))}
    assert types == {'tls-exporter', 'tls-server-end-point'}
    assert feats.find(q(NS_BIND, 'bind')) is None


def test_features_direct_tls(raw):
    c = raw(direct_tls=True)
    feats = c.open_stream()
    assert feats.find(q(NS_TLS, 'starttls')) is None
    assert set(c.mechanisms()) == ALL_MECHS
    assert c.sock.version() in ('TLSv1.2', 'TLSv1.3')


def test_features_after_sasl(server, raw):
    user, pw = server.new_user()
    c = raw()
    c.open_stream()
    c.starttls()
    el = c.auth_scram(user, pw)
    assert el.tag == q(NS_SASL, 'success'), tostr(el)
    feats = c.features
    assert feats.find(q(NS_BIND, 'bind')) is not None, tostr(feats)
    sess = feats.find(q(NS_SESSION, 'session'))
    assert sess is not None, tostr(feats)
    assert sess.find(q(NS_SESSION, 'optional')) is not None
    assert feats.find(q(NS_SASL, 'mechanisms')) is None, \
        'SASL offered again after success'
    assert c.header.get('from') == 'localhost'


def test_restart_after_auth_cannot_change_host(server, raw):
    # CVE-2018-10847 class: the restarted stream must name the same host.
    user, pw = server.new_user()
    c = raw()
    c.open_stream()
    c.starttls()
    el = c.auth_scram(user, pw, restart=False)
    assert el.tag == q(NS_SASL, 'success'), tostr(el)
    c._reset_parser()
    c.header = None
    c.send(stream_header(to='example.net'))
    c.expect_stream_error('host-unknown')


def test_preauth_deadline(make_server, cafile):
    """preauth_timeout is a deadline from accept, not an idle timer:
    whitespace keepalives do not extend it."""
    import time
    s = make_server(c2s={'preauth_timeout': 1}).start()
    c = RawClient(s.port, cafile=cafile)
    try:
        c.open_stream()
        c.starttls()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3:
            c.send(' ', ignore_errors=True)
            try:
                el = c.recv(timeout=0.2)
            except Timeout:
                continue
            except AssertionError:
                break
            c.pending.insert(0, el)
            break
        c.expect_stream_error(['connection-timeout', 'policy-violation'])
        assert time.monotonic() - t0 < 3, 'deadline not enforced'
    finally:
        c.close()


def test_client_closes_stream(logged_in):
    # RFC 6120 4.4: the server answers </stream:stream> and closes.
    c = logged_in
    c.send('</stream:stream>')
    with pytest.raises(AssertionError, match='closed the stream'):
        c.recv()
    c.expect_closed()


def test_whitespace_keepalives(raw, logged_in):
    c0 = raw()
    c0.send(stream_header())
    c0.send(' \n \t ')
    c0.recv_header()
    c0.recv()                       # features
    c0.send('\n  \n')
    c0.starttls()                   # still fine after whitespace
    c = logged_in
    c.send(' ')
    i1 = c.iq('get', PING, to='localhost')
    c.send('\n \n ')
    i2 = c.iq('get', PING, to='localhost')
    c.send(' ')
    assert c.iq_reply(i1).get('type') == 'result'
    assert c.iq_reply(i2).get('type') == 'result'


# -- stream header errors ---------------------------------------------------

HEADER_ERRORS = [
    ('wrong-stream-ns', dict(stream_ns='http://wrong'), 'invalid-namespace'),
    ('wrong-content-ns', dict(xmlns='urn:example:wrong'),
     'invalid-namespace'),
    ('server-ns-on-c2s', dict(xmlns='jabber:server'), 'invalid-namespace'),
    ('unknown-host', dict(to='example.net'), 'host-unknown'),
    ('no-version', dict(version=None), 'unsupported-version'),
    ('version-2', dict(version='2.0'), 'unsupported-version'),
    ('version-0.9', dict(version='0.9'), 'unsupported-version'),
]


@pytest.mark.parametrize('kw,cond', [h[1:] for h in HEADER_ERRORS],
                         ids=[h[0] for h in HEADER_ERRORS])
def test_header_errors(raw, kw, cond):
    c = raw()
    c.send(stream_header(**kw))
    c.expect_stream_error(cond)


def test_header_error_direct_tls(raw):
    c = raw(direct_tls=True)
    c.send(stream_header(to='example.net'))
    c.expect_stream_error('host-unknown')


def test_header_error_after_starttls(raw):
    c = raw()
    c.open_stream()
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    assert c.recv().tag == q(NS_TLS, 'proceed')
    c._wrap_tls()
    c._reset_parser()
    c.header = None
    c.send(stream_header(to='example.net'))
    c.expect_stream_error('host-unknown')


def test_error_stream_header_is_answered_first(raw):
    # RFC 6120 4.9.1.2: even on a bad header the server opens its stream
    # (expect_stream_error checks the header arrives before the error).
    c = raw()
    c.send(stream_header(version='3.0'))
    c.expect_stream_error('unsupported-version')
    assert c.header is not None


# -- restricted XML (RFC 6120 11.1) -----------------------------------------

def test_doctype_with_entity(raw):
    c = raw()
    c.send("<?xml version='1.0'?><!DOCTYPE stream:stream "
           "[<!ENTITY lol 'lol'>]>" + stream_header(xml_decl=False))
    c.expect_stream_error('restricted-xml')


def test_doctype_plain(raw):
    c = raw()
    c.send("<?xml version='1.0'?><!DOCTYPE stream:stream>" +
           stream_header(xml_decl=False))
    c.expect_stream_error('restricted-xml')


@pytest.mark.parametrize('junk', [
    '<!-- a comment -->',
    "<?foo bar='baz'?>",
    "<message to='a@localhost'><!-- inside --><body>x</body></message>",
    "<message to='a@localhost'><?pi inside?></message>",
], ids=['comment', 'pi', 'comment-in-stanza', 'pi-in-stanza'])
def test_restricted_xml_in_stream(raw, junk):
    c = raw()
    c.open_stream()
    c.send(junk)
    c.expect_stream_error('restricted-xml')


def test_comment_after_auth(logged_in):
    logged_in.send('<!-- x -->')
    logged_in.expect_stream_error('restricted-xml')


def test_undefined_entity_reference(raw):
    # Only the five predefined entities exist; either condition is fair.
    c = raw()
    c.open_stream()
    c.send("<message to='a@localhost'><body>&xxe;</body></message>")
    c.expect_stream_error(['restricted-xml', 'not-well-formed'])


# -- malformed XML ------------------------------------------------------------

@pytest.mark.parametrize('junk', [
    '<message><body>x</message>',
    "<message to='a@localhost' to='b@localhost'/>",
    '<<<>>>',
    b'<message><body>\xff\xfe</body></message>',
    '</stream:foo>',
], ids=['mismatched-tag', 'duplicate-attr', 'garbage', 'bad-utf8',
        'bad-close'])
def test_not_well_formed_preauth(raw, junk):
    c = raw()
    c.open_stream()
    c.send(junk)
    c.expect_stream_error('not-well-formed')


def test_not_well_formed_after_auth(logged_in):
    logged_in.send("<message to='x@localhost'><body>x</bodyy></message>")
    logged_in.expect_stream_error('not-well-formed')


def test_cdata_between_stanzas(server, raw):
    # RFC 6120 4.9.3.1: only whitespace may sit between stanzas, and a
    # CDATA section there is refused with bad-format as soon as it opens.
    # It once made the stream look idle after its blank start (fed alone),
    # so its expat parser, still inside the section, went back to the
    # shared pool and the next stream to take it read its own stanzas as
    # character data. Victims hold every pooled parser (an open <iq>)
    # while the attacker opens the section, then ask again.
    victims = []
    for _ in range(9):              # more than the pool's 8 slots
        user, pw = server.new_user()
        v = raw()
        v.login(user, pw, resource='v')
        victims.append(v)
    user, pw = server.new_user()
    attacker = raw()
    attacker.login(user, pw, resource='a')
    for n, v in enumerate(victims):
        v.send("<iq type='get' id='open%d' to='localhost'>" % n)
    time.sleep(0.2)
    attacker.send('<![CDATA[')
    time.sleep(0.1)
    attacker.send('\n')
    attacker.expect_stream_error('bad-format')
    for v in victims:
        v.send(PING + '</iq>')
    for n, v in enumerate(victims):
        assert v.iq_reply('open%d' % n).get('type') == 'result'
    for v in victims:
        ping = v.iq('get', PING, to='localhost')
        assert v.iq_reply(ping).get('type') == 'result'


def test_not_well_formed_header(raw):
    c = raw()
    c.send("<?xml version='1.0'?><stream:stream to='localhost' "
           "xmlns='jabber:client' xmlns:stream='%s' version='1.0' <>"
           % NS_STREAM)
    c.expect_stream_error('not-well-formed')


# -- limits -----------------------------------------------------------------

def test_preauth_stanza_too_big(raw):
    c = raw()
    c.open_stream()
    c.send("<iq type='get' id='big'><query xmlns='urn:example:big'>"
           + 'a' * 20000, ignore_errors=True)
    c.expect_stream_error('policy-violation')


def test_preauth_stanza_too_big_after_tls(raw):
    c = raw(direct_tls=True)
    c.open_stream()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>" % NS_SASL
           + 'QUFB' * 5000, ignore_errors=True)
    c.expect_stream_error('policy-violation')


def test_postauth_stanza_too_big(logged_in):
    c = logged_in
    c.send("<message to='%s'><body>" % c.jid + 'a' * 270000,
           ignore_errors=True)
    c.expect_stream_error('policy-violation')


def test_postauth_large_stanza_under_limit_ok(logged_in):
    # 200 KB is above the pre-auth limit but under max_stanza_size.
    c = logged_in
    body = 'b' * 200000
    c.send("<message to='%s' id='large'><body>%s</body></message>"
           % (c.jid, body))
    el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                    what='the large message')
    assert el.get('id') == 'large'
    assert el.findtext(q(NS_CLIENT, 'body')) == body


def test_nesting_too_deep(logged_in):
    c = logged_in
    c.send("<message to='%s'>" % c.jid + '<a>' * 2000, ignore_errors=True)
    c.expect_stream_error('policy-violation')


def test_too_many_attributes(logged_in):
    c = logged_in
    attrs = ' '.join("a%d='x'" % i for i in range(2000))
    c.send("<message to='%s' %s>" % (c.jid, attrs), ignore_errors=True)
    c.expect_stream_error('policy-violation')


def test_moderate_nesting_ok(logged_in):
    c = logged_in
    c.send("<message to='%s' id='deep'><x xmlns='urn:example:x'>%s%s</x>"
           "</message>" % (c.jid, '<a>' * 10, '</a>' * 10))
    el = c.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert el.get('id') == 'deep'


# -- TLS and authentication order -------------------------------------------

@pytest.mark.parametrize('stanza', [
    "<message to='someone@localhost'><body>hi</body></message>",
    "<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
    "</iq>",
    '<presence/>',
], ids=['message', 'iq', 'presence'])
@pytest.mark.parametrize('where', ['plain', 'after-tls'])
def test_stanza_before_auth(raw, stanza, where):
    c = raw()
    c.open_stream()
    if where == 'after-tls':
        c.starttls()
    c.send(stanza)
    c.expect_stream_error('not-authorized')


def test_bind_before_auth(raw):
    c = raw()
    c.open_stream()
    c.starttls()
    c.send("<iq type='set' id='b'><bind xmlns='%s'/></iq>" % NS_BIND)
    c.expect_stream_error('not-authorized')


def _assert_auth_refused_without_tls(c):
    """Either <failure><encryption-required/></failure> (then nothing is
    authenticated: a bind attempt is not-authorized) or a policy-violation
    stream error."""
    el = c.recv()
    if el.tag == q(NS_SASL, 'failure'):
        assert el.find(q(NS_SASL, 'encryption-required')) is not None, \
            'auth before TLS: expected <encryption-required/>, got ' + \
            tostr(el)
        c.send("<iq type='set' id='b'><bind xmlns='%s'/></iq>" % NS_BIND)
        c.expect_stream_error('not-authorized')
    else:
        assert el.tag == q(NS_STREAM, 'error'), \
            'auth before TLS answered with ' + tostr(el)
        assert el.find('{urn:ietf:params:xml:ns:xmpp-streams}'
                       'policy-violation') is not None, tostr(el)
        c.expect_closed()


@pytest.mark.parametrize('port', ['starttls', 'plain'])
def test_auth_before_tls_refused(server, raw, port):
    user, pw = server.new_user()
    c = raw(port=server.port if port == 'starttls' else server.port_plain)
    feats = c.open_stream()
    if port == 'plain':
        assert feats.find(q(NS_SASL, 'mechanisms')) is None, \
            'mechanisms offered without TLS while require_tls: ' + tostr(
                feats)
    c.sasl_auth('PLAIN', ('\0%s\0%s' % (user, pw)).encode())
    _assert_auth_refused_without_tls(c)


def test_scram_before_tls_refused(server, raw):
    user, pw = server.new_user()
    c = raw()
    c.open_stream()
    c.sasl_auth('SCRAM-SHA-256', ('n,,n=%s,r=abcdefgh' % user).encode())
    _assert_auth_refused_without_tls(c)


def test_plain_port_offers_no_mechanisms(server, raw):
    c = raw(port=server.port_plain)
    feats = c.open_stream()
    assert feats.find(q(NS_SASL, 'mechanisms')) is None, tostr(feats)


def test_starttls_pipelined_plaintext_discarded(server, raw):
    """Plaintext sent right behind <starttls/> must never be processed
    (STARTTLS command injection, CVE-2011-0411 class)."""
    user, pw = server.new_user()
    c = raw()
    c.open_stream()
    c.send("<starttls xmlns='%s'/><iq type='get' id='injected' "
           "to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
           "<iq type='get' id='injected2'><query xmlns='jabber:iq:version'/>"
           "</iq>" % NS_TLS)
    el = c.recv()
    assert el.tag == q(NS_TLS, 'proceed'), tostr(el)
    c._wrap_tls()
    c._reset_parser()
    c.header = None
    feats = c.open_stream()
    assert set(c.mechanisms()) == ALL_MECHS, tostr(feats)
    c.login(user, pw, resource='inj')
    iid = c.iq('get', PING, to='localhost')
    seen = []
    while True:
        e = c.recv()
        seen.append(e)
        if e.get('id') == iid:
            break
    c.send(' ')
    try:
        while True:
            seen.append(c.recv(timeout=0.5))
    except Timeout:
        pass
    assert not [e for e in seen if e.get('id', '').startswith('injected')], \
        [tostr(e) for e in seen]


def test_starttls_twice_refused(raw):
    c = raw()
    c.open_stream()
    c.starttls()
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    el = c.recv()
    # RFC 6120 5.4.2.2 failure, or a stream error; never a second TLS.
    assert el.tag != q(NS_TLS, 'proceed'), 'second <proceed/> after TLS'
