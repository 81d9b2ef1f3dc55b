/* dataset.c: Banking77 CSV loading with libcsv in strict mode. */
#include "dataset.h"

#include <csv.h>
#include <errno.h>
#include <pthread.h>
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

/* State shared with libcsv's callbacks while one file is parsed. */
struct parse_ctx {
    const char *name;
    csv_table *out;
    size_t cap;
    size_t record; /* 1-based record number, the header being record 1 */
    size_t field;  /* fields seen in the current record */
    char *fields[2];
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
    if (c->field < 2)
        c->fields[c->field] = xstrndup(data ? data : "", data ? len : 0);
    c->field++;
}

static void on_record(int term, void *arg)
{
    (void)term;
    struct parse_ctx *c = arg;
    c->record++;
    if (!c->failed) {
        if (c->field != 2) {
            fail(c, "expected 2 fields (text,category), got %zu", c->field);
        } else if (c->record == 1) {
            if (strcmp(c->fields[0], "text") != 0 || strcmp(c->fields[1], "category") != 0)
                fail(c, "header must be \"text,category\"");
        } else if (!c->fields[0][0] || !c->fields[1][0]) {
            fail(c, "empty %s", c->fields[0][0] ? "category" : "text");
        } else if (!utf8_valid(c->fields[0], strlen(c->fields[0])) ||
                   !utf8_valid(c->fields[1], strlen(c->fields[1]))) {
            fail(c, "invalid UTF-8");
        } else {
            if (c->out->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 1024;
                c->out->text = xrealloc(c->out->text, c->cap * sizeof(char *));
                c->out->category = xrealloc(c->out->category, c->cap * sizeof(char *));
            }
            c->out->text[c->out->n] = c->fields[0];
            c->out->category[c->out->n] = c->fields[1];
            c->out->n++;
            c->fields[0] = c->fields[1] = NULL;
        }
    }
    free(c->fields[0]);
    free(c->fields[1]);
    c->fields[0] = c->fields[1] = NULL;
    c->field = 0;
}

int csv_table_parse(const char *name, const char *data, size_t len, csv_table *out,
                    char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0) {
        snprintf(err, errlen, "%s: cannot initialise the CSV parser", name);
        return -1;
    }
    struct parse_ctx c = {.name = name, .out = out, .err = err, .errlen = errlen};
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
    free(c.fields[0]);
    free(c.fields[1]);
    if (!c.failed && c.record == 0) {
        snprintf(err, errlen, "%s: empty file (no header)", name);
        c.failed = 1;
    }
    if (c.failed) {
        csv_table_free(out);
        return -1;
    }
    return 0;
}

void csv_table_free(csv_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->text[i]);
        free(t->category[i]);
    }
    free(t->text);
    free(t->category);
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

static int read_file(const char *path, buf *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(out, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    return 0;
}

static int load_table(const char *dir, const char *file, csv_table *t, char *err, size_t errlen)
{
    char *path = xasprintf("%s/%s", dir, file);
    buf b = {0};
    int rc = read_file(path, &b, err, errlen);
    if (rc == 0)
        rc = csv_table_parse(path, b.data ? b.data : "", b.len, t, err, errlen);
    buf_free(&b);
    free(path);
    return rc;
}

/* test.csv parsed on a second thread while train.csv is parsed on the
 * caller's: most of the server's start-up is this parse. */
struct table_job {
    const char *dir, *file;
    csv_table t;
    char err[512];
    int rc;
};

static void *load_job(void *arg)
{
    struct table_job *j = arg;
    j->rc = load_table(j->dir, j->file, &j->t, j->err, sizeof j->err);
    return NULL;
}

dataset *dataset_load(const char *dir, int check_counts, char *err, size_t errlen)
{
    csv_table train;
    struct table_job job = {.dir = dir, .file = "test.csv"};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, load_job, &job) == 0;
    int rc = load_table(dir, "train.csv", &train, err, errlen);
    if (threaded)
        pthread_join(th, NULL);
    else
        load_job(&job);
    if (rc != 0) {
        csv_table_free(&job.t);
        return NULL;
    }
    if (job.rc != 0) {
        snprintf(err, errlen, "%s", job.err);
        csv_table_free(&train);
        return NULL;
    }
    csv_table test = job.t;
    if (check_counts && (train.n != DATASET_TRAIN_ROWS || test.n != DATASET_TEST_ROWS)) {
        snprintf(err, errlen,
                 "%s: unexpected row counts: train.csv has %zu rows (want %d), test.csv %zu "
                 "(want %d); re-run `make dataset`",
                 dir, train.n, DATASET_TRAIN_ROWS, test.n, DATASET_TEST_ROWS);
        csv_table_free(&train);
        csv_table_free(&test);
        return NULL;
    }
    return dataset_from_tables(&train, &test, err, errlen);
}

static void fill_split(dataset *ds, struct split *s, csv_table *t)
{
    s->n = t->n;
    s->text = t->text;
    s->label = xmalloc((t->n ? t->n : 1) * sizeof(int));
    for (size_t i = 0; i < t->n; i++) {
        /* grouped rows: most share the previous row's label */
        s->label[i] = i > 0 && strcmp(t->category[i], t->category[i - 1]) == 0
                          ? s->label[i - 1]
                          : find_label(ds, t->category[i]);
    }
    for (size_t i = 0; i < t->n; i++)
        free(t->category[i]);
    free(t->category);
    memset(t, 0, sizeof *t);
}

dataset *dataset_from_tables(csv_table *train, csv_table *test, char *err, size_t errlen)
{
    dataset *ds = xcalloc(1, sizeof *ds);
    /* Collect the distinct labels of train, then require test to match. */
    /* Distinct labels: rows come grouped by label, so comparing with the
     * previous row settles almost every one; at most 78 are ever kept. */
    size_t distinct = 0;
    for (size_t i = 0; i < train->n && distinct <= DATASET_NUM_LABELS; i++) {
        const char *c = train->category[i];
        if (i > 0 && strcmp(c, train->category[i - 1]) == 0)
            continue;
        size_t k = 0;
        while (k < distinct && strcmp(ds->labels[k], c) != 0)
            k++;
        if (k < distinct)
            continue;
        if (distinct == DATASET_NUM_LABELS) {
            distinct++;
            break;
        }
        ds->labels[distinct++] = xstrdup(c);
    }
    qsort(ds->labels, distinct < DATASET_NUM_LABELS ? distinct : DATASET_NUM_LABELS,
          sizeof(char *), label_cmp);
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
        unsigned char seen[DATASET_NUM_LABELS] = {0};
        for (size_t i = 0; i < test->n && ok; i++) {
            int id = find_label(ds, test->category[i]);
            if (id < 0) {
                snprintf(err, errlen, "test.csv: record %zu: label \"%.80s\" is not in train.csv",
                         i + 2, test->category[i]);
                ok = 0;
            } else {
                seen[id] = 1;
            }
        }
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
