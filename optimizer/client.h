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
    int limited; /* slow-down replies among them */
    /* Private. */
    CURL *easy;
    int64_t retry_at;
    int state;
} http_req;

typedef struct http_stats {
    long requests; /* attempts made */
    long retries;
    long rate_limited;      /* replies that said to slow down (429, or 503 with Retry-After) */
    int64_t limited_until;  /* now_ms() clock: no request starts before then */
    int64_t waited_ms;      /* time spent so */
} http_stats;

typedef struct http_opts {
    int max_concurrent;
    int max_retries; /* failures other than slow-down replies */
    long timeout_ms; /* one attempt */
    volatile sig_atomic_t *stop;
    http_stats *stats;   /* may be NULL */
    void (*tick)(void *arg); /* called about twice a second while waiting, may be NULL */
    void *tick_arg;
} http_opts;

/* Runs all n requests, at most max_concurrent at once, retrying 429, 502,
 * 503, 504 and transport errors up to max_retries times with exponential
 * backoff and jitter (at least Retry-After). A reply that says to slow
 * down (429, or a 503 with Retry-After, as the task app sends when its LLM
 * account's limits leave no room) pauses every request of the batch for
 * that long, halves the concurrency (it grows back by one per success) and
 * does not count against max_retries (up to 30 such replies a request).
 * Each attempt times out after timeout_ms. When *stop becomes non-zero,
 * requests not yet finished end with status 0 and error "interrupted". */
void http_run(CURLM *multi, http_req *reqs, size_t n, const http_opts *o);
void http_req_free(http_req *r);

#endif
