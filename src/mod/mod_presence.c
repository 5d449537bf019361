/* mod_presence.c -- presence (RFC 6121 4) and the routing side of
 * subscriptions (RFC 6121 3): initial presence with probes, broadcast to
 * subscribers and to the user's own resources, presence probes answered
 * for subscribers, unavailable on logout or a broken connection, directed
 * presence and the unavailable that must follow it, priority (read by the
 * router for bare-JID messages), and the outbound and inbound handling of
 * subscribe/subscribed/unsubscribe/unsubscribed through the roster engine
 * (mod/roster.h), including requests stored while the contact was offline
 * and delivered at the next initial presence.
 *
 * It keeps per session only what tn_sess_t carries (available, priority,
 * last presence) plus the set of entities that got directed presence. */
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "core/router.h"
#include "mod/roster.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

/* Full JID of a session -> the JIDs it sent directed available presence
 * to (RFC 6121 4.6), which get unavailable when it goes. */
typedef struct pres_directed {
    char **jids; /* owned */
    size_t n;
} pres_directed_t;

static tn_hmap_t pres_directed;

/* ---- helpers ----------------------------------------------------------- */

static const char *pres_type(const tn_stanza_t *st)
{
    const char *t = tn_stanza_attr(st, "type");
    return t ? t : "";
}

/* Routes a copy of st with new from/to (NULL from: keep). */
static void pres_send(tn_server_t *srv, const tn_stanza_t *st,
                      const char *from, const char *to)
{
    tn_stanza_t *c = tn_stanza_copy(st);
    if (from)
        tn_stanza_set_attr(c, "from", from);
    tn_stanza_set_attr(c, "to", to);
    tn_route(srv, c, NULL);
    tn_stanza_unref(c);
}

/* Routes <presence type=type from=from to=to/> (type NULL: available). */
static void pres_send_type(tn_server_t *srv, const char *type,
                           const char *from, const char *to)
{
    tn_stanza_t *p = tn_stanza_new("presence", TN_NS_CLIENT);
    if (type)
        tn_stanza_set_attr(p, "type", type);
    tn_stanza_set_attr(p, "from", from);
    tn_stanza_set_attr(p, "to", to);
    tn_route(srv, p, NULL);
    tn_stanza_unref(p);
}

/* The current presence of each available resource of bare to `to`, as
 * after an approval or for a probe; with none, unavailable from the bare
 * JID when tell_unavailable. */
static void pres_send_current(tn_server_t *srv, const char *bare,
                              const char *to, int tell_unavailable)
{
    int any = 0;
    for (tn_sess_t *s = tn_sessions_user(srv, bare); s;) {
        tn_sess_t *next = s->next_res;
        if (s->available && s->presence) {
            pres_send(srv, s->presence, s->jid.full, to);
            any = 1;
        }
        s = next;
    }
    if (!any && tell_unavailable)
        pres_send_type(srv, "unavailable", bare, to);
}

/* Unavailable from each available resource of bare to `to`. */
static void pres_send_unavailable(tn_server_t *srv, const char *bare,
                                  const char *to)
{
    for (tn_sess_t *s = tn_sessions_user(srv, bare); s;) {
        tn_sess_t *next = s->next_res;
        if (s->available)
            pres_send_type(srv, "unavailable", s->jid.full, to);
        s = next;
    }
}

static void pres_directed_free(pres_directed_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        tn_free(d->jids[i]);
    tn_free(d->jids);
    tn_free(d);
}

static void pres_directed_set(const char *full, const char *to, int add)
{
    pres_directed_t *d = tn_hmap_get(&pres_directed, full);
    for (size_t i = 0; d && i < d->n; i++)
        if (strcmp(d->jids[i], to) == 0) {
            if (!add) {
                tn_free(d->jids[i]);
                d->jids[i] = d->jids[--d->n];
            }
            return;
        }
    if (!add)
        return;
    if (!d) {
        d = TN_NEW(pres_directed_t);
        tn_hmap_put(&pres_directed, full, d);
    }
    d->jids = tn_realloc(d->jids, (d->n + 1) * sizeof(char *));
    d->jids[d->n++] = tn_strdup(to);
}

/* ---- broadcast (RFC 6121 4.2, 4.4, 4.5) -------------------------------- */

typedef struct pres_bcast {
    tn_server_t *srv;
    tn_stanza_t *st;  /* owned ref: what to broadcast */
    char *full;       /* owned: the sending resource */
    char *bare;       /* owned */
    tn_sess_t *sess;  /* held while waiting; NULL for a session gone */
    int initial;      /* first available presence of the session */
    int unavailable;
    char **to;        /* collected targets (owned) */
    size_t nto;
    char **probe;     /* contacts to probe (owned) */
    size_t nprobe;
    char **asked;     /* pending-in contacts to re-deliver (owned) */
    size_t nasked;
} pres_bcast_t;

static void pres_push(char ***v, size_t *n, const char *s)
{
    *v = tn_realloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = tn_strdup(s);
}

static void pres_collect(void *ud, tn_roster_item_t *i)
{
    pres_bcast_t *b = ud;
    if (tn_sub_has_from(i->sub))
        pres_push(&b->to, &b->nto, i->jid);
    if (b->initial && tn_sub_has_to(i->sub))
        pres_push(&b->probe, &b->nprobe, i->jid);
    if (b->initial && i->sub.pending_in)
        pres_push(&b->asked, &b->nasked, i->jid);
}

static void pres_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tn_free(v[i]);
    tn_free(v);
}

/* Stored subscription requests (map "subin": contact -> the presence as
 * it came), for a session's initial presence. */
typedef struct pres_asked {
    tn_server_t *srv;
    tn_sess_t *sess; /* held */
    char *full;      /* owned */
    char **asked;    /* owned: contacts still pending-in */
    size_t nasked;
} pres_asked_t;

static void pres_asked_cb(void *ud, int status, const tn_store_item_t *it,
                          size_t n)
{
    pres_asked_t *a = ud;
    for (size_t i = 0; i < a->nasked; i++) {
        tn_stanza_t *p = NULL;
        for (size_t k = 0; status == 0 && k < n && !p; k++)
            if (strcmp(it[k].key, a->asked[i]) == 0)
                p = tn_xml_element_parse(it[k].value, it[k].len,
                                         TN_NS_CLIENT);
        if (!p) {
            p = tn_stanza_new("presence", TN_NS_CLIENT);
            tn_stanza_set_attr(p, "type", "subscribe");
        }
        tn_stanza_set_attr(p, "from", a->asked[i]);
        tn_stanza_set_attr(p, "to", a->full);
        if (a->sess->bound)
            tn_sess_send(a->sess, p);
        tn_stanza_unref(p);
    }
    tn_sess_unhold(a->sess);
    pres_strv_free(a->asked, a->nasked);
    tn_free(a->full);
    tn_free(a);
}

static void pres_deliver_asked(pres_bcast_t *b)
{
    pres_asked_t *a = TN_NEW(pres_asked_t);
    a->srv = b->srv;
    a->sess = b->sess;
    tn_sess_hold(a->sess);
    a->full = tn_strdup(b->full);
    a->asked = b->asked;
    a->nasked = b->nasked;
    b->asked = NULL;
    b->nasked = 0;
    tn_sess_t *s = a->sess;
    if (tn_store_map_all(b->srv->store, s->jid.domain, s->jid.node, "subin",
                         pres_asked_cb, a) < 0)
        pres_asked_cb(a, TN_EIO, NULL, 0);
}

static void pres_bcast_cb(void *ud, tn_roster_t *r)
{
    pres_bcast_t *b = ud;
    tn_server_t *srv = b->srv;
    if (r)
        tn_roster_foreach(r, pres_collect, b);
    /* Subscribers first, then probes, then the user's own resources. */
    for (size_t i = 0; i < b->nto; i++)
        pres_send(srv, b->st, b->full, b->to[i]);
    for (size_t i = 0; i < b->nprobe; i++)
        pres_send_type(srv, "probe", b->bare, b->probe[i]);
    for (tn_sess_t *s = tn_sessions_user(srv, b->bare); s;) {
        tn_sess_t *next = s->next_res;
        if (s->available || (b->sess == s && !b->unavailable))
            pres_send(srv, b->st, b->full, s->jid.full);
        s = next;
    }
    /* RFC 6121 4.2.2: an entity is implicitly subscribed to its own
     * presence, so a new resource learns of the others as of contacts. */
    for (tn_sess_t *s = tn_sessions_user(srv, b->bare);
         b->sess && b->initial && !b->unavailable && s;) {
        tn_sess_t *next = s->next_res;
        if (s != b->sess && s->available && s->presence)
            pres_send(srv, s->presence, s->jid.full, b->full);
        s = next;
    }
    if (b->unavailable) {
        pres_directed_t *d = tn_hmap_del(&pres_directed, b->full);
        for (size_t i = 0; d && i < d->n; i++)
            pres_send(srv, b->st, b->full, d->jids[i]);
        pres_directed_free(d);
    }
    /* RFC 6121 3.1.3: requests that waited are delivered again at each
     * initial presence until the user answers, as they were sent. */
    if (b->sess && b->initial && !b->unavailable && b->nasked)
        pres_deliver_asked(b);
    if (b->sess)
        tn_sess_unhold(b->sess);
    tn_stanza_unref(b->st);
    tn_free(b->full);
    tn_free(b->bare);
    pres_strv_free(b->to, b->nto);
    pres_strv_free(b->probe, b->nprobe);
    pres_strv_free(b->asked, b->nasked);
    tn_free(b);
}

/* Broadcasts st (available or unavailable) for session s. hold: keep the
 * session's later stanzas waiting until done (it is live). */
static void pres_broadcast(tn_server_t *srv, tn_sess_t *s, tn_stanza_t *st,
                           int initial, int unavailable, int hold)
{
    pres_bcast_t *b = TN_NEW(pres_bcast_t);
    b->srv = srv;
    b->st = tn_stanza_copy(st);
    tn_stanza_set_attr(b->st, "to", NULL);
    b->full = tn_strdup(s->jid.full);
    b->bare = tn_strdup(s->jid.bare);
    b->initial = initial;
    b->unavailable = unavailable;
    if (hold) {
        b->sess = s;
        tn_sess_hold(s);
    }
    tn_roster_use(srv, s->jid.domain, s->jid.node, pres_bcast_cb, b);
}

/* ---- outbound (from a local session) ----------------------------------- */

typedef struct pres_sub {
    tn_server_t *srv;
    tn_sess_t *sess;     /* held, or NULL (inbound) */
    char *owner_host, *owner_user, *owner_bare; /* owned */
    char *contact;       /* owned: bare JID */
    tn_sub_event_t ev;
    tn_stanza_t *st;     /* owned ref */
} pres_sub_t;

static void pres_sub_free(pres_sub_t *p)
{
    if (p->sess)
        tn_sess_unhold(p->sess);
    tn_free(p->owner_host);
    tn_free(p->owner_user);
    tn_free(p->owner_bare);
    tn_free(p->contact);
    tn_stanza_unref(p->st);
    tn_free(p);
}

static void pres_subin_done(void *ud, int status)
{
    (void)ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "presence: storing a subscription request "
                             "failed: %s", tn_strerror(status));
}

/* Keeps the request as it came while it is pending (extended content such
 * as a nick or status survives until the user answers), and forgets it
 * once it is not. */
static void pres_subin_store(pres_sub_t *p, int pending)
{
    tn_store_t *st = p->srv->store;
    if (!pending) {
        tn_store_map_del(st, p->owner_host, p->owner_user, "subin",
                         p->contact, pres_subin_done, NULL);
        return;
    }
    tn_stanza_t *c = tn_stanza_copy(p->st);
    tn_stanza_set_attr(c, "to", NULL);
    tn_stanza_set_attr(c, "from", NULL);
    char *xml = tn_stanza_to_string(c, TN_NS_CLIENT);
    tn_stanza_unref(c);
    tn_store_map_put(st, p->owner_host, p->owner_user, "subin", p->contact,
                     xml, strlen(xml), pres_subin_done, NULL);
    tn_free(xml);
}

/* Applies p's event to the owner's roster r and keeps the stored request
 * in step: stored when a delivered subscribe leaves it pending, forgotten
 * once it is not pending any more. */
static tn_sub_result_t pres_sub_apply(pres_sub_t *p, tn_roster_t *r)
{
    tn_roster_item_t *i = tn_roster_find(r, p->contact);
    int was_pending = i && i->sub.pending_in;
    tn_sub_result_t res = tn_roster_subscription(p->srv, r, p->contact, p->ev);
    if (res.state.pending_in && p->ev == TN_SUB_IN_SUBSCRIBE && res.pass)
        pres_subin_store(p, 1);
    else if (was_pending && !res.state.pending_in)
        pres_subin_store(p, 0);
    return res;
}

static void pres_sub_out_cb(void *ud, tn_roster_t *r)
{
    pres_sub_t *p = ud;
    if (r) {
        tn_sub_result_t res = pres_sub_apply(p, r);
        /* RFC 6121 3.1.2: stamped with the user's bare JID. */
        if (res.pass)
            pres_send(p->srv, p->st, p->owner_bare, p->contact);
        if (res.send_available)
            pres_send_current(p->srv, p->owner_bare, p->contact, 0);
        if (res.send_unavailable)
            pres_send_unavailable(p->srv, p->owner_bare, p->contact);
    }
    pres_sub_free(p);
}

static const struct {
    const char *type;
    tn_sub_event_t out, in;
} pres_sub_types[] = {
    {"subscribe", TN_SUB_OUT_SUBSCRIBE, TN_SUB_IN_SUBSCRIBE},
    {"subscribed", TN_SUB_OUT_SUBSCRIBED, TN_SUB_IN_SUBSCRIBED},
    {"unsubscribe", TN_SUB_OUT_UNSUBSCRIBE, TN_SUB_IN_UNSUBSCRIBE},
    {"unsubscribed", TN_SUB_OUT_UNSUBSCRIBED, TN_SUB_IN_UNSUBSCRIBED},
};

static int pres_sub_index(const char *type)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(type, pres_sub_types[i].type) == 0)
            return i;
    return -1;
}

static pres_sub_t *pres_sub_new(tn_event_t *ev, const tn_jid_t *owner,
                                const char *contact, tn_sub_event_t sev)
{
    pres_sub_t *p = TN_NEW(pres_sub_t);
    p->srv = ev->srv;
    p->owner_host = tn_strdup(owner->domain);
    p->owner_user = tn_strdup(owner->node);
    p->owner_bare = tn_strdup(owner->bare);
    p->contact = tn_strdup(contact);
    p->ev = sev;
    p->st = tn_stanza_ref(ev->stanza);
    return p;
}

static tn_verdict_t pres_on_out(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    const char *type = pres_type(ev->stanza);
    if (!ev->to) {
        if (*type && strcmp(type, "unavailable") != 0) {
            tn_route_error(ev->srv, ev->stanza, TN_ERR_MODIFY, "bad-request");
            return TN_HANDLED;
        }
        if (strcmp(type, "unavailable") == 0) {
            if (s->available) {
                s->available = 0;
                tn_stanza_unref(s->presence);
                s->presence = NULL;
                pres_broadcast(ev->srv, s, ev->stanza, 0, 1, 1);
            }
            return TN_HANDLED;
        }
        int initial = !s->available;
        const char *prio = NULL;
        char *ptext = tn_stanza_child_text(ev->stanza, "priority", NULL);
        long v = 0;
        if (ptext) {
            char *end;
            v = strtol(ptext, &end, 10);
            prio = (*ptext && !*end && v >= -128 && v <= 127) ? ptext : NULL;
            if (!prio) {
                tn_free(ptext);
                tn_route_error(ev->srv, ev->stanza, TN_ERR_MODIFY,
                               "bad-request");
                return TN_HANDLED;
            }
        }
        tn_free(ptext);
        s->available = 1;
        s->priority = (int)v;
        tn_stanza_unref(s->presence);
        s->presence = tn_stanza_copy(ev->stanza);
        tn_stanza_set_attr(s->presence, "to", NULL);
        pres_broadcast(ev->srv, s, ev->stanza, initial, 0, 1);
        return TN_HANDLED;
    }
    int k = pres_sub_index(type);
    if (k >= 0) {
        /* Nobody subscribes to themselves (the inbound side drops it
         * too), and a roster holds no item for its owner (RFC 6121
         * 2.3.3 refuses one in a roster set). */
        if (strcmp(ev->to->bare, ev->from->bare) == 0)
            return TN_HANDLED;
        if (!ev->to->node && !tn_config_is_host(ev->srv->cfg, ev->to->domain)) {
            /* A server-only JID can be subscribed to like any contact. */
        }
        pres_sub_t *p = pres_sub_new(ev, ev->from, ev->to->bare,
                                     pres_sub_types[k].out);
        p->sess = s;
        tn_sess_hold(s);
        tn_roster_use(ev->srv, ev->from->domain, ev->from->node,
                      pres_sub_out_cb, p);
        return TN_HANDLED;
    }
    /* Directed presence (RFC 6121 4.6): remember who must hear of our
     * going; the router delivers it. */
    if (!*type)
        pres_directed_set(s->jid.full, ev->to->full, 1);
    else if (strcmp(type, "unavailable") == 0)
        pres_directed_set(s->jid.full, ev->to->full, 0);
    return TN_PASS;
}

/* ---- inbound (to a local account) -------------------------------------- */

static void pres_sub_in_cb(void *ud, tn_roster_t *r)
{
    pres_sub_t *p = ud;
    if (r) {
        tn_sub_result_t res = pres_sub_apply(p, r);
        if (res.auto_subscribed)
            pres_send_type(p->srv, "subscribed", p->owner_bare, p->contact);
        if (res.send_available)
            pres_send_current(p->srv, p->owner_bare, p->contact, 0);
        if (res.send_unavailable)
            pres_send_unavailable(p->srv, p->owner_bare, p->contact);
        if (res.pass) {
            /* To every available resource, sent directly: routing it
             * again would run this inbound handling a second time, which
             * finds the state already changed and swallows it. A
             * subscribe nobody sees now waits as pending-in for the next
             * initial presence. */
            for (tn_sess_t *s = tn_sessions_user(p->srv, p->owner_bare); s;) {
                tn_sess_t *next = s->next_res;
                if (s->available) {
                    tn_stanza_t *c = tn_stanza_copy(p->st);
                    tn_stanza_set_attr(c, "from", p->contact);
                    tn_stanza_set_attr(c, "to", s->jid.full);
                    tn_sess_send(s, c);
                    tn_stanza_unref(c);
                }
                s = next;
            }
        }
    }
    pres_sub_free(p);
}

typedef struct pres_probe {
    tn_server_t *srv;
    char *owner;  /* owned bare */
    char *from;   /* owned: the prober as addressed */
    char *contact; /* owned: the prober's bare JID */
} pres_probe_t;

static void pres_probe_cb(void *ud, tn_roster_t *r)
{
    pres_probe_t *p = ud;
    tn_roster_item_t *i = r ? tn_roster_find(r, p->contact) : NULL;
    /* RFC 6121 4.3.2: only a subscriber learns anything. */
    if (i && tn_sub_has_from(i->sub))
        pres_send_current(p->srv, p->owner, p->from, 1);
    tn_free(p->owner);
    tn_free(p->from);
    tn_free(p->contact);
    tn_free(p);
}

static tn_verdict_t pres_on_in(tn_event_t *ev)
{
    const char *type = pres_type(ev->stanza);
    if (!ev->from->domain)
        /* From the server itself: only its error replies (which may
         * carry no 'from', RFC 6120 8.3.1) are delivered. */
        return strcmp(type, "error") == 0 ? TN_PASS : TN_DROP;
    if (strcmp(type, "probe") == 0) {
        pres_probe_t *p = TN_NEW(pres_probe_t);
        p->srv = ev->srv;
        p->owner = tn_strdup(ev->to->bare);
        p->from = tn_strdup(ev->from->full);
        p->contact = tn_strdup(ev->from->bare);
        tn_roster_use(ev->srv, ev->to->domain, ev->to->node, pres_probe_cb,
                      p);
        return TN_HANDLED;
    }
    int k = pres_sub_index(type);
    if (k < 0)
        return TN_PASS; /* available, unavailable, error: delivered */
    if (strcmp(ev->from->bare, ev->to->bare) == 0)
        return TN_DROP; /* nobody subscribes to themselves */
    pres_sub_t *p =
        pres_sub_new(ev, ev->to, ev->from->bare, pres_sub_types[k].in);
    tn_roster_use(ev->srv, ev->to->domain, ev->to->node, pres_sub_in_cb, p);
    return TN_HANDLED;
}

/* ---- session end ------------------------------------------------------- */

static tn_verdict_t pres_on_unbound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    if (s->available) {
        s->available = 0;
        tn_stanza_unref(s->presence);
        s->presence = NULL;
        tn_stanza_t *u = tn_stanza_new("presence", TN_NS_CLIENT);
        tn_stanza_set_attr(u, "type", "unavailable");
        tn_stanza_set_attr(u, "from", s->jid.full);
        pres_broadcast(ev->srv, s, u, 0, 1, 0);
        tn_stanza_unref(u);
    } else {
        /* RFC 6121 4.6.3: those that got directed presence learn of the
         * end even if the session never broadcast (a MUC occupant). */
        pres_directed_t *d = tn_hmap_del(&pres_directed, s->jid.full);
        if (d && d->n) {
            tn_stanza_t *u = tn_stanza_new("presence", TN_NS_CLIENT);
            tn_stanza_set_attr(u, "type", "unavailable");
            tn_stanza_set_attr(u, "from", s->jid.full);
            for (size_t i = 0; i < d->n; i++)
                pres_send(ev->srv, u, s->jid.full, d->jids[i]);
            tn_stanza_unref(u);
        }
        pres_directed_free(d);
    }
    return TN_PASS;
}

static int pres_load(tn_module_t *m)
{
    tn_hmap_init(&pres_directed);
    tn_module_hook(m, TN_HOOK_PRESENCE_OUT, pres_on_out, TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_PRESENCE_IN, pres_on_in, TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, pres_on_unbound, TN_PRIO_DEFAULT);
    return 0;
}

static void pres_unload(tn_module_t *m)
{
    (void)m;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&pres_directed, &it); e;
         e = tn_hmap_next(&pres_directed, e, &it))
        pres_directed_free(e->value);
    tn_hmap_release(&pres_directed);
}

const tn_module_def_t tn_mod_presence = {
    .name = "presence",
    .xeps = "RFC 6121 3, 4",
    .load = pres_load,
    .unload = pres_unload,
};
