"""test_tls_resume.py -- TLS session resumption (config `tls:
{session_tickets}`, src/net/tls.c): by default a full handshake issues one
ticket, a client that offers it back resumes (STARTTLS and direct TLS,
TLS 1.3 and 1.2) and the resumed session carries a login and stanzas;
with `session_tickets: false` no ticket is issued and an offered one is
not honoured."""

import ssl

import pytest

from xmpp_raw import NS_CLIENT, RawClient, q


def context(cafile, version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def first_session(port, ctx, direct):
    """A full handshake; returns the session once the server's first
    stream header has been read (TLS 1.3 tickets follow the handshake)."""
    c = RawClient(port, cafile=None)
    try:
        if direct:
            c._wrap_tls(ctx)
            c.open_stream()
        else:
            c.open_stream()
            c.starttls(ctx)
        assert not c.sock.session_reused
        return c.sock.session
    finally:
        c.close()


def resumed_login(server, ctx, session, direct, user, password):
    """Connects offering session and logs in; returns (reused, client)."""
    c = RawClient(server.port_direct if direct else server.port)
    if direct:
        c._wrap_tls(ctx, session)
        c.open_stream()
    else:
        c.open_stream()
        c.starttls(ctx, session)
    c.login(user, password, resource='r')
    return c.sock.session_reused, c


@pytest.mark.parametrize('direct', [False, True])
@pytest.mark.parametrize('version', [None, ssl.TLSVersion.TLSv1_2])
def test_resumption_by_default(server, cafile, direct, version):
    ctx = context(cafile, version)
    port = server.port_direct if direct else server.port
    session = first_session(port, ctx, direct)
    assert session.has_ticket
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    reused, a = resumed_login(server, ctx, session, direct, ua, pa)
    with a, RawClient(server.port, cafile=cafile) as b:
        assert reused
        b.login(ub, pb, resource='b')
        a.send("<message to='%s' type='chat'><body>over a resumed "
               "session</body></message>" % b.jid)
        el = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        assert el.findtext(q(NS_CLIENT, 'body')) == 'over a resumed session'
        b.send("<message to='%s' type='chat'><body>back</body></message>"
               % a.jid)
        el = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        assert el.findtext(q(NS_CLIENT, 'body')) == 'back'


@pytest.mark.parametrize('direct', [False, True])
@pytest.mark.parametrize('version', [None, ssl.TLSVersion.TLSv1_2])
def test_tickets_off(make_server, cafile, direct, version):
    s = make_server(tls={'session_tickets': 'false'}).start()
    ctx = context(cafile, version)
    port = s.port_direct if direct else s.port
    session = first_session(port, ctx, direct)
    assert not session.has_ticket
    # Offered back (a TLS 1.2 session ID), it does not resume: nothing
    # was kept. The full handshake works.
    ua, pa = s.new_user()
    reused, a = resumed_login(s, ctx, session, direct, ua, pa)
    with a:
        assert not reused
        assert a.query('get', "<query xmlns='jabber:iq:roster'/>") \
            .get('type') == 'result'
