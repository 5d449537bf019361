"""test_pubsub.py -- XEP-0060 publish-subscribe on tern's service
(pubsub.localhost) with raw clients: discovery of the service, its nodes
(meta-data) and their items; node creation (named, instant,
create-and-configure, conflicts) and the default configuration; the
configuration form round trip and who may use it; publishing (generated
ids, overwrite, max_items trimming and 'max'), notifications with and
without payload and their message type, retraction, publish-options as
preconditions; subscriptions (bare and full JIDs, subids,
multi-subscribe, options with pubsub#deliver, the last published item),
the user's own lists; the access models open, presence, roster,
whitelist and authorize (with the owner's approval form) and outcasts;
affiliations (publisher, publish-only, member) and the owner's
management of affiliations and subscriptions; item retrieval by id, by
max_items and with RSM paging; node deletion with redirect and purge;
persistence across a restart; malformed requests; and slixmpp's
xep_0060 plugin against the service.

Notes on what is asserted where XEP-0060 leaves room (tern's contract):
items come back newest first; notifications are headline messages
unless pubsub#notification_type says normal; a subid comes with every
subscription; RSM pages newest first."""

import asyncio
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import quoteattr

from im_helpers import connect as im_connect
from im_helpers import reach, settle
from pubsub_helpers import (
    FT_META, FT_NODE_CONFIG, FT_SUB_AUTH, FT_SUB_OPTIONS, MESSAGE, NS_DATA,
    NS_DISCO_INFO, NS_DISCO_ITEMS, NS_ENTRY, NS_EVENT, NS_OWNER, NS_PUBSUB,
    NS_RSM, PUBSUB, about_item, as_bool, assert_error, assert_result,
    check_config, clients, config_of, configure_get, configure_ok,
    configure_set, create, create_ok, delete_node, disco, disco_query,
    entry, event_child, event_of, eventually, form_field, form_values,
    form_xml, get_items, has_item, item_ids, items_of, items_ok,
    keep_query, new_node, no_events, notified_items, options_get,
    options_set, owner_affiliations, owner_subscriptions, ps_query,
    publish, publish_ok, pubsub_child, purge, retract, rsm_of,
    set_affiliations, set_subscriptions, single, subscribe, subscribe_ok,
    unsubscribe, user_affiliations, user_subscriptions, wait_event)
from xmpp_raw import q, tostr
from xmpp_slix import login as slix_login
from xmpp_slix import run

assert clients  # a fixture, used by name

ACCESS_MODELS = ['authorize', 'open', 'presence', 'roster', 'whitelist']

# Contract: the service's pubsub#<feature> list.
SERVICE_FEATURES = [
    'access-authorize', 'access-open', 'access-presence', 'access-roster',
    'access-whitelist', 'config-node', 'create-and-configure',
    'create-nodes', 'delete-items', 'delete-nodes', 'instant-nodes',
    'item-ids', 'manage-subscriptions', 'meta-data', 'modify-affiliations',
    'multi-subscribe', 'outcast-affiliation', 'persistent-items', 'publish',
    'publish-only-affiliation', 'publish-options', 'publisher-affiliation',
    'purge-nodes', 'retract-items', 'retrieve-affiliations',
    'retrieve-default', 'retrieve-items', 'retrieve-subscriptions',
    'subscribe', 'subscription-options', 'subscription-notifications',
    'last-published', 'member-affiliation', 'config-node-max']

# Contract: the service's default node configuration.
DEFAULTS = {
    'pubsub#access_model': 'open',
    'pubsub#publish_model': 'publishers',
    'pubsub#persist_items': True,
    'pubsub#max_items': '10',
    'pubsub#deliver_payloads': True,
    'pubsub#deliver_notifications': True,
    'pubsub#notify_retract': True,
    'pubsub#notify_delete': True,
    'pubsub#notify_config': False,
    'pubsub#send_last_published_item': 'on_sub',
    'pubsub#notification_type': 'headline',
}

WHITELIST = {'pubsub#access_model': 'whitelist'}


def sub_states(c, node):
    """[(jid, state)] of c's own subscriptions to node."""
    return sorted((j, s) for _, j, s, _ in user_subscriptions(c, node))


# -- discovery ----------------------------------------------------------------

def test_service_listed_in_server_disco_items(clients):
    a = clients()
    qe = disco_query(disco(a, 'items', to='localhost'), 'items')
    assert PUBSUB in [i.get('jid')
                      for i in qe.findall(q(NS_DISCO_ITEMS, 'item'))]


def test_service_disco_info(clients):
    a = clients()
    r = disco(a, 'info')
    assert r.get('from') == PUBSUB, tostr(r)
    qe = disco_query(r, 'info')
    idents = [(i.get('category'), i.get('type'))
              for i in qe.findall(q(NS_DISCO_INFO, 'identity'))]
    assert ('pubsub', 'service') in idents, tostr(r)
    feats = {f.get('var') for f in qe.findall(q(NS_DISCO_INFO, 'feature'))}
    assert NS_PUBSUB in feats
    missing = [f for f in SERVICE_FEATURES if NS_PUBSUB + '#' + f not in feats]
    assert not missing, 'features missing: %s\n%s' % (missing, tostr(r))
    # RSM: the contract spells it pubsub#rsm; XEP-0059 uses its namespace
    assert NS_PUBSUB + '#rsm' in feats or NS_RSM in feats, tostr(r)


def test_node_disco_info_items_and_metadata(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node, {'pubsub#title': 'Princely Musings'})
    publish_ok(a, node, 'one', 'i1')
    publish_ok(a, node, 'two', 'i2')

    # disco#items of the service: the node, with its title as name
    qe = disco_query(disco(b, 'items'), 'items')
    mine = [i for i in qe.findall(q(NS_DISCO_ITEMS, 'item'))
            if i.get('node') == node]
    assert len(mine) == 1, tostr(qe)
    assert mine[0].get('jid') == PUBSUB
    assert mine[0].get('name') == 'Princely Musings'

    # disco#info of the node: pubsub/leaf, the pubsub feature, meta-data
    qe = disco_query(disco(b, 'info', node=node), 'info')
    assert qe.get('node') == node, tostr(qe)
    idents = [(i.get('category'), i.get('type'))
              for i in qe.findall(q(NS_DISCO_INFO, 'identity'))]
    assert ('pubsub', 'leaf') in idents, tostr(qe)
    feats = {f.get('var') for f in qe.findall(q(NS_DISCO_INFO, 'feature'))}
    assert NS_PUBSUB in feats, tostr(qe)
    metas = [x for x in qe.findall(q(NS_DATA, 'x'))
             if form_values(x).get('FORM_TYPE') == [FT_META]]
    assert len(metas) == 1, tostr(qe)
    assert metas[0].get('type') == 'result', tostr(qe)
    meta = form_values(metas[0])
    assert meta.get('pubsub#title') == ['Princely Musings'], meta
    if 'pubsub#owner' in meta:
        assert meta['pubsub#owner'] == [a.bare], meta

    # disco#items of the node: one per item, name = ItemID, no node
    qe = disco_query(disco(b, 'items', node=node), 'items')
    assert qe.get('node') == node, tostr(qe)
    its = qe.findall(q(NS_DISCO_ITEMS, 'item'))
    assert sorted(i.get('name') for i in its) == ['i1', 'i2'], tostr(qe)
    for i in its:
        assert i.get('jid') == PUBSUB and i.get('node') is None, tostr(qe)

    # a node that does not exist
    nope = new_node('nope')
    assert_error(disco(b, 'info', node=nope), 'cancel', 'item-not-found')
    assert_error(disco(b, 'items', node=nope), 'cancel', 'item-not-found')


# -- creating nodes -----------------------------------------------------------

def test_create_named_node_and_conflict(clients):
    a, b = clients(), clients()
    node = new_node()
    r = assert_result(create(a, node))
    cr = pubsub_child(r, 'create')
    if cr is not None:
        # XEP-0060 8.1.1: the name is returned only when the service
        # changed it; this one must not have been changed.
        assert cr.get('node') in (None, node), tostr(r)
    assert owner_affiliations(a, node) == {a.bare: 'owner'}
    assert user_affiliations(a, node) == {node: 'owner'}
    assert_error(create(a, node), 'cancel', 'conflict')
    assert_error(create(b, node), 'cancel', 'conflict')
    # b did not become anything
    assert owner_affiliations(a, node) == {a.bare: 'owner'}
    assert user_affiliations(b) == {}


def test_create_instant_node(clients):
    a = clients()
    n1 = create_ok(a)
    n2 = create_ok(a)
    assert n1 != n2
    assert owner_affiliations(a, n1) == {a.bare: 'owner'}
    publish_ok(a, n1, 'x', 'i1')
    assert item_ids(a, n1) == ['i1']
    assert item_ids(a, n2) == []
    assert {n1: 'owner', n2: 'owner'} == user_affiliations(a)


def test_create_and_configure(clients):
    a, b = clients(), clients()
    node = new_node()
    conf = {'pubsub#access_model': 'whitelist', 'pubsub#max_items': '3',
            'pubsub#title': 'Configured', 'pubsub#deliver_payloads': False,
            'pubsub#notification_type': 'normal'}
    create_ok(a, node, conf)
    got = config_of(a, node)
    check_config(got, conf)
    # what the form did not name keeps the default
    check_config(got, {'pubsub#notify_retract': True,
                       'pubsub#publish_model': 'publishers',
                       'pubsub#persist_items': True})
    # and the configuration is in force from the start
    assert_error(get_items(b, node), 'cancel', 'not-allowed', 'closed-node')
    for i in range(1, 5):
        publish_ok(a, node, 't%d' % i, 'i%d' % i)
    assert item_ids(a, node) == ['i4', 'i3', 'i2']


def test_default_configuration(clients):
    a = clients()
    r = ps_query(a, 'get', '<default/>', owner=True)
    d = pubsub_child(r, 'default', owner=True)
    assert d is not None, tostr(r)
    x = d.find(q(NS_DATA, 'x'))
    assert x is not None and x.get('type') == 'form', tostr(r)
    vals = form_values(x)
    assert vals['FORM_TYPE'] == [FT_NODE_CONFIG], tostr(r)
    check_config(vals, DEFAULTS)
    assert vals.get('pubsub#title', []) in ([], ['']), vals
    opts = [v.text for v in form_field(x, 'pubsub#access_model').iter(
        q(NS_DATA, 'value'))]
    for model in ACCESS_MODELS:
        assert model in opts, 'access model %s not offered: %s' % (
            model, tostr(x))
    # a node created without a form has exactly this configuration
    node = new_node()
    create_ok(a, node)
    check_config(config_of(a, node), DEFAULTS)


# -- configuration ------------------------------------------------------------

def test_configure_round_trip(clients):
    a = clients()
    node = new_node()
    create_ok(a, node)
    new = {'pubsub#title': "Round & 'trip' <1>",
           'pubsub#access_model': 'authorize',
           'pubsub#publish_model': 'open',
           'pubsub#max_items': '7',
           'pubsub#persist_items': True,
           'pubsub#deliver_payloads': False,
           'pubsub#deliver_notifications': True,
           'pubsub#notify_retract': False,
           'pubsub#notify_delete': False,
           'pubsub#notify_config': True,
           'pubsub#send_last_published_item': 'never',
           'pubsub#notification_type': 'normal'}
    configure_ok(a, node, new)
    check_config(config_of(a, node), new)
    # a form naming one field changes that field only
    configure_ok(a, node, {'pubsub#title': 'Renamed'})
    check_config(config_of(a, node), dict(new, **{'pubsub#title': 'Renamed'}))
    # XEP-0060 8.2.4: a cancelled form leaves the configuration alone
    r = ps_query(a, 'set', "<configure node='%s'><x xmlns='%s' "
                 "type='cancel'/></configure>" % (node, NS_DATA), owner=True)
    assert_result(r)
    check_config(config_of(a, node), dict(new, **{'pubsub#title': 'Renamed'}))
    # back to the defaults, one by one
    configure_ok(a, node, DEFAULTS)
    check_config(config_of(a, node), DEFAULTS)


def test_configure_forbidden_for_non_owners(clients):
    a, b, p = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node, {'pubsub#title': 'Mine'})
    assert_result(set_affiliations(a, node, {p.bare: 'publisher'}))
    for c in (b, p):
        assert_error(configure_get(c, node), 'auth', 'forbidden')
        assert_error(configure_set(c, node, {'pubsub#title': 'Theirs'}),
                     'auth', 'forbidden')
    check_config(config_of(a, node), {'pubsub#title': 'Mine'})
    assert_error(configure_get(a, new_node('nope')), 'cancel',
                 'item-not-found')
    assert_error(configure_set(a, new_node('nope'), {'pubsub#title': 'x'}),
                 'cancel', 'item-not-found')


def test_max_items_max(clients):
    a = clients()
    node = new_node()
    create_ok(a, node, {'pubsub#max_items': 'max'})
    # 'max' is the module's bound (default 1000); either spelling is fine
    assert single(config_of(a, node)['pubsub#max_items']) in ('max', '1000')
    ids = ['i%02d' % i for i in range(12)]
    for i in ids:
        publish_ok(a, node, i, i)
    assert item_ids(a, node) == ids[::-1]


def test_max_items_max_is_the_module_bound(make_server, clients):
    s = make_server(modules={'pubsub': {'max_items': 4}}).start()
    a = clients(srv=s)
    node = new_node()
    create_ok(a, node, {'pubsub#max_items': 'max'})
    assert single(config_of(a, node)['pubsub#max_items']) in ('max', '4')
    for i in range(1, 7):
        publish_ok(a, node, 't%d' % i, 'i%d' % i)
    assert item_ids(a, node) == ['i6', 'i5', 'i4', 'i3']


def test_nodes_per_user_bound(make_server, clients):
    s = make_server(modules={'pubsub': {'max_nodes_per_user': 2}}).start()
    a, b = clients(srv=s), clients(srv=s)
    first, second = new_node(), new_node()
    create_ok(a, first)
    create_ok(a, second)
    assert_error(create(a, new_node()), 'cancel', 'not-allowed')
    # the bound is per owner: another user still may
    create_ok(b, new_node())
    # deleting one makes room again
    assert_result(delete_node(a, first))
    create_ok(a, new_node())


def test_configuration_change_notification(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node, {'pubsub#notify_config': True})
    subscribe_ok(b, node)
    configure_ok(a, node, {'pubsub#title': 'New title'})
    msg = wait_event(b, node, 'configuration')
    assert msg.get('to') == b.bare, tostr(msg)
    conf = event_child(msg, 'configuration', node)
    x = conf.find(q(NS_DATA, 'x'))
    assert x is not None, 'deliver_payloads: the form belongs in ' + tostr(msg)
    vals = form_values(x)
    assert vals['FORM_TYPE'] == [FT_NODE_CONFIG], tostr(msg)
    assert vals['pubsub#title'] == ['New title'], tostr(msg)
    # without deliver_payloads: the bare <configuration/>
    configure_ok(a, node, {'pubsub#deliver_payloads': False})
    b.sync()
    configure_ok(a, node, {'pubsub#title': 'Newer'})
    msg = wait_event(b, node, 'configuration')
    assert len(event_child(msg, 'configuration', node)) == 0, tostr(msg)
    # notify_config off: nothing
    configure_ok(a, node, {'pubsub#notify_config': False})
    b.sync()
    configure_ok(a, node, {'pubsub#title': 'Quiet'})
    no_events(b, node)


# -- publishing ---------------------------------------------------------------

def test_publish_with_and_without_id(clients):
    a = clients()
    node = new_node()
    create_ok(a, node)
    assert publish_ok(a, node, 'first', 'first-id') == 'first-id'
    gen = publish_ok(a, node, 'second')
    gen2 = publish_ok(a, node, 'third')
    assert gen != gen2 and 'first-id' not in (gen, gen2)
    assert items_ok(a, node) == [(gen2, 'third'), (gen, 'second'),
                                 ('first-id', 'first')]


def test_publish_same_id_overwrites_and_moves_to_newest(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node)
    subscribe_ok(b, node)
    for i in ('a', 'b', 'c'):
        publish_ok(a, node, 'v1-' + i, i)
    wait_event(b, node, pred=has_item('c'))
    publish_ok(a, node, 'v2-a', 'a')
    msg = wait_event(b, node, pred=has_item('a'))
    assert notified_items(msg, node) == [('item', 'a', 'v2-a')]
    assert items_ok(a, node) == [('a', 'v2-a'), ('c', 'v1-c'),
                                 ('b', 'v1-b')]


def test_max_items_trims_oldest(clients):
    a = clients()
    node = new_node()
    create_ok(a, node, {'pubsub#max_items': '3'})
    for i in range(1, 6):
        publish_ok(a, node, 't%d' % i, 'i%d' % i)
    assert items_ok(a, node) == [('i5', 't5'), ('i4', 't4'), ('i3', 't3')]
    # a trimmed item is gone (an empty <items/>, or item-not-found)
    r = get_items(a, node, ids=['i1'])
    if r.get('type') == 'error':
        assert_error(r, 'cancel', 'item-not-found')
    else:
        assert items_of(r, node) == []


def test_publish_permissions_and_missing_node(clients):
    a, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    # publish_model publishers (default): others are refused
    assert_error(publish(b, node, 'x', 'b1'), 'auth', 'forbidden')
    assert item_ids(a, node) == []
    # a missing node is not created by publishing to it
    nope = new_node('nope')
    assert_error(publish(a, nope, 'x', 'i'), 'cancel', 'item-not-found')
    assert_error(get_items(a, nope), 'cancel', 'item-not-found')
    # publish_model open: anyone
    configure_ok(a, node, {'pubsub#publish_model': 'open'})
    publish_ok(b, node, 'by b', 'b1')
    # publish_model subscribers: subscribers (and publishers)
    configure_ok(a, node, {'pubsub#publish_model': 'subscribers'})
    assert_error(publish(c, node, 'x', 'c1'), 'auth', 'forbidden')
    subscribe_ok(c, node)
    publish_ok(c, node, 'by c', 'c1')
    assert items_ok(a, node) == [('c1', 'by c'), ('b1', 'by b')]


def test_publish_options_preconditions(clients):
    a = clients()
    node = new_node()
    create_ok(a, node, {'pubsub#max_items': '5'})
    for opts in ({'pubsub#access_model': 'whitelist'},
                 {'pubsub#max_items': '6'},
                 {'pubsub#access_model': 'open', 'pubsub#persist_items': '0'}):
        r = publish(a, node, 'x', 'i1', options=opts)
        assert_error(r, 'cancel', 'conflict', 'precondition-not-met')
    assert item_ids(a, node) == []
    # a failed precondition changes nothing
    check_config(config_of(a, node), {'pubsub#access_model': 'open',
                                      'pubsub#max_items': '5',
                                      'pubsub#persist_items': True})
    # matching options are accepted (booleans compare by value)
    publish_ok(a, node, 'x', 'i1', options={
        'pubsub#access_model': 'open', 'pubsub#max_items': '5',
        'pubsub#persist_items': 'true', 'pubsub#deliver_payloads': '1'})
    assert items_ok(a, node) == [('i1', 'x')]


# -- notifications ------------------------------------------------------------

def test_notification_with_payload(clients):
    a, b, c, d = clients(), clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    subscribe_ok(b, node)
    subscribe_ok(c, node)
    iid = publish_ok(a, node, 'hello world')
    for cl in (b, c):
        msg = wait_event(cl, node)
        assert msg.get('to') == cl.bare, tostr(msg)
        assert msg.get('type') == 'headline', tostr(msg)
        assert len(event_of(msg)) == 1, tostr(msg)
        assert notified_items(msg, node) == [('item', iid, 'hello world')]
        no_events(cl, node)        # exactly one
    no_events(a, node)             # the owner is not subscribed
    no_events(d, node)             # nor is d


def test_notification_without_payload(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node, {'pubsub#deliver_payloads': False})
    subscribe_ok(b, node)
    publish_ok(a, node, 'secret payload', 'i1')
    msg = wait_event(b, node)
    assert notified_items(msg, node) == [('item', 'i1', None)]
    # the item is stored with its payload all the same
    assert items_ok(b, node) == [('i1', 'secret payload')]
    # deliver_notifications off: nothing at all
    configure_ok(a, node, {'pubsub#deliver_notifications': False})
    publish_ok(a, node, 'unheard', 'i2')
    no_events(b, node)
    assert item_ids(b, node) == ['i2', 'i1']


def test_notification_type_follows_config(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node, {'pubsub#notification_type': 'normal'})
    subscribe_ok(b, node)
    publish_ok(a, node, 'n', 'i1')
    msg = wait_event(b, node, pred=has_item('i1'))
    # RFC 6121: a missing type is normal
    assert msg.get('type') in (None, 'normal'), tostr(msg)
    configure_ok(a, node, {'pubsub#notification_type': 'headline'})
    publish_ok(a, node, 'h', 'i2')
    msg = wait_event(b, node, pred=has_item('i2'))
    assert msg.get('type') == 'headline', tostr(msg)


def test_retract(clients):
    a, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    subscribe_ok(b, node)
    publish_ok(a, node, 'one', 'i1')
    publish_ok(a, node, 'two', 'i2')
    wait_event(b, node, pred=has_item('i2'))
    assert_result(retract(a, node, 'i1', notify='true'))
    msg = wait_event(b, node, pred=has_item('i1', 'retract'))
    assert msg.get('to') == b.bare, tostr(msg)
    assert notified_items(msg, node) == [('retract', 'i1', None)]
    assert items_ok(a, node) == [('i2', 'two')]
    # gone already, never there, no such node
    assert_error(retract(a, node, 'i1'), 'cancel', 'item-not-found')
    assert_error(retract(a, node, 'never'), 'cancel', 'item-not-found')
    assert_error(retract(a, new_node('nope'), 'i2'), 'cancel',
                 'item-not-found')
    # not a publisher
    assert_error(retract(c, node, 'i2'), 'auth', 'forbidden')
    assert item_ids(a, node) == ['i2']
    no_events(b, node, kind='items')


def test_retract_notify_rules(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node)
    subscribe_ok(b, node)
    for i in ('i1', 'i2', 'i3'):
        publish_ok(a, node, i, i)
    wait_event(b, node, pred=has_item('i3'))
    # notify_retract on (the default): notified without the attribute
    assert_result(retract(a, node, 'i1'))
    msg = wait_event(b, node, pred=has_item('i1', 'retract'))
    assert notified_items(msg, node) == [('retract', 'i1', None)]
    # notify_retract off: silent ...
    configure_ok(a, node, {'pubsub#notify_retract': False})
    assert_result(retract(a, node, 'i2'))
    no_events(b, node)
    # ... unless the request asks (notify='1' counts as true)
    assert_result(retract(a, node, 'i3', notify='1'))
    msg = wait_event(b, node, pred=has_item('i3', 'retract'))
    assert notified_items(msg, node) == [('retract', 'i3', None)]
    assert item_ids(a, node) == []


# -- subscriptions ------------------------------------------------------------

def test_subscribe_bare_and_full_jid(clients):
    a = clients()
    b1 = clients('r1')
    b2 = clients('r2', user=b1.user, pw=b1.pw)
    c = clients()
    node = new_node()
    create_ok(a, node)
    # b subscribes the full JID of r1 only; c its bare JID
    sb = subscribe_ok(b1, node, jid=b1.jid)
    sc = subscribe_ok(c, node)
    settle(b1, b2, c)
    iid = publish_ok(a, node, 'for you')
    m = wait_event(b1, node)
    assert m.get('to') == b1.jid, tostr(m)
    assert notified_items(m, node) == [('item', iid, 'for you')]
    m = wait_event(c, node)
    assert m.get('to') == c.bare, tostr(m)
    no_events(b2, node)
    no_events(b1, node)
    # the lists: the subscribed JID as given, for every resource
    assert user_subscriptions(b1, node) == [(node, b1.jid, 'subscribed', sb)]
    assert user_subscriptions(b2, node) == [(node, b1.jid, 'subscribed', sb)]
    assert user_subscriptions(c, node) == [(node, c.bare, 'subscribed', sc)]
    # unsubscribing the full JID
    assert_result(unsubscribe(b2, node, jid=b1.jid, subid=sb))
    assert user_subscriptions(b1, node) == []
    publish_ok(a, node, 'again', 'again')
    wait_event(c, node, pred=has_item('again'))
    no_events(b1, node)


def test_subscribe_for_another_jid_refused(clients):
    a, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    assert_error(subscribe(b, node, jid=c.bare), 'modify', 'bad-request',
                 'invalid-jid')
    assert_error(subscribe(b, node, jid=c.jid), 'modify', 'bad-request',
                 'invalid-jid')
    assert owner_subscriptions(a, node) == []
    # XEP-0060 6.2.3.3: nor may b unsubscribe c
    sc = subscribe_ok(c, node)
    assert_error(unsubscribe(b, node, jid=c.bare, subid=sc), 'auth',
                 'forbidden')
    assert owner_subscriptions(a, node) == [(c.bare, 'subscribed', sc)]
    # a node that does not exist
    assert_error(subscribe(b, new_node('nope')), 'cancel', 'item-not-found')
    assert_error(unsubscribe(b, new_node('nope')), 'cancel',
                 'item-not-found')


def test_multi_subscribe_and_subids(clients):
    """XEP-0060 6.1.6: several subscriptions of one JID, for different
    options, told apart by subid; subscribing again with the options of
    an existing one returns it (a client resubscribing at every login
    does not pile up subscriptions)."""
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node)
    s1 = subscribe_ok(b, node)
    assert subscribe_ok(b, node) == s1
    s2 = subscribe_ok(b, node, options={'pubsub#deliver': False})
    assert s1 != s2
    assert subscribe_ok(b, node, options={'pubsub#deliver': False}) == s2
    assert sorted(s for _, _, _, s in user_subscriptions(b, node)) == \
        sorted([s1, s2])
    assert sorted(owner_subscriptions(a, node)) == sorted(
        [(b.bare, 'subscribed', s1), (b.bare, 'subscribed', s2)])
    assert_error(unsubscribe(b, node), 'modify', 'bad-request',
                 'subid-required')
    assert_error(unsubscribe(b, node, subid='no-such-subid'), 'modify',
                 'not-acceptable', 'invalid-subid')
    assert_result(unsubscribe(b, node, subid=s2))
    assert user_subscriptions(b, node) == [(node, b.bare, 'subscribed', s1)]
    publish_ok(a, node, 'still', 'i1')
    wait_event(b, node, pred=has_item('i1'))
    b.sync()                  # (one notification SHOULD do, XEP 6.1.6)
    assert_result(unsubscribe(b, node, subid=s1))
    assert user_subscriptions(b, node) == []
    assert_error(unsubscribe(b, node), 'cancel', 'unexpected-request',
                 'not-subscribed')
    publish_ok(a, node, 'gone', 'i2')
    no_events(b, node)


def test_subscription_options_deliver(clients):
    a, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    sb = subscribe_ok(b, node)
    subscribe_ok(c, node)               # control: always delivered to
    r = options_get(b, node, subid=sb)
    opts = pubsub_child(r, 'options')
    assert opts is not None, tostr(r)
    assert opts.get('node') == node and opts.get('jid') == b.bare, tostr(r)
    x = opts.find(q(NS_DATA, 'x'))
    assert x is not None and x.get('type') == 'form', tostr(r)
    vals = form_values(x)
    assert vals['FORM_TYPE'] == [FT_SUB_OPTIONS], tostr(r)
    assert as_bool(vals['pubsub#deliver']) is True

    assert_result(options_set(b, node, {'pubsub#deliver': False}, subid=sb))
    vals = form_values(pubsub_child(options_get(b, node, subid=sb),
                                    'options').find(q(NS_DATA, 'x')))
    assert as_bool(vals['pubsub#deliver']) is False
    publish_ok(a, node, 'muted', 'i1')
    wait_event(c, node, pred=has_item('i1'))
    no_events(b, node)
    # still subscribed, just not delivered to
    assert sub_states(b, node) == [(b.bare, 'subscribed')]

    assert_result(options_set(b, node, {'pubsub#deliver': True}, subid=sb))
    publish_ok(a, node, 'loud', 'i2')
    msg = wait_event(b, node, pred=has_item('i2'))
    assert notified_items(msg, node) == [('item', 'i2', 'loud')]

    # subscribe and configure at once (XEP-0060 6.3.7)
    d = clients()
    subscribe_ok(d, node, options={'pubsub#deliver': False})
    publish_ok(a, node, 'muted again', 'i3')
    wait_event(c, node, pred=has_item('i3'))
    no_events(d, node, pred=about_item(node, 'i3'))

    # somebody else's options; options without a subscription
    assert_error(options_get(d, node, jid=b.bare, subid=sb), 'auth',
                 'forbidden')
    e = clients()
    assert_error(options_get(e, node), ('modify', 'cancel'),
                 'unexpected-request', 'not-subscribed')
    assert_error(options_get(e, new_node('nope')), 'cancel',
                 'item-not-found')


def test_last_published_item_on_subscribe(clients):
    a, b, c, d = clients(), clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    # nothing published: nothing sent
    subscribe_ok(d, node)
    no_events(d, node)
    publish_ok(a, node, 'old', 'i1')
    publish_ok(a, node, 'new', 'i2')
    subscribe_ok(b, node, jid=b.jid)
    msg = wait_event(b, node)
    assert msg.get('to') == b.jid, tostr(msg)
    assert notified_items(msg, node) == [('item', 'i2', 'new')]
    no_events(b, node)                 # the last one only
    # send_last_published_item never: nothing
    configure_ok(a, node, {'pubsub#send_last_published_item': 'never'})
    subscribe_ok(c, node)
    no_events(c, node)


def test_user_subscription_and_affiliation_lists(clients):
    a, b = clients(), clients()
    # XEP-0060 5.6, 5.7: empty lists are empty elements
    assert user_subscriptions(b) == []
    assert user_affiliations(b) == {}
    n1, n2 = new_node(), new_node()
    create_ok(a, n1)
    create_ok(a, n2)
    s1 = subscribe_ok(b, n1)
    s2 = subscribe_ok(b, n2, jid=b.jid)
    assert sorted(user_subscriptions(b)) == sorted(
        [(n1, b.bare, 'subscribed', s1), (n2, b.jid, 'subscribed', s2)])
    assert user_subscriptions(b, n1) == [(n1, b.bare, 'subscribed', s1)]
    assert user_affiliations(a) == {n1: 'owner', n2: 'owner'}
    assert user_affiliations(b) == {}
    assert_result(set_affiliations(a, n1, {b.bare: 'publisher'}))
    assert user_affiliations(b) == {n1: 'publisher'}
    assert user_affiliations(b, n2) == {}
    assert user_affiliations(b, n1) == {n1: 'publisher'}


# -- access models ------------------------------------------------------------

def test_access_open(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node)
    publish_ok(a, node, 'for all', 'i1')
    assert items_ok(b, node) == [('i1', 'for all')]
    subscribe_ok(b, node)
    msg = wait_event(b, node)           # on_sub: the last item
    assert notified_items(msg, node) == [('item', 'i1', 'for all')]


def test_access_presence(clients):
    owner, friend, followed, stranger = (clients(), clients(), clients(),
                                         clients())
    reach(owner, friend, 'from')      # friend gets owner's presence
    reach(owner, followed, 'to')      # owner gets followed's, not back
    node = new_node()
    create_ok(owner, node, {'pubsub#access_model': 'presence'})
    publish_ok(owner, node, 'for friends', 'i1')
    for c in (stranger, followed):
        assert_error(get_items(c, node), 'auth', 'not-authorized',
                     'presence-subscription-required')
        assert_error(subscribe(c, node), 'auth', 'not-authorized',
                     'presence-subscription-required')
        assert user_subscriptions(c) == []
    assert items_ok(friend, node) == [('i1', 'for friends')]
    subscribe_ok(friend, node)
    publish_ok(owner, node, 'more', 'i2')
    msg = wait_event(friend, node, pred=has_item('i2'))
    assert notified_items(msg, node) == [('item', 'i2', 'more')]
    no_events(followed, node)
    no_events(stranger, node)


def test_access_roster(clients):
    owner, friend, colleague, stranger = (clients(), clients(), clients(),
                                          clients())
    reach(owner, friend, 'both')
    reach(owner, colleague, 'both')
    assert_result(owner.roster_set(friend.bare, groups=['Friends']))
    assert_result(owner.roster_set(colleague.bare, groups=['Colleagues']))
    settle(owner, friend, colleague)
    node = new_node()
    create_ok(owner, node, {'pubsub#access_model': 'roster',
                            'pubsub#roster_groups_allowed': ['Friends']})
    check_config(config_of(owner, node),
                 {'pubsub#access_model': 'roster',
                  'pubsub#roster_groups_allowed': ['Friends']})
    publish_ok(owner, node, 'for Friends', 'i1')
    assert items_ok(friend, node) == [('i1', 'for Friends')]
    subscribe_ok(friend, node)
    for c in (colleague, stranger):
        assert_error(get_items(c, node), 'auth', 'not-authorized',
                     'not-in-roster-group')
        assert_error(subscribe(c, node), 'auth', 'not-authorized',
                     'not-in-roster-group')
    # a roster push later: the colleague joins the group, and is let in
    assert_result(owner.roster_set(colleague.bare,
                                   groups=['Colleagues', 'Friends']))
    settle(owner, colleague)
    assert items_ok(colleague, node) == [('i1', 'for Friends')]
    subscribe_ok(colleague, node)
    # and out again when the group goes
    assert_result(owner.roster_set(friend.bare, groups=['Others']))
    settle(owner, friend)
    assert_error(get_items(friend, node), 'auth', 'not-authorized',
                 'not-in-roster-group')


def test_access_whitelist(clients):
    owner, member, pub, stranger = (clients(), clients(), clients(),
                                    clients())
    node = new_node()
    create_ok(owner, node, WHITELIST)
    publish_ok(owner, node, 'members only', 'i1')
    for c in (member, pub, stranger):
        assert_error(get_items(c, node), 'cancel', 'not-allowed',
                     'closed-node')
        assert_error(subscribe(c, node), 'cancel', 'not-allowed',
                     'closed-node')
    assert_result(set_affiliations(owner, node, {member.bare: 'member',
                                                 pub.bare: 'publisher'}))
    for c in (member, pub):
        assert items_ok(c, node) == [('i1', 'members only')]
        subscribe_ok(c, node)
    assert_error(get_items(stranger, node), 'cancel', 'not-allowed',
                 'closed-node')
    # a member may not publish
    assert_error(publish(member, node, 'no', 'm1'), 'auth', 'forbidden')
    # dropping the affiliation closes the node to it again
    assert_result(set_affiliations(owner, node, {member.bare: 'none'}))
    assert_error(get_items(member, node), 'cancel', 'not-allowed',
                 'closed-node')


def _auth_form(owner, node, jid):
    """Waits for the service's authorization request about jid; returns
    (message, {var: [values]})."""
    def is_request(e):
        if e.tag != MESSAGE or e.get('from') != PUBSUB:
            return False
        x = e.find(q(NS_DATA, 'x'))
        if x is None:
            return False
        v = form_values(x)
        return v.get('FORM_TYPE') == [FT_SUB_AUTH] and \
            v.get('pubsub#subscriber_jid') == [jid]
    msg = owner.wait_for(is_request, what='authorization form for ' + jid)
    x = msg.find(q(NS_DATA, 'x'))
    assert x.get('type') == 'form', tostr(msg)
    return msg, form_values(x)


def _answer(c, msg, vals, allow):
    answer = {k: v for k, v in vals.items() if k != 'FORM_TYPE'}
    answer['pubsub#allow'] = 'true' if allow else 'false'
    idattr = ' id=%s' % quoteattr(msg.get('id')) if msg.get('id') else ''
    c.send("<message to='%s'%s>%s</message>" % (
        PUBSUB, idattr, form_xml(FT_SUB_AUTH, answer)))
    c.sync()


def test_access_authorize(clients):
    owner, sub, denied = clients(), clients(), clients()
    node = new_node()
    create_ok(owner, node, {'pubsub#access_model': 'authorize'})
    publish_ok(owner, node, 'secret', 'i1')
    assert_error(get_items(sub, node), 'auth', 'not-authorized',
                 'not-subscribed')
    subscribe_ok(sub, node, state='pending')
    msg, vals = _auth_form(owner, node, sub.bare)
    assert vals['pubsub#node'] == [node], tostr(msg)
    assert 'pubsub#allow' in vals, tostr(msg)
    # pending: no items, and asking again says so
    assert sub_states(sub, node) == [(sub.bare, 'pending')]
    assert_error(get_items(sub, node), 'auth', 'not-authorized',
                 'not-subscribed')
    assert_error(subscribe(sub, node), 'auth', 'not-authorized',
                 'pending-subscription')
    # only an owner can approve: the subscriber's own answer is ignored
    _answer(sub, msg, vals, allow=True)
    assert sub_states(sub, node) == [(sub.bare, 'pending')]
    no_events(sub, node, kind='items')
    # the owner approves
    _answer(owner, msg, vals, allow=True)
    want = [(sub.bare, 'subscribed')]
    assert eventually(lambda: sub_states(sub, node), want) == want
    ev = wait_event(sub, node, 'subscription')
    s = event_child(ev, 'subscription', node)
    assert s.get('jid') == sub.bare and \
        s.get('subscription') == 'subscribed', tostr(ev)
    assert items_ok(sub, node) == [('i1', 'secret')]
    publish_ok(owner, node, 'news', 'i2')
    msg2 = wait_event(sub, node, pred=has_item('i2'))
    assert notified_items(msg2, node) == [('item', 'i2', 'news')]

    # the owner denies another
    subscribe_ok(denied, node, state='pending')
    msg, vals = _auth_form(owner, node, denied.bare)
    _answer(owner, msg, vals, allow=False)
    assert eventually(lambda: [st for _, st in sub_states(denied, node)
                               if st in ('pending', 'subscribed')],
                      []) == []
    assert_error(get_items(denied, node), 'auth', 'not-authorized',
                 'not-subscribed')
    publish_ok(owner, node, 'not for you', 'i3')
    wait_event(sub, node, pred=has_item('i3'))
    no_events(denied, node, kind='items')


def test_outcast_is_refused(clients):
    owner, out = clients(), clients()
    node = new_node()
    create_ok(owner, node, {'pubsub#publish_model': 'open'})
    publish_ok(owner, node, 'x', 'i1')
    assert_result(set_affiliations(owner, node, {out.bare: 'outcast'}))
    assert owner_affiliations(owner, node) == {owner.bare: 'owner',
                                               out.bare: 'outcast'}
    assert user_affiliations(out) == {node: 'outcast'}
    assert_error(subscribe(out, node), 'auth', 'forbidden')
    assert_error(get_items(out, node), 'auth', 'forbidden')
    assert_error(publish(out, node, 'y', 'o1'), 'auth', 'forbidden')
    assert item_ids(owner, node) == ['i1']
    # lifting the ban
    assert_result(set_affiliations(owner, node, {out.bare: 'none'}))
    assert owner_affiliations(owner, node) == {owner.bare: 'owner'}
    assert item_ids(out, node) == ['i1']


# -- affiliations -------------------------------------------------------------

def test_publisher_publish_only_and_member(clients):
    owner, pub, ponly, member = (clients(), clients(), clients(),
                                 clients())
    node = new_node()
    create_ok(owner, node, WHITELIST)
    assert_result(set_affiliations(owner, node, {
        pub.bare: 'publisher', ponly.bare: 'publish-only',
        member.bare: 'member'}))
    assert owner_affiliations(owner, node) == {
        owner.bare: 'owner', pub.bare: 'publisher',
        ponly.bare: 'publish-only', member.bare: 'member'}
    publish_ok(pub, node, 'by publisher', 'p1')
    publish_ok(ponly, node, 'by publish-only', 'o1')
    assert_error(publish(member, node, 'by member', 'm1'), 'auth',
                 'forbidden')
    want = [('o1', 'by publish-only'), ('p1', 'by publisher')]
    assert items_ok(pub, node) == want
    assert items_ok(member, node) == want
    # publish-only: no retrieval (closed-node under whitelist; forbidden
    # is the other answer XEP-0060 4.1 allows)
    r = get_items(ponly, node)
    assert r.get('type') == 'error', tostr(r)
    assert_error(r, ('cancel', 'auth'), ('not-allowed', 'forbidden'))
    # but it may retract
    assert_result(retract(ponly, node, 'o1'))
    assert item_ids(owner, node) == ['p1']
    # a publisher is no owner
    assert_error(configure_get(pub, node), 'auth', 'forbidden')
    assert_error(delete_node(pub, node), 'auth', 'forbidden')
    assert_error(set_affiliations(pub, node, {member.bare: 'publisher'}),
                 'auth', 'forbidden')


def test_owner_manages_affiliations(clients):
    owner, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(owner, node)
    assert owner_affiliations(owner, node) == {owner.bare: 'owner'}
    assert_result(set_affiliations(owner, node, {b.bare: 'member',
                                                 c.bare: 'publisher'}))
    assert owner_affiliations(owner, node) == {
        owner.bare: 'owner', b.bare: 'member', c.bare: 'publisher'}
    # a delta: change one, remove one
    assert_result(set_affiliations(owner, node, {b.bare: 'publisher',
                                                 c.bare: 'none'}))
    assert owner_affiliations(owner, node) == {owner.bare: 'owner',
                                               b.bare: 'publisher'}
    # non-owners may neither look nor touch
    assert_error(ps_query(b, 'get', "<affiliations node='%s'/>" % node,
                          owner=True), 'auth', 'forbidden')
    assert_error(set_affiliations(c, node, {c.bare: 'owner'}), 'auth',
                 'forbidden')
    assert owner_affiliations(owner, node) == {owner.bare: 'owner',
                                               b.bare: 'publisher'}
    # a second owner, who then removes the first
    assert_result(set_affiliations(owner, node, {c.bare: 'owner'}))
    configure_ok(c, node, {'pubsub#title': 'by c'})
    assert_result(set_affiliations(c, node, {owner.bare: 'none'}))
    assert_error(configure_get(owner, node), 'auth', 'forbidden')
    # XEP-0060 8.9.2.4: the last owner cannot go
    r = set_affiliations(c, node, {c.bare: 'none'})
    assert_error(r, 'modify', 'not-acceptable')
    assert owner_affiliations(c, node) == {c.bare: 'owner',
                                           b.bare: 'publisher'}
    assert_error(set_affiliations(c, new_node('nope'), {b.bare: 'member'}),
                 'cancel', 'item-not-found')


def test_owner_manages_subscriptions(clients):
    owner, b, c, d = clients(), clients(), clients(), clients()
    node = new_node()
    create_ok(owner, node)
    assert owner_subscriptions(owner, node) == []
    sb = subscribe_ok(b, node)
    sc = subscribe_ok(c, node, jid=c.jid)
    assert sorted(owner_subscriptions(owner, node)) == sorted(
        [(b.bare, 'subscribed', sb), (c.jid, 'subscribed', sc)])
    # remove b, subscribe d
    assert_result(set_subscriptions(owner, node, [(b.bare, 'none', sb),
                                                  (d.bare, 'subscribed')]))
    subs = owner_subscriptions(owner, node)
    assert sorted((j, s) for j, s, _ in subs) == sorted(
        [(c.jid, 'subscribed'), (d.bare, 'subscribed')])
    assert user_subscriptions(b, node) == []
    assert sub_states(d, node) == [(d.bare, 'subscribed')]
    d.sync()
    publish_ok(owner, node, 'after', 'i1')
    m = wait_event(d, node, pred=has_item('i1'))
    assert m.get('to') == d.bare, tostr(m)
    m = wait_event(c, node, pred=has_item('i1'))
    assert m.get('to') == c.jid, tostr(m)
    no_events(b, node, kind='items')
    # non-owners
    assert_error(ps_query(c, 'get', "<subscriptions node='%s'/>" % node,
                          owner=True), 'auth', 'forbidden')
    assert_error(set_subscriptions(c, node, [(b.bare, 'subscribed')]),
                 'auth', 'forbidden')
    assert user_subscriptions(b, node) == []
    assert_error(ps_query(owner, 'get', "<subscriptions node='%s'/>"
                          % new_node('nope'), owner=True), 'cancel',
                 'item-not-found')


# -- retrieving items ---------------------------------------------------------

def test_items_retrieval(clients):
    a, b = clients(), clients()
    node = new_node()
    create_ok(a, node)
    assert items_ok(b, node) == []
    for i in range(1, 5):
        publish_ok(a, node, 't%d' % i, 'i%d' % i)
    assert items_ok(b, node) == [('i4', 't4'), ('i3', 't3'), ('i2', 't2'),
                                 ('i1', 't1')]
    assert sorted(items_ok(b, node, ids=['i3', 'i1'])) == [('i1', 't1'),
                                                           ('i3', 't3')]
    assert items_ok(b, node, ids=['i2']) == [('i2', 't2')]
    assert items_ok(b, node, max_items=2) == [('i4', 't4'), ('i3', 't3')]
    assert items_ok(b, node, max_items=10) == items_ok(b, node)
    assert_error(get_items(b, new_node('nope')), 'cancel', 'item-not-found')


def test_items_rsm_paging(clients):
    a = clients()
    node = new_node()
    create_ok(a, node)
    for i in range(1, 6):
        publish_ok(a, node, 't%d' % i, 'i%d' % i)
    r = get_items(a, node, rsm={'max': 2})
    assert [i for i, _ in items_of(r, node)] == ['i5', 'i4']
    assert rsm_of(r) == {'first': 'i5', 'index': '0', 'last': 'i4',
                         'count': '5'}
    r = get_items(a, node, rsm={'max': 2, 'after': 'i4'})
    assert [i for i, _ in items_of(r, node)] == ['i3', 'i2']
    assert rsm_of(r) == {'first': 'i3', 'index': '2', 'last': 'i2',
                         'count': '5'}
    r = get_items(a, node, rsm={'max': 2, 'after': 'i2'})
    assert items_of(r, node) == [('i1', 't1')]
    assert rsm_of(r) == {'first': 'i1', 'index': '4', 'last': 'i1',
                         'count': '5'}


# -- deleting and purging -----------------------------------------------------

def test_delete_node_with_redirect(clients):
    a, b, c = clients(), clients(), clients()
    node, other = new_node(), new_node()
    create_ok(a, node)
    create_ok(a, other)
    subscribe_ok(b, node)
    publish_ok(a, node, 'x', 'i1')
    wait_event(b, node, pred=has_item('i1'))
    assert_error(delete_node(c, node), 'auth', 'forbidden')
    assert item_ids(a, node) == ['i1']
    uri = 'xmpp:%s?;node=%s' % (PUBSUB, other)
    assert_result(delete_node(a, node, redirect=uri))
    msg = wait_event(b, node, 'delete')
    assert msg.get('to') == b.bare, tostr(msg)
    d = event_child(msg, 'delete', node)
    red = d.findall(q(NS_EVENT, 'redirect'))
    assert len(red) == 1 and red[0].get('uri') == uri, tostr(msg)
    # gone
    assert_error(get_items(a, node), 'cancel', 'item-not-found')
    assert_error(configure_get(a, node), 'cancel', 'item-not-found')
    assert_error(publish(a, node, 'y', 'i2'), 'cancel', 'item-not-found')
    assert_error(delete_node(a, node), 'cancel', 'item-not-found')
    qe = disco_query(disco(a, 'items'), 'items')
    assert node not in [i.get('node')
                        for i in qe.findall(q(NS_DISCO_ITEMS, 'item'))]
    assert node not in [n for n, _, _, _ in user_subscriptions(b)]
    assert node not in user_affiliations(a)
    # the name is free again: a new node, empty, without subscribers
    create_ok(a, node)
    assert item_ids(a, node) == []
    assert owner_subscriptions(a, node) == []
    # deleted without a redirect: a bare <delete/>
    subscribe_ok(c, node)
    assert_result(delete_node(a, node))
    msg = wait_event(c, node, 'delete')
    assert len(event_child(msg, 'delete', node)) == 0, tostr(msg)
    no_events(b, node)


def test_purge(clients):
    a, b, c = clients(), clients(), clients()
    node = new_node()
    create_ok(a, node)
    subscribe_ok(b, node)
    for i in ('i1', 'i2', 'i3'):
        publish_ok(a, node, i, i)
    wait_event(b, node, pred=has_item('i3'))
    assert_error(purge(c, node), 'auth', 'forbidden')
    assert item_ids(a, node) == ['i3', 'i2', 'i1']
    assert_result(purge(a, node))
    msg = wait_event(b, node, 'purge')
    assert msg.get('to') == b.bare, tostr(msg)
    assert len(event_child(msg, 'purge', node)) == 0, tostr(msg)
    no_events(b, node)                 # one notification, not one per item
    assert item_ids(a, node) == []
    qe = disco_query(disco(a, 'items', node=node), 'items')
    assert qe.findall(q(NS_DISCO_ITEMS, 'item')) == []
    # the node lives on
    publish_ok(a, node, 'i4', 'i4')
    wait_event(b, node, pred=has_item('i4'))
    assert item_ids(a, node) == ['i4']
    assert_error(purge(a, new_node('nope')), 'cancel', 'item-not-found')


# -- persistence --------------------------------------------------------------

def test_persistence_across_restart(make_server, cafile):
    s = make_server().start()
    au, ap = s.new_user()
    bu, bp = s.new_user()
    node, gone, purged = new_node('keep'), new_node('gone'), new_node('purged')
    conf = {'pubsub#title': 'Kept', 'pubsub#access_model': 'whitelist',
            'pubsub#max_items': '5', 'pubsub#notification_type': 'normal',
            'pubsub#send_last_published_item': 'never',
            'pubsub#notify_retract': False}
    a = im_connect(s, cafile, au, ap, resource='r')
    b = im_connect(s, cafile, bu, bp, resource='r')
    try:
        create_ok(a, node, conf)
        create_ok(a, gone)
        create_ok(a, purged)
        assert_result(set_affiliations(a, node, {b.bare: 'member'}))
        sid = subscribe_ok(b, node)
        for i in ('i1', 'i2', 'i3'):
            publish_ok(a, node, 'v1-' + i, i)
        assert_result(retract(a, node, 'i2'))
        publish_ok(a, node, 'v2-i1', 'i1')
        wait_event(b, node, pred=has_item('i1'))
        assert_result(delete_node(a, gone))
        publish_ok(a, purged, 'p', 'p1')
        assert_result(purge(a, purged))
        want_items = [('i1', 'v2-i1'), ('i3', 'v1-i3')]
        assert items_ok(a, node) == want_items
    finally:
        a.close()
        b.close()
    assert s.stop() == 0, s.log()[-3000:]
    s.start()
    a = im_connect(s, cafile, au, ap, resource='r')
    b = im_connect(s, cafile, bu, bp, resource='r')
    try:
        deadline = time.monotonic() + 5
        while True:
            r = configure_get(a, node)
            if r.get('type') == 'result' or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert_result(r)
        check_config(config_of(a, node), conf)
        assert owner_affiliations(a, node) == {a.bare: 'owner',
                                               b.bare: 'member'}
        assert owner_subscriptions(a, node) == [(b.bare, 'subscribed', sid)]
        assert user_subscriptions(b, node) == [(node, b.bare, 'subscribed',
                                                sid)]
        assert items_ok(a, node) == want_items
        assert items_ok(b, node) == want_items
        assert_error(get_items(a, gone), 'cancel', 'item-not-found')
        assert item_ids(a, purged) == []
        # still in force: the subscription, the message type, max_items
        publish_ok(a, node, 'after', 'i4')
        m = wait_event(b, node, pred=has_item('i4'))
        assert m.get('type') in (None, 'normal'), tostr(m)
        assert notified_items(m, node) == [('item', 'i4', 'after')]
        for i in ('i5', 'i6', 'i7'):
            publish_ok(a, node, i, i)
        assert item_ids(a, node) == ['i7', 'i6', 'i5', 'i4', 'i1']
        # and the whitelist
        cu, cp = s.new_user()
        c = im_connect(s, cafile, cu, cp, resource='r')
        try:
            assert_error(get_items(c, node), 'cancel', 'not-allowed',
                         'closed-node')
        finally:
            c.close()
    finally:
        a.close()
        b.close()


# -- bad input ----------------------------------------------------------------

def test_malformed_requests(server, clients):
    a = clients()
    node = new_node()
    create_ok(a, node, {'pubsub#title': 'Before'})
    # <pubsub/> without an action, for get and set
    for t in ('get', 'set'):
        r = keep_query(a, t, "<pubsub xmlns='%s'/>" % NS_PUBSUB)
        assert_error(r, ('modify', 'cancel'), 'bad-request')
        r = keep_query(a, t, "<pubsub xmlns='%s'/>" % NS_OWNER)
        assert_error(r, ('modify', 'cancel'), 'bad-request')
    # two actions in one request
    r = ps_query(a, 'set', "<publish node='%s'><item id='x'/></publish>"
                 "<publish node='%s'><item id='y'/></publish>" % (node, node))
    assert_error(r, ('modify', 'cancel'), 'bad-request')
    r = ps_query(a, 'set', "<subscribe node='%s' jid='%s'/>"
                 "<publish node='%s'><item id='z'/></publish>"
                 % (node, a.bare, node))
    assert_error(r, ('modify', 'cancel'), 'bad-request')
    assert item_ids(a, node) == []
    assert user_subscriptions(a, node) == []
    # an action nobody defined
    r = ps_query(a, 'set', "<frobnicate node='%s'/>" % node)
    assert_error(r, ('cancel', 'modify'), ('feature-not-implemented',
                                           'bad-request',
                                           'service-unavailable'))
    # no node attribute where one is needed
    assert_error(publish(a, None, 'x', 'i'), 'modify', 'bad-request',
                 'nodeid-required')
    assert_error(get_items(a, None), 'modify', 'bad-request',
                 'nodeid-required')
    assert_error(retract(a, None, 'i'), 'modify', 'bad-request',
                 'nodeid-required')
    assert_error(configure_get(a, None), 'modify', 'bad-request',
                 'nodeid-required')
    # retract without an item (XEP-0060 7.2.3.4)
    r = ps_query(a, 'set', "<retract node='%s'/>" % node)
    assert_error(r, 'modify', 'bad-request', 'item-required')
    # an item with two payloads (XEP-0060 7.1.3.5)
    r = publish(a, node, raw=entry('a') + entry('b'), item_id='two')
    assert_error(r, 'modify', 'bad-request')
    assert item_ids(a, node) == []
    # unknown node
    assert_error(get_items(a, new_node('nope')), 'cancel', 'item-not-found')
    # invalid configuration values: the whole form is refused
    for bad in ({'pubsub#access_model': 'bogus'},
                {'pubsub#max_items': 'many'},
                {'pubsub#max_items': '-1'},
                {'pubsub#notification_type': 'loud'},
                {'pubsub#deliver_payloads': 'maybe'},
                {'pubsub#send_last_published_item': 'sometimes'}):
        fields = dict(bad, **{'pubsub#title': 'After'})
        assert_error(configure_set(a, node, fields), 'modify',
                     ('not-acceptable', 'bad-request'))
    check_config(config_of(a, node), {'pubsub#title': 'Before',
                                      'pubsub#access_model': 'open',
                                      'pubsub#max_items': '10',
                                      'pubsub#deliver_payloads': True})
    # ... and in create-and-configure no node is made
    n2 = new_node()
    assert_error(create(a, n2, {'pubsub#access_model': 'bogus'}), 'modify',
                 ('not-acceptable', 'bad-request'))
    assert_error(get_items(a, n2), 'cancel', 'item-not-found')
    # stray stanzas to the service do no harm
    a.send("<message to='%s'><body>hello?</body></message>" % PUBSUB)
    a.send("<message to='%s'>%s</message>" % (PUBSUB, form_xml(
        FT_SUB_AUTH, {'pubsub#node': node, 'pubsub#subscriber_jid': a.bare,
                      'pubsub#allow': 'true'})))
    a.send("<presence to='%s'/>" % PUBSUB)
    a.send("<message to='%s' type='error'><error type='cancel'>"
           "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'"
           "/></error></message>" % PUBSUB)
    r = keep_query(a, 'get', "<query xmlns='urn:example:nothing'/>")
    assert_error(r, 'cancel', ('service-unavailable',
                               'feature-not-implemented'))
    assert user_subscriptions(a, node) == []
    # alive and well
    assert server.alive()
    qe = disco_query(disco(a, 'info'), 'info')
    assert NS_PUBSUB in [f.get('var')
                         for f in qe.findall(q(NS_DISCO_INFO, 'feature'))]
    check_config(config_of(a, node), {'pubsub#title': 'Before'})


# -- slixmpp ------------------------------------------------------------------

def test_slixmpp_xep_0060(server):
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    node = new_node('slix')

    async def go():
        a = await slix_login(server, ua, pa, 'a')
        b = await slix_login(server, ub, pb, 'b')
        try:
            for c in (a, b):
                c.register_plugin('xep_0060')
            psa, psb = a['xep_0060'], b['xep_0060']
            # available, so notifications to the bare JID reach b
            b.send_presence()
            await psa.create_node(PUBSUB, node, timeout=5)
            got = asyncio.Queue()
            b.add_event_handler('pubsub_publish', got.put_nowait)
            res = await psb.subscribe(PUBSUB, node, timeout=5)
            assert res['pubsub']['subscription']['subscription'] == \
                'subscribed', str(res)
            payload = ET.fromstring(entry('from slixmpp'))
            await psa.publish(PUBSUB, node, id='s1', payload=payload,
                              timeout=5)
            while True:
                msg = await asyncio.wait_for(got.get(), 5)
                if msg['pubsub_event']['items']['node'] == node:
                    break
            item = msg['pubsub_event']['items']['item']
            assert item['id'] == 's1', str(msg)
            assert item['payload'].tag == q(NS_ENTRY, 'entry'), str(msg)
            assert item['payload'].findtext(q(NS_ENTRY, 'title')) == \
                'from slixmpp', str(msg)
            res = await psb.get_items(PUBSUB, node, timeout=5)
            its = list(res['pubsub']['items'])
            assert [i['id'] for i in its] == ['s1'], str(res)
            assert its[0]['payload'].findtext(q(NS_ENTRY, 'title')) == \
                'from slixmpp'
        finally:
            await a.close()
            await b.close()
    run(go(), timeout=30)
