/* buf.h -- a growable byte buffer, used for output queues and serialization.
 * data is always NUL-terminated (not counted in len) so it can be logged. */
#ifndef TN_UTIL_BUF_H
#define TN_UTIL_BUF_H

#include <stddef.h>

typedef struct tn_buf {
    char *data;  /* owned; NULL until the first append */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
} tn_buf_t;

void tn_buf_init(tn_buf_t *b);
/* Frees the contents; b can be reused after tn_buf_init. */
void tn_buf_release(tn_buf_t *b);
void tn_buf_append(tn_buf_t *b, const void *p, size_t n);
void tn_buf_puts(tn_buf_t *b, const char *s);
void tn_buf_printf(tn_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s with XML escaping: & < > always, and ' " when in_attr. */
void tn_buf_append_xml(tn_buf_t *b, const char *s, size_t n, int in_attr);
/* Makes room for n more bytes without changing the contents. */
void tn_buf_reserve(tn_buf_t *b, size_t n);
/* Grows len by n and returns the n new bytes for the caller to fill. */
char *tn_buf_extend(tn_buf_t *b, size_t n);
/* Empties b, keeping its allocation. */
void tn_buf_reset(tn_buf_t *b);
/* Drops the first n bytes. */
void tn_buf_consume(tn_buf_t *b, size_t n);
/* Takes the contents out (caller frees with tn_free); b is left empty. */
char *tn_buf_steal(tn_buf_t *b, size_t *len);

#endif
