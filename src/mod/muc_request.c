/* muc_request.c -- what a user asks of a room besides entering and
 * talking: registration, which reserves a nick and makes the user a member
 * (XEP-0045 7.10), discovery of that nick (7.11), and voice requests in
 * moderated rooms with the moderators' answers (7.13, 8.6).
 *
 * Who may register: anyone not banned in an open room; in a members-only
 * room only those already affiliated (membership there is the admins'
 * decision, and approval of requests by admins is not implemented).
 * Unregistering (<remove/>) releases the nick and ends a membership that
 * registration could have given; admins and owners keep their
 * affiliation. */
#include <string.h>
#include <time.h>

#include "core/router.h"
#include "mod/muc.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

/* A visitor's voice requests reach the moderators at most this often
 * (seconds). */
#define MUC_VOICE_INTERVAL 60

/* ---- reserved nicks ------------------------------------------------------ */

const char *muc_reg_nick(const muc_room_t *r, const char *bare)
{
    return tn_hmap_get(&r->reg_nick, bare);
}

const char *muc_reg_owner(const muc_room_t *r, const char *nick)
{
    return tn_hmap_get(&r->reg_owner, nick);
}

void muc_reg_set(muc_room_t *r, const char *bare, const char *nick)
{
    const char *holder = nick ? muc_reg_owner(r, nick) : NULL;
    if (holder && strcmp(holder, bare) != 0)
        return; /* the caller checks; a stored duplicate is ignored */
    char *old = tn_hmap_del(&r->reg_nick, bare);
    if (old) {
        tn_free(tn_hmap_del(&r->reg_owner, old));
        tn_free(old);
    }
    if (!nick)
        return;
    tn_hmap_put(&r->reg_nick, bare, tn_strdup(nick));
    tn_hmap_put(&r->reg_owner, nick, tn_strdup(bare));
}

/* nick in canonical form (as an occupant JID's resource), or NULL when
 * it cannot be one. Caller frees. */
static char *reg_canon_nick(const char *nick)
{
    return nick && *nick ? tn_jid_resourceprep(nick) : NULL;
}

/* ---- registration (7.10) ------------------------------------------------- */

static void reg_form(const muc_room_t *r, tn_stanza_t *q, const char *nick)
{
    tn_stanza_t *x = tn_stanza_add_child(q, "x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "form");
    tn_stanza_t *t = tn_stanza_add_child(x, "title", NULL);
    char *title = tn_sprintf("Registration with %s", r->jid);
    tn_stanza_add_text(t, title, strlen(title));
    tn_free(title);
    tn_form_field(x, "FORM_TYPE", "hidden", NULL, MUC_NS_REGISTER);
    tn_stanza_t *f = tn_form_field(x, "muc#register_roomnick",
                                    "text-single", "Desired nickname", nick);
    tn_stanza_add_child(f, "required", NULL);
}

static void reg_get(muc_room_t *r, tn_event_t *ev)
{
    const char *mine = muc_reg_nick(r, ev->from->bare);
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_REGISTER);
    if (mine)
        tn_stanza_add_child(q, "registered", NULL);
    tn_stanza_t *in = tn_stanza_add_child(q, "instructions", NULL);
    static const char text[] = "Choose the nickname to reserve in this room.";
    tn_stanza_add_text(in, text, sizeof text - 1);
    reg_form(r, q, mine);
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

static void reg_remove(muc_room_t *r, tn_event_t *ev, muc_aff_t aff)
{
    const char *bare = ev->from->bare;
    if (!muc_reg_nick(r, bare) && aff != MUC_AFF_MEMBER)
        return tn_reply_error(ev, TN_ERR_CANCEL, "item-not-found");
    char *who = tn_strdup(bare);
    muc_reg_set(r, who, NULL);
    tn_reply_result(ev);
    tn_log(TN_LOG_DEBUG, "muc: %s unregistered from %s", who, r->jid);
    if (aff == MUC_AFF_MEMBER)
        muc_admin_set_aff(r, who, MUC_AFF_NONE, NULL, NULL);
    else
        muc_room_save(r);
    tn_free(who);
    muc_room_gc(r);
}

static void reg_set(muc_room_t *r, tn_event_t *ev, const tn_stanza_t *q,
                    muc_aff_t aff)
{
    const tn_stanza_t *x = tn_stanza_child(q, "x", TN_NS_DATA);
    const char *xtype = x ? tn_stanza_attr(x, "type") : NULL;
    if (xtype && strcmp(xtype, "cancel") == 0)
        return tn_reply_result(ev);
    char *ft = x ? tn_form_value(x, "FORM_TYPE") : NULL;
    int ok = xtype && strcmp(xtype, "submit") == 0 && ft &&
             strcmp(ft, MUC_NS_REGISTER) == 0;
    tn_free(ft);
    char *given = ok ? tn_form_value(x, "muc#register_roomnick") : NULL;
    char *nick = reg_canon_nick(given);
    tn_free(given);
    if (!nick)
        return tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    const char *bare = ev->from->bare;
    const char *holder = muc_reg_owner(r, nick);
    muc_occ_t *user = tn_hmap_get(&r->by_nick, nick);
    if ((holder && strcmp(holder, bare) != 0) ||
        (user && strcmp(user->bare, bare) != 0)) {
        tn_free(nick);
        return tn_reply_error(ev, TN_ERR_CANCEL, "conflict");
    }
    char *who = tn_strdup(bare);
    muc_reg_set(r, who, nick);
    tn_reply_result(ev);
    tn_log(TN_LOG_DEBUG, "muc: %s registered in %s as %s", who, r->jid,
           nick);
    /* 7.10: registration makes a member, announced if present. */
    if (aff < MUC_AFF_MEMBER)
        muc_admin_set_aff(r, who, MUC_AFF_MEMBER, NULL, NULL);
    else
        muc_room_save(r);
    tn_free(who);
    tn_free(nick);
}

void muc_register_iq(muc_room_t *r, tn_event_t *ev)
{
    const tn_stanza_t *q = tn_stanza_child(ev->stanza, "query",
                                           TN_NS_REGISTER);
    const char *type = tn_stanza_attr(ev->stanza, "type");
    muc_aff_t aff = muc_room_aff(r, ev->from->bare);
    if (aff == MUC_AFF_OUTCAST ||
        (r->cfg.members_only && aff < MUC_AFF_MEMBER))
        return tn_reply_error(ev, TN_ERR_CANCEL, "not-allowed");
    if (strcmp(type, "get") == 0)
        return reg_get(r, ev);
    if (tn_stanza_child(q, "remove", TN_NS_REGISTER))
        return reg_remove(r, ev, aff);
    reg_set(r, ev, q, aff);
}

/* ---- the reserved nick (7.11) -------------------------------------------- */

void muc_reserved_nick_iq(muc_room_t *r, tn_event_t *ev)
{
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", TN_NS_DISCO_INFO);
    tn_stanza_set_attr(q, "node", "x-roomuser-item");
    const char *nick = muc_reg_nick(r, ev->from->bare);
    if (nick) {
        tn_stanza_t *id = tn_stanza_add_child(q, "identity", NULL);
        tn_stanza_set_attr(id, "category", "conference");
        tn_stanza_set_attr(id, "name", nick);
        tn_stanza_set_attr(id, "type", "text");
    }
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

/* ---- voice requests (7.13, 8.6) ------------------------------------------ */

static void voice_error(muc_room_t *r, tn_stanza_t *st, const char *type,
                        const char *cond)
{
    tn_log(TN_LOG_DEBUG, "muc: voice request to %s refused: %s", r->jid,
           cond);
    tn_route_error(r->svc->srv, st, type, cond);
}

/* The approval form of 8.6 for occ, to every moderator present. */
static void voice_forward(muc_room_t *r, muc_occ_t *occ)
{
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(m, "from", r->jid);
    tn_stanza_t *x = tn_stanza_add_child(m, "x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "form");
    tn_stanza_t *t = tn_stanza_add_child(x, "title", NULL);
    tn_stanza_add_text(t, "Voice request", 13);
    tn_form_field(x, "FORM_TYPE", "hidden", NULL, MUC_NS_REQUEST);
    tn_form_field(x, "muc#role", "text-single", "Requested role",
                   "participant");
    tn_form_field(x, "muc#jid", "jid-single", "User ID", occ->jid);
    tn_form_field(x, "muc#roomnick", "text-single", "Room Nickname",
                   occ->nick);
    tn_form_field(x, "muc#request_allow", "boolean",
                   "Grant voice to this person?", "false");
    size_t n = 0, it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        muc_occ_t *mod = e->value;
        if (mod->role != MUC_ROLE_MODERATOR)
            continue;
        tn_stanza_unref(muc_occ_deliver(r, tn_stanza_copy(m), mod));
        n++;
    }
    tn_stanza_unref(m);
    tn_log(TN_LOG_DEBUG, "muc: voice request of %s in %s to %zu "
           "moderator(s)", occ->nick, r->jid, n);
}

static void voice_request(muc_room_t *r, muc_occ_t *occ, tn_stanza_t *st,
                          const tn_stanza_t *x)
{
    char *role = tn_form_value(x, "muc#role");
    int participant = role && strcmp(role, "participant") == 0;
    tn_free(role);
    if (!participant)
        return voice_error(r, st, TN_ERR_MODIFY, "bad-request");
    if (occ->role != MUC_ROLE_VISITOR)
        return voice_error(r, st, TN_ERR_CANCEL, "not-allowed");
    time_t now = time(NULL);
    if (occ->voice_asked && now - occ->voice_asked < MUC_VOICE_INTERVAL)
        return voice_error(r, st, TN_ERR_WAIT, "resource-constraint");
    occ->voice_asked = now;
    voice_forward(r, occ);
}

static void voice_answer(muc_room_t *r, muc_occ_t *mod, tn_stanza_t *st,
                         const tn_stanza_t *x, const char *allow)
{
    if (mod->role != MUC_ROLE_MODERATOR)
        return voice_error(r, st, TN_ERR_AUTH, "forbidden");
    char *nick = tn_form_value(x, "muc#roomnick");
    muc_occ_t *occ = nick ? tn_hmap_get(&r->by_nick, nick) : NULL;
    tn_free(nick);
    if (!occ)
        return voice_error(r, st, TN_ERR_CANCEL, "item-not-found");
    int yes = strcmp(allow, "true") == 0 || strcmp(allow, "1") == 0;
    if (!yes || occ->role != MUC_ROLE_VISITOR)
        return; /* denied, or voice given meanwhile */
    occ->role = MUC_ROLE_PARTICIPANT;
    tn_log(TN_LOG_DEBUG, "muc: %s gave voice to %s in %s", mod->nick,
           occ->nick, r->jid);
    muc_room_broadcast_presence(r, occ, NULL, 0, mod->nick, NULL);
}

int muc_voice_message(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from)
{
    const tn_stanza_t *x = tn_stanza_child(st, "x", TN_NS_DATA);
    char *ft = x ? tn_form_value(x, "FORM_TYPE") : NULL;
    int ours = ft && strcmp(ft, MUC_NS_REQUEST) == 0;
    tn_free(ft);
    if (!ours)
        return 0;
    muc_occ_t *occ = muc_room_occ_by_jid(r, from->full);
    const char *xtype = tn_stanza_attr(x, "type");
    if (!occ) {
        voice_error(r, st, TN_ERR_MODIFY, "not-acceptable");
    } else if (!xtype || strcmp(xtype, "submit") != 0) {
        if (!xtype || strcmp(xtype, "cancel") != 0)
            voice_error(r, st, TN_ERR_MODIFY, "bad-request");
    } else {
        char *allow = tn_form_value(x, "muc#request_allow");
        if (allow)
            voice_answer(r, occ, st, x, allow);
        else
            voice_request(r, occ, st, x);
        tn_free(allow);
    }
    return 1;
}
