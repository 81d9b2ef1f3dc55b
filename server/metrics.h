/* metrics.h: counters and histograms for GET /metrics (Prometheus text
 * format). Every update is a relaxed atomic add, safe from any thread. */
#ifndef B77_METRICS_H
#define B77_METRICS_H

#include <stdint.h>

#include "cache.h"
#include "util.h"

#define METRICS_MAX_ROUTES 16

typedef struct metrics metrics;

/* route_names[i] labels route index i (index 0 is "other"); borrowed. */
metrics *metrics_new(const char *const *route_names, int nroutes);
void metrics_free(metrics *m);

void metrics_request(metrics *m, int route, int status, int64_t ms);
/* One rollout's upstream call: attempts made, final outcome ("ok", an HTTP
 * status like "429", "transport", "deadline" or "aborted"), its duration. */
void metrics_upstream(metrics *m, int attempts, const char *outcome, int64_t ms);
/* One scored rollout: correct or not, or without a usable intent. */
void metrics_rollout(metrics *m, int correct, int has_intent);
void metrics_tokens(metrics *m, long prompt, long completion, long total);

/* Appends the Prometheus text exposition to out. */
void metrics_render(metrics *m, unsigned inflight, buf *out);
/* The reply cache's series: its lookups and size, and its store's (st NULL
 * when the cache has no store). */
void metrics_render_cache(const cache_stats *cs, const store_stats *st, buf *out);
/* The request forms learned from LLM servers' refusals: counts[i] for
 * params_name(i), i < n. */
void metrics_render_adaptations(const long *counts, int n, buf *out);

#endif
