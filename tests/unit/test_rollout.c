/* Unit tests: rollout request validation, seeds, the response shape, auth. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "dataset_load.h"
#include "rollout.h"
#include "test.h"
#include "util.h"

static dataset *ds;

static dataset *data(void)
{
    if (!ds) {
        char err[512];
        ds = dataset_load(test_data_dir(), 1, err, sizeof err);
        if (!ds)
            fprintf(stderr, "  cannot load dataset: %s\n", err);
    }
    return ds;
}

static const rollout_defaults DEF = {NULL, NULL, 1, 0, 0, 600.0, 0, 0, NULL, NULL};

static int prepare(const char *json, const rollout_defaults *def, rollout *r, verr *e)
{
    json_t *body = json_loads(json, 0, NULL);
    int rc = rollout_prepare(body, data(), def, r, e);
    json_decref(body);
    return rc;
}

static char *loc_of(verr *e)
{
    return json_dumps(e->loc, JSON_COMPACT);
}

/* 1 when rollout_response_text writes exactly what jansson dumps for resp. */
static int same_text(const json_t *resp, const rollout *r, const llm_reply *rep,
                     const rollout_stats *st)
{
    char *want = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char *got = rollout_response_text(r, data(), rep, st);
    int same = want && got && strcmp(want, got) == 0;
    if (!same)
        fprintf(stderr, "  want %s\n  got  %s\n", want, got ? got : "(null)");
    free(want);
    free(got);
    return same;
}

TEST(seed_parsing)
{
    int64_t s;
    json_t *v;
    CHECK(rollout_parse_seed(NULL, &s) == 0 && s == 0);
    CHECK(rollout_parse_seed(v = json_null(), &s) == 0 && s == 0);
    CHECK(rollout_parse_seed(v = json_integer(-5), &s) == 0 && s == -5);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_real(42.0), &s) == 0 && s == 42);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_real(42.5), &s) != 0);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_real(1e30), &s) != 0);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_string("42"), &s) == 0 && s == 42);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_string("-7"), &s) == 0 && s == -7);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_string("9223372036854775808"), &s) != 0);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_string("4x"), &s) != 0);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_string(""), &s) != 0);
    json_decref(v);
    CHECK(rollout_parse_seed(v = json_true(), &s) != 0);
    CHECK(rollout_parse_seed(v = json_array(), &s) != 0);
    json_decref(v);
}

TEST(prepare_full_request)
{
    if (!data())
        return;
    rollout r;
    verr e = {0};
    CHECK(prepare("{\"run_id\":\"r1\",\"env\":{\"seed\":-1,\"config\":{\"split\":\"train\"}},"
                  "\"policy\":{\"policy_name\":\"p\",\"config\":{\"inference_url\":"
                  "\"http://127.0.0.1:9/v1?cid=trace_x\",\"model\":\"m\",\"temperature\":0,"
                  "\"max_tokens\":32}},\"safety\":{\"max_time_s\":5},\"unknown\":1}",
                  &DEF, &r, &e) == 0);
    CHECK_STR(r.run_id, "r1");
    CHECK_STR(r.trace_id, "trace_x");
    CHECK_STR(r.policy_id, "p");
    CHECK(r.split == 0 && r.row == 10002);
    CHECK_STR(r.call_url, "http://127.0.0.1:9/v1/chat/completions?cid=trace_x");
    CHECK(r.max_time_s == 5.0);
    json_t *up = json_loads(r.upstream_body, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(up, "model")), "m");
    CHECK_STR(json_string_value(json_object_get(up, "tool_choice")), "required");
    CHECK(json_integer_value(json_object_get(up, "max_tokens")) == 32);
    CHECK(json_object_get(up, "temperature") != NULL);
    CHECK(json_array_size(json_object_get(up, "tools")) == 1);
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(json_array_get(json_object_get(up, "tools"), 0), "function"),
                  "name")),
              "banking77_classify");
    json_decref(up);
    rollout_free(&r);
}

TEST(prepare_defaults_and_modes)
{
    if (!data())
        return;
    rollout r;
    verr e = {0};
    rollout_defaults def = {"http://127.0.0.1:9", "dm", 1, 0, 1, 30.0, 0, 0, NULL, NULL};
    CHECK(prepare("{\"env\":{\"config\":{\"seed\":\"3\"}},\"policy\":{\"output_mode\":\"structured\"},"
                  "\"trace_correlation_id\":\"t\",\"safety\":{\"max_time_s\":900}}",
                  &def, &r, &e) == 0);
    CHECK(r.row == 3 && r.split == 1);
    CHECK_STR(r.run_id, "t");
    CHECK_STR(r.model, "dm");
    CHECK(r.max_time_s == 30.0); /* capped */
    CHECK(strstr(r.upstream_body, "response_format") != NULL);
    CHECK(strstr(r.upstream_body, "\"tools\"") == NULL);
    rollout_free(&r);
    CHECK(prepare("{}", &def, &r, &e) == 0);
    CHECK(strlen(r.run_id) == 36); /* a generated uuid */
    CHECK_STR(r.trace_id, r.run_id);
    rollout_free(&r);
    CHECK(prepare("{\"policy\":{\"config\":{\"output_mode\":\"text\"}}}", &def, &r, &e) == 0);
    CHECK(strstr(r.upstream_body, "\"tools\"") == NULL);
    CHECK(strstr(r.upstream_body, "\"tool_choice\"") == NULL);
    rollout_free(&r);
    CHECK(prepare("{\"policy\":{\"config\":{}}}", &def, &r, &e) == 0);
    CHECK(strstr(r.upstream_body, "\"tool_choice\":{\"type\":\"function\"") != NULL);
    rollout_free(&r);
}

static void expect_422(const char *json, const rollout_defaults *def, const char *loc_want)
{
    rollout r;
    verr e = {0};
    CHECK(prepare(json, def, &r, &e) != 0);
    char *loc = loc_of(&e);
    CHECK_STR(loc, loc_want);
    free(loc);
    verr_clear(&e);
}

TEST(prepare_rejections_name_the_field)
{
    if (!data())
        return;
    rollout_defaults def = {"http://127.0.0.1:9", "dm", 1, 0, 0, 600.0, 0, 0, NULL, NULL};
    expect_422("{\"env\":{\"seed\":\"x\"}}", &def, "[\"body\",\"env\",\"seed\"]");
    expect_422("{\"env\":{\"seed\":true}}", &def, "[\"body\",\"env\",\"seed\"]");
    expect_422("{\"env\":{\"config\":{\"seed\":1.5}}}", &def, "[\"body\",\"env\",\"config\",\"seed\"]");
    expect_422("{\"env\":{\"config\":{\"split\":\"dev\"}}}", &def, "[\"body\",\"env\",\"config\",\"split\"]");
    expect_422("{\"env\":[]}", &def, "[\"body\",\"env\"]");
    expect_422("{\"run_id\":5}", &def, "[\"body\",\"run_id\"]");
    expect_422("{\"safety\":{\"max_time_s\":-1}}", &def, "[\"body\",\"safety\",\"max_time_s\"]");
    expect_422("{\"policy\":{\"output_mode\":\"xml\"}}", &def, "[\"body\",\"policy\",\"output_mode\"]");
    expect_422("{\"policy\":{\"config\":{\"temperature\":\"hot\"}}}", &def,
               "[\"body\",\"policy\",\"config\",\"temperature\"]");
    expect_422("{\"policy\":{\"config\":{\"inference_url\":\"ftp://x\"}}}", &def,
               "[\"body\",\"policy\",\"config\",\"inference_url\"]");
    expect_422("{\"policy\":{\"config\":{\"prompt_template\":\"{nope}\"}}}", &def,
               "[\"body\",\"policy\",\"config\",\"prompt_template\"]");
    expect_422("{}", &DEF, "[\"body\",\"policy\",\"config\",\"inference_url\"]");
    rollout_defaults nomodel = {"http://127.0.0.1:9", NULL, 1, 0, 0, 600.0, 0, 0, NULL, NULL};
    expect_422("{}", &nomodel, "[\"body\",\"policy\",\"config\",\"model\"]");
}

TEST(response_has_every_field)
{
    if (!data())
        return;
    rollout r;
    verr e = {0};
    rollout_defaults def = {"http://127.0.0.1:9/v1", "m", 1, 0, 0, 600.0, 0, 0, NULL, NULL};
    CHECK(prepare("{\"run_id\":\"r\",\"env\":{\"seed\":0}}", &def, &r, &e) == 0);
    const char *body = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"type\":"
                       "\"function\",\"function\":{\"name\":\"banking77_classify\",\"arguments\":"
                       "\"{\\\"intent\\\":\\\"Card Arrival\\\"}\"}}]}}],\"usage\":{\"total_tokens\":9}}";
    llm_reply rep;
    char err[200];
    CHECK(reply_parse(body, strlen(body), OUTPUT_TOOL_CALLS, NULL, &rep, err, sizeof err) == 0);
    rollout_stats st = {1, 5, "off"};
    json_t *resp = rollout_response(&r, data(), &rep, &st);
    CHECK(resp != NULL);
    /* the directly written text is jansson's encoding of it, byte for byte */
    CHECK(same_text(resp, &r, &rep, &st));
    json_t *up = json_loads(r.upstream_body, 0, NULL);
    CHECK(up && json_equal(json_object_get(up, "messages"), r.messages));
    json_decref(up);
    json_t *traj = json_array_get(json_object_get(resp, "trajectories"), 0);
    json_t *step = json_array_get(json_object_get(traj, "steps"), 0);
    CHECK_STR(json_string_value(json_object_get(traj, "env_id")), "banking77::test::0");
    CHECK(json_real_value(json_object_get(step, "reward")) == 1.0);
    CHECK(json_is_true(json_object_get(json_object_get(step, "info"), "correct")));
    CHECK(json_array_size(json_object_get(step, "tool_calls")) == 1);
    CHECK(json_is_object(json_object_get(resp, "branches")));
    json_t *metrics = json_object_get(resp, "metrics");
    static const char *mkeys[] = {"episode_returns", "mean_return", "num_steps", "num_episodes",
                                  "outcome_score", "events_score", "outcome_reward",
                                  "outcome_objectives", "reward_mean", "details"};
    for (size_t i = 0; i < B77_ARRAY_LEN(mkeys); i++)
        CHECK(json_object_get(metrics, mkeys[i]) != NULL);
    CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(metrics, "details"),
                                                             "usage"), "total_tokens")) == 9);
    static const char *keys[] = {"run_id", "trace_correlation_id", "reward_info", "inference_url",
                                 "pipeline_metadata", "trace", "aborted", "ops_executed"};
    for (size_t i = 0; i < B77_ARRAY_LEN(keys); i++)
        CHECK(json_object_get(resp, keys[i]) != NULL);
    json_decref(resp);
    rollout_free(&r);
    /* found by fuzzing: a run_id shaped like a splice marker must stay a run_id */
    CHECK(prepare("{\"run_id\":\"\\u0001b77:messages\\u0001\",\"env\":{\"seed\":0}}", &def, &r,
                  &e) == 0);
    resp = rollout_response(&r, data(), &rep, &st);
    CHECK(same_text(resp, &r, &rep, &st));
    json_decref(resp);
    reply_free(&rep);
    /* a reply without an intent: reward 0, tool_calls [] not null, a reason */
    const char *none = "{\"choices\":[{\"message\":{\"content\":\"hmm\"}}]}";
    CHECK(reply_parse(none, strlen(none), OUTPUT_TOOL_CALLS, NULL, &rep, err, sizeof err) == 0);
    resp = rollout_response(&r, data(), &rep, &st);
    step = json_array_get(json_object_get(json_array_get(json_object_get(resp, "trajectories"), 0), "steps"), 0);
    CHECK(json_real_value(json_object_get(step, "reward")) == 0.0);
    CHECK(json_is_array(json_object_get(step, "tool_calls")));
    CHECK(json_is_string(json_object_get(json_object_get(step, "info"), "reason")));
    CHECK(same_text(resp, &r, &rep, &st));
    json_decref(resp);
    reply_free(&rep);
    rollout_free(&r);
}

TEST(auth_headers)
{
    auth *a = auth_new("primary", "dev", "al1, al2 ,");
    CHECK(auth_configured(a));
    CHECK(auth_check_header(a, "x-api-key", "primary") != NULL);
    CHECK(auth_check_header(a, "X-API-KEY", "al2") != NULL);
    CHECK(auth_check_header(a, "X-API-Key", "dev") == NULL); /* primary set: dev ignored */
    CHECK(auth_check_header(a, "X-API-Keys", "wrong, al1") != NULL);
    CHECK(auth_check_header(a, "X-API-Keys", "wrong,,") == NULL);
    CHECK(auth_check_header(a, "authorization", "BEARER primary") != NULL);
    CHECK(auth_check_header(a, "Authorization", "Basic primary") == NULL);
    CHECK(auth_check_header(a, "Authorization", "Bearer prim") == NULL);
    CHECK(auth_check_header(a, "X-Other", "primary") == NULL);
    CHECK(auth_check_header(a, "X-API-Key", "") == NULL);
    auth_free(a);
    a = auth_new(NULL, "dev", NULL);
    CHECK(auth_check_header(a, "X-API-Key", "dev") != NULL);
    auth_free(a);
    a = auth_new("", NULL, "");
    CHECK(!auth_configured(a));
    auth_free(a);
    CHECK(ct_equal("abc", 3, "abc", 3));
    CHECK(!ct_equal("abc", 3, "abd", 3));
    CHECK(!ct_equal("abc", 3, "abcd", 4));
}

__attribute__((destructor)) static void free_data(void)
{
    dataset_free(ds);
}
