/* mod_register.c -- XEP-0077 In-Band Registration: account creation
 * before authentication, password change and account removal after it.
 *
 * Creating accounts is off unless the operator sets the option
 * allow_registration: true; then the stream feature
 * <register xmlns='http://jabber.org/features/iq-register'/> is offered
 * before login (TN_HOOK_PREAUTH_FEATURES, which c2s runs only once TLS is
 * up when require_tls is on) and a jabber:iq:register get/set is answered
 * on the unauthenticated stream (TN_HOOK_PREAUTH_IQ). Other options:
 * min_password_length (Unicode characters after SASLprep, default 8) and
 * ip_limit registrations per peer IP address per ip_window seconds
 * (default 3 per 600 s): every attempt that passes the checks counts,
 * except one refused because the name was found taken or the server
 * failed.
 *
 * Error choices (XEP-0077 2.5, sections 3.1, 3.2, 3.3):
 *   registration disabled            service-unavailable (cancel), 3.1
 *   username or password missing or  not-acceptable (modify), 3.1
 *     empty, password too short or
 *     not SASLprep-able
 *   username that fails Nodeprep     jid-malformed (modify)
 *   username taken                   conflict (cancel), 3.1
 *   too many registrations per IP    not-acceptable (wait): 3.1.1 names
 *                                    not-acceptable for "too many times";
 *                                    'wait' says retrying later may work
 *   <remove/> before login           unexpected-request (cancel), 3.2
 *   <remove/> not the only child     bad-request (modify), 3.2
 *   password change for another      bad-request (modify), 3.3
 *     username, or incomplete
 * Error replies never echo the request: it holds a password (3.3).
 *
 * Credentials are derived (PBKDF2 for SCRAM-SHA-1 and SCRAM-SHA-256) on
 * libuv's worker pool, never on the loop; the requesting session is held
 * meanwhile so that what it sends next (SASL after registering, say)
 * waits for the answer. Removing an account deletes it with all its
 * stored data (store.h cascade), answers the request, then closes every
 * session of the account with the not-authorized stream error (3.2).
 *
 * Before the deletion every contact with a subscription in either
 * direction gets 'unsubscribe' and/or 'unsubscribed' from the account
 * (3.2, RFC 6121 3.2 and 3.3), so their rosters do not keep it.
 *
 * Left to others: XEP-0004 data forms and XEP-0158 CAPTCHAs (fields only),
 * and registering with services other than this server (MUC, gateways). */
#include <string.h>
#include <uv.h>

#include "core/module.h"
#include "core/router.h"
#include "mod/roster.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"
#include "xmpp/scram.h"

/* Longest password accepted, in bytes (PBKDF2 cost does not depend on it,
 * but nobody needs more and it bounds what we keep). */
#define REG_MAX_PASSWORD 1023
/* Peer addresses tracked for the rate limit; expired windows are pruned
 * when the table is full, and when it stays full registrations wait. */
#define REG_MAX_IPS 4096

typedef enum { REG_CREATE, REG_PASSWD, REG_REMOVE } reg_kind_t;

typedef struct reg_ip {
    uint64_t start;  /* uv_now() when the window began, ms */
    unsigned count;  /* registrations counted in the window */
} reg_ip_t;

typedef struct reg_job {
    uv_work_t work;
    reg_kind_t kind;
    tn_server_t *srv;
    tn_sess_t *sess;    /* held until the job ends */
    tn_stanza_t *iq;    /* owned ref: the request */
    char *ip;           /* owned; the rate slot to refund, or NULL */
    char *password;     /* owned; wiped when freed */
    tn_account_t acct;  /* user, host owned; credentials derived */
    int status;         /* of the derivation */
} reg_job_t;

static int reg_allow;           /* allow_registration */
static long long reg_min_pw;    /* min_password_length, characters */
static long long reg_ip_limit;  /* registrations per window */
static long long reg_ip_window; /* seconds */
static tn_hmap_t reg_ips;       /* peer IP -> reg_ip_t* (owned) */

/* ---- helpers ----------------------------------------------------------- */

static void reg_wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        tn_free(s);
    }
}

/* The stanza error reply to iq without the request's payload (it may
 * hold a password), or NULL when iq must not be answered. */
static tn_stanza_t *reg_error_new(const tn_stanza_t *iq, const char *type,
                                  const char *cond, const char *text)
{
    tn_stanza_t *e = tn_error_reply(iq, type, cond, text);
    if (!e)
        return NULL;
    for (size_t i = e->nkids; i-- > 0;) {
        tn_stanza_t *k = e->kids[i];
        if (!k->name || strcmp(k->name, "error") != 0)
            tn_stanza_remove(e, k);
    }
    return e;
}

/* Sends an error for iq straight to sess (pre-auth, or a held session
 * whose request this answers). */
static void reg_send_error(tn_sess_t *sess, const tn_stanza_t *iq,
                           const char *type, const char *cond,
                           const char *text)
{
    tn_stanza_t *e = reg_error_new(iq, type, cond, text);
    if (e) {
        tn_sess_send(sess, e);
        tn_stanza_unref(e);
    }
}

/* An empty result for iq; 'to' is the session's JID once bound, and
 * 'from' what the request was addressed to (RFC 6120 8.1.2.1). */
static tn_stanza_t *reg_result_new(const tn_sess_t *sess,
                                   const tn_stanza_t *iq)
{
    tn_stanza_t *r = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(r, "type", "result");
    const char *id = tn_stanza_attr(iq, "id");
    if (id)
        tn_stanza_set_attr(r, "id", id);
    if (sess->bound)
        tn_stanza_set_attr(r, "to", sess->jid.full);
    const char *to = tn_stanza_attr(iq, "to");
    if (to && sess->bound)
        tn_stanza_set_attr(r, "from", to);
    return r;
}

static void reg_send_result(tn_sess_t *sess, const tn_stanza_t *iq)
{
    tn_stanza_t *r = reg_result_new(sess, iq);
    tn_sess_send(sess, r);
    tn_stanza_unref(r);
}

/* Number of Unicode characters in UTF-8 s (continuation bytes skipped). */
static size_t reg_utf8_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

/* Checks a new password against the policy. Returns NULL when it is
 * acceptable, else the text for the not-acceptable error. */
static const char *reg_password_problem(const char *pw)
{
    if (strlen(pw) > REG_MAX_PASSWORD)
        return "The password is too long";
    char *prepped = tn_saslprep(pw);
    if (!prepped || !*prepped) {
        reg_wipe_free(prepped);
        return "The password contains characters that are not allowed";
    }
    size_t n = reg_utf8_len(prepped);
    reg_wipe_free(prepped);
    if ((long long)n < reg_min_pw)
        return "The password is too short";
    return NULL;
}

/* ---- rate limit per peer address -------------------------------------- */

/* The IP part of "ip:port" (IPv6 addresses carry colons of their own, the
 * port follows the last one). Fresh string. */
static char *reg_peer_ip(const tn_sess_t *s)
{
    const char *colon = strrchr(s->peer, ':');
    return colon ? tn_strndup(s->peer, (size_t)(colon - s->peer))
                 : tn_strdup(s->peer);
}

static int reg_ip_expired(const reg_ip_t *r, uint64_t now)
{
    return now - r->start >= (uint64_t)reg_ip_window * 1000;
}

static void reg_ips_prune(uint64_t now)
{
    char **dead = tn_calloc(reg_ips.count + 1, sizeof *dead);
    size_t n = 0, it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&reg_ips, &it); e;
         e = tn_hmap_next(&reg_ips, e, &it))
        if (reg_ip_expired(e->value, now))
            dead[n++] = tn_strdup(e->key);
    for (size_t i = 0; i < n; i++) {
        tn_free(tn_hmap_del(&reg_ips, dead[i]));
        tn_free(dead[i]);
    }
    tn_free(dead);
}

/* Counts one registration for ip. Returns 0, or TN_ELIMIT when ip has had
 * its share in the current window (or the table is full). */
static int reg_ip_take(tn_server_t *srv, const char *ip)
{
    uint64_t now = uv_now(srv->loop);
    reg_ip_t *r = tn_hmap_get(&reg_ips, ip);
    if (!r) {
        if (reg_ips.count >= REG_MAX_IPS)
            reg_ips_prune(now);
        if (reg_ips.count >= REG_MAX_IPS)
            return TN_ELIMIT;
        r = TN_NEW(reg_ip_t);
        r->start = now;
        tn_hmap_put(&reg_ips, ip, r);
    } else if (reg_ip_expired(r, now)) {
        r->start = now;
        r->count = 0;
    }
    if (r->count >= (unsigned)reg_ip_limit)
        return TN_ELIMIT;
    r->count++;
    return 0;
}

/* Gives back a registration counted by reg_ip_take. */
static void reg_ip_refund(const char *ip)
{
    reg_ip_t *r = tn_hmap_get(&reg_ips, ip);
    if (r && r->count > 0)
        r->count--;
}

/* ---- jobs -------------------------------------------------------------- */

static reg_job_t *reg_job_new(reg_kind_t kind, tn_server_t *srv,
                              tn_sess_t *sess, tn_stanza_t *iq)
{
    reg_job_t *j = TN_NEW(reg_job_t);
    j->kind = kind;
    j->srv = srv;
    j->sess = sess;
    j->iq = tn_stanza_ref(iq);
    j->work.data = j;
    /* Later stanzas of this session wait until the job has answered. */
    tn_sess_hold(sess);
    return j;
}

static void reg_job_free(reg_job_t *j)
{
    tn_sess_t *s = j->sess;
    tn_stanza_unref(j->iq);
    tn_free(j->ip);
    reg_wipe_free(j->password);
    tn_account_release(&j->acct);
    tn_free(j);
    tn_sess_unhold(s); /* may run queued stanzas: last */
}

/* Ends job j with a stanza error. */
static void reg_job_fail(reg_job_t *j, const char *type, const char *cond,
                         const char *text)
{
    if (j->ip && j->kind == REG_CREATE)
        reg_ip_refund(j->ip);
    reg_send_error(j->sess, j->iq, type, cond, text);
    reg_job_free(j);
}

/* Worker thread: PBKDF2 for both SCRAM hashes. Touches only the job. */
static void reg_derive_work(uv_work_t *w)
{
    reg_job_t *j = w->data;
    j->status = tn_scram_derive_new(TN_SCRAM_SHA1, j->password, &j->acct.sha1);
    if (j->status == 0)
        j->status = tn_scram_derive_new(TN_SCRAM_SHA256, j->password,
                                        &j->acct.sha256);
}

static void reg_written_cb(void *ud, int status)
{
    reg_job_t *j = ud;
    if (status == 0) {
        tn_log(TN_LOG_INFO, "register: %s %s@%s (from %s)",
               j->kind == REG_CREATE ? "created" : "new password for",
               j->acct.user, j->acct.host, j->sess->peer);
        reg_send_result(j->sess, j->iq);
        reg_job_free(j);
    } else if (status == TN_EEXIST) {
        /* Lost a race with another registration: it still counts. */
        tn_free(j->ip);
        j->ip = NULL;
        reg_job_fail(j, TN_ERR_CANCEL, "conflict", NULL);
    } else if (status == TN_ENOTFOUND) {
        /* Password change of an account removed meanwhile. */
        reg_job_fail(j, TN_ERR_AUTH, "registration-required", NULL);
    } else {
        tn_log(TN_LOG_ERROR, "register: storing %s@%s failed: %s",
               j->acct.user, j->acct.host, tn_strerror(status));
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
    }
}

/* Loop thread, after reg_derive_work: stores the credentials. */
static void reg_derived_cb(uv_work_t *w, int uvstatus)
{
    reg_job_t *j = w->data;
    reg_wipe_free(j->password);
    j->password = NULL;
    if (uvstatus != 0 || j->status != 0) {
        tn_log(TN_LOG_WARN, "register: cannot derive credentials: %s",
               uvstatus != 0 ? uv_strerror(uvstatus)
                             : tn_strerror(j->status));
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
        return;
    }
    tn_store_t *st = j->srv->store;
    int rc = j->kind == REG_CREATE
                 ? tn_store_account_create(st, &j->acct, reg_written_cb, j)
                 : tn_store_account_update(st, &j->acct, reg_written_cb, j);
    if (rc < 0)
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
}

/* Starts the derivation of job j's credentials on the worker pool. */
static void reg_job_derive(reg_job_t *j)
{
    int rc = uv_queue_work(j->srv->loop, &j->work, reg_derive_work,
                           reg_derived_cb);
    if (rc != 0)
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
}

/* Registration: the account must not exist yet. Looking first keeps a
 * taken name from costing a PBKDF2 run. */
static void reg_lookup_cb(void *ud, int status, const tn_account_t *acct)
{
    reg_job_t *j = ud;
    (void)acct;
    if (status == 0) {
        reg_job_fail(j, TN_ERR_CANCEL, "conflict", NULL);
        return;
    }
    if (status != TN_ENOTFOUND) {
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
        return;
    }
    reg_job_derive(j);
}

/* ---- before authentication -------------------------------------------- */

static tn_verdict_t reg_on_preauth_features(tn_event_t *ev)
{
    if (reg_allow)
        tn_stanza_add_child(ev->stanza, "register", TN_NS_REGISTER_FEATURE);
    return TN_PASS;
}

/* Sends the registration fields (XEP-0077 3.1). */
static void reg_send_fields(tn_sess_t *sess, const tn_stanza_t *iq)
{
    tn_stanza_t *r = reg_result_new(sess, iq);
    tn_stanza_t *q = tn_stanza_add_child(r, "query", TN_NS_REGISTER);
    tn_stanza_t *ins = tn_stanza_add_child(q, "instructions", NULL);
    static const char text[] =
        "Choose a username and password for use with this service.";
    tn_stanza_add_text(ins, text, sizeof text - 1);
    tn_stanza_add_child(q, "username", NULL);
    tn_stanza_add_child(q, "password", NULL);
    tn_sess_send(sess, r);
    tn_stanza_unref(r);
}

static void reg_create(tn_event_t *ev, tn_stanza_t *q)
{
    tn_sess_t *s = ev->sess;
    tn_stanza_t *iq = ev->stanza;
    if (tn_stanza_child(q, "remove", TN_NS_REGISTER)) {
        /* XEP-0077 3.2: nothing to remove before login. */
        reg_send_error(s, iq, TN_ERR_CANCEL, "unexpected-request", NULL);
        return;
    }
    char *user = tn_stanza_child_text(q, "username", TN_NS_REGISTER);
    char *pw = tn_stanza_child_text(q, "password", TN_NS_REGISTER);
    char *node = NULL, *ip = NULL;
    const char *problem;
    tn_jid_t jid = {0};
    if (!user || !*user || !pw || !*pw) {
        /* 3.1: all requested information, an empty password included. */
        reg_send_error(s, iq, TN_ERR_MODIFY, "not-acceptable",
                       "A username and a password are required");
        goto out;
    }
    node = tn_jid_nodeprep(user);
    if (!node || tn_jid_make(node, ev->to->domain, NULL, &jid) != 0) {
        reg_send_error(s, iq, TN_ERR_MODIFY, "jid-malformed",
                       "The username is not valid");
        goto out;
    }
    if ((problem = reg_password_problem(pw)) != NULL) {
        reg_send_error(s, iq, TN_ERR_MODIFY, "not-acceptable", problem);
        goto out;
    }
    ip = reg_peer_ip(s);
    if (reg_ip_take(ev->srv, ip) < 0) {
        tn_log(TN_LOG_INFO, "register: refused for %s: too many "
                            "registrations from this address", s->peer);
        reg_send_error(s, iq, TN_ERR_WAIT, "not-acceptable",
                       "Too many registrations from your address; try "
                       "again later");
        goto out;
    }
    reg_job_t *j = reg_job_new(REG_CREATE, ev->srv, s, iq);
    j->ip = ip;
    ip = NULL;
    j->password = pw;
    pw = NULL;
    j->acct.user = tn_strdup(jid.node);
    j->acct.host = tn_strdup(jid.domain);
    if (tn_store_account_get(ev->srv->store, j->acct.host, j->acct.user,
                             reg_lookup_cb, j) < 0)
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
out:
    tn_jid_release(&jid);
    tn_free(user);
    tn_free(node);
    tn_free(ip);
    reg_wipe_free(pw);
}

static tn_verdict_t reg_on_preauth_iq(tn_event_t *ev)
{
    tn_stanza_t *iq = ev->stanza;
    const char *type = tn_stanza_attr(iq, "type");
    tn_stanza_t *q = tn_stanza_child(iq, "query", TN_NS_REGISTER);
    if (!q || !type || tn_stanza_nelements(iq) != 1)
        return TN_PASS;
    int get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        return TN_PASS;
    if (!reg_allow) {
        /* XEP-0077 3.1: a host without in-band registration. */
        reg_send_error(ev->sess, iq, TN_ERR_CANCEL, "service-unavailable",
                       NULL);
        return TN_HANDLED;
    }
    if (get)
        reg_send_fields(ev->sess, iq);
    else
        reg_create(ev, q);
    return TN_HANDLED;
}

/* ---- after authentication --------------------------------------------- */

static void reg_removed_cb(void *ud, int status)
{
    reg_job_t *j = ud;
    if (status == TN_ENOTFOUND) {
        reg_job_fail(j, TN_ERR_AUTH, "registration-required", NULL);
        return;
    }
    if (status != 0) {
        tn_log(TN_LOG_ERROR, "register: removing %s@%s failed: %s",
               j->acct.user, j->acct.host, tn_strerror(status));
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
        return;
    }
    tn_log(TN_LOG_INFO, "register: removed %s@%s (from %s)", j->acct.user,
           j->acct.host, j->sess->peer);
    reg_send_result(j->sess, j->iq);
    /* XEP-0077 3.2: then not-authorized for every session of the account.
     * Collect first: closing unlinks sessions from the table. */
    char *bare = tn_sprintf("%s@%s", j->acct.user, j->acct.host);
    size_t n = 0;
    for (tn_sess_t *s = tn_sessions_user(j->srv, bare); s; s = s->next_res)
        n++;
    tn_sess_t **all = tn_calloc(n + 1, sizeof *all);
    n = 0;
    for (tn_sess_t *s = tn_sessions_user(j->srv, bare); s; s = s->next_res)
        all[n++] = s;
    for (size_t i = 0; i < n; i++)
        all[i]->ops->close(all[i], "not-authorized", "Account removed");
    tn_free(all);
    tn_free(bare);
    reg_job_free(j);
}

/* The subscriptions of an account being removed: one contact each. */
typedef struct reg_subs {
    char **jids;  /* owned */
    unsigned char *bits; /* 1: route unsubscribe, 2: route unsubscribed */
    size_t n, cap;
} reg_subs_t;

static void reg_collect_cb(void *ud, tn_roster_item_t *i)
{
    reg_subs_t *c = ud;
    unsigned char bits = 0;
    if (i->sub.sub == TN_SUB_TO || i->sub.sub == TN_SUB_BOTH ||
        i->sub.pending_out)
        bits |= 1;
    if (i->sub.sub == TN_SUB_FROM || i->sub.sub == TN_SUB_BOTH ||
        i->sub.pending_in)
        bits |= 2;
    if (!bits)
        return;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->jids = tn_realloc(c->jids, c->cap * sizeof *c->jids);
        c->bits = tn_realloc(c->bits, c->cap);
    }
    c->jids[c->n] = tn_strdup(i->jid);
    c->bits[c->n++] = bits;
}

static void reg_route_sub(tn_server_t *srv, const char *from,
                          const char *to, const char *type)
{
    tn_stanza_t *p = tn_stanza_new("presence", TN_NS_CLIENT);
    tn_stanza_set_attr(p, "from", from);
    tn_stanza_set_attr(p, "to", to);
    tn_stanza_set_attr(p, "type", type);
    tn_route(srv, p, NULL);
    tn_stanza_unref(p);
}

/* XEP-0077 3.2 (RFC 6121 3.2, 3.3): before the account goes, its contacts
 * learn that both directions of every subscription are cancelled; then
 * the account is deleted. r is NULL when the roster could not be loaded
 * (the removal goes on: the contacts keep stale items). */
static void reg_roster_cb(void *ud, tn_roster_t *r)
{
    reg_job_t *j = ud;
    reg_subs_t c = {0};
    if (r)
        tn_roster_foreach(r, reg_collect_cb, &c);
    /* Routed after the walk: delivery may touch rosters. */
    char *bare = tn_sprintf("%s@%s", j->acct.user, j->acct.host);
    for (size_t i = 0; i < c.n; i++) {
        if (c.bits[i] & 1)
            reg_route_sub(j->srv, bare, c.jids[i], "unsubscribe");
        if (c.bits[i] & 2)
            reg_route_sub(j->srv, bare, c.jids[i], "unsubscribed");
        tn_free(c.jids[i]);
    }
    tn_free(c.jids);
    tn_free(c.bits);
    tn_free(bare);
    if (tn_store_account_delete(j->srv->store, j->acct.host, j->acct.user,
                                reg_removed_cb, j) < 0)
        reg_job_fail(j, TN_ERR_WAIT, "internal-server-error", NULL);
}

static void reg_remove(tn_event_t *ev, tn_stanza_t *q)
{
    /* 3.2: <remove/> must be the only child of <query/>. */
    if (tn_stanza_nelements(q) != 1) {
        reg_send_error(ev->sess, ev->stanza, TN_ERR_MODIFY, "bad-request",
                       NULL);
        return;
    }
    reg_job_t *j = reg_job_new(REG_REMOVE, ev->srv, ev->sess, ev->stanza);
    j->acct.user = tn_strdup(ev->from->node);
    j->acct.host = tn_strdup(ev->from->domain);
    tn_roster_use(ev->srv, j->acct.host, j->acct.user, reg_roster_cb, j);
}

static void reg_passwd(tn_event_t *ev, tn_stanza_t *q)
{
    char *user = tn_stanza_child_text(q, "username", TN_NS_REGISTER);
    char *pw = tn_stanza_child_text(q, "password", TN_NS_REGISTER);
    char *node = user ? tn_jid_nodeprep(user) : NULL;
    const char *problem;
    if (!node || strcmp(node, ev->from->node) != 0 || !pw || !*pw) {
        /* 3.3: incomplete, or not this account's name; an empty password
         * keeps the old one. */
        reg_send_error(ev->sess, ev->stanza, TN_ERR_MODIFY, "bad-request",
                       NULL);
        goto out;
    }
    if ((problem = reg_password_problem(pw)) != NULL) {
        reg_send_error(ev->sess, ev->stanza, TN_ERR_MODIFY, "not-acceptable",
                       problem);
        goto out;
    }
    reg_job_t *j = reg_job_new(REG_PASSWD, ev->srv, ev->sess, ev->stanza);
    j->password = pw;
    pw = NULL;
    j->acct.user = tn_strdup(ev->from->node);
    j->acct.host = tn_strdup(ev->from->domain);
    reg_job_derive(j);
out:
    tn_free(user);
    tn_free(node);
    reg_wipe_free(pw);
}

static tn_verdict_t reg_on_iq(tn_event_t *ev)
{
    /* Only the account itself, through its own session, and only at its
     * own server or its own bare JID (or with no 'to'). */
    if (!ev->sess || !ev->sess->bound || !ev->from->node ||
        (ev->to->node && strcmp(ev->to->bare, ev->from->bare) != 0) ||
        strcmp(ev->to->domain, ev->from->domain) != 0) {
        tn_stanza_t *e = reg_error_new(ev->stanza, TN_ERR_CANCEL,
                                       "service-unavailable", NULL);
        if (e) {
            tn_reply(ev, e);
            tn_stanza_unref(e);
        }
        return TN_HANDLED;
    }
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", TN_NS_REGISTER);
    const char *type = tn_stanza_attr(ev->stanza, "type");
    if (type && strcmp(type, "get") == 0) {
        /* 3.1: already registered. */
        tn_stanza_t *r = tn_iq_result_new(ev);
        tn_stanza_t *out = tn_stanza_add_child(r, "query", TN_NS_REGISTER);
        tn_stanza_add_child(out, "registered", NULL);
        tn_stanza_t *u = tn_stanza_add_child(out, "username", NULL);
        tn_stanza_add_text(u, ev->from->node, strlen(ev->from->node));
        tn_reply(ev, r);
        tn_stanza_unref(r);
    } else if (tn_stanza_child(q, "remove", TN_NS_REGISTER)) {
        reg_remove(ev, q);
    } else {
        reg_passwd(ev, q);
    }
    return TN_HANDLED;
}

/* ---- module ------------------------------------------------------------ */

static int reg_load(tn_module_t *m)
{
    tn_hmap_init(&reg_ips); /* first: unload runs even after a failure */
    int rc = tn_module_opt_bool(m, "allow_registration", 0, &reg_allow);
    if (rc == 0)
        rc = tn_module_opt_int(m, "min_password_length", 8, 1,
                               REG_MAX_PASSWORD, &reg_min_pw);
    if (rc == 0)
        rc = tn_module_opt_int(m, "ip_limit", 3, 1, 1000000, &reg_ip_limit);
    if (rc == 0)
        rc = tn_module_opt_int(m, "ip_window", 600, 1, 31 * 24 * 3600,
                               &reg_ip_window);
    if (rc < 0)
        return rc;
    tn_module_feature(m, TN_NS_REGISTER);
    tn_module_hook(m, TN_HOOK_PREAUTH_FEATURES, reg_on_preauth_features,
                   TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_PREAUTH_IQ, reg_on_preauth_iq,
                   TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_HOST | TN_TO_BARE,
                 TN_NS_REGISTER, "query", reg_on_iq, TN_PRIO_DEFAULT);
    return 0;
}

static void reg_unload(tn_module_t *m)
{
    (void)m;
    tn_hmap_release_free(&reg_ips);
}

const tn_module_def_t tn_mod_register = {
    .name = "register",
    .xeps = "XEP-0077 2.5",
    .load = reg_load,
    .unload = reg_unload,
};
