/* rollout.c: see rollout.h. */
#include "rollout.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "jsonw.h"
#include "llmurl.h"
#include "prompt.h"
#include "util.h"

#define TOOL_JSON                                                                                \
    "{\"type\":\"function\",\"function\":{\"name\":\"banking77_classify\",\"description\":"      \
    "\"Return the predicted banking77 intent label in the `intent` field.\",\"parameters\":{"   \
    "\"type\":\"object\",\"properties\":{\"intent\":{\"type\":\"string\"}},\"required\":["     \
    "\"intent\"]}}}"

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

/* Where a field sits in the request: "body" then up to three keys; the
 * location array is built only when there is an error to report. */
typedef struct field_path {
    const char *k[3];
} field_path;
#define PATH(...) ((field_path){{__VA_ARGS__}})

/* A field of the given JSON type that may be absent or null: *out is the
 * value (borrowed) or NULL. -1 with e set at path/key when it has another
 * type. */
static int opt_field(const json_t *obj, const char *key, json_type type, const json_t **out,
                     verr *e, field_path path)
{
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v && !json_is_null(v) && json_typeof(v) != type) {
        char msg[128];
        snprintf(msg, sizeof msg, "%s must be %s", key, type == JSON_STRING ? "a string" : "an object");
        json_t *loc = json_pack("[s]", "body");
        for (size_t i = 0; i < B77_ARRAY_LEN(path.k) && path.k[i]; i++)
            json_array_append_new(loc, json_string(path.k[i]));
        json_array_append_new(loc, json_string(key));
        verr_set(e, msg, "o", loc);
        return -1;
    }
    if (v && !json_is_null(v))
        *out = v;
    return 0;
}

static int opt_string(const json_t *obj, const char *key, const char **out, verr *e,
                      field_path path)
{
    const json_t *v;
    int rc = opt_field(obj, key, JSON_STRING, &v, e, path);
    *out = v ? json_string_value(v) : NULL;
    return rc;
}

static int opt_object(const json_t *obj, const char *key, const json_t **out, verr *e,
                      field_path path)
{
    return opt_field(obj, key, JSON_OBJECT, out, e, path);
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

/* Finishes the chat-completions request b, which holds its start up to and
 * including the messages (jansson key order); bad_model: the model written
 * there was not valid UTF-8 (reported after the other settings' checks). */
static int build_upstream_body(rollout *r, const json_t *cfg, const rollout_defaults *def, buf *b,
                               int bad_model, verr *e)
{
    const json_t *temp = json_object_get(cfg, "temperature");
    if (json_is_null(temp))
        temp = NULL;
    if (temp && !json_is_number(temp)) {
        verr_set(e, "temperature must be a number", "[s,s,s,s]", "body", "policy", "config",
                 "temperature");
        return -1;
    }
    r->temperature_zero = temp && json_number_value(temp) == 0.0;
    static const char *tok_keys[] = {"max_completion_tokens", "max_tokens"};
    const char *tok_key = NULL;
    double tokens = 0;
    for (size_t i = 0; i < B77_ARRAY_LEN(tok_keys) && !tok_key; i++) {
        const json_t *v = json_object_get(cfg, tok_keys[i]);
        if (!v || json_is_null(v))
            continue;
        tokens = json_number_value(v);
        if (!json_is_number(v) || tokens < 1 || tokens > 1e9 || floor(tokens) != tokens) {
            verr_set(e, "the max-tokens setting must be a positive integer", "[s,s,s,s]", "body",
                     "policy", "config", tok_keys[i]);
            return -1;
        }
        tok_key = tok_keys[i];
    }
    if (tok_key && (r->adapt & ADAPT_MAX_COMPLETION_TOKENS))
        tok_key = "max_completion_tokens";
    else if (tok_key && (r->adapt & ADAPT_MAX_TOKENS))
        tok_key = "max_tokens";
    if (r->adapt & ADAPT_NO_TEMPERATURE)
        temp = NULL; /* (temperature_zero stays: the caching decision is the caller's) */

    if (bad_model) {
        verr_set(e, "model must be valid UTF-8", "[s,s,s,s]", "body", "policy", "config", "model");
        return -1;
    }
    buf_reserve(b, 1024);
    if (r->mode == OUTPUT_TOOL_CALLS) {
        jw_raw(b, ",\"tools\":[" TOOL_JSON "]");
        if (def->tool_choice_function || (r->adapt & ADAPT_FORCE_FUNCTION))
            jw_raw(b, ",\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"" REPLY_TOOL_NAME
                      "\"}}");
        else
            jw_raw(b, ",\"tool_choice\":\"required\"");
    } else if (r->mode == OUTPUT_STRUCTURED) {
        jw_raw(b, ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":"
                  "\"banking77_intent\",\"strict\":true,\"schema\":{\"type\":\"object\","
                  "\"properties\":{\"intent\":{\"type\":\"string\"}},\"required\":[\"intent\"],"
                  "\"additionalProperties\":false}}}");
    }
    if (temp) {
        jw_raw(b, ",\"temperature\":");
        jw_value(b, temp);
    }
    r->max_tokens = tok_key ? (long)tokens : 0;
    if (tok_key) {
        buf_puts(b, ",\"");
        buf_puts(b, tok_key);
        buf_puts(b, "\":");
        jw_int(b, (int64_t)tokens);
    }
    buf_putc(b, '}');
    return 0;
}

int rollout_prepare(const json_t *body, const dataset *ds, const rollout_defaults *def,
                    rollout *r, verr *e)
{
    memset(r, 0, sizeof *r);
    const char *run_id, *tcid, *split_name = NULL, *mode_s = NULL;
    const json_t *env, *envcfg = NULL, *policy, *cfg = NULL, *safety;
    if (opt_string(body, "run_id", &run_id, e, PATH(NULL)) ||
        opt_string(body, "trace_correlation_id", &tcid, e, PATH(NULL)) ||
        opt_object(body, "env", &env, e, PATH(NULL)) ||
        opt_object(env, "config", &envcfg, e, PATH("env")) ||
        opt_object(body, "policy", &policy, e, PATH(NULL)) ||
        opt_object(policy, "config", &cfg, e, PATH("policy")) ||
        opt_object(body, "safety", &safety, e, PATH(NULL)))
        return -1;

    int64_t seed;
    if (pick_seed(env, envcfg, &seed, e) != 0)
        return -1;
    r->split = def->default_split;
    if (opt_string(envcfg, "split", &split_name, e, PATH("env", "config")))
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
    if (opt_string(policy, "output_mode", &mode_s, e, PATH("policy")))
        return -1;
    if (!mode_s && opt_string(cfg, "output_mode", &mode_s, e, PATH("policy", "config")))
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

    /* the form this LLM server accepts; one that refuses tools or
     * response_format is read in text mode */
    r->adapt = def->adapt | (def->adapt_for ? def->adapt_for(def->adapt_arg, call_url, model) : 0);
    if ((r->mode == OUTPUT_TOOL_CALLS && (r->adapt & ADAPT_NO_TOOLS)) ||
        (r->mode == OUTPUT_STRUCTURED && (r->adapt & ADAPT_NO_RESPONSE_FORMAT)))
        r->mode = OUTPUT_TEXT;

    prompt_vars vars = {
        .query = dataset_text(ds, r->split, r->row),
        .available_intents = dataset_available_intents(ds),
        .intents = dataset_intents_joined(ds),
        .available_intents_json = dataset_available_intents_json(ds),
        .intents_json = dataset_intents_joined_json(ds),
        .tool_demos = r->mode == OUTPUT_TOOL_CALLS,
    };
    /* The upstream request is written around the messages as they render:
     * the response's copies of them are taken from it. */
    buf ub = {0};
    buf_reserve(&ub, 4096);
    jw_raw(&ub, "{\"model\":");
    int bad_model = jw_cstr(&ub, model);
    jw_raw(&ub, ",\"messages\":");
    size_t messages_at = ub.len;
    if (prompt_render_messages(json_object_get(cfg, "prompt_template"), &vars, def->short_user, e,
                               def->text_only ? NULL : &r->messages, &ub) != 0) {
        buf_free(&ub);
        free(call_url);
        return -1;
    }
    r->messages_json_len = ub.len - messages_at;
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

    if (build_upstream_body(r, cfg, def, &ub, bad_model, e) != 0) {
        buf_free(&ub);
        rollout_free(r);
        return -1;
    }
    r->upstream_body_len = ub.len;
    r->upstream_body = buf_steal(&ub);
    r->messages_json = r->upstream_body + messages_at;
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
    free(r->upstream_body); /* messages_json points into it */
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
    json_object_set_new(info, "extraction", json_string(extract_path_name(reply->extraction)));
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
        "{s:s,s:s,s:[o],s:{},s:o,s:{s:f,s:o},s:s,s:{s:s},s:o,s:b,s:i,s:s,s:s}", "run_id", r->run_id,
        "trace_correlation_id", r->trace_id, "trajectories", traj, "branches", "metrics", metrics,
        "reward_info", "outcome_reward", reward, "details", details, "inference_url",
        r->inference_url, "pipeline_metadata", "inference_url", r->inference_url, "trace", trace,
        "aborted", 0, "ops_executed", 1, "success_status", "success", "status_detail",
        "completed");
    return resp;
}

json_t *rollout_response(const rollout *r, const dataset *ds, const llm_reply *reply,
                         const rollout_stats *st)
{
    return response(r, ds, reply, st, r->messages);
}

/* The response written directly, key for key in the order response() packs
 * them (the unit tests and the fuzzer hold the two to the same bytes). */
char *rollout_response_text(const rollout *r, const dataset *ds, const llm_reply *reply,
                            const rollout_stats *st)
{
    const char *split = dataset_split_name(r->split);
    const char *query = dataset_text(ds, r->split, r->row);
    const char *label = dataset_label_name(ds, dataset_label(ds, r->split, r->row));
    int correct = reply_matches(reply->predicted, label);
    const char *reward = correct ? "1.0" : "0.0";
    const char *yes = correct ? "true" : "false";
    int bad = 0;

    /* The parts that occur more than once. */
    buf obs = {0}, usage = {0}, details = {0};
    jw_raw(&obs, "{\"query\":");
    bad |= jw_cstr(&obs, query);
    jw_raw(&obs, ",\"index\":");
    jw_int(&obs, (int64_t)r->row);
    jw_raw(&obs, ",\"split\":");
    bad |= jw_cstr(&obs, split);
    buf_putc(&obs, '}');
    bad |= jw_value(&usage, reply->usage);
    jw_raw(&details, "{\"correct\":");
    buf_puts(&details, yes);
    jw_raw(&details, ",\"usage\":");
    buf_append(&details, usage.data, usage.len);
    buf_putc(&details, '}');

    buf b = {0};
    buf_reserve(&b, 2 * r->messages_json_len + 4 * usage.len + 2 * obs.len + 2 * details.len + 2048);
    jw_raw(&b, "{\"run_id\":");
    bad |= jw_cstr(&b, r->run_id);
    jw_raw(&b, ",\"trace_correlation_id\":");
    bad |= jw_cstr(&b, r->trace_id);
    jw_raw(&b, ",\"trajectories\":[{\"env_id\":\"banking77::");
    buf_puts(&b, split);
    jw_raw(&b, "::");
    jw_int(&b, (int64_t)r->row);
    jw_raw(&b, "\",\"policy_id\":");
    bad |= jw_cstr(&b, r->policy_id);
    jw_raw(&b, ",\"steps\":[{\"obs\":");
    buf_append(&b, obs.data, obs.len);
    jw_raw(&b, ",\"tool_calls\":");
    bad |= jw_value(&b, reply->tool_calls);
    jw_raw(&b, ",\"reward\":");
    buf_puts(&b, reward);
    jw_raw(&b, ",\"done\":true,\"info\":{\"expected_intent\":");
    bad |= jw_cstr(&b, label);
    jw_raw(&b, ",\"predicted_intent\":");
    if (!reply->predicted || jw_cstr(&b, reply->predicted))
        jw_raw(&b, "\"\"");
    jw_raw(&b, ",\"correct\":");
    buf_puts(&b, yes);
    jw_raw(&b, ",\"messages\":");
    buf_append(&b, r->messages_json, r->messages_json_len);
    jw_raw(&b, ",\"meta\":{\"inference_url\":");
    bad |= jw_cstr(&b, r->call_url);
    jw_raw(&b, ",\"model\":");
    bad |= jw_cstr(&b, r->model);
    jw_raw(&b, "},\"attempts\":");
    jw_int(&b, st->attempts);
    jw_raw(&b, ",\"latency_ms\":");
    jw_int(&b, st->llm_ms);
    jw_raw(&b, ",\"usage\":");
    buf_append(&b, usage.data, usage.len);
    if (!reply->predicted) {
        jw_raw(&b, ",\"reason\":");
        if (jw_cstr(&b, reply->reason))
            jw_raw(&b, "\"\"");
    }
    jw_raw(&b, ",\"extraction\":\"");
    buf_puts(&b, extract_path_name(reply->extraction));
    jw_raw(&b, "\",\"cache\":");
    bad |= jw_cstr(&b, st->cache ? st->cache : "off");
    jw_raw(&b, "}}],\"final\":{\"observation\":");
    buf_append(&b, obs.data, obs.len);
    jw_raw(&b, ",\"reward\":");
    buf_puts(&b, reward);
    jw_raw(&b, "},\"length\":1,\"inference_url\":");
    bad |= jw_cstr(&b, r->inference_url);
    /* metrics and reward_info: the reward eight times, details twice */
    static const char *const metric_parts[] = {
        "}],\"branches\":{},\"metrics\":{\"episode_returns\":[", "],\"mean_return\":",
        ",\"num_steps\":1,\"num_episodes\":1,\"outcome_score\":", ",\"events_score\":",
        ",\"outcome_reward\":", ",\"outcome_objectives\":{\"reward\":", "},\"reward_mean\":",
        ",\"details\":", "},\"reward_info\":{\"outcome_reward\":"};
    for (size_t i = 0; i < B77_ARRAY_LEN(metric_parts); i++) {
        buf_puts(&b, metric_parts[i]);
        if (i == 7)
            buf_append(&b, details.data, details.len);
        else
            buf_puts(&b, reward);
    }
    jw_raw(&b, ",\"details\":");
    buf_append(&b, details.data, details.len);
    jw_raw(&b, "},\"inference_url\":");
    bad |= jw_cstr(&b, r->inference_url);
    jw_raw(&b, ",\"pipeline_metadata\":{\"inference_url\":");
    bad |= jw_cstr(&b, r->inference_url);
    jw_raw(&b, "},\"trace\":{\"schema_version\":\"3.0\",\"event_history\":[{\"type\":"
               "\"lm_call\",\"llm_request\":{\"messages\":");
    buf_append(&b, r->messages_json, r->messages_json_len);
    jw_raw(&b, ",\"model\":");
    bad |= jw_cstr(&b, r->model);
    jw_raw(&b, "},\"llm_response\":{\"message\":");
    bad |= jw_value(&b, reply->message);
    jw_raw(&b, ",\"usage\":");
    buf_append(&b, usage.data, usage.len);
    jw_raw(&b, "}}],\"metadata\":{\"trace_correlation_id\":");
    bad |= jw_cstr(&b, r->trace_id);
    jw_raw(&b, ",\"run_id\":");
    bad |= jw_cstr(&b, r->run_id);
    jw_raw(&b, ",\"env\":\"banking77\"}},\"aborted\":false,\"ops_executed\":1,"
               "\"success_status\":\"success\",\"status_detail\":\"completed\"}");

    buf_free(&obs);
    buf_free(&usage);
    buf_free(&details);
    if (bad) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

json_t *rollout_parse_body(const char *text, size_t len, char *err, size_t errlen)
{
    jr_error jerr;
    json_t *body = jr_parse(text, len, JR_REJECT_DUPLICATES, &jerr);
    if (!body && jerr.overflow)
        body = jr_parse(text, len, JR_REJECT_DUPLICATES | JR_INT_AS_REAL, &jerr);
    if (!body) {
        snprintf(err, errlen, "invalid JSON body: %s (line %d, column %d, byte %zu)", jerr.text,
                 jerr.line, jerr.column, jerr.position);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        snprintf(err, errlen, "the JSON body must be an object");
        return NULL;
    }
    return body;
}
