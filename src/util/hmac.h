/* hmac.h -- HMAC (RFC 2104) and plain digests over SHA-1, SHA-256 and
 * SHA-384, with the digests fetched from OpenSSL once. OpenSSL 3.0's
 * one-shot HMAC() and EVP_Digest() with EVP_sha1() look the algorithm up
 * and allocate on every call, which cost more than the hashing for the
 * short inputs of SCRAM and the TLS 1.3 key schedule (about 18,000
 * instructions per HMAC against 4,000). Any thread. */
#ifndef TN_UTIL_HMAC_H
#define TN_UTIL_HMAC_H

#include <openssl/evp.h>
#include <stddef.h>

typedef enum { TN_MD_SHA1, TN_MD_SHA256, TN_MD_SHA384 } tn_md_t;

/* The fetched digest, or NULL if OpenSSL has none (it always does). */
const EVP_MD *tn_md(tn_md_t which);
/* HMAC(key, msg) into out, which holds EVP_MAX_MD_SIZE bytes; *out_len
 * (may be NULL) gets the length. Returns 0, or -1 if OpenSSL fails. */
int tn_hmac(const EVP_MD *md, const void *key, size_t key_len,
            const void *msg, size_t len, unsigned char *out,
            unsigned *out_len);
/* H(data) into out, likewise. */
int tn_digest(const EVP_MD *md, const void *data, size_t len,
              unsigned char *out, unsigned *out_len);

#endif
