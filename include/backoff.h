/* backoff.h: the one retry policy of the project, used by the task app's
 * upstream calls and the optimizer's client. Pure. */
#ifndef B77_BACKOFF_H
#define B77_BACKOFF_H

#include <stdint.h>

#define BACKOFF_BASE_MS 200 /* the first retry waits 100-200 ms, doubling after */
#define BACKOFF_MAX_MS 8000

/* HTTP statuses worth another attempt: 429, 502, 503, 504. */
int backoff_retryable(long status);

/* How long to wait before the next attempt, after `attempts` attempts (1 or
 * more) have failed: exponential with jitter (half to all of the ceiling),
 * at least retry_after_s seconds when the server said so (<= 0: it did
 * not). rng is advanced. */
int64_t backoff_wait_ms(int attempts, long long retry_after_s, uint64_t *rng);

#endif
