/* stanza.h -- the XML element tree every stanza lives in.
 *
 * A tree is reference counted at its root: tn_stanza_new and the parser
 * hand out one reference; tn_stanza_ref/unref move it. Children belong to
 * their parent and are freed with it; never unref a child. A stanza with
 * more than one reference is read-only: tn_stanza_copy it before changing.
 *
 * Names are local names; every element carries its namespace URI (ns).
 * Attributes are stored by name; attributes in the XML namespace are named
 * "xml:lang" etc., other namespaced attributes carry their URI in ns.
 * Text children are nodes with name == NULL. */
#ifndef TN_XML_STANZA_H
#define TN_XML_STANZA_H

#include <stddef.h>

#include "util/buf.h"

typedef struct tn_attr {
    char *name;  /* owned; "xml:lang" for the XML namespace */
    char *ns;    /* owned; NULL for unqualified attributes */
    char *value; /* owned */
} tn_attr_t;

typedef struct tn_stanza tn_stanza_t;
struct tn_stanza {
    int refs;            /* meaningful on the root only */
    char *name;          /* owned local name; NULL for a text node */
    char *ns;            /* owned namespace URI; NULL for a text node */
    char *text;          /* owned text of a text node */
    size_t text_len;     /* bytes in text */
    tn_attr_t *attrs;    /* owned array */
    size_t nattrs, attrs_cap;
    tn_stanza_t **kids;  /* owned array of children (elements and text) */
    size_t nkids, kids_cap;
    tn_stanza_t *parent; /* borrowed; NULL at the root */
    char *wire;          /* root only, owned: see tn_stanza_wire_cache */
    size_t wire_len;
};

/* Strings of a tree (names, namespaces, attribute values) are owned by it
 * and made with tn_stanza_str: a copy, or for the most common ones a
 * shared static string; free them only with tn_stanza_str_free. */
char *tn_stanza_str(const char *s);
void tn_stanza_str_free(char *s);

/* A new root element holding one reference. ns must not be NULL. */
tn_stanza_t *tn_stanza_new(const char *name, const char *ns);
tn_stanza_t *tn_stanza_ref(tn_stanza_t *st);
/* Drops one reference; frees the tree at zero. NULL is ignored. */
void tn_stanza_unref(tn_stanza_t *st);
/* A deep copy with one reference, detached from any parent. */
tn_stanza_t *tn_stanza_copy(const tn_stanza_t *st);

/* The value of unqualified attribute `name` ("xml:lang" also works), or
 * NULL. Borrowed. */
const char *tn_stanza_attr(const tn_stanza_t *st, const char *name);
/* Sets (copying) or, with value NULL, removes an unqualified attribute. */
void tn_stanza_set_attr(tn_stanza_t *st, const char *name, const char *value);

/* Appends and returns a new element child; ns NULL means the parent's. */
tn_stanza_t *tn_stanza_add_child(tn_stanza_t *st, const char *name,
                                 const char *ns);
/* Appends a copy of text; adjacent text is merged into one node. */
void tn_stanza_add_text(tn_stanza_t *st, const char *text, size_t len);
/* Appends a deep copy of child (which may belong to another tree). */
tn_stanza_t *tn_stanza_add_copy(tn_stanza_t *st, const tn_stanza_t *child);
/* Removes and frees child kid (an element or text node of st). */
void tn_stanza_remove(tn_stanza_t *st, tn_stanza_t *kid);

/* First element child with this name and ns; NULL matches any. Borrowed. */
tn_stanza_t *tn_stanza_child(const tn_stanza_t *st, const char *name,
                             const char *ns);
/* Number of element (not text) children. */
size_t tn_stanza_nelements(const tn_stanza_t *st);
/* The text directly inside st, concatenated (caller frees), never NULL. */
char *tn_stanza_text(const tn_stanza_t *st);
/* Text of the first child element name/ns (caller frees), or NULL. */
char *tn_stanza_child_text(const tn_stanza_t *st, const char *name,
                           const char *ns);

/* Appends st as XML to out. outer_ns is the default namespace in force
 * where st is written (TN_NS_CLIENT inside a c2s stream; never
 * TN_NS_STREAM or the XML namespace): an xmlns
 * attribute is written only where an element's ns differs from its
 * context. Elements in TN_NS_STREAM are written with the "stream:" prefix,
 * which the stream header declares, and elements in the XML namespace with
 * the predeclared "xml:" prefix. Attribute values and text are escaped;
 * the output is always well-formed. */
void tn_stanza_serialize(const tn_stanza_t *st, const char *outer_ns,
                         tn_buf_t *out);
/* For fan-out, where one stanza goes to many recipients and only its 'to'
 * differs: serializes st (a root in TN_NS_CLIENT) once, without 'to'.
 * Until anything but the root's 'to' changes, tn_stanza_serialize with
 * outer_ns TN_NS_CLIENT then copies those bytes, writing the current 'to'
 * first, instead of walking the tree. Any other change drops the cache;
 * copies do not carry it. */
void tn_stanza_wire_cache(tn_stanza_t *st);
/* Convenience: serializes into a fresh string (caller frees). */
char *tn_stanza_to_string(const tn_stanza_t *st, const char *outer_ns);

#endif
