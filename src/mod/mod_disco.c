/* mod_disco.c -- XEP-0030 Service Discovery for the server (host JID) and
 * for accounts (bare JIDs, answered on the user's behalf). The features,
 * identities and XEP-0128 extended forms are generated from what the
 * loaded modules declared; nothing here lists another module's namespace.
 * disco#items of a host lists the services with domains of their own
 * (tn_router_service: the MUC service) and nothing for accounts. Node queries (XEP-0030 3.2) get
 * item-not-found, except the server's own XEP-0115 node "TN_CAPS_NODE#ver"
 * with the current ver, which names the same info (XEP-0115 6.2). */
#include <string.h>

#include "core/module.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/caps.h"
#include "xmpp/error.h"

/* 1 when node is TN_CAPS_NODE "#" and the ver of the info in out. */
static int disco_is_caps_node(const char *node, const tn_stanza_t *out)
{
    size_t n = strlen(TN_CAPS_NODE);
    if (strncmp(node, TN_CAPS_NODE, n) != 0 || node[n] != '#')
        return 0;
    char *ver = tn_caps_ver(out, NULL);
    int ok = ver && strcmp(node + n + 1, ver) == 0;
    tn_free(ver);
    return ok;
}

static tn_verdict_t disco_reply(tn_event_t *ev, const char *ns, int target)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", ns);
    const char *node = tn_stanza_attr(q, "node");
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_t *out = tn_stanza_add_child(r, "query", ns);
    if (target == TN_TO_BARE) {
        tn_stanza_t *id = tn_stanza_add_child(out, "identity", NULL);
        tn_stanza_set_attr(id, "category", "account");
        tn_stanza_set_attr(id, "type", "registered");
    }
    if (target)
        tn_modules_disco_info(ev->srv, target, out);
    if (node) {
        if (target != TN_TO_HOST || !disco_is_caps_node(node, out)) {
            tn_stanza_unref(r);
            tn_reply_error(ev, TN_ERR_CANCEL, "item-not-found");
            return TN_HANDLED;
        }
        tn_stanza_set_attr(out, "node", node);
    }
    tn_reply(ev, r);
    tn_stanza_unref(r);
    return TN_HANDLED;
}

static tn_verdict_t disco_info_host(tn_event_t *ev)
{
    return disco_reply(ev, TN_NS_DISCO_INFO, TN_TO_HOST);
}

static tn_verdict_t disco_info_bare(tn_event_t *ev)
{
    return disco_reply(ev, TN_NS_DISCO_INFO, TN_TO_BARE);
}


static tn_verdict_t disco_items(tn_event_t *ev)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", TN_NS_DISCO_ITEMS);
    if (ev->to->node || tn_stanza_attr(q, "node"))
        return disco_reply(ev, TN_NS_DISCO_ITEMS, 0);
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_t *out = tn_stanza_add_child(r, "query", TN_NS_DISCO_ITEMS);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&ev->srv->services, &it); e;
         e = tn_hmap_next(&ev->srv->services, e, &it))
        tn_stanza_set_attr(tn_stanza_add_child(out, "item", NULL), "jid",
                           e->key);
    tn_reply(ev, r);
    tn_stanza_unref(r);
    return TN_HANDLED;
}

static int disco_load(tn_module_t *m)
{
    tn_module_identity(m, "server", "im", "tern");
    tn_module_feature(m, TN_NS_DISCO_INFO);
    tn_module_feature(m, TN_NS_DISCO_ITEMS);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST, TN_NS_DISCO_INFO, "query",
                 disco_info_host, TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET, TN_TO_BARE, TN_NS_DISCO_INFO, "query",
                 disco_info_bare, TN_PRIO_DEFAULT);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST | TN_TO_BARE, TN_NS_DISCO_ITEMS,
                 "query", disco_items, TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_disco = {
    .name = "disco",
    .xeps = "XEP-0030 2.5rc3",
    .load = disco_load,
};
