/* digest.h: SHA-256 for the reply cache's keys, at the speed the machine
 * allows: OpenSSL's (libcrypto, which libcurl has brought into the process;
 * it uses the CPU's SHA instructions where there are some) when it is
 * there, else lib/sha256.c. The digest is the same either way. Thread-safe. */
#ifndef B77_DIGEST_H
#define B77_DIGEST_H

#include <stddef.h>

void digest_sha256(const void *data, size_t n, unsigned char out[32]);

#endif
