/* ratelimit.h: how fast to call one LLM account (an origin and an API key),
 * learned from what it answers. Pure: the caller passes the clock
 * (milliseconds, any monotonic origin) and holds any lock.
 *
 * Three things decide when the next call may go:
 *  - a request rate and a token rate, each a token bucket of one second's
 *    worth, paced 3% under a limit set by the user (--llm-rpm, --llm-tpm) or
 *    read from the x-ratelimit-limit-requests / -tokens headers OpenAI and
 *    Groq send with every reply. For a server that sends no such header the
 *    request rate is learned, second by second: when more than 2% of a
 *    second's calls were refused, the pace becomes 90% of what that second
 *    got through; 5% faster each second with at most 0.5% refused. Should the
 *    next second be refused almost as much as before (three quarters), the
 *    refusals were not about the rate (a server failing calls at random): the
 *    pace is dropped and not learned again for 30 s;
 *  - a pause: after a 429 for as long as its Retry-After (or retry-after-ms,
 *    or the reset of a limit it says is spent), after a 503 or 529 for its
 *    Retry-After. During it one call at a time, 100 ms apart, tests whether
 *    the wait is the account's: its success ends the pause (a server that
 *    refuses one call in three at random is not a spent account);
 *  - a concurrency window: one call (a probe, so a burst does not go out
 *    before the first reply has told the limits) until the first reply or for
 *    a second at most, then the whole window; halved on a 429 or such a 503
 *    (once per round trip), then growing by one per answered call.
 * A 429 that names no wait is retried by its own call after a backoff.
 * With adaptation off only the limits set by the user apply. */
#ifndef B77_RATELIMIT_H
#define B77_RATELIMIT_H

#include <stdint.h>

/* A token bucket: `rate` tokens a second, up to `burst`. */
typedef struct rl_bucket {
    double rate; /* 0: no limit */
    double burst;
    double level; /* may go below 0 after a large take */
    int64_t at;   /* when level was last brought up to date */
} rl_bucket;

/* Sets the rate (and a burst of one second's worth, at least 1); the level
 * is kept, capped at the new burst. */
void rl_bucket_set(rl_bucket *b, double rate, int64_t now);
void rl_bucket_fill(rl_bucket *b, int64_t now);
/* Milliseconds until the level reaches need (capped at the burst); 0: now.
 * Fills first. A bucket without a rate never waits. */
int64_t rl_bucket_wait(rl_bucket *b, double need, int64_t now);
void rl_bucket_take(rl_bucket *b, double n);

/* What one reply said about the limits; -1 where it said nothing. */
typedef struct rl_reply {
    long status;            /* 0: no HTTP reply */
    int64_t retry_after_ms; /* Retry-After or retry-after-ms */
    double limit_requests, remaining_requests; /* x-ratelimit-*-requests (per minute) */
    double limit_tokens, remaining_tokens;     /* x-ratelimit-*-tokens (per minute) */
    int64_t reset_requests_ms, reset_tokens_ms; /* x-ratelimit-reset-* */
    int64_t latency_ms;
} rl_reply;

void rl_reply_init(rl_reply *r);

/* Reads a reset duration as OpenAI and Groq write them ("1s", "6m0s",
 * "59.56s", "120ms", "2m59.56s", "1h2m") or as plain seconds ("20", "0.5").
 * 0, or -1 when it is neither. */
int rl_parse_duration_ms(const char *s, int64_t *ms);

enum rl_source { RL_NONE, RL_SET, RL_HEADERS, RL_LEARNED };

typedef struct ratelimit {
    int adapt;
    unsigned max_window;
    double set_rpm, set_tpm; /* 0: not set */
    rl_bucket req, tok;
    enum rl_source req_from, tok_from;
    double window;
    unsigned inflight;
    int64_t paused_until;
    int64_t probe_until; /* the first call's window of one ends then (0: over) */
    int pause_probe;     /* a call granted during the pause is out */
    int64_t pause_probe_at; /* the next such call not before then */
    int64_t last_decrease;
    double latency_ms;   /* moving average of answered calls */
    /* The current second's calls, for a learned rate. */
    int64_t sec_at;
    unsigned sec_sent, sec_refused, sec_ok;
    double cut_fraction; /* refused share of the second that set the pace */
    int cut_check;       /* the next second tells whether pacing helped */
    int64_t learn_after; /* refusals found not to be about the rate: not before then */
    unsigned headerless; /* replies in a row without x-ratelimit headers */
    /* Counts, for metrics. */
    uint64_t granted, limited, overloaded, decreases;
} ratelimit;

/* rpm, tpm: limits the user knows (0: none). max_window: the most calls at
 * once (at least 1). */
void ratelimit_init(ratelimit *r, double rpm, double tpm, int adapt, unsigned max_window,
                    int64_t now);

#define RL_WAIT_SLOT (-1) /* no time to wait for: a call in flight must end first */
/* Takes a slot for a call estimated at `tokens`: 0 when it may go now (the
 * caller must then call ratelimit_done once it ends, passing *probe back),
 * else the milliseconds to wait before asking again, or RL_WAIT_SLOT. */
int64_t ratelimit_acquire(ratelimit *r, int64_t now, double tokens, int *probe);
/* A granted call ended with this reply; probe: as acquired. */
void ratelimit_done(ratelimit *r, int64_t now, const rl_reply *rep, int probe);
/* Roughly how long a call would wait with `ahead` calls before it. */
int64_t ratelimit_wait_estimate(const ratelimit *r, int64_t now, unsigned ahead);
/* Whether reading the x-ratelimit headers of a successful reply is worth it:
 * the server sent them lately (or it is too early to tell). */
int ratelimit_wants_headers(const ratelimit *r);
/* Whether calls are being held back by a pause or a learned or told rate. */
int ratelimit_limiting(const ratelimit *r, int64_t now);
const char *rl_source_name(enum rl_source s);

#endif
