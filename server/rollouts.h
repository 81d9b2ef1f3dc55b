/* rollouts.h: the rollouts of POST /rollouts by rollout_id: what makes a
 * rollout idempotent (a repeated id with the same request replays its
 * result, with another request is a conflict, while the first still runs
 * waits for it) and what the async routes read (state, events, result).
 *
 * An entry is pending (queued, running) until its job delivers a result,
 * or it is terminated; then it is kept for the retention time, within a
 * memory bound, oldest first out, and its successful result is written to
 * the reply cache's store when there is one, so that a retried request
 * replays after a restart too. A failed rollout is not replayed: the same
 * id and request runs again.
 *
 * Thread-safety: every function takes the registry's mutex; the HTTP
 * threads and the upstream threads (events) call them. A waiter's park
 * and wake run under that mutex (they only suspend or resume an HTTP
 * connection), so a wake-up cannot come between the check and the park. */
#ifndef B77_ROLLOUTS_H
#define B77_ROLLOUTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "contract.h"
#include "util.h"

typedef struct rollouts rollouts;
typedef struct ro_entry ro_entry;

/* Someone waiting on an entry: for its result (a connection), or for its
 * next event (an event stream). Registered by rollouts_begin/_wait/_sse. */
typedef struct ro_waiter {
    void (*park)(struct ro_waiter *w); /* under the mutex, when registered */
    void (*wake)(struct ro_waiter *w); /* under the mutex, once */
    struct ro_waiter *next, *prev;
    ro_entry *entry; /* while registered */
    int for_events;
    /* Handed over at wake-up (for a result): */
    unsigned status;
    char *text; /* owned by the waiter from then on */
} ro_waiter;

/* retention_ms: how long a finished rollout is kept; max_bytes: the bound
 * on what finished ones hold; persist: the cache whose store keeps
 * results across restarts (NULL: memory only). */
rollouts *rollouts_new(int64_t retention_ms, size_t max_bytes, cache *persist);
void rollouts_free(rollouts *r);

enum ro_begin {
    RO_NEW,      /* a new entry (q moved into it); *entry holds two references: the
                    job's (dropped by rollouts_finish) and the caller's (rollouts_release) */
    RO_DONE,     /* already finished: *status and *text (a copy) are its result */
    RO_PENDING,  /* still running (w NULL: nothing registered) */
    RO_WAITING,  /* still running: w registered and parked */
    RO_CONFLICT, /* the id was used with another request */
};
/* Starts or finds q->rollout_id. job: what rollouts_cancel hands to
 * cancel (an RO_NEW entry's). */
enum ro_begin rollouts_begin(rollouts *r, contract_request *q, void *job, ro_waiter *w,
                             ro_entry **entry, unsigned *status, char **text);
/* After RO_NEW, for the creator: RO_DONE with the result, or RO_WAITING
 * (w parked), or RO_PENDING (w NULL). */
enum ro_begin rollouts_wait(rollouts *r, ro_entry *e, ro_waiter *w, unsigned *status, char **text);
/* Removes w if still registered (its connection ended). */
void rollouts_unwait(rollouts *r, ro_waiter *w);

/* The request an entry runs (borrowed: valid while the job's reference is held). */
const contract_request *rollouts_request(const ro_entry *e);
int64_t rollouts_created_ms(const ro_entry *e);

/* An event for e's stream (data stolen, may be NULL); "llm.call.started"
 * marks it running. Returns 1 when it woke an event waiter (kick the
 * HTTP threads). */
int rollouts_event(rollouts *r, ro_entry *e, const char *kind, json_t *data);
/* The job's result (text owned): completes e (status 200) or fails it,
 * wakes its waiters, persists a success, and drops the job's reference.
 * A terminated entry keeps its cancellation and the text is dropped.
 * Returns 1 when it woke someone. */
int rollouts_finish(rollouts *r, ro_entry *e, unsigned status, char *text, double reward);

/* POST /rollouts/{id}/terminate: cancels a pending rollout (cancel(job)
 * runs under the mutex) and answers its state; 0 and *doc, or -1: unknown. */
int rollouts_terminate(rollouts *r, const char *id, const char *reason,
                       void (*cancel)(void *job), json_t **doc, int *woke);

/* GET /rollouts/{id}: the result of a finished rollout (*status, *text),
 * or the state of a pending one; GET .../state: always the state. 0, or
 * -1 when the id is unknown (in memory and in the store). */
int rollouts_get(rollouts *r, const char *id, int state_only, unsigned *status, char **text);

/* GET /rollouts/{id}/events as JSON: events after sequence `after`, at
 * most limit. 0 and *doc, or -1: unknown. */
int rollouts_events(rollouts *r, const char *id, unsigned after, unsigned limit, json_t **doc);

/* For an event stream: takes a reference to id's entry (released with
 * rollouts_release). NULL: unknown. */
ro_entry *rollouts_acquire(rollouts *r, const char *id);
void rollouts_release(rollouts *r, ro_entry *e);
/* Appends to out the events after *cursor as server-sent events (whole
 * events, at most max bytes, at least one), advancing *cursor. Returns the
 * bytes written; 0: none yet (w registered and parked); -1: the stream is
 * over (e finished and every event sent). */
long rollouts_sse(rollouts *r, ro_entry *e, unsigned *cursor, char *out, size_t max,
                  ro_waiter *w);

typedef struct rollouts_stats {
    unsigned long pending, kept, started, replayed, conflicts, terminated, evicted;
    size_t bytes;
} rollouts_stats;
rollouts_stats rollouts_get_stats(rollouts *r);
/* Counts a replay or a conflict the handler answered. */
void rollouts_count(rollouts *r, int replayed, int conflict);
/* Prometheus text, appended to out. */
void rollouts_metrics(rollouts *r, buf *out);

#endif
