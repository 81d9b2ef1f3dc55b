/* adapt.h: what each LLM server accepts, learned from its refusals (see
 * params.h), kept per (endpoint, model) so that later rollouts are sent in
 * the accepted form at once. Shared by every thread: a mutex guards the
 * table (a few entries, looked up once per rollout). */
#ifndef B77_ADAPT_H
#define B77_ADAPT_H

#include <jansson.h>

#include "params.h"

typedef struct adapt_memo adapt_memo;

adapt_memo *adapt_memo_new(void);
void adapt_memo_free(adapt_memo *m);

/* The adaptations known for the endpoint (its URL without the query) and
 * model; 0 when none. */
int adapt_memo_get(adapt_memo *m, const char *url, const char *model);
/* Adds bits for the endpoint and model. Returns the bits that were new (so
 * the caller logs and counts each adaptation once). */
int adapt_memo_add(adapt_memo *m, const char *url, const char *model, int bits);
/* [{"endpoint", "model", "adaptations": [names]}] (new reference), for /info. */
json_t *adapt_memo_json(adapt_memo *m);
/* How many times each adaptation was learned (counts[ADAPT_COUNT]). */
void adapt_memo_counts(adapt_memo *m, long *counts);

#endif
