/* mipro.h: the MIPRO run: bootstrap instruction and demonstration
 * candidates, search their combinations with TPE on validation rows through
 * the task app's POST /rollout (with failure-aware meta-model updates),
 * choose the winner on validation, compare it with the initial prompt on
 * held-out test rows, write results. Also the options both algorithms take. */
#ifndef B77_MIPRO_H
#define B77_MIPRO_H

#include <signal.h>

#include "mipro_config.h"

typedef struct mipro_opts {
    int quiet;        /* only the final summary */
    int jsonl;        /* machine-readable events on stdout, one JSON per line */
    int resume;       /* reuse the results folder's rollout log: repeat no call */
    long seed;
    int seed_set;
    const char *results_folder; /* overrides the config's */
    const char *task_app_url;   /* overrides the config's */
    volatile sig_atomic_t *stop; /* set by SIGINT: write what we have and stop */
    const char *ui;   /* --ui [HOST:]PORT: serve the live page */
    int ui_keep;      /* --ui-keep: keep serving it after the run, until Ctrl-C */
    int dry_run;      /* --dry-run: the plan from the task app's split sizes; nothing spent */
} mipro_opts;

/* Runs the whole optimization. Returns the process exit code: 0 done,
 * 1 failed (message printed), 130 interrupted (results so far written). */
int mipro_run(const mipro_config *cfg, const mipro_opts *opts);

#endif
