/* mod_offline.c -- XEP-0160 offline messages: a chat or normal message
 * with a body for a local account that has no available resource is
 * stored in the store's queue "offline" with an XEP-0203 <delay/>, and
 * delivered at the account's next initial presence (to the resource that
 * sent it, if its priority is not negative), then deleted.
 *
 * Durability: the sender's session is held while the message is being
 * committed, so anything it sends afterwards (a ping, say) is answered
 * only once the message is on disk; a kill -9 after that loses nothing.
 * Beyond max_messages per account (option, default 1000) the sender gets
 * service-unavailable (RFC 6121 8.5.2.2.1); an account that does not
 * exist never gets here (the router answers it, RFC 6121 8.5.1).
 * Messages without a body (chat states, receipts) are not stored:
 * XEP-0160 3 and XEP-0334's defaults. */
#include <string.h>
#include <time.h>

#include "core/module.h"
#include "core/router.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/error.h"

static long long offline_max;
/* Accounts whose queue is being delivered: a second resource coming up
 * meanwhile does not fetch the same messages again. */
static tn_hmap_t offline_busy;

typedef struct offline_store {
    tn_server_t *srv;
    tn_stanza_t *st;   /* owned copy, with <delay/> */
    tn_stanza_t *orig; /* owned ref: for the error reply */
    tn_sess_t *sender; /* held, or NULL */
    char *host, *user; /* owned */
} offline_store_t;

static void offline_store_free(offline_store_t *o)
{
    if (o->sender)
        tn_sess_unhold(o->sender);
    tn_stanza_unref(o->st);
    tn_stanza_unref(o->orig);
    tn_free(o->host);
    tn_free(o->user);
    tn_free(o);
}

static void offline_pushed_cb(void *ud, int status, long long id)
{
    offline_store_t *o = ud;
    (void)id;
    if (status < 0) {
        if (status != TN_ELIMIT)
            tn_log(TN_LOG_ERROR, "offline: storing for %s@%s failed: %s",
                   o->user, o->host, tn_strerror(status));
        tn_route_error(o->srv, o->orig, TN_ERR_CANCEL,
                       "service-unavailable");
    }
    offline_store_free(o);
}

/* Queues o's message. The router has already checked that the account
 * exists (RFC 6121 8.5.1) before any message reaches this hook. */
static void offline_push(offline_store_t *o)
{
    char *xml = tn_stanza_to_string(o->st, TN_NS_CLIENT);
    int rc = tn_store_queue_push(o->srv->store, o->host, o->user, "offline",
                                 xml, strlen(xml), (size_t)offline_max,
                                 offline_pushed_cb, o);
    tn_free(xml);
    if (rc < 0)
        offline_pushed_cb(o, rc, 0);
}

static tn_verdict_t offline_on_message(tn_event_t *ev)
{
    tn_stanza_t *st = ev->stanza;
    if (!tn_stanza_child(st, "body", NULL)) {
        tn_log(TN_LOG_DEBUG, "offline: message without body to %s dropped",
               ev->to->bare);
        return TN_HANDLED;
    }
    offline_store_t *o = TN_NEW(offline_store_t);
    o->srv = ev->srv;
    o->orig = tn_stanza_ref(st);
    o->st = tn_stanza_copy(st);
    o->host = tn_strdup(ev->to->domain);
    o->user = tn_strdup(ev->to->node);
    /* XEP-0203: when and where the message waited. */
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    tn_stanza_t *d = tn_stanza_add_child(o->st, "delay", TN_NS_DELAY);
    tn_stanza_set_attr(d, "from", ev->to->domain);
    tn_stanza_set_attr(d, "stamp", stamp);
    tn_stanza_add_text(d, "Offline Storage", 15);
    /* The sender is the session this message came from, if local. */
    const char *from = tn_stanza_attr(st, "from");
    tn_sess_t *s = from ? tn_sessions_full(ev->srv, from) : NULL;
    if (s) {
        o->sender = s;
        tn_sess_hold(s);
    }
    offline_push(o);
    return TN_HANDLED;
}

/* ---- delivery ---------------------------------------------------------- */

typedef struct offline_fetch {
    tn_server_t *srv;
    tn_sess_t *sess; /* held */
    char *bare;      /* owned */
} offline_fetch_t;

static void offline_deleted_cb(void *ud, int status)
{
    char *bare = ud;
    if (status < 0)
        tn_log(TN_LOG_ERROR, "offline: deleting delivered messages of %s "
                             "failed: %s", bare, tn_strerror(status));
    tn_free(bare);
}

static void offline_entries_cb(void *ud, int status,
                               const tn_store_entry_t *e, size_t n)
{
    offline_fetch_t *f = ud;
    tn_sess_t *s = f->sess;
    tn_hmap_del(&offline_busy, f->bare);
    if (status < 0) {
        tn_log(TN_LOG_ERROR, "offline: reading messages of %s failed: %s",
               f->bare, tn_strerror(status));
        n = 0;
    }
    long long last = 0;
    for (size_t i = 0; i < n && s->bound; i++) {
        tn_stanza_t *m = tn_xml_element_parse(e[i].value, e[i].len,
                                              TN_NS_CLIENT);
        if (m) {
            tn_stanza_set_attr(m, "to", s->jid.full);
            tn_sess_send(s, m);
            tn_stanza_unref(m);
        } else {
            tn_log(TN_LOG_WARN, "offline: unreadable message %lld of %s "
                                "dropped", e[i].id, f->bare);
        }
        last = e[i].id;
    }
    if (last > 0) {
        const char *at = strchr(f->bare, '@');
        char *user = tn_strndup(f->bare, (size_t)(at - f->bare));
        tn_store_queue_del(f->srv->store, at + 1, user, "offline", last,
                           offline_deleted_cb, tn_strdup(f->bare));
        tn_free(user);
        tn_log(TN_LOG_DEBUG, "offline: %zu message(s) delivered to %s", n,
               s->jid.full);
    }
    tn_sess_unhold(s);
    tn_free(f->bare);
    tn_free(f);
}

/* Runs before mod_presence marks the session available: the first
 * available presence without 'to' is the initial one. */
static tn_verdict_t offline_on_presence(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    if (ev->to || tn_stanza_attr(ev->stanza, "type") || s->available)
        return TN_PASS;
    char *p = tn_stanza_child_text(ev->stanza, "priority", NULL);
    int negative = p && p[0] == '-';
    tn_free(p);
    if (negative || tn_hmap_get(&offline_busy, s->jid.bare))
        return TN_PASS;
    offline_fetch_t *f = TN_NEW(offline_fetch_t);
    f->srv = ev->srv;
    f->sess = s;
    f->bare = tn_strdup(s->jid.bare);
    tn_hmap_put(&offline_busy, f->bare, f);
    tn_sess_hold(s);
    if (tn_store_queue_all(ev->srv->store, s->jid.domain, s->jid.node,
                           "offline", offline_entries_cb, f) < 0)
        offline_entries_cb(f, TN_EIO, NULL, 0);
    return TN_PASS;
}

static int offline_load(tn_module_t *m)
{
    if (tn_module_opt_int(m, "max_messages", 1000, 1, 1000000,
                          &offline_max) < 0)
        return TN_EINVAL;
    tn_hmap_init(&offline_busy);
    tn_module_feature(m, TN_NS_OFFLINE);
    tn_module_hook(m, TN_HOOK_MESSAGE_OFFLINE, offline_on_message,
                   TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_PRESENCE_OUT, offline_on_presence,
                   TN_PRIO_FILTER);
    return 0;
}

static void offline_unload(tn_module_t *m)
{
    (void)m;
    tn_hmap_release(&offline_busy);
}

const tn_module_def_t tn_mod_offline = {
    .name = "offline",
    .xeps = "XEP-0160 1.0.1; XEP-0203 2.0",
    .load = offline_load,
    .unload = offline_unload,
};
