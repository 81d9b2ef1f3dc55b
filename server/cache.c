/* cache.c: see cache.h. A chained hash table plus an LRU list for the
 * replies; a second small table for calls in flight. */
#include "cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    FILE *file;
    unsigned long hits, misses, shared, entries;
};

cache_key cache_key_for(const char *url, const char *body, size_t body_len)
{
    /* The URL without its cid= parameters: a correlation id names the run,
     * not the question. */
    buf u = {0};
    const char *q = strchr(url, '?');
    buf_append(&u, url, q ? (size_t)(q - url) : strlen(url));
    if (q) {
        int first = 1;
        for (const char *p = q + 1; *p;) {
            size_t n = strcspn(p, "&");
            if (!(n >= 4 && memcmp(p, "cid=", 4) == 0)) {
                buf_putc(&u, first ? '?' : '&');
                buf_append(&u, p, n);
                first = 0;
            }
            p += n + (p[n] == '&');
        }
    }
    cache_key k;
    k.a = fnv1a64(body, body_len, fnv1a64(u.data, u.len, 0x6b31));
    k.b = fnv1a64(body, body_len, fnv1a64(u.data, u.len, 0x2f5c9a7d1e83b4c6ULL) * 31);
    buf_free(&u);
    return k;
}

static size_t slot(cache_key k, size_t n)
{
    return (size_t)(k.a % n);
}

static int same(cache_key x, cache_key y)
{
    return x.a == y.a && x.b == y.b;
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

/* Stores without touching the file; the lock is held. */
static void store(cache *c, cache_key k, const char *body, size_t len)
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

static void load(cache *c, FILE *f)
{
    unsigned long long a, b;
    size_t len;
    while (fscanf(f, "%16llx%16llx %zu", &a, &b, &len) == 3 && fgetc(f) == '\n') {
        char *data = xmalloc(len + 1);
        if (fread(data, 1, len, f) != len || fgetc(f) != '\n') {
            free(data); /* a torn last record: ignore it */
            break;
        }
        store(c, (cache_key){a, b}, data, len);
        free(data);
    }
}

cache *cache_new(size_t max_bytes, const char *path, char *err, size_t errlen)
{
    cache *c = xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max_bytes = max_bytes;
    if (path) {
        FILE *in = fopen(path, "rb");
        if (in) {
            load(c, in);
            fclose(in);
        }
        c->file = fopen(path, "ab");
        if (!c->file) {
            snprintf(err, errlen, "cannot open the cache file %s: %s", path, strerror(errno));
            cache_free(c);
            return NULL;
        }
    }
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
    if (c->file)
        fclose(c->file);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

int cache_get(cache *c, cache_key key, char **out, size_t *len)
{
    pthread_mutex_lock(&c->lock);
    entry *e = c->max_bytes ? find(c, key) : NULL;
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

void cache_put(cache *c, cache_key key, const char *body, size_t len)
{
    if (!c->max_bytes)
        return;
    pthread_mutex_lock(&c->lock);
    store(c, key, body, len);
    if (c->file) {
        fprintf(c->file, "%016llx%016llx %zu\n", (unsigned long long)key.a,
                (unsigned long long)key.b, len);
        fwrite(body, 1, len, c->file);
        fputc('\n', c->file);
        fflush(c->file);
    }
    pthread_mutex_unlock(&c->lock);
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

void cache_count(cache *c, int miss, int shared)
{
    pthread_mutex_lock(&c->lock);
    c->misses += (unsigned long)miss;
    c->shared += (unsigned long)shared;
    pthread_mutex_unlock(&c->lock);
}
