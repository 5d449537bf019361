/* mod_version.c -- XEP-0092 Software Version of the server itself. The OS
 * is not disclosed (the XEP makes it optional; it helps attackers). */
#include <string.h>

#include "core/module.h"
#include "core/version.h"
#include "xml/ns.h"

static tn_verdict_t version_on_iq(tn_event_t *ev)
{
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(r, "query", TN_NS_VERSION);
    tn_stanza_add_text(tn_stanza_add_child(q, "name", NULL), "tern", 4);
    tn_stanza_add_text(tn_stanza_add_child(q, "version", NULL), TN_VERSION,
                       strlen(TN_VERSION));
    tn_reply(ev, r);
    tn_stanza_unref(r);
    return TN_HANDLED;
}

static int version_load(tn_module_t *m)
{
    tn_module_feature(m, TN_NS_VERSION);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST, TN_NS_VERSION, "query",
                 version_on_iq, TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_version = {
    .name = "version",
    .xeps = "XEP-0092 1.1",
    .load = version_load,
};
