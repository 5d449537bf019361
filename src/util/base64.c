/* base64.c -- RFC 4648 section 4 base64 (standard alphabet, '=' padding).
 *
 * Decoding is strict, as SASL (RFC 6120 6.4.2) and RFC 4648 section 3.3
 * ask: the input length must be a multiple of 4, only alphabet characters
 * may appear, '=' may only close the last quantum (one or two of them), and
 * the unused bits of the last character before padding must be zero (RFC
 * 4648 section 3.5, canonical encoding). Whitespace and line breaks (MIME
 * style, RFC 2045) are rejected. The URL-safe alphabet (section 5) and
 * unpadded input are deliberately not supported. */
#include "util/base64.h"

#include "util/mem.h"

#include <stdint.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of each alphabet character; every other byte maps to 0, so callers
 * check membership with b64_is_alpha first. */
static const uint8_t b64_value[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,
    ['G'] = 6,  ['H'] = 7,  ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11,
    ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15, ['Q'] = 16, ['R'] = 17,
    ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29,
    ['e'] = 30, ['f'] = 31, ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35,
    ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39, ['o'] = 40, ['p'] = 41,
    ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53,
    ['2'] = 54, ['3'] = 55, ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59,
    ['8'] = 60, ['9'] = 61, ['+'] = 62, ['/'] = 63,
};

static int b64_is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Returns a fresh NUL-terminated string holding the padded base64 encoding
 * of len bytes at data (data may be NULL when len is 0). Caller frees with
 * tn_free. Never fails. */
char *tn_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    size_t olen = (len + 2) / 3 * 4;
    char *out = tn_malloc(olen + 1);
    char *o = out;
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        *o++ = b64_alphabet[v >> 6 & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        *o++ = b64_alphabet[v >> 6 & 63];
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* Decodes len bytes of s (which need not be NUL-terminated) into a fresh
 * buffer, NUL-terminated for convenience; the decoded size goes to *out_len
 * (which may be NULL). Returns NULL, and leaves *out_len untouched, on any
 * malformation (see the file header). Caller frees with tn_free. */
unsigned char *tn_base64_decode(const char *s, size_t len, size_t *out_len)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t pad = 0;

    if (len % 4 != 0 || (len > 0 && !s))
        return NULL;
    if (len > 0 && in[len - 1] == '=')
        pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;
    for (size_t i = 0; i < len - pad; i++)
        if (!b64_is_alpha(in[i]))
            return NULL;

    size_t n = len / 4 * 3 - pad;
    unsigned char *out = tn_malloc(n + 1);
    unsigned char *o = out;
    size_t full = pad ? len - 4 : len;

    for (size_t i = 0; i < full; i += 4) {
        uint32_t v = (uint32_t)b64_value[in[i]] << 18 |
                     (uint32_t)b64_value[in[i + 1]] << 12 |
                     (uint32_t)b64_value[in[i + 2]] << 6 |
                     (uint32_t)b64_value[in[i + 3]];
        *o++ = (unsigned char)(v >> 16);
        *o++ = (unsigned char)(v >> 8);
        *o++ = (unsigned char)v;
    }
    if (pad) {
        const unsigned char *q = in + full;
        uint32_t v = (uint32_t)b64_value[q[0]] << 18;
        v |= (uint32_t)b64_value[q[1]] << 12;
        if (pad == 1)
            v |= (uint32_t)b64_value[q[2]] << 6;
        /* Non-zero leftover bits mean a non-canonical encoding, which
         * RFC 4648 3.5 lets decoders reject; SASL peers never need it. */
        if ((pad == 2 && (v & 0xffff)) || (pad == 1 && (v & 0xff))) {
            tn_free(out);
            return NULL;
        }
        *o++ = (unsigned char)(v >> 16);
        if (pad == 1)
            *o++ = (unsigned char)(v >> 8);
    }
    *o = '\0';
    if (out_len)
        *out_len = n;
    return out;
}
