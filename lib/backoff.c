/* backoff.c: see backoff.h. */
#include "backoff.h"

#include "util.h"

int backoff_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

int64_t backoff_wait_ms(int attempts, long long retry_after_s, uint64_t *rng)
{
    int shift = attempts - 1 < 0 ? 0 : attempts - 1 > 6 ? 6 : attempts - 1;
    int64_t ceiling = (int64_t)BACKOFF_BASE_MS << shift;
    if (ceiling > BACKOFF_MAX_MS)
        ceiling = BACKOFF_MAX_MS;
    int64_t wait = ceiling / 2 + (int64_t)(splitmix64(rng) % (uint64_t)(ceiling / 2 + 1));
    if (retry_after_s > 0 && retry_after_s * 1000 > wait)
        wait = (int64_t)(retry_after_s * 1000);
    return wait;
}
