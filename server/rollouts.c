/* rollouts.c: see rollouts.h. A chained hash of entries by rollout id,
 * and the finished ones in a list by finishing time (oldest first out). */
#include "rollouts.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonw.h"
#include "log.h"
#include "sha256.h"

#define MAX_EVENTS 32
#define PERSIST_MAGIC "b77r1 "

enum ro_state { RS_QUEUED, RS_RUNNING, RS_COMPLETED, RS_FAILED, RS_CANCELLED };

static const char *const state_names[] = {"queued", "running", "completed", "failed", "cancelled"};

typedef struct ro_event {
    unsigned seq;
    char *kind;
    char *json; /* the whole event as JSON */
} ro_event;

struct ro_entry {
    contract_request req;
    enum ro_state state;
    unsigned status; /* the result's HTTP status */
    char *text;      /* the result (finished) */
    char *cancel_reason;
    int64_t created_ms, updated_ms; /* wall clock */
    int64_t finished_at;            /* now_ms clock */
    ro_event events[MAX_EVENTS];
    unsigned nevents, seq, dropped_events;
    ro_waiter *waiters;
    void *job;
    int refs; /* the job's, and event streams' */
    size_t bytes;
    ro_entry *hnext;
    ro_entry *fprev, *fnext; /* finished list */
    int listed;
};

struct rollouts {
    pthread_mutex_t mu;
    ro_entry **buckets;
    size_t nbuckets, count;
    ro_entry *fhead, *ftail;
    int64_t retention_ms;
    size_t max_bytes, bytes;
    cache *persist;
    unsigned long pending, started, replayed, conflicts, terminated, evicted;
};

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

rollouts *rollouts_new(int64_t retention_ms, size_t max_bytes, cache *persist)
{
    rollouts *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->nbuckets = 1024;
    r->buckets = xcalloc(r->nbuckets, sizeof *r->buckets);
    r->retention_ms = retention_ms;
    r->max_bytes = max_bytes;
    r->persist = persist;
    return r;
}

static void entry_free(ro_entry *e)
{
    contract_request_free(&e->req);
    free(e->text);
    free(e->cancel_reason);
    for (unsigned i = 0; i < e->nevents; i++) {
        free(e->events[i].kind);
        free(e->events[i].json);
    }
    free(e);
}

void rollouts_free(rollouts *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nbuckets; i++)
        for (ro_entry *e = r->buckets[i], *n; e; e = n) {
            n = e->hnext;
            entry_free(e);
        }
    free(r->buckets);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static ro_entry *find(rollouts *r, const char *id)
{
    for (ro_entry *e = r->buckets[hash_id(id) & (r->nbuckets - 1)]; e; e = e->hnext)
        if (strcmp(e->req.rollout_id, id) == 0)
            return e;
    return NULL;
}

static void grow(rollouts *r)
{
    size_t n = r->nbuckets * 2;
    ro_entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < r->nbuckets; i++)
        for (ro_entry *e = r->buckets[i], *next; e; e = next) {
            next = e->hnext;
            size_t k = hash_id(e->req.rollout_id) & (n - 1);
            e->hnext = b[k];
            b[k] = e;
        }
    free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

static void unlink_hash(rollouts *r, ro_entry *e)
{
    ro_entry **p = &r->buckets[hash_id(e->req.rollout_id) & (r->nbuckets - 1)];
    while (*p && *p != e)
        p = &(*p)->hnext;
    if (*p)
        *p = e->hnext;
    r->count--;
}

static void unlist(rollouts *r, ro_entry *e)
{
    if (!e->listed)
        return;
    if (e->fprev)
        e->fprev->fnext = e->fnext;
    else
        r->fhead = e->fnext;
    if (e->fnext)
        e->fnext->fprev = e->fprev;
    else
        r->ftail = e->fprev;
    e->fprev = e->fnext = NULL;
    e->listed = 0;
    r->bytes -= e->bytes;
}

static void list_finished(rollouts *r, ro_entry *e)
{
    e->fprev = r->ftail;
    e->fnext = NULL;
    if (r->ftail)
        r->ftail->fnext = e;
    else
        r->fhead = e;
    r->ftail = e;
    e->listed = 1;
    r->bytes += e->bytes;
}

/* Drops finished entries past the retention time or over the memory
 * bound, oldest first; one an event stream still reads is kept. */
static void sweep(rollouts *r)
{
    int64_t now = now_ms();
    for (ro_entry *e = r->fhead, *n; e; e = n) {
        n = e->fnext;
        int expired = now - e->finished_at > r->retention_ms;
        if (!expired && r->bytes <= r->max_bytes)
            break;
        if (e->refs)
            continue;
        unlist(r, e);
        unlink_hash(r, e);
        entry_free(e);
        r->evicted++;
    }
}

static store_key persist_key(const char *id)
{
    store_key k;
    sha256 h;
    sha256_init(&h);
    sha256_update(&h, "b77-rollout\n", 12);
    sha256_update(&h, id, strlen(id));
    sha256_final(&h, k.d);
    return k;
}

static void hex32(const unsigned char d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A result kept in the store: 1 with its fingerprint's hex, status and
 * text (owned) when there is one. */
static int persisted(rollouts *r, const char *id, char fp[65], unsigned *status, char **text)
{
    if (!r->persist)
        return 0;
    char *blob;
    size_t len;
    if (!cache_get(r->persist, persist_key(id), &blob, &len))
        return 0;
    size_t m = strlen(PERSIST_MAGIC);
    int ok = len > m + 64 + 5 && memcmp(blob, PERSIST_MAGIC, m) == 0 && blob[m + 64] == ' ';
    char *nl = ok ? memchr(blob + m + 65, '\n', len - m - 65) : NULL;
    if (!nl) {
        free(blob);
        return 0;
    }
    memcpy(fp, blob + m, 64);
    fp[64] = '\0';
    *status = (unsigned)strtoul(blob + m + 65, NULL, 10);
    *text = xstrdup(nl + 1);
    free(blob);
    return 1;
}

static void persist(rollouts *r, const ro_entry *e)
{
    if (!r->persist)
        return;
    char fp[65];
    hex32(e->req.fingerprint, fp);
    buf b = {0};
    buf_printf(&b, "%s%s %u\n", PERSIST_MAGIC, fp, e->status);
    buf_puts(&b, e->text);
    cache_put(r->persist, persist_key(e->req.rollout_id), b.data, b.len);
    buf_free(&b);
}

static void add_event(ro_entry *e, const char *kind, json_t *data)
{
    char t[32];
    contract_iso_time(wall_ms(), t);
    unsigned seq = ++e->seq;
    json_t *ev = json_pack("{s:I,s:s,s:s,s:s,s:o}", "event_id", (json_int_t)seq, "kind", kind,
                           "rollout_id", e->req.rollout_id, "time", t, "data",
                           data ? data : json_object());
    char *text = jw_dumps(ev);
    json_decref(ev);
    if (!text)
        return;
    if (e->nevents == MAX_EVENTS) { /* keep the first (submitted) and the latest */
        free(e->events[1].kind);
        free(e->events[1].json);
        memmove(&e->events[1], &e->events[2], (MAX_EVENTS - 2) * sizeof e->events[0]);
        e->nevents--;
        e->dropped_events++;
    }
    e->events[e->nevents++] = (ro_event){seq, xstrdup(kind), text};
    e->bytes += strlen(text) + 64;
}

static void add_waiter(ro_entry *e, ro_waiter *w, int for_events)
{
    w->entry = e;
    w->for_events = for_events;
    w->prev = NULL;
    w->next = e->waiters;
    if (e->waiters)
        e->waiters->prev = w;
    e->waiters = w;
    w->park(w);
}

static void remove_waiter(ro_waiter *w)
{
    ro_entry *e = w->entry;
    if (!e)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        e->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->entry = NULL;
}

/* Wakes e's waiters: all (finished), or the event streams only. */
static int wake(ro_entry *e, int finished)
{
    int n = 0;
    for (ro_waiter *w = e->waiters, *next; w; w = next) {
        next = w->next;
        if (!finished && !w->for_events)
            continue;
        remove_waiter(w);
        if (!w->for_events) {
            w->status = e->status;
            w->text = xstrdup(e->text);
        }
        w->wake(w);
        n++;
    }
    return n;
}

static int finished(const ro_entry *e)
{
    return e->state >= RS_COMPLETED;
}

enum ro_begin rollouts_begin(rollouts *r, contract_request *q, void *job, ro_waiter *w,
                             ro_entry **entry, unsigned *status, char **text)
{
    *entry = NULL;
    *text = NULL;
    pthread_mutex_lock(&r->mu);
    ro_entry *e = find(r, q->rollout_id);
    if (!e) {
        /* not in memory: the store may have it from before a restart */
        pthread_mutex_unlock(&r->mu);
        char fp[65], mine[65];
        unsigned st;
        char *t;
        if (persisted(r, q->rollout_id, fp, &st, &t)) {
            hex32(q->fingerprint, mine);
            if (strcmp(fp, mine) != 0) {
                free(t);
                return RO_CONFLICT;
            }
            if (st == 200) {
                *status = st;
                *text = t;
                return RO_DONE;
            }
            free(t);
        }
        pthread_mutex_lock(&r->mu);
        e = find(r, q->rollout_id);
    }
    if (e && memcmp(e->req.fingerprint, q->fingerprint, 32) != 0) {
        pthread_mutex_unlock(&r->mu);
        return RO_CONFLICT;
    }
    if (e && (e->state == RS_COMPLETED || e->state == RS_CANCELLED)) {
        *status = e->status;
        *text = xstrdup(e->text);
        pthread_mutex_unlock(&r->mu);
        return RO_DONE;
    }
    if (e && !finished(e)) {
        enum ro_begin b = RO_PENDING;
        if (w) {
            add_waiter(e, w, 0);
            b = RO_WAITING;
        }
        pthread_mutex_unlock(&r->mu);
        return b;
    }
    if (e) { /* failed before: run it again, as a new entry */
        if (e->refs) { /* an event stream still reads the old one: leave it be */
            unlink_hash(r, e);
            unlist(r, e);
            e->hnext = NULL;
            e->listed = 0;
            /* freed by its last release (see rollouts_release) */
        } else {
            unlist(r, e);
            unlink_hash(r, e);
            entry_free(e);
        }
    }
    e = xcalloc(1, sizeof *e);
    e->req = *q;
    memset(q, 0, sizeof *q);
    e->state = RS_QUEUED;
    e->created_ms = e->updated_ms = wall_ms();
    e->job = job;
    e->refs = 2; /* the job's and the caller's */
    e->bytes = sizeof *e + 256;
    add_event(e, "rollout.submitted", json_pack("{s:s}", "submission_mode",
                                                e->req.async ? "async" : "sync"));
    size_t k = hash_id(e->req.rollout_id) & (r->nbuckets - 1);
    e->hnext = r->buckets[k];
    r->buckets[k] = e;
    if (++r->count > r->nbuckets)
        grow(r);
    r->pending++;
    r->started++;
    sweep(r);
    *entry = e;
    pthread_mutex_unlock(&r->mu);
    return RO_NEW;
}

enum ro_begin rollouts_wait(rollouts *r, ro_entry *e, ro_waiter *w, unsigned *status, char **text)
{
    pthread_mutex_lock(&r->mu);
    enum ro_begin b;
    if (finished(e)) {
        *status = e->status;
        *text = xstrdup(e->text);
        b = RO_DONE;
    } else if (!w) {
        b = RO_PENDING;
    } else {
        add_waiter(e, w, 0);
        b = RO_WAITING;
    }
    pthread_mutex_unlock(&r->mu);
    return b;
}

void rollouts_unwait(rollouts *r, ro_waiter *w)
{
    pthread_mutex_lock(&r->mu);
    remove_waiter(w);
    pthread_mutex_unlock(&r->mu);
}

const contract_request *rollouts_request(const ro_entry *e)
{
    return &e->req;
}

int64_t rollouts_created_ms(const ro_entry *e)
{
    return e->created_ms;
}

int rollouts_event(rollouts *r, ro_entry *e, const char *kind, json_t *data)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    if (!finished(e)) {
        if (strcmp(kind, "llm.call.started") == 0 && e->state == RS_QUEUED)
            e->state = RS_RUNNING;
        e->updated_ms = wall_ms();
        add_event(e, kind, data);
        data = NULL;
        n = wake(e, 0);
    }
    pthread_mutex_unlock(&r->mu);
    json_decref(data);
    return n;
}

/* Drops a reference; frees an entry already out of the table. */
static void release_locked(rollouts *r, ro_entry *e)
{
    if (--e->refs > 0)
        return;
    if (e->state >= RS_COMPLETED && !e->listed && find(r, e->req.rollout_id) != e)
        entry_free(e);
}

int rollouts_finish(rollouts *r, ro_entry *e, unsigned status, char *text, double reward)
{
    pthread_mutex_lock(&r->mu);
    int n = 0;
    e->job = NULL;
    if (e->state == RS_CANCELLED) {
        free(text);
    } else {
        e->state = status == 200 ? RS_COMPLETED : RS_FAILED;
        e->status = status;
        e->text = text;
        e->updated_ms = wall_ms();
        e->finished_at = now_ms();
        e->bytes += strlen(text);
        json_t *d = json_pack("{s:s,s:i}", "status", state_names[e->state], "http_status",
                              (int)status);
        if (status == 200)
            json_object_set_new(d, "outcome_reward", json_real(reward));
        add_event(e, "rollout.finished", d);
        r->pending--;
        if (status == 200)
            persist(r, e);
        n = wake(e, 1);
        if (find(r, e->req.rollout_id) == e)
            list_finished(r, e);
        sweep(r);
    }
    release_locked(r, e);
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The state document (reference: execution_to_state_payload). */
static json_t *state_doc(const ro_entry *e)
{
    char c[32], u[32];
    contract_iso_time(e->created_ms, c);
    contract_iso_time(e->updated_ms, u);
    /* rollout ids are at most 128 characters */
    char status_url[160], events_url[168];
    snprintf(status_url, sizeof status_url, "/rollouts/%s", e->req.rollout_id);
    snprintf(events_url, sizeof events_url, "/rollouts/%s/events", e->req.rollout_id);
    json_t *d = json_pack(
        "{s:s,s:s,s:o,s:s,s:o,s:s,s:s,s:s,s:b,s:n,s:o,s:{s:b,s:b,s:b,s:b},s:{s:s,s:s,s:b,s:b},"
        "s:s,s:b,s:{s:i,s:i,s:n,s:o,s:[],s:[]},s:[],s:{},s:{},s:b,s:I,s:s,s:s}",
        "rollout_id", e->req.rollout_id, "trace_correlation_id", e->req.trace_correlation_id,
        "trial_id", e->req.trial_id ? json_string(e->req.trial_id) : json_null(), "status",
        state_names[e->state], "success_status",
        e->state == RS_COMPLETED ? json_string("success")
        : e->state >= RS_FAILED  ? json_string(contract_success_status(e->status ? e->status : 500))
                                 : json_null(),
        "status_detail", state_names[e->state], "created_at", c, "updated_at", u,
        "checkpoint_available", 0, "checkpoint", "termination",
        e->cancel_reason ? json_pack("{s:s}", "reason", e->cancel_reason) : json_object(),
        "control", "pause_supported", 0, "terminate_supported", 1, "resume_supported", 0,
        "checkpoint_supported", 0, "resume_semantics", "mode", "unsupported",
        "checkpoint_semantics", "none", "supports_branching", 0, "true_environment_snapshot", 0,
        "reward_source", "environment", "proxy_rewards", 0, "progress", "step_count",
        e->state == RS_COMPLETED ? 1 : 0, "agent_turn_count", e->state == RS_COMPLETED ? 1 : 0,
        "wall_clock_seconds", "reward", json_null(), "goal_signals", "stall_signals",
        "artifacts", "env_state", "metadata", "started", 1, "event_count", (json_int_t)e->seq,
        "status_url", status_url, "events_url", events_url);
    return d;
}

int rollouts_terminate(rollouts *r, const char *id, const char *reason,
                       void (*cancel)(void *job), json_t **doc, int *woke)
{
    *woke = 0;
    pthread_mutex_lock(&r->mu);
    ro_entry *e = find(r, id);
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    if (!finished(e)) {
        e->state = RS_CANCELLED;
        e->status = 200;
        e->cancel_reason = xstrdup(reason ? reason : "terminated by request");
        e->updated_ms = wall_ms();
        e->finished_at = now_ms();
        add_event(e, "rollout.finished",
                  json_pack("{s:s,s:s}", "status", "cancelled", "reason", e->cancel_reason));
        json_t *d = state_doc(e);
        json_object_set_new(d, "replayed", json_false());
        e->text = jw_dumps(d);
        json_decref(d);
        e->bytes += e->text ? strlen(e->text) : 0;
        if (!e->text)
            e->text = xstrdup("{}");
        r->pending--;
        r->terminated++;
        if (e->job && cancel)
            cancel(e->job);
        *woke = wake(e, 1);
        list_finished(r, e);
    }
    *doc = state_doc(e);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

int rollouts_get(rollouts *r, const char *id, int state_only, unsigned *status, char **text)
{
    pthread_mutex_lock(&r->mu);
    ro_entry *e = find(r, id);
    if (e) {
        if (finished(e) && !state_only) {
            *status = e->status;
            *text = xstrdup(e->text);
        } else {
            json_t *d = state_doc(e);
            *status = 200;
            *text = jw_dumps(d);
            json_decref(d);
        }
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    pthread_mutex_unlock(&r->mu);
    char fp[65];
    unsigned st;
    char *t;
    if (!persisted(r, id, fp, &st, &t))
        return -1;
    if (state_only) {
        json_t *res = json_loads(t, 0, NULL);
        free(t);
        json_t *d = json_pack("{s:s,s:O?,s:s,s:s,s:b}", "rollout_id", id, "trace_correlation_id",
                              json_object_get(res, "trace_correlation_id"), "status", "completed",
                              "success_status", "success", "started", 1);
        t = jw_dumps(d);
        json_decref(d);
        json_decref(res);
    }
    *status = st;
    *text = t;
    return 0;
}

int rollouts_events(rollouts *r, const char *id, unsigned after, unsigned limit, json_t **doc)
{
    pthread_mutex_lock(&r->mu);
    ro_entry *e = find(r, id);
    if (!e) {
        pthread_mutex_unlock(&r->mu);
        return -1;
    }
    json_t *evs = json_array();
    unsigned next = after, n = 0, more = 0;
    for (unsigned i = 0; i < e->nevents; i++) {
        if (e->events[i].seq <= after)
            continue;
        if (n == limit) {
            more = 1;
            break;
        }
        json_t *ev = json_loads(e->events[i].json, 0, NULL);
        if (ev)
            json_array_append_new(evs, ev);
        next = e->events[i].seq;
        n++;
    }
    *doc = json_pack("{s:s,s:s,s:{s:s,s:I,s:I,s:b,s:I,s:b},s:o,s:I}", "rollout_id", id,
                     "stream_id", "", "cursor", "kind", "sequence", "after", (json_int_t)after,
                     "high_water", (json_int_t)e->seq, "closed", finished(e), "next",
                     (json_int_t)next, "has_more", more, "events", evs, "dropped_events",
                     (json_int_t)e->dropped_events);
    char sid[200];
    snprintf(sid, sizeof sid, "stream:%s", id);
    json_object_set_new(*doc, "stream_id", json_string(sid));
    pthread_mutex_unlock(&r->mu);
    return 0;
}

ro_entry *rollouts_acquire(rollouts *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    ro_entry *e = find(r, id);
    if (e)
        e->refs++;
    pthread_mutex_unlock(&r->mu);
    return e;
}

void rollouts_release(rollouts *r, ro_entry *e)
{
    pthread_mutex_lock(&r->mu);
    release_locked(r, e);
    pthread_mutex_unlock(&r->mu);
}

long rollouts_sse(rollouts *r, ro_entry *e, unsigned *cursor, char *out, size_t max,
                  ro_waiter *w)
{
    pthread_mutex_lock(&r->mu);
    size_t used = 0;
    for (unsigned i = 0; i < e->nevents; i++) {
        const ro_event *ev = &e->events[i];
        if (ev->seq <= *cursor)
            continue;
        char head[96];
        int hn = snprintf(head, sizeof head, "id: %u\nevent: %s\ndata: ", ev->seq, ev->kind);
        size_t need = (size_t)hn + strlen(ev->json) + 2;
        if (used + need > max) {
            if (used == 0) { /* larger than the whole block: skip it, say so */
                int k = snprintf(out, max, "id: %u\nevent: %s\ndata: {}\n\n", ev->seq, ev->kind);
                used = k > 0 && (size_t)k < max ? (size_t)k : 0;
                *cursor = ev->seq;
            }
            break;
        }
        memcpy(out + used, head, (size_t)hn);
        used += (size_t)hn;
        memcpy(out + used, ev->json, strlen(ev->json));
        used += strlen(ev->json);
        out[used++] = '\n';
        out[used++] = '\n';
        *cursor = ev->seq;
    }
    long rc = (long)used;
    if (used == 0) {
        if (finished(e))
            rc = -1;
        else
            add_waiter(e, w, 1);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

rollouts_stats rollouts_get_stats(rollouts *r)
{
    pthread_mutex_lock(&r->mu);
    rollouts_stats s = {.pending = r->pending, .kept = r->count - r->pending,
                        .started = r->started, .replayed = r->replayed,
                        .conflicts = r->conflicts, .terminated = r->terminated,
                        .evicted = r->evicted, .bytes = r->bytes};
    pthread_mutex_unlock(&r->mu);
    return s;
}

void rollouts_count(rollouts *r, int replayed, int conflict)
{
    pthread_mutex_lock(&r->mu);
    r->replayed += (unsigned long)replayed;
    r->conflicts += (unsigned long)conflict;
    pthread_mutex_unlock(&r->mu);
}

void rollouts_metrics(rollouts *r, buf *out)
{
    rollouts_stats s = rollouts_get_stats(r);
    buf_printf(out,
               "# HELP b77_rollouts_pending POST /rollouts rollouts queued or running.\n"
               "# TYPE b77_rollouts_pending gauge\nb77_rollouts_pending %lu\n"
               "# HELP b77_rollouts_kept Finished rollouts kept for replay.\n"
               "# TYPE b77_rollouts_kept gauge\nb77_rollouts_kept %lu\n"
               "# HELP b77_rollouts_kept_bytes Memory the kept rollouts hold.\n"
               "# TYPE b77_rollouts_kept_bytes gauge\nb77_rollouts_kept_bytes %zu\n"
               "# HELP b77_rollouts_started_total Rollouts started by POST /rollouts.\n"
               "# TYPE b77_rollouts_started_total counter\nb77_rollouts_started_total %lu\n"
               "# HELP b77_rollouts_replayed_total Repeated rollout ids answered without a new "
               "run.\n# TYPE b77_rollouts_replayed_total counter\n"
               "b77_rollouts_replayed_total %lu\n"
               "# HELP b77_rollouts_conflicts_total Rollout ids reused with another request "
               "(409).\n# TYPE b77_rollouts_conflicts_total counter\n"
               "b77_rollouts_conflicts_total %lu\n"
               "# HELP b77_rollouts_terminated_total Rollouts terminated before they finished.\n"
               "# TYPE b77_rollouts_terminated_total counter\n"
               "b77_rollouts_terminated_total %lu\n"
               "# HELP b77_rollouts_evicted_total Finished rollouts dropped (retention, memory).\n"
               "# TYPE b77_rollouts_evicted_total counter\nb77_rollouts_evicted_total %lu\n",
               s.pending, s.kept, s.bytes, s.started, s.replayed, s.conflicts, s.terminated,
               s.evicted);
}
