/* options.c: command line and environment -> server_config. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "log.h"
#include "util.h"

#define DEFAULT_PORT 8002
#define DEFAULT_MAX_INFLIGHT 1024
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_MAX_REPLY (4 * 1024 * 1024)
#define DEFAULT_MAX_TIME_S 600.0

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: task-app [OPTIONS]\n"
        "\n"
        "The Banking77 task app: serves the synth-ai task-app HTTP contract (health, info,\n"
        "task_info, rollout) and scores a prompt by calling an OpenAI-compatible LLM.\n"
        "\n"
        "Options:\n"
        "  --host ADDR            address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
        "  --port N               port (default %d; 0 picks a free one)\n"
        "  --data-dir DIR         folder with train.csv and test.csv (default dataset)\n"
        "  --default-split NAME   split used when a request names none: test or train\n"
        "                         (default test)\n"
        "  --max-inflight N       rollouts waiting on the LLM at once; more get 503\n"
        "                         (default %d)\n"
        "  --max-connections N    client connections at once, split evenly between the\n"
        "                         threads (default 4 x max-inflight)\n"
        "  --threads N            threads, each serving HTTP and its own LLM calls (default 2)\n"
        "  --max-body BYTES       request body cap (default %d)\n"
        "  --llm-url URL          default inference URL when a request gives none\n"
        "                         (env LLM_BASE_URL; else OpenAI or Groq when their key is set)\n"
        "  --model NAME           default model when a request gives none (env LLM_MODEL)\n"
        "  --max-time S           cap on one rollout's deadline, seconds (default %.0f)\n"
        "  --upstream-timeout S   one LLM attempt, seconds (default 120)\n"
        "  --connect-timeout S    connecting to the LLM, seconds (default 10)\n"
        "  --retries N            retries on 429/502/503/504/transport errors (default 3)\n"
        "  --upstream-idle S      close pooled LLM connections after S seconds without\n"
        "                         calls (default 120)\n"
        "  --llm-rpm N            requests a minute each LLM account (origin and key) allows:\n"
        "                         calls are paced 3%% under it (default: learned, see below)\n"
        "  --llm-tpm N            tokens a minute each LLM account allows (prompt characters / 4\n"
        "                         plus the reply's token limit per call), paced the same way\n"
        "  --rate-adapt MODE      on (default): learn each account's limits from its\n"
        "                         x-ratelimit-* headers and 429s, pause for Retry-After, hold\n"
        "                         calls beyond them in a queue (a rollout that gets no slot\n"
        "                         before its deadline is answered 503 with Retry-After);\n"
        "                         off: only --llm-rpm/--llm-tpm apply, 429s are retried\n"
        "  --short-user-prompt    use the older short user message (no intent list)\n"
        "  --strict-params        send every request as asked, even to an LLM server that refused\n"
        "                         a parameter (by default the task app learns what each server\n"
        "                         accepts from its 400 and resends once in that form)\n"
        "  --tool-choice MODE     required (default) or function (the forced-function\n"
        "                         object, for servers that reject \"required\")\n"
        "  --idle-timeout S       close idle client connections after S seconds (default 60)\n"
        "  --grace S              on SIGTERM/SIGINT, let rollouts finish this long (default 30)\n"
        "  --log-level LEVEL      debug, info, warn, error or off (default info)\n"
        "  --any-row-count        accept CSVs whose row counts differ from Banking77's\n"
        "  --cache MODE           reuse LLM replies: auto (requests with temperature 0; the\n"
        "                         default), on (every request) or off; identical requests in\n"
        "                         flight at once share one call either way unless off\n"
        "  --cache-bytes N        bound of the reply cache, in memory and in its store each\n"
        "                         (default 67108864)\n"
        "  --cache-store STORE    where replies are kept besides memory: memory (none; the\n"
        "                         default), sqlite:PATH (a SQLite file: kept across restarts,\n"
        "                         shared by the task apps of a host, least recently used\n"
        "                         replies evicted past --cache-bytes) or redis://HOST:PORT[/DB]\n"
        "                         (shared by replicas on many hosts: one LLM call per distinct\n"
        "                         request across them; Redis's maxmemory bounds it)\n"
        "  --cache-ttl S          how long Redis keeps a reply (default 604800, a week; 0: until\n"
        "                         its memory policy evicts it)\n"
        "  --cache-file PATH      the same as --cache-store sqlite:PATH\n"
        "  --cache-stats          print the store's entries, bytes and hit rate, and exit\n"
        "  --rollout-retention S  keep POST /rollouts results S seconds for replay by\n"
        "                         rollout_id (default 3600; in the cache's store too, when\n"
        "                         there is one, so that replays survive a restart)\n"
        "  --rollout-bytes N      ...within N bytes of memory (default 67108864)\n"
        "  -h, --help             show this help\n"
        "\n"
        "Environment:\n"
        "  ENVIRONMENT_API_KEY            the key callers must send (X-API-Key, X-API-Keys or\n"
        "                                 Authorization: Bearer); DEV_ENVIRONMENT_API_KEY if unset\n"
        "  ENVIRONMENT_API_KEY_ALIASES    further accepted keys, comma-separated\n"
        "  OPENAI_API_KEY, GROQ_API_KEY   sent as Bearer to api.openai.com / api.groq.com\n"
        "  LLM_API_KEY                    sent as Bearer to any other LLM host\n"
        "  LLM_BASE_URL, LLM_MODEL        defaults for --llm-url and --model\n",
        DEFAULT_PORT, DEFAULT_MAX_INFLIGHT, DEFAULT_MAX_BODY, DEFAULT_MAX_TIME_S);
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "task-app: %s wants an integer from %ld to %ld, got \"%s\"\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_seconds(const char *opt, const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v > 0) || v > 86400) {
        fprintf(stderr, "task-app: %s wants a positive number of seconds, got \"%s\"\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int options_parse(server_config *cfg, int argc, char **argv)
{
    static char *store_spec; /* --cache-file's spec: lives as long as the program */
    enum {
        O_HOST = 256, O_PORT, O_DATA, O_SPLIT, O_INFLIGHT, O_CONNS, O_THREADS, O_BODY, O_URL,
        O_MODEL, O_MAXTIME, O_UPTIMEOUT, O_CONNTIMEOUT, O_RETRIES, O_SHORT, O_STRICT, O_TOOLCHOICE,
        O_IDLE, O_GRACE, O_LOG, O_ANYCOUNT, O_CACHE, O_CACHE_BYTES, O_CACHE_FILE, O_UPIDLE,
        O_RPM, O_TPM, O_RATE_ADAPT, O_CACHE_STORE, O_CACHE_TTL, O_CACHE_STATS, O_RETENTION, O_RBYTES,
    };
    static const struct option longopts[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"data-dir", required_argument, 0, O_DATA},
        {"default-split", required_argument, 0, O_SPLIT},
        {"max-inflight", required_argument, 0, O_INFLIGHT},
        {"max-connections", required_argument, 0, O_CONNS},
        {"threads", required_argument, 0, O_THREADS},
        {"max-body", required_argument, 0, O_BODY},
        {"llm-url", required_argument, 0, O_URL},
        {"model", required_argument, 0, O_MODEL},
        {"max-time", required_argument, 0, O_MAXTIME},
        {"upstream-timeout", required_argument, 0, O_UPTIMEOUT},
        {"connect-timeout", required_argument, 0, O_CONNTIMEOUT},
        {"retries", required_argument, 0, O_RETRIES},
        {"upstream-idle", required_argument, 0, O_UPIDLE},
        {"llm-rpm", required_argument, 0, O_RPM},
        {"llm-tpm", required_argument, 0, O_TPM},
        {"rate-adapt", required_argument, 0, O_RATE_ADAPT},
        {"short-user-prompt", no_argument, 0, O_SHORT},
        {"strict-params", no_argument, 0, O_STRICT},
        {"tool-choice", required_argument, 0, O_TOOLCHOICE},
        {"idle-timeout", required_argument, 0, O_IDLE},
        {"grace", required_argument, 0, O_GRACE},
        {"log-level", required_argument, 0, O_LOG},
        {"any-row-count", no_argument, 0, O_ANYCOUNT},
        {"cache", required_argument, 0, O_CACHE},
        {"cache-bytes", required_argument, 0, O_CACHE_BYTES},
        {"cache-file", required_argument, 0, O_CACHE_FILE},
        {"cache-store", required_argument, 0, O_CACHE_STORE},
        {"cache-stats", no_argument, 0, O_CACHE_STATS},
        {"cache-ttl", required_argument, 0, O_CACHE_TTL},
        {"rollout-retention", required_argument, 0, O_RETENTION},
        {"rollout-bytes", required_argument, 0, O_RBYTES},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *cfg = (server_config){
        .host = "127.0.0.1",
        .port = DEFAULT_PORT,
        .data_dir = "dataset",
        .default_split = 1,
        .max_inflight = DEFAULT_MAX_INFLIGHT,
        .threads = 2,
        .max_body = DEFAULT_MAX_BODY,
        .max_reply = DEFAULT_MAX_REPLY,
        .max_time_s = DEFAULT_MAX_TIME_S,
        .connect_timeout_ms = 10000,
        .call_timeout_ms = 120000,
        .max_retries = 3,
        .rollout_retention_s = 3600,
        .rollout_bytes = 64u << 20,
        .upstream_idle_s = 120, /* libcurl reuses none idle over 118 s anyway */
        .idle_timeout_s = 60,
        .grace_s = 30,
        .check_counts = 1,
        .cache_mode = 1,
        .cache_bytes = 64u << 20,
        .cache_ttl_s = 7 * 86400,
        .rate_adapt = 1,
    };
    cfg->openai_key = env("OPENAI_API_KEY");
    cfg->groq_key = env("GROQ_API_KEY");
    cfg->llm_api_key = env("LLM_API_KEY");
    cfg->llm_url = env("LLM_BASE_URL");
    cfg->model = env("LLM_MODEL");
    long v;
    double d;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_HOST: cfg->host = optarg; break;
        case O_PORT:
            if (parse_long("--port", optarg, 0, 65535, &v)) return -1;
            cfg->port = (int)v;
            break;
        case O_DATA: cfg->data_dir = optarg; break;
        case O_SPLIT:
            if ((cfg->default_split = dataset_split_id(optarg)) < 0) {
                fprintf(stderr, "task-app: --default-split must be train or test, got \"%s\"\n", optarg);
                return -1;
            }
            break;
        case O_INFLIGHT:
            if (parse_long("--max-inflight", optarg, 1, 100000, &v)) return -1;
            cfg->max_inflight = (unsigned)v;
            break;
        case O_CONNS:
            if (parse_long("--max-connections", optarg, 1, 1000000, &v)) return -1;
            cfg->max_connections = (unsigned)v;
            break;
        case O_THREADS:
            if (parse_long("--threads", optarg, 1, 64, &v)) return -1;
            cfg->threads = (unsigned)v;
            break;
        case O_BODY:
            if (parse_long("--max-body", optarg, 1024, 1L << 30, &v)) return -1;
            cfg->max_body = (size_t)v;
            break;
        case O_URL: cfg->llm_url = optarg; break;
        case O_MODEL: cfg->model = optarg; break;
        case O_MAXTIME:
            if (parse_seconds("--max-time", optarg, &cfg->max_time_s)) return -1;
            break;
        case O_UPTIMEOUT:
            if (parse_seconds("--upstream-timeout", optarg, &d)) return -1;
            cfg->call_timeout_ms = (long)(d * 1000);
            break;
        case O_CONNTIMEOUT:
            if (parse_seconds("--connect-timeout", optarg, &d)) return -1;
            cfg->connect_timeout_ms = (long)(d * 1000);
            break;
        case O_RETRIES:
            if (parse_long("--retries", optarg, 0, 10, &v)) return -1;
            cfg->max_retries = (int)v;
            break;
        case O_UPIDLE:
            if (parse_long("--upstream-idle", optarg, 1, 86400, &v)) return -1;
            cfg->upstream_idle_s = (int)v;
            break;
        case O_RPM:
            if (parse_long("--llm-rpm", optarg, 1, 1000000000L, &v)) return -1;
            cfg->llm_rpm = (double)v;
            break;
        case O_TPM:
            if (parse_long("--llm-tpm", optarg, 1, 1000000000000L, &v)) return -1;
            cfg->llm_tpm = (double)v;
            break;
        case O_RATE_ADAPT:
            if (strcmp(optarg, "on") == 0) {
                cfg->rate_adapt = 1;
            } else if (strcmp(optarg, "off") == 0) {
                cfg->rate_adapt = 0;
            } else {
                fprintf(stderr, "task-app: --rate-adapt must be on or off\n");
                return -1;
            }
            break;
        case O_SHORT: cfg->short_user = 1; break;
        case O_STRICT: cfg->strict_params = 1; break;
        case O_TOOLCHOICE:
            if (strcmp(optarg, "required") == 0) {
                cfg->tool_choice_function = 0;
            } else if (strcmp(optarg, "function") == 0) {
                cfg->tool_choice_function = 1;
            } else {
                fprintf(stderr, "task-app: --tool-choice must be required or function\n");
                return -1;
            }
            break;
        case O_IDLE:
            if (parse_long("--idle-timeout", optarg, 1, 86400, &v)) return -1;
            cfg->idle_timeout_s = (int)v;
            break;
        case O_GRACE:
            if (parse_long("--grace", optarg, 0, 3600, &v)) return -1;
            cfg->grace_s = (int)v;
            break;
        case O_LOG: {
            int lvl = log_parse_level(optarg);
            if (lvl < 0) {
                fprintf(stderr, "task-app: --log-level must be debug, info, warn, error or off\n");
                return -1;
            }
            log_set_level((enum log_level)lvl);
            break;
        }
        case O_ANYCOUNT: cfg->check_counts = 0; break;
        case O_CACHE:
            if (strcmp(optarg, "off") == 0) {
                cfg->cache_mode = 0;
            } else if (strcmp(optarg, "auto") == 0) {
                cfg->cache_mode = 1;
            } else if (strcmp(optarg, "on") == 0) {
                cfg->cache_mode = 2;
            } else {
                fprintf(stderr, "task-app: --cache must be auto, on or off\n");
                return -1;
            }
            break;
        case O_CACHE_BYTES:
            if (parse_long("--cache-bytes", optarg, 0, 1L << 40, &v)) return -1;
            cfg->cache_bytes = (size_t)v;
            break;
        case O_CACHE_FILE:
            free(store_spec);
            store_spec = xasprintf("sqlite:%s", optarg);
            cfg->cache_store = store_spec;
            break;
        case O_CACHE_STORE:
            if (strcmp(optarg, "memory") != 0 && (strncmp(optarg, "sqlite:", 7) != 0 || !optarg[7]) &&
                strncmp(optarg, "redis://", 8) != 0) {
                fprintf(stderr, "task-app: --cache-store must be memory, sqlite:PATH or "
                                "redis://HOST:PORT[/DB], got \"%s\"\n",
                        optarg);
                return -1;
            }
            cfg->cache_store = optarg;
            break;
        case O_CACHE_TTL:
            if (parse_long("--cache-ttl", optarg, 0, 10L * 365 * 86400, &v)) return -1;
            cfg->cache_ttl_s = v;
            break;
        case O_CACHE_STATS: cfg->cache_stats = 1; break;
        case O_RETENTION:
            if (parse_long("--rollout-retention", optarg, 0, 365L * 86400, &v)) return -1;
            cfg->rollout_retention_s = v;
            break;
        case O_RBYTES:
            if (parse_long("--rollout-bytes", optarg, 0, 1L << 40, &v)) return -1;
            cfg->rollout_bytes = (size_t)v;
            break;
        case 'h': usage(stdout); return 1;
        default:
            fprintf(stderr, "Try 'task-app --help'.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "task-app: unexpected argument \"%s\"\nTry 'task-app --help'.\n", argv[optind]);
        return -1;
    }
    if (!cfg->max_connections)
        cfg->max_connections = cfg->max_inflight * 4 < 64 ? 64 : cfg->max_inflight * 4;
    if (!cfg->llm_url && cfg->openai_key)
        cfg->llm_url = "https://api.openai.com/v1";
    else if (!cfg->llm_url && cfg->groq_key)
        cfg->llm_url = "https://api.groq.com/openai/v1";
    return 0;
}
