/* mod_blocking.c -- XEP-0191 Blocking Command 1.3 (1.2 and 1.3 only
 * retitled, reordered and allowed any JID): the blocklist get, block and
 * unblock (one item, many, or all) with pushes to the resources that asked
 * for the list, the JID matching rules of XEP-0191 "JID Matching" (taken from
 * XEP-0016 2.1), and enforcement:
 *   - inbound (TN_HOOK_STANZA_IN, to a local account): nothing from a
 *     blocked entity reaches the user; presence (probes and subscription
 *     requests included) is dropped without a word, messages get
 *     service-unavailable, IQ get/set service-unavailable, other IQs and
 *     errors are dropped, so the user looks offline;
 *   - outbound (TN_HOOK_STANZA_OUT, from a local session): a message or
 *     IQ to a blocked entity is refused with not-acceptable plus
 *     <blocked xmlns='urn:xmpp:blocking:errors'/>; presence, errors and
 *     IQ results are dropped silently (none of them can be answered);
 *   - presence the server sends on the user's behalf (broadcasts, probe
 *     answers) to a blocked local entity is dropped in the inbound filter.
 * Blocking a contact that may see the user's presence (RFC 6121
 * subscription 'from' or 'both') sends it unavailable from each available
 * resource first; unblocking sends it the current presence afterwards.
 * Subscriptions are left alone ("polite blocking", XEP-0191 4).
 *
 * Storage: map "blocklist" of the account, key = the canonical JID as
 * blocked (full, bare, domain/resource or domain), empty value. In memory
 * a list is kept while its owner has a bound session (loaded at bind,
 * holding the new session so that nothing it sends overtakes the load) or
 * while a stanza waits for it; a stanza for an account whose list is not
 * in memory waits in a queue (its local sender held) and is routed on
 * with tn_route_resume once it is.
 *
 * Left to others: privacy lists (XEP-0016) do not exist here, so nothing
 * maps the blocklist onto them. Federation must filter server-generated
 * stanzas to remote blocked entities in its outbound path (the inbound
 * filter only sees local recipients).
 *
 * Option: max_items (default 1000): a block that would exceed it gets
 * policy-violation and changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "core/router.h"
#include "mod/roster.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

#define BLOCK_MAP "blocklist"

enum { BL_LOADING, BL_LOADED, BL_FAILED };

typedef struct block_waiter block_waiter_t;

typedef struct block_list {
    tn_server_t *srv;
    char *host, *user, *bare; /* owned */
    tn_hmap_t items;          /* canonical JID -> non-NULL marker */
    int state;                /* BL_* */
    int refs;                 /* waiters and running code holding it */
    block_waiter_t *head;     /* waiting for the load, in arrival order */
    block_waiter_t **tail;
} block_list_t;

/* What waits for a list (or two) to be loaded. */
enum {
    BW_HOLD, /* a session just bound: its stanzas wait for its list */
    BW_IQ,   /* a blocking IQ of the owner */
    BW_OUT,  /* a stanza from a local session, routed again with it */
    BW_IN,   /* a stanza to a local account, resumed past the sender's
                side (with its session held, if it had one) */
};
enum { BA_GET, BA_BLOCK, BA_UNBLOCK };

struct block_waiter {
    block_waiter_t *next;
    int kind;                /* BW_* */
    tn_server_t *srv;
    tn_stanza_t *st;         /* owned ref, or NULL (BW_HOLD) */
    tn_sess_t *sess;         /* held, or NULL */
    block_list_t *lists[2];  /* referenced */
    int nlists;
    int action;              /* BA_*, for BW_IQ */
    char **jids;             /* owned: canonical items of the request */
    size_t njids;
};

static tn_hmap_t block_cache;      /* owner bare JID -> block_list_t* */
static tn_hmap_t block_interested; /* full JID -> marker: asked for list */
static long long block_max_items;
static char block_marker; /* the address used as the "present" value */

/* ---- lists ------------------------------------------------------------- */

static void block_list_free(block_list_t *l)
{
    tn_hmap_release(&l->items);
    tn_free(l->host);
    tn_free(l->user);
    tn_free(l->bare);
    tn_free(l);
}

/* Frees l when nothing holds it and, once loaded, its owner has no bound
 * session other than `leaving` (on its way out). */
static void block_maybe_free(block_list_t *l, const tn_sess_t *leaving)
{
    if (l->refs > 0 || l->state == BL_LOADING)
        return;
    if (l->state == BL_LOADED) {
        for (tn_sess_t *s = tn_sessions_user(l->srv, l->bare); s;
             s = s->next_res)
            if (s != leaving)
                return;
        if (tn_hmap_get(&block_cache, l->bare) == l)
            tn_hmap_del(&block_cache, l->bare);
    }
    block_list_free(l);
}

static void block_unref(block_list_t *l)
{
    l->refs--;
    block_maybe_free(l, NULL);
}

static void block_waiter_free(block_waiter_t *w)
{
    if (w->sess)
        tn_sess_unhold(w->sess);
    tn_stanza_unref(w->st);
    for (size_t i = 0; i < w->njids; i++)
        tn_free(w->jids[i]);
    tn_free(w->jids);
    for (int i = 0; i < w->nlists; i++)
        block_unref(w->lists[i]);
    tn_free(w);
}

static void block_enqueue(block_list_t *l, block_waiter_t *w)
{
    w->next = NULL;
    *l->tail = w;
    l->tail = &w->next;
}

static void block_waiter_ready(block_waiter_t *w);

static void block_loaded_cb(void *ud, int status, const tn_store_item_t *it,
                            size_t n)
{
    block_list_t *l = ud;
    if (status < 0) {
        tn_log(TN_LOG_ERROR, "blocking: loading the list of %s failed: %s",
               l->bare, tn_strerror(status));
        l->state = BL_FAILED;
        if (tn_hmap_get(&block_cache, l->bare) == l)
            tn_hmap_del(&block_cache, l->bare);
    } else {
        for (size_t k = 0; k < n; k++)
            tn_hmap_put(&l->items, it[k].key, &block_marker);
        l->state = BL_LOADED;
    }
    block_waiter_t *w = l->head;
    l->head = NULL;
    l->tail = &l->head;
    l->refs++;
    while (w) {
        block_waiter_t *next = w->next;
        block_waiter_ready(w);
        w = next;
    }
    block_unref(l);
}

/* The list of user@host (bare is its JID), with a reference the caller
 * drops with block_unref. Starts loading it when it is not in memory; an
 * immediate store failure gives a list in state BL_FAILED. */
static block_list_t *block_get(tn_server_t *srv, const char *host,
                               const char *user, const char *bare)
{
    block_list_t *l = tn_hmap_get(&block_cache, bare);
    if (l) {
        l->refs++;
        return l;
    }
    l = TN_NEW(block_list_t);
    l->srv = srv;
    l->host = tn_strdup(host);
    l->user = tn_strdup(user);
    l->bare = tn_strdup(bare);
    tn_hmap_init(&l->items);
    l->tail = &l->head;
    l->refs = 1;
    l->state = BL_LOADING;
    if (tn_store_map_all(srv->store, host, user, BLOCK_MAP, block_loaded_cb,
                         l) < 0) {
        tn_log(TN_LOG_ERROR, "blocking: cannot load the list of %s", bare);
        l->state = BL_FAILED;
        return l;
    }
    tn_hmap_put(&block_cache, bare, l);
    return l;
}

/* The list of bare when it is in memory and loaded, without taking a
 * reference: for code that is done with it before anything else runs. */
static block_list_t *block_peek(const char *bare)
{
    block_list_t *l = tn_hmap_get(&block_cache, bare);
    return l && l->state == BL_LOADED ? l : NULL;
}

static block_list_t *block_get_jid(tn_server_t *srv, const tn_jid_t *j)
{
    return block_get(srv, j->domain, j->node, j->bare);
}

/* 1 when j (canonical) is blocked by l (XEP-0191 "JID Matching"): the
 * full JID itself (user@domain/resource or domain/resource), the bare
 * JID, or the domain or any domain it is a subdomain of. */
static int block_match(const block_list_t *l, const tn_jid_t *j)
{
    if (!l->items.count)
        return 0;
    if (j->resource && tn_hmap_get(&l->items, j->full))
        return 1;
    if (j->node && tn_hmap_get(&l->items, j->bare))
        return 1;
    const char *d = j->domain;
    /* IP literals have no parent domains. */
    if (*d == '[' || strspn(d, "0123456789.") == strlen(d))
        return tn_hmap_get(&l->items, d) != NULL;
    while (d) {
        if (tn_hmap_get(&l->items, d))
            return 1;
        d = strchr(d, '.');
        if (d)
            d++;
    }
    return 0;
}

/* ---- enforcement ------------------------------------------------------- */

static const char *block_type(const tn_stanza_t *st)
{
    const char *t = tn_stanza_attr(st, "type");
    return t ? t : "";
}

/* XEP-0191 3.3, inbound: st comes from an entity the recipient blocked. */
static void block_refuse_inbound(tn_server_t *srv, const tn_stanza_t *st)
{
    const char *type = block_type(st);
    if (strcmp(st->name, "presence") == 0 || strcmp(type, "error") == 0)
        return; /* MUST NOT respond */
    if (strcmp(st->name, "iq") == 0 && strcmp(type, "get") != 0 &&
        strcmp(type, "set") != 0)
        return; /* results: MUST be dropped */
    tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
}

/* XEP-0191 3.3, outbound: the user sent st to an entity it blocked. The
 * error goes straight to the session: routed, it would come from the
 * blocked entity and meet the user's own inbound filter. */
static void block_refuse_outbound(tn_sess_t *sess, const tn_stanza_t *st)
{
    if (strcmp(st->name, "presence") == 0)
        return; /* not routed, and presence errors help nobody */
    tn_stanza_t *e = tn_error_reply(st, TN_ERR_CANCEL, "not-acceptable",
                                    NULL);
    if (!e)
        return; /* an error or an IQ result: dropped */
    tn_stanza_add_child(e->kids[e->nkids - 1], "blocked",
                        TN_NS_BLOCKING_ERRORS);
    tn_sess_send(sess, e);
    tn_stanza_unref(e);
}

/* A stanza cannot be decided because a list failed to load: it is
 * refused as the server's fault (presence and errors just dropped). */
static void block_undecidable(tn_server_t *srv, const tn_stanza_t *st)
{
    if (strcmp(st->name, "presence") == 0)
        return;
    tn_route_error(srv, st, TN_ERR_WAIT, "internal-server-error");
}

/* Makes the waiter for a stanza whose lists (referenced by the caller,
 * the references pass to the waiter) are not all loaded yet. */
static tn_verdict_t block_defer(tn_server_t *srv, int kind, tn_stanza_t *st,
                                tn_sess_t *sess, block_list_t **ls, int n)
{
    block_waiter_t *w = TN_NEW(block_waiter_t);
    tn_log(TN_LOG_DEBUG, "blocking: %s waits for a blocklist", st->name);
    w->kind = kind;
    w->srv = srv;
    w->st = tn_stanza_ref(st);
    for (int i = 0; i < n; i++)
        w->lists[w->nlists++] = ls[i];
    if (sess) {
        w->sess = sess;
        tn_sess_hold(sess);
    }
    block_waiter_ready(w);
    return TN_DROP;
}

/* 1 when every list is loaded; otherwise drops the references and
 * returns 0 after deferring st (or refusing it when a list failed). */
static int block_ready(tn_server_t *srv, int kind, tn_stanza_t *st,
                       tn_sess_t *sess, block_list_t **ls, int n)
{
    for (int i = 0; i < n; i++)
        if (ls[i]->state != BL_LOADED) {
            block_defer(srv, kind, st, sess, ls, n);
            return 0;
        }
    return 1;
}

static tn_verdict_t block_on_in(tn_event_t *ev)
{
    const tn_jid_t *from = ev->from, *to = ev->to;
    /* The server's own stanzas and the user's own resources pass. */
    if (!from || !from->domain || !to || !to->node ||
        strcmp(from->bare, to->bare) == 0)
        return TN_PASS;
    const char *type = block_type(ev->stanza);
    /* Stanzas the server makes for a local user (presence broadcasts,
     * probe answers) pass no outbound filter: the sender's list applies
     * here. Errors stay: they are how a blocked entity learns nothing. */
    int sender = !ev->sess && from->node &&
                 tn_config_is_host(ev->srv->cfg, from->domain) &&
                 strcmp(type, "error") != 0;
    /* The common case, every list in memory: used without references
     * (nothing below runs before the lists are done with). */
    block_list_t *mine = block_peek(to->bare);
    block_list_t *theirs = sender ? block_peek(from->bare) : NULL;
    if (mine && (!sender || theirs)) {
        if (block_match(mine, from)) {
            tn_log(TN_LOG_DEBUG, "blocking: %s from %s to %s blocked",
                   ev->stanza->name, from->full, to->bare);
            block_refuse_inbound(ev->srv, ev->stanza);
            return TN_DROP;
        }
        if (theirs && block_match(theirs, to)) {
            tn_log(TN_LOG_DEBUG, "blocking: %s from %s to blocked %s "
                   "dropped", ev->stanza->name, from->bare, to->full);
            return TN_DROP;
        }
        return TN_PASS;
    }
    block_list_t *ls[2];
    int n = 0;
    ls[n++] = block_get_jid(ev->srv, to);
    if (sender)
        ls[n++] = block_get_jid(ev->srv, from);
    /* A local sender waits too: its next stanza (a ping) is answered
     * only after this one went on (offline storage holds it further). */
    if (!block_ready(ev->srv, BW_IN, ev->stanza, ev->sess, ls, n))
        return TN_DROP;
    tn_verdict_t v = TN_PASS;
    if (block_match(ls[0], from)) {
        tn_log(TN_LOG_DEBUG, "blocking: %s from %s to %s blocked",
               ev->stanza->name, from->full, to->bare);
        block_refuse_inbound(ev->srv, ev->stanza);
        v = TN_DROP;
    } else if (n == 2 && block_match(ls[1], to)) {
        tn_log(TN_LOG_DEBUG, "blocking: %s from %s to blocked %s dropped",
               ev->stanza->name, from->bare, to->full);
        v = TN_DROP;
    }
    for (int i = 0; i < n; i++)
        block_unref(ls[i]);
    return v;
}

static tn_verdict_t block_on_out(tn_event_t *ev)
{
    if (!ev->sess || !ev->to || !ev->from || !ev->from->node ||
        strcmp(ev->from->bare, ev->to->bare) == 0)
        return TN_PASS;
    block_list_t *l = block_peek(ev->from->bare);
    int peeked = l != NULL;
    if (!peeked) {
        l = block_get_jid(ev->srv, ev->from);
        if (!block_ready(ev->srv, BW_OUT, ev->stanza, ev->sess, &l, 1))
            return TN_DROP;
    }
    if (block_match(l, ev->to)) {
        tn_log(TN_LOG_DEBUG, "blocking: %s from %s to blocked %s refused",
               ev->stanza->name, ev->from->full, ev->to->full);
        if (!peeked)
            block_unref(l);
        /* The refusal may close the session: l is not used after it. */
        block_refuse_outbound(ev->sess, ev->stanza);
        return TN_DROP;
    }
    if (!peeked)
        block_unref(l);
    return TN_PASS;
}

/* ---- presence on block and unblock ------------------------------------- */

typedef struct block_targets {
    char **jids; /* the changed items */
    size_t n;
    tn_hmap_t to; /* collected addresses -> marker */
} block_targets_t;

/* 1 when domain item d covers domain dom (equal, or a parent of it). */
static int block_domain_covers(const char *d, const char *dom)
{
    size_t ld = strlen(d), lo = strlen(dom);
    if (ld == lo)
        return strcmp(d, dom) == 0;
    return lo > ld && dom[lo - ld - 1] == '.' &&
           strcmp(dom + lo - ld, d) == 0;
}

static void block_collect(void *ud, tn_roster_item_t *i)
{
    block_targets_t *t = ud;
    if (!tn_sub_has_from(i->sub))
        return;
    const char *at = strchr(i->jid, '@');
    const char *dom = at ? at + 1 : i->jid;
    for (size_t k = 0; k < t->n; k++) {
        const char *item = t->jids[k];
        const char *slash = strchr(item, '/');
        if (slash) {
            /* A full JID: that resource, when its bare JID may see us. */
            if (strlen(i->jid) == (size_t)(slash - item) &&
                strncmp(i->jid, item, slash - item) == 0)
                tn_hmap_put(&t->to, item, &block_marker);
        } else if (strcmp(i->jid, item) == 0 ||
                   (!strchr(item, '@') && block_domain_covers(item, dom))) {
            tn_hmap_put(&t->to, i->jid, &block_marker);
        }
    }
}

/* Sends, to every contact covered by items that may receive the user's
 * presence (RFC 6121: subscription from or both), unavailable from each
 * available resource (block) or each resource's current presence
 * (unblock). r may be NULL (roster unavailable: nothing is sent). */
static void block_presence(tn_server_t *srv, tn_roster_t *r,
                           const char *bare, char **items, size_t n,
                           int unavailable)
{
    if (!r || !n)
        return;
    block_targets_t t = {items, n, {0}};
    tn_hmap_init(&t.to);
    tn_roster_foreach(r, block_collect, &t);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&t.to, &it); e;
         e = tn_hmap_next(&t.to, e, &it)) {
        for (tn_sess_t *s = tn_sessions_user(srv, bare); s;) {
            tn_sess_t *next = s->next_res;
            if (s->available) {
                tn_stanza_t *p;
                if (unavailable) {
                    p = tn_stanza_new("presence", TN_NS_CLIENT);
                    tn_stanza_set_attr(p, "type", "unavailable");
                } else if (s->presence) {
                    p = tn_stanza_copy(s->presence);
                } else {
                    p = NULL;
                }
                if (p) {
                    tn_stanza_set_attr(p, "from", s->jid.full);
                    tn_stanza_set_attr(p, "to", e->key);
                    tn_route(srv, p, NULL);
                    tn_stanza_unref(p);
                }
            }
            s = next;
        }
    }
    tn_hmap_release(&t.to);
}

/* ---- IQs --------------------------------------------------------------- */

static int block_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void block_store_done(void *ud, int status)
{
    char *what = ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "blocking: storing %s failed: %s", what,
               tn_strerror(status));
    tn_free(what);
}

/* An <iq type='set'/> carrying the action to every resource of the owner
 * that asked for the list (XEP-0191 3.3, 3.4, 3.5). */
static void block_push(tn_server_t *srv, const char *bare, int action,
                       char **jids, size_t n)
{
    for (tn_sess_t *s = tn_sessions_user(srv, bare); s;) {
        tn_sess_t *next = s->next_res;
        if (tn_hmap_get(&block_interested, s->jid.full)) {
            tn_stanza_t *iq = tn_stanza_new("iq", TN_NS_CLIENT);
            tn_stanza_set_attr(iq, "type", "set");
            char *id = tn_random_id(12);
            tn_stanza_set_attr(iq, "id", id);
            tn_free(id);
            tn_stanza_set_attr(iq, "to", s->jid.full);
            tn_stanza_t *a = tn_stanza_add_child(
                iq, action == BA_BLOCK ? "block" : "unblock",
                TN_NS_BLOCKING);
            for (size_t k = 0; k < n; k++)
                tn_stanza_set_attr(tn_stanza_add_child(a, "item", NULL),
                                   "jid", jids[k]);
            tn_sess_send(s, iq);
            tn_stanza_unref(iq);
        }
        s = next;
    }
}

static void block_reply_result(block_waiter_t *w)
{
    tn_jid_t from = w->sess->jid;
    tn_event_t ev = {w->srv, w->st, &from, NULL, w->sess};
    tn_reply_result(&ev);
}

static void block_do_get(block_waiter_t *w, block_list_t *l)
{
    if (w->sess->bound)
        tn_hmap_put(&block_interested, w->sess->jid.full, &block_marker);
    tn_jid_t from = w->sess->jid;
    tn_event_t ev = {w->srv, w->st, &from, NULL, w->sess};
    tn_stanza_t *res = tn_iq_result_new(&ev);
    tn_stanza_t *bl = tn_stanza_add_child(res, "blocklist", TN_NS_BLOCKING);
    char **v = tn_calloc(l->items.count + 1, sizeof(char *));
    size_t n = 0, it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&l->items, &it); e;
         e = tn_hmap_next(&l->items, e, &it))
        v[n++] = e->key;
    qsort(v, n, sizeof(char *), block_strcmp);
    for (size_t k = 0; k < n; k++)
        tn_stanza_set_attr(tn_stanza_add_child(bl, "item", NULL), "jid",
                           v[k]);
    tn_free(v);
    tn_reply(&ev, res);
    tn_stanza_unref(res);
}

static void block_do_block(block_waiter_t *w, block_list_t *l,
                           tn_roster_t *r)
{
    size_t fresh = 0;
    for (size_t k = 0; k < w->njids; k++)
        if (!tn_hmap_get(&l->items, w->jids[k]))
            fresh++;
    if ((long long)(l->items.count + fresh) > block_max_items) {
        tn_route_error(w->srv, w->st, TN_ERR_MODIFY, "policy-violation");
        return;
    }
    /* Unavailable first: once the block holds, it would be filtered. */
    char **newv = tn_calloc(fresh + 1, sizeof(char *));
    size_t nn = 0;
    for (size_t k = 0; k < w->njids; k++)
        if (!tn_hmap_get(&l->items, w->jids[k]))
            newv[nn++] = w->jids[k];
    block_presence(w->srv, r, l->bare, newv, nn, 1);
    for (size_t k = 0; k < nn; k++) {
        tn_hmap_put(&l->items, newv[k], &block_marker);
        tn_store_map_put(w->srv->store, l->host, l->user, BLOCK_MAP,
                         newv[k], NULL, 0, block_store_done,
                         tn_sprintf("block of %s by %s", newv[k], l->bare));
    }
    tn_free(newv);
    block_reply_result(w);
    block_push(w->srv, l->bare, BA_BLOCK, w->jids, w->njids);
}

static void block_do_unblock(block_waiter_t *w, block_list_t *l,
                             tn_roster_t *r)
{
    char **gone = tn_calloc(l->items.count + 1, sizeof(char *));
    size_t ng = 0;
    if (w->njids == 0) {
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&l->items, &it); e;
             e = tn_hmap_next(&l->items, e, &it))
            gone[ng++] = tn_strdup(e->key);
        tn_hmap_release(&l->items);
        tn_hmap_init(&l->items);
        tn_store_map_del(w->srv->store, l->host, l->user, BLOCK_MAP, NULL,
                         block_store_done,
                         tn_sprintf("unblock-all of %s", l->bare));
    } else {
        for (size_t k = 0; k < w->njids; k++) {
            if (!tn_hmap_del(&l->items, w->jids[k]))
                continue;
            gone[ng++] = tn_strdup(w->jids[k]);
            tn_store_map_del(w->srv->store, l->host, l->user, BLOCK_MAP,
                             w->jids[k], block_store_done,
                             tn_sprintf("unblock of %s by %s", w->jids[k],
                                        l->bare));
        }
    }
    block_reply_result(w);
    block_push(w->srv, l->bare, BA_UNBLOCK, w->jids, w->njids);
    /* After the change: presence to what is still blocked is filtered. */
    block_presence(w->srv, r, l->bare, gone, ng, 0);
    for (size_t k = 0; k < ng; k++)
        tn_free(gone[k]);
    tn_free(gone);
}

static void block_set_roster_cb(void *ud, tn_roster_t *r)
{
    block_waiter_t *w = ud;
    block_list_t *l = w->lists[0];
    /* The list stayed loaded: the waiter holds it. */
    if (w->action == BA_BLOCK)
        block_do_block(w, l, r);
    else
        block_do_unblock(w, l, r);
    block_waiter_free(w);
}

/* The lists of w are all loaded (or one failed): act, then free w unless
 * it goes on (an IQ set waits for the roster next). */
static void block_waiter_ready(block_waiter_t *w)
{
    for (int i = 0; i < w->nlists; i++)
        if (w->lists[i]->state == BL_LOADING) {
            block_enqueue(w->lists[i], w);
            return;
        }
    int failed = 0;
    for (int i = 0; i < w->nlists; i++)
        failed |= w->lists[i]->state == BL_FAILED;
    switch (w->kind) {
    case BW_HOLD:
        break;
    case BW_IQ:
        if (failed) {
            tn_route_error(w->srv, w->st, TN_ERR_WAIT,
                           "internal-server-error");
        } else if (w->action == BA_GET) {
            block_do_get(w, w->lists[0]);
        } else {
            block_list_t *l = w->lists[0];
            tn_roster_use(w->srv, l->host, l->user, block_set_roster_cb, w);
            return;
        }
        break;
    case BW_OUT:
        if (!w->sess->bound)
            break; /* its stanzas die with it */
        if (failed)
            block_undecidable(w->srv, w->st);
        else
            tn_route(w->srv, w->st, w->sess);
        break;
    case BW_IN:
        if (failed)
            block_undecidable(w->srv, w->st);
        else
            tn_route_resume(w->srv, w->st,
                            w->sess && w->sess->bound ? w->sess : NULL);
        break;
    }
    block_waiter_free(w);
}

/* Reads the items of a block/unblock into w (canonical, without
 * duplicates). Returns NULL or the error condition. */
static const char *block_parse_items(const tn_stanza_t *action,
                                     block_waiter_t *w)
{
    tn_hmap_t seen;
    tn_hmap_init(&seen);
    const char *cond = NULL;
    for (size_t k = 0; k < action->nkids && !cond; k++) {
        const tn_stanza_t *c = action->kids[k];
        if (!c->name || strcmp(c->name, "item") != 0 ||
            strcmp(c->ns, TN_NS_BLOCKING) != 0)
            continue;
        const char *j = tn_stanza_attr(c, "jid");
        tn_jid_t jid;
        if (!j) {
            cond = "bad-request";
            break;
        }
        if (tn_jid_parse(j, &jid) < 0) {
            cond = "jid-malformed";
            break;
        }
        if (!tn_hmap_get(&seen, jid.full)) {
            tn_hmap_put(&seen, jid.full, &block_marker);
            w->jids = tn_realloc(w->jids, (w->njids + 1) * sizeof(char *));
            w->jids[w->njids++] = tn_strdup(jid.full);
        }
        tn_jid_release(&jid);
    }
    tn_hmap_release(&seen);
    return cond;
}

static tn_verdict_t block_on_iq(tn_event_t *ev)
{
    /* Only the owner, from a session of its own, manages its list. */
    if (!ev->sess || strcmp(ev->from->bare, ev->to->bare) != 0) {
        tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        return TN_HANDLED;
    }
    tn_stanza_t *payload = tn_stanza_child(ev->stanza, NULL, NULL);
    int set = strcmp(block_type(ev->stanza), "set") == 0;
    int action;
    if (!set && strcmp(payload->name, "blocklist") == 0)
        action = BA_GET;
    else if (set && strcmp(payload->name, "block") == 0)
        action = BA_BLOCK;
    else if (set && strcmp(payload->name, "unblock") == 0)
        action = BA_UNBLOCK;
    else {
        tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
        return TN_HANDLED;
    }
    block_waiter_t *w = TN_NEW(block_waiter_t);
    w->kind = BW_IQ;
    w->srv = ev->srv;
    w->action = action;
    if (action != BA_GET) {
        const char *cond = block_parse_items(payload, w);
        /* XEP-0191 3.3: a block needs at least one item. */
        if (!cond && action == BA_BLOCK && w->njids == 0)
            cond = "bad-request";
        if (cond) {
            tn_reply_error(ev, TN_ERR_MODIFY, cond);
            block_waiter_free(w);
            return TN_HANDLED;
        }
    }
    w->st = tn_stanza_ref(ev->stanza);
    w->sess = ev->sess;
    tn_sess_hold(w->sess); /* its later stanzas see the change */
    w->lists[w->nlists++] = block_get_jid(ev->srv, ev->from);
    block_waiter_ready(w);
    return TN_HANDLED;
}

/* ---- sessions ---------------------------------------------------------- */

static tn_verdict_t block_on_bound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    block_list_t *l = block_get_jid(ev->srv, &s->jid);
    if (l->state != BL_LOADING) {
        block_unref(l);
        return TN_PASS;
    }
    /* Nothing the new session sends is routed before its list is in. */
    block_waiter_t *w = TN_NEW(block_waiter_t);
    w->kind = BW_HOLD;
    w->srv = ev->srv;
    w->sess = s;
    tn_sess_hold(s);
    w->lists[w->nlists++] = l;
    block_enqueue(l, w);
    return TN_PASS;
}

static tn_verdict_t block_on_unbound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    tn_hmap_del(&block_interested, s->jid.full);
    block_list_t *l = tn_hmap_get(&block_cache, s->jid.bare);
    if (l)
        block_maybe_free(l, s);
    return TN_PASS;
}

static int block_load(tn_module_t *m)
{
    if (tn_module_opt_int(m, "max_items", 1000, 1, 100000,
                          &block_max_items) < 0)
        return TN_EINVAL;
    tn_hmap_init(&block_cache);
    tn_hmap_init(&block_interested);
    tn_module_feature(m, TN_NS_BLOCKING);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, TN_NS_BLOCKING, NULL,
                 block_on_iq, TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_STANZA_IN, block_on_in, TN_PRIO_FILTER);
    tn_module_hook(m, TN_HOOK_STANZA_OUT, block_on_out, TN_PRIO_FILTER);
    tn_module_hook(m, TN_HOOK_SESS_BOUND, block_on_bound, TN_PRIO_FILTER);
    /* Last: the unavailable broadcast of the leaving session (presence)
     * still passes through the filter with the list in memory. */
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, block_on_unbound,
                   TN_PRIO_FALLBACK - 1);
    return 0;
}

static void block_unload(tn_module_t *m)
{
    (void)m;
    /* The store has run every callback by now: no waiters are left. */
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&block_cache, &it); e;
         e = tn_hmap_next(&block_cache, e, &it))
        block_list_free(e->value);
    tn_hmap_release(&block_cache);
    tn_hmap_release(&block_interested);
}

const tn_module_def_t tn_mod_blocking = {
    .name = "blocking",
    .xeps = "XEP-0191 1.3",
    .load = block_load,
    .unload = block_unload,
};
