/* limits.h: the mock as a rate-limited provider (--rpm, --tpm): token
 * buckets of one second's worth, refilled continuously, that answer 429
 * with Retry-After, retry-after-ms and the x-ratelimit-* headers OpenAI
 * sends (on every reply, unless --no-ratelimit-headers). Thread-safe. */
#ifndef B77_MOCK_LIMITS_H
#define B77_MOCK_LIMITS_H

#include <stdint.h>

/* What one request was told. */
typedef struct mock_limit_result {
    int refused;
    int64_t retry_after_ms; /* when refused */
    int headers;            /* send the x-ratelimit-* headers below */
    long limit_requests, remaining_requests;
    int64_t reset_requests_ms;
    long limit_tokens, remaining_tokens;
    int64_t reset_tokens_ms;
} mock_limit_result;

/* Sets (or changes, at any time) the limits; 0: none. headers: send them. */
void mock_limits_set(long rpm, long tpm, int headers);
/* Whether any limit is set. */
int mock_limits_on(void);
/* Charges one request of `tokens` tokens, unless refused. */
void mock_limits_charge(int64_t now, double tokens, mock_limit_result *out);
/* Requests refused so far. */
long mock_limits_refused(void);

#endif
