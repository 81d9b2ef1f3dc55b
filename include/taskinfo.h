/* taskinfo.h: the JSON bodies of GET /info and GET /task_info. Pure. Every
 * function returns a new reference. */
#ifndef B77_TASKINFO_H
#define B77_TASKINFO_H

#include <jansson.h>

#include "dataset.h"

#define TASK_ID "banking77"
#define TASK_NAME "Banking77 Intent Classification"
#define TASK_VERSION "1.0.0"
#define TASK_APP_ID "banking77_intent_classification"

json_t *taskinfo_info(const dataset *ds, int default_split);
/* GET /task_info without a seed. */
json_t *taskinfo_taskset(const dataset *ds, int default_split);
/* The descriptor of one row of a split. */
json_t *taskinfo_instance(const dataset *ds, int split, size_t row);

#endif
