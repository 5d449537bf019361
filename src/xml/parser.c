/* parser.c -- an XMPP stream parser on expat: bytes in, stream header,
 * stanza trees and stream end out.
 *
 * Covers RFC 6120 4 (one XML stream per direction, whitespace keepalives
 * between stanzas, stream restarts of 4.3.3), 11.1 restricted XML (any DTD,
 * entity or notation declaration, comment or processing instruction stops
 * the parse; without a DTD expat knows only the five predefined entities,
 * so nothing can ever be expanded) and 11.6 (input is read as UTF-8 whatever
 * the XML declaration says; invalid UTF-8 is not well-formed). Limits are
 * enforced here because expat would otherwise buffer, and rescan, an
 * unbounded partial token: every first-level element, the stream header and
 * the bytes before it are bounded by max_stanza, by feeding expat no more
 * than the remaining budget at a time. Mapping errors to stream error
 * conditions and everything XMPP-specific is left to the caller.
 *
 * Idle release: an expat parser costs about 10 KB, most of a quiet
 * session's memory. When a feed ends at a stanza boundary (depth 1, no
 * partial token in expat, nothing held back) the expat parser is taken
 * away from the stream; the next feed gets one whose namespace context is
 * the same as before. That is either a parser another stream gave up at
 * an idle point with the same context (same root tag name and namespace
 * declarations: expat is then in exactly the state a fresh parse of that
 * root would leave it in), taken from a small per-process pool, or a new
 * one to which a synthetic copy of the root start tag (its raw name and
 * namespace declarations, nothing else) is fed with no handlers set. The
 * pool bounds what idle streams keep to PARSER_POOL parsers in all,
 * and makes the release nearly free for busy streams (a new parser plus
 * replay costs a few microseconds). Byte counts and limits only ever see
 * the peer's bytes. */
#include "xml/parser.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "util/mem.h"
#include "xml/ns.h"

/* expat reports names as "uri" SEP "local"; 0xff never occurs in UTF-8. */
#define PARSER_SEP '\xff'

/* Idle expat parsers kept for reuse: one pool per process, owned by the
 * first thread that pools (see parser_pool_mine). */
#define PARSER_POOL 8
/* A parser that has consumed more than this is freed rather than pooled:
 * expat keeps every prefix and attribute name it has seen in hash tables
 * for the life of a parser, and its input buffer at its high-water mark. */
#define PARSER_POOL_MAX_BYTES (64 * 1024)

/* Bytes of the text and name scratch buffers an idle stream keeps. */
#define PARSER_KEEP_BUF 128

/* Defaults for limits left at 0. */
#define PARSER_DEF_STANZA (256 * 1024)
#define PARSER_DEF_DEPTH 32
#define PARSER_DEF_ATTRS 64

#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
#define PARSER_HAS_DEFERRAL 1
#else
/* COMPAT: expat 2.5 (Debian 12) may get reparse deferral (2.6.0, for
 * CVE-2023-52425) as a backport without a version bump; a weak reference
 * finds it if the library has it and is NULL otherwise. */
XML_Bool XML_SetReparseDeferralEnabled(XML_Parser parser, XML_Bool enabled)
    __attribute__((weak));
#define PARSER_HAS_DEFERRAL (XML_SetReparseDeferralEnabled != NULL)
#endif

struct tn_xml_parser {
    XML_Parser xp;      /* NULL before the first byte of a stream and while
                           idle (released, see the file comment) */
    tn_xml_limits_t lim;
    tn_xml_cbs_t cbs;
    void *ud;
    int err;            /* sticky TN_XML_E_* or 0 */
    const char *errmsg; /* static */
    int in_parse;       /* inside XML_Parse, so handlers may be running */
    int halted;         /* XML_StopParser called; ignore late handlers */
    int reset_pending;  /* tn_xml_parser_reset called from a callback */
    int stopped;        /* tn_xml_parser_stop called */
    unsigned depth;     /* open elements, the stream root included */
    size_t fed;         /* bytes given to expat since the stream start */
    size_t mark;        /* end of the last stanza, header or keepalive */
    char *default_ns;   /* owned; the root's xmlns='...', if any */
    tn_stanza_t *st;    /* owned; the first-level element being built */
    tn_stanza_t *cur;   /* borrowed; the innermost open element of st */
    tn_buf_t text;      /* character data not yet added to cur */
    tn_buf_t scratch;   /* reused for namespace URIs and attribute names */
    tn_buf_t hold;      /* bytes held back until a '>' arrives */
    unsigned gen;       /* counts stream (re)starts */
    long long xdelta;   /* stream offset = expat byte index + xdelta */
    tn_buf_t decls;     /* the root's namespace declarations, as
                           " xmlns:p='uri'", gathered before it opens */
    char *replay;       /* owned; "<rawname decls>" of the root, once it is
                           open; NULL: this stream is never released */
};

/* ---- pool of idle expat parsers --------------------------------------- */

typedef struct parser_slot {
    XML_Parser xp;      /* NULL: free slot */
    long long used;     /* bytes xp has consumed */
    char *key;          /* owned; the replay of the root xp has open */
} parser_slot_t;

static parser_slot_t parser_pool[PARSER_POOL]; /* the owner thread's */
static _Thread_local int parser_pool_state; /* 0 unknown, 1 mine, 2 not */
static atomic_flag parser_pool_claimed = ATOMIC_FLAG_INIT;

/* Whether this thread may pool. A pool belongs to one thread for the life
 * of the process, so that nothing pooled is lost when a thread ends; any
 * other thread just frees its idle parsers. */
static int parser_pool_mine(void)
{
    if (!parser_pool_state)
        parser_pool_state =
            atomic_flag_test_and_set(&parser_pool_claimed) ? 2 : 1;
    return parser_pool_state == 1;
}

/* Gives up xp, which has consumed used bytes and has the root key open,
 * at a clean stanza boundary: pooled if there is room, else freed. */
static void parser_pool_put(XML_Parser xp, long long used, const char *key)
{
    if (used <= PARSER_POOL_MAX_BYTES && parser_pool_mine()) {
        parser_slot_t *free_slot = NULL;
        for (size_t i = 0; i < PARSER_POOL; i++) {
            parser_slot_t *s = &parser_pool[i];
            if (s->xp)
                continue;
            if (s->key && strcmp(s->key, key) == 0) {
                free_slot = s;
                break;
            }
            if (!free_slot)
                free_slot = s;
        }
        if (free_slot) {
            if (!free_slot->key || strcmp(free_slot->key, key) != 0) {
                tn_free(free_slot->key);
                free_slot->key = tn_strdup(key);
            }
            free_slot->xp = xp;
            free_slot->used = used;
            return;
        }
    }
    XML_ParserFree(xp);
}

/* Takes a pooled parser with the root key open, or returns NULL. */
static XML_Parser parser_pool_take(const char *key, long long *used)
{
    if (parser_pool_state != 1)
        return NULL;
    for (size_t i = 0; i < PARSER_POOL; i++) {
        parser_slot_t *s = &parser_pool[i];
        if (s->xp && strcmp(s->key, key) == 0) {
            XML_Parser xp = s->xp;
            s->xp = NULL;
            *used = s->used;
            return xp;
        }
    }
    return NULL;
}

/* Records err and stops expat; the first error wins. */
static void parser_fail(tn_xml_parser_t *p, int err, const char *msg)
{
    if (p->halted)
        return;
    p->err = err;
    p->errmsg = msg;
    p->halted = 1;
    XML_StopParser(p->xp, XML_FALSE);
}

/* Splits an expat name into ns (NUL-terminated copy in p->scratch, "" if
 * unqualified) and *local. Returns 0 or -1 (after parser_fail) if the name
 * holds more than one separator: a URI carrying the separator byte would
 * make expat split in the wrong place. */
static int parser_split(tn_xml_parser_t *p, const char *name, const char **ns,
                        const char **local)
{
    const char *sep = strchr(name, PARSER_SEP);
    p->scratch.len = 0;
    if (!sep) {
        tn_buf_append(&p->scratch, "", 0);
        *ns = p->scratch.data;
        *local = name;
        return 0;
    }
    if (strchr(sep + 1, PARSER_SEP)) {
        parser_fail(p, TN_XML_E_BAD_FORMAT, "separator byte in a name");
        return -1;
    }
    tn_buf_append(&p->scratch, name, (size_t)(sep - name));
    *ns = p->scratch.data;
    *local = sep + 1;
    return 0;
}

/* Stream offset just past the event the current handler is reporting. */
static size_t parser_event_end(tn_xml_parser_t *p)
{
    XML_Index i = XML_GetCurrentByteIndex(p->xp);
    int n = XML_GetCurrentByteCount(p->xp);
    if (i < 0 || n < 0)
        return p->mark;
    long long end = (long long)i + n + p->xdelta;
    return end < 0 ? p->mark : (size_t)end;
}

/* Moves pending character data into the element being built. */
static void parser_flush_text(tn_xml_parser_t *p)
{
    if (p->text.len && p->cur)
        tn_stanza_add_text(p->cur, p->text.data, p->text.len);
    p->text.len = 0;
}

static void parser_push_attr(tn_stanza_t *st, char *name, char *ns,
                             const char *value)
{
    if (st->nattrs == st->attrs_cap) {
        st->attrs_cap = st->attrs_cap ? st->attrs_cap * 2 : 4;
        st->attrs = tn_realloc(st->attrs, st->attrs_cap * sizeof *st->attrs);
    }
    tn_attr_t *a = &st->attrs[st->nattrs++];
    a->name = name;
    a->ns = ns;
    a->value = tn_stanza_str(value);
}

/* Converts an expat attribute name to ours: "xml:lang" for the XML
 * namespace (*ns NULL), the local name plus an owned *ns otherwise.
 * Returns an owned name, or NULL after parser_fail. */
static char *parser_attr_name(tn_xml_parser_t *p, const char *name, char **ns)
{
    const char *uri, *local;
    *ns = NULL;
    if (parser_split(p, name, &uri, &local) < 0)
        return NULL;
    if (!uri[0])
        return tn_stanza_str(local);
    if (strcmp(uri, TN_NS_XML) == 0)
        return tn_sprintf("xml:%s", local);
    *ns = tn_strdup(uri);
    return tn_strdup(local);
}

/* Appends s to b for a single-quoted attribute value, escaping what
 * attribute-value normalization would otherwise change. */
static void parser_append_attr(tn_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': tn_buf_puts(b, "&amp;"); break;
        case '<': tn_buf_puts(b, "&lt;"); break;
        case '\'': tn_buf_puts(b, "&apos;"); break;
        case '\t': tn_buf_puts(b, "&#9;"); break;
        case '\n': tn_buf_puts(b, "&#10;"); break;
        case '\r': tn_buf_puts(b, "&#13;"); break;
        default: tn_buf_append(b, s, 1);
        }
    }
}

/* From the root's start handler: records "<rawname decls>", what a new
 * expat parser is fed to stand where this one stands after the root start
 * tag (see the file comment). The raw name (with its prefix, which the
 * end tag must repeat) is read from expat's buffer; without it (expat
 * built without XML_CONTEXT_BYTES) the stream is simply never released. */
static void parser_note_root(tn_xml_parser_t *p)
{
    int off = 0, size = 0;
    const char *buf = XML_GetInputContext(p->xp, &off, &size);
    if (!buf || off < 0 || off >= size || buf[off] != '<')
        return;
    const char *name = buf + off + 1, *end = buf + size;
    size_t n = 0;
    while (name + n < end && !strchr(" \t\r\n/>", name[n]))
        n++;
    if (n == 0 || name + n == end)
        return;
    tn_free(p->replay);
    p->replay = tn_sprintf("<%.*s%s>", (int)n, name,
                           p->decls.data ? p->decls.data : "");
    tn_buf_release(&p->decls);
}

static void parser_open_stream(tn_xml_parser_t *p, const char *name,
                               const char **atts)
{
    const char *uri, *local;
    size_t n = 0;
    while (atts[n])
        n += 2;
    const char **list = tn_calloc(n + 1, sizeof *list);
    char **owned = tn_calloc(n / 2 + 1, sizeof *owned);
    size_t k = 0, o = 0;
    for (size_t i = 0; i < n; i += 2) {
        char *ans;
        char *aname = parser_attr_name(p, atts[i], &ans);
        if (!aname)
            goto out;
        if (ans) {
            /* Qualified attributes go as "uri|local", so that
             * foo:to='...' cannot pass for to='...' (BOSH reads
             * xmpp:restart this way). */
            char *q = tn_sprintf("%s|%s", ans, aname);
            tn_free(ans);
            tn_free(aname);
            aname = tn_stanza_str(q);
            tn_free(q);
        }
        owned[o++] = aname;
        list[k++] = aname;
        list[k++] = atts[i + 1];
    }
    if (parser_split(p, name, &uri, &local) < 0)
        goto out;
    p->mark = parser_event_end(p);
    parser_note_root(p);
    if (p->cbs.stream_open)
        p->cbs.stream_open(p->ud, local, uri, p->default_ns, list);
out:
    for (size_t i = 0; i < o; i++)
        tn_stanza_str_free(owned[i]);
    tn_free(owned);
    tn_free(list);
}

static void XMLCALL parser_on_start(void *ud, const XML_Char *name,
                                    const XML_Char **atts)
{
    tn_xml_parser_t *p = ud;
    if (p->halted)
        return;
    size_t nattrs = 0;
    while (atts[nattrs * 2])
        nattrs++;
    if (nattrs > p->lim.max_attrs) {
        parser_fail(p, TN_XML_E_POLICY, "too many attributes");
        return;
    }
    p->depth++;
    if (p->depth == 1) {
        parser_open_stream(p, name, atts);
        return;
    }
    if (p->depth - 1 > p->lim.max_depth) {
        parser_fail(p, TN_XML_E_POLICY, "elements nested too deeply");
        return;
    }
    const char *uri, *local;
    if (parser_split(p, name, &uri, &local) < 0)
        return;
    tn_stanza_t *el;
    if (p->depth == 2) {
        el = p->st = tn_stanza_new(local, uri);
    } else {
        parser_flush_text(p);
        el = tn_stanza_add_child(p->cur, local, uri);
    }
    p->cur = el;
    for (size_t i = 0; i < nattrs; i++) {
        char *ans;
        char *aname = parser_attr_name(p, atts[2 * i], &ans);
        if (!aname)
            return;
        parser_push_attr(el, aname, ans, atts[2 * i + 1]);
    }
}

static void XMLCALL parser_on_end(void *ud, const XML_Char *name)
{
    tn_xml_parser_t *p = ud;
    if (p->halted)
        return;
    if (p->depth == 1) {
        p->depth = 0;
        if (p->cbs.stream_close)
            p->cbs.stream_close(p->ud);
        return;
    }
    parser_flush_text(p);
    p->depth--;
    if (p->depth > 1) {
        p->cur = p->cur->parent;
        return;
    }
    tn_stanza_t *st = p->st;
    p->st = p->cur = NULL;
    p->mark = parser_event_end(p);
    if (p->cbs.stanza)
        p->cbs.stanza(p->ud, st);
    else
        tn_stanza_unref(st);
}

static void XMLCALL parser_on_text(void *ud, const XML_Char *s, int len)
{
    tn_xml_parser_t *p = ud;
    if (p->halted || len <= 0)
        return;
    if (p->depth >= 2) {
        tn_buf_append(&p->text, s, (size_t)len);
        return;
    }
    /* Between stanzas only whitespace (keepalives) may appear. */
    for (int i = 0; i < len; i++) {
        char c = s[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            parser_fail(p, TN_XML_E_BAD_FORMAT, "text at stream level");
            return;
        }
    }
    p->mark = parser_event_end(p);
}

/* A CDATA section between stanzas is not a whitespace keepalive, and
 * inside one expat is not at a point where its parser could be handed
 * back to the pool (its blank text would let p look idle, and the next
 * bytes would then be read as markup). Inside a stanza it is text. */
static void XMLCALL parser_on_cdata(void *ud)
{
    tn_xml_parser_t *p = ud;
    if (!p->halted && p->depth < 2)
        parser_fail(p, TN_XML_E_BAD_FORMAT, "CDATA at stream level");
}

static void XMLCALL parser_on_ns(void *ud, const XML_Char *prefix,
                                 const XML_Char *uri)
{
    tn_xml_parser_t *p = ud;
    if (p->halted)
        return;
    if (uri && strchr(uri, PARSER_SEP)) {
        parser_fail(p, TN_XML_E_BAD_FORMAT, "separator byte in a URI");
        return;
    }
    if (p->depth != 0)
        return;
    if (!prefix) {
        tn_free(p->default_ns);
        p->default_ns = uri ? tn_strdup(uri) : NULL;
    }
    tn_buf_puts(&p->decls, prefix ? " xmlns:" : " xmlns");
    if (prefix)
        tn_buf_puts(&p->decls, prefix);
    tn_buf_puts(&p->decls, "='");
    parser_append_attr(&p->decls, uri ? uri : "");
    tn_buf_puts(&p->decls, "'");
}

static void XMLCALL parser_on_doctype(void *ud, const XML_Char *name,
                                      const XML_Char *sysid,
                                      const XML_Char *pubid,
                                      int has_internal_subset)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "DTD");
}

static void XMLCALL parser_on_entity(void *ud, const XML_Char *name,
                                     int is_param, const XML_Char *value,
                                     int value_len, const XML_Char *base,
                                     const XML_Char *sysid,
                                     const XML_Char *pubid,
                                     const XML_Char *notation)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "entity declaration");
}

static void XMLCALL parser_on_unparsed(void *ud, const XML_Char *name,
                                       const XML_Char *base,
                                       const XML_Char *sysid,
                                       const XML_Char *pubid,
                                       const XML_Char *notation)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "unparsed entity declaration");
}

static void XMLCALL parser_on_notation(void *ud, const XML_Char *name,
                                       const XML_Char *base,
                                       const XML_Char *sysid,
                                       const XML_Char *pubid)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "notation declaration");
}

static void XMLCALL parser_on_comment(void *ud, const XML_Char *data)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "comment");
}

static void XMLCALL parser_on_pi(void *ud, const XML_Char *target,
                                 const XML_Char *data)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "processing instruction");
}

static void XMLCALL parser_on_skipped(void *ud, const XML_Char *name,
                                      int is_param)
{
    parser_fail(ud, TN_XML_E_RESTRICTED, "entity reference");
}

/* A new expat parser: UTF-8 whatever the XML declaration says (RFC 6120
 * 11.6), namespace processing, no reparse deferral; no handlers. */
static XML_Parser parser_expat_new(void)
{
    static const XML_Memory_Handling_Suite mem = {
        tn_malloc,
        tn_realloc,
        tn_free,
    };
    static const XML_Char sep = PARSER_SEP;
    XML_Parser xp = XML_ParserCreate_MM("UTF-8", &mem, &sep);
    if (!xp) /* only on out-of-memory, which tn_malloc already aborts */
        abort();
    XML_SetParamEntityParsing(xp, XML_PARAM_ENTITY_PARSING_NEVER);
    /* We bound what expat buffers ourselves, and need every element
     * reported by the feed that completed it: a deferred reparse would
     * sit on the last bytes of a stanza until more input arrived. */
    if (PARSER_HAS_DEFERRAL)
        XML_SetReparseDeferralEnabled(xp, XML_FALSE);
    return xp;
}

/* Points p->xp's handlers at p. */
static void parser_expat_handlers(tn_xml_parser_t *p)
{
    XML_Parser xp = p->xp;
    XML_SetUserData(xp, p);
    XML_SetElementHandler(xp, parser_on_start, parser_on_end);
    XML_SetCharacterDataHandler(xp, parser_on_text);
    XML_SetStartCdataSectionHandler(xp, parser_on_cdata);
    XML_SetStartNamespaceDeclHandler(xp, parser_on_ns);
    XML_SetStartDoctypeDeclHandler(xp, parser_on_doctype);
    XML_SetEntityDeclHandler(xp, parser_on_entity);
    XML_SetUnparsedEntityDeclHandler(xp, parser_on_unparsed);
    XML_SetNotationDeclHandler(xp, parser_on_notation);
    XML_SetCommentHandler(xp, parser_on_comment);
    XML_SetProcessingInstructionHandler(xp, parser_on_pi);
    XML_SetSkippedEntityHandler(xp, parser_on_skipped);
}

/* Gives p an expat parser before bytes are fed to it: a new one at the
 * start of a stream; while idle, one standing just inside a root like
 * p's (pooled, or new and fed p->replay with no handlers set). Returns 0
 * or a TN_XML_E_* code. */
static int parser_wake(tn_xml_parser_t *p)
{
    long long used = 0;
    XML_Parser xp = p->replay ? parser_pool_take(p->replay, &used) : NULL;
    if (xp) {
        /* Pooled parsers already have our handlers. */
        p->xp = xp;
        p->xdelta = (long long)p->fed - used;
        XML_SetUserData(xp, p);
        return 0;
    }
    xp = parser_expat_new();
    if (p->replay) {
        size_t n = strlen(p->replay);
        if (XML_Parse(xp, p->replay, (int)n, XML_FALSE) != XML_STATUS_OK) {
            /* Cannot happen: the same declarations parsed before. */
            XML_ParserFree(xp);
            p->err = TN_XML_E_NOT_WELL_FORMED;
            p->errmsg = "cannot resume the stream";
            return p->err;
        }
        used = (long long)n;
    }
    p->xp = xp;
    p->xdelta = (long long)p->fed - used;
    parser_expat_handlers(p);
    return 0;
}

/* Whether the last feed left p at a point where its expat parser can go:
 * inside the root, between stanzas, every byte given to expat consumed by
 * a complete event, nothing held back, no error, not inside a parse. */
static int parser_at_idle_point(const tn_xml_parser_t *p)
{
    return p->xp && p->replay && !p->err && !p->stopped && !p->halted &&
           !p->reset_pending && !p->in_parse && p->depth == 1 && !p->st &&
           p->hold.len == 0 && p->mark == p->fed;
}

/* Takes p's expat parser away (to the pool, or freed), and the scratch
 * buffers unless they are small (freeing and regrowing those on every
 * stanza would cost more than the few bytes are worth). */
static void parser_release(tn_xml_parser_t *p)
{
    parser_pool_put(p->xp, (long long)p->fed - p->xdelta, p->replay);
    p->xp = NULL;
    if (p->text.cap > PARSER_KEEP_BUF)
        tn_buf_release(&p->text);
    if (p->scratch.cap > PARSER_KEEP_BUF)
        tn_buf_release(&p->scratch);
    tn_buf_release(&p->hold);
}

/* Starts a new stream: the expat parser is dropped (a new one comes with
 * the first byte) and all stream state cleared. */
static void parser_setup(tn_xml_parser_t *p)
{
    if (p->xp)
        XML_ParserFree(p->xp);
    p->xp = NULL;
    tn_stanza_unref(p->st);
    p->st = p->cur = NULL;
    tn_free(p->default_ns);
    p->default_ns = NULL;
    tn_free(p->replay);
    p->replay = NULL;
    tn_buf_release(&p->decls);
    p->text.len = 0;
    p->err = 0;
    p->errmsg = NULL;
    p->halted = p->reset_pending = p->stopped = 0;
    p->depth = 0;
    p->fed = p->mark = 0;
    p->xdelta = 0;
    p->hold.len = 0;
    p->gen++;
}

void tn_xml_parser_set_limits(tn_xml_parser_t *p,
                              const tn_xml_limits_t *limits)
{
    p->lim = *limits;
    if (!p->lim.max_stanza)
        p->lim.max_stanza = PARSER_DEF_STANZA;
    if (!p->lim.max_depth)
        p->lim.max_depth = PARSER_DEF_DEPTH;
    if (!p->lim.max_attrs)
        p->lim.max_attrs = PARSER_DEF_ATTRS;
}

tn_xml_parser_t *tn_xml_parser_new(const tn_xml_limits_t *limits,
                                   const tn_xml_cbs_t *cbs, void *ud)
{
    static const tn_xml_limits_t none;
    tn_xml_parser_t *p = TN_NEW(tn_xml_parser_t);
    tn_xml_parser_set_limits(p, limits ? limits : &none);
    if (cbs)
        p->cbs = *cbs;
    p->ud = ud;
    tn_buf_init(&p->text);
    tn_buf_init(&p->scratch);
    tn_buf_init(&p->hold);
    tn_buf_init(&p->decls);
    parser_setup(p);
    return p;
}

void tn_xml_parser_free(tn_xml_parser_t *p)
{
    if (!p)
        return;
    if (p->xp)
        XML_ParserFree(p->xp);
    tn_stanza_unref(p->st);
    tn_free(p->default_ns);
    tn_free(p->replay);
    tn_buf_release(&p->decls);
    tn_buf_release(&p->text);
    tn_buf_release(&p->scratch);
    tn_buf_release(&p->hold);
    tn_free(p);
}

/* Maps an expat error code to a TN_XML_E_* code. */
static int parser_map_error(enum XML_Error e)
{
    switch (e) {
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
        return TN_XML_E_RESTRICTED;
    default:
        return TN_XML_E_NOT_WELL_FORMED;
    }
}

/* expat 2.5 rescans an unfinished token on every XML_Parse call
 * (CVE-2023-52425), so a peer dribbling a large tag a byte at a time costs
 * quadratic time. Every complete element, header or end tag ends in '>',
 * so the bytes after the last '>' of a feed cannot complete anything:
 * they are held back (within the stanza bound) until a feed brings a '>'.
 * Nothing complete is ever delayed. */
static int parser_feed(tn_xml_parser_t *p, const char *data, size_t len);

static int parser_is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            return 0;
    return 1;
}

int tn_xml_parser_feed(tn_xml_parser_t *p, const char *data, size_t len)
{
    if (p->stopped)
        return TN_XML_E_STOPPED;
    if (p->err)
        return p->err;
    const char *gt = len ? memrchr(data, '>', len) : NULL;
    size_t head = gt ? (size_t)(gt - data) + 1 : 0;
    size_t tail = len - head;
    if (tail == 0 || parser_is_blank(data + head, tail) ||
        (p->fed - p->mark) + p->hold.len + len >= p->lim.max_stanza) {
        head = len; /* harmless or at the bound: expat enforces it */
        tail = 0;
    }
    if (head == 0) {
        tn_buf_append(&p->hold, data, len);
        return TN_XML_OK;
    }
    unsigned gen = p->gen;
    int rc;
    if (p->hold.len == 0) {
        rc = parser_feed(p, data, head);
    } else {
        tn_buf_append(&p->hold, data, head);
        tn_buf_t in = p->hold;
        tn_buf_init(&p->hold);
        rc = parser_feed(p, in.data, in.len);
        tn_buf_release(&in);
    }
    /* After a reset the tail belongs to the old stream: dropped. */
    if (rc == TN_XML_OK && tail && gen == p->gen)
        tn_buf_append(&p->hold, data + head, tail);
    if (rc == TN_XML_OK && parser_at_idle_point(p))
        parser_release(p);
    return rc;
}

static int parser_feed(tn_xml_parser_t *p, const char *data, size_t len)
{
    if (len > 0 && !p->xp && parser_wake(p) < 0)
        return p->err;
    while (len > 0) {
        size_t used = p->fed - p->mark;
        if (used >= p->lim.max_stanza) {
            /* More bytes of a unit that already has all it may have. */
            p->err = TN_XML_E_POLICY;
            p->errmsg = p->depth ? "stanza too large" : "header too large";
            return p->err;
        }
        size_t n = p->lim.max_stanza - used;
        if (n > len)
            n = len;
        if (n > INT_MAX)
            n = INT_MAX;
        p->in_parse = 1;
        enum XML_Status s = XML_Parse(p->xp, data, (int)n, XML_FALSE);
        p->in_parse = 0;
        p->fed += n;
        data += n;
        len -= n;
        if (p->reset_pending) {
            /* The rest of this feed belongs to the old stream. */
            parser_setup(p);
            return TN_XML_OK;
        }
        if (p->stopped)
            return TN_XML_E_STOPPED;
        if (s != XML_STATUS_ERROR)
            continue;
        if (!p->err) {
            enum XML_Error e = XML_GetErrorCode(p->xp);
            p->err = parser_map_error(e);
            p->errmsg = XML_ErrorString(e);
        }
        p->halted = 1;
        return p->err;
    }
    return TN_XML_OK;
}

void tn_xml_parser_reset(tn_xml_parser_t *p)
{
    if (!p->in_parse) {
        parser_setup(p);
        return;
    }
    p->reset_pending = 1;
    if (!p->halted) {
        p->halted = 1;
        XML_StopParser(p->xp, XML_FALSE);
    }
}

void tn_xml_parser_stop(tn_xml_parser_t *p)
{
    p->stopped = 1;
    if (p->in_parse && !p->halted) {
        p->halted = 1;
        XML_StopParser(p->xp, XML_FALSE);
    }
}

const char *tn_xml_parser_error(const tn_xml_parser_t *p)
{
    if (p->stopped)
        return "stopped";
    return p->errmsg ? p->errmsg : "no error";
}

int tn_xml_parser_is_idle(const tn_xml_parser_t *p)
{
    return p->xp == NULL;
}

int tn_xml_parser_between(const tn_xml_parser_t *p)
{
    if (p->hold.len || p->err || p->stopped || !p->replay)
        return 0;
    return p->xp == NULL || (p->depth == 1 && !p->st && p->mark == p->fed);
}

const char *tn_xml_error_cond(int rc)
{
    return rc == TN_XML_E_RESTRICTED   ? "restricted-xml"
           : rc == TN_XML_E_POLICY     ? "policy-violation"
           : rc == TN_XML_E_BAD_FORMAT ? "bad-format"
                                       : "not-well-formed";
}
