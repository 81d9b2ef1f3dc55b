/* mipro.c: see mipro.h. MIPRO's own parts: the bootstrap (demonstrations and
 * the initial prompt's mistakes), instruction proposals, the search over
 * (instruction, demo set) with TPE, failure-aware meta-model updates, and
 * the choice of the winner on validation. The rest is shared: run.h (state,
 * budget, output), runner.h (calls), evaluate.h (scores), results.h.
 *
 * Determinism: every random choice comes from one splitmix64 stream seeded by
 * the run's seed, drawn in an order that does not depend on timing, so the
 * same seed (0 included) gives the same run; --resume replays it from the
 * journal. */
#include "mipro.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "dataset.h"
#include "evaluate.h"
#include "proposer.h"
#include "results.h"
#include "run.h"
#include "runner.h"
#include "stats.h"
#include "tpe.h"

#define META_EXAMPLES 16 /* training examples shown to a first-round proposal */
#define MAX_SETS 64
#define MAX_PER_ROUND 16 /* trials in one round at most (parallel_trials is capped to it) */

/* A scored (instruction, demo set) pair. */
typedef struct combo {
    int instr, dset;
    val_scores vs;
    const demo *ptrs[DEMO_SET_MAX];
    prompt_spec ps;
} combo;

typedef struct obs {
    int instr, dset;
    double score;
} obs;

typedef struct mipro {
    run r;
    char **instr;
    size_t ninstr, instr_cap;
    int *active; /* per instruction: still searched */
    demo *pool;
    size_t npool, nboot_ok;
    demo_set sets[MAX_SETS];
    size_t nsets;
    /* the initial prompt's bootstrap results */
    rollout_job *boot;
    size_t nboot;
    valset val;
    size_t *perm; /* the validation rows' order for minibatches */
    size_t cursor;
    combo **combos;
    size_t ncombos, combos_cap;
    int incumbent, baseline; /* combo indices */
    obs *obs;
    size_t nobs, obs_cap;
    trial_rec *trials;
    size_t ntrials, trials_cap;
    int pending[MAX_PER_ROUND][2]; /* proposals to try next round (instr, dset) */
    size_t npending;
    tpe *t;
    int *tpe_instr; /* TPE's instruction choice -> instruction index */
    int tpe_ninstr;
    int64_t *test_rows;
    size_t ntest;
    holdout_result hold;
    int have_hold;
} mipro;

/* ---- candidates ------------------------------------------------------------ */

static combo *combo_get(mipro *m, int instr, int dset, int *index)
{
    for (size_t i = 0; i < m->ncombos; i++)
        if (m->combos[i]->instr == instr && m->combos[i]->dset == dset) {
            if (index)
                *index = (int)i;
            return m->combos[i];
        }
    if (m->ncombos == m->combos_cap) {
        m->combos_cap = m->combos_cap ? 2 * m->combos_cap : 64;
        m->combos = xrealloc(m->combos, m->combos_cap * sizeof *m->combos);
    }
    combo *c = xcalloc(1, sizeof *c);
    c->instr = instr;
    c->dset = dset;
    val_scores_init(&c->vs, m->val.n);
    const demo_set *s = &m->sets[dset];
    for (size_t i = 0; i < s->n; i++)
        c->ptrs[i] = &m->pool[s->idx[i]];
    c->ps = (prompt_spec){m->instr[instr], instr == 0, c->ptrs, s->n};
    if (index)
        *index = (int)m->ncombos;
    m->combos[m->ncombos++] = c;
    return c;
}

static void add_instruction(mipro *m, char *text)
{
    if (m->ninstr == m->instr_cap) {
        m->instr_cap = m->instr_cap ? 2 * m->instr_cap : 32;
        m->instr = xrealloc(m->instr, m->instr_cap * sizeof *m->instr);
        m->active = xrealloc(m->active, m->instr_cap * sizeof *m->active);
    }
    m->active[m->ninstr] = 1;
    m->instr[m->ninstr++] = text;
}

/* 1 when text is new (not already a candidate). */
static int novel(const mipro *m, const char *text)
{
    if (!text || !*text)
        return 0;
    for (size_t i = 0; i < m->ninstr; i++)
        if (strcmp(m->instr[i], text) == 0)
            return 0;
    return 1;
}

static void record(mipro *m, int round, const char *kind, const combo *c, size_t n, double score)
{
    if (m->ntrials == m->trials_cap) {
        m->trials_cap = m->trials_cap ? 2 * m->trials_cap : 64;
        m->trials = xrealloc(m->trials, m->trials_cap * sizeof *m->trials);
    }
    double best = m->incumbent >= 0 ? val_mean(&m->combos[m->incumbent]->vs) : NAN;
    m->trials[m->ntrials] = (trial_rec){(int)m->ntrials + 1, round, kind, c->instr, c->dset, n,
                                        score, best, now_wall() - m->r.t0, m->r.sp.spent, 0};
    m->ntrials++;
}

/* ---- TPE over the active instructions ---------------------------------------- */

static void tell(mipro *m, int instr, int dset, double score)
{
    if (m->nobs == m->obs_cap) {
        m->obs_cap = m->obs_cap ? 2 * m->obs_cap : 64;
        m->obs = xrealloc(m->obs, m->obs_cap * sizeof *m->obs);
    }
    m->obs[m->nobs++] = (obs){instr, dset, score};
    for (int k = 0; k < m->tpe_ninstr; k++)
        if (m->tpe_instr[k] == instr) {
            int x[2] = {k, dset};
            tpe_tell(m->t, x, score);
        }
}

/* A fresh sampler over the active instructions, told every observation of
 * them again (the choice counts changed). */
static void rebuild_tpe(mipro *m)
{
    const mipro_config *c = m->r.cfg;
    tpe_free(m->t);
    free(m->tpe_instr);
    m->tpe_instr = xcalloc(m->ninstr + 1, sizeof *m->tpe_instr);
    m->tpe_ninstr = 0;
    for (size_t i = 0; i < m->ninstr; i++)
        if (m->active[i])
            m->tpe_instr[m->tpe_ninstr++] = (int)i;
    long planned = m->r.plan.rounds * m->r.plan.per_round;
    long startup = c->tpe_n_startup_trials >= 0 ? c->tpe_n_startup_trials
                                                : (planned / 3 > 10 ? 10 : planned / 3 < 2 ? 2 : planned / 3);
    int choices[2] = {m->tpe_ninstr, (int)m->nsets};
    tpe_opts o = {.n_startup = (int)startup, .n_candidates = (int)c->tpe_n_candidates,
                  .gamma = c->tpe_gamma, .prior_weight = c->tpe_prior_weight};
    m->t = tpe_new(2, choices, &o, (uint64_t)m->r.seed ^ (uint64_t)m->ninstr << 32);
    for (size_t i = 0; i < m->nobs; i++)
        for (int k = 0; k < m->tpe_ninstr; k++)
            if (m->tpe_instr[k] == m->obs[i].instr) {
                int x[2] = {k, m->obs[i].dset};
                tpe_tell(m->t, x, m->obs[i].score);
            }
}

/* ---- phase 1 ------------------------------------------------------------------- */

static size_t boot_mistakes(mipro *m, feedback *out, size_t want)
{
    const char **q = xcalloc(m->nboot + 1, sizeof *q), **l = xcalloc(m->nboot + 1, sizeof *l);
    const char **p = xcalloc(m->nboot + 1, sizeof *p);
    double *rw = xcalloc(m->nboot + 1, sizeof *rw);
    for (size_t i = 0; i < m->nboot; i++) {
        q[i] = m->boot[i].query;
        l[i] = m->boot[i].label;
        p[i] = m->boot[i].predicted;
        rw[i] = m->boot[i].ok ? m->boot[i].reward : NAN;
    }
    size_t n = proposer_mistakes(&m->r.rng, q, l, p, rw, m->nboot, out, want);
    free(q);
    free(l);
    free(p);
    free(rw);
    return n;
}

/* Phase 1a: the initial prompt on the bootstrap rows. */
static void bootstrap(mipro *m, const int64_t *rows, size_t n)
{
    if (!n)
        return;
    run_say(&m->r, "  Scoring the initial prompt on %zu training examples (demonstrations, mistakes)...\n", n);
    prompt_spec *initial = xcalloc(1, sizeof *initial);
    *initial = (prompt_spec){run_initial_instruction(m->r.cfg), 1, NULL, 0};
    m->boot = xcalloc(n, sizeof *m->boot);
    m->nboot = n;
    for (size_t i = 0; i < n; i++)
        m->boot[i] = (rollout_job){.row = rows[i], .split = 0, .prompt = initial};
    double t = now_wall();
    runner_rollouts(&m->r, m->boot, n, PHASE_BOOTSTRAP);
    m->r.sp.phase_seconds[PHASE_BOOTSTRAP] += now_wall() - t;
    size_t right = 0;
    for (size_t i = 0; i < n; i++) {
        m->boot[i].prompt = NULL;
        right += m->boot[i].ok && m->boot[i].reward >= 1.0;
    }
    free(initial);
    run_say(&m->r, "  - Initial prompt: %zu of %zu right on the bootstrap rows\n", right, n);
}

/* Phase 1b: instruction proposals. Round 1 shows labelled examples; later
 * rounds show the initial prompt's mistakes on the bootstrap rows. */
static void propose_instructions(mipro *m)
{
    const mipro_config *c = m->r.cfg;
    add_instruction(m, xstrdup(run_initial_instruction(c)));
    size_t rounds = (size_t)c->num_bootstrap_seeds, per = (size_t)c->num_instructions_per_module;
    size_t total = c->optimize_instructions ? rounds * per : 0;
    if ((long)total > m->r.plan.meta_boot)
        total = (size_t)m->r.plan.meta_boot;
    if (!total)
        return;
    run_say(&m->r, "  Generating instruction candidates...\n");
    meta_call *calls = xcalloc(total, sizeof *calls);
    size_t *round_of = xcalloc(total, sizeof *round_of);
    feedback mis[200];
    size_t want = (size_t)c->meta_update_topk_failure;
    for (size_t i = 0; i < total; i++) {
        /* fewer than rounds x per: taken round-robin over the rounds */
        size_t round = total < rounds * per ? i % rounds : i / per;
        round_of[i] = round;
        /* (the random-search baseline uses no feedback: examples only) */
        int with_mistakes = c->meta_update_enabled && strcmp(c->search, "tpe") == 0;
        size_t nmis = round > 0 && with_mistakes ? boot_mistakes(m, mis, want) : 0;
        demo ex[META_EXAMPLES] = {{0}};
        size_t nex = 0;
        if (!nmis) {
            int64_t *rows = run_sample_rows(&m->r, m->r.train_n, META_EXAMPLES, NULL, 0);
            if (runner_examples(&m->r, rows, META_EXAMPLES, ex) != 0) {
                free(rows);
                break;
            }
            free(rows);
            nex = META_EXAMPLES;
        }
        calls[i].system = xstrdup(proposer_system);
        calls[i].user = proposer_prompt(m->r.cfg, m->instr[0], NAN, 0, mis, nmis, ex, nex,
                                    proposer_tip(i),
                                    (total < rounds * per ? i / rounds : i % per) + 1, per);
        for (size_t k = 0; k < nex; k++) {
            free(ex[k].query);
            free(ex[k].label);
        }
    }
    double t = now_wall();
    if (!m->r.dead && !run_stopped(&m->r))
        runner_meta(&m->r, calls, total, PHASE_PROPOSE);
    m->r.sp.phase_seconds[PHASE_PROPOSE] += now_wall() - t;
    for (size_t r = 0; r < rounds; r++) {
        size_t added = 0, asked = 0;
        for (size_t k = 0; k < total; k++)
            if (round_of[k] == r && ++asked && novel(m, calls[k].text)) {
                add_instruction(m, calls[k].text);
                calls[k].text = NULL;
                added++;
            }
        if (!asked)
            continue;
        run_say(&m->r, "  - Seed %zu/%zu: %zu instructions generated%s\n", r + 1, rounds, added,
                r > 0 && m->nboot && c->meta_update_enabled && strcmp(c->search, "tpe") == 0
                    ? " (shown the initial prompt's mistakes)"
                    : "");
        run_event(&m->r, json_pack("{s:s,s:I,s:I}", "event", "instructions", "round",
                                   (json_int_t)(r + 1), "generated", (json_int_t)added));
    }
    meta_calls_free(calls, total);
    free(round_of);
    run_say(&m->r, "  Total instructions: %zu (%zu proposed + the initial one)\n", m->ninstr, m->ninstr - 1);
}

/* Phase 1c: the demo pool and the candidate sets. */
static void build_demos(mipro *m, const int64_t *boot_rows, size_t nboot, size_t nsets)
{
    const mipro_config *c = m->r.cfg;
    size_t want = (size_t)c->demo_pool_size;
    m->pool = xcalloc(want + nboot + 1, sizeof(demo));
    m->sets[0].n = 0;
    m->nsets = 1;
    if (!c->optimize_demos || c->num_demos == 0)
        return;
    run_say(&m->r, "  Sampling demonstrations...\n");
    /* bootstrapped: what the initial prompt got right; confused: the
     * intents it got wrong, as labelled examples */
    for (size_t i = 0; i < m->nboot && m->npool < want; i++) {
        rollout_job *b = &m->boot[i];
        if (!b->ok || !b->query || !b->label)
            continue;
        int right = b->reward >= c->few_shot_score_threshold;
        if (!right && m->npool >= want / 2 + m->nboot_ok)
            continue;
        demo *d = &m->pool[m->npool++];
        *d = (demo){xstrdup(b->query), xstrdup(b->label), b->row, right, !right};
        m->nboot_ok += right;
    }
    if (m->npool < want && !run_stopped(&m->r)) {
        size_t need = want - m->npool;
        int64_t *exclude = xcalloc(nboot + m->val.n + 1, sizeof *exclude);
        memcpy(exclude, boot_rows, nboot * sizeof *exclude);
        memcpy(exclude + nboot, m->val.rows, m->val.n * sizeof *exclude);
        int64_t *rows = run_sample_rows(&m->r, m->r.train_n, need, exclude, nboot + m->val.n);
        if (runner_examples(&m->r, rows, need, m->pool + m->npool) == 0)
            m->npool += need;
        free(rows);
        free(exclude);
    }
    m->nsets = demos_build_sets(m->pool, m->npool, (size_t)c->num_demos, nsets, &m->r.rng, m->sets);
    size_t conf = 0;
    for (size_t i = 0; i < m->npool; i++)
        conf += m->pool[i].confused;
    run_say(&m->r, "  - Demo pool size: %zu (%zu bootstrapped, %zu of intents the initial prompt "
                   "confuses, %zu labelled)\n",
            m->npool, m->nboot_ok, conf, m->npool - m->nboot_ok - conf);
    run_say(&m->r, "  - Demo sets: %zu of 1 to %ld demos, plus the empty set\n", m->nsets - 1, c->num_demos);
    run_event(&m->r, json_pack("{s:s,s:I,s:I,s:I}", "event", "demos", "pool", (json_int_t)m->npool,
                               "bootstrapped", (json_int_t)m->nboot_ok, "sets", (json_int_t)m->nsets));
}

/* ---- phase 2 --------------------------------------------------------------------- */

static double incumbent_score(const mipro *m)
{
    return m->incumbent >= 0 ? val_mean(&m->combos[m->incumbent]->vs) : NAN;
}

/* The rows of a combo not yet scored among idx[0..n). */
static long unscored(const combo *c, const size_t *idx, size_t n)
{
    long k = 0;
    for (size_t i = 0; i < n; i++)
        k += isnan(c->vs.reward[idx[i]]);
    return k;
}

static size_t *all_rows(const mipro *m)
{
    size_t *idx = xmalloc((m->val.n + 1) * sizeof *idx);
    for (size_t i = 0; i < m->val.n; i++)
        idx[i] = i;
    return idx;
}

/* Scores combo ci on every validation row; 0, or -1 when the budget cannot
 * pay for it. */
static int score_full(mipro *m, int ci, int round, const char *kind)
{
    combo *c = m->combos[ci];
    size_t *idx = all_rows(m);
    long cost = unscored(c, idx, m->val.n);
    if (cost > run_left(&m->r)) {
        free(idx);
        return -1;
    }
    const prompt_spec *ps = &c->ps;
    val_scores *vs = &c->vs;
    evaluate_val(&m->r, &m->val, &ps, &vs, 1, idx, m->val.n, PHASE_SEARCH);
    free(idx);
    if (!val_full(vs, m->val.n))
        return -1; /* interrupted */
    double s = val_mean(vs);
    if (m->incumbent < 0 || s > incumbent_score(m))
        m->incumbent = ci;
    record(m, round, kind, c, m->val.n, s);
    tell(m, c->instr, c->dset, s);
    return 0;
}

static void say_full(mipro *m, int ci, const char *what)
{
    combo *c = m->combos[ci];
    run_say(&m->r, "  %s: instruction %d, demo set %d: %.3f on all %zu validation examples%s\n", what,
            c->instr, c->dset, val_mean(&c->vs), m->val.n,
            ci == m->incumbent ? "  (the new best)" : "");
    run_event(&m->r, json_pack("{s:s,s:i,s:i,s:s,s:I,s:f,s:b}", "event", "full_validation",
                               "instruction", c->instr, "demo_set", c->dset, "split", "train", "n",
                               (json_int_t)m->val.n, "score", val_mean(&c->vs), "best",
                               ci == m->incumbent));
}

/* A failure-aware update: the incumbent's instruction, its score and its
 * mistakes on validation rows go to the meta-model; the proposals are tried
 * in the next round with the incumbent's demo set. */
static void meta_update(mipro *m, int round)
{
    const mipro_config *c = m->r.cfg;
    combo *inc = m->combos[m->incumbent];
    size_t np = (size_t)c->meta_update_proposals;
    /* The mistakes come from fresh training rows outside the validation rows
     * (scoring on rows whose mistakes the proposer saw would flatter it). */
    size_t nfb = (size_t)c->meta_update_topk_failure * 2;
    long cost = (long)np * (1 + m->r.plan.batch) + (long)nfb;
    if (cost > run_left(&m->r))
        return;
    int64_t *exclude = xcalloc(m->val.n + m->nboot + 1, sizeof *exclude);
    memcpy(exclude, m->val.rows, m->val.n * sizeof *exclude);
    for (size_t i = 0; i < m->nboot; i++)
        exclude[m->val.n + i] = m->boot[i].row;
    int64_t *rows = run_sample_rows(&m->r, m->r.train_n, nfb, exclude, m->val.n + m->nboot);
    free(exclude);
    rollout_job *fj = xcalloc(nfb + 1, sizeof *fj);
    for (size_t i = 0; i < nfb; i++)
        fj[i] = (rollout_job){.row = rows[i], .split = 0, .prompt = &inc->ps};
    free(rows);
    runner_rollouts(&m->r, fj, nfb, PHASE_SEARCH);
    const char **q = xcalloc(nfb + 1, sizeof *q), **l = xcalloc(nfb + 1, sizeof *l);
    const char **pr = xcalloc(nfb + 1, sizeof *pr);
    double *rw = xcalloc(nfb + 1, sizeof *rw);
    for (size_t i = 0; i < nfb; i++) {
        q[i] = fj[i].query;
        l[i] = fj[i].label;
        pr[i] = fj[i].predicted;
        rw[i] = fj[i].ok ? fj[i].reward : NAN;
    }
    feedback mis[200];
    size_t nmis = proposer_mistakes(&m->r.rng, q, l, pr, rw, nfb, mis, (size_t)c->meta_update_topk_failure);
    free(q);
    free(l);
    free(pr);
    free(rw);
    if (!nmis || run_stopped(&m->r)) {
        rollout_jobs_free(fj, nfb);
        return;
    }
    meta_call *calls = xcalloc(np, sizeof *calls);
    for (size_t k = 0; k < np; k++) {
        calls[k].system = xstrdup(proposer_system);
        calls[k].user = proposer_prompt(m->r.cfg, m->instr[inc->instr], val_mean(&inc->vs), m->val.n, mis, nmis,
                                    NULL, 0, proposer_tip((size_t)round + k), k + 1, np);
    }
    run_say(&m->r, "  Meta-model update: %zu proposals from the best instruction (%.3f) and %zu of its "
                   "mistakes on %zu fresh training examples\n",
            np, val_mean(&inc->vs), nmis, nfb);
    runner_meta(&m->r, calls, np, PHASE_SEARCH);
    rollout_jobs_free(fj, nfb); /* (mis pointed into its strings) */
    size_t added = 0;
    for (size_t k = 0; k < np; k++)
        if (novel(m, calls[k].text) && m->npending < MAX_PER_ROUND) {
            add_instruction(m, calls[k].text);
            calls[k].text = NULL;
            m->pending[m->npending][0] = (int)m->ninstr - 1;
            m->pending[m->npending][1] = inc->dset;
            m->npending++;
            added++;
        }
    meta_calls_free(calls, np);
    if (c->meta_update_keep_k > 0) { /* the best keep_k instructions stay, and the new ones */
        double *best = xcalloc(m->ninstr, sizeof *best);
        for (size_t i = 0; i < m->ninstr; i++)
            best[i] = -1;
        for (size_t i = 0; i < m->ncombos; i++)
            if (m->combos[i]->vs.nscored && val_mean(&m->combos[i]->vs) > best[m->combos[i]->instr])
                best[m->combos[i]->instr] = val_mean(&m->combos[i]->vs);
        for (size_t i = 0; i + added < m->ninstr; i++) {
            size_t better = 0;
            for (size_t j = 0; j + added < m->ninstr; j++)
                better += best[j] > best[i] || (best[j] == best[i] && j < i);
            m->active[i] = better < (size_t)c->meta_update_keep_k || (int)i == inc->instr;
        }
        free(best);
    }
    if (added)
        rebuild_tpe(m);
    run_event(&m->r, json_pack("{s:s,s:I,s:I}", "event", "meta_update", "round", (json_int_t)round,
                               "proposals", (json_int_t)added));
}

/* The next minibatch: batch validation rows, in a seeded order, cycling. */
static void next_batch(mipro *m, size_t *idx, size_t batch)
{
    for (size_t i = 0; i < batch; i++) {
        idx[i] = m->perm[m->cursor % m->val.n];
        m->cursor++;
    }
}

static int stop_reason(mipro *m)
{
    if (run_stopped(&m->r))
        m->r.termination = "interrupted";
    else if (m->r.dead)
        m->r.termination = "task_app_unreachable";
    else if (run_out_of_time(&m->r))
        m->r.termination = "max_time_seconds";
    else if (m->r.cfg->max_spend_usd > 0 && run_usd(&m->r) >= m->r.cfg->max_spend_usd)
        m->r.termination = "max_spend_usd";
    else if (!isnan(incumbent_score(m)) && incumbent_score(m) >= m->r.cfg->target_score)
        m->r.termination = "target_score";
    else
        return 0;
    return 1;
}

static void search(mipro *m)
{
    const mipro_config *c = m->r.cfg;
    const budget_plan *p = &m->r.plan;
    int random_search = strcmp(c->search, "random") == 0;
    double t0 = now_wall();
    run_say(&m->r, "\nPhase 2: %s\n", random_search ? "Random search (baseline)" : "TPE Optimization");
    run_say(&m->r, "  Search space: %zu instructions x %zu demo sets; %ld rounds of up to %ld trials "
                   "on %ld of %ld validation examples (train split, disjoint from the bootstrap and demos)\n",
            m->ninstr, m->nsets, p->rounds, p->per_round, p->batch, p->val);
    run_phase(&m->r, "search");
    rebuild_tpe(m);
    /* the baseline: the initial prompt on every validation row */
    m->baseline = -1;
    combo_get(m, 0, 0, &m->baseline);
    if (score_full(m, m->baseline, 0, "baseline") != 0) {
        m->r.termination = run_stopped(&m->r) ? "interrupted" : "budget";
        return;
    }
    say_full(m, m->baseline, "Baseline (the initial prompt)");
    size_t *idx = xmalloc((size_t)(p->batch + 1) * sizeof *idx);
    /* num_iterations rounds at least (the plan may call for more), and more
     * while the budget lasts: the budget is what the user pays for */
    long rounds = p->rounds > c->num_iterations ? p->rounds : c->num_iterations;
    int free_rounds = 0; /* rounds in a row that cost nothing: all tried before */
    for (int round = 1;; round++) {
        if (stop_reason(m))
            break;
        if (free_rounds >= 5 || round > 10000) {
            m->r.termination = "search_space_exhausted";
            break;
        }
        long spent_before = m->r.sp.spent;
        next_batch(m, idx, (size_t)p->batch);
        /* the candidates: pending proposals, else TPE's (or uniform) choices */
        int pts[MAX_PER_ROUND][2];
        size_t k = 0;
        int forced = m->npending > 0;
        if (forced) {
            for (; k < m->npending; k++)
                pts[k][0] = m->pending[k][0], pts[k][1] = m->pending[k][1];
            m->npending = 0;
        } else {
            int tp[MAX_PER_ROUND][2];
            for (long i = 0; i < p->per_round; i++) {
                if (random_search) {
                    tp[i][0] = (int)(splitmix64(&m->r.rng) % (uint64_t)m->tpe_ninstr);
                    tp[i][1] = (int)(splitmix64(&m->r.rng) % (uint64_t)m->nsets);
                } else {
                    tpe_suggest(m->t, tp[i], &tp[0][0], (size_t)i);
                }
                pts[k][0] = m->tpe_instr[tp[i][0]];
                pts[k][1] = tp[i][1];
                k++;
            }
        }
        /* what the budget pays for: fewer trials, or stop */
        int ci[MAX_PER_ROUND];
        long cost = 0;
        size_t afford = 0;
        long reserve = p->val - p->batch; /* the leader's full score */
        for (size_t i = 0; i < k; i++) {
            long cc = unscored(combo_get(m, pts[i][0], pts[i][1], &ci[i]), idx, (size_t)p->batch);
            if (cost + cc + reserve > run_left(&m->r) && afford > 0)
                break;
            if (cost + cc > run_left(&m->r))
                break;
            cost += cc;
            afford++;
        }
        if (!afford) {
            m->r.termination = "budget";
            break;
        }
        k = afford;
        const prompt_spec *ps[MAX_PER_ROUND];
        val_scores *vs[MAX_PER_ROUND];
        for (size_t i = 0; i < k; i++) {
            ps[i] = &m->combos[ci[i]]->ps;
            vs[i] = &m->combos[ci[i]]->vs;
        }
        evaluate_val(&m->r, &m->val, ps, vs, k, idx, (size_t)p->batch, PHASE_SEARCH);
        if (run_stopped(&m->r) || m->r.dead)
            continue; /* stop_reason ends the loop */
        int leader = -1;
        double lead = -1;
        for (size_t i = 0; i < k; i++) {
            double s = val_mean_on(vs[i], idx, (size_t)p->batch);
            record(m, round, "minibatch", m->combos[ci[i]], (size_t)p->batch, s);
            if (!isnan(s))
                tell(m, pts[i][0], pts[i][1], s);
            if (!isnan(s) && s > lead && !val_full(vs[i], m->val.n)) {
                lead = s;
                leader = ci[i];
            }
            if (c->show_trial_results) {
                double el = now_wall() - m->r.t0, sp = (double)m->r.sp.spent;
                double eta = sp > 0 ? el / sp * (double)(p->total - m->r.sp.spent) : 0;
                run_say(&m->r, "  Iteration %d/%ld%s... score: %.2f  (instruction %d, demo set %d; "
                               "%ld validation examples)  best %.3f  [spent %ld/%ld, %.1fs, ETA %.0fs]\n",
                        round, round > rounds ? (long)round : rounds, forced ? " (proposals)" : "",
                        isnan(s) ? 0.0 : s,
                        pts[i][0], pts[i][1], p->batch, incumbent_score(m), m->r.sp.spent,
                        c->budget, el, eta > 0 ? eta : 0);
            }
            run_event(&m->r, json_pack("{s:s,s:i,s:i,s:i,s:s,s:I,s:o,s:f,s:I}", "event", "trial",
                                       "iteration", round, "instruction", pts[i][0], "demo_set",
                                       pts[i][1], "split", "train", "n", (json_int_t)p->batch,
                                       "score", score_json(s), "best", incumbent_score(m),
                                       "rollouts", (json_int_t)m->r.sp.rollouts));
        }
        /* the leader, if it beats the incumbent on these rows, on all of them */
        if (leader >= 0 && lead > val_mean_on(&m->combos[m->incumbent]->vs, idx, (size_t)p->batch)) {
            if (score_full(m, leader, round, "full") == 0)
                say_full(m, leader, "Full validation");
        }
        if (c->meta_update_enabled && !random_search && p->meta_every > 0 && !forced &&
            round % p->meta_every == 0 && !stop_reason(m))
            meta_update(m, round);
        free_rounds = m->r.sp.spent == spent_before ? free_rounds + 1 : 0;
    }
    free(idx);
    if (!m->r.termination)
        m->r.termination = "budget";
    m->r.sp.phase_seconds[PHASE_SEARCH] += now_wall() - t0;
}

/* ---- the run ------------------------------------------------------------------------------ */

static void free_all(mipro *m)
{
    for (size_t i = 0; i < m->ninstr; i++)
        free(m->instr[i]);
    free(m->instr);
    free(m->active);
    for (size_t i = 0; i < m->npool; i++) {
        free(m->pool[i].query);
        free(m->pool[i].label);
    }
    free(m->pool);
    rollout_jobs_free(m->boot, m->nboot);
    for (size_t i = 0; i < m->ncombos; i++) {
        val_scores_free(&m->combos[i]->vs, m->val.n);
        free(m->combos[i]);
    }
    free(m->combos);
    valset_free(&m->val);
    free(m->perm);
    free(m->obs);
    free(m->trials);
    tpe_free(m->t);
    free(m->tpe_instr);
    free(m->test_rows);
    if (m->have_hold)
        holdout_result_free(&m->hold);
    run_free(&m->r);
}

/* The outcome so far: the incumbent as the winner (the guard and the
 * held-out phase come at the end). */
static void outcome_now(mipro *m, run_outcome *out)
{
    memset(out, 0, sizeof *out);
    out->instr = m->instr;
    out->ninstr = m->ninstr;
    out->pool = m->pool;
    out->sets = m->sets;
    out->nsets = m->nsets ? m->nsets : 1;
    out->nval = m->val.n;
    out->trials = m->trials;
    out->ntrials = m->ntrials;
    out->val_initial = out->val_win = out->val_best = NAN;
    if (m->baseline >= 0)
        out->val_initial = val_mean(&m->combos[m->baseline]->vs);
    if (m->incumbent >= 0) {
        out->win_instr = m->combos[m->incumbent]->instr;
        out->win_dset = m->combos[m->incumbent]->dset;
        out->val_best = out->val_win = val_mean(&m->combos[m->incumbent]->vs);
    }
    if (m->have_hold)
        out->holdout = &m->hold;
}

static void snapshot(run *r, void *arg)
{
    mipro *m = arg;
    run_outcome out;
    outcome_now(m, &out);
    run_ui_publish(r, &out, 1);
}

/* The winner: the best full validation score, unless it does not beat the
 * initial prompt there (evaluate_beats), when the initial prompt is kept. */
static void choose(mipro *m, run_outcome *o)
{
    o->win_instr = 0;
    o->win_dset = 0;
    o->val_initial = m->baseline >= 0 ? val_mean(&m->combos[m->baseline]->vs) : NAN;
    o->val_win = o->val_best = o->val_initial;
    if (m->incumbent >= 0)
        o->val_best = val_mean(&m->combos[m->incumbent]->vs);
    if (m->incumbent < 0 || m->incumbent == m->baseline) {
        o->kept_initial = 1;
        o->kept_reason = "no candidate scored higher on validation";
        return;
    }
    combo *w = m->combos[m->incumbent], *b = m->combos[m->baseline];
    if (!evaluate_beats(&w->vs, &b->vs, m->val.n, &o->val_cmp)) {
        o->kept_initial = 1;
        o->kept_reason = "the best candidate's lead over the initial prompt on validation is within noise";
        return;
    }
    o->win_instr = w->instr;
    o->win_dset = w->dset;
    o->val_win = val_mean(&w->vs);
}

int mipro_run(const mipro_config *c, const mipro_opts *o)
{
    mipro m = {0};
    m.incumbent = m.baseline = -1;
    run *r = &m.r;
    run_init(r, c, o, "mipro");
    r->snapshot = snapshot;
    r->snapshot_arg = &m;
    int rc = run_open(r);
    if (rc != 0)
        goto out;
    rc = 1;

    /* The plan, before anything is spent. */
    budget_in bi = {
        .budget = c->budget,
        .holdout_budget = c->holdout_budget,
        .train_n = r->train_n,
        .test_n = r->test_n,
        .bootstrap = (c->optimize_demos && c->num_demos > 0) || c->optimize_instructions,
        .boot_n = c->bootstrap_train_seeds.set ? (long)c->bootstrap_train_seeds.n : -1,
        .val_n = c->val_pool.set ? (long)c->val_pool.n : c->validation_size > 0 ? c->validation_size : -1,
        .batch = c->batch_size,
        .holdout_n = c->test_pool.set ? (long)c->test_pool.n : c->holdout_size,
        .meta_boot = c->optimize_instructions ? c->num_bootstrap_seeds * c->num_instructions_per_module : 0,
        .rounds = c->num_iterations,
        .max_per_round = c->parallel_trials > MAX_PER_ROUND ? MAX_PER_ROUND : c->parallel_trials,
        .meta_every = c->meta_update_enabled && strcmp(c->search, "tpe") == 0 && c->optimize_instructions
                          ? c->meta_update_every : 0,
        .meta_per_update = c->meta_update_proposals,
        .meta_feedback = 2 * c->meta_update_topk_failure,
    };
    char err[400];
    if (budget_plan_make(&bi, &r->plan, err, sizeof err) != 0) {
        fprintf(stderr, "mipro: %s\nhint: raise termination_config.budget, or give the held-out "
                        "phase its own holdout_budget\n", err);
        goto out;
    }
    const budget_plan *p = &r->plan;
    r->reserve = p->holdout_inside ? 2 * p->holdout : 0;
    /* Rows: bootstrap, then validation (disjoint), then the demos' labelled
     * examples outside both; held-out rows from the test split. */
    size_t nboot = (size_t)p->boot;
    int64_t *boot_rows;
    if (c->bootstrap_train_seeds.set) {
        boot_rows = xcalloc(nboot + 1, sizeof(int64_t));
        for (size_t i = 0; i < nboot; i++)
            boot_rows[i] = (int64_t)dataset_seed_row(c->bootstrap_train_seeds.v[i], r->train_n);
    } else {
        boot_rows = run_sample_rows(r, r->train_n, nboot, NULL, 0);
    }
    size_t nval;
    int64_t *val_rows = run_pool_rows(r, &c->val_pool, r->train_n, (size_t)p->val, boot_rows, nboot, &nval);
    if (!c->val_pool.set && c->online_pool.set && c->online_pool.n) { /* the SDK's name for it */
        free(val_rows);
        val_rows = run_pool_rows(r, &c->online_pool, r->train_n, 0, NULL, 0, &nval);
        if ((long)nval > p->val)
            nval = (size_t)p->val;
    }
    valset_init(&m.val, val_rows, nval);
    r->plan.val = (long)m.val.n;
    if (r->plan.batch > r->plan.val)
        r->plan.batch = r->plan.val;
    m.perm = xmalloc((m.val.n + 1) * sizeof *m.perm);
    for (size_t i = 0; i < m.val.n; i++)
        m.perm[i] = i;
    for (size_t i = m.val.n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(&r->rng) % i), t = m.perm[i - 1];
        m.perm[i - 1] = m.perm[j];
        m.perm[j] = t;
    }
    m.test_rows = run_holdout_rows(r, &m.ntest);

    run_banner(r, "MIPRO", "Meta-model");
    run_say(r, "Budget: %ld rollouts and meta-model calls in all. Plan: bootstrap %ld, proposals %ld, "
               "search at most %ld (validation %ld train examples, minibatches of %ld, %ld rounds of up "
               "to %ld trials%s), held-out 2 x %zu test examples%s\n",
            c->budget, p->boot, p->meta_boot, p->search, p->val, p->batch, p->rounds, p->per_round,
            p->meta_updates ? ", meta-model updates" : "", m.ntest,
            p->holdout_inside ? "" : " (from holdout_budget)");
    if (results_dry_run(r)) {
        free(boot_rows);
        rc = 0;
        goto out;
    }
    run_say(r, "Status: running\n\nPhase 1: Bootstrap\n");
    run_event(r, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I}", "event", "start", "job_id", r->job_id,
                           "seed", (json_int_t)r->seed, "budget", (json_int_t)c->budget, "rounds",
                           (json_int_t)p->rounds, "batch", (json_int_t)p->batch, "validation",
                           (json_int_t)p->val, "holdout", (json_int_t)m.ntest));

    run_phase(r, "bootstrap");
    bootstrap(&m, boot_rows, nboot);
    run_phase(r, "proposals");
    if (!r->dead && !run_stopped(r))
        propose_instructions(&m);
    if (!m.ninstr)
        add_instruction(&m, xstrdup(run_initial_instruction(c)));
    long planned = p->rounds * p->per_round;
    size_t nsets = planned / 2 < 4 ? 4 : planned / 2 > MAX_SETS ? MAX_SETS : (size_t)planned / 2;
    if (!r->dead && !run_stopped(r))
        build_demos(&m, boot_rows, nboot, nsets);
    else
        m.nsets = 1;
    free(boot_rows);
    if (!r->dead && !run_stopped(r)) {
        run_say(r, "  ✓ Bootstrap complete\n");
        search(&m);
    }
    run_outcome out;
    outcome_now(&m, &out);
    if (m.baseline >= 0)
        choose(&m, &out);
    /* Phase 3: the winner and the initial prompt on the same test rows. */
    if (!r->dead && !run_stopped(r) && m.baseline >= 0 && m.ntest) {
        combo *w = m.combos[m.incumbent >= 0 && !out.kept_initial ? m.incumbent : m.baseline];
        results_heldout(r, &out, &w->ps, &m.combos[m.baseline]->ps, m.test_rows, m.ntest, &m.hold);
        m.have_hold = 1;
    }
    out.trials = m.trials;
    out.ntrials = m.ntrials;
    rc = results_finish(r, &out);
out:
    free_all(&m);
    return rc;
}
