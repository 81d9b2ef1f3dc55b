/* libFuzzer target: inference URL normalisation, hosts, credentials, ids. */
#include <stdlib.h>
#include <string.h>

#include "llmurl.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char *url = xstrndup((const char *)data, size); /* stops at an embedded NUL, as C strings do */
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
