/* prompt.c: see prompt.h. */
#include "prompt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalloc.h"
#include "jsonw.h"
#include "util.h"

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Appends a value to out: as is, or JSON-escaped (pre-escaped when the
 * caller has it). -1 only for text that is not UTF-8. */
static int put_value(buf *out, const char *val, const char *escaped, int json)
{
    if (!val)
        return 0;
    if (!json) {
        buf_puts(out, val);
        return 0;
    }
    if (escaped) {
        buf_puts(out, escaped);
        return 0;
    }
    return jw_escape(out, val, strlen(val));
}

/* prompt_render into out; with json, every piece is written JSON-escaped
 * (escaping is piecewise: the pieces meet at ASCII braces). Returns 0, or
 * -1 with *unknown set (or, with json, for text that is not UTF-8). */
static int render(buf *out, const char *tmpl, size_t len, const prompt_vars *v, char **unknown,
                  int *mentions_query, int json)
{
    *unknown = NULL;
    size_t i = 0;
    while (i < len) {
        char c = tmpl[i];
        if (c == '{' && i + 1 < len && tmpl[i + 1] == '{') {
            buf_putc(out, '{');
            i += 2;
            continue;
        }
        if (c == '}' && i + 1 < len && tmpl[i + 1] == '}') {
            buf_putc(out, '}');
            i += 2;
            continue;
        }
        if (c == '{') {
            size_t j = i + 1;
            while (j < len && is_name_char(tmpl[j]))
                j++;
            if (j > i + 1 && j < len && tmpl[j] == '}') {
                const char *name = tmpl + i + 1;
                size_t n = j - i - 1;
                int rc;
                if ((n == 5 && memcmp(name, "query", 5) == 0) ||
                    (n == 4 && memcmp(name, "text", 4) == 0)) {
                    rc = put_value(out, v->query, NULL, json);
                    if (mentions_query)
                        *mentions_query = 1;
                } else if (n == 17 && memcmp(name, "available_intents", 17) == 0) {
                    rc = put_value(out, v->available_intents, v->available_intents_json, json);
                } else if (n == 7 && memcmp(name, "intents", 7) == 0) {
                    rc = put_value(out, v->intents, v->intents_json, json);
                } else {
                    *unknown = xstrndup(name, n);
                    return -1;
                }
                if (rc)
                    return -1;
                i = j + 1;
                continue;
            }
        }
        /* Copy a run of ordinary bytes at once. */
        size_t j = i + 1;
        while (j < len && tmpl[j] != '{' && tmpl[j] != '}')
            j++;
        if (!json)
            buf_append(out, tmpl + i, j - i);
        else if (jw_escape(out, tmpl + i, j - i))
            return -1;
        i = j;
    }
    return 0;
}

char *prompt_render(const char *tmpl, size_t len, const prompt_vars *v, char **unknown,
                    int *mentions_query)
{
    buf out = {0};
    buf_reserve(&out, len + 64);
    if (render(&out, tmpl, len, v, unknown, mentions_query, 0)) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}

/* role and content are valid UTF-8: JSON strings of the request, and the
 * dataset's texts (checked when loaded) spliced in at ASCII braces; jansson's
 * check would walk the whole prompt again. */
static json_t *message(const char *role, const char *content)
{
    json_t *m = json_object();
    json_object_set_new_nocheck(m, "role", json_string_nocheck(role));
    json_object_set_new_nocheck(m, "content", json_string_nocheck(content));
    return m;
}

/* Where a template string sits, for error locations built only on error:
 * body.policy.config.prompt_template[.key[.index[.field]]]. */
struct where {
    const char *key; /* NULL: the template itself */
    long index;      /* -1: none */
    const char *field;
};

static void set_error(verr *e, const char *msg, struct where w)
{
    json_t *loc = json_pack("[s,s,s,s]", "body", "policy", "config", "prompt_template");
    if (w.key)
        json_array_append_new(loc, json_string(w.key));
    if (w.index >= 0)
        json_array_append_new(loc, json_integer((json_int_t)w.index));
    if (w.field)
        json_array_append_new(loc, json_string(w.field));
    verr_set(e, msg, "o", loc);
}

/* What the rendering builds: the messages (when msgs is not NULL) and their
 * JSON text (when json is not NULL). */
struct out {
    json_t *msgs;
    buf *json;
    size_t count;
};

static int unknown_placeholder(verr *e, char *unknown, struct where w)
{
    char msg[200];
    snprintf(msg, sizeof msg,
             "unknown placeholder {%.60s} in prompt_template (known: {query}, {text}, "
             "{available_intents}, {intents}; write {{ and }} for literal braces)",
             unknown);
    free(unknown);
    set_error(e, msg, w);
    return -1;
}

/* Renders one template string into a message appended to the output.
 * Returns 0, or -1 with e set. */
static int add_rendered(struct out *o, const char *role, const char *tmpl, size_t len,
                        const prompt_vars *v, int *mentions, verr *e, struct where w)
{
    char *unknown = NULL;
    if (o->msgs) {
        char *text = prompt_render(tmpl, len, v, &unknown, mentions);
        if (!text)
            return unknown_placeholder(e, unknown, w);
        json_array_append_new(o->msgs, message(role, text));
        free(text);
        mentions = NULL; /* noted once */
    }
    if (o->json) {
        buf_puts(o->json, o->count ? ",{\"role\":" : "{\"role\":");
        int bad = jw_cstr(o->json, role);
        jw_raw(o->json, ",\"content\":\"");
        if (bad || render(o->json, tmpl, len, v, &unknown, mentions, 1)) {
            if (unknown)
                return unknown_placeholder(e, unknown, w);
            set_error(e, "the prompt is not valid UTF-8", w);
            return -1;
        }
        jw_raw(o->json, "\"}");
    }
    o->count++;
    return 0;
}

/* A demonstration answered the way a live answer must be: the assistant's
 * call of the classify tool with the intent, then the tool's reply (chat
 * APIs want one after every call). The k-th in the prompt. */
static int add_tool_demo(struct out *o, const char *intent, size_t k, struct where w, verr *e)
{
    char id[32];
    snprintf(id, sizeof id, "call_demo_%zu", k);
    json_t *args = json_pack("{s:s}", "intent", intent);
    char *a = args ? jalloc_dumps(args, JSON_COMPACT) : NULL;
    json_decref(args);
    if (!a) {
        set_error(e, "the demonstration is not valid UTF-8", w);
        return -1;
    }
    json_t *call = json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                             "tool_calls", "id", id, "type", "function", "function", "name",
                             "banking77_classify", "arguments", a);
    json_t *reply = json_pack("{s:s,s:s,s:s}", "role", "tool", "tool_call_id", id, "content", "ok");
    free(a);
    if (o->json) {
        buf_puts(o->json, o->count ? "," : "");
        jw_value(o->json, call);
        buf_putc(o->json, ',');
        jw_value(o->json, reply);
    }
    if (o->msgs) {
        json_array_append(o->msgs, call);
        json_array_append(o->msgs, reply);
    }
    json_decref(call);
    json_decref(reply);
    o->count += 2;
    return 0;
}

struct section {
    const json_t *obj;
    size_t index;
    double order;
};

static int section_cmp(const void *a, const void *b)
{
    const struct section *x = a, *y = b;
    if (x->order < y->order)
        return -1;
    if (x->order > y->order)
        return 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int render_sections(struct out *o, const char *key, const json_t *list,
                           const prompt_vars *v, int *mentions, verr *e)
{
    size_t n = json_array_size(list);
    struct section *secs = xcalloc(n ? n : 1, sizeof *secs);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *s = json_array_get(list, i);
        struct where w = {key, (long)i, NULL};
        if (!json_is_object(s)) {
            set_error(e, "each prompt section must be an object with role and content", w);
            rc = -1;
        } else {
            const json_t *order = json_object_get(s, "order");
            secs[i].obj = s;
            secs[i].index = i;
            secs[i].order = (double)i;
            if (order && !json_is_null(order)) {
                if (!json_is_number(order)) {
                    w.field = "order";
                    set_error(e, "section order must be a number", w);
                    rc = -1;
                } else {
                    secs[i].order = json_number_value(order);
                }
            }
        }
    }
    if (rc == 0)
        qsort(secs, n, sizeof *secs, section_cmp);
    for (size_t k = 0; k < n && rc == 0; k++) {
        const json_t *s = secs[k].obj;
        struct where w = {key, (long)secs[k].index, NULL};
        const json_t *role = json_object_get(s, "role");
        const char *r = json_string_value(role);
        const json_t *content = json_object_get(s, "content");
        if (!content || json_is_null(content))
            content = json_object_get(s, "pattern");
        if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))) {
            w.field = "role";
            set_error(e, "section role must be \"system\", \"user\" or \"assistant\"", w);
            rc = -1;
        } else if (!json_is_string(content)) {
            w.field = "content";
            set_error(e, "section needs a string content (or pattern)", w);
            rc = -1;
        } else if (json_object_get(s, "as_tool_call") &&
                   !json_is_boolean(json_object_get(s, "as_tool_call"))) {
            w.field = "as_tool_call";
            set_error(e, "as_tool_call must be true or false", w);
            rc = -1;
        } else if (v->tool_demos && strcmp(r, "assistant") == 0 &&
                   json_is_true(json_object_get(s, "as_tool_call"))) {
            w.field = "content";
            rc = add_tool_demo(o, json_string_value(content), k, w, e);
        } else {
            w.field = "content";
            rc = add_rendered(o, r, json_string_value(content), json_string_length(content), v,
                              mentions, e, w);
        }
    }
    free(secs);
    return rc;
}

int prompt_render_messages(const json_t *tmpl, const prompt_vars *v, int short_user, verr *e,
                           json_t **tree, buf *json)
{
    struct out o = {tree ? json_array() : NULL, json, 0};
    int mentions = 0, rc = 0;
    const char *user = short_user ? PROMPT_SHORT_USER : PROMPT_DEFAULT_USER;
    const struct where top = {NULL, -1, NULL};
    if (json)
        buf_putc(json, '[');
    if (!tmpl || json_is_null(tmpl)) {
        rc = add_rendered(&o, "system", PROMPT_DEFAULT_SYSTEM, strlen(PROMPT_DEFAULT_SYSTEM), v,
                          &mentions, e, top);
    } else if (json_is_string(tmpl)) {
        rc = add_rendered(&o, "system", json_string_value(tmpl), json_string_length(tmpl), v,
                          &mentions, e, top);
    } else if (json_is_object(tmpl)) {
        static const char *keys[] = {"sections", "prompt_sections", "messages"};
        const json_t *list = NULL;
        const char *key = NULL;
        for (size_t i = 0; i < B77_ARRAY_LEN(keys) && !list; i++) {
            list = json_object_get(tmpl, keys[i]);
            key = keys[i];
            if (list && json_is_null(list))
                list = NULL;
        }
        if (!list) {
            rc = add_rendered(&o, "system", PROMPT_DEFAULT_SYSTEM, strlen(PROMPT_DEFAULT_SYSTEM),
                              v, &mentions, e, top);
        } else if (!json_is_array(list)) {
            set_error(e, "prompt_template sections must be a list", (struct where){key, -1, NULL});
            rc = -1;
        } else {
            rc = render_sections(&o, key, list, v, &mentions, e);
        }
    } else {
        set_error(e, "prompt_template must be a string or an object with a sections list", top);
        rc = -1;
    }
    if (rc == 0 && !mentions)
        rc = add_rendered(&o, "user", user, strlen(user), v, &mentions, e, top);
    if (rc != 0) {
        json_decref(o.msgs);
        return -1;
    }
    if (json)
        buf_putc(json, ']');
    if (tree)
        *tree = o.msgs;
    return 0;
}

json_t *prompt_messages(const json_t *tmpl, const prompt_vars *v, int short_user, verr *e,
                        buf *json)
{
    json_t *tree = NULL;
    return prompt_render_messages(tmpl, v, short_user, e, &tree, json) == 0 ? tree : NULL;
}

char *prompt_escape_braces(const char *s)
{
    buf b = {0};
    for (; *s; s++) {
        buf_putc(&b, *s);
        if (*s == '{' || *s == '}')
            buf_putc(&b, *s);
    }
    return buf_steal(&b);
}

void prompt_append_demo(json_t *sections, const char *query, const char *intent)
{
    char *q = prompt_escape_braces(query);
    char *user = xasprintf("Customer Query: %s", q);
    char *answer = prompt_escape_braces(intent);
    json_array_append_new(sections, json_pack("{s:s,s:s}", "role", "user", "content", user));
    json_array_append_new(sections, json_pack("{s:s,s:s,s:b}", "role", "assistant", "content",
                                              answer, "as_tool_call", 1));
    free(q);
    free(user);
    free(answer);
}
