/* element.c -- parses one element from a string through the stream
 * parser, so stored XML meets the same RFC 6120 11 restrictions. */
#include "xml/element.h"

#include <string.h>

#include "util/buf.h"
#include "xml/ns.h"
#include "xml/parser.h"

typedef struct element_ctx {
    tn_stanza_t *st; /* owned; the first element */
    int extra;       /* more than one element */
} element_ctx_t;

static void element_on_stanza(void *ud, tn_stanza_t *st)
{
    element_ctx_t *c = ud;
    if (c->st) {
        c->extra = 1;
        tn_stanza_unref(st);
        return;
    }
    c->st = st;
}

tn_stanza_t *tn_xml_element_parse(const char *s, size_t len,
                                  const char *default_ns)
{
    element_ctx_t ctx = {NULL, 0};
    tn_xml_cbs_t cbs = {.stanza = element_on_stanza};
    tn_buf_t b;
    tn_buf_init(&b);
    tn_buf_puts(&b, "<stream:stream xmlns:stream='" TN_NS_STREAM "' xmlns='");
    tn_buf_append_xml(&b, default_ns, strlen(default_ns), 1);
    tn_buf_puts(&b, "'>");
    /* The bound applies to the wrapper header too: an element shorter
     * than the header must still fit. */
    tn_xml_limits_t lim = {len + b.len + 1, 64, 256};
    tn_xml_parser_t *p = tn_xml_parser_new(&lim, &cbs, &ctx);
    int rc = tn_xml_parser_feed(p, b.data, b.len);
    if (rc == TN_XML_OK)
        rc = tn_xml_parser_feed(p, s, len);
    /* The closing tag makes the parser report everything fed so far. */
    if (rc == TN_XML_OK)
        rc = tn_xml_parser_feed(p, "</stream:stream>", 16);
    tn_buf_release(&b);
    tn_xml_parser_free(p);
    if (rc != TN_XML_OK || ctx.extra) {
        tn_stanza_unref(ctx.st);
        return NULL;
    }
    return ctx.st;
}
