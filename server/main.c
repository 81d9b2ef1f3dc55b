/* main.c: the task app's entry point. Parses options, loads the dataset,
 * starts the server and waits for SIGTERM or SIGINT. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "auth.h"
#include "config.h"
#include "curl_load.h"
#include "dataset.h"
#include "dataset_load.h"
#include "jalloc.h"
#include "log.h"
#include "server.h"
#include "store.h"

/* Parked rollouts hold sockets: allow as many descriptors as the system lets. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Opens libcurl and runs its global set-up; NULL, or why it cannot. */
static void *init_curl(void *arg)
{
    (void)arg;
    const char *err = curl_load();
    if (!err && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        err = "libcurl's global set-up failed";
    return (void *)err;
}

/* --cache-stats: the store's figures, then exit. */
static int print_cache_stats(const server_config *cfg)
{
    if (!cfg->cache_store || strcmp(cfg->cache_store, "memory") == 0) {
        fprintf(stderr, "task-app: --cache-stats needs --cache-store sqlite:PATH (or --cache-file) "
                        "or redis://HOST:PORT\n");
        return 2;
    }
    char err[300];
    jalloc_install();
    store *st = store_open(cfg->cache_store, cfg->cache_bytes, (int64_t)cfg->cache_ttl_s * 1000, err,
                           sizeof err);
    if (!st) {
        fprintf(stderr, "task-app: %s\n", err);
        return 2;
    }
    store_stats s = store_get_stats(st, 1);
    if (s.entries < 0) {
        fprintf(stderr, "task-app: cannot read %s: %s\n", s.path, s.last_error);
        store_close(st);
        return 1;
    }
    if (strcmp(s.kind, "redis") == 0) /* its own maxmemory bounds it */
        printf("store: %s %s\nentries: %lld (keys in the database)\nbytes: %lld (Redis's "
               "used_memory)\nlookups: %lld, hits: %lld",
               s.kind, s.path, s.entries, s.bytes, s.lookups_all, s.hits_all);
    else
        printf("store: %s %s\nentries: %lld\nbytes: %lld (bound %zu)\nlookups: %lld, hits: %lld",
               s.kind, s.path, s.entries, s.bytes, cfg->cache_bytes, s.lookups_all, s.hits_all);
    if (s.lookups_all > 0)
        printf(" (hit rate %.1f%%)", 100.0 * (double)s.hits_all / (double)s.lookups_all);
    printf("\n");
    store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    server_config cfg;
    int rc = options_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (cfg.cache_stats)
        return print_cache_stats(&cfg);

    /* Before any thread starts: signals blocked so every thread inherits the
     * mask and only sigwait below sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    jalloc_install(); /* before any jansson value */
    json_object_seed(0);

    /* The dataset parses on two threads while a third opens libcurl (its
     * libraries: 3.5 ms) and runs its global set-up (TLS: a millisecond and
     * more); nothing else touches libcurl until the join. The dataset's
     * thread starts first: it could not start while libcurl is being
     * opened. */
    int64_t t0 = now_ms();
    char err[512];
    dataset_loading *loading = dataset_load_start(cfg.data_dir, cfg.check_counts, err, sizeof err);
    pthread_t init_thread;
    void *curl_err = NULL;
    int threaded = pthread_create(&init_thread, NULL, init_curl, NULL) == 0;
    if (!threaded)
        curl_err = init_curl(NULL);
    dataset *ds = loading ? dataset_load_finish(loading, err, sizeof err) : NULL;
    if (threaded)
        pthread_join(init_thread, &curl_err);
    if (curl_err) {
        log_error("%s", (const char *)curl_err);
        dataset_free(ds);
        return 1;
    }
    if (!ds) {
        log_error("cannot load the dataset: %s", err);
        fprintf(stderr, "hint: run `make dataset` (or pass --data-dir DIR)\n");
        curl_global_cleanup();
        return 1;
    }
    log_info("loaded %s: train %zu rows, test %zu rows, %zu labels in %lld ms", cfg.data_dir,
             dataset_size(ds, 0), dataset_size(ds, 1), dataset_num_labels(ds),
             (long long)(now_ms() - t0));
    auth *keys = auth_from_env();
    if (!auth_configured(keys))
        log_warn("ENVIRONMENT_API_KEY is not set: every route but /, /health and "
                 "/health/rollout will answer 503 until it is");
    if (!cfg.llm_url)
        log_info("no default LLM (--llm-url): each rollout must name policy.config.inference_url");

    server *srv = server_start(&cfg, ds, keys);
    if (!srv) {
        auth_free(keys);
        dataset_free(ds);
        curl_global_cleanup();
        return 1;
    }
    const char *shown = cfg.host;
    fprintf(stderr, "listening on http://%s%s%s:%d\n", strchr(shown, ':') ? "[" : "", shown,
            strchr(shown, ':') ? "]" : "", server_port(srv));

    int sig = 0;
    sigwait(&sigs, &sig);
    log_info("received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(srv, cfg.grace_s);
    auth_free(keys);
    dataset_free(ds);
    curl_global_cleanup();
    log_info("stopped");
    return 0;
}
