/* budget.h: how an optimization run spends its budget. Pure.
 *
 * The budget is the bill: every task-app rollout and every meta-model call
 * of the run counts against it, the held-out comparison included unless it
 * has a budget of its own. The plan says, before anything is spent, how
 * many rows each phase uses:
 *
 *   bootstrap   the initial prompt on `boot` training rows (demonstrations,
 *               and the mistakes the first proposals are shown)
 *   proposals   `meta_boot` meta-model calls
 *   search      the initial prompt on all `val` validation rows, then
 *               `rounds` rounds of `per_round` trials on minibatches of
 *               `batch` validation rows (the trials of a round share their
 *               rows); a round's leader that beats the incumbent on those
 *               rows is scored on all of them (planned: every other round);
 *               more rounds than asked when even the most trials per round
 *               leave budget over;
 *               every `meta_every` rounds a meta-model update of
 *               `meta_per_update` calls, shown the incumbent's mistakes on
 *               `meta_feedback` fresh training rows, whose proposals are
 *               tried in a round of their own
 *   held-out    the winner and the initial prompt on the same `holdout`
 *               test rows
 *
 * The figures are the most each phase may cost: rows a prompt was already
 * scored on are not paid again, so a run spends at most `total`. */
#ifndef B77_BUDGET_H
#define B77_BUDGET_H

#include <stddef.h>

typedef struct budget_in {
    long budget;         /* rollouts + meta-model calls */
    long holdout_budget; /* < 0: the held-out phase is paid from budget */
    size_t train_n, test_n;
    int bootstrap;       /* run the bootstrap (demos or instructions to optimize) */
    long boot_n;         /* bootstrap rows given by the config; < 0: planned */
    long val_n;          /* validation rows given by the config; < 0: planned */
    long batch;          /* minibatch rows given by the config; 0: planned */
    long holdout_n;      /* held-out rows per prompt given by the config; 0: planned */
    long meta_boot;      /* proposals wanted from the meta-model */
    long rounds;         /* search rounds wanted (num_iterations) */
    long max_per_round;  /* trials per round at most (parallel_trials; 0: 8) */
    long meta_every;     /* rounds between meta-model updates; 0: none */
    long meta_per_update;
    long meta_feedback;  /* training rows the incumbent is scored on for an update's mistakes */
} budget_in;

typedef struct budget_plan {
    long boot, meta_boot;
    long val, batch, rounds, per_round;
    long meta_updates, meta_per_update, meta_every, meta_feedback;
    long holdout;        /* rows per prompt */
    int holdout_inside;  /* the held-out phase is paid from budget */
    long search;         /* the most the search may spend (baseline, trials, full scores, updates) */
    long total;          /* the most the run spends from budget */
} budget_plan;

/* Fills *p. Returns 0, or -1 with a reason in err when the budget cannot pay
 * for the smallest useful run (the baseline on the validation rows and one
 * trial, plus the held-out phase when it is inside). */
int budget_plan_make(const budget_in *in, budget_plan *p, char *err, size_t errlen);

/* GEPA's plan: the held-out rows as above, `meta_boot` proposals for the
 * starting pool (initial_size - 1), validation rows (the Pareto set: a
 * tenth of what is left, 15 to 150, or val_n), minibatches of `batch`
 * training rows (in->batch, default 3), and what the search may spend. An
 * iteration of per_round proposals costs at most per_round x (2 batch + 1),
 * and an accepted child its remaining validation rows; `rounds` is the
 * iterations planned if a third of the children are accepted. */
int budget_plan_gepa(const budget_in *in, budget_plan *p, char *err, size_t errlen);

/* The search's planned cost of `rounds` rounds of `per_round` trials, with
 * p's validation, minibatch and update figures. */
long budget_search_cost(const budget_plan *p, long rounds, long per_round);

#endif
