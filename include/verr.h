/* verr.h: a validation error, reported to HTTP clients as a 422 with
 * {"detail": msg, "errors": [{"loc": loc, "msg": msg}]}. */
#ifndef B77_VERR_H
#define B77_VERR_H

#include <jansson.h>

#include "util.h"

typedef struct verr {
    json_t *loc; /* array of strings and integers, owned; NULL when unset */
    char msg[512];
} verr;

/* Records the first error only: later calls are ignored while e->loc is set.
 * loc is a json_pack format producing an array, e.g. "[s,s,i]". */
void verr_set(verr *e, const char *msg, const char *locfmt, ...);
/* Builds the 422 body (new reference) and clears e. */
json_t *verr_body(verr *e);
void verr_clear(verr *e);

#endif
