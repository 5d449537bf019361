/* config.h -- the typed configuration, loaded from one YAML file (libyaml).
 *
 * Every key is known: an unknown key, a wrong type or an out-of-range value
 * is an error reported as "FILE:LINE: key 'a.b': what is wrong" and the
 * daemon refuses to start. Defaults are filled in for optional keys.
 *
 * Shape (everything but hosts, tls and listen optional):
 *   hosts: [example.org]
 *   tls: {cert: /path/cert.pem, key: /path/key.pem, compact: true}
 *   storage: {backend: sqlite, path: /path/tern.db}
 *   listen:
 *     - {ip: 127.0.0.1, port: 5222, service: c2s}
 *     - {ip: 127.0.0.1, port: 5223, service: c2s, tls: direct}
 *   log: {level: info}
 *   c2s: {require_tls: true, max_stanza_size: 262144,
 *         max_preauth_stanza: 10240, preauth_timeout: 30,
 *         auth_attempts: 3, max_out_queue: 1048576,
 *         auth_ip_failures: 10, auth_ip_window: 60}
 *   muc: {host: conference.example.org}  # default conference.<first host>
 *   pubsub: {host: pubsub.example.org}   # default pubsub.<first host>
 *   http: {origins: [https://app.example.org], trusted_proxies: [10.0.0.1],
 *          max_request_size: 65536, request_timeout: 30,
 *          url: https://xmpp.example.org:5443, see_other_uri: wss://...,
 *          websocket_ping: 30}
 *   bosh: {max_wait: 60, max_hold: 1, max_inactivity: 60, max_pause: 120,
 *          polling: 2}
 *   s2s: {ca_file: /path/extra-ca.pem, require_valid_certs: false,
 *         require_valid_certs_for: [secure.example],
 *         allow_dialback_for: [legacy.example], require_tls: true,
 *         resolver: {servers: ["127.0.0.1:5353"]},
 *         static: {other.example: {ip: 127.0.0.1, port: 5269,
 *                                  tls: starttls}},
 *         idle_timeout: 600, connect_timeout: 30, max_queue: 1000,
 *         dialback_secret: "...", bidi: true, max_retry_delay: 300}
 *   modules: [ping, disco, version]     # default: every built-in module
 *   modules: {roster: {max_items: 500}, ping: ~}   # or with options
 */
#ifndef TN_CORE_CONFIG_H
#define TN_CORE_CONFIG_H

#include <stddef.h>

typedef enum { TN_SVC_C2S = 0, TN_SVC_HTTP = 1, TN_SVC_S2S = 2 } tn_service_t;
typedef enum { TN_TLS_STARTTLS = 0, TN_TLS_DIRECT = 1, TN_TLS_NONE = 2 }
    tn_listen_tls_t;

typedef struct tn_listen_cfg {
    char *ip;            /* owned; IPv4 or IPv6 literal */
    int port;            /* 1..65535 */
    tn_service_t service;
    tn_listen_tls_t tls; /* "starttls" (default for c2s), "direct" or "none"
                          * (default for http) */
} tn_listen_cfg_t;

/* A remote domain reached at a fixed address instead of through DNS. */
typedef struct tn_s2s_static {
    char *domain; /* owned, canonical */
    char *ip;     /* owned; IPv4 or IPv6 literal */
    int port;
    int direct_tls; /* tls: direct (XEP-0368) instead of STARTTLS */
} tn_s2s_static_t;

/* One module option as written ("modules: {roster: {max_items: 500}}"):
 * the module types and checks it when it loads. */
typedef struct tn_modopt {
    char *module; /* owned */
    char *key;    /* owned */
    char *value;  /* owned; the scalar's text */
    unsigned line;
} tn_modopt_t;

typedef struct tn_config {
    char *path;              /* owned; the file it came from */
    char **hosts;            /* owned; canonical domains (nameprep'd) */
    size_t nhosts;
    char *tls_cert, *tls_key; /* owned paths */
    char *muc_host;           /* owned, canonical; NULL: the default */
    char *pubsub_host;        /* owned, canonical; NULL: the default */
    int tls_compact;          /* bool, default 1: TLS 1.3 sessions leave
                               * OpenSSL after the handshake (tls13.h) */
    int tls_tickets;          /* bool, default 1: one resumption ticket
                               * per full handshake (tls.c) */
    char *storage_backend;   /* owned; "sqlite" */
    char *storage_path;      /* owned; relative to the working directory */
    tn_listen_cfg_t *listen; /* owned array */
    size_t nlisten;
    int log_level;           /* TN_LOG_* */
    /* c2s */
    int require_tls;         /* bool; default 1 */
    size_t max_stanza_size;  /* bytes after auth; default 262144 */
    size_t max_preauth_stanza; /* bytes per stanza before auth; 10240 */
    unsigned preauth_timeout; /* seconds from accept to bound; 30 */
    unsigned auth_attempts;  /* failed SASL attempts per stream; 3 */
    size_t max_out_queue;    /* bytes queued toward a slow reader; 1 MiB */
    unsigned auth_ip_failures; /* failed logins per IP per window; 10;
                                  0: no per-IP limit */
    unsigned auth_ip_window; /* seconds; 60 */
    /* http listeners (WebSocket, BOSH, host-meta) */
    char **http_origins;     /* owned; allowed Origin values; none: any */
    size_t nhttp_origins;
    char **http_proxies;     /* owned; IP literals whose X-Forwarded-For
                                is believed */
    size_t nhttp_proxies;
    size_t http_max_request; /* bytes of one request; default 65536 */
    unsigned http_timeout;   /* seconds to send a request, and idle
                                keep-alive; default 30 */
    char *http_url;          /* owned; public base URL for host-meta, or
                                NULL: from the request's Host */
    char *ws_see_other;      /* owned; RFC 7395 see-other-uri, or NULL */
    unsigned ws_ping;        /* seconds between WebSocket pings; 30 */
    unsigned bosh_max_wait, bosh_max_hold, bosh_max_inactivity,
        bosh_max_pause, bosh_polling; /* 60, 1, 60, 120, 2 */
    /* s2s (federation; net/s2s.h) */
    char *s2s_ca_file;       /* owned; trust anchors besides the system's */
    int s2s_require_valid_certs; /* bool, default 0: dialback allowed */
    char **s2s_secure;       /* owned; domains that need valid certs */
    size_t ns2s_secure;
    char **s2s_insecure;     /* owned; domains allowed dialback anyway */
    size_t ns2s_insecure;
    int s2s_require_tls;     /* bool, default 1 */
    char **s2s_resolvers;    /* owned; "ip:port" / "[ip6]:port"; none:
                                the system's resolver configuration */
    size_t ns2s_resolvers;
    tn_s2s_static_t *s2s_static; /* owned */
    size_t ns2s_static;
    unsigned s2s_idle_timeout;    /* seconds; 600 */
    unsigned s2s_connect_timeout; /* seconds to authenticate; 30 */
    unsigned s2s_max_queue;       /* stanzas waiting per stream; 1000 */
    char *s2s_dialback_secret;    /* owned, or NULL: random per start */
    int s2s_bidi;                 /* bool, default 1: XEP-0288 offered */
    unsigned s2s_max_retry_delay; /* seconds; 300; 0: no back-off */
    char **modules;          /* owned; NULL: every built-in module */
    size_t nmodules;
    tn_modopt_t *modopts;    /* owned; options of listed modules */
    size_t nmodopts;
} tn_config_t;

/* Loads path into *cfg. Returns 0, or TN_EINVAL/TN_EIO with *err set to a
 * fresh message "path:line: key 'k': reason" (caller frees). On error *cfg
 * holds nothing that needs releasing. */
int tn_config_load(const char *path, tn_config_t *cfg, char **err);
/* Same, from a string (for tests); name is used in messages. */
int tn_config_parse(const char *name, const char *text, size_t len,
                    tn_config_t *cfg, char **err);
void tn_config_release(tn_config_t *cfg);
/* 1 when remote domain (canonical) must present a valid certificate
 * (s2s.require_valid_certs and the per-domain lists). */
int tn_config_s2s_secure(const tn_config_t *cfg, const char *domain);
/* The static route for domain, or NULL. */
const tn_s2s_static_t *tn_config_s2s_static(const tn_config_t *cfg,
                                            const char *domain);
/* 1 when domain (canonical) is one of cfg->hosts. */
int tn_config_is_host(const tn_config_t *cfg, const char *domain);

#endif
