/* ratelimit.c: see ratelimit.h. */
#include "ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HEADROOM 0.97        /* pace this far under a limit told or read */
#define PROBE_MS 1000        /* the first call's window of one lasts this long at most */
#define PAUSE_MAX_MS 60000
#define PAUSE_PROBE_MS 100   /* during a pause, one call at a time this far apart */
#define DECREASE_GAP_MS 100  /* at least this long (or a round trip) between decreases */
#define LEARN_REFUSED 0.02    /* a second with more refused than this sets a pace */
#define LEARN_QUIET 0.005     /* at most this refused: 5% faster */
#define LEARN_SPEEDUP 1.05
#define LEARN_UNDER 0.9       /* the pace: this share of what a refused second got through */
#define LEARN_MIN_REFUSED 3   /* refusals a second needs to count */
#define LEARN_BACKOFF_MS 30000 /* refusals not about the rate: do not learn for this long */
#define HEADERLESS_GIVE_UP 8 /* replies without headers before they are no longer read */
#define HEADERLESS_RECHECK 256

void rl_bucket_set(rl_bucket *b, double rate, int64_t now)
{
    rl_bucket_fill(b, now);
    b->rate = rate > 0 ? rate : 0;
    b->burst = b->rate > 1 ? b->rate : 1;
    if (b->level > b->burst)
        b->level = b->burst;
    b->at = now;
}

void rl_bucket_fill(rl_bucket *b, int64_t now)
{
    if (b->rate <= 0 || now <= b->at) {
        if (b->rate <= 0)
            b->at = now;
        return;
    }
    b->level += b->rate * (double)(now - b->at) / 1000.0;
    if (b->level > b->burst)
        b->level = b->burst;
    b->at = now;
}

int64_t rl_bucket_wait(rl_bucket *b, double need, int64_t now)
{
    if (b->rate <= 0)
        return 0;
    rl_bucket_fill(b, now);
    if (need > b->burst)
        need = b->burst;
    if (b->level >= need)
        return 0;
    return (int64_t)ceil((need - b->level) * 1000.0 / b->rate);
}

void rl_bucket_take(rl_bucket *b, double n)
{
    if (b->rate > 0)
        b->level -= n;
}

void rl_reply_init(rl_reply *r)
{
    *r = (rl_reply){.status = 0, .retry_after_ms = -1, .limit_requests = -1,
                    .remaining_requests = -1, .limit_tokens = -1, .remaining_tokens = -1,
                    .reset_requests_ms = -1, .reset_tokens_ms = -1, .latency_ms = -1};
}

int rl_parse_duration_ms(const char *s, int64_t *ms)
{
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    double total = 0;
    int parts = 0;
    while (*s && !isspace((unsigned char)*s)) {
        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || v < 0)
            return -1;
        s = end;
        double unit;
        if (strncmp(s, "ms", 2) == 0)
            unit = 1, s += 2;
        else if (*s == 'h')
            unit = 3600000, s++;
        else if (*s == 'm')
            unit = 60000, s++;
        else if (*s == 's')
            unit = 1000, s++;
        else if (!*s || isspace((unsigned char)*s))
            unit = parts == 0 ? 1000 : -1; /* a bare number is seconds */
        else
            return -1;
        if (unit < 0)
            return -1;
        total += v * unit;
        parts++;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!parts || *s || total > 1e12)
        return -1;
    *ms = (int64_t)ceil(total);
    return 0;
}

const char *rl_source_name(enum rl_source s)
{
    switch (s) {
    case RL_SET: return "set";
    case RL_HEADERS: return "headers";
    case RL_LEARNED: return "learned";
    default: return "none";
    }
}

void ratelimit_init(ratelimit *r, double rpm, double tpm, int adapt, unsigned max_window,
                    int64_t now)
{
    memset(r, 0, sizeof *r);
    r->adapt = adapt;
    r->max_window = max_window ? max_window : 1;
    r->set_rpm = rpm > 0 ? rpm : 0;
    r->set_tpm = tpm > 0 ? tpm : 0;
    r->req.at = r->tok.at = now;
    if (r->set_rpm) {
        rl_bucket_set(&r->req, r->set_rpm / 60.0 * HEADROOM, now);
        r->req.level = r->req.burst;
        r->req_from = RL_SET;
    }
    if (r->set_tpm) {
        rl_bucket_set(&r->tok, r->set_tpm / 60.0 * HEADROOM, now);
        r->tok.level = r->tok.burst;
        r->tok_from = RL_SET;
    }
    r->window = r->max_window;
    /* Limits the user gave are paced from the first call: no probe. */
    r->probe_until = adapt && !r->set_rpm && !r->set_tpm ? now + PROBE_MS : 0;
    r->sec_at = now;
}

/* Ends the seconds past: a request rate learned from the refusals, for a
 * server that tells none (see ratelimit.h). */
static void roll_second(ratelimit *r, int64_t now)
{
    int64_t el = now - r->sec_at;
    if (el < 1000)
        return;
    int gap = el >= 2000; /* a second with no call at all went by */
    /* what got through: answered, or sent and not refused (a refusal comes
     * back at once, an answer only after the model's latency) */
    unsigned through = r->sec_sent > r->sec_refused ? r->sec_sent - r->sec_refused : 0;
    if (r->sec_ok > through)
        through = r->sec_ok;
    double ok_rate = (double)through;
    double f = r->sec_sent ? (double)r->sec_refused / (double)r->sec_sent : 0;
    int busy = r->sec_refused >= LEARN_MIN_REFUSED && f > LEARN_REFUSED;
    if (r->adapt && (r->req_from == RL_NONE || r->req_from == RL_LEARNED) && !gap) {
        if (r->req_from == RL_LEARNED && r->cut_check && busy && f > r->cut_fraction * 0.75) {
            /* pacing did not lower the refusals: they are not about the rate */
            rl_bucket_set(&r->req, 0, now);
            r->req_from = RL_NONE;
            r->cut_check = 0;
            r->learn_after = now + LEARN_BACKOFF_MS;
        } else if (busy && now >= r->learn_after) {
            /* a pace, or a slower one: what this second got through */
            int first = r->req_from == RL_NONE;
            rl_bucket_set(&r->req, ok_rate > 1 ? ok_rate * LEARN_UNDER : 1, now);
            if (first)
                r->req.level = 0;
            r->req_from = RL_LEARNED;
            r->cut_fraction = f;
            r->cut_check = 1;
        } else if (r->req_from == RL_LEARNED && f <= LEARN_QUIET) {
            r->cut_check = 0;
            rl_bucket_set(&r->req, r->req.rate * LEARN_SPEEDUP, now);
        }
    }
    r->sec_sent = r->sec_refused = r->sec_ok = 0;
    r->sec_at = gap ? now : r->sec_at + 1000;
}

/* The number of calls the window allows. */
static unsigned window_calls(const ratelimit *r, int64_t now)
{
    if (r->probe_until && now < r->probe_until)
        return 1;
    unsigned w = (unsigned)r->window;
    return w ? w : 1;
}

int64_t ratelimit_acquire(ratelimit *r, int64_t now, double tokens, int *probe_out)
{
    roll_second(r, now);
    int probe = 0;
    if (now < r->paused_until) {
        /* One call at a time tests whether the pause is the account's: a
         * Retry-After can be one call's (a server's own fault), and its
         * success ends the pause. */
        if (r->pause_probe || now < r->pause_probe_at)
            return r->pause_probe ? r->paused_until - now
                                  : (r->pause_probe_at < r->paused_until ? r->pause_probe_at
                                                                         : r->paused_until) - now;
        probe = 1;
    }
    if (r->inflight >= window_calls(r, now)) {
        if (r->probe_until && now < r->probe_until && r->inflight == 1)
            return r->probe_until - now; /* the probe's second ends then */
        return RL_WAIT_SLOT;
    }
    int64_t w = rl_bucket_wait(&r->req, 1, now);
    int64_t wt = rl_bucket_wait(&r->tok, tokens, now);
    if (wt > w)
        w = wt;
    if (w > 0)
        return w;
    rl_bucket_take(&r->req, 1);
    rl_bucket_take(&r->tok, tokens);
    r->inflight++;
    r->granted++;
    r->sec_sent++;
    if (probe) {
        r->pause_probe = 1;
        r->pause_probe_at = now + PAUSE_PROBE_MS;
    }
    *probe_out = probe;
    return 0;
}

/* A limit read from a reply's headers: per minute, paced 3% under. A limit
 * the user set stays unless the server says it is lower. */
static void limit_from_headers(ratelimit *r, rl_bucket *b, enum rl_source *from, double per_min,
                               double remaining, double set, int64_t now)
{
    if (per_min <= 0 || (set > 0 && set <= per_min))
        return;
    double rate = per_min / 60.0 * HEADROOM;
    int first = *from != RL_HEADERS;
    if (first || fabs(rate - b->rate) > 1e-9 * rate)
        rl_bucket_set(b, rate, now);
    *from = RL_HEADERS;
    if (first && remaining >= 0) {
        double left = remaining - (double)r->inflight;
        b->level = left < b->burst ? left : b->burst;
    }
}

static void decrease(ratelimit *r, int64_t now)
{
    int64_t gap = (int64_t)r->latency_ms;
    if (gap < DECREASE_GAP_MS)
        gap = DECREASE_GAP_MS;
    if (r->last_decrease && now - r->last_decrease < gap)
        return; /* the same burst's other refusals */
    r->last_decrease = now;
    r->decreases++;
    double w = r->window < (double)r->inflight + 1 ? r->window : (double)r->inflight + 1;
    r->window = w / 2 >= 1 ? w / 2 : 1;
}

void ratelimit_done(ratelimit *r, int64_t now, const rl_reply *rep, int probe)
{
    if (r->inflight)
        r->inflight--;
    if (probe)
        r->pause_probe = 0;
    roll_second(r, now);
    /* counted in the second the call went out in: a second is judged by
     * what became of its own calls */
    if (rep->latency_ms < 0 || now - rep->latency_ms >= r->sec_at) {
        if (rep->status == 429)
            r->sec_refused++;
        else if (rep->status >= 200 && rep->status < 300)
            r->sec_ok++;
    }
    r->probe_until = 0; /* a reply came: the window opens */
    int headers = rep->limit_requests > 0 || rep->limit_tokens > 0 ||
                  rep->remaining_requests >= 0 || rep->remaining_tokens >= 0;
    r->headerless = headers ? 0 : r->headerless + 1;
    limit_from_headers(r, &r->req, &r->req_from, rep->limit_requests, rep->remaining_requests,
                       r->set_rpm, now);
    limit_from_headers(r, &r->tok, &r->tok_from, rep->limit_tokens, rep->remaining_tokens,
                       r->set_tpm, now);
    /* Nothing left on the server's side: nothing left on ours. */
    if (rep->remaining_requests >= 0 && rep->remaining_requests < 1 && r->req.level > 0)
        r->req.level = 0;
    if (rep->remaining_tokens >= 0 && rep->remaining_tokens < 1 && r->tok.level > 0)
        r->tok.level = 0;
    if (!r->adapt)
        return;
    /* A 503 or 529 slows down only when the server asks to (Retry-After):
     * without it a 503 is as likely a fault as an overload. */
    if (rep->status == 429 ||
        ((rep->status == 503 || rep->status == 529) && rep->retry_after_ms >= 0)) {
        int limited = rep->status == 429;
        if (limited)
            r->limited++;
        else
            r->overloaded++;
        /* The account waits as long as the server said; a 429 that said
         * nothing is retried by its own call after a backoff. */
        int64_t pause = rep->retry_after_ms;
        if (pause < 0 && limited) {
            if (rep->remaining_tokens >= 0 && rep->remaining_tokens < 1 && rep->reset_tokens_ms > 0)
                pause = rep->reset_tokens_ms;
            else if (rep->remaining_requests >= 0 && rep->remaining_requests < 1 &&
                     rep->reset_requests_ms > 0)
                pause = rep->reset_requests_ms;
            if (pause > 1000 && r->req.rate > 0)
                pause = 1000; /* a reset is the time to a full bucket, not to the next call */
        }
        if (pause > PAUSE_MAX_MS)
            pause = PAUSE_MAX_MS;
        if (pause > 0 && now + pause > r->paused_until) {
            r->paused_until = now + pause;
            if (!probe)
                r->pause_probe_at = now + PAUSE_PROBE_MS;
        }
        decrease(r, now);
        return;
    }
    if (rep->status < 200 || rep->status >= 300)
        return;
    if (probe || r->paused_until <= now)
        r->paused_until = 0; /* the pause was not the account's, or is over */
    if (rep->latency_ms >= 0)
        r->latency_ms = r->latency_ms > 0 ? r->latency_ms * 0.9 + (double)rep->latency_ms * 0.1
                                          : (double)rep->latency_ms;
    if (r->window < r->max_window) {
        r->window += 1; /* doubles in a round trip: a random refusal costs little */
        if (r->window > r->max_window)
            r->window = r->max_window;
    }
}

int64_t ratelimit_wait_estimate(const ratelimit *r, int64_t now, unsigned ahead)
{
    double ms = r->paused_until > now ? (double)(r->paused_until - now) : 0;
    if (r->req.rate > 0) {
        double short_of = (double)ahead + 1 - (r->req.level > 0 ? r->req.level : 0);
        if (short_of > 0)
            ms += short_of * 1000.0 / r->req.rate;
    }
    return (int64_t)ms;
}

int ratelimit_wants_headers(const ratelimit *r)
{
    return r->headerless < HEADERLESS_GIVE_UP || r->granted % HEADERLESS_RECHECK == 0;
}

int ratelimit_limiting(const ratelimit *r, int64_t now)
{
    return now < r->paused_until || r->req_from == RL_LEARNED || (r->req.rate > 0 && r->req.level < 1) ||
           (r->tok.rate > 0 && r->tok.level < 1);
}
