/* mod_muc.c -- the multi-user chat service (XEP-0045) on a domain of its
 * own (`muc: {host: ...}`, default conference.<first host>), listed in
 * the server's disco#items. Stanzas to the service domain come here from
 * the router (tn_router_service); this file answers the service itself
 * (disco, the public room list, ping), finds the room and hands room and
 * occupant stanzas to muc_room.c / muc_admin.c, and keeps persistent
 * rooms in the store (see muc.h).
 *
 * Options: modules: {muc: {create_rooms: true, max_history: 50}}.
 * create_rooms: local users (of this server's hosts) may create rooms.
 * Room registration and voice requests are in muc_request.c. */
#include <string.h>

#include "core/router.h"
#include "mod/muc.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"

#define MUC_ROOMS_USER "@rooms"
#define MUC_ROOMS_MAP "muc_rooms"
#define MUC_ROOM_MAP "muc"

static muc_service_t *muc_svc;

/* ---- persistence -------------------------------------------------------- */

static void muc_store_done(void *ud, int status)
{
    (void)ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "muc: store write failed: %s",
               tn_strerror(status));
}

void muc_room_save(muc_room_t *r)
{
    if (!r->cfg.persistent || r->locked)
        return;
    tn_store_t *st = r->svc->srv->store;
    const char *host = r->svc->host;
    /* Writes are applied in order: clear, then write everything. */
    tn_store_map_del(st, host, r->node, MUC_ROOM_MAP, NULL, muc_store_done,
                     NULL);
    char *xml = muc_config_to_xml(r);
    tn_store_map_put(st, host, r->node, MUC_ROOM_MAP, "room", xml,
                     strlen(xml), muc_store_done, NULL);
    tn_free(xml);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->affs, &it); e;
         e = tn_hmap_next(&r->affs, e, &it)) {
        char *key = tn_sprintf("aff:%s", e->key);
        const char *v = muc_aff_name((muc_aff_t)((uintptr_t)e->value - 1));
        tn_store_map_put(st, host, r->node, MUC_ROOM_MAP, key, v, strlen(v),
                         muc_store_done, NULL);
        tn_free(key);
    }
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->reg_nick, &it); e;
         e = tn_hmap_next(&r->reg_nick, e, &it)) {
        char *key = tn_sprintf("nick:%s", e->key);
        tn_store_map_put(st, host, r->node, MUC_ROOM_MAP, key, e->value,
                         strlen(e->value), muc_store_done, NULL);
        tn_free(key);
    }
    tn_store_map_put(st, host, MUC_ROOMS_USER, MUC_ROOMS_MAP, r->node, "1",
                     1, muc_store_done, NULL);
}

void muc_room_forget(muc_room_t *r)
{
    tn_store_t *st = r->svc->srv->store;
    tn_store_map_del(st, r->svc->host, r->node, MUC_ROOM_MAP, NULL,
                     muc_store_done, NULL);
    tn_store_map_del(st, r->svc->host, MUC_ROOMS_USER, MUC_ROOMS_MAP,
                     r->node, muc_store_done, NULL);
}

static void muc_room_loaded(void *ud, int status, const tn_store_item_t *items,
                            size_t n)
{
    char *node = ud;
    muc_service_t *svc = muc_svc;
    if (!svc || status < 0 || tn_hmap_get(&svc->rooms, node)) {
        tn_free(node);
        return;
    }
    muc_room_t *r = muc_room_new(svc, node);
    int ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].key, "room") == 0) {
            ok = muc_config_from_xml(r, items[i].value, items[i].len) == 0;
        } else if (strncmp(items[i].key, "aff:", 4) == 0) {
            muc_aff_t a;
            if (muc_aff_parse(items[i].value, &a) == 0)
                muc_room_set_aff(r, items[i].key + 4, a);
        } else if (strncmp(items[i].key, "nick:", 5) == 0 &&
                   items[i].len > 0 &&
                   memchr(items[i].value, 0, items[i].len) == NULL) {
            char *nick = tn_strndup(items[i].value, items[i].len);
            muc_reg_set(r, items[i].key + 5, nick);
            tn_free(nick);
        }
    }
    if (!ok || !r->cfg.persistent) {
        tn_log(TN_LOG_WARN, "muc: stored room %s unreadable, skipped",
               r->jid);
        tn_hmap_del(&svc->rooms, node);
        muc_room_free(r);
    } else {
        muc_room_history_resize(r);
        tn_log(TN_LOG_DEBUG, "muc: room %s loaded", r->jid);
    }
    tn_free(node);
}

static void muc_rooms_listed(void *ud, int status, const tn_store_item_t *items,
                             size_t n)
{
    (void)ud;
    if (!muc_svc || status < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char *node = tn_strdup(items[i].key);
        if (tn_store_map_all(muc_svc->srv->store, muc_svc->host, node,
                             MUC_ROOM_MAP, muc_room_loaded, node) < 0)
            tn_free(node);
    }
}

/* ---- the service itself -------------------------------------------------- */

static void svc_disco_info(tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_INFO);
    tn_stanza_t *id = tn_stanza_add_child(q, "identity", NULL);
    tn_stanza_set_attr(id, "category", "conference");
    tn_stanza_set_attr(id, "type", "text");
    tn_stanza_set_attr(id, "name", "Chatrooms");
    static const char *const features[] = {
        MUC_NS, TN_NS_DISCO_INFO, TN_NS_DISCO_ITEMS, TN_NS_PING,
        MUC_NS_OCCUPANT_ID, "http://jabber.org/protocol/muc#self-ping-optimization"};
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var",
                           features[i]);
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

/* XEP-0045 6.3: the public rooms. */
static void svc_disco_items(muc_service_t *svc, tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_ITEMS);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&svc->rooms, &it); e;
         e = tn_hmap_next(&svc->rooms, e, &it)) {
        muc_room_t *r = e->value;
        if (!r->cfg.public_ || r->locked)
            continue;
        tn_stanza_t *item = tn_stanza_add_child(q, "item", NULL);
        tn_stanza_set_attr(item, "jid", r->jid);
        tn_stanza_set_attr(item, "name", r->cfg.name ? r->cfg.name : r->node);
    }
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

static int iq_payload(const tn_stanza_t *st, const char *name, const char *ns)
{
    return tn_stanza_child(st, name, ns) != NULL;
}

static void svc_iq(muc_service_t *svc, tn_event_t *ev, const char *type)
{
    int get = strcmp(type, "get") == 0;
    if (get && iq_payload(ev->stanza, "query", TN_NS_DISCO_INFO))
        return svc_disco_info(ev);
    if (get && iq_payload(ev->stanza, "query", TN_NS_DISCO_ITEMS))
        return svc_disco_items(svc, ev);
    if (get && iq_payload(ev->stanza, "ping", TN_NS_PING))
        return tn_reply_result(ev);
    if (get || strcmp(type, "set") == 0)
        tn_reply_error(ev, TN_ERR_CANCEL, "service-unavailable");
}

/* ---- rooms -------------------------------------------------------------- */

/* XEP-0045 6.5: occupants are listed to occupants only. */
static void room_disco_items(muc_room_t *r, tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_ITEMS);
    if (muc_room_occ_by_jid(r, ev->from->full)) {
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
             e = tn_hmap_next(&r->by_nick, e, &it)) {
            muc_occ_t *o = e->value;
            char *jid = tn_sprintf("%s/%s", r->jid, o->nick);
            tn_stanza_set_attr(tn_stanza_add_child(q, "item", NULL), "jid",
                               jid);
            tn_free(jid);
        }
    }
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

static void room_iq(muc_room_t *r, tn_event_t *ev, const char *type)
{
    int get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        return; /* results and errors: nothing of the room asked */
    tn_stanza_t *st = ev->stanza;
    tn_stanza_t *info = get ? tn_stanza_child(st, "query", TN_NS_DISCO_INFO)
                            : NULL;
    const char *node = info ? tn_stanza_attr(info, "node") : NULL;
    if (node && strcmp(node, "x-roomuser-item") == 0)
        return muc_reserved_nick_iq(r, ev);
    if (node)
        return tn_reply_error(ev, TN_ERR_CANCEL, "item-not-found");
    if (info) {
        tn_stanza_t *res = tn_iq_result_new(ev);
        muc_room_disco_info(r, tn_stanza_add_child(res, "query",
                                                   TN_NS_DISCO_INFO));
        tn_reply(ev, res);
        tn_stanza_unref(res);
        return;
    }
    if (get && iq_payload(st, "query", TN_NS_DISCO_ITEMS))
        return room_disco_items(r, ev);
    if (get && iq_payload(st, "ping", TN_NS_PING))
        return tn_reply_result(ev);
    if (iq_payload(st, "query", MUC_NS_ADMIN))
        return muc_admin_iq(r, ev);
    if (iq_payload(st, "query", MUC_NS_OWNER))
        return muc_owner_iq(r, ev);
    if (iq_payload(st, "query", TN_NS_REGISTER))
        return muc_register_iq(r, ev);
    tn_reply_error(ev, TN_ERR_CANCEL, "feature-not-implemented");
}

/* An IQ to an occupant JID. XEP-0410 self-ping is answered here; other
 * requests pass to the addressed occupant's real JID from the sender's
 * occupant JID, as private messages do, and answers come back the same
 * way: the addresses alone route them, ids unchanged. Only occupants
 * take part; what others send gets not-acceptable (requests) or is
 * dropped (answers). */
static void occupant_iq(muc_room_t *r, tn_event_t *ev, const char *type)
{
    int request = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
    muc_occ_t *me = muc_room_occ_by_jid(r, ev->from->full);
    if (!me) {
        if (request)
            tn_reply_error(ev, TN_ERR_CANCEL, "not-acceptable");
        return;
    }
    if (strcmp(type, "get") == 0 &&
        iq_payload(ev->stanza, "ping", TN_NS_PING) &&
        strcmp(me->nick, ev->to->resource) == 0)
        return tn_reply_result(ev);
    muc_occ_t *dest = tn_hmap_get(&r->by_nick, ev->to->resource);
    if (!dest) {
        if (request)
            tn_reply_error(ev, TN_ERR_CANCEL, "item-not-found");
        return;
    }
    tn_stanza_t *fwd = tn_stanza_copy(ev->stanza);
    char *from = tn_sprintf("%s/%s", r->jid, me->nick);
    tn_stanza_set_attr(fwd, "from", from);
    tn_stanza_set_attr(fwd, "to", dest->jid);
    tn_free(from);
    tn_route(r->svc->srv, fwd, NULL);
    tn_stanza_unref(fwd);
}

static int is_type(const tn_stanza_t *st, const char *type)
{
    const char *t = tn_stanza_attr(st, "type");
    return t && strcmp(t, type) == 0;
}

static void muc_route(void *ud, tn_stanza_t *st, const tn_jid_t *from,
                      const tn_jid_t *to, tn_sess_t *sess)
{
    muc_service_t *svc = ud;
    if (!from || !from->full)
        return;
    tn_event_t ev = {svc->srv, st, from, to, sess};
    const char *name = st->name;
    const char *type = tn_stanza_attr(st, "type");
    int iq = strcmp(name, "iq") == 0;
    int presence = strcmp(name, "presence") == 0;
    if (iq && !type)
        return tn_reply_error(&ev, TN_ERR_MODIFY, "bad-request");
    if (!to->node) {
        if (iq)
            svc_iq(svc, &ev, type);
        return;
    }
    muc_room_t *r = tn_hmap_get(&svc->rooms, to->node);
    if (presence && to->resource && !r) {
        if (type)
            return; /* unavailable, probe... to no room */
        if (!svc->create_rooms ||
            !tn_config_is_host(svc->srv->cfg, from->domain))
            return tn_reply_error(&ev, TN_ERR_CANCEL, "not-allowed");
        r = muc_room_new(svc, to->node);
        tn_log(TN_LOG_INFO, "muc: room %s created by %s", r->jid,
               from->bare);
        muc_room_create_join(r, st, from, to->resource);
        return;
    }
    if (!r) {
        if (!is_type(st, "error") && !is_type(st, "result") &&
            !(presence && type))
            tn_reply_error(&ev, TN_ERR_CANCEL, "item-not-found");
        return;
    }
    if (presence) {
        if (!to->resource) {
            /* 7.2.1: entering needs a nick */
            if (!type)
                tn_reply_error(&ev, TN_ERR_MODIFY, "jid-malformed");
            return;
        }
        return muc_room_presence(r, st, from, to);
    }
    if (iq)
        return to->resource ? occupant_iq(r, &ev, type)
                            : room_iq(r, &ev, type);
    muc_room_message(r, st, from, to);
}

/* ---- module ------------------------------------------------------------- */

static int muc_load(tn_module_t *m)
{
    tn_server_t *srv = tn_module_server(m);
    long long max_history = 50;
    int create = 1;
    if (tn_module_opt_bool(m, "create_rooms", 1, &create) < 0 ||
        tn_module_opt_int(m, "max_history", 50, 0, 10000, &max_history) < 0)
        return TN_EINVAL;
    muc_service_t *svc = TN_NEW(muc_service_t);
    svc->srv = srv;
    svc->create_rooms = create;
    svc->max_history = (int)max_history;
    svc->host = srv->cfg->muc_host
                    ? tn_strdup(srv->cfg->muc_host)
                    : tn_sprintf("conference.%s", srv->cfg->hosts[0]);
    tn_hmap_init(&svc->rooms);
    muc_svc = svc;
    tn_router_service(srv, svc->host, muc_route, svc);
    if (srv->store)
        tn_store_map_all(srv->store, svc->host, MUC_ROOMS_USER, MUC_ROOMS_MAP,
                         muc_rooms_listed, NULL);
    tn_log(TN_LOG_INFO, "muc: service %s", svc->host);
    return 0;
}

static void muc_unload(tn_module_t *m)
{
    (void)m;
    muc_service_t *svc = muc_svc;
    if (!svc)
        return;
    tn_router_service(svc->srv, svc->host, NULL, NULL);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&svc->rooms, &it); e;
         e = tn_hmap_next(&svc->rooms, e, &it))
        muc_room_free(e->value);
    tn_hmap_release(&svc->rooms);
    tn_free(svc->host);
    tn_free(svc);
    muc_svc = NULL;
}

const tn_module_def_t tn_mod_muc = {
    .name = "muc",
    .xeps = "XEP-0045 1.34.5, XEP-0249 (pass-through), XEP-0410, XEP-0421",
    .load = muc_load,
    .unload = muc_unload,
};
