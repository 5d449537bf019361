/* conn.c -- TCP and TLS (memory BIOs) connections on libuv. See conn.h. */
#include "net/conn.h"

#include <openssl/err.h>
#include <string.h>

#include "net/tls.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

/* Seconds a closing connection may take to flush before it is cut. */
#define CONN_CLOSE_GRACE_MS 5000
/* Bytes kept allocated in an emptied output buffer; more is given back.
 * 0: every emptied buffer is freed, which saves ~3 KiB per idle TLS
 * session (bench/MEMORY.md) for one malloc/free per buffer per flush. */
#define CONN_KEEP_BUF 0

/* libuv runs each alloc_cb immediately before its read_cb on the loop
 * thread, so one buffer serves every connection. */
static char conn_rbuf[65536];

/* Connections written to during this loop turn, flushed by conn_check
 * after the I/O callbacks, and by conn_prepare before the loop blocks in
 * poll (what timer callbacks wrote would otherwise wait for the next I/O
 * event). */
static uv_check_t conn_check;
static uv_prepare_t conn_prepare;
static int conn_check_ready;
static tn_conn_t *conn_dirty;

static void conn_flush(tn_conn_t *c);
static void conn_finish(tn_conn_t *c);
static void conn_push(tn_conn_t *c);

static void conn_unlist(tn_conn_t *c)
{
    if (!c->dirty)
        return;
    for (tn_conn_t **pp = &conn_dirty; *pp; pp = &(*pp)->next_dirty)
        if (*pp == c) {
            *pp = c->next_dirty;
            break;
        }
    c->dirty = 0;
    c->next_dirty = NULL;
}

static void conn_flush_dirty(void)
{
    /* A push may queue more (TLS answers) or close: pop one at a time. */
    while (conn_dirty) {
        tn_conn_t *c = conn_dirty;
        conn_dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->dirty = 0;
        conn_push(c);
    }
}

static void conn_check_cb(uv_check_t *h)
{
    (void)h;
    conn_flush_dirty();
}

static void conn_prepare_cb(uv_prepare_t *h)
{
    (void)h;
    conn_flush_dirty();
}

static void conn_mark_dirty(tn_conn_t *c)
{
    if (c->dirty)
        return;
    c->dirty = 1;
    c->next_dirty = conn_dirty;
    conn_dirty = c;
}

void tn_conn_global_release(void)
{
    if (conn_check_ready) {
        uv_close((uv_handle_t *)&conn_check, NULL);
        uv_close((uv_handle_t *)&conn_prepare, NULL);
        conn_check_ready = 0;
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    tn_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    conn_unlist(c);
    if (c->ops->closed)
        c->ops->closed(c);
    if (c->ssl)
        SSL_free(c->ssl);
    tn_tls13_free(c->rec);
    tn_buf_release(&c->plain);
    tn_buf_release(&c->pend);
    tn_buf_release(&c->fly);
    tn_free(c);
}

tn_conn_t *tn_conn_new(uv_loop_t *loop, const tn_conn_ops_t *ops, void *ud)
{
    if (!conn_check_ready) {
        uv_check_init(loop, &conn_check);
        uv_check_start(&conn_check, conn_check_cb);
        uv_unref((uv_handle_t *)&conn_check); /* never keeps ternd alive */
        uv_prepare_init(loop, &conn_prepare);
        uv_prepare_start(&conn_prepare, conn_prepare_cb);
        uv_unref((uv_handle_t *)&conn_prepare);
        conn_check_ready = 1;
    }
    tn_conn_t *c = TN_NEW(tn_conn_t);
    c->ops = ops;
    c->ud = ud;
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    c->tcp.data = c->timer.data = c->wreq.data = c->sreq.data = c->creq.data =
        c;
    c->handles = 2;
    tn_buf_init(&c->plain);
    tn_buf_init(&c->pend);
    tn_buf_init(&c->fly);
    strcpy(c->peer, "?");
    return c;
}

static void conn_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = conn_rbuf;
    buf->len = sizeof conn_rbuf;
}

/* Moves whatever OpenSSL produced into the output queue. */
static void conn_drain_wbio(tn_conn_t *c)
{
    char tmp[16384];
    int n;
    while ((n = BIO_read(c->wbio, tmp, sizeof tmp)) > 0)
        tn_buf_append(&c->pend, tmp, (size_t)n);
}

static void conn_tls_error(tn_conn_t *c, const char *what)
{
    unsigned long e = ERR_get_error();
    char reason[200] = "";
    if (e)
        ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    tn_log(TN_LOG_INFO, "conn %s: TLS %s failed %s", c->peer, what, reason);
}

static int conn_deliver(void *arg, const char *p, size_t len)
{
    tn_conn_t *c = arg;
    c->ops->data(c, p, len);
    return c->closing;
}

/* Ciphertext for the compact record layer. */
static void conn_read_rec(tn_conn_t *c, const char *data, size_t len)
{
    size_t before = c->pend.len;
    int rc = tn_tls13_open(c->rec, data, len, &c->pend, conn_deliver, c);
    if (rc == TN_TLS13_CLOSED)
        c->ops->eof(c, 0);
    else if (rc)
        c->ops->eof(c, TN_ETLS);
    /* KeyUpdate answers and alerts go out now. */
    if (c->pend.len != before && !c->shut)
        conn_flush(c);
}

/* The handshake is done: hand a TLS 1.3 connection over to the compact
 * record layer and free OpenSSL's object, keeping in *left the bytes
 * OpenSSL had not read yet. Otherwise OpenSSL keeps the connection. */
static void conn_handover(tn_conn_t *c, tn_buf_t *left)
{
    tn_tls13_t *t = tn_tls13_take(c->ssl);
    if (!t)
        return;
    char tmp[4096];
    int n;
    while ((n = BIO_read(c->rbio, tmp, sizeof tmp)) > 0)
        tn_buf_append(left, tmp, (size_t)n);
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->rbio = c->wbio = NULL;
    c->rec = t;
    tn_log(TN_LOG_DEBUG, "conn %s: TLS 1.3 records taken over from OpenSSL",
           c->peer);
}

static void conn_read_tls(tn_conn_t *c, const char *data, size_t len)
{
    if (BIO_write(c->rbio, data, (int)len) != (int)len) {
        c->ops->eof(c, TN_ETLS);
        return;
    }
    if (!c->tls_up) {
        int r = SSL_do_handshake(c->ssl);
        tn_tls13_disarm(c->ssl);
        conn_drain_wbio(c);
        conn_flush(c);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                conn_tls_error(c, "handshake");
                c->ops->eof(c, TN_ETLS);
            }
            return;
        }
        c->tls_up = 1;
        tn_log(TN_LOG_DEBUG, "conn %s: %s %s", c->peer,
               SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        tn_buf_t left;
        tn_buf_init(&left);
        conn_handover(c, &left);
        c->ops->tls_ready(c);
        if (c->rec && !c->closing && left.len > 0)
            conn_read_rec(c, left.data, left.len);
        tn_buf_release(&left);
        if (c->closing || c->rec)
            return;
    }
    char plain[16384];
    for (;;) {
        int n = SSL_read(c->ssl, plain, sizeof plain);
        if (n > 0) {
            c->ops->data(c, plain, (size_t)n);
            if (c->closing)
                break;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->ops->eof(c, 0);
        } else {
            conn_tls_error(c, "read");
            c->ops->eof(c, TN_ETLS);
        }
        break;
    }
    /* TLS 1.3 may answer reads (tickets, key updates). */
    if (!c->shut) {
        conn_drain_wbio(c);
        conn_flush(c);
    }
}

static void conn_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    tn_conn_t *c = s->data;
    if (n == 0 || c->closing)
        return;
    if (n < 0) {
        c->ops->eof(c, n == UV_EOF ? 0 : TN_EIO);
        return;
    }
    if (c->rec)
        conn_read_rec(c, buf->base, (size_t)n);
    else if (c->ssl)
        conn_read_tls(c, buf->base, (size_t)n);
    else
        c->ops->data(c, buf->base, (size_t)n);
}

int tn_conn_start(tn_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char ip[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, ip, sizeof ip);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, ip, sizeof ip);
            port = ntohs(a->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb))
        return TN_EIO;
    return 0;
}

int tn_conn_start_tls(tn_conn_t *c, SSL_CTX *ctx)
{
    if (c->ssl || c->rec)
        return TN_ETLS;
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        return TN_ETLS;
    tn_tls13_watch(c->ssl); /* on failure it just stays with OpenSSL */
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    return 0;
}

int tn_conn_start_tls_client(tn_conn_t *c, SSL_CTX *ctx, const char *sni,
                             const unsigned char *alpn, size_t alpn_len)
{
    if (c->ssl || c->rec)
        return TN_ETLS;
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        return TN_ETLS;
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_connect_state(c->ssl);
    if ((sni && SSL_set_tlsext_host_name(c->ssl, sni) != 1) ||
        (alpn && SSL_set_alpn_protos(c->ssl, alpn, (unsigned)alpn_len) != 0)) {
        conn_tls_error(c, "setup");
        return TN_ETLS;
    }
    int r = SSL_do_handshake(c->ssl);
    if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
        conn_tls_error(c, "handshake");
        return TN_ETLS;
    }
    conn_drain_wbio(c);
    conn_mark_dirty(c);
    return 0;
}

static void conn_connect_cb(uv_connect_t *req, int status)
{
    tn_conn_t *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        tn_log(TN_LOG_DEBUG, "conn %s: connect failed: %s", c->peer,
               uv_strerror(status));
        c->ops->connected(c, TN_EIO);
        return;
    }
    if (tn_conn_start(c) < 0) {
        c->ops->connected(c, TN_EIO);
        return;
    }
    c->ops->connected(c, 0);
}

int tn_conn_connect(tn_conn_t *c, const struct sockaddr *addr)
{
    char ip[48] = "?";
    int port = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    if (uv_tcp_connect(&c->creq, &c->tcp, addr, conn_connect_cb) < 0)
        return TN_EIO;
    return 0;
}

static void conn_write_cb(uv_write_t *req, int status)
{
    tn_conn_t *c = req->data;
    c->writing = 0;
    c->fly.len = 0;
    if (c->fly.cap > CONN_KEEP_BUF)
        tn_buf_release(&c->fly);
    if (status < 0) {
        tn_log(TN_LOG_DEBUG, "conn %s: write failed: %s", c->peer,
               uv_strerror(status));
        if (!c->closing)
            c->ops->eof(c, TN_EIO);
        else
            tn_conn_abort(c);
        return;
    }
    conn_flush(c);
}

static void conn_flush(tn_conn_t *c)
{
    if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->pend.len > 0) {
        uv_buf_t b = uv_buf_init(c->pend.data, (unsigned)c->pend.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            tn_buf_consume(&c->pend, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            c->pend.len = 0;
            if (!c->closing)
                c->ops->eof(c, TN_EIO);
            else
                tn_conn_abort(c);
            return;
        }
    }
    if (c->pend.len > 0) {
        tn_buf_t t = c->fly;
        c->fly = c->pend;
        c->pend = t;
        c->pend.len = 0;
        uv_buf_t b = uv_buf_init(c->fly.data, (unsigned)c->fly.len);
        c->writing = 1;
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1,
                     conn_write_cb) < 0) {
            c->writing = 0;
            tn_conn_abort(c);
        }
        return;
    }
    if (c->pend.cap > CONN_KEEP_BUF)
        tn_buf_release(&c->pend);
    if (c->closing)
        conn_finish(c);
}

int tn_conn_write(tn_conn_t *c, const char *data, size_t len)
{
    if (c->shut || uv_is_closing((uv_handle_t *)&c->tcp))
        return TN_ECLOSED;
    tn_buf_append(tn_conn_is_tls(c) ? &c->plain : &c->pend, data, len);
    conn_mark_dirty(c);
    return 0;
}

tn_buf_t *tn_conn_wbuf(tn_conn_t *c)
{
    if (c->shut || uv_is_closing((uv_handle_t *)&c->tcp))
        return NULL;
    return tn_conn_is_tls(c) ? &c->plain : &c->pend;
}

void tn_conn_wrote(tn_conn_t *c)
{
    conn_mark_dirty(c);
}

/* Gives what was gathered this turn to SSL_write (one run of records)
 * and moves the ciphertext to `pend`. */
static void conn_encrypt(tn_conn_t *c)
{
    if (c->plain.len == 0 || !tn_conn_is_tls(c))
        return;
    if (c->rec) {
        tn_tls13_seal(c->rec, c->plain.data, c->plain.len, &c->pend);
        c->plain.len = 0;
    } else if (!c->tls_up) {
        /* Nothing can be sent before the handshake; this is only reached
         * on an error path (a stream error mid-handshake). */
        c->plain.len = 0;
    } else {
        size_t off = 0;
        while (off < c->plain.len) {
            size_t n = c->plain.len - off;
            if (n > (1u << 30))
                n = 1u << 30;
            if (SSL_write(c->ssl, c->plain.data + off, (int)n) <= 0) {
                conn_tls_error(c, "write");
                break;
            }
            off += n;
        }
        c->plain.len = 0;
        conn_drain_wbio(c);
    }
    if (c->plain.cap > CONN_KEEP_BUF)
        tn_buf_release(&c->plain);
}

static void conn_push(tn_conn_t *c)
{
    conn_encrypt(c);
    conn_flush(c);
}

int tn_conn_is_tls(const tn_conn_t *c)
{
    return c->ssl != NULL || c->rec != NULL;
}

int tn_conn_has_cb(const tn_conn_t *c, const char *type)
{
    if (c->rec)
        return tn_tls13_has_cb(c->rec, type);
    return c->ssl && tn_tls_has_cb(c->ssl, type);
}

int tn_conn_cb_data(const tn_conn_t *c, const char *type, unsigned char *out,
                    size_t cap)
{
    if (c->rec)
        return tn_tls13_cb_data(c->rec, type, out, cap);
    return c->ssl ? tn_tls_cb_data(c->ssl, type, out, cap) : TN_EINVAL;
}

size_t tn_conn_queued(const tn_conn_t *c)
{
    return c->plain.len + c->pend.len + c->fly.len;
}

static void conn_timer_cb(uv_timer_t *t)
{
    tn_conn_t *c = t->data;
    if (c->closing) {
        tn_log(TN_LOG_DEBUG, "conn %s: close timed out", c->peer);
        tn_conn_abort(c);
        return;
    }
    if (c->ops->timeout)
        c->ops->timeout(c);
}

void tn_conn_timer(tn_conn_t *c, uint64_t ms)
{
    if (c->closing || uv_is_closing((uv_handle_t *)&c->timer))
        return;
    if (ms)
        uv_timer_start(&c->timer, conn_timer_cb, ms, 0);
    else
        uv_timer_stop(&c->timer);
}

void tn_conn_pause(tn_conn_t *c)
{
    if (!c->closing)
        uv_read_stop((uv_stream_t *)&c->tcp);
}

void tn_conn_resume(tn_conn_t *c)
{
    if (!c->closing)
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc_cb, conn_read_cb);
}

static void conn_close_handles(tn_conn_t *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void conn_shutdown_cb(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close_handles(req->data);
}

/* Everything is flushed: send FIN, then close. */
static void conn_finish(tn_conn_t *c)
{
    if (c->shut)
        return;
    c->shut = 1;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, conn_shutdown_cb) < 0)
        conn_close_handles(c);
}

void tn_conn_close(tn_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_start(&c->timer, conn_timer_cb, CONN_CLOSE_GRACE_MS, 0);
    /* What was written this turn goes before close_notify, and both
     * before the FIN. */
    conn_unlist(c);
    conn_encrypt(c);
    if (c->rec) {
        tn_tls13_close_notify(c->rec, &c->pend);
    } else if (c->ssl && c->tls_up) {
        SSL_shutdown(c->ssl);
        conn_drain_wbio(c);
    }
    conn_flush(c);
}

void tn_conn_abort(tn_conn_t *c)
{
    c->closing = 1;
    c->shut = 1;
    conn_close_handles(c);
}
