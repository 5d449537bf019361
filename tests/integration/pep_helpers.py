"""pep_helpers.py -- shared pieces of the XEP-0163 (PEP) integration
tests: a raw client that advertises XEP-0115 capabilities and answers the
server's disco#info queries for them whenever they arrive, stanza builders
for XEP-0060 requests, parsers for results and notifications, and helpers
that give two accounts a presence subscription.

Caps: a Caps object is one client's disco#info (identities, features) and
its XEP-0115 sha-1 verification string, computed here from the XEP. Each
Caps made by new_caps() carries a feature unique to it, so its 'ver' is
new to the server (which caches by hash) unless the test reuses the
object. PepClient answers every disco#info get it receives, whatever it
is waiting for (PepClient.recv does it), and records each query in
.disco_queries as (from, node).

Timing: notifications are awaited with deadlines (wait for the expected
ones, then a short grace period in which no further one may arrive);
"nothing arrives" is a grace period plus a barrier (XEP-0199 ping), as in
im_helpers.
"""

import base64
import hashlib
import struct
import time
import uuid
import zlib
from xml.sax.saxutils import escape, quoteattr

import pytest

from ext_helpers import logout
from im_helpers import ImClient, PRESENCE, reach
from xmpp_raw import (NS_CLIENT, NS_DISCO_INFO, Timeout, q, stanza_error,
                      tostr)

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_PUBSUB_EVENT = NS_PUBSUB + '#event'
NS_PUBSUB_OWNER = NS_PUBSUB + '#owner'
NS_PUBSUB_ERRORS = NS_PUBSUB + '#errors'
NS_PUBSUB_PUBLISH_OPTIONS = NS_PUBSUB + '#publish-options'
NS_PUBSUB_NODE_CONFIG = NS_PUBSUB + '#node_config'
NS_CAPS = 'http://jabber.org/protocol/caps'
NS_DATA = 'jabber:x:data'
NS_DELAY = 'urn:xmpp:delay'
NS_TUNE = 'http://jabber.org/protocol/tune'

IQ = q(NS_CLIENT, 'iq')
MESSAGE = q(NS_CLIENT, 'message')
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'

CAPS_NODE = 'https://tern.example/pep-test-client'

GRACE = 0.5          # seconds in which no further stanza may arrive
WAIT = 4.0           # seconds an expected stanza may take


# -- XEP-0115 -----------------------------------------------------------------

def caps_ver_of(identities, features, forms=()):
    """XEP-0115 5.1 verification string (sha-1), from the XEP.
    identities: (category, type, lang, name) tuples; features: strings;
    forms: (FORM_TYPE, {var: [values]}) pairs."""
    s = ''.join('%s/%s/%s/%s<' % i for i in sorted(identities))
    s += ''.join(f + '<' for f in sorted(features))
    for ftype, fields in sorted(forms, key=lambda t: t[0]):
        s += ftype + '<'
        for var in sorted(fields):
            s += var + '<' + ''.join(v + '<' for v in sorted(fields[var]))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


class Caps:
    """A client's disco#info and its caps. answer_features: what the
    client answers to the server's query (default: the features the ver
    was computed from; set it to something else for a wrong hash)."""

    def __init__(self, features, name='tern-pep-test', node=CAPS_NODE,
                 answer_features=None):
        self.identities = [('client', 'pc', '', name)]
        self.features = sorted(set(features))
        self.node = node
        self.ver = caps_ver_of(self.identities, self.features)
        self.answer_features = (sorted(set(answer_features))
                                if answer_features is not None
                                else self.features)
        self.used = False     # a client has announced it already

    def c_element(self):
        return "<c xmlns='%s' hash='sha-1' node=%s ver=%s/>" % (
            NS_CAPS, quoteattr(self.node), quoteattr(self.ver))

    def query_xml(self, node=None):
        attr = '' if node is None else ' node=%s' % quoteattr(node)
        ids = ''.join("<identity category=%s type=%s name=%s/>" % (
            quoteattr(c), quoteattr(t), quoteattr(n))
            for c, t, _lang, n in self.identities)
        feats = ''.join('<feature var=%s/>' % quoteattr(f)
                        for f in self.answer_features)
        return "<query xmlns='%s'%s>%s%s</query>" % (NS_DISCO_INFO, attr,
                                                     ids, feats)


def new_caps(*notify, extra=(), wrong=False):
    """Caps of a client interested in the given nodes (a '+notify'
    feature each), with a feature unique to this object (so the ver is
    new to the server). wrong=True: the client's disco#info answer does
    not match the ver it advertises (the ver is computed from a set
    without the '+notify' features, the answer has them)."""
    base = [NS_CAPS, NS_DISCO_INFO, 'urn:tern:test:%s' % uuid.uuid4().hex]
    base += list(extra)
    with_notify = base + ['%s+notify' % n for n in notify]
    if wrong:
        return Caps(base, answer_features=with_notify)
    return Caps(with_notify)


# -- the client ---------------------------------------------------------------

def is_disco_get(el):
    return (el.tag == IQ and el.get('type') == 'get' and
            el.find(q(NS_DISCO_INFO, 'query')) is not None)


class PepClient(ImClient):
    """An ImClient that advertises caps in its available presence and
    answers disco#info queries as they come."""

    def __init__(self, server, user, pw, cafile=None, caps=None, **kw):
        super().__init__(server, user, pw, cafile=cafile, **kw)
        self.caps = caps
        self.disco_queries = []     # (from, node) of each query answered

    def recv(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            el = super().recv(timeout=max(deadline - time.monotonic(),
                                          0.001))
            if not is_disco_get(el):
                return el
            self._answer_disco(el)

    def _answer_disco(self, iq):
        node = iq.find(q(NS_DISCO_INFO, 'query')).get('node')
        self.disco_queries.append((iq.get('from'), node))
        if self.caps is None:
            body = "<query xmlns='%s'%s><identity category='client' " \
                "type='pc'/><feature var='%s'/></query>" % (
                    NS_DISCO_INFO,
                    '' if node is None else ' node=%s' % quoteattr(node),
                    NS_DISCO_INFO)
        else:
            body = self.caps.query_xml(node)
        to = iq.get('from')
        self.send("<iq type='result' id=%s%s>%s</iq>" % (
            quoteattr(iq.get('id') or ''),
            '' if to is None else ' to=%s' % quoteattr(to), body))

    # -- presence with caps ---------------------------------------------------

    def available(self, priority=None, extra=''):
        """Sends available presence, with <c/> when the client has caps."""
        c = self.caps.c_element() if self.caps is not None else ''
        self.presence(priority=priority, extra=c + extra)

    def settle_caps(self, wait_query=False, timeout=WAIT):
        """Waits (wait_query) until the server has asked for our caps
        (once more than before the call), then barriers until a barrier
        brings no new query. Returns the other elements received
        meanwhile."""
        got = []
        deadline = time.monotonic() + timeout
        before = len(self.disco_queries)
        if wait_query:
            while len(self.disco_queries) == before:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout('the server never asked %s for its caps '
                                  '(disco#info %s#%s)%s' % (
                                      self.jid, self.caps.node,
                                      self.caps.ver, self.transcript()))
                try:
                    got.append(self.recv(timeout=left))
                except Timeout:
                    pass
        while True:
            n = len(self.disco_queries)
            got += self.sync()
            if len(self.disco_queries) == n:
                return got

    def collect(self, duration=GRACE):
        """Everything that arrives within duration, then a barrier."""
        out = []
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                out.append(self.recv(timeout=left))
            except Timeout:
                break
        return out + self.sync()

    def events(self, n, node=None, seen=(), timeout=WAIT, grace=GRACE,
               what=''):
        """Waits for n pubsub event messages (of node, if given), counting
        those among seen (elements already received, e.g. c.initial),
        then a grace period: asserts that exactly n arrived; returns
        them."""
        got = [e for e in seen if is_event(e, node)]
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout('%s: %s got %d of %d event(s) for %s%s' % (
                    what, self.jid, len(got), n, node, self.transcript()))
            try:
                el = self.recv(timeout=left)
            except Timeout:
                continue
            if is_event(el, node):
                got.append(el)
        more = [e for e in self.collect(grace) if is_event(e, node)]
        assert len(got) == n and not more, \
            '%s: %s got more than %d event(s): %s' % (
                what, self.jid, n, [tostr(e) for e in got + more])
        return got

    def no_events(self, node=None, grace=GRACE, what=''):
        """Asserts that no pubsub event (of node) arrives within grace."""
        evs = [e for e in self.collect(grace) if is_event(e, node)]
        assert not evs, '%s: unexpected event(s) for %s: %s' % (
            what, self.jid, [tostr(e) for e in evs])


def pep_connect(server, cafile, user, pw, resource=None, caps=None,
                available=True, priority=None, wait_query=None):
    """Logs a PepClient in: roster get, then (available) presence with
    its caps and the caps exchange. wait_query: wait for the server's
    disco#info query (default: when the caps were not announced before).
    c.initial holds what arrived meanwhile (presences, last items...)."""
    c = PepClient(server, user, pw, cafile=cafile, caps=caps)
    try:
        c.login(user, pw, resource=resource)
        r = c.roster_get()
        assert r.get('type') == 'result', tostr(r)
        c.initial = []
        if available:
            if wait_query is None:
                wait_query = caps is not None and not caps.used
            c.available(priority=priority)
            if caps is not None:
                caps.used = True
            c.initial = c.settle_caps(wait_query=wait_query)
    except BaseException:
        c.close()
        raise
    return c


@pytest.fixture
def pep(server, cafile):
    """Factory: pep(user, pw, resource=None, caps=None, ...) on the
    module's server; every client is closed at the end."""
    made = []

    def make(user, pw, **kw):
        c = pep_connect(server, cafile, user, pw, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def accounts(server, n, prefix='pep'):
    return [server.new_user(prefix) for _ in range(n)]


def befriend(server, cafile, a, b, state='both'):
    """Brings account a -> account b (each (user, pw)) into a presence
    subscription state (im_helpers.STATE_PATHS; 'from': b is subscribed
    to a's presence) with real stanzas, on connections of their own that
    are closed afterwards."""
    ca = ImClient(server, a[0], a[1], cafile=cafile)
    cb = ImClient(server, b[0], b[1], cafile=cafile)
    try:
        for c in (ca, cb):
            c.login(c.user, c.pw, resource='setup')
            c.roster_get()
            c.presence()
            c.sync()
        reach(ca, cb, state)
    finally:
        for c in (ca, cb):
            try:
                logout(c)
            except Exception:
                c.close()


# -- XEP-0060 requests --------------------------------------------------------

def form_xml(form_type, fields, type_='submit'):
    """A jabber:x:data form: fields is {var: value or [values]}."""
    out = ["<x xmlns='%s' type='%s'><field var='FORM_TYPE' type='hidden'>"
           "<value>%s</value></field>" % (NS_DATA, type_, escape(form_type))]
    for var, val in fields.items():
        vals = val if isinstance(val, (list, tuple)) else [val]
        out.append('<field var=%s>%s</field>' % (
            quoteattr(var), ''.join('<value>%s</value>' % escape(str(v))
                                    for v in vals)))
    out.append('</x>')
    return ''.join(out)


def publish_options_xml(options):
    if options is None:
        return ''
    return '<publish-options>%s</publish-options>' % form_xml(
        NS_PUBSUB_PUBLISH_OPTIONS, options)


def publish_xml(node, payload, item_id=None, options=None):
    idattr = '' if item_id is None else ' id=%s' % quoteattr(item_id)
    return ("<pubsub xmlns='%s'><publish node=%s><item%s>%s</item></publish>"
            "%s</pubsub>" % (NS_PUBSUB, quoteattr(node), idattr, payload,
                             publish_options_xml(options)))


def publish(c, node, payload, item_id=None, options=None, to=None):
    """Sends a publish; returns the reply."""
    return c.query('set', publish_xml(node, payload, item_id, options),
                   to=to)


def publish_ok(c, node, payload, item_id=None, options=None, to=None):
    r = publish(c, node, payload, item_id, options, to)
    assert r.get('type') == 'result', tostr(r)
    return r


def published_id(r):
    """The item id in a publish result (XEP-0060 7.1.2), or None."""
    it = r.find('%s/%s/%s' % (q(NS_PUBSUB, 'pubsub'), q(NS_PUBSUB, 'publish'),
                              q(NS_PUBSUB, 'item')))
    return None if it is None else it.get('id')


def get_items(c, node, to=None, max_items=None, ids=()):
    """Sends an items request; returns the reply."""
    attr = '' if max_items is None else " max_items='%d'" % max_items
    inner = ''.join('<item id=%s/>' % quoteattr(i) for i in ids)
    return c.query('get', "<pubsub xmlns='%s'><items node=%s%s>%s</items>"
                   "</pubsub>" % (NS_PUBSUB, quoteattr(node), attr, inner),
                   to=to)


def items_of(r, node):
    """[(id, payload element or None)] of an items result."""
    assert r.tag == IQ and r.get('type') == 'result', tostr(r)
    ps = r.find(q(NS_PUBSUB, 'pubsub'))
    assert ps is not None, tostr(r)
    its = ps.findall(q(NS_PUBSUB, 'items'))
    assert len(its) == 1 and its[0].get('node') == node, tostr(r)
    out = []
    for it in its[0].findall(q(NS_PUBSUB, 'item')):
        kids = list(it)
        assert len(kids) <= 1, 'item with several payloads: ' + tostr(it)
        out.append((it.get('id'), kids[0] if kids else None))
    return out


def retract(c, node, item_id, notify=True, to=None):
    attr = " notify='true'" if notify else ''
    return c.query('set', "<pubsub xmlns='%s'><retract node=%s%s><item id=%s/>"
                   "</retract></pubsub>" % (NS_PUBSUB, quoteattr(node), attr,
                                            quoteattr(item_id)), to=to)


def subscribe(c, node, jid=None, to=None):
    return c.query('set', "<pubsub xmlns='%s'><subscribe node=%s jid=%s/>"
                   "</pubsub>" % (NS_PUBSUB, quoteattr(node),
                                  quoteattr(jid or c.jid)), to=to)


def delete_node(c, node, to=None):
    return c.query('set', "<pubsub xmlns='%s'><delete node=%s/></pubsub>"
                   % (NS_PUBSUB_OWNER, quoteattr(node)), to=to)


def get_config(c, node, to=None):
    """{var: [values]} of the node configuration form (owner)."""
    r = c.query('get', "<pubsub xmlns='%s'><configure node=%s/></pubsub>"
                % (NS_PUBSUB_OWNER, quoteattr(node)), to=to)
    assert r.get('type') == 'result', tostr(r)
    x = r.find('%s/%s/%s' % (q(NS_PUBSUB_OWNER, 'pubsub'),
                             q(NS_PUBSUB_OWNER, 'configure'), q(NS_DATA, 'x')))
    assert x is not None, tostr(r)
    return {f.get('var'): [v.text or '' for v in f.findall(q(NS_DATA,
                                                              'value'))]
            for f in x.findall(q(NS_DATA, 'field'))}


def set_config(c, node, fields, to=None):
    return c.query('set', "<pubsub xmlns='%s'><configure node=%s>%s"
                   "</configure></pubsub>" % (
                       NS_PUBSUB_OWNER, quoteattr(node),
                       form_xml(NS_PUBSUB_NODE_CONFIG, fields)), to=to)


def pubsub_error(r):
    """(type, stanza condition, pubsub#errors condition or None)."""
    assert r.tag == IQ and r.get('type') == 'error', tostr(r)
    type_, cond = stanza_error(r)
    err = r.find(q(NS_CLIENT, 'error'))
    apps = [c.tag.split('}', 1)[1] for c in err
            if c.tag.startswith('{%s}' % NS_PUBSUB_ERRORS)]
    return type_, cond, (apps[0] if len(apps) == 1 else (apps or None))


def assert_pubsub_error(r, type_, cond, app=None):
    got = pubsub_error(r)
    assert got == (type_, cond, app), 'expected %s, got %s: %s' % (
        (type_, cond, app), got, tostr(r))


# -- notifications ------------------------------------------------------------

def is_event(el, node=None):
    """A message carrying a pubsub event (about node, if given)."""
    if el.tag != MESSAGE:
        return False
    ev = el.find(q(NS_PUBSUB_EVENT, 'event'))
    if ev is None:
        return False
    if node is None:
        return True
    return any(k.get('node') == node for k in ev)


def event_of(msg):
    ev = msg.find(q(NS_PUBSUB_EVENT, 'event'))
    assert ev is not None, tostr(msg)
    return ev


def event_items(msg, node):
    """(published [(id, payload)], retracted [ids]) of an items event:
    asserts it is one <items node=node/>."""
    ev = event_of(msg)
    kids = list(ev)
    assert len(kids) == 1 and kids[0].tag == q(NS_PUBSUB_EVENT, 'items') \
        and kids[0].get('node') == node, tostr(msg)
    pub, ret = [], []
    for k in kids[0]:
        if k.tag == q(NS_PUBSUB_EVENT, 'item'):
            payload = list(k)
            assert len(payload) <= 1, tostr(msg)
            pub.append((k.get('id'), payload[0] if payload else None))
        elif k.tag == q(NS_PUBSUB_EVENT, 'retract'):
            ret.append(k.get('id'))
        else:
            raise AssertionError('unexpected in <items/>: ' + tostr(msg))
    return pub, ret


def check_event(msg, owner, to, node, item_id=None):
    """A PEP notification (XEP-0163 4.3): from the owner's bare JID, to
    the recipient's full JID, type headline, one <items node/> with one
    item; returns (id, payload)."""
    assert msg.get('from') == owner, tostr(msg)
    assert msg.get('to') == to, tostr(msg)
    assert msg.get('type') == 'headline', tostr(msg)
    pub, ret = event_items(msg, node)
    assert len(pub) == 1 and not ret, tostr(msg)
    if item_id is not None:
        assert pub[0][0] == item_id, tostr(msg)
    return pub[0]


# -- payloads -----------------------------------------------------------------

def tune(title, artist='Gerald Finzi'):
    return ("<tune xmlns='%s'><artist>%s</artist><title>%s</title></tune>"
            % (NS_TUNE, escape(artist), escape(title)))


def tune_title(payload):
    assert payload is not None and payload.tag == q(NS_TUNE, 'tune'), \
        tostr(payload)
    return payload.findtext(q(NS_TUNE, 'title'))


def presences_of(els):
    return [e for e in els if e.tag == PRESENCE]


# XEP-0402 (Adding a bookmark): the publish-options clients send.
BOOKMARK_OPTIONS = {'pubsub#persist_items': 'true',
                    'pubsub#max_items': 'max',
                    'pubsub#send_last_published_item': 'never',
                    'pubsub#access_model': 'whitelist'}


def png(width=1, height=1, rgb=(200, 30, 60)):
    """A small valid PNG."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack('>I', len(data)) + body + struct.pack(
            '>I', zlib.crc32(body) & 0xffffffff)
    raw = b''.join(b'\0' + bytes(rgb) * width for _ in range(height))
    return (b'\x89PNG\r\n\x1a\n' +
            chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0,
                                       0, 0)) +
            chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
