"""test_ext_caps.py -- XEP-0115 capabilities of the server (mod_caps,
mod_disco): the <c/> stream feature after authentication, its 'ver'
equal to what a client computes from the server's real disco#info (with
an independent implementation here, checked against the XEP's own
examples, and with slixmpp's), and disco#info to node#ver (XEP-0115
6.2)."""

import base64
import hashlib
import xml.etree.ElementTree as ET

import pytest

import xmpp_slix
from ext_helpers import (MINIMAL_MODULES, NS_CAPS, NS_DATA, assert_error,
                         disco_info, features, forms, login,
                         start_with_modules)
from xmpp_raw import NS_DISCO_INFO, RawClient, q, tostr
from xmpp_slix import run

NODE = 'https://tern.example/caps'
XML_LANG = '{http://www.w3.org/XML/1998/namespace}lang'


def caps_ver(query):
    """XEP-0115 5.1, written from the XEP: base64(sha1(S))."""
    ids = sorted((i.get('category'), i.get('type'), i.get(XML_LANG) or '',
                  i.get('name') or '')
                 for i in query.findall(q(NS_DISCO_INFO, 'identity')))
    s = ''.join('%s/%s/%s/%s<' % i for i in ids)
    s += ''.join(f + '<' for f in sorted(features(query)))
    fs = []
    for x in query.findall(q(NS_DATA, 'x')):
        fields = {}
        ftype = None
        for f in x.findall(q(NS_DATA, 'field')):
            vals = [v.text or '' for v in f.findall(q(NS_DATA, 'value'))]
            if f.get('var') == 'FORM_TYPE':
                if f.get('type') == 'hidden':
                    ftype = vals[0]
            elif f.get('var'):
                fields[f.get('var')] = vals
        if ftype is not None:
            fs.append((ftype, fields))
    for ftype, fields in sorted(fs, key=lambda t: t[0]):
        s += ftype + '<'
        for var in sorted(fields):
            s += var + '<' + ''.join(v + '<' for v in sorted(fields[var]))
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def test_reference_implementation_matches_xep():
    simple = ET.fromstring(
        "<query xmlns='%s'><identity category='client' name='Exodus 0.9.1' "
        "type='pc'/><feature var='http://jabber.org/protocol/caps'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='http://jabber.org/protocol/muc'/></query>"
        % NS_DISCO_INFO)
    assert caps_ver(simple) == 'QgayPKawpkPSDYmwT/WM94uAlu0='
    complex_ = ET.fromstring(
        "<query xmlns='%s'><identity xml:lang='en' category='client' "
        "name='Psi 0.11' type='pc'/><identity xml:lang='el' "
        "category='client' name='\u03a8 0.11' type='pc'/>"
        "<feature var='http://jabber.org/protocol/caps'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='http://jabber.org/protocol/muc'/>"
        "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' "
        "type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value>"
        "</field><field var='ip_version' type='text-multi'><value>ipv4"
        "</value><value>ipv6</value></field><field var='os'><value>Mac"
        "</value></field><field var='os_version'><value>10.5.1</value>"
        "</field><field var='software'><value>Psi</value></field>"
        "<field var='software_version'><value>0.11</value></field></x>"
        "</query>" % NS_DISCO_INFO)
    assert caps_ver(complex_) == 'q07IKJEyjvHSyhy//CH0CxmKi8w='


def advertised(c):
    """The <c/> of the features c saw after authentication."""
    els = c.features.findall(q(NS_CAPS, 'c'))
    assert len(els) == 1, tostr(c.features)
    return els[0]


def test_caps_feature_matches_disco(server, login):
    c = login(server)
    cap = advertised(c)
    assert cap.get('hash') == 'sha-1' and cap.get('node') == NODE, tostr(cap)
    info = disco_info(c)
    assert NS_CAPS in features(info)
    assert cap.get('ver') == caps_ver(info), tostr(info)


def test_no_caps_before_authentication(server, cafile):
    with RawClient(server.port, cafile=cafile) as c:
        c.open_stream()
        assert c.features.find(q(NS_CAPS, 'c')) is None
        c.starttls()
        assert c.features.find(q(NS_CAPS, 'c')) is None


def test_node_ver_returns_same_info(server, login):
    c = login(server)
    ver = advertised(c).get('ver')
    plain = disco_info(c)
    noded = disco_info(c, node='%s#%s' % (NODE, ver))
    assert noded.get('node') == '%s#%s' % (NODE, ver), tostr(noded)
    strip = lambda e: [ET.tostring(k) for k in e]  # noqa: E731
    assert strip(noded) == strip(plain)
    assert caps_ver(noded) == ver


@pytest.mark.parametrize('node', ['%s#AAAAAAAAAAAAAAAAAAAAAAAAAAA=' % NODE,
                                  NODE, 'urn:other#x', ''])
def test_other_nodes_not_found(server, login, node):
    c = login(server)
    r = c.query('get', "<query xmlns='%s' node='%s'/>" % (NS_DISCO_INFO,
                                                         node),
                to='localhost')
    assert_error(r, 'cancel', 'item-not-found')


def test_node_on_account_not_found(server, login):
    c = login(server)
    ver = advertised(c).get('ver')
    r = c.query('get', "<query xmlns='%s' node='%s#%s'/>"
                % (NS_DISCO_INFO, NODE, ver), to=c.bare)
    assert_error(r, 'cancel', 'item-not-found')


def test_ver_covers_contact_form(make_server, login):
    mods = {'disco': None, 'caps': None,
            'contact': {'admin': 'xmpp:admin@example.org',
                        'abuse': 'mailto:abuse@example.org'}}
    c = login(start_with_modules(make_server, mods))
    info = disco_info(c)
    assert 'http://jabber.org/network/serverinfo' in forms(info)
    ver = advertised(c).get('ver')
    assert ver == caps_ver(info)
    # Without the form the hash differs: the form is part of it.
    d = login(start_with_modules(make_server, ['disco', 'caps']))
    other = advertised(d).get('ver')
    assert other != ver and other == caps_ver(disco_info(d))
    # And node#ver works with the form too.
    assert disco_info(c, node='%s#%s' % (NODE, ver)).get('node')


def test_absent_without_module(make_server, login):
    c = login(start_with_modules(make_server, MINIMAL_MODULES))
    assert c.features.find(q(NS_CAPS, 'c')) is None, tostr(c.features)
    assert NS_CAPS not in features(disco_info(c))


@pytest.mark.slix
def test_slixmpp_computes_same_ver(server, login):
    ver = advertised(login(server)).get('ver')
    user, pw = server.new_user('caps')

    async def go():
        c = await xmpp_slix.login(server, user, pw)
        try:
            c.register_plugin('xep_0004')
            c.register_plugin('xep_0115')
            info = await c['xep_0030'].get_info(jid='localhost', local=False,
                                                 cached=False, timeout=5)
            return c['xep_0115'].generate_verstring(info['disco_info'],
                                                    'sha-1')
        finally:
            await c.close()
    assert run(go()) == ver
