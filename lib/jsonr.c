/* jsonr.c: see jsonr.h. A recursive-descent parser over the bytes, with
 * jansson's limits: objects and arrays at the top only, no NUL in strings
 * or keys, valid UTF-8, integers within int64, finite reals, depth 2048. */
#include "jsonr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

typedef struct parser {
    const unsigned char *s, *p, *end;
    int flags, depth;
    buf tmp;
    jr_error *e;
} parser;

static void fail(parser *ps, const char *fmt, ...)
{
    jr_error *e = ps->e;
    if (!e || e->text[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    e->position = (size_t)(ps->p - ps->s);
    e->line = 1;
    const unsigned char *nl = ps->s;
    for (const unsigned char *q = ps->s; q < ps->p; q++)
        if (*q == '\n') {
            e->line++;
            nl = q + 1;
        }
    e->column = (int)(ps->p - nl) + 1;
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The string at ps->p (just past its opening quote), decoded into ps->tmp.
 * Returns 0 with ps->p past the closing quote. */
static int string_body(parser *ps)
{
    buf *b = &ps->tmp;
    b->len = 0;
    const unsigned char *p = ps->p, *run = p;
    for (;;) {
        while (p < ps->end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
            p++;
        if (p >= ps->end) {
            ps->p = p;
            fail(ps, "premature end of input in a string");
            return -1;
        }
        unsigned c = *p;
        if (c >= 0x80) {
            size_t k = utf8_seq_len(p, (size_t)(ps->end - p));
            if (!k) {
                ps->p = p;
                fail(ps, "invalid UTF-8 in a string");
                return -1;
            }
            p += k;
            continue;
        }
        buf_append(b, run, (size_t)(p - run));
        if (c == '"') {
            ps->p = p + 1;
            if (!b->data)
                buf_reserve(b, 0);
            b->data[b->len] = '\0';
            return 0;
        }
        if (c < 0x20) {
            ps->p = p;
            fail(ps, "control character 0x%x in a string", c);
            return -1;
        }
        /* a backslash */
        if (ps->end - p < 2) {
            ps->p = p;
            fail(ps, "premature end of input in a string");
            return -1;
        }
        c = p[1];
        p += 2;
        switch (c) {
        case '"': buf_putc(b, '"'); break;
        case '\\': buf_putc(b, '\\'); break;
        case '/': buf_putc(b, '/'); break;
        case 'b': buf_putc(b, '\b'); break;
        case 'f': buf_putc(b, '\f'); break;
        case 'n': buf_putc(b, '\n'); break;
        case 'r': buf_putc(b, '\r'); break;
        case 't': buf_putc(b, '\t'); break;
        case 'u': {
            uint32_t cp, lo;
            if (ps->end - p < 4 || hex4(p, &cp)) {
                ps->p = p - 2;
                fail(ps, "invalid \\u escape");
                return -1;
            }
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                ps->p = p - 6;
                fail(ps, "invalid Unicode '\\u%04X'", cp);
                return -1;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (ps->end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF) {
                    ps->p = p - 6;
                    fail(ps, "invalid Unicode '\\u%04X'", cp);
                    return -1;
                }
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) {
                ps->p = p - 6;
                fail(ps, "\\u0000 is not allowed");
                return -1;
            }
            buf_put_utf8(b, cp);
            break;
        }
        default:
            ps->p = p - 2;
            fail(ps, "invalid escape");
            return -1;
        }
        run = p;
    }
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static json_t *number(parser *ps)
{
    const unsigned char *p = ps->p, *start = p;
    int real = 0;
    if (p < ps->end && *p == '-')
        p++;
    if (p >= ps->end || !is_digit(*p))
        goto bad;
    if (*p == '0') {
        p++;
        if (p < ps->end && is_digit(*p))
            goto bad;
    } else {
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && *p == '.') {
        p++;
        real = 1;
        if (p >= ps->end || !is_digit(*p))
            goto bad;
        while (p < ps->end && is_digit(*p))
            p++;
    }
    if (p < ps->end && (*p == 'e' || *p == 'E')) {
        p++;
        real = 1;
        if (p < ps->end && (*p == '+' || *p == '-'))
            p++;
        if (p >= ps->end || !is_digit(*p))
            goto bad;
        while (p < ps->end && is_digit(*p))
            p++;
    }
    size_t len = (size_t)(p - start);
    char small[64], *text = len < sizeof small ? small : xmalloc(len + 1);
    memcpy(text, start, len);
    text[len] = '\0';
    json_t *v = NULL;
    if (!real && !(ps->flags & JR_INT_AS_REAL)) {
        errno = 0;
        long long x = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            if (ps->e)
                ps->e->overflow = 1;
            fail(ps, x < 0 ? "too big negative integer" : "too big integer");
        } else {
            v = json_integer((json_int_t)x);
        }
    } else {
        errno = 0;
        double d = strtod(text, NULL);
        if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)) {
            if (ps->e)
                ps->e->overflow = 1;
            fail(ps, "real number overflow");
        } else {
            v = json_real(d);
        }
    }
    if (text != small)
        free(text);
    if (v)
        ps->p = p;
    return v;
bad:
    fail(ps, "invalid number");
    return NULL;
}

static json_t *value(parser *ps);

static json_t *object(parser *ps)
{
    json_t *obj = json_object();
    ps->p++; /* '{' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, "string or '}' expected");
            break;
        }
        ps->p++;
        if (string_body(ps))
            break;
        char small[64], *key = ps->tmp.len < sizeof small ? small : xmalloc(ps->tmp.len + 1);
        memcpy(key, ps->tmp.data, ps->tmp.len + 1);
        json_t *v = NULL;
        if ((ps->flags & JR_REJECT_DUPLICATES) && json_object_get(obj, key)) {
            fail(ps, "duplicate object key");
        } else {
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, "':' expected");
            } else {
                ps->p++;
                skip_ws(ps);
                v = value(ps);
            }
        }
        if (v)
            json_object_set_new_nocheck(obj, key, v);
        if (key != small)
            free(key);
        if (!v)
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, "',' or '}' expected");
        break;
    }
    json_decref(obj);
    return NULL;
}

static json_t *array(parser *ps)
{
    json_t *arr = json_array();
    ps->p++; /* '[' */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        skip_ws(ps);
        json_t *v = value(ps);
        if (!v)
            break;
        json_array_append_new(arr, v);
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, "',' or ']' expected");
        break;
    }
    json_decref(arr);
    return NULL;
}

static int literal(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail(ps, "invalid token");
        return -1;
    }
    ps->p += n;
    return 0;
}

static json_t *value(parser *ps)
{
    if (ps->p >= ps->end) {
        fail(ps, "premature end of input");
        return NULL;
    }
    json_t *v = NULL;
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > MAX_DEPTH) {
            fail(ps, "maximum parsing depth reached");
            return NULL;
        }
        v = *ps->p == '{' ? object(ps) : array(ps);
        ps->depth--;
        return v;
    case '"':
        ps->p++;
        if (string_body(ps))
            return NULL;
        return json_stringn_nocheck(ps->tmp.data, ps->tmp.len);
    case 't': return literal(ps, "true") ? NULL : json_true();
    case 'f': return literal(ps, "false") ? NULL : json_false();
    case 'n': return literal(ps, "null") ? NULL : json_null();
    default:
        if (*ps->p == '-' || is_digit(*ps->p))
            return number(ps);
        fail(ps, "invalid token");
        return NULL;
    }
}

json_t *jr_parse(const char *s, size_t n, int flags, jr_error *e)
{
    parser ps = {(const unsigned char *)s, (const unsigned char *)s,
                 (const unsigned char *)s + n, flags, 0, {0}, e};
    if (e)
        memset(e, 0, sizeof *e);
    /* one allocation for the string buffer, not one per doubling from 64 */
    buf_reserve(&ps.tmp, n < 512 ? n : 512);
    json_t *v = NULL;
    skip_ws(&ps);
    if (ps.p < ps.end && (*ps.p == '{' || *ps.p == '[')) {
        v = value(&ps);
        if (v) {
            skip_ws(&ps);
            if (ps.p != ps.end) {
                fail(&ps, "end of input expected");
                json_decref(v);
                v = NULL;
            }
        }
    } else {
        fail(&ps, "'[' or '{' expected");
    }
    buf_free(&ps.tmp);
    return v;
}
