/* llmurl.h: what the server does with an inference URL before calling it.
 * Pure string functions; every result is a new string the caller frees. */
#ifndef B77_LLMURL_H
#define B77_LLMURL_H

#include <stddef.h>

/* Makes the URL's path end in /chat/completions, keeping its query string:
 *   .../chat/completions      kept
 *   .../v1/<id>               + /chat/completions   (an interceptor)
 *   .../v1                    + /chat/completions
 *   .../completions           -> .../chat/completions
 *   anything else             + /v1/chat/completions
 * and repairs the broken form https://host?cid=x/v1/chat/completions into
 * https://host/v1/chat/completions?cid=x. A fragment is dropped. Returns
 * NULL when the URL has no http:// or https:// scheme or no host. */
char *llmurl_normalize(const char *url);

/* The lower-cased host of an http(s) URL, without port or userinfo; NULL
 * when there is none. */
char *llmurl_host(const char *url);

/* Which provider's credentials a host gets. */
enum llm_provider { PROVIDER_OTHER, PROVIDER_OPENAI, PROVIDER_GROQ, PROVIDER_THIRD_PARTY };
/* PROVIDER_OPENAI for api.openai.com, PROVIDER_GROQ for api.groq.com,
 * PROVIDER_THIRD_PARTY for other well-known hosted LLM APIs (which must never
 * see the environment key either), PROVIDER_OTHER for everything else. */
enum llm_provider llmurl_provider(const char *host);

/* Keys the server holds for upstream calls; all borrowed, any may be NULL. */
typedef struct llm_keys {
    const char *openai;   /* OPENAI_API_KEY: only ever sent to api.openai.com */
    const char *groq;     /* GROQ_API_KEY: only ever sent to api.groq.com */
    const char *operator_key; /* LLM_API_KEY: Bearer for every other host */
} llm_keys;

/* The credential headers for a call to url, as full header lines (new
 * strings, at most 2, the caller frees each): api.openai.com and api.groq.com
 * get "Authorization: Bearer" with their own key; other hosted providers the
 * operator key only; any other host (interceptors, local servers) gets
 * "X-API-Key: <env_key>" plus the operator key when set. The environment key
 * never goes to a provider host. Returns how many lines were written. */
size_t llmurl_auth_headers(const char *url, const llm_keys *keys, const char *env_key,
                           char *out[2]);

/* The trace correlation id carried by an inference URL: the value of its
 * cid query parameter or one of its path segments, when it starts with
 * trace_, cid_ or eval_. NULL when there is none. */
char *llmurl_correlation_id(const char *url);

#endif
