/* contract.h: the newest task-app contract (synth-laboratories/containers,
 * contract version CONTRACT_VERSION) for this one-step environment, as
 * pure functions: a POST /rollouts request checked and turned into the
 * POST /rollout request it amounts to, the prompt program an optimizer may
 * change (GET /program), a candidate checked (POST /validate-candidate),
 * and the answer of POST /rollouts built from the POST /rollout one. No
 * I/O or threads here; server/rollouts_handler.c does the HTTP. */
#ifndef B77_CONTRACT_H
#define B77_CONTRACT_H

#include <jansson.h>
#include <stdint.h>

#include "prompt.h"
#include "verr.h"

/* ontology.CONTRACT_VERSION of synth-laboratories/containers. */
#define CONTRACT_VERSION "2026-05-28"
#define CONTRACT_PROGRAM_VERSION "prompt_program.v1"
#define CONTRACT_ROLLOUT_ID_MAX 128

/* 1 when id is 1-128 letters, digits, '_', '.', ':' or '-' starting with a
 * letter or digit (the reference's rule). */
int contract_rollout_id_valid(const char *id);

/* A POST /rollouts request, checked. Strings owned. */
typedef struct contract_request {
    char *rollout_id;           /* the request's, or the generated one */
    char *trace_correlation_id; /* the request's, else rollout_id */
    char *trial_id;             /* NULL when none */
    int async;                  /* submission_mode "async" */
    json_t *seed;               /* the seed asked for (new reference), or NULL */
    json_t *legacy;             /* the POST /rollout body it amounts to (owned) */
    unsigned char fingerprint[32]; /* SHA-256 of the request, submission_mode aside:
                                      what makes a repeated rollout_id the same rollout */
} contract_request;

/* Checks body (an object) as the reference's RolloutRequestModel does
 * (unknown fields refused, raw credentials in policy.config refused) and
 * fills *out. generated_id: the rollout id when the request has none.
 * Returns 0, or -1 with a 422 error in e (out then holds nothing). */
int contract_parse_request(const json_t *body, const char *generated_id, contract_request *out,
                           verr *e);
void contract_request_free(contract_request *r);

/* The prompt_template (policy.config.prompt_template, see prompt.h) a
 * candidate amounts to (new reference), or NULL with e set under loc_root
 * (e.g. "candidate"). A candidate is an object of the fields /program
 * names: "instruction" (the system message), "demonstrations" (an array, or
 * its JSON text, of {"query", "intent"}), "user_template" (the user message,
 * with {query}); absent fields keep the seed candidate's. */
json_t *contract_candidate_template(const json_t *candidate, const char *loc_root, verr *e);

/* GET /program (new reference). */
json_t *contract_program(void);

/* What the server knows of a finished rollout, for its answer. */
typedef struct contract_result_meta {
    const contract_request *req;
    int64_t created_ms, updated_ms; /* wall clock, ms since the epoch */
} contract_result_meta;

/* The POST /rollouts answer (new reference) built from the POST /rollout
 * response (borrowed): rollout_id, trace_correlation_id, status,
 * success_status, reward_info {outcome_reward, event_rewards, details},
 * summary, usage, trace, and the older fields (trajectories, metrics) for
 * tools that read them. */
json_t *contract_result(const json_t *legacy, const contract_result_meta *m);

/* The answer for a rollout that did not complete: HTTP status from the
 * failed POST /rollout (its body borrowed: detail, error). */
json_t *contract_failure(unsigned http_status, const json_t *legacy_error,
                         const contract_result_meta *m);

/* success_status for a rollout that ended with this HTTP status. */
const char *contract_success_status(unsigned http_status);

/* POST /validate-candidate: the reference's ValidateCandidateResponse
 * (new reference) for a request {candidate_id, artifact_payload: a
 * candidate, ...} or a bare {"candidate": ...}; the candidate is rendered
 * with vars (one dataset row) to check its placeholders and sizes. */
json_t *contract_validate_candidate(const json_t *body, const prompt_vars *vars);

/* ISO-8601 UTC with milliseconds ("2026-12-03T23:10:00.123Z") into out. */
void contract_iso_time(int64_t ms, char out[32]);

#endif
