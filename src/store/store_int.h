/* store_int.h -- private interface between store.c (job queue, storage
 * thread, uv_async hand-back, group commit) and the backends that run jobs
 * on that thread (sqlite.c). Modules never include this: they use store.h.
 *
 * A backend is a set of synchronous functions on an opaque connection. All
 * of them but open run on the storage thread only (close runs on the loop
 * thread after the storage thread has been joined), so a backend needs no
 * locks and may cache prepared statements on its connection. */
#ifndef TN_STORE_STORE_INT_H
#define TN_STORE_STORE_INT_H

#include <stddef.h>

#include "store/store.h"

typedef enum {
    TN_STORE_ACCT_GET = 0,
    TN_STORE_ACCT_CREATE,
    TN_STORE_ACCT_UPDATE,
    TN_STORE_ACCT_DELETE,
    TN_STORE_ACCT_LIST,
    TN_STORE_MAP_GET,
    TN_STORE_MAP_ALL,
    TN_STORE_MAP_COUNT,
    TN_STORE_MAP_PUT, /* max 0: plain put; else put_max */
    TN_STORE_MAP_DEL, /* key NULL: the whole map */
    TN_STORE_QUEUE_PUSH,
    TN_STORE_QUEUE_ALL,
    TN_STORE_QUEUE_DEL,
    TN_STORE_QUEUE_COUNT,
} tn_store_op_t;

/* One queued request. The loop thread fills the inputs, the storage thread
 * sets status and the outputs, the loop thread runs the callback and frees
 * the job. Ownership passes with the job between the queues. */
typedef struct tn_store_job tn_store_job_t;
struct tn_store_job {
    tn_store_job_t *next; /* queue link */
    tn_store_op_t op;
    int status;        /* set by the backend: 0 or a TN_E* code */
    char *host;        /* owned; key of every op but create/update */
    char *user;        /* owned; ditto, except list */
    tn_account_t acct; /* owned; input of create/update, output of get */
    char **users;      /* owned; output of list, nusers localparts */
    size_t nusers;
    /* Maps and queues: */
    char *name;  /* owned; map or queue name */
    char *key;   /* owned; map key (NULL: del of the whole map) */
    char *value; /* owned; input of put/push, len bytes + a NUL */
    size_t len;
    size_t max;             /* put_max and push limit; 0: none */
    long long id;           /* input of queue del (upto), output of push */
    size_t count;           /* output of the count ops */
    tn_store_item_t *items; /* owned; output of map get/all */
    size_t nitems;
    tn_store_entry_t *entries; /* owned; output of queue all */
    size_t nentries;
    union {
        tn_store_done_cb done;
        tn_store_account_cb account;
        tn_store_list_cb list;
        tn_store_items_cb items;
        tn_store_count_cb count;
        tn_store_entries_cb entries;
        tn_store_id_cb id;
    } cb;
    void *ud;
};

typedef struct tn_store_backend {
    const char *name; /* as in the configuration: "sqlite" */
    /* Opens (creating if absent) and migrates the store at path; runs on
     * the loop thread inside tn_store_open. Returns the connection, or NULL
     * with *err set to a fresh message. */
    void *(*open)(const char *path, char **err);
    /* Releases everything open made; runs after the thread is joined. */
    void (*close)(void *db);
    /* Group transaction around the writes of one batch: 0 or TN_EIO. After
     * a failed commit the backend has rolled back. */
    int (*begin)(void *db);
    int (*commit)(void *db);
    void (*rollback)(void *db);
    /* Per-job savepoint inside the group: savepoint returns 0 or TN_EIO;
     * release keeps (keep != 0) or undoes the job's changes and returns 0,
     * or TN_EIO when the group transaction is gone (the backend rolled it
     * back or an error ended it), in which case the whole group is lost. */
    int (*savepoint)(void *db);
    int (*release)(void *db, int keep);
    /* Runs one job: sets job->status and, on success, the job's outputs. */
    void (*exec)(void *db, tn_store_job_t *job);
} tn_store_backend_t;

extern const tn_store_backend_t tn_store_backend_sqlite;

/* 1 for the ops that change data (they join the group transaction). */
int tn_store_job_is_write(const tn_store_job_t *job);
/* Frees and zeroes the outputs of a job (the account of get, the list of
 * list, map items, queue entries, count, the id of push), used when a
 * result must be withdrawn after the fact. */
void tn_store_job_clear_result(tn_store_job_t *job);

#endif
