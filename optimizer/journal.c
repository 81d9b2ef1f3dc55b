/* journal.c: see journal.h. */
#include "journal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static journal_entry *slot(journal *j, uint64_t key)
{
    size_t i = (size_t)(key % j->cap);
    while (j->tab[i].used && j->tab[i].key != key)
        i = (i + 1) % j->cap;
    return &j->tab[i];
}

static void grow(journal *j)
{
    size_t old = j->cap;
    journal_entry *prev = j->tab;
    j->cap = old ? old * 2 : 1024;
    j->tab = xcalloc(j->cap, sizeof *j->tab);
    for (size_t i = 0; i < old; i++)
        if (prev[i].used)
            *slot(j, prev[i].key) = prev[i];
    free(prev);
}

journal_entry *journal_find(journal *j, uint64_t key)
{
    if (!j->cap)
        return NULL;
    journal_entry *e = slot(j, key);
    return e->used ? e : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static journal_entry *store(journal *j, const journal_entry *e)
{
    if ((j->n + 1) * 2 >= j->cap)
        grow(j);
    journal_entry *s = slot(j, e->key);
    if (s->used)
        return s;
    *s = *e;
    s->used = 1;
    s->seen = 0;
    s->text = dup_or_null(e->text);
    s->query = dup_or_null(e->query);
    s->label = dup_or_null(e->label);
    s->predicted = dup_or_null(e->predicted);
    j->n++;
    return s;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

journal_entry *journal_add(journal *j, const journal_entry *e)
{
    journal_entry *known = journal_find(j, e->key);
    if (known)
        return known;
    journal_entry *s = store(j, e);
    if (j->log) {
        char k[17];
        snprintf(k, sizeof k, "%016llx", (unsigned long long)e->key);
        json_t *o = json_pack("{s:s,s:f,s:I,s:I}", "key", k, "reward", e->reward, "prompt_tokens",
                              (json_int_t)e->prompt_tokens, "completion_tokens",
                              (json_int_t)e->completion_tokens);
        set_str(o, "text", e->text);
        set_str(o, "query", e->query);
        set_str(o, "label", e->label);
        set_str(o, "predicted", e->predicted);
        char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
        fprintf(j->log, "%s\n", line);
        fflush(j->log);
        free(line);
        json_decref(o);
    }
    return s;
}

static void load(journal *j, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)n, 0, NULL); /* a torn last line is skipped */
        const char *k = json_string_value(json_object_get(o, "key"));
        if (k) {
            journal_entry e = {0};
            e.key = strtoull(k, NULL, 16);
            e.reward = json_number_value(json_object_get(o, "reward"));
            e.prompt_tokens = (long)json_integer_value(json_object_get(o, "prompt_tokens"));
            e.completion_tokens = (long)json_integer_value(json_object_get(o, "completion_tokens"));
            e.text = (char *)json_string_value(json_object_get(o, "text"));
            e.query = (char *)json_string_value(json_object_get(o, "query"));
            e.label = (char *)json_string_value(json_object_get(o, "label"));
            e.predicted = (char *)json_string_value(json_object_get(o, "predicted"));
            store(j, &e);
            j->loaded++;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
}

int journal_open(journal *j, const char *path, int resume)
{
    memset(j, 0, sizeof *j);
    if (resume)
        load(j, path);
    j->log = fopen(path, resume ? "a" : "w");
    return j->log ? 0 : -1;
}

void journal_close(journal *j)
{
    for (size_t i = 0; i < j->cap; i++)
        if (j->tab[i].used) {
            free(j->tab[i].text);
            free(j->tab[i].query);
            free(j->tab[i].label);
            free(j->tab[i].predicted);
        }
    free(j->tab);
    if (j->log)
        fclose(j->log);
    memset(j, 0, sizeof *j);
}
