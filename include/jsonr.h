/* jsonr.h: parsing JSON text into jansson values, accepting exactly what
 * json_loadb accepts (the fuzzer holds the two to the same answers and the
 * same values, key order included) at a fraction of its cost: jansson's
 * parser reads through a character stream with a per-character UTF-8
 * decoder and a token buffer, and was a tenth of a rollout's CPU. */
#ifndef B77_JSONR_H
#define B77_JSONR_H

#include <jansson.h>
#include <stddef.h>

enum {
    JR_REJECT_DUPLICATES = 1, /* as JSON_REJECT_DUPLICATES */
    JR_INT_AS_REAL = 2,       /* as JSON_DECODE_INT_AS_REAL */
};

typedef struct jr_error {
    char text[96];
    int line, column; /* 1-based, column in bytes */
    size_t position;  /* byte offset */
    int overflow;     /* an integer or real out of range */
} jr_error;

/* The object or array in s[0..n), a new reference; NULL with e filled when
 * the text is not one (e may be NULL). */
json_t *jr_parse(const char *s, size_t n, int flags, jr_error *e);

#endif
