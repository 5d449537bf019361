/* test_store.c -- unit tests for the asynchronous store (store/store.c and
 * the SQLite backend, store/sqlite.c) on a real libuv loop and a real file
 * in a throw-away directory under /tmp: account create/get/update/delete/
 * list and their error statuses, byte-exact credentials, group commit of
 * many queued writes, callback order and asynchrony, close with pending
 * work, reopening (data, user_version, WAL, file mode) and open errors;
 * maps (get/all/count/put/put_max/del, sorting, isolation, limits) and
 * queues (push/all/del/count, increasing ids, limits, batches), binary
 * values, the account delete cascade, commit-before-callback and the
 * migration of a version 1 file. */
#include <ftw.h>
#include <limits.h>
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

/* The schema version this build writes (PRAGMA user_version). */
#define SCHEMA_VERSION 2

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
    tn_store_t *st;         /* for callbacks that make requests themselves */
    int inner_rc;           /* what such a request returned */
    tn_store_item_t *items; /* deep copy of a map get/all result */
    size_t nitems;
    tn_store_entry_t *entries; /* deep copy of a queue all result */
    size_t nentries;
    size_t count;      /* count result */
    long long id;      /* push result */
    const char *path;  /* for callbacks that look at the file */
    long long visible; /* what such a callback saw */
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
    for (size_t i = 0; i < r->nitems; i++) {
        tn_free(r->items[i].key);
        tn_free(r->items[i].value);
    }
    tn_free(r->items);
    r->items = NULL;
    r->nitems = 0;
    for (size_t i = 0; i < r->nentries; i++)
        tn_free(r->entries[i].value);
    tn_free(r->entries);
    r->entries = NULL;
    r->nentries = 0;
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

/* Copies len bytes plus a NUL, checking that the store's copy has its
 * terminating NUL too. */
static char *bytes_dup(const char *v, size_t len)
{
    assert_non_null(v);
    assert_int_equal(v[len], '\0');
    char *c = tn_malloc(len + 1);
    memcpy(c, v, len + 1);
    return c;
}

static void items_cb(void *ud, int status, const tn_store_item_t *items,
                     size_t n)
{
    res_t *r = ud;
    res_record(r, status);
    if (n == 0)
        assert_null(items);
    if (status != 0)
        assert_int_equal(n, 0);
    r->nitems = n;
    r->items = n ? tn_calloc(n, sizeof *r->items) : NULL;
    for (size_t i = 0; i < n; i++) {
        r->items[i].key = tn_strdup(items[i].key);
        r->items[i].value = bytes_dup(items[i].value, items[i].len);
        r->items[i].len = items[i].len;
    }
}

static void entries_cb(void *ud, int status, const tn_store_entry_t *e,
                       size_t n)
{
    res_t *r = ud;
    res_record(r, status);
    if (n == 0)
        assert_null(e);
    if (status != 0)
        assert_int_equal(n, 0);
    r->nentries = n;
    r->entries = n ? tn_calloc(n, sizeof *r->entries) : NULL;
    for (size_t i = 0; i < n; i++) {
        r->entries[i].id = e[i].id;
        r->entries[i].value = bytes_dup(e[i].value, e[i].len);
        r->entries[i].len = e[i].len;
    }
}

static void count_cb(void *ud, int status, size_t n)
{
    res_t *r = ud;
    res_record(r, status);
    r->count = n;
}

static void id_cb(void *ud, int status, long long id)
{
    res_t *r = ud;
    res_record(r, status);
    r->id = id;
    if (status == 0)
        assert_true(id > 0);
    else
        assert_int_equal(id, 0);
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

static void req_put(tn_store_t *st, const char *h, const char *u, const char *m,
                    const char *k, const char *v, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_map_put(st, h, u, m, k, v, strlen(v), done_cb, r),
                     0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_put_max(tn_store_t *st, const char *h, const char *u,
                        const char *m, const char *k, const char *v, size_t max,
                        res_t *r)
{
    in_request = 1;
    assert_int_equal(
        tn_store_map_put_max(st, h, u, m, k, v, strlen(v), max, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_map_get(tn_store_t *st, const char *h, const char *u,
                        const char *m, const char *k, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_map_get(st, h, u, m, k, items_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_map_all(tn_store_t *st, const char *h, const char *u,
                        const char *m, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_map_all(st, h, u, m, items_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_map_count(tn_store_t *st, const char *h, const char *u,
                          const char *m, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_map_count(st, h, u, m, count_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_map_del(tn_store_t *st, const char *h, const char *u,
                        const char *m, const char *k, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_map_del(st, h, u, m, k, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_push(tn_store_t *st, const char *h, const char *u,
                     const char *q, const void *v, size_t len, size_t max,
                     res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_queue_push(st, h, u, q, v, len, max, id_cb, r),
                     0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_queue_all(tn_store_t *st, const char *h, const char *u,
                          const char *q, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_queue_all(st, h, u, q, entries_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_queue_del(tn_store_t *st, const char *h, const char *u,
                          const char *q, long long upto, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_queue_del(st, h, u, q, upto, done_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

static void req_queue_count(tn_store_t *st, const char *h, const char *u,
                            const char *q, res_t *r)
{
    in_request = 1;
    assert_int_equal(tn_store_queue_count(st, h, u, q, count_cb, r), 0);
    in_request = 0;
    assert_int_equal(r->ncalls, 0);
}

/* Checks that item i of r is key k with the string value v. */
static void assert_item(const res_t *r, size_t i, const char *k, const char *v)
{
    assert_true(i < r->nitems);
    assert_string_equal(r->items[i].key, k);
    assert_int_equal(r->items[i].len, strlen(v));
    assert_memory_equal(r->items[i].value, v, strlen(v) + 1);
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
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), SCHEMA_VERSION);

    st = open_store(f);
    req_get(st, "example.org", "keep", &g);
    run(f);
    assert_int_equal(g.status, 0);
    assert_account_equal(&g.acct, &a);
    res_release(&g);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), SCHEMA_VERSION);

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
                      "build supports (%d)",
                      f->path, SCHEMA_VERSION);
    assert_string_equal(err, want);
    tn_free(want);
    tn_free(err);

    /* err may be NULL. */
    assert_null(tn_store_open(&f->loop, "nope", f->path, NULL));
}

/* ---- maps -------------------------------------------------------------- */

#define H "example.org"

/* Put, get, all, count, replace, delete of one key and of the whole map;
 * reads see the writes queued before them in the same batch. */
static void test_map_crud(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    res_t p[3] = {{0}}, g1 = {0}, g2 = {0}, a1 = {0}, c1 = {0};
    req_put(st, H, "alice", "roster", "carol@x", "C", &p[0]);
    req_put(st, H, "alice", "roster", "bob@x", "B", &p[1]);
    req_put(st, H, "alice", "roster", "dave@x", "D", &p[2]);
    req_map_get(st, H, "alice", "roster", "bob@x", &g1);
    req_map_get(st, H, "alice", "roster", "nobody@x", &g2);
    req_map_all(st, H, "alice", "roster", &a1);
    req_map_count(st, H, "alice", "roster", &c1);
    run(f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].ncalls, 1);
        assert_int_equal(p[i].status, 0);
    }
    assert_int_equal(g1.ncalls, 1);
    assert_int_equal(g1.status, 0);
    assert_int_equal(g1.nitems, 1);
    assert_item(&g1, 0, "bob@x", "B");
    assert_int_equal(g2.ncalls, 1);
    assert_int_equal(g2.status, TN_ENOTFOUND);
    assert_int_equal(g2.nitems, 0);
    assert_int_equal(a1.status, 0);
    assert_int_equal(a1.nitems, 3);
    assert_item(&a1, 0, "bob@x", "B");
    assert_item(&a1, 1, "carol@x", "C");
    assert_item(&a1, 2, "dave@x", "D");
    assert_int_equal(c1.status, 0);
    assert_int_equal(c1.count, 3);

    /* Replace, then delete one key twice, then the whole map twice. */
    res_t r = {0}, g3 = {0}, c2 = {0}, d1 = {0}, d2 = {0}, a2 = {0};
    res_t d3 = {0}, d4 = {0}, a3 = {0}, c3 = {0}, g4 = {0};
    req_put(st, H, "alice", "roster", "bob@x", "B, longer now", &r);
    req_map_get(st, H, "alice", "roster", "bob@x", &g3);
    req_map_count(st, H, "alice", "roster", &c2);
    req_map_del(st, H, "alice", "roster", "carol@x", &d1);
    req_map_del(st, H, "alice", "roster", "carol@x", &d2);
    req_map_all(st, H, "alice", "roster", &a2);
    req_map_del(st, H, "alice", "roster", NULL, &d3);
    req_map_del(st, H, "alice", "roster", NULL, &d4);
    req_map_all(st, H, "alice", "roster", &a3);
    req_map_count(st, H, "alice", "roster", &c3);
    req_map_get(st, H, "alice", "roster", "bob@x", &g4);
    run(f);
    assert_int_equal(r.status, 0);
    assert_int_equal(g3.status, 0);
    assert_item(&g3, 0, "bob@x", "B, longer now");
    assert_int_equal(c2.count, 3); /* replaced, not added */
    assert_int_equal(d1.status, 0);
    assert_int_equal(d2.status, TN_ENOTFOUND);
    assert_int_equal(a2.nitems, 2);
    assert_item(&a2, 0, "bob@x", "B, longer now");
    assert_item(&a2, 1, "dave@x", "D");
    assert_int_equal(d3.status, 0);
    assert_int_equal(d4.status, 0); /* an empty map deletes fine */
    assert_int_equal(a3.status, 0);
    assert_int_equal(a3.nitems, 0);
    assert_int_equal(c3.status, 0);
    assert_int_equal(c3.count, 0);
    assert_int_equal(g4.status, TN_ENOTFOUND);

    res_t *all[] = {&p[0], &p[1], &p[2], &g1, &g2, &a1, &c1, &r,  &g3,
                    &c2,   &d1,   &d2,   &a2, &d3, &d4, &a3, &c3, &g4};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        assert_int_equal(all[i]->ncalls, 1);
        res_release(all[i]);
    }
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM map_items"), 0);
}

/* Keys come back in byte order, not in insertion or locale order. */
static void test_map_sorted_by_bytes(void **state)
{
    fixture_t *f = *state;
    static const char *const sorted[] = {
        "",
        "A",
        "B",
        "Z",
        "a",
        "a b",
        "ab",
        "a\x7f",
        "b",
        "z",
        "\xc3\x89",     /* E with acute */
        "\xc3\xa9",     /* e with acute */
        "\xe2\x82\xac", /* euro sign */
    };
    enum { N = sizeof sorted / sizeof *sorted };
    static const int order[N] = {7, 3, 12, 0, 9, 1, 11, 5, 2, 10, 4, 8, 6};
    tn_store_t *st = open_store(f);
    res_t p[N], a = {0};
    memset(p, 0, sizeof p);
    for (int i = 0; i < N; i++)
        req_put(st, H, "u", "m", sorted[order[i]], sorted[order[i]], &p[i]);
    req_map_all(st, H, "u", "m", &a);
    run(f);
    for (int i = 0; i < N; i++)
        assert_int_equal(p[i].status, 0);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.nitems, N);
    for (int i = 0; i < N; i++)
        assert_item(&a, (size_t)i, sorted[i], sorted[i]);
    res_release(&a);
    close_store(f, st);
}

/* The same map and key under another host, user or map name are other
 * data, and deleting one map leaves the others. */
static void test_map_isolation(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *host, *user, *map, *value;
    } owners[] = {
        {"example.org", "alice", "roster", "1"},
        {"example.org", "alice", "private", "2"},
        {"example.org", "bob", "roster", "3"},
        {"example.net", "alice", "roster", "4"},
        {"example.org", "alice@", "roster", "5"}, /* no prefix confusion */
    };
    enum { N = sizeof owners / sizeof *owners };
    tn_store_t *st = open_store(f);
    res_t p[N], g[N], c[N], d = {0};
    memset(p, 0, sizeof p);
    memset(g, 0, sizeof g);
    memset(c, 0, sizeof c);
    for (int i = 0; i < N; i++)
        req_put(st, owners[i].host, owners[i].user, owners[i].map, "k",
                owners[i].value, &p[i]);
    for (int i = 0; i < N; i++)
        req_map_get(st, owners[i].host, owners[i].user, owners[i].map, "k",
                    &g[i]);
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(p[i].status, 0);
        assert_int_equal(g[i].status, 0);
        assert_item(&g[i], 0, "k", owners[i].value);
        res_release(&g[i]);
        memset(&g[i], 0, sizeof g[i]);
    }
    req_map_del(st, "example.org", "alice", "roster", NULL, &d);
    for (int i = 0; i < N; i++) {
        req_map_get(st, owners[i].host, owners[i].user, owners[i].map, "k",
                    &g[i]);
        req_map_count(st, owners[i].host, owners[i].user, owners[i].map, &c[i]);
    }
    run(f);
    assert_int_equal(d.status, 0);
    assert_int_equal(g[0].status, TN_ENOTFOUND);
    assert_int_equal(c[0].count, 0);
    for (int i = 1; i < N; i++) {
        assert_int_equal(g[i].status, 0);
        assert_item(&g[i], 0, "k", owners[i].value);
        assert_int_equal(c[i].count, 1);
        res_release(&g[i]);
    }
    close_store(f, st);
}

/* put_max refuses a new key at the limit, accepts a replacement there, and
 * counts the writes queued in the same batch (no race). */
static void test_map_put_max(void **state)
{
    fixture_t *f = *state;
    enum { N = 10, MAX = 4 };
    tn_store_t *st = open_store(f);
    res_t p[N], rep = {0}, over = {0}, nolimit = {0}, a = {0}, c = {0};
    memset(p, 0, sizeof p);
    char key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        req_put_max(st, H, "u", "roster", key, key, MAX, &p[i]);
    }
    req_put_max(st, H, "u", "roster", "k1", "replaced", MAX, &rep);
    req_put_max(st, H, "u", "roster", "k9", "still no", MAX, &over);
    req_put_max(st, H, "u", "other", "k9", "other map", MAX, &nolimit);
    req_map_all(st, H, "u", "roster", &a);
    req_map_count(st, H, "u", "roster", &c);
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(p[i].ncalls, 1);
        assert_int_equal(p[i].seq, i);
        assert_int_equal(p[i].status, i < MAX ? 0 : TN_ELIMIT);
    }
    assert_int_equal(rep.status, 0);
    assert_int_equal(over.status, TN_ELIMIT);
    assert_int_equal(nolimit.status, 0);
    assert_int_equal(c.count, MAX);
    assert_int_equal(a.nitems, MAX);
    assert_item(&a, 0, "k0", "k0");
    assert_item(&a, 1, "k1", "replaced");
    assert_item(&a, 2, "k2", "k2");
    assert_item(&a, 3, "k3", "k3");
    res_release(&a);

    /* max 0 is no limit, and after a delete there is room again. */
    res_t p0 = {0}, d = {0}, p1 = {0}, p2 = {0}, c2 = {0};
    req_put_max(st, H, "u", "roster", "k7", "v", 0, &p0);
    req_map_del(st, H, "u", "roster", "k0", &d);
    req_put_max(st, H, "u", "roster", "k8", "v", MAX + 1, &p1);
    req_put_max(st, H, "u", "roster", "k9", "v", MAX + 1, &p2);
    req_map_count(st, H, "u", "roster", &c2);
    run(f);
    assert_int_equal(p0.status, 0);
    assert_int_equal(d.status, 0);
    assert_int_equal(p1.status, 0);
    assert_int_equal(p2.status, TN_ELIMIT);
    assert_int_equal(c2.count, MAX + 1);
    close_store(f, st);
}

/* ---- queues ------------------------------------------------------------ */

static void test_queue_crud(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    static const char *const vals[] = {
        "<message>1</message>", "<message>2</message>", "<message>3</message>"};
    res_t p[3] = {{0}}, other = {0}, a = {0}, c = {0};
    for (int i = 0; i < 3; i++)
        req_push(st, H, "alice", "offline", vals[i], strlen(vals[i]), 0, &p[i]);
    req_push(st, H, "bob", "offline", "bob's", 5, 0, &other);
    req_queue_all(st, H, "alice", "offline", &a);
    req_queue_count(st, H, "alice", "offline", &c);
    run(f);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].ncalls, 1);
        assert_int_equal(p[i].status, 0);
        if (i)
            assert_true(p[i].id > p[i - 1].id);
    }
    assert_int_equal(other.status, 0);
    assert_true(other.id > p[2].id);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.nentries, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(a.entries[i].id, p[i].id);
        assert_int_equal(a.entries[i].len, strlen(vals[i]));
        assert_string_equal(a.entries[i].value, vals[i]);
    }
    assert_int_equal(c.count, 3);
    res_release(&a);

    /* Delete up to the second id; a repeated or too-low delete is fine. */
    res_t d1 = {0}, d2 = {0}, d3 = {0}, a2 = {0}, c2 = {0}, ob = {0};
    res_t oq = {0};
    req_queue_del(st, H, "alice", "offline", p[1].id, &d1);
    req_queue_del(st, H, "alice", "offline", p[1].id, &d2);
    req_queue_del(st, H, "alice", "offline", 0, &d3);
    req_queue_all(st, H, "alice", "offline", &a2);
    req_queue_count(st, H, "alice", "offline", &c2);
    req_queue_count(st, H, "bob", "offline", &ob);
    req_queue_count(st, H, "alice", "other", &oq);
    run(f);
    assert_int_equal(d1.status, 0);
    assert_int_equal(d2.status, 0);
    assert_int_equal(d3.status, 0);
    assert_int_equal(a2.nentries, 1);
    assert_int_equal(a2.entries[0].id, p[2].id);
    assert_string_equal(a2.entries[0].value, vals[2]);
    assert_int_equal(c2.count, 1);
    assert_int_equal(ob.count, 1); /* bob's queue untouched */
    assert_int_equal(oq.status, 0);
    assert_int_equal(oq.count, 0);
    res_release(&a2);

    /* Emptied completely, the queue still never reuses an id. */
    res_t d4 = {0}, a3 = {0}, p4 = {0};
    req_queue_del(st, H, "alice", "offline", LLONG_MAX, &d4);
    req_queue_all(st, H, "alice", "offline", &a3);
    run(f);
    assert_int_equal(d4.status, 0);
    assert_int_equal(a3.status, 0);
    assert_int_equal(a3.nentries, 0);
    res_release(&a3);
    close_store(f, st);
    st = open_store(f);
    req_push(st, H, "alice", "offline", "x", 1, 0, &p4);
    run(f);
    assert_int_equal(p4.status, 0);
    assert_true(p4.id > other.id);
    close_store(f, st);
}

static void test_queue_max(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    res_t p[5] = {{0}}, o = {0}, c = {0};
    for (int i = 0; i < 5; i++)
        req_push(st, H, "u", "offline", "m", 1, 3, &p[i]);
    req_push(st, H, "u", "offline2", "m", 1, 3, &o); /* another queue */
    req_queue_count(st, H, "u", "offline", &c);
    run(f);
    for (int i = 0; i < 5; i++)
        assert_int_equal(p[i].status, i < 3 ? 0 : TN_ELIMIT);
    assert_int_equal(p[3].id, 0);
    assert_int_equal(o.status, 0);
    assert_int_equal(c.count, 3);

    res_t d = {0}, q1 = {0}, q2 = {0}, q3 = {0};
    req_queue_del(st, H, "u", "offline", p[0].id, &d);
    req_push(st, H, "u", "offline", "n", 1, 3, &q1);
    req_push(st, H, "u", "offline", "n", 1, 3, &q2);
    req_push(st, H, "u", "offline", "n", 1, 0, &q3); /* no limit */
    run(f);
    assert_int_equal(d.status, 0);
    assert_int_equal(q1.status, 0);
    assert_true(q1.id > p[2].id);
    assert_int_equal(q2.status, TN_ELIMIT);
    assert_int_equal(q3.status, 0);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM queue_entries "
                                      "WHERE queue = 'offline'"),
                     4);
}

/* 1000 pushes queued at once: one batch, all committed, in order. */
static void test_queue_many_pushes(void **state)
{
    fixture_t *f = *state;
    enum { N = 1000 };
    tn_store_t *st = open_store(f);
    res_t *r = tn_calloc(N, sizeof *r);
    char v[32];
    for (int i = 0; i < N; i++) {
        snprintf(v, sizeof v, "message %d", i);
        req_push(st, H, "u", "offline", v, strlen(v), N, &r[i]);
    }
    res_t over = {0};
    req_push(st, H, "u", "offline", "one too many", 12, N, &over);
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].ncalls, 1);
        assert_int_equal(r[i].status, 0);
        assert_int_equal(r[i].seq, i);
        if (i)
            assert_true(r[i].id > r[i - 1].id);
    }
    assert_int_equal(over.status, TN_ELIMIT);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM queue_entries"), N);

    st = open_store(f);
    res_t a = {0};
    req_queue_all(st, H, "u", "offline", &a);
    run(f);
    assert_int_equal(a.status, 0);
    assert_int_equal(a.nentries, N);
    for (int i = 0; i < N; i++) {
        snprintf(v, sizeof v, "message %d", i);
        assert_int_equal(a.entries[i].id, r[i].id);
        assert_string_equal(a.entries[i].value, v);
    }
    res_release(&a);
    tn_free(r);
    close_store(f, st);
}

/* In a write's callback the row is already visible to another connection:
 * the callback runs after COMMIT. */
static void committed_cb(void *ud, int status, long long id)
{
    res_t *r = ud;
    id_cb(ud, status, id);
    char *sql =
        tn_sprintf("SELECT count(*) FROM queue_entries WHERE id = %lld", id);
    r->visible = sql_int(r->path, sql);
    tn_free(sql);
}

static void committed_done_cb(void *ud, int status)
{
    res_t *r = ud;
    done_cb(ud, status);
    r->visible = sql_int(r->path, "SELECT count(*) FROM map_items "
                                  "WHERE key = 'durable'");
}

static void test_callback_after_commit(void **state)
{
    fixture_t *f = *state;
    enum { N = 20 };
    tn_store_t *st = open_store(f);
    res_t r[N], m = {0};
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        r[i].path = f->path;
        assert_int_equal(tn_store_queue_push(st, H, "u", "offline", "x", 1, 0,
                                             committed_cb, &r[i]),
                         0);
    }
    m.path = f->path;
    assert_int_equal(tn_store_map_put(st, H, "u", "m", "durable", "v", 1,
                                      committed_done_cb, &m),
                     0);
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].status, 0);
        assert_int_equal(r[i].visible, 1);
    }
    assert_int_equal(m.status, 0);
    assert_int_equal(m.visible, 1);
    close_store(f, st);
}

/* Values are bytes: NULs, 0xff and empty values round-trip exactly, also
 * through a fresh connection, and are stored as blobs, never as NULL. */
static void test_binary_values(void **state)
{
    fixture_t *f = *state;
    static const struct {
        const char *bytes;
        size_t len;
    } vals[] = {
        {"\0", 1}, {"a\0b\0\0c", 6}, {"\xff\xfe\0\x01", 4}, {"", 0}, {NULL, 0},
    };
    enum { N = sizeof vals / sizeof *vals };
    tn_store_t *st = open_store(f);
    res_t p[N], q[N];
    memset(p, 0, sizeof p);
    memset(q, 0, sizeof q);
    char key[8];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", i);
        in_request = 1;
        assert_int_equal(tn_store_map_put(st, H, "u", "bin", key, vals[i].bytes,
                                          vals[i].len, done_cb, &p[i]),
                         0);
        in_request = 0;
        req_push(st, H, "u", "bin", vals[i].bytes, vals[i].len, 0, &q[i]);
    }
    run(f);
    for (int i = 0; i < N; i++) {
        assert_int_equal(p[i].status, 0);
        assert_int_equal(q[i].status, 0);
    }
    close_store(f, st);

    st = open_store(f);
    res_t a = {0}, e = {0}, g = {0};
    req_map_all(st, H, "u", "bin", &a);
    req_queue_all(st, H, "u", "bin", &e);
    req_map_get(st, H, "u", "bin", "k1", &g);
    run(f);
    assert_int_equal(a.nitems, N);
    assert_int_equal(e.nentries, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(a.items[i].len, vals[i].len);
        assert_int_equal(e.entries[i].len, vals[i].len);
        if (vals[i].len) {
            assert_memory_equal(a.items[i].value, vals[i].bytes, vals[i].len);
            assert_memory_equal(e.entries[i].value, vals[i].bytes, vals[i].len);
        }
    }
    assert_int_equal(g.nitems, 1);
    assert_int_equal(g.items[0].len, 6);
    assert_memory_equal(g.items[0].value, "a\0b\0\0c", 7);
    res_release(&a);
    res_release(&e);
    res_release(&g);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM map_items WHERE "
                                      "typeof(value) = 'blob'"),
                     N);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM queue_entries "
                                      "WHERE typeof(value) = 'blob'"),
                     N);
}

/* Deleting an account deletes its maps and queues in the same job; a
 * re-created account starts empty, even if a stray write left rows for a
 * user that had no account. */
static void test_account_delete_cascade(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    tn_account_t alice, bob, carol;
    make_account(&alice, H, "alice", 1);
    make_account(&bob, H, "bob", 2);
    make_account(&carol, H, "carol", 3);
    res_t w[12];
    memset(w, 0, sizeof w);
    req_create(st, &alice, &w[0]);
    req_create(st, &bob, &w[1]);
    req_put(st, H, "alice", "roster", "a", "1", &w[2]);
    req_put(st, H, "alice", "vcard", "", "2", &w[3]);
    req_push(st, H, "alice", "offline", "3", 1, 0, &w[4]);
    req_put(st, H, "bob", "roster", "a", "4", &w[5]);
    req_push(st, H, "bob", "offline", "5", 1, 0, &w[6]);
    req_put(st, "example.net", "alice", "roster", "a", "6", &w[7]);
    req_put(st, H, "carol", "roster", "stray", "7", &w[8]); /* no account */
    req_delete(st, H, "alice", &w[9]);
    req_delete(st, H, "alice", &w[10]); /* TN_ENOTFOUND */
    req_create(st, &carol, &w[11]);
    res_t c[6];
    memset(c, 0, sizeof c);
    req_map_count(st, H, "alice", "roster", &c[0]);
    req_map_count(st, H, "alice", "vcard", &c[1]);
    req_queue_count(st, H, "alice", "offline", &c[2]);
    req_map_count(st, H, "bob", "roster", &c[3]);
    req_queue_count(st, H, "bob", "offline", &c[4]);
    req_map_count(st, H, "carol", "roster", &c[5]);
    run(f);
    for (int i = 0; i < 12; i++)
        assert_int_equal(w[i].status, i == 10 ? TN_ENOTFOUND : 0);
    const size_t want[6] = {0, 0, 0, 1, 1, 0};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(c[i].status, 0);
        assert_int_equal(c[i].count, want[i]);
    }

    /* Re-created, alice starts empty. */
    res_t cr = {0}, a1 = {0}, a2 = {0};
    req_create(st, &alice, &cr);
    req_map_all(st, H, "alice", "roster", &a1);
    req_queue_all(st, H, "alice", "offline", &a2);
    run(f);
    assert_int_equal(cr.status, 0);
    assert_int_equal(a1.nitems, 0);
    assert_int_equal(a2.nentries, 0);
    res_release(&a1);
    res_release(&a2);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM map_items WHERE "
                                      "host = 'example.org' AND user IN "
                                      "('alice', 'carol')"),
                     0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM queue_entries "
                                      "WHERE user = 'alice'"),
                     0);
    /* The other host's alice is someone else. */
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM map_items WHERE "
                                      "host = 'example.net'"),
                     1);
}

/* The version 1 schema, as migration 1 created it. */
static const char v1_schema[] =
    "CREATE TABLE accounts ("
    " host TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " sha1_salt BLOB, sha1_iter INTEGER, sha1_stored BLOB,"
    " sha1_server BLOB,"
    " sha256_salt BLOB, sha256_iter INTEGER, sha256_stored BLOB,"
    " sha256_server BLOB,"
    " created INTEGER NOT NULL,"
    " PRIMARY KEY (host, user)"
    ") WITHOUT ROWID;"
    "INSERT INTO accounts VALUES ('example.org', 'old', NULL, NULL, NULL,"
    " NULL, X'0102', 4096, zeroblob(32), zeroblob(32), 1700000000);"
    "PRAGMA user_version = 1;";

static void test_migrate_from_v1(void **state)
{
    fixture_t *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);

    tn_store_t *st = open_store(f);
    res_t g = {0}, p = {0}, q = {0}, a = {0};
    req_get(st, H, "old", &g);
    req_put(st, H, "old", "roster", "k", "v", &p);
    req_push(st, H, "old", "offline", "m", 1, 0, &q);
    req_map_all(st, H, "old", "roster", &a);
    run(f);
    assert_int_equal(g.status, 0);
    assert_int_equal(g.acct.sha1.iterations, 0);
    assert_int_equal(g.acct.sha256.iterations, 4096);
    assert_int_equal(g.acct.sha256.salt_len, 2);
    assert_int_equal(g.acct.sha256.salt[1], 0x02);
    assert_int_equal(p.status, 0);
    assert_int_equal(q.status, 0);
    assert_int_equal(a.nitems, 1);
    assert_item(&a, 0, "k", "v");
    res_release(&g);
    res_release(&a);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master "
                                      "WHERE name IN ('map_items', "
                                      "'queue_entries', "
                                      "'queue_entries_owner')"),
                     3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM accounts"), 1);

    /* Opening again does not migrate again. */
    st = open_store(f);
    close_store(f, st);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM map_items"), 1);
}

static void test_map_queue_invalid_arguments(void **state)
{
    fixture_t *f = *state;
    tn_store_t *st = open_store(f);
    res_t r = {0};
    /* Each owner triple with one part missing or empty. */
    static const char *const bad[][3] = {
        {NULL, "u", "m"}, {"", "u", "m"}, {H, NULL, "m"},
        {H, "", "m"},     {H, "u", NULL}, {H, "u", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *h = bad[i][0], *u = bad[i][1], *m = bad[i][2];
        assert_int_equal(tn_store_map_get(st, h, u, m, "k", items_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_map_all(st, h, u, m, items_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_map_count(st, h, u, m, count_cb, &r),
                         TN_EINVAL);
        assert_int_equal(
            tn_store_map_put(st, h, u, m, "k", "v", 1, done_cb, &r), TN_EINVAL);
        assert_int_equal(
            tn_store_map_put_max(st, h, u, m, "k", "v", 1, 5, done_cb, &r),
            TN_EINVAL);
        assert_int_equal(tn_store_map_del(st, h, u, m, "k", done_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_map_del(st, h, u, m, NULL, done_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_queue_push(st, h, u, m, "v", 1, 0, id_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_queue_all(st, h, u, m, entries_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_queue_del(st, h, u, m, 1, done_cb, &r),
                         TN_EINVAL);
        assert_int_equal(tn_store_queue_count(st, h, u, m, count_cb, &r),
                         TN_EINVAL);
    }
    /* Missing key, value, callback or store. */
    assert_int_equal(tn_store_map_get(st, H, "u", "m", NULL, items_cb, &r),
                     TN_EINVAL);
    assert_int_equal(
        tn_store_map_put(st, H, "u", "m", NULL, "v", 1, done_cb, &r),
        TN_EINVAL);
    assert_int_equal(
        tn_store_map_put(st, H, "u", "m", "k", NULL, 1, done_cb, &r),
        TN_EINVAL);
    assert_int_equal(tn_store_map_put(st, H, "u", "m", "k", "v",
                                      (size_t)INT_MAX + 1, done_cb, &r),
                     TN_EINVAL);
    assert_int_equal(
        tn_store_queue_push(st, H, "u", "q", NULL, 3, 0, id_cb, &r), TN_EINVAL);
    assert_int_equal(tn_store_map_get(st, H, "u", "m", "k", NULL, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_map_put(st, H, "u", "m", "k", "v", 1, NULL, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_map_count(st, H, "u", "m", NULL, &r), TN_EINVAL);
    assert_int_equal(tn_store_queue_push(st, H, "u", "q", "v", 1, 0, NULL, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_queue_all(st, H, "u", "q", NULL, &r), TN_EINVAL);
    assert_int_equal(tn_store_queue_del(st, H, "u", "q", 1, NULL, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_map_all(NULL, H, "u", "m", items_cb, &r),
                     TN_EINVAL);
    assert_int_equal(tn_store_queue_count(NULL, H, "u", "q", count_cb, &r),
                     TN_EINVAL);
    run(f);
    assert_int_equal(r.ncalls, 0); /* immediate failures never call back */

    /* After close: TN_ECLOSED, no callback. */
    tn_store_close(st);
    assert_int_equal(
        tn_store_map_put(st, H, "u", "m", "k", "v", 1, done_cb, &r),
        TN_ECLOSED);
    assert_int_equal(tn_store_queue_push(st, H, "u", "q", "v", 1, 0, id_cb, &r),
                     TN_ECLOSED);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.ncalls, 0);
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
        cmocka_unit_test_setup_teardown(test_map_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_sorted_by_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_map_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_put_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_crud, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_many_pushes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_callback_after_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_binary_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_delete_cascade, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_queue_invalid_arguments, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
