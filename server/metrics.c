/* metrics.c: see metrics.h. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

#define NSTATUS 600
static const double buckets_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NB (sizeof buckets_s / sizeof buckets_s[0])

typedef struct histogram {
    atomic_ulong bucket[NB + 1]; /* the last is +Inf */
    atomic_ulong count;
    atomic_ulong sum_ms;
} histogram;

/* Upstream outcomes with their own counter. */
static const char *const outcomes[] = {"ok", "transport", "deadline", "aborted", "other"};
#define NOUT (sizeof outcomes / sizeof outcomes[0])

struct metrics {
    const char *const *names;
    int nroutes;
    atomic_ulong requests[METRICS_MAX_ROUTES][NSTATUS];
    histogram latency[METRICS_MAX_ROUTES];
    atomic_ulong upstream_calls, upstream_retries;
    atomic_ulong upstream_outcome[NOUT];
    atomic_ulong upstream_status[NSTATUS]; /* failures with an HTTP status */
    histogram upstream_latency;
    atomic_ulong rollouts_correct, rollouts_incorrect, rollouts_no_intent;
    atomic_ulong tokens_prompt, tokens_completion, tokens_total;
};

metrics *metrics_new(const char *const *route_names, int nroutes)
{
    metrics *m = xcalloc(1, sizeof *m);
    m->names = route_names;
    m->nroutes = nroutes < METRICS_MAX_ROUTES ? nroutes : METRICS_MAX_ROUTES;
    return m;
}

void metrics_free(metrics *m)
{
    free(m);
}

static void observe(histogram *h, int64_t ms)
{
    size_t i = 0;
    while (i < NB && (double)ms / 1000.0 > buckets_s[i])
        i++;
    atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ms, (unsigned long)(ms > 0 ? ms : 0), memory_order_relaxed);
}

void metrics_request(metrics *m, int route, int status, int64_t ms)
{
    if (route < 0 || route >= m->nroutes)
        route = 0;
    if (status < 0 || status >= NSTATUS)
        status = 0;
    atomic_fetch_add_explicit(&m->requests[route][status], 1, memory_order_relaxed);
    observe(&m->latency[route], ms);
}

void metrics_upstream(metrics *m, int attempts, const char *outcome, int64_t ms)
{
    atomic_fetch_add_explicit(&m->upstream_calls, (unsigned long)attempts, memory_order_relaxed);
    if (attempts > 1)
        atomic_fetch_add_explicit(&m->upstream_retries, (unsigned long)(attempts - 1), memory_order_relaxed);
    int status = atoi(outcome);
    if (status > 0 && status < NSTATUS) {
        atomic_fetch_add_explicit(&m->upstream_status[status], 1, memory_order_relaxed);
    } else {
        size_t i = 0;
        while (i + 1 < NOUT && strcmp(outcomes[i], outcome) != 0)
            i++;
        atomic_fetch_add_explicit(&m->upstream_outcome[i], 1, memory_order_relaxed);
    }
    observe(&m->upstream_latency, ms);
}

void metrics_rollout(metrics *m, int correct, int has_intent)
{
    atomic_ulong *c = !has_intent ? &m->rollouts_no_intent
                      : correct   ? &m->rollouts_correct
                                  : &m->rollouts_incorrect;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void metrics_tokens(metrics *m, long prompt, long completion, long total)
{
    atomic_fetch_add_explicit(&m->tokens_prompt, (unsigned long)(prompt > 0 ? prompt : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->tokens_completion, (unsigned long)(completion > 0 ? completion : 0), memory_order_relaxed);
    atomic_fetch_add_explicit(&m->tokens_total, (unsigned long)(total > 0 ? total : 0), memory_order_relaxed);
}

static unsigned long get(atomic_ulong *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

static void render_histogram(buf *out, const char *name, const char *labels, histogram *h)
{
    unsigned long cum = 0;
    for (size_t i = 0; i <= NB; i++) {
        cum += get(&h->bucket[i]);
        if (i < NB)
            buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, *labels ? "," : "", buckets_s[i], cum);
        else
            buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, *labels ? "," : "", cum);
    }
    const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
    buf_printf(out, "%s_sum%s%s%s %.3f\n", name, open, labels, close, (double)get(&h->sum_ms) / 1000.0);
    buf_printf(out, "%s_count%s%s%s %lu\n", name, open, labels, close, get(&h->count));
}

void metrics_render(metrics *m, unsigned inflight, buf *out)
{
    buf_puts(out, "# HELP b77_requests_total HTTP requests answered, by route and status.\n"
                  "# TYPE b77_requests_total counter\n");
    for (int r = 0; r < m->nroutes; r++)
        for (int s = 0; s < NSTATUS; s++) {
            unsigned long v = get(&m->requests[r][s]);
            if (v)
                buf_printf(out, "b77_requests_total{route=\"%s\",status=\"%d\"} %lu\n", m->names[r], s, v);
        }
    buf_puts(out, "# HELP b77_request_duration_seconds Time from request to answer, by route.\n"
                  "# TYPE b77_request_duration_seconds histogram\n");
    for (int r = 0; r < m->nroutes; r++) {
        if (!get(&m->latency[r].count))
            continue;
        char labels[96];
        snprintf(labels, sizeof labels, "route=\"%s\"", m->names[r]);
        render_histogram(out, "b77_request_duration_seconds", labels, &m->latency[r]);
    }
    buf_printf(out, "# HELP b77_rollouts_inflight Rollouts parked while the LLM answers.\n"
                    "# TYPE b77_rollouts_inflight gauge\nb77_rollouts_inflight %u\n", inflight);
    buf_printf(out, "# HELP b77_rollouts_total Rollouts scored, by outcome.\n"
                    "# TYPE b77_rollouts_total counter\n"
                    "b77_rollouts_total{outcome=\"correct\"} %lu\n"
                    "b77_rollouts_total{outcome=\"incorrect\"} %lu\n"
                    "b77_rollouts_total{outcome=\"no_intent\"} %lu\n",
               get(&m->rollouts_correct), get(&m->rollouts_incorrect), get(&m->rollouts_no_intent));
    buf_printf(out, "# HELP b77_upstream_calls_total LLM calls made, retries included.\n"
                    "# TYPE b77_upstream_calls_total counter\nb77_upstream_calls_total %lu\n"
                    "# HELP b77_upstream_retries_total LLM calls that were retries.\n"
                    "# TYPE b77_upstream_retries_total counter\nb77_upstream_retries_total %lu\n",
               get(&m->upstream_calls), get(&m->upstream_retries));
    buf_puts(out, "# HELP b77_upstream_results_total Rollouts' LLM calls by final result "
                  "(an HTTP status, or transport, deadline, aborted).\n"
                  "# TYPE b77_upstream_results_total counter\n");
    for (size_t i = 0; i < NOUT; i++)
        buf_printf(out, "b77_upstream_results_total{result=\"%s\"} %lu\n", outcomes[i], get(&m->upstream_outcome[i]));
    for (int s = 0; s < NSTATUS; s++)
        if (get(&m->upstream_status[s]))
            buf_printf(out, "b77_upstream_results_total{result=\"%d\"} %lu\n", s, get(&m->upstream_status[s]));
    buf_puts(out, "# HELP b77_upstream_duration_seconds LLM time per rollout, retries included.\n"
                  "# TYPE b77_upstream_duration_seconds histogram\n");
    render_histogram(out, "b77_upstream_duration_seconds", "", &m->upstream_latency);
    buf_printf(out, "# HELP b77_tokens_total Tokens reported by the LLM replies.\n"
                    "# TYPE b77_tokens_total counter\n"
                    "b77_tokens_total{kind=\"prompt\"} %lu\nb77_tokens_total{kind=\"completion\"} %lu\n"
                    "b77_tokens_total{kind=\"total\"} %lu\n",
               get(&m->tokens_prompt), get(&m->tokens_completion), get(&m->tokens_total));
}

void metrics_render_cache(const cache_stats *cs, const store_stats *st, buf *out)
{
    buf_printf(out,
               "# HELP b77_cache_lookups_total Reply-cache lookups: hit (no call), shared (waited "
               "for an identical call in flight), miss (called).\n"
               "# TYPE b77_cache_lookups_total counter\n"
               "b77_cache_lookups_total{result=\"hit\"} %lu\n"
               "b77_cache_lookups_total{result=\"shared\"} %lu\n"
               "b77_cache_lookups_total{result=\"miss\"} %lu\n"
               "# HELP b77_cache_entries Replies held by the cache.\n# TYPE b77_cache_entries gauge\n"
               "b77_cache_entries %lu\n"
               "# HELP b77_cache_bytes Bytes held by the cache.\n# TYPE b77_cache_bytes gauge\n"
               "b77_cache_bytes %zu\n",
               cs->hits, cs->shared, cs->misses, cs->entries, cs->bytes);
    if (!st)
        return;
    buf_printf(out,
               "# HELP b77_cache_store_up Whether the store's last operation succeeded.\n"
               "# TYPE b77_cache_store_up gauge\nb77_cache_store_up{store=\"%s\"} %d\n"
               "# HELP b77_cache_store_errors_total Store operations that failed (each a miss).\n"
               "# TYPE b77_cache_store_errors_total counter\nb77_cache_store_errors_total %lu\n"
               "# HELP b77_cache_store_repaired_total Damaged store files moved aside and made anew.\n"
               "# TYPE b77_cache_store_repaired_total counter\nb77_cache_store_repaired_total %lu\n"
               "# HELP b77_cache_store_reopened_total The store's file reopened: another process had "
               "replaced it (a damaged one moved aside).\n"
               "# TYPE b77_cache_store_reopened_total counter\nb77_cache_store_reopened_total %lu\n"
               "# HELP b77_cache_store_operations_total Store lookups, hits and writes.\n"
               "# TYPE b77_cache_store_operations_total counter\n"
               "b77_cache_store_operations_total{op=\"get\"} %lu\n"
               "b77_cache_store_operations_total{op=\"hit\"} %lu\n"
               "b77_cache_store_operations_total{op=\"put\"} %lu\n"
               "# HELP b77_cache_store_seconds_total Time spent in store lookups and writes.\n"
               "# TYPE b77_cache_store_seconds_total counter\n"
               "b77_cache_store_seconds_total{op=\"get\"} %.6f\n"
               "b77_cache_store_seconds_total{op=\"put\"} %.6f\n"
               "# HELP b77_cache_store_entries Replies in the store (every process's).\n"
               "# TYPE b77_cache_store_entries gauge\nb77_cache_store_entries %lld\n"
               "# HELP b77_cache_store_bytes Bytes of replies in the store.\n"
               "# TYPE b77_cache_store_bytes gauge\nb77_cache_store_bytes %lld\n",
               st->kind, st->ok, st->errors, st->repaired, st->reopened, st->gets, st->hits, st->puts, st->get_seconds,
               st->put_seconds, st->entries, st->bytes);
    if (strcmp(st->kind, "redis") == 0)
        buf_printf(out,
                   "# HELP b77_cache_store_claims_total A fleet's one call per request: locks asked, "
                   "those that waited for another replica, those answered by its reply.\n"
                   "# TYPE b77_cache_store_claims_total counter\n"
                   "b77_cache_store_claims_total{result=\"asked\"} %lu\n"
                   "b77_cache_store_claims_total{result=\"waited\"} %lu\n"
                   "b77_cache_store_claims_total{result=\"found\"} %lu\n"
                   "# HELP b77_cache_store_dropped_total Writes not queued (the queue was full, or "
                   "the store down).\n# TYPE b77_cache_store_dropped_total counter\n"
                   "b77_cache_store_dropped_total %lu\n",
                   st->claims, st->claims_waited, st->claims_found, st->dropped);
}

void metrics_render_adaptations(const long *counts, int n, buf *out)
{
    buf_puts(out, "# HELP b77_llm_adaptations_total Request forms learned from LLM servers' 400 "
                  "refusals, per (endpoint, model).\n# TYPE b77_llm_adaptations_total counter\n");
    for (int i = 0; i < n; i++)
        buf_printf(out, "b77_llm_adaptations_total{adaptation=\"%s\"} %ld\n", params_name(i),
                   counts[i]);
}
