"""test_muc_requests.py -- XEP-0045 beyond entering and talking, with raw
clients: registration with a room (7.10: the form, nick reservation,
membership, conflicts, refusals, unregistering, persistence across a
restart), the reserved nick discovered through disco (7.11), voice
requests and their approval (7.13, 8.6), IQs passed between occupants
with the real JIDs hidden, direct invitations (XEP-0249) passing through,
and a table of permission denials for every role and affiliation
(XEP-0045 5.1, 5.2)."""

import time

from muc_helpers import (NS_DATA, NS_MUC_ADMIN, NS_MUC_OWNER, admin,
                         configure, create_instant, error_cond, groupchat,
                         is_message, is_presence, item, join_error, join_ok,
                         new_room, statuses, users, wait_message,
                         wait_presence)
from xmpp_raw import NS_CLIENT, RawClient, q, tostr

NS_REGISTER = 'jabber:iq:register'
NS_DISCO_INFO = 'http://jabber.org/protocol/disco#info'
NS_MUC_REGISTER = 'http://jabber.org/protocol/muc#register'
NS_MUC_REQUEST = 'http://jabber.org/protocol/muc#request'
NS_VERSION = 'jabber:iq:version'


def bare(c):
    return c.jid.split('/')[0]


def register(c, room, nick=None, form_type=NS_MUC_REGISTER, xtype='submit'):
    fields = "<field var='FORM_TYPE'><value>%s</value></field>" % form_type
    if nick is not None:
        fields += "<field var='muc#register_roomnick'><value>%s</value>" \
                  "</field>" % nick
    return c.query('set', "<query xmlns='%s'><x xmlns='%s' type='%s'>%s</x>"
                   "</query>" % (NS_REGISTER, NS_DATA, xtype, fields),
                   to=room)


def reserved_nick(c, room):
    res = c.query('get', "<query xmlns='%s' node='x-roomuser-item'/>"
                  % NS_DISCO_INFO, to=room)
    assert res.get('type') == 'result', tostr(res)
    ident = res.find(q(NS_DISCO_INFO, 'query')).find(
        q(NS_DISCO_INFO, 'identity'))
    return None if ident is None else ident.get('name')


def members(c, room):
    res = admin(c, room, "<item affiliation='member'/>", type_='get')
    assert res.get('type') == 'result', tostr(res)
    return {i.get('jid') for i in res.iter(q(NS_MUC_ADMIN, 'item'))}


def form_values(x):
    return {f.get('var'): f.findtext(q(NS_DATA, 'value'))
            for f in x.findall(q(NS_DATA, 'field'))}


# -- registration (7.10, 7.11) ------------------------------------------------

def test_registration_form_reserves_nick_and_makes_member(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = b.query('get', "<query xmlns='%s'/>" % NS_REGISTER, to=room)
    assert res.get('type') == 'result', tostr(res)
    qq = res.find(q(NS_REGISTER, 'query'))
    assert qq.find(q(NS_REGISTER, 'registered')) is None
    x = qq.find(q(NS_DATA, 'x'))
    assert x.get('type') == 'form'
    vals = form_values(x)
    assert vals['FORM_TYPE'] == NS_MUC_REGISTER
    assert 'muc#register_roomnick' in vals
    assert reserved_nick(b, room) is None
    assert register(b, room, 'bee').get('type') == 'result'
    assert reserved_nick(b, room) == 'bee'
    assert members(a, room) == {bare(b)}
    # a registered user is told so, with the nick
    res = b.query('get', "<query xmlns='%s'/>" % NS_REGISTER, to=room)
    qq = res.find(q(NS_REGISTER, 'query'))
    assert qq.find(q(NS_REGISTER, 'registered')) is not None
    assert form_values(qq.find(q(NS_DATA, 'x')))[
        'muc#register_roomnick'] == 'bee'
    # nobody else may enter or register with that nick
    assert join_error(c, room, 'bee') == 'conflict'
    assert error_cond(register(c, room, 'bee')) == 'conflict'
    # its holder enters with it, as a member
    got = join_ok(b, room, 'bee')
    selfp = [e for e in got if 110 in statuses(e)][0]
    assert item(selfp).get('affiliation') == 'member'
    # and may not change to a nick someone else reserved
    assert register(c, room, 'sea').get('type') == 'result'
    b.send("<presence to='%s/sea'/>" % room)
    el = b.wait_for(lambda e: is_presence(e) and e.get('type') == 'error')
    assert error_cond(el) == 'conflict'


def test_registration_of_present_occupant_is_announced(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    assert register(b, room, 'bee').get('type') == 'result'
    p = wait_presence(a, room + '/bee',
                      lambda e: item(e).get('affiliation') == 'member')
    assert item(p).get('role') == 'participant'


def test_registration_bad_forms(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    assert error_cond(register(b, room)) == 'bad-request'          # no nick
    assert error_cond(register(b, room, '')) == 'bad-request'
    assert error_cond(register(b, room, 'x', form_type='urn:other')) == \
        'bad-request'
    assert error_cond(register(b, room, 'x', xtype='form')) == 'bad-request'
    res = b.query('set', "<query xmlns='%s'/>" % NS_REGISTER, to=room)
    assert error_cond(res) == 'bad-request'
    # a cancelled form changes nothing
    assert register(b, room, 'x', xtype='cancel').get('type') == 'result'
    assert reserved_nick(b, room) is None
    assert members(a, room) == set()


def test_registration_refused(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = admin(a, room, "<item affiliation='outcast' jid='%s'/>" % bare(b))
    assert res.get('type') == 'result'
    assert error_cond(register(b, room, 'bee')) == 'not-allowed'
    res = b.query('get', "<query xmlns='%s'/>" % NS_REGISTER, to=room)
    assert error_cond(res) == 'not-allowed'
    configure(a, room, {'muc#roomconfig_membersonly': '1'})
    assert error_cond(register(c, room, 'sea')) == 'not-allowed'
    res = c.query('get', "<query xmlns='%s'/>" % NS_REGISTER,
                  to=new_room('none'))
    assert error_cond(res) == 'item-not-found'


def test_ban_releases_reserved_nick(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    assert register(b, room, 'bee').get('type') == 'result'
    res = admin(a, room, "<item affiliation='outcast' jid='%s'/>" % bare(b))
    assert res.get('type') == 'result'
    join_ok(c, room, 'bee')


def test_unregister(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = b.query('set', "<query xmlns='%s'><remove/></query>"
                  % NS_REGISTER, to=room)
    assert error_cond(res) == 'item-not-found'      # not registered
    assert register(b, room, 'bee').get('type') == 'result'
    res = b.query('set', "<query xmlns='%s'><remove/></query>"
                  % NS_REGISTER, to=room)
    assert res.get('type') == 'result', tostr(res)
    assert reserved_nick(b, room) is None
    assert members(a, room) == set()
    join_ok(c, room, 'bee')
    # an owner unregistering keeps ownership
    assert register(a, room, 'boss').get('type') == 'result'
    res = a.query('set', "<query xmlns='%s'><remove/></query>"
                  % NS_REGISTER, to=room)
    assert res.get('type') == 'result'
    res = admin(a, room, "<item affiliation='owner'/>", type_='get')
    assert bare(a) in {i.get('jid') for i in res.iter(q(NS_MUC_ADMIN,
                                                         'item'))}


def test_registration_survives_restart(make_server, cafile):
    s = make_server().start()
    (u, p), (v, pv), (w, pw) = s.new_user(), s.new_user(), s.new_user()
    room = new_room('keep')
    with RawClient(s.port, cafile=cafile) as a, \
            RawClient(s.port, cafile=cafile) as b:
        a.login(u, p, resource='r')
        b.login(v, pv, resource='r')
        join_ok(a, room, 'owner')
        assert configure(a, room, {'muc#roomconfig_persistentroom': '1'}
                         ).get('type') == 'result'
        assert register(b, room, 'bee').get('type') == 'result'
    s.stop()
    s.start()
    with RawClient(s.port, cafile=cafile) as b, \
            RawClient(s.port, cafile=cafile) as c:
        b.login(v, pv, resource='r')
        c.login(w, pw, resource='r')
        deadline = time.time() + 5
        while True:
            res = b.query('get', "<query xmlns='%s' node='x-roomuser-item'/>"
                          % NS_DISCO_INFO, to=room)
            if res.get('type') == 'result' or time.time() > deadline:
                break
            time.sleep(0.1)
        assert reserved_nick(b, room) == 'bee'
        assert join_error(c, room, 'bee') == 'conflict'


def test_room_advertises_registration_and_voice_requests(users):
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    res = a.query('get', "<query xmlns='%s'/>" % NS_DISCO_INFO, to=room)
    f = {x.get('var') for x in res.iter(q(NS_DISCO_INFO, 'feature'))}
    assert NS_REGISTER in f and NS_MUC_REQUEST in f
    res = a.query('get', "<query xmlns='%s' node='other'/>" % NS_DISCO_INFO,
                  to=room)
    assert error_cond(res) == 'item-not-found'


# -- voice requests (7.13, 8.6) -------------------------------------------------

def voice_request(c, room, role='participant', xtype='submit'):
    c.send("<message to='%s'><x xmlns='%s' type='%s'>"
           "<field var='FORM_TYPE'><value>%s</value></field>"
           "<field var='muc#role' type='text-single'><value>%s</value>"
           "</field></x></message>"
           % (room, NS_DATA, xtype, NS_MUC_REQUEST, role))


def voice_answer(c, room, nick, allow):
    c.send("<message to='%s'><x xmlns='%s' type='submit'>"
           "<field var='FORM_TYPE'><value>%s</value></field>"
           "<field var='muc#role'><value>participant</value></field>"
           "<field var='muc#roomnick'><value>%s</value></field>"
           "<field var='muc#request_allow'><value>%s</value></field>"
           "</x></message>" % (room, NS_DATA, NS_MUC_REQUEST, nick, allow))


def message_error(c):
    el = c.wait_for(lambda e: is_message(e) and e.get('type') == 'error')
    return error_cond(el)


def test_voice_request_and_approval(users):
    a, b, c, d = users(), users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    configure(a, room, {'muc#roomconfig_moderatedroom': '1'})
    join_ok(b, room, 'bee')
    join_ok(c, room, 'sea')
    res = admin(a, room, "<item nick='sea' role='participant'/>")
    assert res.get('type') == 'result'
    voice_request(b, room)
    form = a.wait_for(lambda e: is_message(e) and
                      e.find(q(NS_DATA, 'x')) is not None)
    assert form.get('from') == room
    x = form.find(q(NS_DATA, 'x'))
    assert x.get('type') == 'form'
    vals = form_values(x)
    assert vals['FORM_TYPE'] == NS_MUC_REQUEST
    assert vals['muc#roomnick'] == 'bee'
    assert vals['muc#jid'] == b.jid
    assert vals['muc#role'] == 'participant'
    assert vals['muc#request_allow'] == 'false'
    # asking again at once is refused; the moderator was asked once
    voice_request(b, room)
    assert message_error(b) == 'resource-constraint'
    # someone with voice has nothing to ask
    voice_request(c, room)
    assert message_error(c) == 'not-allowed'
    # the visitor cannot answer its own request, nor can a participant
    voice_answer(b, room, 'bee', 'true')
    assert message_error(b) == 'forbidden'
    voice_answer(c, room, 'bee', 'true')
    assert message_error(c) == 'forbidden'
    # a denial changes nothing; an approval gives voice
    voice_answer(a, room, 'bee', 'false')
    voice_answer(a, room, 'nobody', 'true')
    assert message_error(a) == 'item-not-found'
    voice_answer(a, room, 'bee', 'true')
    p = wait_presence(c, room + '/bee',
                      lambda e: item(e).get('role') == 'participant')
    assert p is not None
    groupchat(b, room, 'thank you')
    wait_message(a, 'thank you')
    # a non-occupant, a bad role, a bad form type
    voice_request(d, room)
    assert message_error(d) == 'not-acceptable'
    voice_request(b, room, role='moderator')
    assert message_error(b) == 'bad-request'
    voice_request(b, room, xtype='result')
    assert message_error(b) == 'bad-request'


# -- IQs between occupants ---------------------------------------------------

def test_iq_passes_between_occupants(users):
    a, b, c = users(), users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    join_ok(b, room, 'bee')
    iid = a.iq('get', "<query xmlns='%s'/>" % NS_VERSION, to=room + '/bee')
    got = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq') and
                     e.get('id') == iid)
    assert got.get('from') == room + '/owner'   # a's real JID hidden
    assert got.get('type') == 'get'
    assert got.find(q(NS_VERSION, 'query')) is not None
    b.send("<iq type='result' id='%s' to='%s'><query xmlns='%s'>"
           "<name>bee-client</name></query></iq>"
           % (iid, room + '/owner', NS_VERSION))
    res = a.iq_reply(iid)
    assert res.get('type') == 'result'
    assert res.get('from') == room + '/bee'
    assert res.find(q(NS_VERSION, 'query')).findtext(
        q(NS_VERSION, 'name')) == 'bee-client'
    # errors come back too
    iid = a.iq('set', "<query xmlns='urn:x'/>", to=room + '/bee')
    got = b.wait_for(lambda e: e.tag == q(NS_CLIENT, 'iq') and
                     e.get('id') == iid)
    b.send("<iq type='error' id='%s' to='%s'><error type='cancel'>"
           "<feature-not-implemented xmlns='urn:ietf:params:xml:ns:"
           "xmpp-stanzas'/></error></iq>" % (iid, room + '/owner'))
    res = a.iq_reply(iid)
    assert error_cond(res) == 'feature-not-implemented'
    assert res.get('from') == room + '/bee'
    # no such occupant; not an occupant
    res = a.query('get', "<query xmlns='%s'/>" % NS_VERSION,
                  to=room + '/nobody')
    assert error_cond(res) == 'item-not-found'
    res = c.query('get', "<query xmlns='%s'/>" % NS_VERSION,
                  to=room + '/bee')
    assert error_cond(res) == 'not-acceptable'
    # an answer from a non-occupant goes nowhere
    c.send("<iq type='result' id='forged' to='%s'/>" % (room + '/bee'))
    b.expect_nothing(0.5)
    # answers to the room itself are not requests
    a.send("<iq type='result' id='r1' to='%s'><query xmlns='%s'><item "
           "affiliation='owner' jid='%s'/></query></iq>"
           % (room, NS_MUC_ADMIN, bare(c)))
    res = admin(a, room, "<item affiliation='owner'/>", type_='get')
    assert bare(c) not in {i.get('jid') for i in res.iter(
        q(NS_MUC_ADMIN, 'item'))}


# -- permission denials for each role and affiliation -------------------------

# (who acts, what it tries, the error XEP-0045 names). Occupants: 'owner'
# (room owner), 'adm' (admin), 'mod' (moderator role, no affiliation),
# 'mem' (member participant), 'part' (participant), 'vis' (visitor).
DENIALS = [
    ('vis', 'groupchat', 'forbidden'),
    ('vis', 'subject', 'forbidden'),
    ('vis', 'kick part', 'forbidden'),
    ('vis', 'voice vis', 'forbidden'),
    ('vis', 'voice list', 'forbidden'),
    ('vis', 'member list', 'forbidden'),
    ('vis', 'ban part', 'forbidden'),
    ('vis', 'config', 'forbidden'),
    ('vis', 'destroy', 'forbidden'),
    ('part', 'subject', 'forbidden'),
    ('part', 'kick vis', 'forbidden'),
    ('part', 'voice vis', 'forbidden'),
    ('part', 'voice list', 'forbidden'),
    ('part', 'member list', 'forbidden'),
    ('part', 'ban vis', 'forbidden'),
    ('part', 'make member vis', 'forbidden'),
    ('part', 'config', 'forbidden'),
    ('part', 'destroy', 'forbidden'),
    ('mem', 'kick part', 'forbidden'),
    ('mem', 'ban part', 'forbidden'),
    ('mem', 'member list', 'forbidden'),
    ('mem', 'config', 'forbidden'),
    ('mod', 'kick adm', 'not-allowed'),
    ('mod', 'kick owner', 'not-allowed'),
    ('mod', 'unvoice adm', 'not-allowed'),
    ('mod', 'make moderator part', 'forbidden'),
    ('mod', 'ban part', 'forbidden'),
    ('mod', 'member list', 'forbidden'),
    ('mod', 'config', 'forbidden'),
    ('mod', 'destroy', 'forbidden'),
    ('adm', 'ban owner', 'not-allowed'),
    ('adm', 'make owner part', 'not-allowed'),
    ('adm', 'make admin part', 'not-allowed'),
    ('adm', 'kick owner', 'not-allowed'),
    ('adm', 'config', 'forbidden'),
    ('adm', 'destroy', 'forbidden'),
    ('owner', 'drop last owner', 'conflict'),
]


def attempt(c, room, action, jids):
    """Performs action as c; returns the error condition or None."""
    verb, _, target = action.partition(' ')
    if action == 'groupchat':
        groupchat(c, room, 'hello?')
        return message_error(c)
    if action == 'subject':
        c.send("<message to='%s' type='groupchat'><subject>new</subject>"
               "</message>" % room)
        return message_error(c)
    role_items = {'kick': 'none', 'voice': 'participant',
                  'unvoice': 'visitor'}
    if verb in role_items:
        res = admin(c, room, "<item nick='%s' role='%s'/>"
                    % (target, role_items[verb]))
        return error_cond(res)
    if action == 'voice list':
        return error_cond(admin(c, room, "<item role='participant'/>",
                                type_='get'))
    if action == 'member list':
        return error_cond(admin(c, room, "<item affiliation='member'/>",
                                type_='get'))
    if verb == 'ban':
        return error_cond(admin(c, room, "<item affiliation='outcast' "
                                "jid='%s'/>" % jids[target]))
    if verb == 'make':
        what, _, who = target.partition(' ')
        if what == 'moderator':
            return error_cond(admin(c, room, "<item nick='%s' role="
                                    "'moderator'/>" % who))
        return error_cond(admin(c, room, "<item affiliation='%s' jid='%s'/>"
                                % (what, jids[who])))
    if action == 'config':
        return error_cond(c.query('get', "<query xmlns='%s'/>"
                                  % NS_MUC_OWNER, to=room))
    if action == 'destroy':
        return error_cond(c.query('set', "<query xmlns='%s'><destroy/>"
                                  "</query>" % NS_MUC_OWNER, to=room))
    if action == 'drop last owner':
        return error_cond(admin(c, room, "<item affiliation='admin' "
                                "jid='%s'/>" % jids['owner']))
    raise AssertionError(action)


def test_permission_denials(users):
    names = ['owner', 'adm', 'mod', 'mem', 'part', 'vis']
    cl = {n: users() for n in names}
    jids = {n: bare(c) for n, c in cl.items()}
    room = new_room()
    create_instant(cl['owner'], room, 'owner')
    o = cl['owner']
    configure(o, room, {'muc#roomconfig_moderatedroom': '1',
                        'muc#roomconfig_changesubject': '0'})
    assert admin(o, room, "<item affiliation='admin' jid='%s'/>"
                 % jids['adm']).get('type') == 'result'
    assert admin(o, room, "<item affiliation='member' jid='%s'/>"
                 % jids['mem']).get('type') == 'result'
    for n in names[1:]:
        join_ok(cl[n], room, n)
    # in a moderated room newcomers without affiliation are visitors
    for n in ('mod', 'part'):
        assert admin(o, room, "<item nick='%s' role='participant'/>"
                     % n).get('type') == 'result'
    assert admin(o, room, "<item nick='mod' role='moderator'/>"
                 ).get('type') == 'result'
    res = admin(o, room, "<item role='participant'/>", type_='get')
    roles = {i.get('nick') for i in res.iter(q(NS_MUC_ADMIN, 'item'))}
    assert roles == {'mem', 'part'}, roles
    for who, action, cond in DENIALS:
        got = attempt(cl[who], room, action, jids)
        assert got == cond, '%s: %s -> %s, expected %s' % (
            who, action, got, cond)
    # and nothing changed: everyone is still there, affiliations too
    res = admin(o, room, "<item role='participant'/>", type_='get')
    assert {i.get('nick') for i in res.iter(q(NS_MUC_ADMIN, 'item'))} == \
        {'mem', 'part'}
    assert members(o, room) == {jids['mem']}


# -- direct invitations (XEP-0249) ------------------------------------------

def test_direct_invitation_passes_through(users):
    a, b = users(), users()
    room = new_room()
    create_instant(a, room, 'owner')
    a.send("<message to='%s'><x xmlns='jabber:x:conference' jid='%s' "
           "reason='join us' password='pw'/></message>" % (b.jid, room))
    m = b.wait_for(lambda e: is_message(e) and e.find(
        q('jabber:x:conference', 'x')) is not None)
    x = m.find(q('jabber:x:conference', 'x'))
    assert m.get('from') == a.jid
    assert (x.get('jid'), x.get('reason'), x.get('password')) == \
        (room, 'join us', 'pw')


# -- multi-session nicks -------------------------------------------------------

def test_same_user_two_clients_one_nick(users, server, cafile):
    """Two clients of one account under one nick are one occupant: both
    get everything sent to it, the others see it enter and leave once."""
    a = users()
    room = new_room()
    create_instant(a, room, 'owner')
    u, p = server.new_user()
    one = RawClient(server.port, cafile=cafile)
    two = RawClient(server.port, cafile=cafile)
    try:
        one.login(u, p, resource='one')
        two.login(u, p, resource='two')
        join_ok(one, room, 'bee')
        wait_presence(a, room + '/bee')
        got = join_ok(two, room, 'bee')
        others = [e for e in got if is_presence(e) and 110 not in statuses(e)]
        assert [e.get('from') for e in others] == [room + '/owner']
        a.expect_nothing(0.5)            # no second 'bee' for the others
        groupchat(a, room, 'to both')
        wait_message(one, 'to both')
        wait_message(two, 'to both')
        groupchat(one, room, 'from one')
        wait_message(a, 'from one')
        wait_message(two, 'from one')
        a.send("<message to='%s/bee' type='chat'><body>private</body>"
               "</message>" % room)
        wait_message(one, 'private')
        wait_message(two, 'private')
        # one client leaves: only it is told; the occupant stays
        one.send("<presence to='%s/bee' type='unavailable'/>" % room)
        p1 = wait_presence(one, room + '/bee')
        assert p1.get('type') == 'unavailable' and 110 in statuses(p1)
        a.expect_nothing(0.5)
        groupchat(a, room, 'still there')
        wait_message(two, 'still there')
        # both in again, then a kick removes both
        join_ok(one, room, 'bee')
        res = admin(a, room, "<item nick='bee' role='none'/>")
        assert res.get('type') == 'result'
        for c in (one, two):
            k = wait_presence(c, room + '/bee',
                              lambda e: e.get('type') == 'unavailable')
            assert {307, 110} <= statuses(k)
        k = wait_presence(a, room + '/bee',
                          lambda e: e.get('type') == 'unavailable')
        assert 307 in statuses(k)
        # the last client leaving ends the occupant for everyone
        join_ok(one, room, 'bee')
        wait_presence(a, room + '/bee', lambda e: e.get('type') is None)
        join_ok(two, room, 'bee')
        two.send("<presence to='%s/bee' type='unavailable'/>" % room)
        wait_presence(two, room + '/bee')
        a.expect_nothing(0.5)
        one.send("<presence to='%s/bee' type='unavailable'/>" % room)
        k = wait_presence(a, room + '/bee',
                          lambda e: e.get('type') == 'unavailable')
        assert item(k).get('role') == 'none'
    finally:
        one.close()
        two.close()
