/* store.c: store.h's calls, dispatched to the kind of store the spec names. */
#include "store_impl.h"

#include <stdio.h>
#include <string.h>

store *store_open(const char *spec, size_t max_bytes, int64_t ttl_ms, char *err, size_t errlen)
{
    if (strncmp(spec, "sqlite:", 7) == 0 && spec[7])
        return store_sqlite_open(spec + 7, max_bytes);
    if (strncmp(spec, "redis://", 8) == 0)
        return store_redis_open(spec, ttl_ms, err, errlen);
    snprintf(err, errlen, "unknown cache store \"%s\" (want memory, sqlite:PATH or "
             "redis://HOST:PORT[/DB])", spec);
    return NULL;
}

void store_close(store *s)
{
    if (s)
        s->ops->close(s);
}

int store_get(store *s, const store_key *key, char **out, size_t *len)
{
    return s->ops->get(s, key, out, len);
}

void store_put(store *s, const store_key *key, const char *body, size_t len)
{
    s->ops->put(s, key, body, len);
}

store_stats store_get_stats(store *s, int with_file)
{
    return s->ops->stats(s, with_file);
}

int store_shared_by_fleet(const store *s)
{
    return s && s->ops->claim != NULL;
}

int store_claim(store *s, const store_key *key, int64_t wait_ms, int64_t lock_ms,
                store_claim_cb cb, void *arg)
{
    if (!store_shared_by_fleet(s) || !s->ops->can_claim(s))
        return 0;
    s->ops->claim(s, key, wait_ms, lock_ms, cb, arg);
    return 1;
}

void store_release(store *s, const store_key *key)
{
    if (store_shared_by_fleet(s))
        s->ops->release(s, key);
}
