"""test_browser.py -- a real browser client against ternd's HTTP listener:
Converse.js in Debian's headless Chromium (driven by playwright-core from
tests/browser/run.mjs) logs in over the XMPP WebSocket binding (RFC 7395,
wss://localhost:<port_https>/xmpp-websocket) and over BOSH (XEP-0206,
https://localhost:<port_https>/http-bind, cross-origin: the page comes
from another local port), next to a slixmpp client on the normal c2s port.

Users A and B use WebSocket, C uses BOSH (each its own browser context);
the slixmpp user echoes every chat message back ("echo: BODY"). Checked
on what Converse renders: all three logged in; A <-> slixmpp; B <-> C;
C <-> slixmpp; A and C talk in room@conference.localhost. Screenshots and
per-page logs (console, WebSocket frames, BOSH bodies) go to
tests/browser/artifacts/.

Needs node, npm and /usr/bin/chromium (Debian packages nodejs, npm,
chromium); runs `npm ci` in tests/browser once if node_modules is missing.
"""

import asyncio
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from xmpp_slix import login, run

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / 'tests' / 'browser'
ARTIFACTS = BROWSER_DIR / 'artifacts'
CHROMIUM = os.environ.get('CHROMIUM', '/usr/bin/chromium')
ROOM = 'room@conference.localhost'
NODE_TIMEOUT = 150          # seconds for the whole browser run

pytestmark = pytest.mark.slix


def ensure_node_modules():
    """node, chromium and tests/browser/node_modules (npm ci from the
    lock file when missing)."""
    node = shutil.which('node')
    if not node:
        pytest.fail('node not found (Debian package nodejs)')
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail('%s not found (Debian package chromium)' % CHROMIUM)
    mods = BROWSER_DIR / 'node_modules'
    if not ((mods / 'playwright-core').is_dir() and
            (mods / 'converse.js' / 'dist').is_dir()):
        npm = shutil.which('npm')
        if not npm:
            pytest.fail('npm not found (Debian package npm) and %s missing'
                        % mods)
        # --install-links=false: Debian 12's npm 9 otherwise fails on
        # converse.js's own "file:src/log" dependency (npm 10+ default).
        r = subprocess.run([npm, 'ci', '--no-audit', '--no-fund',
                            '--ignore-scripts', '--install-links=false'],
                           cwd=str(BROWSER_DIR), capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, 'npm ci failed:\n%s\n%s' % (
            r.stdout[-3000:], r.stderr[-3000:])
    return node


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map,
                          **{'.js': 'text/javascript',
                             '.mjs': 'text/javascript',
                             '.wasm': 'application/wasm',
                             '.json': 'application/json'})

    def log_message(self, *args):
        pass


class StaticServer:
    """tests/browser over plain HTTP on a free loopback port, in a
    thread."""

    def __init__(self, root):
        handler = functools.partial(_Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                     handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def attach_echo(client):
    """Answers each chat message BODY with 'echo: BODY'; returns the list
    of (bare sender, body) received."""
    got = []

    def on_message(msg):
        if msg['type'] in ('chat', 'normal') and msg['body']:
            got.append((msg['from'].bare, msg['body']))
            client.send_message(mto=msg['from'], mbody='echo: ' + msg['body'],
                                mtype='chat')
    client.add_event_handler('message', on_message)
    return got


async def run_browser(node, page_url, ws_url, bosh_url, accounts, peer,
                      room=ROOM, timeout=NODE_TIMEOUT):
    """Runs run.mjs; returns (exit status, output, parsed RESULT or
    None)."""
    cmd = [node, str(BROWSER_DIR / 'run.mjs'), '--page', page_url,
           '--ws', ws_url, '--bosh', bosh_url, '--peer', peer,
           '--room', room, '--artifacts', str(ARTIFACTS)]
    for flag, (jid, pw) in zip(('--a', '--b', '--c'), accounts):
        cmd += [flag, '%s:%s' % (jid, pw)]
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(BROWSER_DIR), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        os.killpg(proc.pid, 9)
        out, _ = await proc.communicate()
        return None, out.decode('utf-8', 'replace'), None
    text = out.decode('utf-8', 'replace')
    result = None
    for line in text.splitlines():
        if line.startswith('RESULT '):
            result = json.loads(line[len('RESULT '):])
    return proc.returncode, text, result


def test_converse_websocket_bosh(server):
    node = ensure_node_modules()
    a, b, c, s = (server.new_user(p) for p in ('wsa', 'wsb', 'bosc', 'slx'))
    accounts = [(server.jid(u), pw) for u, pw in (a, b, c)]
    peer = server.jid(s[0])
    ws_url = 'wss://localhost:%d/xmpp-websocket' % server.port_https
    bosh_url = 'https://localhost:%d/http-bind' % server.port_https

    async def go(page_url):
        slix = await login(server, s[0], s[1], 'slix')
        try:
            got = attach_echo(slix)
            slix.send_presence()
            rc, out, result = await run_browser(node, page_url, ws_url,
                                                bosh_url, accounts, peer)
            return rc, out, result, got
        finally:
            await slix.close()

    with StaticServer(BROWSER_DIR) as static:
        page_url = 'http://127.0.0.1:%d/index.html' % static.port
        rc, out, result, got = run(go(page_url), timeout=NODE_TIMEOUT + 30)

    sys.stdout.write(out)
    for path in (result or {}).get('screenshots', []):
        print('browser screenshot:', path)
    assert rc == 0 and result and result['ok'], (
        'browser run failed (exit %r); logs in %s\n%s'
        % (rc, ARTIFACTS, out[-12000:]))
    steps = [st['name'] for st in result['steps'] if st['ok']]
    assert len(steps) == 6, steps
    assert not result['blocked'], 'non-loopback requests: %s' % (
        result['blocked'],)
    pages = result['pages']
    assert pages['A']['wsFrames'] and pages['B']['wsFrames']
    assert pages['C']['boshPosts'] and not pages['C']['wsFrames']
    bodies = {(frm, body) for frm, body in got}
    for who, jid in (('A', accounts[0][0]), ('C', accounts[2][0])):
        assert any(frm == jid and body.startswith('hello peer from %s ' % who)
                   for frm, body in bodies), (
            'slixmpp did not receive %s\'s message: %r' % (who, got))
    for name in ('converse-ws-a.png', 'converse-ws-b.png',
                 'converse-bosh-c.png'):
        assert (ARTIFACTS / name).stat().st_size > 1000, name
