/* test_config.c -- unit tests for core/config.c: the full example from
 * config.h, defaults, and one exact "FILE:LINE: key 'k': reason" message
 * per error class (types, bounds, unknown and duplicate keys, missing keys,
 * YAML syntax, empty and non-mapping documents), plus tn_config_load's
 * file handling and tn_config_is_host. Needs the real xmpp/jid.c for host
 * canonicalization. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

/* The three required keys, two lines each time they are used below. */
#define HOSTS "hosts: [example.org]\n"
#define TLS "tls: {cert: c.pem, key: k.pem}\n"
#define LISTEN "listen: [{ip: 127.0.0.1, port: 5222}]\n"
#define MINIMAL HOSTS TLS LISTEN

static const char full_example[] =
    "# the shape from config.h\n"                               /* 1 */
    "hosts: [example.org, Chat.Example.COM.]\n"                 /* 2 */
    "tls: {cert: /etc/tern/cert.pem, key: /etc/tern/key.pem,\n"
    "      compact: false, session_tickets: false}\n"           /* 3 */
    "storage: {backend: sqlite, path: /var/lib/tern/tern.db}\n" /* 4 */
    "listen:\n"                                                 /* 5 */
    "  - {ip: 127.0.0.1, port: 5222, service: c2s}\n"           /* 6 */
    "  - {ip: 127.0.0.1, port: 5223, service: c2s, tls: direct}\n"
    "  - ip: '::1'\n"
    "    port: 5222\n"
    "    tls: none\n"
    "log: {level: debug}\n"
    "c2s: {require_tls: false, max_stanza_size: 512K,\n"
    "      max_preauth_stanza: 4096, preauth_timeout: 60,\n"
    "      auth_attempts: 5, max_out_queue: 2M,\n"
    "      auth_ip_failures: 0, auth_ip_window: 600}\n"
    "modules: [ping, disco, version]\n"
    "muc: {host: Rooms.Example.ORG}\n"
    "pubsub: {host: PubSub.Example.ORG}\n"
    "http: {origins: ['https://app.example.org'], trusted_proxies: "
    "['10.0.0.1', '::1'],\n"
    "       max_request_size: 128K, request_timeout: 10,\n"
    "       url: 'https://xmpp.example.org:5443/', see_other_uri: "
    "'wss://b.example.org/xmpp-websocket', websocket_ping: 20}\n"
    "bosh: {max_wait: 30, max_hold: 2, max_inactivity: 90, max_pause: 600,\n"
    "       polling: 5}\n";

static int parse(const char *text, tn_config_t *cfg, char **err)
{
    return tn_config_parse("t.yaml", text, strlen(text), cfg, err);
}

static void test_full_example(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = (char *)"untouched";
    assert_int_equal(parse(full_example, &cfg, &err), 0);
    assert_null(err);
    assert_string_equal(cfg.path, "t.yaml");
    assert_int_equal(cfg.nhosts, 2);
    assert_string_equal(cfg.hosts[0], "example.org");
    assert_string_equal(cfg.hosts[1], "chat.example.com");
    assert_string_equal(cfg.tls_cert, "/etc/tern/cert.pem");
    assert_string_equal(cfg.tls_key, "/etc/tern/key.pem");
    assert_string_equal(cfg.storage_backend, "sqlite");
    assert_string_equal(cfg.storage_path, "/var/lib/tern/tern.db");
    assert_int_equal(cfg.nlisten, 3);
    assert_string_equal(cfg.listen[0].ip, "127.0.0.1");
    assert_int_equal(cfg.listen[0].port, 5222);
    assert_int_equal(cfg.listen[0].service, TN_SVC_C2S);
    assert_int_equal(cfg.listen[0].tls, TN_TLS_STARTTLS);
    assert_string_equal(cfg.listen[1].ip, "127.0.0.1");
    assert_int_equal(cfg.listen[1].port, 5223);
    assert_int_equal(cfg.listen[1].tls, TN_TLS_DIRECT);
    assert_string_equal(cfg.listen[2].ip, "::1");
    assert_int_equal(cfg.listen[2].port, 5222);
    assert_int_equal(cfg.listen[2].service, TN_SVC_C2S);
    assert_int_equal(cfg.listen[2].tls, TN_TLS_NONE);
    assert_int_equal(cfg.nhttp_origins, 1);
    assert_string_equal(cfg.http_origins[0], "https://app.example.org");
    assert_int_equal(cfg.nhttp_proxies, 2);
    assert_string_equal(cfg.http_proxies[1], "::1");
    assert_int_equal(cfg.http_max_request, 128 * 1024);
    assert_int_equal(cfg.http_timeout, 10);
    /* The trailing slash goes: endpoints are appended with theirs. */
    assert_string_equal(cfg.http_url, "https://xmpp.example.org:5443");
    assert_string_equal(cfg.ws_see_other,
                        "wss://b.example.org/xmpp-websocket");
    assert_int_equal(cfg.ws_ping, 20);
    assert_int_equal(cfg.bosh_max_wait, 30);
    assert_int_equal(cfg.bosh_max_hold, 2);
    assert_int_equal(cfg.bosh_max_inactivity, 90);
    assert_int_equal(cfg.bosh_max_pause, 600);
    assert_int_equal(cfg.bosh_polling, 5);
    assert_int_equal(cfg.log_level, TN_LOG_DEBUG);
    assert_int_equal(cfg.require_tls, 0);
    assert_int_equal(cfg.tls_compact, 0);
    assert_int_equal(cfg.tls_tickets, 0);
    assert_int_equal(cfg.max_stanza_size, 512 * 1024);
    assert_int_equal(cfg.max_preauth_stanza, 4096);
    assert_int_equal(cfg.preauth_timeout, 60);
    assert_int_equal(cfg.auth_attempts, 5);
    assert_int_equal(cfg.max_out_queue, 2 * 1024 * 1024);
    assert_int_equal(cfg.auth_ip_failures, 0);
    assert_int_equal(cfg.auth_ip_window, 600);
    assert_int_equal(cfg.nmodules, 3);
    assert_string_equal(cfg.muc_host, "rooms.example.org");
    assert_string_equal(cfg.pubsub_host, "pubsub.example.org");
    assert_string_equal(cfg.modules[0], "ping");
    assert_string_equal(cfg.modules[1], "disco");
    assert_string_equal(cfg.modules[2], "version");
    assert_true(tn_config_is_host(&cfg, "example.org"));
    assert_true(tn_config_is_host(&cfg, "chat.example.com"));
    assert_false(tn_config_is_host(&cfg, "Chat.Example.COM"));
    assert_false(tn_config_is_host(&cfg, "example.com"));
    assert_false(tn_config_is_host(&cfg, NULL));
    tn_config_release(&cfg);
    assert_null(cfg.hosts);
    assert_int_equal(cfg.nhosts, 0);
    tn_config_release(&cfg); /* twice is harmless */
}

static void test_defaults(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = NULL;
    assert_int_equal(parse(MINIMAL, &cfg, &err), 0);
    assert_null(err);
    assert_int_equal(cfg.nhosts, 1);
    assert_string_equal(cfg.hosts[0], "example.org");
    assert_string_equal(cfg.tls_cert, "c.pem");
    assert_string_equal(cfg.tls_key, "k.pem");
    assert_string_equal(cfg.storage_backend, "sqlite");
    assert_string_equal(cfg.storage_path, "var/tern.db");
    assert_int_equal(cfg.nlisten, 1);
    assert_int_equal(cfg.listen[0].service, TN_SVC_C2S);
    assert_int_equal(cfg.listen[0].tls, TN_TLS_STARTTLS);
    assert_int_equal(cfg.log_level, TN_LOG_INFO);
    assert_int_equal(cfg.require_tls, 1);
    assert_int_equal(cfg.tls_compact, 1);
    assert_int_equal(cfg.tls_tickets, 1);
    assert_null(cfg.muc_host);
    assert_null(cfg.pubsub_host);
    assert_int_equal(cfg.max_stanza_size, 262144);
    assert_int_equal(cfg.max_preauth_stanza, 10240);
    assert_int_equal(cfg.preauth_timeout, 30);
    assert_int_equal(cfg.auth_attempts, 3);
    assert_int_equal(cfg.auth_ip_failures, 10);
    assert_int_equal(cfg.auth_ip_window, 60);
    assert_int_equal(cfg.max_out_queue, 1048576);
    assert_null(cfg.modules);
    assert_int_equal(cfg.nmodules, 0);
    assert_int_equal(cfg.nhttp_origins, 0);
    assert_int_equal(cfg.nhttp_proxies, 0);
    assert_int_equal(cfg.http_max_request, 65536);
    assert_int_equal(cfg.http_timeout, 30);
    assert_null(cfg.http_url);
    assert_null(cfg.ws_see_other);
    assert_int_equal(cfg.ws_ping, 30);
    assert_int_equal(cfg.bosh_max_wait, 60);
    assert_int_equal(cfg.bosh_max_hold, 1);
    assert_int_equal(cfg.bosh_max_inactivity, 60);
    assert_int_equal(cfg.bosh_max_pause, 120);
    assert_int_equal(cfg.bosh_polling, 2);
    tn_config_release(&cfg);
}

/* http listeners default to plain HTTP (no STARTTLS in HTTP). */
static void test_http_listener(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = NULL;
    assert_int_equal(
        parse(HOSTS TLS "listen:\n"
                        "  - {ip: 127.0.0.1, port: 5443, service: http, "
                        "tls: direct}\n"
                        "  - {ip: 127.0.0.1, port: 5280, service: http}\n",
              &cfg, &err),
        0);
    assert_null(err);
    assert_int_equal(cfg.listen[0].service, TN_SVC_HTTP);
    assert_int_equal(cfg.listen[0].tls, TN_TLS_DIRECT);
    assert_int_equal(cfg.listen[1].service, TN_SVC_HTTP);
    assert_int_equal(cfg.listen[1].tls, TN_TLS_NONE);
    tn_config_release(&cfg);
}

/* The federation section of the issue, and its defaults. */
static void test_s2s(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = NULL;
    assert_int_equal(
        parse(HOSTS TLS
              "listen:\n"
              "  - {ip: 0.0.0.0, port: 5269, service: s2s}\n"
              "  - {ip: 0.0.0.0, port: 5270, service: s2s, tls: direct}\n"
              "s2s:\n"
              "  ca_file: /path/extra-ca.pem\n"
              "  require_valid_certs: false\n"
              "  require_valid_certs_for: [secure.test]\n"
              "  resolver: {servers: ['127.0.0.1:5353', '::1', "
              "'[::1]:53', 10.0.0.1]}\n"
              "  static: {other.example: {ip: 127.0.0.1, port: 5269},\n"
              "           d.test: {ip: '::1', port: 5270, tls: direct}}\n"
              "  idle_timeout: 60\n",
              &cfg, &err),
        0);
    assert_null(err);
    assert_int_equal(cfg.listen[0].service, TN_SVC_S2S);
    assert_int_equal(cfg.listen[0].tls, TN_TLS_STARTTLS);
    assert_int_equal(cfg.listen[1].tls, TN_TLS_DIRECT);
    assert_string_equal(cfg.s2s_ca_file, "/path/extra-ca.pem");
    assert_int_equal(cfg.ns2s_resolvers, 4);
    assert_string_equal(cfg.s2s_resolvers[0], "127.0.0.1:5353");
    assert_int_equal(cfg.ns2s_static, 2);
    const tn_s2s_static_t *st = tn_config_s2s_static(&cfg, "other.example");
    assert_non_null(st);
    assert_string_equal(st->ip, "127.0.0.1");
    assert_int_equal(st->port, 5269);
    assert_int_equal(st->direct_tls, 0);
    st = tn_config_s2s_static(&cfg, "d.test");
    assert_non_null(st);
    assert_int_equal(st->direct_tls, 1);
    assert_null(tn_config_s2s_static(&cfg, "x.test"));
    assert_int_equal(tn_config_s2s_secure(&cfg, "secure.test"), 1);
    assert_int_equal(tn_config_s2s_secure(&cfg, "other.example"), 0);
    assert_int_equal(cfg.s2s_idle_timeout, 60);
    assert_int_equal(cfg.s2s_connect_timeout, 30);
    assert_int_equal(cfg.s2s_require_tls, 1);
    assert_int_equal(cfg.s2s_bidi, 1);
    assert_int_equal(cfg.s2s_max_retry_delay, 300);
    tn_config_release(&cfg);

    assert_int_equal(parse(HOSTS TLS
                           "listen: [{ip: 127.0.0.1, port: 5269}]\n"
                           "s2s: {require_valid_certs: true, bidi: false,\n"
                           "      max_retry_delay: 0,\n"
                           "      allow_dialback_for: [old.test]}\n",
                           &cfg, &err),
                     0);
    assert_int_equal(tn_config_s2s_secure(&cfg, "x.test"), 1);
    assert_int_equal(tn_config_s2s_secure(&cfg, "old.test"), 0);
    assert_int_equal(cfg.ns2s_resolvers, 0);
    assert_null(cfg.s2s_dialback_secret);
    assert_int_equal(cfg.s2s_bidi, 0);
    assert_int_equal(cfg.s2s_max_retry_delay, 0);
    tn_config_release(&cfg);
}

/* Partial sections keep the defaults of the keys they leave out. */
static void test_partial_sections(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = NULL;
    assert_int_equal(parse(MINIMAL "storage: {path: /tmp/x.db}\n"
                                   "c2s: {auth_attempts: 10}\n"
                                   "log: {}\n"
                                   "modules: []\n",
                           &cfg, &err),
                     0);
    assert_string_equal(cfg.storage_backend, "sqlite");
    assert_string_equal(cfg.storage_path, "/tmp/x.db");
    assert_int_equal(cfg.auth_attempts, 10);
    assert_int_equal(cfg.require_tls, 1);
    assert_int_equal(cfg.max_stanza_size, 262144);
    assert_int_equal(cfg.log_level, TN_LOG_INFO);
    /* An empty list means "no modules", unlike leaving the key out. */
    assert_non_null(cfg.modules);
    assert_int_equal(cfg.nmodules, 0);
    tn_config_release(&cfg);
}

struct value_case {
    const char *c2s; /* body of the c2s mapping */
    size_t stanza, preauth, queue;
    unsigned timeout, attempts;
    int require_tls;
};

/* Accepted spellings and bounds (each bound is inclusive). */
static const struct value_case value_cases[] = {
    {"max_stanza_size: 1024", 1024, 10240, 1048576, 30, 3, 1},
    {"max_stanza_size: 16M", 16777216, 10240, 1048576, 30, 3, 1},
    {"max_stanza_size: 16777216", 16777216, 10240, 1048576, 30, 3, 1},
    {"max_stanza_size: 1k", 1024, 10240, 1048576, 30, 3, 1},
    {"max_stanza_size: \"2048\"", 2048, 10240, 1048576, 30, 3, 1},
    {"max_preauth_stanza: 512", 262144, 512, 1048576, 30, 3, 1},
    {"max_preauth_stanza: 1M", 262144, 1048576, 1048576, 30, 3, 1},
    {"max_out_queue: 64K", 262144, 10240, 65536, 30, 3, 1},
    {"max_out_queue: 1G", 262144, 10240, 1073741824, 30, 3, 1},
    {"max_out_queue: 1024M", 262144, 10240, 1073741824, 30, 3, 1},
    {"preauth_timeout: 1", 262144, 10240, 1048576, 1, 3, 1},
    {"preauth_timeout: 3600", 262144, 10240, 1048576, 3600, 3, 1},
    {"auth_attempts: 1", 262144, 10240, 1048576, 30, 1, 1},
    {"require_tls: no", 262144, 10240, 1048576, 30, 3, 0},
    {"require_tls: False", 262144, 10240, 1048576, 30, 3, 0},
    {"require_tls: yes", 262144, 10240, 1048576, 30, 3, 1},
    {"require_tls: true", 262144, 10240, 1048576, 30, 3, 1},
    {"require_tls: off", 262144, 10240, 1048576, 30, 3, 0},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
        const struct value_case *v = &value_cases[i];
        char *text = tn_sprintf(MINIMAL "c2s: {%s}\n", v->c2s);
        tn_config_t cfg;
        char *err = NULL;
        print_message("case %zu: %s\n", i, v->c2s);
        assert_int_equal(parse(text, &cfg, &err), 0);
        assert_int_equal(cfg.max_stanza_size, v->stanza);
        assert_int_equal(cfg.max_preauth_stanza, v->preauth);
        assert_int_equal(cfg.max_out_queue, v->queue);
        assert_int_equal(cfg.preauth_timeout, v->timeout);
        assert_int_equal(cfg.auth_attempts, v->attempts);
        assert_int_equal(cfg.require_tls, v->require_tls);
        tn_config_release(&cfg);
        tn_free(text);
    }
}

struct err_case {
    const char *text;
    const char *msg;
};

static const struct err_case err_cases[] = {
    /* Bounds and types inside list items, flow and block style. */
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 70000}]\n",
     "t.yaml:3: key 'listen[0].port': must be between 1 and 65535"},
    {HOSTS TLS "listen:\n"
               "  - ip: 127.0.0.1\n"
               "    port: 5222\n"
               "  - ip: 127.0.0.1\n"
               "    port: 0\n",
     "t.yaml:7: key 'listen[1].port': must be between 1 and 65535"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: -5}]\n",
     "t.yaml:3: key 'listen[0].port': must be between 1 and 65535"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 99999999999999999999999}]\n",
     "t.yaml:3: key 'listen[0].port': must be between 1 and 65535"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: xmpp}]\n",
     "t.yaml:3: key 'listen[0].port': expected an integer"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 52.22}]\n",
     "t.yaml:3: key 'listen[0].port': expected an integer"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: [5222]}]\n",
     "t.yaml:3: key 'listen[0].port': expected an integer"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 5347, service: component}]\n",
     "t.yaml:3: key 'listen[0].service': unknown service 'component' "
     "(expected c2s, s2s or http)"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 5443, service: http, "
               "tls: starttls}]\n",
     "t.yaml:3: key 'listen[0].tls': an http listener takes tls: direct "
     "or none"},
    /* http, bosh */
    {MINIMAL "http: {origins: [chat.example.org]}\n",
     "t.yaml:4: key 'http.origins[0]': 'chat.example.org' is not an "
     "http(s) or ws(s) URL"},
    {MINIMAL "http: {origins: ['https://a.example/<x>']}\n",
     "t.yaml:4: key 'http.origins[0]': 'https://a.example/<x>' holds a "
     "character that must be percent-encoded"},
    {MINIMAL "http: {trusted_proxies: [10.0.0.1, proxy.example]}\n",
     "t.yaml:4: key 'http.trusted_proxies[1]': 'proxy.example' is not an "
     "IPv4 or IPv6 address"},
    {MINIMAL "http: {trusted_proxies: 10.0.0.1}\n",
     "t.yaml:4: key 'http.trusted_proxies': expected a list"},
    {MINIMAL "http: {max_request_size: 1K}\n",
     "t.yaml:4: key 'http.max_request_size': must be between 4096 and "
     "16777216"},
    {MINIMAL "http: {request_timeout: 0}\n",
     "t.yaml:4: key 'http.request_timeout': must be between 1 and 3600"},
    {MINIMAL "http: {url: 'https://a b'}\n",
     "t.yaml:4: key 'http.url': 'https://a b' holds a character that must "
     "be percent-encoded"},
    {MINIMAL "http: {see_other_uri: ftp://x}\n",
     "t.yaml:4: key 'http.see_other_uri': 'ftp://x' is not an http(s) or "
     "ws(s) URL"},
    {MINIMAL "http: {websocket: true}\n",
     "t.yaml:4: key 'http.websocket': unknown key"},
    /* s2s */
    {MINIMAL "s2s: {resolver: {servers: [localhost]}}\n",
     "t.yaml:4: key 's2s.resolver.servers[0]': 'localhost' is not ip, "
     "ip:port or [ipv6]:port"},
    {MINIMAL "s2s: {resolver: {servers: ['127.0.0.1:0']}}\n",
     "t.yaml:4: key 's2s.resolver.servers[0]': '127.0.0.1:0' has a bad port"},
    {MINIMAL "s2s: {resolver: {servers: ['[::1]x']}}\n",
     "t.yaml:4: key 's2s.resolver.servers[0]': '[::1]x' is not ip, ip:port "
     "or [ipv6]:port"},
    {MINIMAL "s2s: {resolver: {server: ['::1']}}\n",
     "t.yaml:4: key 's2s.resolver.server': unknown key"},
    {MINIMAL "s2s: {static: {Other.Test: {ip: 127.0.0.1}}}\n",
     "t.yaml:4: key 's2s.static.Other.Test': 'Other.Test' is not a valid "
     "domain name in canonical form"},
    {MINIMAL "s2s: {static: {o.test: {port: 5269}}}\n",
     "t.yaml:4: key 's2s.static.o.test.ip': missing required key"},
    {MINIMAL "s2s: {static: {o.test: {ip: o.test}}}\n",
     "t.yaml:4: key 's2s.static.o.test.ip': 'o.test' is not an IPv4 or IPv6 "
     "address"},
    {MINIMAL "s2s: {static: {o.test: {ip: 127.0.0.1, tls: none}}}\n",
     "t.yaml:4: key 's2s.static.o.test.tls': unknown tls mode 'none' "
     "(expected starttls or direct)"},
    {MINIMAL "s2s: {require_valid_certs_for: ['a b']}\n",
     "t.yaml:4: key 's2s.require_valid_certs_for[0]': 'a b' is not a valid "
     "domain name in canonical form"},
    {MINIMAL "s2s: {idle_timeout: 0}\n",
     "t.yaml:4: key 's2s.idle_timeout': must be between 1 and 86400"},
    {MINIMAL "s2s: {dialback_secret: short}\n",
     "t.yaml:4: key 's2s.dialback_secret': must be at least 16 characters"},
    {MINIMAL "s2s: {require_valid_certs: maybe}\n",
     "t.yaml:4: key 's2s.require_valid_certs': expected true or false"},
    {MINIMAL "bosh: {max_hold: 9}\n",
     "t.yaml:4: key 'bosh.max_hold': must be between 0 and 8"},
    {MINIMAL "bosh: {max_wait: 0}\n",
     "t.yaml:4: key 'bosh.max_wait': must be between 1 and 3600"},
    {MINIMAL "bosh: {max_inactivity: 1}\n",
     "t.yaml:4: key 'bosh.max_inactivity': must be between 2 and 3600"},
    {HOSTS TLS "listen: [{ip: 127.0.0.1, port: 5222, tls: ssl}]\n",
     "t.yaml:3: key 'listen[0].tls': unknown tls mode 'ssl' (expected "
     "starttls, direct or none)"},
    {HOSTS TLS "listen: [{ip: localhost, port: 5222}]\n",
     "t.yaml:3: key 'listen[0].ip': 'localhost' is not an IPv4 or IPv6 "
     "address"},
    {HOSTS TLS "listen: {ip: 127.0.0.1, port: 5222}\n",
     "t.yaml:3: key 'listen': expected a list"},
    {HOSTS TLS "listen: []\n", "t.yaml:3: key 'listen': must not be empty"},
    {HOSTS TLS "listen: [127.0.0.1]\n",
     "t.yaml:3: key 'listen[0]': expected a mapping"},
    /* Duplicate listeners, also when spelled differently. */
    {HOSTS TLS "listen:\n"
               "  - {ip: 127.0.0.1, port: 5222}\n"
               "  - {ip: 127.0.0.1, port: 5223, tls: direct}\n"
               "  - {ip: 127.0.0.1, port: 5222, tls: none}\n",
     "t.yaml:6: key 'listen[2]': duplicate listener 127.0.0.1 port 5222 "
     "(also listen[0])"},
    {HOSTS TLS
     "listen: [{ip: '::1', port: 5222}, {ip: '0:0::1', port: 5222}]\n",
     "t.yaml:3: key 'listen[1]': duplicate listener 0:0::1 port 5222 (also "
     "listen[0])"},
    /* Missing required keys: the line of the enclosing mapping. */
    {HOSTS TLS "listen:\n"
               "  - ip: 127.0.0.1\n"
               "    tls: none\n",
     "t.yaml:4: key 'listen[0].port': missing required key"},
    {HOSTS "tls: {cert: c.pem}\n" LISTEN,
     "t.yaml:2: key 'tls.key': missing required key"},
    {"# comment\n" HOSTS LISTEN, "t.yaml:2: key 'tls': missing required key"},
    {TLS LISTEN, "t.yaml:1: key 'hosts': missing required key"},
    {HOSTS TLS, "t.yaml:1: key 'listen': missing required key"},
    /* hosts */
    {"hosts: []\n" TLS LISTEN, "t.yaml:1: key 'hosts': must not be empty"},
    {"hosts: example.org\n" TLS LISTEN,
     "t.yaml:1: key 'hosts': expected a list"},
    {"hosts: ['exa mple.org']\n" TLS LISTEN,
     "t.yaml:1: key 'hosts[0]': 'exa mple.org' is not a valid domain name"},
    {"hosts:\n  - example.org\n  - bad..example\n" TLS LISTEN,
     "t.yaml:3: key 'hosts[1]': 'bad..example' is not a valid domain name"},
    {"hosts: [example.org, EXAMPLE.org]\n" TLS LISTEN,
     "t.yaml:1: key 'hosts[1]': duplicate host 'example.org'"},
    {"hosts: [[example.org]]\n" TLS LISTEN,
     "t.yaml:1: key 'hosts[0]': expected a string"},
    /* tls, storage, log */
    {HOSTS "tls: cert.pem\n" LISTEN, "t.yaml:2: key 'tls': expected a mapping"},
    {HOSTS "tls: {cert: [a], key: k.pem}\n" LISTEN,
     "t.yaml:2: key 'tls.cert': expected a string"},
    {HOSTS "tls:\n  cert:\n  key: k.pem\n" LISTEN,
     "t.yaml:3: key 'tls.cert': expected a string"},
    {HOSTS "tls: {cert: '', key: k.pem}\n" LISTEN,
     "t.yaml:2: key 'tls.cert': must not be empty"},
    {MINIMAL "muc: {host: 'a b'}\n",
     "t.yaml:4: key 'muc.host': 'a b' is not a valid domain name"},
    {MINIMAL "muc: {host: Example.org}\n",
     "t.yaml:4: key 'muc.host': 'example.org' is also one of the hosts"},
    {MINIMAL "muc: {room: x}\n", "t.yaml:4: key 'muc.room': unknown key"},
    {MINIMAL "pubsub: {host: 'a b'}\n",
     "t.yaml:4: key 'pubsub.host': 'a b' is not a valid domain name"},
    {MINIMAL "pubsub: {host: Example.org}\n",
     "t.yaml:4: key 'pubsub.host': 'example.org' is also one of the hosts"},
    {MINIMAL "muc: {host: x.org}\npubsub: {host: x.org}\n",
     "t.yaml:5: key 'pubsub.host': 'x.org' is also the muc host"},
    {MINIMAL "pubsub: {node: x}\n",
     "t.yaml:4: key 'pubsub.node': unknown key"},
    {HOSTS "tls: {cert: c.pem, key: k.pem, compact: 2}\n" LISTEN,
     "t.yaml:2: key 'tls.compact': expected true or false"},
    {HOSTS "tls: {cert: c.pem, key: k.pem, session_tickets: 1}\n" LISTEN,
     "t.yaml:2: key 'tls.session_tickets': expected true or false"},
    {MINIMAL "storage: {backend: postgres}\n",
     "t.yaml:4: key 'storage.backend': unknown storage backend 'postgres' "
     "(expected sqlite)"},
    {MINIMAL "log:\n  level: verbose\n",
     "t.yaml:5: key 'log.level': unknown log level 'verbose' (expected "
     "debug, info, warn or error)"},
    {MINIMAL "log: info\n", "t.yaml:4: key 'log': expected a mapping"},
    /* c2s types and bounds */
    {MINIMAL "c2s: {require_tls: maybe}\n",
     "t.yaml:4: key 'c2s.require_tls': expected true or false"},
    {MINIMAL "c2s: {require_tls: 1}\n",
     "t.yaml:4: key 'c2s.require_tls': expected true or false"},
    {MINIMAL "c2s: {max_stanza_size: 1023}\n",
     "t.yaml:4: key 'c2s.max_stanza_size': must be between 1024 and "
     "16777216"},
    {MINIMAL "c2s: {max_stanza_size: 17M}\n",
     "t.yaml:4: key 'c2s.max_stanza_size': must be between 1024 and "
     "16777216"},
    {MINIMAL "c2s: {max_stanza_size: 1.5M}\n",
     "t.yaml:4: key 'c2s.max_stanza_size': expected an integer (bytes, or "
     "with suffix K, M or G)"},
    {MINIMAL "c2s: {max_stanza_size: 10KB}\n",
     "t.yaml:4: key 'c2s.max_stanza_size': expected an integer (bytes, or "
     "with suffix K, M or G)"},
    {MINIMAL "c2s: {max_preauth_stanza: 511}\n",
     "t.yaml:4: key 'c2s.max_preauth_stanza': must be between 512 and "
     "1048576"},
    {MINIMAL "c2s: {max_out_queue: 2G}\n",
     "t.yaml:4: key 'c2s.max_out_queue': must be between 65536 and "
     "1073741824"},
    {MINIMAL "c2s: {max_out_queue: 99999999999999999999G}\n",
     "t.yaml:4: key 'c2s.max_out_queue': must be between 65536 and "
     "1073741824"},
    {MINIMAL "c2s:\n  preauth_timeout: 0\n",
     "t.yaml:5: key 'c2s.preauth_timeout': must be between 1 and 3600"},
    {MINIMAL "c2s:\n  auth_attempts: 11\n",
     "t.yaml:5: key 'c2s.auth_attempts': must be between 1 and 10"},
    {MINIMAL "c2s:\n  auth_ip_window: 0\n",
     "t.yaml:5: key 'c2s.auth_ip_window': must be between 1 and 86400"},
    {MINIMAL "c2s:\n  auth_attempts: 3\n  auth_attempts: 4\n",
     "t.yaml:6: key 'c2s.auth_attempts': duplicate key"},
    /* modules */
    {MINIMAL "modules: ping\n", "t.yaml:4: key 'modules': expected a list"},
    {MINIMAL "modules: [ping, disco, ping]\n",
     "t.yaml:4: key 'modules[2]': duplicate module 'ping'"},
    /* Unknown keys at every level. */
    {MINIMAL "\nfoo: 1\n", "t.yaml:5: key 'foo': unknown key"},
    {MINIMAL "c2s: {max_stanzas: 5}\n",
     "t.yaml:4: key 'c2s.max_stanzas': unknown key"},
    {HOSTS "tls: {cert: c.pem, key: k.pem, ca: ca.pem}\n" LISTEN,
     "t.yaml:2: key 'tls.ca': unknown key"},
    {HOSTS TLS "listen:\n  - ip: 127.0.0.1\n    port: 5222\n    host: x\n",
     "t.yaml:6: key 'listen[0].host': unknown key"},
    {MINIMAL "Hosts: [a.example]\n", "t.yaml:4: key 'Hosts': unknown key"},
    /* Duplicate keys. */
    {MINIMAL "hosts: [example.com]\n", "t.yaml:4: key 'hosts': duplicate key"},
    {HOSTS "tls: {cert: a.pem, key: k.pem, cert: b.pem}\n" LISTEN,
     "t.yaml:2: key 'tls.cert': duplicate key"},
    /* Whole-document problems. */
    {"", "t.yaml:1: the document is empty"},
    {"# nothing here\n\n", "t.yaml:1: the document is empty"},
    {"- hosts\n- tls\n", "t.yaml:1: expected a mapping at the top level"},
    {"\nexample.org\n", "t.yaml:2: expected a mapping at the top level"},
    {MINIMAL "---\n" MINIMAL, "t.yaml:5: only one YAML document is allowed"},
    {"[a]: b\n" MINIMAL, "t.yaml:1: keys must be plain strings"},
    /* YAML syntax errors. */
    {HOSTS "tls:\n\tcert: c.pem\n",
     "t.yaml:3: YAML syntax error: found character that cannot start any "
     "token"},
    {"hosts: [example.org\n" TLS LISTEN,
     "t.yaml:2: YAML syntax error: did not find expected ',' or ']'"},
    {HOSTS "  tls: x\n",
     "t.yaml:2: YAML syntax error: did not find expected key"},
    {MINIMAL "log: {level: *nope}\n",
     "t.yaml:4: YAML syntax error: found undefined alias"},
};

static void test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        const struct err_case *e = &err_cases[i];
        tn_config_t cfg;
        memset(&cfg, 0xa5, sizeof cfg); /* must come back zeroed */
        char *err = NULL;
        print_message("case %zu: %s\n", i, e->msg);
        assert_int_equal(parse(e->text, &cfg, &err), TN_EINVAL);
        assert_non_null(err);
        assert_string_equal(err, e->msg);
        assert_null(cfg.path);
        assert_null(cfg.hosts);
        assert_null(cfg.listen);
        assert_null(cfg.modules);
        assert_int_equal(cfg.nhosts, 0);
        tn_free(err);
    }
}

/* len is honoured: the text need not end in NUL, and bytes after len are
 * not read; an embedded NUL is a YAML error, not a silent truncation. */
static void test_parse_len(void **state)
{
    (void)state;
    tn_config_t cfg;
    char *err = NULL;
    const char text[] = MINIMAL "junk: [";
    assert_int_equal(
        tn_config_parse("x.yaml", text, strlen(MINIMAL), &cfg, &err), 0);
    assert_string_equal(cfg.path, "x.yaml");
    tn_config_release(&cfg);

    const char nul[] = HOSTS "\0" TLS LISTEN;
    assert_int_equal(tn_config_parse("x.yaml", nul, sizeof nul - 1, &cfg, &err),
                     TN_EINVAL);
    assert_string_equal(err, "x.yaml:2: YAML syntax error: control "
                             "characters are not allowed");
    tn_free(err);

    const char bad_utf8[] = HOSTS TLS "listen: [{ip: \xff, port: 1}]\n";
    assert_int_equal(
        tn_config_parse("x.yaml", bad_utf8, sizeof bad_utf8 - 1, &cfg, &err),
        TN_EINVAL);
    assert_string_equal(err, "x.yaml:3: YAML syntax error: invalid leading "
                             "UTF-8 octet");
    tn_free(err);

    const char esc[] = HOSTS "tls: {cert: \"c\\0.pem\", key: k}\n" LISTEN;
    assert_int_equal(tn_config_parse("x.yaml", esc, sizeof esc - 1, &cfg, &err),
                     TN_EINVAL);
    assert_string_equal(err, "x.yaml:2: key 'tls.cert': expected a string");
    tn_free(err);
}

static void test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(full_example, f);
    fclose(f);

    tn_config_t cfg;
    char *err = NULL;
    assert_int_equal(tn_config_load(path, &cfg, &err), 0);
    assert_null(err);
    assert_string_equal(cfg.path, path);
    assert_int_equal(cfg.nlisten, 3);
    assert_int_equal(cfg.max_out_queue, 2 * 1024 * 1024);
    tn_config_release(&cfg);

    /* Errors name the file. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(MINIMAL "c2s: {auth_attempts: 0}\n", f);
    fclose(f);
    assert_int_equal(tn_config_load(path, &cfg, &err), TN_EINVAL);
    char *want = tn_sprintf("%s:4: key 'c2s.auth_attempts': must be between "
                            "1 and 10",
                            path);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(tn_config_load(path, &cfg, &err), TN_EIO);
    want = tn_sprintf("%s: cannot read: No such file or directory", path);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);
    assert_null(cfg.path);

    assert_int_equal(tn_config_load("/tmp", &cfg, &err), TN_EIO);
    assert_string_equal(err, "/tmp: cannot read: Is a directory");
    tn_free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_example),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_http_listener),
        cmocka_unit_test(test_s2s),
        cmocka_unit_test(test_partial_sections),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_parse_len),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
