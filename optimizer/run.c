/* run.c: see run.h. */
#include "run.h"

#include "dataset.h"
#include "prompt.h"
#include "report_html.h"
#include "results.h"
#include "runner.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

void iso_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *score_json(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

int mkdir_p(const char *path)
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

void run_init(run *r, const mipro_config *c, const mipro_opts *o, const char *algorithm)
{
    memset(r, 0, sizeof *r);
    r->cfg = c;
    r->opts = *o;
    r->algorithm = algorithm;
    r->t0 = now_wall();
    r->seed = o->seed_set ? o->seed : c->seed;
    r->rng = (uint64_t)r->seed * 0x9e3779b97f4a7c15ULL + 0x6d6970726fULL;
    iso_now(r->started_at);
    snprintf(r->job_id, sizeof r->job_id, "%s_banking77_%lld_s%ld", algorithm, (long long)time(NULL),
             r->seed);
    r->task_url = trim_slash(o->task_app_url ? o->task_app_url : c->task_app_url);
    r->results = xstrdup(o->results_folder ? o->results_folder : c->results_folder);
    r->policy_url = c->inference_url ? xstrdup(c->inference_url) : provider_url(c->provider);
    r->meta_url = c->meta_model_inference_url ? xstrdup(c->meta_model_inference_url)
                  : c->meta_model_provider   ? provider_url(c->meta_model_provider)
                                             : xstrdup(r->policy_url);
    r->meta_model = xstrdup(c->meta_model ? c->meta_model : c->model);
    r->env_key = c->task_app_api_key ? c->task_app_api_key : getenv("ENVIRONMENT_API_KEY");
    r->multi = curl_multi_init();
    curl_multi_setopt(r->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->max_concurrent);
    r->tty = isatty(STDOUT_FILENO) && !o->quiet && !o->jsonl;
    r->phase = "starting";
}

/* The task app's split sizes: 0, or the exit code. */
static int task_info(run *r)
{
    if (runner_task_info(r) == 0)
        return 0;
    return run_stopped(r) ? 130 : 1;
}

int run_open(run *r)
{
    if (r->opts.dry_run) /* nothing served, nothing written: the split sizes only */
        return task_info(r);
    if (run_ui_start(r) != 0)
        return 1;
    if (mkdir_p(r->results) != 0) {
        fprintf(stderr, "%s: cannot create the results folder %s: %s\n", r->algorithm, r->results,
                strerror(errno));
        return 1;
    }
    char *path = xasprintf("%s/rollouts.jsonl", r->results);
    if (journal_open(&r->jr, path, r->opts.resume) != 0)
        fprintf(stderr, "%s: cannot write %s: %s (--resume will not work)\n", r->algorithm, path,
                strerror(errno));
    free(path);
    if (r->opts.resume)
        run_say(r, "Resuming: %ld logged results will be reused, not called again\n", r->jr.loaded);
    return task_info(r);
}

void run_free(run *r)
{
    ui_stop(r->ui);
    for (size_t i = 0; i < r->nlabels; i++)
        free(r->labels[i]);
    free(r->labels);
    journal_close(&r->jr);
    free(r->task_url);
    free(r->policy_url);
    free(r->meta_url);
    free(r->meta_model);
    free(r->results);
    if (r->multi)
        curl_multi_cleanup(r->multi);
}

/* The terminal's progress line: erased before text, drawn after events. */
static void progress_clear(run *r)
{
    if (r->progress_shown) {
        fputs("\r\033[K", stdout);
        r->progress_shown = 0;
    }
}

static void progress_draw(run *r)
{
    if (!r->tty)
        return;
    long budget = r->cfg->budget > 0 ? r->cfg->budget : 1;
    double frac = (double)r->sp.spent / (double)budget, el = now_wall() - r->t0;
    if (frac > 1)
        frac = 1;
    char bar[24];
    int fill = (int)(frac * 20 + 0.5);
    for (int i = 0; i < 20; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[20] = '\0';
    double eta = r->sp.spent > 0 ? el / (double)r->sp.spent * (double)(budget - r->sp.spent) : 0;
    progress_clear(r);
    printf("  [%s] %3.0f%%  spent %ld/%ld  %.0fs  ETA %.0fs  %s", bar, frac * 100, r->sp.spent,
           r->cfg->budget, el, eta > 0 ? eta : 0, r->phase ? r->phase : "");
    if (run_usd(r) > 0)
        printf("  $%.4f", run_usd(r));
    int64_t wait = r->hs.limited_until - now_ms();
    if (wait > 0)
        printf("  rate-limited: waiting %.0fs", (double)wait / 1000.0 + 0.5);
    else if (r->hs.rate_limited)
        printf("  rate-limited x%ld", r->hs.rate_limited);
    fflush(stdout);
    r->progress_shown = 1;
}

void run_tick(run *r)
{
    progress_draw(r);
}

void run_say(run *r, const char *fmt, ...)
{
    if (r->opts.quiet || r->opts.jsonl)
        return;
    progress_clear(r);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

void run_event(run *r, json_t *ev)
{
    r->version++;
    if (r->opts.jsonl && ev) {
        json_object_set_new(ev, "elapsed_s", json_real(now_wall() - r->t0));
        json_object_set_new(ev, "spent", json_integer(r->sp.spent));
        char *s = json_dumps(ev, JSON_COMPACT | JSON_REAL_PRECISION(6));
        if (s)
            printf("%s\n", s);
        free(s);
        fflush(stdout);
    }
    json_decref(ev);
    if (r->ui && r->snapshot && now_wall() - r->last_snapshot >= 0.2) {
        r->last_snapshot = now_wall();
        r->snapshot(r, r->snapshot_arg);
    }
    progress_draw(r);
}

void run_phase(run *r, const char *phase)
{
    r->phase = phase;
    run_event(r, json_pack("{s:s,s:s}", "event", "phase", "name", phase));
}

int run_ui_start(run *r)
{
    if (!r->opts.ui)
        return 0;
    char err[200];
    r->ui = ui_start(r->opts.ui, err, sizeof err);
    if (!r->ui) {
        fprintf(stderr, "%s: %s\n", r->algorithm, err);
        return -1;
    }
    fprintf(stderr, "Live page: %s\n", ui_url(r->ui));
    run_say(r, "Live page: %s\n", ui_url(r->ui));
    return 0;
}

void run_ui_publish(run *r, const run_outcome *o, int live)
{
    if (r->ui)
        ui_publish(r->ui, report_html(r, o, live, r->phase), r->version);
}

void run_ui_finish(run *r, const run_outcome *o)
{
    progress_clear(r);
    if (!r->ui)
        return;
    r->version++;
    run_ui_publish(r, o, 0);
    if (r->opts.ui_keep && !run_stopped(r)) {
        fprintf(stderr, "The live page stays up at %s (--ui-keep); Ctrl-C to stop.\n", ui_url(r->ui));
        while (!run_stopped(r))
            usleep(100 * 1000);
        *r->opts.stop = 0; /* that Ctrl-C ended the page, not the run */
    }
    ui_stop(r->ui);
    r->ui = NULL;
}

int run_stopped(const run *r)
{
    return r->opts.stop && *r->opts.stop;
}

int run_out_of_time(const run *r)
{
    return now_wall() - r->t0 >= r->cfg->max_time_seconds;
}

long run_left(const run *r)
{
    return r->cfg->budget - r->sp.spent - r->reserve;
}

void run_charge(run *r, enum phase ph, long n)
{
    if (ph != PHASE_HOLDOUT || r->plan.holdout_inside)
        r->sp.spent += n; /* else paid from holdout_budget */
    r->sp.by_phase[ph] += n;
}

double run_usd(const run *r)
{
    const mipro_config *c = r->cfg;
    return ((double)r->sp.prompt_tokens * c->usd_per_mtok_input +
            (double)r->sp.completion_tokens * c->usd_per_mtok_output +
            (double)r->sp.meta_prompt_tokens * c->meta_usd_per_mtok_input +
            (double)r->sp.meta_completion_tokens * c->meta_usd_per_mtok_output) / 1e6;
}

/* n distinct rows of [0, total) not in exclude (nex sorted or not), by
 * partial Fisher-Yates; the first n of the returned array. */
int64_t *run_sample_rows(run *r, size_t total, size_t n, const int64_t *exclude, size_t nex)
{
    unsigned char *skip = xcalloc(total + 1, 1);
    for (size_t e = 0; e < nex; e++)
        if (exclude[e] >= 0 && (size_t)exclude[e] < total)
            skip[exclude[e]] = 1;
    int64_t *all = xmalloc((total + 1) * sizeof(int64_t));
    size_t k = 0;
    for (size_t i = 0; i < total; i++)
        if (!skip[i])
            all[k++] = (int64_t)i;
    free(skip);
    if (n > k)
        n = k;
    for (size_t i = 0; i < n; i++) {
        size_t j = i + (size_t)(splitmix64(&r->rng) % (k - i));
        int64_t t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    return all;
}

int64_t *run_pool_rows(run *r, const seed_list *pool, size_t total, size_t want,
                       const int64_t *exclude, size_t nex, size_t *n)
{
    if (!pool->set || !pool->n) {
        int64_t *rows = run_sample_rows(r, total, want, exclude, nex);
        *n = want < total - (nex < total ? nex : total) ? want : total - (nex < total ? nex : total);
        return rows;
    }
    int64_t *rows = xcalloc(pool->n, sizeof(int64_t));
    for (size_t i = 0; i < pool->n; i++)
        rows[i] = (int64_t)dataset_seed_row(pool->v[i], total);
    *n = pool->n;
    return rows;
}

const char *run_initial_instruction(const mipro_config *c)
{
    for (size_t i = 0; i < c->nsections; i++)
        if (strcmp(c->sections[i].role, "system") == 0)
            return c->sections[i].content;
    return PROMPT_DEFAULT_SYSTEM;
}

int64_t *run_holdout_rows(run *r, size_t *n)
{
    int64_t *rows = run_pool_rows(r, &r->cfg->test_pool, r->test_n, (size_t)r->plan.holdout, NULL, 0, n);
    if ((long)*n > r->plan.holdout)
        *n = (size_t)r->plan.holdout;
    return rows;
}

void run_banner(run *r, const char *title, const char *meta_name)
{
    run_say(r, "========================================\n%s Prompt Optimization\n"
               "========================================\n", title);
    run_say(r, "Job ID: %s\nTask app: %s\nPolicy: %s at %s\n%s: %s at %s\nSeed: %ld\n", r->job_id,
            r->task_url, r->cfg->model, r->policy_url, meta_name, r->meta_model, r->meta_url, r->seed);
}
