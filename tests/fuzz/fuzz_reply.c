/* libFuzzer target: the LLM reply parser in every output mode, scoring, and
 * the direct JSON writer (which must write what jansson writes), and the
 * message read from an error reply. */
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "reply.h"

static void same_as_jansson(const json_t *v)
{
    buf b = {0};
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    if (jw_value(&b, v) != 0 || !want || strcmp(want, b.data) != 0)
        abort();
    free(want);
    buf_free(&b);
}

static const char *const label_names[] = {"card_arrival", "card_delivery_estimate", "top_up_failed",
                                          "top_up", "Refund_not_showing_up", "reverted_card_payment?"};
static const extract_labels labels = {label_names, sizeof label_names / sizeof label_names[0]};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    for (int mode = OUTPUT_TOOL_CALLS; mode <= OUTPUT_STRUCTURED; mode++) {
        llm_reply r;
        char err[256];
        if (reply_parse((const char *)data, size, (enum output_mode)mode, &labels, &r, err, sizeof err) == 0) {
            if (!json_is_array(r.tool_calls) || !json_is_object(r.usage))
                abort(); /* callers rely on a list and an object, never null */
            if (!r.predicted && !r.reason[0])
                abort(); /* no prediction without a reason */
            reply_matches(r.predicted, "card_arrival");
            same_as_jansson(r.message);
            same_as_jansson(r.usage);
            reply_free(&r);
        }
    }
    char msg[300];
    reply_error_message((const char *)data, size, msg, sizeof msg);
    if (msg[0] && strncmp(msg, ": ", 2) != 0)
        abort(); /* the rollout's detail appends it after what failed */
    return 0;
}
