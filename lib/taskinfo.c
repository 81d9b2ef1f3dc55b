/* taskinfo.c: see taskinfo.h. */
#include "taskinfo.h"

#include <stdio.h>

#include "reply.h"

static json_t *labels(const dataset *ds)
{
    json_t *a = json_array();
    for (size_t k = 0; k < dataset_num_labels(ds); k++)
        json_array_append_new(a, json_string(dataset_label_name(ds, (int)k)));
    return a;
}

static json_t *sizes(const dataset *ds)
{
    return json_pack("{s:I,s:I}", "train", (json_int_t)dataset_size(ds, 0), "test",
                     (json_int_t)dataset_size(ds, 1));
}

json_t *taskinfo_info(const dataset *ds, int default_split)
{
    return json_pack(
        "{s:{s:{s:s,s:s,s:s},s:s},"
        "s:{s:s,s:s,s:[s,s],s:s,s:o,s:i,s:o,s:s},"
        "s:{s:{s:s,s:[{s:s,s:s,s:f}]},s:{s:s,s:[]}},"
        "s:{s:b,s:s,s:[s,s,s]},s:{s:i}}",
        "service", "task", "id", TASK_ID, "name", TASK_NAME, "version", TASK_VERSION, "version",
        TASK_VERSION, "dataset", "id", TASK_ID, "name", "Banking77", "splits", "train", "test",
        "default_split", dataset_split_name(default_split), "sizes", sizes(ds), "num_labels",
        (int)dataset_num_labels(ds), "labels", labels(ds), "source",
        "PolyAI-LDN/task-specific-datasets (CC BY 4.0)", "rubrics", "outcome", "name",
        "Intent Classification Accuracy", "criteria", "id", "intent_accuracy", "description",
        "Did it provide the correct intent?", "weight", 1.0, "events", "name",
        "No event rubric", "criteria", "inference", "supports_proxy", 0, "tool", REPLY_TOOL_NAME,
        "output_modes", "tool_calls", "text", "structured", "limits", "max_turns", 1);
}

json_t *taskinfo_taskset(const dataset *ds, int default_split)
{
    return json_pack("{s:{s:s,s:s,s:s,s:[s,s],s:s,s:i,s:o},s:s,s:I,s:o}", "taskset", "id", TASK_ID,
                     "name", TASK_NAME, "version", TASK_VERSION, "splits", "train", "test",
                     "default_split", dataset_split_name(default_split), "num_labels",
                     (int)dataset_num_labels(ds), "sizes", sizes(ds), "task_app_id", TASK_APP_ID,
                     "dataset_size", (json_int_t)dataset_size(ds, default_split), "labels",
                     labels(ds));
}

json_t *taskinfo_instance(const dataset *ds, int split, size_t row)
{
    const char *label = dataset_label_name(ds, dataset_label(ds, split, row));
    char desc[160];
    snprintf(desc, sizeof desc, "Did it provide the correct intent: %s?", label);
    return json_pack(
        "{s:{s:s,s:s,s:s,s:{s:s,s:s}},s:s,s:{s:s,s:s,s:I,s:I},"
        "s:{s:{s:s,s:[{s:s,s:s,s:f,s:s}]}},s:{s:s},s:{s:i},s:{s:s,s:s,s:s}}",
        "task", "id", TASK_ID, "name", TASK_NAME, "version", TASK_VERSION, "action_space", "type",
        "tool_call", "tool_name", REPLY_TOOL_NAME, "environment", "banking77", "dataset", "id",
        TASK_ID, "split", dataset_split_name(split), "index", (json_int_t)row, "size",
        (json_int_t)dataset_size(ds, split), "rubric", "outcome", "name",
        "Intent Classification Accuracy", "criteria", "id", "intent_accuracy", "description", desc,
        "weight", 1.0, "expected_answer", label, "inference", "tool", REPLY_TOOL_NAME, "limits",
        "max_turns", 1, "task_metadata", "format", "tool_call", "query",
        dataset_text(ds, split, row), "expected_intent", label);
}
