/* Unit tests: the rate limiter (lib/ratelimit.c), on its own and against a
 * simulated provider in simulated time: a token bucket of one second's
 * worth at 50 requests a second, answering 429 at once beyond it. */
#include <math.h>
#include <stdlib.h>

#include "ratelimit.h"
#include "test.h"
#include "util.h"

TEST(ratelimit_durations)
{
    int64_t ms;
    CHECK(rl_parse_duration_ms("1s", &ms) == 0 && ms == 1000);
    CHECK(rl_parse_duration_ms("6m0s", &ms) == 0 && ms == 360000);
    CHECK(rl_parse_duration_ms("59.56s", &ms) == 0 && ms == 59560);
    CHECK(rl_parse_duration_ms("120ms", &ms) == 0 && ms == 120);
    CHECK(rl_parse_duration_ms("2m59.56s", &ms) == 0 && ms == 179560);
    CHECK(rl_parse_duration_ms("1h2m", &ms) == 0 && ms == 3720000);
    CHECK(rl_parse_duration_ms("20", &ms) == 0 && ms == 20000);
    CHECK(rl_parse_duration_ms("0.5", &ms) == 0 && ms == 500);
    CHECK(rl_parse_duration_ms(" 7.66s ", &ms) == 0 && ms == 7660);
    CHECK(rl_parse_duration_ms("", &ms) != 0);
    CHECK(rl_parse_duration_ms("soon", &ms) != 0);
    CHECK(rl_parse_duration_ms("-1s", &ms) != 0);
    CHECK(rl_parse_duration_ms("1s 2", &ms) != 0);
    CHECK(rl_parse_duration_ms("5x", &ms) != 0);
    CHECK(rl_parse_duration_ms("1m2", &ms) != 0);
    CHECK(rl_parse_duration_ms(NULL, &ms) != 0);
}

TEST(ratelimit_bucket)
{
    rl_bucket b = {0};
    rl_bucket_set(&b, 10, 0); /* 10 a second, burst 10, empty */
    CHECK(b.burst == 10 && b.level == 0);
    CHECK(rl_bucket_wait(&b, 1, 0) == 100);
    CHECK(rl_bucket_wait(&b, 1, 100) == 0);
    rl_bucket_take(&b, 1);
    CHECK(rl_bucket_wait(&b, 1, 100) == 100);
    CHECK(rl_bucket_wait(&b, 50, 5000) == 0); /* capped at the burst, and full by then */
    rl_bucket none = {0};
    CHECK(rl_bucket_wait(&none, 1e9, 0) == 0); /* no rate: never waits */
}

TEST(ratelimit_probe_then_window)
{
    ratelimit r;
    int probe;
    ratelimit_init(&r, 0, 0, 1, 100, 0);
    CHECK(ratelimit_acquire(&r, 0, 10, &probe) == 0);
    /* the first call is out alone until it is answered, or for a second */
    CHECK(ratelimit_acquire(&r, 10, 10, &probe) == 990);
    rl_reply rep;
    rl_reply_init(&rep);
    rep.status = 200;
    rep.latency_ms = 20;
    ratelimit_done(&r, 20, &rep, probe);
    for (int i = 0; i < 100; i++)
        CHECK(ratelimit_acquire(&r, 20, 10, &probe) == 0);
    CHECK(ratelimit_acquire(&r, 20, 10, &probe) == RL_WAIT_SLOT);
    /* with the limits given, no probe */
    ratelimit_init(&r, 600, 0, 1, 100, 0);
    CHECK(ratelimit_acquire(&r, 0, 10, &probe) == 0);
    CHECK(ratelimit_acquire(&r, 0, 10, &probe) == 0);
}

TEST(ratelimit_headers_set_the_pace)
{
    ratelimit r;
    int probe;
    ratelimit_init(&r, 0, 0, 1, 1000, 0);
    CHECK(ratelimit_acquire(&r, 0, 10, &probe) == 0);
    rl_reply rep;
    rl_reply_init(&rep);
    rep.status = 200;
    rep.limit_requests = 6000; /* 100 a second: paced at 97 */
    rep.remaining_requests = 5999;
    rep.limit_tokens = 600000;
    rep.remaining_tokens = 599990;
    ratelimit_done(&r, 5, &rep, probe);
    CHECK(r.req_from == RL_HEADERS && fabs(r.req.rate - 97) < 1e-9);
    CHECK(r.tok_from == RL_HEADERS && fabs(r.tok.rate - 9700) < 1e-6);
    int granted = 0;
    for (int i = 0; i < 1000 && ratelimit_acquire(&r, 5, 10, &probe) == 0; i++)
        granted++;
    CHECK(granted == 97); /* one second's worth at once, then the pace */
    CHECK(ratelimit_acquire(&r, 5, 10, &probe) == 11);
    /* a set limit below the header's stays */
    ratelimit_init(&r, 600, 0, 1, 1000, 0);
    ratelimit_done(&r, 5, &rep, 0);
    CHECK(r.req_from == RL_SET && fabs(r.req.rate - 9.7) < 1e-9);
    /* remaining 0: nothing left on our side either */
    ratelimit_init(&r, 0, 0, 1, 1000, 0);
    rep.remaining_requests = 0;
    ratelimit_done(&r, 5, &rep, 0);
    CHECK(ratelimit_acquire(&r, 5, 10, &probe) > 0);
}

TEST(ratelimit_pause_is_probed)
{
    ratelimit r;
    int probe;
    ratelimit_init(&r, 0, 0, 1, 100, 0);
    r.probe_until = 0;
    CHECK(ratelimit_acquire(&r, 0, 10, &probe) == 0);
    rl_reply rep;
    rl_reply_init(&rep);
    rep.status = 429;
    rep.retry_after_ms = 5000;
    ratelimit_done(&r, 10, &rep, 0);
    CHECK(r.limited == 1 && r.window == 1);
    /* paused: no call for 100 ms, then one at a time */
    CHECK(ratelimit_acquire(&r, 50, 10, &probe) == 60);
    CHECK(ratelimit_acquire(&r, 110, 10, &probe) == 0 && probe);
    CHECK(ratelimit_acquire(&r, 120, 10, &probe) > 0);
    /* the probe succeeded: the pause was not the account's */
    rep.status = 200;
    rep.retry_after_ms = -1;
    ratelimit_done(&r, 130, &rep, 1);
    CHECK(r.paused_until == 0);
    CHECK(ratelimit_acquire(&r, 130, 10, &probe) == 0 && !probe);
    /* a probe refused again keeps the pause */
    rep.status = 429;
    rep.retry_after_ms = 5000;
    ratelimit_done(&r, 500, &rep, 0);
    CHECK(ratelimit_acquire(&r, 600, 10, &probe) == 0 && probe);
    ratelimit_done(&r, 610, &rep, 1);
    CHECK(r.paused_until == 5610);
    /* a 503 without Retry-After is a fault, not a limit */
    ratelimit_init(&r, 0, 0, 1, 100, 0);
    rep.status = 503;
    rep.retry_after_ms = -1;
    ratelimit_done(&r, 0, &rep, 0);
    CHECK(r.paused_until == 0 && r.window == 100 && r.overloaded == 0);
    /* adaptation off: a 429 changes nothing */
    ratelimit_init(&r, 0, 0, 0, 100, 0);
    rep.status = 429;
    rep.retry_after_ms = 1000;
    ratelimit_done(&r, 0, &rep, 0);
    CHECK(r.paused_until == 0 && r.window == 100);
}

/* ---- a simulated provider ----------------------------------------------- */

#define SIM_CALLS 500
#define SIM_RATE 50.0 /* the provider's requests a second */

typedef struct sim_opts {
    int headers;        /* the provider sends x-ratelimit-* */
    double random_429;  /* share of calls refused at random, Retry-After 1 s */
    int64_t latency;    /* of an answered call, ms */
    double rate;        /* the provider's requests a second (0: SIM_RATE) */
} sim_opts;

typedef struct sim_result {
    int done;
    long calls, refused;
    long calls_late, refused_late; /* from the third second on */
    int done_late;
    int64_t end;       /* when the last call was answered, ms */
    int64_t last_sent; /* when the last call went out */
    enum rl_source from;
    double rate;
} sim_result;

static sim_result simulate(sim_opts o)
{
    struct call {
        int64_t ready, reply_at;
        int state; /* 0 waiting, 1 out, 2 done */
        int probe;
        long status;
        int64_t retry_after;
    } *c = calloc(SIM_CALLS, sizeof *c);
    ratelimit r;
    ratelimit_init(&r, 0, 0, 1, 1024, 0);
    rl_bucket provider = {0};
    double rate = o.rate > 0 ? o.rate : SIM_RATE;
    rl_bucket_set(&provider, rate, 0);
    provider.level = provider.burst;
    uint64_t rng = 42;
    sim_result res = {0};
    for (int64_t t = 0; t < 120000 && res.done < SIM_CALLS; t++) {
        for (int i = 0; i < SIM_CALLS; i++) {
            if (c[i].state != 1 || c[i].reply_at != t)
                continue;
            rl_reply rep;
            rl_reply_init(&rep);
            rep.status = c[i].status;
            rep.latency_ms = c[i].status == 200 ? o.latency : 1;
            rep.retry_after_ms = c[i].retry_after;
            if (o.headers) {
                rep.limit_requests = rate * 60;
                rep.remaining_requests = floor(provider.level > 0 ? provider.level : 0);
            }
            ratelimit_done(&r, t, &rep, c[i].probe);
            if (c[i].status == 200) {
                c[i].state = 2;
                res.done++;
                res.done_late += t >= 2000;
                res.end = t;
            } else {
                c[i].state = 0;
                c[i].ready = t + (c[i].retry_after > 0 ? c[i].retry_after : 100);
            }
        }
        /* oldest first; the first refusal ends this millisecond's turn */
        for (int i = 0; i < SIM_CALLS; i++) {
            if (c[i].state != 0 || c[i].ready > t)
                continue;
            if (ratelimit_acquire(&r, t, 10, &c[i].probe) != 0)
                break;
            res.calls++;
            res.last_sent = t;
            c[i].state = 1;
            int random_refusal = (double)(splitmix64(&rng) % 1000000) < o.random_429 * 1e6;
            if (random_refusal) {
                c[i].status = 429;
                c[i].retry_after = 1000;
                c[i].reply_at = t + 1;
            } else if (rl_bucket_wait(&provider, 1, t) > 0) {
                c[i].status = 429;
                c[i].retry_after = rl_bucket_wait(&provider, 1, t);
                c[i].reply_at = t + 1;
            } else {
                rl_bucket_take(&provider, 1);
                c[i].status = 200;
                c[i].retry_after = -1;
                c[i].reply_at = t + o.latency;
            }
            res.refused += c[i].status == 429;
            if (t >= 2000) {
                res.calls_late++;
                res.refused_late += c[i].status == 429;
            }
        }
    }
    res.from = r.req_from;
    res.rate = r.req.rate;
    free(c);
    return res;
}

TEST(ratelimit_simulated_provider_with_headers)
{
    for (int64_t latency = 1; latency <= 1000; latency *= 10) {
        sim_result s = simulate((sim_opts){.headers = 1, .latency = latency});
        CHECK(s.done == SIM_CALLS);
        CHECK(s.refused <= s.calls / 50); /* at most 2% */
        /* 50 at once (after the probe's reply), then at the pace */
        double steady = (double)(SIM_CALLS - 51) / ((double)(s.last_sent - latency) / 1000.0);
        CHECK(steady >= 0.95 * SIM_RATE && steady <= SIM_RATE);
        CHECK(s.from == RL_HEADERS);
    }
}

TEST(ratelimit_simulated_provider_without_headers)
{
    sim_result s = simulate((sim_opts){.headers = 0, .latency = 300});
    CHECK(s.done == SIM_CALLS);
    CHECK(s.from == RL_LEARNED);
    /* The first second's burst is refused (nothing tells the limit before
     * it); from the third second on, few are, at most of the rate. */
    CHECK(s.refused_late <= s.calls_late / 20);
    CHECK((double)s.done_late / ((double)(s.end - 2000) / 1000.0) >= 0.8 * SIM_RATE);
}

TEST(ratelimit_random_refusals_are_not_a_rate)
{
    /* a provider with no limit to speak of that refuses 30% of calls at
     * random, Retry-After 1 s: no pace is kept, the work still gets done */
    sim_result s = simulate((sim_opts){.headers = 0, .random_429 = 0.3, .latency = 20, .rate = 1e6});
    CHECK(s.done == SIM_CALLS);
    CHECK(s.from != RL_LEARNED);
}
