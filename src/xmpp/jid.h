/* jid.h -- XMPP addresses (RFC 7622 shape).
 *
 * Parsing splits node@domain/resource and canonicalizes each part the way
 * ejabberd and Prosody do (RFC 6122 profiles): stringprep Nodeprep for the
 * localpart (libidn), IDNA2008 (libidn2) to ToASCII-then-ToUnicode form for
 * the domain, lowercased, with a trailing dot removed, and stringprep
 * Resourceprep for the resource. ASCII domains are checked by us first (LDH
 * labels of 1..63 octets, or an IP literal) because libidn2 silently
 * accepts some bad input. Each part is 1..1023 octets after preparation;
 * empty parts ("@d", "d/", "n@") are errors. One canonical form is used for
 * authentication, routing, rosters and storage keys. */
#ifndef TN_XMPP_JID_H
#define TN_XMPP_JID_H

typedef struct tn_jid {
    char *node;     /* owned; NULL when absent */
    char *domain;   /* owned; never NULL in a parsed JID */
    char *resource; /* owned; NULL when absent */
    char *bare;     /* owned; "node@domain" or "domain" */
    char *full;     /* owned; bare plus "/resource" when there is one */
} tn_jid_t;

/* Parses and canonicalizes s into *out (which the caller releases with
 * tn_jid_release). Returns 0 or TN_EJID; on error *out is zeroed. */
int tn_jid_parse(const char *s, tn_jid_t *out);
/* Builds a JID from parts (node and resource may be NULL), preparing each
 * as tn_jid_parse does. Returns 0 or TN_EJID. */
int tn_jid_make(const char *node, const char *domain, const char *resource,
                tn_jid_t *out);
void tn_jid_release(tn_jid_t *j);
/* Deep copy into *out. */
void tn_jid_copy(const tn_jid_t *j, tn_jid_t *out);

/* Single-part preparation; each returns a fresh string (caller frees) or
 * NULL when the input is not acceptable for that part. */
char *tn_jid_nodeprep(const char *s);
char *tn_jid_nameprep(const char *s);
char *tn_jid_resourceprep(const char *s);

#endif
