/* llm_headers.c: the header lines of the LLM calls: the credential the
 * URL's host gets (llmurl.h), then the common ones. Each worker keeps them
 * per origin and caller key (its memo, private to its thread), with the
 * account's limiter. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* The headers every LLM call sends, last in every list. */
static char type_json[] = "Content-Type: application/json";
static char accept_json[] = "Accept: application/json";
static char no_expect[] = "Expect:"; /* no 100-continue round trip */
static struct curl_slist common_headers[] = {
    {type_json, &common_headers[1]}, {accept_json, &common_headers[2]}, {no_expect, NULL}};

static void forget_line(char *line)
{
    if (line) {
        memset(line, 0, strlen(line)); /* it may hold a key */
        free(line);
    }
}

/* The headers of rq's LLM call: its worker's memo for the call's origin
 * and the caller's key, or (headers_owned set) a list of the request's own
 * when the memo is full. *lim: the account's limiter. */
struct curl_slist *llm_headers(struct request *rq, limiter **lim)
{
    worker *w = rq->worker;
    const char *key = rq->key;
    const char *url = rq->ro.call_url, *sep = strstr(url, "://");
    size_t olen = sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : 0;
    rq->headers_owned = 0;
    if (olen)
        for (size_t i = 0; i < w->nmemo; i++) {
            auth_lines *m = &w->memo[i];
            if (m->key == key && strncmp(m->origin, url, olen) == 0 && !m->origin[olen]) {
                *lim = m->lim;
                return m->list;
            }
        }
    char *lines[2];
    size_t n = llmurl_auth_headers(url, &rq->srv->keys, key, lines);
    *lim = limits_for(rq->srv->limits, url, (const char *const *)lines, n);
    if (olen && w->nmemo < AUTH_MEMO) {
        auth_lines *m = &w->memo[w->nmemo++];
        m->origin = xstrndup(url, olen);
        m->key = key;
        m->lim = *lim;
        m->list = n ? &m->node[0] : &common_headers[0];
        for (size_t i = 0; i < n; i++) {
            m->node[i].data = lines[i];
            m->node[i].next = i + 1 < n ? &m->node[i + 1] : &common_headers[0];
        }
        return m->list;
    }
    struct curl_slist *h = NULL;
    for (size_t i = 0; i < B77_ARRAY_LEN(common_headers); i++)
        h = curl_slist_append(h, common_headers[i].data);
    for (size_t i = 0; i < n; i++) {
        h = curl_slist_append(h, lines[i]);
        forget_line(lines[i]);
    }
    rq->headers_owned = 1;
    return h;
}

void llm_headers_release(struct request *rq)
{
    if (rq->headers_owned)
        curl_slist_free_all(rq->headers);
    rq->headers = NULL;
    rq->headers_owned = 0;
}

void llm_headers_free(worker *w)
{
    for (size_t k = 0; k < w->nmemo; k++) {
        free(w->memo[k].origin);
        for (struct curl_slist *l = w->memo[k].list; l != common_headers; l = l->next)
            forget_line(l->data);
    }
    w->nmemo = 0;
}

