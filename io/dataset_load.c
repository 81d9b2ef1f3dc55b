/* dataset_load.c: reading the Banking77 CSVs from disk and parsing them on
 * two threads (lib/dataset.c parses, with no I/O). */
#include "dataset_load.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

static int read_file(const char *path, buf *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    /* Straight into a buffer of the file's size, no copy; the loop still
     * grows it for a file that is longer by now or not a regular file. On
     * success out->data is set, even for an empty file. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
        buf_reserve(out, (size_t)st.st_size);
    for (;;) {
        if (out->cap - out->len < 65536)
            buf_reserve(out, 65536);
        size_t room = out->cap - out->len - 1;
        size_t n = fread(out->data + out->len, 1, room, f);
        out->len += n;
        out->data[out->len] = '\0';
        if (n < room)
            break;
    }
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
        rc = csv_table_parse(path, b.data, b.len, t, err, errlen);
    buf_free(&b);
    free(path);
    return rc;
}

/* Most of the server's start-up is parsing the CSVs, so it runs on two
 * threads: the caller's parses the first part of train.csv; a second parses
 * the rest of it, cut at a record boundary, then test.csv. The cut evens
 * out the bytes each thread parses. */
struct table_job {
    const char *dir;
    const char *tail; /* train.csv from the cut on, "" when not cut */
    size_t tail_len;
    csv_table tail_rows, test;
    char tail_err[512], err[512];
    int tail_rc, rc;
};

static void *load_job(void *arg)
{
    struct table_job *j = arg;
    if (j->tail_len)
        j->tail_rc = csv_table_parse_tail("train.csv", j->tail, j->tail_len, &j->tail_rows, j->tail_err,
                                          sizeof j->tail_err);
    j->rc = load_table(j->dir, "test.csv", &j->test, j->err, sizeof j->err);
    return NULL;
}

struct dataset_loading {
    struct table_job job;
    char *path; /* DIR/train.csv */
    buf train;
    size_t cut; /* where the job's part starts; 0: the job parses only test.csv */
    int check_counts, threaded;
    pthread_t thread;
};

dataset_loading *dataset_load_start(const char *dir, int check_counts, char *err, size_t errlen)
{
    dataset_loading *ld = xcalloc(1, sizeof *ld);
    ld->job.dir = dir;
    ld->job.tail = "";
    ld->check_counts = check_counts;
    ld->path = xasprintf("%s/%s", dir, "train.csv");
    if (read_file(ld->path, &ld->train, err, errlen) != 0) {
        /* test.csv is not looked at */
        free(ld->path);
        free(ld);
        return NULL;
    }
    const char *data = ld->train.data;
    size_t len = ld->train.len;
    struct stat st;
    char *test_path = xasprintf("%s/test.csv", dir);
    size_t test_len = stat(test_path, &st) == 0 ? (size_t)st.st_size : 0;
    free(test_path);
    ld->cut = len > 65536 ? csv_record_boundary(data, len, (len + test_len) / 2) : 0;
    if (ld->cut) {
        ld->job.tail = data + ld->cut;
        ld->job.tail_len = len - ld->cut;
    }
    ld->threaded = pthread_create(&ld->thread, NULL, load_job, &ld->job) == 0;
    return ld;
}

/* Parses train.csv up to the cut, joins the job and puts the parts
 * together; 0 or -1 as csv_table_parse. */
static int finish_train(dataset_loading *ld, csv_table *train, char *err, size_t errlen)
{
    struct table_job *job = &ld->job;
    const char *data = ld->train.data;
    size_t len = ld->train.len;
    int rc = csv_table_parse(ld->path, data, ld->cut ? ld->cut : len, train, err, errlen);
    if (ld->threaded)
        pthread_join(ld->thread, NULL);
    else
        load_job(job);
    if (ld->cut && (rc != 0 || job->tail_rc != 0)) {
        /* The whole file again, for the message a sequential parse gives
         * (record numbers count from the file's start). */
        csv_table_free(train);
        csv_table_free(&job->tail_rows);
        rc = csv_table_parse(ld->path, data, len, train, err, errlen);
    } else if (ld->cut) {
        csv_table_append(train, &job->tail_rows);
    }
    return rc;
}

dataset *dataset_load_finish(dataset_loading *ld, char *err, size_t errlen)
{
    csv_table train;
    int rc = finish_train(ld, &train, err, errlen);
    csv_table test = ld->job.test;
    const char *dir = ld->job.dir;
    int check_counts = ld->check_counts, test_rc = ld->job.rc;
    if (rc == 0 && test_rc != 0)
        snprintf(err, errlen, "%s", ld->job.err);
    buf_free(&ld->train);
    free(ld->path);
    free(ld);
    if (rc != 0 || test_rc != 0) {
        csv_table_free(&train);
        csv_table_free(&test);
        return NULL;
    }
    if (check_counts && dataset_check_counts(dir, &train, &test, err, errlen) != 0) {
        csv_table_free(&train);
        csv_table_free(&test);
        return NULL;
    }
    return dataset_from_tables(&train, &test, err, errlen);
}

dataset *dataset_load(const char *dir, int check_counts, char *err, size_t errlen)
{
    dataset_loading *ld = dataset_load_start(dir, check_counts, err, errlen);
    return ld ? dataset_load_finish(ld, err, errlen) : NULL;
}
