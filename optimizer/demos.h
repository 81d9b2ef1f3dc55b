/* demos.h: few-shot demonstration pools and candidate demo sets. Pure. */
#ifndef B77_MIPRO_DEMOS_H
#define B77_MIPRO_DEMOS_H

#include <stddef.h>
#include <stdint.h>

typedef struct demo {
    char *query;
    char *label;
    int64_t index;    /* row in the train split */
    int bootstrapped; /* the initial prompt got it right */
    int confused;     /* an example of an intent the initial prompt got wrong */
} demo;

#define DEMO_SET_MAX 64

typedef struct demo_set {
    size_t idx[DEMO_SET_MAX]; /* indices into the pool */
    size_t n;
} demo_set;

/* Builds up to nsets candidate sets of at most k demos (k capped at 64)
 * from a pool. Set 0 is empty; the others vary in size (1, 2, ... k, then
 * again), spread across intents (no intent twice in a set while the pool has
 * others), and mix demos of the intents the initial prompt confuses (about
 * half, when the pool has them) with bootstrapped ones, then labelled ones.
 * No two sets are alike when the pool allows. Returns how many were written
 * into out. */
size_t demos_build_sets(const demo *pool, size_t npool, size_t k, size_t nsets, uint64_t *rng,
                        demo_set *out);

#endif
