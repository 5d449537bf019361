/* config.c -- loads and checks tern's YAML configuration (see config.h for
 * the shape). libyaml's document API builds the node tree; we then walk it
 * against a fixed schema, so every key is known, typed and bounded, and
 * every complaint carries "FILE:LINE: key 'a.b[0].c': reason".
 *
 * Left to others: whether the TLS files are readable (the daemon reports
 * that itself), whether module names exist (the module registry), and
 * anything host-specific beyond canonicalizing the host names (jid.c). */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xmpp/jid.h"

#define CFG_K ((long long)1024)
#define CFG_M (CFG_K * 1024)
#define CFG_G (CFG_M * 1024)

/* Walk state: the document being read and the file name used in
 * messages. Only the first error is kept; callers stop at it. */
typedef struct cfg_ctx {
    const char *name;
    yaml_document_t *doc;
    char *err; /* owned until handed to the caller */
} cfg_ctx_t;

/* One listener's address, kept in binary form to spot duplicates written
 * differently ("::1" and "0::1"). */
typedef struct cfg_addr {
    int af;
    unsigned char addr[16];
    int port;
} cfg_addr_t;

static char *cfg_vsprintf(const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        n = 0;
    char *p = tn_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

/* Records "name:line: key 'path': reason" (or "name:line: reason" when path
 * is NULL) unless an error is already recorded. line is 1-based. */
static int cfg_error_line(cfg_ctx_t *c, size_t line, const char *path,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int cfg_error_line(cfg_ctx_t *c, size_t line, const char *path,
                          const char *fmt, ...)
{
    if (c->err)
        return TN_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    char *reason = cfg_vsprintf(fmt, ap);
    va_end(ap);
    if (path)
        c->err =
            tn_sprintf("%s:%zu: key '%s': %s", c->name, line, path, reason);
    else
        c->err = tn_sprintf("%s:%zu: %s", c->name, line, reason);
    tn_free(reason);
    return TN_EINVAL;
}

/* libyaml counts lines from 0; people count from 1. */
#define cfg_line(n) ((size_t)(n)->start_mark.line + 1)
#define cfg_error(c, n, path, ...)                                             \
    cfg_error_line((c), cfg_line(n), (path), __VA_ARGS__)

static yaml_node_t *cfg_node(cfg_ctx_t *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static char *cfg_path_key(const char *parent, const char *key)
{
    return parent ? tn_sprintf("%s.%s", parent, key) : tn_strdup(key);
}

static char *cfg_path_idx(const char *parent, size_t i)
{
    return tn_sprintf("%s[%zu]", parent, i);
}

/* The scalar's text when it holds no NUL byte (libyaml allows "\0" in
 * double quotes, which would silently truncate a C string), else NULL. */
static const char *cfg_text(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return NULL;
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        return NULL;
    return s;
}

/* YAML's null: an empty or "~"/"null" plain scalar ("key:" with nothing
 * after it). Optional keys given null are still errors: say what you
 * mean or leave the key out. */
static int cfg_is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE ||
        n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 ||
           strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* Checks that n is a mapping whose keys are all among keys[0..nkeys) with
 * none repeated, and stores each value node in vals[i] (NULL when the key
 * is absent). path names the mapping itself (NULL at the top level). */
static int cfg_map(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                   const char *const *keys, size_t nkeys, yaml_node_t **vals)
{
    for (size_t i = 0; i < nkeys; i++)
        vals[i] = NULL;
    if (n->type != YAML_MAPPING_NODE)
        return cfg_error(c, n, path, "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        yaml_node_t *v = cfg_node(c, p->value);
        if (!k || !v)
            return cfg_error(c, n, path, "malformed mapping");
        const char *ks = cfg_text(k);
        if (!ks)
            return cfg_error(c, k, path, "keys must be plain strings");
        size_t i = 0;
        while (i < nkeys && strcmp(keys[i], ks) != 0)
            i++;
        char *kp = cfg_path_key(path, ks);
        int rc = 0;
        if (i == nkeys)
            rc = cfg_error(c, k, kp, "unknown key");
        else if (vals[i])
            rc = cfg_error(c, k, kp, "duplicate key");
        else
            vals[i] = v;
        tn_free(kp);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Complains, at the line of mapping n, that key is missing from it. */
static int cfg_missing(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                       const char *key)
{
    char *kp = cfg_path_key(path, key);
    cfg_error(c, n, kp, "missing required key");
    tn_free(kp);
    return TN_EINVAL;
}

static int cfg_seq(cfg_ctx_t *c, yaml_node_t *n, const char *path)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return cfg_error(c, n, path, "expected a list");
    return 0;
}

static size_t cfg_seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A non-empty string; *out is replaced with a fresh copy. */
static int cfg_str(cfg_ctx_t *c, yaml_node_t *n, const char *path, char **out)
{
    const char *s = cfg_text(n);
    if (!s || cfg_is_null(n))
        return cfg_error(c, n, path, "expected a string");
    if (!*s)
        return cfg_error(c, n, path, "must not be empty");
    tn_free(*out);
    *out = tn_strdup(s);
    return 0;
}

/* Parses a decimal integer with an optional sign and, when suffixes is
 * set, one of K, M or G (1024-based). Values too big for long long
 * saturate so that the caller's range check reports them. Returns 0, or
 * -1 when s is not a number at all. */
static int cfg_parse_num(const char *s, int suffixes, long long *out)
{
    int neg = 0;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long long v = 0;
    int over = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (ULLONG_MAX - 9) / 10)
            over = 1;
        else
            v = v * 10 + (unsigned long long)(*s - '0');
    }
    long long mult = 1;
    if (suffixes && *s) {
        switch (*s) {
        case 'K':
        case 'k':
            mult = CFG_K;
            break;
        case 'M':
        case 'm':
            mult = CFG_M;
            break;
        case 'G':
        case 'g':
            mult = CFG_G;
            break;
        default:
            return -1;
        }
        s++;
    }
    if (*s)
        return -1;
    if (over || v > (unsigned long long)(LLONG_MAX / mult))
        *out = neg ? LLONG_MIN : LLONG_MAX;
    else
        *out = neg ? -(long long)v * mult : (long long)v * mult;
    return 0;
}

/* An integer in min..max. Quoted numbers are accepted too: the schema, not
 * the YAML style, says what the key holds. */
static int cfg_int(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                   long long min, long long max, long long *out)
{
    const char *s = cfg_text(n);
    long long v;
    if (!s || cfg_parse_num(s, 0, &v) < 0)
        return cfg_error(c, n, path, "expected an integer");
    if (v < min || v > max)
        return cfg_error(c, n, path, "must be between %lld and %lld", min, max);
    *out = v;
    return 0;
}

/* A byte count in min..max: plain bytes or a number with K/M/G. */
static int cfg_size(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                    long long min, long long max, size_t *out)
{
    const char *s = cfg_text(n);
    long long v;
    if (!s || cfg_parse_num(s, 1, &v) < 0)
        return cfg_error(c, n, path,
                         "expected an integer (bytes, or with suffix K, M "
                         "or G)");
    if (v < min || v > max)
        return cfg_error(c, n, path, "must be between %lld and %lld", min, max);
    *out = (size_t)v;
    return 0;
}

/* true/false, plus YAML 1.1's yes/no and on/off, in the three spellings
 * YAML 1.1 allows (lower, Capitalized, UPPER). */
static int cfg_bool(cfg_ctx_t *c, yaml_node_t *n, const char *path, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    const char *s = cfg_text(n);
    for (size_t i = 0; s && i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return cfg_error(c, n, path, "expected true or false");
}

/* Runs one field parser on a child key, building its dotted path. */
#define CFG_CHILD(call_with_path, parent, key)                                 \
    do {                                                                       \
        char *cp_ = cfg_path_key((parent), (key));                             \
        int rc_ = call_with_path;                                              \
        tn_free(cp_);                                                          \
        if (rc_ < 0)                                                           \
            return rc_;                                                        \
    } while (0)

static int cfg_hosts(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    if (cfg_seq(c, n, "hosts") < 0)
        return TN_EINVAL;
    size_t len = cfg_seq_len(n);
    if (len == 0)
        return cfg_error(c, n, "hosts", "must not be empty");
    cfg->hosts = tn_calloc(len, sizeof *cfg->hosts);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *item = cfg_node(c, n->data.sequence.items.start[i]);
        char *path = cfg_path_idx("hosts", i);
        char *raw = NULL;
        int rc = cfg_str(c, item, path, &raw);
        char *host = rc < 0 ? NULL : tn_jid_nameprep(raw);
        if (rc == 0 && !host)
            rc = cfg_error(c, item, path, "'%s' is not a valid domain name",
                           raw);
        for (size_t j = 0; rc == 0 && j < cfg->nhosts; j++)
            if (strcmp(cfg->hosts[j], host) == 0)
                rc = cfg_error(c, item, path, "duplicate host '%s'", host);
        tn_free(raw);
        tn_free(path);
        if (rc < 0) {
            tn_free(host);
            return rc;
        }
        cfg->hosts[cfg->nhosts++] = host;
    }
    return 0;
}

static int cfg_tls(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"cert", "key", "compact",
                                       "session_tickets"};
    yaml_node_t *v[4];
    if (cfg_map(c, n, "tls", keys, 4, v) < 0)
        return TN_EINVAL;
    for (size_t i = 0; i < 2; i++)
        if (!v[i])
            return cfg_missing(c, n, "tls", keys[i]);
    CFG_CHILD(cfg_str(c, v[0], cp_, &cfg->tls_cert), "tls", "cert");
    CFG_CHILD(cfg_str(c, v[1], cp_, &cfg->tls_key), "tls", "key");
    if (v[2])
        CFG_CHILD(cfg_bool(c, v[2], cp_, &cfg->tls_compact), "tls", "compact");
    if (v[3])
        CFG_CHILD(cfg_bool(c, v[3], cp_, &cfg->tls_tickets), "tls",
                  "session_tickets");
    return 0;
}

static int cfg_storage(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"backend", "path"};
    yaml_node_t *v[2];
    if (cfg_map(c, n, "storage", keys, 2, v) < 0)
        return TN_EINVAL;
    if (v[0]) {
        CFG_CHILD(cfg_str(c, v[0], cp_, &cfg->storage_backend), "storage",
                  "backend");
        if (strcmp(cfg->storage_backend, "sqlite") != 0)
            return cfg_error(c, v[0], "storage.backend",
                             "unknown storage backend '%s' (expected "
                             "sqlite)",
                             cfg->storage_backend);
    }
    if (v[1])
        CFG_CHILD(cfg_str(c, v[1], cp_, &cfg->storage_path), "storage", "path");
    return 0;
}

/* A service on a domain of its own: "muc: {host: ...}" (XEP-0045;
 * mod_muc) and "pubsub: {host: ...}" (XEP-0060; mod_pubsub). */
static int cfg_service(cfg_ctx_t *c, yaml_node_t *n, const char *name,
                       char **host)
{
    static const char *const keys[] = {"host"};
    yaml_node_t *v[1];
    if (cfg_map(c, n, name, keys, 1, v) < 0)
        return TN_EINVAL;
    if (!v[0])
        return 0;
    char *raw = NULL;
    CFG_CHILD(cfg_str(c, v[0], cp_, &raw), name, "host");
    *host = tn_jid_nameprep(raw);
    int rc = 0;
    if (!*host) {
        char *path = tn_sprintf("%s.host", name);
        rc = cfg_error(c, v[0], path, "'%s' is not a valid domain name", raw);
        tn_free(path);
    }
    tn_free(raw);
    return rc;
}

/* A list of non-empty strings into *out / *n; check (may be NULL) vets
 * each one and returns NULL or what is wrong with it. */
static int cfg_strlist(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                       const char *(*check)(const char *), char ***out,
                       size_t *nout)
{
    if (cfg_seq(c, n, path) < 0)
        return TN_EINVAL;
    size_t len = cfg_seq_len(n);
    *out = tn_calloc(len ? len : 1, sizeof **out);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *item = cfg_node(c, n->data.sequence.items.start[i]);
        char *ip = cfg_path_idx(path, i);
        char *s = NULL;
        int rc = cfg_str(c, item, ip, &s);
        const char *why = rc == 0 && check ? check(s) : NULL;
        if (why)
            rc = cfg_error(c, item, ip, "'%s' %s", s, why);
        tn_free(ip);
        if (rc < 0) {
            tn_free(s);
            return rc;
        }
        (*out)[(*nout)++] = s;
    }
    return 0;
}

static const char *cfg_check_ip(const char *s)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1)
        return NULL;
    return "is not an IPv4 or IPv6 address";
}

/* Goes verbatim into headers and XML: printable ASCII without quotes,
 * angle brackets or backslashes. */
static const char *cfg_check_url(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0 &&
        strncmp(s, "ws://", 5) != 0 && strncmp(s, "wss://", 6) != 0)
        return "is not an http(s) or ws(s) URL";
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p >= 127 || strchr("\"'<>\\`{}|^", *p))
            return "holds a character that must be percent-encoded";
    return NULL;
}

static int cfg_url(cfg_ctx_t *c, yaml_node_t *n, const char *path, char **out)
{
    if (cfg_str(c, n, path, out) < 0)
        return TN_EINVAL;
    const char *why = cfg_check_url(*out);
    if (why)
        return cfg_error(c, n, path, "'%s' %s", *out, why);
    size_t len = strlen(*out);
    while (len > 0 && (*out)[len - 1] == '/')
        (*out)[--len] = '\0'; /* endpoints are appended with their '/' */
    return 0;
}

/* The HTTP server (service: http listeners; net/http.h). */
static int cfg_http(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"origins",         "trusted_proxies",
                                       "max_request_size", "request_timeout",
                                       "url",             "see_other_uri",
                                       "websocket_ping"};
    yaml_node_t *v[7];
    long long x;
    if (cfg_map(c, n, "http", keys, 7, v) < 0)
        return TN_EINVAL;
    if (v[0])
        CFG_CHILD(cfg_strlist(c, v[0], cp_, cfg_check_url, &cfg->http_origins,
                              &cfg->nhttp_origins),
                  "http", keys[0]);
    if (v[1])
        CFG_CHILD(cfg_strlist(c, v[1], cp_, cfg_check_ip, &cfg->http_proxies,
                              &cfg->nhttp_proxies),
                  "http", keys[1]);
    if (v[2])
        CFG_CHILD(
            cfg_size(c, v[2], cp_, 4 * CFG_K, 16 * CFG_M, &cfg->http_max_request),
            "http", keys[2]);
    if (v[3]) {
        CFG_CHILD(cfg_int(c, v[3], cp_, 1, 3600, &x), "http", keys[3]);
        cfg->http_timeout = (unsigned)x;
    }
    if (v[4])
        CFG_CHILD(cfg_url(c, v[4], cp_, &cfg->http_url), "http", keys[4]);
    if (v[5])
        CFG_CHILD(cfg_url(c, v[5], cp_, &cfg->ws_see_other), "http", keys[5]);
    if (v[6]) {
        CFG_CHILD(cfg_int(c, v[6], cp_, 1, 3600, &x), "http", keys[6]);
        cfg->ws_ping = (unsigned)x;
    }
    return 0;
}

/* BOSH (XEP-0124/0206): the bounds sessions are held to. */
static int cfg_bosh(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"max_wait", "max_hold", "max_inactivity",
                                       "max_pause", "polling"};
    static const long long lo[] = {1, 0, 2, 0, 0};
    static const long long hi[] = {3600, 8, 3600, 86400, 600};
    unsigned *dst[] = {&cfg->bosh_max_wait, &cfg->bosh_max_hold,
                       &cfg->bosh_max_inactivity, &cfg->bosh_max_pause,
                       &cfg->bosh_polling};
    yaml_node_t *v[5];
    long long x;
    if (cfg_map(c, n, "bosh", keys, 5, v) < 0)
        return TN_EINVAL;
    for (size_t i = 0; i < 5; i++)
        if (v[i]) {
            CFG_CHILD(cfg_int(c, v[i], cp_, lo[i], hi[i], &x), "bosh", keys[i]);
            *dst[i] = (unsigned)x;
        }
    return 0;
}

static int cfg_log(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"level"};
    yaml_node_t *v[1];
    if (cfg_map(c, n, "log", keys, 1, v) < 0)
        return TN_EINVAL;
    if (!v[0])
        return 0;
    char *s = NULL;
    if (cfg_str(c, v[0], "log.level", &s) < 0)
        return TN_EINVAL;
    int level = tn_log_level_parse(s);
    int rc = 0;
    if (level < 0)
        rc = cfg_error(c, v[0], "log.level",
                       "unknown log level '%s' (expected debug, info, warn "
                       "or error)",
                       s);
    else
        cfg->log_level = level;
    tn_free(s);
    return rc;
}

static int cfg_c2s(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {"require_tls",        "max_stanza_size",
                                       "max_preauth_stanza", "preauth_timeout",
                                       "auth_attempts",      "max_out_queue",
                                       "auth_ip_failures",   "auth_ip_window"};
    yaml_node_t *v[8];
    long long x;
    if (cfg_map(c, n, "c2s", keys, 8, v) < 0)
        return TN_EINVAL;
    if (v[0])
        CFG_CHILD(cfg_bool(c, v[0], cp_, &cfg->require_tls), "c2s", keys[0]);
    if (v[1])
        CFG_CHILD(
            cfg_size(c, v[1], cp_, CFG_K, 16 * CFG_M, &cfg->max_stanza_size),
            "c2s", keys[1]);
    if (v[2])
        CFG_CHILD(cfg_size(c, v[2], cp_, 512, CFG_M, &cfg->max_preauth_stanza),
                  "c2s", keys[2]);
    if (v[3]) {
        CFG_CHILD(cfg_int(c, v[3], cp_, 1, 3600, &x), "c2s", keys[3]);
        cfg->preauth_timeout = (unsigned)x;
    }
    if (v[4]) {
        CFG_CHILD(cfg_int(c, v[4], cp_, 1, 10, &x), "c2s", keys[4]);
        cfg->auth_attempts = (unsigned)x;
    }
    if (v[5])
        CFG_CHILD(
            cfg_size(c, v[5], cp_, 64 * CFG_K, CFG_G, &cfg->max_out_queue),
            "c2s", keys[5]);
    if (v[6]) {
        CFG_CHILD(cfg_int(c, v[6], cp_, 0, 100000, &x), "c2s", keys[6]);
        cfg->auth_ip_failures = (unsigned)x;
    }
    if (v[7]) {
        CFG_CHILD(cfg_int(c, v[7], cp_, 1, 86400, &x), "c2s", keys[7]);
        cfg->auth_ip_window = (unsigned)x;
    }
    return 0;
}

/* One listen item at path ("listen[i]"); *addr receives the binary
 * address for the duplicate check. */
static int cfg_listen_one(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                          tn_listen_cfg_t *l, cfg_addr_t *addr)
{
    static const char *const keys[] = {"ip", "port", "service", "tls"};
    yaml_node_t *v[4];
    long long port;
    if (cfg_map(c, n, path, keys, 4, v) < 0)
        return TN_EINVAL;
    for (size_t i = 0; i < 2; i++)
        if (!v[i])
            return cfg_missing(c, n, path, keys[i]);
    CFG_CHILD(cfg_str(c, v[0], cp_, &l->ip), path, "ip");
    if (inet_pton(AF_INET, l->ip, addr->addr) == 1)
        addr->af = AF_INET;
    else if (inet_pton(AF_INET6, l->ip, addr->addr) == 1)
        addr->af = AF_INET6;
    else
        CFG_CHILD(cfg_error(c, v[0], cp_, "'%s' is not an IPv4 or IPv6 address",
                            l->ip),
                  path, "ip");
    CFG_CHILD(cfg_int(c, v[1], cp_, 1, 65535, &port), path, "port");
    l->port = addr->port = (int)port;
    /* TODO: components will join c2s, s2s and http here. */
    l->service = TN_SVC_C2S;
    if (v[2]) {
        const char *s = cfg_text(v[2]);
        if (s && strcmp(s, "http") == 0)
            l->service = TN_SVC_HTTP;
        else if (s && strcmp(s, "s2s") == 0)
            l->service = TN_SVC_S2S;
        else if (!s || strcmp(s, "c2s") != 0)
            CFG_CHILD(cfg_error(c, v[2], cp_,
                                "unknown service '%s' (expected c2s, s2s or "
                                "http)",
                                s ? s : "?"),
                      path, "service");
    }
    /* STARTTLS is an XMPP stream feature: HTTP is plain or direct TLS. */
    l->tls = l->service == TN_SVC_HTTP ? TN_TLS_NONE : TN_TLS_STARTTLS;
    if (v[3]) {
        static const char *const modes[] = {"starttls", "direct", "none"};
        static const tn_listen_tls_t vals[] = {TN_TLS_STARTTLS, TN_TLS_DIRECT,
                                               TN_TLS_NONE};
        const char *s = cfg_text(v[3]);
        size_t i = 0;
        while (s && i < 3 && strcmp(s, modes[i]) != 0)
            i++;
        if (!s || i == 3)
            CFG_CHILD(cfg_error(c, v[3], cp_,
                                "unknown tls mode '%s' (expected starttls, "
                                "direct or none)",
                                s ? s : "?"),
                      path, "tls");
        l->tls = vals[i];
        if (l->service == TN_SVC_HTTP && l->tls == TN_TLS_STARTTLS)
            CFG_CHILD(cfg_error(c, v[3], cp_,
                                "an http listener takes tls: direct or none"),
                      path, "tls");
    }
    return 0;
}

static int cfg_listen(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    if (cfg_seq(c, n, "listen") < 0)
        return TN_EINVAL;
    size_t len = cfg_seq_len(n);
    if (len == 0)
        return cfg_error(c, n, "listen", "must not be empty");
    cfg->listen = tn_calloc(len, sizeof *cfg->listen);
    cfg_addr_t *addrs = tn_calloc(len, sizeof *addrs);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < len; i++) {
        yaml_node_t *item = cfg_node(c, n->data.sequence.items.start[i]);
        char *path = cfg_path_idx("listen", i);
        /* Counted before parsing so that a half-filled entry is freed. */
        cfg->nlisten++;
        rc = cfg_listen_one(c, item, path, &cfg->listen[i], &addrs[i]);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (addrs[j].af == addrs[i].af && addrs[j].port == addrs[i].port &&
                memcmp(addrs[j].addr, addrs[i].addr, 16) == 0)
                rc = cfg_error(c, item, path,
                               "duplicate listener %s port %d (also "
                               "listen[%zu])",
                               cfg->listen[i].ip, cfg->listen[i].port, j);
        tn_free(path);
    }
    tn_free(addrs);
    return rc;
}

/* Adds module name at node n unless it is listed already. */
static int cfg_module_add(cfg_ctx_t *c, yaml_node_t *n, const char *path,
                          char *name, tn_config_t *cfg)
{
    for (size_t j = 0; j < cfg->nmodules; j++)
        if (strcmp(cfg->modules[j], name) == 0) {
            cfg_error(c, n, path, "duplicate module '%s'", name);
            tn_free(name);
            return TN_EINVAL;
        }
    cfg->modules[cfg->nmodules++] = name;
    return 0;
}

/* The options mapping of module `name` (scalars only, or null for none).
 * They are kept as text with their line; the module types and bounds
 * them when it loads (tn_module_opt_*), and unknown ones are errors. */
static int cfg_module_opts(cfg_ctx_t *c, yaml_node_t *n, const char *name,
                           tn_config_t *cfg)
{
    char *path = cfg_path_key("modules", name);
    int rc = 0;
    if (cfg_is_null(n))
        goto done;
    if (n->type != YAML_MAPPING_NODE) {
        rc = cfg_error(c, n, path, "expected a mapping of options");
        goto done;
    }
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
         rc == 0 && pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = cfg_node(c, pr->key), *v = cfg_node(c, pr->value);
        const char *key = cfg_text(k), *val = cfg_text(v);
        if (!key || !*key) {
            rc = cfg_error(c, k, path, "expected an option name");
            break;
        }
        char *kp = cfg_path_key(path, key);
        for (size_t i = 0; rc == 0 && i < cfg->nmodopts; i++)
            if (strcmp(cfg->modopts[i].module, name) == 0 &&
                strcmp(cfg->modopts[i].key, key) == 0)
                rc = cfg_error(c, k, kp, "duplicate key");
        if (rc == 0 && (!val || cfg_is_null(v)))
            rc = cfg_error(c, v, kp, "expected a value");
        tn_free(kp);
        if (rc < 0)
            break;
        cfg->modopts = tn_realloc(cfg->modopts,
                                  (cfg->nmodopts + 1) * sizeof *cfg->modopts);
        tn_modopt_t *o = &cfg->modopts[cfg->nmodopts++];
        o->module = tn_strdup(name);
        o->key = tn_strdup(key);
        o->value = tn_strdup(val);
        o->line = (unsigned)cfg_line(v);
    }
done:
    tn_free(path);
    return rc;
}

static int cfg_modules(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    if (n->type == YAML_MAPPING_NODE) {
        size_t len = (size_t)(n->data.mapping.pairs.top -
                              n->data.mapping.pairs.start);
        cfg->modules = tn_calloc(len ? len : 1, sizeof *cfg->modules);
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start;
             pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = cfg_node(c, pr->key);
            char *name = NULL;
            if (cfg_str(c, k, "modules", &name) < 0 ||
                cfg_module_add(c, k, "modules", name, cfg) < 0 ||
                cfg_module_opts(c, cfg_node(c, pr->value), name, cfg) < 0)
                return TN_EINVAL;
        }
        return 0;
    }
    if (cfg_seq(c, n, "modules") < 0)
        return TN_EINVAL;
    size_t len = cfg_seq_len(n);
    /* An empty list means "no modules", distinct from NULL ("all"). */
    cfg->modules = tn_calloc(len ? len : 1, sizeof *cfg->modules);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *item = cfg_node(c, n->data.sequence.items.start[i]);
        char *path = cfg_path_idx("modules", i);
        char *name = NULL;
        int rc = cfg_str(c, item, path, &name);
        if (rc == 0)
            rc = cfg_module_add(c, item, path, name, cfg);
        tn_free(path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const char *cfg_check_domain(const char *s)
{
    char *d = tn_jid_nameprep(s);
    int ok = d && strcmp(d, s) == 0;
    tn_free(d);
    return ok ? NULL : "is not a valid domain name in canonical form";
}

/* "ip", "ip:port" or "[ip6]:port", rewritten for c-ares as "ip:port" or
 * "[ip6]:port". */
static const char *cfg_check_dns_server(const char *s)
{
    char ip[64];
    const char *port = NULL;
    unsigned char a[16];
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || (size_t)(e - s - 1) >= sizeof ip)
            return "is not ip, ip:port or [ipv6]:port";
        memcpy(ip, s + 1, (size_t)(e - s - 1));
        ip[e - s - 1] = '\0';
        if (e[1] == ':')
            port = e + 2;
        else if (e[1])
            return "is not ip, ip:port or [ipv6]:port";
        if (inet_pton(AF_INET6, ip, a) != 1)
            return "is not ip, ip:port or [ipv6]:port";
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':')) {
            /* A bare IPv6 address. */
            return inet_pton(AF_INET6, s, a) == 1
                       ? NULL
                       : "is not ip, ip:port or [ipv6]:port";
        }
        size_t n = colon ? (size_t)(colon - s) : strlen(s);
        if (n >= sizeof ip)
            return "is not ip, ip:port or [ipv6]:port";
        memcpy(ip, s, n);
        ip[n] = '\0';
        if (inet_pton(AF_INET, ip, a) != 1)
            return "is not ip, ip:port or [ipv6]:port";
        port = colon ? colon + 1 : NULL;
    }
    if (port) {
        long long v;
        if (cfg_parse_num(port, 0, &v) < 0 || v < 1 || v > 65535)
            return "has a bad port";
    }
    return NULL;
}

/* s2s.static: {domain: {ip: .., port: .., tls: starttls|direct}} */
static int cfg_s2s_static(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    if (n->type != YAML_MAPPING_NODE)
        return cfg_error(c, n, "s2s.static", "expected a mapping");
    size_t len = (size_t)(n->data.mapping.pairs.top -
                          n->data.mapping.pairs.start);
    cfg->s2s_static = tn_calloc(len ? len : 1, sizeof *cfg->s2s_static);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cfg_node(c, p->key);
        yaml_node_t *v = cfg_node(c, p->value);
        const char *ks = k ? cfg_text(k) : NULL;
        if (!ks || !v)
            return cfg_error(c, n, "s2s.static", "keys must be domain names");
        char *path = cfg_path_key("s2s.static", ks);
        tn_s2s_static_t *st = &cfg->s2s_static[cfg->ns2s_static++];
        int rc = 0;
        const char *why = cfg_check_domain(ks);
        for (size_t i = 0; !why && i + 1 < cfg->ns2s_static; i++)
            if (strcmp(cfg->s2s_static[i].domain, ks) == 0)
                why = "is listed twice";
        if (why)
            rc = cfg_error(c, k, path, "'%s' %s", ks, why);
        st->domain = tn_strdup(ks);
        static const char *const keys[] = {"ip", "port", "tls"};
        yaml_node_t *f[3];
        long long port = 5269;
        if (rc == 0)
            rc = cfg_map(c, v, path, keys, 3, f);
        if (rc == 0 && !f[0])
            rc = cfg_missing(c, v, path, "ip");
        if (rc == 0) {
            char *fp = cfg_path_key(path, "ip");
            rc = cfg_str(c, f[0], fp, &st->ip);
            if (rc == 0 && cfg_check_ip(st->ip))
                rc = cfg_error(c, f[0], fp, "'%s' %s", st->ip,
                               cfg_check_ip(st->ip));
            tn_free(fp);
        }
        if (rc == 0 && f[1]) {
            char *fp = cfg_path_key(path, "port");
            rc = cfg_int(c, f[1], fp, 1, 65535, &port);
            tn_free(fp);
        }
        st->port = (int)port;
        if (rc == 0 && f[2]) {
            const char *t = cfg_text(f[2]);
            if (t && strcmp(t, "direct") == 0)
                st->direct_tls = 1;
            else if (!t || strcmp(t, "starttls") != 0) {
                char *fp = cfg_path_key(path, "tls");
                rc = cfg_error(c, f[2], fp,
                               "unknown tls mode '%s' (expected starttls or "
                               "direct)",
                               t ? t : "?");
                tn_free(fp);
            }
        }
        tn_free(path);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Federation (net/s2s.h). */
static int cfg_s2s(cfg_ctx_t *c, yaml_node_t *n, tn_config_t *cfg)
{
    static const char *const keys[] = {
        "ca_file",     "require_valid_certs", "require_valid_certs_for",
        "allow_dialback_for", "require_tls", "resolver",
        "static",      "idle_timeout",        "connect_timeout",
        "max_queue",   "dialback_secret",     "bidi",
        "max_retry_delay"};
    yaml_node_t *v[13];
    long long x;
    if (cfg_map(c, n, "s2s", keys, 13, v) < 0)
        return TN_EINVAL;
    if (v[0])
        CFG_CHILD(cfg_str(c, v[0], cp_, &cfg->s2s_ca_file), "s2s", keys[0]);
    if (v[1])
        CFG_CHILD(cfg_bool(c, v[1], cp_, &cfg->s2s_require_valid_certs),
                  "s2s", keys[1]);
    if (v[2])
        CFG_CHILD(cfg_strlist(c, v[2], cp_, cfg_check_domain, &cfg->s2s_secure,
                              &cfg->ns2s_secure),
                  "s2s", keys[2]);
    if (v[3])
        CFG_CHILD(cfg_strlist(c, v[3], cp_, cfg_check_domain,
                              &cfg->s2s_insecure, &cfg->ns2s_insecure),
                  "s2s", keys[3]);
    if (v[4])
        CFG_CHILD(cfg_bool(c, v[4], cp_, &cfg->s2s_require_tls), "s2s",
                  keys[4]);
    if (v[5]) {
        static const char *const rkeys[] = {"servers"};
        yaml_node_t *r[1];
        if (cfg_map(c, v[5], "s2s.resolver", rkeys, 1, r) < 0)
            return TN_EINVAL;
        if (r[0])
            CFG_CHILD(cfg_strlist(c, r[0], cp_, cfg_check_dns_server,
                                  &cfg->s2s_resolvers, &cfg->ns2s_resolvers),
                      "s2s.resolver", rkeys[0]);
    }
    if (v[6] && cfg_s2s_static(c, v[6], cfg) < 0)
        return TN_EINVAL;
    unsigned *dst[] = {&cfg->s2s_idle_timeout, &cfg->s2s_connect_timeout,
                       &cfg->s2s_max_queue};
    static const long long lo[] = {1, 1, 1}, hi[] = {86400, 3600, 100000};
    for (size_t i = 0; i < 3; i++)
        if (v[7 + i]) {
            CFG_CHILD(cfg_int(c, v[7 + i], cp_, lo[i], hi[i], &x), "s2s",
                      keys[7 + i]);
            *dst[i] = (unsigned)x;
        }
    if (v[10]) {
        CFG_CHILD(cfg_str(c, v[10], cp_, &cfg->s2s_dialback_secret), "s2s",
                  keys[10]);
        if (strlen(cfg->s2s_dialback_secret) < 16)
            return cfg_error(c, v[10], "s2s.dialback_secret",
                             "must be at least 16 characters");
    }
    if (v[11])
        CFG_CHILD(cfg_bool(c, v[11], cp_, &cfg->s2s_bidi), "s2s", keys[11]);
    if (v[12]) {
        CFG_CHILD(cfg_int(c, v[12], cp_, 0, 86400, &x), "s2s", keys[12]);
        cfg->s2s_max_retry_delay = (unsigned)x;
    }
    return 0;
}

static int cfg_root(cfg_ctx_t *c, yaml_node_t *root, tn_config_t *cfg)
{
    static const char *const keys[] = {"hosts", "tls",     "storage",
                                       "listen", "log",   "c2s",
                                       "modules", "muc",  "http",
                                       "bosh",  "s2s",   "pubsub"};
    yaml_node_t *v[12];
    if (root->type != YAML_MAPPING_NODE)
        return cfg_error(c, root, NULL, "expected a mapping at the top level");
    if (cfg_map(c, root, NULL, keys, 12, v) < 0)
        return TN_EINVAL;
    /* hosts, tls and listen are required. */
    for (size_t i = 0; i < 4; i++)
        if (i != 2 && !v[i])
            return cfg_missing(c, root, NULL, keys[i]);
    if (cfg_hosts(c, v[0], cfg) < 0 || cfg_tls(c, v[1], cfg) < 0 ||
        (v[2] && cfg_storage(c, v[2], cfg) < 0) ||
        cfg_listen(c, v[3], cfg) < 0 || (v[4] && cfg_log(c, v[4], cfg) < 0) ||
        (v[5] && cfg_c2s(c, v[5], cfg) < 0) ||
        (v[6] && cfg_modules(c, v[6], cfg) < 0) ||
        (v[7] && cfg_service(c, v[7], "muc", &cfg->muc_host) < 0) ||
        (v[8] && cfg_http(c, v[8], cfg) < 0) ||
        (v[9] && cfg_bosh(c, v[9], cfg) < 0) ||
        (v[10] && cfg_s2s(c, v[10], cfg) < 0) ||
        (v[11] && cfg_service(c, v[11], "pubsub", &cfg->pubsub_host) < 0))
        return TN_EINVAL;
    for (size_t i = 0; cfg->muc_host && i < cfg->nhosts; i++)
        if (strcmp(cfg->hosts[i], cfg->muc_host) == 0)
            return cfg_error(c, v[7], "muc.host",
                             "'%s' is also one of the hosts", cfg->muc_host);
    for (size_t i = 0; cfg->pubsub_host && i < cfg->nhosts; i++)
        if (strcmp(cfg->hosts[i], cfg->pubsub_host) == 0)
            return cfg_error(c, v[11], "pubsub.host",
                             "'%s' is also one of the hosts",
                             cfg->pubsub_host);
    if (cfg->pubsub_host && cfg->muc_host &&
        strcmp(cfg->pubsub_host, cfg->muc_host) == 0)
        return cfg_error(c, v[11], "pubsub.host",
                         "'%s' is also the muc host", cfg->pubsub_host);
    return 0;
}

static void cfg_defaults(tn_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->log_level = TN_LOG_INFO;
    cfg->require_tls = 1;
    cfg->tls_compact = 1;
    cfg->tls_tickets = 1;
    cfg->max_stanza_size = 262144;
    cfg->max_preauth_stanza = 10240;
    cfg->preauth_timeout = 30;
    cfg->auth_attempts = 3;
    cfg->auth_ip_failures = 10;
    cfg->auth_ip_window = 60;
    cfg->max_out_queue = 1048576;
    cfg->http_max_request = 65536;
    cfg->http_timeout = 30;
    cfg->ws_ping = 30;
    cfg->bosh_max_wait = 60;
    cfg->bosh_max_hold = 1;
    cfg->bosh_max_inactivity = 60;
    cfg->bosh_max_pause = 120;
    cfg->bosh_polling = 2;
    cfg->s2s_require_tls = 1;
    cfg->s2s_idle_timeout = 600;
    cfg->s2s_connect_timeout = 30;
    cfg->s2s_max_queue = 1000;
    cfg->s2s_bidi = 1;
    cfg->s2s_max_retry_delay = 300;
}

static int cfg_syntax_error(cfg_ctx_t *c, yaml_parser_t *p, const char *text,
                            size_t len)
{
    size_t line = p->problem_mark.line + 1;
    /* Reader errors (bad UTF-8, control characters) carry a byte offset
     * rather than a mark: count the lines up to it ourselves. */
    if (p->error == YAML_READER_ERROR) {
        line = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++)
            line += text[i] == '\n';
    }
    return cfg_error_line(c, line, NULL, "YAML syntax error: %s",
                          p->problem ? p->problem : "unknown problem");
}

/* Parses text (len bytes, need not be NUL-terminated) into *cfg; name is
 * used in messages and copied to cfg->path. See config.h. */
int tn_config_parse(const char *name, const char *text, size_t len,
                    tn_config_t *cfg, char **err)
{
    tn_config_t tmp;
    cfg_defaults(&tmp);
    memset(cfg, 0, sizeof *cfg);
    *err = NULL;

    yaml_parser_t parser;
    yaml_document_t doc, extra;
    cfg_ctx_t c = {.name = name, .doc = &doc, .err = NULL};
    int rc = TN_EINVAL, have_doc = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        cfg_syntax_error(&c, &parser, text, len);
        goto fail;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        cfg_error_line(&c, 1, NULL, "the document is empty");
        goto fail;
    }
    /* Read the rest of the stream so that syntax errors after the first
     * document, or a second document, are not silently ignored. */
    if (!yaml_parser_load(&parser, &extra)) {
        cfg_syntax_error(&c, &parser, text, len);
        goto fail;
    }
    yaml_node_t *second = yaml_document_get_root_node(&extra);
    if (second)
        cfg_error(&c, second, NULL, "only one YAML document is allowed");
    yaml_document_delete(&extra);
    if (second)
        goto fail;
    if (cfg_root(&c, root, &tmp) < 0)
        goto fail;
    if (!tmp.storage_backend)
        tmp.storage_backend = tn_strdup("sqlite");
    if (!tmp.storage_path)
        tmp.storage_path = tn_strdup("var/tern.db");
    tmp.path = tn_strdup(name);
    *cfg = tmp;
    rc = 0;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;

fail:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    tn_config_release(&tmp);
    *err = c.err ? c.err : tn_sprintf("%s: invalid configuration", name);
    return rc;
}

/* Reads the whole file, then tn_config_parse(). TN_EIO when unreadable. */
int tn_config_load(const char *path, tn_config_t *cfg, char **err)
{
    memset(cfg, 0, sizeof *cfg);
    *err = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = tn_sprintf("%s: cannot read: %s", path, strerror(errno));
        return TN_EIO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            text = tn_realloc(text, cap);
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    /* ferror() with errno from the failed read (EISDIR for a directory). */
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        tn_free(text);
        *err = tn_sprintf("%s: cannot read: %s", path, strerror(e));
        return TN_EIO;
    }
    fclose(f);
    int rc = tn_config_parse(path, text, len, cfg, err);
    tn_free(text);
    return rc;
}

/* Frees everything cfg owns and zeroes it; safe on a zeroed struct. */
void tn_config_release(tn_config_t *cfg)
{
    tn_free(cfg->path);
    for (size_t i = 0; i < cfg->nhosts; i++)
        tn_free(cfg->hosts[i]);
    tn_free(cfg->hosts);
    tn_free(cfg->tls_cert);
    tn_free(cfg->tls_key);
    tn_free(cfg->storage_backend);
    tn_free(cfg->storage_path);
    for (size_t i = 0; i < cfg->nlisten; i++)
        tn_free(cfg->listen[i].ip);
    tn_free(cfg->listen);
    for (size_t i = 0; i < cfg->nmodules; i++)
        tn_free(cfg->modules[i]);
    tn_free(cfg->modules);
    for (size_t i = 0; i < cfg->nmodopts; i++) {
        tn_free(cfg->modopts[i].module);
        tn_free(cfg->modopts[i].key);
        tn_free(cfg->modopts[i].value);
    }
    tn_free(cfg->modopts);
    tn_free(cfg->muc_host);
    tn_free(cfg->pubsub_host);
    for (size_t i = 0; i < cfg->nhttp_origins; i++)
        tn_free(cfg->http_origins[i]);
    tn_free(cfg->http_origins);
    for (size_t i = 0; i < cfg->nhttp_proxies; i++)
        tn_free(cfg->http_proxies[i]);
    tn_free(cfg->http_proxies);
    tn_free(cfg->http_url);
    tn_free(cfg->ws_see_other);
    tn_free(cfg->s2s_ca_file);
    for (size_t i = 0; i < cfg->ns2s_secure; i++)
        tn_free(cfg->s2s_secure[i]);
    tn_free(cfg->s2s_secure);
    for (size_t i = 0; i < cfg->ns2s_insecure; i++)
        tn_free(cfg->s2s_insecure[i]);
    tn_free(cfg->s2s_insecure);
    for (size_t i = 0; i < cfg->ns2s_resolvers; i++)
        tn_free(cfg->s2s_resolvers[i]);
    tn_free(cfg->s2s_resolvers);
    for (size_t i = 0; i < cfg->ns2s_static; i++) {
        tn_free(cfg->s2s_static[i].domain);
        tn_free(cfg->s2s_static[i].ip);
    }
    tn_free(cfg->s2s_static);
    tn_free(cfg->s2s_dialback_secret);
    memset(cfg, 0, sizeof *cfg);
}

static int cfg_in(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

int tn_config_s2s_secure(const tn_config_t *cfg, const char *domain)
{
    if (cfg_in(cfg->s2s_secure, cfg->ns2s_secure, domain))
        return 1;
    if (cfg_in(cfg->s2s_insecure, cfg->ns2s_insecure, domain))
        return 0;
    return cfg->s2s_require_valid_certs;
}

const tn_s2s_static_t *tn_config_s2s_static(const tn_config_t *cfg,
                                            const char *domain)
{
    for (size_t i = 0; i < cfg->ns2s_static; i++)
        if (strcmp(cfg->s2s_static[i].domain, domain) == 0)
            return &cfg->s2s_static[i];
    return NULL;
}

/* Exact comparison: domain must already be canonical (tn_jid_nameprep). */
int tn_config_is_host(const tn_config_t *cfg, const char *domain)
{
    if (!domain)
        return 0;
    for (size_t i = 0; i < cfg->nhosts; i++)
        if (strcmp(cfg->hosts[i], domain) == 0)
            return 1;
    return 0;
}
