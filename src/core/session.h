/* session.h -- what the router knows of a session: an address and two
 * operations. c2s (and later WebSocket, BOSH, s2s) embed a tn_sess_t and
 * supply the ops; the core never sees sockets (STYLE.md 1). */
#ifndef TN_CORE_SESSION_H
#define TN_CORE_SESSION_H

#include <stdint.h>

#include "xml/stanza.h"
#include "xmpp/jid.h"

typedef struct tn_server tn_server_t;
typedef struct tn_sess tn_sess_t;

typedef struct tn_sess_ops {
    /* Queues st for the peer; never steals (takes what it needs). Returns
     * 0, or TN_ECLOSED when the session is closing (st is dropped), or
     * TN_ELIMIT when the peer reads too slowly (the session is then being
     * closed with policy-violation). */
    int (*send)(tn_sess_t *s, tn_stanza_t *st);
    /* Ends the session with stream error cond (NULL: a plain close). Safe
     * to call more than once and from inside dispatch: the session is
     * unlinked from the session table at once and freed later. */
    void (*close)(tn_sess_t *s, const char *cond, const char *text);
    /* on: stop handling this session's incoming stanzas (they queue, in
     * order, and reading pauses); off: end one such hold. Holds nest. A
     * module holds the sender while it makes a stanza durable, so that
     * anything the client sends afterwards (a ping) is answered only once
     * the earlier stanza is safe. A hold also keeps the session's memory
     * alive (closing or not) until it is released. */
    void (*hold)(tn_sess_t *s, int on);
} tn_sess_ops_t;

struct tn_sess {
    const tn_sess_ops_t *ops;
    tn_server_t *srv;
    uint64_t id;          /* unique per process, for logs */
    int bound;            /* 1 once a resource is bound and routable */
    tn_jid_t jid;         /* the full JID once bound; owned */
    tn_sess_t *next_res;  /* next session of the same bare JID */
    char peer[64];        /* "ip:port" of the peer, for logs */
    /* Presence state (RFC 6121 4), kept by the presence module and read
     * by the router for bare-JID delivery (RFC 6121 8.5.2). */
    int available;        /* sent available presence, not since revoked */
    int priority;         /* of that presence, -128..127 */
    tn_stanza_t *presence; /* owned ref: the last available presence the
                              resource broadcast, for probes; or NULL */
    int interested;       /* requested the roster (RFC 6121 2.1.6) */
};

/* Frees what tn_sess_t itself owns (JID, presence); for the embedding
 * session's free path. */
void tn_sess_release(tn_sess_t *s);

/* Sends st to s through its ops. */
int tn_sess_send(tn_sess_t *s, tn_stanza_t *st);
/* Holds / releases s (see tn_sess_ops_t.hold). */
void tn_sess_hold(tn_sess_t *s);
void tn_sess_unhold(tn_sess_t *s);

/* Registers bound session s under s->jid. A session already bound to the
 * same full JID is closed with the 'conflict' stream error first (RFC 6120
 * 7.7.2.2: the newer login wins). */
void tn_sessions_add(tn_server_t *srv, tn_sess_t *s);
/* Unregisters s if it is registered; harmless otherwise. */
void tn_sessions_remove(tn_server_t *srv, tn_sess_t *s);
/* The session bound to full JID full, or NULL. */
tn_sess_t *tn_sessions_full(tn_server_t *srv, const char *full);
/* The first session of bare JID bare (follow next_res), or NULL. */
tn_sess_t *tn_sessions_user(tn_server_t *srv, const char *bare);
/* Closes every session with stream error cond (NULL: plain close). */
void tn_sessions_close_all(tn_server_t *srv, const char *cond);

#endif
