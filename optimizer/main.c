/* mipro: a local MIPRO optimizer for the Banking77 task app. Parses options,
 * loads the config, and runs mipro_run. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mipro_config.h"
#include "gepa.h"
#include "mipro.h"
#include "report.h"

static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig)
{
    (void)sig;
    if (stop_requested)
        _exit(130); /* a second Ctrl-C: leave at once */
    stop_requested = 1;
}

static void warn_line(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
}

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: mipro [OPTIONS] CONFIG.toml\n"
        "       mipro --report RESULTS_DIR\n"
        "\n"
        "Optimizes the Banking77 prompt through the task app's POST /rollout, with the\n"
        "algorithm the config names (prompt_learning.algorithm):\n"
        "  mipro  proposes instructions with a meta-model, bootstraps demonstrations, searches\n"
        "         their combinations with TPE on validation minibatches\n"
        "  gepa   evolves the instruction by reflection on its mistakes, parents drawn from\n"
        "         the per-instance Pareto frontier of the validation rows\n"
        "Then the winner and the initial prompt are scored on the same held-out test rows,\n"
        "with intervals and a significance test. See README.md for the config.\n"
        "\n"
        "Options:\n"
        "  --seed N           random seed (default: the config's, else 0); same seed, same run\n"
        "  --results DIR      results folder (default: the config's results_folder)\n"
        "  --task-app URL     task app base URL (default: the config's task_app_url)\n"
        "  --resume           continue an interrupted run from its results folder, reusing\n"
        "                     every logged rollout instead of calling again\n"
        "  --dry-run          print the plan (what each phase will spend, from the budget and\n"
        "                     the task app's split sizes) and exit: no LLM call, nothing written\n"
        "  --quiet            print only the final result\n"
        "  --jsonl            print machine-readable events, one JSON object per line\n"
        "  --report DIR       review a finished run: best prompt, demonstrations, scores,\n"
        "                     a sparkline, and DIR/score_history.svg (every run also writes\n"
        "                     DIR/report.html: open it in a browser)\n"
        "  --ui [HOST:]PORT   serve the run's live page while it goes (HOST 127.0.0.1 by\n"
        "                     default; PORT 0 picks a free one, printed)\n"
        "  --ui-keep          keep serving the final page after the run, until Ctrl-C\n"
        "  -h, --help         show this help\n"
        "\n"
        "Environment: ENVIRONMENT_API_KEY (sent to the task app), OPENAI_API_KEY, GROQ_API_KEY,\n"
        "LLM_API_KEY (for the meta-model's host).\n"
        "Ctrl-C writes the results so far; a second Ctrl-C exits at once.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seed", required_argument, 0, 's'},   {"results", required_argument, 0, 'r'},
        {"task-app", required_argument, 0, 't'}, {"resume", no_argument, 0, 'R'},
        {"quiet", no_argument, 0, 'q'},        {"jsonl", no_argument, 0, 'j'},
        {"report", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {"ui", required_argument, 0, 'U'},     {"ui-keep", no_argument, 0, 'K'},
        {"dry-run", no_argument, 0, 'D'},
        {0, 0, 0, 0},
    };
    mipro_opts o = {0};
    o.stop = &stop_requested;
    int c;
    while ((c = getopt_long(argc, argv, "hq", longopts, NULL)) != -1) {
        switch (c) {
        case 's': {
            char *end;
            o.seed = strtol(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "mipro: --seed wants an integer\n");
                return 2;
            }
            o.seed_set = 1;
            break;
        }
        case 'r': o.results_folder = optarg; break;
        case 't': o.task_app_url = optarg; break;
        case 'R': o.resume = 1; break;
        case 'q': o.quiet = 1; break;
        case 'j': o.jsonl = 1; break;
        case 'P': return report_run(optarg);
        case 'U': o.ui = optarg; break;
        case 'K': o.ui_keep = 1; break;
        case 'D': o.dry_run = 1; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try 'mipro --help'.\n"); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    mipro_config cfg;
    char err[600];
    if (config_load(argv[optind], &cfg, err, sizeof err, warn_line) != 0) {
        fprintf(stderr, "mipro: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(1);
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = strcmp(cfg.algorithm, "gepa") == 0 ? gepa_run(&cfg, &o) : mipro_run(&cfg, &o);
    config_free(&cfg);
    curl_global_cleanup();
    return rc;
}
