/* resolve.h -- asynchronous DNS for federation (c-ares on the loop):
 * the XMPP server SRV records of a domain (RFC 6120 3.2.1, with the
 * direct-TLS records of XEP-0368), ordered by priority and weight
 * (RFC 2782), and the addresses of a host.
 *
 * With configured servers only those are asked: no resolv.conf, no hosts
 * file, no search domains; every name is looked up as an absolute name. */
#ifndef TN_NET_RESOLVE_H
#define TN_NET_RESOLVE_H

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

typedef struct tn_resolver tn_resolver_t;
typedef struct tn_dns_req tn_dns_req_t;

/* One place to connect to for a domain. */
typedef struct tn_srv_target {
    char *host; /* owned by the array */
    int port;
    int direct_tls; /* from _xmpps-server._tcp (XEP-0368) */
} tn_srv_target_t;

/* servers: "ip", "ip:port", "[ip6]:port" (n may be 0: the system's
 * configuration). Returns NULL with *err (fresh) on failure. */
tn_resolver_t *tn_resolver_new(uv_loop_t *loop, char *const *servers, size_t n,
                               char **err);
/* Cancels what is pending (no callback runs) and frees the resolver once
 * its handles have closed. */
void tn_resolver_free(tn_resolver_t *r);

/* status 0 with the targets in the order to try them (the array and its
 * hosts are freed after the callback returns; n may be 0 when the domain
 * says it offers no service, RFC 2782 "."), or TN_ENOTFOUND when no SRV
 * record exists (the caller then tries the domain on 5269), or
 * TN_EIO / TN_ETIMEDOUT. */
typedef void (*tn_srv_cb)(void *ud, int status, const tn_srv_target_t *t,
                          size_t n);
/* A and AAAA of a host: status 0 with n >= 1 addresses carrying port, or
 * TN_ENOTFOUND / TN_EIO / TN_ETIMEDOUT. */
typedef void (*tn_addr_cb)(void *ud, int status,
                           const struct sockaddr_storage *addrs, size_t n);

/* Both run cb exactly once unless cancelled: usually later, but c-ares
 * may fail a query at once, inside the call. *slot holds the request
 * while it is pending and is set to NULL before cb runs, so the caller
 * can always tell (and cancel) what is pending through it. */
void tn_resolve_srv(tn_resolver_t *r, const char *domain, tn_srv_cb cb,
                    void *ud, tn_dns_req_t **slot);
void tn_resolve_addr(tn_resolver_t *r, const char *host, int port,
                     tn_addr_cb cb, void *ud, tn_dns_req_t **slot);
/* The callback of q will not run (q may be NULL). */
void tn_dns_cancel(tn_dns_req_t *q);

/* Orders SRV targets in place by RFC 2782: ascending priority; within a
 * priority a weighted random order (weights in w, parallel to t; zero
 * weights get a small chance). Exposed for unit tests. */
void tn_srv_order(tn_srv_target_t *t, unsigned *prio, unsigned *w, size_t n);

#endif
