/* parser.h -- an XMPP stream parser on expat.
 *
 * Feeds bytes of one XML stream (RFC 6120 4) and reports the stream
 * header, each complete first-level element (a stanza, or nonza such as
 * <starttls/>) as a tn_stanza_t tree, and the stream end. It enforces the
 * restricted XML of RFC 6120 11.1 (no DTD, entity declaration or reference
 * beyond the predefined five, comment or processing instruction) and the
 * bounds given in tn_xml_limits_t. Whitespace between stanzas is ignored
 * (keepalives). It knows nothing about sockets or XMPP semantics. */
#ifndef TN_XML_PARSER_H
#define TN_XML_PARSER_H

#include <stddef.h>

#include "xml/stanza.h"

/* Results of tn_xml_parser_feed. */
enum {
    TN_XML_OK = 0,
    TN_XML_E_NOT_WELL_FORMED = -1, /* syntax error -> not-well-formed */
    TN_XML_E_RESTRICTED = -2,      /* RFC 6120 11.1 -> restricted-xml */
    TN_XML_E_POLICY = -3,          /* a limit hit -> policy-violation */
    TN_XML_E_BAD_FORMAT = -4,      /* e.g. text at stream level, a
                                      namespace URI holding a separator
                                      byte -> bad-format */
    TN_XML_E_STOPPED = -5,         /* tn_xml_parser_stop was called */
};

typedef struct tn_xml_limits {
    size_t max_stanza;  /* bytes of one first-level element, tags included */
    unsigned max_depth; /* element nesting below the stream root */
    unsigned max_attrs; /* attributes per element */
} tn_xml_limits_t;

typedef struct tn_xml_cbs {
    /* The stream root opened. name/ns are its local name and namespace;
     * default_ns is the default namespace (xmlns='...') it declared, or
     * NULL. attrs is a NULL-terminated name, value, name, value... array
     * of its attributes (names of xml: attributes are "xml:lang", those
     * in other namespaces "uri|local"). All borrowed for the call. */
    void (*stream_open)(void *ud, const char *name, const char *ns,
                        const char *default_ns, const char **attrs);
    /* A first-level element completed. The callee takes the reference. */
    void (*stanza)(void *ud, tn_stanza_t *st);
    /* The stream root closed (</stream:stream>). */
    void (*stream_close)(void *ud);
} tn_xml_cbs_t;

typedef struct tn_xml_parser tn_xml_parser_t;

/* limits and cbs are copied. */
tn_xml_parser_t *tn_xml_parser_new(const tn_xml_limits_t *limits,
                                   const tn_xml_cbs_t *cbs, void *ud);
void tn_xml_parser_free(tn_xml_parser_t *p);

/* Parses len bytes. Callbacks run from inside this call. Returns TN_XML_OK
 * or a TN_XML_E_* code; after an error the parser reports nothing more
 * until reset. */
int tn_xml_parser_feed(tn_xml_parser_t *p, const char *data, size_t len);

/* Starts a new stream (RFC 6120 4.3.3 restart after TLS or SASL). Safe to
 * call from inside a callback: the rest of the bytes of the current feed
 * are then discarded (no plaintext pipelined after <starttls/> is ever
 * parsed), feed returns TN_XML_OK, and the next feed starts afresh. */
void tn_xml_parser_reset(tn_xml_parser_t *p);

/* From inside a callback: deliver nothing more from this feed, which then
 * returns TN_XML_E_STOPPED; later feeds also return TN_XML_E_STOPPED. Used
 * when the session is closing. */
void tn_xml_parser_stop(tn_xml_parser_t *p);

/* Replaces the limits (copied); they apply from the next byte fed. c2s
 * raises the stanza limit once the client has authenticated. */
void tn_xml_parser_set_limits(tn_xml_parser_t *p,
                              const tn_xml_limits_t *limits);

/* 1 while p holds no expat parser: before the first byte of a stream is
 * parsed, and after a feed that ended between stanzas (inside the stream
 * root, no partial element or token, nothing held back) until the next
 * byte is parsed; bytes only held back waiting for a '>' do not count
 * (see tn_xml_parser_feed's hold-back in parser.c). The ~10 KB an expat
 * parser costs is then released (to a pool of at most 8 parsers shared
 * by all streams of the process, or freed); the next feed continues the
 * stream with the same namespace context, so callers see no difference.
 * 0 otherwise. For tests and memory accounting. */
int tn_xml_parser_is_idle(const tn_xml_parser_t *p);

/* 1 when the stream root is open and everything fed so far formed whole
 * first-level elements: no partial element, no bytes held back. Framed
 * transports (WebSocket) check this after each message. */
int tn_xml_parser_between(const tn_xml_parser_t *p);

/* The RFC 6120 stream error condition for a tn_xml_parser_feed error
 * code (static storage): restricted-xml, policy-violation, bad-format or
 * not-well-formed. */
const char *tn_xml_error_cond(int rc);

/* A short description of the last error, for logs (static storage). */
const char *tn_xml_parser_error(const tn_xml_parser_t *p);

#endif
