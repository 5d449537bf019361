/* sqlite.c -- the SQLite backend of the store (the default: one file, no
 * server to run). store.c runs it on the storage thread and wraps the
 * writes of a batch in one transaction; this file knows the SQL.
 *
 * The file is opened in WAL mode with synchronous=NORMAL (a commit is
 * durable once the WAL is synced at checkpoint; a power cut may lose the
 * last commits but never corrupts), busy_timeout 5000 ms because ternctl
 * and ternd share it, and foreign keys on. A new file is created mode 0600
 * (SQLite gives the -wal and -shm files the same mode): it holds
 * credentials. The schema version is PRAGMA user_version; the migrations
 * below are applied forward in one transaction at open, and a file from a
 * newer build is refused. Statements are prepared once per connection and
 * take bound parameters only. Passwords are never stored: accounts hold
 * SCRAM salts, iteration counts, StoredKey and ServerKey (RFC 5802 3).
 * Maps live in map_items and queues in queue_entries (migration 2); the
 * account delete and create jobs clear both for their user. A committed
 * transaction is in the WAL, i.e. handed to the kernel, so it survives a
 * crash of the process even before the next sync. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

/* Migration i takes the schema from version i to i + 1. Append only: a
 * released entry never changes. */
static const char *const sqlite_migrations[] = {
    /* 1: accounts. A hash's four columns are all NULL when the account
     * has no credential for that hash. */
    "CREATE TABLE accounts ("
    " host TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " sha1_salt BLOB, sha1_iter INTEGER, sha1_stored BLOB,"
    " sha1_server BLOB,"
    " sha256_salt BLOB, sha256_iter INTEGER, sha256_stored BLOB,"
    " sha256_server BLOB,"
    " created INTEGER NOT NULL," /* seconds since the epoch */
    " PRIMARY KEY (host, user)"
    ") WITHOUT ROWID;",
    /* 2: per-account maps and queues (store.h). Keys are TEXT compared
     * with BINARY collation, i.e. byte order. AUTOINCREMENT keeps queue
     * ids from ever being reused, so a late "delete up to id" can never
     * hit a newer entry. No foreign key to accounts: account delete
     * removes the rows itself, and account create clears any that a
     * racing write left behind. */
    "CREATE TABLE map_items ("
    " host TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " map TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value BLOB NOT NULL,"
    " PRIMARY KEY (host, user, map, key)"
    ") WITHOUT ROWID;"
    "CREATE TABLE queue_entries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " host TEXT NOT NULL,"
    " user TEXT NOT NULL,"
    " queue TEXT NOT NULL,"
    " value BLOB NOT NULL"
    ");"
    "CREATE INDEX queue_entries_owner"
    " ON queue_entries (host, user, queue, id);",
};
#define SQLITE_SCHEMA_VERSION                                                  \
    ((int)(sizeof sqlite_migrations / sizeof *sqlite_migrations))

enum {
    SQL_BEGIN,
    SQL_COMMIT,
    SQL_ROLLBACK,
    SQL_SAVEPOINT,
    SQL_RELEASE,
    SQL_ROLLBACK_TO,
    SQL_ACCT_GET,
    SQL_ACCT_INSERT,
    SQL_ACCT_UPDATE,
    SQL_ACCT_DELETE,
    SQL_ACCT_LIST,
    SQL_ACCT_DROP_MAPS,
    SQL_ACCT_DROP_QUEUES,
    SQL_MAP_GET,
    SQL_MAP_HAS,
    SQL_MAP_ALL,
    SQL_MAP_COUNT,
    SQL_MAP_PUT,
    SQL_MAP_DEL,
    SQL_MAP_CLEAR,
    SQL_QUEUE_PUSH,
    SQL_QUEUE_ALL,
    SQL_QUEUE_DEL,
    SQL_QUEUE_COUNT,
    SQL_COUNT
};

/* SQL reads better laid out as SQL. */
/* clang-format off */
#define SQLITE_CRED_COLS(p) \
    p "_salt, " p "_iter, " p "_stored, " p "_server"

static const char *const sqlite_sql[SQL_COUNT] = {
    [SQL_BEGIN] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_SAVEPOINT] = "SAVEPOINT tn_job",
    [SQL_RELEASE] = "RELEASE tn_job",
    [SQL_ROLLBACK_TO] = "ROLLBACK TO tn_job",
    [SQL_ACCT_GET] = "SELECT " SQLITE_CRED_COLS("sha1") ", "
                     SQLITE_CRED_COLS("sha256")
                     " FROM accounts WHERE host = ?1 AND user = ?2",
    [SQL_ACCT_INSERT] = "INSERT INTO accounts (host, user, "
                        SQLITE_CRED_COLS("sha1") ", "
                        SQLITE_CRED_COLS("sha256") ", created)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                        " ?11) ON CONFLICT DO NOTHING",
    [SQL_ACCT_UPDATE] = "UPDATE accounts SET sha1_salt = ?3, sha1_iter = ?4,"
                        " sha1_stored = ?5, sha1_server = ?6,"
                        " sha256_salt = ?7, sha256_iter = ?8,"
                        " sha256_stored = ?9, sha256_server = ?10"
                        " WHERE host = ?1 AND user = ?2",
    [SQL_ACCT_DELETE] = "DELETE FROM accounts WHERE host = ?1 AND user = ?2",
    [SQL_ACCT_LIST] = "SELECT user FROM accounts WHERE host = ?1"
                      " ORDER BY user",
    [SQL_ACCT_DROP_MAPS] = "DELETE FROM map_items"
                           " WHERE host = ?1 AND user = ?2",
    [SQL_ACCT_DROP_QUEUES] = "DELETE FROM queue_entries"
                             " WHERE host = ?1 AND user = ?2",
    [SQL_MAP_GET] = "SELECT key, value FROM map_items"
                    " WHERE host = ?1 AND user = ?2 AND map = ?3"
                    " AND key = ?4",
    [SQL_MAP_HAS] = "SELECT 1 FROM map_items"
                    " WHERE host = ?1 AND user = ?2 AND map = ?3"
                    " AND key = ?4",
    [SQL_MAP_ALL] = "SELECT key, value FROM map_items"
                    " WHERE host = ?1 AND user = ?2 AND map = ?3"
                    " ORDER BY key",
    [SQL_MAP_COUNT] = "SELECT count(*) FROM map_items"
                      " WHERE host = ?1 AND user = ?2 AND map = ?3",
    [SQL_MAP_PUT] = "INSERT INTO map_items (host, user, map, key, value)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT (host, user, map, key)"
                    " DO UPDATE SET value = excluded.value",
    [SQL_MAP_DEL] = "DELETE FROM map_items"
                    " WHERE host = ?1 AND user = ?2 AND map = ?3"
                    " AND key = ?4",
    [SQL_MAP_CLEAR] = "DELETE FROM map_items"
                      " WHERE host = ?1 AND user = ?2 AND map = ?3",
    [SQL_QUEUE_PUSH] = "INSERT INTO queue_entries (host, user, queue, value)"
                       " VALUES (?1, ?2, ?3, ?4)",
    [SQL_QUEUE_ALL] = "SELECT id, value FROM queue_entries"
                      " WHERE host = ?1 AND user = ?2 AND queue = ?3"
                      " ORDER BY id",
    [SQL_QUEUE_DEL] = "DELETE FROM queue_entries"
                      " WHERE host = ?1 AND user = ?2 AND queue = ?3"
                      " AND id <= ?4",
    [SQL_QUEUE_COUNT] = "SELECT count(*) FROM queue_entries"
                        " WHERE host = ?1 AND user = ?2 AND queue = ?3",
};
/* clang-format on */

typedef struct sqlite_db {
    sqlite3 *db;
    sqlite3_stmt *stmt[SQL_COUNT]; /* prepared on first use */
} sqlite_db_t;

/* ---- helpers ----------------------------------------------------------- */

/* Logs the connection's last error; messages never contain bound values,
 * so no credential reaches the log. */
static void sqlite_log_error(sqlite_db_t *d, const char *what)
{
    tn_log(TN_LOG_ERROR, "store: sqlite %s: %s", what, sqlite3_errmsg(d->db));
}

static sqlite3_stmt *sqlite_stmt(sqlite_db_t *d, int id)
{
    if (!d->stmt[id] &&
        sqlite3_prepare_v3(d->db, sqlite_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                           &d->stmt[id], NULL) != SQLITE_OK) {
        sqlite_log_error(d, "prepare");
        d->stmt[id] = NULL;
    }
    return d->stmt[id];
}

static void sqlite_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows. Returns 0 or TN_EIO. */
static int sqlite_run(sqlite_db_t *d, int id)
{
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        sqlite_log_error(d, sqlite_sql[id]);
    sqlite_done(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : TN_EIO;
}

static size_t sqlite_key_len(tn_scram_hash_t hash)
{
    return hash == TN_SCRAM_SHA256 ? 32 : 20;
}

/* Binds one credential to parameters first..first+3; an absent credential
 * (iterations 0) becomes four NULLs. */
static int sqlite_bind_cred(sqlite3_stmt *s, int first,
                            const tn_scram_cred_t *c, tn_scram_hash_t hash)
{
    if (c->iterations == 0) {
        for (int i = 0; i < 4; i++)
            if (sqlite3_bind_null(s, first + i) != SQLITE_OK)
                return TN_EIO;
        return 0;
    }
    size_t klen = sqlite_key_len(hash);
    if (sqlite3_bind_blob(s, first, c->salt, (int)c->salt_len, SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_int64(s, first + 1, (sqlite3_int64)c->iterations) !=
            SQLITE_OK ||
        sqlite3_bind_blob(s, first + 2, c->stored_key, (int)klen,
                          SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(s, first + 3, c->server_key, (int)klen,
                          SQLITE_STATIC) != SQLITE_OK)
        return TN_EIO;
    return 0;
}

/* Reads one credential from columns first..first+3. Returns 0, or TN_EIO
 * when the row does not hold a well-formed credential. */
static int sqlite_column_cred(sqlite3_stmt *s, int first, tn_scram_cred_t *c,
                              tn_scram_hash_t hash)
{
    memset(c, 0, sizeof *c);
    c->hash = hash;
    int nulls = 0;
    for (int i = 0; i < 4; i++)
        nulls += sqlite3_column_type(s, first + i) == SQLITE_NULL;
    if (nulls == 4)
        return 0;
    size_t klen = sqlite_key_len(hash);
    sqlite3_int64 iter = sqlite3_column_int64(s, first + 1);
    /* Blob pointers are read before their sizes, as SQLite advises. */
    const void *salt = sqlite3_column_blob(s, first);
    size_t salt_len = (size_t)sqlite3_column_bytes(s, first);
    const void *stored = sqlite3_column_blob(s, first + 2);
    size_t stored_len = (size_t)sqlite3_column_bytes(s, first + 2);
    const void *server = sqlite3_column_blob(s, first + 3);
    size_t server_len = (size_t)sqlite3_column_bytes(s, first + 3);
    if (nulls != 0 || iter <= 0 || iter > UINT_MAX ||
        salt_len > TN_SCRAM_MAX_SALT || stored_len != klen ||
        server_len != klen || !stored || !server)
        return TN_EIO;
    if (salt_len)
        memcpy(c->salt, salt, salt_len);
    c->salt_len = salt_len;
    c->iterations = (unsigned)iter;
    memcpy(c->stored_key, stored, klen);
    memcpy(c->server_key, server, klen);
    return 0;
}

static int sqlite_bind_key(sqlite3_stmt *s, const char *host, const char *user)
{
    if (sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC) != SQLITE_OK)
        return TN_EIO;
    if (user && sqlite3_bind_text(s, 2, user, -1, SQLITE_STATIC) != SQLITE_OK)
        return TN_EIO;
    return 0;
}

/* Binds (host, user, name) to parameters 1..3 and, when key is not NULL,
 * key to 4. Returns 0 or TN_EIO. */
static int sqlite_bind_owner(sqlite3_stmt *s, const tn_store_job_t *job,
                             const char *key)
{
    if (sqlite3_bind_text(s, 1, job->host, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 2, job->user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(s, 3, job->name, -1, SQLITE_STATIC) != SQLITE_OK)
        return TN_EIO;
    if (key && sqlite3_bind_text(s, 4, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return TN_EIO;
    return 0;
}

/* A copy of column col as bytes plus a NUL; *len gets the byte count. A
 * zero-length blob comes back from SQLite as NULL: that is "". */
static char *sqlite_column_dup(sqlite3_stmt *s, int col, size_t *len)
{
    const void *p = sqlite3_column_blob(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    char *v = tn_malloc(n + 1);
    if (n && p)
        memcpy(v, p, n);
    else
        n = 0;
    v[n] = '\0';
    *len = n;
    return v;
}

/* Runs a statement that returns no rows after binding parameters 1..2
 * to host and user; *changes (may be NULL) gets the rows it changed.
 * Returns 0 or TN_EIO. */
static int sqlite_run_user(sqlite_db_t *d, int id, const char *host,
                           const char *user, int *changes)
{
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_key(s, host, user);
    if (status == 0 && sqlite3_step(s) != SQLITE_DONE) {
        sqlite_log_error(d, sqlite_sql[id]);
        status = TN_EIO;
    }
    if (status == 0 && changes)
        *changes = sqlite3_changes(d->db);
    sqlite_done(s);
    return status;
}

/* Removes every map and queue row of host/user. */
static int sqlite_drop_user_data(sqlite_db_t *d, const char *host,
                                 const char *user)
{
    int status = sqlite_run_user(d, SQL_ACCT_DROP_MAPS, host, user, NULL);
    if (status == 0)
        status = sqlite_run_user(d, SQL_ACCT_DROP_QUEUES, host, user, NULL);
    return status;
}

/* ---- jobs -------------------------------------------------------------- */

static int sqlite_acct_get(sqlite_db_t *d, tn_store_job_t *job)
{
    sqlite3_stmt *s = sqlite_stmt(d, SQL_ACCT_GET);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_key(s, job->host, job->user);
    if (status != 0)
        goto out;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        status = TN_ENOTFOUND;
    } else if (rc != SQLITE_ROW) {
        sqlite_log_error(d, "account get");
        status = TN_EIO;
    } else if (sqlite_column_cred(s, 0, &job->acct.sha1, TN_SCRAM_SHA1) ||
               sqlite_column_cred(s, 4, &job->acct.sha256, TN_SCRAM_SHA256)) {
        tn_log(TN_LOG_ERROR,
               "store: account %s@%s has malformed "
               "credentials",
               job->user, job->host);
        status = TN_EIO;
    } else {
        job->acct.user = tn_strdup(job->user);
        job->acct.host = tn_strdup(job->host);
    }
out:
    if (status != 0)
        explicit_bzero(&job->acct, sizeof job->acct);
    sqlite_done(s);
    return status;
}

/* Create and update bind the same parameters; they differ in how a
 * missing or present row counts. */
static int sqlite_acct_write(sqlite_db_t *d, tn_store_job_t *job, int id)
{
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    const tn_account_t *a = &job->acct;
    int status = sqlite_bind_key(s, a->host, a->user);
    if (status == 0)
        status = sqlite_bind_cred(s, 3, &a->sha1, TN_SCRAM_SHA1);
    if (status == 0)
        status = sqlite_bind_cred(s, 7, &a->sha256, TN_SCRAM_SHA256);
    if (status == 0 && id == SQL_ACCT_INSERT &&
        sqlite3_bind_int64(s, 11, (sqlite3_int64)time(NULL)) != SQLITE_OK)
        status = TN_EIO;
    if (status == 0) {
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite_log_error(d, "account write");
            status = TN_EIO;
        } else if (sqlite3_changes(d->db) == 0) {
            status = id == SQL_ACCT_INSERT ? TN_EEXIST : TN_ENOTFOUND;
        }
    }
    sqlite_done(s);
    /* A new account starts empty even if a map or queue write raced with
     * the delete of its predecessor and left rows behind. */
    if (status == 0 && id == SQL_ACCT_INSERT)
        status = sqlite_drop_user_data(d, a->host, a->user);
    return status;
}

/* Deletes the account and, in the same savepoint, its maps and queues. */
static int sqlite_acct_delete(sqlite_db_t *d, tn_store_job_t *job)
{
    int changes = 0;
    int status =
        sqlite_run_user(d, SQL_ACCT_DELETE, job->host, job->user, &changes);
    if (status == 0 && changes == 0)
        status = TN_ENOTFOUND;
    if (status == 0)
        status = sqlite_drop_user_data(d, job->host, job->user);
    return status;
}

static int sqlite_acct_list(sqlite_db_t *d, tn_store_job_t *job)
{
    sqlite3_stmt *s = sqlite_stmt(d, SQL_ACCT_LIST);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_key(s, job->host, NULL);
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (status == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *u = sqlite3_column_text(s, 0);
        if (!u) {
            status = TN_EIO;
            break;
        }
        if (job->nusers == cap) {
            cap = cap ? cap * 2 : 16;
            job->users = tn_realloc(job->users, cap * sizeof *job->users);
        }
        job->users[job->nusers++] = tn_strdup((const char *)u);
    }
    if (status == 0 && rc != SQLITE_DONE) {
        sqlite_log_error(d, "account list");
        status = TN_EIO;
    }
    if (status != 0)
        tn_store_job_clear_result(job);
    sqlite_done(s);
    return status;
}

/* Map get (key set) and all: fills job->items. */
static int sqlite_map_read(sqlite_db_t *d, tn_store_job_t *job)
{
    int id = job->op == TN_STORE_MAP_GET ? SQL_MAP_GET : SQL_MAP_ALL;
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_owner(s, job, id == SQL_MAP_GET ? job->key : NULL);
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (status == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(s, 0);
        if (!k) {
            status = TN_EIO;
            break;
        }
        if (job->nitems == cap) {
            cap = cap ? cap * 2 : 16;
            job->items = tn_realloc(job->items, cap * sizeof *job->items);
        }
        tn_store_item_t *it = &job->items[job->nitems++];
        it->key = tn_strdup((const char *)k);
        it->value = sqlite_column_dup(s, 1, &it->len);
    }
    if (status == 0 && rc != SQLITE_DONE) {
        sqlite_log_error(d, "map read");
        status = TN_EIO;
    }
    if (status == 0 && id == SQL_MAP_GET && job->nitems == 0)
        status = TN_ENOTFOUND;
    if (status != 0)
        tn_store_job_clear_result(job);
    sqlite_done(s);
    return status;
}

/* Runs a one-row SELECT on (host, user, name[, key]) and stores its first
 * column in *out; *out is 0 when there is no row. Returns 0 or TN_EIO. */
static int sqlite_select_int(sqlite_db_t *d, tn_store_job_t *job, int id,
                             const char *key, long long *out)
{
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    *out = 0;
    int status = sqlite_bind_owner(s, job, key);
    if (status == 0) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
        } else if (rc != SQLITE_DONE) {
            sqlite_log_error(d, sqlite_sql[id]);
            status = TN_EIO;
        }
    }
    sqlite_done(s);
    return status;
}

static int sqlite_count(sqlite_db_t *d, tn_store_job_t *job, int id)
{
    long long n;
    int status = sqlite_select_int(d, job, id, NULL, &n);
    if (status == 0)
        job->count = n > 0 ? (size_t)n : 0;
    return status;
}

/* Put and put_max: the limit check and the write run back to back on this
 * thread inside the group transaction, so nothing can slip in between. */
static int sqlite_map_put(sqlite_db_t *d, tn_store_job_t *job)
{
    int status;
    if (job->max) {
        long long has, n;
        status = sqlite_select_int(d, job, SQL_MAP_HAS, job->key, &has);
        if (status == 0 && !has) {
            status = sqlite_select_int(d, job, SQL_MAP_COUNT, NULL, &n);
            if (status == 0 && n >= 0 && (unsigned long long)n >= job->max)
                return TN_ELIMIT;
        }
        if (status != 0)
            return status;
    }
    sqlite3_stmt *s = sqlite_stmt(d, SQL_MAP_PUT);
    if (!s)
        return TN_EIO;
    status = sqlite_bind_owner(s, job, job->key);
    if (status == 0 && sqlite3_bind_blob(s, 5, job->value, (int)job->len,
                                         SQLITE_STATIC) != SQLITE_OK)
        status = TN_EIO;
    if (status == 0 && sqlite3_step(s) != SQLITE_DONE) {
        sqlite_log_error(d, "map put");
        status = TN_EIO;
    }
    sqlite_done(s);
    return status;
}

static int sqlite_map_del(sqlite_db_t *d, tn_store_job_t *job)
{
    int id = job->key ? SQL_MAP_DEL : SQL_MAP_CLEAR;
    sqlite3_stmt *s = sqlite_stmt(d, id);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_owner(s, job, job->key);
    if (status == 0) {
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite_log_error(d, "map delete");
            status = TN_EIO;
        } else if (id == SQL_MAP_DEL && sqlite3_changes(d->db) == 0) {
            status = TN_ENOTFOUND;
        }
    }
    sqlite_done(s);
    return status;
}

static int sqlite_queue_push(sqlite_db_t *d, tn_store_job_t *job)
{
    int status;
    if (job->max) {
        long long n;
        status = sqlite_select_int(d, job, SQL_QUEUE_COUNT, NULL, &n);
        if (status != 0)
            return status;
        if (n >= 0 && (unsigned long long)n >= job->max)
            return TN_ELIMIT;
    }
    sqlite3_stmt *s = sqlite_stmt(d, SQL_QUEUE_PUSH);
    if (!s)
        return TN_EIO;
    status = sqlite_bind_owner(s, job, NULL);
    if (status == 0 && sqlite3_bind_blob(s, 4, job->value, (int)job->len,
                                         SQLITE_STATIC) != SQLITE_OK)
        status = TN_EIO;
    if (status == 0) {
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite_log_error(d, "queue push");
            status = TN_EIO;
        } else {
            job->id = sqlite3_last_insert_rowid(d->db);
        }
    }
    sqlite_done(s);
    return status;
}

static int sqlite_queue_all(sqlite_db_t *d, tn_store_job_t *job)
{
    sqlite3_stmt *s = sqlite_stmt(d, SQL_QUEUE_ALL);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_owner(s, job, NULL);
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (status == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (job->nentries == cap) {
            cap = cap ? cap * 2 : 16;
            job->entries = tn_realloc(job->entries, cap * sizeof *job->entries);
        }
        tn_store_entry_t *e = &job->entries[job->nentries++];
        e->id = sqlite3_column_int64(s, 0);
        e->value = sqlite_column_dup(s, 1, &e->len);
    }
    if (status == 0 && rc != SQLITE_DONE) {
        sqlite_log_error(d, "queue read");
        status = TN_EIO;
    }
    if (status != 0)
        tn_store_job_clear_result(job);
    sqlite_done(s);
    return status;
}

static int sqlite_queue_del(sqlite_db_t *d, tn_store_job_t *job)
{
    sqlite3_stmt *s = sqlite_stmt(d, SQL_QUEUE_DEL);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_owner(s, job, NULL);
    if (status == 0 &&
        sqlite3_bind_int64(s, 4, (sqlite3_int64)job->id) != SQLITE_OK)
        status = TN_EIO;
    if (status == 0 && sqlite3_step(s) != SQLITE_DONE) {
        sqlite_log_error(d, "queue delete");
        status = TN_EIO;
    }
    sqlite_done(s);
    return status;
}

/* ---- backend interface ------------------------------------------------- */

static void sqlite_exec(void *db, tn_store_job_t *job)
{
    sqlite_db_t *d = db;
    switch (job->op) {
    case TN_STORE_ACCT_GET:
        job->status = sqlite_acct_get(d, job);
        break;
    case TN_STORE_ACCT_CREATE:
        job->status = sqlite_acct_write(d, job, SQL_ACCT_INSERT);
        break;
    case TN_STORE_ACCT_UPDATE:
        job->status = sqlite_acct_write(d, job, SQL_ACCT_UPDATE);
        break;
    case TN_STORE_ACCT_DELETE:
        job->status = sqlite_acct_delete(d, job);
        break;
    case TN_STORE_ACCT_LIST:
        job->status = sqlite_acct_list(d, job);
        break;
    case TN_STORE_MAP_GET:
    case TN_STORE_MAP_ALL:
        job->status = sqlite_map_read(d, job);
        break;
    case TN_STORE_MAP_COUNT:
        job->status = sqlite_count(d, job, SQL_MAP_COUNT);
        break;
    case TN_STORE_MAP_PUT:
        job->status = sqlite_map_put(d, job);
        break;
    case TN_STORE_MAP_DEL:
        job->status = sqlite_map_del(d, job);
        break;
    case TN_STORE_QUEUE_PUSH:
        job->status = sqlite_queue_push(d, job);
        break;
    case TN_STORE_QUEUE_ALL:
        job->status = sqlite_queue_all(d, job);
        break;
    case TN_STORE_QUEUE_DEL:
        job->status = sqlite_queue_del(d, job);
        break;
    case TN_STORE_QUEUE_COUNT:
        job->status = sqlite_count(d, job, SQL_QUEUE_COUNT);
        break;
    default:
        job->status = TN_EINVAL;
    }
}

static int sqlite_begin(void *db)
{
    return sqlite_run(db, SQL_BEGIN);
}

static void sqlite_rollback(void *db)
{
    sqlite_db_t *d = db;
    /* Some errors (I/O, disk full) have already rolled back. */
    if (!sqlite3_get_autocommit(d->db))
        sqlite_run(d, SQL_ROLLBACK);
}

static int sqlite_commit(void *db)
{
    if (sqlite_run(db, SQL_COMMIT) == 0)
        return 0;
    sqlite_rollback(db);
    return TN_EIO;
}

static int sqlite_savepoint(void *db)
{
    return sqlite_run(db, SQL_SAVEPOINT);
}

static int sqlite_release(void *db, int keep)
{
    sqlite_db_t *d = db;
    if (sqlite3_get_autocommit(d->db))
        return TN_EIO; /* the group transaction is gone */
    if (!keep && sqlite_run(d, SQL_ROLLBACK_TO) != 0)
        return TN_EIO;
    return sqlite_run(d, SQL_RELEASE);
}

static void sqlite_close(void *db)
{
    sqlite_db_t *d = db;
    if (!d)
        return;
    for (int i = 0; i < SQL_COUNT; i++)
        sqlite3_finalize(d->stmt[i]);
    if (d->db) {
        sqlite3_exec(d->db, "PRAGMA optimize", NULL, NULL, NULL);
        if (sqlite3_close(d->db) != SQLITE_OK)
            tn_log(TN_LOG_ERROR, "store: sqlite close: %s",
                   sqlite3_errmsg(d->db));
    }
    tn_free(d);
}

/* "cannot open PATH: reason", with the system's reason when there is
 * one (a missing directory says "No such file or directory"). */
static char *sqlite_open_error(sqlite3 *db, const char *path, int rc)
{
    int sys = db ? sqlite3_system_errno(db) : 0;
    const char *why = sys  ? strerror(sys)
                      : db ? sqlite3_errmsg(db)
                           : sqlite3_errstr(rc);
    return tn_sprintf("cannot open %s: %s", path, why);
}

static int sqlite_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
        SQLITE_OK)
        return -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Brings the schema to SQLITE_SCHEMA_VERSION. Returns 0, or -1 with *err
 * set. */
static int sqlite_migrate(sqlite3 *db, const char *path, char **err)
{
    int version;
    if (sqlite_user_version(db, &version) != 0)
        goto fail_sql;
    if (version == SQLITE_SCHEMA_VERSION)
        return 0;
    if (version > SQLITE_SCHEMA_VERSION)
        goto fail_newer;

    /* Another process (ternctl beside ternd) may be migrating the same
     * file: take the write lock, then look again. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail_sql;
    if (sqlite_user_version(db, &version) != 0)
        goto fail_rollback;
    if (version > SQLITE_SCHEMA_VERSION) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        goto fail_newer;
    }
    for (int v = version; v < SQLITE_SCHEMA_VERSION; v++) {
        if (sqlite3_exec(db, sqlite_migrations[v], NULL, NULL, NULL) !=
            SQLITE_OK) {
            *err = tn_sprintf("cannot open %s: migration to schema version "
                              "%d failed: %s",
                              path, v + 1, sqlite3_errmsg(db));
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    }
    /* PRAGMA takes no parameters; the value is our own constant. */
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d",
             SQLITE_SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail_rollback;
    if (version != 0)
        tn_log(TN_LOG_INFO,
               "store: %s migrated from schema version %d "
               "to %d",
               path, version, SQLITE_SCHEMA_VERSION);
    return 0;

fail_rollback:
    *err = tn_sprintf("cannot open %s: %s", path, sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
fail_sql:
    *err = tn_sprintf("cannot open %s: %s", path, sqlite3_errmsg(db));
    return -1;
fail_newer:
    *err = tn_sprintf("cannot open %s: schema version %d is newer than this "
                      "build supports (%d)",
                      path, version, SQLITE_SCHEMA_VERSION);
    return -1;
}

static int sqlite_wal_cb(void *ud, int ncol, char **vals, char **names)
{
    char **mode = ud;
    if (ncol > 0 && vals[0] && !*mode)
        *mode = tn_strdup(vals[0]);
    return 0;
}

static void *sqlite_open(const char *path, char **err)
{
    sqlite3 *db = NULL;
    char *mode = NULL;

    /* Create a new file ourselves so that it is private from the start;
     * SQLite would use 0644. EEXIST: an existing store, opened below. */
    if (strcmp(path, ":memory:") != 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        } else if (errno != EEXIST) {
            *err = tn_sprintf("cannot open %s: %s", path, strerror(errno));
            return NULL;
        }
    }

    int rc = sqlite3_open_v2(
        path, &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        *err = sqlite_open_error(db, path, rc);
        goto fail;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    /* The first statement reads the header: "file is not a database"
     * shows up here. */
    if (sqlite3_exec(db, "PRAGMA journal_mode = WAL", sqlite_wal_cb, &mode,
                     NULL) != SQLITE_OK) {
        *err = tn_sprintf("cannot open %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (!mode || (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0))
        tn_log(TN_LOG_WARN,
               "store: %s: WAL mode refused (journal mode "
               "'%s'); writes will block readers",
               path, mode ? mode : "?");
    if (sqlite3_exec(db,
                     "PRAGMA synchronous = NORMAL;"
                     "PRAGMA foreign_keys = ON;",
                     NULL, NULL, NULL) != SQLITE_OK) {
        *err = tn_sprintf("cannot open %s: %s", path, sqlite3_errmsg(db));
        goto fail;
    }
    if (sqlite_migrate(db, path, err) != 0)
        goto fail;
    tn_free(mode);

    sqlite_db_t *d = TN_NEW(sqlite_db_t);
    d->db = db;
    return d;

fail:
    tn_free(mode);
    sqlite3_close(db);
    return NULL;
}

const tn_store_backend_t tn_store_backend_sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .savepoint = sqlite_savepoint,
    .release = sqlite_release,
    .exec = sqlite_exec,
};
