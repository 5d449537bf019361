/* listen.c -- listeners of one service and the shared accept step. */
#include <stdio.h>

#include "net/listen.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

static const char *listen_service_name(tn_service_t svc)
{
    return svc == TN_SVC_HTTP ? "http" : "c2s";
}

int tn_listeners_open(tn_server_t *srv, tn_service_t svc, uv_connection_cb cb,
                      tn_listeners_t *ls, char **err)
{
    const tn_config_t *cfg = srv->cfg;
    ls->v = tn_calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof *ls->v);
    ls->n = ls->open = 0;
    for (size_t i = 0; i < cfg->nlisten; i++) {
        const tn_listen_cfg_t *lc = &cfg->listen[i];
        if (lc->service != svc)
            continue;
        struct sockaddr_storage ss;
        if (uv_ip4_addr(lc->ip, lc->port, (struct sockaddr_in *)&ss) &&
            uv_ip6_addr(lc->ip, lc->port, (struct sockaddr_in6 *)&ss)) {
            *err = tn_sprintf("bad listen address %s", lc->ip);
            return TN_EIO;
        }
        tn_listener_t *l = &ls->v[ls->n++];
        l->srv = srv;
        l->lcfg = lc;
        l->set = ls;
        uv_tcp_init(srv->loop, &l->tcp);
        ls->open++;
        l->tcp.data = l;
        int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&l->tcp, 1024, cb);
        if (rc < 0) {
            *err = tn_sprintf("cannot listen on %s port %d: %s", lc->ip,
                              lc->port, uv_strerror(rc));
            return TN_EIO;
        }
        tn_log(TN_LOG_INFO, "%s listening on %s port %d (%s)",
               listen_service_name(svc), lc->ip, lc->port,
               lc->tls == TN_TLS_DIRECT ? "direct TLS"
               : lc->tls == TN_TLS_NONE ? "no TLS"
                                        : "STARTTLS");
    }
    return 0;
}

static void listen_closed(uv_handle_t *h)
{
    tn_listener_t *l = h->data;
    tn_listeners_t *ls = l->set;
    if (--ls->open == 0) {
        tn_free(ls->v);
        ls->v = NULL;
    }
}

void tn_listeners_close(tn_listeners_t *ls)
{
    size_t n = ls->n;
    ls->n = 0;
    if (ls->open == 0) {
        tn_free(ls->v);
        ls->v = NULL;
        return;
    }
    for (size_t i = 0; i < n; i++)
        uv_close((uv_handle_t *)&ls->v[i].tcp, listen_closed);
}

int tn_listener_accept(tn_listener_t *l, tn_conn_t *conn)
{
    if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&conn->tcp) < 0 ||
        tn_conn_start(conn) < 0 ||
        (l->lcfg->tls == TN_TLS_DIRECT &&
         tn_conn_start_tls(conn, l->tls ? l->tls : l->srv->tls) < 0)) {
        tn_conn_abort(conn);
        return -1;
    }
    return 0;
}
