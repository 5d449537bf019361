// lib.mjs -- shared pieces of the browser drivers (run.mjs, pep.mjs):
// Debian's headless Chromium through playwright-core, one browser context
// per Converse.js user of index.html, loopback-only networking, a
// per-page log (console, page errors, WebSocket frames, BOSH bodies) and
// deadlines on everything.

import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// Only loopback: anything else is aborted in the page (and cannot even
// resolve, see --host-resolver-rules below).
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
export function isLocal(url) {
  try {
    const u = new URL(url);
    if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
    return LOOPBACK.has(u.hostname);
  } catch {
    return false;
  }
}

export const CHROMIUM_ARGS = [
  '--ignore-certificate-errors',
  // Nothing but loopback resolves: the test never reaches the internet.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  '--disable-dev-shm-usage',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Needed as root, and in containers without user namespaces; the pages
  // load nothing but this directory and the server under test.
  '--no-sandbox',
];

/** What every User of one run shares: the page URL, the BOSH endpoint
 * (its POSTs are logged), the artifacts directory, the step deadline
 * (ms), the clock and the list of blocked requests. */
export class Env {
  constructor({ page, bosh = null, artifacts, step = 20000 }) {
    this.pageUrl = page;
    this.bosh = bosh;
    this.art = resolve(artifacts);
    this.step = step;
    this.t0 = Date.now();
    this.blocked = [];
    mkdirSync(this.art, { recursive: true });
  }

  secs() {
    return ((Date.now() - this.t0) / 1000).toFixed(2);
  }

  log(...a) {
    console.log(`[${this.secs()}s]`, ...a);
  }

  async launch({ chromium: executablePath, headed = false }) {
    return chromium.launch({
      executablePath, headless: !headed, args: CHROMIUM_ARGS, timeout: 30000,
    });
  }
}

export function account(s) {
  const i = s.indexOf(':');
  return { jid: s.slice(0, i), password: s.slice(i + 1) };
}

// page.evaluate has no deadline of its own.
export function deadline(promise, what, ms) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class User {
  constructor(env, name, label, transport, service, acct) {
    Object.assign(this, { env, name, label, transport, service, ...acct });
    this.lines = [];
    this.frames = [];       // { dir: '>>' | '<<', text }, WebSocket only
    this.wsFrames = 0;
    this.boshPosts = 0;
  }

  note(kind, text) {
    this.lines.push(`${this.env.secs()} ${kind} ${text}`);
  }

  async open(browser) {
    const env = this.env;
    this.context = await browser.newContext({
      ignoreHTTPSErrors: true,
      viewport: { width: 1280, height: 800 },
      serviceWorkers: 'block',
    });
    await this.context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      env.blocked.push(`${this.name}: ${url}`);
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
      ws.on('framesent', (f) => {
        this.wsFrames++;
        this.frames.push({ dir: '>>', text: String(f.payload) });
        this.note('WS>>', String(f.payload));
      });
      ws.on('framereceived', (f) => {
        this.wsFrames++;
        this.frames.push({ dir: '<<', text: String(f.payload) });
        this.note('WS<<', String(f.payload));
      });
      ws.on('socketerror', (e) => this.note('WS-ERROR', String(e)));
      ws.on('close', () => this.note('WS-CLOSE', ws.url()));
    });
    const isBosh = (r) => env.bosh && r.method() === 'POST' && r.url().startsWith(env.bosh);
    page.on('request', (r) => {
      if (isBosh(r)) {
        this.boshPosts++;
        this.note('BOSH>>', r.postData() || '');
      }
    });
    page.on('response', async (r) => {
      if (r.status() >= 400) this.note('HTTP', `${r.status()} ${r.request().method()} ${r.url()}`);
      if (isBosh(r.request())) {
        let body = '';
        try { body = await r.text(); } catch (e) { body = `(body unavailable: ${e})`; }
        this.note('BOSH<<', `${r.status()} ${body}`);
      }
    });
    const q = new URLSearchParams({
      transport: this.transport, service: this.service,
      jid: this.jid, password: this.password, loglevel: 'debug',
    });
    await page.goto(`${env.pageUrl}?${q}`, { waitUntil: 'load', timeout: env.step });
  }

  /** page.evaluate(fn, arg) within the step deadline. */
  evaluate(fn, arg, what = 'page.evaluate') {
    return deadline(this.page.evaluate(fn, arg), `${this.name}: ${what}`, this.env.step);
  }

  /** Evaluates fn(arg) in the page every 100 ms until it returns an
   * object with a true `done` (and otherwise JSON); fails after ms with
   * the last value. */
  async poll(fn, arg, what, ms = this.env.step) {
    const end = Date.now() + ms;
    let last;
    for (;;) {
      last = await deadline(this.page.evaluate(fn, arg), `${this.name}: ${what}`, ms);
      if (last && last.done) return last;
      if (Date.now() > end)
        throw new Error(`${this.name}: ${what}: not within ${ms} ms (last: ${JSON.stringify(last)})`);
      await sleep(100);
    }
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
      .waitFor({ state: 'visible', timeout: this.env.step });
  }

  async type(box, text) {
    const ta = box.locator('textarea.chat-textarea');
    await ta.waitFor({ state: 'visible', timeout: this.env.step });
    await ta.fill(text);
    await ta.press('Enter');
    // Our own message is shown once Converse has sent it.
    await this.waitText(box, text);
  }

  async loggedIn() {
    const p = this.page;
    const STEP = this.env.step;
    await p.waitForFunction(() => window.ternTest && (window.ternTest.ready || window.ternTest.error),
      null, { timeout: STEP });
    const err = await this.evaluate(() => window.ternTest.error, undefined, 'ternTest.error');
    if (err) throw new Error(`converse.initialize failed: ${err}`);
    // The logged-in control box: profile with our name, online status, roster.
    const local = this.jid.split('@')[0];
    await p.locator('#controlbox converse-user-profile .username', { hasText: local })
      .waitFor({ state: 'visible', timeout: STEP });
    await p.locator('#controlbox .xmpp-status [data-value="online"]')
      .waitFor({ state: 'visible', timeout: STEP });
    await p.locator('#controlbox #converse-roster').waitFor({ state: 'attached', timeout: STEP });
    const info = await this.evaluate(() => {
      const c = window._converse.api.connection.get();
      return { jid: c.jid, service: c.service, connected: window._converse.api.connection.connected() };
    }, undefined, 'connection state');
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
    await this.evaluate(async (j) => {
      await window._converse.api.chats.open(j, {}, true);
    }, jid, `api.chats.open(${jid})`);
    const box = this.chat(jid);
    await box.locator('textarea.chat-textarea').waitFor({ state: 'visible', timeout: this.env.step });
    return box;
  }

  async openRoom(jid, nick) {
    await this.evaluate(async ([j, n]) => {
      await window._converse.api.rooms.open(j, { nick: n }, true);
    }, [jid, nick], `api.rooms.open(${jid})`);
    const box = this.muc(jid);
    // The message form appears once the room is entered (self-presence seen).
    await box.locator('textarea.chat-textarea').waitFor({ state: 'visible', timeout: this.env.step });
    return box;
  }

  async screenshot() {
    const file = join(this.env.art, `converse-${this.label}.png`);
    await this.page.screenshot({ path: file, fullPage: false, timeout: 10000 });
    return file;
  }

  saveLog() {
    const file = join(this.env.art, `converse-${this.label}.log`);
    writeFileSync(file, this.lines.join('\n') + '\n');
    return file;
  }

  /** The last log lines without the debug chatter, for CI output. */
  tail(n = 25) {
    return this.lines.filter((l) => !/ console\.(debug|verbose) /.test(l)).slice(-n)
      .map((l) => (l.length > 400 ? l.slice(0, 400) + '...' : l));
  }
}
