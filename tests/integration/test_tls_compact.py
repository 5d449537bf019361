"""test_tls_compact.py -- the compact TLS 1.3 record layer (src/net/tls13.c,
docs/ARCHITECTURE.md "TLS") in a running ternd: TLS 1.3 sessions leave
OpenSSL after the handshake (STARTTLS and direct TLS) and carry stanzas
larger than one record both ways; TLS 1.2 sessions and `tls: {compact:
false}` stay with OpenSSL and work the same; a corrupted record ends only
its own connection, with a log line. Record-level rules (KeyUpdate, alerts,
sizes) are unit-tested against OpenSSL in tests/unit/test_tls13.c."""

import socket
import ssl
import time

import pytest

from xmpp_raw import NS_CLIENT, RawClient, q

TAKEN = 'TLS 1.3 records taken over from OpenSSL'


def new_log(server, mark):
    return server.log().encode()[mark:].decode('utf-8', 'replace')


def wait_log(server, mark, text, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if text in new_log(server, mark):
            return
        time.sleep(0.05)
    raise AssertionError('not in log: ' + text)


def big_exchange(server, a, b):
    """a sends b a message spanning several TLS records; b answers."""
    body = ''.join(chr(ord('a') + i % 26) for i in range(100000))
    a.send("<message to='%s' type='chat'><body>%s</body></message>"
           % (b.jid, body))
    el = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert el.findtext(q(NS_CLIENT, 'body')) == body
    b.send("<message to='%s' type='chat'><body>ok</body></message>" % a.jid)
    el = a.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
    assert el.findtext(q(NS_CLIENT, 'body')) == 'ok'


def test_tls13_sessions_taken_over(server, cafile):
    mark = server.log_size()
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    with RawClient(server.port, cafile=cafile) as a, \
            RawClient(server.port_direct, direct_tls=True,
                      cafile=cafile) as b:
        a.login(ua, pa, resource='a')
        b.login(ub, pb, resource='b')
        assert a.sock.version() == 'TLSv1.3'
        assert new_log(server, mark).count(TAKEN) == 2
        big_exchange(server, a, b)


def tls12_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def test_tls12_stays_with_openssl(server, cafile):
    mark = server.log_size()
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    with RawClient(server.port, cafile=cafile) as a, \
            RawClient(server.port, cafile=cafile) as b:
        a.open_stream()
        a.starttls(tls12_context(cafile))
        assert a.sock.version() == 'TLSv1.2'
        a.login(ua, pa, resource='a')
        b.login(ub, pb, resource='b')
        assert new_log(server, mark).count(TAKEN) == 1   # b only
        big_exchange(server, a, b)


@pytest.mark.parametrize('compact', ['false', 'true'])
def test_compact_setting(make_server, cafile, compact):
    s = make_server(tls={'compact': compact}).start()
    ua, pa = s.new_user()
    ub, pb = s.new_user()
    with RawClient(s.port, cafile=cafile) as a, \
            RawClient(s.port_direct, direct_tls=True, cafile=cafile) as b:
        a.login(ua, pa, resource='a')
        b.login(ub, pb, resource='b')
        big_exchange(s, a, b)
    assert (TAKEN in s.log()) == (compact == 'true')


def test_corrupt_record_ends_only_that_session(server, cafile):
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    with RawClient(server.port, cafile=cafile) as a, \
            RawClient(server.port, cafile=cafile) as b:
        a.login(ua, pa, resource='a')
        b.login(ub, pb, resource='b')
        mark = server.log_size()
        # A well-formed application-data record header with a body that
        # cannot authenticate, written under the TLS layer.
        plain = socket.socket(fileno=a.sock.detach())
        plain.sendall(b'\x17\x03\x03\x00\x20' + b'\x00' * 32)
        wait_log(server, mark, 'record failed to decrypt')
        plain.settimeout(5)
        data = b''
        while True:
            try:
                chunk = plain.recv(4096)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
        plain.close()
        # an alert record went out before the close
        assert data[:1] == b'\x17'
        # b is unaffected
        b.send("<message to='%s' type='chat'><body>still</body></message>"
               % b.jid)
        el = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'message'))
        assert el.findtext(q(NS_CLIENT, 'body')) == 'still'
