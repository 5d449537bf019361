/* test_stanza.c -- unit tests for xml/stanza.c: reference counting, attribute
 * and child manipulation, text merging, deep copies, lookups, and the
 * serializer's namespace, prefix, escaping and cleaning rules (exact output
 * strings, table driven). Parse/serialize round trips are in
 * test_parser.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xml/stanza.h"

static void test_new_ref_unref(void **state)
{
    (void)state;
    tn_stanza_t *st = tn_stanza_new("message", TN_NS_CLIENT);
    assert_int_equal(st->refs, 1);
    assert_string_equal(st->name, "message");
    assert_string_equal(st->ns, TN_NS_CLIENT);
    assert_null(st->parent);
    assert_ptr_equal(tn_stanza_ref(st), st);
    assert_int_equal(st->refs, 2);
    tn_stanza_unref(st);
    assert_int_equal(st->refs, 1);
    tn_stanza_unref(st);
    tn_stanza_unref(NULL);
}

static void test_attrs(void **state)
{
    (void)state;
    tn_stanza_t *st = tn_stanza_new("iq", TN_NS_CLIENT);
    assert_null(tn_stanza_attr(st, "type"));
    tn_stanza_set_attr(st, "type", "get");
    tn_stanza_set_attr(st, "id", "a1");
    tn_stanza_set_attr(st, "xml:lang", "en");
    assert_int_equal(st->nattrs, 3);
    assert_string_equal(tn_stanza_attr(st, "type"), "get");
    assert_string_equal(tn_stanza_attr(st, "id"), "a1");
    assert_string_equal(tn_stanza_attr(st, "xml:lang"), "en");
    /* Replace, including with its own value. */
    tn_stanza_set_attr(st, "type", "set");
    assert_string_equal(tn_stanza_attr(st, "type"), "set");
    tn_stanza_set_attr(st, "type", tn_stanza_attr(st, "type"));
    assert_string_equal(tn_stanza_attr(st, "type"), "set");
    assert_int_equal(st->nattrs, 3);
    /* Remove keeps the others in order. */
    tn_stanza_set_attr(st, "type", NULL);
    assert_null(tn_stanza_attr(st, "type"));
    assert_int_equal(st->nattrs, 2);
    assert_string_equal(st->attrs[0].name, "id");
    assert_string_equal(st->attrs[1].name, "xml:lang");
    tn_stanza_set_attr(st, "nonexistent", NULL);
    assert_int_equal(st->nattrs, 2);
    /* Many attributes grow the array. */
    for (int i = 0; i < 40; i++) {
        char n[16];
        snprintf(n, sizeof n, "a%d", i);
        tn_stanza_set_attr(st, n, n);
    }
    assert_int_equal(st->nattrs, 42);
    assert_string_equal(tn_stanza_attr(st, "a39"), "a39");
    tn_stanza_unref(st);
}

static void test_children_and_text(void **state)
{
    (void)state;
    tn_stanza_t *st = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_t *body = tn_stanza_add_child(st, "body", NULL);
    assert_string_equal(body->ns, TN_NS_CLIENT);
    assert_ptr_equal(body->parent, st);
    tn_stanza_add_text(body, "hello", 5);
    tn_stanza_add_text(body, ", world", 7);
    tn_stanza_add_text(body, "", 0);
    assert_int_equal(body->nkids, 1);
    assert_null(body->kids[0]->name);
    assert_int_equal(body->kids[0]->text_len, 12);
    assert_string_equal(body->kids[0]->text, "hello, world");
    tn_stanza_t *x = tn_stanza_add_child(st, "x", "jabber:x:data");
    tn_stanza_add_text(st, "ab", 2);
    tn_stanza_t *y = tn_stanza_add_child(st, "body", "urn:other");
    tn_stanza_add_text(st, "cd", 2);
    assert_int_equal(st->nkids, 5);
    assert_int_equal(tn_stanza_nelements(st), 3);

    assert_ptr_equal(tn_stanza_child(st, "body", NULL), body);
    assert_ptr_equal(tn_stanza_child(st, "body", "urn:other"), y);
    assert_ptr_equal(tn_stanza_child(st, NULL, "jabber:x:data"), x);
    assert_ptr_equal(tn_stanza_child(st, NULL, NULL), body);
    assert_null(tn_stanza_child(st, "nope", NULL));
    assert_null(tn_stanza_child(st, "x", TN_NS_CLIENT));

    char *t = tn_stanza_text(st);
    assert_string_equal(t, "abcd");
    tn_free(t);
    t = tn_stanza_child_text(st, "body", TN_NS_CLIENT);
    assert_string_equal(t, "hello, world");
    tn_free(t);
    t = tn_stanza_child_text(st, "x", NULL);
    assert_string_equal(t, "");
    tn_free(t);
    assert_null(tn_stanza_child_text(st, "missing", NULL));

    tn_stanza_remove(st, x);
    assert_int_equal(st->nkids, 4);
    assert_null(tn_stanza_child(st, "x", NULL));
    assert_ptr_equal(st->kids[1]->name, NULL);
    tn_stanza_remove(st, st->kids[1]); /* a text node */
    assert_int_equal(st->nkids, 3);
    t = tn_stanza_text(st);
    assert_string_equal(t, "cd");
    tn_free(t);
    tn_stanza_unref(st);
}

static void test_copy(void **state)
{
    (void)state;
    tn_stanza_t *st = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(st, "id", "1");
    tn_stanza_t *q = tn_stanza_add_child(st, "query", "jabber:iq:roster");
    tn_stanza_t *item = tn_stanza_add_child(q, "item", NULL);
    tn_stanza_set_attr(item, "jid", "a@b");
    tn_stanza_add_text(item, "txt", 3);
    tn_stanza_ref(st);

    tn_stanza_t *c = tn_stanza_copy(q);
    assert_int_equal(c->refs, 1);
    assert_null(c->parent);
    assert_string_equal(c->name, "query");
    assert_string_equal(c->ns, "jabber:iq:roster");
    tn_stanza_t *ci = tn_stanza_child(c, "item", "jabber:iq:roster");
    assert_non_null(ci);
    assert_ptr_not_equal(ci, item);
    assert_ptr_equal(ci->parent, c);
    assert_string_equal(tn_stanza_attr(ci, "jid"), "a@b");
    tn_stanza_set_attr(ci, "jid", "changed");
    assert_string_equal(tn_stanza_attr(item, "jid"), "a@b");
    char *t = tn_stanza_text(ci);
    assert_string_equal(t, "txt");
    tn_free(t);

    /* add_copy from another tree. */
    tn_stanza_t *dst = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_t *added = tn_stanza_add_copy(dst, q);
    assert_ptr_equal(added->parent, dst);
    assert_ptr_not_equal(added, q);
    assert_int_equal(tn_stanza_nelements(added), 1);
    tn_stanza_add_text(dst, "a", 1);
    tn_stanza_t *tx = tn_stanza_add_copy(dst, item->kids[0]);
    assert_null(tx->name);
    assert_string_equal(tx->text, "atxt"); /* merged with adjacent text */
    assert_int_equal(dst->nkids, 2);

    tn_stanza_unref(dst);
    tn_stanza_unref(c);
    tn_stanza_unref(st);
    tn_stanza_unref(st);
}

/* Builds a test tree. */
typedef tn_stanza_t *(*build_fn)(void);

static tn_stanza_t *build_message(void)
{
    tn_stanza_t *st = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(st, "to", "juliet@example.com");
    tn_stanza_set_attr(st, "type", "chat");
    tn_stanza_t *b = tn_stanza_add_child(st, "body", NULL);
    const char *t = "a & b < c > d 'q' \"dq\"";
    tn_stanza_add_text(b, t, strlen(t));
    return st;
}

static tn_stanza_t *build_attr_escape(void)
{
    tn_stanza_t *st = tn_stanza_new("x", "urn:x");
    tn_stanza_set_attr(st, "v", "<&>'\"");
    return st;
}

static tn_stanza_t *build_stream_error(void)
{
    tn_stanza_t *st = tn_stanza_new("error", TN_NS_STREAM);
    tn_stanza_add_child(st, "host-unknown", TN_NS_STREAMS);
    return st;
}

static tn_stanza_t *build_features(void)
{
    tn_stanza_t *st = tn_stanza_new("features", TN_NS_STREAM);
    tn_stanza_t *tls = tn_stanza_add_child(st, "starttls", TN_NS_TLS);
    tn_stanza_add_child(tls, "required", NULL);
    tn_stanza_add_child(st, "c", TN_NS_CLIENT);
    return st;
}

static tn_stanza_t *build_nested_ns(void)
{
    tn_stanza_t *st = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_t *q = tn_stanza_add_child(st, "query", "jabber:iq:roster");
    tn_stanza_add_child(q, "item", NULL);
    tn_stanza_add_child(q, "back", TN_NS_CLIENT);
    tn_stanza_add_child(st, "plain", "");
    return st;
}

static tn_stanza_t *build_qualified_attrs(void)
{
    tn_stanza_t *st = tn_stanza_new("presence", TN_NS_CLIENT);
    tn_stanza_set_attr(st, "xml:lang", "de");
    tn_stanza_set_attr(st, "id", "p1");
    /* Qualified attributes are built by hand; the API sets unqualified. */
    tn_attr_t extra[3] = {
        {tn_strdup("a"), tn_strdup("urn:one"), tn_strdup("1")},
        {tn_strdup("b"), tn_strdup("urn:two"), tn_strdup("2")},
        {tn_strdup("c"), tn_strdup("urn:one"), tn_strdup("3")},
    };
    st->attrs = tn_realloc(st->attrs, 5 * sizeof *st->attrs);
    memcpy(st->attrs + 2, extra, sizeof extra);
    st->nattrs = st->attrs_cap = 5;
    return st;
}

static tn_stanza_t *build_controls(void)
{
    tn_stanza_t *st = tn_stanza_new("body", TN_NS_CLIENT);
    tn_stanza_set_attr(st, "a", "t\tn\nr\r\x01z");
    const char t[] = "t\tn\nr\r\x01z\x7f";
    tn_stanza_add_text(st, t, sizeof t - 1);
    return st;
}

static tn_stanza_t *build_bad_utf8(void)
{
    tn_stanza_t *st = tn_stanza_new("body", TN_NS_CLIENT);
    /* Valid 2-, 3- and 4-byte sequences survive; a lone 0xff, a truncated
     * sequence, an overlong form, a surrogate and U+FFFF do not. */
    const char s[] = "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xff|\xe2\x82|"
                     "\xc0\xaf|\xed\xa0\x80|\xef\xbf\xbf|";
    tn_stanza_add_text(st, s, sizeof s - 1);
    return st;
}

/* Found by fuzz_xml: a peer may send an element in the XML namespace
 * (<xml:foo/>); it must come out with the predeclared xml: prefix, as
 * xmlns='http://www.w3.org/XML/1998/namespace' is not well-formed. */
static tn_stanza_t *build_xml_ns_element(void)
{
    tn_stanza_t *st = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_t *x = tn_stanza_add_child(st, "foo", TN_NS_XML);
    tn_stanza_set_attr(x, "a", "1");
    tn_stanza_add_child(x, "bar", NULL); /* also in the XML namespace */
    tn_stanza_add_child(x, "body", TN_NS_CLIENT);
    return st;
}

static tn_stanza_t *build_empty(void)
{
    return tn_stanza_new("ping", TN_NS_PING);
}

struct ser_case {
    const char *what;
    build_fn build;
    const char *outer;
    const char *want;
};

static const struct ser_case ser_cases[] = {
    {"message in context", build_message, TN_NS_CLIENT,
     "<message to='juliet@example.com' type='chat'><body>a &amp; b &lt; c "
     "&gt; d 'q' \"dq\"</body></message>"},
    {"message without context", build_message, NULL,
     "<message xmlns='jabber:client' to='juliet@example.com' type='chat'>"
     "<body>a &amp; b &lt; c &gt; d 'q' \"dq\"</body></message>"},
    {"attribute escaping", build_attr_escape, "urn:x",
     "<x v='&lt;&amp;&gt;&apos;&quot;'/>"},
    {"stream error", build_stream_error, TN_NS_CLIENT,
     "<stream:error><host-unknown "
     "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"},
    {"stream features", build_features, TN_NS_CLIENT,
     "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
     "<required/></starttls><c/></stream:features>"},
    {"nested namespaces", build_nested_ns, TN_NS_CLIENT,
     "<iq><query xmlns='jabber:iq:roster'><item/><back "
     "xmlns='jabber:client'/></query><plain xmlns=''/></iq>"},
    {"qualified attributes", build_qualified_attrs, TN_NS_CLIENT,
     "<presence xml:lang='de' id='p1' xmlns:a2='urn:one' a2:a='1' "
     "xmlns:a3='urn:two' a3:b='2' a2:c='3'/>"},
    {"control characters", build_controls, TN_NS_CLIENT,
     "<body a='t&#9;n&#10;r&#13;z'>t\tn\nr&#13;z\x7f</body>"},
    {"invalid utf-8", build_bad_utf8, TN_NS_CLIENT,
     "<body>\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xef\xbf\xbd|"
     "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|</body>"},
    {"empty element", build_empty, TN_NS_CLIENT,
     "<ping xmlns='urn:xmpp:ping'/>"},
    {"empty element in its ns", build_empty, TN_NS_PING, "<ping/>"},
    {"element in the XML namespace", build_xml_ns_element, TN_NS_CLIENT,
     "<message><xml:foo a='1'><xml:bar/><body/></xml:foo></message>"},
};

static void test_serialize_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof ser_cases / sizeof ser_cases[0]; i++) {
        const struct ser_case *c = &ser_cases[i];
        tn_stanza_t *st = c->build();
        char *s = tn_stanza_to_string(st, c->outer);
        if (strcmp(s, c->want) != 0)
            print_error("case '%s':\n got  %s\n want %s\n", c->what, s,
                        c->want);
        assert_string_equal(s, c->want);
        tn_free(s);
        /* serialize appends. */
        tn_buf_t b;
        tn_buf_init(&b);
        tn_buf_puts(&b, "X");
        tn_stanza_serialize(st, c->outer, &b);
        assert_int_equal(b.len, strlen(c->want) + 1);
        assert_memory_equal(b.data + 1, c->want, b.len - 1);
        tn_buf_release(&b);
        tn_stanza_unref(st);
    }
}

static char *ser(const tn_stanza_t *st)
{
    return tn_stanza_to_string(st, TN_NS_CLIENT);
}

/* The fan-out cache: the same bytes as a fresh serialization with the
 * current 'to' first, dropped by any other change, not copied. */
static void test_wire_cache(void **state)
{
    (void)state;
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(m, "type", "groupchat");
    tn_stanza_set_attr(m, "to", "a@x/1");
    tn_stanza_set_attr(m, "from", "room@conf.x/n'ick");
    tn_stanza_t *b = tn_stanza_add_child(m, "body", NULL);
    tn_stanza_add_text(b, "hi <there>", 10);
    tn_stanza_wire_cache(m);
    assert_non_null(m->wire);
    char *s = ser(m);
    assert_string_equal(s, "<message to='a@x/1' type='groupchat' "
                           "from='room@conf.x/n&apos;ick'><body>hi "
                           "&lt;there&gt;</body></message>");
    tn_free(s);
    /* Another recipient: only 'to' changes, the cache stays. */
    tn_stanza_set_attr(m, "to", "b@x/&");
    assert_non_null(m->wire);
    s = ser(m);
    assert_string_equal(s, "<message to='b@x/&amp;' type='groupchat' "
                           "from='room@conf.x/n&apos;ick'><body>hi "
                           "&lt;there&gt;</body></message>");
    tn_free(s);
    /* No 'to' at all. */
    tn_stanza_set_attr(m, "to", NULL);
    s = ser(m);
    assert_string_equal(s, "<message type='groupchat' "
                           "from='room@conf.x/n&apos;ick'><body>hi "
                           "&lt;there&gt;</body></message>");
    tn_free(s);
    /* Other outer namespaces never use it. */
    s = tn_stanza_to_string(m, NULL);
    assert_non_null(strstr(s, "xmlns='jabber:client'"));
    tn_free(s);
    /* A copy does not carry the cache. */
    tn_stanza_t *c = tn_stanza_copy(m);
    assert_null(c->wire);
    tn_stanza_unref(c);
    /* Each other change drops it, and the output follows the tree. */
    tn_stanza_set_attr(m, "type", "chat");
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_set_attr(b, "xml:lang", "en"); /* below the root */
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_add_text(b, "!", 1);
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_t *x = tn_stanza_add_child(m, "x", "urn:x");
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_add_copy(x, b);
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_remove(m, x);
    assert_null(m->wire);
    tn_stanza_wire_cache(m);
    tn_stanza_set_attr(m, "to", "c@x");
    s = ser(m);
    assert_string_equal(s, "<message to='c@x' type='chat' "
                           "from='room@conf.x/n&apos;ick'><body "
                           "xml:lang='en'>hi &lt;there&gt;!</body>"
                           "</message>");
    tn_free(s);
    tn_stanza_unref(m);
    /* Only roots in jabber:client are cached. */
    tn_stanza_t *o = tn_stanza_new("query", "urn:x");
    tn_stanza_wire_cache(o);
    assert_null(o->wire);
    tn_stanza_unref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_ref_unref),
        cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_children_and_text),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_serialize_table),
        cmocka_unit_test(test_wire_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
