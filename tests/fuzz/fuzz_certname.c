/* fuzz_certname.c -- libFuzzer target for tn_s2s_cert_names
 * (net/s2s_tls.c), the RFC 6125 identity check of s2s certificates.
 *
 * Input: one byte n, then n % 64 bytes of reference domain (cut at its
 * first NUL), then a DER certificate. Oracles beyond the sanitizers: the
 * answer is 0 or 1, and the same for the domain in upper and in lower
 * case (identities compare case-insensitively, RFC 6125 6.4.1). */
#include <ctype.h>
#include <openssl/x509.h>
#include <string.h>

#include "net/s2s_tls.h"
#include "targets.h"

int fuzz_certname_one(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n = data[0] % 64;
    if (size < 1 + n)
        return 0;
    char domain[64], upper[64];
    memcpy(domain, data + 1, n);
    domain[n] = '\0';
    const unsigned char *der = data + 1 + n;
    X509 *cert = d2i_X509(NULL, &der, (long)(size - 1 - n));
    if (!cert)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        upper[i] = (char)toupper((unsigned char)domain[i]);
        domain[i] = (char)tolower((unsigned char)domain[i]);
    }
    int a = tn_s2s_cert_names(cert, domain);
    int b = tn_s2s_cert_names(cert, upper);
    if ((a != 0 && a != 1) || a != b)
        fuzz_fail("certname", "identity check not 0/1 or case-sensitive");
    X509_free(cert);
    return 0;
}

#ifndef TN_FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_certname_one(data, size);
}
#endif
