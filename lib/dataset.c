/* dataset.c: Banking77 CSV parsing with libcsv in strict mode, and the
 * dataset built from the parsed tables. No I/O: io/dataset_load.c reads the
 * files. */
#include "dataset.h"

#include <csv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "util.h"

struct split {
    size_t n;
    char **text;
    int *label;
};

struct dataset {
    struct split split[2];
    size_t nlabels;
    char *labels[DATASET_NUM_LABELS];
    char *available_intents;
    char *intents_joined;
    char *available_intents_json; /* the same two, JSON-escaped */
    char *intents_joined_json;
};

/* A hash index over a table's names (open addressing; slot = index + 1). */
struct name_index {
    size_t *slots;
    size_t nslots;
};

static size_t name_hash(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* The id of category s in t->names, added (a copy) when new. */
static size_t intern_name(csv_table *t, struct name_index *ix, const char *s)
{
    if (2 * (t->nnames + 1) > ix->nslots) {
        size_t n = ix->nslots ? 2 * ix->nslots : 256;
        while (2 * (t->nnames + 1) > n)
            n *= 2;
        free(ix->slots);
        ix->slots = xcalloc(n, sizeof *ix->slots);
        ix->nslots = n;
        for (size_t k = 0; k < t->nnames; k++) {
            size_t h = name_hash(t->names[k]) & (n - 1);
            while (ix->slots[h])
                h = (h + 1) & (n - 1);
            ix->slots[h] = k + 1;
        }
    }
    size_t h = name_hash(s) & (ix->nslots - 1);
    for (; ix->slots[h]; h = (h + 1) & (ix->nslots - 1))
        if (strcmp(t->names[ix->slots[h] - 1], s) == 0)
            return ix->slots[h] - 1;
    if ((t->nnames & (t->nnames - 1)) == 0) /* 0, 1, 2, 4, ...: grow at powers of two */
        t->names = xrealloc(t->names, (t->nnames ? 2 * t->nnames : 1) * sizeof(char *));
    t->names[t->nnames] = xstrdup(s);
    ix->slots[h] = t->nnames + 1;
    return t->nnames++;
}

/* State shared with libcsv's callbacks while one file is parsed. */
struct parse_ctx {
    const char *name;
    csv_table *out;
    struct name_index names;
    size_t cap;
    size_t record; /* 1-based record number, the header being record 1 */
    size_t field;  /* fields seen in the current record */
    char *text;    /* the record's first field (a copy) */
    buf category;  /* its second */
    char *err;
    size_t errlen;
    int failed;
};

static void fail(struct parse_ctx *c, const char *fmt, ...) B77_PRINTF(2, 3);
static void fail(struct parse_ctx *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "%s: record %zu: %s", c->name, c->record, what);
}

static void on_field(void *data, size_t len, void *arg)
{
    struct parse_ctx *c = arg;
    if (c->failed)
        return;
    if (c->field == 0) {
        c->text = xstrndup(data ? data : "", data ? len : 0);
    } else if (c->field == 1) {
        buf_reset(&c->category);
        buf_append(&c->category, data ? data : "", data ? len : 0);
    }
    c->field++;
}

/* Checks the record just read and keeps it: the text as is, the category
 * interned. */
static void add_record(struct parse_ctx *c)
{
    const char *text = c->text, *category = c->category.data;
    if (c->field != 2) {
        fail(c, "expected 2 fields (text,category), got %zu", c->field);
    } else if (c->record == 1) {
        if (strcmp(text, "text") != 0 || strcmp(category, "category") != 0)
            fail(c, "header must be \"text,category\"");
    } else if (!text[0] || !category[0]) {
        fail(c, "empty %s", text[0] ? "category" : "text");
    } else if (!utf8_valid(text, strlen(text)) || !utf8_valid(category, strlen(category))) {
        fail(c, "invalid UTF-8");
    } else {
        csv_table *t = c->out;
        if (t->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 1024;
            t->text = xrealloc(t->text, c->cap * sizeof(char *));
            t->category_id = xrealloc(t->category_id, c->cap * sizeof(size_t));
        }
        t->category_id[t->n] = intern_name(t, &c->names, category);
        t->text[t->n++] = c->text;
        c->text = NULL;
    }
}

static void on_record(int term, void *arg)
{
    (void)term;
    struct parse_ctx *c = arg;
    c->record++;
    if (!c->failed)
        add_record(c);
    free(c->text);
    c->text = NULL;
    c->field = 0;
}

/* Parses data as a whole file (header first), or when !header as a run of
 * records from inside one, cut at a record boundary. */
static int parse_records(const char *name, const char *data, size_t len, int header, csv_table *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0) {
        snprintf(err, errlen, "%s: cannot initialise the CSV parser", name);
        return -1;
    }
    struct parse_ctx c = {
        .name = name, .out = out, .err = err, .errlen = errlen, .record = header ? 0 : 1};
    size_t used = csv_parse(&p, data, len, on_field, on_record, &c);
    if (used != len && !c.failed) {
        c.record++; /* the error is inside the record being read */
        size_t line = 1;
        for (size_t i = 0; i < used && i < len; i++)
            line += data[i] == '\n';
        char detail[160];
        snprintf(detail, sizeof detail, "%s (near line %zu)", csv_strerror(csv_error(&p)), line);
        fail(&c, "malformed CSV: %s", detail);
    }
    if (!c.failed && csv_fini(&p, on_field, on_record, &c) != 0) {
        c.record++;
        fail(&c, "malformed CSV at end of file: %s", csv_strerror(csv_error(&p)));
    }
    csv_free(&p);
    free(c.text);
    buf_free(&c.category);
    free(c.names.slots);
    if (!c.failed && header && c.record == 0) {
        snprintf(err, errlen, "%s: empty file (no header)", name);
        c.failed = 1;
    }
    if (c.failed) {
        csv_table_free(out);
        return -1;
    }
    return 0;
}

int csv_table_parse(const char *name, const char *data, size_t len, csv_table *out, char *err,
                    size_t errlen)
{
    return parse_records(name, data, len, 1, out, err, errlen);
}

int csv_table_parse_tail(const char *name, const char *data, size_t len, csv_table *out, char *err,
                         size_t errlen)
{
    return parse_records(name, data, len, 0, out, err, errlen);
}

void csv_table_free(csv_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->text[i]);
    for (size_t k = 0; k < t->nnames; k++)
        free(t->names[k]);
    free(t->text);
    free(t->category_id);
    free(t->names);
    memset(t, 0, sizeof *t);
}

static int label_cmp(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int d = ascii_casecmp(x, y);
    return d ? d : strcmp(x, y);
}

static int find_label(const dataset *ds, const char *name)
{
    size_t lo = 0, hi = ds->nlabels;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = label_cmp(&name, &ds->labels[mid]);
        if (d == 0)
            return (int)mid;
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

size_t csv_record_boundary(const char *d, size_t len, size_t from)
{
    size_t quotes = 0;
    for (const char *p = d, *end = d + from; (p = memchr(p, '"', (size_t)(end - p))); p++)
        quotes++;
    for (size_t i = from; i < len; i++) {
        if (d[i] == '"')
            quotes++;
        else if (d[i] == '\n' && quotes % 2 == 0)
            return i + 1 < len ? i + 1 : 0;
    }
    return 0;
}

void csv_table_append(csv_table *dst, csv_table *src)
{
    size_t n = dst->n + src->n + 1;
    dst->text = xrealloc(dst->text, n * sizeof(char *));
    dst->category_id = xrealloc(dst->category_id, n * sizeof(size_t));
    struct name_index ix = {0};
    size_t *id = xmalloc((src->nnames + 1) * sizeof(size_t));
    for (size_t k = 0; k < src->nnames; k++)
        id[k] = intern_name(dst, &ix, src->names[k]);
    for (size_t i = 0; i < src->n; i++, dst->n++) {
        dst->text[dst->n] = src->text[i];
        dst->category_id[dst->n] = id[src->category_id[i]];
    }
    free(id);
    free(ix.slots);
    src->n = 0; /* the texts moved */
    csv_table_free(src);
}

int dataset_check_counts(const char *dir, const csv_table *train, const csv_table *test, char *err,
                         size_t errlen)
{
    if (train->n == DATASET_TRAIN_ROWS && test->n == DATASET_TEST_ROWS)
        return 0;
    snprintf(err, errlen,
             "%s: unexpected row counts: train.csv has %zu rows (want %d), test.csv %zu "
             "(want %d); re-run `make dataset`",
             dir, train->n, DATASET_TRAIN_ROWS, test->n, DATASET_TEST_ROWS);
    return -1;
}

/* The label id of each of t's names (-1: not a label). */
static int *name_labels(const dataset *ds, const csv_table *t)
{
    int *id = xmalloc((t->nnames + 1) * sizeof(int));
    for (size_t k = 0; k < t->nnames; k++)
        id[k] = find_label(ds, t->names[k]);
    return id;
}

static void fill_split(dataset *ds, struct split *s, csv_table *t)
{
    int *id = name_labels(ds, t);
    s->n = t->n;
    s->text = t->text;
    s->label = xmalloc((t->n ? t->n : 1) * sizeof(int));
    for (size_t i = 0; i < t->n; i++)
        s->label[i] = id[t->category_id[i]];
    free(id);
    t->text = NULL; /* the split has them */
    t->n = 0;
    csv_table_free(t);
}

dataset *dataset_from_tables(csv_table *train, csv_table *test, char *err, size_t errlen)
{
    dataset *ds = xcalloc(1, sizeof *ds);
    /* The distinct labels of train (its names), then test must match. */
    size_t distinct = train->nnames;
    for (size_t k = 0; k < distinct && k < DATASET_NUM_LABELS; k++)
        ds->labels[k] = xstrdup(train->names[k]);
    qsort(ds->labels, distinct < DATASET_NUM_LABELS ? distinct : DATASET_NUM_LABELS, sizeof(char *),
          label_cmp);
    int ok = 1;
    if (distinct != DATASET_NUM_LABELS) {
        snprintf(err, errlen, "train.csv: expected %d distinct labels, found %s%zu",
                 DATASET_NUM_LABELS, distinct > DATASET_NUM_LABELS ? "more than " : "",
                 distinct > DATASET_NUM_LABELS ? (size_t)DATASET_NUM_LABELS : distinct);
        ok = 0;
        if (distinct > DATASET_NUM_LABELS)
            distinct = DATASET_NUM_LABELS;
    }
    ds->nlabels = distinct;
    if (ok) {
        int *id = name_labels(ds, test);
        unsigned char seen[DATASET_NUM_LABELS] = {0};
        for (size_t i = 0; i < test->n && ok; i++) {
            int k = id[test->category_id[i]];
            if (k < 0) {
                snprintf(err, errlen, "test.csv: record %zu: label \"%.80s\" is not in train.csv",
                         i + 2, csv_table_category(test, i));
                ok = 0;
            } else {
                seen[k] = 1;
            }
        }
        free(id);
        for (size_t k = 0; k < distinct && ok; k++)
            if (!seen[k]) {
                snprintf(err, errlen, "test.csv: label \"%s\" never appears", ds->labels[k]);
                ok = 0;
            }
    }
    fill_split(ds, &ds->split[0], train);
    fill_split(ds, &ds->split[1], test);
    if (!ok) {
        dataset_free(ds);
        return NULL;
    }
    buf avail = {0}, joined = {0};
    for (size_t k = 0; k < ds->nlabels; k++) {
        buf_printf(&avail, "%s%zu. %s", k ? "\n" : "", k + 1, ds->labels[k]);
        buf_printf(&joined, "%s%s", k ? ", " : "", ds->labels[k]);
    }
    ds->available_intents = buf_steal(&avail);
    ds->intents_joined = buf_steal(&joined);
    /* labels are checked UTF-8, so escaping cannot fail */
    jw_escape(&avail, ds->available_intents, strlen(ds->available_intents));
    jw_escape(&joined, ds->intents_joined, strlen(ds->intents_joined));
    ds->available_intents_json = buf_steal(&avail);
    ds->intents_joined_json = buf_steal(&joined);
    return ds;
}

void dataset_free(dataset *ds)
{
    if (!ds)
        return;
    for (int s = 0; s < 2; s++) {
        for (size_t i = 0; i < ds->split[s].n; i++)
            free(ds->split[s].text[i]);
        free(ds->split[s].text);
        free(ds->split[s].label);
    }
    for (size_t k = 0; k < ds->nlabels; k++)
        free(ds->labels[k]);
    free(ds->available_intents);
    free(ds->intents_joined);
    free(ds->available_intents_json);
    free(ds->intents_joined_json);
    free(ds);
}

int dataset_split_id(const char *name)
{
    if (strcmp(name, "train") == 0)
        return 0;
    if (strcmp(name, "test") == 0)
        return 1;
    return -1;
}

const char *dataset_split_name(int split)
{
    return split == 0 ? "train" : "test";
}

size_t dataset_size(const dataset *ds, int split)
{
    return ds->split[split].n;
}

const char *dataset_text(const dataset *ds, int split, size_t row)
{
    return ds->split[split].text[row];
}

int dataset_label(const dataset *ds, int split, size_t row)
{
    return ds->split[split].label[row];
}

size_t dataset_num_labels(const dataset *ds)
{
    return ds->nlabels;
}

const char *dataset_label_name(const dataset *ds, int label)
{
    return ds->labels[label];
}

extract_labels dataset_extract_labels(const dataset *ds)
{
    return (extract_labels){(const char *const *)ds->labels, ds->nlabels};
}

const char *dataset_available_intents(const dataset *ds)
{
    return ds->available_intents;
}

const char *dataset_intents_joined(const dataset *ds)
{
    return ds->intents_joined;
}

const char *dataset_available_intents_json(const dataset *ds)
{
    return ds->available_intents_json;
}

const char *dataset_intents_joined_json(const dataset *ds)
{
    return ds->intents_joined_json;
}

size_t dataset_seed_row(int64_t seed, size_t n)
{
    int64_t m = (int64_t)n;
    int64_t r = seed % m; /* never overflows: m > 0 */
    return (size_t)(r < 0 ? r + m : r);
}
