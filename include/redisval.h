/* redisval.h: the Redis store's pure parts (server/store_redis.c does the
 * I/O): its address, its keys, and the format of a stored reply: "B77R",
 * the body's length (8 bytes, little-endian), its SHA-256, the body. */
#ifndef B77_REDISVAL_H
#define B77_REDISVAL_H

#include <stddef.h>

#define REDIS_VALUE_HEADER (4 + 8 + 32)
#define REDIS_KEY_MAX 96

typedef struct redis_addr {
    char host[256];
    int port; /* 6379 when not given */
    int db;   /* 0 when not given */
} redis_addr;

/* redis://HOST[:PORT][/DB] (no user, password or options). 0, or -1 with
 * what is wanted in err. */
int redis_addr_parse(const char *spec, redis_addr *out, char *err, size_t errlen);

/* prefix and the 32-byte digest in lower-case hex ("b77:reply:ab12..."). */
void redis_key(const unsigned char digest[32], const char *prefix, char out[REDIS_KEY_MAX]);

/* The stored value of body (a new buffer of *out_len bytes). */
char *redis_value_pack(const char *body, size_t len, size_t *out_len);
/* 1 with the body (a new NUL-terminated copy) when v is a value whose
 * magic, length and checksum hold; 0 otherwise. */
int redis_value_unpack(const char *v, size_t n, char **body, size_t *len);

#endif
