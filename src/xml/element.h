/* element.h -- one XML element from a string: for XML kept in the store
 * (roster items, offline messages, vCards), which is parsed again with
 * the same restrictions and limits as stream input. */
#ifndef TN_XML_ELEMENT_H
#define TN_XML_ELEMENT_H

#include <stddef.h>

#include "xml/stanza.h"

/* Parses exactly one element from s (len bytes), in the default
 * namespace default_ns (TN_NS_CLIENT for stanzas). Returns a tree with
 * one reference, or NULL when s is not one well-formed, unrestricted
 * element. */
tn_stanza_t *tn_xml_element_parse(const char *s, size_t len,
                                  const char *default_ns);

#endif
