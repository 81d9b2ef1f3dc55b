/* params.c: see params.h. */
#include "params.h"

#include <ctype.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "util.h"

static const char *const names[ADAPT_COUNT] = {"force_function", "no_tools", "no_temperature",
                                               "max_completion_tokens", "max_tokens",
                                               "no_response_format"};
static const char *const descriptions[ADAPT_COUNT] = {
    "tool_choice as the named function instead of \"required\"",
    "no tools: the answer is read from the text",
    "no temperature",
    "the token limit sent as max_completion_tokens",
    "the token limit sent as max_tokens",
    "no response_format: the answer is read from the text",
};

const char *params_name(int i)
{
    return i >= 0 && i < ADAPT_COUNT ? names[i] : "?";
}

const char *params_description(int i)
{
    return i >= 0 && i < ADAPT_COUNT ? descriptions[i] : "?";
}

/* The error's message and code (lower-cased, joined) and its param. */
static char *error_text(const char *body, size_t len, char *param, size_t paramlen)
{
    json_t *j = jr_parse(body, len, 0, NULL);
    buf b = {0};
    json_t *err = json_object_get(j, "error");
    const char *parts[] = {json_string_value(json_object_get(err, "message")),
                           json_string_value(err), json_string_value(json_object_get(err, "code")),
                           json_string_value(json_object_get(j, "detail")),
                           json_string_value(json_object_get(j, "message"))};
    for (size_t i = 0; i < B77_ARRAY_LEN(parts); i++)
        if (parts[i]) {
            buf_puts(&b, parts[i]);
            buf_putc(&b, ' ');
        }
    if (!b.len)
        buf_append(&b, body, len < 2000 ? len : 2000);
    const char *p = json_string_value(json_object_get(err, "param"));
    snprintf(param, paramlen, "%s", p ? p : "");
    json_decref(j);
    for (size_t i = 0; i < b.len; i++)
        b.data[i] = (char)tolower((unsigned char)b.data[i]);
    return buf_steal(&b);
}

static int has(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

/* The message says the server cannot take a parameter (not that a value in
 * it is wrong): "unsupported", "not supported", "does not support",
 * "unrecognized", "unknown", "not allowed", "invalid parameter". */
static int refuses(const char *e)
{
    static const char *const words[] = {"unsupported", "not supported", "does not support",
                                        "doesn't support", "unrecognized", "unknown", "not allowed",
                                        "invalid parameter", "not permitted", "is not available",
                                        "only the default", "requires", "use '", "use \""};
    for (size_t i = 0; i < B77_ARRAY_LEN(words); i++)
        if (has(e, words[i]))
            return 1;
    return 0;
}

/* The refusal names the parameter: as error.param, or in the message. */
static int about(const char *e, const char *param, const char *name)
{
    return strcmp(param, name) == 0 || has(e, name);
}

int params_adaptation(const char *error, size_t error_len, const char *request, size_t request_len,
                      int current)
{
    json_t *req = jr_parse(request, request_len, 0, NULL);
    if (!json_is_object(req)) {
        json_decref(req);
        return 0;
    }
    char param[64];
    char *e = error_text(error, error_len, param, sizeof param);
    int sent_max_tokens = json_object_get(req, "max_tokens") != NULL;
    int sent_max_completion = json_object_get(req, "max_completion_tokens") != NULL;
    int sent_temperature = json_object_get(req, "temperature") != NULL;
    int sent_tools = json_array_size(json_object_get(req, "tools")) > 0;
    const json_t *choice = json_object_get(req, "tool_choice");
    int sent_required = json_is_string(choice) && strcmp(json_string_value(choice), "required") == 0;
    int sent_format = json_object_get(req, "response_format") != NULL;
    json_decref(req);
    int r = 0;
    int refused = refuses(e);
    /* tools refused outright (Ollama's "does not support tools") */
    int no_tools = has(e, "does not support tools") || has(e, "tools is not supported") ||
                   has(e, "tools are not supported") || has(e, "tool use is not supported") ||
                   has(e, "tool calling is not supported") || has(e, "function calling is not supported") ||
                   has(e, "does not support function calling") || has(e, "does not support tool") ||
                   (refused && strcmp(param, "tools") == 0);
    if (refused && sent_max_tokens && about(e, param, "max_tokens") && !(current & ADAPT_MAX_COMPLETION_TOKENS))
        r = ADAPT_MAX_COMPLETION_TOKENS;
    else if (refused && sent_max_completion && about(e, param, "max_completion_tokens") &&
             !(current & ADAPT_MAX_TOKENS))
        r = ADAPT_MAX_TOKENS;
    else if (refused && sent_temperature && about(e, param, "temperature") && !(current & ADAPT_NO_TEMPERATURE))
        r = ADAPT_NO_TEMPERATURE;
    else if (sent_tools && no_tools && !(current & ADAPT_NO_TOOLS))
        r = ADAPT_NO_TOOLS;
    else if (refused && sent_required && about(e, param, "tool_choice") && !(current & ADAPT_FORCE_FUNCTION))
        r = ADAPT_FORCE_FUNCTION;
    else if (refused && sent_format && (about(e, param, "response_format") || has(e, "json_schema")) &&
             !(current & ADAPT_NO_RESPONSE_FORMAT))
        r = ADAPT_NO_RESPONSE_FORMAT;
    free(e);
    return r;
}
