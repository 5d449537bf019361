/* pubsub_notify.c -- event notifications (XEP-0060 7.1.2, 7.2.2, 8.2.5,
 * 8.4.2, 8.5.2), subscription state messages (8.8.4), the last published
 * item (6.1.7) and authorization requests to owners (8.6). Each event is
 * one message whose serialization is shared by all its recipients
 * (tn_stanza_wire_cache); each copy goes through the router. */
#include <stdint.h>
#include <string.h>

#include "core/router.h"
#include "mod/pubsub.h"
#include "util/mem.h"
#include "xml/ns.h"
#include "xmpp/form.h"

ps_extra_cb ps_notify_extra;

/* A message from the service with <event><kind node='N'/></event>;
 * *child is that element. Caller owns the message. */
static tn_stanza_t *event_message(ps_node_t *n, const char *kind,
                                  tn_stanza_t **child)
{
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(m, "from", n->svc->jid);
    tn_stanza_set_attr(m, "type", n->cfg.headline ? "headline" : "normal");
    tn_stanza_t *ev = tn_stanza_add_child(m, "event", PS_NS_EVENT);
    *child = tn_stanza_add_child(ev, kind, NULL);
    tn_stanza_set_attr(*child, "node", n->name);
    return m;
}

static void send_to(tn_server_t *srv, tn_stanza_t *m, const char *to)
{
    tn_stanza_set_attr(m, "to", to);
    tn_route(srv, m, NULL);
}

/* Sends m to every subscriber that takes notifications, and to those the
 * service adds (PEP), each JID once. */
static void fan_out(ps_node_t *n, tn_stanza_t *m)
{
    if (!n->cfg.deliver_notifications)
        return;
    tn_stanza_wire_cache(m);
    tn_hmap_t sent;
    tn_hmap_init(&sent);
    for (size_t i = 0; i < n->nsubs; i++) {
        ps_sub_t *s = n->subs[i];
        if (s->state != PS_SUB_SUBSCRIBED || !s->deliver ||
            tn_hmap_get(&sent, s->jid))
            continue;
        tn_hmap_put(&sent, s->jid, (void *)1);
        send_to(n->svc->srv, m, s->jid);
    }
    if (ps_notify_extra && n->svc->pep)
        ps_notify_extra(n, m, &sent);
    tn_hmap_release(&sent);
}

tn_stanza_t *ps_event_message(ps_node_t *n, const ps_item_t *it)
{
    tn_stanza_t *items;
    tn_stanza_t *m = event_message(n, "items", &items);
    tn_stanza_t *item;
    if (n->cfg.deliver_payloads) {
        item = tn_stanza_add_copy(items, it->item);
        /* The stored element is in the pubsub namespace. */
        tn_stanza_str_free(item->ns);
        item->ns = tn_stanza_str(PS_NS_EVENT);
    } else {
        item = tn_stanza_add_child(items, "item", NULL);
    }
    tn_stanza_set_attr(item, "id", it->id);
    return m;
}

void ps_notify_items(ps_node_t *n, const ps_item_t *it)
{
    tn_stanza_t *m = ps_event_message(n, it);
    fan_out(n, m);
    tn_stanza_unref(m);
}

void ps_notify_retract(ps_node_t *n, const char *id)
{
    tn_stanza_t *items;
    tn_stanza_t *m = event_message(n, "items", &items);
    tn_stanza_set_attr(tn_stanza_add_child(items, "retract", NULL), "id", id);
    fan_out(n, m);
    tn_stanza_unref(m);
}

void ps_notify_delete(ps_node_t *n, const char *redirect)
{
    tn_stanza_t *d;
    tn_stanza_t *m = event_message(n, "delete", &d);
    if (redirect)
        tn_stanza_set_attr(tn_stanza_add_child(d, "redirect", NULL), "uri",
                           redirect);
    fan_out(n, m);
    tn_stanza_unref(m);
}

void ps_notify_purge(ps_node_t *n)
{
    tn_stanza_t *p;
    tn_stanza_t *m = event_message(n, "purge", &p);
    fan_out(n, m);
    tn_stanza_unref(m);
}

void ps_notify_config(ps_node_t *n)
{
    tn_stanza_t *c;
    tn_stanza_t *m = event_message(n, "configuration", &c);
    if (n->cfg.deliver_payloads) {
        tn_stanza_t *x = ps_config_form(n->svc, &n->cfg, "result");
        tn_stanza_add_copy(c, x);
        tn_stanza_unref(x);
    }
    fan_out(n, m);
    tn_stanza_unref(m);
}

void ps_notify_subscription(ps_node_t *n, const ps_sub_t *s)
{
    tn_stanza_t *e;
    tn_stanza_t *m = event_message(n, "subscription", &e);
    tn_stanza_set_attr(e, "jid", s->jid);
    tn_stanza_set_attr(e, "subscription", ps_substate_name(s->state));
    if (s->state != PS_SUB_NONE)
        tn_stanza_set_attr(e, "subid", s->subid);
    send_to(n->svc->srv, m, s->jid);
    tn_stanza_unref(m);
}

void ps_send_last(ps_node_t *n, const char *jid)
{
    if (!n->nitems)
        return;
    tn_stanza_t *m = ps_event_message(n, n->items[n->nitems - 1]);
    send_to(n->svc->srv, m, jid);
    tn_stanza_unref(m);
}

void ps_send_auth_request(ps_node_t *n, const ps_sub_t *s)
{
    tn_stanza_t *m = tn_stanza_new("message", TN_NS_CLIENT);
    tn_stanza_set_attr(m, "from", n->svc->jid);
    tn_stanza_t *form = tn_form_new("form", PS_FORM_AUTH);
    tn_stanza_t *x = tn_stanza_add_copy(m, form);
    tn_stanza_unref(form);
    tn_stanza_t *title = tn_stanza_add_child(x, "title", NULL);
    static const char t[] = "PubSub subscriber request";
    tn_stanza_add_text(title, t, sizeof t - 1);
    tn_form_field(x, "pubsub#subid", "hidden", NULL, s->subid);
    tn_form_field(x, "pubsub#node", "text-single", "Node ID", n->name);
    tn_form_field(x, "pubsub#subscriber_jid", "jid-single",
                  "Subscriber Address", s->jid);
    tn_form_field(x, "pubsub#allow", "boolean",
                  "Allow this JID to subscribe to this pubsub node?", "false");
    size_t it;
    for (tn_hmap_entry_t *e = tn_hmap_first(&n->affs, &it); e;
         e = tn_hmap_next(&n->affs, e, &it))
        if ((ps_aff_t)((uintptr_t)e->value - 1) == PS_AFF_OWNER)
            send_to(n->svc->srv, m, e->key);
    if (n->svc->pep && !tn_hmap_get(&n->affs, n->svc->jid))
        send_to(n->svc->srv, m, n->svc->jid);
    tn_stanza_unref(m);
}
