/* mock-llm: an OpenAI-compatible chat-completions server for tests,
 * benchmarks and offline demos. Deterministic answers (see classify.h),
 * latency without holding threads (parked connections resumed by a timer
 * thread), and faults injected by option or per request.
 *
 * Ownership: a struct mreq belongs to its MHD connection and is freed in the
 * completion callback. While parked, the timer thread holds a pointer in its
 * heap and only calls MHD_resume_connection on it. */
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "classify.h"
#include "dataset.h"
#include "dataset_load.h"
#include "limits.h"
#include "quirks.h"
#include "log.h"
#include "util.h"

#define MAX_BODY (8 * 1024 * 1024)
#define HANG_MS (3600 * 1000)
#define ATTEMPT_SLOTS 65536 /* bodies remembered for "*N" faults */

enum fault {
    F_NONE, F_400, F_429, F_500, F_502, F_503, F_MALFORMED, F_WRONG_TOOL, F_NO_INTENT, F_TRUNCATED,
    F_HANG, F_RESET, F_TRICKLE,
};

static const struct {
    const char *name;
    enum fault f;
} fault_names[] = {
    {"400", F_400}, {"429", F_429}, {"500", F_500}, {"502", F_502}, {"503", F_503},
    {"malformed", F_MALFORMED}, {"wrong_tool", F_WRONG_TOOL}, {"no_intent", F_NO_INTENT},
    {"truncated", F_TRUNCATED}, {"hang", F_HANG}, {"reset", F_RESET},
    {"trickle", F_TRICKLE},
};

/* A fault description: KIND[:ARG][*N] (N: only the first N attempts of the
 * same request body fail). */
struct fault_spec {
    enum fault f;
    long arg;    /* 429: Retry-After seconds (-1: no header) */
    long times;  /* 0: every attempt */
};

static struct {
    const char *host;
    int port;
    long latency_ms;
    struct fault_spec fault;
    double fault_rate;
    unsigned threads;
    int fixed; /* one canned reply, the body unread: an upstream that costs nothing */
    const char *data_dir; /* the dataset the simulated model knows */
    int quirks;           /* quirks.h */
    long rpm, tpm;        /* limits.h; 0: none */
    int ratelimit_headers;
} opt = {"127.0.0.1", 0, 0, {F_NONE, -1, 0}, 1.0, 2, 0, NULL, 0, 0, 0, 1};

/* The simulated model: built before the daemon starts, read-only after. */
static sim *sim_model;

#define FIXED_REPLY                                                                              \
    "{\"id\":\"chatcmpl-fixed\",\"object\":\"chat.completion\",\"created\":0,\"model\":\"mock\","   \
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{" \
    "\"id\":\"call_0\",\"type\":\"function\",\"function\":{\"name\":\"banking77_classify\","         \
    "\"arguments\":\"{\\\"intent\\\":\\\"card_arrival\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}],"      \
    "\"usage\":{\"prompt_tokens\":600,\"completion_tokens\":8,\"total_tokens\":608}}"

/* What GET /mock/stats reports: how many completions were asked for, and
 * the credential headers of the last one (so tests can check what a client
 * sends; this is a mock, it holds no real secret). */
static atomic_long completions;
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_x_api_key[256], last_authorization[256];

static pthread_mutex_t attempts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    uint64_t h;
    long n;
} attempts[ATTEMPT_SLOTS];

struct mreq {
    struct MHD_Connection *conn;
    buf body;
    int too_large;
    int answered;
    int parked;
    unsigned status;
    char *resp;
    int retry_after; /* -1: none */
    int truncated;
    int trickle_ms; /* > 0: send the body a few bytes at a time, this far apart */
    int64_t next_chunk;
    int reset;
    int64_t due;
    mock_limit_result rl; /* --rpm/--tpm: what to tell about the limits */
};

/* ---- the timer: parked requests, earliest due first --------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct mreq **heap;
    size_t n, cap;
    int stop;
    int flush; /* shutting down: release everything now */
} timer = {.lock = PTHREAD_MUTEX_INITIALIZER}; /* cond: pthread_cond_init in main */

static void heap_push(struct mreq *r)
{
    if (timer.n == timer.cap) {
        timer.cap = timer.cap ? timer.cap * 2 : 1024;
        timer.heap = xrealloc(timer.heap, timer.cap * sizeof *timer.heap);
    }
    size_t i = timer.n++;
    while (i > 0 && timer.heap[(i - 1) / 2]->due > r->due) {
        timer.heap[i] = timer.heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    timer.heap[i] = r;
}

static struct mreq *heap_pop(void)
{
    struct mreq *top = timer.heap[0], *last = timer.heap[--timer.n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= timer.n)
            break;
        if (c + 1 < timer.n && timer.heap[c + 1]->due < timer.heap[c]->due)
            c++;
        if (last->due <= timer.heap[c]->due)
            break;
        timer.heap[i] = timer.heap[c];
        i = c;
    }
    if (timer.n)
        timer.heap[i] = last;
    return top;
}

static void *timer_run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&timer.lock);
    while (!timer.stop || timer.n) {
        if (timer.n == 0) {
            pthread_cond_wait(&timer.cond, &timer.lock);
            continue;
        }
        int64_t now = now_ms();
        if (!timer.flush && timer.heap[0]->due > now) {
            int64_t due = timer.heap[0]->due;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t wait = due - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&timer.cond, &timer.lock, &ts);
            continue;
        }
        struct mreq *r = heap_pop();
        pthread_mutex_unlock(&timer.lock);
        MHD_resume_connection(r->conn);
        pthread_mutex_lock(&timer.lock);
    }
    pthread_mutex_unlock(&timer.lock);
    return NULL;
}

/* ---- faults ------------------------------------------------------------- */

static int parse_fault(const char *s, size_t n, struct fault_spec *out)
{
    char tmp[64];
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    out->arg = -1;
    out->times = 0;
    char *star = strchr(tmp, '*');
    if (star) {
        *star = '\0';
        out->times = strtol(star + 1, NULL, 10);
        if (out->times <= 0)
            return -1;
    }
    char *colon = strchr(tmp, ':');
    if (colon) {
        *colon = '\0';
        out->arg = strtol(colon + 1, NULL, 10);
    }
    for (size_t i = 0; i < B77_ARRAY_LEN(fault_names); i++)
        if (strcmp(tmp, fault_names[i].name) == 0) {
            out->f = fault_names[i].f;
            return 0;
        }
    if (strcmp(tmp, "none") == 0) {
        out->f = F_NONE;
        return 0;
    }
    return -1;
}

/* How many times this body was seen before (0 on the first attempt). */
static long seen_before(uint64_t h)
{
    pthread_mutex_lock(&attempts_lock);
    size_t i = (size_t)(h % ATTEMPT_SLOTS);
    long n = 0;
    if (attempts[i].h == h) {
        n = attempts[i].n++;
    } else {
        attempts[i].h = h;
        attempts[i].n = 1;
    }
    pthread_mutex_unlock(&attempts_lock);
    return n;
}

/* Directives inside the model name: "mock+fault=429:1*1+latency=200+quirk=no-tools". */
static void model_directives(const char *model, struct fault_spec *f, long *latency, int *quirks)
{
    for (const char *p = strchr(model, '+'); p; p = strchr(p + 1, '+')) {
        const char *d = p + 1;
        size_t n = strcspn(d, "+");
        if (n > 6 && strncmp(d, "fault=", 6) == 0) {
            parse_fault(d + 6, n - 6, f);
        } else if (n > 8 && strncmp(d, "latency=", 8) == 0) {
            *latency = strtol(d + 8, NULL, 10);
        } else if (n > 6 && strncmp(d, "quirk=", 6) == 0) {
            int q = quirks_parse(d + 6, n - 6);
            if (q > 0)
                *quirks |= q;
        }
    }
}

/* ---- answering ---------------------------------------------------------- */

static char *error_body(const char *type, const char *msg)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "message", msg, "type", type);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* A plausible wrong intent for reasoning text to mention. */
static const char *wrong_guess(const char *intent, uint64_t h)
{
    static const char *const guesses[] = {"card_delivery_estimate", "exchange_rate", "top_up_failed",
                                          "card_linking", "pending_transfer"};
    const char *g = guesses[h % B77_ARRAY_LEN(guesses)];
    return strcmp(g, intent) == 0 ? guesses[(h + 1) % B77_ARRAY_LEN(guesses)] : g;
}

static void answer(struct mreq *r, const char *data, size_t len, const char *fault_header,
                   long *latency)
{
    json_error_t jerr;
    json_t *req = json_loadb(data, len, 0, &jerr);
    if (!json_is_object(req)) {
        char msg[300];
        snprintf(msg, sizeof msg, "request body is not a JSON object: %s", req ? "" : jerr.text);
        r->status = 400;
        r->resp = error_body("invalid_request_error", msg);
        json_decref(req);
        return;
    }
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model)
        model = "mock";
    const json_t *messages = json_object_get(req, "messages");
    const json_t *tools = json_object_get(req, "tools");
    int tools_offered = json_array_size(tools) > 0;
    int structured = json_object_get(req, "response_format") != NULL;

    uint64_t h = fnv1a64(data, len, 0);
    struct fault_spec f = {F_NONE, -1, 0};
    if (fault_header)
        parse_fault(fault_header, strlen(fault_header), &f);
    int quirks = opt.quirks;
    model_directives(model, &f, latency, &quirks);
    char *rejected = quirks_reject(quirks, req, model);
    if (rejected) {
        r->status = 400;
        r->resp = rejected;
        json_decref(req);
        return;
    }
    if (quirks & (QUIRK_TEXT_ONLY | QUIRK_JSON_CONTENT | QUIRK_THINK_TAGS))
        tools_offered = 0, structured = 0; /* it answers in its own way */
    if (f.f == F_NONE && opt.fault.f != F_NONE) {
        uint64_t s = h ^ (uint64_t)seen_before(h ^ 0x5bd1e995ULL) * 0x9e3779b97f4a7c15ULL;
        if ((double)(splitmix64(&s) % 1000000) < opt.fault_rate * 1e6)
            f = opt.fault;
    }
    if (f.f != F_NONE && f.times > 0 && seen_before(h) >= f.times)
        f.f = F_NONE;

    r->retry_after = -1;
    switch (f.f) {
    case F_400:
        r->status = 400;
        r->resp = error_body("invalid_request_error",
                             "Invalid 'messages[1]': messages with role 'tool' must be a response to "
                             "a preceding message with 'tool_calls'. (mock-llm fault)");
        json_decref(req);
        return;
    case F_429:
        r->status = 429;
        r->retry_after = (int)f.arg;
        r->resp = error_body("rate_limit_exceeded", "Rate limit reached (mock-llm fault)");
        json_decref(req);
        return;
    case F_500:
    case F_502:
    case F_503:
        r->status = f.f == F_500 ? 500 : f.f == F_502 ? 502 : 503;
        r->resp = error_body("server_error", "The server had an error (mock-llm fault)");
        json_decref(req);
        return;
    case F_MALFORMED:
        r->status = 200;
        r->resp = xstrdup("{\"id\":\"chatcmpl-mock\",\"choices\":[{\"message\":{\"role\":");
        json_decref(req);
        return;
    case F_HANG:
        *latency = HANG_MS;
        break;
    case F_RESET:
        r->reset = 1;
        json_decref(req);
        return;
    case F_TRUNCATED:
        r->truncated = 1;
        break;
    case F_TRICKLE:
        r->trickle_ms = f.arg > 0 ? (int)f.arg : 100;
        break;
    default:
        break;
    }

    mock_answer a;
    mock_answer_for(sim_model, messages, tools_offered, &a);
    size_t prompt_chars = 0;
    for (size_t i = 0; i < json_array_size(messages); i++)
        prompt_chars += json_string_length(json_object_get(json_array_get(messages, i), "content"));
    json_t *msg = NULL;
    const char *finish = "stop";
    long reasoning_tokens = 0;
    if (a.classification)
        msg = quirks_message(quirks, a.intent, wrong_guess(a.intent, h), &reasoning_tokens);
    if (msg) {
        /* the quirk's own shape */
    } else if (a.classification && tools_offered) {
        const char *tool = json_string_value(
            json_object_get(json_object_get(json_array_get(tools, 0), "function"), "name"));
        json_t *args = f.f == F_NO_INTENT ? json_pack("{s:s}", "label", a.intent)
                                          : json_pack("{s:s}", "intent", a.intent);
        char *args_s = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        char call_id[32];
        snprintf(call_id, sizeof call_id, "call_%016llx", (unsigned long long)h);
        msg = json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role", "assistant", "content",
                        "tool_calls", "id", call_id, "type", "function", "function", "name",
                        f.f == F_WRONG_TOOL ? "lookup_account" : (tool ? tool : "classify"),
                        "arguments", args_s);
        free(args_s);
        finish = "tool_calls";
    } else if (a.classification && structured) {
        json_t *c = json_pack("{s:s}", f.f == F_NO_INTENT ? "label" : "intent", a.intent);
        char *cs = json_dumps(c, JSON_COMPACT);
        json_decref(c);
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content", cs);
        free(cs);
    } else {
        msg = json_pack("{s:s,s:s}", "role", "assistant", "content",
                        a.classification ? (f.f == F_NO_INTENT ? "" : a.intent) : a.text);
    }
    if (quirks & QUIRK_REASONING) {
        char *rc = xasprintf("The customer could mean %s. Weighing it against %s.",
                             wrong_guess(a.classification ? a.intent : "", h),
                             a.classification ? a.intent : "the request");
        json_object_set_new(msg, "reasoning_content", json_string(rc));
        free(rc);
        reasoning_tokens = 40;
    }
    size_t completion_chars = a.classification ? strlen(a.intent) + 12 : strlen(a.text);
    char id[40];
    snprintf(id, sizeof id, "chatcmpl-mock-%016llx", (unsigned long long)h);
    json_t *resp = json_pack(
        "{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:s}],s:{s:I,s:I,s:I}}", "id", id, "object",
        "chat.completion", "created", (json_int_t)time(NULL), "model", model, "choices", "index",
        0, "message", msg, "finish_reason", finish, "usage", "prompt_tokens",
        (json_int_t)(prompt_chars / 4 + 1), "completion_tokens",
        (json_int_t)(completion_chars / 4 + 1), "total_tokens",
        (json_int_t)(prompt_chars / 4 + completion_chars / 4 + 2));
    if (reasoning_tokens) {
        json_t *u = json_object_get(resp, "usage");
        json_object_set_new(u, "completion_tokens_details",
                            json_pack("{s:I}", "reasoning_tokens", (json_int_t)reasoning_tokens));
        json_object_set_new(u, "completion_tokens",
                            json_integer(json_integer_value(json_object_get(u, "completion_tokens")) +
                                         reasoning_tokens));
        json_object_set_new(u, "total_tokens",
                            json_integer(json_integer_value(json_object_get(u, "total_tokens")) +
                                         reasoning_tokens));
    }
    r->status = 200;
    r->resp = resp ? json_dumps(resp, JSON_COMPACT) : error_body("server_error", "encode failed");
    json_decref(resp);
    mock_answer_free(&a);
    json_decref(req);
}

/* Truncated replies: announce the full length, deliver half, then fail. */
static ssize_t half_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    const char *s = cls;
    size_t half = strlen(s) / 2;
    if (pos >= half)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = half - (size_t)pos < max ? half - (size_t)pos : max;
    memcpy(out, s + pos, n);
    return (ssize_t)n;
}

static void park(struct mreq *r, int64_t due);

/* Slow trickle: TRICKLE_BYTES per chunk; between chunks the connection is
 * parked on the timer (no thread waits, no busy loop). */
#define TRICKLE_BYTES 16
static ssize_t trickle_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct mreq *r = cls;
    size_t len = strlen(r->resp);
    if (pos >= len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    int64_t now = now_ms();
    if (now < r->next_chunk) {
        park(r, r->next_chunk);
        return 0;
    }
    size_t n = len - (size_t)pos;
    if (n > TRICKLE_BYTES)
        n = TRICKLE_BYTES;
    if (n > max)
        n = max;
    memcpy(out, r->resp + pos, n);
    r->next_chunk = now + r->trickle_ms;
    return (ssize_t)n;
}

/* A duration as OpenAI writes its resets: "20ms", "1.5s", "6m0s". */
static void go_duration(char *out, size_t n, int64_t ms)
{
    if (ms < 1000)
        snprintf(out, n, "%lldms", (long long)ms);
    else if (ms < 60000)
        snprintf(out, n, "%.3gs", (double)ms / 1000.0);
    else
        snprintf(out, n, "%lldm%.3gs", (long long)(ms / 60000), (double)(ms % 60000) / 1000.0);
}

/* x-ratelimit-limit-WHAT, -remaining-WHAT and -reset-WHAT. */
static void limit_headers(struct MHD_Response *resp, const char *what, long limit, long remaining,
                          int64_t reset_ms)
{
    char name[48], v[32];
    snprintf(name, sizeof name, "x-ratelimit-limit-%s", what);
    snprintf(v, sizeof v, "%ld", limit);
    MHD_add_response_header(resp, name, v);
    snprintf(name, sizeof name, "x-ratelimit-remaining-%s", what);
    snprintf(v, sizeof v, "%ld", remaining);
    MHD_add_response_header(resp, name, v);
    snprintf(name, sizeof name, "x-ratelimit-reset-%s", what);
    go_duration(v, sizeof v, reset_ms);
    MHD_add_response_header(resp, name, v);
}

static void add_limit_headers(struct MHD_Response *resp, const mock_limit_result *l)
{
    if (l->refused) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)l->retry_after_ms);
        MHD_add_response_header(resp, "retry-after-ms", v);
    }
    if (!l->headers)
        return;
    if (l->limit_requests > 0)
        limit_headers(resp, "requests", l->limit_requests, l->remaining_requests, l->reset_requests_ms);
    if (l->limit_tokens > 0)
        limit_headers(resp, "tokens", l->limit_tokens, l->remaining_tokens, l->reset_tokens_ms);
}

/* What a request costs against --tpm, as OpenAI counts it: the prompt's
 * characters / 4 and the reply's token limit (else what the reply takes,
 * about 8 tokens for an intent). */
static double request_tokens(const char *data, size_t len)
{
    json_t *req = json_loadb(data, len, 0, NULL);
    const json_t *messages = json_object_get(req, "messages");
    size_t chars = 0;
    for (size_t i = 0; i < json_array_size(messages); i++)
        chars += json_string_length(json_object_get(json_array_get(messages, i), "content"));
    json_t *mt = json_object_get(req, "max_completion_tokens");
    if (!json_is_integer(mt))
        mt = json_object_get(req, "max_tokens");
    double t = (double)chars / 4.0 + 1 + (json_is_integer(mt) ? (double)json_integer_value(mt) : 8);
    json_decref(req);
    return t;
}

static enum MHD_Result send_prepared(struct mreq *r)
{
    r->answered = 1;
    if (r->reset)
        return MHD_NO;
    struct MHD_Response *resp;
    if (r->trickle_ms > 0) {
        resp = MHD_create_response_from_callback(strlen(r->resp), TRICKLE_BYTES, trickle_reader, r, NULL);
    } else if (r->truncated) {
        resp = MHD_create_response_from_callback(strlen(r->resp), 4096, half_reader, r->resp, NULL);
    } else {
        resp = MHD_create_response_from_buffer(strlen(r->resp), r->resp, MHD_RESPMEM_MUST_FREE);
        r->resp = NULL; /* MHD frees it */
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->retry_after >= 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    add_limit_headers(resp, &r->rl);
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* Suspends the connection until due (the timer thread resumes it). */
static void park(struct mreq *r, int64_t due)
{
    r->due = due;
    MHD_suspend_connection(r->conn);
    pthread_mutex_lock(&timer.lock);
    heap_push(r);
    pthread_cond_signal(&timer.cond);
    pthread_mutex_unlock(&timer.lock);
}

static enum MHD_Result simple(struct MHD_Connection *conn, unsigned status, const char *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct mreq *r = *con_cls;
    if (!r) {
        r = xcalloc(1, sizeof *r);
        r->conn = conn;
        *con_cls = r;
        return MHD_YES;
    }
    if (r->parked)
        return send_prepared(r);
    if (r->answered) {
        *size = 0;
        return MHD_YES;
    }
    if (*size) {
        if (r->body.len + *size > MAX_BODY)
            r->too_large = 1;
        else
            buf_append(&r->body, data, *size);
        *size = 0;
        return MHD_YES;
    }
    r->answered = 1;
    if (strcmp(url, "/health") == 0 || strcmp(url, "/") == 0)
        return simple(conn, 200, "{\"status\":\"ok\",\"service\":\"mock-llm\"}");
    if (strcmp(url, "/v1/models") == 0)
        return simple(conn, 200,
                      "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":\"model\"}]}");
    if (strcmp(url, "/mock/limits") == 0 && strcmp(method, "POST") == 0) {
        /* {"rpm": N, "tpm": N}: new limits from now on (a provider raising them) */
        json_t *j = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
        json_t *rpm = json_object_get(j, "rpm"), *tpm = json_object_get(j, "tpm");
        int good = json_is_object(j) && (!rpm || json_is_integer(rpm)) && (!tpm || json_is_integer(tpm));
        if (good)
            mock_limits_set(rpm ? (long)json_integer_value(rpm) : opt.rpm,
                            tpm ? (long)json_integer_value(tpm) : opt.tpm, opt.ratelimit_headers);
        json_decref(j);
        return good ? simple(conn, 200, "{\"status\":\"ok\"}")
                    : simple(conn, 400, "{\"error\":{\"message\":\"want {\\\"rpm\\\": N, \\\"tpm\\\": N}\","
                                        "\"type\":\"invalid_request_error\"}}");
    }
    if (strcmp(url, "/mock/stats") == 0) {
        pthread_mutex_lock(&last_lock);
        json_t *j = json_pack("{s:I,s:I,s:s,s:s}", "completions",
                              (json_int_t)atomic_load(&completions), "rate_limited",
                              (json_int_t)mock_limits_refused(), "last_x_api_key", last_x_api_key,
                              "last_authorization", last_authorization);
        pthread_mutex_unlock(&last_lock);
        r->status = 200;
        r->resp = json_dumps(j, JSON_COMPACT);
        r->retry_after = -1;
        json_decref(j);
        return send_prepared(r);
    }
    if (!str_ends_with(url, "/chat/completions"))
        return simple(conn, 404, "{\"error\":{\"message\":\"not found\",\"type\":\"not_found\"}}");
    if (strcmp(method, "POST") != 0)
        return simple(conn, 405, "{\"error\":{\"message\":\"use POST\",\"type\":\"invalid_request_error\"}}");
    if (r->too_large)
        return simple(conn, 413, "{\"error\":{\"message\":\"body too large\",\"type\":\"invalid_request_error\"}}");
    atomic_fetch_add(&completions, 1);
    const char *xk = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-API-Key");
    const char *au = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    pthread_mutex_lock(&last_lock);
    snprintf(last_x_api_key, sizeof last_x_api_key, "%s", xk ? xk : "");
    snprintf(last_authorization, sizeof last_authorization, "%s", au ? au : "");
    pthread_mutex_unlock(&last_lock);
    long latency = opt.latency_ms;
    const char *hdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Mock-Fault");
    if (mock_limits_on()) {
        double tokens = opt.tpm ? request_tokens(r->body.data ? r->body.data : "", r->body.len) : 0;
        mock_limits_charge(now_ms(), tokens, &r->rl);
        if (r->rl.refused) {
            /* refused at once, as providers do */
            r->status = 429;
            r->retry_after = (int)((r->rl.retry_after_ms + 999) / 1000);
            r->resp = error_body("rate_limit_exceeded",
                                 "Rate limit reached for requests (mock-llm --rpm/--tpm); please "
                                 "try again later.");
            return send_prepared(r);
        }
    }
    if (opt.fixed) {
        r->status = 200;
        r->retry_after = -1;
        r->resp = xstrdup(FIXED_REPLY);
    } else {
        answer(r, r->body.data ? r->body.data : "", r->body.len, hdr, &latency);
    }
    if (latency <= 0)
        return send_prepared(r);
    r->parked = 1;
    park(r, now_ms() + latency);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct mreq *r = *con_cls;
    if (!r)
        return;
    buf_free(&r->body);
    free(r->resp);
    free(r);
    *con_cls = NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: mock-llm [OPTIONS]\n"
        "\n"
        "An OpenAI-compatible chat-completions server (POST .../chat/completions) for tests,\n"
        "benchmarks and offline demos. Deterministic. It knows the Banking77 queries and\n"
        "answers them like a small model with headroom: each intent has a base accuracy and\n"
        "a few confusable intents; instructions that tell an intent from its confusables,\n"
        "and demonstrations of the query's intent, raise its accuracy (see the README). Queries\n"
        "it does not know get the intent most similar in words. Prompts that ask for no intent\n"
        "(meta-prompts) get instruction text built from the examples and mistakes they show.\n"
        "It is not an LLM: its scores only show whether optimization works.\n"
        "\n"
        "Options:\n"
        "  --host ADDR         address to listen on (default 127.0.0.1)\n"
        "  --port N            port (default 0: a free one, printed on stderr)\n"
        "  --latency-ms N      delay every reply by N ms (no thread is held)\n"
        "  --fault SPEC        inject a fault into replies (see below)\n"
        "  --fault-rate R      fraction of requests that get --fault, 0..1 (default 1)\n"
        "  --threads N         HTTP threads (default 2)\n"
        "  --data-dir DIR      the dataset (train.csv, test.csv) the model knows (default\n"
        "                      $B77_DATA_DIR, else dataset; without it only word similarity)\n"
        "  --quirk NAMES       behave like a particular LLM server (comma-separated, repeatable):\n"
        "                      no-tools, no-required, no-temperature, completion-tokens-only,\n"
        "                      max-tokens-only, no-response-format, text-only, json-content,\n"
        "                      reasoning, think-tags (also \"+quirk=NAMES\" in the model)\n"
        "  --rpm N             allow N requests a minute (a bucket of one second's worth,\n"
        "                      refilled continuously); beyond: 429 with Retry-After\n"
        "  --tpm N             allow N tokens a minute (prompt characters / 4 + max_tokens)\n"
        "  --no-ratelimit-headers  do not send x-ratelimit-* headers (only Retry-After on 429s)\n"
        "                      (POST /mock/limits {\"rpm\": N, \"tpm\": N} changes the limits)\n"
        "  --fixed             answer every request with one canned tool call, without\n"
        "                      reading it (an upstream that costs nothing, for benchmarks)\n"
        "  --log-level LEVEL   debug, info, warn, error or off (default warn)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Fault SPEC is KIND[:ARG][*N]; with *N only the first N attempts of the same request\n"
        "body fail, so a retrying client then succeeds. KIND is one of\n"
        "  429[:SECONDS]  rate limited, with Retry-After when SECONDS is given\n"
        "  400            a request error that is not about a parameter\n"
        "  500 502 503    server errors\n"
        "  malformed      200 with a body that is not JSON\n"
        "  wrong_tool     a call to a tool other than the one offered\n"
        "  no_intent      tool arguments without \"intent\"\n"
        "  truncated      the connection ends halfway through the body\n"
        "  hang           no reply for an hour\n"
        "  reset          the connection is closed without a reply\n"
        "  trickle[:MS]   the reply arrives 16 bytes at a time, MS (100) apart\n"
        "Per request: header X-Mock-Fault: SPEC, or in the model name:\n"
        "  \"model\": \"mock+fault=429:1*1+latency=200\".\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"host", required_argument, 0, 'H'},      {"port", required_argument, 0, 'p'},
        {"latency-ms", required_argument, 0, 'l'}, {"fault", required_argument, 0, 'f'},
        {"fault-rate", required_argument, 0, 'r'}, {"threads", required_argument, 0, 't'},
        {"log-level", required_argument, 0, 'L'}, {"help", no_argument, 0, 'h'},
        {"fixed", no_argument, 0, 'F'},           {"data-dir", required_argument, 0, 'D'},
        {"quirk", required_argument, 0, 'Q'},     {"rpm", required_argument, 0, 'R'},
        {"tpm", required_argument, 0, 'T'},       {"no-ratelimit-headers", no_argument, 0, 'N'},
        {0, 0, 0, 0},
    };
    log_set_level(LOG_WARN);
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'l': opt.latency_ms = atol(optarg); break;
        case 'f':
            if (parse_fault(optarg, strlen(optarg), &opt.fault) != 0) {
                fprintf(stderr, "mock-llm: unknown --fault \"%s\" (see --help)\n", optarg);
                return 2;
            }
            break;
        case 'r': opt.fault_rate = atof(optarg); break;
        case 't': opt.threads = (unsigned)atoi(optarg); break;
        case 'L': {
            int lvl = log_parse_level(optarg);
            if (lvl < 0) {
                fprintf(stderr, "mock-llm: bad --log-level\n");
                return 2;
            }
            log_set_level((enum log_level)lvl);
            break;
        }
        case 'F': opt.fixed = 1; break;
        case 'D': opt.data_dir = optarg; break;
        case 'Q': {
            int q = quirks_parse(optarg, strlen(optarg));
            if (q < 0) {
                fprintf(stderr, "mock-llm: unknown --quirk \"%s\" (see --help)\n", optarg);
                return 2;
            }
            opt.quirks |= q;
            break;
        }
        case 'R': opt.rpm = atol(optarg); break;
        case 'T': opt.tpm = atol(optarg); break;
        case 'N': opt.ratelimit_headers = 0; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try 'mock-llm --help'.\n"); return 2;
        }
    }
    if (opt.port < 0 || opt.port > 65535 || opt.threads < 1 || opt.threads > 64) {
        fprintf(stderr, "mock-llm: bad --port or --threads\n");
        return 2;
    }
    if (opt.rpm < 0 || opt.tpm < 0) {
        fprintf(stderr, "mock-llm: bad --rpm or --tpm\n");
        return 2;
    }
    mock_limits_set(opt.rpm, opt.tpm, opt.ratelimit_headers);
    json_object_seed(0);
    if (!opt.fixed) {
        const char *dir = opt.data_dir ? opt.data_dir : getenv("B77_DATA_DIR");
        char err[512];
        dataset *ds = dataset_load(dir ? dir : "dataset", 0, err, sizeof err);
        if (ds) {
            sim_model = sim_new(ds);
            dataset_free(ds);
        } else if (opt.data_dir) {
            fprintf(stderr, "mock-llm: %s\n", err);
            return 1;
        } else {
            fprintf(stderr, "mock-llm: no dataset (%s): answering by word similarity only\n", err);
        }
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", opt.port);
    if (getaddrinfo(opt.host, port, &hints, &ai) != 0) {
        fprintf(stderr, "mock-llm: cannot resolve --host %s\n", opt.host);
        return 1;
    }
    pthread_t tt;
    /* The timer's waits end at CLOCK_MONOTONIC deadlines (now_ms's clock);
     * a default condition variable would read them as CLOCK_REALTIME ones,
     * long past, and the timer thread would spin while a reply is parked. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&timer.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_create(&tt, NULL, timer_run, NULL);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)opt.threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)60000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "mock-llm: cannot listen on %s:%d\n", opt.host, opt.port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "listening on http://%s:%u\n", opt.host, info ? info->port : 0);

    int sig;
    sigwait(&sigs, &sig);
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Release every parked reply (hangs included), then give MHD a moment
     * to write them before stopping. */
    pthread_mutex_lock(&timer.lock);
    timer.flush = 1;
    timer.stop = 1;
    pthread_cond_signal(&timer.cond);
    pthread_mutex_unlock(&timer.lock);
    pthread_join(tt, NULL);
    usleep(200 * 1000);
    MHD_stop_daemon(d);
    free(timer.heap);
    sim_free(sim_model);
    return 0;
}
