/* cache.c: see cache.h. A chained hash table plus an LRU list for the
 * replies; a second small table for calls in flight. */
#include "cache.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "util.h"

#define BUCKETS 65536
#define INFLIGHT_BUCKETS 4096

typedef struct entry {
    cache_key key;
    char *data;
    size_t len;
    struct entry *prev, *next; /* LRU: head is the most recent */
    struct entry *chain;
} entry;

typedef struct flight {
    cache_key key;
    void **waiters;
    size_t n, cap;
    struct flight *chain;
} flight;

struct cache {
    pthread_mutex_t lock;
    size_t max_bytes, bytes;
    entry *buckets[BUCKETS];
    entry *head, *tail;
    flight *flights[INFLIGHT_BUCKETS];
    store *store; /* below the memory level; NULL: none (its own lock) */
    unsigned long hits, misses, shared, entries;
};

cache_key cache_key_for(const char *url, const char *body, size_t body_len)
{
    /* The URL without its cid= parameters (a correlation id names the run,
     * not the question), its length, then the body, in one buffer. */
    buf all = {0};
    size_t ulen = strlen(url);
    buf_reserve(&all, ulen + 24 + body_len);
    const char *q = strchr(url, '?');
    buf_append(&all, url, q ? (size_t)(q - url) : ulen);
    if (q) {
        int first = 1;
        for (const char *p = q + 1; *p;) {
            size_t n = strcspn(p, "&");
            if (!(n >= 4 && memcmp(p, "cid=", 4) == 0)) {
                buf_putc(&all, first ? '?' : '&');
                buf_append(&all, p, n);
                first = 0;
            }
            p += n + (p[n] == '&');
        }
    }
    /* the URL's length after it: no URL and body can read as another pair */
    buf_printf(&all, "\n%zu:", all.len);
    buf_append(&all, body, body_len);
    cache_key k;
    digest_sha256(all.data, all.len, k.d);
    buf_free(&all);
    return k;
}

static size_t slot(cache_key k, size_t n)
{
    uint64_t v;
    memcpy(&v, k.d, sizeof v);
    return (size_t)(v % n);
}

static int same(cache_key x, cache_key y)
{
    return memcmp(x.d, y.d, sizeof x.d) == 0;
}

static void unlink_lru(cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(cache *c, entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static entry *find(cache *c, cache_key k)
{
    for (entry *e = c->buckets[slot(k, BUCKETS)]; e; e = e->chain)
        if (same(e->key, k))
            return e;
    return NULL;
}

static void drop(cache *c, entry *e)
{
    entry **pp = &c->buckets[slot(e->key, BUCKETS)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    unlink_lru(c, e);
    c->bytes -= e->len;
    c->entries--;
    free(e->data);
    free(e);
}

/* Keeps a reply in the memory level; the lock is held. */
static void keep(cache *c, cache_key k, const char *body, size_t len)
{
    if (len > c->max_bytes)
        return;
    entry *old = find(c, k);
    if (old)
        drop(c, old);
    while (c->bytes + len > c->max_bytes && c->tail)
        drop(c, c->tail);
    entry *e = xcalloc(1, sizeof *e);
    e->key = k;
    e->data = xstrndup(body, len);
    e->len = len;
    e->chain = c->buckets[slot(k, BUCKETS)];
    c->buckets[slot(k, BUCKETS)] = e;
    push_front(c, e);
    c->bytes += len;
    c->entries++;
}

cache *cache_new(size_t max_bytes, const char *store_spec, int64_t ttl_ms, char *err,
                 size_t errlen)
{
    store *st = NULL;
    if (store_spec && strcmp(store_spec, "memory") != 0 &&
        !(st = store_open(store_spec, max_bytes, ttl_ms, err, errlen)))
        return NULL;
    cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    c->store = st;
    return c;
}

void cache_free(cache *c)
{
    if (!c)
        return;
    while (c->head)
        drop(c, c->head);
    for (size_t i = 0; i < INFLIGHT_BUCKETS; i++)
        while (c->flights[i]) {
            flight *f = c->flights[i];
            c->flights[i] = f->chain;
            free(f->waiters);
            free(f);
        }
    store_close(c->store);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void cache_close_store(cache *c)
{
    if (!c)
        return;
    store_close(c->store);
    c->store = NULL;
}

int cache_get_local(cache *c, cache_key key, char **out, size_t *len)
{
    if (!c->max_bytes)
        return 0;
    pthread_mutex_lock(&c->lock);
    entry *e = find(c, key);
    if (e) {
        unlink_lru(c, e);
        push_front(c, e);
        *out = xstrndup(e->data, e->len);
        *len = e->len;
        c->hits++;
    }
    pthread_mutex_unlock(&c->lock);
    return e != NULL;
}

int cache_get(cache *c, cache_key key, char **out, size_t *len)
{
    if (!c->max_bytes)
        return 0;
    if (cache_get_local(c, key, out, len))
        return 1;
    /* the store, without the memory level's lock: other threads go on */
    if (!c->store || !store_get(c->store, &key, out, len))
        return 0;
    pthread_mutex_lock(&c->lock);
    keep(c, key, *out, *len);
    c->hits++;
    pthread_mutex_unlock(&c->lock);
    return 1;
}

void cache_keep(cache *c, cache_key key, const char *body, size_t len)
{
    if (!c->max_bytes)
        return;
    pthread_mutex_lock(&c->lock);
    keep(c, key, body, len);
    pthread_mutex_unlock(&c->lock);
}

void cache_put(cache *c, cache_key key, const char *body, size_t len)
{
    if (!c->max_bytes)
        return;
    cache_keep(c, key, body, len);
    if (c->store)
        store_put(c->store, &key, body, len);
}

store *cache_store(cache *c)
{
    return c->store;
}

int cache_join(cache *c, cache_key key, void *waiter)
{
    pthread_mutex_lock(&c->lock);
    flight **pp = &c->flights[slot(key, INFLIGHT_BUCKETS)];
    flight *f = *pp;
    while (f && !same(f->key, key))
        f = f->chain;
    int joined = 0;
    if (f) {
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 4;
            f->waiters = xrealloc(f->waiters, f->cap * sizeof(void *));
        }
        f->waiters[f->n++] = waiter;
        joined = 1;
    } else {
        f = xcalloc(1, sizeof *f);
        f->key = key;
        f->chain = *pp;
        *pp = f;
    }
    pthread_mutex_unlock(&c->lock);
    return joined;
}

void **cache_finish(cache *c, cache_key key, size_t *n)
{
    pthread_mutex_lock(&c->lock);
    flight **pp = &c->flights[slot(key, INFLIGHT_BUCKETS)];
    while (*pp && !same((*pp)->key, key))
        pp = &(*pp)->chain;
    void **w = NULL;
    *n = 0;
    if (*pp) {
        flight *f = *pp;
        *pp = f->chain;
        w = f->waiters;
        *n = f->n;
        free(f);
    }
    pthread_mutex_unlock(&c->lock);
    return w;
}

cache_stats cache_get_stats(cache *c)
{
    pthread_mutex_lock(&c->lock);
    cache_stats s = {c->hits, c->misses, c->shared, c->entries, c->bytes};
    pthread_mutex_unlock(&c->lock);
    return s;
}

int cache_store_stats(cache *c, store_stats *out, int with_file)
{
    if (!c->store)
        return 0;
    *out = store_get_stats(c->store, with_file);
    return 1;
}

json_t *cache_store_json(cache *c, int with_file)
{
    store_stats st;
    if (!cache_store_stats(c, &st, with_file))
        return json_pack("{s:s}", "kind", "memory");
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I}", "kind", st.kind, "path", st.path, "state",
                          st.ok ? "ok" : "error", "errors", (json_int_t)st.errors, "repaired",
                          (json_int_t)st.repaired, "reopened", (json_int_t)st.reopened);
    if (!st.ok)
        json_object_set_new(j, "last_error", json_string(st.last_error));
    if (with_file) {
        json_object_set_new(j, "entries", json_integer(st.entries));
        json_object_set_new(j, "bytes", json_integer(st.bytes));
    }
    return j;
}

void cache_count(cache *c, int miss, int shared, int hit)
{
    pthread_mutex_lock(&c->lock);
    c->misses += (unsigned long)miss;
    c->shared += (unsigned long)shared;
    c->hits += (unsigned long)hit;
    pthread_mutex_unlock(&c->lock);
}
