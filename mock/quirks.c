/* quirks.c: see quirks.h. */
#include "quirks.h"

#include <string.h>

#include "util.h"

static const struct {
    const char *name;
    int bit;
} names[] = {
    {"no-tools", QUIRK_NO_TOOLS},
    {"no-required", QUIRK_NO_REQUIRED},
    {"no-temperature", QUIRK_NO_TEMPERATURE},
    {"completion-tokens-only", QUIRK_COMPLETION_TOKENS_ONLY},
    {"max-tokens-only", QUIRK_MAX_TOKENS_ONLY},
    {"no-response-format", QUIRK_NO_RESPONSE_FORMAT},
    {"text-only", QUIRK_TEXT_ONLY},
    {"json-content", QUIRK_JSON_CONTENT},
    {"reasoning", QUIRK_REASONING},
    {"think-tags", QUIRK_THINK_TAGS},
};

int quirks_parse(const char *s, size_t n)
{
    int q = 0;
    while (n) {
        size_t k = 0;
        while (k < n && s[k] != ',')
            k++;
        int found = 0;
        for (size_t i = 0; i < B77_ARRAY_LEN(names) && !found; i++)
            if (strlen(names[i].name) == k && memcmp(names[i].name, s, k) == 0) {
                q |= names[i].bit;
                found = 1;
            }
        if (!found && k)
            return -1;
        s += k;
        n -= k;
        if (n) /* the comma */
            s++, n--;
    }
    return q;
}

static char *error(const char *message, const char *param, const char *code)
{
    json_t *j = json_pack("{s:{s:s,s:s,s:s?,s:s?}}", "error", "message", message, "type",
                          "invalid_request_error", "param", param, "code", code);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

char *quirks_reject(int q, const json_t *req, const char *model)
{
    const json_t *tools = json_object_get(req, "tools");
    const json_t *choice = json_object_get(req, "tool_choice");
    if ((q & QUIRK_NO_TOOLS) && json_array_size(tools)) {
        char *m = xasprintf("registry.ollama.ai/library/%s does not support tools", model);
        char *e = error(m, NULL, NULL);
        free(m);
        return e;
    }
    if ((q & QUIRK_NO_REQUIRED) && json_is_string(choice) && strcmp(json_string_value(choice), "required") == 0)
        return error("\"required\" tool_choice is not supported; only \"auto\", \"none\" and a named "
                     "function are", "tool_choice", NULL);
    if ((q & QUIRK_NO_TEMPERATURE) && json_object_get(req, "temperature"))
        return error("Unsupported parameter: 'temperature' is not supported with this model.",
                     "temperature", "unsupported_parameter");
    if ((q & QUIRK_COMPLETION_TOKENS_ONLY) && json_object_get(req, "max_tokens"))
        return error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                     "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter");
    if ((q & QUIRK_MAX_TOKENS_ONLY) && json_object_get(req, "max_completion_tokens"))
        return error("Unrecognized request argument supplied: max_completion_tokens", NULL, NULL);
    if ((q & QUIRK_NO_RESPONSE_FORMAT) && json_object_get(req, "response_format"))
        return error("response_format is not supported by this model", "response_format", NULL);
    return NULL;
}

json_t *quirks_message(int q, const char *intent, const char *other, long *reasoning_tokens)
{
    *reasoning_tokens = 0;
    json_t *msg = NULL;
    if (q & QUIRK_THINK_TAGS) {
        char *c = xasprintf("<think>The customer might mean %s... but reading again it is %s.</think>\n%s",
                            other, intent, intent);
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content", c);
        free(c);
        *reasoning_tokens = 24;
    } else if (q & QUIRK_JSON_CONTENT) {
        char *c = xasprintf("```json\n{\"intent\": \"%s\"}\n```", intent);
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content", c);
        free(c);
    } else if (q & QUIRK_TEXT_ONLY) {
        char *c = xasprintf("The intent is %s.", intent);
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content", c);
        free(c);
    }
    return msg;
}
