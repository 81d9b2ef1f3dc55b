/* run.h: the state one optimization run shares between its parts (runner,
 * evaluation, results, the algorithm): where to call, what was spent, how
 * to report. Single-threaded: every part runs on the main thread; the only
 * thing another context touches is *opts.stop, set by the SIGINT handler. */
#ifndef B77_RUN_H
#define B77_RUN_H

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>

#include "budget.h"
#include "client.h"
#include "journal.h"
#include "mipro.h"
#include "mipro_config.h"
#include "ui.h"
#include "util.h"

enum phase { PHASE_BOOTSTRAP, PHASE_PROPOSE, PHASE_SEARCH, PHASE_HOLDOUT, PHASE_COUNT };

/* What the run has spent. `spent` is the bill counted against the budget:
 * every rollout and meta-model call, replayed ones from the journal too (so
 * a resumed run takes the same decisions), the held-out phase unless it has
 * a holdout_budget of its own; a result this process already has is free. */
typedef struct spend {
    long spent;
    long by_phase[PHASE_COUNT];
    long rollouts;          /* counted rollouts (new + replayed) */
    long rollouts_replayed; /* taken from the journal of an earlier run */
    long rollouts_failed;
    long meta_calls, meta_replayed;
    long prompt_tokens, completion_tokens;         /* the policy model's */
    long meta_prompt_tokens, meta_completion_tokens;
    double usd;             /* when prices are configured */
    double phase_seconds[PHASE_COUNT];
} spend;

typedef struct run run;
struct run_outcome;

struct run {
    const mipro_config *cfg;
    mipro_opts opts;
    CURLM *multi;
    char *task_url;
    const char *env_key;
    char *policy_url, *meta_url, *meta_model, *results;
    uint64_t rng;
    long seed;
    double t0;
    char job_id[80];
    char started_at[32];
    const char *algorithm; /* "mipro" */
    const char *termination;
    int dead; /* the task app stopped answering */
    char dead_msg[400];
    size_t train_n, test_n;
    budget_plan plan;
    long reserve; /* held back for the held-out phase while searching */
    journal jr;
    spend sp;
    http_stats hs;
    char **labels; /* the task's intents, from GET /task_info */
    size_t nlabels;
    /* watching the run: the live page and the terminal's progress line */
    long version;  /* bumped by every event */
    const char *phase;
    ui *ui;
    void (*snapshot)(struct run *r, void *arg); /* publishes the live page */
    void *snapshot_arg;
    double last_snapshot;
    int tty, progress_shown;
};

/* Sets up r from the config and options (URLs, seed, job id). */
void run_init(run *r, const mipro_config *c, const mipro_opts *o, const char *algorithm);
/* What every run does before its plan: the live page (--ui), the results
 * folder, the journal (read back with --resume), the task app's check and
 * split sizes. 0, or the exit code with the reason printed: 1, or 130 when
 * Ctrl-C came meanwhile. */
int run_open(run *r);
void run_free(run *r);

/* Progress text (not with --quiet or --jsonl) and JSON-lines events (with
 * --jsonl; ev is stolen). An event also refreshes the live page and, on a
 * terminal, the progress line under the text. */
void run_say(run *r, const char *fmt, ...) B77_PRINTF(2, 3);
void run_event(run *r, json_t *ev);
/* Redraws the progress line (a terminal only), as during a long wait. */
void run_tick(run *r);
/* What the run is doing, for the live page and the progress line. */
void run_phase(run *r, const char *phase);

/* --ui: starts the live page (0, or -1 with the reason printed). */
int run_ui_start(run *r);
/* Publishes the page for an outcome (live: the run goes on). */
void run_ui_publish(run *r, const struct run_outcome *o, int live);
/* The end of the run: the final page, kept up with --ui-keep until
 * Ctrl-C, then the server stops. */
void run_ui_finish(run *r, const struct run_outcome *o);

int run_stopped(const run *r);  /* Ctrl-C */
int run_out_of_time(const run *r);
/* What may still be spent now: the budget less what was spent and the
 * held-out reserve. */
long run_left(const run *r);
/* Counts n units (rollouts or meta-model calls) against the budget. */
void run_charge(run *r, enum phase ph, long n);
/* The money spent so far, from the configured prices (0 without them). */
double run_usd(const run *r);

/* n distinct rows of [0, total) outside exclude[0..nex), drawn with the
 * run's RNG: the first n of the returned array (the caller frees it). */
int64_t *run_sample_rows(run *r, size_t total, size_t n, const int64_t *exclude, size_t nex);
/* The rows a configured seed list selects (seeds mapped to rows), else
 * `want` sampled rows outside exclude; *n says how many. */
int64_t *run_pool_rows(run *r, const seed_list *pool, size_t total, size_t want,
                       const int64_t *exclude, size_t nex, size_t *n);
/* The held-out test rows: the config's test_pool, else the plan's number
 * sampled, at most the plan's; *n says how many. */
int64_t *run_holdout_rows(run *r, size_t *n);
/* The run's heading: the title, job, task app, models (the meta-model under
 * `meta_name`) and seed. */
void run_banner(run *r, const char *title, const char *meta_name);
/* The initial prompt's system instruction (the task app's default without one). */
const char *run_initial_instruction(const mipro_config *c);

void iso_now(char out[32]);
json_t *score_json(double v);
int mkdir_p(const char *path);

#endif
