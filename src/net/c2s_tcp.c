/* c2s_tcp.c -- the RFC 6120 transport of c2s: XML streams on TCP (plain,
 * STARTTLS or direct TLS), and the c2s listeners. The stream parser reads
 * the connection's bytes; stanzas go straight into the connection's
 * output buffer. */
#include <string.h>

#include "net/c2s.h"
#include "net/c2s_int.h"
#include "net/listen.h"
#include "util/err.h"
#include "util/log.h"
#include "xml/ns.h"
#include "xmpp/error.h"

/* Output room made before serializing a stanza (bytes): a chat message
 * or presence fits, so the buffer is allocated once, not grown. */
#define TCP_STANZA_GUESS 511

static tn_listeners_t tcp_listeners;

/* ---- the way out ------------------------------------------------------- */

/* Our stream header (RFC 6120 4.7). */
static void tcp_header(c2s_t *c, tn_buf_t *out)
{
    tn_buf_puts(out, "<?xml version='1.0'?><stream:stream xmlns='" TN_NS_CLIENT
                     "' xmlns:stream='" TN_NS_STREAM "'");
    c2s_header_attrs(c, out);
    tn_buf_puts(out, ">");
}

static void tcp_open(c2s_t *c)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tcp_header(c, &b);
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
}

static void tcp_element(c2s_t *c, const char *data, size_t len)
{
    tn_conn_write(c->conn, data, len);
}

static void tcp_stanza(c2s_t *c, const tn_stanza_t *st)
{
    /* Straight into the connection's output: no copy. */
    tn_buf_t *out = tn_conn_wbuf(c->conn);
    if (!out)
        return;
    size_t start = out->len;
    /* Most stanzas fit: one allocation instead of a doubling series. */
    tn_buf_reserve(out, TCP_STANZA_GUESS);
    tn_stanza_serialize(st, TN_NS_CLIENT, out);
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(TN_LOG_DEBUG, "c2s %llu out: %.*s",
               (unsigned long long)c->sess.id,
               (int)(out->len - start > 2000 ? 2000 : out->len - start),
               out->data + start);
    tn_conn_wrote(c->conn);
}

static void tcp_close(c2s_t *c, const char *cond, const char *text)
{
    tn_buf_t b;
    tn_buf_init(&b);
    /* RFC 6120 4.9.1.2: an error before our header still opens one. */
    if (!c->header_sent)
        tcp_header(c, &b);
    if (cond)
        tn_stream_error_write(&b, cond, text);
    tn_buf_puts(&b, "</stream:stream>");
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
    tn_conn_close(c->conn);
}

static size_t tcp_queued(c2s_t *c)
{
    return tn_conn_queued(c->conn);
}

static void tcp_pause(c2s_t *c, int on)
{
    if (on)
        tn_conn_pause(c->conn);
    else
        tn_conn_resume(c->conn);
}

static void tcp_deadline(c2s_t *c, uint64_t ms)
{
    tn_conn_timer(c->conn, ms);
}

static void tcp_restart(c2s_t *c)
{
    tn_xml_parser_reset(c->parser);
}

static const c2s_transport_t tcp_transport = {
    .name = "tcp",
    .open = tcp_open,
    .element = tcp_element,
    .stanza = tcp_stanza,
    .close = tcp_close,
    .queued = tcp_queued,
    .pause = tcp_pause,
    .deadline = tcp_deadline,
    .restart = tcp_restart,
};

/* ---- the stream parser ------------------------------------------------- */

static void tcp_on_stream_open(void *ud, const char *name, const char *ns,
                               const char *default_ns, const char **attrs)
{
    c2s_t *c = ud;
    if (c->closing)
        return;
    const char *to = NULL, *version = NULL;
    for (size_t i = 0; attrs[i]; i += 2) {
        if (strcmp(attrs[i], "to") == 0)
            to = attrs[i + 1];
        else if (strcmp(attrs[i], "version") == 0)
            version = attrs[i + 1];
    }
    /* RFC 6120 4.8.1: the stream element in the streams namespace; the
     * content namespace jabber:client. */
    if (strcmp(name, "stream") != 0 || strcmp(ns, TN_NS_STREAM) != 0 ||
        !default_ns || strcmp(default_ns, TN_NS_CLIENT) != 0) {
        c->opened = 1;
        c2s_close(c, "invalid-namespace", NULL);
        return;
    }
    c2s_open(c, to, version);
}

static void tcp_on_stanza(void *ud, tn_stanza_t *st)
{
    c2s_input(ud, st);
}

static void tcp_on_stream_close(void *ud)
{
    c2s_t *c = ud;
    tn_log(TN_LOG_DEBUG, "c2s %llu: peer closed its stream",
           (unsigned long long)c->sess.id);
    c2s_close(c, NULL, NULL);
}

static const tn_xml_cbs_t tcp_xml_cbs = {
    .stream_open = tcp_on_stream_open,
    .stanza = tcp_on_stanza,
    .stream_close = tcp_on_stream_close,
};

/* ---- connection callbacks ---------------------------------------------- */

static void tcp_on_data(tn_conn_t *conn, const char *data, size_t len)
{
    c2s_t *c = conn->ud;
    if (c->closing)
        return;
    if (!c->authed) {
        c->preauth_bytes += len;
        /* All of a login fits in a few KiB; 8 stanzas' worth is plenty. */
        if (c->preauth_bytes > 8 * c->srv->cfg->max_preauth_stanza) {
            c2s_close(c, "policy-violation", "Too much data before login");
            return;
        }
    }
    c2s_ref(c);
    c->in_feed = 1;
    int rc = tn_xml_parser_feed(c->parser, data, len);
    c->in_feed = 0;
    c2s_xml_error(c, rc, tn_xml_parser_error(c->parser));
    c2s_unref(c);
}

static void tcp_on_tls_ready(tn_conn_t *conn)
{
    c2s_t *c = conn->ud;
    c->tls = 1;
}

static void tcp_on_eof(tn_conn_t *conn, int err)
{
    c2s_t *c = conn->ud;
    if (c->closing) {
        tn_conn_abort(conn);
        return;
    }
    tn_log(TN_LOG_DEBUG, "c2s %llu: connection ended (%s)",
           (unsigned long long)c->sess.id, err ? tn_strerror(err) : "eof");
    c2s_close(c, NULL, NULL);
}

static void tcp_on_timeout(tn_conn_t *conn)
{
    c2s_deadline(conn->ud);
}

static void tcp_on_closed(tn_conn_t *conn)
{
    c2s_gone(conn->ud);
}

static const tn_conn_ops_t tcp_conn_ops = {
    .data = tcp_on_data,
    .tls_ready = tcp_on_tls_ready,
    .eof = tcp_on_eof,
    .timeout = tcp_on_timeout,
    .closed = tcp_on_closed,
};

/* ---- listeners --------------------------------------------------------- */

static void tcp_on_connection(uv_stream_t *server, int status)
{
    tn_listener_t *l = server->data;
    if (status < 0) {
        tn_log(TN_LOG_WARN, "c2s: accept failed: %s", uv_strerror(status));
        return;
    }
    tn_conn_t *conn = tn_conn_new(l->srv->loop, &tcp_conn_ops, NULL);
    int rc = tn_listener_accept(l, conn);
    c2s_t *c = c2s_new(l->srv, l->lcfg, &tcp_transport, NULL, conn->peer);
    c->conn = conn;
    conn->ud = c;
    if (rc < 0) {
        c->closing = 1; /* aborted: tcp_on_closed frees c */
        return;
    }
    tn_xml_limits_t lim = {l->srv->cfg->max_preauth_stanza, C2S_MAX_DEPTH,
                           C2S_MAX_ATTRS};
    c->parser = tn_xml_parser_new(&lim, &tcp_xml_cbs, c);
    tn_conn_timer(conn, (uint64_t)l->srv->cfg->preauth_timeout * 1000);
}

int tn_c2s_listen(tn_server_t *srv, char **err)
{
    return tn_listeners_open(srv, TN_SVC_C2S, tcp_on_connection, &tcp_listeners,
                             err);
}

void tn_c2s_unlisten(tn_server_t *srv)
{
    (void)srv;
    tn_listeners_close(&tcp_listeners);
}
