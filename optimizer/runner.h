/* runner.h: everything a run asks of the outside: rollouts through the task
 * app's POST /rollout, labelled examples from GET /task_info, and meta-model
 * calls. Each result is charged to the budget (run_charge) and logged in
 * the journal, and a logged one is taken instead of calling again. */
#ifndef B77_RUNNER_H
#define B77_RUNNER_H

#include <jansson.h>
#include <stdint.h>

#include "demos.h"
#include "run.h"

/* A prompt to score: an instruction and its demonstrations. */
typedef struct prompt_spec {
    const char *instruction;
    int verbatim;             /* the initial instruction: braces are placeholders */
    const demo *const *demos; /* ndemos pointers */
    size_t ndemos;
} prompt_spec;

/* The prompt_template for the task app (new reference). */
json_t *runner_template(const run *r, const prompt_spec *p);

typedef struct rollout_job {
    int64_t row;
    int split; /* 0 train, 1 test */
    const prompt_spec *prompt;
    /* results */
    int ok;     /* a reward came back */
    int failed; /* the rollout failed for this prompt (scored 0) */
    double reward;
    char *query, *label, *predicted; /* owned */
} rollout_job;

/* Runs jobs[0..n) concurrently (at most max_concurrent at once). A job
 * another already ran in this process costs nothing; one in the journal of
 * an earlier run is replayed and charged. Sets r->dead when the task app is
 * unreachable. */
void runner_rollouts(run *r, rollout_job *jobs, size_t n, enum phase ph);
void rollout_jobs_free(rollout_job *jobs, size_t n);

/* GET a task-app path: the parsed JSON (new reference) or NULL, with a
 * message in err; *status is the HTTP status (0: no answer). */
json_t *runner_get(run *r, const char *path, long *status, char *err, size_t errlen);
/* Checks that the task app answers and accepts the key, and reads the
 * split sizes into r. 0, or -1 with the reason printed on stderr. */
int runner_task_info(run *r);
/* Labelled training examples of rows[0..n) into out (query, label, index).
 * Returns 0, or -1: r->dead and r->dead_msg set, or the run was interrupted
 * (Ctrl-C during the request: not the task app's failure). */
int runner_examples(run *r, const int64_t *rows, size_t n, demo *out);

typedef struct meta_call {
    char *system, *user; /* owned */
    char *text;          /* the reply (owned), NULL when the call failed */
} meta_call;

/* Runs the meta-model calls calls[0..n) concurrently (temperature 1). */
void runner_meta(run *r, meta_call *calls, size_t n, enum phase ph);
void meta_calls_free(meta_call *calls, size_t n);

#endif
