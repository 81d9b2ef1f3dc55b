/* report_html.h: the run as one self-contained HTML page (inline SVG and
 * CSS, a few lines of optional inline script, nothing fetched): the score
 * against budget spent, the held-out comparison, the winning prompt as a
 * word diff against the initial one, per-intent accuracy, the top
 * confusions and a confusion heat map, the cost, the config and how to
 * reproduce the run. Written as results/report.html at the end of every run,
 * and served live by --ui while it goes (ui.h). */
#ifndef B77_REPORT_HTML_H
#define B77_REPORT_HTML_H

#include "results.h"
#include "run.h"

/* The page (a new string). live: the run is still going (a progress bar,
 * and a script that reloads it as events arrive); phase names what it does. */
char *report_html(const run *r, const run_outcome *o, int live, const char *phase);

/* Words of a and b as HTML: common words plain, b's new words in <ins>,
 * a's dropped words in <del> (an LCS diff). Appends to out. */
void report_word_diff(const char *a, const char *b, buf *out);

/* s with &, <, >, " escaped, appended to out. */
void report_escape(buf *out, const char *s);

#endif
