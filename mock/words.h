/* words.h: the mock's bag of words: queries and instructions as sets of
 * word hashes (lower-cased, stopwords dropped, simple suffixes stripped).
 * Pure. */
#ifndef B77_MOCK_WORDS_H
#define B77_MOCK_WORDS_H

#include <stddef.h>
#include <stdint.h>

#define MAX_TOKENS 128
#define WORDS_LONGEST 6

typedef struct tokset {
    uint64_t h[MAX_TOKENS]; /* sorted, distinct */
    size_t n;
} tokset;

int words_is_stopword(const char *w, size_t n);
/* The word set of s[0..len): at most MAX_TOKENS words. */
void words_tokenize(const char *s, size_t len, tokset *t);
size_t words_overlap(const tokset *a, const tokset *b);
/* |a and b| / sqrt(|a| |b|); 0 when either is empty. */
double words_cosine(const tokset *a, const tokset *b);
/* The (up to) WORDS_LONGEST longest non-stopword words of s (3 to 31
 * letters), lower-cased, longest first, each once; returns how many. */
size_t words_longest(const char *s, size_t len, char out[WORDS_LONGEST][32]);

#endif
