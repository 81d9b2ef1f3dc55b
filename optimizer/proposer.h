/* proposer.h: what a meta-model (MIPRO's proposer, GEPA's reflection model)
 * is shown when it writes an instruction: the task, the current instruction
 * and its score, and either the prompt's mistakes (query, expected and
 * predicted intent) or labelled examples; and which mistakes to show. Pure. */
#ifndef B77_PROPOSER_H
#define B77_PROPOSER_H

#include <stddef.h>
#include <stdint.h>

#include "demos.h"
#include "mipro_config.h"

/* One example as a prompt answered it (borrowed strings). */
typedef struct feedback {
    const char *query, *label, *predicted;
} feedback;

extern const char *const proposer_system;
/* The i-th tip ("Be creative...", "Keep it simple..."), cycling. */
const char *proposer_tip(size_t i);

/* The user message asking for proposal k of `of`: with the mistakes
 * mis[0..nmis) when there are any, else the examples ex[0..nex). score is
 * NAN when unknown. The caller frees it. */
char *proposer_prompt(const mipro_config *c, const char *current, double score, size_t nscore,
                      const feedback *mis, size_t nmis, const demo *ex, size_t nex, const char *tip,
                      size_t k, size_t of);

/* Up to want of the mistakes among n answered rows (reward < 1 with a
 * prediction), one per (expected, predicted) pair, the most frequent pairs
 * first (ties in a seeded order); into out. Returns how many. */
size_t proposer_mistakes(uint64_t *rng, const char *const *query, const char *const *label,
                         const char *const *pred, const double *reward, size_t n, feedback *out,
                         size_t want);

#endif
