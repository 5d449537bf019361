/* mod_contact.c -- XEP-0157 Contact Addresses for XMPP Services: the
 * operator's addresses, one option per role, published as an XEP-0128
 * form (FORM_TYPE http://jabber.org/network/serverinfo) in the server's
 * disco#info. Options (each a comma-separated list of URIs, e.g.
 * "mailto:xmpp@example.org, xmpp:admin@example.org"):
 *   abuse, admin, feedback, sales, security, support
 * become the fields <role>-addresses of XEP-0157 5. Without any option no
 * form is published. Items are trimmed; empty items are skipped; an item
 * without a URI scheme (no ':') makes the load fail. The mailbox of RFC
 * 2142 and the message alias of the bare domain are left to operators. */
#include <string.h>

#include "core/module.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"

#define CONTACT_FORM_TYPE "http://jabber.org/network/serverinfo"

/* Sorted by field name, as XEP-0157's example lists them. */
static const char *const contact_roles[] = {
    "abuse", "admin", "feedback", "sales", "security", "support",
};

static int contact_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Adds a <value/> to field for each item of the comma-separated list.
 * Returns the number added, or TN_EINVAL for an item that is no URI. */
static int contact_values(tn_stanza_t *field, const char *role,
                          const char *list)
{
    int n = 0;
    const char *p = list;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && contact_is_space(*a))
            a++;
        while (b > a && contact_is_space(b[-1]))
            b--;
        if (a < b) {
            if (!memchr(a, ':', (size_t)(b - a))) {
                tn_log(TN_LOG_ERROR,
                       "contact: %s: '%.*s' is not a URI "
                       "(mailto:..., xmpp:..., https://...)",
                       role, (int)(b - a), a);
                return TN_EINVAL;
            }
            tn_stanza_add_text(tn_stanza_add_child(field, "value", NULL), a,
                               (size_t)(b - a));
            n++;
        }
        p = *end ? end + 1 : end;
    }
    return n;
}

static int contact_load(tn_module_t *m)
{
    tn_stanza_t *x = tn_stanza_new("x", TN_NS_DATA);
    tn_stanza_set_attr(x, "type", "result");
    tn_stanza_t *ft = tn_stanza_add_child(x, "field", NULL);
    tn_stanza_set_attr(ft, "var", "FORM_TYPE");
    tn_stanza_set_attr(ft, "type", "hidden");
    tn_stanza_add_text(tn_stanza_add_child(ft, "value", NULL),
                       CONTACT_FORM_TYPE, strlen(CONTACT_FORM_TYPE));
    int fields = 0, rc = 0;
    for (size_t i = 0; i < sizeof contact_roles / sizeof *contact_roles; i++) {
        const char *list = NULL;
        rc = tn_module_opt_str(m, contact_roles[i], NULL, &list);
        if (rc < 0)
            goto done;
        if (!list)
            continue;
        tn_stanza_t *f = tn_stanza_add_child(x, "field", NULL);
        char *var = tn_sprintf("%s-addresses", contact_roles[i]);
        tn_stanza_set_attr(f, "var", var);
        tn_free(var);
        /* The registered type (XEP-0157 5); harmless in a result. */
        tn_stanza_set_attr(f, "type", "list-multi");
        rc = contact_values(f, contact_roles[i], list);
        if (rc < 0)
            goto done;
        if (rc == 0)
            tn_stanza_remove(x, f); /* only commas and spaces */
        else
            fields++;
        rc = 0;
    }
    if (fields > 0)
        tn_module_disco_form(m, x);
done:
    tn_stanza_unref(x);
    return rc;
}

const tn_module_def_t tn_mod_contact = {
    .name = "contact",
    .xeps = "XEP-0157 1.0; XEP-0128 1.0",
    .load = contact_load,
};
