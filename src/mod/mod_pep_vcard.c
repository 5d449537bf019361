/* mod_pep_vcard.c -- XEP-0398 User Avatar to vCard-Based Avatars
 * Conversion (feature urn:xmpp:pep-vcard-conversion:0 on accounts):
 *
 *   - PEP to vCard: when the account publishes to urn:xmpp:avatar:metadata,
 *     the <info/> without a url names an item of urn:xmpp:avatar:data;
 *     its base64 image becomes the vCard's PHOTO (TYPE, BINVAL) after
 *     checking that its SHA-1 is the item id. Empty metadata (avatar
 *     switched off, XEP-0084 4.5) removes the PHOTO.
 *   - vCard to PEP: a vCard set with a PHOTO (TYPE, BINVAL) publishes the
 *     image to urn:xmpp:avatar:data under its SHA-1 and then one <info/>
 *     to urn:xmpp:avatar:metadata (contacts are notified), unless that
 *     image is already the current avatar.
 *   - Presence (XEP-0398 4, XEP-0153): available presence from the
 *     account, broadcast or directed, carries
 *     <x xmlns='vcard-temp:x:update'><photo>SHA-1</photo></x> when the
 *     account has an avatar; a client's empty <photo/> is left alone, an
 *     <x/> without <photo/> is filled in. The account's PEP service is
 *     loaded when a session binds, so the hash is at hand by the time its
 *     first presence goes out.
 * The vCard is read and written in mod_vcard's store map ("vcard"). */
#include <string.h>

#include <openssl/evp.h>

#include "core/router.h"
#include "mod/pep.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/log.h"
#include "util/mem.h"
#include "xml/element.h"
#include "xml/ns.h"

#define AV_DATA "urn:xmpp:avatar:data"
#define AV_META "urn:xmpp:avatar:metadata"
#define AV_UPDATE "vcard-temp:x:update"
#define VCARD_MAP "vcard"
#define VCARD_KEY "vcard"

static tn_server_t *av_srv;
static tn_hmap_t av_hashes; /* online account -> its avatar id (owned) */

/* Remembers (for presence) the avatar id of an online account. */
/* Puts id into pres's <x xmlns='vcard-temp:x:update'><photo/> (XEP-0398
 * 4): an empty <photo/> (the client shows no avatar) is left alone, a
 * missing one is added, one naming another hash is replaced. */
static void av_stamp(tn_stanza_t *pres, const char *id)
{
    tn_stanza_t *x = tn_stanza_child(pres, "x", AV_UPDATE);
    tn_stanza_t *photo = x ? tn_stanza_child(x, "photo", AV_UPDATE) : NULL;
    if (photo) {
        char *t = tn_stanza_text(photo);
        int keep = !*t || strcmp(t, id) == 0;
        tn_free(t);
        if (keep)
            return;
        tn_stanza_remove(x, photo);
    }
    if (!x)
        x = tn_stanza_add_child(pres, "x", AV_UPDATE);
    photo = tn_stanza_add_child(x, "photo", NULL);
    tn_stanza_add_text(photo, id, strlen(id));
}

/* Remembers (for presence) the avatar id of an online account, and puts
 * a new one into the presence its resources last sent, which answers
 * probes. */
static void av_remember(const char *owner, const char *id)
{
    tn_sess_t *first = av_srv ? tn_sessions_user(av_srv, owner) : NULL;
    if (!id || !first) {
        tn_free(tn_hmap_del(&av_hashes, owner));
        return;
    }
    const char *old = tn_hmap_get(&av_hashes, owner);
    if (old && strcmp(old, id) == 0)
        return;
    tn_free(tn_hmap_put(&av_hashes, owner, tn_strdup(id)));
    for (tn_sess_t *s = first; s; s = s->next_res)
        if (s->available && s->presence)
            av_stamp(s->presence, id);
}

/* The base64 text s without whitespace (vCards fold BINVAL), decoded;
 * NULL when it is not base64. */
static unsigned char *av_decode(const char *s, size_t *len, char **clean)
{
    size_t n = strlen(s), k = 0;
    char *c = tn_malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            c[k++] = s[i];
    c[k] = 0;
    unsigned char *d = tn_base64_decode(c, k, len);
    if (d && clean)
        *clean = c;
    else
        tn_free(c);
    return d;
}

/* Lower-case hex SHA-1 of data (XEP-0084 item ids). */
static void av_sha1(const unsigned char *data, size_t len, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha1(), NULL);
    for (unsigned int i = 0; i < mdlen && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[40] = 0;
}

/* The current avatar's id in svc (metadata's last item with an <info/>
 * without url), or NULL. Borrowed. */
static const char *av_current(ps_service_t *svc, const char **type)
{
    ps_node_t *m = svc ? tn_hmap_get(&svc->nodes, AV_META) : NULL;
    if (!m || !m->nitems)
        return NULL;
    tn_stanza_t *md =
        tn_stanza_child(m->items[m->nitems - 1]->item, "metadata", AV_META);
    for (size_t i = 0; md && i < md->nkids; i++) {
        tn_stanza_t *info = md->kids[i];
        if (!info->name || strcmp(info->name, "info") != 0 ||
            tn_stanza_attr(info, "url") || !tn_stanza_attr(info, "id"))
            continue;
        if (type)
            *type = tn_stanza_attr(info, "type");
        return tn_stanza_attr(info, "id");
    }
    return NULL;
}

/* ---- PEP to vCard ---------------------------------------------------------
 */

typedef struct av_vcard {
    tn_sess_t *sess; /* held until the vCard is written, or NULL */
    char *owner;
    char *type;   /* owned; NULL with binval NULL: remove the PHOTO */
    char *binval; /* owned, whitespace-free base64 */
} av_vcard_t;

static void av_free(av_vcard_t *a)
{
    if (a->sess)
        tn_sess_unhold(a->sess);
    tn_free(a->owner);
    tn_free(a->type);
    tn_free(a->binval);
    tn_free(a);
}

static void av_store_done(void *ud, int status)
{
    tn_sess_t *sess = ud;
    if (status < 0 && status != TN_ENOTFOUND)
        tn_log(TN_LOG_ERROR, "pep_vcard: vCard write failed: %s",
               tn_strerror(status));
    if (sess)
        tn_sess_unhold(sess);
}

static void av_vcard_got(void *ud, int status, const tn_store_item_t *items,
                         size_t n)
{
    av_vcard_t *a = ud;
    tn_jid_t o;
    if (!av_srv || (status < 0 && status != TN_ENOTFOUND) ||
        tn_jid_parse(a->owner, &o) < 0) {
        av_free(a);
        return;
    }
    tn_stanza_t *v =
        status == 0 && n == 1
            ? tn_xml_element_parse(items[0].value, items[0].len, TN_NS_CLIENT)
            : NULL;
    if (v &&
        (strcmp(v->name, "vCard") != 0 || strcmp(v->ns, TN_NS_VCARD) != 0)) {
        tn_stanza_unref(v);
        v = NULL;
    }
    if (!v)
        v = tn_stanza_new("vCard", TN_NS_VCARD);
    tn_stanza_t *old;
    while ((old = tn_stanza_child(v, "PHOTO", TN_NS_VCARD)) != NULL)
        tn_stanza_remove(v, old);
    if (a->binval) {
        tn_stanza_t *p = tn_stanza_add_child(v, "PHOTO", NULL);
        if (a->type)
            tn_stanza_add_text(tn_stanza_add_child(p, "TYPE", NULL), a->type,
                               strlen(a->type));
        tn_stanza_add_text(tn_stanza_add_child(p, "BINVAL", NULL), a->binval,
                           strlen(a->binval));
    }
    if (tn_stanza_nelements(v)) {
        char *xml = tn_stanza_to_string(v, TN_NS_CLIENT);
        if (tn_store_map_put(av_srv->store, o.domain, o.node, VCARD_MAP,
                             VCARD_KEY, xml, strlen(xml), av_store_done,
                             a->sess) == 0)
            a->sess = NULL; /* released by av_store_done */
        tn_free(xml);
    } else {
        tn_store_map_del(av_srv->store, o.domain, o.node, VCARD_MAP, VCARD_KEY,
                         av_store_done, NULL);
    }
    tn_log(TN_LOG_DEBUG, "pep_vcard: %s: vCard PHOTO %s", a->owner,
           a->binval ? "set from PEP" : "removed");
    tn_stanza_unref(v);
    tn_jid_release(&o);
    av_free(a);
}

static void av_to_vcard(const char *owner, const char *type, const char *binval)
{
    tn_jid_t o;
    if (tn_jid_parse(owner, &o) < 0)
        return;
    av_vcard_t *a = TN_NEW(av_vcard_t);
    /* The publisher's next stanzas (a vCard get) see the new PHOTO. */
    a->sess = pep_current_session();
    if (a->sess)
        tn_sess_hold(a->sess);
    a->owner = tn_strdup(owner);
    a->type = type ? tn_strdup(type) : NULL;
    a->binval = binval ? tn_strdup(binval) : NULL;
    if (tn_store_map_get(av_srv->store, o.domain, o.node, VCARD_MAP, VCARD_KEY,
                         av_vcard_got, a) < 0)
        av_free(a);
    tn_jid_release(&o);
}

static void av_changed(ps_node_t *n, const ps_item_t *it, const char *id,
                       int by_server)
{
    (void)id;
    const char *owner = n->svc->jid;
    if (!av_srv || strcmp(n->name, AV_META) != 0)
        return;
    const char *type = NULL;
    const char *cur = av_current(n->svc, &type);
    av_remember(owner, cur);
    if (!it || by_server)
        return; /* a conversion (vCard to PEP): not back again */
    tn_stanza_t *md = tn_stanza_child(it->item, "metadata", AV_META);
    if (!cur) {
        if (md && !tn_stanza_nelements(md))
            av_to_vcard(owner, NULL, NULL); /* avatar switched off */
        return;
    }
    ps_node_t *dn = tn_hmap_get(&n->svc->nodes, AV_DATA);
    ps_item_t *d = dn ? ps_node_item(dn, cur) : NULL;
    char *text = d ? tn_stanza_child_text(d->item, "data", AV_DATA) : NULL;
    size_t len;
    char *clean = NULL;
    unsigned char *img = text ? av_decode(text, &len, &clean) : NULL;
    char sha[41];
    if (img)
        av_sha1(img, len, sha);
    if (!img || strcmp(sha, cur) != 0)
        tn_log(TN_LOG_INFO,
               "pep_vcard: %s: avatar %s has no matching data, "
               "vCard unchanged",
               owner, cur);
    else
        av_to_vcard(owner, type, clean);
    tn_free(img);
    tn_free(clean);
    tn_free(text);
}

/* ---- vCard to PEP ---------------------------------------------------------
 */

static void av_run_done(void *ud, const char *failed)
{
    char *owner = ud;
    if (failed)
        tn_log(TN_LOG_WARN, "pep_vcard: publishing the avatar of %s: %s", owner,
               failed);
    tn_free(owner);
}

static void av_publish(const char *owner, const char *node, const char *id,
                       tn_stanza_t *payload)
{
    tn_stanza_t *iq = tn_stanza_new("iq", TN_NS_CLIENT);
    tn_stanza_set_attr(iq, "type", "set");
    tn_stanza_set_attr(iq, "from", owner);
    tn_stanza_set_attr(iq, "to", owner);
    tn_stanza_t *ps = tn_stanza_add_child(iq, "pubsub", PS_NS);
    tn_stanza_t *pub = tn_stanza_add_child(ps, "publish", NULL);
    tn_stanza_set_attr(pub, "node", node);
    tn_stanza_t *item = tn_stanza_add_child(pub, "item", NULL);
    tn_stanza_set_attr(item, "id", id);
    tn_stanza_add_copy(item, payload);
    pep_run(owner, iq, av_run_done, tn_strdup(owner));
    tn_stanza_unref(iq);
}

typedef struct av_set {
    char *owner, *type, *b64, sha[41];
    size_t bytes;
} av_set_t;

static void av_set_ready(void *ud, ps_service_t *svc)
{
    av_set_t *s = ud;
    const char *cur = svc ? av_current(svc, NULL) : NULL;
    if (svc && !(cur && strcmp(cur, s->sha) == 0)) {
        tn_stanza_t *data = tn_stanza_new("data", AV_DATA);
        tn_stanza_add_text(data, s->b64, strlen(s->b64));
        av_publish(s->owner, AV_DATA, s->sha, data);
        tn_stanza_unref(data);
        tn_stanza_t *md = tn_stanza_new("metadata", AV_META);
        tn_stanza_t *info = tn_stanza_add_child(md, "info", NULL);
        char bytes[24];
        snprintf(bytes, sizeof bytes, "%zu", s->bytes);
        tn_stanza_set_attr(info, "bytes", bytes);
        tn_stanza_set_attr(info, "id", s->sha);
        tn_stanza_set_attr(info, "type", s->type ? s->type : "image/png");
        av_publish(s->owner, AV_META, s->sha, md);
        tn_stanza_unref(md);
    }
    tn_free(s->owner);
    tn_free(s->type);
    tn_free(s->b64);
    tn_free(s);
}

/* A vCard set by the account itself (mod_vcard stores it). */
static tn_verdict_t av_on_vcard(tn_event_t *ev)
{
    if (!ev->sess || strcmp(ev->from->bare, ev->to->bare) != 0)
        return TN_PASS;
    tn_stanza_t *vc = tn_stanza_child(ev->stanza, "vCard", TN_NS_VCARD);
    tn_stanza_t *photo = vc ? tn_stanza_child(vc, "PHOTO", TN_NS_VCARD) : NULL;
    char *bin =
        photo ? tn_stanza_child_text(photo, "BINVAL", TN_NS_VCARD) : NULL;
    size_t len;
    char *clean = NULL;
    unsigned char *img = bin ? av_decode(bin, &len, &clean) : NULL;
    if (img && len) {
        av_set_t *s = TN_NEW(av_set_t);
        s->owner = tn_strdup(ev->to->bare);
        s->type = tn_stanza_child_text(photo, "TYPE", TN_NS_VCARD);
        s->b64 = clean;
        clean = NULL;
        s->bytes = len;
        av_sha1(img, len, s->sha);
        pep_with(s->owner, av_set_ready, s);
    }
    tn_free(img);
    tn_free(clean);
    tn_free(bin);
    return TN_PASS;
}

/* ---- presence -------------------------------------------------------------
 */

static tn_verdict_t av_on_presence(tn_event_t *ev)
{
    if (!ev->sess || tn_stanza_attr(ev->stanza, "type"))
        return TN_PASS;
    const char *cur = tn_hmap_get(&av_hashes, ev->from->bare);
    if (cur)
        av_stamp(ev->stanza, cur);
    return TN_PASS;
}

static void av_bound_ready(void *ud, ps_service_t *svc)
{
    char *owner = ud;
    if (svc)
        av_remember(owner, av_current(svc, NULL));
    tn_free(owner);
}

/* The avatar id is read when a session binds, so that it is at hand for
 * the session's first presence (the store answers long before a client
 * has fetched its roster). */
static tn_verdict_t av_on_bound(tn_event_t *ev)
{
    pep_with(ev->sess->jid.bare, av_bound_ready, tn_strdup(ev->sess->jid.bare));
    return TN_PASS;
}

static tn_verdict_t av_on_unbound(tn_event_t *ev)
{
    tn_sess_t *s = ev->sess;
    tn_sess_t *first = tn_sessions_user(ev->srv, s->jid.bare);
    if (!first || (first == s && !s->next_res))
        tn_free(tn_hmap_del(&av_hashes, s->jid.bare));
    return TN_PASS;
}

static int av_load(tn_module_t *m)
{
    av_srv = tn_module_server(m);
    tn_hmap_init(&av_hashes);
    ps_listen(av_changed);
    tn_module_feature(m, "urn:xmpp:pep-vcard-conversion:0");
    tn_module_iq(m, TN_IQ_SET, TN_TO_BARE, TN_NS_VCARD, "vCard", av_on_vcard,
                 TN_PRIO_DEFAULT + 10);
    tn_module_hook(m, TN_HOOK_PRESENCE_OUT, av_on_presence,
                   TN_PRIO_DEFAULT + 20);
    tn_module_hook(m, TN_HOOK_SESS_BOUND, av_on_bound, TN_PRIO_DEFAULT);
    tn_module_hook(m, TN_HOOK_SESS_UNBOUND, av_on_unbound, TN_PRIO_DEFAULT);
    return 0;
}

static void av_unload(tn_module_t *m)
{
    (void)m;
    tn_hmap_release_free(&av_hashes);
    av_srv = NULL;
}

const tn_module_def_t tn_mod_pep_vcard = {
    .name = "pep_vcard",
    .xeps = "XEP-0398 0.2.1, XEP-0153 (presence hash)",
    .load = av_load,
    .unload = av_unload,
};
