/* demos.c: see demos.h. */
#include "demos.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void shuffle(size_t *a, size_t n, uint64_t *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(splitmix64(rng) % i);
        size_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

static int same_set(const demo_set *a, const demo_set *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        int found = 0;
        for (size_t j = 0; j < b->n && !found; j++)
            found = a->idx[i] == b->idx[j];
        if (!found)
            return 0;
    }
    return 1;
}

static int has_label(const demo *pool, const demo_set *s, const char *label)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(pool[s->idx[i]].label, label) == 0)
            return 1;
    return 0;
}

static int in_set(const demo_set *s, size_t d)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->idx[i] == d)
            return 1;
    return 0;
}

/* Adds up to want demos from cand[0..n) to s, new intents first. */
static void fill(const demo *pool, demo_set *s, const size_t *cand, size_t n, size_t want)
{
    for (int pass = 0; pass < 2 && s->n < want; pass++)
        for (size_t i = 0; i < n && s->n < want; i++) {
            size_t d = cand[i];
            if (in_set(s, d) || (pass == 0 && has_label(pool, s, pool[d].label)))
                continue;
            s->idx[s->n++] = d;
        }
}

size_t demos_build_sets(const demo *pool, size_t npool, size_t k, size_t nsets, uint64_t *rng,
                        demo_set *out)
{
    if (nsets == 0)
        return 0;
    if (k > DEMO_SET_MAX)
        k = DEMO_SET_MAX;
    size_t *conf = xmalloc((npool + 1) * sizeof(size_t));
    size_t *boot = xmalloc((npool + 1) * sizeof(size_t));
    size_t *lab = xmalloc((npool + 1) * sizeof(size_t));
    size_t nc = 0, nb = 0, nl = 0;
    for (size_t i = 0; i < npool; i++) {
        if (pool[i].confused)
            conf[nc++] = i;
        else if (pool[i].bootstrapped)
            boot[nb++] = i;
        else
            lab[nl++] = i;
    }
    size_t made = 0;
    out[made++] = (demo_set){.n = 0}; /* zero-shot */
    size_t tries = 0, misses = 0;
    while (made < nsets && k > 0 && npool > 0 && tries < nsets * 20) {
        /* sizes 1, 2, ... k in turn; repeated misses (a size's combinations
         * used up) move on to the next size and drop the confused-first rule */
        size_t size = 1 + (made - 1 + misses / 8) % k;
        if (size > npool)
            size = npool;
        demo_set s = {.n = 0};
        shuffle(conf, nc, rng);
        shuffle(boot, nb, rng);
        shuffle(lab, nl, rng);
        size_t half = nc && misses < 4 ? (size + 1) / 2 : 0;
        fill(pool, &s, conf, nc, half);
        fill(pool, &s, boot, nb, size);
        fill(pool, &s, lab, nl, size);
        fill(pool, &s, conf, nc, size);
        int dup = 0;
        for (size_t j = 0; j < made && !dup; j++)
            dup = same_set(&s, &out[j]);
        tries++;
        if (dup) {
            misses++;
            continue;
        }
        misses = 0;
        out[made++] = s;
    }
    free(conf);
    free(boot);
    free(lab);
    return made;
}
