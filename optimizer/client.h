/* client.h: the optimizer's HTTP side: batches of requests run concurrently
 * on one libcurl multi handle, with retries. Single-threaded. */
#ifndef B77_MIPRO_CLIENT_H
#define B77_MIPRO_CLIENT_H

#include <curl/curl.h>
#include <signal.h>

#include "util.h"

typedef struct http_req {
    /* Owned by the request; http_req_free releases them. */
    char *url;
    char *body; /* NULL: GET */
    struct curl_slist *headers;
    /* Results. status 0 means no HTTP reply (error says why). */
    long status;
    buf reply;
    char error[CURL_ERROR_SIZE + 64];
    int attempts;
    /* Private. */
    CURL *easy;
    int64_t retry_at;
    int state;
} http_req;

typedef struct http_stats {
    long requests; /* attempts made */
    long retries;
} http_stats;

/* Runs all n requests, at most max_concurrent at once, retrying 429, 502,
 * 503, 504 and transport errors up to max_retries times with exponential
 * backoff and jitter (at least Retry-After). Each attempt times out after
 * timeout_ms. When *stop becomes non-zero, requests not yet finished end
 * with status 0 and error "interrupted". */
void http_run(CURLM *multi, http_req *reqs, size_t n, int max_concurrent, int max_retries,
              long timeout_ms, volatile sig_atomic_t *stop, http_stats *st);
void http_req_free(http_req *r);

#endif
