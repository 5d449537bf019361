"""muc_helpers.py -- raw-stanza helpers for the XEP-0045 tests."""

import pytest

from xmpp_raw import NS_CLIENT, RawClient, q, tostr

NS_MUC = 'http://jabber.org/protocol/muc'
NS_MUC_USER = NS_MUC + '#user'
NS_MUC_ADMIN = NS_MUC + '#admin'
NS_MUC_OWNER = NS_MUC + '#owner'
NS_DATA = 'jabber:x:data'
NS_DELAY = 'urn:xmpp:delay'
NS_OCC_ID = 'urn:xmpp:occupant-id:0'
MUC = 'conference.localhost'

_rooms = [0]


def new_room(prefix='room'):
    _rooms[0] += 1
    import uuid
    return '%s%d%s@%s' % (prefix, _rooms[0], uuid.uuid4().hex[:6], MUC)


def is_presence(el):
    return el.tag == q(NS_CLIENT, 'presence')


def is_message(el):
    return el.tag == q(NS_CLIENT, 'message')


def statuses(el):
    x = el.find(q(NS_MUC_USER, 'x'))
    if x is None:
        return set()
    return {int(s.get('code')) for s in x.findall(q(NS_MUC_USER, 'status'))}


def item(el):
    x = el.find(q(NS_MUC_USER, 'x'))
    return None if x is None else x.find(q(NS_MUC_USER, 'item'))


def error_cond(el):
    err = el.find(q(NS_CLIENT, 'error'))
    if err is None:
        return None
    for c in err:
        if not c.tag.endswith('}text'):
            return c.tag.split('}', 1)[1]
    return None


def join(c, room, nick, password=None, history=None, extra=''):
    """Sends the entering presence; returns (stanzas received up to and
    including the subject message, or up to the error presence)."""
    inner = ''
    if password is not None:
        inner += '<password>%s</password>' % password
    if history is not None:
        inner += '<history %s/>' % ' '.join(
            "%s='%s'" % kv for kv in history.items())
    c.send("<presence to='%s/%s'><x xmlns='%s'>%s</x>%s</presence>"
           % (room, nick, NS_MUC, inner, extra))
    got = []
    while True:
        el = c.recv()
        got.append(el)
        if is_presence(el) and el.get('type') == 'error':
            return got
        if is_message(el) and el.find(q(NS_CLIENT, 'subject')) is not None \
                and el.find(q(NS_CLIENT, 'body')) is None:
            return got


def join_ok(c, room, nick, **kw):
    got = join(c, room, nick, **kw)
    last = got[-1]
    assert not (is_presence(last) and last.get('type') == 'error'), \
        'join refused: ' + tostr(last)
    selfp = [e for e in got if is_presence(e) and 110 in statuses(e)]
    assert len(selfp) == 1, [tostr(e) for e in got]
    return got


def join_error(c, room, nick, **kw):
    got = join(c, room, nick, **kw)
    last = got[-1]
    assert is_presence(last) and last.get('type') == 'error', \
        [tostr(e) for e in got]
    return error_cond(last)


def create_instant(c, room, nick):
    """Creates room with c as owner and accepts the default config."""
    got = join_ok(c, room, nick)
    selfp = [e for e in got if is_presence(e) and 110 in statuses(e)][0]
    assert 201 in statuses(selfp)
    res = c.query('set', "<query xmlns='%s'><x xmlns='%s' type='submit'/>"
                  "</query>" % (NS_MUC_OWNER, NS_DATA), to=room)
    assert res.get('type') == 'result', tostr(res)
    return got


def configure(c, room, fields):
    """Submits a muc#roomconfig form with the given fields."""
    body = "<field var='FORM_TYPE'><value>" \
           "http://jabber.org/protocol/muc#roomconfig</value></field>"
    for k, v in fields.items():
        body += "<field var='%s'><value>%s</value></field>" % (k, v)
    return c.query('set', "<query xmlns='%s'><x xmlns='%s' type='submit'>%s"
                   "</x></query>" % (NS_MUC_OWNER, NS_DATA, body), to=room)


def groupchat(c, room, body, id_=None):
    c.send("<message to='%s' type='groupchat'%s><body>%s</body></message>"
           % (room, " id='%s'" % id_ if id_ else '', body))


def wait_message(c, body=None, timeout=None):
    return c.wait_for(lambda e: is_message(e) and (
        body is None or e.findtext(q(NS_CLIENT, 'body')) == body),
        timeout=timeout, what='message %r' % body)


def wait_presence(c, frm, pred=lambda e: True, timeout=None):
    return c.wait_for(lambda e: is_presence(e) and e.get('from') == frm
                      and pred(e), timeout=timeout,
                      what='presence from ' + frm)


def admin(c, room, items, type_='set'):
    return c.query(type_, "<query xmlns='%s'>%s</query>"
                   % (NS_MUC_ADMIN, items), to=room)


@pytest.fixture
def users(server, cafile):
    """Factory of logged-in, available raw clients (fresh accounts); the
    MUC test modules import it."""
    made = []

    def make(resource='r'):
        u, p = server.new_user()
        c = RawClient(server.port, cafile=cafile)
        c.login(u, p, resource=resource)
        # available, as clients are (invitations go to the bare JID)
        c.send('<presence/>')
        c.wait_for(lambda e: is_presence(e) and e.get('from') == c.jid)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()
