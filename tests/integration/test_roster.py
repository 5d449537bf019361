"""test_roster.py -- RFC 6121 2: roster get, set, update and remove,
roster pushes to interested resources only (2.1.6), the error cases of
2.3.3, 2.4.3 and 2.5.3, rosters of other users (forbidden), roster
versioning (2.6, with the stream feature of 2.6.1) and the configurable
maximum roster size (modules: {roster: {max_items: N}}).

Raw-socket transcripts: the exact attributes matter here."""

import pytest

from xmpp_raw import q, tostr
from im_helpers import (GROUP, ITEM, NS_PREAPPROVAL, NS_ROSTER, NS_ROSTERVER,
                        QUERY, error_of, im, is_push, item_xml, push_item,
                        pushes, settle)

assert im  # a fixture, used by name

LONG = 'x' * 1024   # over the server's 1023-byte limit for names and groups


def result_only(c, r):
    """Asserts r is an empty IQ result addressed to c (RFC 6121 2.3.2:
    the result of a roster set carries no payload)."""
    assert r.get('type') == 'result', tostr(r)
    assert len(r) == 0, 'roster set result with a payload: ' + tostr(r)
    assert r.get('to') in (None, c.jid), tostr(r)


def check_push(c, push, jid):
    """RFC 6121 2.1.6: a push is an iq set with no 'from' (or the user's
    bare JID), to the resource, holding exactly one item. Returns the
    item."""
    assert push.get('from') in (None, c.bare), tostr(push)
    assert push.get('to') == c.jid, tostr(push)
    assert push.get('id'), tostr(push)
    item = push_item(push)
    assert item.get('jid') == jid, tostr(push)
    return item


def groups(item):
    return sorted(g.text or '' for g in item.findall(GROUP))


def one_push(c, jid, els=None):
    els = c.sync() if els is None else els
    ps = pushes(els)
    assert len(ps) == 1, 'expected one roster push for %s, got %s' % (
        c.jid, [tostr(e) for e in els])
    assert len(els) == 1, [tostr(e) for e in els]
    return check_push(c, ps[0], jid)


def set_and_collect(c, jid, **kw):
    """Roster set from c; returns (reply, push item on c)."""
    iid = c.iq('set', item_xml(jid, **kw))
    els = c.sync()
    replies = [e for e in els if e.get('id') == iid]
    assert len(replies) == 1, [tostr(e) for e in els]
    rest = [e for e in els if e.get('id') != iid]
    r = replies[0]
    if r.get('type') != 'result':
        return r, None
    return r, one_push(c, jid, rest)


def contact(server, name='contact'):
    return server.jid(server.new_user(name)[0])


# -- get ----------------------------------------------------------------------

def test_get_empty_roster(im):
    c = im(roster=False, available=False)
    r = c.roster_get()
    assert r.get('type') == 'result', tostr(r)
    assert r.get('to') in (None, c.jid), tostr(r)
    assert r.get('from') in (None, c.bare), tostr(r)
    qe = r.find(QUERY)
    assert qe is not None and len(qe) == 0, tostr(r)


def test_get_with_ver_attribute(im):
    """RFC 6121 2.6.3: a client that asks with 'ver' (empty: no cache)
    gets the whole roster with the current version."""
    c = im(roster=False, available=False)
    r = c.roster_get(ver='')
    qe = r.find(QUERY)
    assert r.get('type') == 'result' and qe is not None, tostr(r)
    assert qe.get('ver'), 'no ver in a versioned result: ' + tostr(r)
    assert len(qe) == 0


def test_get_addressed_to_own_bare_jid(im):
    c = im(roster=False, available=False)
    r = c.roster_get(to=c.bare)
    assert r.get('type') == 'result' and r.find(QUERY) is not None, tostr(r)


# -- set, pushes --------------------------------------------------------------

def test_set_result_and_push_to_interested_resources(server, im):
    a1 = im(resource='one')
    user, pw = a1.user, a1.pw
    a2 = im(user, pw, resource='two')                    # fetched the roster
    a3 = im(user, pw, resource='three', roster=False)    # never did
    a4 = im(user, pw, resource='four', roster=False, available=False)
    settle(a1, a2, a3, a4)
    b = contact(server)
    iid = a1.iq('set', item_xml(b, name='Benvolio',
                                groups=('Friends', 'Verona')))
    els = a1.sync()
    reply = [e for e in els if e.get('id') == iid]
    assert len(reply) == 1, [tostr(e) for e in els]
    result_only(a1, reply[0])
    # RFC 6121 2.3.2: the push goes to every interested resource,
    # including the one that sent the set.
    for c in (a1, a2):
        rest = [e for e in (els if c is a1 else c.sync())
                if e.get('id') != iid]
        item = one_push(c, b, rest)
        assert item.get('name') == 'Benvolio'
        assert item.get('subscription') == 'none', tostr(item)
        assert item.get('ask') is None and item.get('approved') is None
        assert groups(item) == ['Friends', 'Verona']
    # A resource that never asked for the roster is not interested.
    a3.expect_quiet('no push to a resource that never fetched the roster')
    a4.expect_quiet('no push to a resource that never fetched the roster')
    # And the roster now holds the item.
    items = a3.roster()
    assert list(items) == [b]
    assert items[b].get('name') == 'Benvolio'
    assert groups(items[b]) == ['Friends', 'Verona']
    assert items[b].get('subscription') == 'none'


def test_push_reaches_resource_after_it_fetches(server, im):
    a1 = im()
    a2 = im(a1.user, a1.pw, roster=False)
    settle(a1, a2)
    set_and_collect(a1, contact(server))
    a2.expect_quiet('not interested yet')
    assert a2.roster_get().get('type') == 'result'
    b = contact(server)
    set_and_collect(a1, b)
    one_push(a2, b)


def test_set_without_name_or_groups(server, im):
    c = im()
    b = contact(server)
    r, item = set_and_collect(c, b)
    result_only(c, r)
    assert item.get('name') is None and groups(item) == []
    assert item.get('subscription') == 'none'


def test_client_subscription_ask_approved_ignored(server, im):
    """RFC 6121 2.1.2.1, 2.1.2.2, 2.1.2.5: the server ignores 'approved',
    'ask' and a 'subscription' other than remove in a roster set."""
    c = im()
    b = contact(server)
    r, item = set_and_collect(
        c, b, extra_attrs="subscription='both' ask='subscribe' "
                          "approved='true'")
    result_only(c, r)
    assert item.get('subscription') == 'none', tostr(item)
    assert item.get('ask') is None, tostr(item)
    assert item.get('approved') is None, tostr(item)
    got = c.roster()[b]
    assert (got.get('subscription'), got.get('ask'),
            got.get('approved')) == ('none', None, None), tostr(got)


def test_update_item(server, im):
    """RFC 6121 2.4: a set for an existing item replaces name and groups
    (groups not repeated are dropped)."""
    c = im()
    other = im(c.user, c.pw)
    settle(c, other)
    b = contact(server)
    set_and_collect(c, b, name='Old', groups=('G1', 'G2'))
    other.sync()
    r, item = set_and_collect(c, b, name='New', groups=('G3',))
    result_only(c, r)
    assert item.get('name') == 'New' and groups(item) == ['G3']
    item2 = one_push(other, b)
    assert item2.get('name') == 'New' and groups(item2) == ['G3']
    r, item = set_and_collect(c, b)
    assert item.get('name') is None and groups(item) == []
    items = c.roster()
    assert list(items) == [b]
    assert items[b].get('name') is None and groups(items[b]) == []


def test_unicode_and_escaped_name_and_group(server, im):
    c = im()
    b = contact(server)
    name, group = 'R\u00f6meo & <J\u00fcliet> "\'', 'F\u00fcr \u4e2d & <x>'
    r, item = set_and_collect(c, b, name=name, groups=(group,))
    result_only(c, r)
    assert item.get('name') == name and groups(item) == [group]
    got = c.roster()[b]
    assert got.get('name') == name and groups(got) == [group]


def test_remove_item(server, im):
    c = im()
    other = im(c.user, c.pw)
    quiet = im(c.user, c.pw, roster=False)
    settle(c, other, quiet)
    b, keep = contact(server), contact(server)
    set_and_collect(c, b, name='B')
    set_and_collect(c, keep)
    other.sync()
    iid = c.iq('set', "<query xmlns='%s'><item jid='%s' "
               "subscription='remove'/></query>" % (NS_ROSTER, b))
    els = c.sync()
    reply = [e for e in els if e.get('id') == iid]
    assert len(reply) == 1
    result_only(c, reply[0])
    # RFC 6121 2.5.2: a push with subscription='remove' to each
    # interested resource.
    for cl, got in ((c, [e for e in els if e.get('id') != iid]),
                    (other, None)):
        item = one_push(cl, b, got)
        assert item.get('subscription') == 'remove', tostr(item)
    quiet.expect_quiet('remove push to an uninterested resource')
    assert list(c.roster()) == [keep]


def test_remove_unknown_item(server, im):
    """RFC 6121 2.5.3: item-not-found."""
    c = im()
    r = c.roster_remove(contact(server))
    assert r.get('type') == 'error', tostr(r)
    assert error_of(r) == ('cancel', 'item-not-found'), tostr(r)
    c.expect_quiet('no push after a failed remove')


def test_remove_twice(server, im):
    c = im()
    b = contact(server)
    set_and_collect(c, b)
    assert c.roster_remove(b).get('type') == 'result'
    c.sync()
    r = c.roster_remove(b)
    assert error_of(r) == ('cancel', 'item-not-found'), tostr(r)


# -- errors (RFC 6121 2.3.3) --------------------------------------------------

def two_items(jid):
    return ("<query xmlns='%s'><item jid='a1@%s'/><item jid='%s'/></query>"
            % (NS_ROSTER, jid.split('@')[1], jid))


ERRORS = [
    # (id, payload builder (own bare JID, a contact) -> xml, type, cond)
    ('two-items', lambda me, b: two_items(b), 'modify', 'bad-request'),
    ('no-item', lambda me, b: "<query xmlns='%s'/>" % NS_ROSTER,
     'modify', 'bad-request'),
    ('no-jid', lambda me, b: item_xml(None, name='x'),
     'modify', 'bad-request'),
    # RFC 6120 8.3.3.8: an address that is not a JID.
    ('bad-jid-two-at', lambda me, b: item_xml('a@b@localhost'),
     'modify', 'jid-malformed'),
    ('bad-jid-empty', lambda me, b: item_xml(''),
     'modify', 'jid-malformed'),
    ('bad-jid-empty-node', lambda me, b: item_xml('@localhost'),
     'modify', 'jid-malformed'),
    ('bad-jid-space', lambda me, b: item_xml('a b@localhost'),
     'modify', 'jid-malformed'),
    ('own-jid', lambda me, b: item_xml(me), 'cancel', 'not-allowed'),
    ('duplicate-group', lambda me, b: item_xml(b, groups=('G', 'G')),
     'modify', 'bad-request'),
    ('empty-group', lambda me, b: item_xml(b, groups=('',)),
     'modify', 'not-acceptable'),
    ('long-group', lambda me, b: item_xml(b, groups=(LONG,)),
     'modify', 'not-acceptable'),
    ('long-name', lambda me, b: item_xml(b, name=LONG),
     'modify', 'not-acceptable'),
]


@pytest.mark.parametrize('payload,etype,cond',
                         [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_set_errors(server, im, payload, etype, cond):
    c = im()
    other = im(c.user, c.pw)
    settle(c, other)
    b = contact(server)
    iid = c.iq('set', payload(c.bare, b))
    els = c.sync()
    assert len(els) == 1 and els[0].get('id') == iid, \
        'expected only the error, got %s' % [tostr(e) for e in els]
    r = els[0]
    assert r.get('type') == 'error', tostr(r)
    assert error_of(r) == (etype, cond), tostr(r)
    other.expect_quiet('no push after a refused set')
    assert c.roster() == {}, 'a refused set changed the roster'


def test_own_full_jid_not_allowed(im):
    c = im()
    r = c.roster_set(c.jid)
    assert r.get('type') == 'error', tostr(r)
    # A full JID in a roster item is wrong on two counts: either refusal.
    assert error_of(r)[1] in ('not-allowed', 'bad-request'), tostr(r)
    assert c.roster() == {}


def test_get_and_set_other_users_roster_forbidden(server, im):
    """RFC 6121 2.3.3 (and 2.1.3): only the user's own resources may
    read or change the roster."""
    a, b = im(), im()
    victim_item = contact(server)
    set_and_collect(b, victim_item, name='secret')
    r = a.roster_get(to=b.bare)
    assert r.get('type') == 'error', 'roster of another user leaked: ' \
        + tostr(r)
    assert error_of(r) == ('auth', 'forbidden'), tostr(r)
    assert r.find(QUERY) is None or len(r.find(QUERY)) == 0, tostr(r)
    r = a.roster_set(server.jid('mallory'), to=b.bare)
    assert error_of(r) == ('auth', 'forbidden'), tostr(r)
    b.expect_quiet('no push for a forbidden set')
    assert list(b.roster()) == [victim_item]
    assert a.roster() == {}


# -- versioning (RFC 6121 2.6) ------------------------------------------------

def test_versioning_stream_feature(im):
    c = im(roster=False, available=False)
    assert c.features.find(q(NS_ROSTERVER, 'ver')) is not None, \
        tostr(c.features)


def test_preapproval_stream_feature(im):
    c = im(roster=False, available=False)
    assert c.features.find(q(NS_PREAPPROVAL, 'sub')) is not None, \
        tostr(c.features)


def ver_of(r):
    qe = r.find(QUERY)
    assert qe is not None, tostr(r)
    return qe.get('ver')


def test_versioning_flow(server, im):
    c = im(roster=False, available=False)
    r = c.roster_get(ver='')
    v0 = ver_of(r)
    assert v0 is not None
    b1, b2 = contact(server), contact(server)
    iid = c.iq('set', item_xml(b1, name='one'))
    els = c.sync()
    p = [e for e in els if is_push(e)]
    assert len(p) == 1, [tostr(e) for e in els]
    v1 = p[0].find(QUERY).get('ver')
    assert v1 and v1 != v0, 'push ver %r after %r' % (v1, v0)
    assert [e for e in els if e.get('id') == iid][0].get('type') == 'result'
    # Current version: an empty result, no query at all (2.6.3).
    r = c.roster_get(ver=v1)
    assert r.get('type') == 'result', tostr(r)
    assert len(r) == 0, 'unchanged roster sent again: ' + tostr(r)
    # An older version: the whole roster with the current version.
    r = c.roster_get(ver=v0)
    assert ver_of(r) == v1
    assert [i.get('jid') for i in r.find(QUERY).findall(ITEM)] == [b1]
    # An unknown version: the whole roster.
    r = c.roster_get(ver='no-such-version')
    assert ver_of(r) == v1 and len(r.find(QUERY)) == 1
    # Each change moves the version on; a removal too.
    set_and_collect(c, b2)
    r = c.roster_get(ver='')
    v2 = ver_of(r)
    assert v2 not in (v0, v1)
    c.iq('set', "<query xmlns='%s'><item jid='%s' subscription='remove'/>"
         "</query>" % (NS_ROSTER, b1))
    p = pushes(c.sync())
    assert len(p) == 1
    v3 = p[0].find(QUERY).get('ver')
    assert v3 not in (v0, v1, v2)
    r = c.roster_get(ver=v3)
    assert len(r) == 0, tostr(r)
    r = c.roster_get(ver=v2)
    assert ver_of(r) == v3
    assert [i.get('jid') for i in r.find(QUERY).findall(ITEM)] == [b2]


def test_version_survives_relogin(server, im):
    c = im()
    set_and_collect(c, contact(server))
    v = ver_of(c.roster_get(ver=''))
    c.close()
    d = im(c.user, c.pw, roster=False)
    r = d.roster_get(ver=v)
    assert r.get('type') == 'result' and len(r) == 0, tostr(r)
    # A failed set does not move the version.
    d.roster_set(d.bare)
    assert len(d.roster_get(ver=v)) == 0


# -- maximum size -------------------------------------------------------------

def test_max_items(make_server, cafile, im):
    srv = make_server(modules={'roster': {'max_items': 3}}).start()
    c = im(srv=srv)
    contacts = [srv.jid(srv.new_user('max')[0]) for _ in range(4)]
    for b in contacts[:3]:
        result_only(c, c.roster_set(b))
    c.sync()
    r = c.roster_set(contacts[3], name='one too many')
    assert r.get('type') == 'error', tostr(r)
    assert error_of(r) == ('cancel', 'not-allowed'), tostr(r)
    c.expect_quiet('no push for a refused set')
    assert sorted(c.roster()) == sorted(contacts[:3])
    # Updating an item of a full roster is fine; so is adding after a
    # removal.
    result_only(c, c.roster_set(contacts[0], name='renamed'))
    result_only(c, c.roster_remove(contacts[1]))
    result_only(c, c.roster_set(contacts[3]))
    assert sorted(c.roster()) == sorted([contacts[0]] + contacts[2:])
