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
// The browser and per-user plumbing is in lib.mjs (shared with pep.mjs).

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Env, User, account } from './lib.mjs';

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
const env = new Env({
  page: opt.page, bosh: opt.bosh, artifacts: opt.artifacts, step: Number(opt.timeout),
});
const STEP = env.step;
const secs = () => env.secs();
const log = (...a) => env.log(...a);

const result = { ok: false, steps: [], screenshots: [], logs: [], blocked: env.blocked, pages: {} };

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

const A = new User(env, 'A', 'ws-a', 'websocket', opt.ws, account(opt.a));
const B = new User(env, 'B', 'ws-b', 'websocket', opt.ws, account(opt.b));
const C = new User(env, 'C', 'bosh-c', 'bosh', opt.bosh, account(opt.c));
const users = [A, B, C];
const peer = opt.peer;
const room = opt.room;
const tag = Math.random().toString(36).slice(2, 8);

let browser;
let failed = null;
try {
  await step('launch chromium', async () => {
    browser = await env.launch({ chromium: opt.chromium, headed: opt.headed });
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
    console.log(`--- ${u.name} (${u.transport}, ${u.jid}): last log lines`);
    for (const l of u.tail()) console.log('  ' + l);
  }
  for (const f of result.logs) console.log(`log: ${f}`);
}
console.log('RESULT ' + JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
