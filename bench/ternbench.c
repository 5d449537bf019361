/* ternbench.c -- tern's XMPP load generator: one process, one libuv loop,
 * many thousands of client connections.
 *
 * Each connection is a small state machine over a non-blocking socket
 * watched with uv_poll: TCP connect (bound to one of the --sources
 * loopback addresses so that 20,000 connections do not exhaust one
 * address's ephemeral ports), STARTTLS or direct TLS (RFC 6120 5, XEP-0368;
 * certificates are not verified, test certificates are self-signed), SASL
 * PLAIN (RFC 4616) or SCRAM-SHA-1/-256 (RFC 5802, RFC 7677; client side,
 * 'n' gs2 flag, server signature checked), resource binding (RFC 6120 7),
 * the legacy session IQ where a server still requires it, roster get and
 * initial presence (RFC 6121 2.2, 4.2), and in-band registration
 * (XEP-0077) for --register. Incoming XML goes through tern's own stream
 * parser (src/xml/parser.h), so stanzas split across reads are handled.
 *
 * Scenarios: login, idle, chat, roster, muc (see bench/README.md). Each
 * prints its figures as "key: value" lines on stdout and exits 0 only if
 * nothing failed or was lost. Server processes given with --server-pid
 * are sampled from /proc (utime+stime, VmRSS) around the measured phase.
 *
 * Deliberately left out: certificate verification, stream management,
 * compression, channel binding (SCRAM-*-PLUS) and anything a benchmark
 * does not measure. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xml/parser.h"
#include "xml/stanza.h"

#define TB_NS_MUC "http://jabber.org/protocol/muc"
#define TB_NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define TB_NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"

#define TB_MAX_SOURCES 64
#define TB_MAX_PIDS 16
#define TB_MAX_REASONS 48
#define TB_NS_PER_S 1000000000ULL
#define TB_NS_PER_MS 1000000ULL
#define TB_CLOSE_WAIT_NS (5 * TB_NS_PER_S) /* for the server's </stream> */

/* ---------------------------------------------------------------------- */
/* options */

enum { TB_TLS_STARTTLS, TB_TLS_DIRECT, TB_TLS_NONE };
enum { TB_MECH_PLAIN, TB_MECH_SCRAM1, TB_MECH_SCRAM256 };

typedef struct tb_opts {
    const char *scenario;
    const char *host;
    int port;
    const char *domain;
    const char *prefix;
    const char *password;
    int users;
    int clients;
    int concurrency;
    struct in_addr sources[TB_MAX_SOURCES];
    int nsources;
    int tls;
    int mech;
    int reg;
    pid_t pids[TB_MAX_PIDS];
    int npids;
    double timeout;      /* seconds, hard deadline */
    double login_timeout; /* seconds per connection until ready */
    double hold;         /* idle: seconds */
    double keepalive;    /* idle: seconds between whitespace pings, 0 off */
    const char *ready_file; /* idle: written after the hold, then linger */
    const char *stop_file;  /* idle: ends the linger when it exists */
    double linger;       /* idle: seconds held at most after ready_file */
    double rate;         /* chat/muc: messages/s in total, 0 flat out */
    int window;          /* flat out: in-flight messages per sender */
    double duration;     /* seconds measured */
    double warmup;       /* seconds before measuring */
    double drain;        /* seconds to wait for stragglers */
    int contacts;        /* roster: contacts per user (even) */
    int storm_conc;      /* roster: concurrent logins in the storm */
    double setup_timeout; /* roster: seconds for the subscription setup */
    const char *muc_host;
    const char *room;
    int occupants;
    int senders;
    double join_timeout; /* muc: seconds for a join to be answered */
    int verbose;
} tb_opts_t;

static tb_opts_t opt;

/* ---------------------------------------------------------------------- */
/* latency histogram: log-linear, 64 sub-buckets per power of two (about
 * 1.6% resolution), values in microseconds */

#define TB_HSUB 64
#define TB_HBUCKETS (TB_HSUB * 44)

typedef struct tb_hist {
    uint64_t n;
    uint64_t max;
    uint64_t counts[TB_HBUCKETS];
} tb_hist_t;

static unsigned tb_hist_index(uint64_t v)
{
    if (v < 2 * TB_HSUB)
        return (unsigned)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - 6;
    unsigned idx = (unsigned)((shift + 1) * TB_HSUB +
                              (int)(v >> shift) - TB_HSUB);
    return idx < TB_HBUCKETS ? idx : TB_HBUCKETS - 1;
}

static double tb_hist_value(unsigned idx)
{
    if (idx < 2 * TB_HSUB)
        return idx;
    unsigned shift = idx / TB_HSUB - 1;
    double lo = (double)((uint64_t)(idx % TB_HSUB + TB_HSUB) << shift);
    return lo + (double)(1ULL << shift) / 2;
}

static void tb_hist_add(tb_hist_t *h, uint64_t us)
{
    h->counts[tb_hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* The p-quantile (0..1) in milliseconds; 0 when empty. */
static double tb_hist_ms(const tb_hist_t *h, double p)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(p * (double)h->n + 0.999999);
    if (want < 1)
        want = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < TB_HBUCKETS; i++) {
        acc += h->counts[i];
        if (acc >= want) {
            double v = tb_hist_value(i);
            if (v > (double)h->max)
                v = (double)h->max;
            return v / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

/* ---------------------------------------------------------------------- */
/* clients */

enum {
    CS_CONNECTING,
    CS_FEATURES, /* stream header sent, waiting for <features/> */
    CS_PROCEED,  /* <starttls/> sent */
    CS_REGISTER, /* XEP-0077 set sent */
    CS_SASL,     /* <auth/> sent */
    CS_BIND,
    CS_SESSION,
    CS_ROSTER,
    CS_READY,    /* initial presence sent; the scenario owns it now */
    CS_CLOSING,  /* </stream:stream> sent */
};

enum { TB_P_SESSION, TB_P_REGISTER };

typedef struct tb_scram {
    char *first_bare;        /* owned: client-first-message-bare */
    char *auth_message;      /* owned, after the server-first */
    unsigned char server_key[EVP_MAX_MD_SIZE];
    unsigned mdlen;
} tb_scram_t;

typedef struct tb_client tb_client_t;
struct tb_client {
    uv_poll_t poll;
    tb_client_t *dirty_next;
    int fd;
    int slot;        /* index into g.cl */
    int user;        /* account number */
    uint8_t state;
    uint8_t purpose;
    uint8_t tls_on;
    uint8_t hs;          /* TLS handshake running */
    uint8_t hs_wants_write;
    uint8_t wblocked;    /* output waits for POLLOUT */
    uint8_t dead;        /* closing its handle */
    uint8_t in_dirty;
    uint8_t ok;          /* ended as intended */
    uint8_t need_session;
    uint8_t joined;      /* muc */
    int events;          /* current uv_poll events */
    SSL *ssl;
    tn_xml_parser_t *parser;
    tn_buf_t out;
    size_t out_off;
    char *jid;           /* owned: the bound full JID */
    tb_scram_t *scram;   /* owned while authenticating */
    uint64_t t_start;    /* ns */
    uint64_t deadline;   /* ns; 0: none */
    /* scenario state */
    uint32_t seq_sent;   /* chat/muc: messages sent */
    uint32_t recv_next;  /* chat: next expected sequence number */
    uint32_t recv_count; /* chat: messages from the partner; muc: echoes */
    uint64_t mask_both;  /* roster: contacts with subscription both */
    uint64_t mask_seen;  /* roster: contacts whose presence arrived */
};

typedef struct tb_pwcache {
    char *salt;          /* owned base64 salt */
    unsigned iter;
    int mech;
    unsigned char salted[EVP_MAX_MD_SIZE];
} tb_pwcache_t;

typedef struct tb_reason {
    char *text;          /* owned */
    unsigned count;
} tb_reason_t;

/* What the current phase does when a client gets ready or ends. */
typedef struct tb_launch {
    int next;            /* next slot to start */
    int n;               /* slots to start */
    int conc;
    int active;          /* started and neither ready nor ended */
    int ready;
    int failed;
    int purpose;
    int close_on_ready;  /* login scenario and registration */
    void (*done)(void);  /* all n ready or failed (and closed, if
                            close_on_ready) */
} tb_launch_t;

static struct {
    uv_loop_t *loop;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_timer_t sweeper;
    uv_timer_t deadline;
    uv_timer_t pacer;
    uv_timer_t phase_timer;
    SSL_CTX *ssl_ctx;
    struct sockaddr_in dst;
    tb_client_t **cl;    /* slots */
    int ncl;
    int live;            /* clients not yet freed */
    tb_client_t *dirty;
    char rbuf[65536];
    tb_pwcache_t *pwc;   /* per user */
    tb_reason_t reasons[TB_MAX_REASONS];
    int nreasons;
    unsigned failures;
    unsigned close_timeouts;
    tb_launch_t l;
    void (*on_all_closed)(void);
    int exit_code;
    int finished;
    uint64_t t0;          /* process start, ns */
    /* registration */
    unsigned reg_created, reg_existed;
    /* server samples */
    double cpu0, cpu1;
    long rss0, rss1;
    int sampled;
    /* measurement */
    tb_hist_t hist;
    uint64_t t_meas0, t_meas1, t_stop;
    int measuring, sending;
    uint64_t sent, recv_total, recv_win, reordered, msg_errors;
    uint64_t rate_sent;
    int rr;               /* round-robin cursor for paced senders */
    /* login */
    uint64_t t_first, t_last;
    /* idle */
    unsigned dropped;
    /* roster */
    uint64_t full_mask;
    uint64_t presence_delivered;
    uint64_t t_storm0, t_storm1;
    double setup_s;
    /* muc */
    uint32_t *muc_next;   /* [receiver * senders + sender] */
    int muc_joined, muc_join_failed;
    char *muc_error;
} g;

static void tb_client_start(int slot, int user, int purpose);
static void tb_client_fail(tb_client_t *c, const char *why);
static void tb_client_close_clean(tb_client_t *c);
static void tb_finish(int code);

static uint64_t tb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * TB_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double tb_secs(uint64_t ns)
{
    return (double)ns / 1e9;
}

static void tb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tb_log(const char *fmt, ...)
{
    if (!opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%8.3f] ", tb_secs(tb_now() - g.t0));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void tb_reason_add(const char *why)
{
    for (int i = 0; i < g.nreasons; i++)
        if (!strcmp(g.reasons[i].text, why)) {
            g.reasons[i].count++;
            return;
        }
    if (g.nreasons == TB_MAX_REASONS) {
        g.reasons[TB_MAX_REASONS - 1].count++;
        return;
    }
    g.reasons[g.nreasons].text = tn_strdup(why);
    g.reasons[g.nreasons].count = 1;
    g.nreasons++;
}

/* ---------------------------------------------------------------------- */
/* server sampling from /proc */

static int tb_sample(double *cpu, long *rss)
{
    static long tck;
    if (!tck)
        tck = sysconf(_SC_CLK_TCK);
    *cpu = 0;
    *rss = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], line[4096];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)opt.pids[i]);
        FILE *f = fopen(path, "r");
        if (!f)
            return -1;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        char *p = strrchr(line, ')');
        unsigned long ut, st;
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                                "%*u %lu %lu", &ut, &st) != 2)
            return -1;
        *cpu += (double)(ut + st) / (double)tck;
        snprintf(path, sizeof path, "/proc/%d/status", (int)opt.pids[i]);
        f = fopen(path, "r");
        if (!f)
            return -1;
        while (fgets(line, sizeof line, f)) {
            long kb;
            if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                *rss += kb;
        }
        fclose(f);
    }
    return 0;
}

static void tb_sample_before(void)
{
    if (!opt.npids)
        return;
    if (tb_sample(&g.cpu0, &g.rss0) < 0) {
        fprintf(stderr, "ternbench: cannot read /proc for --server-pid\n");
        tb_finish(2);
    }
}

static void tb_sample_after(void)
{
    if (!opt.npids)
        return;
    if (tb_sample(&g.cpu1, &g.rss1) < 0) {
        fprintf(stderr, "ternbench: server process gone\n");
        tb_reason_add("server process gone");
        g.failures++;
        return;
    }
    g.sampled = 1;
}

/* Prints the server figures and the scenario's per-unit CPU figure. */
static void tb_print_server(const char *unit_key, double units, double scale)
{
    if (!g.sampled)
        return;
    double cpu = g.cpu1 - g.cpu0;
    printf("cpu_seconds: %.3f\n", cpu);
    printf("rss_before_kib: %ld\n", g.rss0);
    printf("rss_after_kib: %ld\n", g.rss1);
    if (unit_key)
        printf("%s: %.4f\n", unit_key, units > 0 ? cpu * scale / units : 0);
}

/* ---------------------------------------------------------------------- */
/* output */

static void tb_dirty(tb_client_t *c)
{
    if (c->in_dirty || c->dead)
        return;
    c->in_dirty = 1;
    c->dirty_next = g.dirty;
    g.dirty = c;
}

static void tb_puts(tb_client_t *c, const char *s)
{
    if (c->dead)
        return;
    tn_buf_puts(&c->out, s);
    tb_dirty(c);
}

static void tb_printf(tb_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tb_printf(tb_client_t *c, const char *fmt, ...)
{
    if (c->dead)
        return;
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        tn_buf_append(&c->out, tmp, (size_t)n);
    } else {
        char *big = tn_malloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        tn_buf_append(&c->out, big, (size_t)n);
        tn_free(big);
    }
    tb_dirty(c);
}

/* Appends s escaped for an attribute value or text. */
static void tb_esc(tb_client_t *c, const char *s)
{
    if (!c->dead)
        tn_buf_append_xml(&c->out, s, strlen(s), 1);
}

static void tb_on_poll(uv_poll_t *h, int status, int events);

static void tb_update_poll(tb_client_t *c)
{
    if (c->dead)
        return;
    int ev;
    if (c->state == CS_CONNECTING)
        ev = UV_WRITABLE;
    else if (c->hs)
        ev = UV_READABLE | (c->hs_wants_write ? UV_WRITABLE : 0);
    else
        ev = UV_READABLE | (c->wblocked ? UV_WRITABLE : 0);
    if (ev != c->events) {
        c->events = ev;
        uv_poll_start(&c->poll, ev, tb_on_poll);
    }
}

/* Writes what is queued. Returns 0, or -1 after failing the client. */
static int tb_flush(tb_client_t *c)
{
    if (c->dead || c->hs || c->state == CS_CONNECTING)
        return 0;
    c->wblocked = 0;
    while (c->out_off < c->out.len) {
        const char *p = c->out.data + c->out_off;
        size_t n = c->out.len - c->out_off;
        if (n > (1u << 30))
            n = 1u << 30;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_write(c->ssl, p, (int)n);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->wblocked = 1;
                    return 0;
                }
                if (e == SSL_ERROR_WANT_READ)
                    return 0;
                tb_client_fail(c, "tls write failed");
                return -1;
            }
            c->out_off += (size_t)r;
        } else {
            ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->wblocked = 1;
                    return 0;
                }
                tb_client_fail(c, "write failed");
                return -1;
            }
            c->out_off += (size_t)r;
        }
    }
    c->out_off = 0;
    c->out.len = 0;
    /* Idle sessions keep no output buffer; busy ones keep a small one. */
    if (c->out.cap > 16384 || (c->state == CS_READY && !g.sending))
        tn_buf_release(&c->out);
    else if (c->out.data)
        c->out.data[0] = '\0';
    return 0;
}

static void tb_flush_dirty(void)
{
    while (g.dirty) {
        tb_client_t *c = g.dirty;
        g.dirty = c->dirty_next;
        c->in_dirty = 0;
        c->dirty_next = NULL;
        if (c->dead)
            continue;
        if (!c->wblocked)
            tb_flush(c);
        tb_update_poll(c);
    }
}

static void tb_on_prepare(uv_prepare_t *h)
{
    tb_flush_dirty();
}

static void tb_on_check(uv_check_t *h)
{
    tb_flush_dirty();
}

/* ---------------------------------------------------------------------- */
/* client lifecycle */

static void tb_scram_free(tb_scram_t *s)
{
    if (!s)
        return;
    tn_free(s->first_bare);
    tn_free(s->auth_message);
    OPENSSL_cleanse(s->server_key, sizeof s->server_key);
    tn_free(s);
}

static void tb_scenario_end(tb_client_t *c);

static void tb_on_handle_closed(uv_handle_t *h)
{
    tb_client_t *c = h->data;
    if (c->in_dirty) {
        /* Only possible if queued after the check phase; unlink. */
        tb_client_t **pp = &g.dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
    }
    close(c->fd);
    if (g.cl[c->slot] == c)
        g.cl[c->slot] = NULL;
    tb_scenario_end(c);
    SSL_free(c->ssl);
    tn_xml_parser_free(c->parser);
    tn_buf_release(&c->out);
    tn_free(c->jid);
    tb_scram_free(c->scram);
    tn_free(c);
    g.live--;
    if (g.live == 0 && g.on_all_closed) {
        void (*cb)(void) = g.on_all_closed;
        g.on_all_closed = NULL;
        cb();
    }
}

/* Ends the connection now (no stream end); ok says whether that is what
 * was wanted. The memory goes in the close callback. */
static void tb_client_end(tb_client_t *c, int ok)
{
    if (c->dead)
        return;
    c->dead = 1;
    c->ok = (uint8_t)ok;
    if (c->parser)
        tn_xml_parser_stop(c->parser);
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, tb_on_handle_closed);
}

static void tb_client_fail(tb_client_t *c, const char *why)
{
    if (c->dead)
        return;
    g.failures++;
    tb_reason_add(why);
    tb_log("client %d (user %d) failed: %s", c->slot, c->user, why);
    tb_client_end(c, 0);
}

/* Server's stream end or EOF while closing: a clean end. */
static void tb_client_finish_close(tb_client_t *c)
{
    if (c->ssl && !c->hs) {
        ERR_clear_error();
        SSL_shutdown(c->ssl); /* best effort close_notify */
    }
    tb_client_end(c, 1);
}

/* Sends the stream end and waits (bounded) for the server's. */
static void tb_client_close_clean(tb_client_t *c)
{
    if (c->dead || c->state == CS_CLOSING)
        return;
    c->state = CS_CLOSING;
    c->deadline = tb_now() + TB_CLOSE_WAIT_NS;
    if (c->hs) {
        tb_client_end(c, 1);
        return;
    }
    tb_puts(c, "</stream:stream>");
}

static void tb_send_header(tb_client_t *c)
{
    tb_printf(c, "<?xml version='1.0'?><stream:stream to='%s' "
                 "version='1.0' xml:lang='en' xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams'>",
              opt.domain);
    c->state = CS_FEATURES;
}

static void tb_tls_step(tb_client_t *c)
{
    ERR_clear_error();
    int r = SSL_connect(c->ssl);
    if (r == 1) {
        c->hs = 0;
        c->tls_on = 1;
        tn_xml_parser_reset(c->parser);
        tb_send_header(c);
        tb_update_poll(c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ) {
        c->hs_wants_write = 0;
    } else if (e == SSL_ERROR_WANT_WRITE) {
        c->hs_wants_write = 1;
    } else {
        tb_client_fail(c, "tls handshake failed");
        return;
    }
    tb_update_poll(c);
}

static void tb_tls_start(tb_client_t *c)
{
    c->ssl = SSL_new(g.ssl_ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, opt.domain);
    c->hs = 1;
    tb_tls_step(c);
}

static void tb_handle_stanza(tb_client_t *c, tn_stanza_t *st);

static void tb_xml_open(void *ud, const char *name, const char *ns,
                        const char *default_ns, const char **attrs)
{
}

static void tb_xml_stanza(void *ud, tn_stanza_t *st)
{
    tb_client_t *c = ud;
    if (!c->dead)
        tb_handle_stanza(c, st);
    tn_stanza_unref(st);
}

static void tb_xml_close(void *ud)
{
    tb_client_t *c = ud;
    if (c->state == CS_CLOSING)
        tb_client_finish_close(c);
    else
        tb_client_fail(c, c->state == CS_READY ? "server closed the stream"
                                               : "stream closed during login");
}

static void tb_client_eof(tb_client_t *c)
{
    if (c->state == CS_CLOSING)
        tb_client_end(c, 1);
    else {
        if (c->state == CS_READY)
            g.dropped++;
        tb_client_fail(c, c->state == CS_READY ? "connection dropped"
                                               : "eof during login");
    }
}

static void tb_client_read(tb_client_t *c)
{
    for (;;) {
        if (c->dead || c->hs)
            return;
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            int r = SSL_read(c->ssl, g.rbuf, (int)sizeof g.rbuf);
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->wblocked = 1;
                    return;
                }
                if (e == SSL_ERROR_ZERO_RETURN ||
                    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
                    tb_client_eof(c);
                    return;
                }
                if (c->state == CS_CLOSING) {
                    tb_client_end(c, 1);
                } else {
                    g.dropped += c->state == CS_READY;
                    tb_client_fail(c, "tls read failed");
                }
                return;
            }
            n = r;
        } else {
            n = recv(c->fd, g.rbuf, sizeof g.rbuf, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                    return;
                if (c->state == CS_CLOSING) {
                    tb_client_end(c, 1);
                } else {
                    g.dropped += c->state == CS_READY;
                    tb_client_fail(c, "read failed");
                }
                return;
            }
            if (n == 0) {
                tb_client_eof(c);
                return;
            }
        }
        int rc = tn_xml_parser_feed(c->parser, g.rbuf, (size_t)n);
        if (c->dead)
            return;
        if (rc != TN_XML_OK) {
            tb_client_fail(c, "bad xml from server");
            return;
        }
    }
}

static void tb_on_poll(uv_poll_t *h, int status, int events)
{
    tb_client_t *c = h->data;
    if (c->dead)
        return;
    if (status < 0 && c->state != CS_CONNECTING) {
        tb_client_fail(c, "poll error");
        return;
    }
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || status < 0) {
            char why[96];
            snprintf(why, sizeof why, "connect: %s",
                     strerror(err ? err : ECONNREFUSED));
            tb_client_fail(c, why);
            return;
        }
        if (opt.tls == TB_TLS_DIRECT) {
            c->state = CS_FEATURES;
            tb_tls_start(c);
        } else {
            tb_send_header(c);
            tb_update_poll(c);
        }
        return;
    }
    if (c->hs) {
        tb_tls_step(c);
        return;
    }
    tb_client_read(c);
    if (!c->dead && c->out_off < c->out.len)
        tb_flush(c);
    tb_update_poll(c);
}

/* Creates and connects a client for `slot` logging in as `user`. Failures
 * are reported through the close callback, never synchronously. */
static void tb_client_start(int slot, int user, int purpose)
{
    tb_client_t *c = TN_NEW(tb_client_t);
    static const tn_xml_limits_t lim = { 4 << 20, 64, 64 };
    static const tn_xml_cbs_t cbs = { tb_xml_open, tb_xml_stanza,
                                      tb_xml_close };
    c->slot = slot;
    c->user = user;
    c->purpose = (uint8_t)purpose;
    c->state = CS_CONNECTING;
    c->t_start = tb_now();
    c->deadline = c->t_start + (uint64_t)(opt.login_timeout * 1e9);
    c->parser = tn_xml_parser_new(&lim, &cbs, c);
    tn_buf_init(&c->out);
    g.cl[slot] = c;
    g.live++;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    const char *why = NULL;
    char whybuf[96];
    if (c->fd < 0) {
        /* Out of descriptors: nothing to poll, so no async failure path;
         * the run cannot continue meaningfully. */
        snprintf(whybuf, sizeof whybuf, "socket: %s", strerror(errno));
        g.failures++;
        tb_reason_add(whybuf);
        g.cl[slot] = NULL;
        g.live--;
        tn_xml_parser_free(c->parser);
        tn_free(c);
        fprintf(stderr, "ternbench: %s (raise ulimit -n?)\n", whybuf);
        tb_finish(1);
        return;
    } else {
        struct sockaddr_in src = { .sin_family = AF_INET };
        src.sin_addr = opt.sources[(unsigned)slot % (unsigned)opt.nsources];
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef IP_BIND_ADDRESS_NO_PORT
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                   sizeof one);
#endif
        if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
            snprintf(whybuf, sizeof whybuf, "bind: %s", strerror(errno));
            why = whybuf;
        } else if (connect(c->fd, (struct sockaddr *)&g.dst, sizeof g.dst) <
                       0 &&
                   errno != EINPROGRESS) {
            snprintf(whybuf, sizeof whybuf, "connect: %s", strerror(errno));
            why = whybuf;
        }
    }
    if (uv_poll_init(g.loop, &c->poll, c->fd) < 0) {
        g.failures++;
        tb_reason_add(why ? why : "uv_poll_init failed");
        g.cl[slot] = NULL;
        g.live--;
        close(c->fd);
        tn_xml_parser_free(c->parser);
        tn_free(c);
        fprintf(stderr, "ternbench: %s\n", why ? why : "uv_poll_init");
        tb_finish(2);
        return;
    }
    c->poll.data = c;
    if (why) {
        tb_client_fail(c, why);
        return;
    }
    c->events = UV_WRITABLE;
    uv_poll_start(&c->poll, UV_WRITABLE, tb_on_poll);
}

/* ---------------------------------------------------------------------- */
/* SASL */

static const char *tb_mech_name(int m)
{
    return m == TB_MECH_PLAIN    ? "PLAIN"
           : m == TB_MECH_SCRAM1 ? "SCRAM-SHA-1"
                                 : "SCRAM-SHA-256";
}

static char *tb_username(int user)
{
    return tn_sprintf("%s%d", opt.prefix, user);
}

/* RFC 5802 5.1 saslname: '=' and ',' escaped. */
static void tb_saslname(tn_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '=')
            tn_buf_puts(b, "=3D");
        else if (*s == ',')
            tn_buf_puts(b, "=2C");
        else
            tn_buf_append(b, s, 1);
    }
}

static void tb_sasl_start(tb_client_t *c)
{
    char *user = tb_username(c->user);
    tn_buf_t b;
    tn_buf_init(&b);
    if (opt.mech == TB_MECH_PLAIN) {
        tn_buf_append(&b, "", 1);
        tn_buf_puts(&b, user);
        tn_buf_append(&b, "", 1);
        tn_buf_puts(&b, opt.password);
    } else {
        unsigned char rnd[18];
        RAND_bytes(rnd, sizeof rnd);
        char *nonce = tn_base64_encode(rnd, sizeof rnd);
        tn_buf_t bare;
        tn_buf_init(&bare);
        tn_buf_puts(&bare, "n=");
        tb_saslname(&bare, user);
        tn_buf_puts(&bare, ",r=");
        tn_buf_puts(&bare, nonce);
        tn_free(nonce);
        tb_scram_free(c->scram);
        c->scram = TN_NEW(tb_scram_t);
        c->scram->first_bare = tn_strdup(bare.data);
        tn_buf_puts(&b, "n,,");
        tn_buf_puts(&b, bare.data);
        tn_buf_release(&bare);
    }
    char *b64 = tn_base64_encode(b.data, b.len);
    tn_buf_release(&b);
    tb_printf(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                 "mechanism='%s'>%s</auth>",
              tb_mech_name(opt.mech), b64);
    tn_free(b64);
    tn_free(user);
    c->state = CS_SASL;
}

/* Finds attribute `key` (one letter) in a SCRAM message: a fresh copy of
 * its value, or NULL. */
static char *tb_scram_attr(const char *msg, char key)
{
    const char *p = msg;
    while (p && *p) {
        if (p[0] == key && p[1] == '=') {
            const char *e = strchr(p, ',');
            return tn_strndup(p + 2, e ? (size_t)(e - p - 2) : strlen(p + 2));
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return NULL;
}

/* Handles the server-first-message; returns the base64 client-final or
 * NULL (why set). */
static char *tb_scram_final(tb_client_t *c, const char *server_first,
                            const char **why)
{
    const EVP_MD *md = opt.mech == TB_MECH_SCRAM1 ? EVP_sha1() : EVP_sha256();
    unsigned mdlen = (unsigned)EVP_MD_get_size(md);
    char *r = tb_scram_attr(server_first, 'r');
    char *s = tb_scram_attr(server_first, 's');
    char *i = tb_scram_attr(server_first, 'i');
    char *out = NULL;
    const char *cnonce = strstr(c->scram->first_bare, ",r=") + 3;
    size_t saltlen = 0;
    unsigned char *salt = NULL;
    long iter = i ? strtol(i, NULL, 10) : 0;
    *why = "bad scram server-first";
    if (server_first[0] == 'm' || !r || !s || iter < 1 || iter > 1000000 ||
        strncmp(r, cnonce, strlen(cnonce)) != 0 ||
        strlen(r) == strlen(cnonce))
        goto done;
    salt = tn_base64_decode(s, strlen(s), &saltlen);
    if (!salt)
        goto done;

    tb_pwcache_t *pc = &g.pwc[c->user];
    if (!pc->salt || strcmp(pc->salt, s) != 0 || pc->iter != (unsigned)iter ||
        pc->mech != opt.mech) {
        if (!PKCS5_PBKDF2_HMAC(opt.password, (int)strlen(opt.password),
                               salt, (int)saltlen, (int)iter, md,
                               (int)mdlen, pc->salted))
            goto done;
        tn_free(pc->salt);
        pc->salt = tn_strdup(s);
        pc->iter = (unsigned)iter;
        pc->mech = opt.mech;
    }
    unsigned char ckey[EVP_MAX_MD_SIZE], skey[EVP_MAX_MD_SIZE];
    unsigned char stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
    unsigned len;
    HMAC(md, pc->salted, (int)mdlen, (const unsigned char *)"Client Key", 10,
         ckey, &len);
    HMAC(md, pc->salted, (int)mdlen, (const unsigned char *)"Server Key", 10,
         skey, &len);
    EVP_Digest(ckey, mdlen, stored, &len, md, NULL);

    char *without_proof = tn_sprintf("c=biws,r=%s", r);
    c->scram->auth_message = tn_sprintf("%s,%s,%s", c->scram->first_bare,
                                        server_first, without_proof);
    HMAC(md, stored, (int)mdlen,
         (const unsigned char *)c->scram->auth_message,
         strlen(c->scram->auth_message), csig, &len);
    unsigned char proof[EVP_MAX_MD_SIZE];
    for (unsigned k = 0; k < mdlen; k++)
        proof[k] = ckey[k] ^ csig[k];
    memcpy(c->scram->server_key, skey, mdlen);
    c->scram->mdlen = mdlen;
    char *p64 = tn_base64_encode(proof, mdlen);
    char *final = tn_sprintf("%s,p=%s", without_proof, p64);
    out = tn_base64_encode(final, strlen(final));
    tn_free(final);
    tn_free(p64);
    tn_free(without_proof);
    OPENSSL_cleanse(ckey, sizeof ckey);
    *why = NULL;
done:
    tn_free(salt);
    tn_free(r);
    tn_free(s);
    tn_free(i);
    return out;
}

/* Checks the server-final-message "v=..."; 0 if it proves the server
 * knew the password. */
static int tb_scram_verify(tb_client_t *c, const char *server_final)
{
    if (!c->scram || !c->scram->auth_message)
        return -1;
    char *v = tb_scram_attr(server_final, 'v');
    if (!v)
        return -1;
    const EVP_MD *md = opt.mech == TB_MECH_SCRAM1 ? EVP_sha1() : EVP_sha256();
    unsigned char sig[EVP_MAX_MD_SIZE];
    unsigned len;
    HMAC(md, c->scram->server_key, (int)c->scram->mdlen,
         (const unsigned char *)c->scram->auth_message,
         strlen(c->scram->auth_message), sig, &len);
    size_t vlen = 0;
    unsigned char *vb = tn_base64_decode(v, strlen(v), &vlen);
    int rc = (vb && vlen == len && CRYPTO_memcmp(vb, sig, len) == 0) ? 0 : -1;
    tn_free(vb);
    tn_free(v);
    return rc;
}

/* Decodes the base64 text of a SASL element into a fresh string, or
 * NULL. */
static char *tb_sasl_text(const tn_stanza_t *st)
{
    char *t = tn_stanza_text(st);
    size_t n = strlen(t);
    if (n == 0 || (n == 1 && t[0] == '=')) {
        tn_free(t);
        return tn_strdup("");
    }
    size_t len;
    unsigned char *d = tn_base64_decode(t, n, &len);
    tn_free(t);
    return (char *)d;
}

/* ---------------------------------------------------------------------- */
/* stanza handling */

static int tb_is(const tn_stanza_t *st, const char *name, const char *ns)
{
    return st->name && !strcmp(st->name, name) && st->ns &&
           !strcmp(st->ns, ns);
}

/* The name of the first element child of st (an error condition), or
 * "unknown". Borrowed. */
static const char *tb_condition(const tn_stanza_t *st)
{
    if (!st)
        return "unknown";
    for (size_t i = 0; i < st->nkids; i++)
        if (st->kids[i]->name && strcmp(st->kids[i]->name, "text") != 0)
            return st->kids[i]->name;
    return "unknown";
}

static void tb_fail_cond(tb_client_t *c, const char *what,
                         const tn_stanza_t *err)
{
    char why[128];
    snprintf(why, sizeof why, "%s: %s", what, tb_condition(err));
    tb_client_fail(c, why);
}

static int tb_iq_is(const tn_stanza_t *st, const char *id)
{
    const char *a = tn_stanza_attr(st, "id");
    return tb_is(st, "iq", TN_NS_CLIENT) && a && !strcmp(a, id);
}

static int tb_iq_ok(const tn_stanza_t *st)
{
    const char *t = tn_stanza_attr(st, "type");
    return t && !strcmp(t, "result");
}

static void tb_on_features(tb_client_t *c, tn_stanza_t *st)
{
    if (!c->tls_on && opt.tls == TB_TLS_STARTTLS) {
        if (!tn_stanza_child(st, "starttls", TN_NS_TLS)) {
            tb_client_fail(c, "server offers no starttls");
            return;
        }
        tb_puts(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
        c->state = CS_PROCEED;
        return;
    }
    tn_stanza_t *mechs = tn_stanza_child(st, "mechanisms", TN_NS_SASL);
    if (mechs) {
        if (c->purpose == TB_P_REGISTER) {
            char *user = tb_username(c->user);
            tb_puts(c, "<iq type='set' id='reg'><query "
                       "xmlns='jabber:iq:register'><username>");
            tb_esc(c, user);
            tb_puts(c, "</username><password>");
            tb_esc(c, opt.password);
            tb_puts(c, "</password></query></iq>");
            tn_free(user);
            c->state = CS_REGISTER;
            return;
        }
        int found = 0;
        for (size_t i = 0; i < mechs->nkids && !found; i++) {
            tn_stanza_t *k = mechs->kids[i];
            if (!k->name || strcmp(k->name, "mechanism") != 0)
                continue;
            char *t = tn_stanza_text(k);
            found = !strcmp(t, tb_mech_name(opt.mech));
            tn_free(t);
        }
        if (!found) {
            tb_client_fail(c, "mechanism not offered");
            return;
        }
        tb_sasl_start(c);
        return;
    }
    if (tn_stanza_child(st, "bind", TN_NS_BIND)) {
        tn_stanza_t *s = tn_stanza_child(st, "session", TN_NS_SESSION);
        c->need_session = s && !tn_stanza_child(s, "optional", NULL);
        tb_printf(c, "<iq type='set' id='bind'><bind "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                     "<resource>tb%d</resource></bind></iq>",
                  c->slot);
        c->state = CS_BIND;
        return;
    }
    tb_client_fail(c, "unexpected stream features");
}

static void tb_on_sasl(tb_client_t *c, tn_stanza_t *st)
{
    if (tb_is(st, "failure", TN_NS_SASL)) {
        tb_fail_cond(c, "sasl failure", st);
        return;
    }
    int is_success = tb_is(st, "success", TN_NS_SASL);
    if (!is_success && !tb_is(st, "challenge", TN_NS_SASL)) {
        tb_client_fail(c, "unexpected stanza during sasl");
        return;
    }
    char *data = tb_sasl_text(st);
    if (!data) {
        tb_client_fail(c, "bad base64 from server");
        return;
    }
    if (opt.mech != TB_MECH_PLAIN) {
        if (!is_success && !c->scram) {
            tn_free(data);
            tb_client_fail(c, "unexpected sasl challenge");
            return;
        }
        if (!is_success && !c->scram->auth_message) {
            const char *why;
            char *final = tb_scram_final(c, data, &why);
            tn_free(data);
            if (!final) {
                tb_client_fail(c, why);
                return;
            }
            tb_printf(c, "<response xmlns='urn:ietf:params:xml:ns:"
                         "xmpp-sasl'>%s</response>",
                      final);
            tn_free(final);
            return;
        }
        /* The server-final comes in <success/> or, from older servers,
         * in a challenge answered with an empty response. */
        if (data[0] || !is_success) {
            if (tb_scram_verify(c, data) != 0) {
                tn_free(data);
                tb_client_fail(c, "scram server signature mismatch");
                return;
            }
            tb_scram_free(c->scram);
            c->scram = NULL;
        } else if (c->scram) {
            tn_free(data);
            tb_client_fail(c, "scram success without server signature");
            return;
        }
        if (!is_success) {
            tn_free(data);
            tb_puts(c, "<response xmlns='urn:ietf:params:xml:ns:"
                       "xmpp-sasl'/>");
            return;
        }
    }
    tn_free(data);
    if (!is_success) {
        tb_client_fail(c, "unexpected sasl challenge");
        return;
    }
    tn_xml_parser_reset(c->parser);
    tb_send_header(c);
}

static void tb_send_roster_get(tb_client_t *c)
{
    tb_puts(c, "<iq type='get' id='roster'><query "
               "xmlns='jabber:iq:roster'/></iq>");
    c->state = CS_ROSTER;
}

static void tb_scenario_ready(tb_client_t *c);
static int tb_scenario_stanza(tb_client_t *c, tn_stanza_t *st);
static void tb_roster_items(tb_client_t *c, tn_stanza_t *query);

/* Stanzas the scenario did not want: answer IQ requests (roster pushes
 * and pings with a result, anything else with an error), drop the rest. */
static void tb_generic(tb_client_t *c, tn_stanza_t *st)
{
    if (!tb_is(st, "iq", TN_NS_CLIENT))
        return;
    const char *type = tn_stanza_attr(st, "type");
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return;
    const char *id = tn_stanza_attr(st, "id");
    const char *from = tn_stanza_attr(st, "from");
    tn_stanza_t *q = tn_stanza_child(st, "query", TN_NS_ROSTER);
    if (q && !strcmp(type, "set"))
        tb_roster_items(c, q);
    int known = q || tn_stanza_child(st, "ping", TN_NS_PING);
    tb_puts(c, "<iq type='");
    tb_puts(c, known ? "result" : "error");
    tb_puts(c, "' id='");
    tb_esc(c, id ? id : "");
    if (from) {
        tb_puts(c, "' to='");
        tb_esc(c, from);
    }
    if (known)
        tb_puts(c, "'/>");
    else
        tb_puts(c, "'><error type='cancel'><service-unavailable "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                   "</error></iq>");
}

static void tb_handle_stanza(tb_client_t *c, tn_stanza_t *st)
{
    if (tb_is(st, "error", TN_NS_STREAM)) {
        if (c->state == CS_CLOSING)
            tb_client_finish_close(c);
        else
            tb_fail_cond(c, "stream error", st);
        return;
    }
    switch (c->state) {
    case CS_FEATURES:
        if (!tb_is(st, "features", TN_NS_STREAM)) {
            tb_client_fail(c, "expected stream features");
            return;
        }
        tb_on_features(c, st);
        return;
    case CS_PROCEED:
        if (!tb_is(st, "proceed", TN_NS_TLS)) {
            tb_client_fail(c, "starttls refused");
            return;
        }
        /* Discards anything after <proceed/> in this read. */
        tn_xml_parser_reset(c->parser);
        tb_tls_start(c);
        return;
    case CS_REGISTER:
        if (!tb_iq_is(st, "reg"))
            break;
        if (tb_iq_ok(st)) {
            g.reg_created++;
        } else {
            tn_stanza_t *e = tn_stanza_child(st, "error", NULL);
            if (e && tn_stanza_child(e, "conflict", NULL)) {
                g.reg_existed++;
            } else {
                tb_fail_cond(c, "registration failed", e);
                return;
            }
        }
        c->ok = 1;
        tb_client_close_clean(c);
        return;
    case CS_SASL:
        tb_on_sasl(c, st);
        return;
    case CS_BIND:
        if (!tb_iq_is(st, "bind"))
            break;
        if (!tb_iq_ok(st)) {
            tb_fail_cond(c, "bind failed", tn_stanza_child(st, "error",
                                                           NULL));
            return;
        }
        {
            tn_stanza_t *b = tn_stanza_child(st, "bind", TN_NS_BIND);
            char *jid = b ? tn_stanza_child_text(b, "jid", TN_NS_BIND)
                          : NULL;
            if (!jid || !strchr(jid, '/')) {
                tn_free(jid);
                tb_client_fail(c, "bind result without jid");
                return;
            }
            tn_free(c->jid);
            c->jid = jid;
        }
        if (c->need_session) {
            tb_puts(c, "<iq type='set' id='sess'><session "
                       "xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
            c->state = CS_SESSION;
        } else {
            tb_send_roster_get(c);
        }
        return;
    case CS_SESSION:
        if (!tb_iq_is(st, "sess"))
            break;
        if (!tb_iq_ok(st)) {
            tb_fail_cond(c, "session failed", tn_stanza_child(st, "error",
                                                              NULL));
            return;
        }
        tb_send_roster_get(c);
        return;
    case CS_ROSTER:
        if (!tb_iq_is(st, "roster"))
            break;
        if (!tb_iq_ok(st)) {
            tb_fail_cond(c, "roster get failed",
                         tn_stanza_child(st, "error", NULL));
            return;
        }
        {
            tn_stanza_t *q = tn_stanza_child(st, "query", TN_NS_ROSTER);
            if (q)
                tb_roster_items(c, q);
        }
        tb_puts(c, "<presence/>");
        c->state = CS_READY;
        c->deadline = 0;
        tb_scenario_ready(c);
        return;
    case CS_READY:
        if (tb_scenario_stanza(c, st))
            return;
        break;
    case CS_CLOSING:
    default:
        return;
    }
    tb_generic(c, st);
}

/* ---------------------------------------------------------------------- */
/* launching many clients with bounded concurrency */

static void tb_launch_check(void);

static void tb_launch_fill(void)
{
    while (g.l.next < g.l.n && g.l.active < g.l.conc && !g.finished) {
        int slot = g.l.next++;
        g.l.active++;
        int user = opt.users > 0 ? slot % opt.users : slot;
        if (g.cl[slot]) {
            /* A leftover of an earlier phase; should not happen. */
            tb_client_fail(g.cl[slot], "slot busy");
        }
        tb_client_start(slot, user, g.l.purpose);
    }
}

/* Starts n clients (slots 0..n-1), conc at a time; done runs when each
 * is ready or has failed (close_on_ready: and has closed). */
static void tb_launch(int n, int conc, int purpose, int close_on_ready,
                      void (*done)(void))
{
    memset(&g.l, 0, sizeof g.l);
    g.l.n = n;
    g.l.conc = conc > 0 ? conc : 1;
    g.l.purpose = purpose;
    g.l.close_on_ready = close_on_ready;
    g.l.done = done;
    if (n == 0) {
        done();
        return;
    }
    tb_launch_fill();
}

static void tb_launch_check(void)
{
    if (g.l.done && g.l.ready + g.l.failed == g.l.n && g.l.active == 0) {
        void (*done)(void) = g.l.done;
        g.l.done = NULL;
        done();
    } else {
        tb_launch_fill();
    }
}

/* ---------------------------------------------------------------------- */
/* scenario plumbing */

typedef struct tb_scenario {
    const char *name;
    void (*start)(void);
    void (*ready)(tb_client_t *c);
    int (*stanza)(tb_client_t *c, tn_stanza_t *st); /* 1: consumed */
    void (*end)(tb_client_t *c); /* a session ended (after launch) */
    void (*tick)(uint64_t now);
} tb_scenario_t;

static const tb_scenario_t *sc;

static void tb_scenario_ready(tb_client_t *c)
{
    if (c->purpose == TB_P_SESSION && g.l.done && !g.l.close_on_ready) {
        g.l.active--;
        g.l.ready++;
        if (sc->ready)
            sc->ready(c);
        tb_launch_check();
        return;
    }
    if (g.l.close_on_ready) {
        if (sc->ready)
            sc->ready(c);
        tb_client_close_clean(c);
        return;
    }
    if (sc->ready)
        sc->ready(c);
}

static int tb_scenario_stanza(tb_client_t *c, tn_stanza_t *st)
{
    return sc->stanza ? sc->stanza(c, st) : 0;
}

/* Called from the close callback of every client. */
static void tb_scenario_end(tb_client_t *c)
{
    int in_launch = g.l.done != NULL;
    if (in_launch && g.l.close_on_ready) {
        g.l.active--;
        if (c->ok)
            g.l.ready++;
        else
            g.l.failed++;
    } else if (in_launch && c->state != CS_READY && c->state != CS_CLOSING &&
               !c->ok) {
        /* Failed before getting ready. */
        g.l.active--;
        g.l.failed++;
    }
    if (sc->end)
        sc->end(c);
    if (in_launch)
        tb_launch_check();
}

static void tb_close_all(void (*then)(void))
{
    g.on_all_closed = then;
    if (g.live == 0) {
        g.on_all_closed = NULL;
        then();
        return;
    }
    for (int i = 0; i < g.ncl; i++)
        if (g.cl[i])
            tb_client_close_clean(g.cl[i]);
}

static void tb_on_sweep(uv_timer_t *t)
{
    uint64_t now = tb_now();
    for (int i = 0; i < g.ncl; i++) {
        tb_client_t *c = g.cl[i];
        if (!c || c->dead || !c->deadline || now < c->deadline ||
            c->state == CS_READY) /* READY deadlines are the scenario's */
            continue;
        if (c->state == CS_CLOSING) {
            g.close_timeouts++;
            tb_client_end(c, 1);
        } else {
            tb_client_fail(c, "login timed out");
        }
    }
    if (sc->tick && !g.finished)
        sc->tick(now);
}

static void tb_print_failures(void)
{
    for (int i = 0; i < g.nreasons; i++)
        fprintf(stderr, "ternbench: %u x %s\n", g.reasons[i].count,
                g.reasons[i].text);
    if (g.close_timeouts)
        fprintf(stderr, "ternbench: %u sessions closed without the server's "
                        "stream end\n",
                g.close_timeouts);
}

static void tb_on_deadline(uv_timer_t *t)
{
    printf("failures: %u\n", g.failures);
    printf("result: timeout\n");
    fflush(stdout);
    fprintf(stderr, "ternbench: hard deadline of %.0f s reached\n",
            opt.timeout);
    tb_print_failures();
    fflush(stderr);
    _exit(3);
}

/* Stops the loop; the process exits with code once the loop unwinds. */
static void tb_finish(int code)
{
    if (g.finished)
        return;
    g.finished = 1;
    g.exit_code = code;
    uv_stop(g.loop);
}

/* The register phase, then `next`. */
static void (*tb_after_register)(void);

static void tb_register_done(void)
{
    printf("registered: %u\n", g.reg_created);
    printf("already_registered: %u\n", g.reg_existed);
    if (g.l.failed) {
        fprintf(stderr, "ternbench: %d registrations failed\n", g.l.failed);
        tb_finish(1);
        return;
    }
    tb_after_register();
}

static void tb_maybe_register(void (*next)(void))
{
    if (!opt.reg) {
        next();
        return;
    }
    tb_after_register = next;
    tb_launch(opt.users, opt.concurrency, TB_P_REGISTER, 1, tb_register_done);
}

static int tb_all_ready(int n)
{
    for (int i = 0; i < n; i++)
        if (!g.cl[i] || g.cl[i]->state != CS_READY || g.cl[i]->dead)
            return 0;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* login */

static void login_ready(tb_client_t *c)
{
    uint64_t now = tb_now();
    tb_hist_add(&g.hist, (now - c->t_start) / 1000);
    g.t_last = now;
}

static void login_done(void)
{
    uint64_t t1 = tb_now();
    tb_sample_after();
    double el = tb_secs(t1 - g.t_first);
    unsigned ok = (unsigned)g.hist.n;
    printf("clients: %d\n", opt.clients);
    printf("logins_ok: %u\n", ok);
    printf("logins_failed: %u\n", (unsigned)opt.clients - ok);
    printf("elapsed_s: %.3f\n", el);
    printf("logins_per_s: %.1f\n", el > 0 ? ok / el : 0);
    printf("latency_p50_ms: %.3f\n", tb_hist_ms(&g.hist, 0.50));
    printf("latency_p99_ms: %.3f\n", tb_hist_ms(&g.hist, 0.99));
    printf("latency_max_ms: %.3f\n", (double)g.hist.max / 1000.0);
    tb_print_server("cpu_ms_per_login", ok, 1000.0);
    tb_finish(ok == (unsigned)opt.clients && !g.failures ? 0 : 1);
}

static void login_go(void)
{
    tb_sample_before();
    g.t_first = tb_now();
    tb_launch(opt.clients, opt.concurrency, TB_P_SESSION, 1, login_done);
}

static void login_start(void)
{
    tb_maybe_register(login_go);
}

/* ---------------------------------------------------------------------- */
/* idle */

static int idle_established;
static int idle_lingering;      /* ready file written, holding on */
static int idle_alive_end = -1; /* sessions still up when the linger ended */
static long idle_rss_end;       /* server VmRSS then, KiB */

static int idle_alive(void)
{
    int alive = 0;
    for (int i = 0; i < opt.clients; i++)
        if (g.cl[i] && !g.cl[i]->dead && g.cl[i]->state == CS_READY)
            alive++;
    return alive;
}

static double idle_kib_per_session(void)
{
    return idle_established ? (double)(g.rss1 - g.rss0) / idle_established
                            : 0;
}

static void idle_report(void)
{
    printf("sessions: %d\n", opt.clients);
    printf("sessions_established: %d\n", idle_established);
    printf("sessions_failed: %d\n", opt.clients - idle_established);
    printf("sessions_dropped: %u\n", g.dropped);
    printf("hold_s: %.1f\n", opt.hold);
    if (g.sampled) {
        printf("cpu_seconds: %.3f\n", g.cpu1 - g.cpu0);
        printf("rss_before_kib: %ld\n", g.rss0);
        printf("rss_after_kib: %ld\n", g.rss1);
        printf("rss_kib_per_session: %.2f\n", idle_kib_per_session());
    }
    int ok = idle_established == opt.clients && !g.failures;
    if (idle_alive_end >= 0) {
        /* With --ready-file the figures above are from the end of the
         * hold, these from the end of the linger. */
        printf("sessions_alive_end: %d\n", idle_alive_end);
        if (idle_rss_end)
            printf("rss_end_kib: %ld\n", idle_rss_end);
        if (idle_alive_end < idle_established)
            ok = 0;
    }
    tb_finish(ok ? 0 : 1);
}

/* Writes the figures of the hold to --ready-file, through a temporary
 * name so that a reader never sees half a file. Returns 0 or -1 (errno). */
static int idle_write_ready(void)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", opt.ready_file) >=
        (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "sessions_established: %d\n", idle_established);
    if (g.sampled) {
        fprintf(f, "rss_before_kib: %ld\n", g.rss0);
        fprintf(f, "rss_after_kib: %ld\n", g.rss1);
        fprintf(f, "rss_kib_per_session: %.2f\n", idle_kib_per_session());
    }
    if (fclose(f) != 0 || rename(tmp, opt.ready_file) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static void idle_held(uv_timer_t *t)
{
    tb_sample_after();
    /* Sessions that dropped during the hold count as not established. */
    int alive = idle_alive();
    if (alive < idle_established)
        idle_established = alive;
    if (opt.ready_file) {
        if (idle_write_ready() == 0) {
            idle_lingering = 1;
            g.t_stop = tb_now() + (uint64_t)(opt.linger * TB_NS_PER_S);
            tb_log("%d sessions held, wrote %s; holding on", alive,
                   opt.ready_file);
            return;
        }
        fprintf(stderr, "ternbench: cannot write %s: %s\n", opt.ready_file,
                strerror(errno));
        tb_reason_add("cannot write --ready-file");
        g.failures++;
    }
    tb_log("hold over, closing %d sessions", alive);
    tb_close_all(idle_report);
}

/* With --ready-file the sessions stay until --stop-file exists or
 * --linger passes (checked every sweep, 100 ms); another process
 * measures meanwhile (compare.sh's sweep runs chat). */
static void idle_tick(uint64_t now)
{
    if (!idle_lingering)
        return;
    if (now < g.t_stop &&
        !(opt.stop_file && access(opt.stop_file, F_OK) == 0))
        return;
    idle_lingering = 0;
    idle_alive_end = idle_alive();
    double cpu;
    long rss;
    if (opt.npids && tb_sample(&cpu, &rss) == 0)
        idle_rss_end = rss;
    if (now >= g.t_stop)
        tb_log("linger of %.1f s over", opt.linger);
    tb_log("closing %d sessions", idle_alive_end);
    tb_close_all(idle_report);
}

static void idle_keepalive(uv_timer_t *t)
{
    for (int i = 0; i < opt.clients; i++)
        if (g.cl[i] && g.cl[i]->state == CS_READY)
            tb_puts(g.cl[i], " ");
}

static void idle_logged_in(void)
{
    idle_established = g.l.ready;
    tb_log("%d sessions established, holding %.1f s", g.l.ready, opt.hold);
    uv_timer_start(&g.phase_timer, idle_held, (uint64_t)(opt.hold * 1000),
                   0);
    if (opt.keepalive > 0) {
        uint64_t ms = (uint64_t)(opt.keepalive * 1000);
        uv_timer_start(&g.pacer, idle_keepalive, ms, ms);
    }
}

static void idle_go(void)
{
    tb_sample_before();
    tb_launch(opt.clients, opt.concurrency, TB_P_SESSION, 0, idle_logged_in);
}

static void idle_start(void)
{
    tb_maybe_register(idle_go);
}

/* ---------------------------------------------------------------------- */
/* chat: pairs (2k, 2k+1) send to each other's full JID */

static void chat_send_one(tb_client_t *c)
{
    tb_client_t *p = g.cl[c->slot ^ 1];
    if (!p || p->dead || !p->jid)
        return;
    tb_puts(c, "<message type='chat' to='");
    tb_esc(c, p->jid);
    tb_printf(c, "'><body>%" PRIu32 " %" PRIu64 "</body></message>",
              c->seq_sent, tb_now());
    c->seq_sent++;
    g.sent++;
}

/* Flat out: keep opt.window messages in flight toward the partner. */
static void chat_pump(tb_client_t *c)
{
    if (!g.sending || opt.rate > 0 || c->dead)
        return;
    tb_client_t *p = g.cl[c->slot ^ 1];
    if (!p)
        return;
    while (c->seq_sent - p->recv_count < (uint32_t)opt.window)
        chat_send_one(c);
}

/* Parses "a b" or "a b c" numbers from a body; returns how many. */
static int tb_parse_nums(const char *s, uint64_t *v, int max)
{
    int n = 0;
    while (n < max && *s) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (end == s || errno)
            break;
        v[n++] = x;
        s = end;
        while (*s == ' ')
            s++;
    }
    return n;
}

static void tb_record_latency(uint64_t now, uint64_t ts)
{
    g.recv_total++;
    if (g.measuring && now >= g.t_meas0 && now < g.t_meas1) {
        g.recv_win++;
        tb_hist_add(&g.hist, now > ts ? (now - ts) / 1000 : 0);
    }
}

static int chat_stanza(tb_client_t *c, tn_stanza_t *st)
{
    if (!tb_is(st, "message", TN_NS_CLIENT))
        return 0;
    const char *type = tn_stanza_attr(st, "type");
    if (type && !strcmp(type, "error")) {
        g.msg_errors++;
        return 1;
    }
    char *body = tn_stanza_child_text(st, "body", TN_NS_CLIENT);
    uint64_t v[2];
    if (!body || tb_parse_nums(body, v, 2) != 2) {
        tn_free(body);
        return 1;
    }
    tn_free(body);
    uint64_t now = tb_now();
    uint32_t seq = (uint32_t)v[0];
    if (seq != c->recv_next) {
        g.reordered++;
        if (seq > c->recv_next)
            c->recv_next = seq + 1;
    } else {
        c->recv_next++;
    }
    c->recv_count++;
    tb_record_latency(now, v[1]);
    tb_client_t *p = g.cl[c->slot ^ 1];
    if (p)
        chat_pump(p);
    return 1;
}

static void chat_report(void)
{
    uint64_t lost = g.sent > g.recv_total ? g.sent - g.recv_total : 0;
    double dur = tb_secs(g.t_meas1 - g.t_meas0);
    printf("pairs: %d\n", opt.users / 2);
    printf("senders: %d\n", opt.users);
    printf("rate: %.0f\n", opt.rate);
    printf("window: %d\n", opt.rate > 0 ? 0 : opt.window);
    printf("duration_s: %.3f\n", dur);
    printf("sent: %" PRIu64 "\n", g.sent);
    printf("delivered_total: %" PRIu64 "\n", g.recv_total);
    printf("delivered: %" PRIu64 "\n", g.recv_win);
    printf("msgs_per_s: %.1f\n", dur > 0 ? (double)g.recv_win / dur : 0);
    printf("latency_p50_ms: %.3f\n", tb_hist_ms(&g.hist, 0.50));
    printf("latency_p90_ms: %.3f\n", tb_hist_ms(&g.hist, 0.90));
    printf("latency_p99_ms: %.3f\n", tb_hist_ms(&g.hist, 0.99));
    printf("latency_max_ms: %.3f\n", (double)g.hist.max / 1000.0);
    printf("lost: %" PRIu64 "\n", lost);
    printf("reordered: %" PRIu64 "\n", g.reordered);
    printf("errors: %" PRIu64 "\n", g.msg_errors);
    tb_print_server("cpu_s_per_1000_stanzas", (double)g.recv_win, 1000.0);
    int bad = lost || g.reordered || g.msg_errors || g.failures ||
              g.recv_total > g.sent;
    tb_finish(bad ? 1 : 0);
}

static int chat_phase; /* 0 login, 1 warmup, 2 measuring, 3 draining */

static void chat_closed(void)
{
    chat_report();
}

/* Fixed rate (--rate): sends what the schedule owes since the warm-up
 * began, round-robin over the first n clients, at most a tenth of a
 * second's worth per tick. Shared by chat and muc. */
static void tb_pace(int n, void (*send_one)(tb_client_t *c))
{
    uint64_t now = tb_now();
    if (!g.sending || now >= g.t_meas1)
        return;
    double since = tb_secs(now - (g.t_meas0 - (uint64_t)(opt.warmup * 1e9)));
    uint64_t target = (uint64_t)(opt.rate * since);
    uint64_t cap = (uint64_t)(opt.rate / 10) + 1;
    for (uint64_t k = 0; g.rate_sent < target && k < cap; k++) {
        tb_client_t *c = g.cl[g.rr];
        g.rr = (g.rr + 1) % n;
        g.rate_sent++;
        if (c && !c->dead)
            send_one(c);
    }
}

static void chat_paced(uv_timer_t *t)
{
    (void)t;
    tb_pace(opt.users, chat_send_one);
}

static void chat_tick(uint64_t now)
{
    if (chat_phase == 1 && now >= g.t_meas0) {
        chat_phase = 2;
        tb_sample_before();
        tb_log("measuring");
    }
    if (chat_phase == 2 && now >= g.t_meas1) {
        chat_phase = 3;
        g.sending = 0;
        tb_sample_after();
        g.t_stop = now;
        tb_log("draining: sent %" PRIu64 " received %" PRIu64, g.sent,
               g.recv_total);
    }
    if (chat_phase == 3 &&
        (g.recv_total >= g.sent ||
         now - g.t_stop > (uint64_t)(opt.drain * 1e9))) {
        chat_phase = 4;
        uv_timer_stop(&g.pacer);
        tb_close_all(chat_closed);
    }
}

static void chat_logged_in(void)
{
    if (g.l.failed || !tb_all_ready(opt.users)) {
        fprintf(stderr, "ternbench: %d of %d sessions failed to log in\n",
                g.l.failed, opt.users);
        g.sent = 0;
        tb_close_all(chat_report);
        return;
    }
    tb_log("%d sessions ready", opt.users);
    uint64_t now = tb_now();
    g.t_meas0 = now + (uint64_t)(opt.warmup * 1e9);
    g.t_meas1 = g.t_meas0 + (uint64_t)(opt.duration * 1e9);
    g.t_stop = g.t_meas1;
    g.measuring = 1;
    g.sending = 1;
    chat_phase = 1;
    if (opt.warmup <= 0)
        chat_tick(now);
    if (opt.rate > 0) {
        uv_timer_start(&g.pacer, chat_paced, 1, 1);
    } else {
        for (int i = 0; i < opt.users; i++)
            chat_pump(g.cl[i]);
    }
}

static void chat_go(void)
{
    tb_launch(opt.users, opt.concurrency, TB_P_SESSION, 0, chat_logged_in);
}

static void chat_start(void)
{
    if (opt.users < 2 || opt.users % 2) {
        fprintf(stderr, "ternbench: chat needs an even --users >= 2\n");
        tb_finish(2);
        return;
    }
    tb_maybe_register(chat_go);
}

/* ---------------------------------------------------------------------- */
/* roster: user i's contacts are i+-1 .. i+-contacts/2 (mod users) */

static int roster_phase; /* 1 setup, 2 storm */

/* The bit of contact `jid` in user's masks, or -1. */
static int roster_bit(int user, const char *jid)
{
    size_t pl = strlen(opt.prefix);
    if (!jid || strncmp(jid, opt.prefix, pl) != 0)
        return -1;
    char *end;
    long j = strtol(jid + pl, &end, 10);
    if (end == jid + pl || *end != '@' || j < 0 || j >= opt.users)
        return -1;
    size_t dl = strlen(opt.domain);
    if (strncmp(end + 1, opt.domain, dl) != 0 ||
        (end[1 + dl] != '\0' && end[1 + dl] != '/'))
        return -1;
    int half = opt.contacts / 2;
    int d = (int)((j - user + opt.users) % opt.users);
    if (d >= 1 && d <= half)
        return d - 1;
    d = opt.users - d;
    if (d >= 1 && d <= half)
        return half + d - 1;
    return -1;
}

/* Roster items (result or push): contacts with subscription both. */
static void tb_roster_items(tb_client_t *c, tn_stanza_t *query)
{
    if (sc == NULL || strcmp(sc->name, "roster") != 0)
        return;
    for (size_t i = 0; i < query->nkids; i++) {
        tn_stanza_t *it = query->kids[i];
        if (!it->name || strcmp(it->name, "item") != 0)
            continue;
        const char *sub = tn_stanza_attr(it, "subscription");
        int bit = roster_bit(c->user, tn_stanza_attr(it, "jid"));
        if (bit < 0)
            continue;
        if (sub && !strcmp(sub, "both"))
            c->mask_both |= 1ULL << bit;
        else
            c->mask_both &= ~(1ULL << bit);
    }
}

static void roster_jid_of(tb_client_t *c, int user)
{
    char *u = tb_username(user);
    tb_esc(c, u);
    tb_puts(c, "@");
    tb_esc(c, opt.domain);
    tn_free(u);
}

static void roster_presence(tb_client_t *c, int user, const char *type)
{
    tb_puts(c, "<presence to='");
    roster_jid_of(c, user);
    tb_printf(c, "' type='%s'/>", type);
}

static int roster_stanza(tb_client_t *c, tn_stanza_t *st)
{
    if (!tb_is(st, "presence", TN_NS_CLIENT))
        return 0;
    const char *from = tn_stanza_attr(st, "from");
    const char *type = tn_stanza_attr(st, "type");
    int bit = roster_bit(c->user, from);
    if (roster_phase == 1) {
        if (bit < 0 || !type || strcmp(type, "subscribe") != 0)
            return 1;
        int half = opt.contacts / 2;
        int j = bit < half ? (c->user + bit + 1) % opt.users
                           : (c->user - (bit - half + 1) + opt.users) %
                                 opt.users;
        roster_presence(c, j, "subscribed");
        if (bit >= half) /* they initiated: subscribe back */
            roster_presence(c, j, "subscribe");
        return 1;
    }
    if (roster_phase == 2) {
        if (c->jid && from && !strcmp(from, c->jid))
            return 1; /* our own presence */
        g.presence_delivered++;
        if (bit >= 0 && (!type || !strcmp(type, "available")) &&
            !(c->mask_seen & (1ULL << bit))) {
            c->mask_seen |= 1ULL << bit;
            g.t_storm1 = tb_now();
        }
    }
    return 1;
}

/* Setup, once every session is online: ask each contact we initiate
 * with (user i initiates with i+1 .. i+contacts/2) unless already both. */
static void roster_subscribe_all(tb_client_t *c)
{
    int half = opt.contacts / 2;
    for (int d = 1; d <= half; d++)
        if (!(c->mask_both & (1ULL << (d - 1))))
            roster_presence(c, (c->user + d) % opt.users, "subscribe");
}

static uint64_t roster_setup_t0;

static void roster_storm_report(void)
{
    tb_finish(g.failures ? 1 : 0);
}

static uint64_t roster_missing;

static void roster_closed_after_storm(void)
{
    uint64_t expect = (uint64_t)opt.users * (uint64_t)opt.contacts;
    double storm = tb_secs((g.t_storm1 > g.t_storm0 ? g.t_storm1
                                                    : g.t_storm0) -
                           g.t_storm0);
    printf("users: %d\n", opt.users);
    printf("contacts_per_user: %d\n", opt.contacts);
    printf("setup_s: %.3f\n", g.setup_s);
    printf("storm_logins: %d\n", g.l.ready);
    printf("storm_s: %.3f\n", storm);
    printf("presence_expected: %" PRIu64 "\n", expect);
    printf("presence_delivered: %" PRIu64 "\n", g.presence_delivered);
    printf("presence_missing: %" PRIu64 "\n", roster_missing);
    printf("lost: %" PRIu64 "\n", roster_missing);
    if (g.sampled) {
        double cpu = g.cpu1 - g.cpu0;
        printf("cpu_seconds: %.3f\n", cpu);
        printf("rss_before_kib: %ld\n", g.rss0);
        printf("rss_after_kib: %ld\n", g.rss1);
        printf("cpu_s_per_1000_stanzas: %.4f\n",
               g.presence_delivered
                   ? cpu * 1000.0 / (double)g.presence_delivered
                   : 0);
        printf("cpu_ms_per_login: %.3f\n",
               opt.users ? cpu * 1000.0 / opt.users : 0);
    }
    g.failures += roster_missing ? 1 : 0;
    roster_storm_report();
}

static int roster_storm_logged;

static void roster_storm_logged_in(void)
{
    roster_storm_logged = 1;
    tb_log("storm: %d logged in, %d failed", g.l.ready, g.l.failed);
}

static void roster_storm_go(void)
{
    roster_phase = 2;
    tb_sample_before();
    g.t_storm0 = g.t_storm1 = tb_now();
    tb_log("storm: %d logins", opt.users);
    tb_launch(opt.users, opt.storm_conc, TB_P_SESSION, 0,
              roster_storm_logged_in);
}

static void roster_settle(uv_timer_t *t)
{
    roster_storm_go();
}

static void roster_setup_closed(void)
{
    tb_log("setup sessions closed; settling");
    uv_timer_start(&g.phase_timer, roster_settle, 1000, 0);
}

static int roster_setup_logged;

static void roster_logged_in(void)
{
    if (g.l.failed || !tb_all_ready(opt.users)) {
        fprintf(stderr, "ternbench: %d of %d sessions failed to log in\n",
                g.l.failed, opt.users);
        tb_close_all(roster_storm_report);
        return;
    }
    roster_setup_logged = 1;
    tb_log("setup: %d sessions ready", opt.users);
    for (int i = 0; i < opt.users; i++)
        roster_subscribe_all(g.cl[i]);
}

static void roster_tick(uint64_t now)
{
    if (roster_phase == 1 && roster_setup_logged) {
        int done = 1;
        for (int i = 0; i < opt.users && done; i++)
            if (!g.cl[i] || g.cl[i]->mask_both != g.full_mask)
                done = 0;
        if (done) {
            roster_setup_logged = 0;
            g.setup_s = tb_secs(now - roster_setup_t0);
            tb_log("setup done in %.1f s", g.setup_s);
            roster_phase = 3; /* closing */
            tb_close_all(roster_setup_closed);
        } else if (now - roster_setup_t0 >
                   (uint64_t)(opt.setup_timeout * 1e9)) {
            roster_setup_logged = 0;
            fprintf(stderr, "ternbench: roster setup incomplete\n");
            g.failures++;
            tb_reason_add("roster setup incomplete");
            tb_close_all(roster_storm_report);
        }
    }
    if (roster_phase == 2 && roster_storm_logged) {
        uint64_t missing = 0;
        for (int i = 0; i < opt.users; i++) {
            tb_client_t *c = g.cl[i];
            uint64_t m = c ? c->mask_seen : 0;
            missing += (uint64_t)(opt.contacts - __builtin_popcountll(m));
        }
        int quiet = now - g.t_storm1 > (uint64_t)(opt.drain * 1e9);
        if (missing == 0 || quiet) {
            roster_missing = missing;
            tb_sample_after();
            roster_storm_logged = 0;
            roster_phase = 4;
            tb_log("storm done: %" PRIu64 " presences, %" PRIu64 " missing",
                   g.presence_delivered, missing);
            tb_close_all(roster_closed_after_storm);
        }
    }
}

static void roster_go(void)
{
    roster_phase = 1;
    roster_setup_t0 = tb_now();
    tb_launch(opt.users, opt.concurrency, TB_P_SESSION, 0, roster_logged_in);
}

static void roster_start(void)
{
    if (opt.contacts < 2 || opt.contacts % 2 || opt.contacts > 64 ||
        opt.users < opt.contacts + 1) {
        fprintf(stderr, "ternbench: roster needs an even --contacts <= 64 "
                        "and --users > contacts\n");
        tb_finish(2);
        return;
    }
    g.full_mask = opt.contacts == 64 ? ~0ULL : (1ULL << opt.contacts) - 1;
    tb_maybe_register(roster_go);
}

/* ---------------------------------------------------------------------- */
/* muc: occupants 0..K-1 in room@muc-host, occupants 0..S-1 send */

static int muc_phase; /* 1 owner joins, 2 others join, 3 warmup,
                         4 measuring, 5 draining, 6 done */
static int muc_join_next, muc_join_active;

static void muc_join(tb_client_t *c)
{
    tb_printf(c, "<presence to='%s@%s/n%d'><x xmlns='" TB_NS_MUC "'>"
                 "<history maxstanzas='0'/></x></presence>",
              opt.room, opt.muc_host, c->slot);
    c->deadline = tb_now() + (uint64_t)(opt.join_timeout * 1e9);
}

static void muc_send_one(tb_client_t *c)
{
    tb_printf(c, "<message type='groupchat' to='%s@%s'><body>%d %" PRIu32
                 " %" PRIu64 "</body></message>",
              opt.room, opt.muc_host, c->slot, c->seq_sent, tb_now());
    c->seq_sent++;
    g.sent++;
}

static void muc_pump(tb_client_t *c)
{
    if (!g.sending || opt.rate > 0 || c->dead || c->slot >= opt.senders)
        return;
    while (c->seq_sent - c->recv_count < (uint32_t)opt.window)
        muc_send_one(c);
}

static void muc_fill_joins(void);
static void muc_start_measure(void);

static void muc_joined_one(tb_client_t *c)
{
    c->joined = 1;
    c->deadline = 0;
    g.muc_joined++;
    if (muc_phase == 2) {
        muc_join_active--;
        muc_fill_joins();
    }
}

static void muc_fail_join(tb_client_t *c, const char *cond)
{
    if (!g.muc_error)
        g.muc_error = tn_strdup(cond);
    g.muc_join_failed++;
    c->deadline = 0;
    char why[128];
    snprintf(why, sizeof why, "muc join failed: %s", cond);
    g.failures++;
    tb_reason_add(why);
    if (muc_phase == 2) {
        muc_join_active--;
        muc_fill_joins();
    }
}

static int muc_stanza(tb_client_t *c, tn_stanza_t *st)
{
    const char *from = tn_stanza_attr(st, "from");
    const char *type = tn_stanza_attr(st, "type");
    if (tb_is(st, "presence", TN_NS_CLIENT)) {
        if (c->joined || !from)
            return 1;
        char self[512];
        snprintf(self, sizeof self, "%s@%s/n%d", opt.room, opt.muc_host,
                 c->slot);
        if (type && !strcmp(type, "error")) {
            muc_fail_join(c, tb_condition(tn_stanza_child(st, "error",
                                                          NULL)));
            return 1;
        }
        if (strcmp(from, self) != 0)
            return 1;
        tn_stanza_t *x = tn_stanza_child(st, "x", TB_NS_MUC_USER);
        int created = 0;
        for (size_t i = 0; x && i < x->nkids; i++) {
            const char *code = x->kids[i]->name &&
                                       !strcmp(x->kids[i]->name, "status")
                                   ? tn_stanza_attr(x->kids[i], "code")
                                   : NULL;
            if (code && !strcmp(code, "201"))
                created = 1;
        }
        if (created) {
            /* XEP-0045 10.1.2: accept the default configuration. */
            tb_printf(c, "<iq type='set' id='cfg' to='%s@%s'><query xmlns='"
                         TB_NS_MUC_OWNER "'><x xmlns='jabber:x:data' "
                         "type='submit'/></query></iq>",
                      opt.room, opt.muc_host);
            return 1;
        }
        muc_joined_one(c);
        return 1;
    }
    if (tb_iq_is(st, "cfg")) {
        if (tb_iq_ok(st))
            muc_joined_one(c);
        else
            muc_fail_join(c, tb_condition(tn_stanza_child(st, "error",
                                                          NULL)));
        return 1;
    }
    if (!tb_is(st, "message", TN_NS_CLIENT))
        return 0;
    if (type && !strcmp(type, "error")) {
        g.msg_errors++;
        return 1;
    }
    if (!type || strcmp(type, "groupchat") != 0)
        return 1;
    char *body = tn_stanza_child_text(st, "body", TN_NS_CLIENT);
    uint64_t v[3];
    if (!body || tb_parse_nums(body, v, 3) != 3 ||
        v[0] >= (uint64_t)opt.senders ||
        tn_stanza_child(st, "delay", TN_NS_DELAY)) {
        tn_free(body);
        return 1;
    }
    tn_free(body);
    uint64_t now = tb_now();
    uint32_t *next = &g.muc_next[(size_t)c->slot * (size_t)opt.senders +
                                 (size_t)v[0]];
    uint32_t seq = (uint32_t)v[1];
    if (seq != *next) {
        g.reordered++;
        if (seq > *next)
            *next = seq + 1;
    } else {
        (*next)++;
    }
    tb_record_latency(now, v[2]);
    if ((int)v[0] == c->slot) {
        c->recv_count++;
        muc_pump(c);
    }
    return 1;
}

static void muc_report(void)
{
    uint64_t expect = g.sent * (uint64_t)opt.occupants;
    uint64_t lost = expect > g.recv_total ? expect - g.recv_total : 0;
    double dur = g.t_meas1 > g.t_meas0 ? tb_secs(g.t_meas1 - g.t_meas0) : 0;
    printf("occupants: %d\n", opt.occupants);
    printf("senders: %d\n", opt.senders);
    printf("joined: %d\n", g.muc_joined);
    if (g.muc_error)
        printf("muc_join_error: %s\n", g.muc_error);
    printf("duration_s: %.3f\n", dur);
    printf("sent: %" PRIu64 "\n", g.sent);
    printf("delivered_total: %" PRIu64 "\n", g.recv_total);
    printf("delivered: %" PRIu64 "\n", g.recv_win);
    printf("stanzas_per_s: %.1f\n", dur > 0 ? (double)g.recv_win / dur : 0);
    printf("latency_p50_ms: %.3f\n", tb_hist_ms(&g.hist, 0.50));
    printf("latency_p90_ms: %.3f\n", tb_hist_ms(&g.hist, 0.90));
    printf("latency_p99_ms: %.3f\n", tb_hist_ms(&g.hist, 0.99));
    printf("latency_max_ms: %.3f\n", (double)g.hist.max / 1000.0);
    printf("lost: %" PRIu64 "\n", lost);
    printf("reordered: %" PRIu64 "\n", g.reordered);
    printf("errors: %" PRIu64 "\n", g.msg_errors);
    tb_print_server("cpu_s_per_1000_stanzas", (double)g.recv_win, 1000.0);
    int bad = lost || g.reordered || g.msg_errors || g.failures ||
              g.muc_error || g.muc_joined < opt.occupants;
    tb_finish(bad ? 1 : 0);
}

static void muc_fill_joins(void)
{
    while (muc_phase == 2 && muc_join_next < opt.occupants &&
           muc_join_active < opt.concurrency) {
        tb_client_t *c = g.cl[muc_join_next++];
        if (!c || c->dead)
            continue;
        muc_join_active++;
        muc_join(c);
    }
    if (muc_phase == 2 && muc_join_next >= opt.occupants &&
        muc_join_active == 0) {
        if (g.muc_joined < opt.occupants) {
            muc_phase = 6;
            tb_close_all(muc_report);
        } else {
            muc_start_measure();
        }
    }
}

static void muc_paced(uv_timer_t *t)
{
    (void)t;
    tb_pace(opt.senders, muc_send_one);
}

static void muc_start_measure(void)
{
    tb_log("%d occupants joined", g.muc_joined);
    uint64_t now = tb_now();
    g.t_meas0 = now + (uint64_t)(opt.warmup * 1e9);
    g.t_meas1 = g.t_meas0 + (uint64_t)(opt.duration * 1e9);
    g.t_stop = g.t_meas1;
    g.measuring = 1;
    g.sending = 1;
    muc_phase = 3;
    if (opt.rate > 0) {
        uv_timer_start(&g.pacer, muc_paced, 1, 1);
    } else {
        for (int i = 0; i < opt.senders; i++)
            if (g.cl[i])
                muc_pump(g.cl[i]);
    }
}

static void muc_tick(uint64_t now)
{
    if (muc_phase == 1 || muc_phase == 2) {
        /* A join without answer fails; the sweeper skips READY clients. */
        for (int i = 0; i < opt.occupants; i++) {
            tb_client_t *c = g.cl[i];
            if (c && !c->joined && c->deadline && now > c->deadline) {
                c->deadline = 0;
                muc_fail_join(c, "timeout");
            }
        }
        if (muc_phase == 1 && g.muc_join_failed) {
            muc_phase = 6;
            tb_close_all(muc_report);
            return;
        }
        if (muc_phase == 1 && g.cl[0] && g.cl[0]->joined) {
            muc_phase = 2;
            muc_join_next = 1;
            muc_fill_joins();
        }
        return;
    }
    if (muc_phase == 3 && now >= g.t_meas0) {
        muc_phase = 4;
        tb_sample_before();
    }
    if (muc_phase == 4 && now >= g.t_meas1) {
        muc_phase = 5;
        g.sending = 0;
        g.t_stop = now;
        tb_sample_after();
    }
    if (muc_phase == 5 &&
        (g.recv_total >= g.sent * (uint64_t)opt.occupants ||
         now - g.t_stop > (uint64_t)(opt.drain * 1e9))) {
        muc_phase = 6;
        uv_timer_stop(&g.pacer);
        tb_close_all(muc_report);
    }
}

static void muc_logged_in(void)
{
    if (g.l.failed || !tb_all_ready(opt.occupants)) {
        fprintf(stderr, "ternbench: %d of %d sessions failed to log in\n",
                g.l.failed, opt.occupants);
        muc_phase = 6;
        tb_close_all(muc_report);
        return;
    }
    muc_phase = 1;
    muc_join(g.cl[0]);
}

static void muc_go(void)
{
    tb_launch(opt.occupants, opt.concurrency, TB_P_SESSION, 0,
              muc_logged_in);
}

static void muc_start(void)
{
    if (opt.occupants < 1 || opt.senders < 1 ||
        opt.senders > opt.occupants) {
        fprintf(stderr, "ternbench: muc needs 1 <= --senders <= "
                        "--occupants\n");
        tb_finish(2);
        return;
    }
    g.muc_next = tn_calloc((size_t)opt.occupants * (size_t)opt.senders,
                           sizeof *g.muc_next);
    tb_maybe_register(muc_go);
}

/* ---------------------------------------------------------------------- */
/* main */

static const tb_scenario_t scenarios[] = {
    { "login", login_start, login_ready, NULL, NULL, NULL },
    { "idle", idle_start, NULL, NULL, NULL, idle_tick },
    { "chat", chat_start, NULL, chat_stanza, NULL, chat_tick },
    { "roster", roster_start, NULL, roster_stanza, NULL,
      roster_tick },
    { "muc", muc_start, NULL, muc_stanza, NULL, muc_tick },
};

static void tb_usage(FILE *f)
{
    fprintf(f,
        "usage: ternbench login|idle|chat|roster|muc [options]\n"
        "  --host 127.0.0.1 --port N (5222; 5223 with --tls direct)\n"
        "  --domain localhost --user-prefix bench --password secret\n"
        "  --users N (100) --clients N (login/idle: --users)\n"
        "  --concurrency N (100) --sources 127.0.0.1,127.0.0.2,...\n"
        "  --tls starttls|direct|none --mech SCRAM-SHA-1|SCRAM-SHA-256|PLAIN\n"
        "  --register  create the accounts first (XEP-0077)\n"
        "  --server-pid PID[,PID...]  sample CPU and RSS from /proc\n"
        "  --timeout S (300) hard deadline; --login-timeout S (60)\n"
        "  idle: --hold S (10) --keepalive S (0: none)\n"
        "        --ready-file PATH [--stop-file PATH] [--linger S (600)]\n"
        "  chat/muc: --rate MSGS_PER_S (0: flat out) --window N (10)\n"
        "            --duration S (10) --warmup S (2) --drain S (10)\n"
        "  roster: --contacts N (50) --storm-concurrency N (--users)\n"
        "          --setup-timeout S (900)\n"
        "  muc: --muc-host conference.DOMAIN --room bench --occupants N\n"
        "       (--users) --senders N (10) --join-timeout S (15)\n"
        "  -v  progress on stderr\n");
}

static int tb_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int tb_parse_args(int argc, char **argv)
{
    opt.host = "127.0.0.1";
    opt.domain = "localhost";
    opt.prefix = "bench";
    opt.password = "secret";
    opt.users = 100;
    opt.clients = -1;
    opt.concurrency = 100;
    opt.tls = TB_TLS_STARTTLS;
    opt.mech = TB_MECH_SCRAM1;
    opt.timeout = 300;
    opt.login_timeout = 60;
    opt.hold = 10;
    opt.linger = 600;
    opt.window = 10;
    opt.duration = 10;
    opt.warmup = 2;
    opt.drain = 10;
    opt.contacts = 50;
    opt.storm_conc = -1;
    opt.setup_timeout = 900;
    opt.room = "bench";
    opt.occupants = -1;
    opt.senders = 10;
    opt.join_timeout = 15;
    const char *sources = "127.0.0.1";
    const char *muc_host = NULL;
    if (argc < 2) {
        tb_usage(stderr);
        return -1;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        tb_usage(stdout);
        exit(0);
    }
    opt.scenario = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        int takes = 1;
#define NUM(name, lo, hi, dst)                                              \
    if (!strcmp(a, name)) {                                                 \
        if (!v || tb_num(v, lo, hi, &d) < 0) {                              \
            fprintf(stderr, "ternbench: %s wants a number in [%g, %g]\n",   \
                    name, (double)(lo), (double)(hi));                      \
            return -1;                                                      \
        }                                                                   \
        dst;                                                                \
        i++;                                                                \
        continue;                                                           \
    }
        NUM("--port", 1, 65535, opt.port = (int)d)
        NUM("--users", 0, 10000000, opt.users = (int)d)
        NUM("--clients", 0, 10000000, opt.clients = (int)d)
        NUM("--concurrency", 1, 10000000, opt.concurrency = (int)d)
        NUM("--timeout", 1, 1e6, opt.timeout = d)
        NUM("--login-timeout", 1, 1e6, opt.login_timeout = d)
        NUM("--hold", 0, 1e6, opt.hold = d)
        NUM("--keepalive", 0, 1e6, opt.keepalive = d)
        NUM("--linger", 0, 1e6, opt.linger = d)
        NUM("--rate", 0, 1e9, opt.rate = d)
        NUM("--window", 1, 1e6, opt.window = (int)d)
        NUM("--duration", 0.1, 1e6, opt.duration = d)
        NUM("--warmup", 0, 1e6, opt.warmup = d)
        NUM("--drain", 0, 1e6, opt.drain = d)
        NUM("--contacts", 2, 64, opt.contacts = (int)d)
        NUM("--storm-concurrency", 1, 1e7, opt.storm_conc = (int)d)
        NUM("--setup-timeout", 1, 1e6, opt.setup_timeout = d)
        NUM("--occupants", 1, 1e7, opt.occupants = (int)d)
        NUM("--senders", 1, 1e7, opt.senders = (int)d)
        NUM("--join-timeout", 1, 1e6, opt.join_timeout = d)
#undef NUM
        if (!strcmp(a, "--register")) {
            opt.reg = 1;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            opt.verbose = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "ternbench: unknown option or missing value: "
                            "%s\n", a);
            return -1;
        }
        if (!strcmp(a, "--host"))
            opt.host = v;
        else if (!strcmp(a, "--domain"))
            opt.domain = v;
        else if (!strcmp(a, "--user-prefix"))
            opt.prefix = v;
        else if (!strcmp(a, "--password"))
            opt.password = v;
        else if (!strcmp(a, "--sources"))
            sources = v;
        else if (!strcmp(a, "--ready-file"))
            opt.ready_file = v;
        else if (!strcmp(a, "--stop-file"))
            opt.stop_file = v;
        else if (!strcmp(a, "--muc-host"))
            muc_host = v;
        else if (!strcmp(a, "--room"))
            opt.room = v;
        else if (!strcmp(a, "--tls")) {
            if (!strcmp(v, "starttls"))
                opt.tls = TB_TLS_STARTTLS;
            else if (!strcmp(v, "direct"))
                opt.tls = TB_TLS_DIRECT;
            else if (!strcmp(v, "none"))
                opt.tls = TB_TLS_NONE;
            else {
                fprintf(stderr, "ternbench: --tls starttls|direct|none\n");
                return -1;
            }
        } else if (!strcmp(a, "--mech")) {
            if (!strcmp(v, "PLAIN"))
                opt.mech = TB_MECH_PLAIN;
            else if (!strcmp(v, "SCRAM-SHA-1"))
                opt.mech = TB_MECH_SCRAM1;
            else if (!strcmp(v, "SCRAM-SHA-256"))
                opt.mech = TB_MECH_SCRAM256;
            else {
                fprintf(stderr, "ternbench: --mech SCRAM-SHA-1|"
                                "SCRAM-SHA-256|PLAIN\n");
                return -1;
            }
        } else if (!strcmp(a, "--server-pid")) {
            char *copy = tn_strdup(v), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t;
                 t = strtok_r(NULL, ",", &save)) {
                if (opt.npids == TB_MAX_PIDS || tb_num(t, 1, 4194304, &d)) {
                    fprintf(stderr, "ternbench: bad --server-pid %s\n", v);
                    tn_free(copy);
                    return -1;
                }
                opt.pids[opt.npids++] = (pid_t)d;
            }
            tn_free(copy);
        } else {
            takes = 0;
        }
        if (!takes) {
            fprintf(stderr, "ternbench: unknown option %s\n", a);
            return -1;
        }
        i++;
    }
    char *copy = tn_strdup(sources), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        struct in_addr ia;
        if (opt.nsources == TB_MAX_SOURCES || inet_pton(AF_INET, t, &ia) != 1 ||
            (ntohl(ia.s_addr) >> 24) != 127) {
            fprintf(stderr, "ternbench: --sources takes 127.x.x.x "
                            "addresses: %s\n", t);
            tn_free(copy);
            return -1;
        }
        opt.sources[opt.nsources++] = ia;
    }
    tn_free(copy);
    if (!opt.nsources) {
        fprintf(stderr, "ternbench: --sources is empty\n");
        return -1;
    }
    if (!opt.port)
        opt.port = opt.tls == TB_TLS_DIRECT ? 5223 : 5222;
    if (opt.clients < 0)
        opt.clients = opt.users;
    if (opt.occupants < 0)
        opt.occupants = opt.users;
    if (opt.storm_conc < 0)
        opt.storm_conc = opt.users > 0 ? opt.users : 1;
    if (opt.senders > opt.occupants)
        opt.senders = opt.occupants;
    static char muc_buf[512];
    if (!muc_host) {
        snprintf(muc_buf, sizeof muc_buf, "conference.%s", opt.domain);
        muc_host = muc_buf;
    }
    opt.muc_host = muc_host;
    if (!strcmp(opt.scenario, "muc"))
        opt.users = opt.occupants;
    if (opt.users < 1 && strcmp(opt.scenario, "login") != 0) {
        fprintf(stderr, "ternbench: --users must be at least 1\n");
        return -1;
    }
    if (!strcmp(opt.scenario, "login") && opt.users < 1) {
        fprintf(stderr, "ternbench: --users must be at least 1\n");
        return -1;
    }
    struct in_addr dst;
    if (inet_pton(AF_INET, opt.host, &dst) != 1 ||
        (ntohl(dst.s_addr) >> 24) != 127) {
        fprintf(stderr, "ternbench: --host must be a 127.x.x.x address\n");
        return -1;
    }
    g.dst.sin_family = AF_INET;
    g.dst.sin_port = htons((uint16_t)opt.port);
    g.dst.sin_addr = dst;
    return 0;
}

static void tb_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void tb_walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    g.t0 = tb_now();
    if (tb_parse_args(argc, argv) < 0)
        return 2;
    sc = NULL;
    for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
        if (!strcmp(scenarios[i].name, opt.scenario))
            sc = &scenarios[i];
    if (!sc) {
        fprintf(stderr, "ternbench: unknown scenario %s\n", opt.scenario);
        tb_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* The backstop if the loop itself ever hangs: SIGALRM kills us. */
    alarm((unsigned)opt.timeout + 5);
    tb_raise_nofile();

    g.ssl_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g.ssl_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_min_proto_version(g.ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(g.ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                    SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(g.ssl_ctx, SSL_SESS_CACHE_OFF);

    int nusers = opt.users > 0 ? opt.users : 1;
    g.ncl = opt.clients > nusers ? opt.clients : nusers;
    g.cl = tn_calloc((size_t)g.ncl, sizeof *g.cl);
    g.pwc = tn_calloc((size_t)nusers, sizeof *g.pwc);

    g.loop = tn_malloc(sizeof *g.loop);
    uv_loop_init(g.loop);
    uv_prepare_init(g.loop, &g.prepare);
    uv_prepare_start(&g.prepare, tb_on_prepare);
    uv_check_init(g.loop, &g.check);
    uv_check_start(&g.check, tb_on_check);
    uv_timer_init(g.loop, &g.sweeper);
    uv_timer_start(&g.sweeper, tb_on_sweep, 100, 100);
    uv_timer_init(g.loop, &g.deadline);
    uv_timer_start(&g.deadline, tb_on_deadline,
                   (uint64_t)(opt.timeout * 1000), 0);
    uv_unref((uv_handle_t *)&g.deadline);
    uv_timer_init(g.loop, &g.pacer);
    uv_timer_init(g.loop, &g.phase_timer);

    printf("scenario: %s\n", opt.scenario);
    printf("server: %s:%d\n", opt.host, opt.port);
    printf("tls: %s\n", opt.tls == TB_TLS_STARTTLS ? "starttls"
                        : opt.tls == TB_TLS_DIRECT ? "direct"
                                                   : "none");
    printf("mech: %s\n", tb_mech_name(opt.mech));
    fflush(stdout);

    sc->start();
    if (!g.finished)
        uv_run(g.loop, UV_RUN_DEFAULT);

    /* Tear down whatever is left (after an early finish), then free. */
    for (int i = 0; i < g.ncl; i++)
        if (g.cl[i])
            tb_client_end(g.cl[i], 0);
    g.on_all_closed = NULL;
    g.l.done = NULL;
    uv_walk(g.loop, tb_walk_close, NULL);
    uv_run(g.loop, UV_RUN_DEFAULT);
    uv_loop_close(g.loop);
    tn_free(g.loop);

    if (g.exit_code == 0 && g.failures)
        g.exit_code = 1;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        printf("client_cpu_seconds: %.3f\n",
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
        printf("client_maxrss_kib: %ld\n", ru.ru_maxrss);
    }
    printf("failures: %u\n", g.failures);
    printf("result: %s\n", g.exit_code == 0 ? "ok" : "fail");
    tb_print_failures();

    for (int i = 0; i < nusers; i++)
        tn_free(g.pwc[i].salt);
    tn_free(g.pwc);
    tn_free(g.cl);
    for (int i = 0; i < g.nreasons; i++)
        tn_free(g.reasons[i].text);
    tn_free(g.muc_next);
    tn_free(g.muc_error);
    SSL_CTX_free(g.ssl_ctx);
    return g.exit_code;
}
