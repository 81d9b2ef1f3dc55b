/* rollout.h: one POST /rollout, as pure functions: request JSON -> a
 * prepared upstream call, and upstream reply -> response JSON. No sockets or
 * threads here; the server's HTTP and upstream modules do the I/O. */
#ifndef B77_ROLLOUT_H
#define B77_ROLLOUT_H

#include <jansson.h>
#include <stdint.h>

#include "dataset.h"
#include "params.h"
#include "reply.h"
#include "verr.h"

/* The server's defaults for what a request leaves out. Strings borrowed. */
typedef struct rollout_defaults {
    const char *llm_url;       /* NULL: the request must name one */
    const char *model;         /* NULL: the request must name one */
    int default_split;         /* dataset split id */
    int short_user;            /* use the older short user message */
    int tool_choice_function;  /* force the function object instead of "required" */
    double max_time_cap_s;     /* caps safety.max_time_s; also the default */
    int text_only;             /* render the messages as JSON text only: no tree in
                                  r->messages (the server's way; rollout_response
                                  needs the tree) */
    int adapt;                 /* params.h bits: the request in the form the LLM
                                  server accepts */
    /* More bits for the endpoint and model this request names (the server's
     * memo of what each LLM server accepts), asked once they are known;
     * NULL: none. */
    int (*adapt_for)(void *arg, const char *call_url, const char *model);
    void *adapt_arg;
} rollout_defaults;

/* A validated rollout request. Every string is owned, but messages_json. */
typedef struct rollout {
    char *run_id;
    char *trace_id;
    char *policy_id;
    int split;
    size_t row;
    char *inference_url; /* as received (or the server default) */
    char *call_url;      /* normalised: what is actually called */
    char *model;
    enum output_mode mode;
    json_t *messages;    /* rendered, owned; NULL with text_only */
    const char *messages_json; /* the same, as JSON text: inside upstream_body */
    size_t messages_json_len;
    char *upstream_body; /* the chat-completions request, NUL-terminated */
    size_t upstream_body_len;
    double max_time_s;   /* this rollout's deadline, seconds */
    int temperature_zero; /* the request asked for temperature 0 */
    long max_tokens;     /* the reply's token limit sent, 0: none */
    int adapt;           /* the params.h adaptations the upstream body was built with */
} rollout;

/* The request body as the server reads it: a JSON object, duplicate keys
 * refused; when an integer lies beyond int64 (a seed, say) the text is read
 * again with integers as reals, so that the field's own check answers 422
 * naming it. NULL with the 400 message in err otherwise. */
json_t *rollout_parse_body(const char *text, size_t len, char *err, size_t errlen);

/* Validates body (a JSON object) and fills *out. Returns 0, or -1 with a
 * 422-style error in e (out then holds nothing to free). */
int rollout_prepare(const json_t *body, const dataset *ds, const rollout_defaults *def,
                    rollout *out, verr *e);
void rollout_free(rollout *r);

/* Reads a seed: JSON integer, integer-valued real, or decimal string; NULL or
 * json null mean 0. Returns 0, or -1 for anything else or a value outside
 * int64. */
int rollout_parse_seed(const json_t *v, int64_t *out);

/* Upstream bookkeeping reported in the response's info. */
typedef struct rollout_stats {
    int attempts;     /* upstream calls made, retries included */
    int64_t llm_ms;   /* time spent waiting for the LLM */
    const char *cache; /* "hit", "shared", "miss" or "off" */
} rollout_stats;

/* Builds the 200 response (new reference) from the parsed reply: the
 * reference form, which the tests and the fuzzer hold the text to. */
json_t *rollout_response(const rollout *r, const dataset *ds, const llm_reply *reply,
                         const rollout_stats *st);
/* The same response as JSON text (a new string), the bytes
 * json_dumps(JSON_COMPACT | JSON_REAL_PRECISION(15)) gives for it, written
 * directly (the server's path: no tree, the messages escaped once). NULL
 * when the response cannot be encoded. */
char *rollout_response_text(const rollout *r, const dataset *ds, const llm_reply *reply,
                            const rollout_stats *st);

#endif
