/* c2s_sasl.c -- SASL on c2s streams (RFC 6120 6): mechanism offer,
 * SCRAM-SHA-256/-SHA-1 and their -PLUS variants (RFC 5802, RFC 7677,
 * channel binding tls-exporter RFC 9266 and tls-server-end-point RFC 5929,
 * advertised with XEP-0440), and PLAIN only under TLS (RFC 4616).
 * Credentials come from the store asynchronously; the stream is "busy"
 * meanwhile and later stanzas wait in order. Failures are counted per
 * stream; after cfg->auth_attempts the stream ends with policy-violation
 * (RFC 6120 6.4.5). Never logs a SASL payload. */
#include <string.h>
#include <time.h>

#include "net/c2s.h"
#include "net/c2s_int.h"
#include "net/tls.h"
#include "store/store.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/jid.h"

static const struct {
    const char *name;
    c2s_mech_t mech;
} sasl_mechs[] = {
    {"SCRAM-SHA-256-PLUS", C2S_MECH_SCRAM_SHA256_PLUS},
    {"SCRAM-SHA-1-PLUS", C2S_MECH_SCRAM_SHA1_PLUS},
    {"SCRAM-SHA-256", C2S_MECH_SCRAM_SHA256},
    {"SCRAM-SHA-1", C2S_MECH_SCRAM_SHA1},
    {"PLAIN", C2S_MECH_PLAIN},
};

/* Channel-binding data of this stream's TLS, whichever layer holds it. */
static int sasl_has_cb(const c2s_t *c, const char *type)
{
    return c->tls && c->conn && tn_conn_has_cb(c->conn, type);
}

static int sasl_cb_offered(const c2s_t *c)
{
    return sasl_has_cb(c, "tls-exporter") ||
           sasl_has_cb(c, "tls-server-end-point") ||
           sasl_has_cb(c, "tls-unique");
}

static int sasl_offered(const c2s_t *c, c2s_mech_t m)
{
    switch (m) {
    case C2S_MECH_SCRAM_SHA256_PLUS:
    case C2S_MECH_SCRAM_SHA1_PLUS:
        return sasl_cb_offered(c);
    case C2S_MECH_PLAIN:
        return c->tls;
    case C2S_MECH_SCRAM_SHA256:
    case C2S_MECH_SCRAM_SHA1:
        return 1;
    default:
        return 0;
    }
}

void c2s_sasl_features(c2s_t *c, tn_buf_t *out)
{
    tn_buf_puts(out, "<mechanisms xmlns='" TN_NS_SASL "'>");
    for (size_t i = 0; i < sizeof sasl_mechs / sizeof *sasl_mechs; i++)
        if (sasl_offered(c, sasl_mechs[i].mech))
            tn_buf_printf(out, "<mechanism>%s</mechanism>",
                          sasl_mechs[i].name);
    tn_buf_puts(out, "</mechanisms>");
    if (sasl_cb_offered(c)) {
        tn_buf_puts(out, "<sasl-channel-binding xmlns='" TN_NS_SASL_CB "'>");
        if (sasl_has_cb(c, "tls-exporter"))
            tn_buf_puts(out, "<channel-binding type='tls-exporter'/>");
        if (sasl_has_cb(c, "tls-server-end-point"))
            tn_buf_puts(out,
                        "<channel-binding type='tls-server-end-point'/>");
        if (sasl_has_cb(c, "tls-unique"))
            tn_buf_puts(out, "<channel-binding type='tls-unique'/>");
        tn_buf_puts(out, "</sasl-channel-binding>");
    }
}

void c2s_sasl_reset(c2s_t *c)
{
    tn_scram_server_free(c->scram);
    c->scram = NULL;
    c->scram_step = 0;
    c->mech = C2S_MECH_NONE;
}

/* ---- failed logins per IP (SECURITY.md) -------------------------------- */

/* Table entries: failures of one address in the window that started at
 * `start`. The table is pruned of expired windows when it grows, so its
 * size is bounded by the addresses seen failing within one window. */
typedef struct sasl_ipfail {
    time_t start;
    unsigned n;
} sasl_ipfail_t;

#define SASL_IPFAIL_PRUNE 4096

/* The address part of "ip:port" into buf. */
static const char *sasl_ip(const c2s_t *c, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", c->sess.peer);
    char *colon = strrchr(buf, ':');
    if (colon)
        *colon = '\0';
    return buf;
}

static sasl_ipfail_t *sasl_ipfail_get(c2s_t *c)
{
    char ip[64];
    sasl_ipfail_t *f = tn_hmap_get(&c->srv->authfail, sasl_ip(c, ip, 64));
    if (f && time(NULL) - f->start >= (time_t)c->srv->cfg->auth_ip_window)
        f->n = 0, f->start = time(NULL);
    return f;
}

static void sasl_ipfail_prune(tn_server_t *srv)
{
    time_t now = time(NULL);
    size_t it, n = 0;
    char **dead = tn_calloc(srv->authfail.count, sizeof *dead);
    for (tn_hmap_entry_t *e = tn_hmap_first(&srv->authfail, &it); e;
         e = tn_hmap_next(&srv->authfail, e, &it)) {
        sasl_ipfail_t *f = e->value;
        if (now - f->start >= (time_t)srv->cfg->auth_ip_window)
            dead[n++] = e->key;
    }
    for (size_t i = 0; i < n; i++)
        tn_free(tn_hmap_del(&srv->authfail, dead[i]));
    tn_free(dead);
}

static void sasl_ipfail_count(c2s_t *c)
{
    tn_server_t *srv = c->srv;
    if (!srv->cfg->auth_ip_failures)
        return;
    sasl_ipfail_t *f = sasl_ipfail_get(c);
    if (!f) {
        if (srv->authfail.count >= SASL_IPFAIL_PRUNE)
            sasl_ipfail_prune(srv);
        char ip[64];
        f = TN_NEW(sasl_ipfail_t);
        f->start = time(NULL);
        tn_hmap_put(&srv->authfail, sasl_ip(c, ip, sizeof ip), f);
    }
    if (++f->n == srv->cfg->auth_ip_failures)
        tn_log(TN_LOG_WARN,
               "c2s: %u failed logins from %s within %u s; refusing "
               "logins from it for the rest of the window",
               f->n, c->sess.peer, srv->cfg->auth_ip_window);
}

static int sasl_ip_blocked(c2s_t *c)
{
    if (!c->srv->cfg->auth_ip_failures)
        return 0;
    sasl_ipfail_t *f = sasl_ipfail_get(c);
    return f && f->n >= c->srv->cfg->auth_ip_failures;
}

void tn_c2s_authfail_release(tn_server_t *srv)
{
    tn_hmap_release_free(&srv->authfail);
}

/* Sends <failure><cond/></failure> and forgets the exchange. */
static void sasl_send_failure(c2s_t *c, const char *cond)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_printf(&b, "<failure xmlns='" TN_NS_SASL "'><%s/></failure>",
                  cond);
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
    c2s_sasl_reset(c);
}

/* A failed attempt: answered, counted per stream and per IP, and the
 * stream ends when the client has used up its tries. */
static void sasl_fail(c2s_t *c, const char *cond)
{
    sasl_send_failure(c, cond);
    c->auth_failures++;
    tn_log(TN_LOG_INFO, "c2s %llu %s: authentication failed (%s), attempt %u",
           (unsigned long long)c->sess.id, c->sess.peer, cond,
           c->auth_failures);
    if (strcmp(cond, "temporary-auth-failure") != 0 &&
        strcmp(cond, "aborted") != 0)
        sasl_ipfail_count(c);
    if (c->auth_failures >= c->srv->cfg->auth_attempts)
        c2s_close(c, "policy-violation", "Too many failed authentications");
}

/* A channel-binding mismatch in client-first (a type we do not offer on
 * this connection, or 'y' while -PLUS was offered): refused before any
 * credential is looked at, so it tells an attacker nothing and is not
 * counted. COMPAT: slixmpp 1.8 tries -PLUS with tls-unique even on TLS
 * 1.3, then SCRAM with 'y', and only then PLAIN; counting those would
 * close its stream before it reaches a mechanism that works. The pre-auth
 * byte and time bounds still limit such a stream. */
static void sasl_refuse_binding(c2s_t *c)
{
    tn_log(TN_LOG_INFO, "c2s %llu %s: SASL channel binding refused",
           (unsigned long long)c->sess.id, c->sess.peer);
    sasl_send_failure(c, "not-authorized");
}

static void sasl_success(c2s_t *c, const char *user, const char *data,
                         size_t len)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_puts(&b, "<success xmlns='" TN_NS_SASL "'>");
    if (data) {
        char *enc = tn_base64_encode(data, len);
        tn_buf_puts(&b, enc);
        tn_free(enc);
    }
    tn_buf_puts(&b, "</success>");
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
    c2s_sasl_reset(c);
    tn_free(c->user);
    c->user = tn_strdup(user);
    c->authed = 1;
    tn_log(TN_LOG_INFO, "c2s %llu %s: authenticated as %s@%s",
           (unsigned long long)c->sess.id, c->sess.peer, user, c->host);
    c2s_restart(c);
}

/* Sends a challenge carrying data (base64). */
static void sasl_challenge(c2s_t *c, const char *data, size_t len)
{
    char *enc = tn_base64_encode(data, len);
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_printf(&b, "<challenge xmlns='" TN_NS_SASL "'>%s</challenge>",
                  enc);
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
    tn_free(enc);
}

static const char *sasl_scram_error(int rc)
{
    switch (rc) {
    case TN_SCRAM_E_MALFORMED: return "malformed-request";
    case TN_SCRAM_E_INVALID_AUTHZID: return "invalid-authzid";
    default: return "not-authorized";
    }
}

/* An authzid is accepted only when it names the account itself
 * (SECURITY.md: never bind as the authzid). */
static int sasl_authzid_ok(const c2s_t *c, const char *user,
                           const char *authzid)
{
    if (!authzid)
        return 1;
    tn_jid_t j;
    if (tn_jid_parse(authzid, &j) < 0)
        return 0;
    int ok = j.node && !j.resource && strcmp(j.node, user) == 0 &&
             strcmp(j.domain, c->host) == 0;
    tn_jid_release(&j);
    return ok;
}

/* ---- SCRAM ------------------------------------------------------------- */

static void sasl_scram_account_cb(void *ud, int status,
                                  const tn_account_t *acct)
{
    c2s_t *c = ud;
    if (!c->closing && c->scram) {
        int sha256 = c->mech == C2S_MECH_SCRAM_SHA256 ||
                     c->mech == C2S_MECH_SCRAM_SHA256_PLUS;
        const tn_scram_cred_t *cred =
            status == 0 ? (sha256 ? &acct->sha256 : &acct->sha1) : NULL;
        if (status < 0 && status != TN_ENOTFOUND)
            tn_log(TN_LOG_ERROR, "c2s %llu: account lookup failed: %s",
                   (unsigned long long)c->sess.id, tn_strerror(status));
        char *out = NULL;
        size_t len = 0;
        int rc = tn_scram_server_first(c->scram, cred, &out, &len);
        if (rc < 0) {
            sasl_fail(c, "temporary-auth-failure");
        } else {
            sasl_challenge(c, out, len);
            c->scram_step = 1;
        }
        tn_free(out);
        c2s_unbusy(c);
    }
    c2s_unref(c);
}

static void sasl_scram_first(c2s_t *c, const char *msg, size_t len)
{
    int plus = c->mech == C2S_MECH_SCRAM_SHA256_PLUS ||
               c->mech == C2S_MECH_SCRAM_SHA1_PLUS;
    tn_scram_hash_t h = c->mech == C2S_MECH_SCRAM_SHA256 ||
                                c->mech == C2S_MECH_SCRAM_SHA256_PLUS
                            ? TN_SCRAM_SHA256
                            : TN_SCRAM_SHA1;
    c->scram = tn_scram_server_new(h, plus, sasl_cb_offered(c),
                                   c->srv->secret, sizeof c->srv->secret);
    int rc = tn_scram_server_client_first(c->scram, msg, len);
    const char *cb = rc == 0 ? tn_scram_server_cb_type(c->scram) : NULL;
    if (rc == TN_SCRAM_E_CB || (cb && !sasl_has_cb(c, cb))) {
        sasl_refuse_binding(c);
        return;
    }
    if (rc < 0) {
        sasl_fail(c, sasl_scram_error(rc));
        return;
    }
    char *user = tn_jid_nodeprep(tn_scram_server_username(c->scram));
    if (!user) {
        sasl_fail(c, "not-authorized");
        return;
    }
    if (!sasl_authzid_ok(c, user, tn_scram_server_authzid(c->scram))) {
        tn_free(user);
        sasl_fail(c, "invalid-authzid");
        return;
    }
    c2s_ref(c);
    rc = tn_store_account_get(c->srv->store, c->host, user,
                              sasl_scram_account_cb, c);
    tn_free(user);
    if (rc < 0) {
        c2s_unref(c);
        sasl_fail(c, "temporary-auth-failure");
        return;
    }
    c->busy++;
}

static void sasl_scram_final(c2s_t *c, const char *msg, size_t len)
{
    unsigned char cbd[64];
    int cblen = 0;
    const char *cb = tn_scram_server_cb_type(c->scram);
    if (cb) {
        cblen = c->tls && c->conn ? tn_conn_cb_data(c->conn, cb, cbd, sizeof cbd)
                       : TN_EINVAL;
        if (cblen < 0) {
            sasl_fail(c, "not-authorized");
            return;
        }
    }
    char *out = NULL;
    size_t olen = 0;
    int rc = tn_scram_server_final(c->scram, msg, len, cb ? cbd : NULL,
                                   (size_t)cblen, &out, &olen);
    if (rc < 0) {
        sasl_fail(c, sasl_scram_error(rc));
        return;
    }
    char *user = tn_jid_nodeprep(tn_scram_server_username(c->scram));
    sasl_success(c, user, out, olen);
    tn_free(user);
    tn_free(out);
}

/* ---- PLAIN ------------------------------------------------------------- */

typedef struct sasl_plain {
    c2s_t *c;
    char *user;
    char *passwd;
} sasl_plain_t;

static void sasl_plain_account_cb(void *ud, int status,
                                  const tn_account_t *acct)
{
    sasl_plain_t *p = ud;
    c2s_t *c = p->c;
    if (!c->closing) {
        /* PBKDF2 here costs ~1 ms; PLAIN is for old clients only. */
        if (status == 0 &&
            tn_scram_check_password(&acct->sha256, p->passwd) == 0)
            sasl_success(c, p->user, NULL, 0);
        else
            sasl_fail(c, "not-authorized");
        c2s_unbusy(c);
    }
    size_t n = strlen(p->passwd);
    memset(p->passwd, 0, n);
    tn_free(p->passwd);
    tn_free(p->user);
    tn_free(p);
    c2s_unref(c);
}

static void sasl_plain(c2s_t *c, const char *msg, size_t len)
{
    char *authzid = NULL, *authcid = NULL, *passwd = NULL;
    if (tn_sasl_plain_parse(msg, len, &authzid, &authcid, &passwd) < 0) {
        sasl_fail(c, "malformed-request");
        return;
    }
    char *user = tn_jid_nodeprep(authcid);
    int ok = user && sasl_authzid_ok(c, user, authzid);
    tn_free(authzid);
    tn_free(authcid);
    if (!ok) {
        sasl_fail(c, user ? "invalid-authzid" : "not-authorized");
        tn_free(user);
        memset(passwd, 0, strlen(passwd));
        tn_free(passwd);
        return;
    }
    sasl_plain_t *p = TN_NEW(sasl_plain_t);
    p->c = c;
    p->user = user;
    p->passwd = passwd;
    c2s_ref(c);
    if (tn_store_account_get(c->srv->store, c->host, user,
                             sasl_plain_account_cb, p) < 0) {
        c->busy++; /* the callback below ends it */
        sasl_plain_account_cb(p, TN_EIO, NULL);
        return;
    }
    c->busy++;
}

/* ---- dispatch ---------------------------------------------------------- */

/* Decodes the base64 text of st. "=" is an empty response (RFC 6120
 * 6.4.2). Returns NULL (and answers) on bad encoding. */
static char *sasl_decode(c2s_t *c, tn_stanza_t *st, size_t *len)
{
    char *text = tn_stanza_text(st);
    char *raw;
    if (strcmp(text, "=") == 0) {
        raw = tn_strdup("");
        *len = 0;
    } else {
        raw = (char *)tn_base64_decode(text, strlen(text), len);
    }
    tn_free(text);
    if (!raw)
        sasl_fail(c, "incorrect-encoding");
    return raw;
}

static void sasl_auth(c2s_t *c, tn_stanza_t *st)
{
    if (c->mech != C2S_MECH_NONE) {
        /* A new <auth/> in the middle of an exchange aborts the old. */
        c2s_sasl_reset(c);
    }
    if (!c->tls && c->srv->cfg->require_tls) {
        sasl_fail(c, "encryption-required");
        return;
    }
    if (sasl_ip_blocked(c)) {
        /* RFC 6120 6.5.13: try again later. */
        sasl_fail(c, "temporary-auth-failure");
        return;
    }
    const char *name = tn_stanza_attr(st, "mechanism");
    c2s_mech_t m = C2S_MECH_NONE;
    for (size_t i = 0; name && i < sizeof sasl_mechs / sizeof *sasl_mechs;
         i++)
        if (strcmp(name, sasl_mechs[i].name) == 0)
            m = sasl_mechs[i].mech;
    if (m == C2S_MECH_NONE || !sasl_offered(c, m)) {
        sasl_fail(c, "invalid-mechanism");
        return;
    }
    c->mech = m;
    size_t len = 0;
    char *text = tn_stanza_text(st);
    int empty = text[0] == '\0';
    tn_free(text);
    if (empty) {
        /* No initial response: ask for it with an empty challenge. */
        c2s_write_lit(c, "<challenge xmlns='" TN_NS_SASL "'/>");
        return;
    }
    char *raw = sasl_decode(c, st, &len);
    if (!raw)
        return;
    if (m == C2S_MECH_PLAIN)
        sasl_plain(c, raw, len);
    else
        sasl_scram_first(c, raw, len);
    memset(raw, 0, len);
    tn_free(raw);
}

static void sasl_response(c2s_t *c, tn_stanza_t *st)
{
    if (c->mech == C2S_MECH_NONE) {
        sasl_fail(c, "malformed-request");
        return;
    }
    size_t len = 0;
    char *raw = sasl_decode(c, st, &len);
    if (!raw)
        return;
    if (c->mech == C2S_MECH_PLAIN)
        sasl_plain(c, raw, len);
    else if (!c->scram)
        sasl_scram_first(c, raw, len);
    else if (c->scram_step == 1)
        sasl_scram_final(c, raw, len);
    else
        sasl_fail(c, "malformed-request");
    memset(raw, 0, len);
    tn_free(raw);
}

void c2s_sasl_handle(c2s_t *c, tn_stanza_t *st)
{
    if (strcmp(st->name, "auth") == 0)
        sasl_auth(c, st);
    else if (strcmp(st->name, "response") == 0)
        sasl_response(c, st);
    else if (strcmp(st->name, "abort") == 0)
        sasl_fail(c, "aborted");
    else
        c2s_close(c, "not-authorized", NULL);
}
