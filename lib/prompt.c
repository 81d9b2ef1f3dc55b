/* prompt.c: see prompt.h. */
#include "prompt.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char *prompt_render(const char *tmpl, size_t len, const prompt_vars *v, char **unknown,
                    int *mentions_query)
{
    buf out = {0};
    buf_reserve(&out, len + 64);
    *unknown = NULL;
    size_t i = 0;
    while (i < len) {
        char c = tmpl[i];
        if (c == '{' && i + 1 < len && tmpl[i + 1] == '{') {
            buf_putc(&out, '{');
            i += 2;
            continue;
        }
        if (c == '}' && i + 1 < len && tmpl[i + 1] == '}') {
            buf_putc(&out, '}');
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
                const char *val = NULL;
                if ((n == 5 && memcmp(name, "query", 5) == 0) ||
                    (n == 4 && memcmp(name, "text", 4) == 0)) {
                    val = v->query;
                    if (mentions_query)
                        *mentions_query = 1;
                } else if (n == 17 && memcmp(name, "available_intents", 17) == 0) {
                    val = v->available_intents;
                } else if (n == 7 && memcmp(name, "intents", 7) == 0) {
                    val = v->intents;
                } else {
                    *unknown = xstrndup(name, n);
                    buf_free(&out);
                    return NULL;
                }
                buf_puts(&out, val ? val : "");
                i = j + 1;
                continue;
            }
        }
        /* Copy a run of ordinary bytes at once. */
        size_t j = i + 1;
        while (j < len && tmpl[j] != '{' && tmpl[j] != '}')
            j++;
        buf_append(&out, tmpl + i, j - i);
        i = j;
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

/* Renders one template string into a message appended to msgs. Returns 0, or
 * -1 with e set (loc = base path + "content"). */
static int add_rendered(json_t *msgs, const char *role, const char *tmpl, size_t len,
                        const prompt_vars *v, int *mentions, verr *e, json_t *loc)
{
    char *unknown = NULL;
    char *text = prompt_render(tmpl, len, v, &unknown, mentions);
    if (!text) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "unknown placeholder {%.60s} in prompt_template (known: {query}, {text}, "
                 "{available_intents}, {intents}; write {{ and }} for literal braces)",
                 unknown);
        free(unknown);
        verr_set(e, msg, "o", json_incref(loc));
        return -1;
    }
    json_array_append_new(msgs, message(role, text));
    free(text);
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

static json_t *base_loc(void)
{
    return json_pack("[s,s,s,s]", "body", "policy", "config", "prompt_template");
}

static int render_sections(json_t *msgs, const char *key, const json_t *list, const prompt_vars *v,
                           int *mentions, verr *e)
{
    size_t n = json_array_size(list);
    struct section *secs = xcalloc(n ? n : 1, sizeof *secs);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *s = json_array_get(list, i);
        json_t *loc = base_loc();
        json_array_append_new(loc, json_string(key));
        json_array_append_new(loc, json_integer((json_int_t)i));
        if (!json_is_object(s)) {
            verr_set(e, "each prompt section must be an object with role and content", "o",
                     json_incref(loc));
            rc = -1;
        } else {
            const json_t *order = json_object_get(s, "order");
            secs[i].obj = s;
            secs[i].index = i;
            secs[i].order = (double)i;
            if (order && !json_is_null(order)) {
                if (!json_is_number(order)) {
                    json_array_append_new(loc, json_string("order"));
                    verr_set(e, "section order must be a number", "o", json_incref(loc));
                    rc = -1;
                } else {
                    secs[i].order = json_number_value(order);
                }
            }
        }
        json_decref(loc);
    }
    if (rc == 0)
        qsort(secs, n, sizeof *secs, section_cmp);
    for (size_t k = 0; k < n && rc == 0; k++) {
        const json_t *s = secs[k].obj;
        json_t *loc = base_loc();
        json_array_append_new(loc, json_string(key));
        json_array_append_new(loc, json_integer((json_int_t)secs[k].index));
        const json_t *role = json_object_get(s, "role");
        const char *r = json_string_value(role);
        const json_t *content = json_object_get(s, "content");
        if (!content || json_is_null(content))
            content = json_object_get(s, "pattern");
        if (!r || (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))) {
            json_array_append_new(loc, json_string("role"));
            verr_set(e, "section role must be \"system\", \"user\" or \"assistant\"", "o",
                     json_incref(loc));
            rc = -1;
        } else if (!json_is_string(content)) {
            json_array_append_new(loc, json_string("content"));
            verr_set(e, "section needs a string content (or pattern)", "o", json_incref(loc));
            rc = -1;
        } else {
            json_array_append_new(loc, json_string("content"));
            rc = add_rendered(msgs, r, json_string_value(content), json_string_length(content), v,
                              mentions, e, loc);
        }
        json_decref(loc);
    }
    free(secs);
    return rc;
}

json_t *prompt_messages(const json_t *tmpl, const prompt_vars *v, int short_user, verr *e)
{
    json_t *msgs = json_array();
    int mentions = 0, rc = 0;
    const char *user = short_user ? PROMPT_SHORT_USER : PROMPT_DEFAULT_USER;
    json_t *loc = base_loc();
    if (!tmpl || json_is_null(tmpl)) {
        rc = add_rendered(msgs, "system", PROMPT_DEFAULT_SYSTEM, strlen(PROMPT_DEFAULT_SYSTEM), v,
                          &mentions, e, loc);
    } else if (json_is_string(tmpl)) {
        rc = add_rendered(msgs, "system", json_string_value(tmpl), json_string_length(tmpl), v,
                          &mentions, e, loc);
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
            rc = add_rendered(msgs, "system", PROMPT_DEFAULT_SYSTEM, strlen(PROMPT_DEFAULT_SYSTEM),
                              v, &mentions, e, loc);
        } else if (!json_is_array(list)) {
            json_array_append_new(loc, json_string(key));
            verr_set(e, "prompt_template sections must be a list", "o", json_incref(loc));
            rc = -1;
        } else {
            rc = render_sections(msgs, key, list, v, &mentions, e);
        }
    } else {
        verr_set(e, "prompt_template must be a string or an object with a sections list", "o",
                 json_incref(loc));
        rc = -1;
    }
    if (rc == 0 && !mentions)
        rc = add_rendered(msgs, "user", user, strlen(user), v, &mentions, e, loc);
    json_decref(loc);
    if (rc != 0) {
        json_decref(msgs);
        return NULL;
    }
    return msgs;
}
