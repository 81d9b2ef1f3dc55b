/* gepa.c: see gepa.h. GEPA's own parts: the candidate pool and its lineage,
 * parent selection on the per-instance Pareto frontier (lib/pareto.c),
 * reflective mutation from a training minibatch, acceptance on the same
 * minibatch, merge (lib/merge.c), and several proposals in flight at once.
 * The rest is MIPRO's machinery: run.h, runner.h, evaluate.h, results.h,
 * proposer.h.
 *
 * Determinism: every choice is drawn from the run's seeded RNG before the
 * calls it leads to, and the calls of one iteration are all made together,
 * so the same seed gives the same run whatever the timing; --resume replays
 * it from the journal. */
#include "gepa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "evaluate.h"
#include "merge.h"
#include "pareto.h"
#include "proposer.h"
#include "results.h"
#include "run.h"
#include "runner.h"

#define MAX_IN_FLIGHT 64
#define MERGE_ROWS 5 /* validation rows a merge is first tried on (as gepa-ai) */
#define EPSILON 0.1  /* epsilon_greedy: a random candidate this often */

enum origin { FROM_SEED, FROM_PROPOSAL, FROM_REFLECTION, FROM_MERGE };
static const char *const origin_names[] = {"seed", "proposal", "reflection", "merge"};

typedef struct cand {
    char *instr;
    int parent, parent2; /* -1: none */
    enum origin origin;
    int iteration;       /* when it joined the pool */
    int retired;         /* out of the archive: neither parent nor on the frontier */
    val_scores vs;       /* on the validation rows; full once accepted */
    prompt_spec ps;
} cand;

typedef struct gepa {
    run r;
    cand **pool;
    size_t n, cap;
    valset val;
    int64_t *train;      /* minibatch rows (train split, outside the validation rows) */
    size_t ntrain, cursor;
    trial_rec *trials;
    size_t ntrials, trials_cap;
    int best;            /* the best validation mean */
    long merges;
    int merge_due;
    int iterations;
    FILE *lineage;
    int64_t *test_rows;
    size_t ntest;
    holdout_result hold;
    int have_hold;
    demo_set empty;
} gepa;

static double mean_of(const gepa *g, int c)
{
    return val_mean(&g->pool[c]->vs);
}

static int add_cand(gepa *g, char *instr, int parent, int parent2, enum origin o)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 32;
        g->pool = xrealloc(g->pool, g->cap * sizeof *g->pool);
    }
    cand *c = xcalloc(1, sizeof *c);
    c->instr = instr;
    c->parent = parent;
    c->parent2 = parent2;
    c->origin = o;
    c->iteration = g->iterations;
    val_scores_init(&c->vs, g->val.n);
    c->ps = (prompt_spec){c->instr, o == FROM_SEED, NULL, 0};
    g->pool[g->n] = c;
    return (int)g->n++;
}

static int novel(const gepa *g, const char *text)
{
    if (!text || !*text)
        return 0;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->pool[i]->instr, text) == 0)
            return 0;
    return 1;
}

static size_t frontier(const gepa *g, size_t *weights);

static void record(gepa *g, const char *kind, int c, size_t n, double score)
{
    if (g->ntrials == g->trials_cap) {
        g->trials_cap = g->trials_cap ? 2 * g->trials_cap : 64;
        g->trials = xrealloc(g->trials, g->trials_cap * sizeof *g->trials);
    }
    double best = g->best >= 0 ? mean_of(g, g->best) : NAN;
    int front = 0;
    if (strcmp(kind, "full") == 0 || strcmp(kind, "baseline") == 0) { /* the pool changed */
        size_t *w = xcalloc(g->n + 1, sizeof *w);
        front = (int)frontier(g, w);
        free(w);
    }
    g->trials[g->ntrials] = (trial_rec){(int)g->ntrials + 1, g->iterations, kind, c, 0, n, score,
                                        best, now_wall() - g->r.t0, g->r.sp.spent, front};
    g->ntrials++;
}

static void lineage(gepa *g, json_t *j)
{
    if (g->lineage) {
        char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
        fprintf(g->lineage, "%s\n", s);
        fflush(g->lineage);
        free(s);
    }
    json_decref(j);
}

static size_t *all_rows(const gepa *g)
{
    size_t *idx = xmalloc((g->val.n + 1) * sizeof *idx);
    for (size_t i = 0; i < g->val.n; i++)
        idx[i] = i;
    return idx;
}

static long unscored(const val_scores *vs, size_t n)
{
    long k = 0;
    for (size_t i = 0; i < n; i++)
        k += isnan(vs->reward[i]);
    return k;
}

/* Scores candidates cs[0..k) on every validation row (one batch). */
static void score_full(gepa *g, const int *cs, size_t k)
{
    const prompt_spec *ps[MAX_IN_FLIGHT * 2];
    val_scores *vs[MAX_IN_FLIGHT * 2];
    for (size_t i = 0; i < k; i++) {
        ps[i] = &g->pool[cs[i]]->ps;
        vs[i] = &g->pool[cs[i]]->vs;
    }
    size_t *idx = all_rows(g);
    evaluate_val(&g->r, &g->val, ps, vs, k, idx, g->val.n, PHASE_SEARCH);
    free(idx);
    for (size_t i = 0; i < k; i++) {
        if (!val_full(vs[i], g->val.n))
            continue;
        if (g->best < 0 || mean_of(g, cs[i]) > mean_of(g, g->best))
            g->best = cs[i];
        record(g, cs[i] == 0 ? "baseline" : "full", cs[i], g->val.n, mean_of(g, cs[i]));
    }
}

/* The candidates' validation scores as rows for lib/pareto.c. */
static size_t frontier(const gepa *g, size_t *weights)
{
    double *s = xmalloc((g->n * g->val.n + 1) * sizeof *s);
    for (size_t c = 0; c < g->n; c++)
        for (size_t i = 0; i < g->val.n; i++)
            s[c * g->val.n + i] = val_full(&g->pool[c]->vs, g->val.n) && !g->pool[c]->retired
                                      ? g->pool[c]->vs.reward[i]
                                      : NAN;
    size_t k = pareto_weights(s, g->n, g->val.n, weights);
    free(s);
    return k;
}

static int select_parent(gepa *g, const size_t *weights)
{
    const char *how = g->r.cfg->gepa_selection;
    if (strcmp(how, "current_best") == 0)
        return g->best;
    if (strcmp(how, "epsilon_greedy") == 0) {
        if ((double)(splitmix64(&g->r.rng) >> 11) / 9007199254740992.0 >= EPSILON)
            return g->best;
        size_t full = 0, pick;
        for (size_t c = 0; c < g->n; c++)
            full += val_full(&g->pool[c]->vs, g->val.n) && !g->pool[c]->retired;
        pick = (size_t)(splitmix64(&g->r.rng) % (full ? full : 1));
        for (size_t c = 0; c < g->n; c++)
            if (val_full(&g->pool[c]->vs, g->val.n) && !g->pool[c]->retired && pick-- == 0)
                return (int)c;
        return g->best;
    }
    int c = pareto_pick(weights, g->n, &g->r.rng);
    return c >= 0 ? c : g->best;
}

static void next_minibatch(gepa *g, int64_t *rows, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        if (g->cursor % g->ntrain == 0) { /* a new epoch: a fresh order */
            for (size_t k = g->ntrain; k > 1; k--) {
                size_t j = (size_t)(splitmix64(&g->r.rng) % k);
                int64_t t = g->train[k - 1];
                g->train[k - 1] = g->train[j];
                g->train[j] = t;
            }
        }
        rows[i] = g->train[g->cursor % g->ntrain];
        g->cursor++;
    }
}

static double job_sum(const rollout_job *j, size_t m)
{
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += j[i].ok ? j[i].reward : 0;
    return s;
}

static int stop_reason(gepa *g)
{
    const mipro_config *c = g->r.cfg;
    if (run_stopped(&g->r))
        g->r.termination = "interrupted";
    else if (g->r.dead)
        g->r.termination = "task_app_unreachable";
    else if (run_out_of_time(&g->r))
        g->r.termination = "max_time_seconds";
    else if (c->max_spend_usd > 0 && run_usd(&g->r) >= c->max_spend_usd)
        g->r.termination = "max_spend_usd";
    else if (g->best >= 0 && mean_of(g, g->best) >= c->target_score)
        g->r.termination = "target_score";
    else if (c->gepa_generations > 0 && g->iterations >= c->gepa_generations)
        g->r.termination = "num_generations";
    else
        return 0;
    return 1;
}

/* archive.size: past it, the lowest-scoring candidates off the frontier
 * retire (the initial prompt and the best never do). */
static void prune(gepa *g)
{
    long cap = g->r.cfg->gepa_archive_size;
    if (cap <= 0)
        return;
    size_t *weights = xcalloc(g->n + 1, sizeof *weights);
    frontier(g, weights);
    for (;;) {
        long live = 0;
        int worst = -1;
        for (size_t c = 0; c < g->n; c++) {
            cand *x = g->pool[c];
            if (x->retired || !val_full(&x->vs, g->val.n))
                continue;
            live++;
            if (c && (int)c != g->best && !weights[c] &&
                (worst < 0 || val_mean(&x->vs) < mean_of(g, worst)))
                worst = (int)c;
        }
        if (live <= cap || worst < 0)
            break;
        g->pool[worst]->retired = 1;
    }
    free(weights);
}

/* One iteration: k parents, k minibatches, k reflections, the children on
 * the same minibatches, the accepted ones on the validation rows. */
static int reflect(gepa *g)
{
    const mipro_config *c = g->r.cfg;
    const budget_plan *p = &g->r.plan;
    size_t m = (size_t)p->batch;
    size_t k = (size_t)p->per_round;
    long per = (long)(2 * m + 1);
    long left = run_left(&g->r) - (g->val.n > m ? (long)(g->val.n - m) : 0);
    while (k > 0 && (long)k * per > left)
        k--;
    if (!k)
        return -1;
    g->iterations++;
    size_t *weights = xcalloc(g->n + 1, sizeof *weights);
    size_t nfront = frontier(g, weights);
    int parent[MAX_IN_FLIGHT];
    int64_t *rows = xcalloc(k * m + 1, sizeof *rows);
    for (size_t j = 0; j < k; j++) {
        parent[j] = select_parent(g, weights);
        next_minibatch(g, rows + j * m, m);
    }
    free(weights);
    /* the parents on their minibatches */
    rollout_job *pj = xcalloc(k * m + 1, sizeof *pj);
    for (size_t j = 0; j < k; j++)
        for (size_t i = 0; i < m; i++)
            pj[j * m + i] = (rollout_job){.row = rows[j * m + i], .split = 0,
                                          .prompt = &g->pool[parent[j]]->ps};
    runner_rollouts(&g->r, pj, k * m, PHASE_SEARCH);
    /* reflections for the minibatches with mistakes */
    meta_call *calls = xcalloc(k, sizeof *calls);
    size_t *call_of = xcalloc(k, sizeof *call_of), ncalls = 0;
    feedback fb[64];
    for (size_t j = 0; j < k && !run_stopped(&g->r); j++) {
        size_t nfb = 0;
        for (size_t i = 0; i < m && nfb < 64; i++) {
            rollout_job *jb = &pj[j * m + i];
            if (jb->ok && jb->reward < 1.0 && jb->query && jb->label && jb->predicted && *jb->predicted)
                fb[nfb++] = (feedback){jb->query, jb->label, jb->predicted};
        }
        if (!nfb && c->gepa_skip_perfect)
            continue;
        calls[ncalls].system = xstrdup(proposer_system);
        calls[ncalls].user = proposer_prompt(c, g->pool[parent[j]]->instr, mean_of(g, parent[j]),
                                             g->val.n, fb, nfb, NULL, 0,
                                             proposer_tip((size_t)g->iterations + j), 1, 1);
        call_of[ncalls++] = j;
    }
    if (ncalls)
        runner_meta(&g->r, calls, ncalls, PHASE_SEARCH);
    /* the children on the parents' minibatches */
    int child[MAX_IN_FLIGHT];
    size_t nchild = 0, of[MAX_IN_FLIGHT];
    for (size_t q = 0; q < ncalls; q++) {
        if (!novel(g, calls[q].text))
            continue;
        child[nchild] = add_cand(g, calls[q].text, parent[call_of[q]], -1, FROM_REFLECTION);
        calls[q].text = NULL;
        of[nchild++] = call_of[q];
    }
    rollout_job *cj = xcalloc(nchild * m + 1, sizeof *cj);
    for (size_t q = 0; q < nchild; q++)
        for (size_t i = 0; i < m; i++)
            cj[q * m + i] = (rollout_job){.row = rows[of[q] * m + i], .split = 0,
                                          .prompt = &g->pool[child[q]]->ps};
    runner_rollouts(&g->r, cj, nchild * m, PHASE_SEARCH);
    /* accepted: strictly better on the same rows */
    int accepted[MAX_IN_FLIGHT];
    size_t nacc = 0;
    for (size_t q = 0; q < nchild && !run_stopped(&g->r); q++) {
        double ps = job_sum(pj + of[q] * m, m), cs = job_sum(cj + q * m, m);
        int ok = cs > ps;
        record(g, "minibatch", child[q], m, cs / (double)m);
        if (ok)
            accepted[nacc++] = child[q];
        if (c->show_trial_results)
            run_say(&g->r, "  Iteration %d: candidate %d from %d: %.0f/%zu on its minibatch against the "
                           "parent's %.0f/%zu: %s  [pool %zu, frontier %zu, spent %ld/%ld]\n",
                    g->iterations, child[q], parent[of[q]], cs, m, ps, m, ok ? "accepted" : "rejected",
                    g->n, nfront, g->r.sp.spent, c->budget);
        json_t *seen = json_array();
        for (size_t i = 0; i < m; i++) {
            rollout_job *jb = &pj[of[q] * m + i];
            json_array_append_new(seen, json_pack("{s:I,s:s?,s:s?,s:s?,s:f}", "row", (json_int_t)jb->row,
                                                  "query", jb->query, "expected", jb->label,
                                                  "predicted", jb->predicted, "reward",
                                                  jb->ok ? jb->reward : 0.0));
        }
        lineage(g, json_pack("{s:s,s:i,s:i,s:i,s:o,s:f,s:f,s:b,s:s}", "event", "reflection",
                             "iteration", g->iterations, "candidate", child[q], "parent",
                             parent[of[q]], "reflection_saw", seen, "parent_minibatch", ps / (double)m,
                             "child_minibatch", cs / (double)m, "accepted", ok, "instruction",
                             g->pool[child[q]]->instr));
    }
    /* the accepted ones on every validation row, as far as the budget goes */
    size_t afford = 0;
    long cost = 0;
    for (size_t q = 0; q < nacc; q++) {
        long cc = unscored(&g->pool[accepted[q]]->vs, g->val.n);
        if (cost + cc > run_left(&g->r))
            break;
        cost += cc;
        afford++;
    }
    if (afford) {
        int before = g->best;
        score_full(g, accepted, afford);
        for (size_t q = 0; q < afford; q++) {
            cand *a = g->pool[accepted[q]];
            lineage(g, json_pack("{s:s,s:i,s:i,s:f,s:I}", "event", "validation", "iteration",
                                 g->iterations, "candidate", accepted[q], "score", val_mean(&a->vs),
                                 "n", (json_int_t)g->val.n));
            run_say(&g->r, "  Validation: candidate %d: %.3f on all %zu validation examples%s\n",
                    accepted[q], val_mean(&a->vs), g->val.n,
                    accepted[q] == g->best && before != g->best ? "  (the new best)" : "");
            run_event(&g->r, json_pack("{s:s,s:i,s:i,s:s,s:I,s:f,s:b}", "event", "full_validation",
                                       "candidate", accepted[q], "parent", a->parent, "split",
                                       "train", "n", (json_int_t)g->val.n, "score",
                                       val_mean(&a->vs), "best", accepted[q] == g->best));
        }
        g->merge_due = 1;
        prune(g);
    }
    rollout_jobs_free(pj, k * m);
    rollout_jobs_free(cj, nchild * m);
    meta_calls_free(calls, k);
    free(call_of);
    free(rows);
    return 0;
}

static int ancestor_of(const gepa *g, int a, int x)
{
    for (int c = x; c >= 0; c = g->pool[c]->parent)
        if (c == a)
            return 1;
    return 0;
}

/* The nearest common ancestor of a and b (by parent links), -1 when none. */
static int common_ancestor(const gepa *g, int a, int b)
{
    for (int x = g->pool[a]->parent; x >= 0; x = g->pool[x]->parent)
        if (ancestor_of(g, x, b))
            return x;
    return -1;
}

/* Merge: two frontier candidates that share an ancestor, neither the
 * other's ancestor; tried on MERGE_ROWS validation rows, kept (and scored
 * on them all) when it does at least as well there as the better parent. */
static void merge(gepa *g)
{
    const mipro_config *c = g->r.cfg;
    g->merge_due = 0;
    if (!c->gepa_use_merge || g->merges >= c->gepa_max_merges)
        return;
    size_t *weights = xcalloc(g->n + 1, sizeof *weights);
    frontier(g, weights);
    int pa = -1, pb = -1, anc = -1;
    for (size_t a = 0; a < g->n && pa < 0; a++)
        for (size_t b = a + 1; b < g->n && pa < 0; b++) {
            if (!weights[a] || !weights[b] || ancestor_of(g, (int)a, (int)b) ||
                ancestor_of(g, (int)b, (int)a))
                continue;
            int x = common_ancestor(g, (int)a, (int)b);
            if (x >= 0)
                pa = (int)a, pb = (int)b, anc = x;
        }
    free(weights);
    if (pa < 0)
        return;
    char *text = merge_instructions(g->pool[anc]->instr, g->pool[pa]->instr, g->pool[pb]->instr,
                                    (size_t)c->max_instruction_chars);
    if (!text || !novel(g, text) || run_left(&g->r) < (long)g->val.n) {
        free(text);
        return;
    }
    g->merges++;
    int m = add_cand(g, text, pa, pb, FROM_MERGE);
    size_t idx[MERGE_ROWS], n = g->val.n < MERGE_ROWS ? g->val.n : MERGE_ROWS;
    for (size_t i = 0; i < n; i++)
        idx[i] = (size_t)(splitmix64(&g->r.rng) % g->val.n);
    const prompt_spec *ps = &g->pool[m]->ps;
    val_scores *vs = &g->pool[m]->vs;
    evaluate_val(&g->r, &g->val, &ps, &vs, 1, idx, n, PHASE_SEARCH);
    double sm = val_mean_on(vs, idx, n), sa = val_mean_on(&g->pool[pa]->vs, idx, n);
    double sb = val_mean_on(&g->pool[pb]->vs, idx, n);
    int ok = sm >= (sa > sb ? sa : sb);
    record(g, "merge", m, n, sm);
    run_say(&g->r, "  Merge of %d and %d (common ancestor %d): %.2f on %zu validation rows against %.2f "
                   "and %.2f: %s\n", pa, pb, anc, sm, n, sa, sb, ok ? "accepted" : "rejected");
    lineage(g, json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:f,s:b,s:s}", "event", "merge", "iteration",
                         g->iterations, "candidate", m, "parent", pa, "parent2", pb, "ancestor", anc,
                         "subsample_score", sm, "accepted", ok, "instruction", text));
    if (ok) {
        score_full(g, &m, 1);
        run_say(&g->r, "  Validation: candidate %d (merge): %.3f on all %zu validation examples%s\n", m,
                mean_of(g, m), g->val.n, g->best == m ? "  (the new best)" : "");
    }
}

/* Starting candidates beyond the initial one (population.initial_size). */
static void seed_pool(gepa *g)
{
    const mipro_config *c = g->r.cfg;
    size_t extra = (size_t)g->r.plan.meta_boot;
    if (!extra)
        return;
    meta_call *calls = xcalloc(extra, sizeof *calls);
    demo ex[16] = {{0}};
    int64_t *rows = run_sample_rows(&g->r, g->ntrain, 16, NULL, 0);
    int64_t train_rows[16];
    for (size_t i = 0; i < 16; i++)
        train_rows[i] = g->train[rows[i]];
    free(rows);
    if (runner_examples(&g->r, train_rows, 16, ex) != 0) {
        free(calls);
        return;
    }
    for (size_t i = 0; i < extra; i++) {
        calls[i].system = xstrdup(proposer_system);
        calls[i].user = proposer_prompt(c, g->pool[0]->instr, NAN, 0, NULL, 0, ex, 16, proposer_tip(i),
                                        i + 1, extra);
    }
    runner_meta(&g->r, calls, extra, PHASE_PROPOSE);
    int added[MAX_IN_FLIGHT];
    size_t na = 0;
    for (size_t i = 0; i < extra && na < MAX_IN_FLIGHT; i++)
        if (novel(g, calls[i].text)) {
            added[na++] = add_cand(g, calls[i].text, 0, -1, FROM_PROPOSAL);
            calls[i].text = NULL;
        }
    meta_calls_free(calls, extra);
    for (size_t i = 0; i < 16; i++) {
        free(ex[i].query);
        free(ex[i].label);
    }
    run_say(&g->r, "  Starting pool: the initial prompt and %zu proposals\n", na);
    if (na)
        score_full(g, added, na);
}

static void free_all(gepa *g)
{
    for (size_t i = 0; i < g->n; i++) {
        val_scores_free(&g->pool[i]->vs, g->val.n);
        free(g->pool[i]->instr);
        free(g->pool[i]);
    }
    free(g->pool);
    valset_free(&g->val);
    free(g->train);
    free(g->trials);
    free(g->test_rows);
    if (g->have_hold)
        holdout_result_free(&g->hold);
    if (g->lineage)
        fclose(g->lineage);
    run_free(&g->r);
}

/* The frontier and the lineage, for score_history.json. */
static json_t *pool_json(gepa *g)
{
    size_t *weights = xcalloc(g->n + 1, sizeof *weights);
    frontier(g, weights);
    json_t *a = json_array();
    for (size_t i = 0; i < g->n; i++) {
        cand *c = g->pool[i];
        json_t *o = json_pack("{s:I,s:s,s:i,s:i,s:i,s:o,s:I,s:b,s:I,s:s}", "candidate", (json_int_t)i,
                              "origin", origin_names[c->origin], "parent", c->parent, "parent2",
                              c->parent2, "iteration", c->iteration, "validation_score",
                              score_json(val_full(&c->vs, g->val.n) ? val_mean(&c->vs) : NAN),
                              "frontier_weight", (json_int_t)weights[i], "retired", c->retired,
                              "chars", (json_int_t)strlen(c->instr), "instruction", c->instr);
        json_array_append_new(a, o);
    }
    free(weights);
    return a;
}

/* The live page: the pool so far, the best candidate as the winner. */
static void snapshot(run *r, void *arg)
{
    gepa *g = arg;
    char **instr = xcalloc(g->n + 1, sizeof *instr);
    for (size_t i = 0; i < g->n; i++)
        instr[i] = g->pool[i]->instr;
    run_outcome out = {0};
    out.instr = instr;
    out.ninstr = g->n;
    out.sets = &g->empty;
    out.nsets = 1;
    out.nval = g->val.n;
    out.trials = g->trials;
    out.ntrials = g->ntrials;
    out.val_initial = g->n && val_full(&g->pool[0]->vs, g->val.n) ? mean_of(g, 0) : NAN;
    out.win_instr = g->best > 0 ? g->best : 0;
    out.val_best = out.val_win = g->best >= 0 ? mean_of(g, g->best) : NAN;
    run_ui_publish(r, &out, 1);
    free(instr);
}

int gepa_run(const mipro_config *c, const mipro_opts *o)
{
    gepa g = {0};
    g.best = -1;
    run *r = &g.r;
    char **instr = NULL; /* the outcome's view of the pool's instructions */
    run_init(r, c, o, "gepa");
    r->snapshot = snapshot;
    r->snapshot_arg = &g;
    int rc = run_open(r);
    if (rc != 0)
        goto out;
    rc = 1;

    budget_in bi = {
        .budget = c->budget,
        .holdout_budget = c->holdout_budget,
        .train_n = r->train_n,
        .test_n = r->test_n,
        .val_n = c->val_pool.set ? (long)c->val_pool.n : c->validation_size > 0 ? c->validation_size : -1,
        .batch = c->gepa_minibatch,
        .holdout_n = c->test_pool.set ? (long)c->test_pool.n : c->holdout_size,
        .meta_boot = c->gepa_initial_size - 1,
        .max_per_round = c->gepa_proposals > MAX_IN_FLIGHT ? MAX_IN_FLIGHT : c->gepa_proposals,
    };
    char err[400];
    if (budget_plan_gepa(&bi, &r->plan, err, sizeof err) != 0) {
        fprintf(stderr, "gepa: %s\nhint: raise the budget, or give the held-out phase its own "
                        "holdout_budget\n", err);
        goto out;
    }
    const budget_plan *p = &r->plan;
    r->reserve = p->holdout_inside ? 2 * p->holdout : 0;
    size_t nval;
    int64_t *val_rows = run_pool_rows(r, &c->val_pool, r->train_n, (size_t)p->val, NULL, 0, &nval);
    valset_init(&g.val, val_rows, nval);
    r->plan.val = (long)g.val.n;
    if (c->gepa_train_seeds.set && c->gepa_train_seeds.n) {
        g.train = run_pool_rows(r, &c->gepa_train_seeds, r->train_n, 0, NULL, 0, &g.ntrain);
    } else {
        g.train = run_sample_rows(r, r->train_n, r->train_n, g.val.rows, g.val.n);
        g.ntrain = r->train_n - g.val.n;
    }
    g.test_rows = run_holdout_rows(r, &g.ntest);

    run_banner(r, "GEPA", "Reflection model");
    run_say(r, "Budget: %ld rollouts and reflection calls in all. Plan: validation (Pareto set) %ld "
               "train examples, minibatches of %ld train examples, %ld proposals at a time (about %ld "
               "iterations), parent selection %s, merge %s, held-out 2 x %zu test examples%s\n",
            c->budget, p->val, p->batch, p->per_round, p->rounds, c->gepa_selection,
            c->gepa_use_merge ? "on" : "off", g.ntest, p->holdout_inside ? "" : " (from holdout_budget)");
    if (results_dry_run(r)) {
        rc = 0;
        goto out;
    }
    char *path = xasprintf("%s/gepa_lineage.jsonl", r->results);
    g.lineage = fopen(path, "w");
    free(path);
    run_say(r, "Status: running\n\n");
    run_event(r, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "event", "start", "algorithm", "gepa",
                           "job_id", r->job_id, "seed", (json_int_t)r->seed, "budget",
                           (json_int_t)c->budget, "batch", (json_int_t)p->batch, "validation",
                           (json_int_t)p->val, "holdout", (json_int_t)g.ntest));

    add_cand(&g, xstrdup(run_initial_instruction(c)), -1, -1, FROM_SEED);
    double t0 = now_wall();
    int zero = 0;
    score_full(&g, &zero, 1);
    if (val_full(&g.pool[0]->vs, g.val.n)) {
        run_say(r, "Baseline (the initial prompt): %.3f on all %zu validation examples\n", mean_of(&g, 0),
                g.val.n);
        if (!run_stopped(r) && !r->dead)
            seed_pool(&g);
        run_say(r, "\nEvolution (reflective mutation on the Pareto frontier)\n");
        run_phase(r, "search");
        while (!stop_reason(&g)) {
            if (reflect(&g) != 0) {
                r->termination = "budget";
                break;
            }
            if (g.merge_due && !stop_reason(&g))
                merge(&g);
        }
    } else if (!run_stopped(r) && !r->dead) {
        r->termination = "budget";
    }
    r->sp.phase_seconds[PHASE_SEARCH] += now_wall() - t0;

    demo_set *sets = &g.empty;
    instr = xcalloc(g.n + 1, sizeof *instr);
    for (size_t i = 0; i < g.n; i++)
        instr[i] = g.pool[i]->instr;
    run_outcome out = {0};
    out.instr = instr;
    out.ninstr = g.n;
    out.sets = sets;
    out.nsets = 1;
    out.nval = g.val.n;
    out.val_initial = out.val_win = out.val_best = g.n ? mean_of(&g, 0) : NAN;
    out.kept_initial = 1;
    out.kept_reason = "no candidate scored higher on validation";
    if (g.best > 0) {
        out.val_best = mean_of(&g, g.best);
        if (evaluate_beats(&g.pool[g.best]->vs, &g.pool[0]->vs, g.val.n, &out.val_cmp)) {
            out.kept_initial = 0;
            out.kept_reason = NULL;
            out.win_instr = g.best;
            out.val_win = out.val_best;
        } else {
            out.kept_reason = "the best candidate's lead over the initial prompt on validation is within noise";
        }
    }
    if (!r->dead && !run_stopped(r) && g.n && val_full(&g.pool[0]->vs, g.val.n) && g.ntest) {
        results_heldout(r, &out, &g.pool[out.win_instr]->ps, &g.pool[0]->ps, g.test_rows, g.ntest, &g.hold);
        g.have_hold = 1;
    }
    out.trials = g.trials;
    out.ntrials = g.ntrials;
    out.extra = pool_json(&g);
    rc = results_finish(r, &out);
out:
    free(instr);
    free_all(&g);
    return rc;
}
