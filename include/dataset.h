/* dataset.h: the Banking77 splits in memory, loaded once at start-up and
 * read-only afterwards (so any thread may read them without locks).
 *
 * Label ids follow the Hugging Face ClassLabel order: the label names sorted
 * alphabetically ignoring case (0 activate_my_card ... 51
 * Refund_not_showing_up, 52 request_refund ...). */
#ifndef B77_DATASET_H
#define B77_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "extract.h"

#define DATASET_NUM_LABELS 77
#define DATASET_TRAIN_ROWS 10003
#define DATASET_TEST_ROWS 3080

/* One parsed CSV of text,category rows. Each row owns its text; rows share
 * their category: row i's is names[category_id[i]], and names holds each
 * distinct category once, in order of first appearance. */
typedef struct csv_table {
    size_t n;
    char **text;
    size_t *category_id;
    char **names;
    size_t nnames;
} csv_table;

static inline const char *csv_table_category(const csv_table *t, size_t i)
{
    return t->names[t->category_id[i]];
}

/* Parses a Banking77 CSV held in memory (header "text,category", RFC 4180,
 * libcsv strict mode, valid UTF-8, two non-empty fields per record).
 * name is only used in messages. On success fills *out and returns 0; on
 * failure writes "NAME: record R: what" into err and returns -1 (out is left
 * empty). Free with csv_table_free. */
int csv_table_parse(const char *name, const char *data, size_t len, csv_table *out, char *err,
                    size_t errlen);
void csv_table_free(csv_table *t);
/* The same for the records of a file from a record boundary on: no header,
 * records numbered as if the header came just before. */
int csv_table_parse_tail(const char *name, const char *data, size_t len, csv_table *out, char *err,
                         size_t errlen);
/* Moves the rows of src to the end of dst, its categories interned in dst's
 * names; src is left empty. */
void csv_table_append(csv_table *dst, csv_table *src);
/* The offset just past the first line end at or after `from` that is outside
 * quotes (an even number of '"' before it: RFC 4180 escapes a quote by
 * doubling it), so that a record starts there; 0 when there is none or it
 * is the end of the data. Where a file can be cut for parsing in parts. */
size_t csv_record_boundary(const char *data, size_t len, size_t from);

typedef struct dataset dataset;

/* Builds a dataset from already parsed tables (takes ownership of both, even
 * on failure): 77 labels, the same label set in both splits. Used by
 * dataset_load (io/dataset_load.h) and by tests. */
dataset *dataset_from_tables(csv_table *train, csv_table *test, char *err, size_t errlen);
void dataset_free(dataset *ds);
/* 0 when the tables have the published row counts, else -1 with a message
 * naming dir (where they were read). */
int dataset_check_counts(const char *dir, const csv_table *train, const csv_table *test, char *err,
                         size_t errlen);

/* Split names are "train" (id 0) and "test" (id 1). -1 when unknown. */
int dataset_split_id(const char *name);
const char *dataset_split_name(int split);
size_t dataset_size(const dataset *ds, int split);
const char *dataset_text(const dataset *ds, int split, size_t row);
int dataset_label(const dataset *ds, int split, size_t row);

size_t dataset_num_labels(const dataset *ds);
const char *dataset_label_name(const dataset *ds, int label);
/* The label names by id (dataset_num_labels of them), for extract.h. */
extract_labels dataset_extract_labels(const dataset *ds);
/* "1. activate_my_card\n2. age_limit\n...": the {available_intents} text. */
const char *dataset_available_intents(const dataset *ds);
/* "activate_my_card, age_limit, ...": the {intents} text. */
const char *dataset_intents_joined(const dataset *ds);
/* The same two texts JSON-escaped (no quotes), for writing prompts as JSON. */
const char *dataset_available_intents_json(const dataset *ds);
const char *dataset_intents_joined_json(const dataset *ds);

/* The row a seed selects in a split of n rows: Python's seed % n (negative
 * seeds wrap). n must be > 0. */
size_t dataset_seed_row(int64_t seed, size_t n);

#endif
