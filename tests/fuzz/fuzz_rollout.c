/* libFuzzer target: a POST /rollout body, read the server's way
 * (rollout_parse_body), -> validation and prompt rendering (rollout_prepare),
 * then a response built from a fixed reply. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_dataset.h"
#include "rollout.h"

static dataset *ds;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ds = fuzz_dataset();
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char perr[200];
    json_t *body = rollout_parse_body((const char *)data, size, perr, sizeof perr);
    if (!body) {
        if (!perr[0])
            abort(); /* a refused body always says why */
        return 0;
    }
    rollout_defaults def = {"http://127.0.0.1:9/v1", "m", 1, (int)(size & 1), (int)(size & 2), 600, 0,
                            (int)((size >> 2) & 63), NULL, NULL};
    rollout r;
    verr ve = {0};
    int rc = rollout_prepare(body, ds, &def, &r, &ve);
    /* the server's way (text only, no tree) must write the same upstream
     * body, or refuse with the same message */
    rollout t;
    verr te = {0};
    def.text_only = 1;
    int trc = rollout_prepare(body, ds, &def, &t, &te);
    if (trc != rc || (rc == 0 && (t.messages || strcmp(t.upstream_body, r.upstream_body) != 0)) ||
        (rc != 0 && strcmp(te.msg, ve.msg) != 0))
        abort();
    if (trc == 0)
        rollout_free(&t);
    verr_clear(&te);
    if (rc == 0) {
        const char *reply = "{\"choices\":[{\"message\":{\"content\":\"card_arrival\"}}]}";
        llm_reply rep;
        char err[200];
        extract_labels labels = dataset_extract_labels(ds);
        if (reply_parse(reply, strlen(reply), OUTPUT_TEXT, &labels, &rep, err, sizeof err) == 0) {
            rollout_stats st = {1, 1, "off"};
            json_t *resp = rollout_response(&r, ds, &rep, &st);
            if (!resp)
                abort(); /* every valid request must produce a response */
            /* the directly written text must be jansson's encoding, byte for byte */
            char *s = rollout_response_text(&r, ds, &rep, &st);
            char *want = json_dumps(resp, JSON_COMPACT | JSON_REAL_PRECISION(15));
            if (!s || !want || strcmp(s, want) != 0)
                abort();
            free(want);
            json_t *up = json_loads(r.upstream_body, 0, NULL);
            if (!up || !json_equal(json_object_get(up, "messages"), r.messages))
                abort();
            json_decref(up);
            free(s);
            json_decref(resp);
            reply_free(&rep);
        }
        rollout_free(&r);
    } else {
        fuzz_check_refusal(&ve);
    }
    json_decref(body);
    return 0;
}
