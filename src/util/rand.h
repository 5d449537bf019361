/* rand.h -- cryptographically secure random bytes from getrandom(2), for
 * stream ids, nonces, salts and resource names (SECURITY.md). */
#ifndef TN_UTIL_RAND_H
#define TN_UTIL_RAND_H

#include <stddef.h>

/* Fills buf with n random bytes; aborts if the kernel cannot supply them. */
void tn_random_bytes(void *buf, size_t n);
/* Returns a fresh string of n random characters from [A-Za-z0-9]. */
char *tn_random_id(size_t n);

#endif
