/* evaluate.h: scoring prompts on the validation rows and on the held-out
 * test rows. A candidate's results are kept per validation row, so a row it
 * was already scored on is never paid again (a minibatch, then the rest of
 * the rows when it is scored in full), and two candidates scored on the
 * same rows are compared pairwise. */
#ifndef B77_EVALUATE_H
#define B77_EVALUATE_H

#include <stddef.h>
#include <stdint.h>

#include "runner.h"
#include "stats.h"

/* A candidate's results on the validation rows (nval of them). */
typedef struct val_scores {
    double *reward;    /* per row; NAN: not scored */
    char **predicted;  /* per row: the answer (NULL: none, or failed) */
    size_t nscored;
    double sum;
} val_scores;

typedef struct valset {
    int64_t *rows; /* train rows */
    size_t n;
    char **query, **label; /* per row, learned from the rollouts (NULL until then) */
} valset;

/* Takes rows[0..n) (owned from then on); the queries and labels start unknown. */
void valset_init(valset *v, int64_t *rows, size_t n);
void valset_free(valset *v);

void val_scores_init(val_scores *s, size_t nval);
void val_scores_free(val_scores *s, size_t nval);
double val_mean(const val_scores *s); /* over the scored rows; NAN when none */
int val_full(const val_scores *s, size_t nval);
/* The mean over rows idx[0..n) (all must be scored). */
double val_mean_on(const val_scores *s, const size_t *idx, size_t n);

/* Scores each of the k prompts on validation rows idx[0..n) (rows already
 * scored are skipped), all rollouts at once. */
void evaluate_val(run *r, valset *v, const prompt_spec *const *prompts, val_scores *const *scores,
                  size_t k, const size_t *idx, size_t n, enum phase ph);
/* Paired comparison of a and b over the rows both have. */
stats_paired val_compare(const val_scores *a, const val_scores *b, size_t nval);

/* Whether a beats b on the validation rows both have, beyond noise: a
 * higher mean and a one-sided p below EVALUATE_KEEP_P (exact McNemar for
 * 0/1 rewards). cmp gets the comparison. The guard that keeps a small
 * budget from replacing the initial prompt by a lucky candidate. */
#define EVALUATE_KEEP_P 0.10
int evaluate_beats(const val_scores *a, const val_scores *b, size_t nval, stats_paired *cmp);

/* The held-out comparison: both prompts on the same test rows. */
typedef struct holdout_result {
    size_t n;           /* rows both scored on */
    double *a, *b;      /* per row rewards (a: the winner, b: the initial prompt) */
    char **pred_a, **pred_b, **label, **query;
    stats_interval ia, ib;
    stats_paired cmp;
} holdout_result;

/* Scores winner and initial (initial may be the winner: scored once) on
 * rows[0..n) of the test split. */
void evaluate_holdout(run *r, const prompt_spec *winner, const prompt_spec *initial, int same,
                      const int64_t *rows, size_t n, holdout_result *out);
void holdout_result_free(holdout_result *h);

#endif
