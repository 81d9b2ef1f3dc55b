/* report.c: see report.h. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

#define W 720
#define H 360
#define PAD 50

static double num(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int write_svg(const char *path, const json_t *trials, double best, double initial)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = json_array_size(trials);
    double xs = n > 1 ? (double)(W - 2 * PAD) / (double)(n - 1) : 0;
#define X(i) (PAD + (n > 1 ? (double)(i) * xs : (W - 2 * PAD) / 2.0))
#define Y(v) (H - PAD - (v) * (H - 2 * PAD))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"16\">MIPRO score progression</text>\n", PAD);
    for (int k = 0; k <= 4; k++) {
        double v = k / 4.0;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", PAD, Y(v),
                W - PAD, Y(v));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", PAD - 6, Y(v) + 4, v);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">trial</text>\n", W / 2, H - 12);
    /* running best of the minibatch scores */
    buf line = {0};
    double run = -1;
    for (size_t i = 0; i < n; i++) {
        double s = num(json_object_get(json_array_get(trials, i), "score"));
        if (!isnan(s) && s > run)
            run = s;
        if (run >= 0)
            buf_printf(&line, "%s%.1f,%.1f", line.len ? " " : "", X(i), Y(run));
    }
    if (line.len)
        fprintf(f, "<polyline points=\"%s\" fill=\"none\" stroke=\"#2a6\" stroke-width=\"2\"/>\n", line.data);
    buf_free(&line);
    for (size_t i = 0; i < n; i++) {
        double s = num(json_object_get(json_array_get(trials, i), "score"));
        if (!isnan(s))
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#36c\"><title>trial %zu: %.3f</title></circle>\n",
                    X(i), Y(s), i + 1, s);
    }
    if (!isnan(best))
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#c33\" stroke-dasharray=\"6 4\"/>"
                   "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#c33\">best, held-out test: %.3f</text>\n",
                PAD, Y(best), W - PAD, Y(best), W - PAD, Y(best) - 6, best);
    if (!isnan(initial))
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#999\" stroke-dasharray=\"2 4\"/>"
                   "<text x=\"%d\" y=\"%.1f\" fill=\"#666\">initial prompt, held-out test: %.3f</text>\n",
                PAD, Y(initial), W - PAD, Y(initial), PAD + 4, Y(initial) + 14, initial);
    fprintf(f, "<text x=\"%d\" y=\"44\" fill=\"#36c\">dots: each trial's score on validation rows "
               "(minibatch or all); green: best so far</text>\n</svg>\n", PAD);
#undef X
#undef Y
    return fclose(f);
}

int report_run(const char *dir)
{
    char *bp = xasprintf("%s/best_prompt.json", dir), *sh = xasprintf("%s/score_history.json", dir);
    json_error_t e;
    json_t *best = json_load_file(bp, 0, &e), *hist = json_load_file(sh, 0, &e);
    int rc = 1;
    if (!best || !hist) {
        fprintf(stderr, "mipro: no results in %s (best_prompt.json, score_history.json): %s\n", dir, e.text);
        goto out;
    }
    printf("Best prompt (%s/best_prompt.json):\n\n  [system] %s\n",
           dir, json_string_value(json_object_get(json_object_get(best, "instruction"), "content")));
    json_t *demos = json_object_get(best, "demonstrations");
    if (json_array_size(demos)) {
        printf("\nDemonstrations:\n");
        for (size_t i = 0; i < json_array_size(demos); i++) {
            json_t *d = json_array_get(demos, i);
            printf("  %zu. \"%s\" -> %s\n", i + 1, json_string_value(json_object_get(d, "query")),
                   json_string_value(json_object_get(d, "label")));
        }
    } else {
        printf("\nDemonstrations: none (zero-shot)\n");
    }
    json_t *fin = json_object_get(hist, "final");
    double b = num(json_object_get(fin, "best_score")), ini = num(json_object_get(fin, "initial_score"));
    printf("\nHeld-out score (%s split, %lld examples): best %.3f, initial prompt %.3f\n",
           json_string_value(json_object_get(fin, "split")) ? json_string_value(json_object_get(fin, "split")) : "test",
           (long long)json_integer_value(json_object_get(fin, "n")), b, ini);
    json_t *cmp = json_object_get(fin, "comparison");
    if (cmp)
        printf("Gain %+.3f (95%% CI %+.3f to %+.3f), %s p = %.3g: %s\n",
               num(json_object_get(cmp, "gain")), num(json_object_get(cmp, "ci95_low")),
               num(json_object_get(cmp, "ci95_high")), json_string_value(json_object_get(cmp, "test")),
               num(json_object_get(cmp, "p_value")),
               json_is_true(json_object_get(cmp, "significant")) ? "significant at 5%" : "not significant at 5%");
    if (json_is_true(json_object_get(best, "kept_initial")))
        printf("The initial prompt was kept: %s\n",
               json_string_value(json_object_get(best, "kept_initial_reason")) ?: "");
    json_t *val = json_object_get(hist, "validation");
    if (val)
        printf("Validation (train split, %lld examples): best %.3f, initial prompt %.3f\n",
               (long long)json_integer_value(json_object_get(val, "n")),
               num(json_object_get(val, "best_score")), num(json_object_get(val, "initial_score")));
    json_t *trials = json_object_get(hist, "trials");
    static const char *bars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
    printf("Trial scores (validation rows; minibatch and full): ");
    for (size_t i = 0; i < json_array_size(trials); i++) {
        double s = num(json_object_get(json_array_get(trials, i), "score"));
        int k = isnan(s) ? 0 : (int)(s * 7.999);
        printf("%s", bars[k < 0 ? 0 : k > 7 ? 7 : k]);
    }
    printf("\n");
    char *svg = xasprintf("%s/score_history.svg", dir);
    if (write_svg(svg, trials, b, ini) == 0) {
        printf("Chart: %s\n", svg);
        rc = 0;
    } else {
        fprintf(stderr, "mipro: cannot write %s\n", svg);
    }
    free(svg);
out:
    json_decref(best);
    json_decref(hist);
    free(bp);
    free(sh);
    return rc;
}
