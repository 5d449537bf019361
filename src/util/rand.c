/* rand.c -- getrandom(2) wrappers. */
#include "util/rand.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "util/mem.h"

void tn_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("tern: getrandom");
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

char *tn_random_id(size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char *raw = tn_malloc(n);
    char *s = tn_malloc(n + 1);
    tn_random_bytes(raw, n);
    /* 248 = 62 * 4: rejecting bytes above it keeps the draw uniform. */
    for (size_t i = 0; i < n; i++) {
        while (raw[i] >= 248)
            tn_random_bytes(&raw[i], 1);
        s[i] = alphabet[raw[i] % 62];
    }
    s[n] = '\0';
    tn_free(raw);
    return s;
}
