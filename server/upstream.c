/* upstream.c: see upstream.h. The thread's loop:
 *   take newly submitted calls -> start an attempt on a (reused) easy handle
 *   curl_multi_perform -> finished attempts: done, or a retry on a timer
 *   curl_multi_poll until a socket, a timer or a wakeup. */
#include "upstream.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BACKOFF_BASE_MS 200 /* first retry waits 100-200 ms, doubling after */
#define BACKOFF_MAX_MS 8000
#define POLL_MAX_MS 1000
#define DEADLINE_SLACK_MS 5 /* a timeout this close to the deadline is the deadline */

struct upstream {
    upstream_opts opts;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock;
    upcall *queue;   /* submitted, not yet started (under lock) */
    int stop, abort; /* under lock */

    /* Private to the upstream thread from here on. */
    upcall *waiting; /* between attempts */
    upcall *active;  /* inside the multi handle */
    CURL **spare;    /* easy handles ready for reuse */
    size_t nspare;
    uint64_t rng;
};

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    upcall *c = arg;
    size_t len = size * n;
    if (c->reply.len + len > c->limit) {
        c->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&c->reply, data, len);
    return len;
}

static void list_remove(upcall **head, upcall *c)
{
    for (upcall **p = head; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            c->next = NULL;
            return;
        }
}

static void release_easy(upstream *u, upcall *c)
{
    if (!c->easy)
        return;
    if (u->nspare < u->opts.max_connections) {
        u->spare[u->nspare++] = c->easy;
    } else {
        curl_easy_cleanup(c->easy);
    }
    c->easy = NULL;
}

static void finish(upstream *u, upcall *c, enum upcall_result r)
{
    release_easy(u, c);
    c->result = r;
    c->finished = now_ms();
    c->done(c); /* c may be freed by another thread from here on */
}

/* An easy handle with the options every call shares; reused from call to
 * call without curl_easy_reset (which costs more than the setopts). */
static CURL *new_easy(upstream *u)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "banking77-task-app/1.0");
    return e;
}

static void start_attempt(upstream *u, upcall *c)
{
    int64_t now = now_ms();
    if (now >= c->deadline) {
        finish(u, c, UPCALL_DEADLINE);
        return;
    }
    if (!c->easy) {
        c->easy = u->nspare ? u->spare[--u->nspare] : new_easy(u);
        if (!c->easy) {
            snprintf(c->error, sizeof c->error, "cannot create a libcurl handle");
            finish(u, c, UPCALL_TRANSPORT);
            return;
        }
    }
    CURL *e = c->easy;
    long timeout = c->deadline - now;
    if (u->opts.call_timeout_ms > 0 && u->opts.call_timeout_ms < timeout)
        timeout = u->opts.call_timeout_ms;
    buf_reset(&c->reply);
    c->too_large = 0;
    c->limit = u->opts.max_reply;
    c->error[0] = '\0';
    /* Only what differs between calls; new_easy set the rest once. */
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_PRIVATE, c);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->error);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout > 0 ? timeout : 1L);
    /* Waiting for a connection to multiplex on only pays with HTTP/2 (TLS):
     * on plain HTTP/1.1 it would hold every new call until the first
     * connection's reply has come back. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, strncmp(c->url, "https:", 6) == 0 ? 1L : 0L);
    if (curl_multi_add_handle(u->multi, e) != CURLM_OK) {
        snprintf(c->error, sizeof c->error, "cannot add the call to the libcurl multi handle");
        finish(u, c, UPCALL_TRANSPORT);
        return;
    }
    c->attempts++;
    c->next = u->active;
    u->active = c;
}

static int retryable_status(long s)
{
    return s == 429 || s == 502 || s == 503 || s == 504;
}

/* Decides what follows a finished attempt: done, or a retry after a wait. */
static void on_attempt_done(upstream *u, upcall *c, CURLcode rc)
{
    long status = 0;
    curl_off_t retry_after = -1;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
    curl_multi_remove_handle(u->multi, c->easy);
    list_remove(&u->active, c);
    int64_t now = now_ms();
    enum upcall_result r = UPCALL_HTTP;
    c->status = rc == CURLE_OK ? status : 0;
    if (rc != CURLE_OK) {
        r = UPCALL_TRANSPORT;
        if (c->too_large)
            snprintf(c->error, sizeof c->error, "reply larger than %zu bytes", c->limit);
        else if (!c->error[0])
            snprintf(c->error, sizeof c->error, "%s", curl_easy_strerror(rc));
        if (rc == CURLE_OPERATION_TIMEDOUT && now + DEADLINE_SLACK_MS >= c->deadline) {
            finish(u, c, UPCALL_DEADLINE);
            return;
        }
    }
    int again = (r == UPCALL_TRANSPORT && !c->too_large) || (r == UPCALL_HTTP && retryable_status(status));
    if (!again || c->attempts > u->opts.max_retries) {
        finish(u, c, r);
        return;
    }
    /* Exponential backoff with jitter, at least what Retry-After asks. */
    int64_t ceiling = (int64_t)BACKOFF_BASE_MS << (c->attempts - 1 < 6 ? c->attempts - 1 : 6);
    if (ceiling > BACKOFF_MAX_MS)
        ceiling = BACKOFF_MAX_MS;
    int64_t wait = ceiling / 2 + (int64_t)(splitmix64(&u->rng) % (uint64_t)(ceiling / 2 + 1));
    if (retry_after > 0 && retry_after * 1000 > wait)
        wait = (int64_t)retry_after * 1000;
    if (now + wait >= c->deadline) {
        /* Waiting would outlive the rollout: report the failure we have. */
        log_debug("upstream: no time left to retry after %d attempts", c->attempts);
        finish(u, c, r);
        return;
    }
    log_debug("upstream: attempt %d failed (%s %ld), retrying in %lld ms", c->attempts,
              r == UPCALL_HTTP ? "HTTP" : c->error, status, (long long)wait);
    c->retry_at = now + wait;
    c->next = u->waiting;
    u->waiting = c;
}

static void abort_everything(upstream *u)
{
    while (u->active) {
        upcall *c = u->active;
        u->active = c->next;
        curl_multi_remove_handle(u->multi, c->easy);
        snprintf(c->error, sizeof c->error, "the server is shutting down");
        finish(u, c, UPCALL_ABORTED);
    }
    while (u->waiting) {
        upcall *c = u->waiting;
        u->waiting = c->next;
        snprintf(c->error, sizeof c->error, "the server is shutting down");
        finish(u, c, UPCALL_ABORTED);
    }
}

static void *run(void *arg)
{
    upstream *u = arg;
    for (;;) {
        pthread_mutex_lock(&u->lock);
        upcall *fresh = u->queue;
        u->queue = NULL;
        int stop = u->stop, abort_all = u->abort;
        u->abort = 0;
        pthread_mutex_unlock(&u->lock);

        while (fresh) {
            upcall *c = fresh;
            fresh = c->next;
            c->next = NULL;
            c->started = now_ms();
            start_attempt(u, c);
        }
        if (abort_all)
            abort_everything(u);

        int64_t now = now_ms(), next_due = now + POLL_MAX_MS;
        for (upcall **p = &u->waiting; *p;) {
            upcall *c = *p;
            if (c->retry_at <= now) {
                *p = c->next;
                c->next = NULL;
                start_attempt(u, c);
            } else {
                if (c->retry_at < next_due)
                    next_due = c->retry_at;
                p = &c->next;
            }
        }

        int running = 0;
        curl_multi_perform(u->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(u->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            upcall *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            on_attempt_done(u, c, msg->data.result);
        }
        if (stop && !u->active && !u->waiting) {
            pthread_mutex_lock(&u->lock);
            int empty = u->queue == NULL;
            pthread_mutex_unlock(&u->lock);
            if (empty)
                break;
            continue;
        }
        int64_t wait = next_due - now_ms();
        curl_multi_poll(u->multi, NULL, 0, wait > 0 ? (int)wait : 0, NULL);
    }
    return NULL;
}

upstream *upstream_new(const upstream_opts *opts)
{
    upstream *u = xcalloc(1, sizeof *u);
    u->opts = *opts;
    if (u->opts.max_connections == 0)
        u->opts.max_connections = 1;
    u->rng = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)u;
    u->spare = xcalloc(u->opts.max_connections, sizeof(CURL *));
    u->multi = curl_multi_init();
    if (!u->multi) {
        log_error("upstream: curl_multi_init failed");
        free(u->spare);
        free(u);
        return NULL;
    }
    long maxc = (long)u->opts.max_connections;
    curl_multi_setopt(u->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxc);
    curl_multi_setopt(u->multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxc);
    curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, maxc);
    curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    pthread_mutex_init(&u->lock, NULL);
    if (pthread_create(&u->thread, NULL, run, u) != 0) {
        log_error("upstream: cannot start the upstream thread");
        pthread_mutex_destroy(&u->lock);
        curl_multi_cleanup(u->multi);
        free(u->spare);
        free(u);
        return NULL;
    }
    return u;
}

void upstream_submit(upstream *u, upcall *call)
{
    call->next = NULL;
    call->attempts = 0;
    call->status = 0;
    call->easy = NULL;
    pthread_mutex_lock(&u->lock);
    call->next = u->queue;
    u->queue = call;
    pthread_mutex_unlock(&u->lock);
    curl_multi_wakeup(u->multi);
}

void upstream_abort_all(upstream *u)
{
    pthread_mutex_lock(&u->lock);
    u->abort = 1;
    pthread_mutex_unlock(&u->lock);
    curl_multi_wakeup(u->multi);
}

void upstream_free(upstream *u)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->lock);
    u->stop = 1;
    u->abort = 1;
    pthread_mutex_unlock(&u->lock);
    curl_multi_wakeup(u->multi);
    pthread_join(u->thread, NULL);
    for (size_t i = 0; i < u->nspare; i++)
        curl_easy_cleanup(u->spare[i]);
    free(u->spare);
    curl_multi_cleanup(u->multi);
    pthread_mutex_destroy(&u->lock);
    free(u);
}

void upcall_reset(upcall *call)
{
    buf_free(&call->reply);
}
