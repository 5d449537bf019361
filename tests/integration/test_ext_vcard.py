"""test_ext_vcard.py -- XEP-0054 vcard-temp (mod_vcard): one's own vCard
(set, get, replace, delete; empty <vCard/> when there is none), other
accounts' vCards (readable by anyone; service-unavailable when there is
none; set forbidden), the size limit (not-acceptable), and a real client
(slixmpp's XEP-0054 plugin)."""

import pytest

import xmpp_slix
from ext_helpers import (MINIMAL_MODULES, assert_error, disco_info,
                         features, login, result_child, start_with_modules)
from xmpp_raw import q, tostr
from xmpp_slix import run

NS_VCARD = 'vcard-temp'
EMPTY = "<vCard xmlns='%s'/>" % NS_VCARD
CARD = ("<vCard xmlns='vcard-temp'><FN>Peter Saint-Andre</FN>"
        "<N><FAMILY>Saint-Andre</FAMILY><GIVEN>Peter</GIVEN><MIDDLE/></N>"
        "<NICKNAME>stpeter</NICKNAME>"
        "<TEL><WORK/><VOICE/><NUMBER>303-308-3282</NUMBER></TEL>"
        "<DESC>a &lt;b&gt; &amp; \u00e9 \u263a</DESC></vCard>")


def V(name):
    return q(NS_VCARD, name)


def get_card(c, to=None):
    r = c.query('get', EMPTY, to=to)
    v = result_child(r, NS_VCARD, 'vCard')
    return r, v


def set_card(c, card=CARD, to=None):
    return c.query('set', card, to=to)


def assert_is_card(v):
    assert v.findtext(V('FN')) == 'Peter Saint-Andre', tostr(v)
    assert v.findtext('%s/%s' % (V('N'), V('GIVEN'))) == 'Peter', tostr(v)
    assert v.find('%s/%s' % (V('N'), V('MIDDLE'))) is not None, tostr(v)
    assert v.findtext('%s/%s' % (V('TEL'), V('NUMBER'))) == '303-308-3282'
    assert v.findtext(V('DESC')) == 'a <b> & \u00e9 \u263a', tostr(v)


def test_own_vcard_empty_when_none(server, login):
    a = login(server)
    r, v = get_card(a)
    assert len(v) == 0 and not (v.text or '').strip(), tostr(r)


def test_set_then_get_own(server, login):
    a = login(server)
    r = set_card(a)
    assert r.get('type') == 'result' and len(r) == 0, tostr(r)
    assert_is_card(get_card(a)[1])
    # Addressed to one's own bare JID: the same vCard.
    r, v = get_card(a, to=a.bare)
    assert r.get('from') == a.bare
    assert_is_card(v)
    # And from another resource of the account.
    a2 = login(server, a.user, a.pw, resource='other')
    assert_is_card(get_card(a2)[1])


def test_set_to_own_bare_jid(server, login):
    a = login(server)
    assert set_card(a, to=a.bare).get('type') == 'result'
    assert_is_card(get_card(a)[1])


def test_set_replaces_whole_vcard(server, login):
    a = login(server)
    set_card(a)
    r = set_card(a, "<vCard xmlns='vcard-temp'><NICKNAME>new</NICKNAME>"
                    "</vCard>")
    assert r.get('type') == 'result', tostr(r)
    v = get_card(a)[1]
    assert [c.tag for c in v] == [V('NICKNAME')], tostr(v)
    assert v.findtext(V('NICKNAME')) == 'new'


def test_empty_set_deletes(server, login):
    a, b = login(server), login(server)
    set_card(a)
    assert set_card(a, EMPTY).get('type') == 'result'
    assert len(get_card(a)[1]) == 0
    assert_error(b.query('get', EMPTY, to=a.bare), 'cancel',
                 'service-unavailable')


def test_other_users_vcard(server, login):
    a, b = login(server), login(server)
    set_card(a)
    r, v = get_card(b, to=a.bare)
    assert r.get('from') == a.bare and r.get('to') == b.jid, tostr(r)
    assert_is_card(v)


def test_other_without_vcard_or_unknown(server, login):
    # XEP-0054 3.3: no vCard, or no such user: a stanza error.
    a, b = login(server), login(server)
    assert_error(b.query('get', EMPTY, to=a.bare), 'cancel',
                 'service-unavailable')
    assert_error(b.query('get', EMPTY, to='nobody-x@localhost'), 'cancel',
                 'service-unavailable')


def test_set_on_other_forbidden(server, login):
    a, b = login(server), login(server)
    set_card(a)
    r = set_card(b, "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>",
                 to=a.bare)
    assert_error(r, 'auth', 'forbidden')
    assert_error(set_card(b, EMPTY, to=a.bare), 'auth', 'forbidden')
    assert_is_card(get_card(a)[1])


def test_too_large_refused(server, login):
    a = login(server)
    set_card(a)
    big = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ('x' * 70000)
    r = set_card(a, big)
    assert_error(r, 'modify', 'not-acceptable')
    assert_is_card(get_card(a)[1])
    # Just under the default limit (65536 bytes serialized) is fine.
    fits = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % (
        'y' * 65000)
    assert set_card(a, fits).get('type') == 'result'
    assert len(get_card(a)[1].findtext(V('DESC'))) == 65000


def test_max_size_option(make_server, login):
    s = start_with_modules(make_server, {'disco': None,
                                         'vcard': {'max_size': 1024}})
    a = login(s)
    card = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>"
    assert_error(set_card(a, card % ('z' * 1000)), 'modify',
                 'not-acceptable')
    assert set_card(a, card % ('z' * 900)).get('type') == 'result'


def test_wrong_element_unsupported(server, login):
    a = login(server)
    r = a.query('get', "<vcard xmlns='vcard-temp'/>")
    assert_error(r, 'cancel', 'service-unavailable')


def test_feature_in_disco(server, login):
    a = login(server)
    assert NS_VCARD in features(disco_info(a))
    assert NS_VCARD in features(disco_info(a, to=a.bare))


def test_absent_without_module(make_server, login):
    s = start_with_modules(make_server, MINIMAL_MODULES)
    a = login(s)
    assert NS_VCARD not in features(disco_info(a))
    assert_error(a.query('get', EMPTY), 'cancel', 'service-unavailable')
    assert_error(set_card(a), 'cancel', 'service-unavailable')


@pytest.mark.slix
def test_slixmpp_publish_and_fetch(server):
    ua, pa = server.new_user('vs')
    ub, pb = server.new_user('vs')

    async def go():
        a = await xmpp_slix.login(server, ua, pa, resource='a')
        b = await xmpp_slix.login(server, ub, pb, resource='b')
        try:
            for c in (a, b):
                c.register_plugin('xep_0054')
            card = a['xep_0054'].make_vcard()
            card['FN'] = 'Slix Person'
            card['NICKNAME'] = 'slix'
            await a['xep_0054'].publish_vcard(card, timeout=5)
            got = await b['xep_0054'].get_vcard(server.jid(ua), cached=False,
                                                 local=False, timeout=5)
            return got['vcard_temp']['FN'], got['vcard_temp']['NICKNAME']
        finally:
            await a.close()
            await b.close()
    assert run(go()) == ('Slix Person', ['slix'])  # slixmpp: a list
