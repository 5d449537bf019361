/* c2s.c -- client-to-server XML streams (RFC 6120 4, 5, 7, 8 from the
 * server's side): listeners, the stream header checks, stream features,
 * STARTTLS, resource binding (and the legacy session IQ of RFC 3921),
 * stanza validation and 'from' stamping, then hand-off to the router.
 * SASL lives in c2s_sasl.c; everything past the session is the router's.
 *
 * Bounds (SECURITY.md): a stanza limit that is small before
 * authentication, a total of pre-authentication bytes, an absolute
 * deadline from accept to bound resource, and a cap on bytes queued
 * toward a slow reader. Every violation ends the stream with the RFC 6120
 * condition and a log line. */
#include <string.h>

#include "core/module.h"
#include "core/router.h"
#include "net/c2s.h"
#include "net/c2s_int.h"
#include "net/tls.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"

/* Stanzas that may queue while a storage call is pending. */
#define C2S_MAX_QUEUE 16

static c2s_t *c2s_all;
static size_t c2s_nall;
static uint64_t c2s_next_id = 1;

static void c2s_handle(c2s_t *c, tn_stanza_t *st);

/* ---- lifetime ---------------------------------------------------------- */

void c2s_ref(c2s_t *c)
{
    c->refs++;
}

void c2s_unref(c2s_t *c)
{
    if (--c->refs > 0)
        return;
    for (size_t i = c->qhead; i < c->qlen; i++)
        tn_stanza_unref(c->queue[i]);
    tn_free(c->queue);
    c2s_sasl_reset(c);
    tn_xml_parser_free(c->parser);
    tn_free(c->stream_id);
    tn_free(c->host);
    tn_free(c->user);
    tn_sess_release(&c->sess);
    tn_free(c);
}

/* ---- output ------------------------------------------------------------ */

void c2s_write(c2s_t *c, const char *data, size_t len)
{
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(TN_LOG_DEBUG, "c2s %llu out: %.*s",
               (unsigned long long)c->sess.id, (int)(len > 2000 ? 2000 : len),
               data);
    c->tp->element(c, data, len);
}

void c2s_write_stanza(c2s_t *c, const tn_stanza_t *st)
{
    c->tp->stanza(c, st);
}

void c2s_header_attrs(c2s_t *c, tn_buf_t *out)
{
    if (!c->stream_id)
        c->stream_id = tn_random_id(20);
    tn_buf_puts(out, " id='");
    tn_buf_puts(out, c->stream_id);
    tn_buf_puts(out, "'");
    if (c->host) {
        tn_buf_puts(out, " from='");
        tn_buf_append_xml(out, c->host, strlen(c->host), 1);
        tn_buf_puts(out, "'");
    }
    tn_buf_puts(out, " version='1.0' xml:lang='en'");
}

/* Lets modules see the session go (unavailable broadcast), then takes it
 * out of the table. */
static void c2s_unbind(c2s_t *c)
{
    if (!c->sess.bound)
        return;
    tn_event_t ev = {c->srv, NULL, &c->sess.jid, NULL, &c->sess};
    c2s_ref(c);
    tn_hook_run(c->srv, TN_HOOK_SESS_UNBOUND, &ev);
    tn_sessions_remove(c->srv, &c->sess);
    c2s_unref(c);
}

void c2s_close(c2s_t *c, const char *cond, const char *text)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (cond)
        tn_log(TN_LOG_INFO, "c2s %llu %s%s%s: closing with %s%s%s",
               (unsigned long long)c->sess.id, c->sess.peer,
               c->sess.bound ? " " : "", c->sess.bound ? c->sess.jid.full : "",
               cond, text ? ": " : "", text ? text : "");
    else
        tn_log(TN_LOG_DEBUG, "c2s %llu: closing",
               (unsigned long long)c->sess.id);
    c2s_unbind(c);
    if (c->in_feed && c->parser)
        tn_xml_parser_stop(c->parser);
    c->tp->close(c, cond, text);
}

static int c2s_sess_send(tn_sess_t *s, tn_stanza_t *st)
{
    c2s_t *c = (c2s_t *)s;
    if (c->closing)
        return TN_ECLOSED;
    if (c->tp->queued(c) > c->srv->cfg->max_out_queue) {
        c2s_close(c, "policy-violation", "Too much data queued");
        return TN_ELIMIT;
    }
    c2s_write_stanza(c, st);
    return 0;
}

static void c2s_sess_close(tn_sess_t *s, const char *cond, const char *text)
{
    c2s_close((c2s_t *)s, cond, text);
}

static void c2s_sess_hold(tn_sess_t *s, int on);

static const tn_sess_ops_t c2s_sess_ops = {
    .send = c2s_sess_send,
    .close = c2s_sess_close,
    .hold = c2s_sess_hold,
};

/* ---- stream ------------------------------------------------------------ */

static void c2s_set_limits(c2s_t *c)
{
    const tn_config_t *cfg = c->srv->cfg;
    tn_xml_limits_t lim = {
        .max_stanza = c->authed ? cfg->max_stanza_size
                                : cfg->max_preauth_stanza,
        .max_depth = C2S_MAX_DEPTH,
        .max_attrs = C2S_MAX_ATTRS,
    };
    if (c->parser)
        tn_xml_parser_set_limits(c->parser, &lim);
}

void c2s_restart(c2s_t *c)
{
    /* Whatever was queued belongs to the stream that just ended. */
    for (size_t i = c->qhead; i < c->qlen; i++)
        tn_stanza_unref(c->queue[i]);
    c->qhead = c->qlen = 0;
    c->opened = 0;
    c->header_sent = 0;
    if (c->tp->restart)
        c->tp->restart(c);
    c2s_set_limits(c);
}

static int c2s_tls_offered(const c2s_t *c)
{
    return c->lcfg->tls == TN_TLS_STARTTLS && !c->tls;
}

/* Runs a features hook (ev->to: the stream's host) and appends what the
 * modules added. */
static void c2s_hook_features(c2s_t *c, tn_hook_t hook, tn_buf_t *b)
{
    tn_jid_t host = {.domain = c->host, .bare = c->host, .full = c->host};
    tn_stanza_t *f = tn_stanza_new("features", TN_NS_STREAM);
    tn_event_t ev = {c->srv, f, NULL, &host, &c->sess};
    tn_hook_run(c->srv, hook, &ev);
    for (size_t i = 0; i < f->nkids; i++)
        tn_stanza_serialize(f->kids[i], TN_NS_CLIENT, b);
    tn_stanza_unref(f);
}

static void c2s_send_features(c2s_t *c, tn_buf_t *b)
{
    /* The prefix is declared here too: over WebSocket and BOSH there is
     * no stream element to declare it (RFC 7395 3.3.3, XEP-0206). */
    tn_buf_puts(b, "<stream:features xmlns:stream='" TN_NS_STREAM "'>");
    if (!c->authed) {
        if (c2s_tls_offered(c)) {
            tn_buf_puts(b, "<starttls xmlns='" TN_NS_TLS "'>");
            if (c->srv->cfg->require_tls)
                tn_buf_puts(b, "<required/>");
            tn_buf_puts(b, "</starttls>");
        }
        if (c->tls || !c->srv->cfg->require_tls) {
            c2s_sasl_features(c, b);
            c2s_hook_features(c, TN_HOOK_PREAUTH_FEATURES, b);
        }
    } else {
        tn_buf_puts(b, "<bind xmlns='" TN_NS_BIND "'/>"
                       "<session xmlns='" TN_NS_SESSION "'><optional/>"
                       "</session>");
        /* Modules add theirs (roster versioning, caps, ...). */
        c2s_hook_features(c, TN_HOOK_FEATURES, b);
    }
    tn_buf_puts(b, "</stream:features>");
}

void c2s_open(c2s_t *c, const char *to, const char *version)
{
    if (c->closing)
        return;
    c->opened = 1;
    char *host = to ? tn_jid_nameprep(to) : NULL;
    if (!host || !tn_config_is_host(c->srv->cfg, host) ||
        (c->host && c->authed && strcmp(host, c->host) != 0)) {
        /* After authentication the host may not change (CVE-2018-10847). */
        tn_free(host);
        c2s_close(c, "host-unknown", NULL);
        return;
    }
    tn_free(c->host);
    c->host = host;
    /* RFC 6120 4.7.5: no version means 0.9; we speak 1.x only. */
    if (!version || strncmp(version, "1.", 2) != 0) {
        c2s_close(c, "unsupported-version", NULL);
        return;
    }
    tn_free(c->stream_id);
    c->stream_id = tn_random_id(20);
    c->tp->open(c);
    c->header_sent = 1;
    tn_buf_t b;
    tn_buf_init(&b);
    c2s_send_features(c, &b);
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
}

static void c2s_on_stanza(c2s_t *c, tn_stanza_t *st)
{
    if (c->closing) {
        tn_stanza_unref(st);
        return;
    }
    if (c->busy) {
        if (c->qlen - c->qhead >= C2S_MAX_QUEUE) {
            if (!c->authed) {
                tn_stanza_unref(st);
                c2s_close(c, "policy-violation", "Too many stanzas in flight");
                return;
            }
            /* Backpressure: what this read already held still queues
             * (bounded by the read size); no more is read until the
             * pending work is done. */
            c->tp->pause(c, 1);
            c->paused = 1;
        }
        if (c->qlen == c->qcap) {
            c->qcap = c->qcap ? c->qcap * 2 : 8;
            c->queue = tn_realloc(c->queue, c->qcap * sizeof *c->queue);
        }
        c->queue[c->qlen++] = st;
        return;
    }
    c2s_handle(c, st);
    tn_stanza_unref(st);
}

void c2s_unbusy(c2s_t *c)
{
    if (c->busy > 0)
        c->busy--;
    c2s_ref(c);
    while (c->qhead < c->qlen && !c->busy && !c->closing) {
        tn_stanza_t *st = c->queue[c->qhead++];
        c2s_handle(c, st);
        tn_stanza_unref(st);
    }
    if (c->qhead == c->qlen)
        c->qhead = c->qlen = 0;
    if (c->paused && !c->busy && !c->closing) {
        c->paused = 0;
        c->tp->pause(c, 0);
    }
    c2s_unref(c);
}

static void c2s_sess_hold(tn_sess_t *s, int on)
{
    c2s_t *c = (c2s_t *)s;
    if (on) {
        c2s_ref(c);
        c->busy++;
    } else {
        c2s_unbusy(c);
        c2s_unref(c);
    }
}

/* ---- STARTTLS (RFC 6120 5) --------------------------------------------- */

static void c2s_starttls(c2s_t *c)
{
    if (!c2s_tls_offered(c)) {
        c2s_write_lit(c, "<failure xmlns='" TN_NS_TLS "'/>");
        c2s_close(c, NULL, NULL);
        return;
    }
    c2s_write_lit(c, "<proceed xmlns='" TN_NS_TLS "'/>");
    if (tn_conn_start_tls(c->conn, c->srv->tls) < 0) {
        c2s_close(c, "internal-server-error", NULL);
        return;
    }
    /* Plaintext pipelined after <starttls/> is discarded with the rest of
     * this feed (STARTTLS injection); the next stream starts after TLS. */
    c2s_restart(c);
}

/* ---- binding (RFC 6120 7) ---------------------------------------------- */

static void c2s_iq_reply(c2s_t *c, const tn_stanza_t *iq, tn_stanza_t *r)
{
    const char *id = tn_stanza_attr(iq, "id");
    if (id)
        tn_stanza_set_attr(r, "id", id);
    c2s_write_stanza(c, r);
}

static void c2s_iq_error(c2s_t *c, const tn_stanza_t *iq, const char *type,
                         const char *cond)
{
    tn_stanza_t *e = tn_error_reply(iq, type, cond, NULL);
    if (e) {
        c2s_write_stanza(c, e);
        tn_stanza_unref(e);
    }
}

static void c2s_bind(c2s_t *c, tn_stanza_t *iq, tn_stanza_t *bind)
{
    if (c->sess.bound) {
        c2s_iq_error(c, iq, TN_ERR_CANCEL, "not-allowed");
        return;
    }
    char *want = tn_stanza_child_text(bind, "resource", TN_NS_BIND);
    char *res = NULL;
    if (want && *want) {
        res = tn_jid_resourceprep(want);
        if (!res) {
            tn_free(want);
            c2s_iq_error(c, iq, TN_ERR_MODIFY, "bad-request");
            return;
        }
    } else {
        res = tn_random_id(12);
    }
    tn_free(want);
    tn_jid_t jid;
    int rc = tn_jid_make(c->user, c->host, res, &jid);
    tn_free(res);
    if (rc < 0) {
        c2s_iq_error(c, iq, TN_ERR_MODIFY, "bad-request");
        return;
    }
    c->sess.jid = jid;
    tn_sessions_add(c->srv, &c->sess);
    c->tp->deadline(c, 0); /* the pre-bind deadline is met */
    tn_log(TN_LOG_INFO, "c2s %llu %s: bound %s (%s)",
           (unsigned long long)c->sess.id, c->sess.peer, jid.full,
           c->tp->name);
    tn_stanza_t *r = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(r, "type", "result");
    tn_stanza_t *b = tn_stanza_add_child(r, "bind", TN_NS_BIND);
    tn_stanza_t *j = tn_stanza_add_child(b, "jid", NULL);
    tn_stanza_add_text(j, jid.full, strlen(jid.full));
    c2s_iq_reply(c, iq, r);
    tn_stanza_unref(r);
    tn_event_t ev = {c->srv, NULL, &c->sess.jid, NULL, &c->sess};
    tn_hook_run(c->srv, TN_HOOK_SESS_BOUND, &ev);
}

/* ---- stanzas (RFC 6120 8) ---------------------------------------------- */

static int c2s_is(const tn_stanza_t *st, const char *name, const char *ns)
{
    return strcmp(st->name, name) == 0 && strcmp(st->ns, ns) == 0;
}

/* RFC 6120 8.2.3: checks an IQ's id, type and payload count. Returns 0
 * or sends bad-request and returns -1. */
static int c2s_iq_valid(c2s_t *c, tn_stanza_t *st)
{
    const char *type = tn_stanza_attr(st, "type");
    const char *id = tn_stanza_attr(st, "id");
    size_t n = tn_stanza_nelements(st);
    int ok = id && type;
    if (ok && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
        ok = n == 1;
    else if (ok && strcmp(type, "result") == 0)
        ok = n <= 1;
    else if (ok && strcmp(type, "error") != 0)
        ok = 0;
    if (ok)
        return 0;
    if (!type || strcmp(type, "error") != 0)
        c2s_iq_error(c, st, TN_ERR_MODIFY, "bad-request");
    return -1;
}

static void c2s_stanza(c2s_t *c, tn_stanza_t *st)
{
    if (strcmp(st->ns, TN_NS_CLIENT) != 0 ||
        (strcmp(st->name, "message") != 0 &&
         strcmp(st->name, "presence") != 0 && strcmp(st->name, "iq") != 0)) {
        c2s_close(c, "unsupported-stanza-type", NULL);
        return;
    }
    int is_iq = strcmp(st->name, "iq") == 0;
    if (is_iq && c2s_iq_valid(c, st) < 0)
        return;
    if (is_iq && !tn_stanza_attr(st, "to")) {
        tn_stanza_t *p = tn_stanza_child(st, NULL, NULL);
        const char *type = tn_stanza_attr(st, "type");
        if (p && strcmp(type, "set") == 0 &&
            c2s_is(p, "bind", TN_NS_BIND)) {
            c2s_bind(c, st, p);
            return;
        }
        if (p && strcmp(type, "set") == 0 &&
            c2s_is(p, "session", TN_NS_SESSION)) {
            /* RFC 3921 3: a no-op kept for old clients. */
            tn_stanza_t *r = tn_stanza_new("iq", TN_NS_CLIENT);
            tn_stanza_set_attr(r, "type", "result");
            c2s_iq_reply(c, st, r);
            tn_stanza_unref(r);
            return;
        }
    }
    if (!c->sess.bound) {
        c2s_close(c, "not-authorized", "Bind a resource first");
        return;
    }
    /* RFC 6120 8.1.2.1: the server stamps 'from'; a forged one never
     * passes. The tree is ours alone (one reference), so edit in place. */
    tn_stanza_set_attr(st, "from", c->sess.jid.full);
    tn_route(c->srv, st, &c->sess);
}

static void c2s_handle(c2s_t *c, tn_stanza_t *st)
{
    if (tn_log_enabled(TN_LOG_DEBUG)) {
        char *s = tn_stanza_to_string(st, TN_NS_CLIENT);
        tn_log(TN_LOG_DEBUG, "c2s %llu in: %.2000s",
               (unsigned long long)c->sess.id, s);
        tn_free(s);
    }
    if (!c->authed) {
        if (c2s_is(st, "starttls", TN_NS_TLS)) {
            c2s_starttls(c);
            return;
        }
        /* SECURITY.md: when TLS is required nothing but <starttls/> is
         * accepted before it; <auth/> learns why. */
        if (c2s_tls_offered(c) && c->srv->cfg->require_tls &&
            !c2s_is(st, "auth", TN_NS_SASL)) {
            c2s_close(c, "not-authorized", "STARTTLS is required");
            return;
        }
        if (strcmp(st->ns, TN_NS_SASL) == 0) {
            c2s_sasl_handle(c, st);
            return;
        }
        /* The hook runs only on encrypted streams when TLS is required,
         * also on a listener without TLS (like SASL there). */
        if (c2s_is(st, "iq", TN_NS_CLIENT) &&
            (c->tls || !c->srv->cfg->require_tls) &&
            c2s_iq_valid(c, st) == 0) {
            /* In-band registration and the like (TN_HOOK_PREAUTH_IQ). */
            tn_jid_t host = {.domain = c->host, .bare = c->host,
                             .full = c->host};
            tn_event_t ev = {c->srv, st, NULL, &host, &c->sess};
            if (tn_hook_run(c->srv, TN_HOOK_PREAUTH_IQ, &ev) != TN_PASS)
                return;
        }
        c2s_close(c, "not-authorized", NULL);
        return;
    }
    c2s_stanza(c, st);
}

/* ---- transports' entry points ------------------------------------------ */

void c2s_input(c2s_t *c, tn_stanza_t *st)
{
    c2s_on_stanza(c, st);
}

void c2s_xml_error(c2s_t *c, int rc, const char *what)
{
    if (rc >= 0 || rc == TN_XML_E_STOPPED || c->closing)
        return;
    tn_log(TN_LOG_INFO, "c2s %llu %s: bad XML: %s",
           (unsigned long long)c->sess.id, c->sess.peer, what);
    c2s_close(c, tn_xml_error_cond(rc), NULL);
}

void c2s_deadline(c2s_t *c)
{
    if (!c->sess.bound)
        c2s_close(c, "connection-timeout", "Login took too long");
}

c2s_t *c2s_new(tn_server_t *srv, const tn_listen_cfg_t *lcfg,
               const c2s_transport_t *tp, void *tpd, const char *peer)
{
    c2s_t *c = TN_NEW(c2s_t);
    c->srv = srv;
    c->lcfg = lcfg;
    c->tp = tp;
    c->tpd = tpd;
    c->refs = 1; /* dropped in c2s_gone */
    c->sess.ops = &c2s_sess_ops;
    c->sess.srv = srv;
    c->sess.id = c2s_next_id++;
    snprintf(c->sess.peer, sizeof c->sess.peer, "%s", peer);
    c->next = c2s_all;
    if (c2s_all)
        c2s_all->prev = c;
    c2s_all = c;
    c2s_nall++;
    tn_log(TN_LOG_DEBUG, "c2s %llu: %s connection from %s",
           (unsigned long long)c->sess.id, tp->name, peer);
    return c;
}

void c2s_gone(c2s_t *c)
{
    tn_sessions_remove(c->srv, &c->sess);
    if (c->prev)
        c->prev->next = c->next;
    else
        c2s_all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c2s_nall--;
    tn_log(TN_LOG_DEBUG, "c2s %llu: closed", (unsigned long long)c->sess.id);
    c2s_unref(c);
}

void tn_c2s_close_all(tn_server_t *srv, const char *cond)
{
    (void)srv;
    for (c2s_t *c = c2s_all; c; c = c->next)
        c2s_close(c, cond, NULL);
}

size_t tn_c2s_count(void)
{
    return c2s_nall;
}
