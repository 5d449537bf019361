/* mod_time.c -- XEP-0202 Entity Time of the server itself (an IQ get to the
 * host JID): the current UTC time and the server's offset from UTC, both
 * in XEP-0082 profiles (<tzo>+02:00</tzo>, <utc>2024-05-01T10:00:00Z</utc>).
 * The offset is the local time zone's at this instant (tm_gmtoff), so it
 * follows daylight saving time. Queries to users' full JIDs are routed to
 * their clients like any IQ; nothing here answers for accounts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/module.h"
#include "xml/ns.h"

static tn_verdict_t time_on_iq(tn_event_t *ev)
{
    time_t now = time(NULL);
    struct tm utc, local;
    gmtime_r(&now, &utc);
    localtime_r(&now, &local);
    char stamp[32], tzo[16];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
    long off = local.tm_gmtoff; /* seconds east of UTC */
    long a = labs(off) / 60;
    snprintf(tzo, sizeof tzo, "%c%02ld:%02ld", off < 0 ? '-' : '+',
             (a / 60) % 100, a % 60);
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_stanza_t *t = tn_stanza_add_child(r, "time", TN_NS_TIME);
    tn_stanza_add_text(tn_stanza_add_child(t, "tzo", NULL), tzo, strlen(tzo));
    tn_stanza_add_text(tn_stanza_add_child(t, "utc", NULL), stamp,
                       strlen(stamp));
    tn_reply(ev, r);
    tn_stanza_unref(r);
    return TN_HANDLED;
}

static int time_load(tn_module_t *m)
{
    tn_module_feature(m, TN_NS_TIME);
    tn_module_iq(m, TN_IQ_GET, TN_TO_HOST, TN_NS_TIME, "time", time_on_iq,
                 TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_time = {
    .name = "time",
    .xeps = "XEP-0202 2.0; XEP-0082 1.1",
    .load = time_load,
};
