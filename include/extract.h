/* extract.h: the intent in what a model wrote, when it is not a clean tool
 * call. Pure.
 *
 * In this order: JSON in the content ({"intent": ...}, bare or in a fenced
 * code block, or the first {...} holding "intent"); then a label found in the
 * text: the exact label, or with spaces for underscores, any case, with
 * markdown, quotes and a leading "intent:" stripped. When several labels
 * appear, the one the text commits to: the one after the last "intent is",
 * "answer:", "classified as"... phrase, else the only label of the last line
 * naming one; a label only named as rejected ("not x") counts when nothing
 * else is named. A label that is only part of a longer label in the text
 * (top_up inside top_up_failed) is never a match. Reasoning (<think>...</think>)
 * is never read as the answer. */
#ifndef B77_EXTRACT_H
#define B77_EXTRACT_H

#include <stddef.h>

enum extract_path { EXTRACT_NONE, EXTRACT_TOOL_CALL, EXTRACT_JSON, EXTRACT_LABEL };

/* "none", "tool_call", "json", "label". */
const char *extract_path_name(enum extract_path p);

/* The labels a text may name (borrowed, for the lifetime of the set). */
typedef struct extract_labels {
    const char *const *names;
    size_t n;
} extract_labels;

/* The intent in content (NUL-terminated). Returns a new string (for the
 * label path, the label as the set spells it) and sets *path, or NULL with
 * the reason in reason. labels may be NULL: then only JSON is read. */
char *extract_intent(const char *content, const extract_labels *labels, enum extract_path *path,
                     char *reason, size_t reasonlen);

/* The label of the set that s names exactly (any case, spaces for
 * underscores, surrounding quotes, markdown and "intent:" stripped), or NULL. */
const char *extract_exact_label(const char *s, const extract_labels *labels);

/* content without its reasoning: <think>...</think> blocks removed (an
 * unclosed <think> removes the rest). A new string. */
char *extract_strip_reasoning(const char *content);

#endif
