"""test_bind.py -- RFC 6120 7 resource binding, the legacy session IQ
(RFC 3921 3 / draft-cridland-xmpp-session) and resource conflicts
(7.7.2.2: the old session is replaced with a <conflict/> stream error)."""

import asyncio

import pytest

from xmpp_raw import NS_BIND, NS_CLIENT, NS_SESSION, RawClient, q, tostr
import xmpp_slix
from xmpp_slix import run


@pytest.fixture
def authed(server, cafile):
    """Factory: (client, user) authenticated with SCRAM, not yet bound."""
    made = []

    def make(user=None, pw=None):
        if user is None:
            user, pw = server.new_user('bind')
        c = RawClient(server.port, cafile=cafile)
        made.append(c)
        c.open_stream()
        c.starttls()
        el = c.auth_scram(user, pw)
        assert el.tag == '{urn:ietf:params:xml:ns:xmpp-sasl}success', \
            tostr(el)
        c.user, c.pw = user, pw
        return c
    yield make
    for c in made:
        c.close()


def test_generated_resource(authed):
    c = authed()
    jid = c.bind(None)
    bare, _, res = jid.partition('/')
    assert bare == '%s@localhost' % c.user
    assert res, 'server generated an empty resource: ' + jid


def test_generated_resources_differ(authed):
    a = authed()
    b = authed(a.user, a.pw)
    ja, jb = a.bind(None), b.bind(None)
    assert ja != jb


def test_requested_resource_kept(authed):
    c = authed()
    assert c.bind('balcony') == '%s@localhost/balcony' % c.user


def test_requested_resource_unicode(authed):
    c = authed()
    assert c.bind('ĉambro ☕') == '%s@localhost/ĉambro ☕' % c.user


def test_session_iq(authed):
    c = authed()
    c.bind('sess')
    el = c.query('set', "<session xmlns='%s'/>" % NS_SESSION)
    assert el.get('type') == 'result', tostr(el)


def test_stanza_after_auth_before_bind(authed):
    # RFC 6120 7.1: no stanzas before binding; not-authorized is what the
    # server answers to stanzas from an unbound stream.
    c = authed()
    c.send("<message to='%s@localhost'><body>x</body></message>" % c.user)
    c.expect_stream_error('not-authorized')


def test_bind_twice_refused(authed):
    c = authed()
    c.bind('one')
    iid = c.iq('set', "<bind xmlns='%s'><resource>two</resource></bind>"
               % NS_BIND)
    el = c.iq_reply(iid)
    # A second bind on a c2s stream is not allowed (no XEP-0193).
    assert el.get('type') == 'error', tostr(el)


def test_bind_get_refused(authed):
    # A bind must be a set (RFC 6120 7.6.1). The server may answer with an
    # iq error, or treat it as a stanza before binding (not-authorized).
    c = authed()
    iid = c.iq('get', "<bind xmlns='%s'/>" % NS_BIND)
    el = c.recv()
    if el.tag == q(NS_CLIENT, 'iq'):
        assert el.get('id') == iid and el.get('type') == 'error', tostr(el)
        c.bind('fine')   # the stream survived
    else:
        c.pending.insert(0, el)
        c.expect_stream_error('not-authorized')


def test_conflict_replaces_old_session(authed):
    old = authed()
    assert old.bind('desk') == '%s@localhost/desk' % old.user
    new = authed(old.user, old.pw)
    assert new.bind('desk') == '%s@localhost/desk' % old.user
    old.expect_stream_error('conflict')
    # The new session works: it can talk to itself.
    new.send("<message to='%s' id='m1'><body>still here</body></message>"
             % new.jid)
    el = new.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert el.get('id') == 'm1'
    assert el.get('from') == new.jid


@pytest.mark.slix
def test_conflict_slixmpp(server):
    user, pw = server.new_user('conf')

    async def go():
        a = await xmpp_slix.login(server, user, pw, resource='same')
        b = await xmpp_slix.login(server, user, pw, resource='same')
        try:
            reason = await asyncio.wait_for(a.gone, 5)
            errs = [e['condition'] for e in a.stream_errors]
            assert errs == ['conflict'], (errs, reason)
            r = await xmpp_slix.ping(b, 'localhost')
            assert r['type'] == 'result'
        finally:
            await b.close()
            await a.close()
    run(go())
