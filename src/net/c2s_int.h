/* c2s_int.h -- the c2s session, shared by c2s.c (streams, features,
 * binding, stanzas) and c2s_sasl.c (authentication). Private to net/. */
#ifndef TN_NET_C2S_INT_H
#define TN_NET_C2S_INT_H

#include "core/config.h"
#include "core/server.h"
#include "core/session.h"
#include "net/conn.h"
#include "xml/parser.h"
#include "xmpp/scram.h"

typedef enum {
    C2S_MECH_NONE = 0,
    C2S_MECH_SCRAM_SHA256_PLUS,
    C2S_MECH_SCRAM_SHA1_PLUS,
    C2S_MECH_SCRAM_SHA256,
    C2S_MECH_SCRAM_SHA1,
    C2S_MECH_PLAIN,
} c2s_mech_t;

typedef struct c2s {
    tn_sess_t sess;           /* first: what the router sees */
    tn_server_t *srv;
    tn_conn_t *conn;          /* owned; freed by libuv after close */
    const tn_listen_cfg_t *lcfg;
    tn_xml_parser_t *parser;  /* owned */
    struct c2s *prev, *next;  /* every c2s, for shutdown */
    int refs;                 /* conn + pending storage callbacks */
    char *stream_id;          /* owned; of the current stream */
    char *host;               /* owned; canonical 'to' of the stream */
    char *user;               /* owned; authenticated localpart */
    unsigned opened : 1;      /* a stream header was received */
    unsigned header_sent : 1; /* we sent ours for the current stream */
    unsigned tls : 1;         /* TLS is up */
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
} c2s_t;

/* c2s.c */
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
