"""test_muc_slix.py -- a real client library's XEP-0045 plugin (slixmpp
1.8.3 xep_0045) against ternd's MUC service: joining with join_muc_wait,
the reserved-room configuration round trip (get_room_config /
set_room_config), groupchat messages, affiliation lists and a kick seen
by the kicked client; subject, voice request and approval, invitation
and destruction with an alternate venue."""

import asyncio

from muc_helpers import new_room
from xmpp_slix import login, run


def test_slixmpp_xep_0045(server):
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    room = new_room('slix')

    async def go():
        a = await login(server, ua, pa, 'a')
        b = await login(server, ub, pb, 'b')
        try:
            for c in (a, b):
                c.register_plugin('xep_0045')
            ma, mb = a['xep_0045'], b['xep_0045']
            await ma.join_muc_wait(room, 'owner', maxstanzas=0, timeout=5)
            form = await ma.get_room_config(room, timeout=5)
            fields = form.get_fields()
            assert 'muc#roomconfig_roomname' in fields
            form.set_values({'muc#roomconfig_roomname': 'Slix room'})
            await ma.set_room_config(room, form, timeout=5)
            await mb.join_muc_wait(room, 'bee', maxstanzas=0, timeout=5)
            assert 'owner' in mb.get_roster(room)

            got = asyncio.Queue()
            b.add_event_handler('groupchat_message', got.put_nowait)
            a.send_message(mto=room, mbody='hello bee', mtype='groupchat')
            while True:
                msg = await asyncio.wait_for(got.get(), 5)
                if msg['body'] == 'hello bee':
                    break
            assert msg['mucnick'] == 'owner'

            await ma.set_affiliation(room, 'member', jid=b.boundjid.bare,
                                     timeout=5)
            members = await ma.get_affiliation_list(room, 'member',
                                                    timeout=5)
            assert [str(j) for j in members] == [b.boundjid.bare]

            gone = asyncio.get_running_loop().create_future()

            def offline(pres):
                if not gone.done():
                    gone.set_result(pres)
            b.add_event_handler('muc::%s::got_offline' % room, offline)
            await ma.set_role(room, 'bee', 'none', timeout=5)
            pres = await asyncio.wait_for(gone, 5)
            assert pres['type'] == 'unavailable'
            assert '307' in [str(s) for s in pres['muc']['status_codes']]
        finally:
            await a.close()
            await b.close()
    run(go(), timeout=30)


def test_slixmpp_subject_voice_invite_destroy(server):
    """The plugin's set_subject, request_voice (a visitor in a moderated
    room; the owner approves the form the service forwards), invite and
    destroy with an alternate venue."""
    ua, pa = server.new_user()
    ub, pb = server.new_user()
    room = new_room('slixmod')
    venue = new_room('slixalt')

    async def go():
        a = await login(server, ua, pa, 'a')
        b = await login(server, ub, pb, 'b')
        try:
            for c in (a, b):
                c.register_plugin('xep_0045')
                c.register_plugin('xep_0004')
            ma, mb = a['xep_0045'], b['xep_0045']
            await ma.join_muc_wait(room, 'owner', maxstanzas=0, timeout=5)
            form = await ma.get_room_config(room, timeout=5)
            form.set_values({'muc#roomconfig_moderatedroom': True})
            await ma.set_room_config(room, form, timeout=5)

            # (the plugin reports invitations to rooms not joined yet)
            invites = asyncio.Queue()
            b.add_event_handler('groupchat_invite', invites.put_nowait)
            ma.invite(room, b.boundjid.full, reason='come')
            inv = await asyncio.wait_for(invites.get(), 5)
            assert inv['from'] == room
            assert inv['muc']['invite']['reason'] == 'come'

            subjects = asyncio.Queue()
            b.add_event_handler('groupchat_subject', subjects.put_nowait)
            await mb.join_muc_wait(room, 'bee', maxstanzas=0, timeout=5)
            ma.set_subject(room, 'Witches only')
            while True:
                msg = await asyncio.wait_for(subjects.get(), 5)
                if msg['subject'] == 'Witches only':
                    break
            assert mb.get_jid_property(room, 'bee', 'role') == 'visitor'

            forms = asyncio.Queue()

            def form_message(msg):
                if msg['form']['type'] == 'form':
                    forms.put_nowait(msg)
            a.add_event_handler('message_xform', form_message)
            mb.request_voice(room, 'participant')
            req = await asyncio.wait_for(forms.get(), 5)
            values = req['form'].get_values()
            assert values['muc#roomnick'] == 'bee'
            assert values['muc#jid'] == str(b.boundjid)
            answer = a.make_message(mto=room)
            f = answer['form']
            f['type'] = 'submit'
            f.add_field(var='FORM_TYPE',
                        value='http://jabber.org/protocol/muc#request')
            f.add_field(var='muc#roomnick', value='bee')
            f.add_field(var='muc#request_allow', value='true')
            voiced = asyncio.get_running_loop().create_future()

            def presence(pres):
                if pres['muc']['nick'] == 'bee' and \
                        pres['muc']['role'] == 'participant' and \
                        not voiced.done():
                    voiced.set_result(pres)
            b.add_event_handler('muc::%s::presence' % room, presence)
            answer.send()
            await asyncio.wait_for(voiced, 5)

            destroyed = asyncio.get_running_loop().create_future()

            def gone(pres):
                if pres['type'] == 'unavailable' and not destroyed.done():
                    destroyed.set_result(pres)
            b.add_event_handler('muc::%s::got_offline' % room, gone)
            await ma.destroy(room, reason='closing', altroom=venue,
                             timeout=5)
            pres = await asyncio.wait_for(destroyed, 5)
            d = pres.xml.find('{http://jabber.org/protocol/muc#user}x/'
                              '{http://jabber.org/protocol/muc#user}destroy')
            assert d is not None and d.get('jid') == venue
        finally:
            await a.close()
            await b.close()
    run(go(), timeout=30)
