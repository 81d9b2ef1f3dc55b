/* server.c: see server.h.
 *
 * Ownership: a struct request belongs to its MHD connection. It is created on
 * the first call of the access handler and freed only in the
 * MHD_OPTION_NOTIFY_COMPLETED callback. While a rollout is parked (the
 * connection suspended), the upstream loop borrows rq->call; its done
 * callback only resumes the connection, and the response is built when MHD
 * calls the handler again. All of it happens on the one thread that runs
 * the connection's daemon and that daemon's upstream loop. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapt.h"
#include "cache.h"
#include "jalloc.h"
#include "jsonr.h"
#include "limits.h"
#include "llmurl.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "taskinfo.h"
#include "upstream.h"
#include "verr.h"

/* Per-connection memory for MHD's header parsing and read buffer. Small,
 * because MHD clears it between requests and 1,024 connections multiply it;
 * request bodies go to our own buffer, not into this pool. */
#define CONNECTION_MEMORY (16 * 1024) /* per connection (headers, query arguments); MHD zeroes it per request */
#define RETRY_AFTER_BUSY "1"

/* The auth header lines (and the common headers after them) for the LLM
 * calls to one origin with one caller's key: the same for every call
 * there, so worked out once per worker (provider, key lookup, two
 * allocated lines and a list of five) rather than once per rollout. */
#define AUTH_MEMO 8
typedef struct auth_lines {
    char *origin;    /* "scheme://authority" of the LLM URL */
    const char *key; /* the caller's key (owned by auth), or NULL */
    struct curl_slist node[2];
    struct curl_slist *list; /* node[0], or the common headers alone */
    limiter *lim;            /* the account's rate limits (shared), or NULL */
} auth_lines;

/* An HTTP thread: a libmicrohttpd daemon without threads of its own, run
 * by an upstream thread in the same epoll loop as that thread's LLM calls,
 * so a rollout is read, sent on, and answered on one thread. */
typedef struct worker {
    server *srv;
    struct MHD_Daemon *daemon;
    int quiesced; /* no longer accepting; private to its thread */
    auth_lines memo[AUTH_MEMO]; /* private to its thread */
    size_t nmemo;
} worker;

struct server {
    const server_config *cfg;
    const dataset *ds;
    const auth *auth;
    worker *workers;
    size_t nworkers;
    upstream *up;
    rollout_defaults defaults;
    llm_keys keys;
    int port;
    metrics *metrics;
    cache *cache; /* NULL when --cache off */
    adapt_memo *adapt; /* what each LLM server accepts (shared; its own lock); NULL: --strict-params */
    limits *limits; /* each LLM account's rate limits (shared; own locks); NULL: none */
    atomic_uint inflight; /* admitted rollouts not yet answered */
    atomic_int stopping;
};

enum route {
    ROUTE_NONE,
    ROUTE_ROOT,
    ROUTE_HEALTH,
    ROUTE_HEALTH_ROLLOUT,
    ROUTE_INFO,
    ROUTE_TASK_INFO,
    ROUTE_ROLLOUT,
    ROUTE_DONE,
    ROUTE_METRICS,
};

static const struct {
    const char *path;
    enum route route;
    const char *allow; /* the methods, as sent in Allow */
    int open;          /* no key needed */
} routes[] = {
    {"/", ROUTE_ROOT, "GET, HEAD", 1},
    {"/health", ROUTE_HEALTH, "GET, HEAD", 1},
    {"/health/rollout", ROUTE_HEALTH_ROLLOUT, "GET, HEAD", 1},
    {"/info", ROUTE_INFO, "GET, HEAD", 0},
    {"/task_info", ROUTE_TASK_INFO, "GET, HEAD", 0},
    {"/rollout", ROUTE_ROLLOUT, "POST, OPTIONS", 0},
    {"/done", ROUTE_DONE, "POST", 0},
    {"/metrics", ROUTE_METRICS, "GET, HEAD", 0},
};

/* Metric labels: index 0 is "other" (unknown paths), then routes[] in order. */
static const char *const route_labels[] = {"other", "/", "/health", "/health/rollout", "/info",
                                           "/task_info", "/rollout", "/done", "/metrics"};

enum state { ST_NEW, ST_BODY, ST_PARKED, ST_ANSWERED };

struct request {
    server *srv;
    worker *worker; /* whose daemon has the connection */
    struct MHD_Connection *conn;
    int64_t start;
    char method[16];
    char *path;
    int status;
    int recorded; /* counted in /metrics (when its response was queued) */
    size_t route; /* index into routes[] */
    int routed;   /* route is set */
    enum state state;
    const char *key;  /* the allowed key the caller sent (owned by auth) */
    buf body;
    int too_large;
    int counted;      /* holds an in-flight slot */
    rollout ro;
    upcall call;
    struct curl_slist *headers;
    int headers_owned; /* headers is this request's own list (else a worker's memo) */
    const char *cache_state; /* "hit", "shared", "miss", or NULL (not cached) */
    cache_key ckey;
    int leader; /* other identical requests wait for this one's call... */
    int shared; /* ...and have been handed its result */
    int adapted; /* resent once in a form the LLM server accepts */
};

/* ---- the one reply path ------------------------------------------------ */

static void count_request(struct request *rq)
{
    rq->recorded = 1;
    metrics_request(rq->srv->metrics, rq->routed ? (int)rq->route + 1 : 0, rq->status,
                    now_ms() - rq->start);
}

/* Counts the request in /metrics once its response is queued, so that a
 * client who has the response also finds it counted. */
static void answered(struct request *rq, unsigned status)
{
    rq->status = (int)status;
    rq->state = ST_ANSWERED;
    count_request(rq);
}

/* Sends text (a JSON document, owned; NULL for no body) with status and
 * extra header pairs (name, value, ..., NULL). */
static enum MHD_Result vreply_text(struct request *rq, unsigned status, char *text, va_list ap)
{
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
static enum MHD_Result reply_text(struct request *rq, unsigned status, char *text, ...)
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
static enum MHD_Result reply(struct request *rq, unsigned status, json_t *body, ...)
{
    char *text = NULL;
    if (body) {
        text = jalloc_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
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

static json_t *detail(const char *fmt, ...) B77_PRINTF(1, 2);
static json_t *detail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *s = json_string(msg);
    if (!s) /* an upstream message cut mid-character */
        s = json_string("(message not valid UTF-8)");
    return json_pack("{s:o}", "detail", s);
}

static enum MHD_Result reply_unauthorized(struct request *rq)
{
    const char *msg = "API key missing or invalid";
    return reply(rq, MHD_HTTP_UNAUTHORIZED,
                 json_pack("{s:s,s:{s:s,s:s}}", "detail", msg, "error", "code", "unauthorised",
                           "message", msg),
                 MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer", NULL);
}

static enum MHD_Result reply_no_key(struct request *rq)
{
    const char *msg = "ENVIRONMENT_API_KEY is not configured";
    return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                 json_pack("{s:s,s:{s:s,s:s}}", "detail", msg, "error", "code",
                           "missing_environment_api_key", "message",
                           "set ENVIRONMENT_API_KEY in the task app's environment and restart it"),
                 NULL);
}

static enum MHD_Result reply_too_large(struct request *rq)
{
    return reply(rq, MHD_HTTP_CONTENT_TOO_LARGE,
                 detail("request body larger than the %zu-byte limit (--max-body)",
                        rq->srv->cfg->max_body),
                 NULL);
}

static enum MHD_Result reply_metrics(struct request *rq)
{
    buf text = {0};
    metrics_render(rq->srv->metrics, atomic_load(&rq->srv->inflight), &text);
    if (rq->srv->adapt) {
        long counts[ADAPT_COUNT];
        adapt_memo_counts(rq->srv->adapt, counts);
        buf_puts(&text, "# HELP b77_llm_adaptations_total Request forms learned from LLM servers' 400 "
                        "refusals, per (endpoint, model).\n# TYPE b77_llm_adaptations_total counter\n");
        for (int i = 0; i < ADAPT_COUNT; i++)
            buf_printf(&text, "b77_llm_adaptations_total{adaptation=\"%s\"} %ld\n", params_name(i),
                       counts[i]);
    }
    limits_metrics(rq->srv->limits, &text);
    if (rq->srv->cache)
        cache_metrics(rq->srv->cache, &text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(text.len, text.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        buf_free(&text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    enum MHD_Result r = MHD_queue_response(rq->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    answered(rq, MHD_HTTP_OK);
    return r;
}

/* ---- simple routes ------------------------------------------------------ */

static enum MHD_Result handle_health(struct request *rq, int rollout_variant)
{
    server *s = rq->srv;
    int ok = auth_configured(s->auth) && s->ds;
    json_t *body = json_pack("{s:s,s:b,s:b,s:{s:b}}", "status", ok ? "healthy" : "unhealthy",
                             "healthy", ok, "authorized", rq->key != NULL, "auth", "required", 1);
    if (rollout_variant)
        json_object_set_new(body, "ok", json_boolean(ok));
    if (!ok)
        json_object_set_new(body, "detail", json_string("ENVIRONMENT_API_KEY is not configured"));
    json_object_set_new(body, "inflight", json_integer((json_int_t)atomic_load(&s->inflight)));
    if (s->cache) /* a store in trouble costs misses, not health */
        json_object_set_new(body, "cache_store", cache_store_json(s->cache, 0));
    return reply(rq, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body, NULL);
}

struct seed_args {
    json_t *seeds;    /* array of instance descriptors, in request order */
    const char *split_name;
    const char *bad;  /* the first seed that does not parse */
    size_t count;
};

static void add_seed_value(struct seed_args *a, const char *v, size_t n)
{
    if (a->bad)
        return;
    json_t *str = json_stringn(v, n);
    int64_t seed;
    if (!str || rollout_parse_seed(str, &seed) != 0) {
        a->bad = v;
    } else {
        json_array_append_new(a->seeds, json_integer((json_int_t)seed));
    }
    json_decref(str);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct seed_args *a = cls;
    if (!key)
        return MHD_YES;
    if (strcmp(key, "split") == 0) {
        a->split_name = value ? value : "";
    } else if (strcmp(key, "seed") == 0 || strcmp(key, "seeds") == 0) {
        const char *v = value ? value : "";
        /* "seeds=1,2,3" is a list too */
        for (const char *p = v;;) {
            size_t n = strcspn(p, ",");
            add_seed_value(a, p, n);
            if (!p[n])
                break;
            p += n + 1;
        }
        a->count++;
    }
    return MHD_YES;
}

static enum MHD_Result handle_task_info(struct request *rq)
{
    server *s = rq->srv;
    struct seed_args a = {.seeds = json_array()};
    MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &a);
    int split = s->cfg->default_split;
    if (a.split_name && (split = dataset_split_id(a.split_name)) < 0) {
        json_decref(a.seeds);
        verr e = {0};
        verr_set(&e, "unknown split: valid splits are \"train\", \"test\"", "[s,s]", "query",
                 "split");
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    }
    if (a.bad) {
        json_decref(a.seeds);
        verr e = {0};
        verr_set(&e, "seed must be a decimal integer within int64", "[s,s]", "query", "seed");
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    }
    size_t n = json_array_size(a.seeds);
    json_t *body;
    if (n == 0) {
        body = taskinfo_taskset(s->ds, split);
    } else {
        body = json_array();
        size_t size = dataset_size(s->ds, split);
        for (size_t i = 0; i < n; i++) {
            int64_t seed = (int64_t)json_integer_value(json_array_get(a.seeds, i));
            json_array_append_new(body, taskinfo_instance(s->ds, split, dataset_seed_row(seed, size)));
        }
        if (n == 1) {
            json_t *one = json_incref(json_array_get(body, 0));
            json_decref(body);
            body = one;
        }
    }
    json_decref(a.seeds);
    return reply(rq, MHD_HTTP_OK, body, NULL);
}

/* ---- rollouts ----------------------------------------------------------- */

static void on_upcall_done(upcall *call)
{
    struct request *rq = call->arg;
    MHD_resume_connection(rq->conn);
}

/* The headers every LLM call sends, last in every list. */
static char type_json[] = "Content-Type: application/json";
static char accept_json[] = "Accept: application/json";
static char no_expect[] = "Expect:"; /* no 100-continue round trip */
static struct curl_slist common_headers[] = {
    {type_json, &common_headers[1]}, {accept_json, &common_headers[2]}, {no_expect, NULL}};

static void forget_line(char *line)
{
    if (line) {
        memset(line, 0, strlen(line)); /* it may hold a key */
        free(line);
    }
}

/* The headers of rq's LLM call: its worker's memo for the call's origin
 * and the caller's key, or (headers_owned set) a list of the request's own
 * when the memo is full. *lim: the account's limiter. */
static struct curl_slist *upstream_headers(struct request *rq, limiter **lim)
{
    worker *w = rq->worker;
    const char *key = rq->key;
    const char *url = rq->ro.call_url, *sep = strstr(url, "://");
    size_t olen = sep ? (size_t)(sep + 3 - url) + strcspn(sep + 3, "/?#") : 0;
    rq->headers_owned = 0;
    if (olen)
        for (size_t i = 0; i < w->nmemo; i++) {
            auth_lines *m = &w->memo[i];
            if (m->key == key && strncmp(m->origin, url, olen) == 0 && !m->origin[olen]) {
                *lim = m->lim;
                return m->list;
            }
        }
    char *lines[2];
    size_t n = llmurl_auth_headers(url, &rq->srv->keys, key, lines);
    *lim = limits_for(rq->srv->limits, url, (const char *const *)lines, n);
    if (olen && w->nmemo < AUTH_MEMO) {
        auth_lines *m = &w->memo[w->nmemo++];
        m->origin = xstrndup(url, olen);
        m->key = key;
        m->lim = *lim;
        m->list = n ? &m->node[0] : &common_headers[0];
        for (size_t i = 0; i < n; i++) {
            m->node[i].data = lines[i];
            m->node[i].next = i + 1 < n ? &m->node[i + 1] : &common_headers[0];
        }
        return m->list;
    }
    struct curl_slist *h = NULL;
    for (size_t i = 0; i < B77_ARRAY_LEN(common_headers); i++)
        h = curl_slist_append(h, common_headers[i].data);
    for (size_t i = 0; i < n; i++) {
        h = curl_slist_append(h, lines[i]);
        forget_line(lines[i]);
    }
    rq->headers_owned = 1;
    return h;
}

static enum MHD_Result finish_rollout(struct request *rq);

/* rollout_defaults.adapt_for: the server's memo. */
static int memo_bits(void *arg, const char *call_url, const char *model)
{
    return adapt_memo_get(arg, call_url, model);
}

/* After a 400: when the LLM server refused a parameter this request can do
 * without, learn it and send the request again in the accepted form (once).
 * Returns 1 when resent (the connection is parked again). */
static int adapt_and_resend(struct request *rq)
{
    server *s = rq->srv;
    upcall *c = &rq->call;
    if (!s->adapt || rq->adapted || c->result != UPCALL_HTTP || c->status != 400)
        return 0;
    int add = params_adaptation(c->reply.data ? c->reply.data : "", c->reply.len,
                                rq->ro.upstream_body, rq->ro.upstream_body_len, rq->ro.adapt);
    if (!add)
        return 0;
    json_t *body = jr_parse(rq->body.data ? rq->body.data : "", rq->body.len, 0, NULL);
    if (!body)
        return 0;
    int fresh = adapt_memo_add(s->adapt, rq->ro.call_url, rq->ro.model, add);
    for (int i = 0; i < ADAPT_COUNT; i++)
        if (fresh & (1 << i))
            log_warn("the LLM at %s refused a parameter for model %s: from now on, %s "
                     "(--strict-params turns this off)", rq->ro.call_url, rq->ro.model,
                     params_description(i));
    /* the same request again: the memo now holds the new bits (and add is
     * kept here too, should the memo be full) */
    rollout_defaults d = s->defaults;
    d.adapt = rq->ro.adapt | add;
    rollout again;
    verr e = {0};
    int rc = rollout_prepare(body, s->ds, &d, &again, &e);
    json_decref(body);
    verr_clear(&e);
    if (rc != 0) /* it succeeded before with the same body */
        return 0;
    rollout_free(&rq->ro);
    rq->ro = again;
    rq->adapted = 1;
    rq->leader = 0; /* the resent call is this request's own */
    rq->cache_state = NULL;
    c->url = rq->ro.call_url;
    c->body = rq->ro.upstream_body;
    c->body_len = rq->ro.upstream_body_len;
    buf_reset(&c->reply);
    c->error[0] = '\0';
    MHD_suspend_connection(rq->conn);
    upstream_submit(s->up, c);
    return 1;
}

static enum MHD_Result start_rollout(struct request *rq)
{
    server *s = rq->srv;
    if (rq->too_large)
        return reply_too_large(rq);
    jr_error jerr;
    const char *text = rq->body.data ? rq->body.data : "";
    json_t *body = jr_parse(text, rq->body.len, JR_REJECT_DUPLICATES, &jerr);
    if (!body && jerr.overflow)
        /* An integer beyond int64 (a seed, say): read integers as reals so the
         * field's own check can answer 422 naming it. */
        body = jr_parse(text, rq->body.len, JR_REJECT_DUPLICATES | JR_INT_AS_REAL, &jerr);
    if (!body)
        return reply(rq, MHD_HTTP_BAD_REQUEST,
                     detail("invalid JSON body: %s (line %d, column %d, byte %zu)", jerr.text,
                            jerr.line, jerr.column, jerr.position),
                     NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return reply(rq, MHD_HTTP_BAD_REQUEST, detail("the JSON body must be an object"), NULL);
    }
    verr e = {0};
    int rc = rollout_prepare(body, s->ds, &s->defaults, &rq->ro, &e);
    json_decref(body);
    if (rc != 0)
        return reply(rq, MHD_HTTP_UNPROCESSABLE_CONTENT, verr_body(&e), NULL);
    if (atomic_load(&s->stopping))
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE, detail("the server is shutting down"),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    if (atomic_fetch_add(&s->inflight, 1) >= s->cfg->max_inflight) {
        atomic_fetch_sub(&s->inflight, 1);
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                     detail("too many rollouts in flight (limit %u, --max-inflight); retry later",
                            s->cfg->max_inflight),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    }
    rq->counted = 1;
    rq->headers = upstream_headers(rq, &rq->call.lim);
    /* What providers count against a token limit: the prompt (about four
     * characters a token) and the most the reply may take. */
    rq->call.tokens = (double)rq->ro.messages_json_len / 4.0 +
                      (double)(rq->ro.max_tokens > 0 ? rq->ro.max_tokens : 64);
    rq->call.url = rq->ro.call_url;
    rq->call.body = rq->ro.upstream_body;
    rq->call.body_len = rq->ro.upstream_body_len;
    rq->call.headers = rq->headers;
    rq->call.deadline = now_ms() + (int64_t)(rq->ro.max_time_s * 1000.0);
    rq->call.done = on_upcall_done;
    rq->call.arg = rq;
    rq->state = ST_PARKED;
    int cached = s->cache && (s->cfg->cache_mode == 2 || rq->ro.temperature_zero);
    if (cached) {
        rq->ckey = cache_key_for(rq->ro.call_url, rq->ro.upstream_body, rq->ro.upstream_body_len);
        char *hit;
        size_t len;
        if (cache_get(s->cache, rq->ckey, &hit, &len)) {
            /* Answered from the cache: no upstream call at all. */
            rq->cache_state = "hit";
            rq->call.result = UPCALL_HTTP;
            rq->call.status = 200;
            buf_append(&rq->call.reply, hit, len);
            free(hit);
            rq->call.started = rq->call.finished = now_ms();
            return finish_rollout(rq);
        }
    }
    /* Suspend first: the call may finish (and resume) before we return. */
    MHD_suspend_connection(rq->conn);
    if (cached) {
        if (cache_join(s->cache, rq->ckey, rq)) {
            /* The same call is already running: wait for its reply. */
            rq->cache_state = "shared";
            cache_count(s->cache, 0, 1);
            return MHD_YES;
        }
        rq->cache_state = "miss";
        rq->leader = 1;
        cache_count(s->cache, 1, 0);
    }
    upstream_submit(s->up, &rq->call);
    return MHD_YES;
}

/* The leader of a shared call hands its result to the requests that waited
 * for it (a copy each) and wakes them; they answer on their own threads. */
static void share_with_waiters(struct request *rq)
{
    if (rq->shared)
        return;
    rq->shared = 1;
    size_t n;
    void **waiters = cache_finish(rq->srv->cache, rq->ckey, &n);
    for (size_t i = 0; i < n; i++) {
        struct request *w = waiters[i];
        w->call.result = rq->call.result;
        w->call.status = rq->call.status;
        memcpy(w->call.error, rq->call.error, sizeof w->call.error);
        buf_reset(&w->call.reply);
        buf_append(&w->call.reply, rq->call.reply.data ? rq->call.reply.data : "", rq->call.reply.len);
        w->call.attempts = 0;
        w->call.started = w->call.finished = now_ms();
        MHD_resume_connection(w->conn);
    }
    free(waiters);
    /* Waiters on other HTTP threads: libmicrohttpd signals nothing to a
     * daemon run from outside, so wake their threads for a turn. */
    if (n)
        upstream_kick(rq->srv->up);
}

/* The upstream's error message, from {"error":{"message"}} or the raw body. */
static void upstream_message(const upcall *c, char *out, size_t n)
{
    out[0] = '\0';
    json_t *j = jr_parse(c->reply.data ? c->reply.data : "", c->reply.len, 0, NULL);
    json_t *err = json_object_get(j, "error");
    const char *m = json_string_value(json_object_get(err, "message"));
    if (!m)
        m = json_string_value(err);
    if (!m)
        m = json_string_value(json_object_get(j, "detail"));
    if (m) {
        snprintf(out, n, ": %s", m);
    } else if (c->reply.len) {
        snprintf(out, n, ": %.*s", (int)(c->reply.len < 200 ? c->reply.len : 200), c->reply.data);
    }
    json_decref(j);
}

/* 503 with Retry-After for a rollout the LLM account's limits did not let
 * through in time (refused: the LLM itself kept answering 429): the
 * caller's cue to slow down, not a failure of the prompt. */
static enum MHD_Result reply_rate_limited(struct request *rq, const upcall *c, int refused)
{
    int64_t ms = c->retry_after_ms > 1000 ? c->retry_after_ms : 1000;
    char ra[24];
    snprintf(ra, sizeof ra, "%lld", (long long)((ms + 999) / 1000));
    char msg[400];
    if (refused)
        upstream_message(c, msg, sizeof msg);
    log_warn("rollout %s: %s; answered 503, Retry-After %s", rq->ro.run_id,
             refused ? "the LLM kept refusing (429)" : c->error, ra);
    json_t *body = refused ? detail("the LLM at %s is rate-limiting: HTTP 429 after %d attempts%s; "
                                    "retry after %s s",
                                    rq->ro.call_url, c->attempts, msg, ra)
                           : detail("%s; retry after %s s", c->error, ra);
    json_object_set_new(body, "error", json_pack("{s:s,s:I}", "code", "rate_limited",
                                                 "retry_after_ms", (json_int_t)ms));
    return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE, body, MHD_HTTP_HEADER_RETRY_AFTER, ra, NULL);
}

static enum MHD_Result finish_rollout(struct request *rq)
{
    upcall *c = &rq->call;
    rollout *ro = &rq->ro;
    metrics *mt = rq->srv->metrics;
    char msg[400];
    char outcome[16];
    int own_call = !rq->cache_state || rq->leader;
    /* The reply is parsed once, here: a usable one is what the cache keeps. */
    int ok_status = c->result == UPCALL_HTTP && c->status >= 200 && c->status < 300;
    llm_reply r;
    extract_labels labels = dataset_extract_labels(rq->srv->ds);
    int parsed = ok_status && reply_parse(c->reply.data ? c->reply.data : "", c->reply.len,
                                          ro->mode, &labels, &r, msg, sizeof msg) == 0;
    if (rq->leader) {
        /* Store before waking the waiters, so that a request arriving in
         * between finds it in the cache. */
        if (parsed)
            cache_put(rq->srv->cache, rq->ckey, c->reply.data, c->reply.len);
        share_with_waiters(rq);
    }
    if (!ok_status && adapt_and_resend(rq))
        return MHD_YES;
    if (c->result == UPCALL_HTTP)
        snprintf(outcome, sizeof outcome, "%ld", c->status);
    if (own_call)
        metrics_upstream(mt, c->attempts,
                     c->result == UPCALL_DEADLINE    ? "deadline"
                     : c->result == UPCALL_ABORTED   ? "aborted"
                     : c->result == UPCALL_TRANSPORT ? "transport"
                     : c->result == UPCALL_THROTTLED ? "throttled"
                     : ok_status                     ? "ok"
                                                     : outcome,
                     c->finished - c->started);
    switch (c->result) {
    case UPCALL_DEADLINE:
        log_warn("rollout %s: deadline of %.1f s passed after %d LLM attempts", ro->run_id,
                 ro->max_time_s, c->attempts);
        return reply(rq, MHD_HTTP_GATEWAY_TIMEOUT,
                     detail("the rollout's deadline of %.1f s passed while waiting for the LLM at "
                            "%s (%d attempts)",
                            ro->max_time_s, ro->call_url, c->attempts),
                     NULL);
    case UPCALL_ABORTED:
        return reply(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                     detail("the server is shutting down; the LLM call was abandoned"),
                     MHD_HTTP_HEADER_RETRY_AFTER, RETRY_AFTER_BUSY, NULL);
    case UPCALL_TRANSPORT:
        log_warn("rollout %s: LLM call failed after %d attempts: %s", ro->run_id, c->attempts,
                 c->error);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM call to %s failed after %d attempts: %s", ro->call_url,
                            c->attempts, c->error),
                     NULL);
    case UPCALL_THROTTLED:
        return reply_rate_limited(rq, c, 0);
    case UPCALL_HTTP:
        break;
    }
    if (c->status == 429)
        return reply_rate_limited(rq, c, 1);
    if (!ok_status) {
        upstream_message(c, msg, sizeof msg);
        log_warn("rollout %s: LLM returned HTTP %ld after %d attempts", ro->run_id, c->status,
                 c->attempts);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM at %s returned HTTP %ld after %d attempts%s", ro->call_url,
                            c->status, c->attempts, msg),
                     NULL);
    }
    if (!parsed) {
        log_warn("rollout %s: %s", ro->run_id, msg);
        return reply(rq, MHD_HTTP_BAD_GATEWAY,
                     detail("LLM at %s returned HTTP %ld but %s", ro->call_url, c->status, msg),
                     NULL);
    }
    if (own_call) /* a reply from the cache or another call cost no tokens */
        metrics_tokens(mt, (long)json_integer_value(json_object_get(r.usage, "prompt_tokens")),
                       (long)json_integer_value(json_object_get(r.usage, "completion_tokens")),
                       (long)json_integer_value(json_object_get(r.usage, "total_tokens")));
    const char *label = dataset_label_name(rq->srv->ds, dataset_label(rq->srv->ds, ro->split, ro->row));
    metrics_rollout(mt, reply_matches(r.predicted, label), r.predicted != NULL);
    rollout_stats st = {.attempts = c->attempts, .llm_ms = c->finished - c->started,
                        .cache = rq->cache_state ? rq->cache_state : "off"};
    char *text = rollout_response_text(ro, rq->srv->ds, &r, &st);
    reply_free(&r);
    return reply_text(rq, MHD_HTTP_OK, text, NULL);
}

/* ---- MHD callbacks ------------------------------------------------------ */

struct auth_scan {
    const auth *auth;
    const char *key;
};

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *name,
                                   const char *value)
{
    (void)kind;
    struct auth_scan *a = cls;
    const char *k = auth_check_header(a->auth, name, value);
    if (k && !a->key)
        a->key = k;
    return MHD_YES;
}

static int find_route(const char *path, size_t *index)
{
    for (size_t i = 0; i < B77_ARRAY_LEN(routes); i++)
        if (strcmp(path, routes[i].path) == 0) {
            *index = i;
            return 1;
        }
    return 0;
}

static int method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allow; *p;) {
        size_t k = strcspn(p, ",");
        if (k == n && memcmp(p, method, n) == 0)
            return 1;
        p += k;
        p += strspn(p, ", ");
    }
    return 0;
}

/* The room to reserve for a body whose first chunk has `first` bytes: its
 * Content-Length, within the body cap (else the chunk). */
static size_t body_size_hint(struct request *rq, size_t first)
{
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
    if (n > rq->srv->cfg->max_body)
        n = rq->srv->cfg->max_body;
    return n > first ? (size_t)n : first;
}

/* Called once the request has been read in full: answers it, or parks it. */
static enum MHD_Result dispatch(struct request *rq)
{
    server *s = rq->srv;
    switch (routes[rq->route].route) {
    case ROUTE_ROOT:
        return reply(rq, MHD_HTTP_OK, json_pack("{s:s,s:s}", "status", "ok", "service", "banking77"),
                     NULL);
    case ROUTE_HEALTH:
        return handle_health(rq, 0);
    case ROUTE_HEALTH_ROLLOUT:
        return handle_health(rq, 1);
    case ROUTE_INFO: {
        json_t *info = taskinfo_info(s->ds, s->cfg->default_split);
        json_object_set_new(info, "llm_adaptations", adapt_memo_json(s->adapt));
        json_object_set_new(info, "llm_rate_limits", limits_json(s->limits));
        if (s->cache)
            json_object_set_new(info, "cache_store", cache_store_json(s->cache, 1));
        json_object_set_new(info, "strict_params", json_boolean(!s->adapt));
        return reply(rq, MHD_HTTP_OK, info, NULL);
    }
    case ROUTE_TASK_INFO:
        return handle_task_info(rq);
    case ROUTE_DONE:
        return reply(rq, MHD_HTTP_OK, json_pack("{s:b,s:s}", "ok", 1, "service", "banking77"), NULL);
    case ROUTE_METRICS:
        return reply_metrics(rq);
    case ROUTE_ROLLOUT:
        if (strcmp(rq->method, "OPTIONS") == 0)
            return reply(rq, MHD_HTTP_NO_CONTENT, NULL, MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS", NULL);
        return start_rollout(rq);
    case ROUTE_NONE:
        break;
    }
    return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", "Not Found"), NULL);
}

/* Headers are in: refuse what can be refused before reading a body. The
 * answer itself waits for the end of the request, so that MHD can keep the
 * connection alive. */
static enum MHD_Result on_first_call(struct request *rq)
{
    server *s = rq->srv;
    size_t ri;
    if (!find_route(rq->path, &ri))
        return reply(rq, MHD_HTTP_NOT_FOUND, json_pack("{s:s}", "detail", "Not Found"), NULL);
    if (!method_allowed(routes[ri].allow, rq->method))
        return reply(rq, MHD_HTTP_METHOD_NOT_ALLOWED,
                     detail("method %s not allowed on %s (allowed: %s)", rq->method, rq->path,
                            routes[ri].allow),
                     MHD_HTTP_HEADER_ALLOW, routes[ri].allow, NULL);
    rq->route = ri;
    rq->routed = 1;
    struct auth_scan scan = {.auth = s->auth};
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, scan_header, &scan);
    rq->key = scan.key;
    if (!routes[ri].open) {
        if (!auth_configured(s->auth))
            return reply_no_key(rq);
        if (!rq->key)
            return reply_unauthorized(rq);
    }
    if (routes[ri].route == ROUTE_ROLLOUT) {
        const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg->max_body)
            return reply_too_large(rq);
    }
    rq->state = ST_BODY;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    worker *w = cls;
    server *s = w->srv;
    struct request *rq = *con_cls;
    if (!rq) {
        rq = xcalloc(1, sizeof *rq);
        rq->srv = s;
        rq->worker = w;
        rq->conn = conn;
        rq->start = now_ms();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        rq->path = xstrdup(url);
        *con_cls = rq;
        return on_first_call(rq);
    }
    switch (rq->state) {
    case ST_BODY:
        if (*upload_data_size) {
            /* Only rollouts read their body; other routes discard theirs. */
            if (routes[rq->route].route == ROUTE_ROLLOUT) {
                if (!rq->too_large && rq->body.len + *upload_data_size <= s->cfg->max_body) {
                    if (!rq->body.cap)
                        buf_reserve(&rq->body, body_size_hint(rq, *upload_data_size));
                    buf_append(&rq->body, upload_data, *upload_data_size);
                }
                else
                    rq->too_large = 1; /* keep draining; answer once the body ends */
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        return dispatch(rq);
    case ST_PARKED:
        return finish_rollout(rq);
    case ST_NEW:
    case ST_ANSWERED:
        break;
    }
    /* The body of a request already answered: discard it. */
    *upload_data_size = 0;
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    int64_t ms = now_ms() - rq->start;
    const char *run_id = rq->ro.run_id ? rq->ro.run_id : "-";
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_info("%s %s %d %lldms run_id=%s", rq->method, rq->path, rq->status, (long long)ms,
                 run_id);
    else
        log_info("%s %s %d %lldms run_id=%s (connection ended early: code %d)", rq->method,
                 rq->path, rq->status, (long long)ms, run_id, (int)toe);
    if (!rq->recorded) /* ended before an answer */
        count_request(rq);
    if (rq->leader) /* however this request ended, nobody may wait on it forever */
        share_with_waiters(rq);
    if (rq->counted)
        atomic_fetch_sub(&s->inflight, 1);
    if (rq->headers_owned)
        curl_slist_free_all(rq->headers);
    upcall_reset(&rq->call);
    rollout_free(&rq->ro);
    buf_free(&rq->body);
    free(rq->path);
    free(rq);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("libmicrohttpd: %s", msg);
}

/* ---- start and stop ----------------------------------------------------- */

/* The upstream thread's turn for its daemon (upstream_host.serve). */
static void serve(void *arg)
{
    worker *w = arg;
    if (!w->quiesced && atomic_load(&w->srv->stopping)) {
        MHD_socket fd = MHD_quiesce_daemon(w->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd); /* this daemon's listening socket */
        w->quiesced = 1;
    }
    MHD_run(w->daemon);
}

/* upstream_host.due: when libmicrohttpd must run again (connection
 * timeouts, or data it has read but not yet handled). */
static int64_t serve_due(void *arg)
{
    worker *w = arg;
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(w->daemon, &ms) != MHD_YES)
        return -1;
    return ms > INT32_MAX ? INT32_MAX : (int64_t)ms;
}

/* w's daemon, with a listening socket of its own on addr, in the port's
 * SO_REUSEPORT group. */
static struct MHD_Daemon *start_daemon(worker *w, unsigned flags, const struct sockaddr *addr,
                                       unsigned limit)
{
    server *s = w->srv;
    const server_config *cfg = s->cfg;
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_CONNECTION_LIMIT,
                            limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->idle_timeout_s,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
}

/* Whether something already listens on addr's port. Asked with a plain
 * bind, because with SO_REUSEPORT ours would join the group of another
 * process that set it too (another task app) instead of failing. */
static int port_taken(const struct sockaddr *addr, socklen_t len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; /* the daemon's own bind reports it */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as libmicrohttpd does */
    if (addr->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    int taken = bind(fd, addr, len) != 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

/* Frees what server_start set up: the upstream threads end first, and with
 * them every use of the daemons. Accepts a partly set up server. */
static void server_free(server *s)
{
    upstream_free(s->up);
    s->up = NULL; /* stopping the daemons ends requests: nothing to kick */
    for (size_t i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        if (w->daemon)
            MHD_stop_daemon(w->daemon);
        for (size_t k = 0; k < w->nmemo; k++) {
            free(w->memo[k].origin);
            for (struct curl_slist *l = w->memo[k].list; l != common_headers; l = l->next)
                forget_line(l->data);
        }
    }
    free(s->workers);
    metrics_free(s->metrics);
    cache_free(s->cache);
    adapt_memo_free(s->adapt);
    limits_free(s->limits);
    free(s);
}

/* The daemons, one per HTTP thread; 0 or -1 (logged). Each listens on a
 * socket of its own, all on one port: the kernel spreads connections
 * evenly over them. One socket shared by all goes to whichever thread
 * wakes first, and a burst of 1,024 connections landed 60/40, which made
 * the busier thread the tail of every wave of replies. */
static int start_daemons(server *s, const struct addrinfo *ai)
{
    const server_config *cfg = s->cfg;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned n = (unsigned)s->nworkers;
    unsigned limit = (unsigned)((cfg->max_connections + n - 1) / n);
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    if ((cfg->port != 0 && port_taken(ai->ai_addr, ai->ai_addrlen)) ||
        !(s->workers[0].daemon = start_daemon(&s->workers[0], flags, ai->ai_addr, limit))) {
        log_error("cannot listen on %s:%d (is the port in use? try --port 0 for a free one)",
                  cfg->host, cfg->port);
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->workers[0].daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? (int)info->port : cfg->port;
    /* The others on the port the first one got (--port 0 picks one). */
    if (addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)s->port);
    else
        ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)s->port);
    for (size_t i = 1; i < s->nworkers; i++)
        if (!(s->workers[i].daemon =
                  start_daemon(&s->workers[i], flags, (const struct sockaddr *)&addr, limit))) {
            log_error("cannot start HTTP thread %zu on port %d", i + 1, s->port);
            return -1;
        }
    return 0;
}

server *server_start(const server_config *cfg, const dataset *ds, const auth *a)
{
    server *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->ds = ds;
    s->auth = a;
    s->defaults = (rollout_defaults){
        .llm_url = cfg->llm_url,
        .model = cfg->model,
        .default_split = cfg->default_split,
        .short_user = cfg->short_user,
        .text_only = 1, /* the server writes the messages' text; no tree */
        .tool_choice_function = cfg->tool_choice_function,
        .max_time_cap_s = cfg->max_time_s,
    };
    s->keys = (llm_keys){cfg->openai_key, cfg->groq_key, cfg->llm_api_key};
    s->metrics = metrics_new(route_labels, (int)B77_ARRAY_LEN(route_labels));
    if (!cfg->strict_params) {
        s->adapt = adapt_memo_new();
        s->defaults.adapt_for = memo_bits;
        s->defaults.adapt_arg = s->adapt;
    }
    s->limits = limits_new(cfg->llm_rpm, cfg->llm_tpm, cfg->rate_adapt, cfg->max_inflight);
    s->nworkers = cfg->threads ? cfg->threads : 1;
    s->workers = xcalloc(s->nworkers, sizeof *s->workers);
    for (size_t i = 0; i < s->nworkers; i++)
        s->workers[i].srv = s;
    if (cfg->cache_mode) {
        char err[300];
        s->cache = cache_new(cfg->cache_bytes, cfg->cache_store, err, sizeof err);
        if (!s->cache) {
            log_error("%s", err);
            server_free(s);
            return NULL;
        }
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        log_error("cannot resolve --host %s: %s", cfg->host, gai_strerror(gai));
        server_free(s);
        return NULL;
    }
    int started = start_daemons(s, ai);
    freeaddrinfo(ai);
    if (started != 0) {
        server_free(s);
        return NULL;
    }

    upstream_host *hosts = xcalloc(s->nworkers, sizeof *hosts);
    for (size_t i = 0; i < s->nworkers; i++)
        hosts[i] = (upstream_host){
            .fd = MHD_get_daemon_info(s->workers[i].daemon, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd,
            .serve = serve,
            .due = serve_due,
            .arg = &s->workers[i],
        };
    upstream_opts uo = {
        .threads = (unsigned)s->nworkers, /* each runs one daemon */
        .hosts = hosts,
        .max_connections = cfg->max_inflight,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .call_timeout_ms = cfg->call_timeout_ms,
        .max_retries = cfg->max_retries,
        .max_reply = cfg->max_reply,
        .idle_close_ms = cfg->upstream_idle_s * 1000L,
    };
    s->up = upstream_new(&uo);
    free(hosts);
    if (!s->up || upstream_start(s->up) != 0) {
        server_free(s);
        return NULL;
    }
    return s;
}

int server_port(const server *s)
{
    return s->port;
}

static int wait_idle(server *s, int64_t until)
{
    while (atomic_load(&s->inflight) > 0 && now_ms() < until)
        usleep(10 * 1000);
    return atomic_load(&s->inflight) == 0;
}

void server_stop(server *s, int grace_s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    upstream_kick(s->up); /* each HTTP thread stops accepting (serve) */
    unsigned left = atomic_load(&s->inflight);
    if (left)
        log_info("shutting down: waiting up to %d s for %u rollouts in flight", grace_s, left);
    if (!wait_idle(s, now_ms() + (int64_t)grace_s * 1000)) {
        log_warn("shutting down: %u rollouts still in flight after %d s; abandoning them",
                 atomic_load(&s->inflight), grace_s);
        upstream_abort_all(s->up);
        /* Their 503s still have to be written out. */
        wait_idle(s, now_ms() + 2000);
    }
    server_free(s);
}
