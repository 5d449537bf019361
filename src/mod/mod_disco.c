/* mod_disco.c -- XEP-0030 Service Discovery for the server (host JID) and
 * for accounts (bare JIDs, answered on the user's behalf). The features
 * and identities are generated from what the loaded modules declared;
 * nothing here lists another module's namespace. disco#items lists the
 * hosted services (none yet: MUC and PubSub will add theirs) and nothing
 * for accounts. Node queries (XEP-0030 3.2) get item-not-found. */
#include "core/module.h"
#include "xml/ns.h"
#include "xmpp/error.h"

static tn_verdict_t disco_reply(tn_event_t *ev, const char *ns, int target)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", ns);
    if (tn_stanza_attr(q, "node")) {
        tn_reply_error(ev, TN_ERR_CANCEL, "item-not-found");
        return TN_HANDLED;
    }
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_t *out = tn_stanza_add_child(r, "query", ns);
    if (target == TN_TO_BARE) {
        tn_stanza_t *id = tn_stanza_add_child(out, "identity", NULL);
        tn_stanza_set_attr(id, "category", "account");
        tn_stanza_set_attr(id, "type", "registered");
    }
    if (target)
        tn_modules_disco_info(ev->srv, target, out);
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
    return disco_reply(ev, TN_NS_DISCO_ITEMS, 0);
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
