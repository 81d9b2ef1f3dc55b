/* store_redis.c: the redis://HOST:PORT[/DB] store (store.h). One
 * connection (redis_conn.h: hiredis's asynchronous API on an epoll loop,
 * reconnecting, dropped when stalled) driven by this store's own loop on one
 * thread: no thread per request, and every caller's wait is bounded.
 *
 * - A rollout's lookup is its claim (below): asked while the rollout is
 *   parked, no thread waits for Redis. Other lookups (store_get: the
 *   rollout registry's replays) are queued for the loop and waited for at
 *   most GET_WAIT_MS on the caller's thread; one that times out makes such
 *   lookups skip the store for SKIP_MS (a miss each, at once).
 * - A write is queued (bounded; past it dropped and counted) and sent by the
 *   loop: SET with PX --cache-ttl. Redis's own memory policy bounds it.
 * - A claim (store_claim) is the fleet's one call per request: GET reply
 *   (a hit writes nothing), and on a miss one script that returns the reply
 *   if it is there by now, else takes the lock (SET NX PX); the lock's
 *   holder calls the LLM, the others ask the script again every POLL_MS
 *   until the reply is there, the lock is free (they take it), or their
 *   wait is over. The lock lives LEASE_MS and its holder renews it every
 *   RENEW_MS while its call goes on (up to the rollout's deadline): a
 *   holder that dies holds the others up LEASE_MS at most.
 * - Down, refusing or stalled (no answer for a second: redis_conn drops the
 *   connection): every request is answered at once as a miss or
 *   "unavailable", the state shows in /health and /info, one log line a
 *   minute, and the connection is made again, backing off from 100 ms to 2 s.
 *
 * Stored value (redisval.h): "B77R", the body's length, its SHA-256, the
 * body; one that fails the check is deleted and is a miss.
 * Keys: b77:reply:<hex key>, b77:lock:<hex key>; every process's lookups
 * and hits in b77:stats:lookups and b77:stats:hits.
 *
 * Ownership: an op belongs to the queue (mu) until the loop takes it; then
 * to the loop, which hands it to hiredis as a reply's privdata and frees it
 * when the last reply (or the connection's end) comes. A lookup's op is
 * shared with its waiting caller under mu: whichever of the two is last
 * (the caller gave up: `abandoned`; or the loop answered: `done`) frees it.
 * A claim's callback runs on the loop thread. The connection, the waiting
 * claims and the held locks are the loop thread's alone. */
#include "store_impl.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "log.h"
#include "redis_conn.h"
#include "redisval.h"
#include "util.h"

#define GET_WAIT_MS 50
#define STATS_WAIT_MS 1000
#define SKIP_MS 1000
#define POLL_MS 20
#define LEASE_MS 3000 /* a fleet lock's life unless its holder renews it */
#define RENEW_MS 1000
#define RENEW_BATCH 256 /* locks renewed by one script */
#define COUNTS_EVERY_MS 1000
#define LOG_EVERY_MS 60000
#define QUEUE_OPS 16384
#define QUEUE_BYTES (64u << 20)

enum op_kind { OP_GET, OP_PUT, OP_CLAIM, OP_RELEASE, OP_STATS };

typedef struct op {
    enum op_kind kind;
    store_key key;
    char *value; /* OP_PUT: the stored value (header and body) */
    size_t value_len;
    int64_t lock_ms, until, next_poll, asked_us; /* OP_CLAIM */
    store_claim_cb cb;
    void *arg;
    int waited;
    int replies; /* OP_STATS: replies still to come */
    /* OP_GET and OP_STATS, under mu */
    int done, abandoned, hit;
    char *out;
    size_t out_len;
    long long entries, bytes, lookups_all, hits_all;
    struct op *next;
} op;

/* A fleet lock this process holds (the loop's own list): renewed until
 * released or until `until`, the claiming rollout's deadline. */
typedef struct held {
    store_key key;
    int64_t until;
    struct held *next;
} held;

typedef struct redis_store {
    store base;
    char *spec;
    redis_addr addr;
    int64_t ttl_ms;
    char lock_id[37]; /* this process's name on a lock */

    pthread_mutex_t mu; /* the queue, the figures, the lookups' answers */
    pthread_cond_t answered;
    op *qhead, *qtail;
    size_t qn, qbytes;
    int stop;
    int up;              /* connected (read by callers to skip a dead store) */
    int64_t skip_until;  /* lookups skip the store until then */
    store_stats st;
    unsigned long pending_lookups, pending_hits;
    int64_t last_log;

    /* the loop thread's own */
    pthread_t thread;
    int started;
    int epfd, wakefd;
    redis_conn conn;
    int64_t next_counts; /* also when a store in error is probed (PING) */
    op *waiting; /* claims waiting for another's reply */
    held *held;  /* fleet locks this process holds */
    int64_t next_renew;
} rs;

/* Records an error (under mu); logs it unless one was logged in the last
 * minute. */
static void failed_locked(rs *s, const char *what)
{
    s->st.ok = 0;
    s->st.errors++;
    snprintf(s->st.last_error, sizeof s->st.last_error, "%s", what);
    int64_t now = now_ms();
    if (!s->last_log || now - s->last_log >= LOG_EVERY_MS) {
        s->last_log = now;
        log_warn("reply cache store %s: %s (the rollouts go on to the LLM; the store is asked "
                 "again by itself; errors so far: %lu)",
                 s->spec, what, s->st.errors);
    }
}

static void failed(rs *s, const char *what)
{
    pthread_mutex_lock(&s->mu);
    failed_locked(s, what);
    pthread_mutex_unlock(&s->mu);
}

/* A reply that is no error: the store works (again). */
static void succeeded(rs *s)
{
    pthread_mutex_lock(&s->mu);
    s->st.ok = 1;
    pthread_mutex_unlock(&s->mu);
}

static void wake(rs *s)
{
    uint64_t one = 1;
    ssize_t n = write(s->wakefd, &one, sizeof one);
    (void)n; /* a full counter still wakes the loop */
}

/* ---- answers ------------------------------------------------------------- */

static void finish_claim(rs *s, op *o, enum store_claim r, char *body, size_t len)
{
    pthread_mutex_lock(&s->mu);
    if (r == STORE_CLAIM_FOUND) {
        s->st.claims_found++;
        s->st.hits++;
        s->pending_hits++;
    }
    if (!o->waited) /* the first answer: the lookup's time */
        s->st.get_seconds += (double)(now_us() - o->asked_us) / 1e6;
    if (o->waited)
        s->st.claims_waited++;
    pthread_mutex_unlock(&s->mu);
    o->cb(o->arg, r, body, len, o->waited);
    free(o);
}

/* A lookup's (or the figures') answer, for its waiting caller. */
static void answer(rs *s, op *o)
{
    pthread_mutex_lock(&s->mu);
    if (o->abandoned) {
        pthread_mutex_unlock(&s->mu);
        free(o->out);
        free(o);
        return;
    }
    o->done = 1;
    pthread_cond_broadcast(&s->answered);
    pthread_mutex_unlock(&s->mu);
}

/* 1 with the body when a GET's reply is a value that passes its check; a
 * damaged one is deleted (and logged): a miss, fetched again. */
static int read_value(rs *s, const op *o, const redisReply *rep, char **body, size_t *len)
{
    if (rep->type != REDIS_REPLY_STRING)
        return 0;
    if (redis_value_unpack(rep->str, rep->len, body, len))
        return 1;
    char k[REDIS_KEY_MAX];
    redis_key(o->key.d, "b77:reply:", k);
    redisAsyncCommand(s->conn.ac, NULL, NULL, "DEL %s", k);
    log_warn("reply cache store %s: a stored reply failed its check; deleted, it will be "
             "fetched again", s->spec);
    return 0;
}

static void on_get(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    op *o = priv;
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        failed(s, rep ? rep->str : "the connection ended during a lookup");
    else
        o->hit = read_value(s, o, rep, &o->out, &o->out_len);
    if (rep && rep->type != REDIS_REPLY_ERROR)
        succeeded(s);
    answer(s, o);
}

static void on_put(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        failed(s, rep ? rep->str : "the connection ended during a write");
    else
        succeeded(s);
    (void)priv;
}

static void on_plain(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    if (rep && rep->type == REDIS_REPLY_ERROR)
        failed(s, rep->str);
    else if (rep)
        succeeded(s);
    (void)priv;
}

static void send_try(rs *s, op *o);
static void hold_lock(rs *s, const store_key *key, int64_t until);

/* A claim's answer: FOUND, OWNED, UNAVAILABLE, TIMEOUT, or (another holds
 * the lock) asked again in POLL_MS. */
static void claim_wait(rs *s, op *o)
{
    int64_t now = now_ms();
    if (now >= o->until) {
        finish_claim(s, o, STORE_CLAIM_TIMEOUT, NULL, 0);
        return;
    }
    o->waited = 1;
    o->next_poll = now + POLL_MS;
    o->next = s->waiting;
    s->waiting = o;
}

/* A claim's reply that is an error (Redis full: OOM) or none (the
 * connection ended): no other replica's lock, so the caller calls at once.
 * 1 when it was one (the claim is answered). */
static int claim_failed(rs *s, op *o, const redisReply *rep)
{
    if (rep && rep->type != REDIS_REPLY_ERROR)
        return 0;
    if (rep)
        failed(s, rep->str);
    finish_claim(s, o, STORE_CLAIM_UNAVAILABLE, NULL, 0);
    return 1;
}

/* A claim's first question, a plain GET (a hit writes nothing). */
static void on_claim_get(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    op *o = priv;
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    char *body;
    size_t len;
    if (claim_failed(s, o, rep))
        return;
    if (read_value(s, o, rep, &body, &len)) {
        finish_claim(s, o, STORE_CLAIM_FOUND, body, len);
    } else if (s->conn.ac && s->up) {
        send_try(s, o);
    } else {
        finish_claim(s, o, STORE_CLAIM_UNAVAILABLE, NULL, 0);
    }
}

/* TRY's answer: the reply (another stored it meanwhile), 1 (the lock is
 * this process's) or 0 (another's). */
static void on_claim_try(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    op *o = priv;
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    char *body;
    size_t len;
    if (claim_failed(s, o, rep))
        return;
    if (rep->type == REDIS_REPLY_STRING) {
        if (read_value(s, o, rep, &body, &len))
            finish_claim(s, o, STORE_CLAIM_FOUND, body, len);
        else
            claim_wait(s, o); /* deleted as damaged: the lock is tried again */
    } else if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) {
        succeeded(s);
        hold_lock(s, &o->key, now_ms() + o->lock_ms);
        finish_claim(s, o, STORE_CLAIM_OWNED, NULL, 0);
    } else {
        claim_wait(s, o);
    }
}

static void on_stats(redisAsyncContext *ac, void *r, void *priv)
{
    rs *s = redis_conn_owner(ac);
    op *o = priv;
    redisReply *rep = r;
    redis_conn_progress(&s->conn);
    o->replies--;
    if (rep && rep->type == REDIS_REPLY_INTEGER && o->replies == 2) {
        o->entries = rep->integer;
    } else if (rep && rep->type == REDIS_REPLY_STRING && o->replies == 1) {
        const char *m = strstr(rep->str, "used_memory:");
        if (m)
            o->bytes = strtoll(m + 12, NULL, 10);
    } else if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && o->replies == 0) {
        for (int i = 0; i < 2; i++)
            if (rep->element[i]->type == REDIS_REPLY_STRING)
                *(i ? &o->hits_all : &o->lookups_all) = strtoll(rep->element[i]->str, NULL, 10);
    }
    if (o->replies == 0)
        answer(s, o);
}

/* ---- sending ------------------------------------------------------------- */

/* A command queued on the connection (rc: redisAsyncCommand's) for n replies. */
static int sent(rs *s, int rc, int n)
{
    return redis_conn_sent(&s->conn, rc, n);
}

static void send_release(rs *s, const store_key *key)
{
    static const char script[] =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
        "return 0";
    char k[REDIS_KEY_MAX];
    redis_key(key->d, "b77:lock:", k);
    sent(s, redisAsyncCommand(s->conn.ac, on_plain, NULL, "EVAL %s 1 %s %s", script, k, s->lock_id),
         1);
}

static void send_claim(rs *s, op *o)
{
    char reply[REDIS_KEY_MAX];
    redis_key(o->key.d, "b77:reply:", reply);
    sent(s, redisAsyncCommand(s->conn.ac, on_claim_get, o, "GET %s", reply), 1);
}

/* The reply if it is there now, else the lock if it is free: one atomic
 * step, so that a reply stored between the GET and the lock is not paid
 * for twice. */
static void send_try(rs *s, op *o)
{
    static const char script[] =
        "local v = redis.call('get', KEYS[1]) if v then return v end "
        "if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0";
    char reply[REDIS_KEY_MAX], lock[REDIS_KEY_MAX];
    redis_key(o->key.d, "b77:reply:", reply);
    redis_key(o->key.d, "b77:lock:", lock);
    long long lease = o->lock_ms < LEASE_MS ? o->lock_ms : LEASE_MS; /* renewed while held */
    sent(s, redisAsyncCommand(s->conn.ac, on_claim_try, o, "EVAL %s 2 %s %s %s %lld", script, reply,
                              lock, s->lock_id, lease), 1);
}

/* A lock taken: renewed until released or until `until`. */
static void hold_lock(rs *s, const store_key *key, int64_t until)
{
    held *h = xmalloc(sizeof *h);
    h->key = *key;
    h->until = until;
    h->next = s->held;
    s->held = h;
}

/* A released lock is renewed no more. */
static void forget_lock(rs *s, const store_key *key)
{
    for (held **pp = &s->held; *pp; pp = &(*pp)->next)
        if (memcmp((*pp)->key.d, key->d, sizeof key->d) == 0) {
            held *h = *pp;
            *pp = h->next;
            free(h);
            return;
        }
}

static void forget_all_locks(rs *s)
{
    while (s->held) {
        held *h = s->held;
        s->held = h->next;
        free(h);
    }
}

/* Every RENEW_MS: the locks still held get LEASE_MS more (those past their
 * rollout's deadline are left to expire), RENEW_BATCH to a script. */
static void renew_locks(rs *s, int64_t now)
{
    static const char script[] =
        "for i, k in ipairs(KEYS) do if redis.call('get', k) == ARGV[1] then "
        "redis.call('pexpire', k, ARGV[2]) end end return 0";
    if (now < s->next_renew)
        return;
    s->next_renew = now + RENEW_MS;
    for (held **pp = &s->held; *pp;) {
        if ((*pp)->until <= now) {
            held *h = *pp;
            *pp = h->next;
            free(h);
        } else {
            pp = &(*pp)->next;
        }
    }
    if (!s->conn.ac || !s->up)
        return;
    char lease[24], nkeys[24];
    snprintf(lease, sizeof lease, "%d", LEASE_MS);
    char keys[RENEW_BATCH][REDIS_KEY_MAX];
    const char *argv[RENEW_BATCH + 5];
    for (held *h = s->held; h;) {
        int n = 0;
        for (; h && n < RENEW_BATCH; h = h->next, n++) {
            redis_key(h->key.d, "b77:lock:", keys[n]);
            argv[3 + n] = keys[n];
        }
        snprintf(nkeys, sizeof nkeys, "%d", n);
        argv[0] = "EVAL";
        argv[1] = script;
        argv[2] = nkeys;
        argv[3 + n] = s->lock_id;
        argv[4 + n] = lease;
        sent(s, redisAsyncCommandArgv(s->conn.ac, on_plain, NULL, 5 + n, argv, NULL), 1);
    }
}

/* An op from the queue: sent, or (no connection) answered at once. */
static void dispatch(rs *s, op *o)
{
    int up = s->conn.ac && s->up;
    char k[REDIS_KEY_MAX];
    switch (o->kind) {
    case OP_GET:
        redis_key(o->key.d, "b77:reply:", k);
        if (!up || !sent(s, redisAsyncCommand(s->conn.ac, on_get, o, "GET %s", k), 1))
            answer(s, o);
        return;
    case OP_PUT:
        redis_key(o->key.d, "b77:reply:", k);
        if (up) {
            int rc = s->ttl_ms > 0
                         ? redisAsyncCommand(s->conn.ac, on_put, NULL, "SET %s %b PX %lld", k,
                                             o->value, o->value_len, (long long)s->ttl_ms)
                         : redisAsyncCommand(s->conn.ac, on_put, NULL, "SET %s %b", k, o->value,
                                             o->value_len);
            sent(s, rc, 1);
        } else {
            pthread_mutex_lock(&s->mu);
            s->st.dropped++;
            pthread_mutex_unlock(&s->mu);
        }
        free(o->value);
        free(o);
        return;
    case OP_RELEASE:
        forget_lock(s, &o->key);
        if (up)
            send_release(s, &o->key);
        free(o);
        return;
    case OP_CLAIM:
        if (up)
            send_claim(s, o);
        else
            finish_claim(s, o, STORE_CLAIM_UNAVAILABLE, NULL, 0);
        return;
    case OP_STATS:
        if (up) {
            o->replies = 3;
            sent(s, redisAsyncCommand(s->conn.ac, on_stats, o, "DBSIZE"), 1);
            sent(s, redisAsyncCommand(s->conn.ac, on_stats, o, "INFO memory"), 1);
            sent(s, redisAsyncCommand(s->conn.ac, on_stats, o,
                                      "MGET b77:stats:lookups b77:stats:hits"),
                 1);
        } else {
            answer(s, o);
        }
        return;
    }
}

static void enqueue(rs *s, op *o, size_t bytes)
{
    o->next = NULL;
    if (s->qtail)
        s->qtail->next = o;
    else
        s->qhead = o;
    s->qtail = o;
    s->qn++;
    s->qbytes += bytes;
}

/* ---- the connection's state, for the callers ------------------------------- */

static void on_up(void *owner)
{
    rs *s = owner;
    pthread_mutex_lock(&s->mu);
    int was_down = !s->st.ok && s->st.errors;
    s->up = 1;
    s->st.ok = 1;
    s->skip_until = 0;
    pthread_cond_broadcast(&s->answered); /* redis_stats may wait for this */
    pthread_mutex_unlock(&s->mu);
    if (was_down)
        log_info("reply cache store %s: connected again", s->spec);
}

static void on_down(void *owner, const char *why)
{
    rs *s = owner;
    pthread_mutex_lock(&s->mu);
    s->up = 0;
    if (why)
        failed_locked(s, why);
    pthread_mutex_unlock(&s->mu);
}

static void flush_counts(rs *s, int64_t now)
{
    if (now < s->next_counts)
        return;
    s->next_counts = now + COUNTS_EVERY_MS;
    pthread_mutex_lock(&s->mu);
    unsigned long l = s->pending_lookups, h = s->pending_hits;
    s->pending_lookups = s->pending_hits = 0;
    int in_error = !s->st.ok;
    pthread_mutex_unlock(&s->mu);
    if (s->conn.ac && s->up && in_error) /* its state comes back without traffic */
        sent(s, redisAsyncCommand(s->conn.ac, on_plain, NULL, "PING"), 1);
    if (!s->conn.ac || !s->up || !l)
        return;
    sent(s, redisAsyncCommand(s->conn.ac, on_plain, NULL, "INCRBY b77:stats:lookups %lu", l), 1);
    if (h)
        sent(s, redisAsyncCommand(s->conn.ac, on_plain, NULL, "INCRBY b77:stats:hits %lu", h), 1);
}

/* Claims whose next ask is due. */
static void poll_claims(rs *s, int64_t now)
{
    op **pp = &s->waiting;
    while (*pp) {
        op *o = *pp;
        if (o->next_poll > now) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        if (now >= o->until)
            finish_claim(s, o, STORE_CLAIM_TIMEOUT, NULL, 0);
        else if (s->conn.ac && s->up)
            send_try(s, o);
        else
            finish_claim(s, o, STORE_CLAIM_UNAVAILABLE, NULL, 0);
    }
}

static int next_timeout(rs *s, int64_t now)
{
    int64_t due = now + COUNTS_EVERY_MS;
    due = redis_conn_due(&s->conn, due);
    for (op *o = s->waiting; o; o = o->next)
        if (o->next_poll < due)
            due = o->next_poll;
    if (s->held && s->next_renew < due)
        due = s->next_renew;
    int64_t ms = due - now;
    return ms < 0 ? 0 : ms > 1000 ? 1000 : (int)ms + 1;
}

static void *loop_run(void *arg)
{
    rs *s = arg;
    redis_conn_connect(&s->conn);
    int64_t stop_by = 0;
    for (;;) {
        struct epoll_event evs[4];
        int64_t now = now_ms();
        int n = epoll_wait(s->epfd, evs, 4, next_timeout(s, now));
        for (int i = 0; i < n; i++) {
            if (evs[i].data.u32 == 0) {
                uint64_t v;
                ssize_t r = read(s->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            redis_conn_events(&s->conn, evs[i].events);
        }
        pthread_mutex_lock(&s->mu);
        op *list = s->qhead;
        s->qhead = s->qtail = NULL;
        s->qn = s->qbytes = 0;
        int stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        while (list) {
            op *o = list;
            list = o->next;
            dispatch(s, o);
        }
        now = now_ms();
        poll_claims(s, now);
        renew_locks(s, now);
        redis_conn_tick(&s->conn, now, stop);
        flush_counts(s, now);
        if (stop) {
            /* the writes just sent go out; at most half a second */
            if (!stop_by)
                stop_by = now + 500;
            if (!s->conn.ac || !s->up || s->conn.outstanding == 0 || now >= stop_by)
                break;
        }
    }
    while (s->waiting) {
        op *o = s->waiting;
        s->waiting = o->next;
        finish_claim(s, o, STORE_CLAIM_UNAVAILABLE, NULL, 0);
    }
    forget_all_locks(s); /* (they expire by themselves) */
    redis_conn_close(&s->conn);
    return NULL;
}

/* ---- store.h ------------------------------------------------------------- */

static op *new_op(enum op_kind kind, const store_key *key)
{
    op *o = xcalloc(1, sizeof *o);
    o->kind = kind;
    if (key)
        o->key = *key;
    return o;
}

static struct timespec deadline_in(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Queues o and waits for its answer until wait_ms; 1 when answered (o is
 * then the caller's to free), 0 when not (o is the loop's to free). */
static int ask(rs *s, op *o, int64_t wait_ms)
{
    struct timespec until = deadline_in(wait_ms);
    pthread_mutex_lock(&s->mu);
    enqueue(s, o, 0);
    pthread_mutex_unlock(&s->mu);
    wake(s);
    pthread_mutex_lock(&s->mu);
    while (!o->done)
        if (pthread_cond_timedwait(&s->answered, &s->mu, &until) == ETIMEDOUT)
            break;
    int done = o->done;
    if (!done)
        o->abandoned = 1;
    pthread_mutex_unlock(&s->mu);
    return done;
}

static int redis_get(store *b, const store_key *key, char **out, size_t *len)
{
    rs *s = (rs *)b;
    int64_t t0 = now_us();
    pthread_mutex_lock(&s->mu);
    s->st.gets++;
    s->pending_lookups++;
    int skip = !s->up || now_ms() < s->skip_until;
    pthread_mutex_unlock(&s->mu);
    if (skip || !s->started)
        return 0;
    op *o = new_op(OP_GET, key);
    int hit = 0, answered = ask(s, o, GET_WAIT_MS);
    if (answered) {
        hit = o->hit;
        *out = o->out;
        *len = o->out_len;
        free(o);
    }
    pthread_mutex_lock(&s->mu);
    if (!answered) {
        s->skip_until = now_ms() + SKIP_MS;
        char msg[160];
        snprintf(msg, sizeof msg, "a lookup took over %d ms: lookups skip the store for %d ms",
                 GET_WAIT_MS, SKIP_MS);
        failed_locked(s, msg);
    }
    s->st.hits += (unsigned long)hit;
    s->pending_hits += (unsigned long)hit;
    s->st.get_seconds += (double)(now_us() - t0) / 1e6;
    pthread_mutex_unlock(&s->mu);
    return hit;
}

static void redis_put(store *b, const store_key *key, const char *body, size_t len)
{
    rs *s = (rs *)b;
    int64_t t0 = now_us();
    if (len > (size_t)256 << 20 || !s->started)
        return;
    op *o = new_op(OP_PUT, key);
    o->value = redis_value_pack(body, len, &o->value_len);
    pthread_mutex_lock(&s->mu);
    int room = s->qn < QUEUE_OPS && s->qbytes + o->value_len <= QUEUE_BYTES;
    if (room) {
        enqueue(s, o, o->value_len);
        s->st.puts++;
    } else {
        s->st.dropped++;
    }
    s->st.put_seconds += (double)(now_us() - t0) / 1e6;
    pthread_mutex_unlock(&s->mu);
    if (room) {
        wake(s);
    } else {
        free(o->value);
        free(o);
    }
}

static void redis_claim(store *b, const store_key *key, int64_t wait_ms, int64_t lock_ms,
                        store_claim_cb cb, void *arg)
{
    rs *s = (rs *)b;
    op *o = new_op(OP_CLAIM, key);
    o->cb = cb;
    o->arg = arg;
    o->lock_ms = lock_ms < 1000 ? 1000 : lock_ms;
    o->until = now_ms() + (wait_ms > 0 ? wait_ms : 0);
    o->asked_us = now_us();
    pthread_mutex_lock(&s->mu);
    s->st.claims++;
    s->st.gets++; /* a claim is the rollout's lookup too */
    s->pending_lookups++;
    enqueue(s, o, 0);
    pthread_mutex_unlock(&s->mu);
    wake(s);
}

static int redis_can_claim(store *b)
{
    rs *s = (rs *)b;
    pthread_mutex_lock(&s->mu);
    int ok = s->started && s->up && !s->stop;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static void redis_release(store *b, const store_key *key)
{
    rs *s = (rs *)b;
    op *o = new_op(OP_RELEASE, key);
    pthread_mutex_lock(&s->mu);
    enqueue(s, o, 0);
    pthread_mutex_unlock(&s->mu);
    wake(s);
}

static store_stats redis_stats(store *b, int with_file)
{
    rs *s = (rs *)b;
    store_stats st;
    op *o = NULL;
    if (with_file && s->started) {
        /* just opened (--cache-stats): the connection first */
        struct timespec until = deadline_in(STATS_WAIT_MS);
        pthread_mutex_lock(&s->mu);
        while (!s->up && pthread_cond_timedwait(&s->answered, &s->mu, &until) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&s->mu);
        o = new_op(OP_STATS, NULL);
        o->entries = o->bytes = -1;
        if (!ask(s, o, STATS_WAIT_MS))
            o = NULL;
    }
    pthread_mutex_lock(&s->mu);
    st = s->st;
    pthread_mutex_unlock(&s->mu);
    st.entries = o ? o->entries : -1;
    st.bytes = o ? o->bytes : -1;
    st.lookups_all = o ? o->lookups_all : 0;
    st.hits_all = o ? o->hits_all : 0;
    free(o);
    return st;
}

static void redis_close(store *b)
{
    rs *s = (rs *)b;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stop = 1;
        pthread_mutex_unlock(&s->mu);
        wake(s);
        pthread_join(s->thread, NULL);
    }
    while (s->qhead) { /* never sent */
        op *o = s->qhead;
        s->qhead = o->next;
        free(o->value);
        free(o);
    }
    close(s->epfd);
    close(s->wakefd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->answered);
    free(s->spec);
    free(s);
}

static const store_ops redis_ops = {redis_get,   redis_put,   redis_stats,    redis_close,
                                    redis_claim, redis_release, redis_can_claim};

store *store_redis_open(const char *spec, int64_t ttl_ms, char *err, size_t errlen)
{
    rs *s = xcalloc(1, sizeof *s);
    s->base.ops = &redis_ops;
    if (redis_addr_parse(spec, &s->addr, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    s->spec = xstrdup(spec);
    s->ttl_ms = ttl_ms;
    uuid_t u;
    uuid_generate(u);
    uuid_unparse_lower(u, s->lock_id);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->answered, NULL);
    s->st.kind = "redis";
    s->st.path = s->spec;
    s->st.ok = 1;
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    redis_conn_init(&s->conn, &s->addr, s->epfd, s, on_up, on_down, on_plain);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0};
    if (s->epfd >= 0 && s->wakefd >= 0 && epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->wakefd, &ev) == 0)
        /* (it inherits the opener's signal mask: the server's blocks them all) */
        s->started = pthread_create(&s->thread, NULL, loop_run, s) == 0;
    if (!s->started)
        log_warn("reply cache store %s: cannot start its connection thread: replies will not be "
                 "stored or shared", s->spec);
    return &s->base;
}
