/* Unit tests: CSV loading, label order, seed mapping. */
#include <stdint.h>
#include <stdlib.h>

#include "dataset.h"
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
    const char *csv = "text,category\r\nplain,a\r\n\"with, comma\",b\r\n\"multi\nline \"\"q\"\"\",c\r\n";
    CHECK(parse(csv, &t, err) == 0);
    CHECK(t.n == 3);
    if (t.n == 3) {
        CHECK_STR(t.text[1], "with, comma");
        CHECK_STR(t.text[2], "multi\nline \"q\"");
        CHECK_STR(t.category[2], "c");
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
    CHECK(utf8_valid("\xc2\xa3", 2));          /* £ */
    CHECK(utf8_valid("\xe2\x82\xac", 3));      /* € */
    CHECK(!utf8_valid("\xe2\x82", 2));         /* cut mid-character */
    CHECK(!utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
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
