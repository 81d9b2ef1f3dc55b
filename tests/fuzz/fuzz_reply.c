/* libFuzzer target: the LLM reply parser in every output mode, and scoring. */
#include <stdlib.h>

#include "reply.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    for (int mode = OUTPUT_TOOL_CALLS; mode <= OUTPUT_STRUCTURED; mode++) {
        llm_reply r;
        char err[256];
        if (reply_parse((const char *)data, size, (enum output_mode)mode, &r, err, sizeof err) == 0) {
            if (!json_is_array(r.tool_calls) || !json_is_object(r.usage))
                abort(); /* callers rely on a list and an object, never null */
            if (!r.predicted && !r.reason[0])
                abort(); /* no prediction without a reason */
            reply_matches(r.predicted, "card_arrival");
            reply_free(&r);
        }
    }
    return 0;
}
