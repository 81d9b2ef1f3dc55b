/* prompt.h: rendering the chat messages of one rollout. Pure: no I/O. */
#ifndef B77_PROMPT_H
#define B77_PROMPT_H

#include <jansson.h>

#include "util.h"
#include "verr.h"

/* The synth-ai Banking77 baseline, byte for byte: the Synth backend rewrites
 * prompts by matching these strings. */
#define PROMPT_DEFAULT_SYSTEM                                                                   \
    "You are an expert banking assistant that classifies customer queries into banking "      \
    "intents. Given a customer message, respond with exactly one intent label from the "      \
    "provided list using the `banking77_classify` tool."
#define PROMPT_DEFAULT_USER                                                                     \
    "Customer Query: {query}\n\nAvailable Intents:\n{available_intents}\n\nClassify this "    \
    "query into one of the above banking intents using the tool call."
#define PROMPT_SHORT_USER                                                                       \
    "Customer Query: {query}\n\nClassify this query into one of the banking intents using "   \
    "the tool call."

/* Values of the placeholders; all borrowed. */
typedef struct prompt_vars {
    const char *query;             /* {query} and {text} */
    const char *available_intents; /* {available_intents} */
    const char *intents;           /* {intents} */
    /* The two lists JSON-escaped (no quotes), or NULL: escaped when needed. */
    const char *available_intents_json;
    const char *intents_json;
    /* An assistant section with "as_tool_call": true is a demonstration:
     * with tool_demos it renders as the classify tool's call (and the tool's
     * reply), the way the model must answer; otherwise as its content. */
    int tool_demos;
} prompt_vars;

/* Renders tmpl (len bytes): {query}, {text}, {available_intents},
 * {intents} are substituted, {{ and }} become braces, a brace not starting a
 * {name} placeholder is kept. Returns a new string, or NULL with the unknown
 * placeholder's name (a new string the caller frees) in *unknown.
 * *mentions_query is set to 1 when {query} or {text} occurs. */
char *prompt_render(const char *tmpl, size_t len, const prompt_vars *v, char **unknown,
                    int *mentions_query);

/* s with its braces doubled, so that a template renders it as written
 * (a new string). */
char *prompt_escape_braces(const char *s);
/* Appends one demonstration to a template's sections: the user's
 * "Customer Query: QUERY" and the answer INTENT as the classify tool's call
 * ("as_tool_call": true; a task app that does not know it renders the
 * content), braces escaped in both: text, not placeholders. */
void prompt_append_demo(json_t *sections, const char *query, const char *intent);

/* Builds the messages array ([{"role","content"}...], new reference) from
 * policy.config.prompt_template (NULL or json null: the defaults; a string:
 * the system message; an object: its sections/prompt_sections list sorted by
 * order). When no section mentions {query}/{text} the default user message
 * (the short one when short_user) is appended. On a bad template returns
 * NULL and fills e with a loc under body.policy.config.prompt_template.
 * When json is not NULL the same array is appended to it as JSON text,
 * written as it renders (the rendered text is not escaped a second time). */
json_t *prompt_messages(const json_t *tmpl, const prompt_vars *v, int short_user, verr *e,
                        buf *json);
/* The same with the tree optional: *tree is set when tree is not NULL, the
 * JSON text appended when json is not NULL. Returns 0, or -1 with e set. */
int prompt_render_messages(const json_t *tmpl, const prompt_vars *v, int short_user, verr *e,
                           json_t **tree, buf *json);

#endif
