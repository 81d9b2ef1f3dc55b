/* config.h: the optimizer's config (MIPRO's and GEPA's) (the walkthrough's mipro_config.toml and the
 * synth-ai SDK variants), loaded from TOML with errors that name file, line,
 * column and key. Unknown keys are warned about, never fatal. */
#ifndef B77_MIPRO_CONFIG_H
#define B77_MIPRO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* A list of dataset seeds: a TOML array of integers or {start, end}. */
typedef struct seed_list {
    int64_t *v;
    size_t n;
    int set;
} seed_list;

typedef struct prompt_section {
    char *role;
    char *content;
} prompt_section;

typedef struct mipro_config {
    char *path;
    /* [prompt_learning] */
    char *algorithm;
    char *task_app_url;
    char *task_app_api_key; /* else $ENVIRONMENT_API_KEY */
    char *results_folder;
    long seed;
    int seed_set;
    /* [prompt_learning.policy] */
    char *provider;
    char *model;
    char *inference_url;
    double temperature;
    int temperature_set;
    long max_completion_tokens;
    double usd_per_mtok_input, usd_per_mtok_output; /* 0: not priced */
    /* [prompt_learning.termination_config] */
    long budget;
    double max_time_seconds;
    double target_score;     /* compared with full validation scores only */
    long holdout_budget;     /* -1: the held-out phase is paid from budget */
    double max_spend_usd;    /* 0: no cap */
    /* [prompt_learning.mipro] */
    long num_iterations;
    long top_k;
    long num_bootstrap_seeds;
    long num_instructions_per_module;
    long num_demos;
    int optimize_instructions;
    int optimize_demos;
    long batch_size;     /* 0: derived from the budget */
    long max_concurrent;
    long parallel_trials; /* 0: derived from max_concurrent */
    long holdout_size;    /* test rows per prompt at the end; 0: planned from the budget */
    long validation_size; /* validation rows carved from train; 0: planned */
    seed_list val_pool;   /* the validation rows, when given */
    char *search;         /* "tpe" or "random" (the baseline: uniform choices, no updates) */
    double meta_usd_per_mtok_input, meta_usd_per_mtok_output;
    /* [prompt_learning.mipro.meta_update]: failure-aware proposals */
    int meta_update_enabled;
    long meta_update_every;        /* search rounds between updates */
    long meta_update_topk_failure; /* mistakes shown to the meta-model */
    long meta_update_keep_k;       /* instructions kept in the search after an update; 0: all */
    long meta_update_proposals;    /* new instructions per update */
    long max_instruction_chars;    /* asked of the meta-model */
    long demo_pool_size;
    char *meta_model;
    char *meta_model_provider;
    char *meta_model_inference_url;
    double few_shot_score_threshold;
    seed_list bootstrap_train_seeds;
    seed_list online_pool;
    seed_list test_pool;
    /* [prompt_learning.gepa] (budget, max_concurrent, the validation and test
     * rows and the reflection model share the fields above) */
    long gepa_minibatch;       /* training rows a reflection sees (3) */
    seed_list gepa_train_seeds; /* the rows minibatches are drawn from */
    char *gepa_selection;      /* "pareto", "current_best", "epsilon_greedy" */
    long gepa_proposals;       /* children proposed at once (4) */
    int gepa_use_merge;
    long gepa_max_merges;
    int gepa_skip_perfect;     /* no reflection on a minibatch the parent gets all right */
    long gepa_initial_size;    /* candidates to start from: the initial one + proposals */
    long gepa_generations;     /* 0: until the budget is spent */
    long gepa_archive_size;    /* 0: no cap on the pool */
    /* [prompt_learning.mipro.tpe] */
    double tpe_gamma;
    long tpe_n_candidates;
    long tpe_n_startup_trials; /* -1: derived from num_iterations */
    double tpe_prior_weight;
    /* [prompt_learning.initial_prompt] */
    prompt_section *sections;
    size_t nsections;
    /* [display] */
    int show_curve;
    int verbose_summary;
    int show_trial_results;
} mipro_config;

/* Loads path. Returns 0, or -1 with "FILE:LINE:COL: KEY: what" in err.
 * Warnings (unknown keys) are written to warn (one per line; may be NULL).
 * Free with config_free even after a failure. */
int config_load(const char *path, mipro_config *c, char *err, size_t errlen, void (*warn)(const char *));
/* The same from a string (name is used in messages). */
int config_parse(const char *name, const char *text, size_t len, mipro_config *c, char *err,
                 size_t errlen, void (*warn)(const char *));
void config_free(mipro_config *c);

#endif
