/* mod_ping.c -- XEP-0199 XMPP Ping: answers pings sent to this host or to
 * a local bare JID. Server-initiated keepalives belong to stream
 * management, later. */
#include "core/module.h"
#include "xml/ns.h"

static tn_verdict_t ping_on_iq(tn_event_t *ev)
{
    tn_reply_result(ev); /* empty <iq type='result'/> */
    return TN_HANDLED;
}

static int ping_load(tn_module_t *m)
{
    tn_module_feature(m, TN_NS_PING);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST | TN_TO_BARE, TN_NS_PING, "ping",
                 ping_on_iq, TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_ping = {
    .name = "ping",
    .xeps = "XEP-0199 2.0.1",
    .load = ping_load,
};
