/* scram.h -- SCRAM (RFC 5802, RFC 7677) server side, with channel binding
 * (RFC 5929 tls-server-end-point, RFC 9266 tls-exporter), on OpenSSL.
 *
 * Credentials hold only salt, iteration count, StoredKey and ServerKey:
 * never a password. PBKDF2 runs only to derive credentials (registration,
 * password change, PLAIN); a SCRAM login costs HMACs. Secrets are compared
 * with CRYPTO_memcmp. An unknown user is answered with a salt derived from
 * a server secret and the username, so that the server-first message does
 * not reveal which users exist; such a login always fails at the end.
 * Knows nothing of XMPP framing: c2s base64-decodes and -encodes. */
#ifndef TN_XMPP_SCRAM_H
#define TN_XMPP_SCRAM_H

#include <stddef.h>

typedef enum { TN_SCRAM_SHA1 = 0, TN_SCRAM_SHA256 = 1 } tn_scram_hash_t;

#define TN_SCRAM_MAX_KEY 32  /* SHA-256 output */
#define TN_SCRAM_MAX_SALT 64
#define TN_SCRAM_DEFAULT_ITER 4096
#define TN_SCRAM_DEFAULT_SALT 16

typedef struct tn_scram_cred {
    tn_scram_hash_t hash;
    unsigned char salt[TN_SCRAM_MAX_SALT];
    size_t salt_len;
    unsigned iterations;
    unsigned char stored_key[TN_SCRAM_MAX_KEY];
    unsigned char server_key[TN_SCRAM_MAX_KEY];
} tn_scram_cred_t;

/* Key length in bytes for hash (20 or 32). */
size_t tn_scram_key_len(tn_scram_hash_t hash);

/* Derives credentials from password (SASLprep'd here; returns TN_EINVAL if
 * that fails), salt and iteration count. Returns 0 or a TN_E* code. */
int tn_scram_derive(tn_scram_hash_t hash, const char *password,
                    const unsigned char *salt, size_t salt_len,
                    unsigned iterations, tn_scram_cred_t *out);
/* Derives with a fresh random salt of TN_SCRAM_DEFAULT_SALT bytes and
 * TN_SCRAM_DEFAULT_ITER iterations. */
int tn_scram_derive_new(tn_scram_hash_t hash, const char *password,
                        tn_scram_cred_t *out);
/* 0 when password matches cred (constant-time compare), TN_EAUTH when not,
 * TN_EINVAL when the password does not SASLprep. Used for PLAIN. */
int tn_scram_check_password(const tn_scram_cred_t *cred,
                            const char *password);

/* SASLprep (RFC 4013) via libidn; fresh string or NULL if prohibited. */
char *tn_saslprep(const char *s);

/* Results of the server steps. */
enum {
    TN_SCRAM_E_MALFORMED = -100, /* -> malformed-request */
    TN_SCRAM_E_NOT_AUTHORIZED = -101, /* -> not-authorized */
    TN_SCRAM_E_INVALID_AUTHZID = -102, /* -> invalid-authzid */
    TN_SCRAM_E_CB = -103, /* channel-binding mismatch or downgrade
                             -> not-authorized */
};

typedef struct tn_scram_server tn_scram_server_t;

/* plus: the client chose the -PLUS mechanism. cb_offered: the server
 * advertised -PLUS mechanisms on this stream (to detect a 'y' downgrade,
 * RFC 5802 6). secret/secret_len: server secret for fake salts. */
tn_scram_server_t *tn_scram_server_new(tn_scram_hash_t hash, int plus,
                                       int cb_offered,
                                       const unsigned char *secret,
                                       size_t secret_len);
void tn_scram_server_free(tn_scram_server_t *s);

/* Step 1: parses client-first-message (raw, already base64-decoded).
 * Returns 0 or TN_SCRAM_E_*. Then tn_scram_server_username gives the
 * SASLprep'd username and tn_scram_server_authzid the authzid (or NULL),
 * and tn_scram_server_cb_type the channel-binding type the client asked
 * for ("tls-exporter", "tls-server-end-point") or NULL without binding.
 * A -PLUS mechanism without p=, or p= with a plain mechanism, is
 * TN_SCRAM_E_MALFORMED. */
int tn_scram_server_client_first(tn_scram_server_t *s, const char *msg,
                                 size_t len);
const char *tn_scram_server_username(const tn_scram_server_t *s);
const char *tn_scram_server_authzid(const tn_scram_server_t *s);
const char *tn_scram_server_cb_type(const tn_scram_server_t *s);

/* Step 2: builds server-first-message. cred is the user's credential for
 * this hash, or NULL when the user does not exist (a fake salt is used and
 * the final step fails). *out is a fresh string (caller frees). */
int tn_scram_server_first(tn_scram_server_t *s, const tn_scram_cred_t *cred,
                          char **out, size_t *out_len);

/* Step 3: checks client-final-message with the channel-binding data of the
 * connection (cb_data/cb_len for the type asked in step 1; NULL/0 without
 * binding). On success returns 0 and *out is server-final-message ("v=...",
 * caller frees). Otherwise a TN_SCRAM_E_* code and *out is NULL. */
int tn_scram_server_final(tn_scram_server_t *s, const char *msg, size_t len,
                          const unsigned char *cb_data, size_t cb_len,
                          char **out, size_t *out_len);

/* For tests only: makes the next tn_scram_server_first use snonce (copied;
 * printable ASCII without ',') as the server nonce instead of a random one,
 * so that the RFC 5802 / RFC 7677 examples can be replayed. Never call this
 * outside tests: a fixed nonce allows replay attacks. */
void tn_scram_server_set_nonce_for_test(tn_scram_server_t *s,
                                        const char *snonce);

/* PLAIN (RFC 4616): splits authzid NUL authcid NUL passwd. Each output is
 * a fresh string; authzid is NULL when empty. Returns 0 or
 * TN_SCRAM_E_MALFORMED (wrong number of NULs, empty authcid or passwd,
 * over 255 bytes per field). */
int tn_sasl_plain_parse(const char *msg, size_t len, char **authzid,
                        char **authcid, char **passwd);

#endif
