/* tls13.h -- a compact TLS 1.3 record layer for established connections.
 *
 * OpenSSL does every handshake. Once a TLS 1.3 handshake is complete, an
 * OpenSSL connection object still holds ~17 KiB (the SSL object itself is
 * ~8.4 KiB, plus cipher contexts, session, certificate copies and memory
 * BIOs) for a session that may then sit idle for days. tern instead keeps
 * only the application traffic secrets, keys, IVs and sequence numbers
 * (~350 bytes) and frees the SSL object; records are then sealed and
 * opened here with OpenSSL's AEAD ciphers (RFC 8446 5.2-5.3), and
 * KeyUpdate (4.6.3), alerts (6) and the record-size rules are handled
 * here. Everything else (TLS 1.2, other cipher suites, a handshake that
 * ends in an unexpected state) stays with OpenSSL for the connection's
 * whole life: tn_tls13_take returns NULL and nothing changes.
 *
 * How the secrets and sequence numbers are learnt, with public OpenSSL
 * API only: the context's keylog callback hands over
 * CLIENT_/SERVER_TRAFFIC_SECRET_0 during the handshake, and a per-SSL
 * message callback counts the records each side sent after its Finished
 * message (records under the application keys: normally one session
 * ticket written, none read). The counts are the initial sequence numbers.
 *
 * Limits, all ending the connection with the alert RFC 8446 names:
 * post-handshake messages other than KeyUpdate (clients send no others
 * to a server that asks for no post-handshake authentication), handshake
 * messages fragmented over records, records over 2^14+256 bytes of
 * ciphertext or 2^14+1 of inner plaintext. Our own write key is updated
 * (KeyUpdate) every 2^24 records, under AES-GCM's limit (RFC 8446 5.5). */
#ifndef TN_NET_TLS13_H
#define TN_NET_TLS13_H

#include <openssl/ssl.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef struct tn_tls13 tn_tls13_t;

/* tn_tls13_open results besides 0 (all input consumed or kept). */
enum {
    TN_TLS13_CLOSED = 1, /* the peer sent close_notify */
};

/* Enables the hand-over for connections made from ctx. Without it
 * tn_tls13_watch does nothing. */
void tn_tls13_enable(SSL_CTX *ctx);
/* Starts watching a new server SSL of an enabled context. Returns 0, or a
 * negative TN_E* code if out of memory (the SSL still works; it is just
 * never handed over). */
int tn_tls13_watch(SSL *ssl);
/* After SSL_do_handshake returned 1 and everything OpenSSL wrote was taken
 * from the write BIO: builds the record state, or returns NULL when this
 * connection stays with OpenSSL (not TLS 1.3, other cipher, records
 * already read under the application key, data buffered inside OpenSSL).
 * Either way the watch ends. The caller then frees the SSL after moving
 * the unread bytes of its read BIO to tn_tls13_open. */
tn_tls13_t *tn_tls13_take(SSL *ssl);
/* After every SSL_do_handshake on a watched SSL: takes the context's
 * keylog callback away again (see tls13_msg). Does nothing otherwise. */
void tn_tls13_disarm(SSL *ssl);
void tn_tls13_free(tn_tls13_t *t);

/* Record state from raw secrets: cipher is the TLS 1.3 suite's
 * two-byte code (0x1301, 0x1302 or 0x1303); rd/wr are the traffic
 * secrets for reading and writing, of the suite's hash length. For tests
 * and fuzzing (a peer is a state with the two secrets swapped). NULL if
 * the suite or the lengths are wrong. */
tn_tls13_t *tn_tls13_new(unsigned cipher, const uint8_t *rd,
                         const uint8_t *wr, size_t secret_len);

/* Sets the next read and write sequence numbers. For tests (the
 * 2^24-record rekeying) only. */
void tn_tls13_set_seq(tn_tls13_t *t, uint64_t rd, uint64_t wr);

/* Seals len bytes of application data as records appended to out. */
int tn_tls13_seal(tn_tls13_t *t, const void *p, size_t len, tn_buf_t *out);
/* Seals one record of the given inner content type (23 application data,
 * 21 alert, 22 handshake). Returns 0, TN_EINVAL (len over 2^14) or
 * TN_ETLS (the state failed earlier). */
int tn_tls13_seal_record(tn_tls13_t *t, uint8_t type, const void *p,
                         size_t len, tn_buf_t *out);
/* Appends an encrypted close_notify alert; later seals write nothing. */
void tn_tls13_close_notify(tn_tls13_t *t, tn_buf_t *out);

/* Called with each run of decrypted application data; a nonzero return
 * stops tn_tls13_open (the rest of the input is dropped). */
typedef int (*tn_tls13_deliver_fn)(void *arg, const char *p, size_t len);
/* Takes ciphertext from the peer. Complete records are opened and their
 * application data delivered; a partial record is kept for the next call.
 * Records we must send in answer (KeyUpdate, a fatal alert) are appended
 * to out. Returns 0, TN_TLS13_CLOSED, or TN_ETLS after a fatal alert (sent
 * or received; logged). After anything but 0 the state is dead. */
int tn_tls13_open(tn_tls13_t *t, const void *p, size_t len, tn_buf_t *out,
                  tn_tls13_deliver_fn deliver, void *arg);

/* Channel binding (RFC 9266 tls-exporter, RFC 5929 tls-server-end-point),
 * computed by tn_tls13_take while OpenSSL still had the connection. */
int tn_tls13_has_cb(const tn_tls13_t *t, const char *type);
int tn_tls13_cb_data(const tn_tls13_t *t, const char *type,
                     unsigned char *out, size_t cap);

#endif
