"""xmpp_slix.py -- slixmpp 1.8.3 (Debian) clients for the integration suite.

A real third-party client library logging in to ternd over STARTTLS or
direct TLS (XEP-0368) with a chosen SASL mechanism. Everything is bounded
by asyncio.wait_for so a broken server fails a test instead of hanging it.

Two slixmpp 1.8.3 quirks handled here:
- ClientXMPP resolves the JID's domain on the default port 5222 even when
  connect() is given an address, so get_dns_records is replaced to return
  exactly 127.0.0.1:port (with 'localhost' as the TLS server name).
- Over TLS its SCRAM sends the gs2 flag 'y' ("I could bind but you did not
  offer it") with non-PLUS mechanisms, which a server offering -PLUS must
  reject (RFC 5802 6). Its -PLUS only knows tls-unique. So the
  channel-binding credential is blanked (flag 'n') unless the test asks
  for the stock behaviour with stock_cb=True.
"""

import asyncio
import logging
import xml.etree.ElementTree as ET

import slixmpp

logging.getLogger('slixmpp').setLevel(logging.CRITICAL)


def run(coro, timeout=20):
    """Runs coro in a fresh event loop with an overall deadline."""
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


class LoginFailed(AssertionError):
    pass


class Client(slixmpp.ClientXMPP):
    """A ClientXMPP that records what it receives."""

    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.messages = asyncio.Queue()
        self.stream_errors = []
        self.add_event_handler('message', self._on_message)
        self.add_event_handler('stream_error', self.stream_errors.append)
        self.gone = asyncio.get_running_loop().create_future()
        self.add_event_handler('disconnected', self._on_disconnected)

    def _on_message(self, msg):
        self.messages.put_nowait(msg)

    def _on_disconnected(self, reason):
        if not self.gone.done():
            self.gone.set_result(reason)

    async def next_message(self, timeout=5):
        return await asyncio.wait_for(self.messages.get(), timeout)

    async def close(self, timeout=3):
        """Ends the stream and waits for the connection to go."""
        if not self.gone.done():
            self.disconnect(wait=1)
            try:
                await asyncio.wait_for(asyncio.shield(self.gone), timeout)
            except asyncio.TimeoutError:
                self.abort()


async def login(server, user, password, resource=None, mech='SCRAM-SHA-256',
                direct_tls=False, stock_cb=False, timeout=10, tls12=False,
                retry_mechs=False):
    """Connects and authenticates; returns a Client after session_start.
    Raises LoginFailed on SASL failure or disconnect. mech=None with
    stock_cb=True and retry_mechs=True is slixmpp exactly as shipped: it
    walks down its mechanism list after each failure."""
    jid = server.jid(user, resource)
    c = Client(jid, password)
    c.ca_certs = server.cert
    if tls12:
        import ssl
        c.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
    port = server.port_direct if direct_tls else server.port

    async def records(domain, port_=None):
        return [('localhost', '127.0.0.1', port)]
    c.get_dns_records = records

    fm = c['feature_mechanisms']
    if mech:
        fm.use_mech = mech
    if not stock_cb:
        orig = fm.sasl_callback

        def creds(required, optional):
            r = orig(required, optional)
            if 'channel_binding' in r:
                r['channel_binding'] = b''
            return r
        fm.sasl_callback = creds

    loop = asyncio.get_running_loop()
    started = loop.create_future()

    def ok(_):
        if not started.done():
            started.set_result(True)

    def fail(why):
        def f(ev):
            if not started.done():
                started.set_exception(LoginFailed('%s: %s: %s'
                                                  % (jid, why, ev)))
        return f
    c.add_event_handler('session_start', ok)
    if not retry_mechs:
        c.add_event_handler('failed_auth', fail('SASL failure'))
    c.add_event_handler('failed_all_auth', fail('no usable mechanism'))
    c.add_event_handler('disconnected', fail('disconnected'))
    c.add_event_handler('connection_failed', fail('connection failed'))
    c.add_event_handler('stream_error', fail('stream error'))
    c.connect(address=('127.0.0.1', port), use_ssl=direct_tls,
              force_starttls=not direct_tls)
    try:
        await asyncio.wait_for(started, timeout)
    except BaseException:
        c.abort()
        raise
    return c


async def ping(c, to, timeout=5):
    """Sends an XEP-0199 ping; returns the reply iq."""
    iq = c.make_iq_get(ito=to)
    iq.xml.append(ET.Element('{urn:xmpp:ping}ping'))
    return await iq.send(timeout=timeout)
