/* s2s_in.c -- inbound server-to-server streams (RFC 6120, jabber:server).
 *
 * A peer opens a stream to one of our domains (a host or a hosted
 * service), does STARTTLS (required unless s2s.require_tls is off), then
 * authenticates the domains it sends from:
 *   SASL EXTERNAL (XEP-0178), offered only when its certificate validates
 *     and names the stream's 'from'; an authzid must equal that domain;
 *   dialback (XEP-0220), per domain pair: a <db:result/> whose key we
 *     check with the domain's authoritative server over a fresh
 *     connection (s2s_out.c), unless its certificate already proves the
 *     domain, or policy needs a valid certificate for it (then refused).
 * A <db:verify/> asking about one of our keys is always answered.
 *
 * Stanzas: before any domain is authenticated the stream ends with
 * not-authorized; a 'from' outside the authenticated domains ends it with
 * invalid-from, a 'to' not served here with host-unknown, a missing or
 * malformed address with improper-addressing; nothing of such a stanza is
 * delivered. Accepted stanzas move to jabber:client and go to the router
 * as the server's own (no local session sent them). */
#include <string.h>

#include "core/router.h"
#include "net/conn.h"
#include "net/s2s_int.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xml/parser.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

/* A dialback request waiting for the authoritative server's answer. */
typedef struct in_pending {
    s2s_in_t *in;
    char *from, *to;
    s2s_verify_t *v;
    struct in_pending *next;
    /* The verification may fail at once, inside s2s_out_verify: the
     * verdict then waits here until that call has returned. */
    int starting, done, verdict;
    const char *cond;
} in_pending_t;

struct s2s_in {
    tn_conn_t *conn;
    const tn_listen_cfg_t *lcfg;
    tn_xml_parser_t *parser;
    uint64_t id;
    char *stream_id; /* ours, of the current stream */
    char *local;     /* the stream's 'to', canonical */
    char *from;      /* the stream's 'from', canonical, or NULL */
    char **authed;   /* domains the peer may send from */
    size_t nauthed;
    char **bidi_keys; /* our entries in s2s.bidi */
    size_t nbidi;
    in_pending_t *pending;
    size_t npending;
    size_t nverifies; /* verifications started, in all */
    size_t preauth_bytes;
    unsigned header_sent : 1;
    unsigned tls : 1;
    unsigned sasl_done : 1;
    unsigned closing : 1;
    unsigned in_feed : 1;
    unsigned bidi : 1; /* the peer asked for XEP-0288 */
    s2s_in_t *prev, *next;
};

static s2s_in_t *in_all;

/* ---- output ------------------------------------------------------------ */

static void in_write(s2s_in_t *in, const char *data, size_t len)
{
    s2s_log_xml("in", in->id, data, len);
    tn_conn_write(in->conn, data, len);
}

static void in_header(s2s_in_t *in, tn_buf_t *b)
{
    tn_free(in->stream_id);
    in->stream_id = tn_random_id(20);
    s2s_header(b, in->local, in->from, in->stream_id);
    in->header_sent = 1;
}

static void in_cancel_pending(s2s_in_t *in)
{
    while (in->pending) {
        in_pending_t *p = in->pending;
        in->pending = p->next;
        if (p->v)
            s2s_verify_cancel(p->v);
        tn_free(p->from);
        tn_free(p->to);
        tn_free(p);
    }
    in->npending = 0;
}

/* Takes this stream out of s2s.bidi: nothing more is sent on it. */
static void in_bidi_forget(s2s_in_t *in)
{
    for (size_t i = 0; i < in->nbidi; i++) {
        if (tn_hmap_get(&s2s.bidi, in->bidi_keys[i]) == in)
            tn_hmap_del(&s2s.bidi, in->bidi_keys[i]);
        tn_free(in->bidi_keys[i]);
    }
    tn_free(in->bidi_keys);
    in->bidi_keys = NULL;
    in->nbidi = 0;
}

static void in_close(s2s_in_t *in, const char *cond, const char *text)
{
    if (in->closing)
        return;
    in->closing = 1;
    in_bidi_forget(in);
    if (cond)
        tn_log(TN_LOG_INFO, "s2s in %llu %s (%s -> %s): closing with %s%s%s",
               (unsigned long long)in->id, in->conn->peer,
               in->from ? in->from : "?", in->local ? in->local : "?", cond,
               text ? ": " : "", text ? text : "");
    else
        tn_log(TN_LOG_DEBUG, "s2s in %llu: closing",
               (unsigned long long)in->id);
    in_cancel_pending(in);
    if (in->in_feed && in->parser)
        tn_xml_parser_stop(in->parser);
    tn_buf_t b;
    tn_buf_init(&b);
    if (!in->header_sent)
        in_header(in, &b); /* RFC 6120 4.9.1.2 */
    if (cond)
        tn_stream_error_write(&b, cond, text);
    tn_buf_puts(&b, "</stream:stream>");
    in_write(in, b.data, b.len);
    tn_buf_release(&b);
    tn_conn_close(in->conn);
}

/* ---- authentication state ---------------------------------------------- */

static int in_is_authed(const s2s_in_t *in, const char *domain)
{
    for (size_t i = 0; i < in->nauthed; i++)
        if (strcmp(in->authed[i], domain) == 0)
            return 1;
    return 0;
}

/* domain may send to us; with XEP-0288 we may send from local to it on
 * this stream (the pair it authenticated, reversed). */
static void in_authed_add(s2s_in_t *in, const char *domain, const char *local,
                          const char *how)
{
    if (in->bidi) {
        char *key = tn_sprintf("%s %s", local, domain);
        if (!tn_hmap_get(&s2s.bidi, key)) {
            tn_hmap_put(&s2s.bidi, key, in);
            in->bidi_keys = tn_realloc(in->bidi_keys,
                                       (in->nbidi + 1) * sizeof *in->bidi_keys);
            in->bidi_keys[in->nbidi++] = key;
            tn_log(TN_LOG_INFO, "s2s in %llu %s: bidirectional for %s -> %s",
                   (unsigned long long)in->id, in->conn->peer, local, domain);
        } else {
            tn_free(key);
        }
    }
    if (in_is_authed(in, domain))
        return;
    in->authed = tn_realloc(in->authed, (in->nauthed + 1) * sizeof *in->authed);
    in->authed[in->nauthed++] = tn_strdup(domain);
    tn_log(TN_LOG_INFO, "s2s in %llu %s: %s authenticated by %s (%s)",
           (unsigned long long)in->id, in->conn->peer, domain, how,
           in->tls ? "TLS" : "no TLS");
    if (in->nauthed == 1) {
        tn_xml_limits_t lim = {s2s.srv->cfg->max_stanza_size, S2S_MAX_DEPTH,
                               S2S_MAX_ATTRS};
        tn_xml_parser_set_limits(in->parser, &lim);
        tn_conn_timer(in->conn,
                      (uint64_t)s2s.srv->cfg->s2s_idle_timeout * 1000);
    }
}

/* The peer's certificate is valid and names domain. */
static int in_cert_ok(s2s_in_t *in, const char *domain)
{
    if (!in->tls || !in->conn->ssl)
        return 0;
    char why[160];
    if (tn_s2s_cert_valid(&s2s.tls, in->conn->ssl, domain, why, sizeof why))
        return 1;
    tn_log(TN_LOG_DEBUG, "s2s in %llu: %s: %s", (unsigned long long)in->id,
           domain, why);
    return 0;
}

/* ---- stream header and features ---------------------------------------- */

static int in_tls_needed(const s2s_in_t *in)
{
    return !in->tls && s2s.srv->cfg->s2s_require_tls;
}

static void in_features(s2s_in_t *in, tn_buf_t *b)
{
    tn_buf_puts(b, "<stream:features>");
    if (!in->tls && in->lcfg->tls == TN_TLS_STARTTLS) {
        tn_buf_puts(b, "<starttls xmlns='" TN_NS_TLS "'>");
        if (s2s.srv->cfg->s2s_require_tls)
            tn_buf_puts(b, "<required/>");
        tn_buf_puts(b, "</starttls>");
    }
    if (!in_tls_needed(in)) {
        if (!in->sasl_done && in->from && in_cert_ok(in, in->from))
            tn_buf_puts(b, "<mechanisms xmlns='" TN_NS_SASL
                           "'><mechanism>EXTERNAL</mechanism></mechanisms>");
        tn_buf_puts(b, "<dialback xmlns='" TN_NS_DIALBACK_FEATURE
                       "'><errors/></dialback>");
        if (s2s.srv->cfg->s2s_bidi)
            tn_buf_puts(b, "<bidi xmlns='" TN_NS_BIDI_FEATURE "'/>");
    }
    tn_buf_puts(b, "</stream:features>");
}

static void in_on_open(void *ud, const char *name, const char *ns,
                       const char *default_ns, const char **attrs)
{
    s2s_in_t *in = ud;
    if (in->closing)
        return;
    const char *to = NULL, *from = NULL, *version = NULL;
    for (size_t i = 0; attrs[i]; i += 2) {
        if (strcmp(attrs[i], "to") == 0)
            to = attrs[i + 1];
        else if (strcmp(attrs[i], "from") == 0)
            from = attrs[i + 1];
        else if (strcmp(attrs[i], "version") == 0)
            version = attrs[i + 1];
    }
    if (strcmp(name, "stream") != 0 || strcmp(ns, TN_NS_STREAM) != 0 ||
        !default_ns || strcmp(default_ns, TN_NS_SERVER) != 0) {
        in_close(in, "invalid-namespace", NULL);
        return;
    }
    char *local = to ? tn_jid_nameprep(to) : NULL;
    if (!local || !s2s_hosted(local) ||
        (in->local && strcmp(local, in->local) != 0)) {
        tn_free(local);
        in_close(in, "host-unknown", NULL);
        return;
    }
    tn_free(in->local);
    in->local = local;
    if (from) {
        char *f = tn_jid_nameprep(from);
        /* Ours, or another than the restarted stream's (RFC 6120
         * 4.3.3: a restart keeps the parties). */
        if (!f || s2s_hosted(f) || (in->from && strcmp(f, in->from) != 0)) {
            tn_free(f);
            in_close(in, "invalid-from", NULL);
            return;
        }
        tn_free(in->from);
        in->from = f;
    }
    /* RFC 6120 4.7.5: we speak 1.0 only; dialback without stream
     * features (pre-1.0 peers) would have no TLS. */
    if (!version || strncmp(version, "1.", 2) != 0) {
        in_close(in, "unsupported-version", NULL);
        return;
    }
    tn_buf_t b;
    tn_buf_init(&b);
    in_header(in, &b);
    in_features(in, &b);
    in_write(in, b.data, b.len);
    tn_buf_release(&b);
}

/* ---- dialback ---------------------------------------------------------- */

static void in_db_result_send(s2s_in_t *in, const char *from, const char *to,
                              const char *type, const char *cond)
{
    tn_buf_t b;
    tn_buf_init(&b);
    s2s_db_start(&b, "result", to, from);
    s2s_db_end(&b, "result", type, cond);
    in_write(in, b.data, b.len);
    tn_buf_release(&b);
}

static void in_verified(void *ud, int verdict, const char *cond)
{
    in_pending_t *p = ud;
    s2s_in_t *in = p->in;
    p->v = NULL;
    if (p->starting) {
        p->done = 1;
        p->verdict = verdict;
        p->cond = cond;
        return;
    }
    in_pending_t **pp = &in->pending;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    in->npending--;
    if (!in->closing) {
        if (verdict == 1) {
            in_db_result_send(in, p->from, p->to, "valid", NULL);
            in_authed_add(in, p->from, p->to, "dialback");
        } else if (verdict == 0) {
            /* XEP-0220 2.3.1: a spoofing attempt; the stream ends. */
            tn_log(TN_LOG_WARN,
                   "s2s in %llu %s: dialback key for %s -> %s "
                   "denied by its authoritative server",
                   (unsigned long long)in->id, in->conn->peer, p->from, p->to);
            in_db_result_send(in, p->from, p->to, "invalid", NULL);
            in_close(in, "not-authorized", "Dialback key not valid");
        } else {
            tn_log(TN_LOG_INFO, "s2s in %llu %s: %s could not be verified: %s",
                   (unsigned long long)in->id, in->conn->peer, p->from, cond);
            in_db_result_send(in, p->from, p->to, "error", cond);
        }
    }
    tn_free(p->from);
    tn_free(p->to);
    tn_free(p);
}

/* <db:result from='originating' to='receiving'>key</db:result> */
static void in_db_result(s2s_in_t *in, tn_stanza_t *st)
{
    const char *from_s = tn_stanza_attr(st, "from");
    const char *to_s = tn_stanza_attr(st, "to");
    if (!from_s || !to_s) {
        in_close(in, "improper-addressing",
                 "Dialback request without from "
                 "or to");
        return;
    }
    char *from = tn_jid_nameprep(from_s), *to = tn_jid_nameprep(to_s);
    char *key = tn_stanza_text(st);
    const char *err = NULL;
    if (!to || !s2s_hosted(to))
        err = "item-not-found";
    else if (!from || s2s_hosted(from))
        err = "improper-addressing";
    else if (in_tls_needed(in))
        err = "policy-violation";
    if (err) {
        tn_log(TN_LOG_INFO,
               "s2s in %llu %s: dialback request %s -> %s "
               "refused: %s",
               (unsigned long long)in->id, in->conn->peer, from_s, to_s, err);
        in_db_result_send(in, from_s, to_s, "error", err);
        goto done;
    }
    if (in_is_authed(in, from) || in_cert_ok(in, from)) {
        /* Known already, or proven by its certificate (XEP-0344): no
         * need to ask. */
        in_db_result_send(in, from, to, "valid", NULL);
        in_authed_add(in, from, to,
                      in_is_authed(in, from) ? "dialback" : "certificate");
        goto done;
    }
    if (tn_config_s2s_secure(s2s.srv->cfg, from)) {
        tn_log(TN_LOG_WARN,
               "s2s in %llu %s: %s refused: a valid "
               "certificate is required",
               (unsigned long long)in->id, in->conn->peer, from);
        in_db_result_send(in, from, to, "error", "not-authorized");
        goto done;
    }
    if (in->nverifies >= S2S_MAX_VERIFIES) {
        in_close(in, "policy-violation", "Too many dialback requests");
        goto done;
    }
    if (in->npending >= S2S_MAX_PENDING) {
        in_db_result_send(in, from, to, "error", "policy-violation");
        goto done;
    }
    in->nverifies++;
    in_pending_t *p = TN_NEW(in_pending_t);
    p->in = in;
    p->from = from;
    p->to = to;
    from = to = NULL;
    p->next = in->pending;
    in->pending = p;
    in->npending++;
    p->starting = 1;
    s2s_verify_t *v =
        s2s_out_verify(p->to, p->from, in->stream_id, key, in_verified, p);
    p->starting = 0;
    if (p->done)
        in_verified(p, p->verdict, p->cond);
    else
        p->v = v;
done:
    tn_free(from);
    tn_free(to);
    tn_free(key);
}

/* <db:verify from='receiving' to='originating' id='...'>key</db:verify>:
 * we are the authoritative server of 'to'. */
static void in_db_verify(s2s_in_t *in, tn_stanza_t *st)
{
    const char *from = tn_stanza_attr(st, "from");
    const char *to = tn_stanza_attr(st, "to");
    const char *id = tn_stanza_attr(st, "id");
    if (!from || !to || !id) {
        in_close(in, "improper-addressing",
                 "Dialback verification without "
                 "from, to or id");
        return;
    }
    char *key = tn_stanza_text(st);
    const char *type;
    if (!s2s_hosted(to))
        type = NULL;
    else
        type = tn_dialback_check(s2s.secret, s2s.secret_len, from, to, id, key)
                   ? "valid"
                   : "invalid";
    tn_free(key);
    tn_log(TN_LOG_INFO, "s2s in %llu %s: dialback key for %s -> %s: %s",
           (unsigned long long)in->id, in->conn->peer, to, from,
           type ? type : "not our domain");
    tn_buf_t b;
    tn_buf_init(&b);
    s2s_db_start(&b, "verify", to, from);
    tn_buf_puts(&b, " id='");
    tn_buf_append_xml(&b, id, strlen(id), 1);
    tn_buf_puts(&b, "'");
    s2s_db_end(&b, "verify", type ? type : "error",
               type ? NULL : "item-not-found");
    in_write(in, b.data, b.len);
    tn_buf_release(&b);
}

/* ---- SASL EXTERNAL ----------------------------------------------------- */

static void in_sasl_failure(s2s_in_t *in, const char *cond)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_puts(&b, "<failure xmlns='" TN_NS_SASL "'><");
    tn_buf_puts(&b, cond);
    tn_buf_puts(&b, "/></failure>");
    in_write(in, b.data, b.len);
    tn_buf_release(&b);
}

static void in_sasl(s2s_in_t *in, tn_stanza_t *st)
{
    if (strcmp(st->name, "auth") != 0) {
        in_sasl_failure(in, "aborted");
        return;
    }
    const char *mech = tn_stanza_attr(st, "mechanism");
    if (!mech || strcmp(mech, "EXTERNAL") != 0) {
        in_sasl_failure(in, "invalid-mechanism");
        return;
    }
    if (in->sasl_done || !in->from || in_tls_needed(in) ||
        !in_cert_ok(in, in->from)) {
        tn_log(TN_LOG_INFO, "s2s in %llu %s: SASL EXTERNAL for %s refused",
               (unsigned long long)in->id, in->conn->peer,
               in->from ? in->from : "(no from)");
        in_sasl_failure(in, "not-authorized");
        return;
    }
    /* XEP-0178: no authorization identity ('=' or empty), or the
     * stream's 'from' domain. */
    char *text = tn_stanza_text(st);
    int ok = 1;
    if (*text && strcmp(text, "=") != 0) {
        size_t n = 0;
        unsigned char *authz = tn_base64_decode(text, strlen(text), &n);
        char *canon = authz && n > 0 && strlen((char *)authz) == n
                          ? tn_jid_nameprep((char *)authz)
                          : NULL;
        ok = canon && strcmp(canon, in->from) == 0;
        tn_free(canon);
        tn_free(authz);
    }
    tn_free(text);
    if (!ok) {
        in_sasl_failure(in, "invalid-authzid");
        return;
    }
    in_write(in, "<success xmlns='" TN_NS_SASL "'/>",
             sizeof("<success xmlns='" TN_NS_SASL "'/>") - 1);
    in->sasl_done = 1;
    in_authed_add(in, in->from, in->local, "SASL EXTERNAL");
    tn_xml_parser_reset(in->parser);
    in->header_sent = 0; /* a new stream follows */
}

/* ---- stanzas ----------------------------------------------------------- */

int s2s_in_send(s2s_in_t *in, tn_stanza_t *st)
{
    if (in->closing)
        return -1;
    if (tn_conn_queued(in->conn) > s2s.srv->cfg->max_out_queue) {
        tn_log(TN_LOG_INFO,
               "s2s in %llu %s: peer reads too slowly, %s "
               "bounced",
               (unsigned long long)in->id, in->conn->peer, st->name);
        s2s_bounce(st, TN_ERR_WAIT, "resource-constraint", NULL);
        return 0;
    }
    if (s2s_write_stanza(in->conn, "in", in->id, st) < 0)
        return -1;
    tn_conn_timer(in->conn, (uint64_t)s2s.srv->cfg->s2s_idle_timeout * 1000);
    return 0;
}

static int in_sender_ok(void *ud, const char *domain)
{
    return in_is_authed(ud, domain);
}

static void in_stanza(s2s_in_t *in, tn_stanza_t *st)
{
    if (in->nauthed == 0) {
        in_close(in, "not-authorized", "Stanza before authentication");
        return;
    }
    char who[96];
    snprintf(who, sizeof who, "s2s in %llu %s", (unsigned long long)in->id,
             in->conn->peer);
    const char *cond = s2s_deliver(st, in_sender_ok, in, NULL, who);
    if (cond)
        in_close(in, cond, NULL);
    else
        tn_conn_timer(in->conn,
                      (uint64_t)s2s.srv->cfg->s2s_idle_timeout * 1000);
}

static void in_on_stanza(void *ud, tn_stanza_t *st)
{
    s2s_in_t *in = ud;
    if (in->closing) {
        tn_stanza_unref(st);
        return;
    }
    char *dump =
        tn_log_enabled(TN_LOG_DEBUG) ? tn_stanza_to_string(st, NULL) : NULL;
    if (dump) {
        tn_log(TN_LOG_DEBUG, "s2s in %llu in: %s", (unsigned long long)in->id,
               dump);
        tn_free(dump);
    }
    const char *ns = st->ns;
    if (strcmp(ns, TN_NS_TLS) == 0 && strcmp(st->name, "starttls") == 0) {
        if (in->tls || in->lcfg->tls != TN_TLS_STARTTLS) {
            in_write(in, "<failure xmlns='" TN_NS_TLS "'/>",
                     sizeof("<failure xmlns='" TN_NS_TLS "'/>") - 1);
            in_close(in, NULL, NULL);
        } else {
            in_write(in, "<proceed xmlns='" TN_NS_TLS "'/>",
                     sizeof("<proceed xmlns='" TN_NS_TLS "'/>") - 1);
            if (tn_conn_start_tls(in->conn, s2s.tls.server) < 0) {
                in_close(in, "internal-server-error", NULL);
            } else {
                tn_xml_parser_reset(in->parser);
                in->header_sent = 0; /* a new stream follows */
            }
        }
    } else if (strcmp(ns, TN_NS_DIALBACK) == 0 &&
               strcmp(st->name, "verify") == 0) {
        in_db_verify(in, st);
    } else if (in_tls_needed(in) && strcmp(ns, TN_NS_DIALBACK) != 0) {
        /* Only STARTTLS (and dialback, which answers with its own error)
         * before TLS. */
        in_close(in, in->nauthed ? "policy-violation" : "not-authorized",
                 "TLS is required");
    } else if (strcmp(ns, TN_NS_DIALBACK) == 0 &&
               strcmp(st->name, "result") == 0) {
        in_db_result(in, st);
    } else if (strcmp(ns, TN_NS_SASL) == 0) {
        in_sasl(in, st);
    } else if (strcmp(ns, TN_NS_BIDI) == 0 && strcmp(st->name, "bidi") == 0 &&
               s2s.srv->cfg->s2s_bidi) {
        /* XEP-0288: pairs authenticated from now on also carry our
         * stanzas back. */
        in->bidi = 1;
    } else if (strcmp(ns, TN_NS_SERVER) == 0 &&
               (strcmp(st->name, "message") == 0 ||
                strcmp(st->name, "presence") == 0 ||
                strcmp(st->name, "iq") == 0)) {
        in_stanza(in, st);
    } else if (in->nauthed == 0) {
        in_close(in, "not-authorized", NULL);
    } else {
        in_close(in, "unsupported-stanza-type", NULL);
    }
    tn_stanza_unref(st);
}

static void in_on_close(void *ud)
{
    s2s_in_t *in = ud;
    tn_log(TN_LOG_DEBUG, "s2s in %llu: the peer closed its stream",
           (unsigned long long)in->id);
    in_close(in, NULL, NULL);
}

static const tn_xml_cbs_t in_xml_cbs = {
    .stream_open = in_on_open,
    .stanza = in_on_stanza,
    .stream_close = in_on_close,
};

/* ---- connection -------------------------------------------------------- */

static void in_on_data(tn_conn_t *conn, const char *data, size_t len)
{
    s2s_in_t *in = conn->ud;
    if (in->closing)
        return;
    if (in->nauthed == 0) {
        in->preauth_bytes += len;
        if (in->preauth_bytes > 8 * s2s.srv->cfg->max_preauth_stanza) {
            in_close(in, "policy-violation",
                     "Too much data before "
                     "authentication");
            return;
        }
    }
    in->in_feed = 1;
    int rc = tn_xml_parser_feed(in->parser, data, len);
    in->in_feed = 0;
    if (rc == TN_XML_OK || rc == TN_XML_E_STOPPED)
        return;
    in_close(in, tn_xml_error_cond(rc), tn_xml_parser_error(in->parser));
}

static void in_on_tls_ready(tn_conn_t *conn)
{
    s2s_in_t *in = conn->ud;
    in->tls = 1;
}

static void in_on_eof(tn_conn_t *conn, int err)
{
    s2s_in_t *in = conn->ud;
    if (in->closing) {
        tn_conn_abort(conn);
        return;
    }
    tn_log(TN_LOG_DEBUG, "s2s in %llu: connection ended (%s)",
           (unsigned long long)in->id, err ? tn_strerror(err) : "eof");
    in_close(in, NULL, NULL);
}

static void in_on_timeout(tn_conn_t *conn)
{
    s2s_in_t *in = conn->ud;
    if (in->nauthed == 0)
        in_close(in, "connection-timeout", "Not authenticated in time");
    else
        in_close(in, NULL, NULL); /* idle */
}

static void in_on_closed(tn_conn_t *conn)
{
    s2s_in_t *in = conn->ud;
    in_cancel_pending(in);
    if (in->prev)
        in->prev->next = in->next;
    else
        in_all = in->next;
    if (in->next)
        in->next->prev = in->prev;
    s2s.nconns--;
    in_bidi_forget(in);
    tn_xml_parser_free(in->parser);
    for (size_t i = 0; i < in->nauthed; i++)
        tn_free(in->authed[i]);
    tn_free(in->authed);
    tn_free(in->stream_id);
    tn_free(in->local);
    tn_free(in->from);
    tn_free(in);
}

static const tn_conn_ops_t in_conn_ops = {
    .data = in_on_data,
    .tls_ready = in_on_tls_ready,
    .eof = in_on_eof,
    .timeout = in_on_timeout,
    .closed = in_on_closed,
};

static void in_on_connection(uv_stream_t *server, int status)
{
    tn_listener_t *l = server->data;
    if (status < 0) {
        tn_log(TN_LOG_WARN, "s2s: accept failed: %s", uv_strerror(status));
        return;
    }
    s2s_in_t *in = TN_NEW(s2s_in_t);
    in->lcfg = l->lcfg;
    in->id = s2s.next_id++;
    in->conn = tn_conn_new(l->srv->loop, &in_conn_ops, in);
    in->next = in_all;
    if (in_all)
        in_all->prev = in;
    in_all = in;
    s2s.nconns++;
    tn_xml_limits_t lim = {l->srv->cfg->max_preauth_stanza, S2S_MAX_DEPTH,
                           S2S_MAX_ATTRS};
    in->parser = tn_xml_parser_new(&lim, &in_xml_cbs, in);
    if (tn_listener_accept(l, in->conn) < 0) {
        in->closing = 1;
        return;
    }
    tn_log(TN_LOG_DEBUG, "s2s in %llu: connection from %s",
           (unsigned long long)in->id, in->conn->peer);
    tn_conn_timer(in->conn,
                  (uint64_t)2 * s2s.srv->cfg->s2s_connect_timeout * 1000);
}

int s2s_in_listen(char **err)
{
    if (tn_listeners_open(s2s.srv, TN_SVC_S2S, in_on_connection, &s2s.listeners,
                          err) < 0)
        return TN_EIO;
    /* Direct TLS with the s2s context: it asks for the peer's
     * certificate. */
    for (size_t i = 0; i < s2s.listeners.n; i++)
        s2s.listeners.v[i].tls = s2s.tls.server;
    return 0;
}

void s2s_in_unlisten(void)
{
    tn_listeners_close(&s2s.listeners);
}

void s2s_in_close_all(void)
{
    for (s2s_in_t *in = in_all; in; in = in->next)
        in_close(in, "system-shutdown", NULL);
}
