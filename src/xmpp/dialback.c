/* dialback.c -- Server Dialback keys (XEP-0185 3). */
#include "xmpp/dialback.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static void db_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int tn_dialback_key(const unsigned char *secret, size_t secret_len,
                    const char *receiving, const char *originating,
                    const char *stream_id, char out[TN_DIALBACK_KEY_SIZE])
{
    if (!secret_len || !receiving || !*receiving || !originating ||
        !*originating || !stream_id || !*stream_id || strchr(receiving, ' ') ||
        strchr(originating, ' '))
        return -1;
    unsigned char digest[32];
    char hkey[65];
    unsigned len = 0;
    if (!EVP_Digest(secret, secret_len, digest, &len, EVP_sha256(), NULL))
        return -1;
    db_hex(digest, 32, hkey);
    size_t nr = strlen(receiving), no = strlen(originating),
           ni = strlen(stream_id);
    size_t n = nr + 1 + no + 1 + ni;
    unsigned char stackbuf[512];
    unsigned char *msg = n <= sizeof stackbuf ? stackbuf : OPENSSL_malloc(n);
    if (!msg)
        return -1;
    memcpy(msg, receiving, nr);
    msg[nr] = ' ';
    memcpy(msg + nr + 1, originating, no);
    msg[nr + 1 + no] = ' ';
    memcpy(msg + nr + 2 + no, stream_id, ni);
    unsigned char mac[32];
    unsigned maclen = 0;
    unsigned char *ok = HMAC(EVP_sha256(), hkey, 64, msg, n, mac, &maclen);
    if (msg != stackbuf)
        OPENSSL_free(msg);
    OPENSSL_cleanse(hkey, sizeof hkey);
    if (!ok || maclen != 32)
        return -1;
    db_hex(mac, 32, out);
    return 0;
}

int tn_dialback_check(const unsigned char *secret, size_t secret_len,
                      const char *receiving, const char *originating,
                      const char *stream_id, const char *key)
{
    char want[TN_DIALBACK_KEY_SIZE];
    if (!key || tn_dialback_key(secret, secret_len, receiving, originating,
                                stream_id, want) < 0)
        return 0;
    while (*key == ' ' || *key == '\t' || *key == '\r' || *key == '\n')
        key++;
    size_t n = strlen(key);
    while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t' ||
                     key[n - 1] == '\r' || key[n - 1] == '\n'))
        n--;
    if (n != 64)
        return 0;
    return CRYPTO_memcmp(want, key, 64) == 0;
}
