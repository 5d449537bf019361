#!/usr/bin/env node
// run.mjs -- drives Converse.js in Debian's headless Chromium against an
// XMPP server's WebSocket (RFC 7395) and BOSH (XEP-0206) endpoints.
//
// Three browser users, each in its own browser context: A and B over
// WebSocket, C over BOSH. A peer (an XMPP client outside the browser,
// e.g. the slixmpp echo client of tests/integration/test_browser.py) must
// answer every chat message "BODY" with "echo: BODY".
//
//   node run.mjs --page http://127.0.0.1:PORT/index.html \
//       --ws wss://localhost:PORT/xmpp-websocket \
//       --bosh https://localhost:PORT/http-bind \
//       --a JID:PASSWORD --b JID:PASSWORD --c JID:PASSWORD \
//       --peer JID [--room room@conference.localhost] [--artifacts DIR]
//
// Every wait is on a DOM condition with a deadline. Prints one line
// "RESULT {json}" and exits 0 when every step passed, 1 otherwise; the
// screenshots and a per-page log (console, page errors, WebSocket frames,
// BOSH request and response bodies) are written to the artifacts directory.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));

const { values: opt } = parseArgs({
  options: {
    page: { type: 'string' },
    ws: { type: 'string' },
    bosh: { type: 'string' },
    a: { type: 'string' },
    b: { type: 'string' },
    c: { type: 'string' },
    peer: { type: 'string' },
    room: { type: 'string', default: 'room@conference.localhost' },
    artifacts: { type: 'string', default: join(HERE, 'artifacts') },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    timeout: { type: 'string', default: '20000' },   // ms per step
    headed: { type: 'boolean', default: false },
  },
});
for (const k of ['page', 'ws', 'bosh', 'a', 'b', 'c', 'peer']) {
  if (!opt[k]) {
    console.error(`run.mjs: --${k} is required (see the comment at the top)`);
    process.exit(2);
  }
}
const STEP = Number(opt.timeout);
const ART = resolve(opt.artifacts);
mkdirSync(ART, { recursive: true });
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(2);

function account(s) {
  const i = s.indexOf(':');
  return { jid: s.slice(0, i), password: s.slice(i + 1) };
}

// Only loopback: anything else is aborted in the page (and cannot even
// resolve, see --host-resolver-rules below).
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
function isLocal(url) {
  try {
    const u = new URL(url);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
    return LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

const result = { ok: false, steps: [], screenshots: [], logs: [], blocked: [], pages: {} };
const log = (...a) => console.log(`[${secs()}s]`, ...a);

class User {
  constructor(name, label, transport, service, acct) {
    Object.assign(this, { name, label, transport, service, ...acct });
    this.lines = [];
    this.wsFrames = 0;
    this.boshPosts = 0;
  }

  note(kind, text) {
    this.lines.push(`${secs()} ${kind} ${text}`);
  }

  async open(browser) {
    this.context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 800 },
      serviceWorkers: 'block',
    });
    await this.context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      result.blocked.push(`${this.name}: ${url}`);
      this.note('BLOCKED', url);
      return route.abort('blockedbyclient');
    });
    const page = (this.page = await this.context.newPage());
    page.on('console', (m) => this.note(`console.${m.type()}`, m.text()));
    page.on('pageerror', (e) => this.note('PAGEERROR', e.stack || String(e)));
    page.on('requestfailed', (r) =>
      this.note('REQFAILED', `${r.method()} ${r.url()} ${r.failure()?.errorText}`));
    page.on('websocket', (ws) => {
      this.note('WS-OPEN', ws.url());
      ws.on('framesent', (f) => { this.wsFrames++; this.note('WS>>', String(f.payload)); });
      ws.on('framereceived', (f) => { this.wsFrames++; this.note('WS<<', String(f.payload)); });
      ws.on('socketerror', (e) => this.note('WS-ERROR', String(e)));
      ws.on('close', () => this.note('WS-CLOSE', ws.url()));
    });
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().startsWith(opt.bosh)) {
        this.boshPosts++;
        this.note('BOSH>>', r.postData() || '');
      }
    });
    page.on('response', async (r) => {
      if (r.status() >= 400) this.note('HTTP', `${r.status()} ${r.request().method()} ${r.url()}`);
      if (r.request().method() === 'POST' && r.url().startsWith(opt.bosh)) {
        let body = '';
        try { body = await r.text(); } catch (e) { body = `(body unavailable: ${e})`; }
        this.note('BOSH<<', `${r.status()} ${body}`);
      }
    });
    const q = new URLSearchParams({
      transport: this.transport, service: this.service,
      jid: this.jid, password: this.password, loglevel: 'debug',
    });
    await page.goto(`${opt.page}?${q}`, { waitUntil: 'load', timeout: STEP });
  }

  // -- DOM helpers ---------------------------------------------------------

  chat(jid) {
    return this.page.locator(`converse-chat[jid="${jid}"]`);
  }

  muc(jid) {
    return this.page.locator(`converse-muc[jid="${jid}"]`);
  }

  async waitText(box, text) {
    await box.locator('.chat-msg__text', { hasText: text }).first()
      .waitFor({ state: 'visible', timeout: STEP });
  }

  async type(box, text) {
    const ta = box.locator('textarea.chat-textarea');
    await ta.waitFor({ state: 'visible', timeout: STEP });
    await ta.fill(text);
    await ta.press('Enter');
    // Our own message is shown once Converse has sent it.
    await this.waitText(box, text);
  }

  async loggedIn() {
    const p = this.page;
    await p.waitForFunction(() => window.ternTest && (window.ternTest.ready || window.ternTest.error),
      null, { timeout: STEP });
    const err = await deadline(p.evaluate(() => window.ternTest.error), 'ternTest.error');
    if (err) throw new Error(`converse.initialize failed: ${err}`);
    // The logged-in control box: profile with our name, online status, roster.
    const local = this.jid.split('@')[0];
    await p.locator('#controlbox converse-user-profile .username', { hasText: local })
      .waitFor({ state: 'visible', timeout: STEP });
    await p.locator('#controlbox .xmpp-status [data-value="online"]')
      .waitFor({ state: 'visible', timeout: STEP });
    await p.locator('#controlbox #converse-roster').waitFor({ state: 'attached', timeout: STEP });
    const info = await deadline(p.evaluate(() => {
      const c = window._converse.api.connection.get();
      return { jid: c.jid, service: c.service, connected: window._converse.api.connection.connected() };
    }), `${this.name}: connection state`);
    if (!info.connected) throw new Error(`not connected: ${JSON.stringify(info)}`);
    if (info.service !== this.service)
      throw new Error(`connected through ${info.service}, not ${this.service}`);
    if (!info.jid.startsWith(this.jid + '/'))
      throw new Error(`bound JID ${info.jid} is not a resource of ${this.jid}`);
    this.fullJid = info.jid;
    return info;
  }

  async openChat(jid) {
    // (Return nothing: the chat model is no JSON for playwright.)
    await deadline(this.page.evaluate(async (j) => {
      await window._converse.api.chats.open(j, {}, true);
    }, jid), `${this.name}: api.chats.open(${jid})`);
    const box = this.chat(jid);
    await box.locator('textarea.chat-textarea').waitFor({ state: 'visible', timeout: STEP });
    return box;
  }

  async openRoom(jid, nick) {
    await deadline(this.page.evaluate(async ([j, n]) => {
      await window._converse.api.rooms.open(j, { nick: n }, true);
    }, [jid, nick]), `${this.name}: api.rooms.open(${jid})`);
    const box = this.muc(jid);
    // The message form appears once the room is entered (self-presence seen).
    await box.locator('textarea.chat-textarea').waitFor({ state: 'visible', timeout: STEP });
    return box;
  }

  async screenshot() {
    const file = join(ART, `converse-${this.label}.png`);
    await this.page.screenshot({ path: file, fullPage: false, timeout: 10000 });
    return file;
  }

  saveLog() {
    const file = join(ART, `converse-${this.label}.log`);
    writeFileSync(file, this.lines.join('\n') + '\n');
    return file;
  }
}

// page.evaluate has no deadline of its own.
function deadline(promise, what, ms = STEP) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

async function step(name, fn) {
  const s = Date.now();
  log(`step: ${name}`);
  try {
    const detail = await fn();
    result.steps.push({ name, ok: true, ms: Date.now() - s, ...(detail ? { detail } : {}) });
  } catch (e) {
    result.steps.push({ name, ok: false, ms: Date.now() - s, error: String(e && e.message || e) });
    throw e;
  }
}

const A = new User('A', 'ws-a', 'websocket', opt.ws, account(opt.a));
const B = new User('B', 'ws-b', 'websocket', opt.ws, account(opt.b));
const C = new User('C', 'bosh-c', 'bosh', opt.bosh, account(opt.c));
const users = [A, B, C];
const peer = opt.peer;
const room = opt.room;
const tag = Math.random().toString(36).slice(2, 8);

const args = [
  '--ignore-certificate-errors',
  // Nothing but loopback resolves: the test never reaches the internet.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Needed as root, and in containers without user namespaces; the pages
// load nothing but this directory and the server under test.
args.push('--no-sandbox');

let browser;
let failed = null;
try {
  await step('launch chromium', async () => {
    browser = await chromium.launch({
      executablePath: opt.chromium, headless: !opt.headed, args, timeout: 30000,
    });
    return { version: browser.version() };
  });

  await step('1. log in: A, B over WebSocket, C over BOSH', async () => {
    await Promise.all(users.map((u) => u.open(browser)));
    const infos = await Promise.all(users.map((u) => u.loggedIn()));
    if (!A.wsFrames || !B.wsFrames) throw new Error('no WebSocket frames seen for A/B');
    if (!C.boshPosts) throw new Error('no BOSH requests seen for C');
    if (C.wsFrames) throw new Error('the BOSH page used a WebSocket');
    return Object.fromEntries(users.map((u, i) => [u.name, infos[i]]));
  });

  await step('2. A (WebSocket) -> peer, peer replies, reply shown to A', async () => {
    const box = await A.openChat(peer);
    const body = `hello peer from A ${tag}`;
    await A.type(box, body);
    await A.waitText(box, `echo: ${body}`);
    return { sent: body };
  });

  await step('3. B (WebSocket) <-> C (BOSH)', async () => {
    const [bBox, cBox] = await Promise.all([B.openChat(C.jid), C.openChat(B.jid)]);
    const b2c = `hello C from B ${tag}`;
    await B.type(bBox, b2c);
    await C.waitText(cBox, b2c);
    const c2b = `hello B from C ${tag}`;
    await C.type(cBox, c2b);
    await B.waitText(bBox, c2b);
    return { b2c, c2b };
  });

  await step('4. C (BOSH) -> peer, peer replies, reply shown to C', async () => {
    const box = await C.openChat(peer);
    const body = `hello peer from C ${tag}`;
    await C.type(box, body);
    await C.waitText(box, `echo: ${body}`);
    return { sent: body };
  });

  await step(`5. A and C in MUC ${room}`, async () => {
    const aRoom = await A.openRoom(room, 'alice');
    const cRoom = await C.openRoom(room, 'carol');
    // Both see each other among the occupants.
    await aRoom.locator('converse-muc-occupant-list-item', { hasText: 'carol' }).first()
      .waitFor({ state: 'attached', timeout: STEP });
    const a2r = `hello room from A ${tag}`;
    await A.type(aRoom, a2r);
    await C.waitText(cRoom, a2r);
    const c2r = `hello room from C ${tag}`;
    await C.type(cRoom, c2r);
    await A.waitText(aRoom, c2r);
    return { a2r, c2r };
  });

  result.ok = true;
} catch (e) {
  failed = e;
  log(`FAILED: ${e && e.stack || e}`);
} finally {
  for (const u of users) {
    if (u.page) {
      try {
        result.screenshots.push(await u.screenshot());
      } catch (e) {
        log(`screenshot of ${u.name} failed: ${e}`);
      }
    }
    result.pages[u.name] = {
      jid: u.fullJid || u.jid, transport: u.transport,
      wsFrames: u.wsFrames, boshPosts: u.boshPosts,
    };
    result.logs.push(u.saveLog());
  }
  if (browser) await browser.close().catch(() => {});
}
result.seconds = Number(secs());
for (const f of result.screenshots) console.log(`screenshot: ${f}`);
if (failed) {
  // The end of each page's log without the debug chatter, for CI output.
  for (const u of users) {
    const tail = u.lines.filter((l) => !/ console\.(debug|verbose) /.test(l)).slice(-25);
    console.log(`--- ${u.name} (${u.transport}, ${u.jid}): last log lines`);
    for (const l of tail) console.log('  ' + (l.length > 400 ? l.slice(0, 400) + '...' : l));
  }
  for (const f of result.logs) console.log(`log: ${f}`);
}
console.log('RESULT ' + JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
