/* results.h: what a finished (or interrupted) run leaves in its results
 * folder, and the summary it prints. Shared by the optimizers: each fills a
 * run_outcome from its own state. */
#ifndef B77_RESULTS_H
#define B77_RESULTS_H

#include "evaluate.h"
#include "run.h"

/* One line of the search history. */
typedef struct trial_rec {
    int iteration; /* 1-based, in the order scored */
    int round;     /* 0: the baseline */
    const char *kind; /* "baseline", "minibatch", "full" */
    int instr, dset;
    size_t n;      /* rows */
    double score;  /* mean reward over those rows */
    double best;   /* the incumbent's full validation score after this trial */
    double elapsed;
    long spent;
    int frontier;  /* GEPA: candidates on the Pareto frontier after it (0: not kept) */
} trial_rec;

typedef struct run_outcome {
    char **instr;  /* candidate instructions (0: the initial one) */
    size_t ninstr;
    const demo *pool;
    const demo_set *sets;
    size_t nsets;
    const trial_rec *trials;
    size_t ntrials;
    int win_instr, win_dset;
    int kept_initial;        /* no candidate beat the initial prompt on validation */
    const char *kept_reason;
    double val_win, val_initial; /* full validation scores */
    double val_best;             /* the best candidate's, kept or not */
    size_t nval;
    stats_paired val_cmp;    /* winner against the initial prompt on validation */
    const holdout_result *holdout; /* NULL when not reached */
    json_t *extra; /* stolen: the algorithm's own record (GEPA: the pool, frontier, lineage) */
} run_outcome;

/* Phase 3, the same for every algorithm: the winner (o->kept_initial: the
 * initial prompt alone) and the initial prompt on the same test rows
 * rows[0..n), into *h; o->holdout points at it. Says what it does. */
void results_heldout(run *r, run_outcome *o, const prompt_spec *winner, const prompt_spec *initial,
                     const int64_t *rows, size_t n, holdout_result *h);
/* The end of a run: the termination reason, the files, the summary, the
 * live page's last state, and the message for a run that did not finish.
 * Returns the exit code: 0, 1 (the task app failed), 130 (interrupted). */
int results_finish(run *r, run_outcome *o);

/* The plan as job_metadata.json's config.plan has it. */
json_t *results_plan_json(const budget_plan *p);
/* --dry-run: after the plan's banner, the plan as a "plan" event (--jsonl)
 * or a line (even with --quiet). Returns 1 when it is a dry run (the caller
 * stops: nothing was spent or written), else 0. */
int results_dry_run(run *r);

/* Writes best_prompt.json, score_history.json, job_metadata.json,
 * selected_demos.json, trials.jsonl and report.html. */
void results_write(run *r, const run_outcome *o);
/* The closing summary on stdout (and the last --jsonl event). */
void results_summary(run *r, const run_outcome *o);

#endif
