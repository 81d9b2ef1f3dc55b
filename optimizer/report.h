/* report.h: the review of a finished run (walkthrough step 6): prints the
 * best prompt, its demonstrations, the held-out scores and a sparkline of the
 * trial scores, and writes score_history.svg into the results folder. */
#ifndef B77_MIPRO_REPORT_H
#define B77_MIPRO_REPORT_H

/* Returns 0, or 1 with a message on stderr when the folder holds no results. */
int report_run(const char *results_dir);

#endif
