/* s2s.h -- federation: server-to-server streams (RFC 6120 with
 * jabber:server, XEP-0220 Server Dialback with XEP-0185 keys, XEP-0368
 * direct TLS, XEP-0178 SASL EXTERNAL). The router's "another domain"
 * destination (srv->remote) is filled here. */
#ifndef TN_NET_S2S_H
#define TN_NET_S2S_H

#include <stddef.h>

#include "core/server.h"

/* Sets up TLS, the resolver and the s2s listeners, and takes over
 * srv->remote; does nothing when no s2s listener is configured (no
 * federation). Returns 0, or TN_EIO with *err (fresh). */
int tn_s2s_start(tn_server_t *srv, char **err);
/* Shutdown: stops listening, ends every s2s stream with system-shutdown
 * (stanzas still queued are dropped, logged) and frees the resolver. */
void tn_s2s_shutdown(tn_server_t *srv);
/* s2s connections still open (closing ones included). */
size_t tn_s2s_count(void);
/* At exit, after the loop has run dry: frees the TLS contexts. */
void tn_s2s_release(tn_server_t *srv);

#endif
