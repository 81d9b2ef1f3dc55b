/* Unit tests: the newest contract's request check, its translation to a
 * POST /rollout body, candidates, and the answers (lib/contract.c). */
#include <stdlib.h>

#include "contract.h"
#include "test.h"

static json_t *parse(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j)
        abort();
    return j;
}

/* contract_parse_request on text: 0 or -1; on -1 the message is in *e. */
static int request(const char *text, contract_request *q, verr *e)
{
    json_t *b = parse(text);
    int rc = contract_parse_request(b, "gen-1", q, e);
    json_decref(b);
    return rc;
}

/* The message of a refused request ("" when it was taken). */
static const char *refusal(const char *text)
{
    static char msg[512];
    contract_request q;
    verr e = {0};
    msg[0] = '\0';
    if (request(text, &q, &e) == 0) {
        contract_request_free(&q);
        return msg;
    }
    snprintf(msg, sizeof msg, "%s", e.msg);
    verr_clear(&e);
    return msg;
}

TEST(rollout_ids_follow_the_reference_rule)
{
    char max[CONTRACT_ROLLOUT_ID_MAX + 2];
    memset(max, 'a', sizeof max);
    max[CONTRACT_ROLLOUT_ID_MAX] = '\0';
    CHECK(contract_rollout_id_valid("a"));
    CHECK(contract_rollout_id_valid("Run.7:seed-3_x"));
    CHECK(contract_rollout_id_valid(max));
    max[CONTRACT_ROLLOUT_ID_MAX] = 'a';
    max[CONTRACT_ROLLOUT_ID_MAX + 1] = '\0';
    CHECK(!contract_rollout_id_valid(max));
    CHECK(!contract_rollout_id_valid(""));
    CHECK(!contract_rollout_id_valid("-lead"));
    CHECK(!contract_rollout_id_valid("a b"));
    CHECK(!contract_rollout_id_valid("a/b"));
}

TEST(a_minimal_request_becomes_a_rollout_body)
{
    contract_request q;
    verr e = {0};
    CHECK(request("{\"env\":{\"seed\":5,\"config\":{\"split\":\"test\"}},"
                  "\"policy\":{\"provider\":\"openai\",\"model\":\"m1\",\"max_tokens\":40,"
                  "\"inference_url\":\"http://127.0.0.1:9/v1\"}}",
                  &q, &e) == 0);
    CHECK_STR(q.rollout_id, "gen-1");
    CHECK_STR(q.trace_correlation_id, "gen-1");
    CHECK(q.trial_id == NULL && !q.async);
    CHECK(json_integer_value(q.seed) == 5);
    const json_t *cfg = json_object_get(json_object_get(q.legacy, "policy"), "config");
    CHECK_STR(json_string_value(json_object_get(cfg, "model")), "m1");
    CHECK_STR(json_string_value(json_object_get(cfg, "inference_url")), "http://127.0.0.1:9/v1");
    CHECK(json_integer_value(json_object_get(cfg, "max_tokens")) == 40);
    const json_t *env = json_object_get(q.legacy, "env");
    CHECK(json_integer_value(json_object_get(env, "seed")) == 5);
    CHECK_STR(json_string_value(json_object_get(json_object_get(env, "config"), "split")), "test");
    CHECK_STR(json_string_value(json_object_get(q.legacy, "trace_correlation_id")), "gen-1");
    contract_request_free(&q);
}

TEST(task_instance_ids_name_split_and_row)
{
    static const char *const forms[] = {"banking77::train::7", "train:7", "train/7"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char text[200];
        snprintf(text, sizeof text, "{\"task_instance_id\":\"%s\"}", forms[i]);
        contract_request q;
        verr e = {0};
        CHECK(request(text, &q, &e) == 0);
        CHECK(json_integer_value(q.seed) == 7);
        const json_t *env = json_object_get(q.legacy, "env");
        CHECK_STR(json_string_value(json_object_get(json_object_get(env, "config"), "split")),
                  "train");
        contract_request_free(&q);
    }
    contract_request q;
    verr e = {0};
    CHECK(request("{\"task_instance_id\":\"12\"}", &q, &e) == 0);
    CHECK(json_integer_value(q.seed) == 12);
    contract_request_free(&q);
    CHECK(strstr(refusal("{\"task_instance_id\":\"train:x\"}"), "task_instance_id"));
    CHECK(strstr(refusal("{\"task_instance_id\":\"train:\"}"), "task_instance_id"));
}

TEST(the_fingerprint_ignores_submission_mode_and_key_order)
{
    contract_request a, b, c;
    verr e = {0};
    CHECK(request("{\"rollout_id\":\"r\",\"env\":{\"seed\":1},\"submission_mode\":\"async\"}", &a,
                  &e) == 0);
    CHECK(a.async);
    CHECK(request("{\"env\":{\"seed\":1},\"rollout_id\":\"r\"}", &b, &e) == 0);
    CHECK(!b.async);
    CHECK(memcmp(a.fingerprint, b.fingerprint, sizeof a.fingerprint) == 0);
    CHECK(request("{\"env\":{\"seed\":2},\"rollout_id\":\"r\"}", &c, &e) == 0);
    CHECK(memcmp(a.fingerprint, c.fingerprint, sizeof a.fingerprint) != 0);
    contract_request_free(&a);
    contract_request_free(&b);
    contract_request_free(&c);
}

TEST(requests_the_reference_refuses_are_refused)
{
    CHECK(strstr(refusal("{\"safety\":{\"max_time_s\":5}}"), "safety"));
    CHECK(strstr(refusal("{\"policy\":{\"model\":\"m\"}}"), "provider"));
    CHECK(strstr(refusal("{\"policy\":{\"provider\":\"p\"}}"), "model"));
    CHECK(strstr(refusal("{\"policy\":{\"provider\":\"p\",\"model\":\"m\",\"config\":"
                         "{\"a\":[{\"OpenAI-API-Key\":\"k\"}]}}}"),
                 "credential"));
    CHECK(strstr(refusal("{\"policy\":{\"provider\":\"p\",\"model\":\"m\",\"max_tokens\":0}}"),
                 "max_tokens"));
    CHECK(strstr(refusal("{\"rollout_id\":\"a b\"}"), "rollout_id"));
    CHECK(strstr(refusal("{\"submission_mode\":\"later\"}"), "submission_mode"));
    CHECK(strstr(refusal("{\"checkpoint_id\":\"c\"}"), "checkpoint"));
    CHECK(strstr(refusal("{\"task_id\":\"other\"}"), "task_id"));
    CHECK(strstr(refusal("{\"candidate\":{\"instructions\":\"typo\"}}"), "instructions"));
    CHECK(strstr(refusal("{\"trace_correlation_id\":\"\"}"), "trace_correlation_id"));
    /* a credential-looking value is fine: only keys are refused */
    CHECK_STR(refusal("{\"policy\":{\"provider\":\"p\",\"model\":\"m\",\"config\":"
                      "{\"note\":\"api_key\"}}}"),
              "");
}

/* The section of role `role` whose content (or pattern) is the n-th such. */
static const char *section(const json_t *tmpl, const char *role, int n)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(tmpl, "sections"), i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "role")), role) == 0 && n-- == 0) {
            const char *c = json_string_value(json_object_get(s, "content"));
            return c ? c : json_string_value(json_object_get(s, "pattern"));
        }
    }
    return NULL;
}

TEST(a_candidate_becomes_a_prompt_template)
{
    verr e = {0};
    json_t *c = parse("{\"instruction\":\"Pick {intents}.\",\"user_template\":\"Q: {query}\","
                      "\"demonstrations\":\"[{\\\"query\\\":\\\"card {x}\\\",\\\"intent\\\":"
                      "\\\"card_arrival\\\"}]\"}");
    json_t *t = contract_candidate_template(c, "candidate", &e);
    CHECK(t != NULL);
    CHECK_STR(section(t, "system", 0), "Pick {intents}.");
    /* a demonstration's braces are text, not placeholders */
    CHECK(section(t, "user", 0) && strstr(section(t, "user", 0), "card {{x}}"));
    CHECK_STR(section(t, "user", 1), "Q: {query}");
    json_decref(t);
    json_decref(c);
    c = parse("{\"demonstrations\":7}");
    CHECK(contract_candidate_template(c, "candidate", &e) == NULL);
    CHECK(strstr(e.msg, "demonstrations"));
    verr_clear(&e);
    json_decref(c);
}

TEST(answers_carry_the_identity_and_status)
{
    CHECK_STR(contract_success_status(200), "success");
    CHECK_STR(contract_success_status(504), "timeout");
    CHECK_STR(contract_success_status(502), "network_error");
    CHECK_STR(contract_success_status(422), "apply_failed");
    CHECK_STR(contract_success_status(503), "failure");
    contract_request q;
    verr e = {0};
    CHECK(request("{\"rollout_id\":\"id-9\",\"trial_id\":\"t\"}", &q, &e) == 0);
    contract_result_meta m = {.req = &q, .created_ms = 1000, .updated_ms = 2500};
    json_t *err = parse("{\"detail\":\"LLM down\",\"error\":{\"code\":\"upstream\"}}");
    json_t *f = contract_failure(502, err, &m);
    CHECK_STR(json_string_value(json_object_get(f, "rollout_id")), "id-9");
    CHECK_STR(json_string_value(json_object_get(f, "trial_id")), "t");
    CHECK_STR(json_string_value(json_object_get(f, "status")), "failed");
    CHECK_STR(json_string_value(json_object_get(f, "success_status")), "network_error");
    CHECK_STR(json_string_value(json_object_get(f, "detail")), "LLM down");
    CHECK(json_is_false(json_object_get(f, "replayed")));
    json_decref(f);
    json_decref(err);
    contract_request_free(&q);
    char iso[32];
    contract_iso_time(1764806400123LL, iso);
    CHECK_STR(iso, "2025-12-04T00:00:00.123Z");
}

TEST(the_program_names_the_fields_a_candidate_has)
{
    json_t *p = contract_program();
    CHECK_STR(json_string_value(json_object_get(p, "version")), CONTRACT_PROGRAM_VERSION);
    const json_t *seed = json_object_get(p, "seed_candidate");
    verr e = {0};
    json_t *t = contract_candidate_template(seed, "candidate", &e);
    CHECK(t != NULL); /* the seed candidate is a valid candidate */
    json_decref(t);
    json_decref(p);
}

TEST(validate_candidate_reports_unknown_placeholders)
{
    prompt_vars v = {"where is my card?", "1. a\n2. b", "a, b", NULL, NULL, 1};
    json_t *b = parse("{\"candidate_id\":\"c\",\"artifact_payload\":{\"instruction\":\"Use {intents}\"}}");
    json_t *r = contract_validate_candidate(b, &v);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "valid");
    CHECK(json_array_size(json_object_get(r, "errors")) == 0);
    json_decref(r);
    json_decref(b);
    b = parse("{\"candidate\":{\"instruction\":\"x {nope}\"}}");
    r = contract_validate_candidate(b, &v);
    CHECK_STR(json_string_value(json_object_get(r, "status")), "invalid");
    const char *msg = json_string_value(
        json_object_get(json_array_get(json_object_get(r, "errors"), 0), "message"));
    CHECK(msg && strstr(msg, "nope"));
    json_decref(r);
    json_decref(b);
}
