/* respond.c: the one reply path (see internal.h): every response goes out
 * through vreply_text, and is counted in /metrics once queued. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "jsonw.h"
#include "log.h"

void count_request(struct request *rq)
{
    rq->recorded = 1;
    metrics_request(rq->srv->metrics, rq->routed ? (int)rq->route + 1 : 0, rq->status,
                    now_ms() - rq->start);
}

/* Counts the request in /metrics once its response is queued, so that a
 * client who has the response also finds it counted. */
void answered(struct request *rq, unsigned status)
{
    rq->status = (int)status;
    rq->state = ST_ANSWERED;
    count_request(rq);
}

/* A job of POST /rollouts has no connection: the reply (doc stolen; NULL:
 * none, or not JSON) is its result. */
static enum MHD_Result job_reply(struct request *rq, unsigned status, json_t *doc)
{
    rq->status = (int)status;
    rq->state = ST_ANSWERED;
    job_deliver(rq, status, doc);
    return MHD_YES;
}

/* Sends text (a JSON document, owned; NULL for no body) with status and
 * extra header pairs (name, value, ..., NULL). */
static enum MHD_Result vreply_text(struct request *rq, unsigned status, char *text, va_list ap)
{
    if (!rq->conn) { /* a job of POST /rollouts: the reply is its result */
        json_t *doc = text ? jr_parse(text, strlen(text), 0, NULL) : NULL;
        free(text);
        return job_reply(rq, status, doc);
    }
    size_t len = text ? strlen(text) : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, text ? text : (char *)"", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    if (text)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    for (const char *name; (name = va_arg(ap, const char *));) {
        const char *value = va_arg(ap, const char *);
        MHD_add_response_header(resp, name, value);
    }
    enum MHD_Result r = MHD_queue_response(rq->conn, status, resp);
    MHD_destroy_response(resp);
    answered(rq, status);
    return r;
}

/* The 500 that stands in for a response that could not be encoded. */
static char *encode_failed(struct request *rq, unsigned *status)
{
    log_error("cannot encode a response to %s %s", rq->method, rq->path);
    *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    return xstrdup("{\"detail\":\"internal error: cannot encode the response\"}");
}

/* The one reply path: a document already encoded (owned; NULL means it
 * could not be, a 500), then vreply_text. */
enum MHD_Result reply_text(struct request *rq, unsigned status, char *text, ...)
{
    if (!text) {
        text = encode_failed(rq, &status);
    }
    va_list ap;
    va_start(ap, text);
    enum MHD_Result r = vreply_text(rq, status, text, ap);
    va_end(ap);
    return r;
}

/* The same for a JSON body (stolen); NULL body: no body (a 204). */
enum MHD_Result reply(struct request *rq, unsigned status, json_t *body, ...)
{
    if (!rq->conn) /* a job's result: the document itself, never encoded and read back */
        return job_reply(rq, status, body);
    char *text = NULL;
    if (body) {
        text = jw_dumps(body);
        json_decref(body);
        if (!text) {
            text = encode_failed(rq, &status);
        }
    }
    va_list ap;
    va_start(ap, body);
    enum MHD_Result r = vreply_text(rq, status, text, ap);
    va_end(ap);
    return r;
}

json_t *detail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* an upstream message cut mid-character, or not UTF-8 at all */
    return json_pack("{s:s}", "detail", utf8_scrub(msg));
}

enum MHD_Result reply_unauthorized(struct request *rq)
{
    const char *msg = "API key missing or invalid";
    return reply(rq, MHD_HTTP_UNAUTHORIZED,
                 json_pack("{s:s,s:{s:s,s:s}}", "detail", msg, "error", "code", "unauthorised",
                           "message", msg),
                 MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL);
}

enum MHD_Result reply_no_key(struct request *rq)
{
    const char *msg = "ENVIRONMENT_API_KEY is not configured";
    return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                 json_pack("{s:s,s:{s:s,s:s}}", "detail", msg, "error", "code",
                           "missing_environment_api_key", "message",
                           "set ENVIRONMENT_API_KEY in the task app's environment and restart it"),
                 NULL);
}

enum MHD_Result reply_too_large(struct request *rq)
{
    return reply(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                 detail("request body larger than the %zu-byte limit (--max-body)",
                        rq->srv->cfg->max_body),
                 NULL);
}

enum MHD_Result reply_response(struct request *rq, unsigned status, struct MHD_Response *resp,
                               const char *content_type)
{
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result r = MHD_queue_response(rq->conn, status, resp);
    MHD_destroy_response(resp);
    answered(rq, status);
    return r;
}
