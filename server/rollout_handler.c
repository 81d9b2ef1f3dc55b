/* rollout_handler.c: POST /rollout: the request validated and prepared
 * (rollout.h), answered from the cache or parked on its LLM call (or on an
 * identical call in flight), resent once in a form the LLM server accepts
 * after a 400 it explains, and scored and answered when the call is back.
 * See internal.h for who owns what while a rollout is parked. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "log.h"
#include "params.h"
#include "verr.h"

#define FLEET_LOCK_MS 60000

static void on_upcall_done(upcall *call)
{
    request_resume(call->arg);
}

/* rollout_defaults.adapt_for: the server's memo. */
int memo_bits(void *arg, const char *call_url, const char *model)
{
    return adapt_memo_get(arg, call_url, model);
}

/* After a 400: when the LLM server refused a parameter this request can do
 * without, learn it and send the request again in the accepted form (once).
 * Returns 1 when resent (the connection is parked again). */
static int adapt_and_resend(struct request *rq)
{
    server *s = rq->srv;
    upcall *c = &rq->call;
    if (!s->adapt || rq->adapted || c->result != UPCALL_HTTP || c->status != 400)
        return 0;
    int add = params_adaptation(c->reply.data ? c->reply.data : "", c->reply.len,
                                rq->ro.upstream_body, rq->ro.upstream_body_len, rq->ro.adapt);
    if (!add)
        return 0;
    json_t *body = jr_parse(rq->body.data ? rq->body.data : "", rq->body.len, 0, NULL);
    if (!body)
        return 0;
    int fresh = adapt_memo_add(s->adapt, rq->ro.call_url, rq->ro.model, add);
    for (int i = 0; i < ADAPT_COUNT; i++)
        if (fresh & (1 << i))
            log_warn("the LLM at %s refused a parameter for model %s: from now on, %s "
                     "(--strict-params turns this off)", rq->ro.call_url, rq->ro.model,
                     params_description(i));
    /* the same request again: the memo now holds the new bits (and add is
     * kept here too, should the memo be full) */
    rollout_defaults d = s->defaults;
    d.adapt = rq->ro.adapt | add;
    rollout again;
    verr e = {0};
    int rc = rollout_prepare(body, s->ds, &d, &again, &e);
    json_decref(body);
    verr_clear(&e);
    if (rc != 0) /* it succeeded before with the same body */
        return 0;
    rollout_free(&rq->ro);
    rq->ro = again;
    rq->adapted = 1;
    rq->leader = 0; /* the resent call is this request's own */
    rq->cache_state = NULL;
    c->url = rq->ro.call_url;
    c->body = rq->ro.upstream_body;
    c->body_len = rq->ro.upstream_body_len;
    buf_reset(&c->reply);
    c->error[0] = '\0';
    request_suspend(rq);
    upstream_submit(s->up, c);
    return 1;
}

json_t *read_json_body(struct request *rq, enum MHD_Result *answered_with)
{
    char err[200];
    json_t *body = rollout_parse_body(rq->body.data ? rq->body.data : "", rq->body.len, err,
                                      sizeof err);
    if (!body)
        *answered_with = reply(rq, MHD_HTTP_BAD_REQUEST, detail("%s", err), NULL);
    return body;
}

/* A request of the newest contract sent to POST /rollout (the reference
 * makes /rollout an alias of /rollouts): it names a rollout_id, a
 * candidate, or a submission mode, which no earlier generation sends. */
static int newest_contract(const json_t *body)
{
    return json_object_get(body, "rollout_id") || json_object_get(body, "candidate") ||
           json_object_get(body, "candidate_overlay") || json_object_get(body, "submission_mode");
}

static void on_claimed(void *arg, enum store_claim result, char *body, size_t len, int waited);

enum MHD_Result start_rollout(struct request *rq)
{
    server *s = rq->srv;
    if (rq->too_large)
        return reply_too_large(rq);
    enum MHD_Result answered_with;
    json_t *body = rq->prepared ? rq->prepared : read_json_body(rq, &answered_with);
    rq->prepared = NULL;
    if (!body)
        return answered_with;
    if (rq->conn && (route_of(rq) == ROUTE_ROLLOUTS || newest_contract(body)))
        return start_rollouts(rq, body);
    verr e = {0};
    rollout_defaults d = s->defaults;
    d.text_only = d.text_only && rq->conn; /* a job's result is a tree: it needs the messages' */
    int rc = rollout_prepare(body, s->ds, &d, &rq->ro, &e);
    json_decref(body);
    if (rc != 0)
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    if (atomic_load(&s->stopping))
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE, detail("the server is shutting down"),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    if (atomic_fetch_add(&s->inflight, 1) >= s->cfg->max_inflight) {
        atomic_fetch_sub(&s->inflight, 1);
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                     detail("too many rollouts in flight (limit %u, --max-inflight); retry later",
                            s->cfg->max_inflight),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    }
    rq->counted = 1;
    rq->headers = llm_headers(rq, &rq->call.lim);
    /* What providers count against a token limit: the prompt (about four
     * characters a token) and the most the reply may take. */
    rq->call.tokens = (double)rq->ro.messages_json_len / 4.0 +
                      (double)(rq->ro.max_tokens > 0 ? rq->ro.max_tokens : 64);
    rq->call.url = rq->ro.call_url;
    rq->call.body = rq->ro.upstream_body;
    rq->call.body_len = rq->ro.upstream_body_len;
    rq->call.headers = rq->headers;
    rq->call.deadline = now_ms() + (int64_t)(rq->ro.max_time_s * 1000.0);
    rq->call.done = on_upcall_done;
    rq->call.arg = rq;
    rq->state = ST_PARKED;
    int cached = s->cache && (s->cfg->cache_mode == 2 || rq->ro.temperature_zero);
    if (cached) {
        rq->ckey = cache_key_for(rq->ro.call_url, rq->ro.upstream_body, rq->ro.upstream_body_len);
        char *hit;
        size_t len;
        /* A fleet's store is asked (with its lock) once the request is parked. */
        int fleet = store_shared_by_fleet(cache_store(s->cache));
        if (fleet ? cache_get_local(s->cache, rq->ckey, &hit, &len)
                  : cache_get(s->cache, rq->ckey, &hit, &len)) {
            /* Answered from the cache: no upstream call at all. */
            rq->cache_state = "hit";
            rq->call.result = UPCALL_HTTP;
            rq->call.status = 200;
            buf_append(&rq->call.reply, hit, len);
            free(hit);
            rq->call.started = rq->call.finished = now_ms();
            return finish_rollout(rq);
        }
    }
    /* Suspend first: the call may finish (and resume) before we return. */
    request_suspend(rq);
    if (cached) {
        if (cache_join(s->cache, rq->ckey, rq)) {
            /* The same call is already running: wait for its reply. */
            rq->cache_state = "shared";
            cache_count(s->cache, 0, 1, 0);
            return MHD_YES;
        }
        rq->cache_state = "miss";
        rq->leader = 1;
        /* A store shared by a fleet: one process of it makes the call. Its
         * lock lasts the call's deadline, at most FLEET_LOCK_MS, renewed by
         * the store while this process lives (a replica that dies holding
         * it delays the others a few seconds, store_redis.c's LEASE_MS). */
        int64_t left = rq->call.deadline - now_ms();
        rq->claiming = 1;
        if (store_claim(cache_store(s->cache), &rq->ckey, left,
                        left < FLEET_LOCK_MS ? left : FLEET_LOCK_MS, on_claimed, rq))
            return MHD_YES;
        rq->claiming = 0;
        cache_count(s->cache, 1, 0, 0);
    }
    upstream_submit(s->up, &rq->call);
    return MHD_YES;
}

/* store_claim's answer, on the store's thread: the request resumes on its
 * worker (claim_resolved). */
static void on_claimed(void *arg, enum store_claim result, char *body, size_t len, int waited)
{
    struct request *rq = arg;
    upstream *up = rq->srv->up; /* rq is its worker's once resumed */
    rq->claim_result = result;
    rq->claim_waited = waited;
    if (result == STORE_CLAIM_FOUND) {
        buf_reset(&rq->call.reply);
        buf_append(&rq->call.reply, body, len);
        free(body);
    }
    request_resume(rq);
    upstream_kick(up);
}

/* The leader's claim answered: another process's reply (answered as a hit,
 * or as shared when that call was in flight), or this one's call to make. */
static enum MHD_Result claim_resolved(struct request *rq)
{
    server *s = rq->srv;
    rq->claiming = 0;
    if (rq->claim_result == STORE_CLAIM_FOUND) {
        rq->fleet_found = 1;
        rq->cache_state = rq->claim_waited ? "shared" : "hit";
        cache_count(s->cache, 0, rq->claim_waited, !rq->claim_waited);
        rq->call.result = UPCALL_HTTP;
        rq->call.status = 200;
        rq->call.started = rq->call.finished = now_ms();
        return finish_rollout(rq);
    }
    rq->fleet_lock = rq->claim_result == STORE_CLAIM_OWNED;
    cache_count(s->cache, 1, 0, 0);
    request_suspend(rq);
    upstream_submit(s->up, &rq->call);
    return MHD_YES;
}

/* The leader of a shared call hands its result to the requests that waited
 * for it (a copy each) and wakes them; they answer on their own threads. */
void share_with_waiters(struct request *rq)
{
    if (rq->shared)
        return;
    rq->shared = 1;
    size_t n;
    void **waiters = cache_finish(rq->srv->cache, rq->ckey, &n);
    for (size_t i = 0; i < n; i++) {
        struct request *w = waiters[i];
        w->call.result = rq->call.result;
        w->call.status = rq->call.status;
        memcpy(w->call.error, rq->call.error, sizeof w->call.error);
        buf_reset(&w->call.reply);
        buf_append(&w->call.reply, rq->call.reply.data ? rq->call.reply.data : "", rq->call.reply.len);
        w->call.attempts = 0;
        w->call.started = w->call.finished = now_ms();
        request_resume(w);
    }
    free(waiters);
    /* Waiters on other HTTP threads: libmicrohttpd signals nothing to a
     * daemon run from outside, so wake their threads for a turn. */
    if (n)
        upstream_kick(rq->srv->up);
}

/* 503 with Retry-After for a rollout the LLM account's limits did not let
 * through in time (refused: the LLM itself kept answering 429): the
 * caller's cue to slow down, not a failure of the prompt. */
static enum MHD_Result reply_rate_limited(struct request *rq, const upcall *c, int refused)
{
    int64_t ms = c->retry_after_ms > 1000 ? c->retry_after_ms : 1000;
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)((ms + 999) / 1000));
    char msg[400];
    if (refused)
        reply_error_message(c->reply.data, c->reply.len, msg, sizeof msg);
    log_warn("rollout %s: %s; answered 503, Retry-After %s", rq->ro.run_id,
             refused ? "the LLM kept refusing (429)" : c->error, ra);
    json_t *body = refused ? detail("the LLM at %s is rate-limiting: HTTP 429 after %d attempts%s; "
                                    "retry after %s s",
                                    rq->ro.call_url, c->attempts, msg, ra)
                           : detail("%s; retry after %s s", c->error, ra);
    json_object_set_new(body, "error", json_pack("{s:s,s:I}", "code", "rate_limited",
                                                 "retry_after_ms", (json_int_t)ms));
    return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE, body, MHD_HTTP_HEADER_RETRY_AFTER, ra, NULL);
}

enum MHD_Result finish_rollout(struct request *rq)
{
    upcall *c = &rq->call;
    rollout *ro = &rq->ro;
    metrics *mt = rq->srv->metrics;
    char msg[400];
    char outcome[16];
    if (rq->claiming)
        return claim_resolved(rq);
    int own_call = (!rq->cache_state || rq->leader) && !rq->fleet_found;
    /* The reply is parsed once, here: a usable one is what the cache keeps. */
    int ok_status = c->result == UPCALL_HTTP && c->status >= 200 && c->status < 300;
    llm_reply r;
    extract_labels labels = dataset_extract_labels(rq->srv->ds);
    int parsed = ok_status && reply_parse(c->reply.data ? c->reply.data : "", c->reply.len,
                                          ro->mode, &labels, &r, msg, sizeof msg) == 0;
    if (rq->leader) {
        /* Store before waking the waiters, so that a request arriving in
         * between finds it in the cache. */
        if (parsed && rq->fleet_found)
            cache_keep(rq->srv->cache, rq->ckey, c->reply.data, c->reply.len);
        else if (parsed)
            cache_put(rq->srv->cache, rq->ckey, c->reply.data, c->reply.len);
        if (rq->fleet_lock) /* after the reply is stored: the others find it */
            store_release(cache_store(rq->srv->cache), &rq->ckey);
        rq->fleet_lock = 0;
        share_with_waiters(rq);
    }
    if (!ok_status && adapt_and_resend(rq))
        return MHD_YES;
    if (c->result == UPCALL_HTTP)
        snprintf(outcome, sizeof outcome, "%ld", c->status);
    if (own_call)
        metrics_upstream(mt, c->attempts,
                     c->result == UPCALL_DEADLINE    ? "deadline"
                     : c->result == UPCALL_ABORTED   ? "aborted"
                     : c->result == UPCALL_TRANSPORT ? "transport"
                     : c->result == UPCALL_THROTTLED ? "throttled"
                     : ok_status                     ? "ok"
                                                     : outcome,
                     c->finished - c->started);
    switch (c->result) {
    case UPCALL_DEADLINE:
        log_warn("rollout %s: deadline of %.1f s passed after %d LLM attempts", ro->run_id,
                 ro->max_time_s, c->attempts);
        return reply(rq, MHD_HTTP_GATEWAY_TIMEOUT,
                     detail("the rollout's deadline of %.1f s passed while waiting for the LLM at "
                            "%s (%d attempts)",
                            ro->max_time_s, ro->call_url, c->attempts),
                     NULL);
    case UPCALL_ABORTED:
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                     detail("the server is shutting down; the LLM call was abandoned"),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    case UPCALL_TRANSPORT:
        log_warn("rollout %s: LLM call failed after %d attempts: %s", ro->run_id, c->attempts,
                 c->error);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM call to %s failed after %d attempts: %s", ro->call_url,
                            c->attempts, c->error),
                     NULL);
    case UPCALL_THROTTLED:
        return reply_rate_limited(rq, c, 0);
    case UPCALL_HTTP:
        break;
    }
    if (c->status == 429)
        return reply_rate_limited(rq, c, 1);
    if (!ok_status) {
        reply_error_message(c->reply.data, c->reply.len, msg, sizeof msg);
        log_warn("rollout %s: LLM returned HTTP %ld after %d attempts", ro->run_id, c->status,
                 c->attempts);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM at %s returned HTTP %ld after %d attempts%s", ro->call_url,
                            c->status, c->attempts, msg),
                     NULL);
    }
    if (!parsed) {
        log_warn("rollout %s: %s", ro->run_id, msg);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM at %s returned HTTP %ld but %s", ro->call_url, c->status, msg),
                     NULL);
    }
    if (own_call) /* a reply from the cache or another call cost no tokens */
        metrics_tokens(mt, (long)json_integer_value(json_object_get(r.usage, "prompt_tokens")),
                       (long)json_integer_value(json_object_get(r.usage, "completion_tokens")),
                       (long)json_integer_value(json_object_get(r.usage, "total_tokens")));
    const char *label = dataset_label_name(rq->srv->ds, dataset_label(rq->srv->ds, ro->split, ro->row));
    metrics_rollout(mt, reply_matches(r.predicted, label), r.predicted != NULL);
    rollout_stats st = {.attempts = c->attempts, .llm_ms = c->finished - c->started,
                        .cache = rq->cache_state ? rq->cache_state : "off"};
    if (!rq->conn) { /* a job's result: the tree, not text read back */
        json_t *doc = rollout_response(ro, rq->srv->ds, &r, &st);
        reply_free(&r);
        return reply(rq, MHD_HTTP_OK, doc, NULL);
    }
    char *text = rollout_response_text(ro, rq->srv->ds, &r, &st);
    reply_free(&r);
    return reply_text(rq, MHD_HTTP_OK, text, NULL);
}
