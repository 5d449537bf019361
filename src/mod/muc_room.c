/* muc_room.c -- occupants of a room (XEP-0045 7): entering (7.2) with its
 * checks and the order of what a new occupant receives (others'
 * presence, its own with status 110, history with XEP-0203 delay, the
 * subject last), presence changes, nick changes (7.6, status 303),
 * exiting (7.14), groupchat messages reflected to everyone (7.4), subject
 * changes (8.1), private messages (7.5), mediated invitations and
 * declines (7.8), XEP-0421 occupant ids and XEP-0410 self-ping. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/router.h"
#include "mod/muc.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"

static const char *const muc_affs[] = {"outcast", "none", "member", "admin",
                                       "owner"};
static const char *const muc_roles[] = {"none", "visitor", "participant",
                                        "moderator"};

const char *muc_aff_name(muc_aff_t a)
{
    return muc_affs[a];
}

const char *muc_role_name(muc_role_t r)
{
    return muc_roles[r];
}

int muc_aff_parse(const char *s, muc_aff_t *out)
{
    for (int i = 0; s && i < 5; i++)
        if (strcmp(s, muc_affs[i]) == 0) {
            *out = (muc_aff_t)i;
            return 0;
        }
    return -1;
}

int muc_role_parse(const char *s, muc_role_t *out)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, muc_roles[i]) == 0) {
            *out = (muc_role_t)i;
            return 0;
        }
    return -1;
}

/* ---- the room object ---------------------------------------------------- */

muc_room_t *muc_room_new(muc_service_t *svc, const char *node)
{
    muc_room_t *r = TN_NEW(muc_room_t);
    r->svc = svc;
    r->node = tn_strdup(node);
    r->jid = tn_sprintf("%s@%s", node, svc->host);
    muc_config_defaults(&r->cfg);
    tn_hmap_init(&r->affs);
    tn_hmap_init(&r->reg_nick);
    tn_hmap_init(&r->reg_owner);
    tn_hmap_init(&r->by_nick);
    tn_hmap_init(&r->by_jid);
    tn_random_bytes(r->secret, sizeof r->secret);
    muc_room_history_resize(r);
    tn_hmap_put(&svc->rooms, node, r);
    return r;
}

static void occ_free(muc_occ_t *o)
{
    for (size_t i = 0; i < o->nmore; i++)
        tn_free(o->more[i]);
    tn_free(o->more);
    tn_free(o->nick);
    tn_free(o->jid);
    tn_free(o->bare);
    tn_stanza_unref(o->pres);
    tn_free(o);
}

void muc_room_free(muc_room_t *r)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it))
        occ_free(e->value);
    tn_hmap_release(&r->by_nick);
    tn_hmap_release(&r->by_jid);
    tn_hmap_release(&r->affs);
    tn_hmap_release_free(&r->reg_nick);
    tn_hmap_release_free(&r->reg_owner);
    for (size_t i = 0; i < r->hist_len; i++)
        tn_stanza_unref(r->hist[(r->hist_head + i) % r->hist_cap].msg);
    tn_free(r->hist);
    muc_config_release(&r->cfg);
    tn_free(r->subject);
    tn_free(r->subject_nick);
    tn_free(r->node);
    tn_free(r->jid);
    tn_free(r);
}

void muc_room_gc(muc_room_t *r)
{
    if (r->nocc > 0 || (r->cfg.persistent && !r->locked))
        return;
    tn_log(TN_LOG_DEBUG, "muc: room %s removed (empty, transient)", r->jid);
    tn_hmap_del(&r->svc->rooms, r->node);
    muc_room_free(r);
}

void muc_room_history_resize(muc_room_t *r)
{
    size_t cap = r->cfg.history_len > 0 ? (size_t)r->cfg.history_len : 0;
    muc_hist_t *h = cap ? tn_calloc(cap, sizeof *h) : NULL;
    size_t keep = r->hist_len < cap ? r->hist_len : cap;
    /* keep the newest */
    for (size_t i = 0; i < r->hist_len; i++) {
        muc_hist_t *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        if (i >= r->hist_len - keep)
            h[i - (r->hist_len - keep)] = *e;
        else
            tn_stanza_unref(e->msg);
    }
    tn_free(r->hist);
    r->hist = h;
    r->hist_cap = cap;
    r->hist_len = keep;
    r->hist_head = 0;
}

muc_aff_t muc_room_aff(const muc_room_t *r, const char *bare)
{
    void *v = tn_hmap_get(&r->affs, bare);
    return v ? (muc_aff_t)((uintptr_t)v - 1) : MUC_AFF_NONE;
}

void muc_room_set_aff(muc_room_t *r, const char *bare, muc_aff_t aff)
{
    if (aff == MUC_AFF_NONE)
        tn_hmap_del(&r->affs, bare);
    else
        tn_hmap_put(&r->affs, bare, (void *)((uintptr_t)aff + 1));
}

muc_role_t muc_room_default_role(const muc_room_t *r, muc_aff_t aff)
{
    if (aff >= MUC_AFF_ADMIN)
        return MUC_ROLE_MODERATOR;
    if (aff == MUC_AFF_OUTCAST)
        return MUC_ROLE_NONE;
    if (r->cfg.moderated && aff < MUC_AFF_MEMBER)
        return MUC_ROLE_VISITOR;
    return MUC_ROLE_PARTICIPANT;
}

muc_occ_t *muc_room_occ_by_jid(const muc_room_t *r, const char *full)
{
    return tn_hmap_get(&r->by_jid, full);
}

/* XEP-0421: a stable id per real bare JID and room, not revealing it. */
static void occ_set_id(muc_room_t *r, muc_occ_t *o)
{
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), r->secret, sizeof r->secret,
         (const unsigned char *)o->bare, strlen(o->bare), mac, &len);
    char *b = tn_base64_encode(mac, 15); /* 20 characters */
    snprintf(o->id, sizeof o->id, "%s", b);
    tn_free(b);
}

/* ---- sending ------------------------------------------------------------ */

static void room_send(muc_room_t *r, tn_stanza_t *st)
{
    tn_route(r->svc->srv, st, NULL);
}

/* Fan-out: sends m, serialized once (tn_stanza_wire_cache), to occupant
 * JID `to` and returns the stanza to reuse for the next recipient: m, or
 * a fresh copy when the router kept a reference (a shared stanza never
 * changes). The caller unrefs what it got last. */
static tn_stanza_t *fanout_send(muc_room_t *r, tn_stanza_t *m,
                                const char *to)
{
    tn_stanza_wire_cache(m);
    tn_stanza_set_attr(m, "to", to);
    room_send(r, m);
    if (m->refs == 1)
        return m;
    tn_stanza_t *fresh = tn_stanza_copy(m);
    tn_stanza_unref(m);
    return fresh;
}

tn_stanza_t *muc_occ_deliver(muc_room_t *r, tn_stanza_t *m,
                             const muc_occ_t *to)
{
    m = fanout_send(r, m, to->jid);
    for (size_t i = 0; i < to->nmore; i++)
        m = fanout_send(r, m, to->more[i]);
    return m;
}

/* Sends m (the caller's reference is dropped) to every session of to. */
static void occ_send(muc_room_t *r, tn_stanza_t *m, const muc_occ_t *to)
{
    tn_stanza_unref(muc_occ_deliver(r, m, to));
}

static void add_status(tn_stanza_t *x, int code)
{
    char buf[8];
    snprintf(buf, sizeof buf, "%d", code);
    tn_stanza_set_attr(tn_stanza_add_child(x, "status", NULL), "code", buf);
}

static int can_see_jids(const muc_room_t *r, const muc_occ_t *to)
{
    return r->cfg.whois_anyone || (to && to->role == MUC_ROLE_MODERATOR);
}

/* occ's presence as `to` gets it (to NULL: unavailable to a removed
 * occupant, treated as itself). */
static tn_stanza_t *occ_presence(muc_room_t *r, const muc_occ_t *occ,
                                 const muc_occ_t *to, int unavailable,
                                 const int *codes, size_t ncodes,
                                 const char *actor, const char *reason,
                                 const char *new_nick,
                                 const tn_stanza_t *destroy)
{
    tn_stanza_t *p;
    if (!unavailable && occ->pres) {
        p = tn_stanza_copy(occ->pres);
    } else {
        p = tn_stanza_new("presence", TN_NS_CLIENT);
        if (unavailable)
            tn_stanza_set_attr(p, "type", "unavailable");
    }
    char *from = tn_sprintf("%s/%s", r->jid, occ->nick);
    tn_stanza_set_attr(p, "from", from);
    tn_free(from);
    tn_stanza_set_attr(p, "to", to ? to->jid : occ->jid);
    tn_stanza_t *x = tn_stanza_add_child(p, "x", MUC_NS_USER);
    tn_stanza_t *item = tn_stanza_add_child(x, "item", NULL);
    muc_aff_t aff = muc_room_aff(r, occ->bare);
    tn_stanza_set_attr(item, "affiliation", muc_aff_name(aff));
    tn_stanza_set_attr(item, "role",
                       unavailable ? "none" : muc_role_name(occ->role));
    int self = !to || to == occ;
    if (self || can_see_jids(r, to))
        tn_stanza_set_attr(item, "jid", occ->jid);
    if (new_nick)
        tn_stanza_set_attr(item, "nick", new_nick);
    if (actor)
        tn_stanza_set_attr(tn_stanza_add_child(item, "actor", NULL), "nick",
                           actor);
    if (reason) {
        tn_stanza_t *re = tn_stanza_add_child(item, "reason", NULL);
        tn_stanza_add_text(re, reason, strlen(reason));
    }
    if (destroy)
        tn_stanza_add_copy(x, destroy);
    for (size_t i = 0; i < ncodes; i++)
        if (codes[i] != 110 || self)
            add_status(x, codes[i]);
    if (self) {
        add_status(x, 110);
        if (r->cfg.whois_anyone && !unavailable)
            add_status(x, 100);
    }
    tn_stanza_set_attr(tn_stanza_add_child(p, "occupant-id",
                                           MUC_NS_OCCUPANT_ID),
                       "id", occ->id);
    return p;
}

void muc_room_broadcast_presence(muc_room_t *r, muc_occ_t *occ,
                                 const int *codes, size_t ncodes,
                                 const char *actor, const char *reason)
{
    /* Others get one of two stanzas (with or without occ's real JID),
     * each serialized once; occ itself gets its own. */
    tn_stanza_t *variant[2] = {NULL, NULL};
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        muc_occ_t *to = e->value;
        if (to == occ) {
            occ_send(r, occ_presence(r, occ, to, 0, codes, ncodes, actor,
                                     reason, NULL, NULL), occ);
            continue;
        }
        int k = can_see_jids(r, to);
        if (!variant[k])
            variant[k] = occ_presence(r, occ, to, 0, codes, ncodes, actor,
                                      reason, NULL, NULL);
        variant[k] = muc_occ_deliver(r, variant[k], to);
    }
    tn_stanza_unref(variant[0]);
    tn_stanza_unref(variant[1]);
}

/* Unavailable presence of occ to everyone, itself included. */
static void broadcast_unavailable(muc_room_t *r, muc_occ_t *occ,
                                  const int *codes, size_t ncodes,
                                  const char *actor, const char *reason,
                                  const char *new_nick,
                                  const tn_stanza_t *destroy,
                                  const tn_stanza_t *status_from)
{
    const tn_stanza_t *status = status_from
                                    ? tn_stanza_child(status_from, "status",
                                                      TN_NS_CLIENT)
                                    : NULL;
    tn_stanza_t *variant[2] = {NULL, NULL}; /* as in the broadcast above */
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        muc_occ_t *to = e->value;
        int k = can_see_jids(r, to);
        tn_stanza_t *p = to == occ ? NULL : variant[k];
        if (!p) {
            p = occ_presence(r, occ, to, 1, codes, ncodes, actor, reason,
                             new_nick, destroy);
            if (status)
                tn_stanza_add_copy(p, status);
        }
        if (to == occ) {
            occ_send(r, p, occ);
            continue;
        }
        variant[k] = muc_occ_deliver(r, p, to);
    }
    tn_stanza_unref(variant[0]);
    tn_stanza_unref(variant[1]);
}

static void occ_unlink(muc_room_t *r, muc_occ_t *occ)
{
    tn_hmap_del(&r->by_nick, occ->nick);
    tn_hmap_del(&r->by_jid, occ->jid);
    for (size_t i = 0; i < occ->nmore; i++)
        tn_hmap_del(&r->by_jid, occ->more[i]);
    r->nocc--;
}

/* Adds session full to occ (same bare JID and nick). */
static void occ_add_session(muc_room_t *r, muc_occ_t *occ, const char *full)
{
    occ->more = tn_realloc(occ->more, (occ->nmore + 1) * sizeof *occ->more);
    occ->more[occ->nmore++] = tn_strdup(full);
    tn_hmap_put(&r->by_jid, occ->more[occ->nmore - 1], occ);
}

/* Takes session full (one of several) out of occ; a later session takes
 * the first one's place. */
static void occ_drop_session(muc_room_t *r, muc_occ_t *occ, const char *full)
{
    tn_hmap_del(&r->by_jid, full);
    size_t i = 0;
    if (strcmp(occ->jid, full) == 0) {
        tn_free(occ->jid);
        occ->jid = occ->more[0];
    } else {
        while (strcmp(occ->more[i], full) != 0)
            i++;
        tn_free(occ->more[i]);
    }
    memmove(&occ->more[i], &occ->more[i + 1],
            (occ->nmore - i - 1) * sizeof *occ->more);
    occ->nmore--;
}

void muc_room_remove(muc_room_t *r, muc_occ_t *occ, int code,
                     const char *actor, const char *reason,
                     const tn_stanza_t *destroy)
{
    int codes[1] = {code};
    /* The removed occupant first (it is still listed), then the rest. */
    occ_send(r, occ_presence(r, occ, NULL, 1, codes, code ? 1 : 0, actor,
                             reason, NULL, destroy), occ);
    occ_unlink(r, occ);
    broadcast_unavailable(r, occ, codes, code ? 1 : 0, actor, reason, NULL,
                          destroy, NULL);
    occ_free(occ);
}

/* A message from the room itself to `to`, with an empty muc#user <x/>
 * (returned in *x) for the caller to fill. */
static tn_stanza_t *room_message(const muc_room_t *r, const char *to,
                                 tn_stanza_t **x)
{
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(m, "from", r->jid);
    tn_stanza_set_attr(m, "to", to);
    *x = tn_stanza_add_child(m, "x", MUC_NS_USER);
    return m;
}

void muc_room_notify(muc_room_t *r, const int *codes, size_t ncodes)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        muc_occ_t *to = e->value;
        tn_stanza_t *x;
        tn_stanza_t *m = room_message(r, to->jid, &x);
        tn_stanza_set_attr(m, "type", "groupchat");
        for (size_t i = 0; i < ncodes; i++)
            add_status(x, codes[i]);
        occ_send(r, m, to);
    }
}

/* The presence as kept: no addressing, no MUC join element. */
static tn_stanza_t *keep_presence(const tn_stanza_t *st)
{
    tn_stanza_t *p = tn_stanza_copy(st);
    tn_stanza_set_attr(p, "to", NULL);
    tn_stanza_set_attr(p, "from", NULL);
    tn_stanza_set_attr(p, "id", NULL);
    tn_stanza_t *x;
    while ((x = tn_stanza_child(p, "x", MUC_NS)) != NULL)
        tn_stanza_remove(p, x);
    while ((x = tn_stanza_child(p, "x", MUC_NS_USER)) != NULL)
        tn_stanza_remove(p, x);
    while ((x = tn_stanza_child(p, "occupant-id", MUC_NS_OCCUPANT_ID)) !=
           NULL)
        tn_stanza_remove(p, x);
    return p;
}

/* ---- history ------------------------------------------------------------ */

static void history_add(muc_room_t *r, tn_stanza_t *msg)
{
    if (!r->hist_cap)
        return;
    muc_hist_t *e;
    if (r->hist_len == r->hist_cap) {
        e = &r->hist[r->hist_head];
        tn_stanza_unref(e->msg);
        r->hist_head = (r->hist_head + 1) % r->hist_cap;
    } else {
        e = &r->hist[(r->hist_head + r->hist_len) % r->hist_cap];
        r->hist_len++;
    }
    e->msg = tn_stanza_copy(msg);
    tn_stanza_set_attr(e->msg, "to", NULL);
    e->when = time(NULL);
    e->chars = 0; /* measured only if a maxchars asks (hist_chars) */
}

/* The serialized size of a history entry, measured once on demand. */
static size_t hist_chars(muc_hist_t *e)
{
    if (!e->chars) {
        char *s = tn_stanza_to_string(e->msg, TN_NS_CLIENT);
        e->chars = strlen(s);
        tn_free(s);
    }
    return e->chars;
}

static long hist_attr(const tn_stanza_t *h, const char *name, long def)
{
    const char *v = h ? tn_stanza_attr(h, name) : NULL;
    if (!v || !*v)
        return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 ? def : n;
}

/* XEP-0082 date-time to time_t; -1 if it does not parse. */
static time_t parse_stamp(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon,
                     &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* XEP-0045 7.2.14: what the <history/> element asks for. */
static void history_send(muc_room_t *r, const char *to, const tn_stanza_t *h)
{
    long maxstanzas = hist_attr(h, "maxstanzas", (long)r->hist_len);
    long maxchars = hist_attr(h, "maxchars", -1);
    long seconds = hist_attr(h, "seconds", -1);
    time_t since = h ? parse_stamp(tn_stanza_attr(h, "since")) : -1;
    time_t now = time(NULL);
    /* Walk back from the newest to find the first to send. */
    size_t n = 0, chars = 0;
    while (n < r->hist_len && (long)n < maxstanzas) {
        muc_hist_t *e = &r->hist[(r->hist_head + r->hist_len - 1 - n) %
                                 r->hist_cap];
        if (seconds >= 0 && now - e->when > seconds)
            break;
        if (since >= 0 && e->when < since)
            break;
        if (maxchars >= 0) {
            if ((long)(chars + hist_chars(e)) > maxchars)
                break;
            chars += e->chars;
        }
        n++;
    }
    for (size_t i = r->hist_len - n; i < r->hist_len; i++) {
        muc_hist_t *e = &r->hist[(r->hist_head + i) % r->hist_cap];
        tn_stanza_t *m = tn_stanza_copy(e->msg);
        tn_stanza_set_attr(m, "to", to);
        char stamp[32];
        struct tm tm;
        gmtime_r(&e->when, &tm);
        strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
        tn_stanza_t *d = tn_stanza_add_child(m, "delay", TN_NS_DELAY);
        tn_stanza_set_attr(d, "from", r->jid);
        tn_stanza_set_attr(d, "stamp", stamp);
        room_send(r, m);
        tn_stanza_unref(m);
    }
}

static void subject_send(muc_room_t *r, const char *to)
{
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    char *from = r->subject_nick ? tn_sprintf("%s/%s", r->jid,
                                              r->subject_nick)
                                 : tn_strdup(r->jid);
    tn_stanza_set_attr(m, "from", from);
    tn_free(from);
    tn_stanza_set_attr(m, "to", to);
    tn_stanza_set_attr(m, "type", "groupchat");
    tn_stanza_t *s = tn_stanza_add_child(m, "subject", NULL);
    if (r->subject)
        tn_stanza_add_text(s, r->subject, strlen(r->subject));
    room_send(r, m);
    tn_stanza_unref(m);
}

/* ---- entering ----------------------------------------------------------- */

static void join_error(muc_room_t *r, tn_stanza_t *st, const char *type,
                       const char *cond)
{
    tn_log(TN_LOG_DEBUG, "muc: %s refused entry to %s: %s",
           r->jid, tn_stanza_attr(st, "from"), cond);
    tn_route_error(r->svc->srv, st, type, cond);
}

/* A further session `full` of occupant occ: it gets what an entering
 * occupant gets (the others' presence, occ's own with 110, history, the
 * subject); the others see nothing new. */
static void session_join(muc_room_t *r, muc_occ_t *occ, const char *full,
                         const tn_stanza_t *history)
{
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        if (e->value == occ)
            continue;
        tn_stanza_t *p = occ_presence(r, e->value, occ, 0, NULL, 0, NULL,
                                      NULL, NULL, NULL);
        tn_stanza_set_attr(p, "to", full);
        room_send(r, p);
        tn_stanza_unref(p);
    }
    occ_add_session(r, occ, full);
    tn_stanza_t *p = occ_presence(r, occ, occ, 0, NULL, 0, NULL, NULL, NULL,
                                  NULL);
    tn_stanza_set_attr(p, "to", full);
    room_send(r, p);
    tn_stanza_unref(p);
    tn_log(TN_LOG_DEBUG, "muc: %s joined %s as %s (another session)", full,
           r->jid, occ->nick);
    history_send(r, full, history);
    subject_send(r, full);
}

/* Session full of occ, which has others, leaves: only it is told (110,
 * with code, e.g. 333 for a bounce); the occupant stays. */
static void session_leave(muc_room_t *r, muc_occ_t *occ, const char *full,
                          int code, const tn_stanza_t *status)
{
    int codes[1] = {code};
    tn_stanza_t *p = occ_presence(r, occ, occ, 1, codes, code ? 1 : 0, NULL,
                                  NULL, NULL, NULL);
    tn_stanza_set_attr(p, "to", full);
    if (status)
        tn_stanza_add_copy(p, status);
    occ_drop_session(r, occ, full);
    room_send(r, p);
    tn_stanza_unref(p);
    tn_log(TN_LOG_DEBUG, "muc: %s left %s (%s stays)", full, r->jid,
           occ->nick);
}

static void room_join(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from,
                      const char *nick, int created)
{
    tn_stanza_t *x = tn_stanza_child(st, "x", MUC_NS);
    muc_aff_t aff = muc_room_aff(r, from->bare);
    if (r->locked && aff != MUC_AFF_OWNER)
        return join_error(r, st, TN_ERR_CANCEL, "item-not-found");
    if (aff == MUC_AFF_OUTCAST)
        return join_error(r, st, TN_ERR_AUTH, "forbidden");
    muc_occ_t *same = tn_hmap_get(&r->by_nick, nick);
    const char *holder = muc_reg_owner(r, nick);
    /* The same user from another client under the same nick joins that
     * occupant (a multi-session nick, as Prosody and ejabberd allow). */
    int attach = same && strcmp(same->bare, from->bare) == 0;
    /* 7.2.9, 7.11: a nick in use, or reserved by someone else. */
    if ((same && !attach) || (holder && strcmp(holder, from->bare) != 0))
        return join_error(r, st, TN_ERR_CANCEL, "conflict");
    if (r->cfg.members_only && aff < MUC_AFF_MEMBER)
        return join_error(r, st, TN_ERR_AUTH, "registration-required");
    if (r->cfg.password_protected && aff < MUC_AFF_OWNER) {
        char *pw = x ? tn_stanza_child_text(x, "password", MUC_NS) : NULL;
        int ok = pw && r->cfg.password && strcmp(pw, r->cfg.password) == 0;
        tn_free(pw);
        if (!ok)
            return join_error(r, st, TN_ERR_AUTH, "not-authorized");
    }
    if (attach)
        return session_join(r, same, from->full,
                            x ? tn_stanza_child(x, "history", MUC_NS)
                              : NULL);
    if (r->cfg.max_users > 0 && r->nocc >= (size_t)r->cfg.max_users &&
        aff < MUC_AFF_ADMIN)
        return join_error(r, st, TN_ERR_WAIT, "service-unavailable");

    muc_occ_t *occ = TN_NEW(muc_occ_t);
    occ->nick = tn_strdup(nick);
    occ->jid = tn_strdup(from->full);
    occ->bare = tn_strdup(from->bare);
    occ->role = muc_room_default_role(r, aff);
    occ->pres = keep_presence(st);
    occ_set_id(r, occ);

    /* 7.2.3: the others' presence to the newcomer first. */
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it)) {
        tn_stanza_t *p = occ_presence(r, e->value, occ, 0, NULL, 0, NULL,
                                      NULL, NULL, NULL);
        room_send(r, p);
        tn_stanza_unref(p);
    }
    tn_hmap_put(&r->by_nick, occ->nick, occ);
    tn_hmap_put(&r->by_jid, occ->jid, occ);
    r->nocc++;
    int codes[1] = {201};
    muc_room_broadcast_presence(r, occ, codes, created ? 1 : 0, NULL, NULL);
    tn_log(TN_LOG_DEBUG, "muc: %s entered %s as %s", from->full, r->jid,
           nick);
    if (!created)
        history_send(r, occ->jid, x ? tn_stanza_child(x, "history", MUC_NS)
                                    : NULL);
    subject_send(r, occ->jid);
}

static void nick_change(muc_room_t *r, muc_occ_t *occ, tn_stanza_t *st,
                        const char *nick)
{
    muc_occ_t *other = tn_hmap_get(&r->by_nick, nick);
    const char *holder = muc_reg_owner(r, nick);
    if (other || (holder && strcmp(holder, occ->bare) != 0))
        return join_error(r, st, TN_ERR_CANCEL, "conflict");
    int codes[1] = {303};
    broadcast_unavailable(r, occ, codes, 1, NULL, NULL, nick, NULL, NULL);
    tn_hmap_del(&r->by_nick, occ->nick);
    tn_free(occ->nick);
    occ->nick = tn_strdup(nick);
    tn_hmap_put(&r->by_nick, occ->nick, occ);
    tn_stanza_unref(occ->pres);
    occ->pres = keep_presence(st);
    muc_room_broadcast_presence(r, occ, NULL, 0, NULL, NULL);
}

void muc_room_presence(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from,
                       const tn_jid_t *to)
{
    const char *type = tn_stanza_attr(st, "type");
    muc_occ_t *occ = muc_room_occ_by_jid(r, from->full);
    if (type && strcmp(type, "unavailable") == 0) {
        if (!occ)
            return;
        if (occ->nmore)
            return session_leave(r, occ, from->full, 0,
                                 tn_stanza_child(st, "status",
                                                 TN_NS_CLIENT));
        occ_unlink(r, occ);
        broadcast_unavailable(r, occ, NULL, 0, NULL, NULL, NULL, NULL, st);
        /* and to the leaver itself, with 110 */
        tn_stanza_t *p = occ_presence(r, occ, NULL, 1, NULL, 0, NULL, NULL,
                                      NULL, NULL);
        tn_stanza_t *status = tn_stanza_child(st, "status", TN_NS_CLIENT);
        if (status)
            tn_stanza_add_copy(p, status);
        room_send(r, p);
        tn_stanza_unref(p);
        tn_log(TN_LOG_DEBUG, "muc: %s left %s", from->full, r->jid);
        occ_free(occ);
        muc_room_gc(r);
        return;
    }
    if (type && strcmp(type, "error") == 0) {
        /* 7.14 / RFC 6120: an occupant whose client bounces is gone. */
        if (occ && occ->nmore) {
            session_leave(r, occ, from->full, 333, NULL);
        } else if (occ) {
            muc_room_remove(r, occ, 333, NULL, NULL, NULL);
            muc_room_gc(r);
        }
        return;
    }
    if (type) /* subscriptions and probes mean nothing to a room */
        return;
    if (!occ) {
        room_join(r, st, from, to->resource, 0);
        muc_room_gc(r);
        return;
    }
    if (strcmp(occ->nick, to->resource) != 0) {
        nick_change(r, occ, st, to->resource);
        return;
    }
    tn_stanza_unref(occ->pres);
    occ->pres = keep_presence(st);
    muc_room_broadcast_presence(r, occ, NULL, 0, NULL, NULL);
}

void muc_room_create_join(muc_room_t *r, tn_stanza_t *st,
                          const tn_jid_t *from, const char *nick)
{
    muc_room_set_aff(r, from->bare, MUC_AFF_OWNER);
    r->locked = 1;
    room_join(r, st, from, nick, 1);
    muc_room_gc(r);
}

/* ---- messages ----------------------------------------------------------- */

/* Reflects a groupchat message from occ to every occupant. */
static void groupchat(muc_room_t *r, muc_occ_t *occ, tn_stanza_t *st)
{
    tn_stanza_t *m = tn_stanza_copy(st);
    char *from = tn_sprintf("%s/%s", r->jid, occ->nick);
    tn_stanza_set_attr(m, "from", from);
    tn_free(from);
    tn_stanza_t *old;
    while ((old = tn_stanza_child(m, "occupant-id", MUC_NS_OCCUPANT_ID)))
        tn_stanza_remove(m, old);
    tn_stanza_set_attr(tn_stanza_add_child(m, "occupant-id",
                                           MUC_NS_OCCUPANT_ID),
                       "id", occ->id);
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&r->by_nick, &it); e;
         e = tn_hmap_next(&r->by_nick, e, &it))
        m = muc_occ_deliver(r, m, e->value);
    if (tn_stanza_child(m, "body", TN_NS_CLIENT))
        history_add(r, m);
    tn_stanza_unref(m);
}

static void message_error(muc_room_t *r, tn_stanza_t *st, const char *type,
                          const char *cond)
{
    tn_route_error(r->svc->srv, st, type, cond);
}

/* 7.8.2: a mediated invitation, forwarded from the room. */
static void invite(muc_room_t *r, muc_occ_t *occ, tn_stanza_t *st,
                   tn_stanza_t *x, const tn_jid_t *from)
{
    muc_aff_t aff = muc_room_aff(r, from->bare);
    if (!occ || (!r->cfg.allow_invites && aff < MUC_AFF_ADMIN))
        return message_error(r, st, TN_ERR_AUTH, "forbidden");
    for (size_t i = 0; i < x->nkids; i++) {
        tn_stanza_t *inv = x->kids[i];
        if (!inv->name || strcmp(inv->name, "invite") != 0)
            continue;
        const char *to = tn_stanza_attr(inv, "to");
        tn_jid_t tj = {0};
        if (!to || tn_jid_parse(to, &tj) < 0) {
            tn_jid_release(&tj);
            return message_error(r, st, TN_ERR_MODIFY, "jid-malformed");
        }
        /* 7.8.2: in a members-only room an admin's invitation makes the
         * invitee a member. */
        if (r->cfg.members_only && aff >= MUC_AFF_ADMIN &&
            muc_room_aff(r, tj.bare) < MUC_AFF_MEMBER) {
            muc_room_set_aff(r, tj.bare, MUC_AFF_MEMBER);
            muc_room_save(r);
        }
        tn_stanza_t *ux;
        tn_stanza_t *m = room_message(r, tj.full, &ux);
        tn_stanza_t *ni = tn_stanza_add_child(ux, "invite", NULL);
        tn_stanza_set_attr(ni, "from", from->full);
        tn_stanza_t *reason = tn_stanza_child(inv, "reason", MUC_NS_USER);
        if (reason)
            tn_stanza_add_copy(ni, reason);
        if (r->cfg.password_protected && r->cfg.password) {
            tn_stanza_t *pw = tn_stanza_add_child(ux, "password", NULL);
            tn_stanza_add_text(pw, r->cfg.password, strlen(r->cfg.password));
        }
        /* XEP-0249-style hint many clients show */
        tn_stanza_t *c = tn_stanza_add_child(m, "x", MUC_NS_CONFERENCE);
        tn_stanza_set_attr(c, "jid", r->jid);
        room_send(r, m);
        tn_stanza_unref(m);
        tn_jid_release(&tj);
    }
}

/* 7.8.2: a decline goes back to the inviter through the room. */
static void decline(muc_room_t *r, tn_stanza_t *x, const tn_jid_t *from)
{
    tn_stanza_t *d = tn_stanza_child(x, "decline", MUC_NS_USER);
    const char *to = tn_stanza_attr(d, "to");
    tn_jid_t tj = {0};
    if (!to || tn_jid_parse(to, &tj) < 0) {
        tn_jid_release(&tj);
        return;
    }
    tn_stanza_t *ux;
    tn_stanza_t *m = room_message(r, tj.full, &ux);
    tn_stanza_t *nd = tn_stanza_add_child(ux, "decline", NULL);
    tn_stanza_set_attr(nd, "from", from->bare);
    tn_stanza_t *reason = tn_stanza_child(d, "reason", MUC_NS_USER);
    if (reason)
        tn_stanza_add_copy(nd, reason);
    room_send(r, m);
    tn_stanza_unref(m);
    tn_jid_release(&tj);
}

static void private_message(muc_room_t *r, muc_occ_t *occ, tn_stanza_t *st,
                            const tn_jid_t *to)
{
    const char *type = tn_stanza_attr(st, "type");
    if (type && strcmp(type, "groupchat") == 0)
        return message_error(r, st, TN_ERR_MODIFY, "bad-request");
    if (!occ)
        return message_error(r, st, TN_ERR_MODIFY, "not-acceptable");
    muc_occ_t *dest = tn_hmap_get(&r->by_nick, to->resource);
    if (!dest)
        return message_error(r, st, TN_ERR_CANCEL, "item-not-found");
    int ok = r->cfg.allow_pm == MUC_PM_ANYONE ||
             (r->cfg.allow_pm == MUC_PM_PARTICIPANTS &&
              occ->role >= MUC_ROLE_PARTICIPANT) ||
             (r->cfg.allow_pm == MUC_PM_MODERATORS &&
              occ->role == MUC_ROLE_MODERATOR);
    if (!ok)
        return message_error(r, st, TN_ERR_CANCEL, "not-allowed");
    tn_stanza_t *m = tn_stanza_copy(st);
    char *from = tn_sprintf("%s/%s", r->jid, occ->nick);
    tn_stanza_set_attr(m, "from", from);
    tn_free(from);
    if (!tn_stanza_child(m, "x", MUC_NS_USER))
        tn_stanza_add_child(m, "x", MUC_NS_USER);
    occ_send(r, m, dest);
}

void muc_room_message(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from,
                      const tn_jid_t *to)
{
    const char *type = tn_stanza_attr(st, "type");
    if (type && strcmp(type, "error") == 0) {
        /* A bounce from an occupant's client: it is gone (7.5). */
        muc_occ_t *gone = muc_room_occ_by_jid(r, from->full);
        if (gone && gone->nmore) {
            session_leave(r, gone, from->full, 333, NULL);
        } else if (gone) {
            muc_room_remove(r, gone, 333, NULL, NULL, NULL);
            muc_room_gc(r);
        }
        return;
    }
    muc_occ_t *occ = muc_room_occ_by_jid(r, from->full);
    if (to->resource)
        return private_message(r, occ, st, to);
    tn_stanza_t *ux = tn_stanza_child(st, "x", MUC_NS_USER);
    if (ux && tn_stanza_child(ux, "invite", MUC_NS_USER))
        return invite(r, occ, st, ux, from);
    if (ux && tn_stanza_child(ux, "decline", MUC_NS_USER))
        return decline(r, ux, from);
    if ((!type || strcmp(type, "normal") == 0) &&
        muc_voice_message(r, st, from))
        return;
    if (!type || strcmp(type, "groupchat") != 0)
        return message_error(r, st, TN_ERR_MODIFY, "bad-request");
    if (!occ)
        return message_error(r, st, TN_ERR_MODIFY, "not-acceptable");
    tn_stanza_t *subject = tn_stanza_child(st, "subject", TN_NS_CLIENT);
    if (subject && !tn_stanza_child(st, "body", TN_NS_CLIENT)) {
        /* 8.1: who may change the subject */
        if (occ->role < MUC_ROLE_MODERATOR &&
            !(r->cfg.change_subject && occ->role >= MUC_ROLE_PARTICIPANT))
            return message_error(r, st, TN_ERR_AUTH, "forbidden");
        tn_free(r->subject);
        tn_free(r->subject_nick);
        r->subject = tn_stanza_text(subject);
        r->subject_nick = tn_strdup(occ->nick);
        groupchat(r, occ, st);
        muc_room_save(r);
        return;
    }
    if (occ->role < MUC_ROLE_PARTICIPANT)
        return message_error(r, st, TN_ERR_AUTH, "forbidden");
    groupchat(r, occ, st);
}
