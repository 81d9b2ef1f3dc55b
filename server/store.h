/* store.h: where the reply cache keeps replies beyond one process: a
 * SQLite file (sqlite:PATH), shared by the task-app processes of a host,
 * bounded in bytes with least-recently-used eviction inside the database,
 * crash-safe (WAL). The memory cache (cache.h) stays in front of it.
 *
 * (A hit marks its reply as used only when the mark is a minute old: the
 * eviction order is the minute of last use.)
 *
 * A store never fails a rollout or stops the server: a damaged file is
 * moved aside and a new one made, an old-format cache file is imported and
 * kept aside, and any other error counts as a miss (logged, counted, and
 * shown by /health and /info).
 *
 * Thread-safety: every function is safe from any thread. A lookup runs on
 * the caller's thread (an HTTP thread; SQLite waits at most 50 ms for a
 * lock another process holds); a write is queued and done by the store's
 * own thread. */
#ifndef B77_STORE_H
#define B77_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct store store;

typedef struct store_key {
    unsigned char d[32]; /* SHA-256 of the normalised URL and the body */
} store_key;

/* spec: "sqlite:PATH". NULL with a message in err only when spec is not one
 * (problems with the file itself are repaired, and logged). */
store *store_open(const char *spec, size_t max_bytes, char *err, size_t errlen);
void store_close(store *s);

/* 1 and a new copy in *out (caller frees) when the store holds key and the
 * reply passes its length and checksum check; 0 otherwise. */
int store_get(store *s, const store_key *key, char **out, size_t *len);
void store_put(store *s, const store_key *key, const char *body, size_t len);

typedef struct store_stats {
    const char *kind;  /* "sqlite" */
    const char *path;
    int ok;            /* the last operation succeeded */
    char last_error[200];
    long long entries, bytes; /* in the file, all processes' */
    unsigned long gets, hits, puts, errors, repaired;
    unsigned long dropped; /* writes not queued: the queue was full */
    double get_seconds, put_seconds; /* time spent in them */
    long long lookups_all, hits_all; /* every process's, kept in the file */
} store_stats;
/* with_file: also the file's entries, bytes and shared counts (a scan of
 * the table: not for /health). */
store_stats store_get_stats(store *s, int with_file);

#endif
