/* budget.c: see budget.h. */
#include "budget.h"

#include <stdio.h>

#define HOLDOUT_MAX 500 /* planned held-out rows per prompt at most */
#define BOOT_MAX 50
#define VAL_MIN 20
#define VAL_MAX 300
#define BATCH_MIN 10
#define BATCH_MAX 35 /* DSPy's minibatch */
#define PER_ROUND_MAX 8

static long clamp(long v, long lo, long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static long min_l(long a, long b)
{
    return a < b ? a : b;
}

/* The held-out rows per prompt (budget / 10, 10 to HOLDOUT_MAX, or as
 * given, at most a quarter of the budget inside it); returns what is left. */
static long plan_holdout(const budget_in *in, budget_plan *p)
{
    long b = in->budget;
    p->holdout_inside = in->holdout_budget < 0;
    if (p->holdout_inside) {
        long planned = clamp(b / 10, 10, HOLDOUT_MAX);
        p->holdout = in->holdout_n > 0 ? min_l(in->holdout_n, b / 4) : planned;
    } else {
        p->holdout = in->holdout_budget / 2;
        if (in->holdout_n > 0)
            p->holdout = min_l(p->holdout, in->holdout_n);
    }
    p->holdout = min_l(p->holdout, (long)in->test_n);
    return b - (p->holdout_inside ? 2 * p->holdout : 0);
}

long budget_search_cost(const budget_plan *p, long rounds, long per_round)
{
    long full = p->val - p->batch; /* a leader's remaining validation rows */
    long cost = p->val + rounds * per_round * p->batch + rounds / 2 * full;
    if (p->meta_every > 0)
        cost += rounds / p->meta_every * (p->meta_per_update * (1 + p->batch) + full + p->meta_feedback);
    return cost;
}

int budget_plan_make(const budget_in *in, budget_plan *p, char *err, size_t errlen)
{
    budget_plan z = {0};
    *p = z;
    long b = in->budget;
    long rest = plan_holdout(in, p);
    /* proposals: at most a quarter of what is left (fewer: taken
     * round-robin over the rounds) */
    p->meta_boot = min_l(in->meta_boot, rest / 4);
    rest -= p->meta_boot;
    /* bootstrap */
    if (in->boot_n >= 0)
        p->boot = in->boot_n;
    else if (in->bootstrap)
        p->boot = clamp(b / 10, 5, BOOT_MAX);
    p->boot = min_l(p->boot, rest / 4);
    rest -= p->boot;
    /* validation and minibatches */
    long train_left = (long)in->train_n - p->boot;
    p->val = in->val_n >= 0 ? in->val_n : clamp(rest / 6, VAL_MIN, VAL_MAX);
    p->val = min_l(p->val, train_left);
    if (p->val < 1 || rest < p->val + 1) {
        snprintf(err, errlen,
                 "budget %ld is too small: after %ld held-out, %ld proposal and %ld bootstrap "
                 "calls, %ld are left, and the initial prompt alone needs %ld validation rollouts",
                 b, p->holdout_inside ? 2 * p->holdout : 0, p->meta_boot, p->boot, rest, p->val);
        return -1;
    }
    long rounds = in->rounds > 0 ? in->rounds : 10;
    p->batch = in->batch > 0 ? in->batch : clamp((rest - p->val) / (2 * rounds), BATCH_MIN, BATCH_MAX);
    p->batch = min_l(p->batch, p->val);
    if ((rest - p->val) / 2 < p->batch && in->batch <= 0) /* small budgets: smaller minibatches */
        p->batch = clamp((rest - p->val) / 2, 1, p->val);
    p->meta_every = in->meta_every;
    p->meta_per_update = in->meta_every > 0 ? in->meta_per_update : 0;
    p->meta_feedback = in->meta_every > 0 ? in->meta_feedback : 0;
    /* as many trials per round as the budget pays for, then fewer rounds */
    long maxk = in->max_per_round > 0 ? in->max_per_round : PER_ROUND_MAX;
    p->per_round = 0;
    for (long k = maxk; k >= 1 && !p->per_round; k--)
        if (budget_search_cost(p, rounds, k) <= rest)
            p->per_round = k;
    if (!p->per_round) {
        p->per_round = 1;
        while (rounds > 1 && budget_search_cost(p, rounds, 1) > rest)
            rounds--;
        if (budget_search_cost(p, rounds, 1) > rest && p->meta_every > 0) {
            p->meta_every = 0; /* no room for updates */
            p->meta_per_update = 0;
        }
        if (budget_search_cost(p, rounds, 1) > rest) {
            snprintf(err, errlen,
                     "budget %ld is too small: the search has %ld left, and the initial prompt on "
                     "%ld validation rows plus one trial of %ld rows needs %ld",
                     b, rest, p->val, p->batch, budget_search_cost(p, 1, 1));
            return -1;
        }
    }
    /* a budget that pays for more than num_iterations rounds of the most
     * trials: more rounds */
    if (p->per_round == maxk)
        while (budget_search_cost(p, rounds + 1, maxk) <= rest)
            rounds++;
    p->rounds = rounds;
    p->meta_updates = p->meta_every > 0 ? rounds / p->meta_every : 0;
    p->search = rest;
    p->total = b - rest + budget_search_cost(p, p->rounds, p->per_round);
    return 0;
}

int budget_plan_gepa(const budget_in *in, budget_plan *p, char *err, size_t errlen)
{
    budget_plan z = {0};
    *p = z;
    long b = in->budget;
    long rest = plan_holdout(in, p);
    p->meta_boot = min_l(in->meta_boot, rest / 4);
    rest -= p->meta_boot;
    p->batch = in->batch > 0 ? in->batch : 3;
    p->val = in->val_n >= 0 ? in->val_n : clamp(rest / 10, 15, 150);
    p->val = min_l(p->val, (long)in->train_n / 2);
    p->per_round = in->max_per_round > 0 ? in->max_per_round : 4;
    long per_iter = p->per_round * (2 * p->batch + 1);
    if (p->val < 1 || rest < p->val + 2 * p->batch + 1) {
        snprintf(err, errlen,
                 "budget %ld is too small: after %ld held-out and %ld proposal calls, %ld are left, "
                 "and the initial prompt on %ld validation rows and one reflection need %ld",
                 b, p->holdout_inside ? 2 * p->holdout : 0, p->meta_boot, rest, p->val,
                 p->val + 2 * p->batch + 1);
        return -1;
    }
    /* iterations if a third of the children are accepted */
    p->rounds = (rest - p->val) / (per_iter + p->per_round * (p->val - p->batch) / 3);
    if (p->rounds < 1)
        p->rounds = 1;
    p->search = rest;
    p->total = b;
    return 0;
}
