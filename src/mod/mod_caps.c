/* mod_caps.c -- XEP-0115 Entity Capabilities of the server itself: the
 * <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node=... ver=.../>
 * stream feature offered after authentication (XEP-0115 6.3), and the caps
 * feature in disco#info. ver is hashed (xmpp/caps.c) over exactly the
 * disco#info mod_disco returns for the host (tn_modules_disco_info), so
 * the two always agree; mod_disco also answers the node#ver query
 * (XEP-0115 6.2). Caps in presence belong to clients, not to us. */
#include "core/module.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/caps.h"

/* The server's disco#info is fixed once the modules are loaded, so its
 * hash is computed at the first stream and kept (it was 2% of a login). */
static char *caps_ver;

static tn_verdict_t caps_on_features(tn_event_t *ev)
{
    int err = 0;
    if (!caps_ver) {
        tn_stanza_t *q = tn_stanza_new("query", TN_NS_DISCO_INFO);
        tn_modules_disco_info(ev->srv, TN_TO_HOST, q);
        caps_ver = tn_caps_ver(q, &err);
        tn_stanza_unref(q);
    }
    const char *ver = caps_ver;
    if (!ver) {
        /* Two modules declared the same identity: our bug, not the
         * client's; offer no caps rather than a wrong hash. */
        tn_log(TN_LOG_WARN, "caps: own disco#info is ill-formed (%s)",
               tn_strerror(err));
        return TN_PASS;
    }
    tn_stanza_t *c = tn_stanza_add_child(ev->stanza, "c", TN_NS_CAPS);
    tn_stanza_set_attr(c, "hash", "sha-1");
    tn_stanza_set_attr(c, "node", TN_CAPS_NODE);
    tn_stanza_set_attr(c, "ver", ver);
    return TN_PASS;
}

static int caps_load(tn_module_t *m)
{
    tn_module_feature(m, TN_NS_CAPS);
    tn_module_hook(m, TN_HOOK_FEATURES, caps_on_features, TN_PRIO_DEFAULT);
    return 0;
}

static void caps_unload(tn_module_t *m)
{
    (void)m;
    tn_free(caps_ver);
    caps_ver = NULL;
}

const tn_module_def_t tn_mod_caps = {
    .name = "caps",
    .xeps = "XEP-0115 1.6.0",
    .load = caps_load,
    .unload = caps_unload,
};
