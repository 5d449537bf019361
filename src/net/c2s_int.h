/* c2s_int.h -- the c2s session, shared by c2s.c (streams, features,
 * binding, stanzas), c2s_sasl.c (authentication) and the transports that
 * carry it: c2s_tcp.c (RFC 6120 TCP streams), ws.c (WebSocket, RFC 7395)
 * and bosh.c (XEP-0206). Private to net/.
 *
 * A transport turns its framing into calls of c2s_open (a stream header
 * or its equivalent arrived), c2s_input (one first-level element) and
 * c2s_close, and implements c2s_transport_t for the way back. Everything
 * else -- SASL, binding, limits, routing -- is the same code for all. */
#ifndef TN_NET_C2S_INT_H
#define TN_NET_C2S_INT_H

#include "core/config.h"
#include "core/server.h"
#include "core/session.h"
#include "net/conn.h"
#include "xml/parser.h"
#include "xmpp/scram.h"

/* Elements below a stanza, and attributes per element: no real client
 * comes near these. */
#define C2S_MAX_DEPTH 32
#define C2S_MAX_ATTRS 64

typedef enum {
    C2S_MECH_NONE = 0,
    C2S_MECH_SCRAM_SHA256_PLUS,
    C2S_MECH_SCRAM_SHA1_PLUS,
    C2S_MECH_SCRAM_SHA256,
    C2S_MECH_SCRAM_SHA1,
    C2S_MECH_PLAIN,
} c2s_mech_t;

typedef struct c2s c2s_t;

/* The way out, per transport. */
typedef struct c2s_transport {
    const char *name;         /* for logs: "tcp", "websocket", "bosh" */
    /* Our stream header for the stream c2s_open just accepted
     * (c->stream_id and c->host are set). */
    void (*open)(c2s_t *c);
    /* One first-level element, serialized with its namespaces declared
     * (features, SASL and TLS answers). */
    void (*element)(c2s_t *c, const char *data, size_t len);
    /* One stanza. */
    void (*stanza)(c2s_t *c, const tn_stanza_t *st);
    /* Ends the stream: the stream error cond (NULL: none; text may be
     * NULL), the stream close, then the transport goes. Called once. */
    void (*close)(c2s_t *c, const char *cond, const char *text);
    /* Bytes waiting to go out toward the client. */
    size_t (*queued)(c2s_t *c);
    /* Stops (on 1) or restarts (0) reading input: backpressure. */
    void (*pause)(c2s_t *c, int on);
    /* The pre-bind deadline: c2s_deadline runs in ms; 0 cancels. */
    void (*deadline)(c2s_t *c, uint64_t ms);
    /* The stream restarts (after SASL or TLS); may be NULL. */
    void (*restart)(c2s_t *c);
} c2s_transport_t;

struct c2s {
    tn_sess_t sess;           /* first: what the router sees */
    tn_server_t *srv;
    const c2s_transport_t *tp;
    void *tpd;                /* the transport's own state */
    tn_conn_t *conn;          /* TCP and WebSocket: the connection (owned
                               * by the transport); BOSH: NULL */
    const tn_listen_cfg_t *lcfg;
    tn_xml_parser_t *parser;  /* owned; the stream's (TCP), or the
                               * transport's message parser, or NULL */
    struct c2s *prev, *next;  /* every c2s, for shutdown */
    int refs;                 /* conn + pending storage callbacks */
    char *stream_id;          /* owned; of the current stream */
    char *host;               /* owned; canonical 'to' of the stream */
    char *user;               /* owned; authenticated localpart */
    unsigned opened : 1;      /* a stream header was received */
    unsigned header_sent : 1; /* we sent ours for the current stream */
    unsigned tls : 1;         /* TLS is up (or a trusted proxy's) */
    unsigned authed : 1;
    unsigned closing : 1;
    unsigned in_feed : 1;     /* inside tn_xml_parser_feed */
    unsigned paused : 1;      /* reading stopped for backpressure */
    int busy;                 /* pending storage work: stanzas queue */
    unsigned auth_failures;
    size_t preauth_bytes;     /* plaintext received before auth */
    /* SASL exchange in progress. */
    c2s_mech_t mech;
    tn_scram_server_t *scram; /* owned */
    unsigned scram_step;      /* 1: server-first sent */
    /* Stanzas that arrived while busy, in order (owned references). */
    tn_stanza_t **queue;
    size_t qhead, qlen, qcap; /* queue[qhead..qlen) waits */
};

/* c2s.c */
/* A new session on transport tp from peer ("ip:port"), listed for
 * shutdown, with one reference that c2s_gone drops. */
c2s_t *c2s_new(tn_server_t *srv, const tn_listen_cfg_t *lcfg,
               const c2s_transport_t *tp, void *tpd, const char *peer);
/* The transport has gone for good: unlist and drop its reference. */
void c2s_gone(c2s_t *c);
/* A stream header (or <open/>, or a BOSH session request) asked for host
 * `to` (may be NULL) with `version`: answers with ours and the features,
 * or closes with the RFC 6120 condition. */
void c2s_open(c2s_t *c, const char *to, const char *version);
/* One first-level element from the client; takes the reference. */
void c2s_input(c2s_t *c, tn_stanza_t *st);
/* Closes with the stream error for a tn_xml_parser_feed result. */
void c2s_xml_error(c2s_t *c, int rc, const char *what);
/* The pre-bind deadline passed (transport timers call this). */
void c2s_deadline(c2s_t *c);
/* Our stream header attributes after the element name: id, from,
 * version, xml:lang (RFC 6120 4.7). */
void c2s_header_attrs(c2s_t *c, tn_buf_t *out);
void c2s_close(c2s_t *c, const char *cond, const char *text);
void c2s_write(c2s_t *c, const char *data, size_t len);
#define c2s_write_lit(c, lit) c2s_write((c), (lit), sizeof(lit) - 1)
void c2s_write_stanza(c2s_t *c, const tn_stanza_t *st);
void c2s_ref(c2s_t *c);
void c2s_unref(c2s_t *c);
/* Ends one piece of pending work (c->busy--); when none is left, handles
 * the stanzas queued meanwhile. */
void c2s_unbusy(c2s_t *c);
/* The stream restarts after SASL success or TLS (RFC 6120 4.3.3). */
void c2s_restart(c2s_t *c);

/* c2s_sasl.c */
/* Appends <mechanisms/> (and XEP-0440 channel-binding types) for c. */
void c2s_sasl_features(c2s_t *c, tn_buf_t *out);
/* Handles a first-level element in the SASL namespace. */
void c2s_sasl_handle(c2s_t *c, tn_stanza_t *st);
/* Frees SASL state. */
void c2s_sasl_reset(c2s_t *c);

#endif
