/* s2s_tls.h -- TLS for federation: the contexts of inbound and outbound
 * s2s streams (the one certificate of `tls` on both sides, peers asked
 * for theirs), the trust store (the system's plus s2s.ca_file), and the
 * check that a peer's certificate is valid for a domain (PKIX, then
 * RFC 6125 / RFC 6120 13.7.1.2 identities: DNS-ID, SRV-ID, XmppAddr). */
#ifndef TN_NET_S2S_TLS_H
#define TN_NET_S2S_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

typedef struct tn_s2s_tls {
    SSL_CTX *server; /* inbound: requests (never requires) a certificate */
    SSL_CTX *client; /* outbound: presents ours */
    X509_STORE *store;
} tn_s2s_tls_t;

/* Returns 0, or -1 with *err (fresh). ca_file may be NULL. */
int tn_s2s_tls_init(tn_s2s_tls_t *t, const char *cert, const char *key,
                    const char *ca_file, char **err);
void tn_s2s_tls_release(tn_s2s_tls_t *t);

/* 1 when the peer of ssl presented a certificate chain that validates
 * against t->store (for TLS server or client use) and names domain;
 * otherwise 0 with a reason in why (for logs). */
int tn_s2s_cert_valid(const tn_s2s_tls_t *t, SSL *ssl, const char *domain,
                      char *why, size_t why_cap);

/* 1 when cert names domain (canonical, lowercase) by a DNS-ID (one
 * left-most wildcard label allowed), an SRV-ID for _xmpp-server or
 * _xmpps-server, or an XmppAddr; the CN only when the certificate has
 * none of those (RFC 6125 6.4.4). Exposed for unit tests. */
int tn_s2s_cert_names(X509 *cert, const char *domain);

#endif
