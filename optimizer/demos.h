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
} demo;

typedef struct demo_set {
    size_t idx[64]; /* indices into the pool */
    size_t n;
} demo_set;

/* Builds nsets candidate sets of up to k demos from a pool: set 0 is empty;
 * set 1 holds labelled (not bootstrapped) demos only when there are any; the
 * rest take bootstrapped demos first (a fresh shuffle each) and top up with
 * labelled ones, taking fewer bootstrapped ones once their combinations run
 * out. Identical sets are avoided when the pool allows. k is capped
 * at 64. Returns the number of sets written into out (at most nsets). */
size_t demos_build_sets(const demo *pool, size_t npool, size_t k, size_t nsets, uint64_t *rng,
                        demo_set *out);

#endif
