/* test_scram.c -- unit tests for src/xmpp/scram.c: the RFC 5802 section 5
 * (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256) examples, wrong
 * passwords, unknown users' fake salts, channel binding (RFC 5802 6,
 * RFC 9266), malformed messages and out-of-order calls, SASLprep
 * (RFC 4013 3) and PLAIN (RFC 4616) splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "util/base64.h"
#include "util/err.h"
#include "util/mem.h"
#include "xmpp/scram.h"

static const unsigned char test_secret[] = "0123456789abcdef-server-secret";
#define SECRET test_secret, sizeof(test_secret) - 1

/* ---- helpers ---------------------------------------------------------- */

static const EVP_MD *md_of(tn_scram_hash_t h)
{
    return h == TN_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

static void hmac(tn_scram_hash_t h, const void *key, size_t key_len,
                 const void *data, size_t len, unsigned char *out)
{
    unsigned int n = 0;
    assert_non_null(HMAC(md_of(h), key, (int)key_len, data, len, out, &n));
    assert_int_equal(n, tn_scram_key_len(h));
}

/* An independent SCRAM client computation: given the password, the salt
 * and iterations, and the AuthMessage, returns "p=<proof>" and the
 * expected "v=<server signature>" (both fresh). */
static void client_proof(tn_scram_hash_t h, const char *password,
                         const unsigned char *salt, size_t salt_len,
                         unsigned iter, const char *auth_msg, char **proof_attr,
                         char **v_attr)
{
    unsigned char sp[32], ck[32], sk[32], stk[32], cs[32], ss[32], pr[32];
    size_t kl = tn_scram_key_len(h);
    unsigned int n = 0;
    char *b;

    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
                                       (int)salt_len, (int)iter, md_of(h),
                                       (int)kl, sp),
                     1);
    hmac(h, sp, kl, "Client Key", 10, ck);
    hmac(h, sp, kl, "Server Key", 10, sk);
    assert_int_equal(EVP_Digest(ck, kl, stk, &n, md_of(h), NULL), 1);
    hmac(h, stk, kl, auth_msg, strlen(auth_msg), cs);
    hmac(h, sk, kl, auth_msg, strlen(auth_msg), ss);
    for (size_t i = 0; i < kl; i++)
        pr[i] = ck[i] ^ cs[i];
    b = tn_base64_encode(pr, kl);
    *proof_attr = tn_sprintf("p=%s", b);
    tn_free(b);
    b = tn_base64_encode(ss, kl);
    *v_attr = tn_sprintf("v=%s", b);
    tn_free(b);
}

/* Decodes the s= attribute of a server-first message into salt. */
static size_t salt_of(const char *server_first, unsigned char *salt)
{
    const char *s = strstr(server_first, ",s=");
    const char *i = strstr(server_first, ",i=");
    unsigned char *raw;
    size_t n = 0;
    assert_non_null(s);
    assert_non_null(i);
    raw = tn_base64_decode(s + 3, (size_t)(i - s - 3), &n);
    assert_non_null(raw);
    assert_true(n <= TN_SCRAM_MAX_SALT);
    memcpy(salt, raw, n);
    tn_free(raw);
    return n;
}

static void derive_b64salt(tn_scram_hash_t h, const char *password,
                           const char *salt64, unsigned iter,
                           tn_scram_cred_t *cred)
{
    size_t n = 0;
    unsigned char *salt = tn_base64_decode(salt64, strlen(salt64), &n);
    assert_non_null(salt);
    assert_int_equal(tn_scram_derive(h, password, salt, n, iter, cred), 0);
    tn_free(salt);
}

static int cf(tn_scram_server_t *s, const char *m)
{
    return tn_scram_server_client_first(s, m, strlen(m));
}

/* ---- RFC examples ----------------------------------------------------- */

struct rfc_vector {
    const char *name;
    tn_scram_hash_t hash;
    const char *salt64;
    const char *client_first;
    const char *snonce;
    const char *server_first;
    const char *client_final;
    const char *server_final;
};

static const struct rfc_vector rfc_vectors[] = {
    {"RFC 5802 section 5", TN_SCRAM_SHA1, "QSXCR+Q6sek8bf92",
     "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", "3rfcNHYJY1ZVvWVs7j",
     "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,"
     "i=4096",
     "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
     "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
     "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
    {"RFC 7677 section 3", TN_SCRAM_SHA256, "W22ZaJ0SNY7soEsUEjb6gQ==",
     "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
     "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
     "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
     "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
};

static void test_rfc_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(*rfc_vectors); i++) {
        const struct rfc_vector *v = &rfc_vectors[i];
        tn_scram_cred_t cred;
        tn_scram_server_t *s;
        char *out = NULL;
        size_t out_len = 0;

        print_message("%s\n", v->name);
        derive_b64salt(v->hash, "pencil", v->salt64, 4096, &cred);
        assert_int_equal(cred.iterations, 4096);
        s = tn_scram_server_new(v->hash, 0, 0, SECRET);
        assert_non_null(s);
        tn_scram_server_set_nonce_for_test(s, v->snonce);
        assert_int_equal(cf(s, v->client_first), 0);
        assert_string_equal(tn_scram_server_username(s), "user");
        assert_null(tn_scram_server_authzid(s));
        assert_null(tn_scram_server_cb_type(s));

        assert_int_equal(tn_scram_server_first(s, &cred, &out, &out_len), 0);
        assert_string_equal(out, v->server_first);
        assert_int_equal(out_len, strlen(v->server_first));
        tn_free(out);

        out = NULL;
        out_len = 0;
        assert_int_equal(tn_scram_server_final(s, v->client_final,
                                               strlen(v->client_final), NULL, 0,
                                               &out, &out_len),
                         0);
        assert_string_equal(out, v->server_final);
        assert_int_equal(out_len, strlen(v->server_final));
        tn_free(out);

        /* The exchange is over: another final is out of order. */
        out = (char *)1;
        assert_int_equal(tn_scram_server_final(s, v->client_final,
                                               strlen(v->client_final), NULL, 0,
                                               &out, NULL),
                         TN_SCRAM_E_MALFORMED);
        assert_null(out);
        tn_scram_server_free(s);

        /* Same credential through PLAIN. */
        assert_int_equal(tn_scram_check_password(&cred, "pencil"), 0);
        assert_int_equal(tn_scram_check_password(&cred, "pencil "), TN_EAUTH);
        assert_int_equal(tn_scram_check_password(&cred, "Pencil"), TN_EAUTH);
        assert_int_equal(tn_scram_check_password(&cred, "\a"), TN_EINVAL);
    }
}

static void test_wrong_password(void **state)
{
    for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(*rfc_vectors); i++) {
        const struct rfc_vector *v = &rfc_vectors[i];
        tn_scram_cred_t cred;
        tn_scram_server_t *s;
        char *out = NULL;

        derive_b64salt(v->hash, "pencil2", v->salt64, 4096, &cred);
        s = tn_scram_server_new(v->hash, 0, 0, SECRET);
        tn_scram_server_set_nonce_for_test(s, v->snonce);
        assert_int_equal(cf(s, v->client_first), 0);
        assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
        assert_string_equal(out, v->server_first);
        tn_free(out);
        out = (char *)1;
        assert_int_equal(tn_scram_server_final(s, v->client_final,
                                               strlen(v->client_final), NULL, 0,
                                               &out, NULL),
                         TN_SCRAM_E_NOT_AUTHORIZED);
        assert_null(out);
        tn_scram_server_free(s);
    }
}

/* ---- derivation ------------------------------------------------------- */

static void test_derive(void **state)
{
    tn_scram_cred_t a, b;
    unsigned char salt[TN_SCRAM_MAX_SALT + 1];
    memset(salt, 7, sizeof(salt));

    assert_int_equal(tn_scram_key_len(TN_SCRAM_SHA1), 20);
    assert_int_equal(tn_scram_key_len(TN_SCRAM_SHA256), 32);
    assert_int_equal(tn_scram_key_len((tn_scram_hash_t)7), 0);

    /* Bounds. */
    assert_int_equal(tn_scram_derive(TN_SCRAM_SHA1, "pw", salt, 16, 0, &a),
                     TN_EINVAL);
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA1, "pw", salt, 16, 1000001, &a), TN_EINVAL);
    assert_int_equal(tn_scram_derive(TN_SCRAM_SHA1, "pw", salt, 0, 1, &a),
                     TN_EINVAL);
    assert_int_equal(tn_scram_derive(TN_SCRAM_SHA1, "pw", salt,
                                     TN_SCRAM_MAX_SALT + 1, 1, &a),
                     TN_EINVAL);
    assert_int_equal(tn_scram_derive((tn_scram_hash_t)7, "pw", salt, 16, 1, &a),
                     TN_EINVAL);
    assert_int_equal(tn_scram_derive(TN_SCRAM_SHA1, NULL, salt, 16, 1, &a),
                     TN_EINVAL);
    /* A prohibited character (RFC 4013 2.3) in the password. */
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA256, "pass\x7fword", salt, 16, 1, &a),
        TN_EINVAL);
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA256, "pw", salt, TN_SCRAM_MAX_SALT, 1, &a),
        0);
    assert_int_equal(a.salt_len, TN_SCRAM_MAX_SALT);
    assert_int_equal(a.iterations, 1);

    /* SASLprep runs on the password: soft hyphen vanishes, U+2168 becomes
     * "IX", so all three derive the same keys. */
    assert_int_equal(tn_scram_derive(TN_SCRAM_SHA256, "IX", salt, 16, 2, &a),
                     0);
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA256, "I\xC2\xADX", salt, 16, 2, &b), 0);
    assert_memory_equal(a.stored_key, b.stored_key, 32);
    assert_memory_equal(a.server_key, b.server_key, 32);
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA256, "\xE2\x85\xA8", salt, 16, 2, &b), 0);
    assert_memory_equal(a.stored_key, b.stored_key, 32);
    assert_int_equal(tn_scram_check_password(&a, "\xE2\x85\xA8"), 0);
    assert_int_equal(tn_scram_check_password(&a, "IX"), 0);
    assert_int_equal(tn_scram_check_password(&a, "XI"), TN_EAUTH);

    /* Fresh salts. */
    assert_int_equal(tn_scram_derive_new(TN_SCRAM_SHA1, "pencil", &a), 0);
    assert_int_equal(tn_scram_derive_new(TN_SCRAM_SHA1, "pencil", &b), 0);
    assert_int_equal(a.hash, TN_SCRAM_SHA1);
    assert_int_equal(a.salt_len, TN_SCRAM_DEFAULT_SALT);
    assert_int_equal(a.iterations, TN_SCRAM_DEFAULT_ITER);
    assert_memory_not_equal(a.salt, b.salt, TN_SCRAM_DEFAULT_SALT);
    assert_memory_not_equal(a.stored_key, b.stored_key, 20);
    assert_int_equal(tn_scram_check_password(&a, "pencil"), 0);
    assert_int_equal(tn_scram_check_password(&b, "pencil"), 0);
    assert_int_equal(tn_scram_check_password(&a, "pencil!"), TN_EAUTH);
}

/* ---- unknown users ---------------------------------------------------- */

/* Runs client-first and server-first for user with cred NULL; returns the
 * server (in state "waiting for final") and the server-first message. */
static tn_scram_server_t *unknown_first(tn_scram_hash_t h,
                                        const unsigned char *secret,
                                        size_t secret_len, const char *user,
                                        char **sf)
{
    tn_scram_server_t *s = tn_scram_server_new(h, 0, 0, secret, secret_len);
    char *m = tn_sprintf("n,,n=%s,r=clientnonce", user);
    assert_int_equal(cf(s, m), 0);
    tn_free(m);
    assert_int_equal(tn_scram_server_first(s, NULL, sf, NULL), 0);
    return s;
}

static void test_unknown_user(void **state)
{
    static const unsigned char other[] = "another secret";
    unsigned char s1[64], s2[64], mac[32];
    size_t n1, n2;
    char *f1, *f2, *final, *proof, *v, *am, *out;
    tn_scram_server_t *a, *b;
    unsigned int ml = 0;

    a = unknown_first(TN_SCRAM_SHA256, SECRET, "ghost", &f1);
    b = unknown_first(TN_SCRAM_SHA256, SECRET, "ghost", &f2);
    n1 = salt_of(f1, s1);
    n2 = salt_of(f2, s2);
    /* Same salt on every probe, 16 bytes, default iterations, and the
     * exact value the header documents. */
    assert_int_equal(n1, TN_SCRAM_DEFAULT_SALT);
    assert_int_equal(n2, n1);
    assert_memory_equal(s1, s2, n1);
    assert_non_null(strstr(f1, ",i=4096"));
    assert_non_null(HMAC(EVP_sha256(), test_secret, sizeof(test_secret) - 1,
                         (const unsigned char *)"saltghost", 9, mac, &ml));
    assert_memory_equal(s1, mac, 16);
    /* Nonces still differ. */
    assert_string_not_equal(f1, f2);
    assert_true(strncmp(f1, "r=clientnonce", 13) == 0);
    tn_scram_server_free(b);
    tn_free(f2);

    /* Different user, different salt; different secret, different salt. */
    b = unknown_first(TN_SCRAM_SHA256, SECRET, "ghost2", &f2);
    n2 = salt_of(f2, s2);
    assert_memory_not_equal(s1, s2, 16);
    tn_scram_server_free(b);
    tn_free(f2);
    b = unknown_first(TN_SCRAM_SHA1, other, sizeof(other) - 1, "ghost", &f2);
    n2 = salt_of(f2, s2);
    assert_memory_not_equal(s1, s2, 16);
    tn_scram_server_free(b);
    tn_free(f2);

    /* A well-formed final with any password fails with not-authorized. */
    {
        const char *wp_fmt = "c=biws,r=%s";
        const char *r = f1 + 2;
        size_t rl = (size_t)(strchr(f1, ',') - r);
        char *nonce = tn_strndup(r, rl);
        char *wp = tn_sprintf(wp_fmt, nonce);
        am = tn_sprintf("n=ghost,r=clientnonce,%s,%s", f1, wp);
        client_proof(TN_SCRAM_SHA256, "pencil", s1, n1, 4096, am, &proof, &v);
        final = tn_sprintf("%s,%s", wp, proof);
        out = (char *)1;
        assert_int_equal(
            tn_scram_server_final(a, final, strlen(final), NULL, 0, &out, NULL),
            TN_SCRAM_E_NOT_AUTHORIZED);
        assert_null(out);
        tn_free(nonce);
        tn_free(wp);
        tn_free(am);
        tn_free(proof);
        tn_free(v);
        tn_free(final);
    }
    tn_scram_server_free(a);
    tn_free(f1);

    /* No secret at all still works (empty HMAC key). */
    a = unknown_first(TN_SCRAM_SHA1, NULL, 0, "ghost", &f1);
    assert_int_equal(salt_of(f1, s1), 16);
    tn_scram_server_free(a);
    tn_free(f1);
}

/* ---- channel binding -------------------------------------------------- */

/* Runs a full exchange as a client would: client_first, server_first with
 * a credential for "pencil", then a final whose c= carries c_gs2 (the
 * gs2 header the client claims) + c_cb, checked by the server against
 * srv_cb. Returns the final's result; on success checks v=. */
static int cb_exchange(tn_scram_server_t *s, const char *client_first,
                       const char *c_gs2, const unsigned char *c_cb,
                       size_t c_cb_len, const unsigned char *srv_cb,
                       size_t srv_cb_len)
{
    tn_scram_cred_t cred;
    unsigned char salt[16];
    char *sf = NULL, *out = NULL, *c64, *wp, *am, *proof, *v, *final;
    const char *bare, *r;
    size_t gl = strlen(c_gs2), rl;
    unsigned char *cbind = tn_malloc(gl + c_cb_len + 1);
    int rc;

    memset(salt, 0x5a, sizeof(salt));
    assert_int_equal(
        tn_scram_derive(TN_SCRAM_SHA256, "pencil", salt, 16, 4096, &cred), 0);
    rc = cf(s, client_first);
    if (rc != 0) {
        tn_free(cbind);
        return rc;
    }
    assert_int_equal(tn_scram_server_first(s, &cred, &sf, NULL), 0);

    memcpy(cbind, c_gs2, gl);
    if (c_cb_len)
        memcpy(cbind + gl, c_cb, c_cb_len);
    c64 = tn_base64_encode(cbind, gl + c_cb_len);
    r = sf + 2;
    rl = (size_t)(strchr(sf, ',') - r);
    wp = tn_sprintf("c=%s,r=%.*s", c64, (int)rl, r);
    /* client-first-message-bare: after the second comma. */
    bare = strchr(strchr(client_first, ',') + 1, ',') + 1;
    am = tn_sprintf("%s,%s,%s", bare, sf, wp);
    client_proof(TN_SCRAM_SHA256, "pencil", salt, 16, 4096, am, &proof, &v);
    final = tn_sprintf("%s,%s", wp, proof);

    out = (char *)1;
    rc = tn_scram_server_final(s, final, strlen(final), srv_cb, srv_cb_len,
                               &out, NULL);
    if (rc == 0) {
        assert_non_null(out);
        assert_string_equal(out, v);
        tn_free(out);
    } else {
        assert_null(out);
    }
    tn_free(cbind);
    tn_free(sf);
    tn_free(c64);
    tn_free(wp);
    tn_free(am);
    tn_free(proof);
    tn_free(v);
    tn_free(final);
    return rc;
}

static const unsigned char cb_a[] = {0x01, 0x02, 0x00, 0xff, 0x10, 0x20,
                                     0x30, 0x40, 0x50, 0x60, 0x70, 0x80};
static const unsigned char cb_b[] = {0x01, 0x02, 0x00, 0xff, 0x10, 0x20,
                                     0x30, 0x40, 0x50, 0x60, 0x70, 0x81};

struct cb_case {
    const char *name;
    int plus, cb_offered;
    const char *client_first;
    const char *c_gs2;
    const unsigned char *c_cb;   /* bound data the client puts in c= */
    const unsigned char *srv_cb; /* data of the connection */
    int want;
    const char *want_cb_type; /* checked when want == 0 */
};

static const struct cb_case cb_cases[] = {
    {"tls-exporter ok", 1, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-exporter,,", cb_a, cb_a, 0, "tls-exporter"},
    {"tls-server-end-point ok", 1, 1, "p=tls-server-end-point,,n=user,r=cn1",
     "p=tls-server-end-point,,", cb_a, cb_a, 0, "tls-server-end-point"},
    {"tls-exporter with authzid ok", 1, 1,
     "p=tls-exporter,a=juliet@example.com,n=user,r=cn1",
     "p=tls-exporter,a=juliet@example.com,", cb_a, cb_a, 0, "tls-exporter"},
    {"cb data mismatch", 1, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-exporter,,", cb_a, cb_b, TN_SCRAM_E_CB, NULL},
    {"no cb data on the connection", 1, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-exporter,,", cb_a, NULL, TN_SCRAM_E_CB, NULL},
    {"client omits cb data", 1, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-exporter,,", NULL, cb_a, TN_SCRAM_E_CB, NULL},
    {"c= names another gs2 header", 1, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-server-end-point,,", cb_a, cb_a, TN_SCRAM_E_CB, NULL},
    {"c= drops the authzid", 1, 1, "p=tls-exporter,a=admin,n=user,r=cn1",
     "p=tls-exporter,,", cb_a, cb_a, TN_SCRAM_E_CB, NULL},
    {"tls-unique ok", 1, 1, "p=tls-unique,,n=user,r=cn1", "p=tls-unique,,",
     cb_a, cb_a, 0, "tls-unique"},
    {"unknown cb type", 1, 1, "p=tls-foo,,n=user,r=cn1", "p=tls-foo,,",
     cb_a, cb_a, TN_SCRAM_E_CB, NULL},
    {"y with cb offered (downgrade)", 0, 1, "y,,n=user,r=cn1", "y,,", NULL,
     NULL, TN_SCRAM_E_CB, NULL},
    {"y without cb offered", 0, 0, "y,,n=user,r=cn1", "y,,", NULL, NULL, 0,
     NULL},
    {"n without cb offered", 0, 0, "n,,n=user,r=cn1", "n,,", NULL, NULL, 0,
     NULL},
    {"n with cb offered", 0, 1, "n,,n=user,r=cn1", "n,,", NULL, NULL, 0, NULL},
    {"y in c= after n", 0, 0, "n,,n=user,r=cn1", "y,,", NULL, NULL,
     TN_SCRAM_E_CB, NULL},
    {"n in c= after y", 0, 0, "y,,n=user,r=cn1", "n,,", NULL, NULL,
     TN_SCRAM_E_CB, NULL},
    {"plain mech, cb data in c=", 0, 1, "n,,n=user,r=cn1", "n,,", cb_a, cb_a,
     TN_SCRAM_E_CB, NULL},
    {"p= with non-plus mechanism", 0, 1, "p=tls-exporter,,n=user,r=cn1",
     "p=tls-exporter,,", cb_a, cb_a, TN_SCRAM_E_MALFORMED, NULL},
    {"plus mechanism with n", 1, 1, "n,,n=user,r=cn1", "n,,", NULL, NULL,
     TN_SCRAM_E_MALFORMED, NULL},
    {"plus mechanism with y", 1, 1, "y,,n=user,r=cn1", "y,,", NULL, NULL,
     TN_SCRAM_E_MALFORMED, NULL},
};

static void test_channel_binding(void **state)
{
    for (size_t i = 0; i < sizeof(cb_cases) / sizeof(*cb_cases); i++) {
        const struct cb_case *c = &cb_cases[i];
        tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA256, c->plus,
                                                   c->cb_offered, SECRET);
        int rc;
        print_message("cb case: %s\n", c->name);
        rc = cb_exchange(s, c->client_first, c->c_gs2, c->c_cb,
                         c->c_cb ? sizeof(cb_a) : 0, c->srv_cb,
                         c->srv_cb ? sizeof(cb_a) : 0);
        assert_int_equal(rc, c->want);
        if (rc == 0) {
            if (c->want_cb_type)
                assert_string_equal(tn_scram_server_cb_type(s),
                                    c->want_cb_type);
            else
                assert_null(tn_scram_server_cb_type(s));
            assert_string_equal(tn_scram_server_username(s), "user");
        }
        tn_scram_server_free(s);
    }
}

/* ---- client-first parsing --------------------------------------------- */

struct first_case {
    const char *msg;
    size_t len; /* 0: strlen(msg) */
    int want;
    const char *user;    /* expected username when want == 0 */
    const char *authzid; /* expected authzid when want == 0 */
};

static const struct first_case first_cases[] = {
    /* Accepted. */
    {"n,,n=user,r=abc", 0, 0, "user", NULL},
    {"n,a=bob,n=user,r=abc", 0, 0, "user", "bob"},
    {"n,a=b=2Co=3Db,n=u=2Cs=3Der,r=abc", 0, 0, "u,s=er", "b,o=b"},
    {"n,,n=user,r=abc,e=ext,f=a=b", 0, 0, "user", NULL},
    {"n,,n=I\xC2\xADX,r=abc", 0, 0, "IX", NULL},
    {"n,,n=\xE2\x85\xA8,r=a!b~c", 0, 0, "IX", NULL},
    /* Malformed. */
    {"", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"x,,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"nn,,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n ,,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"p=,,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"p=tls_exporter,,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,m=foo,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,r=abc,n=user", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,m=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,u=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=us=2Xer,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user=,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user=2,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=ab cd", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=ab\x7f", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,x=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,a=,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,a=x=41,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,b=x,n=user,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=abc,", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=abc,foo", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=abc,1=x", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=abc,e=", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=\a"
     "bell,r=abc",
     0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=\xC2\xAD,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=\xD8\xA7"
     "1,r=abc",
     0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=\xff,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=\xC0\xAF,r=abc", 0, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=us\0er,r=abc", 16, TN_SCRAM_E_MALFORMED, NULL, NULL},
    {"n,,n=user,r=abc\0", 16, TN_SCRAM_E_MALFORMED, NULL, NULL},
};

static void test_client_first(void **state)
{
    for (size_t i = 0; i < sizeof(first_cases) / sizeof(*first_cases); i++) {
        const struct first_case *c = &first_cases[i];
        tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
        size_t len = c->len ? c->len : strlen(c->msg);
        print_message("client-first case %zu\n", i);
        assert_int_equal(tn_scram_server_client_first(s, c->msg, len), c->want);
        if (c->want == 0) {
            assert_string_equal(tn_scram_server_username(s), c->user);
            if (c->authzid)
                assert_string_equal(tn_scram_server_authzid(s), c->authzid);
            else
                assert_null(tn_scram_server_authzid(s));
        } else {
            char *out = (char *)1;
            assert_null(tn_scram_server_username(s));
            assert_null(tn_scram_server_authzid(s));
            /* The failed exchange cannot go on. */
            assert_int_equal(tn_scram_server_first(s, NULL, &out, NULL),
                             TN_EINVAL);
            assert_null(out);
        }
        tn_scram_server_free(s);
    }
}

static void test_client_first_too_long(void **state)
{
    size_t n = 5000;
    char *m = tn_malloc(n + 1);
    tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    memcpy(m, "n,,n=user,r=", 12);
    memset(m + 12, 'a', n - 12);
    m[n] = '\0';
    assert_int_equal(tn_scram_server_client_first(s, m, n),
                     TN_SCRAM_E_MALFORMED);
    tn_scram_server_free(s);
    /* Just under the bound is fine. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    assert_int_equal(tn_scram_server_client_first(s, m, 4096), 0);
    tn_scram_server_free(s);
    tn_free(m);
}

/* ---- client-final parsing --------------------------------------------- */

#define N5802 "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
#define P5802 "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="

struct final_case {
    const char *msg;
    size_t len; /* 0: strlen(msg) */
    int want;
};

static const struct final_case final_cases[] = {
    {"", 0, TN_SCRAM_E_MALFORMED},
    {"c=biws", 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",", 0, TN_SCRAM_E_MALFORMED},
    {"r=" N5802 ",c=biws,p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,p=" P5802 ",r=" N5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=", 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4T=", 0,
     TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=" P5802 " ", 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=AAAA", 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", 0,
     TN_SCRAM_E_MALFORMED},
    {"c=bi!s,r=" N5802 ",p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biw,r=" N5802 ",p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=,p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,n=" N5802 ",p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",x,p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",,p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",P=" P5802, 0, TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 ",p=" P5802 "\0", sizeof("c=biws,r=" N5802 ",p=" P5802),
     TN_SCRAM_E_MALFORMED},
    {"c=biws,r=" N5802 "\xff,p=" P5802, 0, TN_SCRAM_E_MALFORMED},
    /* Well-formed but wrong. */
    {"c=,r=" N5802 ",p=" P5802, 0, TN_SCRAM_E_CB},
    {"c=eSws,r=" N5802 ",p=" P5802, 0, TN_SCRAM_E_CB},
    {"c=biwsAAAA,r=" N5802 ",p=" P5802, 0, TN_SCRAM_E_CB},
    {"c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=" P5802, 0,
     TN_SCRAM_E_NOT_AUTHORIZED},
    {"c=biws,r=" N5802 "x,p=" P5802, 0, TN_SCRAM_E_NOT_AUTHORIZED},
    /* An extension is allowed but is part of AuthMessage, so the RFC's
     * proof no longer matches. */
    {"c=biws,r=" N5802 ",e=1,p=" P5802, 0, TN_SCRAM_E_NOT_AUTHORIZED},
    {"c=biws,r=" N5802 ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=", 0,
     TN_SCRAM_E_NOT_AUTHORIZED},
    /* The real thing, to show the setup is right. */
    {"c=biws,r=" N5802 ",p=" P5802, 0, 0},
};

static void test_client_final(void **state)
{
    tn_scram_cred_t cred;
    derive_b64salt(TN_SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &cred);
    for (size_t i = 0; i < sizeof(final_cases) / sizeof(*final_cases); i++) {
        const struct final_case *c = &final_cases[i];
        tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
        char *out = NULL;
        size_t len = c->len ? c->len : strlen(c->msg), out_len = 99;

        print_message("client-final case %zu\n", i);
        tn_scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
        assert_int_equal(cf(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0);
        assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
        tn_free(out);
        out = (char *)1;
        assert_int_equal(
            tn_scram_server_final(s, c->msg, len, NULL, 0, &out, &out_len),
            c->want);
        if (c->want == 0) {
            assert_string_equal(out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
            tn_free(out);
        } else {
            assert_null(out);
            assert_int_equal(out_len, 0);
        }
        tn_scram_server_free(s);
    }
}

static void test_client_final_too_long(void **state)
{
    tn_scram_cred_t cred;
    tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    char *out = NULL, *m;
    size_t n = 5000;

    derive_b64salt(TN_SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &cred);
    tn_scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
    assert_int_equal(cf(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0);
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
    tn_free(out);
    m = tn_malloc(n + 1);
    memset(m, 'a', n);
    memcpy(m, "c=biws,r=" N5802 ",e=", 9 + strlen(N5802) + 3);
    memcpy(m + n - strlen(",p=" P5802), ",p=" P5802, strlen(",p=" P5802));
    m[n] = '\0';
    out = (char *)1;
    assert_int_equal(tn_scram_server_final(s, m, n, NULL, 0, &out, NULL),
                     TN_SCRAM_E_MALFORMED);
    assert_null(out);
    tn_free(m);
    tn_scram_server_free(s);
}

/* A proof computed correctly over a final whose nonce is not the one we
 * issued (a replay into another exchange) must still fail. */
static void test_nonce_mismatch(void **state)
{
    static const char *nonces[] = {
        N5802,                      /* control: accepted */
        "fyko+d2lbbFgONRv9qkxdawL", /* client part only */
        N5802 "x",
        "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7J",
    };
    static const char sf[] = "r=" N5802 ",s=QSXCR+Q6sek8bf92,i=4096";
    tn_scram_cred_t cred;
    unsigned char salt[TN_SCRAM_MAX_SALT];
    size_t salt_len = salt_of(sf, salt);

    derive_b64salt(TN_SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &cred);
    for (size_t i = 0; i < sizeof(nonces) / sizeof(*nonces); i++) {
        tn_scram_server_t *s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
        char *out = NULL, *wp, *am, *proof, *v, *final;

        tn_scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
        assert_int_equal(cf(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0);
        assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
        assert_string_equal(out, sf);
        tn_free(out);
        wp = tn_sprintf("c=biws,r=%s", nonces[i]);
        am = tn_sprintf("n=user,r=fyko+d2lbbFgONRv9qkxdawL,%s,%s", sf, wp);
        client_proof(TN_SCRAM_SHA1, "pencil", salt, salt_len, 4096, am, &proof,
                     &v);
        final = tn_sprintf("%s,%s", wp, proof);
        out = (char *)1;
        assert_int_equal(
            tn_scram_server_final(s, final, strlen(final), NULL, 0, &out, NULL),
            i == 0 ? 0 : TN_SCRAM_E_NOT_AUTHORIZED);
        if (i == 0) {
            assert_string_equal(out, v);
            assert_string_equal(out, "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
            tn_free(out);
        } else {
            assert_null(out);
        }
        tn_free(wp);
        tn_free(am);
        tn_free(proof);
        tn_free(v);
        tn_free(final);
        tn_scram_server_free(s);
    }
}

/* ---- call order and API misuse ---------------------------------------- */

static void test_call_order(void **state)
{
    tn_scram_cred_t cred, cred256;
    tn_scram_server_t *s;
    char *out = NULL;
    const char *fin = "c=biws,r=" N5802 ",p=" P5802;

    derive_b64salt(TN_SCRAM_SHA1, "pencil", "QSXCR+Q6sek8bf92", 4096, &cred);
    derive_b64salt(TN_SCRAM_SHA256, "pencil", "QSXCR+Q6sek8bf92", 4096,
                   &cred256);

    assert_null(tn_scram_server_new((tn_scram_hash_t)9, 0, 0, SECRET));
    assert_null(tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, NULL, 5));
    tn_scram_server_free(NULL);
    assert_null(tn_scram_server_username(NULL));
    assert_null(tn_scram_server_authzid(NULL));
    assert_null(tn_scram_server_cb_type(NULL));
    assert_int_equal(tn_scram_server_client_first(NULL, "n,,n=u,r=a", 10),
                     TN_SCRAM_E_MALFORMED);

    /* server-first before client-first. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), TN_EINVAL);
    assert_null(out);
    tn_scram_server_free(s);

    /* client-final before server-first ends the exchange. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    assert_int_equal(cf(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0);
    assert_int_equal(
        tn_scram_server_final(s, fin, strlen(fin), NULL, 0, &out, NULL),
        TN_SCRAM_E_MALFORMED);
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), TN_EINVAL);
    assert_null(out);
    tn_scram_server_free(s);

    /* client-first twice. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    assert_int_equal(cf(s, "n,,n=user,r=abc"), 0);
    assert_int_equal(cf(s, "n,,n=user,r=abc"), TN_SCRAM_E_MALFORMED);
    tn_scram_server_free(s);

    /* server-first twice, and a credential of the wrong hash. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    assert_int_equal(cf(s, "n,,n=user,r=abc"), 0);
    assert_int_equal(tn_scram_server_first(s, &cred256, &out, NULL), TN_EINVAL);
    assert_null(out);
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
    tn_free(out);
    out = NULL;
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), TN_EINVAL);
    assert_null(out);
    tn_scram_server_free(s);

    /* A failed final cannot be retried with the right proof. */
    s = tn_scram_server_new(TN_SCRAM_SHA1, 0, 0, SECRET);
    tn_scram_server_set_nonce_for_test(s, "3rfcNHYJY1ZVvWVs7j");
    assert_int_equal(cf(s, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), 0);
    assert_int_equal(tn_scram_server_first(s, &cred, &out, NULL), 0);
    tn_free(out);
    out = NULL;
    assert_int_equal(tn_scram_server_final(s, "c=biws", 6, NULL, 0, &out, NULL),
                     TN_SCRAM_E_MALFORMED);
    assert_int_equal(
        tn_scram_server_final(s, fin, strlen(fin), NULL, 0, &out, NULL),
        TN_SCRAM_E_MALFORMED);
    assert_null(out);
    tn_scram_server_free(s);

    /* Random server nonce: printable, no ',', client nonce first. */
    s = tn_scram_server_new(TN_SCRAM_SHA256, 0, 0, SECRET);
    assert_int_equal(cf(s, "n,,n=user,r=abc"), 0);
    assert_int_equal(tn_scram_server_first(s, &cred256, &out, NULL), 0);
    assert_true(strncmp(out, "r=abc", 5) == 0);
    {
        const char *e = strchr(out, ',');
        assert_non_null(e);
        assert_true(e - out >= 5 + 24);
        for (const char *p = out + 2; p < e; p++)
            assert_true(*p > 0x20 && *p < 0x7f);
    }
    tn_free(out);
    tn_scram_server_free(s);
}

/* ---- SASLprep --------------------------------------------------------- */

struct prep_case {
    const char *in;
    const char *want; /* NULL: rejected */
};

static const struct prep_case prep_cases[] = {
    /* RFC 4013 section 3. */
    {"I\xC2\xADX", "IX"},
    {"user", "user"},
    {"USER", "USER"},
    {"\xC2\xAA", "a"},
    {"\xE2\x85\xA8", "IX"},
    {"\a", NULL},
    {"\xD8\xA7"
     "1",
     NULL},
    /* More: non-ASCII space maps to space (2.1), invalid UTF-8 and
     * unassigned code points are refused. */
    {"a\xC2\xA0"
     "b",
     "a b"},
    {"\xff", NULL},
    {"\xED\xA0\x80", NULL},
    {"\xF3\xA0\x80\x81", NULL}, /* U+E0001 LANGUAGE TAG: prohibited */
    {"\xF0\xAF\xBF\xBF", NULL}, /* U+2FFFF: non-character */
    {"a\xC8\xA1", NULL},        /* U+0221: unassigned in Unicode 3.2 */
    {"", ""},
};

static void test_saslprep(void **state)
{
    for (size_t i = 0; i < sizeof(prep_cases) / sizeof(*prep_cases); i++) {
        char *out = tn_saslprep(prep_cases[i].in);
        print_message("saslprep case %zu\n", i);
        if (prep_cases[i].want) {
            assert_non_null(out);
            assert_string_equal(out, prep_cases[i].want);
        } else {
            assert_null(out);
        }
        tn_free(out);
    }
    assert_null(tn_saslprep(NULL));
}

/* ---- PLAIN ------------------------------------------------------------ */

struct plain_case {
    const char *msg;
    size_t len;
    int want;
    const char *authzid, *authcid, *passwd;
};

#define PC(lit) lit, sizeof(lit) - 1

static const struct plain_case plain_cases[] = {
    {PC("\0user\0pencil"), 0, NULL, "user", "pencil"},
    {PC("admin@example.com\0user\0pencil"), 0, "admin@example.com", "user",
     "pencil"},
    {PC("\0\xC3\xA9t\xC3\xA9\0p w d"), 0, NULL, "\xC3\xA9t\xC3\xA9", "p w d"},
    {PC(""), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("userpencil"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("user\0pencil"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\0\0pencil"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\0user\0"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\0user\0pen\0cil"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\0\0"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\0user\0\xff"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
    {PC("\xC3\0user\0pencil"), TN_SCRAM_E_MALFORMED, NULL, NULL, NULL},
};

static void test_plain(void **state)
{
    char *z, *c, *p;
    char big[300 + 2 + 6];

    for (size_t i = 0; i < sizeof(plain_cases) / sizeof(*plain_cases); i++) {
        const struct plain_case *t = &plain_cases[i];
        z = c = p = (char *)1;
        print_message("plain case %zu\n", i);
        assert_int_equal(tn_sasl_plain_parse(t->msg, t->len, &z, &c, &p),
                         t->want);
        if (t->want == 0) {
            if (t->authzid)
                assert_string_equal(z, t->authzid);
            else
                assert_null(z);
            assert_string_equal(c, t->authcid);
            assert_string_equal(p, t->passwd);
        } else {
            assert_null(z);
            assert_null(c);
            assert_null(p);
        }
        tn_free(z);
        tn_free(c);
        tn_free(p);
    }

    /* 255 bytes per field is the limit. */
    memset(big, 'u', sizeof(big));
    big[0] = '\0';
    big[256] = '\0';
    memcpy(big + 257, "pw", 2);
    assert_int_equal(tn_sasl_plain_parse(big, 259, &z, &c, &p), 0);
    assert_int_equal(strlen(c), 255);
    assert_null(z);
    tn_free(c);
    tn_free(p);
    big[256] = 'u';
    big[257] = '\0';
    memcpy(big + 258, "pw", 2);
    assert_int_equal(tn_sasl_plain_parse(big, 260, &z, &c, &p),
                     TN_SCRAM_E_MALFORMED);
    assert_null(c);
    assert_int_equal(tn_sasl_plain_parse(NULL, 0, &z, &c, &p),
                     TN_SCRAM_E_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_unknown_user),
        cmocka_unit_test(test_channel_binding),
        cmocka_unit_test(test_client_first),
        cmocka_unit_test(test_client_first_too_long),
        cmocka_unit_test(test_client_final),
        cmocka_unit_test(test_client_final_too_long),
        cmocka_unit_test(test_nonce_mismatch),
        cmocka_unit_test(test_call_order),
        cmocka_unit_test(test_saslprep),
        cmocka_unit_test(test_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
