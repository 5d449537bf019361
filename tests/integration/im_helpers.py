"""im_helpers.py -- shared pieces of the RFC 6121 (IM and presence) and
XEP-0160 (offline messages) integration tests: a RawClient that knows
rosters, presence and barriers, and helpers that bring two accounts into
a given subscription state with real stanzas.

Barrier: RawClient.sync() sends an XEP-0199 ping to the server and
returns every element that arrived before its result. The server handles
one session's stanzas in order and writes each stream in order, so once
a sender's own barrier returned (its earlier stanza was processed: roster
and presence work holds the sender until done), a barrier on the
recipient returns whatever that stanza caused there. "Nothing arrived"
is then an exact statement, with no sleeping. This holds when the
recipient's roster is in memory, which it is while the recipient has a
session that fetched the roster or sent presence (ImClient.login does
both by default).
"""

from xml.sax.saxutils import escape, quoteattr

import pytest

from xmpp_raw import NS_CLIENT, NS_PING, RawClient, q, stanza_error, tostr

NS_ROSTER = 'jabber:iq:roster'
NS_ROSTERVER = 'urn:xmpp:features:rosterver'
NS_PREAPPROVAL = 'urn:xmpp:features:pre-approval'
NS_DELAY = 'urn:xmpp:delay'

IQ = q(NS_CLIENT, 'iq')
MESSAGE = q(NS_CLIENT, 'message')
PRESENCE = q(NS_CLIENT, 'presence')
QUERY = q(NS_ROSTER, 'query')
ITEM = q(NS_ROSTER, 'item')
GROUP = q(NS_ROSTER, 'group')
BODY = q(NS_CLIENT, 'body')

SUB_TYPES = ('subscribe', 'subscribed', 'unsubscribe', 'unsubscribed')


def bare(jid):
    return jid.split('/', 1)[0] if jid else jid


class ImClient(RawClient):
    """A bound RawClient with roster and presence helpers."""

    def __init__(self, server, user, pw, cafile=None, **kw):
        kw.setdefault('domain', server.domain)
        if server.domain != 'localhost':
            kw.setdefault('server_name', server.domain)
        super().__init__(server.port, cafile=cafile, **kw)
        self.server = server
        self.user, self.pw = user, pw
        self.bare = server.jid(user)
        self._sync = 0

    # -- barrier ------------------------------------------------------------

    def sync(self, timeout=None):
        """Pings the server; returns the elements received before the
        result (in order)."""
        self._sync += 1
        iid = 'sync%d' % self._sync
        self.send("<iq type='get' id='%s' to='%s'><ping xmlns='%s'/></iq>"
                  % (iid, self.server.domain, NS_PING))
        got = []
        while True:
            el = self.recv(timeout=timeout)
            if el.tag == IQ and el.get('id') == iid:
                assert el.get('type') == 'result', tostr(el)
                return got
            got.append(el)

    def expect_quiet(self, what=''):
        """Asserts that nothing is waiting for this client."""
        got = self.sync()
        assert not got, '%s: unexpected for %s: %s' % (
            what, self.jid, [tostr(e) for e in got])

    # -- roster ---------------------------------------------------------------

    def roster_get(self, ver=None, to=None):
        """Sends a roster get; returns the reply."""
        attr = '' if ver is None else ' ver=%s' % quoteattr(ver)
        return self.query('get', "<query xmlns='%s'%s/>" % (NS_ROSTER, attr),
                          to=to)

    def roster(self):
        """{contact: item element} of a successful roster get."""
        r = self.roster_get()
        assert r.get('type') == 'result', tostr(r)
        qe = r.find(QUERY)
        assert qe is not None, tostr(r)
        return {i.get('jid'): i for i in qe.findall(ITEM)}

    def roster_set(self, jid, name=None, groups=(), extra_attrs='',
                   to=None):
        """Sends a roster set with one item; returns the reply."""
        return self.query('set', item_xml(jid, name, groups, extra_attrs),
                          to=to)

    def roster_remove(self, jid):
        return self.query('set', "<query xmlns='%s'><item jid=%s "
                          "subscription='remove'/></query>"
                          % (NS_ROSTER, quoteattr(jid)))

    # -- presence -------------------------------------------------------------

    def presence(self, type_=None, to=None, priority=None, show=None,
                 status=None, extra=''):
        attrs = ''
        if type_:
            attrs += ' type=%s' % quoteattr(type_)
        if to:
            attrs += ' to=%s' % quoteattr(to)
        body = ''
        if show is not None:
            body += '<show>%s</show>' % escape(show)
        if status is not None:
            body += '<status>%s</status>' % escape(status)
        if priority is not None:
            body += '<priority>%s</priority>' % escape(str(priority))
        self.send('<presence%s>%s%s</presence>' % (attrs, body, extra))

    def message(self, to, body='hi', type_=None, id_=None, extra=''):
        attrs = ' to=%s' % quoteattr(to)
        if type_:
            attrs += ' type=%s' % quoteattr(type_)
        if id_:
            attrs += ' id=%s' % quoteattr(id_)
        b = '<body>%s</body>' % escape(body) if body is not None else ''
        self.send('<message%s>%s%s</message>' % (attrs, b, extra))


def settle(*clients):
    """Barriers on each client in turn (drops what they collected): what
    logins and earlier steps caused has arrived everywhere."""
    for c in clients:
        c.sync()


def item_xml(jid, name=None, groups=(), extra_attrs=''):
    attrs = ' jid=%s' % quoteattr(jid) if jid is not None else ''
    if name is not None:
        attrs += ' name=%s' % quoteattr(name)
    if extra_attrs:
        attrs += ' ' + extra_attrs
    gs = ''.join('<group>%s</group>' % escape(g) for g in groups)
    return "<query xmlns='%s'><item%s>%s</item></query>" % (
        NS_ROSTER, attrs, gs)


# -- element predicates -------------------------------------------------------

def is_push(el):
    return (el.tag == IQ and el.get('type') == 'set' and
            el.find(QUERY) is not None)


def pushes(els):
    return [e for e in els if is_push(e)]


def push_item(push):
    """The single <item/> of a roster push (RFC 6121 2.1.6: exactly
    one)."""
    items = push.find(QUERY).findall(ITEM)
    assert len(items) == 1, 'push with %d items: %s' % (len(items),
                                                         tostr(push))
    return items[0]


def presences(els, type_=None, from_=None):
    """The presence stanzas among els, optionally of one type ('' for
    available) and/or from one JID (bare JIDs match any resource)."""
    out = []
    for e in els:
        if e.tag != PRESENCE:
            continue
        if type_ is not None and (e.get('type') or '') != type_:
            continue
        if from_ is not None:
            f = e.get('from') or ''
            if f != from_ and ('/' in from_ or bare(f) != from_):
                continue
        out.append(e)
    return out


def messages(els):
    return [e for e in els if e.tag == MESSAGE]


def view(item):
    """What a client sees of a roster item: (subscription, ask,
    approved); None for no item."""
    if item is None:
        return None
    return (item.get('subscription'), item.get('ask'),
            item.get('approved'))


def error_of(el):
    """(type, condition) of a stanza error."""
    return stanza_error(el)


def children(el):
    return list(el)


# -- fixtures -----------------------------------------------------------------

def connect(server, cafile, user=None, pw=None, resource=None, roster=True,
            available=True, priority=None, drain=True):
    """Logs a fresh ImClient in (a new account unless user is given):
    roster get (an interested resource) and initial presence unless told
    otherwise, then a barrier. c.initial holds what the barrier
    collected (probe answers, offline messages, waiting requests)."""
    if user is None:
        user, pw = server.new_user('im')
    c = ImClient(server, user, pw, cafile=cafile)
    try:
        c.login(user, pw, resource=resource)
        if roster:
            r = c.roster_get()
            assert r.get('type') == 'result', tostr(r)
            c.first_roster = r
        if available:
            c.presence(priority=priority)
        c.initial = c.sync() if drain else []
    except BaseException:
        c.close()
        raise
    return c


@pytest.fixture
def im(server, cafile):
    """Factory: connect(...) on the module's server (or srv=another),
    closing every client at the end."""
    made = []

    def make(user=None, pw=None, srv=None, **kw):
        c = connect(srv or server, cafile, user, pw, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


# -- subscription states (RFC 6121 Appendix A.1, seen from a towards b) -------

# How a (the user) reaches each state towards b (the contact), both
# online: (who sends, type) steps. Pre-approved states go through
# 'subscribed' sent without a pending request (3.4).
STATE_PATHS = {
    'none': [],
    'none+out': [('a', 'subscribe')],
    'none+in': [('b', 'subscribe')],
    'none+out+in': [('a', 'subscribe'), ('b', 'subscribe')],
    'to': [('a', 'subscribe'), ('b', 'subscribed')],
    'to+in': [('a', 'subscribe'), ('b', 'subscribed'), ('b', 'subscribe')],
    'from': [('b', 'subscribe'), ('a', 'subscribed')],
    'from+out': [('b', 'subscribe'), ('a', 'subscribed'),
                 ('a', 'subscribe')],
    'both': [('a', 'subscribe'), ('b', 'subscribed'), ('b', 'subscribe'),
             ('a', 'subscribed')],
}

# The state b is in towards a when a is in the key state.
MIRROR = {
    'none': 'none', 'none+out': 'none+in', 'none+in': 'none+out',
    'none+out+in': 'none+out+in', 'to': 'from', 'to+in': 'from+out',
    'from': 'to', 'from+out': 'to+in', 'both': 'both',
}


def state_view(state):
    """The (subscription, ask, approved) a client sees for a state
    (pending-in is not shown; '+approved' suffix: pre-approved)."""
    approved = 'true' if state.endswith('+approved') else None
    base = state[:-len('+approved')] if approved else state
    sub = base.split('+')[0]
    ask = 'subscribe' if '+out' in base else None
    return (sub, ask, approved)


def norm_view(v):
    """No item looks like subscription='none' without ask or approval."""
    return ('none', None, None) if v is None else v


def step(sender, receiver, type_):
    """sender sends presence type_ to receiver's bare JID; barriers on
    both (the receiver's roster is in memory: it is logged in)."""
    sender.presence(type_, to=receiver.bare)
    return sender.sync(), receiver.sync()


def reach(a, b, state):
    """Brings a -> b into state with real stanzas; drains both."""
    for who, type_ in STATE_PATHS[state]:
        if who == 'a':
            step(a, b, type_)
        else:
            step(b, a, type_)
    settle(a, b)
