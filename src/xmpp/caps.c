/* caps.c -- XEP-0115 5.1 verification string and 5.4 validity rules (see
 * caps.h). Everything is borrowed from the query except the texts of
 * <value/> elements, which are gathered into fresh strings. */
#include "xmpp/caps.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"
#include "util/err.h"
#include "util/mem.h"
#include "xml/ns.h"

typedef struct caps_ident {
    const char *category, *type, *lang, *name; /* borrowed; "" if absent */
} caps_ident_t;

typedef struct caps_field {
    const char *var;          /* borrowed */
    const tn_stanza_t *field; /* borrowed */
} caps_field_t;

typedef struct caps_form {
    char *type; /* owned: the FORM_TYPE value */
    tn_buf_t s; /* owned: this form's part of S */
} caps_form_t;

static const char *caps_or_empty(const char *s)
{
    return s ? s : "";
}

static int caps_ident_cmp(const void *a, const void *b)
{
    const caps_ident_t *x = a, *y = b;
    int c = strcmp(x->category, y->category);
    if (!c)
        c = strcmp(x->type, y->type);
    if (!c)
        c = strcmp(x->lang, y->lang);
    if (!c)
        c = strcmp(x->name, y->name);
    return c;
}

static int caps_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int caps_field_cmp(const void *a, const void *b)
{
    return strcmp(((const caps_field_t *)a)->var,
                  ((const caps_field_t *)b)->var);
}

static int caps_form_cmp(const void *a, const void *b)
{
    return strcmp(((const caps_form_t *)a)->type,
                  ((const caps_form_t *)b)->type);
}

static int caps_is(const tn_stanza_t *k, const char *name, const char *ns)
{
    return k->name && strcmp(k->name, name) == 0 && k->ns &&
           strcmp(k->ns, ns) == 0;
}

static void caps_put(tn_buf_t *out, const char *s)
{
    tn_buf_puts(out, s);
    tn_buf_append(out, "<", 1);
}

/* The texts of field's <value/> children (fresh strings) in *n. */
static char **caps_values(const tn_stanza_t *field, size_t *n)
{
    char **v = tn_calloc(field->nkids + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < field->nkids; i++)
        if (caps_is(field->kids[i], "value", TN_NS_DATA))
            v[(*n)++] = tn_stanza_text(field->kids[i]);
    return v;
}

static void caps_values_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tn_free(v[i]);
    tn_free(v);
}

/* Builds form's part of S into f. Returns 1 when the form counts, 0 when
 * it has no hidden FORM_TYPE (skipped), TN_EINVAL when its FORM_TYPE has
 * differing values. */
static int caps_form(const tn_stanza_t *x, caps_form_t *f)
{
    caps_field_t *fields = tn_calloc(x->nkids + 1, sizeof *fields);
    size_t nfields = 0;
    const tn_stanza_t *ft = NULL;
    int rc = 1;
    for (size_t i = 0; i < x->nkids; i++) {
        const tn_stanza_t *k = x->kids[i];
        if (!caps_is(k, "field", TN_NS_DATA))
            continue;
        const char *var = tn_stanza_attr(k, "var");
        if (!var)
            continue; /* 'fixed' fields carry no data to hash */
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (!ft)
                ft = k;
            continue;
        }
        fields[nfields++] = (caps_field_t){var, k};
    }
    const char *ftype = ft ? tn_stanza_attr(ft, "type") : NULL;
    size_t nv = 0;
    char **v = ft ? caps_values(ft, &nv) : NULL;
    if (!ftype || strcmp(ftype, "hidden") != 0 || nv == 0) {
        rc = 0;
        goto done;
    }
    for (size_t i = 1; i < nv; i++)
        if (strcmp(v[i], v[0]) != 0) {
            rc = TN_EINVAL;
            goto done;
        }
    f->type = tn_strdup(v[0]);
    tn_buf_init(&f->s);
    caps_put(&f->s, f->type);
    qsort(fields, nfields, sizeof *fields, caps_field_cmp);
    for (size_t i = 0; i < nfields; i++) {
        size_t n;
        char **vals = caps_values(fields[i].field, &n);
        qsort(vals, n, sizeof *vals, caps_str_cmp);
        caps_put(&f->s, fields[i].var);
        for (size_t k = 0; k < n; k++)
            caps_put(&f->s, vals[k]);
        caps_values_free(vals, n);
    }
done:
    if (v)
        caps_values_free(v, nv);
    tn_free(fields);
    return rc;
}

int tn_caps_string(const tn_stanza_t *query, tn_buf_t *out)
{
    size_t n = query->nkids;
    caps_ident_t *ids = tn_calloc(n + 1, sizeof *ids);
    const char **feats = tn_calloc(n + 1, sizeof *feats);
    caps_form_t *forms = tn_calloc(n + 1, sizeof *forms);
    size_t nids = 0, nfeats = 0, nforms = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const tn_stanza_t *k = query->kids[i];
        if (caps_is(k, "identity", TN_NS_DISCO_INFO)) {
            caps_ident_t id = {tn_stanza_attr(k, "category"),
                               tn_stanza_attr(k, "type"),
                               caps_or_empty(tn_stanza_attr(k, "xml:lang")),
                               caps_or_empty(tn_stanza_attr(k, "name"))};
            if (!id.category || !id.type) {
                rc = TN_EINVAL;
                goto done;
            }
            ids[nids++] = id;
        } else if (caps_is(k, "feature", TN_NS_DISCO_INFO)) {
            const char *var = tn_stanza_attr(k, "var");
            if (!var) {
                rc = TN_EINVAL;
                goto done;
            }
            feats[nfeats++] = var;
        } else if (caps_is(k, "x", TN_NS_DATA)) {
            int r = caps_form(k, &forms[nforms]);
            if (r < 0) {
                rc = r;
                goto done;
            }
            nforms += (size_t)r;
        }
    }
    qsort(ids, nids, sizeof *ids, caps_ident_cmp);
    qsort(feats, nfeats, sizeof *feats, caps_str_cmp);
    qsort(forms, nforms, sizeof *forms, caps_form_cmp);
    for (size_t i = 1; i < nids; i++)
        if (caps_ident_cmp(&ids[i - 1], &ids[i]) == 0)
            rc = TN_EINVAL;
    for (size_t i = 1; i < nfeats; i++)
        if (strcmp(feats[i - 1], feats[i]) == 0)
            rc = TN_EINVAL;
    for (size_t i = 1; i < nforms; i++)
        if (strcmp(forms[i - 1].type, forms[i].type) == 0)
            rc = TN_EINVAL;
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < nids; i++) {
        tn_buf_puts(out, ids[i].category);
        tn_buf_append(out, "/", 1);
        tn_buf_puts(out, ids[i].type);
        tn_buf_append(out, "/", 1);
        tn_buf_puts(out, ids[i].lang);
        tn_buf_append(out, "/", 1);
        caps_put(out, ids[i].name);
    }
    for (size_t i = 0; i < nfeats; i++)
        caps_put(out, feats[i]);
    for (size_t i = 0; i < nforms; i++)
        tn_buf_append(out, forms[i].s.data, forms[i].s.len);
done:
    for (size_t i = 0; i < nforms; i++) {
        tn_free(forms[i].type);
        tn_buf_release(&forms[i].s);
    }
    tn_free(forms);
    tn_free(feats);
    tn_free(ids);
    return rc;
}

char *tn_caps_ver(const tn_stanza_t *query, int *err)
{
    tn_buf_t s;
    tn_buf_init(&s);
    int rc = tn_caps_string(query, &s);
    char *ver = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (rc == 0 &&
        !EVP_Digest(s.data ? s.data : "", s.len, md, &mdlen, EVP_sha1(), NULL))
        rc = TN_EINVAL; /* not reached: SHA-1 of memory cannot fail */
    if (rc == 0)
        ver = tn_base64_encode(md, mdlen);
    tn_buf_release(&s);
    if (err)
        *err = rc;
    return ver;
}
