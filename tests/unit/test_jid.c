/* test_jid.c -- unit tests for xmpp/jid.c: splitting (RFC 7622 3.1),
 * Nodeprep / domain / Resourceprep canonicalization, the error cases, and
 * make / copy / release. Tables list input and exact expected parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <stdio.h>
#include <stringprep.h>

#include "util/err.h"
#include "util/mem.h"
#include "xmpp/jid.h"

struct jid_ok {
    const char *in;
    const char *node; /* NULL: absent */
    const char *domain;
    const char *resource; /* NULL: absent */
    const char *bare;
    const char *full;
};

static const struct jid_ok valid[] = {
    {"example.com", NULL, "example.com", NULL, "example.com", "example.com"},
    {"juliet@example.com", "juliet", "example.com", NULL, "juliet@example.com",
     "juliet@example.com"},
    {"juliet@example.com/balcony", "juliet", "example.com", "balcony",
     "juliet@example.com", "juliet@example.com/balcony"},
    {"example.com/foo", NULL, "example.com", "foo", "example.com",
     "example.com/foo"},
    /* Case folding in node and domain, case kept in the resource. */
    {"JuLiet@EXAMPLE.com/Home", "juliet", "example.com", "Home",
     "juliet@example.com", "juliet@example.com/Home"},
    /* Trailing dot dropped. */
    {"juliet@example.com./r", "juliet", "example.com", "r",
     "juliet@example.com", "juliet@example.com/r"},
    {"EXAMPLE.com.", NULL, "example.com", NULL, "example.com", "example.com"},
    /* The resource is everything after the first '/'. */
    {"juliet@example.com/foo/bar", "juliet", "example.com", "foo/bar",
     "juliet@example.com", "juliet@example.com/foo/bar"},
    {"juliet@example.com/a@b", "juliet", "example.com", "a@b",
     "juliet@example.com", "juliet@example.com/a@b"},
    {"example.com/juliet@example.net/x", NULL, "example.com",
     "juliet@example.net/x", "example.com", "example.com/juliet@example.net/x"},
    {"juliet@example.com/ Home Desk ", "juliet", "example.com", " Home Desk ",
     "juliet@example.com", "juliet@example.com/ Home Desk "},
    /* Unicode case folding in the localpart (RFC 3454 B.2). */
    {"\xce\xa3\xce\x91\xce\xa3@example.com", "\xcf\x83\xce\xb1\xcf\x83",
     "example.com", NULL, "\xcf\x83\xce\xb1\xcf\x83@example.com",
     "\xcf\x83\xce\xb1\xcf\x83@example.com"},
    {"\xc3\x89lise@example.com", "\xc3\xa9lise", "example.com", NULL,
     "\xc3\xa9lise@example.com", "\xc3\xa9lise@example.com"},
    /* Nodeprep folds sharp s (B.2), NFKC folds the fullwidth A. */
    {"stra\303\237e@example.com", "strasse", "example.com", NULL,
     "strasse@example.com", "strasse@example.com"},
    {"\xef\xbc\xa1@example.com", "a", "example.com", NULL, "a@example.com",
     "a@example.com"},
    /* Resource keeps case but is NFKC normalized. */
    /* NFKC turns a no-break space into an ASCII space, which a resource
     * may hold (a localpart may not, see the invalid table). */
    {"a@example.com/\xc2\xa0", "a", "example.com", " ", "a@example.com",
     "a@example.com/ "},
    {"a@example.com/\xef\xbc\xa1", "a", "example.com", "A", "a@example.com",
     "a@example.com/A"},
    /* Internationalized domains in U-label form. */
    {"\xc3\x89XAMPLE.com", NULL, "\xc3\xa9xample.com", NULL,
     "\xc3\xa9xample.com", "\xc3\xa9xample.com"},
    {"xn--xample-9ua.com", NULL, "\xc3\xa9xample.com", NULL,
     "\xc3\xa9xample.com", "\xc3\xa9xample.com"},
    {"XN--XAMPLE-9UA.COM.", NULL, "\xc3\xa9xample.com", NULL,
     "\xc3\xa9xample.com", "\xc3\xa9xample.com"},
    {"u@fa\xc3\x9f.de", "u", "fa\xc3\x9f.de", NULL, "u@fa\xc3\x9f.de",
     "u@fa\xc3\x9f.de"},
    /* Ideographic full stop is a label separator; fullwidth ASCII maps. */
    {"u@example\343\200\202com", "u", "example.com", NULL, "u@example.com",
     "u@example.com"},
    {"\xef\xbd\x85\xef\xbd\x98.com", NULL, "ex.com", NULL, "ex.com", "ex.com"},
    /* IP literals. */
    {"u@127.0.0.1/r", "u", "127.0.0.1", "r", "u@127.0.0.1", "u@127.0.0.1/r"},
    {"[::1]", NULL, "[::1]", NULL, "[::1]", "[::1]"},
    {"u@[2001:DB8:0:0::1]/r", "u", "[2001:db8::1]", "r", "u@[2001:db8::1]",
     "u@[2001:db8::1]/r"},
    /* Digits, hyphens inside labels, single labels. */
    {"a-b.c0m", NULL, "a-b.c0m", NULL, "a-b.c0m", "a-b.c0m"},
    {"localhost", NULL, "localhost", NULL, "localhost", "localhost"},
    {"0@3com.com", "0", "3com.com", NULL, "0@3com.com", "0@3com.com"},
};

static void check_valid(const struct jid_ok *t, const tn_jid_t *j)
{
    if (t->node)
        assert_string_equal(j->node, t->node);
    else
        assert_null(j->node);
    assert_string_equal(j->domain, t->domain);
    if (t->resource)
        assert_string_equal(j->resource, t->resource);
    else
        assert_null(j->resource);
    assert_string_equal(j->bare, t->bare);
    assert_string_equal(j->full, t->full);
}

static void test_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        tn_jid_t j;
        int rc = tn_jid_parse(valid[i].in, &j);
        if (rc != 0)
            fail_msg("rejected valid #%zu \"%s\"", i, valid[i].in);
        check_valid(&valid[i], &j);

        /* The canonical form is a fixed point. */
        tn_jid_t again;
        assert_int_equal(tn_jid_parse(j.full, &again), 0);
        assert_string_equal(again.full, j.full);
        tn_jid_release(&again);

        /* tn_jid_make from the raw-ish parts gives the same result. */
        tn_jid_t made;
        assert_int_equal(tn_jid_make(j.node, j.domain, j.resource, &made), 0);
        check_valid(&valid[i], &made);
        tn_jid_release(&made);

        tn_jid_release(&j);
        assert_null(j.full);
    }
}

/* One per line with the reason; clang-format would bin-pack them. */
/* clang-format off */
static const char *const invalid[] = {
    "",
    "@",
    "/",
    "@/",
    "@example.com",           /* empty localpart */
    "juliet@",                /* empty domain */
    "juliet@/r",              /* empty domain */
    "/r",                     /* empty domain */
    "example.com/",           /* empty resource */
    "juliet@example.com/",    /* empty resource */
    "a@b@c",                  /* '@' in the domain */
    "a@b@c.com",              /* '@' in the domain */
    "jul iet@example.com",    /* space in localpart */
    " juliet@example.com",    /* space in localpart */
    "juliet@exa mple.com",    /* space in domain */
    "juliet@example.com ",    /* trailing space in domain */
    "jul\"iet@example.com",   /* Nodeprep prohibited: " & ' : < > */
    "jul&iet@example.com",
    "jul'iet@example.com",
    "jul:iet@example.com",
    "jul<iet@example.com",
    "jul>iet@example.com",
    "jul\x01iet@example.com",           /* ASCII control */
    "juliet@example.com/r\x7f",         /* ASCII control in resource */
    "j\xc2\xa0@example.com",            /* NBSP -> space in localpart */
    "\xc2\xad@example.com",             /* maps to nothing: empty */
    "juliet@example.com/\xef\xbf\xbe",  /* non-character U+FFFE */
    /* Bad domains. */
    "-a.com",
    "a-.com",
    "a.-com",
    "a..com",
    ".a.com",
    "a.com..",
    ".",
    "..",
    "a_b.com",
    "a!b.com",
    "a,b.com",
    "exa\tmple.com",
    "[::1",
    "::1",
    "[]",
    "[1.2.3.4]",
    "[fe80::1%eth0]",         /* zone identifiers are not allowed */
    "[::g]",
    "1.2.3.256",              /* all-digit last label, not an address */
    "1.2.3",
    "01.2.3.4",
    "xn--abc",                /* bogus punycode */
    "xn--a.com",              /* bogus punycode */
    "xn--example-.com",       /* decodes to plain ASCII */
    "\xc3\xa9_x.com",         /* '_' behind an IDN */
    "\xc3\xa9 x.com",         /* space behind an IDN */
    /* Invalid UTF-8. */
    "\xff@example.com",
    "ju\xc3@example.com",                  /* truncated sequence */
    "juliet@example.com/\xc0\xaf",         /* overlong '/' */
    "juliet@example.com/\xed\xa0\x80",     /* surrogate */
    "juliet@exa\xe9mple.com",              /* Latin-1 */
    "juliet@example.com/\xf4\x90\x80\x80", /* past U+10FFFF */
};
/* clang-format on */

static void test_parse_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        tn_jid_t j;
        memset(&j, 0x5a, sizeof j);
        int rc = tn_jid_parse(invalid[i], &j);
        if (rc != TN_EJID)
            fail_msg("accepted invalid #%zu \"%s\" (rc %d)", i, invalid[i], rc);
        assert_null(j.node);
        assert_null(j.domain);
        assert_null(j.resource);
        assert_null(j.bare);
        assert_null(j.full);
    }
    tn_jid_t j;
    assert_int_equal(tn_jid_parse(NULL, &j), TN_EJID);
    assert_null(j.domain);
}

/* Nodeprep's extra prohibited characters, one by one (RFC 6122 A.5);
 * '/' and '@' cannot reach Nodeprep through the parser, so they are
 * checked through tn_jid_nodeprep and tn_jid_make. */
static void test_nodeprep_prohibited(void **state)
{
    (void)state;
    static const char bad[] = "\"&'/:<>@ ";
    for (const char *p = bad; *p; p++) {
        char node[8];
        node[0] = 'a';
        node[1] = *p;
        node[2] = 'b';
        node[3] = '\0';
        assert_null(tn_jid_nodeprep(node));
        tn_jid_t j;
        assert_int_equal(tn_jid_make(node, "example.com", NULL, &j), TN_EJID);
        assert_null(j.bare);
    }
    /* The same characters are fine in a resource (except nothing). */
    char *r = tn_jid_resourceprep("\"&'/:<>@ ");
    assert_non_null(r);
    assert_string_equal(r, "\"&'/:<>@ ");
    tn_free(r);
}

static char *repeat(char c, size_t n)
{
    char *s = tn_malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void test_lengths(void **state)
{
    (void)state;
    tn_jid_t j;
    char *p1023 = repeat('a', 1023);
    char *p1024 = repeat('a', 1024);
    char *s;

    /* Localpart: 1023 ok, 1024 not. */
    s = tn_sprintf("%s@example.com", p1023);
    assert_int_equal(tn_jid_parse(s, &j), 0);
    assert_int_equal(strlen(j.node), 1023);
    tn_jid_release(&j);
    tn_free(s);
    s = tn_sprintf("%s@example.com", p1024);
    assert_int_equal(tn_jid_parse(s, &j), TN_EJID);
    tn_free(s);

    /* Resource: same. */
    s = tn_sprintf("a@example.com/%s", p1023);
    assert_int_equal(tn_jid_parse(s, &j), 0);
    assert_int_equal(strlen(j.resource), 1023);
    assert_int_equal(strlen(j.full), 1023 + 14);
    tn_jid_release(&j);
    tn_free(s);
    s = tn_sprintf("a@example.com/%s", p1024);
    assert_int_equal(tn_jid_parse(s, &j), TN_EJID);
    tn_free(s);

    /* Expansion past 1023 octets: U+FDFA is 3 octets, 33 after NFKC. */
    tn_free(p1024);
    p1024 = tn_malloc(3 * 40 + 1);
    for (int i = 0; i < 40; i++)
        memcpy(p1024 + 3 * i, "\xef\xb7\xba", 3);
    p1024[120] = '\0';
    s = tn_sprintf("a@example.com/%s", p1024);
    assert_int_equal(tn_jid_parse(s, &j), TN_EJID);
    tn_free(s);

    /* Domain labels: 63 ok, 64 not. */
    char *l63 = repeat('b', 63);
    char *l64 = repeat('b', 64);
    s = tn_sprintf("%s.com", l63);
    assert_int_equal(tn_jid_parse(s, &j), 0);
    assert_string_equal(j.domain, s);
    tn_jid_release(&j);
    tn_free(s);
    s = tn_sprintf("%s.com", l64);
    assert_int_equal(tn_jid_parse(s, &j), TN_EJID);
    tn_free(s);

    /* Whole domain: 253 octets ok, 254 not (3 * 64 + 61 = 253). */
    s = tn_sprintf("%s.%s.%s.%.61s", l63, l63, l63, l63);
    assert_int_equal(strlen(s), 253);
    assert_int_equal(tn_jid_parse(s, &j), 0);
    tn_jid_release(&j);
    tn_free(s);
    s = tn_sprintf("%s.%s.%s.%.62s", l63, l63, l63, l63);
    assert_int_equal(strlen(s), 254);
    assert_int_equal(tn_jid_parse(s, &j), TN_EJID);
    tn_free(s);
    /* ... counted without the trailing dot. */
    s = tn_sprintf("%s.%s.%s.%.61s.", l63, l63, l63, l63);
    assert_int_equal(tn_jid_parse(s, &j), 0);
    assert_int_equal(strlen(j.domain), 253);
    tn_jid_release(&j);
    tn_free(s);

    /* IDN labels count in A-label octets: 57 x U+00E9 encode to
     * "xn--" plus 59 octets (63 in all), 58 to 64. */
    char idn[2 * 58 + 8];
    for (int i = 0; i < 57; i++)
        memcpy(idn + 2 * i, "\xc3\xa9", 2);
    strcpy(idn + 114, ".com");
    assert_int_equal(tn_jid_parse(idn, &j), 0);
    assert_string_equal(j.domain, idn);
    tn_jid_release(&j);
    memcpy(idn + 114, "\xc3\xa9.com", 7);
    assert_int_equal(tn_jid_parse(idn, &j), TN_EJID);

    tn_free(l63);
    tn_free(l64);
    tn_free(p1023);
    tn_free(p1024);
}

static void test_single_part_prep(void **state)
{
    (void)state;
    char *s;

    s = tn_jid_nodeprep("JuLiet");
    assert_string_equal(s, "juliet");
    tn_free(s);
    s = tn_jid_resourceprep("Home");
    assert_string_equal(s, "Home");
    tn_free(s);
    s = tn_jid_nameprep("Example.COM.");
    assert_string_equal(s, "example.com");
    tn_free(s);
    s = tn_jid_nameprep("\xc3\x89XAMPLE.com");
    assert_string_equal(s, "\xc3\xa9xample.com");
    tn_free(s);

    assert_null(tn_jid_nodeprep(NULL));
    assert_null(tn_jid_nodeprep(""));
    assert_null(tn_jid_nameprep(NULL));
    assert_null(tn_jid_nameprep(""));
    assert_null(tn_jid_nameprep("a/b"));
    assert_null(tn_jid_nameprep("a@b"));
    assert_null(tn_jid_resourceprep(NULL));
    assert_null(tn_jid_resourceprep(""));
}

static void test_make(void **state)
{
    (void)state;
    tn_jid_t j;

    assert_int_equal(tn_jid_make("Romeo", "Example.NET", "Orchard", &j), 0);
    assert_string_equal(j.node, "romeo");
    assert_string_equal(j.domain, "example.net");
    assert_string_equal(j.resource, "Orchard");
    assert_string_equal(j.bare, "romeo@example.net");
    assert_string_equal(j.full, "romeo@example.net/Orchard");
    tn_jid_release(&j);

    assert_int_equal(tn_jid_make(NULL, "example.net", NULL, &j), 0);
    assert_null(j.node);
    assert_null(j.resource);
    assert_string_equal(j.bare, "example.net");
    assert_string_equal(j.full, "example.net");
    tn_jid_release(&j);

    /* The resource may hold anything Resourceprep allows, '/' included. */
    assert_int_equal(tn_jid_make("r", "example.net", "a/b@c", &j), 0);
    assert_string_equal(j.full, "r@example.net/a/b@c");
    tn_jid_release(&j);

    assert_int_equal(tn_jid_make("", "example.net", NULL, &j), TN_EJID);
    assert_null(j.domain);
    assert_int_equal(tn_jid_make(NULL, "example.net", "", &j), TN_EJID);
    assert_int_equal(tn_jid_make("r", NULL, NULL, &j), TN_EJID);
    assert_int_equal(tn_jid_make("r", "", NULL, &j), TN_EJID);
    assert_int_equal(tn_jid_make("r", "example.net/x", NULL, &j), TN_EJID);
    assert_int_equal(tn_jid_make("r@x", "example.net", NULL, &j), TN_EJID);
    assert_null(j.node);
}

static void test_copy_release(void **state)
{
    (void)state;
    tn_jid_t a, b;

    assert_int_equal(tn_jid_parse("Juliet@Example.com/Balcony", &a), 0);
    tn_jid_copy(&a, &b);
    assert_ptr_not_equal(a.full, b.full);
    assert_string_equal(b.node, "juliet");
    assert_string_equal(b.domain, "example.com");
    assert_string_equal(b.resource, "Balcony");
    assert_string_equal(b.bare, "juliet@example.com");
    assert_string_equal(b.full, "juliet@example.com/Balcony");
    tn_jid_release(&a);
    assert_null(a.node);
    assert_null(a.domain);
    assert_null(a.resource);
    assert_null(a.bare);
    assert_null(a.full);
    /* b survives a's release. */
    assert_string_equal(b.full, "juliet@example.com/Balcony");
    tn_jid_release(&b);

    assert_int_equal(tn_jid_parse("example.com", &a), 0);
    tn_jid_copy(&a, &b);
    assert_null(b.node);
    assert_null(b.resource);
    assert_string_equal(b.bare, "example.com");
    tn_jid_release(&a);
    tn_jid_release(&b);

    /* Releasing twice, or a NULL, is harmless. */
    tn_jid_release(&b);
    tn_jid_release(NULL);
}


/* The ASCII fast path gives what libidn gives, for every ASCII byte in
 * every position that matters. */
static void test_ascii_fast_path_matches_libidn(void **state)
{
    (void)state;
    for (int ch = 1; ch < 128; ch++) {
        for (int pos = 0; pos < 3; pos++) {
            char in[8] = "aBc";
            in[pos] = (char)ch;
            for (int node = 0; node < 2; node++) {
                char buf[64];
                snprintf(buf, sizeof buf, "%s", in);
                int ok = stringprep(buf, sizeof buf, 0,
                                    node ? stringprep_xmpp_nodeprep
                                         : stringprep_xmpp_resourceprep) ==
                             STRINGPREP_OK &&
                         buf[0];
                char *got = node ? tn_jid_nodeprep(in) : tn_jid_resourceprep(in);
                if (ok) {
                    if (!got || strcmp(got, buf) != 0)
                        fail_msg("byte %d pos %d node %d: want '%s' got '%s'",
                                 ch, pos, node, buf, got ? got : "(null)");
                } else if (got) {
                    fail_msg("byte %d pos %d node %d: accepted '%s'", ch, pos,
                             node, got);
                }
                tn_free(got);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ascii_fast_path_matches_libidn),
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_nodeprep_prohibited),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_single_part_prep),
        cmocka_unit_test(test_make),
        cmocka_unit_test(test_copy_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
