/* pep_caps.c -- XEP-0163 4 filtered notifications: which resources want
 * which PEP nodes, learnt from their XEP-0115 capabilities.
 *
 * For every account we keep the resources whose available presence it
 * saw with a sha-1 caps hash (its own resources' broadcasts and its
 * contacts' presence arriving for it) and their hash. A hash seen for the
 * first time is resolved by asking that resource for disco#info of
 * "node#ver" (from the account's bare JID, so the answer comes back
 * through the router to iqreq.c); the answer is accepted only when it
 * hashes to ver (XEP-0115 5.4), and its "<node>+notify" features are
 * cached by ver for everybody. Resources that sent the same hash while
 * the query was out wait for it. Once a resource's features are known,
 * mod_pep sends it the last item of the nodes it wants.
 *
 * Bounds: the cache holds at most PEP_CAPS_MAX hashes (then it starts
 * over); a query unanswered after 10 s is forgotten (the next presence
 * with that hash asks again); at most PEP_CAPS_MAX_PENDING queries are
 * out at once (a hash seen beyond that is not asked for). Unavailable presence,
 * a presence without caps and the end of an own session remove a resource. */
#include <string.h>

#include "core/iqreq.h"
#include "mod/pep.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/caps.h"

#define PEP_CAPS_MAX 10000
#define PEP_CAPS_TIMEOUT_MS 10000
#define PEP_CAPS_MAX_PENDING 1000

typedef struct caps_entry {
    char **notify; /* owned node names that have +notify */
    size_t n;
} caps_entry_t;

typedef struct caps_wait {
    char **owners, **fulls; /* owned pairs waiting for the answer */
    size_t n;
} caps_wait_t;

static tn_server_t *caps_srv;
static tn_hmap_t caps_cache;   /* ver -> caps_entry_t* */
static tn_hmap_t caps_pending; /* ver -> caps_wait_t* */
static tn_hmap_t interest;     /* owner bare JID -> tn_hmap_t* of full JID ->
                                  ver (owned) */

static void entry_free(caps_entry_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        tn_free(e->notify[i]);
    tn_free(e->notify);
    tn_free(e);
}

static void wait_free(caps_wait_t *w)
{
    for (size_t i = 0; i < w->n; i++) {
        tn_free(w->owners[i]);
        tn_free(w->fulls[i]);
    }
    tn_free(w->owners);
    tn_free(w->fulls);
    tn_free(w);
}

static void cache_clear(void)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&caps_cache, &it); e;
         e = tn_hmap_next(&caps_cache, e, &it))
        entry_free(e->value);
    tn_hmap_release(&caps_cache);
    tn_hmap_init(&caps_cache);
}

void pep_caps_init(tn_server_t *srv)
{
    caps_srv = srv;
    tn_hmap_init(&caps_cache);
    tn_hmap_init(&caps_pending);
    tn_hmap_init(&interest);
}

void pep_caps_release(void)
{
    cache_clear();
    tn_hmap_release(&caps_cache);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&caps_pending, &it); e;
         e = tn_hmap_next(&caps_pending, e, &it))
        wait_free(e->value);
    tn_hmap_release(&caps_pending);
    for (tn_hmap_entry_t *e = tn_hmap_first(&interest, &it); e;
         e = tn_hmap_next(&interest, e, &it)) {
        tn_hmap_release_free(e->value);
        tn_free(e->value);
    }
    tn_hmap_release(&interest);
    caps_srv = NULL;
}

static const char *recorded(const char *owner, const char *full)
{
    tn_hmap_t *m = tn_hmap_get(&interest, owner);
    return m ? tn_hmap_get(m, full) : NULL;
}

static void caps_answer(void *ud, tn_stanza_t *reply)
{
    char *ver = ud;
    caps_wait_t *w = tn_hmap_del(&caps_pending, ver);
    const char *type = reply ? tn_stanza_attr(reply, "type") : NULL;
    tn_stanza_t *q = reply && type && strcmp(type, "result") == 0
                         ? tn_stanza_child(reply, "query", TN_NS_DISCO_INFO)
                         : NULL;
    char *got = q ? tn_caps_ver(q, NULL) : NULL;
    int ok = got && strcmp(got, ver) == 0;
    tn_free(got);
    if (ok && caps_srv) {
        caps_entry_t *e = TN_NEW(caps_entry_t);
        static const char suffix[] = "+notify";
        size_t sl = sizeof suffix - 1;
        for (size_t i = 0; i < q->nkids; i++) {
            tn_stanza_t *f = q->kids[i];
            const char *var = f->name && strcmp(f->name, "feature") == 0
                                  ? tn_stanza_attr(f, "var")
                                  : NULL;
            size_t len = var ? strlen(var) : 0;
            if (len <= sl || strcmp(var + len - sl, suffix) != 0)
                continue;
            e->notify = tn_realloc(e->notify, (e->n + 1) * sizeof *e->notify);
            e->notify[e->n++] = tn_strndup(var, len - sl);
        }
        if (caps_cache.count >= PEP_CAPS_MAX)
            cache_clear();
        tn_hmap_put(&caps_cache, ver, e);
        tn_log(TN_LOG_DEBUG, "pep: caps %s: %zu +notify feature(s)", ver, e->n);
    } else if (reply) {
        tn_log(TN_LOG_INFO, "pep: caps %s: %s", ver,
               q ? "the features do not hash to it, ignored"
                 : "disco#info failed");
    }
    for (size_t i = 0; w && ok && caps_srv && i < w->n; i++) {
        const char *now = recorded(w->owners[i], w->fulls[i]);
        if (now && strcmp(now, ver) == 0)
            pep_send_last_items(w->owners[i], w->fulls[i]);
    }
    if (w)
        wait_free(w);
    tn_free(ver);
}

static void forget(const char *owner, const char *full)
{
    tn_hmap_t *m = tn_hmap_get(&interest, owner);
    if (!m)
        return;
    tn_free(tn_hmap_del(m, full));
    if (!m->count) {
        tn_hmap_del(&interest, owner);
        tn_hmap_release(m);
        tn_free(m);
    }
}

void pep_caps_presence(const char *owner, const char *full, const char *node,
                       const char *ver, int gone)
{
    if (gone || !ver || !node) {
        forget(owner, full);
        return;
    }
    const char *old = recorded(owner, full);
    if (old && strcmp(old, ver) == 0)
        return; /* a presence update: nothing new to send */
    tn_hmap_t *m = tn_hmap_get(&interest, owner);
    if (!m) {
        m = TN_NEW(tn_hmap_t);
        tn_hmap_init(m);
        tn_hmap_put(&interest, owner, m);
    }
    tn_free(tn_hmap_put(m, full, tn_strdup(ver)));
    if (tn_hmap_get(&caps_cache, ver)) {
        pep_send_last_items(owner, full);
        return;
    }
    caps_wait_t *w = tn_hmap_get(&caps_pending, ver);
    int ask = !w;
    if (!w && caps_pending.count >= PEP_CAPS_MAX_PENDING) {
        /* A flood of new hashes: this one stays unresolved (no
         * notifications by caps) until its next presence. */
        tn_log(TN_LOG_INFO,
               "pep: %zu caps queries out; %s's hash %s not "
               "asked",
               caps_pending.count, full, ver);
        forget(owner, full); /* so that its next presence asks again */
        return;
    }
    if (!w) {
        w = TN_NEW(caps_wait_t);
        tn_hmap_put(&caps_pending, ver, w);
    }
    w->owners = tn_realloc(w->owners, (w->n + 1) * sizeof *w->owners);
    w->fulls = tn_realloc(w->fulls, (w->n + 1) * sizeof *w->fulls);
    w->owners[w->n] = tn_strdup(owner);
    w->fulls[w->n++] = tn_strdup(full);
    if (!ask)
        return;
    tn_stanza_t *iq = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(iq, "type", "get");
    tn_stanza_set_attr(iq, "from", owner);
    tn_stanza_set_attr(iq, "to", full);
    tn_stanza_t *q = tn_stanza_add_child(iq, "query", TN_NS_DISCO_INFO);
    char *nv = tn_sprintf("%s#%s", node, ver);
    tn_stanza_set_attr(q, "node", nv);
    tn_free(nv);
    tn_iq_request(caps_srv, iq, PEP_CAPS_TIMEOUT_MS, caps_answer,
                  tn_strdup(ver));
    tn_stanza_unref(iq);
}

static int entry_has(const caps_entry_t *e, const char *node)
{
    for (size_t i = 0; e && i < e->n; i++)
        if (strcmp(e->notify[i], node) == 0)
            return 1;
    return 0;
}

int pep_caps_wants(const char *owner, const char *full, const char *node)
{
    const char *ver = recorded(owner, full);
    return ver && entry_has(tn_hmap_get(&caps_cache, ver), node);
}

void pep_caps_interested(const char *owner, const char *node,
                         pep_interested_cb cb, void *ud)
{
    tn_hmap_t *m = tn_hmap_get(&interest, owner);
    if (!m)
        return;
    /* Collect first: the callbacks route stanzas. */
    char **v = tn_calloc(m->count + 1, sizeof *v);
    size_t n = 0, it;
    for (tn_hmap_entry_t *e = tn_hmap_first(m, &it); e;
         e = tn_hmap_next(m, e, &it))
        if (entry_has(tn_hmap_get(&caps_cache, e->value), node))
            v[n++] = tn_strdup(e->key);
    for (size_t i = 0; i < n; i++) {
        cb(ud, v[i]);
        tn_free(v[i]);
    }
    tn_free(v);
}
