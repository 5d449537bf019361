/* pubsub.h -- the publish-subscribe engine (XEP-0060) shared by the pubsub
 * service on a domain of its own (mod_pubsub.c) and the personal eventing
 * service of every account (XEP-0163, mod_pep.c).
 *
 * Model: a service (a domain, or an account's bare JID) owns nodes by
 * name; a node owns its configuration, affiliations by bare JID, its
 * subscriptions (a JID, bare or full, with a subscription id and a state)
 * and its items, oldest first. Everything lives on the loop thread.
 *
 * Files: pubsub_node.c (configuration, forms, access rules),
 * pubsub_store.c (persistence and loading), pubsub_iq.c (the protocol:
 * the pubsub and pubsub#owner IQs and disco of nodes), pubsub_notify.c
 * (event notifications and the last item).
 *
 * Store: map "pubsub" of (host, user) -- the service domain with user
 * "@pubsub", or the account itself for PEP. Keys: "n:<node>" the
 * configuration (a submitted node_config form), "a:<len>:<node><jid>" an
 * affiliation, "s:<len>:<node><subid>" a subscription,
 * "i:<len>:<node><id>" a persistent item (with a seq attribute that
 * orders them); <len> is the node name's length in bytes. */
#ifndef TN_MOD_PUBSUB_H
#define TN_MOD_PUBSUB_H

#include <stddef.h>

#include "core/module.h"
#include "mod/roster.h"
#include "util/hmap.h"

#define PS_NS "http://jabber.org/protocol/pubsub"
#define PS_NS_OWNER "http://jabber.org/protocol/pubsub#owner"
#define PS_NS_EVENT "http://jabber.org/protocol/pubsub#event"
#define PS_NS_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define PS_NS_RSM "http://jabber.org/protocol/rsm"
#define PS_FORM_CONFIG "http://jabber.org/protocol/pubsub#node_config"
#define PS_FORM_PUBOPTS "http://jabber.org/protocol/pubsub#publish-options"
#define PS_FORM_SUBOPTS "http://jabber.org/protocol/pubsub#subscribe_options"
#define PS_FORM_AUTH "http://jabber.org/protocol/pubsub#subscribe_authorization"
#define PS_FORM_META "http://jabber.org/protocol/pubsub#meta-data"
#define PS_STORE_MAP "pubsub"
#define PS_SERVICE_USER "@pubsub"

typedef enum {
    PS_AFF_OUTCAST = 0,
    PS_AFF_NONE,
    PS_AFF_MEMBER,
    PS_AFF_PUBLISH_ONLY,
    PS_AFF_PUBLISHER,
    PS_AFF_OWNER,
} ps_aff_t;

typedef enum {
    PS_ACCESS_OPEN = 0,
    PS_ACCESS_PRESENCE,
    PS_ACCESS_ROSTER,
    PS_ACCESS_WHITELIST,
    PS_ACCESS_AUTHORIZE,
} ps_access_t;

typedef enum {
    PS_PUBLISH_PUBLISHERS = 0,
    PS_PUBLISH_SUBSCRIBERS,
    PS_PUBLISH_OPEN,
} ps_pubmodel_t;

typedef enum {
    PS_LAST_NEVER = 0,
    PS_LAST_ON_SUB,
    PS_LAST_ON_SUB_AND_PRESENCE,
} ps_sendlast_t;

typedef enum {
    PS_SUB_NONE = 0,
    PS_SUB_PENDING,
    PS_SUB_UNCONFIGURED,
    PS_SUB_SUBSCRIBED,
} ps_substate_t;

typedef struct ps_config {
    char *title; /* owned, may be NULL */
    char *type;  /* owned pubsub#type (payload namespace), or NULL */
    ps_access_t access;
    ps_pubmodel_t publish_model;
    int persist;   /* persist_items */
    int max_items; /* 1.. the service bound */
    int deliver_payloads;
    int deliver_notifications;
    int notify_retract;
    int notify_delete;
    int notify_config;
    int notify_sub; /* subscription notifications to owners */
    int headline;   /* notification_type: 1 headline, 0 normal */
    ps_sendlast_t send_last;
    char **groups; /* owned roster_groups_allowed */
    size_t ngroups;
} ps_config_t;

typedef struct ps_item {
    char *id;          /* owned */
    char *publisher;   /* owned bare JID of the publisher */
    tn_stanza_t *item; /* owned <item id publisher> with the payload */
    long long seq;     /* publication order */
    size_t bytes;      /* its serialized size (memory accounting) */
} ps_item_t;

typedef struct ps_sub {
    char *jid;   /* owned, canonical (bare or full) */
    char *subid; /* owned */
    ps_substate_t state;
    int deliver; /* pubsub#deliver option */
} ps_sub_t;

typedef struct ps_service ps_service_t;

typedef struct ps_node {
    ps_service_t *svc;
    char *name; /* owned */
    ps_config_t cfg;
    tn_hmap_t affs;  /* bare JID -> (void *)(uintptr_t)(aff + 1) */
    ps_sub_t **subs; /* owned array */
    size_t nsubs;
    ps_item_t **items; /* owned array, oldest first */
    size_t nitems;
    long long seq; /* the last item's seq */
} ps_node_t;

struct ps_service {
    tn_server_t *srv;
    char *jid;         /* owned: the service domain or the owner's bare
                          JID */
    char *host, *user; /* owned store coordinates */
    int pep;           /* an account's PEP service */
    int max_items;     /* bound for pubsub#max_items ('max') */
    int max_nodes;     /* nodes one entity may own here (PEP: in all);
                          0: no bound */
    tn_hmap_t nodes;   /* name -> ps_node_t* (owned) */
};

/* ---- pubsub_node.c ---- */
void ps_config_defaults(const ps_service_t *svc, ps_config_t *c);
void ps_config_copy(const ps_config_t *from, ps_config_t *to);
void ps_config_release(ps_config_t *c);
/* The node_config form (type form, or result/submit) of c; caller owns. */
tn_stanza_t *ps_config_form(const ps_service_t *svc, const ps_config_t *c,
                            const char *type);
/* Applies a submitted node_config (or publish-options) form x to c. Fields
 * it does not know are ignored; returns 0, or -1 with *bad naming the
 * field whose value is not acceptable. */
int ps_config_apply(const ps_service_t *svc, ps_config_t *c,
                    const tn_stanza_t *x, const char **bad);
/* publish-options (XEP-0060 7.1.5): 0 when every field of x matches
 * node's configuration, -1 otherwise. */
int ps_config_matches(const ps_node_t *node, const tn_stanza_t *x);

ps_node_t *ps_node_new(ps_service_t *svc, const char *name);
void ps_node_free(ps_node_t *n);
ps_aff_t ps_node_aff(const ps_node_t *n, const char *bare);
/* Sets (PS_AFF_NONE removes) bare's affiliation. */
void ps_node_set_aff(ps_node_t *n, const char *bare, ps_aff_t a);
const char *ps_aff_name(ps_aff_t a);
int ps_aff_parse(const char *s, ps_aff_t *out);
const char *ps_substate_name(ps_substate_t s);
ps_sub_t *ps_node_sub_by_id(const ps_node_t *n, const char *subid);
/* The subscriptions of jid (exact), count in *n; first one returned. */
ps_sub_t *ps_node_sub_of(const ps_node_t *n, const char *jid, size_t *count);
ps_sub_t *ps_node_sub_add(ps_node_t *n, const char *jid, ps_substate_t st);
void ps_node_sub_del(ps_node_t *n, ps_sub_t *s);
ps_item_t *ps_node_item(const ps_node_t *n, const char *id);
/* Adds or replaces (moving it to newest) an item; takes item. Trims to
 * max_items; the trimmed items are handed to gone (may be NULL) before
 * being freed. */
ps_item_t *ps_node_publish(ps_node_t *n, const char *id, const char *publisher,
                           tn_stanza_t *item,
                           void (*gone)(ps_node_t *, ps_item_t *));
void ps_node_item_del(ps_node_t *n, ps_item_t *it);
void ps_item_free(ps_item_t *it);
/* Drops items beyond max_items (oldest first), handing each to gone. */
void ps_node_trim(ps_node_t *n, void (*gone)(ps_node_t *, ps_item_t *));

/* Access: may `who` (a full or bare JID) see (subscribe, retrieve) node?
 * roster is the owner's roster when the model needs it (presence,
 * roster), else NULL. Returns NULL when allowed, else sets *type and
 * *app (the pubsub#errors condition, or NULL) and returns the RFC 6120
 * condition. PS_NEED_ROSTER when the answer needs the roster and roster
 * is NULL. */
extern const char PS_NEED_ROSTER[];
const char *ps_access_check(const ps_node_t *n, const tn_jid_t *who,
                            tn_roster_t *roster, int have_roster,
                            const char **type, const char **app);
/* The bare JID whose roster the presence/roster models consult: the PEP
 * owner, or the first owner of the node that is a local account; NULL
 * when there is none. */
const char *ps_node_roster_owner(const ps_node_t *n);

/* ---- pubsub_store.c ---- */
void ps_store_node(ps_node_t *n); /* configuration */
void ps_store_aff(ps_node_t *n, const char *bare, ps_aff_t a);
void ps_store_sub(ps_node_t *n, const ps_sub_t *s, int del);
/* Writes (or deletes) a persistent item; also sets it->bytes. */
void ps_store_item(ps_node_t *n, ps_item_t *it, int del);
/* Deletes everything of the node (items, subscriptions, affiliations,
 * configuration) from the store. */
void ps_store_node_del(ps_node_t *n);
/* Loads svc's nodes from the store; done(ud, svc, status) runs later. */
typedef void (*ps_loaded_cb)(void *ud, ps_service_t *svc, int status);
int ps_store_load(ps_service_t *svc, ps_loaded_cb done, void *ud);

ps_service_t *ps_service_new(tn_server_t *srv, const char *jid,
                             const char *host, const char *user, int pep,
                             int max_items);
void ps_service_free(ps_service_t *svc);

/* ---- pubsub_iq.c ---- */
/* One request being handled: the IQ, who sent it, the service. */
typedef struct ps_req {
    tn_server_t *srv;
    ps_service_t *svc;
    tn_stanza_t *iq;     /* owned ref */
    tn_jid_t from;       /* owned copy */
    tn_roster_t *roster; /* owned ref, when fetched for an access check */
    int have_roster;
    /* Called when the service creates a node or must auto-create one
     * (PEP); NULL: nodes are created only by <create/>. */
    void (*done)(struct ps_req *r);
    void *ud;
    int quiet;          /* a server-side request: no replies routed */
    const char *failed; /* the error condition it ended with, or NULL */
} ps_req_t;

/* Handles an IQ get/set in the pubsub, pubsub#owner, disco#info or
 * disco#items namespace addressed to svc (disco only with a node). May
 * finish later (roster lookups): r is then kept and freed by the engine.
 * Takes r. */
void ps_handle_iq(ps_req_t *r);
ps_req_t *ps_req_new(tn_server_t *srv, ps_service_t *svc, tn_stanza_t *iq,
                     const tn_jid_t *from);
void ps_req_free(ps_req_t *r);
/* An authorization form (XEP-0060 8.6) submitted in a message by an
 * owner; returns 1 when msg was one. */
int ps_handle_auth_message(ps_service_t *svc, tn_stanza_t *msg,
                           const tn_jid_t *from);
/* Adds the pubsub features of svc to a disco#info <query/>. */
void ps_disco_features(const ps_service_t *svc, tn_stanza_t *query);
/* The features both services advertise (NULL-terminated, without the
 * "http://jabber.org/protocol/pubsub#" prefix). */
extern const char *const ps_features[];

/* Listeners told of changes to PEP nodes (the conversions of XEP-0398
 * and XEP-0411/0402): after an item was published (it set), retracted
 * (it NULL, id set) or the node purged or deleted (both NULL);
 * by_server: the change came from a server-side request (pep_run), i.e.
 * a conversion, which the converters do not convert back. At most
 * PS_MAX_LISTENERS. */
#define PS_MAX_LISTENERS 4
typedef void (*ps_change_cb)(ps_node_t *n, const ps_item_t *it, const char *id,
                             int by_server);
void ps_listen(ps_change_cb cb);

/* ---- pubsub_notify.c ---- */
/* Hooks a service may set: extra recipients (PEP: contacts interested by
 * caps). Called for every notification with the event message (without
 * 'to'); the callee routes copies. */
typedef void (*ps_extra_cb)(ps_node_t *n, tn_stanza_t *msg, tn_hmap_t *sent);
extern ps_extra_cb ps_notify_extra;
/* Event notifications of an item published or retracted, a node deleted
 * (redirect may be NULL), purged or reconfigured. */
void ps_notify_items(ps_node_t *n, const ps_item_t *it);
void ps_notify_retract(ps_node_t *n, const char *id);
void ps_notify_delete(ps_node_t *n, const char *redirect);
void ps_notify_purge(ps_node_t *n);
void ps_notify_config(ps_node_t *n);
/* A subscription state change (XEP-0060 8.8.4 / 6.1.7) to the subscriber. */
void ps_notify_subscription(ps_node_t *n, const ps_sub_t *s);
/* The last item of n (when any) to jid, as a notification. */
void ps_send_last(ps_node_t *n, const char *jid);
/* The authorization form for a pending subscription, to the owners. */
void ps_send_auth_request(ps_node_t *n, const ps_sub_t *s);
/* An <event><items node><item/></items></event> message from the service
 * (no 'to'); caller owns. */
tn_stanza_t *ps_event_message(ps_node_t *n, const ps_item_t *it);

#endif
