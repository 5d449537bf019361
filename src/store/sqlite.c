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
 * SCRAM salts, iteration counts, StoredKey and ServerKey (RFC 5802 3). */
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
    return status;
}

static int sqlite_acct_delete(sqlite_db_t *d, tn_store_job_t *job)
{
    sqlite3_stmt *s = sqlite_stmt(d, SQL_ACCT_DELETE);
    if (!s)
        return TN_EIO;
    int status = sqlite_bind_key(s, job->host, job->user);
    if (status == 0) {
        if (sqlite3_step(s) != SQLITE_DONE) {
            sqlite_log_error(d, "account delete");
            status = TN_EIO;
        } else if (sqlite3_changes(d->db) == 0) {
            status = TN_ENOTFOUND;
        }
    }
    sqlite_done(s);
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
