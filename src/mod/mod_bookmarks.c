/* mod_bookmarks.c -- bookmarks kept in step across their three homes:
 * XEP-0402 (PEP node urn:xmpp:bookmarks:1, one item per room, the
 * source of truth), XEP-0048 in XEP-0049 private XML (storage:bookmarks)
 * and XEP-0048 over PEP (node storage:bookmarks, item "current"), as
 * XEP-0402 6 (#compat) and XEP-0411 ask.
 *
 *   - A private XML set of storage:bookmarks (mod_private still stores it)
 *     is converted: rooms new or changed are published to
 *     urn:xmpp:bookmarks:1, rooms gone are retracted (with
 *     notifications), and the whole <storage/> is published to the
 *     storage:bookmarks node (XEP-0411: its subscribers are notified).
 *   - A publish to storage:bookmarks over PEP is converted the same way
 *     and mirrored into private XML.
 *   - A change to urn:xmpp:bookmarks:1 by a client rewrites the private
 *     XML copy and the storage:bookmarks node from all its items.
 *   - At login, an account whose bookmarks exist only in private XML gets
 *     them copied to urn:xmpp:bookmarks:1 (XEP-0411 4).
 * Nodes the conversion creates are private to the account (whitelist,
 * XEP-0411 5 / XEP-0402 publish-options). Room URLs (<url/>) and
 * XEP-0402 <extensions/> have no counterpart and are not carried over. */
#include <string.h>

#include "core/router.h"
#include "mod/pep.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/form.h"

#define BM_NS "urn:xmpp:bookmarks:1"
#define BM_LEGACY "storage:bookmarks"
#define BM_PRIVATE_MAP "private"

static tn_server_t *bm_srv;
static void bm_run_done(void *ud, const char *failed)
{
    char *owner = ud;
    if (failed)
        tn_log(TN_LOG_WARN, "bookmarks: converting for %s: %s", owner, failed);
    tn_free(owner);
}

/* <iq type=set from=owner to=owner><pubsub>[what]</pubsub></iq>; returns
 * the <pubsub/>. */
static tn_stanza_t *bm_iq(const char *owner, tn_stanza_t **ps)
{
    tn_stanza_t *iq = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(iq, "type", "set");
    tn_stanza_set_attr(iq, "from", owner);
    tn_stanza_set_attr(iq, "to", owner);
    *ps = tn_stanza_add_child(iq, "pubsub", PS_NS);
    return iq;
}

static void bm_private_options(tn_stanza_t *ps, int max)
{
    tn_stanza_t *po = tn_stanza_add_child(ps, "publish-options", NULL);
    tn_stanza_t *x = tn_form_new("submit", PS_FORM_PUBOPTS);
    tn_form_field(x, "pubsub#persist_items", NULL, NULL, "true");
    tn_form_field(x, "pubsub#access_model", NULL, NULL, "whitelist");
    if (max) {
        tn_form_field(x, "pubsub#max_items", NULL, NULL, "max");
        tn_form_field(x, "pubsub#send_last_published_item", NULL, NULL,
                      "never");
    }
    tn_stanza_add_copy(po, x);
    tn_stanza_unref(x);
}

static void bm_run(const char *owner, tn_stanza_t *iq)
{
    pep_run(owner, iq, bm_run_done, tn_strdup(owner));
    tn_stanza_unref(iq);
}

/* XEP-0048 <conference/> -> XEP-0402 payload (caller owns), or NULL. */
static tn_stanza_t *bm_to_v2(const tn_stanza_t *c)
{
    tn_stanza_t *b = tn_stanza_new("conference", BM_NS);
    const char *name = tn_stanza_attr(c, "name");
    const char *aj = tn_stanza_attr(c, "autojoin");
    if (name)
        tn_stanza_set_attr(b, "name", name);
    if (aj && tn_form_bool(aj) == 1)
        tn_stanza_set_attr(b, "autojoin", "true");
    static const char *const kids[] = {"nick", "password"};
    for (size_t i = 0; i < 2; i++) {
        char *t = tn_stanza_child_text(c, kids[i], NULL);
        if (t) {
            tn_stanza_add_text(tn_stanza_add_child(b, kids[i], NULL), t,
                               strlen(t));
            tn_free(t);
        }
    }
    return b;
}

/* XEP-0402 item -> XEP-0048 <conference/> appended to storage. */
static void bm_to_v1(tn_stanza_t *storage, const ps_item_t *it)
{
    tn_stanza_t *b = tn_stanza_child(it->item, "conference", BM_NS);
    if (!b)
        return;
    tn_stanza_t *c = tn_stanza_add_child(storage, "conference", NULL);
    tn_stanza_set_attr(c, "jid", it->id);
    const char *name = tn_stanza_attr(b, "name");
    if (name)
        tn_stanza_set_attr(c, "name", name);
    const char *aj = tn_stanza_attr(b, "autojoin");
    tn_stanza_set_attr(c, "autojoin",
                       aj && tn_form_bool(aj) == 1 ? "true" : "false");
    static const char *const kids[] = {"nick", "password"};
    for (size_t i = 0; i < 2; i++) {
        char *t = tn_stanza_child_text(b, kids[i], BM_NS);
        if (t) {
            tn_stanza_add_text(tn_stanza_add_child(c, kids[i], NULL), t,
                               strlen(t));
            tn_free(t);
        }
    }
}

static int same_xml(const tn_stanza_t *a, const tn_stanza_t *b)
{
    char *x = tn_stanza_to_string(a, NULL), *y = tn_stanza_to_string(b, NULL);
    int same = strcmp(x, y) == 0;
    tn_free(x);
    tn_free(y);
    return same;
}

/* The whole <storage/> as the item "current" of the XEP-0048 PEP node
 * (its subscribers are notified, XEP-0411 3). */
static void bm_publish_legacy(const char *owner, const tn_stanza_t *storage)
{
    tn_stanza_t *ps;
    tn_stanza_t *iq = bm_iq(owner, &ps);
    tn_stanza_t *pub = tn_stanza_add_child(ps, "publish", NULL);
    tn_stanza_set_attr(pub, "node", BM_LEGACY);
    tn_stanza_t *item = tn_stanza_add_child(pub, "item", NULL);
    tn_stanza_set_attr(item, "id", "current");
    tn_stanza_add_copy(item, storage);
    bm_private_options(ps, 0);
    bm_run(owner, iq);
}

typedef struct bm_sync {
    char *owner;
    tn_stanza_t *storage; /* owned ref: the XEP-0048 <storage/> */
    int legacy_pep;       /* also publish it to storage:bookmarks */
} bm_sync_t;

/* Makes urn:xmpp:bookmarks:1 hold exactly the rooms of storage. */
static void bm_sync_ready(void *ud, ps_service_t *svc)
{
    bm_sync_t *s = ud;
    if (!svc)
        goto out;
    ps_node_t *n = tn_hmap_get(&svc->nodes, BM_NS);
    tn_hmap_t want;
    tn_hmap_init(&want);
    for (size_t i = 0; i < s->storage->nkids; i++) {
        tn_stanza_t *c = s->storage->kids[i];
        const char *jid = c->name && strcmp(c->name, "conference") == 0
                              ? tn_stanza_attr(c, "jid")
                              : NULL;
        tn_jid_t j;
        if (!jid || tn_jid_parse(jid, &j) < 0)
            continue;
        tn_stanza_t *b = bm_to_v2(c);
        ps_item_t *old = n ? ps_node_item(n, j.bare) : NULL;
        tn_stanza_t *oldb =
            old ? tn_stanza_child(old->item, "conference", BM_NS) : NULL;
        if (!tn_hmap_get(&want, j.bare) && (!oldb || !same_xml(oldb, b))) {
            tn_stanza_t *ps;
            tn_stanza_t *iq = bm_iq(s->owner, &ps);
            tn_stanza_t *pub = tn_stanza_add_child(ps, "publish", NULL);
            tn_stanza_set_attr(pub, "node", BM_NS);
            tn_stanza_t *item = tn_stanza_add_child(pub, "item", NULL);
            tn_stanza_set_attr(item, "id", j.bare);
            tn_stanza_add_copy(item, b);
            bm_private_options(ps, 1);
            bm_run(s->owner, iq);
        }
        tn_hmap_put(&want, j.bare, (void *)1);
        tn_stanza_unref(b);
        tn_jid_release(&j);
    }
    /* Rooms no longer there are retracted, with notifications. */
    char **gone = NULL;
    size_t ngone = 0;
    for (size_t i = 0; n && i < n->nitems; i++)
        if (!tn_hmap_get(&want, n->items[i]->id)) {
            gone = tn_realloc(gone, (ngone + 1) * sizeof *gone);
            gone[ngone++] = tn_strdup(n->items[i]->id);
        }
    tn_hmap_release(&want);
    for (size_t i = 0; i < ngone; i++) {
        tn_stanza_t *ps;
        tn_stanza_t *iq = bm_iq(s->owner, &ps);
        tn_stanza_t *r = tn_stanza_add_child(ps, "retract", NULL);
        tn_stanza_set_attr(r, "node", BM_NS);
        tn_stanza_set_attr(r, "notify", "true");
        tn_stanza_set_attr(tn_stanza_add_child(r, "item", NULL), "id", gone[i]);
        bm_run(s->owner, iq);
        tn_free(gone[i]);
    }
    tn_free(gone);
    if (s->legacy_pep)
        bm_publish_legacy(s->owner, s->storage);
out:
    tn_stanza_unref(s->storage);
    tn_free(s->owner);
    tn_free(s);
}

static void bm_sync(const char *owner, const tn_stanza_t *storage,
                    int legacy_pep)
{
    bm_sync_t *s = TN_NEW(bm_sync_t);
    s->owner = tn_strdup(owner);
    s->storage = tn_stanza_copy(storage);
    s->legacy_pep = legacy_pep;
    pep_with(owner, bm_sync_ready, s);
}

static void bm_store_done(void *ud, int status)
{
    (void)ud;
    if (status < 0)
        tn_log(TN_LOG_ERROR, "bookmarks: private XML write failed: %s",
               tn_strerror(status));
}

/* Writes storage as the private XML of storage:bookmarks, in the form
 * mod_private keeps. */
static void bm_write_private(const char *owner, const tn_stanza_t *storage)
{
    tn_jid_t o;
    if (!bm_srv || tn_jid_parse(owner, &o) < 0)
        return;
    tn_stanza_t *q = tn_stanza_new("query", TN_NS_PRIVATE);
    tn_stanza_add_copy(q, storage);
    char *xml = tn_stanza_to_string(q, TN_NS_CLIENT);
    tn_store_map_put(bm_srv->store, o.domain, o.node, BM_PRIVATE_MAP, BM_LEGACY,
                     xml, strlen(xml), bm_store_done, NULL);
    tn_free(xml);
    tn_stanza_unref(q);
    tn_jid_release(&o);
}

/* The engine tells us of every PEP change. */
static void bm_changed(ps_node_t *n, const ps_item_t *it, const char *id,
                       int by_server)
{
    (void)id;
    const char *owner = n->svc->jid;
    if (by_server)
        return; /* a conversion */
    if (strcmp(n->name, BM_NS) == 0) {
        tn_stanza_t *storage = tn_stanza_new("storage", BM_LEGACY);
        ps_node_t *cur = tn_hmap_get(&n->svc->nodes, BM_NS);
        for (size_t i = 0; cur && i < cur->nitems; i++)
            bm_to_v1(storage, cur->items[i]);
        bm_write_private(owner, storage);
        bm_publish_legacy(owner, storage);
        tn_stanza_unref(storage);
    } else if (strcmp(n->name, BM_LEGACY) == 0 && it) {
        tn_stanza_t *storage = tn_stanza_child(it->item, "storage", BM_LEGACY);
        if (storage) {
            bm_write_private(owner, storage);
            bm_sync(owner, storage, 0);
        }
    }
}

/* A private XML set: storage:bookmarks in it is converted; mod_private
 * stores the set as usual. */
static tn_verdict_t bm_on_private(tn_event_t *ev)
{
    if (!ev->sess || strcmp(ev->from->bare, ev->to->bare) != 0)
        return TN_PASS;
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", TN_NS_PRIVATE);
    tn_stanza_t *storage = q ? tn_stanza_child(q, "storage", BM_LEGACY) : NULL;
    if (storage)
        bm_sync(ev->to->bare, storage, 1);
    return TN_PASS;
}

/* ---- first login after private XML only -----------------------------------
 */

static void bm_private_got(void *ud, int status, const tn_store_item_t *items,
                           size_t n)
{
    char *owner = ud;
    tn_stanza_t *q =
        status == 0 && n == 1
            ? tn_xml_element_parse(items[0].value, items[0].len, TN_NS_CLIENT)
            : NULL;
    tn_stanza_t *storage = q ? tn_stanza_child(q, "storage", BM_LEGACY) : NULL;
    if (storage && tn_stanza_nelements(storage)) {
        tn_log(TN_LOG_INFO,
               "bookmarks: %s: private XML bookmarks copied to "
               "PEP",
               owner);
        bm_sync(owner, storage, 1);
    }
    tn_stanza_unref(q);
    tn_free(owner);
}

static void bm_login_ready(void *ud, ps_service_t *svc)
{
    char *owner = ud;
    tn_jid_t o;
    if (svc && !tn_hmap_get(&svc->nodes, BM_NS) && bm_srv &&
        tn_jid_parse(owner, &o) == 0) {
        if (tn_store_map_get(bm_srv->store, o.domain, o.node, BM_PRIVATE_MAP,
                             BM_LEGACY, bm_private_got, owner) == 0)
            owner = NULL;
        tn_jid_release(&o);
    }
    tn_free(owner);
}

static tn_verdict_t bm_on_bound(tn_event_t *ev)
{
    pep_with(ev->sess->jid.bare, bm_login_ready, tn_strdup(ev->sess->jid.bare));
    return TN_PASS;
}

static int bm_load(tn_module_t *m)
{
    bm_srv = tn_module_server(m);
    ps_listen(bm_changed);
    tn_module_feature(m, "urn:xmpp:bookmarks:1#compat");
    tn_module_feature(m, "urn:xmpp:bookmarks-conversion:0");
    tn_module_iq(m, TN_IQ_SET, TN_TO_BARE, TN_NS_PRIVATE, "query",
                 bm_on_private, TN_PRIO_DEFAULT + 10);
    tn_module_hook(m, TN_HOOK_SESS_BOUND, bm_on_bound, TN_PRIO_DEFAULT);
    return 0;
}

static void bm_unload(tn_module_t *m)
{
    (void)m;
    bm_srv = NULL;
}

const tn_module_def_t tn_mod_bookmarks = {
    .name = "bookmarks",
    .xeps = "XEP-0402 1.1.4 (#compat), XEP-0411 1.1.0, XEP-0048",
    .load = bm_load,
    .unload = bm_unload,
};
