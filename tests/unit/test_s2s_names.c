/* test_s2s_names.c -- unit tests for the federation helpers that need no
 * network: RFC 6125 identity checks of certificates (net/s2s_tls.c:
 * DNS-ID with wildcards, SRV-ID, XmppAddr, CN only without SANs) and the
 * RFC 2782 ordering of SRV targets (net/resolve.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "net/resolve.h"
#include "net/s2s_tls.h"

/* A self-signed certificate with subject CN cn and, when san is not
 * NULL, that subjectAltName (OpenSSL's config syntax). */
static X509 *make_cert(const char *cn, const char *san)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (san) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext =
            X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
        assert_non_null(ext);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    EVP_PKEY_free(key);
    return x;
}

static void test_dns_id(void **state)
{
    (void)state;
    X509 *x = make_cert("ignored.example", "DNS:a.example,DNS:*.wild.example");
    assert_int_equal(tn_s2s_cert_names(x, "a.example"), 1);
    assert_int_equal(tn_s2s_cert_names(x, "conference.wild.example"), 1);
    /* A wildcard covers one label, never the bare domain or two. */
    assert_int_equal(tn_s2s_cert_names(x, "wild.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, "a.b.wild.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, "b.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, "example"), 0);
    /* With SANs present the CN does not count (RFC 6125 6.4.4). */
    assert_int_equal(tn_s2s_cert_names(x, "ignored.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, ""), 0);
    assert_int_equal(tn_s2s_cert_names(NULL, "a.example"), 0);
    X509_free(x);
}

static void test_srv_id_and_xmppaddr(void **state)
{
    (void)state;
    X509 *x = make_cert(
        "cn.example",
        "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.srv.example,"
        "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpps-server.tls.example,"
        "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-client.client.example,"
        "otherName:1.3.6.1.5.5.7.8.5;UTF8:addr.example");
    assert_int_equal(tn_s2s_cert_names(x, "srv.example"), 1);
    assert_int_equal(tn_s2s_cert_names(x, "tls.example"), 1);
    assert_int_equal(tn_s2s_cert_names(x, "addr.example"), 1);
    /* A client SRV-ID names no server. */
    assert_int_equal(tn_s2s_cert_names(x, "client.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, "_xmpp-server.srv.example"), 0);
    assert_int_equal(tn_s2s_cert_names(x, "cn.example"), 0);
    X509_free(x);
}

static void test_cn_without_san(void **state)
{
    (void)state;
    X509 *x = make_cert("old.example", NULL);
    assert_int_equal(tn_s2s_cert_names(x, "old.example"), 1);
    assert_int_equal(tn_s2s_cert_names(x, "OLD.example"), 1);
    assert_int_equal(tn_s2s_cert_names(x, "new.example"), 0);
    X509_free(x);
}

/* RFC 2782: ascending priority; within one, weight-proportional picks. */
static void test_srv_order(void **state)
{
    (void)state;
    int heavy_first = 0, zero_first = 0;
    const int runs = 4000;
    for (int r = 0; r < runs; r++) {
        tn_srv_target_t t[5] = {
            {"p20", 1, 0}, {"light", 2, 0}, {"heavy", 3, 0},
            {"p5", 4, 0},  {"zero", 5, 0},
        };
        unsigned prio[5] = {20, 10, 10, 5, 10};
        unsigned w[5] = {50, 10, 30, 0, 0};
        tn_srv_order(t, prio, w, 5);
        assert_string_equal(t[0].host, "p5");
        assert_string_equal(t[4].host, "p20");
        for (int i = 1; i < 4; i++)
            assert_int_equal(prio[i], 10);
        heavy_first += strcmp(t[1].host, "heavy") == 0;
        zero_first += strcmp(t[1].host, "zero") == 0;
    }
    /* heavy 30/41 ~ 73%, zero 1/41 ~ 2.4% (picked only by a 0 draw);
     * bounds far outside the noise of 4000 draws. */
    assert_in_range(heavy_first, runs * 60 / 100, runs * 85 / 100);
    assert_in_range(zero_first, 0, runs * 8 / 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_id),
        cmocka_unit_test(test_srv_id_and_xmppaddr),
        cmocka_unit_test(test_cn_without_san),
        cmocka_unit_test(test_srv_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
