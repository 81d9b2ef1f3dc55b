/* Unit tests: the Redis store's address, keys and value format. */
#include <stdlib.h>

#include "redisval.h"
#include "test.h"

TEST(redis_addresses_parse)
{
    redis_addr a;
    char err[300];
    CHECK(redis_addr_parse("redis://127.0.0.1:6380/2", &a, err, sizeof err) == 0);
    CHECK_STR(a.host, "127.0.0.1");
    CHECK(a.port == 6380 && a.db == 2);
    CHECK(redis_addr_parse("redis://cache.internal", &a, err, sizeof err) == 0);
    CHECK_STR(a.host, "cache.internal");
    CHECK(a.port == 6379 && a.db == 0);
    CHECK(redis_addr_parse("redis://h/5", &a, err, sizeof err) == 0 && a.port == 6379 && a.db == 5);
    CHECK(redis_addr_parse("redis://h:7000/", &a, err, sizeof err) == 0 && a.db == 0);
    static const char *const bad[] = {"redis://",        "redis://:6379",   "redis://u:p@h:1",
                                      "redis://h:0",     "redis://h:99999", "redis://h:12x",
                                      "redis://h:1/db",  "redis://h?x=1",   "sqlite:/tmp/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(redis_addr_parse(bad[i], &a, err, sizeof err) == -1);
        CHECK(strstr(err, "cache store") != NULL);
    }
}

TEST(redis_keys_are_prefix_and_hex)
{
    unsigned char d[32];
    for (int i = 0; i < 32; i++)
        d[i] = (unsigned char)(i * 9);
    char k[REDIS_KEY_MAX];
    redis_key(d, "b77:reply:", k);
    CHECK(strncmp(k, "b77:reply:000912", 16) == 0);
    CHECK(strlen(k) == 10 + 64);
}

TEST(redis_values_carry_length_and_checksum)
{
    const char body[] = "{\"choices\":[]}";
    size_t n, len;
    char *v = redis_value_pack(body, strlen(body), &n);
    CHECK(n == REDIS_VALUE_HEADER + strlen(body));
    char *out = NULL;
    CHECK(redis_value_unpack(v, n, &out, &len) == 1);
    CHECK_STR(out, body);
    CHECK(len == strlen(body));
    free(out);
    v[n - 1] ^= 1; /* the body changed: the checksum fails */
    CHECK(redis_value_unpack(v, n, &out, &len) == 0);
    v[n - 1] ^= 1;
    CHECK(redis_value_unpack(v, n - 1, &out, &len) == 0); /* cut short */
    CHECK(redis_value_unpack("B77R", 4, &out, &len) == 0);
    v[0] = 'X'; /* not ours */
    CHECK(redis_value_unpack(v, n, &out, &len) == 0);
    free(v);
    char *e = redis_value_pack("", 0, &n); /* an empty body round-trips */
    CHECK(redis_value_unpack(e, n, &out, &len) == 1 && len == 0);
    free(out);
    free(e);
}
