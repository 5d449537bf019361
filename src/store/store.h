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
 * Data kinds so far: accounts (SCRAM credentials only, never a password).
 * Later issues add rosters, offline messages, archives... behind the same
 * thread and queue. */
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
 * account), TN_ENOTFOUND (update/delete of a missing one), TN_EIO. */
typedef void (*tn_store_done_cb)(void *ud, int status);
/* Creates acct (copied); fails with TN_EEXIST if present. */
int tn_store_account_create(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud);
/* Replaces the credentials of an existing account. */
int tn_store_account_update(tn_store_t *st, const tn_account_t *acct,
                            tn_store_done_cb cb, void *ud);
/* Deletes the account user@host; TN_ENOTFOUND if there is none. */
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

#endif
