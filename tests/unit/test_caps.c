/* test_caps.c -- unit tests for xmpp/caps.c, the XEP-0115 verification
 * string: the two worked examples of XEP-0115 5.2 and 5.3 (S and ver
 * written out from the XEP), the ill-formed cases of 5.4, skipped forms,
 * sort order (field-wise, by bytes) and the empty query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xmpp/caps.h"

#define DI "http://jabber.org/protocol/disco#info"
#define QUERY "<query xmlns='" DI "'>"
#define HIDDEN(ft)                                                            \
    "<field var='FORM_TYPE' type='hidden'><value>" ft "</value></field>"

typedef struct caps_case {
    const char *name;
    const char *xml; /* a disco#info <query/> */
    const char *s;   /* expected S, or NULL when ill-formed */
    const char *ver; /* expected ver, or NULL: not checked */
} caps_case_t;

/* clang-format off */
static const caps_case_t caps_cases[] = {
    /* XEP-0115 5.2 Simple Generation Example. */
    {"xep0115-5.2",
     QUERY
     "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
     "<feature var='http://jabber.org/protocol/caps'/>"
     "<feature var='http://jabber.org/protocol/disco#info'/>"
     "<feature var='http://jabber.org/protocol/disco#items'/>"
     "<feature var='http://jabber.org/protocol/muc'/>"
     "</query>",
     "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
     "http://jabber.org/protocol/disco#info<"
     "http://jabber.org/protocol/disco#items<"
     "http://jabber.org/protocol/muc<",
     "QgayPKawpkPSDYmwT/WM94uAlu0="},
    /* The same, features shuffled: order in the query does not matter. */
    {"xep0115-5.2-shuffled",
     QUERY
     "<feature var='http://jabber.org/protocol/muc'/>"
     "<feature var='http://jabber.org/protocol/disco#items'/>"
     "<identity category='client' name='Exodus 0.9.1' type='pc'/>"
     "<feature var='http://jabber.org/protocol/disco#info'/>"
     "<feature var='http://jabber.org/protocol/caps'/>"
     "</query>",
     "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
     "http://jabber.org/protocol/disco#info<"
     "http://jabber.org/protocol/disco#items<"
     "http://jabber.org/protocol/muc<",
     "QgayPKawpkPSDYmwT/WM94uAlu0="},
    /* XEP-0115 5.3 Complex Generation Example. */
    {"xep0115-5.3",
     QUERY
     "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
     "<identity xml:lang='el' category='client' name='\xce\xa8 0.11'"
     " type='pc'/>"
     "<feature var='http://jabber.org/protocol/caps'/>"
     "<feature var='http://jabber.org/protocol/disco#info'/>"
     "<feature var='http://jabber.org/protocol/disco#items'/>"
     "<feature var='http://jabber.org/protocol/muc'/>"
     "<x xmlns='jabber:x:data' type='result'>"
     HIDDEN("urn:xmpp:dataforms:softwareinfo")
     "<field var='ip_version' type='text-multi'>"
     "<value>ipv4</value><value>ipv6</value></field>"
     "<field var='os'><value>Mac</value></field>"
     "<field var='os_version'><value>10.5.1</value></field>"
     "<field var='software'><value>Psi</value></field>"
     "<field var='software_version'><value>0.11</value></field>"
     "</x></query>",
     "client/pc/el/\xce\xa8 0.11<client/pc/en/Psi 0.11<"
     "http://jabber.org/protocol/caps<"
     "http://jabber.org/protocol/disco#info<"
     "http://jabber.org/protocol/disco#items<"
     "http://jabber.org/protocol/muc<"
     "urn:xmpp:dataforms:softwareinfo<ip_version<ipv4<ipv6<os<Mac<"
     "os_version<10.5.1<software<Psi<software_version<0.11<",
     "q07IKJEyjvHSyhy//CH0CxmKi8w="},
    /* SHA-1 of the empty string. */
    {"empty", QUERY "</query>", "", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="},
    /* Identities sort field by field: "a" before "a-b" although '/'
     * (0x2f) sorts after '-' (0x2d); then type, lang, name. */
    {"identity-order",
     QUERY
     "<identity category='a-b' type='x'/>"
     "<identity category='a' type='y' name='2'/>"
     "<identity category='a' type='y' name='1'/>"
     "<identity category='a' type='x' xml:lang='fr'/>"
     "<identity category='a' type='x'/>"
     "</query>",
     "a/x//<a/x/fr/<a/y//1<a/y//2<a-b/x//<", NULL},
    /* Bytes, not letters: upper case before lower case. */
    {"feature-bytes",
     QUERY "<feature var='b'/><feature var='a'/><feature var='B'/></query>",
     "B<a<b<", NULL},
    /* Forms sorted by FORM_TYPE, fields by var, values by text; fields
     * without var, forms without a hidden FORM_TYPE and foreign children
     * are left out. */
    {"forms",
     QUERY
     "<x xmlns='jabber:x:data' type='result'>" HIDDEN("urn:z")
     "<field var='k'><value>2</value><value>10</value></field>"
     "<field var='a'><value>v</value></field>"
     "<field type='fixed'><value>ignored</value></field></x>"
     "<x xmlns='jabber:x:data' type='result'>" HIDDEN("urn:a")
     "<field var='e'/></x>"
     "<x xmlns='jabber:x:data' type='result'>"
     "<field var='FORM_TYPE'><value>urn:not-hidden</value></field>"
     "<field var='q'><value>1</value></field></x>"
     "<x xmlns='jabber:x:data' type='result'>"
     "<field var='no-form-type'><value>1</value></field></x>"
     "<item xmlns='urn:other' var='x'/>"
     "<feature var='f'/>"
     "</query>",
     "f<urn:a<e<urn:z<a<v<k<10<2<", NULL},
    /* A FORM_TYPE repeated with the same value is one FORM_TYPE. */
    {"form-type-twice-same",
     QUERY "<x xmlns='jabber:x:data' type='result'>"
     "<field var='FORM_TYPE' type='hidden'><value>urn:a</value>"
     "<value>urn:a</value></field></x></query>",
     "urn:a<", NULL},
    /* XEP-0115 5.4: ill-formed. */
    {"dup-identity",
     QUERY "<identity category='c' type='t' name='n'/>"
     "<identity category='c' type='t' name='n'/></query>", NULL, NULL},
    {"dup-feature",
     QUERY "<feature var='a'/><feature var='b'/><feature var='a'/></query>",
     NULL, NULL},
    {"dup-form-type",
     QUERY "<x xmlns='jabber:x:data' type='result'>" HIDDEN("urn:a") "</x>"
     "<x xmlns='jabber:x:data' type='result'>" HIDDEN("urn:a")
     "<field var='b'/></x></query>", NULL, NULL},
    {"form-type-differs",
     QUERY "<x xmlns='jabber:x:data' type='result'>"
     "<field var='FORM_TYPE' type='hidden'><value>urn:a</value>"
     "<value>urn:b</value></field></x></query>", NULL, NULL},
    {"identity-without-type",
     QUERY "<identity category='client'/></query>", NULL, NULL},
    {"feature-without-var", QUERY "<feature/></query>", NULL, NULL},
};
/* clang-format on */

static tn_stanza_t *caps_parse(const char *xml)
{
    tn_stanza_t *q = tn_xml_element_parse(xml, strlen(xml), DI);
    assert_non_null(q);
    return q;
}

static void test_caps_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof caps_cases / sizeof caps_cases[0]; i++) {
        const caps_case_t *c = &caps_cases[i];
        print_message("case %s\n", c->name);
        tn_stanza_t *q = caps_parse(c->xml);
        tn_buf_t s;
        tn_buf_init(&s);
        int rc = tn_caps_string(q, &s);
        int err = 1;
        char *ver = tn_caps_ver(q, &err);
        if (c->s) {
            assert_int_equal(rc, 0);
            assert_int_equal(err, 0);
            assert_int_equal(s.len, strlen(c->s));
            assert_memory_equal(s.len ? s.data : "", c->s, s.len);
            assert_non_null(ver);
            if (c->ver)
                assert_string_equal(ver, c->ver);
        } else {
            assert_int_equal(rc, TN_EINVAL);
            assert_int_equal(err, TN_EINVAL);
            assert_null(ver);
        }
        tn_free(ver);
        tn_buf_release(&s);
        tn_stanza_unref(q);
    }
}

/* Different info gives a different ver; err may be NULL. */
static void test_caps_ver_differs(void **state)
{
    (void)state;
    tn_stanza_t *a = caps_parse(QUERY "<feature var='a'/></query>");
    tn_stanza_t *b = caps_parse(QUERY "<feature var='b'/></query>");
    char *va = tn_caps_ver(a, NULL), *vb = tn_caps_ver(b, NULL);
    assert_non_null(va);
    assert_non_null(vb);
    assert_int_equal(strlen(va), 28); /* 20 bytes in base64 */
    assert_string_not_equal(va, vb);
    tn_free(va);
    tn_free(vb);
    tn_stanza_unref(a);
    tn_stanza_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_table),
        cmocka_unit_test(test_caps_ver_differs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
