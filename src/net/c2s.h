/* c2s.h -- client-to-server streams (RFC 6120): listeners and sessions. */
#ifndef TN_NET_C2S_H
#define TN_NET_C2S_H

#include "core/server.h"

/* Starts every c2s listener of srv->cfg. Returns 0, or TN_EIO with *err
 * (fresh) naming the address that could not be bound. */
int tn_c2s_listen(tn_server_t *srv, char **err);
/* Stops accepting (closes the listeners). */
void tn_c2s_unlisten(tn_server_t *srv);
/* Closes every c2s stream, bound or not, with the stream error cond (NULL:
 * a plain </stream:stream>), for shutdown. */
void tn_c2s_close_all(tn_server_t *srv, const char *cond);
/* Frees the per-IP failed-login table (at exit). */
void tn_c2s_authfail_release(tn_server_t *srv);
/* Number of c2s connections still open (closing ones included). */
size_t tn_c2s_count(void);

#endif
