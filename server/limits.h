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

/* A call joins the account's queue: 0. When the queue's wait would
 * outlast its deadline it does not (counted as given up): that wait. */
int64_t limiter_enqueue(limiter *l, int64_t now, int64_t deadline);

/* What limiter_take tells besides its answer. */
typedef struct limiter_turn {
    int probe;        /* granted as a pause's probe: pass to limiter_done */
    int64_t min_time; /* the least time left a queued call needs (this turn) */
    int64_t retry_ms; /* RL_GIVE_UP: when the caller may try again */
} limiter_turn;

#define RL_GIVE_UP (-2) /* the call's deadline is too near for a slot: it left the queue */
/* A queued call asks for a slot (one lock for all of it): 0 when granted
 * (it leaves the queue; the caller must call limiter_done when it ends),
 * RL_GIVE_UP, or ratelimit_acquire's wait. A wait that a call's end may
 * lift (no slot, the first call's reply awaited, a pause) records `waker`
 * (an upstream thread's bit) to be returned by limiter_done. */
int64_t limiter_take(limiter *l, int64_t now, double tokens, uint64_t waker, int64_t queued_at,
                     int64_t deadline, limiter_turn *t);
/* A queued call leaves unserved because its deadline came: counted as
 * given up; when the caller may try again. */
int64_t limiter_give_up(limiter *l, int64_t now);
/* A queued call leaves unserved (the server is stopping). */
void limiter_leave(limiter *l);
/* ratelimit_done; returns the waker bits of threads to wake (a slot is
 * free and they had calls waiting for one). */
uint64_t limiter_done(limiter *l, int64_t now, const rl_reply *rep, int probe);
int limiter_wants_headers(limiter *l);
/* Whether the limiter learns from replies (not --rate-adapt off). */
int limiter_adapts(const limiter *l);
/* How long a call joining the queue now would wait. */
int64_t limiter_wait_estimate(limiter *l, int64_t now);
/* "http://host:port" (borrowed, lives as long as the table). */
const char *limiter_origin(const limiter *l);

/* /metrics: the window, queue, 429s and waits per account. */
void limits_metrics(limits *t, buf *out);
/* /info: [{"origin", "key", "requests_per_minute", "tokens_per_minute", ...}]. */
json_t *limits_json(limits *t);

#endif
