/* s2s_out.c -- outbound server-to-server streams (RFC 6120 with
 * jabber:server) and dialback verification connections (XEP-0220).
 *
 * One stream per (local domain, remote domain) pair, found by
 * "local remote" in s2s.out and reused while it lives. Setting one up:
 *   resolve   a static route, or SRV records of _xmpp-server._tcp and
 *             _xmpps-server._tcp (RFC 6120 3.2.1, XEP-0368) in RFC 2782
 *             order, else the domain itself on 5269; then each target's
 *             addresses
 *   connect   each address in turn (direct TLS where the record says so,
 *             SNI = the remote domain, ALPN xmpp-server)
 *   stream    STARTTLS (required unless s2s.require_tls is off), then the
 *             peer's certificate is checked for the remote domain
 *   auth      SASL EXTERNAL when offered (XEP-0178), else dialback: our
 *             key HMAC(secret, remote, local, the peer's stream id), as
 *             the policy for that domain allows
 *   ready     the queued stanzas go out in order; idle streams close
 * Failures while setting up move on to the next address; when none is
 * left (or the peer refused us, or s2s.connect_timeout passed) queued
 * stanzas bounce to their senders (remote-server-not-found or
 * remote-server-timeout).
 *
 * A verification connection is the same machine with another ending: it
 * never authenticates; once the stream is up (TLS first) it sends one
 * <db:verify/> and reports the answer. */
#include <arpa/inet.h>
#include <string.h>

#include "net/conn.h"
#include "net/s2s_int.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xml/parser.h"
#include "xmpp/error.h"

#define OUT_CONNECT_MS 10000 /* per connection attempt */
#define OUT_MAX_ADDRS 8
/* ALPN for XEP-0368 server-to-server direct TLS. */
static const unsigned char out_alpn[] = "\x0bxmpp-server";

typedef enum {
    OUT_RESOLVING,  /* SRV or address lookup */
    OUT_CONNECTING, /* TCP, then direct TLS */
    OUT_OPENING,    /* our header sent; the peer's and its features next */
    OUT_STARTTLS,   /* <starttls/> sent */
    OUT_SASL,       /* <auth mechanism='EXTERNAL'/> sent */
    OUT_SASL_DONE,  /* restarted after SASL success: features next */
    OUT_DIALBACK,   /* <db:result/> sent */
    OUT_VERIFYING,  /* <db:verify/> sent */
    OUT_READY,
    OUT_CLOSED,
} out_state_t;

struct s2s_out {
    char *key; /* "local remote" in s2s.out; NULL for verifications */
    char *local, *remote;
    uint64_t id;
    out_state_t state;
    /* Verification (key == NULL). */
    char *v_id, *v_key;
    s2s_verify_cb v_cb;
    void *v_ud;
    /* Where to connect. */
    tn_dns_req_t *dns;
    tn_srv_target_t *targets;
    size_t nt, ti;
    struct sockaddr_storage addrs[OUT_MAX_ADDRS];
    size_t na, ai;
    int direct; /* the current target is direct TLS */
    /* The current attempt. */
    tn_conn_t *conn;
    tn_xml_parser_t *parser;
    tn_xml_parser_t *zombie; /* a parser stopped inside its own feed */
    char *stream_id;         /* the peer's */
    unsigned tls : 1;
    unsigned cert_ok : 1; /* the peer's certificate names remote */
    unsigned sasl_tried : 1;
    unsigned in_feed : 1;
    unsigned header_sent : 1;
    unsigned bidi : 1; /* we asked for XEP-0288: the peer sends here too */
    const char *auth;  /* how it authenticated, for logs */
    /* Why the last attempt failed, for the bounce. */
    const char *fail_text;
    /* Stanzas waiting for the stream (owned references). */
    tn_stanza_t **q;
    size_t qlen, qcap;
    uv_timer_t timer; /* set-up deadline, then idle */
    int timer_open;
    int nconns; /* connections not yet closed */
    struct s2s_out *prev, *next;
};

typedef struct s2s_out s2s_out_t;

static s2s_out_t *out_all;

static void out_next(s2s_out_t *o);
static void out_fail(s2s_out_t *o, const char *cond, const char *text);
static void out_close(s2s_out_t *o);

/* ---- lifetime ---------------------------------------------------------- */

static void out_maybe_free(s2s_out_t *o)
{
    if (o->state != OUT_CLOSED || o->nconns > 0 || o->timer_open || o->in_feed)
        return;
    if (o->prev)
        o->prev->next = o->next;
    else
        out_all = o->next;
    if (o->next)
        o->next->prev = o->prev;
    tn_xml_parser_free(o->parser);
    tn_xml_parser_free(o->zombie);
    for (size_t i = 0; i < o->nt; i++)
        tn_free(o->targets[i].host);
    tn_free(o->targets);
    tn_free(o->stream_id);
    tn_free(o->key);
    tn_free(o->local);
    tn_free(o->remote);
    tn_free(o->v_id);
    tn_free(o->v_key);
    tn_free(o->q);
    tn_free(o);
}

static void out_timer_closed(uv_handle_t *h)
{
    s2s_out_t *o = h->data;
    o->timer_open = 0;
    out_maybe_free(o);
}

/* Drops the current attempt: its connection is aborted (its callbacks
 * see it is no longer o->conn) and its parser goes. */
static void out_abandon(s2s_out_t *o)
{
    if (o->conn) {
        tn_conn_abort(o->conn);
        o->conn = NULL;
    }
    if (o->parser) {
        if (o->in_feed) {
            tn_xml_parser_stop(o->parser);
            tn_xml_parser_free(o->zombie);
            o->zombie = o->parser;
        } else {
            tn_xml_parser_free(o->parser);
        }
        o->parser = NULL;
    }
    tn_free(o->stream_id);
    o->stream_id = NULL;
    o->tls = o->cert_ok = o->sasl_tried = o->header_sent = o->bidi = 0;
}

static const char *out_what(const s2s_out_t *o)
{
    return o->key ? "stream" : "verification";
}

/* ---- output ------------------------------------------------------------ */

static void out_write(s2s_out_t *o, const char *data, size_t len)
{
    s2s_log_xml("out", o->id, data, len);
    tn_conn_write(o->conn, data, len);
}

static void out_write_stanza(s2s_out_t *o, const tn_stanza_t *st)
{
    s2s_write_stanza(o->conn, "out", o->id, st);
}

static void out_header(s2s_out_t *o)
{
    tn_buf_t b;
    tn_buf_init(&b);
    s2s_header(&b, o->local, o->remote, NULL);
    out_write(o, b.data, b.len);
    tn_buf_release(&b);
    o->header_sent = 1;
    o->state = OUT_OPENING;
}

static void out_on_deadline(uv_timer_t *t);

static void out_arm(s2s_out_t *o, unsigned seconds)
{
    if (o->timer_open && o->state != OUT_CLOSED)
        uv_timer_start(&o->timer, out_on_deadline, (uint64_t)seconds * 1000, 0);
}

/* ---- the end ----------------------------------------------------------- */

static void out_close(s2s_out_t *o)
{
    if (o->state == OUT_CLOSED)
        return;
    int ready = o->state == OUT_READY;
    o->state = OUT_CLOSED;
    if (o->key && tn_hmap_get(&s2s.out, o->key) == o)
        tn_hmap_del(&s2s.out, o->key);
    tn_dns_cancel(o->dns);
    if (o->conn && (ready || o->header_sent)) {
        tn_conn_write(o->conn, "</stream:stream>", 16);
        tn_conn_close(o->conn);
        o->conn = NULL;
    }
    out_abandon(o);
    for (size_t i = 0; i < o->qlen; i++)
        tn_stanza_unref(o->q[i]);
    o->qlen = 0;
    if (o->timer_open) {
        uv_timer_stop(&o->timer);
        uv_close((uv_handle_t *)&o->timer, out_timer_closed);
    }
}

/* Setting up failed for good: bounce what waited, tell a verification's
 * owner, close. */
static void out_fail(s2s_out_t *o, const char *cond, const char *text)
{
    if (o->state == OUT_CLOSED)
        return;
    tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: %s failed: %s",
           (unsigned long long)o->id, o->local, o->remote, out_what(o),
           text ? text : cond);
    /* Out of the table first: a bounce may make its sender (a MUC room)
     * send more to this domain, which then starts afresh. */
    if (o->key && tn_hmap_get(&s2s.out, o->key) == o)
        tn_hmap_del(&s2s.out, o->key);
    tn_stanza_t **q = o->q;
    size_t n = o->qlen;
    o->q = NULL;
    o->qlen = o->qcap = 0;
    unsigned max = s2s.srv->cfg->s2s_max_retry_delay;
    if (o->key && max > 0 && !s2s.stopping) {
        s2s_backoff_t *b = tn_hmap_get(&s2s.backoff, o->key);
        if (!b) {
            b = TN_NEW(s2s_backoff_t);
            tn_hmap_put(&s2s.backoff, o->key, b);
        }
        b->delay = b->delay ? 2 * b->delay : 2;
        if (b->delay > max)
            b->delay = max;
        b->until = uv_now(s2s.srv->loop) + (uint64_t)b->delay * 1000;
        tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: next attempt in %u s",
               (unsigned long long)o->id, o->local, o->remote, b->delay);
    }
    if (o->v_cb) {
        s2s_verify_cb cb = o->v_cb;
        o->v_cb = NULL;
        /* XEP-0220 2.4: the dialback error conditions of step 4. */
        cb(o->v_ud, -1,
           strcmp(cond, "remote-server-timeout") == 0 ? "remote-server-timeout"
           : o->na > 0 ? "remote-connection-failed"
                       : "remote-server-not-found");
    }
    out_close(o);
    const char *type = strcmp(cond, "remote-server-timeout") == 0
                           ? TN_ERR_WAIT
                           : TN_ERR_CANCEL;
    for (size_t i = 0; i < n; i++) {
        s2s_bounce(q[i], type, cond, text);
        tn_stanza_unref(q[i]);
    }
    tn_free(q);
}

/* This attempt is over; try the next address unless the failure is the
 * peer's verdict on us (fatal). */
static void out_attempt_failed(s2s_out_t *o, const char *text, int fatal)
{
    o->fail_text = text;
    if (fatal) {
        out_fail(o, "remote-server-not-found", text);
        return;
    }
    tn_log(TN_LOG_DEBUG, "s2s out %llu %s -> %s: attempt failed: %s",
           (unsigned long long)o->id, o->local, o->remote, text);
    out_abandon(o);
    out_next(o);
}

/* ---- ready ------------------------------------------------------------- */

static void out_ready(s2s_out_t *o)
{
    o->state = OUT_READY;
    if (o->key)
        tn_free(tn_hmap_del(&s2s.backoff, o->key));
    tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: authenticated (%s, %s)",
           (unsigned long long)o->id, o->local, o->remote, o->auth,
           o->tls ? "TLS" : "no TLS");
    for (size_t i = 0; i < o->qlen; i++) {
        out_write_stanza(o, o->q[i]);
        tn_stanza_unref(o->q[i]);
    }
    o->qlen = 0;
    tn_free(o->q);
    o->q = NULL;
    o->qcap = 0;
    out_arm(o, s2s.srv->cfg->s2s_idle_timeout);
}

static void out_queue(s2s_out_t *o, tn_stanza_t *st)
{
    if (o->qlen == o->qcap) {
        o->qcap = o->qcap ? 2 * o->qcap : 8;
        o->q = tn_realloc(o->q, o->qcap * sizeof *o->q);
    }
    o->q[o->qlen++] = tn_stanza_ref(st);
}

/* ---- authentication ---------------------------------------------------- */

static int out_secure(const s2s_out_t *o)
{
    return tn_config_s2s_secure(s2s.srv->cfg, o->remote);
}

static void out_dialback(s2s_out_t *o)
{
    if (out_secure(o) && !o->cert_ok) {
        out_attempt_failed(o,
                           "the remote certificate is not valid and "
                           "the policy needs one",
                           1);
        return;
    }
    char key[TN_DIALBACK_KEY_SIZE];
    if (!o->stream_id || tn_dialback_key(s2s.secret, s2s.secret_len, o->remote,
                                         o->local, o->stream_id, key) < 0) {
        out_attempt_failed(o, "no usable stream id for dialback", 1);
        return;
    }
    tn_buf_t b;
    tn_buf_init(&b);
    s2s_db_start(&b, "result", o->local, o->remote);
    tn_buf_puts(&b, ">");
    tn_buf_puts(&b, key);
    tn_buf_puts(&b, "</db:result>");
    out_write(o, b.data, b.len);
    tn_buf_release(&b);
    o->state = OUT_DIALBACK;
}

static void out_send_verify(s2s_out_t *o)
{
    tn_buf_t b;
    tn_buf_init(&b);
    s2s_db_start(&b, "verify", o->local, o->remote);
    tn_buf_puts(&b, " id='");
    tn_buf_append_xml(&b, o->v_id, strlen(o->v_id), 1);
    tn_buf_puts(&b, "'>");
    tn_buf_append_xml(&b, o->v_key, strlen(o->v_key), 0);
    tn_buf_puts(&b, "</db:verify>");
    out_write(o, b.data, b.len);
    tn_buf_release(&b);
    o->state = OUT_VERIFYING;
}

static int out_offers_external(const tn_stanza_t *features)
{
    tn_stanza_t *m = tn_stanza_child(features, "mechanisms", TN_NS_SASL);
    for (size_t i = 0; m && i < m->nkids; i++) {
        tn_stanza_t *k = m->kids[i];
        if (!k->name || strcmp(k->name, "mechanism") != 0)
            continue;
        char *t = tn_stanza_text(k);
        int ext = strcmp(t, "EXTERNAL") == 0;
        tn_free(t);
        if (ext)
            return 1;
    }
    return 0;
}

static void out_on_features(s2s_out_t *o, tn_stanza_t *f)
{
    if (o->state == OUT_SASL_DONE) {
        o->auth = "SASL EXTERNAL";
        out_ready(o);
        return;
    }
    if (o->state != OUT_OPENING) {
        out_attempt_failed(o, "unexpected stream features", 1);
        return;
    }
    if (!o->tls) {
        if (tn_stanza_child(f, "starttls", TN_NS_TLS)) {
            out_write(o, "<starttls xmlns='" TN_NS_TLS "'/>",
                      sizeof("<starttls xmlns='" TN_NS_TLS "'/>") - 1);
            o->state = OUT_STARTTLS;
            return;
        }
        if (s2s.srv->cfg->s2s_require_tls || out_secure(o)) {
            out_attempt_failed(o, "the remote server does not offer TLS", 1);
            return;
        }
    }
    if (!o->key) {
        out_send_verify(o);
        return;
    }
    /* XEP-0288: the peer may send its stanzas to us here too (before
     * authenticating, as the XEP asks). */
    if (s2s.srv->cfg->s2s_bidi &&
        tn_stanza_child(f, "bidi", TN_NS_BIDI_FEATURE)) {
        static const char bidi[] = "<bidi xmlns='" TN_NS_BIDI "'/>";
        out_write(o, bidi, sizeof bidi - 1);
        o->bidi = 1;
    }
    if (o->tls && !o->sasl_tried && out_offers_external(f)) {
        /* XEP-0178: no authorization identity ('='). */
        static const char auth[] =
            "<auth xmlns='" TN_NS_SASL "' mechanism='EXTERNAL'>=</auth>";
        out_write(o, auth, sizeof auth - 1);
        o->sasl_tried = 1;
        o->state = OUT_SASL;
        return;
    }
    out_dialback(o);
}

/* Ends our stream with a stream error of ours (the peer broke the
 * protocol). */
static void out_stream_error(s2s_out_t *o, const char *cond)
{
    tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: closing with %s",
           (unsigned long long)o->id, o->local, o->remote, cond);
    if (o->conn) {
        tn_buf_t b;
        tn_buf_init(&b);
        tn_stream_error_write(&b, cond, NULL);
        tn_buf_puts(&b, "</stream:stream>");
        out_write(o, b.data, b.len);
        tn_buf_release(&b);
        tn_conn_close(o->conn);
        o->conn = NULL;
    }
    if (o->state == OUT_READY)
        out_close(o);
    else
        out_fail(o, "remote-server-not-found",
                 "The remote server broke the protocol");
}

static int out_sender_ok(void *ud, const char *domain)
{
    s2s_out_t *o = ud;
    return strcmp(domain, o->remote) == 0;
}

/* A stanza from the peer on our stream: only once it is bidirectional
 * and authenticated, and only for the pair reversed (XEP-0288 2.2: from
 * the domain we connected to, to the domain we authenticated as). */
static void out_on_inbound(s2s_out_t *o, tn_stanza_t *st)
{
    if (!o->bidi || o->state != OUT_READY) {
        out_stream_error(o, "not-authorized");
        return;
    }
    char who[96];
    snprintf(who, sizeof who, "s2s out %llu %s -> %s",
             (unsigned long long)o->id, o->local, o->remote);
    const char *cond = s2s_deliver(st, out_sender_ok, o, o->local, who);
    if (cond)
        out_stream_error(o, cond);
    else
        out_arm(o, s2s.srv->cfg->s2s_idle_timeout);
}

/* <db:result type=.../> on our stream, or <db:verify type=.../> on a
 * verification connection. */
static void out_on_dialback(s2s_out_t *o, tn_stanza_t *st)
{
    const char *type = tn_stanza_attr(st, "type");
    const char *from = tn_stanza_attr(st, "from");
    const char *to = tn_stanza_attr(st, "to");
    int verify = strcmp(st->name, "verify") == 0;
    if (!type && !verify && o->bidi && o->state == OUT_READY && from && to) {
        /* XEP-0288 lets the peer ask to send for more of its domains on
         * a bidirectional stream; we do not take that (it opens a stream
         * of its own for them). */
        tn_log(TN_LOG_INFO,
               "s2s out %llu %s -> %s: dialback for %s -> %s on our "
               "stream refused",
               (unsigned long long)o->id, o->local, o->remote, from, to);
        tn_buf_t b;
        tn_buf_init(&b);
        s2s_db_start(&b, "result", to, from);
        s2s_db_end(&b, "result", "error", "policy-violation");
        out_write(o, b.data, b.len);
        tn_buf_release(&b);
        return;
    }
    if (!type || !from || !to || strcmp(from, o->remote) != 0 ||
        strcmp(to, o->local) != 0 ||
        (verify ? o->state != OUT_VERIFYING : o->state != OUT_DIALBACK) ||
        (verify && (!tn_stanza_attr(st, "id") ||
                    strcmp(tn_stanza_attr(st, "id"), o->v_id) != 0))) {
        tn_log(TN_LOG_INFO,
               "s2s out %llu %s -> %s: unexpected dialback "
               "answer ignored",
               (unsigned long long)o->id, o->local, o->remote);
        return;
    }
    if (verify) {
        s2s_verify_cb cb = o->v_cb;
        o->v_cb = NULL;
        int verdict = strcmp(type, "valid") == 0 ? 1 : 0;
        tn_log(TN_LOG_DEBUG, "s2s out %llu %s -> %s: key %s",
               (unsigned long long)o->id, o->local, o->remote,
               verdict ? "valid" : type);
        if (cb) {
            if (strcmp(type, "error") == 0)
                cb(o->v_ud, -1, "remote-server-not-found");
            else
                cb(o->v_ud, verdict, NULL);
        }
        out_close(o);
        return;
    }
    if (strcmp(type, "valid") == 0) {
        o->auth = "dialback";
        out_ready(o);
        return;
    }
    tn_stanza_t *e = tn_stanza_child(st, "error", NULL);
    tn_stanza_t *c = e ? tn_stanza_child(e, NULL, TN_NS_STANZAS) : NULL;
    char *text =
        tn_sprintf("dialback %s%s%s", type, c ? ": " : "", c ? c->name : "");
    tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: %s", (unsigned long long)o->id,
           o->local, o->remote, text);
    out_fail(o, "remote-server-not-found", "Dialback refused");
    tn_free(text);
}

/* ---- the stream parser ------------------------------------------------- */

static void out_on_open(void *ud, const char *name, const char *ns,
                        const char *default_ns, const char **attrs)
{
    s2s_out_t *o = ud;
    if (o->state == OUT_CLOSED)
        return;
    const char *id = NULL, *version = NULL;
    for (size_t i = 0; attrs[i]; i += 2) {
        if (strcmp(attrs[i], "id") == 0)
            id = attrs[i + 1];
        else if (strcmp(attrs[i], "version") == 0)
            version = attrs[i + 1];
    }
    if (strcmp(name, "stream") != 0 || strcmp(ns, TN_NS_STREAM) != 0 ||
        !default_ns || strcmp(default_ns, TN_NS_SERVER) != 0) {
        out_attempt_failed(o, "the peer's stream is not jabber:server", 1);
        return;
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        out_attempt_failed(o, "the peer does not speak XMPP 1.0", 1);
        return;
    }
    tn_free(o->stream_id);
    o->stream_id = id && *id ? tn_strdup(id) : NULL;
}

static void out_on_stanza(void *ud, tn_stanza_t *st)
{
    s2s_out_t *o = ud;
    if (o->state == OUT_CLOSED) {
        tn_stanza_unref(st);
        return;
    }
    char *dump =
        tn_log_enabled(TN_LOG_DEBUG) ? tn_stanza_to_string(st, NULL) : NULL;
    if (dump) {
        tn_log(TN_LOG_DEBUG, "s2s out %llu in: %s", (unsigned long long)o->id,
               dump);
        tn_free(dump);
    }
    if (strcmp(st->ns, TN_NS_STREAM) == 0 && strcmp(st->name, "error") == 0) {
        tn_stanza_t *c = tn_stanza_child(st, NULL, TN_NS_STREAMS);
        char *text =
            tn_sprintf("stream error from the peer: %s", c ? c->name : "?");
        tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: %s",
               (unsigned long long)o->id, o->local, o->remote, text);
        int ready = o->state == OUT_READY;
        if (!ready)
            out_fail(o, "remote-server-not-found",
                     "Refused by the remote "
                     "server");
        else
            out_close(o);
        tn_free(text);
    } else if (strcmp(st->ns, TN_NS_STREAM) == 0 &&
               strcmp(st->name, "features") == 0) {
        out_on_features(o, st);
    } else if (strcmp(st->ns, TN_NS_TLS) == 0 && o->state == OUT_STARTTLS &&
               strcmp(st->name, "proceed") == 0) {
        if (tn_conn_start_tls_client(o->conn, s2s.tls.client, o->remote, NULL,
                                     0) < 0) {
            out_attempt_failed(o, "TLS could not start", 0);
        } else {
            tn_xml_parser_reset(o->parser);
            o->state = OUT_CONNECTING;
        }
    } else if (strcmp(st->ns, TN_NS_TLS) == 0) {
        out_attempt_failed(o, "STARTTLS refused", 0);
    } else if (strcmp(st->ns, TN_NS_SASL) == 0 && o->state == OUT_SASL &&
               strcmp(st->name, "success") == 0) {
        tn_xml_parser_reset(o->parser);
        out_header(o);
        o->state = OUT_SASL_DONE;
    } else if (strcmp(st->ns, TN_NS_SASL) == 0 && o->state == OUT_SASL &&
               strcmp(st->name, "failure") == 0) {
        tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: SASL EXTERNAL refused",
               (unsigned long long)o->id, o->local, o->remote);
        out_dialback(o);
    } else if (strcmp(st->ns, TN_NS_DIALBACK) == 0 &&
               (strcmp(st->name, "result") == 0 ||
                strcmp(st->name, "verify") == 0)) {
        out_on_dialback(o, st);
    } else if (strcmp(st->ns, TN_NS_SERVER) == 0 &&
               (strcmp(st->name, "message") == 0 ||
                strcmp(st->name, "presence") == 0 ||
                strcmp(st->name, "iq") == 0)) {
        out_on_inbound(o, st);
    } else {
        /* Nothing else is expected from the receiving side. */
        tn_log(TN_LOG_INFO,
               "s2s out %llu %s -> %s: ignored <%s/> from the "
               "peer",
               (unsigned long long)o->id, o->local, o->remote, st->name);
    }
    tn_stanza_unref(st);
}

static void out_on_close(void *ud)
{
    s2s_out_t *o = ud;
    tn_log(TN_LOG_DEBUG, "s2s out %llu: the peer closed its stream",
           (unsigned long long)o->id);
    if (o->state == OUT_READY)
        out_close(o);
    else
        out_attempt_failed(o, "the peer closed the stream", 0);
}

static const tn_xml_cbs_t out_xml_cbs = {
    .stream_open = out_on_open,
    .stanza = out_on_stanza,
    .stream_close = out_on_close,
};

/* ---- connections ------------------------------------------------------- */

static void out_conn_data(tn_conn_t *conn, const char *data, size_t len)
{
    s2s_out_t *o = conn->ud;
    if (conn != o->conn || !o->parser)
        return;
    o->in_feed = 1;
    int rc = tn_xml_parser_feed(o->parser, data, len);
    o->in_feed = 0;
    tn_xml_parser_free(o->zombie);
    o->zombie = NULL;
    if (rc != TN_XML_OK && rc != TN_XML_E_STOPPED && conn == o->conn) {
        const char *why = tn_xml_parser_error(o->parser);
        tn_log(TN_LOG_INFO,
               "s2s out %llu %s -> %s: bad XML from the peer: "
               "%s",
               (unsigned long long)o->id, o->local, o->remote, why);
        if (o->state == OUT_READY)
            out_close(o);
        else
            out_attempt_failed(o, "bad XML from the peer", 0);
    }
    out_maybe_free(o);
}

static void out_conn_tls_ready(tn_conn_t *conn)
{
    s2s_out_t *o = conn->ud;
    if (conn != o->conn)
        return;
    o->tls = 1;
    char why[160];
    o->cert_ok =
        tn_s2s_cert_valid(&s2s.tls, conn->ssl, o->remote, why, sizeof why) == 1;
    if (!o->cert_ok) {
        tn_log(TN_LOG_INFO, "s2s out %llu %s -> %s: %s",
               (unsigned long long)o->id, o->local, o->remote, why);
        if (out_secure(o)) {
            out_attempt_failed(o, "the remote certificate is not valid", 0);
            return;
        }
    }
    out_header(o);
}

static void out_conn_eof(tn_conn_t *conn, int err)
{
    s2s_out_t *o = conn->ud;
    if (conn != o->conn) {
        tn_conn_abort(conn);
        return;
    }
    tn_log(TN_LOG_DEBUG, "s2s out %llu: connection ended (%s)",
           (unsigned long long)o->id, err ? tn_strerror(err) : "eof");
    if (o->state == OUT_READY)
        out_close(o);
    else
        out_attempt_failed(
            o, err == TN_ETLS ? "TLS handshake failed" : "connection lost", 0);
}

static void out_conn_timeout(tn_conn_t *conn)
{
    s2s_out_t *o = conn->ud;
    if (conn == o->conn && o->state == OUT_CONNECTING)
        out_attempt_failed(o, "connection timed out", 0);
}

static void out_conn_closed(tn_conn_t *conn)
{
    s2s_out_t *o = conn->ud;
    s2s.nconns--;
    o->nconns--;
    if (conn == o->conn) {
        o->conn = NULL;
        if (o->state == OUT_READY)
            out_close(o);
        else if (o->state != OUT_CLOSED)
            out_attempt_failed(o, "connection closed", 0);
    }
    out_maybe_free(o);
}

static void out_conn_connected(tn_conn_t *conn, int status)
{
    s2s_out_t *o = conn->ud;
    if (conn != o->conn)
        return;
    if (status < 0) {
        out_attempt_failed(o, "connection refused", 0);
        return;
    }
    tn_conn_timer(conn, 0); /* the set-up deadline covers the rest */
    tn_log(TN_LOG_DEBUG, "s2s out %llu %s -> %s: connected to %s%s",
           (unsigned long long)o->id, o->local, o->remote, conn->peer,
           o->direct ? " (direct TLS)" : "");
    tn_xml_limits_t lim = {s2s.srv->cfg->max_stanza_size, S2S_MAX_DEPTH,
                           S2S_MAX_ATTRS};
    o->parser = tn_xml_parser_new(&lim, &out_xml_cbs, o);
    if (o->direct) {
        if (tn_conn_start_tls_client(conn, s2s.tls.client, o->remote, out_alpn,
                                     sizeof out_alpn - 1) < 0)
            out_attempt_failed(o, "TLS could not start", 0);
        return; /* the header follows the handshake */
    }
    out_header(o);
}

static const tn_conn_ops_t out_conn_ops = {
    .data = out_conn_data,
    .tls_ready = out_conn_tls_ready,
    .eof = out_conn_eof,
    .timeout = out_conn_timeout,
    .closed = out_conn_closed,
    .connected = out_conn_connected,
};

/* ---- finding the peer -------------------------------------------------- */

static void out_connect(s2s_out_t *o, const struct sockaddr_storage *addr)
{
    o->state = OUT_CONNECTING;
    tn_conn_t *conn = tn_conn_new(s2s.srv->loop, &out_conn_ops, o);
    o->conn = conn;
    o->nconns++;
    s2s.nconns++;
    if (tn_conn_connect(conn, (const struct sockaddr *)addr) < 0) {
        out_attempt_failed(o, "cannot connect", 0);
        return;
    }
    tn_conn_timer(conn, OUT_CONNECT_MS);
}

static void out_on_addr(void *ud, int status,
                        const struct sockaddr_storage *addrs, size_t n)
{
    s2s_out_t *o = ud;
    if (status < 0) {
        o->fail_text = "the server's address could not be resolved";
        tn_log(TN_LOG_DEBUG, "s2s out %llu %s: addresses of %s: %s",
               (unsigned long long)o->id, o->remote, o->targets[o->ti - 1].host,
               tn_strerror(status));
    }
    o->na = 0;
    for (size_t i = 0; status == 0 && i < n && i < OUT_MAX_ADDRS; i++)
        o->addrs[o->na++] = addrs[i];
    o->ai = 0;
    out_next(o);
}

/* An IP literal as a target needs no lookup. */
static int out_literal(const char *host, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 1;
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0;
}

static void out_next(s2s_out_t *o)
{
    if (o->state == OUT_CLOSED)
        return;
    if (o->ai < o->na) {
        out_connect(o, &o->addrs[o->ai++]);
        return;
    }
    if (o->ti < o->nt) {
        const tn_srv_target_t *t = &o->targets[o->ti++];
        o->direct = t->direct_tls;
        o->na = o->ai = 0;
        o->state = OUT_RESOLVING;
        if (out_literal(t->host, t->port, &o->addrs[0])) {
            o->na = 1;
            out_next(o);
            return;
        }
        tn_resolve_addr(s2s.res, t->host, t->port, out_on_addr, o, &o->dns);
        return;
    }
    out_fail(o, "remote-server-not-found",
             o->fail_text ? o->fail_text : "no server found");
}

static void out_on_srv(void *ud, int status, const tn_srv_target_t *t, size_t n)
{
    s2s_out_t *o = ud;
    if (status == TN_ENOTFOUND) {
        /* RFC 6120 3.2.2: no SRV records, the domain itself on 5269. */
        o->targets = tn_calloc(1, sizeof *o->targets);
        o->targets[0] = (tn_srv_target_t){tn_strdup(o->remote), 5269, 0};
        o->nt = 1;
    } else if (status < 0 || n == 0) {
        out_fail(o, "remote-server-not-found",
                 status < 0 ? "DNS lookup failed"
                            : "the domain offers no XMPP server service");
        return;
    } else {
        o->targets = tn_calloc(n, sizeof *o->targets);
        for (size_t i = 0; i < n; i++)
            o->targets[i] = (tn_srv_target_t){tn_strdup(t[i].host), t[i].port,
                                              t[i].direct_tls};
        o->nt = n;
    }
    if (tn_log_enabled(TN_LOG_DEBUG))
        for (size_t i = 0; i < o->nt; i++)
            tn_log(TN_LOG_DEBUG, "s2s out %llu %s: target %zu: %s:%d%s",
                   (unsigned long long)o->id, o->remote, i, o->targets[i].host,
                   o->targets[i].port,
                   o->targets[i].direct_tls ? " (direct TLS)" : "");
    out_next(o);
}

static void out_on_deadline(uv_timer_t *t)
{
    s2s_out_t *o = t->data;
    if (o->state == OUT_READY) {
        tn_log(TN_LOG_DEBUG, "s2s out %llu %s -> %s: idle, closing",
               (unsigned long long)o->id, o->local, o->remote);
        out_close(o);
        return;
    }
    out_fail(o, "remote-server-timeout",
             o->fail_text ? o->fail_text : "no answer in time");
}

static s2s_out_t *out_new(const char *local, const char *remote, char *key)
{
    s2s_out_t *o = TN_NEW(s2s_out_t);
    o->key = key;
    o->local = tn_strdup(local);
    o->remote = tn_strdup(remote);
    o->id = s2s.next_id++;
    o->state = OUT_RESOLVING;
    uv_timer_init(s2s.srv->loop, &o->timer);
    o->timer.data = o;
    o->timer_open = 1;
    uv_timer_start(&o->timer, out_on_deadline,
                   (uint64_t)s2s.srv->cfg->s2s_connect_timeout * 1000, 0);
    o->next = out_all;
    if (out_all)
        out_all->prev = o;
    out_all = o;
    return o;
}

static void out_begin(s2s_out_t *o)
{
    tn_log(TN_LOG_DEBUG, "s2s out %llu %s -> %s: new %s",
           (unsigned long long)o->id, o->local, o->remote, out_what(o));
    if (s2s.stopping || !s2s.res) {
        out_fail(o, "remote-server-not-found", "Server shutting down");
        return;
    }
    const tn_s2s_static_t *st = tn_config_s2s_static(s2s.srv->cfg, o->remote);
    if (st) {
        o->targets = tn_calloc(1, sizeof *o->targets);
        o->targets[0] =
            (tn_srv_target_t){tn_strdup(st->ip), st->port, st->direct_tls};
        o->nt = 1;
        out_next(o);
        return;
    }
    tn_resolve_srv(s2s.res, o->remote, out_on_srv, o, &o->dns);
}

/* ---- API --------------------------------------------------------------- */

void s2s_out_send(const char *local, const char *remote, tn_stanza_t *st)
{
    char *key = tn_sprintf("%s %s", local, remote);
    s2s_out_t *o = tn_hmap_get(&s2s.out, key);
    /* No stream of ours ready: the peer's own stream, if it made it
     * bidirectional (XEP-0288) and authenticated this pair. */
    s2s_in_t *in =
        !o || o->state != OUT_READY ? tn_hmap_get(&s2s.bidi, key) : NULL;
    if (in && s2s_in_send(in, st) == 0) {
        tn_free(key);
        return;
    }
    s2s_backoff_t *b = o ? NULL : tn_hmap_get(&s2s.backoff, key);
    uint64_t now = uv_now(s2s.srv->loop);
    if (b && now < b->until) {
        char text[96];
        snprintf(text, sizeof text,
                 "The remote server was unreachable; next attempt in %llu s",
                 (unsigned long long)((b->until - now + 999) / 1000));
        s2s_bounce(st, TN_ERR_CANCEL, "remote-server-not-found", text);
        tn_free(key);
        return;
    }
    if (!o) {
        o = out_new(local, remote, key);
        tn_hmap_put(&s2s.out, key, o);
        out_queue(o, st);
        out_begin(o);
        return;
    }
    tn_free(key);
    const tn_config_t *cfg = s2s.srv->cfg;
    if (o->state == OUT_READY) {
        if (tn_conn_queued(o->conn) > cfg->max_out_queue) {
            tn_log(TN_LOG_INFO,
                   "s2s out %llu %s -> %s: peer reads too "
                   "slowly, %s bounced",
                   (unsigned long long)o->id, local, remote, st->name);
            s2s_bounce(st, TN_ERR_WAIT, "resource-constraint", NULL);
            return;
        }
        out_write_stanza(o, st);
        out_arm(o, cfg->s2s_idle_timeout);
        return;
    }
    if (o->qlen >= cfg->s2s_max_queue) {
        s2s_bounce(st, TN_ERR_WAIT, "resource-constraint",
                   "Too many stanzas wait for this server");
        return;
    }
    out_queue(o, st);
}

s2s_verify_t *s2s_out_verify(const char *local, const char *remote,
                             const char *id, const char *key, s2s_verify_cb cb,
                             void *ud)
{
    s2s_out_t *o = out_new(local, remote, NULL);
    o->v_id = tn_strdup(id);
    o->v_key = tn_strdup(key);
    o->v_cb = cb;
    o->v_ud = ud;
    out_begin(o);
    return o;
}

void s2s_verify_cancel(s2s_verify_t *v)
{
    v->v_cb = NULL;
    out_close(v);
}

void s2s_out_close_all(void)
{
    for (s2s_out_t *o = out_all, *next; o; o = next) {
        next = o->next;
        if (o->state == OUT_CLOSED)
            continue;
        if (o->qlen > 0)
            tn_log(TN_LOG_INFO,
                   "s2s out %llu %s -> %s: %zu stanza(s) "
                   "dropped at shutdown",
                   (unsigned long long)o->id, o->local, o->remote, o->qlen);
        if (o->v_cb) {
            s2s_verify_cb cb = o->v_cb;
            o->v_cb = NULL;
            cb(o->v_ud, -1, "remote-server-timeout");
        }
        out_close(o);
    }
}
