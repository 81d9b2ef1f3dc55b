/* toml-decode: reads TOML on stdin and prints the toml-test suite's tagged
 * JSON on stdout; exits 1 (with the error on stderr) on invalid input. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

static json_t *tagged(const char *type, const char *value, size_t len)
{
    return json_pack("{s:s,s:s%}", "type", type, "value", value, len);
}

static json_t *to_json(const toml_value *v)
{
    char num[64];
    switch (toml_type_of(v)) {
    case TOML_TABLE: {
        json_t *o = json_object();
        for (size_t i = 0; i < toml_table_size(v); i++)
            json_object_setn_new(o, toml_table_key(v, i), toml_table_key_len(v, i),
                                 to_json(toml_table_value(v, i)));
        return o;
    }
    case TOML_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < toml_array_size(v); i++)
            json_array_append_new(a, to_json(toml_array_get(v, i)));
        return a;
    }
    case TOML_INTEGER:
        snprintf(num, sizeof num, "%lld", (long long)toml_int(v));
        return tagged("integer", num, strlen(num));
    case TOML_FLOAT: {
        double f = toml_float(v);
        if (isnan(f))
            snprintf(num, sizeof num, "nan");
        else if (isinf(f))
            snprintf(num, sizeof num, "%sinf", f < 0 ? "-" : "");
        else
            snprintf(num, sizeof num, "%.17g", f);
        return tagged("float", num, strlen(num));
    }
    case TOML_BOOL:
        return tagged("bool", toml_bool(v) ? "true" : "false", toml_bool(v) ? 4 : 5);
    default:
        return tagged(toml_type_name(toml_type_of(v)), toml_string(v), toml_string_len(v));
    }
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? stdout : stderr,
                "Usage: toml-decode < FILE.toml\n"
                "Parses TOML 1.0 from stdin and prints the toml-test tagged JSON on stdout.\n"
                "Exits 1 with the error (line, column, what) on stderr when the input is invalid.\n");
        return strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? 2 : 0;
    }
    buf in = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
        buf_append(&in, chunk, n);
    char err[512];
    toml_value *root = toml_parse(in.data ? in.data : "", in.len, err, sizeof err);
    buf_free(&in);
    if (!root) {
        fprintf(stderr, "toml-decode: %s\n", err);
        return 1;
    }
    json_t *j = to_json(root);
    toml_free(root);
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    puts(s ? s : "{}");
    free(s);
    return 0;
}
