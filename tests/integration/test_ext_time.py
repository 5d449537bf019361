"""test_ext_time.py -- XEP-0202 Entity Time of the server (mod_time): the
UTC time and the server's real offset (XEP-0082 profiles), the disco
feature, and what happens without the module."""

import calendar
import re
import time

from ext_helpers import (MINIMAL_MODULES, assert_error, disco_info,
                         features, login, result_child, start_with_modules)
from xmpp_raw import q

NS_TIME = 'urn:xmpp:time'
TIME = "<time xmlns='%s'/>" % NS_TIME


def _tzo(offset_seconds):
    sign = '-' if offset_seconds < 0 else '+'
    m = abs(offset_seconds) // 60
    return '%s%02d:%02d' % (sign, m // 60, m % 60)


def _entity_time(c):
    r = c.query('get', TIME, to='localhost')
    assert r.get('from') == 'localhost'
    t = result_child(r, NS_TIME, 'time')
    return t.findtext(q(NS_TIME, 'tzo')), t.findtext(q(NS_TIME, 'utc'))


def test_time_is_utc_now_with_local_offset(server, login):
    c = login(server)
    before = time.time()
    tzo, utc = _entity_time(c)
    after = time.time()
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', utc), utc
    stamp = calendar.timegm(time.strptime(utc, '%Y-%m-%dT%H:%M:%SZ'))
    assert int(before) - 1 <= stamp <= after + 1, (utc, before)
    # The test runs in the server's environment: same zone.
    assert tzo == _tzo(time.localtime().tm_gmtoff), tzo


def test_time_offset_follows_server_zone(make_server, login, monkeypatch):
    # POSIX TZ strings count west of UTC: 'IST-05:30' is UTC+05:30.
    for tz, want in (('IST-05:30', '+05:30'), ('XST+03', '-03:00'),
                     ('UTC0', '+00:00')):
        monkeypatch.setenv('TZ', tz)
        s = make_server().start()
        c = login(s)
        assert _entity_time(c)[0] == want, tz
        s.check_clean_exit()


def test_time_feature_in_disco(server, login):
    assert NS_TIME in features(disco_info(login(server)))


def test_time_set_and_bare_jid_unsupported(server, login):
    c = login(server)
    assert_error(c.query('set', TIME, to='localhost'), 'cancel',
                 'service-unavailable')
    # XEP-0202 time of an account is its clients' business.
    assert_error(c.query('get', TIME, to=c.bare), 'cancel',
                 'service-unavailable')


def test_time_absent_without_module(make_server, login):
    s = start_with_modules(make_server, MINIMAL_MODULES)
    c = login(s)
    assert NS_TIME not in features(disco_info(c))
    assert_error(c.query('get', TIME, to='localhost'), 'cancel',
                 'service-unavailable')
