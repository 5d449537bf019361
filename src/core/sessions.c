/* sessions.c -- the table of bound sessions: full JID -> session, and bare
 * JID -> list of that account's sessions. The "another node" lookups of a
 * cluster will sit behind the same calls (DESIGN.md, clustering seam). */
#include <string.h>

#include "core/server.h"
#include "core/session.h"
#include "util/log.h"

int tn_sess_send(tn_sess_t *s, tn_stanza_t *st)
{
    return s->ops->send(s, st);
}

void tn_sess_hold(tn_sess_t *s)
{
    s->ops->hold(s, 1);
}

void tn_sess_unhold(tn_sess_t *s)
{
    s->ops->hold(s, 0);
}

void tn_sess_release(tn_sess_t *s)
{
    tn_jid_release(&s->jid);
    tn_stanza_unref(s->presence);
    s->presence = NULL;
}

void tn_sessions_add(tn_server_t *srv, tn_sess_t *s)
{
    tn_sess_t *old = tn_hmap_get(&srv->sessions, s->jid.full);
    if (old) {
        tn_log(TN_LOG_INFO, "c2s %llu: %s replaced by a new login",
               (unsigned long long)old->id, old->jid.full);
        /* close() unlinks old from this table before returning. */
        old->ops->close(old, "conflict", "Replaced by new connection");
    }
    tn_hmap_put(&srv->sessions, s->jid.full, s);
    s->next_res = tn_hmap_get(&srv->users, s->jid.bare);
    tn_hmap_put(&srv->users, s->jid.bare, s);
    s->bound = 1;
    srv->nsessions++;
}

void tn_sessions_remove(tn_server_t *srv, tn_sess_t *s)
{
    if (!s->bound)
        return;
    s->bound = 0;
    if (tn_hmap_get(&srv->sessions, s->jid.full) == s)
        tn_hmap_del(&srv->sessions, s->jid.full);
    tn_sess_t *head = tn_hmap_get(&srv->users, s->jid.bare);
    if (head == s) {
        if (s->next_res)
            tn_hmap_put(&srv->users, s->jid.bare, s->next_res);
        else
            tn_hmap_del(&srv->users, s->jid.bare);
    } else {
        for (tn_sess_t *p = head; p; p = p->next_res)
            if (p->next_res == s) {
                p->next_res = s->next_res;
                break;
            }
    }
    s->next_res = NULL;
    srv->nsessions--;
}

tn_sess_t *tn_sessions_full(tn_server_t *srv, const char *full)
{
    return tn_hmap_get(&srv->sessions, full);
}

tn_sess_t *tn_sessions_user(tn_server_t *srv, const char *bare)
{
    return tn_hmap_get(&srv->users, bare);
}

void tn_sessions_close_all(tn_server_t *srv, const char *cond)
{
    /* close() removes each session from the table, so restart the
     * iteration after every close. */
    size_t it;
    tn_hmap_entry_t *e;
    while ((e = tn_hmap_first(&srv->sessions, &it)) != NULL) {
        tn_sess_t *s = e->value;
        s->ops->close(s, cond, NULL);
        if (tn_hmap_get(&srv->sessions, e->key) == s)
            tn_sessions_remove(srv, s); /* defensive: never loop forever */
    }
}
