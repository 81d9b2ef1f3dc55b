/* pareto.h: GEPA's per-instance Pareto frontier over candidates scored on
 * the same validation instances. Pure.
 *
 * For each instance, the candidates with its highest score form that
 * instance's front. A candidate is dominated when every front it is on also
 * holds another candidate still standing; dominated candidates are removed
 * one at a time, lowest total score first (as gepa-ai does), so that of two
 * candidates on exactly the same fronts the better one stays. A standing
 * candidate's weight is the number of fronts it is on. */
#ifndef B77_PARETO_H
#define B77_PARETO_H

#include <stddef.h>
#include <stdint.h>

/* scores: ncand rows of ninst (row-major); NAN counts as not scored (on no
 * front). Writes each candidate's weight into weights[ncand] (0: off the
 * frontier or dominated). Returns how many candidates have a weight. */
size_t pareto_weights(const double *scores, size_t ncand, size_t ninst, size_t *weights);

/* A candidate drawn with probability proportional to its weight; -1 when
 * every weight is 0. rng is advanced. */
int pareto_pick(const size_t *weights, size_t ncand, uint64_t *rng);

#endif
