/* merge.c: see merge.h. */
#include "merge.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define MAX_SENTENCES 256

size_t merge_sentences(const char *s, char **out, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != '\n' &&
               !((*e == '.' || *e == '!' || *e == '?') && (e[1] == '\0' || isspace((unsigned char)e[1]))))
            e++;
        size_t len = (size_t)(e - s) + (*e && *e != '\n');
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (len)
            out[n++] = xstrndup(s, len);
        s = *e ? e + 1 : e;
    }
    return n;
}

static int has(char *const *v, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], x) == 0)
            return 1;
    return 0;
}

char *merge_instructions(const char *ancestor, const char *a, const char *b, size_t max_chars)
{
    char *sa[MAX_SENTENCES], *sb[MAX_SENTENCES], *s0[MAX_SENTENCES];
    size_t na = merge_sentences(a, sa, MAX_SENTENCES), nb = merge_sentences(b, sb, MAX_SENTENCES);
    size_t n0 = merge_sentences(ancestor, s0, MAX_SENTENCES);
    buf out = {0};
    for (size_t i = 0; i < na; i++)
        buf_printf(&out, "%s%s", i ? " " : "", sa[i]);
    size_t added = 0;
    for (size_t i = 0; i < nb; i++)
        if (!has(sa, na, sb[i]) && !has(s0, n0, sb[i]) && !has(sb, i, sb[i])) {
            buf_printf(&out, "%s%s", out.len ? " " : "", sb[i]);
            added++;
        }
    for (size_t i = 0; i < na; i++)
        free(sa[i]);
    for (size_t i = 0; i < nb; i++)
        free(sb[i]);
    for (size_t i = 0; i < n0; i++)
        free(s0[i]);
    if (!added || out.len > max_chars) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}
