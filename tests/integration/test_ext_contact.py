"""test_ext_contact.py -- XEP-0157 contact addresses (mod_contact): the
operator's addresses as an XEP-0128 form with FORM_TYPE
http://jabber.org/network/serverinfo in the server's disco#info, only
for the roles configured, and configuration errors."""

import subprocess

import pytest

from conftest import TERND
from ext_helpers import (NS_DATA, disco_info, forms, login,
                         start_with_modules)
from xmpp_raw import NS_DISCO_INFO, q, tostr

SERVERINFO = 'http://jabber.org/network/serverinfo'

OPTIONS = {
    'admin': 'mailto:xmpp@example.org, xmpp:admin@example.org',
    'abuse': 'mailto:abuse@example.org',
    'security': 'xmpp:security@example.org',
    'support': ' https://example.org/support ,, xmpp:help@example.org , ',
}


def test_addresses_published(make_server, login):
    s = start_with_modules(make_server, {'disco': None,
                                         'contact': OPTIONS})
    qe = disco_info(login(s))
    fs = forms(qe)
    assert fs == {SERVERINFO: {
        'abuse-addresses': ['mailto:abuse@example.org'],
        'admin-addresses': ['mailto:xmpp@example.org',
                            'xmpp:admin@example.org'],
        'security-addresses': ['xmpp:security@example.org'],
        'support-addresses': ['https://example.org/support',
                              'xmpp:help@example.org'],
    }}, tostr(qe)
    x = qe.find(q(NS_DATA, 'x'))
    assert x.get('type') == 'result'
    ft = [f for f in x.findall(q(NS_DATA, 'field'))
          if f.get('var') == 'FORM_TYPE']
    assert len(ft) == 1 and ft[0].get('type') == 'hidden', tostr(x)
    # The form is after identities and features (XEP-0128 2).
    assert qe[-1] is x, tostr(qe)


def test_not_for_accounts(make_server, login):
    s = start_with_modules(make_server, {'disco': None,
                                         'contact': OPTIONS})
    a = login(s)
    assert forms(disco_info(a, to=a.bare)) == {}


def test_no_options_no_form(server, login):
    assert SERVERINFO not in forms(disco_info(login(server)))


def test_only_separators_no_field(make_server, login):
    s = start_with_modules(make_server, {'disco': None, 'contact': {
        'admin': 'xmpp:a@example.org', 'sales': ' , ,'}})
    assert forms(disco_info(login(s))) == {
        SERVERINFO: {'admin-addresses': ['xmpp:a@example.org']}}


def _run_ternd(config, timeout=10):
    p = subprocess.run([TERND, '-c', str(config)], capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stderr


@pytest.mark.parametrize('opts,msg', [
    ({'admin': 'admin@example.org'}, 'failed to load'),
    ({'postmaster': 'mailto:pm@example.org'}, "modules.contact.postmaster"),
])
def test_bad_options_refused(make_server, opts, msg):
    from ext_helpers import modules_config
    s = make_server(extra=modules_config({'disco': None, 'contact': opts}))
    rc, err = _run_ternd(s.config)
    assert rc != 0 and msg in err, (rc, err)
