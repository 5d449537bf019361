/* ws.c -- XMPP over WebSocket (RFC 7395) at /xmpp-websocket: the RFC 6455
 * handshake, frames through wslay's event API, and the c2s transport for
 * the framed stream.
 *
 * Input: wslay reassembles fragments, answers pings, enforces masking,
 * reserved bits and opcodes, control frame rules, UTF-8 of text messages
 * and the message size (1009: max_preauth_stanza before authentication,
 * max_stanza_size after), and queues the close frame for each violation.
 * Each text message must hold exactly one complete element: messages are
 * fed to one XML parser that was given a synthetic root once, so every
 * message parses as a first-level element with the same restricted-XML
 * rules and bounds as a TCP stream; a message that leaves a partial
 * element is not-well-formed, one with two elements bad-format. A DTD,
 * comment, processing instruction or XML declaration is refused before
 * the parser sees it (restricted-xml). <open/> and <close/> of the
 * framing namespace start and end streams.
 *
 * Output: data frames are written straight into the connection's buffer
 * (server frames are unmasked: a 2-10 byte header before the payload);
 * control frames go through wslay, whose queue is always drained at once.
 * One timer serves the pre-bind deadline and keepalive pings: a client
 * silent for two ping intervals is closed.
 *
 * Memory: a wslay context is 8.8 KB, twice what the rest of an idle
 * session costs. ws.c follows the frame boundaries in the bytes it hands
 * to wslay (headers only; wslay still parses and checks everything), and
 * when wslay holds nothing -- no partial frame, no unfinished fragmented
 * message, nothing to send, no close under way -- the context is freed;
 * the next bytes get a fresh one, which is in the same state. */
#include <openssl/sha.h>
#include <string.h>
#include <wslay/wslay.h>

#include "net/c2s_int.h"
#include "net/http.h"
#include "net/wstrack.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* The synthetic root every message is parsed inside. */
#define WS_ROOT                                                                \
    "<stream:stream xmlns='" TN_NS_CLIENT "' xmlns:stream='" TN_NS_STREAM "'>"
#define WS_STANZA_GUESS 511

typedef struct ws {
    tn_conn_t *conn;
    c2s_t *c;
    wslay_event_context_ptr ctx; /* NULL while idle */
    uint64_t maxlen;             /* message bound given to wslay */
    tn_ws_track_t track;         /* frame boundaries of what wslay was given */
    const char *rdata;           /* input being handed to wslay */
    size_t rlen;
    uint64_t last_rx;       /* loop time of the last bytes from the client */
    uint64_t deadline;      /* loop time of the pre-bind deadline, or 0 */
    unsigned elems;         /* elements of the message being parsed */
    unsigned see_other : 1; /* close with see-other-uri */
    unsigned no_data : 1;   /* a close frame went or came: no more data */
    unsigned broken : 1;    /* wslay failed: no more calls into it */
} ws_t;

static const struct wslay_event_callbacks ws_callbacks;

/* The wslay context, made when there is none. */
static wslay_event_context_ptr ws_ctx(ws_t *w)
{
    if (!w->ctx) {
        wslay_event_context_server_init(&w->ctx, &ws_callbacks, w);
        wslay_event_config_set_max_recv_msg_length(w->ctx, w->maxlen);
    }
    return w->ctx;
}

/* Frees the wslay context when it holds no state (see the top). */
static void ws_idle(ws_t *w)
{
    if (w->ctx && !w->broken && tn_ws_track_idle(&w->track) &&
        !wslay_event_want_write(w->ctx) &&
        wslay_event_get_read_enabled(w->ctx) &&
        wslay_event_get_write_enabled(w->ctx) &&
        !wslay_event_get_close_sent(w->ctx) &&
        !wslay_event_get_close_received(w->ctx)) {
        wslay_event_context_free(w->ctx);
        w->ctx = NULL;
    }
}

/* ---- frames out -------------------------------------------------------- */

/* Sends what wslay queued (pongs, close frames); after our close frame
 * the connection closes (flushing first). */
static void ws_flush(ws_t *w)
{
    if (w->broken || !w->ctx)
        return;
    wslay_event_send(w->ctx);
    if (wslay_event_get_close_sent(w->ctx)) {
        w->no_data = 1;
        tn_conn_close(w->conn);
    }
}

/* Frames out->data[start + 10 ..] as one text message: the payload was
 * written after 10 bytes of room; the header goes right before it. */
static void ws_frame_fix(tn_buf_t *out, size_t start)
{
    size_t len = out->len - start - 10;
    unsigned char h[10];
    size_t hl;
    h[0] = 0x81; /* FIN, text */
    if (len < 126) {
        h[1] = (unsigned char)len;
        hl = 2;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    char *p = out->data + start;
    if (hl < 10)
        memmove(p + hl, p + 10, len);
    memcpy(p, h, hl);
    out->len = start + hl + len;
    out->data[out->len] = '\0';
}

/* The connection's output with room for a frame header and guess bytes
 * of payload after it (*start: where the header goes), or NULL when no
 * data frame may go any more. */
static tn_buf_t *ws_frame_begin(ws_t *w, size_t guess, size_t *start)
{
    tn_buf_t *out = w->no_data ? NULL : tn_conn_wbuf(w->conn);
    if (!out)
        return NULL;
    *start = out->len;
    tn_buf_reserve(out, 10 + guess);
    tn_buf_extend(out, 10);
    return out;
}

static void ws_element(c2s_t *c, const char *data, size_t len)
{
    ws_t *w = c->tpd;
    size_t start;
    tn_buf_t *out = ws_frame_begin(w, len, &start);
    if (!out)
        return;
    tn_buf_append(out, data, len);
    ws_frame_fix(out, start);
    tn_conn_wrote(w->conn);
}

static void ws_stanza(c2s_t *c, const tn_stanza_t *st)
{
    ws_t *w = c->tpd;
    size_t start;
    tn_buf_t *out = ws_frame_begin(w, WS_STANZA_GUESS, &start);
    if (!out)
        return;
    /* No enclosing element: the namespace is declared on the stanza. */
    tn_stanza_serialize(st, NULL, out);
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(
            TN_LOG_DEBUG, "c2s %llu out: %.*s", (unsigned long long)c->sess.id,
            (int)(out->len - start - 10 > 2000 ? 2000 : out->len - start - 10),
            out->data + start + 10);
    ws_frame_fix(out, start);
    tn_conn_wrote(w->conn);
}

/* ---- the c2s transport ------------------------------------------------- */

static void ws_open(c2s_t *c)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_puts(&b, "<open xmlns='" TN_NS_FRAMING "'");
    c2s_header_attrs(c, &b);
    tn_buf_puts(&b, "/>");
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
}

static void ws_close(c2s_t *c, const char *cond, const char *text)
{
    ws_t *w = c->tpd;
    tn_buf_t b;
    tn_buf_init(&b);
    if (cond) {
        tn_buf_puts(&b, "<stream:error xmlns:stream='" TN_NS_STREAM "'>");
        tn_stream_error_body(&b, cond, text);
        c2s_write(c, b.data, b.len);
        tn_buf_reset(&b);
    }
    tn_buf_puts(&b, "<close xmlns='" TN_NS_FRAMING "'");
    if (w->see_other) {
        /* Checked at load: nothing in it needs escaping. */
        tn_buf_puts(&b, " see-other-uri='");
        tn_buf_puts(&b, c->srv->cfg->ws_see_other);
        tn_buf_puts(&b, "'");
    }
    tn_buf_puts(&b, "/>");
    c2s_write(c, b.data, b.len);
    tn_buf_release(&b);
    w->no_data = 1;
    /* 1001 "going away" when the server stops, else 1000. */
    if (!w->broken)
        wslay_event_queue_close(ws_ctx(w),
                                cond && strcmp(cond, "system-shutdown") == 0
                                    ? WSLAY_CODE_GOING_AWAY
                                    : WSLAY_CODE_NORMAL_CLOSURE,
                                NULL, 0);
    ws_flush(w);
    /* Also when wslay had already closed (its own close frame went). */
    tn_conn_close(w->conn);
}

static size_t ws_queued(c2s_t *c)
{
    ws_t *w = c->tpd;
    return tn_conn_queued(w->conn);
}

static void ws_pause(c2s_t *c, int on)
{
    ws_t *w = c->tpd;
    if (on)
        tn_conn_pause(w->conn);
    else
        tn_conn_resume(w->conn);
}

/* Arms the one timer for whichever comes first: the deadline or the next
 * keepalive check. */
static void ws_arm(ws_t *w)
{
    uint64_t now = uv_now(w->c->srv->loop);
    uint64_t next = (uint64_t)w->c->srv->cfg->ws_ping * 1000;
    if (w->deadline) {
        uint64_t left = w->deadline > now ? w->deadline - now : 1;
        if (left < next)
            next = left;
    }
    tn_conn_timer(w->conn, next);
}

static void ws_deadline(c2s_t *c, uint64_t ms)
{
    ws_t *w = c->tpd;
    w->deadline = ms ? uv_now(c->srv->loop) + ms : 0;
    ws_arm(w);
}

static void ws_restart(c2s_t *c)
{
    ws_t *w = c->tpd;
    /* No parser reset: each message is a whole element already. The
     * message bound follows the stanza bound. */
    w->maxlen = c->authed ? c->srv->cfg->max_stanza_size
                          : c->srv->cfg->max_preauth_stanza;
    if (w->ctx)
        wslay_event_config_set_max_recv_msg_length(w->ctx, w->maxlen);
}

static const c2s_transport_t ws_transport = {
    .name = "websocket",
    .open = ws_open,
    .element = ws_element,
    .stanza = ws_stanza,
    .close = ws_close,
    .queued = ws_queued,
    .pause = ws_pause,
    .deadline = ws_deadline,
    .restart = ws_restart,
};

/* ---- messages in ------------------------------------------------------- */

/* RFC 6120 11.1 before any parser: markup starting "<?" (processing
 * instructions, XML declarations) or "<!" other than a CDATA section
 * (DTDs, comments). In well-formed XML a literal '<' starts markup. */
static int ws_restricted(const char *s, size_t len)
{
    for (const char *p = memchr(s, '<', len); p;
         p = memchr(p + 1, '<', len - (size_t)(p + 1 - s))) {
        size_t left = len - (size_t)(p - s);
        if (left < 2)
            return 0;
        if (p[1] == '?')
            return 1;
        if (p[1] == '!' && (left < 9 || memcmp(p, "<![CDATA[", 9) != 0))
            return 1;
    }
    return 0;
}

static int ws_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

/* The synthetic root opened: nothing to do. */
static void ws_on_root(void *ud, const char *name, const char *ns,
                       const char *default_ns, const char **attrs)
{
    (void)ud, (void)name, (void)ns, (void)default_ns, (void)attrs;
}

static void ws_on_element(void *ud, tn_stanza_t *st)
{
    ws_t *w = ud;
    c2s_t *c = w->c;
    if (c->closing) {
        tn_stanza_unref(st);
        return;
    }
    if (w->elems++ > 0) {
        tn_stanza_unref(st);
        c2s_close(c, "bad-format", "One element per WebSocket message");
        return;
    }
    int framing = strcmp(st->ns, TN_NS_FRAMING) == 0;
    if (framing && strcmp(st->name, "open") == 0 && !c->opened) {
        if (c->srv->cfg->ws_see_other) {
            w->see_other = 1;
            tn_log(TN_LOG_INFO, "c2s %llu %s: sent to %s",
                   (unsigned long long)c->sess.id, c->sess.peer,
                   c->srv->cfg->ws_see_other);
            c2s_close(c, NULL, NULL);
        } else {
            c2s_open(c, tn_stanza_attr(st, "to"),
                     tn_stanza_attr(st, "version"));
        }
    } else if (framing && strcmp(st->name, "close") == 0) {
        tn_log(TN_LOG_DEBUG, "c2s %llu: peer closed its stream",
               (unsigned long long)c->sess.id);
        c2s_close(c, NULL, NULL);
    } else if (!c->opened) {
        c2s_close(c, framing ? "bad-format" : "not-authorized",
                  "Open the stream first");
    } else {
        c2s_input(c, st);
        return;
    }
    tn_stanza_unref(st);
}

static void ws_on_end(void *ud)
{
    /* A message closed the synthetic root: not one element. */
    ws_t *w = ud;
    c2s_close(w->c, "bad-format", NULL);
}

static const tn_xml_cbs_t ws_xml_cbs = {
    .stream_open = ws_on_root,
    .stanza = ws_on_element,
    .stream_close = ws_on_end,
};

static void ws_text(ws_t *w, const char *data, size_t len)
{
    c2s_t *c = w->c;
    if (ws_blank(data, len))
        return; /* not a keepalive we need, but harmless */
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(TN_LOG_DEBUG, "c2s %llu in: %.*s",
               (unsigned long long)c->sess.id, (int)(len > 2000 ? 2000 : len),
               data);
    if (ws_restricted(data, len)) {
        tn_log(TN_LOG_INFO,
               "c2s %llu %s: DTD, comment or processing "
               "instruction in a message",
               (unsigned long long)c->sess.id, c->sess.peer);
        c2s_close(c, "restricted-xml", NULL);
        return;
    }
    w->elems = 0;
    c->in_feed = 1;
    int rc = tn_xml_parser_feed(c->parser, data, len);
    c->in_feed = 0;
    if (rc < 0) {
        c2s_xml_error(c, rc, tn_xml_parser_error(c->parser));
        return;
    }
    if (!c->closing && !tn_xml_parser_between(c->parser)) {
        tn_log(TN_LOG_INFO, "c2s %llu %s: partial element in a message",
               (unsigned long long)c->sess.id, c->sess.peer);
        c2s_close(c, "not-well-formed", "One whole element per message");
    }
}

/* ---- wslay callbacks --------------------------------------------------- */

static ssize_t ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *ud)
{
    ws_t *w = ud;
    (void)flags;
    if (w->rlen == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < w->rlen ? len : w->rlen;
    memcpy(buf, w->rdata, n);
    w->rdata += n;
    w->rlen -= n;
    return (ssize_t)n;
}

static ssize_t ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data,
                          size_t len, int flags, void *ud)
{
    ws_t *w = ud;
    (void)ctx, (void)flags;
    tn_conn_write(w->conn, (const char *)data, len);
    return (ssize_t)len;
}

static void ws_msg_cb(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    ws_t *w = ud;
    c2s_t *c = w->c;
    if (c->closing)
        return;
    if (arg->opcode == WSLAY_TEXT_FRAME) {
        ws_text(w, (const char *)arg->msg, arg->msg_length);
    } else if (arg->opcode == WSLAY_BINARY_FRAME) {
        tn_log(TN_LOG_INFO, "c2s %llu %s: binary WebSocket message",
               (unsigned long long)c->sess.id, c->sess.peer);
        /* RFC 7395 3.2: XMPP messages are text; 1003 unsupported data. */
        w->no_data = 1;
        wslay_event_queue_close(ctx, WSLAY_CODE_UNSUPPORTED_DATA, NULL, 0);
        c2s_close(c, NULL, NULL);
    }
    /* Pings are answered by wslay, pongs only count as activity. */
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = ws_recv_cb,
    .send_callback = ws_send_cb,
    .on_msg_recv_callback = ws_msg_cb,
};

/* ---- connection callbacks ---------------------------------------------- */

static void ws_feed(ws_t *w, const char *data, size_t len)
{
    c2s_t *c = w->c;
    if (c->closing || w->broken || !wslay_event_get_read_enabled(ws_ctx(w)))
        return;
    w->last_rx = uv_now(c->srv->loop);
    if (!c->authed) {
        c->preauth_bytes += len;
        /* As on TCP: all of a login fits in 8 stanzas' worth. */
        if (c->preauth_bytes > 8 * c->srv->cfg->max_preauth_stanza) {
            c2s_close(c, "policy-violation", "Too much data before login");
            return;
        }
    }
    tn_ws_track(&w->track, (const unsigned char *)data, len);
    w->rdata = data;
    w->rlen = len;
    c2s_ref(c);
    int rc = wslay_event_recv(w->ctx);
    w->rlen = 0;
    if (rc < 0 && !c->closing) {
        /* A frame wslay's parser refused (a control frame over 125 bytes
         * or fragmented, a length with its top bit set): wslay may not be
         * called again, so the 1002 close frame is written here. */
        static const char close1002[] = {(char)0x88, 2, 0x03, (char)0xea};
        w->broken = 1;
        w->no_data = 1;
        tn_log(TN_LOG_INFO,
               "c2s %llu %s: malformed WebSocket frame, "
               "closing with 1002",
               (unsigned long long)c->sess.id, c->sess.peer);
        tn_conn_write(w->conn, close1002, sizeof close1002);
        c2s_close(c, NULL, NULL);
    } else if (!c->closing && !wslay_event_get_read_enabled(w->ctx)) {
        /* The client's close frame, or a violation wslay answered with a
         * close frame of its own (1002, 1007, 1009...). */
        w->no_data = 1;
        if (wslay_event_get_close_received(w->ctx))
            tn_log(TN_LOG_DEBUG, "c2s %llu: WebSocket closed by the client",
                   (unsigned long long)c->sess.id);
        else
            tn_log(TN_LOG_INFO,
                   "c2s %llu %s: WebSocket protocol error, "
                   "closing",
                   (unsigned long long)c->sess.id, c->sess.peer);
        c2s_close(c, NULL, NULL);
    }
    if (!c->closing || (w->ctx && wslay_event_want_write(w->ctx)))
        ws_flush(w);
    if (!c->closing)
        ws_idle(w);
    c2s_unref(c);
}

static void ws_on_data(tn_conn_t *conn, const char *data, size_t len)
{
    ws_feed(conn->ud, data, len);
}

static void ws_on_eof(tn_conn_t *conn, int err)
{
    ws_t *w = conn->ud;
    (void)err;
    w->no_data = 1;
    if (w->c->closing) {
        tn_conn_abort(conn);
        return;
    }
    c2s_close(w->c, NULL, NULL);
}

static void ws_on_timeout(tn_conn_t *conn)
{
    ws_t *w = conn->ud;
    c2s_t *c = w->c;
    if (c->closing)
        return;
    uint64_t now = uv_now(c->srv->loop);
    if (w->deadline && now >= w->deadline) {
        w->deadline = 0;
        c2s_deadline(c);
        if (c->closing)
            return;
    }
    uint64_t ping = (uint64_t)c->srv->cfg->ws_ping * 1000;
    if (now - w->last_rx >= 2 * ping) {
        tn_log(TN_LOG_INFO, "c2s %llu %s: no answer to WebSocket pings",
               (unsigned long long)c->sess.id, c->sess.peer);
        c2s_close(c, "connection-timeout", NULL);
        return;
    }
    if (now - w->last_rx >= ping) {
        struct wslay_event_msg m = {WSLAY_PING, (const uint8_t *)"tern", 4};
        wslay_event_queue_msg(ws_ctx(w), &m);
        ws_flush(w);
        ws_idle(w);
    }
    ws_arm(w);
}

static void ws_on_closed(tn_conn_t *conn)
{
    ws_t *w = conn->ud;
    c2s_t *c = w->c;
    if (w->ctx)
        wslay_event_context_free(w->ctx);
    tn_free(w);
    c2s_gone(c);
}

static const tn_conn_ops_t ws_conn_ops = {
    .data = ws_on_data,
    .eof = ws_on_eof,
    .timeout = ws_on_timeout,
    .closed = ws_on_closed,
};

/* ---- the handshake (RFC 6455 4.2) -------------------------------------- */

static void ws_refuse(tn_http_req_t *req, int status, const char *why,
                      const char *headers)
{
    tn_log(TN_LOG_INFO, "http %s: WebSocket handshake refused: %s", req->peer,
           why);
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_printf(&b, "%d: %s\n", status, why);
    tn_http_respond(req, status, "text/plain; charset=utf-8", headers, b.data,
                    b.len);
    tn_buf_release(&b);
}

void tn_ws_request(tn_http_req_t *req)
{
    const char *key = tn_http_header(req, "sec-websocket-key");
    size_t klen = 0;
    unsigned char *kbin =
        key ? tn_base64_decode(key, strlen(key), &klen) : NULL;
    tn_free(kbin);
    if (strcmp(req->method, "GET") != 0) {
        ws_refuse(req, 405, "WebSocket handshakes are GET requests",
                  "Allow: GET\r\n");
        return;
    }
    if (!req->upgrade || !tn_http_header_has(req, "upgrade", "websocket")) {
        ws_refuse(req, 400, "not a WebSocket upgrade", NULL);
        return;
    }
    const char *ver = tn_http_header(req, "sec-websocket-version");
    if (!ver || strcmp(ver, "13") != 0) {
        ws_refuse(req, 426, "WebSocket version 13 only",
                  "Sec-WebSocket-Version: 13\r\n");
        return;
    }
    if (!kbin || klen != 16) {
        ws_refuse(req, 400, "bad Sec-WebSocket-Key", NULL);
        return;
    }
    /* RFC 7395 3.1: the xmpp subprotocol or nothing. */
    if (!tn_http_header_has(req, "sec-websocket-protocol", "xmpp")) {
        ws_refuse(req, 400, "Sec-WebSocket-Protocol must offer xmpp", NULL);
        return;
    }
    if (!tn_http_origin_ok(req)) {
        ws_refuse(req, 403, "Origin not allowed", NULL);
        return;
    }
    unsigned char md[SHA_DIGEST_LENGTH];
    tn_buf_t k;
    tn_buf_init(&k);
    tn_buf_puts(&k, key);
    tn_buf_puts(&k, WS_GUID);
    SHA1((const unsigned char *)k.data, k.len, md);
    tn_buf_release(&k);
    char *accept = tn_base64_encode(md, sizeof md);
    tn_buf_t head;
    tn_buf_init(&head);
    tn_buf_printf(&head,
                  "HTTP/1.1 101 Switching Protocols\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: %s\r\n"
                  "Sec-WebSocket-Protocol: xmpp\r\n\r\n",
                  accept);
    tn_free(accept);

    tn_server_t *srv = req->srv;
    ws_t *w = TN_NEW(ws_t);
    c2s_t *c = c2s_new(srv, req->lcfg, &ws_transport, w, req->peer);
    c->tls = req->secure;
    w->c = c;
    tn_buf_t rest;
    tn_buf_init(&rest);
    tn_conn_t *conn = tn_http_upgrade(req, head.data, head.len, &rest);
    tn_buf_release(&head);
    w->conn = conn;
    c->conn = conn;
    conn->ops = &ws_conn_ops;
    conn->ud = w;
    w->maxlen = srv->cfg->max_preauth_stanza;
    tn_xml_limits_t lim = {srv->cfg->max_preauth_stanza, C2S_MAX_DEPTH,
                           C2S_MAX_ATTRS};
    c->parser = tn_xml_parser_new(&lim, &ws_xml_cbs, w);
    tn_xml_parser_feed(c->parser, WS_ROOT, sizeof WS_ROOT - 1);
    w->last_rx = uv_now(srv->loop);
    ws_deadline(c, (uint64_t)srv->cfg->preauth_timeout * 1000);
    if (rest.len)
        ws_feed(w, rest.data, rest.len);
    tn_buf_release(&rest);
}
