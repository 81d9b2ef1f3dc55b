/* limits.c: see limits.h. */
#include "limits.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ACCOUNTS 64

struct limiter {
    pthread_mutex_t lock;
    char *origin;
    uint64_t credential; /* hash of the auth lines; 0: none */
    char key_label[20];  /* "none" or a short fingerprint: never the key */
    ratelimit rl;
    uint64_t wakers;     /* threads with calls waiting for a slot */
    unsigned queued;
    uint64_t waits, gave_up;
    int64_t wait_ms;
};

struct limits {
    pthread_mutex_t lock;
    double rpm, tpm;
    int adapt;
    unsigned max_window;
    limiter *l[MAX_ACCOUNTS];
    size_t n;
};

limits *limits_new(double rpm, double tpm, int adapt, unsigned max_window)
{
    if (!adapt && rpm <= 0 && tpm <= 0)
        return NULL;
    limits *t = xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->lock, NULL);
    t->rpm = rpm;
    t->tpm = tpm;
    t->adapt = adapt;
    t->max_window = max_window;
    return t;
}

void limits_free(limits *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        pthread_mutex_destroy(&t->l[i]->lock);
        free(t->l[i]->origin);
        free(t->l[i]);
    }
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static size_t origin_len(const char *url)
{
    const char *sep = strstr(url, "://");
    return sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : strcspn(url, "/?#");
}

limiter *limits_for(limits *t, const char *url, const char *const *credential, size_t ncred)
{
    if (!t)
        return NULL;
    size_t olen = origin_len(url);
    uint64_t cred = 0;
    for (size_t i = 0; i < ncred; i++)
        cred = fnv1a64(credential[i], strlen(credential[i]), cred ^ 0x9e3779b97f4a7c15ULL);
    limiter *found = NULL;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->n && !found; i++)
        if (t->l[i]->credential == cred && strncmp(t->l[i]->origin, url, olen) == 0 &&
            !t->l[i]->origin[olen])
            found = t->l[i];
    if (!found && t->n < MAX_ACCOUNTS) {
        found = xcalloc(1, sizeof *found);
        pthread_mutex_init(&found->lock, NULL);
        found->origin = xstrndup(url, olen);
        found->credential = cred;
        if (cred)
            snprintf(found->key_label, sizeof found->key_label, "%08x",
                     (unsigned)(fnv1a64(&cred, sizeof cred, 7) >> 32));
        else
            snprintf(found->key_label, sizeof found->key_label, "none");
        ratelimit_init(&found->rl, t->rpm, t->tpm, t->adapt, t->max_window, now_ms());
        t->l[t->n++] = found;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

int64_t limiter_enqueue(limiter *l, int64_t now, int64_t deadline)
{
    pthread_mutex_lock(&l->lock);
    int64_t w = ratelimit_wait_estimate(&l->rl, now, l->queued);
    if (w > 0 && now + w >= deadline) {
        l->gave_up++;
    } else {
        l->queued++;
        w = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return w;
}

/* The least time left a queued call must have to be worth a slot: twice
 * the account's usual latency, at least 5 ms. The lock is held. */
static int64_t min_time(const limiter *l)
{
    int64_t ms = (int64_t)(2 * l->rl.latency_ms);
    return ms > 5 ? ms : 5;
}

/* A queued call leaves the queue unserved: its deadline is too near. The
 * lock is held. */
static int64_t give_up(limiter *l, int64_t now, limiter_turn *t)
{
    if (l->queued)
        l->queued--;
    l->gave_up++;
    t->retry_ms = ratelimit_wait_estimate(&l->rl, now, l->queued);
    return RL_GIVE_UP;
}

int64_t limiter_take(limiter *l, int64_t now, double tokens, uint64_t waker, int64_t queued_at,
                     int64_t deadline, limiter_turn *t)
{
    pthread_mutex_lock(&l->lock);
    t->min_time = min_time(l);
    int64_t w;
    if (now + t->min_time >= deadline) {
        w = give_up(l, now, t);
    } else {
        w = ratelimit_acquire(&l->rl, now, tokens, &t->probe);
        if (w == 0) {
            if (l->queued)
                l->queued--;
            if (now > queued_at) {
                l->waits++;
                l->wait_ms += now - queued_at;
            }
        } else if (w == RL_WAIT_SLOT || (w > 0 && ((l->rl.probe_until && now < l->rl.probe_until) ||
                                                   now < l->rl.paused_until))) {
            /* A wait that a call's end may cut short (a slot, the first
             * call's reply, a pause a probe may lift): wake this thread
             * then. A wait for the pace ends when it ends. */
            l->wakers |= waker;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return w;
}

int64_t limiter_give_up(limiter *l, int64_t now)
{
    limiter_turn t;
    pthread_mutex_lock(&l->lock);
    give_up(l, now, &t);
    pthread_mutex_unlock(&l->lock);
    return t.retry_ms;
}

void limiter_leave(limiter *l)
{
    pthread_mutex_lock(&l->lock);
    if (l->queued)
        l->queued--;
    pthread_mutex_unlock(&l->lock);
}

uint64_t limiter_done(limiter *l, int64_t now, const rl_reply *rep, int probe)
{
    pthread_mutex_lock(&l->lock);
    ratelimit_done(&l->rl, now, rep, probe);
    uint64_t wake = l->wakers;
    l->wakers = 0;
    pthread_mutex_unlock(&l->lock);
    return wake;
}

int limiter_wants_headers(limiter *l)
{
    pthread_mutex_lock(&l->lock);
    int w = ratelimit_wants_headers(&l->rl);
    pthread_mutex_unlock(&l->lock);
    return w;
}

int limiter_adapts(const limiter *l)
{
    return l->rl.adapt; /* set once, before any thread sees l */
}

int64_t limiter_wait_estimate(limiter *l, int64_t now)
{
    pthread_mutex_lock(&l->lock);
    int64_t w = ratelimit_wait_estimate(&l->rl, now, l->queued);
    pthread_mutex_unlock(&l->lock);
    return w;
}

const char *limiter_origin(const limiter *l)
{
    return l->origin;
}

/* A copy of one limiter's state, taken under its lock. */
typedef struct snapshot {
    ratelimit rl;
    unsigned queued;
    uint64_t waits, gave_up;
    int64_t wait_ms;
} snapshot;

static snapshot take(limiter *l)
{
    pthread_mutex_lock(&l->lock);
    snapshot s = {l->rl, l->queued, l->waits, l->gave_up, l->wait_ms};
    pthread_mutex_unlock(&l->lock);
    return s;
}

static size_t accounts(limits *t, limiter **out)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    memcpy(out, t->l, n * sizeof *out);
    pthread_mutex_unlock(&t->lock);
    return n;
}

void limits_metrics(limits *t, buf *out)
{
    if (!t)
        return;
    limiter *ls[MAX_ACCOUNTS];
    size_t n = accounts(t, ls);
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"b77_llm_window", "gauge", "Calls the task app lets run at once to this LLM account."},
        {"b77_llm_inflight", "gauge", "Calls running now."},
        {"b77_llm_queued", "gauge", "Calls held back, waiting for a slot under the account's limits."},
        {"b77_llm_requests_per_minute", "gauge", "The request rate paced to (0: none known)."},
        {"b77_llm_tokens_per_minute", "gauge", "The token rate paced to (0: none known)."},
        {"b77_llm_rate_limited_total", "counter", "429 replies from the account."},
        {"b77_llm_overloaded_total", "counter", "503/529 replies with Retry-After from the account."},
        {"b77_llm_window_decreases_total", "counter", "Times the window was halved."},
        {"b77_llm_waits_total", "counter", "Calls that waited for a slot."},
        {"b77_llm_wait_seconds_total", "counter", "Time calls spent waiting for a slot."},
        {"b77_llm_gave_up_total", "counter",
         "Rollouts answered 503 because no slot came before their deadline."},
    };
    snapshot s[MAX_ACCOUNTS];
    for (size_t i = 0; i < n; i++)
        s[i] = take(ls[i]);
    for (size_t k = 0; k < B77_ARRAY_LEN(m); k++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
        for (size_t i = 0; i < n; i++) {
            const ratelimit *r = &s[i].rl;
            double v[] = {r->window, r->inflight, s[i].queued, r->req.rate * 60, r->tok.rate * 60,
                          (double)r->limited, (double)r->overloaded, (double)r->decreases,
                          (double)s[i].waits, (double)s[i].wait_ms / 1000.0, (double)s[i].gave_up};
            buf_printf(out, "%s{origin=\"%s\",key=\"%s\"} %.6g\n", m[k].name, ls[i]->origin,
                       ls[i]->key_label, v[k]);
        }
    }
}

json_t *limits_json(limits *t)
{
    json_t *a = json_array();
    if (!t)
        return a;
    limiter *ls[MAX_ACCOUNTS];
    size_t n = accounts(t, ls);
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        snapshot s = take(ls[i]);
        const ratelimit *r = &s.rl;
        json_t *o = json_pack(
            "{s:s,s:s,s:f,s:s,s:f,s:s,s:f,s:I,s:I,s:I,s:b,s:I,s:I}", "origin", ls[i]->origin, "key",
            ls[i]->key_label, "requests_per_minute", r->req.rate * 60, "requests_limit_from",
            rl_source_name(r->req_from), "tokens_per_minute", r->tok.rate * 60, "tokens_limit_from",
            rl_source_name(r->tok_from), "window", r->window, "inflight", (json_int_t)r->inflight,
            "queued", (json_int_t)s.queued, "rate_limited", (json_int_t)r->limited, "limiting",
            ratelimit_limiting(r, now), "paused_ms",
            (json_int_t)(r->paused_until > now ? r->paused_until - now : 0), "gave_up",
            (json_int_t)s.gave_up);
        if (o)
            json_array_append_new(a, o);
    }
    return a;
}
