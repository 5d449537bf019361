/* s2s_tls.c -- TLS contexts and certificate checks for federation. The
 * handshake accepts any certificate (so that dialback can still run where
 * the operator allows it); the verdict is taken afterwards, per domain,
 * by tn_s2s_cert_valid. */
#include "net/s2s_tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <strings.h>

#include "net/tls.h"
#include "util/mem.h"

/* id-on-xmppAddr (RFC 6120 13.7.1.4) and id-on-dnsSRV (RFC 4985). */
#define OID_XMPPADDR "1.3.6.1.5.5.7.8.5"
#define OID_DNSSRV "1.3.6.1.5.5.7.8.7"

static int s2s_accept_any(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

static char *s2s_tls_err(const char *what, const char *path)
{
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    ERR_clear_error();
    return tn_sprintf("%s '%s': %s", what, path, reason);
}

int tn_s2s_tls_init(tn_s2s_tls_t *t, const char *cert, const char *key,
                    const char *ca_file, char **err)
{
    memset(t, 0, sizeof *t);
    t->server = tn_tls_server_ctx(cert, key, err);
    if (!t->server)
        return -1;
    SSL_CTX_set_verify(t->server, SSL_VERIFY_PEER, s2s_accept_any);
    /* A session id context is needed once peers are verified (or
     * resumption fails the handshake). */
    SSL_CTX_set_session_id_context(t->server, (const unsigned char *)"s2s", 3);
    t->client = SSL_CTX_new(TLS_client_method());
    if (!t->client) {
        *err = tn_sprintf("cannot create TLS client context");
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->client, TLS1_2_VERSION);
    SSL_CTX_set_options(t->client,
                        SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(t->client, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(t->client, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(t->client, SSL_VERIFY_PEER, s2s_accept_any);
    if (SSL_CTX_use_certificate_chain_file(t->client, cert) != 1) {
        *err = s2s_tls_err("cannot load TLS certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(t->client, key, SSL_FILETYPE_PEM) != 1) {
        *err = s2s_tls_err("cannot load TLS key", key);
        goto fail;
    }
    t->store = X509_STORE_new();
    if (!t->store || X509_STORE_set_default_paths(t->store) != 1) {
        *err = tn_sprintf("cannot load the system's trust store");
        goto fail;
    }
    if (ca_file && X509_STORE_load_file(t->store, ca_file) != 1) {
        *err = s2s_tls_err("cannot load s2s.ca_file", ca_file);
        goto fail;
    }
    return 0;
fail:
    tn_s2s_tls_release(t);
    return -1;
}

void tn_s2s_tls_release(tn_s2s_tls_t *t)
{
    SSL_CTX_free(t->server);
    SSL_CTX_free(t->client);
    X509_STORE_free(t->store);
    memset(t, 0, sizeof *t);
}

/* An otherName's string value if its type is oid and its value a string
 * of the expected kind; NULL otherwise. */
static const ASN1_STRING *s2s_othername(const GENERAL_NAME *gn, const char *oid,
                                        int type)
{
    if (gn->type != GEN_OTHERNAME)
        return NULL;
    char buf[64];
    if (OBJ_obj2txt(buf, sizeof buf, gn->d.otherName->type_id, 1) <= 0 ||
        strcmp(buf, oid) != 0)
        return NULL;
    const ASN1_TYPE *v = gn->d.otherName->value;
    if (!v || v->type != type)
        return NULL;
    return v->value.asn1_string;
}

/* An ASN.1 string equal to s, case-insensitively, with no NUL inside. */
static int s2s_str_eq(const ASN1_STRING *a, const char *s)
{
    size_t n = (size_t)ASN1_STRING_length(a);
    const unsigned char *d = ASN1_STRING_get0_data(a);
    return n == strlen(s) && memchr(d, 0, n) == NULL &&
           strncasecmp((const char *)d, s, n) == 0;
}

int tn_s2s_cert_names(X509 *cert, const char *domain)
{
    if (!cert || !domain || !*domain)
        return 0;
    GENERAL_NAMES *names =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    int found = 0, ids = 0;
    for (int i = 0; names && !found && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        const ASN1_STRING *s;
        if (gn->type == GEN_DNS)
            ids = 1;
        if ((s = s2s_othername(gn, OID_DNSSRV, V_ASN1_IA5STRING))) {
            ids = 1;
            /* SRV-ID: _xmpp-server.domain or _xmpps-server.domain. */
            char *a = tn_sprintf("_xmpp-server.%s", domain);
            char *b = tn_sprintf("_xmpps-server.%s", domain);
            found = s2s_str_eq(s, a) || s2s_str_eq(s, b);
            tn_free(a);
            tn_free(b);
        } else if ((s = s2s_othername(gn, OID_XMPPADDR, V_ASN1_UTF8STRING))) {
            ids = 1;
            found = s2s_str_eq(s, domain);
        }
    }
    GENERAL_NAMES_free(names);
    /* DNS-ID; the CN only when the certificate has no DNS-ID, SRV-ID or
     * XmppAddr (RFC 6125 6.4.4). No partial-label wildcards
     * ("f*.example"). */
    if (!found)
        found =
            X509_check_host(cert, domain, 0,
                            X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                (ids ? X509_CHECK_FLAG_NEVER_CHECK_SUBJECT : 0),
                            NULL) == 1;
    return found;
}

static int s2s_chain_ok(const tn_s2s_tls_t *t, X509 *leaf,
                        STACK_OF(X509) * chain, int purpose, int *err)
{
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    if (!x)
        return 0;
    int ok = 0;
    if (X509_STORE_CTX_init(x, t->store, leaf, chain) == 1) {
        X509_STORE_CTX_set_purpose(x, purpose);
        ok = X509_verify_cert(x) == 1;
        if (!ok)
            *err = X509_STORE_CTX_get_error(x);
    }
    X509_STORE_CTX_free(x);
    return ok;
}

int tn_s2s_cert_valid(const tn_s2s_tls_t *t, SSL *ssl, const char *domain,
                      char *why, size_t why_cap)
{
    X509 *leaf = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (!leaf) {
        snprintf(why, why_cap, "no certificate");
        return 0;
    }
    /* The chain the peer sent (on a server, without the leaf). */
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    int err = 0;
    /* A server's certificate serves both directions: accept one made
     * for TLS servers or clients (many public CAs now issue only the
     * former). */
    if (!s2s_chain_ok(t, leaf, chain, X509_PURPOSE_SSL_SERVER, &err) &&
        !s2s_chain_ok(t, leaf, chain, X509_PURPOSE_SSL_CLIENT, &err)) {
        snprintf(why, why_cap, "certificate not trusted: %s",
                 X509_verify_cert_error_string(err));
        return 0;
    }
    if (!tn_s2s_cert_names(leaf, domain)) {
        snprintf(why, why_cap, "certificate does not name %s", domain);
        return 0;
    }
    return 1;
}
