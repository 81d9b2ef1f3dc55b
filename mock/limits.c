/* limits.c: see limits.h. */
#include "limits.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "ratelimit.h"
#include "util.h"

static struct {
    pthread_mutex_t lock;
    long rpm, tpm;
    int headers;
    rl_bucket req, tok;
    long refused;
} lim = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_int on;

/* Sets a bucket to rate per_minute / 60 a second, full when it is new. */
static void set_bucket(rl_bucket *b, long per_minute, int64_t now)
{
    int fresh = b->rate <= 0;
    rl_bucket_set(b, per_minute > 0 ? (double)per_minute / 60.0 : 0, now);
    if (fresh)
        b->level = b->burst;
}

void mock_limits_set(long rpm, long tpm, int headers)
{
    int64_t now = now_ms();
    pthread_mutex_lock(&lim.lock);
    lim.rpm = rpm > 0 ? rpm : 0;
    lim.tpm = tpm > 0 ? tpm : 0;
    lim.headers = headers;
    set_bucket(&lim.req, lim.rpm, now);
    set_bucket(&lim.tok, lim.tpm, now);
    atomic_store(&on, lim.rpm > 0 || lim.tpm > 0);
    pthread_mutex_unlock(&lim.lock);
}

int mock_limits_on(void)
{
    return atomic_load(&on);
}

/* Milliseconds until the bucket is full again. */
static int64_t to_full(const rl_bucket *b)
{
    return b->rate > 0 && b->level < b->burst ? (int64_t)ceil((b->burst - b->level) * 1000 / b->rate) : 0;
}

void mock_limits_charge(int64_t now, double tokens, mock_limit_result *out)
{
    *out = (mock_limit_result){0};
    pthread_mutex_lock(&lim.lock);
    int64_t wr = lim.rpm ? rl_bucket_wait(&lim.req, 1, now) : 0;
    int64_t wt = lim.tpm ? rl_bucket_wait(&lim.tok, tokens, now) : 0;
    if (wr > 0 || wt > 0) {
        out->refused = 1;
        out->retry_after_ms = wr > wt ? wr : wt;
        lim.refused++;
    } else {
        rl_bucket_take(&lim.req, 1);
        rl_bucket_take(&lim.tok, tokens);
    }
    out->headers = lim.headers && (lim.rpm || lim.tpm);
    out->limit_requests = lim.rpm;
    out->remaining_requests = lim.req.level > 0 ? (long)floor(lim.req.level) : 0;
    out->reset_requests_ms = to_full(&lim.req);
    out->limit_tokens = lim.tpm;
    out->remaining_tokens = lim.tok.level > 0 ? (long)floor(lim.tok.level) : 0;
    out->reset_tokens_ms = to_full(&lim.tok);
    pthread_mutex_unlock(&lim.lock);
}

long mock_limits_refused(void)
{
    pthread_mutex_lock(&lim.lock);
    long n = lim.refused;
    pthread_mutex_unlock(&lim.lock);
    return n;
}
