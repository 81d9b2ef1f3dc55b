/* libFuzzer target: the Banking77 CSV loader, in one pass and in the two
 * parts dataset_load parses on two threads. A part may fail where the whole
 * file parses (dataset_load then parses it in one pass for the message), but
 * when both parts parse, the whole file must too, with the same rows. */
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    const char *d = (const char *)data;
    csv_table whole, head, tail;
    char err[256];
    int whole_ok = csv_table_parse("fuzz.csv", d, size, &whole, err, sizeof err) == 0;
    size_t cut = csv_record_boundary(d, size, size / 2);
    if (cut && csv_table_parse("fuzz.csv", d, cut, &head, err, sizeof err) == 0) {
        if (csv_table_parse_tail("fuzz.csv", d + cut, size - cut, &tail, err, sizeof err) == 0) {
            if (!whole_ok)
                abort(); /* accepted in parts, refused in one pass */
            csv_table_append(&head, &tail);
            if (head.n != whole.n || head.nnames != whole.nnames)
                abort();
            for (size_t i = 0; i < whole.n; i++)
                if (strcmp(head.text[i], whole.text[i]) != 0 ||
                    strcmp(csv_table_category(&head, i), csv_table_category(&whole, i)) != 0 ||
                    head.category_id[i] != whole.category_id[i])
                    abort();
            csv_table_free(&tail);
        }
        csv_table_free(&head);
    }
    if (whole_ok)
        csv_table_free(&whole);
    return 0;
}
