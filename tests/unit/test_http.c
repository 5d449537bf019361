/* test_http.c -- unit tests for net/http.c's path normalization: one
 * spelling per path before routing (SECURITY.md, CVE-2023-32315). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/http.h"
#include "util/mem.h"

static const struct {
    const char *in, *out; /* out NULL: refused */
} cases[] = {
    {"/", "/"},
    {"/http-bind", "/http-bind"},
    {"/http-bind/", "/http-bind"},
    {"//http-bind//", "/http-bind"},
    {"/%68ttp-bind", "/http-bind"},
    {"/%2e%2E/http-bind", "/http-bind"},
    {"/x/../http-bind", "/http-bind"},
    {"/x/./y/../../http-bind", "/http-bind"},
    {"/./.well-known/./host-meta", "/.well-known/host-meta"},
    {"/..", "/"},
    {"/../../..", "/"},
    {"/a/b/..", "/a"},
    {"/a/b/../", "/a"},
    {"/a/..b", "/a/..b"},
    {"/a/.b/", "/a/.b"},
    {"/%41%42", "/AB"},
    {"/http-bind%2f", NULL},
    {"/http-bind%2F..", NULL},
    {"/a%5cb", NULL},
    {"/a\\b", NULL},
    {"/a%00b", NULL},
    {"/a%zz", NULL},
    {"/a%4", NULL},
    {"/a%", NULL},
    {"", NULL},
    {"http-bind", NULL},
};

static void test_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = tn_strdup(cases[i].in);
        int rc = tn_http_normalize_path(p);
        if (cases[i].out) {
            if (rc != 0 || strcmp(p, cases[i].out) != 0)
                fail_msg("'%s' -> rc %d '%s', wanted '%s'", cases[i].in, rc,
                         p, cases[i].out);
        } else if (rc == 0) {
            fail_msg("'%s' accepted as '%s'", cases[i].in, p);
        }
        tn_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
