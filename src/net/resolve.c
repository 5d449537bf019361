/* resolve.c -- c-ares on the libuv loop (resolve.h).
 *
 * c-ares tells us which sockets it wants watched (ARES_OPT_SOCK_STATE_CB);
 * each gets a uv_poll_t, and one timer drives c-ares's own timeouts.
 * Requests are small structs that c-ares's callbacks free; a cancelled
 * request only loses its callback, so nothing dangles whatever finishes
 * first. */
#include "net/resolve.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <string.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"

/* Per try of each server, and tries: an answer or a verdict within
 * about 8 s. */
#define RES_TIMEOUT_MS 2000
#define RES_TRIES 2
#define RES_MAX_ADDRS 8

typedef struct res_poll {
    uv_poll_t poll;
    ares_socket_t fd;
    tn_resolver_t *r;
    struct res_poll *next;
} res_poll_t;

struct tn_resolver {
    uv_loop_t *loop;
    ares_channel ch;
    uv_timer_t timer;
    res_poll_t *polls;
    int handles; /* open uv handles (timer + polls) */
    int freeing;
};

typedef struct srv_part {
    tn_srv_target_t *t;
    unsigned *prio, *w;
    size_t n, cap;
} srv_part_t;

struct tn_dns_req {
    tn_resolver_t *r;
    tn_srv_cb srv_cb;
    tn_addr_cb addr_cb;
    void *ud;
    int pending;   /* SRV: outstanding queries */
    int status[2]; /* SRV: per query */
    int dot[2];    /* SRV: the query answered only with "." */
    srv_part_t part;
    int port; /* address lookups */
    int cancelled;
    tn_dns_req_t **slot; /* the caller's pointer to us, or NULL */
};

static int res_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        return TN_ENOTFOUND;
    case ARES_ETIMEOUT:
        return TN_ETIMEDOUT;
    default:
        return TN_EIO;
    }
}

/* ---- loop integration -------------------------------------------------- */

static void res_handle_gone(tn_resolver_t *r)
{
    if (--r->handles == 0 && r->freeing)
        tn_free(r);
}

static void res_timer_closed(uv_handle_t *h)
{
    res_handle_gone(h->data);
}

static void res_poll_closed(uv_handle_t *h)
{
    res_poll_t *p = h->data;
    tn_resolver_t *r = p->r;
    tn_free(p);
    res_handle_gone(r);
}

static void res_on_timer(uv_timer_t *t);

static void res_arm(tn_resolver_t *r)
{
    struct timeval tv, *tvp = ares_timeout(r->ch, NULL, &tv);
    if (!tvp) {
        uv_timer_stop(&r->timer);
        return;
    }
    uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + (uint64_t)tvp->tv_usec / 1000;
    uv_timer_start(&r->timer, res_on_timer, ms ? ms : 1, 0);
}

static void res_on_timer(uv_timer_t *t)
{
    tn_resolver_t *r = t->data;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    res_arm(r);
}

static void res_on_poll(uv_poll_t *h, int status, int events)
{
    res_poll_t *p = h->data;
    tn_resolver_t *r = p->r;
    /* On an error let c-ares find out by reading. */
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    ares_process_fd(r->ch, events & UV_READABLE ? p->fd : ARES_SOCKET_BAD,
                    events & UV_WRITABLE ? p->fd : ARES_SOCKET_BAD);
    res_arm(r);
}

static void res_sock_state(void *data, ares_socket_t fd, int readable,
                           int writable)
{
    tn_resolver_t *r = data;
    res_poll_t **pp = &r->polls, *p;
    while ((p = *pp) && p->fd != fd)
        pp = &p->next;
    if (!readable && !writable) {
        if (p) {
            *pp = p->next;
            uv_poll_stop(&p->poll);
            uv_close((uv_handle_t *)&p->poll, res_poll_closed);
        }
        return;
    }
    if (!p) {
        p = TN_NEW(res_poll_t);
        p->fd = fd;
        p->r = r;
        if (uv_poll_init_socket(r->loop, &p->poll, fd) < 0) {
            tn_log(TN_LOG_WARN, "dns: cannot watch socket %d", (int)fd);
            tn_free(p);
            return;
        }
        p->poll.data = p;
        p->next = r->polls;
        r->polls = p;
        r->handles++;
    }
    uv_poll_start(&p->poll,
                  (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
                  res_on_poll);
}

tn_resolver_t *tn_resolver_new(uv_loop_t *loop, char *const *servers, size_t n,
                               char **err)
{
    static int lib_ready;
    if (!lib_ready) {
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
            *err = tn_sprintf("cannot initialize c-ares");
            return NULL;
        }
        lib_ready = 1;
    }
    tn_resolver_t *r = TN_NEW(tn_resolver_t);
    r->loop = loop;
    struct ares_options o;
    memset(&o, 0, sizeof o);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    o.sock_state_cb = res_sock_state;
    o.sock_state_cb_data = r;
    o.timeout = RES_TIMEOUT_MS;
    o.tries = RES_TRIES;
    if (n > 0) {
        /* Only the configured servers: no resolv.conf (its servers,
         * search list or options), DNS only (no hosts file). */
        o.resolvconf_path = (char *)"/dev/null";
        o.lookups = (char *)"b";
        o.ndomains = 0;
        o.domains = NULL;
        mask |= ARES_OPT_RESOLVCONF | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS;
    }
    int rc = ares_init_options(&r->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        *err =
            tn_sprintf("cannot start the DNS resolver: %s", ares_strerror(rc));
        tn_free(r);
        return NULL;
    }
    if (n > 0) {
        tn_buf_t csv;
        tn_buf_init(&csv);
        for (size_t i = 0; i < n; i++) {
            if (i)
                tn_buf_puts(&csv, ",");
            tn_buf_puts(&csv, servers[i]);
        }
        tn_buf_append(&csv, "", 1);
        rc = ares_set_servers_ports_csv(r->ch, csv.data);
        tn_buf_release(&csv);
        if (rc != ARES_SUCCESS) {
            *err = tn_sprintf("bad DNS servers: %s", ares_strerror(rc));
            ares_destroy(r->ch);
            tn_free(r);
            return NULL;
        }
    }
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->handles = 1;
    return r;
}

void tn_resolver_free(tn_resolver_t *r)
{
    if (!r)
        return;
    r->freeing = 1;
    /* Callbacks run with ARES_EDESTRUCTION and free their requests; the
     * sockets' state callbacks close the polls. */
    ares_destroy(r->ch);
    while (r->polls) {
        res_poll_t *p = r->polls;
        r->polls = p->next;
        uv_close((uv_handle_t *)&p->poll, res_poll_closed);
    }
    uv_close((uv_handle_t *)&r->timer, res_timer_closed);
}

void tn_dns_cancel(tn_dns_req_t *q)
{
    if (!q)
        return;
    q->cancelled = 1;
    if (q->slot)
        *q->slot = NULL;
    q->slot = NULL;
}

/* The request is over: the caller's slot no longer holds it. */
static void res_done(tn_dns_req_t *q)
{
    if (q->slot)
        *q->slot = NULL;
    q->slot = NULL;
}

/* ---- SRV --------------------------------------------------------------- */

void tn_srv_order(tn_srv_target_t *t, unsigned *prio, unsigned *w, size_t n)
{
    /* Insertion sort by priority, zero weights first within one (RFC 2782
     * puts them at the start of the selection list). */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i;
             j > 0 && (prio[j] < prio[j - 1] ||
                       (prio[j] == prio[j - 1] && w[j] == 0 && w[j - 1] != 0));
             j--) {
            tn_srv_target_t tt = t[j];
            t[j] = t[j - 1];
            t[j - 1] = tt;
            unsigned x = prio[j];
            prio[j] = prio[j - 1];
            prio[j - 1] = x;
            x = w[j];
            w[j] = w[j - 1];
            w[j - 1] = x;
        }
    /* Within each priority, pick by running weight sums. */
    for (size_t start = 0; start < n;) {
        size_t end = start;
        while (end < n && prio[end] == prio[start])
            end++;
        for (size_t k = start; k + 1 < end; k++) {
            unsigned long sum = 0;
            for (size_t j = k; j < end; j++)
                sum += w[j];
            uint32_t rnd;
            tn_random_bytes(&rnd, sizeof rnd);
            unsigned long pick = sum ? rnd % (sum + 1) : 0, run = 0;
            size_t j = k;
            for (; j < end; j++) {
                run += w[j];
                if (run >= pick)
                    break;
            }
            if (j == end)
                j = end - 1;
            tn_srv_target_t tt = t[k];
            t[k] = t[j];
            t[j] = tt;
            unsigned x = w[k];
            w[k] = w[j];
            w[j] = x;
        }
        start = end;
    }
}

static void srv_part_add(srv_part_t *p, const char *host, int port, int direct,
                         unsigned prio, unsigned w)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 4;
        p->t = tn_realloc(p->t, p->cap * sizeof *p->t);
        p->prio = tn_realloc(p->prio, p->cap * sizeof *p->prio);
        p->w = tn_realloc(p->w, p->cap * sizeof *p->w);
    }
    p->t[p->n] = (tn_srv_target_t){tn_strdup(host), port, direct};
    p->prio[p->n] = prio;
    p->w[p->n] = w;
    p->n++;
}

static void srv_finish(tn_dns_req_t *q)
{
    res_done(q);
    if (!q->cancelled && q->srv_cb) {
        int st = 0;
        if (q->part.n == 0) {
            /* Neither query had records: "." answers mean no service;
             * otherwise no SRV at all (or a failure to report). */
            if (q->dot[0] || q->dot[1])
                st = 0;
            else if (q->status[1] == TN_ENOTFOUND &&
                     q->status[0] == TN_ENOTFOUND)
                st = TN_ENOTFOUND;
            else
                st = q->status[1] != TN_ENOTFOUND && q->status[1] ? q->status[1]
                     : q->status[0]                               ? q->status[0]
                                    : TN_ENOTFOUND;
        } else {
            tn_srv_order(q->part.t, q->part.prio, q->part.w, q->part.n);
        }
        q->srv_cb(q->ud, st, q->part.t, q->part.n);
    }
    for (size_t i = 0; i < q->part.n; i++)
        tn_free(q->part.t[i].host);
    tn_free(q->part.t);
    tn_free(q->part.prio);
    tn_free(q->part.w);
    tn_free(q);
}

typedef struct srv_sub {
    tn_dns_req_t *q;
    int direct;
} srv_sub_t;

static void srv_on_answer(void *arg, int status, int timeouts,
                          unsigned char *abuf, int alen)
{
    srv_sub_t *s = arg;
    tn_dns_req_t *q = s->q;
    int direct = s->direct;
    (void)timeouts;
    tn_free(s);
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
        q->cancelled = 1;
    } else {
        struct ares_srv_reply *rep = NULL;
        if (status == ARES_SUCCESS)
            status = ares_parse_srv_reply(abuf, alen, &rep);
        q->status[direct] = res_status(status);
        int any = 0;
        for (struct ares_srv_reply *x = rep; x; x = x->next) {
            if (strcmp(x->host, ".") == 0 || !*x->host) {
                q->dot[direct] = 1;
                continue;
            }
            any = 1;
            srv_part_add(&q->part, x->host, x->port, direct, x->priority,
                         x->weight);
        }
        if (any)
            q->dot[direct] = 0;
        if (rep)
            ares_free_data(rep);
    }
    if (--q->pending == 0)
        srv_finish(q);
}

void tn_resolve_srv(tn_resolver_t *r, const char *domain, tn_srv_cb cb,
                    void *ud, tn_dns_req_t **slot)
{
    tn_dns_req_t *q = TN_NEW(tn_dns_req_t);
    q->r = r;
    q->srv_cb = cb;
    q->ud = ud;
    q->slot = slot;
    *slot = q;
    q->pending = 2;
    static const char *const svc[2] = {"_xmpp-server._tcp.",
                                       "_xmpps-server._tcp."};
    for (int i = 0; i < 2; i++) {
        srv_sub_t *s = TN_NEW(srv_sub_t);
        s->q = q;
        s->direct = i;
        char *name = tn_sprintf("%s%s", svc[i], domain);
        ares_query(r->ch, name, ns_c_in, ns_t_srv, srv_on_answer, s);
        tn_free(name);
    }
    res_arm(r);
}

/* ---- addresses --------------------------------------------------------- */

static void addr_on_answer(void *arg, int status, int timeouts,
                           struct ares_addrinfo *res)
{
    tn_dns_req_t *q = arg;
    (void)timeouts;
    struct sockaddr_storage addrs[RES_MAX_ADDRS];
    size_t n = 0;
    if (status == ARES_SUCCESS && res) {
        for (struct ares_addrinfo_node *a = res->nodes; a && n < RES_MAX_ADDRS;
             a = a->ai_next) {
            if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) ||
                a->ai_addrlen > sizeof addrs[0])
                continue;
            memset(&addrs[n], 0, sizeof addrs[n]);
            memcpy(&addrs[n], a->ai_addr, a->ai_addrlen);
            if (a->ai_family == AF_INET)
                ((struct sockaddr_in *)&addrs[n])->sin_port =
                    htons((uint16_t)q->port);
            else
                ((struct sockaddr_in6 *)&addrs[n])->sin6_port =
                    htons((uint16_t)q->port);
            n++;
        }
    }
    if (res)
        ares_freeaddrinfo(res);
    res_done(q);
    if (status != ARES_EDESTRUCTION && status != ARES_ECANCELLED &&
        !q->cancelled && q->addr_cb) {
        int st = res_status(status);
        if (st == 0 && n == 0)
            st = TN_ENOTFOUND;
        q->addr_cb(q->ud, st, addrs, n);
    }
    tn_free(q);
}

void tn_resolve_addr(tn_resolver_t *r, const char *host, int port,
                     tn_addr_cb cb, void *ud, tn_dns_req_t **slot)
{
    tn_dns_req_t *q = TN_NEW(tn_dns_req_t);
    q->r = r;
    q->addr_cb = cb;
    q->ud = ud;
    q->port = port;
    q->slot = slot;
    *slot = q;
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* An absolute name: never a search-list expansion. */
    size_t len = strlen(host);
    char *name =
        len && host[len - 1] == '.' ? tn_strdup(host) : tn_sprintf("%s.", host);
    ares_getaddrinfo(r->ch, name, NULL, &hints, addr_on_answer, q);
    tn_free(name);
    res_arm(r);
}
