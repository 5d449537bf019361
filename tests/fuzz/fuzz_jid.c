/* fuzz_jid.c -- libFuzzer target for tn_jid_parse (xmpp/jid.c).
 *
 * The input, cut at its first NUL (tn_jid_parse takes a C string), is
 * parsed. Oracles: a failed parse leaves *out zeroed; a parsed JID has a
 * domain, bare and full that agree with its parts; parsing its full form
 * again succeeds with exactly the same parts (canonicalization is
 * idempotent); tn_jid_make on the parts and each single-part preparation
 * give the same canonical strings back; tn_jid_copy copies them. */
#include <string.h>

#include "targets.h"
#include "util/mem.h"
#include "xmpp/jid.h"

static int jid_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int jid_eq(const tn_jid_t *a, const tn_jid_t *b)
{
    return jid_str_eq(a->node, b->node) && jid_str_eq(a->domain, b->domain) &&
           jid_str_eq(a->resource, b->resource) &&
           jid_str_eq(a->bare, b->bare) && jid_str_eq(a->full, b->full);
}

static int jid_is_zero(const tn_jid_t *j)
{
    return !j->node && !j->domain && !j->resource && !j->bare && !j->full;
}

static void jid_report(const char *what, const tn_jid_t *a, const tn_jid_t *b)
{
    fprintf(stderr, "first:  node=%s domain=%s resource=%s full=%s\n",
            a->node ? a->node : "(null)", a->domain ? a->domain : "(null)",
            a->resource ? a->resource : "(null)",
            a->full ? a->full : "(null)");
    if (b)
        fprintf(stderr, "second: node=%s domain=%s resource=%s full=%s\n",
                b->node ? b->node : "(null)",
                b->domain ? b->domain : "(null)",
                b->resource ? b->resource : "(null)",
                b->full ? b->full : "(null)");
    fuzz_fail("jid", what);
}

/* Single-part preparation of an already canonical part must return it. */
static void jid_check_prep(const tn_jid_t *j, const char *part,
                           char *(*prep)(const char *), const char *what)
{
    if (!part)
        return;
    char *again = prep(part);
    if (!again || strcmp(again, part) != 0)
        jid_report(what, j, NULL);
    tn_free(again);
}

int fuzz_jid_one(const uint8_t *data, size_t size)
{
    char *s = tn_strndup((const char *)data, size);
    tn_jid_t j, k;
    if (tn_jid_parse(s, &j) != 0) {
        if (!jid_is_zero(&j))
            fuzz_fail("jid", "failed parse left parts behind");
        tn_free(s);
        return 0;
    }
    if (!j.domain || !j.bare || !j.full)
        jid_report("parsed JID lacks domain, bare or full", &j, NULL);

    /* bare and full are built from the parts. */
    char *bare = j.node ? tn_sprintf("%s@%s", j.node, j.domain)
                        : tn_strdup(j.domain);
    char *full = j.resource ? tn_sprintf("%s/%s", bare, j.resource)
                            : tn_strdup(bare);
    if (strcmp(bare, j.bare) != 0 || strcmp(full, j.full) != 0)
        jid_report("bare/full do not match the parts", &j, NULL);
    tn_free(bare);
    tn_free(full);

    /* Idempotence: the canonical form parses to itself. */
    if (tn_jid_parse(j.full, &k) != 0)
        jid_report("canonical full JID does not parse", &j, NULL);
    if (!jid_eq(&j, &k))
        jid_report("re-parsing the canonical JID changed it", &j, &k);
    tn_jid_release(&k);

    /* Building from the canonical parts gives the same JID. */
    if (tn_jid_make(j.node, j.domain, j.resource, &k) != 0)
        jid_report("tn_jid_make refuses canonical parts", &j, NULL);
    if (!jid_eq(&j, &k))
        jid_report("tn_jid_make changed canonical parts", &j, &k);
    tn_jid_release(&k);

    jid_check_prep(&j, j.node, tn_jid_nodeprep, "nodeprep not idempotent");
    jid_check_prep(&j, j.domain, tn_jid_nameprep, "nameprep not idempotent");
    jid_check_prep(&j, j.resource, tn_jid_resourceprep,
                   "resourceprep not idempotent");

    tn_jid_copy(&j, &k);
    if (!jid_eq(&j, &k))
        jid_report("tn_jid_copy differs", &j, &k);
    tn_jid_release(&k);
    tn_jid_release(&j);
    tn_free(s);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_jid_one(data, size);
}
#endif
