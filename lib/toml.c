/* toml.c: see toml.h. A recursive-descent parser over the raw bytes.
 *
 * Table bookkeeping (the rules of TOML 1.0 on defining tables):
 *   explicit  defined by a [header] (or as an element of [[header]]);
 *             a second [header] for it is an error, and so is reaching into
 *             it with dotted keys from another table
 *   dotted    created by a dotted key (a.b = 1); a later [header] for it is
 *             an error
 *   frozen    an inline table or created inside one: never extended
 * Arrays made by [[header]] are "aot" (extendable); value arrays are not. */
#include "toml.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_DEPTH 128
#define MAX_KEY_PARTS 128

struct toml_value {
    toml_type type;
    int line, col;
    union {
        struct {
            char **keys;
            size_t *keylens;
            toml_value **vals;
            size_t n, cap;
            unsigned explicit_ : 1, dotted : 1, frozen : 1;
        } t;
        struct {
            toml_value **items;
            size_t n, cap;
            unsigned aot : 1;
        } a;
        struct {
            char *s;
            size_t len;
        } s;
        int64_t i;
        double f;
        int b;
    } u;
};

typedef struct parser {
    const char *s;
    size_t n, i;
    int line;
    size_t line_start;
    char *err;
    size_t errlen;
    int failed;
    int depth;
} parser;

static void fail(parser *p, const char *fmt, ...) B77_PRINTF(2, 3);
static void fail(parser *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "line %d, column %zu: %s", p->line, p->i - p->line_start + 1, msg);
}

/* ---- values ------------------------------------------------------------ */

static toml_value *new_value(parser *p, toml_type t)
{
    toml_value *v = xcalloc(1, sizeof *v);
    v->type = t;
    v->line = p->line;
    v->col = (int)(p->i - p->line_start + 1);
    return v;
}

void toml_free(toml_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case TOML_TABLE:
        for (size_t i = 0; i < v->u.t.n; i++) {
            free(v->u.t.keys[i]);
            toml_free(v->u.t.vals[i]);
        }
        free(v->u.t.keys);
        free(v->u.t.keylens);
        free(v->u.t.vals);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < v->u.a.n; i++)
            toml_free(v->u.a.items[i]);
        free(v->u.a.items);
        break;
    case TOML_STRING:
    case TOML_DATETIME:
    case TOML_DATETIME_LOCAL:
    case TOML_DATE_LOCAL:
    case TOML_TIME_LOCAL:
        free(v->u.s.s);
        break;
    default:
        break;
    }
    free(v);
}

static toml_value *table_find(const toml_value *t, const char *k, size_t klen)
{
    for (size_t i = 0; i < t->u.t.n; i++)
        if (t->u.t.keylens[i] == klen && memcmp(t->u.t.keys[i], k, klen) == 0)
            return t->u.t.vals[i];
    return NULL;
}

static void table_add(toml_value *t, const char *k, size_t klen, toml_value *v)
{
    if (t->u.t.n == t->u.t.cap) {
        t->u.t.cap = t->u.t.cap ? t->u.t.cap * 2 : 8;
        t->u.t.keys = xrealloc(t->u.t.keys, t->u.t.cap * sizeof(char *));
        t->u.t.keylens = xrealloc(t->u.t.keylens, t->u.t.cap * sizeof(size_t));
        t->u.t.vals = xrealloc(t->u.t.vals, t->u.t.cap * sizeof(toml_value *));
    }
    t->u.t.keys[t->u.t.n] = xstrndup(k, klen);
    t->u.t.keylens[t->u.t.n] = klen;
    t->u.t.vals[t->u.t.n] = v;
    t->u.t.n++;
}

static void array_add(toml_value *a, toml_value *v)
{
    if (a->u.a.n == a->u.a.cap) {
        a->u.a.cap = a->u.a.cap ? a->u.a.cap * 2 : 8;
        a->u.a.items = xrealloc(a->u.a.items, a->u.a.cap * sizeof(toml_value *));
    }
    a->u.a.items[a->u.a.n++] = v;
}

/* ---- lexing helpers ------------------------------------------------------ */

static int eof(const parser *p)
{
    return p->i >= p->n;
}

static char peek(const parser *p, size_t k)
{
    return p->i + k < p->n ? p->s[p->i + k] : '\0';
}

static void skip_ws(parser *p)
{
    while (!eof(p) && (p->s[p->i] == ' ' || p->s[p->i] == '\t'))
        p->i++;
}

/* At a newline (LF or CRLF)? Returns its length, 0 when not. */
static int at_newline(const parser *p)
{
    if (peek(p, 0) == '\n')
        return 1;
    if (peek(p, 0) == '\r' && peek(p, 1) == '\n')
        return 2;
    return 0;
}

static void take_newline(parser *p, int len)
{
    p->i += (size_t)len;
    p->line++;
    p->line_start = p->i;
}

static int is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* A comment from '#' up to the end of the line (not consumed). */
static void skip_comment(parser *p)
{
    if (peek(p, 0) != '#')
        return;
    p->i++;
    while (!eof(p) && !at_newline(p)) {
        if (is_control((unsigned char)p->s[p->i])) {
            fail(p, "control character 0x%02x in a comment", (unsigned char)p->s[p->i]);
            return;
        }
        p->i++;
    }
}

/* Whitespace, comments and newlines, as allowed inside arrays. */
static void skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        skip_comment(p);
        int nl = at_newline(p);
        if (!nl || p->failed)
            return;
        take_newline(p, nl);
    }
}

/* After a key/value pair or a header: only a comment, then a newline or EOF. */
static void end_of_line(parser *p)
{
    skip_ws(p);
    skip_comment(p);
    if (p->failed || eof(p))
        return;
    int nl = at_newline(p);
    if (!nl) {
        if (peek(p, 0) == '\r')
            fail(p, "carriage return not followed by a newline");
        else
            fail(p, "expected the end of the line, found '%c'", peek(p, 0));
        return;
    }
    take_newline(p, nl);
}

/* ---- strings ------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int escape(parser *p, buf *out)
{
    char c = peek(p, 1);
    p->i += 2;
    switch (c) {
    case 'b': buf_putc(out, '\b'); return 0;
    case 't': buf_putc(out, '\t'); return 0;
    case 'n': buf_putc(out, '\n'); return 0;
    case 'f': buf_putc(out, '\f'); return 0;
    case 'r': buf_putc(out, '\r'); return 0;
    case '"': buf_putc(out, '"'); return 0;
    case '\\': buf_putc(out, '\\'); return 0;
    case 'u':
    case 'U': {
        int digits = c == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int k = 0; k < digits; k++) {
            int h = hexval(peek(p, 0));
            if (h < 0) {
                fail(p, "\\%c needs %d hex digits", c, digits);
                return -1;
            }
            cp = cp * 16 + (uint32_t)h;
            p->i++;
        }
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            fail(p, "\\%c%0*X is not a Unicode scalar value", c, digits, cp);
            return -1;
        }
        buf_put_utf8(out, cp);
        return 0;
    }
    default:
        p->i -= 1;
        fail(p, "invalid escape \\%c", c ? c : '0');
        return -1;
    }
}

/* A basic or literal string, single- or multi-line; p is at the opening
 * quote. Returns 0 with the content in out. */
static int parse_string(parser *p, buf *out, int allow_multi)
{
    char q = peek(p, 0);
    int literal = q == '\'';
    int multi = peek(p, 1) == q && peek(p, 2) == q;
    if (multi && !allow_multi) {
        fail(p, "a multi-line string cannot be a key");
        return -1;
    }
    p->i += multi ? 3 : 1;
    if (multi) {
        int nl = at_newline(p);
        if (nl)
            take_newline(p, nl); /* a newline right after the opening is trimmed */
    }
    for (;;) {
        if (eof(p)) {
            fail(p, "unterminated string");
            return -1;
        }
        char c = p->s[p->i];
        if (c == q) {
            if (!multi) {
                p->i++;
                return 0;
            }
            if (peek(p, 1) == q && peek(p, 2) == q) {
                /* Up to two more quotes right before the closing ones belong
                 * to the content. */
                size_t extra = 0;
                while (extra < 2 && peek(p, 3 + extra) == q)
                    extra++;
                buf_append(out, p->s + p->i, extra);
                p->i += 3 + extra;
                return 0;
            }
            buf_putc(out, c);
            p->i++;
            continue;
        }
        int nl = at_newline(p);
        if (nl) {
            if (!multi) {
                fail(p, "newline in a single-line string");
                return -1;
            }
            buf_putc(out, '\n');
            take_newline(p, nl);
            continue;
        }
        if (c == '\\' && !literal) {
            if (multi) {
                /* A line-ending backslash trims the newline and following
                 * whitespace. */
                size_t j = p->i + 1;
                while (j < p->n && (p->s[j] == ' ' || p->s[j] == '\t'))
                    j++;
                if (j < p->n && (p->s[j] == '\n' || (p->s[j] == '\r' && j + 1 < p->n && p->s[j + 1] == '\n'))) {
                    p->i = j;
                    for (;;) {
                        skip_ws(p);
                        int k = at_newline(p);
                        if (!k)
                            break;
                        take_newline(p, k);
                    }
                    continue;
                }
            }
            if (escape(p, out) != 0)
                return -1;
            continue;
        }
        if (is_control((unsigned char)c)) {
            fail(p, "control character 0x%02x in a string", (unsigned char)c);
            return -1;
        }
        buf_putc(out, c);
        p->i++;
    }
}

/* ---- keys ---------------------------------------------------------------- */

static int is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

typedef struct keypath {
    char *part[MAX_KEY_PARTS];
    size_t len[MAX_KEY_PARTS];
    size_t n;
} keypath;

static void key_free(keypath *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->part[i]);
    k->n = 0;
}

static int parse_key(parser *p, keypath *k)
{
    k->n = 0;
    for (;;) {
        skip_ws(p);
        if (k->n == MAX_KEY_PARTS) {
            fail(p, "key has more than %d parts", MAX_KEY_PARTS);
            key_free(k);
            return -1;
        }
        char c = peek(p, 0);
        buf b = {0};
        if (c == '"' || c == '\'') {
            if (parse_string(p, &b, 0) != 0) {
                buf_free(&b);
                key_free(k);
                return -1;
            }
        } else if (is_bare(c)) {
            size_t s = p->i;
            while (!eof(p) && is_bare(p->s[p->i]))
                p->i++;
            buf_append(&b, p->s + s, p->i - s);
        } else {
            buf_free(&b);
            key_free(k);
            if (eof(p) || at_newline(p))
                fail(p, "expected a key");
            else
                fail(p, "invalid character '%c' in a key", c);
            return -1;
        }
        k->len[k->n] = b.len;
        k->part[k->n++] = buf_steal(&b);
        skip_ws(p);
        if (peek(p, 0) != '.')
            return 0;
        p->i++;
    }
}

static const char *key_str(const keypath *k, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k->n && used + 1 < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "." : "", k->part[i]);
    return out;
}

/* ---- numbers and dates ---------------------------------------------------- */

static int digits_ok(const char *s, size_t n, int (*isdig)(char))
{
    /* digits with single underscores between them */
    if (n == 0 || s[0] == '_' || s[n - 1] == '_')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '_') {
            if (s[i + 1] == '_')
                return 0;
        } else if (!isdig(s[i])) {
            return 0;
        }
    }
    return 1;
}

static int is_dec(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) { return hexval(c) >= 0; }
static int is_oct(char c) { return c >= '0' && c <= '7'; }
static int is_bin(char c) { return c == '0' || c == '1'; }

static char *strip_underscores(const char *s, size_t n)
{
    char *o = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '_')
            o[k++] = s[i];
    o[k] = '\0';
    return o;
}

static toml_value *parse_number(parser *p, const char *tok, size_t n)
{
    toml_value *v;
    const char *s = tok;
    size_t len = n;
    int sign = 0;
    if (len && (s[0] == '+' || s[0] == '-')) {
        sign = s[0] == '-' ? -1 : 1;
        s++, len--;
    }
    if (len == 3 && (memcmp(s, "inf", 3) == 0 || memcmp(s, "nan", 3) == 0)) {
        v = new_value(p, TOML_FLOAT);
        v->u.f = s[0] == 'i' ? (sign < 0 ? -INFINITY : INFINITY) : (sign < 0 ? -NAN : NAN);
        return v;
    }
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' || s[1] == 'b')) {
        int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
        int (*ok)(char) = base == 16 ? is_hex : base == 8 ? is_oct : is_bin;
        if (sign || !digits_ok(s + 2, len - 2, ok)) {
            fail(p, "invalid integer '%.*s'", (int)n, tok);
            return NULL;
        }
        char *d = strip_underscores(s + 2, len - 2);
        errno = 0;
        unsigned long long u = strtoull(d, NULL, base);
        free(d);
        if (errno == ERANGE || u > (unsigned long long)INT64_MAX) {
            fail(p, "integer '%.*s' does not fit in 64 bits", (int)n, tok);
            return NULL;
        }
        v = new_value(p, TOML_INTEGER);
        v->u.i = (int64_t)u;
        return v;
    }
    /* Decimal: integer part, then optional fraction and exponent. */
    size_t ip = 0;
    while (ip < len && (is_dec(s[ip]) || s[ip] == '_'))
        ip++;
    if (!digits_ok(s, ip, is_dec) || (ip > 1 && s[0] == '0')) {
        fail(p, "invalid number '%.*s'", (int)n, tok);
        return NULL;
    }
    size_t i = ip;
    int is_float = 0;
    if (i < len && s[i] == '.') {
        size_t f0 = ++i;
        while (i < len && (is_dec(s[i]) || s[i] == '_'))
            i++;
        if (!digits_ok(s + f0, i - f0, is_dec)) {
            fail(p, "invalid fraction in '%.*s'", (int)n, tok);
            return NULL;
        }
        is_float = 1;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < len && (is_dec(s[i]) || s[i] == '_'))
            i++;
        if (!digits_ok(s + e0, i - e0, is_dec)) {
            fail(p, "invalid exponent in '%.*s'", (int)n, tok);
            return NULL;
        }
        is_float = 1;
    }
    if (i != len) {
        fail(p, "invalid value '%.*s'", (int)n, tok);
        return NULL;
    }
    char *d = strip_underscores(tok, n);
    errno = 0;
    if (is_float) {
        v = new_value(p, TOML_FLOAT);
        v->u.f = strtod(d, NULL);
    } else {
        long long x = strtoll(d, NULL, 10);
        if (errno == ERANGE) {
            free(d);
            fail(p, "integer '%.*s' does not fit in 64 bits", (int)n, tok);
            return NULL;
        }
        v = new_value(p, TOML_INTEGER);
        v->u.i = (int64_t)x;
    }
    free(d);
    return v;
}

static int num2(const char *s)
{
    return is_dec(s[0]) && is_dec(s[1]) ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

/* YYYY-MM-DD at s (10 bytes available). */
static int valid_date(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!is_dec(s[i]))
            return 0;
    if (s[4] != '-' || s[7] != '-')
        return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = num2(s + 5), d = num2(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* HH:MM:SS[.frac] at s; returns its length or 0. */
static size_t valid_time(const char *s, size_t n)
{
    if (n < 8 || s[2] != ':' || s[5] != ':')
        return 0;
    int h = num2(s), m = num2(s + 3), sec = num2(s + 6);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return 0;
    size_t i = 8;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && is_dec(s[i]))
            i++;
        if (i == f)
            return 0;
    }
    return i;
}

/* A date, time or date-time token (already cut at the first character that
 * cannot belong to one). */
static toml_value *parse_datetime(parser *p, const char *tok, size_t n)
{
    toml_type t;
    size_t i;
    if (n >= 10 && tok[4] == '-' && valid_date(tok)) {
        if (n == 10) {
            t = TOML_DATE_LOCAL;
            i = 10;
        } else {
            if (tok[10] != 'T' && tok[10] != 't' && tok[10] != ' ')
                goto bad;
            size_t tl = valid_time(tok + 11, n - 11);
            if (!tl)
                goto bad;
            i = 11 + tl;
            t = TOML_DATETIME_LOCAL;
            if (i < n && (tok[i] == 'Z' || tok[i] == 'z')) {
                t = TOML_DATETIME;
                i++;
            } else if (i < n && (tok[i] == '+' || tok[i] == '-')) {
                if (n - i < 6 || tok[i + 3] != ':')
                    goto bad;
                int oh = num2(tok + i + 1), om = num2(tok + i + 4);
                if (oh < 0 || oh > 23 || om < 0 || om > 59)
                    goto bad;
                t = TOML_DATETIME;
                i += 6;
            }
        }
    } else {
        i = valid_time(tok, n);
        if (!i)
            goto bad;
        t = TOML_TIME_LOCAL;
    }
    if (i != n)
        goto bad;
    toml_value *v = new_value(p, t);
    v->u.s.s = xstrndup(tok, n);
    v->u.s.len = n;
    for (size_t k = 0; k < n; k++) {
        if (k == 10 && t != TOML_TIME_LOCAL && t != TOML_DATE_LOCAL)
            v->u.s.s[k] = 'T';
        else if (v->u.s.s[k] == 'z')
            v->u.s.s[k] = 'Z';
    }
    return v;
bad:
    fail(p, "invalid date or time '%.*s'", (int)n, tok);
    return NULL;
}

static int is_token_char(char c)
{
    return is_bare(c) || c == '.' || c == '+' || c == ':';
}

static toml_value *parse_scalar_token(parser *p)
{
    size_t s = p->i;
    while (!eof(p) && is_token_char(p->s[p->i]))
        p->i++;
    /* "1979-05-27 07:32:00": a date, a space, then a time. */
    if (p->i - s == 10 && peek(p, 0) == ' ' && is_dec(peek(p, 1)) && is_dec(peek(p, 2)) &&
        peek(p, 3) == ':' && valid_date(p->s + s)) {
        p->i++;
        while (!eof(p) && is_token_char(p->s[p->i]))
            p->i++;
    }
    const char *tok = p->s + s;
    size_t n = p->i - s;
    size_t save = p->i;
    p->i = s; /* report errors at the token's start */
    toml_value *v;
    if (n == 4 && memcmp(tok, "true", 4) == 0) {
        v = new_value(p, TOML_BOOL);
        v->u.b = 1;
    } else if (n == 5 && memcmp(tok, "false", 5) == 0) {
        v = new_value(p, TOML_BOOL);
        v->u.b = 0;
    } else if ((n >= 10 && tok[4] == '-' && is_dec(tok[0])) || (n >= 3 && tok[2] == ':')) {
        v = parse_datetime(p, tok, n);
    } else if (n > 0) {
        v = parse_number(p, tok, n);
    } else {
        if (eof(p) || at_newline(p))
            fail(p, "expected a value");
        else
            fail(p, "invalid value starting with '%c'", peek(p, 0));
        v = NULL;
    }
    if (v)
        p->i = save;
    return v;
}

/* ---- structure ------------------------------------------------------------ */

static toml_value *parse_value(parser *p, int in_inline);
static int parse_keyval(parser *p, toml_value *t, int in_inline);

static void freeze(toml_value *v)
{
    if (v->type == TOML_TABLE) {
        v->u.t.frozen = 1;
        for (size_t i = 0; i < v->u.t.n; i++)
            freeze(v->u.t.vals[i]);
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.a.n; i++)
            freeze(v->u.a.items[i]);
    }
}

static toml_value *parse_array(parser *p)
{
    toml_value *a = new_value(p, TOML_ARRAY);
    p->i++; /* [ */
    for (;;) {
        skip_ws_nl(p);
        if (p->failed)
            break;
        if (peek(p, 0) == ']') {
            p->i++;
            return a;
        }
        toml_value *v = parse_value(p, 0);
        if (!v)
            break;
        array_add(a, v);
        skip_ws_nl(p);
        if (p->failed)
            break;
        if (peek(p, 0) == ',') {
            p->i++;
            continue;
        }
        if (peek(p, 0) == ']') {
            p->i++;
            return a;
        }
        fail(p, eof(p) ? "unterminated array" : "expected ',' or ']' in an array");
        break;
    }
    toml_free(a);
    return NULL;
}

static toml_value *parse_inline_table(parser *p)
{
    toml_value *t = new_value(p, TOML_TABLE);
    p->i++; /* { */
    skip_ws(p);
    if (peek(p, 0) == '}') {
        p->i++;
        t->u.t.frozen = 1;
        return t;
    }
    for (;;) {
        if (parse_keyval(p, t, 1) != 0)
            break;
        skip_ws(p);
        if (peek(p, 0) == ',') {
            p->i++;
            skip_ws(p);
            if (peek(p, 0) == '}') {
                fail(p, "trailing comma in an inline table");
                break;
            }
            continue;
        }
        if (peek(p, 0) == '}') {
            p->i++;
            freeze(t);
            return t;
        }
        if (at_newline(p))
            fail(p, "newline in an inline table");
        else
            fail(p, eof(p) ? "unterminated inline table" : "expected ',' or '}' in an inline table");
        break;
    }
    toml_free(t);
    return NULL;
}

static toml_value *parse_value(parser *p, int in_inline)
{
    (void)in_inline;
    if (++p->depth > MAX_DEPTH) {
        fail(p, "nesting deeper than %d", MAX_DEPTH);
        return NULL;
    }
    toml_value *v = NULL;
    char c = peek(p, 0);
    if (c == '"' || c == '\'') {
        buf b = {0};
        toml_value *s = new_value(p, TOML_STRING);
        if (parse_string(p, &b, 1) == 0) {
            s->u.s.len = b.len;
            s->u.s.s = buf_steal(&b);
            v = s;
        } else {
            buf_free(&b);
            toml_free(s);
        }
    } else if (c == '[') {
        v = parse_array(p);
    } else if (c == '{') {
        v = parse_inline_table(p);
    } else {
        v = parse_scalar_token(p);
    }
    p->depth--;
    return v;
}

/* key = value, into table t (dotted keys create sub-tables). */
static int parse_keyval(parser *p, toml_value *t, int in_inline)
{
    keypath k;
    int line = p->line;
    size_t col = p->i - p->line_start + 1;
    if (parse_key(p, &k) != 0)
        return -1;
    char name[256];
    for (size_t j = 0; j + 1 < k.n; j++) {
        toml_value *child = table_find(t, k.part[j], k.len[j]);
        if (!child) {
            child = new_value(p, TOML_TABLE);
            child->line = line;
            child->col = (int)col;
            child->u.t.dotted = 1;
            table_add(t, k.part[j], k.len[j], child);
        } else if (child->type != TOML_TABLE || child->u.t.frozen || child->u.t.explicit_ ||
                   !child->u.t.dotted) {
            fail(p, "cannot add keys to '%s': it is already defined", key_str(&k, name, sizeof name));
            key_free(&k);
            return -1;
        }
        t = child;
    }
    const char *last = k.part[k.n - 1];
    size_t lastlen = k.len[k.n - 1];
    if (table_find(t, last, lastlen)) {
        fail(p, "duplicate key '%s'", key_str(&k, name, sizeof name));
        key_free(&k);
        return -1;
    }
    skip_ws(p);
    if (peek(p, 0) != '=') {
        fail(p, "expected '=' after the key '%s'", key_str(&k, name, sizeof name));
        key_free(&k);
        return -1;
    }
    p->i++;
    skip_ws(p);
    toml_value *v = parse_value(p, in_inline);
    if (!v) {
        key_free(&k);
        return -1;
    }
    v->line = line;
    v->col = (int)col;
    table_add(t, last, lastlen, v);
    key_free(&k);
    return 0;
}

/* [a.b.c] or [[a.b.c]]: returns the table that the following keys go to. */
static toml_value *parse_header(parser *p, toml_value *root)
{
    int aot = peek(p, 1) == '[';
    int line = p->line;
    p->i += aot ? 2 : 1;
    keypath k;
    if (parse_key(p, &k) != 0)
        return NULL;
    char name[256];
    key_str(&k, name, sizeof name);
    if (peek(p, 0) != ']' || (aot && peek(p, 1) != ']')) {
        fail(p, "expected '%s' to close the header", aot ? "]]" : "]");
        key_free(&k);
        return NULL;
    }
    p->i += aot ? 2 : 1;
    toml_value *t = root;
    for (size_t j = 0; j + 1 < k.n; j++) {
        toml_value *child = table_find(t, k.part[j], k.len[j]);
        if (!child) {
            child = new_value(p, TOML_TABLE);
            child->line = line;
            table_add(t, k.part[j], k.len[j], child);
        } else if (child->type == TOML_ARRAY && child->u.a.aot) {
            child = child->u.a.items[child->u.a.n - 1];
        } else if (child->type != TOML_TABLE || child->u.t.frozen) {
            fail(p, "cannot define [%s]: '%s' is already a value", name, k.part[j]);
            key_free(&k);
            return NULL;
        }
        t = child;
    }
    const char *last = k.part[k.n - 1];
    size_t lastlen = k.len[k.n - 1];
    toml_value *existing = table_find(t, last, lastlen);
    toml_value *result = NULL;
    if (aot) {
        toml_value *arr = existing;
        if (!arr) {
            arr = new_value(p, TOML_ARRAY);
            arr->line = line;
            arr->u.a.aot = 1;
            table_add(t, last, lastlen, arr);
        } else if (arr->type != TOML_ARRAY || !arr->u.a.aot) {
            fail(p, "cannot define [[%s]]: it is already defined as another type", name);
        }
        if (!p->failed) {
            result = new_value(p, TOML_TABLE);
            result->line = line;
            result->u.t.explicit_ = 1;
            array_add(arr, result);
        }
    } else if (!existing) {
        result = new_value(p, TOML_TABLE);
        result->line = line;
        result->u.t.explicit_ = 1;
        table_add(t, last, lastlen, result);
    } else if (existing->type == TOML_TABLE && !existing->u.t.explicit_ && !existing->u.t.dotted &&
               !existing->u.t.frozen) {
        existing->u.t.explicit_ = 1;
        result = existing;
    } else {
        fail(p, "table [%s] is defined more than once", name);
    }
    key_free(&k);
    return result;
}

toml_value *toml_parse(const char *data, size_t len, char *err, size_t errlen)
{
    parser p = {.s = data, .n = len, .line = 1, .err = err, .errlen = errlen};
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
        p.i = p.line_start = 3;
    if (!utf8_valid(data, len)) {
        snprintf(err, errlen, "line 1, column 1: the document is not valid UTF-8");
        return NULL;
    }
    toml_value *root = new_value(&p, TOML_TABLE);
    root->u.t.explicit_ = 1;
    toml_value *cur = root;
    while (!eof(&p) && !p.failed) {
        skip_ws(&p);
        skip_comment(&p);
        if (p.failed || eof(&p))
            break;
        int nl = at_newline(&p);
        if (nl) {
            take_newline(&p, nl);
            continue;
        }
        if (peek(&p, 0) == '[') {
            cur = parse_header(&p, root);
            if (!cur)
                break;
        } else if (parse_keyval(&p, cur, 0) != 0) {
            break;
        }
        end_of_line(&p);
    }
    if (p.failed) {
        toml_free(root);
        return NULL;
    }
    return root;
}

/* ---- accessors -------------------------------------------------------------- */

toml_type toml_type_of(const toml_value *v)
{
    return v->type;
}

const char *toml_type_name(toml_type t)
{
    static const char *names[] = {"table", "array", "string", "integer", "float", "bool",
                                  "datetime", "datetime-local", "date-local", "time-local"};
    return names[t];
}

int toml_line(const toml_value *v)
{
    return v->line;
}

int toml_column(const toml_value *v)
{
    return v->col;
}

size_t toml_table_size(const toml_value *t)
{
    return t && t->type == TOML_TABLE ? t->u.t.n : 0;
}

const char *toml_table_key(const toml_value *t, size_t i)
{
    return t->u.t.keys[i];
}

size_t toml_table_key_len(const toml_value *t, size_t i)
{
    return t->u.t.keylens[i];
}

const toml_value *toml_table_value(const toml_value *t, size_t i)
{
    return t->u.t.vals[i];
}

const toml_value *toml_get(const toml_value *t, const char *key)
{
    if (!t || t->type != TOML_TABLE)
        return NULL;
    return table_find(t, key, strlen(key));
}

size_t toml_array_size(const toml_value *a)
{
    return a && a->type == TOML_ARRAY ? a->u.a.n : 0;
}

const toml_value *toml_array_get(const toml_value *a, size_t i)
{
    return a->u.a.items[i];
}

const char *toml_string(const toml_value *v)
{
    return v->u.s.s;
}

size_t toml_string_len(const toml_value *v)
{
    return v->u.s.len;
}

int64_t toml_int(const toml_value *v)
{
    return v->u.i;
}

double toml_float(const toml_value *v)
{
    return v->u.f;
}

int toml_bool(const toml_value *v)
{
    return v->u.b;
}
