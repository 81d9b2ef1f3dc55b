/* sha256.h: SHA-256 (FIPS 180-4). Pure. */
#ifndef B77_SHA256_H
#define B77_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256 {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char block[64];
    size_t used;
} sha256;

void sha256_init(sha256 *s);
void sha256_update(sha256 *s, const void *data, size_t n);
void sha256_final(sha256 *s, unsigned char out[32]);
/* The digest of data[0..n) in one call. */
void sha256_of(const void *data, size_t n, unsigned char out[32]);

#endif
