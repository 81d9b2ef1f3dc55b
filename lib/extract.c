/* extract.c: see extract.h. */
#include "extract.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "util.h"

#define MAX_TEXT 65536 /* longer answers are read this far */
#define MAX_WORDS 8192
#define MAX_LABEL_WORDS 12

const char *extract_path_name(enum extract_path p)
{
    switch (p) {
    case EXTRACT_TOOL_CALL: return "tool_call";
    case EXTRACT_JSON: return "json";
    case EXTRACT_LABEL: return "label";
    default: return "none";
    }
}

/* ---- reasoning ------------------------------------------------------------- */

static const char *find_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (ascii_ncasecmp(s, needle, n) == 0)
            return s;
    return NULL;
}

char *extract_strip_reasoning(const char *content)
{
    static const char *const tags[][2] = {
        {"<think>", "</think>"}, {"<thinking>", "</thinking>"}, {"<reasoning>", "</reasoning>"}};
    char *s = xstrdup(content);
    for (size_t t = 0; t < B77_ARRAY_LEN(tags); t++) {
        char *open;
        while ((open = (char *)find_ci(s, tags[t][0]))) {
            const char *close = find_ci(open, tags[t][1]);
            if (!close) {
                *open = '\0';
                break;
            }
            close += strlen(tags[t][1]);
            memmove(open, close, strlen(close) + 1);
        }
    }
    return s;
}

/* ---- JSON ------------------------------------------------------------------ */

static char *intent_value(const json_t *o)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, "intent") : NULL;
    if (!v)
        v = json_is_object(o) ? json_object_get(o, "label") : NULL;
    if (json_is_string(v) && json_string_length(v))
        return xstrndup(json_string_value(v), json_string_length(v));
    if (json_is_array(v) && json_is_string(json_array_get(v, 0)))
        return xstrdup(json_string_value(json_array_get(v, 0)));
    return NULL;
}

static char *json_intent_in(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (!n || *s != '{')
        return NULL;
    json_t *j = jr_parse(s, n, 0, NULL);
    char *r = intent_value(j);
    json_decref(j);
    return r;
}

/* The end of the balanced {...} starting at s (strings respected), or NULL. */
static const char *object_end(const char *s)
{
    int depth = 0, in_str = 0;
    for (const char *p = s; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

static char *json_intent(const char *text)
{
    char *r = json_intent_in(text, strlen(text));
    if (r)
        return r;
    for (const char *f = strstr(text, "```"); f && !r; f = strstr(f, "```")) { /* fenced blocks */
        const char *body = strchr(f + 3, '\n');
        if (!body)
            break;
        const char *end = strstr(body, "```");
        if (!end)
            end = body + strlen(body);
        r = json_intent_in(body, (size_t)(end - body));
        f = *end ? end + 3 : end;
        if (!*f)
            break;
    }
    for (const char *o = strchr(text, '{'); o && !r; o = strchr(o + 1, '{')) {
        const char *e = object_end(o);
        if (e)
            r = json_intent_in(o, (size_t)(e - o));
    }
    return r;
}

/* ---- labels in text ------------------------------------------------------------- */

typedef struct word {
    const char *p;
    size_t n;
    int line;
} word;

static size_t split_words(const char *s, word *w, size_t max)
{
    size_t n = 0;
    int line = 0;
    while (*s && n < max) {
        if (*s == '\n')
            line++;
        if (!isalnum((unsigned char)*s)) {
            s++;
            continue;
        }
        const char *st = s;
        while (*s && isalnum((unsigned char)*s))
            s++;
        w[n++] = (word){st, (size_t)(s - st), line};
    }
    return n;
}

static int word_is(const word *w, const char *lit)
{
    size_t n = strlen(lit);
    return w->n == n && ascii_ncasecmp(w->p, lit, n) == 0;
}

static int same_word(const word *a, const word *b)
{
    return a->n == b->n && ascii_ncasecmp(a->p, b->p, a->n) == 0;
}

typedef struct label_words {
    word w[MAX_LABEL_WORDS];
    size_t n;
} label_words;

const char *extract_exact_label(const char *s, const extract_labels *labels)
{
    if (!labels || !s)
        return NULL;
    /* the label's words, and the text's once stripped of decoration */
    word tw[MAX_LABEL_WORDS + 4];
    const char *t = s;
    while (*t && (isspace((unsigned char)*t) || strchr("*_`'\"#>-", *t)))
        t++;
    if (ascii_ncasecmp(t, "intent:", 7) == 0 || ascii_ncasecmp(t, "intent =", 8) == 0)
        t += t[6] == ':' ? 7 : 8;
    size_t nt = split_words(t, tw, MAX_LABEL_WORDS + 2);
    if (!nt || nt > MAX_LABEL_WORDS)
        return NULL;
    /* nothing but decoration around the words */
    const char *end = tw[nt - 1].p + tw[nt - 1].n;
    for (const char *p = end; *p; p++)
        if (!isspace((unsigned char)*p) && !strchr("*_`'\".!?,;:)", *p))
            return NULL;
    for (size_t i = 0; i < nt; i++) { /* only separators between the words */
        const char *a = tw[i].p + tw[i].n, *b = i + 1 < nt ? tw[i + 1].p : a;
        for (const char *p = a; p < b; p++)
            if (*p != '_' && *p != ' ' && *p != '-')
                return NULL;
    }
    for (size_t l = 0; l < labels->n; l++) {
        word lw[MAX_LABEL_WORDS + 1];
        size_t nl = split_words(labels->names[l], lw, MAX_LABEL_WORDS + 1);
        if (nl != nt)
            continue;
        size_t k = 0;
        while (k < nl && same_word(&lw[k], &tw[k]))
            k++;
        if (k == nl)
            return labels->names[l];
    }
    return NULL;
}

static const char *const commit_words[] = {"intent", "answer", "label", "classified", "classification",
                                           "category", "prediction", "predicted", "final"};
static const char *const negations[] = {"not", "no", "never", "isn", "than", "instead", "rule", "exclude"};

typedef struct hit {
    int label;
    size_t at;
    int line;
    int negated;
} hit;

static char *label_in_text(const char *text, const extract_labels *labels, char *reason, size_t reasonlen)
{
    word *w = xmalloc(MAX_WORDS * sizeof *w);
    size_t nw = split_words(text, w, MAX_WORDS);
    label_words *lw = xcalloc(labels->n + 1, sizeof *lw);
    for (size_t l = 0; l < labels->n; l++)
        lw[l].n = split_words(labels->names[l], lw[l].w, MAX_LABEL_WORDS);
    hit *hits = xmalloc((nw + 1) * sizeof *hits);
    size_t nh = 0, last_commit = (size_t)-1;
    for (size_t i = 0; i < nw;) {
        int best = -1;
        size_t best_n = 0;
        for (size_t l = 0; l < labels->n; l++) {
            size_t k = lw[l].n;
            if (!k || k <= best_n || i + k > nw)
                continue;
            size_t j = 0;
            while (j < k && same_word(&lw[l].w[j], &w[i + j]))
                j++;
            if (j == k)
                best = (int)l, best_n = k;
        }
        if (best >= 0) {
            int neg = 0;
            for (size_t b = 1; b <= 2 && b <= i; b++)
                for (size_t q = 0; q < B77_ARRAY_LEN(negations); q++)
                    neg |= word_is(&w[i - b], negations[q]);
            hits[nh++] = (hit){best, i, w[i].line, neg};
            i += best_n;
            continue;
        }
        for (size_t q = 0; q < B77_ARRAY_LEN(commit_words); q++)
            if (word_is(&w[i], commit_words[q]))
                last_commit = i;
        i++;
    }
    /* how many different labels are named, not as rejected (1, or more) */
    int pick = -1, first = -1, distinct = 0;
    for (size_t h = 0; h < nh && distinct < 2; h++)
        if (!hits[h].negated) {
            if (first < 0)
                first = hits[h].label, distinct = 1;
            else if (hits[h].label != first)
                distinct = 2;
        }
    if (distinct == 1) {
        pick = first;
    } else if (distinct > 1) {
        /* the label after the last commitment ("the intent is ...") */
        if (last_commit != (size_t)-1)
            for (size_t h = 0; h < nh && pick < 0; h++)
                if (!hits[h].negated && hits[h].at > last_commit)
                    pick = hits[h].label;
        /* else the only label of the last line naming one */
        if (pick < 0) {
            int line = -1, one = -1, many = 0;
            for (size_t h = 0; h < nh; h++)
                if (!hits[h].negated)
                    line = hits[h].line;
            for (size_t h = 0; h < nh; h++)
                if (!hits[h].negated && hits[h].line == line) {
                    if (one >= 0 && hits[h].label != one)
                        many = 1;
                    one = hits[h].label;
                }
            if (!many)
                pick = one;
        }
    }
    char *r = NULL;
    if (pick >= 0) {
        r = xstrdup(labels->names[pick]);
    } else if (distinct > 1) {
        snprintf(reason, reasonlen, "the text names several labels without committing to one");
    } else if (nh) {
        snprintf(reason, reasonlen, "the text only rules labels out");
    } else {
        snprintf(reason, reasonlen, "the text names no label");
    }
    free(w);
    free(lw);
    free(hits);
    return r;
}

char *extract_intent(const char *content, const extract_labels *labels, enum extract_path *path,
                     char *reason, size_t reasonlen)
{
    *path = EXTRACT_NONE;
    if (!content) {
        snprintf(reason, reasonlen, "the reply has no text content");
        return NULL;
    }
    char *text = extract_strip_reasoning(content);
    if (strlen(text) > MAX_TEXT)
        text[MAX_TEXT] = '\0';
    const char *t = text;
    while (*t && isspace((unsigned char)*t))
        t++;
    if (!*t) {
        snprintf(reason, reasonlen, *content && !*text ? "the reply holds only reasoning"
                                                       : "the reply's text content is empty");
        free(text);
        return NULL;
    }
    char *r = json_intent(t);
    if (r) {
        *path = EXTRACT_JSON;
        const char *canon = extract_exact_label(r, labels);
        if (canon) {
            free(r);
            r = xstrdup(canon);
        }
        free(text);
        return r;
    }
    if (!labels) {
        snprintf(reason, reasonlen, "the reply's content holds no JSON with an \"intent\"");
        free(text);
        return NULL;
    }
    const char *exact = extract_exact_label(t, labels);
    r = exact ? xstrdup(exact) : label_in_text(t, labels, reason, reasonlen);
    if (r)
        *path = EXTRACT_LABEL;
    free(text);
    return r;
}
