/* error.c -- builders for stanza errors (RFC 6120 8.3) and stream errors
 * (RFC 6120 4.9.3). */
#include "xmpp/error.h"

#include <string.h>

#include "xml/ns.h"

tn_stanza_t *tn_error_reply(const tn_stanza_t *st, const char *type,
                            const char *cond, const char *text)
{
    const char *stype = tn_stanza_attr(st, "type");
    if (stype && strcmp(stype, "error") == 0)
        return NULL;
    if (strcmp(st->name, "iq") == 0 && stype && strcmp(stype, "result") == 0)
        return NULL;
    tn_stanza_t *r = tn_stanza_new(st->name, st->ns);
    const char *id = tn_stanza_attr(st, "id");
    if (id)
        tn_stanza_set_attr(r, "id", id);
    const char *from = tn_stanza_attr(st, "from");
    const char *to = tn_stanza_attr(st, "to");
    if (from)
        tn_stanza_set_attr(r, "to", from);
    if (to)
        tn_stanza_set_attr(r, "from", to);
    tn_stanza_set_attr(r, "type", "error");
    for (size_t i = 0; i < st->nkids; i++)
        if (st->kids[i]->name && strcmp(st->kids[i]->name, "error") != 0)
            tn_stanza_add_copy(r, st->kids[i]);
    tn_stanza_t *e = tn_stanza_add_child(r, "error", NULL);
    tn_stanza_set_attr(e, "type", type);
    tn_stanza_add_child(e, cond, TN_NS_STANZAS);
    if (text) {
        tn_stanza_t *t = tn_stanza_add_child(e, "text", TN_NS_STANZAS);
        tn_stanza_add_text(t, text, strlen(text));
    }
    return r;
}

void tn_stream_error_write(tn_buf_t *out, const char *cond, const char *text)
{
    tn_buf_puts(out, "<stream:error>");
    tn_stream_error_body(out, cond, text);
}

void tn_stream_error_body(tn_buf_t *out, const char *cond, const char *text)
{
    tn_buf_printf(out, "<%s xmlns='" TN_NS_STREAMS "'/>", cond);
    if (text) {
        tn_buf_puts(out, "<text xmlns='" TN_NS_STREAMS "'>");
        tn_buf_append_xml(out, text, strlen(text), 0);
        tn_buf_puts(out, "</text>");
    }
    tn_buf_puts(out, "</stream:error>");
}
