/* mod_pubsub.c -- the publish-subscribe service (XEP-0060) on a domain of
 * its own (`pubsub: {host: ...}`, default pubsub.<first host>), listed in
 * the server's disco#items. Stanzas to the domain come here from the
 * router (tn_router_service); the engine in pubsub_*.c does the work.
 * This file answers the service's own disco#info and #items (the nodes)
 * and ping, and passes owners' authorization answers (messages) on.
 *
 * Local users (accounts of this server's hosts) may create nodes. The
 * service is read from the store at start; stanzas arriving before that
 * finished wait, in order.
 *
 * Options: modules: {pubsub: {max_items: 1000, max_nodes_per_user: 100}}
 * -- the bound of pubsub#max_items ('max' means it), and how many nodes
 * one user may own (0: no bound; then not-allowed). */
#include <string.h>

#include "core/router.h"
#include "mod/pubsub.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"

typedef struct pubsub_mod {
    ps_service_t *svc;
    int loaded;
    tn_stanza_t **waiting; /* owned refs, before the store answered */
    size_t nwaiting;
} pubsub_mod_t;

static pubsub_mod_t *pubsub;

static void svc_disco_info(ps_service_t *svc, tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_INFO);
    tn_stanza_t *id = tn_stanza_add_child(q, "identity", NULL);
    tn_stanza_set_attr(id, "category", "pubsub");
    tn_stanza_set_attr(id, "type", "service");
    tn_stanza_set_attr(id, "name", "Publish-Subscribe");
    static const char *const features[] = {TN_NS_DISCO_INFO, TN_NS_DISCO_ITEMS,
                                           TN_NS_PING};
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var",
                           features[i]);
    ps_disco_features(svc, q);
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

/* XEP-0060 5.2: the nodes. */
static void svc_disco_items(ps_service_t *svc, tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_ITEMS);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&svc->nodes, &it); e;
         e = tn_hmap_next(&svc->nodes, e, &it)) {
        ps_node_t *n = e->value;
        tn_stanza_t *item = tn_stanza_add_child(q, "item", NULL);
        tn_stanza_set_attr(item, "jid", svc->jid);
        tn_stanza_set_attr(item, "node", n->name);
        if (n->cfg.title)
            tn_stanza_set_attr(item, "name", n->cfg.title);
    }
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

static void pubsub_stanza(ps_service_t *svc, tn_stanza_t *st,
                          const tn_jid_t *from, const tn_jid_t *to)
{
    tn_event_t ev = {svc->srv, st, from, to, NULL};
    const char *type = tn_stanza_attr(st, "type");
    if (strcmp(st->name, "message") == 0) {
        if (!type || strcmp(type, "error") != 0)
            ps_handle_auth_message(svc, st, from);
        return;
    }
    if (strcmp(st->name, "iq") != 0)
        return; /* presence: the service keeps none */
    if (!type)
        return tn_reply_error(&ev, TN_ERR_MODIFY, "bad-request");
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return;
    if (to->node || to->resource)
        return tn_reply_error(&ev, TN_ERR_CANCEL, "service-unavailable");
    int get = strcmp(type, "get") == 0;
    tn_stanza_t *info = tn_stanza_child(st, "query", TN_NS_DISCO_INFO);
    tn_stanza_t *items = tn_stanza_child(st, "query", TN_NS_DISCO_ITEMS);
    if (get && info && !tn_stanza_attr(info, "node"))
        return svc_disco_info(svc, &ev);
    if (get && items && !tn_stanza_attr(items, "node"))
        return svc_disco_items(svc, &ev);
    if (get && tn_stanza_child(st, "ping", TN_NS_PING))
        return tn_reply_result(&ev);
    if (info || items || tn_stanza_child(st, "pubsub", PS_NS) ||
        tn_stanza_child(st, "pubsub", PS_NS_OWNER))
        return ps_handle_iq(ps_req_new(svc->srv, svc, st, from));
    tn_reply_error(&ev, TN_ERR_CANCEL, "service-unavailable");
}

static void pubsub_route(void *ud, tn_stanza_t *st, const tn_jid_t *from,
                         const tn_jid_t *to, tn_sess_t *sess)
{
    pubsub_mod_t *pm = ud;
    (void)sess;
    if (!from || !from->full)
        return;
    if (!pm->loaded) {
        pm->waiting =
            tn_realloc(pm->waiting, (pm->nwaiting + 1) * sizeof *pm->waiting);
        pm->waiting[pm->nwaiting++] = tn_stanza_ref(st);
        return;
    }
    pubsub_stanza(pm->svc, st, from, to);
}

static void pubsub_loaded(void *ud, ps_service_t *svc, int status)
{
    pubsub_mod_t *pm = ud;
    if (status < 0)
        tn_log(TN_LOG_ERROR, "pubsub: cannot read %s from the store: %s",
               svc->jid, tn_strerror(status));
    else
        tn_log(TN_LOG_INFO, "pubsub: service %s, %zu node(s)", svc->jid,
               svc->nodes.count);
    pm->loaded = 1;
    /* Replay what waited; the router parsed the addresses once already. */
    for (size_t i = 0; i < pm->nwaiting; i++) {
        tn_stanza_t *st = pm->waiting[i];
        tn_jid_t from, to;
        const char *f = tn_stanza_attr(st, "from");
        const char *t = tn_stanza_attr(st, "to");
        if (f && t && tn_jid_parse(f, &from) == 0) {
            if (tn_jid_parse(t, &to) == 0) {
                pubsub_stanza(svc, st, &from, &to);
                tn_jid_release(&to);
            }
            tn_jid_release(&from);
        }
        tn_stanza_unref(st);
    }
    tn_free(pm->waiting);
    pm->waiting = NULL;
    pm->nwaiting = 0;
}

static int pubsub_load(tn_module_t *m)
{
    tn_server_t *srv = tn_module_server(m);
    long long max_items, max_nodes;
    if (tn_module_opt_int(m, "max_items", 1000, 1, 100000, &max_items) < 0 ||
        tn_module_opt_int(m, "max_nodes_per_user", 100, 0, 1000000,
                          &max_nodes) < 0)
        return TN_EINVAL;
    char *host = srv->cfg->pubsub_host
                     ? tn_strdup(srv->cfg->pubsub_host)
                     : tn_sprintf("pubsub.%s", srv->cfg->hosts[0]);
    pubsub_mod_t *pm = TN_NEW(pubsub_mod_t);
    pm->svc =
        ps_service_new(srv, host, host, PS_SERVICE_USER, 0, (int)max_items);
    pm->svc->max_nodes = (int)max_nodes;
    tn_free(host);
    pubsub = pm;
    tn_router_service(srv, pm->svc->jid, pubsub_route, pm);
    if (!srv->store || ps_store_load(pm->svc, pubsub_loaded, pm) < 0)
        pm->loaded = 1;
    return 0;
}

static void pubsub_unload(tn_module_t *m)
{
    (void)m;
    pubsub_mod_t *pm = pubsub;
    if (!pm)
        return;
    tn_router_service(pm->svc->srv, pm->svc->jid, NULL, NULL);
    for (size_t i = 0; i < pm->nwaiting; i++)
        tn_stanza_unref(pm->waiting[i]);
    tn_free(pm->waiting);
    ps_service_free(pm->svc);
    tn_free(pm);
    pubsub = NULL;
}

const tn_module_def_t tn_mod_pubsub = {
    .name = "pubsub",
    .xeps = "XEP-0060 1.26.0, XEP-0059 (items)",
    .load = pubsub_load,
    .unload = pubsub_unload,
};
