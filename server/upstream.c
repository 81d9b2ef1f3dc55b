/* upstream.c: see upstream.h. Each upstream thread's loop:
 *   take newly submitted calls -> start an attempt on a (reused) easy handle
 *   libcurl's timer due -> curl_multi_socket_action(CURL_SOCKET_TIMEOUT)
 *   finished attempts: done, or a retry on a timer
 *   the host's turn, when due (it may submit calls: back to the top)
 *   epoll_wait on the sockets libcurl asked for, the host's descriptor and
 *   an eventfd for wakeups -> curl_multi_socket_action on each ready socket.
 * Event-driven (not curl_multi_perform + curl_multi_poll, which walk every
 * handle and poll every socket on each turn): with a thousand calls in
 * flight a turn costs what its ready sockets cost. */
#include "upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backoff.h"
#include "log.h"

#define POLL_MAX_MS 1000
#define DEADLINE_SLACK_MS 5 /* a timeout this close to the deadline is the deadline */
#define URL_HANDLES_MAX 32  /* distinct LLM URLs kept parsed */
/* libcurl's receive buffer per easy handle (its default is 16 KiB). A
 * chat completion with its headers is one or two KB, so one page takes it
 * in one read; with 1,024 calls in flight the default's other 12 KiB each
 * were 12 MiB of the peak RSS. A longer reply just takes more reads. */
#define RECV_BUFFER 4096L
/* Calls per libcurl multi handle. Finding a connection for a call walks the
 * handle's connections to that host, idle and busy (libcurl 7.88's
 * ConnectionExists): with 512 calls in flight on one handle that walk was
 * about 4% of the server's CPU, and quadratic in a burst of new calls. So a
 * loop spreads its calls over multi handles of at most this many, each with
 * its own connections, opening a handle when all are full. */
#define SHARD_CALLS 64
/* 429s one call may take while its account's limits are being learned (the
 * rollout's deadline bounds it too); other failures count against
 * max_retries. */
#define MAX_REFUSALS 64

extern char **environ;

typedef struct loop loop;

/* One multi handle of a loop and the calls in it. */
typedef struct upstream_shard {
    loop *u;
    CURLM *multi;
    int64_t curl_due;   /* when its timer fires (now_ms clock), -1: none */
    unsigned nactive;   /* calls in it */
    int64_t idle_since; /* when the loop first found it without calls, -1: in use */
} shard;

/* A connection socket libcurl opened and will close through this loop's
 * callbacks, so its whole life is known here: it can stay in the epoll set
 * between calls on a kept-alive connection (two epoll_ctl fewer per call). */
typedef struct sockstate {
    int ours;        /* opened by on_open, not closed yet */
    uint32_t events; /* in the epoll set with these; 0: not in it */
    uint32_t wanted; /* what libcurl asked for; 0 after CURL_POLL_REMOVE */
} sockstate;

/* One thread, its multi handles, and the calls it owns. */
struct loop {
    struct upstream *up;
    upstream_opts opts;
    upstream_host host;
    shard *shards; /* maxshards of them, the first nshards open: as calls need them */
    size_t nshards, maxshards;
    pthread_t thread;
    int started; /* the thread runs */
    atomic_int stop, abort; /* set by other threads, then the eventfd written */
    atomic_int cancels;     /* some call was marked cancelled: look for it */
    int epfd, evfd;  /* epoll set of libcurl's sockets; eventfd to wake the thread */

    /* Private to the upstream thread from here on. */
    upcall *queue;   /* submitted in the host's turn, started after it */
    upcall *waiting; /* between attempts */
    upcall *active;  /* inside a multi handle (doubly linked) */
    upcall *held, *held_tail; /* waiting for a slot under their account's limits, oldest first */
    uint64_t bit;    /* this thread's bit for a limiter's wake-ups */
    CURL **spare;    /* easy handles ready for reuse */
    size_t nspare;
    uint64_t rng;
    int proxy_env;   /* some *_proxy variable is set: libcurl reads them per call */
    sockstate *socks; /* by descriptor: the connection sockets libcurl opened here */
    size_t nsocks;
    struct {
        char *url;
        CURLU *handle;
    } urls[URL_HANDLES_MAX]; /* parsed once, handed to libcurl (CURLOPT_CURLU) */
    size_t nurls;
    unsigned ended; /* calls finished since the host's last turn */
};

struct upstream {
    loop *loops;
    size_t nloops;
};

/* A libcurl socket's epoll data: its descriptor, and its multi handle's
 * index above it. The eventfd and the host's descriptor have index 0 and are
 * told apart by descriptor. */
static uint64_t sock_data(const shard *sh, curl_socket_t fd)
{
    return (uint64_t)(sh - sh->u->shards) << 32 | (uint32_t)fd;
}

/* The loop whose thread this is, if any. */
static _Thread_local loop *current_loop;

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    upcall *c = arg;
    size_t len = size * n;
    if (c->reply.len + len > c->limit) {
        c->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (!c->reply.cap)
        buf_reserve(&c->reply, len > 2048 ? len : 2048); /* a chat completion, at once */
    buf_append(&c->reply, data, len);
    return len;
}

static void active_add(loop *u, upcall *c)
{
    c->shard->nactive++;
    c->shard->idle_since = -1;
    c->prev = NULL;
    c->next = u->active;
    if (u->active)
        u->active->prev = c;
    u->active = c;
}

static void active_remove(loop *u, upcall *c)
{
    c->shard->nactive--;
    if (c->prev)
        c->prev->next = c->next;
    else
        u->active = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
}

static void release_easy(loop *u, upcall *c)
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

static void wake(loop *u);

/* Hands a call's slot back to its account with what the reply said, and
 * wakes the other threads whose calls wait for a slot there. */
static void slot_done(loop *u, upcall *c, const rl_reply *rep)
{
    if (!c->granted)
        return;
    c->granted = 0;
    uint64_t bits = limiter_done(c->lim, now_ms(), rep, c->probe);
    struct upstream *all = u->up;
    for (size_t i = 0; bits && i < all->nloops; i++)
        if ((bits & all->loops[i].bit) && &all->loops[i] != u)
            wake(&all->loops[i]);
}

static void finish(loop *u, upcall *c, enum upcall_result r)
{
    if (c->granted) {
        rl_reply none;
        rl_reply_init(&none);
        slot_done(u, c, &none);
    }
    release_easy(u, c);
    c->result = r;
    c->finished = now_ms();
    u->ended++;
    c->done(c); /* c may be freed by another thread from here on */
}

static sockstate *our_socket(loop *u, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < u->nsocks && u->socks[fd].ours ? &u->socks[fd] : NULL;
}

/* CURLOPT_OPENSOCKETFUNCTION: every connection socket, so that on_close
 * sees every one's end (the descriptor may then be reused). */
static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    loop *u = arg;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if ((size_t)fd >= u->nsocks) {
        size_t n = u->nsocks ? u->nsocks : 256;
        while (n <= (size_t)fd)
            n *= 2;
        u->socks = xrealloc(u->socks, n * sizeof *u->socks);
        memset(u->socks + u->nsocks, 0, (n - u->nsocks) * sizeof *u->socks);
        u->nsocks = n;
    }
    u->socks[fd] = (sockstate){.ours = 1};
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: closing drops the socket from the epoll set. */
static int on_close(void *arg, curl_socket_t fd)
{
    loop *u = arg;
    sockstate *st = our_socket(u, fd);
    if (st)
        *st = (sockstate){0};
    return close(fd);
}

/* An easy handle with the options every call shares; reused from call to
 * call without curl_easy_reset (which costs more than the setopts). */
static CURL *new_easy(loop *u)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, u->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "banking77-task-app/1.0");
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, u);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, u);
    if (!u->proxy_env) {
        /* No proxy variable in the environment: say so once, or libcurl looks
         * five of them up (getenv walks the whole environment) on every call. */
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    }
    return e;
}

/* Whether the environment names a proxy for libcurl (http_proxy, https_proxy,
 * all_proxy, no_proxy, in either case). */
static int proxy_in_environment(void)
{
    for (char **v = environ; *v; v++) {
        const char *eq = strchr(*v, '=');
        if (eq && eq - *v >= 6 && strncasecmp(eq - 6, "_proxy", 6) == 0)
            return 1;
    }
    return 0;
}

/* The URL parsed once, for CURLOPT_CURLU: given a URL handle libcurl neither
 * parses the URL string again nor prints it back out on every call (a tenth
 * of its work per call). NULL when libcurl rejects the URL or the table is
 * full: CURLOPT_URL alone then does as before, errors included. */
static CURLU *url_handle(loop *u, const char *url)
{
    for (size_t i = 0; i < u->nurls; i++)
        if (strcmp(u->urls[i].url, url) == 0)
            return u->urls[i].handle;
    if (u->nurls == URL_HANDLES_MAX)
        return NULL;
    CURLU *h = curl_url();
    /* The flags libcurl itself parses CURLOPT_URL with. */
    if (!h || curl_url_set(h, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME) !=
                  CURLUE_OK) {
        curl_url_cleanup(h);
        return NULL;
    }
    u->urls[u->nurls].url = xstrdup(url);
    u->urls[u->nurls++].handle = h;
    return h;
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp);
static int on_timer(CURLM *m, long timeout_ms, void *arg);

/* Calls one multi handle takes: SHARD_CALLS, or fewer when the loop may not
 * have that many. */
static unsigned shard_calls(const loop *u)
{
    return u->opts.max_connections < SHARD_CALLS ? (unsigned)u->opts.max_connections : SHARD_CALLS;
}

/* Adds a multi handle to the loop; NULL when it cannot. */
static shard *open_shard(loop *u)
{
    if (u->nshards == u->maxshards)
        return NULL;
    CURLM *m = curl_multi_init();
    if (!m)
        return NULL;
    shard *sh = &u->shards[u->nshards];
    *sh = (shard){.u = u, .multi = m, .curl_due = -1, .idle_since = -1};
    u->nshards++;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, sh);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, sh);
    /* A handle has at most shard_calls() calls; the loop as a whole at most
     * max_connections (as many as rollouts may be in flight). */
    long maxc = (long)shard_calls(u);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxc);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, maxc);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, maxc);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    return sh;
}

/* The first multi handle with room for a call, its kept-alive connections
 * then serving it; a new handle when all are full. Should the loop have
 * max_connections calls already, the least busy handle (libcurl then queues
 * the call until one of its connections is free). NULL only when the loop
 * has no handle and cannot open one. */
static shard *pick_shard(loop *u)
{
    unsigned room = shard_calls(u);
    for (size_t i = 0; i < u->nshards; i++)
        if (u->shards[i].nactive < room)
            return &u->shards[i];
    shard *sh = open_shard(u);
    if (sh || u->nshards == 0)
        return sh;
    sh = &u->shards[0];
    for (size_t i = 1; i < u->nshards; i++)
        if (u->shards[i].nactive < sh->nactive)
            sh = &u->shards[i];
    return sh;
}

static void start_attempt(loop *u, upcall *c)
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
    curl_easy_setopt(e, CURLOPT_URL, c->url); /* what libcurl reports the call by */
    curl_easy_setopt(e, CURLOPT_CURLU, url_handle(u, c->url));
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
    shard *sh = pick_shard(u);
    if (!sh || curl_multi_add_handle(sh->multi, e) != CURLM_OK) {
        snprintf(c->error, sizeof c->error, "cannot add the call to the libcurl multi handle");
        finish(u, c, UPCALL_TRANSPORT);
        return;
    }
    c->attempts++;
    c->attempt_at = now;
    c->shard = sh;
    active_add(u, c);
    if (c->on_attempt)
        c->on_attempt(c);
}

/* Answers a call its account's limits leave no slot for before its
 * deadline (the limiter has counted it). */
static void throttle(loop *u, upcall *c, int64_t wait_ms)
{
    c->retry_after_ms = wait_ms > 1000 ? wait_ms : 1000;
    snprintf(c->error, sizeof c->error,
             "the rate limits of %s left no slot before the rollout's deadline",
             limiter_origin(c->lim));
    finish(u, c, UPCALL_THROTTLED);
}

/* Queues a call for a slot of its account (start_held starts it), or
 * answers it at once when the wait would outlast its deadline. */
static void hold(loop *u, upcall *c, int64_t now)
{
    int64_t est = limiter_enqueue(c->lim, now, c->deadline);
    if (est > 0) {
        throttle(u, c, est);
        return;
    }
    c->held_at = now;
    c->next = NULL;
    if (u->held_tail)
        u->held_tail->next = c;
    else
        u->held = c;
    u->held_tail = c;
}

/* Starts the queued calls their accounts have slots for, oldest first per
 * account; answers those whose deadline came; sets *next_due to when to
 * look again (a wait the limits named, or a deadline; a slot freed by a
 * call ending wakes the thread). */
static void start_held(loop *u, int64_t now, int64_t *next_due)
{
    /* the accounts that refused a call this turn: their later calls wait
     * too (oldest first), and only their deadlines are looked at */
    struct {
        limiter *lim;
        int64_t min_time;
    } refused[8];
    size_t nrefused = 0;
    upcall **p = &u->held, *last = NULL;
    while (*p) {
        upcall *c = *p;
        size_t k = 0;
        while (k < nrefused && refused[k].lim != c->lim)
            k++;
        int64_t w;
        limiter_turn t = {0};
        if (k < nrefused) {
            /* a slot this late could not be used: the call would meet its deadline */
            w = now + refused[k].min_time >= c->deadline ? RL_GIVE_UP : RL_WAIT_SLOT;
            if (w == RL_GIVE_UP)
                t.retry_ms = limiter_give_up(c->lim, now);
        } else {
            w = limiter_take(c->lim, now, c->tokens, u->bit, c->held_at, c->deadline, &t);
        }
        if (w == 0 || w == RL_GIVE_UP) {
            *p = c->next;
            if (w == RL_GIVE_UP) {
                throttle(u, c, t.retry_ms);
            } else {
                c->granted = 1;
                c->probe = t.probe;
                start_attempt(u, c);
            }
            continue;
        }
        if (k == nrefused && nrefused < B77_ARRAY_LEN(refused)) {
            refused[nrefused].lim = c->lim;
            refused[nrefused++].min_time = t.min_time;
        }
        if (w > 0 && now + w < *next_due)
            *next_due = now + w;
        if (c->deadline < *next_due)
            *next_due = c->deadline;
        last = c;
        p = &c->next;
    }
    u->held_tail = last;
}

static double header_number(CURL *e, const char *name)
{
    struct curl_header *h;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h->value)
        return -1;
    char *end;
    double v = strtod(h->value, &end);
    return end != h->value && v >= 0 ? v : -1;
}

static int64_t header_duration(CURL *e, const char *name)
{
    struct curl_header *h;
    int64_t ms;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        rl_parse_duration_ms(h->value, &ms) != 0)
        return -1;
    return ms;
}

/* The x-ratelimit-* headers OpenAI and Groq send, and retry-after-ms. */
static void read_limits(CURL *e, rl_reply *rep)
{
    rep->limit_requests = header_number(e, "x-ratelimit-limit-requests");
    rep->remaining_requests = header_number(e, "x-ratelimit-remaining-requests");
    rep->limit_tokens = header_number(e, "x-ratelimit-limit-tokens");
    rep->remaining_tokens = header_number(e, "x-ratelimit-remaining-tokens");
    rep->reset_requests_ms = header_duration(e, "x-ratelimit-reset-requests");
    rep->reset_tokens_ms = header_duration(e, "x-ratelimit-reset-tokens");
    double ms = header_number(e, "retry-after-ms");
    if (ms >= 0)
        rep->retry_after_ms = (int64_t)ms;
}

/* Decides what follows a finished attempt: done, or a retry after a wait. */
static void on_attempt_done(loop *u, upcall *c, CURLcode rc)
{
    long status = 0;
    curl_off_t retry_after = -1;
    int64_t now = now_ms();
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->easy, CURLINFO_RETRY_AFTER, &retry_after);
    rl_reply rep;
    rl_reply_init(&rep);
    if (c->granted) {
        rep.status = rc == CURLE_OK ? status : 0;
        rep.latency_ms = now - c->attempt_at;
        if (retry_after > 0) /* libcurl says 0 when there was no Retry-After */
            rep.retry_after_ms = (int64_t)retry_after * 1000;
        if (rc == CURLE_OK && (status == 429 || status == 503 || limiter_wants_headers(c->lim)))
            read_limits(c->easy, &rep);
    }
    curl_multi_remove_handle(c->shard->multi, c->easy);
    active_remove(u, c);
    slot_done(u, c, &rep);
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
    int again = (r == UPCALL_TRANSPORT && !c->too_large) || (r == UPCALL_HTTP && backoff_retryable(status));
    int refused = r == UPCALL_HTTP && status == 429;
    if (refused) {
        /* should this be the last attempt: when the caller may try again */
        c->refusals++;
        int64_t est = c->lim ? limiter_wait_estimate(c->lim, now) : 0;
        c->retry_after_ms = rep.retry_after_ms > est ? rep.retry_after_ms : est;
    }
    /* With adapting limits a 429 is not a failure of the call but a sign of
     * the account's state: it counts against MAX_REFUSALS, not max_retries.
     * The call waits as long as the server said (else a backoff), then in
     * the queue, for the pace and pause its limiter now keeps. */
    int paced = c->lim && limiter_adapts(c->lim);
    int spent = paced && refused ? c->refusals > MAX_REFUSALS
                                 : c->attempts - (paced ? c->refusals : 0) > u->opts.max_retries;
    if (!again || spent) {
        finish(u, c, r);
        return;
    }
    int64_t wait;
    if (paced && refused)
        wait = rep.retry_after_ms >= 0 ? rep.retry_after_ms : backoff_wait_ms(c->refusals, -1, &u->rng);
    else
        wait = backoff_wait_ms(c->attempts - (paced ? c->refusals : 0), (long long)retry_after, &u->rng);
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

static void abort_everything(loop *u)
{
    while (u->active) {
        upcall *c = u->active;
        active_remove(u, c);
        curl_multi_remove_handle(c->shard->multi, c->easy);
        snprintf(c->error, sizeof c->error, "the server is shutting down");
        finish(u, c, UPCALL_ABORTED);
    }
    while (u->waiting) {
        upcall *c = u->waiting;
        u->waiting = c->next;
        snprintf(c->error, sizeof c->error, "the server is shutting down");
        finish(u, c, UPCALL_ABORTED);
    }
    while (u->held) {
        upcall *c = u->held;
        u->held = c->next;
        limiter_leave(c->lim);
        snprintf(c->error, sizeof c->error, "the server is shutting down");
        finish(u, c, UPCALL_ABORTED);
    }
    u->held_tail = NULL;
}

/* Finishes the calls upstream_cancel marked, wherever they wait. */
static void cancel_marked(loop *u)
{
    for (upcall *c = u->active, *next; c; c = next) {
        next = c->next;
        if (atomic_load(&c->cancel)) {
            active_remove(u, c);
            curl_multi_remove_handle(c->shard->multi, c->easy);
            snprintf(c->error, sizeof c->error, "terminated");
            finish(u, c, UPCALL_ABORTED);
        }
    }
    for (upcall **p = &u->waiting; *p;) {
        upcall *c = *p;
        if (atomic_load(&c->cancel)) {
            *p = c->next;
            snprintf(c->error, sizeof c->error, "terminated");
            finish(u, c, UPCALL_ABORTED);
        } else {
            p = &c->next;
        }
    }
    upcall *prev = NULL;
    for (upcall *c = u->held, *next; c; c = next) {
        next = c->next;
        if (atomic_load(&c->cancel)) {
            if (prev)
                prev->next = next;
            else
                u->held = next;
            if (u->held_tail == c)
                u->held_tail = prev;
            limiter_leave(c->lim);
            snprintf(c->error, sizeof c->error, "terminated");
            finish(u, c, UPCALL_ABORTED);
        } else {
            prev = c;
        }
    }
}

/* CURLMOPT_SOCKETFUNCTION: keeps the epoll set what libcurl wants watched. */
static int on_socket(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    (void)e;
    shard *sh = arg;
    loop *u = sh->u;
    sockstate *st = our_socket(u, fd);
    if (what == CURL_POLL_REMOVE) {
        if (st)
            st->wanted = 0; /* stays in the set until closed, or until it wakes us */
        else
            epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
    ev.data.u64 = sock_data(sh, fd);
    if (st) {
        st->wanted = ev.events;
        if (!ev.events || st->events == ev.events)
            return 0; /* a kept-alive connection's next call: already watched */
        int op = st->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(u->epfd, op, fd, &ev) != 0) {
            log_error("upstream: epoll_ctl on socket %d: %s", (int)fd, strerror(errno));
            return 0;
        }
        st->events = ev.events;
        return 0;
    }
    int op = sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(u->epfd, op, fd, &ev) != 0) {
        op = errno == EEXIST ? EPOLL_CTL_MOD : errno == ENOENT ? EPOLL_CTL_ADD : -1;
        if (op < 0 || epoll_ctl(u->epfd, op, fd, &ev) != 0)
            log_error("upstream: epoll_ctl on socket %d: %s", (int)fd, strerror(errno));
    }
    if (!sockp)
        curl_multi_assign(sh->multi, fd, (void *)1); /* "already in the set" */
    return 0;
}

/* CURLMOPT_TIMERFUNCTION */
static int on_timer(CURLM *m, long timeout_ms, void *arg)
{
    (void)m;
    shard *sh = arg;
    sh->curl_due = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

static void collect_finished(loop *u)
{
    CURLMsg *msg;
    int left;
    for (size_t i = 0; i < u->nshards; i++)
        while ((msg = curl_multi_info_read(u->shards[i].multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            upcall *c = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            on_attempt_done(u, c, msg->data.result);
        }
}

/* Closes the last multi handle, and its kept-alive connections, once no call
 * has used it for idle_close_ms; then the one before it, and so on. Calls
 * fill the first handles first, so the last ones are what a past burst left.
 * libcurl closes a dead idle connection only when a call looks for one on its
 * handle, which for those may be never: their descriptors stayed open, in
 * CLOSE_WAIT once the LLM closed its end. */
static void close_idle_shards(loop *u, int64_t now)
{
    if (u->opts.idle_close_ms <= 0)
        return;
    for (size_t i = u->nshards; i-- > 0 && !u->shards[i].nactive;)
        if (u->shards[i].idle_since < 0)
            u->shards[i].idle_since = now;
    while (u->nshards > 0) {
        shard *sh = &u->shards[u->nshards - 1];
        if (sh->nactive || now - sh->idle_since < u->opts.idle_close_ms)
            break;
        curl_multi_cleanup(sh->multi); /* closes the connections: on_close */
        *sh = (shard){.multi = NULL};
        u->nshards--;
        log_debug("upstream: closed an idle connection pool, %zu left on this thread", u->nshards);
    }
}

static int host_turn_due(const loop *u, int kicked, int64_t host_due, int64_t now)
{
    return kicked || u->ended || (host_due >= 0 && host_due <= now);
}

static void *run(void *arg)
{
    loop *u = arg;
    current_loop = u;
    struct epoll_event evs[256];
    int running = 0;
    int kicked = 0;        /* the host's descriptor is ready, or upstream_kick */
    int64_t host_due = -1; /* when the host asked to be served next, -1: no limit */
    for (;;) {
        upcall *fresh = u->queue;
        u->queue = NULL;
        int stop = atomic_load(&u->stop), abort_all = atomic_exchange(&u->abort, 0);

        while (fresh) {
            upcall *c = fresh;
            fresh = c->next;
            c->next = NULL;
            c->started = now_ms();
            if (c->lim)
                hold(u, c, c->started);
            else
                start_attempt(u, c);
        }
        if (abort_all)
            abort_everything(u);
        if (atomic_exchange(&u->cancels, 0))
            cancel_marked(u);

        int64_t now = now_ms(), next_due = now + POLL_MAX_MS;
        for (upcall **p = &u->waiting; *p;) {
            upcall *c = *p;
            if (c->retry_at <= now) {
                *p = c->next;
                c->next = NULL;
                if (c->lim)
                    hold(u, c, now);
                else
                    start_attempt(u, c);
            } else {
                if (c->retry_at < next_due)
                    next_due = c->retry_at;
                p = &c->next;
            }
        }
        for (size_t i = 0; i < u->nshards; i++) {
            shard *sh = &u->shards[i];
            if (sh->curl_due >= 0 && sh->curl_due <= now) {
                sh->curl_due = -1;
                curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
            }
        }
        collect_finished(u);
        /* retries it just scheduled are due then (the scan above was before them) */
        for (upcall *c = u->waiting; c; c = c->next)
            if (c->retry_at < next_due)
                next_due = c->retry_at;
        if (u->held)
            start_held(u, now_ms(), &next_due);
        close_idle_shards(u, now);
        if (host_turn_due(u, kicked, host_due, now)) {
            /* Right after the calls that finished: their answers go out in
             * this turn. Calls it submits start at the top. */
            kicked = 0;
            u->ended = 0;
            host_due = -1; /* asked again below */
            u->host.serve(u->host.arg);
            continue;
        }
        if (stop && !u->active && !u->waiting && !u->held)
            break; /* the queue is empty: the host's turn submitted nothing */

        for (size_t i = 0; i < u->nshards; i++)
            if (u->shards[i].curl_due >= 0 && u->shards[i].curl_due < next_due)
                next_due = u->shards[i].curl_due;
        int64_t d = u->host.due(u->host.arg);
        host_due = d >= 0 ? now + d : -1;
        if (host_due >= 0 && host_due < next_due)
            next_due = host_due;
        /* A stop, abort or kick from now on finds the eventfd written. */
        int64_t wait = next_due - now_ms();
        int n = epoll_wait(u->epfd, evs, (int)B77_ARRAY_LEN(evs), wait > 0 ? (int)wait : 0);
        for (int i = 0; i < n; i++) {
            int fd = (int)(uint32_t)evs[i].data.u64;
            if (fd == u->evfd) {
                uint64_t v;
                if (read(u->evfd, &v, sizeof v) < 0 && errno != EAGAIN)
                    log_error("upstream: eventfd read: %s", strerror(errno));
                kicked = 1;
                continue;
            }
            if (fd == u->host.fd) {
                kicked = 1;
                continue;
            }
            sockstate *st = our_socket(u, fd);
            if (st && !st->wanted) {
                /* An idle kept-alive connection woke (the server closed it,
                 * say): stop watching; libcurl checks it before reuse. */
                epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
                st->events = 0;
                continue;
            }
            int flags = ((evs[i].events & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                        ((evs[i].events & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((evs[i].events & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
            size_t k = (size_t)(evs[i].data.u64 >> 32);
            if (k < u->nshards)
                curl_multi_socket_action(u->shards[k].multi, fd, flags, &running);
        }
    }
    return NULL;
}

/* Wakes the thread from epoll_wait, or keeps it from sleeping in the next. */
static void wake(loop *u)
{
    uint64_t one = 1;
    if (write(u->evfd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_error("upstream: eventfd write: %s", strerror(errno));
}

/* Stops a loop's thread once no call is pending (aborting what is), and
 * frees the loop's resources; the loop itself belongs to the upstream. */
static void loop_stop(loop *u)
{
    if (!u->started)
        return;
    atomic_store(&u->stop, 1);
    atomic_store(&u->abort, 1);
    wake(u);
    pthread_join(u->thread, NULL);
    u->started = 0;
}

static void loop_release(loop *u)
{
    for (size_t i = 0; i < u->nspare; i++)
        curl_easy_cleanup(u->spare[i]);
    free(u->spare);
    for (size_t i = 0; i < u->nshards; i++)
        curl_multi_cleanup(u->shards[i].multi); /* closes the connections: on_close */
    free(u->shards);
    free(u->socks);
    for (size_t i = 0; i < u->nurls; i++) {
        curl_url_cleanup(u->urls[i].handle);
        free(u->urls[i].url);
    }
    if (u->epfd >= 0)
        close(u->epfd);
    if (u->evfd >= 0)
        close(u->evfd);
}

static int loop_init(loop *u, const upstream_opts *opts, const upstream_host *host, int proxy_env)
{
    u->opts = *opts;
    u->host = *host;
    u->proxy_env = proxy_env;
    u->rng = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)u;
    u->spare = xcalloc(u->opts.max_connections, sizeof(CURL *));
    u->maxshards = (u->opts.max_connections + shard_calls(u) - 1) / shard_calls(u);
    u->shards = xcalloc(u->maxshards, sizeof *u->shards);
    u->epfd = epoll_create1(EPOLL_CLOEXEC);
    u->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = u->evfd};
    struct epoll_event hev = {.events = EPOLLIN, .data.fd = u->host.fd};
    if (!open_shard(u) || u->epfd < 0 || u->evfd < 0 ||
        epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->evfd, &ev) != 0 ||
        epoll_ctl(u->epfd, EPOLL_CTL_ADD, u->host.fd, &hev) != 0) {
        log_error("upstream: cannot set up the event loop: %s", strerror(errno));
        loop_release(u);
        return -1;
    }
    return 0;
}

/* Stops the first n loops' threads (all of them first), then frees the
 * loops and u. */
static void free_loops(upstream *u, size_t n)
{
    for (size_t i = 0; i < n; i++)
        loop_stop(&u->loops[i]);
    for (size_t i = 0; i < n; i++)
        loop_release(&u->loops[i]);
    free(u->loops);
    free(u);
}

upstream *upstream_new(const upstream_opts *opts)
{
    upstream_opts o = *opts;
    if (o.max_connections == 0)
        o.max_connections = 1;
    upstream *u = xcalloc(1, sizeof *u);
    u->nloops = o.threads ? o.threads : 1;
    u->loops = xcalloc(u->nloops, sizeof *u->loops);
    int proxy_env = proxy_in_environment();
    for (size_t i = 0; i < u->nloops; i++) {
        u->loops[i].up = u;
        u->loops[i].bit = 1ULL << (i % 64);
        if (loop_init(&u->loops[i], &o, &o.hosts[i], proxy_env) != 0) {
            free_loops(u, i);
            return NULL;
        }
    }
    return u;
}

int upstream_start(upstream *u)
{
    for (size_t i = 0; i < u->nloops; i++) {
        loop *l = &u->loops[i];
        if (pthread_create(&l->thread, NULL, run, l) != 0) {
            log_error("upstream: cannot start an upstream thread");
            return -1;
        }
        l->started = 1;
    }
    return 0;
}

void upstream_submit(upstream *up, upcall *call)
{
    loop *u = current_loop;
    if (!u || u->up != up) {
        log_error("upstream: a call submitted outside a host's turn; abandoned");
        abort();
    }
    call->attempts = 0;
    call->refusals = 0;
    call->granted = 0;
    call->retry_after_ms = -1;
    call->status = 0;
    call->easy = NULL;
    call->next = u->queue; /* started after the turn, before the thread waits */
    u->queue = call;
    if (atomic_load(&call->cancel)) /* terminated before it was (re)submitted */
        atomic_store(&u->cancels, 1);
}

void upstream_kick(upstream *up)
{
    if (!up)
        return;
    for (size_t i = 0; i < up->nloops; i++)
        wake(&up->loops[i]);
}

void upstream_cancel(upstream *up, upcall *call)
{
    atomic_store(&call->cancel, 1);
    for (size_t i = 0; i < up->nloops; i++) {
        atomic_store(&up->loops[i].cancels, 1);
        wake(&up->loops[i]);
    }
}

void upstream_abort_all(upstream *up)
{
    for (size_t i = 0; i < up->nloops; i++) {
        loop *u = &up->loops[i];
        atomic_store(&u->abort, 1);
        wake(u);
    }
}

void upstream_stop(upstream *up)
{
    for (size_t i = 0; up && i < up->nloops; i++)
        loop_stop(&up->loops[i]);
}

void upstream_free(upstream *up)
{
    if (up)
        free_loops(up, up->nloops);
}

void upcall_reset(upcall *call)
{
    buf_free(&call->reply);
}
