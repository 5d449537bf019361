/* hmac.c -- HMAC and digests with digests fetched once. See hmac.h. */
#include "util/hmac.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>

static EVP_MD *hmac_mds[3];
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    static const char *const names[] = {"SHA1", "SHA256", "SHA384"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        hmac_mds[i] = EVP_MD_fetch(NULL, names[i], NULL);
}

const EVP_MD *tn_md(tn_md_t which)
{
    pthread_once(&hmac_once, hmac_fetch);
    return (size_t)which < sizeof hmac_mds / sizeof *hmac_mds
               ? hmac_mds[which]
               : NULL;
}

/* One digest of two pieces into out. */
static int hmac_hash2(EVP_MD_CTX *mx, const EVP_MD *md, const void *a,
                      size_t alen, const void *b, size_t blen,
                      unsigned char *out, unsigned *olen)
{
    return EVP_DigestInit_ex2(mx, md, NULL) == 1 &&
           EVP_DigestUpdate(mx, a, alen) == 1 &&
           EVP_DigestUpdate(mx, b, blen) == 1 &&
           EVP_DigestFinal_ex(mx, out, olen) == 1;
}

int tn_hmac(const EVP_MD *md, const void *key, size_t key_len,
            const void *msg, size_t len, unsigned char *out,
            unsigned *out_len)
{
    unsigned char pad[128], inner[EVP_MAX_MD_SIZE], hkey[EVP_MAX_MD_SIZE];
    unsigned il = 0, ol = 0;
    int bs = md ? EVP_MD_get_block_size(md) : 0;
    if (bs <= 0 || (size_t)bs > sizeof pad)
        return -1;
    EVP_MD_CTX *mx = EVP_MD_CTX_new();
    if (!mx)
        return -1;
    int ok = 1;
    if (key_len > (size_t)bs) { /* RFC 2104 2: a long key is hashed */
        unsigned hl = 0;
        ok = hmac_hash2(mx, md, key, key_len, "", 0, hkey, &hl);
        key = hkey;
        key_len = hl;
    }
    memset(pad, 0x36, (size_t)bs);
    for (size_t i = 0; i < key_len; i++)
        pad[i] ^= ((const unsigned char *)key)[i];
    ok = ok && hmac_hash2(mx, md, pad, (size_t)bs, msg, len, inner, &il);
    for (int i = 0; i < bs; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    ok = ok && hmac_hash2(mx, md, pad, (size_t)bs, inner, il, out, &ol);
    EVP_MD_CTX_free(mx);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(hkey, sizeof hkey);
    if (out_len)
        *out_len = ol;
    return ok ? 0 : -1;
}

int tn_digest(const EVP_MD *md, const void *data, size_t len,
              unsigned char *out, unsigned *out_len)
{
    unsigned ol = 0;
    int ok = md && EVP_Digest(data, len, out, &ol, md, NULL) == 1;
    if (out_len)
        *out_len = ol;
    return ok ? 0 : -1;
}
