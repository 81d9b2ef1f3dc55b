/* jsonw.h: writing JSON text straight into a buf, byte for byte as jansson's
 * json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) would, without building
 * a json_t tree first. The hot path of a rollout writes its upstream body and
 * its response with these; jansson's encoder (a loop-check hashtable and an
 * snprintf per container) cost more than the rest of the rollout. */
#ifndef B77_JSONW_H
#define B77_JSONW_H

#include <jansson.h>
#include <stdint.h>

#include "util.h"

/* A JSON string of s (n bytes), quotes included. Returns 0, or -1 when s is
 * not valid UTF-8 (then b is left as it was). */
int jw_str(buf *b, const char *s, size_t n);
/* The same without the quotes: the escaped characters alone. */
int jw_escape(buf *b, const char *s, size_t n);
/* jw_str of a NUL-terminated string; NULL writes null. */
int jw_cstr(buf *b, const char *s);
void jw_int(buf *b, int64_t v);
/* A finite double as jansson writes it with 15 significant digits. */
void jw_real(buf *b, double v);
/* Any json_t, NULL as null. Returns 0, or -1 when it holds a non-finite
 * real (jansson refuses those too). */
int jw_value(buf *b, const json_t *v);
/* jw_value into a new NUL-terminated string (free it): the text
 * json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) gives, at a
 * fraction of its cost; NULL when v holds a non-finite real. */
char *jw_dumps(const json_t *v);
/* A literal piece of JSON text (a key, punctuation). */
#define jw_raw(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

#endif
