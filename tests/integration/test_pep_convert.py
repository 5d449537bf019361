"""test_pep_convert.py -- the server's conversions between PEP and older
storage: XEP-0398 (User Avatar to vCard-Based Avatars Conversion: a
XEP-0084 avatar published on PEP shows in the vcard-temp PHOTO, a vCard
PHOTO is published as XEP-0084 data and metadata, and available presence
carries the vcard-temp:x:update photo hash), XEP-0411 (Bookmarks
Conversion: XEP-0049 private storage:bookmarks and the PEP node
'storage:bookmarks' of XEP-0048 are one) and XEP-0402's compatibility
with private storage (urn:xmpp:bookmarks:1#compat: one item per room),
with the converted bookmarks kept private."""

import base64
import hashlib

from ext_helpers import disco_info, features, result_child
from pep_helpers import (BOOKMARK_OPTIONS, accounts, befriend, check_event,
                         event_items, get_items, is_event, items_of, new_caps,
                         pep, png, publish_ok, retract)
from xmpp_raw import q, tostr

assert pep  # a fixture, used by name

NS_AVATAR_DATA = 'urn:xmpp:avatar:data'
NS_AVATAR_META = 'urn:xmpp:avatar:metadata'
NS_VCARD = 'vcard-temp'
NS_VCARD_UPDATE = 'vcard-temp:x:update'
NS_PRIVATE = 'jabber:iq:private'
NS_LEGACY = 'storage:bookmarks'
NS_BOOKMARKS = 'urn:xmpp:bookmarks:1'


def V(name):
    return q(NS_VCARD, name)


def L(name):
    return q(NS_LEGACY, name)


def B(name):
    return q(NS_BOOKMARKS, name)


def get_vcard(c, to=None):
    r = c.query('get', "<vCard xmlns='%s'/>" % NS_VCARD, to=to)
    return result_child(r, NS_VCARD, 'vCard')


def set_vcard(c, inner):
    r = c.query('set', "<vCard xmlns='%s'>%s</vCard>" % (NS_VCARD, inner))
    assert r.get('type') == 'result', tostr(r)


def photo_of(vcard):
    """(TYPE, decoded BINVAL) of a vCard's PHOTO."""
    ph = vcard.find(V('PHOTO'))
    assert ph is not None, tostr(vcard)
    b64 = ''.join((ph.findtext(V('BINVAL')) or '').split())
    return ph.findtext(V('TYPE')), base64.b64decode(b64)


def publish_avatar(c, image, mime='image/png', extra_info=''):
    """XEP-0084 4.1 and 4.2: data, then metadata. Returns the id."""
    aid = hashlib.sha1(image).hexdigest()
    publish_ok(c, NS_AVATAR_DATA, "<data xmlns='%s'>%s</data>" % (
        NS_AVATAR_DATA, base64.b64encode(image).decode()), item_id=aid)
    publish_ok(c, NS_AVATAR_META, "<metadata xmlns='%s'>%s<info id='%s' "
               "type='%s' bytes='%d' width='4' height='4'/></metadata>" % (
                   NS_AVATAR_META, extra_info, aid, mime, len(image)),
               item_id=aid)
    return aid


def test_conversion_features(server, pep):
    """XEP-0398 2, XEP-0411 2, XEP-0402 (compat): advertised on the
    account."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    fs = features(disco_info(a, to=a.bare))
    for f in ('urn:xmpp:pep-vcard-conversion:0',
              'urn:xmpp:bookmarks-conversion:0',
              'urn:xmpp:bookmarks:1#compat'):
        assert f in fs, '%s not in %s' % (f, fs)


# -- XEP-0398 -----------------------------------------------------------------

def test_pep_avatar_to_vcard(server, pep):
    """XEP-0398 3.1: publishing metadata puts the data into the vCard
    PHOTO (the info without a url is the one; the rest of the vCard
    stays); anyone reading the vCard sees it."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    a, b = pep(ua, pa), pep(ub, pb)
    set_vcard(a, '<FN>Romeo Montague</FN><NICKNAME>romeo</NICKNAME>')
    image = png(4, 4)
    publish_avatar(a, image, extra_info=(
        "<info id='0123456789abcdef0123456789abcdef01234567' "
        "type='image/gif' bytes='1000' url='https://example.org/a.gif'/>"))
    for reader, to in ((a, None), (b, a.bare)):
        v = get_vcard(reader, to)
        assert photo_of(v) == ('image/png', image), tostr(v)
        assert v.findtext(V('FN')) == 'Romeo Montague', tostr(v)
        assert v.findtext(V('NICKNAME')) == 'romeo', tostr(v)


def test_pep_avatar_replaced_in_vcard(server, pep):
    """A second avatar replaces the first in the vCard."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_avatar(a, png(1, 1, (1, 2, 3)))
    second = png(2, 2, (9, 9, 9))
    publish_avatar(a, second)
    assert photo_of(get_vcard(a)) == ('image/png', second)


def test_vcard_photo_to_pep(server, pep):
    """XEP-0398 3.2: a vCard with a PHOTO (BINVAL wrapped over lines, as
    vCards carry it) publishes the data item (id: SHA-1 of the image)
    and a metadata item with one info of the vCard's TYPE."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    image = png(5, 3)
    aid = hashlib.sha1(image).hexdigest()
    set_vcard(a, '<FN>Juliet</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>%s'
                 '</BINVAL></PHOTO>' % base64.encodebytes(image).decode())
    (iid, data), = items_of(get_items(a, NS_AVATAR_DATA), NS_AVATAR_DATA)
    assert iid == aid and data.tag == q(NS_AVATAR_DATA, 'data'), tostr(data)
    assert base64.b64decode(''.join(data.text.split())) == image
    (iid, meta), = items_of(get_items(a, NS_AVATAR_META), NS_AVATAR_META)
    assert iid == aid and meta.tag == q(NS_AVATAR_META, 'metadata'), \
        tostr(meta)
    infos = meta.findall(q(NS_AVATAR_META, 'info'))
    assert [(i.get('id'), i.get('type'), i.get('bytes')) for i in infos] \
        == [(aid, 'image/png', str(len(image)))], tostr(meta)


def test_vcard_photo_notifies_metadata(server, cafile, pep):
    """XEP-0398 3.2: after the conversion, subscribers of the metadata
    node (a contact with urn:xmpp:avatar:metadata+notify) are notified."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(NS_AVATAR_META))
    b.collect()
    image = png(2, 5)
    aid = hashlib.sha1(image).hexdigest()
    set_vcard(a, '<PHOTO><TYPE>image/png</TYPE><BINVAL>%s</BINVAL></PHOTO>'
              % base64.b64encode(image).decode())
    ev, = b.events(1, NS_AVATAR_META)
    iid, meta = check_event(ev, a.bare, b.jid, NS_AVATAR_META)
    assert iid == aid, tostr(ev)
    assert meta.find(q(NS_AVATAR_META, 'info')).get('id') == aid


def test_presence_carries_photo_hash(server, cafile, pep):
    """XEP-0398 4: available presence without vcard-temp:x:update gets
    the photo hash; an empty <x/> is filled; <photo/> empty is left
    alone."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    b = pep(ub, pb)
    a = pep(ua, pa)
    aid = publish_avatar(a, png(3, 3, (50, 60, 70)))
    b.collect()

    def broadcast(extra):
        a.presence(extra=extra)
        a.sync()
        got = [e for e in b.collect() if e.tag == q('jabber:client',
                                                      'presence')
               and e.get('from') == a.jid]
        assert len(got) == 1, [tostr(e) for e in got]
        xs = got[0].findall(q(NS_VCARD_UPDATE, 'x'))
        assert len(xs) == 1, tostr(got[0])
        ph = xs[0].findall(q(NS_VCARD_UPDATE, 'photo'))
        assert len(ph) == 1, tostr(got[0])
        return ph[0].text or ''

    assert broadcast('') == aid
    assert broadcast("<x xmlns='%s'/>" % NS_VCARD_UPDATE) == aid
    assert broadcast("<x xmlns='%s'><photo/></x>" % NS_VCARD_UPDATE) == ''


def test_probe_answer_carries_new_photo_hash(server, cafile, pep):
    """XEP-0398 4: a resource that went online before the avatar existed
    is answered to probes with its last presence, which now carries the
    new hash (and a later avatar's hash replaces it)."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    aid = publish_avatar(a, png(2, 3, (1, 1, 1)))

    def probe_answer():
        b = pep(ub, pb)
        got = [e for e in b.initial + b.collect()
               if e.tag == q('jabber:client', 'presence') and
               e.get('from') == a.jid]
        b.close()
        assert len(got) == 1, [tostr(e) for e in got]
        return got[0].findtext('%s/%s' % (q(NS_VCARD_UPDATE, 'x'),
                                          q(NS_VCARD_UPDATE, 'photo')))

    assert probe_answer() == aid
    aid2 = publish_avatar(a, png(3, 2, (2, 2, 2)))
    assert aid2 != aid
    assert probe_answer() == aid2


# -- bookmarks ----------------------------------------------------------------

LEGACY = ("<storage xmlns='storage:bookmarks'>"
          "<conference jid='council@conference.underhill.org' "
          "name='Council of Oberon' autojoin='true'><nick>Puck</nick>"
          "<password>titania</password></conference>"
          "<conference jid='orchard@conference.shakespeare.lit' "
          "name='The Orchard'/></storage>")
ROOM1 = 'council@conference.underhill.org'
ROOM2 = 'orchard@conference.shakespeare.lit'


def private_set(c, inner):
    r = c.query('set', "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner))
    assert r.get('type') == 'result', tostr(r)


def private_bookmarks(c):
    """{jid: conference element} of the private storage:bookmarks."""
    r = c.query('get', "<query xmlns='%s'><storage xmlns='%s'/></query>"
                % (NS_PRIVATE, NS_LEGACY))
    st = result_child(r, NS_PRIVATE, 'query').find(L('storage'))
    assert st is not None, tostr(r)
    return {cf.get('jid'): cf for cf in st.findall(L('conference'))}


def truthy(v):
    return v in ('true', '1')


def test_private_bookmarks_to_bookmarks2(server, pep):
    """XEP-0402 compat: a XEP-0049 storage:bookmarks set shows on
    urn:xmpp:bookmarks:1 as one item per room (id: room JID, the
    conference without jid)."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    private_set(a, LEGACY)
    got = dict(items_of(get_items(a, NS_BOOKMARKS), NS_BOOKMARKS))
    assert sorted(got) == [ROOM1, ROOM2], got
    c1, c2 = got[ROOM1], got[ROOM2]
    assert c1.tag == B('conference') and c1.get('name') == \
        'Council of Oberon' and truthy(c1.get('autojoin')), tostr(c1)
    assert c1.findtext(B('nick')) == 'Puck', tostr(c1)
    assert c1.findtext(B('password')) == 'titania', tostr(c1)
    assert c1.get('jid') is None, tostr(c1)
    assert c2.get('name') == 'The Orchard' and \
        not truthy(c2.get('autojoin')), tostr(c2)
    assert c2.find(B('nick')) is None, tostr(c2)


def test_private_bookmarks_to_legacy_pep_node(server, pep):
    """XEP-0411 3: the same set shows on the PEP node storage:bookmarks
    as one item holding the <storage/>."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    private_set(a, LEGACY)
    got = items_of(get_items(a, NS_LEGACY), NS_LEGACY)
    assert len(got) == 1, got
    st = got[0][1]
    assert st.tag == L('storage'), tostr(st)
    confs = {cf.get('jid'): cf for cf in st.findall(L('conference'))}
    assert sorted(confs) == [ROOM1, ROOM2], tostr(st)
    assert confs[ROOM1].findtext(L('nick')) == 'Puck'
    assert truthy(confs[ROOM1].get('autojoin'))


def test_private_bookmarks_replaced(server, pep):
    """A later private set that drops a room removes its
    urn:xmpp:bookmarks:1 item and changes the other."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    private_set(a, LEGACY)
    private_set(a, "<storage xmlns='storage:bookmarks'><conference jid='%s' "
                   "name='Renamed' autojoin='false'/></storage>" % ROOM2)
    got = dict(items_of(get_items(a, NS_BOOKMARKS), NS_BOOKMARKS))
    assert sorted(got) == [ROOM2], got
    assert got[ROOM2].get('name') == 'Renamed'
    (iid, st), = items_of(get_items(a, NS_LEGACY), NS_LEGACY)
    assert [cf.get('jid') for cf in st.findall(L('conference'))] == [ROOM2]


def test_bookmarks2_to_private(server, pep):
    """XEP-0402 compat, the other way: items published on
    urn:xmpp:bookmarks:1 show in the private storage:bookmarks with the
    item id as jid; a retracted one goes."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_ok(a, NS_BOOKMARKS, "<conference xmlns='%s' name='Council' "
               "autojoin='true'><nick>Puck</nick></conference>"
               % NS_BOOKMARKS, item_id=ROOM1, options=BOOKMARK_OPTIONS)
    publish_ok(a, NS_BOOKMARKS, "<conference xmlns='%s' name='Orchard'/>"
               % NS_BOOKMARKS, item_id=ROOM2, options=BOOKMARK_OPTIONS)
    got = private_bookmarks(a)
    assert sorted(got) == [ROOM1, ROOM2], {k: tostr(v) for k, v in
                                           got.items()}
    assert got[ROOM1].get('name') == 'Council' and \
        truthy(got[ROOM1].get('autojoin')), tostr(got[ROOM1])
    assert got[ROOM1].findtext(L('nick')) == 'Puck', tostr(got[ROOM1])
    assert got[ROOM2].get('name') == 'Orchard'
    assert retract(a, NS_BOOKMARKS, ROOM1).get('type') == 'result'
    assert sorted(private_bookmarks(a)) == [ROOM2]


def test_legacy_pep_node_to_private(server, pep):
    """XEP-0411 3: a <storage/> published on the PEP node
    storage:bookmarks (XEP-0048 3.3) shows in private storage."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa)
    publish_ok(a, NS_LEGACY, LEGACY, item_id='current',
               options={'pubsub#persist_items': 'true',
                        'pubsub#access_model': 'whitelist'})
    got = private_bookmarks(a)
    assert sorted(got) == [ROOM1, ROOM2]
    assert got[ROOM1].findtext(L('nick')) == 'Puck'


def test_private_bookmarks_notify_legacy_node(server, pep):
    """XEP-0411 3: a private-storage change notifies the subscribers of
    the storage:bookmarks node (the account's other resource with
    storage:bookmarks+notify)."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa, resource='legacy-client')
    a2 = pep(ua, pa, resource='modern', caps=new_caps(NS_LEGACY))
    a2.collect()
    private_set(a, LEGACY)
    evs = [e for e in a2.collect(1.5) if is_event(e, NS_LEGACY)]
    assert evs, 'no storage:bookmarks notification'
    # (how many is not said; the last one has the whole new list)
    _, st = check_event(evs[-1], a.bare, a2.jid, NS_LEGACY)
    assert sorted(cf.get('jid') for cf in st.findall(L('conference'))) == \
        [ROOM1, ROOM2], tostr(evs[-1])


def test_private_bookmarks_notify_bookmarks2(server, pep):
    """XEP-0402 compat: a private-storage change notifies the
    urn:xmpp:bookmarks:1+notify resources of each new room; a change of
    one room notifies only that room and the removal of one a retract."""
    (ua, pa), = accounts(server, 1)
    a = pep(ua, pa, resource='legacy-client')
    a2 = pep(ua, pa, resource='modern', caps=new_caps(NS_BOOKMARKS))
    a2.collect()
    private_set(a, LEGACY)
    published = []
    for ev in a2.collect(1.5):
        if is_event(ev, NS_BOOKMARKS):
            assert ev.get('from') == a.bare and ev.get('to') == a2.jid
            pub, ret = event_items(ev, NS_BOOKMARKS)
            assert not ret, tostr(ev)
            published += [i for i, _ in pub]
    assert sorted(published) == [ROOM1, ROOM2]
    private_set(a, "<storage xmlns='storage:bookmarks'><conference jid='%s' "
                   "name='Renamed'/></storage>" % ROOM2)
    published, retracted = [], []
    for ev in a2.collect(1.5):
        if is_event(ev, NS_BOOKMARKS):
            pub, ret = event_items(ev, NS_BOOKMARKS)
            published += [i for i, _ in pub]
            retracted += ret
    assert (published, retracted) == ([ROOM2], [ROOM1])


def test_converted_bookmarks_stay_private(server, cafile, pep):
    """XEP-0411 5: bookmarks copied from private storage are readable by
    the owner only; a contact interested in both nodes gets no
    notification and no items."""
    (ua, pa), (ub, pb) = accounts(server, 2)
    befriend(server, cafile, (ua, pa), (ub, pb), 'both')
    a = pep(ua, pa)
    b = pep(ub, pb, caps=new_caps(NS_LEGACY, NS_BOOKMARKS))
    b.collect()
    private_set(a, LEGACY)
    b.no_events(what='converted bookmarks', grace=1.0)
    for node in (NS_LEGACY, NS_BOOKMARKS):
        r = get_items(b, node, to=a.bare)
        assert r.get('type') == 'error', tostr(r)
