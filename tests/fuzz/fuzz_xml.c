/* fuzz_xml.c -- libFuzzer target for the XMPP stream parser (xml/parser.c)
 * and the stanza serializer (xml/stanza.c).
 *
 * Input layout: four control bytes, then stream bytes.
 *   byte 0  flags: bit 0 prepend a c2s stream header (and send it again
 *           after a reset); bit 1 reset the parser from the stanza
 *           callback on stanza number byte 1 (0: from stream_open, 255:
 *           from stream_close); bit 2 stop it there instead;
 *           bit 3 small limits taken from byte 2; bits 4-6 chunk size
 *           (feeds of 1 .. 2^n bytes, 7: one feed); bit 7 raise the limits
 *           from the stream_open callback, as c2s does after auth.
 *   byte 1  stanza number for reset/stop.
 *   byte 2  small limits.
 *   byte 3  seed of the chunk sizes.
 * Oracles (each a bug when it fails):
 *   - every stanza is a root with one reference;
 *   - tn_stanza_copy gives an equal tree;
 *   - serializing a stanza and parsing the result inside a stream gives no
 *     error and exactly one stanza equal to the original;
 *   - without reset/stop, feeding in chunks reports the same events as
 *     one feed (the result may differ, see fuzz_xml_one);
 *   - after an error or stop, further feeds report nothing and return the
 *     same code;
 *   - every parser the run left in the shared pool parses the next
 *     stream's stanzas (xml_check_pool).
 * Memory errors, leaks and UB are left to the sanitizers. */
#include <string.h>

#include "targets.h"
#include "util/buf.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xml/parser.h"
#include "xml/stanza.h"

#define XML_HDR                                                                \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "               \
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' "        \
    "version='1.0' xml:lang='en'>"
#define XML_WRAP_OPEN                                                          \
    "<stream:stream xmlns='jabber:client' "                                    \
    "xmlns:stream='http://etherx.jabber.org/streams'>"
#define XML_WRAP_CLOSE "</stream:stream>"

enum {
    XF_HEADER = 1,
    XF_RESET = 2,
    XF_STOP = 4,
    XF_SMALL = 8,
    XF_RAISE = 128,
};

/* State of one run over the input. */
struct xml_run {
    tn_xml_parser_t *p;
    tn_xml_limits_t lim;
    unsigned flags;
    unsigned action_at; /* stanza number for reset/stop (0: stream_open,
                           255: stream_close, 1000: never) */
    unsigned nstanzas;
    int events;         /* callbacks seen since the last check */
    tn_buf_t log;       /* transcript for the chunking comparison */
};

/* What a re-parse of one serialized stanza saw. */
struct xml_reparse {
    int opens, closes, nst;
    tn_stanza_t *st; /* owned: the first stanza */
};

static int xml_str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* 1 when the two trees hold the same names, namespaces, attributes (in
 * order) and text. */
static int xml_tree_eq(const tn_stanza_t *a, const tn_stanza_t *b)
{
    if (!a->name || !b->name) {
        if (a->name || b->name)
            return 0;
        return a->text_len == b->text_len &&
               memcmp(a->text, b->text, a->text_len) == 0;
    }
    if (!xml_str_eq(a->name, b->name) || !xml_str_eq(a->ns, b->ns) ||
        a->nattrs != b->nattrs || a->nkids != b->nkids)
        return 0;
    for (size_t i = 0; i < a->nattrs; i++) {
        const tn_attr_t *x = &a->attrs[i], *y = &b->attrs[i];
        if (!xml_str_eq(x->name, y->name) || !xml_str_eq(x->ns, y->ns) ||
            !xml_str_eq(x->value, y->value))
            return 0;
    }
    for (size_t i = 0; i < a->nkids; i++) {
        if (a->kids[i]->parent != a || b->kids[i]->parent != b)
            return 0;
        if (!xml_tree_eq(a->kids[i], b->kids[i]))
            return 0;
    }
    return 1;
}

static void xml_re_open(void *ud, const char *name, const char *ns,
                        const char *dns, const char **attrs)
{
    ((struct xml_reparse *)ud)->opens++;
}

static void xml_re_stanza(void *ud, tn_stanza_t *st)
{
    struct xml_reparse *r = ud;
    if (r->nst++ == 0)
        r->st = st;
    else
        tn_stanza_unref(st);
}

static void xml_re_close(void *ud)
{
    ((struct xml_reparse *)ud)->closes++;
}

/* Serializes st, parses it back inside a fresh stream and compares. */
static void xml_check_roundtrip(const tn_stanza_t *st,
                                const tn_xml_limits_t *lim)
{
    static const tn_xml_cbs_t cbs = {xml_re_open, xml_re_stanza,
                                     xml_re_close};
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_puts(&b, XML_WRAP_OPEN);
    size_t start = b.len;
    tn_stanza_serialize(st, TN_NS_CLIENT, &b);
    size_t slen = b.len - start;
    tn_buf_puts(&b, XML_WRAP_CLOSE);

    /* The serializer may grow a stanza (escapes, xmlns declarations), so
     * the size bound is lifted; depth and attributes stay as they were. */
    tn_xml_limits_t rl = *lim;
    rl.max_stanza = slen + sizeof XML_WRAP_OPEN + 16;
    struct xml_reparse r = {0};
    tn_xml_parser_t *p = tn_xml_parser_new(&rl, &cbs, &r);
    int rc = tn_xml_parser_feed(p, b.data, b.len);
    if (rc != TN_XML_OK) {
        fprintf(stderr, "re-parse error %d (%s) on: %.*s\n", rc,
                tn_xml_parser_error(p), (int)b.len, b.data);
        fuzz_fail("xml", "serialized stanza does not parse");
    }
    if (r.opens != 1 || r.closes != 1 || r.nst != 1)
        fuzz_fail("xml", "serialized stanza is not one stanza");
    if (!xml_tree_eq(st, r.st)) {
        fprintf(stderr, "serialized: %.*s\n", (int)b.len, b.data);
        fuzz_fail("xml", "re-parsed stanza differs");
    }
    tn_stanza_unref(r.st);
    tn_xml_parser_free(p);
    tn_buf_release(&b);
}

/* The fan-out cache (tn_stanza_wire_cache) gives the bytes of a plain
 * serialization with 'to' written first: "<name" + " to='..'" (as the
 * serializer writes that attribute alone) + the plain serialization of
 * the stanza without 'to', past its "<name". */
static void xml_check_wire(const tn_stanza_t *st)
{
    if (strcmp(st->ns, TN_NS_CLIENT) != 0)
        return;
    tn_stanza_t *c = tn_stanza_copy(st);
    tn_stanza_wire_cache(c);
    if (!c->wire)
        fuzz_fail("xml", "no wire cache for a jabber:client root");
    char *got = tn_stanza_to_string(c, TN_NS_CLIENT);
    const char *to = tn_stanza_attr(st, "to");
    tn_stanza_set_attr(c, "to", NULL); /* drops nothing: 'to' is outside */
    if (!c->wire)
        fuzz_fail("xml", "changing 'to' dropped the wire cache");
    tn_stanza_t *plain = tn_stanza_copy(c);
    char *rest = tn_stanza_to_string(plain, TN_NS_CLIENT);
    tn_buf_t want;
    tn_buf_init(&want);
    size_t head = 1 + strlen(st->name);
    tn_buf_append(&want, rest, head);
    if (to) {
        tn_stanza_t *t = tn_stanza_new(st->name, TN_NS_CLIENT);
        tn_stanza_set_attr(t, "to", to);
        char *ts = tn_stanza_to_string(t, TN_NS_CLIENT); /* <n to='..'/> */
        tn_buf_append(&want, ts + head, strlen(ts) - head - 2);
        tn_free(ts);
        tn_stanza_unref(t);
    }
    tn_buf_puts(&want, rest + head);
    if (strcmp(got, want.data) != 0) {
        fprintf(stderr, "cached: %s\nplain:  %s\n", got, want.data);
        fuzz_fail("xml", "wire cache differs from the serializer");
    }
    tn_buf_release(&want);
    tn_free(rest);
    tn_free(got);
    tn_stanza_unref(plain);
    tn_stanza_unref(c);
}

/* Every expat parser left in the shared pool must stand in plain content
 * just inside a root, since any stream may take it next. More streams
 * than the pool has slots open with XML_HDR (each goes idle and offers
 * its parser back, which a full pool refuses), then each starts an <iq>
 * (taking every pooled parser with that root, and one new), then each
 * ends it: each must see exactly one stanza. */
#define XML_POOL_PROBES 9

static void xml_check_pool(void)
{
    static const tn_xml_cbs_t cbs = {xml_re_open, xml_re_stanza,
                                     xml_re_close};
    struct xml_reparse r[XML_POOL_PROBES] = {0};
    tn_xml_parser_t *p[XML_POOL_PROBES];
    for (size_t i = 0; i < XML_POOL_PROBES; i++) {
        p[i] = tn_xml_parser_new(NULL, &cbs, &r[i]);
        if (tn_xml_parser_feed(p[i], XML_HDR, sizeof XML_HDR - 1))
            fuzz_fail("xml", "pool probe: header refused");
    }
    for (size_t i = 0; i < XML_POOL_PROBES; i++)
        if (tn_xml_parser_feed(p[i], "<iq>", 4))
            fuzz_fail("xml", "pool probe: a pooled parser refused <iq>");
    for (size_t i = 0; i < XML_POOL_PROBES; i++) {
        if (tn_xml_parser_feed(p[i], "</iq>", 5) || r[i].nst != 1)
            fuzz_fail("xml", "pool probe: a pooled parser lost <iq/>");
        tn_stanza_unref(r[i].st);
        tn_xml_parser_free(p[i]);
    }
}

/* The reset or stop the flags ask for, from inside a callback. */
static void xml_act(struct xml_run *r)
{
    if (r->flags & XF_STOP)
        tn_xml_parser_stop(r->p);
    else if (r->flags & XF_RESET)
        tn_xml_parser_reset(r->p);
}

static void xml_on_open(void *ud, const char *name, const char *ns,
                        const char *dns, const char **attrs)
{
    struct xml_run *r = ud;
    r->events++;
    tn_buf_printf(&r->log, "O %s|%s|%s", name, ns, dns ? dns : "(null)");
    for (size_t i = 0; attrs[i]; i += 2)
        tn_buf_printf(&r->log, "|%s=%s", attrs[i], attrs[i + 1]);
    tn_buf_append(&r->log, "\n", 1);
    if (r->action_at == 0)
        xml_act(r);
    if (r->flags & XF_RAISE) {
        tn_xml_limits_t big = {0, 0, 0}; /* defaults */
        tn_xml_parser_set_limits(r->p, &big);
        r->lim = (tn_xml_limits_t){256 * 1024, 32, 64};
    }
}

static void xml_on_stanza(void *ud, tn_stanza_t *st)
{
    struct xml_run *r = ud;
    r->events++;
    r->nstanzas++;
    if (st->refs != 1 || st->parent || !st->name)
        fuzz_fail("xml", "stanza is not a root with one reference");

    tn_stanza_t *c = tn_stanza_copy(st);
    if (!xml_tree_eq(st, c))
        fuzz_fail("xml", "tn_stanza_copy differs");
    tn_stanza_unref(c);

    xml_check_roundtrip(st, &r->lim);
    xml_check_wire(st);

    tn_buf_append(&r->log, "S ", 2);
    tn_stanza_serialize(st, TN_NS_CLIENT, &r->log);
    tn_buf_append(&r->log, "\n", 1);
    tn_stanza_unref(st);

    if (r->nstanzas == r->action_at)
        xml_act(r);
}

static void xml_on_close(void *ud)
{
    struct xml_run *r = ud;
    r->events++;
    tn_buf_append(&r->log, "C\n", 2);
    if (r->action_at == 255)
        xml_act(r);
}

static const tn_xml_cbs_t xml_cbs = {xml_on_open, xml_on_stanza,
                                     xml_on_close};

/* Feeds the header (when flagged) and data in chunks whose sizes come from
 * seed and chunk_exp (7: one feed). Returns the last result; the
 * transcript is left in r->log. */
static int xml_run(struct xml_run *r, const tn_xml_limits_t *lim,
                   const char *data, size_t len, unsigned seed,
                   unsigned chunk_exp)
{
    r->lim = *lim;
    r->p = tn_xml_parser_new(lim, &xml_cbs, r);
    tn_buf_init(&r->log);
    int rc = TN_XML_OK;
    unsigned gen_resets = 0;
    if (r->flags & XF_HEADER)
        rc = tn_xml_parser_feed(r->p, XML_HDR, sizeof XML_HDR - 1);
    uint32_t x = seed * 2654435761u + 1;
    size_t off = 0;
    while (rc == TN_XML_OK && off < len) {
        size_t n = len - off;
        if (chunk_exp < 7) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t m = 1 + x % (1u << chunk_exp);
            if (m < n)
                n = m;
        }
        unsigned before = r->nstanzas;
        rc = tn_xml_parser_feed(r->p, data + off, n);
        off += n;
        /* A reset from the callback drops the rest of that feed; the
         * client then opens a new stream. */
        if (rc == TN_XML_OK && (r->flags & XF_RESET) &&
            !(r->flags & XF_STOP) && before < r->action_at &&
            r->nstanzas >= r->action_at && !gen_resets) {
            gen_resets = 1;
            tn_buf_append(&r->log, "R\n", 2);
            if (r->flags & XF_HEADER)
                rc = tn_xml_parser_feed(r->p, XML_HDR, sizeof XML_HDR - 1);
        }
    }
    if (rc != TN_XML_OK) {
        /* Sticky: nothing more is reported and the code stays. */
        r->events = 0;
        int again = tn_xml_parser_feed(r->p, "<a/>", 4);
        if (again != rc || r->events)
            fuzz_fail("xml", "feed after an error reported something");
        if (!tn_xml_parser_error(r->p))
            fuzz_fail("xml", "no error text");
    }
    tn_xml_parser_free(r->p);
    r->p = NULL;
    return rc;
}

int fuzz_xml_one(const uint8_t *data, size_t size)
{
    unsigned flags = XF_HEADER, action_at = 0, small = 0, seed = 0;
    if (size >= 4) {
        flags = data[0];
        action_at = data[1];
        small = data[2];
        seed = data[3];
        data += 4;
        size -= 4;
    }
    tn_xml_limits_t lim = {0, 0, 0};
    if (flags & XF_SMALL) {
        lim.max_stanza = 64 + (small & 0xf0) * 4;
        lim.max_depth = 1 + (small & 7);
        lim.max_attrs = 1 + ((small >> 3) & 1) * 3;
    }
    /* The parser fills in defaults for zero limits; so do we, so that the
     * round trip uses the same depth and attribute bounds. */
    tn_xml_limits_t eff = lim;
    if (!eff.max_stanza)
        eff.max_stanza = 256 * 1024;
    if (!eff.max_depth)
        eff.max_depth = 32;
    if (!eff.max_attrs)
        eff.max_attrs = 64;
    unsigned chunk_exp = (flags >> 4) & 7;

    struct xml_run a = {.flags = flags, .action_at = action_at};
    if (!(flags & (XF_RESET | XF_STOP)))
        a.action_at = 1000; /* never */
    int rc = xml_run(&a, &eff, (const char *)data, size, seed, chunk_exp);

    /* Chunking must not change what is reported: compare with one feed,
     * unless a reset or stop made the outcome depend on feed boundaries
     * by design. */
    if (a.action_at == 1000 && chunk_exp != 7) {
        struct xml_run b = {.flags = flags, .action_at = 1000};
        int rc1 = xml_run(&b, &eff, (const char *)data, size, seed, 7);
        /* Only the events are compared, not the result: bytes after the
         * last '>' are held back until a '>', a blank-only feed or the
         * size bound arrives, so an error in the final tail of the input
         * may be found by one way of feeding and not by the other; and
         * which error comes first may differ too (expat reports character
         * data at a buffer end, but not before an invalid token such as
         * ']]>' in the same run, so "x>]]>" at stream level is bad-format
         * fed as "x>" "]]>" and not-well-formed fed at once). A real
         * difference (a stanza lost, duplicated or changed, an error in
         * the middle) shows in the events. */
        if (a.log.len != b.log.len ||
            (a.log.len &&
             memcmp(a.log.data, b.log.data, a.log.len) != 0)) {
            fprintf(stderr, "chunked (rc %d):\n%.*s\n", rc, (int)a.log.len,
                    a.log.data);
            fprintf(stderr, "one feed (rc %d):\n%.*s\n", rc1,
                    (int)b.log.len, b.log.data);
            fuzz_fail("xml", "chunked feeding differs from one feed");
        }
        tn_buf_release(&b.log);
    }
    tn_buf_release(&a.log);
    xml_check_pool();
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_xml_one(data, size);
}
#endif
