/* results.c: see results.h. */
#include "results.h"

#include "report_html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const phase_names[PHASE_COUNT] = {"bootstrap", "proposals", "search", "heldout"};

static json_t *demos_json(const run_outcome *o, int dset, int full)
{
    json_t *a = json_array();
    const demo_set *s = &o->sets[dset];
    for (size_t i = 0; i < s->n; i++) {
        const demo *d = &o->pool[s->idx[i]];
        json_t *j = json_pack("{s:s,s:s}", "query", d->query, "label", d->label);
        if (full) {
            json_object_set_new(j, "split", json_string("train"));
            json_object_set_new(j, "index", json_integer((json_int_t)d->index));
            json_object_set_new(j, "bootstrapped", json_boolean(d->bootstrapped));
        }
        json_array_append_new(a, j);
    }
    return a;
}

static int write_json(run *r, const char *name, json_t *j)
{
    char *path = xasprintf("%s/%s", r->results, name);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER);
    if (rc != 0)
        fprintf(stderr, "%s: cannot write %s\n", r->algorithm, path);
    free(path);
    json_decref(j);
    return rc;
}

static json_t *interval_json(const stats_interval *i)
{
    return json_pack("{s:o,s:o,s:o,s:I}", "score", score_json(i->mean), "ci95_low",
                     score_json(i->lo), "ci95_high", score_json(i->hi), "n", (json_int_t)i->n);
}

static json_t *paired_json(const stats_paired *p)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:I,s:I,s:f,s:s,s:b}", "n", (json_int_t)p->n, "gain",
                     score_json(p->diff), "ci95_low", score_json(p->lo), "ci95_high",
                     score_json(p->hi), "winner_only_correct", (json_int_t)p->a_only,
                     "initial_only_correct", (json_int_t)p->b_only, "p_value", p->p, "test",
                     p->binary ? "exact McNemar (two-sided)" : "paired normal (two-sided)",
                     "significant", p->n > 0 && p->p < 0.05);
}

static json_t *counts_json(const run *r, size_t ntrials)
{
    const spend *s = &r->sp;
    json_t *phases = json_object();
    for (int p = 0; p < PHASE_COUNT; p++)
        json_object_set_new(phases, phase_names[p], json_integer(s->by_phase[p]));
    json_t *c = json_pack(
        "{s:I,s:I,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "spent",
        (json_int_t)s->spent, "budget", (json_int_t)r->cfg->budget, "spent_by_phase", phases,
        "rollouts", (json_int_t)s->rollouts, "rollouts_bootstrap",
        (json_int_t)s->by_phase[PHASE_BOOTSTRAP], "rollouts_search",
        (json_int_t)(s->by_phase[PHASE_SEARCH]), "rollouts_heldout",
        (json_int_t)s->by_phase[PHASE_HOLDOUT], "rollouts_failed", (json_int_t)s->rollouts_failed,
        "rollouts_reused_from_log", (json_int_t)s->rollouts_replayed, "llm_calls",
        (json_int_t)(s->rollouts - s->rollouts_replayed + s->meta_calls - s->meta_replayed),
        "meta_model_calls", (json_int_t)s->meta_calls, "tokens",
        (json_int_t)(s->prompt_tokens + s->completion_tokens + s->meta_prompt_tokens +
                     s->meta_completion_tokens),
        "policy_prompt_tokens", (json_int_t)s->prompt_tokens, "policy_completion_tokens",
        (json_int_t)s->completion_tokens, "meta_prompt_tokens", (json_int_t)s->meta_prompt_tokens,
        "meta_completion_tokens", (json_int_t)s->meta_completion_tokens, "http_retries",
        (json_int_t)r->hs.retries);
    json_object_set_new(c, "trials", json_integer((json_int_t)ntrials));
    json_object_set_new(c, "rate_limited_replies", json_integer((json_int_t)r->hs.rate_limited));
    json_object_set_new(c, "rate_limited_wait_s", json_real((double)r->hs.waited_ms / 1000.0));
    json_object_set_new(c, "usd", json_real(run_usd(r)));
    json_t *secs = json_object();
    for (int p = 0; p < PHASE_COUNT; p++)
        json_object_set_new(secs, phase_names[p], json_real(s->phase_seconds[p]));
    json_object_set_new(c, "seconds_by_phase", secs);
    return c;
}

json_t *results_plan_json(const budget_plan *p)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:I}", "bootstrap", (json_int_t)p->boot,
                     "proposals", (json_int_t)p->meta_boot, "validation", (json_int_t)p->val,
                     "minibatch", (json_int_t)p->batch, "rounds", (json_int_t)p->rounds,
                     "trials_per_round", (json_int_t)p->per_round, "meta_updates",
                     (json_int_t)p->meta_updates, "holdout", (json_int_t)p->holdout,
                     "holdout_inside_budget", p->holdout_inside, "total", (json_int_t)p->total);
}

int results_dry_run(run *r)
{
    if (!r->opts.dry_run)
        return 0;
    const budget_plan *p = &r->plan;
    if (r->opts.jsonl) {
        json_t *ev = json_pack("{s:s,s:s,s:I,s:o}", "event", "plan", "algorithm", r->algorithm,
                               "budget", (json_int_t)r->cfg->budget, "plan", results_plan_json(p));
        run_event(r, ev);
        return 1;
    }
    printf("%s: dry run: nothing spent, nothing written. The plan%s spends at most %ld of the "
           "budget's %ld%s; run without --dry-run to start.\n",
           r->algorithm, r->opts.quiet ? "" : " above", p->total, r->cfg->budget,
           p->holdout_inside ? " (the held-out phase included)" : "");
    return 1;
}

static json_t *config_json(const run *r)
{
    const mipro_config *c = r->cfg;
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:b,s:b,s:I,s:s,s:s,s:s,s:f,"
        "s:{s:f,s:I,s:I,s:f},s:{s:b,s:I,s:I,s:I,s:I},s:o}",
        "algorithm", r->algorithm, "task_app_url", r->task_url, "model", c->model, "inference_url",
        r->policy_url, "results_folder", r->results, "budget", (json_int_t)c->budget,
        "holdout_budget", (json_int_t)c->holdout_budget, "max_time_seconds", c->max_time_seconds,
        "target_score", c->target_score, "num_iterations", (json_int_t)c->num_iterations,
        "num_bootstrap_seeds", (json_int_t)c->num_bootstrap_seeds, "num_instructions_per_module",
        (json_int_t)c->num_instructions_per_module, "num_demos", (json_int_t)c->num_demos,
        "optimize_instructions", c->optimize_instructions, "optimize_demos", c->optimize_demos,
        "max_concurrent", (json_int_t)c->max_concurrent, "search", c->search, "meta_model",
        r->meta_model, "meta_model_inference_url", r->meta_url, "few_shot_score_threshold",
        c->few_shot_score_threshold, "tpe", "gamma", c->tpe_gamma, "n_candidates",
        (json_int_t)c->tpe_n_candidates, "n_startup_trials", (json_int_t)c->tpe_n_startup_trials,
        "prior_weight", c->tpe_prior_weight, "meta_update", "enabled", c->meta_update_enabled,
        "every_iterations", (json_int_t)c->meta_update_every, "topk_failure",
        (json_int_t)c->meta_update_topk_failure, "keep_k", (json_int_t)c->meta_update_keep_k,
        "proposals", (json_int_t)c->meta_update_proposals, "plan", results_plan_json(&r->plan));
}

void results_write(run *r, const run_outcome *o)
{
    if (!o->ninstr) {
        json_decref(o->extra);
        return;
    }
    char finished[32];
    iso_now(finished);
    int wi = o->win_instr, wd = o->win_dset;
    const holdout_result *h = o->holdout;
    const demo *ptrs[DEMO_SET_MAX];
    for (size_t i = 0; i < o->sets[wd].n; i++)
        ptrs[i] = &o->pool[o->sets[wd].idx[i]];
    prompt_spec ps = {o->instr[wi], wi == 0, ptrs, o->sets[wd].n};
    json_t *validation = json_pack("{s:s,s:I,s:o,s:o,s:o}", "split", "train", "n",
                                   (json_int_t)o->nval, "score", score_json(o->val_win),
                                   "initial_score", score_json(o->val_initial), "best_candidate_score",
                                   score_json(o->val_best));
    json_object_set_new(validation, "comparison", paired_json(&o->val_cmp));
    json_t *best = json_pack(
        "{s:{s:s,s:s},s:o,s:i,s:i,s:b,s:{s:s,s:I,s:o},s:{s:s,s:I,s:o},s:o,s:o}", "instruction",
        "role", "system", "content", o->instr[wi], "demonstrations", demos_json(o, wd, 0),
        "instruction_index", wi, "demo_set_index", wd, "kept_initial", o->kept_initial,
        "heldout_score", "split", "test", "n", (json_int_t)(h ? h->n : 0), "score",
        score_json(h ? h->ia.mean : NAN), "initial_heldout_score", "split", "test", "n",
        (json_int_t)(h ? h->n : 0), "score", score_json(h ? h->ib.mean : NAN), "validation",
        validation, "prompt_template", runner_template(r, &ps));
    if (o->kept_reason)
        json_object_set_new(best, "kept_initial_reason", json_string(o->kept_reason));
    if (h) {
        json_object_set_new(best, "heldout", json_pack("{s:o,s:o,s:o}", "winner", interval_json(&h->ia),
                                                       "initial", interval_json(&h->ib),
                                                       "comparison", paired_json(&h->cmp)));
    }
    write_json(r, "best_prompt.json", best);

    json_t *trials = json_array();
    for (size_t i = 0; i < o->ntrials; i++) {
        const trial_rec *t = &o->trials[i];
        json_array_append_new(
            trials, json_pack("{s:i,s:i,s:s,s:i,s:i,s:s,s:I,s:I,s:o,s:o,s:f,s:I}", "iteration",
                              t->iteration, "round", t->round, "kind", t->kind, "instruction_index",
                              t->instr, "demo_set_index", t->dset, "split", "train", "minibatch_size",
                              (json_int_t)t->n, "n", (json_int_t)t->n, "score", score_json(t->score),
                              "best_full_validation", score_json(t->best), "elapsed_s", t->elapsed,
                              "spent", (json_int_t)t->spent));
        if (t->frontier)
            json_object_set_new(json_array_get(trials, json_array_size(trials) - 1), "frontier",
                                json_integer(t->frontier));
    }
    json_t *fin = json_pack("{s:s,s:I,s:o,s:o}", "split", "test", "n", (json_int_t)(h ? h->n : 0),
                            "best_score", score_json(h ? h->ia.mean : NAN), "initial_score",
                            score_json(h ? h->ib.mean : NAN));
    if (h)
        json_object_set_new(fin, "comparison", paired_json(&h->cmp));
    json_t *inst = json_array();
    for (size_t i = 0; i < o->ninstr; i++)
        json_array_append_new(inst, json_string(o->instr[i]));
    json_t *hist = json_pack("{s:s,s:o,s:o,s:{s:s,s:I,s:o,s:o},s:o}", "algorithm", r->algorithm,
                             "trials", trials, "final", fin, "validation", "split", "train", "n",
                             (json_int_t)o->nval, "best_score", score_json(o->val_win),
                             "initial_score", score_json(o->val_initial), "instructions", inst);
    if (o->extra)
        json_object_set_new(hist, "candidates", o->extra);
    write_json(r, "score_history.json", hist);
    write_json(r, "job_metadata.json",
               json_pack("{s:s,s:s,s:I,s:o,s:s,s:s,s:f,s:s,s:o}", "job_id", r->job_id,
                         "config_path", r->cfg->path, "seed", (json_int_t)r->seed, "config",
                         config_json(r), "started_at", r->started_at, "finished_at", finished,
                         "duration_s", now_wall() - r->t0, "termination_reason",
                         r->termination ? r->termination : "unknown", "counts",
                         counts_json(r, o->ntrials)));
    write_json(r, "selected_demos.json", json_pack("{s:i,s:o}", "demo_set_index", wd,
                                                   "demonstrations", demos_json(o, wd, 1)));
    char *page = report_html(r, o, 0, r->termination);
    char *path = xasprintf("%s/report.html", r->results);
    FILE *f = fopen(path, "w");
    if (!f || fputs(page, f) < 0)
        fprintf(stderr, "%s: cannot write %s\n", r->algorithm, path);
    if (f)
        fclose(f);
    free(page);
    free(path);
    path = xasprintf("%s/trials.jsonl", r->results);
    f = fopen(path, "w");
    if (f) {
        for (size_t i = 0; i < o->ntrials; i++) {
            const trial_rec *t = &o->trials[i];
            json_t *j = json_pack("{s:i,s:i,s:s,s:i,s:i,s:s,s:I,s:o,s:s,s:f}", "iteration",
                                  t->iteration, "round", t->round, "kind", t->kind,
                                  "instruction_index", t->instr, "demo_set_index", t->dset, "split",
                                  "train", "n", (json_int_t)t->n, "score", score_json(t->score),
                                  "instruction", o->instr[t->instr], "elapsed_s", t->elapsed);
            json_object_set_new(j, "demonstrations", demos_json(o, t->dset, 0));
            char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
            fprintf(f, "%s\n", s);
            free(s);
            json_decref(j);
        }
        fclose(f);
    }
    free(path);
}

static void sparkline(run *r, const run_outcome *o)
{
    static const char *bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    if (!o->ntrials)
        return;
    run_say(r, "Score progression (validation rows; minibatch and full): ");
    for (size_t i = 0; i < o->ntrials; i++) {
        double s = o->trials[i].score;
        int b = isnan(s) ? 0 : (int)(s * 7.999);
        run_say(r, "%s", bars[b < 0 ? 0 : b > 7 ? 7 : b]);
    }
    run_say(r, "\n");
}

void results_summary(run *r, const run_outcome *o)
{
    const holdout_result *h = o->holdout;
    const spend *s = &r->sp;
    double best = h ? h->ia.mean : NAN, initial = h ? h->ib.mean : NAN;
    size_t n = h ? h->n : 0;
    int sig = h && h->cmp.n && h->cmp.p < 0.05;
    if (r->opts.quiet && !r->opts.jsonl)
        printf("best %.3f (test split, %zu held-out examples; initial prompt %.3f; gain %+.3f, "
               "p = %.3g%s); spent %ld of %ld; results in %s\n",
               best, n, initial, best - initial, h ? h->cmp.p : 1.0,
               sig ? ", significant" : ", not significant", s->spent, r->cfg->budget, r->results);
    run_say(r, "\n========================================\nOptimization Complete\n"
               "========================================\n");
    run_say(r, "Best Score: %.3f (test split, %zu held-out examples; 95%% CI %.3f-%.3f)\n", best, n,
            h ? h->ia.lo : NAN, h ? h->ia.hi : NAN);
    run_say(r, "Initial prompt: %.3f on the same examples (95%% CI %.3f-%.3f)\n", initial,
            h ? h->ib.lo : NAN, h ? h->ib.hi : NAN);
    if (h && !o->kept_initial)
        run_say(r, "Gain: %+.3f (95%% CI %+.3f to %+.3f); %zu examples only the winner got right, "
                   "%zu only the initial prompt; %s p = %.3g: %s\n",
                h->cmp.diff, h->cmp.lo, h->cmp.hi, h->cmp.a_only, h->cmp.b_only,
                h->cmp.binary ? "McNemar" : "paired test", h->cmp.p,
                sig ? "significant at 5%" : "not significant at 5%");
    else if (h)
        run_say(r, "Gain: none: the initial prompt is kept (%s)\n", o->kept_reason ? o->kept_reason : "");
    run_say(r, "Validation (train split, %zu examples): best candidate %.3f%s, initial prompt %.3f\n",
            o->nval, o->val_best, o->kept_initial && o->val_best > o->val_initial ? " (within noise)" : "",
            o->val_initial);
    if (o->nsets > 1)
        run_say(r, "Best candidate: instruction %d, demo set %d (%zu demos)\n", o->win_instr,
                o->win_dset, o->sets[o->win_dset].n);
    else
        run_say(r, "Best candidate: %d (%zu characters)\n", o->win_instr, strlen(o->instr[o->win_instr]));
    run_say(r, "Total Iterations: %zu trials (stopped by %s)\n", o->ntrials, r->termination);
    run_say(r, "Total Evaluations: %ld of the budget of %ld (bootstrap %ld, proposals %ld, search %ld, "
               "held-out %ld%s)\n",
            s->spent, r->cfg->budget, s->by_phase[PHASE_BOOTSTRAP], s->by_phase[PHASE_PROPOSE],
            s->by_phase[PHASE_SEARCH], s->by_phase[PHASE_HOLDOUT],
            r->plan.holdout_inside ? "" : ", paid from holdout_budget");
    run_say(r, "LLM calls: %ld rollouts%s + %ld meta-model; tokens: %ld policy + %ld meta-model; "
               "failed rollouts: %ld\n",
            s->rollouts - s->rollouts_replayed,
            s->rollouts_replayed ? " (the rest replayed from the log)" : "", s->meta_calls - s->meta_replayed,
            s->prompt_tokens + s->completion_tokens, s->meta_prompt_tokens + s->meta_completion_tokens,
            s->rollouts_failed);
    if (run_usd(r) > 0)
        run_say(r, "Cost: $%.4f\n", run_usd(r));
    if (r->hs.rate_limited)
        run_say(r, "Rate-limited: %ld replies said to slow down (429, or 503 with Retry-After); "
                   "%.1f s spent waiting\n",
                r->hs.rate_limited, (double)r->hs.waited_ms / 1000.0);
    run_say(r, "Time: %.1f s\n", now_wall() - r->t0);
    if (r->cfg->show_curve)
        sparkline(r, o);
    run_say(r, "Results: %s (report: %s/report.html)\n", r->results, r->results);
    json_t *ev = json_pack("{s:s,s:o,s:o,s:s,s:I,s:s,s:I,s:b,s:b}", "event", "done", "best_score",
                           score_json(best), "initial_score", score_json(initial), "split", "test",
                           "n", (json_int_t)n, "termination_reason", r->termination, "rollouts",
                           (json_int_t)s->rollouts, "significant", sig, "kept_initial",
                           o->kept_initial);
    if (h)
        json_object_set_new(ev, "p_value", json_real(h->cmp.p));
    run_event(r, ev);
}

void results_heldout(run *r, run_outcome *o, const prompt_spec *winner, const prompt_spec *initial,
                     const int64_t *rows, size_t n, holdout_result *h)
{
    r->reserve = 0;
    if (o->kept_initial)
        run_say(r, "\nNo candidate beat the initial prompt on validation (%s): it is kept.\n",
                o->kept_reason);
    run_say(r, "\nHeld-out evaluation: %s on %zu test examples (never seen by the search)\n",
            o->kept_initial ? "the initial prompt" : "the winner and the initial prompt", n);
    run_phase(r, "held-out");
    double t = now_wall();
    evaluate_holdout(r, winner, initial, o->kept_initial, rows, n, h);
    r->sp.phase_seconds[PHASE_HOLDOUT] += now_wall() - t;
    o->holdout = h;
}

int results_finish(run *r, run_outcome *o)
{
    if (run_stopped(r))
        r->termination = "interrupted";
    if (r->dead)
        r->termination = "task_app_unreachable";
    if (!r->termination)
        r->termination = "budget";
    results_write(r, o);
    if (!r->dead && !run_stopped(r))
        results_summary(r, o);
    run_ui_finish(r, o);
    if (r->dead) {
        fprintf(stderr, "%s: %s\n%s: results so far are in %s\n", r->algorithm,
                r->dead_msg[0] ? r->dead_msg : "the task app failed", r->algorithm, r->results);
        return 1;
    }
    if (run_stopped(r)) {
        fprintf(stderr, "\n%s: interrupted; results so far written to %s (resume with --resume)\n",
                r->algorithm, r->results);
        return 130;
    }
    return 0;
}
