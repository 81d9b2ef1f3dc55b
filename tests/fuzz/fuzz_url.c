/* libFuzzer target: inference URL normalisation, hosts, credentials, ids;
 * the Redis store's address and stored value (redisval.h). */
#include <stdlib.h>
#include <string.h>

#include "llmurl.h"
#include "redisval.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *url = xstrndup((const char *)data, size); /* stops at an embedded NUL, as C strings do */
    redis_addr a;
    char err[300];
    if (redis_addr_parse(url, &a, err, sizeof err) == 0) {
        if (!a.host[0] || a.port < 1 || a.port > 65535 || a.db < 0)
            abort();
    } else if (!err[0]) {
        abort(); /* a refusal says what is wanted */
    }
    /* any bytes as a stored value: taken only when its check holds, and
     * then it packs back to the same bytes */
    char *body;
    size_t blen;
    if (redis_value_unpack((const char *)data, size, &body, &blen)) {
        size_t n;
        char *again = redis_value_pack(body, blen, &n);
        if (n != size || memcmp(again, data, size) != 0)
            abort();
        free(again);
        free(body);
    }
    char *n = llmurl_normalize(url);
    if (n) {
        /* normalising is idempotent */
        char *again = llmurl_normalize(n);
        if (!again || strcmp(again, n) != 0)
            abort();
        free(again);
    }
    char *host = llmurl_host(url);
    enum llm_provider p = llmurl_provider(host);
    llm_keys keys = {"sk-openai", "gsk-groq", "op"};
    char *lines[2];
    size_t k = llmurl_auth_headers(url, &keys, "ENVKEY", lines);
    for (size_t i = 0; i < k; i++) {
        /* the environment key never goes to a provider host */
        if (p != PROVIDER_OTHER && strstr(lines[i], "ENVKEY"))
            abort();
        free(lines[i]);
    }
    free(llmurl_correlation_id(url));
    free(host);
    free(n);
    free(url);
    return 0;
}
