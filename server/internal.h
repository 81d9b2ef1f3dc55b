/* internal.h: what the server's files share: the server, its HTTP threads
 * (workers) and the per-request struct, and the functions each file offers
 * the others. Not for use outside server/.
 *
 * Ownership: a struct request belongs to its MHD connection. It is created on
 * the first call of the access handler and freed only in the
 * MHD_OPTION_NOTIFY_COMPLETED callback. While a rollout is parked (the
 * connection suspended), the upstream loop borrows rq->call; its done
 * callback only resumes the connection, and the response is built when MHD
 * calls the handler again. All of it happens on the one thread that runs
 * the connection's daemon and that daemon's upstream loop. */
#ifndef B77_SERVER_INTERNAL_H
#define B77_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "adapt.h"
#include "auth.h"
#include "cache.h"
#include "config.h"
#include "limits.h"
#include "llmurl.h"
#include "metrics.h"
#include "rollout.h"
#include "rollouts.h"
#include "server.h"
#include "upstream.h"

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
    pthread_mutex_t ready_mu; /* guards ready: any thread may wake a job */
    struct request *ready;    /* jobs whose calls came back, run in serve */
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
    rollouts *rollouts; /* POST /rollouts by rollout_id (shared; own lock) */
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
    ROUTE_ROLLOUTS,
    ROUTE_ROLLOUT_ITEM, /* /rollouts/{id}[/state|/events|/stream|/terminate] */
    ROUTE_PROGRAM,
    ROUTE_METADATA,
    ROUTE_VALIDATE,
};

/* ST_WAITING: a POST /rollouts connection parked on its registry entry. */
enum state { ST_NEW, ST_BODY, ST_PARKED, ST_WAITING, ST_ANSWERED };

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
    /* The fleet's one call (a store shared by hosts, store.h): the leader
     * asks the store before calling. Set by the store's thread while the
     * request is parked, read by its worker after it is resumed. */
    int claiming;                  /* parked on store_claim's answer */
    enum store_claim claim_result;
    int claim_waited;
    int fleet_lock;  /* holds the fleet's lock on ckey: release it when done */
    int fleet_found; /* the reply came from another process: no call was made */

    /* POST /rollouts (rollouts_handler.c). A job is a request with conn
     * NULL: its reply goes to entry. */
    ro_entry *entry;         /* a job's registry entry (a reference) */
    json_t *prepared;        /* a job's POST /rollout body, a tree (owned): read, not body */
    struct request *ready_next; /* on its worker's ready list */
    ro_waiter waiter;        /* a connection waiting on an entry */
    int woken;               /* ...and woken */
    int replay;              /* ...for another request's result */
    ro_entry *sse_entry;     /* an event stream's entry (a reference) */
    unsigned sse_cursor;     /* the last event sent */
    char rollout_id[CONTRACT_ROLLOUT_ID_MAX + 1]; /* for the log */
};

/* ---- respond.c: the one reply path ---------------------------------------- */

/* Sends text (a JSON document, owned; NULL means it could not be encoded:
 * a 500) with status and extra header pairs (name, value, ..., NULL). */
enum MHD_Result reply_text(struct request *rq, unsigned status, char *text, ...);
/* The same for a JSON body (stolen); NULL body: no body (a 204). */
enum MHD_Result reply(struct request *rq, unsigned status, json_t *body, ...);
/* Counts a request whose response MHD queued itself. */
void answered(struct request *rq, unsigned status);
/* Counts rq in /metrics (answered does; a request that ends unanswered too). */
void count_request(struct request *rq);
/* {"detail": the message} (new reference). */
json_t *detail(const char *fmt, ...) B77_PRINTF(1, 2);
enum MHD_Result reply_unauthorized(struct request *rq);
enum MHD_Result reply_no_key(struct request *rq);
enum MHD_Result reply_too_large(struct request *rq);
/* Queues a prepared response (a stream, say) with this content type. */
enum MHD_Result reply_response(struct request *rq, unsigned status, struct MHD_Response *resp,
                               const char *content_type);

/* ---- routes.c: health, info, task_info, metrics --------------------------- */

enum MHD_Result handle_health(struct request *rq, int rollout_variant);
enum MHD_Result handle_info(struct request *rq);
enum MHD_Result handle_task_info(struct request *rq);
enum MHD_Result handle_metrics(struct request *rq);
/* /info and /metadata are one document. */

/* ---- llm_headers.c: the headers of an LLM call ---------------------------- */

/* The headers of rq's LLM call (see the memo above); *lim: the account's
 * limiter. */
struct curl_slist *llm_headers(struct request *rq, limiter **lim);
/* Frees a request's own list (headers_owned). */
void llm_headers_release(struct request *rq);
/* Frees a worker's memo. */
void llm_headers_free(worker *w);

/* ---- rollout_handler.c: POST /rollout -------------------------------------- */

/* The request is read: validate, answer from the cache, or park it on the
 * LLM call. */
enum MHD_Result start_rollout(struct request *rq);
/* The call came back (the handler runs again): score and answer. */
enum MHD_Result finish_rollout(struct request *rq);
/* rollout_defaults.adapt_for: the server's memo. */
int memo_bits(void *arg, const char *call_url, const char *model);
/* The leader of a shared call hands its result to the requests waiting for
 * it; also when it ends some other way (nobody may wait forever). */
void share_with_waiters(struct request *rq);
/* The body as JSON (duplicate keys refused; an integer beyond int64 read
 * as a real, so that the field's own check names it). NULL: answered 400. */
json_t *read_json_body(struct request *rq, enum MHD_Result *answered_with);

/* ---- server.c: a request's end ---------------------------------------------- */

/* Frees rq and what it holds (an ended connection's, or a job's end). */
void request_release(struct request *rq);
/* The route rq was matched to. */
enum route route_of(const struct request *rq);

/* ---- rollouts_handler.c: POST /rollouts and the routes of the newest contract */

/* A parked request goes on: its connection resumes, or a job is queued on
 * its worker's ready list. Thread-safe. */
void request_resume(struct request *rq);
void request_suspend(struct request *rq);
/* A job's reply (its vreply_text): the entry's result. text owned. */
void job_deliver(struct request *job, unsigned status, json_t *doc);
/* Runs w's jobs whose calls came back (w's thread). */
void run_ready_jobs(worker *w);
/* POST /rollouts (body stolen: the parsed request). */
enum MHD_Result start_rollouts(struct request *rq, json_t *body);
/* A waiting POST /rollouts connection, woken: answer its result. */
enum MHD_Result finish_waiting(struct request *rq);
enum MHD_Result handle_rollout_item(struct request *rq);
enum MHD_Result handle_program(struct request *rq);
enum MHD_Result handle_validate_candidate(struct request *rq);

#endif
