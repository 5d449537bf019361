/* fuzz_scram.c -- libFuzzer target for the SASL input parsers: the SCRAM
 * server steps (xmpp/scram.c), the PLAIN split and base64 decoding
 * (util/base64.c).
 *
 * The input is split at its first NUL byte into a client-first and a
 * client-final message (without a NUL, all of it is client-first). Each is
 * run through SCRAM-SHA-1 and SCRAM-SHA-256 servers in three binding
 * setups (plain, plain with -PLUS offered, -PLUS with tls-exporter data).
 * The server nonce is fixed so the fuzzer can learn to echo it.
 * Oracles: a server-first message starts with the client nonce; a
 * client-final that passes is possible only for user "user", and when the
 * client-first names that user, a client-final built here from the known
 * password must pass with the right server signature. The whole input goes
 * through tn_sasl_plain_parse (its fields must put the input back together)
 * and through tn_base64_decode (whatever decodes must re-encode to the same
 * text, as decoding is strict), and base64 encode/decode of the input must
 * round-trip. */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "targets.h"
#include "util/base64.h"
#include "util/buf.h"
#include "util/mem.h"
#include "xmpp/scram.h"

#define SCRAM_USER "user"
#define SCRAM_PASS "pencil"
#define SCRAM_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define SCRAM_CB "fuzz-cb-data"

static const unsigned char scram_salt[] = "QSXCR+Q6sek8bf92";
static const unsigned char scram_secret[] = "fuzz server secret";

/* Credentials of SCRAM_USER per hash, derived once with one iteration so
 * that a run costs HMACs only. */
static tn_scram_cred_t scram_creds[2];
static int scram_have_creds;

static void scram_init(void)
{
    if (scram_have_creds)
        return;
    for (int h = 0; h < 2; h++)
        if (tn_scram_derive((tn_scram_hash_t)h, SCRAM_PASS, scram_salt,
                            sizeof scram_salt - 1, 1, &scram_creds[h]) != 0)
            fuzz_fail("scram", "cannot derive test credentials");
    scram_have_creds = 1;
}

static const EVP_MD *scram_md(tn_scram_hash_t h)
{
    return h == TN_SCRAM_SHA256 ? EVP_sha256() : EVP_sha1();
}

/* Builds the client-final message a correct client would send for
 * client-first `first` and server-first `sfirst`, and the server
 * signature it must get back (base64, fresh). Returns the message
 * (fresh). */
static char *scram_client_final(tn_scram_hash_t h, const char *first,
                                size_t first_len, const char *sfirst,
                                int with_cb, char **want_v)
{
    size_t klen = tn_scram_key_len(h);
    unsigned char salted[32], ckey[32], skey[32], stored[32], csig[32];
    unsigned char ssig[32], proof[32];
    unsigned len;

    /* gs2-header is everything up to the second ','. */
    const char *c1 = memchr(first, ',', first_len);
    const char *c2 = memchr(c1 + 1, ',', first_len - (size_t)(c1 + 1 - first));
    size_t gs2_len = (size_t)(c2 + 1 - first);
    tn_buf_t cb;
    tn_buf_init(&cb);
    tn_buf_append(&cb, first, gs2_len);
    if (with_cb)
        tn_buf_puts(&cb, SCRAM_CB);
    char *cb64 = tn_base64_encode(cb.data, cb.len);
    tn_buf_release(&cb);

    /* r= of server-first, up to its ','. */
    const char *r = sfirst + 2;
    size_t rlen = strcspn(r, ",");
    char *without = tn_sprintf("c=%s,r=%.*s", cb64, (int)rlen, r);
    char *am = tn_sprintf("%.*s,%s,%s", (int)(first_len - gs2_len),
                          first + gs2_len, sfirst, without);

    PKCS5_PBKDF2_HMAC(SCRAM_PASS, 6, scram_salt, sizeof scram_salt - 1, 1,
                      scram_md(h), (int)klen, salted);
    HMAC(scram_md(h), salted, (int)klen, (const unsigned char *)"Client Key",
         10, ckey, &len);
    HMAC(scram_md(h), salted, (int)klen, (const unsigned char *)"Server Key",
         10, skey, &len);
    EVP_Digest(ckey, klen, stored, &len, scram_md(h), NULL);
    HMAC(scram_md(h), stored, (int)klen, (const unsigned char *)am,
         strlen(am), csig, &len);
    HMAC(scram_md(h), skey, (int)klen, (const unsigned char *)am, strlen(am),
         ssig, &len);
    for (size_t i = 0; i < klen; i++)
        proof[i] = ckey[i] ^ csig[i];
    char *p64 = tn_base64_encode(proof, klen);
    char *msg = tn_sprintf("%s,p=%s", without, p64);
    char *v64 = tn_base64_encode(ssig, klen);
    *want_v = tn_sprintf("v=%s", v64);
    tn_free(v64);
    tn_free(p64);
    tn_free(am);
    tn_free(without);
    tn_free(cb64);
    return msg;
}

/* One exchange: client-first `first`, then client-final `final` (NULL:
 * build a correct one and require success). */
static void scram_exchange(tn_scram_hash_t h, int plus, int offered,
                           const char *first, size_t first_len,
                           const char *final, size_t final_len)
{
    tn_scram_server_t *s = tn_scram_server_new(
        h, plus, offered, scram_secret, sizeof scram_secret - 1);
    tn_scram_server_set_nonce_for_test(s, SCRAM_SNONCE);
    int rc = tn_scram_server_client_first(s, first, first_len);
    if (rc != 0) {
        if (rc != TN_SCRAM_E_MALFORMED && rc != TN_SCRAM_E_CB)
            fuzz_fail("scram", "client-first: unexpected result");
        tn_scram_server_free(s);
        return;
    }
    const char *user = tn_scram_server_username(s);
    const char *cbt = tn_scram_server_cb_type(s);
    if (!user || !*user)
        fuzz_fail("scram", "client-first accepted without a username");
    if (plus != (cbt != NULL))
        fuzz_fail("scram", "channel binding type does not follow -PLUS");
    int known = strcmp(user, SCRAM_USER) == 0;

    char *sfirst = NULL;
    size_t sfirst_len = 0;
    rc = tn_scram_server_first(s, known ? &scram_creds[h] : NULL, &sfirst,
                               &sfirst_len);
    if (rc != 0 || !sfirst || strlen(sfirst) != sfirst_len ||
        strncmp(sfirst, "r=", 2) != 0)
        fuzz_fail("scram", "server-first failed");

    char *want_v = NULL, *built = NULL;
    if (!final) {
        if (!known) {
            tn_free(sfirst);
            tn_scram_server_free(s);
            return;
        }
        built = scram_client_final(h, first, first_len, sfirst, cbt != NULL,
                                   &want_v);
        final = built;
        final_len = strlen(built);
    }
    const unsigned char *cbd = cbt ? (const unsigned char *)SCRAM_CB : NULL;
    size_t cbl = cbt ? strlen(SCRAM_CB) : 0;
    char *sfinal = NULL;
    size_t sfinal_len = 0;
    rc = tn_scram_server_final(s, final, final_len, cbd, cbl, &sfinal,
                               &sfinal_len);
    if (rc == 0) {
        if (!known)
            fuzz_fail("scram", "unknown user authenticated");
        if (!sfinal || strlen(sfinal) != sfinal_len)
            fuzz_fail("scram", "bad server-final");
    } else {
        if (sfinal)
            fuzz_fail("scram", "server-final output on failure");
        if (rc != TN_SCRAM_E_MALFORMED && rc != TN_SCRAM_E_CB &&
            rc != TN_SCRAM_E_NOT_AUTHORIZED)
            fuzz_fail("scram", "client-final: unexpected result");
    }
    if (built) {
        if (rc != 0 || strcmp(sfinal, want_v) != 0) {
            fprintf(stderr, "client-first: %.*s\nclient-final: %s\n",
                    (int)first_len, first, built);
            fuzz_fail("scram", "a correct client-final was refused");
        }
    }
    tn_free(want_v);
    tn_free(built);
    tn_free(sfinal);
    tn_free(sfirst);
    tn_scram_server_free(s);
}

static void scram_plain(const char *msg, size_t len)
{
    char *z, *c, *p;
    if (tn_sasl_plain_parse(msg, len, &z, &c, &p) != 0) {
        if (z || c || p)
            fuzz_fail("scram", "PLAIN failure left output");
        return;
    }
    if (!c || !p || !*c || !*p || (z && !*z))
        fuzz_fail("scram", "PLAIN fields missing or empty");
    tn_buf_t b;
    tn_buf_init(&b);
    if (z)
        tn_buf_puts(&b, z);
    tn_buf_append(&b, "", 1);
    tn_buf_puts(&b, c);
    tn_buf_append(&b, "", 1);
    tn_buf_puts(&b, p);
    if (b.len != len || memcmp(b.data, msg, len) != 0)
        fuzz_fail("scram", "PLAIN fields do not rebuild the message");
    tn_buf_release(&b);
    int rc = tn_scram_check_password(&scram_creds[1], p);
    if (rc == 0 && strcmp(p, SCRAM_PASS) != 0) {
        /* SASLprep may map other spellings onto the password; that is
         * allowed, anything else is not. */
        char *prepped = tn_saslprep(p);
        if (!prepped || strcmp(prepped, SCRAM_PASS) != 0)
            fuzz_fail("scram", "wrong PLAIN password accepted");
        tn_free(prepped);
    }
    tn_free(z);
    tn_free(c);
    tn_free(p);
}

static void scram_base64(const char *s, size_t len)
{
    size_t n = 12345;
    unsigned char *d = tn_base64_decode(s, len, &n);
    if (d) {
        char *e = tn_base64_encode(d, n);
        if (strlen(e) != len || memcmp(e, s, len) != 0)
            fuzz_fail("scram", "base64 decode is not strict");
        if (d[n] != '\0')
            fuzz_fail("scram", "base64 output not NUL-terminated");
        tn_free(e);
        tn_free(d);
    } else if (n != 12345) {
        fuzz_fail("scram", "base64 failure touched *out_len");
    }
    char *e = tn_base64_encode(s, len);
    d = tn_base64_decode(e, strlen(e), &n);
    if (!d || n != len || memcmp(d, s, len) != 0)
        fuzz_fail("scram", "base64 round trip");
    tn_free(d);
    tn_free(e);
}

int fuzz_scram_one(const uint8_t *data, size_t size)
{
    scram_init();
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    size_t first_len = nul ? (size_t)(nul - in) : size;
    const char *final = nul ? nul + 1 : NULL;
    size_t final_len = nul ? size - first_len - 1 : 0;

    /* Copies, so that ASan sees reads past the given lengths. */
    char *first = tn_malloc(first_len ? first_len : 1);
    memcpy(first, in, first_len);
    char *fin = NULL;
    if (final) {
        fin = tn_malloc(final_len ? final_len : 1);
        memcpy(fin, final, final_len);
    }
    static const int setups[3][2] = {{0, 0}, {0, 1}, {1, 1}};
    for (int h = 0; h < 2; h++) {
        for (int i = 0; i < 3; i++) {
            if (fin)
                scram_exchange((tn_scram_hash_t)h, setups[i][0],
                               setups[i][1], first, first_len, fin,
                               final_len);
            scram_exchange((tn_scram_hash_t)h, setups[i][0], setups[i][1],
                           first, first_len, NULL, 0);
        }
    }
    scram_plain(in, size);
    scram_base64(in, size);
    if (fin)
        scram_base64(fin, final_len);
    tn_free(fin);
    tn_free(first);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_scram_one(data, size);
}
#endif
