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

/* A Parzen mixture over m observations: kernel k puts probability hi[d] on
 * its observed choice and lo[d] on every other (K = m + 1), the prior kernel
 * 1/C on each; weights w[0..m] (the prior's last) normalised. Evaluated in
 * linear space: a kernel's density is a product of D factors, so no exp or
 * log is needed per kernel. */
struct mixture {
    size_t m;
    const int *obs; /* m rows of D */
    double *w;      /* m + 1 */
    double lo[TPE_MAX_DIMS], hi[TPE_MAX_DIMS];
    double prior; /* the prior kernel's density: prod 1/C_d */
};

static void mixture_init(struct mixture *g, const int *choices, int D, const int *obs, size_t m,
                         double prior_weight, double *wbuf)
{
    g->m = m;
    g->obs = obs;
    g->w = wbuf;
    tpe_weights(m, g->w);
    g->w[m] = prior_weight;
    double total = 0;
    for (size_t k = 0; k <= m; k++)
        total += g->w[k];
    for (size_t k = 0; k <= m; k++)
        g->w[k] /= total;
    /* Optuna's categorical kernel: prior_weight / K on every choice plus 1
     * on the observed one, normalised (K kernels: m observations + the prior). */
    double K = (double)m + 1.0, base = prior_weight / K;
    g->prior = 1.0;
    for (int d = 0; d < D; d++) {
        double z = 1.0 + (double)choices[d] * base;
        g->lo[d] = base / z;
        g->hi[d] = (base + 1.0) / z;
        g->prior /= (double)choices[d];
    }
}

static double mixture_density(const struct mixture *g, int D, const int *x)
{
    double s = g->w[g->m] * g->prior;
    for (size_t k = 0; k < g->m; k++) {
        const int *o = g->obs + k * (size_t)D;
        double p = g->w[k];
        for (int d = 0; d < D; d++)
            p *= x[d] == o[d] ? g->hi[d] : g->lo[d];
        s += p;
    }
    return s;
}

double tpe_log_density(const int *choices, int ndims, const int *obs, size_t n,
                       double prior_weight, const int *x)
{
    double *w = xmalloc((n + 1) * sizeof(double));
    struct mixture g;
    mixture_init(&g, choices, ndims, obs, n, prior_weight, w);
    double v = log(mixture_density(&g, ndims, x));
    free(w);
    return v;
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
     * from that kernel by inverse CDF; keep the first best l(x)/g(x). */
    double *wb = xmalloc((nb + 1) * sizeof(double)), *wa = xmalloc((na + 1) * sizeof(double));
    struct mixture lg, gg;
    mixture_init(&lg, t->choices, D, below, nb, t->opts.prior_weight, wb);
    mixture_init(&gg, t->choices, D, above, na, t->opts.prior_weight, wa);
    int cand[TPE_MAX_DIMS];
    double best = -INFINITY;
    for (int c = 0; c < t->opts.n_candidates; c++) {
        double u = tpe_uniform(&t->rng);
        size_t k = 0;
        while (k < nb && u >= lg.w[k]) {
            u -= lg.w[k];
            k++;
        }
        for (int d = 0; d < D; d++) {
            int C = t->choices[d];
            double v = tpe_uniform(&t->rng), acc = 0;
            int pick = C - 1;
            for (int j = 0; j < C; j++) {
                acc += k < nb ? (j == below[k * (size_t)D + (size_t)d] ? lg.hi[d] : lg.lo[d])
                              : 1.0 / C;
                if (v < acc) {
                    pick = j;
                    break;
                }
            }
            cand[d] = pick;
        }
        double ei = log(mixture_density(&lg, D, cand)) - log(mixture_density(&gg, D, cand));
        if (ei > best) { /* strict: the first maximum wins */
            best = ei;
            memcpy(out, cand, (size_t)D * sizeof(int));
        }
    }
    free(wb);
    free(wa);
    free(below);
    free(above);
    free(r);
}
