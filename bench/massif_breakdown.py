#!/usr/bin/python3
"""massif_breakdown.py -- where ternd's heap goes, per session, by component.

Reads a massif detailed snapshot of a ternd holding N idle sessions and
prints bytes per session for each component of bench/MEMORY.md (TLS
objects, expat, buffers, session structures, caches), assigning each
allocation to the innermost frame that names a component. Usage:

    /usr/bin/python3 bench/idle_rss.py -n 400 --warmup 10 --tls starttls \
        --wrap "valgrind --tool=massif --threshold=0.05 --depth=40 \
                --massif-out-file=/tmp/massif.out" --hold 600 &
    # once it prints "holding 410 sessions ... (pid P)":
    vgdb --pid=P detailed_snapshot /tmp/snap.txt
    /usr/bin/python3 bench/massif_breakdown.py /tmp/snap.txt 410 [-v]

N is the number of sessions held (warm-up included). Components that do
not grow with sessions (the TLS context, sqlite's page cache, the expat
pool) are divided by N too; bench/MEMORY.md says which those are. -v also
lists the largest unclassified allocation paths.
"""
import collections
import re
import sys

# (component, regex on one stack frame). Each allocation goes to the
# innermost frame that matches any rule; OpenSSL frames with no better
# name fall back to FALLBACK.
RULES = [
    ('TLS 1.3 record state (tn_tls13_new)', r'tn_tls13_new'),
    ('TLS 1.3 partial record (tn_tls13_open)', r'tn_tls13_open'),
    ('TLS: SSL object (SSL_new)', r'SSL_new'),
    ('TLS: memory BIO buffers (BUF_MEM)', r'BUF_MEM_grow'),
    ('TLS: memory BIO objects (BIO_new)', r'BIO_new'),
    ('TLS: cipher contexts (EVP_CipherInit)', r'EVP_CipherInit'),
    ('TLS: key share kept after handshake', r'EVP_PKEY_generate'),
    ('TLS: server context (shared)', r'tn_tls_server_ctx'),
    ('expat parsers', r'libexpat|XML_'),
    ('tn_xml_parser_t, scratch, replay',
     r'tn_xml_parser_new|parser_note_root|parser_on_ns|parser_split|'
     r'parser_setup'),
    ('tn_conn_t (libuv handles)', r'tn_conn_new'),
    ('output buffers', r'tn_conn_write|conn_drain_wbio|conn_encrypt'),
    ('c2s_t', r'c2s_on_connection'),
    ('stanza queue (c2s)', r'c2s_on_stanza \(c2s.c:32'),
    ('presence kept per session', r'pres_on_out'),
    ('roster cache per user', r'tn_roster_use'),
    ('blocklist cache per user', r'block_get'),
    ('session table', r'tn_sessions_add'),
    ('JIDs, stream id, host, user',
     r'jid|tn_random_id|c2s_on_stream_open|c2s_bind|sasl'),
    ('sqlite (store thread: page cache, shared)', r'sqlite'),
]
FALLBACK = [('TLS: other state kept after the handshake',
             r'libssl|libcrypto|conn_read_tls')]


def header_value(hdr, key):
    return [int(ln.split('=')[1]) for ln in hdr if ln.startswith(key)][-1]


def leaves_of(lines, start):
    """(bytes, [frames, innermost first]) of every leaf of the tree."""
    rx = re.compile(r'^( *)n(\d+): (\d+) (.*)$')
    stack, leaves = [], []
    for ln in lines[start + 1:]:
        m = rx.match(ln)
        if not m:
            break
        depth, nkids, size = len(m.group(1)), int(m.group(2)), int(m.group(3))
        stack = stack[:depth] + [m.group(4)]
        if nkids == 0:
            leaves.append((size, stack[1:]))
    return leaves


def classify(frames):
    for group in (RULES, FALLBACK):
        for f in frames:
            for name, rx in group:
                if re.search(rx, f):
                    return name
    return 'other'


def main():
    lines = open(sys.argv[1]).read().splitlines()
    n = float(sys.argv[2])
    start = max(i for i, ln in enumerate(lines)
                if ln.startswith('heap_tree=detailed'))
    heap = header_value(lines[:start], 'mem_heap_B')
    extra = header_value(lines[:start], 'mem_heap_extra_B')
    agg, other = collections.Counter(), collections.Counter()
    for size, frames in leaves_of(lines, start):
        name = classify(frames)
        agg[name] += size
        if name == 'other':
            other[' < '.join(frames)[:200]] += size
    print('useful heap %d B (%.0f B/session), malloc overhead %d B '
          '(%.0f B/session), sessions %d'
          % (heap, heap / n, extra, extra / n, n))
    for name, _ in RULES + FALLBACK + [('other', '')]:
        print('%8.0f  %s' % (agg[name] / n, name))
    if '-v' in sys.argv[3:]:
        for k, v in other.most_common(15):
            print('   %7.0f %s' % (v / n, k))


if __name__ == '__main__':
    main()
