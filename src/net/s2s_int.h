/* s2s_int.h -- shared by s2s.c (setup, routing, helpers), s2s_out.c
 * (outbound streams and dialback verification connections) and s2s_in.c
 * (inbound streams). Private to net/. */
#ifndef TN_NET_S2S_INT_H
#define TN_NET_S2S_INT_H

#include "core/server.h"
#include "net/conn.h"
#include "net/listen.h"
#include "net/resolve.h"
#include "net/s2s_tls.h"
#include "util/hmap.h"
#include "xml/stanza.h"
#include "xmpp/dialback.h"

#define TN_NS_DIALBACK "jabber:server:dialback"
#define TN_NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define TN_NS_BIDI "urn:xmpp:bidi"
#define TN_NS_BIDI_FEATURE "urn:xmpp:features:bidi"

/* Element nesting and attributes per element on s2s streams. */
#define S2S_MAX_DEPTH 32
#define S2S_MAX_ATTRS 64
/* Dialback requests awaiting verification on one inbound stream. */
#define S2S_MAX_PENDING 16
/* Verifications one inbound stream may cause in all: each is a DNS
 * lookup and a connection to wherever the claimed domain points. */
#define S2S_MAX_VERIFIES 64

/* After a failed stream, stanzas for the pair bounce at once until
 * `until` (loop ms); delay doubles per failure up to
 * s2s.max_retry_delay and is forgotten on success. */
typedef struct s2s_backoff {
    uint64_t until;
    unsigned delay; /* seconds */
} s2s_backoff_t;

typedef struct s2s_ctx {
    tn_server_t *srv;
    tn_s2s_tls_t tls;
    tn_resolver_t *res;       /* owned; NULL after shutdown */
    unsigned char secret[64]; /* dialback secret */
    size_t secret_len;
    tn_hmap_t out;     /* "local remote" -> s2s_out_t* */
    tn_hmap_t backoff; /* "local remote" -> s2s_backoff_t*: pairs whose
                          last stream failed */
    tn_hmap_t bidi;    /* "local remote" -> s2s_in_t*: inbound streams the
                          peer made bidirectional (XEP-0288) that may carry
                          that pair */
    tn_listeners_t listeners;
    size_t nconns; /* open connections, both directions */
    uint64_t next_id;
    int stopping;
} s2s_ctx_t;

extern s2s_ctx_t s2s;

/* s2s.c */
/* 1 when domain is served here: a host or a hosted service. */
int s2s_hosted(const char *domain);
/* Our stream header: jabber:server with the dialback prefix declared. */
void s2s_header(tn_buf_t *b, const char *from, const char *to, const char *id);
/* Appends "<db:name from='from' to='to'" (escaped; the caller ends the
 * tag). */
void s2s_db_start(tn_buf_t *b, const char *name, const char *from,
                  const char *to);
/* Ends a dialback answer begun with s2s_db_start: " type='type'/>", or,
 * with cond (type 'error'), the XEP-0220 error child and the end tag. */
void s2s_db_end(tn_buf_t *b, const char *name, const char *type,
                const char *cond);
/* Rewrites every element of st in jabber:server into jabber:client, the
 * namespace stanzas carry inside tern. */
void s2s_to_client_ns(tn_stanza_t *st);
/* Returns st to its sender with a stanza error (never for errors). */
void s2s_bounce(tn_stanza_t *st, const char *type, const char *cond,
                const char *text);
/* A stanza (message, presence, iq) that arrived on an authenticated
 * stream: checks its addresses (sender_ok(ud, domain): the stream
 * authenticated that sending domain; 'to' must be served here, and be
 * only_to when that is not NULL) and routes it. Returns NULL, or the
 * stream error condition that must end the stream (nothing delivered).
 * who names the stream in logs. */
const char *s2s_deliver(tn_stanza_t *st, int (*sender_ok)(void *, const char *),
                        void *ud, const char *only_to, const char *who);
/* Serializes a stanza onto an s2s stream's connection (logged as
 * "s2s <dir> <id>"). Returns 0, or -1 when conn is closing. */
int s2s_write_stanza(tn_conn_t *conn, const char *dir, uint64_t id,
                     const tn_stanza_t *st);
/* Logs an element at debug level: "s2s <dir> <id> <what>: <xml>". */
void s2s_log_xml(const char *dir, uint64_t id, const char *data, size_t len);

/* s2s_out.c */
/* Queues st (a stanza from local domain `local`) for remote domain
 * `remote`: sent at once on an established stream, else after it has
 * been set up (or bounced when that fails). Takes a reference. */
void s2s_out_send(const char *local, const char *remote, tn_stanza_t *st);
/* A dialback verification (XEP-0220 2.1.2): a fresh connection to the
 * authoritative server of `remote` asks whether key is valid for
 * (local, remote, id). cb runs once: valid 1, invalid 0, or -1 with a
 * dialback error condition. */
typedef void (*s2s_verify_cb)(void *ud, int verdict, const char *cond);
typedef struct s2s_out s2s_verify_t;
s2s_verify_t *s2s_out_verify(const char *local, const char *remote,
                             const char *id, const char *key, s2s_verify_cb cb,
                             void *ud);
/* The callback of v will not run. */
void s2s_verify_cancel(s2s_verify_t *v);
void s2s_out_close_all(void);

/* s2s_in.c */
typedef struct s2s_in s2s_in_t;
/* Sends st (from our domain to the peer's, a pair s2s.bidi lists for in)
 * on a bidirectional inbound stream. Returns 0, or -1 when in is
 * closing (st was not taken). */
int s2s_in_send(s2s_in_t *in, tn_stanza_t *st);
int s2s_in_listen(char **err);
void s2s_in_unlisten(void);
void s2s_in_close_all(void);

#endif
