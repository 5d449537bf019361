/* form.c -- XEP-0004 data form helpers (see form.h). */
#include "xmpp/form.h"

#include <string.h>

#include "xml/ns.h"

tn_stanza_t *tn_form_new(const char *type, const char *form_type)
{
    tn_stanza_t *x = tn_stanza_new("x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", type);
    if (form_type)
        tn_form_field(x, "FORM_TYPE", "hidden", NULL, form_type);
    return x;
}

void tn_form_add_value(tn_stanza_t *f, const char *value)
{
    tn_stanza_t *v = tn_stanza_add_child(f, "value", NULL);
    tn_stanza_add_text(v, value, strlen(value));
}

tn_stanza_t *tn_form_field(tn_stanza_t *x, const char *var, const char *type,
                           const char *label, const char *value)
{
    tn_stanza_t *f = tn_stanza_add_child(x, "field", NULL);
    tn_stanza_set_attr(f, "var", var);
    if (type)
        tn_stanza_set_attr(f, "type", type);
    if (label)
        tn_stanza_set_attr(f, "label", label);
    if (value)
        tn_form_add_value(f, value);
    return f;
}

void tn_form_option(tn_stanza_t *f, const char *label, const char *value)
{
    tn_stanza_t *o = tn_stanza_add_child(f, "option", NULL);
    if (label)
        tn_stanza_set_attr(o, "label", label);
    tn_form_add_value(o, value);
}

tn_stanza_t *tn_form_find(const tn_stanza_t *x, const char *var)
{
    for (size_t i = 0; i < x->nkids; i++) {
        tn_stanza_t *f = x->kids[i];
        if (!f->name || strcmp(f->name, "field") != 0)
            continue;
        const char *v = tn_stanza_attr(f, "var");
        if (v && strcmp(v, var) == 0)
            return f;
    }
    return NULL;
}

char *tn_form_value(const tn_stanza_t *x, const char *var)
{
    tn_stanza_t *f = tn_form_find(x, var);
    return f ? tn_stanza_child_text(f, "value", TN_NS_DATA) : NULL;
}

char *tn_form_type(const tn_stanza_t *x)
{
    return tn_form_value(x, "FORM_TYPE");
}

int tn_form_bool(const char *v)
{
    if (!v)
        return -1;
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
        return 1;
    if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
        return 0;
    return -1;
}
