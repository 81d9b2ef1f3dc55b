/* Unit tests: the MIPRO config loader and demo sets. */
#include <stdlib.h>

#include "mipro_config.h"
#include "demos.h"
#include "test.h"

static int warnings;
static void count_warning(const char *w)
{
    (void)w;
    warnings++;
}

static const char *WALKTHROUGH =
    "[prompt_learning]\nalgorithm = \"mipro\"\ntask_app_url = \"http://localhost:8002\"\n"
    "results_folder = \"/tmp/mipro_walkthrough/results\"\n\n[prompt_learning.policy]\n"
    "provider = \"openai\"          # or \"groq\"\nmodel = \"gpt-4o-mini\"\n\n"
    "[prompt_learning.termination_config]\nbudget = 100\nmax_time_seconds = 1800\n"
    "target_score = 0.95\n\n[prompt_learning.mipro]\nnum_iterations = 10\ntop_k = 2\n"
    "num_bootstrap_seeds = 3\nnum_instructions_per_module = 4\nnum_demos = 2\n"
    "optimize_instructions = true\noptimize_demos = true\n\n[prompt_learning.initial_prompt]\n"
    "sections = [ { role = \"system\", content = \"You are a banking assistant ...\" } ]\n\n"
    "[display]\nshow_curve = true\nverbose_summary = true\nshow_trial_results = true\n";

TEST(config_walkthrough_loads)
{
    mipro_config c;
    char err[300];
    warnings = 0;
    CHECK(config_parse("w.toml", WALKTHROUGH, strlen(WALKTHROUGH), &c, err, sizeof err, count_warning) == 0);
    CHECK(warnings == 0);
    CHECK_STR(c.task_app_url, "http://localhost:8002");
    CHECK_STR(c.model, "gpt-4o-mini");
    CHECK(c.budget == 100 && c.num_iterations == 10 && c.top_k == 2 && c.num_demos == 2);
    CHECK(c.target_score == 0.95 && c.max_time_seconds == 1800);
    CHECK(c.nsections == 1);
    CHECK_STR(c.sections[0].role, "system");
    CHECK(c.seed == 0 && !c.seed_set);
    config_free(&c);
}

TEST(config_sdk_variant_loads)
{
    const char *t =
        "[prompt_learning]\nalgorithm = \"mipro\"\ntask_app_url = \"http://x:1\"\nfuture_key = 3\n"
        "[prompt_learning.policy]\ninference_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n"
        "temperature = 0.0\nmax_completion_tokens = 64\n"
        "[prompt_learning.initial_prompt]\nmessages = [{role = \"user\", pattern = \"Q: {query}\", order = 2},"
        " {role = \"system\", pattern = \"sys\", order = 1}]\nwildcards = {query = \"REQUIRED\"}\n"
        "[prompt_learning.mipro]\nbatch_size = 5\nmax_concurrent = 7\nmeta_model = \"mm\"\n"
        "few_shot_score_threshold = 0.5\nbootstrap_train_seeds = [1, 2, 3]\n"
        "online_pool = {start = 10, end = 20}\ntest_pool = [100, 101]\n"
        "[prompt_learning.mipro.tpe]\ngamma = 0.25\nn_candidates = 12\nn_startup_trials = 4\nprior_weight = 2.0\n";
    mipro_config c;
    char err[300];
    warnings = 0;
    CHECK(config_parse("sdk.toml", t, strlen(t), &c, err, sizeof err, count_warning) == 0);
    CHECK(warnings == 1); /* future_key */
    CHECK(c.temperature_set && c.temperature == 0.0 && c.max_completion_tokens == 64);
    CHECK(c.nsections == 2);
    CHECK_STR(c.sections[0].content, "sys"); /* sorted by order */
    CHECK(c.bootstrap_train_seeds.n == 3 && c.online_pool.n == 10 && c.online_pool.v[0] == 10);
    CHECK(c.test_pool.n == 2 && c.batch_size == 5 && c.max_concurrent == 7);
    CHECK(c.tpe_gamma == 0.25 && c.tpe_n_startup_trials == 4 && c.tpe_prior_weight == 2.0);
    config_free(&c);
}

TEST(config_errors_name_file_line_and_key)
{
    mipro_config c;
    char err[300];
    const char *t = "[prompt_learning]\n\n[prompt_learning.mipro]\nnum_demos = \"two\"\n";
    CHECK(config_parse("bad.toml", t, strlen(t), &c, err, sizeof err, NULL) != 0);
    CHECK(strstr(err, "bad.toml:4:") != NULL);
    CHECK(strstr(err, "prompt_learning.mipro.num_demos") != NULL);
    config_free(&c);
    t = "[prompt_learning.termination_config]\nbudget = -5\n";
    CHECK(config_parse("b.toml", t, strlen(t), &c, err, sizeof err, NULL) != 0);
    CHECK(strstr(err, "budget") && strstr(err, "range"));
    config_free(&c);
    t = "[prompt_learning]\nalgorithm = \"evolve\"\n";
    CHECK(config_parse("g.toml", t, strlen(t), &c, err, sizeof err, NULL) != 0);
    CHECK(strstr(err, "mipro or gepa") != NULL);
    config_free(&c);
    t = "[prompt_learning.gepa]\ncandidate_selection = \"best\"\n";
    CHECK(config_parse("s.toml", t, strlen(t), &c, err, sizeof err, NULL) != 0);
    CHECK(strstr(err, "candidate_selection") != NULL);
    config_free(&c);
    t = "[prompt_learning\n";
    CHECK(config_parse("s.toml", t, strlen(t), &c, err, sizeof err, NULL) != 0);
    CHECK(strstr(err, "s.toml: line 1") != NULL);
    config_free(&c);
}

TEST(config_gepa_synth_shape_loads)
{
    const char *t =
        "[prompt_learning]\nalgorithm = \"gepa\"\n[prompt_learning.gepa]\n"
        "reflection_model = \"r\"\nreflection_inference_url = \"http://127.0.0.1:9/v1\"\n"
        "[prompt_learning.gepa.rollout]\nbudget = 700\nmax_concurrent = 9\nminibatch_size = 5\n"
        "[prompt_learning.gepa.evaluation]\ntrain_seeds = {start = 0, end = 50}\n"
        "validation_seeds = [60, 61, 62]\ntest_pool = {start = 0, end = 20}\n"
        "[prompt_learning.gepa.population]\ninitial_size = 3\nnum_generations = 7\n"
        "children_per_generation = 2\n[prompt_learning.gepa.archive]\nsize = 40\npareto_set_size = 30\n";
    mipro_config c;
    char err[300];
    warnings = 0;
    CHECK(config_parse("gepa.toml", t, strlen(t), &c, err, sizeof err, count_warning) == 0);
    CHECK(warnings == 0);
    CHECK_STR(c.algorithm, "gepa");
    CHECK_STR(c.meta_model, "r");
    CHECK(c.budget == 700 && c.max_concurrent == 9 && c.gepa_minibatch == 5);
    CHECK(c.gepa_train_seeds.n == 50 && c.val_pool.n == 3 && c.test_pool.n == 20);
    CHECK(c.gepa_initial_size == 3 && c.gepa_generations == 7 && c.gepa_proposals == 2);
    CHECK(c.gepa_archive_size == 40 && c.validation_size == 30);
    CHECK_STR(c.gepa_selection, "pareto");
    config_free(&c);
}

TEST(demo_sets_shapes)
{
    static const char *labels[] = {"a", "b", "c", "d", "e", "a", "b", "f", "g", "h"};
    demo pool[10];
    for (int i = 0; i < 10; i++)
        pool[i] = (demo){.query = "q", .label = (char *)labels[i], .index = i,
                         .bootstrapped = i < 4, .confused = i >= 7};
    demo_set sets[13];
    uint64_t rng = 42;
    size_t n = demos_build_sets(pool, 10, 3, 13, &rng, sets);
    CHECK(n == 13);
    CHECK(sets[0].n == 0);
    int sizes[4] = {0}, with_conf = 0;
    for (size_t i = 1; i < n; i++) {
        CHECK(sets[i].n >= 1 && sets[i].n <= 3);
        sizes[sets[i].n]++;
        int conf = 0;
        for (size_t a = 0; a < sets[i].n; a++) {
            conf += pool[sets[i].idx[a]].confused;
            for (size_t b = a + 1; b < sets[i].n; b++) /* spread across intents */
                CHECK(strcmp(pool[sets[i].idx[a]].label, pool[sets[i].idx[b]].label) != 0);
        }
        with_conf += conf >= 1;
    }
    CHECK(sizes[1] == 4 && sizes[2] == 4 && sizes[3] == 4); /* sizes vary: 1, 2, 3, 1, ... */
    CHECK(with_conf * 4 >= (int)(n - 1) * 3); /* confused intents in most sets */
    for (size_t i = 1; i < n; i++) /* no two sets alike */
        for (size_t j = i + 1; j < n; j++) {
            int same = sets[i].n == sets[j].n;
            for (size_t a = 0; a < sets[i].n && same; a++) {
                int found = 0;
                for (size_t b = 0; b < sets[j].n; b++)
                    found |= sets[i].idx[a] == sets[j].idx[b];
                same = found;
            }
            CHECK(!same);
        }
    /* same rng seed, same sets */
    demo_set again[13];
    rng = 42;
    demos_build_sets(pool, 10, 3, 13, &rng, again);
    CHECK(memcmp(sets, again, sizeof sets) == 0);
    /* an empty pool gives only the empty set */
    CHECK(demos_build_sets(pool, 0, 2, 13, &rng, sets) == 1);
}
