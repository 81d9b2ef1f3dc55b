/* Unit tests: placeholders and message rendering. */
#include <stdlib.h>

#include "prompt.h"
#include "test.h"

static const prompt_vars V = {"where is my card?", "1. a\n2. b", "a, b", NULL, NULL, 0};

static char *render(const char *t, char **unknown, int *mentions)
{
    return prompt_render(t, strlen(t), &V, unknown, mentions);
}

TEST(render_placeholders_and_braces)
{
    char *unknown = NULL;
    int m = 0;
    char *s = render("Q: {query} / {text}\n{available_intents}\n[{intents}] {{x}} {", &unknown, &m);
    CHECK_STR(s, "Q: where is my card? / where is my card?\n1. a\n2. b\n[a, b] {x} {");
    CHECK(m == 1);
    free(s);
    m = 0;
    s = render("JSON like {\"a\": 1} stays, } too", &unknown, &m);
    CHECK_STR(s, "JSON like {\"a\": 1} stays, } too");
    CHECK(m == 0);
    free(s);
    s = render("{{query}} is literal", &unknown, &m);
    CHECK_STR(s, "{query} is literal");
    CHECK(m == 0);
    free(s);
}

TEST(render_empty_template)
{
    /* found by fuzzing: an empty template gave an unterminated string */
    char *unknown = NULL;
    int m = 0;
    char *s = prompt_render("", 0, &V, &unknown, &m);
    CHECK_STR(s, "");
    free(s);
}

TEST(render_unknown_placeholder_is_named)
{
    char *unknown = NULL;
    int m = 0;
    CHECK(render("hello {name}!", &unknown, &m) == NULL);
    CHECK_STR(unknown, "name");
    free(unknown);
}

static const char *msg_field(json_t *msgs, size_t i, const char *k)
{
    return json_string_value(json_object_get(json_array_get(msgs, i), k));
}

TEST(default_messages_are_the_baseline)
{
    verr e = {0};
    json_t *m = prompt_messages(NULL, &V, 0, &e, NULL);
    CHECK(json_array_size(m) == 2);
    CHECK_STR(msg_field(m, 0, "role"), "system");
    CHECK_STR(msg_field(m, 0, "content"), PROMPT_DEFAULT_SYSTEM);
    CHECK_STR(msg_field(m, 1, "content"),
              "Customer Query: where is my card?\n\nAvailable Intents:\n1. a\n2. b\n\nClassify "
              "this query into one of the above banking intents using the tool call.");
    json_decref(m);
    m = prompt_messages(NULL, &V, 1, &e, NULL);
    CHECK_STR(msg_field(m, 1, "content"),
              "Customer Query: where is my card?\n\nClassify this query into one of the banking "
              "intents using the tool call.");
    json_decref(m);
}

TEST(string_template_is_the_system_message)
{
    verr e = {0};
    json_t *t = json_string("Classify. Options: {intents}");
    json_t *m = prompt_messages(t, &V, 0, &e, NULL);
    CHECK(json_array_size(m) == 2);
    CHECK_STR(msg_field(m, 0, "content"), "Classify. Options: a, b");
    CHECK_STR(msg_field(m, 1, "role"), "user");
    json_decref(m);
    json_decref(t);
}

TEST(sections_sorted_by_order_stably_with_demos)
{
    verr e = {0};
    json_t *t = json_loads("{\"sections\":["
                           "{\"role\":\"user\",\"content\":\"Q: {query}\",\"order\":5},"
                           "{\"role\":\"system\",\"pattern\":\"sys\",\"order\":0},"
                           "{\"role\":\"user\",\"content\":\"demo q\",\"order\":1},"
                           "{\"role\":\"assistant\",\"content\":\"demo a\",\"order\":1}]}",
                           0, NULL);
    json_t *m = prompt_messages(t, &V, 0, &e, NULL);
    CHECK(json_array_size(m) == 4); /* {query} present: no default user appended */
    CHECK_STR(msg_field(m, 0, "content"), "sys");
    CHECK_STR(msg_field(m, 1, "content"), "demo q");
    CHECK_STR(msg_field(m, 2, "content"), "demo a");
    CHECK_STR(msg_field(m, 3, "content"), "Q: where is my card?");
    json_decref(m);
    json_decref(t);
    t = json_loads("{\"prompt_sections\":[{\"role\":\"system\",\"content\":\"only sys\"}]}", 0, NULL);
    m = prompt_messages(t, &V, 0, &e, NULL);
    CHECK(json_array_size(m) == 2);
    CHECK_STR(msg_field(m, 1, "role"), "user");
    json_decref(m);
    json_decref(t);
}

TEST(bad_templates_give_422_locations)
{
    verr e = {0};
    json_t *t = json_loads("{\"sections\":[{\"role\":\"robot\",\"content\":\"x\"}]}", 0, NULL);
    CHECK(prompt_messages(t, &V, 0, &e, NULL) == NULL);
    char *loc = json_dumps(e.loc, JSON_COMPACT);
    CHECK_STR(loc, "[\"body\",\"policy\",\"config\",\"prompt_template\",\"sections\",0,\"role\"]");
    free(loc);
    verr_clear(&e);
    json_decref(t);
    t = json_loads("{\"sections\":[{\"role\":\"user\",\"content\":\"{oops}\"}]}", 0, NULL);
    CHECK(prompt_messages(t, &V, 0, &e, NULL) == NULL);
    CHECK(strstr(e.msg, "{oops}") != NULL);
    verr_clear(&e);
    json_decref(t);
    t = json_integer(3);
    CHECK(prompt_messages(t, &V, 0, &e, NULL) == NULL);
    json_t *body = verr_body(&e);
    CHECK(json_is_string(json_object_get(body, "detail")));
    CHECK(json_array_size(json_object_get(body, "errors")) == 1);
    json_decref(body);
    json_decref(t);
    t = json_loads("{\"sections\":\"nope\"}", 0, NULL);
    CHECK(prompt_messages(t, &V, 0, &e, NULL) == NULL);
    verr_clear(&e);
    json_decref(t);
}

/* The JSON text written while rendering is json_dumps of the messages, with
 * the lists escaped on the fly or given pre-escaped. */
TEST(messages_json_text_matches_the_messages)
{
    static const char *templates[] = {
        NULL, "\"sys {{x}} \\\"q\\\"\\n{intents}\"",
        "{\"sections\":[{\"role\":\"user\",\"content\":\"Q: {query}\\t{available_intents} é\",\"order\":2},"
        "{\"role\":\"system\",\"content\":\"\\u0001 sys\"}]}"};
    const prompt_vars esc = {"say \"hi\"\\n", "1. a\n2. b", "a, b", "1. a\\n2. b", "a, b", 0};
    const prompt_vars raw = {"say \"hi\"\\n", "1. a\n2. b", "a, b", NULL, NULL, 0};
    for (size_t i = 0; i < sizeof templates / sizeof *templates; i++) {
        json_t *t = templates[i] ? json_loads(templates[i], JSON_DECODE_ANY, NULL) : NULL;
        for (int k = 0; k < 2; k++) {
            verr e = {0};
            buf text = {0};
            json_t *m = prompt_messages(t, k ? &esc : &raw, 0, &e, &text);
            char *want = json_dumps(m, JSON_COMPACT);
            CHECK(m && want && text.data && strcmp(want, text.data) == 0);
            free(want);
            buf_free(&text);
            json_decref(m);
        }
        json_decref(t);
    }
}

TEST(prompt_demos_as_tool_calls)
{
    json_t *t = json_loads("{\"sections\":[{\"role\":\"system\",\"content\":\"Classify.\"},"
                           "{\"role\":\"user\",\"content\":\"Customer Query: card?\"},"
                           "{\"role\":\"assistant\",\"content\":\"card_arrival\",\"as_tool_call\":true},"
                           "{\"role\":\"user\",\"content\":\"{query}\"}]}",
                           0, NULL);
    prompt_vars tools = V;
    tools.tool_demos = 1;
    verr e = {0};
    buf text = {0};
    json_t *m = prompt_messages(t, &tools, 0, &e, &text);
    CHECK(m && json_array_size(m) == 5);
    json_t *call = json_array_get(m, 2), *reply = json_array_get(m, 3);
    CHECK(json_is_null(json_object_get(call, "content")));
    json_t *fn = json_object_get(json_array_get(json_object_get(call, "tool_calls"), 0), "function");
    CHECK_STR(json_string_value(json_object_get(fn, "name")), "banking77_classify");
    CHECK_STR(json_string_value(json_object_get(fn, "arguments")), "{\"intent\":\"card_arrival\"}");
    CHECK_STR(json_string_value(json_object_get(reply, "role")), "tool");
    CHECK_STR(json_string_value(json_object_get(reply, "tool_call_id")),
              json_string_value(json_object_get(json_array_get(json_object_get(call, "tool_calls"), 0), "id")));
    char *want = json_dumps(m, JSON_COMPACT);
    CHECK_STR(text.data, want); /* the text is jansson's bytes */
    free(want);
    json_decref(m);
    buf_free(&text);
    /* text mode: the content, plainly */
    m = prompt_messages(t, &V, 0, &e, NULL);
    CHECK(m && json_array_size(m) == 4);
    CHECK_STR(json_string_value(json_object_get(json_array_get(m, 2), "content")), "card_arrival");
    json_decref(m);
    json_decref(t);
    /* a wrong type is a 422 */
    t = json_loads("{\"sections\":[{\"role\":\"assistant\",\"content\":\"x\",\"as_tool_call\":1}]}", 0, NULL);
    CHECK(prompt_messages(t, &tools, 0, &e, NULL) == NULL);
    CHECK(strstr(e.msg, "as_tool_call") != NULL);
    verr_clear(&e);
    json_decref(t);
}
