/* evaluate.c: see evaluate.h. */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void valset_init(valset *v, int64_t *rows, size_t n)
{
    v->rows = rows;
    v->n = n;
    v->query = xcalloc(n + 1, sizeof *v->query);
    v->label = xcalloc(n + 1, sizeof *v->label);
}

void valset_free(valset *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->query[i]);
        free(v->label[i]);
    }
    free(v->query);
    free(v->label);
    free(v->rows);
    memset(v, 0, sizeof *v);
}

void val_scores_init(val_scores *s, size_t nval)
{
    s->reward = xmalloc((nval ? nval : 1) * sizeof *s->reward);
    s->predicted = xcalloc(nval ? nval : 1, sizeof *s->predicted);
    for (size_t i = 0; i < nval; i++)
        s->reward[i] = NAN;
    s->nscored = 0;
    s->sum = 0;
}

void val_scores_free(val_scores *s, size_t nval)
{
    for (size_t i = 0; i < nval; i++)
        free(s->predicted[i]);
    free(s->predicted);
    free(s->reward);
    memset(s, 0, sizeof *s);
}

double val_mean(const val_scores *s)
{
    return s->nscored ? s->sum / (double)s->nscored : NAN;
}

int val_full(const val_scores *s, size_t nval)
{
    return s->nscored == nval;
}

double val_mean_on(const val_scores *s, const size_t *idx, size_t n)
{
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(s->reward[idx[i]])) {
            sum += s->reward[idx[i]];
            k++;
        }
    return k ? sum / (double)k : NAN;
}

void evaluate_val(run *r, valset *v, const prompt_spec *const *prompts, val_scores *const *scores,
                  size_t k, const size_t *idx, size_t n, enum phase ph)
{
    rollout_job *jobs = xcalloc(k * n + 1, sizeof *jobs);
    size_t *which = xcalloc(k * n + 1, sizeof *which);
    size_t nj = 0;
    for (size_t c = 0; c < k; c++)
        for (size_t i = 0; i < n; i++) {
            if (!isnan(scores[c]->reward[idx[i]]))
                continue;
            jobs[nj] = (rollout_job){.row = v->rows[idx[i]], .split = 0, .prompt = prompts[c]};
            which[nj++] = c * n + i;
        }
    runner_rollouts(r, jobs, nj, ph);
    for (size_t j = 0; j < nj; j++) {
        rollout_job *jb = &jobs[j];
        size_t c = which[j] / n, row = idx[which[j] % n];
        if (!jb->ok && !jb->failed)
            continue; /* interrupted */
        val_scores *s = scores[c];
        double rew = jb->ok ? jb->reward : 0.0;
        s->reward[row] = rew;
        s->sum += rew;
        s->nscored++;
        if (jb->predicted) {
            s->predicted[row] = jb->predicted;
            jb->predicted = NULL;
        }
        if (!v->query[row] && jb->query)
            v->query[row] = xstrdup(jb->query);
        if (!v->label[row] && jb->label)
            v->label[row] = xstrdup(jb->label);
    }
    rollout_jobs_free(jobs, nj);
    free(which);
}

stats_paired val_compare(const val_scores *a, const val_scores *b, size_t nval)
{
    double *x = xmalloc((nval ? nval : 1) * sizeof *x), *y = xmalloc((nval ? nval : 1) * sizeof *y);
    size_t n = 0;
    for (size_t i = 0; i < nval; i++)
        if (!isnan(a->reward[i]) && !isnan(b->reward[i])) {
            x[n] = a->reward[i];
            y[n++] = b->reward[i];
        }
    stats_paired p = stats_compare(x, y, n);
    free(x);
    free(y);
    return p;
}

int evaluate_beats(const val_scores *a, const val_scores *b, size_t nval, stats_paired *cmp)
{
    *cmp = val_compare(a, b, nval);
    double p1 = cmp->binary ? stats_mcnemar_one_sided(cmp->a_only, cmp->b_only) : cmp->p / 2;
    return cmp->diff > 0 && p1 < EVALUATE_KEEP_P;
}

void evaluate_holdout(run *r, const prompt_spec *winner, const prompt_spec *initial, int same,
                      const int64_t *rows, size_t n, holdout_result *out)
{
    memset(out, 0, sizeof *out);
    size_t k = same ? 1 : 2;
    rollout_job *jobs = xcalloc(k * n + 1, sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (rollout_job){.row = rows[i], .split = 1, .prompt = winner};
        if (!same)
            jobs[n + i] = (rollout_job){.row = rows[i], .split = 1, .prompt = initial};
    }
    runner_rollouts(r, jobs, k * n, PHASE_HOLDOUT);
    out->a = xcalloc(n + 1, sizeof *out->a);
    out->b = xcalloc(n + 1, sizeof *out->b);
    out->pred_a = xcalloc(n + 1, sizeof *out->pred_a);
    out->pred_b = xcalloc(n + 1, sizeof *out->pred_b);
    out->label = xcalloc(n + 1, sizeof *out->label);
    out->query = xcalloc(n + 1, sizeof *out->query);
    for (size_t i = 0; i < n; i++) {
        rollout_job *ja = &jobs[i], *jb = same ? ja : &jobs[n + i];
        if ((!ja->ok && !ja->failed) || (!jb->ok && !jb->failed))
            continue; /* interrupted */
        size_t m = out->n++;
        out->a[m] = ja->ok ? ja->reward : 0;
        out->b[m] = jb->ok ? jb->reward : 0;
        out->pred_a[m] = ja->predicted ? xstrdup(ja->predicted) : NULL;
        out->pred_b[m] = jb->predicted ? xstrdup(jb->predicted) : NULL;
        const rollout_job *any = ja->label ? ja : jb;
        out->label[m] = any->label ? xstrdup(any->label) : NULL;
        out->query[m] = any->query ? xstrdup(any->query) : NULL;
    }
    out->ia = stats_mean(out->a, out->n);
    out->ib = stats_mean(out->b, out->n);
    out->cmp = stats_compare(out->a, out->b, out->n);
    rollout_jobs_free(jobs, k * n);
}

void holdout_result_free(holdout_result *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->pred_a[i]);
        free(h->pred_b[i]);
        free(h->label[i]);
        free(h->query[i]);
    }
    free(h->a);
    free(h->b);
    free(h->pred_a);
    free(h->pred_b);
    free(h->label);
    free(h->query);
    memset(h, 0, sizeof *h);
}
