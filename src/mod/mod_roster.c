/* mod_roster.c -- rosters (RFC 6121 2): get, set, remove, pushes to the
 * interested resources, versioning (RFC 6121 2.6, the XEP-0237 semantics:
 * a counter; an unchanged version gets an empty result), a maximum
 * roster size, and the roster engine of roster.h that applies the
 * subscription state machine (xmpp/sub.c) to stored items.
 *
 * Rosters live in the store as map "roster" (key: contact bare JID, value:
 * an <item/> with our own extra attributes for pending-in and hidden
 * items) and map "roster_ver" (key "ver"). In memory a roster is kept
 * while its owner has a bound session or someone holds a reference.
 * Writes go to the store in the background (group-committed); the
 * in-memory copy is the truth while the server runs.
 *
 * Options: max_items (1000), versioning (true). Presence routing is
 * mod_presence's; this module only keeps the state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/module.h"
#include "core/router.h"
#include "mod/roster.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

#define ROSTER_MAX_TEXT 1023 /* bytes of a name or group */

typedef struct roster_waiter {
    struct roster_waiter *next;
    tn_roster_cb cb;
    void *ud;
} roster_waiter_t;

struct tn_roster {
    tn_server_t *srv;
    char *host, *user, *bare; /* owned */
    tn_hmap_t items;          /* contact -> tn_roster_item_t* (owned) */
    unsigned long long ver;   /* version counter */
    int loaded;
    int refs;                 /* holders besides bound sessions */
    roster_waiter_t *waiters; /* while loading */
};

static tn_hmap_t roster_cache; /* owner bare JID -> tn_roster_t* */
static int roster_active;      /* the module is loaded */
static long long roster_max_items;
static int roster_versioning;

/* ---- items ------------------------------------------------------------- */

static void roster_item_free(tn_roster_item_t *i)
{
    if (!i)
        return;
    tn_free(i->jid);
    tn_free(i->name);
    for (size_t g = 0; g < i->ngroups; g++)
        tn_free(i->groups[g]);
    tn_free(i->groups);
    tn_free(i);
}

/* Writes the item as the client sees it (remove: subscription='remove'),
 * or with our private attributes when for_store. */
static void roster_item_xml(const tn_roster_item_t *i, tn_stanza_t *query,
                            int for_store, int remove)
{
    tn_stanza_t *x = tn_stanza_add_child(query, "item", TN_NS_ROSTER);
    tn_stanza_set_attr(x, "jid", i->jid);
    if (remove) {
        tn_stanza_set_attr(x, "subscription", "remove");
        return;
    }
    if (i->name)
        tn_stanza_set_attr(x, "name", i->name);
    tn_stanza_set_attr(x, "subscription", tn_sub_name(i->sub.sub));
    if (i->sub.pending_out)
        tn_stanza_set_attr(x, "ask", "subscribe");
    if (i->sub.approved)
        tn_stanza_set_attr(x, "approved", "true");
    if (for_store) {
        if (i->sub.pending_in)
            tn_stanza_set_attr(x, "pending-in", "true");
        if (i->hidden)
            tn_stanza_set_attr(x, "hidden", "true");
    }
    for (size_t g = 0; g < i->ngroups; g++) {
        tn_stanza_t *gr = tn_stanza_add_child(x, "group", NULL);
        tn_stanza_add_text(gr, i->groups[g], strlen(i->groups[g]));
    }
}

static int roster_attr_true(const tn_stanza_t *x, const char *name)
{
    const char *v = tn_stanza_attr(x, name);
    return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

/* Reads a stored item; NULL when it does not parse. */
static tn_roster_item_t *roster_item_load(const char *xml, size_t len)
{
    tn_stanza_t *x = tn_xml_element_parse(xml, len, TN_NS_ROSTER);
    if (!x)
        return NULL;
    tn_roster_item_t *i = NULL;
    const char *jid = tn_stanza_attr(x, "jid");
    tn_sub_t sub;
    if (!jid || strcmp(x->name, "item") != 0 ||
        tn_sub_parse(tn_stanza_attr(x, "subscription")
                         ? tn_stanza_attr(x, "subscription")
                         : "none",
                     &sub) < 0)
        goto done;
    i = TN_NEW(tn_roster_item_t);
    i->jid = tn_strdup(jid);
    i->name = tn_strdup(tn_stanza_attr(x, "name"));
    i->sub.sub = sub;
    const char *ask = tn_stanza_attr(x, "ask");
    i->sub.pending_out = ask && strcmp(ask, "subscribe") == 0;
    i->sub.approved = roster_attr_true(x, "approved");
    i->sub.pending_in = roster_attr_true(x, "pending-in");
    i->hidden = roster_attr_true(x, "hidden");
    for (size_t k = 0; k < x->nkids; k++) {
        tn_stanza_t *g = x->kids[k];
        if (!g->name || strcmp(g->name, "group") != 0)
            continue;
        i->groups = tn_realloc(i->groups, (i->ngroups + 1) * sizeof(char *));
        i->groups[i->ngroups++] = tn_stanza_text(g);
    }
done:
    tn_stanza_unref(x);
    return i;
}

/* ---- store ------------------------------------------------------------- */

static void roster_store_done(void *ud, int status)
{
    char *what = ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "roster: storing %s failed: %s", what,
               tn_strerror(status));
    tn_free(what);
}

static void roster_save_item(tn_roster_t *r, const tn_roster_item_t *i)
{
    tn_stanza_t *q = tn_stanza_new("query", TN_NS_ROSTER);
    roster_item_xml(i, q, 1, 0);
    char *xml = tn_stanza_to_string(q->kids[0], TN_NS_ROSTER);
    tn_stanza_unref(q);
    tn_store_map_put(r->srv->store, r->host, r->user, "roster", i->jid, xml,
                     strlen(xml), roster_store_done,
                     tn_sprintf("roster item of %s", r->bare));
    tn_free(xml);
}

static void roster_delete_item(tn_roster_t *r, const char *jid)
{
    tn_store_map_del(r->srv->store, r->host, r->user, "roster", jid,
                     roster_store_done,
                     tn_sprintf("roster removal of %s", r->bare));
}

static void roster_bump(tn_roster_t *r)
{
    char v[32];
    r->ver++;
    snprintf(v, sizeof v, "%llu", r->ver);
    tn_store_map_put(r->srv->store, r->host, r->user, "roster_ver", "ver", v,
                     strlen(v), roster_store_done,
                     tn_sprintf("roster version of %s", r->bare));
}

/* ---- lifetime ---------------------------------------------------------- */

static void roster_free(tn_roster_t *r)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->items, &it); e;
         e = tn_hmap_next(&r->items, e, &it))
        roster_item_free(e->value);
    tn_hmap_release(&r->items);
    tn_free(r->host);
    tn_free(r->user);
    tn_free(r->bare);
    tn_free(r);
}

/* Frees r when nobody holds it and its owner has no bound session other
 * than `leaving` (which is on its way out). */
static void roster_maybe_free(tn_roster_t *r, const tn_sess_t *leaving)
{
    if (r->refs > 0 || !r->loaded)
        return;
    for (tn_sess_t *s = tn_sessions_user(r->srv, r->bare); s;
         s = s->next_res)
        if (s != leaving)
            return;
    tn_hmap_del(&roster_cache, r->bare);
    roster_free(r);
}

void tn_roster_ref(tn_roster_t *r)
{
    r->refs++;
}

void tn_roster_unref(tn_roster_t *r)
{
    r->refs--;
    roster_maybe_free(r, NULL);
}

static void roster_loaded(tn_roster_t *r, int ok)
{
    roster_waiter_t *w = r->waiters;
    r->waiters = NULL;
    r->loaded = ok;
    if (!ok)
        tn_hmap_del(&roster_cache, r->bare);
    r->refs++;
    while (w) {
        roster_waiter_t *next = w->next;
        w->cb(w->ud, ok ? r : NULL);
        tn_free(w);
        w = next;
    }
    r->refs--;
    if (!ok)
        roster_free(r);
    else
        roster_maybe_free(r, NULL);
}

static void roster_items_cb(void *ud, int status, const tn_store_item_t *it,
                            size_t n)
{
    tn_roster_t *r = ud;
    if (status < 0) {
        tn_log(TN_LOG_ERROR, "roster: loading %s failed: %s", r->bare,
               tn_strerror(status));
        roster_loaded(r, 0);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        tn_roster_item_t *i = roster_item_load(it[k].value, it[k].len);
        if (!i) {
            tn_log(TN_LOG_WARN, "roster: %s: unreadable item %s skipped",
                   r->bare, it[k].key);
            continue;
        }
        roster_item_free(tn_hmap_put(&r->items, i->jid, i));
    }
    roster_loaded(r, 1);
}

static void roster_ver_cb(void *ud, int status, const tn_store_item_t *it,
                          size_t n)
{
    tn_roster_t *r = ud;
    if (status == 0 && n == 1)
        r->ver = strtoull(it[0].value, NULL, 10);
    if (status < 0 && status != TN_ENOTFOUND) {
        roster_loaded(r, 0);
        return;
    }
    if (tn_store_map_all(r->srv->store, r->host, r->user, "roster",
                         roster_items_cb, r) < 0)
        roster_loaded(r, 0);
}

void tn_roster_use(tn_server_t *srv, const char *host, const char *user,
                   tn_roster_cb cb, void *ud)
{
    if (!roster_active) {
        cb(ud, NULL); /* no roster module: nobody is in anyone's roster */
        return;
    }
    char *bare = tn_sprintf("%s@%s", user, host);
    tn_roster_t *r = tn_hmap_get(&roster_cache, bare);
    if (r && r->loaded) {
        tn_free(bare);
        r->refs++;
        cb(ud, r);
        tn_roster_unref(r);
        return;
    }
    roster_waiter_t *w = TN_NEW(roster_waiter_t);
    w->cb = cb;
    w->ud = ud;
    if (r) {
        /* Waiters run in the order they came (stanza order). */
        tn_free(bare);
        roster_waiter_t **pp = &r->waiters;
        while (*pp)
            pp = &(*pp)->next;
        *pp = w;
        return;
    }
    r = TN_NEW(tn_roster_t);
    r->srv = srv;
    r->host = tn_strdup(host);
    r->user = tn_strdup(user);
    r->bare = bare;
    tn_hmap_init(&r->items);
    r->waiters = w;
    tn_hmap_put(&roster_cache, bare, r);
    if (tn_store_map_get(srv->store, host, user, "roster_ver", "ver",
                         roster_ver_cb, r) < 0)
        roster_loaded(r, 0);
}

tn_roster_item_t *tn_roster_find(tn_roster_t *r, const char *contact)
{
    return tn_hmap_get(&r->items, contact);
}

void tn_roster_foreach(tn_roster_t *r, tn_roster_item_cb cb, void *ud)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->items, &it); e;
         e = tn_hmap_next(&r->items, e, &it))
        cb(ud, e->value);
}

const char *tn_roster_owner(const tn_roster_t *r)
{
    return r->bare;
}

/* ---- pushes ------------------------------------------------------------ */

/* RFC 6121 2.1.6: a push to every interested resource of the owner. */
static void roster_push(tn_roster_t *r, const tn_roster_item_t *i, int remove)
{
    for (tn_sess_t *s = tn_sessions_user(r->srv, r->bare); s;) {
        tn_sess_t *next = s->next_res;
        if (s->interested) {
            tn_stanza_t *iq = tn_stanza_new("iq", TN_NS_CLIENT);
            tn_stanza_set_attr(iq, "type", "set");
            char *id = tn_random_id(12);
            tn_stanza_set_attr(iq, "id", id);
            tn_free(id);
            tn_stanza_set_attr(iq, "to", s->jid.full);
            tn_stanza_t *q = tn_stanza_add_child(iq, "query", TN_NS_ROSTER);
            if (roster_versioning) {
                char v[32];
                snprintf(v, sizeof v, "%llu", r->ver);
                tn_stanza_set_attr(q, "ver", v);
            }
            roster_item_xml(i, q, 0, remove);
            tn_sess_send(s, iq);
            tn_stanza_unref(iq);
        }
        s = next;
    }
}

/* An item changed: store it (or drop it when nothing is left of it),
 * and when what the owner sees of it changed (shown; a pending-in
 * request alone is not shown), bump the version and push it. */
static void roster_changed(tn_roster_t *r, tn_roster_item_t *i,
                           int was_visible, int shown)
{
    int empty = i->hidden && i->sub.sub == TN_SUB_NONE &&
                !i->sub.pending_in && !i->sub.pending_out &&
                !i->sub.approved;
    int visible = !i->hidden;
    shown = shown && (visible || was_visible);
    if (shown)
        roster_bump(r);
    if (empty) {
        roster_delete_item(r, i->jid);
        tn_hmap_del(&r->items, i->jid);
        if (shown && was_visible)
            roster_push(r, i, 1);
        roster_item_free(i);
        return;
    }
    roster_save_item(r, i);
    if (shown && visible)
        roster_push(r, i, 0);
}

/* ---- subscriptions ----------------------------------------------------- */

tn_sub_result_t tn_roster_subscription(tn_server_t *srv, tn_roster_t *r,
                                       const char *contact,
                                       tn_sub_event_t ev)
{
    (void)srv;
    tn_roster_item_t *i = tn_roster_find(r, contact);
    tn_sub_state_t none = {0};
    tn_sub_result_t res = tn_sub_apply(i ? i->sub : none, ev);
    int created = 0;
    if (!i) {
        /* Nothing changes for a contact we do not know, and a full roster
         * takes no new contact (a flood of requests stays bounded). */
        tn_sub_state_t n = res.state;
        if (!n.pending_in && !n.pending_out && !n.approved &&
            n.sub == TN_SUB_NONE)
            return res;
        if ((long long)r->items.count >= roster_max_items) {
            tn_log(TN_LOG_INFO, "roster: %s is full; %s ignored", r->bare,
                   contact);
            memset(&res, 0, sizeof res);
            return res;
        }
        i = TN_NEW(tn_roster_item_t);
        i->jid = tn_strdup(contact);
        /* Only the user's own acts put a contact in the roster; a request
         * from the contact waits unseen (RFC 6121 3.1.3). */
        i->hidden = ev >= TN_SUB_IN_SUBSCRIBE;
        tn_hmap_put(&r->items, i->jid, i);
        created = 1;
    }
    int was_visible = !created && !i->hidden;
    tn_sub_state_t old = i->sub;
    i->sub = res.state;
    /* The user asking or approving puts the contact in view. */
    if (ev == TN_SUB_OUT_SUBSCRIBE || ev == TN_SUB_OUT_SUBSCRIBED)
        i->hidden = 0;
    if (created || memcmp(&old, &i->sub, sizeof old) != 0 ||
        was_visible != !i->hidden)
        roster_changed(r, i, was_visible,
                       res.changed || was_visible != !i->hidden);
    return res;
}

/* ---- IQ handlers ------------------------------------------------------- */

typedef struct roster_req {
    tn_server_t *srv;
    tn_stanza_t *iq;  /* owned ref */
    tn_sess_t *sess;  /* held */
    tn_jid_t from;    /* owned */
} roster_req_t;

static void roster_reply_error(roster_req_t *q, const char *type,
                               const char *cond)
{
    tn_route_error(q->srv, q->iq, type, cond);
}

static void roster_do_get(roster_req_t *q, tn_roster_t *r)
{
    tn_stanza_t *want = tn_stanza_child(q->iq, "query", TN_NS_ROSTER);
    q->sess->interested = 1;
    tn_stanza_t *res = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(res, "type", "result");
    tn_stanza_set_attr(res, "id", tn_stanza_attr(q->iq, "id"));
    tn_stanza_set_attr(res, "to", q->from.full);
    char v[32];
    snprintf(v, sizeof v, "%llu", r->ver);
    const char *have = tn_stanza_attr(want, "ver");
    if (!(roster_versioning && have && strcmp(have, v) == 0)) {
        /* RFC 6121 2.6.3: unchanged -> an empty result; else it all. */
        tn_stanza_t *out = tn_stanza_add_child(res, "query", TN_NS_ROSTER);
        if (roster_versioning)
            tn_stanza_set_attr(out, "ver", v);
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&r->items, &it); e;
             e = tn_hmap_next(&r->items, e, &it)) {
            tn_roster_item_t *i = e->value;
            if (!i->hidden)
                roster_item_xml(i, out, 0, 0);
        }
    }
    tn_route(q->srv, res, NULL);
    tn_stanza_unref(res);
}

/* Checks a roster set item (RFC 6121 2.3.3 and 2.1.2). Returns the error
 * condition or NULL. */
static const char *roster_check_item(roster_req_t *q, tn_stanza_t *item,
                                     tn_jid_t *jid)
{
    const char *j = tn_stanza_attr(item, "jid");
    if (!j)
        return "bad-request";
    if (tn_jid_parse(j, jid) < 0)
        return "jid-malformed";
    if (jid->resource)
        return "bad-request";
    if (strcmp(jid->bare, q->from.bare) == 0)
        return "not-allowed";
    const char *name = tn_stanza_attr(item, "name");
    if (name && strlen(name) > ROSTER_MAX_TEXT)
        return "not-acceptable";
    for (size_t k = 0; k < item->nkids; k++) {
        tn_stanza_t *g = item->kids[k];
        if (!g->name || strcmp(g->name, "group") != 0)
            continue;
        char *t = tn_stanza_text(g);
        int bad = !*t || strlen(t) > ROSTER_MAX_TEXT;
        for (size_t m = 0; !bad && m < k; m++) {
            tn_stanza_t *h = item->kids[m];
            if (h->name && strcmp(h->name, "group") == 0) {
                char *u = tn_stanza_text(h);
                if (strcmp(t, u) == 0) {
                    tn_free(u);
                    tn_free(t);
                    return "bad-request"; /* duplicate group */
                }
                tn_free(u);
            }
        }
        tn_free(t);
        if (bad)
            return "not-acceptable";
    }
    return NULL;
}

/* RFC 6121 2.5.2: removing a contact cancels both directions. */
static void roster_remove_subscriptions(roster_req_t *q, tn_roster_item_t *i)
{
    static const char *const types[2] = {"unsubscribe", "unsubscribed"};
    int send[2] = {tn_sub_has_to(i->sub) || i->sub.pending_out,
                   tn_sub_has_from(i->sub) || i->sub.pending_in};
    for (int k = 0; k < 2; k++) {
        if (!send[k])
            continue;
        tn_stanza_t *p = tn_stanza_new("presence", TN_NS_CLIENT);
        tn_stanza_set_attr(p, "type", types[k]);
        tn_stanza_set_attr(p, "from", q->from.bare);
        tn_stanza_set_attr(p, "to", i->jid);
        tn_route(q->srv, p, NULL);
        tn_stanza_unref(p);
    }
    if (!tn_sub_has_from(i->sub))
        return;
    /* RFC 6121 3.2.2: a cancelled subscriber gets unavailable from each
     * available resource, as after an explicit 'unsubscribed'. */
    for (tn_sess_t *s = tn_sessions_user(q->srv, q->from.bare); s;) {
        tn_sess_t *next = s->next_res;
        if (s->available) {
            tn_stanza_t *p = tn_stanza_new("presence", TN_NS_CLIENT);
            tn_stanza_set_attr(p, "type", "unavailable");
            tn_stanza_set_attr(p, "from", s->jid.full);
            tn_stanza_set_attr(p, "to", i->jid);
            tn_route(q->srv, p, NULL);
            tn_stanza_unref(p);
        }
        s = next;
    }
}

static void roster_do_set(roster_req_t *q, tn_roster_t *r)
{
    tn_stanza_t *query = tn_stanza_child(q->iq, "query", TN_NS_ROSTER);
    if (tn_stanza_nelements(query) != 1 ||
        !tn_stanza_child(query, "item", TN_NS_ROSTER)) {
        roster_reply_error(q, TN_ERR_MODIFY, "bad-request");
        return;
    }
    tn_stanza_t *item = tn_stanza_child(query, "item", TN_NS_ROSTER);
    tn_jid_t jid = {0};
    const char *cond = roster_check_item(q, item, &jid);
    if (cond) {
        tn_jid_release(&jid);
        roster_reply_error(q, strcmp(cond, "not-allowed") == 0
                                  ? TN_ERR_CANCEL
                                  : TN_ERR_MODIFY,
                           cond);
        return;
    }
    tn_roster_item_t *i = tn_roster_find(r, jid.bare);
    const char *sub = tn_stanza_attr(item, "subscription");
    if (sub && strcmp(sub, "remove") == 0) {
        if (!i || i->hidden) {
            tn_jid_release(&jid);
            roster_reply_error(q, TN_ERR_CANCEL, "item-not-found");
            return;
        }
        roster_remove_subscriptions(q, i);
        tn_hmap_del(&r->items, i->jid);
        roster_delete_item(r, i->jid);
        roster_bump(r);
        tn_reply_result(&(tn_event_t){q->srv, q->iq, &q->from, NULL, NULL});
        roster_push(r, i, 1);
        roster_item_free(i);
        tn_jid_release(&jid);
        return;
    }
    if ((!i) && (long long)r->items.count >= roster_max_items) {
        tn_jid_release(&jid);
        roster_reply_error(q, TN_ERR_CANCEL, "not-allowed");
        return;
    }
    int was_visible = i && !i->hidden;
    if (!i) {
        i = TN_NEW(tn_roster_item_t);
        i->jid = tn_strdup(jid.bare);
        tn_hmap_put(&r->items, i->jid, i);
    }
    /* 'subscription' (other than remove) and 'ask' from a client are
     * ignored (RFC 6121 2.1.2.5, 2.1.2.2): the server owns them. */
    tn_free(i->name);
    i->name = tn_strdup(tn_stanza_attr(item, "name"));
    for (size_t g = 0; g < i->ngroups; g++)
        tn_free(i->groups[g]);
    i->ngroups = 0;
    for (size_t k = 0; k < item->nkids; k++) {
        tn_stanza_t *g = item->kids[k];
        if (!g->name || strcmp(g->name, "group") != 0)
            continue;
        i->groups = tn_realloc(i->groups, (i->ngroups + 1) * sizeof(char *));
        i->groups[i->ngroups++] = tn_stanza_text(g);
    }
    i->hidden = 0;
    tn_reply_result(&(tn_event_t){q->srv, q->iq, &q->from, NULL, NULL});
    roster_changed(r, i, was_visible, 1);
    tn_jid_release(&jid);
}

static void roster_req_cb(void *ud, tn_roster_t *r)
{
    roster_req_t *q = ud;
    if (!r)
        roster_reply_error(q, TN_ERR_WAIT, "internal-server-error");
    else if (strcmp(tn_stanza_attr(q->iq, "type"), "get") == 0)
        roster_do_get(q, r);
    else
        roster_do_set(q, r);
    tn_sess_unhold(q->sess);
    tn_stanza_unref(q->iq);
    tn_jid_release(&q->from);
    tn_free(q);
}

static tn_verdict_t roster_on_iq(tn_event_t *ev)
{
    /* Only the owner manages a roster; RFC 6121 2.1.5: others are told
     * nothing beyond a refusal. */
    if (!ev->sess || strcmp(ev->from->bare, ev->to->bare) != 0) {
        tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        return TN_HANDLED;
    }
    roster_req_t *q = TN_NEW(roster_req_t);
    q->srv = ev->srv;
    q->iq = tn_stanza_ref(ev->stanza);
    q->sess = ev->sess;
    tn_jid_copy(ev->from, &q->from);
    /* Later stanzas of this client wait for the roster (ordering). */
    tn_sess_hold(q->sess);
    tn_roster_use(ev->srv, ev->from->domain, ev->from->node, roster_req_cb,
                  q);
    return TN_HANDLED;
}

/* ---- session hooks ----------------------------------------------------- */

static tn_verdict_t roster_on_features(tn_event_t *ev)
{
    if (roster_versioning)
        tn_stanza_add_child(ev->stanza, "ver", TN_NS_ROSTERVER);
    tn_stanza_add_child(ev->stanza, "sub", TN_NS_PREAPPROVAL);
    return TN_PASS;
}

static tn_verdict_t roster_on_unbound(tn_event_t *ev)
{
    tn_roster_t *r = tn_hmap_get(&roster_cache, ev->sess->jid.bare);
    if (r)
        roster_maybe_free(r, ev->sess);
    return TN_PASS;
}

static int roster_load(tn_module_t *m)
{
    if (tn_module_opt_int(m, "max_items", 1000, 1, 100000,
                          &roster_max_items) < 0 ||
        tn_module_opt_bool(m, "versioning", 1, &roster_versioning) < 0)
        return TN_EINVAL;
    tn_hmap_init(&roster_cache);
    roster_active = 1;
    tn_module_feature(m, TN_NS_ROSTER);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, TN_NS_ROSTER, "query",
                 roster_on_iq, TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_FEATURES, roster_on_features, TN_PRIO_DEFAULT);
    /* After presence has used the roster for the unavailable broadcast. */
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, roster_on_unbound,
                   TN_PRIO_FALLBACK);
    return 0;
}

static void roster_unload(tn_module_t *m)
{
    (void)m;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&roster_cache, &it); e;
         e = tn_hmap_next(&roster_cache, e, &it))
        roster_free(e->value);
    tn_hmap_release(&roster_cache);
    roster_active = 0;
}

const tn_module_def_t tn_mod_roster = {
    .name = "roster",
    .xeps = "RFC 6121 2; XEP-0237 (RFC 6121 2.6 semantics)",
    .load = roster_load,
    .unload = roster_unload,
};
