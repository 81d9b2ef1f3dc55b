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

size_t demos_build_sets(const demo *pool, size_t npool, size_t k, size_t nsets, uint64_t *rng,
                        demo_set *out)
{
    if (nsets == 0)
        return 0;
    if (k > 64)
        k = 64;
    size_t *boot = xmalloc((npool + 1) * sizeof(size_t));
    size_t *lab = xmalloc((npool + 1) * sizeof(size_t));
    size_t nb = 0, nl = 0;
    for (size_t i = 0; i < npool; i++) {
        if (pool[i].bootstrapped)
            boot[nb++] = i;
        else
            lab[nl++] = i;
    }
    size_t made = 0;
    out[made++] = (demo_set){.n = 0}; /* the empty set: zero-shot */
    int labelled_only_done = nl == 0;
    size_t tries = 0, misses = 0;
    while (made < nsets && k > 0 && npool > 0 && tries < nsets * 20) {
        tries++;
        /* Bootstrapped demos first; when their combinations run out (repeated
         * misses), take fewer of them and more labelled ones. */
        size_t take_boot = nb < k ? nb : k;
        take_boot = misses / 3 >= take_boot ? 0 : take_boot - misses / 3;
        demo_set s = {.n = 0};
        shuffle(boot, nb, rng);
        shuffle(lab, nl, rng);
        if (!labelled_only_done) {
            for (size_t i = 0; i < nl && s.n < k; i++)
                s.idx[s.n++] = lab[i];
        } else {
            for (size_t i = 0; i < take_boot && s.n < k; i++)
                s.idx[s.n++] = boot[i];
            for (size_t i = 0; i < nl && s.n < k; i++)
                s.idx[s.n++] = lab[i];
        }
        int dup = 0;
        for (size_t j = 0; j < made && !dup; j++)
            dup = same_set(&s, &out[j]);
        if (dup && tries < nsets * 10) {
            misses++;
            continue;
        }
        misses = 0;
        labelled_only_done = 1;
        out[made++] = s;
    }
    free(boot);
    free(lab);
    return made;
}
