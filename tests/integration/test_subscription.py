"""test_subscription.py -- RFC 6121 3 and Appendix A: presence
subscriptions between two local accounts. The full request/approve flow
with its roster pushes (3.1), pre-approval (3.4), cancelling and
unsubscribing (3.2, 3.3), roster removal (2.5.2), requests to an offline
contact kept and delivered at each later initial presence until
answered (3.1.3), duplicates, two slixmpp clients adding each other, and
one table-driven test per (state, outbound event) cell of Appendix A:
each starting state reached with real stanzas, one event applied, both
rosters, pushes and deliveries checked. Since both accounts are local,
every outbound event of the user (A.2) is also an inbound event for the
contact (A.3), so the table covers both halves.

The state machine itself is unit-tested in tests/unit/test_sub.c."""

import asyncio

import pytest

from xmpp_raw import tostr
import xmpp_slix
from xmpp_slix import run
from im_helpers import (MIRROR, PRESENCE, STATE_PATHS, SUB_TYPES, im,
                        is_push, norm_view, presences, push_item, pushes,
                        reach, settle, state_view, step, view)

assert im  # a fixture, used by name


def only_push(els, jid):
    """The view of the single roster push in els (for contact jid)."""
    ps = pushes(els)
    assert len(ps) == 1, 'expected one push, got %s' % [tostr(e)
                                                         for e in els]
    item = push_item(ps[0])
    assert item.get('jid') == jid, tostr(ps[0])
    return view(item)


def push_views(els, jid):
    out = []
    for p in pushes(els):
        item = push_item(p)
        assert item.get('jid') == jid, tostr(p)
        out.append(view(item))
    return out


def sub_presences(els):
    return [e for e in presences(els) if e.get('type') in SUB_TYPES]


def kinds(els):
    """A compact description of els for assertion messages and exact
    comparisons: ('push', view) / ('presence', type, from)."""
    out = []
    for e in els:
        if is_push(e):
            out.append(('push',) + view(push_item(e)))
        elif e.tag == PRESENCE:
            out.append(('presence', e.get('type') or 'available',
                        e.get('from')))
        else:
            out.append(('other', tostr(e)))
    return out


def roster_view(c, contact):
    return view(c.roster().get(contact))


# -- the full flow (3.1) ------------------------------------------------------

def test_full_subscription_flow(im):
    a, b = im(resource='ra'), im(resource='rb')
    settle(a, b)
    # 3.1.2: the user's server pushes ask='subscribe' and routes the
    # request stamped with the user's bare JID.
    a.presence('subscribe', to=b.bare)
    a_els, b_els = a.sync(), b.sync()
    assert kinds(a_els) == [('push', 'none', 'subscribe', None)], \
        kinds(a_els)
    # 3.1.3: delivered to the contact; no push on the contact's side.
    assert kinds(b_els) == [('presence', 'subscribe', a.bare)], kinds(b_els)
    assert b_els[0].get('to') in (b.bare, b.jid), tostr(b_els[0])
    # 3.1.5: the contact approves: its roster gets 'from', the approval
    # goes to the user with the contact's current presence.
    b.presence('subscribed', to=a.bare)
    b_els, a_els = b.sync(), a.sync()
    assert kinds(b_els) == [('push', 'from', None, None)], kinds(b_els)
    # 3.1.6: the user's roster gets 'to' (ask gone), the approval is
    # delivered, and the contact's available resource's presence follows.
    assert sorted(kinds(a_els)) == sorted([
        ('push', 'to', None, None),
        ('presence', 'subscribed', b.bare),
        ('presence', 'available', b.jid)]), kinds(a_els)
    # And back the other way.
    b.presence('subscribe', to=a.bare)
    b_els, a_els = b.sync(), a.sync()
    assert kinds(b_els) == [('push', 'from', 'subscribe', None)], \
        kinds(b_els)
    assert kinds(a_els) == [('presence', 'subscribe', b.bare)], kinds(a_els)
    a.presence('subscribed', to=b.bare)
    a_els, b_els = a.sync(), b.sync()
    assert kinds(a_els) == [('push', 'both', None, None)], kinds(a_els)
    assert sorted(kinds(b_els)) == sorted([
        ('push', 'both', None, None),
        ('presence', 'subscribed', a.bare),
        ('presence', 'available', a.jid)]), kinds(b_els)
    assert roster_view(a, b.bare) == ('both', None, None)
    assert roster_view(b, a.bare) == ('both', None, None)


def test_request_keeps_extended_content(im):
    """RFC 6121 3.1.3: the request is delivered as sent (a status, an
    XEP-0172 nick), only 'from' is the user's bare JID."""
    a, b = im(), im()
    settle(a, b)
    a.presence('subscribe', to=b.bare, status='Please add me',
               extra="<nick xmlns='http://jabber.org/protocol/nick'>"
                     "Romeo</nick>")
    a.sync()
    got = sub_presences(b.sync())
    assert len(got) == 1
    assert got[0].findtext('{jabber:client}status') == 'Please add me'
    assert got[0].findtext('{http://jabber.org/protocol/nick}nick') \
        == 'Romeo', tostr(got[0])


def test_duplicate_request_not_delivered_twice(im):
    a, b = im(), im()
    settle(a, b)
    a.presence('subscribe', to=b.bare)
    a_els = a.sync()
    assert len(pushes(a_els)) == 1
    assert len(sub_presences(b.sync())) == 1
    a.presence('subscribe', to=b.bare)
    a.expect_quiet('the roster did not change: no push')
    b.expect_quiet('a request already pending is not delivered again')


# -- pre-approval (3.4) -------------------------------------------------------

def test_preapproval(im):
    a, b = im(), im()
    settle(a, b)
    # 3.4.2: a 'subscribed' without a request records a pre-approval,
    # pushes approved='true' and is not routed.
    a.presence('subscribed', to=b.bare)
    a_els, b_els = a.sync(), b.sync()
    assert kinds(a_els) == [('push', 'none', None, 'true')], kinds(a_els)
    assert b_els == [], kinds(b_els)
    assert roster_view(a, b.bare) == ('none', None, 'true')
    # 3.4: the later request is approved on the user's behalf.
    b.presence('subscribe', to=a.bare)
    b_els, a_els = b.sync(), a.sync()
    assert kinds(a_els) == [('push', 'from', None, None)], \
        'the request must not be delivered, only the roster change: %s' \
        % kinds(a_els)
    assert push_views(b_els, a.bare) == [('none', 'subscribe', None),
                                         ('to', None, None)], kinds(b_els)
    assert sorted(k for k in kinds(b_els) if k[0] == 'presence') == sorted([
        ('presence', 'subscribed', a.bare),
        ('presence', 'available', a.jid)]), kinds(b_els)
    assert roster_view(a, b.bare) == ('from', None, None)
    assert roster_view(b, a.bare) == ('to', None, None)


def test_preapproval_cancelled_by_unsubscribed(im):
    """3.4.2 / A.2.4: 'unsubscribed' withdraws a pre-approval without
    being routed; a later request is then delivered normally."""
    a, b = im(), im()
    settle(a, b)
    a.presence('subscribed', to=b.bare)
    a.sync()
    a.presence('unsubscribed', to=b.bare)
    a_els, b_els = a.sync(), b.sync()
    assert kinds(a_els) == [('push', 'none', None, None)], kinds(a_els)
    assert b_els == [], kinds(b_els)
    b.presence('subscribe', to=a.bare)
    b.sync()
    assert kinds(a.sync()) == [('presence', 'subscribe', b.bare)]


def test_preapproval_for_offline_contact(server, im):
    a = im()
    bu, bp = server.new_user('pre')
    b_bare = server.jid(bu)
    a.presence('subscribed', to=b_bare)
    assert kinds(a.sync()) == [('push', 'none', None, 'true')]
    b = im(bu, bp)
    b.presence('subscribe', to=a.bare)
    b_els = b.sync()
    assert push_views(b_els, a.bare)[-1] == ('to', None, None), kinds(b_els)
    assert ('presence', 'subscribed', a.bare) in kinds(b_els)
    assert ('presence', 'available', a.jid) in kinds(b_els)
    assert kinds(a.sync()) == [('push', 'from', None, None)]


# -- cancelling (3.2) and unsubscribing (3.3) ---------------------------------

def test_unsubscribe(im):
    a, b = im(), im()
    reach(a, b, 'both')
    a.presence('unsubscribe', to=b.bare)
    a_els, b_els = a.sync(), b.sync()
    # 3.3.2: push 'from'; 3.3.3: the contact's server pushes 'to',
    # delivers the unsubscribe and sends unavailable from each of the
    # contact's available resources to the user.
    assert sorted(kinds(a_els)) == sorted([
        ('push', 'from', None, None),
        ('presence', 'unavailable', b.jid)]), kinds(a_els)
    assert sorted(kinds(b_els)) == sorted([
        ('push', 'to', None, None),
        ('presence', 'unsubscribe', a.bare)]), kinds(b_els)
    # The contact's presence no longer reaches the user; the user's still
    # reaches the contact.
    b.presence(status='away for a bit')
    b.sync()
    a.expect_quiet('no presence after unsubscribing')
    a.presence(status='still here')
    a.sync()
    assert kinds(b.sync()) == [('presence', 'available', a.jid)]


def test_cancel_subscription(im):
    """3.2: the contact cancels the user's subscription with
    'unsubscribed'."""
    a, b = im(), im()
    reach(a, b, 'both')
    b.presence('unsubscribed', to=a.bare)
    b_els, a_els = b.sync(), a.sync()
    assert kinds(b_els) == [('push', 'to', None, None)], kinds(b_els)
    # 3.2.2: unavailable from each of the contact's available resources;
    # 3.2.3: the user's roster drops 'to', the notice is delivered.
    assert sorted(kinds(a_els)) == sorted([
        ('push', 'from', None, None),
        ('presence', 'unavailable', b.jid),
        ('presence', 'unsubscribed', b.bare)]), kinds(a_els)
    b.presence(status='new status')
    b.sync()
    a.expect_quiet('no presence after the subscription was cancelled')


def test_deny_request(im):
    """3.2.1 / 3.1.4: 'unsubscribed' in answer to a request denies it."""
    a, b = im(), im()
    reach(a, b, 'none+out')
    b.presence('unsubscribed', to=a.bare)
    b_els, a_els = b.sync(), a.sync()
    assert b_els == [], kinds(b_els)
    assert sorted(kinds(a_els)) == sorted([
        ('push', 'none', None, None),
        ('presence', 'unsubscribed', b.bare)]), kinds(a_els)
    # No longer pending: a later login of b gets no request.
    b2 = im(b.user, b.pw)
    assert sub_presences(b2.initial) == []


def test_roster_remove_cancels_both_directions(im):
    """RFC 6121 2.5.2: removing a contact with a subscription sends
    unsubscribe and unsubscribed; the contact ends with 'none', and its
    presence and the user's stop flowing both ways (3.2.2, 3.3.3)."""
    a, b = im(), im()
    reach(a, b, 'both')
    iid = a.iq('set', "<query xmlns='jabber:iq:roster'><item jid='%s' "
               "subscription='remove'/></query>" % b.bare)
    a_els, b_els = a.sync(), b.sync()
    r = [e for e in a_els if e.get('id') == iid]
    assert len(r) == 1 and r[0].get('type') == 'result', kinds(a_els)
    a_els.remove(r[0])
    assert ('push', 'remove', None, None) in kinds(a_els), kinds(a_els)
    assert [k for k in kinds(a_els) if k[0] == 'presence'] == [
        ('presence', 'unavailable', b.jid)], kinds(a_els)
    bk = kinds(b_els)
    assert ('presence', 'unsubscribe', a.bare) in bk, bk
    assert ('presence', 'unsubscribed', a.bare) in bk, bk
    # The user cancelled the contact's subscription: the contact learns
    # that the user is gone from its view (unavailable, 3.2.2).
    assert ('presence', 'unavailable', a.jid) in bk, bk
    assert push_views(b_els, a.bare)[-1] == ('none', None, None), bk
    assert roster_view(b, a.bare) == ('none', None, None)
    assert a.roster() == {}
    a.presence(status='x')
    a.sync()
    b.expect_quiet('no presence after removal')


def test_roster_remove_pending_request(im):
    """Removing a contact whose request is pending denies it, and a
    pending outbound request is withdrawn."""
    a, b = im(), im()
    reach(a, b, 'none+out')
    a.roster_remove(b.bare)
    a.sync()
    b_els = b.sync()
    assert ('presence', 'unsubscribe', a.bare) in kinds(b_els), kinds(b_els)
    b2 = im(b.user, b.pw)
    assert sub_presences(b2.initial) == [], 'withdrawn request redelivered'


# -- requests to an offline contact (3.1.3) -----------------------------------

def test_request_to_offline_contact(server, im):
    a = im()
    bu, bp = server.new_user('off')
    b_bare = server.jid(bu)
    a.presence('subscribe', to=b_bare)
    assert kinds(a.sync()) == [('push', 'none', 'subscribe', None)]
    # Not before an available resource exists (a bound resource without
    # presence is not available).
    b = im(bu, bp, available=False)
    assert b.initial == [], kinds(b.initial)
    assert b.roster() == {}, 'a pending request is not a roster item'
    b.presence()
    els = b.sync()
    assert [k for k in kinds(els) if k[1] == 'subscribe'] == [
        ('presence', 'subscribe', a.bare)], kinds(els)
    b.close()
    # Still unanswered: delivered again at the next login.
    b2 = im(bu, bp)
    assert [k for k in kinds(b2.initial) if k[1] == 'subscribe'] == [
        ('presence', 'subscribe', a.bare)], kinds(b2.initial)
    b2.presence('subscribed', to=a.bare)
    b2.sync()
    assert ('push', 'to', None, None) in kinds(a.sync())
    b2.close()
    b3 = im(bu, bp)
    assert sub_presences(b3.initial) == [], kinds(b3.initial)


def test_offline_request_keeps_extended_content(server, im):
    """3.1.3: 'MUST keep a record of the complete presence stanza
    comprising the subscription request, including any extended
    content'."""
    a = im()
    bu, bp = server.new_user('offx')
    a.presence('subscribe', to=server.jid(bu), status='Remember me')
    a.sync()
    b = im(bu, bp)
    got = sub_presences(b.initial)
    assert len(got) == 1, kinds(b.initial)
    assert got[0].findtext('{jabber:client}status') == 'Remember me', \
        tostr(got[0])


def test_request_to_nonexistent_user(server, im):
    """The user's side behaves as for any contact (3.1.2); nothing
    breaks. (RFC 6121 3.1.3 lets the contact's server answer
    'unsubscribed' for an account that does not exist.)"""
    a = im()
    ghost = 'ghost-%s@%s' % (a.user, server.domain)
    a.presence('subscribe', to=ghost)
    els = a.sync()
    assert push_views(els, ghost)[0] == ('none', 'subscribe', None)
    for k in kinds(els)[1:]:
        assert k in (('presence', 'unsubscribed', ghost),
                     ('push', 'none', None, None)), kinds(els)


def test_subscribe_to_self_is_harmless(im):
    a = im()
    other = im(a.user, a.pw)
    settle(a, other)
    a.presence('subscribe', to=a.bare)
    a.sync()
    other.sync()
    assert a.bare not in a.roster(), 'own JID in the roster'
    a.presence('subscribed', to=a.bare)
    a.sync()
    assert a.bare not in a.roster(), 'own JID in the roster'


# -- slixmpp ------------------------------------------------------------------

@pytest.mark.slix
def test_slixmpp_clients_add_each_other(server):
    """Two stock slixmpp clients (auto_authorize and auto_subscribe, its
    defaults): one asks, both end with 'both', each sees the other come
    online, they chat, and one leaving is seen by the other."""
    (ua, pa), (ub, pb) = server.new_user('sxa'), server.new_user('sxb')

    async def until(pred, what, timeout=5):
        deadline = asyncio.get_running_loop().time() + timeout
        while not pred():
            assert asyncio.get_running_loop().time() < deadline, what
            await asyncio.sleep(0.02)

    async def go():
        a = await xmpp_slix.login(server, ua, pa, resource='home')
        b = await xmpp_slix.login(server, ub, pb, resource='work')
        seen = {'a_on': 0, 'a_off': 0, 'b_on': 0}
        a.add_event_handler('got_online', lambda p: seen.__setitem__(
            'a_on', seen['a_on'] + (p['from'].bare == b.boundjid.bare)))
        a.add_event_handler('got_offline', lambda p: seen.__setitem__(
            'a_off', seen['a_off'] + (p['from'].bare == b.boundjid.bare)))
        b.add_event_handler('got_online', lambda p: seen.__setitem__(
            'b_on', seen['b_on'] + (p['from'].bare == a.boundjid.bare)))
        try:
            for c in (a, b):
                await c.get_roster()
                c.send_presence()
            a.send_presence_subscription(pto=b.boundjid.bare)
            ja, jb = a.boundjid.bare, b.boundjid.bare
            await until(lambda: a.client_roster[jb]['subscription'] == 'both'
                        and b.client_roster[ja]['subscription'] == 'both',
                        'subscriptions: a->b %r, b->a %r' % (
                            a.client_roster[jb]['subscription'],
                            b.client_roster[ja]['subscription']))
            await until(lambda: seen['a_on'] and seen['b_on'],
                        'not seen online: %r' % seen)
            a.send_message(mto=jb, mbody='hello b', mtype='chat')
            m = await b.next_message()
            assert m['body'] == 'hello b' and m['from'] == a.boundjid
            b.send_message(mto=m['from'], mbody='hello a', mtype='chat')
            m = await a.next_message()
            assert m['body'] == 'hello a' and m['from'] == b.boundjid
            await b.close()
            await until(lambda: seen['a_off'], 'b never went offline')
        finally:
            await a.close()
            await b.close()
    run(go())


# -- Appendix A, table-driven -------------------------------------------------

# (state of A towards B, event A sends, A's state after, delivered to B)
# B's state after is always MIRROR of A's (pre-approval aside), since B
# is local: A's outbound event is B's inbound one (A.2 row for A, A.3
# row for B).
APPENDIX_A = [
    # A.2.1 outbound subscribe / A.3.1 inbound subscribe
    ('none', 'subscribe', 'none+out', True),
    ('none+out', 'subscribe', 'none+out', False),
    ('none+in', 'subscribe', 'none+out+in', True),
    ('none+out+in', 'subscribe', 'none+out+in', False),
    ('to', 'subscribe', 'to', False),             # B auto-replies
    ('to+in', 'subscribe', 'to+in', False),       # B auto-replies
    ('from', 'subscribe', 'from+out', True),
    ('from+out', 'subscribe', 'from+out', False),
    ('both', 'subscribe', 'both', False),         # B auto-replies
    # A.2.3 outbound subscribed / A.3.3 inbound subscribed (3.4)
    ('none', 'subscribed', 'none+approved', False),
    ('none+out', 'subscribed', 'none+out+approved', False),
    ('none+in', 'subscribed', 'from', True),
    ('none+out+in', 'subscribed', 'from+out', True),
    ('to', 'subscribed', 'to+approved', False),
    ('to+in', 'subscribed', 'both', True),
    ('from', 'subscribed', 'from', False),
    ('from+out', 'subscribed', 'from+out', False),
    ('both', 'subscribed', 'both', False),
    # A.2.2 outbound unsubscribe / A.3.2 inbound unsubscribe
    ('none', 'unsubscribe', 'none', False),
    ('none+out', 'unsubscribe', 'none', True),
    ('none+in', 'unsubscribe', 'none+in', False),
    ('none+out+in', 'unsubscribe', 'none+in', True),
    ('to', 'unsubscribe', 'none', True),
    ('to+in', 'unsubscribe', 'none+in', True),
    ('from', 'unsubscribe', 'from', False),
    ('from+out', 'unsubscribe', 'from', True),
    ('both', 'unsubscribe', 'from', True),
    # A.2.4 outbound unsubscribed / A.3.4 inbound unsubscribed
    ('none', 'unsubscribed', 'none', False),
    ('none+out', 'unsubscribed', 'none+out', False),
    ('none+in', 'unsubscribed', 'none', True),
    ('none+out+in', 'unsubscribed', 'none+out', True),
    ('to', 'unsubscribed', 'to', False),
    ('to+in', 'unsubscribed', 'to', True),
    ('from', 'unsubscribed', 'none', True),
    ('from+out', 'unsubscribed', 'none+out', True),
    ('both', 'unsubscribed', 'to', True),
]

# Presence that must accompany a cell besides the subscription stanza:
# A unsubscribes from a contact that has 'from' on A: B's server sends
# unavailable from B's resources (3.3.3); A cancels B's 'to' (3.2.2):
# A's server sends unavailable from A's resources; A approves (3.1.5):
# A's current presence goes to B.
A_GETS_UNAVAILABLE = {('to', 'unsubscribe'), ('to+in', 'unsubscribe'),
                      ('both', 'unsubscribe')}
B_GETS_UNAVAILABLE = {('from', 'unsubscribed'), ('from+out', 'unsubscribed'),
                      ('both', 'unsubscribed')}
B_GETS_AVAILABLE = {('none+in', 'subscribed'), ('none+out+in', 'subscribed'),
                    ('to+in', 'subscribed')}
# B's server answers A's repeated request itself (3.1.3 step 2); it may
# send B's presence along, which A may get.
AUTO_REPLY = {('to', 'subscribe'), ('to+in', 'subscribe'),
              ('both', 'subscribe')}


def strip_approved(state):
    return state[:-len('+approved')] if state.endswith('+approved') \
        else state


@pytest.mark.parametrize('start,event,after,delivered', APPENDIX_A,
                         ids=['%s-%s' % r[:2] for r in APPENDIX_A])
def test_appendix_a(im, start, event, after, delivered):
    assert set(STATE_PATHS) >= {start, strip_approved(after)}
    a, b = im(resource='a'), im(resource='b')
    settle(a, b)
    reach(a, b, start)
    b_start, b_after = MIRROR[start], MIRROR[strip_approved(after)]
    assert norm_view(roster_view(a, b.bare)) == state_view(start)
    assert norm_view(roster_view(b, a.bare)) == state_view(b_start)

    a_els, b_els = step(a, b, event)
    a_els += a.sync()

    # Rosters: as the table says, on both sides.
    assert norm_view(roster_view(a, b.bare)) == state_view(after), \
        'A: %s + outbound %s' % (start, event)
    assert norm_view(roster_view(b, a.bare)) == state_view(b_after), \
        'B: %s + inbound %s' % (b_start, event)
    # Pushes: one with the new view when what the client sees changed,
    # none otherwise.
    for who, els, old, new, peer in (
            ('A', a_els, start, after, b.bare),
            ('B', b_els, b_start, b_after, a.bare)):
        want = [] if state_view(old) == state_view(new) \
            else [state_view(new)]
        assert [norm_view(v) for v in push_views(els, peer)] == want, \
            '%s pushes: %s' % (who, kinds(els))
    # Delivery of the subscription stanza itself (A.2 Route? and A.3
    # Deliver?), nothing else of that kind on either side.
    want_b = [('presence', event, a.bare)] if delivered else []
    assert [k for k in kinds(sub_presences(b_els))] == want_b, kinds(b_els)
    assert sub_presences(a_els) == [], kinds(a_els)
    # Presence side effects.
    cell = (start, event)
    want_b_pres = []
    if cell in B_GETS_UNAVAILABLE:
        want_b_pres.append(('presence', 'unavailable', a.jid))
    if cell in B_GETS_AVAILABLE:
        want_b_pres.append(('presence', 'available', a.jid))
    got_b_pres = [k for k in kinds(presences(b_els))
                  if k[1] in ('available', 'unavailable')]
    assert got_b_pres == want_b_pres, kinds(b_els)
    want_a_pres = [('presence', 'unavailable', b.jid)] \
        if cell in A_GETS_UNAVAILABLE else []
    got_a_pres = [k for k in kinds(presences(a_els))
                  if k[1] in ('available', 'unavailable')]
    if cell in AUTO_REPLY:
        got_a_pres = [k for k in got_a_pres
                      if k != ('presence', 'available', b.jid)]
    assert got_a_pres == want_a_pres, kinds(a_els)
