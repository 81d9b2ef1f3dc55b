/* tpe.h: the Tree-structured Parzen Estimator for categorical parameters,
 * as Optuna implements it (multivariate, with a prior kernel, constant liar
 * for trials still running). Pure and deterministic given its seed. */
#ifndef B77_TPE_H
#define B77_TPE_H

#include <stddef.h>
#include <stdint.h>

#define TPE_MAX_DIMS 8

typedef struct tpe_opts {
    int n_startup;      /* trials sampled uniformly first (Optuna: 10) */
    int n_candidates;   /* draws from l(x) per suggestion (Optuna: 24) */
    double gamma;       /* fraction of trials called good (Optuna: 0.1, at most 25) */
    double prior_weight; /* weight of the uniform prior kernel (Optuna: 1.0) */
} tpe_opts;

/* Optuna's defaults. */
tpe_opts tpe_defaults(void);

typedef struct tpe tpe;

/* A sampler over ndims categorical parameters with choices[d] values each
 * (1 <= ndims <= TPE_MAX_DIMS, every choices[d] >= 1). Never NULL. */
tpe *tpe_new(int ndims, const int *choices, const tpe_opts *opts, uint64_t seed);
void tpe_free(tpe *t);

/* Suggests the next point into out[ndims]. pending (npending rows of ndims)
 * are trials still running: they count as the worst observations (the
 * constant liar), so parallel suggestions spread out. */
void tpe_suggest(tpe *t, int *out, const int *pending, size_t npending);
/* Records a completed trial. */
void tpe_tell(tpe *t, const int *x, double score);

/* Exposed for tests: the log density of x under the Parzen mixture built
 * from n observations (rows of ndims), weighted as Optuna weights them. */
double tpe_log_density(const int *choices, int ndims, const int *obs, size_t n,
                       double prior_weight, const int *x);
/* Optuna's default_weights(n) into w[n]. */
void tpe_weights(size_t n, double *w);
/* Uniform double in [0, 1) from the generator state. */
double tpe_uniform(uint64_t *state);

#endif
