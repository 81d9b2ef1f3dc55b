/* rollouts_handler.c: the newest contract's routes: POST /rollouts (sync
 * and async, idempotent by rollout_id), GET /rollouts/{id}, .../state,
 * .../events (JSON, or server-sent events), .../stream (server-sent
 * events), POST .../terminate, GET /program and POST /validate-candidate.
 *
 * A rollout of POST /rollouts runs as a job: a request with no connection
 * (conn NULL) that goes through start_rollout and finish_rollout like any
 * POST /rollout, whose reply is delivered to its registry entry
 * (rollouts.h) instead of a socket. The connection that asked waits on the
 * entry (sync), or is answered 202 at once (async); so does a repeat of
 * the same rollout_id while the first runs.
 *
 * Ownership: a job belongs to itself from job_new until job_end; while its
 * call runs the upstream loop borrows job->call as for any rollout; the
 * entry holds the job's pointer (for terminate) until job_deliver, and the
 * job holds a reference to the entry until then. A job's resumption goes
 * through its worker's ready list (a mutex: another thread may wake it),
 * drained on that worker's thread. */
#include "internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "contract.h"
#include "jsonr.h"
#include "jsonw.h"
#include "log.h"
#include "rollouts.h"

#define SSE_BLOCK (32 * 1024)

static struct request *of_waiter(ro_waiter *w)
{
    return (struct request *)((char *)w - offsetof(struct request, waiter));
}

/* ro_waiter.park and .wake: the connection waits, and goes on. */
static void waiter_park(ro_waiter *w)
{
    MHD_suspend_connection(of_waiter(w)->conn);
}

static void waiter_wake(ro_waiter *w)
{
    struct request *rq = of_waiter(w);
    rq->woken = 1;
    MHD_resume_connection(rq->conn);
}

static void init_waiter(struct request *rq)
{
    rq->waiter.park = waiter_park;
    rq->waiter.wake = waiter_wake;
}

/* ---- jobs ------------------------------------------------------------------ */

void request_resume(struct request *rq)
{
    if (rq->conn) {
        MHD_resume_connection(rq->conn);
        return;
    }
    worker *w = rq->worker;
    pthread_mutex_lock(&w->ready_mu);
    rq->ready_next = w->ready;
    w->ready = rq;
    pthread_mutex_unlock(&w->ready_mu);
}

void request_suspend(struct request *rq)
{
    if (rq->conn)
        MHD_suspend_connection(rq->conn);
}

/* upcall.on_attempt of a job: its stream shows the LLM call. */
static void job_on_attempt(upcall *c)
{
    struct request *j = c->arg;
    if (!j->entry)
        return;
    json_t *d = json_pack("{s:i,s:s}", "attempt", c->attempts, "inference_url", j->ro.call_url);
    if (rollouts_event(j->srv->rollouts, j->entry,
                       c->attempts == 1 ? "llm.call.started" : "llm.call.retried", d))
        upstream_kick(j->srv->up);
}

static struct request *job_new(struct request *rq, const contract_request *q)
{
    struct request *j = xcalloc(1, sizeof *j);
    j->srv = rq->srv;
    j->worker = rq->worker;
    j->start = now_ms();
    snprintf(j->method, sizeof j->method, "POST");
    j->path = xstrdup("/rollouts");
    j->route = rq->route;
    j->routed = 1;
    j->recorded = 1; /* not an HTTP request of its own in /metrics */
    j->key = rq->key;
    j->prepared = json_incref(q->legacy); /* (read on this thread, by start_rollout) */
    j->call.on_attempt = job_on_attempt;
    return j;
}

static void job_end(struct request *j)
{
    request_release(j);
}

/* The job's reply (respond.c, for a request with no connection; legacy
 * stolen): the entry's result. */
void job_deliver(struct request *j, unsigned status, json_t *legacy)
{
    server *s = j->srv;
    ro_entry *e = j->entry;
    j->entry = NULL;
    if (!e) {
        json_decref(legacy);
        return;
    }
    contract_result_meta m = {.req = rollouts_request(e), .created_ms = rollouts_created_ms(e),
                              .updated_ms = wall_ms()};
    double reward = 0;
    json_t *doc;
    if (status == 200 && legacy) {
        doc = contract_result(legacy, &m);
        reward = json_number_value(json_object_get(json_object_get(legacy, "reward_info"),
                                                   "outcome_reward"));
    } else {
        doc = contract_failure(status == 200 ? 500 : status, legacy, &m);
    }
    json_decref(legacy);
    char *out = doc ? jw_dumps(doc) : NULL;
    json_decref(doc);
    if (!out) {
        status = 500;
        out = xstrdup("{\"detail\":\"internal error: cannot encode the result\",\"status\":\"failed\"}");
    }
    if (rollouts_finish(s->rollouts, e, status, out, reward))
        upstream_kick(s->up);
}

/* Runs a worker's jobs whose calls came back (its thread, in serve). */
void run_ready_jobs(worker *w)
{
    pthread_mutex_lock(&w->ready_mu);
    struct request *list = w->ready;
    w->ready = NULL;
    pthread_mutex_unlock(&w->ready_mu);
    while (list) {
        struct request *j = list;
        list = j->ready_next;
        j->ready_next = NULL;
        finish_rollout(j);
        if (j->state == ST_ANSWERED)
            job_end(j);
    }
}

static void cancel_job(void *job)
{
    struct request *j = job;
    upstream_cancel(j->srv->up, &j->call);
}

/* ---- answers --------------------------------------------------------------- */

/* The stored text with "replayed":true (the result documents end with
 * "replayed":false}). */
static char *as_replayed(char *text)
{
    static const char tail[] = "\"replayed\":false}";
    size_t n = strlen(text), t = sizeof tail - 1;
    if (n >= t && strcmp(text + n - t, tail) == 0) {
        char *out = xasprintf("%.*s\"replayed\":true}", (int)(n - t), text);
        free(text);
        return out;
    }
    return text;
}

static enum MHD_Result reply_stored(struct request *rq, unsigned status, char *text, int replayed)
{
    if (replayed)
        text = as_replayed(text);
    return reply_text(rq, status, text, NULL);
}

static enum MHD_Result reply_conflict(struct request *rq, const char *id)
{
    rollouts_count(rq->srv->rollouts, 0, 1);
    json_t *body = detail("rollout_id %s was already used with a different request; use a new "
                          "rollout_id for a new rollout", id);
    json_object_set_new(body, "error", json_string("rollout_identity_conflict"));
    json_object_set_new(body, "rollout_id", json_string(id));
    return reply(rq, MHD_HTTP_CONFLICT, body, NULL);
}

static enum MHD_Result reply_accepted(struct request *rq, const char *id, int replayed)
{
    unsigned st;
    char *text;
    if (rollouts_get(rq->srv->rollouts, id, 1, &st, &text) != 0)
        return reply(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, detail("rollout %s vanished", id), NULL);
    json_t *doc = jr_parse(text, strlen(text), 0, NULL);
    free(text);
    json_object_set_new(doc, "replayed", json_boolean(replayed));
    char loc[200];
    snprintf(loc, sizeof loc, "/rollouts/%s", id);
    return reply(rq, MHD_HTTP_ACCEPTED, doc, MHD_HTTP_HEADER_LOCATION, loc, NULL);
}

/* ---- POST /rollouts ---------------------------------------------------------- */

enum MHD_Result start_rollouts(struct request *rq, json_t *body)
{
    server *s = rq->srv;
    char u[37], gen[32] = "roll_"; /* roll_ and 24 hex digits of a UUID */
    uuid_string(u);
    size_t k = 5;
    for (const char *c = u; *c && k < 29; c++)
        if (*c != '-')
            gen[k++] = *c;
    gen[k] = '\0';
    contract_request q;
    verr e = {0};
    int rc = contract_parse_request(body, gen, &q, &e);
    json_decref(body);
    if (rc != 0)
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    if (atomic_load(&s->stopping)) {
        contract_request_free(&q);
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE, detail("the server is shutting down"),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    }
    init_waiter(rq);
    int async = q.async;
    const char *id = rq->rollout_id; /* q is freed on most paths below */
    snprintf(rq->rollout_id, sizeof rq->rollout_id, "%s", q.rollout_id);
    struct request *j = job_new(rq, &q);
    ro_entry *entry;
    unsigned st;
    char *text;
    enum ro_begin b = rollouts_begin(s->rollouts, &q, j, async ? NULL : &rq->waiter, &entry, &st,
                                     &text);
    if (b != RO_NEW) {
        contract_request_free(&q);
        job_end(j);
    }
    switch (b) {
    case RO_CONFLICT:
        return reply_conflict(rq, id);
    case RO_DONE:
        rollouts_count(s->rollouts, 1, 0);
        return reply_stored(rq, st, text, 1);
    case RO_PENDING:
        rollouts_count(s->rollouts, 1, 0);
        return reply_accepted(rq, id, 1);
    case RO_WAITING:
        rollouts_count(s->rollouts, 1, 0);
        rq->replay = 1;
        rq->state = ST_WAITING;
        return MHD_YES;
    case RO_NEW:
        break;
    }
    j->entry = entry;
    start_rollout(j);
    if (j->state == ST_ANSWERED)
        job_end(j); /* answered at once: a cache hit, or refused */
    enum MHD_Result r;
    if (async) {
        b = rollouts_wait(s->rollouts, entry, NULL, &st, &text);
        r = b == RO_DONE ? reply_stored(rq, st, text, 0) : reply_accepted(rq, id, 0);
    } else {
        b = rollouts_wait(s->rollouts, entry, &rq->waiter, &st, &text);
        if (b == RO_DONE) {
            r = reply_stored(rq, st, text, 0);
        } else {
            rq->state = ST_WAITING;
            r = MHD_YES;
        }
    }
    rollouts_release(s->rollouts, entry);
    return r;
}

/* A waiting connection was woken with its entry's result. */
enum MHD_Result finish_waiting(struct request *rq)
{
    char *text = rq->waiter.text;
    rq->waiter.text = NULL;
    if (!text)
        return reply(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, detail("the rollout ended without a result"),
                     NULL);
    return reply_stored(rq, rq->waiter.status, text, rq->replay);
}

/* ---- /rollouts/{id}/... ---------------------------------------------------- */

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct request *rq = cls;
    long n = rollouts_sse(rq->srv->rollouts, rq->sse_entry, &rq->sse_cursor, out, max,
                          &rq->waiter);
    if (n < 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)n;
}

static enum MHD_Result start_stream(struct request *rq, const char *id)
{
    ro_entry *e = rollouts_acquire(rq->srv->rollouts, id);
    if (!e) {
        char msg[200];
        snprintf(msg, sizeof msg, "unknown_rollout:%s", id);
        return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", msg), NULL);
    }
    rq->sse_entry = e;
    const char *last = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Last-Event-ID");
    const char *after = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, "after");
    rq->sse_cursor = (unsigned)strtoul(last ? last : after ? after : "0", NULL, 10);
    init_waiter(rq);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, sse_read, rq, NULL);
    return reply_response(rq, MHD_HTTP_OK, resp, "text/event-stream");
}

static int wants_sse(struct request *rq)
{
    const char *a = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return a && strstr(a, "text/event-stream") != NULL;
}

static enum MHD_Result unknown_rollout(struct request *rq, const char *id)
{
    char msg[200];
    snprintf(msg, sizeof msg, "unknown_rollout:%s", id);
    return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", msg), NULL);
}

static unsigned query_uint(struct request *rq, const char *name, unsigned dflt, unsigned max)
{
    const char *v = MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!v || !*v)
        return dflt;
    unsigned long n = strtoul(v, NULL, 10);
    return n > max ? max : (unsigned)n;
}

enum MHD_Result handle_rollout_item(struct request *rq)
{
    server *s = rq->srv;
    const char *rest = rq->path + strlen("/rollouts/");
    size_t n = strcspn(rest, "/");
    char id[CONTRACT_ROLLOUT_ID_MAX + 1];
    if (n == 0 || n > CONTRACT_ROLLOUT_ID_MAX)
        return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", "Not Found"), NULL);
    memcpy(id, rest, n);
    id[n] = '\0';
    if (!contract_rollout_id_valid(id))
        return unknown_rollout(rq, id);
    const char *sub = rest[n] ? rest + n + 1 : "";
    int get = strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
    int post = strcmp(rq->method, "POST") == 0;
    const char *allow = strcmp(sub, "terminate") == 0 ? "POST" : "GET, HEAD";
    if ((strcmp(sub, "terminate") == 0 && !post) || (strcmp(sub, "terminate") != 0 && !get))
        return reply(rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                     detail("method %s not allowed on %s (allowed: %s)", rq->method, rq->path,
                            allow),
                     MHD_HTTP_HEADER_ALLOW, allow, NULL);
    if (!*sub || strcmp(sub, "state") == 0) {
        unsigned st;
        char *text;
        if (rollouts_get(s->rollouts, id, *sub != '\0', &st, &text) != 0)
            return unknown_rollout(rq, id);
        return reply_text(rq, st, text, NULL);
    }
    if (strcmp(sub, "stream") == 0 || (strcmp(sub, "events") == 0 && wants_sse(rq)))
        return start_stream(rq, id);
    if (strcmp(sub, "events") == 0) {
        json_t *doc;
        if (rollouts_events(s->rollouts, id, query_uint(rq, "after", 0, UINT32_MAX),
                            query_uint(rq, "limit", 1000, 10000), &doc) != 0)
            return unknown_rollout(rq, id);
        return reply(rq, MHD_HTTP_OK, doc, NULL);
    }
    if (strcmp(sub, "terminate") == 0) {
        const char *reason = NULL;
        json_t *body = rq->body.len ? jr_parse(rq->body.data, rq->body.len, 0, NULL) : NULL;
        if (rq->body.len && !json_is_object(body)) {
            json_decref(body);
            return reply(rq, MHD_HTTP_BAD_REQUEST,
                         detail("the body must be a JSON object ({\"reason\": ...}) or empty"),
                         NULL);
        }
        reason = json_string_value(json_object_get(body, "reason"));
        json_t *doc;
        int woke;
        int rc = rollouts_terminate(s->rollouts, id, reason, cancel_job, &doc, &woke);
        if (woke)
            upstream_kick(s->up);
        if (rc == 0)
            log_info("rollout %s: terminated (%s)", id, reason ? reason : "no reason given");
        json_decref(body);
        if (rc != 0)
            return unknown_rollout(rq, id);
        return reply(rq, MHD_HTTP_OK, doc, NULL);
    }
    return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", "Not Found"), NULL);
}

/* ---- /program, /validate-candidate ------------------------------------------- */

enum MHD_Result handle_program(struct request *rq)
{
    return reply(rq, MHD_HTTP_OK, contract_program(), NULL);
}

enum MHD_Result handle_validate_candidate(struct request *rq)
{
    server *s = rq->srv;
    if (rq->too_large)
        return reply_too_large(rq);
    jr_error jerr;
    json_t *body = jr_parse(rq->body.data ? rq->body.data : "", rq->body.len,
                            JR_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        return reply(rq, MHD_HTTP_BAD_REQUEST,
                     detail("the body must be a JSON object: {\"candidate_id\", \"artifact_payload\": "
                            "{instruction, demonstrations, user_template}}"),
                     NULL);
    }
    int split = s->cfg->default_split;
    prompt_vars vars = {
        .query = dataset_text(s->ds, split, 0),
        .available_intents = dataset_available_intents(s->ds),
        .intents = dataset_intents_joined(s->ds),
        .available_intents_json = dataset_available_intents_json(s->ds),
        .intents_json = dataset_intents_joined_json(s->ds),
        .tool_demos = 1,
    };
    json_t *r = contract_validate_candidate(body, &vars);
    json_decref(body);
    return reply(rq, MHD_HTTP_OK, r, NULL);
}
