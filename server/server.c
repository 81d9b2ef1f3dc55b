/* server.c: see server.h. The routes table, libmicrohttpd's callbacks
 * (a request's first call, its body, its end), and the daemons' start and
 * stop. The replies, the routes and the rollouts are in the files
 * internal.h names; who owns what is written there. */
#include "internal.h"

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
#include "limits.h"
#include "log.h"
#include "metrics.h"
#include "upstream.h"

/* Per-connection memory for MHD's header parsing and read buffer. Small,
 * because MHD clears it between requests and 1,024 connections multiply it;
 * request bodies go to our own buffer, not into this pool. */
#define CONNECTION_MEMORY (16 * 1024) /* per connection (headers, query arguments); MHD zeroes it per request */

static const struct {
    const char *path;
    enum route route;
    const char *allow; /* the methods, as sent in Allow */
    int open;          /* no key needed */
    int body;          /* its body is read (else discarded) */
} routes[] = {
    {"/", ROUTE_ROOT, "GET, HEAD", 1, 0},
    {"/health", ROUTE_HEALTH, "GET, HEAD", 1, 0},
    {"/health/rollout", ROUTE_HEALTH_ROLLOUT, "GET, HEAD", 1, 0},
    {"/info", ROUTE_INFO, "GET, HEAD", 0, 0},
    {"/task_info", ROUTE_TASK_INFO, "GET, HEAD", 0, 0},
    {"/rollout", ROUTE_ROLLOUT, "POST, OPTIONS", 0, 1},
    {"/done", ROUTE_DONE, "POST", 0, 0},
    {"/metrics", ROUTE_METRICS, "GET, HEAD", 0, 0},
    {"/rollouts", ROUTE_ROLLOUTS, "POST, OPTIONS", 0, 1},
    {"/rollouts/", ROUTE_ROLLOUT_ITEM, "GET, HEAD, POST", 0, 1}, /* a prefix */
    {"/program", ROUTE_PROGRAM, "GET, HEAD", 0, 0},
    {"/metadata", ROUTE_METADATA, "GET, HEAD", 0, 0},
    {"/validate-candidate", ROUTE_VALIDATE, "POST", 0, 1},
};

/* Metric labels: index 0 is "other" (unknown paths), then routes[] in order. */
static const char *const route_labels[] = {
    "other",     "/",          "/health",   "/health/rollout", "/info",
    "/task_info", "/rollout",  "/done",     "/metrics",        "/rollouts",
    "/rollouts/{id}", "/program", "/metadata", "/validate-candidate"};

enum route route_of(const struct request *rq)
{
    return rq->routed ? routes[rq->route].route : ROUTE_NONE;
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
    for (size_t i = 0; i < B77_ARRAY_LEN(routes); i++) {
        size_t n = strlen(routes[i].path);
        int prefix = n > 1 && routes[i].path[n - 1] == '/';
        if (prefix ? strncmp(path, routes[i].path, n) == 0 && path[n]
                   : strcmp(path, routes[i].path) == 0) {
            *index = i;
            return 1;
        }
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
    switch (routes[rq->route].route) {
    case ROUTE_ROOT:
        return reply(rq, MHD_HTTP_OK, json_pack("{s:s,s:s}", "status", "ok", "service", "banking77"),
                     NULL);
    case ROUTE_HEALTH:
        return handle_health(rq, 0);
    case ROUTE_HEALTH_ROLLOUT:
        return handle_health(rq, 1);
    case ROUTE_INFO:
        return handle_info(rq);
    case ROUTE_TASK_INFO:
        return handle_task_info(rq);
    case ROUTE_DONE:
        return reply(rq, MHD_HTTP_OK, json_pack("{s:b,s:s}", "ok", 1, "service", "banking77"), NULL);
    case ROUTE_METRICS:
        return handle_metrics(rq);
    case ROUTE_ROLLOUT:
    case ROUTE_ROLLOUTS:
        if (strcmp(rq->method, "OPTIONS") == 0)
            return reply(rq, MHD_HTTP_NO_CONTENT, NULL, MHD_HTTP_HEADER_ALLOW, "POST, OPTIONS", NULL);
        return start_rollout(rq);
    case ROUTE_ROLLOUT_ITEM:
        return handle_rollout_item(rq);
    case ROUTE_PROGRAM:
        return handle_program(rq);
    case ROUTE_METADATA:
        return handle_info(rq);
    case ROUTE_VALIDATE:
        return handle_validate_candidate(rq);
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
    if (routes[ri].body) {
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
            /* Only the routes that need one read their body; others discard it. */
            if (routes[rq->route].body) {
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
    case ST_WAITING:
        if (rq->woken)
            return finish_waiting(rq);
        return MHD_YES;
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
    (void)cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    int64_t ms = now_ms() - rq->start;
    const char *run_id = rq->ro.run_id ? rq->ro.run_id : rq->rollout_id[0] ? rq->rollout_id : "-";
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        log_info("%s %s %d %lldms run_id=%s", rq->method, rq->path, rq->status, (long long)ms,
                 run_id);
    else
        log_info("%s %s %d %lldms run_id=%s (connection ended early: code %d)", rq->method,
                 rq->path, rq->status, (long long)ms, run_id, (int)toe);
    if (!rq->recorded) /* ended before an answer */
        count_request(rq);
    request_release(rq);
}

void request_release(struct request *rq)
{
    server *s = rq->srv;
    if (rq->leader) /* however this request ended, nobody may wait on it forever */
        share_with_waiters(rq);
    if (rq->counted)
        atomic_fetch_sub(&s->inflight, 1);
    if (rq->waiter.entry)
        rollouts_unwait(s->rollouts, &rq->waiter);
    free(rq->waiter.text);
    if (rq->sse_entry)
        rollouts_release(s->rollouts, rq->sse_entry);
    llm_headers_release(rq);
    upcall_reset(&rq->call);
    rollout_free(&rq->ro);
    json_decref(rq->prepared);
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
    run_ready_jobs(w);
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
    /* No thread runs a request once the loops stop; then the store's
     * thread ends (a fleet store's callbacks resume requests and kick the
     * loops, which must still exist); then the loops go. */
    upstream_stop(s->up);
    cache_close_store(s->cache);
    upstream_free(s->up);
    s->up = NULL; /* stopping the daemons ends requests: nothing to kick */
    for (size_t i = 0; i < s->nworkers; i++) {
        worker *w = &s->workers[i];
        if (w->daemon)
            MHD_stop_daemon(w->daemon);
        llm_headers_free(w);
        pthread_mutex_destroy(&w->ready_mu);
    }
    free(s->workers);
    rollouts_free(s->rollouts);
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
    for (size_t i = 0; i < s->nworkers; i++) {
        s->workers[i].srv = s;
        pthread_mutex_init(&s->workers[i].ready_mu, NULL);
    }
    if (cfg->cache_mode) {
        char err[300];
        s->cache = cache_new(cfg->cache_bytes, cfg->cache_store, (int64_t)cfg->cache_ttl_s * 1000,
                             err, sizeof err);
        if (!s->cache) {
            log_error("%s", err);
            server_free(s);
            return NULL;
        }
    }

    s->rollouts = rollouts_new((int64_t)cfg->rollout_retention_s * 1000, cfg->rollout_bytes,
                               s->cache);

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
