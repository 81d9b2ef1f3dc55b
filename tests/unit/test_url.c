/* Unit tests: URL normalisation, hosts, credentials, correlation ids. */
#include <stdlib.h>

#include "llmurl.h"
#include "test.h"

static void norm(const char *in, const char *want)
{
    char *got = llmurl_normalize(in);
    CHECK_STR(got, want);
    free(got);
}

TEST(url_normalisation_table)
{
    norm("https://api.openai.com/v1", "https://api.openai.com/v1/chat/completions");
    norm("https://api.openai.com/v1/", "https://api.openai.com/v1/chat/completions");
    norm("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1/chat/completions");
    norm("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1/chat/completions");
    norm("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/chat/completions");
    norm("http://h:1/v1/completions", "http://h:1/v1/chat/completions");
    norm("http://h/proxy/completions", "http://h/proxy/chat/completions");
    norm("https://x.ai/api/v1/trace_abc", "https://x.ai/api/v1/trace_abc/chat/completions");
    norm("https://h/v1?cid=trace_1", "https://h/v1/chat/completions?cid=trace_1");
    norm("https://h/v1/chat/completions?cid=x&y=2", "https://h/v1/chat/completions?cid=x&y=2");
    norm("https://host?cid=x/v1/chat/completions", "https://host/v1/chat/completions?cid=x");
    norm("https://host/?cid=x", "https://host/v1/chat/completions?cid=x");
    norm("http://h/v1#frag", "http://h/v1/chat/completions");
    /* found by fuzzing: a second '?' inside the misplaced path */
    norm("https://h?cid=x/v1/chat/completions?y=1", "https://h/v1/chat/completions?cid=x&y=1");
    CHECK(llmurl_normalize("ftp://h/v1") == NULL);
    CHECK(llmurl_normalize("not a url") == NULL);
    CHECK(llmurl_normalize("http://") == NULL);
}

TEST(url_host_and_provider)
{
    char *h = llmurl_host("https://user:pw@API.OpenAI.com:443/v1");
    CHECK_STR(h, "api.openai.com");
    CHECK(llmurl_provider(h) == PROVIDER_OPENAI);
    free(h);
    h = llmurl_host("https://api.groq.com./openai/v1");
    CHECK_STR(h, "api.groq.com");
    CHECK(llmurl_provider(h) == PROVIDER_GROQ);
    free(h);
    h = llmurl_host("http://[::1]:8080/v1");
    CHECK_STR(h, "[::1]");
    CHECK(llmurl_provider(h) == PROVIDER_OTHER);
    free(h);
    CHECK(llmurl_provider("api.anthropic.com") == PROVIDER_THIRD_PARTY);
    CHECK(llmurl_provider("eu.api.openai.com") == PROVIDER_THIRD_PARTY);
    CHECK(llmurl_provider("notopenai.com") == PROVIDER_OTHER);
    CHECK(llmurl_provider("localhost") == PROVIDER_OTHER);
}

static size_t creds(const char *url, const char *env_key, char *out[2])
{
    llm_keys k = {"sk-openai", "gsk-groq", "op-key"};
    return llmurl_auth_headers(url, &k, env_key, out);
}

TEST(credentials_per_host)
{
    char *l[2];
    size_t n = creds("https://api.openai.com/v1", "ENVKEY", l);
    CHECK(n == 1);
    CHECK_STR(l[0], "Authorization: Bearer sk-openai");
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    n = creds("https://api.groq.com/openai/v1", "ENVKEY", l);
    CHECK(n == 1);
    CHECK_STR(l[0], "Authorization: Bearer gsk-groq");
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    n = creds("http://127.0.0.1:9/v1", "ENVKEY", l);
    CHECK(n == 2);
    CHECK_STR(l[0], "X-API-Key: ENVKEY");
    CHECK_STR(l[1], "Authorization: Bearer op-key");
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    n = creds("https://api.anthropic.com/v1", "ENVKEY", l);
    CHECK(n == 1);
    CHECK(strstr(l[0], "ENVKEY") == NULL);
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    llm_keys none = {0};
    CHECK(llmurl_auth_headers("https://api.openai.com/v1", &none, "ENVKEY", l) == 0);
}

TEST(correlation_id_from_url)
{
    char *c = llmurl_correlation_id("https://h/v1/chat/completions?cid=trace_abc&x=1");
    CHECK_STR(c, "trace_abc");
    free(c);
    c = llmurl_correlation_id("https://h/api/eval_42/v1");
    CHECK_STR(c, "eval_42");
    free(c);
    c = llmurl_correlation_id("https://host?cid=cid_9/v1/chat/completions");
    CHECK_STR(c, "cid_9");
    free(c);
    CHECK(llmurl_correlation_id("https://h/v1?cid=plain") == NULL);
    CHECK(llmurl_correlation_id("https://h/v1") == NULL);
}
