/* hostmeta.c -- XEP-0156 connection discovery over HTTP: the host-meta
 * document (RFC 6415) in XRD and JSON, linking the WebSocket and BOSH
 * endpoints. Their base URL is http.url, or else the scheme of the
 * listener (TLS or a trusted proxy: https/wss) with the request's Host. */
#include <string.h>

#include "net/http.h"
#include "util/buf.h"

/* Host header values that may go into a URL, XML and JSON unescaped. */
static int hostmeta_host_ok(const char *h)
{
    if (!h || !*h || strlen(h) > 255)
        return 0;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr(".-:[]", *p)))
            return 0;
    return 1;
}

/* base: "//host[:port]" (the scheme is added per link) or, from http.url,
 * "scheme://host..." whose scheme is replaced per link. */
static void hostmeta_url(tn_buf_t *out, const tn_http_req_t *req, int ws,
                         const char *path)
{
    const char *url = req->srv->cfg->http_url;
    int secure = req->secure;
    const char *rest;
    if (url) {
        const char *sep = strstr(url, "://");
        secure = url[sep - url - 1] == 's';
        rest = sep + 3;
    } else {
        rest = tn_http_header(req, "host");
    }
    tn_buf_puts(out, ws ? (secure ? "wss://" : "ws://")
                        : (secure ? "https://" : "http://"));
    tn_buf_puts(out, rest);
    tn_buf_puts(out, path);
}

void tn_hostmeta_request(tn_http_req_t *req)
{
    static const char allow[] = "Allow: GET, HEAD, OPTIONS\r\n";
    if (strcmp(req->method, "OPTIONS") == 0) {
        tn_http_respond(req, 200, NULL,
                        "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                        "Access-Control-Max-Age: 86400\r\n",
                        NULL, 0);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        tn_http_respond(req, 405, NULL, allow, NULL, 0);
        return;
    }
    if (!req->srv->cfg->http_url &&
        !hostmeta_host_ok(tn_http_header(req, "host"))) {
        static const char bad[] = "400 Bad Request: no usable Host\n";
        tn_http_respond(req, 400, "text/plain; charset=utf-8", NULL, bad,
                        sizeof bad - 1);
        return;
    }
    int json = strstr(req->path, ".json") != NULL;
    tn_buf_t b;
    tn_buf_init(&b);
    if (json) {
        tn_buf_puts(&b, "{\"links\":[{\"rel\":\"urn:xmpp:alt-connections:"
                        "websocket\",\"href\":\"");
        hostmeta_url(&b, req, 1, "/xmpp-websocket");
        tn_buf_puts(&b, "\"},{\"rel\":\"urn:xmpp:alt-connections:xbosh\","
                        "\"href\":\"");
        hostmeta_url(&b, req, 0, "/http-bind");
        tn_buf_puts(&b, "\"}]}\n");
    } else {
        tn_buf_puts(&b,
                    "<?xml version='1.0' encoding='utf-8'?>\n"
                    "<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>"
                    "\n<Link rel='urn:xmpp:alt-connections:websocket' "
                    "href='");
        hostmeta_url(&b, req, 1, "/xmpp-websocket");
        tn_buf_puts(&b, "'/>\n<Link rel='urn:xmpp:alt-connections:xbosh' "
                        "href='");
        hostmeta_url(&b, req, 0, "/http-bind");
        tn_buf_puts(&b, "'/>\n</XRD>\n");
    }
    int head = strcmp(req->method, "HEAD") == 0;
    /* CORS for any origin: the document is public and browsers (Converse
     * discovering endpoints) read it cross-origin. */
    tn_http_respond(req, 200, json ? "application/json" : "application/xrd+xml",
                    tn_http_header(req, "origin") && tn_http_origin_ok(req)
                        ? NULL /* tn_http_respond adds it */
                        : "Access-Control-Allow-Origin: *\r\n",
                    b.data, head ? 0 : b.len);
    tn_buf_release(&b);
}
