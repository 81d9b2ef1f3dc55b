/* Unit tests: the direct JSON writer against jansson's own encoder. */
#include <stdlib.h>

#include "jsonw.h"
#include "test.h"

/* jw_value(v) and json_dumps(v) agree byte for byte. */
static int agrees(json_t *v)
{
    buf b = {0};
    int rc = jw_value(&b, v);
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    int same = rc == 0 && want && b.data && strcmp(want, b.data) == 0;
    if (!same)
        fprintf(stderr, "  want %s\n  got  %s\n", want, b.data ? b.data : "(null)");
    free(want);
    buf_free(&b);
    json_decref(v);
    return same;
}

TEST(jsonw_matches_jansson)
{
    static const double reals[] = {0.0, -0.0, 1.0, 0.1, 1.5e-7, 1e20, 1e21, 123456789012345678.0,
                                   -2.5e-300, 1.7976931348623157e308, 3.14159265358979, 1e-5};
    for (size_t i = 0; i < B77_ARRAY_LEN(reals); i++)
        CHECK(agrees(json_real(reals[i])));
    static const long long ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < B77_ARRAY_LEN(ints); i++)
        CHECK(agrees(json_integer(ints[i])));
    CHECK(agrees(json_stringn("a\0b\"\\/\b\f\n\r\t\x01\x1f\x7f é € 😀", 26)));
    CHECK(agrees(json_loads("{\"b\":[1,2.5,{\"z\":null,\"a\":true}],\"a\":false,\"\":{}}", 0, NULL)));
    CHECK(agrees(json_array()));
    /* each special byte at each offset of strings long enough for the
     * eight-bytes-at-a-time scan */
    static const char specials[] = {'"', '\\', '\n', 0x01, 0x1f, 0x7f, ' ', '~'};
    for (size_t k = 0; k < sizeof specials; k++)
        for (size_t at = 0; at < 24; at++) {
            char s[25];
            memset(s, 'a', 24);
            s[at] = specials[k];
            s[24] = 0;
            CHECK(agrees(json_string(s)));
            memcpy(s + (at < 22 ? at : 21), "\xc3\xa9", 2); /* and a two-byte character */
            CHECK(agrees(json_string(s)));
        }
}

TEST(jsonw_rejects_invalid_utf8)
{
    static const char *bad[] = {"\xff", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82",
                                "\xe0\x80\xaf"};
    for (size_t i = 0; i < B77_ARRAY_LEN(bad); i++) {
        buf b = {0};
        buf_puts(&b, "x");
        CHECK(jw_cstr(&b, bad[i]) == -1);
        CHECK_STR(b.data, "x"); /* left as it was */
        buf_free(&b);
    }
    buf b = {0};
    CHECK(jw_cstr(&b, NULL) == 0);
    CHECK_STR(b.data, "null");
    buf_free(&b);
}
