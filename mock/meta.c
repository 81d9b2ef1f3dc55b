/* meta.c: see meta.h. */
#include "meta.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "words.h"

#define MAX_SENTENCES 256

enum kind { OPENING, KEPT, MISTAKE, EXAMPLE, CLOSING };

struct sentence {
    char *text;
    enum kind kind;
};

struct draft {
    struct sentence s[MAX_SENTENCES];
    size_t n;
};

static void add(struct draft *d, enum kind k, char *text)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->s[i].text, text) == 0) {
            free(text);
            return;
        }
    if (d->n == MAX_SENTENCES) {
        free(text);
        return;
    }
    d->s[d->n++] = (struct sentence){text, k};
}

static size_t length(const struct draft *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += strlen(d->s[i].text) + (i > 0);
    return n;
}

/* A label-like word at p: letters, digits and underscores, up to 80. */
static size_t label_at(const char *p)
{
    size_t n = 0;
    while (n < 80 && (isalnum((unsigned char)p[n]) || p[n] == '_'))
        n++;
    return n;
}

static int names_label(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '_' && isalnum((unsigned char)s[i + 1]) && i > 0 && isalnum((unsigned char)s[i - 1]))
            return 1;
    return 0;
}

/* The sentences of the current instruction that name a label. */
static void keep_current(struct draft *d, const char *all)
{
    const char *p = strstr(all, "Current instruction:");
    if (!p)
        return;
    p += strlen("Current instruction:");
    const char *end = strstr(p, "\n\n");
    while (end && end - p < 2) /* the block may start with a blank line */
        end = strstr(end + 2, "\n\n");
    size_t len = end ? (size_t)(end - p) : strlen(p);
    for (size_t i = 0; i < len;) {
        size_t n = 0;
        while (i + n < len && !(p[i + n] == '.' && (i + n + 1 == len || isspace((unsigned char)p[i + n + 1]))) &&
               p[i + n] != '\n')
            n++;
        const char *st = p + i;
        size_t sn = n + (i + n < len && p[i + n] == '.');
        while (sn && isspace((unsigned char)*st))
            st++, sn--;
        if (sn > 3 && names_label(st, sn))
            add(d, KEPT, xstrndup(st, sn));
        i += n + 1;
    }
}

/* The query's longest words, at most max of them. */
static void mentions(buf *t, const char *q, size_t qn, size_t max)
{
    char words[WORDS_LONGEST][32];
    size_t nw = words_longest(q, qn, words);
    if (nw > max)
        nw = max;
    for (size_t w = 0; w < nw; w++)
        buf_printf(t, "%s%s", w == 0 ? "" : w + 1 == nw ? " or " : ", ", words[w]);
    if (!nw)
        buf_puts(t, "this request");
}

/* Whether a sentence already names both labels. */
static int told_apart(const struct draft *d, const char *a, size_t an, const char *b, size_t bn)
{
    char *x = xstrndup(a, an), *y = xstrndup(b, bn);
    int found = 0;
    for (size_t i = 0; i < d->n && !found; i++)
        found = strstr(d->s[i].text, x) && strstr(d->s[i].text, y);
    free(x);
    free(y);
    return found;
}

/* Mistakes and examples, in the order shown. */
static void read_records(struct draft *d, const char *all, uint64_t *h)
{
    for (const char *q = strstr(all, "Query: "); q; q = strstr(q, "Query: ")) {
        q += 7;
        size_t qn = strcspn(q, "\n");
        const char *rest = q + qn;
        const char *next = strstr(rest, "Query: ");
        const char *exp = strstr(rest, "\nExpected intent: ");
        const char *pred = strstr(rest, "\nPredicted intent: ");
        const char *in = strstr(rest, "\nIntent: ");
        if (exp && (!next || exp < next)) {
            exp += strlen("\nExpected intent: ");
            size_t en = label_at(exp);
            size_t pn = 0;
            if (pred && (!next || pred < next)) {
                pred += strlen("\nPredicted intent: ");
                pn = label_at(pred);
            }
            int keep = splitmix64(h) % 4 != 0;
            if (!keep || !en || !pn || (en == pn && memcmp(exp, pred, en) == 0) ||
                told_apart(d, exp, en, pred, pn))
                continue;
            buf t = {0};
            buf_printf(&t, "Choose %.*s, not %.*s, when the customer mentions ", (int)en, exp,
                       (int)pn, pred);
            mentions(&t, q, qn, 3);
            buf_putc(&t, '.');
            add(d, MISTAKE, buf_steal(&t));
        } else if (in && (!next || in < next)) {
            in += strlen("\nIntent: ");
            size_t ln = label_at(in);
            if (splitmix64(h) % 4 == 0 || !ln)
                continue;
            buf t = {0};
            buf_puts(&t, "If the customer mentions ");
            mentions(&t, q, qn, WORDS_LONGEST);
            buf_printf(&t, ", choose %.*s.", (int)ln, in);
            add(d, EXAMPLE, buf_steal(&t));
        }
    }
}

/* "under N characters" (also "at most N", "N characters or fewer"). */
static size_t length_cap(const char *all)
{
    for (const char *p = strstr(all, " characters"); p; p = strstr(p + 1, " characters")) {
        const char *e = p;
        while (e > all && (isdigit((unsigned char)e[-1]) || e[-1] == ','))
            e--;
        if (e == p)
            continue;
        size_t v = 0;
        for (const char *c = e; c < p; c++)
            if (isdigit((unsigned char)*c))
                v = v * 10 + (size_t)(*c - '0');
        if (v >= 200)
            return v;
    }
    return 0;
}

/* Drops the last sentence of kind k; 0 when there is none. */
static int drop(struct draft *d, enum kind k, int oldest)
{
    for (size_t j = 0; j < d->n; j++) {
        size_t i = oldest ? j : d->n - 1 - j;
        if (d->s[i].kind != k)
            continue;
        free(d->s[i].text);
        memmove(&d->s[i], &d->s[i + 1], (d->n - i - 1) * sizeof d->s[0]);
        d->n--;
        return 1;
    }
    return 0;
}

char *meta_write(const json_t *messages)
{
    static const char *const persona[] = {
        "You are a meticulous banking support classifier.",
        "You are an experienced customer-service analyst at a digital bank.",
        "You are a precise intent-detection assistant for a retail bank.",
        "Act as a senior banking operations specialist.",
        "You are a careful triage agent for an online bank's help desk.",
        "You are an expert in banking customer requests.",
    };
    static const char *const task[] = {
        "Read the customer's message and choose the single intent that best describes it.",
        "Identify what the customer needs and map it to exactly one intent label.",
        "Decide which banking intent the query expresses, considering the customer's goal.",
        "Classify each message into the most specific matching intent.",
        "Work out the customer's underlying request and name its intent.",
    };
    static const char *const rule[] = {
        "Prefer the most specific label over a general one.",
        "When two labels seem close, pick the one matching the customer's main concern.",
        "Ignore greetings and filler and focus on the action the customer asks about.",
        "Pay attention to words about cards, transfers, top-ups and fees.",
        "Consider whether the customer reports a problem or asks for information.",
    };
    static const char *const output[] = {
        "Answer with the label only.",
        "Return exactly one label from the list.",
        "Respond with the intent label and nothing else.",
        "Use the classification tool to return the label.",
    };
    buf all = {0};
    for (size_t i = 0; i < json_array_size(messages); i++) {
        const char *c = json_string_value(json_object_get(json_array_get(messages, i), "content"));
        buf_puts(&all, c ? c : "");
        buf_putc(&all, '\n');
    }
    const char *text = all.data ? all.data : "";
    uint64_t h = fnv1a64(text, all.len, 77);
    struct draft d = {.n = 0};
    add(&d, OPENING, xstrdup(persona[splitmix64(&h) % B77_ARRAY_LEN(persona)]));
    add(&d, OPENING, xstrdup(task[splitmix64(&h) % B77_ARRAY_LEN(task)]));
    keep_current(&d, text);
    read_records(&d, text, &h);
    add(&d, CLOSING, xstrdup(rule[splitmix64(&h) % B77_ARRAY_LEN(rule)]));
    add(&d, CLOSING, xstrdup(output[splitmix64(&h) % B77_ARRAY_LEN(output)]));
    size_t cap = length_cap(text);
    while (cap && length(&d) > cap &&
           (drop(&d, EXAMPLE, 0) || drop(&d, KEPT, 1) || drop(&d, MISTAKE, 0)))
        ;
    buf_free(&all);
    buf out = {0};
    for (size_t i = 0; i < d.n; i++) {
        if (i)
            buf_putc(&out, ' ');
        buf_puts(&out, d.s[i].text);
        free(d.s[i].text);
    }
    return buf_steal(&out);
}
