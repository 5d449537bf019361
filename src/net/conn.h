/* conn.h -- one TCP connection on the loop, optionally under TLS through
 * OpenSSL memory BIOs (STARTTLS or direct TLS). Delivers plaintext to its
 * owner and takes plaintext to send; knows nothing of XML or XMPP.
 *
 * Output is batched per loop turn: writes append to `plain` (TLS) or
 * `pend` (plain TCP) and mark the connection dirty; a uv_check handle,
 * which runs once per loop iteration after the I/O callbacks (and a
 * uv_prepare handle before the loop blocks, for what timers wrote), encrypts
 * what each dirty connection gathered with one SSL_write and writes it
 * with one uv_try_write (falling back to one uv_write in flight while
 * further bytes queue in `pend`). Many stanzas to one peer in one turn
 * cost one TLS record run and one syscall.
 *
 * Lifetime: the owner calls tn_conn_close (graceful: flush, TLS
 * close_notify, FIN) or tn_conn_abort (now); the conn is never freed from
 * inside its callbacks. When every handle has closed, ops->closed runs
 * once and the memory goes. */
#ifndef TN_NET_CONN_H
#define TN_NET_CONN_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/tls13.h"
#include "util/buf.h"

typedef struct tn_conn tn_conn_t;

typedef struct tn_conn_ops {
    /* Plaintext arrived. May call any tn_conn function. */
    void (*data)(tn_conn_t *c, const char *buf, size_t len);
    /* The TLS handshake completed. */
    void (*tls_ready)(tn_conn_t *c);
    /* The peer closed, or a read or TLS error happened (err: TN_E*).
     * The owner should close. */
    void (*eof)(tn_conn_t *c, int err);
    /* The timer set with tn_conn_timer fired. */
    void (*timeout)(tn_conn_t *c);
    /* Everything is closed; c is freed when this returns. */
    void (*closed)(tn_conn_t *c);
    /* Outbound only (tn_conn_connect): the connection is up (status 0,
     * reading has started) or failed (TN_EIO; the owner should abort). */
    void (*connected)(tn_conn_t *c, int status);
} tn_conn_ops_t;

struct tn_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    uv_connect_t creq;
    const tn_conn_ops_t *ops;
    void *ud;            /* the owner's */
    SSL *ssl;            /* owned; NULL without TLS or once handed over */
    BIO *rbio, *wbio;    /* owned by ssl */
    tn_tls13_t *rec;     /* owned; TLS 1.3 records after the hand-over
                          * from OpenSSL (net/tls13.h) */
    tn_buf_t plain;      /* TLS: plaintext not yet given to SSL_write */
    tn_buf_t pend;       /* bytes for the socket (ciphertext under TLS) */
    tn_buf_t fly;        /* bytes of the write in flight */
    int handles;         /* open libuv handles */
    unsigned tls_up : 1; /* handshake done */
    unsigned closing : 1;
    unsigned writing : 1;
    unsigned shut : 1;   /* FIN requested */
    unsigned dirty : 1;  /* on the flush list for this loop turn */
    tn_conn_t *next_dirty;
    char peer[64];       /* "ip:port" */
};

/* Allocates a conn and its handles on loop; then uv_accept(server,
 * (uv_stream_t *)&c->tcp) and tn_conn_start. */
tn_conn_t *tn_conn_new(uv_loop_t *loop, const tn_conn_ops_t *ops, void *ud);
/* Starts reading (and records the peer address). Returns 0 or TN_EIO. */
int tn_conn_start(tn_conn_t *c);
/* Starts server-side TLS on the connection: for STARTTLS after <proceed/>
 * was queued, or at once for direct TLS. Returns 0 or TN_ETLS. */
int tn_conn_start_tls(tn_conn_t *c, SSL_CTX *ctx);
/* Starts client-side TLS (outbound s2s): sni names the server (may be
 * NULL), alpn is a wire-format protocol list (may be NULL). The
 * ClientHello goes out at once. Returns 0 or TN_ETLS. */
int tn_conn_start_tls_client(tn_conn_t *c, SSL_CTX *ctx, const char *sni,
                             const unsigned char *alpn, size_t alpn_len);
/* Connects c (fresh from tn_conn_new) to addr; ops->connected follows.
 * Returns 0, or TN_EIO (connected does not run; abort c). */
int tn_conn_connect(tn_conn_t *c, const struct sockaddr *addr);
/* 1 once TLS was started (OpenSSL or the compact record layer). */
int tn_conn_is_tls(const tn_conn_t *c);
/* Channel binding of the established TLS connection (net/tls.h):
 * tn_tls_has_cb / tn_tls_cb_data for whichever layer holds it. */
int tn_conn_has_cb(const tn_conn_t *c, const char *type);
int tn_conn_cb_data(const tn_conn_t *c, const char *type, unsigned char *out,
                    size_t cap);
/* Queues len bytes (encrypted when TLS is on). Returns 0, or TN_ECLOSED
 * once the conn is closing and its final flush was queued. */
int tn_conn_write(tn_conn_t *c, const char *data, size_t len);
/* For serializers: the buffer to append output to directly (no copy),
 * or NULL once the conn is closing; call tn_conn_wrote after appending. */
tn_buf_t *tn_conn_wbuf(tn_conn_t *c);
void tn_conn_wrote(tn_conn_t *c);
/* Bytes queued and not yet written to the socket. */
size_t tn_conn_queued(const tn_conn_t *c);
/* (Re)arms the owner's timer: ops->timeout in ms milliseconds; 0 stops. */
void tn_conn_timer(tn_conn_t *c, uint64_t ms);
/* Stops / restarts reading (backpressure). */
void tn_conn_pause(tn_conn_t *c);
void tn_conn_resume(tn_conn_t *c);
/* Graceful close: stops reading, flushes, sends TLS close_notify and FIN,
 * then closes; gives up after a few seconds if the peer does not read. */
void tn_conn_close(tn_conn_t *c);
/* Immediate close; queued bytes are lost. */
void tn_conn_abort(tn_conn_t *c);

/* Closes the loop-wide flush handle; call once at exit, after the last
 * connection, then run the loop once more so it finishes closing. */
void tn_conn_global_release(void);

#endif
