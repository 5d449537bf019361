/* iqreq.h -- IQs the server itself sends and waits for (RFC 6120 8.2.3:
 * every get/set is answered by one result or error with the same id).
 * Modules ask (mod_pep's disco#info queries for XEP-0115 hashes); the
 * router hands back results and errors addressed to a served host or to
 * a local account's bare JID, which is where the requests come from. */
#ifndef TN_CORE_IQREQ_H
#define TN_CORE_IQREQ_H

#include "core/server.h"
#include "xml/stanza.h"
#include "xmpp/jid.h"

/* reply: the result or error (borrowed for the call), or NULL when none
 * came within the timeout or the server is stopping. */
typedef void (*tn_iq_cb)(void *ud, tn_stanza_t *reply);

/* Routes iq (a get or set with 'from' and 'to'; its 'id' is replaced by a
 * fresh one) and calls cb exactly once, later: with the answer from iq's
 * 'to' (an answer from any other address is not taken), or with NULL after
 * timeout_ms. Pending requests do not keep the loop alive. */
void tn_iq_request(tn_server_t *srv, tn_stanza_t *iq, unsigned timeout_ms,
                   tn_iq_cb cb, void *ud);
/* For the router: st is an IQ result or error to the server or a bare JID.
 * Returns 1 when it answered a pending request (cb has run), else 0. */
int tn_iq_response(tn_server_t *srv, tn_stanza_t *st, const tn_jid_t *from);
/* At shutdown, before modules unload: every pending cb runs with NULL. */
void tn_iq_cancel_all(tn_server_t *srv);

#endif
