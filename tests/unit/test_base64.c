/* test_base64.c -- unit tests for util/base64.c: the RFC 4648 section 10
 * vectors both ways, binary round trips, and the strict decoder's
 * rejection of bad length, characters, whitespace and padding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/base64.h"
#include "util/mem.h"

struct b64_vec {
    const char *plain;
    const char *enc;
};

/* RFC 4648 section 10. */
static const struct b64_vec rfc_vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_encode_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc_vectors / sizeof rfc_vectors[0]; i++) {
        const struct b64_vec *v = &rfc_vectors[i];
        char *e = tn_base64_encode(v->plain, strlen(v->plain));
        assert_non_null(e);
        assert_string_equal(e, v->enc);
        tn_free(e);
    }
}

static void test_decode_rfc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc_vectors / sizeof rfc_vectors[0]; i++) {
        const struct b64_vec *v = &rfc_vectors[i];
        size_t n = 12345;
        unsigned char *d = tn_base64_decode(v->enc, strlen(v->enc), &n);
        assert_non_null(d);
        assert_int_equal(n, strlen(v->plain));
        assert_memory_equal(d, v->plain, n);
        assert_int_equal(d[n], '\0');
        tn_free(d);
    }
}

static void test_encode_null_empty(void **state)
{
    (void)state;
    char *e = tn_base64_encode(NULL, 0);
    assert_string_equal(e, "");
    tn_free(e);
}

/* Every byte value, every length mod 3, and the two highest alphabet
 * characters ('+' and '/'). */
static void test_binary_roundtrip(void **state)
{
    (void)state;
    unsigned char in[256];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof in; len++) {
        char *e = tn_base64_encode(in, len);
        assert_int_equal(strlen(e), (len + 2) / 3 * 4);
        size_t n = 0;
        unsigned char *d = tn_base64_decode(e, strlen(e), &n);
        assert_non_null(d);
        assert_int_equal(n, len);
        if (len)
            assert_memory_equal(d, in, len);
        tn_free(d);
        tn_free(e);
    }
}

static void test_known_binary(void **state)
{
    (void)state;
    static const unsigned char in[] = {0xfb, 0xff, 0xbf, 0x00, 0x10};
    char *e = tn_base64_encode(in, sizeof in);
    assert_string_equal(e, "+/+/ABA=");
    tn_free(e);

    size_t n = 0;
    unsigned char *d = tn_base64_decode("+/+/ABA=", 8, &n);
    assert_non_null(d);
    assert_int_equal(n, sizeof in);
    assert_memory_equal(d, in, sizeof in);
    tn_free(d);
}

/* Decoding honours len and does not read up to a NUL. */
static void test_decode_uses_len(void **state)
{
    (void)state;
    size_t n = 0;
    unsigned char *d = tn_base64_decode("Zm9vYmFy!!!!", 8, &n);
    assert_non_null(d);
    assert_int_equal(n, 6);
    assert_memory_equal(d, "foobar", 6);
    tn_free(d);

    /* Embedded NUL bytes decode fine. */
    d = tn_base64_decode("AGEAYg==", 8, &n);
    assert_non_null(d);
    assert_int_equal(n, 4);
    assert_memory_equal(d, "\0a\0b", 4);
    tn_free(d);

    /* A NULL out_len is tolerated. */
    d = tn_base64_decode("Zg==", 4, NULL);
    assert_non_null(d);
    assert_string_equal((char *)d, "f");
    tn_free(d);
}

static const char *const bad_inputs[] = {
    "Z",                /* length not a multiple of 4 */
    "Zg",               /* unpadded */
    "Zg=",              /* short padding */
    "Zm9vY",            /* 5 characters */
    "Zm9vYmFy=",        /* trailing padding after a full quantum */
    "=",                /* lone padding */
    "====",             /* only padding */
    "A===",             /* three pad characters */
    "Z===",             /* three pad characters */
    "=Zg=",             /* padding first */
    "Z=g=",             /* padding in the middle */
    "Zg==Zg==",         /* padding before the end */
    "Zm9v Yg==",        /* space */
    "Zm9v\nYg==",       /* line break (MIME style) */
    "Zm9vYg==\n",       /* trailing newline */
    "Zm9v\tYmE=",       /* tab */
    "Zm9-",             /* URL-safe alphabet is not accepted */
    "Zm9_",             /* URL-safe alphabet is not accepted */
    "Zm9v*mFy",         /* punctuation */
    "Zh==",             /* non-zero leftover bits (canonical is Zg==) */
    "Zm9=",             /* non-zero leftover bits (canonical is Zm8=) */
    "Zm8\x80",          /* high byte */
    "\xc3\xa9\xc3\xa9", /* UTF-8 "éé" */
};

static void test_decode_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
        size_t n = 777;
        unsigned char *d =
            tn_base64_decode(bad_inputs[i], strlen(bad_inputs[i]), &n);
        if (d)
            fail_msg("accepted bad input #%zu \"%s\"", i, bad_inputs[i]);
        assert_int_equal(n, 777);
    }
}

/* NUL inside the counted length is a bad character, not an end marker. */
static void test_decode_rejects_embedded_nul(void **state)
{
    (void)state;
    assert_null(tn_base64_decode("Zm9v\0\0\0\0", 8, NULL));
    assert_null(tn_base64_decode("Zg=\0", 4, NULL));
}

static void test_decode_empty(void **state)
{
    (void)state;
    size_t n = 99;
    unsigned char *d = tn_base64_decode("", 0, &n);
    assert_non_null(d);
    assert_int_equal(n, 0);
    assert_int_equal(d[0], '\0');
    tn_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_rfc_vectors),
        cmocka_unit_test(test_decode_rfc_vectors),
        cmocka_unit_test(test_encode_null_empty),
        cmocka_unit_test(test_binary_roundtrip),
        cmocka_unit_test(test_known_binary),
        cmocka_unit_test(test_decode_uses_len),
        cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_decode_rejects_embedded_nul),
        cmocka_unit_test(test_decode_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
