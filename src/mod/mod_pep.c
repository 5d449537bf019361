/* mod_pep.c -- XEP-0163 Personal Eventing Protocol: every account is a
 * pubsub service at its bare JID, on the engine of pubsub_*.c.
 *
 *   - Requests: pubsub and pubsub#owner IQs to a bare JID (or without
 *     'to'), and disco#info / disco#items of a node there. Nodes come into
 *     being on first publish (auto-create) with the PEP defaults (access
 *     presence, one item, last item on subscription and presence) or the
 *     publish-options given.
 *   - Loading: an account's service is read from the store when first
 *     needed and kept while the account has a session (and nodes, and
 *     pep.cache_size allows) or something is being done with it;
 *     requests wait for the load, in order.
 *   - Notifications go to explicit subscribers and to every resource that
 *     wants the node by its XEP-0115 caps (pep_caps.c): the owner's own
 *     and those of contacts with a presence subscription to the owner
 *     (roster 'from' or 'both'), as the node's access model allows.
 *   - When a resource's caps become known (it came online, or its hash
 *     was resolved) it gets the last item of each node it wants whose
 *     send_last_published_item is on_sub_and_presence.
 *
 * Options: modules: {pep: {max_items: 1000, max_nodes: 256, cache_size:
 * 67108864}}: the bound of pubsub#max_items ('max' means it), of an
 * account's nodes (0: no bound; beyond it, not-allowed), and the bytes of
 * items kept in memory for online accounts (least recently used first
 * out; an evicted service is read again when next needed). */
#include <stdint.h>
#include <string.h>

#include "core/router.h"
#include "mod/pep.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"

typedef void (*pep_ready_cb)(void *ud, ps_service_t *svc);

typedef struct pep_wait {
    pep_ready_cb cb;
    void *ud;
} pep_wait_t;

typedef struct pep_entry {
    char *bare;          /* owned */
    ps_service_t *svc;   /* owned; NULL until loaded */
    int busy;            /* users: requests, fan-outs, waits */
    pep_wait_t *waiting; /* owned; callbacks waiting for the load */
    size_t nwaiting;
    size_t bytes;                  /* its items' size when last idle */
    struct pep_entry *prev, *next; /* use order, most recent first */
} pep_entry_t;

static tn_server_t *pep_srv;
static tn_hmap_t pep_services; /* bare JID -> pep_entry_t* */
static long long pep_max_items, pep_max_nodes, pep_cache_size;
static char **pep_feature_vars; /* owned: what the account advertises */
static pep_entry_t *lru_head, *lru_tail;
static size_t pep_bytes; /* sum of the entries' bytes */

static void lru_unlink(pep_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else if (lru_head == e)
        lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else if (lru_tail == e)
        lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(pep_entry_t *e)
{
    lru_unlink(e);
    e->next = lru_head;
    if (lru_head)
        lru_head->prev = e;
    lru_head = e;
    if (!lru_tail)
        lru_tail = e;
}

/* Unlinks e from the table and the use order and frees it. */
static void entry_free(pep_entry_t *e)
{
    tn_hmap_del(&pep_services, e->bare);
    lru_unlink(e);
    pep_bytes -= e->bytes;
    ps_service_free(e->svc);
    tn_free(e->waiting);
    tn_free(e->bare);
    tn_free(e);
}

static size_t svc_bytes(const ps_service_t *svc)
{
    size_t b = 0, it;
    for (tn_hmap_entry_t *x = tn_hmap_first(&svc->nodes, &it); x;
         x = tn_hmap_next(&svc->nodes, x, &it)) {
        const ps_node_t *n = x->value;
        b += 256 + strlen(n->name);
        for (size_t i = 0; i < n->nitems; i++)
            b += n->items[i]->bytes + 64;
    }
    return b;
}

/* Over pep.cache_size: the least recently used idle services go, online
 * owners' too (the next use reads the store again). */
static void pep_trim_cache(void)
{
    pep_entry_t *x = lru_tail;
    while (x && pep_bytes > (size_t)pep_cache_size) {
        pep_entry_t *prev = x->prev;
        if (!x->busy && x->svc && !x->waiting) {
            tn_log(TN_LOG_DEBUG, "pep: %s leaves the cache (%zu bytes)",
                   x->bare, x->bytes);
            entry_free(x);
        }
        x = prev;
    }
}

/* Drops one use. An idle service stays in memory while its account is
 * online and has nodes, within pep.cache_size; otherwise it goes. */
static void pep_release(pep_entry_t *e)
{
    if (--e->busy > 0 || !e->svc)
        return;
    pep_bytes -= e->bytes;
    e->bytes = svc_bytes(e->svc);
    pep_bytes += e->bytes;
    /* Nothing to keep without nodes: the next use reads the store. */
    if (!pep_srv || !tn_sessions_user(pep_srv, e->bare) ||
        !e->svc->nodes.count) {
        entry_free(e);
        return;
    }
    pep_trim_cache();
}

static void pep_store_loaded(void *ud, ps_service_t *svc, int status)
{
    pep_entry_t *e = ud;
    (void)svc;
    if (status < 0) {
        tn_log(TN_LOG_ERROR, "pep: cannot read %s from the store: %s", e->bare,
               tn_strerror(status));
        /* The waiters learn it; the entry goes with the last of them. */
        pep_wait_t *w = e->waiting;
        size_t n = e->nwaiting;
        e->waiting = NULL;
        e->nwaiting = 0;
        entry_free(e);
        for (size_t i = 0; i < n; i++)
            w[i].cb(w[i].ud, NULL);
        tn_free(w);
        return;
    }
    e->busy++;
    pep_wait_t *w = e->waiting;
    size_t n = e->nwaiting;
    e->waiting = NULL;
    e->nwaiting = 0;
    for (size_t i = 0; i < n; i++)
        w[i].cb(w[i].ud, e->svc);
    tn_free(w);
    pep_release(e);
}

/* Runs cb with owner's service (NULL when it cannot be read), now or
 * after loading it. The caller's use lasts until pep_release(entry),
 * which the callback must arrange; entry is returned (NULL when the
 * request could not even start: cb has then run with NULL). */
static pep_entry_t *pep_use(const char *owner, pep_ready_cb cb, void *ud)
{
    pep_entry_t *e = tn_hmap_get(&pep_services, owner);
    if (e)
        lru_front(e);
    if (e && !e->nwaiting && e->svc && !e->waiting) {
        e->busy++;
        cb(ud, e->svc);
        return e;
    }
    if (!e) {
        tn_jid_t j;
        if (tn_jid_parse(owner, &j) < 0) {
            cb(ud, NULL);
            return NULL;
        }
        if (!j.node) {
            tn_jid_release(&j);
            cb(ud, NULL);
            return NULL;
        }
        e = TN_NEW(pep_entry_t);
        e->bare = tn_strdup(owner);
        e->svc = ps_service_new(pep_srv, owner, j.domain, j.node, 1,
                                (int)pep_max_items);
        e->svc->max_nodes = (int)pep_max_nodes;
        tn_jid_release(&j);
        tn_hmap_put(&pep_services, owner, e);
        lru_front(e);
        e->waiting = TN_NEW(pep_wait_t); /* marks "loading" */
        if (ps_store_load(e->svc, pep_store_loaded, e) < 0) {
            entry_free(e);
            cb(ud, NULL);
            return NULL;
        }
        e->waiting[0] = (pep_wait_t){cb, ud};
        e->nwaiting = 1;
        e->busy++;
        return e;
    }
    e->waiting = tn_realloc(e->waiting, (e->nwaiting + 1) * sizeof *e->waiting);
    e->waiting[e->nwaiting++] = (pep_wait_t){cb, ud};
    e->busy++;
    return e;
}

/* ---- requests ------------------------------------------------------------ */

typedef struct pep_iq {
    tn_stanza_t *iq; /* owned ref */
    tn_jid_t from;   /* owned copy */
    char *owner;     /* owned */
    tn_sess_t *sess; /* held: the local sender, or NULL */
} pep_iq_t;

/* The local session whose request is being handled, during the call. */
static tn_sess_t *pep_cur_sess;

tn_sess_t *pep_current_session(void)
{
    return pep_cur_sess;
}

static void pep_req_done(ps_req_t *r)
{
    pep_release(r->ud);
}

static void pep_iq_ready(void *ud, ps_service_t *svc)
{
    pep_iq_t *q = ud;
    pep_entry_t *e = tn_hmap_get(&pep_services, q->owner);
    if (!svc || !e) {
        tn_route_error(pep_srv, q->iq, TN_ERR_WAIT, "internal-server-error");
    } else {
        ps_req_t *r = ps_req_new(pep_srv, svc, q->iq, &q->from);
        r->done = pep_req_done;
        r->ud = e;
        pep_cur_sess = q->sess;
        ps_handle_iq(r);
        pep_cur_sess = NULL;
    }
    if (q->sess)
        tn_sess_unhold(q->sess);
    tn_stanza_unref(q->iq);
    tn_jid_release(&q->from);
    tn_free(q->owner);
    tn_free(q);
}

static tn_verdict_t pep_on_iq(tn_event_t *ev)
{
    pep_iq_t *q = TN_NEW(pep_iq_t);
    q->iq = tn_stanza_ref(ev->stanza);
    tn_jid_copy(ev->from, &q->from);
    q->owner = tn_strdup(ev->to->bare);
    /* The sender's later stanzas wait while its service loads (and while
     * a conversion finishes, see pep_current_session). */
    q->sess = ev->sess;
    if (q->sess)
        tn_sess_hold(q->sess);
    pep_use(q->owner, pep_iq_ready, q);
    return TN_HANDLED;
}

/* disco#info / #items with a node go to the engine; without, the
 * account's own disco (mod_disco) answers, except that the owner's
 * disco#items lists the nodes (XEP-0060 5.2). */
static tn_verdict_t pep_on_disco(tn_event_t *ev)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", NULL);
    if (!q)
        return TN_PASS;
    if (!tn_stanza_attr(q, "node")) {
        if (strcmp(q->ns, TN_NS_DISCO_ITEMS) != 0 ||
            strcmp(ev->from->bare, ev->to->bare) != 0)
            return TN_PASS;
    }
    return pep_on_iq(ev);
}

/* ---- the server's own use ------------------------------------------------ */

typedef struct pep_with_ctx {
    char *owner;
    pep_svc_cb cb;
    void *ud;
} pep_with_ctx_t;

static void pep_with_ready(void *ud, ps_service_t *svc)
{
    pep_with_ctx_t *w = ud;
    pep_entry_t *e = svc ? tn_hmap_get(&pep_services, w->owner) : NULL;
    w->cb(w->ud, svc);
    if (e)
        pep_release(e);
    tn_free(w->owner);
    tn_free(w);
}

void pep_with(const char *owner, pep_svc_cb cb, void *ud)
{
    if (!pep_srv) {
        cb(ud, NULL);
        return;
    }
    pep_with_ctx_t *w = TN_NEW(pep_with_ctx_t);
    w->owner = tn_strdup(owner);
    w->cb = cb;
    w->ud = ud;
    pep_use(owner, pep_with_ready, w);
}

typedef struct pep_run_ctx {
    tn_stanza_t *iq;
    tn_jid_t from;
    char *owner;
    pep_done_cb done;
    void *ud;
} pep_run_ctx_t;

static void pep_run_done(ps_req_t *r)
{
    pep_run_ctx_t *c = r->ud;
    if (c->done)
        c->done(c->ud, r->failed);
    pep_entry_t *e = tn_hmap_get(&pep_services, c->owner);
    tn_free(c->owner);
    tn_free(c);
    if (e)
        pep_release(e);
}

static void pep_run_ready(void *ud, ps_service_t *svc)
{
    pep_run_ctx_t *c = ud;
    if (!svc) {
        if (c->done)
            c->done(c->ud, "internal-server-error");
        tn_free(c->owner);
    } else {
        ps_req_t *r = ps_req_new(pep_srv, svc, c->iq, &c->from);
        r->quiet = 1;
        r->done = pep_run_done;
        r->ud = c;
        tn_stanza_unref(c->iq);
        tn_jid_release(&c->from);
        ps_handle_iq(r);
        return;
    }
    tn_stanza_unref(c->iq);
    tn_jid_release(&c->from);
    tn_free(c);
}

void pep_run(const char *owner, tn_stanza_t *iq, pep_done_cb done, void *ud)
{
    pep_run_ctx_t *c = TN_NEW(pep_run_ctx_t);
    if (!pep_srv || tn_jid_parse(owner, &c->from) < 0) {
        tn_free(c);
        if (done)
            done(ud, "internal-server-error");
        return;
    }
    c->iq = tn_stanza_ref(iq);
    c->owner = tn_strdup(owner);
    c->done = done;
    c->ud = ud;
    pep_use(owner, pep_run_ready, c);
}

/* ---- notifications ------------------------------------------------------- */

/* May full (a resource interested by caps) see node n of its owner, by
 * the node's access model? roster: the owner's, or NULL. */
static int pep_may_see(const ps_node_t *n, const char *full,
                       tn_roster_t *roster)
{
    tn_jid_t j;
    if (tn_jid_parse(full, &j) < 0)
        return 0;
    int ok;
    if (strcmp(j.bare, n->svc->jid) == 0) {
        ok = 1;
    } else {
        /* Implicit delivery needs a presence subscription (XEP-0163 4),
         * then whatever the model asks. */
        tn_roster_item_t *i = roster ? tn_roster_find(roster, j.bare) : NULL;
        const char *type, *app;
        ok = i && !i->hidden && tn_sub_has_from(i->sub) &&
             !ps_access_check(n, &j, roster, 1, &type, &app);
    }
    tn_jid_release(&j);
    return ok;
}

typedef struct pep_fanout {
    pep_entry_t *e;
    char *node;       /* owned */
    tn_stanza_t *msg; /* owned ref */
    char **skip;      /* owned: JIDs the subscriptions reached */
    size_t nskip;
    tn_roster_t *roster;
} pep_fanout_t;

static void fanout_one(void *ud, const char *full)
{
    pep_fanout_t *f = ud;
    ps_node_t *n = tn_hmap_get(&f->e->svc->nodes, f->node);
    if (!n)
        return;
    tn_jid_t j;
    if (tn_jid_parse(full, &j) < 0)
        return;
    int skip = 0;
    for (size_t i = 0; i < f->nskip && !skip; i++)
        skip = strcmp(f->skip[i], full) == 0 || strcmp(f->skip[i], j.bare) == 0;
    tn_jid_release(&j);
    if (skip || !pep_may_see(n, full, f->roster))
        return;
    tn_stanza_set_attr(f->msg, "to", full);
    tn_route(pep_srv, f->msg, NULL);
}

static void fanout_roster(void *ud, tn_roster_t *roster)
{
    pep_fanout_t *f = ud;
    f->roster = roster;
    if (f->e->svc)
        pep_caps_interested(f->e->bare, f->node, fanout_one, f);
    for (size_t i = 0; i < f->nskip; i++)
        tn_free(f->skip[i]);
    tn_free(f->skip);
    tn_free(f->node);
    tn_stanza_unref(f->msg);
    pep_release(f->e);
    tn_free(f);
}

/* The engine's hook: every notification of a PEP node also goes to the
 * resources interested by caps. */
static void pep_notify_extra(ps_node_t *n, tn_stanza_t *msg, tn_hmap_t *sent)
{
    pep_entry_t *e = tn_hmap_get(&pep_services, n->svc->jid);
    if (!e || e->svc != n->svc || !pep_srv)
        return;
    pep_fanout_t *f = TN_NEW(pep_fanout_t);
    f->e = e;
    e->busy++;
    f->node = tn_strdup(n->name);
    f->msg = tn_stanza_ref(msg);
    size_t it;
    for (tn_hmap_entry_t *s = tn_hmap_first(sent, &it); s;
         s = tn_hmap_next(sent, s, &it)) {
        f->skip = tn_realloc(f->skip, (f->nskip + 1) * sizeof *f->skip);
        f->skip[f->nskip++] = tn_strdup(s->key);
    }
    tn_jid_t o;
    if (tn_jid_parse(e->bare, &o) < 0) {
        fanout_roster(f, NULL);
        return;
    }
    tn_roster_use(pep_srv, o.domain, o.node, fanout_roster, f);
    tn_jid_release(&o);
}

/* ---- last items on coming online ----------------------------------------- */

typedef struct pep_last {
    char *owner, *full; /* owned */
    pep_entry_t *e;
    ps_service_t *svc;
} pep_last_t;

static void last_free(pep_last_t *l)
{
    if (l->e)
        pep_release(l->e);
    tn_free(l->owner);
    tn_free(l->full);
    tn_free(l);
}

static void last_roster(void *ud, tn_roster_t *roster)
{
    pep_last_t *l = ud;
    size_t it;
    for (tn_hmap_entry_t *x = tn_hmap_first(&l->svc->nodes, &it); x;
         x = tn_hmap_next(&l->svc->nodes, x, &it)) {
        ps_node_t *n = x->value;
        if (n->nitems && n->cfg.send_last == PS_LAST_ON_SUB_AND_PRESENCE &&
            pep_caps_wants(l->owner, l->full, n->name) &&
            pep_may_see(n, l->full, roster))
            ps_send_last(n, l->full);
    }
    last_free(l);
}

static void last_ready(void *ud, ps_service_t *svc)
{
    pep_last_t *l = ud;
    l->e = svc ? tn_hmap_get(&pep_services, l->owner) : NULL;
    l->svc = svc;
    tn_jid_t o;
    if (!svc || !svc->nodes.count || tn_jid_parse(l->owner, &o) < 0) {
        last_free(l);
        return;
    }
    tn_roster_use(pep_srv, o.domain, o.node, last_roster, l);
    tn_jid_release(&o);
}

void pep_send_last_items(const char *owner, const char *full)
{
    if (!pep_srv)
        return;
    pep_last_t *l = TN_NEW(pep_last_t);
    l->owner = tn_strdup(owner);
    l->full = tn_strdup(full);
    pep_use(owner, last_ready, l);
}

/* ---- presence ------------------------------------------------------------ */

static void pep_presence(const char *owner, const tn_stanza_t *st,
                         const char *full)
{
    const char *type = tn_stanza_attr(st, "type");
    if (type && strcmp(type, "unavailable") != 0)
        return; /* subscriptions, probes, errors: not about interest */
    if (type) {
        pep_caps_presence(owner, full, NULL, NULL, 1);
        return;
    }
    tn_stanza_t *c = tn_stanza_child(st, "c", TN_NS_CAPS);
    const char *hash = c ? tn_stanza_attr(c, "hash") : NULL;
    const char *node = c ? tn_stanza_attr(c, "node") : NULL;
    const char *ver = c ? tn_stanza_attr(c, "ver") : NULL;
    if (!hash || strcmp(hash, "sha-1") != 0 || !node || !ver || !*ver)
        node = ver = NULL;
    pep_caps_presence(owner, full, node, ver, 0);
}

typedef struct pep_pres {
    char *owner, *full, *contact; /* owned */
    tn_stanza_t *st;              /* owned ref */
} pep_pres_t;

static void pep_pres_roster(void *ud, tn_roster_t *r)
{
    pep_pres_t *p = ud;
    tn_roster_item_t *i = r ? tn_roster_find(r, p->contact) : NULL;
    if (pep_srv && i && !i->hidden && tn_sub_has_from(i->sub))
        pep_presence(p->owner, p->st, p->full);
    tn_free(p->owner);
    tn_free(p->full);
    tn_free(p->contact);
    tn_stanza_unref(p->st);
    tn_free(p);
}

/* A contact's presence arriving for the account (to its bare JID). Only
 * contacts subscribed to the account's presence count (XEP-0163 4): a
 * stranger's presence leaves no trace here. */
static tn_verdict_t pep_on_presence_in(tn_event_t *ev)
{
    if (!ev->to || ev->to->resource || !ev->from || !ev->from->resource ||
        !ev->from->node)
        return TN_PASS;
    const char *type = tn_stanza_attr(ev->stanza, "type");
    if (type || !tn_stanza_child(ev->stanza, "c", TN_NS_CAPS)) {
        /* Leaving, or no caps (nothing to record: a resource forgotten):
         * no roster needed, none loaded. */
        pep_presence(ev->to->bare, ev->stanza, ev->from->full);
        return TN_PASS;
    }
    pep_pres_t *p = TN_NEW(pep_pres_t);
    p->owner = tn_strdup(ev->to->bare);
    p->full = tn_strdup(ev->from->full);
    p->contact = tn_strdup(ev->from->bare);
    p->st = tn_stanza_ref(ev->stanza);
    tn_roster_use(ev->srv, ev->to->domain, ev->to->node, pep_pres_roster, p);
    return TN_PASS;
}

/* The account's own broadcast presence. */
static tn_verdict_t pep_on_presence_out(tn_event_t *ev)
{
    if (!ev->to && ev->sess)
        pep_presence(ev->from->bare, ev->stanza, ev->from->full);
    return TN_PASS;
}

static tn_verdict_t pep_on_unbound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    pep_caps_presence(s->jid.bare, s->jid.full, NULL, NULL, 1);
    tn_sess_t *first = tn_sessions_user(ev->srv, s->jid.bare);
    int last = !first || (first == s && !s->next_res);
    pep_entry_t *e = tn_hmap_get(&pep_services, s->jid.bare);
    if (last && e && !e->busy && e->svc)
        entry_free(e);
    return TN_PASS;
}

/* ---- module -------------------------------------------------------------- */

static int pep_load(tn_module_t *m)
{
    pep_srv = tn_module_server(m);
    if (tn_module_opt_int(m, "max_items", 1000, 1, 100000, &pep_max_items) <
            0 ||
        tn_module_opt_int(m, "max_nodes", 256, 0, 100000, &pep_max_nodes) < 0 ||
        tn_module_opt_int(m, "cache_size", 64LL << 20, 0, 1LL << 40,
                          &pep_cache_size) < 0)
        return TN_EINVAL;
    tn_hmap_init(&pep_services);
    pep_caps_init(pep_srv);
    ps_notify_extra = pep_notify_extra;
    tn_module_account_identity(m, "pubsub", "pep", NULL);
    size_t n = 0;
    while (ps_features[n])
        n++;
    static const char *const pep_only[] = {"auto-create", "auto-subscribe",
                                           "filtered-notifications",
                                           "presence-notifications"};
    size_t np = sizeof pep_only / sizeof *pep_only;
    pep_feature_vars = tn_calloc(n + np + 2, sizeof(char *));
    size_t k = 0;
    pep_feature_vars[k++] = tn_strdup(PS_NS);
    for (size_t i = 0; i < n; i++)
        pep_feature_vars[k++] = tn_sprintf("%s#%s", PS_NS, ps_features[i]);
    for (size_t i = 0; i < np; i++)
        pep_feature_vars[k++] = tn_sprintf("%s#%s", PS_NS, pep_only[i]);
    for (size_t i = 0; i < k; i++)
        tn_module_feature(m, pep_feature_vars[i]);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, PS_NS, "pubsub",
                 pep_on_iq, TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, PS_NS_OWNER, "pubsub",
                 pep_on_iq, TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET, TN_TO_BARE, TN_NS_DISCO_INFO, "query",
                 pep_on_disco, TN_PRIO_DEFAULT + 10);
    tn_module_iq(m, TN_IQ_GET, TN_TO_BARE, TN_NS_DISCO_ITEMS, "query",
                 pep_on_disco, TN_PRIO_DEFAULT + 10);
    tn_module_hook(m, TN_HOOK_PRESENCE_IN, pep_on_presence_in,
                   TN_PRIO_DEFAULT + 10);
    tn_module_hook(m, TN_HOOK_PRESENCE_OUT, pep_on_presence_out,
                   TN_PRIO_DEFAULT + 10);
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, pep_on_unbound, TN_PRIO_DEFAULT);
    return 0;
}

static void pep_unload(tn_module_t *m)
{
    (void)m;
    size_t it;
    tn_hmap_entry_t *e;
    while ((e = tn_hmap_first(&pep_services, &it)) != NULL)
        entry_free(e->value);
    tn_hmap_release(&pep_services);
    pep_caps_release();
    ps_notify_extra = NULL;
    for (size_t i = 0; pep_feature_vars && pep_feature_vars[i]; i++)
        tn_free(pep_feature_vars[i]);
    tn_free(pep_feature_vars);
    pep_feature_vars = NULL;
    pep_srv = NULL;
}

const tn_module_def_t tn_mod_pep = {
    .name = "pep",
    .xeps = "XEP-0163 1.2.2, XEP-0115 (filtered notifications), XEP-0223",
    .load = pep_load,
    .unload = pep_unload,
};
