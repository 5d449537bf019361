/* wstrack.c -- WebSocket frame boundaries; see wstrack.h. */
#include "net/wstrack.h"

void tn_ws_track(tn_ws_track_t *t, const unsigned char *p, size_t len)
{
    while (len) {
        if (t->left) {
            uint64_t n = t->left < len ? t->left : len;
            t->left -= n;
            p += n;
            len -= (size_t)n;
            continue;
        }
        t->th[t->hlen++] = *p++;
        len--;
        /* 2 bytes, then 2 or 8 of extended length, then 4 of mask. */
        if (t->hlen == 2) {
            unsigned l7 = t->th[1] & 0x7f;
            t->need = (unsigned char)(2 +
                                      (l7 == 126   ? 2
                                       : l7 == 127 ? 8
                                                   : 0) +
                                      (t->th[1] & 0x80 ? 4 : 0));
        }
        if (t->hlen < 2 || t->hlen < t->need)
            continue;
        unsigned l7 = t->th[1] & 0x7f;
        uint64_t plen = l7;
        if (l7 == 126) {
            plen = (uint64_t)t->th[2] << 8 | t->th[3];
        } else if (l7 == 127) {
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | t->th[2 + i];
        }
        /* Data frames (opcodes below 8): FIN ends the message; control
         * frames may come between fragments and change nothing. */
        if ((t->th[0] & 0x0f) < 8)
            t->frag = !(t->th[0] & 0x80);
        t->left = plen;
        t->hlen = 0;
    }
}
