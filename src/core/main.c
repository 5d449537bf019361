/* main.c -- ternd: loads the configuration, opens the store, loads the
 * modules, listens, and runs the loop until SIGTERM or SIGINT; then closes
 * every stream with system-shutdown and </stream:stream>, lets the store
 * finish its queue, checks that no libuv handle is left, and exits 0.
 * While running it gives free heap memory back to the kernel after bursts
 * (main_trim_cb). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__ /* defined by the headers above */
#include <malloc.h>
#endif
#include <uv.h>

#include "core/config.h"
#include "core/iqreq.h"
#include "core/module.h"
#include "core/server.h"
#include "core/version.h"
#include "net/c2s.h"
#include "net/http.h"
#include "net/s2s.h"
#include "net/conn.h"
#include "net/tls.h"
#include "net/tls13.h"
#include "store/store.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"

static tn_server_t main_srv;
static uv_signal_t main_sigterm, main_sigint;
static uv_timer_t main_drain;
static uv_timer_t main_trim;

/* How often the heap is checked (ms), and how much must have been freed
 * before it is trimmed: MAIN_TRIM_MIN_FREE bytes more than right after the
 * last trim, and free memory at least 1/8 of what malloc holds from the
 * system. */
#define MAIN_TRIM_INTERVAL_MS 10000
#define MAIN_TRIM_MIN_FREE (8u << 20)

static void main_usage(FILE *f)
{
    fprintf(f, "usage: ternd -c FILE\n"
               "  -c FILE   configuration (YAML)\n"
               "  -V        print the version and exit\n");
}

static void main_handle_closed(uv_handle_t *h)
{
    (void)h;
}

/* Every 50 ms during shutdown: once the last stream has gone, close the
 * store (which runs its remaining callbacks) and the timer; the loop then
 * runs out of handles and uv_run returns. */
static void main_drain_cb(uv_timer_t *t)
{
    if (tn_c2s_count() > 0 || tn_s2s_count() > 0)
        return;
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, main_handle_closed);
    tn_store_close(main_srv.store);
    main_srv.store = NULL;
}

/* glibc returns memory to the kernel only from the top of the heap. A
 * burst of TLS handshakes (about 36 KB of transient state each) grows the
 * heap, and the few long-lived allocations made meanwhile pin it: the
 * freed middle stays resident for good (19,000 connections at once, all
 * timed out: 678 MiB free inside the heap, 706 MiB RSS with no session
 * left). malloc_trim(0) hands back every free page in every arena
 * (madvise); on a 680 MiB heap it took 47 ms, on a 380 MiB heap with
 * little free 2 ms, so it runs only when much is free. ternd links
 * mimalloc, which returns emptied spans itself; this then sees only
 * glibc's own, nearly unused heap, and still serves builds on glibc's
 * allocator (the sanitizer builds). */
static void main_trim_cb(uv_timer_t *t)
{
    (void)t;
#ifdef __GLIBC__
    /* Free bytes right after the last trim. malloc still counts trimmed
     * pages as free, so the test is on what was freed since. */
    static size_t base;
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < base)
        base = mi.fordblks;
    if (mi.fordblks - base >= MAIN_TRIM_MIN_FREE &&
        mi.fordblks >= mi.arena / 8) {
        malloc_trim(0);
        base = mallinfo2().fordblks;
    }
#endif
}

static void main_signal_cb(uv_signal_t *h, int signum)
{
    tn_server_t *srv = &main_srv;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    tn_log(TN_LOG_INFO, "received %s, shutting down",
           signum == SIGTERM ? "SIGTERM" : "SIGINT");
    (void)h;
    uv_close((uv_handle_t *)&main_sigterm, main_handle_closed);
    uv_close((uv_handle_t *)&main_sigint, main_handle_closed);
    uv_close((uv_handle_t *)&main_trim, main_handle_closed);
    tn_c2s_unlisten(srv);
    tn_http_unlisten(srv);
    tn_c2s_close_all(srv, "system-shutdown");
    tn_http_close_all(srv);
    tn_s2s_shutdown(srv);
    uv_timer_init(srv->loop, &main_drain);
    uv_timer_start(&main_drain, main_drain_cb, 0, 50);
}

static void main_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    tn_log(TN_LOG_ERROR, "libuv handle left open at exit: %s",
           uv_handle_type_name(uv_handle_get_type(h)));
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "-V") == 0) {
            printf("tern %s\n", TN_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0) {
            main_usage(stdout);
            return 0;
        } else {
            main_usage(stderr);
            return 2;
        }
    }
    if (!path) {
        main_usage(stderr);
        return 2;
    }

    tn_config_t cfg;
    char *err = NULL;
    if (tn_config_load(path, &cfg, &err) < 0) {
        fprintf(stderr, "ternd: %s\n", err);
        tn_free(err);
        return 1;
    }
    tn_log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    tn_server_t *srv = &main_srv;
    srv->loop = uv_default_loop();
    srv->cfg = &cfg;
    srv->started = time(NULL);
    tn_random_bytes(srv->secret, sizeof srv->secret);
    tn_hmap_init(&srv->sessions);
    tn_hmap_init(&srv->services);
    tn_hmap_init(&srv->iqs);
    tn_hmap_init(&srv->users);
    tn_hmap_init(&srv->authfail);
    int rc = 1;

    srv->tls = tn_tls_server_ctx(cfg.tls_cert, cfg.tls_key, &err);
    if (!srv->tls)
        goto fail;
    if (!cfg.tls_tickets)
        tn_tls_no_tickets(srv->tls);
    if (cfg.tls_compact)
        tn_tls13_enable(srv->tls);
    srv->store = tn_store_open(srv->loop, cfg.storage_backend,
                               cfg.storage_path, &err);
    if (!srv->store)
        goto fail;
    if (tn_modules_load(srv, &err) < 0)
        goto fail;
    /* Federation first: loading the system's trust store takes a moment,
     * and a client that finds the c2s port open may signal us at once. */
    if (tn_s2s_start(srv, &err) < 0 || tn_c2s_listen(srv, &err) < 0 ||
        tn_http_listen(srv, &err) < 0)
        goto fail;

    uv_signal_init(srv->loop, &main_sigterm);
    uv_signal_init(srv->loop, &main_sigint);
    uv_signal_start(&main_sigterm, main_signal_cb, SIGTERM);
    uv_signal_start(&main_sigint, main_signal_cb, SIGINT);
    uv_timer_init(srv->loop, &main_trim);
    uv_timer_start(&main_trim, main_trim_cb, MAIN_TRIM_INTERVAL_MS,
                   MAIN_TRIM_INTERVAL_MS);
    uv_unref((uv_handle_t *)&main_trim);
    tn_log(TN_LOG_INFO, "tern %s serving %zu host(s), first %s", TN_VERSION,
           cfg.nhosts, cfg.hosts[0]);

    uv_run(srv->loop, UV_RUN_DEFAULT);
    rc = 0;
    goto done;

fail:
    tn_log(TN_LOG_ERROR, "%s", err ? err : "start-up failed");
    fprintf(stderr, "ternd: %s\n", err ? err : "start-up failed");
    tn_free(err);
    tn_c2s_unlisten(srv);
    tn_http_unlisten(srv);
    tn_s2s_shutdown(srv);
    if (srv->store) {
        tn_store_close(srv->store);
        srv->store = NULL;
    }
    uv_run(srv->loop, UV_RUN_DEFAULT);
done:
    tn_iq_cancel_all(srv);
    tn_conn_global_release();
    uv_run(srv->loop, UV_RUN_NOWAIT);
    tn_modules_unload(srv);
    tn_hmap_release(&srv->sessions);
    tn_hmap_release(&srv->services);
    tn_hmap_release(&srv->iqs);
    tn_hmap_release(&srv->users);
    tn_c2s_authfail_release(srv);
    tn_bosh_release();
    tn_s2s_release(srv);
    if (srv->tls)
        SSL_CTX_free(srv->tls);
    if (uv_loop_close(srv->loop) != 0) {
        uv_walk(srv->loop, main_walk_cb, NULL);
        rc = 1;
    }
    if (rc == 0)
        tn_log(TN_LOG_INFO, "stopped");
    tn_config_release(&cfg);
    return rc;
}
