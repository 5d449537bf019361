/* test_pubsub_node.c -- unit tests for mod/pubsub_node.c: the node_config
 * form (defaults, round trip through the form the store keeps, refused
 * values, 'max'), publish-options matching, items (overwrite moves to
 * newest, trimming oldest first with the gone callback), subscriptions
 * and affiliations, and the access models that need no roster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mod/pubsub.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"
#include "xmpp/form.h"

static ps_service_t *svc_new(int pep)
{
    return ps_service_new(NULL, pep ? "juliet@capulet.lit" : "pubsub.lit",
                          "capulet.lit", pep ? "juliet" : PS_SERVICE_USER,
                          pep, 50);
}

/* A submitted node_config form with the given var/value pairs. */
static tn_stanza_t *form(const char *const *kv)
{
    tn_stanza_t *x = tn_form_new("submit", PS_FORM_CONFIG);
    for (; kv[0]; kv += 2)
        tn_form_field(x, kv[0], NULL, NULL, kv[1]);
    return x;
}

static void test_defaults(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0), *pep = svc_new(1);
    ps_config_t c;
    ps_config_defaults(svc, &c);
    assert_int_equal(c.access, PS_ACCESS_OPEN);
    assert_int_equal(c.max_items, 10);
    assert_int_equal(c.send_last, PS_LAST_ON_SUB);
    ps_config_release(&c);
    ps_config_defaults(pep, &c);
    assert_int_equal(c.access, PS_ACCESS_PRESENCE);
    assert_int_equal(c.max_items, 1);
    assert_int_equal(c.send_last, PS_LAST_ON_SUB_AND_PRESENCE);
    assert_true(c.persist && c.headline && c.deliver_payloads);
    ps_config_release(&c);
    ps_service_free(svc);
    ps_service_free(pep);
}

/* What the store keeps (the submitted form, serialized) reads back the
 * same. */
static void test_round_trip(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0);
    ps_config_t c;
    ps_config_defaults(svc, &c);
    static const char *const kv[] = {
        "pubsub#title", "Lines <&>", "pubsub#access_model", "roster",
        "pubsub#max_items", "max", "pubsub#notify_config", "true",
        "pubsub#notification_type", "normal", "pubsub#type", "urn:x",
        "pubsub#send_last_published_item", "never", NULL};
    tn_stanza_t *x = form(kv);
    tn_stanza_t *g = tn_form_field(x, "pubsub#roster_groups_allowed", NULL,
                                   NULL, "Friends");
    tn_form_add_value(g, "Family");
    const char *bad = NULL;
    assert_int_equal(ps_config_apply(svc, &c, x, &bad), 0);
    assert_int_equal(c.max_items, 50); /* 'max' is the service bound */
    tn_stanza_t *out = ps_config_form(svc, &c, "submit");
    char *xml = tn_stanza_to_string(out, NULL);
    tn_stanza_t *back = tn_xml_element_parse(xml, strlen(xml), PS_NS);
    assert_non_null(back);
    ps_config_t d;
    ps_config_defaults(svc, &d);
    assert_int_equal(ps_config_apply(svc, &d, back, &bad), 0);
    assert_string_equal(d.title, "Lines <&>");
    assert_string_equal(d.type, "urn:x");
    assert_int_equal(d.access, PS_ACCESS_ROSTER);
    assert_int_equal(d.max_items, 50);
    assert_int_equal(d.headline, 0);
    assert_int_equal(d.notify_config, 1);
    assert_int_equal(d.send_last, PS_LAST_NEVER);
    assert_int_equal(d.ngroups, 2);
    assert_string_equal(d.groups[1], "Family");
    ps_config_release(&c);
    ps_config_release(&d);
    tn_stanza_unref(x);
    tn_stanza_unref(out);
    tn_stanza_unref(back);
    tn_free(xml);
    ps_service_free(svc);
}

static void test_refused_values(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0);
    static const char *const bads[][2] = {
        {"pubsub#access_model", "everyone"},
        {"pubsub#max_items", "0"},
        {"pubsub#max_items", "51"},
        {"pubsub#max_items", "5x"},
        {"pubsub#max_items", ""},
        {"pubsub#persist_items", "yes"},
        {"pubsub#notification_type", "chat"},
        {"pubsub#publish_model", "anyone"},
        {"pubsub#send_last_published_item", "always"},
    };
    for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
        ps_config_t c;
        ps_config_defaults(svc, &c);
        const char *kv[] = {bads[i][0], bads[i][1], NULL};
        tn_stanza_t *x = form(kv);
        const char *bad = NULL;
        assert_int_equal(ps_config_apply(svc, &c, x, &bad), -1);
        assert_string_equal(bad, bads[i][0]);
        tn_stanza_unref(x);
        ps_config_release(&c);
    }
    ps_service_free(svc);
}

static void test_publish_options(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(1);
    ps_node_t *n = ps_node_new(svc, "urn:xmpp:bookmarks:1");
    static const char *const same[] = {"pubsub#persist_items", "1",
                                       "pubsub#access_model", "presence",
                                       "pubsub#max_items", "1", NULL};
    static const char *const same_words[] = {"pubsub#persist_items", "true",
                                             NULL};
    static const char *const other[] = {"pubsub#access_model", "whitelist",
                                        NULL};
    static const char *const unknown[] = {"pubsub#frobnicate", "1", NULL};
    static const char *const max[] = {"pubsub#max_items", "max", NULL};
    tn_stanza_t *x = form(same);
    assert_int_equal(ps_config_matches(n, x), 0);
    tn_stanza_unref(x);
    x = form(same_words);
    assert_int_equal(ps_config_matches(n, x), 0);
    tn_stanza_unref(x);
    x = form(other);
    assert_int_equal(ps_config_matches(n, x), -1);
    tn_stanza_unref(x);
    x = form(unknown);
    assert_int_equal(ps_config_matches(n, x), -1);
    tn_stanza_unref(x);
    x = form(max);
    assert_int_equal(ps_config_matches(n, x), -1);
    n->cfg.max_items = svc->max_items;
    assert_int_equal(ps_config_matches(n, x), 0);
    tn_stanza_unref(x);
    ps_service_free(svc);
}

static char gone_ids[64];

static void note_gone(ps_node_t *n, ps_item_t *it)
{
    (void)n;
    strcat(gone_ids, it->id);
}

static tn_stanza_t *item(const char *id)
{
    tn_stanza_t *i = tn_stanza_new("item", PS_NS);
    tn_stanza_set_attr(i, "id", id);
    return i;
}

static void test_items(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0);
    ps_node_t *n = ps_node_new(svc, "news");
    n->cfg.max_items = 3;
    gone_ids[0] = 0;
    const char *ids[] = {"a", "b", "c", "b", "d"};
    for (size_t i = 0; i < 5; i++)
        ps_node_publish(n, ids[i], "romeo@montague.lit", item(ids[i]),
                        note_gone);
    /* b moved to newest when published again; a went first. */
    assert_int_equal(n->nitems, 3);
    assert_string_equal(n->items[0]->id, "c");
    assert_string_equal(n->items[1]->id, "b");
    assert_string_equal(n->items[2]->id, "d");
    assert_string_equal(gone_ids, "a");
    assert_true(n->items[2]->seq > n->items[1]->seq);
    n->cfg.max_items = 1;
    ps_node_trim(n, note_gone);
    assert_string_equal(gone_ids, "acb");
    assert_non_null(ps_node_item(n, "d"));
    assert_null(ps_node_item(n, "c"));
    ps_service_free(svc);
}

static void test_subs_and_affs(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0);
    ps_node_t *n = ps_node_new(svc, "news");
    ps_sub_t *s1 = ps_node_sub_add(n, "romeo@montague.lit", PS_SUB_SUBSCRIBED);
    ps_sub_t *s2 = ps_node_sub_add(n, "romeo@montague.lit", PS_SUB_SUBSCRIBED);
    ps_node_sub_add(n, "romeo@montague.lit/orchard", PS_SUB_PENDING);
    assert_string_not_equal(s1->subid, s2->subid);
    size_t count;
    assert_ptr_equal(ps_node_sub_of(n, "romeo@montague.lit", &count), s1);
    assert_int_equal(count, 2);
    assert_ptr_equal(ps_node_sub_by_id(n, s2->subid), s2);
    ps_node_sub_del(n, s1);
    assert_ptr_equal(ps_node_sub_of(n, "romeo@montague.lit", &count), s2);
    assert_int_equal(count, 1);

    ps_aff_t a;
    assert_int_equal(ps_aff_parse("publish-only", &a), 0);
    assert_int_equal(a, PS_AFF_PUBLISH_ONLY);
    assert_int_equal(ps_aff_parse("admin", &a), -1);
    assert_int_equal(ps_aff_parse(NULL, &a), -1);
    ps_node_set_aff(n, "nurse@capulet.lit", PS_AFF_PUBLISHER);
    assert_int_equal(ps_node_aff(n, "nurse@capulet.lit"), PS_AFF_PUBLISHER);
    ps_node_set_aff(n, "nurse@capulet.lit", PS_AFF_NONE);
    assert_int_equal(ps_node_aff(n, "nurse@capulet.lit"), PS_AFF_NONE);
    assert_int_equal(n->affs.count, 0);
    ps_service_free(svc);

    /* PEP: the account owns its nodes without a stored affiliation. */
    ps_service_t *pep = svc_new(1);
    ps_node_t *p = ps_node_new(pep, "urn:xmpp:avatar:data");
    assert_int_equal(ps_node_aff(p, "juliet@capulet.lit"), PS_AFF_OWNER);
    assert_int_equal(ps_node_aff(p, "romeo@montague.lit"), PS_AFF_NONE);
    ps_service_free(pep);
}

/* The access models that need no roster, and outcasts. */
static void test_access(void **state)
{
    (void)state;
    ps_service_t *svc = svc_new(0);
    ps_node_t *n = ps_node_new(svc, "news");
    tn_jid_t who;
    assert_int_equal(tn_jid_parse("romeo@montague.lit/orchard", &who), 0);
    const char *type, *app;
    n->cfg.access = PS_ACCESS_OPEN;
    assert_null(ps_access_check(n, &who, NULL, 0, &type, &app));
    n->cfg.access = PS_ACCESS_PRESENCE;
    assert_ptr_equal(ps_access_check(n, &who, NULL, 0, &type, &app),
                     PS_NEED_ROSTER);
    assert_string_equal(ps_access_check(n, &who, NULL, 1, &type, &app),
                        "not-authorized");
    assert_string_equal(app, "presence-subscription-required");
    n->cfg.access = PS_ACCESS_WHITELIST;
    assert_string_equal(ps_access_check(n, &who, NULL, 0, &type, &app),
                        "not-allowed");
    assert_string_equal(type, "cancel");
    assert_string_equal(app, "closed-node");
    ps_node_set_aff(n, "romeo@montague.lit", PS_AFF_MEMBER);
    assert_null(ps_access_check(n, &who, NULL, 0, &type, &app));
    ps_node_set_aff(n, "romeo@montague.lit", PS_AFF_PUBLISH_ONLY);
    assert_string_equal(ps_access_check(n, &who, NULL, 0, &type, &app),
                        "forbidden");
    n->cfg.access = PS_ACCESS_AUTHORIZE;
    ps_node_set_aff(n, "romeo@montague.lit", PS_AFF_NONE);
    assert_string_equal(ps_access_check(n, &who, NULL, 0, &type, &app),
                        "not-authorized");
    assert_string_equal(app, "not-subscribed");
    ps_sub_t *s = ps_node_sub_add(n, "romeo@montague.lit", PS_SUB_PENDING);
    assert_non_null(ps_access_check(n, &who, NULL, 0, &type, &app));
    s->state = PS_SUB_SUBSCRIBED;
    assert_null(ps_access_check(n, &who, NULL, 0, &type, &app));
    n->cfg.access = PS_ACCESS_OPEN;
    ps_node_set_aff(n, "romeo@montague.lit", PS_AFF_OUTCAST);
    assert_string_equal(ps_access_check(n, &who, NULL, 0, &type, &app),
                        "forbidden");
    assert_string_equal(type, "auth");
    tn_jid_release(&who);
    ps_service_free(svc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refused_values),
        cmocka_unit_test(test_publish_options),
        cmocka_unit_test(test_items),
        cmocka_unit_test(test_subs_and_affs),
        cmocka_unit_test(test_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
