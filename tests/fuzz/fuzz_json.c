/* libFuzzer target: the JSON parser (lib/jsonr.c) against jansson's
 * json_loadb on the same bytes: both accept or both refuse, and what they
 * accept is the same value, down to key order (same dump). Texts with a NUL
 * byte are only parsed, not compared: jansson skips some NUL bytes (it reads
 * "[1\0]" as [1]); jr_parse refuses them all, as RFC 8259 does. */
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"

static void compare(const char *s, size_t n, int jr_flags, size_t jansson_flags)
{
    jr_error e;
    json_error_t je;
    json_t *a = jr_parse(s, n, jr_flags, &e);
    json_t *b = json_loadb(s, n, jansson_flags, &je);
    if (!a != !b)
        abort();
    if (a) {
        char *da = json_dumps(a, JSON_ENCODE_ANY), *db = json_dumps(b, JSON_ENCODE_ANY);
        if (!json_equal(a, b) || !da || !db || strcmp(da, db) != 0)
            abort();
        free(da);
        free(db);
    } else if (!e.text[0]) {
        abort(); /* a refusal always says why */
    }
    json_decref(a);
    json_decref(b);
}

/* The server's reading of a request: refused for an out-of-range number, it
 * reads again with integers as reals. Both parsers must end the same way
 * (where they first notice the overflow may differ in a broken text). */
static void two_step(const char *s, size_t n)
{
    jr_error e;
    json_error_t je;
    json_t *a = jr_parse(s, n, JR_REJECT_DUPLICATES, &e);
    if (!a && e.overflow)
        a = jr_parse(s, n, JR_REJECT_DUPLICATES | JR_INT_AS_REAL, &e);
    json_t *b = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
    if (!b && json_error_code(&je) == json_error_numeric_overflow)
        b = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &je);
    if (!a != !b || (a && !json_equal(a, b)))
        abort();
    json_decref(a);
    json_decref(b);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (memchr(data, 0, size)) {
        json_decref(jr_parse((const char *)data, size, 0, NULL));
        return 0;
    }
    compare((const char *)data, size, 0, 0);
    compare((const char *)data, size, JR_REJECT_DUPLICATES, JSON_REJECT_DUPLICATES);
    compare((const char *)data, size, JR_INT_AS_REAL, JSON_DECODE_INT_AS_REAL);
    two_step((const char *)data, size);
    return 0;
}
