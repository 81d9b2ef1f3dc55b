/* stats.c: see stats.h. */
#include "stats.h"

#include <math.h>

static int is_binary(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0 && x[i] != 1.0)
            return 0;
    return 1;
}

static double clip01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

stats_interval stats_mean(const double *x, size_t n)
{
    stats_interval r = {NAN, NAN, NAN, n};
    if (!n)
        return r;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    double m = sum / (double)n, z = 1.959963984540054;
    r.mean = m;
    if (is_binary(x, n)) {
        double nn = (double)n, z2 = z * z;
        double centre = (m + z2 / (2 * nn)) / (1 + z2 / nn);
        double half = z * sqrt(m * (1 - m) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
        r.lo = clip01(centre - half);
        r.hi = clip01(centre + half);
        return r;
    }
    double ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    double se = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : 0;
    r.lo = clip01(m - z * se);
    r.hi = clip01(m + z * se);
    return r;
}

/* log of C(n, k) */
static double log_choose(size_t n, size_t k)
{
    return lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1);
}

/* P(X >= k) for X ~ Binomial(n, 1/2). */
static double upper_tail(size_t n, size_t k)
{
    if (k == 0)
        return 1.0;
    double p = 0;
    for (size_t i = k; i <= n; i++)
        p += exp(log_choose(n, i) - (double)n * log(2.0));
    return p > 1 ? 1 : p;
}

double stats_mcnemar_one_sided(size_t b, size_t c)
{
    return upper_tail(b + c, b);
}

double stats_mcnemar(size_t b, size_t c)
{
    if (b + c == 0)
        return 1.0;
    size_t hi = b > c ? b : c;
    double p = 2 * upper_tail(b + c, hi);
    return p > 1 ? 1 : p;
}

stats_paired stats_compare(const double *a, const double *b, size_t n)
{
    stats_paired r = {0};
    r.n = n;
    if (!n) {
        r.a = r.b = r.diff = r.lo = r.hi = NAN;
        r.p = 1;
        return r;
    }
    double sa = 0, sb = 0;
    for (size_t i = 0; i < n; i++) {
        sa += a[i];
        sb += b[i];
        r.a_only += a[i] > b[i];
        r.b_only += b[i] > a[i];
    }
    r.a = sa / (double)n;
    r.b = sb / (double)n;
    r.diff = r.a - r.b;
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double d = a[i] - b[i] - r.diff;
        ss += d * d;
    }
    double se = n > 1 ? sqrt(ss / (double)(n - 1) / (double)n) : 0;
    r.lo = r.diff - 1.959963984540054 * se;
    r.hi = r.diff + 1.959963984540054 * se;
    r.binary = is_binary(a, n) && is_binary(b, n);
    if (r.binary) {
        r.p = stats_mcnemar(r.a_only, r.b_only);
    } else if (se > 0) {
        r.p = erfc(fabs(r.diff / se) / sqrt(2.0));
    } else {
        r.p = r.diff == 0 ? 1.0 : 0.0;
    }
    return r;
}
