/* verr.c: see verr.h. */
#include "verr.h"

#include <stdio.h>

void verr_set(verr *e, const char *msg, const char *locfmt, ...)
{
    if (e->loc)
        return;
    va_list ap;
    va_start(ap, locfmt);
    e->loc = json_vpack_ex(NULL, 0, locfmt, ap);
    va_end(ap);
    if (!e->loc)
        e->loc = json_pack("[s]", "body");
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    utf8_scrub(e->msg); /* a name cut short, or the cut at sizeof msg */
}

json_t *verr_body(verr *e)
{
    json_t *loc = e->loc ? e->loc : json_pack("[s]", "body");
    e->loc = NULL;
    json_t *body = json_pack("{s:s, s:[{s:o, s:s, s:s}]}", "detail", e->msg, "errors", "loc", loc,
                             "msg", e->msg, "type", "value_error");
    return body;
}

void verr_clear(verr *e)
{
    json_decref(e->loc);
    e->loc = NULL;
    e->msg[0] = '\0';
}
