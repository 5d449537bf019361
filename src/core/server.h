/* server.h -- the state of one node: loop, configuration, store, TLS
 * context, session table and loaded modules. One instance per process,
 * owned by main.c and touched only on the loop thread. */
#ifndef TN_CORE_SERVER_H
#define TN_CORE_SERVER_H

#include <time.h>
#include <uv.h>

#include "core/config.h"
#include "store/store.h"
#include "util/hmap.h"

struct ssl_ctx_st;
struct tn_modreg;
struct tn_stanza;
struct tn_jid;

typedef struct tn_server {
    uv_loop_t *loop;
    tn_config_t *cfg;           /* borrowed from main */
    tn_store_t *store;          /* owned */
    struct ssl_ctx_st *tls;     /* owned server TLS context */
    tn_hmap_t sessions;         /* full JID -> tn_sess_t* (borrowed) */
    tn_hmap_t users;            /* bare JID -> first tn_sess_t* */
    size_t nsessions;           /* bound sessions */
    tn_hmap_t authfail;         /* peer IP -> failed logins (c2s_sasl.c) */
    tn_hmap_t services;         /* domain -> tn_router_svc_t* (router.h) */
    tn_hmap_t iqs;              /* id -> the server's own pending IQ
                                   (iqreq.h) */
    struct tn_modreg *modreg;   /* owned; see module.c */
    /* The router's "another domain" destination (federation, net/s2s.h);
     * NULL: remote-server-not-found. Everything borrowed for the call. */
    void (*remote)(struct tn_server *srv, struct tn_stanza *st,
                   const struct tn_jid *from, const struct tn_jid *to);
    unsigned char secret[32];   /* random per start: fake SCRAM salts */
    time_t started;             /* wall clock at start */
    int stopping;               /* set by SIGTERM/SIGINT */
} tn_server_t;

#endif
