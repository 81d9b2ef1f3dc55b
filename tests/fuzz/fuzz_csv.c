/* libFuzzer target: the Banking77 CSV loader. */
#include "dataset.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    csv_table t;
    char err[256];
    if (csv_table_parse("fuzz.csv", (const char *)data, size, &t, err, sizeof err) == 0)
        csv_table_free(&t);
    return 0;
}
