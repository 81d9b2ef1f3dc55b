/* reply.c: see reply.h. */
#include "reply.h"

#include <stdio.h>
#include <string.h>

#include "extract.h"
#include "jalloc.h"
#include "jsonr.h"
#include "util.h"

int reply_parse_mode(const char *s)
{
    if (strcmp(s, "tool_calls") == 0 || strcmp(s, "tool_call") == 0 || strcmp(s, "tools") == 0)
        return OUTPUT_TOOL_CALLS;
    if (strcmp(s, "text") == 0)
        return OUTPUT_TEXT;
    if (strcmp(s, "structured") == 0 || strcmp(s, "json") == 0)
        return OUTPUT_STRUCTURED;
    return -1;
}

static char *stringify(const json_t *v)
{
    if (json_is_string(v))
        return xstrndup(json_string_value(v), json_string_length(v));
    char *s = jalloc_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    char *r = xstrdup(s ? s : "");
    free(s);
    return r;
}

static char *intent_of(const json_t *obj, char *reason, size_t reasonlen)
{
    const json_t *intent = json_is_object(obj) ? json_object_get(obj, "intent") : NULL;
    if (!intent || json_is_null(intent)) {
        snprintf(reason, reasonlen, "the reply has no \"intent\"");
        return NULL;
    }
    if (json_is_array(intent)) {
        buf b = {0};
        size_t i;
        const json_t *item;
        json_array_foreach(intent, i, item)
        {
            char *s = stringify(item);
            if (i)
                buf_putc(&b, ' ');
            buf_puts(&b, s);
            free(s);
        }
        return buf_steal(&b);
    }
    return stringify(intent);
}

char *reply_intent_from_args(const json_t *args, char *reason, size_t reasonlen)
{
    if (json_is_object(args))
        return intent_of(args, reason, reasonlen);
    if (!json_is_string(args)) {
        snprintf(reason, reasonlen, "tool call arguments are neither a JSON string nor an object");
        return NULL;
    }
    jr_error jerr;
    json_t *parsed = jr_parse(json_string_value(args), json_string_length(args), 0, &jerr);
    if (!parsed) {
        snprintf(reason, reasonlen, "tool call arguments are not JSON: %s", jerr.text);
        return NULL;
    }
    char *r = NULL;
    if (!json_is_object(parsed))
        snprintf(reason, reasonlen, "tool call arguments are not a JSON object");
    else
        r = intent_of(parsed, reason, reasonlen);
    json_decref(parsed);
    return r;
}

static char *predict_tool(const json_t *calls, char *reason, size_t reasonlen)
{
    size_t n = json_array_size(calls);
    if (n == 0) {
        snprintf(reason, reasonlen, "the reply has no tool call");
        return NULL;
    }
    const char *other = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *fn = json_object_get(json_array_get(calls, i), "function");
        const char *name = json_string_value(json_object_get(fn, "name"));
        if (name && strcmp(name, REPLY_TOOL_NAME) == 0)
            return reply_intent_from_args(json_object_get(fn, "arguments"), reason, reasonlen);
        if (!other)
            other = name ? name : "(unnamed)";
    }
    snprintf(reason, reasonlen, "wrong tool called: \"%.80s\" instead of " REPLY_TOOL_NAME, other);
    return NULL;
}

/* A tool call's intent as a label of the set when it names one. */
static char *canonical(char *intent, const extract_labels *labels)
{
    if (!intent || !labels)
        return intent;
    for (size_t i = 0; i < labels->n; i++) /* the usual case, and cheap */
        if (strcmp(intent, labels->names[i]) == 0)
            return intent;
    enum extract_path p; /* (extract_intent tries the exact label first) */
    char reason[200];
    char *found = extract_intent(intent, labels, &p, reason, sizeof reason);
    if (found) {
        free(intent);
        return found;
    }
    return intent;
}

int reply_parse(const char *body, size_t len, enum output_mode mode, const extract_labels *labels,
                llm_reply *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    jr_error jerr;
    json_t *root = jr_parse(body, len, 0, &jerr);
    if (!root) {
        snprintf(err, errlen, "the upstream reply is not JSON (%s at byte %zu)", jerr.text,
                 jerr.position);
        return -1;
    }
    json_t *msg = json_object_get(json_array_get(json_object_get(root, "choices"), 0), "message");
    if (!json_is_object(msg)) {
        const char *emsg = json_string_value(json_object_get(json_object_get(root, "error"), "message"));
        snprintf(err, errlen, "the upstream reply has no choices[0].message%s%.200s",
                 emsg ? ": " : "", emsg ? emsg : "");
        json_decref(root);
        return -1;
    }
    out->message = json_incref(msg);
    json_t *calls = json_object_get(msg, "tool_calls");
    out->tool_calls = json_is_array(calls) ? json_incref(calls) : json_array();
    json_t *usage = json_object_get(root, "usage");
    out->usage = json_is_object(usage) ? json_incref(usage) : json_object();
    const char *content = json_string_value(json_object_get(msg, "content"));
    if (mode == OUTPUT_TOOL_CALLS && json_array_size(out->tool_calls)) {
        out->predicted = canonical(predict_tool(out->tool_calls, out->reason, sizeof out->reason), labels);
        out->extraction = out->predicted ? EXTRACT_TOOL_CALL : EXTRACT_NONE;
    } else {
        /* No tool call (text and structured modes, or a model that answered
         * in text although the tool was offered): what the content says. */
        char why[160];
        out->predicted = extract_intent(content, labels, &out->extraction, why, sizeof why);
        if (!out->predicted)
            snprintf(out->reason, sizeof out->reason, "%s%s",
                     mode == OUTPUT_TOOL_CALLS ? "the reply has no tool call, and " : "", why);
    }
    json_decref(root);
    return 0;
}

void reply_free(llm_reply *r)
{
    json_decref(r->message);
    json_decref(r->tool_calls);
    json_decref(r->usage);
    free(r->predicted);
    memset(r, 0, sizeof *r);
}

/* s trimmed of ASCII whitespace: *start and its length. */
static size_t trimmed(const char *s, const char **start)
{
    const char *ws = " \t\r\n\f\v";
    s += strspn(s, ws);
    size_t n = strlen(s);
    while (n > 0 && strchr(ws, s[n - 1]))
        n--;
    *start = s;
    return n;
}

/* A byte as compared: lower-cased, '_' read as ' '. */
static char fold(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c + 32);
    return c == '_' ? ' ' : c;
}

int reply_matches(const char *predicted, const char *label)
{
    if (!predicted || !label)
        return 0;
    const char *a, *b;
    size_t n = trimmed(predicted, &a), m = trimmed(label, &b);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (fold(a[i]) != fold(b[i]))
            return 0;
    return 1;
}

void reply_error_message(const char *body, size_t len, char *out, size_t n)
{
    out[0] = '\0';
    json_t *j = jr_parse(body ? body : "", len, 0, NULL);
    json_t *err = json_object_get(j, "error");
    const char *m = json_string_value(json_object_get(err, "message"));
    if (!m)
        m = json_string_value(err);
    if (!m)
        m = json_string_value(json_object_get(j, "detail"));
    if (m)
        snprintf(out, n, ": %s", m);
    else if (len)
        snprintf(out, n, ": %.*s", (int)(len < 200 ? len : 200), body);
    json_decref(j);
}
