/* pep.h -- the Personal Eventing Protocol (XEP-0163), shared by mod_pep.c
 * (every account's PEP service: loading, requests, notifications, last
 * items) and pep_caps.c (who is interested in what: XEP-0115 hashes seen
 * in presence, the disco#info queries that resolve them, the cache of
 * their +notify features). */
#ifndef TN_MOD_PEP_H
#define TN_MOD_PEP_H

#include "core/server.h"
#include "mod/pubsub.h"

/* ---- pep_caps.c ---- */
void pep_caps_init(tn_server_t *srv);
void pep_caps_release(void);
/* Available presence from full JID `full` seen by the account `owner`
 * (a contact's broadcast, or the owner's own): ver is its sha-1 caps
 * hash with the caps node, or NULL (no usable caps). Unavailable: ver
 * NULL and gone 1. */
void pep_caps_presence(const char *owner, const char *full, const char *node,
                       const char *ver, int gone);
/* The account's resources and contacts' resources currently interested
 * in `node` (their caps list node+notify): calls cb for each full JID. */
typedef void (*pep_interested_cb)(void *ud, const char *full);
void pep_caps_interested(const char *owner, const char *node,
                         pep_interested_cb cb, void *ud);
/* 1 when full's caps (as recorded for owner) list node+notify. */
int pep_caps_wants(const char *owner, const char *full, const char *node);

/* ---- mod_pep.c ---- */
/* Runs cb with owner's PEP service (NULL when it cannot be read or PEP is
 * not loaded), now or once loaded. svc is valid during the call only. */
typedef void (*pep_svc_cb)(void *ud, ps_service_t *svc);
void pep_with(const char *owner, pep_svc_cb cb, void *ud);
/* Runs the pubsub request iq (a set or get from owner's bare JID, with a
 * pubsub payload) on owner's service as the owner would, with every
 * notification, but without sending replies: the server's own
 * conversions. done (may be NULL) gets the error condition or NULL. */
typedef void (*pep_done_cb)(void *ud, const char *failed);
/* During a change listener run for a client's request: the local session
 * that sent it (hold it to keep its later stanzas waiting until the
 * listener's own work is done), else NULL. */
tn_sess_t *pep_current_session(void);
void pep_run(const char *owner, tn_stanza_t *iq, pep_done_cb done, void *ud);
/* Sends full the last item of every node of owner it is interested in
 * (caps known now). */
void pep_send_last_items(const char *owner, const char *full);

#endif
