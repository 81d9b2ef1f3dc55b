/* stats.h: the statistics behind every score the optimizers report. Pure.
 *
 * Rewards are per-example numbers in [0, 1]; on Banking77 they are 0 or 1. */
#ifndef B77_STATS_H
#define B77_STATS_H

#include <stddef.h>

typedef struct stats_interval {
    double mean, lo, hi; /* 95% interval */
    size_t n;
} stats_interval;

/* The mean of x[0..n) with a 95% interval: Wilson's score interval when every
 * x is 0 or 1, else the normal approximation (mean +- 1.96 sd / sqrt(n)),
 * clipped to [0, 1]. n = 0 gives NAN everywhere. */
stats_interval stats_mean(const double *x, size_t n);

/* Two prompts scored on the same examples (a[i] and b[i] for example i). */
typedef struct stats_paired {
    size_t n;
    double a, b;           /* the two means */
    double diff, lo, hi;   /* a - b with a 95% interval (normal, on the paired differences) */
    size_t a_only, b_only; /* binary rewards: examples only a (only b) got right */
    double p;              /* two-sided p-value: exact McNemar when rewards are 0/1, else the
                            * normal approximation of the paired differences */
    int binary;
} stats_paired;

stats_paired stats_compare(const double *a, const double *b, size_t n);

/* Exact two-sided McNemar test for b and c discordant pairs: the binomial
 * probability, at p = 1/2, of a split at least as uneven (1 when b + c = 0). */
double stats_mcnemar(size_t b, size_t c);

/* One-sided version: the probability of at least b successes in b + c fair
 * trials (that a is better by chance). */
double stats_mcnemar_one_sided(size_t b, size_t c);

#endif
