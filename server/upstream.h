/* upstream.h: every call to the LLM runs on one of a few upstream threads,
 * each owning its libcurl multi handles (and so its own connection pools), so
 * a rollout never holds a thread while it waits.
 *
 * Each thread serves a host besides its calls: another event source (the
 * server's HTTP daemon) that it waits on in the same epoll set and runs on
 * the same thread. Calls are submitted from the host's turn and run on that
 * thread, with no hand-over between threads.
 *
 * Ownership: the host fills an upcall and hands it over with
 * upstream_submit; from then until the thread calls call->done(call), the
 * loop borrows it and the host must not touch it. done() runs on the same
 * thread and must be quick (the server only resumes the parked
 * connection); after it returns the loop never touches the call again. */
#ifndef B77_UPSTREAM_H
#define B77_UPSTREAM_H

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdint.h>

#include "limits.h"
#include "util.h"

/* An event source an upstream thread serves besides its calls. */
typedef struct upstream_host {
    int fd;                    /* waited on for input (an epoll set, say) */
    void (*serve)(void *arg);  /* runs when fd is ready, when calls have finished,
                                * when due, and on upstream_kick */
    int64_t (*due)(void *arg); /* ms until serve must run again, -1: no limit */
    void *arg;
} upstream_host;

typedef struct upstream_opts {
    unsigned threads;         /* upstream threads, each with its own pool (0: 1) */
    const upstream_host *hosts; /* one per thread */
    unsigned max_connections; /* pool size per thread; size it to the in-flight cap */
    long connect_timeout_ms;
    long call_timeout_ms;     /* one attempt; the deadline caps it further */
    int max_retries;          /* on 429, 502, 503, 504 and transport errors */
    size_t max_reply;         /* bytes; a longer reply is a transport error */
    long idle_close_ms;       /* connections no call used this long are closed (0: kept) */
} upstream_opts;

enum upcall_result {
    UPCALL_HTTP,      /* an HTTP reply arrived (status may be an error) */
    UPCALL_TRANSPORT, /* no usable reply: connection, TLS, size or protocol error */
    UPCALL_DEADLINE,  /* the rollout's deadline passed */
    UPCALL_ABORTED,   /* the server is shutting down */
    UPCALL_THROTTLED, /* the LLM account's limits left no slot before the deadline */
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
    limiter *lim;     /* the LLM account's limits (limits.h); NULL: none */
    double tokens;    /* the call's size in tokens, as providers count it */
    /* Called on the upstream thread as each attempt starts (attempts is
     * its number); NULL: none. Must be quick. */
    void (*on_attempt)(upcall *call);
    atomic_int cancel; /* set by upstream_cancel (any thread) */

    /* Results, valid in done() and after. */
    enum upcall_result result;
    long status;      /* last HTTP status, 0 when none */
    buf reply;        /* last reply body */
    char error[CURL_ERROR_SIZE + 64];
    int attempts;
    int refusals;          /* 429s among them */
    int64_t retry_after_ms; /* THROTTLED, or a last 429: when to try again */
    int64_t started, finished;

    /* Private to the upstream thread. */
    CURL *easy;
    struct upstream_shard *shard; /* the multi handle it is in */
    int64_t retry_at;
    int64_t attempt_at; /* this attempt's start */
    int64_t held_at;    /* joined the queue for a slot */
    int granted;        /* holds a slot of lim */
    int probe;          /* ...granted as a pause's probe */
    size_t limit;
    int too_large;
    upcall *next, *prev;
};

typedef struct upstream upstream;

/* Sets up the upstream threads' loops; curl_global_init must have run.
 * NULL on failure (logged). */
upstream *upstream_new(const upstream_opts *opts);
/* Starts the threads (hosts are served from then on). -1 on failure
 * (logged); upstream_free still frees. */
int upstream_start(upstream *u);
/* Hands a call over (see the ownership note above). Only from a host's
 * turn: the call runs on that host's thread. */
void upstream_submit(upstream *u, upcall *call);
/* Has every thread's host served soon. Thread-safe; accepts NULL. */
void upstream_kick(upstream *u);
/* Finishes call soon with UPCALL_ABORTED ("terminated"), wherever it is
 * (in a multi handle, between attempts, waiting for a slot); a call that
 * has already finished is not touched. Thread-safe, but the caller must
 * know call is still alive (not yet past done()). */
void upstream_cancel(upstream *u, upcall *call);
/* Finishes every pending call with UPCALL_ABORTED. Thread-safe. */
void upstream_abort_all(upstream *u);
/* Ends the loops' threads (calls still pending are aborted first); the
 * loops stay until upstream_free, so that upstream_kick from another
 * thread (a store's callback) stays safe meanwhile. Accepts NULL. */
void upstream_stop(upstream *u);
/* upstream_stop, then frees everything. Accepts NULL. */
void upstream_free(upstream *u);
/* Releases an upcall's result buffer. */
void upcall_reset(upcall *call);

#endif
