/* llmurl.c: see llmurl.h. */
#include "llmurl.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Splits url into scheme+authority, path, query; returns -1 if not http(s). */
struct parts {
    char *origin; /* "https://host:port" */
    char *path;   /* "" or "/..." */
    char *query;  /* NULL or "a=b" without '?' */
};

static void parts_free(struct parts *p)
{
    free(p->origin);
    free(p->path);
    free(p->query);
}

static int split_url(const char *url, struct parts *p)
{
    memset(p, 0, sizeof *p);
    size_t skip;
    if (ascii_ncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (ascii_ncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return -1;
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    if (alen == 0)
        return -1;
    const char *rest = auth + alen;
    size_t total = strcspn(rest, "#"); /* drop the fragment */
    const char *q = memchr(rest, '?', total);
    size_t plen = q ? (size_t)(q - rest) : total;
    p->origin = xstrndup(url, skip + alen);
    p->path = xstrndup(rest, plen);
    if (q)
        p->query = xstrndup(q + 1, total - plen - 1);
    /* The broken form: "host?cid=x/v1/chat/completions" puts the path inside
     * the query. Move everything from the query's first '/' back to the path. */
    if (p->query && plen == 0) {
        char *slash = strchr(p->query, '/');
        if (slash) {
            /* "?cid=x/v1/chat?y=1": the moved path ends at its own '?', whose
             * parameters join the query. */
            char *q2 = strchr(slash, '?');
            free(p->path);
            p->path = xstrndup(slash, q2 ? (size_t)(q2 - slash) : strlen(slash));
            char *params = q2 ? xstrdup(q2 + 1) : NULL;
            *slash = '\0';
            if (params && *params) {
                char *joined = *p->query ? xasprintf("%s&%s", p->query, params) : xstrdup(params);
                free(p->query);
                p->query = joined;
            }
            free(params);
        }
    }
    return 0;
}

char *llmurl_normalize(const char *url)
{
    struct parts p;
    if (!url || split_url(url, &p) != 0)
        return NULL;
    size_t n = strlen(p.path);
    while (n > 0 && p.path[n - 1] == '/')
        p.path[--n] = '\0';
    buf out = {0};
    buf_puts(&out, p.origin);
    buf_puts(&out, p.path);
    const char *last = strrchr(p.path, '/');
    const char *seg = last ? last + 1 : p.path;
    /* The segment before the last one, for the ".../v1/<id>" form. */
    int prev_is_v1 = 0;
    if (last && last > p.path) {
        const char *prev = last - 1;
        while (prev > p.path && *prev != '/')
            prev--;
        prev_is_v1 = (size_t)(last - prev) == 3 && memcmp(prev, "/v1", 3) == 0;
    }
    if (str_ends_with(p.path, "/chat/completions")) {
        /* already complete */
    } else if (strcmp(seg, "completions") == 0) {
        out.len -= strlen("completions");
        buf_puts(&out, "chat/completions");
    } else if (strcmp(seg, "v1") == 0 || prev_is_v1) {
        buf_puts(&out, "/chat/completions");
    } else {
        buf_puts(&out, "/v1/chat/completions");
    }
    if (p.query && *p.query) {
        buf_putc(&out, '?');
        buf_puts(&out, p.query);
    }
    parts_free(&p);
    return buf_steal(&out);
}

char *llmurl_host(const char *url)
{
    struct parts p;
    if (!url || split_url(url, &p) != 0)
        return NULL;
    const char *auth = strstr(p.origin, "://") + 3;
    const char *at = strrchr(auth, '@');
    if (at)
        auth = at + 1;
    size_t n;
    if (*auth == '[') {
        const char *close = strchr(auth, ']');
        n = close ? (size_t)(close - auth) + 1 : strlen(auth);
    } else {
        n = strcspn(auth, ":");
    }
    char *host = n ? xstrndup(auth, n) : NULL;
    for (char *c = host; c && *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    /* A trailing dot names the same host. */
    if (host && n > 1 && host[n - 1] == '.')
        host[n - 1] = '\0';
    parts_free(&p);
    return host;
}

static int host_is(const char *host, const char *domain)
{
    /* the domain itself or any subdomain of it */
    size_t h = strlen(host), d = strlen(domain);
    if (h == d)
        return strcmp(host, domain) == 0;
    return h > d && host[h - d - 1] == '.' && strcmp(host + h - d, domain) == 0;
}

enum llm_provider llmurl_provider(const char *host)
{
    static const char *third_party[] = {
        "anthropic.com",    "googleapis.com",  "together.xyz",  "together.ai",
        "fireworks.ai",     "openrouter.ai",   "mistral.ai",    "deepseek.com",
        "cohere.ai",        "cohere.com",      "perplexity.ai", "x.ai",
        "cerebras.ai",      "deepinfra.com",   "azure.com",     "openai.azure.com",
        "amazonaws.com",    "huggingface.co",  "replicate.com", "anyscale.com",
    };
    if (!host)
        return PROVIDER_OTHER;
    if (strcmp(host, "api.openai.com") == 0)
        return PROVIDER_OPENAI;
    if (strcmp(host, "api.groq.com") == 0)
        return PROVIDER_GROQ;
    if (host_is(host, "openai.com") || host_is(host, "groq.com"))
        return PROVIDER_THIRD_PARTY;
    for (size_t i = 0; i < B77_ARRAY_LEN(third_party); i++)
        if (host_is(host, third_party[i]))
            return PROVIDER_THIRD_PARTY;
    return PROVIDER_OTHER;
}

static int has_cid_prefix(const char *s, size_t n)
{
    static const char *prefixes[] = {"trace_", "cid_", "eval_"};
    for (size_t i = 0; i < B77_ARRAY_LEN(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (n > k && memcmp(s, prefixes[i], k) == 0)
            return 1;
    }
    return 0;
}

char *llmurl_correlation_id(const char *url)
{
    struct parts p;
    if (!url || split_url(url, &p) != 0)
        return NULL;
    char *found = NULL;
    /* cid= in the query first: it is the explicit form. */
    for (const char *q = p.query; q && *q && !found;) {
        size_t n = strcspn(q, "&");
        if (n > 4 && memcmp(q, "cid=", 4) == 0 && has_cid_prefix(q + 4, n - 4))
            found = xstrndup(q + 4, n - 4);
        q += n + (q[n] == '&');
    }
    for (const char *s = p.path; *s && !found;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if (has_cid_prefix(s, n))
            found = xstrndup(s, n);
        s += n;
    }
    parts_free(&p);
    return found;
}

size_t llmurl_auth_headers(const char *url, const llm_keys *keys, const char *env_key,
                           char *out[2])
{
    char *host = llmurl_host(url);
    const char *bearer = NULL;
    size_t n = 0;
    switch (llmurl_provider(host)) {
    case PROVIDER_OPENAI:
        bearer = keys->openai;
        break;
    case PROVIDER_GROQ:
        bearer = keys->groq;
        break;
    case PROVIDER_THIRD_PARTY:
        bearer = keys->operator_key;
        break;
    case PROVIDER_OTHER:
        /* Interceptors and local servers identify the caller by its key. */
        if (env_key && *env_key)
            out[n++] = xasprintf("X-API-Key: %s", env_key);
        bearer = keys->operator_key;
        break;
    }
    if (bearer && *bearer)
        out[n++] = xasprintf("Authorization: Bearer %s", bearer);
    free(host);
    return n;
}
