/* routes.c: the routes that are not rollouts: /health, /info,
 * /task_info and /metrics. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "params.h"
#include "taskinfo.h"
#include "verr.h"

enum MHD_Result handle_health(struct request *rq, int rollout_variant)
{
    server *s = rq->srv;
    int ok = auth_configured(s->auth) && s->ds;
    json_t *body = json_pack("{s:s,s:b,s:b,s:{s:b}}", "status", ok ? "healthy" : "unhealthy",
                             "healthy", ok, "authorized", rq->key != NULL, "auth", "required", 1);
    if (rollout_variant)
        json_object_set_new(body, "ok", json_boolean(ok));
    if (!ok)
        json_object_set_new(body, "detail", json_string("ENVIRONMENT_API_KEY is not configured"));
    json_object_set_new(body, "inflight", json_integer((json_int_t)atomic_load(&s->inflight)));
    json_object_set_new(body, "contract_version", json_string(CONTRACT_VERSION));
    if (s->cache) /* a store in trouble costs misses, not health */
        json_object_set_new(body, "cache_store", cache_store_json(s->cache, 0));
    return reply(rq, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL);
}

struct seed_args {
    json_t *seeds;    /* array of instance descriptors, in request order */
    const char *split_name;
    const char *bad;  /* the first seed that does not parse */
    size_t count;
};

static void add_seed_value(struct seed_args *a, const char *v, size_t n)
{
    if (a->bad)
        return;
    json_t *str = json_stringn(v, n);
    int64_t seed;
    if (!str || rollout_parse_seed(str, &seed) != 0) {
        a->bad = v;
    } else {
        json_array_append_new(a->seeds, json_integer((json_int_t)seed));
    }
    json_decref(str);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct seed_args *a = cls;
    if (!key)
        return MHD_YES;
    if (strcmp(key, "split") == 0) {
        a->split_name = value ? value : "";
    } else if (strcmp(key, "seed") == 0 || strcmp(key, "seeds") == 0) {
        const char *v = value ? value : "";
        /* "seeds=1,2,3" is a list too */
        for (const char *p = v;;) {
            size_t n = strcspn(p, ",");
            add_seed_value(a, p, n);
            if (!p[n])
                break;
            p += n + 1;
        }
        a->count++;
    }
    return MHD_YES;
}

enum MHD_Result handle_task_info(struct request *rq)
{
    server *s = rq->srv;
    struct seed_args a = {.seeds = json_array()};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    int split = s->cfg->default_split;
    if (a.split_name && (split = dataset_split_id(a.split_name)) < 0) {
        json_decref(a.seeds);
        verr e = {0};
        verr_set(&e, "unknown split: valid splits are \"train\", \"test\"", "[s,s]", "query",
                 "split");
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    }
    if (a.bad) {
        json_decref(a.seeds);
        verr e = {0};
        verr_set(&e, "seed must be a decimal integer within int64", "[s,s]", "query", "seed");
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    }
    size_t n = json_array_size(a.seeds);
    json_t *body;
    if (n == 0) {
        body = taskinfo_taskset(s->ds, split);
    } else {
        body = json_array();
        size_t size = dataset_size(s->ds, split);
        for (size_t i = 0; i < n; i++) {
            int64_t seed = (int64_t)json_integer_value(json_array_get(a.seeds, i));
            json_array_append_new(body, taskinfo_instance(s->ds, split, dataset_seed_row(seed, size)));
        }
        if (n == 1) {
            json_t *one = json_incref(json_array_get(body, 0));
            json_decref(body);
            body = one;
        }
    }
    json_decref(a.seeds);
    return reply(rq, MHD_HTTP_OK, body, NULL);
}

/* What /info and /metadata say of the contracts this server speaks: the
 * reference's metadata payload (runtime, capabilities, metadata with the
 * GEPA optimizer routes) beside the older fields. */
static void add_contract_info(json_t *info, server *s)
{
    rollouts_stats st = rollouts_get_stats(s->rollouts);
    json_object_set_new(info, "contract_version", json_string(CONTRACT_VERSION));
    json_object_set_new(
        info, "contract_versions",
        json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", "synth-containers",
                  "version", CONTRACT_VERSION, "routes",
                  "POST /rollouts, GET /rollouts/{id}[/state|/events|/stream], POST "
                  "/rollouts/{id}/terminate, GET /program, GET /metadata, POST /validate-candidate",
                  "name", "synth-ai container", "version", "sdk/container/_impl/contracts.py",
                  "routes", "POST /rollout (trace_correlation_id; reward_info.outcome_reward)",
                  "name", "synth-ai task app", "version", "sdk/task/contracts.py", "routes",
                  "POST /rollout, GET /task_info, GET /info, GET /health"));
    json_object_set_new(info, "runtime",
                        json_pack("{s:s,s:s,s:s}", "runtime_id", "banking77", "name",
                                  "Banking77 intent classification", "description",
                                  "one-step environment: a bank customer's query, one LLM call, "
                                  "reward 1.0 for the right intent of 77"));
    json_object_set_new(
        info, "capabilities",
        json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:s,s:s,s:[s,s],s:s}", "async_rollouts", 1,
                  "idempotent_rollout_ids", 1, "terminate_support", 1, "pause_support", 0,
                  "resume_support", 0, "checkpoint_support", 0, "resume_semantics", "unsupported",
                  "checkpoint_semantics", "none", "submission_modes", "sync", "async",
                  "event_transports", "sse, poll"));
    json_object_set_new(
        info, "metadata",
        json_pack("{s:{s:{s:s,s:s,s:s}},s:s}", "optimizer_contracts", "gepa", "program_route",
                  "/program", "rollout_route", "/rollouts", "validate_route", "/validate-candidate",
                  "reward_source", "environment"));
    json_object_set_new(info, "rollouts",
                        json_pack("{s:I,s:I,s:I,s:I}", "pending", (json_int_t)st.pending, "kept",
                                  (json_int_t)st.kept, "retention_s",
                                  (json_int_t)s->cfg->rollout_retention_s, "max_bytes",
                                  (json_int_t)s->cfg->rollout_bytes));
}

enum MHD_Result handle_info(struct request *rq)
{
    server *s = rq->srv;
    json_t *info = taskinfo_info(s->ds, s->cfg->default_split);
    json_object_set_new(info, "llm_adaptations", adapt_memo_json(s->adapt));
    json_object_set_new(info, "llm_rate_limits", limits_json(s->limits));
    if (s->cache)
        json_object_set_new(info, "cache_store", cache_store_json(s->cache, 1));
    json_object_set_new(info, "strict_params", json_boolean(!s->adapt));
    add_contract_info(info, s);
    return reply(rq, MHD_HTTP_OK, info, NULL);
}

enum MHD_Result handle_metrics(struct request *rq)
{
    buf text = {0};
    metrics_render(rq->srv->metrics, atomic_load(&rq->srv->inflight), &text);
    if (rq->srv->adapt) {
        long counts[ADAPT_COUNT];
        adapt_memo_counts(rq->srv->adapt, counts);
        metrics_render_adaptations(counts, ADAPT_COUNT, &text);
    }
    limits_metrics(rq->srv->limits, &text);
    rollouts_metrics(rq->srv->rollouts, &text);
    if (rq->srv->cache) {
        cache_stats cs = cache_get_stats(rq->srv->cache);
        store_stats st;
        int has_store = cache_store_stats(rq->srv->cache, &st, 1);
        metrics_render_cache(&cs, has_store ? &st : NULL, &text);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(text.len, text.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        buf_free(&text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    enum MHD_Result r = MHD_queue_response(rq->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    answered(rq, MHD_HTTP_OK);
    return r;
}
