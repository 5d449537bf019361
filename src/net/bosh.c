/* bosh.c -- XMPP over BOSH (XEP-0124 1.11, XEP-0206 1.4) at /http-bind:
 * HTTP sessions of long-polled requests, each carrying a c2s session.
 *
 * A request body is one <body/> document parsed with the stream parser
 * (the same restricted XML and bounds as a TCP stream; a new parser per
 * request). Requests are processed in 'rid' order: a rid one ahead of
 * the last processed goes now, later ones within the window wait for the
 * gap to fill, an already answered rid gets its saved answer again
 * (14.3), anything else ends the session with item-not-found. Processed
 * requests are held (at most 'hold') until there is something to send or
 * 'wait' runs out; a further request releases the oldest held one.
 * Output gathered in one loop turn leaves in one response (a zero timer).
 * More open requests than 'requests', polling faster than 'polling'
 * seconds, or a pause above 'maxpause' end the session with
 * policy-violation (11, 12); no request for 'inactivity' seconds (or the
 * pause asked for) ends it too. Terminal conditions are answered with
 * HTTP 200 and <body type='terminate' condition='...'/> (17.2). */
#include <stdlib.h>
#include <string.h>

#include "net/c2s_int.h"
#include "net/http.h"
#include "util/hmap.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"

#define BOSH_MAX_REQUESTS 9 /* bosh.max_hold (at most 8) + 1 */
#define BOSH_CTYPE "text/xml; charset=utf-8"
#define BOSH_STANZA_GUESS 511

typedef struct bosh_req {
    tn_http_req_t *req;
    unsigned long long rid;
    uint64_t since; /* loop time it was held */
} bosh_req_t;

/* A request body, parsed. */
typedef struct bosh_body {
    int opened, closed, bad;
    char *attrs[32]; /* owned name/value pairs of <body/> */
    size_t nattrs;
    tn_stanza_t **kids; /* owned references */
    size_t nkids, cap;
} bosh_body_t;

typedef struct bosh {
    char sid[32];
    char ctype[64]; /* 'content' of the creation request, or "" */
    tn_server_t *srv;
    c2s_t *c; /* NULL once the c2s session has gone */
    uv_timer_t timer;
    unsigned wait, hold, requests, inactivity, polling, maxpause;
    unsigned ack : 1;            /* the client asked for acknowledgements */
    unsigned flush : 1;          /* answer a held request on the next turn */
    unsigned dead : 1;           /* ending: freed on the next turn */
    unsigned long long next_rid; /* the rid to process next */
    bosh_req_t held[BOSH_MAX_REQUESTS + 1]; /* in rid order; the
                                             * extra one: a request ended
                                             * with a terminal condition */
    size_t nheld;
    bosh_req_t early[BOSH_MAX_REQUESTS]; /* ahead of next_rid */
    bosh_body_t *early_body[BOSH_MAX_REQUESTS];
    size_t nearly;
    struct {
        unsigned long long rid;
        char *body;
        size_t len;
    } sent[BOSH_MAX_REQUESTS]; /* answers kept for replays */
    size_t nsent;
    tn_buf_t out;        /* elements for the client, not yet answered */
    uint64_t idle_until; /* inactivity (or pause) deadline */
    uint64_t last_poll;  /* loop time of the last empty request */
    uint64_t deadline;   /* pre-bind deadline, or 0 */
} bosh_t;

static tn_hmap_t bosh_sessions;

static void bosh_arm(bosh_t *b);

/* ---- request bodies ---------------------------------------------------- */

static void bosh_body_free(bosh_body_t *bb)
{
    if (!bb)
        return;
    for (size_t i = 0; i < bb->nattrs; i++)
        tn_free(bb->attrs[i]);
    for (size_t i = 0; i < bb->nkids; i++)
        tn_stanza_unref(bb->kids[i]);
    tn_free(bb->kids);
    tn_free(bb);
}

static const char *bosh_attr(const bosh_body_t *bb, const char *name)
{
    for (size_t i = 0; i + 1 < bb->nattrs; i += 2)
        if (strcmp(bb->attrs[i], name) == 0)
            return bb->attrs[i + 1];
    return NULL;
}

static void bosh_on_root(void *ud, const char *name, const char *ns,
                         const char *default_ns, const char **attrs)
{
    bosh_body_t *bb = ud;
    (void)default_ns;
    bb->opened = 1;
    if (strcmp(name, "body") != 0 || strcmp(ns, TN_NS_HTTPBIND) != 0) {
        bb->bad = 1;
        return;
    }
    /* The parser names attributes in other namespaces "uri|name"; the
     * xbosh ones are kept as "xmpp:name". */
    for (size_t i = 0; attrs[i] && bb->nattrs + 2 <= 32; i += 2) {
        const char *n = attrs[i];
        if (strncmp(n, TN_NS_XBOSH "|", sizeof TN_NS_XBOSH) == 0)
            bb->attrs[bb->nattrs] =
                tn_sprintf("xmpp:%s", n + sizeof TN_NS_XBOSH);
        else
            bb->attrs[bb->nattrs] = tn_strdup(n);
        bb->attrs[bb->nattrs + 1] = tn_strdup(attrs[i + 1]);
        bb->nattrs += 2;
    }
}

static void bosh_on_kid(void *ud, tn_stanza_t *st)
{
    bosh_body_t *bb = ud;
    if (bb->nkids == bb->cap) {
        bb->cap = bb->cap ? bb->cap * 2 : 4;
        bb->kids = tn_realloc(bb->kids, bb->cap * sizeof *bb->kids);
    }
    bb->kids[bb->nkids++] = st;
}

static void bosh_on_end(void *ud)
{
    bosh_body_t *bb = ud;
    bb->closed = 1;
}

static const tn_xml_cbs_t bosh_xml_cbs = {
    .stream_open = bosh_on_root,
    .stanza = bosh_on_kid,
    .stream_close = bosh_on_end,
};

/* Parses req's body; NULL when it is not one well-formed <body/>. */
static bosh_body_t *bosh_parse(tn_http_req_t *req)
{
    const tn_config_t *cfg = req->srv->cfg;
    tn_xml_limits_t lim = {cfg->max_stanza_size, C2S_MAX_DEPTH, C2S_MAX_ATTRS};
    bosh_body_t *bb = TN_NEW(bosh_body_t);
    tn_xml_parser_t *p = tn_xml_parser_new(&lim, &bosh_xml_cbs, bb);
    int rc = tn_xml_parser_feed(p, req->body.data ? req->body.data : "",
                                req->body.len);
    if (rc < 0 || !bb->opened || !bb->closed || bb->bad) {
        tn_log(TN_LOG_INFO, "http %s: bad BOSH body: %s", req->peer,
               rc < 0 ? tn_xml_parser_error(p) : "not one <body/>");
        bosh_body_free(bb);
        bb = NULL;
    }
    tn_xml_parser_free(p);
    return bb;
}

/* A non-negative decimal attribute, or -1. */
static long long bosh_num(const bosh_body_t *bb, const char *name)
{
    const char *s = bosh_attr(bb, name);
    if (!s || !*s || strlen(s) > 16)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return strtoll(s, NULL, 10);
}

/* ---- answers ----------------------------------------------------------- */

/* Answers with the session's Content-Type (b may be NULL). */
static void bosh_reply(const bosh_t *b, tn_http_req_t *req, const char *body,
                       size_t len)
{
    tn_http_respond(req, 200, b && b->ctype[0] ? b->ctype : BOSH_CTYPE, NULL,
                    body, len);
}

/* A terminal binding condition (b: the session, or NULL). */
static void bosh_terminal(const bosh_t *b, tn_http_req_t *req, const char *cond)
{
    tn_log(TN_LOG_INFO, "http %s: BOSH request ended with %s", req->peer, cond);
    tn_buf_t t;
    tn_buf_init(&t);
    tn_buf_printf(&t,
                  "<body type='terminate' condition='%s' xmlns='" TN_NS_HTTPBIND
                  "'/>",
                  cond);
    bosh_reply(b, req, t.data, t.len);
    tn_buf_release(&t);
}

/* Answers held request i (removed from the list) with everything queued
 * so far, and keeps the answer for a replay of its rid. */
static void bosh_answer(bosh_t *b, size_t i)
{
    bosh_req_t r = b->held[i];
    memmove(&b->held[i], &b->held[i + 1], (b->nheld - i - 1) * sizeof r);
    b->nheld--;
    tn_buf_t body;
    tn_buf_init(&body);
    tn_buf_puts(&body, "<body xmlns='" TN_NS_HTTPBIND "'");
    /* 9.1: the highest rid processed in sequence, when not this one. */
    if (b->ack && b->next_rid - 1 != r.rid)
        tn_buf_printf(&body, " ack='%llu'", b->next_rid - 1);
    if (b->out.len) {
        tn_buf_puts(&body, " xmlns:stream='" TN_NS_STREAM "'>");
        tn_buf_append(&body, b->out.data, b->out.len);
        tn_buf_puts(&body, "</body>");
        tn_buf_reset(&b->out);
    } else {
        tn_buf_puts(&body, "/>");
    }
    if (b->nsent == b->requests) {
        tn_free(b->sent[0].body);
        memmove(&b->sent[0], &b->sent[1], (b->nsent - 1) * sizeof b->sent[0]);
        b->nsent--;
    }
    b->sent[b->nsent].rid = r.rid;
    b->sent[b->nsent].body = tn_strndup(body.data, body.len);
    b->sent[b->nsent].len = body.len;
    b->nsent++;
    r.req->abort = NULL;
    r.req->hurry = NULL;
    bosh_reply(b, r.req, body.data, body.len);
    tn_buf_release(&body);
    if (b->nheld == 0) {
        /* Inactivity counts from now, unless a pause asked for more. */
        uint64_t idle = uv_now(b->srv->loop) + (uint64_t)b->inactivity * 1000;
        if (idle > b->idle_until)
            b->idle_until = idle;
    }
}

/* ---- session lifetime -------------------------------------------------- */

static void bosh_timer_closed(uv_handle_t *h)
{
    tn_free(h->data);
}

/* Frees b: its requests still open get the terminal answer. */
static void bosh_free(bosh_t *b, const char *cond)
{
    tn_hmap_del(&bosh_sessions, b->sid);
    for (size_t i = 0; i < b->nheld; i++) {
        b->held[i].req->abort = NULL;
        bosh_terminal(b, b->held[i].req, cond);
    }
    for (size_t i = 0; i < b->nearly; i++) {
        b->early[i].req->abort = NULL;
        bosh_terminal(b, b->early[i].req, cond);
        bosh_body_free(b->early_body[i]);
    }
    for (size_t i = 0; i < b->nsent; i++)
        tn_free(b->sent[i].body);
    tn_buf_release(&b->out);
    uv_close((uv_handle_t *)&b->timer, bosh_timer_closed);
}

/* Ends the session from our side with a terminal condition (the c2s
 * session, if any, closes without a stream error of its own). */
static void bosh_end(bosh_t *b, const char *cond)
{
    tn_log(TN_LOG_INFO, "bosh %s: ending with %s", b->sid, cond);
    b->dead = 1; /* bosh_close leaves the requests to us */
    if (b->c && !b->c->closing)
        c2s_close(b->c, NULL, NULL);
    while (b->nheld) {
        tn_http_req_t *req = b->held[--b->nheld].req;
        req->abort = NULL;
        bosh_terminal(b, req, cond);
    }
    bosh_arm(b);
}

/* ---- the c2s transport ------------------------------------------------- */

static void bosh_schedule(bosh_t *b)
{
    if (b->nheld && !b->flush) {
        b->flush = 1;
        bosh_arm(b);
    }
}

static void bosh_open(c2s_t *c)
{
    (void)c; /* the attributes go on the next answer's <body/> */
}

static void bosh_element(c2s_t *c, const char *data, size_t len)
{
    bosh_t *b = c->tpd;
    tn_buf_append(&b->out, data, len);
    bosh_schedule(b);
}

static void bosh_stanza(c2s_t *c, const tn_stanza_t *st)
{
    bosh_t *b = c->tpd;
    size_t start = b->out.len;
    tn_buf_reserve(&b->out, BOSH_STANZA_GUESS);
    /* Inside <body xmlns=httpbind>: jabber:client is declared on it. */
    tn_stanza_serialize(st, TN_NS_HTTPBIND, &b->out);
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(TN_LOG_DEBUG, "c2s %llu out: %.*s",
               (unsigned long long)c->sess.id,
               (int)(b->out.len - start > 2000 ? 2000 : b->out.len - start),
               b->out.data + start);
    bosh_schedule(b);
}

static void bosh_close(c2s_t *c, const char *cond, const char *text)
{
    bosh_t *b = c->tpd;
    if (b->dead)
        return; /* bosh_end answers the requests itself */
    /* Dead first: answering may run a request pipelined behind one of
     * these, which must find the session gone. */
    b->dead = 1;
    /* XEP-0206 6: a stream error travels in a remote-stream-error
     * terminate; otherwise a plain terminate. */
    tn_buf_t body;
    tn_buf_init(&body);
    tn_buf_puts(&body, "<body type='terminate' xmlns='" TN_NS_HTTPBIND "'");
    if (cond)
        tn_buf_puts(&body, " condition='remote-stream-error'");
    tn_buf_puts(&body, " xmlns:stream='" TN_NS_STREAM "'>");
    tn_buf_append(&body, b->out.data, b->out.len);
    if (cond) {
        tn_buf_puts(&body, "<stream:error>");
        tn_stream_error_body(&body, cond, text);
    }
    tn_buf_puts(&body, "</body>");
    tn_buf_reset(&b->out);
    if (b->nheld) {
        bosh_req_t r = b->held[0];
        memmove(&b->held[0], &b->held[1], (b->nheld - 1) * sizeof r);
        b->nheld--;
        r.req->abort = NULL;
        bosh_reply(b, r.req, body.data, body.len);
    }
    tn_buf_release(&body);
    while (b->nheld) {
        tn_http_req_t *req = b->held[--b->nheld].req;
        req->abort = NULL;
        bosh_reply(
            b, req, "<body type='terminate' xmlns='" TN_NS_HTTPBIND "'/>",
            sizeof "<body type='terminate' xmlns='" TN_NS_HTTPBIND "'/>" - 1);
    }
    bosh_arm(b); /* c2s_gone and the rest on the next turn */
}

static size_t bosh_queued(c2s_t *c)
{
    bosh_t *b = c->tpd;
    return b->out.len;
}

static void bosh_pause(c2s_t *c, int on)
{
    /* Requests are bounded by the window; nothing to stop reading. */
    (void)c, (void)on;
}

static void bosh_deadline(c2s_t *c, uint64_t ms)
{
    bosh_t *b = c->tpd;
    b->deadline = ms ? uv_now(c->srv->loop) + ms : 0;
    bosh_arm(b);
}

static const c2s_transport_t bosh_transport = {
    .name = "bosh",
    .open = bosh_open,
    .element = bosh_element,
    .stanza = bosh_stanza,
    .close = bosh_close,
    .queued = bosh_queued,
    .pause = bosh_pause,
    .deadline = bosh_deadline,
    .restart = NULL,
};

/* ---- the timer --------------------------------------------------------- */

static void bosh_on_timer(uv_timer_t *t)
{
    bosh_t *b = t->data;
    uint64_t now = uv_now(b->srv->loop);
    if (b->dead) {
        c2s_t *c = b->c;
        b->c = NULL;
        bosh_free(b, "item-not-found");
        if (c)
            c2s_gone(c);
        return;
    }
    if (b->deadline && now >= b->deadline) {
        b->deadline = 0;
        c2s_deadline(b->c); /* may end the session */
        if (b->dead) {
            bosh_arm(b);
            return;
        }
    }
    if (b->flush) {
        b->flush = 0;
        if (b->nheld && b->out.len)
            bosh_answer(b, 0);
    }
    /* Held requests whose wait is over go back empty (or with output). */
    while (b->nheld && now - b->held[0].since >= (uint64_t)b->wait * 1000)
        bosh_answer(b, 0);
    if (b->nearly && now - b->early[0].since >= (uint64_t)b->wait * 1000) {
        tn_log(TN_LOG_INFO, "bosh %s: a rid never came", b->sid);
        bosh_end(b, "item-not-found");
        return;
    }
    if (!b->nheld && !b->nearly && now >= b->idle_until) {
        tn_log(TN_LOG_INFO, "bosh %s: inactive, ending", b->sid);
        bosh_end(b, "item-not-found");
        return;
    }
    bosh_arm(b);
}

/* Arms the timer for the first of: the next turn (flush, end), a held
 * request's wait, the inactivity limit, the pre-bind deadline. */
static void bosh_arm(bosh_t *b)
{
    uint64_t now = uv_now(b->srv->loop);
    uint64_t at;
    if (b->dead || b->flush) {
        at = now;
    } else {
        at = b->nheld ? b->held[0].since + (uint64_t)b->wait * 1000
                      : b->idle_until;
        if (b->nearly && b->early[0].since + (uint64_t)b->wait * 1000 < at)
            at = b->early[0].since + (uint64_t)b->wait * 1000;
        if (b->deadline && b->deadline < at)
            at = b->deadline;
    }
    uv_timer_start(&b->timer, bosh_on_timer, at > now ? at - now : 0, 0);
}

/* ---- requests ---------------------------------------------------------- */

/* The client went before the answer: forget the request. */
static void bosh_req_abort(tn_http_req_t *req)
{
    bosh_t *b = req->ud;
    for (size_t i = 0; i < b->nheld; i++)
        if (b->held[i].req == req) {
            memmove(&b->held[i], &b->held[i + 1],
                    (b->nheld - i - 1) * sizeof b->held[0]);
            b->nheld--;
            break;
        }
    for (size_t i = 0; i < b->nearly; i++)
        if (b->early[i].req == req) {
            bosh_body_free(b->early_body[i]);
            memmove(&b->early[i], &b->early[i + 1],
                    (b->nearly - i - 1) * sizeof b->early[0]);
            memmove(&b->early_body[i], &b->early_body[i + 1],
                    (b->nearly - i - 1) * sizeof b->early_body[0]);
            b->nearly--;
            break;
        }
    b->idle_until = uv_now(b->srv->loop) + (uint64_t)b->inactivity * 1000;
    if (!b->dead)
        bosh_arm(b);
}

/* A request came behind a held one on the same connection: the held one
 * goes back now (with whatever is queued), or the two would wait for each
 * other until 'wait' ran out. */
static void bosh_req_hurry(tn_http_req_t *req)
{
    bosh_t *b = req->ud;
    for (size_t i = 0; i < b->nheld; i++)
        if (b->held[i].req == req) {
            bosh_answer(b, i);
            return;
        }
}

/* Processes request rid (in sequence) and holds it. */
static void bosh_process(bosh_t *b, tn_http_req_t *req, unsigned long long rid,
                         bosh_body_t *bb)
{
    c2s_t *c = b->c;
    uint64_t now = uv_now(b->srv->loop);
    b->next_rid = rid + 1;
    const char *type = bosh_attr(bb, "type");
    const char *restart = bosh_attr(bb, "xmpp:restart");
    long long pause = bosh_num(bb, "pause");
    int empty = bb->nkids == 0 && !type && pause < 0 &&
                !(restart && strcmp(restart, "true") == 0);
    b->idle_until = now + (uint64_t)b->inactivity * 1000;
    if (empty && b->hold == 0 && b->last_poll &&
        now - b->last_poll < (uint64_t)b->polling * 1000) {
        bosh_body_free(bb);
        tn_log(TN_LOG_INFO, "bosh %s: polling too often", b->sid);
        b->held[b->nheld++] = (bosh_req_t){req, rid, now};
        bosh_end(b, "policy-violation");
        return;
    }
    if (empty)
        b->last_poll = now;
    if (pause >= 0 && (unsigned long long)pause > b->maxpause) {
        bosh_body_free(bb);
        b->held[b->nheld++] = (bosh_req_t){req, rid, now};
        bosh_end(b, "policy-violation");
        return;
    }
    req->abort = bosh_req_abort;
    req->hurry = bosh_req_hurry;
    req->ud = b;
    b->held[b->nheld++] = (bosh_req_t){req, rid, now};
    c2s_ref(c);
    if (!c->authed) {
        c->preauth_bytes += req->body.len;
        /* As on TCP: all of a login fits in 8 stanzas' worth. */
        if (c->preauth_bytes > 8 * c->srv->cfg->max_preauth_stanza)
            c2s_close(c, "policy-violation", "Too much data before login");
    }
    if (restart && strcmp(restart, "true") == 0 && !c->closing) {
        /* XEP-0206 5: a stream restart after SASL. */
        c2s_restart(c);
        const char *to = bosh_attr(bb, "to");
        c2s_open(c, to ? to : c->host, "1.0");
    }
    for (size_t i = 0; i < bb->nkids && !c->closing; i++) {
        c2s_input(c, bb->kids[i]);
        bb->kids[i] = NULL;
    }
    for (size_t i = 0; i < bb->nkids; i++)
        if (bb->kids[i])
            tn_stanza_unref(bb->kids[i]);
    bb->nkids = 0;
    int closing = c->closing;
    c2s_unref(c);
    if (b->dead || closing) {
        bosh_body_free(bb);
        return;
    }
    if (type && strcmp(type, "terminate") == 0) {
        bosh_body_free(bb);
        tn_log(TN_LOG_DEBUG, "bosh %s: terminated by the client", b->sid);
        c2s_close(c, NULL, NULL); /* answers every held request */
        return;
    }
    if (pause >= 0) {
        /* 12: answer everything now; the session waits that long. */
        b->idle_until = now + (uint64_t)pause * 1000;
        while (b->nheld)
            bosh_answer(b, 0);
    }
    bosh_body_free(bb);
    /* 10: never more than 'hold' waiting; the oldest goes back. */
    while (b->nheld > b->hold)
        bosh_answer(b, 0);
    if (b->out.len)
        bosh_schedule(b);
    bosh_arm(b);
}

/* Processes the waiting requests that are now in sequence. */
static void bosh_drain_early(bosh_t *b)
{
    for (size_t i = 0; i < b->nearly && !b->dead;) {
        if (b->early[i].rid != b->next_rid) {
            i++;
            continue;
        }
        bosh_req_t r = b->early[i];
        bosh_body_t *bb = b->early_body[i];
        memmove(&b->early[i], &b->early[i + 1],
                (b->nearly - i - 1) * sizeof b->early[0]);
        memmove(&b->early_body[i], &b->early_body[i + 1],
                (b->nearly - i - 1) * sizeof b->early_body[0]);
        b->nearly--;
        bosh_process(b, r.req, r.rid, bb);
        i = 0;
    }
}

static void bosh_session_request(tn_http_req_t *req, bosh_body_t *bb)
{
    bosh_t *b = tn_hmap_get(&bosh_sessions, bosh_attr(bb, "sid"));
    long long rid = bosh_num(bb, "rid");
    if (!b || b->dead) {
        bosh_body_free(bb);
        bosh_terminal(NULL, req, "item-not-found");
        return;
    }
    uint64_t now = uv_now(b->srv->loop);
    if (rid < 0) {
        bosh_body_free(bb);
        b->held[b->nheld++] = (bosh_req_t){req, 0, now};
        bosh_end(b, "bad-request");
        return;
    }
    unsigned long long r = (unsigned long long)rid;
    if (r < b->next_rid) {
        bosh_body_free(bb);
        /* 14.3: a repeated request gets the same answer again. */
        for (size_t i = 0; i < b->nsent; i++)
            if (b->sent[i].rid == r) {
                tn_log(TN_LOG_DEBUG, "bosh %s: replaying rid %llu", b->sid, r);
                bosh_reply(b, req, b->sent[i].body, b->sent[i].len);
                return;
            }
        for (size_t i = 0; i < b->nheld; i++)
            if (b->held[i].rid == r) {
                /* Sent again while held: the old connection is likely
                 * gone; this one waits in its place. */
                tn_http_req_t *old = b->held[i].req;
                old->abort = NULL;
                bosh_reply(b, old, "<body xmlns='" TN_NS_HTTPBIND "'/>",
                           sizeof "<body xmlns='" TN_NS_HTTPBIND "'/>" - 1);
                req->abort = bosh_req_abort;
                req->hurry = bosh_req_hurry;
                req->ud = b;
                b->held[i].req = req;
                return;
            }
        b->held[b->nheld++] = (bosh_req_t){req, r, now};
        bosh_end(b, "item-not-found");
        return;
    }
    if (r >= b->next_rid + b->requests) {
        bosh_body_free(bb);
        b->held[b->nheld++] = (bosh_req_t){req, r, now};
        bosh_end(b, "item-not-found");
        return;
    }
    /* 11: more open requests than allowed. */
    if (b->nheld + b->nearly + 1 > b->requests) {
        bosh_body_free(bb);
        tn_log(TN_LOG_INFO, "bosh %s: too many simultaneous requests", b->sid);
        b->held[b->nheld++] = (bosh_req_t){req, r, now};
        bosh_end(b, "policy-violation");
        return;
    }
    if (r > b->next_rid) {
        req->abort = bosh_req_abort;
        req->ud = b;
        b->early[b->nearly] = (bosh_req_t){req, r, now};
        b->early_body[b->nearly++] = bb;
        bosh_arm(b);
        return;
    }
    bosh_process(b, req, r, bb);
    bosh_drain_early(b);
}

/* 7.1: a session creation request. */
static void bosh_create(tn_http_req_t *req, bosh_body_t *bb)
{
    const tn_config_t *cfg = req->srv->cfg;
    long long rid = bosh_num(bb, "rid");
    long long wait = bosh_num(bb, "wait");
    long long hold = bosh_num(bb, "hold");
    const char *to = bosh_attr(bb, "to");
    if (rid < 0 || wait < 0 || hold < 0 || !to) {
        bosh_body_free(bb);
        bosh_terminal(NULL, req, "bad-request");
        return;
    }
    char *host = tn_jid_nameprep(to);
    int known = host && tn_config_is_host(cfg, host);
    tn_free(host);
    if (!known) {
        bosh_body_free(bb);
        bosh_terminal(NULL, req, "host-unknown");
        return;
    }
    tn_server_t *srv = req->srv;
    bosh_t *b = TN_NEW(bosh_t);
    b->srv = srv;
    char *sid = tn_random_id(24);
    snprintf(b->sid, sizeof b->sid, "%s", sid);
    tn_free(sid);
    b->wait = (unsigned)(wait < 1 ? 1 : wait);
    if (b->wait > cfg->bosh_max_wait)
        b->wait = cfg->bosh_max_wait;
    b->hold = (unsigned)hold > cfg->bosh_max_hold ? cfg->bosh_max_hold
                                                  : (unsigned)hold;
    b->requests = b->hold + 1;
    b->inactivity = cfg->bosh_max_inactivity;
    b->polling = cfg->bosh_polling;
    b->maxpause = cfg->bosh_max_pause;
    /* 7.1: 'content' is the Content-Type of every answer; taken only when
     * it is a plain type/subtype with parameters (it goes into a header). */
    const char *content = bosh_attr(bb, "content");
    if (content && strlen(content) < sizeof b->ctype && strchr(content, '/') &&
        strspn(content, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789/+-.;=_ ") == strlen(content))
        snprintf(b->ctype, sizeof b->ctype, "%s", content);
    const char *ack = bosh_attr(bb, "ack");
    b->ack = ack && strcmp(ack, "1") == 0;
    b->next_rid = (unsigned long long)rid + 1;
    tn_buf_init(&b->out);
    uv_timer_init(srv->loop, &b->timer);
    b->timer.data = b;
    b->idle_until = uv_now(srv->loop) + (uint64_t)b->inactivity * 1000;
    tn_hmap_put(&bosh_sessions, b->sid, b);
    c2s_t *c = c2s_new(srv, req->lcfg, &bosh_transport, b, req->peer);
    c->tls = req->secure;
    b->c = c;
    tn_log(TN_LOG_INFO, "bosh %s: session for %s from %s (c2s %llu)", b->sid,
           to, req->peer, (unsigned long long)c->sess.id);
    c2s_ref(c);
    const char *ver = bosh_attr(bb, "xmpp:version");
    c2s_open(c, to, ver ? ver : "1.0");
    bosh_deadline(c, (uint64_t)cfg->preauth_timeout * 1000);
    int closing = c->closing;
    c2s_unref(c);
    if (closing) {
        /* The stream was refused: bosh_close queued the terminate. */
        bosh_body_free(bb);
        bosh_terminal(b, req, "remote-stream-error");
        return;
    }
    tn_buf_t body;
    tn_buf_init(&body);
    tn_buf_printf(&body,
                  "<body xmlns='" TN_NS_HTTPBIND "' xmlns:xmpp='" TN_NS_XBOSH
                  "' xmlns:stream='" TN_NS_STREAM "' sid='%s' wait='%u' "
                  "requests='%u' hold='%u' inactivity='%u' polling='%u' "
                  "maxpause='%u' ver='1.6' from='",
                  b->sid, b->wait, b->requests, b->hold, b->inactivity,
                  b->polling, b->maxpause);
    tn_buf_append_xml(&body, c->host, strlen(c->host), 1);
    tn_buf_printf(&body,
                  "' authid='%s' secure='true' xmpp:version='1.0' "
                  "xmpp:restartlogic='true'",
                  c->stream_id);
    if (b->ack)
        tn_buf_printf(&body, " ack='%lld'", rid);
    tn_buf_puts(&body, ">");
    tn_buf_append(&body, b->out.data, b->out.len);
    tn_buf_puts(&body, "</body>");
    tn_buf_reset(&b->out);
    b->sent[0].rid = (unsigned long long)rid;
    b->sent[0].body = tn_strndup(body.data, body.len);
    b->sent[0].len = body.len;
    b->nsent = 1;
    bosh_reply(b, req, body.data, body.len);
    tn_buf_release(&body);
    bosh_body_free(bb);
    bosh_arm(b);
}

void tn_bosh_request(tn_http_req_t *req)
{
    if (strcmp(req->method, "OPTIONS") == 0) {
        /* CORS preflight (XEP-0124 does not say; browsers need it). */
        if (!tn_http_origin_ok(req)) {
            tn_http_respond(req, 403, NULL, NULL, NULL, 0);
            return;
        }
        tn_http_respond(req, 200, NULL,
                        "Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n"
                        "Access-Control-Allow-Headers: Content-Type\r\n"
                        "Access-Control-Max-Age: 86400\r\n",
                        NULL, 0);
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        static const char m[] = "405: BOSH requests are POSTs\n";
        tn_http_respond(req, 405, "text/plain; charset=utf-8",
                        "Allow: POST, OPTIONS\r\n", m, sizeof m - 1);
        return;
    }
    bosh_body_t *bb = bosh_parse(req);
    if (!bb) {
        bosh_terminal(NULL, req, "bad-request");
        return;
    }
    if (bosh_attr(bb, "sid"))
        bosh_session_request(req, bb);
    else
        bosh_create(req, bb);
}

void tn_bosh_release(void)
{
    tn_hmap_release(&bosh_sessions);
}
