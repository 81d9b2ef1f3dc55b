/* rollout.c: see rollout.h. */
#include "rollout.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmurl.h"
#include "prompt.h"
#include "util.h"

#define TOOL_JSON                                                                                \
    "{\"type\":\"function\",\"function\":{\"name\":\"banking77_classify\",\"description\":"      \
    "\"Return the predicted banking77 intent label in the `intent` field.\",\"parameters\":{"   \
    "\"type\":\"object\",\"properties\":{\"intent\":{\"type\":\"string\"}},\"required\":["     \
    "\"intent\"]}}}"

/* Where the rendered messages go in a dump: a string value a request could
 * also send (fuzzing found a run_id equal to a fixed marker), so the marker
 * holds a random id drawn once per process, and a dump where it does not
 * occur exactly where expected is redone the slow way. */
static char marker[64];        /* "\001b77:<uuid>\001" */
static char marker_dumped[80]; /* the same as jansson writes it, quotes included */
static pthread_once_t marker_once = PTHREAD_ONCE_INIT;

static void make_marker(void)
{
    char u[37];
    uuid_string(u);
    snprintf(marker, sizeof marker, "\001b77:%s\001", u);
    snprintf(marker_dumped, sizeof marker_dumped, "\"\\u0001b77:%s\\u0001\"", u);
}

static json_t *messages_marker(void)
{
    pthread_once(&marker_once, make_marker);
    return json_string(marker);
}

/* The messages (an array of {role, content} objects of valid UTF-8) as JSON
 * text, escaped once; jansson's encoder walks every character, which for a
 * prompt that lists 77 intents is most of a rollout's CPU. */
static void escape_into(buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(out, '"');
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(out, s + start, i - start);
        switch (c) {
        case '"': buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(out, u);
        }
        }
        start = i + 1;
    }
    buf_append(out, s + start, n - start);
    buf_putc(out, '"');
}

static char *messages_text(const json_t *messages)
{
    buf b = {0};
    buf_putc(&b, '[');
    for (size_t i = 0; i < json_array_size(messages); i++) {
        const json_t *m = json_array_get(messages, i);
        const json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        buf_puts(&b, i ? ",{\"role\":" : "{\"role\":");
        escape_into(&b, json_string_value(role), json_string_length(role));
        buf_puts(&b, ",\"content\":");
        escape_into(&b, json_string_value(content), json_string_length(content));
        buf_putc(&b, '}');
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}

/* Dumps j, which holds the marker in `expected` places, with the messages'
 * text in their place. NULL when the dump fails or the marker count is off
 * (the caller then encodes the messages themselves). */
static char *dump_with_messages(const json_t *j, const char *msgs, int expected)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (!text)
        return NULL;
    buf out = {0};
    size_t mlen = strlen(marker_dumped);
    const char *p = text, *hit;
    int found = 0;
    while ((hit = strstr(p, marker_dumped))) {
        buf_append(&out, p, (size_t)(hit - p));
        buf_puts(&out, msgs);
        p = hit + mlen;
        found++;
    }
    buf_puts(&out, p);
    free(text);
    if (found != expected) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}

int rollout_parse_seed(const json_t *v, int64_t *out)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* [-2^63, 2^63): both bounds are exact doubles. */
        if (!isfinite(d) || floor(d) != d || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        if (i == n || n > 21)
            return -1;
        for (size_t k = i; k < n; k++)
            if (s[k] < '0' || s[k] > '9')
                return -1;
        errno = 0;
        long long x = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            return -1;
        *out = (int64_t)x;
        return 0;
    }
    return -1;
}

/* A field of the given JSON type that may be absent or null: *out is the
 * value (borrowed) or NULL. -1 with e set (at loc, which is stolen either
 * way) when it has another type. */
static int opt_field(const json_t *obj, const char *key, json_type type, const json_t **out,
                     verr *e, json_t *loc)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v && !json_is_null(v) && json_typeof(v) != type) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be %s", key, type == JSON_STRING ? "a string" : "an object");
        verr_set(e, msg, "o", loc);
        return -1;
    }
    json_decref(loc);
    if (v && !json_is_null(v))
        *out = v;
    return 0;
}

static int opt_string(const json_t *obj, const char *key, const char **out, verr *e, json_t *loc)
{
    const json_t *v;
    int rc = opt_field(obj, key, JSON_STRING, &v, e, loc);
    *out = v ? json_string_value(v) : NULL;
    return rc;
}

static int opt_object(const json_t *obj, const char *key, const json_t **out, verr *e, json_t *loc)
{
    return opt_field(obj, key, JSON_OBJECT, out, e, loc);
}

static const char *first_string(const json_t *obj, const char *const *keys, size_t n,
                                const char **which)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_object_get(obj, keys[i]));
        if (s) {
            if (which)
                *which = keys[i];
            return s;
        }
    }
    return NULL;
}

static int pick_seed(const json_t *env, const json_t *envcfg, int64_t *seed, verr *e)
{
    const json_t *v = json_object_get(env, "seed");
    const char *where = "env";
    if (!v || json_is_null(v)) {
        v = json_object_get(envcfg, "seed");
        where = "config";
    }
    if (rollout_parse_seed(v, seed) != 0) {
        const char *msg = "seed must be an integer within int64 (a JSON integer, an "
                          "integer-valued number or a decimal string)";
        if (strcmp(where, "env") == 0)
            verr_set(e, msg, "[s,s,s]", "body", "env", "seed");
        else
            verr_set(e, msg, "[s,s,s,s]", "body", "env", "config", "seed");
        return -1;
    }
    return 0;
}

static int build_upstream_body(rollout *r, const json_t *cfg, const rollout_defaults *def,
                               verr *e)
{
    json_t *req = json_object();
    json_object_set_new(req, "model", json_string(r->model));
    json_object_set_new(req, "messages", messages_marker());
    if (r->mode == OUTPUT_TOOL_CALLS) {
        json_t *tool = json_loads(TOOL_JSON, 0, NULL);
        json_object_set_new(req, "tools", json_pack("[o]", tool));
        if (def->tool_choice_function)
            json_object_set_new(req, "tool_choice",
                                json_pack("{s:s,s:{s:s}}", "type", "function", "function", "name",
                                          REPLY_TOOL_NAME));
        else
            json_object_set_new(req, "tool_choice", json_string("required"));
    } else if (r->mode == OUTPUT_STRUCTURED) {
        json_object_set_new(
            req, "response_format",
            json_pack("{s:s,s:{s:s,s:b,s:{s:s,s:{s:{s:s}},s:[s],s:b}}}", "type", "json_schema",
                      "json_schema", "name", "banking77_intent", "strict", 1, "schema", "type",
                      "object", "properties", "intent", "type", "string", "required", "intent",
                      "additionalProperties", 0));
    }
    const json_t *temp = json_object_get(cfg, "temperature");
    if (temp && !json_is_null(temp)) {
        if (!json_is_number(temp)) {
            verr_set(e, "temperature must be a number", "[s,s,s,s]", "body", "policy", "config",
                     "temperature");
            json_decref(req);
            return -1;
        }
        json_object_set(req, "temperature", (json_t *)temp);
        r->temperature_zero = json_number_value(temp) == 0.0;
    }
    static const char *tok_keys[] = {"max_completion_tokens", "max_tokens"};
    for (size_t i = 0; i < B77_ARRAY_LEN(tok_keys); i++) {
        const json_t *v = json_object_get(cfg, tok_keys[i]);
        if (!v || json_is_null(v))
            continue;
        double d = json_number_value(v);
        if (!json_is_number(v) || d < 1 || d > 1e9 || floor(d) != d) {
            verr_set(e, "the max-tokens setting must be a positive integer", "[s,s,s,s]", "body",
                     "policy", "config", tok_keys[i]);
            json_decref(req);
            return -1;
        }
        json_object_set_new(req, tok_keys[i], json_integer((json_int_t)d));
        break;
    }
    r->messages_json = messages_text(r->messages);
    r->upstream_body = dump_with_messages(req, r->messages_json, 1);
    if (!r->upstream_body) {
        json_object_set(req, "messages", r->messages);
        r->upstream_body = json_dumps(req, JSON_COMPACT | JSON_REAL_PRECISION(15));
    }
    if (!r->upstream_body)
        abort(); /* jansson fails to encode valid strings only when out of memory */
    r->upstream_body_len = strlen(r->upstream_body);
    json_decref(req);
    return 0;
}

int rollout_prepare(const json_t *body, const dataset *ds, const rollout_defaults *def,
                    rollout *r, verr *e)
{
    memset(r, 0, sizeof *r);
    const char *run_id, *tcid, *split_name = NULL, *mode_s = NULL;
    const json_t *env, *envcfg = NULL, *policy, *cfg = NULL, *safety;
    if (opt_string(body, "run_id", &run_id, e, json_pack("[s,s]", "body", "run_id")) ||
        opt_string(body, "trace_correlation_id", &tcid, e,
                   json_pack("[s,s]", "body", "trace_correlation_id")) ||
        opt_object(body, "env", &env, e, json_pack("[s,s]", "body", "env")) ||
        opt_object(env, "config", &envcfg, e, json_pack("[s,s,s]", "body", "env", "config")) ||
        opt_object(body, "policy", &policy, e, json_pack("[s,s]", "body", "policy")) ||
        opt_object(policy, "config", &cfg, e, json_pack("[s,s,s]", "body", "policy", "config")) ||
        opt_object(body, "safety", &safety, e, json_pack("[s,s]", "body", "safety")))
        return -1;

    int64_t seed;
    if (pick_seed(env, envcfg, &seed, e) != 0)
        return -1;
    r->split = def->default_split;
    if (opt_string(envcfg, "split", &split_name, e,
                   json_pack("[s,s,s,s]", "body", "env", "config", "split")))
        return -1;
    if (split_name) {
        r->split = dataset_split_id(split_name);
        if (r->split < 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown split \"%.60s\": valid splits are \"train\", \"test\"",
                     split_name);
            verr_set(e, msg, "[s,s,s,s]", "body", "env", "config", "split");
            return -1;
        }
    }
    r->row = dataset_seed_row(seed, dataset_size(ds, r->split));

    r->max_time_s = def->max_time_cap_s;
    const json_t *mt = json_object_get(safety, "max_time_s");
    if (mt && !json_is_null(mt)) {
        double v = json_number_value(mt);
        if (!json_is_number(mt) || !(v > 0)) {
            verr_set(e, "safety.max_time_s must be a positive number", "[s,s,s]", "body", "safety",
                     "max_time_s");
            return -1;
        }
        if (v < r->max_time_s)
            r->max_time_s = v;
    }

    /* output_mode: policy.output_mode, or inside policy.config. */
    if (opt_string(policy, "output_mode", &mode_s, e,
                   json_pack("[s,s,s]", "body", "policy", "output_mode")))
        return -1;
    if (!mode_s && opt_string(cfg, "output_mode", &mode_s, e,
                              json_pack("[s,s,s,s]", "body", "policy", "config", "output_mode")))
        return -1;
    r->mode = OUTPUT_TOOL_CALLS;
    if (mode_s) {
        int m = reply_parse_mode(mode_s);
        if (m < 0) {
            verr_set(e, "output_mode must be \"tool_calls\", \"text\" or \"structured\"", "[s,s,s]",
                     "body", "policy", "output_mode");
            return -1;
        }
        r->mode = (enum output_mode)m;
    }

    static const char *url_keys[] = {"inference_url", "api_base", "base_url"};
    const char *url = first_string(cfg, url_keys, B77_ARRAY_LEN(url_keys), NULL);
    if (!url)
        url = def->llm_url;
    if (!url) {
        verr_set(e,
                 "policy.config.inference_url is required (the server has no default: start it "
                 "with --llm-url, or set LLM_BASE_URL, OPENAI_API_KEY or GROQ_API_KEY)",
                 "[s,s,s,s]", "body", "policy", "config", "inference_url");
        return -1;
    }
    char *call_url = llmurl_normalize(url);
    if (!call_url) {
        verr_set(e, "policy.config.inference_url must be an http:// or https:// URL", "[s,s,s,s]",
                 "body", "policy", "config", "inference_url");
        return -1;
    }
    const char *model = json_string_value(json_object_get(cfg, "model"));
    if (!model)
        model = def->model;
    if (!model || !*model) {
        free(call_url);
        verr_set(e, "policy.config.model is required (the server has no default: start it with "
                    "--model or set LLM_MODEL)",
                 "[s,s,s,s]", "body", "policy", "config", "model");
        return -1;
    }

    prompt_vars vars = {
        .query = dataset_text(ds, r->split, r->row),
        .available_intents = dataset_available_intents(ds),
        .intents = dataset_intents_joined(ds),
    };
    r->messages = prompt_messages(json_object_get(cfg, "prompt_template"), &vars, def->short_user, e);
    if (!r->messages) {
        free(call_url);
        return -1;
    }
    r->call_url = call_url;
    r->inference_url = xstrdup(url);
    r->model = xstrdup(model);

    static const char *pid_keys[] = {"policy_id", "policy_name"};
    const char *pid = first_string(policy, pid_keys, B77_ARRAY_LEN(pid_keys), NULL);
    r->policy_id = xstrdup(pid ? pid : "policy");

    if (run_id) {
        r->run_id = xstrdup(run_id);
    } else if (tcid) {
        r->run_id = xstrdup(tcid);
    } else {
        char u[37];
        uuid_string(u);
        r->run_id = xstrdup(u);
    }
    if (tcid)
        r->trace_id = xstrdup(tcid);
    else if (!(r->trace_id = llmurl_correlation_id(url)))
        r->trace_id = xstrdup(r->run_id);

    if (build_upstream_body(r, cfg, def, e) != 0) {
        rollout_free(r);
        return -1;
    }
    return 0;
}

void rollout_free(rollout *r)
{
    if (!r)
        return;
    free(r->run_id);
    free(r->trace_id);
    free(r->policy_id);
    free(r->inference_url);
    free(r->call_url);
    free(r->model);
    json_decref(r->messages);
    free(r->messages_json);
    free(r->upstream_body);
    memset(r, 0, sizeof *r);
}

/* A string value that is never NULL: jansson returns NULL for invalid UTF-8,
 * which would silently drop the key. */
static json_t *safe_string(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_string("");
}

static json_t *response(const rollout *r, const dataset *ds, const llm_reply *reply,
                        const rollout_stats *st, json_t *msgs)
{
    const char *split = dataset_split_name(r->split);
    const char *query = dataset_text(ds, r->split, r->row);
    const char *label = dataset_label_name(ds, dataset_label(ds, r->split, r->row));
    int correct = reply_matches(reply->predicted, label);
    double reward = correct ? 1.0 : 0.0;

    json_t *obs = json_pack("{s:s,s:I,s:s}", "query", query, "index", (json_int_t)r->row, "split",
                            split);
    json_t *info = json_pack("{s:s,s:o,s:b,s:O,s:{s:s,s:s},s:i,s:I,s:O}", "expected_intent", label,
                             "predicted_intent", safe_string(reply->predicted), "correct", correct,
                             "messages", msgs, "meta", "inference_url", r->call_url,
                             "model", r->model, "attempts", st->attempts, "latency_ms",
                             (json_int_t)st->llm_ms, "usage", reply->usage);
    if (!reply->predicted)
        json_object_set_new(info, "reason", safe_string(reply->reason));
    json_object_set_new(info, "cache", json_string(st->cache ? st->cache : "off"));
    json_t *step = json_pack("{s:O,s:O,s:f,s:b,s:o}", "obs", obs, "tool_calls", reply->tool_calls,
                             "reward", reward, "done", 1, "info", info);
    char env_id[96];
    snprintf(env_id, sizeof env_id, "banking77::%s::%zu", split, r->row);
    json_t *traj = json_pack("{s:s,s:s,s:[o],s:{s:o,s:f},s:i,s:s}", "env_id", env_id, "policy_id",
                             r->policy_id, "steps", step, "final", "observation", obs, "reward",
                             reward, "length", 1, "inference_url", r->inference_url);
    json_t *details = json_pack("{s:b,s:O}", "correct", correct, "usage", reply->usage);
    json_t *metrics = json_pack(
        "{s:[f],s:f,s:i,s:i,s:f,s:f,s:f,s:{s:f},s:f,s:O}", "episode_returns", reward,
        "mean_return", reward, "num_steps", 1, "num_episodes", 1, "outcome_score", reward,
        "events_score", reward, "outcome_reward", reward, "outcome_objectives", "reward", reward,
        "reward_mean", reward, "details", details);
    json_t *trace = json_pack(
        "{s:s,s:[{s:s,s:{s:O,s:s},s:{s:O,s:O}}],s:{s:s,s:s,s:s}}", "schema_version", "3.0",
        "event_history", "type", "lm_call", "llm_request", "messages", msgs, "model",
        r->model, "llm_response", "message", reply->message, "usage", reply->usage, "metadata",
        "trace_correlation_id", r->trace_id, "run_id", r->run_id, "env", "banking77");
    json_t *resp = json_pack(
        "{s:s,s:s,s:[o],s:{},s:o,s:{s:f,s:o},s:s,s:{s:s},s:o,s:b,s:i}", "run_id", r->run_id,
        "trace_correlation_id", r->trace_id, "trajectories", traj, "branches", "metrics", metrics,
        "reward_info", "outcome_reward", reward, "details", details, "inference_url",
        r->inference_url, "pipeline_metadata", "inference_url", r->inference_url, "trace", trace,
        "aborted", 0, "ops_executed", 1);
    return resp;
}

json_t *rollout_response(const rollout *r, const dataset *ds, const llm_reply *reply,
                         const rollout_stats *st)
{
    return response(r, ds, reply, st, r->messages);
}

char *rollout_response_text(const rollout *r, const dataset *ds, const llm_reply *reply,
                            const rollout_stats *st)
{
    json_t *m = messages_marker();
    json_t *j = response(r, ds, reply, st, m);
    json_decref(m);
    char *text = j ? dump_with_messages(j, r->messages_json, 2) : NULL;
    json_decref(j);
    if (!text) {
        j = response(r, ds, reply, st, r->messages);
        text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        json_decref(j);
    }
    return text;
}
