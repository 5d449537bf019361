/* store.h -- asynchronous storage. Modules ask; callbacks run later on the
 * loop thread. The SQLite backend runs queries on a storage thread of its
 * own (WAL mode, synchronous=NORMAL) and commits the writes that arrived
 * together in one transaction (group commit). Schemas carry a version
 * (PRAGMA user_version) and migrate forward on open.
 *
 * Callback rule (STYLE.md 7): a call that fails immediately returns a
 * negative code and never calls back; otherwise the callback runs exactly
 * once, on the loop thread, never from inside the call itself.
 *
 * Data kinds, all keyed by (host, user) and all behind the same thread and
 * queue:
 *   - accounts: SCRAM credentials only, never a password;
 *   - maps: named per-account maps of key -> value bytes (roster items,
 *     private XML, vCard, blocking list), sorted by key;
 *   - queues: named per-account append-only lists of value bytes with
 *     increasing ids (offline messages), read in id order and deleted up
 *     to an id.
 * Deleting an account deletes its maps and queues in the same transaction.
 * Archives (MAM) come later. */
#ifndef TN_STORE_STORE_H
#define TN_STORE_STORE_H

#include <stddef.h>
#include <uv.h>

#include "xmpp/scram.h"

typedef struct tn_store tn_store_t;

typedef struct tn_account {
    char *user; /* owned; canonical localpart */
    char *host; /* owned; canonical domain */
    tn_scram_cred_t sha1;
    tn_scram_cred_t sha256;
} tn_account_t;

/* Opens the store at path (created if absent, schema migrated). loop is
 * where callbacks run. backend is "sqlite" (NULL means "sqlite"); the parent
 * directory must exist. Runs on the calling thread (the migration blocks
 * it). Returns NULL with *err (fresh message, "cannot open PATH: reason"
 * and the like; err may be NULL) on failure.
 *
 * Loop liveness: the store keeps the loop alive only while requests are
 * outstanding, so uv_run(loop, UV_RUN_DEFAULT) returns once every callback
 * has run if nothing else is active; an idle store never holds a loop. */
tn_store_t *tn_store_open(uv_loop_t *loop, const char *backend,
                          const char *path, char **err);
/* Finishes queued work, runs the remaining callbacks (in order, from inside
 * this call), stops the thread and starts closing the store's libuv handle.
 * Must be called on the loop thread, once. From the moment it is called,
 * new requests (also from the callbacks it runs) fail with TN_ECLOSED.
 * Calling it from a store callback is allowed.
 *
 * The memory is freed in the handle's close callback: the caller must run
 * the loop afterwards, e.g. uv_run(loop, UV_RUN_DEFAULT) until it returns,
 * before uv_loop_close (which fails with UV_EBUSY until then). st must not
 * be used after this call. NULL is ignored. */
void tn_store_close(tn_store_t *st);

/* Requests: each returns 0 (the callback will run exactly once, later,
 * on the loop thread), TN_EINVAL (bad argument) or TN_ECLOSED (store
 * closing); on error the callback never runs. Callbacks run in the order
 * the requests were made, and a request sees the writes made before it. All
 * strings and accounts passed in are copied.
 *
 * A credential whose iterations is 0 means "no credential for this hash"
 * and is stored and returned as such (zeroed, hash set). salt_len must be
 * at most TN_SCRAM_MAX_SALT; the keys are tn_scram_key_len(hash) bytes.
 *
 * Lookup. status 0 and acct (borrowed for the call) when found; status
 * TN_ENOTFOUND and acct NULL when not; another TN_E* code on failure. */
typedef void (*tn_store_account_cb)(void *ud, int status,
                                    const tn_account_t *acct);
int tn_store_account_get(tn_store_t *st, const char *host, const char *user,
                         tn_store_account_cb cb, void *ud);

/* Write completion: status 0, or TN_EEXIST (create of an existing
 * account), TN_ENOTFOUND (update/delete of a missing one or of a missing
 * map key), TN_ELIMIT (tn_store_map_put_max over its limit), TN_EIO. */
typedef void (*tn_store_done_cb)(void *ud, int status);
/* Creates acct (copied); fails with TN_EEXIST if present. The new account
 * starts with no maps or queues (stray rows for user@host are removed). */
int tn_store_account_create(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud);
/* Replaces the credentials of an existing account. */
int tn_store_account_update(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud);
/* Deletes the account user@host and, in the same transaction, all its
 * maps and queues; TN_ENOTFOUND (and nothing deleted) if there is none. */
int tn_store_account_delete(tn_store_t *st, const char *host,
                            const char *user, tn_store_done_cb cb, void *ud);

/* Lists the users of host, sorted by byte order (UTF-8). users (borrowed
 * for the call) holds n localparts; NULL when n is 0. */
typedef void (*tn_store_list_cb)(void *ud, int status, char **users,
                                 size_t n);
int tn_store_account_list(tn_store_t *st, const char *host,
                          tn_store_list_cb cb, void *ud);

/* Frees user and host and wipes the whole struct (credentials included);
 * acct may then be reused. NULL is ignored. */
void tn_account_release(tn_account_t *acct);

/* ---- maps ----------------------------------------------------------------
 * A map is named by (host, user, map); its keys are NUL-terminated strings
 * (the empty string is a key like any other) compared as bytes, its values
 * any bytes, NULs included (up to INT_MAX bytes). host, user and map must be
 * non-empty. A map exists as long as it has a key; there is nothing to
 * create. tn_store_account_delete removes every map of the account, and
 * tn_store_account_create clears any left over (from a write that raced with
 * a delete), so a new account starts empty.
 *
 * The requests follow the rules above: 0 and one callback later, or
 * TN_EINVAL / TN_ECLOSED and no callback. On failure (TN_EIO...) items is
 * NULL and n 0. */
typedef struct tn_store_item {
    char *key;   /* owned by the store; NUL-terminated */
    char *value; /* owned by the store; NUL-terminated for convenience */
    size_t len;  /* bytes in value, not counting that NUL */
} tn_store_item_t;
/* items (borrowed for the call, NULL when n is 0) are sorted by key (byte
 * order). */
typedef void (*tn_store_items_cb)(void *ud, int status,
                                  const tn_store_item_t *items, size_t n);
/* status 0 and n, or a TN_E* code and n 0. */
typedef void (*tn_store_count_cb)(void *ud, int status, size_t n);

/* One key: status 0 with n == 1, or TN_ENOTFOUND with n == 0. */
int tn_store_map_get(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, tn_store_items_cb cb,
                     void *ud);
/* Every key of the map (status 0, n may be 0). */
int tn_store_map_all(tn_store_t *st, const char *host, const char *user,
                     const char *map, tn_store_items_cb cb, void *ud);
/* The number of keys in the map (0 for a map that has none). */
int tn_store_map_count(tn_store_t *st, const char *host, const char *user,
                       const char *map, tn_store_count_cb cb, void *ud);
/* Inserts or replaces key (value is copied; it may be NULL when len is
 * 0). Status 0 or TN_EIO. */
int tn_store_map_put(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, const void *value,
                     size_t len, tn_store_done_cb cb, void *ud);
/* Like tn_store_map_put, but stores only if key is already in the map or
 * the map has fewer than max keys; otherwise fails with TN_ELIMIT and
 * changes nothing. The check and the write are one step on the storage
 * thread, so concurrent requests cannot overshoot max. max 0 means no
 * limit. */
int tn_store_map_put_max(tn_store_t *st, const char *host, const char *user,
                         const char *map, const char *key, const void *value,
                         size_t len, size_t max, tn_store_done_cb cb, void *ud);
/* Deletes one key (TN_ENOTFOUND if absent) or, with key NULL, the whole
 * map (status 0 even if it was empty). */
int tn_store_map_del(tn_store_t *st, const char *host, const char *user,
                     const char *map, const char *key, tn_store_done_cb cb,
                     void *ud);

/* ---- queues --------------------------------------------------------------
 * A queue is named by (host, user, queue) like a map and holds entries of
 * value bytes under ids that only ever increase (across all queues; an id
 * is never reused, even after its entry is deleted). The same argument
 * rules and account cascade as for maps apply.
 *
 * A write's callback reporting status 0 runs only after the transaction
 * holding it has committed: with WAL and synchronous=NORMAL the entry then
 * survives a crash of the process (kill -9), though not necessarily a power
 * cut. */
typedef struct tn_store_entry {
    long long id; /* increasing within the queue */
    char *value;  /* owned by the store; NUL-terminated for convenience */
    size_t len;   /* bytes in value, not counting that NUL */
} tn_store_entry_t;
/* e (borrowed for the call, NULL when n is 0) is in id order. */
typedef void (*tn_store_entries_cb)(void *ud, int status,
                                    const tn_store_entry_t *e, size_t n);
/* status 0 and the new entry's id (> 0), or a TN_E* code and id 0. */
typedef void (*tn_store_id_cb)(void *ud, int status, long long id);

/* Appends value (copied; NULL allowed when len is 0) unless the queue
 * already holds max entries (TN_ELIMIT; max 0 means no limit). */
int tn_store_queue_push(tn_store_t *st, const char *host, const char *user,
                        const char *queue, const void *value, size_t len,
                        size_t max, tn_store_id_cb cb, void *ud);
/* All entries of the queue in id order (status 0, n may be 0). */
int tn_store_queue_all(tn_store_t *st, const char *host, const char *user,
                       const char *queue, tn_store_entries_cb cb, void *ud);
/* Deletes the entries with id <= upto; status 0 even if there were none
 * (so a repeated acknowledgement is harmless). */
int tn_store_queue_del(tn_store_t *st, const char *host, const char *user,
                       const char *queue, long long upto, tn_store_done_cb cb,
                       void *ud);
/* The number of entries in the queue. */
int tn_store_queue_count(tn_store_t *st, const char *host, const char *user,
                         const char *queue, tn_store_count_cb cb, void *ud);

#endif
