/* Unit tests: GEPA's Pareto frontier (lib/pareto.c), the sentence merge
 * (lib/merge.c) and GEPA's budget plan. */
#include <math.h>
#include <stdlib.h>

#include "budget.h"
#include "merge.h"
#include "pareto.h"
#include "test.h"

TEST(pareto_dominance_and_weights)
{
    /* 4 candidates on 4 instances.
     * c0: 1 0 0 0   c1: 1 1 0 0   c2: 0 0 1 0   c3: 0 1 0 0
     * fronts: i0 {c0,c1}, i1 {c1,c3}, i2 {c2}, i3 {c0..c3} (all 0, tied)
     * c0 is on i0 and i3, both shared with c1: dominated (removed first, the
     * lowest total); c3 is on i1, i3: shared with c1: dominated; c1 stays on
     * i0, i1, i3; c2 alone on i2 (and i3). */
    double s[16] = {1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0};
    size_t w[4];
    CHECK(pareto_weights(s, 4, 4, w) == 2);
    CHECK(w[0] == 0 && w[3] == 0);
    CHECK(w[1] == 3 && w[2] == 2);
    /* two identical candidates: one stays (the later, on a tie of totals) */
    double t[6] = {1, 0, 1, 1, 0, 1};
    size_t w2[2];
    CHECK(pareto_weights(t, 2, 3, w2) == 1);
    CHECK(w2[0] == 0 && w2[1] == 3);
    /* unscored (NAN) rows are on no front */
    double u[4] = {NAN, NAN, 0, 1};
    CHECK(pareto_weights(u, 2, 2, w2) == 1 && w2[0] == 0 && w2[1] == 2);
}

TEST(pareto_pick_follows_the_weights)
{
    size_t w[3] = {1, 0, 3}, count[3] = {0};
    uint64_t rng = 7;
    for (int i = 0; i < 4000; i++)
        count[pareto_pick(w, 3, &rng)]++;
    CHECK(count[1] == 0);
    CHECK(count[0] > 800 && count[0] < 1200); /* about 1,000 */
    CHECK(count[2] > 2800 && count[2] < 3200);
    size_t none[2] = {0, 0};
    CHECK(pareto_pick(none, 2, &rng) == -1);
}

TEST(merge_keeps_both_children_additions)
{
    const char *anc = "Classify the intent. Answer with the label.";
    const char *a = "Classify the intent. Choose card_arrival, not card_linking, when waiting. Answer with the label.";
    const char *b = "Classify the intent. Answer with the label. Choose top_up_failed, not top_up_reverted, when declined.";
    char *m = merge_instructions(anc, a, b, 1500);
    CHECK(m != NULL);
    CHECK_STR(m, "Classify the intent. Choose card_arrival, not card_linking, when waiting. Answer with "
                 "the label. Choose top_up_failed, not top_up_reverted, when declined.");
    free(m);
    /* nothing new from b: no merge */
    CHECK(merge_instructions(anc, a, anc, 1500) == NULL);
    /* over the length: no merge */
    CHECK(merge_instructions(anc, a, b, 60) == NULL);
    char *sent[8];
    size_t n = merge_sentences("One. Two?  Three\nFour", sent, 8);
    CHECK(n == 4);
    CHECK_STR(sent[0], "One.");
    CHECK_STR(sent[1], "Two?");
    CHECK_STR(sent[2], "Three");
    CHECK_STR(sent[3], "Four");
    for (size_t i = 0; i < n; i++)
        free(sent[i]);
}

TEST(gepa_plan_fits_the_budget)
{
    long budgets[] = {60, 100, 300, 1000, 5000};
    for (size_t i = 0; i < sizeof budgets / sizeof budgets[0]; i++) {
        budget_in in = {.budget = budgets[i], .holdout_budget = -1, .train_n = 10003, .test_n = 3080,
                        .val_n = -1, .batch = 0, .holdout_n = 0, .meta_boot = 0, .max_per_round = 4};
        budget_plan p;
        char err[300];
        CHECK(budget_plan_gepa(&in, &p, err, sizeof err) == 0);
        CHECK(p.meta_boot + p.search + 2 * p.holdout == budgets[i]);
        CHECK(p.batch == 3 && p.per_round == 4 && p.val >= 15 && p.val <= 150 && p.rounds >= 1);
    }
    /* 1000: held-out 2 x 100, validation 800 / 10 = 80 */
    budget_in in = {.budget = 1000, .holdout_budget = -1, .train_n = 10003, .test_n = 3080, .val_n = -1,
                    .max_per_round = 4};
    budget_plan p;
    char err[300];
    CHECK(budget_plan_gepa(&in, &p, err, sizeof err) == 0);
    CHECK(p.holdout == 100 && p.val == 80 && p.search == 800);
    in.budget = 20;
    in.val_n = 40;
    CHECK(budget_plan_gepa(&in, &p, err, sizeof err) != 0 && strstr(err, "too small"));
}
