/* targets.h -- the checks behind each libFuzzer target, shared by the
 * libFuzzer entry points (tests/fuzz/fuzz_*.c, built with TN_FUZZ=ON) and
 * the corpus replay test (tests/unit/test_fuzz_regress.c, normal build).
 *
 * Each function runs one input through one parser and its oracles; it
 * returns 0, and calls abort() (through fuzz_fail) when an oracle finds a
 * bug, so that libFuzzer saves the input and the replay test crashes. */
#ifndef TN_FUZZ_TARGETS_H
#define TN_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* XMPP stream parser (xml/parser.c) and serializer (xml/stanza.c). */
int fuzz_xml_one(const uint8_t *data, size_t size);
/* tn_jid_parse and its idempotence. */
int fuzz_jid_one(const uint8_t *data, size_t size);
/* SCRAM server steps, PLAIN split, base64 decoding. */
int fuzz_scram_one(const uint8_t *data, size_t size);
/* tn_config_parse. */
int fuzz_config_one(const uint8_t *data, size_t size);
/* The compact TLS 1.3 record reader, tn_tls13_open. */
int fuzz_tls13_one(const uint8_t *data, size_t size);
/* The WebSocket frame tracker against wslay (freed vs kept context). */
int fuzz_ws_one(const uint8_t *data, size_t size);
/* The RFC 6125 identity check of s2s certificates. */
int fuzz_certname_one(const uint8_t *data, size_t size);
/* tn_http_normalize_path against a model. */
int fuzz_http_one(const uint8_t *data, size_t size);

/* Reports a failed oracle on stderr and aborts. */
__attribute__((noreturn)) static inline void fuzz_fail(const char *target,
                                                       const char *what)
{
    fprintf(stderr, "fuzz_%s: oracle failed: %s\n", target, what);
    abort();
}

#endif
