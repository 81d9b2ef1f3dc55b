/* Unit tests: reply parsing and scoring. */
#include <stdlib.h>

#include "labels.h"
#include "reply.h"
#include "test.h"
#include "util.h"

static const extract_labels L = {banking77_labels, B77_ARRAY_LEN(banking77_labels)};

static char *predict(const char *body, enum output_mode mode, char *reason)
{
    llm_reply r;
    char err[256];
    if (reply_parse(body, strlen(body), mode, &L, &r, err, sizeof err) != 0)
        return NULL;
    char *p = r.predicted ? strdup(r.predicted) : NULL;
    strcpy(reason, r.reason);
    CHECK(json_is_array(r.tool_calls));
    CHECK(json_is_object(r.usage));
    reply_free(&r);
    return p;
}

#define TOOLREPLY(args)                                                                        \
    "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"tool_calls\":[{\"type\":\"function\"," \
    "\"function\":{\"name\":\"banking77_classify\",\"arguments\":" args "}}]}}]}"

TEST(reply_tool_call_forms)
{
    char reason[200];
    char *p = predict(TOOLREPLY("\"{\\\"intent\\\":\\\"card_arrival\\\"}\""), OUTPUT_TOOL_CALLS, reason);
    CHECK_STR(p, "card_arrival");
    free(p);
    p = predict(TOOLREPLY("{\"intent\":\"x\"}"), OUTPUT_TOOL_CALLS, reason); /* object args */
    CHECK_STR(p, "x");
    free(p);
    p = predict(TOOLREPLY("\"{\\\"intent\\\":[\\\"card\\\",\\\"arrival\\\"]}\""), OUTPUT_TOOL_CALLS, reason);
    CHECK_STR(p, "card_arrival"); /* a list joined, read as the label it names */
    free(p);
    p = predict(TOOLREPLY("\"{\\\"intent\\\":42}\""), OUTPUT_TOOL_CALLS, reason);
    CHECK_STR(p, "42");
    free(p);
    p = predict(TOOLREPLY("\"not json\""), OUTPUT_TOOL_CALLS, reason);
    CHECK(p == NULL && strstr(reason, "not JSON"));
    p = predict(TOOLREPLY("\"{\\\"label\\\":\\\"x\\\"}\""), OUTPUT_TOOL_CALLS, reason);
    CHECK(p == NULL && strstr(reason, "intent"));
    p = predict("{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"other\","
                "\"arguments\":\"{}\"}}]}}]}",
                OUTPUT_TOOL_CALLS, reason);
    CHECK(p == NULL && strstr(reason, "wrong tool"));
    /* no tool call although one was offered: the text is read */
    p = predict("{\"choices\":[{\"message\":{\"content\":\"card_arrival is the intent.\"}}]}",
                OUTPUT_TOOL_CALLS, reason);
    CHECK_STR(p, "card_arrival");
    free(p);
    p = predict("{\"choices\":[{\"message\":{\"content\":\"I cannot help.\"}}]}", OUTPUT_TOOL_CALLS, reason);
    CHECK(p == NULL && strstr(reason, "no tool call") && strstr(reason, "no label"));
    /* a tool call's intent in another spelling is the label */
    p = predict(TOOLREPLY("\"{\\\"intent\\\":\\\"Card Arrival\\\"}\""), OUTPUT_TOOL_CALLS, reason);
    CHECK_STR(p, "card_arrival");
    free(p);
    /* reasoning is never the answer */
    p = predict("{\"choices\":[{\"message\":{\"reasoning_content\":\"card_linking\",\"content\":"
                "\"<think>exchange_rate?</think>age_limit\"}}]}", OUTPUT_TEXT, reason);
    CHECK_STR(p, "age_limit");
    free(p);
}

TEST(reply_text_and_structured)
{
    char reason[200];
    char *p = predict("{\"choices\":[{\"message\":{\"content\":\"  card_arrival because\"}}]}",
                      OUTPUT_TEXT, reason);
    CHECK_STR(p, "card_arrival");
    free(p);
    p = predict("{\"choices\":[{\"message\":{\"content\":\"{\\\"intent\\\":\\\"age_limit\\\"}\"}}]}",
                OUTPUT_STRUCTURED, reason);
    CHECK_STR(p, "age_limit");
    free(p);
    p = predict("{\"choices\":[{\"message\":{\"content\":\"\"}}]}", OUTPUT_TEXT, reason);
    CHECK(p == NULL);
    p = predict("{\"choices\":[{\"message\":{\"content\":null}}]}", OUTPUT_STRUCTURED, reason);
    CHECK(p == NULL);
}

TEST(reply_not_a_completion_is_an_error)
{
    llm_reply r;
    char err[256];
    CHECK(reply_parse("{\"choices\":[{\"mess", 18, OUTPUT_TOOL_CALLS, &L, &r, err, sizeof err) != 0);
    CHECK(strstr(err, "not JSON") != NULL);
    const char *e = "{\"error\":{\"message\":\"quota\"}}";
    CHECK(reply_parse(e, strlen(e), OUTPUT_TOOL_CALLS, &L, &r, err, sizeof err) != 0);
    CHECK(strstr(err, "quota") != NULL);
}

TEST(scoring_normalises)
{
    CHECK(reply_matches("card_arrival", "card_arrival"));
    CHECK(reply_matches("  Card Arrival\n", "card_arrival"));
    CHECK(reply_matches("refund_not_showing_up", "Refund_not_showing_up"));
    CHECK(reply_matches("reverted_card_payment?", "reverted_card_payment?"));
    CHECK(!reply_matches("reverted_card_payment", "reverted_card_payment?"));
    CHECK(!reply_matches("card", "card_arrival"));
    CHECK(!reply_matches(NULL, "card_arrival"));
    CHECK(reply_parse_mode("text") == OUTPUT_TEXT);
    CHECK(reply_parse_mode("bogus") == -1);
}
