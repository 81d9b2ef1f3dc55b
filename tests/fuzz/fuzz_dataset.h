/* fuzz_dataset.h: the real dataset for the targets that render prompts
 * (B77_DATA_DIR, else dataset/), loaded once in LLVMFuzzerInitialize, and
 * jansson's hash seed fixed so that runs repeat; and what those targets
 * check of a refused request. */
#ifndef B77_FUZZ_DATASET_H
#define B77_FUZZ_DATASET_H

#include <jansson.h>
#include <stdlib.h>

#include "dataset_load.h"
#include "verr.h"

static dataset *fuzz_dataset(void)
{
    char err[512];
    const char *dir = getenv("B77_DATA_DIR");
    dataset *d = dataset_load(dir ? dir : "dataset", 1, err, sizeof err);
    if (!d)
        abort();
    json_object_seed(1);
    return d;
}

/* A refused request always has its 422's body. */
static void fuzz_check_refusal(verr *e)
{
    json_t *b = verr_body(e);
    if (!b)
        abort();
    json_decref(b);
}

#endif
