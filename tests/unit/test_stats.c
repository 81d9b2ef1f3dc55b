/* Unit tests: the statistics (lib/stats.c) against hand-computed values, and
 * the budget plan (lib/budget.c). */
#include <math.h>

#include "budget.h"
#include "stats.h"
#include "test.h"

#define NEAR(a, b, eps) (fabs((a) - (b)) <= (eps))

TEST(stats_wilson_interval)
{
    /* 7 of 10: Wilson 95% = 0.3968 .. 0.8922 (z = 1.96) */
    double x[10] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    stats_interval i = stats_mean(x, 10);
    CHECK(NEAR(i.mean, 0.7, 1e-12));
    CHECK(NEAR(i.lo, 0.3968, 1e-4));
    CHECK(NEAR(i.hi, 0.8922, 1e-4));
    /* 0 of 5: 0 .. 0.4345 */
    double z[5] = {0};
    i = stats_mean(z, 5);
    CHECK(i.lo == 0 && NEAR(i.hi, 0.4345, 1e-4));
    /* not binary: normal approximation; 0.5 and 1.0: mean 0.75, sd 0.3536, se 0.25 */
    double h[2] = {0.5, 1.0};
    i = stats_mean(h, 2);
    CHECK(NEAR(i.mean, 0.75, 1e-12) && NEAR(i.lo, 0.75 - 1.959964 * 0.25, 1e-5) && i.hi == 1.0);
    CHECK(isnan(stats_mean(x, 0).mean));
}

TEST(stats_mcnemar_exact)
{
    /* b = 9, c = 1: two-sided 2 * P(X >= 9 | n = 10) = 2 * 11/1024 */
    CHECK(NEAR(stats_mcnemar(9, 1), 22.0 / 1024.0, 1e-12));
    CHECK(NEAR(stats_mcnemar(1, 9), 22.0 / 1024.0, 1e-12));
    CHECK(NEAR(stats_mcnemar_one_sided(9, 1), 11.0 / 1024.0, 1e-12));
    /* b = c: p = 1 (capped) */
    CHECK(stats_mcnemar(5, 5) == 1.0);
    CHECK(stats_mcnemar(0, 0) == 1.0);
    /* b = 3, c = 0: 2 * 1/8 */
    CHECK(NEAR(stats_mcnemar(3, 0), 0.25, 1e-12));
}

TEST(stats_paired_comparison)
{
    double a[6] = {1, 1, 1, 0, 1, 0}, b[6] = {1, 0, 0, 0, 1, 1};
    stats_paired p = stats_compare(a, b, 6);
    CHECK(p.binary && p.a_only == 2 && p.b_only == 1);
    CHECK(NEAR(p.diff, 1.0 / 6.0, 1e-12));
    CHECK(NEAR(p.p, 1.0, 1e-12)); /* 2 * P(X >= 2 | n = 3) = 2 * 4/8 */
    /* differences 0,1,1,0,0,-1: mean 1/6, sd sqrt(17/30), se sqrt(17/30)/sqrt(6) */
    double se = sqrt(17.0 / 30.0) / sqrt(6.0);
    CHECK(NEAR(p.lo, 1.0 / 6.0 - 1.959964 * se, 1e-5) && NEAR(p.hi, 1.0 / 6.0 + 1.959964 * se, 1e-5));
}

static budget_in walkthrough(long budget)
{
    return (budget_in){.budget = budget, .holdout_budget = -1, .train_n = 10003, .test_n = 3080,
                       .bootstrap = 1, .boot_n = -1, .val_n = -1, .batch = 0, .holdout_n = 0,
                       .meta_boot = 12, .rounds = 10, .max_per_round = 0, .meta_every = 3,
                       .meta_per_update = 2};
}

TEST(budget_plan_fits_the_budget)
{
    long budgets[] = {60, 100, 300, 1000, 3000, 20000};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        budget_in in = walkthrough(budgets[i]);
        budget_plan p;
        char err[300];
        CHECK(budget_plan_make(&in, &p, err, sizeof err) == 0);
        CHECK(p.total <= budgets[i]);
        CHECK(p.boot + p.meta_boot + p.search + 2 * p.holdout == budgets[i]);
        CHECK(p.batch >= 1 && p.batch <= p.val && p.rounds >= 1 && p.per_round >= 1);
        CHECK(p.holdout >= 1 && p.holdout <= 500);
    }
    /* 1000, by hand: held-out 2 x 100, proposals 12, bootstrap 50, 738 left;
     * validation 738 / 6 = 123, minibatch (738 - 123) / 20 = 30 */
    budget_in in = walkthrough(1000);
    budget_plan p;
    char err[300];
    CHECK(budget_plan_make(&in, &p, err, sizeof err) == 0);
    CHECK(p.holdout == 100 && p.holdout_inside && p.meta_boot == 12 && p.boot == 50);
    CHECK(p.val == 123 && p.batch == 30 && p.search == 738);
    CHECK(budget_search_cost(&p, p.rounds, p.per_round) <= p.search);
    /* a separate held-out budget leaves the whole budget to the rest */
    in.holdout_budget = 1000;
    CHECK(budget_plan_make(&in, &p, err, sizeof err) == 0);
    CHECK(!p.holdout_inside && p.holdout == 500 && p.boot + p.meta_boot + p.search == 1000);
    /* given sizes are kept */
    in = walkthrough(1000);
    in.val_n = 80;
    in.batch = 16;
    in.holdout_n = 50;
    CHECK(budget_plan_make(&in, &p, err, sizeof err) == 0);
    CHECK(p.val == 80 && p.batch == 16 && p.holdout == 50);
    /* too small to do anything useful: a clear error */
    in = walkthrough(20);
    in.val_n = 50;
    CHECK(budget_plan_make(&in, &p, err, sizeof err) != 0);
    CHECK(strstr(err, "too small") != NULL);
}
