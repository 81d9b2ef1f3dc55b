/* config.c: see config.h. A table of known keys drives the loader. */
#include "mipro_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

enum kind { K_TABLE, K_STR, K_INT, K_FLOAT, K_BOOL, K_SEEDS, K_SECTIONS, K_IGNORE };

struct field {
    const char *path;
    enum kind kind;
    size_t off;
    double lo, hi; /* for numbers */
};

#define F(p, k, m, lo, hi) {p, k, offsetof(mipro_config, m), lo, hi}
#define T(p) {p, K_TABLE, 0, 0, 0}
#define I(p) {p, K_IGNORE, 0, 0, 0}
#define BIG 1e12

static const struct field fields[] = {
    T("prompt_learning"),
    F("prompt_learning.algorithm", K_STR, algorithm, 0, 0),
    F("prompt_learning.task_app_url", K_STR, task_app_url, 0, 0),
    F("prompt_learning.task_app_api_key", K_STR, task_app_api_key, 0, 0),
    F("prompt_learning.results_folder", K_STR, results_folder, 0, 0),
    F("prompt_learning.seed", K_INT, seed, -BIG, BIG),
    I("prompt_learning.task_app_id"),
    I("prompt_learning.env_name"),
    T("prompt_learning.policy"),
    F("prompt_learning.policy.provider", K_STR, provider, 0, 0),
    F("prompt_learning.policy.model", K_STR, model, 0, 0),
    F("prompt_learning.policy.inference_url", K_STR, inference_url, 0, 0),
    F("prompt_learning.policy.temperature", K_FLOAT, temperature, 0, 2),
    F("prompt_learning.policy.max_completion_tokens", K_INT, max_completion_tokens, 1, 1e7),
    F("prompt_learning.policy.usd_per_million_input_tokens", K_FLOAT, usd_per_mtok_input, 0, 1e6),
    F("prompt_learning.policy.usd_per_million_output_tokens", K_FLOAT, usd_per_mtok_output, 0, 1e6),
    I("prompt_learning.policy.inference_mode"),
    T("prompt_learning.termination_config"),
    F("prompt_learning.termination_config.budget", K_INT, budget, 1, BIG),
    F("prompt_learning.termination_config.max_time_seconds", K_FLOAT, max_time_seconds, 0.001, BIG),
    F("prompt_learning.termination_config.target_score", K_FLOAT, target_score, 0, 1),
    F("prompt_learning.termination_config.holdout_budget", K_INT, holdout_budget, 0, BIG),
    F("prompt_learning.termination_config.max_spend_usd", K_FLOAT, max_spend_usd, 0, 1e9),
    T("prompt_learning.mipro"),
    F("prompt_learning.mipro.num_iterations", K_INT, num_iterations, 1, 1e6),
    F("prompt_learning.mipro.top_k", K_INT, top_k, 1, 1000),
    F("prompt_learning.mipro.num_bootstrap_seeds", K_INT, num_bootstrap_seeds, 0, 1000),
    F("prompt_learning.mipro.num_instructions_per_module", K_INT, num_instructions_per_module, 0, 1000),
    F("prompt_learning.mipro.num_demos", K_INT, num_demos, 0, 64),
    F("prompt_learning.mipro.optimize_instructions", K_BOOL, optimize_instructions, 0, 0),
    F("prompt_learning.mipro.optimize_demos", K_BOOL, optimize_demos, 0, 0),
    F("prompt_learning.mipro.batch_size", K_INT, batch_size, 1, 1e6),
    F("prompt_learning.mipro.max_concurrent", K_INT, max_concurrent, 1, 10000),
    F("prompt_learning.mipro.parallel_trials", K_INT, parallel_trials, 1, 64),
    F("prompt_learning.mipro.holdout_size", K_INT, holdout_size, 0, 1e6),
    F("prompt_learning.mipro.validation_size", K_INT, validation_size, 0, 1e6),
    F("prompt_learning.mipro.val_seeds", K_SEEDS, val_pool, 0, 0),
    F("prompt_learning.mipro.validation_pool", K_SEEDS, val_pool, 0, 0),
    F("prompt_learning.mipro.search", K_STR, search, 0, 0),
    F("prompt_learning.mipro.meta_model_usd_per_million_input_tokens", K_FLOAT,
      meta_usd_per_mtok_input, 0, 1e6),
    F("prompt_learning.mipro.meta_model_usd_per_million_output_tokens", K_FLOAT,
      meta_usd_per_mtok_output, 0, 1e6),
    T("prompt_learning.mipro.meta_update"),
    F("prompt_learning.mipro.meta_update.enabled", K_BOOL, meta_update_enabled, 0, 0),
    F("prompt_learning.mipro.meta_update.every_iterations", K_INT, meta_update_every, 1, 1e6),
    F("prompt_learning.mipro.meta_update.topk_failure", K_INT, meta_update_topk_failure, 1, 200),
    F("prompt_learning.mipro.meta_update.keep_k", K_INT, meta_update_keep_k, 0, 1000),
    F("prompt_learning.mipro.meta_update.proposals", K_INT, meta_update_proposals, 1, 64),
    F("prompt_learning.mipro.meta_update.max_instruction_chars", K_INT, max_instruction_chars, 200, 1e6),
    F("prompt_learning.mipro.demo_pool_size", K_INT, demo_pool_size, 1, 1e5),
    F("prompt_learning.mipro.meta_model", K_STR, meta_model, 0, 0),
    F("prompt_learning.mipro.meta_model_provider", K_STR, meta_model_provider, 0, 0),
    F("prompt_learning.mipro.meta_model_inference_url", K_STR, meta_model_inference_url, 0, 0),
    F("prompt_learning.mipro.few_shot_score_threshold", K_FLOAT, few_shot_score_threshold, 0, 1),
    F("prompt_learning.mipro.bootstrap_train_seeds", K_SEEDS, bootstrap_train_seeds, 0, 0),
    F("prompt_learning.mipro.online_pool", K_SEEDS, online_pool, 0, 0),
    F("prompt_learning.mipro.test_pool", K_SEEDS, test_pool, 0, 0),
    F("prompt_learning.mipro.seed", K_INT, seed, -BIG, BIG),
    I("prompt_learning.mipro.env_name"),
    T("prompt_learning.mipro.tpe"),
    F("prompt_learning.mipro.tpe.gamma", K_FLOAT, tpe_gamma, 0.001, 1),
    F("prompt_learning.mipro.tpe.n_candidates", K_INT, tpe_n_candidates, 1, 10000),
    F("prompt_learning.mipro.tpe.n_startup_trials", K_INT, tpe_n_startup_trials, 0, 1e6),
    F("prompt_learning.mipro.tpe.prior_weight", K_FLOAT, tpe_prior_weight, 0.0001, 1e6),
    T("prompt_learning.gepa"),
    F("prompt_learning.gepa.max_metric_calls", K_INT, budget, 1, BIG),
    F("prompt_learning.gepa.minibatch_size", K_INT, gepa_minibatch, 1, 1000),
    F("prompt_learning.gepa.candidate_selection", K_STR, gepa_selection, 0, 0),
    F("prompt_learning.gepa.proposals_in_flight", K_INT, gepa_proposals, 1, 64),
    F("prompt_learning.gepa.use_merge", K_BOOL, gepa_use_merge, 0, 0),
    F("prompt_learning.gepa.max_merge_invocations", K_INT, gepa_max_merges, 0, 1000),
    F("prompt_learning.gepa.skip_perfect_score", K_BOOL, gepa_skip_perfect, 0, 0),
    F("prompt_learning.gepa.reflection_model", K_STR, meta_model, 0, 0),
    F("prompt_learning.gepa.reflection_provider", K_STR, meta_model_provider, 0, 0),
    F("prompt_learning.gepa.reflection_inference_url", K_STR, meta_model_inference_url, 0, 0),
    F("prompt_learning.gepa.reflection_usd_per_million_input_tokens", K_FLOAT,
      meta_usd_per_mtok_input, 0, 1e6),
    F("prompt_learning.gepa.reflection_usd_per_million_output_tokens", K_FLOAT,
      meta_usd_per_mtok_output, 0, 1e6),
    F("prompt_learning.gepa.max_instruction_chars", K_INT, max_instruction_chars, 200, 1e6),
    F("prompt_learning.gepa.seed", K_INT, seed, -BIG, BIG),
    I("prompt_learning.gepa.env_name"),
    T("prompt_learning.gepa.rollout"),
    F("prompt_learning.gepa.rollout.budget", K_INT, budget, 1, BIG),
    F("prompt_learning.gepa.rollout.max_concurrent", K_INT, max_concurrent, 1, 10000),
    F("prompt_learning.gepa.rollout.minibatch_size", K_INT, gepa_minibatch, 1, 1000),
    T("prompt_learning.gepa.evaluation"),
    F("prompt_learning.gepa.evaluation.train_seeds", K_SEEDS, gepa_train_seeds, 0, 0),
    F("prompt_learning.gepa.evaluation.validation_seeds", K_SEEDS, val_pool, 0, 0),
    F("prompt_learning.gepa.evaluation.val_seeds", K_SEEDS, val_pool, 0, 0),
    F("prompt_learning.gepa.evaluation.test_pool", K_SEEDS, test_pool, 0, 0),
    F("prompt_learning.gepa.evaluation.holdout_size", K_INT, holdout_size, 0, 1e6),
    T("prompt_learning.gepa.population"),
    F("prompt_learning.gepa.population.initial_size", K_INT, gepa_initial_size, 1, 1000),
    F("prompt_learning.gepa.population.num_generations", K_INT, gepa_generations, 1, 1e6),
    F("prompt_learning.gepa.population.children_per_generation", K_INT, gepa_proposals, 1, 64),
    T("prompt_learning.gepa.archive"),
    F("prompt_learning.gepa.archive.size", K_INT, gepa_archive_size, 1, 1e6),
    F("prompt_learning.gepa.archive.pareto_set_size", K_INT, validation_size, 1, 1e6),
    T("prompt_learning.initial_prompt"),
    F("prompt_learning.initial_prompt.sections", K_SECTIONS, sections, 0, 0),
    F("prompt_learning.initial_prompt.messages", K_SECTIONS, sections, 0, 0),
    I("prompt_learning.initial_prompt.wildcards"),
    I("prompt_learning.initial_prompt.id"),
    I("prompt_learning.initial_prompt.name"),
    T("display"),
    F("display.show_curve", K_BOOL, show_curve, 0, 0),
    F("display.verbose_summary", K_BOOL, verbose_summary, 0, 0),
    F("display.show_trial_results", K_BOOL, show_trial_results, 0, 0),
    I("display.local_backend"),
    I("display.tui"),
};

struct ctx {
    const char *name;
    mipro_config *c;
    char *err;
    size_t errlen;
    void (*warn)(const char *);
};

static int fail(struct ctx *x, const toml_value *v, const char *key, const char *fmt, ...)
    B77_PRINTF(4, 5);
static int fail(struct ctx *x, const toml_value *v, const char *key, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(x->err, x->errlen, "%s:%d:%d: %s: %s", x->name, v ? toml_line(v) : 0,
             v ? toml_column(v) : 0, key, msg);
    return -1;
}

static int get_seeds(struct ctx *x, const toml_value *v, const char *key, seed_list *out)
{
    free(out->v);
    memset(out, 0, sizeof *out);
    out->set = 1;
    if (toml_type_of(v) == TOML_ARRAY) {
        out->n = toml_array_size(v);
        out->v = xcalloc(out->n ? out->n : 1, sizeof(int64_t));
        for (size_t i = 0; i < out->n; i++) {
            const toml_value *e = toml_array_get(v, i);
            if (toml_type_of(e) != TOML_INTEGER)
                return fail(x, e, key, "seeds must be integers, got a %s", toml_type_name(toml_type_of(e)));
            out->v[i] = toml_int(e);
        }
        return 0;
    }
    if (toml_type_of(v) == TOML_TABLE) {
        const toml_value *s = toml_get(v, "start"), *e = toml_get(v, "end");
        if (!s || !e || toml_type_of(s) != TOML_INTEGER || toml_type_of(e) != TOML_INTEGER)
            return fail(x, v, key, "a seed range needs integer start and end");
        int64_t a = toml_int(s), b = toml_int(e);
        if (b < a || b - a > 10000000)
            return fail(x, v, key, "seed range [%lld, %lld) is empty or too large", (long long)a, (long long)b);
        out->n = (size_t)(b - a);
        out->v = xcalloc(out->n ? out->n : 1, sizeof(int64_t));
        for (size_t i = 0; i < out->n; i++)
            out->v[i] = a + (int64_t)i;
        return 0;
    }
    return fail(x, v, key, "expected a list of seeds or {start = A, end = B}");
}

static int get_sections(struct ctx *x, const toml_value *v, const char *key, mipro_config *c)
{
    if (toml_type_of(v) != TOML_ARRAY)
        return fail(x, v, key, "expected a list of {role, content} tables");
    for (size_t i = 0; i < c->nsections; i++) {
        free(c->sections[i].role);
        free(c->sections[i].content);
    }
    free(c->sections);
    size_t n = toml_array_size(v);
    c->sections = xcalloc(n ? n : 1, sizeof *c->sections);
    c->nsections = 0;
    /* sorted by "order" when given, stably */
    double *order = xcalloc(n ? n : 1, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        const toml_value *s = toml_array_get(v, i);
        if (toml_type_of(s) != TOML_TABLE) {
            free(order);
            return fail(x, s, key, "section %zu is not a table", i);
        }
        const toml_value *role = toml_get(s, "role");
        const toml_value *content = toml_get(s, "content");
        if (!content)
            content = toml_get(s, "pattern");
        const toml_value *ord = toml_get(s, "order");
        if (!role || toml_type_of(role) != TOML_STRING ||
            (strcmp(toml_string(role), "system") && strcmp(toml_string(role), "user") &&
             strcmp(toml_string(role), "assistant"))) {
            free(order);
            return fail(x, s, key, "section %zu needs role = \"system\", \"user\" or \"assistant\"", i);
        }
        if (!content || toml_type_of(content) != TOML_STRING) {
            free(order);
            return fail(x, s, key, "section %zu needs a string content (or pattern)", i);
        }
        order[i] = (double)i;
        if (ord && (toml_type_of(ord) == TOML_INTEGER))
            order[i] = (double)toml_int(ord);
        else if (ord && toml_type_of(ord) == TOML_FLOAT)
            order[i] = toml_float(ord);
        /* insertion sort keeps equal orders in file order */
        size_t j = c->nsections;
        prompt_section ps = {xstrdup(toml_string(role)), xstrdup(toml_string(content))};
        double o = order[i];
        while (j > 0 && order[j - 1] > o) {
            c->sections[j] = c->sections[j - 1];
            order[j] = order[j - 1];
            j--;
        }
        c->sections[j] = ps;
        order[j] = o;
        c->nsections++;
    }
    free(order);
    return 0;
}

static const struct field *find_field(const char *path)
{
    for (size_t i = 0; i < B77_ARRAY_LEN(fields); i++)
        if (strcmp(fields[i].path, path) == 0)
            return &fields[i];
    return NULL;
}

static int walk(struct ctx *x, const toml_value *t, const char *prefix)
{
    for (size_t i = 0; i < toml_table_size(t); i++) {
        const char *k = toml_table_key(t, i);
        const toml_value *v = toml_table_value(t, i);
        char *path = *prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
        const struct field *f = find_field(path);
        int rc = 0;
        toml_type ty = toml_type_of(v);
        char *base = (char *)x->c;
        if (!f) {
            if (x->warn) {
                char *w = xasprintf("%s:%d:%d: warning: unknown key %s (ignored)", x->name,
                                    toml_line(v), toml_column(v), path);
                x->warn(w);
                free(w);
            }
        } else {
            switch (f->kind) {
            case K_TABLE:
                rc = ty == TOML_TABLE ? walk(x, v, path) : fail(x, v, path, "expected a table");
                break;
            case K_IGNORE:
                break;
            case K_STR:
                if (ty != TOML_STRING) {
                    rc = fail(x, v, path, "expected a string, got a %s", toml_type_name(ty));
                } else {
                    char **dst = (char **)(base + f->off);
                    free(*dst);
                    *dst = xstrdup(toml_string(v));
                }
                break;
            case K_INT:
                if (ty != TOML_INTEGER) {
                    rc = fail(x, v, path, "expected an integer, got a %s", toml_type_name(ty));
                } else if ((double)toml_int(v) < f->lo || (double)toml_int(v) > f->hi) {
                    rc = fail(x, v, path, "%lld is out of range [%.0f, %.0f]", (long long)toml_int(v), f->lo, f->hi);
                } else {
                    *(long *)(base + f->off) = (long)toml_int(v);
                    if (f->off == offsetof(mipro_config, seed))
                        x->c->seed_set = 1;
                }
                break;
            case K_FLOAT: {
                double d;
                if (ty == TOML_INTEGER)
                    d = (double)toml_int(v);
                else if (ty == TOML_FLOAT)
                    d = toml_float(v);
                else {
                    rc = fail(x, v, path, "expected a number, got a %s", toml_type_name(ty));
                    break;
                }
                if (!(d >= f->lo && d <= f->hi)) {
                    rc = fail(x, v, path, "%g is out of range [%g, %g]", d, f->lo, f->hi);
                } else {
                    *(double *)(base + f->off) = d;
                    if (f->off == offsetof(mipro_config, temperature))
                        x->c->temperature_set = 1;
                }
                break;
            }
            case K_BOOL:
                if (ty != TOML_BOOL)
                    rc = fail(x, v, path, "expected true or false, got a %s", toml_type_name(ty));
                else
                    *(int *)(base + f->off) = toml_bool(v);
                break;
            case K_SEEDS:
                rc = get_seeds(x, v, path, (seed_list *)(base + f->off));
                break;
            case K_SECTIONS:
                rc = get_sections(x, v, path, x->c);
                break;
            }
        }
        free(path);
        if (rc)
            return rc;
    }
    return 0;
}

static void set_defaults(mipro_config *c)
{
    memset(c, 0, sizeof *c);
    c->algorithm = xstrdup("mipro");
    c->task_app_url = xstrdup("http://localhost:8002");
    c->results_folder = xstrdup("results");
    c->provider = xstrdup("openai");
    c->model = xstrdup("gpt-4o-mini");
    c->budget = 100;
    c->max_time_seconds = 1800;
    c->target_score = 0.95;
    c->num_iterations = 10;
    c->top_k = 2;
    c->num_bootstrap_seeds = 3;
    c->num_instructions_per_module = 4;
    c->num_demos = 2;
    c->optimize_instructions = 1;
    c->optimize_demos = 1;
    c->max_concurrent = 20;
    c->holdout_size = 0;
    c->holdout_budget = -1;
    c->search = xstrdup("tpe");
    c->meta_update_enabled = 1;
    c->meta_update_every = 2;
    c->meta_update_topk_failure = 12;
    c->meta_update_keep_k = 0;
    c->meta_update_proposals = 2;
    c->max_instruction_chars = 1500;
    c->gepa_minibatch = 3;
    c->gepa_selection = xstrdup("pareto");
    c->gepa_proposals = 4;
    c->gepa_use_merge = 1;
    c->gepa_max_merges = 5;
    c->gepa_skip_perfect = 1;
    c->gepa_initial_size = 1;
    c->demo_pool_size = 50;
    c->few_shot_score_threshold = 1.0;
    c->tpe_gamma = 0.1;
    c->tpe_n_candidates = 24;
    c->tpe_n_startup_trials = -1;
    c->tpe_prior_weight = 1.0;
    c->show_curve = 1;
    c->verbose_summary = 1;
    c->show_trial_results = 1;
}

int config_parse(const char *name, const char *text, size_t len, mipro_config *c, char *err,
                 size_t errlen, void (*warn)(const char *))
{
    set_defaults(c);
    c->path = xstrdup(name);
    char terr[400];
    toml_value *root = toml_parse(text, len, terr, sizeof terr);
    if (!root) {
        snprintf(err, errlen, "%s: %s", name, terr);
        return -1;
    }
    struct ctx x = {name, c, err, errlen, warn};
    int rc = walk(&x, root, "");
    toml_free(root);
    if (rc == 0 && strcmp(c->search, "tpe") != 0 && strcmp(c->search, "random") != 0) {
        snprintf(err, errlen, "%s: prompt_learning.mipro.search: \"%s\" is not \"tpe\" or \"random\"",
                 name, c->search);
        rc = -1;
    }
    if (rc == 0 && strcmp(c->algorithm, "mipro") != 0 && strcmp(c->algorithm, "gepa") != 0) {
        snprintf(err, errlen, "%s: prompt_learning.algorithm: \"%s\" is not supported here (mipro or gepa)",
                 name, c->algorithm);
        rc = -1;
    }
    static const char *const selections[] = {"pareto", "current_best", "epsilon_greedy"};
    int known = 0;
    for (size_t i = 0; i < B77_ARRAY_LEN(selections); i++)
        known |= strcmp(c->gepa_selection, selections[i]) == 0;
    if (rc == 0 && !known) {
        snprintf(err, errlen, "%s: prompt_learning.gepa.candidate_selection: \"%s\" is not pareto, "
                 "current_best or epsilon_greedy", name, c->gepa_selection);
        rc = -1;
    }
    return rc;
}

int config_load(const char *path, mipro_config *c, char *err, size_t errlen, void (*warn)(const char *))
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_defaults(c);
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    buf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    int rc = config_parse(path, b.data ? b.data : "", b.len, c, err, errlen, warn);
    buf_free(&b);
    return rc;
}

void config_free(mipro_config *c)
{
    char **strs[] = {&c->path, &c->algorithm, &c->task_app_url, &c->task_app_api_key,
                     &c->results_folder, &c->provider, &c->model, &c->inference_url,
                     &c->meta_model, &c->meta_model_provider, &c->meta_model_inference_url,
                     &c->search, &c->gepa_selection};
    for (size_t i = 0; i < B77_ARRAY_LEN(strs); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
    free(c->bootstrap_train_seeds.v);
    free(c->online_pool.v);
    free(c->test_pool.v);
    free(c->val_pool.v);
    free(c->gepa_train_seeds.v);
    for (size_t i = 0; i < c->nsections; i++) {
        free(c->sections[i].role);
        free(c->sections[i].content);
    }
    free(c->sections);
    memset(c, 0, sizeof *c);
}
