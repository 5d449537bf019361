/* iqreq.c -- the server's own IQ requests and their answers (iqreq.h).
 * Pending requests sit in srv->iqs by id, each with a timer. */
#include "core/iqreq.h"

#include <string.h>

#include "core/router.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"

typedef struct iqreq {
    uv_timer_t timer;
    tn_server_t *srv;
    char *id;   /* owned; the key in srv->iqs */
    char *peer; /* owned: the full 'to' of the request */
    tn_iq_cb cb;
    void *ud;
} iqreq_t;

static void iqreq_closed(uv_handle_t *h)
{
    iqreq_t *r = h->data;
    tn_free(r->id);
    tn_free(r->peer);
    tn_free(r);
}

/* Unlinks r, runs its callback with reply and frees it. */
static void iqreq_finish(iqreq_t *r, tn_stanza_t *reply)
{
    tn_hmap_del(&r->srv->iqs, r->id);
    uv_timer_stop(&r->timer);
    r->cb(r->ud, reply);
    uv_close((uv_handle_t *)&r->timer, iqreq_closed);
}

static void iqreq_timeout(uv_timer_t *t)
{
    iqreq_t *r = t->data;
    tn_log(TN_LOG_DEBUG, "iq: no answer from %s to %s", r->peer, r->id);
    iqreq_finish(r, NULL);
}

void tn_iq_request(tn_server_t *srv, tn_stanza_t *iq, unsigned timeout_ms,
                   tn_iq_cb cb, void *ud)
{
    iqreq_t *r = TN_NEW(iqreq_t);
    r->srv = srv;
    char *rnd = tn_random_id(12);
    r->id = tn_sprintf("tn-%s", rnd);
    tn_free(rnd);
    const char *to = tn_stanza_attr(iq, "to");
    tn_jid_t j;
    /* The router compares canonical forms. */
    if (to && tn_jid_parse(to, &j) == 0) {
        r->peer = tn_strdup(j.full);
        tn_jid_release(&j);
    } else {
        r->peer = tn_strdup(to ? to : "");
    }
    r->cb = cb;
    r->ud = ud;
    uv_timer_init(srv->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, iqreq_timeout, timeout_ms, 0);
    uv_unref((uv_handle_t *)&r->timer);
    tn_hmap_put(&srv->iqs, r->id, r);
    tn_stanza_set_attr(iq, "id", r->id);
    tn_route(srv, iq, NULL);
}

int tn_iq_response(tn_server_t *srv, tn_stanza_t *st, const tn_jid_t *from)
{
    const char *id = tn_stanza_attr(st, "id");
    iqreq_t *r = id ? tn_hmap_get(&srv->iqs, id) : NULL;
    if (!r)
        return 0;
    if (!from || !from->full || strcmp(from->full, r->peer) != 0) {
        tn_log(TN_LOG_WARN, "iq: answer to %s from %s, not %s: ignored", id,
               from && from->full ? from->full : "(none)", r->peer);
        return 1;
    }
    iqreq_finish(r, st);
    return 1;
}

void tn_iq_cancel_all(tn_server_t *srv)
{
    size_t it;
    tn_hmap_entry_t *e;
    while ((e = tn_hmap_first(&srv->iqs, &it)) != NULL)
        iqreq_finish(e->value, NULL);
}
