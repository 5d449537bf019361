/* test_tls13.c -- unit tests for src/net/tls13.c, the compact TLS 1.3
 * record layer, against OpenSSL as the client: the hand-over after
 * OpenSSL's server handshake (tickets written, client data pipelined
 * behind its Finished, TLS 1.2 left alone), data both ways under each
 * cipher suite with records split anywhere, KeyUpdate (RFC 8446 4.6.3)
 * both ways and our own rekeying after 2^24 records, close_notify, the
 * fatal alerts of RFC 8446 5 and 6 for tampered, unprotected, oversized
 * and unexpected records, and channel binding (RFC 9266). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/tls.h"
#include "net/tls13.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/mem.h"

static char cert_path[64], key_path[64], tmp_dir[32];

/* A self-signed P-256 certificate for CN=localhost in a temp dir. */
static int make_cert(void)
{
    strcpy(tmp_dir, "/tmp/tls13-XXXXXX");
    if (!mkdtemp(tmp_dir))
        return -1;
    snprintf(cert_path, sizeof cert_path, "%s/cert.pem", tmp_dir);
    snprintf(key_path, sizeof key_path, "%s/key.pem", tmp_dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *nm = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509_set_pubkey(x, pk);
    X509_sign(x, pk, EVP_sha256());
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key_path, "w");
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    return make_cert();
}

static int group_teardown(void **state)
{
    (void)state;
    unlink(cert_path);
    unlink(key_path);
    rmdir(tmp_dir);
    return 0;
}

/* ---- an OpenSSL client and an OpenSSL server handed over ------------- */

typedef struct pair {
    SSL_CTX *sctx, *cctx;
    SSL *s, *c;
    BIO *s_in, *s_out, *c_in, *c_out;
    tn_tls13_t *t;
    tn_buf_t left;  /* bytes OpenSSL's server had not read at hand-over */
    tn_buf_t wire;  /* what the record layer produced for the client */
    tn_buf_t got;   /* application data the record layer delivered */
    int stop_after; /* deliver: stop after this many calls (0: never) */
    int calls;
} pair_t;

static int deliver(void *arg, const char *p, size_t len)
{
    pair_t *x = arg;
    tn_buf_append(&x->got, p, len);
    return x->stop_after && ++x->calls >= x->stop_after;
}

static void move(BIO *from, BIO *to)
{
    char tmp[4096];
    int n;
    while ((n = BIO_read(from, tmp, sizeof tmp)) > 0)
        assert_int_equal(BIO_write(to, tmp, n), n);
}

/* Handshakes; tickets: server tickets; suites: client TLS 1.3 suites
 * (NULL: default); max: client's highest version. pipelined: the client
 * writes "early" right after its Finished, before the server reads it. */
static void pair_open(pair_t *x, int tickets, const char *suites, int max,
                      int pipelined)
{
    memset(x, 0, sizeof *x);
    char *err = NULL;
    x->sctx = tn_tls_server_ctx(cert_path, key_path, &err);
    assert_non_null(x->sctx);
    SSL_CTX_set_num_tickets(x->sctx, (size_t)tickets);
    tn_tls13_enable(x->sctx);
    x->cctx = SSL_CTX_new(TLS_client_method());
    if (suites)
        assert_int_equal(SSL_CTX_set_ciphersuites(x->cctx, suites), 1);
    if (max)
        SSL_CTX_set_max_proto_version(x->cctx, max);
    x->s = SSL_new(x->sctx);
    x->c = SSL_new(x->cctx);
    x->s_in = BIO_new(BIO_s_mem());
    x->s_out = BIO_new(BIO_s_mem());
    x->c_in = BIO_new(BIO_s_mem());
    x->c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(x->s, x->s_in, x->s_out);
    SSL_set_bio(x->c, x->c_in, x->c_out);
    SSL_set_accept_state(x->s);
    SSL_set_connect_state(x->c);
    assert_int_equal(tn_tls13_watch(x->s), 0);
    int sdone = 0, cdone = 0;
    for (int i = 0; i < 20 && !sdone; i++) {
        if (!cdone) {
            cdone = SSL_do_handshake(x->c) == 1;
            if (cdone && pipelined)
                assert_int_equal(SSL_write(x->c, "early", 5), 5);
        }
        move(x->c_out, x->s_in);
        sdone = SSL_do_handshake(x->s) == 1;
        /* As conn.c does: the secrets must arrive within the call that
         * saw a Finished, the keylog callback being off in between. */
        tn_tls13_disarm(x->s);
        assert_null(SSL_CTX_get_keylog_callback(x->sctx));
        move(x->s_out, x->c_in);
    }
    assert_true(sdone);
    tn_buf_init(&x->left);
    tn_buf_init(&x->wire);
    tn_buf_init(&x->got);
    x->t = tn_tls13_take(x->s);
    if (x->t) {
        char tmp[4096];
        int n;
        while ((n = BIO_read(x->s_in, tmp, sizeof tmp)) > 0)
            tn_buf_append(&x->left, tmp, (size_t)n);
        SSL_free(x->s);
        x->s = NULL;
    }
}

static void pair_close(pair_t *x)
{
    tn_tls13_free(x->t);
    if (x->s)
        SSL_free(x->s);
    SSL_free(x->c);
    SSL_CTX_free(x->sctx);
    SSL_CTX_free(x->cctx);
    tn_buf_release(&x->left);
    tn_buf_release(&x->wire);
    tn_buf_release(&x->got);
    ERR_clear_error();
}

/* Client ciphertext into the record layer, chunk bytes at a time (0: all
 * at once). Returns the last tn_tls13_open result. */
static int to_server(pair_t *x, size_t chunk)
{
    tn_buf_t ct;
    tn_buf_init(&ct);
    char tmp[4096];
    int n, rc = 0;
    while ((n = BIO_read(x->c_out, tmp, sizeof tmp)) > 0)
        tn_buf_append(&ct, tmp, (size_t)n);
    size_t step = chunk ? chunk : ct.len;
    for (size_t off = 0; off < ct.len && rc == 0; off += step) {
        size_t len = ct.len - off < step ? ct.len - off : step;
        rc = tn_tls13_open(x->t, ct.data + off, len, &x->wire, deliver, x);
    }
    tn_buf_release(&ct);
    return rc;
}

/* What the record layer wrote, into the client. */
static void to_client(pair_t *x)
{
    if (x->wire.len)
        assert_int_equal(BIO_write(x->c_in, x->wire.data, (int)x->wire.len),
                         (int)x->wire.len);
    x->wire.len = 0;
}

/* Reads exactly len bytes of application data at the client. */
static void client_reads(pair_t *x, const char *want, size_t len)
{
    char *buf = tn_malloc(len + 1);
    size_t got = 0;
    while (got < len) {
        int n = SSL_read(x->c, buf + got, (int)(len - got));
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, want, len);
    tn_free(buf);
}

static void client_writes(pair_t *x, const char *p, size_t len)
{
    assert_int_equal(SSL_write(x->c, p, (int)len), (int)len);
}

static char *pattern(size_t len)
{
    char *p = tn_malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)('a' + i * 7 % 26);
    return p;
}

/* ---- tests ----------------------------------------------------------- */

static void both_ways(pair_t *x)
{
    x->got.len = 0;
    client_writes(x, "<stream:stream>", 15);
    assert_int_equal(to_server(x, 0), 0);
    assert_int_equal(x->got.len, 15);
    assert_memory_equal(x->got.data, "<stream:stream>", 15);
    assert_int_equal(tn_tls13_seal(x->t, "<features/>", 11, &x->wire), 0);
    to_client(x);
    client_reads(x, "<features/>", 11);
}

static void test_suites(void **state)
{
    (void)state;
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256",
                                         "TLS_AES_256_GCM_SHA384",
                                         "TLS_CHACHA20_POLY1305_SHA256"};
    for (size_t i = 0; i < 3; i++) {
        pair_t x;
        pair_open(&x, 1, suites[i], 0, 0);
        assert_non_null(x.t);
        both_ways(&x);
        pair_close(&x);
    }
}

/* The write sequence number after the hand-over counts the tickets. */
static void test_tickets(void **state)
{
    (void)state;
    for (int tickets = 0; tickets <= 3; tickets++) {
        pair_t x;
        pair_open(&x, tickets, NULL, 0, 0);
        assert_non_null(x.t);
        both_ways(&x);
        both_ways(&x);
        pair_close(&x);
    }
}

/* Data the client sent behind its Finished stays for the record layer. */
static void test_pipelined(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 1);
    assert_non_null(x.t);
    assert_true(x.left.len > 0);
    assert_int_equal(tn_tls13_open(x.t, x.left.data, x.left.len, &x.wire,
                                   deliver, &x),
                     0);
    assert_int_equal(x.got.len, 5);
    assert_memory_equal(x.got.data, "early", 5);
    x.got.len = 0;
    both_ways(&x);
    pair_close(&x);
}

/* TLS 1.2 stays with OpenSSL. */
static void test_tls12_stays(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, TLS1_2_VERSION, 0);
    assert_null(x.t);
    assert_non_null(x.s);
    client_writes(&x, "hi", 2);
    move(x.c_out, x.s_in);
    char buf[8];
    assert_int_equal(SSL_read(x.s, buf, sizeof buf), 2);
    pair_close(&x);
}

/* Large data both ways, records split at every size. */
static void test_large_and_split(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 0);
    size_t len = 100000;
    char *p = pattern(len);
    assert_int_equal(tn_tls13_seal(x.t, p, len, &x.wire), 0);
    /* 7 records of at most 2^14 bytes, each 5 + 1 + 16 longer. */
    assert_int_equal(x.wire.len, len + 7 * 22);
    to_client(&x);
    client_reads(&x, p, len);
    static const size_t chunks[] = {1, 2, 3, 5, 17, 4096, 16406, 0};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        x.got.len = 0;
        client_writes(&x, p, len);
        assert_int_equal(to_server(&x, chunks[i]), 0);
        assert_int_equal(x.got.len, len);
        assert_memory_equal(x.got.data, p, len);
    }
    tn_free(p);
    pair_close(&x);
}

static void test_key_update(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 0);
    /* Not requested: we only switch our read key. */
    assert_int_equal(SSL_key_update(x.c, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    client_writes(&x, "one", 3);
    assert_int_equal(to_server(&x, 0), 0);
    assert_int_equal(x.wire.len, 0);
    assert_memory_equal(x.got.data, "one", 3);
    /* Requested, three times: each time we answer and switch both. */
    for (int i = 0; i < 3; i++) {
        x.got.len = 0;
        assert_int_equal(SSL_key_update(x.c, SSL_KEY_UPDATE_REQUESTED), 1);
        client_writes(&x, "two", 3);
        assert_int_equal(to_server(&x, 0), 0);
        assert_int_equal(x.got.len, 3);
        assert_true(x.wire.len > 0); /* our KeyUpdate */
        assert_int_equal(tn_tls13_seal(x.t, "back", 4, &x.wire), 0);
        to_client(&x);
        client_reads(&x, "back", 4);
    }
    x.got.len = 0;
    both_ways(&x);
    pair_close(&x);
}

/* After 2^24 records we update our own write key (RFC 8446 5.5). */
static void test_rekey_limit(void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    memset(a, 1, sizeof a);
    memset(b, 2, sizeof b);
    tn_tls13_t *srv = tn_tls13_new(0x1301, a, b, 32);
    tn_tls13_t *peer = tn_tls13_new(0x1301, b, a, 32);
    assert_non_null(srv);
    assert_non_null(peer);
    uint64_t lim = UINT64_C(1) << 24;
    tn_tls13_set_seq(srv, 0, lim - 1);
    tn_tls13_set_seq(peer, lim - 1, 0);
    pair_t x;
    memset(&x, 0, sizeof x);
    tn_buf_t wire, back;
    tn_buf_init(&wire);
    tn_buf_init(&back);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tn_tls13_seal(srv, "abc", 3, &wire), 0);
    /* record lim-1, then KeyUpdate + record under the new key, then one
     * more: four records. */
    assert_int_equal(wire.len, 3 * (5 + 3 + 17) + (5 + 5 + 17));
    assert_int_equal(tn_tls13_open(peer, wire.data, wire.len, &back, deliver,
                                   &x),
                     0);
    assert_int_equal(x.got.len, 9);
    assert_memory_equal(x.got.data, "abcabcabc", 9);
    assert_int_equal(back.len, 0);
    tn_buf_release(&wire);
    tn_buf_release(&back);
    tn_buf_release(&x.got);
    tn_tls13_free(srv);
    tn_tls13_free(peer);
}

static void test_close_notify(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 0);
    /* Theirs. */
    client_writes(&x, "bye", 3);
    SSL_shutdown(x.c);
    assert_int_equal(to_server(&x, 0), TN_TLS13_CLOSED);
    assert_int_equal(x.got.len, 3);
    pair_close(&x);
    /* Ours: the client sees a clean end; nothing is sealed after it. */
    pair_open(&x, 1, NULL, 0, 0);
    tn_tls13_close_notify(x.t, &x.wire);
    assert_int_equal(tn_tls13_seal(x.t, "more", 4, &x.wire), TN_ETLS);
    to_client(&x);
    char buf[8];
    assert_int_equal(SSL_read(x.c, buf, sizeof buf), 0);
    assert_int_equal(SSL_get_error(x.c, 0), SSL_ERROR_ZERO_RETURN);
    pair_close(&x);
}

/* The client must see our fatal alert; the state is dead afterwards. */
static void assert_alert_sent(pair_t *x, int rc)
{
    assert_int_equal(rc, TN_ETLS);
    assert_true(x->wire.len > 0);
    to_client(x);
    char buf[8];
    assert_true(SSL_read(x->c, buf, sizeof buf) <= 0);
    assert_int_equal(SSL_get_error(x->c, -1), SSL_ERROR_SSL);
    assert_int_equal(tn_tls13_seal(x->t, "x", 1, &x->wire), TN_ETLS);
    assert_int_equal(tn_tls13_open(x->t, "x", 1, &x->wire, deliver, x),
                     TN_ETLS);
}

static void test_tampered(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 0);
    client_writes(&x, "secret", 6);
    char ct[64];
    int n = BIO_read(x.c_out, ct, sizeof ct);
    assert_true(n > 10);
    ct[n - 3] ^= 1;
    int rc = tn_tls13_open(x.t, ct, (size_t)n, &x.wire, deliver, &x);
    assert_int_equal(x.got.len, 0);
    assert_alert_sent(&x, rc);
    pair_close(&x);
}

static void test_bad_headers(void **state)
{
    (void)state;
    /* A change_cipher_spec after the handshake; an alert in the clear; a
     * length over 2^14+256, refused before its body arrives; a record
     * too short to hold a tag. */
    static const char *const recs[] = {
        "\x14\x03\x03\x00\x01\x01", "\x15\x03\x03\x00\x02\x02\x28",
        "\x17\x03\x03\x41\x01", "\x17\x03\x03\x00\x05\x00\x00\x00\x00\x00"};
    static const size_t lens[] = {6, 7, 5, 10};
    for (size_t i = 0; i < 4; i++) {
        pair_t x;
        pair_open(&x, 1, NULL, 0, 0);
        int rc = tn_tls13_open(x.t, recs[i], lens[i], &x.wire, deliver, &x);
        assert_alert_sent(&x, rc);
        pair_close(&x);
    }
}

/* Records crafted by a peer state with the client's keys. */
typedef struct crafted {
    uint8_t type;
    const char *body;
    size_t len;
    int want;          /* tn_tls13_open's result */
    const char *deliv; /* what must have been delivered */
} crafted_t;

static void test_crafted(void **state)
{
    (void)state;
    static const crafted_t cases[] = {
        /* padding after the type byte is stripped */
        {0, "data\x17\0\0", 7, 0, "data"},
        {23, "", 0, 0, ""},
        {21, "\x01\x5a", 2, 0, ""},       /* user_canceled: ignored */
        {21, "\x02\x28", 2, TN_ETLS, ""}, /* handshake_failure */
        {21, "\x01", 1, TN_ETLS, ""},     /* short alert */
        {21, "\x01\x00", 2, TN_TLS13_CLOSED, ""},
        {22, "\x04\x00\x00\x01\x00", 5, TN_ETLS, ""}, /* NewSessionTicket */
        {22, "\x18\x00\x00", 3, TN_ETLS, ""},         /* fragment */
        {22, "\x18\x00\x00\x01\x00\x17", 6, TN_ETLS, ""}, /* data after */
        {22, "\x18\x00\x00\x01\x02", 5, TN_ETLS, ""},     /* bad request */
        {22, "\x18\x00\x00\x02\x00\x00", 6, TN_ETLS, ""}, /* bad length */
        {24, "x", 1, TN_ETLS, ""},                        /* unknown type */
    };
    uint8_t cs[32], ss[32];
    memset(cs, 7, sizeof cs);
    memset(ss, 9, sizeof ss);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const crafted_t *k = &cases[i];
        tn_tls13_t *srv = tn_tls13_new(0x1303, cs, ss, 32);
        tn_tls13_t *cli = tn_tls13_new(0x1303, ss, cs, 32);
        pair_t x;
        memset(&x, 0, sizeof x);
        tn_buf_t rec, wire;
        tn_buf_init(&rec);
        tn_buf_init(&wire);
        assert_int_equal(tn_tls13_seal_record(cli, k->type, k->body, k->len,
                                              &rec),
                         0);
        /* an ordinary record after it must arrive only on success */
        assert_int_equal(tn_tls13_seal(cli, "after", 5, &rec), 0);
        int rc = tn_tls13_open(srv, rec.data, rec.len, &wire, deliver, &x);
        assert_int_equal(rc, k->want);
        size_t dl = strlen(k->deliv);
        assert_int_equal(x.got.len, dl + (rc == 0 ? 5 : 0));
        if (dl)
            assert_memory_equal(x.got.data, k->deliv, dl);
        /* fatal errors we detect are answered with an alert */
        assert_int_equal(wire.len > 0,
                         rc == TN_ETLS && !(k->type == 21 && k->len == 2));
        tn_buf_release(&rec);
        tn_buf_release(&wire);
        tn_buf_release(&x.got);
        tn_tls13_free(srv);
        tn_tls13_free(cli);
    }
    /* all-zero inner plaintext: no content type */
    tn_tls13_t *srv = tn_tls13_new(0x1301, cs, ss, 32);
    tn_tls13_t *cli = tn_tls13_new(0x1301, ss, cs, 32);
    tn_buf_t rec, wire;
    tn_buf_init(&rec);
    tn_buf_init(&wire);
    assert_int_equal(tn_tls13_seal_record(cli, 0, "\0\0", 2, &rec), 0);
    pair_t x;
    memset(&x, 0, sizeof x);
    assert_int_equal(tn_tls13_open(srv, rec.data, rec.len, &wire, deliver,
                                   &x),
                     TN_ETLS);
    tn_buf_release(&rec);
    tn_buf_release(&wire);
    tn_tls13_free(srv);
    tn_tls13_free(cli);
    /* wrong suite or secret length */
    assert_null(tn_tls13_new(0x1304, cs, ss, 32));
    assert_null(tn_tls13_new(0x1302, cs, ss, 32));
}

/* deliver asking to stop drops the rest of the input. */
static void test_stop(void **state)
{
    (void)state;
    pair_t x;
    pair_open(&x, 1, NULL, 0, 0);
    client_writes(&x, "first", 5);
    client_writes(&x, "second", 6);
    x.stop_after = 1;
    assert_int_equal(to_server(&x, 0), 0);
    assert_int_equal(x.got.len, 5);
    pair_close(&x);
}

static void channel_binding(const char *suite)
{
    pair_t x;
    pair_open(&x, 1, suite, 0, 0);
    unsigned char ours[64], theirs[32];
    assert_true(tn_tls13_has_cb(x.t, "tls-exporter"));
    assert_true(tn_tls13_has_cb(x.t, "tls-server-end-point"));
    assert_false(tn_tls13_has_cb(x.t, "tls-unique"));
    assert_int_equal(tn_tls13_cb_data(x.t, "tls-exporter", ours, sizeof ours),
                     32);
    static const char label[] = "EXPORTER-Channel-Binding";
    assert_int_equal(SSL_export_keying_material(x.c, theirs, 32, label,
                                                sizeof label - 1, NULL, 0, 0),
                     1);
    assert_memory_equal(ours, theirs, 32);
    /* tls-server-end-point: SHA-256 of the certificate (ecdsa-with-SHA256) */
    X509 *cert = SSL_get0_peer_certificate(x.c);
    unsigned char dg[32];
    unsigned dl = 0;
    X509_digest(cert, EVP_sha256(), dg, &dl);
    assert_int_equal(tn_tls13_cb_data(x.t, "tls-server-end-point", ours,
                                      sizeof ours),
                     32);
    assert_memory_equal(ours, dg, 32);
    assert_int_equal(tn_tls13_cb_data(x.t, "tls-unique", ours, sizeof ours),
                     TN_EINVAL);
    pair_close(&x);
}

/* tls-exporter is computed by tls13.c from the exporter master secret:
 * it must equal OpenSSL's on the client for both hash lengths. */
static void test_channel_binding(void **state)
{
    (void)state;
    channel_binding("TLS_AES_256_GCM_SHA384");
    channel_binding("TLS_AES_128_GCM_SHA256");
    channel_binding("TLS_CHACHA20_POLY1305_SHA256");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suites),
        cmocka_unit_test(test_tickets),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_tls12_stays),
        cmocka_unit_test(test_large_and_split),
        cmocka_unit_test(test_key_update),
        cmocka_unit_test(test_rekey_limit),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_crafted),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_channel_binding),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
