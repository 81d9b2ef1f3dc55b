/* fuzz_extract: reading the intent out of arbitrary model text never
 * crashes, always gives a reason for no answer, and an answer on the label
 * path is always one of the labels. */
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "params.h"
#include "util.h"

static const char *const names[] = {"card_arrival", "card_delivery_estimate", "top_up_failed",
                                    "pending_top_up", "Refund_not_showing_up", "reverted_card_payment?",
                                    "wrong_exchange_rate_for_cash_withdrawal", "exchange_rate"};
static const extract_labels labels = {names, sizeof names / sizeof names[0]};

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *s = xstrndup((const char *)data, size); /* up to the first NUL */
    enum extract_path p;
    char reason[200] = "";
    char *r = extract_intent(s, &labels, &p, reason, sizeof reason);
    if (!r && (!reason[0] || p != EXTRACT_NONE))
        abort();
    if (r && p == EXTRACT_LABEL) {
        int found = 0;
        for (size_t i = 0; i < labels.n; i++)
            found |= strcmp(r, names[i]) == 0;
        if (!found)
            abort();
    }
    free(r);
    free(extract_strip_reasoning(s));
    extract_exact_label(s, &labels);
    params_adaptation(s, strlen(s), "{\"tools\":[1],\"temperature\":0,\"max_tokens\":1}", 44, 0);
    free(s);
    return 0;
}
