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
#include "dataset.h"
#include "log.h"
#include "server.h"

/* Parked rollouts hold sockets: allow as many descriptors as the system lets. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void *init_curl(void *arg)
{
    (void)arg;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return NULL;
}

int main(int argc, char **argv)
{
    server_config cfg;
    int rc = options_parse(&cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;

    /* Before any thread starts: signals blocked so every thread inherits the
     * mask and only sigwait below sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    json_object_seed(0);

    /* libcurl's global set-up (TLS libraries: a millisecond and more) runs
     * while the dataset loads; nothing else touches libcurl until the join. */
    pthread_t init_thread;
    int threaded = pthread_create(&init_thread, NULL, init_curl, NULL) == 0;
    if (!threaded)
        init_curl(NULL);
    int64_t t0 = now_ms();
    char err[512];
    dataset *ds = dataset_load(cfg.data_dir, cfg.check_counts, err, sizeof err);
    if (threaded)
        pthread_join(init_thread, NULL);
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
