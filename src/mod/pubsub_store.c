/* pubsub_store.c -- pubsub services in the store (layout in pubsub.h):
 * every change is written as it happens, one key per configuration,
 * affiliation, subscription and persistent item; a service is read back
 * whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mod/pubsub.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"

static void ps_store_done(void *ud, int status)
{
    (void)ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "pubsub: store write failed: %s",
               tn_strerror(status));
}

/* "<kind>:<len>:<node><rest>" (caller frees). */
static char *ps_key(char kind, const ps_node_t *n, const char *rest)
{
    return tn_sprintf("%c:%zu:%s%s", kind, strlen(n->name), n->name, rest);
}

static void put(ps_node_t *n, const char *key, const char *v)
{
    ps_service_t *svc = n->svc;
    tn_store_map_put(svc->srv->store, svc->host, svc->user, PS_STORE_MAP, key,
                     v, strlen(v), ps_store_done, NULL);
}

static void del(ps_node_t *n, const char *key)
{
    ps_service_t *svc = n->svc;
    tn_store_map_del(svc->srv->store, svc->host, svc->user, PS_STORE_MAP, key,
                     ps_store_done, NULL);
}

void ps_store_node(ps_node_t *n)
{
    tn_stanza_t *x = ps_config_form(n->svc, &n->cfg, "submit");
    char *xml = tn_stanza_to_string(x, NULL);
    char *key = tn_sprintf("n:%s", n->name);
    put(n, key, xml);
    tn_free(key);
    tn_free(xml);
    tn_stanza_unref(x);
}

void ps_store_aff(ps_node_t *n, const char *bare, ps_aff_t a)
{
    char *key = ps_key('a', n, bare);
    if (a == PS_AFF_NONE)
        del(n, key);
    else
        put(n, key, ps_aff_name(a));
    tn_free(key);
}

void ps_store_sub(ps_node_t *n, const ps_sub_t *s, int remove)
{
    char *key = ps_key('s', n, s->subid);
    if (remove) {
        del(n, key);
    } else {
        tn_stanza_t *e = tn_stanza_new("subscription", PS_NS);
        tn_stanza_set_attr(e, "jid", s->jid);
        tn_stanza_set_attr(e, "subid", s->subid);
        tn_stanza_set_attr(e, "subscription", ps_substate_name(s->state));
        tn_stanza_set_attr(e, "deliver", s->deliver ? "1" : "0");
        char *xml = tn_stanza_to_string(e, NULL);
        put(n, key, xml);
        tn_free(xml);
        tn_stanza_unref(e);
    }
    tn_free(key);
}

void ps_store_item(ps_node_t *n, ps_item_t *it, int remove)
{
    char *key = ps_key('i', n, it->id);
    if (remove) {
        del(n, key);
    } else {
        tn_stanza_t *c = tn_stanza_copy(it->item);
        char seq[24];
        snprintf(seq, sizeof seq, "%lld", it->seq);
        tn_stanza_set_attr(c, "seq", seq);
        tn_stanza_set_attr(c, "publisher", it->publisher);
        char *xml = tn_stanza_to_string(c, NULL);
        it->bytes = strlen(xml);
        if (n->cfg.persist)
            put(n, key, xml);
        tn_free(xml);
        tn_stanza_unref(c);
    }
    tn_free(key);
}

void ps_store_node_del(ps_node_t *n)
{
    for (size_t i = 0; i < n->nitems; i++)
        ps_store_item(n, n->items[i], 1);
    for (size_t i = 0; i < n->nsubs; i++)
        ps_store_sub(n, n->subs[i], 1);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
         e = tn_hmap_next(&n->affs, e, &it))
        ps_store_aff(n, e->key, PS_AFF_NONE);
    char *key = tn_sprintf("n:%s", n->name);
    del(n, key);
    tn_free(key);
}

/* ---- services ------------------------------------------------------------ */

ps_service_t *ps_service_new(tn_server_t *srv, const char *jid,
                             const char *host, const char *user, int pep,
                             int max_items)
{
    ps_service_t *svc = TN_NEW(ps_service_t);
    svc->srv = srv;
    svc->jid = tn_strdup(jid);
    svc->host = tn_strdup(host);
    svc->user = tn_strdup(user);
    svc->pep = pep;
    svc->max_items = max_items;
    tn_hmap_init(&svc->nodes);
    return svc;
}

void ps_service_free(ps_service_t *svc)
{
    if (!svc)
        return;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&svc->nodes, &it); e;
         e = tn_hmap_next(&svc->nodes, e, &it))
        ps_node_free(e->value);
    tn_hmap_release(&svc->nodes);
    tn_free(svc->jid);
    tn_free(svc->host);
    tn_free(svc->user);
    tn_free(svc);
}

/* ---- loading ------------------------------------------------------------- */

typedef struct ps_load {
    ps_service_t *svc;
    ps_loaded_cb done;
    void *ud;
} ps_load_t;

/* Splits "<len>:<node><rest>" (after the kind and ':'); NULL when the
 * node is unknown. */
static ps_node_t *key_node(ps_service_t *svc, const char *k, const char **rest)
{
    char *end;
    unsigned long len = strtoul(k, &end, 10);
    if (end == k || *end != ':' || strlen(end + 1) < len)
        return NULL;
    char *name = tn_strndup(end + 1, len);
    ps_node_t *n = tn_hmap_get(&svc->nodes, name);
    tn_free(name);
    *rest = end + 1 + len;
    return n;
}

static int item_cmp(const void *a, const void *b)
{
    const ps_item_t *x = *(ps_item_t *const *)a, *y = *(ps_item_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void load_entry(ps_service_t *svc, const tn_store_item_t *e)
{
    const char *rest;
    ps_node_t *n = key_node(svc, e->key + 2, &rest);
    if (!n || !*rest)
        return;
    if (e->key[0] == 'a') {
        ps_aff_t a;
        if (ps_aff_parse(e->value, &a) == 0)
            ps_node_set_aff(n, rest, a);
        return;
    }
    tn_stanza_t *x = tn_xml_element_parse(e->value, e->len, PS_NS);
    if (!x)
        return;
    if (e->key[0] == 's' && strcmp(x->name, "subscription") == 0) {
        const char *jid = tn_stanza_attr(x, "jid");
        const char *state = tn_stanza_attr(x, "subscription");
        ps_substate_t st = PS_SUB_SUBSCRIBED;
        if (state && strcmp(state, "pending") == 0)
            st = PS_SUB_PENDING;
        if (jid) {
            ps_sub_t *s = ps_node_sub_add(n, jid, st);
            tn_free(s->subid);
            s->subid = tn_strdup(rest);
            const char *d = tn_stanza_attr(x, "deliver");
            s->deliver = !d || strcmp(d, "0") != 0;
        }
    } else if (e->key[0] == 'i' && strcmp(x->name, "item") == 0) {
        const char *seq = tn_stanza_attr(x, "seq");
        ps_item_t *it = TN_NEW(ps_item_t);
        it->id = tn_strdup(rest);
        it->publisher = tn_strdup(tn_stanza_attr(x, "publisher")
                                      ? tn_stanza_attr(x, "publisher")
                                      : "");
        it->seq = seq ? strtoll(seq, NULL, 10) : 0;
        it->bytes = e->len;
        tn_stanza_set_attr(x, "seq", NULL);
        tn_stanza_set_attr(x, "publisher", NULL);
        it->item = tn_stanza_ref(x);
        n->items = tn_realloc(n->items, (n->nitems + 1) * sizeof *n->items);
        n->items[n->nitems++] = it;
        if (it->seq > n->seq)
            n->seq = it->seq;
    }
    tn_stanza_unref(x);
}

static void ps_loaded(void *ud, int status, const tn_store_item_t *items,
                      size_t n)
{
    ps_load_t *l = ud;
    ps_service_t *svc = l->svc;
    /* Nodes first, then what belongs to them. */
    for (size_t i = 0; status == 0 && i < n; i++) {
        if (strncmp(items[i].key, "n:", 2) != 0)
            continue;
        const char *bad = NULL;
        tn_stanza_t *x =
            tn_xml_element_parse(items[i].value, items[i].len, PS_NS);
        ps_node_t *node = ps_node_new(svc, items[i].key + 2);
        if (!x || ps_config_apply(svc, &node->cfg, x, &bad) < 0)
            tn_log(TN_LOG_WARN,
                   "pubsub: stored node %s of %s: bad "
                   "configuration (%s), defaults used",
                   node->name, svc->jid, bad ? bad : "unreadable");
        tn_stanza_unref(x);
    }
    for (size_t i = 0; status == 0 && i < n; i++)
        if (items[i].key[0] != 'n' && items[i].key[1] == ':')
            load_entry(svc, &items[i]);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&svc->nodes, &it); e;
         e = tn_hmap_next(&svc->nodes, e, &it)) {
        ps_node_t *node = e->value;
        if (node->nitems > 1)
            qsort(node->items, node->nitems, sizeof *node->items, item_cmp);
        ps_node_trim(node, NULL);
    }
    l->done(l->ud, svc, status);
    tn_free(l);
}

int ps_store_load(ps_service_t *svc, ps_loaded_cb done, void *ud)
{
    ps_load_t *l = TN_NEW(ps_load_t);
    l->svc = svc;
    l->done = done;
    l->ud = ud;
    int rc = tn_store_map_all(svc->srv->store, svc->host, svc->user,
                              PS_STORE_MAP, ps_loaded, l);
    if (rc < 0)
        tn_free(l);
    return rc;
}
