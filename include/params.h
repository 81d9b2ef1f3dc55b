/* params.h: which request parameter an LLM server refused, from its 400
 * error body, and what to send instead. Pure.
 *
 * Servers differ: OpenAI's reasoning models take no temperature and want
 * max_completion_tokens; older servers know only max_tokens; vLLM without
 * its tool parser refuses tool_choice "required"; Ollama models without a
 * tool template refuse tools; some refuse response_format. Each adaptation
 * is one bit; rollout_prepare (rollout.h) builds the request with them. */
#ifndef B77_PARAMS_H
#define B77_PARAMS_H

#include <stddef.h>

enum {
    ADAPT_FORCE_FUNCTION = 1 << 0,       /* tool_choice as the named function, not "required" */
    ADAPT_NO_TOOLS = 1 << 1,             /* no tools: text mode */
    ADAPT_NO_TEMPERATURE = 1 << 2,       /* no temperature */
    ADAPT_MAX_COMPLETION_TOKENS = 1 << 3, /* the token limit as max_completion_tokens */
    ADAPT_MAX_TOKENS = 1 << 4,           /* the token limit as max_tokens */
    ADAPT_NO_RESPONSE_FORMAT = 1 << 5,   /* no response_format: text mode */
};
#define ADAPT_COUNT 6

/* The adaptation (one bit) that the refusal `error` (the 400 body) of the
 * request `request` (the chat-completions body sent) calls for, given those
 * already made; 0 when the error is about something else or nothing is left
 * to try. */
int params_adaptation(const char *error, size_t error_len, const char *request, size_t request_len,
                      int current);

/* A short name of bit i (0 <= i < ADAPT_COUNT): "force_function", "no_tools",
 * "no_temperature", "max_completion_tokens", "max_tokens", "no_response_format". */
const char *params_name(int i);
/* What it means, for logs: "tool_choice as the named function". */
const char *params_description(int i);

#endif
