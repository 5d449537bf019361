#!/usr/bin/env node
// pep.mjs -- an interactive Converse.js driver for the PEP browser test
// (tests/integration/test_browser_pep.py): XEP-0402/XEP-0048 bookmarks and
// XEP-0084/XEP-0153 avatars as Converse sees them, with an XMPP client
// outside the browser acting between the steps.
//
//   node pep.mjs --page http://127.0.0.1:PORT/index.html \
//       --ws wss://localhost:PORT/xmpp-websocket [--artifacts DIR] \
//       [--timeout 15000] [--headed]
//
// Reads one JSON command per line on stdin, {"id": N, "cmd": NAME, ...},
// starts each at once (they may overlap) and answers each with one line
// "REPLY {"id": N, "ok": true, "data": ...}" (or "ok": false, "error",
// "tail": the user's last log lines). Commands (every wait has the
// --timeout deadline; users log in over WebSocket, each in its own
// browser context, so a second login of an account starts from nothing):
//
//   login    {name, label, jid, password}    log in, wait for the roster
//   bookmark {name, room, title, nick}       api.bookmarks.set() (autojoin
//            off); waits for the server's answer to Converse's publish;
//            data: the node, the publish and its answer as sent/received
//   bookmarks {name, rooms}                  waits until every room is in
//            _converse.state.bookmarks; data: those bookmarks' attributes
//            and the node Converse fetched them from
//   peek     {name, room}                    the bookmark now, or null
//   avatar   {name, contact, hash}           waits until the contact's
//            vCard model has image_hash == hash and the roster shows the
//            image; data: the vCard fields, the roster avatar's href, the
//            contact's presences with <photo/> and the vCard requests seen
//   quit                                     screenshots, logs, exit
//
// Logs and screenshots go to the artifacts directory as
// converse-LABEL.log / .png (see lib.mjs for what the logs hold).

import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Env, User, sleep } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    page: { type: 'string' },
    ws: { type: 'string' },
    artifacts: { type: 'string', default: join(HERE, 'artifacts') },
    chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
    timeout: { type: 'string', default: '15000' },   // ms per wait
    headed: { type: 'boolean', default: false },
  },
});
for (const k of ['page', 'ws']) {
  if (!opt[k]) {
    console.error(`pep.mjs: --${k} is required (see the comment at the top)`);
    process.exit(2);
  }
}
const env = new Env({ page: opt.page, artifacts: opt.artifacts, step: Number(opt.timeout) });
const users = new Map();
let browser = null;

const NS_BOOKMARKS2 = 'urn:xmpp:bookmarks:1';
const NS_BOOKMARKS = 'storage:bookmarks';

// -- frames ------------------------------------------------------------------
// Converse's frames are serialized by Strophe (double quotes), the
// server's may use either quote.

const attr = (text, name) => {
  const m = new RegExp(`\\s${name}=(["'])(.*?)\\1`).exec(text);
  return m ? m[2] : null;
};
const iqHead = (text) => {
  const m = /^\s*<iq\b[^>]*>/.exec(text) || /^\s*<iq\b[^>]*\/>/.exec(text);
  return m ? m[0] : null;
};
const xmlUnescape = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

/** The server's answer (an iq result or error with that id) among the
 * frames received since index `from`, or null. */
function answer(u, id, from = 0) {
  for (const f of u.frames.slice(from)) {
    if (f.dir !== '<<') continue;
    const head = iqHead(f.text);
    if (head && attr(head, 'id') === id && ['result', 'error'].includes(attr(head, 'type')))
      return f.text;
  }
  return null;
}

function user(name) {
  const u = users.get(name);
  if (!u) throw new Error(`no user ${name} (log in first)`);
  return u;
}

// -- commands ------------------------------------------------------------------

const commands = {
  async login({ name, label, jid, password }) {
    if (users.has(name)) throw new Error(`user ${name} exists`);
    const u = new User(env, name, label, 'websocket', opt.ws, { jid, password });
    users.set(name, u);
    await u.open(browser);
    const info = await u.loggedIn();
    if (!u.wsFrames) throw new Error('no WebSocket frames seen');
    return info;
  },

  async bookmark({ name, room, title, nick }) {
    const u = user(name);
    const mark = u.frames.length;
    await u.evaluate(async ([jid, title, nick]) => {
      // Resolves once the model is saved; Converse publishes it after.
      await window._converse.api.bookmarks.set({ jid, name: title, nick, autojoin: false });
    }, [room, title, nick], `api.bookmarks.set(${room})`);
    // Converse's publish (to urn:xmpp:bookmarks:1 when the account
    // advertises urn:xmpp:bookmarks:1#compat, else storage:bookmarks) and
    // the server's answer. On precondition-not-met Converse configures the
    // node and publishes again: wait for a successful one.
    const end = Date.now() + env.step;
    for (;;) {
      const sent = u.frames.slice(mark).filter((f) => f.dir === '>>' && iqHead(f.text) &&
        /<publish\s+node=["'](urn:xmpp:bookmarks:1|storage:bookmarks)["']/.test(f.text));
      const tries = sent.map((f) => {
        const id = attr(iqHead(f.text), 'id');
        const reply = answer(u, id, mark);
        return { node: /<publish\s+node=["']([^"']+)/.exec(f.text)[1], sent: f.text, reply,
                 replyType: reply ? attr(iqHead(reply), 'type') : null };
      });
      const ok = tries.find((t) => t.replyType === 'result');
      if (ok) {
        const stored = await u.evaluate(async (jid) => {
          const bm = await window._converse.api.bookmarks.get(jid);
          return bm ? bm.toJSON() : null;
        }, room, `api.bookmarks.get(${room})`);
        return { ...ok, tries, stored };
      }
      if (Date.now() > end)
        throw new Error(`no successful bookmark publish within ${env.step} ms: ${JSON.stringify(tries)}`);
      await sleep(50);
    }
  },

  async bookmarks({ name, rooms }) {
    const u = user(name);
    const got = await u.poll((rooms) => {
      const bms = window._converse.state.bookmarks;
      if (!bms) return { done: false, why: 'no bookmarks collection' };
      const have = bms.map((b) => b.get('jid'));
      return { done: rooms.every((r) => have.includes(r)), have,
               bookmarks: Object.fromEntries(rooms.filter((r) => bms.get(r))
                 .map((r) => [r, bms.get(r).toJSON()])) };
    }, rooms, `bookmarks ${rooms.join(', ')}`);
    // Which node Converse read them from (its pubsub items request).
    const fetched = u.frames.filter((f) => f.dir === '>>' && /<items\s+node=/.test(f.text))
      .map((f) => /<items\s+node=["']([^"']+)/.exec(f.text)[1]);
    return { ...got, fetched };
  },

  async peek({ name, room }) {
    return user(name).evaluate((room) => {
      const bm = window._converse.state.bookmarks?.get(room);
      return bm ? bm.toJSON() : null;
    }, room, `peek ${room}`);
  },

  async avatar({ name, contact, hash }) {
    const u = user(name);
    const vcard = await u.poll(([jid, hash]) => {
      const v = window._converse.state.vcards?.get(jid);
      if (!v) return { done: false, why: 'no vCard model' };
      const { image, image_type, image_hash, vcard_updated, vcard_error } = v.attributes;
      return { done: image_hash === hash, image, image_type, image_hash, vcard_updated, vcard_error };
    }, [contact, hash], `vCard avatar of ${contact}`);
    // What the roster shows: <converse-avatar> renders an SVG <image>
    // with the vCard's data URI.
    const img = u.page.locator(
      `#converse-roster a.open-chat[data-jid="${contact}"] converse-avatar svg image`);
    await img.first().waitFor({ state: 'attached', timeout: env.step });
    const href = await img.first().getAttribute('href');
    const presences = u.frames.filter((f) => f.dir === '<<' && /^\s*<presence\b/.test(f.text) &&
      (attr(f.text.slice(0, f.text.indexOf('>')), 'from') || '').startsWith(contact + '/') &&
      /vcard-temp:x:update/.test(f.text))
      .map((f) => ({ from: attr(f.text.slice(0, f.text.indexOf('>')), 'from'),
                     photo: (/<photo(?:\s[^>]*)?>([^<]*)<\/photo>/.exec(f.text) || [])[1] ?? null }));
    const vcardGets = u.frames.filter((f) => f.dir === '>>' && /<vCard\s+xmlns=["']vcard-temp["']/.test(f.text) &&
      attr(iqHead(f.text) || '', 'to') === contact).length;
    return { ...vcard, href: href && xmlUnescape(href), presences, vcardGets };
  },

  async quit() {
    const out = { screenshots: [], logs: [], blocked: env.blocked, pages: {} };
    for (const u of users.values()) {
      if (u.page) {
        try {
          out.screenshots.push(await u.screenshot());
        } catch (e) {
          env.log(`screenshot of ${u.name} failed: ${e}`);
        }
      }
      out.pages[u.name] = { jid: u.fullJid || u.jid, wsFrames: u.wsFrames };
      out.logs.push(u.saveLog());
    }
    if (browser) await browser.close().catch(() => {});
    browser = null;
    out.seconds = Number(env.secs());
    return out;
  },
};

function reply(obj) {
  process.stdout.write('REPLY ' + JSON.stringify(obj) + '\n');
}

// -- main loop -------------------------------------------------------------------

async function handle(msg) {
  const { id, cmd, ...args } = msg;
  env.log(`command ${id}: ${cmd} ${JSON.stringify(args)}`);
  const fn = commands[cmd];
  if (!fn) return reply({ id, ok: false, error: `unknown command ${cmd}` });
  try {
    reply({ id, ok: true, data: await fn(args) });
  } catch (e) {
    const u = users.get(args.name);
    env.log(`command ${id} (${cmd}) failed: ${e && e.stack || e}`);
    reply({ id, ok: false, error: String(e && e.message || e), tail: u ? u.tail() : [] });
  }
}

try {
  browser = await env.launch({ chromium: opt.chromium, headed: opt.headed });
  env.log(`chromium ${browser.version()}`);
  reply({ id: 0, ok: true, data: { version: browser.version() } });
} catch (e) {
  reply({ id: 0, ok: false, error: String(e && e.stack || e) });
  process.exit(1);
}

// Commands run as they come (the caller may overlap them, e.g. two
// logins); quit waits for the others first.
const running = new Set();
let quitting = false;
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    reply({ id: null, ok: false, error: `bad command line: ${e}` });
    continue;
  }
  if (msg.cmd === 'quit') {
    await Promise.allSettled([...running]);
    await handle(msg);
    quitting = true;
    break;
  }
  const p = handle(msg).finally(() => running.delete(p));
  running.add(p);
}
// stdin closed without quit: still leave logs behind.
if (!quitting) {
  await Promise.allSettled([...running]);
  await commands.quit().catch(() => {});
}
process.exit(0);
