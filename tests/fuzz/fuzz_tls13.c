/* fuzz_tls13.c -- libFuzzer target for the compact TLS 1.3 record layer's
 * reader (net/tls13.c, tn_tls13_open).
 *
 * The input is a script. Byte 0 sets the chunk size the wire is fed in
 * (1 + byte % 64; 0 means all at once). Then items: a byte op and a length
 * byte L, then L bytes. op < 0x80: the L bytes are sealed as one record of
 * inner content type op by a peer holding the client's keys (so the
 * fuzzer reaches the inner parsing: alerts, KeyUpdate, padding); op >=
 * 0x80: the L bytes go on the wire raw. The two suites alternate with the
 * input's length.
 * Oracles: what is delivered is a prefix of the application data the
 * sealed records carry (after padding is stripped, as RFC 8446 5.4
 * reads them), and exactly all of it when every item was a sealed
 * application-data record; nothing after a non-zero result. */
#include <string.h>

#include "net/tls13.h"
#include "targets.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/log.h"

typedef struct got {
    tn_buf_t data;
} got_t;

static int tls13_fz_deliver(void *arg, const char *p, size_t len)
{
    got_t *g = arg;
    tn_buf_append(&g->data, p, len);
    return 0;
}

int fuzz_tls13_one(const uint8_t *data, size_t size)
{
    tn_log_set_level(TN_LOG_WARN); /* every refusal logs at info */
    uint8_t cs[32], ss[32];
    memset(cs, 0x11, sizeof cs);
    memset(ss, 0x22, sizeof ss);
    unsigned suite = size % 2 ? 0x1301 : 0x1303;
    tn_tls13_t *srv = tn_tls13_new(suite, cs, ss, 32);
    tn_tls13_t *peer = tn_tls13_new(suite, ss, cs, 32);
    if (!srv || !peer)
        fuzz_fail("tls13", "cannot make states");
    tn_buf_t wire, expect, out;
    got_t g;
    tn_buf_init(&wire);
    tn_buf_init(&expect);
    tn_buf_init(&out);
    tn_buf_init(&g.data);
    size_t chunk = size ? (data[0] ? 1 + data[0] % 64 : 0) : 0;
    size_t i = size ? 1 : 0;
    int simple = 1;
    while (i + 2 <= size) {
        uint8_t op = data[i], len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = (uint8_t)(size - i);
        const uint8_t *body = data + i;
        i += len;
        if (op >= 0x80) {
            tn_buf_append(&wire, body, len);
            simple = 0;
            continue;
        }
        if (tn_tls13_seal_record(peer, op, body, len, &wire) != 0)
            fuzz_fail("tls13", "peer cannot seal");
        /* the receiver's view: strip zeros, the last byte is the type */
        size_t n = len;
        uint8_t type = op;
        if (type == 0) {
            while (n > 0 && body[n - 1] == 0)
                n--;
            type = n ? body[--n] : 0;
        }
        if (type == 23)
            tn_buf_append(&expect, body, n);
        if (op != 23)
            simple = 0;
    }
    int rc = 0;
    size_t step = chunk ? chunk : wire.len;
    for (size_t off = 0; off < wire.len && rc == 0; off += step) {
        size_t n = wire.len - off < step ? wire.len - off : step;
        rc = tn_tls13_open(srv, wire.data + off, n, &out, tls13_fz_deliver,
                           &g);
    }
    if (g.data.len > expect.len ||
        (g.data.len && memcmp(g.data.data, expect.data, g.data.len) != 0))
        fuzz_fail("tls13", "delivered data that was not sent");
    if (simple && (rc != 0 || g.data.len != expect.len))
        fuzz_fail("tls13", "lost application data");
    if (rc != 0 && rc != TN_ETLS && rc != TN_TLS13_CLOSED)
        fuzz_fail("tls13", "unexpected result");
    tn_buf_release(&wire);
    tn_buf_release(&expect);
    tn_buf_release(&out);
    tn_buf_release(&g.data);
    tn_tls13_free(srv);
    tn_tls13_free(peer);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_tls13_one(data, size);
}
#endif
