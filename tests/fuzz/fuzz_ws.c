/* fuzz_ws.c -- libFuzzer target for the WebSocket frame tracker
 * (net/wstrack.c) that lets ws.c free wslay's context between frames.
 *
 * Input: byte 0 sets the chunk size the stream is fed in (1 + byte % 64;
 * 0: all at once), byte 1 the message bound (16 + 16 * byte), the rest is
 * what a client sends after the handshake.
 * Oracle (differential): two wslay server contexts read the same chunks;
 * one lives throughout, the other is freed whenever the tracker says
 * wslay holds no state (as ws_idle does: a frame boundary outside any
 * fragmented message, nothing to send, no close under way) and made
 * afresh for the next chunk. Both must deliver the same messages, write
 * the same bytes (pongs, close frames) and fail or stop reading at the
 * same chunk. */
#include <string.h>
#include <wslay/wslay.h>

#include "net/wstrack.h"
#include "targets.h"
#include "util/buf.h"

typedef struct side {
    wslay_event_context_ptr ctx;
    uint64_t maxlen;
    const uint8_t *rdata;
    size_t rlen;
    tn_buf_t log; /* messages, results and the bytes sent, in order */
    int dead;     /* failed or stopped reading: no more feeding */
    int lazy;     /* frees the context when idle */
    tn_ws_track_t track;
} side_t;

static ssize_t ws_fz_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                          int flags, void *ud)
{
    side_t *s = ud;
    (void)flags;
    if (s->rlen == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < s->rlen ? len : s->rlen;
    memcpy(buf, s->rdata, n);
    s->rdata += n;
    s->rlen -= n;
    return (ssize_t)n;
}

static ssize_t ws_fz_send(wslay_event_context_ptr ctx, const uint8_t *data,
                          size_t len, int flags, void *ud)
{
    side_t *s = ud;
    (void)ctx, (void)flags;
    tn_buf_printf(&s->log, "S%zu:", len);
    tn_buf_append(&s->log, data, len);
    return (ssize_t)len;
}

static void ws_fz_msg(wslay_event_context_ptr ctx,
                      const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    side_t *s = ud;
    (void)ctx;
    tn_buf_printf(&s->log, "M%u/%u/%zu:", (unsigned)arg->opcode,
                  (unsigned)arg->status_code, arg->msg_length);
    tn_buf_append(&s->log, arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks ws_fz_cbs = {
    .recv_callback = ws_fz_recv,
    .send_callback = ws_fz_send,
    .on_msg_recv_callback = ws_fz_msg,
};

static void ws_fz_feed(side_t *s, const uint8_t *p, size_t len)
{
    if (s->dead)
        return;
    if (!s->ctx) {
        wslay_event_context_server_init(&s->ctx, &ws_fz_cbs, s);
        wslay_event_config_set_max_recv_msg_length(s->ctx, s->maxlen);
    }
    tn_ws_track(&s->track, p, len);
    s->rdata = p;
    s->rlen = len;
    int rc = wslay_event_recv(s->ctx);
    tn_buf_printf(&s->log, "R%d;", rc < 0 ? rc : 0);
    if (rc < 0) {
        s->dead = 1; /* ws.c stops calling wslay here */
        return;
    }
    wslay_event_send(s->ctx);
    if (!wslay_event_get_read_enabled(s->ctx)) {
        tn_buf_puts(&s->log, "C;");
        s->dead = 1;
        return;
    }
    if (s->lazy && tn_ws_track_idle(&s->track) &&
        !wslay_event_want_write(s->ctx) &&
        wslay_event_get_write_enabled(s->ctx) &&
        !wslay_event_get_close_sent(s->ctx) &&
        !wslay_event_get_close_received(s->ctx)) {
        wslay_event_context_free(s->ctx);
        s->ctx = NULL;
    }
}

int fuzz_ws_one(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t chunk = data[0] ? 1 + data[0] % 64 : 0;
    side_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.maxlen = b.maxlen = 16 + 16 * (uint64_t)data[1];
    b.lazy = 1;
    tn_buf_init(&a.log);
    tn_buf_init(&b.log);
    const uint8_t *p = data + 2;
    size_t left = size - 2;
    while (left) {
        size_t n = chunk && chunk < left ? chunk : left;
        ws_fz_feed(&a, p, n);
        ws_fz_feed(&b, p, n);
        p += n;
        left -= n;
    }
    if (a.log.len != b.log.len ||
        (a.log.len && memcmp(a.log.data, b.log.data, a.log.len) != 0))
        fuzz_fail("ws", "a freed and remade context behaved differently");
    if (a.ctx)
        wslay_event_context_free(a.ctx);
    if (b.ctx)
        wslay_event_context_free(b.ctx);
    tn_buf_release(&a.log);
    tn_buf_release(&b.log);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_ws_one(data, size);
}
#endif
