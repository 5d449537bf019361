/* muc.h -- the multi-user chat service (XEP-0045), shared by mod_muc.c
 * (the service: routing, discovery, persistence), muc_room.c (occupants:
 * entering, presence, messages, history) and muc_admin.c (roles,
 * affiliations, configuration, destruction).
 *
 * Model: a service owns rooms by localpart; a room owns its occupants by
 * nick (and by each real full JID: one user's clients may share a nick,
 * one occupant with several sessions), its affiliations by bare JID, its
 * configuration, subject and a ring of recent groupchat messages.
 * Persistent rooms are written to the store (map "muc" of user
 * <room>@<service>: key "room" holds the configuration and subject as
 * XML, keys "aff:<bare JID>" the affiliations, keys "nick:<bare JID>"
 * the nicks reserved by registration) and listed in the map
 * "muc_rooms" of user "@rooms"; they are read back at start. Everything
 * runs on the loop thread. */
#ifndef TN_MOD_MUC_H
#define TN_MOD_MUC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/module.h"
#include "util/hmap.h"
#include "xmpp/form.h"

#define MUC_NS "http://jabber.org/protocol/muc"
#define MUC_NS_USER "http://jabber.org/protocol/muc#user"
#define MUC_NS_ADMIN "http://jabber.org/protocol/muc#admin"
#define MUC_NS_OWNER "http://jabber.org/protocol/muc#owner"
#define MUC_NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"
#define MUC_NS_CONFERENCE "jabber:x:conference"
#define MUC_NS_REQUEST "http://jabber.org/protocol/muc#request"
#define MUC_NS_REGISTER "http://jabber.org/protocol/muc#register"

/* Ordered: a higher value has every power of a lower one. */
typedef enum {
    MUC_AFF_OUTCAST = 0,
    MUC_AFF_NONE,
    MUC_AFF_MEMBER,
    MUC_AFF_ADMIN,
    MUC_AFF_OWNER,
} muc_aff_t;

typedef enum {
    MUC_ROLE_NONE = 0,
    MUC_ROLE_VISITOR,
    MUC_ROLE_PARTICIPANT,
    MUC_ROLE_MODERATOR,
} muc_role_t;

/* Who may send private messages (muc#roomconfig_allowpm). */
typedef enum {
    MUC_PM_NONE = 0,
    MUC_PM_MODERATORS,
    MUC_PM_PARTICIPANTS,
    MUC_PM_ANYONE,
} muc_pm_t;

typedef struct muc_config {
    char *name;        /* owned, may be NULL */
    char *desc;        /* owned, may be NULL */
    char *password;    /* owned, may be NULL */
    int persistent;
    int public_;       /* listed in disco#items */
    int members_only;
    int moderated;
    int password_protected;
    int max_users;     /* 0: no limit */
    int whois_anyone;  /* 1 non-anonymous, 0 semi-anonymous */
    int history_len;   /* messages kept for new occupants */
    int allow_invites; /* occupants (not only admins) may invite */
    int change_subject;
    muc_pm_t allow_pm;
} muc_config_t;

typedef struct muc_occ {
    char *nick;          /* owned */
    char *jid;           /* owned real full JID: the occupant's first
                            session */
    char **more;         /* owned: the further sessions of the same bare
                            JID under this nick (multi-session nicks) */
    size_t nmore;
    char *bare;          /* owned real bare JID */
    muc_role_t role;
    tn_stanza_t *pres;   /* owned: the occupant's last presence, as sent */
    time_t voice_asked;  /* last voice request forwarded (7.13), or 0 */
    char id[24];         /* XEP-0421 occupant id */
} muc_occ_t;

typedef struct muc_hist {
    tn_stanza_t *msg; /* owned: the reflected message, without 'to' */
    time_t when;
    size_t chars;     /* its serialized size, for maxchars; 0: not
                         measured yet */
} muc_hist_t;

typedef struct muc_service muc_service_t;

typedef struct muc_room {
    muc_service_t *svc;
    char *node;          /* owned room localpart */
    char *jid;           /* owned room bare JID */
    muc_config_t cfg;
    int locked;          /* created, waiting for its owner's configuration */
    tn_hmap_t affs;      /* bare JID -> (void *)(uintptr_t)muc_aff_t */
    tn_hmap_t reg_nick;  /* bare JID -> its reserved nick (owned), 7.10 */
    tn_hmap_t reg_owner; /* reserved nick -> bare JID (owned) */
    tn_hmap_t by_nick;   /* nick -> muc_occ_t* (owned) */
    tn_hmap_t by_jid;    /* real full JID -> muc_occ_t* (borrowed) */
    size_t nocc;
    char *subject;       /* owned; NULL: never set */
    char *subject_nick;  /* owned; who set it */
    muc_hist_t *hist;    /* ring of cfg.history_len entries (owned) */
    size_t hist_cap, hist_len, hist_head;
    uint8_t secret[16];  /* keys the occupant ids */
} muc_room_t;

struct muc_service {
    tn_server_t *srv;
    char *host;          /* owned service domain */
    tn_hmap_t rooms;     /* localpart -> muc_room_t* (owned) */
    int create_rooms;    /* who may create: 1 any local user, 0 nobody */
    int max_history;     /* upper bound of history_len */
};

/* ---- mod_muc.c ---- */
/* Writes a persistent room (configuration, subject, affiliations), or
 * removes a room that is no longer persistent or was destroyed. */
void muc_room_save(muc_room_t *r);
void muc_room_forget(muc_room_t *r);

/* ---- muc_room.c ---- */
muc_room_t *muc_room_new(muc_service_t *svc, const char *node);
void muc_room_free(muc_room_t *r);
/* Removes r from its service and frees it if it is transient and empty. */
void muc_room_gc(muc_room_t *r);
muc_aff_t muc_room_aff(const muc_room_t *r, const char *bare);
void muc_room_set_aff(muc_room_t *r, const char *bare, muc_aff_t aff);
/* The role an affiliation gets on entering. */
muc_role_t muc_room_default_role(const muc_room_t *r, muc_aff_t aff);
muc_occ_t *muc_room_occ_by_jid(const muc_room_t *r, const char *full);
/* Sends m to every session of occupant `to`, setting 'to' for each;
 * returns the stanza to go on with (m, or a copy when the router kept m),
 * which the caller unrefs. */
tn_stanza_t *muc_occ_deliver(muc_room_t *r, tn_stanza_t *m,
                             const muc_occ_t *to);

/* The first presence to a room that does not exist yet: creates it with
 * the sender as owner, locked until configured (XEP-0045 10.1). */
void muc_room_create_join(muc_room_t *r, tn_stanza_t *st,
                          const tn_jid_t *from, const char *nick);
void muc_room_presence(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from,
                       const tn_jid_t *to);
void muc_room_message(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from,
                      const tn_jid_t *to);
/* Broadcasts occ's current presence to every occupant (status codes
 * added to every copy, self_codes only to occ's own). */
void muc_room_broadcast_presence(muc_room_t *r, muc_occ_t *occ,
                                 const int *codes, size_t ncodes,
                                 const char *actor, const char *reason);
/* Removes occ (kicked, banned, affiliation lost, destroyed): it and the
 * others get unavailable presence with the status code; then it is
 * freed. destroy (may be NULL) is a <destroy/> element to include. */
void muc_room_remove(muc_room_t *r, muc_occ_t *occ, int code,
                     const char *actor, const char *reason,
                     const tn_stanza_t *destroy);
/* A message from the room itself (status codes, no body) to everyone. */
void muc_room_notify(muc_room_t *r, const int *codes, size_t ncodes);
const char *muc_aff_name(muc_aff_t a);
const char *muc_role_name(muc_role_t r);
int muc_aff_parse(const char *s, muc_aff_t *out);
int muc_role_parse(const char *s, muc_role_t *out);

/* ---- muc_request.c ---- */
/* The nick bare reserved in r, or NULL; the bare JID that reserved nick,
 * or NULL. */
const char *muc_reg_nick(const muc_room_t *r, const char *bare);
const char *muc_reg_owner(const muc_room_t *r, const char *nick);
/* Reserves nick for bare (NULL: releases bare's nick). Not saved. */
void muc_reg_set(muc_room_t *r, const char *bare, const char *nick);
/* jabber:iq:register to the room (7.10). */
void muc_register_iq(muc_room_t *r, tn_event_t *ev);
/* disco#info node x-roomuser-item: the sender's reserved nick (7.11). */
void muc_reserved_nick_iq(muc_room_t *r, tn_event_t *ev);
/* A message to the room with a muc#request form: a visitor asking for
 * voice (7.13) or a moderator's answer (8.6). Returns 0 when st carries
 * no such form (not handled). */
int muc_voice_message(muc_room_t *r, tn_stanza_t *st, const tn_jid_t *from);

/* ---- muc_admin.c ---- */
/* Sets bare's affiliation, saves the room and applies the change to its
 * present occupants (removal with 301/321, new role broadcast). */
void muc_admin_set_aff(muc_room_t *r, const char *bare, muc_aff_t aff,
                       const char *actor, const char *reason);
void muc_admin_iq(muc_room_t *r, tn_event_t *ev);
void muc_owner_iq(muc_room_t *r, tn_event_t *ev);
/* The muc#roominfo / disco#info of a room. */
void muc_room_disco_info(muc_room_t *r, tn_stanza_t *query);
/* The room's configuration as XML for the store, and back. */
char *muc_config_to_xml(const muc_room_t *r);
int muc_config_from_xml(muc_room_t *r, const char *xml, size_t len);
void muc_config_release(muc_config_t *c);
/* Sets the defaults of a new room. */
void muc_config_defaults(muc_config_t *c);
/* Resizes the history ring after cfg.history_len changed. */
void muc_room_history_resize(muc_room_t *r);

#endif
