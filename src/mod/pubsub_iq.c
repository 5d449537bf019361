/* pubsub_iq.c -- the XEP-0060 protocol on one service: the pubsub
 * (entity use cases, 6-7) and pubsub#owner (8) requests, disco#info and
 * disco#items of nodes (5), and owners' answers to authorization
 * requests (8.6). Errors carry the conditions XEP-0060 names, with the
 * pubsub#errors element where it names one.
 *
 * A request whose access check needs the owner's roster (presence and
 * roster access models) fetches it and runs again from the start; nothing
 * changes before that point, so the second run decides afresh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"
#include "mod/pubsub.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/form.h"

#define PS_NEED 1 /* a handler's "fetch the roster and run me again" */

const char *const ps_features[] = {
    "access-authorize",
    "access-open",
    "access-presence",
    "access-roster",
    "access-whitelist",
    "config-node",
    "config-node-max",
    "create-and-configure",
    "create-nodes",
    "delete-items",
    "delete-nodes",
    "instant-nodes",
    "item-ids",
    "last-published",
    "manage-subscriptions",
    "member-affiliation",
    "meta-data",
    "modify-affiliations",
    "multi-subscribe",
    "outcast-affiliation",
    "persistent-items",
    "publish",
    "publish-only-affiliation",
    "publish-options",
    "publisher-affiliation",
    "purge-nodes",
    "retract-items",
    "retrieve-affiliations",
    "retrieve-default",
    "retrieve-items",
    "retrieve-subscriptions",
    "rsm",
    "subscribe",
    "subscription-notifications",
    "subscription-options",
    NULL,
};

void ps_disco_features(const ps_service_t *svc, tn_stanza_t *query)
{
    tn_stanza_set_attr(tn_stanza_add_child(query, "feature", NULL), "var",
                       PS_NS);
    for (size_t i = 0; ps_features[i]; i++) {
        char *v = tn_sprintf("%s#%s", PS_NS, ps_features[i]);
        tn_stanza_set_attr(tn_stanza_add_child(query, "feature", NULL), "var",
                           v);
        tn_free(v);
    }
    if (svc->pep) {
        static const char *const pep[] = {"auto-create", "auto-subscribe",
                                          "filtered-notifications",
                                          "presence-notifications"};
        for (size_t i = 0; i < sizeof pep / sizeof *pep; i++) {
            char *v = tn_sprintf("%s#%s", PS_NS, pep[i]);
            tn_stanza_set_attr(tn_stanza_add_child(query, "feature", NULL),
                               "var", v);
            tn_free(v);
        }
    }
}

/* ---- requests ------------------------------------------------------------ */

ps_req_t *ps_req_new(tn_server_t *srv, ps_service_t *svc, tn_stanza_t *iq,
                     const tn_jid_t *from)
{
    ps_req_t *r = TN_NEW(ps_req_t);
    r->srv = srv;
    r->svc = svc;
    r->iq = tn_stanza_ref(iq);
    tn_jid_copy(from, &r->from);
    return r;
}

void ps_req_free(ps_req_t *r)
{
    if (!r)
        return;
    if (r->roster)
        tn_roster_unref(r->roster);
    tn_stanza_unref(r->iq);
    tn_jid_release(&r->from);
    if (r->done)
        r->done(r);
    tn_free(r);
}

static tn_stanza_t *result_new(ps_req_t *r)
{
    tn_stanza_t *res = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(res, "type", "result");
    const char *id = tn_stanza_attr(r->iq, "id");
    if (id)
        tn_stanza_set_attr(res, "id", id);
    tn_stanza_set_attr(res, "to", r->from.full);
    const char *to = tn_stanza_attr(r->iq, "to");
    if (to)
        tn_stanza_set_attr(res, "from", to);
    return res;
}

static ps_change_cb ps_listeners[PS_MAX_LISTENERS];

void ps_listen(ps_change_cb cb)
{
    for (size_t i = 0; i < PS_MAX_LISTENERS; i++)
        if (!ps_listeners[i] || ps_listeners[i] == cb) {
            ps_listeners[i] = cb;
            return;
        }
}

static void changed(const ps_req_t *r, ps_node_t *n, const ps_item_t *it,
                    const char *id)
{
    for (size_t i = 0; n->svc->pep && i < PS_MAX_LISTENERS; i++)
        if (ps_listeners[i])
            ps_listeners[i](n, it, id, r->quiet);
}

static void reply(ps_req_t *r, tn_stanza_t *res)
{
    if (!r->quiet)
        tn_route(r->srv, res, NULL);
    tn_stanza_unref(res);
}

static void reply_empty(ps_req_t *r)
{
    reply(r, result_new(r));
}

/* An error with an application condition from pubsub#errors (app NULL:
 * none; feature: the 'feature' attribute of <unsupported/>). */
static void reply_error(ps_req_t *r, const char *type, const char *cond,
                        const char *app, const char *feature)
{
    r->failed = cond;
    tn_stanza_t *e = r->quiet ? NULL : tn_error_reply(r->iq, type, cond, NULL);
    if (!e) {
        tn_log(TN_LOG_DEBUG, "pubsub: %s on %s: %s%s%s", r->from.full,
               r->svc->jid, cond, app ? "/" : "", app ? app : "");
        return;
    }
    tn_stanza_t *err = tn_stanza_child(e, "error", NULL);
    if (err && app) {
        tn_stanza_t *a = tn_stanza_add_child(err, app, PS_NS_ERRORS);
        if (feature)
            tn_stanza_set_attr(a, "feature", feature);
    }
    tn_log(TN_LOG_DEBUG, "pubsub: %s to %s: %s%s%s", r->from.full, r->svc->jid,
           cond, app ? "/" : "", app ? app : "");
    tn_route(r->srv, e, NULL);
    tn_stanza_unref(e);
}

/* The first element child of st after `after` (NULL: the first). */
static tn_stanza_t *next_el(const tn_stanza_t *st, const tn_stanza_t *after)
{
    size_t i = 0;
    if (after) {
        while (i < st->nkids && st->kids[i] != after)
            i++;
        i++;
    }
    for (; i < st->nkids; i++)
        if (st->kids[i]->name)
            return st->kids[i];
    return NULL;
}

static int is_owner(const ps_req_t *r, const ps_node_t *n)
{
    return ps_node_aff(n, r->from.bare) == PS_AFF_OWNER;
}

/* The node named by el's 'node' attribute; errors sent when absent. */
static ps_node_t *need_node(ps_req_t *r, const tn_stanza_t *el)
{
    const char *name = tn_stanza_attr(el, "node");
    if (!name || !*name) {
        reply_error(r, "modify", "bad-request", "nodeid-required", NULL);
        return NULL;
    }
    ps_node_t *n = tn_hmap_get(&r->svc->nodes, name);
    if (!n)
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
    return n;
}

/* The submitted data form of el with FORM_TYPE form_type (or none), or
 * NULL. */
static tn_stanza_t *submitted(const tn_stanza_t *el, const char *form_type)
{
    tn_stanza_t *x = el ? tn_stanza_child(el, "x", TN_NS_DATA) : NULL;
    if (!x)
        return NULL;
    const char *t = tn_stanza_attr(x, "type");
    if (!t || strcmp(t, "submit") != 0)
        return NULL;
    char *ft = tn_form_type(x);
    int ok = !ft || strcmp(ft, form_type) == 0;
    tn_free(ft);
    return ok ? x : NULL;
}

/* Runs the access check; on refusal sends the error. Returns 0 allowed,
 * -1 refused (answered), PS_NEED (fetch the roster). */
static int access_ok(ps_req_t *r, const ps_node_t *n)
{
    const char *type, *app;
    const char *cond =
        ps_access_check(n, &r->from, r->roster, r->have_roster, &type, &app);
    if (!cond)
        return 0;
    if (cond == PS_NEED_ROSTER)
        return PS_NEED;
    reply_error(r, type, cond, app, NULL);
    return -1;
}

static void store_gone(ps_node_t *n, ps_item_t *it)
{
    ps_store_item(n, it, 1);
}

/* ---- entity use cases ---------------------------------------------------- */

static int may_create(const ps_req_t *r)
{
    if (r->svc->pep)
        return strcmp(r->from.bare, r->svc->jid) == 0;
    return r->from.node && tn_config_is_host(r->srv->cfg, r->from.domain);
}

/* The per-owner node bound: 1 (and answered) when from may not create
 * another node. */
static int over_node_limit(ps_req_t *r)
{
    ps_service_t *svc = r->svc;
    if (!svc->max_nodes)
        return 0;
    size_t owned = 0, it;
    if (svc->pep) {
        owned = svc->nodes.count;
    } else {
        for (tn_hmap_entry_t *e = tn_hmap_first(&svc->nodes, &it); e;
             e = tn_hmap_next(&svc->nodes, e, &it))
            owned += ps_node_aff(e->value, r->from.bare) == PS_AFF_OWNER;
    }
    if (owned < (size_t)svc->max_nodes)
        return 0;
    tn_log(TN_LOG_INFO, "pubsub: %s owns %zu node(s) on %s: no more",
           r->from.bare, owned, svc->jid);
    reply_error(r, "cancel", "not-allowed", NULL, NULL);
    return 1;
}

static ps_node_t *create_node(ps_req_t *r, const char *name,
                              const ps_config_t *cfg)
{
    ps_node_t *n = ps_node_new(r->svc, name);
    if (cfg) {
        ps_config_release(&n->cfg);
        ps_config_copy(cfg, &n->cfg);
    }
    if (!r->svc->pep) {
        ps_node_set_aff(n, r->from.bare, PS_AFF_OWNER);
        ps_store_aff(n, r->from.bare, PS_AFF_OWNER);
    }
    ps_store_node(n);
    tn_log(TN_LOG_DEBUG, "pubsub: %s created node %s on %s", r->from.bare, name,
           r->svc->jid);
    return n;
}

static int h_create(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    if (!may_create(r)) {
        reply_error(r, "auth", "forbidden", NULL, NULL);
        return 0;
    }
    const char *name = tn_stanza_attr(el, "node");
    char *gen = NULL;
    if (!name || !*name)
        name = gen = tn_random_id(16);
    if (tn_hmap_get(&r->svc->nodes, name)) {
        reply_error(r, "cancel", "conflict", NULL, NULL);
        tn_free(gen);
        return 0;
    }
    if (over_node_limit(r)) {
        tn_free(gen);
        return 0;
    }
    ps_config_t cfg;
    ps_config_defaults(r->svc, &cfg);
    tn_stanza_t *x = extra && strcmp(extra->name, "configure") == 0
                         ? submitted(extra, PS_FORM_CONFIG)
                         : NULL;
    const char *bad = NULL;
    if (x && ps_config_apply(r->svc, &cfg, x, &bad) < 0) {
        reply_error(r, "modify", "not-acceptable", NULL, NULL);
        ps_config_release(&cfg);
        tn_free(gen);
        return 0;
    }
    create_node(r, name, &cfg);
    ps_config_release(&cfg);
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
    tn_stanza_set_attr(tn_stanza_add_child(ps, "create", NULL), "node", name);
    reply(r, res);
    tn_free(gen);
    return 0;
}

static int may_publish(const ps_req_t *r, const ps_node_t *n)
{
    ps_aff_t a = ps_node_aff(n, r->from.bare);
    if (a == PS_AFF_OUTCAST)
        return 0;
    if (a >= PS_AFF_PUBLISH_ONLY)
        return 1;
    if (n->cfg.publish_model == PS_PUBLISH_OPEN)
        return 1;
    if (n->cfg.publish_model == PS_PUBLISH_SUBSCRIBERS)
        for (size_t i = 0; i < n->nsubs; i++)
            if (n->subs[i]->state == PS_SUB_SUBSCRIBED &&
                (strcmp(n->subs[i]->jid, r->from.bare) == 0 ||
                 strcmp(n->subs[i]->jid, r->from.full) == 0))
                return 1;
    return 0;
}

static int h_publish(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    const char *name = tn_stanza_attr(el, "node");
    if (!name || !*name) {
        reply_error(r, "modify", "bad-request", "nodeid-required", NULL);
        return 0;
    }
    tn_stanza_t *opts = extra && strcmp(extra->name, "publish-options") == 0
                            ? submitted(extra, PS_FORM_PUBOPTS)
                            : NULL;
    if (extra && !opts) {
        reply_error(r, "modify", "bad-request", "invalid-options", NULL);
        return 0;
    }
    tn_stanza_t *item = next_el(el, NULL);
    if (item && (strcmp(item->name, "item") != 0 || next_el(el, item))) {
        reply_error(r, "modify", "bad-request", "invalid-payload", NULL);
        return 0;
    }
    tn_stanza_t *payload = item ? next_el(item, NULL) : NULL;
    if (payload && next_el(item, payload)) {
        reply_error(r, "modify", "bad-request", "invalid-payload", NULL);
        return 0;
    }
    ps_node_t *n = tn_hmap_get(&r->svc->nodes, name);
    if (!n) {
        /* XEP-0163 3: PEP nodes come into being on first publish. */
        if (!r->svc->pep) {
            reply_error(r, "cancel", "item-not-found", NULL, NULL);
            return 0;
        }
        if (!may_create(r)) {
            reply_error(r, "auth", "forbidden", NULL, NULL);
            return 0;
        }
        if (over_node_limit(r))
            return 0;
        ps_config_t cfg;
        ps_config_defaults(r->svc, &cfg);
        const char *bad = NULL;
        if (opts && ps_config_apply(r->svc, &cfg, opts, &bad) < 0) {
            ps_config_release(&cfg);
            reply_error(r, "cancel", "conflict", "precondition-not-met", NULL);
            return 0;
        }
        n = create_node(r, name, &cfg);
        ps_config_release(&cfg);
    } else {
        if (!may_publish(r, n)) {
            reply_error(r, "auth", "forbidden", NULL, NULL);
            return 0;
        }
        if (opts && ps_config_matches(n, opts) < 0) {
            reply_error(r, "cancel", "conflict", "precondition-not-met", NULL);
            return 0;
        }
    }
    if (!item && n->cfg.persist) {
        reply_error(r, "modify", "bad-request", "item-required", NULL);
        return 0;
    }
    if (item && !payload && (n->cfg.persist || n->cfg.deliver_payloads)) {
        reply_error(r, "modify", "bad-request", "payload-required", NULL);
        return 0;
    }
    const char *id = item ? tn_stanza_attr(item, "id") : NULL;
    char *gen = NULL;
    if (!id || !*id)
        id = gen = tn_random_id(16);
    tn_stanza_t *copy = tn_stanza_new("item", PS_NS);
    tn_stanza_set_attr(copy, "id", id);
    if (payload)
        tn_stanza_add_copy(copy, payload);
    ps_item_t *it = ps_node_publish(n, id, r->from.bare, copy, store_gone);
    ps_store_item(n, it, 0);
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
    tn_stanza_t *pub = tn_stanza_add_child(ps, "publish", NULL);
    tn_stanza_set_attr(pub, "node", n->name);
    tn_stanza_set_attr(tn_stanza_add_child(pub, "item", NULL), "id", id);
    reply(r, res);
    tn_free(gen);
    ps_notify_items(n, it);
    changed(r, n, it, it->id);
    return 0;
}

static int h_retract(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    (void)extra;
    ps_node_t *n = need_node(r, el);
    if (!n)
        return 0;
    tn_stanza_t *item = tn_stanza_child(el, "item", NULL);
    const char *id = item ? tn_stanza_attr(item, "id") : NULL;
    if (!id || !*id) {
        reply_error(r, "modify", "bad-request", "item-required", NULL);
        return 0;
    }
    ps_item_t *it = ps_node_item(n, id);
    ps_aff_t a = ps_node_aff(n, r->from.bare);
    int own = it && strcmp(it->publisher, r->from.bare) == 0;
    if (a == PS_AFF_OUTCAST || (a < PS_AFF_PUBLISH_ONLY && !own)) {
        reply_error(r, "auth", "forbidden", NULL, NULL);
        return 0;
    }
    if (!it) {
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
        return 0;
    }
    const char *notify = tn_stanza_attr(el, "notify");
    int tell = notify ? tn_form_bool(notify) == 1 : n->cfg.notify_retract;
    char *rid = tn_strdup(id);
    ps_store_item(n, it, 1);
    ps_node_item_del(n, it);
    reply_empty(r);
    if (tell)
        ps_notify_retract(n, rid);
    changed(r, n, NULL, rid);
    tn_free(rid);
    return 0;
}

/* The 'jid' of a subscribe/unsubscribe/options request, canonical, in
 * *j; -1 (answered) when absent or malformed. */
static int req_jid(ps_req_t *r, const tn_stanza_t *el, tn_jid_t *j)
{
    const char *s = tn_stanza_attr(el, "jid");
    if (!s || tn_jid_parse(s, j) < 0) {
        reply_error(r, "modify", "bad-request", "invalid-jid", NULL);
        return -1;
    }
    return 0;
}

static void sub_element(tn_stanza_t *parent, const ps_node_t *n,
                        const ps_sub_t *s, int with_node)
{
    tn_stanza_t *e = tn_stanza_add_child(parent, "subscription", NULL);
    if (with_node)
        tn_stanza_set_attr(e, "node", n->name);
    tn_stanza_set_attr(e, "jid", s->jid);
    tn_stanza_set_attr(e, "subscription", ps_substate_name(s->state));
    if (s->state != PS_SUB_NONE)
        tn_stanza_set_attr(e, "subid", s->subid);
}

/* Applies a submitted subscribe_options form; -1 on a bad value. */
static int apply_sub_options(ps_sub_t *s, const tn_stanza_t *x)
{
    char *v = tn_form_value(x, "pubsub#deliver");
    int rc = 0;
    if (v) {
        int b = tn_form_bool(v);
        if (b < 0)
            rc = -1;
        else
            s->deliver = b;
    }
    tn_free(v);
    return rc;
}

static int h_subscribe(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    tn_jid_t j;
    if (req_jid(r, el, &j) < 0)
        return 0;
    int rc = 0;
    ps_node_t *n = NULL;
    if (strcmp(j.bare, r->from.bare) != 0) {
        reply_error(r, "modify", "bad-request", "invalid-jid", NULL);
        goto out;
    }
    if (!(n = need_node(r, el)))
        goto out;
    tn_stanza_t *x = extra && strcmp(extra->name, "options") == 0
                         ? submitted(extra, PS_FORM_SUBOPTS)
                         : NULL;
    ps_substate_t st = PS_SUB_SUBSCRIBED;
    ps_aff_t a = ps_node_aff(n, r->from.bare);
    if (n->cfg.access == PS_ACCESS_AUTHORIZE && a != PS_AFF_OUTCAST &&
        a != PS_AFF_PUBLISH_ONLY && a < PS_AFF_MEMBER) {
        for (size_t i = 0; i < n->nsubs; i++)
            if (n->subs[i]->state == PS_SUB_PENDING &&
                strcmp(n->subs[i]->jid, j.full) == 0) {
                reply_error(r, "auth", "not-authorized", "pending-subscription",
                            NULL);
                goto out;
            }
        st = PS_SUB_PENDING;
    } else if ((rc = access_ok(r, n)) != 0) {
        rc = rc == PS_NEED ? PS_NEED : 0;
        goto out;
    }
    /* 6.1.6: another subscription of the same JID only for other
     * options; with the options of one it has, that one is the answer
     * (so a client subscribing at every login does not pile them up). */
    ps_sub_t probe = {.deliver = 1};
    if (x && apply_sub_options(&probe, x) < 0) {
        reply_error(r, "modify", "bad-request", "invalid-options", NULL);
        goto out;
    }
    ps_sub_t *s = NULL;
    for (size_t i = 0; i < n->nsubs && !s; i++)
        if (strcmp(n->subs[i]->jid, j.full) == 0 &&
            n->subs[i]->deliver == probe.deliver &&
            n->subs[i]->state != PS_SUB_PENDING)
            s = n->subs[i];
    int fresh = !s;
    if (fresh) {
        s = ps_node_sub_add(n, j.full, st);
        s->deliver = probe.deliver;
        ps_store_sub(n, s, 0);
    }
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
    sub_element(ps, n, s, 1);
    reply(r, res);
    if (s->state == PS_SUB_PENDING && fresh)
        ps_send_auth_request(n, s);
    else if (s->state == PS_SUB_SUBSCRIBED && n->cfg.send_last != PS_LAST_NEVER)
        ps_send_last(n, s->jid);
out:
    tn_jid_release(&j);
    return rc;
}

/* The one subscription of jid an unsubscribe or options request names
 * (by subid when given); NULL when answered with an error. */
static ps_sub_t *named_sub(ps_req_t *r, ps_node_t *n, const tn_stanza_t *el,
                           const char *jid)
{
    const char *subid = tn_stanza_attr(el, "subid");
    if (subid) {
        ps_sub_t *s = ps_node_sub_by_id(n, subid);
        if (!s || strcmp(s->jid, jid) != 0) {
            reply_error(r, "modify", "not-acceptable", "invalid-subid", NULL);
            return NULL;
        }
        return s;
    }
    size_t count;
    ps_sub_t *s = ps_node_sub_of(n, jid, &count);
    if (count == 0)
        reply_error(r, "cancel", "unexpected-request", "not-subscribed", NULL);
    else if (count > 1)
        reply_error(r, "modify", "bad-request", "subid-required", NULL);
    return count == 1 ? s : NULL;
}

static int h_unsubscribe(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    (void)extra;
    tn_jid_t j;
    if (req_jid(r, el, &j) < 0)
        return 0;
    ps_node_t *n;
    ps_sub_t *s;
    if (strcmp(j.bare, r->from.bare) != 0)
        reply_error(r, "auth", "forbidden", NULL, NULL);
    else if ((n = need_node(r, el)) && (s = named_sub(r, n, el, j.full))) {
        ps_store_sub(n, s, 1);
        ps_node_sub_del(n, s);
        reply_empty(r);
    }
    tn_jid_release(&j);
    return 0;
}

static tn_stanza_t *sub_options_form(const ps_sub_t *s, const char *type)
{
    tn_stanza_t *x = tn_form_new(type, PS_FORM_SUBOPTS);
    tn_form_field(x, "pubsub#deliver", "boolean", "Enable delivery?",
                  s && !s->deliver ? "0" : "1");
    return x;
}

static int h_options(ps_req_t *r, tn_stanza_t *el, int set)
{
    tn_jid_t j;
    if (req_jid(r, el, &j) < 0)
        return 0;
    ps_node_t *n;
    ps_sub_t *s;
    if (strcmp(j.bare, r->from.bare) != 0) {
        reply_error(r, "auth", "forbidden", NULL, NULL);
    } else if ((n = need_node(r, el)) && (s = named_sub(r, n, el, j.full))) {
        if (set) {
            tn_stanza_t *x = submitted(el, PS_FORM_SUBOPTS);
            if (!x || apply_sub_options(s, x) < 0) {
                reply_error(r, "modify", "bad-request", "invalid-options",
                            NULL);
            } else {
                ps_store_sub(n, s, 0);
                reply_empty(r);
            }
        } else {
            tn_stanza_t *res = result_new(r);
            tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
            tn_stanza_t *o = tn_stanza_add_child(ps, "options", NULL);
            tn_stanza_set_attr(o, "node", n->name);
            tn_stanza_set_attr(o, "jid", s->jid);
            tn_stanza_set_attr(o, "subid", s->subid);
            tn_stanza_t *x = sub_options_form(s, "form");
            tn_stanza_add_copy(o, x);
            tn_stanza_unref(x);
            reply(r, res);
        }
    }
    tn_jid_release(&j);
    return 0;
}

/* XEP-0059 over the items newest first: the slice [*from, *to). Returns
 * -1 when the request is not acceptable (answered). */
static int rsm_slice(ps_req_t *r, const tn_stanza_t *set, ps_item_t **v,
                     size_t n, size_t *from, size_t *to)
{
    *from = 0;
    *to = n;
    if (!set)
        return 0;
    char *max = tn_stanza_child_text(set, "max", PS_NS_RSM);
    char *after = tn_stanza_child_text(set, "after", PS_NS_RSM);
    char *before = tn_stanza_child_text(set, "before", PS_NS_RSM);
    char *index = tn_stanza_child_text(set, "index", PS_NS_RSM);
    int rc = 0;
    long m = -1;
    if (max) {
        char *end;
        m = strtol(max, &end, 10);
        if (!*max || *end || m < 0)
            rc = -1;
    }
    if (!rc && after) {
        size_t i = 0;
        while (i < n && strcmp(v[i]->id, after) != 0)
            i++;
        if (i == n)
            rc = -2;
        else
            *from = i + 1;
    }
    if (!rc && before) {
        size_t end = n;
        if (*before) {
            end = 0;
            while (end < n && strcmp(v[end]->id, before) != 0)
                end++;
            if (end == n)
                rc = -2;
        }
        *to = end;
        if (!rc && m >= 0 && *to - *from > (size_t)m)
            *from = *to - (size_t)m;
    } else if (!rc && index) {
        char *end;
        long x = strtol(index, &end, 10);
        if (!*index || *end || x < 0)
            rc = -1;
        else
            *from = (size_t)x < n ? (size_t)x : n;
    }
    if (!rc && !before && m >= 0 && *to - *from > (size_t)m)
        *to = *from + (size_t)m;
    tn_free(max);
    tn_free(after);
    tn_free(before);
    tn_free(index);
    if (rc == -1)
        reply_error(r, "modify", "bad-request", NULL, NULL);
    else if (rc == -2)
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
    return rc < 0 ? -1 : 0;
}

static int h_items(ps_req_t *r, tn_stanza_t *el, tn_stanza_t *extra)
{
    ps_node_t *n = need_node(r, el);
    if (!n)
        return 0;
    int rc = access_ok(r, n);
    if (rc)
        return rc == PS_NEED ? PS_NEED : 0;
    tn_stanza_t *set = NULL;
    if (extra) {
        if (strcmp(extra->name, "set") != 0 ||
            strcmp(extra->ns, PS_NS_RSM) != 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        set = extra;
    }
    /* Newest first. */
    ps_item_t **v = tn_calloc(n->nitems + 1, sizeof *v);
    size_t nv = 0;
    int by_id = tn_stanza_child(el, "item", NULL) != NULL;
    for (size_t i = n->nitems; i-- > 0;) {
        ps_item_t *it = n->items[i];
        if (by_id) {
            int want = 0;
            for (size_t k = 0; k < el->nkids && !want; k++) {
                tn_stanza_t *c = el->kids[k];
                const char *id = c->name && strcmp(c->name, "item") == 0
                                     ? tn_stanza_attr(c, "id")
                                     : NULL;
                want = id && strcmp(id, it->id) == 0;
            }
            if (!want)
                continue;
        }
        v[nv++] = it;
    }
    const char *mi = tn_stanza_attr(el, "max_items");
    if (mi) {
        char *end;
        long m = strtol(mi, &end, 10);
        if (!*mi || *end || m < 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            tn_free(v);
            return 0;
        }
        if ((size_t)m < nv)
            nv = (size_t)m;
    }
    size_t from, to;
    if (rsm_slice(r, set, v, nv, &from, &to) < 0) {
        tn_free(v);
        return 0;
    }
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
    tn_stanza_t *items = tn_stanza_add_child(ps, "items", NULL);
    tn_stanza_set_attr(items, "node", n->name);
    for (size_t i = from; i < to; i++)
        tn_stanza_add_copy(items, v[i]->item);
    if (set) {
        tn_stanza_t *out = tn_stanza_add_child(ps, "set", PS_NS_RSM);
        if (to > from) {
            tn_stanza_t *f = tn_stanza_add_child(out, "first", NULL);
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", from);
            tn_stanza_set_attr(f, "index", idx);
            tn_stanza_add_text(f, v[from]->id, strlen(v[from]->id));
            tn_stanza_t *l = tn_stanza_add_child(out, "last", NULL);
            tn_stanza_add_text(l, v[to - 1]->id, strlen(v[to - 1]->id));
        }
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%zu", nv);
        tn_stanza_add_text(tn_stanza_add_child(out, "count", NULL), cnt,
                           strlen(cnt));
    }
    tn_free(v);
    reply(r, res);
    return 0;
}

/* The sender's own subscriptions or affiliations (5.6, 5.7). */
static int h_mine(ps_req_t *r, tn_stanza_t *el, int affs)
{
    const char *only = tn_stanza_attr(el, "node");
    if (only && !tn_hmap_get(&r->svc->nodes, only)) {
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
        return 0;
    }
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
    tn_stanza_t *list =
        tn_stanza_add_child(ps, affs ? "affiliations" : "subscriptions", NULL);
    if (only)
        tn_stanza_set_attr(list, "node", only);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->svc->nodes, &it); e;
         e = tn_hmap_next(&r->svc->nodes, e, &it)) {
        ps_node_t *n = e->value;
        if (only && strcmp(only, n->name) != 0)
            continue;
        if (affs) {
            ps_aff_t a = ps_node_aff(n, r->from.bare);
            if (a == PS_AFF_NONE)
                continue;
            tn_stanza_t *x = tn_stanza_add_child(list, "affiliation", NULL);
            tn_stanza_set_attr(x, "node", n->name);
            tn_stanza_set_attr(x, "affiliation", ps_aff_name(a));
            continue;
        }
        for (size_t i = 0; i < n->nsubs; i++) {
            ps_sub_t *s = n->subs[i];
            tn_jid_t j;
            if (tn_jid_parse(s->jid, &j) < 0)
                continue;
            if (strcmp(j.bare, r->from.bare) == 0)
                sub_element(list, n, s, 1);
            tn_jid_release(&j);
        }
    }
    reply(r, res);
    return 0;
}

/* ---- owner use cases ----------------------------------------------------- */

/* The node of an owner request; NULL when answered (missing node, not an
 * owner). */
static ps_node_t *owned_node(ps_req_t *r, const tn_stanza_t *el)
{
    ps_node_t *n = need_node(r, el);
    if (n && !is_owner(r, n)) {
        reply_error(r, "auth", "forbidden", NULL, NULL);
        return NULL;
    }
    return n;
}

static tn_stanza_t *owner_result(ps_req_t *r, tn_stanza_t **ps)
{
    tn_stanza_t *res = result_new(r);
    *ps = tn_stanza_add_child(res, "pubsub", PS_NS_OWNER);
    return res;
}

static int h_configure(ps_req_t *r, tn_stanza_t *el, int set)
{
    ps_node_t *n = owned_node(r, el);
    if (!n)
        return 0;
    if (!set) {
        tn_stanza_t *ps;
        tn_stanza_t *res = owner_result(r, &ps);
        tn_stanza_t *c = tn_stanza_add_child(ps, "configure", NULL);
        tn_stanza_set_attr(c, "node", n->name);
        tn_stanza_t *x = ps_config_form(n->svc, &n->cfg, "form");
        tn_stanza_add_copy(c, x);
        tn_stanza_unref(x);
        reply(r, res);
        return 0;
    }
    tn_stanza_t *x = tn_stanza_child(el, "x", TN_NS_DATA);
    const char *t = x ? tn_stanza_attr(x, "type") : NULL;
    if (t && strcmp(t, "cancel") == 0) {
        reply_empty(r);
        return 0;
    }
    char *ft = x ? tn_form_type(x) : NULL;
    int ok = x && t && strcmp(t, "submit") == 0 && ft &&
             strcmp(ft, PS_FORM_CONFIG) == 0;
    tn_free(ft);
    if (!ok) {
        reply_error(r, "modify", "bad-request", NULL, NULL);
        return 0;
    }
    ps_config_t c;
    ps_config_copy(&n->cfg, &c);
    const char *bad = NULL;
    if (ps_config_apply(n->svc, &c, x, &bad) < 0) {
        ps_config_release(&c);
        reply_error(r, "modify", "not-acceptable", NULL, NULL);
        return 0;
    }
    ps_config_release(&n->cfg);
    n->cfg = c;
    ps_node_trim(n, store_gone);
    ps_store_node(n);
    reply_empty(r);
    if (n->cfg.notify_config)
        ps_notify_config(n);
    return 0;
}

static int h_default(ps_req_t *r)
{
    ps_config_t c;
    ps_config_defaults(r->svc, &c);
    tn_stanza_t *ps;
    tn_stanza_t *res = owner_result(r, &ps);
    tn_stanza_t *d = tn_stanza_add_child(ps, "default", NULL);
    tn_stanza_t *x = ps_config_form(r->svc, &c, "form");
    tn_stanza_add_copy(d, x);
    tn_stanza_unref(x);
    ps_config_release(&c);
    reply(r, res);
    return 0;
}

static int h_delete(ps_req_t *r, tn_stanza_t *el)
{
    ps_node_t *n = owned_node(r, el);
    if (!n)
        return 0;
    tn_stanza_t *redir = tn_stanza_child(el, "redirect", NULL);
    const char *uri = redir ? tn_stanza_attr(redir, "uri") : NULL;
    reply_empty(r);
    if (n->cfg.notify_delete)
        ps_notify_delete(n, uri);
    ps_store_node_del(n);
    tn_hmap_del(&r->svc->nodes, n->name);
    changed(r, n, NULL, NULL); /* n is no longer in the service */
    tn_log(TN_LOG_DEBUG, "pubsub: %s deleted node %s on %s", r->from.bare,
           n->name, r->svc->jid);
    ps_node_free(n);
    return 0;
}

static int h_purge(ps_req_t *r, tn_stanza_t *el)
{
    ps_node_t *n = owned_node(r, el);
    if (!n)
        return 0;
    while (n->nitems) {
        ps_item_t *it = n->items[n->nitems - 1];
        ps_store_item(n, it, 1);
        ps_node_item_del(n, it);
    }
    reply_empty(r);
    if (n->cfg.notify_retract)
        ps_notify_purge(n);
    changed(r, n, NULL, NULL);
    return 0;
}

static int h_owner_subs(ps_req_t *r, tn_stanza_t *el, int set)
{
    ps_node_t *n = owned_node(r, el);
    if (!n)
        return 0;
    if (!set) {
        tn_stanza_t *ps;
        tn_stanza_t *res = owner_result(r, &ps);
        tn_stanza_t *l = tn_stanza_add_child(ps, "subscriptions", NULL);
        tn_stanza_set_attr(l, "node", n->name);
        for (size_t i = 0; i < n->nsubs; i++)
            sub_element(l, n, n->subs[i], 0);
        reply(r, res);
        return 0;
    }
    /* Check everything first, then apply (8.8.2). */
    for (size_t i = 0; i < el->nkids; i++) {
        tn_stanza_t *c = el->kids[i];
        if (!c->name)
            continue;
        const char *jid = tn_stanza_attr(c, "jid");
        const char *st = tn_stanza_attr(c, "subscription");
        tn_jid_t j;
        if (strcmp(c->name, "subscription") != 0 || !jid || !st ||
            tn_jid_parse(jid, &j) < 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        tn_jid_release(&j);
        if (strcmp(st, "none") != 0 && strcmp(st, "subscribed") != 0 &&
            strcmp(st, "pending") != 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
    }
    for (size_t i = 0; i < el->nkids; i++) {
        tn_stanza_t *c = el->kids[i];
        if (!c->name)
            continue;
        tn_jid_t j;
        tn_jid_parse(tn_stanza_attr(c, "jid"), &j);
        const char *st = tn_stanza_attr(c, "subscription");
        const char *subid = tn_stanza_attr(c, "subid");
        ps_sub_t *s = subid ? ps_node_sub_by_id(n, subid)
                            : ps_node_sub_of(n, j.full, NULL);
        if (s && strcmp(s->jid, j.full) != 0)
            s = NULL;
        if (strcmp(st, "none") == 0) {
            if (s) {
                s->state = PS_SUB_NONE;
                ps_notify_subscription(n, s);
                ps_store_sub(n, s, 1);
                ps_node_sub_del(n, s);
            }
        } else {
            ps_substate_t ns =
                strcmp(st, "pending") == 0 ? PS_SUB_PENDING : PS_SUB_SUBSCRIBED;
            if (!s)
                s = ps_node_sub_add(n, j.full, ns);
            s->state = ns;
            ps_store_sub(n, s, 0);
            ps_notify_subscription(n, s);
        }
        tn_jid_release(&j);
    }
    reply_empty(r);
    return 0;
}

static int h_owner_affs(ps_req_t *r, tn_stanza_t *el, int set)
{
    ps_node_t *n = owned_node(r, el);
    if (!n)
        return 0;
    if (!set) {
        tn_stanza_t *ps;
        tn_stanza_t *res = owner_result(r, &ps);
        tn_stanza_t *l = tn_stanza_add_child(ps, "affiliations", NULL);
        tn_stanza_set_attr(l, "node", n->name);
        if (n->svc->pep) {
            tn_stanza_t *a = tn_stanza_add_child(l, "affiliation", NULL);
            tn_stanza_set_attr(a, "jid", n->svc->jid);
            tn_stanza_set_attr(a, "affiliation", "owner");
        }
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
             e = tn_hmap_next(&n->affs, e, &it)) {
            if (n->svc->pep && strcmp(e->key, n->svc->jid) == 0)
                continue;
            tn_stanza_t *a = tn_stanza_add_child(l, "affiliation", NULL);
            tn_stanza_set_attr(a, "jid", e->key);
            tn_stanza_set_attr(
                a, "affiliation",
                ps_aff_name((ps_aff_t)((uintptr_t)e->value - 1)));
        }
        reply(r, res);
        return 0;
    }
    /* Validate all, count the owners that would remain, then apply. */
    size_t owners = 0;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
         e = tn_hmap_next(&n->affs, e, &it))
        owners += (uintptr_t)e->value - 1 == PS_AFF_OWNER;
    for (size_t i = 0; i < el->nkids; i++) {
        tn_stanza_t *c = el->kids[i];
        if (!c->name)
            continue;
        const char *jid = tn_stanza_attr(c, "jid");
        ps_aff_t a;
        tn_jid_t j;
        if (strcmp(c->name, "affiliation") != 0 || !jid ||
            ps_aff_parse(tn_stanza_attr(c, "affiliation"), &a) < 0 ||
            tn_jid_parse(jid, &j) < 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        int pep_owner = n->svc->pep && strcmp(j.bare, n->svc->jid) == 0;
        ps_aff_t was = ps_node_aff(n, j.bare);
        tn_jid_release(&j);
        if (pep_owner && a != PS_AFF_OWNER) {
            reply_error(r, "cancel", "not-acceptable", NULL, NULL);
            return 0;
        }
        if (!pep_owner && was == PS_AFF_OWNER && a != PS_AFF_OWNER)
            owners--;
        else if (was != PS_AFF_OWNER && a == PS_AFF_OWNER)
            owners++;
    }
    if (!n->svc->pep && owners == 0) {
        /* 8.9.2.4: the last owner cannot go. */
        reply_error(r, "modify", "not-acceptable", NULL, NULL);
        return 0;
    }
    for (size_t i = 0; i < el->nkids; i++) {
        tn_stanza_t *c = el->kids[i];
        if (!c->name)
            continue;
        ps_aff_t a;
        tn_jid_t j;
        ps_aff_parse(tn_stanza_attr(c, "affiliation"), &a);
        tn_jid_parse(tn_stanza_attr(c, "jid"), &j);
        if (!(n->svc->pep && strcmp(j.bare, n->svc->jid) == 0)) {
            ps_node_set_aff(n, j.bare, a);
            ps_store_aff(n, j.bare, a);
        }
        if (a == PS_AFF_OUTCAST) {
            /* 8.9.2: an outcast loses its subscriptions. */
            for (size_t k = n->nsubs; k-- > 0;) {
                ps_sub_t *s = n->subs[k];
                tn_jid_t sj;
                if (tn_jid_parse(s->jid, &sj) < 0)
                    continue;
                if (strcmp(sj.bare, j.bare) == 0) {
                    ps_store_sub(n, s, 1);
                    ps_node_sub_del(n, s);
                }
                tn_jid_release(&sj);
            }
        }
        tn_jid_release(&j);
    }
    reply_empty(r);
    return 0;
}

/* ---- discovery of nodes -------------------------------------------------- */

static int h_disco_info(ps_req_t *r, const char *name)
{
    ps_node_t *n = tn_hmap_get(&r->svc->nodes, name);
    if (!n) {
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
        return 0;
    }
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_INFO);
    tn_stanza_set_attr(q, "node", name);
    tn_stanza_t *id = tn_stanza_add_child(q, "identity", NULL);
    tn_stanza_set_attr(id, "category", "pubsub");
    tn_stanza_set_attr(id, "type", "leaf");
    if (n->cfg.title)
        tn_stanza_set_attr(id, "name", n->cfg.title);
    tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var", PS_NS);
    tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var",
                       TN_NS_DISCO_INFO);
    tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var",
                       TN_NS_DISCO_ITEMS);
    tn_stanza_t *x = tn_stanza_add_child(q, "x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "result");
    tn_form_field(x, "FORM_TYPE", "hidden", NULL, PS_FORM_META);
    tn_form_field(x, "pubsub#title", NULL, NULL,
                  n->cfg.title ? n->cfg.title : "");
    tn_form_field(x, "pubsub#type", NULL, NULL, n->cfg.type ? n->cfg.type : "");
    tn_stanza_t *owners =
        tn_form_field(x, "pubsub#owner", "jid-multi", NULL, NULL);
    if (n->svc->pep)
        tn_form_add_value(owners, n->svc->jid);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
         e = tn_hmap_next(&n->affs, e, &it))
        if ((uintptr_t)e->value - 1 == PS_AFF_OWNER)
            tn_form_add_value(owners, e->key);
    tn_stanza_t *cf = ps_config_form(n->svc, &n->cfg, "result");
    static const char *const meta[] = {
        "pubsub#access_model", "pubsub#publish_model", "pubsub#max_items"};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++) {
        char *v = tn_form_value(cf, meta[i]);
        tn_form_field(x, meta[i], NULL, NULL, v ? v : "");
        tn_free(v);
    }
    tn_stanza_unref(cf);
    char num[24];
    snprintf(num, sizeof num, "%zu", n->nsubs);
    tn_form_field(x, "pubsub#num_subscribers", NULL, NULL, num);
    reply(r, res);
    return 0;
}

static int h_disco_items(ps_req_t *r, const char *name)
{
    ps_node_t *n = tn_hmap_get(&r->svc->nodes, name);
    if (!n) {
        reply_error(r, "cancel", "item-not-found", NULL, NULL);
        return 0;
    }
    int rc = access_ok(r, n);
    if (rc)
        return rc == PS_NEED ? PS_NEED : 0;
    tn_stanza_t *res = result_new(r);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_ITEMS);
    tn_stanza_set_attr(q, "node", name);
    for (size_t i = n->nitems; i-- > 0;) {
        tn_stanza_t *it = tn_stanza_add_child(q, "item", NULL);
        tn_stanza_set_attr(it, "jid", r->svc->jid);
        tn_stanza_set_attr(it, "name", n->items[i]->id);
    }
    reply(r, res);
    return 0;
}

/* ---- dispatch ------------------------------------------------------------ */

static int dispatch(ps_req_t *r)
{
    const char *type = tn_stanza_attr(r->iq, "type");
    int set = type && strcmp(type, "set") == 0;
    tn_stanza_t *q = next_el(r->iq, NULL);
    if (!q) {
        reply_error(r, "modify", "bad-request", NULL, NULL);
        return 0;
    }
    if (strcmp(q->ns, TN_NS_DISCO_INFO) == 0 ||
        strcmp(q->ns, TN_NS_DISCO_ITEMS) == 0) {
        const char *node = tn_stanza_attr(q, "node");
        if (set || !node) {
            reply_error(r, "cancel", "service-unavailable", NULL, NULL);
            return 0;
        }
        return strcmp(q->ns, TN_NS_DISCO_INFO) == 0 ? h_disco_info(r, node)
                                                    : h_disco_items(r, node);
    }
    tn_stanza_t *el = next_el(q, NULL);
    tn_stanza_t *extra = el ? next_el(q, el) : NULL;
    if (!el || (extra && next_el(q, extra))) {
        reply_error(r, "modify", "bad-request", NULL, NULL);
        return 0;
    }
    const char *a = el->name;
    if (strcmp(q->ns, PS_NS_OWNER) == 0) {
        if (extra) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        if (strcmp(a, "configure") == 0)
            return h_configure(r, el, set);
        if (strcmp(a, "default") == 0 && !set)
            return h_default(r);
        if (strcmp(a, "delete") == 0 && set)
            return h_delete(r, el);
        if (strcmp(a, "purge") == 0 && set)
            return h_purge(r, el);
        if (strcmp(a, "subscriptions") == 0)
            return h_owner_subs(r, el, set);
        if (strcmp(a, "affiliations") == 0)
            return h_owner_affs(r, el, set);
    } else if (set) {
        /* What may follow the action: configure after create, options
         * after subscribe, publish-options after publish. */
        if (extra && !((strcmp(a, "create") == 0 &&
                        strcmp(extra->name, "configure") == 0) ||
                       (strcmp(a, "subscribe") == 0 &&
                        strcmp(extra->name, "options") == 0) ||
                       strcmp(a, "publish") == 0)) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        if (strcmp(a, "create") == 0)
            return h_create(r, el, extra);
        if (strcmp(a, "publish") == 0)
            return h_publish(r, el, extra);
        if (strcmp(a, "retract") == 0)
            return h_retract(r, el, extra);
        if (strcmp(a, "subscribe") == 0)
            return h_subscribe(r, el, extra);
        if (strcmp(a, "unsubscribe") == 0)
            return h_unsubscribe(r, el, extra);
        if (strcmp(a, "options") == 0)
            return h_options(r, el, 1);
    } else {
        if (strcmp(a, "items") == 0)
            return h_items(r, el, extra);
        if (extra && strcmp(extra->name, "set") != 0) {
            reply_error(r, "modify", "bad-request", NULL, NULL);
            return 0;
        }
        if (strcmp(a, "subscriptions") == 0)
            return h_mine(r, el, 0);
        if (strcmp(a, "affiliations") == 0)
            return h_mine(r, el, 1);
        if (strcmp(a, "options") == 0)
            return h_options(r, el, 0);
        if (strcmp(a, "default") == 0) {
            tn_stanza_t *res = result_new(r);
            tn_stanza_t *ps = tn_stanza_add_child(res, "pubsub", PS_NS);
            tn_stanza_t *d = tn_stanza_add_child(ps, "default", NULL);
            tn_stanza_t *x = sub_options_form(NULL, "form");
            tn_stanza_add_copy(d, x);
            tn_stanza_unref(x);
            reply(r, res);
            return 0;
        }
    }
    reply_error(r, "cancel", "feature-not-implemented", "unsupported", a);
    return 0;
}

static void roster_cb(void *ud, tn_roster_t *roster)
{
    ps_req_t *r = ud;
    if (roster)
        tn_roster_ref(roster);
    r->roster = roster;
    r->have_roster = 1;
    ps_handle_iq(r);
}

void ps_handle_iq(ps_req_t *r)
{
    if (dispatch(r) != PS_NEED) {
        ps_req_free(r);
        return;
    }
    /* The node's access model needs its owner's roster. */
    tn_stanza_t *q = next_el(r->iq, NULL);
    tn_stanza_t *el = q ? next_el(q, NULL) : NULL;
    const char *name = el ? tn_stanza_attr(el, "node") : NULL;
    if (q && !name)
        name = tn_stanza_attr(q, "node");
    ps_node_t *n = name ? tn_hmap_get(&r->svc->nodes, name) : NULL;
    const char *owner = n ? ps_node_roster_owner(n) : NULL;
    tn_jid_t o;
    r->have_roster = 1;
    if (owner && tn_jid_parse(owner, &o) == 0) {
        if (o.node) {
            tn_roster_use(r->srv, o.domain, o.node, roster_cb, r);
            tn_jid_release(&o);
            return;
        }
        tn_jid_release(&o);
    }
    /* No roster to consult: nobody passes the roster-based models. */
    ps_handle_iq(r);
}

/* ---- authorization answers (8.6) ----------------------------------------- */

int ps_handle_auth_message(ps_service_t *svc, tn_stanza_t *msg,
                           const tn_jid_t *from)
{
    tn_stanza_t *x = tn_stanza_child(msg, "x", TN_NS_DATA);
    char *ft = x ? tn_form_type(x) : NULL;
    const char *t = x ? tn_stanza_attr(x, "type") : NULL;
    int is_auth =
        ft && strcmp(ft, PS_FORM_AUTH) == 0 && t && strcmp(t, "submit") == 0;
    tn_free(ft);
    if (!is_auth)
        return 0;
    char *node = tn_form_value(x, "pubsub#node");
    char *subid = tn_form_value(x, "pubsub#subid");
    char *jid = tn_form_value(x, "pubsub#subscriber_jid");
    char *allow = tn_form_value(x, "pubsub#allow");
    ps_node_t *n = node ? tn_hmap_get(&svc->nodes, node) : NULL;
    ps_sub_t *s = NULL;
    if (n && ps_node_aff(n, from->bare) == PS_AFF_OWNER) {
        s = subid ? ps_node_sub_by_id(n, subid) : NULL;
        if (!s && jid)
            for (size_t i = 0; i < n->nsubs && !s; i++)
                if (n->subs[i]->state == PS_SUB_PENDING &&
                    strcmp(n->subs[i]->jid, jid) == 0)
                    s = n->subs[i];
    } else if (n) {
        tn_log(TN_LOG_WARN,
               "pubsub: authorization for %s from %s, not an "
               "owner: ignored",
               node, from->full);
    }
    if (s && s->state == PS_SUB_PENDING) {
        if (tn_form_bool(allow) == 1) {
            s->state = PS_SUB_SUBSCRIBED;
            ps_store_sub(n, s, 0);
            ps_notify_subscription(n, s);
            if (n->cfg.send_last != PS_LAST_NEVER)
                ps_send_last(n, s->jid);
        } else {
            s->state = PS_SUB_NONE;
            ps_notify_subscription(n, s);
            ps_store_sub(n, s, 1);
            ps_node_sub_del(n, s);
        }
    }
    tn_free(node);
    tn_free(subid);
    tn_free(jid);
    tn_free(allow);
    return 1;
}
