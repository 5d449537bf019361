/* store.c -- the backend-neutral half of the asynchronous store: argument
 * checks and copies, the job queue to the storage thread (mutex + condition
 * variable), group commit, and the hand-back of results to the loop thread
 * through a done-queue and one uv_async_t.
 *
 * Flow: a call on the loop thread appends a job; the thread is signalled
 * once per loop turn, from a uv_check handle after that turn's I/O
 * callbacks (a login storm queues several jobs per turn, and each signal
 * that finds the thread asleep costs a wake-up and a context switch: 27
 * switches per login became 6). While a job waits for that signal a
 * uv_idle handle is active, so the loop polls without blocking and the
 * check phase comes at once, wherever the job was queued from. The
 * thread takes every queued job at once and runs them in order; the writes
 * among them share one transaction (each inside its own savepoint, so a
 * failing job leaves the others intact) and the reads run inside it too, so
 * that a read sees the writes queued before it. The batch then goes to the
 * done-queue and uv_async_send wakes the loop, whose callback drains the
 * whole queue (sends coalesce) and runs the callbacks in queue order.
 *
 * Loop liveness: the async handle is referenced only while jobs are
 * outstanding, so uv_run(UV_RUN_DEFAULT) returns once every callback has run
 * (handy for tools and tests) and an idle store never keeps a loop alive.
 *
 * SQL lives in the backends (sqlite.c); a backend with its own asynchronous
 * client (PostgreSQL pipeline mode) will not need the thread. */
#include "store/store.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "store/store_int.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"

struct tn_store {
    uv_loop_t *loop;
    const tn_store_backend_t *be;
    void *db; /* backend connection; storage thread's */
    uv_thread_t thread;
    uv_mutex_t lock; /* guards the four queue pointers and stop */
    uv_cond_t wake;  /* signalled on enqueue and on stop */
    tn_store_job_t *todo_head, *todo_tail; /* loop -> thread */
    tn_store_job_t *done_head, *done_tail; /* thread -> loop */
    int stop;                              /* thread exits once todo is empty */
    uv_async_t async;
    /* Loop thread only: */
    tn_store_job_t *ready_head, *ready_tail; /* taken from done, to run */
    size_t outstanding; /* jobs enqueued whose callback has not run */
    int closing;        /* tn_store_close was called */
    int unsignalled;    /* jobs queued since the thread was last signalled */
    int open_handles;   /* async, check, idle: closed before st is freed */
    uv_check_t check;   /* signals the thread after each loop turn's I/O */
    uv_idle_t idle;     /* active while unsignalled: poll does not block */
};

static const tn_store_backend_t *const store_backends[] = {
    &tn_store_backend_sqlite,
};

int tn_store_job_is_write(const tn_store_job_t *job)
{
    switch (job->op) {
    case TN_STORE_ACCT_CREATE:
    case TN_STORE_ACCT_UPDATE:
    case TN_STORE_ACCT_DELETE:
    case TN_STORE_MAP_PUT:
    case TN_STORE_MAP_DEL:
    case TN_STORE_QUEUE_PUSH:
    case TN_STORE_QUEUE_DEL:
        return 1;
    default:
        return 0;
    }
}

void tn_store_job_clear_result(tn_store_job_t *job)
{
    if (job->op == TN_STORE_ACCT_GET)
        tn_account_release(&job->acct);
    for (size_t i = 0; i < job->nusers; i++)
        tn_free(job->users[i]);
    tn_free(job->users);
    job->users = NULL;
    job->nusers = 0;
    for (size_t i = 0; i < job->nitems; i++) {
        tn_free(job->items[i].key);
        tn_free(job->items[i].value);
    }
    tn_free(job->items);
    job->items = NULL;
    job->nitems = 0;
    for (size_t i = 0; i < job->nentries; i++)
        tn_free(job->entries[i].value);
    tn_free(job->entries);
    job->entries = NULL;
    job->nentries = 0;
    job->count = 0;
    if (job->op == TN_STORE_QUEUE_PUSH)
        job->id = 0; /* elsewhere id is an input */
}

void tn_account_release(tn_account_t *acct)
{
    if (!acct)
        return;
    tn_free(acct->user);
    tn_free(acct->host);
    /* The derived keys are not passwords, but they are what an attacker
     * would brute-force offline: do not leave them in freed memory. */
    explicit_bzero(acct, sizeof *acct);
}

static void store_job_free(tn_store_job_t *job)
{
    tn_store_job_clear_result(job);
    tn_account_release(&job->acct);
    tn_free(job->host);
    tn_free(job->user);
    tn_free(job->name);
    tn_free(job->key);
    tn_free(job->value);
    tn_free(job);
}

/* ---- storage thread ---------------------------------------------------- */

/* Withdraws the result of a job that ran inside a group transaction that
 * was then lost: its write is gone, and a read may have seen writes that
 * never became durable. */
static void store_job_fail(tn_store_job_t *job)
{
    if (job->status == 0) {
        tn_store_job_clear_result(job);
        job->status = TN_EIO;
    }
}

/* Runs one batch in queue order. See the file comment for the rules. */
static void store_run_batch(tn_store_t *st, tn_store_job_t *batch)
{
    const tn_store_backend_t *be = st->be;
    int in_group = 0;
    tn_store_job_t *group_first = NULL; /* first job run inside the group */
    tn_store_job_t *job;

    for (job = batch; job; job = job->next)
        if (tn_store_job_is_write(job))
            break;
    if (job) {
        if (be->begin(st->db) == 0) {
            in_group = 1;
            group_first = batch;
        } else {
            tn_log(TN_LOG_ERROR, "store: cannot begin a transaction; "
                                 "failing the writes of this batch");
        }
    }

    for (job = batch; job; job = job->next) {
        if (!tn_store_job_is_write(job)) {
            be->exec(st->db, job);
            continue;
        }
        if (!in_group) {
            /* The group could not start, or was lost: do not retry one by
             * one, which would wait busy_timeout again for every job. */
            job->status = TN_EIO;
            continue;
        }
        if (be->savepoint(st->db) != 0) {
            job->status = TN_EIO;
            continue;
        }
        be->exec(st->db, job);
        if (be->release(st->db, job->status == 0) != 0) {
            tn_log(TN_LOG_ERROR, "store: transaction lost; failing the "
                                 "jobs that ran inside it");
            be->rollback(st->db);
            for (tn_store_job_t *j = group_first; j != job->next; j = j->next)
                store_job_fail(j);
            in_group = 0;
        }
    }

    if (in_group && be->commit(st->db) != 0) {
        tn_log(TN_LOG_ERROR, "store: commit failed; failing the batch");
        for (job = group_first; job; job = job->next)
            store_job_fail(job);
    }
}

static void store_thread_main(void *arg)
{
    tn_store_t *st = arg;

    /* Signals are the loop thread's business. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);

    for (;;) {
        uv_mutex_lock(&st->lock);
        while (!st->todo_head && !st->stop)
            uv_cond_wait(&st->wake, &st->lock);
        tn_store_job_t *batch = st->todo_head;
        tn_store_job_t *last = st->todo_tail;
        st->todo_head = st->todo_tail = NULL;
        uv_mutex_unlock(&st->lock);
        if (!batch)
            break; /* stop requested and nothing left to do */

        store_run_batch(st, batch);

        uv_mutex_lock(&st->lock);
        if (st->done_tail)
            st->done_tail->next = batch;
        else
            st->done_head = batch;
        st->done_tail = last;
        uv_mutex_unlock(&st->lock);
        uv_async_send(&st->async);
    }
}

/* ---- loop thread ------------------------------------------------------- */

static void store_run_callback(tn_store_job_t *job)
{
    switch (job->op) {
    case TN_STORE_ACCT_GET:
        job->cb.account(job->ud, job->status,
                        job->status == 0 ? &job->acct : NULL);
        break;
    case TN_STORE_ACCT_LIST:
        job->cb.list(job->ud, job->status, job->status == 0 ? job->users : NULL,
                     job->status == 0 ? job->nusers : 0);
        break;
    case TN_STORE_ACCT_CREATE:
    case TN_STORE_ACCT_UPDATE:
    case TN_STORE_ACCT_DELETE:
    case TN_STORE_MAP_PUT:
    case TN_STORE_MAP_DEL:
    case TN_STORE_QUEUE_DEL:
        job->cb.done(job->ud, job->status);
        break;
    case TN_STORE_MAP_GET:
    case TN_STORE_MAP_ALL:
        job->cb.items(job->ud, job->status,
                      job->status == 0 && job->nitems ? job->items : NULL,
                      job->status == 0 ? job->nitems : 0);
        break;
    case TN_STORE_MAP_COUNT:
    case TN_STORE_QUEUE_COUNT:
        job->cb.count(job->ud, job->status, job->status == 0 ? job->count : 0);
        break;
    case TN_STORE_QUEUE_PUSH:
        job->cb.id(job->ud, job->status, job->status == 0 ? job->id : 0);
        break;
    case TN_STORE_QUEUE_ALL:
        job->cb.entries(job->ud, job->status,
                        job->status == 0 && job->nentries ? job->entries : NULL,
                        job->status == 0 ? job->nentries : 0);
        break;
    }
}

/* Moves the done-queue to the ready list and runs the callbacks one by one.
 * The ready list lives in the store so that a callback may call
 * tn_store_close, whose own drain then continues in order where this one
 * stopped. */
static void store_drain(tn_store_t *st)
{
    uv_mutex_lock(&st->lock);
    tn_store_job_t *head = st->done_head, *tail = st->done_tail;
    st->done_head = st->done_tail = NULL;
    uv_mutex_unlock(&st->lock);
    if (head) {
        if (st->ready_tail)
            st->ready_tail->next = head;
        else
            st->ready_head = head;
        st->ready_tail = tail;
    }

    tn_store_job_t *job;
    while ((job = st->ready_head) != NULL) {
        st->ready_head = job->next;
        if (!st->ready_head)
            st->ready_tail = NULL;
        job->next = NULL;
        store_run_callback(job);
        store_job_free(job);
        if (--st->outstanding == 0 && !st->closing)
            uv_unref((uv_handle_t *)&st->async);
    }
}

static void store_async_cb(uv_async_t *handle)
{
    store_drain(handle->data);
}

static void store_check_cb(uv_check_t *handle)
{
    tn_store_t *st = handle->data;
    if (!st->unsignalled)
        return;
    st->unsignalled = 0;
    uv_idle_stop(&st->idle);
    uv_mutex_lock(&st->lock);
    uv_cond_signal(&st->wake);
    uv_mutex_unlock(&st->lock);
}

static void store_idle_cb(uv_idle_t *handle)
{
    (void)handle; /* being active is its whole job */
}

static void store_close_cb(uv_handle_t *handle)
{
    tn_store_t *st = handle->data;
    if (--st->open_handles > 0)
        return;
    uv_cond_destroy(&st->wake);
    uv_mutex_destroy(&st->lock);
    tn_free(st);
}

/* Appends job to the thread's queue; the job belongs to the store from now
 * on. Returns 0, or TN_ECLOSED (job freed) once close has begun. */
static int store_enqueue(tn_store_t *st, tn_store_job_t *job)
{
    if (st->closing) {
        store_job_free(job);
        return TN_ECLOSED;
    }
    uv_mutex_lock(&st->lock);
    if (st->todo_tail)
        st->todo_tail->next = job;
    else
        st->todo_head = job;
    st->todo_tail = job;
    uv_mutex_unlock(&st->lock);
    if (!st->unsignalled) {
        st->unsignalled = 1;
        uv_idle_start(&st->idle, store_idle_cb);
    }
    if (st->outstanding++ == 0)
        uv_ref((uv_handle_t *)&st->async);
    return 0;
}

tn_store_t *tn_store_open(uv_loop_t *loop, const char *backend,
                          const char *path, char **err)
{
    char *dummy = NULL;
    if (!err)
        err = &dummy;
    *err = NULL;
    if (!backend)
        backend = "sqlite";

    const tn_store_backend_t *be = NULL;
    for (size_t i = 0; i < sizeof store_backends / sizeof *store_backends; i++)
        if (strcmp(store_backends[i]->name, backend) == 0)
            be = store_backends[i];
    if (!be) {
        *err = tn_sprintf("unknown storage backend '%s'", backend);
        goto fail;
    }
    if (!loop || !path || !*path) {
        *err = tn_sprintf("no storage path given");
        goto fail;
    }

    void *db = be->open(path, err);
    if (!db)
        goto fail;

    tn_store_t *st = TN_NEW(tn_store_t);
    st->loop = loop;
    st->be = be;
    st->db = db;
    int rc;
    if ((rc = uv_mutex_init(&st->lock)) != 0) {
        *err = tn_sprintf("cannot create store mutex: %s", uv_strerror(rc));
        goto fail_st;
    }
    if ((rc = uv_cond_init(&st->wake)) != 0) {
        *err = tn_sprintf("cannot create store condvar: %s", uv_strerror(rc));
        goto fail_mutex;
    }
    /* The thread only touches the async handle after running a job, and
     * no job can be queued before we return: start it first, so that every
     * failure below can still be undone synchronously. */
    if ((rc = uv_thread_create(&st->thread, store_thread_main, st)) != 0) {
        *err = tn_sprintf("cannot start storage thread: %s", uv_strerror(rc));
        goto fail_cond;
    }
    if ((rc = uv_async_init(loop, &st->async, store_async_cb)) != 0) {
        *err = tn_sprintf("cannot create store wakeup: %s", uv_strerror(rc));
        uv_mutex_lock(&st->lock);
        st->stop = 1;
        uv_cond_signal(&st->wake);
        uv_mutex_unlock(&st->lock);
        uv_thread_join(&st->thread);
        goto fail_cond;
    }
    st->async.data = st;
    uv_unref((uv_handle_t *)&st->async);
    /* Neither keeps the loop alive: the async handle does, while jobs are
     * outstanding. */
    uv_check_init(loop, &st->check);
    st->check.data = st;
    uv_check_start(&st->check, store_check_cb);
    uv_unref((uv_handle_t *)&st->check);
    uv_idle_init(loop, &st->idle);
    st->idle.data = st;
    uv_unref((uv_handle_t *)&st->idle);
    st->open_handles = 3;
    return st;

fail_cond:
    uv_cond_destroy(&st->wake);
fail_mutex:
    uv_mutex_destroy(&st->lock);
fail_st:
    be->close(db);
    tn_free(st);
fail:
    if (err == &dummy)
        tn_free(dummy);
    return NULL;
}

void tn_store_close(tn_store_t *st)
{
    if (!st || st->closing)
        return;
    /* From here on new requests fail with TN_ECLOSED, also from the
     * callbacks run below. */
    st->closing = 1;
    uv_mutex_lock(&st->lock);
    st->stop = 1;
    uv_cond_signal(&st->wake);
    uv_mutex_unlock(&st->lock);
    uv_thread_join(&st->thread);

    st->be->close(st->db);
    st->db = NULL;
    store_drain(st);
    uv_close((uv_handle_t *)&st->async, store_close_cb);
    uv_close((uv_handle_t *)&st->check, store_close_cb);
    uv_close((uv_handle_t *)&st->idle, store_close_cb);
}

/* ---- requests ---------------------------------------------------------- */

static int store_check_cred(const tn_scram_cred_t *c)
{
    return c->salt_len <= TN_SCRAM_MAX_SALT ? 0 : TN_EINVAL;
}

static int store_account_write(tn_store_t *st, tn_store_op_t op,
                               const tn_account_t *acct, tn_store_done_cb cb,
                               void *ud)
{
    if (!st || !acct || !acct->user || !acct->host || !*acct->user ||
        !*acct->host || !cb || store_check_cred(&acct->sha1) != 0 ||
        store_check_cred(&acct->sha256) != 0)
        return TN_EINVAL;
    tn_store_job_t *job = TN_NEW(tn_store_job_t);
    job->op = op;
    job->acct = *acct;
    job->acct.user = tn_strdup(acct->user);
    job->acct.host = tn_strdup(acct->host);
    job->acct.sha1.hash = TN_SCRAM_SHA1;
    job->acct.sha256.hash = TN_SCRAM_SHA256;
    job->cb.done = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_account_create(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud)
{
    return store_account_write(st, TN_STORE_ACCT_CREATE, acct, cb, ud);
}

int tn_store_account_update(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud)
{
    return store_account_write(st, TN_STORE_ACCT_UPDATE, acct, cb, ud);
}

int tn_store_account_get(tn_store_t *st, const char *host, const char *user,
                         tn_store_account_cb cb, void *ud)
{
    if (!st || !host || !user || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = TN_NEW(tn_store_job_t);
    job->op = TN_STORE_ACCT_GET;
    job->host = tn_strdup(host);
    job->user = tn_strdup(user);
    job->cb.account = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_account_delete(tn_store_t *st, const char *host, const char *user,
                            tn_store_done_cb cb, void *ud)
{
    if (!st || !host || !user || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = TN_NEW(tn_store_job_t);
    job->op = TN_STORE_ACCT_DELETE;
    job->host = tn_strdup(host);
    job->user = tn_strdup(user);
    job->cb.done = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_account_list(tn_store_t *st, const char *host, tn_store_list_cb cb,
                          void *ud)
{
    if (!st || !host || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = TN_NEW(tn_store_job_t);
    job->op = TN_STORE_ACCT_LIST;
    job->host = tn_strdup(host);
    job->cb.list = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

/* ---- maps and queues --------------------------------------------------- */

static int store_name_ok(const char *s)
{
    return s && *s;
}

/* A job for op on the map or queue (host, user, name), or NULL when one of
 * them is missing or empty. */
static tn_store_job_t *store_kv_job(tn_store_op_t op, const char *host,
                                    const char *user, const char *name)
{
    if (!store_name_ok(host) || !store_name_ok(user) || !store_name_ok(name))
        return NULL;
    tn_store_job_t *job = TN_NEW(tn_store_job_t);
    job->op = op;
    job->host = tn_strdup(host);
    job->user = tn_strdup(user);
    job->name = tn_strdup(name);
    return job;
}

/* 1 when value/len can be stored: SQLite binds at most INT_MAX bytes. */
static int store_value_ok(const void *value, size_t len)
{
    return (value || len == 0) && len <= INT_MAX;
}

/* Copies len bytes of value plus a NUL (so the backend never binds a NULL
 * pointer, which SQLite would store as NULL rather than as empty). */
static char *store_value_dup(const void *value, size_t len)
{
    char *v = tn_malloc(len + 1);
    if (len)
        memcpy(v, value, len);
    v[len] = '\0';
    return v;
}

static int store_map_read(tn_store_t *st, tn_store_op_t op, const char *host,
                          const char *user, const char *map, const char *key,
                          tn_store_items_cb cb, void *ud)
{
    if (!st || !cb || (op == TN_STORE_MAP_GET && !key))
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(op, host, user, map);
    if (!job)
        return TN_EINVAL;
    job->key = key ? tn_strdup(key) : NULL;
    job->cb.items = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_map_get(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, tn_store_items_cb cb,
                     void *ud)
{
    return store_map_read(st, TN_STORE_MAP_GET, host, user, map, key, cb, ud);
}

int tn_store_map_all(tn_store_t *st, const char *host, const char *user,
                     const char *map, tn_store_items_cb cb, void *ud)
{
    return store_map_read(st, TN_STORE_MAP_ALL, host, user, map, NULL, cb, ud);
}

static int store_count(tn_store_t *st, tn_store_op_t op, const char *host,
                       const char *user, const char *name, tn_store_count_cb cb,
                       void *ud)
{
    if (!st || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(op, host, user, name);
    if (!job)
        return TN_EINVAL;
    job->cb.count = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_map_count(tn_store_t *st, const char *host, const char *user,
                       const char *map, tn_store_count_cb cb, void *ud)
{
    return store_count(st, TN_STORE_MAP_COUNT, host, user, map, cb, ud);
}

int tn_store_map_put_max(tn_store_t *st, const char *host, const char *user,
                         const char *map, const char *key, const void *value,
                         size_t len, size_t max, tn_store_done_cb cb, void *ud)
{
    if (!st || !key || !cb || !store_value_ok(value, len))
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(TN_STORE_MAP_PUT, host, user, map);
    if (!job)
        return TN_EINVAL;
    job->key = tn_strdup(key);
    job->value = store_value_dup(value, len);
    job->len = len;
    job->max = max;
    job->cb.done = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_map_put(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, const void *value,
                     size_t len, tn_store_done_cb cb, void *ud)
{
    return tn_store_map_put_max(st, host, user, map, key, value, len, 0, cb,
                                ud);
}

int tn_store_map_del(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, tn_store_done_cb cb,
                     void *ud)
{
    if (!st || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(TN_STORE_MAP_DEL, host, user, map);
    if (!job)
        return TN_EINVAL;
    job->key = key ? tn_strdup(key) : NULL;
    job->cb.done = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_queue_push(tn_store_t *st, const char *host, const char *user,
                        const char *queue, const void *value, size_t len,
                        size_t max, tn_store_id_cb cb, void *ud)
{
    if (!st || !cb || !store_value_ok(value, len))
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(TN_STORE_QUEUE_PUSH, host, user, queue);
    if (!job)
        return TN_EINVAL;
    job->value = store_value_dup(value, len);
    job->len = len;
    job->max = max;
    job->cb.id = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_queue_all(tn_store_t *st, const char *host, const char *user,
                       const char *queue, tn_store_entries_cb cb, void *ud)
{
    if (!st || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(TN_STORE_QUEUE_ALL, host, user, queue);
    if (!job)
        return TN_EINVAL;
    job->cb.entries = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_queue_del(tn_store_t *st, const char *host, const char *user,
                       const char *queue, long long upto, tn_store_done_cb cb,
                       void *ud)
{
    if (!st || !cb)
        return TN_EINVAL;
    tn_store_job_t *job = store_kv_job(TN_STORE_QUEUE_DEL, host, user, queue);
    if (!job)
        return TN_EINVAL;
    job->id = upto;
    job->cb.done = cb;
    job->ud = ud;
    return store_enqueue(st, job);
}

int tn_store_queue_count(tn_store_t *st, const char *host, const char *user,
                         const char *queue, tn_store_count_cb cb, void *ud)
{
    return store_count(st, TN_STORE_QUEUE_COUNT, host, user, queue, cb, ud);
}
