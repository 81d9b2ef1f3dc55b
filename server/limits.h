/* limits.h: one rate limiter (ratelimit.h) per LLM account, an origin and
 * the API key sent there, shared by every upstream thread.
 *
 * Threads: the table and each limiter have their own mutex; any thread may
 * call any function. A limiter lives as long as the table (the upstream
 * loops keep pointers to it in their calls). */
#ifndef B77_LIMITS_H
#define B77_LIMITS_H

#include <jansson.h>
#include <stdint.h>

#include "ratelimit.h"
#include "util.h"

typedef struct limits limits;
typedef struct limiter limiter;

/* rpm, tpm: limits the user knows, for every account (0: none). With adapt
 * 0 and neither set, there is nothing to do: NULL. */
limits *limits_new(double rpm, double tpm, int adapt, unsigned max_window);
void limits_free(limits *t);

/* The limiter for calls to url's origin with the credential `credential`
 * (the auth header lines, hashed; NULL: none). NULL when t is NULL or the
 * table is full (such calls go unlimited). */
limiter *limits_for(limits *t, const char *url, const char *const *credential, size_t ncred);

/* ratelimit_acquire for one call; a refusal that a call's end may lift (no
 * slot, the first call's reply awaited, a pause) records `waker` (an
 * upstream thread's bit) to be returned by limiter_done. */
int64_t limiter_acquire(limiter *l, int64_t now, double tokens, uint64_t waker, int *probe);
/* ratelimit_done; returns the waker bits of threads to wake (a slot is
 * free and they had calls waiting for one). */
uint64_t limiter_done(limiter *l, int64_t now, const rl_reply *rep, int probe);
int limiter_wants_headers(limiter *l);
/* Whether the limiter learns from replies (not --rate-adapt off). */
int limiter_adapts(const limiter *l);
/* A call joins (+1) or leaves (-1) the queue; a call that waited adds its
 * wait; one given up on (no slot before its deadline) is counted. */
void limiter_queue(limiter *l, int delta);
void limiter_waited(limiter *l, int64_t ms);
void limiter_gave_up(limiter *l);
/* The least time left a call must have to be worth a slot: twice the
 * account's usual latency, at least 5 ms. */
int64_t limiter_min_time(limiter *l);
/* How long a call joining the queue now would wait. */
int64_t limiter_wait_estimate(limiter *l, int64_t now);
/* "http://host:port" (borrowed, lives as long as the table). */
const char *limiter_origin(const limiter *l);

/* /metrics: the window, queue, 429s and waits per account. */
void limits_metrics(limits *t, buf *out);
/* /info: [{"origin", "key", "requests_per_minute", "tokens_per_minute", ...}]. */
json_t *limits_json(limits *t);

#endif
