/* test_hmac.c -- unit tests for util/hmac.c: the RFC 2202 and RFC 4231
 * vectors (test cases 2 and 6: a short key, and a key longer than the
 * block size, which is hashed first) for SHA-1, SHA-256 and SHA-384, the
 * plain digests, and that any thread gets the fetched digests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "util/hmac.h"

static void hex(const unsigned char *p, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static void check_hmac(tn_md_t md, const void *key, size_t klen,
                       const char *msg, const char *want)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    char got[2 * EVP_MAX_MD_SIZE + 1];
    unsigned n = 0;
    assert_int_equal(tn_hmac(tn_md(md), key, klen, msg, strlen(msg), out, &n),
                     0);
    assert_int_equal(n * 2, strlen(want));
    hex(out, n, got);
    assert_string_equal(got, want);
}

static const char jefe_msg[] = "what do ya want for nothing?";
static const char long_msg[] =
    "Test Using Larger Than Block-Size Key - Hash Key First";

static void test_short_key(void **state)
{
    (void)state;
    check_hmac(TN_MD_SHA1, "Jefe", 4, jefe_msg,
               "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    check_hmac(TN_MD_SHA256, "Jefe", 4, jefe_msg,
               "5bdcc146bf60754e6a042426089575c7"
               "5a003f089d2739839dec58b964ec3843");
    check_hmac(TN_MD_SHA384, "Jefe", 4, jefe_msg,
               "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47"
               "e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649");
}

static void test_long_key(void **state)
{
    (void)state;
    unsigned char key[131];
    memset(key, 0xaa, sizeof key);
    check_hmac(TN_MD_SHA1, key, 80, long_msg,
               "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    check_hmac(TN_MD_SHA256, key, 131, long_msg,
               "60e431591ee0b67f0d8a26aacbf5b77f"
               "8e0bc6213728c5140546040f0ee37f54");
    check_hmac(TN_MD_SHA384, key, 131, long_msg,
               "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f"
               "3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952");
}

static void test_digest(void **state)
{
    (void)state;
    unsigned char out[EVP_MAX_MD_SIZE];
    char got[2 * EVP_MAX_MD_SIZE + 1];
    unsigned n = 0;
    assert_int_equal(tn_digest(tn_md(TN_MD_SHA1), "abc", 3, out, &n), 0);
    hex(out, n, got);
    assert_string_equal(got, "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_int_equal(tn_digest(tn_md(TN_MD_SHA256), "", 0, out, &n), 0);
    hex(out, n, got);
    assert_string_equal(got, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
    assert_null(tn_md((tn_md_t)7));
    assert_int_equal(tn_hmac(NULL, "k", 1, "m", 1, out, &n), -1);
}

static void *thread_md(void *arg)
{
    (void)arg;
    return (void *)tn_md(TN_MD_SHA256);
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    void *r[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_md, NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &r[i]), 0);
        assert_non_null(r[i]);
        assert_ptr_equal(r[i], r[0]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_key),
        cmocka_unit_test(test_long_key),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
