/* listen.h -- the TCP listeners of one service (c2s, http) from the
 * configuration, and the accept step they share. */
#ifndef TN_NET_LISTEN_H
#define TN_NET_LISTEN_H

#include <uv.h>

#include "core/config.h"
#include "core/server.h"
#include "net/conn.h"

typedef struct tn_listeners tn_listeners_t;

typedef struct tn_listener {
    uv_tcp_t tcp;
    tn_server_t *srv;
    const tn_listen_cfg_t *lcfg;
    tn_listeners_t *set;
    SSL_CTX *tls;   /* for direct TLS: NULL is srv->tls (c2s, http) */
} tn_listener_t;

struct tn_listeners {
    tn_listener_t *v; /* owned */
    size_t n;         /* listening */
    size_t open;      /* handles not yet closed */
};

/* Starts every listener of service svc in srv->cfg; cb runs for each
 * connection (server->data is the tn_listener_t). Returns 0, or TN_EIO
 * with *err (fresh) naming the address that could not be bound. */
int tn_listeners_open(tn_server_t *srv, tn_service_t svc, uv_connection_cb cb,
                      tn_listeners_t *ls, char **err);
/* Stops accepting; the memory goes when the last handle has closed. */
void tn_listeners_close(tn_listeners_t *ls);

/* Accepts the pending connection of l into conn (fresh from tn_conn_new
 * on l->srv->loop), starts reading, and starts TLS at once on a
 * direct-TLS listener. Returns 0, or -1 after aborting conn (its
 * ops->closed still runs). */
int tn_listener_accept(tn_listener_t *l, tn_conn_t *conn);

#endif
