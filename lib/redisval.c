/* redisval.c: see redisval.h. */
#include "redisval.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "util.h"

#define MAGIC "B77R"

int redis_addr_parse(const char *spec, redis_addr *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (strncmp(spec, "redis://", 8) != 0) {
        snprintf(err, errlen, "cache store \"%.200s\": want redis://HOST:PORT[/DB]", spec);
        return -1;
    }
    const char *p = spec + 8;
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof out->host || strpbrk(p, "@?#")) {
        snprintf(err, errlen, "cache store \"%.200s\": want redis://HOST:PORT[/DB] (no user, "
                 "password or options)", spec);
        return -1;
    }
    memcpy(out->host, p, n);
    const char *end = p + n;
    char *q;
    if (*end == ':') {
        long port = strtol(end + 1, &q, 10);
        if (q == end + 1 || port < 1 || port > 65535 || (*q && *q != '/')) {
            snprintf(err, errlen, "cache store \"%.200s\": the port must be 1-65535", spec);
            return -1;
        }
        out->port = (int)port;
        end = q;
    }
    if (*end == '/' && end[1]) {
        long db = strtol(end + 1, &q, 10);
        if (q == end + 1 || *q || db < 0 || db > 1000000) {
            snprintf(err, errlen, "cache store \"%.200s\": the database must be a number", spec);
            return -1;
        }
        out->db = (int)db;
    } else if (*end && strcmp(end, "/") != 0) {
        snprintf(err, errlen, "cache store \"%.200s\": want redis://HOST:PORT[/DB]", spec);
        return -1;
    }
    return 0;
}

void redis_key(const unsigned char digest[32], const char *prefix, char out[REDIS_KEY_MAX])
{
    static const char digits[] = "0123456789abcdef";
    size_t n = strlen(prefix);
    if (n > REDIS_KEY_MAX - 65)
        n = REDIS_KEY_MAX - 65;
    memcpy(out, prefix, n);
    for (int i = 0; i < 32; i++) {
        out[n + 2 * i] = digits[digest[i] >> 4];
        out[n + 2 * i + 1] = digits[digest[i] & 15];
    }
    out[n + 64] = '\0';
}

char *redis_value_pack(const char *body, size_t len, size_t *out_len)
{
    char *v = xmalloc(REDIS_VALUE_HEADER + len);
    memcpy(v, MAGIC, 4);
    uint64_t n = len;
    for (int i = 0; i < 8; i++)
        v[4 + i] = (char)(n >> (8 * i));
    sha256_of(body, len, (unsigned char *)v + 12);
    memcpy(v + REDIS_VALUE_HEADER, body, len);
    *out_len = REDIS_VALUE_HEADER + len;
    return v;
}

int redis_value_unpack(const char *v, size_t n, char **body, size_t *len)
{
    if (n < REDIS_VALUE_HEADER || memcmp(v, MAGIC, 4) != 0)
        return 0;
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)(unsigned char)v[4 + i] << (8 * i);
    if (want != n - REDIS_VALUE_HEADER)
        return 0;
    unsigned char sum[32];
    sha256_of(v + REDIS_VALUE_HEADER, n - REDIS_VALUE_HEADER, sum);
    if (memcmp(sum, v + 12, 32) != 0)
        return 0;
    *body = xstrndup(v + REDIS_VALUE_HEADER, n - REDIS_VALUE_HEADER);
    *len = n - REDIS_VALUE_HEADER;
    return 1;
}
