/* form.h -- XEP-0004 data forms: building fields and reading submitted
 * values. Used by MUC room configuration and the pubsub forms. */
#ifndef TN_XMPP_FORM_H
#define TN_XMPP_FORM_H

#include "xml/stanza.h"

/* A new <x xmlns='jabber:x:data' type=type/> with a hidden FORM_TYPE
 * field holding form_type (none when form_type is NULL). Caller owns. */
tn_stanza_t *tn_form_new(const char *type, const char *form_type);
/* Appends <field var type label><value/></field> to x (type, label and
 * value may be NULL) and returns the field. */
tn_stanza_t *tn_form_field(tn_stanza_t *x, const char *var, const char *type,
                           const char *label, const char *value);
/* Appends one more <value/> to field f. */
void tn_form_add_value(tn_stanza_t *f, const char *value);
/* Appends <option label><value/></option> to field f. */
void tn_form_option(tn_stanza_t *f, const char *label, const char *value);
/* The field var of x, or NULL. Borrowed. */
tn_stanza_t *tn_form_find(const tn_stanza_t *x, const char *var);
/* The first value of field var in x (caller frees), or NULL when there is
 * no such field or it has no value. */
char *tn_form_value(const tn_stanza_t *x, const char *var);
/* The value of the FORM_TYPE field (caller frees), or NULL. */
char *tn_form_type(const tn_stanza_t *x);
/* XEP-0004 3.3 boolean: "1"/"true" -> 1, "0"/"false" -> 0, else -1. */
int tn_form_bool(const char *v);

#endif
