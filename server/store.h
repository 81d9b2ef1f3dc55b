/* store.h: where the reply cache keeps replies beyond one process. Two
 * kinds behind one interface (store.c dispatches):
 *
 * - sqlite:PATH, a SQLite file shared by the task-app processes of a host,
 *   bounded in bytes with least-recently-used eviction inside the database,
 *   crash-safe (WAL);
 * - redis://HOST:PORT[/DB], a Redis server shared by replicas on many
 *   hosts: expiry (--cache-ttl) and memory bound are Redis's own, and a
 *   fleet makes one call per distinct request (store_claim).
 *
 * The memory cache (cache.h) stays in front of either.
 *
 * (SQLite: a hit marks its reply as used only when the mark is a minute
 * old: the eviction order is the minute of last use.)
 *
 * A store never fails a rollout or stops the server: a damaged SQLite file
 * is moved aside and a new one made, an old-format cache file is kept
 * aside, a damaged Redis value is deleted, a Redis that is down, stalled or
 * full is reconnected to or asked again, and any error counts as a miss
 * (logged, counted, and shown by /health and /info).
 *
 * Thread-safety: every function is safe from any thread. A lookup runs on
 * the caller's thread (an HTTP thread; SQLite waits at most 50 ms for a
 * lock another process holds; a Redis lookup waits at most 50 ms for its
 * answer from the store's connection thread, and a rollout does not make
 * one: it asks store_claim, parked); a write is queued and done by the
 * store's own thread. */
#ifndef B77_STORE_H
#define B77_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

typedef struct store_key {
    unsigned char d[32]; /* SHA-256 of the normalised URL and the body */
} store_key;

/* spec: "sqlite:PATH" or "redis://HOST:PORT[/DB]". NULL with a message in
 * err only when spec is not one (problems with the file are repaired, a
 * Redis that is down is connected to when it comes up; both logged).
 * ttl_ms: how long Redis keeps a reply (0: until its memory policy evicts
 * it); max_bytes: the SQLite file's bound. */
store *store_open(const char *spec, size_t max_bytes, int64_t ttl_ms, char *err, size_t errlen);
void store_close(store *s);

/* 1 and a new copy in *out (caller frees) when the store holds key and the
 * reply passes its length and checksum check; 0 otherwise. */
int store_get(store *s, const store_key *key, char **out, size_t *len);
void store_put(store *s, const store_key *key, const char *body, size_t len);

/* One paid call per distinct request across a fleet (stores shared by
 * hosts: redis). store_claim returns 0 when it cannot ask (a store of one
 * host, or not connected: make the call; cb is not called); else 1, and
 * answers through cb, once, from the store's thread:
 * - STORE_CLAIM_OWNED: this process holds the key's lock (lock_ms at most,
 *   kept alive by the store while this process lives: one that dies frees it
 *   within a few seconds): make the call, store_put its reply, then
 *   store_release;
 * - STORE_CLAIM_FOUND: another process's reply, body a new copy (cb frees);
 * - STORE_CLAIM_UNAVAILABLE: the store went down meanwhile: make the call;
 * - STORE_CLAIM_TIMEOUT: another held the lock for wait_ms and no reply
 *   came: make the call.
 * waited: another process held the lock when it was first asked. */
enum store_claim {
    STORE_CLAIM_OWNED,
    STORE_CLAIM_FOUND,
    STORE_CLAIM_UNAVAILABLE,
    STORE_CLAIM_TIMEOUT,
};
typedef void (*store_claim_cb)(void *arg, enum store_claim result, char *body, size_t len,
                               int waited);
/* 1 when store_claim can share calls with other processes. */
int store_shared_by_fleet(const store *s);
int store_claim(store *s, const store_key *key, int64_t wait_ms, int64_t lock_ms,
                store_claim_cb cb, void *arg);
/* Gives up this process's lock on key (after its reply is stored, or its
 * call failed: the others then try themselves). */
void store_release(store *s, const store_key *key);

typedef struct store_stats {
    const char *kind;  /* "sqlite" or "redis" */
    const char *path;
    int ok;            /* the last operation succeeded */
    char last_error[200];
    long long entries, bytes; /* in the file (the Redis database), all processes' */
    unsigned long claims, claims_waited, claims_found; /* fleet locks asked, waited, answered */
    unsigned long gets, hits, puts, errors, repaired;
    unsigned long reopened; /* the file at the path replaced by another process's repair */
    unsigned long dropped; /* writes not queued: the queue was full */
    double get_seconds, put_seconds; /* time spent in them */
    long long lookups_all, hits_all; /* every process's, kept in the file */
} store_stats;
/* with_file: also the file's entries, bytes and shared counts (a scan of
 * the table: not for /health). */
store_stats store_get_stats(store *s, int with_file);

#endif
