/* scram.c -- SCRAM-SHA-1 and SCRAM-SHA-256 server side (RFC 5802 sections
 * 3, 5, 7 and 9; RFC 7677), with the channel-binding rules of RFC 5802
 * section 6 for tls-server-end-point (RFC 5929) and tls-exporter
 * (RFC 9266); SASLprep (RFC 4013) through libidn; the PLAIN message split
 * (RFC 4616).
 *
 * Left to others: base64 framing of SASL payloads and the mapping of our
 * TN_SCRAM_E_* codes to <failure/> conditions (c2s), fetching channel
 * binding data from the TLS layer (net/tls), authorizing the authzid
 * (c2s), and storing credentials (store/). We never see or keep a
 * password except in tn_scram_derive / tn_scram_check_password, and we
 * log nothing: SASL exchanges must not reach logs (STYLE.md 8).
 *
 * Choices where the RFCs leave room:
 * - A channel-binding type we do not support in "p=" is TN_SCRAM_E_CB
 *   (RFC 5802 7 "channel-binding-not-supported"), as is a 'y' flag while
 *   -PLUS was offered (downgrade, RFC 5802 6) and any c= mismatch.
 * - A client-final nonce that differs from the combined nonce is
 *   TN_SCRAM_E_NOT_AUTHORIZED (a replay or a confused client).
 * - Any failed step ends the exchange: later calls return
 *   TN_SCRAM_E_MALFORMED, as do calls made out of order.
 * - SASLprep treats strings as stored strings (no unassigned code points)
 *   for both passwords and usernames, so a name that could never have
 *   been registered cannot log in either. */
#include "xmpp/scram.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stringprep.h>

#include "util/base64.h"
#include "util/err.h"
#include "util/hmac.h"
#include "util/mem.h"
#include "util/rand.h"

/* No SCRAM message we accept is longer: a username, a nonce and a proof
 * fit in a few hundred bytes, and bounding the input bounds our work. */
#define SCRAM_MAX_MSG 4096
/* Upper bound on PBKDF2 iterations, so that a corrupt or hostile
 * credential record cannot make a PLAIN login take minutes. */
#define SCRAM_MAX_ITER 1000000u
/* Random bytes in our part of the nonce; base64 of 24 bytes is 32
 * characters without padding, all printable and none a ','. */
#define SCRAM_NONCE_BYTES 24

enum scram_state {
    SCRAM_ST_NEW,          /* waiting for client-first */
    SCRAM_ST_CLIENT_FIRST, /* client-first parsed, server-first not sent */
    SCRAM_ST_SERVER_FIRST, /* waiting for client-final */
    SCRAM_ST_DONE,         /* succeeded */
    SCRAM_ST_FAILED,       /* a step failed; the exchange is over */
};

struct tn_scram_server {
    tn_scram_hash_t hash;
    int plus;              /* client chose the -PLUS mechanism */
    int cb_offered;        /* we advertised -PLUS on this stream */
    unsigned char *secret; /* owned; for fake salts */
    size_t secret_len;
    enum scram_state state;

    char cb_flag;        /* 'n', 'y' or 'p' */
    const char *cb_type; /* static string, or NULL without binding */
    char *gs2_header;    /* owned; "n,,", "p=tls-exporter,a=x," ... */
    size_t gs2_len;
    char *client_first_bare; /* owned */
    size_t bare_len;
    char *username;     /* owned; SASLprep'd */
    char *authzid;      /* owned; unescaped, or NULL */
    char *cnonce;       /* owned; client nonce */
    char *test_snonce;  /* owned; fixed server nonce for tests */
    char *nonce;        /* owned; client nonce + server nonce */
    char *server_first; /* owned */
    size_t server_first_len;
    tn_scram_cred_t cred; /* copy of the user's, or a fake one */
    int fake;             /* unknown user: the final step must fail */
};

static const EVP_MD *scram_md(tn_scram_hash_t hash)
{
    return tn_md(hash == TN_SCRAM_SHA256 ? TN_MD_SHA256 : TN_MD_SHA1);
}

static int scram_hash_ok(tn_scram_hash_t hash)
{
    return hash == TN_SCRAM_SHA1 || hash == TN_SCRAM_SHA256;
}

size_t tn_scram_key_len(tn_scram_hash_t hash)
{
    switch (hash) {
    case TN_SCRAM_SHA1:
        return 20;
    case TN_SCRAM_SHA256:
        return 32;
    }
    return 0;
}

/* HMAC(key, data) into out (tn_scram_key_len bytes). Returns 0 or
 * TN_EIO if OpenSSL fails, which it should not for these digests. */
static int scram_hmac(tn_scram_hash_t hash, const void *key, size_t key_len,
                      const void *data, size_t len, unsigned char *out)
{
    unsigned int out_len = 0;
    if (tn_hmac(scram_md(hash), key, key_len, data, len, out, &out_len) != 0)
        return TN_EIO;
    return out_len == tn_scram_key_len(hash) ? 0 : TN_EIO;
}

/* H(data) into out. Returns 0 or TN_EIO. */
static int scram_digest(tn_scram_hash_t hash, const void *data, size_t len,
                        unsigned char *out)
{
    unsigned int out_len = 0;
    if (tn_digest(scram_md(hash), data, len, out, &out_len) != 0)
        return TN_EIO;
    return out_len == tn_scram_key_len(hash) ? 0 : TN_EIO;
}

/* 1 when p[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points above U+10FFFF). */
static int scram_is_utf8(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i], cp, min;
        size_t k;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            unsigned b = p[i + j];
            if ((b & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

char *tn_saslprep(const char *s)
{
    char *prepped = NULL, *copy;
    if (!s || !scram_is_utf8((const unsigned char *)s, strlen(s)))
        return NULL;
    if (stringprep_profile(s, &prepped, "SASLprep", STRINGPREP_NO_UNASSIGNED) !=
        STRINGPREP_OK) {
        free(prepped); /* libidn allocates with malloc */
        return NULL;
    }
    copy = tn_strdup(prepped);
    OPENSSL_cleanse(prepped, strlen(prepped)); /* may be a password */
    free(prepped);
    return copy;
}

int tn_scram_derive(tn_scram_hash_t hash, const char *password,
                    const unsigned char *salt, size_t salt_len,
                    unsigned iterations, tn_scram_cred_t *out)
{
    unsigned char salted[TN_SCRAM_MAX_KEY], client_key[TN_SCRAM_MAX_KEY];
    size_t klen = tn_scram_key_len(hash);
    char *prepped;
    int rc = TN_EINVAL;

    if (!scram_hash_ok(hash) || !password || !salt || salt_len == 0 ||
        salt_len > TN_SCRAM_MAX_SALT || iterations < 1 ||
        iterations > SCRAM_MAX_ITER || !out)
        return TN_EINVAL;
    prepped = tn_saslprep(password);
    if (!prepped)
        return TN_EINVAL;

    memset(out, 0, sizeof(*out));
    out->hash = hash;
    memcpy(out->salt, salt, salt_len);
    out->salt_len = salt_len;
    out->iterations = iterations;

    /* SaltedPassword := Hi(Normalize(password), salt, i) (RFC 5802 3) */
    if (!PKCS5_PBKDF2_HMAC(prepped, (int)strlen(prepped), salt, (int)salt_len,
                           (int)iterations, scram_md(hash), (int)klen,
                           salted)) {
        rc = TN_EIO;
        goto fail;
    }
    rc = scram_hmac(hash, salted, klen, "Client Key", 10, client_key);
    if (rc == 0)
        rc = scram_digest(hash, client_key, klen, out->stored_key);
    if (rc == 0)
        rc = scram_hmac(hash, salted, klen, "Server Key", 10, out->server_key);
fail:
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    OPENSSL_cleanse(prepped, strlen(prepped));
    tn_free(prepped);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

int tn_scram_derive_new(tn_scram_hash_t hash, const char *password,
                        tn_scram_cred_t *out)
{
    unsigned char salt[TN_SCRAM_DEFAULT_SALT];
    tn_random_bytes(salt, sizeof(salt));
    return tn_scram_derive(hash, password, salt, sizeof(salt),
                           TN_SCRAM_DEFAULT_ITER, out);
}

int tn_scram_check_password(const tn_scram_cred_t *cred, const char *password)
{
    tn_scram_cred_t tmp;
    int rc;
    if (!cred || !password)
        return TN_EINVAL;
    rc = tn_scram_derive(cred->hash, password, cred->salt, cred->salt_len,
                         cred->iterations, &tmp);
    if (rc != 0)
        return rc;
    rc = CRYPTO_memcmp(tmp.stored_key, cred->stored_key,
                       tn_scram_key_len(cred->hash)) == 0
             ? 0
             : TN_EAUTH;
    OPENSSL_cleanse(&tmp, sizeof(tmp));
    return rc;
}

tn_scram_server_t *tn_scram_server_new(tn_scram_hash_t hash, int plus,
                                       int cb_offered,
                                       const unsigned char *secret,
                                       size_t secret_len)
{
    tn_scram_server_t *s;
    if (!scram_hash_ok(hash) || (!secret && secret_len > 0))
        return NULL;
    s = TN_NEW(tn_scram_server_t);
    s->hash = hash;
    s->plus = plus != 0;
    s->cb_offered = cb_offered != 0;
    s->secret = tn_malloc(secret_len ? secret_len : 1);
    if (secret_len)
        memcpy(s->secret, secret, secret_len);
    s->secret_len = secret_len;
    s->state = SCRAM_ST_NEW;
    return s;
}

void tn_scram_server_free(tn_scram_server_t *s)
{
    if (!s)
        return;
    OPENSSL_cleanse(s->secret, s->secret_len);
    OPENSSL_cleanse(&s->cred, sizeof(s->cred));
    tn_free(s->secret);
    tn_free(s->gs2_header);
    tn_free(s->client_first_bare);
    tn_free(s->username);
    tn_free(s->authzid);
    tn_free(s->cnonce);
    tn_free(s->test_snonce);
    tn_free(s->nonce);
    tn_free(s->server_first);
    tn_free(s);
}

void tn_scram_server_set_nonce_for_test(tn_scram_server_t *s,
                                        const char *snonce)
{
    if (!s)
        return;
    tn_free(s->test_snonce);
    s->test_snonce = tn_strdup(snonce);
}

const char *tn_scram_server_username(const tn_scram_server_t *s)
{
    return s ? s->username : NULL;
}

const char *tn_scram_server_authzid(const tn_scram_server_t *s)
{
    return s ? s->authzid : NULL;
}

const char *tn_scram_server_cb_type(const tn_scram_server_t *s)
{
    return s ? s->cb_type : NULL;
}

/* Position of the first ',' in [p, end), or end. */
static const char *scram_field_end(const char *p, const char *end)
{
    const char *c = memchr(p, ',', (size_t)(end - p));
    return c ? c : end;
}

/* Unescapes a saslname (RFC 5802 5.1: "=2C" is ',', "=3D" is '=', any
 * other '=' is malformed). Returns a fresh string or NULL when malformed
 * or empty. The caller has excluded ',' and NUL. */
static char *scram_saslname_decode(const char *p, size_t n)
{
    char *out, *o;
    if (n == 0)
        return NULL;
    out = o = tn_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '=') {
            *o++ = p[i];
        } else if (n - i >= 3 && p[i + 1] == '2' && p[i + 2] == 'C') {
            *o++ = ',';
            i += 2;
        } else if (n - i >= 3 && p[i + 1] == '3' && p[i + 2] == 'D') {
            *o++ = '=';
            i += 2;
        } else {
            tn_free(out);
            return NULL;
        }
    }
    *o = '\0';
    return out;
}

/* 1 when p[0..n) is a valid c-nonce / s-nonce: 1*printable, where
 * printable = %x21-2B / %x2D-7E (RFC 5802 7). */
static int scram_is_nonce(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x21 || c > 0x7E || c == ',')
            return 0;
    }
    return 1;
}

/* 1 when p[0..n) is extensions = attr-val *("," attr-val), with
 * attr-val = ALPHA "=" value and value = 1*value-char (RFC 5802 7). The
 * caller has already checked UTF-8 and the absence of NUL. */
static int scram_is_extensions(const char *p, size_t n)
{
    const char *end = p + n;
    for (;;) {
        const char *f = scram_field_end(p, end);
        unsigned char a;
        if (f - p < 3) /* shortest is "x=y" */
            return 0;
        a = (unsigned char)p[0];
        if (!((a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z')) || p[1] != '=')
            return 0;
        if (f == end)
            return 1;
        p = f + 1;
    }
}

/* 1 when p[0..n) is a cb-name: 1*(ALPHA / DIGIT / "." / "-"). */
static int scram_is_cb_name(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Common checks on every client message: bounded, no NUL, UTF-8. */
static int scram_msg_ok(const char *msg, size_t len)
{
    return msg && len > 0 && len <= SCRAM_MAX_MSG && !memchr(msg, 0, len) &&
           scram_is_utf8((const unsigned char *)msg, len);
}

int tn_scram_server_client_first(tn_scram_server_t *s, const char *msg,
                                 size_t len)
{
    const char *p, *end, *f, *bare, *cb_name = NULL, *user_raw, *cn;
    size_t cb_name_len = 0, user_raw_len, cn_len;
    char flag, *authzid = NULL, *user_esc = NULL, *user = NULL;
    int rc = TN_SCRAM_E_MALFORMED;

    if (!s)
        return TN_SCRAM_E_MALFORMED;
    if (s->state != SCRAM_ST_NEW) {
        s->state = SCRAM_ST_FAILED;
        return TN_SCRAM_E_MALFORMED;
    }
    s->state = SCRAM_ST_FAILED; /* until we get to the end */
    if (!scram_msg_ok(msg, len))
        return TN_SCRAM_E_MALFORMED;
    p = msg;
    end = msg + len;

    /* gs2-cbind-flag = ("p=" cb-name) / "n" / "y" */
    f = scram_field_end(p, end);
    if (f == end)
        goto fail;
    if (f - p == 1 && (*p == 'n' || *p == 'y')) {
        flag = *p;
    } else if (f - p > 2 && p[0] == 'p' && p[1] == '=') {
        flag = 'p';
        cb_name = p + 2;
        cb_name_len = (size_t)(f - cb_name);
        if (!scram_is_cb_name(cb_name, cb_name_len))
            goto fail;
    } else {
        goto fail;
    }
    p = f + 1;

    /* [ authzid ] "," where authzid = "a=" saslname */
    f = scram_field_end(p, end);
    if (f == end)
        goto fail;
    if (f != p) {
        if (f - p < 3 || p[0] != 'a' || p[1] != '=')
            goto fail;
        authzid = scram_saslname_decode(p + 2, (size_t)(f - p - 2));
        if (!authzid)
            goto fail;
    }
    p = f + 1;
    bare = p;

    /* client-first-message-bare = [reserved-mext ","] username "," nonce
     * ["," extensions]. We know no mandatory extension, so "m=" means we
     * cannot go on (RFC 5802 5.1). */
    f = scram_field_end(p, end);
    if (f - p < 2 || p[0] != 'n' || p[1] != '=')
        goto fail;
    user_raw = p + 2;
    user_raw_len = (size_t)(f - user_raw);
    if (f == end)
        goto fail;
    p = f + 1;

    f = scram_field_end(p, end);
    if (f - p < 2 || p[0] != 'r' || p[1] != '=')
        goto fail;
    cn = p + 2;
    cn_len = (size_t)(f - cn);
    if (!scram_is_nonce(cn, cn_len))
        goto fail;
    if (f != end && !scram_is_extensions(f + 1, (size_t)(end - f - 1)))
        goto fail;

    /* Channel-binding rules (RFC 5802 6). */
    if (s->plus != (flag == 'p'))
        goto fail; /* -PLUS without p=, or p= with a plain mechanism */
    if (flag == 'y' && s->cb_offered) {
        rc = TN_SCRAM_E_CB; /* we offered binding: a downgrade */
        goto fail;
    }
    if (flag == 'p') {
        if (cb_name_len == 12 && memcmp(cb_name, "tls-exporter", 12) == 0) {
            s->cb_type = "tls-exporter";
        } else if (cb_name_len == 20 &&
                   memcmp(cb_name, "tls-server-end-point", 20) == 0) {
            s->cb_type = "tls-server-end-point";
        } else if (cb_name_len == 10 &&
                   memcmp(cb_name, "tls-unique", 10) == 0) {
            /* RFC 5929 3; c2s offers it on TLS 1.2 with EMS only. */
            s->cb_type = "tls-unique";
        } else {
            rc = TN_SCRAM_E_CB; /* channel-binding-not-supported */
            goto fail;
        }
    }

    user_esc = scram_saslname_decode(user_raw, user_raw_len);
    if (!user_esc)
        goto fail;
    user = tn_saslprep(user_esc);
    if (!user || !*user)
        goto fail;

    s->cb_flag = flag;
    s->gs2_header = tn_strndup(msg, (size_t)(bare - msg));
    s->gs2_len = (size_t)(bare - msg);
    s->client_first_bare = tn_strndup(bare, (size_t)(end - bare));
    s->bare_len = (size_t)(end - bare);
    s->username = user;
    s->authzid = authzid;
    s->cnonce = tn_strndup(cn, cn_len);
    s->state = SCRAM_ST_CLIENT_FIRST;
    tn_free(user_esc);
    return 0;

fail:
    s->cb_type = NULL;
    tn_free(authzid);
    tn_free(user_esc);
    tn_free(user);
    return rc;
}

int tn_scram_server_first(tn_scram_server_t *s, const tn_scram_cred_t *cred,
                          char **out, size_t *out_len)
{
    unsigned char mac[32], snonce_raw[SCRAM_NONCE_BYTES];
    char *snonce, *salt64;
    size_t ulen;

    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!s || !out || s->state != SCRAM_ST_CLIENT_FIRST)
        return TN_EINVAL;
    if (cred) {
        if (cred->hash != s->hash || cred->salt_len == 0 ||
            cred->salt_len > TN_SCRAM_MAX_SALT || cred->iterations < 1 ||
            cred->iterations > SCRAM_MAX_ITER)
            return TN_EINVAL;
        s->cred = *cred;
        s->fake = 0;
    } else {
        /* Unknown user: a salt that is the same on every probe, so that
         * it looks like a stored one, and keys nobody can match. */
        unsigned char *in;
        ulen = strlen(s->username);
        in = tn_malloc(4 + ulen);
        memcpy(in, "salt", 4);
        memcpy(in + 4, s->username, ulen);
        if (scram_hmac(TN_SCRAM_SHA256, s->secret, s->secret_len, in, 4 + ulen,
                       mac) != 0) {
            tn_free(in);
            return TN_EIO;
        }
        tn_free(in);
        memset(&s->cred, 0, sizeof(s->cred));
        s->cred.hash = s->hash;
        memcpy(s->cred.salt, mac, TN_SCRAM_DEFAULT_SALT);
        s->cred.salt_len = TN_SCRAM_DEFAULT_SALT;
        s->cred.iterations = TN_SCRAM_DEFAULT_ITER;
        tn_random_bytes(s->cred.stored_key, sizeof(s->cred.stored_key));
        tn_random_bytes(s->cred.server_key, sizeof(s->cred.server_key));
        s->fake = 1;
    }

    if (s->test_snonce) {
        snonce = tn_strdup(s->test_snonce);
    } else {
        tn_random_bytes(snonce_raw, sizeof(snonce_raw));
        snonce = tn_base64_encode(snonce_raw, sizeof(snonce_raw));
    }
    salt64 = tn_base64_encode(s->cred.salt, s->cred.salt_len);
    s->nonce = tn_sprintf("%s%s", s->cnonce, snonce);
    s->server_first =
        tn_sprintf("r=%s,s=%s,i=%u", s->nonce, salt64, s->cred.iterations);
    s->server_first_len = strlen(s->server_first);
    tn_free(snonce);
    tn_free(salt64);

    *out = tn_strdup(s->server_first);
    if (out_len)
        *out_len = s->server_first_len;
    s->state = SCRAM_ST_SERVER_FIRST;
    return 0;
}

/* Checks the proof of client-final against s->cred. without_proof is
 * client-final-message-without-proof. Returns 0 when it matches and the
 * user exists, TN_SCRAM_E_NOT_AUTHORIZED otherwise (or TN_EIO); on
 * success server_sig receives ServerSignature. */
static int scram_check_proof(tn_scram_server_t *s, const char *without_proof,
                             size_t wp_len, const unsigned char *proof,
                             unsigned char *server_sig)
{
    unsigned char client_sig[TN_SCRAM_MAX_KEY], client_key[TN_SCRAM_MAX_KEY];
    unsigned char stored[TN_SCRAM_MAX_KEY];
    size_t klen = tn_scram_key_len(s->hash);
    size_t am_len = s->bare_len + 1 + s->server_first_len + 1 + wp_len;
    char *am = tn_malloc(am_len);
    int rc, match;

    /* AuthMessage := client-first-message-bare + "," +
     *                server-first-message + "," +
     *                client-final-message-without-proof (RFC 5802 3) */
    memcpy(am, s->client_first_bare, s->bare_len);
    am[s->bare_len] = ',';
    memcpy(am + s->bare_len + 1, s->server_first, s->server_first_len);
    am[s->bare_len + 1 + s->server_first_len] = ',';
    memcpy(am + s->bare_len + 2 + s->server_first_len, without_proof, wp_len);

    rc = scram_hmac(s->hash, s->cred.stored_key, klen, am, am_len, client_sig);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < klen; i++)
        client_key[i] = proof[i] ^ client_sig[i];
    rc = scram_digest(s->hash, client_key, klen, stored);
    if (rc != 0)
        goto out;
    /* The fake credential of an unknown user is computed through the same
     * steps, so that timing does not tell the two apart. */
    match = CRYPTO_memcmp(stored, s->cred.stored_key, klen) == 0;
    rc = scram_hmac(s->hash, s->cred.server_key, klen, am, am_len, server_sig);
    if (rc == 0 && (!match || s->fake))
        rc = TN_SCRAM_E_NOT_AUTHORIZED;
out:
    OPENSSL_cleanse(client_key, sizeof(client_key));
    OPENSSL_cleanse(client_sig, sizeof(client_sig));
    tn_free(am);
    return rc;
}

int tn_scram_server_final(tn_scram_server_t *s, const char *msg, size_t len,
                          const unsigned char *cb_data, size_t cb_len,
                          char **out, size_t *out_len)
{
    const char *end, *comma, *p, *f, *c64, *nonce;
    size_t c64_len, nonce_len, wp_len, proof_len = 0, cbind_len = 0;
    unsigned char *proof = NULL, *cbind = NULL;
    unsigned char server_sig[TN_SCRAM_MAX_KEY];
    size_t klen;
    char *sig64;
    int rc = TN_SCRAM_E_MALFORMED;

    if (out)
        *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!s)
        return TN_SCRAM_E_MALFORMED;
    if (s->state != SCRAM_ST_SERVER_FIRST || !out) {
        s->state = SCRAM_ST_FAILED;
        return TN_SCRAM_E_MALFORMED;
    }
    s->state = SCRAM_ST_FAILED; /* until we get to the end */
    if (!scram_msg_ok(msg, len))
        return TN_SCRAM_E_MALFORMED;
    end = msg + len;
    klen = tn_scram_key_len(s->hash);

    /* client-final-message = client-final-message-without-proof ","
     * proof. proof is base64, which has no ',', so it follows the last
     * comma; and it must come last (RFC 5802 7). */
    comma = memrchr(msg, ',', len);
    if (!comma || end - comma < 3 || comma[1] != 'p' || comma[2] != '=')
        goto fail;
    proof = tn_base64_decode(comma + 3, (size_t)(end - comma - 3), &proof_len);
    if (!proof || proof_len != klen)
        goto fail;
    wp_len = (size_t)(comma - msg);

    /* channel-binding "," nonce ["," extensions] */
    p = msg;
    end = comma;
    f = scram_field_end(p, end);
    if (f == end || f - p < 2 || p[0] != 'c' || p[1] != '=')
        goto fail;
    c64 = p + 2;
    c64_len = (size_t)(f - c64);
    p = f + 1;
    f = scram_field_end(p, end);
    if (f - p < 2 || p[0] != 'r' || p[1] != '=')
        goto fail;
    nonce = p + 2;
    nonce_len = (size_t)(f - nonce);
    if (!scram_is_nonce(nonce, nonce_len))
        goto fail;
    if (f != end && !scram_is_extensions(f + 1, (size_t)(end - f - 1)))
        goto fail;
    cbind = tn_base64_decode(c64, c64_len, &cbind_len);
    if (!cbind)
        goto fail;

    /* c= must be the gs2-header we saw, followed by the binding data of
     * this connection when the client asked for binding (RFC 5802 7). */
    rc = TN_SCRAM_E_CB;
    if (s->cb_flag == 'p') {
        if (!cb_data || cb_len == 0 || cbind_len != s->gs2_len + cb_len ||
            CRYPTO_memcmp(cbind + s->gs2_len, cb_data, cb_len) != 0)
            goto fail;
    } else if (cbind_len != s->gs2_len) {
        goto fail;
    }
    if (memcmp(cbind, s->gs2_header, s->gs2_len) != 0)
        goto fail;

    rc = TN_SCRAM_E_NOT_AUTHORIZED;
    if (nonce_len != strlen(s->nonce) ||
        memcmp(nonce, s->nonce, nonce_len) != 0)
        goto fail;

    rc = scram_check_proof(s, msg, wp_len, proof, server_sig);
    if (rc != 0)
        goto fail;

    sig64 = tn_base64_encode(server_sig, klen);
    *out = tn_sprintf("v=%s", sig64);
    if (out_len)
        *out_len = strlen(*out);
    tn_free(sig64);
    tn_free(proof);
    tn_free(cbind);
    s->state = SCRAM_ST_DONE;
    return 0;

fail:
    if (rc != TN_SCRAM_E_MALFORMED && rc != TN_SCRAM_E_CB &&
        rc != TN_SCRAM_E_NOT_AUTHORIZED)
        rc = TN_SCRAM_E_NOT_AUTHORIZED; /* an OpenSSL failure */
    tn_free(proof);
    tn_free(cbind);
    return rc;
}

/* Longest authzid, authcid or passwd we take in PLAIN (RFC 4616 2 allows
 * up to 255 octets each). */
#define PLAIN_MAX_FIELD 255

int tn_sasl_plain_parse(const char *msg, size_t len, char **authzid,
                        char **authcid, char **passwd)
{
    const char *end, *n1, *n2;
    size_t zlen, clen, plen;

    if (authzid)
        *authzid = NULL;
    if (authcid)
        *authcid = NULL;
    if (passwd)
        *passwd = NULL;
    if (!msg || !authzid || !authcid || !passwd ||
        len > 3 * PLAIN_MAX_FIELD + 2)
        return TN_SCRAM_E_MALFORMED;
    end = msg + len;
    /* message = [authzid] UTF8NUL authcid UTF8NUL passwd */
    n1 = memchr(msg, '\0', len);
    if (!n1)
        return TN_SCRAM_E_MALFORMED;
    n2 = memchr(n1 + 1, '\0', (size_t)(end - n1 - 1));
    if (!n2 || memchr(n2 + 1, '\0', (size_t)(end - n2 - 1)))
        return TN_SCRAM_E_MALFORMED;
    zlen = (size_t)(n1 - msg);
    clen = (size_t)(n2 - n1 - 1);
    plen = (size_t)(end - n2 - 1);
    if (clen == 0 || plen == 0 || zlen > PLAIN_MAX_FIELD ||
        clen > PLAIN_MAX_FIELD || plen > PLAIN_MAX_FIELD ||
        !scram_is_utf8((const unsigned char *)msg, len))
        return TN_SCRAM_E_MALFORMED;
    *authzid = zlen ? tn_strndup(msg, zlen) : NULL;
    *authcid = tn_strndup(n1 + 1, clen);
    *passwd = tn_strndup(n2 + 1, plen);
    return 0;
}
