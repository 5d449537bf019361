/* mod_private.c -- XEP-0049 Private XML Storage: an account keeps XML
 * fragments on the server, each filed under the namespace of its root
 * element (store map "private", key = that namespace, value = the
 * serialized elements of that namespace inside a jabber:iq:private
 * <query/>).
 *   - Only the account itself, with no 'to' or its own bare JID; anyone
 *     else gets forbidden (type auth; XEP-0049 prefers it to
 *     service-unavailable).
 *   - set: every child element is filed under its namespace, replacing
 *     what that namespace held; several elements of one namespace are
 *     kept together, in order (XEP-0049 2.3: "an IQ set or result MAY
 *     contain multiple elements qualified by the same namespace").
 *   - get: exactly one child element names the namespace; the result holds
 *     what is stored, or the element as asked for, emptied, when nothing
 *     is. More than one child is bad-request (a client MUST NOT ask for
 *     more than one namespace, XEP-0049 2.3).
 *   - No child element: not-acceptable (XEP-0049 2.3's MUST and its
 *     example; the "Bad Format" of its table has no RFC 6120 condition).
 *   - A child in jabber:client, jabber:server, jabber:iq:private (what an
 *     element without its own xmlns inherits), the stream namespace or
 *     no namespace: not-acceptable, and nothing of the set is stored.
 *     Other "reserved" namespaces (XEP-0049 2.3 makes refusing them
 *     optional) are accepted: clients do use them.
 *   - Limits (options): max_size bytes per namespace serialized (default
 *     65536) and max_namespaces per account (default 100); beyond either,
 *     not-acceptable with a <text/>. A set is checked for size before
 *     anything is written; the namespace count is checked per namespace
 *     by the store, so a set adding several namespaces near the limit may
 *     store some of them before failing.
 * PEP-based private storage (XEP-0223) is left to the PEP module. */
#include <string.h>

#include "core/module.h"
#include "core/router.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/error.h"

#define PRIVATE_MAP "private"

static long long private_max_size;
static long long private_max_ns;

static int private_is_reserved(const char *ns)
{
    static const char *const reserved[] = {
        TN_NS_CLIENT, TN_NS_SERVER, TN_NS_PRIVATE, TN_NS_STREAM, "",
    };
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(ns, reserved[i]) == 0)
            return 1;
    return 0;
}

static void private_error_text(tn_server_t *srv, const tn_stanza_t *st,
                               const char *type, const char *cond,
                               const char *text)
{
    tn_stanza_t *e = tn_error_reply(st, type, cond, text);
    if (e)
        tn_route(srv, e, NULL);
    tn_stanza_unref(e);
}

typedef struct private_op {
    tn_server_t *srv;
    tn_stanza_t *orig;  /* owned ref: for errors */
    tn_stanza_t *reply; /* owned: the result */
    tn_stanza_t *asked; /* borrowed from orig: the get's child */
    char *bare;         /* owned, for logs */
    size_t pending;     /* set: puts not yet answered */
    int status;         /* set: first failure, or 0 */
} private_op_t;

static private_op_t *private_op_new(tn_event_t *ev)
{
    private_op_t *o = TN_NEW(private_op_t);
    o->srv = ev->srv;
    o->orig = tn_stanza_ref(ev->stanza);
    o->reply = tn_iq_result_new(ev);
    o->bare = tn_strdup(ev->to->bare);
    return o;
}

static void private_op_free(private_op_t *o)
{
    tn_stanza_unref(o->orig);
    tn_stanza_unref(o->reply);
    tn_free(o->bare);
    tn_free(o);
}

/* ---- get --------------------------------------------------------------- */

static void private_got_cb(void *ud, int status, const tn_store_item_t *it,
                           size_t n)
{
    private_op_t *o = ud;
    if (status < 0 && status != TN_ENOTFOUND) {
        tn_log(TN_LOG_ERROR, "private: reading %s of %s failed: %s",
               o->asked->ns, o->bare, tn_strerror(status));
        tn_route_error(o->srv, o->orig, TN_ERR_WAIT, "internal-server-error");
        private_op_free(o);
        return;
    }
    tn_stanza_t *q = tn_stanza_add_child(o->reply, "query", TN_NS_PRIVATE);
    tn_stanza_t *w = NULL;
    if (status == 0 && n == 1) {
        w = tn_xml_element_parse(it[0].value, it[0].len, TN_NS_CLIENT);
        if (!w || tn_stanza_nelements(w) == 0) {
            tn_log(TN_LOG_WARN, "private: unreadable %s of %s ignored",
                   o->asked->ns, o->bare);
            tn_stanza_unref(w);
            w = NULL;
        }
    }
    if (w) {
        for (size_t i = 0; i < w->nkids; i++)
            if (w->kids[i]->name)
                tn_stanza_add_copy(q, w->kids[i]);
        tn_stanza_unref(w);
    } else {
        tn_stanza_add_child(q, o->asked->name, o->asked->ns);
    }
    tn_route(o->srv, o->reply, NULL);
    private_op_free(o);
}

static void private_get(tn_event_t *ev, tn_stanza_t *child)
{
    private_op_t *o = private_op_new(ev);
    o->asked = child;
    int rc = tn_store_map_get(ev->srv->store, ev->to->domain, ev->to->node,
                              PRIVATE_MAP, child->ns, private_got_cb, o);
    if (rc < 0)
        private_got_cb(o, rc, NULL, 0);
}

/* ---- set --------------------------------------------------------------- */

static void private_put_cb(void *ud, int status)
{
    private_op_t *o = ud;
    if (status < 0 && !o->status)
        o->status = status;
    if (--o->pending > 0)
        return;
    if (o->status == TN_ELIMIT) {
        private_error_text(o->srv, o->orig, TN_ERR_MODIFY, "not-acceptable",
                           "too many namespaces stored");
    } else if (o->status < 0) {
        tn_log(TN_LOG_ERROR, "private: storing for %s failed: %s", o->bare,
               tn_strerror(o->status));
        tn_route_error(o->srv, o->orig, TN_ERR_WAIT, "internal-server-error");
    } else {
        tn_route(o->srv, o->reply, NULL);
    }
    private_op_free(o);
}

static void private_set(tn_event_t *ev, tn_stanza_t *q, size_t nchild)
{
    /* One wrapper per namespace, in the order they first appear. */
    tn_stanza_t **groups = tn_calloc(nchild, sizeof *groups);
    char **xml = tn_calloc(nchild, sizeof *xml);
    size_t ng = 0;
    for (size_t i = 0; i < q->nkids; i++) {
        tn_stanza_t *k = q->kids[i];
        if (!k->name)
            continue;
        size_t g = 0;
        while (g < ng && strcmp(groups[g]->kids[0]->ns, k->ns) != 0)
            g++;
        if (g == ng)
            groups[ng++] = tn_stanza_new("query", TN_NS_PRIVATE);
        tn_stanza_add_copy(groups[g], k);
    }
    int too_large = 0;
    for (size_t g = 0; g < ng; g++) {
        xml[g] = tn_stanza_to_string(groups[g], TN_NS_CLIENT);
        if (strlen(xml[g]) > (size_t)private_max_size)
            too_large = 1;
    }
    if (too_large) {
        private_error_text(ev->srv, ev->stanza, TN_ERR_MODIFY, "not-acceptable",
                           "private data too large");
    } else {
        private_op_t *o = private_op_new(ev);
        o->pending = ng + 1; /* one for this loop: no early completion */
        for (size_t g = 0; g < ng; g++) {
            int rc = tn_store_map_put_max(
                ev->srv->store, ev->to->domain, ev->to->node, PRIVATE_MAP,
                groups[g]->kids[0]->ns, xml[g], strlen(xml[g]),
                (size_t)private_max_ns, private_put_cb, o);
            if (rc < 0)
                private_put_cb(o, rc);
        }
        private_put_cb(o, 0);
    }
    for (size_t g = 0; g < ng; g++) {
        tn_stanza_unref(groups[g]);
        tn_free(xml[g]);
    }
    tn_free(groups);
    tn_free(xml);
}

static tn_verdict_t private_on_iq(tn_event_t *ev)
{
    if (!ev->from->bare)
        return TN_HANDLED; /* from the server itself: nobody to answer */
    if (strcmp(ev->from->bare, ev->to->bare) != 0) {
        tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        return TN_HANDLED;
    }
    int set = strcmp(tn_stanza_attr(ev->stanza, "type"), "set") == 0;
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", TN_NS_PRIVATE);
    size_t n = tn_stanza_nelements(q);
    if (n == 0) {
        tn_reply_error(ev, TN_ERR_MODIFY, "not-acceptable");
        return TN_HANDLED;
    }
    for (size_t i = 0; i < q->nkids; i++)
        if (q->kids[i]->name && private_is_reserved(q->kids[i]->ns)) {
            tn_reply_error(ev, TN_ERR_MODIFY, "not-acceptable");
            return TN_HANDLED;
        }
    if (set) {
        private_set(ev, q, n);
    } else if (n > 1) {
        tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    } else {
        private_get(ev, tn_stanza_child(q, NULL, NULL));
    }
    return TN_HANDLED;
}

static int private_load(tn_module_t *m)
{
    if (tn_module_opt_int(m, "max_size", 65536, 1024, 16 * 1024 * 1024,
                          &private_max_size) < 0 ||
        tn_module_opt_int(m, "max_namespaces", 100, 1, 100000,
                          &private_max_ns) < 0)
        return TN_EINVAL;
    tn_module_feature(m, TN_NS_PRIVATE);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, TN_NS_PRIVATE, "query",
                 private_on_iq, TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_private = {
    .name = "private",
    .xeps = "XEP-0049 1.2",
    .load = private_load,
};
