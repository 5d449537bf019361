/* jid.c -- parsing and canonicalization of XMPP addresses.
 *
 * Shape (RFC 7622 3.1): the resourcepart is everything after the first '/'
 * (so it may itself hold '/' and '@'); in what precedes it, the localpart is
 * everything before the first '@' and the domainpart the rest. Empty parts
 * next to a separator ("@d", "n@", "d/") and an empty domain are errors, as
 * is any part longer than 1023 octets after preparation (3.1). Input must be
 * well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
 *
 * Preparation follows what ejabberd and Prosody deploy (the RFC 6122
 * profiles) rather than PRECIS (RFC 7613), so that stored rosters and
 * accounts keep matching theirs:
 *  - localpart (3.3): stringprep Nodeprep from libidn, with unassigned code
 *    points allowed (flags 0, as Prosody's non-strict mode). Nodeprep
 *    case-folds and forbids spaces, controls and " & ' / : < > @.
 *  - domainpart (3.2): an IP literal is kept in inet_ntop form: dotted IPv4,
 *    or IPv6 in brackets (RFC 5952 text, lowercase). Otherwise one trailing
 *    dot is dropped, then an all-ASCII name is lowercased and checked here:
 *    labels of 1..63 letters, digits and '-' that neither start nor end with
 *    '-', at most 253 octets, and a final label that is not all digits (RFC
 *    3696 2; "1.2.3.999" is a bad IP, not a host). Anything else ('_', '@',
 *    spaces, empty labels) is rejected, because libidn2 lets some of it
 *    through. A non-ASCII name goes through libidn2's IDNA2008 lookup with
 *    UTS #46 non-transitional mapping (NFC, lowercase, U+3002 -> '.'); the
 *    A-label result must pass the same LDH check, and the canonical domain
 *    is its U-label form (idn2_to_unicode_8z8z), i.e. nameprep'd Unicode as
 *    Prosody and ejabberd keep it. ASCII input with "xn--" labels is turned
 *    into that same U-label form, after checking that it round-trips, so
 *    "xn--xample-9ua.com" and "Éxample.com" are one domain, "éxample.com".
 *  - resourcepart (3.4): stringprep Resourceprep; case is kept.
 *
 * A raw domainpart longer than 1024 octets is refused before any mapping,
 * so input padded with ignorable code points costs nothing.
 *
 * Not covered here: the PRECIS profiles of RFC 7622 3.2-3.4 (RFC 7613,
 * deliberately not used, see above), whether a domain is one we serve or
 * can resolve (core/ and net/), and JID escaping (XEP-0106, a client
 * concern). */
#include "xmpp/jid.h"

#include "util/err.h"
#include "util/mem.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#define JID_PART_MAX 1023 /* octets, RFC 7622 3.1 */
#define JID_DNS_MAX 253   /* octets of the A-label name, RFC 1035 2.3.4 */
#define JID_LABEL_MAX 63  /* octets per A-label */

#define JID_IDN2_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* True when the n bytes at s are well-formed UTF-8 without NUL bytes
 * (RFC 3629: shortest form only, no surrogates, nothing past U+10FFFF). */
static bool jid_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;

    while (p < end) {
        unsigned char c = *p++;
        size_t more;
        uint32_t cp;

        if (c == 0)
            return false;
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            cp = c & 0x07;
        } else {
            return false; /* continuation byte, overlong lead or > U+10FFFF */
        }
        if ((size_t)(end - p) < more)
            return false;
        for (size_t i = 0; i < more; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        p += more;
        if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
    }
    return true;
}

/* Runs a libidn stringprep profile over the n bytes at s. Returns a fresh
 * string of 1..JID_PART_MAX octets, or NULL. */
/* The ASCII fast path of Nodeprep and Resourceprep (RFC 3920 A, B): for
 * printable ASCII the only mapping is Nodeprep's case folding, NFKC
 * changes nothing, and what is prohibited is ASCII control characters,
 * the space (Nodeprep only) and Nodeprep's " & ' / : < > @. Returns 1 and
 * a fresh result in *out, 0 when s needs the full libidn run, or -1 when
 * s is prohibited. Most JIDs on the wire are ASCII: this keeps stringprep
 * off the per-stanza path. */
static int jid_prep_ascii(const char *s, size_t n, int node, char **out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80)
            return 0;
        if (ch < 0x20 || ch == 0x7f)
            return -1;
        if (node && strchr(" \"&'/:<>@", ch))
            return -1;
    }
    if (n > JID_PART_MAX)
        return -1;
    char *r = tn_strndup(s, n);
    if (node)
        for (size_t i = 0; i < n; i++)
            if (r[i] >= 'A' && r[i] <= 'Z')
                r[i] = (char)(r[i] - 'A' + 'a');
    *out = r;
    return 1;
}

static char *jid_stringprep(const char *s, size_t n,
                            const Stringprep_profile *profile)
{
    if (!s || n == 0 || !jid_utf8_valid(s, n))
        return NULL;
    char *fast = NULL;
    int f = jid_prep_ascii(s, n, profile == stringprep_xmpp_nodeprep, &fast);
    if (f != 0)
        return f > 0 ? fast : NULL;

    /* stringprep() works in place; a buffer of at least JID_PART_MAX + 1
     * bytes holds any acceptable result, and STRINGPREP_TOO_SMALL_BUFFER
     * then simply means "too long". */
    size_t size = (n > JID_PART_MAX ? n : JID_PART_MAX) + 1;
    char *buf = tn_malloc(size);
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (stringprep(buf, size, 0, profile) != STRINGPREP_OK)
        goto fail;
    size_t len = strlen(buf);
    if (len == 0 || len > JID_PART_MAX)
        goto fail;
    return buf;

fail:
    tn_free(buf);
    return NULL;
}

/* Checks a lowercase ASCII host name (no trailing dot): LDH labels of
 * 1..63 octets not starting or ending with '-', at most JID_DNS_MAX octets
 * in all, and a final label that is not all digits. */
static bool jid_ldh_valid(const char *s, size_t n)
{
    size_t label = 0;
    bool all_digits = true;

    if (n == 0 || n > JID_DNS_MAX)
        return false;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > JID_LABEL_MAX || s[i - 1] == '-')
                return false;
            if (i == n && all_digits)
                return false;
            label = 0;
            all_digits = true;
            continue;
        }
        char c = s[i];
        if (c >= '0' && c <= '9') {
            /* digit */
        } else if ((c >= 'a' && c <= 'z') || c == '-') {
            if (c == '-' && label == 0)
                return false;
            all_digits = false;
        } else {
            return false;
        }
        label++;
    }
    return true;
}

/* Returns the IP literal at s (n bytes) in canonical text form, or NULL
 * when s is not one: "[IPv6]" or dotted-quad IPv4 (inet_pton rejects
 * leading zeros, short forms and zone identifiers). */
static char *jid_ip_literal(const char *s, size_t n)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    char out[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];

    if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
        if (n - 2 >= sizeof tmp)
            return NULL;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        if (inet_pton(AF_INET6, tmp, addr) != 1 ||
            !inet_ntop(AF_INET6, addr, out, sizeof out))
            return NULL;
        return tn_sprintf("[%s]", out);
    }
    if (n >= sizeof tmp)
        return NULL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (inet_pton(AF_INET, tmp, addr) != 1 ||
        !inet_ntop(AF_INET, addr, out, sizeof out))
        return NULL;
    return tn_strdup(out);
}

/* True when some label of the lowercase ASCII name s starts with "xn--". */
static bool jid_has_alabel(const char *s)
{
    for (const char *p = s; p; p = strchr(p, '.')) {
        if (*p == '.')
            p++;
        if (strncmp(p, "xn--", 4) == 0)
            return true;
    }
    return false;
}

/* Converts a valid LDH A-label name to its U-label form and checks that it
 * maps back to exactly the same A-labels (so bogus punycode, or "xn--"
 * labels that IDNA2008 would never produce, are refused). Returns a fresh
 * string (tn_free) or NULL. */
static char *jid_alabel_to_unicode(const char *ascii)
{
    char *u = NULL;
    uint8_t *back = NULL;
    char *ret = NULL;

    if (idn2_to_unicode_8z8z(ascii, &u, 0) != IDN2_OK)
        goto out;
    if (idn2_lookup_u8((const uint8_t *)u, &back, JID_IDN2_FLAGS) != IDN2_OK)
        goto out;
    if (strcmp((const char *)back, ascii) != 0)
        goto out;
    if (strlen(u) == 0 || strlen(u) > JID_PART_MAX)
        goto out;
    ret = tn_strdup(u);
out:
    idn2_free(u);
    idn2_free(back);
    return ret;
}

/* Domain preparation on n bytes at s; see the file header. */
static char *jid_nameprep_n(const char *s, size_t n)
{
    char *ret = NULL;
    char *lower = NULL;
    uint8_t *ascii = NULL;
    bool is_ascii = true;

    if (!s || n == 0 || n > JID_PART_MAX + 1 || !jid_utf8_valid(s, n))
        return NULL;
    /* RFC 7622 3.2: one final label separator is dropped. */
    if (s[n - 1] == '.')
        n--;
    if (n == 0)
        return NULL;

    ret = jid_ip_literal(s, n);
    if (ret)
        return ret;

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            is_ascii = false;

    if (is_ascii) {
        lower = tn_strndup(s, n);
        for (char *p = lower; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        if (!jid_ldh_valid(lower, n))
            goto out;
        if (jid_has_alabel(lower))
            ret = jid_alabel_to_unicode(lower);
        else
            ret = tn_strdup(lower);
        goto out;
    }

    lower = tn_strndup(s, n);
    if (idn2_lookup_u8((const uint8_t *)lower, &ascii, JID_IDN2_FLAGS) !=
        IDN2_OK)
        goto out;
    {
        /* The mapping can turn a final U+3002 etc. into a trailing dot. */
        size_t alen = strlen((const char *)ascii);
        if (alen > 0 && ascii[alen - 1] == '.')
            ascii[--alen] = '\0';
        if (!jid_ldh_valid((const char *)ascii, alen))
            goto out;
        if (jid_has_alabel((const char *)ascii))
            ret = jid_alabel_to_unicode((const char *)ascii);
        else if (alen <= JID_PART_MAX) /* mapped down to plain ASCII */
            ret = tn_strdup((const char *)ascii);
    }
out:
    tn_free(lower);
    idn2_free(ascii);
    return ret;
}

/* Prepares a localpart with stringprep Nodeprep (case-folded, NFKC; spaces
 * and " & ' / : < > @ refused). Returns a fresh string of 1..1023 octets for
 * the caller to tn_free, or NULL when s is NULL or not acceptable. */
char *tn_jid_nodeprep(const char *s)
{
    return s ? jid_stringprep(s, strlen(s), stringprep_xmpp_nodeprep) : NULL;
}

/* Prepares a domainpart: IP literals in canonical text form, other names
 * lowercased, without a trailing dot and in IDNA2008 U-label form (see the
 * file header). Returns a fresh string for the caller to tn_free, or NULL
 * when s is NULL or not acceptable. */
char *tn_jid_nameprep(const char *s)
{
    return s ? jid_nameprep_n(s, strlen(s)) : NULL;
}

/* Prepares a resourcepart with stringprep Resourceprep (case and ASCII
 * spaces kept). Returns a fresh string of 1..1023 octets for the caller to
 * tn_free, or NULL when s is NULL or not acceptable. */
char *tn_jid_resourceprep(const char *s)
{
    return s ? jid_stringprep(s, strlen(s), stringprep_xmpp_resourceprep)
             : NULL;
}

/* Fills out->bare and out->full from the prepared parts. */
static char *jid_join(const char *a, char sep, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = tn_malloc(la + 1 + lb + 1);
    memcpy(r, a, la);
    r[la] = sep;
    memcpy(r + la + 1, b, lb + 1);
    return r;
}

/* On the per-stanza path: plain copies, no printf. */
static void jid_compose(tn_jid_t *j)
{
    j->bare = j->node ? jid_join(j->node, '@', j->domain)
                      : tn_strdup(j->domain);
    j->full = j->resource ? jid_join(j->bare, '/', j->resource)
                          : tn_strdup(j->bare);
}

/* Splits and prepares s into *out (see the file header for the rules).
 * Returns 0, or TN_EJID with *out zeroed; *out is zeroed first, so it must
 * not hold a live JID. Release a parsed JID with tn_jid_release. */
int tn_jid_parse(const char *s, tn_jid_t *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return TN_EJID;

    const char *slash = strchr(s, '/');
    size_t pre = slash ? (size_t)(slash - s) : strlen(s);
    const char *at = memchr(s, '@', pre);
    const char *dom = at ? at + 1 : s;
    size_t dlen = pre - (size_t)(dom - s);

    if (at) {
        out->node =
            jid_stringprep(s, (size_t)(at - s), stringprep_xmpp_nodeprep);
        if (!out->node)
            goto fail;
    }
    out->domain = jid_nameprep_n(dom, dlen);
    if (!out->domain)
        goto fail;
    if (slash) {
        out->resource = jid_stringprep(slash + 1, strlen(slash + 1),
                                       stringprep_xmpp_resourceprep);
        if (!out->resource)
            goto fail;
    }
    jid_compose(out);
    return 0;

fail:
    tn_jid_release(out);
    return TN_EJID;
}

/* Builds *out from separate parts, each prepared as tn_jid_parse does;
 * node and resource may be NULL (absent) but not empty. Unlike a parsed
 * string, node may not contain '@' (Nodeprep forbids it) and the domain
 * may not contain '/'. Returns 0, or TN_EJID with *out zeroed. */
int tn_jid_make(const char *node, const char *domain, const char *resource,
                tn_jid_t *out)
{
    memset(out, 0, sizeof *out);
    if (node) {
        out->node = tn_jid_nodeprep(node);
        if (!out->node)
            goto fail;
    }
    out->domain = tn_jid_nameprep(domain);
    if (!out->domain)
        goto fail;
    if (resource) {
        out->resource = tn_jid_resourceprep(resource);
        if (!out->resource)
            goto fail;
    }
    jid_compose(out);
    return 0;

fail:
    tn_jid_release(out);
    return TN_EJID;
}

/* Frees the strings j owns and zeroes it; a zeroed JID (or NULL) is fine,
 * and j can be reused by tn_jid_parse or tn_jid_make afterwards. */
void tn_jid_release(tn_jid_t *j)
{
    if (!j)
        return;
    tn_free(j->node);
    tn_free(j->domain);
    tn_free(j->resource);
    tn_free(j->bare);
    tn_free(j->full);
    memset(j, 0, sizeof *j);
}

/* Deep-copies j into *out, overwriting it without releasing it first; the
 * caller releases both. Absent parts stay NULL. */
void tn_jid_copy(const tn_jid_t *j, tn_jid_t *out)
{
    out->node = tn_strdup(j->node);
    out->domain = tn_strdup(j->domain);
    out->resource = tn_strdup(j->resource);
    out->bare = tn_strdup(j->bare);
    out->full = tn_strdup(j->full);
}
