/* router.c -- where a stanza goes (RFC 6120 10, RFC 6121 8.5 as far as the
 * foundation goes). Sessions hand it stanzas whose 'from' they stamped;
 * modules hand it replies. Three destinations are seams with one function
 * each, to be filled by later work and nowhere else:
 *   router_offline     message for a local user with no session (IM issue)
 *   router_other_node  a session on another cluster node (clustering)
 *   router_remote      a domain not served here (federation)
 * Until the IM work adds presence, a message to a bare JID goes to every
 * bound session of the account. */
#include "core/router.h"

#include <string.h>

#include "core/iqreq.h"
#include "core/module.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

void tn_route_error(tn_server_t *srv, const tn_stanza_t *st,
                    const char *type, const char *cond)
{
    if (!tn_stanza_attr(st, "from"))
        return; /* nobody to tell */
    tn_stanza_t *e = tn_error_reply(st, type, cond, NULL);
    if (!e)
        return;
    tn_log(TN_LOG_DEBUG, "router: %s error '%s' to %s", st->name, cond,
           tn_stanza_attr(st, "from"));
    tn_route(srv, e, NULL);
    tn_stanza_unref(e);
}

static int router_is(const tn_stanza_t *st, const char *name)
{
    return strcmp(st->name, name) == 0;
}

static const char *router_type(const tn_stanza_t *st)
{
    const char *t = tn_stanza_attr(st, "type");
    if (t)
        return t;
    return router_is(st, "message") ? "normal"
           : router_is(st, "presence") ? "available"
                                       : "";
}

/* The destination is a domain we do not serve: federation (srv->remote,
 * net/s2s.c) queues it for the s2s stream; without it the sender learns
 * at once. */
static void router_remote(tn_server_t *srv, tn_stanza_t *st,
                          const tn_jid_t *from, const tn_jid_t *to)
{
    if (srv->remote) {
        srv->remote(srv, st, from, to);
        return;
    }
    tn_log(TN_LOG_DEBUG, "router: no route to remote domain %s",
           to->domain);
    tn_route_error(srv, st, TN_ERR_CANCEL, "remote-server-not-found");
}

/* Seam: a message for a local account with no session to take it. The
 * offline module joins TN_HOOK_MESSAGE_OFFLINE and stores it (XEP-0160);
 * without it RFC 6121 8.5.2.2 allows service-unavailable for chat and
 * normal, and groupchat always gets it. */
static void router_offline(tn_server_t *srv, tn_stanza_t *st,
                           const tn_jid_t *from, const tn_jid_t *to)
{
    const char *type = router_type(st);
    if (strcmp(type, "headline") == 0 || strcmp(type, "error") == 0)
        return;
    if (strcmp(type, "groupchat") != 0) {
        tn_event_t ev = {srv, st, from, to, NULL};
        if (tn_hook_run(srv, TN_HOOK_MESSAGE_OFFLINE, &ev) != TN_PASS)
            return;
    }
    tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
}

/* Seam: before giving up on a full or bare JID, a cluster asks the other
 * nodes. One node has none; returns 0 when nothing was routed. */
static int router_other_node(tn_server_t *srv, tn_stanza_t *st,
                             const tn_jid_t *to)
{
    (void)srv;
    (void)st;
    (void)to;
    return 0;
}

/* The highest priority among the account's available resources, or -1
 * when none has a non-negative one (RFC 6121 8.5.2.1: negative priority
 * never receives bare-JID messages). */
static int router_top_priority(tn_sess_t *s)
{
    int top = -1;
    for (; s; s = s->next_res)
        if (s->available && s->priority > top)
            top = s->priority;
    return top;
}

/* Message to a bare JID (RFC 6121 8.5.2): chat and normal to the
 * available resources of highest non-negative priority (all of them on a
 * tie, as Prosody and ejabberd do), headline to every non-negative one,
 * groupchat refused, error dropped; with no such resource, offline. */
static void router_message_bare(tn_server_t *srv, tn_stanza_t *st,
                                const tn_jid_t *from, const tn_jid_t *to)
{
    const char *type = router_type(st);
    if (strcmp(type, "error") == 0)
        return;
    if (strcmp(type, "groupchat") == 0) {
        tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
        return;
    }
    tn_sess_t *s = tn_sessions_user(srv, to->bare);
    int top = router_top_priority(s);
    if (top < 0) {
        if (!router_other_node(srv, st, to))
            router_offline(srv, st, from, to);
        return;
    }
    int headline = strcmp(type, "headline") == 0;
    /* A send may close a slow reader, which unlinks it: step first. */
    while (s) {
        tn_sess_t *next = s->next_res;
        if (s->available && s->priority >= 0 &&
            (headline || s->priority == top))
            tn_sess_send(s, st);
        s = next;
    }
}

/* Presence to a local account that no module took: to every available
 * resource of a bare JID, or to the bound full JID. */
static void router_presence_local(tn_server_t *srv, tn_stanza_t *st,
                                  const tn_jid_t *to)
{
    if (to->resource) {
        tn_sess_t *s = tn_sessions_full(srv, to->full);
        if (s)
            tn_sess_send(s, st);
        return;
    }
    tn_sess_t *s = tn_sessions_user(srv, to->bare);
    while (s) {
        tn_sess_t *next = s->next_res;
        if (s->available)
            tn_sess_send(s, st);
        s = next;
    }
}

static void router_iq_service(tn_server_t *srv, tn_stanza_t *st,
                              tn_sess_t *sess, const tn_jid_t *from,
                              const tn_jid_t *to, int target)
{
    const char *type = router_type(st);
    int t = strcmp(type, "get") == 0   ? TN_IQ_GET
            : strcmp(type, "set") == 0 ? TN_IQ_SET
                                       : 0;
    if (!t) {
        /* Results and errors to the server or an account: answers to the
         * server's own requests (iqreq.h), or else they end here (RFC
         * 6120 8.2.3). */
        if (!tn_iq_response(srv, st, from))
            tn_log(TN_LOG_DEBUG, "router: dropped iq %s to %s", type,
                   to->full);
        return;
    }
    tn_event_t ev = {srv, st, from, to, sess};
    if (tn_modules_dispatch_iq(&ev, t, target) == TN_PASS)
        tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
}

/* router_route stages: the sender's hooks already ran; the account is
 * known to exist. */
enum { ROUTER_RESUMED = 1, ROUTER_ACCOUNT_OK = 2 };

static void router_route(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess,
                         int stage);

/* RFC 6121 8.5.1: the account does not exist. IQ get/set and messages
 * learn service-unavailable; a subscription request or probe gets
 * 'unsubscribed' so the sender's roster settles; the rest is ignored. */
static void router_no_account(tn_server_t *srv, tn_stanza_t *st,
                              const char *to_bare)
{
    const char *type = router_type(st);
    const char *from = tn_stanza_attr(st, "from");
    tn_log(TN_LOG_DEBUG, "router: %s to unknown account %s", st->name,
           to_bare);
    if (router_is(st, "presence")) {
        if (from && (strcmp(type, "subscribe") == 0 ||
                     strcmp(type, "probe") == 0)) {
            tn_stanza_t *p = tn_stanza_new("presence", TN_NS_CLIENT);
            tn_stanza_set_attr(p, "type", "unsubscribed");
            tn_stanza_set_attr(p, "from", to_bare);
            tn_stanza_set_attr(p, "to", from);
            router_route(srv, p, NULL, ROUTER_ACCOUNT_OK);
            tn_stanza_unref(p);
        }
        return;
    }
    if (router_is(st, "iq") && strcmp(type, "get") != 0 &&
        strcmp(type, "set") != 0)
        return;
    tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
}

typedef struct router_wait {
    tn_server_t *srv;
    tn_stanza_t *st; /* owned ref */
    tn_sess_t *sess; /* held, or NULL */
    char *bare;      /* owned */
} router_wait_t;

static void router_account_cb(void *ud, int status, const tn_account_t *a)
{
    router_wait_t *w = ud;
    (void)a;
    if (status == 0)
        router_route(w->srv, w->st, w->sess,
                     ROUTER_RESUMED | ROUTER_ACCOUNT_OK);
    else if (status == TN_ENOTFOUND)
        router_no_account(w->srv, w->st, w->bare);
    else if (!router_is(w->st, "presence"))
        tn_route_error(w->srv, w->st, TN_ERR_WAIT, "internal-server-error");
    if (w->sess)
        tn_sess_unhold(w->sess);
    tn_stanza_unref(w->st);
    tn_free(w->bare);
    tn_free(w);
}

/* Whether the local account `to` exists is known without asking the
 * store when one of its sessions is bound or it is the sender. Else the
 * stanza waits for the answer (holding the sender, so its later stanzas
 * keep their order) and routing resumes from the callback. Returns 1
 * when the stanza was taken. */
static int router_check_account(tn_server_t *srv, tn_stanza_t *st,
                                tn_sess_t *sess, const tn_jid_t *to,
                                const tn_sess_t *known)
{
    if (known || tn_sessions_user(srv, to->bare) ||
        (sess && strcmp(sess->jid.bare, to->bare) == 0))
        return 0;
    router_wait_t *w = TN_NEW(router_wait_t);
    w->srv = srv;
    w->st = tn_stanza_ref(st);
    w->bare = tn_strdup(to->bare);
    if (sess) {
        w->sess = sess;
        tn_sess_hold(sess);
    }
    if (tn_store_account_get(srv->store, to->domain, to->node,
                             router_account_cb, w) < 0)
        router_account_cb(w, TN_EIO, NULL);
    return 1;
}

static void router_route(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess,
                         int stage)
{
    const char *to_s = tn_stanza_attr(st, "to");
    const char *from_s = tn_stanza_attr(st, "from");
    tn_jid_t to = {0}, from_buf = {0};
    /* A session's own stamp is already canonical: no second parse. */
    const tn_jid_t *fromp = &from_buf;
    if (sess && sess->bound && from_s && strcmp(from_s, sess->jid.full) == 0)
        fromp = &sess->jid;
    else if (from_s && tn_jid_parse(from_s, &from_buf) < 0) {
        tn_log(TN_LOG_WARN, "router: dropped stanza with bad from '%s'",
               from_s);
        return;
    }
    /* A 'to' naming a session bound here is that session's canonical
     * JID: no parse needed (the common case of a chat message). */
    const tn_jid_t *tp = &to;
    tn_sess_t *known = to_s ? tn_sessions_full(srv, to_s) : NULL;
    if (known)
        tp = &known->jid;
    else if (to_s && tn_jid_parse(to_s, &to) < 0) {
        /* The error cannot come from an address that does not parse: the
         * server answers without a 'from' (RFC 6120 8.1.2.1, as for its
         * own replies on the stream). */
        tn_stanza_t *e = tn_error_reply(st, TN_ERR_MODIFY, "jid-malformed",
                                        NULL);
        if (e && from_s) {
            tn_stanza_set_attr(e, "from", NULL);
            tn_route(srv, e, NULL);
        }
        tn_stanza_unref(e);
        goto done;
    }
    tn_event_t ev = {srv, st, fromp, to_s ? tp : NULL, sess};
    if (sess && !(stage & ROUTER_RESUMED)) {
        if (tn_hook_run(srv, TN_HOOK_STANZA_OUT, &ev) == TN_DROP)
            goto done;
        if (router_is(st, "presence") &&
            tn_hook_run(srv, TN_HOOK_PRESENCE_OUT, &ev) != TN_PASS)
            goto done;
    }
    if (!to_s) {
        if (!sess || router_is(st, "presence")) {
            tn_log(TN_LOG_DEBUG, "router: %s without 'to' dropped",
                   st->name);
            goto done;
        }
        /* RFC 6120 10.3.3 / 8.1.1.1: handled on behalf of the account. */
        tn_jid_copy(&sess->jid, &to);
        tn_free(to.resource);
        to.resource = NULL;
        tn_free(to.full);
        to.full = tn_strdup(to.bare);
        tp = &to;
        ev.to = &to;
    }
    if (!tn_config_is_host(srv->cfg, tp->domain)) {
        tn_router_svc_t *svc = tn_hmap_get(&srv->services, tp->domain);
        if (svc)
            svc->cb(svc->ud, st, fromp, tp, sess);
        else
            router_remote(srv, st, from_s ? fromp : NULL, tp);
        goto done;
    }
    if (!tp->node) {
        if (router_is(st, "iq"))
            router_iq_service(srv, st, sess, fromp, tp, TN_TO_HOST);
        else
            tn_log(TN_LOG_DEBUG, "router: %s to host %s dropped", st->name,
                   tp->domain);
        goto done;
    }
    /* A local account: it must exist (RFC 6121 8.5.1), then its filters
     * (blocking) run. */
    if (!(stage & ROUTER_ACCOUNT_OK) &&
        router_check_account(srv, st, sess, tp, known))
        goto done;
    if (tn_hook_run(srv, TN_HOOK_STANZA_IN, &ev) == TN_DROP)
        goto done;
    if (router_is(st, "presence")) {
        if (tn_hook_run(srv, TN_HOOK_PRESENCE_IN, &ev) == TN_PASS)
            router_presence_local(srv, st, tp);
        goto done;
    }
    if (!tp->resource) {
        if (router_is(st, "iq"))
            router_iq_service(srv, st, sess, fromp, tp, TN_TO_BARE);
        else
            router_message_bare(srv, st, fromp, tp);
        goto done;
    }
    /* The session found for 'to' unless the hooks closed it meanwhile
     * (closing unbinds at once; the memory stays until the loop frees
     * it), in which case the full JID is looked up again. */
    tn_sess_t *dest = known && known->bound ? known
                                            : tn_sessions_full(srv, tp->full);
    if (dest) {
        tn_sess_send(dest, st);
        goto done;
    }
    if (router_other_node(srv, st, tp))
        goto done;
    if (router_is(st, "iq")) {
        const char *type = router_type(st);
        if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
            tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
    } else {
        /* RFC 6121 8.5.3.2.1: no such resource. */
        const char *type = router_type(st);
        if (strcmp(type, "normal") == 0 || strcmp(type, "chat") == 0)
            router_message_bare(srv, st, fromp, tp);
        else if (strcmp(type, "groupchat") == 0)
            tn_route_error(srv, st, TN_ERR_CANCEL, "service-unavailable");
    }
done:
    tn_jid_release(&to);
    tn_jid_release(&from_buf);
}

void tn_router_service(tn_server_t *srv, const char *domain, tn_service_cb cb,
                       void *ud)
{
    tn_free(tn_hmap_del(&srv->services, domain));
    if (!cb)
        return;
    tn_router_svc_t *svc = TN_NEW(tn_router_svc_t);
    svc->cb = cb;
    svc->ud = ud;
    tn_hmap_put(&srv->services, domain, svc);
}

void tn_route(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess)
{
    router_route(srv, st, sess, 0);
}

void tn_route_resume(tn_server_t *srv, tn_stanza_t *st, tn_sess_t *sess)
{
    /* Resumed from a TN_HOOK_STANZA_IN filter: the account check ran. */
    router_route(srv, st, sess, ROUTER_RESUMED | ROUTER_ACCOUNT_OK);
}
