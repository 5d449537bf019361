/* tls.h -- the server TLS context (OpenSSL 3.0): TLS 1.2 or newer, no
 * renegotiation (CVE-2021-32920), released idle buffers, certificate and
 * key from the configuration; and channel-binding data for SCRAM -PLUS. */
#ifndef TN_NET_TLS_H
#define TN_NET_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Builds the server context. Returns NULL with *err (fresh) naming the
 * file and OpenSSL's reason on failure. */
SSL_CTX *tn_tls_server_ctx(const char *cert, const char *key, char **err);
/* Turns session resumption off on ctx (config tls.session_tickets: false):
 * no ticket is issued, none is accepted. */
void tn_tls_no_tickets(SSL_CTX *ctx);

/* Channel-binding data of an established connection for type
 * "tls-exporter" (RFC 9266; refused on TLS 1.2 without Extended Master
 * Secret), "tls-server-end-point" (RFC 5929 4.1: hash of our own
 * certificate) or "tls-unique" (RFC 5929 3: TLS 1.2 with EMS only). Writes up to cap bytes to out and returns the length, or
 * a negative TN_E* code when the type is unavailable. */
int tn_tls_cb_data(SSL *ssl, const char *type, unsigned char *out,
                   size_t cap);
/* tls-server-end-point data for a certificate (RFC 5929 4.1). */
int tn_tls_end_point(X509 *cert, unsigned char *out, size_t cap);
/* 1 when tn_tls_cb_data would succeed for type on ssl. */
int tn_tls_has_cb(SSL *ssl, const char *type);

#endif
