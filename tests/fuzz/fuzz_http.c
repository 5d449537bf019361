/* fuzz_http.c -- libFuzzer target for tn_http_normalize_path (net/http.c),
 * the one spelling of a request path that routing sees (SECURITY.md,
 * CVE-2023-32315).
 *
 * The input, up to its first NUL, is the path. Oracle: a second,
 * differently built model (decode into a copy, split into a list of
 * segments, resolve "." and ".." on that list) must refuse the same
 * inputs and give the same result; and a result is a path of plain
 * segments: it starts with '/', has no empty, "." or ".." segment and no
 * trailing '/' (except "/" itself), and is no longer than the input. */
#include <string.h>

#include "net/http.h"
#include "targets.h"
#include "util/mem.h"

static int http_model_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The model: NULL when the path is refused, else the result (owned). */
static char *http_model(const char *in)
{
    size_t n = strlen(in);
    if (n == 0 || in[0] != '/')
        return NULL;
    char *dec = tn_malloc(n + 1);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)in[i];
        if (c == '%') {
            int hi = i + 1 < n ? http_model_hex(in[i + 1]) : -1;
            int lo = i + 2 < n ? http_model_hex(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                tn_free(dec);
                return NULL;
            }
            c = hi * 16 + lo;
            if (c == '/' || c == '\\' || c == 0) {
                tn_free(dec);
                return NULL;
            }
            i += 2;
        } else if (c == '\\') {
            tn_free(dec);
            return NULL;
        }
        dec[d++] = (char)c;
    }
    dec[d] = '\0';

    /* Segments as (start, length) pairs over dec; a stack. */
    size_t (*seg)[2] = tn_malloc((d + 1) * sizeof *seg);
    size_t nseg = 0;
    for (size_t i = 0; i < d;) {
        if (dec[i] == '/') {
            i++;
            continue;
        }
        size_t s = i;
        while (i < d && dec[i] != '/')
            i++;
        size_t len = i - s;
        if (len == 1 && dec[s] == '.')
            continue;
        if (len == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            if (nseg)
                nseg--;
            continue;
        }
        seg[nseg][0] = s;
        seg[nseg][1] = len;
        nseg++;
    }
    char *out = tn_malloc(d + 2);
    size_t o = 0;
    for (size_t k = 0; k < nseg; k++) {
        out[o++] = '/';
        memcpy(out + o, dec + seg[k][0], seg[k][1]);
        o += seg[k][1];
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    tn_free(seg);
    tn_free(dec);
    return out;
}

static void http_check_plain(const char *p, size_t in_len)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] != '/' || n > in_len)
        fuzz_fail("http", "result is not a rooted path within the input");
    if (n > 1 && p[n - 1] == '/')
        fuzz_fail("http", "trailing slash kept");
    for (const char *s = p; *s;) {
        s++; /* past '/' */
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if ((len == 0 && n > 1) || (len == 1 && s[0] == '.') ||
            (len == 2 && s[0] == '.' && s[1] == '.'))
            fuzz_fail("http", "empty, '.' or '..' segment kept");
        s += len;
    }
}

int fuzz_http_one(const uint8_t *data, size_t size)
{
    char *path = tn_malloc(size + 1);
    memcpy(path, data, size);
    path[size] = '\0';
    size_t in_len = strlen(path);
    char *want = http_model(path);
    int rc = tn_http_normalize_path(path);
    if (rc != 0 && rc != -1)
        fuzz_fail("http", "result neither 0 nor -1");
    if ((rc == 0) != (want != NULL)) {
        fprintf(stderr, "rc %d, model %s\n", rc, want ? want : "refuses");
        fuzz_fail("http", "refused differently from the model");
    }
    if (rc == 0) {
        if (strcmp(path, want) != 0) {
            fprintf(stderr, "got '%s', model '%s'\n", path, want);
            fuzz_fail("http", "result differs from the model");
        }
        http_check_plain(path, in_len);
    }
    tn_free(want);
    tn_free(path);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_http_one(data, size);
}
#endif
