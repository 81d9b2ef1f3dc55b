/* jalloc.c: see jalloc.h. */
#include "jalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define JALLOC_OFF 1
#endif

#define HEADER 16       /* keeps the chunk 16-byte aligned, like malloc's */
#define CLASSES 16
#define CLASS_BYTES 32  /* class k holds sizes up to (k + 1) * 32 */
#define KEEP 1024       /* freed chunks kept per class and thread */
#define LARGE CLASSES   /* the class of malloc's own */

#ifndef JALLOC_OFF
typedef struct chunk {
    struct chunk *next; /* while free */
} chunk;

typedef struct cache {
    chunk *head[CLASSES];
    unsigned n[CLASSES];
    int registered; /* the key's destructor will free it */
} cache;

static _Thread_local cache tl;
static _Thread_local int bypass; /* inside jalloc_dumps: malloc's own memory */
static pthread_key_t key;
static int installed;

static void release(void *arg)
{
    cache *c = arg;
    for (int k = 0; k < CLASSES; k++)
        while (c->head[k]) {
            chunk *x = c->head[k];
            c->head[k] = x->next;
            free((char *)x - HEADER);
        }
}

static void *jmalloc(size_t n)
{
    if (bypass)
        return malloc(n);
    size_t k = n ? (n - 1) / CLASS_BYTES : 0;
    if (k >= CLASSES) {
        char *p = malloc(HEADER + n);
        if (!p)
            return NULL;
        *(uint32_t *)p = LARGE;
        return p + HEADER;
    }
    chunk *x = tl.head[k];
    if (x) {
        tl.head[k] = x->next;
        tl.n[k]--;
        return x;
    }
    char *p = malloc(HEADER + (k + 1) * CLASS_BYTES);
    if (!p)
        return NULL;
    *(uint32_t *)p = (uint32_t)k;
    return p + HEADER;
}

static void jfree(void *ptr)
{
    if (!ptr)
        return;
    if (bypass) {
        free(ptr);
        return;
    }
    char *p = (char *)ptr - HEADER;
    uint32_t k = *(uint32_t *)p;
    if (k >= CLASSES || tl.n[k] >= KEEP) {
        free(p);
        return;
    }
    if (!tl.registered) {
        tl.registered = 1;
        pthread_setspecific(key, &tl);
    }
    chunk *x = ptr;
    x->next = tl.head[k];
    tl.head[k] = x;
    tl.n[k]++;
}

void jalloc_install(void)
{
    if (installed || pthread_key_create(&key, release) != 0)
        return;
    installed = 1;
    json_set_alloc_funcs(jmalloc, jfree);
}

char *jalloc_dumps(const json_t *j, size_t flags)
{
    bypass++;
    char *s = json_dumps(j, flags);
    bypass--;
    return s;
}
#else
void jalloc_install(void)
{
}

char *jalloc_dumps(const json_t *j, size_t flags)
{
    return json_dumps(j, flags);
}
#endif
