/* mod_vcard.c -- XEP-0054 vcard-temp, stored by the server for its
 * accounts (map "vcard", key "vcard": the serialized <vCard/>):
 *   - get/set of one's own vCard (no 'to', or one's own bare JID); an
 *     account without one gets an empty <vCard/> (XEP-0054 3.1);
 *   - get of another account's vCard by its bare JID, open to anyone
 *     (XEP-0054 3.3); when there is none, or no such account,
 *     service-unavailable (3.3 wants an error there, and the two cases
 *     look the same so accounts cannot be probed);
 *   - set on another account: forbidden, type auth (XEP-0054 3.2).
 * A set replaces the whole vCard (no partial updates, 3.2); a set with an
 * empty <vCard/> deletes it. A vCard larger than max_size bytes
 * serialized (option, default 65536) is refused with not-acceptable
 * (type modify, RFC 6120 8.3.3.11: "does not meet criteria defined by the
 * server"), with a <text/> saying why; XEP-0054 names no condition. The
 * content is not validated against the vCard DTD: clients store what they
 * like (avatars in PHOTO, XEP-0153). vCards of the server itself and the
 * vcard4 protocol (XEP-0292) are left to others. */
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

#define VCARD_MAP "vcard"
#define VCARD_KEY "vcard"

static long long vcard_max_size;

typedef struct vcard_op {
    tn_server_t *srv;
    tn_stanza_t *orig;  /* owned ref: for errors */
    tn_stanza_t *reply; /* owned: the result to fill in and route */
    int own;            /* the asker's own vCard */
    char *bare;         /* owned, for logs */
} vcard_op_t;

static vcard_op_t *vcard_op_new(tn_event_t *ev, int own)
{
    vcard_op_t *o = TN_NEW(vcard_op_t);
    o->srv = ev->srv;
    o->orig = tn_stanza_ref(ev->stanza);
    o->reply = tn_iq_result_new(ev);
    o->own = own;
    o->bare = tn_strdup(ev->to->bare);
    return o;
}

static void vcard_op_free(vcard_op_t *o)
{
    tn_stanza_unref(o->orig);
    tn_stanza_unref(o->reply);
    tn_free(o->bare);
    tn_free(o);
}

static void vcard_error(vcard_op_t *o, const char *type, const char *cond)
{
    tn_route_error(o->srv, o->orig, type, cond);
    vcard_op_free(o);
}

static void vcard_got_cb(void *ud, int status, const tn_store_item_t *it,
                         size_t n)
{
    vcard_op_t *o = ud;
    tn_stanza_t *v = NULL;
    if (status == 0 && n == 1) {
        v = tn_xml_element_parse(it[0].value, it[0].len, TN_NS_CLIENT);
        if (v && (strcmp(v->name, "vCard") != 0 ||
                  strcmp(v->ns, TN_NS_VCARD) != 0)) {
            tn_stanza_unref(v);
            v = NULL;
        }
        if (!v)
            tn_log(TN_LOG_WARN, "vcard: unreadable vCard of %s ignored",
                   o->bare);
    } else if (status < 0 && status != TN_ENOTFOUND) {
        tn_log(TN_LOG_ERROR, "vcard: reading the vCard of %s failed: %s",
               o->bare, tn_strerror(status));
        vcard_error(o, TN_ERR_WAIT, "internal-server-error");
        return;
    }
    if (v) {
        tn_stanza_add_copy(o->reply, v);
        tn_stanza_unref(v);
    } else if (o->own) {
        tn_stanza_add_child(o->reply, "vCard", TN_NS_VCARD);
    } else {
        vcard_error(o, TN_ERR_CANCEL, "service-unavailable");
        return;
    }
    tn_route(o->srv, o->reply, NULL);
    vcard_op_free(o);
}

static void vcard_set_cb(void *ud, int status)
{
    vcard_op_t *o = ud;
    if (status < 0 && status != TN_ENOTFOUND) {
        tn_log(TN_LOG_ERROR, "vcard: storing the vCard of %s failed: %s",
               o->bare, tn_strerror(status));
        vcard_error(o, TN_ERR_WAIT, "internal-server-error");
        return;
    }
    tn_route(o->srv, o->reply, NULL);
    vcard_op_free(o);
}

static void vcard_too_large(tn_event_t *ev)
{
    tn_stanza_t *e = tn_error_reply(ev->stanza, TN_ERR_MODIFY, "not-acceptable",
                                    "vCard too large");
    if (e)
        tn_route(ev->srv, e, NULL);
    tn_stanza_unref(e);
}

static tn_verdict_t vcard_on_iq(tn_event_t *ev)
{
    if (!ev->from->bare)
        return TN_HANDLED; /* from the server itself: nobody to answer */
    int own = strcmp(ev->from->bare, ev->to->bare) == 0;
    int set = strcmp(tn_stanza_attr(ev->stanza, "type"), "set") == 0;
    tn_stanza_t *vc = tn_stanza_child(ev->stanza, "vCard", TN_NS_VCARD);
    if (set && !own) {
        tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        return TN_HANDLED;
    }
    int rc;
    if (!set) {
        vcard_op_t *o = vcard_op_new(ev, own);
        rc = tn_store_map_get(ev->srv->store, ev->to->domain, ev->to->node,
                              VCARD_MAP, VCARD_KEY, vcard_got_cb, o);
        if (rc < 0)
            vcard_got_cb(o, rc, NULL, 0);
        return TN_HANDLED;
    }
    if (tn_stanza_nelements(vc) == 0) {
        vcard_op_t *o = vcard_op_new(ev, own);
        rc = tn_store_map_del(ev->srv->store, ev->to->domain, ev->to->node,
                              VCARD_MAP, VCARD_KEY, vcard_set_cb, o);
        if (rc < 0)
            vcard_set_cb(o, rc);
        return TN_HANDLED;
    }
    char *xml = tn_stanza_to_string(vc, TN_NS_CLIENT);
    size_t len = strlen(xml);
    if (len > (size_t)vcard_max_size) {
        tn_free(xml);
        vcard_too_large(ev);
        return TN_HANDLED;
    }
    vcard_op_t *o = vcard_op_new(ev, own);
    rc = tn_store_map_put(ev->srv->store, ev->to->domain, ev->to->node,
                          VCARD_MAP, VCARD_KEY, xml, len, vcard_set_cb, o);
    tn_free(xml);
    if (rc < 0)
        vcard_set_cb(o, rc);
    return TN_HANDLED;
}

static int vcard_load(tn_module_t *m)
{
    if (tn_module_opt_int(m, "max_size", 65536, 1024, 16 * 1024 * 1024,
                          &vcard_max_size) < 0)
        return TN_EINVAL;
    tn_module_feature(m, TN_NS_VCARD);
    tn_module_iq(m, TN_IQ_GET | TN_IQ_SET, TN_TO_BARE, TN_NS_VCARD, "vCard",
                 vcard_on_iq, TN_PRIO_DEFAULT);
    return 0;
}

const tn_module_def_t tn_mod_vcard = {
    .name = "vcard",
    .xeps = "XEP-0054 1.2",
    .load = vcard_load,
};
