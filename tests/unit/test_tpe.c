/* Unit tests: TPE kernels, weights, reproducibility, start-up. */
#include <math.h>
#include <stdlib.h>

#include "tpe.h"
#include "test.h"

static int near(double a, double b)
{
    return fabs(a - b) < 1e-12;
}

TEST(tpe_weights_match_optuna)
{
    double w[40];
    tpe_weights(3, w);
    CHECK(w[0] == 1.0 && w[2] == 1.0);
    tpe_weights(26, w); /* one ramp value: linspace(1/26, 1, 1) = [1/26] */
    CHECK(near(w[0], 1.0 / 26) && w[1] == 1.0 && w[25] == 1.0);
    tpe_weights(30, w); /* ramp of 5 from 1/30 to 1 */
    CHECK(near(w[0], 1.0 / 30) && near(w[4], 1.0) && near(w[2], 1.0 / 30 + (1 - 1.0 / 30) / 2));
    CHECK(w[29] == 1.0);
}

TEST(tpe_density_by_hand)
{
    /* One parameter with C = 3 choices, one observation at 1, prior weight 1.
     * K = 2: kernel p(c) = (1/2 + [c=1]) / (1 + 3/2) -> 0.2, 0.6, 0.2;
     * prior 1/3 each; mixture weights 1/2, 1/2. */
    int choices[1] = {3};
    int obs[1] = {1};
    int x0 = 0, x1 = 1;
    CHECK(near(exp(tpe_log_density(choices, 1, obs, 1, 1.0, &x1)), 0.5 * 0.6 + 0.5 / 3));
    CHECK(near(exp(tpe_log_density(choices, 1, obs, 1, 1.0, &x0)), 0.5 * 0.2 + 0.5 / 3));
    /* Two parameters (3 and 2 choices), observations (0,1) and (2,1), prior
     * weight 2: K = 3; weights 1/4, 1/4, 2/4. Optuna's kernel puts
     * prior_weight / K = 2/3 on every choice and 1 more on the observed one:
     * kernel over 3: (2/3 + [c=j]) / (1 + 3 * 2/3) -> 5/9 at j, 2/9 elsewhere
     * kernel over 2: (2/3 + [c=j]) / (1 + 2 * 2/3) -> 5/7 at j, 2/7 elsewhere */
    int ch2[2] = {3, 2};
    int obs2[4] = {0, 1, 2, 1};
    int x[2] = {0, 1};
    double want = 0.25 * (5.0 / 9) * (5.0 / 7) + 0.25 * (2.0 / 9) * (5.0 / 7) + 0.5 * (1.0 / 3) * 0.5;
    CHECK(near(exp(tpe_log_density(ch2, 2, obs2, 2, 2.0, x)), want));
    /* a density sums to one over the space */
    double sum = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 2; b++) {
            int y[2] = {a, b};
            sum += exp(tpe_log_density(ch2, 2, obs2, 2, 2.0, y));
        }
    CHECK(near(sum, 1.0));
}

static double objective(const int *x)
{
    /* best at (7, 3) */
    return 1.0 - 0.05 * abs(x[0] - 7) - 0.08 * abs(x[1] - 3);
}

TEST(tpe_reproducible_and_seed_zero_counts)
{
    int choices[2] = {13, 20};
    tpe_opts o = tpe_defaults();
    int a[40][2], b[40][2], c[40][2];
    for (int run = 0; run < 3; run++) {
        tpe *t = tpe_new(2, choices, &o, run == 2 ? 1 : 0);
        for (int i = 0; i < 40; i++) {
            int *x = run == 0 ? a[i] : run == 1 ? b[i] : c[i];
            tpe_suggest(t, x, NULL, 0);
            CHECK(x[0] >= 0 && x[0] < 13 && x[1] >= 0 && x[1] < 20);
            tpe_tell(t, x, objective(x));
        }
        tpe_free(t);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);  /* same seed (0): same run */
    CHECK(memcmp(a, c, sizeof a) != 0);  /* another seed: another run */
}

TEST(tpe_startup_is_uniform_then_exploits)
{
    int choices[2] = {13, 20};
    tpe_opts o = tpe_defaults();
    o.n_startup = 100000; /* never leaves start-up */
    tpe *t = tpe_new(2, choices, &o, 5);
    int hist[13] = {0};
    for (int i = 0; i < 13000; i++) {
        int x[2];
        tpe_suggest(t, x, NULL, 0);
        hist[x[0]]++;
    }
    for (int k = 0; k < 13; k++)
        CHECK(hist[k] > 850 && hist[k] < 1150);
    tpe_free(t);
    /* After start-up, suggestions concentrate near the best region. */
    o = tpe_defaults();
    t = tpe_new(2, choices, &o, 9);
    int near_best = 0;
    for (int i = 0; i < 120; i++) {
        int x[2];
        tpe_suggest(t, x, NULL, 0);
        if (i >= 60 && abs(x[0] - 7) <= 1 && abs(x[1] - 3) <= 1)
            near_best++;
        tpe_tell(t, x, objective(x));
    }
    CHECK(near_best > 60 * 9 / 260 * 3); /* well above uniform's 9/260 share */
    tpe_free(t);
}

TEST(tpe_constant_liar_spreads_parallel_suggestions)
{
    int choices[1] = {50};
    tpe_opts o = tpe_defaults();
    o.n_startup = 0;
    tpe *t = tpe_new(1, choices, &o, 3);
    int x = 10;
    tpe_tell(t, &x, 1.0);
    x = 40;
    tpe_tell(t, &x, 0.0);
    int first, second;
    tpe_suggest(t, &first, NULL, 0);
    tpe_suggest(t, &second, &first, 1);
    CHECK(first >= 0 && first < 50 && second >= 0 && second < 50);
    tpe_free(t);
}
