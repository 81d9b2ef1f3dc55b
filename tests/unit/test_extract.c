/* Unit tests: reading the intent out of what models write (lib/extract.c),
 * on a table of real-world reply shapes. */
#include <stdlib.h>

#include "extract.h"
#include "labels.h"
#include "test.h"
#include "util.h"

static const extract_labels L = {banking77_labels, B77_ARRAY_LEN(banking77_labels)};

struct shape {
    const char *content;
    const char *want; /* NULL: no prediction */
    enum extract_path path;
};

static const struct shape shapes[] = {
    /* plain labels */
    {"card_arrival", "card_arrival", EXTRACT_LABEL},
    {"  card_arrival\n", "card_arrival", EXTRACT_LABEL},
    {"card arrival", "card_arrival", EXTRACT_LABEL},
    {"Card_Arrival", "card_arrival", EXTRACT_LABEL},
    {"CARD ARRIVAL", "card_arrival", EXTRACT_LABEL},
    {"card-arrival", "card_arrival", EXTRACT_LABEL},
    {"\"card_arrival\"", "card_arrival", EXTRACT_LABEL},
    {"'card_arrival'", "card_arrival", EXTRACT_LABEL},
    {"`card_arrival`", "card_arrival", EXTRACT_LABEL},
    {"**card_arrival**", "card_arrival", EXTRACT_LABEL},
    {"card_arrival.", "card_arrival", EXTRACT_LABEL},
    {"Intent: card_arrival", "card_arrival", EXTRACT_LABEL},
    {"intent: **card_delivery_estimate**", "card_delivery_estimate", EXTRACT_LABEL},
    {"Refund_not_showing_up", "Refund_not_showing_up", EXTRACT_LABEL},
    {"refund not showing up", "Refund_not_showing_up", EXTRACT_LABEL},
    {"reverted_card_payment?", "reverted_card_payment?", EXTRACT_LABEL},
    {"reverted card payment", "reverted_card_payment?", EXTRACT_LABEL},
    /* sentences */
    {"The intent is card_arrival.", "card_arrival", EXTRACT_LABEL},
    {"card_arrival is the intent.", "card_arrival", EXTRACT_LABEL},
    {"I think this is about card delivery estimate", "card_delivery_estimate", EXTRACT_LABEL},
    {"The customer asks when the card arrives: **Intent:** `card_arrival`", "card_arrival", EXTRACT_LABEL},
    {"Based on the query, the most fitting label is exchange_rate.", "exchange_rate", EXTRACT_LABEL},
    /* several labels: the committed one */
    {"It could be card_arrival or card_delivery_estimate, but the intent is card_delivery_estimate.",
     "card_delivery_estimate", EXTRACT_LABEL},
    {"Not card_arrival but card_delivery_estimate", "card_delivery_estimate", EXTRACT_LABEL},
    {"This is not top_up_failed; it is top_up_reverted.", "top_up_reverted", EXTRACT_LABEL},
    {"Candidates: card_arrival, card_linking.\nFinal answer: card_linking", "card_linking", EXTRACT_LABEL},
    {"card_arrival vs card_delivery_estimate...\ncard_arrival", "card_arrival", EXTRACT_LABEL},
    {"Answer: pending_top_up (rather than top_up_failed)", "pending_top_up", EXTRACT_LABEL},
    {"It could be card_arrival or card_delivery_estimate.", NULL, EXTRACT_NONE},
    /* a label inside a longer one is not a match */
    {"top_up_failed", "top_up_failed", EXTRACT_LABEL},
    {"the top up failed intent: top_up_failed", "top_up_failed", EXTRACT_LABEL},
    {"wrong_exchange_rate_for_cash_withdrawal", "wrong_exchange_rate_for_cash_withdrawal", EXTRACT_LABEL},
    {"The label is card_payment_wrong_exchange_rate", "card_payment_wrong_exchange_rate", EXTRACT_LABEL},
    {"balance_not_updated_after_bank_transfer", "balance_not_updated_after_bank_transfer", EXTRACT_LABEL},
    /* JSON */
    {"{\"intent\": \"card_arrival\"}", "card_arrival", EXTRACT_JSON},
    {"{\"intent\":\"Card Arrival\"}", "card_arrival", EXTRACT_JSON},
    {"```json\n{\"intent\": \"exchange_rate\"}\n```", "exchange_rate", EXTRACT_JSON},
    {"```\n{\"intent\": \"exchange_rate\"}\n```", "exchange_rate", EXTRACT_JSON},
    {"Here you go: {\"intent\": \"top_up_limits\", \"confidence\": 0.9}", "top_up_limits", EXTRACT_JSON},
    {"{\"label\": \"age_limit\"}", "age_limit", EXTRACT_JSON},
    {"{\"intent\": [\"age_limit\"]}", "age_limit", EXTRACT_JSON},
    /* reasoning is not the answer */
    {"<think>maybe card_arrival? no...</think>\ncard_delivery_estimate", "card_delivery_estimate", EXTRACT_LABEL},
    {"<think>The user wants card_arrival... or exchange_rate</think>", NULL, EXTRACT_NONE},
    {"<think>still thinking about card_arrival", NULL, EXTRACT_NONE},
    {"<THINK>x</THINK>{\"intent\": \"atm_support\"}", "atm_support", EXTRACT_JSON},
    /* nothing usable */
    {"", NULL, EXTRACT_NONE},
    {"   \n ", NULL, EXTRACT_NONE},
    {"I'm sorry, I can't help with that.", NULL, EXTRACT_NONE},
    {"This is not card_arrival.", NULL, EXTRACT_NONE},
    {"{\"intent\": null}", NULL, EXTRACT_NONE},
};

TEST(extract_reply_shapes)
{
    for (size_t i = 0; i < B77_ARRAY_LEN(shapes); i++) {
        enum extract_path path;
        char reason[200] = "";
        char *got = extract_intent(shapes[i].content, &L, &path, reason, sizeof reason);
        int good = shapes[i].want ? got && strcmp(got, shapes[i].want) == 0 : got == NULL;
        good = good && path == shapes[i].path;
        if (!good) {
            char m[600];
            snprintf(m, sizeof m, "shape %zu %s: got %s via %s (%s)", i, shapes[i].content,
                     got ? got : "(none)", extract_path_name(path), reason);
            test_fail(__FILE__, __LINE__, m);
        }
        if (!got)
            CHECK(reason[0] != '\0');
        free(got);
    }
    CHECK(B77_ARRAY_LEN(shapes) >= 40);
}

TEST(extract_exact_labels_and_reasoning)
{
    CHECK_STR(extract_exact_label("  \"Top Up Failed\" ", &L), "top_up_failed");
    CHECK(extract_exact_label("top up", &L) == NULL);
    CHECK(extract_exact_label("card_arrival please", &L) == NULL);
    char *s = extract_strip_reasoning("a<think>b</think>c<think>d");
    CHECK_STR(s, "ac");
    free(s);
    enum extract_path p;
    char reason[100];
    char *j = extract_intent("{\"intent\": \"whatever\"}", NULL, &p, reason, sizeof reason);
    CHECK_STR(j, "whatever");
    CHECK(p == EXTRACT_JSON);
    free(j);
    CHECK(extract_intent("card_arrival", NULL, &p, reason, sizeof reason) == NULL);
}

#include "params.h"

static int adapt_for(const char *error, const char *request, int current)
{
    return params_adaptation(error, strlen(error), request, strlen(request), current);
}

TEST(params_recognise_refusals)
{
    const char *req = "{\"model\":\"m\",\"messages\":[],\"tools\":[{}],\"tool_choice\":\"required\","
                      "\"temperature\":0,\"max_tokens\":16}";
    /* OpenAI reasoning models */
    CHECK(adapt_for("{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens' is not supported with "
                    "this model. Use 'max_completion_tokens' instead.\",\"param\":\"max_tokens\","
                    "\"code\":\"unsupported_parameter\"}}", req, 0) == ADAPT_MAX_COMPLETION_TOKENS);
    CHECK(adapt_for("{\"error\":{\"message\":\"Unsupported value: 'temperature' does not support 0 with "
                    "this model. Only the default (1) value is supported.\",\"param\":\"temperature\"}}",
                    req, 0) == ADAPT_NO_TEMPERATURE);
    /* Ollama without a tool template */
    CHECK(adapt_for("{\"error\":{\"message\":\"registry.ollama.ai/library/llama2:latest does not support "
                    "tools\"}}", req, 0) == ADAPT_NO_TOOLS);
    /* vLLM without "required" */
    CHECK(adapt_for("{\"object\":\"error\",\"message\":\"tool_choice \\\"required\\\" is not supported\"}",
                    req, 0) == ADAPT_FORCE_FUNCTION);
    /* the reverse token key */
    const char *req2 = "{\"model\":\"m\",\"messages\":[],\"max_completion_tokens\":16}";
    CHECK(adapt_for("{\"error\":{\"message\":\"Unrecognized request argument supplied: "
                    "max_completion_tokens\"}}", req2, 0) == ADAPT_MAX_TOKENS);
    /* response_format */
    const char *req3 = "{\"model\":\"m\",\"messages\":[],\"response_format\":{\"type\":\"json_schema\"}}";
    CHECK(adapt_for("{\"error\":{\"message\":\"response_format is not supported by this model\"}}", req3, 0) ==
          ADAPT_NO_RESPONSE_FORMAT);
    /* already adapted: nothing left to try */
    CHECK(adapt_for("{\"error\":{\"message\":\"Unsupported parameter: 'temperature'\"}}", req,
                    ADAPT_NO_TEMPERATURE) == 0);
    /* a parameter the request did not send */
    CHECK(adapt_for("{\"error\":{\"message\":\"Unsupported parameter: 'temperature'\"}}", req2, 0) == 0);
    /* a 400 about something else, even one that mentions tools */
    CHECK(adapt_for("{\"error\":{\"message\":\"Invalid 'messages[1]': messages with role 'tool' must be a "
                    "response to a preceding message with 'tool_calls'.\"}}", req, 0) == 0);
    CHECK(adapt_for("{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens\"}}", req, 0) == 0);
    CHECK(adapt_for("not json at all", req, 0) == 0);
    CHECK(adapt_for("{}", "not json", 0) == 0);
    CHECK_STR(params_name(1), "no_tools");
}
