/* base64.h -- RFC 4648 base64 (standard alphabet, with padding), strict:
 * decoding rejects whitespace, bad characters and bad padding, as SASL
 * (RFC 6120 6.4.2) requires. */
#ifndef TN_UTIL_BASE64_H
#define TN_UTIL_BASE64_H

#include <stddef.h>

/* Returns a fresh NUL-terminated string. */
char *tn_base64_encode(const void *data, size_t len);
/* Decodes s (len bytes) into a fresh buffer (NUL-terminated for
 * convenience, not counted in *out_len). Returns NULL on any malformation.
 * The empty string decodes to an empty buffer. */
unsigned char *tn_base64_decode(const char *s, size_t len, size_t *out_len);

#endif
