/* error.h -- stanza errors (RFC 6120 8.3) and stream errors (RFC 6120
 * 4.9): the one place that builds them. */
#ifndef TN_XMPP_ERROR_H
#define TN_XMPP_ERROR_H

#include "xml/stanza.h"

/* Error types of RFC 6120 8.3.2. */
#define TN_ERR_CANCEL "cancel"
#define TN_ERR_MODIFY "modify"
#define TN_ERR_AUTH "auth"
#define TN_ERR_WAIT "wait"

/* Builds the error reply to st: same name and id, to/from swapped, type
 * 'error', the original children copied (RFC 6120 8.3.1 allows it; the
 * sender sees what failed) and an <error type=...> holding <cond/> in the
 * stanzas namespace, plus <text/> when text is not NULL. Returns NULL when
 * st is itself an error (errors are never answered with errors) or, for
 * an iq, when st is a result. The caller owns the reply. */
tn_stanza_t *tn_error_reply(const tn_stanza_t *st, const char *type,
                            const char *cond, const char *text);

/* Appends "<stream:error><cond xmlns=.../>[<text>..</text>]</stream:error>"
 * to out. */
void tn_stream_error_write(tn_buf_t *out, const char *cond, const char *text);
/* The same after the caller's own <stream:error ...> start tag (framed
 * transports declare the prefix on it): condition, text, end tag. */
void tn_stream_error_body(tn_buf_t *out, const char *cond, const char *text);

#endif
