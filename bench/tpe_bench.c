/* tpe_bench: the C TPE and random search on synthetic MIPRO-shaped problems
 * (13 instructions x 20 demo sets, noisy minibatch scores). Prints, as JSON,
 * for each method the trials needed to first suggest a top-5% combination
 * (per seed) and the microseconds per suggestion. The same landscapes are
 * rebuilt by tpe_optuna.py from the same seeds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tpe.h"
#include "util.h"

#define NI 13
#define ND 20
#define MINIBATCH 20
#define MAX_TRIALS 150

/* The landscape: p = 0.5 + a_i + b_j + c_ij, all from splitmix64(seed). */
static void landscape(uint64_t seed, double p[NI][ND])
{
    uint64_t s = seed;
    double a[NI], b[ND];
    for (int i = 0; i < NI; i++)
        a[i] = (tpe_uniform(&s) - 0.5) * 0.2;
    for (int j = 0; j < ND; j++)
        b[j] = (tpe_uniform(&s) - 0.5) * 0.2;
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < ND; j++)
            p[i][j] = 0.5 + a[i] + b[j] + (tpe_uniform(&s) - 0.5) * 0.06;
}

static int cmp_desc(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? 1 : a > b ? -1 : 0;
}

static double top5_threshold(double p[NI][ND])
{
    double v[NI * ND];
    memcpy(v, p, sizeof v);
    qsort(v, NI * ND, sizeof(double), cmp_desc);
    return v[(NI * ND) / 20 - 1]; /* the 13th best */
}

static double noisy(double p, uint64_t *rng)
{
    int k = 0;
    for (int i = 0; i < MINIBATCH; i++)
        k += tpe_uniform(rng) < p;
    return (double)k / MINIBATCH;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    int seeds = argc > 1 ? atoi(argv[1]) : 50;
    int choices[2] = {NI, ND};
    printf("{\"seeds\": %d, \"max_trials\": %d, \"space\": [%d, %d], \"minibatch\": %d,\n", seeds,
           MAX_TRIALS, NI, ND, MINIBATCH);
    for (int method = 0; method < 2; method++) {
        printf("  \"%s\": {\"trials_to_top5\": [", method == 0 ? "c_tpe" : "random");
        double total_us = 0;
        long suggestions = 0;
        for (int s = 0; s < seeds; s++) {
            double p[NI][ND];
            landscape((uint64_t)s, p);
            double thr = top5_threshold(p);
            tpe_opts o = tpe_defaults();
            tpe *t = tpe_new(2, choices, &o, (uint64_t)s);
            uint64_t noise = (uint64_t)s * 7919 + 1, rnd = (uint64_t)s * 104729 + 3;
            int hit = MAX_TRIALS + 1;
            for (int n = 1; n <= MAX_TRIALS; n++) {
                int x[2];
                double t0 = now_us();
                if (method == 0) {
                    tpe_suggest(t, x, NULL, 0);
                } else {
                    x[0] = (int)(tpe_uniform(&rnd) * NI);
                    x[1] = (int)(tpe_uniform(&rnd) * ND);
                }
                total_us += now_us() - t0;
                suggestions++;
                if (p[x[0]][x[1]] >= thr) {
                    hit = n;
                    break;
                }
                tpe_tell(t, x, noisy(p[x[0]][x[1]], &noise));
            }
            tpe_free(t);
            printf("%s%d", s ? ", " : "", hit);
        }
        /* Time per suggestion on a full-length run (history grows to 100). */
        tpe_opts o = tpe_defaults();
        tpe *t = tpe_new(2, choices, &o, 1);
        double p[NI][ND];
        landscape(1, p);
        uint64_t noise = 5;
        double us = 0;
        for (int n = 0; n < 100; n++) {
            int x[2];
            double t0 = now_us();
            if (method == 0)
                tpe_suggest(t, x, NULL, 0);
            else
                x[0] = (int)(tpe_uniform(&noise) * NI), x[1] = (int)(tpe_uniform(&noise) * ND);
            us += now_us() - t0;
            tpe_tell(t, x, noisy(p[x[0]][x[1]], &noise));
        }
        tpe_free(t);
        printf("], \"us_per_suggestion\": %.2f}%s\n", us / 100, method == 0 ? "," : "");
    }
    printf("}\n");
    return 0;
}
