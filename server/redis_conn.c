/* redis_conn.c: see redis_conn.h. */
#include "redis_conn.h"

#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>

#include "util.h"

#define STALL_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

void *redis_conn_owner(const redisAsyncContext *ac)
{
    return ((const redis_conn *)ac->data)->owner;
}

/* ---- hiredis's adapter hooks: the fd in the owner's epoll ----------------- */

static void watch(redis_conn *c)
{
    if (c->fd < 0)
        return;
    struct epoll_event ev = {.events = c->events, .data.u32 = 1};
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void ev_add_read(void *d)
{
    redis_conn *c = d;
    c->events |= EPOLLIN;
    watch(c);
}

static void ev_del_read(void *d)
{
    redis_conn *c = d;
    c->events &= ~(unsigned)EPOLLIN;
    watch(c);
}

static void ev_add_write(void *d)
{
    redis_conn *c = d;
    c->events |= EPOLLOUT;
    watch(c);
}

static void ev_del_write(void *d)
{
    redis_conn *c = d;
    c->events &= ~(unsigned)EPOLLOUT;
    watch(c);
}

static void ev_cleanup(void *d)
{
    redis_conn *c = d;
    if (c->fd >= 0)
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    c->fd = -1;
    c->events = 0;
}

/* ---- connecting ------------------------------------------------------------- */

static void retry_later(redis_conn *c)
{
    c->reconnect_at = now_ms() + c->backoff_ms;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_conn *c = ac->data;
    if (status != REDIS_OK) { /* hiredis frees the context after this */
        char msg[200];
        snprintf(msg, sizeof msg, "cannot connect to Redis at %.80s:%d: %s", c->addr.host,
                 c->addr.port, ac->errstr);
        c->ac = NULL;
        retry_later(c);
        c->on_down(c->owner, msg);
        return;
    }
    c->backoff_ms = BACKOFF_MIN_MS;
    c->on_up(c->owner);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_conn *c = ac->data;
    c->ac = NULL; /* hiredis frees it after this */
    c->outstanding = 0;
    c->reconnect_at = now_ms() + c->backoff_ms;
    char msg[200];
    snprintf(msg, sizeof msg, "the connection to Redis at %.80s:%d ended: %s", c->addr.host,
             c->addr.port, ac->errstr ? ac->errstr : "closed");
    c->on_down(c->owner, status != REDIS_OK || !c->closing ? msg : NULL);
}

void redis_conn_init(redis_conn *c, const redis_addr *addr, int epfd, void *owner,
                     void (*on_up)(void *), void (*on_down)(void *, const char *),
                     redisCallbackFn *on_setup)
{
    *c = (redis_conn){.addr = *addr, .epfd = epfd, .on_up = on_up, .on_down = on_down,
                      .on_setup = on_setup, .owner = owner, .fd = -1,
                      .backoff_ms = BACKOFF_MIN_MS};
}

void redis_conn_connect(redis_conn *c)
{
    c->reconnect_at = 0;
    redisAsyncContext *ac = redisAsyncConnect(c->addr.host, c->addr.port);
    if (!ac || ac->err) {
        char msg[200];
        snprintf(msg, sizeof msg, "cannot connect to Redis at %.80s:%d: %s", c->addr.host,
                 c->addr.port, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        retry_later(c);
        c->on_down(c->owner, msg);
        return;
    }
    c->ac = ac;
    ac->data = c;
    c->fd = ac->c.fd;
    c->events = 0;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->outstanding = 0;
    if (c->addr.db)
        redis_conn_sent(c, redisAsyncCommand(ac, c->on_setup, NULL, "SELECT %d", c->addr.db), 1);
    /* the connect's first write */
    redis_conn_sent(c, redisAsyncCommand(ac, c->on_setup, NULL, "PING"), 1);
}

void redis_conn_events(redis_conn *c, uint32_t events)
{
    if (c->ac && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleRead(c->ac);
    if (c->ac && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        redisAsyncHandleWrite(c->ac);
}

/* ---- replies awaited ---------------------------------------------------------- */

int redis_conn_sent(redis_conn *c, int rc, int n)
{
    if (rc != REDIS_OK)
        return 0;
    if (c->outstanding == 0)
        c->last_progress = now_ms();
    c->outstanding += n;
    return 1;
}

void redis_conn_progress(redis_conn *c)
{
    if (c->outstanding > 0)
        c->outstanding--;
    c->last_progress = now_ms();
}

/* No answer for STALL_MS: the server is stopped or swamped. Drop the
 * connection (hiredis answers what was waiting with NULL) and make anew. */
static void check_stall(redis_conn *c, int64_t now)
{
    if (!c->ac || c->outstanding == 0 || now - c->last_progress < STALL_MS)
        return;
    char msg[200];
    snprintf(msg, sizeof msg, "Redis at %.80s:%d did not answer for %d ms: connecting again",
             c->addr.host, c->addr.port, STALL_MS);
    c->on_down(c->owner, msg);
    redisAsyncContext *ac = c->ac;
    redisAsyncFree(ac); /* calls on_disconnect (c->ac = NULL) when it was connected */
    c->ac = NULL;
    c->fd = -1;
    c->outstanding = 0;
    if (!c->reconnect_at)
        c->reconnect_at = now + c->backoff_ms;
}

void redis_conn_tick(redis_conn *c, int64_t now, int stopping)
{
    check_stall(c, now);
    if (!c->ac && c->reconnect_at && now >= c->reconnect_at && !stopping)
        redis_conn_connect(c);
}

int64_t redis_conn_due(const redis_conn *c, int64_t due)
{
    if (c->reconnect_at && c->reconnect_at < due)
        due = c->reconnect_at;
    if (c->outstanding && c->last_progress + STALL_MS < due)
        due = c->last_progress + STALL_MS;
    return due;
}

void redis_conn_close(redis_conn *c)
{
    if (!c->ac)
        return;
    c->closing = 1; /* on_disconnect: not an error */
    redisAsyncFree(c->ac);
    c->ac = NULL;
}
