/* s2s.c -- federation setup and the pieces both directions share: the
 * router's "another domain" destination, stream headers, the namespace
 * of stanzas on the wire, bounces. Inbound streams are in s2s_in.c,
 * outbound ones and dialback verification in s2s_out.c. */
#include "net/s2s.h"

#include <string.h>

#include "core/router.h"
#include "net/s2s_int.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/rand.h"
#include "xml/ns.h"
#include "xmpp/error.h"
#include "xmpp/jid.h"

s2s_ctx_t s2s;

int s2s_hosted(const char *domain)
{
    return domain && (tn_config_is_host(s2s.srv->cfg, domain) ||
                      tn_hmap_get(&s2s.srv->services, domain) != NULL);
}

void s2s_header(tn_buf_t *b, const char *from, const char *to, const char *id)
{
    tn_buf_puts(b, "<?xml version='1.0'?><stream:stream xmlns='" TN_NS_SERVER
                   "' xmlns:stream='" TN_NS_STREAM "' xmlns:db='" TN_NS_DIALBACK
                   "'");
    if (id) {
        tn_buf_puts(b, " id='");
        tn_buf_append_xml(b, id, strlen(id), 1);
        tn_buf_puts(b, "'");
    }
    if (from) {
        tn_buf_puts(b, " from='");
        tn_buf_append_xml(b, from, strlen(from), 1);
        tn_buf_puts(b, "'");
    }
    if (to) {
        tn_buf_puts(b, " to='");
        tn_buf_append_xml(b, to, strlen(to), 1);
        tn_buf_puts(b, "'");
    }
    tn_buf_puts(b, " version='1.0' xml:lang='en'>");
}

void s2s_db_start(tn_buf_t *b, const char *name, const char *from,
                  const char *to)
{
    tn_buf_puts(b, "<db:");
    tn_buf_puts(b, name);
    tn_buf_puts(b, " from='");
    tn_buf_append_xml(b, from, strlen(from), 1);
    tn_buf_puts(b, "' to='");
    tn_buf_append_xml(b, to, strlen(to), 1);
    tn_buf_puts(b, "'");
}

void s2s_db_end(tn_buf_t *b, const char *name, const char *type,
                const char *cond)
{
    tn_buf_puts(b, " type='");
    tn_buf_puts(b, type);
    if (!cond) {
        tn_buf_puts(b, "'/>");
        return;
    }
    tn_buf_puts(b, "'><error type='cancel'><");
    tn_buf_puts(b, cond);
    tn_buf_puts(b, " xmlns='" TN_NS_STANZAS "'/></error></db:");
    tn_buf_puts(b, name);
    tn_buf_puts(b, ">");
}

void s2s_to_client_ns(tn_stanza_t *st)
{
    if (!st->name)
        return;
    if (st->ns && strcmp(st->ns, TN_NS_SERVER) == 0) {
        tn_stanza_str_free(st->ns);
        st->ns = tn_stanza_str(TN_NS_CLIENT);
    }
    for (size_t i = 0; i < st->nkids; i++)
        s2s_to_client_ns(st->kids[i]);
}

int s2s_write_stanza(tn_conn_t *conn, const char *dir, uint64_t id,
                     const tn_stanza_t *st)
{
    /* Straight into the connection's output (no copy). */
    tn_buf_t *b = tn_conn_wbuf(conn);
    if (!b)
        return -1;
    size_t start = b->len;
    /* The stream's default namespace is jabber:server: stanzas written
     * as if it were jabber:client carry no xmlns where tern's
     * jabber:client stands, so they read as jabber:server (RFC 6120
     * 4.8.3); anything nested in another namespace keeps its own. */
    tn_stanza_serialize(st, TN_NS_CLIENT, b);
    s2s_log_xml(dir, id, b->data + start, b->len - start);
    tn_conn_wrote(conn);
    return 0;
}

void s2s_log_xml(const char *dir, uint64_t id, const char *data, size_t len)
{
    if (tn_log_enabled(TN_LOG_DEBUG))
        tn_log(TN_LOG_DEBUG, "s2s %s %llu: %.*s", dir, (unsigned long long)id,
               (int)(len > 2000 ? 2000 : len), data);
}

void s2s_bounce(tn_stanza_t *st, const char *type, const char *cond,
                const char *text)
{
    const char *t = tn_stanza_attr(st, "type");
    if ((t && strcmp(t, "error") == 0) || !tn_stanza_attr(st, "from"))
        return;
    /* Results are answers: nobody waits for an error about them. */
    if (strcmp(st->name, "iq") == 0 && t && strcmp(t, "result") == 0)
        return;
    tn_stanza_t *e = tn_error_reply(st, type, cond, text);
    if (!e)
        return;
    tn_route(s2s.srv, e, NULL);
    tn_stanza_unref(e);
}

const char *s2s_deliver(tn_stanza_t *st, int (*sender_ok)(void *, const char *),
                        void *ud, const char *only_to, const char *who)
{
    const char *from_s = tn_stanza_attr(st, "from");
    const char *to_s = tn_stanza_attr(st, "to");
    tn_jid_t from = {0}, to = {0};
    const char *cond = NULL;
    if (!from_s || !to_s || tn_jid_parse(from_s, &from) < 0 ||
        tn_jid_parse(to_s, &to) < 0) {
        cond = "improper-addressing";
    } else if (!sender_ok(ud, from.domain)) {
        tn_log(TN_LOG_WARN,
               "%s: %s from %s, a domain not authenticated on this stream", who,
               st->name, from_s);
        cond = "invalid-from";
    } else if (!s2s_hosted(to.domain) ||
               (only_to && strcmp(to.domain, only_to) != 0)) {
        cond = "host-unknown";
    } else {
        s2s_to_client_ns(st);
        tn_route(s2s.srv, st, NULL);
    }
    tn_jid_release(&from);
    tn_jid_release(&to);
    return cond;
}

/* The router's "another domain": from a domain of ours (a host or a
 * service), to anywhere else. */
static void s2s_route(tn_server_t *srv, tn_stanza_t *st, const tn_jid_t *from,
                      const tn_jid_t *to)
{
    (void)srv;
    if (!from || !s2s_hosted(from->domain)) {
        tn_log(TN_LOG_WARN,
               "s2s: dropped %s to %s: not from a local domain "
               "(%s)",
               st->name, to->domain, from ? from->full : "no from");
        return;
    }
    if (s2s.stopping) {
        s2s_bounce(st, TN_ERR_CANCEL, "remote-server-not-found",
                   "Server shutting down");
        return;
    }
    s2s_out_send(from->domain, to->domain, st);
}

int tn_s2s_start(tn_server_t *srv, char **err)
{
    const tn_config_t *cfg = srv->cfg;
    /* Federation needs an s2s listener: peers connect back to verify
     * dialback keys and send their stanzas on streams of their own.
     * Without one, remote domains stay unreachable (the router bounces
     * remote-server-not-found at once). */
    size_t nlisten = 0;
    for (size_t i = 0; i < cfg->nlisten; i++)
        nlisten += cfg->listen[i].service == TN_SVC_S2S;
    if (nlisten == 0)
        return 0;
    memset(&s2s, 0, sizeof s2s);
    s2s.srv = srv;
    s2s.next_id = 1;
    tn_hmap_init(&s2s.out);
    tn_hmap_init(&s2s.bidi);
    tn_hmap_init(&s2s.backoff);
    if (cfg->s2s_dialback_secret) {
        size_t n = strlen(cfg->s2s_dialback_secret);
        if (n > sizeof s2s.secret)
            n = sizeof s2s.secret;
        memcpy(s2s.secret, cfg->s2s_dialback_secret, n);
        s2s.secret_len = n;
    } else {
        tn_random_bytes(s2s.secret, 32);
        s2s.secret_len = 32;
    }
    if (tn_s2s_tls_init(&s2s.tls, cfg->tls_cert, cfg->tls_key, cfg->s2s_ca_file,
                        err) < 0)
        return TN_EIO;
    s2s.res = tn_resolver_new(srv->loop, cfg->s2s_resolvers,
                              cfg->ns2s_resolvers, err);
    if (!s2s.res)
        return TN_EIO;
    if (s2s_in_listen(err) < 0)
        return TN_EIO;
    srv->remote = s2s_route;
    return 0;
}

void tn_s2s_shutdown(tn_server_t *srv)
{
    if (s2s.srv != srv || s2s.stopping)
        return;
    s2s.stopping = 1;
    s2s_in_unlisten();
    s2s_in_close_all();
    s2s_out_close_all();
    tn_resolver_free(s2s.res);
    s2s.res = NULL;
}

size_t tn_s2s_count(void)
{
    return s2s.nconns;
}

void tn_s2s_release(tn_server_t *srv)
{
    if (s2s.srv != srv)
        return;
    srv->remote = NULL;
    tn_hmap_release(&s2s.out);
    tn_hmap_release(&s2s.bidi);
    tn_hmap_release_free(&s2s.backoff);
    tn_s2s_tls_release(&s2s.tls);
    OPENSSL_cleanse(s2s.secret, sizeof s2s.secret);
}
