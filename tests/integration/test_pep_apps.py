"""test_pep_apps.py -- what real clients do with PEP (mod_pep): XEP-0084
User Avatar and XEP-0172 User Nickname with slixmpp 1.8.3's own plugins
(xep_0084, xep_0172 over xep_0163/xep_0060/xep_0115: the contact's
client advertises +notify through its caps and answers the server's
disco#info itself), and with raw stanzas (slixmpp 1.8.3 has no XEP-0402
plugin) XEP-0402 Bookmarks 2 as clients store them (XEP-0223 private
node with the XEP's publish-options) and OMEMO as Conversations does it
(XEP-0384 0.3: eu.siacs.conversations.axolotl.devicelist and .bundles:ID
nodes made world-readable with publish-options access_model=open, or by
configuring the node after precondition-not-met)."""

import asyncio
import base64
import hashlib
import uuid
import xml.etree.ElementTree as ET

import pytest

import xmpp_slix
from pep_helpers import (BOOKMARK_OPTIONS, NS_PUBSUB, accounts,
                         assert_pubsub_error, befriend, check_event,
                         event_items, get_config, get_items, items_of,
                         new_caps, pep, png, publish, publish_ok, retract,
                         set_config, subscribe)
from xmpp_raw import q, tostr
from xmpp_slix import run

assert pep  # a fixture, used by name

NS_AVATAR_DATA = 'urn:xmpp:avatar:data'
NS_AVATAR_META = 'urn:xmpp:avatar:metadata'
NS_NICK = 'http://jabber.org/protocol/nick'
NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'
NS_AXOLOTL = 'eu.siacs.conversations.axolotl'
DEVICELIST = NS_AXOLOTL + '.devicelist'
BUNDLES = NS_AXOLOTL + '.bundles:'

OPEN = {'pubsub#access_model': 'open'}


# -- slixmpp ------------------------------------------------------------------

async def slix_pep_client(server, user, pw, resource, plugins):
    """A slixmpp client with the given PEP plugins, a feature of its own
    (so its caps ver is new to the server), available presence with its
    caps sent; returns once the server has asked its disco#info and a
    round trip later (the server has its answer)."""
    c = await xmpp_slix.login(server, user, pw, resource)
    loop = asyncio.get_running_loop()
    asked = loop.create_future()

    def out_filter(stanza):
        x = stanza.xml
        if (x.tag == '{jabber:client}iq' and x.get('type') == 'result' and
                x.find('{http://jabber.org/protocol/disco#info}query')
                is not None and not asked.done()):
            asked.set_result(x.get('to'))
        return stanza
    c.add_filter('out', out_filter)
    for p in plugins:
        c.register_plugin(p)
    c['xep_0030'].add_feature('urn:tern:test:%s' % uuid.uuid4().hex)
    await c['xep_0115'].update_caps(broadcast=False)
    c.send_presence()
    await asyncio.wait_for(asked, 5)
    await xmpp_slix.ping(c, server.domain)
    return c


def slix_queue(c, event):
    qu = asyncio.Queue()
    c.add_event_handler(event, qu.put_nowait)
    return qu


@pytest.mark.slix
def test_slixmpp_avatar(server, cafile):
    """XEP-0084 with slixmpp's plugin: the owner publishes data then
    metadata; a contact whose client registered the plugin (so its caps
    carry urn:xmpp:avatar:metadata+notify) gets the metadata event from
    the owner's bare JID and fetches the data by id."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    image = png(3, 2)
    aid = hashlib.sha1(image).hexdigest()

    async def go():
        a = await xmpp_slix.login(server, ua, pa, 'a')
        b = None
        try:
            a.register_plugin('xep_0084')
            a.send_presence()
            b = await slix_pep_client(server, ub, pb, 'b', ['xep_0084'])
            meta = slix_queue(b, 'avatar_metadata_publish')
            await a['xep_0084'].publish_avatar(image, timeout=5)
            await a['xep_0084'].publish_avatar_metadata(
                {'id': aid, 'type': 'image/png', 'bytes': len(image),
                 'width': '3', 'height': '2'}, timeout=5)
            msg = await asyncio.wait_for(meta.get(), 5)
            assert msg['from'] == a.boundjid.bare, msg
            assert msg['type'] == 'headline', msg
            info = msg.xml.findall('.//{%s}info' % NS_AVATAR_META)
            assert [(i.get('id'), i.get('type'), i.get('bytes'))
                    for i in info] == [(aid, 'image/png', str(len(image)))]
            item = msg.xml.find('.//{http://jabber.org/protocol/pubsub#event}'
                                'item')
            assert item.get('id') == aid, msg
            r = await b['xep_0084'].retrieve_avatar(a.boundjid.bare, aid,
                                                     timeout=5)
            assert r['pubsub']['items']['node'] == NS_AVATAR_DATA
            got = r['pubsub']['items']['item']
            assert got['id'] == aid
            assert got['avatar_data']['value'] == image
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(meta.get(), 1)
        finally:
            await a.close()
            if b is not None:
                await b.close()
    run(go(), timeout=40)


@pytest.mark.slix
def test_slixmpp_nick(server, cafile):
    """XEP-0172 with slixmpp's plugin: publish_nick reaches the contact
    (user_nick_publish event), once; the contact can also read it."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')

    async def go():
        a = await xmpp_slix.login(server, ua, pa, 'a')
        b = None
        try:
            a.register_plugin('xep_0172')
            a.send_presence()
            b = await slix_pep_client(server, ub, pb, 'b', ['xep_0172'])
            nicks = slix_queue(b, 'user_nick_publish')
            await a['xep_0172'].publish_nick('Romeo \u2665', timeout=5)
            msg = await asyncio.wait_for(nicks.get(), 5)
            assert msg['from'] == a.boundjid.bare
            assert msg['to'] == b.boundjid.full
            item = msg['pubsub_event']['items']['item']
            assert item['nick']['nick'] == 'Romeo \u2665'
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(nicks.get(), 1)
            r = await b['xep_0060'].get_items(a.boundjid.bare, NS_NICK,
                                               timeout=5)
            assert r['pubsub']['items']['node'] == NS_NICK
            items = r.xml.findall('.//{%s}item' % NS_PUBSUB)
            assert len(items) == 1, r
            assert [n.text for n in items[0]] == ['Romeo \u2665'], r
        finally:
            await a.close()
            if b is not None:
                await b.close()
    run(go(), timeout=40)


# -- XEP-0402 -----------------------------------------------------------------

ROOMS = [
    ('theplay@conference.shakespeare.lit',
     "<conference xmlns='%s' name='The Play&apos;s the Thing' "
     "autojoin='true'><nick>JC</nick></conference>" % NS_BOOKMARKS),
    ('orchard@conference.shakespeare.lit',
     "<conference xmlns='%s' name='The Orchard' autojoin='1'><nick>JC</nick>"
     "<password>mellon</password><extensions><state "
     "xmlns='http://myclient.example/bookmark/state' minimized='true'/>"
     "</extensions></conference>" % NS_BOOKMARKS),
]


def B(name):
    return q(NS_BOOKMARKS, name)


def test_bookmarks2(server, cafile, pep):
    """XEP-0402: two bookmarks published with the XEP's publish-options
    (the second one checks them against the node the first created);
    another resource of the account with +notify gets each, once; all
    items come back intact; retracting one (notify='true') notifies; a
    contact with +notify gets nothing and, like a stranger, may not read
    them; a resource coming online gets no last item
    (send_last_published_item never)."""
    (ua, pa), (ub, pb), (us, ps) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa, resource='desktop')
    a2 = pep(ua, pa, resource='phone', caps=new_caps(NS_BOOKMARKS))
    b = pep(ub, pb, caps=new_caps(NS_BOOKMARKS))
    s = pep(us, ps)
    for x in (a2, b):
        x.collect()
    for jid, payload in ROOMS:
        publish_ok(a, NS_BOOKMARKS, payload, item_id=jid,
                   options=BOOKMARK_OPTIONS)
    evs = a2.events(2, NS_BOOKMARKS)
    assert [check_event(e, a.bare, a2.jid, NS_BOOKMARKS)[0]
            for e in evs] == [j for j, _ in ROOMS]
    got = dict(items_of(get_items(a, NS_BOOKMARKS), NS_BOOKMARKS))
    assert sorted(got) == sorted(j for j, _ in ROOMS)
    play = got['theplay@conference.shakespeare.lit']
    assert play.tag == B('conference') and \
        play.get('name') == "The Play's the Thing" and \
        play.get('autojoin') == 'true' and play.findtext(B('nick')) == 'JC'
    orchard = got['orchard@conference.shakespeare.lit']
    assert orchard.findtext(B('password')) == 'mellon'
    st = orchard.find('%s/{http://myclient.example/bookmark/state}state'
                      % B('extensions'))
    assert st is not None and st.get('minimized') == 'true', tostr(orchard)

    cfg = get_config(a, NS_BOOKMARKS)
    assert cfg.get('pubsub#access_model') == ['whitelist'], cfg
    assert cfg.get('pubsub#send_last_published_item') == ['never'], cfg
    assert cfg.get('pubsub#persist_items') in (['1'], ['true']), cfg

    b.no_events(what='bookmarks of a contact')
    for x in (b, s):
        assert_pubsub_error(get_items(x, NS_BOOKMARKS, to=a.bare), 'cancel',
                            'not-allowed', 'closed-node')

    r = retract(a, NS_BOOKMARKS, ROOMS[0][0], notify=True)
    assert r.get('type') == 'result', tostr(r)
    ev, = a2.events(1, NS_BOOKMARKS)
    assert ev.get('from') == a.bare and ev.get('to') == a2.jid, tostr(ev)
    assert event_items(ev, NS_BOOKMARKS) == ([], [ROOMS[0][0]])
    got = items_of(get_items(a, NS_BOOKMARKS), NS_BOOKMARKS)
    assert [i for i, _ in got] == [ROOMS[1][0]]
    b.no_events(what='bookmarks of a contact')

    a3 = pep(ua, pa, resource='tablet', caps=new_caps(NS_BOOKMARKS))
    a3.events(0, NS_BOOKMARKS, seen=a3.initial, grace=1.0,
              what='send_last_published_item never')


def test_bookmarks2_many_kept(server, pep):
    """max_items=max: many bookmarks are all kept (not cut to the PEP
    default of 1); each bookmark's id is its room."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    rooms = ['room%02d@conference.example.org' % i for i in range(25)]
    for r in rooms:
        publish_ok(a, NS_BOOKMARKS,
                   "<conference xmlns='%s' name='%s'/>" % (NS_BOOKMARKS, r),
                   item_id=r, options=BOOKMARK_OPTIONS)
    got = items_of(get_items(a, NS_BOOKMARKS), NS_BOOKMARKS)
    assert sorted(i for i, _ in got) == rooms
    assert all(p.get('name') == i for i, p in got)


# -- OMEMO (XEP-0384 0.3, as Conversations) -----------------------------------

def devicelist(*ids):
    return "<list xmlns='%s'>%s</list>" % (
        NS_AXOLOTL, ''.join("<device id='%d'/>" % i for i in ids))


def bundle(seed):
    k = lambda n: base64.b64encode(hashlib.sha256(  # noqa: E731
        ('%s-%s' % (seed, n)).encode()).digest() + b'\x05').decode()
    return ("<bundle xmlns='%s'><signedPreKeyPublic signedPreKeyId='1'>%s"
            "</signedPreKeyPublic><signedPreKeySignature>%s"
            "</signedPreKeySignature><identityKey>%s</identityKey><prekeys>%s"
            "</prekeys></bundle>" % (
                NS_AXOLOTL, k('spk'), k('sig'), k('ik'),
                ''.join("<preKeyPublic preKeyId='%d'>%s</preKeyPublic>"
                        % (i, k(i)) for i in range(1, 101))))


def AX(name):
    return q(NS_AXOLOTL, name)


def device_ids(payload):
    assert payload is not None and payload.tag == AX('list'), tostr(payload)
    return sorted(int(d.get('id')) for d in payload.findall(AX('device')))


def test_omemo_open_nodes(server, cafile, pep):
    """Conversations publishes its device list and bundle with
    publish-options access_model=open: a stranger retrieves both; a
    contact with devicelist+notify gets the update, a stranger with it
    does not until it subscribes (allowed on an open node)."""
    (ua, pa), (ub, pb), (us, ps) = accounts(server, 3)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(DEVICELIST))
    s = pep(us, ps, caps=new_caps(DEVICELIST), wait_query=False)
    for x in (b, s):
        x.collect()
    publish_ok(a, DEVICELIST, devicelist(1001), item_id='current',
               options=OPEN)
    publish_ok(a, BUNDLES + '1001', bundle('a1001'), item_id='current',
               options=OPEN)
    ev, = b.events(1, DEVICELIST)
    assert device_ids(check_event(ev, a.bare, b.jid, DEVICELIST)[1]) == \
        [1001]
    s.no_events(what='stranger without subscription')

    got = items_of(get_items(s, DEVICELIST, to=a.bare), DEVICELIST)
    assert [(i, device_ids(p)) for i, p in got] == [('current', [1001])]
    r = get_items(s, BUNDLES + '1001', to=a.bare, max_items=1)
    (iid, bnd), = items_of(r, BUNDLES + '1001')
    assert iid == 'current' and bnd.tag == AX('bundle'), tostr(r)
    assert ET.tostring(bnd) == ET.tostring(ET.fromstring(bundle('a1001')))
    assert len(bnd.findall('%s/%s' % (AX('prekeys'),
                                      AX('preKeyPublic')))) == 100

    r = subscribe(s, DEVICELIST, to=a.bare)
    assert r.get('type') == 'result', tostr(r)
    s.collect()     # perhaps the last item (on subscription)
    publish_ok(a, DEVICELIST, devicelist(1001, 2002), item_id='current',
               options=OPEN)
    for x in (b, s):
        ev, = x.events(1, DEVICELIST)
        assert device_ids(check_event(ev, a.bare, x.jid, DEVICELIST)[1]) \
            == [1001, 2002]
    got = items_of(get_items(s, DEVICELIST, to=a.bare), DEVICELIST)
    assert [(i, device_ids(p)) for i, p in got] == [('current',
                                                     [1001, 2002])]


def test_omemo_precondition_then_configure(server, pep):
    """A device list published before without options (access model
    presence): publishing with access_model=open fails with
    precondition-not-met, the client configures the node (pubsub#owner)
    and publishes again: now a stranger reads it."""
    (ua, pa), (us, ps) = accounts(server, 2)
    a, s = pep(ua, pa), pep(us, ps)
    publish_ok(a, DEVICELIST, devicelist(7), item_id='current')
    assert_pubsub_error(get_items(s, DEVICELIST, to=a.bare), 'auth',
                        'not-authorized', 'presence-subscription-required')
    r = publish(a, DEVICELIST, devicelist(7, 8), item_id='current',
                options=OPEN)
    assert_pubsub_error(r, 'cancel', 'conflict', 'precondition-not-met')
    got = items_of(get_items(a, DEVICELIST), DEVICELIST)
    assert [device_ids(p) for _, p in got] == [[7]]
    r = set_config(a, DEVICELIST, {'pubsub#access_model': 'open'})
    assert r.get('type') == 'result', tostr(r)
    assert get_config(a, DEVICELIST).get('pubsub#access_model') == ['open']
    publish_ok(a, DEVICELIST, devicelist(7, 8), item_id='current',
               options=OPEN)
    got = items_of(get_items(s, DEVICELIST, to=a.bare), DEVICELIST)
    assert [(i, device_ids(p)) for i, p in got] == [('current', [7, 8])]
