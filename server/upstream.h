/* upstream.h: every call to the LLM runs on one of a few upstream threads,
 * each owning one libcurl multi handle (and so its own connection pool), so
 * a rollout never holds a thread while it waits. A submitting thread always
 * hands its calls to the same upstream thread.
 *
 * Ownership across threads: the submitter fills an upcall and hands it over
 * with upstream_submit; from then until the upstream thread calls
 * call->done(call), the upstream thread borrows it and the submitter must not
 * touch it. done() runs on the upstream thread and must be quick (the server
 * only resumes the parked connection); after it returns the upstream thread
 * never touches the call again. */
#ifndef B77_UPSTREAM_H
#define B77_UPSTREAM_H

#include <curl/curl.h>
#include <stdint.h>

#include "util.h"

typedef struct upstream_opts {
    unsigned threads;         /* upstream threads, each with its own pool (0: 1) */
    unsigned max_connections; /* pool size per thread; size it to the in-flight cap */
    long connect_timeout_ms;
    long call_timeout_ms;     /* one attempt; the deadline caps it further */
    int max_retries;          /* on 429, 502, 503, 504 and transport errors */
    size_t max_reply;         /* bytes; a longer reply is a transport error */
} upstream_opts;

enum upcall_result {
    UPCALL_HTTP,      /* an HTTP reply arrived (status may be an error) */
    UPCALL_TRANSPORT, /* no usable reply: connection, TLS, size or protocol error */
    UPCALL_DEADLINE,  /* the rollout's deadline passed */
    UPCALL_ABORTED,   /* the server is shutting down */
};

typedef struct upcall upcall;
struct upcall {
    /* Set by the submitter; all borrowed and kept alive until done(). */
    const char *url;
    const char *body;
    size_t body_len;
    struct curl_slist *headers;
    int64_t deadline; /* now_ms() clock */
    void (*done)(upcall *call);
    void *arg;

    /* Results, valid in done() and after. */
    enum upcall_result result;
    long status;      /* last HTTP status, 0 when none */
    buf reply;        /* last reply body */
    char error[CURL_ERROR_SIZE + 64];
    int attempts;
    int64_t started, finished;

    /* Private to the upstream thread. */
    CURL *easy;
    int64_t retry_at;
    size_t limit;
    int too_large;
    upcall *next, *prev;
};

typedef struct upstream upstream;

/* Starts the upstream thread. curl_global_init must have run. NULL on
 * failure (logged). */
upstream *upstream_new(const upstream_opts *opts);
/* Hands a call over (see the ownership note above). Thread-safe. */
void upstream_submit(upstream *u, upcall *call);
/* Finishes every pending call with UPCALL_ABORTED. Thread-safe. */
void upstream_abort_all(upstream *u);
/* Stops the thread once no call is pending, and frees everything. Calls
 * still pending are aborted first. Accepts NULL. */
void upstream_free(upstream *u);
/* Releases an upcall's result buffer. */
void upcall_reset(upcall *call);

#endif
