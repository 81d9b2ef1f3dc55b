/* contract.c: see contract.h. */
#include "contract.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jalloc.h"
#include "prompt.h"
#include "sha256.h"
#include "util.h"

#define MAX_DEMOS 64
#define MAX_FIELD_BYTES (64 * 1024)

int contract_rollout_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > CONTRACT_ROLLOUT_ID_MAX || !isalnum((unsigned char)id[0]))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != ':' && c != '-')
            return 0;
    }
    return 1;
}

/* ---- the request --------------------------------------------------------- */

enum kind { K_STRING, K_OBJECT, K_ARRAY, K_ANY };

typedef struct field {
    const char *name;
    enum kind kind;
} field;

/* RolloutRequestModel's fields. */
static const field request_fields[] = {
    {"rollout_id", K_STRING},       {"trace_correlation_id", K_STRING},
    {"trial_id", K_STRING},         {"submission_mode", K_STRING},
    {"run_id", K_STRING},           {"mode", K_STRING},
    {"task_id", K_STRING},          {"task_instance_id", K_STRING},
    {"task_metadata", K_OBJECT},    {"env", K_OBJECT},
    {"policy", K_OBJECT},           {"candidate", K_OBJECT},
    {"candidate_overlay", K_OBJECT}, {"task", K_OBJECT},
    {"metadata", K_OBJECT},         {"checkpoint", K_ANY},
    {"checkpoint_id", K_STRING},    {"checkpoint_data_base64", K_STRING},
    {"target_rollout_id", K_STRING}, {"long_horizon", K_OBJECT},
    {"terminator", K_OBJECT},       {"task_payload", K_OBJECT},
    {"taskset", K_OBJECT},          {"actors", K_ARRAY},
    {"actor_ids", K_ARRAY},         {"actor_overrides", K_OBJECT},
    {"telemetry", K_OBJECT},
};

/* RolloutPolicySpecModel's fields. */
static const field policy_fields[] = {
    {"provider", K_STRING},       {"model", K_STRING},          {"api_family", K_STRING},
    {"base_url", K_STRING},       {"inference_url", K_STRING},  {"max_tokens", K_ANY},
    {"disable_reasoning", K_ANY}, {"tool_call_style", K_STRING}, {"proxy_mode", K_STRING},
    {"credential_mode", K_STRING}, {"config", K_OBJECT},
};

static const char *const candidate_fields[] = {"instruction", "demonstrations", "user_template"};

static const char *kind_name(enum kind k)
{
    return k == K_STRING ? "a string" : k == K_OBJECT ? "an object" : "an array";
}

/* Refuses a field obj does not know and a known one of the wrong type
 * (null stands for absent). loc: "body" then the parent, or NULL. */
static int check_fields(const json_t *obj, const field *fs, size_t n, const char *parent, verr *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(fs[i].name, key) != 0)
            i++;
        char msg[300];
        if (i == n) {
            snprintf(msg, sizeof msg, "%s%s%.80s is not a field of this contract's %s (extra "
                     "fields are refused, as the reference does)", parent ? parent : "",
                     parent ? "." : "", key, parent ? parent : "rollout request");
            if (parent)
                verr_set(e, msg, "[s,s,s]", "body", parent, key);
            else
                verr_set(e, msg, "[s,s]", "body", key);
            return -1;
        }
        enum kind k = fs[i].kind;
        if (json_is_null(v) || k == K_ANY)
            continue;
        if ((k == K_STRING && !json_is_string(v)) || (k == K_OBJECT && !json_is_object(v)) ||
            (k == K_ARRAY && !json_is_array(v))) {
            snprintf(msg, sizeof msg, "%s%s%s must be %s", parent ? parent : "", parent ? "." : "",
                     key, kind_name(k));
            if (parent)
                verr_set(e, msg, "[s,s,s]", "body", parent, key);
            else
                verr_set(e, msg, "[s,s]", "body", key);
            return -1;
        }
    }
    return 0;
}

static const char *str_field(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The reference's raw-credential rule: a key, at any depth, that reads as
 * a secret. Returns the first such key, or NULL. */
static const char *raw_credential_key(const json_t *v)
{
    static const char *const keys[] = {"access_token", "api_key",  "apikey",
                                       "authorization", "bearer_token", "openai_api_key",
                                       "openrouter_api_key", "secret_key"};
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            char norm[96];
            size_t n = 0;
            const char *p = key;
            while (*p == ' ' || *p == '\t')
                p++;
            for (; *p && n + 1 < sizeof norm; p++)
                norm[n++] = *p == '-' ? '_' : (char)tolower((unsigned char)*p);
            while (n && (norm[n - 1] == ' ' || norm[n - 1] == '\t'))
                n--;
            norm[n] = '\0';
            for (size_t i = 0; i < B77_ARRAY_LEN(keys); i++)
                if (strcmp(norm, keys[i]) == 0)
                    return key;
            if (n >= 8 && strcmp(norm + n - 8, "_api_key") == 0)
                return key;
            const char *inner = raw_credential_key(x);
            if (inner)
                return inner;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach((json_t *)v, i, x) {
            const char *inner = raw_credential_key(x);
            if (inner)
                return inner;
        }
    }
    return NULL;
}

/* task_instance_id: "banking77::SPLIT::INDEX" (the env_id POST /rollout
 * answers), "SPLIT:INDEX", "SPLIT/INDEX", or a bare seed. */
static int parse_instance(const char *s, char split[8], json_t **seed)
{
    split[0] = '\0';
    const char *num = s;
    if (strncmp(s, "banking77::", 11) == 0)
        s += 11;
    const char *sep = strpbrk(s, ":/");
    if (sep) {
        size_t n = (size_t)(sep - s);
        if (n == 0 || n >= 8)
            return -1;
        memcpy(split, s, n);
        split[n] = '\0';
        num = sep + 1;
        while (*num == ':' || *num == '/')
            num++;
    } else {
        num = s;
    }
    if (!*num)
        return -1;
    for (const char *p = num; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (strlen(num) > 18)
        return -1;
    *seed = json_integer((json_int_t)strtoll(num, NULL, 10));
    return 0;
}

static void fingerprint(const json_t *body, const char *rollout_id, const char *tcid,
                        unsigned char out[32])
{
    json_t *c = json_deep_copy(body);
    json_object_del(c, "submission_mode");
    json_object_set_new(c, "rollout_id", json_string(rollout_id));
    json_object_set_new(c, "trace_correlation_id", json_string(tcid));
    char *text = jalloc_dumps(c, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    sha256_of(text ? text : "", text ? strlen(text) : 0, out);
    free(text);
    json_decref(c);
}

/* The candidate fields of candidate with those of overlay over them (a new
 * object), or NULL with e set. */
static json_t *merged_candidate(const json_t *candidate, const json_t *overlay, verr *e)
{
    json_t *out = json_object();
    if (candidate)
        json_object_update(out, (json_t *)candidate);
    if (overlay) {
        const json_t *inner = json_object_get(overlay, "candidate");
        if (inner && !json_is_object(inner)) {
            verr_set(e, "candidate_overlay.candidate must be an object", "[s,s,s]", "body",
                     "candidate_overlay", "candidate");
            json_decref(out);
            return NULL;
        }
        if (inner) {
            json_object_update(out, (json_t *)inner);
        } else {
            json_t *flat = json_deep_copy(overlay);
            json_object_del(flat, "metadata");
            json_object_update(out, flat);
            json_decref(flat);
        }
    }
    return out;
}

int contract_parse_request(const json_t *body, const char *generated_id, contract_request *out,
                           verr *e)
{
    memset(out, 0, sizeof *out);
    if (check_fields(body, request_fields, B77_ARRAY_LEN(request_fields), NULL, e) != 0)
        return -1;
    const json_t *policy = json_object_get(body, "policy");
    const json_t *env = json_object_get(body, "env");
    if (json_is_null(policy))
        policy = NULL;
    if (policy && check_fields(policy, policy_fields, B77_ARRAY_LEN(policy_fields), "policy", e))
        return -1;
    const json_t *pcfg = json_object_get(policy, "config");
    if (json_is_null(pcfg))
        pcfg = NULL;
    const char *cred = raw_credential_key(pcfg);
    if (cred) {
        char msg[300];
        snprintf(msg, sizeof msg, "policy.config must not carry raw credential field '%.60s'; "
                 "set credential_mode and resolve credentials inside the container or proxy "
                 "(this server sends the keys it was started with)", cred);
        verr_set(e, msg, "[s,s,s]", "body", "policy", "config");
        return -1;
    }
    if (policy && (!str_field(policy, "provider") || !str_field(policy, "model"))) {
        const char *missing = !str_field(policy, "provider") ? "provider" : "model";
        char msg[120];
        snprintf(msg, sizeof msg, "policy.%s is required", missing);
        verr_set(e, msg, "[s,s,s]", "body", "policy", missing);
        return -1;
    }
    const char *api = str_field(policy, "api_family");
    if (api && strcmp(api, "chat_completions") != 0) {
        verr_set(e, "policy.api_family: this task app calls chat completions only "
                    "(\"chat_completions\")", "[s,s,s]", "body", "policy", "api_family");
        return -1;
    }
    const json_t *mt = json_object_get(policy, "max_tokens");
    if (mt && !json_is_null(mt) && (!json_is_integer(mt) || json_integer_value(mt) <= 0)) {
        verr_set(e, "policy.max_tokens must be a positive integer", "[s,s,s]", "body", "policy",
                 "max_tokens");
        return -1;
    }
    static const char *const unsupported[] = {"checkpoint", "checkpoint_id",
                                              "checkpoint_data_base64", "target_rollout_id"};
    for (size_t i = 0; i < B77_ARRAY_LEN(unsupported); i++) {
        const json_t *v = json_object_get(body, unsupported[i]);
        if (v && !json_is_null(v)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: checkpoints are not supported (a Banking77 rollout "
                     "is one step; /metadata says checkpoint_support false)", unsupported[i]);
            verr_set(e, msg, "[s,s]", "body", unsupported[i]);
            return -1;
        }
    }
    const char *mode = str_field(body, "submission_mode");
    int async = 0;
    if (mode && strcmp(mode, "async") == 0) {
        async = 1;
    } else if (mode && strcmp(mode, "sync") != 0 && strcmp(mode, "blocking") != 0) {
        verr_set(e, "submission_mode must be \"sync\" or \"async\"", "[s,s]", "body",
                 "submission_mode");
        return -1;
    }
    const char *task_id = str_field(body, "task_id");
    if (task_id && strcmp(task_id, "banking77") != 0 &&
        strcmp(task_id, "banking77_intent_classification") != 0) {
        verr_set(e, "task_id: this task app serves \"banking77\" only", "[s,s]", "body", "task_id");
        return -1;
    }
    const char *id = str_field(body, "rollout_id");
    if (id && !contract_rollout_id_valid(id)) {
        verr_set(e, "rollout_id must be 1-128 characters of letters, digits, _, ., : or - and "
                    "start with a letter or digit", "[s,s]", "body", "rollout_id");
        return -1;
    }
    if (!id)
        id = generated_id;
    const char *tcid = str_field(body, "trace_correlation_id");
    if (tcid && !*tcid) {
        verr_set(e, "trace_correlation_id must be a non-empty string", "[s,s]", "body",
                 "trace_correlation_id");
        return -1;
    }
    if (!tcid)
        tcid = id;

    /* the seed and split: env.seed / env.config, else task_instance_id */
    json_t *envcfg = json_object_get(env, "config");
    json_t *seed = json_object_get(env, "seed");
    if (!seed || json_is_null(seed))
        seed = json_object_get(envcfg, "seed");
    seed = seed && !json_is_null(seed) ? json_incref(seed) : NULL;
    const char *split = str_field(envcfg, "split");
    if (envcfg && !json_is_object(envcfg)) {
        json_decref(seed);
        verr_set(e, "env.config must be an object", "[s,s,s]", "body", "env", "config");
        return -1;
    }
    char isplit[8] = "";
    const char *inst = str_field(body, "task_instance_id");
    if (inst) {
        json_t *iseed = NULL;
        if (parse_instance(inst, isplit, &iseed) != 0) {
            json_decref(seed);
            verr_set(e, "task_instance_id must be \"banking77::SPLIT::INDEX\", \"SPLIT:INDEX\" or "
                        "a seed", "[s,s]", "body", "task_instance_id");
            return -1;
        }
        if (!seed)
            seed = iseed;
        else
            json_decref(iseed);
        if (!split && isplit[0])
            split = isplit;
    }

    /* the prompt: the candidate (and its overlay) over the seed candidate */
    json_t *tmpl = NULL;
    const json_t *cand = json_object_get(body, "candidate");
    const json_t *ovl = json_object_get(body, "candidate_overlay");
    if ((cand && json_object_size(cand)) || (ovl && json_object_size(ovl))) {
        json_t *merged = merged_candidate(json_is_object(cand) ? cand : NULL,
                                          json_is_object(ovl) ? ovl : NULL, e);
        if (merged)
            tmpl = contract_candidate_template(merged, "candidate", e);
        json_decref(merged);
        if (!tmpl) {
            json_decref(seed);
            return -1;
        }
    }

    json_t *cfg = pcfg ? json_deep_copy(pcfg) : json_object();
    if (policy) {
        json_object_set_new(cfg, "model", json_string(str_field(policy, "model")));
        const char *url = str_field(policy, "inference_url");
        if (!url)
            url = str_field(policy, "base_url");
        if (url)
            json_object_set_new(cfg, "inference_url", json_string(url));
        if (mt && json_is_integer(mt) && !json_object_get(cfg, "max_tokens") &&
            !json_object_get(cfg, "max_completion_tokens"))
            json_object_set(cfg, "max_tokens", (json_t *)mt);
    }
    if (tmpl)
        json_object_set_new(cfg, "prompt_template", tmpl);
    json_t *lenv = json_object();
    if (seed)
        json_object_set(lenv, "seed", seed);
    if (split)
        json_object_set_new(lenv, "config", json_pack("{s:s}", "split", split));
    const char *trial = str_field(body, "trial_id");
    out->legacy = json_pack("{s:s,s:s,s:o,s:{s:s,s:o}}", "run_id", id, "trace_correlation_id",
                            tcid, "env", lenv, "policy", "policy_id", trial ? trial : "policy",
                            "config", cfg);
    out->rollout_id = xstrdup(id);
    out->trace_correlation_id = xstrdup(tcid);
    out->trial_id = trial ? xstrdup(trial) : NULL;
    out->async = async;
    out->seed = seed;
    fingerprint(body, id, tcid, out->fingerprint);
    return 0;
}

void contract_request_free(contract_request *r)
{
    if (!r)
        return;
    free(r->rollout_id);
    free(r->trace_correlation_id);
    free(r->trial_id);
    json_decref(r->seed);
    json_decref(r->legacy);
    memset(r, 0, sizeof *r);
}

/* ---- the candidate ------------------------------------------------------- */

static const char *first_of(const json_t *o, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = str_field(o, keys[i]);
        if (s)
            return s;
    }
    return NULL;
}

/* The demonstrations as user/assistant sections appended to secs. */
static int add_demos(json_t *secs, const json_t *demos, const char *root, verr *e)
{
    json_t *parsed = NULL;
    if (json_is_string(demos)) {
        const char *t = json_string_value(demos);
        while (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r')
            t++;
        if (!*t)
            return 0;
        parsed = json_loads(t, JSON_REJECT_DUPLICATES, NULL);
        if (!parsed) {
            verr_set(e, "demonstrations must be a JSON array of {\"query\", \"intent\"} (or its "
                        "text)", "[s,s,s]", "body", root, "demonstrations");
            return -1;
        }
        demos = parsed;
    }
    if (!json_is_array(demos)) {
        json_decref(parsed);
        verr_set(e, "demonstrations must be an array of {\"query\", \"intent\"}", "[s,s,s]", "body",
                 root, "demonstrations");
        return -1;
    }
    if (json_array_size(demos) > MAX_DEMOS) {
        json_decref(parsed);
        verr_set(e, "demonstrations: at most 64", "[s,s,s]", "body", root, "demonstrations");
        return -1;
    }
    static const char *const qkeys[] = {"query", "text", "input"};
    static const char *const lkeys[] = {"intent", "label", "output", "answer"};
    size_t i;
    json_t *d;
    json_array_foreach(demos, i, d) {
        const char *q = first_of(d, qkeys, B77_ARRAY_LEN(qkeys));
        const char *l = first_of(d, lkeys, B77_ARRAY_LEN(lkeys));
        if (!q || !l) {
            json_decref(parsed);
            verr_set(e, "each demonstration needs a \"query\" and an \"intent\" string",
                     "[s,s,s,i]", "body", root, "demonstrations", (int)i);
            return -1;
        }
        prompt_append_demo(secs, q, l);
    }
    json_decref(parsed);
    return 0;
}

json_t *contract_candidate_template(const json_t *candidate, const char *root, verr *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)candidate, key, v) {
        size_t i = 0;
        while (i < B77_ARRAY_LEN(candidate_fields) && strcmp(candidate_fields[i], key) != 0)
            i++;
        char msg[300];
        if (i == B77_ARRAY_LEN(candidate_fields)) {
            snprintf(msg, sizeof msg, "%s.%.80s is not a field of this program: the fields are "
                     "instruction, demonstrations and user_template (GET /program)", root, key);
            verr_set(e, msg, "[s,s,s]", "body", root, key);
            return NULL;
        }
        if (strcmp(key, "demonstrations") != 0 && !json_is_string(v)) {
            snprintf(msg, sizeof msg, "%s.%s must be a string", root, key);
            verr_set(e, msg, "[s,s,s]", "body", root, key);
            return NULL;
        }
        if (json_is_string(v) && json_string_length(v) > MAX_FIELD_BYTES) {
            snprintf(msg, sizeof msg, "%s.%s is longer than %d bytes", root, key, MAX_FIELD_BYTES);
            verr_set(e, msg, "[s,s,s]", "body", root, key);
            return NULL;
        }
    }
    const char *ins = str_field(candidate, "instruction");
    const char *user = str_field(candidate, "user_template");
    json_t *secs = json_array();
    json_array_append_new(secs, json_pack("{s:s,s:s,s:s}", "role", "system", "name", "instruction",
                                          "content", ins ? ins : PROMPT_DEFAULT_SYSTEM));
    const json_t *demos = json_object_get(candidate, "demonstrations");
    if (demos && !json_is_null(demos) && add_demos(secs, demos, root, e) != 0) {
        json_decref(secs);
        return NULL;
    }
    json_array_append_new(secs, json_pack("{s:s,s:s,s:s}", "role", "user", "name", "user_template",
                                          "content", user ? user : PROMPT_DEFAULT_USER));
    return json_pack("{s:o}", "sections", secs);
}

json_t *contract_program(void)
{
    json_t *modules = json_pack(
        "[{s:s,s:s,s:s,s:b,s:s,s:[s,s,s],s:{s:s}},"
        "{s:s,s:s,s:s,s:b,s:s,s:[],s:{s:s,s:s,s:i}},"
        "{s:s,s:s,s:s,s:b,s:s,s:[s,s,s],s:{s:s}}]",
        "module_id", "instruction", "role", "system", "content", PROMPT_DEFAULT_SYSTEM, "mutable", 1,
        "candidate_field", "instruction", "template_variables", "query", "available_intents",
        "intents", "metadata", "description",
        "the system message: how to classify (placeholders allowed; {{ and }} are braces)",
        "module_id", "demonstrations", "role", "user/assistant", "content", "[]", "mutable", 1,
        "candidate_field", "demonstrations", "template_variables", "metadata", "description",
        "few-shot examples before the query, each a user turn \"Customer Query: <query>\" and "
        "the answer as the banking77_classify tool's call",
        "format", "a JSON array (or its text) of {\"query\": string, \"intent\": string}",
        "max_items", MAX_DEMOS,
        "module_id", "user_template", "role", "user", "content", PROMPT_DEFAULT_USER, "mutable", 1,
        "candidate_field", "user_template", "template_variables", "query", "available_intents",
        "intents", "metadata", "description",
        "the user message that carries the query ({query} or {text})");
    json_t *targets = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "module_id", "instruction",
                                "candidate_field", "instruction", "objective",
                                "maximise intent accuracy (reward 1.0 per correct label)",
                                "module_id", "demonstrations", "candidate_field",
                                "demonstrations", "objective",
                                "maximise intent accuracy (reward 1.0 per correct label)");
    json_t *seed = json_pack("{s:s,s:s,s:s}", "instruction", PROMPT_DEFAULT_SYSTEM,
                             "demonstrations", "[]", "user_template", PROMPT_DEFAULT_USER);
    json_t *overlay = json_pack(
        "{s:s,s:{s:{s:s},s:{s:s},s:{s:s}},s:b}", "type", "object", "properties", "instruction",
        "type", "string", "demonstrations", "type", "array|string", "user_template", "type",
        "string", "additionalProperties", 0);
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:{s:s,s:s,s:s,s:s}}", "version",
                     CONTRACT_PROGRAM_VERSION, "contract_version", CONTRACT_VERSION, "program_id",
                     "banking77_classify", "modules", modules, "target_modules", targets,
                     "seed_candidate", seed, "rollout_overlay_schema", overlay, "metadata",
                     "task_id", "banking77", "rollout_route", "/rollouts", "candidate_in",
                     "POST /rollouts: candidate, candidate_overlay.candidate", "validate_route",
                     "/validate-candidate");
}

/* ---- the answer ---------------------------------------------------------- */

void contract_iso_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

const char *contract_success_status(unsigned http_status)
{
    if (http_status >= 200 && http_status < 300)
        return "success";
    if (http_status == 504)
        return "timeout";
    if (http_status == 502)
        return "network_error";
    if (http_status == 400 || http_status == 422)
        return "apply_failed";
    return "failure";
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *ident(const contract_result_meta *m, const char *status, const char *success,
                     const char *status_detail)
{
    const contract_request *q = m->req;
    char created[32], updated[32];
    contract_iso_time(m->created_ms, created);
    contract_iso_time(m->updated_ms, updated);
    json_t *o = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:s}", "rollout_id", q->rollout_id,
                          "trace_correlation_id", q->trace_correlation_id, "trial_id",
                          str_or_null(q->trial_id), "status", status, "success_status", success,
                          "status_detail", status_detail, "task_id", "banking77", "created_at",
                          created, "updated_at", updated);
    return o;
}

json_t *contract_result(const json_t *legacy, const contract_result_meta *m)
{
    const json_t *traj = json_array_get(json_object_get(legacy, "trajectories"), 0);
    const json_t *step = json_array_get(json_object_get(traj, "steps"), 0);
    const json_t *obs = json_object_get(step, "obs");
    const json_t *info = json_object_get(step, "info");
    const json_t *ri = json_object_get(legacy, "reward_info");
    double r = json_number_value(json_object_get(ri, "outcome_reward"));
    const json_t *usage = json_object_get(info, "usage");
    const char *split = str_field(obs, "split");
    json_int_t index = json_integer_value(json_object_get(obs, "index"));
    json_t *seed = m->req->seed ? json_incref(m->req->seed) : json_null();

    json_t *o = ident(m, "completed", "success", "completed");
    char inst[64];
    snprintf(inst, sizeof inst, "banking77::%s::%lld", split ? split : "", (long long)index);
    json_object_set_new(o, "task_instance_id", json_string(inst));
    json_object_set(o, "seed", seed);
    json_object_set_new(o, "checkpoint_id", json_null());
    json_object_set_new(o, "checkpoint", json_null());
    json_t *details = json_pack("{s:O,s:O,s:O,s:s,s:I,s:O,s:O,s:O}", "correct",
                                json_object_get(info, "correct"), "expected_intent",
                                json_object_get(info, "expected_intent"), "predicted_intent",
                                json_object_get(info, "predicted_intent"), "split",
                                split ? split : "", "index", index, "seed", seed, "usage",
                                usage ? (json_t *)usage : json_object(), "extraction",
                                json_object_get(info, "extraction") ? json_object_get(info, "extraction") : json_null());
    if (json_object_get(info, "reason"))
        json_object_set(details, "reason", json_object_get(info, "reason"));
    json_object_set_new(o, "reward_info",
                        json_pack("{s:f,s:[f],s:{s:f},s:o}", "outcome_reward", r, "event_rewards",
                                  r, "outcome_objectives", "reward", r, "details", details));
    json_t *summary = json_pack("{s:f,s:s,s:s,s:O}", "outcome_reward", r, "task_id", "banking77",
                                "dataset_split", split ? split : "", "seed", seed);
    if (m->req->trial_id)
        json_object_set_new(summary, "trial_id", json_string(m->req->trial_id));
    json_object_set_new(o, "summary", summary);
    json_object_set(o, "usage", usage ? (json_t *)usage : json_object());
    json_object_set_new(o, "artifacts", json_array());
    json_t *trace = json_deep_copy(json_object_get(legacy, "trace"));
    if (!trace)
        trace = json_object();
    json_t *tm = json_object_get(trace, "metadata");
    if (!json_is_object(tm)) {
        tm = json_object();
        json_object_set_new(trace, "metadata", tm);
    }
    json_object_set_new(tm, "rollout_id", json_string(m->req->rollout_id));
    json_object_set_new(tm, "task_id", json_string("banking77"));
    json_object_set_new(tm, "total_reward", json_real(r));
    json_object_set_new(tm, "status", json_string("completed"));
    json_object_set(tm, "seed", seed);
    json_object_set_new(o, "trace", trace);
    json_t *turns = json_pack("[{s:i,s:O,s:O,s:O,s:f,s:b}]", "turn_index", 0, "messages",
                              json_object_get(info, "messages"), "tool_calls",
                              json_object_get(step, "tool_calls"), "predicted_intent",
                              json_object_get(info, "predicted_intent"), "reward", r, "trainable",
                              0);
    json_object_set_new(o, "turns", turns);
    json_object_set_new(o, "metadata",
                        json_pack("{s:O,s:O,s:O,s:O}", "cache", json_object_get(info, "cache"),
                                  "attempts", json_object_get(info, "attempts"), "latency_ms",
                                  json_object_get(info, "latency_ms"), "meta",
                                  json_object_get(info, "meta")));
    json_object_set_new(o, "parent_rollout_id", json_null());
    json_object_set_new(o, "parent_checkpoint_id", json_null());
    json_object_set(o, "inference_url", json_object_get(legacy, "inference_url"));
    json_object_set(o, "trajectories", json_object_get(legacy, "trajectories"));
    json_object_set(o, "metrics", json_object_get(legacy, "metrics"));
    json_object_set_new(o, "replayed", json_false());
    json_decref(seed);
    return o;
}

json_t *contract_failure(unsigned http_status, const json_t *legacy_error,
                         const contract_result_meta *m)
{
    const char *d = str_field(legacy_error, "detail");
    if (!d)
        d = "the rollout failed";
    json_t *o = ident(m, "failed", contract_success_status(http_status), d);
    json_object_set_new(o, "detail", json_string(d));
    json_object_set_new(o, "http_status", json_integer((json_int_t)http_status));
    if (json_object_get(legacy_error, "error"))
        json_object_set(o, "error", json_object_get(legacy_error, "error"));
    json_object_set_new(o, "replayed", json_false());
    return o;
}

/* ---- /validate-candidate ------------------------------------------------- */

static void issue(json_t *list, const char *code, const char *msg, const char *path)
{
    json_array_append_new(list, json_pack("{s:s,s:s,s:o}", "code", code, "message", msg, "path",
                                          str_or_null(path)));
}

json_t *contract_validate_candidate(const json_t *body, const prompt_vars *vars)
{
    json_t *errors = json_array(), *warnings = json_array();
    const json_t *cand = json_object_get(body, "artifact_payload");
    const char *where = "artifact_payload";
    if (!cand) {
        cand = json_object_get(body, "candidate");
        where = "candidate";
    }
    json_t *owned = NULL;
    if (json_is_string(cand)) /* a bare instruction */
        cand = owned = json_pack("{s:O}", "instruction", cand);
    char *preview = NULL;
    if (!json_is_object(cand)) {
        issue(errors, "missing_candidate",
              "send the candidate as artifact_payload (or candidate): an object of instruction, "
              "demonstrations, user_template", where);
    } else {
        verr e = {0};
        json_t *tmpl = contract_candidate_template(cand, where, &e);
        if (!tmpl) {
            issue(errors, "invalid_field", e.msg, where);
        } else {
            buf out = {0};
            json_t *msgs = NULL;
            if (prompt_render_messages(tmpl, vars, 0, &e, &msgs, NULL) != 0) {
                issue(errors, "render_failed", e.msg, where);
            } else {
                size_t n = json_array_size(msgs), total = 0;
                for (size_t i = 0; i < n; i++) {
                    const json_t *mm = json_array_get(msgs, i);
                    const char *c = str_field(mm, "content");
                    total += c ? strlen(c) : 0;
                    buf_printf(&out, "[%s] %s\n", str_field(mm, "role") ? str_field(mm, "role") : "?",
                               c ? c : "");
                }
                if (total > 256 * 1024)
                    issue(errors, "too_large", "the rendered prompt is over 256 KiB", where);
                else if (total > 32 * 1024)
                    issue(warnings, "large_prompt", "the rendered prompt is over 32 KiB: every "
                                                    "rollout pays for it in tokens", where);
                preview = buf_steal(&out);
                if (strlen(preview) > 4000)
                    strcpy(preview + 3990, "\n[...]");
            }
            buf_free(&out);
            json_decref(msgs);
            const char *user = str_field(cand, "user_template");
            if (user && !strstr(user, "{query}") && !strstr(user, "{text}"))
                issue(warnings, "no_query_placeholder",
                      "user_template has no {query}: the default user message is appended after "
                      "it", where);
            const char *ins = str_field(cand, "instruction");
            if (ins && !*ins)
                issue(warnings, "empty_instruction", "the instruction is empty", where);
        }
        json_decref(tmpl);
        verr_clear(&e);
    }
    unsigned char d[32];
    char *canon = json_is_object(cand) ? jalloc_dumps(cand, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    sha256_of(canon ? canon : "", canon ? strlen(canon) : 0, d);
    free(canon);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    int ok = json_array_size(errors) == 0;
    json_t *r = json_pack("{s:s,s:o,s:o,s:o,s:s,s:s,s:[]}", "status", ok ? "valid" : "invalid",
                          "errors", errors, "warnings", warnings, "normalized_preview",
                          str_or_null(preview), "validation_digest", hex, "validator_version",
                          "banking77-candidate.v1", "suggested_fixes");
    const json_t *cid = json_object_get(body, "candidate_id");
    if (json_is_string(cid))
        json_object_set(r, "candidate_id", (json_t *)cid);
    free(preview);
    json_decref(owned);
    return r;
}
