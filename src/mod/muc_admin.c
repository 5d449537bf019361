/* muc_admin.c -- moderation and ownership of a room (XEP-0045 8-10):
 * kicking (8.2, status 307) and voice (8.3-8.6), affiliations and their
 * lists (9: member, outcast with status 301, admin, owner; 321/322 for
 * occupants who lose membership), the muc#roomconfig form (10.1-10.2,
 * status 104/172/173), instant rooms and cancelled creation, destruction
 * with an alternate venue (10.9), and the room's disco#info with
 * muc#roominfo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"
#include "mod/muc.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/form.h"

#define MUC_FORM_CONFIG "http://jabber.org/protocol/muc#roomconfig"
#define MUC_FORM_INFO "http://jabber.org/protocol/muc#roominfo"

void muc_config_defaults(muc_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->public_ = 1;
    c->history_len = 20;
    c->allow_invites = 0;
    c->change_subject = 1;
    c->allow_pm = MUC_PM_ANYONE;
}

void muc_config_release(muc_config_t *c)
{
    tn_free(c->name);
    tn_free(c->desc);
    tn_free(c->password);
    c->name = c->desc = c->password = NULL;
}

static const char *pm_names[] = {"none", "moderators", "participants",
                                 "anyone"};

static tn_stanza_t *config_form(const muc_room_t *r)
{
    const muc_config_t *c = &r->cfg;
    tn_stanza_t *x = tn_stanza_new("x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "form");
    tn_stanza_t *t = tn_stanza_add_child(x, "title", NULL);
    tn_stanza_add_text(t, "Room configuration", 18);
    tn_form_field(x, "FORM_TYPE", "hidden", NULL, MUC_FORM_CONFIG);
    tn_form_field(x, "muc#roomconfig_roomname", "text-single", "Name",
                   c->name);
    tn_form_field(x, "muc#roomconfig_roomdesc", "text-single", "Description",
                   c->desc);
    tn_form_field(x, "muc#roomconfig_persistentroom", "boolean",
                   "Persistent", c->persistent ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_publicroom", "boolean",
                   "Listed in the directory", c->public_ ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_membersonly", "boolean", "Members only",
                   c->members_only ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_moderatedroom", "boolean", "Moderated",
                   c->moderated ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_passwordprotectedroom", "boolean",
                   "Password protected", c->password_protected ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_roomsecret", "text-private", "Password",
                   c->password);
    char buf[16];
    snprintf(buf, sizeof buf, "%d", c->max_users);
    tn_stanza_t *f = tn_form_field(x, "muc#roomconfig_maxusers", "list-single",
                                    "Maximum occupants",
                                    c->max_users ? buf : "none");
    static const char *const maxes[] = {"10", "20", "30", "50", "100",
                                        "200", "500", "1000"};
    tn_form_option(f, "no limit", "none");
    for (size_t i = 0; i < sizeof maxes / sizeof *maxes; i++)
        tn_form_option(f, maxes[i], maxes[i]);
    f = tn_form_field(x, "muc#roomconfig_whois", "list-single",
                       "Who may see real JIDs",
                       c->whois_anyone ? "anyone" : "moderators");
    tn_form_option(f, "Moderators only", "moderators");
    tn_form_option(f, "Anyone", "anyone");
    snprintf(buf, sizeof buf, "%d", c->history_len);
    tn_form_field(x, "muc#maxhistoryfetch", "text-single",
                   "Messages of history for new occupants", buf);
    tn_form_field(x, "muc#roomconfig_allowinvites", "boolean",
                   "Occupants may invite", c->allow_invites ? "1" : "0");
    tn_form_field(x, "muc#roomconfig_changesubject", "boolean",
                   "Occupants may change the subject",
                   c->change_subject ? "1" : "0");
    f = tn_form_field(x, "muc#roomconfig_allowpm", "list-single",
                       "Who may send private messages", pm_names[c->allow_pm]);
    for (int i = 3; i >= 0; i--)
        tn_form_option(f, pm_names[i], pm_names[i]);
    return x;
}

static int parse_bool(const char *s, int *out)
{
    if (!s)
        return 0;
    if (strcmp(s, "1") == 0 || strcmp(s, "true") == 0)
        *out = 1;
    else if (strcmp(s, "0") == 0 || strcmp(s, "false") == 0)
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    if (!s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* Applies a submitted muc#roomconfig form to c (a copy). -1: bad value. */
static int config_apply(muc_config_t *c, const tn_stanza_t *x, int max_hist)
{
    static const char *const bools[] = {
        "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom",
        "muc#roomconfig_membersonly",    "muc#roomconfig_moderatedroom",
        "muc#roomconfig_passwordprotectedroom",
        "muc#roomconfig_allowinvites",   "muc#roomconfig_changesubject"};
    int *dst[] = {&c->persistent,   &c->public_,
                  &c->members_only, &c->moderated,
                  &c->password_protected, &c->allow_invites,
                  &c->change_subject};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof bools / sizeof *bools; i++) {
        char *v = tn_form_value(x, bools[i]);
        rc = parse_bool(v, dst[i]);
        tn_free(v);
    }
    char *v = tn_form_value(x, "muc#roomconfig_maxusers");
    if (rc == 0 && v)
        rc = strcmp(v, "none") == 0 ? (c->max_users = 0, 0)
                                    : parse_int(v, 1, 1000000, &c->max_users);
    tn_free(v);
    v = tn_form_value(x, "muc#maxhistoryfetch");
    if (!v)
        v = tn_form_value(x, "muc#roomconfig_historylength");
    if (rc == 0)
        rc = parse_int(v, 0, max_hist, &c->history_len);
    tn_free(v);
    v = tn_form_value(x, "muc#roomconfig_whois");
    if (rc == 0 && v) {
        if (strcmp(v, "anyone") == 0)
            c->whois_anyone = 1;
        else if (strcmp(v, "moderators") == 0)
            c->whois_anyone = 0;
        else
            rc = -1;
    }
    tn_free(v);
    v = tn_form_value(x, "muc#roomconfig_allowpm");
    if (rc == 0 && v) {
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (strcmp(v, pm_names[i]) == 0) {
                c->allow_pm = (muc_pm_t)i;
                found = 1;
            }
        if (!found)
            rc = -1;
    }
    tn_free(v);
    static const char *const strs[] = {"muc#roomconfig_roomname",
                                       "muc#roomconfig_roomdesc",
                                       "muc#roomconfig_roomsecret"};
    char **sdst[] = {&c->name, &c->desc, &c->password};
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        v = tn_form_value(x, strs[i]);
        if (v) {
            tn_free(*sdst[i]);
            *sdst[i] = *v ? v : NULL;
            if (!*v)
                tn_free(v);
        }
    }
    if (rc == 0 && c->password_protected && !c->password)
        rc = -1;
    return rc;
}

/* ---- persistence format ------------------------------------------------- */

char *muc_config_to_xml(const muc_room_t *r)
{
    const muc_config_t *c = &r->cfg;
    tn_stanza_t *e = tn_stanza_new("room", "urn:tern:muc:0");
    char buf[32];
    if (c->name)
        tn_stanza_set_attr(e, "name", c->name);
    if (c->desc)
        tn_stanza_set_attr(e, "desc", c->desc);
    if (c->password)
        tn_stanza_set_attr(e, "password", c->password);
    snprintf(buf, sizeof buf, "%d%d%d%d%d%d%d%d", c->persistent, c->public_,
             c->members_only, c->moderated, c->password_protected,
             c->whois_anyone, c->allow_invites, c->change_subject);
    tn_stanza_set_attr(e, "flags", buf);
    snprintf(buf, sizeof buf, "%d", c->max_users);
    tn_stanza_set_attr(e, "max", buf);
    snprintf(buf, sizeof buf, "%d", c->history_len);
    tn_stanza_set_attr(e, "history", buf);
    tn_stanza_set_attr(e, "pm", pm_names[c->allow_pm]);
    if (r->subject) {
        tn_stanza_t *s = tn_stanza_add_child(e, "subject", NULL);
        tn_stanza_add_text(s, r->subject, strlen(r->subject));
        if (r->subject_nick)
            tn_stanza_set_attr(s, "nick", r->subject_nick);
    }
    char *out = tn_stanza_to_string(e, NULL);
    tn_stanza_unref(e);
    return out;
}

int muc_config_from_xml(muc_room_t *r, const char *xml, size_t len)
{
    tn_stanza_t *e = tn_xml_element_parse(xml, len, TN_NS_CLIENT);
    if (!e)
        return -1;
    muc_config_t *c = &r->cfg;
    const char *flags = tn_stanza_attr(e, "flags");
    int rc = 0;
    if (!flags || strlen(flags) != 8) {
        rc = -1;
        goto done;
    }
    int *dst[] = {&c->persistent,   &c->public_,      &c->members_only,
                  &c->moderated,    &c->password_protected,
                  &c->whois_anyone, &c->allow_invites, &c->change_subject};
    for (int i = 0; i < 8; i++)
        *dst[i] = flags[i] == '1';
    parse_int(tn_stanza_attr(e, "max"), 0, 1000000, &c->max_users);
    parse_int(tn_stanza_attr(e, "history"), 0, 1000000, &c->history_len);
    const char *pm = tn_stanza_attr(e, "pm");
    for (int i = 0; pm && i < 4; i++)
        if (strcmp(pm, pm_names[i]) == 0)
            c->allow_pm = (muc_pm_t)i;
    c->name = tn_strdup(tn_stanza_attr(e, "name"));
    c->desc = tn_strdup(tn_stanza_attr(e, "desc"));
    c->password = tn_strdup(tn_stanza_attr(e, "password"));
    tn_stanza_t *s = tn_stanza_child(e, "subject", NULL);
    if (s) {
        r->subject = tn_stanza_text(s);
        r->subject_nick = tn_strdup(tn_stanza_attr(s, "nick"));
    }
done:
    tn_stanza_unref(e);
    return rc;
}

/* ---- disco -------------------------------------------------------------- */

void muc_room_disco_info(muc_room_t *r, tn_stanza_t *q)
{
    const muc_config_t *c = &r->cfg;
    tn_stanza_t *id = tn_stanza_add_child(q, "identity", NULL);
    tn_stanza_set_attr(id, "category", "conference");
    tn_stanza_set_attr(id, "type", "text");
    tn_stanza_set_attr(id, "name", c->name ? c->name : r->node);
    const char *features[] = {
        MUC_NS,
        TN_NS_DISCO_INFO,
        MUC_NS_OCCUPANT_ID,
        TN_NS_REGISTER,
        MUC_NS_REQUEST,
        c->public_ ? "muc_public" : "muc_hidden",
        c->persistent ? "muc_persistent" : "muc_temporary",
        c->members_only ? "muc_membersonly" : "muc_open",
        c->moderated ? "muc_moderated" : "muc_unmoderated",
        c->whois_anyone ? "muc_nonanonymous" : "muc_semianonymous",
        c->password_protected ? "muc_passwordprotected" : "muc_unsecured",
    };
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var",
                           features[i]);
    tn_stanza_t *x = tn_stanza_add_child(q, "x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "result");
    tn_form_field(x, "FORM_TYPE", "hidden", NULL, MUC_FORM_INFO);
    tn_form_field(x, "muc#roominfo_description", NULL, "Description",
                   c->desc ? c->desc : "");
    char buf[24];
    snprintf(buf, sizeof buf, "%zu", r->nocc);
    tn_form_field(x, "muc#roominfo_occupants", NULL, "Occupants", buf);
    tn_form_field(x, "muc#roominfo_subject", NULL, "Subject",
                   r->subject ? r->subject : "");
    tn_form_field(x, "muc#roomconfig_changesubject", "boolean", NULL,
                   c->change_subject ? "1" : "0");
}

/* ---- muc#owner ---------------------------------------------------------- */

static void room_destroy(muc_room_t *r, const tn_stanza_t *destroy)
{
    tn_stanza_t *d = tn_stanza_new("destroy", MUC_NS_USER);
    const char *alt = destroy ? tn_stanza_attr(destroy, "jid") : NULL;
    if (alt)
        tn_stanza_set_attr(d, "jid", alt);
    tn_stanza_t *reason =
        destroy ? tn_stanza_child(destroy, "reason", MUC_NS_OWNER) : NULL;
    if (reason) {
        char *t = tn_stanza_text(reason);
        tn_stanza_add_text(tn_stanza_add_child(d, "reason", NULL), t,
                           strlen(t));
        tn_free(t);
    }
    for (;;) {
        size_t it;
        tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it);
        if (!e)
            break;
        muc_room_remove(r, e->value, 0, NULL, NULL, d);
    }
    tn_stanza_unref(d);
    tn_log(TN_LOG_INFO, "muc: room %s destroyed", r->jid);
    muc_room_forget(r);
    tn_hmap_del(&r->svc->rooms, r->node);
    muc_room_free(r);
}

void muc_owner_iq(muc_room_t *r, tn_event_t *ev)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", MUC_NS_OWNER);
    const char *type = tn_stanza_attr(ev->stanza, "type");
    if (muc_room_aff(r, ev->from->bare) != MUC_AFF_OWNER)
        return tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
    if (strcmp(type, "get") == 0) {
        tn_stanza_t *res = tn_iq_result_new(ev);
        tn_stanza_t *rq = tn_stanza_add_child(res, "query", MUC_NS_OWNER);
        tn_stanza_t *form = config_form(r);
        tn_stanza_add_copy(rq, form);
        tn_stanza_unref(form);
        tn_reply(ev, res);
        tn_stanza_unref(res);
        return;
    }
    tn_stanza_t *destroy = tn_stanza_child(q, "destroy", MUC_NS_OWNER);
    if (destroy) {
        tn_reply_result(ev);
        room_destroy(r, destroy);
        return;
    }
    tn_stanza_t *x = tn_stanza_child(q, "x", TN_NS_DATA);
    const char *xtype = x ? tn_stanza_attr(x, "type") : NULL;
    if (!xtype)
        return tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    if (strcmp(xtype, "cancel") == 0) {
        tn_reply_result(ev);
        if (r->locked) /* 10.1.3: creation cancelled */
            room_destroy(r, NULL);
        return;
    }
    if (strcmp(xtype, "submit") != 0)
        return tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    muc_config_t c = r->cfg;
    c.name = tn_strdup(r->cfg.name);
    c.desc = tn_strdup(r->cfg.desc);
    c.password = tn_strdup(r->cfg.password);
    if (config_apply(&c, x, r->svc->max_history) < 0) {
        muc_config_release(&c);
        return tn_reply_error(ev, TN_ERR_MODIFY, "not-acceptable");
    }
    int was_locked = r->locked;
    int whois_changed = c.whois_anyone != r->cfg.whois_anyone;
    int hist_changed = c.history_len != r->cfg.history_len;
    int was_persistent = r->cfg.persistent;
    muc_config_release(&r->cfg);
    r->cfg = c;
    r->locked = 0;
    if (hist_changed)
        muc_room_history_resize(r);
    tn_reply_result(ev);
    if (r->cfg.persistent)
        muc_room_save(r);
    else if (was_persistent)
        muc_room_forget(r);
    if (!was_locked) {
        int codes[2] = {104, 0};
        size_t n = 1;
        if (whois_changed)
            codes[n++] = r->cfg.whois_anyone ? 172 : 173;
        muc_room_notify(r, codes, n);
    }
    /* Members-only now: those without membership leave (9.x, 322). */
    if (r->cfg.members_only) {
        int again = 1;
        while (again) {
            again = 0;
            size_t it;
            for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
                 e = tn_hmap_next(&r->by_nick, e, &it)) {
                muc_occ_t *o = e->value;
                if (muc_room_aff(r, o->bare) < MUC_AFF_MEMBER) {
                    muc_room_remove(r, o, 322, NULL, NULL, NULL);
                    again = 1;
                    break;
                }
            }
        }
    }
    muc_room_gc(r);
}

/* ---- muc#admin ---------------------------------------------------------- */

typedef struct admin_change {
    char *occ_jid;    /* role change: the occupant's real JID (owned) */
    muc_occ_t *occ;   /* ... found again when applied */
    muc_role_t role;
    char *bare;       /* affiliation change: owned */
    muc_aff_t aff;
    char *reason;     /* owned */
} admin_change_t;

static void admin_list(muc_room_t *r, tn_event_t *ev, const tn_stanza_t *item)
{
    muc_occ_t *me = muc_room_occ_by_jid(r, ev->from->full);
    muc_aff_t my_aff = muc_room_aff(r, ev->from->bare);
    const char *affs = tn_stanza_attr(item, "affiliation");
    const char *roles = tn_stanza_attr(item, "role");
    muc_aff_t aff;
    muc_role_t role;
    tn_stanza_t *res = tn_iq_result_new(ev);
    tn_stanza_t *q = tn_stanza_add_child(res, "query", MUC_NS_ADMIN);
    if (affs && muc_aff_parse(affs, &aff) == 0 && aff != MUC_AFF_NONE) {
        if (my_aff < MUC_AFF_ADMIN) {
            tn_stanza_unref(res);
            return tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        }
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&r->affs, &it); e;
             e = tn_hmap_next(&r->affs, e, &it)) {
            if ((muc_aff_t)((uintptr_t)e->value - 1) != aff)
                continue;
            tn_stanza_t *i = tn_stanza_add_child(q, "item", NULL);
            tn_stanza_set_attr(i, "affiliation", affs);
            tn_stanza_set_attr(i, "jid", e->key);
        }
    } else if (roles && muc_role_parse(roles, &role) == 0 &&
               role != MUC_ROLE_NONE) {
        if (!me || me->role != MUC_ROLE_MODERATOR) {
            tn_stanza_unref(res);
            return tn_reply_error(ev, TN_ERR_AUTH, "forbidden");
        }
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
             e = tn_hmap_next(&r->by_nick, e, &it)) {
            muc_occ_t *o = e->value;
            if (o->role != role)
                continue;
            tn_stanza_t *i = tn_stanza_add_child(q, "item", NULL);
            tn_stanza_set_attr(i, "role", roles);
            tn_stanza_set_attr(i, "nick", o->nick);
            tn_stanza_set_attr(i, "affiliation",
                               muc_aff_name(muc_room_aff(r, o->bare)));
            tn_stanza_set_attr(i, "jid", o->jid); /* we are moderator */
        }
    } else {
        tn_stanza_unref(res);
        return tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    }
    tn_reply(ev, res);
    tn_stanza_unref(res);
}

static int owners_left(muc_room_t *r, const char *except)
{
    int n = 0;
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->affs, &it); e;
         e = tn_hmap_next(&r->affs, e, &it))
        if ((muc_aff_t)((uintptr_t)e->value - 1) == MUC_AFF_OWNER &&
            strcmp(e->key, except) != 0)
            n++;
    return n;
}

/* Checks one item of a set; fills ch. Returns NULL or the error
 * condition (type in *etype). */
static const char *admin_check(muc_room_t *r, tn_event_t *ev,
                               const tn_stanza_t *item, admin_change_t *ch,
                               const char **etype)
{
    muc_occ_t *me = muc_room_occ_by_jid(r, ev->from->full);
    muc_aff_t my_aff = muc_room_aff(r, ev->from->bare);
    const char *nick = tn_stanza_attr(item, "nick");
    const char *jid = tn_stanza_attr(item, "jid");
    const char *roles = tn_stanza_attr(item, "role");
    const char *affs = tn_stanza_attr(item, "affiliation");
    ch->reason = tn_stanza_child_text(item, "reason", MUC_NS_ADMIN);
    *etype = TN_ERR_MODIFY;
    if (affs) {
        if (muc_aff_parse(affs, &ch->aff) < 0)
            return "bad-request";
        tn_jid_t j = {0};
        if (jid) {
            if (tn_jid_parse(jid, &j) < 0)
                return "jid-malformed";
            ch->bare = tn_strdup(j.bare);
            tn_jid_release(&j);
        } else if (nick) {
            muc_occ_t *o = tn_hmap_get(&r->by_nick, nick);
            if (!o) {
                *etype = TN_ERR_CANCEL;
                return "item-not-found";
            }
            ch->bare = tn_strdup(o->bare);
        } else {
            return "bad-request";
        }
        muc_aff_t cur = muc_room_aff(r, ch->bare);
        *etype = TN_ERR_AUTH;
        if (my_aff < MUC_AFF_ADMIN)
            return "forbidden";
        /* 9: admins manage members and outcasts below themselves;
         * owners manage everything. */
        if (my_aff == MUC_AFF_ADMIN &&
            (cur >= MUC_AFF_ADMIN || ch->aff >= MUC_AFF_ADMIN)) {
            *etype = TN_ERR_CANCEL;
            return "not-allowed";
        }
        if (cur == MUC_AFF_OWNER && ch->aff != MUC_AFF_OWNER &&
            owners_left(r, ch->bare) == 0) {
            *etype = TN_ERR_CANCEL;
            return "conflict";
        }
        return NULL;
    }
    if (!roles || muc_role_parse(roles, &ch->role) < 0 || !nick)
        return "bad-request";
    *etype = TN_ERR_AUTH;
    if (!me || me->role != MUC_ROLE_MODERATOR)
        return "forbidden";
    ch->occ = tn_hmap_get(&r->by_nick, nick);
    if (!ch->occ) {
        *etype = TN_ERR_CANCEL;
        return "item-not-found";
    }
    ch->occ_jid = tn_strdup(ch->occ->jid);
    muc_aff_t target = muc_room_aff(r, ch->occ->bare);
    /* 8.2, 8.4: nobody acts on an occupant affiliated above (or, for
     * a moderator without admin rights, at least as high as) itself. */
    *etype = TN_ERR_CANCEL;
    if (target > my_aff || (target >= MUC_AFF_ADMIN && my_aff < MUC_AFF_OWNER &&
                            ch->role < MUC_ROLE_MODERATOR &&
                            target >= my_aff))
        return "not-allowed";
    if ((ch->role == MUC_ROLE_MODERATOR ||
         ch->occ->role == MUC_ROLE_MODERATOR) &&
        my_aff < MUC_AFF_ADMIN && ch->occ != me) {
        *etype = TN_ERR_AUTH;
        return "forbidden";
    }
    return NULL;
}

static void admin_apply(muc_room_t *r, admin_change_t *ch, const char *actor)
{
    if (ch->occ_jid) {
        /* an earlier change of the same request may have removed it */
        ch->occ = tn_hmap_get(&r->by_jid, ch->occ_jid);
        if (!ch->occ)
            return;
        if (ch->role == MUC_ROLE_NONE) {
            muc_room_remove(r, ch->occ, 307, actor, ch->reason, NULL);
        } else {
            ch->occ->role = ch->role;
            muc_room_broadcast_presence(r, ch->occ, NULL, 0, actor,
                                        ch->reason);
        }
        return;
    }
    muc_admin_set_aff(r, ch->bare, ch->aff, actor, ch->reason);
}

void muc_admin_set_aff(muc_room_t *r, const char *bare, muc_aff_t aff,
                       const char *actor, const char *reason)
{
    muc_room_set_aff(r, bare, aff);
    /* 9.1: an outcast's reserved nick is released. */
    if (aff == MUC_AFF_OUTCAST)
        muc_reg_set(r, bare, NULL);
    muc_room_save(r);
    /* Present occupants with that bare JID (9.x). */
    for (;;) {
        muc_occ_t *hit = NULL;
        size_t it;
        for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
             e = tn_hmap_next(&r->by_nick, e, &it)) {
            muc_occ_t *o = e->value;
            if (strcmp(o->bare, bare) == 0 &&
                (aff == MUC_AFF_OUTCAST ||
                 (r->cfg.members_only && aff < MUC_AFF_MEMBER))) {
                hit = o;
                break;
            }
        }
        if (!hit)
            break;
        muc_room_remove(r, hit, aff == MUC_AFF_OUTCAST ? 301 : 321, actor,
                        reason, NULL);
    }
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        muc_occ_t *o = e->value;
        if (strcmp(o->bare, bare) != 0)
            continue;
        o->role = muc_room_default_role(r, aff);
        muc_room_broadcast_presence(r, o, NULL, 0, actor, reason);
    }
}

void muc_admin_iq(muc_room_t *r, tn_event_t *ev)
{
    tn_stanza_t *q = tn_stanza_child(ev->stanza, "query", MUC_NS_ADMIN);
    const char *type = tn_stanza_attr(ev->stanza, "type");
    tn_stanza_t *first = tn_stanza_child(q, "item", MUC_NS_ADMIN);
    if (!first)
        return tn_reply_error(ev, TN_ERR_MODIFY, "bad-request");
    if (strcmp(type, "get") == 0)
        return admin_list(r, ev, first);
    size_t n = 0;
    for (size_t i = 0; i < q->nkids; i++)
        if (q->kids[i]->name && strcmp(q->kids[i]->name, "item") == 0)
            n++;
    admin_change_t *ch = tn_calloc(n, sizeof *ch);
    const char *err = NULL, *etype = NULL;
    size_t k = 0;
    for (size_t i = 0; i < q->nkids && !err; i++)
        if (q->kids[i]->name && strcmp(q->kids[i]->name, "item") == 0)
            err = admin_check(r, ev, q->kids[i], &ch[k++], &etype);
    if (err) {
        tn_reply_error(ev, etype, err);
    } else {
        muc_occ_t *me = muc_room_occ_by_jid(r, ev->from->full);
        char *actor = me ? tn_strdup(me->nick) : NULL;
        tn_reply_result(ev);
        for (size_t i = 0; i < k; i++)
            admin_apply(r, &ch[i], actor);
        tn_free(actor);
    }
    for (size_t i = 0; i < n; i++) {
        tn_free(ch[i].occ_jid);
        tn_free(ch[i].bare);
        tn_free(ch[i].reason);
    }
    tn_free(ch);
    muc_room_gc(r);
}
