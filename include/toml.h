/* toml.h: a complete TOML 1.0 parser (checked against the official
 * toml-test suite) producing an immutable tree. Pure: no I/O. */
#ifndef B77_TOML_H
#define B77_TOML_H

#include <stddef.h>
#include <stdint.h>

typedef enum toml_type {
    TOML_TABLE,
    TOML_ARRAY,
    TOML_STRING,
    TOML_INTEGER,
    TOML_FLOAT,
    TOML_BOOL,
    TOML_DATETIME,       /* offset date-time, e.g. 1979-05-27T07:32:00Z */
    TOML_DATETIME_LOCAL, /* 1979-05-27T07:32:00 */
    TOML_DATE_LOCAL,     /* 1979-05-27 */
    TOML_TIME_LOCAL,     /* 07:32:00 */
} toml_type;

typedef struct toml_value toml_value;

/* Parses a whole document (len bytes; NUL bytes are an error, not an end).
 * Returns the root table, or NULL with "line L, column C: what" in err.
 * Free with toml_free (which accepts NULL). */
toml_value *toml_parse(const char *data, size_t len, char *err, size_t errlen);
void toml_free(toml_value *v);

toml_type toml_type_of(const toml_value *v);
/* The name of a type as toml-test writes it ("string", "integer", ...,
 * "table", "array"). */
const char *toml_type_name(toml_type t);
/* Where the value was defined (1-based). */
int toml_line(const toml_value *v);
int toml_column(const toml_value *v);

/* Tables: keys in document order. toml_get returns NULL when the key is
 * missing or v is not a table. Everything returned is borrowed from v. */
size_t toml_table_size(const toml_value *t);
const char *toml_table_key(const toml_value *t, size_t i);
/* Keys may hold NUL bytes ("\u0000" is a valid quoted key). */
size_t toml_table_key_len(const toml_value *t, size_t i);
const toml_value *toml_table_value(const toml_value *t, size_t i);
const toml_value *toml_get(const toml_value *t, const char *key);

size_t toml_array_size(const toml_value *a);
const toml_value *toml_array_get(const toml_value *a, size_t i);

/* Scalars. toml_string also serves the date/time types (their normalised
 * text: upper-case T and Z, 'T' between date and time). Strings may hold
 * NUL bytes: toml_string_len gives the length. */
const char *toml_string(const toml_value *v);
size_t toml_string_len(const toml_value *v);
int64_t toml_int(const toml_value *v);
double toml_float(const toml_value *v);
int toml_bool(const toml_value *v);

#endif
