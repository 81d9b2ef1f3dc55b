/* reply.h: turning an OpenAI-compatible chat-completions reply into a
 * predicted intent, and scoring it. Pure: no I/O. */
#ifndef B77_REPLY_H
#define B77_REPLY_H

#include <jansson.h>
#include <stddef.h>

#include "extract.h"

#define REPLY_TOOL_NAME "banking77_classify"

enum output_mode { OUTPUT_TOOL_CALLS, OUTPUT_TEXT, OUTPUT_STRUCTURED };

/* Parses "tool_calls", "text" or "structured"; -1 when unknown. */
int reply_parse_mode(const char *s);

typedef struct llm_reply {
    json_t *message;    /* choices[0].message (new reference), never NULL on success */
    json_t *tool_calls; /* the message's tool_calls, [] when none (new reference) */
    json_t *usage;      /* the reply's usage object, {} when absent (new reference) */
    char *predicted;    /* the predicted intent, NULL when the reply has none */
    enum extract_path extraction; /* where predicted came from */
    char reason[200];   /* why predicted is NULL */
} llm_reply;

/* Parses the body of a 2xx reply. Returns 0 with *out filled (a reply without
 * a usable intent is still a success: predicted NULL, reason set). Returns -1
 * with a message in err when the body is not a chat completion at all (not
 * JSON, no choices[0].message). Free with reply_free.
 *
 * The intent, in every mode: the tool call's intent (tool mode; a call to
 * another tool is a wrong answer), else what the content says (extract.h:
 * JSON, then a label of `labels` found in the text; NULL labels: JSON only).
 * A tool call's intent that is not exactly a label is read the same way.
 * Reasoning (reasoning_content, reasoning, <think>) is never the answer. */
int reply_parse(const char *body, size_t len, enum output_mode mode, const extract_labels *labels,
                llm_reply *out, char *err, size_t errlen);
void reply_free(llm_reply *r);

/* The message of an error reply (any status but 2xx), for the rollout's
 * error detail: ": " and {"error":{"message"}}, {"error": "..."} or
 * {"detail": "..."}, else ": " and the body's first 200 bytes; "" for an
 * empty body. */
void reply_error_message(const char *body, size_t len, char *out, size_t n);

/* The intent from a tool call's arguments (a JSON string or object):
 * a string as is, a list joined with spaces, other JSON stringified. NULL with
 * reason filled when the arguments are not JSON or have no intent. */
char *reply_intent_from_args(const json_t *args, char *reason, size_t reasonlen);

/* 1 when the prediction names the label: both trimmed, lower-cased and with
 * '_' read as a space. */
int reply_matches(const char *predicted, const char *label);

#endif
