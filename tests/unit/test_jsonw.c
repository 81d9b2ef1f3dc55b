/* Unit tests: the direct JSON writer and parser against jansson. */
#include <stdlib.h>

#include "jsonr.h"
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

/* jr_parse and json_loadb agree on a value (same dump) or both refuse. */
static int parses_alike(const char *text, int flags)
{
    jr_error e;
    json_error_t je;
    json_t *a = jr_parse(text, strlen(text), flags, &e);
    json_t *b = json_loads(text, (flags & JR_REJECT_DUPLICATES ? JSON_REJECT_DUPLICATES : 0) |
                                     (flags & JR_INT_AS_REAL ? JSON_DECODE_INT_AS_REAL : 0),
                           &je);
    int same = !a == !b;
    if (a && b) {
        char *da = json_dumps(a, 0), *db = json_dumps(b, 0);
        same = strcmp(da, db) == 0;
        free(da);
        free(db);
    }
    if (!a && !e.text[0])
        same = 0;
    if (!same)
        fprintf(stderr, "  %s: jr %s (%s), jansson %s (%s)\n", text, a ? "ok" : "refused", e.text,
                b ? "ok" : "refused", je.text);
    json_decref(a);
    json_decref(b);
    return same;
}

TEST(jsonr_matches_jansson)
{
    static const char *texts[] = {
        "{}", "[]", " [1, -0, 0.5, 1e3, 1E-3, -12.5e+2, true, false, null] ",
        "{\"a\":1,\"b\":{\"c\":[\"x\"]},\"a\":2}", "[\"\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"]",
        "[\"é😀\"]", "[9223372036854775807,-9223372036854775808]", "[9223372036854775808]",
        "[1e400]", "[1e-400]", "1", "\"s\"", "", "[", "[1,]", "{\"a\"}", "{\"a\":}", "[01]", "[1.]",
        "[-]", "[.5]", "[+1]", "[1e]", "[tru]", "[truex]", "[\"\\u0000\"]", "[\"\\ud800\"]",
        "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\x\"]", "[\"\x01\"]", "[\"\xff\"]",
        "[\"\xc0\x80\"]", "[] x", "{\"a\":1} {}", "[1 2]", "{1:2}"};
    for (size_t i = 0; i < B77_ARRAY_LEN(texts); i++) {
        CHECK(parses_alike(texts[i], 0));
        CHECK(parses_alike(texts[i], JR_REJECT_DUPLICATES));
        CHECK(parses_alike(texts[i], JR_INT_AS_REAL));
    }
    /* where a refusal points */
    jr_error e;
    CHECK(jr_parse("{\n  \"a\": tru\n}", 14, 0, &e) == NULL);
    CHECK(e.line == 2 && e.column == 8 && e.position == 9);
    CHECK(jr_parse("[99999999999999999999]", 22, 0, &e) == NULL && e.overflow);
    json_t *v = jr_parse("[99999999999999999999]", 22, JR_INT_AS_REAL, &e);
    CHECK(json_is_real(json_array_get(v, 0)));
    json_decref(v);
    /* deep nesting: jansson's limit of 2048 */
    char deep[4200];
    memset(deep, '[', 2049);
    memset(deep + 2049, ']', 2049);
    deep[4098] = '\0';
    CHECK(jr_parse(deep, 4098, 0, &e) == NULL && strstr(e.text, "depth"));
    deep[4097] = '\0'; /* 2,048 levels: accepted */
    v = jr_parse(deep + 1, 4096, 0, &e);
    CHECK(v != NULL);
    json_decref(v);
}

TEST(utf8_scrub_makes_cut_messages_valid)
{
    char cut[] = "key \xea\xb8 cut, bad \xff, fine \xea\xb8\x91";
    CHECK_STR(utf8_scrub(cut), "key ?? cut, bad ?, fine \xea\xb8\x91");
    CHECK(utf8_valid(cut, strlen(cut)));
    char ok[] = "plain";
    CHECK_STR(utf8_scrub(ok), "plain");
}

TEST(jw_dumps_is_janssons_text)
{
    json_t *v = json_pack("{s:[i,f,s,b,n],s:{s:s}}", "a", 7, 0.1, "caf\xc3\xa9 \"q\"", 1, "o",
                          "k", "line\nbreak");
    char *want = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    char *got = jw_dumps(v);
    CHECK_STR(got, want);
    free(want);
    free(got);
    json_decref(v);
    char *null_text = jw_dumps(NULL);
    CHECK_STR(null_text, "null");
    free(null_text);
}
