/* quirks.h: the mock as the LLM servers users point the task app at, each
 * with its own habits (--quirk NAME, or "+quirk=NAME,NAME" in the model):
 *
 *   no-tools                400 when the request offers tools (Ollama models without
 *                           a tool template)
 *   no-required             400 for tool_choice "required" (older vLLM)
 *   no-temperature          400 when temperature is set (OpenAI reasoning models)
 *   completion-tokens-only  400 for max_tokens: "use max_completion_tokens" (OpenAI)
 *   max-tokens-only         400 for max_completion_tokens (servers that predate it)
 *   no-response-format      400 when response_format is set
 *   text-only               tools are ignored: the answer is a sentence
 *   json-content            the answer is fenced JSON in the content, no tool call
 *   reasoning               a misleading reasoning_content beside the answer, and
 *                           reasoning tokens in usage
 *   think-tags              <think>...</think> before a text answer, no tool call
 * Pure. */
#ifndef B77_MOCK_QUIRKS_H
#define B77_MOCK_QUIRKS_H

#include <jansson.h>

enum {
    QUIRK_NO_TOOLS = 1 << 0,
    QUIRK_NO_REQUIRED = 1 << 1,
    QUIRK_NO_TEMPERATURE = 1 << 2,
    QUIRK_COMPLETION_TOKENS_ONLY = 1 << 3,
    QUIRK_MAX_TOKENS_ONLY = 1 << 4,
    QUIRK_NO_RESPONSE_FORMAT = 1 << 5,
    QUIRK_TEXT_ONLY = 1 << 6,
    QUIRK_JSON_CONTENT = 1 << 7,
    QUIRK_REASONING = 1 << 8,
    QUIRK_THINK_TAGS = 1 << 9,
};

/* The quirks named in s[0..n) (comma-separated); -1 when one is unknown. */
int quirks_parse(const char *s, size_t n);

/* The 400 error body (a new string) a server with these quirks answers to
 * req, or NULL when it accepts it. */
char *quirks_reject(int quirks, const json_t *req, const char *model);

/* The assistant message for a classification answered `intent` (a wrong
 * guess `other` for reasoning to mention), or NULL when the quirks do not
 * change it. *reasoning_tokens is set for the usage. */
json_t *quirks_message(int quirks, const char *intent, const char *other, long *reasoning_tokens);

#endif
