/* mipro.c: see mipro.h.
 *
 * Determinism: every random choice comes from one splitmix64 stream seeded by
 * the run's seed, drawn in a fixed order that does not depend on timing, so
 * the same seed (0 included) gives the same run. Every rollout and meta-model
 * reply is logged under a hash of its request; --resume replays the run and
 * takes logged results instead of calling again. */
#include "mipro.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "client.h"
#include "dataset.h"
#include "demos.h"
#include "llmurl.h"
#include "prompt.h"
#include "tpe.h"
#include "util.h"

#define MAX_RETRIES 3
#define ROLLOUT_TIMEOUT_MS (10 * 60 * 1000L)
#define META_EXAMPLES 16   /* training examples shown to the meta-model per round */
#define MAX_SETS 256
#define LINE "========================================"

static const char *const tips[] = {
    "Be creative: try a fresh angle on the task.",
    "Keep the instruction simple and clear.",
    "Make the instruction descriptive: explain what distinguishes similar intents.",
    "The stakes are high: make the instruction precise and unambiguous.",
    "Give the model a persona that fits the task.",
};

typedef struct trial {
    int iteration;
    int instr, dset;
    int n, ok;
    double score; /* mean reward over the rollouts that succeeded; NAN when none */
    double seconds, elapsed;
} trial;

typedef struct cached {
    uint64_t key;
    double reward;
    long tokens;
    char *text;
    char *query, *label; /* rollouts: what the example was */
    int used;
} cached;

typedef struct job {
    int64_t seed; /* the row */
    int split;    /* 0 train, 1 test */
    int instr, dset;
    /* results */
    int ok;
    double reward;
    long tokens;
    char *query, *label;
} job;

typedef struct holdout {
    int instr, dset;
    int is_initial;
    double search_mean;
    int search_n;
    double score;
    int n;
} holdout;

typedef struct mipro {
    const mipro_config *cfg;
    mipro_opts opts;
    CURLM *multi;
    char *task_url;
    char *env_key;
    char *policy_url;
    char *meta_url;
    char *meta_model;
    char *results;
    uint64_t rng;
    long seed;
    double t0;
    char job_id[80];
    char started_at[32];
    const char *termination;
    int interrupted;
    int dead; /* the task app stopped answering */
    char dead_msg[400];

    size_t train_n, test_n;
    long budget_boot, budget_search, batch, trials_planned, parallel, startup;
    long rollouts, rollouts_boot, rollouts_search, rollouts_holdout, failed, reused, meta_calls;
    long tokens;
    http_stats hs;

    cached *cache;
    size_t cache_cap, cache_n;
    FILE *log;

    char **instr;
    size_t ninstr;
    demo *pool;
    size_t npool, nboot_ok;
    demo_set *sets;
    size_t nsets;
    trial *trials;
    size_t ntrials;
    holdout *hold;
    size_t nhold;
    int best; /* index into hold, -1 */
} mipro;

/* ---- output ---------------------------------------------------------------- */

static void say(mipro *m, const char *fmt, ...) B77_PRINTF(2, 3);
static void say(mipro *m, const char *fmt, ...)
{
    if (m->opts.quiet || m->opts.jsonl)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* One JSON-lines event (steals ev). */
static void event(mipro *m, json_t *ev)
{
    if (m->opts.jsonl && ev) {
        json_object_set_new(ev, "elapsed_s", json_real(now_wall() - m->t0));
        char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (s)
            printf("%s\n", s);
        free(s);
        fflush(stdout);
    }
    json_decref(ev);
}

static void iso_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the log and cache (resume) ---------------------------------------------- */

static cached *cache_slot(mipro *m, uint64_t key)
{
    if (m->cache_n * 2 >= m->cache_cap) {
        size_t old = m->cache_cap;
        cached *prev = m->cache;
        m->cache_cap = old ? old * 2 : 1024;
        m->cache = xcalloc(m->cache_cap, sizeof(cached));
        m->cache_n = 0;
        for (size_t i = 0; i < old; i++)
            if (prev[i].used) {
                cached *s = cache_slot(m, prev[i].key);
                *s = prev[i];
                m->cache_n++;
            }
        free(prev);
    }
    size_t i = (size_t)(key % m->cache_cap);
    while (m->cache[i].used && m->cache[i].key != key)
        i = (i + 1) % m->cache_cap;
    return &m->cache[i];
}

static cached *cache_get(mipro *m, uint64_t key)
{
    if (!m->cache_cap)
        return NULL;
    cached *c = cache_slot(m, key);
    return c->used ? c : NULL;
}

static void cache_put(mipro *m, uint64_t key, double reward, long tokens, const char *text,
                      const char *query, const char *label)
{
    cached *c = cache_slot(m, key);
    if (c->used)
        return;
    c->used = 1;
    c->key = key;
    c->reward = reward;
    c->tokens = tokens;
    c->text = text ? xstrdup(text) : NULL;
    c->query = query ? xstrdup(query) : NULL;
    c->label = label ? xstrdup(label) : NULL;
    m->cache_n++;
}

static void log_result(mipro *m, uint64_t key, double reward, long tokens, const char *text,
                       const char *query, const char *label)
{
    if (!m->log)
        return;
    char k[17];
    snprintf(k, sizeof k, "%016llx", (unsigned long long)key);
    json_t *j = json_pack("{s:s,s:f,s:I}", "key", k, "reward", reward, "tokens", (json_int_t)tokens);
    if (text)
        json_object_set_new(j, "text", json_string(text));
    if (query)
        json_object_set_new(j, "query", json_string(query));
    if (label)
        json_object_set_new(j, "label", json_string(label));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
    fprintf(m->log, "%s\n", s);
    fflush(m->log);
    free(s);
    json_decref(j);
}

static void load_log(mipro *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loadb(line, (size_t)n, 0, NULL);
        const char *k = json_string_value(json_object_get(j, "key"));
        if (k) {
            uint64_t key = strtoull(k, NULL, 16);
            cache_put(m, key, json_number_value(json_object_get(j, "reward")),
                      (long)json_integer_value(json_object_get(j, "tokens")),
                      json_string_value(json_object_get(j, "text")),
                      json_string_value(json_object_get(j, "query")),
                      json_string_value(json_object_get(j, "label")));
            count++;
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    say(m, "Resuming: %ld logged results will be reused, not called again\n", count);
}

/* ---- prompts ----------------------------------------------------------------- */

/* Braces doubled: the task app reads {name} as a placeholder. */
static char *escape_braces(const char *s)
{
    buf b = {0};
    for (; *s; s++) {
        buf_putc(&b, *s);
        if (*s == '{' || *s == '}')
            buf_putc(&b, *s);
    }
    return buf_steal(&b);
}

static const char *initial_instruction(const mipro_config *c)
{
    for (size_t i = 0; i < c->nsections; i++)
        if (strcmp(c->sections[i].role, "system") == 0)
            return c->sections[i].content;
    return PROMPT_DEFAULT_SYSTEM;
}

/* The prompt_template sections for a candidate: its instruction, its demos
 * as user/assistant turns, then the initial prompt's other sections (the
 * task app appends its default user message when none holds {query}). */
static json_t *template_for(mipro *m, int instr, int dset)
{
    json_t *secs = json_array();
    char *ins = instr == 0 ? xstrdup(m->instr[0]) : escape_braces(m->instr[instr]);
    json_array_append_new(secs, json_pack("{s:s,s:s}", "role", "system", "content", ins));
    free(ins);
    const demo_set *ds = &m->sets[dset];
    for (size_t i = 0; i < ds->n; i++) {
        const demo *d = &m->pool[ds->idx[i]];
        char *q = escape_braces(d->query);
        char *u = xasprintf("Customer Query: %s", q);
        char *l = escape_braces(d->label);
        json_array_append_new(secs, json_pack("{s:s,s:s}", "role", "user", "content", u));
        json_array_append_new(secs, json_pack("{s:s,s:s}", "role", "assistant", "content", l));
        free(q);
        free(u);
        free(l);
    }
    int skipped_system = 0;
    for (size_t i = 0; i < m->cfg->nsections; i++) {
        const prompt_section *s = &m->cfg->sections[i];
        if (!skipped_system && strcmp(s->role, "system") == 0) {
            skipped_system = 1;
            continue;
        }
        json_array_append_new(secs, json_pack("{s:s,s:s}", "role", s->role, "content", s->content));
    }
    return json_pack("{s:o}", "sections", secs);
}

/* ---- task app calls ------------------------------------------------------------ */

static struct curl_slist *task_headers(mipro *m)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (m->env_key) {
        char *line = xasprintf("X-API-Key: %s", m->env_key);
        h = curl_slist_append(h, line);
        free(line);
    }
    return h;
}

static const char *split_name(int s)
{
    return s == 0 ? "train" : "test";
}

/* Runs the rollouts of jobs[0..n) concurrently (logged results reused).
 * Counts them as spent. Sets m->dead when the task app is unreachable. */
static void run_jobs(mipro *m, job *jobs, size_t n, long *counter)
{
    http_req *reqs = xcalloc(n ? n : 1, sizeof *reqs);
    uint64_t *keys = xcalloc(n ? n : 1, sizeof *keys);
    size_t *map = xcalloc(n ? n : 1, sizeof *map);
    size_t nreq = 0;
    for (size_t i = 0; i < n; i++) {
        job *jb = &jobs[i];
        json_t *tmpl = template_for(m, jb->instr, jb->dset);
        json_t *cfg = json_pack("{s:s,s:s,s:o}", "inference_url", m->policy_url, "model",
                                m->cfg->model, "prompt_template", tmpl);
        if (m->cfg->temperature_set)
            json_object_set_new(cfg, "temperature", json_real(m->cfg->temperature));
        if (m->cfg->max_completion_tokens > 0)
            json_object_set_new(cfg, "max_completion_tokens",
                                json_integer(m->cfg->max_completion_tokens));
        json_t *key_doc = json_pack("{s:I,s:s,s:O}", "seed", (json_int_t)jb->seed, "split",
                                    split_name(jb->split), "config", cfg);
        char *ks = json_dumps(key_doc, JSON_COMPACT | JSON_SORT_KEYS);
        keys[i] = fnv1a64(ks, strlen(ks), 0x726f6c6cULL);
        free(ks);
        json_decref(key_doc);
        cached *c = cache_get(m, keys[i]);
        if (c) {
            jb->ok = 1;
            jb->reward = c->reward;
            jb->tokens = c->tokens;
            jb->query = c->query ? xstrdup(c->query) : NULL;
            jb->label = c->label ? xstrdup(c->label) : NULL;
            m->reused++;
            (*counter)++;
            m->rollouts++;
            m->tokens += c->tokens;
            json_decref(cfg);
            continue;
        }
        char run_id[128];
        snprintf(run_id, sizeof run_id, "%s-%016llx", m->job_id, (unsigned long long)keys[i]);
        json_t *body = json_pack("{s:s,s:{s:I,s:{s:s,s:I}},s:{s:s,s:o}}", "run_id", run_id, "env",
                                 "seed", (json_int_t)jb->seed, "config", "split",
                                 split_name(jb->split), "seed", (json_int_t)jb->seed, "policy",
                                 "policy_name", "mipro", "config", cfg);
        http_req *r = &reqs[nreq];
        r->url = xasprintf("%s/rollout", m->task_url);
        r->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
        r->headers = task_headers(m);
        json_decref(body);
        map[nreq++] = i;
    }
    if (nreq)
        http_run(m->multi, reqs, nreq, (int)m->cfg->max_concurrent, MAX_RETRIES, ROLLOUT_TIMEOUT_MS,
                 m->opts.stop, &m->hs);
    size_t transport_failures = 0;
    for (size_t r = 0; r < nreq; r++) {
        job *jb = &jobs[map[r]];
        http_req *q = &reqs[r];
        if (q->status == 200) {
            json_t *resp = json_loadb(q->reply.data ? q->reply.data : "", q->reply.len, 0, NULL);
            json_t *step = json_array_get(json_object_get(json_array_get(json_object_get(resp, "trajectories"), 0), "steps"), 0);
            json_t *rew = json_object_get(step, "reward");
            if (json_is_number(rew)) {
                jb->ok = 1;
                jb->reward = json_number_value(rew);
                jb->tokens = (long)json_integer_value(json_object_get(
                    json_object_get(json_object_get(json_object_get(resp, "metrics"), "details"), "usage"),
                    "total_tokens"));
                const char *qq = json_string_value(json_object_get(json_object_get(step, "obs"), "query"));
                const char *ll = json_string_value(json_object_get(json_object_get(step, "info"), "expected_intent"));
                jb->query = qq ? xstrdup(qq) : NULL;
                jb->label = ll ? xstrdup(ll) : NULL;
                cache_put(m, keys[map[r]], jb->reward, jb->tokens, NULL, jb->query, jb->label);
                log_result(m, keys[map[r]], jb->reward, jb->tokens, NULL, jb->query, jb->label);
            }
            json_decref(resp);
        }
        if (!jb->ok && !(m->opts.stop && *m->opts.stop)) {
            m->failed++;
            if (q->status == 0)
                transport_failures++;
            if (m->failed <= 5) {
                char detail[300] = "";
                json_t *e = json_loadb(q->reply.data ? q->reply.data : "", q->reply.len, 0, NULL);
                const char *d = json_string_value(json_object_get(e, "detail"));
                snprintf(detail, sizeof detail, "%s", d ? d : q->error);
                json_decref(e);
                say(m, "  ! rollout failed after %d attempts (HTTP %ld): %s\n", q->attempts, q->status, detail);
            }
        }
        if (!(m->opts.stop && *m->opts.stop) || jb->ok)
            (*counter)++, m->rollouts++;
        m->tokens += jb->ok ? jb->tokens : 0;
    }
    if (nreq && transport_failures == nreq) {
        m->dead = 1;
        snprintf(m->dead_msg, sizeof m->dead_msg, "the task app at %s stopped answering: %s",
                 m->task_url, reqs[0].error);
    }
    for (size_t r = 0; r < nreq; r++)
        http_req_free(&reqs[r]);
    free(reqs);
    free(keys);
    free(map);
}

static void jobs_free(job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].query);
        free(jobs[i].label);
    }
    free(jobs);
}

/* GET a task-app path; returns the parsed JSON (new reference) or NULL with
 * a message in err. */
static json_t *task_get(mipro *m, const char *path, long *status, char *err, size_t errlen)
{
    http_req r = {0};
    r.url = xasprintf("%s%s", m->task_url, path);
    r.headers = task_headers(m);
    http_run(m->multi, &r, 1, 1, 2, 30000, m->opts.stop, &m->hs);
    *status = r.status;
    json_t *j = NULL;
    if (r.status == 0) {
        snprintf(err, errlen, "%s", r.error);
    } else {
        json_error_t je;
        j = json_loadb(r.reply.data ? r.reply.data : "", r.reply.len, 0, &je);
        if (!j)
            snprintf(err, errlen, "HTTP %ld with a body that is not JSON", r.status);
    }
    http_req_free(&r);
    return j;
}

/* Labelled training examples for rows[0..n): appended to out as demos. */
static int fetch_examples(mipro *m, const int64_t *rows, size_t n, demo *out)
{
    for (size_t start = 0; start < n; start += 50) {
        size_t end = start + 50 < n ? start + 50 : n;
        buf path = {0};
        buf_puts(&path, "/task_info?split=train");
        for (size_t i = start; i < end; i++)
            buf_printf(&path, "&seed=%lld", (long long)rows[i]);
        long status;
        char err[300];
        json_t *j = task_get(m, path.data, &status, err, sizeof err);
        buf_free(&path);
        if (status != 200 || !j) {
            json_decref(j);
            snprintf(m->dead_msg, sizeof m->dead_msg, "GET /task_info failed (HTTP %ld): %s", status, err);
            return -1;
        }
        if (json_is_object(j)) {
            json_t *a = json_array();
            json_array_append(a, j);
            json_decref(j);
            j = a;
        }
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *md = json_object_get(json_array_get(j, i), "task_metadata");
            demo *d = &out[start + i];
            d->query = xstrdup(json_string_value(json_object_get(md, "query")) ?: "");
            d->label = xstrdup(json_string_value(json_object_get(md, "expected_intent")) ?: "");
            d->index = rows[start + i];
            d->bootstrapped = 0;
        }
        json_decref(j);
    }
    return 0;
}

/* ---- phase 1 ------------------------------------------------------------------- */

static int64_t *sample_rows(mipro *m, size_t total, size_t n, const int64_t *exclude, size_t nex)
{
    /* n distinct rows of [0, total) not in exclude, by partial Fisher-Yates */
    int64_t *all = xmalloc(total * sizeof(int64_t));
    size_t k = 0;
    for (size_t i = 0; i < total; i++) {
        int skip = 0;
        for (size_t e = 0; e < nex && !skip; e++)
            skip = exclude[e] == (int64_t)i;
        if (!skip)
            all[k++] = (int64_t)i;
    }
    if (n > k)
        n = k;
    for (size_t i = 0; i < n; i++) {
        size_t j = i + (size_t)(splitmix64(&m->rng) % (k - i));
        int64_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    return all; /* the first n are the sample */
}

/* The rows of a split of total rows: the configured pool's seeds mapped to
 * rows when one is set, else `want` rows sampled outside exclude. */
static int64_t *pool_rows(mipro *m, const seed_list *pool, size_t total, size_t want,
                          const int64_t *exclude, size_t nex, size_t *n)
{
    if (!pool->set || !pool->n) {
        *n = want;
        return sample_rows(m, total, want, exclude, nex);
    }
    int64_t *rows = xcalloc(pool->n, sizeof(int64_t));
    for (size_t i = 0; i < pool->n; i++)
        rows[i] = (int64_t)dataset_seed_row(pool->v[i], total);
    *n = pool->n;
    return rows;
}

static char *clean_instruction(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '"' || *s == '`')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '"' || s[n - 1] == '`'))
        n--;
    return xstrndup(s, n);
}

static void propose_instructions(mipro *m)
{
    const mipro_config *c = m->cfg;
    size_t rounds = (size_t)c->num_bootstrap_seeds, per = (size_t)c->num_instructions_per_module;
    m->instr = xcalloc(1 + rounds * per, sizeof(char *));
    m->instr[m->ninstr++] = xstrdup(initial_instruction(c));
    if (!c->optimize_instructions || rounds == 0 || per == 0)
        return;
    say(m, "  Generating instruction candidates...\n");
    size_t total = rounds * per;
    http_req *reqs = xcalloc(total, sizeof *reqs);
    uint64_t *keys = xcalloc(total, sizeof *keys);
    char **texts = xcalloc(total, sizeof(char *));
    size_t nreq = 0;
    size_t *map = xcalloc(total, sizeof *map);
    for (size_t r = 0; r < rounds; r++) {
        int64_t *rows = sample_rows(m, m->train_n, META_EXAMPLES, NULL, 0);
        demo ex[META_EXAMPLES] = {{0}};
        if (fetch_examples(m, rows, META_EXAMPLES, ex) != 0) {
            free(rows);
            m->dead = 1;
            break;
        }
        free(rows);
        buf exs = {0};
        for (size_t i = 0; i < META_EXAMPLES; i++) {
            char *q = xstrdup(ex[i].query);
            for (char *p = q; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            buf_printf(&exs, "Query: %s\nIntent: %s\n\n", q, ex[i].label);
            free(q);
            free(ex[i].query);
            free(ex[i].label);
        }
        for (size_t k = 0; k < per; k++) {
            size_t idx = r * per + k;
            const char *tip = tips[idx % B77_ARRAY_LEN(tips)];
            char *user = xasprintf(
                "Task: a language model reads one message from a bank's customer and must answer "
                "with exactly one of 77 banking intent labels (for example card_arrival, "
                "exchange_rate, top_up_failed).\n\nCurrent instruction:\n%s\n\nExamples from the "
                "training data:\n%sTip: %s\n\nWrite one improved instruction for the classifier "
                "(proposal %zu of %zu). Reply with the instruction text only.",
                m->instr[0], exs.data, tip, k + 1, per);
            json_t *body = json_pack(
                "{s:s,s:[{s:s,s:s},{s:s,s:s}],s:f}", "model", m->meta_model, "messages", "role",
                "system", "content",
                "You are an expert prompt engineer who writes instructions for language models.",
                "role", "user", "content", user, "temperature", 1.0);
            free(user);
            char *bs = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(body);
            keys[idx] = fnv1a64(bs, strlen(bs), 0x6d657461ULL);
            cached *hit = cache_get(m, keys[idx]);
            if (hit && hit->text) {
                texts[idx] = xstrdup(hit->text);
                free(bs);
                continue;
            }
            http_req *q = &reqs[nreq];
            q->url = llmurl_normalize(m->meta_url);
            q->body = bs;
            q->headers = curl_slist_append(NULL, "Content-Type: application/json");
            llm_keys lk = {getenv("OPENAI_API_KEY"), getenv("GROQ_API_KEY"), getenv("LLM_API_KEY")};
            char *lines[2];
            size_t nl = llmurl_auth_headers(q->url, &lk, NULL, lines);
            for (size_t i = 0; i < nl; i++) {
                q->headers = curl_slist_append(q->headers, lines[i]);
                free(lines[i]);
            }
            map[nreq++] = idx;
        }
        buf_free(&exs);
    }
    if (nreq)
        http_run(m->multi, reqs, nreq, (int)m->cfg->max_concurrent, MAX_RETRIES, 120000, m->opts.stop, &m->hs);
    m->meta_calls += (long)nreq;
    for (size_t r = 0; r < nreq; r++) {
        http_req *q = &reqs[r];
        json_t *j = q->status == 200 ? json_loadb(q->reply.data, q->reply.len, 0, NULL) : NULL;
        const char *content = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
        m->tokens += (long)json_integer_value(json_object_get(json_object_get(j, "usage"), "total_tokens"));
        if (content) {
            texts[map[r]] = clean_instruction(content);
            cache_put(m, keys[map[r]], 0, 0, texts[map[r]], NULL, NULL);
            log_result(m, keys[map[r]], 0, 0, texts[map[r]], NULL, NULL);
        } else if (!(m->opts.stop && *m->opts.stop)) {
            say(m, "  ! meta-model call failed (HTTP %ld): %s\n", q->status,
                q->status ? "no content in the reply" : q->error);
        }
        json_decref(j);
        http_req_free(q);
    }
    for (size_t r = 0; r < rounds; r++) {
        size_t added = 0;
        for (size_t k = 0; k < per; k++) {
            char *t = texts[r * per + k];
            if (!t || !*t) {
                free(t);
                continue;
            }
            int dup = 0;
            for (size_t i = 0; i < m->ninstr && !dup; i++)
                dup = strcmp(m->instr[i], t) == 0;
            if (dup) {
                free(t);
                continue;
            }
            m->instr[m->ninstr++] = t;
            added++;
        }
        say(m, "  - Seed %zu/%zu: %zu instructions generated\n", r + 1, rounds, added);
        event(m, json_pack("{s:s,s:I,s:I}", "event", "instructions", "round", (json_int_t)(r + 1),
                           "generated", (json_int_t)added));
    }
    say(m, "  Total instructions: %zu (%zu proposed + the initial one)\n", m->ninstr, m->ninstr - 1);
    free(reqs);
    free(keys);
    free(texts);
    free(map);
}

static void build_demos(mipro *m, int64_t *boot_rows, size_t nboot)
{
    const mipro_config *c = m->cfg;
    size_t want = (size_t)c->demo_pool_size;
    m->pool = xcalloc(want + nboot + 1, sizeof(demo));
    m->sets = xcalloc(MAX_SETS, sizeof(demo_set));
    if (!c->optimize_demos || c->num_demos == 0) {
        m->sets[0].n = 0;
        m->nsets = 1;
        return;
    }
    say(m, "  Sampling demonstrations...\n");
    /* Run the initial prompt on training rows; keep what it gets right. */
    m->sets[0].n = 0;
    m->nsets = 1; /* template_for needs set 0 */
    job *jobs = xcalloc(nboot ? nboot : 1, sizeof(job));
    for (size_t i = 0; i < nboot; i++)
        jobs[i] = (job){.seed = boot_rows[i], .split = 0, .instr = 0, .dset = 0};
    run_jobs(m, jobs, nboot, &m->rollouts_boot);
    for (size_t i = 0; i < nboot && m->npool < want; i++)
        if (jobs[i].ok && jobs[i].reward >= c->few_shot_score_threshold && jobs[i].query) {
            demo *d = &m->pool[m->npool++];
            d->query = xstrdup(jobs[i].query);
            d->label = xstrdup(jobs[i].label);
            d->index = jobs[i].seed;
            d->bootstrapped = 1;
        }
    m->nboot_ok = m->npool;
    jobs_free(jobs, nboot);
    say(m, "  - Initial prompt on %zu training examples: %zu correct (bootstrapped demos)\n", nboot,
        m->nboot_ok);
    /* Top up with labelled examples the bootstrap did not use. */
    if (m->npool < want && !(m->opts.stop && *m->opts.stop)) {
        size_t need = want - m->npool;
        int64_t *rows = sample_rows(m, m->train_n, need, boot_rows, nboot);
        if (fetch_examples(m, rows, need, m->pool + m->npool) == 0)
            m->npool += need;
        free(rows);
    }
    size_t nsets = (size_t)(c->num_bootstrap_seeds * c->num_instructions_per_module) + 1;
    if (nsets < 6)
        nsets = 6;
    if (nsets > MAX_SETS)
        nsets = MAX_SETS;
    m->nsets = demos_build_sets(m->pool, m->npool, (size_t)c->num_demos, nsets, &m->rng, m->sets);
    say(m, "  - Demo pool size: %zu (%zu bootstrapped, %zu labelled)\n", m->npool, m->nboot_ok,
        m->npool - m->nboot_ok);
    say(m, "  - Demo sets: %zu of %ld demos, plus the empty set\n", m->nsets - 1, c->num_demos);
    event(m, json_pack("{s:s,s:I,s:I,s:I}", "event", "demos", "pool", (json_int_t)m->npool,
                       "bootstrapped", (json_int_t)m->nboot_ok, "sets", (json_int_t)m->nsets));
}

/* ---- phase 2 --------------------------------------------------------------------- */

static double best_trial_score(const mipro *m)
{
    double b = -1;
    for (size_t i = 0; i < m->ntrials; i++)
        if (!isnan(m->trials[i].score) && m->trials[i].score > b)
            b = m->trials[i].score;
    return b;
}

static int out_of_time(const mipro *m)
{
    return now_wall() - m->t0 >= m->cfg->max_time_seconds;
}

static void search(mipro *m, int64_t *online, size_t nonline)
{
    const mipro_config *c = m->cfg;
    int choices[2] = {(int)m->ninstr, (int)m->nsets};
    tpe_opts to = {.n_startup = (int)m->startup, .n_candidates = (int)c->tpe_n_candidates,
                   .gamma = c->tpe_gamma, .prior_weight = c->tpe_prior_weight};
    tpe *t = tpe_new(2, choices, &to, (uint64_t)m->seed);
    m->trials = xcalloc((size_t)m->trials_planned + 1, sizeof(trial));
    size_t cursor = 0;
    say(m, "\nPhase 2: TPE Optimization\n");
    say(m, "  Search space: %zu instructions x %zu demo sets; %ld trials of %ld train examples, "
           "%ld at a time\n", m->ninstr, m->nsets, m->trials_planned, m->batch, m->parallel);
    event(m, json_pack("{s:s,s:s}", "event", "phase", "name", "search"));
    while ((long)m->ntrials < m->trials_planned) {
        if (m->opts.stop && *m->opts.stop) {
            m->termination = "interrupted";
            break;
        }
        if (out_of_time(m)) {
            m->termination = "max_time_seconds";
            break;
        }
        if (m->rollouts_search + m->batch > m->budget_search) {
            m->termination = "budget";
            break;
        }
        if (m->dead)
            break;
        long k = m->parallel;
        if (k > m->trials_planned - (long)m->ntrials)
            k = m->trials_planned - (long)m->ntrials;
        if (m->rollouts_search + k * m->batch > m->budget_search)
            k = (m->budget_search - m->rollouts_search) / m->batch;
        /* Suggest k points; the ones already suggested count as pending. */
        int pts[64][2];
        for (long i = 0; i < k; i++)
            tpe_suggest(t, pts[i], &pts[0][0], (size_t)i);
        job *jobs = xcalloc((size_t)(k * m->batch), sizeof(job));
        for (long i = 0; i < k; i++)
            for (long b = 0; b < m->batch; b++) {
                jobs[i * m->batch + b] = (job){.seed = online[cursor % nonline], .split = 0,
                                               .instr = pts[i][0], .dset = pts[i][1]};
                cursor++;
            }
        double t1 = now_wall();
        run_jobs(m, jobs, (size_t)(k * m->batch), &m->rollouts_search);
        double secs = now_wall() - t1;
        if (m->opts.stop && *m->opts.stop) {
            jobs_free(jobs, (size_t)(k * m->batch));
            m->termination = "interrupted";
            break;
        }
        for (long i = 0; i < k; i++) {
            trial *tr = &m->trials[m->ntrials];
            tr->iteration = (int)m->ntrials + 1;
            tr->instr = pts[i][0];
            tr->dset = pts[i][1];
            double sum = 0;
            for (long b = 0; b < m->batch; b++) {
                job *jb = &jobs[i * m->batch + b];
                tr->n++;
                if (jb->ok) {
                    tr->ok++;
                    sum += jb->reward;
                }
            }
            tr->score = tr->ok ? sum / tr->ok : NAN;
            tr->seconds = secs;
            tr->elapsed = now_wall() - m->t0;
            if (!isnan(tr->score))
                tpe_tell(t, pts[i], tr->score);
            m->ntrials++;
            double best = best_trial_score(m);
            if (c->show_trial_results)
                say(m, "  Iteration %d/%ld... score: %.2f  (instruction %d, demo set %d; %d/%d train)  "
                       "best %.2f  [rollouts %ld/%ld, tokens %ld, %.1fs]\n",
                    tr->iteration, m->trials_planned, isnan(tr->score) ? 0.0 : tr->score, tr->instr,
                    tr->dset, tr->ok, tr->n, best, m->rollouts, c->budget, m->tokens,
                    now_wall() - m->t0);
            event(m, json_pack("{s:s,s:i,s:i,s:i,s:s,s:i,s:o,s:f,s:I,s:I}", "event", "trial",
                               "iteration", tr->iteration, "instruction", tr->instr, "demo_set",
                               tr->dset, "split", "train", "n", tr->ok, "score",
                               isnan(tr->score) ? json_null() : json_real(tr->score), "best", best,
                               "rollouts", (json_int_t)m->rollouts, "tokens", (json_int_t)m->tokens));
        }
        jobs_free(jobs, (size_t)(k * m->batch));
        if (best_trial_score(m) >= c->target_score) {
            m->termination = "target_score";
            break;
        }
    }
    if (!m->termination)
        m->termination = (long)m->ntrials >= m->trials_planned ? "num_iterations" : "budget";
    tpe_free(t);
}

/* ---- held-out ------------------------------------------------------------------------ */

struct agg {
    int instr, dset;
    double sum;
    int n;
    size_t first;
};

static int by_mean(const void *a, const void *b)
{
    const struct agg *x = a, *y = b;
    double mx = x->n ? x->sum / x->n : -1, my = y->n ? y->sum / y->n : -1;
    if (mx != my)
        return mx > my ? -1 : 1;
    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

static void evaluate_holdout(mipro *m, int64_t *test_rows, size_t ntest)
{
    const mipro_config *c = m->cfg;
    struct agg *a = xcalloc(m->ntrials + 1, sizeof *a);
    size_t na = 0;
    for (size_t i = 0; i < m->ntrials; i++) {
        trial *tr = &m->trials[i];
        if (isnan(tr->score))
            continue;
        size_t j = 0;
        while (j < na && !(a[j].instr == tr->instr && a[j].dset == tr->dset))
            j++;
        if (j == na)
            a[na++] = (struct agg){tr->instr, tr->dset, 0, 0, i};
        a[j].sum += tr->score * tr->ok;
        a[j].n += tr->ok;
    }
    qsort(a, na, sizeof *a, by_mean);
    size_t k = (size_t)c->top_k < na ? (size_t)c->top_k : na;
    m->hold = xcalloc(k + 1, sizeof(holdout));
    int initial_in = 0;
    for (size_t i = 0; i < k; i++) {
        m->hold[m->nhold++] = (holdout){a[i].instr, a[i].dset, a[i].instr == 0 && a[i].dset == 0,
                                        a[i].sum / a[i].n, a[i].n, NAN, 0};
        initial_in |= a[i].instr == 0 && a[i].dset == 0;
    }
    if (!initial_in)
        m->hold[m->nhold++] = (holdout){0, 0, 1, NAN, 0, NAN, 0};
    free(a);
    say(m, "\nHeld-out evaluation: %zu candidates on %zu test examples each (never seen by the search)\n",
        m->nhold, ntest);
    job *jobs = xcalloc(m->nhold * ntest + 1, sizeof(job));
    for (size_t h = 0; h < m->nhold; h++)
        for (size_t i = 0; i < ntest; i++)
            jobs[h * ntest + i] = (job){.seed = test_rows[i], .split = 1, .instr = m->hold[h].instr,
                                        .dset = m->hold[h].dset};
    run_jobs(m, jobs, m->nhold * ntest, &m->rollouts_holdout);
    m->best = -1;
    for (size_t h = 0; h < m->nhold; h++) {
        double sum = 0;
        int n = 0;
        for (size_t i = 0; i < ntest; i++)
            if (jobs[h * ntest + i].ok) {
                sum += jobs[h * ntest + i].reward;
                n++;
            }
        m->hold[h].n = n;
        m->hold[h].score = n ? sum / n : NAN;
        holdout *ho = &m->hold[h];
        if (ho->is_initial && isnan(ho->search_mean))
            say(m, "  initial prompt: %.3f on %d test examples\n", isnan(ho->score) ? 0.0 : ho->score, n);
        else
            say(m, "  #%zu instruction %d, demo set %d: %.3f on %d test examples (search: %.3f on %d train)%s\n",
                h + 1, ho->instr, ho->dset, isnan(ho->score) ? 0.0 : ho->score, n, ho->search_mean,
                ho->search_n, ho->is_initial ? " [the initial prompt]" : "");
        event(m, json_pack("{s:s,s:i,s:i,s:b,s:s,s:i,s:o}", "event", "holdout", "instruction",
                           ho->instr, "demo_set", ho->dset, "initial", ho->is_initial, "split",
                           "test", "n", n, "score", isnan(ho->score) ? json_null() : json_real(ho->score)));
        if (!isnan(ho->score) && (m->best < 0 || ho->score > m->hold[m->best].score))
            m->best = (int)h;
    }
    jobs_free(jobs, m->nhold * ntest);
}

/* ---- results ---------------------------------------------------------------------------- */

static json_t *demos_json(const mipro *m, int dset, int full)
{
    json_t *a = json_array();
    const demo_set *s = &m->sets[dset];
    for (size_t i = 0; i < s->n; i++) {
        const demo *d = &m->pool[s->idx[i]];
        json_t *o = json_pack("{s:s,s:s}", "query", d->query, "label", d->label);
        if (full) {
            json_object_set_new(o, "split", json_string("train"));
            json_object_set_new(o, "index", json_integer((json_int_t)d->index));
            json_object_set_new(o, "bootstrapped", json_boolean(d->bootstrapped));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static int write_json(mipro *m, const char *name, json_t *j)
{
    char *path = xasprintf("%s/%s", m->results, name);
    int rc = json_dump_file(j, path, JSON_INDENT(2) | JSON_REAL_PRECISION(6) | JSON_PRESERVE_ORDER);
    if (rc != 0)
        fprintf(stderr, "mipro: cannot write %s\n", path);
    free(path);
    json_decref(j);
    return rc;
}

static json_t *score_json(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

static void write_results(mipro *m, int64_t ntest)
{
    const mipro_config *c = m->cfg;
    char finished[32];
    iso_now(finished);
    /* The result: the best held-out candidate; without a held-out phase
     * (interrupted) the best searched combination, or the initial prompt. */
    int instr = 0, dset = 0;
    double hscore = NAN, initial_h = NAN;
    int hn = 0;
    for (size_t h = 0; h < m->nhold; h++)
        if (m->hold[h].is_initial)
            initial_h = m->hold[h].score;
    if (m->best >= 0) {
        instr = m->hold[m->best].instr;
        dset = m->hold[m->best].dset;
        hscore = m->hold[m->best].score;
        hn = m->hold[m->best].n;
    } else if (m->ntrials) {
        double b = -1;
        for (size_t i = 0; i < m->ntrials; i++)
            if (!isnan(m->trials[i].score) && m->trials[i].score > b) {
                b = m->trials[i].score;
                instr = m->trials[i].instr;
                dset = m->trials[i].dset;
            }
    }
    if (!m->ninstr)
        return;
    json_t *tmpl = template_for(m, instr, dset);
    write_json(m, "best_prompt.json",
               json_pack("{s:{s:s,s:s},s:o,s:i,s:i,s:{s:s,s:I,s:o},s:{s:s,s:I,s:o},s:o}",
                         "instruction", "role", "system", "content", m->instr[instr],
                         "demonstrations", demos_json(m, dset, 0), "instruction_index", instr,
                         "demo_set_index", dset, "heldout_score", "split", "test", "n",
                         (json_int_t)hn, "score", score_json(hscore), "initial_heldout_score",
                         "split", "test", "n", (json_int_t)ntest, "score", score_json(initial_h),
                         "prompt_template", tmpl));
    json_t *trials = json_array();
    for (size_t i = 0; i < m->ntrials; i++) {
        trial *t = &m->trials[i];
        json_array_append_new(trials, json_pack("{s:i,s:i,s:i,s:s,s:i,s:i,s:o,s:f,s:f}", "iteration",
                                                t->iteration, "instruction_index", t->instr,
                                                "demo_set_index", t->dset, "split", "train",
                                                "minibatch_size", t->n, "succeeded", t->ok, "score",
                                                score_json(t->score), "time_s", t->seconds,
                                                "elapsed_s", t->elapsed));
    }
    json_t *hold = json_array();
    for (size_t h = 0; h < m->nhold; h++) {
        holdout *ho = &m->hold[h];
        json_array_append_new(hold, json_pack("{s:i,s:i,s:b,s:s,s:i,s:o,s:o,s:i}", "instruction_index",
                                              ho->instr, "demo_set_index", ho->dset, "is_initial",
                                              ho->is_initial, "split", "test", "n", ho->n, "score",
                                              score_json(ho->score), "search_score",
                                              score_json(ho->search_mean), "search_n", ho->search_n));
    }
    write_json(m, "score_history.json",
               json_pack("{s:o,s:o,s:{s:s,s:I,s:o,s:o}}", "trials", trials, "heldout", hold,
                         "final", "split", "test", "n", (json_int_t)hn, "best_score",
                         score_json(hscore), "initial_score", score_json(initial_h)));
    json_t *cfg = json_pack(
        "{s:s,s:s,s:s,s:s,s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:b,s:b,s:I,s:I,s:I,s:I,s:s,s:s,s:f,s:{s:f,s:I,s:I,s:f}}",
        "task_app_url", m->task_url, "model", c->model, "inference_url", m->policy_url,
        "results_folder", m->results, "budget", (json_int_t)c->budget, "max_time_seconds",
        c->max_time_seconds, "target_score", c->target_score, "num_iterations",
        (json_int_t)c->num_iterations, "top_k", (json_int_t)c->top_k, "num_bootstrap_seeds",
        (json_int_t)c->num_bootstrap_seeds, "num_instructions_per_module",
        (json_int_t)c->num_instructions_per_module, "num_demos", (json_int_t)c->num_demos,
        "optimize_instructions", c->optimize_instructions, "optimize_demos", c->optimize_demos,
        "batch_size", (json_int_t)m->batch, "max_concurrent", (json_int_t)c->max_concurrent,
        "parallel_trials", (json_int_t)m->parallel, "holdout_size", (json_int_t)ntest,
        "meta_model", m->meta_model, "meta_model_inference_url", m->meta_url,
        "few_shot_score_threshold", c->few_shot_score_threshold, "tpe", "gamma", c->tpe_gamma,
        "n_candidates", (json_int_t)c->tpe_n_candidates, "n_startup_trials",
        (json_int_t)m->startup, "prior_weight", c->tpe_prior_weight);
    write_json(m, "job_metadata.json",
               json_pack("{s:s,s:s,s:I,s:o,s:s,s:s,s:f,s:s,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}",
                         "job_id", m->job_id, "config_path", c->path, "seed", (json_int_t)m->seed,
                         "config", cfg, "started_at", m->started_at, "finished_at", finished,
                         "duration_s", now_wall() - m->t0, "termination_reason",
                         m->termination ? m->termination : "unknown", "counts", "rollouts",
                         (json_int_t)m->rollouts, "rollouts_bootstrap", (json_int_t)m->rollouts_boot,
                         "rollouts_search", (json_int_t)m->rollouts_search, "rollouts_heldout",
                         (json_int_t)m->rollouts_holdout, "rollouts_failed", (json_int_t)m->failed,
                         "rollouts_reused_from_log", (json_int_t)m->reused, "llm_calls",
                         (json_int_t)(m->rollouts - m->reused + m->meta_calls), "meta_model_calls",
                         (json_int_t)m->meta_calls, "tokens", (json_int_t)m->tokens,
                         "http_retries", (json_int_t)m->hs.retries, "trials",
                         (json_int_t)m->ntrials));
    write_json(m, "selected_demos.json",
               json_pack("{s:i,s:o}", "demo_set_index", dset, "demonstrations", demos_json(m, dset, 1)));
    /* trials.jsonl: one line per trial */
    char *path = xasprintf("%s/trials.jsonl", m->results);
    FILE *f = fopen(path, "w");
    if (f) {
        for (size_t i = 0; i < m->ntrials; i++) {
            trial *t = &m->trials[i];
            json_t *j = json_pack("{s:i,s:i,s:i,s:s,s:i,s:o,s:s,s:f}", "iteration", t->iteration,
                                  "instruction_index", t->instr, "demo_set_index", t->dset, "split",
                                  "train", "n", t->ok, "score", score_json(t->score), "instruction",
                                  m->instr[t->instr], "elapsed_s", t->elapsed);
            json_object_set_new(j, "demonstrations", demos_json(m, t->dset, 0));
            char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
            fprintf(f, "%s\n", s);
            free(s);
            json_decref(j);
        }
        fclose(f);
    }
    free(path);
}

static void sparkline(mipro *m)
{
    static const char *bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    if (!m->ntrials)
        return;
    say(m, "Score progression (train minibatches): ");
    for (size_t i = 0; i < m->ntrials; i++) {
        double s = m->trials[i].score;
        int b = isnan(s) ? 0 : (int)(s * 7.999);
        say(m, "%s", bars[b < 0 ? 0 : b > 7 ? 7 : b]);
    }
    say(m, "\n");
}

/* ---- the run ------------------------------------------------------------------------------ */

static void free_all(mipro *m)
{
    for (size_t i = 0; i < m->ninstr; i++)
        free(m->instr[i]);
    free(m->instr);
    for (size_t i = 0; i < m->npool; i++) {
        free(m->pool[i].query);
        free(m->pool[i].label);
    }
    free(m->pool);
    free(m->sets);
    free(m->trials);
    free(m->hold);
    for (size_t i = 0; i < m->cache_cap; i++)
        if (m->cache[i].used) {
            free(m->cache[i].text);
            free(m->cache[i].query);
            free(m->cache[i].label);
        }
    free(m->cache);
    if (m->log)
        fclose(m->log);
    free(m->task_url);
    free(m->policy_url);
    free(m->meta_url);
    free(m->meta_model);
    free(m->results);
    if (m->multi)
        curl_multi_cleanup(m->multi);
}

static char *trim_slash(const char *s)
{
    char *r = xstrdup(s);
    size_t n = strlen(r);
    while (n && r[n - 1] == '/')
        r[--n] = '\0';
    return r;
}

static char *provider_url(const char *provider)
{
    if (provider && strcmp(provider, "groq") == 0)
        return xstrdup("https://api.groq.com/openai/v1");
    return xstrdup("https://api.openai.com/v1");
}

static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    int rc = mkdir(p, 0755);
    free(p);
    return rc == 0 || errno == EEXIST ? 0 : -1;
}

int mipro_run(const mipro_config *c, const mipro_opts *o)
{
    mipro m = {0};
    m.cfg = c;
    m.opts = *o;
    m.best = -1;
    m.t0 = now_wall();
    m.seed = o->seed_set ? o->seed : c->seed;
    m.rng = (uint64_t)m.seed * 0x9e3779b97f4a7c15ULL + 0x6d6970726fULL;
    iso_now(m.started_at);
    snprintf(m.job_id, sizeof m.job_id, "mipro_banking77_%lld_s%ld", (long long)time(NULL), m.seed);
    m.task_url = trim_slash(o->task_app_url ? o->task_app_url : c->task_app_url);
    m.results = xstrdup(o->results_folder ? o->results_folder : c->results_folder);
    m.policy_url = c->inference_url ? xstrdup(c->inference_url) : provider_url(c->provider);
    m.meta_url = c->meta_model_inference_url ? xstrdup(c->meta_model_inference_url)
                 : c->meta_model_provider   ? provider_url(c->meta_model_provider)
                                            : xstrdup(m.policy_url);
    m.meta_model = xstrdup(c->meta_model ? c->meta_model : c->model);
    m.env_key = c->task_app_api_key ? c->task_app_api_key : getenv("ENVIRONMENT_API_KEY");
    m.multi = curl_multi_init();
    curl_multi_setopt(m.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_concurrent);
    int rc = 1;

    if (mkdir_p(m.results) != 0) {
        fprintf(stderr, "mipro: cannot create the results folder %s: %s\n", m.results, strerror(errno));
        goto out;
    }
    char *logpath = xasprintf("%s/rollouts.jsonl", m.results);
    if (o->resume)
        load_log(&m, logpath);
    m.log = fopen(logpath, o->resume ? "a" : "w");
    free(logpath);

    /* The task app must be up and accept our key before anything is spent. */
    long status;
    char err[400];
    json_t *ti = task_get(&m, "/task_info", &status, err, sizeof err);
    if (status == 0) {
        fprintf(stderr, "mipro: cannot reach the task app at %s: %s\n"
                        "hint: start it (make run, or bin/task-app) or fix task_app_url\n", m.task_url, err);
        json_decref(ti);
        goto out;
    }
    if (status == 401 || status == 503) {
        fprintf(stderr, "mipro: the task app at %s refused the request (HTTP %ld): %s\n"
                        "hint: export ENVIRONMENT_API_KEY with the key the task app was started with\n",
                m.task_url, status, json_string_value(json_object_get(ti, "detail")) ?: "");
        json_decref(ti);
        goto out;
    }
    json_t *sizes = json_object_get(json_object_get(ti, "taskset"), "sizes");
    m.train_n = (size_t)json_integer_value(json_object_get(sizes, "train"));
    m.test_n = (size_t)json_integer_value(json_object_get(sizes, "test"));
    json_decref(ti);
    if (status != 200 || m.train_n == 0 || m.test_n == 0) {
        fprintf(stderr, "mipro: GET %s/task_info answered HTTP %ld without the split sizes\n", m.task_url, status);
        goto out;
    }

    /* The plan: bootstrap rollouts, then trials of `batch` train rows. */
    size_t nboot = 0;
    int64_t *boot_rows = NULL;
    if (c->bootstrap_train_seeds.set) {
        nboot = c->bootstrap_train_seeds.n;
        boot_rows = xcalloc(nboot + 1, sizeof(int64_t));
        for (size_t i = 0; i < nboot; i++)
            boot_rows[i] = (int64_t)dataset_seed_row(c->bootstrap_train_seeds.v[i], m.train_n);
    } else if (c->optimize_demos && c->num_demos > 0) {
        nboot = (size_t)(c->budget / 5 > 50 ? 50 : c->budget / 5);
        boot_rows = sample_rows(&m, m.train_n, nboot, NULL, 0);
    }
    if ((long)nboot >= c->budget)
        nboot = (size_t)(c->budget / 2);
    m.budget_boot = (long)nboot;
    m.budget_search = c->budget - m.budget_boot;
    m.batch = c->batch_size > 0 ? c->batch_size : m.budget_search / c->num_iterations;
    if (m.batch < 1)
        m.batch = 1;
    m.trials_planned = c->num_iterations;
    if (m.trials_planned > m.budget_search / m.batch)
        m.trials_planned = m.budget_search / m.batch;
    m.parallel = c->parallel_trials > 0 ? c->parallel_trials : c->max_concurrent / m.batch;
    if (m.parallel < 1)
        m.parallel = 1;
    if (m.parallel > 4 && c->parallel_trials <= 0)
        m.parallel = 4; /* more would starve TPE of feedback */
    if (m.parallel > 64)
        m.parallel = 64;
    m.startup = c->tpe_n_startup_trials >= 0 ? c->tpe_n_startup_trials
                                             : (m.trials_planned / 3 > 10 ? 10 : m.trials_planned / 3);
    if (m.startup < 2 && c->tpe_n_startup_trials < 0)
        m.startup = 2;
    /* Search minibatches come from train rows the bootstrap did not use. */
    size_t nonline, ntest;
    int64_t *online = pool_rows(&m, &c->online_pool, m.train_n, m.train_n - nboot, boot_rows,
                                nboot, &nonline);
    int64_t *test_rows = pool_rows(&m, &c->test_pool, m.test_n,
                                   (size_t)c->holdout_size < m.test_n ? (size_t)c->holdout_size
                                                                      : m.test_n,
                                   NULL, 0, &ntest);

    say(&m, LINE "\nMIPRO Prompt Optimization\n" LINE "\n");
    say(&m, "Job ID: %s\nTask app: %s\nPolicy: %s at %s\nMeta-model: %s at %s\nSeed: %ld\n", m.job_id,
        m.task_url, c->model, m.policy_url, m.meta_model, m.meta_url, m.seed);
    say(&m, "Budget: %ld rollouts (%ld bootstrap + %ld search: %ld trials x %ld train examples); "
            "then held-out: up to %ld candidates x %zu test examples\n",
        c->budget, m.budget_boot, m.budget_search, m.trials_planned, m.batch, c->top_k + 1, ntest);
    say(&m, "Status: running\n\nPhase 1: Bootstrap\n");
    event(&m, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "event", "start", "job_id", m.job_id, "seed",
                        (json_int_t)m.seed, "budget", (json_int_t)c->budget, "trials",
                        (json_int_t)m.trials_planned, "batch", (json_int_t)m.batch));

    propose_instructions(&m);
    if (!m.dead && !(o->stop && *o->stop))
        build_demos(&m, boot_rows, nboot);
    if (!m.nsets) {
        m.sets = m.sets ? m.sets : xcalloc(1, sizeof(demo_set));
        m.nsets = 1;
    }
    if (!m.dead && !(o->stop && *o->stop)) {
        say(&m, "  ✓ Bootstrap complete\n");
        search(&m, online, nonline);
    }
    if (!m.dead && !(o->stop && *o->stop) && m.ntrials)
        evaluate_holdout(&m, test_rows, ntest);
    if (o->stop && *o->stop)
        m.termination = "interrupted";
    if (m.dead)
        m.termination = "task_app_unreachable";
    write_results(&m, (int64_t)ntest);
    free(boot_rows);
    free(online);
    free(test_rows);

    if (m.dead) {
        fprintf(stderr, "mipro: %s\nmipro: results so far are in %s\n", m.dead_msg[0] ? m.dead_msg : "the task app failed", m.results);
        rc = 1;
        goto out;
    }
    if (o->stop && *o->stop) {
        fprintf(stderr, "\nmipro: interrupted; results so far written to %s (resume with --resume)\n", m.results);
        rc = 130;
        goto out;
    }
    double best = m.best >= 0 ? m.hold[m.best].score : NAN;
    double initial = NAN;
    for (size_t h = 0; h < m.nhold; h++)
        if (m.hold[h].is_initial)
            initial = m.hold[h].score;
    int n = m.best >= 0 ? m.hold[m.best].n : 0;
    if (m.opts.quiet && !m.opts.jsonl)
        printf("best %.3f (test split, %d held-out examples; initial prompt %.3f); results in %s\n",
               best, n, initial, m.results);
    say(&m, "\n" LINE "\nOptimization Complete\n" LINE "\n");
    say(&m, "Best Score: %.3f (test split, %d held-out examples; the initial prompt scores %.3f)\n",
        best, n, initial);
    say(&m, "Best candidate: instruction %d, demo set %d (%zu demos)\n",
        m.best >= 0 ? m.hold[m.best].instr : 0, m.best >= 0 ? m.hold[m.best].dset : 0,
        m.best >= 0 ? m.sets[m.hold[m.best].dset].n : 0);
    say(&m, "Total Iterations: %zu (stopped by %s)\n", m.ntrials, m.termination);
    say(&m, "Total Evaluations: %ld within the budget (%ld bootstrap + %ld search) + %ld held-out\n",
        m.rollouts_boot + m.rollouts_search, m.rollouts_boot, m.rollouts_search, m.rollouts_holdout);
    say(&m, "LLM calls: %ld rollouts%s + %ld meta-model; tokens: %ld; failed rollouts: %ld\n",
        m.rollouts - m.reused, m.reused ? " (the rest reused from the log)" : "", m.meta_calls,
        m.tokens, m.failed);
    say(&m, "Time: %.1f s\n", now_wall() - m.t0);
    if (c->show_curve)
        sparkline(&m);
    say(&m, "Results: %s\n", m.results);
    event(&m, json_pack("{s:s,s:o,s:o,s:s,s:i,s:s,s:I,s:I}", "event", "done", "best_score",
                        score_json(best), "initial_score", score_json(initial), "split", "test",
                        "n", n, "termination_reason", m.termination, "rollouts",
                        (json_int_t)m.rollouts, "tokens", (json_int_t)m.tokens));
    rc = 0;
out:
    free_all(&m);
    return rc;
}
