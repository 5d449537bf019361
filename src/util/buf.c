/* buf.c -- growable byte buffer. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/mem.h"

void tn_buf_init(tn_buf_t *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void tn_buf_release(tn_buf_t *b)
{
    tn_free(b->data);
    tn_buf_init(b);
}

static void buf_reserve(tn_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->data = tn_realloc(b->data, cap);
    b->cap = cap;
}

void tn_buf_reserve(tn_buf_t *b, size_t n)
{
    buf_reserve(b, n);
}

void tn_buf_append(tn_buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

char *tn_buf_extend(tn_buf_t *b, size_t n)
{
    buf_reserve(b, n);
    char *p = b->data + b->len;
    b->len += n;
    b->data[b->len] = '\0';
    return p;
}

void tn_buf_puts(tn_buf_t *b, const char *s)
{
    tn_buf_append(b, s, strlen(s));
}

void tn_buf_printf(tn_buf_t *b, const char *fmt, ...)
{
    /* Formatted straight into the spare room; a second pass only when it
     * did not fit (formatting costs far more than the copy it saves). */
    buf_reserve(b, 63);
    size_t room = b->cap - b->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        b->data[b->len] = '\0';
        return;
    }
    if ((size_t)n >= room) {
        buf_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

void tn_buf_append_xml(tn_buf_t *b, const char *s, size_t n, int in_attr)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\'': rep = in_attr ? "&apos;" : NULL; break;
        case '"': rep = in_attr ? "&quot;" : NULL; break;
        default: break;
        }
        if (!rep)
            continue;
        tn_buf_append(b, s + start, i - start);
        tn_buf_puts(b, rep);
        start = i + 1;
    }
    tn_buf_append(b, s + start, n - start);
}

void tn_buf_reset(tn_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void tn_buf_consume(tn_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        if (b->data)
            b->data[0] = '\0';
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

char *tn_buf_steal(tn_buf_t *b, size_t *len)
{
    char *p = b->data ? b->data : tn_strdup("");
    if (len)
        *len = b->len;
    tn_buf_init(b);
    return p;
}
