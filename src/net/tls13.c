/* tls13.c -- the compact TLS 1.3 record layer. See tls13.h.
 * RFC 8446: 5.1-5.4 records, 5.3 nonces, 5.5 key limits, 4.6.3 KeyUpdate,
 * 6 alerts, 7.1 HKDF-Expand-Label, 7.2 traffic secret updates, 7.3 keys.
 * Loop thread only (one shared cipher context). */
#include "net/tls13.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl3.h>
#include <string.h>

#include "net/tls.h"
#include "util/err.h"
#include "util/hmac.h"
#include "util/log.h"
#include "util/mem.h"

#define REC_HDR 5
#define REC_TAG 16
#define REC_MAX_PLAIN 16384                /* 2^14 */
#define REC_MAX_CIPHER (REC_MAX_PLAIN + 256) /* RFC 8446 5.2 */
/* Our write key is renewed well before AES-GCM's 2^24.5 records (5.5). */
#define REC_REKEY_AFTER (UINT64_C(1) << 24)

enum { CT_ALERT = 21, CT_HANDSHAKE = 22, CT_APPDATA = 23 };
enum { HS_KEY_UPDATE = 24 };
/* RFC 8446 6.2 alert descriptions we send or read. */
enum {
    AL_CLOSE_NOTIFY = 0,
    AL_UNEXPECTED_MESSAGE = 10,
    AL_BAD_RECORD_MAC = 20,
    AL_RECORD_OVERFLOW = 22,
    AL_ILLEGAL_PARAMETER = 47,
    AL_DECODE_ERROR = 50,
    AL_INTERNAL_ERROR = 80,
    AL_USER_CANCELED = 90,
};

typedef struct tls13_suite {
    unsigned code;
    const char *cipher, *md;
    uint8_t key_len, hash_len;
} tls13_suite_t;

static const tls13_suite_t tls13_suites[] = {
    {0x1301, "AES-128-GCM", "SHA256", 16, 32},
    {0x1302, "AES-256-GCM", "SHA384", 32, 48},
    {0x1303, "ChaCha20-Poly1305", "SHA256", 32, 32},
};
#define TLS13_NSUITES (sizeof tls13_suites / sizeof tls13_suites[0])

typedef struct tls13_dir {
    uint8_t secret[48];
    uint8_t key[32];
    uint8_t iv[12];
    uint64_t seq;
} tls13_dir_t;

struct tn_tls13 {
    tn_buf_t in; /* a partial record */
    tls13_dir_t rd, wr;
    uint8_t suite;     /* index into tls13_suites */
    uint8_t dead;      /* a fatal alert went either way: nothing more */
    uint8_t wr_closed; /* close_notify sent */
    uint8_t sep_len;   /* tls-server-end-point length, 0: none */
    uint8_t has_exp;
    /* The exporter master secret: tls-exporter data is derived from it
     * only when a SCRAM -PLUS exchange asks (two HMACs fewer per login). */
    uint8_t es[48];
    uint8_t sep[64];
};

/* Fetched once: implicit fetches on every init cost a lookup each. */
static EVP_CIPHER *tls13_ciphers[TLS13_NSUITES];
static EVP_MD *tls13_mds[TLS13_NSUITES];
static EVP_CIPHER_CTX *tls13_cctx;
static uint8_t tls13_plain[REC_MAX_PLAIN + 256];

static int tls13_init(size_t s)
{
    if (!tls13_cctx && !(tls13_cctx = EVP_CIPHER_CTX_new()))
        return TN_ETLS;
    if (!tls13_ciphers[s])
        tls13_ciphers[s] = EVP_CIPHER_fetch(NULL, tls13_suites[s].cipher, NULL);
    if (!tls13_mds[s])
        tls13_mds[s] = EVP_MD_fetch(NULL, tls13_suites[s].md, NULL);
    return tls13_ciphers[s] && tls13_mds[s] ? 0 : TN_ETLS;
}

static int tls13_hmac(size_t s, const uint8_t *key, size_t klen,
                      const uint8_t *msg, size_t mlen, uint8_t *out)
{
    return tn_hmac(tls13_mds[s], key, klen, msg, mlen, out, NULL) == 0
               ? 0
               : TN_ETLS;
}

/* RFC 8446 7.1 HKDF-Expand-Label(secret, label, context, len) for len up
 * to the hash length: HKDF-Expand's first block, one HMAC. */
static int tls13_expand_ctx(size_t s, const uint8_t *secret,
                            const char *label, const uint8_t *ctx,
                            size_t clen, uint8_t *out, size_t len)
{
    uint8_t info[2 + 1 + 6 + 32 + 1 + EVP_MAX_MD_SIZE + 1];
    uint8_t block[EVP_MAX_MD_SIZE];
    size_t ll = strlen(label), n = 0;
    if (ll > 32 || clen > EVP_MAX_MD_SIZE)
        return TN_ETLS;
    info[n++] = (uint8_t)(len >> 8);
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = (uint8_t)clen;
    if (clen)
        memcpy(info + n, ctx, clen);
    n += clen;
    info[n++] = 0x01; /* HKDF-Expand's block counter */
    if (len > tls13_suites[s].hash_len ||
        tls13_hmac(s, secret, tls13_suites[s].hash_len, info, n, block))
        return TN_ETLS;
    memcpy(out, block, len);
    OPENSSL_cleanse(block, sizeof block);
    return 0;
}

static int tls13_expand(size_t s, const uint8_t *secret, const char *label,
                        uint8_t *out, size_t len)
{
    return tls13_expand_ctx(s, secret, label, NULL, 0, out, len);
}

/* RFC 8446 7.5 with RFC 9266: TLS-Exporter("EXPORTER-Channel-Binding",
 * "", 32) from the exporter master secret. */
static int tls13_exporter(size_t s, const uint8_t *ems, uint8_t out[32])
{
    uint8_t empty[EVP_MAX_MD_SIZE], derived[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    int rc = TN_ETLS;
    if (EVP_Digest("", 0, empty, &hl, tls13_mds[s], NULL) == 1 &&
        tls13_expand_ctx(s, ems, "EXPORTER-Channel-Binding", empty, hl,
                         derived, tls13_suites[s].hash_len) == 0 &&
        tls13_expand_ctx(s, derived, "exporter", empty, hl, out, 32) == 0)
        rc = 0;
    OPENSSL_cleanse(derived, sizeof derived);
    return rc;
}

/* RFC 8446 7.3: the key and IV of a traffic secret. */
static int tls13_keys(size_t s, tls13_dir_t *d)
{
    if (tls13_expand(s, d->secret, "key", d->key, tls13_suites[s].key_len) ||
        tls13_expand(s, d->secret, "iv", d->iv, sizeof d->iv))
        return TN_ETLS;
    d->seq = 0;
    return 0;
}

/* RFC 8446 7.2: application_traffic_secret_N+1. */
static int tls13_update(size_t s, tls13_dir_t *d)
{
    uint8_t next[48];
    if (tls13_expand(s, d->secret, "traffic upd", next,
                     tls13_suites[s].hash_len))
        return TN_ETLS;
    memcpy(d->secret, next, sizeof next);
    OPENSSL_cleanse(next, sizeof next);
    return tls13_keys(s, d);
}

tn_tls13_t *tn_tls13_new(unsigned cipher, const uint8_t *rd,
                         const uint8_t *wr, size_t secret_len)
{
    size_t s = 0;
    while (s < TLS13_NSUITES && tls13_suites[s].code != cipher)
        s++;
    if (s == TLS13_NSUITES || secret_len != tls13_suites[s].hash_len ||
        tls13_init(s))
        return NULL;
    tn_tls13_t *t = TN_NEW(tn_tls13_t);
    tn_buf_init(&t->in);
    t->suite = (uint8_t)s;
    memcpy(t->rd.secret, rd, secret_len);
    memcpy(t->wr.secret, wr, secret_len);
    if (tls13_keys(s, &t->rd) || tls13_keys(s, &t->wr)) {
        tn_tls13_free(t);
        return NULL;
    }
    return t;
}

void tn_tls13_free(tn_tls13_t *t)
{
    if (!t)
        return;
    tn_buf_release(&t->in);
    OPENSSL_cleanse(t, sizeof *t);
    tn_free(t);
}

void tn_tls13_set_seq(tn_tls13_t *t, uint64_t rd, uint64_t wr)
{
    t->rd.seq = rd;
    t->wr.seq = wr;
}

/* RFC 8446 5.3: the per-record nonce. */
static void tls13_nonce(const tls13_dir_t *d, uint8_t nonce[12])
{
    memcpy(nonce, d->iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

static int tls13_seal_one(tn_tls13_t *t, uint8_t type, const void *p,
                          size_t len, tn_buf_t *out)
{
    size_t clen = len + 1 + REC_TAG;
    uint8_t nonce[12];
    tls13_nonce(&t->wr, nonce);
    size_t start = out->len;
    uint8_t *rec = (uint8_t *)tn_buf_extend(out, REC_HDR + clen);
    rec[0] = CT_APPDATA;
    rec[1] = 3;
    rec[2] = 3;
    rec[3] = (uint8_t)(clen >> 8);
    rec[4] = (uint8_t)clen;
    uint8_t *ct = rec + REC_HDR;
    int n1 = 0, n2 = 0, n3 = 0, na = 0;
    EVP_CIPHER_CTX *x = tls13_cctx;
    int ok = EVP_EncryptInit_ex2(x, tls13_ciphers[t->suite], t->wr.key,
                                 nonce, NULL) == 1 &&
             EVP_EncryptUpdate(x, NULL, &na, rec, REC_HDR) == 1 &&
             (len == 0 || EVP_EncryptUpdate(x, ct, &n1, p, (int)len) == 1) &&
             EVP_EncryptUpdate(x, ct + n1, &n2, &type, 1) == 1 &&
             EVP_EncryptFinal_ex(x, ct + n1 + n2, &n3) == 1 &&
             (size_t)(n1 + n2 + n3) == len + 1 &&
             EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, REC_TAG,
                                 ct + len + 1) == 1;
    if (!ok) {
        out->len = start;
        t->dead = 1;
        tn_log(TN_LOG_WARN, "tls13: encryption failed");
        return TN_ETLS;
    }
    t->wr.seq++;
    return 0;
}

int tn_tls13_seal_record(tn_tls13_t *t, uint8_t type, const void *p,
                         size_t len, tn_buf_t *out)
{
    if (len > REC_MAX_PLAIN)
        return TN_EINVAL;
    if (t->dead || t->wr_closed)
        return TN_ETLS;
    if (t->wr.seq >= REC_REKEY_AFTER) {
        /* 4.6.3: update_not_requested under the old key, then switch. */
        static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
        if (tls13_seal_one(t, CT_HANDSHAKE, ku, sizeof ku, out) ||
            tls13_update(t->suite, &t->wr)) {
            t->dead = 1;
            return TN_ETLS;
        }
    }
    return tls13_seal_one(t, type, p, len, out);
}

int tn_tls13_seal(tn_tls13_t *t, const void *p, size_t len, tn_buf_t *out)
{
    const uint8_t *b = p;
    while (len > 0) {
        size_t n = len > REC_MAX_PLAIN ? REC_MAX_PLAIN : len;
        int rc = tn_tls13_seal_record(t, CT_APPDATA, b, n, out);
        if (rc)
            return rc;
        b += n;
        len -= n;
    }
    return 0;
}

void tn_tls13_close_notify(tn_tls13_t *t, tn_buf_t *out)
{
    static const uint8_t al[2] = {1, AL_CLOSE_NOTIFY};
    tn_tls13_seal_record(t, CT_ALERT, al, sizeof al, out);
    t->wr_closed = 1;
}

/* Sends a fatal alert (if we still may) and kills the state. */
static int tls13_fail(tn_tls13_t *t, uint8_t desc, const char *why,
                      tn_buf_t *out)
{
    tn_log(TN_LOG_INFO, "tls13: %s (alert %u)", why, desc);
    const uint8_t al[2] = {2, desc};
    tn_tls13_seal_record(t, CT_ALERT, al, sizeof al, out);
    t->dead = 1;
    return TN_ETLS;
}

/* Decrypts one record into tls13_plain; returns the inner plaintext
 * length (content type included) or -1. */
static int tls13_decrypt(tn_tls13_t *t, const uint8_t *rec, size_t rlen)
{
    uint8_t nonce[12];
    tls13_nonce(&t->rd, nonce);
    size_t clen = rlen - REC_TAG;
    int n1 = 0, n2 = 0, na = 0;
    EVP_CIPHER_CTX *x = tls13_cctx;
    int ok = EVP_DecryptInit_ex2(x, tls13_ciphers[t->suite], t->rd.key,
                                 nonce, NULL) == 1 &&
             EVP_DecryptUpdate(x, NULL, &na, rec, REC_HDR) == 1 &&
             EVP_DecryptUpdate(x, tls13_plain, &n1, rec + REC_HDR,
                               (int)clen) == 1 &&
             EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, REC_TAG,
                                 (void *)(rec + REC_HDR + clen)) == 1 &&
             EVP_DecryptFinal_ex(x, tls13_plain + n1, &n2) == 1;
    if (!ok)
        return -1;
    t->rd.seq++;
    return n1 + n2;
}

/* Post-handshake messages: KeyUpdate only (4.6.3), whole, last in its
 * record (5.1: never spanning a key change). */
static int tls13_handshake(tn_tls13_t *t, const uint8_t *m, size_t n,
                           tn_buf_t *out)
{
    if (n < 4)
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE,
                          "fragmented post-handshake message", out);
    size_t mlen = (size_t)m[1] << 16 | (size_t)m[2] << 8 | m[3];
    if (m[0] != HS_KEY_UPDATE)
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE,
                          "post-handshake message other than KeyUpdate", out);
    if (mlen != 1 || n < 5)
        return tls13_fail(t, mlen != 1 ? AL_DECODE_ERROR
                                       : AL_UNEXPECTED_MESSAGE,
                          "bad KeyUpdate", out);
    if (n > 5)
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE,
                          "data after KeyUpdate in its record", out);
    if (m[4] > 1)
        return tls13_fail(t, AL_ILLEGAL_PARAMETER, "bad KeyUpdate request",
                          out);
    if (tls13_update(t->suite, &t->rd))
        return tls13_fail(t, AL_INTERNAL_ERROR, "key update failed", out);
    if (m[4] == 1 && !t->wr_closed) {
        static const uint8_t ku[5] = {HS_KEY_UPDATE, 0, 0, 1, 0};
        if (tls13_seal_one(t, CT_HANDSHAKE, ku, sizeof ku, out) ||
            tls13_update(t->suite, &t->wr))
            return tls13_fail(t, AL_INTERNAL_ERROR, "key update failed", out);
    }
    return 0;
}

/* Opens one complete record; returns 0, TN_TLS13_CLOSED, TN_ETLS, or 2
 * when deliver asked to stop. */
static int tls13_record(tn_tls13_t *t, const uint8_t *rec, size_t rlen,
                        tn_buf_t *out, tn_tls13_deliver_fn deliver,
                        void *arg)
{
    if (rec[0] != CT_APPDATA)
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE,
                          "unprotected record after the handshake", out);
    if (rlen > REC_MAX_CIPHER)
        return tls13_fail(t, AL_RECORD_OVERFLOW, "record too long", out);
    int n = rlen >= REC_TAG + 1 ? tls13_decrypt(t, rec, rlen) : -1;
    if (n < 0)
        return tls13_fail(t, AL_BAD_RECORD_MAC, "record failed to decrypt",
                          out);
    /* 5.4: strip the zero padding; the last non-zero byte is the type. */
    while (n > 0 && tls13_plain[n - 1] == 0)
        n--;
    if (n == 0)
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE, "record without type",
                          out);
    uint8_t type = tls13_plain[--n];
    if (n > REC_MAX_PLAIN)
        return tls13_fail(t, AL_RECORD_OVERFLOW, "plaintext too long", out);
    switch (type) {
    case CT_APPDATA:
        if (n > 0 && deliver(arg, (const char *)tls13_plain, (size_t)n))
            return 2;
        return 0;
    case CT_ALERT:
        if (n != 2)
            return tls13_fail(t, AL_DECODE_ERROR, "bad alert", out);
        if (tls13_plain[1] == AL_CLOSE_NOTIFY) {
            t->dead = 1;
            return TN_TLS13_CLOSED;
        }
        if (tls13_plain[1] == AL_USER_CANCELED)
            return 0; /* 6.1: close_notify follows */
        tn_log(TN_LOG_INFO, "tls13: peer sent alert %u", tls13_plain[1]);
        t->dead = 1;
        return TN_ETLS;
    case CT_HANDSHAKE:
        return tls13_handshake(t, tls13_plain, (size_t)n, out);
    default:
        return tls13_fail(t, AL_UNEXPECTED_MESSAGE, "unknown record type",
                          out);
    }
}

int tn_tls13_open(tn_tls13_t *t, const void *data, size_t len, tn_buf_t *out,
                  tn_tls13_deliver_fn deliver, void *arg)
{
    if (t->dead)
        return TN_ETLS;
    const uint8_t *p = data;
    size_t n = len;
    int kept = t->in.len > 0;
    if (kept) {
        tn_buf_append(&t->in, data, len);
        p = (const uint8_t *)t->in.data;
        n = t->in.len;
    }
    size_t off = 0;
    int rc = 0;
    while (n - off >= REC_HDR) {
        size_t rlen = (size_t)p[off + 3] << 8 | p[off + 4];
        /* Judge the header before waiting for a body that cannot be. */
        if (p[off] != CT_APPDATA || rlen > REC_MAX_CIPHER) {
            rc = tls13_record(t, p + off, rlen, out, deliver, arg);
            break;
        }
        if (n - off < REC_HDR + rlen)
            break;
        rc = tls13_record(t, p + off, rlen, out, deliver, arg);
        off += REC_HDR + rlen;
        if (rc)
            break;
    }
    if (rc) {
        tn_buf_release(&t->in);
        return rc == 2 ? 0 : rc;
    }
    if (kept) {
        tn_buf_consume(&t->in, off);
        if (t->in.len == 0)
            tn_buf_release(&t->in);
    } else if (off < n) {
        tn_buf_append(&t->in, p + off, n - off);
    }
    return 0;
}

int tn_tls13_has_cb(const tn_tls13_t *t, const char *type)
{
    if (strcmp(type, "tls-exporter") == 0)
        return t->has_exp;
    if (strcmp(type, "tls-server-end-point") == 0)
        return t->sep_len > 0;
    return 0; /* tls-unique: never on TLS 1.3 */
}

int tn_tls13_cb_data(const tn_tls13_t *t, const char *type,
                     unsigned char *out, size_t cap)
{
    const uint8_t *src = NULL;
    size_t n = 0;
    uint8_t exp[32];
    if (strcmp(type, "tls-exporter") == 0 && t->has_exp) {
        if (cap < sizeof exp || tls13_exporter(t->suite, t->es, exp) != 0)
            return TN_EINVAL;
        memcpy(out, exp, sizeof exp);
        OPENSSL_cleanse(exp, sizeof exp);
        return (int)sizeof exp;
    } else if (strcmp(type, "tls-server-end-point") == 0 && t->sep_len) {
        src = t->sep;
        n = t->sep_len;
    }
    if (!src || n > cap)
        return TN_EINVAL;
    memcpy(out, src, n);
    return (int)n;
}

/* ------------------------------------------------------------------ */
/* Watching the handshake */

typedef struct tls13_watch {
    uint8_t cs[48], ss[48]; /* client / server application secret 0 */
    uint8_t es[48];         /* exporter master secret */
    uint8_t cs_len, ss_len, es_len;
    uint8_t fin_wr, fin_rd; /* our / the client's Finished went by */
    unsigned wr_after, rd_after; /* records since, each way */
} tls13_watch_t;

static int tls13_idx = -1;

/* Per context: the tls-server-end-point data of its certificate. */
typedef struct tls13_ctxdata {
    int len;
    uint8_t sep[64];
} tls13_ctxdata_t;

static int tls13_ctx_idx = -1;


static void tls13_watch_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
                             int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr) {
        OPENSSL_cleanse(ptr, sizeof(tls13_watch_t));
        tn_free(ptr);
    }
}

static int tls13_hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* "LABEL <client random hex> <secret hex>" (the NSS key log format). */
static void tls13_keylog(const SSL *ssl, const char *line)
{
    tls13_watch_t *w = tls13_idx >= 0 ? SSL_get_ex_data(ssl, tls13_idx) : NULL;
    if (!w)
        return;
    static const char cl[] = "CLIENT_TRAFFIC_SECRET_0 ";
    static const char sl[] = "SERVER_TRAFFIC_SECRET_0 ";
    static const char el[] = "EXPORTER_SECRET ";
    uint8_t *dst;
    uint8_t *dlen;
    if (strncmp(line, el, sizeof el - 1) == 0) {
        dst = w->es;
        dlen = &w->es_len;
    } else if (strncmp(line, cl, sizeof cl - 1) == 0) {
        dst = w->cs;
        dlen = &w->cs_len;
    } else if (strncmp(line, sl, sizeof sl - 1) == 0) {
        dst = w->ss;
        dlen = &w->ss_len;
    } else {
        return;
    }
    const char *h = strchr(line, ' ');
    h = h ? strchr(h + 1, ' ') : NULL;
    if (!h)
        return;
    h++;
    size_t hl = strlen(h), n = hl / 2;
    if (hl % 2 || n > sizeof w->cs)
        return;
    for (size_t i = 0; i < n; i++) {
        int a = tls13_hex(h[2 * i]), b = tls13_hex(h[2 * i + 1]);
        if (a < 0 || b < 0)
            return;
        dst[i] = (uint8_t)(a << 4 | b);
    }
    *dlen = (uint8_t)n;
}

/* The keylog callback is installed on the context only from a Finished
 * going by until tn_tls13_disarm, after that SSL_do_handshake call: the
 * application and exporter secrets are derived right after our Finished
 * is written and the client's is read, in the same call. OpenSSL formats
 * every secret it logs in hex, one sprintf per byte, so logging the two
 * handshake secrets as well cost about 3% of a login's instructions. */
static void tls13_arm(SSL *ssl)
{
    SSL_CTX_set_keylog_callback(SSL_get_SSL_CTX(ssl), tls13_keylog);
}

void tn_tls13_disarm(SSL *ssl)
{
    SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
    if (ctx && SSL_CTX_get_keylog_callback(ctx) == tls13_keylog)
        SSL_CTX_set_keylog_callback(ctx, NULL);
}

static void tls13_msg(int write_p, int version, int content_type,
                      const void *buf, size_t len, SSL *ssl, void *arg)
{
    (void)version;
    tls13_watch_t *w = arg;
    if (content_type == SSL3_RT_HEADER) {
        /* OpenSSL reports a record's header before its messages, so the
         * record carrying a Finished is not counted. */
        if (write_p && w->fin_wr)
            w->wr_after++;
        else if (!write_p && w->fin_rd)
            w->rd_after++;
    } else if (content_type == SSL3_RT_HANDSHAKE && len > 0 &&
               ((const uint8_t *)buf)[0] == SSL3_MT_FINISHED) {
        if (write_p)
            w->fin_wr = 1;
        else
            w->fin_rd = 1;
        tls13_arm(ssl);
    }
}

static void tls13_ctxdata_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
                               int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    tn_free(ptr);
}

void tn_tls13_enable(SSL_CTX *ctx)
{
    if (tls13_idx < 0)
        tls13_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
                                         tls13_watch_free);
    if (tls13_ctx_idx < 0)
        tls13_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                                 tls13_ctxdata_free);
    if (tls13_idx < 0 || tls13_ctx_idx < 0)
        return;
    X509 *cert = SSL_CTX_get0_certificate(ctx);
    tls13_ctxdata_t *d = TN_NEW(tls13_ctxdata_t);
    d->len = cert ? tn_tls_end_point(cert, d->sep, sizeof d->sep) : 0;
    if (SSL_CTX_set_ex_data(ctx, tls13_ctx_idx, d) != 1)
        tn_free(d);
}

int tn_tls13_watch(SSL *ssl)
{
    if (tls13_idx < 0 || tls13_ctx_idx < 0 ||
        !SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls13_ctx_idx))
        return 0;
    tls13_watch_t *w = TN_NEW(tls13_watch_t);
    if (SSL_set_ex_data(ssl, tls13_idx, w) != 1) {
        tn_free(w);
        return TN_ETLS;
    }
    SSL_set_msg_callback(ssl, tls13_msg);
    SSL_set_msg_callback_arg(ssl, w);
    return 0;
}

/* tls-server-end-point hashes our certificate: the same bytes for every
 * connection of a context, so tn_tls13_enable computes them once and
 * keeps them with the context. */
static void tls13_end_point(SSL *ssl, tn_tls13_t *t)
{
    const tls13_ctxdata_t *d =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls13_ctx_idx);
    t->sep_len = d && d->len > 0 ? (uint8_t)d->len : 0;
    if (t->sep_len)
        memcpy(t->sep, d->sep, t->sep_len);
}

tn_tls13_t *tn_tls13_take(SSL *ssl)
{
    tls13_watch_t *w = tls13_idx >= 0 ? SSL_get_ex_data(ssl, tls13_idx) : NULL;
    if (!w)
        return NULL;
    SSL_set_msg_callback(ssl, NULL);
    SSL_set_msg_callback_arg(ssl, NULL);
    SSL_set_ex_data(ssl, tls13_idx, NULL);
    tn_tls13_t *t = NULL;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (SSL_version(ssl) == TLS1_3_VERSION && c && SSL_is_init_finished(ssl) &&
        w->fin_wr && w->fin_rd && w->rd_after == 0 && !SSL_has_pending(ssl) &&
        w->cs_len && w->cs_len == w->ss_len)
        t = tn_tls13_new(SSL_CIPHER_get_id(c) & 0xffff, w->cs, w->ss,
                         w->cs_len);
    if (t) {
        t->wr.seq = w->wr_after;
        t->has_exp = w->es_len == w->cs_len &&
                     w->es_len == tls13_suites[t->suite].hash_len;
        if (t->has_exp)
            memcpy(t->es, w->es, w->es_len);
        tls13_end_point(ssl, t);
    }
    tls13_watch_free(NULL, w, NULL, 0, 0, NULL);
    return t;
}
