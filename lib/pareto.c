/* pareto.c: see pareto.h. */
#include "pareto.h"

#include <math.h>
#include <stdlib.h>

#include "util.h"

size_t pareto_weights(const double *scores, size_t ncand, size_t ninst, size_t *weights)
{
    /* on[c * ninst + i]: candidate c is on instance i's front */
    unsigned char *on = xcalloc(ncand * ninst + 1, 1);
    for (size_t i = 0; i < ninst; i++) {
        double best = -INFINITY;
        for (size_t c = 0; c < ncand; c++) {
            double s = scores[c * ninst + i];
            if (!isnan(s) && s > best)
                best = s;
        }
        for (size_t c = 0; c < ncand; c++)
            on[c * ninst + i] = !isnan(scores[c * ninst + i]) && scores[c * ninst + i] == best;
    }
    double *total = xcalloc(ncand + 1, sizeof *total);
    size_t *order = xcalloc(ncand + 1, sizeof *order);
    unsigned char *gone = xcalloc(ncand + 1, 1);
    for (size_t c = 0; c < ncand; c++) {
        order[c] = c;
        for (size_t i = 0; i < ninst; i++)
            if (!isnan(scores[c * ninst + i]))
                total[c] += scores[c * ninst + i];
    }
    for (size_t a = 1; a < ncand; a++) /* insertion sort: lowest total first, then index */
        for (size_t b = a; b > 0 && (total[order[b]] < total[order[b - 1]] ||
                                     (total[order[b]] == total[order[b - 1]] && order[b] < order[b - 1])); b--) {
            size_t t = order[b];
            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    for (size_t k = 0; k < ncand; k++) {
        size_t c = order[k];
        int fronts = 0, covered = 1;
        for (size_t i = 0; i < ninst && covered; i++) {
            if (!on[c * ninst + i])
                continue;
            fronts++;
            int other = 0;
            for (size_t d = 0; d < ncand && !other; d++)
                other = d != c && !gone[d] && on[d * ninst + i];
            covered = other;
        }
        if (!fronts || covered)
            gone[c] = 1;
    }
    size_t standing = 0;
    for (size_t c = 0; c < ncand; c++) {
        weights[c] = 0;
        if (gone[c])
            continue;
        for (size_t i = 0; i < ninst; i++)
            weights[c] += on[c * ninst + i];
        standing += weights[c] > 0;
    }
    free(on);
    free(total);
    free(order);
    free(gone);
    return standing;
}

int pareto_pick(const size_t *weights, size_t ncand, uint64_t *rng)
{
    size_t sum = 0;
    for (size_t c = 0; c < ncand; c++)
        sum += weights[c];
    if (!sum)
        return -1;
    size_t r = (size_t)(splitmix64(rng) % sum);
    for (size_t c = 0; c < ncand; c++) {
        if (r < weights[c])
            return (int)c;
        r -= weights[c];
    }
    return -1;
}
