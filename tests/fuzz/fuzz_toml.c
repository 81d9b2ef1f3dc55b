/* libFuzzer target: the TOML parser and every accessor over its tree. */
#include "toml.h"

static size_t walk(const toml_value *v, int depth)
{
    size_t n = 1;
    if (depth > 200)
        return n;
    switch (toml_type_of(v)) {
    case TOML_TABLE:
        for (size_t i = 0; i < toml_table_size(v); i++)
            n += toml_table_key_len(v, i) + walk(toml_table_value(v, i), depth + 1);
        break;
    case TOML_ARRAY:
        for (size_t i = 0; i < toml_array_size(v); i++)
            n += walk(toml_array_get(v, i), depth + 1);
        break;
    case TOML_INTEGER:
        n += (size_t)toml_int(v);
        break;
    case TOML_FLOAT:
        n += toml_float(v) > 0;
        break;
    case TOML_BOOL:
        n += (size_t)toml_bool(v);
        break;
    default:
        n += toml_string_len(v) + (toml_string(v)[toml_string_len(v)] == '\0');
        break;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char err[512];
    toml_value *root = toml_parse((const char *)data, size, err, sizeof err);
    if (root) {
        walk(root, 0);
        toml_free(root);
    }
    return 0;
}
