/* http.h -- the HTTP/1.1 server inside ternd (RFC 9112), on the same loop
 * and TLS layer as c2s: `service: http` listeners, plain or direct TLS.
 * Requests are parsed with http-parser and dispatched by exact path to a
 * handler (WebSocket, BOSH, host-meta; later upload, metrics, admin).
 *
 * A connection handles one request at a time: keep-alive and pipelining
 * (further requests wait, already read, until the current one has been
 * answered); a bound on the bytes of a request (431 for headers, 413 for
 * a body); request_timeout seconds to send a request and of keep-alive
 * idleness (408 for a started request); clear 4xx answers for the rest.
 * X-Forwarded-For is believed only from http.trusted_proxies.
 *
 * A handler answers at once with tn_http_respond, or later (BOSH holds
 * requests): the request is then held and, if the client goes first,
 * req->abort runs and the request is freed. A WebSocket handler takes the
 * connection over with tn_http_upgrade. */
#ifndef TN_NET_HTTP_H
#define TN_NET_HTTP_H

#include <stddef.h>

#include "core/config.h"
#include "core/server.h"
#include "net/conn.h"
#include "util/buf.h"

typedef struct tn_http_req tn_http_req_t;
typedef struct http_conn http_conn_t;

struct tn_http_req {
    tn_server_t *srv;
    const tn_listen_cfg_t *lcfg; /* the listener it came through */
    const char *method;          /* "GET", "POST", ... */
    char *path;                  /* owned; the URL's path, without the query */
    tn_buf_t body;
    char peer[64];        /* "ip:port" of the client; a trusted proxy's
                           * X-Forwarded-For gives "ip:0" */
    unsigned secure : 1;  /* TLS, or a trusted proxy (which terminated
                           * TLS in front of us) */
    unsigned tls : 1;     /* this connection is TLS */
    unsigned upgrade : 1; /* Connection: upgrade with an Upgrade header */
    /* A handler that keeps the request unanswered sets abort: it runs if
     * the client goes first, and the request is freed after it. */
    void (*abort)(tn_http_req_t *req);
    /* And may set hurry: it runs when another request arrives behind this
     * one on its connection (pipelining), which cannot be answered before
     * this one is: the handler should answer now if it can. */
    void (*hurry)(tn_http_req_t *req);
    void *ud; /* the handler's */
    /* private */
    http_conn_t *hc;
    tn_buf_t hdrs; /* "name\0value\0" pairs, names lower-cased */
    int status;    /* answered with (for the log) */
};

/* The value of header lname (lower case), or NULL. With repeated headers,
 * the first. */
const char *tn_http_header(const tn_http_req_t *req, const char *lname);
/* 1 when header lname holds token among its comma-separated values
 * (case-insensitive). */
int tn_http_header_has(const tn_http_req_t *req, const char *lname,
                       const char *token);
/* 1 when the request's Origin is allowed by http.origins (or absent). */
int tn_http_origin_ok(const tn_http_req_t *req);
/* Answers and frees req. headers: further "Name: value\r\n" lines, or
 * NULL. Adds Content-Length, CORS when the request came with an allowed
 * Origin, and Connection: close when the connection ends after it. */
void tn_http_respond(tn_http_req_t *req, int status, const char *ctype,
                     const char *headers, const char *body, size_t len);
/* Writes the handler's raw response head (a 101) and takes the
 * connection away from the HTTP server; bytes the client sent after the
 * request are appended to rest. Frees req. The caller sets conn->ops and
 * conn->ud before returning to the loop. */
tn_conn_t *tn_http_upgrade(tn_http_req_t *req, const char *head, size_t len,
                           tn_buf_t *rest);

/* Normalizes a request path in place (http.c; exported for tests).
 * Returns 0, or -1 for a path to refuse with 400. */
int tn_http_normalize_path(char *path);

int tn_http_listen(tn_server_t *srv, char **err);
void tn_http_unlisten(tn_server_t *srv);
/* Closes every HTTP connection (held requests are aborted), for
 * shutdown. */
void tn_http_close_all(tn_server_t *srv);
/* HTTP connections still open (upgraded ones are no longer counted). */
size_t tn_http_count(void);

/* The endpoints (bosh.c, ws.c, hostmeta.c). */
void tn_bosh_request(tn_http_req_t *req);
void tn_ws_request(tn_http_req_t *req);
void tn_hostmeta_request(tn_http_req_t *req);
/* Frees the BOSH session table (at exit, after the last session). */
void tn_bosh_release(void);

#endif
