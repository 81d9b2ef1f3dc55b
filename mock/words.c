/* words.c: see words.h. */
#include "words.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static const char *const stopwords[] = {
    "a", "an", "the", "i", "my", "me", "is", "it", "to", "of", "and", "in", "on", "for", "do",
    "does", "did", "can", "you", "your", "how", "what", "why", "when", "this", "that", "with",
    "be", "have", "has", "was", "are", "am", "there", "please", "help", "would", "will", "just",
    "so", "im", "its", "at", "from", "as", "if", "or", "but", "we", "our", "been", "any", "some",
    "about", "need", "want", "know", "way", "should", "could", "there", "here", "they", "them",
    "than", "then", "which", "who", "up", "out", "all", "no", "yes", "also", "very", "much",
};

int words_is_stopword(const char *w, size_t n)
{
    for (size_t i = 0; i < B77_ARRAY_LEN(stopwords); i++)
        if (strlen(stopwords[i]) == n && memcmp(stopwords[i], w, n) == 0)
            return 1;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lower-cased alphanumeric words, stopwords dropped, a plural 's' and
 * "ing"/"ed" endings stripped; stored as a sorted set of hashes. */
void words_tokenize(const char *s, size_t len, tokset *t)
{
    t->n = 0;
    char w[64];
    size_t i = 0;
    while (i < len && t->n < MAX_TOKENS) {
        while (i < len && !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                            (s[i] >= '0' && s[i] <= '9')))
            i++;
        size_t n = 0;
        while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                           (s[i] >= '0' && s[i] <= '9'))) {
            if (n < sizeof w - 1)
                w[n++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
            i++;
        }
        if (n == 0 || words_is_stopword(w, n))
            continue;
        if (n > 5 && memcmp(w + n - 3, "ing", 3) == 0)
            n -= 3;
        else if (n > 4 && memcmp(w + n - 2, "ed", 2) == 0)
            n -= 2;
        else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's')
            n -= 1;
        t->h[t->n++] = fnv1a64(w, n, 0);
    }
    qsort(t->h, t->n, sizeof t->h[0], cmp_u64);
    size_t k = 0;
    for (size_t j = 0; j < t->n; j++)
        if (k == 0 || t->h[k - 1] != t->h[j])
            t->h[k++] = t->h[j];
    t->n = k;
}

size_t words_overlap(const tokset *a, const tokset *b)
{
    size_t i = 0, j = 0, n = 0;
    while (i < a->n && j < b->n) {
        if (a->h[i] == b->h[j])
            n++, i++, j++;
        else if (a->h[i] < b->h[j])
            i++;
        else
            j++;
    }
    return n;
}

double words_cosine(const tokset *a, const tokset *b)
{
    if (!a->n || !b->n)
        return 0;
    return (double)words_overlap(a, b) / sqrt((double)a->n * (double)b->n);
}

size_t words_longest(const char *s, size_t len, char out[WORDS_LONGEST][32])
{
    size_t nw = 0, lens[WORDS_LONGEST] = {0};
    size_t i = 0;
    while (i < len) {
        while (i < len && !isalnum((unsigned char)s[i]))
            i++;
        size_t st = i;
        while (i < len && isalnum((unsigned char)s[i]))
            i++;
        size_t n = i - st;
        if (n < 3 || n >= 32)
            continue;
        char w[32];
        for (size_t k = 0; k < n; k++)
            w[k] = (char)tolower((unsigned char)s[st + k]);
        w[n] = '\0';
        if (words_is_stopword(w, n))
            continue;
        int dup = 0;
        for (size_t k = 0; k < nw; k++)
            dup |= strcmp(out[k], w) == 0;
        if (dup)
            continue;
        /* insert keeping the three longest (earlier wins ties) */
        size_t pos = nw < WORDS_LONGEST ? nw : WORDS_LONGEST;
        while (pos > 0 && lens[pos - 1] < n)
            pos--;
        if (pos >= WORDS_LONGEST)
            continue;
        for (size_t k = (nw < WORDS_LONGEST ? nw : WORDS_LONGEST - 1); k > pos; k--) {
            memcpy(out[k], out[k - 1], 32);
            lens[k] = lens[k - 1];
        }
        memcpy(out[pos], w, n + 1);
        lens[pos] = n;
        if (nw < WORDS_LONGEST)
            nw++;
    }
    return nw;
}
