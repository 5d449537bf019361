/* test_element.c -- tn_xml_element_parse: stored XML read back with the
 * stream parser's rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml/element.h"
#include "xml/ns.h"

static tn_stanza_t *parse(const char *s)
{
    return tn_xml_element_parse(s, strlen(s), TN_NS_CLIENT);
}

static void test_good(void **state)
{
    (void)state;
    /* Short elements too: the wrapper must not count against them. */
    tn_stanza_t *st = parse("<a/>");
    assert_non_null(st);
    assert_string_equal(st->name, "a");
    assert_string_equal(st->ns, TN_NS_CLIENT);
    tn_stanza_unref(st);
    st = parse("<message to='x@y'><body>hi &amp; bye</body>"
               "<q xmlns='urn:x'/></message>");
    assert_non_null(st);
    assert_string_equal(tn_stanza_attr(st, "to"), "x@y");
    char *body = tn_stanza_child_text(st, "body", NULL);
    assert_string_equal(body, "hi & bye");
    free(body);
    assert_non_null(tn_stanza_child(st, "q", "urn:x"));
    tn_stanza_unref(st);
    st = tn_xml_element_parse("<item jid='a@b'/>", 17, TN_NS_ROSTER);
    assert_non_null(st);
    assert_string_equal(st->ns, TN_NS_ROSTER);
    tn_stanza_unref(st);
}

static void test_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                              /* nothing */
        "<a>",                           /* unclosed */
        "<a/><b/>",                      /* two elements */
        "<a/>tail",                      /* text after */
        "text",                          /* no element */
        "<!-- c --><a/>",                /* comment: restricted */
        "<?pi x?><a/>",                  /* processing instruction */
        "<a>&ent;</a>",                  /* undefined entity */
        "<a b='1' b='2'/>",              /* duplicate attribute */
        "</stream:stream><a/>",          /* breaking out of the wrapper */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tn_stanza_t *st = parse(bad[i]);
        if (st)
            fail_msg("accepted: %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
