/* stanza.c -- the reference-counted XML element tree every stanza lives in,
 * and its serializer.
 *
 * Covers the tree operations of stanza.h and the XML output side of
 * RFC 6120 4.9 / 11: escaping (11.1 restricted XML is produced by never
 * writing comments, PIs or DTDs), namespace declarations only where an
 * element leaves its context's default namespace, the "stream:" prefix for
 * TN_NS_STREAM elements (declared by the stream header, written elsewhere)
 * and the predeclared "xml:" prefix for elements in the XML namespace,
 * and UTF-8 only output (11.6). Parsing lives in parser.c. Element and
 * attribute names are trusted (they come from code or from the parser);
 * text and attribute values are not, and are escaped and cleaned so the
 * output is always well-formed. */
#include "xml/stanza.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"
#include "xml/ns.h"

/* Names, namespaces and attribute values nearly every stanza carries are
 * not copied: they point into this block, which tn_stanza_str_free
 * recognises by address. Saves a malloc and a free for each (about a
 * third of the allocations of a chat message). */
static const char stanza_common[] =
    "\0jabber:client\0message\0presence\0iq\0body\0to\0from\0type\0id"
    "\0xml:lang\0chat\0groupchat\0get\0set\0result\0error"
    "\0unavailable\0show\0status\0priority\0query\0subject\0thread"
    "\0normal\0x\0item\0ping\0urn:xmpp:ping\0delay\0urn:xmpp:delay\0";

/* stanza_common's entries by first byte (at most 4 share one), built
 * once per process. */
static const char *stanza_bucket[128][4];
static pthread_once_t stanza_bucket_once = PTHREAD_ONCE_INIT;

static void stanza_bucket_init(void)
{
    for (const char *e = stanza_common + 1;
         e < stanza_common + sizeof stanza_common - 1; e += strlen(e) + 1) {
        const char **b = stanza_bucket[(unsigned char)e[0] & 127];
        for (int i = 0; i < 4; i++)
            if (!b[i]) {
                b[i] = e;
                break;
            }
    }
}

char *tn_stanza_str(const char *s)
{
    if (!s)
        return NULL;
    if (!s[0])
        return (char *)stanza_common; /* "" */
    pthread_once(&stanza_bucket_once, stanza_bucket_init);
    if ((unsigned char)s[0] < 128) {
        const char **b = stanza_bucket[(unsigned char)s[0]];
        for (int i = 0; i < 4 && b[i]; i++)
            if (strcmp(b[i], s) == 0)
                return (char *)b[i];
    }
    return tn_strdup(s);
}

void tn_stanza_str_free(char *s)
{
    if (s >= stanza_common && s < stanza_common + sizeof stanza_common)
        return;
    tn_free(s);
}

static tn_stanza_t *stanza_alloc(const char *name, const char *ns)
{
    tn_stanza_t *st = TN_NEW(tn_stanza_t);
    st->name = tn_stanza_str(name);
    st->ns = tn_stanza_str(ns ? ns : "");
    return st;
}

static void stanza_free(tn_stanza_t *st)
{
    for (size_t i = 0; i < st->nkids; i++)
        stanza_free(st->kids[i]);
    tn_free(st->kids);
    for (size_t i = 0; i < st->nattrs; i++) {
        tn_stanza_str_free(st->attrs[i].name);
        tn_stanza_str_free(st->attrs[i].ns);
        tn_stanza_str_free(st->attrs[i].value);
    }
    tn_free(st->attrs);
    tn_stanza_str_free(st->name);
    tn_stanza_str_free(st->ns);
    tn_free(st->text);
    tn_free(st->wire);
    tn_free(st);
}

/* st (or a descendant of its root) is about to change: the root's
 * serialization cache no longer holds. */
static void stanza_dirty(tn_stanza_t *st)
{
    while (st->parent)
        st = st->parent;
    if (st->wire) {
        tn_free(st->wire);
        st->wire = NULL;
        st->wire_len = 0;
    }
}

/* Appends kid to st's children, growing the array geometrically. */
static void stanza_push_kid(tn_stanza_t *st, tn_stanza_t *kid)
{
    if (st->nkids == st->kids_cap) {
        st->kids_cap = st->kids_cap ? st->kids_cap * 2 : 4;
        st->kids = tn_realloc(st->kids, st->kids_cap * sizeof *st->kids);
    }
    st->kids[st->nkids++] = kid;
    kid->parent = st;
}

tn_stanza_t *tn_stanza_new(const char *name, const char *ns)
{
    tn_stanza_t *st = stanza_alloc(name, ns);
    st->refs = 1;
    return st;
}

tn_stanza_t *tn_stanza_ref(tn_stanza_t *st)
{
    if (st)
        st->refs++;
    return st;
}

void tn_stanza_unref(tn_stanza_t *st)
{
    if (!st)
        return;
    if (--st->refs > 0)
        return;
    stanza_free(st);
}

static tn_stanza_t *stanza_copy(const tn_stanza_t *src)
{
    tn_stanza_t *st = TN_NEW(tn_stanza_t);
    if (!src->name) {
        st->text = tn_malloc(src->text_len + 1);
        if (src->text_len)
            memcpy(st->text, src->text, src->text_len);
        st->text[src->text_len] = '\0';
        st->text_len = src->text_len;
        return st;
    }
    st->name = tn_stanza_str(src->name);
    st->ns = tn_stanza_str(src->ns);
    if (src->nattrs) {
        st->attrs = tn_malloc(src->nattrs * sizeof *st->attrs);
        st->attrs_cap = st->nattrs = src->nattrs;
        for (size_t i = 0; i < src->nattrs; i++) {
            st->attrs[i].name = tn_stanza_str(src->attrs[i].name);
            st->attrs[i].ns = tn_stanza_str(src->attrs[i].ns);
            st->attrs[i].value = tn_stanza_str(src->attrs[i].value);
        }
    }
    if (src->nkids) {
        st->kids = tn_malloc(src->nkids * sizeof *st->kids);
        st->kids_cap = src->nkids;
        for (size_t i = 0; i < src->nkids; i++)
            stanza_push_kid(st, stanza_copy(src->kids[i]));
    }
    return st;
}

tn_stanza_t *tn_stanza_copy(const tn_stanza_t *st)
{
    tn_stanza_t *c = stanza_copy(st);
    c->refs = 1;
    return c;
}

/* The unqualified attribute `name`, or NULL. */
static tn_attr_t *stanza_find_attr(const tn_stanza_t *st, const char *name)
{
    for (size_t i = 0; i < st->nattrs; i++) {
        tn_attr_t *a = &st->attrs[i];
        if (!a->ns && strcmp(a->name, name) == 0)
            return a;
    }
    return NULL;
}

const char *tn_stanza_attr(const tn_stanza_t *st, const char *name)
{
    tn_attr_t *a = stanza_find_attr(st, name);
    return a ? a->value : NULL;
}

void tn_stanza_set_attr(tn_stanza_t *st, const char *name, const char *value)
{
    if (st->parent || strcmp(name, "to") != 0)
        stanza_dirty(st);
    tn_attr_t *a = stanza_find_attr(st, name);
    if (a && value) {
        char *v = tn_stanza_str(value); /* value may point into a->value */
        tn_stanza_str_free(a->value);
        a->value = v;
        return;
    }
    if (a) {
        size_t i = (size_t)(a - st->attrs);
        tn_stanza_str_free(a->name);
        tn_stanza_str_free(a->ns);
        tn_stanza_str_free(a->value);
        memmove(a, a + 1, (st->nattrs - i - 1) * sizeof *a);
        st->nattrs--;
        return;
    }
    if (!value)
        return;
    if (st->nattrs == st->attrs_cap) {
        st->attrs_cap = st->attrs_cap ? st->attrs_cap * 2 : 4;
        st->attrs = tn_realloc(st->attrs, st->attrs_cap * sizeof *st->attrs);
    }
    a = &st->attrs[st->nattrs++];
    a->name = tn_stanza_str(name);
    a->ns = NULL;
    a->value = tn_stanza_str(value);
}

tn_stanza_t *tn_stanza_add_child(tn_stanza_t *st, const char *name,
                                 const char *ns)
{
    stanza_dirty(st);
    tn_stanza_t *kid = stanza_alloc(name, ns ? ns : st->ns);
    stanza_push_kid(st, kid);
    return kid;
}

void tn_stanza_add_text(tn_stanza_t *st, const char *text, size_t len)
{
    if (len == 0)
        return;
    stanza_dirty(st);
    tn_stanza_t *last = st->nkids ? st->kids[st->nkids - 1] : NULL;
    if (last && !last->name) {
        last->text = tn_realloc(last->text, last->text_len + len + 1);
        memcpy(last->text + last->text_len, text, len);
        last->text_len += len;
        last->text[last->text_len] = '\0';
        return;
    }
    tn_stanza_t *t = TN_NEW(tn_stanza_t);
    t->text = tn_malloc(len + 1);
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->text_len = len;
    stanza_push_kid(st, t);
}

tn_stanza_t *tn_stanza_add_copy(tn_stanza_t *st, const tn_stanza_t *child)
{
    if (!child->name) {
        /* Keep the "adjacent text is one node" invariant. */
        tn_stanza_add_text(st, child->text, child->text_len);
        return st->nkids ? st->kids[st->nkids - 1] : NULL;
    }
    stanza_dirty(st);
    tn_stanza_t *c = stanza_copy(child);
    stanza_push_kid(st, c);
    return c;
}

void tn_stanza_remove(tn_stanza_t *st, tn_stanza_t *kid)
{
    for (size_t i = 0; i < st->nkids; i++) {
        if (st->kids[i] != kid)
            continue;
        stanza_dirty(st);
        memmove(&st->kids[i], &st->kids[i + 1],
                (st->nkids - i - 1) * sizeof *st->kids);
        st->nkids--;
        stanza_free(kid);
        return;
    }
}

tn_stanza_t *tn_stanza_child(const tn_stanza_t *st, const char *name,
                             const char *ns)
{
    for (size_t i = 0; i < st->nkids; i++) {
        tn_stanza_t *k = st->kids[i];
        if (!k->name)
            continue;
        if (name && strcmp(k->name, name) != 0)
            continue;
        if (ns && strcmp(k->ns, ns) != 0)
            continue;
        return k;
    }
    return NULL;
}

size_t tn_stanza_nelements(const tn_stanza_t *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->nkids; i++)
        if (st->kids[i]->name)
            n++;
    return n;
}

char *tn_stanza_text(const tn_stanza_t *st)
{
    tn_buf_t b;
    tn_buf_init(&b);
    if (!st->name) {
        tn_buf_append(&b, st->text, st->text_len);
        return tn_buf_steal(&b, NULL);
    }
    for (size_t i = 0; i < st->nkids; i++) {
        const tn_stanza_t *k = st->kids[i];
        if (!k->name)
            tn_buf_append(&b, k->text, k->text_len);
    }
    return tn_buf_steal(&b, NULL);
}

char *tn_stanza_child_text(const tn_stanza_t *st, const char *name,
                           const char *ns)
{
    const tn_stanza_t *c = tn_stanza_child(st, name, ns);
    return c ? tn_stanza_text(c) : NULL;
}

/* Length of the valid XML character encoded in UTF-8 at s (n bytes left),
 * or 0 if the bytes there are not one: malformed or overlong UTF-8,
 * surrogates, U+FFFE/U+FFFF. Control characters are handled by the
 * caller. */
static size_t stanza_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0;
        if (c == 0xED && s[1] > 0x9F)
            return 0;
        if (c == 0xEF && s[1] == 0xBF && s[2] >= 0xBE)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0;
        if (c == 0xF4 && s[1] > 0x8F)
            return 0;
        return 4;
    }
    return 0;
}

/* Writes s escaped for text (in_attr 0) or a single-quoted attribute value.
 * Beyond tn_buf_append_xml: CR (and TAB/LF in attributes) become character
 * references so a parser's normalization gives the same value back; other
 * C0 controls, which XML 1.0 cannot carry at all, are dropped; bytes that
 * are not valid UTF-8 XML characters become U+FFFD. */
/* What serialization does with each byte: copy it (0) or look closer. */
enum {
    ESC_COPY, ESC_AMP, ESC_LT, ESC_GT, ESC_APOS, ESC_QUOT, ESC_CR,
    ESC_TABLF, ESC_CTRL, ESC_HIGH
};
static const unsigned char stanza_esc[256] = {
    [0x00 ... 0x08] = ESC_CTRL, [0x09 ... 0x0A] = ESC_TABLF,
    [0x0B ... 0x0C] = ESC_CTRL, [0x0D] = ESC_CR, [0x0E ... 0x1F] = ESC_CTRL,
    ['&'] = ESC_AMP, ['<'] = ESC_LT, ['>'] = ESC_GT, ['\''] = ESC_APOS,
    ['"'] = ESC_QUOT, [0x80 ... 0xFF] = ESC_HIGH,
};

static void stanza_escape(tn_buf_t *out, const char *s, size_t n, int in_attr)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the pending run of bytes copied as is */
    size_t i = 0;
    while (i < n) {
        while (i < n && stanza_esc[u[i]] == ESC_COPY)
            i++;
        if (i == n)
            break;
        const char *rep;
        size_t clen = 1;
        switch (stanza_esc[u[i]]) {
        case ESC_AMP: rep = "&amp;"; break;
        case ESC_LT: rep = "&lt;"; break;
        case ESC_GT: rep = "&gt;"; break;
        case ESC_APOS: rep = in_attr ? "&apos;" : NULL; break;
        case ESC_QUOT: rep = in_attr ? "&quot;" : NULL; break;
        case ESC_CR: rep = "&#13;"; break;
        case ESC_TABLF:
            rep = !in_attr ? NULL : u[i] == '\t' ? "&#9;" : "&#10;";
            break;
        case ESC_HIGH:
            clen = stanza_utf8_len(u + i, n - i);
            rep = clen ? NULL : "\xEF\xBF\xBD";
            if (!clen)
                clen = 1;
            break;
        default: rep = ""; break; /* other C0 controls */
        }
        if (!rep) {
            i += clen;
            continue;
        }
        tn_buf_append(out, s + run, i - run);
        tn_buf_puts(out, rep);
        i += clen;
        run = i;
    }
    tn_buf_append(out, s + run, n - run);
}

static void stanza_write_attr(tn_buf_t *out, const char *prefix,
                              const char *name, const char *value)
{
    size_t pl = prefix ? strlen(prefix) : 0, nl = strlen(name);
    size_t vl = strlen(value);
    /* Room for everything when nothing needs escaping: one check. */
    tn_buf_reserve(out, pl + nl + vl + 5);
    char *p = out->data + out->len;
    *p++ = ' ';
    if (pl) {
        memcpy(p, prefix, pl);
        p += pl;
        *p++ = ':';
    }
    memcpy(p, name, nl);
    p += nl;
    *p++ = '=';
    *p++ = '\'';
    out->len = (size_t)(p - out->data);
    stanza_escape(out, value, vl, 1);
    tn_buf_append(out, "'", 1);
}

/* Writes st; skip, when not NULL, is an attribute of st left out. */
static void stanza_write(const tn_stanza_t *st, const char *ctx,
                         const tn_attr_t *skip, tn_buf_t *out)
{
    if (!st->name) {
        stanza_escape(out, st->text, st->text_len, 0);
        return;
    }
    const char *ns = st->ns ? st->ns : "";
    /* Elements in TN_NS_STREAM use the header's "stream:" prefix; those in
     * the XML namespace (a peer may send <xml:foo/>) must use "xml:", as
     * that namespace may not be declared as a default (Namespaces in XML
     * 1.0, 3). Neither changes the default namespace. */
    /* ctx, a default namespace, is never either of them. Common strings
     * are shared (tn_stanza_str), so the pointers are often equal. */
    int same = ns == ctx || strcmp(ns, ctx) == 0;
    const char *eprefix = NULL;
    if (!same && strcmp(ns, TN_NS_STREAM) == 0)
        eprefix = "stream:";
    else if (!same && strcmp(ns, TN_NS_XML) == 0)
        eprefix = "xml:";
    tn_buf_append(out, "<", 1);
    if (eprefix)
        tn_buf_puts(out, eprefix);
    tn_buf_puts(out, st->name);
    if (!eprefix && !same) {
        tn_buf_append(out, " xmlns='", 8);
        stanza_escape(out, ns, strlen(ns), 1);
        tn_buf_append(out, "'", 1);
    }
    for (size_t i = 0; i < st->nattrs; i++) {
        const tn_attr_t *a = &st->attrs[i];
        if (a == skip)
            continue;
        if (!a->ns) {
            stanza_write_attr(out, NULL, a->name, a->value);
        } else if (strcmp(a->ns, TN_NS_XML) == 0) {
            /* The xml prefix is bound by definition, never declared. */
            int has = strncmp(a->name, "xml:", 4) == 0;
            stanza_write_attr(out, has ? NULL : "xml", a->name, a->value);
        } else {
            /* Other qualified attributes get a prefix a<N> declared right
             * here, shared by attributes of the same namespace. */
            size_t k = i;
            for (size_t j = 0; j < i; j++) {
                const tn_attr_t *b = &st->attrs[j];
                if (b->ns && strcmp(b->ns, a->ns) == 0 &&
                    strcmp(b->ns, TN_NS_XML) != 0) {
                    k = j;
                    break;
                }
            }
            char prefix[32];
            snprintf(prefix, sizeof prefix, "a%zu", k);
            if (k == i) {
                tn_buf_printf(out, " xmlns:%s='", prefix);
                stanza_escape(out, a->ns, strlen(a->ns), 1);
                tn_buf_append(out, "'", 1);
            }
            stanza_write_attr(out, prefix, a->name, a->value);
        }
    }
    if (st->nkids == 0) {
        tn_buf_append(out, "/>", 2);
        return;
    }
    tn_buf_append(out, ">", 1);
    /* A prefix leaves the default namespace as it was. */
    const char *kctx = eprefix ? ctx : ns;
    for (size_t i = 0; i < st->nkids; i++)
        stanza_write(st->kids[i], kctx, NULL, out);
    tn_buf_append(out, "</", 2);
    if (eprefix)
        tn_buf_puts(out, eprefix);
    tn_buf_puts(out, st->name);
    tn_buf_append(out, ">", 1);
}

void tn_stanza_serialize(const tn_stanza_t *st, const char *outer_ns,
                         tn_buf_t *out)
{
    if (st->wire && outer_ns && strcmp(outer_ns, TN_NS_CLIENT) == 0) {
        const char *to = tn_stanza_attr(st, "to");
        tn_buf_append(out, "<", 1);
        tn_buf_puts(out, st->name);
        if (to)
            stanza_write_attr(out, NULL, "to", to);
        tn_buf_append(out, st->wire, st->wire_len);
        return;
    }
    stanza_write(st, outer_ns ? outer_ns : "", NULL, out);
}

void tn_stanza_wire_cache(tn_stanza_t *st)
{
    if (st->wire || st->parent || !st->name ||
        strcmp(st->ns, TN_NS_CLIENT) != 0)
        return;
    tn_buf_t b;
    tn_buf_init(&b);
    stanza_write(st, TN_NS_CLIENT, stanza_find_attr(st, "to"), &b);
    /* What follows "<name": the cache starts at the attributes. */
    size_t head = 1 + strlen(st->name);
    st->wire_len = b.len - head;
    st->wire = tn_malloc(st->wire_len + 1);
    memcpy(st->wire, b.data + head, st->wire_len + 1);
    tn_buf_release(&b);
}

char *tn_stanza_to_string(const tn_stanza_t *st, const char *outer_ns)
{
    tn_buf_t b;
    tn_buf_init(&b);
    tn_stanza_serialize(st, outer_ns, &b);
    return tn_buf_steal(&b, NULL);
}
