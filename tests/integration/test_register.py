"""test_register.py -- XEP-0077 In-Band Registration (mod_register):
the stream feature and registration before login (3.1, 8), the option
that enables it, the password policy, Nodeprep, conflicts and the per-IP
limit; password change (3.3) and account removal (3.2) after login, with
the removed account's stored data gone and its sessions closed with the
not-authorized stream error; TLS required before any registration IQ."""

import base64
import uuid

import pytest

from conftest import Server
from xmpp_raw import (NS_CLIENT, NS_DISCO_INFO, NS_SASL, RawClient,
                      fresh_source_ip, q, stanza_error, tostr)

NS_REG = 'jabber:iq:register'
NS_REG_FEATURE = 'http://jabber.org/features/iq-register'
NS_ROSTER = 'jabber:iq:roster'
IQ = q(NS_CLIENT, 'iq')
MESSAGE = q(NS_CLIENT, 'message')
REG_FEATURE = q(NS_REG_FEATURE, 'register')

# Only listed modules load when options are given as a mapping.
MODULES = ('modules:\n'
           '  register: {allow_registration: true%s}\n'
           '  roster: null\n'
           '  presence: null\n'
           '  offline: null\n'
           '  disco: null\n'
           '  ping: null\n')


@pytest.fixture(scope='module')
def reg_server(certs, tmp_path_factory):
    """A ternd with registration allowed (defaults otherwise)."""
    s = Server(tmp_path_factory.mktemp('ternd-reg'), *certs,
               extra=MODULES % '').start()
    yield s
    s.check_clean_exit()


def fresh_name(prefix='r'):
    return '%s%s' % (prefix, uuid.uuid4().hex[:10])


def tls_client(server, cafile, source=None):
    """A client past STARTTLS, not authenticated."""
    c = RawClient(server.port, cafile=cafile, source=source)
    c.open_stream()
    c.starttls()
    return c


def reg_set(c, user, pw, extra=''):
    """Sends a registration IQ set; returns the reply."""
    body = ''
    if user is not None:
        body += '<username>%s</username>' % user
    if pw is not None:
        body += '<password>%s</password>' % pw
    return c.query('set', "<query xmlns='%s'>%s%s</query>"
                   % (NS_REG, body, extra))


def register(server, cafile, user, pw, source=None):
    c = tls_client(server, cafile, source)
    try:
        return reg_set(c, user, pw)
    finally:
        c.close()


def assert_result(el):
    assert el.tag == IQ and el.get('type') == 'result', tostr(el)


def assert_error(el, etype, cond):
    assert el.tag == IQ and el.get('type') == 'error', tostr(el)
    assert stanza_error(el) == (etype, cond), tostr(el)


def can_login(server, cafile, user, pw, mech='SCRAM-SHA-256'):
    c = tls_client(server, cafile)
    try:
        if mech == 'PLAIN':
            el = c.auth_plain(user, pw)
        else:
            el = c.auth_scram(user, pw, mech)
        return el.tag == q(NS_SASL, 'success')
    finally:
        c.close()


def login(server, cafile, user, pw, resource='r'):
    c = RawClient(server.port, cafile=cafile)
    c.login(user, pw, resource=resource)
    return c


# -- disabled by default ---------------------------------------------------

def test_registration_off_by_default_not_offered(server, cafile):
    c = tls_client(server, cafile)
    with c:
        assert c.features.find(REG_FEATURE) is None, tostr(c.features)
        # XEP-0077 3.1: a host without in-band registration answers
        # service-unavailable, to the get and to the set.
        assert_error(c.query('get', "<query xmlns='%s'/>" % NS_REG),
                     'cancel', 'service-unavailable')
        user = fresh_name()
        assert_error(reg_set(c, user, 'long enough pw'),
                     'cancel', 'service-unavailable')
    assert not can_login(server, cafile, user, 'long enough pw')


def test_disco_announces_register_when_loaded(server, cafile):
    user, pw = server.new_user('rd')
    with login(server, cafile, user, pw) as c:
        r = c.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO,
                    to='localhost')
        assert_result(r)
        feats = [f.get('var') for f in r.iter(q(NS_DISCO_INFO, 'feature'))]
        assert NS_REG in feats


# -- registration before login ------------------------------------------------

def test_feature_offered_only_after_tls(reg_server, cafile):
    c = RawClient(reg_server.port, cafile=cafile)
    with c:
        f = c.open_stream()
        assert f.find(REG_FEATURE) is None, tostr(f)
        f = c.starttls()
        assert f.find(REG_FEATURE) is not None, tostr(f)


def test_get_returns_fields(reg_server, cafile):
    with tls_client(reg_server, cafile) as c:
        r = c.query('get', "<query xmlns='%s'/>" % NS_REG)
        assert_result(r)
        qu = r.find(q(NS_REG, 'query'))
        assert qu is not None, tostr(r)
        assert [k.tag for k in qu] == [q(NS_REG, 'instructions'),
                                       q(NS_REG, 'username'),
                                       q(NS_REG, 'password')], tostr(r)
        assert qu.find(q(NS_REG, 'username')).text is None
        assert qu.find(q(NS_REG, 'registered')) is None


def test_register_then_login_with_scram(reg_server, cafile):
    user, pw = fresh_name(), 'correct horse'
    with tls_client(reg_server, cafile) as c:
        r = reg_set(c, user, pw)
        assert_result(r)
        assert len(r) == 0, tostr(r)
        # XEP-0077 3.1.1: then authenticate on the same stream.
        el = c.auth_scram(user, pw, 'SCRAM-SHA-256')
        assert el.tag == q(NS_SASL, 'success'), tostr(el)
        assert c.bind('x') == '%s@localhost/x' % user
    assert can_login(reg_server, cafile, user, pw, 'SCRAM-SHA-1')
    assert can_login(reg_server, cafile, user, pw, 'PLAIN')
    assert not can_login(reg_server, cafile, user, 'wrong password')


def test_username_is_nodeprepped(reg_server, cafile):
    base = fresh_name()
    assert_result(register(reg_server, cafile, base.upper(), 'long enough'))
    assert can_login(reg_server, cafile, base, 'long enough')
    # The same name in another case is the same account.
    assert_error(register(reg_server, cafile, base, 'other password'),
                 'cancel', 'conflict')


def test_duplicate_is_conflict_and_keeps_password(reg_server, cafile):
    user = fresh_name()
    assert_result(register(reg_server, cafile, user, 'first password'))
    r = register(reg_server, cafile, user, 'second password')
    assert_error(r, 'cancel', 'conflict')
    # The error does not echo the request (it holds a password).
    assert r.find(q(NS_REG, 'query')) is None, tostr(r)
    assert can_login(reg_server, cafile, user, 'first password')
    assert not can_login(reg_server, cafile, user, 'second password')


def test_existing_ternctl_account_is_conflict(reg_server, cafile):
    user, pw = reg_server.new_user('rc')
    assert_error(register(reg_server, cafile, user, 'another password'),
                 'cancel', 'conflict')
    assert can_login(reg_server, cafile, user, pw)


@pytest.mark.parametrize('user,pw', [
    ('NAME', 'short'),          # 5 < 8 characters
    ('NAME', '1234567'),        # 7
    ('NAME', ''),               # <password/>: XEP-0077 3.1 note
    ('NAME', None),             # no password at all
    ('', 'long enough pw'),     # empty username
    (None, 'long enough pw'),   # no username
])
def test_incomplete_or_short_is_not_acceptable(reg_server, cafile, user, pw):
    name = fresh_name()
    if user == 'NAME':
        user = name
    r = register(reg_server, cafile, user, pw)
    assert_error(r, 'modify', 'not-acceptable')
    assert r.find(q(NS_REG, 'query')) is None, tostr(r)
    if user == name:
        assert not can_login(reg_server, cafile, name, pw or 'x')


def test_minimum_length_counts_characters(reg_server, cafile):
    user = fresh_name()
    # Eight characters, sixteen bytes in UTF-8.
    assert_result(register(reg_server, cafile, user, 'é' * 8))
    assert can_login(reg_server, cafile, user, 'éééééééé')
    # Seven characters (fourteen bytes) are too few.
    assert_error(register(reg_server, cafile, fresh_name(), 'é' * 7),
                 'modify', 'not-acceptable')


@pytest.mark.parametrize('bad', ['a b', 'a@b', 'a/b', 'a:b', "a&amp;b",
                                 'x' * 1024])
def test_bad_username_is_jid_malformed(reg_server, cafile, bad):
    assert_error(register(reg_server, cafile, bad, 'long enough pw'),
                 'modify', 'jid-malformed')


def test_remove_before_login_is_unexpected(reg_server, cafile):
    with tls_client(reg_server, cafile) as c:
        r = c.query('set', "<query xmlns='%s'><remove/></query>" % NS_REG)
        assert_error(r, 'cancel', 'unexpected-request')


def test_rate_limit_per_ip(reg_server, cafile):
    ip = fresh_source_ip()
    names = [fresh_name('rl') for _ in range(4)]
    # ip_limit defaults to 3 registrations per address per 600 s.
    for n in names[:3]:
        assert_result(register(reg_server, cafile, n, 'long enough',
                               source=ip))
    r = register(reg_server, cafile, names[3], 'long enough', source=ip)
    assert_error(r, 'wait', 'not-acceptable')
    assert not can_login(reg_server, cafile, names[3], 'long enough')
    # Other addresses are not affected.
    assert_result(register(reg_server, cafile, names[3], 'long enough'))
    assert can_login(reg_server, cafile, names[3], 'long enough')


def test_policy_refusals_do_not_count_toward_limit(reg_server, cafile):
    ip = fresh_source_ip()
    taken = fresh_name()
    assert_result(register(reg_server, cafile, taken, 'long enough'))
    for _ in range(3):
        assert_error(register(reg_server, cafile, fresh_name(), 'short',
                              source=ip), 'modify', 'not-acceptable')
        assert_error(register(reg_server, cafile, taken, 'long enough',
                              source=ip), 'cancel', 'conflict')
    for _ in range(3):
        assert_result(register(reg_server, cafile, fresh_name(),
                               'long enough', source=ip))


def test_options_min_password_and_ip_limit(make_server, cafile):
    s = make_server(extra=MODULES % ', min_password_length: 3, ip_limit: 1')
    s.start()
    ip = fresh_source_ip()
    assert_result(register(s, cafile, fresh_name(), 'abc', source=ip))
    assert_error(register(s, cafile, fresh_name(), 'abc', source=ip),
                 'wait', 'not-acceptable')
    assert_error(register(s, cafile, fresh_name(), 'ab'),
                 'modify', 'not-acceptable')


def test_bad_option_fails_start(make_server):
    s = make_server(extra=MODULES % ', min_password_length: 0')
    with pytest.raises(BaseException):
        s.start()
    assert 'min_password_length' in s.log()


def test_registration_iq_without_tls_not_processed(reg_server, cafile):
    """require_tls: the registration IQ before STARTTLS ends the stream
    and creates nothing."""
    user = fresh_name()
    c = RawClient(reg_server.port, cafile=cafile)
    with c:
        c.open_stream()
        c.iq('set', "<query xmlns='%s'><username>%s</username>"
             "<password>long enough</password></query>" % (NS_REG, user))
        c.expect_stream_error('not-authorized')
        assert b"type='result'" not in c.received
    assert not can_login(reg_server, cafile, user, 'long enough')


def test_registration_iq_on_plain_listener_not_processed(reg_server,
                                                         cafile):
    """A listener without TLS offers nothing and processes no
    registration while require_tls is on."""
    user = fresh_name()
    c = RawClient(reg_server.port_plain, cafile=cafile)
    with c:
        f = c.open_stream()
        assert f.find(REG_FEATURE) is None, tostr(f)
        c.iq('set', "<query xmlns='%s'><username>%s</username>"
             "<password>long enough</password></query>" % (NS_REG, user))
        c.expect_stream_error('not-authorized')
    assert not can_login(reg_server, cafile, user, 'long enough')


def test_auth_pipelined_behind_registration_waits_for_it(reg_server,
                                                          cafile):
    """The registration and a SASL <auth/> sent right behind it: the auth
    is handled once the account exists (the session is held meanwhile)."""
    user, pw = fresh_name(), 'pipelined pw'
    plain = base64.b64encode(('\0%s\0%s' % (user, pw)).encode()).decode()
    with tls_client(reg_server, cafile) as c:
        c.send("<iq type='set' id='p1'><query xmlns='%s'>"
               "<username>%s</username><password>%s</password></query></iq>"
               "<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
               % (NS_REG, user, pw, NS_SASL, plain))
        r = c.recv()
        assert_result(r)
        assert r.get('id') == 'p1'
        el = c.recv()
        assert el.tag == q(NS_SASL, 'success'), tostr(el)


# -- after login: get, password change -------------------------------------

def test_get_when_registered(reg_server, cafile):
    user, pw = reg_server.new_user('rg')
    with login(reg_server, cafile, user, pw) as c:
        for to in (None, 'localhost', '%s@localhost' % user):
            r = c.query('get', "<query xmlns='%s'/>" % NS_REG, to=to)
            assert_result(r)
            qu = r.find(q(NS_REG, 'query'))
            assert qu is not None, tostr(r)
            assert qu.find(q(NS_REG, 'registered')) is not None, tostr(r)
            assert qu.findtext(q(NS_REG, 'username')) == user


def test_other_accounts_bare_jid_refused(reg_server, cafile):
    a, apw = reg_server.new_user('ra')
    b, bpw = reg_server.new_user('rb')
    with login(reg_server, cafile, a, apw) as c:
        r = c.query('set', "<query xmlns='%s'><username>%s</username>"
                    "<password>hijacked pw</password></query>" % (NS_REG, b),
                    to='%s@localhost' % b)
        assert_error(r, 'cancel', 'service-unavailable')
        assert b'hijacked' not in bytes(c.received)
        r = c.query('set', "<query xmlns='%s'><remove/></query>" % NS_REG,
                    to='%s@localhost' % b)
        assert_error(r, 'cancel', 'service-unavailable')
    assert can_login(reg_server, cafile, b, bpw)


def test_password_change(reg_server, cafile):
    user, old = reg_server.new_user('rp')
    new = 'brand new password'
    with login(reg_server, cafile, user, old) as c:
        r = c.query('set', "<query xmlns='%s'><username>%s</username>"
                    "<password>%s</password></query>" % (NS_REG, user, new),
                    to='localhost')
        assert_result(r)
        assert r.get('to') == c.jid and r.get('from') == 'localhost'
        # The session stays up.
        assert_result(c.query('get', "<ping xmlns='urn:xmpp:ping'/>"))
    assert not can_login(reg_server, cafile, user, old)
    assert not can_login(reg_server, cafile, user, old, 'PLAIN')
    assert can_login(reg_server, cafile, user, new)
    assert can_login(reg_server, cafile, user, new, 'SCRAM-SHA-1')
    assert can_login(reg_server, cafile, user, new, 'PLAIN')


@pytest.mark.parametrize('body,etype,cond', [
    # XEP-0077 3.3: incomplete, or another account's name: bad-request.
    ('<password>long enough pw</password>', 'modify', 'bad-request'),
    ('<username>someoneelse</username><password>long enough pw</password>',
     'modify', 'bad-request'),
    # An empty password keeps the old one.
    ('<username>USER</username><password/>', 'modify', 'bad-request'),
    ('<username>USER</username>', 'modify', 'bad-request'),
    # The policy of registration applies.
    ('<username>USER</username><password>short</password>',
     'modify', 'not-acceptable'),
])
def test_password_change_errors(reg_server, cafile, body, etype, cond):
    user, pw = reg_server.new_user('rpe')
    with login(reg_server, cafile, user, pw) as c:
        r = c.query('set', "<query xmlns='%s'>%s</query>"
                    % (NS_REG, body.replace('USER', user)))
        assert_error(r, etype, cond)
        # 3.3: the error does not return the original XML.
        assert r.find(q(NS_REG, 'query')) is None, tostr(r)
    assert can_login(reg_server, cafile, user, pw)


def test_password_change_username_case_insensitive(reg_server, cafile):
    user, pw = reg_server.new_user('rpc')
    with login(reg_server, cafile, user, pw) as c:
        assert_result(c.query(
            'set', "<query xmlns='%s'><username>%s</username>"
            "<password>new password!</password></query>"
            % (NS_REG, user.upper())))
    assert can_login(reg_server, cafile, user, 'new password!')


# -- after login: removal -----------------------------------------------------

def roster_items(c):
    r = c.query('get', "<query xmlns='%s'/>" % NS_ROSTER)
    assert_result(r)
    return [i.get('jid') for i in r.iter(q(NS_ROSTER, 'item'))]


def test_remove_closes_sessions_and_deletes_data(reg_server, cafile):
    user, pw = fresh_name('rr'), 'remove me please'
    assert_result(register(reg_server, cafile, user, pw))
    other, opw = reg_server.new_user('ro')
    a = login(reg_server, cafile, user, pw, 'one')
    b = login(reg_server, cafile, user, pw, 'two')
    o = login(reg_server, cafile, other, opw, 'o')
    try:
        # Stored data: a roster item and an offline message (no resource
        # of the account is available: none sent presence).
        assert_result(a.query(
            'set', "<query xmlns='%s'><item jid='friend@example.org'/>"
            "</query>" % NS_ROSTER))
        assert roster_items(a) == ['friend@example.org']
        o.send("<message to='%s@localhost' type='chat' id='off1'>"
               "<body>stored for later</body></message>" % user)
        assert_result(o.query('get', "<ping xmlns='urn:xmpp:ping'/>"))

        # XEP-0077 3.2: no 'to'; result, then not-authorized everywhere.
        iid = a.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG)
        r = a.iq_reply(iid)
        assert_result(r)
        a.expect_stream_error('not-authorized')
        b.expect_stream_error('not-authorized')
        # Other accounts are untouched.
        assert_result(o.query('get', "<ping xmlns='urn:xmpp:ping'/>"))
    finally:
        for c in (a, b, o):
            c.close()
    assert not can_login(reg_server, cafile, user, pw)
    assert not can_login(reg_server, cafile, user, pw, 'PLAIN')

    # The same name again starts empty: no roster, no offline message.
    assert_result(register(reg_server, cafile, user, 'second life pw'))
    with login(reg_server, cafile, user, 'second life pw') as c:
        assert roster_items(c) == []
        c.send('<presence/>')
        with pytest.raises(AssertionError):
            c.wait_for(lambda e: e.tag == MESSAGE, timeout=0.7)


def test_remove_with_other_children_is_bad_request(reg_server, cafile):
    user, pw = reg_server.new_user('rrb')
    with login(reg_server, cafile, user, pw) as c:
        r = c.query('set', "<query xmlns='%s'><remove/>"
                    "<username>%s</username></query>" % (NS_REG, user))
        assert_error(r, 'modify', 'bad-request')
        assert_result(c.query('get', "<ping xmlns='urn:xmpp:ping'/>"))
    assert can_login(reg_server, cafile, user, pw)


def test_remove_to_server_jid(reg_server, cafile):
    user, pw = reg_server.new_user('rrs')
    c = login(reg_server, cafile, user, pw)
    with c:
        iid = c.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG,
                   to='localhost')
        r = c.iq_reply(iid)
        assert_result(r)
        assert r.get('to') == c.jid
        c.expect_stream_error('not-authorized')
    assert not can_login(reg_server, cafile, user, pw)


def collect(c):
    """Pings the server and returns what arrived before the result (the
    server handles a session's stanzas in order)."""
    iid = c.iq('get', "<ping xmlns='urn:xmpp:ping'/>", to='localhost')
    got = []
    while True:
        el = c.recv()
        if el.tag == IQ and el.get('id') == iid:
            assert_result(el)
            return got
        got.append(el)


def roster_sub(c, contact):
    r = c.query('get', "<query xmlns='%s'/>" % NS_ROSTER)
    assert_result(r)
    for i in r.iter(q(NS_ROSTER, 'item')):
        if i.get('jid') == contact:
            return i.get('subscription')
    return None


def test_remove_cancels_subscriptions_at_contacts(reg_server, cafile):
    """XEP-0077 3.2: the contacts' rosters lose the removed account's
    subscriptions (RFC 6121 3.2.3, 3.3.3)."""
    a_user, a_pw = reg_server.new_user('rsa')
    b_user, b_pw = reg_server.new_user('rsb')
    a_bare, b_bare = a_user + '@localhost', b_user + '@localhost'
    a = login(reg_server, cafile, a_user, a_pw, 'a')
    b = login(reg_server, cafile, b_user, b_pw, 'b')
    try:
        for c in (a, b):
            roster_items(c)
            c.send('<presence/>')
            collect(c)
        for x, y, y_bare, x_bare in ((a, b, b_bare, a_bare),
                                     (b, a, a_bare, b_bare)):
            x.send("<presence to='%s' type='subscribe'/>" % y_bare)
            collect(x)
            collect(y)
            y.send("<presence to='%s' type='subscribed'/>" % x_bare)
            collect(y)
            collect(x)
        assert roster_sub(b, a_bare) == 'both'
        assert roster_sub(a, b_bare) == 'both'

        iid = a.iq('set', "<query xmlns='%s'><remove/></query>" % NS_REG)
        assert_result(a.iq_reply(iid))
        a.expect_stream_error('not-authorized')
        got = collect(b)
        # b's roster lost both directions, and b was told by pushes.
        subs = [i.get('subscription') for e in got
                if e.tag == IQ and e.get('type') == 'set'
                for i in e.iter(q(NS_ROSTER, 'item'))
                if i.get('jid') == a_bare]
        assert subs and subs[-1] == 'none', [tostr(e) for e in got]
        assert roster_sub(b, a_bare) == 'none'
    finally:
        a.close()
        b.close()
