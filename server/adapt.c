/* adapt.c: see adapt.h. */
#include "adapt.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_ENTRIES 64

struct entry {
    char *endpoint, *model;
    int bits;
};

struct adapt_memo {
    pthread_mutex_t lock;
    struct entry e[MAX_ENTRIES];
    size_t n;
    atomic_size_t published; /* n, readable without the lock: most servers need no entry */
    long counts[ADAPT_COUNT];
};

adapt_memo *adapt_memo_new(void)
{
    adapt_memo *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void adapt_memo_free(adapt_memo *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].endpoint);
        free(m->e[i].model);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static size_t endpoint_len(const char *url)
{
    return strcspn(url, "?#");
}

/* The entry for url and model; called with the lock held. */
static struct entry *find(adapt_memo *m, const char *url, const char *model)
{
    size_t n = endpoint_len(url);
    for (size_t i = 0; i < m->n; i++)
        if (strlen(m->e[i].endpoint) == n && memcmp(m->e[i].endpoint, url, n) == 0 &&
            strcmp(m->e[i].model, model) == 0)
            return &m->e[i];
    return NULL;
}

int adapt_memo_get(adapt_memo *m, const char *url, const char *model)
{
    if (!m || !url || !model || !atomic_load_explicit(&m->published, memory_order_acquire))
        return 0;
    pthread_mutex_lock(&m->lock);
    struct entry *e = find(m, url, model);
    int bits = e ? e->bits : 0;
    pthread_mutex_unlock(&m->lock);
    return bits;
}

int adapt_memo_add(adapt_memo *m, const char *url, const char *model, int bits)
{
    if (!m || !url || !model)
        return 0;
    pthread_mutex_lock(&m->lock);
    struct entry *e = find(m, url, model);
    if (!e && m->n < MAX_ENTRIES) {
        e = &m->e[m->n++];
        e->endpoint = xstrndup(url, endpoint_len(url));
        e->model = xstrdup(model);
        e->bits = 0;
        atomic_store_explicit(&m->published, m->n, memory_order_release);
    }
    int added = e ? bits & ~e->bits : 0;
    if (e)
        e->bits |= bits;
    for (int i = 0; i < ADAPT_COUNT; i++)
        if (added & (1 << i))
            m->counts[i]++;
    pthread_mutex_unlock(&m->lock);
    return added;
}

json_t *adapt_memo_json(adapt_memo *m)
{
    json_t *a = json_array();
    if (!m)
        return a;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n; i++) {
        json_t *names = json_array();
        for (int b = 0; b < ADAPT_COUNT; b++)
            if (m->e[i].bits & (1 << b))
                json_array_append_new(names, json_string(params_name(b)));
        json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "endpoint", m->e[i].endpoint, "model",
                                           m->e[i].model, "adaptations", names));
    }
    pthread_mutex_unlock(&m->lock);
    return a;
}

void adapt_memo_counts(adapt_memo *m, long *counts)
{
    memset(counts, 0, ADAPT_COUNT * sizeof *counts);
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    memcpy(counts, m->counts, sizeof m->counts);
    pthread_mutex_unlock(&m->lock);
}
