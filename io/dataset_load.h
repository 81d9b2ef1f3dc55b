/* dataset_load.h: the dataset read from its directory (the file I/O and the
 * thread that lib/dataset.c, pure, does not have). */
#ifndef B77_DATASET_LOAD_H
#define B77_DATASET_LOAD_H

#include <stddef.h>

#include "dataset.h"

/* Loads DIR/train.csv and DIR/test.csv and checks them: 77 labels, the same
 * label set in both splits, and (when check_counts) the published row counts.
 * Returns NULL with a message naming file and record in err on failure. */
dataset *dataset_load(const char *dir, int check_counts, char *err, size_t errlen);
/* dataset_load in two steps, for a caller that starts more threads while the
 * dataset loads: a thread created while another is inside dlopen waits for
 * it (glibc's TLS lock), so the parsing thread must be running first.
 * dataset_load_start reads train.csv and starts the thread that parses part
 * of it and test.csv (NULL, with err, when train.csv cannot be read);
 * dataset_load_finish parses the rest on the caller's thread, joins, and
 * returns what dataset_load would. */
typedef struct dataset_loading dataset_loading;
dataset_loading *dataset_load_start(const char *dir, int check_counts, char *err, size_t errlen);
dataset *dataset_load_finish(dataset_loading *ld, char *err, size_t errlen);

#endif
