/* config.h: the task app's settings, filled by options.c from the command
 * line and the environment, read-only once the server starts. */
#ifndef B77_CONFIG_H
#define B77_CONFIG_H

#include <stddef.h>

typedef struct server_config {
    const char *host;
    int port;                  /* 0 picks a free port */
    const char *data_dir;
    int default_split;         /* dataset split id */
    unsigned max_inflight;     /* rollouts parked at once; more get 503 */
    unsigned max_connections;  /* client connections at once */
    unsigned threads;          /* HTTP threads */
    size_t max_body;           /* request body cap, bytes */
    size_t max_reply;          /* upstream reply cap, bytes */
    const char *llm_url;       /* default inference URL, or NULL */
    const char *model;         /* default model, or NULL */
    const char *llm_api_key;   /* operator's Bearer key for non-provider hosts */
    const char *openai_key;
    const char *groq_key;
    double max_time_s;         /* cap on one rollout's deadline */
    long connect_timeout_ms;
    long call_timeout_ms;      /* one upstream attempt */
    int max_retries;
    int upstream_idle_s;       /* LLM connections no call used this long are closed */
    double llm_rpm, llm_tpm;   /* each LLM account's known limits, per minute; 0: unknown */
    int rate_adapt;            /* learn the limits from replies (ratelimit.h) */
    int short_user;            /* older short user message */
    int tool_choice_function;  /* forced-function tool_choice */
    int strict_params;         /* never resend in the form an LLM server accepts */
    int idle_timeout_s;        /* idle client connections are closed after this */
    int grace_s;               /* shutdown: how long in-flight rollouts may finish */
    int check_counts;          /* require the published row counts */
    int cache_mode;            /* 0 off, 1 auto (temperature 0 only), 2 on */
    size_t cache_bytes;        /* reply cache bound */
    const char *cache_store;   /* "memory", "sqlite:PATH", "redis://...", or NULL (memory) */
    long cache_ttl_s;          /* how long Redis keeps a reply; 0: its memory policy decides */
    int cache_stats;           /* print the store's figures and exit */
    long rollout_retention_s;  /* POST /rollouts results kept this long for replay */
    size_t rollout_bytes;      /* ...within this much memory */
} server_config;

/* Fills cfg from argv and the environment. Returns 0 to run, 1 when the
 * program should exit 0 (--help, --version), -1 on a usage error (printed). */
int options_parse(server_config *cfg, int argc, char **argv);

#endif
