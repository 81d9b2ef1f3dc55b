/* libFuzzer target: a POST /rollouts body, read the server's way, -> the
 * newest contract's request check (contract_parse_request), the POST /rollout
 * request it amounts to (rollout_prepare must take it or refuse it with a
 * 422), the answers built from a fixed reply, and POST /validate-candidate
 * on the same body. */
#include <stdlib.h>
#include <string.h>

#include "contract.h"
#include "fuzz_dataset.h"
#include "rollout.h"

static dataset *ds;
static prompt_vars vars;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ds = fuzz_dataset();
    vars = (prompt_vars){
        .query = dataset_text(ds, 1, 0),
        .available_intents = dataset_available_intents(ds),
        .intents = dataset_intents_joined(ds),
        .available_intents_json = dataset_available_intents_json(ds),
        .intents_json = dataset_intents_joined_json(ds),
        .tool_demos = 1,
    };
    return 0;
}

/* The answers for a request the contract took: a success from a fixed
 * reply when the legacy request renders, and a failure. */
static void answers(const contract_request *q)
{
    contract_result_meta m = {.req = q, .created_ms = 1, .updated_ms = 2};
    rollout_defaults def = {"http://127.0.0.1:9/v1", "m", 1, 0, 0, 600, 0, 0, NULL, NULL};
    rollout r;
    verr ve = {0};
    if (rollout_prepare(q->legacy, ds, &def, &r, &ve) == 0) {
        const char *text = "{\"choices\":[{\"message\":{\"content\":\"card_arrival\"}}]}";
        llm_reply rep;
        char err[200];
        extract_labels labels = dataset_extract_labels(ds);
        if (reply_parse(text, strlen(text), OUTPUT_TEXT, &labels, &rep, err, sizeof err) != 0)
            abort();
        rollout_stats st = {1, 1, "off"};
        json_t *legacy = rollout_response(&r, ds, &rep, &st);
        json_t *doc = legacy ? contract_result(legacy, &m) : NULL;
        const char *id = json_string_value(json_object_get(doc, "rollout_id"));
        if (!id || strcmp(id, q->rollout_id) != 0)
            abort(); /* every rendered rollout has an answer naming it */
        json_decref(doc);
        json_decref(legacy);
        reply_free(&rep);
        rollout_free(&r);
    } else {
        fuzz_check_refusal(&ve);
    }
    json_t *fail = contract_failure(502, NULL, &m);
    if (!fail || strcmp(json_string_value(json_object_get(fail, "status")), "failed") != 0)
        abort();
    json_decref(fail);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char perr[200];
    json_t *body = rollout_parse_body((const char *)data, size, perr, sizeof perr);
    if (!body)
        return 0;
    contract_request q, again;
    verr e = {0}, e2 = {0};
    int rc = contract_parse_request(body, "gen-1", &q, &e);
    int rc2 = contract_parse_request(body, "gen-1", &again, &e2);
    if (rc != rc2)
        abort();
    if (rc == 0) {
        /* the same request has the same fingerprint, and is a POST /rollout body */
        if (memcmp(q.fingerprint, again.fingerprint, sizeof q.fingerprint) != 0 ||
            !json_is_object(q.legacy) || !contract_rollout_id_valid(q.rollout_id))
            abort();
        answers(&q);
        contract_request_free(&q);
        contract_request_free(&again);
    } else {
        if (strcmp(e.msg, e2.msg) != 0)
            abort(); /* the same request, the same refusal */
        json_t *b = verr_body(&e);
        if (!b)
            abort();
        json_decref(b);
        verr_clear(&e2);
    }
    json_t *v = contract_validate_candidate(body, &vars);
    const char *st = json_string_value(json_object_get(v, "status"));
    if (!st || (strcmp(st, "valid") != 0 && strcmp(st, "invalid") != 0))
        abort();
    json_decref(v);
    json_decref(body);
    return 0;
}
