/* test_dialback.c -- unit tests for xmpp/dialback.c: the XEP-0220 /
 * XEP-0185 example key, the check (whitespace, case, length, every
 * field), and refused arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "xmpp/dialback.h"

#define SECRET ((const unsigned char *)"d14lb4ck43v3r")
#define SECRET_LEN 13
#define WANT "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d"

/* XEP-0220 2.1.1 / 2.4 example. */
static void test_example_key(void **state)
{
    (void)state;
    char key[TN_DIALBACK_KEY_SIZE];
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "capulet.example",
                                     "montague.example", "417GAF25", key),
                     0);
    assert_string_equal(key, WANT);
}

static void test_check(void **state)
{
    (void)state;
    const char *r = "capulet.example", *o = "montague.example",
               *id = "417GAF25";
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, r, o, id, WANT), 1);
    assert_int_equal(
        tn_dialback_check(SECRET, SECRET_LEN, r, o, id, "\n  " WANT "\n "), 1);
    /* Every field counts. */
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, o, r, id, WANT), 0);
    assert_int_equal(
        tn_dialback_check(SECRET, SECRET_LEN, r, o, "417GAF26", WANT), 0);
    assert_int_equal(
        tn_dialback_check((const unsigned char *)"other", 5, r, o, id, WANT),
        0);
    /* Truncated, extended, changed. */
    assert_int_equal(
        tn_dialback_check(SECRET, SECRET_LEN, r, o, id, "225cc5aa"), 0);
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, r, o, id, WANT "0"),
                     0);
    char bad[] = WANT;
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, r, o, id, bad), 0);
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, r, o, id, ""), 0);
    assert_int_equal(tn_dialback_check(SECRET, SECRET_LEN, r, o, id, NULL), 0);
}

/* The fields are separated by spaces: a space inside a domain would make
 * two different triples give the same input (CVE-2016-0756 class). */
static void test_refused(void **state)
{
    (void)state;
    char key[TN_DIALBACK_KEY_SIZE];
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "a b", "c", "id", key),
                     -1);
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "a", "b c", "id", key),
                     -1);
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "", "c", "id", key),
                     -1);
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "a", "c", "", key),
                     -1);
    assert_int_equal(tn_dialback_key(SECRET, 0, "a", "c", "id", key), -1);
    /* A long stream id is fine. */
    char id[2000];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_int_equal(tn_dialback_key(SECRET, SECRET_LEN, "a", "c", id, key), 0);
    assert_int_equal(strlen(key), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_key),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
