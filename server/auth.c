/* auth.c: see auth.h. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct auth {
    char **keys;
    size_t n;
};

static void add_key(auth *a, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!n)
        return;
    a->keys = xrealloc(a->keys, (a->n + 1) * sizeof(char *));
    a->keys[a->n++] = xstrndup(s, n);
}

auth *auth_new(const char *primary, const char *dev, const char *aliases)
{
    auth *a = xcalloc(1, sizeof *a);
    if (primary && *primary)
        add_key(a, primary, strlen(primary));
    else if (dev && *dev)
        add_key(a, dev, strlen(dev));
    for (const char *p = aliases; p && *p;) {
        size_t n = strcspn(p, ",");
        add_key(a, p, n);
        p += n + (p[n] == ',');
    }
    return a;
}

auth *auth_from_env(void)
{
    return auth_new(getenv("ENVIRONMENT_API_KEY"), getenv("DEV_ENVIRONMENT_API_KEY"),
                    getenv("ENVIRONMENT_API_KEY_ALIASES"));
}

void auth_free(auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        memset(a->keys[i], 0, strlen(a->keys[i]));
        free(a->keys[i]);
    }
    free(a->keys);
    free(a);
}

int auth_configured(const auth *a)
{
    return a->n > 0;
}

/* Checks every allowed key, without stopping early, so the time taken does
 * not depend on which key (if any) matched. */
static const char *match(const auth *a, const char *cand, size_t n)
{
    while (n && (*cand == ' ' || *cand == '\t'))
        cand++, n--;
    while (n && (cand[n - 1] == ' ' || cand[n - 1] == '\t'))
        n--;
    const char *found = NULL;
    for (size_t i = 0; i < a->n; i++) {
        int eq = ct_equal(cand, n, a->keys[i], strlen(a->keys[i]));
        if (eq && n)
            found = a->keys[i];
    }
    return found;
}

const char *auth_check_header(const auth *a, const char *name, const char *value)
{
    if (!name || !value)
        return NULL;
    if (ascii_casecmp(name, "X-API-Key") == 0)
        return match(a, value, strlen(value));
    if (ascii_casecmp(name, "X-API-Keys") == 0) {
        const char *found = NULL;
        for (const char *p = value; *p;) {
            size_t n = strcspn(p, ",");
            const char *m = match(a, p, n);
            if (m && !found)
                found = m;
            p += n + (p[n] == ',');
        }
        return found;
    }
    if (ascii_casecmp(name, "Authorization") == 0) {
        const char *p = value;
        while (*p == ' ')
            p++;
        if (ascii_ncasecmp(p, "bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
            return NULL;
        p += 7;
        return match(a, p, strlen(p));
    }
    return NULL;
}
