/* pubsub_node.c -- pubsub nodes: configuration (the node_config form of
 * XEP-0060 16.4.4, also read back from the store and compared against
 * publish-options), affiliations, subscriptions, items and the access
 * models of XEP-0060 4.5. See pubsub.h. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mod/pubsub.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/form.h"

const char PS_NEED_ROSTER[] = "need-roster";

static const char *const access_names[] = {"open", "presence", "roster",
                                           "whitelist", "authorize"};
static const char *const pubmodel_names[] = {"publishers", "subscribers",
                                             "open"};
static const char *const sendlast_names[] = {"never", "on_sub",
                                             "on_sub_and_presence"};
static const char *const aff_names[] = {"outcast",      "none",      "member",
                                        "publish-only", "publisher", "owner"};
static const char *const substate_names[] = {"none", "pending", "unconfigured",
                                             "subscribed"};

#define NELEM(a) (sizeof a / sizeof *a)

static int name_index(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; v && i < n; i++)
        if (strcmp(names[i], v) == 0)
            return (int)i;
    return -1;
}

const char *ps_aff_name(ps_aff_t a)
{
    return aff_names[a];
}

int ps_aff_parse(const char *s, ps_aff_t *out)
{
    int i = name_index(aff_names, NELEM(aff_names), s);
    if (i < 0)
        return -1;
    *out = (ps_aff_t)i;
    return 0;
}

const char *ps_substate_name(ps_substate_t s)
{
    return substate_names[s];
}

/* ---- configuration ------------------------------------------------------- */

void ps_config_defaults(const ps_service_t *svc, ps_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->access = svc->pep ? PS_ACCESS_PRESENCE : PS_ACCESS_OPEN;
    c->publish_model = PS_PUBLISH_PUBLISHERS;
    c->persist = 1;
    c->max_items = svc->pep ? 1 : 10;
    if (c->max_items > svc->max_items)
        c->max_items = svc->max_items;
    c->deliver_payloads = 1;
    c->deliver_notifications = 1;
    c->notify_retract = 1;
    c->notify_delete = 1;
    c->send_last = svc->pep ? PS_LAST_ON_SUB_AND_PRESENCE : PS_LAST_ON_SUB;
    c->headline = 1;
}

void ps_config_release(ps_config_t *c)
{
    tn_free(c->title);
    tn_free(c->type);
    for (size_t i = 0; i < c->ngroups; i++)
        tn_free(c->groups[i]);
    tn_free(c->groups);
    memset(c, 0, sizeof *c);
}

void ps_config_copy(const ps_config_t *from, ps_config_t *to)
{
    *to = *from;
    to->title = from->title ? tn_strdup(from->title) : NULL;
    to->type = from->type ? tn_strdup(from->type) : NULL;
    to->groups =
        from->ngroups ? tn_calloc(from->ngroups, sizeof(char *)) : NULL;
    for (size_t i = 0; i < from->ngroups; i++)
        to->groups[i] = tn_strdup(from->groups[i]);
}

static tn_stanza_t *list_field(tn_stanza_t *x, const char *var,
                               const char *label, const char *const *names,
                               size_t n, int cur, int with_options)
{
    tn_stanza_t *f = tn_form_field(x, var, with_options ? "list-single" : NULL,
                                   with_options ? label : NULL, names[cur]);
    for (size_t i = 0; with_options && i < n; i++)
        tn_form_option(f, NULL, names[i]);
    return f;
}

static void bool_field(tn_stanza_t *x, const char *var, const char *label,
                       int v, int full)
{
    tn_form_field(x, var, full ? "boolean" : NULL, full ? label : NULL,
                  v ? "1" : "0");
}

tn_stanza_t *ps_config_form(const ps_service_t *svc, const ps_config_t *c,
                            const char *type)
{
    int full = strcmp(type, "form") == 0;
    tn_stanza_t *x = tn_form_new(type, PS_FORM_CONFIG);
    tn_form_field(x, "pubsub#title", full ? "text-single" : NULL,
                  full ? "A friendly name for the node" : NULL,
                  c->title ? c->title : "");
    bool_field(x, "pubsub#deliver_notifications", "Deliver event notifications",
               c->deliver_notifications, full);
    bool_field(x, "pubsub#deliver_payloads",
               "Deliver payloads with event "
               "notifications",
               c->deliver_payloads, full);
    bool_field(x, "pubsub#notify_config",
               "Notify subscribers when the node "
               "configuration changes",
               c->notify_config, full);
    bool_field(x, "pubsub#notify_delete",
               "Notify subscribers when the node "
               "is deleted",
               c->notify_delete, full);
    bool_field(x, "pubsub#notify_retract",
               "Notify subscribers when items "
               "are removed from the node",
               c->notify_retract, full);
    bool_field(x, "pubsub#notify_sub",
               "Notify owners about new subscribers "
               "and unsubscribes",
               c->notify_sub, full);
    bool_field(x, "pubsub#persist_items", "Persist items to storage",
               c->persist, full);
    char num[24];
    snprintf(num, sizeof num, "%d", c->max_items);
    tn_form_field(x, "pubsub#max_items", full ? "text-single" : NULL,
                  full ? "Max # of items to persist ('max' for the most "
                         "this service keeps)"
                       : NULL,
                  num);
    list_field(x, "pubsub#access_model", "Specify the subscriber model",
               access_names, NELEM(access_names), c->access, full);
    tn_stanza_t *g = tn_form_field(
        x, "pubsub#roster_groups_allowed", full ? "list-multi" : NULL,
        full ? "Roster groups allowed to subscribe" : NULL, NULL);
    for (size_t i = 0; i < c->ngroups; i++)
        tn_form_add_value(g, c->groups[i]);
    list_field(x, "pubsub#publish_model", "Specify the publisher model",
               pubmodel_names, NELEM(pubmodel_names), c->publish_model, full);
    list_field(x, "pubsub#send_last_published_item",
               "When to send the last published item", sendlast_names,
               NELEM(sendlast_names), c->send_last, full);
    static const char *const ntypes[] = {"normal", "headline"};
    list_field(x, "pubsub#notification_type",
               "Specify the delivery style for event notifications", ntypes, 2,
               c->headline, full);
    tn_form_field(x, "pubsub#type", full ? "text-single" : NULL,
                  full ? "The type of node data, usually the namespace of "
                         "the payload"
                       : NULL,
                  c->type ? c->type : "");
    (void)svc;
    return x;
}

/* The values of field f (text of each <value/>), count in *n; caller frees
 * the array and the strings. */
static char **field_values(const tn_stanza_t *f, size_t *n)
{
    char **v = NULL;
    *n = 0;
    for (size_t i = 0; i < f->nkids; i++) {
        tn_stanza_t *k = f->kids[i];
        if (!k->name || strcmp(k->name, "value") != 0)
            continue;
        v = tn_realloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = tn_stanza_text(k);
    }
    return v;
}

static void values_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tn_free(v[i]);
    tn_free(v);
}

/* Parses max_items: a number 1..bound or "max". -1 when bad. */
static int parse_max(const ps_service_t *svc, const char *v)
{
    if (strcmp(v, "max") == 0)
        return svc->max_items;
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < 1 || x > svc->max_items)
        return -1;
    return (int)x;
}

/* Applies one field; 0, -1 bad value, 1 unknown field. */
static int config_field(const ps_service_t *svc, ps_config_t *c,
                        const char *var, const tn_stanza_t *f)
{
    size_t nv;
    char **vals = field_values(f, &nv);
    const char *v = nv ? vals[0] : "";
    int rc = 0, i;
    if (strcmp(var, "pubsub#roster_groups_allowed") == 0) {
        for (size_t k = 0; k < c->ngroups; k++)
            tn_free(c->groups[k]);
        tn_free(c->groups);
        c->groups = vals;
        c->ngroups = nv;
        return 0;
    }
    if (strcmp(var, "pubsub#title") == 0) {
        tn_free(c->title);
        c->title = *v ? tn_strdup(v) : NULL;
    } else if (strcmp(var, "pubsub#type") == 0) {
        tn_free(c->type);
        c->type = *v ? tn_strdup(v) : NULL;
    } else if (strcmp(var, "pubsub#max_items") == 0) {
        int m = parse_max(svc, v);
        if (m < 0)
            rc = -1;
        else
            c->max_items = m;
    } else if (strcmp(var, "pubsub#access_model") == 0) {
        if ((i = name_index(access_names, NELEM(access_names), v)) < 0)
            rc = -1;
        else
            c->access = (ps_access_t)i;
    } else if (strcmp(var, "pubsub#publish_model") == 0) {
        if ((i = name_index(pubmodel_names, NELEM(pubmodel_names), v)) < 0)
            rc = -1;
        else
            c->publish_model = (ps_pubmodel_t)i;
    } else if (strcmp(var, "pubsub#send_last_published_item") == 0) {
        if ((i = name_index(sendlast_names, NELEM(sendlast_names), v)) < 0)
            rc = -1;
        else
            c->send_last = (ps_sendlast_t)i;
    } else if (strcmp(var, "pubsub#notification_type") == 0) {
        if (strcmp(v, "headline") == 0)
            c->headline = 1;
        else if (strcmp(v, "normal") == 0)
            c->headline = 0;
        else
            rc = -1;
    } else {
        static const struct {
            const char *var;
            size_t off;
        } bools[] = {
            {"pubsub#deliver_notifications",
             offsetof(ps_config_t, deliver_notifications)},
            {"pubsub#deliver_payloads",
             offsetof(ps_config_t, deliver_payloads)},
            {"pubsub#notify_config", offsetof(ps_config_t, notify_config)},
            {"pubsub#notify_delete", offsetof(ps_config_t, notify_delete)},
            {"pubsub#notify_retract", offsetof(ps_config_t, notify_retract)},
            {"pubsub#notify_sub", offsetof(ps_config_t, notify_sub)},
            {"pubsub#persist_items", offsetof(ps_config_t, persist)},
        };
        rc = 1;
        for (size_t k = 0; k < NELEM(bools); k++) {
            if (strcmp(var, bools[k].var) != 0)
                continue;
            int b = tn_form_bool(v);
            rc = b < 0 ? -1 : 0;
            if (b >= 0)
                *(int *)((char *)c + bools[k].off) = b;
        }
    }
    values_free(vals, nv);
    return rc;
}

int ps_config_apply(const ps_service_t *svc, ps_config_t *c,
                    const tn_stanza_t *x, const char **bad)
{
    for (size_t i = 0; i < x->nkids; i++) {
        tn_stanza_t *f = x->kids[i];
        const char *var = f->name && strcmp(f->name, "field") == 0
                              ? tn_stanza_attr(f, "var")
                              : NULL;
        if (!var || strcmp(var, "FORM_TYPE") == 0)
            continue;
        if (config_field(svc, c, var, f) < 0) {
            *bad = var;
            return -1;
        }
    }
    return 0;
}

int ps_config_matches(const ps_node_t *node, const tn_stanza_t *x)
{
    for (size_t i = 0; i < x->nkids; i++) {
        tn_stanza_t *f = x->kids[i];
        const char *var = f->name && strcmp(f->name, "field") == 0
                              ? tn_stanza_attr(f, "var")
                              : NULL;
        if (!var || strcmp(var, "FORM_TYPE") == 0)
            continue;
        /* Apply the one field to a copy and compare the result. */
        ps_config_t c;
        ps_config_copy(&node->cfg, &c);
        int rc = config_field(node->svc, &c, var, f);
        int same = rc == 0 && c.access == node->cfg.access &&
                   c.publish_model == node->cfg.publish_model &&
                   c.persist == node->cfg.persist &&
                   c.max_items == node->cfg.max_items &&
                   c.deliver_payloads == node->cfg.deliver_payloads &&
                   c.deliver_notifications == node->cfg.deliver_notifications &&
                   c.notify_retract == node->cfg.notify_retract &&
                   c.notify_delete == node->cfg.notify_delete &&
                   c.notify_config == node->cfg.notify_config &&
                   c.notify_sub == node->cfg.notify_sub &&
                   c.headline == node->cfg.headline &&
                   c.send_last == node->cfg.send_last &&
                   !!c.title == !!node->cfg.title &&
                   (!c.title || strcmp(c.title, node->cfg.title) == 0) &&
                   !!c.type == !!node->cfg.type &&
                   (!c.type || strcmp(c.type, node->cfg.type) == 0) &&
                   c.ngroups == node->cfg.ngroups;
        for (size_t k = 0; same && k < c.ngroups; k++)
            same = strcmp(c.groups[k], node->cfg.groups[k]) == 0;
        ps_config_release(&c);
        if (!same)
            return -1;
    }
    return 0;
}

/* ---- nodes --------------------------------------------------------------- */

ps_node_t *ps_node_new(ps_service_t *svc, const char *name)
{
    ps_node_t *n = TN_NEW(ps_node_t);
    n->svc = svc;
    n->name = tn_strdup(name);
    ps_config_defaults(svc, &n->cfg);
    tn_hmap_init(&n->affs);
    tn_hmap_put(&svc->nodes, name, n);
    return n;
}

void ps_item_free(ps_item_t *it)
{
    if (!it)
        return;
    tn_free(it->id);
    tn_free(it->publisher);
    tn_stanza_unref(it->item);
    tn_free(it);
}

static void sub_free(ps_sub_t *s)
{
    tn_free(s->jid);
    tn_free(s->subid);
    tn_free(s);
}

void ps_node_free(ps_node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nsubs; i++)
        sub_free(n->subs[i]);
    tn_free(n->subs);
    for (size_t i = 0; i < n->nitems; i++)
        ps_item_free(n->items[i]);
    tn_free(n->items);
    tn_hmap_release(&n->affs);
    ps_config_release(&n->cfg);
    tn_free(n->name);
    tn_free(n);
}

ps_aff_t ps_node_aff(const ps_node_t *n, const char *bare)
{
    uintptr_t v = (uintptr_t)tn_hmap_get(&n->affs, bare);
    if (v)
        return (ps_aff_t)(v - 1);
    /* The account owns its PEP service. */
    if (n->svc->pep && strcmp(bare, n->svc->jid) == 0)
        return PS_AFF_OWNER;
    return PS_AFF_NONE;
}

void ps_node_set_aff(ps_node_t *n, const char *bare, ps_aff_t a)
{
    if (a == PS_AFF_NONE)
        tn_hmap_del(&n->affs, bare);
    else
        tn_hmap_put(&n->affs, bare, (void *)(uintptr_t)(a + 1));
}

ps_sub_t *ps_node_sub_by_id(const ps_node_t *n, const char *subid)
{
    for (size_t i = 0; i < n->nsubs; i++)
        if (strcmp(n->subs[i]->subid, subid) == 0)
            return n->subs[i];
    return NULL;
}

ps_sub_t *ps_node_sub_of(const ps_node_t *n, const char *jid, size_t *count)
{
    ps_sub_t *first = NULL;
    size_t c = 0;
    for (size_t i = 0; i < n->nsubs; i++) {
        if (strcmp(n->subs[i]->jid, jid) != 0)
            continue;
        if (!first)
            first = n->subs[i];
        c++;
    }
    if (count)
        *count = c;
    return first;
}

ps_sub_t *ps_node_sub_add(ps_node_t *n, const char *jid, ps_substate_t st)
{
    ps_sub_t *s = TN_NEW(ps_sub_t);
    s->jid = tn_strdup(jid);
    s->subid = tn_random_id(16);
    s->state = st;
    s->deliver = 1;
    n->subs = tn_realloc(n->subs, (n->nsubs + 1) * sizeof *n->subs);
    n->subs[n->nsubs++] = s;
    return s;
}

void ps_node_sub_del(ps_node_t *n, ps_sub_t *s)
{
    for (size_t i = 0; i < n->nsubs; i++) {
        if (n->subs[i] != s)
            continue;
        memmove(&n->subs[i], &n->subs[i + 1],
                (n->nsubs - i - 1) * sizeof *n->subs);
        n->nsubs--;
        sub_free(s);
        return;
    }
}

ps_item_t *ps_node_item(const ps_node_t *n, const char *id)
{
    for (size_t i = 0; i < n->nitems; i++)
        if (strcmp(n->items[i]->id, id) == 0)
            return n->items[i];
    return NULL;
}

static void item_unlink(ps_node_t *n, ps_item_t *it)
{
    for (size_t i = 0; i < n->nitems; i++) {
        if (n->items[i] != it)
            continue;
        memmove(&n->items[i], &n->items[i + 1],
                (n->nitems - i - 1) * sizeof *n->items);
        n->nitems--;
        return;
    }
}

void ps_node_item_del(ps_node_t *n, ps_item_t *it)
{
    item_unlink(n, it);
    ps_item_free(it);
}

void ps_node_trim(ps_node_t *n, void (*gone)(ps_node_t *, ps_item_t *))
{
    while (n->nitems > (size_t)n->cfg.max_items) {
        ps_item_t *old = n->items[0];
        item_unlink(n, old);
        if (gone)
            gone(n, old);
        ps_item_free(old);
    }
}

ps_item_t *ps_node_publish(ps_node_t *n, const char *id, const char *publisher,
                           tn_stanza_t *item,
                           void (*gone)(ps_node_t *, ps_item_t *))
{
    ps_item_t *old = ps_node_item(n, id);
    if (old)
        ps_node_item_del(n, old);
    ps_item_t *it = TN_NEW(ps_item_t);
    it->id = tn_strdup(id);
    it->publisher = tn_strdup(publisher ? publisher : "");
    it->item = item;
    it->seq = ++n->seq;
    n->items = tn_realloc(n->items, (n->nitems + 1) * sizeof *n->items);
    n->items[n->nitems++] = it;
    ps_node_trim(n, gone);
    return it;
}

/* ---- access -------------------------------------------------------------- */

const char *ps_node_roster_owner(const ps_node_t *n)
{
    if (n->svc->pep)
        return n->svc->jid;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
         e = tn_hmap_next(&n->affs, e, &it)) {
        if ((uintptr_t)e->value - 1 != PS_AFF_OWNER)
            continue;
        const char *at = strchr(e->key, '@');
        if (at && !strchr(at, '/') &&
            tn_config_is_host(n->svc->srv->cfg, at + 1))
            return e->key;
    }
    return NULL;
}

static int in_groups(const ps_node_t *n, const tn_roster_item_t *i)
{
    for (size_t a = 0; a < i->ngroups; a++)
        for (size_t b = 0; b < n->cfg.ngroups; b++)
            if (strcmp(i->groups[a], n->cfg.groups[b]) == 0)
                return 1;
    return 0;
}

const char *ps_access_check(const ps_node_t *n, const tn_jid_t *who,
                            tn_roster_t *roster, int have_roster,
                            const char **type, const char **app)
{
    *app = NULL;
    *type = "auth";
    ps_aff_t aff = ps_node_aff(n, who->bare);
    if (aff == PS_AFF_OUTCAST || aff == PS_AFF_PUBLISH_ONLY)
        return "forbidden";
    if (aff >= PS_AFF_MEMBER)
        return NULL;
    switch (n->cfg.access) {
    case PS_ACCESS_OPEN:
        return NULL;
    case PS_ACCESS_PRESENCE:
    case PS_ACCESS_ROSTER: {
        if (!have_roster)
            return PS_NEED_ROSTER;
        tn_roster_item_t *i = roster ? tn_roster_find(roster, who->bare) : NULL;
        int sub = i && !i->hidden && tn_sub_has_from(i->sub);
        if (n->cfg.access == PS_ACCESS_PRESENCE) {
            if (sub)
                return NULL;
            *app = "presence-subscription-required";
            return "not-authorized";
        }
        if (i && !i->hidden && in_groups(n, i))
            return NULL;
        *app = "not-in-roster-group";
        return "not-authorized";
    }
    case PS_ACCESS_WHITELIST:
        *type = "cancel";
        *app = "closed-node";
        return "not-allowed";
    case PS_ACCESS_AUTHORIZE:
        for (size_t k = 0; k < n->nsubs; k++) {
            const ps_sub_t *s = n->subs[k];
            if (s->state == PS_SUB_SUBSCRIBED &&
                (strcmp(s->jid, who->bare) == 0 ||
                 strcmp(s->jid, who->full) == 0))
                return NULL;
        }
        *app = "not-subscribed";
        return "not-authorized";
    }
    return "forbidden";
}
