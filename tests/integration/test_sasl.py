"""test_sasl.py -- RFC 6120 6 SASL negotiation: SCRAM (RFC 5802/7677) with
and without channel binding (RFC 5929 tls-server-end-point, RFC 9266
tls-exporter), PLAIN (RFC 4616), every failure condition, and real logins
by slixmpp over STARTTLS and direct TLS (XEP-0368)."""

import base64
import os

import pytest

from xmpp_raw import (NS_SASL, RawClient, Scram, q, sasl_condition,
                      tls_exporter, tostr)
import xmpp_slix
from xmpp_slix import LoginFailed, run

FAILURE = q(NS_SASL, 'failure')
SUCCESS = q(NS_SASL, 'success')
CHALLENGE = q(NS_SASL, 'challenge')


@pytest.fixture
def tls_client(server, cafile):
    """Factory: a connection with TLS done and features read."""
    made = []

    def make(direct=False):
        if direct:
            c = RawClient(server.port_direct, direct_tls=True, cafile=cafile)
            c.open_stream()
        else:
            c = RawClient(server.port, cafile=cafile)
            c.open_stream()
            c.starttls()
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


@pytest.fixture
def account(server):
    return server.new_user('sasl')


def assert_failure(el, cond):
    assert el.tag == FAILURE, 'expected <failure><%s/>, got %s' % (
        cond, tostr(el))
    got = sasl_condition(el)
    wanted = [cond] if isinstance(cond, str) else cond
    assert got in wanted, 'expected <%s/>, got %s' % (cond, tostr(el))


def assert_bound_as(c, user, resource):
    jid = c.bind(resource)
    assert jid == '%s@localhost/%s' % (user, resource)


# -- successful raw authentication -----------------------------------------

@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1'])
@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_scram(tls_client, account, mech, direct):
    user, pw = account
    c = tls_client(direct)
    el = c.auth_scram(user, pw, mech)
    assert el.tag == SUCCESS, tostr(el)
    assert_bound_as(c, user, 'scram')


@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_plain(tls_client, account, direct):
    user, pw = account
    c = tls_client(direct)
    el = c.auth_plain(user, pw)
    assert el.tag == SUCCESS, tostr(el)
    assert_bound_as(c, user, 'plain')


def test_plain_without_initial_response(tls_client, account):
    # RFC 6120 6.4.2: no initial response -> empty challenge first.
    user, pw = account
    c = tls_client()
    c.sasl_auth('PLAIN', None)
    el = c.sasl_result()
    assert el.tag == CHALLENGE and not (el.text or '').strip('='), tostr(el)
    c.sasl_response(('\0%s\0%s' % (user, pw)).encode())
    el = c.sasl_result()
    assert el.tag == SUCCESS, tostr(el)


def test_plain_authzid_own_bare_jid(tls_client, account):
    # An authzid naming the authenticated account itself is no change of
    # identity (RFC 6120 6.3.8).
    user, pw = account
    c = tls_client()
    el = c.auth_plain(user, pw, authzid='%s@localhost' % user)
    assert el.tag == SUCCESS, tostr(el)


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-1-PLUS'])
@pytest.mark.parametrize('cb', ['tls-server-end-point', 'tls-exporter'])
@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_scram_plus(tls_client, account, mech, cb, direct):
    user, pw = account
    c = tls_client(direct)
    if cb == 'tls-exporter' and tls_exporter(c.sock) is None:
        pytest.skip('cannot reach SSL_export_keying_material from Python')
    el = c.auth_scram(user, pw, mech, cb=cb)
    assert el.tag == SUCCESS, tostr(el)
    assert_bound_as(c, user, 'plus')


def test_scram_plus_tls12(server, cafile, account):
    # tls-exporter over TLS 1.2 (the server must use EMS there).
    import ssl
    user, pw = account
    c = RawClient(server.port, cafile=cafile)
    c.open_stream()
    ctx = c.ssl_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    c.starttls(ctx)
    assert c.sock.version() == 'TLSv1.2'
    for cb in ('tls-server-end-point', 'tls-exporter'):
        if cb == 'tls-exporter' and tls_exporter(c.sock) is None:
            continue
        el = c.auth_scram(user, pw, 'SCRAM-SHA-256-PLUS', cb=cb,
                          restart=False)
        assert el.tag == SUCCESS, '%s: %s' % (cb, tostr(el))
        c.close()
        c = RawClient(server.port, cafile=cafile)
        c.open_stream()
        c.starttls(ctx)
    c.close()


# -- channel binding failures ----------------------------------------------

@pytest.mark.parametrize('cb', ['tls-server-end-point', 'tls-exporter'])
def test_scram_plus_wrong_binding_data(tls_client, account, cb):
    user, pw = account
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256-PLUS', cb=cb,
                      cb_data=os.urandom(32))
    assert el.tag == FAILURE, 'wrong channel binding accepted: ' + tostr(el)


def test_scram_plus_binding_of_other_connection(server, tls_client,
                                                account):
    # The exporter value of another TLS connection must not verify.
    user, pw = account
    other = tls_client()
    data = tls_exporter(other.sock)
    if data is None:
        pytest.skip('cannot reach SSL_export_keying_material from Python')
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256-PLUS', cb='tls-exporter',
                      cb_data=data)
    assert el.tag == FAILURE, tostr(el)


def test_scram_plus_tls_unique_refused(tls_client, account):
    # Not advertised (and unsafe with TLS 1.3): must not authenticate.
    user, pw = account
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256-PLUS', cb='tls-unique')
    assert el.tag == FAILURE, tostr(el)


def test_scram_y_flag_refused_when_plus_offered(tls_client, account):
    # RFC 5802 6: 'y' while the server offers -PLUS means a downgrade.
    user, pw = account
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256', cb='y')
    assert el.tag == FAILURE, 'y flag accepted: ' + tostr(el)


def test_scram_plus_mech_with_n_flag_refused(tls_client, account):
    user, pw = account
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256-PLUS', cb=None)
    assert el.tag == FAILURE, tostr(el)


def test_scram_plain_mech_with_p_flag_refused(tls_client, account):
    user, pw = account
    c = tls_client()
    el = c.auth_scram(user, pw, 'SCRAM-SHA-256', cb='tls-server-end-point')
    assert el.tag == FAILURE, tostr(el)


# -- credential failures ------------------------------------------------------

@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
def test_wrong_password(tls_client, account, mech):
    user, pw = account
    c = tls_client()
    if mech == 'PLAIN':
        el = c.auth_plain(user, pw + 'x')
    else:
        el = c.auth_scram(user, pw + 'x', mech)
    assert_failure(el, 'not-authorized')


@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'PLAIN'])
def test_unknown_user(tls_client, mech):
    c = tls_client()
    if mech == 'PLAIN':
        el = c.auth_plain('nosuchuser', 'whatever')
    else:
        el = c.auth_scram('nosuchuser', 'whatever', mech)
    assert_failure(el, 'not-authorized')


def _server_first(c, user, mech='SCRAM-SHA-256'):
    s = Scram(mech, user, 'irrelevant')
    c.sasl_auth(mech, s.client_first())
    el = c.sasl_result()
    assert el.tag == CHALLENGE, \
        'SCRAM client-first for %r answered with %s' % (user, tostr(el))
    attrs = dict(kv.split('=', 1) for kv in
                 base64.b64decode(el.text).decode().split(','))
    assert attrs['r'].startswith(s.cnonce)
    attrs['server_nonce'] = attrs['r'][len(s.cnonce):]
    c.send("<abort xmlns='%s'/>" % NS_SASL)
    assert_failure(c.sasl_result(), 'aborted')
    return attrs


def test_unknown_user_indistinguishable(tls_client, account):
    """Unknown users get a challenge like real ones, with a salt and
    iteration count that stay the same across attempts."""
    user, _ = account
    c = tls_client()
    real1 = _server_first(c, user)
    ghost1 = _server_first(c, 'ghost-' + user)
    c2 = tls_client()
    real2 = _server_first(c2, user)
    ghost2 = _server_first(c2, 'ghost-' + user)
    assert real1['s'] == real2['s'] and real1['i'] == real2['i']
    assert ghost1['s'] == ghost2['s'], 'unknown user salt changes per try'
    assert ghost1['i'] == real1['i'], 'unknown user iteration count differs'
    assert len(base64.b64decode(ghost1['s'])) == \
        len(base64.b64decode(real1['s']))
    assert ghost1['server_nonce'] != ghost2['server_nonce'], \
        'server nonce repeated'


def test_plain_authzid_other_user(server, tls_client, account):
    user, pw = account
    other, _ = server.new_user('victim')
    c = tls_client()
    el = c.auth_plain(user, pw, authzid='%s@localhost' % other)
    assert_failure(el, 'invalid-authzid')


def test_scram_authzid_other_user(server, tls_client, account):
    user, pw = account
    other, _ = server.new_user('victim')
    c = tls_client()
    el = c.auth_scram(user, pw, authzid='%s@localhost' % other)
    assert el.tag == FAILURE, 'authzid of another user accepted'


@pytest.mark.parametrize('mech', ['FOO-BAR', 'ANONYMOUS', 'DIGEST-MD5',
                                  'EXTERNAL', 'SCRAM-SHA-512', ''])
def test_invalid_mechanism(tls_client, mech):
    c = tls_client()
    c.sasl_auth(mech, b'x')
    assert_failure(c.sasl_result(), 'invalid-mechanism')


def test_bad_base64(tls_client):
    c = tls_client()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>!!not base64!!</auth>"
           % NS_SASL)
    assert_failure(c.sasl_result(), ['incorrect-encoding',
                                     'malformed-request'])


def test_bad_base64_in_response(tls_client, account):
    user, _ = account
    c = tls_client()
    s = Scram('SCRAM-SHA-256', user, 'x')
    c.sasl_auth('SCRAM-SHA-256', s.client_first())
    assert c.sasl_result().tag == CHALLENGE
    c.send("<response xmlns='%s'>%%%%%%</response>" % NS_SASL)
    assert_failure(c.sasl_result(), ['incorrect-encoding',
                                     'malformed-request'])


@pytest.mark.parametrize('msg', [b'garbage', b'n,,', b'n,,n=,r=x',
                                 b'x,,n=a,r=b', b'n,,n=a', b'\0\0'],
                         ids=['garbage', 'no-bare', 'empty-user',
                              'bad-flag', 'no-nonce', 'nuls'])
def test_malformed_scram_first(tls_client, msg):
    c = tls_client()
    c.sasl_auth('SCRAM-SHA-256', msg)
    el = c.sasl_result()
    assert el.tag == FAILURE, tostr(el)


def test_malformed_scram_final(tls_client, account):
    user, _ = account
    c = tls_client()
    s = Scram('SCRAM-SHA-256', user, 'x')
    c.sasl_auth('SCRAM-SHA-256', s.client_first())
    assert c.sasl_result().tag == CHALLENGE
    c.sasl_response(b'c=biws,r=wrongnonce,p=AAAA')
    assert c.sasl_result().tag == FAILURE


def test_plain_malformed(tls_client):
    c = tls_client()
    c.sasl_auth('PLAIN', b'no-nul-separators')
    el = c.sasl_result()
    assert_failure(el, ['malformed-request', 'not-authorized',
                        'incorrect-encoding'])


def test_abort_then_login(tls_client, account):
    user, pw = account
    c = tls_client()
    s = Scram('SCRAM-SHA-256', user, pw)
    c.sasl_auth('SCRAM-SHA-256', s.client_first())
    assert c.sasl_result().tag == CHALLENGE
    c.send("<abort xmlns='%s'/>" % NS_SASL)
    assert_failure(c.sasl_result(), 'aborted')
    el = c.auth_scram(user, pw)
    assert el.tag == SUCCESS, tostr(el)
    assert_bound_as(c, user, 'after-abort')


def test_retry_after_failure(tls_client, account):
    user, pw = account
    c = tls_client()
    assert_failure(c.auth_plain(user, 'wrong'), 'not-authorized')
    el = c.auth_scram(user, pw)
    assert el.tag == SUCCESS, tostr(el)


def test_too_many_failures_close_stream(tls_client, account):
    user, pw = account
    c = tls_client()
    for i in range(2):
        assert_failure(c.auth_plain(user, 'wrong%d' % i), 'not-authorized')
    c.sasl_auth('PLAIN', ('\0%s\0wrong3' % user).encode())
    # The third <failure/> may or may not precede the stream error.
    el = c.recv()
    if el.tag == FAILURE:
        assert_failure(el, 'not-authorized')
    else:
        c.pending.insert(0, el)
    c.expect_stream_error('policy-violation')


def test_response_without_auth(tls_client):
    c = tls_client()
    c.sasl_response(b'hello')
    el = c.recv()
    # Not in a SASL exchange: a failure or a stream error, never success.
    assert el.tag != SUCCESS, tostr(el)


# -- slixmpp ------------------------------------------------------------------

@pytest.mark.slix
@pytest.mark.parametrize('mech', ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'])
@pytest.mark.parametrize('direct', [False, True], ids=['starttls', 'direct'])
def test_slixmpp_login(server, account, mech, direct):
    user, pw = account

    async def go():
        c = await xmpp_slix.login(server, user, pw, resource='slix',
                                  mech=mech, direct_tls=direct)
        try:
            assert str(c.boundjid) == '%s@localhost/slix' % user
            reply = await xmpp_slix.ping(c, 'localhost')
            assert reply['type'] == 'result'
        finally:
            await c.close()
    run(go())


@pytest.mark.slix
def test_slixmpp_wrong_password(server, account):
    user, pw = account

    async def go():
        with pytest.raises(LoginFailed):
            await xmpp_slix.login(server, user, pw + 'nope', timeout=8)
    run(go())


@pytest.mark.slix
def test_slixmpp_stock_plus_tls_unique_refused(server, account):
    # slixmpp's own SCRAM-SHA-256-PLUS binds with tls-unique, which tern
    # does not advertise: it must not get in.
    user, pw = account

    async def go():
        with pytest.raises(LoginFailed):
            c = await xmpp_slix.login(server, user, pw,
                                      mech='SCRAM-SHA-256-PLUS',
                                      stock_cb=True, timeout=8)
            await c.close()
    run(go())


def test_slixmpp_as_shipped_logs_in_over_tls13(server, account):
    # Stock slixmpp: -PLUS with tls-unique (not on TLS 1.3) and SCRAM with
    # 'y' are refused without being counted as failed attempts, so it
    # reaches PLAIN inside TLS and gets in.
    user, pw = account

    async def go():
        c = await xmpp_slix.login(server, user, pw, mech=None, stock_cb=True,
                                  retry_mechs=True, timeout=8)
        await c.close()
    run(go())
    assert 'authenticated as %s@' % user in server.log()


def test_slixmpp_as_shipped_binds_tls_unique_over_tls12(server, account):
    # On TLS 1.2 with Extended Master Secret tern offers tls-unique, and
    # slixmpp's own SCRAM-SHA-256-PLUS gets in with it at once.
    user, pw = account

    async def go():
        c = await xmpp_slix.login(server, user, pw, mech='SCRAM-SHA-256-PLUS',
                                  stock_cb=True, tls12=True, timeout=8)
        await c.close()
    run(go())


# -- per-IP failed login limit (SECURITY.md) ----------------------------------

def test_failed_logins_per_ip_limited(make_server, cafile):
    """After c2s.auth_ip_failures failures from one address within
    auth_ip_window, even the right password is refused from it
    (temporary-auth-failure) while other addresses are unaffected."""
    from xmpp_raw import fresh_source_ip
    limit = 4
    srv = make_server(c2s={'auth_ip_failures': limit,
                           'auth_ip_window': 60}).start()
    user, pw = srv.new_user('ipl')
    ip = fresh_source_ip()
    failures = 0
    while failures < limit:
        c = RawClient(srv.port, cafile=cafile, source=ip)
        c.open_stream()
        c.starttls()
        for _ in range(min(2, limit - failures)):
            assert_failure(c.auth_plain(user, 'wrong'), 'not-authorized')
            failures += 1
        c.close()
    c = RawClient(srv.port, cafile=cafile, source=ip)
    c.open_stream()
    c.starttls()
    assert_failure(c.auth_scram(user, pw), 'temporary-auth-failure')
    c.close()
    other = RawClient(srv.port, cafile=cafile)
    other.open_stream()
    other.starttls()
    assert other.auth_scram(user, pw).tag == SUCCESS
    other.close()
