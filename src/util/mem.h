/* mem.h -- allocation wrappers. They abort on out-of-memory so callers carry
 * no OOM branches; peers cannot drive us there because net/ and xml/ bound
 * every input (STYLE.md 7). */
#ifndef TN_UTIL_MEM_H
#define TN_UTIL_MEM_H

#include <stddef.h>

void *tn_malloc(size_t n);
void *tn_calloc(size_t n, size_t size);
void *tn_realloc(void *p, size_t n);
/* Copies of strings; NULL in gives NULL out. Free with tn_free. */
char *tn_strdup(const char *s);
char *tn_strndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *tn_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tn_free(void *p);

#define TN_NEW(type) ((type *)tn_calloc(1, sizeof(type)))

#endif
