/* tpe.c: see tpe.h. Notation follows optimizer.md: observations split into
 * "below" (the best min(ceil(gamma n), 25)) and "above"; each group is a
 * mixture of one kernel per observation plus a uniform prior kernel. */
#include "tpe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct tpe {
    int ndims;
    int choices[TPE_MAX_DIMS];
    tpe_opts opts;
    uint64_t rng;
    int *x;        /* n rows of ndims */
    double *score;
    size_t n, cap;
};

tpe_opts tpe_defaults(void)
{
    return (tpe_opts){.n_startup = 10, .n_candidates = 24, .gamma = 0.1, .prior_weight = 1.0};
}

double tpe_uniform(uint64_t *state)
{
    return (double)(splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

tpe *tpe_new(int ndims, const int *choices, const tpe_opts *opts, uint64_t seed)
{
    tpe *t = xcalloc(1, sizeof *t);
    t->ndims = ndims < 1 ? 1 : ndims > TPE_MAX_DIMS ? TPE_MAX_DIMS : ndims;
    for (int d = 0; d < t->ndims; d++)
        t->choices[d] = choices[d] < 1 ? 1 : choices[d];
    t->opts = opts ? *opts : tpe_defaults();
    t->rng = seed ^ 0x7065746f70746e61ULL; /* any fixed mix: seed 0 is a seed like any other */
    return t;
}

void tpe_free(tpe *t)
{
    if (!t)
        return;
    free(t->x);
    free(t->score);
    free(t);
}

size_t tpe_count(const tpe *t)
{
    return t->n;
}

void tpe_tell(tpe *t, const int *x, double score)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->x = xrealloc(t->x, t->cap * (size_t)t->ndims * sizeof(int));
        t->score = xrealloc(t->score, t->cap * sizeof(double));
    }
    memcpy(t->x + t->n * (size_t)t->ndims, x, (size_t)t->ndims * sizeof(int));
    t->score[t->n++] = score;
}

void tpe_weights(size_t n, double *w)
{
    /* Optuna: ones below 25; past that the oldest n-25 ramp from 1/n to 1. */
    if (n < 25) {
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0;
        return;
    }
    size_t ramp = n - 25;
    for (size_t i = 0; i < ramp; i++)
        w[i] = ramp == 1 ? 1.0 / (double)n
                         : 1.0 / (double)n + (1.0 - 1.0 / (double)n) * (double)i / (double)(ramp - 1);
    for (size_t i = ramp; i < n; i++)
        w[i] = 1.0;
}

/* log p of choice c under the kernel centred on j (K = observations + 1). */
static double log_kernel(int c, int j, int nchoices, double K)
{
    return log((1.0 / K + (c == j ? 1.0 : 0.0)) / (1.0 + (double)nchoices / K));
}

double tpe_log_density(const int *choices, int ndims, const int *obs, size_t n,
                       double prior_weight, const int *x)
{
    double *w = xmalloc((n + 1) * sizeof(double));
    tpe_weights(n, w);
    w[n] = prior_weight;
    double total = 0;
    for (size_t k = 0; k <= n; k++)
        total += w[k];
    double K = (double)n + 1.0;
    /* logsumexp over kernels */
    double *terms = xmalloc((n + 1) * sizeof(double));
    double mx = -INFINITY;
    for (size_t k = 0; k <= n; k++) {
        double lp = log(w[k] / total);
        for (int d = 0; d < ndims; d++)
            lp += k < n ? log_kernel(x[d], obs[k * (size_t)ndims + (size_t)d], choices[d], K)
                        : -log((double)choices[d]);
        terms[k] = lp;
        if (lp > mx)
            mx = lp;
    }
    double s = 0;
    for (size_t k = 0; k <= n; k++)
        s += exp(terms[k] - mx);
    free(w);
    free(terms);
    return mx + log(s);
}

struct ranked {
    double score;
    size_t order; /* trial number: ties keep trial order */
};

static int by_score_desc(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->score > y->score)
        return -1;
    if (x->score < y->score)
        return 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_order(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

void tpe_suggest(tpe *t, int *out, const int *pending, size_t npending)
{
    int D = t->ndims;
    if (t->n < (size_t)t->opts.n_startup) {
        for (int d = 0; d < D; d++)
            out[d] = (int)(tpe_uniform(&t->rng) * t->choices[d]);
        return;
    }
    /* Completed trials, then pending ones scored as the worst. */
    size_t N = t->n + npending;
    struct ranked *r = xmalloc(N * sizeof *r);
    for (size_t i = 0; i < N; i++) {
        r[i].order = i;
        r[i].score = i < t->n ? t->score[i] : -INFINITY;
    }
    qsort(r, N, sizeof *r, by_score_desc);
    size_t nb = (size_t)ceil(t->opts.gamma * (double)N);
    if (nb > 25)
        nb = 25;
    if (nb < 1)
        nb = 1;
    /* Within each group, kernels are in trial order (for the weights). */
    qsort(r, nb, sizeof *r, by_order);
    qsort(r + nb, N - nb, sizeof *r, by_order);
    int *below = xmalloc((nb + 1) * (size_t)D * sizeof(int));
    int *above = xmalloc((N - nb + 1) * (size_t)D * sizeof(int));
    for (size_t i = 0; i < N; i++) {
        const int *src = r[i].order < t->n ? t->x + r[i].order * (size_t)D
                                           : pending + (r[i].order - t->n) * (size_t)D;
        memcpy(i < nb ? below + i * (size_t)D : above + (i - nb) * (size_t)D, src,
               (size_t)D * sizeof(int));
    }
    size_t na = N - nb;

    /* Sample candidates from l(x): a kernel by weight, then each parameter
     * from that kernel by inverse CDF. */
    double *w = xmalloc((nb + 1) * sizeof(double));
    tpe_weights(nb, w);
    w[nb] = t->opts.prior_weight;
    double wsum = 0;
    for (size_t k = 0; k <= nb; k++)
        wsum += w[k];
    double K = (double)nb + 1.0;
    int cand[TPE_MAX_DIMS];
    double best = -INFINITY;
    for (int c = 0; c < t->opts.n_candidates; c++) {
        double u = tpe_uniform(&t->rng) * wsum;
        size_t k = 0;
        while (k < nb && u >= w[k]) {
            u -= w[k];
            k++;
        }
        for (int d = 0; d < D; d++) {
            double v = tpe_uniform(&t->rng), acc = 0;
            int C = t->choices[d], pick = C - 1;
            for (int j = 0; j < C; j++) {
                acc += k < nb ? exp(log_kernel(j, below[k * (size_t)D + (size_t)d], C, K))
                              : 1.0 / C;
                if (v < acc) {
                    pick = j;
                    break;
                }
            }
            cand[d] = pick;
        }
        double ei = tpe_log_density(t->choices, D, below, nb, t->opts.prior_weight, cand) -
                    tpe_log_density(t->choices, D, above, na, t->opts.prior_weight, cand);
        if (ei > best) { /* strict: the first maximum wins */
            best = ei;
            memcpy(out, cand, (size_t)D * sizeof(int));
        }
    }
    free(w);
    free(below);
    free(above);
    free(r);
}
