"""test_pep.py -- XEP-0163 Personal Eventing Protocol (mod_pep) with raw
stanzas: the account's pubsub/pep identity and features, auto-create on
publish (to the own bare JID or without 'to') and the PEP defaults
(max_items 1, access model presence), notifications filtered by XEP-0115
caps (the server asks the contact's resource disco#info node#ver, checks
the sha-1 hash, caches it by hash) to the owner's resources and to
contacts with a presence subscription, the last published item to a
newly available resource (once), the access models presence, open and
whitelist (XEP-0223) with publish-options preconditions, explicit
subscriptions, retraction and node deletion with their notifications,
and refused or malformed requests.

Each test uses fresh accounts and fresh caps (see pep_helpers)."""

import pytest

from ext_helpers import disco_info, features, logout
from pep_helpers import (CAPS_NODE, NS_PUBSUB, NS_PUBSUB_EVENT,
                         NS_PUBSUB_OWNER, NS_TUNE, accounts,
                         assert_pubsub_error, befriend, caps_ver_of,
                         check_event, delete_node, event_of, event_items,
                         get_config, get_items, items_of, new_caps, pep,
                         pep_connect, publish, publish_ok, published_id,
                         pubsub_error, retract, subscribe, tune, tune_title)
from xmpp_raw import NS_DISCO_INFO, q, tostr

assert pep  # a fixture, used by name

PRIVATE = {'pubsub#access_model': 'whitelist',
           'pubsub#persist_items': 'true'}      # XEP-0223 3
OPEN = {'pubsub#access_model': 'open'}


def test_caps_ver_helper_matches_xep():
    """XEP-0115 5.2 (simple generation example): checks the helper."""
    assert caps_ver_of(
        [('client', 'pc', '', 'Exodus 0.9.1')],
        ['http://jabber.org/protocol/caps',
         'http://jabber.org/protocol/disco#info',
         'http://jabber.org/protocol/disco#items',
         'http://jabber.org/protocol/muc']) == 'QgayPKawpkPSDYmwT/WM94uAlu0='


# -- discovery ----------------------------------------------------------------

PEP_FEATURES = [NS_PUBSUB] + [NS_PUBSUB + '#' + f for f in (
    'access-open', 'access-presence', 'access-whitelist', 'auto-create',
    'config-node', 'create-nodes', 'delete-nodes', 'filtered-notifications',
    'last-published', 'persistent-items', 'publish', 'publish-options',
    'retract-items', 'retrieve-items', 'subscribe')]


def test_account_disco_info(server, pep):
    """XEP-0163 6.1: the account answers with identity pubsub/pep and
    the XEP-0060 features it supports; a stranger sees the same."""
    (ua, pa), (us, ps) = accounts(server, 2)
    a = pep(ua, pa)
    s = pep(us, ps)
    for asker in (a, s):
        info = disco_info(asker, to=a.bare)
        ids = [(i.get('category'), i.get('type'))
               for i in info.findall(q(NS_DISCO_INFO, 'identity'))]
        assert ('pubsub', 'pep') in ids, tostr(info)
        assert ('account', 'registered') in ids, tostr(info)
        missing = [f for f in PEP_FEATURES if f not in features(info)]
        assert not missing, 'missing %s in %s' % (missing, tostr(info))


# -- publishing ---------------------------------------------------------------

def test_publish_auto_creates_node(server, pep):
    """XEP-0163 3: publishing to a missing node creates it; without an
    item id the service generates one and returns it (XEP-0060 7.1.2)."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    assert_pubsub_error(get_items(a, NS_TUNE), 'cancel', 'item-not-found')
    r = publish_ok(a, NS_TUNE, tune('Introduction'))        # no 'to'
    iid = published_id(r)
    assert iid, 'no generated item id in ' + tostr(r)
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [(iid, 'Introduction')]
    # The same through the own bare JID.
    node = 'urn:tern:test:pep:bare'
    r = publish_ok(a, node, "<v xmlns='%s'>1</v>" % node, item_id='one',
                   to=a.bare)
    # RFC 6120 8.1.2.1: on the account's behalf, no 'from' or the bare JID
    assert r.get('from') in (None, a.bare), tostr(r)
    r = get_items(a, node, to=a.bare)
    assert r.get('from') in (None, a.bare), tostr(r)
    got = items_of(r, node)
    assert [(i, p.tag, p.text) for i, p in got] == [
        ('one', q(node, 'v'), '1')]
    # ... and without 'to' it is the same node.
    assert [i for i, _ in items_of(get_items(a, node), node)] == ['one']


def test_default_max_items_is_one(server, pep):
    """PEP default max_items 1: a second publish replaces the first,
    whatever its id."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('first'), item_id='i1')
    publish_ok(a, NS_TUNE, tune('second'), item_id='i2')
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [('i2', 'second')]
    publish_ok(a, NS_TUNE, tune('third'))
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [tune_title(p) for _, p in got] == ['third']


def test_default_node_config(server, pep):
    """The auto-created node's configuration (pubsub#owner configure):
    the PEP defaults of the contract."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('x'))
    cfg = get_config(a, NS_TUNE)
    assert cfg.get('FORM_TYPE') == [
        'http://jabber.org/protocol/pubsub#node_config'], cfg
    assert cfg.get('pubsub#access_model') == ['presence'], cfg
    assert cfg.get('pubsub#max_items') == ['1'], cfg
    assert cfg.get('pubsub#send_last_published_item') == [
        'on_sub_and_presence'], cfg
    assert cfg.get('pubsub#persist_items') in (['1'], ['true']), cfg
    assert cfg.get('pubsub#notification_type') == ['headline'], cfg


# -- notifications filtered by caps -------------------------------------------

def test_notifications_follow_caps(server, cafile, pep):
    """XEP-0163 4: a contact's resource whose caps include NODE+notify
    gets the event (from the owner's bare JID, headline), as does the
    owner's own resource with +notify; a contact whose caps lack it, a
    contact's resource without caps, a contact the owner is subscribed to
    but who is not subscribed to the owner, and a stranger get nothing."""
    (ua, pa), (ub, pb), (uc, pc), (ue, pe), (us, ps) = accounts(server, 5)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    befriend(server, cafile, (ua, pa), (uc, pc), 'both')
    befriend(server, cafile, (ua, pa), (ue, pe), 'to')
    a = pep(ua, pa, resource='pub')
    a2 = pep(ua, pa, resource='other', caps=new_caps(NS_TUNE))
    bcaps = new_caps(NS_TUNE)
    b = pep(ub, pb, resource='notify', caps=bcaps)
    b2 = pep(ub, pb, resource='nocaps')
    c = pep(uc, pc, caps=new_caps('urn:tern:test:other'))
    # (whether the server asks these two for their caps does not matter)
    e = pep(ue, pe, caps=new_caps(NS_TUNE), wait_query=False)
    s = pep(us, ps, caps=new_caps(NS_TUNE), wait_query=False)
    # The server asked b for exactly its node#ver, from the owner's or
    # the contact's bare JID or from the server.
    assert b.disco_queries, 'b was never asked for its caps'
    for frm, node in b.disco_queries:
        assert node == '%s#%s' % (CAPS_NODE, bcaps.ver), b.disco_queries
        assert (frm or '').split('/')[0] in (a.bare, b.bare, server.domain), \
            b.disco_queries
    for x in (a2, b, b2, c, e, s):
        x.collect()

    r = publish_ok(a, NS_TUNE, tune('Allegro vigoroso'))
    iid = published_id(r)
    for x in (a2, b):
        ev, = x.events(1, NS_TUNE, what='publish')
        got_id, payload = check_event(ev, a.bare, x.jid, NS_TUNE)
        assert tune_title(payload) == 'Allegro vigoroso'
        if iid is not None:
            assert got_id == iid, tostr(ev)
    for x in (b2, c, e, s):
        x.no_events(what='no +notify, no caps or no subscription')


def test_caps_cache_by_hash(server, cafile, pep):
    """XEP-0115 caching: a second client (another account, and another
    resource) announcing the same verified ver is not asked again and
    still gets notifications."""
    (ua, pa), (ub, pb), (uc, pc) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    befriend(server, cafile, (ua, pa), (uc, pc), 'both')
    a = pep(ua, pa)
    caps = new_caps(NS_TUNE)
    b = pep(ub, pb, resource='first', caps=caps)
    assert b.disco_queries
    c = pep(uc, pc, caps=caps)
    b2 = pep(ub, pb, resource='second', caps=caps)
    for x in (b, c, b2):
        x.collect(1.0)
    assert c.disco_queries == [] and b2.disco_queries == [], (
        c.disco_queries, b2.disco_queries)
    publish_ok(a, NS_TUNE, tune('cached'))
    for x in (b, c, b2):
        ev, = x.events(1, NS_TUNE)
        assert tune_title(check_event(ev, a.bare, x.jid, NS_TUNE)[1]) == \
            'cached'
    assert b2.disco_queries == [] and c.disco_queries == []


def test_wrong_caps_hash_ignored(server, cafile, pep):
    """XEP-0115 5.4: a disco#info answer that does not hash to the
    announced ver is not used: that resource gets no notifications (a
    contact with correct caps does)."""
    (ua, pa), (ub, pb), (uc, pc) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    befriend(server, cafile, (ua, pa), (uc, pc), 'both')
    a = pep(ua, pa)
    bad = new_caps(NS_TUNE, wrong=True)
    b = pep(ub, pb, caps=bad)
    assert b.disco_queries and all(
        n == '%s#%s' % (CAPS_NODE, bad.ver) for _, n in b.disco_queries)
    c = pep(uc, pc, caps=new_caps(NS_TUNE))
    for x in (b, c):
        x.collect()
    publish_ok(a, NS_TUNE, tune('only for honest hashes'))
    c.events(1, NS_TUNE)
    b.no_events(what='wrong hash')


# -- last published item ------------------------------------------------------

def test_last_item_on_coming_online_once(server, cafile, pep):
    """XEP-0163 4.3.3/4.3.4: a contact's resource coming online with
    +notify gets the last published item once; another resource of it
    with the same (cached) caps gets it at once, and the first resource
    no second copy; a contact without +notify gets nothing."""
    (ua, pa), (ub, pb), (uc, pc) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    befriend(server, cafile, (ua, pa), (uc, pc), 'both')
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('old'), item_id='t1')
    publish_ok(a, NS_TUNE, tune('last'), item_id='t2')
    caps = new_caps(NS_TUNE)
    b = pep(ub, pb, resource='one', caps=caps)
    ev, = b.events(1, NS_TUNE, seen=b.initial, grace=1.0)
    iid, payload = check_event(ev, a.bare, b.jid, NS_TUNE)
    assert (iid, tune_title(payload)) == ('t2', 'last'), tostr(ev)

    b2 = pep(ub, pb, resource='two', caps=caps)
    assert b2.disco_queries == []
    ev, = b2.events(1, NS_TUNE, seen=b2.initial, grace=1.0)
    assert check_event(ev, a.bare, b2.jid, NS_TUNE)[0] == 't2'
    b.no_events(what='another resource came online')

    c = pep(uc, pc, caps=new_caps('urn:tern:test:unrelated'))
    c.events(0, NS_TUNE, seen=c.initial)


def test_last_item_after_caps_change(server, cafile, pep):
    """Contract: the last item goes out once per coming online and after
    a caps change: a resource that becomes interested by new caps gets
    it then, once; presence again with the same caps brings nothing; a
    new session of the same resource gets it again."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('evergreen'), item_id='e')
    b = pep(ub, pb, resource='r', caps=new_caps('urn:tern:test:unrelated'))
    b.events(0, NS_TUNE, seen=b.initial, what='caps without +notify')
    b.caps = new_caps(NS_TUNE)
    b.available()
    b.caps.used = True
    got = b.settle_caps(wait_query=True)
    ev, = b.events(1, NS_TUNE, seen=got, grace=1.0, what='caps change')
    assert check_event(ev, a.bare, b.jid, NS_TUNE)[0] == 'e'
    b.presence(extra=b.caps.c_element(), status='same caps, new status')
    b.no_events(NS_TUNE, grace=1.0, what='same caps again')
    caps = b.caps
    logout(b)
    b2 = pep(ub, pb, resource='r', caps=caps)
    ev, = b2.events(1, NS_TUNE, seen=b2.initial, grace=1.0,
                    what='new session')
    assert check_event(ev, a.bare, b2.jid, NS_TUNE)[0] == 'e'


def test_no_notifications_after_unsubscribed(server, cafile, pep):
    """The presence subscription is checked when publishing: once the
    owner cancels the contact's subscription (presence 'unsubscribed',
    RFC 6121 3.2), the contact gets no more notifications and may not
    read the node."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(NS_TUNE))
    b.collect()
    publish_ok(a, NS_TUNE, tune('before'))
    b.events(1, NS_TUNE)
    a.presence('unsubscribed', to=b.bare)
    a.sync()
    b.collect()
    publish_ok(a, NS_TUNE, tune('after'))
    b.no_events(NS_TUNE, what='subscription cancelled')
    assert_pubsub_error(get_items(b, NS_TUNE, to=a.bare), 'auth',
                        'not-authorized', 'presence-subscription-required')


def test_no_notifications_to_blocked_contact(server, cafile, pep):
    """XEP-0163 4.3.3: no notifications to a contact the owner blocked
    (XEP-0191); a contact not blocked still gets them."""
    (ua, pa), (ub, pb), (uc, pc) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    befriend(server, cafile, (ua, pa), (uc, pc), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(NS_TUNE))
    c = pep(uc, pc, caps=new_caps(NS_TUNE))
    r = a.query('set', "<block xmlns='urn:xmpp:blocking'><item jid='%s'/>"
                       "</block>" % b.bare)
    assert r.get('type') == 'result', tostr(r)
    for x in (b, c):
        x.collect()
    publish_ok(a, NS_TUNE, tune('not for b'))
    c.events(1, NS_TUNE)
    b.no_events(NS_TUNE, what='blocked by the owner')


def test_last_item_to_owner_resource(server, pep):
    """XEP-0163 4.3.4: including the account owner itself."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa, resource='pub')
    publish_ok(a, NS_TUNE, tune('mine'), item_id='m')
    a2 = pep(ua, pa, resource='later', caps=new_caps(NS_TUNE))
    ev, = a2.events(1, NS_TUNE, seen=a2.initial, grace=1.0)
    iid, payload = check_event(ev, a.bare, a2.jid, NS_TUNE)
    assert (iid, tune_title(payload)) == ('m', 'mine')


def test_last_item_while_owner_offline(server, cafile, pep):
    """The owner's PEP service works while the owner is offline: the
    contact's initial presence reaches the owner's bare JID, and the
    contact's resource gets the last item."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep_connect(server, cafile, ua, pa)
    publish_ok(a, NS_TUNE, tune('while away'), item_id='w')
    logout(a)
    b = pep(ub, pb, caps=new_caps(NS_TUNE))
    ev, = b.events(1, NS_TUNE, seen=b.initial, grace=1.0)
    assert check_event(ev, server.jid(ua), b.jid, NS_TUNE)[0] == 'w'


# -- access models ------------------------------------------------------------

def test_presence_access_model(server, cafile, pep):
    """Default access model presence (XEP-0060 4.5, 6.5.9.x): a contact
    subscribed to the owner's presence may retrieve items; one the owner
    is subscribed to (but not the reverse) and a stranger get
    not-authorized + presence-subscription-required, for retrieval and
    for subscription."""
    (ua, pa), (ub, pb), (ue, pe), (us, ps) = accounts(server, 4)
    befriend(server, cafile, (ua, pa), (ub, pb), 'from')
    befriend(server, cafile, (ua, pa), (ue, pe), 'to')
    a = pep(ua, pa)
    b, e, s = pep(ub, pb), pep(ue, pe), pep(us, ps)
    publish_ok(a, NS_TUNE, tune('for subscribers'), item_id='p')
    got = items_of(get_items(b, NS_TUNE, to=a.bare), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [('p', 'for subscribers')]
    for x in (e, s):
        r = get_items(x, NS_TUNE, to=a.bare)
        assert_pubsub_error(r, 'auth', 'not-authorized',
                            'presence-subscription-required')
        assert r.get('from') == a.bare, tostr(r)
        assert_pubsub_error(subscribe(x, NS_TUNE, to=a.bare), 'auth',
                            'not-authorized', 'presence-subscription-required')


def test_open_access_via_publish_options(server, pep):
    """publish-options access_model=open on auto-create: anyone can
    retrieve and subscribe."""
    (ua, pa), (us, ps) = accounts(server, 2)
    a, s = pep(ua, pa), pep(us, ps)
    node = 'urn:tern:test:pep:open'
    publish_ok(a, node, "<o xmlns='%s'>public</o>" % node, item_id='o1',
               options=OPEN)
    got = items_of(get_items(s, node, to=a.bare), node)
    assert [(i, p.text) for i, p in got] == [('o1', 'public')]
    r = subscribe(s, node, to=a.bare)
    assert r.get('type') == 'result', tostr(r)
    sub = r.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'),
                            q(NS_PUBSUB, 'subscription')))
    assert sub is not None and sub.get('subscription') == 'subscribed' \
        and sub.get('node') == node and sub.get('jid') == s.jid, tostr(r)
    # A presence-model node of the same owner: still refused.
    publish_ok(a, NS_TUNE, tune('not for strangers'))
    assert_pubsub_error(get_items(s, NS_TUNE, to=a.bare), 'auth',
                        'not-authorized', 'presence-subscription-required')


def test_whitelist_private_storage(server, cafile, pep):
    """XEP-0223: publish-options access_model=whitelist, persist_items
    true: only the owner may read; contacts (even with +notify) get no
    notification and not-allowed + closed-node; publishing again with
    the same options works, with different ones conflict +
    precondition-not-met, and the refused item is not stored."""
    (ua, pa), (ub, pb), (us, ps) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    node = 'urn:tern:test:pep:private'
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(node))
    s = pep(us, ps)
    b.collect()
    pl = "<secret xmlns='%s'>%%s</secret>" % node
    publish_ok(a, node, pl % 'one', item_id='current', options=PRIVATE)
    got = items_of(get_items(a, node), node)
    assert [(i, p.text) for i, p in got] == [('current', 'one')]
    for x in (b, s):
        assert_pubsub_error(get_items(x, node, to=a.bare), 'cancel',
                            'not-allowed', 'closed-node')
        assert_pubsub_error(subscribe(x, node, to=a.bare), 'cancel',
                            'not-allowed', 'closed-node')
    b.no_events(what='whitelist node')
    # Same options again: fine (booleans compare as booleans).
    publish_ok(a, node, pl % 'two', item_id='current', options=PRIVATE)
    publish_ok(a, node, pl % 'three', item_id='current',
               options={'pubsub#access_model': 'whitelist',
                        'pubsub#persist_items': '1'})
    r = publish(a, node, pl % 'leak', item_id='current',
                options={'pubsub#access_model': 'presence'})
    assert_pubsub_error(r, 'cancel', 'conflict', 'precondition-not-met')
    got = items_of(get_items(a, node), node)
    assert [(i, p.text) for i, p in got] == [('current', 'three')]
    assert_pubsub_error(get_items(b, node, to=a.bare), 'cancel',
                        'not-allowed', 'closed-node')
    b.no_events(what='whitelist node')


# -- explicit subscriptions ---------------------------------------------------

def test_explicit_subscription_without_caps(server, cafile, pep):
    """XEP-0060 6.1 on a PEP node: a contact's resource without caps
    subscribes its full JID: subscribed; the last item on subscription
    (send_last_published_item on_sub_and_presence), then each new item,
    once, to that full JID only."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, resource='sub')
    b2 = pep(ub, pb, resource='nosub')
    publish_ok(a, NS_TUNE, tune('before'), item_id='x1')
    r = subscribe(b, NS_TUNE, to=a.bare)
    assert r.get('type') == 'result', tostr(r)
    sub = r.find('%s/%s' % (q(NS_PUBSUB, 'pubsub'),
                            q(NS_PUBSUB, 'subscription')))
    assert sub is not None, tostr(r)
    assert (sub.get('node'), sub.get('jid'), sub.get('subscription')) == (
        NS_TUNE, b.jid, 'subscribed'), tostr(r)
    assert sub.get('subid'), tostr(r)
    ev, = b.events(1, NS_TUNE, what='last item on subscription')
    assert check_event(ev, a.bare, b.jid, NS_TUNE)[0] == 'x1'
    publish_ok(a, NS_TUNE, tune('after'), item_id='x2')
    ev, = b.events(1, NS_TUNE, what='new item')
    iid, payload = check_event(ev, a.bare, b.jid, NS_TUNE)
    assert (iid, tune_title(payload)) == ('x2', 'after')
    b2.no_events(what='other resource, not subscribed, no caps')


def test_explicit_subscription_and_caps_one_notification(server, cafile,
                                                         pep):
    """A resource that is both explicitly subscribed and interested by
    caps gets one notification per item, not two (XEP-0163 4.3.2)."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('first'), item_id='f')
    b = pep(ub, pb, caps=new_caps(NS_TUNE))
    b.events(1, NS_TUNE, seen=b.initial, what='last item on presence')
    r = subscribe(b, NS_TUNE, to=a.bare)
    assert r.get('type') == 'result', tostr(r)
    b.collect()     # the last item again, maybe (on subscription)
    publish_ok(a, NS_TUNE, tune('once'), item_id='o')
    ev, = b.events(1, NS_TUNE, grace=1.0)
    assert check_event(ev, a.bare, b.jid, NS_TUNE)[0] == 'o'


# -- retract and delete -------------------------------------------------------

def test_retract_notifies(server, cafile, pep):
    """XEP-0060 7.2 with notify='true': interested contacts get
    <retract id/>; the item is gone; retracting it again: item-not-found;
    a contact may not retract: forbidden."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(NS_TUNE))
    b.collect()
    publish_ok(a, NS_TUNE, tune('short-lived'), item_id='gone')
    b.events(1, NS_TUNE)
    assert_pubsub_error(retract(b, NS_TUNE, 'gone', to=a.bare), 'auth',
                        'forbidden')
    r = retract(a, NS_TUNE, 'gone')
    assert r.get('type') == 'result', tostr(r)
    ev, = b.events(1, NS_TUNE, what='retract')
    assert ev.get('from') == a.bare and ev.get('to') == b.jid, tostr(ev)
    assert event_items(ev, NS_TUNE) == ([], ['gone']), tostr(ev)
    assert items_of(get_items(a, NS_TUNE), NS_TUNE) == []
    assert_pubsub_error(retract(a, NS_TUNE, 'gone'), 'cancel',
                        'item-not-found')


def test_delete_node(server, cafile, pep):
    """XEP-0060 8.4 by the owner: subscribers get <delete node/>; the node
    is gone (item-not-found for items and a second delete); a contact
    may not delete (forbidden); publishing again creates it afresh."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb)
    publish_ok(a, NS_TUNE, tune('doomed'), item_id='d')
    assert subscribe(b, NS_TUNE, to=a.bare).get('type') == 'result'
    b.events(1, NS_TUNE, what='last item on subscription')
    assert_pubsub_error(delete_node(b, NS_TUNE, to=a.bare), 'auth',
                        'forbidden')
    r = delete_node(a, NS_TUNE)
    assert r.get('type') == 'result', tostr(r)
    ev, = b.events(1, NS_TUNE, what='delete')
    assert ev.get('from') == a.bare and ev.get('to') == b.jid, tostr(ev)
    kids = list(event_of(ev))
    assert len(kids) == 1 and kids[0].tag == q(NS_PUBSUB_EVENT, 'delete') \
        and kids[0].get('node') == NS_TUNE, tostr(ev)
    assert_pubsub_error(get_items(a, NS_TUNE), 'cancel', 'item-not-found')
    assert_pubsub_error(delete_node(a, NS_TUNE), 'cancel', 'item-not-found')
    publish_ok(a, NS_TUNE, tune('reborn'), item_id='r')
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [('r', 'reborn')]
    b.no_events(what='subscription ended with the node')


# -- refused and malformed ----------------------------------------------------

def test_publish_to_other_account_forbidden(server, cafile, pep):
    """XEP-0060 7.1.3.1: only the owner publishes to a PEP service; a
    contact or a stranger gets forbidden, on existing and on new nodes
    (no auto-create for them), and nothing changes."""
    (ua, pa), (ub, pb), (us, ps) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a, b, s = pep(ua, pa), pep(ub, pb), pep(us, ps)
    publish_ok(a, NS_TUNE, tune('original'), item_id='orig')
    other = 'urn:tern:test:pep:intruder'
    for x in (b, s):
        r = publish(x, NS_TUNE, tune('forged'), item_id='orig', to=a.bare)
        assert_pubsub_error(r, 'auth', 'forbidden')
        assert r.get('from') == a.bare, tostr(r)
        # (no auto-create for them: forbidden, or no such node)
        r = publish(x, other, "<z xmlns='%s'/>" % other, to=a.bare)
        assert pubsub_error(r) in (('auth', 'forbidden', None),
                                   ('cancel', 'item-not-found', None)), \
            tostr(r)
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [('orig', 'original')]
    assert_pubsub_error(get_items(a, other), 'cancel', 'item-not-found')


BAD_REQUESTS = {
    # id: (iq type, payload, expected (type, condition, pubsub#errors
    #      condition) or a list of such, or None for "an error")
    'publish-no-node': (
        'set', "<pubsub xmlns='%s'><publish><item id='x'><tune xmlns='%s'/>"
               "</item></publish></pubsub>" % (NS_PUBSUB, NS_TUNE), None),
    'items-no-node': (
        'get', "<pubsub xmlns='%s'><items/></pubsub>" % NS_PUBSUB, None),
    'retract-no-node': (      # XEP-0060 7.2.3.3
        'set', "<pubsub xmlns='%s'><retract><item id='x'/></retract>"
               "</pubsub>" % NS_PUBSUB,
        ('modify', 'bad-request', 'nodeid-required')),
    'retract-no-item': (      # XEP-0060 7.2.3.4
        'set', "<pubsub xmlns='%s'><retract node='%s'/></pubsub>"
               % (NS_PUBSUB, NS_TUNE),
        ('modify', 'bad-request', 'item-required')),
    'publish-two-payloads': (  # XEP-0060 7.1.3.5
        'set', "<pubsub xmlns='%s'><publish node='%s'><item id='x'>"
               "<tune xmlns='%s'/><tune xmlns='%s'/></item></publish>"
               "</pubsub>" % (NS_PUBSUB, NS_TUNE, NS_TUNE, NS_TUNE),
        ('modify', 'bad-request', 'invalid-payload')),
    'publish-no-item': (      # XEP-0060 7.1.3.6
        'set', "<pubsub xmlns='%s'><publish node='%s'/></pubsub>"
               % (NS_PUBSUB, NS_TUNE),
        ('modify', 'bad-request', 'item-required')),
    'publish-no-payload': (   # XEP-0060 7.1.3.6 (ejabberd: item-required)
        'set', "<pubsub xmlns='%s'><publish node='%s'><item id='x'/>"
               "</publish></pubsub>" % (NS_PUBSUB, NS_TUNE),
        [('modify', 'bad-request', 'payload-required'),
         ('modify', 'bad-request', 'item-required')]),
    'empty-pubsub': ('set', "<pubsub xmlns='%s'/>" % NS_PUBSUB, None),
    'publish-as-get': (
        'get', "<pubsub xmlns='%s'><publish node='%s'><item><tune xmlns='%s'/>"
               "</item></publish></pubsub>" % (NS_PUBSUB, NS_TUNE, NS_TUNE),
        None),
    'unknown-verb': (
        'set', "<pubsub xmlns='%s'><frobnicate node='x'/></pubsub>"
               % NS_PUBSUB, None),
    'owner-delete-no-node': (
        'set', "<pubsub xmlns='%s'><delete/></pubsub>" % NS_PUBSUB_OWNER,
        None),
    'owner-configure-no-node': (
        'get', "<pubsub xmlns='%s'><configure/></pubsub>" % NS_PUBSUB_OWNER,
        None),
}


@pytest.mark.parametrize('case', sorted(BAD_REQUESTS))
def test_malformed_requests(server, pep, case):
    """XEP-0060 error cases for malformed requests (7.1.3.6, 7.2.3.3,
    7.2.3.4, 6.5.9...): each gets an error, to the own service and to
    the bare JID, and the server keeps serving."""
    type_, payload, expected = BAD_REQUESTS[case]
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_ok(a, NS_TUNE, tune('keep'), item_id='k')
    for to in (None, a.bare):
        r = a.query(type_, payload, to=to)
        assert r.get('type') == 'error', tostr(r)
        if isinstance(expected, tuple):
            expected = [expected]
        if expected is not None:
            assert pubsub_error(r) in expected, tostr(r)
    got = items_of(get_items(a, NS_TUNE), NS_TUNE)
    assert [(i, tune_title(p)) for i, p in got] == [('k', 'keep')]
    assert server.alive()


def test_server_survives_pep_abuse(server, cafile, pep):
    """Odd but well-formed input: huge and odd node names and ids,
    payloads with many children, many nodes; the server stays up and a
    fresh login works."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    odd = ['', ' ', 'n\u00e9\u263a', 'x' * 3000, 'a/b#c?d;e', '<&>\'"']
    for node in odd:
        r = publish(a, node, "<p xmlns='urn:tern:test:odd'/>",
                    item_id=node or 'empty')
        assert r.get('type') in ('result', 'error'), tostr(r)
        r = get_items(a, node)
        assert r.get('type') in ('result', 'error'), tostr(r)
    big = "<p xmlns='urn:tern:test:big'>%s</p>" % ''.join(
        '<c n="%d"/>' % i for i in range(2000))
    r = publish(a, 'urn:tern:test:big', big, item_id='big')
    assert r.get('type') in ('result', 'error'), tostr(r)
    for payload in (
            "<pubsub xmlns='%s'><items node='%s' max_items='many'/></pubsub>"
            % (NS_PUBSUB, NS_TUNE),
            "<pubsub xmlns='%s'><items node='%s' max_items='-1'/></pubsub>"
            % (NS_PUBSUB, NS_TUNE),
            "<pubsub xmlns='%s'><publish node='%s'><item id='y'>"
            "<tune xmlns='%s'/></item></publish><publish-options>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' "
            "type='hidden'><value>urn:not:publish-options</value></field>"
            "</x></publish-options></pubsub>" % (NS_PUBSUB, NS_TUNE,
                                                 NS_TUNE),
            "<pubsub xmlns='%s'><publish node='%s'><item id='z'>"
            "<tune xmlns='%s'/></item></publish><publish-options/>"
            "</pubsub>" % (NS_PUBSUB, NS_TUNE, NS_TUNE)):
        r = a.query('set' if 'publish' in payload else 'get', payload)
        assert r.get('type') in ('result', 'error'), tostr(r)
    for i in range(50):
        publish_ok(a, 'urn:tern:test:many:%d' % i,
                   "<m xmlns='urn:tern:test:many'>%d</m>" % i)
    a.sync()
    assert server.alive()
    b = pep_connect(server, cafile, ua, pa, resource='fresh')
    try:
        got = items_of(get_items(b, 'urn:tern:test:many:49'),
                       'urn:tern:test:many:49')
        assert [p.text for _, p in got] == ['49']
    finally:
        b.close()


def test_tiny_cache_reads_services_again(make_server, cafile):
    """pep.cache_size: with a cache too small for anything, every use of
    an account's service reads it from the store again; publishing,
    notifications, retrieval and the last item still work, and nothing
    published is lost."""
    s = make_server(modules={'pep': {'cache_size': 1}}).start()
    (ua, pa), (ub, pb) = accounts(s, 2)
    befriend(s, cafile, (ua, pa), (ub, pb), 'both')
    caps = new_caps(NS_TUNE)
    a = pep_connect(s, cafile, ua, pa)
    b = pep_connect(s, cafile, ub, pb, resource='one', caps=caps)
    b2 = None
    try:
        for i in range(5):
            publish_ok(a, NS_TUNE, tune('t%d' % i), item_id='i%d' % i,
                       options={'pubsub#max_items': '10'})
        evs = b.events(5, NS_TUNE, seen=b.initial)
        assert [check_event(e, a.bare, b.jid, NS_TUNE)[0] for e in evs] \
            == ['i%d' % i for i in range(5)]
        r = get_items(b, NS_TUNE, to=a.bare)
        assert [iid for iid, _ in items_of(r, NS_TUNE)] == \
            ['i4', 'i3', 'i2', 'i1', 'i0'], tostr(r)
        b2 = pep_connect(s, cafile, ub, pb, resource='two', caps=caps)
        ev, = b2.events(1, NS_TUNE, seen=b2.initial)
        assert check_event(ev, a.bare, b2.jid, NS_TUNE)[0] == 'i4'
        assert 'leaves the cache' in s.log()
    finally:
        for c in (a, b, b2):
            if c is not None:
                c.close()


def test_nodes_per_account_bound(make_server, cafile):
    """pep.max_nodes: an account may have that many nodes; publishing to
    one more (auto-create) is not-allowed and creates nothing."""
    s = make_server(modules={'pep': {'max_nodes': 2}}).start()
    (ua, pa), = accounts(s, 1)
    a = pep_connect(s, cafile, ua, pa)
    try:
        publish_ok(a, 'urn:tern:test:one', tune('1'))
        publish_ok(a, 'urn:tern:test:two', tune('2'))
        r = publish(a, 'urn:tern:test:three', tune('3'))
        assert_pubsub_error(r, 'cancel', 'not-allowed')
        r = get_items(a, 'urn:tern:test:three')
        assert_pubsub_error(r, 'cancel', 'item-not-found')
        publish_ok(a, 'urn:tern:test:two', tune('2 again'))
    finally:
        a.close()


def test_caps_query_flood_bounded(make_server, cafile):
    """A client that changes its caps hash on every presence and never
    answers the server's disco#info: at most 1,000 queries are out at
    once, beyond that a hash is not asked for (and the resource is
    forgotten, so a later presence may ask again); the server stays
    healthy and shuts down cleanly with the queries still out."""
    from im_helpers import connect as im_connect
    s = make_server().start()
    c = im_connect(s, cafile)
    try:
        for i in range(1100):
            c.presence(extra="<c xmlns='http://jabber.org/protocol/caps' "
                       "hash='sha-1' node='urn:tern:test' ver='v%d'/>" % i)
        c.sync(timeout=30)
        assert '1000 caps queries out' in s.log()
        # Still serving.
        r = c.query('get', "<ping xmlns='urn:xmpp:ping'/>", to='localhost')
        assert r.get('type') == 'result', tostr(r)
    finally:
        c.close()
    s.stop()
