/* gepa.h: the GEPA run (Agrawal et al., arXiv 2507.19457; gepa-ai/gepa):
 * evolve the instruction by reflective mutation, parents drawn from the
 * per-instance Pareto frontier on validation rows, children accepted when
 * they beat their parent on the same training minibatch, optional merges;
 * then the winner and the initial prompt on the same held-out test rows. */
#ifndef B77_GEPA_H
#define B77_GEPA_H

#include "mipro.h"
#include "mipro_config.h"

/* Runs the whole optimization; exit codes as mipro_run. */
int gepa_run(const mipro_config *cfg, const mipro_opts *opts);

#endif
