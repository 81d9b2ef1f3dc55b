/* cache.h: an LRU cache of upstream replies, bounded in bytes, keyed on the
 * SHA-256 of the normalised inference URL (correlation-id parameters
 * removed) and the exact request body; in memory, in front of a store
 * (store.h) that keeps them across restarts and processes, so that a re-run
 * repeats no paid call. Also the registry of calls in flight, so that
 * identical requests at the same moment share one upstream call.
 *
 * Thread-safety: every function takes the cache's mutex; callers are the
 * HTTP threads. The waiter pointers it hands back are opaque to it. */
#ifndef B77_CACHE_H
#define B77_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"
#include "util.h"

typedef struct cache cache;

typedef store_key cache_key;

/* The key of one upstream call. */
cache_key cache_key_for(const char *url, const char *body, size_t body_len);

/* max_bytes 0 disables storing (dedup still works); it bounds the memory
 * level and the store each. store_spec NULL or "memory": memory only; else
 * a store.h spec. Returns NULL with a message in err when the spec is not
 * one. */
cache *cache_new(size_t max_bytes, const char *store_spec, int64_t ttl_ms, char *err,
                 size_t errlen);
void cache_free(cache *c);
/* Closes the store (its thread answers what waits on it first); the memory
 * level stays. For the server's stop, once no other thread uses the cache. */
void cache_close_store(cache *c);

/* A stored reply body for key: a new copy in *out (caller frees), or 0. */
int cache_get(cache *c, cache_key key, char **out, size_t *len);
/* The same from the memory level only (a fleet's store is asked by
 * store_claim instead, without holding the caller's thread). */
int cache_get_local(cache *c, cache_key key, char **out, size_t *len);
/* Stores a successful reply body (copied), in memory and the store. */
void cache_put(cache *c, cache_key key, const char *body, size_t len);
/* The same in memory only (a reply another process stored). */
void cache_keep(cache *c, cache_key key, const char *body, size_t len);
/* The store behind the memory level (borrowed), NULL when none. */
store *cache_store(cache *c);

/* In-flight calls. cache_join returns 1 and records waiter when a call with
 * this key is already running (the caller parks and waits); otherwise it
 * registers the caller as the leader and returns 0. cache_finish removes the
 * key and returns its waiters (a new array of *n pointers, caller frees). */
int cache_join(cache *c, cache_key key, void *waiter);
void **cache_finish(cache *c, cache_key key, size_t *n);

typedef struct cache_stats {
    unsigned long hits, misses, shared, entries;
    size_t bytes;
} cache_stats;
cache_stats cache_get_stats(cache *c);
/* The store's figures (with_file: see store_get_stats); 0 when there is none. */
int cache_store_stats(cache *c, store_stats *out, int with_file);
/* {"kind", "path", "state", ...} (new reference) for /health and /info. */
json_t *cache_store_json(cache *c, int with_file);
/* Counts a lookup outcome (cache_get counts its own hits). */
void cache_count(cache *c, int miss, int shared, int hit);

#endif
