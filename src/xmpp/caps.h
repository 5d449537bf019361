/* caps.h -- XEP-0115 Entity Capabilities: the verification string of a
 * disco#info result (XEP-0115 5.1, with the validity rules of 5.4) and the
 * node tern advertises in its own <c/>. Pure: no I/O, no state. Who sends
 * the <c/> element (mod_caps) and who answers node#ver queries (mod_disco)
 * is left to the modules. */
#ifndef TN_XMPP_CAPS_H
#define TN_XMPP_CAPS_H

#include "util/buf.h"
#include "xml/stanza.h"

/* The 'node' attribute of tern's own <c/> (XEP-0115 4: a URI identifying
 * the software). disco#info to "TN_CAPS_NODE#ver" returns the same info as
 * without a node (XEP-0115 6.2). */
#define TN_CAPS_NODE "https://tern.example/caps"

/* Appends to out the string S of XEP-0115 5.1 for query, a disco#info
 * <query/>: its <identity/> elements sorted by category, type, xml:lang
 * (then name) as "category/type/lang/name<", its <feature/> vars sorted,
 * each followed by '<', then its XEP-0128 jabber:x:data forms sorted by
 * FORM_TYPE, each as "FORM_TYPE<" and its other fields sorted by var,
 * "var<" followed by the field's values, sorted, each followed by '<'.
 * Sorting is by bytes (i;octet). Forms without a hidden FORM_TYPE field
 * are skipped (5.4 step 3.6); other children of query are ignored.
 *
 * Returns 0, or TN_EINVAL when query is ill-formed per 5.4 (two equal
 * identities, two equal features, two forms with the same FORM_TYPE, a
 * FORM_TYPE with differing values) or an identity lacks category or type
 * or a feature its var; out may then hold part of S. Nothing is kept. */
int tn_caps_string(const tn_stanza_t *query, tn_buf_t *out);

/* The 'ver' for hash='sha-1': base64 of the SHA-1 of S above. Returns a
 * fresh string (caller frees), or NULL with *err set to TN_EINVAL (err
 * may be NULL) when tn_caps_string fails. */
char *tn_caps_ver(const tn_stanza_t *query, int *err);

#endif
