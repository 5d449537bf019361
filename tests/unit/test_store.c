/* test_store.c -- unit tests for the asynchronous store (store/store.c and
 * the SQLite backend, store/sqlite.c) on a real libuv loop and a real file
 * in a throw-away directory under /tmp: account create/get/update/delete/
 * list and their error statuses, byte-exact credentials, group commit of
 * many queued writes, callback order and asynchrony, close with pending
 * work, reopening (data, user_version, WAL, file mode) and open errors. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "store/store.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct fixture {
    char dir[64];
    char *path;
    uv_loop_t loop;
} fixture_t;

/* One request's outcome, filled by the callbacks below. */
typedef struct res {
    int ncalls;
    int status;
    int seq;           /* position among all callbacks of the test */
    tn_account_t acct; /* deep copy of a get result */
    char **users;      /* deep copy of a list result */
    size_t nusers;
    tn_store_t *st; /* for callbacks that make requests themselves */
    int inner_rc;   /* what such a request returned */
} res_t;

static int cb_seq;     /* callbacks run so far */
static int in_request; /* set while the test is inside a store call */

/* ---- helpers ----------------------------------------------------------- */

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture_t *f = TN_NEW(fixture_t);
    strcpy(f->dir, "/tmp/tern-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->path = tn_sprintf("%s/tern.db", f->dir);
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    cb_seq = 0;
    in_request = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&f->loop); /* UV_EBUSY: a handle was left open */
    nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    tn_free(f->path);
    tn_free(f);
    return rc == 0 ? 0 : -1;
}

static tn_store_t *open_store(fixture_t *f)
{
    char *err = NULL;
    tn_store_t *st = tn_store_open(&f->loop, "sqlite", f->path, &err);
    if (!st)
        fail_msg("open: %s", err ? err : "?");
    assert_null(err);
    return st;
}

/* Closes st and lets the loop free it. */
static void close_store(fixture_t *f, tn_store_t *st)
{
    tn_store_close(st);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static void res_release(res_t *r)
{
    tn_account_release(&r->acct);
    for (size_t i = 0; i < r->nusers; i++)
        tn_free(r->users[i]);
    tn_free(r->users);
    r->users = NULL;
    r->nusers = 0;
}

static void res_record(res_t *r, int status)
{
    assert_false(in_request); /* never from inside the call */
    r->ncalls++;
    r->status = status;
    r->seq = cb_seq++;
}

static void done_cb(void *ud, int status)
{
    res_record(ud, status);
}

static void get_cb(void *ud, int status, const tn_account_t *acct)
{
    res_t *r = ud;
    res_record(r, status);
    if (status == 0) {
        assert_non_null(acct);
        r->acct = *acct;
        r->acct.user = tn_strdup(acct->user);
        r->acct.host = tn_strdup(acct->host);
    } else {
        assert_null(acct);
    }
}

static void list_cb(void *ud, int status, char **users, size_t n)
{
    res_t *r = ud;
    res_record(r, status);
    r->nusers = n;
    r->users = tn_calloc(n ? n : 1, sizeof *r->users);
    for (size_t i = 0; i < n; i++)
        r->users[i] = tn_strdup(users[i]);
}

/* A credential whose bytes depend on seed and cover 0x00 and 0xff. */
static void make_cred(tn_scram_cred_t *c, tn_scram_hash_t hash, int seed,
                      size_t salt_len, unsigned iter)
{
    memset(c, 0, sizeof *c);
    size_t klen = hash == TN_SCRAM_SHA256 ? 32 : 20;
    c->hash = hash;
    c->salt_len = salt_len;
    c->iterations = iter;
    for (size_t i = 0; i < salt_len; i++)
        c->salt[i] = (unsigned char)(seed + i * 37);
    for (size_t i = 0; i < klen; i++) {
        c->stored_key[i] = (unsigned char)(seed * 3 + i * 59);
        c->server_key[i] = (unsigned char)(255 - seed - i * 11);
    }
    c->stored_key[0] = 0x00;
    c->server_key[klen - 1] = 0xff;
}

static void make_account(tn_account_t *a, const char *host, const char *user,
                         int seed)
{
    memset(a, 0, sizeof *a);
    a->host = (char *)host;
    a->user = (char *)user;
    make_cred(&a->sha1, TN_SCRAM_SHA1, seed, 16, 4096);
    make_cred(&a->sha256, TN_SCRAM_SHA256, seed + 1, 16, 4096);
}

static void assert_cred_equal(const tn_scram_cred_t *a,
                              const tn_scram_cred_t *b)
{
    assert_int_equal(a->hash, b->hash);
    assert_int_equal(a->salt_len, b->salt_len);
    assert_int_equal(a->iterations, b->iterations);
    assert_memory_equal(a->salt, b->salt, sizeof a->salt);
    assert_memory_equal(a->stored_key, b->stored_key, TN_SCRAM_MAX_KEY);
    assert_memory_equal(a->server_key, b->server_key, TN_SCRAM_MAX_KEY);
}

static void assert_account_equal(const tn_account_t *a, const tn_account_t *b)
{
    assert_string_equal(a->host, b->host);
    assert_string_equal(a->user, b->user);
    assert_cred_equal(&a->sha1, &b->sha1);
    assert_cred_equal(&a->sha256, &b->sha256);
}

/* Request wrappers that check the immediate return and asynchrony. */
static void req_create(tn_store_t *st, const tn_account_t *a, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_account_create(st, a, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_update(tn_store_t *st, const tn_account_t *a, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_account_update(st, a, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_delete(tn_store_t *st, const char *h, const char *u, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_account_delete(st, h, u, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_get(tn_store_t *st, const char *h, const char *u, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_account_get(st, h, u, get_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_list(tn_store_t *st, const char *h, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_account_list(st, h, list_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void run(fixture_t *f)
{
    /* Returns once no request is outstanding: the store holds the loop
     * only while it has work. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

/* Reads a single integer with a direct SQLite connection. */
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    long long v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* ---- tests ------------------------------------------------------------- */

static void test_crud(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    /* An idle store does not hold the loop. */
    run(f);

    tn_account_t a, b;
    make_account(&a, "example.org", "alice", 1);
    make_account(&b, "example.org", "bob", 2);
    res_t c1 = {0}, c2 = {0}, g1 = {0};
    req_create(st, &a, &c1);
    req_create(st, &b, &c2);
    req_get(st, "example.org", "alice", &g1);
    run(f);
    assert_int_equal(c1.ncalls, 1);
    assert_int_equal(c1.status, 0);
    assert_int_equal(c2.status, 0);
    assert_int_equal(g1.ncalls, 1);
    assert_int_equal(g1.status, 0);
    assert_account_equal(&g1.acct, &a);

    tn_account_t a2;
    make_account(&a2, "example.org", "alice", 77);
    a2.sha256.iterations = 100000;
    res_t u1 = {0}, g2 = {0}, l1 = {0}, l2 = {0};
    req_update(st, &a2, &u1);
    req_get(st, "example.org", "alice", &g2);
    req_list(st, "example.org", &l1);
    req_list(st, "other.example", &l2);
    run(f);
    assert_int_equal(u1.status, 0);
    assert_int_equal(g2.status, 0);
    assert_account_equal(&g2.acct, &a2);
    assert_int_equal(l1.status, 0);
    assert_int_equal(l1.nusers, 2);
    assert_string_equal(l1.users[0], "alice");
    assert_string_equal(l1.users[1], "bob");
    assert_int_equal(l2.status, 0);
    assert_int_equal(l2.nusers, 0);

    res_t d1 = {0}, g3 = {0}, l3 = {0};
    req_delete(st, "example.org", "alice", &d1);
    req_get(st, "example.org", "alice", &g3);
    req_list(st, "example.org", &l3);
    run(f);
    assert_int_equal(d1.status, 0);
    assert_int_equal(g3.status, TN_ENOTFOUND);
    assert_int_equal(l3.nusers, 1);
    assert_string_equal(l3.users[0], "bob");

    res_t *all[] = {&c1, &c2, &g1, &u1, &g2, &l1, &l2, &d1, &g3, &l3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        assert_int_equal(all[i]->ncalls, 1);
        res_release(all[i]);
    }
    close_store(f, st);
}

/* Error statuses; a failing job does not disturb the jobs around it,
 * which are likely in the same group transaction. */
static void test_error_statuses(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    tn_account_t a, a_again, b, ghost;
    make_account(&a, "example.org", "alice", 1);
    make_account(&a_again, "example.org", "alice", 9);
    make_account(&b, "example.org", "bob", 2);
    make_account(&ghost, "example.org", "ghost", 3);

    res_t r[8] = {{0}};
    req_create(st, &a, &r[0]);
    req_create(st, &a_again, &r[1]);               /* TN_EEXIST */
    req_delete(st, "example.org", "ghost", &r[2]); /* TN_ENOTFOUND */
    req_update(st, &ghost, &r[3]);                 /* TN_ENOTFOUND */
    req_get(st, "example.org", "ghost", &r[4]);    /* TN_ENOTFOUND */
    req_get(st, "example.net", "alice", &r[5]);    /* other host */
    req_create(st, &b, &r[6]);
    req_get(st, "example.org", "alice", &r[7]);
    run(f);
    const int want[8] = {
        0, TN_EEXIST, TN_ENOTFOUND, TN_ENOTFOUND, TN_ENOTFOUND, TN_ENOTFOUND,
        0, 0};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].status, want[i]);
    }
    /* The failed create changed nothing. */
    assert_account_equal(&r[7].acct, &a);
    for (int i = 0; i < 8; i++)
        res_release(&r[i]);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM accounts"), 2);
}

static void test_invalid_arguments(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    tn_account_t a;
    res_t r = {0};
    make_account(&a, "example.org", "alice", 1);
    a.user = NULL;
    assert_int_equal(tn_store_account_create(st, &a, done_cb, &r), TN_EINVAL);
    a.user = "";
    assert_int_equal(tn_store_account_create(st, &a, done_cb, &r), TN_EINVAL);
    make_account(&a, "example.org", "alice", 1);
    a.sha1.salt_len = TN_SCRAM_MAX_SALT + 1;
    assert_int_equal(tn_store_account_update(st, &a, done_cb, &r), TN_EINVAL);
    assert_int_equal(tn_store_account_create(st, NULL, done_cb, &r), TN_EINVAL);
    assert_int_equal(tn_store_account_get(st, NULL, "a", get_cb, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_account_delete(st, "h", NULL, done_cb, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_account_list(st, "h", NULL, &r), TN_EINVAL);
    run(f);
    assert_int_equal(r.ncalls, 0); /* immediate failures never call back */
    close_store(f, st);
}

/* Salts of every interesting length, extreme iteration counts, keys with
 * NUL and 0xff bytes, and an absent credential all come back unchanged. */
static void test_credentials_byte_exact(void **state)
{
    fixture_t *f = *state;
    static const struct {
        size_t salt1, salt256;
        unsigned iter1, iter256;
    } cases[] = {
        {16, 16, 4096, 4096},
        {1, TN_SCRAM_MAX_SALT, 1, 0xffffffffu},
        {0, 32, 10000, 4096},            /* empty salt */
        {TN_SCRAM_MAX_SALT, 0, 4096, 0}, /* no SHA-256 credential */
        {0, 12, 0, 4096},                /* no SHA-1 credential */
    };
    enum { N = sizeof cases / sizeof *cases };
    tn_store_t *st = open_store(f);
    tn_account_t in[N];
    char names[N][16];
    res_t cr[N], gr[N];
    memset(cr, 0, sizeof cr);
    memset(gr, 0, sizeof gr);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "user%d", i);
        make_account(&in[i], "example.org", names[i], 0);
        make_cred(&in[i].sha1, TN_SCRAM_SHA1, i * 7, cases[i].salt1,
                  cases[i].iter1);
        make_cred(&in[i].sha256, TN_SCRAM_SHA256, i * 13 + 5, cases[i].salt256,
                  cases[i].iter256);
        /* Absent credentials are stored and read back as zeroes. */
        if (cases[i].iter1 == 0) {
            memset(&in[i].sha1, 0, sizeof in[i].sha1);
            in[i].sha1.hash = TN_SCRAM_SHA1;
        }
        if (cases[i].iter256 == 0) {
            memset(&in[i].sha256, 0, sizeof in[i].sha256);
            in[i].sha256.hash = TN_SCRAM_SHA256;
        }
        req_create(st, &in[i], &cr[i]);
    }
    run(f);
    /* Read back through a fresh connection, so nothing comes from a
     * cache. */
    close_store(f, st);
    st = open_store(f);
    for (int i = 0; i < N; i++)
        req_get(st, "example.org", names[i], &gr[i]);
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cr[i].status, 0);
        assert_int_equal(gr[i].status, 0);
        assert_account_equal(&gr[i].acct, &in[i]);
        res_release(&gr[i]);
    }
    close_store(f, st);
    /* No password-like column exists; the keys are stored as blobs of
     * the right size. */
    assert_int_equal(sql_int(f->path,
                             "SELECT count(*) FROM "
                             "pragma_table_info('accounts') WHERE name "
                             "LIKE '%pass%'"),
                     0);
    assert_int_equal(sql_int(f->path, "SELECT length(sha256_stored) FROM "
                                      "accounts WHERE user = 'user0'"),
                     32);
    assert_int_equal(sql_int(f->path, "SELECT length(sha1_server) FROM "
                                      "accounts WHERE user = 'user0'"),
                     20);
}

/* 1000 creates queued at once all succeed and are durable. */
static void test_many_creates_committed(void **state)
{
    fixture_t *f = *state;
    enum { N = 1000 };
    tn_store_t *st = open_store(f);
    res_t *r = tn_calloc(N, sizeof *r);
    char name[16];
    for (int i = 0; i < N; i++) {
        tn_account_t a;
        snprintf(name, sizeof name, "u%04d", N - 1 - i); /* reverse order */
        make_account(&a, "example.org", name, i);
        req_create(st, &a, &r[i]);
    }
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].status, 0);
        assert_int_equal(r[i].seq, i);
    }
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM accounts"), N);

    st = open_store(f);
    res_t l = {0};
    req_list(st, "example.org", &l);
    run(f);
    assert_int_equal(l.status, 0);
    assert_int_equal(l.nusers, N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "u%04d", i);
        assert_string_equal(l.users[i], name); /* sorted */
    }
    res_release(&l);
    tn_free(r);
    close_store(f, st);
}

/* Callbacks run in request order, across several loop iterations and
 * request kinds, never from inside the request. */
static void test_callback_order(void **state)
{
    fixture_t *f = *state;
    enum { N = 60 };
    tn_store_t *st = open_store(f);
    res_t r[N];
    memset(r, 0, sizeof r);
    char names[N][16];
    for (int i = 0; i < N; i++) {
        tn_account_t a;
        snprintf(names[i], sizeof names[i], "o%02d", i / 4);
        make_account(&a, "example.org", names[i], i);
        switch (i % 4) {
        case 0:
            req_create(st, &a, &r[i]);
            break;
        case 1:
            req_get(st, "example.org", names[i], &r[i]);
            break;
        case 2:
            req_update(st, &a, &r[i]);
            break;
        case 3:
            req_list(st, "example.org", &r[i]);
            break;
        }
        /* Now and then wait for the latest callback, so that the run is
         * split into several batches and loop iterations. */
        if (i % 7 == 0)
            while (r[i].ncalls == 0)
                uv_run(&f->loop, UV_RUN_ONCE);
    }
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].seq, i);
        assert_int_equal(r[i].status, 0);
        if (i % 4 == 1) /* each get sees the create queued before it */
            assert_string_equal(r[i].acct.user, names[i]);
        if (i % 4 == 3)
            assert_int_equal(r[i].nusers, (size_t)(i / 4 + 1));
        res_release(&r[i]);
    }
    close_store(f, st);
}

static void closed_get_cb(void *ud, int status, const tn_account_t *acct)
{
    res_t *r = ud;
    get_cb(ud, status, acct);
    /* The store is closing: new requests are refused. */
    res_t ignored = {0};
    r->inner_rc =
        tn_store_account_get(r->st, "example.org", "x", get_cb, &ignored);
}

/* Close with work pending runs every callback, in order, before it
 * returns, and refuses requests made from those callbacks. */
static void test_close_runs_pending(void **state)
{
    fixture_t *f = *state;
    enum { N = 200 };
    tn_store_t *st = open_store(f);
    res_t r[N];
    memset(r, 0, sizeof r);
    char name[16];
    for (int i = 0; i < N - 1; i++) {
        tn_account_t a;
        snprintf(name, sizeof name, "p%03d", i);
        make_account(&a, "example.org", name, i);
        req_create(st, &a, &r[i]);
    }
    r[N - 1].st = st;
    assert_int_equal(tn_store_account_get(st, "example.org", "p000",
                                          closed_get_cb, &r[N - 1]),
                     0);
    tn_store_close(st);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].status, 0);
        assert_int_equal(r[i].seq, i);
    }
    assert_int_equal(r[N - 1].inner_rc, TN_ECLOSED);
    res_release(&r[N - 1]);
    /* The loop frees the store; teardown checks that no handle is left. */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM accounts"), N - 1);
}

static void close_in_cb(void *ud, int status)
{
    res_t *r = ud;
    done_cb(ud, status);
    tn_store_close(r->st);
}

/* A callback may close the store; the callbacks queued after it still
 * run, once, in order. */
static void test_close_from_callback(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    res_t r[4];
    memset(r, 0, sizeof r);
    tn_account_t a;
    make_account(&a, "example.org", "c", 1);
    r[0].st = st;
    assert_int_equal(tn_store_account_create(st, &a, close_in_cb, &r[0]), 0);
    req_get(st, "example.org", "c", &r[1]);
    req_delete(st, "example.org", "c", &r[2]);
    req_get(st, "example.org", "c", &r[3]);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    const int want[4] = {0, 0, 0, TN_ENOTFOUND};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].seq, i);
        assert_int_equal(r[i].status, want[i]);
        res_release(&r[i]);
    }
}

/* Reopening keeps the data and the schema version, in WAL mode, in a
 * file only its owner can read. */
static void test_reopen_keeps_data(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    tn_account_t a;
    make_account(&a, "example.org", "keep", 5);
    res_t c = {0}, g = {0};
    req_create(st, &a, &c);
    run(f);
    assert_int_equal(c.status, 0);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);

    st = open_store(f);
    req_get(st, "example.org", "keep", &g);
    run(f);
    assert_int_equal(g.status, 0);
    assert_account_equal(&g.acct, &a);
    res_release(&g);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);

    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    struct stat sb;
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_open_errors(void **state)
{
    fixture_t *f = *state;
    char *err = NULL;

    char *missing = tn_sprintf("%s/nodir/tern.db", f->dir);
    assert_null(tn_store_open(&f->loop, "sqlite", missing, &err));
    char *want =
        tn_sprintf("cannot open %s: No such file or directory", missing);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);
    tn_free(missing);

    err = NULL;
    assert_null(tn_store_open(&f->loop, "oracle", f->path, &err));
    assert_string_equal(err, "unknown storage backend 'oracle'");
    tn_free(err);

    /* Not a database. */
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs("hosts: [example.org]\nthis is not sqlite, but long enough to "
          "fill a header of one hundred bytes........................\n",
          fp);
    fclose(fp);
    err = NULL;
    assert_null(tn_store_open(&f->loop, "sqlite", f->path, &err));
    want = tn_sprintf("cannot open %s: file is not a database", f->path);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);
    remove(f->path);

    /* A schema newer than this build is refused, not downgraded. */
    tn_store_close(open_store(f));
    run(f);
    sql_exec(f->path, "PRAGMA user_version = 99");
    err = NULL;
    assert_null(tn_store_open(&f->loop, "sqlite", f->path, &err));
    want = tn_sprintf("cannot open %s: schema version 99 is newer than this "
                      "build supports (1)",
                      f->path);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);

    /* err may be NULL. */
    assert_null(tn_store_open(&f->loop, "nope", f->path, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_statuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_arguments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_credentials_byte_exact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_creates_committed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_callback_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_runs_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
