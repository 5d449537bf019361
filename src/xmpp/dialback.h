/* dialback.h -- Server Dialback keys (XEP-0220 with XEP-0185). */
#ifndef TN_XMPP_DIALBACK_H
#define TN_XMPP_DIALBACK_H

#include <stddef.h>

/* Hex characters of a key, plus the terminating NUL. */
#define TN_DIALBACK_KEY_SIZE 65

/* XEP-0185 3: key = HMAC-SHA256(hex(SHA256(secret)),
 * receiving ' ' originating ' ' stream_id), as lowercase hex into out.
 * The fields cannot run into each other: domains hold no space, and the
 * stream id is last. Returns 0, or -1 when an argument is empty or a
 * domain holds a space. */
int tn_dialback_key(const unsigned char *secret, size_t secret_len,
                    const char *receiving, const char *originating,
                    const char *stream_id, char out[TN_DIALBACK_KEY_SIZE]);

/* 1 when key (as received: surrounding whitespace ignored) equals the
 * key for these fields, compared in constant time; 0 otherwise. */
int tn_dialback_check(const unsigned char *secret, size_t secret_len,
                      const char *receiving, const char *originating,
                      const char *stream_id, const char *key);

#endif
