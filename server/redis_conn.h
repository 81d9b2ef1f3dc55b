/* redis_conn.h: one hiredis asynchronous connection driven by an epoll
 * loop its owner runs (no libevent, no thread of its own): it connects,
 * selects the database, reconnects backing off from BACKOFF_MIN_MS to
 * BACKOFF_MAX_MS, and drops a connection that leaves its replies unanswered
 * for STALL_MS. The reply cache's Redis store (store_redis.c) runs it on its
 * loop thread.
 *
 * Ownership: everything here belongs to the owner's loop thread. The
 * context's `data` is the redis_conn; a command callback finds its owner in
 * redis_conn_owner(ac). */
#ifndef B77_REDIS_CONN_H
#define B77_REDIS_CONN_H

#include <hiredis/async.h>
#include <stdint.h>

#include "redisval.h"

typedef struct redis_conn {
    /* set by redis_conn_init */
    redis_addr addr;
    int epfd; /* the owner's: the connection's fd is watched there with data.u32 = 1 */
    void (*on_up)(void *owner);                   /* connected */
    /* could not connect, ended (why NULL: redis_conn_close ended it), or stalled */
    void (*on_down)(void *owner, const char *why);
    redisCallbackFn *on_setup; /* the replies to SELECT and PING (it calls redis_conn_progress) */
    void *owner;
    /* its own */
    redisAsyncContext *ac; /* NULL: none */
    int fd;                /* the connection's fd, -1 when none */
    unsigned events;       /* what the fd waits for */
    int64_t reconnect_at;  /* 0: not due */
    int backoff_ms;
    int outstanding;       /* replies awaited */
    int64_t last_progress; /* when the last reply came (or the first of outstanding went) */
    int closing;           /* the owner is ending it: its end is no error */
} redis_conn;

void redis_conn_init(redis_conn *c, const redis_addr *addr, int epfd, void *owner,
                     void (*on_up)(void *), void (*on_down)(void *, const char *),
                     redisCallbackFn *on_setup);
/* Starts connecting (on_down at once if it cannot even start). */
void redis_conn_connect(redis_conn *c);
/* The fd's epoll events (the owner's loop saw data.u32 == 1). */
void redis_conn_events(redis_conn *c, uint32_t events);
/* After a command was queued on c->ac (rc: redisAsyncCommand's result) for
 * n replies: 1 when queued. */
int redis_conn_sent(redis_conn *c, int rc, int n);
/* In every command callback: one reply (or its absence) came. */
void redis_conn_progress(redis_conn *c);
/* Once per loop turn: drops a stalled connection, reconnects when due
 * (unless stopping). */
void redis_conn_tick(redis_conn *c, int64_t now, int stopping);
/* The earliest of due and what the connection waits for. */
int64_t redis_conn_due(const redis_conn *c, int64_t due);
/* Ends it (what is still awaited is answered NULL). */
void redis_conn_close(redis_conn *c);
void *redis_conn_owner(const redisAsyncContext *ac);

#endif
