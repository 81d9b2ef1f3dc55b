/* runner.c: see runner.h. */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmurl.h"
#include "prompt.h"

#define MAX_RETRIES 3
#define ROLLOUT_TIMEOUT_MS (10 * 60 * 1000L)
#define META_TIMEOUT_MS (120 * 1000L)

/* Braces doubled: the task app reads {name} as a placeholder. */
static void redraw(void *arg)
{
    run_tick(arg);
}

/* How a batch of r's requests runs (http_opts is read during the call only). */
static const http_opts *http_for(run *r, int concurrent, int retries, long timeout_ms)
{
    static _Thread_local http_opts o;
    o = (http_opts){.max_concurrent = concurrent, .max_retries = retries, .timeout_ms = timeout_ms,
                    .stop = r->opts.stop, .stats = &r->hs, .tick = redraw, .tick_arg = r};
    return &o;
}

/* The sections: the instruction, the demos as user/assistant turns (the
 * answer as the classify tool's call in tool mode), then
 * the initial prompt's other sections (the task app appends its default
 * user message when none holds {query}). */
json_t *runner_template(const run *r, const prompt_spec *p)
{
    json_t *secs = json_array();
    char *ins = p->verbatim ? xstrdup(p->instruction) : prompt_escape_braces(p->instruction);
    json_array_append_new(secs, json_pack("{s:s,s:s}", "role", "system", "content", ins));
    free(ins);
    for (size_t i = 0; i < p->ndemos; i++) {
        prompt_append_demo(secs, p->demos[i]->query, p->demos[i]->label);
    }
    int skipped_system = 0;
    for (size_t i = 0; i < r->cfg->nsections; i++) {
        const prompt_section *s = &r->cfg->sections[i];
        if (!skipped_system && strcmp(s->role, "system") == 0) {
            skipped_system = 1;
            continue;
        }
        json_array_append_new(secs, json_pack("{s:s,s:s}", "role", s->role, "content", s->content));
    }
    return json_pack("{s:o}", "sections", secs);
}

static struct curl_slist *task_headers(const run *r)
{
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    if (r->env_key) {
        char *line = xasprintf("X-API-Key: %s", r->env_key);
        h = curl_slist_append(h, line);
        free(line);
    }
    return h;
}

static const char *split_name(int s)
{
    return s == 0 ? "train" : "test";
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void take(rollout_job *jb, const journal_entry *e)
{
    jb->ok = 1;
    jb->reward = e->reward;
    jb->query = dup_or_null(e->query);
    jb->label = dup_or_null(e->label);
    jb->predicted = dup_or_null(e->predicted);
}

/* What a rollout's answer says; 0 when it carries no reward. */
static int read_rollout(const http_req *q, journal_entry *e)
{
    json_t *resp = json_loadb(q->reply.data ? q->reply.data : "", q->reply.len, 0, NULL);
    json_t *step = json_array_get(
        json_object_get(json_array_get(json_object_get(resp, "trajectories"), 0), "steps"), 0);
    json_t *rew = json_object_get(step, "reward");
    int ok = json_is_number(rew);
    if (ok) {
        json_t *info = json_object_get(step, "info");
        json_t *usage = json_object_get(json_object_get(json_object_get(resp, "metrics"), "details"), "usage");
        e->reward = json_number_value(rew);
        e->prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        e->completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
        if (!e->prompt_tokens && !e->completion_tokens)
            e->prompt_tokens = (long)json_integer_value(json_object_get(usage, "total_tokens"));
        e->query = dup_or_null(json_string_value(json_object_get(json_object_get(step, "obs"), "query")));
        e->label = dup_or_null(json_string_value(json_object_get(info, "expected_intent")));
        e->predicted = dup_or_null(json_string_value(json_object_get(info, "predicted_intent")));
    }
    json_decref(resp);
    return ok;
}

void runner_rollouts(run *r, rollout_job *jobs, size_t n, enum phase ph)
{
    const mipro_config *c = r->cfg;
    http_req *reqs = xcalloc(n ? n : 1, sizeof *reqs);
    uint64_t *keys = xcalloc(n ? n : 1, sizeof *keys);
    size_t *map = xcalloc(n ? n : 1, sizeof *map);
    size_t nreq = 0;
    for (size_t i = 0; i < n; i++) {
        rollout_job *jb = &jobs[i];
        json_t *cfg = json_pack("{s:s,s:s,s:o}", "inference_url", r->policy_url, "model", c->model,
                                "prompt_template", runner_template(r, jb->prompt));
        if (c->temperature_set)
            json_object_set_new(cfg, "temperature", json_real(c->temperature));
        if (c->max_completion_tokens > 0)
            json_object_set_new(cfg, "max_completion_tokens", json_integer(c->max_completion_tokens));
        json_t *key_doc = json_pack("{s:I,s:s,s:O}", "seed", (json_int_t)jb->row, "split",
                                    split_name(jb->split), "config", cfg);
        char *ks = json_dumps(key_doc, JSON_COMPACT | JSON_SORT_KEYS);
        keys[i] = fnv1a64(ks, strlen(ks), 0x726f6c6cULL);
        free(ks);
        json_decref(key_doc);
        journal_entry *e = journal_find(&r->jr, keys[i]);
        if (e) {
            take(jb, e);
            if (!e->seen) { /* paid by an earlier run: charged as then */
                e->seen = 1;
                r->sp.rollouts++;
                r->sp.rollouts_replayed++;
                r->sp.prompt_tokens += e->prompt_tokens;
                r->sp.completion_tokens += e->completion_tokens;
                run_charge(r, ph, 1);
            }
            json_decref(cfg);
            continue;
        }
        /* the same request twice in this batch: one call */
        int dup = 0;
        for (size_t k = 0; k < nreq && !dup; k++)
            dup = keys[map[k]] == keys[i];
        if (dup) {
            json_decref(cfg);
            continue;
        }
        char run_id[128];
        snprintf(run_id, sizeof run_id, "%s-%016llx", r->job_id, (unsigned long long)keys[i]);
        json_t *body = json_pack("{s:s,s:{s:I,s:{s:s,s:I}},s:{s:s,s:o}}", "run_id", run_id, "env",
                                 "seed", (json_int_t)jb->row, "config", "split",
                                 split_name(jb->split), "seed", (json_int_t)jb->row, "policy",
                                 "policy_name", r->algorithm, "config", cfg);
        http_req *q = &reqs[nreq];
        q->url = xasprintf("%s/rollout", r->task_url);
        q->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
        q->headers = task_headers(r);
        json_decref(body);
        map[nreq++] = i;
    }
    if (nreq)
        http_run(r->multi, reqs, nreq,
                 http_for(r, (int)c->max_concurrent, MAX_RETRIES, ROLLOUT_TIMEOUT_MS));
    size_t transport = 0, reported = 0;
    for (size_t k = 0; k < nreq; k++) {
        http_req *q = &reqs[k];
        rollout_job *jb = &jobs[map[k]];
        if (q->status == 0 && run_stopped(r))
            continue; /* interrupted: not paid, not scored */
        journal_entry e = {0};
        e.key = keys[map[k]];
        r->sp.rollouts++;
        run_charge(r, ph, 1);
        if (q->status == 200 && read_rollout(q, &e)) {
            journal_entry *s = journal_add(&r->jr, &e);
            s->seen = 1;
            take(jb, s);
            r->sp.prompt_tokens += e.prompt_tokens;
            r->sp.completion_tokens += e.completion_tokens;
        } else {
            /* The prompt's failure (a 4xx, a 5xx after retries) scores 0;
             * a task app that does not answer is the run's failure. */
            jb->failed = 1;
            r->sp.rollouts_failed++;
            transport += q->status == 0;
            if (r->sp.rollouts_failed <= 5 && reported++ < 5) {
                char detail[300] = "";
                json_t *err = json_loadb(q->reply.data ? q->reply.data : "", q->reply.len, 0, NULL);
                const char *d = json_string_value(json_object_get(err, "detail"));
                snprintf(detail, sizeof detail, "%s", d ? d : q->error);
                json_decref(err);
                run_say(r, "  ! rollout failed after %d attempts (HTTP %ld): %s\n", q->attempts,
                        q->status, detail);
            }
        }
        free(e.query);
        free(e.label);
        free(e.predicted);
    }
    /* Duplicates within the batch take the first one's result. */
    for (size_t i = 0; i < n; i++) {
        rollout_job *jb = &jobs[i];
        if (jb->ok || jb->failed)
            continue;
        journal_entry *e = journal_find(&r->jr, keys[i]);
        if (e) {
            take(jb, e);
        } else {
            for (size_t k = 0; k < nreq; k++)
                if (keys[map[k]] == keys[i] && jobs[map[k]].failed)
                    jb->failed = 1;
        }
    }
    if (nreq && transport == nreq && !run_stopped(r)) {
        r->dead = 1;
        snprintf(r->dead_msg, sizeof r->dead_msg, "the task app at %s stopped answering: %s",
                 r->task_url, reqs[0].error);
    }
    for (size_t k = 0; k < nreq; k++)
        http_req_free(&reqs[k]);
    free(reqs);
    free(keys);
    free(map);
}

void rollout_jobs_free(rollout_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].query);
        free(jobs[i].label);
        free(jobs[i].predicted);
    }
    free(jobs);
}

json_t *runner_get(run *r, const char *path, long *status, char *err, size_t errlen)
{
    http_req q = {0};
    q.url = xasprintf("%s%s", r->task_url, path);
    q.headers = task_headers(r);
    http_run(r->multi, &q, 1, http_for(r, 1, 2, 30000));
    *status = q.status;
    json_t *j = NULL;
    if (q.status == 0) {
        snprintf(err, errlen, "%s", q.error);
    } else {
        j = json_loadb(q.reply.data ? q.reply.data : "", q.reply.len, 0, NULL);
        if (!j)
            snprintf(err, errlen, "HTTP %ld with a body that is not JSON", q.status);
    }
    http_req_free(&q);
    return j;
}

int runner_examples(run *r, const int64_t *rows, size_t n, demo *out)
{
    for (size_t start = 0; start < n; start += 200) {
        size_t end = start + 200 < n ? start + 200 : n;
        buf path = {0};
        buf_puts(&path, "/task_info?split=train&seeds=");
        for (size_t i = start; i < end; i++)
            buf_printf(&path, "%s%lld", i > start ? "," : "", (long long)rows[i]);
        long status;
        char err[300];
        json_t *j = runner_get(r, path.data, &status, err, sizeof err);
        buf_free(&path);
        if (status != 200 || !j) {
            json_decref(j);
            if (status == 0 && run_stopped(r))
                return -1; /* Ctrl-C: the run ends as interrupted, not as a dead task app */
            r->dead = 1;
            snprintf(r->dead_msg, sizeof r->dead_msg, "GET /task_info failed (HTTP %ld): %s", status, err);
            return -1;
        }
        if (json_is_object(j)) {
            json_t *a = json_array();
            json_array_append(a, j);
            json_decref(j);
            j = a;
        }
        for (size_t i = 0; i < json_array_size(j) && start + i < end; i++) {
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

static char *clean_instruction(const char *s)
{
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '"' || *s == '`')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '"' ||
                 s[n - 1] == '`'))
        n--;
    return xstrndup(s, n);
}

void runner_meta(run *r, meta_call *calls, size_t n, enum phase ph)
{
    http_req *reqs = xcalloc(n ? n : 1, sizeof *reqs);
    uint64_t *keys = xcalloc(n ? n : 1, sizeof *keys);
    size_t *map = xcalloc(n ? n : 1, sizeof *map);
    size_t nreq = 0;
    llm_keys lk = {getenv("OPENAI_API_KEY"), getenv("GROQ_API_KEY"), getenv("LLM_API_KEY")};
    for (size_t i = 0; i < n; i++) {
        json_t *body = json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}],s:f}", "model", r->meta_model,
                                 "messages", "role", "system", "content", calls[i].system, "role",
                                 "user", "content", calls[i].user, "temperature", 1.0);
        char *bs = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(body);
        keys[i] = fnv1a64(bs, strlen(bs), 0x6d657461ULL);
        journal_entry *e = journal_find(&r->jr, keys[i]);
        if (e && e->text) {
            calls[i].text = xstrdup(e->text);
            if (!e->seen) {
                e->seen = 1;
                r->sp.meta_calls++;
                r->sp.meta_replayed++;
                r->sp.meta_prompt_tokens += e->prompt_tokens;
                r->sp.meta_completion_tokens += e->completion_tokens;
                run_charge(r, ph, 1);
            }
            free(bs);
            continue;
        }
        http_req *q = &reqs[nreq];
        q->url = llmurl_normalize(r->meta_url);
        q->body = bs;
        q->headers = curl_slist_append(NULL, "Content-Type: application/json");
        char *lines[2];
        size_t nl = llmurl_auth_headers(q->url, &lk, NULL, lines);
        for (size_t k = 0; k < nl; k++) {
            q->headers = curl_slist_append(q->headers, lines[k]);
            free(lines[k]);
        }
        map[nreq++] = i;
    }
    if (nreq)
        http_run(r->multi, reqs, nreq,
                 http_for(r, (int)r->cfg->max_concurrent, MAX_RETRIES, META_TIMEOUT_MS));
    for (size_t k = 0; k < nreq; k++) {
        http_req *q = &reqs[k];
        if (q->status == 0 && run_stopped(r)) { /* interrupted: not paid */
            http_req_free(q);
            continue;
        }
        r->sp.meta_calls++;
        run_charge(r, ph, 1);
        json_t *j = q->status == 200 ? json_loadb(q->reply.data, q->reply.len, 0, NULL) : NULL;
        const char *content = json_string_value(json_object_get(
            json_object_get(json_array_get(json_object_get(j, "choices"), 0), "message"), "content"));
        json_t *usage = json_object_get(j, "usage");
        journal_entry e = {0};
        e.key = keys[map[k]];
        e.prompt_tokens = (long)json_integer_value(json_object_get(usage, "prompt_tokens"));
        e.completion_tokens = (long)json_integer_value(json_object_get(usage, "completion_tokens"));
        r->sp.meta_prompt_tokens += e.prompt_tokens;
        r->sp.meta_completion_tokens += e.completion_tokens;
        if (content && *content) {
            e.text = clean_instruction(content);
            journal_add(&r->jr, &e)->seen = 1;
            calls[map[k]].text = e.text;
        } else {
            run_say(r, "  ! meta-model call failed (HTTP %ld): %s\n", q->status,
                    q->status ? "no content in the reply" : q->error);
        }
        json_decref(j);
        http_req_free(q);
    }
    free(reqs);
    free(keys);
    free(map);
}

void meta_calls_free(meta_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(calls[i].system);
        free(calls[i].user);
        free(calls[i].text);
    }
    free(calls);
}

int runner_task_info(run *r)
{
    long status;
    char err[400];
    json_t *ti = runner_get(r, "/task_info", &status, err, sizeof err);
    if (status == 0 && run_stopped(r)) {
        fprintf(stderr, "%s: interrupted before anything was spent\n", r->algorithm);
        json_decref(ti);
        return -1;
    }
    if (status == 0) {
        fprintf(stderr, "%s: cannot reach the task app at %s: %s\n"
                        "hint: start it (make run, or bin/task-app) or fix task_app_url\n",
                r->algorithm, r->task_url, err);
        json_decref(ti);
        return -1;
    }
    if (status == 401 || status == 503) {
        fprintf(stderr, "%s: the task app at %s refused the request (HTTP %ld): %s\n"
                        "hint: export ENVIRONMENT_API_KEY with the key the task app was started with\n",
                r->algorithm, r->task_url, status, json_string_value(json_object_get(ti, "detail")) ?: "");
        json_decref(ti);
        return -1;
    }
    json_t *labels = json_object_get(ti, "labels");
    for (size_t i = 0; i < r->nlabels; i++)
        free(r->labels[i]);
    free(r->labels);
    r->nlabels = 0;
    r->labels = xcalloc(json_array_size(labels) + 1, sizeof *r->labels);
    for (size_t i = 0; i < json_array_size(labels); i++)
        if (json_is_string(json_array_get(labels, i)))
            r->labels[r->nlabels++] = xstrdup(json_string_value(json_array_get(labels, i)));
    json_t *sizes = json_object_get(json_object_get(ti, "taskset"), "sizes");
    r->train_n = (size_t)json_integer_value(json_object_get(sizes, "train"));
    r->test_n = (size_t)json_integer_value(json_object_get(sizes, "test"));
    json_decref(ti);
    if (status != 200 || r->train_n == 0 || r->test_n == 0) {
        fprintf(stderr, "%s: GET %s/task_info answered HTTP %ld without the split sizes\n",
                r->algorithm, r->task_url, status);
        return -1;
    }
    return 0;
}
