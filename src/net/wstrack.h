/* wstrack.h -- follows WebSocket frame boundaries (RFC 6455 5.2) in a
 * byte stream without parsing anything else: how far into a frame header
 * or payload the stream stands, and whether a fragmented data message is
 * unfinished. ws.c runs it beside wslay, which does the real parsing and
 * checking, to know when wslay holds no state and its context can go. */
#ifndef TN_NET_WSTRACK_H
#define TN_NET_WSTRACK_H

#include <stddef.h>
#include <stdint.h>

typedef struct tn_ws_track {
    uint64_t left;        /* payload bytes left in the current frame */
    unsigned char th[14]; /* the current frame's header so far */
    unsigned char hlen;   /* bytes in th */
    unsigned char need;   /* header length, once 2 bytes are in */
    unsigned char frag;   /* inside a fragmented data message */
} tn_ws_track_t;

/* Advances t over len bytes of the client's stream. */
void tn_ws_track(tn_ws_track_t *t, const unsigned char *p, size_t len);

/* 1 at a frame boundary outside any fragmented message. */
static inline int tn_ws_track_idle(const tn_ws_track_t *t)
{
    return t->hlen == 0 && t->left == 0 && !t->frag;
}

#endif
