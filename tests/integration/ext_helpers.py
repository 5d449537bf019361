"""ext_helpers.py -- shared pieces of the tests of the small server
extensions (test_ext_*.py: XEP-0202 time, XEP-0012 last activity,
XEP-0054 vCard, XEP-0049 private storage, XEP-0157 contact addresses,
XEP-0115 server caps): a login factory, disco#info helpers, a clean
logout, and servers with a chosen module list.
"""

import pytest

from xmpp_raw import (NS_CLIENT, NS_DISCO_INFO, NS_PING, RawClient,
                      StreamClosed, Timeout, q, stanza_error, tostr)

IQ = q(NS_CLIENT, 'iq')
NS_DATA = 'jabber:x:data'
NS_CAPS = 'http://jabber.org/protocol/caps'

# Enough to log in and look at disco#info: the module under test is left
# out to show that its feature and its IQs go with it.
MINIMAL_MODULES = ['disco', 'ping']


def modules_config(mods):
    """The `modules:` YAML for Server(extra=...): mods is a list of names
    or a dict name -> {option: value} (None for no options)."""
    if isinstance(mods, (list, tuple)):
        return 'modules: [%s]\n' % ', '.join(mods)
    lines = ['modules:']
    for name, opts in mods.items():
        if not opts:
            lines.append('  %s: null' % name)
        else:
            body = ', '.join('%s: %s' % (k, _yaml_scalar(v))
                             for k, v in opts.items())
            lines.append('  %s: {%s}' % (name, body))
    return '\n'.join(lines) + '\n'


def _yaml_scalar(v):
    if isinstance(v, str):
        return "'%s'" % v.replace("'", "''")
    return str(v)


def start_with_modules(make_server, mods):
    """A fresh ternd loading only mods (see modules_config)."""
    return make_server(extra=modules_config(mods)).start()


def connect(server, cafile, user=None, pw=None, resource='r'):
    """A bound RawClient for a fresh (or the given) account; the account's
    name and password are kept on it as .user and .pw."""
    if user is None:
        user, pw = server.new_user('ext')
    c = RawClient(server.port, cafile=cafile)
    c.login(user, pw, resource=resource)
    c.user, c.pw = user, pw
    c.bare = server.jid(user)
    return c


@pytest.fixture
def login(cafile):
    """Factory: login(server, user=None, pw=None, resource='r')."""
    made = []

    def make(server, user=None, pw=None, resource='r'):
        c = connect(server, cafile, user, pw, resource)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def logout(c, timeout=3.0):
    """Ends c's stream and waits until the server has closed it: by then
    the server has unbound the session (its hooks ran)."""
    c.send('</stream:stream>', ignore_errors=True)
    try:
        while True:
            c.recv(timeout=timeout)
    except StreamClosed:
        pass
    c.close()


def sync(c):
    """Round trip through the server (XEP-0199 ping): everything c sent
    before has been handled."""
    r = c.query('get', "<ping xmlns='%s'/>" % NS_PING, to='localhost')
    assert r.get('type') == 'result', tostr(r)


def result_child(r, ns, name):
    """The payload of a result IQ, asserting it is one."""
    assert r.tag == IQ and r.get('type') == 'result', tostr(r)
    el = r.find(q(ns, name))
    assert el is not None, 'no <%s xmlns=%s/> in %s' % (name, ns, tostr(r))
    return el


def assert_error(r, type_, cond):
    assert r.tag == IQ and r.get('type') == 'error', tostr(r)
    assert stanza_error(r) == (type_, cond), tostr(r)


def disco_info(c, to='localhost', node=None):
    """The <query/> of a successful disco#info result."""
    attr = '' if node is None else " node='%s'" % node
    r = c.query('get', "<query xmlns='%s'%s/>" % (NS_DISCO_INFO, attr), to=to)
    return result_child(r, NS_DISCO_INFO, 'query')


def features(query):
    return [f.get('var') for f in query.findall(q(NS_DISCO_INFO, 'feature'))]


def forms(query):
    """{FORM_TYPE: {var: [values]}} of the XEP-0128 forms in query."""
    out = {}
    for x in query.findall(q(NS_DATA, 'x')):
        fields = {}
        for f in x.findall(q(NS_DATA, 'field')):
            fields[f.get('var')] = [v.text or ''
                                    for v in f.findall(q(NS_DATA, 'value'))]
        ft = fields.pop('FORM_TYPE', [None])[0]
        assert ft not in out, 'two forms with FORM_TYPE %s' % ft
        out[ft] = fields
    return out


__all__ = ['IQ', 'NS_DATA', 'NS_CAPS', 'MINIMAL_MODULES', 'modules_config',
           'start_with_modules', 'connect', 'login', 'logout', 'sync',
           'result_child', 'assert_error', 'disco_info', 'features', 'forms',
           'Timeout']
