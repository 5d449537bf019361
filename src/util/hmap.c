/* hmap.c -- string-keyed chained hash map. */
#include "util/hmap.h"

#include <string.h>

#include "util/mem.h"

static size_t hmap_hash(const char *s)
{
    size_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void tn_hmap_init(tn_hmap_t *m)
{
    m->slots = NULL;
    m->nslots = 0;
    m->count = 0;
}

void tn_hmap_release(tn_hmap_t *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        tn_hmap_entry_t *e = m->slots[i];
        while (e) {
            tn_hmap_entry_t *next = e->next;
            tn_free(e);
            e = next;
        }
    }
    tn_free(m->slots);
    tn_hmap_init(m);
}

void tn_hmap_release_free(tn_hmap_t *m)
{
    for (size_t i = 0; i < m->nslots; i++)
        for (tn_hmap_entry_t *e = m->slots[i]; e; e = e->next)
            tn_free(e->value);
    tn_hmap_release(m);
}

static tn_hmap_entry_t **hmap_find(const tn_hmap_t *m, const char *key,
                                   size_t h)
{
    if (!m->nslots)
        return NULL;
    tn_hmap_entry_t **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
            return pp;
    return pp;
}

void *tn_hmap_get(const tn_hmap_t *m, const char *key)
{
    tn_hmap_entry_t **pp = hmap_find(m, key, hmap_hash(key));
    return pp && *pp ? (*pp)->value : NULL;
}

static void hmap_grow(tn_hmap_t *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 16;
    tn_hmap_entry_t **slots = tn_calloc(n, sizeof *slots);
    for (size_t i = 0; i < m->nslots; i++) {
        tn_hmap_entry_t *e = m->slots[i];
        while (e) {
            tn_hmap_entry_t *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    tn_free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

void *tn_hmap_put(tn_hmap_t *m, const char *key, void *value)
{
    size_t h = hmap_hash(key);
    tn_hmap_entry_t **pp = hmap_find(m, key, h);
    if (pp && *pp) {
        void *old = (*pp)->value;
        (*pp)->value = value;
        return old;
    }
    if (m->count + 1 > m->nslots) {
        hmap_grow(m);
        pp = hmap_find(m, key, h);
    }
    size_t klen = strlen(key);
    tn_hmap_entry_t *e = tn_malloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->hash = h;
    e->value = value;
    e->next = NULL;
    *pp = e;
    m->count++;
    return NULL;
}

void *tn_hmap_del(tn_hmap_t *m, const char *key)
{
    tn_hmap_entry_t **pp = hmap_find(m, key, hmap_hash(key));
    if (!pp || !*pp)
        return NULL;
    tn_hmap_entry_t *e = *pp;
    void *v = e->value;
    *pp = e->next;
    tn_free(e);
    m->count--;
    return v;
}

tn_hmap_entry_t *tn_hmap_first(const tn_hmap_t *m, size_t *iter)
{
    for (*iter = 0; *iter < m->nslots; (*iter)++)
        if (m->slots[*iter])
            return m->slots[*iter];
    return NULL;
}

tn_hmap_entry_t *tn_hmap_next(const tn_hmap_t *m, tn_hmap_entry_t *e,
                              size_t *iter)
{
    if (e->next)
        return e->next;
    for ((*iter)++; *iter < m->nslots; (*iter)++)
        if (m->slots[*iter])
            return m->slots[*iter];
    return NULL;
}
