"""test_browser_pep.py -- PEP as a real browser client uses it: Converse.js
14 (tests/browser/pep.mjs driving Debian's headless Chromium over the XMPP
WebSocket binding) next to a slixmpp client of the same account X on the
c2s port, and a second account Y (mutual presence subscription with X) in
the browser as their contact.

One browser run (the module fixture run_pep, about 10 s) does it all and
records what each step saw; the tests then judge their part of it:

1. Bookmarks from the browser (test_bookmark_from_browser): Converse
   bookmarks a room with its own API (api.bookmarks.set). The account
   advertises urn:xmpp:bookmarks:1#compat, so Converse publishes the
   XEP-0402 item with the XEP's publish-options, accepted at once;
   slixmpp finds the room on PEP urn:xmpp:bookmarks:1 (XEP-0060 items
   request to its bare JID) and in XEP-0049 private storage:bookmarks.
   test_bookmark_from_browser_on_legacy_pep_node: and on XEP-0048's PEP
   node storage:bookmarks, which XEP-0411 keeps equal to the private copy.
2. Bookmarks to the browser (test_bookmark_to_browser): slixmpp publishes
   a XEP-0402 item for a second room (persist_items, max_items=max,
   send_last_published_item never, access_model whitelist); a fresh
   Converse login of X has both rooms in _converse.state.bookmarks.
   Whether the page that stayed logged in got the new one live is
   printed, not asserted: Converse 14 announces only
   storage:bookmarks+notify, and with #compat it parses pushes of
   urn:xmpp:bookmarks:1 only.
3. Avatar (test_avatar_to_contact_browser): slixmpp publishes a XEP-0084
   avatar (data, then metadata) and sends its presence again; Y's
   Converse, logged in already, gets that presence with the image's
   SHA-1 in vcard-temp:x:update (added by mod_pep_vcard, XEP-0398 4),
   fetches X's vCard (whose PHOTO mod_pep_vcard filled from PEP, XEP-0398
   3.1) and ends up with the image: vCard model image == the PNG,
   image_hash == its SHA-1, the roster shows it as a data: URI. A fresh
   Converse login of Y gets it too.

Screenshots and page logs go to tests/browser/artifacts/
(converse-pep-{x,x2,y,y2}.png / .log). Skipped when node or chromium is
missing.
"""

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET

import pytest
from slixmpp.exceptions import IqError

from pep_helpers import BOOKMARK_OPTIONS, NS_PUBSUB, befriend, png
from test_browser import (ARTIFACTS, BROWSER_DIR, CHROMIUM, StaticServer,
                          ensure_node_modules)
from xmpp_slix import login, run

pytestmark = pytest.mark.slix

NS_BOOKMARKS2 = 'urn:xmpp:bookmarks:1'
NS_BOOKMARKS = 'storage:bookmarks'
NS_PRIVATE = 'jabber:iq:private'
NS_PUBLISH_OPTIONS = NS_PUBSUB + '#publish-options'
MUC = 'conference.localhost'
STEP_MS = 10000             # the driver's deadline for each wait
TOTAL = 50                  # seconds for the whole browser run


def need_browser():
    """node and chromium (a failure without them, as in test_browser.py:
    `make test-deps` installs both, and a silent skip would hide the
    test); tests/browser/node_modules as test_browser.py provides it."""
    if not shutil.which('node'):
        pytest.fail('node not found (Debian package nodejs)')
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail('%s not found (Debian package chromium)' % CHROMIUM)
    return ensure_node_modules()


class Driver:
    """tests/browser/pep.mjs as a subprocess: one JSON command a line in,
    one 'REPLY {json}' line out per command (matched by id, so commands
    may overlap); every other output line is kept for the report."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.pending = {}           # id -> future of the reply
        self.ids = 0
        self.pending[0] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, node, page_url, ws_url):
        proc = await asyncio.create_subprocess_exec(
            node, str(BROWSER_DIR / 'pep.mjs'), '--page', page_url,
            '--ws', ws_url, '--artifacts', str(ARTIFACTS),
            '--timeout', str(STEP_MS), cwd=str(BROWSER_DIR),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        d = cls(proc)
        try:
            d.version = await d._reply(0, 'launch chromium', 30)
        except BaseException:
            await d.kill()
            raise
        return d

    async def kill(self):
        """Ends the driver's process group (node and its chromium), if
        anything of it is left."""
        try:
            os.killpg(self.proc.pid, 9)
        except ProcessLookupError:
            pass
        await self.proc.wait()
        await self.reader

    async def _read(self):
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            text = line.decode('utf-8', 'replace').rstrip('\n')
            if not text.startswith('REPLY '):
                self.lines.append(text)
                continue
            r = json.loads(text[len('REPLY '):])
            fut = self.pending.pop(r.get('id'), None)
            if fut is None or fut.done():
                self.lines.append('unclaimed ' + text[:1000])
            else:
                fut.set_result(r)
        for fut in self.pending.values():
            if not fut.done():
                fut.set_result(None)

    async def _reply(self, id_, what, timeout):
        fut = self.pending.get(id_)
        try:
            r = await asyncio.wait_for(asyncio.shield(fut), timeout) \
                if fut is not None else None
        except asyncio.TimeoutError:
            raise AssertionError('browser driver: no answer to %s within '
                                 '%ss' % (what, timeout))
        if r is None:
            raise AssertionError('browser driver exited during %s' % what)
        if not r['ok']:
            raise AssertionError('browser: %s failed: %s\n  %s' % (
                what, r['error'], '\n  '.join(r.get('tail') or [])))
        return r['data']

    async def call(self, cmd, timeout=STEP_MS / 1000 * 2 + 5, **args):
        self.ids += 1
        id_ = self.ids
        if self.reader.done():
            raise AssertionError('browser driver gone before %s' % cmd)
        self.pending[id_] = asyncio.get_running_loop().create_future()
        self.proc.stdin.write((json.dumps(dict(args, id=id_, cmd=cmd))
                               + '\n').encode())
        await self.proc.stdin.drain()
        return await self._reply(id_, '%s %s' % (cmd, args.get('name', '')),
                                 timeout)

    async def close(self):
        """quit (screenshots, logs), then the process is gone."""
        out = None
        if self.proc.returncode is None and not self.reader.done():
            try:
                out = await self.call('quit', timeout=20)
            except (AssertionError, ConnectionError) as e:
                self.lines.append('quit: %s' % e)
        try:
            await asyncio.wait_for(asyncio.shield(self.proc.wait()), 10)
        except asyncio.TimeoutError:
            pass
        await self.kill()
        return out


# -- slixmpp side ---------------------------------------------------------------

def xml(el):
    return ET.tostring(el, encoding='unicode') if el is not None else None


def pubsub_items(iq, node):
    """{item id: payload element} of an items result for node."""
    items = iq.xml.find('{%s}pubsub/{%s}items' % (NS_PUBSUB, NS_PUBSUB))
    assert items is not None and items.get('node') == node, ET.tostring(
        iq.xml)
    return {it.get('id'): (list(it) or [None])[0]
            for it in items.findall('{%s}item' % NS_PUBSUB)}


async def get_pep_items(c, node):
    """The account's own PEP node, as XEP-0060 6.5 items request to the
    bare JID."""
    r = await c['xep_0060'].get_items(jid=c.boundjid.bare, node=node,
                                      timeout=5)
    return pubsub_items(r, node)


async def private_bookmarks(c):
    """The conferences of XEP-0049 private storage:bookmarks, by JID."""
    iq = c.make_iq_get()
    iq.xml.append(ET.fromstring("<query xmlns='%s'><storage xmlns='%s'/>"
                                "</query>" % (NS_PRIVATE, NS_BOOKMARKS)))
    r = await iq.send(timeout=5)
    st = r.xml.find('{%s}query/{%s}storage' % (NS_PRIVATE, NS_BOOKMARKS))
    assert st is not None, ET.tostring(r.xml)
    return {cf.get('jid'): cf
            for cf in st.findall('{%s}conference' % NS_BOOKMARKS)}


async def publish_bookmark(c, room, name, nick):
    """XEP-0402 3.3: an item per room, with the XEP's publish-options."""
    form = c['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value=NS_PUBLISH_OPTIONS)
    for var, value in BOOKMARK_OPTIONS.items():
        form.add_field(var=var, value=value)
    conf = ET.fromstring(
        "<conference xmlns='%s' name='%s' autojoin='false'><nick>%s</nick>"
        "</conference>" % (NS_BOOKMARKS2, name, nick))
    r = await c['xep_0060'].publish(None, NS_BOOKMARKS2, id=room,
                                    payload=conf, options=form, timeout=5)
    return xml(r.xml)


def truthy(v):
    return v in ('1', 'true')


# -- one browser run, several tests ------------------------------------------------

class Failed:
    """A step that raised: its message, for the test that looks at it."""

    def __init__(self, e):
        self.msg = '%s: %s' % (type(e).__name__, e)


def seen(obs, key):
    """What step `key` recorded; fails the calling test with the step's
    error if it raised."""
    v = obs.get(key)
    if isinstance(v, Failed):
        raise AssertionError('step %s failed: %s' % (key, v.msg))
    assert key in obs, 'step %s never ran (an earlier step ended the ' \
        'run: %s)' % (key, obs.get('fatal'))
    return v


@pytest.fixture(scope='module')
def run_pep(server, cafile):
    """Runs the whole scenario once (see the module docstring) and returns
    what each step observed: {step: data or Failed}. A failing step does
    not stop the later ones, except a failed login or browser start."""
    node = need_browser()
    ux, px = server.new_user('pepx')
    uy, py = server.new_user('pepy')
    befriend(server, cafile, (ux, px), (uy, py), 'both')
    X, Y = server.jid(ux), server.jid(uy)
    tag = uuid.uuid4().hex[:6]
    room1 = 'browser-bm-%s@%s' % (tag, MUC)
    room2 = 'slix-bm-%s@%s' % (tag, MUC)
    image = png(8, 8, (20, 130, 210))
    obs = {'X': X, 'Y': Y, 'room1': room1, 'room2': room2, 'image': image,
           'sha': hashlib.sha1(image).hexdigest()}
    ws_url = 'wss://localhost:%d/xmpp-websocket' % server.port_https
    holder = {}
    obs['log_from'] = server.log_size()

    async def step(name, coro):
        try:
            obs[name] = await coro
        except Exception as e:          # recorded for the tests
            obs[name] = Failed(e)

    async def slix_bookmarks(slix):
        items = await get_pep_items(slix, NS_BOOKMARKS2)
        return {k: xml(v) for k, v in items.items()}

    async def slix_private(slix):
        return {k: xml(v) for k, v in (await private_bookmarks(slix)).items()}

    async def slix_legacy(slix):
        try:
            return {k: xml(v) for k, v in
                    (await get_pep_items(slix, NS_BOOKMARKS)).items()}
        except IqError as e:
            return {'error': xml(e.iq.xml)}

    async def avatar(drv, slix):
        await slix['xep_0084'].publish_avatar(image, timeout=5)
        await slix['xep_0084'].publish_avatar_metadata(
            {'id': obs['sha'], 'type': 'image/png', 'bytes': len(image),
             'width': '8', 'height': '8'}, timeout=5)
        # Contacts learn of the new hash from presence (XEP-0153): tern
        # puts it into the client's next available presence (XEP-0398 4).
        slix.send_presence()
        return await drv.call('avatar', name='Y', contact=X, hash=obs['sha'])

    async def fresh_avatar(drv):
        await drv.call('login', name='Y2', label='pep-y2', jid=Y,
                       password=py)
        return await drv.call('avatar', name='Y2', contact=X,
                              hash=obs['sha'])

    async def go(page_url):
        slix = await login(server, ux, px, 'slix')
        drv = None
        try:
            for p in ('xep_0004', 'xep_0060', 'xep_0084'):
                slix.register_plugin(p)
            await slix.get_roster(timeout=5)
            slix.send_presence()
            drv = holder['driver'] = await Driver.start(node, page_url,
                                                        ws_url)
            await asyncio.gather(
                drv.call('login', name='X', label='pep-x', jid=X,
                         password=px),
                drv.call('login', name='Y', label='pep-y', jid=Y,
                         password=py))
            # 1. Converse bookmarks room1; slixmpp reads the three homes.
            await step('publish', drv.call('bookmark', name='X', room=room1,
                                           title='Browser room', nick='xb'))
            await step('pep', slix_bookmarks(slix))
            await step('private', slix_private(slix))
            await step('legacy', slix_legacy(slix))
            # 2. slixmpp publishes room2; a fresh Converse login reads both.
            await step('publish2', publish_bookmark(slix, room2, 'Slix room',
                                                    'xs'))
            await step('login X2', drv.call('login', name='X2',
                                            label='pep-x2', jid=X,
                                            password=px))
            await step('bookmarks', drv.call('bookmarks', name='X2',
                                             rooms=[room1, room2]))
            await step('live', drv.call('peek', name='X', room=room2))
            # 3. slixmpp publishes an avatar; the contact's Converse has it.
            await step('avatar Y', avatar(drv, slix))
            await step('avatar Y2', fresh_avatar(drv))
        except Exception as e:
            obs['fatal'] = Failed(e).msg
            raise
        finally:
            if drv is not None:
                obs['result'] = await drv.close()
            await slix.close()

    with StaticServer(BROWSER_DIR) as static:
        page_url = 'http://127.0.0.1:%d/index.html' % static.port
        try:
            run(go(page_url), timeout=TOTAL)
        finally:
            drv = holder.get('driver')
            if drv is not None:
                sys.stdout.write('\n'.join(drv.lines) + '\n')
            obs['log_to'] = server.log_size()
            for k, v in obs.items():
                if k != 'image':
                    print('%s: %s' % (k, (v.msg if isinstance(v, Failed)
                                          else json.dumps(v, default=str))[:3000]))
    return obs


def run_log(server, obs, *needles):
    """The ternd log lines of the browser run holding one of needles, for
    a failure message (without disco#info answers, and each stanza from
    the browser once: as parsed, not as received)."""
    text = server.logfile.read_bytes()[obs['log_from']:obs['log_to']]
    lines = [ln for ln in text.decode('utf-8', 'replace').splitlines()
             if any(n in ln for n in needles) and 'disco#info' not in ln
             and 'xmlns="jabber:client"' not in ln]
    return '\n'.join(ln[:700] for ln in lines[-40:])


def test_bookmark_from_browser(run_pep):
    """Converse's own bookmark (api.bookmarks.set) goes to XEP-0402 with
    the XEP's publish-options, accepted at once; slixmpp of the same
    account finds it there and in XEP-0049 private storage:bookmarks."""
    room = run_pep['room1']
    pub = seen(run_pep, 'publish')
    assert pub['node'] == NS_BOOKMARKS2, (
        'Converse published to %s, not %s (is %s#compat advertised on the '
        'account?)\n%s' % (pub['node'], NS_BOOKMARKS2, NS_BOOKMARKS2,
                           pub['sent']))
    assert len(pub['tries']) == 1, (
        'Converse had to publish more than once (publish-options '
        'refused?): %s' % pub['tries'])
    for var, value in BOOKMARK_OPTIONS.items():
        assert ('<field var="%s"><value>%s</value></field>' % (var, value)
                in pub['sent']), (var, pub['sent'])
    assert pub['stored'] and pub['stored']['jid'] == room, pub['stored']

    items = seen(run_pep, 'pep')
    assert room in items, 'room %s not on PEP %s: %s' % (
        room, NS_BOOKMARKS2, items)
    conf = ET.fromstring(items[room])
    assert conf.tag == '{%s}conference' % NS_BOOKMARKS2, items[room]
    assert conf.get('name') == 'Browser room', items[room]
    assert not truthy(conf.get('autojoin')), items[room]
    assert conf.findtext('{%s}nick' % NS_BOOKMARKS2) == 'xb', items[room]

    priv = seen(run_pep, 'private')
    assert room in priv, 'room %s not in private %s: %s' % (
        room, NS_BOOKMARKS, priv)
    conf = ET.fromstring(priv[room])
    assert conf.get('name') == 'Browser room', priv[room]
    assert not truthy(conf.get('autojoin')), priv[room]
    assert conf.findtext('{%s}nick' % NS_BOOKMARKS) == 'xb', priv[room]


def test_bookmark_from_browser_on_legacy_pep_node(server, run_pep):
    """The same bookmark on XEP-0048's PEP node storage:bookmarks (item
    'current'), which XEP-0411 3 keeps equal to the private XML copy and
    mod_bookmarks claims to keep in step with XEP-0402."""
    room = run_pep['room1']
    legacy = seen(run_pep, 'legacy')
    rooms = [cf.get('jid') for iid, p in legacy.items()
             if iid != 'error' and p
             for cf in ET.fromstring(p).findall('{%s}conference'
                                                % NS_BOOKMARKS)]
    assert room in rooms, (
        'room %s not on PEP %s after Converse\'s XEP-0402 publish, though '
        'private XML has it:\n  items: %s\n  private XML: %s\n'
        'ternd log (bookmarks):\n%s' % (
            room, NS_BOOKMARKS, legacy, seen(run_pep, 'private'),
            run_log(server, run_pep, 'storage:bookmarks',
                    "<publish node='urn:xmpp:bookmarks:1'", 'bookmarks:')))


def test_bookmark_to_browser(run_pep):
    """A XEP-0402 bookmark published by slixmpp is in the bookmarks
    collection of a fresh Converse login of the account (read from
    urn:xmpp:bookmarks:1), next to the one Converse made."""
    seen(run_pep, 'publish2')
    seen(run_pep, 'login X2')
    bms = seen(run_pep, 'bookmarks')
    assert NS_BOOKMARKS2 in bms['fetched'], bms['fetched']
    b2 = bms['bookmarks'][run_pep['room2']]
    assert (b2['name'], b2['nick'], b2['autojoin']) == (
        'Slix room', 'xs', False), b2
    b1 = bms['bookmarks'][run_pep['room1']]
    assert (b1['name'], b1['nick'], b1['autojoin']) == (
        'Browser room', 'xb', False), b1


@pytest.mark.parametrize('who', ['Y', 'Y2'])
def test_avatar_to_contact_browser(run_pep, who):
    """The XEP-0084 avatar slixmpp published is the contact's vCard image
    in Converse (vcard-temp PHOTO filled by mod_pep_vcard): same bytes,
    SHA-1 as image_hash, shown in the roster. Y was logged in before and
    learnt of it from the hash in presence; Y2 logs in afterwards."""
    av = seen(run_pep, 'avatar ' + who)
    image, sha = run_pep['image'], run_pep['sha']
    assert av['image_hash'] == sha, av
    assert av['image_type'] == 'image/png', av
    assert base64.b64decode(av['image']) == image, (
        'vCard image differs from the published PNG')
    assert av['href'] == 'data:image/png;base64,' + av['image'], av['href']
    if who == 'Y':
        assert any(p['photo'] == sha for p in av['presences']), (
            'no presence of %s with <photo>%s</photo>: %s'
            % (run_pep['X'], sha, av['presences']))


def test_pages_stay_local(run_pep):
    """Only loopback was requested; each page left a screenshot."""
    result = run_pep.get('result')
    assert result, 'no result from the browser driver'
    assert not result['blocked'], 'non-loopback requests: %s' % (
        result['blocked'],)
    for label in ('pep-x', 'pep-x2', 'pep-y', 'pep-y2'):
        f = ARTIFACTS / ('converse-%s.png' % label)
        assert f.stat().st_size > 1000, f
