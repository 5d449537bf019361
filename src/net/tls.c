/* tls.c -- server TLS context and channel binding (RFC 5929 4, RFC 9266). */
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <string.h>

#include "util/err.h"
#include "util/mem.h"

static char *tls_errstr(const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char reason[256];
    ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    return tn_sprintf("%s '%s': %s", what, path, reason);
}

SSL_CTX *tn_tls_server_ctx(const char *cert, const char *key, char **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *err = tn_sprintf("cannot create TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* ~47 KB -> ~14 KB per idle session (DESIGN.md). */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    /* Resumption is by stateless tickets; a server-side session cache
     * would only cost memory and periodic sweeps (seen in profiles). One
     * ticket per handshake instead of OpenSSL's two: clients reconnect
     * with one. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* TLS 1.3 suites, AES-128-GCM first (as Go and Chrome order them with
     * AES hardware): all three are RFC 8446's, and the SHA-256 suites
     * make every handshake's key schedule and transcript cheaper than
     * OpenSSL's default AES-256-GCM-SHA384 first. */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:"
                                  "TLS_AES_256_GCM_SHA384:"
                                  "TLS_CHACHA20_POLY1305_SHA256");
    SSL_CTX_set_num_tickets(ctx, 1); /* tn_tls_no_tickets: none */
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        *err = tls_errstr("cannot load TLS certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        *err = tls_errstr("cannot load TLS key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *err = tls_errstr("TLS key does not match certificate", key);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tn_tls_no_tickets(SSL_CTX *ctx)
{
    /* TLS 1.2 tickets off; with the session cache off as well, no session
     * can resume in either version. No TLS 1.3 NewSessionTicket is sent
     * at all (a stateful one would name a session nobody keeps). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
}

int tn_tls_has_cb(SSL *ssl, const char *type)
{
    if (!ssl || !SSL_is_init_finished(ssl))
        return 0;
    if (strcmp(type, "tls-exporter") == 0)
        return SSL_version(ssl) >= TLS1_3_VERSION ||
               SSL_get_extms_support(ssl) == 1;
    if (strcmp(type, "tls-server-end-point") == 0)
        return SSL_get_certificate(ssl) != NULL;
    /* RFC 9266 3: never on TLS 1.3; on 1.2 only with Extended Master
     * Secret, which closes the triple-handshake hole (RFC 7627). */
    if (strcmp(type, "tls-unique") == 0)
        return SSL_version(ssl) == TLS1_2_VERSION &&
               SSL_get_extms_support(ssl) == 1;
    return 0;
}

int tn_tls_cb_data(SSL *ssl, const char *type, unsigned char *out,
                   size_t cap)
{
    if (!tn_tls_has_cb(ssl, type))
        return TN_EINVAL;
    if (strcmp(type, "tls-exporter") == 0) {
        static const char label[] = "EXPORTER-Channel-Binding";
        if (cap < 32)
            return TN_EINVAL;
        /* RFC 9266 2: 32 bytes, empty context. */
        if (SSL_export_keying_material(ssl, out, 32, label,
                                       sizeof label - 1, NULL, 0, 0) != 1)
            return TN_ETLS;
        return 32;
    }
    if (strcmp(type, "tls-unique") == 0) {
        /* RFC 5929 3.1: the first Finished message of the latest full
         * handshake: the client's, or ours on a resumed session. */
        size_t n = SSL_session_reused(ssl) ? SSL_get_finished(ssl, out, cap)
                                           : SSL_get_peer_finished(ssl, out,
                                                                   cap);
        return n > 0 && n <= cap ? (int)n : TN_ETLS;
    }
    return tn_tls_end_point(SSL_get_certificate(ssl), out, cap);
}

int tn_tls_end_point(X509 *cert, unsigned char *out, size_t cap)
{
    /* RFC 5929 4.1: the certificate's signature hash, SHA-256 instead of
     * MD5 or SHA-1. */
    int md_nid = NID_undef;
    const EVP_MD *md = NULL;
    if (X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL) == 1 &&
        md_nid != NID_undef && md_nid != NID_md5 && md_nid != NID_sha1)
        md = EVP_get_digestbynid(md_nid);
    if (!md)
        md = EVP_sha256();
    unsigned len = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    if (X509_digest(cert, md, digest, &len) != 1 || len > cap)
        return TN_ETLS;
    memcpy(out, digest, len);
    return (int)len;
}
