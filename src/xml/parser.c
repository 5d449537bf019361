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
 * conditions and everything XMPP-specific is left to the caller. */
#include "xml/parser.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "util/mem.h"
#include "xml/ns.h"

/* expat reports names as "uri" SEP "local"; 0xff never occurs in UTF-8. */
#define PARSER_SEP '\xff'

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
    XML_Parser xp;
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
};

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

/* Offset just past the event the current handler is reporting. */
static size_t parser_event_end(tn_xml_parser_t *p)
{
    XML_Index i = XML_GetCurrentByteIndex(p->xp);
    int n = XML_GetCurrentByteCount(p->xp);
    if (i < 0 || n < 0)
        return p->mark;
    return (size_t)i + (size_t)n;
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
    a->value = tn_strdup(value);
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
        return tn_strdup(local);
    if (strcmp(uri, TN_NS_XML) == 0)
        return tn_sprintf("xml:%s", local);
    *ns = tn_strdup(uri);
    return tn_strdup(local);
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
            /* Foreign qualified attributes are not passed on, so that
             * foo:to='...' cannot pass for to='...'. */
            tn_free(ans);
            tn_free(aname);
            continue;
        }
        owned[o++] = aname;
        list[k++] = aname;
        list[k++] = atts[i + 1];
    }
    if (parser_split(p, name, &uri, &local) < 0)
        goto out;
    p->mark = parser_event_end(p);
    if (p->cbs.stream_open)
        p->cbs.stream_open(p->ud, local, uri, p->default_ns, list);
out:
    for (size_t i = 0; i < o; i++)
        tn_free(owned[i]);
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
    if (p->depth == 0 && !prefix) {
        tn_free(p->default_ns);
        p->default_ns = uri ? tn_strdup(uri) : NULL;
    }
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

/* A fresh expat parser with our handlers; all stream state cleared. */
static void parser_setup(tn_xml_parser_t *p)
{
    if (p->xp)
        XML_ParserFree(p->xp);
    /* The encoding argument overrides any XML declaration (RFC 6120
     * 11.6: UTF-8 only). */
    static const XML_Memory_Handling_Suite mem = {
        tn_malloc,
        tn_realloc,
        tn_free,
    };
    static const XML_Char sep = PARSER_SEP;
    p->xp = XML_ParserCreate_MM("UTF-8", &mem, &sep);
    if (!p->xp) /* only on out-of-memory, which tn_malloc already aborts */
        abort();
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, parser_on_start, parser_on_end);
    XML_SetCharacterDataHandler(p->xp, parser_on_text);
    XML_SetStartNamespaceDeclHandler(p->xp, parser_on_ns);
    XML_SetStartDoctypeDeclHandler(p->xp, parser_on_doctype);
    XML_SetEntityDeclHandler(p->xp, parser_on_entity);
    XML_SetUnparsedEntityDeclHandler(p->xp, parser_on_unparsed);
    XML_SetNotationDeclHandler(p->xp, parser_on_notation);
    XML_SetCommentHandler(p->xp, parser_on_comment);
    XML_SetProcessingInstructionHandler(p->xp, parser_on_pi);
    XML_SetSkippedEntityHandler(p->xp, parser_on_skipped);
    XML_SetParamEntityParsing(p->xp, XML_PARAM_ENTITY_PARSING_NEVER);
    /* We bound what expat buffers ourselves, and need every element
     * reported by the feed that completed it: a deferred reparse would
     * sit on the last bytes of a stanza until more input arrived. */
    if (PARSER_HAS_DEFERRAL)
        XML_SetReparseDeferralEnabled(p->xp, XML_FALSE);
    tn_stanza_unref(p->st);
    p->st = p->cur = NULL;
    tn_free(p->default_ns);
    p->default_ns = NULL;
    p->text.len = 0;
    p->err = 0;
    p->errmsg = NULL;
    p->halted = p->reset_pending = p->stopped = 0;
    p->depth = 0;
    p->fed = p->mark = 0;
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
    parser_setup(p);
    return p;
}

void tn_xml_parser_free(tn_xml_parser_t *p)
{
    if (!p)
        return;
    XML_ParserFree(p->xp);
    tn_stanza_unref(p->st);
    tn_free(p->default_ns);
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
    return rc;
}

static int parser_feed(tn_xml_parser_t *p, const char *data, size_t len)
{
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
