/* mod_last.c -- XEP-0012 Last Activity, answered by the server:
 *   - to the host JID (XEP-0012 5): seconds since ternd started;
 *   - to an account's bare JID (XEP-0012 3): 0 while the account has an
 *     available resource, else the seconds since its last logout with the
 *     <status/> of its last unavailable presence as text. Only the account
 *     itself and contacts the account's roster shows with a subscription
 *     'from' or 'both' may ask (XEP-0012 8); others get <forbidden/>
 *     (type auth, XEP-0086). An account with no logout on record (never
 *     logged out, or unknown to a subscribed asker) gets item-not-found.
 * Queries to full JIDs (idle time) go to the client like any IQ.
 *
 * The logout record lives in the store map "last", key "logout", value
 * "<unix time>\n<status text>", written when the last bound resource of
 * the account goes. The status is that of the last broadcast unavailable
 * presence the resource sent, cut to 1024 bytes; a resource that just
 * disconnects leaves it empty. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define LAST_MAP "last"
#define LAST_KEY "logout"
#define LAST_STATUS_MAX 1024 /* bytes of status text kept */

/* Full JID -> owned status text of the unavailable presence the session
 * broadcast last (cleared when it becomes available again). */
static tn_hmap_t last_status;

/* ---- queries ----------------------------------------------------------- */

static tn_verdict_t last_on_host(tn_event_t *ev)
{
    time_t now = time(NULL);
    long long up =
        now > ev->srv->started ? (long long)(now - ev->srv->started) : 0;
    char secs[32];
    snprintf(secs, sizeof secs, "%lld", up);
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_set_attr(tn_stanza_add_child(r, "query", TN_NS_LAST), "seconds",
                       secs);
    tn_reply(ev, r);
    tn_stanza_unref(r);
    return TN_HANDLED;
}

typedef struct last_query {
    tn_server_t *srv;
    tn_stanza_t *orig;  /* owned ref: for errors */
    tn_stanza_t *reply; /* owned: the result to fill in */
    char *host, *user;  /* owned: the account asked about */
    char *bare;         /* owned: its bare JID */
    char *asker;        /* owned: the asker's bare JID */
} last_query_t;

static void last_query_free(last_query_t *q)
{
    tn_stanza_unref(q->orig);
    tn_stanza_unref(q->reply);
    tn_free(q->host);
    tn_free(q->user);
    tn_free(q->bare);
    tn_free(q->asker);
    tn_free(q);
}

static void last_answer(last_query_t *q, long long secs, const char *status,
                        size_t status_len)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", secs < 0 ? 0 : secs);
    tn_stanza_t *qe = tn_stanza_add_child(q->reply, "query", TN_NS_LAST);
    tn_stanza_set_attr(qe, "seconds", s);
    if (status_len)
        tn_stanza_add_text(qe, status, status_len);
    tn_route(q->srv, q->reply, NULL);
}

static int last_has_available(tn_server_t *srv, const char *bare)
{
    for (tn_sess_t *s = tn_sessions_user(srv, bare); s; s = s->next_res)
        if (s->available)
            return 1;
    return 0;
}

static void last_record_cb(void *ud, int status, const tn_store_item_t *it,
                           size_t n)
{
    last_query_t *q = ud;
    /* A resource may have come up while the store was busy. */
    if (last_has_available(q->srv, q->bare)) {
        last_answer(q, 0, NULL, 0);
    } else if (status == 0 && n == 1) {
        char *end = NULL;
        long long t = strtoll(it[0].value, &end, 10);
        if (end == it[0].value || *end != '\n') {
            tn_log(TN_LOG_WARN, "last: unreadable record of %s", q->bare);
            tn_route_error(q->srv, q->orig, TN_ERR_CANCEL, "item-not-found");
        } else {
            const char *st = end + 1;
            last_answer(q, (long long)time(NULL) - t, st,
                        it[0].len - (size_t)(st - it[0].value));
        }
    } else if (status == TN_ENOTFOUND) {
        tn_route_error(q->srv, q->orig, TN_ERR_CANCEL, "item-not-found");
    } else {
        tn_log(TN_LOG_ERROR, "last: reading the record of %s failed: %s",
               q->bare, tn_strerror(status));
        tn_route_error(q->srv, q->orig, TN_ERR_WAIT, "internal-server-error");
    }
    last_query_free(q);
}

/* The asker may see the account's presence: answer. */
static void last_authorized(last_query_t *q)
{
    if (last_has_available(q->srv, q->bare)) {
        last_answer(q, 0, NULL, 0);
        last_query_free(q);
        return;
    }
    if (tn_store_map_get(q->srv->store, q->host, q->user, LAST_MAP, LAST_KEY,
                         last_record_cb, q) < 0)
        last_record_cb(q, TN_EIO, NULL, 0);
}

static void last_roster_cb(void *ud, tn_roster_t *r)
{
    last_query_t *q = ud;
    /* No roster (mod_roster not loaded, or the store failed, which it
     * logged): nobody can be shown to be subscribed. */
    tn_roster_item_t *i = r ? tn_roster_find(r, q->asker) : NULL;
    if (i && tn_sub_has_from(i->sub)) {
        last_authorized(q);
        return;
    }
    tn_route_error(q->srv, q->orig, TN_ERR_AUTH, "forbidden");
    last_query_free(q);
}

static tn_verdict_t last_on_bare(tn_event_t *ev)
{
    if (!ev->from->node || !ev->from->bare) {
        tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        return TN_HANDLED;
    }
    last_query_t *q = TN_NEW(last_query_t);
    q->srv = ev->srv;
    q->orig = tn_stanza_ref(ev->stanza);
    q->reply = tn_iq_result_new(ev);
    q->host = tn_strdup(ev->to->domain);
    q->user = tn_strdup(ev->to->node);
    q->bare = tn_strdup(ev->to->bare);
    q->asker = tn_strdup(ev->from->bare);
    if (strcmp(q->asker, q->bare) == 0)
        last_authorized(q);
    else
        tn_roster_use(ev->srv, q->host, q->user, last_roster_cb, q);
    return TN_HANDLED;
}

/* ---- recording --------------------------------------------------------- */

/* Remembers the status of a broadcast unavailable presence; forgets it
 * when the session becomes available again. Never stops the presence. */
static tn_verdict_t last_on_presence(tn_event_t *ev)
{
    if (ev->to || !ev->sess || !ev->sess->bound)
        return TN_PASS;
    const char *type = tn_stanza_attr(ev->stanza, "type");
    const char *full = ev->sess->jid.full;
    if (!type) {
        tn_free(tn_hmap_del(&last_status, full));
    } else if (strcmp(type, "unavailable") == 0) {
        char *s = tn_stanza_child_text(ev->stanza, "status", NULL);
        if (!s)
            s = tn_strdup("");
        size_t n = strlen(s);
        if (n > LAST_STATUS_MAX) {
            n = LAST_STATUS_MAX;
            /* Do not cut a UTF-8 sequence in half. */
            while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
                n--;
            s[n] = '\0';
        }
        tn_free(tn_hmap_put(&last_status, full, s));
    }
    return TN_PASS;
}

static void last_put_cb(void *ud, int status)
{
    char *bare = ud;
    if (status < 0)
        tn_log(TN_LOG_ERROR, "last: recording the logout of %s failed: %s",
               bare, tn_strerror(status));
    tn_free(bare);
}

static tn_verdict_t last_on_unbound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    char *status = tn_hmap_del(&last_status, s->jid.full);
    tn_sess_t *first = tn_sessions_user(ev->srv, s->jid.bare);
    /* Still in the table: the last one when it is alone there. */
    if (first == s && !s->next_res && s->jid.node) {
        char *v =
            tn_sprintf("%lld\n%s", (long long)time(NULL), status ? status : "");
        if (tn_store_map_put(ev->srv->store, s->jid.domain, s->jid.node,
                             LAST_MAP, LAST_KEY, v, strlen(v), last_put_cb,
                             tn_strdup(s->jid.bare)) < 0)
            tn_log(TN_LOG_WARN,
                   "last: logout of %s not recorded (store "
                   "closing)",
                   s->jid.bare);
        tn_free(v);
    }
    tn_free(status);
    return TN_PASS;
}

static int last_load(tn_module_t *m)
{
    tn_hmap_init(&last_status);
    tn_module_feature(m, TN_NS_LAST);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST, TN_NS_LAST, "query", last_on_host,
                 TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET, TN_TO_BARE, TN_NS_LAST, "query", last_on_bare,
                 TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_PRESENCE_OUT, last_on_presence, TN_PRIO_FILTER);
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, last_on_unbound, TN_PRIO_DEFAULT);
    return 0;
}

static void last_unload(tn_module_t *m)
{
    (void)m;
    tn_hmap_release_free(&last_status);
}

const tn_module_def_t tn_mod_last = {
    .name = "last",
    .xeps = "XEP-0012 1.2",
    .load = last_load,
    .unload = last_unload,
};
