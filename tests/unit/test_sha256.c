/* Unit tests: SHA-256 against the FIPS 180-4 examples and NIST's long
 * message, in one call and fed in pieces. */
#include <stdlib.h>

#include "sha256.h"
#include "test.h"

static void hex(const unsigned char d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

TEST(sha256_vectors)
{
    unsigned char d[32];
    char h[65];
    sha256_of("abc", 3, d);
    hex(d, h);
    CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_of("", 0, d);
    hex(d, h);
    CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_of(two, strlen(two), d);
    hex(d, h);
    CHECK_STR(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed 997 bytes at a time */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    sha256 s;
    sha256_init(&s);
    for (size_t off = 0; off < 1000000; off += 997)
        sha256_update(&s, a + off, 1000000 - off < 997 ? 1000000 - off : 997);
    sha256_final(&s, d);
    hex(d, h);
    CHECK_STR(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* every length around the padding boundary, in one piece and byte by byte */
    for (size_t n = 50; n < 70; n++) {
        unsigned char one[32], bytes[32];
        sha256_of(a, n, one);
        sha256_init(&s);
        for (size_t i = 0; i < n; i++)
            sha256_update(&s, a + i, 1);
        sha256_final(&s, bytes);
        CHECK(memcmp(one, bytes, 32) == 0);
    }
    free(a);
}

/* The cache's digest (OpenSSL's when libcrypto is in the process, as it is
 * here through libcurl) gives the same bytes as ours. */
#include "digest.h"

TEST(sha256_digest_matches)
{
    char data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 131 + 7);
    for (size_t n = 0; n < sizeof data; n += 97) {
        unsigned char a[32], b[32];
        sha256_of(data, n, a);
        digest_sha256(data, n, b);
        CHECK(memcmp(a, b, 32) == 0);
    }
}
