"""test_load.py -- many clients at once, and one bad client among good
ones: concurrent slixmpp logins, isolation of a misbehaving stream, and
connection churn (which the sanitizer check at teardown turns into a leak
test)."""

import asyncio
import socket
import ssl

import pytest

from xmpp_raw import NS_CLIENT, NS_PING, RawClient, q
import xmpp_slix
from xmpp_slix import run


@pytest.mark.slow
@pytest.mark.slix
def test_50_concurrent_logins(server):
    accounts = [server.new_user('load') for _ in range(10)]

    async def one(i):
        user, pw = accounts[i % len(accounts)]
        mech = ('SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN')[i % 3]
        return await xmpp_slix.login(server, user, pw, resource='c%d' % i,
                                     mech=mech, direct_tls=(i % 5 == 0),
                                     timeout=25)

    async def go():
        res = await asyncio.gather(*(one(i) for i in range(50)),
                                   return_exceptions=True)
        clients = [r for r in res if not isinstance(r, BaseException)]
        errors = [r for r in res if isinstance(r, BaseException)]
        try:
            assert not errors, '%d of 50 logins failed: %r' % (
                len(errors), errors[:3])
            jids = {str(c.boundjid) for c in clients}
            assert len(jids) == 50
            pongs = await asyncio.gather(*(xmpp_slix.ping(c, 'localhost')
                                           for c in clients))
            assert all(p['type'] == 'result' for p in pongs)
            # Everyone sends one message to the next client.
            for i, c in enumerate(clients):
                c.send_message(mto=clients[(i + 1) % 50].boundjid,
                               mbody='from %d' % i)
            got = await asyncio.gather(*(c.next_message(10)
                                         for c in clients))
            for i, m in enumerate(got):
                assert m['body'] == 'from %d' % ((i - 1) % 50)
        finally:
            await asyncio.gather(*(c.close() for c in clients))
    run(go(), timeout=45)


def _chat(a, b, tag, n=5):
    for i in range(n):
        a.send("<message to='%s' id='%s%d'><body>%s %d</body></message>"
               % (b.jid, tag, i, tag, i))
    for i in range(n):
        m = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'),
                       what='%s %d' % (tag, i))
        assert m.get('id') == '%s%d' % (tag, i)
        assert m.get('from') == a.jid


@pytest.mark.parametrize('garbage', [
    '<message><body>oops</message>',
    '<<<<<<>>>>>>',
    '<!-- hello -->',
], ids=['mismatched', 'noise', 'comment'])
def test_bad_client_does_not_disturb_others(server, cafile, garbage):
    (ua, pa), (ub, pb), (uc, pc) = [server.new_user('iso')
                                    for _ in range(3)]
    a = RawClient(server.port, cafile=cafile)
    b = RawClient(server.port_direct, direct_tls=True, cafile=cafile)
    c = RawClient(server.port, cafile=cafile)
    try:
        a.login(ua, pa, 'a')
        b.login(ub, pb, 'b')
        c.login(uc, pc, 'c')
        _chat(a, b, 'before')
        c.send(garbage)
        _chat(b, a, 'during')
        cond = 'restricted-xml' if garbage.startswith('<!--') \
            else 'not-well-formed'
        c.expect_stream_error(cond)
        _chat(a, b, 'after')
        _chat(b, a, 'after')
    finally:
        for x in (a, b, c):
            x.close()


@pytest.mark.slow
def test_connection_churn(server, cafile):
    """Connections dropped at every stage leave the server healthy (and,
    under ASan, leak-free: checked when the server stops)."""
    ctx = ssl.create_default_context(cafile=cafile)
    for i in range(60):
        s = socket.create_connection(('127.0.0.1', server.port), timeout=5)
        if i % 3 == 1:
            s.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' "
                      b"xmlns='jabber:client' xmlns:stream="
                      b"'http://etherx.jabber.org/streams' version='1.0'>")
        elif i % 3 == 2:
            s.sendall(b'<stream:stream to=')
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b'\x01\x00\x00\x00\x00\x00\x00\x00')  # RST
        s.close()
    for i in range(20):
        raw = socket.create_connection(('127.0.0.1', server.port_direct),
                                       timeout=5)
        if i % 2:
            raw.sendall(b'\x16\x03\x01\x00\xff')   # truncated ClientHello
            raw.close()
            continue
        t = ctx.wrap_socket(raw, server_hostname='localhost')
        if i % 4 == 0:
            t.sendall(b"<?xml version='1.0'?><stream:stream to='localhost' "
                      b"xmlns='jabber:client' xmlns:stream="
                      b"'http://etherx.jabber.org/streams' version='1.0'>")
        t.close()
    user, pw = server.new_user('churn')
    for _ in range(5):
        c = RawClient(server.port, cafile=cafile)
        c.login(user, pw, 'churn')
        c.close()
    c = RawClient(server.port, cafile=cafile)
    try:
        c.login(user, pw, 'last')
        r = c.query('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost')
        assert r.get('type') == 'result'
    finally:
        c.close()
