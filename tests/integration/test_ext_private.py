"""test_ext_private.py -- XEP-0049 Private XML Storage (mod_private):
storage keyed by namespace, several namespaces per set, several elements
of one namespace, the empty element when nothing is stored, access only
for the account itself (forbidden), the error rules of XEP-0049 2.3
(not-acceptable for no child and for reserved namespaces, bad-request for
a get naming two), and the limits."""

from ext_helpers import (MINIMAL_MODULES, assert_error, disco_info,
                         features, login, result_child, start_with_modules)
from xmpp_raw import q, tostr

NS_PRIVATE = 'jabber:iq:private'
EXODUS = "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick>" \
    "</exodus>"


def query(inner=''):
    return "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner)


def pset(c, inner, to=None):
    return c.query('set', query(inner), to=to)


def pget(c, inner, to=None):
    """The children of the result's <query/>."""
    r = c.query('get', query(inner), to=to)
    return list(result_child(r, NS_PRIVATE, 'query'))


def test_store_and_retrieve(server, login):
    # XEP-0049 2.3, examples 1 and 2.
    a = login(server)
    r = pset(a, EXODUS)
    assert r.get('type') == 'result' and len(r) == 0, tostr(r)
    kids = pget(a, "<exodus xmlns='exodus:prefs'/>")
    assert len(kids) == 1, kids
    assert kids[0].tag == q('exodus:prefs', 'exodus')
    assert kids[0].findtext(q('exodus:prefs', 'defaultnick')) == 'Hamlet'
    # To one's own bare JID: the same storage.
    kids = pget(a, "<exodus xmlns='exodus:prefs'/>", to=a.bare)
    assert kids[0].findtext(q('exodus:prefs', 'defaultnick')) == 'Hamlet'


def test_nothing_stored_returns_empty_element(server, login):
    a = login(server)
    kids = pget(a, "<storage xmlns='storage:bookmarks'><x/></storage>")
    assert len(kids) == 1 and kids[0].tag == q('storage:bookmarks',
                                               'storage')
    assert len(kids[0]) == 0 and not kids[0].attrib, tostr(kids[0])


def test_namespaces_stored_individually(server, login):
    a = login(server)
    r = pset(a, "<a xmlns='urn:one'><v>1</v></a><b xmlns='urn:two'>"
                "<v>2</v></b>")
    assert r.get('type') == 'result', tostr(r)
    one = pget(a, "<a xmlns='urn:one'/>")
    two = pget(a, "<b xmlns='urn:two'/>")
    assert [e.tag for e in one] == [q('urn:one', 'a')]
    assert one[0].findtext(q('urn:one', 'v')) == '1'
    assert [e.tag for e in two] == [q('urn:two', 'b')]
    assert two[0].findtext(q('urn:two', 'v')) == '2'
    # Replacing one leaves the other.
    pset(a, "<a xmlns='urn:one'><v>3</v></a>")
    assert pget(a, "<a xmlns='urn:one'/>")[0].findtext(q('urn:one', 'v')) \
        == '3'
    assert pget(a, "<b xmlns='urn:two'/>")[0].findtext(q('urn:two', 'v')) \
        == '2'


def test_several_elements_of_one_namespace(server, login):
    a = login(server)
    pset(a, "<x xmlns='urn:m' n='1'/><y xmlns='urn:m' n='2'>t</y>")
    kids = pget(a, "<x xmlns='urn:m'/>")
    assert [(e.tag, e.get('n')) for e in kids] == [
        (q('urn:m', 'x'), '1'), (q('urn:m', 'y'), '2')]
    assert kids[1].text == 't'


def test_special_characters_survive(server, login):
    a = login(server)
    pset(a, "<p xmlns='urn:chars' a='&apos;&lt;&amp;'>"
            "\u00e9\u263a &lt;tag&gt;</p>")
    p = pget(a, "<p xmlns='urn:chars'/>")[0]
    assert p.get('a') == "'<&" and p.text == '\u00e9\u263a <tag>'


def test_other_account_forbidden(server, login):
    a, b = login(server), login(server)
    pset(a, EXODUS)
    assert_error(b.query('get', query("<exodus xmlns='exodus:prefs'/>"),
                         to=a.bare), 'auth', 'forbidden')
    assert_error(pset(b, EXODUS.replace('Hamlet', 'Macbeth'), to=a.bare),
                 'auth', 'forbidden')
    kids = pget(a, "<exodus xmlns='exodus:prefs'/>")
    assert kids[0].findtext(q('exodus:prefs', 'defaultnick')) == 'Hamlet'


def test_no_child_not_acceptable(server, login):
    a = login(server)
    for t in ('get', 'set'):
        assert_error(a.query(t, query()), 'modify', 'not-acceptable')
        assert_error(a.query(t, query('text only')), 'modify',
                     'not-acceptable')


def test_get_two_namespaces_bad_request(server, login):
    a = login(server)
    r = a.query('get', query("<a xmlns='urn:one'/><b xmlns='urn:two'/>"))
    assert_error(r, 'modify', 'bad-request')


def test_reserved_namespaces_refused(server, login):
    a = login(server)
    for el in ("<inherits/>",                       # jabber:iq:private
               "<c xmlns='jabber:client'/>",
               "<s xmlns='jabber:server'/>",
               "<p xmlns='jabber:iq:private'/>"):
        for t in ('get', 'set'):
            assert_error(a.query(t, query(el)), 'modify', 'not-acceptable')
    # A set mixing a good and a reserved namespace stores nothing.
    r = pset(a, "<ok xmlns='urn:ok'><v/></ok><bad/>")
    assert_error(r, 'modify', 'not-acceptable')
    assert len(pget(a, "<ok xmlns='urn:ok'/>")[0]) == 0


def test_too_large_refused(server, login):
    a = login(server)
    pset(a, "<big xmlns='urn:big'>small</big>")
    r = pset(a, "<other xmlns='urn:other'/><big xmlns='urn:big'>%s</big>"
             % ('x' * 70000))
    assert_error(r, 'modify', 'not-acceptable')
    assert pget(a, "<big xmlns='urn:big'/>")[0].text == 'small'
    # Checked before anything is written: the other namespace neither.
    assert len(pget(a, "<other xmlns='urn:other'/>")[0]) == 0 and \
        pget(a, "<other xmlns='urn:other'/>")[0].text is None


def test_max_namespaces(make_server, login):
    s = start_with_modules(make_server, {
        'disco': None, 'private': {'max_namespaces': 2}})
    a = login(s)
    assert pset(a, "<a xmlns='urn:1'/><b xmlns='urn:2'/>").get('type') \
        == 'result'
    assert_error(pset(a, "<c xmlns='urn:3'/>"), 'modify', 'not-acceptable')
    # Replacing a stored namespace is still fine.
    assert pset(a, "<a xmlns='urn:1'>again</a>").get('type') == 'result'
    assert pget(a, "<a xmlns='urn:1'/>")[0].text == 'again'


def test_feature_in_disco(server, login):
    assert NS_PRIVATE in features(disco_info(login(server)))


def test_absent_without_module(make_server, login):
    s = start_with_modules(make_server, MINIMAL_MODULES)
    a = login(s)
    assert NS_PRIVATE not in features(disco_info(a))
    assert_error(a.query('get', query("<a xmlns='urn:1'/>")), 'cancel',
                 'service-unavailable')
    assert_error(pset(a, "<a xmlns='urn:1'/>"), 'cancel',
                 'service-unavailable')
