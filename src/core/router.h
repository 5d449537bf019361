/* router.h -- decides where a stanza goes (DESIGN.md "The way a stanza
 * travels"):
 *   local session   a full JID bound here; a bare JID by RFC 6121 rules
 *   local service   the server itself (IQ handlers of loaded modules)
 *   offline         message for a local user with no session (seam:
 *                   router_offline in router.c; the IM issue fills it)
 *   another node    (seam: router_other_node; clustering fills it)
 *   another domain  (seam: router_remote; federation fills it)
 * Stanzas arrive with 'from' stamped by the session layer. */
#ifndef TN_CORE_ROUTER_H
#define TN_CORE_ROUTER_H

#include "core/server.h"
#include "core/session.h"
#include "xml/stanza.h"

/* Routes st (not stolen). sess is the local session it came from, or NULL
 * when the server itself is the sender. Errors go back to the sender as
 * stanza errors; nothing is reported to the caller. */
void tn_route(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess);

/* Routes st like tn_route but without the sender's side (the
 * TN_HOOK_STANZA_OUT and TN_HOOK_PRESENCE_OUT hooks), which already ran:
 * for a filter that held st back (TN_DROP) while it fetched what it needed
 * and now lets it go on. sess is the session it came from (NULL: the
 * server, or a session gone meanwhile). */
void tn_route_resume(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess);

/* A service with a domain of its own (e.g. the MUC service
 * conference.example.org): every stanza to that domain or a JID in it is
 * handed to cb after the sender's side ran, instead of being routed to
 * another server. from and to are parsed and canonical; sess is the local
 * session it came from, or NULL. Everything is borrowed for the call. */
typedef void (*tn_service_cb)(void *ud, tn_stanza_t *st, const tn_jid_t *from,
                              const tn_jid_t *to, tn_sess_t *sess);
typedef struct tn_router_svc {
    tn_service_cb cb;
    void *ud;
} tn_router_svc_t;
/* Registers (or, with cb NULL, removes) the service for domain. */
void tn_router_service(tn_server_t *srv, const char *domain, tn_service_cb cb,
                       void *ud);

/* Sends the stanza error type/cond for st back to its sender. */
void tn_route_error(tn_server_t *srv, const tn_stanza_t *st,
                    const char *type, const char *cond);

#endif
