/* jsonw.c: see jsonw.h. */
#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero when a byte of x is below n (n <= 128): exact as a yes/no. */
#define HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)

/* 1 when none of the 8 bytes at p needs attention: nothing outside ASCII,
 * no control character, no quote, no backslash. */
static int plain8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ONES * '"'), k = w ^ (ONES * '\\');
    return !(w & HIGHS) && !HAS_LESS(w, 0x20) && !HAS_LESS(q, 1) && !HAS_LESS(k, 1);
}

int jw_escape(buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson writes \u001F */
    const unsigned char *s = (const unsigned char *)str;
    size_t mark = b->len;
    buf_reserve(b, n);
    size_t start = 0, i = 0;
    while (i < n) {
        while (i + 8 <= n && plain8(s + i))
            i += 8;
        if (i == n)
            break;
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq_len(s + i, n - i);
            if (!k) {
                b->len = mark;
                b->data[mark] = '\0';
                return -1;
            }
            i += k;
            continue;
        }
        buf_append(b, s + start, i - start);
        switch (c) {
        case '"': jw_raw(b, "\\\""); break;
        case '\\': jw_raw(b, "\\\\"); break;
        case '\b': jw_raw(b, "\\b"); break;
        case '\f': jw_raw(b, "\\f"); break;
        case '\n': jw_raw(b, "\\n"); break;
        case '\r': jw_raw(b, "\\r"); break;
        case '\t': jw_raw(b, "\\t"); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, u, sizeof u);
        }
        }
        start = ++i;
    }
    buf_append(b, s + start, n - start);
    return 0;
}

int jw_str(buf *b, const char *s, size_t n)
{
    size_t mark = b->len;
    buf_putc(b, '"');
    if (jw_escape(b, s, n)) {
        b->len = mark;
        b->data[mark] = '\0';
        return -1;
    }
    buf_putc(b, '"');
    return 0;
}

int jw_cstr(buf *b, const char *s)
{
    if (!s) {
        jw_raw(b, "null");
        return 0;
    }
    return jw_str(b, s, strlen(s));
}

void jw_int(buf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* jansson's dtostr: %.15g, ".0" when it reads as an integer, no '+' and no
 * leading zeros in the exponent. (The C locale's '.' is assumed.) */
void jw_real(buf *b, double v)
{
    char s[40];
    int len = snprintf(s, sizeof s, "%.15g", v);
    if (len < 0 || (size_t)len >= sizeof s - 2)
        return;
    if (strspn(s, "0123456789-") == (size_t)len) {
        s[len++] = '.';
        s[len++] = '0';
        s[len] = '\0';
    }
    char *start = strchr(s, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)len - (size_t)(end - s) + 1);
            len -= (int)(end - start);
        }
    }
    buf_append(b, s, (size_t)len);
}

int jw_value(buf *b, const json_t *v)
{
    if (!v) {
        jw_raw(b, "null");
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        const json_t *x;
        int first = 1;
        buf_putc(b, '{');
        json_object_foreach((json_t *)v, key, x) {
            if (!first)
                buf_putc(b, ',');
            first = 0;
            if (jw_str(b, key, strlen(key)) || (buf_putc(b, ':'), jw_value(b, x)))
                return -1;
        }
        buf_putc(b, '}');
        return 0;
    }
    case JSON_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (i)
                buf_putc(b, ',');
            if (jw_value(b, json_array_get(v, i)))
                return -1;
        }
        buf_putc(b, ']');
        return 0;
    case JSON_STRING:
        return jw_str(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        jw_int(b, (int64_t)json_integer_value(v));
        return 0;
    case JSON_REAL:
        if (!isfinite(json_real_value(v)))
            return -1;
        jw_real(b, json_real_value(v));
        return 0;
    case JSON_TRUE: jw_raw(b, "true"); return 0;
    case JSON_FALSE: jw_raw(b, "false"); return 0;
    default: jw_raw(b, "null"); return 0;
    }
}

char *jw_dumps(const json_t *v)
{
    buf b = {0};
    if (jw_value(&b, v) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}
