/* hmap.h -- a string-keyed hash map with chaining (FNV-1a), growing at load
 * factor 1. Keys are copied; values are borrowed pointers. Not thread-safe:
 * it lives on the loop thread. */
#ifndef TN_UTIL_HMAP_H
#define TN_UTIL_HMAP_H

#include <stddef.h>

typedef struct tn_hmap_entry {
    struct tn_hmap_entry *next;
    size_t hash;
    void *value;
    char key[];  /* NUL-terminated copy */
} tn_hmap_entry_t;

typedef struct tn_hmap {
    tn_hmap_entry_t **slots; /* owned */
    size_t nslots;
    size_t count;
} tn_hmap_t;

void tn_hmap_init(tn_hmap_t *m);
/* Frees the entries (not the values). */
void tn_hmap_release(tn_hmap_t *m);
/* Frees every value with tn_free, then the entries. */
void tn_hmap_release_free(tn_hmap_t *m);
void *tn_hmap_get(const tn_hmap_t *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *tn_hmap_put(tn_hmap_t *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *tn_hmap_del(tn_hmap_t *m, const char *key);

/* Iteration: for (e = tn_hmap_first(m, &i); e; e = tn_hmap_next(m, e, &i)).
 * Do not modify the map while iterating. */
tn_hmap_entry_t *tn_hmap_first(const tn_hmap_t *m, size_t *iter);
tn_hmap_entry_t *tn_hmap_next(const tn_hmap_t *m, tn_hmap_entry_t *e,
                              size_t *iter);

#endif
