"""pubsub_helpers.py -- raw-stanza helpers for the XEP-0060 tests
(test_pubsub.py): stanza builders for the pubsub, pubsub#owner and
jabber:x:data pieces, result and error parsers, event-notification
predicates, and a fixture of logged-in, available clients.

The clients are im_helpers.ImClient objects (roster and presence helpers,
and the ping barrier `sync()`), so the access-model tests can build real
presence subscriptions and roster groups with them.

Item payloads are <entry xmlns='urn:example:ps'><title>TEXT</title>
</entry>; `entry(text)` builds one and `entry_text(item)` reads it back.
"""

import time
import uuid
from xml.sax.saxutils import escape, quoteattr

import pytest

from im_helpers import connect as im_connect
from xmpp_raw import NS_CLIENT, Timeout, q, tostr

PUBSUB = 'pubsub.localhost'

NS_PUBSUB = 'http://jabber.org/protocol/pubsub'
NS_OWNER = NS_PUBSUB + '#owner'
NS_EVENT = NS_PUBSUB + '#event'
NS_ERRORS = NS_PUBSUB + '#errors'
NS_RSM = 'http://jabber.org/protocol/rsm'
NS_DATA = 'jabber:x:data'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas'
NS_ENTRY = 'urn:example:ps'

FT_NODE_CONFIG = NS_PUBSUB + '#node_config'
FT_SUB_OPTIONS = NS_PUBSUB + '#subscribe_options'
FT_PUBLISH_OPTIONS = NS_PUBSUB + '#publish-options'
FT_META = NS_PUBSUB + '#meta-data'
FT_SUB_AUTH = NS_PUBSUB + '#subscribe_authorization'

IQ = q(NS_CLIENT, 'iq')
MESSAGE = q(NS_CLIENT, 'message')

_nodes = [0]


def new_node(prefix='node'):
    """A node name no other test uses."""
    _nodes[0] += 1
    return '%s%d-%s' % (prefix, _nodes[0], uuid.uuid4().hex[:10])


# -- payloads -----------------------------------------------------------------

def entry(text):
    return "<entry xmlns='%s'><title>%s</title></entry>" % (NS_ENTRY,
                                                           escape(text))


def entry_text(item):
    """The title of the single <entry/> payload of an <item/>; None when
    the item has no payload. Asserts there is at most one child."""
    kids = list(item)
    assert len(kids) <= 1, 'item with %d payloads: %s' % (len(kids),
                                                         tostr(item))
    if not kids:
        return None
    assert kids[0].tag == q(NS_ENTRY, 'entry'), tostr(item)
    return kids[0].findtext(q(NS_ENTRY, 'title'))


# -- data forms ---------------------------------------------------------------

def _value(v):
    if v is True:
        return '1'
    if v is False:
        return '0'
    return str(v)


def form_xml(form_type, fields, type_='submit'):
    """A jabber:x:data form: fields is {var: value or list of values}
    (True/False become 1/0); form_type None leaves FORM_TYPE out."""
    out = "<x xmlns='%s' type='%s'>" % (NS_DATA, type_)
    if form_type is not None:
        out += ("<field var='FORM_TYPE' type='hidden'><value>%s</value>"
                "</field>" % escape(form_type))
    for var, val in fields.items():
        vals = val if isinstance(val, (list, tuple)) else [val]
        out += '<field var=%s>%s</field>' % (
            quoteattr(var),
            ''.join('<value>%s</value>' % escape(_value(v)) for v in vals))
    return out + '</x>'


def form_values(x):
    """{var: [values]} of a data form element (FORM_TYPE included)."""
    assert x is not None and x.tag == q(NS_DATA, 'x'), tostr(x)
    out = {}
    for f in x.findall(q(NS_DATA, 'field')):
        out[f.get('var')] = [v.text or '' for v in
                             f.findall(q(NS_DATA, 'value'))]
    return out


def form_field(x, var):
    for f in x.findall(q(NS_DATA, 'field')):
        if f.get('var') == var:
            return f
    return None


BOOLEAN = {'1': True, 'true': True, '0': False, 'false': False}


def as_bool(vals):
    """A boolean field's value ([text]) as a bool; asserts it is one."""
    assert len(vals) == 1 and vals[0] in BOOLEAN, 'not a boolean: %r' % (
        vals,)
    return BOOLEAN[vals[0]]


def single(vals):
    assert len(vals) == 1, 'expected one value, got %r' % (vals,)
    return vals[0]


# -- errors -------------------------------------------------------------------

def ps_error(el):
    """(type, stanza condition, pubsub#errors condition or None) of an
    error stanza."""
    err = el.find(q(NS_CLIENT, 'error'))
    assert err is not None, 'no <error/> in ' + tostr(el)
    conds = [c.tag.split('}', 1)[1] for c in err
             if c.tag.startswith('{%s}' % NS_STANZAS) and
             not c.tag.endswith('}text')]
    apps = [c.tag.split('}', 1)[1] for c in err
            if c.tag.startswith('{%s}' % NS_ERRORS)]
    assert len(conds) == 1, 'expected one defined condition: ' + tostr(el)
    assert len(apps) <= 1, tostr(el)
    return err.get('type'), conds[0], (apps[0] if apps else None)


def assert_error(r, type_, cond, app=None):
    """r is an IQ error from the service with exactly this type and
    condition, and (if app is given) this pubsub#errors condition. type_
    or cond may be a tuple of acceptable values."""
    assert r.tag == IQ and r.get('type') == 'error', \
        'expected an error <%s/>, got %s' % (cond, tostr(r))
    t, c, a = ps_error(r)
    types = type_ if isinstance(type_, tuple) else (type_,)
    conds = cond if isinstance(cond, tuple) else (cond,)
    assert t in types and c in conds, \
        'expected <%s/> (%s), got %s' % (cond, type_, tostr(r))
    if app is not None:
        assert a == app, 'expected pubsub#errors <%s/>, got %s' % (
            app, tostr(r))


def assert_result(r):
    assert r.tag == IQ and r.get('type') == 'result', tostr(r)
    return r


# -- IQs ----------------------------------------------------------------------

def keep_query(c, type_, payload, to=PUBSUB, timeout=None):
    """An IQ round trip like RawClient.query, except that whatever else
    arrives meanwhile (a notification sent before the result, a roster
    push) is kept, in order, for the next recv/wait_for."""
    iid = c.iq(type_, payload, to)
    deadline = time.monotonic() + (timeout or c.timeout)
    kept = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("timed out waiting for iq reply id='%s'%s"
                              % (iid, c.transcript()))
            el = c.recv(timeout=left)
            if el.tag == IQ and el.get('id') == iid and \
                    el.get('type') in ('result', 'error'):
                return el
            kept.append(el)
    finally:
        c.pending[0:0] = kept


def ps_query(c, type_, inner, owner=False, to=PUBSUB, timeout=None):
    """Sends <pubsub/> (pubsub or pubsub#owner namespace) with inner;
    returns the reply (other stanzas are kept, see keep_query)."""
    ns = NS_OWNER if owner else NS_PUBSUB
    return keep_query(c, type_, "<pubsub xmlns='%s'>%s</pubsub>"
                      % (ns, inner), to=to, timeout=timeout)


def pubsub_child(r, name, owner=False):
    """The <name/> child of the <pubsub/> of a result (None if absent)."""
    assert_result(r)
    ns = NS_OWNER if owner else NS_PUBSUB
    ps = r.find(q(ns, 'pubsub'))
    if ps is None:
        return None
    return ps.find(q(ns, name))


def node_attr(node):
    return '' if node is None else ' node=%s' % quoteattr(node)


def create(c, node=None, config=None):
    inner = '<create%s/>' % node_attr(node)
    if config is not None:
        inner += '<configure>%s</configure>' % form_xml(FT_NODE_CONFIG,
                                                         config)
    return ps_query(c, 'set', inner)


def create_ok(c, node=None, config=None):
    """Creates node (instant when None); returns the node's name."""
    r = assert_result(create(c, node, config))
    cr = pubsub_child(r, 'create')
    if node is None:
        assert cr is not None and cr.get('node'), \
            'instant node without a name: ' + tostr(r)
        return cr.get('node')
    if cr is not None and cr.get('node'):
        assert cr.get('node') == node, tostr(r)
    return node


def publish(c, node, text=None, item_id=None, options=None, raw=None):
    """Publishes one item (payload entry(text), or raw XML inside the
    item); options: publish-options fields. Returns the reply."""
    body = raw if raw is not None else (entry(text) if text is not None
                                        else '')
    idattr = '' if item_id is None else ' id=%s' % quoteattr(item_id)
    inner = '<publish%s><item%s>%s</item></publish>' % (
        node_attr(node), idattr, body)
    if options is not None:
        inner += '<publish-options>%s</publish-options>' % form_xml(
            FT_PUBLISH_OPTIONS, options)
    return ps_query(c, 'set', inner)


def publish_ok(c, node, text, item_id=None, options=None):
    """Publishes; returns the item id (the one given, or the one the
    service generated and returned)."""
    r = assert_result(publish(c, node, text, item_id, options))
    pub = pubsub_child(r, 'publish')
    if item_id is None:
        assert pub is not None, 'no <publish/> in the result: ' + tostr(r)
    if pub is None:
        return item_id
    assert pub.get('node') == node, tostr(r)
    items = pub.findall(q(NS_PUBSUB, 'item'))
    assert len(items) == 1 and items[0].get('id'), tostr(r)
    if item_id is not None:
        assert items[0].get('id') == item_id, tostr(r)
    return items[0].get('id')


def retract(c, node, item_id, notify=None):
    attrs = node_attr(node)
    if notify is not None:
        attrs += ' notify=%s' % quoteattr(notify)
    return ps_query(c, 'set', "<retract%s><item id=%s/></retract>"
                    % (attrs, quoteattr(item_id)))


def get_items(c, node, max_items=None, ids=(), rsm=None):
    """rsm: {'max': n, 'after': id, 'before': id} (XEP-0059)."""
    attrs = node_attr(node)
    if max_items is not None:
        attrs += " max_items='%s'" % max_items
    kids = ''.join('<item id=%s/>' % quoteattr(i) for i in ids)
    inner = '<items%s>%s</items>' % (attrs, kids)
    if rsm is not None:
        inner += "<set xmlns='%s'>%s</set>" % (NS_RSM, ''.join(
            '<%s>%s</%s>' % (k, escape(str(v)), k) for k, v in rsm.items()))
    return ps_query(c, 'get', inner)


def items_of(r, node):
    """[(id, title)] of an items result, in the order sent."""
    items = pubsub_child(r, 'items')
    assert items is not None, 'no <items/> in ' + tostr(r)
    assert items.get('node') == node, tostr(r)
    return [(i.get('id'), entry_text(i))
            for i in items.findall(q(NS_PUBSUB, 'item'))]


def rsm_of(r):
    """{'first': text, 'index': first's index, 'last': text, 'count': text}
    of the XEP-0059 <set/> in the <pubsub/> of a result."""
    ps = r.find(q(NS_PUBSUB, 'pubsub'))
    st = ps.find(q(NS_RSM, 'set')) if ps is not None else None
    assert st is not None, 'no RSM <set/> in ' + tostr(r)
    first = st.find(q(NS_RSM, 'first'))
    return {'first': None if first is None else first.text,
            'index': None if first is None else first.get('index'),
            'last': st.findtext(q(NS_RSM, 'last')),
            'count': st.findtext(q(NS_RSM, 'count'))}


def items_ok(c, node, **kw):
    return items_of(get_items(c, node, **kw), node)


def item_ids(c, node, **kw):
    return [i for i, _ in items_ok(c, node, **kw)]


def subscribe(c, node, jid=None, options=None):
    jid = c.bare if jid is None else jid
    inner = '<subscribe%s jid=%s/>' % (node_attr(node), quoteattr(jid))
    if options is not None:
        inner += '<options>%s</options>' % form_xml(FT_SUB_OPTIONS, options)
    return ps_query(c, 'set', inner)


def subscribe_ok(c, node, jid=None, options=None, state='subscribed'):
    """Subscribes (c's bare JID unless jid); checks the <subscription/>
    of the result; returns its subid."""
    jid = c.bare if jid is None else jid
    r = assert_result(subscribe(c, node, jid, options))
    sub = pubsub_child(r, 'subscription')
    assert sub is not None, 'no <subscription/> in ' + tostr(r)
    assert sub.get('jid') == jid, tostr(r)
    assert sub.get('node') in (None, node), tostr(r)
    assert sub.get('subscription') == state, tostr(r)
    if state == 'subscribed':
        assert sub.get('subid'), 'no subid: ' + tostr(r)
    return sub.get('subid')


def unsubscribe(c, node, jid=None, subid=None):
    jid = c.bare if jid is None else jid
    attrs = node_attr(node) + ' jid=%s' % quoteattr(jid)
    if subid is not None:
        attrs += ' subid=%s' % quoteattr(subid)
    return ps_query(c, 'set', '<unsubscribe%s/>' % attrs)


def options_get(c, node, jid=None, subid=None):
    jid = c.bare if jid is None else jid
    attrs = node_attr(node) + ' jid=%s' % quoteattr(jid)
    if subid is not None:
        attrs += ' subid=%s' % quoteattr(subid)
    return ps_query(c, 'get', '<options%s/>' % attrs)


def options_set(c, node, fields, jid=None, subid=None):
    jid = c.bare if jid is None else jid
    attrs = node_attr(node) + ' jid=%s' % quoteattr(jid)
    if subid is not None:
        attrs += ' subid=%s' % quoteattr(subid)
    return ps_query(c, 'set', '<options%s>%s</options>' % (
        attrs, form_xml(FT_SUB_OPTIONS, fields)))


def user_subscriptions(c, node=None):
    """[(node, jid, subscription, subid)] of the user's own list."""
    r = assert_result(ps_query(c, 'get', '<subscriptions%s/>'
                               % node_attr(node)))
    subs = pubsub_child(r, 'subscriptions')
    assert subs is not None, tostr(r)
    return [(s.get('node'), s.get('jid'), s.get('subscription'),
             s.get('subid'))
            for s in subs.findall(q(NS_PUBSUB, 'subscription'))]


def user_affiliations(c, node=None):
    """{node: affiliation} of the user's own list."""
    r = assert_result(ps_query(c, 'get', '<affiliations%s/>'
                               % node_attr(node)))
    affs = pubsub_child(r, 'affiliations')
    assert affs is not None, tostr(r)
    out = {}
    for a in affs.findall(q(NS_PUBSUB, 'affiliation')):
        assert a.get('node') not in out, tostr(r)
        out[a.get('node')] = a.get('affiliation')
    return out


# -- owner --------------------------------------------------------------------

def configure_get(c, node):
    return ps_query(c, 'get', '<configure%s/>' % node_attr(node), owner=True)


def config_of(c, node):
    """{var: [values]} of the node's configuration form (type form,
    FORM_TYPE node_config)."""
    r = configure_get(c, node)
    conf = pubsub_child(r, 'configure', owner=True)
    assert conf is not None, 'no <configure/> in ' + tostr(r)
    x = conf.find(q(NS_DATA, 'x'))
    assert x is not None and x.get('type') == 'form', tostr(r)
    vals = form_values(x)
    assert vals.get('FORM_TYPE') == [FT_NODE_CONFIG], tostr(r)
    return vals


def configure_set(c, node, fields):
    return ps_query(c, 'set', '<configure%s>%s</configure>' % (
        node_attr(node), form_xml(FT_NODE_CONFIG, fields)), owner=True)


def configure_ok(c, node, fields):
    assert_result(configure_set(c, node, fields))


def check_config(conf, expected):
    """conf ({var: [values]}) has the expected values: bools compare as
    booleans (1/true, 0/false), lists as sets of values, the rest as the
    single value."""
    for var, want in expected.items():
        assert var in conf, 'no %s in the form: %r' % (var, conf)
        if isinstance(want, bool):
            assert as_bool(conf[var]) is want, (var, conf[var])
        elif isinstance(want, (list, tuple)):
            assert sorted(conf[var]) == sorted(want), (var, conf[var])
        else:
            assert single(conf[var]) == want, (var, conf[var])


def delete_node(c, node, redirect=None):
    body = '' if redirect is None else '<redirect uri=%s/>' % quoteattr(
        redirect)
    return ps_query(c, 'set', '<delete%s>%s</delete>' % (node_attr(node),
                                                         body), owner=True)


def purge(c, node):
    return ps_query(c, 'set', '<purge%s/>' % node_attr(node), owner=True)


def owner_affiliations(c, node):
    """{jid: affiliation} of the owner's affiliation list."""
    r = assert_result(ps_query(c, 'get', '<affiliations%s/>'
                               % node_attr(node), owner=True))
    affs = pubsub_child(r, 'affiliations', owner=True)
    assert affs is not None, tostr(r)
    assert affs.get('node') in (None, node), tostr(r)
    out = {}
    for a in affs.findall(q(NS_OWNER, 'affiliation')):
        assert a.get('jid') not in out, 'listed twice: ' + tostr(r)
        out[a.get('jid')] = a.get('affiliation')
    return out


def set_affiliations(c, node, affs):
    """affs: {jid: affiliation}; returns the reply."""
    body = ''.join('<affiliation jid=%s affiliation=%s/>'
                   % (quoteattr(j), quoteattr(a)) for j, a in affs.items())
    return ps_query(c, 'set', '<affiliations%s>%s</affiliations>'
                    % (node_attr(node), body), owner=True)


def owner_subscriptions(c, node):
    """[(jid, subscription, subid)] of the owner's subscription list."""
    r = assert_result(ps_query(c, 'get', '<subscriptions%s/>'
                               % node_attr(node), owner=True))
    subs = pubsub_child(r, 'subscriptions', owner=True)
    assert subs is not None, tostr(r)
    assert subs.get('node') in (None, node), tostr(r)
    return [(s.get('jid'), s.get('subscription'), s.get('subid'))
            for s in subs.findall(q(NS_OWNER, 'subscription'))]


def set_subscriptions(c, node, subs):
    """subs: [(jid, state)] or [(jid, state, subid)]."""
    body = ''
    for s in subs:
        extra = ' subid=%s' % quoteattr(s[2]) if len(s) > 2 else ''
        body += '<subscription jid=%s subscription=%s%s/>' % (
            quoteattr(s[0]), quoteattr(s[1]), extra)
    return ps_query(c, 'set', '<subscriptions%s>%s</subscriptions>'
                    % (node_attr(node), body), owner=True)


# -- events -------------------------------------------------------------------

def event_of(el):
    """The <event/> of a notification message from the service, or
    None."""
    if el.tag != MESSAGE or el.get('from') != PUBSUB:
        return None
    return el.find(q(NS_EVENT, 'event'))


def event_child(el, kind, node):
    """The <kind node=node/> inside the event of el (None if el is not
    such a notification)."""
    ev = event_of(el)
    if ev is None:
        return None
    for k in ev:
        if k.tag == q(NS_EVENT, kind) and k.get('node') == node:
            return k
    return None


def wait_event(c, node, kind='items', pred=lambda k: True, timeout=None):
    """Waits for a notification <message/> whose event holds <kind
    node=node/> (dropping anything else); returns the message."""
    return c.wait_for(
        lambda e: event_child(e, kind, node) is not None and
        pred(event_child(e, kind, node)),
        timeout=timeout, what='pubsub <%s node=%s/> event' % (kind, node))


def events(els, node=None, kind=None):
    """The notification messages from the service among els (about node
    if given, of kind -- 'items', 'purge', 'subscription'... -- if
    given)."""
    out = []
    for e in els:
        ev = event_of(e)
        if ev is None:
            continue
        if not any((node is None or k.get('node') == node) and
                   (kind is None or k.tag == q(NS_EVENT, kind))
                   for k in ev):
            continue
        out.append(e)
    return out


def has_item(item_id, tag='item'):
    """A pred for wait_event: the <items/> holds <tag id=item_id/>."""
    return lambda k: any(i.tag == q(NS_EVENT, tag) and
                         i.get('id') == item_id for i in k)


def about_item(node, item_id):
    """A pred for no_events: a notification with <items node/> holding
    <item id=item_id/>."""
    def pred(msg):
        k = event_child(msg, 'items', node)
        return k is not None and has_item(item_id)(k)
    return pred


def eventually(fn, want, timeout=3.0):
    """Calls fn until it returns want or timeout passes; returns the last
    value (for state changed by a <message/>, which has no reply)."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def no_events(c, node=None, kind=None, wait=0.25, pred=None):
    """Asserts that no notification (about node, of kind, matching pred
    if given) is waiting for c or arrives within `wait` seconds after a
    barrier; everything that was waiting is consumed."""
    got = c.sync()
    try:
        while True:
            got.append(c.recv(timeout=wait))
    except Timeout:
        pass
    evs = [e for e in events(got, node, kind) if pred is None or pred(e)]
    assert not evs, 'unexpected notification for %s: %s' % (
        c.jid, [tostr(e) for e in evs])


def notified_items(msg, node):
    """[(tag, id, title)] of the <items node/> of a notification: tag is
    'item' or 'retract', title None without payload."""
    items = event_child(msg, 'items', node)
    assert items is not None, tostr(msg)
    out = []
    for k in items:
        name = k.tag.split('}', 1)[1]
        assert k.tag in (q(NS_EVENT, 'item'), q(NS_EVENT, 'retract')), \
            tostr(msg)
        out.append((name, k.get('id'),
                    entry_text(k) if name == 'item' else None))
    return out


# -- disco --------------------------------------------------------------------

def disco(c, kind, to=PUBSUB, node=None):
    ns = NS_DISCO_INFO if kind == 'info' else NS_DISCO_ITEMS
    return keep_query(c, 'get', "<query xmlns='%s'%s/>"
                      % (ns, node_attr(node)), to=to)


def disco_query(r, kind):
    ns = NS_DISCO_INFO if kind == 'info' else NS_DISCO_ITEMS
    assert_result(r)
    qe = r.find(q(ns, 'query'))
    assert qe is not None, tostr(r)
    return qe


# -- clients ------------------------------------------------------------------

@pytest.fixture
def clients(server, cafile):
    """Factory: clients(resource='r', user=None, pw=None, srv=None,
    available=True) -> a logged-in ImClient (a fresh account unless user
    is given) that fetched its roster and sent initial presence (so
    notifications to its bare JID reach it). c.user, c.pw, c.bare, c.jid
    are set."""
    made = []

    def make(resource='r', user=None, pw=None, srv=None, available=True):
        c = im_connect(srv or server, cafile, user, pw, resource=resource,
                       available=available)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()
