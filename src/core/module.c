/* module.c -- the module registry: loads the configured modules, records
 * what each declared (disco features and identities, IQ handlers) and
 * dispatches IQs to them by payload namespace, type and target class.
 * Handler lists are tiny and sorted by priority once at load. */
#include "core/module.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/router.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"

typedef struct modreg_iq {
    tn_module_t *mod;
    int types, targets, prio;
    const char *ns, *elem;
    tn_handler_cb cb;
} modreg_iq_t;

typedef struct modreg_hook {
    tn_handler_cb cb;
    int prio;
} modreg_hook_t;

typedef struct modreg_ident {
    const char *category, *type, *name;
    int target; /* TN_TO_HOST or TN_TO_BARE */
} modreg_ident_t;

struct tn_module {
    const tn_module_def_t *def;
    tn_server_t *srv;
    const char **features;
    size_t nfeatures;
    modreg_ident_t *idents;
    size_t nidents;
    tn_stanza_t **forms; /* owned refs: XEP-0128 disco#info forms */
    size_t nforms;
    int targets; /* union of its IQ handlers' target classes */
    char *err;   /* owned; an option error from load() */
};

typedef struct tn_modreg {
    tn_module_t *mods;
    size_t nmods;
    modreg_iq_t *iqs;
    size_t niqs;
    modreg_hook_t *hooks[TN_HOOK_COUNT];
    size_t nhooks[TN_HOOK_COUNT];
    unsigned char *opt_used; /* per cfg->modopts entry */
} tn_modreg_t;

/* The option module/key, marking it used, or NULL. */
static const tn_modopt_t *modreg_opt(tn_module_t *m, const char *key)
{
    const tn_config_t *cfg = m->srv->cfg;
    for (size_t i = 0; i < cfg->nmodopts; i++)
        if (strcmp(cfg->modopts[i].module, m->def->name) == 0 &&
            strcmp(cfg->modopts[i].key, key) == 0) {
            m->srv->modreg->opt_used[i] = 1;
            return &cfg->modopts[i];
        }
    return NULL;
}

static int modreg_opt_error(tn_module_t *m, const tn_modopt_t *o,
                            const char *reason)
{
    if (!m->err)
        m->err = tn_sprintf("%s:%u: key 'modules.%s.%s': %s", m->srv->cfg->path,
                            o->line, o->module, o->key, reason);
    return TN_EINVAL;
}

int tn_module_opt_int(tn_module_t *m, const char *key, long long def,
                      long long min, long long max, long long *out)
{
    const tn_modopt_t *o = modreg_opt(m, key);
    *out = def;
    if (!o)
        return 0;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(o->value, &end, 10);
    if (errno || end == o->value || *end)
        return modreg_opt_error(m, o, "expected an integer");
    if (v < min || v > max) {
        char reason[96];
        snprintf(reason, sizeof reason, "must be between %lld and %lld", min,
                 max);
        return modreg_opt_error(m, o, reason);
    }
    *out = v;
    return 0;
}

int tn_module_opt_bool(tn_module_t *m, const char *key, int def, int *out)
{
    const tn_modopt_t *o = modreg_opt(m, key);
    *out = def;
    if (!o)
        return 0;
    if (strcmp(o->value, "true") == 0 || strcmp(o->value, "yes") == 0)
        *out = 1;
    else if (strcmp(o->value, "false") == 0 || strcmp(o->value, "no") == 0)
        *out = 0;
    else
        return modreg_opt_error(m, o, "expected true or false");
    return 0;
}

int tn_module_opt_str(tn_module_t *m, const char *key, const char *def,
                      const char **out)
{
    const tn_modopt_t *o = modreg_opt(m, key);
    *out = o ? o->value : def;
    return 0;
}

void tn_module_hook(tn_module_t *m, tn_hook_t hook, tn_handler_cb cb,
                    int prio)
{
    tn_modreg_t *r = m->srv->modreg;
    size_t n = r->nhooks[hook];
    r->hooks[hook] = tn_realloc(r->hooks[hook], (n + 1) * sizeof(modreg_hook_t));
    size_t i = n;
    while (i > 0 && r->hooks[hook][i - 1].prio < prio) {
        r->hooks[hook][i] = r->hooks[hook][i - 1];
        i--;
    }
    r->hooks[hook][i] = (modreg_hook_t){cb, prio};
    r->nhooks[hook] = n + 1;
}

tn_verdict_t tn_hook_run(tn_server_t *srv, tn_hook_t hook, tn_event_t *ev)
{
    tn_modreg_t *r = srv->modreg;
    for (size_t i = 0; r && i < r->nhooks[hook]; i++) {
        tn_verdict_t v = r->hooks[hook][i].cb(ev);
        if (v != TN_PASS)
            return v;
    }
    return TN_PASS;
}

int tn_hook_used(tn_server_t *srv, tn_hook_t hook)
{
    return srv->modreg && srv->modreg->nhooks[hook] > 0;
}

void tn_module_feature(tn_module_t *m, const char *var)
{
    m->features =
        tn_realloc(m->features, (m->nfeatures + 1) * sizeof *m->features);
    m->features[m->nfeatures++] = var;
}

void tn_module_disco_form(tn_module_t *m, tn_stanza_t *form)
{
    m->forms = tn_realloc(m->forms, (m->nforms + 1) * sizeof *m->forms);
    m->forms[m->nforms++] = tn_stanza_ref(form);
}

void tn_module_identity(tn_module_t *m, const char *category,
                        const char *type, const char *name)
{
    m->idents = tn_realloc(m->idents, (m->nidents + 1) * sizeof *m->idents);
    m->idents[m->nidents++] = (modreg_ident_t){category, type, name,
                                               TN_TO_HOST};
}

void tn_module_account_identity(tn_module_t *m, const char *category,
                                const char *type, const char *name)
{
    m->idents = tn_realloc(m->idents, (m->nidents + 1) * sizeof *m->idents);
    m->idents[m->nidents++] = (modreg_ident_t){category, type, name,
                                               TN_TO_BARE};
}

void tn_module_iq(tn_module_t *m, int types, int targets, const char *ns,
                  const char *elem, tn_handler_cb cb, int prio)
{
    tn_modreg_t *r = m->srv->modreg;
    r->iqs = tn_realloc(r->iqs, (r->niqs + 1) * sizeof *r->iqs);
    /* Insert sorted by priority, higher first, stable for equal ones. */
    size_t i = r->niqs;
    while (i > 0 && r->iqs[i - 1].prio < prio) {
        r->iqs[i] = r->iqs[i - 1];
        i--;
    }
    r->iqs[i] = (modreg_iq_t){m, types, targets, prio, ns, elem, cb};
    r->niqs++;
    m->targets |= targets;
}

tn_server_t *tn_module_server(tn_module_t *m)
{
    return m->srv;
}

static const tn_module_def_t *modreg_find(const char *name)
{
    for (size_t i = 0; tn_modules[i]; i++)
        if (strcmp(tn_modules[i]->name, name) == 0)
            return tn_modules[i];
    return NULL;
}

int tn_modules_load(tn_server_t *srv, char **err)
{
    tn_modreg_t *r = TN_NEW(tn_modreg_t);
    srv->modreg = r;
    const tn_config_t *cfg = srv->cfg;
    size_t n = 0;
    while (tn_modules[n])
        n++;
    size_t want = cfg->modules ? cfg->nmodules : n;
    r->mods = tn_calloc(want, sizeof *r->mods);
    r->opt_used = tn_calloc(cfg->nmodopts + 1, 1);
    for (size_t i = 0; i < want; i++) {
        const tn_module_def_t *def =
            cfg->modules ? modreg_find(cfg->modules[i]) : tn_modules[i];
        if (!def) {
            *err = tn_sprintf("%s: unknown module '%s'", cfg->path,
                              cfg->modules[i]);
            return TN_EINVAL;
        }
        tn_module_t *m = &r->mods[r->nmods++];
        m->def = def;
        m->srv = srv;
        int rc = def->load ? def->load(m) : 0;
        if (rc < 0) {
            *err = m->err ? m->err
                          : tn_sprintf("module '%s' failed to load: %s",
                                       def->name, tn_strerror(rc));
            m->err = NULL;
            return rc;
        }
        for (size_t k = 0; k < cfg->nmodopts; k++) {
            const tn_modopt_t *o = &cfg->modopts[k];
            if (!r->opt_used[k] && strcmp(o->module, def->name) == 0) {
                *err = tn_sprintf("%s:%u: key 'modules.%s.%s': unknown key",
                                  cfg->path, o->line, o->module, o->key);
                return TN_EINVAL;
            }
        }
        tn_log(TN_LOG_DEBUG, "module %s loaded (%s)", def->name,
               def->xeps ? def->xeps : "-");
    }
    return 0;
}

void tn_modules_unload(tn_server_t *srv)
{
    tn_modreg_t *r = srv->modreg;
    if (!r)
        return;
    for (size_t i = r->nmods; i-- > 0;) {
        tn_module_t *m = &r->mods[i];
        if (m->def->unload)
            m->def->unload(m);
        tn_free(m->features);
        tn_free(m->idents);
        for (size_t k = 0; k < m->nforms; k++)
            tn_stanza_unref(m->forms[k]);
        tn_free(m->forms);
        tn_free(m->err);
    }
    tn_free(r->opt_used);
    tn_free(r->mods);
    tn_free(r->iqs);
    for (int h = 0; h < TN_HOOK_COUNT; h++)
        tn_free(r->hooks[h]);
    tn_free(r);
    srv->modreg = NULL;
}

tn_verdict_t tn_modules_dispatch_iq(tn_event_t *ev, int type, int target)
{
    tn_modreg_t *r = ev->srv->modreg;
    tn_stanza_t *payload = tn_stanza_child(ev->stanza, NULL, NULL);
    if (!payload)
        return TN_PASS;
    for (size_t i = 0; i < r->niqs; i++) {
        modreg_iq_t *h = &r->iqs[i];
        if (!(h->types & type) || !(h->targets & target))
            continue;
        if (strcmp(h->ns, payload->ns) != 0)
            continue;
        if (h->elem && strcmp(h->elem, payload->name) != 0)
            continue;
        tn_verdict_t v = h->cb(ev);
        if (v != TN_PASS)
            return v;
    }
    return TN_PASS;
}

/* Adds <feature var=v/> unless the query already has it. */
static void modreg_add_feature(tn_stanza_t *q, const char *var)
{
    for (size_t i = 0; i < q->nkids; i++) {
        const char *v = q->kids[i]->name
                            ? tn_stanza_attr(q->kids[i], "var")
                            : NULL;
        if (v && strcmp(v, var) == 0)
            return;
    }
    tn_stanza_set_attr(tn_stanza_add_child(q, "feature", NULL), "var", var);
}

void tn_modules_disco_info(tn_server_t *srv, int target, tn_stanza_t *query)
{
    tn_modreg_t *r = srv->modreg;
    for (size_t i = 0; i < r->nmods; i++) {
        tn_module_t *m = &r->mods[i];
        /* Identities describe the server, or else every account (PEP). */
        for (size_t k = 0; k < m->nidents; k++) {
            if (m->idents[k].target != target)
                continue;
            tn_stanza_t *id = tn_stanza_add_child(query, "identity", NULL);
            tn_stanza_set_attr(id, "category", m->idents[k].category);
            tn_stanza_set_attr(id, "type", m->idents[k].type);
            if (m->idents[k].name)
                tn_stanza_set_attr(id, "name", m->idents[k].name);
        }
    }
    /* The server lists every loaded feature (clients look there for
     * blocking, offline storage, ...); an account what answers for it. */
    for (size_t i = 0; i < r->nmods; i++) {
        tn_module_t *m = &r->mods[i];
        if (target != TN_TO_HOST && !(m->targets & target))
            continue;
        for (size_t k = 0; k < m->nfeatures; k++)
            modreg_add_feature(query, m->features[k]);
    }
    /* XEP-0128: extended information describes the server only. */
    for (size_t i = 0; target == TN_TO_HOST && i < r->nmods; i++)
        for (size_t k = 0; k < r->mods[i].nforms; k++)
            tn_stanza_add_copy(query, r->mods[i].forms[k]);
}

tn_stanza_t *tn_iq_result_new(const tn_event_t *ev)
{
    tn_stanza_t *r = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(r, "type", "result");
    const char *id = tn_stanza_attr(ev->stanza, "id");
    if (id)
        tn_stanza_set_attr(r, "id", id);
    tn_stanza_set_attr(r, "to", ev->from->full);
    /* An IQ without 'to' is answered as if from the account itself, but
     * RFC 6120 8.1.2.1 wants no 'from' then; keep the original's. */
    const char *to = tn_stanza_attr(ev->stanza, "to");
    if (to)
        tn_stanza_set_attr(r, "from", to);
    return r;
}

void tn_reply(tn_event_t *ev, tn_stanza_t *reply)
{
    tn_route(ev->srv, reply, NULL);
}

void tn_reply_result(tn_event_t *ev)
{
    tn_stanza_t *r = tn_iq_result_new(ev);
    tn_reply(ev, r);
    tn_stanza_unref(r);
}

void tn_reply_error(tn_event_t *ev, const char *type, const char *cond)
{
    tn_route_error(ev->srv, ev->stanza, type, cond);
}
