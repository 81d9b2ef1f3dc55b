/* Unit tests: CSV loading, label order, seed mapping. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "dataset_load.h"
#include "test.h"
#include "util.h"

static int parse(const char *csv, csv_table *t, char *err)
{
    return csv_table_parse("t.csv", csv, strlen(csv), t, err, 256);
}

TEST(csv_parses_quotes_crlf_and_newlines)
{
    csv_table t;
    char err[256];
    const char *csv =
        "text,category\r\nplain,a\r\n\"with, comma\",b\r\n\"multi\nline \"\"q\"\"\",c\r\n";
    CHECK(parse(csv, &t, err) == 0);
    CHECK(t.n == 3);
    if (t.n == 3) {
        CHECK_STR(t.text[1], "with, comma");
        CHECK_STR(t.text[2], "multi\nline \"q\"");
        CHECK_STR(csv_table_category(&t, 2), "c");
    }
    csv_table_free(&t);
    /* no final newline is fine */
    CHECK(parse("text,category\nx,y", &t, err) == 0 && t.n == 1);
    csv_table_free(&t);
}

TEST(csv_rejects_broken_files_naming_the_record)
{
    csv_table t;
    char err[256];
    CHECK(parse("text,category\r\nok,a\r\n\"unterminated,b\r\n", &t, err) != 0);
    CHECK(strstr(err, "t.csv") != NULL);
    CHECK(parse("text,category\r\nok,a\r\none,two,three\r\n", &t, err) != 0);
    CHECK(strstr(err, "record 3") != NULL);
    CHECK(strstr(err, "got 3") != NULL);
    CHECK(parse("words,label\r\nx,y\r\n", &t, err) != 0);
    CHECK(strstr(err, "header") != NULL);
    CHECK(parse("text,category\r\nbad\"quote,a\r\n", &t, err) != 0);
    CHECK(parse("text,category\r\n\xff\xfe,a\r\n", &t, err) != 0);
    CHECK(strstr(err, "UTF-8") != NULL);
    CHECK(parse("text,category\r\n,a\r\n", &t, err) != 0);
    CHECK(strstr(err, "empty text") != NULL);
    CHECK(parse("", &t, err) != 0);
    CHECK(t.n == 0 && t.text == NULL);
}

TEST(utf8_validation)
{
    CHECK(utf8_valid("abc", 3));
    CHECK(utf8_valid("\xc2\xa3", 2));                                       /* £ */
    CHECK(utf8_valid("\xe2\x82\xac", 3));                                   /* € */
    CHECK(!utf8_valid("\xe2\x82", 2));                                      /* cut mid-character */
    CHECK(!utf8_valid("\xc0\xaf", 2));                                      /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));                                  /* surrogate */
    CHECK(utf8_valid("plain ascii text, \xe2\x82\xac and more ascii", 36)); /* the 8-byte scan */
    CHECK(!utf8_valid("plain ascii text, \xe2\x82 and", 24));
}

TEST(seed_row_is_python_modulo)
{
    CHECK(dataset_seed_row(0, 3080) == 0);
    CHECK(dataset_seed_row(3079, 3080) == 3079);
    CHECK(dataset_seed_row(3080, 3080) == 0);
    CHECK(dataset_seed_row(-1, 3080) == 3079);
    CHECK(dataset_seed_row(-3081, 3080) == 3079);
    CHECK(dataset_seed_row(INT64_MAX, 3080) == (size_t)(INT64_MAX % 3080));
    /* INT64_MIN % 3080 in Python: */
    CHECK(dataset_seed_row(INT64_MIN, 3080) == (size_t)(3080 + (INT64_MIN % 3080)));
}

TEST(real_dataset_loads_with_hf_label_order)
{
    char err[512];
    dataset *ds = dataset_load(test_data_dir(), 1, err, sizeof err);
    CHECK(ds != NULL);
    if (!ds) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(dataset_size(ds, dataset_split_id("train")) == 10003);
    CHECK(dataset_size(ds, dataset_split_id("test")) == 3080);
    CHECK(dataset_num_labels(ds) == 77);
    CHECK_STR(dataset_label_name(ds, 0), "activate_my_card");
    CHECK_STR(dataset_label_name(ds, 11), "card_arrival");
    CHECK_STR(dataset_label_name(ds, 51), "Refund_not_showing_up");
    CHECK_STR(dataset_label_name(ds, 52), "request_refund");
    CHECK_STR(dataset_label_name(ds, 53), "reverted_card_payment?");
    CHECK_STR(dataset_label_name(ds, 76), "wrong_exchange_rate_for_cash_withdrawal");
    /* row order is file order */
    CHECK_STR(dataset_text(ds, 1, 0), "How do I locate my card?");
    CHECK_STR(dataset_label_name(ds, dataset_label(ds, 1, 0)), "card_arrival");
    CHECK_STR(dataset_text(ds, 0, 0), "I am still waiting on my card?");
    const char *avail = dataset_available_intents(ds);
    CHECK(strncmp(avail, "1. activate_my_card\n2. age_limit\n", 33) == 0);
    CHECK(strstr(avail, "\n77. wrong_exchange_rate_for_cash_withdrawal") != NULL);
    CHECK(strncmp(dataset_intents_joined(ds), "activate_my_card, age_limit, ", 29) == 0);
    CHECK(dataset_split_id("validation") == -1);
    dataset_free(ds);
}

TEST(dataset_rejects_missing_files_and_counts)
{
    char err[512];
    CHECK(dataset_load("/nonexistent-dir", 1, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent-dir/train.csv") != NULL);
    /* A 2-label table is refused: 77 labels are required. */
    csv_table tr, te;
    const char *csv = "text,category\na,x\nb,y\n";
    CHECK(parse(csv, &tr, err) == 0);
    CHECK(parse(csv, &te, err) == 0);
    CHECK(dataset_from_tables(&tr, &te, err, sizeof err) == NULL);
    CHECK(strstr(err, "77") != NULL);
}

TEST(record_boundary_skips_quoted_line_ends)
{
    const char *d = "a,b\n\"x\ny\",c\n\"\"\"q\"\"\nz\",d\ne,f\n";
    size_t n = strlen(d);
    CHECK(csv_record_boundary(d, n, 0) == 4);            /* after "a,b\n" */
    CHECK(csv_record_boundary(d, n, 4) == 12);           /* the '\n' inside "x\ny" is skipped */
    CHECK(csv_record_boundary(d, n, 13) == 24);          /* doubled quotes keep the count even */
    CHECK(csv_record_boundary(d, n, 24) == 0);           /* the last line end is the end */
    CHECK(csv_record_boundary("a,\"b\nc\"", 7, 0) == 0); /* no line end outside quotes */
}

static char *write_tmp(const char *dir, const char *name, const char *data)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
    return path;
}

/* A train.csv big enough to be parsed in two parts, where any cut lands
 * among multi-line quoted fields with doubled quotes; every label is in
 * both parts. */
static char *big_train(void)
{
    buf b = {0};
    buf_puts(&b, "text,category\r\n");
    for (int i = 0; b.len < 200000; i++)
        buf_printf(&b, "\"row %d, \"\"quoted\"\"\nsecond line %d\",label_%02d\r\n", i, i, i % 77);
    return buf_steal(&b);
}

static char *big_test(void)
{
    buf b = {0};
    buf_puts(&b, "text,category\n");
    for (int i = 0; i < 154; i++)
        buf_printf(&b, "test %d,label_%02d\n", i, i % 77);
    return buf_steal(&b);
}

TEST(parsing_in_two_parts_matches_one_pass)
{
    char dir[] = "/tmp/b77-ds-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *train = big_train(), *test = big_test();
    char *tp = write_tmp(dir, "train.csv", train), *sp = write_tmp(dir, "test.csv", test);
    char err[512], err2[512];
    csv_table whole;
    CHECK(csv_table_parse(tp, train, strlen(train), &whole, err2, sizeof err2) == 0);
    /* The cut lies in the middle: this test is about the two-part path. */
    size_t cut = csv_record_boundary(train, strlen(train), (strlen(train) + strlen(test)) / 2);
    CHECK(cut > strlen(train) / 3 && cut < strlen(train));
    dataset *ds = dataset_load(dir, 0, err, sizeof err);
    CHECK(ds != NULL);
    if (ds) {
        CHECK(dataset_size(ds, 0) == whole.n);
        CHECK(dataset_num_labels(ds) == 77);
        int same = 1;
        for (size_t i = 0; i < whole.n && i < dataset_size(ds, 0); i++)
            same &= strcmp(dataset_text(ds, 0, i), whole.text[i]) == 0 &&
                    strcmp(dataset_label_name(ds, dataset_label(ds, 0, i)), csv_table_category(&whole, i)) == 0;
        CHECK(same);
        CHECK(dataset_size(ds, 1) == 154);
        CHECK_STR(dataset_label_name(ds, dataset_label(ds, 1, 153)), "label_76");
        dataset_free(ds);
    }
    csv_table_free(&whole);

    /* A bad record past the cut: the same message as a one-pass parse,
     * counting records from the start of the file. */
    char *bad = xasprintf("%s\"late\",three,fields\r\n", train);
    free(write_tmp(dir, "train.csv", bad));
    CHECK(csv_table_parse(tp, bad, strlen(bad), &whole, err2, sizeof err2) != 0);
    CHECK(dataset_load(dir, 0, err, sizeof err) == NULL);
    CHECK(strcmp(err, err2) == 0);
    if (strcmp(err, err2) != 0)
        fprintf(stderr, "  two parts: %s\n  one pass:  %s\n", err, err2);
    CHECK(strstr(err, "expected 2 fields") != NULL);

    unlink(tp);
    unlink(sp);
    rmdir(dir);
    free(bad);
    free(tp);
    free(sp);
    free(train);
    free(test);
}
