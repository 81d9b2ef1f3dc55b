/* store_impl.h: what a store kind (store_sqlite.c, store_redis.c) gives
 * store.c, which dispatches store.h's calls to it. Each kind's struct
 * begins with a `store` whose ops point at its functions. */
#ifndef B77_STORE_IMPL_H
#define B77_STORE_IMPL_H

#include "store.h"

typedef struct store_ops {
    int (*get)(store *s, const store_key *key, char **out, size_t *len);
    void (*put)(store *s, const store_key *key, const char *body, size_t len);
    store_stats (*stats)(store *s, int with_file);
    void (*close)(store *s);
    /* NULL for a store of one host (no fleet to share a call with) */
    void (*claim)(store *s, const store_key *key, int64_t wait_ms, int64_t lock_ms,
                  store_claim_cb cb, void *arg);
    void (*release)(store *s, const store_key *key);
    int (*can_claim)(store *s); /* connected: a claim will be answered */
} store_ops;

struct store {
    const store_ops *ops;
};

/* sqlite:PATH, PATH the part after "sqlite:". */
store *store_sqlite_open(const char *path, size_t max_bytes);
/* redis://HOST:PORT[/DB]; NULL with err when the address is not one. */
store *store_redis_open(const char *spec, int64_t ttl_ms, char *err, size_t errlen);

#endif
