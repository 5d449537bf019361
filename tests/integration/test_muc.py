"""test_muc.py -- multi-user chat (XEP-0045) with raw clients: discovery,
creating instant rooms (201, locked until configured), the order of what
an entering occupant receives (others' presence, self-presence with 110,
history with delay, the subject last), the entry checks (nick conflict,
members-only, password, ban, max occupants, locked room), groupchat
reflection with occupant ids (XEP-0421), private messages, nick changes
(303), exits, subject changes, kicks (307) and bans (301) with the
permission checks, voice in moderated rooms, affiliation lists, the
configuration form, mediated invitations, destruction with an alternate
venue, transient rooms vanishing, persistent rooms surviving a restart,
self-ping (XEP-0410), and a 200-occupant room receiving a burst."""

import time

from muc_helpers import (MUC, NS_DATA, NS_DELAY, NS_MUC_ADMIN, NS_MUC_OWNER,
                         NS_MUC_USER, NS_OCC_ID, admin, configure,
                         create_instant, error_cond, groupchat, is_message,
                         is_presence, item, join, join_error, join_ok,
                         new_room, statuses, users, wait_message,
                         wait_presence)
from xmpp_raw import NS_CLIENT, RawClient, q, tostr

NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
NS_PING = 'urn:xmpp:ping'


def features(el):
    qq = el.find(q(NS_DISCO_INFO, 'query'))
    return {f.get('var') for f in qq.findall(q(NS_DISCO_INFO, 'feature'))}


# -- discovery ---------------------------------------------------------------

def test_service_listed_and_described(users):
    a = users()
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_ITEMS,
                  to='localhost')
    jids = [i.get('jid') for i in res.iter(q(NS_DISCO_ITEMS, 'item'))]
    assert MUC in jids
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=MUC)
    ident = res.find(q(NS_DISCO_INFO, 'query')).find(
        q(NS_DISCO_INFO, 'identity'))
    assert ident.get('category') == 'conference'
    assert 'http://jabber.org/protocol/muc' in features(res)


def test_room_info_and_public_list(users):
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    f = features(res)
    for var in ('http://jabber.org/protocol/muc', 'muc_public',
                'muc_temporary', 'muc_open', 'muc_unmoderated',
                'muc_semianonymous', 'muc_unsecured', NS_OCC_ID):
        assert var in f, var
    form = res.find(q(NS_DISCO_INFO, 'query')).find(q(NS_DATA, 'x'))
    vals = {fl.get('var'): fl.findtext(q(NS_DATA, 'value'))
            for fl in form.findall(q(NS_DATA, 'field'))}
    assert vals['FORM_TYPE'] == 'http://jabber.org/protocol/muc#roominfo'
    assert vals['muc#roominfo_occupants'] == '1'
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to=MUC)
    assert room in [i.get('jid') for i in res.iter(q(NS_DISCO_ITEMS,
                                                     'item'))]


# -- creating and entering ----------------------------------------------------

def test_create_locked_until_configured(users):
    a, b = users(), users()
    room = new_room()
    got = join_ok(a, room, 'owner')
    selfp = got[0]
    assert statuses(selfp) >= {110, 201}
    assert item(selfp).get('affiliation') == 'owner'
    assert item(selfp).get('role') == 'moderator'
    # locked: nobody else may enter yet
    assert join_error(b, room, 'bee') == 'item-not-found'
    # a reserved room: the owner asks for the form first
    res = a.query('get', "<query xmlns='%s'/>" % NS_MUC_OWNER, to=room)
    form = res.find(q(NS_MUC_OWNER, 'query')).find(q(NS_DATA, 'x'))
    vars_ = {f.get('var') for f in form.findall(q(NS_DATA, 'field'))}
    assert {'muc#roomconfig_roomname', 'muc#roomconfig_persistentroom',
            'muc#roomconfig_membersonly', 'muc#roomconfig_moderatedroom',
            'muc#roomconfig_passwordprotectedroom',
            'muc#roomconfig_roomsecret', 'muc#roomconfig_maxusers',
            'muc#roomconfig_whois', 'muc#roomconfig_allowinvites',
            'muc#roomconfig_changesubject',
            'muc#roomconfig_allowpm'} <= vars_
    res = configure(a, room, {'muc#roomconfig_roomname': 'Tea'})
    assert res.get('type') == 'result'
    join_ok(b, room, 'bee')


def test_entering_order_and_presence(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    got = join_ok(b, room, 'bee')
    # others first, then self (110), then the subject last
    assert got[0].get('from') == room + '/owner'
    assert 110 not in statuses(got[0])
    assert got[1].get('from') == room + '/bee'
    assert 110 in statuses(got[1])
    assert item(got[1]).get('affiliation') == 'none'
    assert item(got[1]).get('role') == 'participant'
    assert got[1].find(q(NS_OCC_ID, 'occupant-id')) is not None
    assert is_message(got[-1]) and got[-1].get('type') == 'groupchat'
    # semi-anonymous: the owner (moderator) sees b's real JID
    p = wait_presence(a, room + '/bee')
    assert item(p).get('jid') == b.jid


def test_nick_conflict_and_missing_nick(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    assert join_error(b, room, 'owner') == 'conflict'
    b.send("<presence to='%s'><x xmlns='http://jabber.org/protocol/muc'/>"
           "</presence>" % room)
    el = b.wait_for(lambda e: is_presence(e) and e.get('type') == 'error')
    assert error_cond(el) == 'jid-malformed'


def test_creation_can_be_turned_off(make_server, cafile):
    s = make_server(modules={'muc': {'create_rooms': 'false'}}).start()
    u, p = s.new_user()
    with RawClient(s.port, cafile=cafile) as a:
        a.login(u, p, resource='r')
        assert join_error(a, new_room(), 'owner') == 'not-allowed'


# -- messages ------------------------------------------------------------------

def test_groupchat_reflected_to_everyone(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    join_ok(c, room, 'sea')
    groupchat(b, room, 'hello all', id_='m1')
    for cl in (a, b, c):
        m = wait_message(cl, 'hello all')
        assert m.get('from') == room + '/bee'
        assert m.get('type') == 'groupchat'
        assert m.get('id') == 'm1'
        assert m.find(q(NS_OCC_ID, 'occupant-id')) is not None
    # the same occupant id each time, different per occupant
    groupchat(b, room, 'again')
    groupchat(c, room, 'from sea')
    m1 = wait_message(a, 'again')
    m2 = wait_message(a, 'from sea')
    id1 = m1.find(q(NS_OCC_ID, 'occupant-id')).get('id')
    id2 = m2.find(q(NS_OCC_ID, 'occupant-id')).get('id')
    assert id1 != id2


def test_groupchat_from_non_occupant_refused(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    groupchat(b, room, 'sneaky')
    el = b.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    assert error_cond(el) == 'not-acceptable'
    a.expect_nothing(0.3)


def test_history_with_delay_and_limits(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    for i in range(3):
        groupchat(a, room, 'h%d' % i)
        wait_message(a, 'h%d' % i)
    got = join_ok(b, room, 'bee')
    hist = [e for e in got if is_message(e) and
            e.find(q(NS_CLIENT, 'body')) is not None]
    assert [h.findtext(q(NS_CLIENT, 'body')) for h in hist] == \
        ['h0', 'h1', 'h2']
    for h in hist:
        d = h.find(q(NS_DELAY, 'delay'))
        assert d is not None and d.get('from') == room
        assert h.get('from') == room + '/owner'
    got = join_ok(c, room, 'sea', history={'maxstanzas': '1'})
    hist = [e for e in got if is_message(e) and
            e.find(q(NS_CLIENT, 'body')) is not None]
    assert [h.findtext(q(NS_CLIENT, 'body')) for h in hist] == ['h2']


def test_history_zero_and_subject_last(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    a.send("<message to='%s' type='groupchat'><subject>Topic!</subject>"
           "</message>" % room)
    m = a.wait_for(lambda e: is_message(e) and
                   e.find(q(NS_CLIENT, 'subject')) is not None)
    assert m.findtext(q(NS_CLIENT, 'subject')) == 'Topic!'
    groupchat(a, room, 'before')
    wait_message(a, 'before')
    got = join_ok(b, room, 'bee', history={'maxchars': '0'})
    assert not [e for e in got if e.find(q(NS_CLIENT, 'body')) is not None]
    assert got[-1].findtext(q(NS_CLIENT, 'subject')) == 'Topic!'
    assert got[-1].get('from') == room + '/owner'


def test_subject_change_permissions(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_changesubject': '0'})
    join_ok(b, room, 'bee')
    b.send("<message to='%s' type='groupchat'><subject>mine</subject>"
           "</message>" % room)
    el = b.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    assert error_cond(el) == 'forbidden'


def test_private_messages(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    b.send("<message to='%s/owner' type='chat'><body>psst</body></message>"
           % room)
    m = wait_message(a, 'psst')
    assert m.get('from') == room + '/bee'
    assert m.get('to') == a.jid
    assert m.find(q(NS_MUC_USER, 'x')) is not None
    b.send("<message to='%s/nobody' type='chat'><body>x</body></message>"
           % room)
    el = b.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    assert error_cond(el) == 'item-not-found'
    # PMs can be turned off
    configure(a, room, {'muc#roomconfig_allowpm': 'none'})
    b.send("<message to='%s/owner' type='chat'><body>no</body></message>"
           % room)
    el = b.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    assert error_cond(el) == 'not-allowed'


def test_nick_change_and_exit(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    b.send("<presence to='%s/bumble'/>" % room)
    old = wait_presence(b, room + '/bee')
    assert old.get('type') == 'unavailable'
    assert statuses(old) >= {303, 110}
    assert item(old).get('nick') == 'bumble'
    new = wait_presence(b, room + '/bumble')
    assert 110 in statuses(new)
    seen = wait_presence(a, room + '/bee', lambda e: 303 in statuses(e))
    assert 110 not in statuses(seen)
    wait_presence(a, room + '/bumble')
    # exit
    b.send("<presence to='%s/bumble' type='unavailable'>"
           "<status>bye</status></presence>" % room)
    me = wait_presence(b, room + '/bumble')
    assert me.get('type') == 'unavailable' and 110 in statuses(me)
    seen = wait_presence(a, room + '/bumble')
    assert seen.get('type') == 'unavailable'
    assert seen.findtext(q(NS_CLIENT, 'status')) == 'bye'


def test_transient_room_vanishes_when_empty(users):
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    a.send("<presence to='%s/owner' type='unavailable'/>" % room)
    wait_presence(a, room + '/owner')
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    assert res.get('type') == 'error'
    assert error_cond(res) == 'item-not-found'
    # entering again creates it anew
    got = join_ok(a, room, 'owner')
    assert 201 in statuses(got[0])


def test_logout_removes_occupant(users, server, cafile):
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    u, p = server.new_user()
    b = RawClient(server.port, cafile=cafile)
    b.login(u, p, resource='r')
    join_ok(b, room, 'bee')
    b.close()
    p = wait_presence(a, room + '/bee', lambda e: e.get('type') ==
                      'unavailable', timeout=5)
    assert p.get('type') == 'unavailable'


# -- entry checks ----------------------------------------------------------------

def test_password_protected(users):
    a, b = users(), users()
    room = new_room()
    join_ok(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_passwordprotectedroom': '1',
                        'muc#roomconfig_roomsecret': 's3cret'})
    assert join_error(b, room, 'bee') == 'not-authorized'
    assert join_error(b, room, 'bee', password='wrong') == 'not-authorized'
    join_ok(b, room, 'bee', password='s3cret')


def test_password_protected_needs_password(users):
    a = users()
    room = new_room()
    join_ok(a, room, 'owner')
    res = configure(a, room, {'muc#roomconfig_passwordprotectedroom': '1'})
    assert res.get('type') == 'error'
    assert error_cond(res) == 'not-acceptable'


def test_members_only(users):
    a, b = users(), users()
    room = new_room()
    join_ok(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_membersonly': '1'})
    assert join_error(b, room, 'bee') == 'registration-required'
    res = admin(a, room, "<item affiliation='member' jid='%s'/>"
                % b.jid.split('/')[0])
    assert res.get('type') == 'result', tostr(res)
    got = join_ok(b, room, 'bee')
    selfp = [e for e in got if 110 in statuses(e)][0]
    assert item(selfp).get('affiliation') == 'member'
    res = admin(a, room, "<item affiliation='member'/>", type_='get')
    jids = [i.get('jid') for i in res.iter(q(NS_MUC_ADMIN, 'item'))]
    assert jids == [b.jid.split('/')[0]]
    # losing membership removes the occupant (321)
    admin(a, room, "<item affiliation='none' jid='%s'/>"
          % b.jid.split('/')[0])
    p = wait_presence(b, room + '/bee')
    assert p.get('type') == 'unavailable' and 321 in statuses(p)


def test_max_users(users):
    a, b, c = users(), users(), users()
    room = new_room()
    join_ok(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_maxusers': '2'})
    join_ok(b, room, 'bee')
    assert join_error(c, room, 'sea') == 'service-unavailable'


# -- moderation ----------------------------------------------------------------

def test_kick(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    join_ok(c, room, 'sea')
    # a participant may not kick
    res = admin(c, room, "<item nick='bee' role='none'/>")
    assert error_cond(res) == 'forbidden'
    res = admin(a, room, "<item nick='bee' role='none'><reason>out"
                "</reason></item>")
    assert res.get('type') == 'result'
    p = wait_presence(b, room + '/bee')
    assert p.get('type') == 'unavailable'
    assert statuses(p) >= {307, 110}
    assert item(p).findtext(q(NS_MUC_USER, 'reason')) == 'out'
    p = wait_presence(c, room + '/bee', lambda e: e.get('type') ==
                      'unavailable')
    assert 307 in statuses(p) and 110 not in statuses(p)
    # kicked, not banned: may come back
    join_ok(b, room, 'bee')
    # nobody kicks the owner
    admin(a, room, "<item nick='sea' role='moderator'/>")
    res = admin(c, room, "<item nick='owner' role='none'/>")
    assert error_cond(res) == 'not-allowed'


def test_ban(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    join_ok(c, room, 'sea')
    bare = b.jid.split('/')[0]
    res = admin(c, room, "<item affiliation='outcast' jid='%s'/>" % bare)
    assert error_cond(res) == 'forbidden'
    res = admin(a, room, "<item affiliation='outcast' jid='%s'/>" % bare)
    assert res.get('type') == 'result'
    p = wait_presence(b, room + '/bee')
    assert statuses(p) >= {301, 110}
    assert join_error(b, room, 'bee') == 'forbidden'
    res = admin(a, room, "<item affiliation='outcast'/>", type_='get')
    assert [i.get('jid') for i in res.iter(q(NS_MUC_ADMIN, 'item'))] == \
        [bare]


def test_last_owner_cannot_leave_ownership(users):
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = admin(a, room, "<item affiliation='member' jid='%s'/>"
                % a.jid.split('/')[0])
    assert error_cond(res) == 'conflict'


def test_admin_powers(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    join_ok(c, room, 'sea')
    bare_b, bare_c = b.jid.split('/')[0], c.jid.split('/')[0]
    res = admin(a, room, "<item affiliation='admin' jid='%s'/>" % bare_b)
    assert res.get('type') == 'result'
    p = wait_presence(c, room + '/bee', lambda e: item(e).get(
        'affiliation') == 'admin')
    assert item(p).get('role') == 'moderator'
    # an admin may make members, not owners, and not touch the owner
    res = admin(b, room, "<item affiliation='member' jid='%s'/>" % bare_c)
    assert res.get('type') == 'result'
    res = admin(b, room, "<item affiliation='owner' jid='%s'/>" % bare_c)
    assert error_cond(res) == 'not-allowed'
    res = admin(b, room, "<item affiliation='outcast' jid='%s'/>"
                % a.jid.split('/')[0])
    assert error_cond(res) == 'not-allowed'
    # configuration is the owner's
    res = b.query('get', "<query xmlns='%s'/>" % NS_MUC_OWNER, to=room)
    assert error_cond(res) == 'forbidden'


def test_moderated_room_voice(users):
    a, b = users(), users()
    room = new_room()
    join_ok(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_moderatedroom': '1'})
    got = join_ok(b, room, 'bee')
    selfp = [e for e in got if 110 in statuses(e)][0]
    assert item(selfp).get('role') == 'visitor'
    groupchat(b, room, 'can I?')
    el = b.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    assert error_cond(el) == 'forbidden'
    res = admin(a, room, "<item nick='bee' role='participant'/>")
    assert res.get('type') == 'result'
    p = wait_presence(b, room + '/bee', lambda e: item(e).get('role') ==
                      'participant')
    assert p is not None
    groupchat(b, room, 'now I can')
    wait_message(a, 'now I can')
    res = admin(a, room, "<item role='participant'/>", type_='get')
    assert [i.get('nick') for i in res.iter(q(NS_MUC_ADMIN, 'item'))] == \
        ['bee']


def test_whois_anyone(users):
    a, b, c = users(), users(), users()
    room = new_room()
    join_ok(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_whois': 'anyone'})
    join_ok(b, room, 'bee')
    got = join_ok(c, room, 'sea')
    bee = [e for e in got if e.get('from') == room + '/bee'][0]
    assert item(bee).get('jid') == b.jid
    selfp = [e for e in got if 110 in statuses(e)][0]
    assert 100 in statuses(selfp)
    # back to semi-anonymous: 104 and 173 to everyone
    configure(a, room, {'muc#roomconfig_whois': 'moderators'})
    m = c.wait_for(lambda e: is_message(e) and e.get('from') == room)
    assert statuses(m) >= {104, 173}


def test_invitation(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    a.send("<message to='%s'><x xmlns='%s'><invite to='%s'><reason>come"
           "</reason></invite></x></message>"
           % (room, NS_MUC_USER, b.jid.split('/')[0]))
    m = b.wait_for(lambda e: is_message(e) and e.get('from') == room)
    inv = m.find(q(NS_MUC_USER, 'x')).find(q(NS_MUC_USER, 'invite'))
    assert inv.get('from') == a.jid
    assert inv.findtext(q(NS_MUC_USER, 'reason')) == 'come'
    # declined: the inviter hears it through the room
    b.send("<message to='%s'><x xmlns='%s'><decline to='%s'><reason>busy"
           "</reason></decline></x></message>"
           % (room, NS_MUC_USER, a.jid.split('/')[0]))
    m = a.wait_for(lambda e: is_message(e) and e.get('from') == room)
    d = m.find(q(NS_MUC_USER, 'x')).find(q(NS_MUC_USER, 'decline'))
    assert d.get('from') == b.jid.split('/')[0]


def test_destroy_with_alternate_venue(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    res = b.query('set', "<query xmlns='%s'><destroy/></query>"
                  % NS_MUC_OWNER, to=room)
    assert error_cond(res) == 'forbidden'
    res = a.query('set', "<query xmlns='%s'><destroy jid='other@%s'>"
                  "<reason>moved</reason></destroy></query>"
                  % (NS_MUC_OWNER, MUC), to=room)
    assert res.get('type') == 'result'
    p = wait_presence(b, room + '/bee')
    assert p.get('type') == 'unavailable'
    d = p.find(q(NS_MUC_USER, 'x')).find(q(NS_MUC_USER, 'destroy'))
    assert d.get('jid') == 'other@' + MUC
    assert d.findtext(q(NS_MUC_USER, 'reason')) == 'moved'
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    assert error_cond(res) == 'item-not-found'


def test_cancel_creation_destroys(users):
    a = users()
    room = new_room()
    join_ok(a, room, 'owner')
    res = a.query('set', "<query xmlns='%s'><x xmlns='%s' type='cancel'/>"
                  "</query>" % (NS_MUC_OWNER, NS_DATA), to=room)
    assert res.get('type') == 'result'
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    assert error_cond(res) == 'item-not-found'


# -- XEP-0410 self-ping ---------------------------------------------------------

def test_self_ping(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = a.query('get', "<ping xmlns='%s'/>" % NS_PING, to=room + '/owner')
    assert res.get('type') == 'result'
    res = b.query('get', "<ping xmlns='%s'/>" % NS_PING, to=room + '/owner')
    assert error_cond(res) == 'not-acceptable'


# -- persistence -------------------------------------------------------------------

def test_persistent_room_survives_restart(make_server, cafile):
    s = make_server().start()
    u, p = s.new_user()
    v, pv = s.new_user()
    room = new_room('keep')
    with RawClient(s.port, cafile=cafile) as a:
        a.login(u, p, resource='r')
        join_ok(a, room, 'owner')
        res = configure(a, room, {'muc#roomconfig_persistentroom': '1',
                                  'muc#roomconfig_roomname': 'Kept',
                                  'muc#roomconfig_membersonly': '1'})
        assert res.get('type') == 'result'
        res = admin(a, room, "<item affiliation='member' jid='%s@localhost'/>"
                    % v)
        assert res.get('type') == 'result'
        a.send("<message to='%s' type='groupchat'><subject>Still here"
               "</subject></message>" % room)
        a.wait_for(lambda e: is_message(e) and
                   e.find(q(NS_CLIENT, 'subject')) is not None)
        a.send("<presence to='%s/owner' type='unavailable'/>" % room)
        wait_presence(a, room + '/owner')
    s.stop()
    s.start()
    with RawClient(s.port, cafile=cafile) as a, \
            RawClient(s.port, cafile=cafile) as b:
        a.login(u, p, resource='r')
        b.login(v, pv, resource='r')
        deadline = time.time() + 5
        while True:
            res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO,
                          to=room)
            if res.get('type') == 'result' or time.time() > deadline:
                break
            time.sleep(0.1)
        assert res.get('type') == 'result', tostr(res)
        f = features(res)
        assert 'muc_persistent' in f and 'muc_membersonly' in f
        ident = res.find(q(NS_DISCO_INFO, 'query')).find(
            q(NS_DISCO_INFO, 'identity'))
        assert ident.get('name') == 'Kept'
        got = join_ok(b, room, 'member')   # still a member
        assert got[-1].findtext(q(NS_CLIENT, 'subject')) == 'Still here'
        got = join_ok(a, room, 'owner')     # still the owner, not new
        selfp = [e for e in got if 110 in statuses(e)][0]
        assert item(selfp).get('affiliation') == 'owner'
        assert 201 not in statuses(selfp)


# -- load ------------------------------------------------------------------------

def test_200_occupants_burst(make_server):
    """200 occupants; 4 senders send 25 messages each at once: everyone
    gets all 100, each sender's in order, nothing lost."""
    s = make_server(c2s={'require_tls': 'false'}).start()
    n, senders, per = 200, 4, 25
    room = new_room('big')
    clients = []
    try:
        for i in range(n):
            u, p = s.new_user()
            c = RawClient(s.port_plain, timeout=30)
            c.login(u, p, resource='r', starttls=False)
            clients.append(c)
        create_instant(clients[0], room, 'n0')
        for i in range(1, n):
            c = clients[i]
            c.send("<presence to='%s/n%d'><x xmlns='http://jabber.org/"
                   "protocol/muc'><history maxstanzas='0'/></x></presence>"
                   % (room, i))
        for i in range(1, n):
            c = clients[i]
            c.wait_for(lambda e: is_message(e) and
                       e.find(q(NS_CLIENT, 'subject')) is not None,
                       timeout=30)
        for k in range(per):
            for j in range(senders):
                groupchat(clients[j], room, 's%d-%d' % (j, k))
        for c in clients:
            seen = {j: [] for j in range(senders)}
            total = 0
            while total < senders * per:
                el = c.recv(timeout=30)
                if not is_message(el):
                    continue
                body = el.findtext(q(NS_CLIENT, 'body'))
                if not body or not body.startswith('s'):
                    continue
                j, k = body[1:].split('-')
                seen[int(j)].append(int(k))
                total += 1
            for j in range(senders):
                assert seen[j] == list(range(per)), (j, seen[j][:10])
    finally:
        for c in clients:
            c.close()


def test_configured_service_host(make_server, cafile):
    s = make_server(extra='muc: {host: rooms.localhost}\n').start()
    u, p = s.new_user()
    with RawClient(s.port, cafile=cafile) as a:
        a.login(u, p, resource='r')
        res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_ITEMS,
                      to='localhost')
        jids = [i.get('jid') for i in res.iter(q(NS_DISCO_ITEMS, 'item'))]
        assert 'rooms.localhost' in jids
        assert 'conference.localhost' not in jids
        got = join_ok(a, 'tea@rooms.localhost', 'owner')
        assert 201 in statuses(got[0])
        # the default name is not served then
        res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=MUC)
        assert res.get('type') == 'error'
