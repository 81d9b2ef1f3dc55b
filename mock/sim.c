/* sim.c: see sim.h. */
#include "sim.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "words.h"

/* The landscape, calibrated in the README (initial walkthrough prompt about
 * 0.45 on test, the best prompts under 1,500 characters above 0.60). */
#define BASE_MEAN 0.485     /* base accuracy of an intent of average confusability */
#define BASE_SPREAD 0.15    /* per-intent jitter, +- */
#define BASE_CONFUSION 0.9  /* accuracy lost per unit of confusability above average */
#define TASK_NAMED 0.05     /* the instruction says intent / classify / label */
#define TASK_ONE 0.02       /* ... and exactly one */
#define CONTRAST 0.25       /* a sentence telling an intent from a confusable, with a contrast word */
#define CONTRAST_PLAIN 0.15 /* the same without a contrast word */
#define CONTRAST_MORE 0.05  /* each further confusable covered */
#define CONTRAST_MAX 0.32
#define DESCRIBED 0.07      /* a sentence about the intent alone */
#define LISTED 0.015        /* the label only listed */
#define DEMO_OWN 0.12       /* a demonstration of the query's intent */
#define DEMO_OWN_MORE 0.03  /* each further one (up to 2) */
#define DEMO_CONF 0.04      /* a demonstration of a confusable (up to 2) */
#define DEMOS_FREE 8        /* demonstrations beyond this cost DEMO_COST each */
#define DEMO_COST 0.0015
#define DEMO_COST_MAX 0.08
#define LENGTH_FREE 1500    /* instruction characters beyond this cost LENGTH_COST per 1,000 */
#define LENGTH_COST 0.03
#define LENGTH_COST_MAX 0.15
#define ROW_WEIGHT 0.85     /* a row's difficulty: this much fixed, the rest from the prompt */

struct sim {
    size_t nlabels;
    char *name[DATASET_NUM_LABELS];
    char *norm[DATASET_NUM_LABELS]; /* " card arrival ": lower case, words, spaces around */
    int by_length[DATASET_NUM_LABELS]; /* longest normalised name first */
    int conf[DATASET_NUM_LABELS][3];
    unsigned char confusable[DATASET_NUM_LABELS][DATASET_NUM_LABELS]; /* symmetric */
    double base[DATASET_NUM_LABELS];
    /* query text hash -> label, open addressing (label + 1; 0 empty) */
    uint64_t *qh;
    int *ql;
    size_t nslots;
};

static double unit(uint64_t h)
{
    return (double)(splitmix64(&h) >> 11) / 9007199254740992.0;
}

/* The query's bytes without surrounding white space. */
static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

static uint64_t query_hash(const char *s, size_t n)
{
    trim(&s, &n);
    return fnv1a64(s, n, 0x71756572ULL);
}

/* Lower-case words separated by one space, with a space at each end. */
static void normalise(const char *s, size_t n, buf *out)
{
    buf_reset(out);
    buf_putc(out, ' ');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c))
            buf_putc(out, (char)tolower(c));
        else if (out->data[out->len - 1] != ' ')
            buf_putc(out, ' ');
    }
    if (out->data[out->len - 1] != ' ')
        buf_putc(out, ' ');
}

static const char *content_of(const json_t *m)
{
    const char *c = json_string_value(json_object_get(m, "content"));
    return c ? c : "";
}

static const char *role_of(const json_t *m)
{
    const char *r = json_string_value(json_object_get(m, "role"));
    return r ? r : "";
}

/* ---- building ------------------------------------------------------------ */

struct pair {
    uint64_t key; /* label << 56 | word hash >> 8 */
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct centroid {
    uint64_t *w;
    double *c;
    size_t n;
    double norm;
};

static double centroid_cos(const struct centroid *a, const struct centroid *b)
{
    size_t i = 0, j = 0;
    double dot = 0;
    while (i < a->n && j < b->n) {
        if (a->w[i] == b->w[j])
            dot += a->c[i++] * b->c[j++];
        else if (a->w[i] < b->w[j])
            i++;
        else
            j++;
    }
    return a->norm > 0 && b->norm > 0 ? dot / (a->norm * b->norm) : 0;
}

/* Confusables: the intents whose training queries use the most similar
 * words (cosine of the word-count centroids). */
static void build_confusables(sim *s, const dataset *ds, double *maxcos)
{
    size_t n = dataset_size(ds, 0), np = 0, cap = n * 12 + 1;
    uint64_t *pairs = xmalloc(cap * sizeof *pairs);
    for (size_t r = 0; r < n; r++) {
        const char *t = dataset_text(ds, 0, r);
        tokset ts;
        words_tokenize(t, strlen(t), &ts);
        uint64_t lab = (uint64_t)dataset_label(ds, 0, r);
        for (size_t k = 0; k < ts.n; k++) {
            if (np == cap)
                pairs = xrealloc(pairs, (cap *= 2) * sizeof *pairs);
            pairs[np++] = lab << 56 | ts.h[k] >> 8;
        }
    }
    qsort(pairs, np, sizeof *pairs, cmp_u64);
    struct centroid cen[DATASET_NUM_LABELS] = {{0}};
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j] == pairs[i])
            j++;
        struct centroid *c = &cen[pairs[i] >> 56];
        c->w = xrealloc(c->w, (c->n + 1) * sizeof *c->w);
        c->c = xrealloc(c->c, (c->n + 1) * sizeof *c->c);
        c->w[c->n] = pairs[i] & ((1ULL << 56) - 1);
        c->c[c->n] = (double)(j - i);
        c->norm += (double)(j - i) * (double)(j - i);
        c->n++;
        i = j;
    }
    free(pairs);
    for (size_t l = 0; l < s->nlabels; l++)
        cen[l].norm = sqrt(cen[l].norm);
    for (size_t a = 0; a < s->nlabels; a++) {
        double best[3] = {-1, -1, -1};
        int bi[3] = {-1, -1, -1};
        for (size_t b = 0; b < s->nlabels; b++) {
            if (a == b)
                continue;
            double c = centroid_cos(&cen[a], &cen[b]);
            for (int k = 0; k < 3; k++)
                if (c > best[k]) {
                    for (int m = 2; m > k; m--)
                        best[m] = best[m - 1], bi[m] = bi[m - 1];
                    best[k] = c, bi[k] = (int)b;
                    break;
                }
        }
        maxcos[a] = best[0];
        for (int k = 0; k < 3; k++) {
            s->conf[a][k] = bi[k];
            if (bi[k] >= 0)
                s->confusable[a][bi[k]] = s->confusable[bi[k]][a] = 1;
        }
    }
    for (size_t l = 0; l < s->nlabels; l++) {
        free(cen[l].w);
        free(cen[l].c);
    }
}

static void index_query(sim *s, const char *text, int label)
{
    uint64_t h = query_hash(text, strlen(text));
    size_t i = (size_t)(h & (s->nslots - 1));
    while (s->ql[i]) {
        if (s->qh[i] == h)
            return; /* the first row with this text wins */
        i = (i + 1) & (s->nslots - 1);
    }
    s->qh[i] = h;
    s->ql[i] = label + 1;
}

sim *sim_new(const dataset *ds)
{
    sim *s = xcalloc(1, sizeof *s);
    s->nlabels = dataset_num_labels(ds);
    buf b = {0};
    for (size_t l = 0; l < s->nlabels; l++) {
        s->name[l] = xstrdup(dataset_label_name(ds, (int)l));
        normalise(s->name[l], strlen(s->name[l]), &b);
        s->norm[l] = xstrdup(b.data);
        s->by_length[l] = (int)l;
    }
    buf_free(&b);
    for (size_t i = 1; i < s->nlabels; i++) /* insertion sort, longest first */
        for (size_t j = i; j > 0 && strlen(s->norm[s->by_length[j]]) >
                                        strlen(s->norm[s->by_length[j - 1]]); j--) {
            int t = s->by_length[j];
            s->by_length[j] = s->by_length[j - 1];
            s->by_length[j - 1] = t;
        }
    double maxcos[DATASET_NUM_LABELS] = {0}, mean = 0;
    build_confusables(s, ds, maxcos);
    for (size_t l = 0; l < s->nlabels; l++)
        mean += maxcos[l] / (double)s->nlabels;
    for (size_t l = 0; l < s->nlabels; l++) {
        double jitter = BASE_SPREAD * (2 * unit(fnv1a64(s->name[l], strlen(s->name[l]), 0xba5e)) - 1);
        double b0 = BASE_MEAN - BASE_CONFUSION * (maxcos[l] - mean) + jitter;
        s->base[l] = b0 < 0.08 ? 0.08 : b0 > 0.85 ? 0.85 : b0;
    }
    size_t rows = dataset_size(ds, 0) + dataset_size(ds, 1);
    s->nslots = 1;
    while (s->nslots < rows * 2)
        s->nslots *= 2;
    s->qh = xcalloc(s->nslots, sizeof *s->qh);
    s->ql = xcalloc(s->nslots, sizeof *s->ql);
    for (int split = 0; split < 2; split++)
        for (size_t r = 0; r < dataset_size(ds, split); r++)
            index_query(s, dataset_text(ds, split, r), dataset_label(ds, split, r));
    return s;
}

void sim_free(sim *s)
{
    if (!s)
        return;
    for (size_t l = 0; l < s->nlabels; l++) {
        free(s->name[l]);
        free(s->norm[l]);
    }
    free(s->qh);
    free(s->ql);
    free(s);
}

size_t sim_num_labels(const sim *s)
{
    return s->nlabels;
}

const char *sim_label(const sim *s, int label)
{
    return label >= 0 && (size_t)label < s->nlabels ? s->name[label] : NULL;
}

int sim_find_label(const sim *s, const char *name, size_t n)
{
    buf b = {0};
    normalise(name, n, &b);
    int found = -1;
    for (size_t l = 0; l < s->nlabels && found < 0; l++)
        if (strcmp(b.data, s->norm[l]) == 0)
            found = (int)l;
    buf_free(&b);
    return found;
}

size_t sim_confusables(const sim *s, int label, int out[3])
{
    size_t n = 0;
    for (int k = 0; k < 3; k++)
        if (s->conf[label][k] >= 0)
            out[n++] = s->conf[label][k];
    return n;
}

/* ---- reading a prompt ------------------------------------------------------ */

struct effect {
    double gain[DATASET_NUM_LABELS]; /* accuracy added per intent */
    double all;                      /* added to every intent */
    uint64_t hash;                   /* of the prompt, for the row mix */
};

static const char *const contrast_words[] = {
    " not ",    " rather than ", " instead ",    " unlike ",  " vs ",     " versus ",
    " differ",  " whereas ",     " but ",        " unless ",  " only when ", " only if ",
    " opposed ", " distinguish", " different ", " confuse", " mistake",
};

/* What the system instruction does for each intent (see sim.h). */
static void read_instruction(const sim *s, const char *text, size_t len, struct effect *e)
{
    double contrast[DATASET_NUM_LABELS] = {0}, described[DATASET_NUM_LABELS] = {0};
    double listed[DATASET_NUM_LABELS] = {0};
    unsigned char covered[DATASET_NUM_LABELS][DATASET_NUM_LABELS];
    memset(covered, 0, sizeof covered);
    int ncovered[DATASET_NUM_LABELS] = {0};
    buf norm = {0};
    for (size_t i = 0; i < len;) {
        size_t n = strcspn(text + i, ".!;\n");
        if (i + n > len)
            n = len - i;
        normalise(text + i, n, &norm);
        i += n + 1;
        int mentioned[DATASET_NUM_LABELS];
        size_t nm = 0;
        for (size_t k = 0; k < s->nlabels; k++) {
            int l = s->by_length[k];
            char *at = strstr(norm.data, s->norm[l]);
            if (!at)
                continue;
            mentioned[nm++] = l;
            for (; at; at = strstr(at, s->norm[l])) /* a longer label's words are not a shorter's */
                memset(at + 1, '#', strlen(s->norm[l]) - 2);
        }
        if (!nm)
            continue;
        size_t words = 0;
        for (size_t k = 1; k < norm.len; k++)
            words += norm.data[k] == ' ';
        int cue = 0;
        for (size_t k = 0; k < B77_ARRAY_LEN(contrast_words) && !cue; k++)
            cue = strstr(norm.data, contrast_words[k]) != NULL;
        for (size_t a = 0; a < nm; a++) {
            int y = mentioned[a];
            if (nm > 4) {
                listed[y] = LISTED;
                continue;
            }
            int any = 0;
            for (size_t b = 0; b < nm; b++) {
                int x = mentioned[b];
                if (x == y || !s->confusable[y][x])
                    continue;
                any = 1;
                if (!covered[y][x])
                    covered[y][x] = 1, ncovered[y]++;
            }
            if (any) {
                double c = cue ? CONTRAST : CONTRAST_PLAIN;
                if (c > contrast[y])
                    contrast[y] = c;
            } else if (words >= 6) {
                described[y] = DESCRIBED;
            } else {
                listed[y] = LISTED;
            }
        }
    }
    buf_free(&norm);
    for (size_t l = 0; l < s->nlabels; l++) {
        double g = contrast[l] > 0 ? contrast[l] + CONTRAST_MORE * (ncovered[l] - 1) : 0;
        if (g > CONTRAST_MAX)
            g = CONTRAST_MAX;
        if (described[l] > g)
            g = described[l];
        if (listed[l] > g)
            g = listed[l];
        e->gain[l] += g;
    }
    /* The task named, and the length. */
    buf low = {0};
    normalise(text, len, &low);
    if (strstr(low.data, " intent") || strstr(low.data, " classif") || strstr(low.data, " label")) {
        e->all += TASK_NAMED;
        if (strstr(low.data, " exactly one ") || strstr(low.data, " single ") ||
            strstr(low.data, " only one ") || strstr(low.data, " one label") ||
            strstr(low.data, " one intent"))
            e->all += TASK_ONE;
    }
    buf_free(&low);
    if (len > LENGTH_FREE) {
        double cost = LENGTH_COST * (double)(len - LENGTH_FREE) / 1000.0;
        e->all -= cost > LENGTH_COST_MAX ? LENGTH_COST_MAX : cost;
    }
}

/* The label an assistant turn gives: a tool call's intent, {"intent": ...}
 * content, or its text. -1 when none is a label. */
static int demo_label(const sim *s, const json_t *m)
{
    const json_t *args = json_object_get(
        json_object_get(json_array_get(json_object_get(m, "tool_calls"), 0), "function"), "arguments");
    const char *c = content_of(m);
    json_t *parsed = NULL;
    if (json_is_string(args))
        parsed = json_loads(json_string_value(args), 0, NULL);
    else if (*c == '{')
        parsed = json_loads(c, 0, NULL);
    const char *intent = json_string_value(json_object_get(parsed ? parsed : args, "intent"));
    int l = intent ? sim_find_label(s, intent, strlen(intent)) : -1;
    json_decref(parsed);
    if (l < 0 && !intent) {
        size_t n = strlen(c);
        trim(&c, &n);
        while (n && (*c == '"' || *c == '\'' || *c == '`'))
            c++, n--;
        while (n && (c[n - 1] == '"' || c[n - 1] == '\'' || c[n - 1] == '`' || c[n - 1] == '.'))
            n--;
        l = sim_find_label(s, c, n);
    }
    return l;
}

/* The effect of everything before the last user message. */
static void read_prompt(const sim *s, const json_t *messages, size_t last_user, struct effect *e)
{
    memset(e, 0, sizeof *e);
    buf sys = {0};
    uint64_t h = 0x70726f6dULL;
    int own[DATASET_NUM_LABELS] = {0};
    size_t ndemos = 0;
    for (size_t i = 0; i < last_user; i++) {
        const json_t *m = json_array_get(messages, i);
        const char *role = role_of(m), *c = content_of(m);
        h = fnv1a64(c, strlen(c), h ^ (uint64_t)role[0]);
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            if (sys.len)
                buf_putc(&sys, '\n');
            buf_puts(&sys, c);
        } else if (strcmp(role, "assistant") == 0 && i > 0 &&
                   strcmp(role_of(json_array_get(messages, i - 1)), "user") == 0) {
            int l = demo_label(s, m);
            h = fnv1a64(&l, sizeof l, h);
            ndemos++;
            if (l >= 0)
                own[l]++;
        }
    }
    read_instruction(s, sys.data ? sys.data : "", sys.len, e);
    buf_free(&sys);
    for (size_t y = 0; y < s->nlabels; y++) {
        if (own[y])
            e->gain[y] += DEMO_OWN + DEMO_OWN_MORE * (own[y] > 3 ? 2 : own[y] - 1);
        int conf = 0;
        for (size_t x = 0; x < s->nlabels; x++)
            if (s->confusable[y][x])
                conf += own[x];
        e->gain[y] += DEMO_CONF * (conf > 2 ? 2 : conf);
    }
    if (ndemos > DEMOS_FREE) {
        double cost = DEMO_COST * (double)(ndemos - DEMOS_FREE);
        e->all -= cost > DEMO_COST_MAX ? DEMO_COST_MAX : cost;
    }
    e->hash = h;
}

static double accuracy(const sim *s, const struct effect *e, int label)
{
    double p = s->base[label] + e->all + e->gain[label];
    return p < 0.02 ? 0.02 : p > 0.97 ? 0.97 : p;
}

static size_t last_user_index(const json_t *messages)
{
    size_t last = (size_t)-1;
    for (size_t i = 0; i < json_array_size(messages); i++)
        if (strcmp(role_of(json_array_get(messages, i)), "user") == 0)
            last = i;
    return last;
}

double sim_accuracy(const sim *s, const json_t *messages, int label)
{
    size_t last = last_user_index(messages);
    struct effect e;
    read_prompt(s, messages, last == (size_t)-1 ? json_array_size(messages) : last, &e);
    return accuracy(s, &e, label);
}

const char *sim_classify(const sim *s, const json_t *messages)
{
    size_t last = last_user_index(messages);
    if (last == (size_t)-1)
        return NULL;
    const char *u = content_of(json_array_get(messages, last));
    const char *q = strstr(u, "Customer Query:");
    size_t qn;
    if (q) {
        q += strlen("Customer Query:");
        const char *end = strstr(q, "\n\n");
        qn = end ? (size_t)(end - q) : strlen(q);
    } else {
        q = u;
        qn = strlen(u);
    }
    uint64_t qh = query_hash(q, qn);
    size_t i = (size_t)(qh & (s->nslots - 1));
    while (s->ql[i] && s->qh[i] != qh)
        i = (i + 1) & (s->nslots - 1);
    if (!s->ql[i])
        return NULL;
    int y = s->ql[i] - 1;
    struct effect e;
    read_prompt(s, messages, last, &e);
    double u01 = ROW_WEIGHT * unit(qh) + (1 - ROW_WEIGHT) * unit(qh ^ e.hash);
    if (u01 < accuracy(s, &e, y))
        return s->name[y];
    uint64_t w = qh ^ e.hash ^ 0x77726f6eULL;
    unsigned r = (unsigned)(splitmix64(&w) % 100);
    int pick = r < 50 ? s->conf[y][0] : r < 80 ? s->conf[y][1] : r < 92 ? s->conf[y][2] : -1;
    if (pick < 0) {
        pick = (int)(splitmix64(&w) % (s->nlabels - 1));
        if (pick >= y)
            pick++;
    }
    return s->name[pick];
}
