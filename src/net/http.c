/* http.c -- the HTTP/1.1 server: connections, request parsing with
 * http-parser, the path router and responses. See http.h. */
#include <arpa/inet.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "net/http.h"
#include "net/listen.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

struct http_conn {
    tn_conn_t *conn; /* NULL once upgraded away */
    tn_server_t *srv;
    const tn_listen_cfg_t *lcfg;
    http_parser p;
    tn_buf_t in; /* bytes read and not yet parsed */
    size_t in_off;
    tn_http_req_t *req; /* being received, or being handled */
    size_t req_bytes;   /* of the request being received */
    tn_buf_t field;     /* header name being received */
    tn_buf_t value;     /* header value being received */
    int too_big;        /* 413 / 431 to answer */
    struct http_conn *prev, *next;
    unsigned tls : 1;
    unsigned held : 1; /* req was dispatched and is unanswered */
    unsigned closing : 1;
    unsigned in_value : 1;
    unsigned keep : 1; /* keep-alive after req */
    unsigned in_process : 1;
    unsigned upgraded : 1;
};

static http_conn_t *http_all;
static size_t http_nall;
static tn_listeners_t http_listeners;
static http_parser_settings http_settings;

static void http_process(http_conn_t *hc);

/* ---- requests ---------------------------------------------------------- */

static tn_http_req_t *http_req_new(http_conn_t *hc)
{
    tn_http_req_t *r = TN_NEW(tn_http_req_t);
    r->srv = hc->srv;
    r->lcfg = hc->lcfg;
    r->hc = hc;
    tn_buf_init(&r->body);
    tn_buf_init(&r->hdrs);
    snprintf(r->peer, sizeof r->peer, "%s", hc->conn->peer);
    r->tls = hc->tls;
    return r;
}

static void http_req_free(tn_http_req_t *r)
{
    tn_free(r->path);
    tn_buf_release(&r->body);
    tn_buf_release(&r->hdrs);
    tn_free(r);
}

const char *tn_http_header(const tn_http_req_t *req, const char *lname)
{
    const char *p = req->hdrs.data, *end = p + req->hdrs.len;
    while (p && p < end) {
        const char *v = p + strlen(p) + 1;
        if (strcmp(p, lname) == 0)
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

int tn_http_header_has(const tn_http_req_t *req, const char *lname,
                       const char *token)
{
    const char *v = tn_http_header(req, lname);
    size_t tl = strlen(token);
    while (v && *v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v += n;
    }
    return 0;
}

int tn_http_origin_ok(const tn_http_req_t *req)
{
    const tn_config_t *cfg = req->srv->cfg;
    const char *o = tn_http_header(req, "origin");
    if (!o || cfg->nhttp_origins == 0)
        return 1;
    for (size_t i = 0; i < cfg->nhttp_origins; i++)
        if (strcmp(cfg->http_origins[i], o) == 0)
            return 1;
    return 0;
}

/* 1 when ip (a literal) is one of http.trusted_proxies. */
static int http_trusted(const tn_config_t *cfg, const char *ip)
{
    unsigned char a[16], b[16];
    int af = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(af, ip, a) != 1)
        return 0;
    for (size_t i = 0; i < cfg->nhttp_proxies; i++)
        if (inet_pton(af, cfg->http_proxies[i], b) == 1 &&
            memcmp(a, b, af == AF_INET ? 4 : 16) == 0)
            return 1;
    return 0;
}

/* From a trusted proxy: the client is the last address in
 * X-Forwarded-For that is not itself a trusted proxy. */
static void http_forwarded(tn_http_req_t *r)
{
    const tn_config_t *cfg = r->srv->cfg;
    char ip[64];
    snprintf(ip, sizeof ip, "%s", r->peer);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = '\0';
    if (!http_trusted(cfg, ip))
        return;
    r->secure = 1; /* the proxy terminated TLS */
    const char *xff = tn_http_header(r, "x-forwarded-for");
    if (!xff)
        return;
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t s = start, e = end;
        while (s < e && (xff[s] == ' ' || xff[s] == '\t'))
            s++;
        while (e > s && (xff[e - 1] == ' ' || xff[e - 1] == '\t'))
            e--;
        char cand[48];
        unsigned char bin[16];
        if (e - s == 0 || e - s >= sizeof cand)
            return;
        memcpy(cand, xff + s, e - s);
        cand[e - s] = '\0';
        int af = strchr(cand, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(af, cand, bin) != 1)
            return; /* not an address: keep the proxy's */
        if (!http_trusted(cfg, cand)) {
            snprintf(r->peer, sizeof r->peer, "%s:0", cand);
            return;
        }
        end = start ? start - 1 : 0;
    }
}

/* ---- responses --------------------------------------------------------- */

static const char *http_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 417:
        return "Expectation Failed";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Internal Server Error";
    }
}

/* Ends the request: logs it, frees it, and goes on with the connection
 * (the next pipelined request, or keep-alive idleness, or the close). */
static void http_done(http_conn_t *hc, tn_http_req_t *r)
{
    tn_log(TN_LOG_DEBUG, "http %s %s %s -> %d", r->peer,
           r->method ? r->method : "-", r->path ? r->path : "-", r->status);
    if (hc->req == r)
        hc->req = NULL;
    http_req_free(r);
    hc->held = 0;
    if (hc->closing || !hc->conn)
        return;
    if (hc->keep && tn_conn_queued(hc->conn) > hc->srv->cfg->max_out_queue) {
        /* Pipelining without reading the answers: no more of them. */
        tn_log(TN_LOG_INFO, "http %s: answers not read, closing",
               hc->conn->peer);
        hc->keep = 0;
    }
    if (!hc->keep) {
        hc->closing = 1;
        tn_conn_close(hc->conn);
        return;
    }
    tn_conn_timer(hc->conn, (uint64_t)hc->srv->cfg->http_timeout * 1000);
    tn_conn_resume(hc->conn);
    if (!hc->in_process)
        http_process(hc);
}

/* RFC 9110 6.6.1: origin servers with a clock send Date (IMF-fixdate),
 * formatted once a second. */
static const char *http_date(void)
{
    static char buf[40];
    static time_t last;
    time_t now = time(NULL);
    if (now != last) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        last = now;
    }
    return buf;
}

void tn_http_respond(tn_http_req_t *req, int status, const char *ctype,
                     const char *headers, const char *body, size_t len)
{
    http_conn_t *hc = req->hc;
    req->status = status;
    if (!hc || hc->closing) {
        if (hc && hc->req == req)
            hc->req = NULL;
        http_req_free(req);
        return;
    }
    tn_buf_t *out = tn_conn_wbuf(hc->conn);
    if (out) {
        tn_buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status,
                      http_reason(status), http_date());
        if (ctype)
            tn_buf_printf(out, "Content-Type: %s\r\n", ctype);
        tn_buf_printf(out, "Content-Length: %zu\r\n", len);
        const char *origin = tn_http_header(req, "origin");
        if (origin && tn_http_origin_ok(req)) {
            if (req->srv->cfg->nhttp_origins == 0)
                tn_buf_puts(out, "Access-Control-Allow-Origin: *\r\n");
            else
                tn_buf_printf(out,
                              "Access-Control-Allow-Origin: %s\r\n"
                              "Vary: Origin\r\n",
                              origin);
        }
        if (!hc->keep)
            tn_buf_puts(out, "Connection: close\r\n");
        if (headers)
            tn_buf_puts(out, headers);
        tn_buf_puts(out, "\r\n");
        tn_buf_append(out, body, len);
        tn_conn_wrote(hc->conn);
    }
    http_done(hc, req);
}

/* An answer of our own for a request that went wrong; the connection
 * closes after it. */
static void http_fail(http_conn_t *hc, int status)
{
    tn_log(TN_LOG_INFO, "http %s: %d %s", hc->conn->peer, status,
           http_reason(status));
    hc->keep = 0;
    tn_http_req_t *r = hc->req;
    if (!r) {
        r = http_req_new(hc);
        hc->req = r;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
    tn_http_respond(r, status, "text/plain; charset=utf-8", NULL, body,
                    (size_t)n);
}

tn_conn_t *tn_http_upgrade(tn_http_req_t *req, const char *head, size_t len,
                           tn_buf_t *rest)
{
    http_conn_t *hc = req->hc;
    tn_conn_t *conn = hc->conn;
    tn_conn_write(conn, head, len);
    tn_buf_append(rest, hc->in.data + hc->in_off, hc->in.len - hc->in_off);
    hc->in_off = hc->in.len;
    req->status = 101;
    tn_log(TN_LOG_DEBUG, "http %s %s %s -> 101", req->peer, req->method,
           req->path);
    hc->req = NULL;
    http_req_free(req);
    hc->upgraded = 1;
    hc->closing = 1;
    hc->conn = NULL;
    tn_conn_timer(conn, 0);
    tn_conn_resume(conn);
    return conn;
}

/* ---- routing ----------------------------------------------------------- */

static const struct {
    const char *path;
    void (*handler)(tn_http_req_t *req);
} http_routes[] = {
    {"/xmpp-websocket", tn_ws_request},
    {"/http-bind", tn_bosh_request},
    {"/.well-known/host-meta", tn_hostmeta_request},
    {"/.well-known/host-meta.json", tn_hostmeta_request},
};

static void http_dispatch(http_conn_t *hc)
{
    tn_http_req_t *r = hc->req;
    r->method = http_method_str((enum http_method)hc->p.method);
    r->upgrade = hc->p.upgrade;
    r->secure = hc->tls;
    http_forwarded(r);
    hc->keep = http_should_keep_alive(&hc->p) && !hc->p.upgrade;
    hc->held = 1;
    tn_conn_timer(hc->conn, 0);
    for (size_t i = 0; i < sizeof http_routes / sizeof http_routes[0]; i++)
        if (strcmp(http_routes[i].path, r->path) == 0) {
            http_routes[i].handler(r);
            return;
        }
    if (hc->p.upgrade)
        hc->keep = 0;
    static const char nf[] = "404 Not Found\n";
    tn_http_respond(r, 404, "text/plain; charset=utf-8", NULL, nf,
                    sizeof nf - 1);
}

/* ---- http-parser callbacks --------------------------------------------- */

/* Counts len more bytes of the request against http.max_request_size;
 * returns nonzero (stop) when over. */
static int http_count(http_conn_t *hc, size_t len, int status)
{
    hc->req_bytes += len;
    if (hc->req_bytes <= hc->srv->cfg->http_max_request)
        return 0;
    hc->too_big = status;
    return 1;
}

static int http_on_begin(http_parser *p)
{
    http_conn_t *hc = p->data;
    hc->req = http_req_new(hc);
    hc->req_bytes = 0;
    hc->in_value = 0;
    tn_buf_reset(&hc->field);
    tn_buf_reset(&hc->value);
    return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
    http_conn_t *hc = p->data;
    if (http_count(hc, len, 431))
        return 1;
    tn_buf_append(&hc->field, at, len); /* the URL gathers here first */
    return 0;
}

/* RFC 9110 5.6.2: a field name is a token. */
static int http_tchar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Stores the header gathered so far. Returns -1 (400 to answer) for a
 * name that is not a token, such as "Content-Length " (RFC 9112 5.1:
 * whitespace before the colon is refused, not guessed at). */
static int http_commit_header(http_conn_t *hc)
{
    if (!hc->in_value)
        return 0;
    for (size_t i = 0; i < hc->field.len; i++) {
        if (!http_tchar(hc->field.data[i])) {
            hc->too_big = 400;
            return -1;
        }
        if (hc->field.data[i] >= 'A' && hc->field.data[i] <= 'Z')
            hc->field.data[i] = (char)(hc->field.data[i] + 32);
    }
    /* A NUL inside would cut the pair short: such headers are dropped. */
    if (!memchr(hc->field.data, 0, hc->field.len) &&
        !memchr(hc->value.data ? hc->value.data : "", 0, hc->value.len)) {
        tn_buf_append(&hc->req->hdrs, hc->field.data, hc->field.len);
        tn_buf_append(&hc->req->hdrs, "", 1);
        tn_buf_append(&hc->req->hdrs, hc->value.data ? hc->value.data : "",
                      hc->value.len);
        tn_buf_append(&hc->req->hdrs, "", 1);
    }
    tn_buf_reset(&hc->field);
    tn_buf_reset(&hc->value);
    hc->in_value = 0;
    return 0;
}

/* The URL is complete when the first header name starts. */
static int http_hex(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* Normalizes an origin-form path in place (SECURITY.md: routes and any
 * later authorization see one spelling): percent-escapes decoded (an
 * encoded '/', '\\' or NUL, or a broken escape, is refused), "." and ".."
 * segments resolved (RFC 3986 5.2.4; never above the root), repeated
 * slashes and a trailing slash dropped. Returns 0 or -1. */
int tn_http_normalize_path(char *path)
{
    if (path[0] != '/')
        return -1;
    size_t w = 0;
    for (size_t r = 0; path[r]; r++) {
        char ch = path[r];
        if (ch == '%') {
            int hi = http_hex(path[r + 1]),
                lo = hi < 0 ? -1 : http_hex(path[r + 2]);
            if (lo < 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            if (ch == '/' || ch == '\\' || ch == '\0')
                return -1;
            r += 2;
        } else if (ch == '\\') {
            return -1;
        }
        path[w++] = ch;
    }
    path[w] = '\0';
    /* Segments, rebuilt in place: out never runs ahead of in. */
    size_t in = 0, out = 0;
    while (path[in]) {
        while (path[in] == '/')
            in++;
        size_t start = in;
        while (path[in] && path[in] != '/')
            in++;
        size_t n = in - start;
        if (n == 0 || (n == 1 && path[start] == '.'))
            continue;
        if (n == 2 && path[start] == '.' && path[start + 1] == '.') {
            while (out > 0 && path[out - 1] != '/')
                out--;
            if (out > 0)
                out--; /* the slash before the dropped segment */
            continue;
        }
        path[out++] = '/';
        memmove(path + out, path + start, n);
        out += n;
    }
    if (out == 0)
        path[out++] = '/';
    path[out] = '\0';
    return 0;
}

static int http_take_url(http_conn_t *hc)
{
    if (hc->req->path)
        return 0;
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (hc->field.len == 0 ||
        http_parser_parse_url(hc->field.data, hc->field.len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH))) {
        hc->too_big = 400;
        return 1;
    }
    hc->req->path = tn_strndup(hc->field.data + u.field_data[UF_PATH].off,
                               u.field_data[UF_PATH].len);
    tn_buf_reset(&hc->field);
    if (tn_http_normalize_path(hc->req->path) < 0) {
        hc->too_big = 400;
        return 1;
    }
    return 0;
}

static int http_on_field(http_parser *p, const char *at, size_t len)
{
    http_conn_t *hc = p->data;
    if (http_count(hc, len + 4, 431) || http_take_url(hc) ||
        http_commit_header(hc) < 0)
        return 1;
    tn_buf_append(&hc->field, at, len);
    return 0;
}

static int http_on_value(http_parser *p, const char *at, size_t len)
{
    http_conn_t *hc = p->data;
    if (http_count(hc, len, 431))
        return 1;
    hc->in_value = 1;
    tn_buf_append(&hc->value, at, len);
    return 0;
}

static int http_on_headers(http_parser *p)
{
    http_conn_t *hc = p->data;
    /* (1 and 2 mean "no body" here: errors are -1.) */
    if (http_take_url(hc) || http_commit_header(hc) < 0)
        return -1;
    /* HTTP/1.x only (no 0.9); 1.1 requests name their Host (RFC 9112
     * 3.2). */
    if (p->http_major != 1) {
        hc->too_big = 505;
        return -1;
    }
    if (p->http_minor >= 1 && !tn_http_header(hc->req, "host")) {
        hc->too_big = 400;
        return -1;
    }
    /* A declared body that cannot fit is refused before it comes. */
    if (p->content_length != ULLONG_MAX &&
        p->content_length > hc->srv->cfg->http_max_request) {
        hc->too_big = 413;
        return -1;
    }
    /* RFC 9110 10.1.1: a client waiting for leave to send its body gets
     * it at once; no other expectation is known (417). */
    const char *expect = tn_http_header(hc->req, "expect");
    if (expect && p->http_minor >= 1) {
        if (strcasecmp(expect, "100-continue") != 0) {
            hc->too_big = 417;
            return -1;
        }
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        tn_conn_write(hc->conn, cont, sizeof cont - 1);
    }
    return 0;
}

static int http_on_body(http_parser *p, const char *at, size_t len)
{
    http_conn_t *hc = p->data;
    if (http_count(hc, len, 413))
        return 1;
    tn_buf_append(&hc->req->body, at, len);
    return 0;
}

static int http_on_complete(http_parser *p)
{
    http_parser_pause(p, 1); /* one request at a time */
    return 0;
}

/* ---- the connection ---------------------------------------------------- */

/* Unlists and frees hc (its conn is closed, or belongs to another). */
static void http_conn_free(http_conn_t *hc)
{
    tn_buf_release(&hc->in);
    tn_buf_release(&hc->field);
    tn_buf_release(&hc->value);
    if (hc->prev)
        hc->prev->next = hc->next;
    else
        http_all = hc->next;
    if (hc->next)
        hc->next->prev = hc->prev;
    http_nall--;
    tn_free(hc);
}

/* Parses what was read, one request at a time, until a request is held,
 * the input runs out, or the connection ends. */
static void http_process(http_conn_t *hc)
{
    hc->in_process = 1;
    while (!hc->held && !hc->closing && hc->in_off < hc->in.len) {
        size_t n = http_parser_execute(&hc->p, &http_settings,
                                       hc->in.data + hc->in_off,
                                       hc->in.len - hc->in_off);
        hc->in_off += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&hc->p);
        if (e == HPE_PAUSED) {
            http_parser_pause(&hc->p, 0);
            http_dispatch(hc);
            if (hc->upgraded)
                break;
            if (!hc->closing && !hc->held && hc->p.upgrade) {
                /* The upgrade was refused: http-parser stops here. */
                hc->closing = 1;
                tn_conn_close(hc->conn);
            }
            continue;
        }
        if (e != HPE_OK) {
            int status = hc->too_big                ? hc->too_big
                         : e == HPE_HEADER_OVERFLOW ? 431
                         : e == HPE_INVALID_METHOD  ? 501
                                                    : 400;
            tn_log(TN_LOG_DEBUG, "http %s: %s", hc->conn->peer,
                   http_errno_name(e));
            http_fail(hc, status);
            break;
        }
    }
    if (hc->in_off == hc->in.len) {
        tn_buf_reset(&hc->in);
        hc->in_off = 0;
    }
    hc->in_process = 0;
    if (hc->upgraded) {
        /* The conn belongs to the new owner: forget it here. */
        http_conn_free(hc);
    }
}

static void http_on_data(tn_conn_t *conn, const char *data, size_t len)
{
    http_conn_t *hc = conn->ud;
    if (hc->closing)
        return;
    tn_buf_append(&hc->in, data, len);
    if (hc->held && hc->req && hc->req->hurry)
        hc->req->hurry(hc->req); /* may answer, and then go on parsing */
    if (hc->held) {
        /* Pipelined input waits; past one request's worth, stop reading. */
        if (hc->in.len - hc->in_off > hc->srv->cfg->http_max_request)
            tn_conn_pause(conn);
        return;
    }
    if (!hc->closing)
        http_process(hc);
}

static void http_on_tls_ready(tn_conn_t *conn)
{
    http_conn_t *hc = conn->ud;
    hc->tls = 1;
}

static void http_on_eof(tn_conn_t *conn, int err)
{
    http_conn_t *hc = conn->ud;
    (void)err;
    if (hc->closing) {
        tn_conn_abort(conn);
        return;
    }
    hc->closing = 1;
    tn_conn_close(conn);
}

static void http_on_timeout(tn_conn_t *conn)
{
    http_conn_t *hc = conn->ud;
    if (hc->closing || hc->held)
        return;
    if (hc->req || hc->in_off < hc->in.len) {
        http_fail(hc, 408);
        return;
    }
    tn_log(TN_LOG_DEBUG, "http %s: idle, closing", conn->peer);
    hc->closing = 1;
    tn_conn_close(conn);
}

static void http_on_closed(tn_conn_t *conn)
{
    http_conn_t *hc = conn->ud;
    tn_http_req_t *r = hc->req;
    hc->req = NULL;
    if (r) {
        r->hc = NULL;
        if (hc->held && r->abort)
            r->abort(r); /* the handler lets go of it */
        http_req_free(r);
    }
    http_conn_free(hc);
}

static const tn_conn_ops_t http_conn_ops = {
    .data = http_on_data,
    .tls_ready = http_on_tls_ready,
    .eof = http_on_eof,
    .timeout = http_on_timeout,
    .closed = http_on_closed,
};

static void http_on_connection(uv_stream_t *server, int status)
{
    tn_listener_t *l = server->data;
    if (status < 0) {
        tn_log(TN_LOG_WARN, "http: accept failed: %s", uv_strerror(status));
        return;
    }
    http_conn_t *hc = TN_NEW(http_conn_t);
    hc->srv = l->srv;
    hc->lcfg = l->lcfg;
    http_parser_init(&hc->p, HTTP_REQUEST);
    hc->p.data = hc;
    tn_buf_init(&hc->in);
    tn_buf_init(&hc->field);
    tn_buf_init(&hc->value);
    hc->next = http_all;
    if (http_all)
        http_all->prev = hc;
    http_all = hc;
    http_nall++;
    hc->conn = tn_conn_new(l->srv->loop, &http_conn_ops, hc);
    if (tn_listener_accept(l, hc->conn) < 0) {
        hc->closing = 1;
        return;
    }
    tn_log(TN_LOG_DEBUG, "http: connection from %s", hc->conn->peer);
    tn_conn_timer(hc->conn, (uint64_t)l->srv->cfg->http_timeout * 1000);
}

int tn_http_listen(tn_server_t *srv, char **err)
{
    http_parser_settings_init(&http_settings);
    http_settings.on_message_begin = http_on_begin;
    http_settings.on_url = http_on_url;
    http_settings.on_header_field = http_on_field;
    http_settings.on_header_value = http_on_value;
    http_settings.on_headers_complete = http_on_headers;
    http_settings.on_body = http_on_body;
    http_settings.on_message_complete = http_on_complete;
    return tn_listeners_open(srv, TN_SVC_HTTP, http_on_connection,
                             &http_listeners, err);
}

void tn_http_unlisten(tn_server_t *srv)
{
    (void)srv;
    tn_listeners_close(&http_listeners);
}

void tn_http_close_all(tn_server_t *srv)
{
    (void)srv;
    for (http_conn_t *hc = http_all; hc; hc = hc->next)
        if (!hc->closing) {
            hc->closing = 1;
            tn_conn_close(hc->conn);
        }
}

size_t tn_http_count(void)
{
    return http_nall;
}
