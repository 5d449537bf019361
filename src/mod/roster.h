/* roster.h -- the roster engine of mod_roster, for the modules built on it
 * (presence, blocking, later PEP): the in-memory roster of an account,
 * loaded from the store on first use and kept while anyone holds it, and
 * the subscription state changes of RFC 6121 3 applied to it (persisted
 * and pushed to interested resources). */
#ifndef TN_MOD_ROSTER_H
#define TN_MOD_ROSTER_H

#include "core/server.h"
#include "util/hmap.h"
#include "xmpp/sub.h"

typedef struct tn_roster_item {
    char *jid;           /* owned; the contact's bare JID */
    char *name;          /* owned or NULL */
    char **groups;       /* owned */
    size_t ngroups;
    tn_sub_state_t sub;
    int hidden;          /* only a pending-in request: not shown in the
                            roster until the user acts (RFC 6121 3.1.3) */
} tn_roster_item_t;

typedef struct tn_roster tn_roster_t;

/* Called with the loaded roster (held for the call; tn_roster_ref it to
 * keep it), or NULL when the store failed. */
typedef void (*tn_roster_cb)(void *ud, tn_roster_t *r);

/* Runs cb with the roster of user@host: at once when it is in memory (or
 * with NULL when mod_roster is not loaded), else after loading it from
 * the store. */
void tn_roster_use(tn_server_t *srv, const char *host, const char *user,
                   tn_roster_cb cb, void *ud);
void tn_roster_ref(tn_roster_t *r);
void tn_roster_unref(tn_roster_t *r);

/* The item for contact (a canonical bare JID), or NULL. Borrowed. */
tn_roster_item_t *tn_roster_find(tn_roster_t *r, const char *contact);
/* Calls cb for every item, hidden ones included. cb must not change the
 * roster (collect first, act after). */
typedef void (*tn_roster_item_cb)(void *ud, tn_roster_item_t *i);
void tn_roster_foreach(tn_roster_t *r, tn_roster_item_cb cb, void *ud);
/* The owner's bare JID. */
const char *tn_roster_owner(const tn_roster_t *r);

/* Applies subscription event ev for contact to r (creating a hidden or
 * visible item as the RFC wants), stores the change, pushes a visible
 * change to the owner's interested resources, and returns what the
 * caller must do next (route, deliver, auto-reply). */
tn_sub_result_t tn_roster_subscription(tn_server_t *srv, tn_roster_t *r,
                                       const char *contact,
                                       tn_sub_event_t ev);

#endif
