/* report_html.c: see report_html.h. */
#include "report_html.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW 760 /* chart */
#define CH 320
#define PAD 48
#define MAX_DIFF_WORDS 600

static const char *const phase_names[PHASE_COUNT] = {"bootstrap", "proposals", "search", "held-out"};

void report_escape(buf *out, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '&': buf_puts(out, "&amp;"); break;
        case '<': buf_puts(out, "&lt;"); break;
        case '>': buf_puts(out, "&gt;"); break;
        case '"': buf_puts(out, "&quot;"); break;
        default: buf_putc(out, *s);
        }
}

/* ---- word diff -------------------------------------------------------------- */

static size_t words(const char *s, const char **w, size_t *len, size_t max)
{
    size_t n = 0;
    while (*s && n < max) {
        while (*s && isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        const char *st = s;
        while (*s && !isspace((unsigned char)*s))
            s++;
        w[n] = st;
        len[n++] = (size_t)(s - st);
    }
    return n;
}

static void put_word(buf *out, const char *w, size_t n)
{
    char *t = xstrndup(w, n);
    report_escape(out, t);
    free(t);
}

void report_word_diff(const char *a, const char *b, buf *out)
{
    const char *wa[MAX_DIFF_WORDS], *wb[MAX_DIFF_WORDS];
    size_t la[MAX_DIFF_WORDS], lb[MAX_DIFF_WORDS];
    size_t na = words(a, wa, la, MAX_DIFF_WORDS), nb = words(b, wb, lb, MAX_DIFF_WORDS);
    unsigned short *L = xcalloc((na + 1) * (nb + 1), sizeof *L); /* LCS lengths of suffixes */
#define AT(i, j) L[(i) * (nb + 1) + (j)]
    for (size_t i = na; i-- > 0;)
        for (size_t j = nb; j-- > 0;)
            AT(i, j) = la[i] == lb[j] && memcmp(wa[i], wb[j], la[i]) == 0
                           ? (unsigned short)(AT(i + 1, j + 1) + 1)
                           : AT(i + 1, j) > AT(i, j + 1) ? AT(i + 1, j) : AT(i, j + 1);
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        if (i < na && j < nb && la[i] == lb[j] && memcmp(wa[i], wb[j], la[i]) == 0) {
            put_word(out, wa[i], la[i]);
            i++, j++;
        } else if (j < nb && (i == na || AT(i, j + 1) >= AT(i + 1, j))) {
            buf_puts(out, "<ins>");
            put_word(out, wb[j], lb[j]);
            buf_puts(out, "</ins>");
            j++;
        } else {
            buf_puts(out, "<del>");
            put_word(out, wa[i], la[i]);
            buf_puts(out, "</del>");
            i++;
        }
        buf_putc(out, ' ');
    }
#undef AT
    free(L);
}

/* ---- parts -------------------------------------------------------------------- */

static void fmt_score(buf *b, double v)
{
    if (isnan(v))
        buf_puts(b, "&ndash;");
    else
        buf_printf(b, "%.3f", v);
}

static void chart(buf *b, const run *r, const run_outcome *o)
{
    long budget = r->cfg->budget > 0 ? r->cfg->budget : 1;
    double lo = 1, hi = 0;
    for (size_t i = 0; i < o->ntrials; i++)
        if (!isnan(o->trials[i].score)) {
            lo = o->trials[i].score < lo ? o->trials[i].score : lo;
            hi = o->trials[i].score > hi ? o->trials[i].score : hi;
        }
    if (lo > hi)
        lo = 0, hi = 1;
    lo = floor(lo * 10) / 10;
    hi = ceil(hi * 10) / 10;
    if (hi - lo < 0.2)
        hi = lo + 0.2;
#define X(s) (PAD + (double)(CW - 2 * PAD) * (double)(s) / (double)budget)
#define Y(v) (CH - PAD - (double)(CH - 2 * PAD) * ((v)-lo) / (hi - lo))
    buf_printf(b, "<svg id=\"curve\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                  "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"score against budget spent\">\n",
               CW, CH, CW, CH);
    for (int k = 0; k <= 4; k++) {
        double v = lo + (hi - lo) * k / 4;
        buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>"
                      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                   PAD, Y(v), CW - PAD, Y(v), PAD - 6, Y(v) + 4, v);
    }
    for (int k = 0; k <= 5; k++) {
        double s = (double)budget * k / 5;
        buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", X(s), CH - PAD + 16, s);
    }
    buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">budget spent (rollouts and LLM calls)"
                  "</text>\n<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">"
                  "score (mean reward)</text>\n",
               CW / 2, CH - 10, CH / 2, CH / 2);
    /* the baseline and the best full validation score so far */
    double base = NAN;
    buf line = {0};
    double best = NAN;
    for (size_t i = 0; i < o->ntrials; i++) {
        const trial_rec *t = &o->trials[i];
        int full = strcmp(t->kind, "baseline") == 0 || strcmp(t->kind, "full") == 0;
        if (strcmp(t->kind, "baseline") == 0 && isnan(base))
            base = t->score;
        if (full && !isnan(t->score) && (isnan(best) || t->score > best)) {
            if (!isnan(best))
                buf_printf(&line, " %.1f,%.1f", X(t->spent), Y(best));
            best = t->score;
            buf_printf(&line, " %.1f,%.1f", X(t->spent), Y(best));
        }
    }
    if (!isnan(best) && o->ntrials)
        buf_printf(&line, " %.1f,%.1f", X(o->trials[o->ntrials - 1].spent), Y(best));
    if (!isnan(base))
        buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"base\"/>"
                      "<text x=\"%d\" y=\"%.1f\" class=\"baselabel\">initial prompt %.3f</text>\n",
                   PAD, Y(base), CW - PAD, Y(base), CW - PAD - 4, Y(base) - 6, base);
    if (line.len)
        buf_printf(b, "<polyline class=\"best\" points=\"%s\"/>\n", line.data + 1);
    buf_free(&line);
    /* GEPA: the frontier's size over time, on the right axis */
    int fmax = 0;
    for (size_t i = 0; i < o->ntrials; i++)
        fmax = o->trials[i].frontier > fmax ? o->trials[i].frontier : fmax;
    if (fmax > 0) {
        buf fl = {0};
        for (size_t i = 0; i < o->ntrials; i++)
            if (o->trials[i].frontier > 0)
                buf_printf(&fl, " %.1f,%.1f", X(o->trials[i].spent),
                           CH - PAD - (double)(CH - 2 * PAD) * o->trials[i].frontier / (double)(fmax + 1));
        buf_printf(b, "<polyline id=\"frontier\" class=\"front\" points=\"%s\"/>"
                      "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"frontlabel\">frontier: up "
                      "to %d candidates (right scale)</text>\n",
                   fl.data + 1, CW - PAD, PAD - 8, fmax);
        for (int k = 0; k <= fmax + 1; k += (fmax + 1) / 4 + 1)
            buf_printf(b, "<text x=\"%d\" y=\"%.1f\" class=\"frontlabel\">%d</text>\n", CW - PAD + 6,
                       CH - PAD - (double)(CH - 2 * PAD) * k / (double)(fmax + 1) + 4, k);
        buf_free(&fl);
    }
    for (size_t i = 0; i < o->ntrials; i++) {
        const trial_rec *t = &o->trials[i];
        if (isnan(t->score))
            continue;
        int full = strcmp(t->kind, "baseline") == 0 || strcmp(t->kind, "full") == 0;
        buf_printf(b, "<circle class=\"pt %s\" data-iteration=\"%d\" data-score=\"%.6f\" cx=\"%.1f\" "
                      "cy=\"%.1f\" r=\"%s\"><title>trial %d (%s, %zu rows): %.3f after %ld spent</title>"
                      "</circle>\n",
                   full ? "full" : "mini", t->iteration, t->score, X(t->spent), Y(t->score),
                   full ? "5" : "3.5", t->iteration, t->kind, t->n, t->score, t->spent);
    }
    int gepa = strcmp(r->algorithm, "gepa") == 0;
    buf_printf(b, "</svg>\n<p class=\"legend\"><span class=\"k mini\"></span> %s "
                  "<span class=\"k full\"></span> on all the validation rows "
                  "<span class=\"k bestk\"></span> best so far <span class=\"k basek\"></span> "
                  "the initial prompt%s</p>\n",
               gepa ? "a child on its parent's training minibatch (or a merge on 5 validation rows)"
                    : "a trial on a minibatch of validation rows",
               fmax > 0 ? " <span class=\"k frontk\"></span> candidates on the Pareto frontier" : "");
#undef X
#undef Y
}

static int label_index(const run *r, const char *name)
{
    for (size_t i = 0; name && i < r->nlabels; i++)
        if (strcmp(r->labels[i], name) == 0)
            return (int)i;
    return -1;
}

static void per_intent(buf *b, const run *r, const holdout_result *h)
{
    size_t n = r->nlabels;
    double *wa = xcalloc(n + 1, sizeof *wa), *wb = xcalloc(n + 1, sizeof *wb);
    size_t *cnt = xcalloc(n + 1, sizeof *cnt);
    for (size_t i = 0; i < h->n; i++) {
        int l = label_index(r, h->label[i]);
        if (l < 0)
            continue;
        cnt[l]++;
        wa[l] += h->a[i];
        wb[l] += h->b[i];
    }
    buf_puts(b, "<table id=\"intents\" class=\"sortable\"><thead><tr><th data-type=\"s\">intent</th>"
                "<th data-type=\"n\">test rows</th><th data-type=\"n\">winner</th>"
                "<th data-type=\"n\">initial</th><th data-type=\"n\">gain</th></tr></thead><tbody>\n");
    for (size_t l = 0; l < n; l++) {
        buf_puts(b, "<tr><td>");
        report_escape(b, r->labels[l]);
        buf_printf(b, "</td><td>%zu</td>", cnt[l]);
        if (cnt[l]) {
            double x = wa[l] / (double)cnt[l], y = wb[l] / (double)cnt[l];
            buf_printf(b, "<td>%.2f</td><td>%.2f</td><td class=\"%s\">%+.2f</td></tr>\n", x, y,
                       x > y ? "up" : x < y ? "down" : "", x - y);
        } else {
            buf_puts(b, "<td>&ndash;</td><td>&ndash;</td><td>&ndash;</td></tr>\n");
        }
    }
    buf_puts(b, "</tbody></table>\n");
    free(wa);
    free(wb);
    free(cnt);
}

static void confusions(buf *b, const run *r, const holdout_result *h)
{
    size_t n = r->nlabels;
    unsigned *m = xcalloc(n * n + 1, sizeof *m);
    size_t *example = xcalloc(n * n + 1, sizeof *example);
    unsigned top = 0;
    for (size_t i = 0; i < h->n; i++) {
        int e = label_index(r, h->label[i]), p = label_index(r, h->pred_a[i]);
        if (e < 0 || p < 0)
            continue;
        if (!m[(size_t)e * n + (size_t)p])
            example[(size_t)e * n + (size_t)p] = i;
        m[(size_t)e * n + (size_t)p]++;
        if (e != p && m[(size_t)e * n + (size_t)p] > top)
            top = m[(size_t)e * n + (size_t)p];
    }
    /* the top confusions */
    buf_puts(b, "<table id=\"confusions\"><thead><tr><th>expected</th><th>predicted</th><th>count</th>"
                "<th>an example</th></tr></thead><tbody>\n");
    unsigned char *shown = xcalloc(n * n + 1, 1);
    for (int k = 0; k < 10; k++) {
        size_t best = (size_t)-1;
        for (size_t c = 0; c < n * n; c++)
            if (c / n != c % n && m[c] && !shown[c] && (best == (size_t)-1 || m[c] > m[best]))
                best = c;
        if (best == (size_t)-1)
            break;
        shown[best] = 1;
        buf_puts(b, "<tr><td>");
        report_escape(b, r->labels[best / n]);
        buf_puts(b, "</td><td>");
        report_escape(b, r->labels[best % n]);
        buf_printf(b, "</td><td>%u</td><td class=\"q\">", m[best]);
        report_escape(b, h->query[example[best]]);
        buf_puts(b, "</td></tr>\n");
    }
    buf_puts(b, "</tbody></table>\n");
    /* the heat map: rows expected, columns predicted (the winner's answers) */
    int cell = 8, size = (int)n * cell;
    buf_printf(b, "<svg id=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
                  "width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"confusion heat map\">"
                  "<rect width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n",
               size + 2, size + 2, size + 2, size + 2, size, size);
    for (size_t c = 0; c < n * n; c++) {
        if (!m[c])
            continue;
        int diag = c / n == c % n;
        double op = diag ? 0.25 + 0.75 * fmin(1.0, m[c] / 4.0) : 0.3 + 0.7 * (double)m[c] / (double)(top ? top : 1);
        buf_printf(b, "<rect x=\"%zu\" y=\"%zu\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                      "fill-opacity=\"%.2f\"><title>",
                   (c % n) * (size_t)cell + 1, (c / n) * (size_t)cell + 1, cell, cell,
                   diag ? "#2f9e44" : "#e03131", op);
        report_escape(b, r->labels[c / n]);
        buf_puts(b, " &#8594; ");
        report_escape(b, r->labels[c % n]);
        buf_printf(b, ": %u</title></rect>\n", m[c]);
    }
    buf_puts(b, "</svg>\n<p class=\"legend\">Rows: the expected intent; columns: the winner's answer "
                "(both in label order). Green: right, red: a confusion (darker: more).</p>\n");
    free(m);
    free(example);
    free(shown);
}

static const char *style =
    "body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;"
    "background:#f6f7f9}main{max-width:980px;margin:0 auto;padding:20px 24px 60px}"
    "h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid "
    "#ddd;padding-bottom:4px}.sub{color:#666}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}"
    ".card{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:150px}"
    ".card b{display:block;font-size:22px}.card span{color:#666;font-size:13px}"
    "svg{background:#fff;border:1px solid #e3e3e3;border-radius:8px;max-width:100%;height:auto}"
    "svg text{font-size:11px;fill:#555}.grid{stroke:#eee}.base{stroke:#888;stroke-dasharray:5 4}"
    ".baselabel{text-anchor:end;fill:#666}.best{fill:none;stroke:#2f9e44;stroke-width:2.5}"
    ".pt.mini{fill:#fff;stroke:#1c7ed6;stroke-width:1.5}.pt.full{fill:#1c7ed6}"
    ".front{fill:none;stroke:#9c36b5;stroke-width:1.5;stroke-dasharray:2 3}.frontlabel{fill:#9c36b5}"
    ".k.frontk{border-top:2px dotted #9c36b5;height:0;border-radius:0}"
    ".legend{color:#666;font-size:13px}.k{display:inline-block;width:12px;height:12px;border-radius:6px;"
    "margin:0 4px 0 12px;vertical-align:-1px}.k.mini{border:1.5px solid #1c7ed6;background:#fff}"
    ".k.full{background:#1c7ed6}.k.bestk{background:#2f9e44;border-radius:1px;height:3px;"
    "vertical-align:3px}.k.basek{border-top:2px dashed #888;height:0;border-radius:0}"
    "table{border-collapse:collapse;background:#fff;font-size:14px;width:100%}"
    "th,td{border:1px solid #e3e3e3;padding:4px 8px;text-align:left}th{background:#f1f3f5;"
    "cursor:pointer}td.up{color:#2b8a3e}td.down{color:#c92a2a}td.q{color:#555;font-style:italic}"
    ".prompt{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:12px 14px;"
    "white-space:pre-wrap}ins{background:#d3f9d8;text-decoration:none}del{background:#ffe3e3;"
    "color:#a33}.progress{background:#e9ecef;border-radius:6px;height:14px;overflow:hidden}"
    ".progress div{background:#1c7ed6;height:100%}pre{background:#fff;border:1px solid #e3e3e3;"
    "border-radius:8px;padding:10px;overflow:auto;font-size:13px}.sig{color:#2b8a3e;font-weight:600}"
    ".nsig{color:#c92a2a;font-weight:600}";

/* Sorts a table by a clicked header; reloads the live page as events come. */
static const char *sort_script =
    "document.querySelectorAll('table.sortable th').forEach(function(th,i){th.addEventListener("
    "'click',function(){var tb=th.closest('table').tBodies[0],rows=Array.from(tb.rows),"
    "num=th.dataset.type==='n',dir=th.dataset.dir==='a'?-1:1;th.dataset.dir=dir===1?'a':'d';"
    "rows.sort(function(a,b){var x=a.cells[i].textContent,y=b.cells[i].textContent;if(num){"
    "x=parseFloat(x);y=parseFloat(y);x=isNaN(x)?-9:x;y=isNaN(y)?-9:y;return dir*(x-y);}"
    "return dir*x.localeCompare(y);});rows.forEach(function(r){tb.appendChild(r);});});});";

static const char *live_script =
    "(function(){var v=document.body.dataset.version;setInterval(function(){fetch('/version')"
    ".then(function(r){return r.text();}).then(function(t){if(t.trim()!==v)location.reload();})"
    ".catch(function(){});},1000);})();";

char *report_html(const run *r, const run_outcome *o, int live, const char *phase)
{
    const mipro_config *c = r->cfg;
    const spend *s = &r->sp;
    const holdout_result *h = o->holdout;
    buf b = {0};
    buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    if (live)
        buf_puts(&b, "<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>");
    buf_printf(&b, "<title>%s %s: Banking77 prompt optimization</title><style>%s</style></head>\n",
               strcmp(r->algorithm, "gepa") == 0 ? "GEPA" : "MIPRO", r->job_id, style);
    buf_printf(&b, "<body data-version=\"%ld\"><main>\n", r->version);
    buf_printf(&b, "<h1>%s on Banking77</h1><p class=\"sub\">Job <code>", strcmp(r->algorithm, "gepa") == 0 ? "GEPA" : "MIPRO");
    report_escape(&b, r->job_id);
    buf_puts(&b, "</code> &middot; policy <code>");
    report_escape(&b, c->model);
    buf_printf(&b, "</code> &middot; seed %ld &middot; started %s", r->seed, r->started_at);
    if (r->termination && !live) {
        buf_puts(&b, " &middot; stopped by ");
        report_escape(&b, r->termination);
    }
    buf_puts(&b, "</p>\n");
    /* progress */
    long budget = c->budget > 0 ? c->budget : 1, spent = s->spent;
    double el = now_wall() - r->t0;
    if (live) {
        double frac = (double)spent / (double)budget;
        double eta = spent > 0 ? el / (double)spent * (double)(budget - spent) : 0;
        buf_printf(&b, "<section id=\"live\"><h2>Running: <span id=\"phase\">%s</span></h2>"
                       "<div class=\"progress\"><div id=\"bar\" style=\"width:%.1f%%\"></div></div>"
                       "<p>Spent <b id=\"spent\">%ld</b> of %ld &middot; %.0f s so far &middot; "
                       "ETA <span id=\"eta\">%.0f s</span></p></section>\n",
                   phase ? phase : "starting", frac > 1 ? 100.0 : 100.0 * frac, spent, c->budget, el,
                   eta > 0 ? eta : 0);
    }
    /* headline cards */
    buf_puts(&b, "<div class=\"cards\">");
    if (h) {
        buf_printf(&b, "<div class=\"card\" id=\"winner-score\"><b>%.3f</b><span>held-out test score of the "
                       "%s (95%% CI %.3f&ndash;%.3f, %zu rows)</span></div>",
                   h->ia.mean, o->kept_initial ? "kept initial prompt" : "winner", h->ia.lo, h->ia.hi, h->n);
        buf_printf(&b, "<div class=\"card\"><b>%.3f</b><span>the initial prompt on the same rows (95%% CI "
                       "%.3f&ndash;%.3f)</span></div>",
                   h->ib.mean, h->ib.lo, h->ib.hi);
        int sig = h->cmp.n && h->cmp.p < 0.05;
        buf_printf(&b, "<div class=\"card\"><b class=\"%s\">%+.3f</b><span>gain (95%% CI %+.3f to %+.3f); "
                       "%s p = %.3g: %s</span></div>",
                   sig ? "sig" : "nsig", h->cmp.diff, h->cmp.lo, h->cmp.hi,
                   h->cmp.binary ? "McNemar" : "paired test", h->cmp.p,
                   sig ? "significant at 5%" : "not significant at 5%");
    }
    buf_printf(&b, "<div class=\"card\"><b>%ld</b><span>of the budget of %ld spent</span></div>", spent,
               c->budget);
    buf_puts(&b, "<div class=\"card\"><b>");
    fmt_score(&b, o->val_best);
    buf_printf(&b, "</b><span>best validation score (%zu train rows; initial ", o->nval);
    fmt_score(&b, o->val_initial);
    buf_puts(&b, ")</span></div></div>\n");
    if (o->kept_initial && o->kept_reason && !live) {
        buf_puts(&b, "<p><b>The initial prompt was kept:</b> ");
        report_escape(&b, o->kept_reason);
        buf_puts(&b, ".</p>\n");
    }
    buf_puts(&b, "<h2>Score against budget spent</h2>\n");
    chart(&b, r, o);
    /* the prompt */
    if (o->ninstr) {
        buf_puts(&b, "<h2>The winning prompt</h2><p class=\"sub\">The instruction as a word diff against "
                     "the initial one (<ins>added</ins>, <del>removed</del>).</p><div class=\"prompt\" "
                     "id=\"instruction\">");
        report_word_diff(o->instr[0], o->instr[o->win_instr], &b);
        buf_puts(&b, "</div>\n");
        const demo_set *ds = &o->sets[o->win_dset];
        if (ds->n) {
            buf_puts(&b, "<h3>Its demonstrations</h3><table id=\"demos\"><thead><tr><th>query</th>"
                         "<th>intent</th></tr></thead><tbody>");
            for (size_t i = 0; i < ds->n; i++) {
                buf_puts(&b, "<tr><td class=\"q\">");
                report_escape(&b, o->pool[ds->idx[i]].query);
                buf_puts(&b, "</td><td>");
                report_escape(&b, o->pool[ds->idx[i]].label);
                buf_puts(&b, "</td></tr>");
            }
            buf_puts(&b, "</tbody></table>\n");
        } else {
            buf_puts(&b, "<p class=\"sub\">No demonstrations (zero-shot).</p>\n");
        }
    }
    if (h && r->nlabels) {
        buf_puts(&b, "<h2>Per-intent accuracy on the held-out rows</h2><p class=\"sub\">Click a column "
                     "to sort.</p>\n");
        per_intent(&b, r, h);
        buf_puts(&b, "<h2>Top confusions of the winner</h2>\n");
        confusions(&b, r, h);
    }
    /* cost */
    buf_puts(&b, "<h2>Cost</h2><table id=\"cost\"><tbody>");
    buf_printf(&b, "<tr><th>rollouts</th><td>%ld (%ld replayed from the log, %ld failed)</td></tr>",
               s->rollouts, s->rollouts_replayed, s->rollouts_failed);
    buf_printf(&b, "<tr><th>meta-model calls</th><td>%ld</td></tr>", s->meta_calls);
    buf_printf(&b, "<tr><th>LLM calls made</th><td>%ld</td></tr>",
               s->rollouts - s->rollouts_replayed + s->meta_calls - s->meta_replayed);
    buf_printf(&b, "<tr><th>tokens</th><td>%ld policy (%ld in, %ld out), %ld meta-model</td></tr>",
               s->prompt_tokens + s->completion_tokens, s->prompt_tokens, s->completion_tokens,
               s->meta_prompt_tokens + s->meta_completion_tokens);
    if (run_usd(r) > 0)
        buf_printf(&b, "<tr><th>money</th><td>$%.4f</td></tr>", run_usd(r));
    buf_puts(&b, "<tr><th>by phase</th><td>");
    for (int p = 0; p < PHASE_COUNT; p++)
        buf_printf(&b, "%s%s %ld (%.1f s)", p ? ", " : "", phase_names[p], s->by_phase[p],
                   s->phase_seconds[p]);
    buf_printf(&b, "</td></tr><tr><th>wall time</th><td>%.1f s</td></tr></tbody></table>\n", el);
    /* config and how to reproduce */
    buf_puts(&b, "<h2>Reproduce</h2><pre>");
    buf_puts(&b, "ENVIRONMENT_API_KEY=... bin/mipro --seed ");
    buf_printf(&b, "%ld ", r->seed);
    report_escape(&b, c->path);
    buf_puts(&b, "\n# the same seed, config and task app give the same run; --resume replays it from ");
    report_escape(&b, r->results);
    buf_puts(&b, "/rollouts.jsonl</pre>\n");
    buf_printf(&b, "<pre id=\"config\">algorithm = %s\nbudget = %ld\nplan: validation %ld rows, minibatch "
                   "%ld, %ld rounds of up to %ld, held-out %ld rows per prompt%s\nmodel = ",
               r->algorithm, c->budget, r->plan.val, r->plan.batch, r->plan.rounds, r->plan.per_round,
               r->plan.holdout, r->plan.holdout_inside ? "" : " (holdout_budget)");
    report_escape(&b, c->model);
    buf_puts(&b, " at ");
    report_escape(&b, r->policy_url);
    buf_puts(&b, "\nmeta-model = ");
    report_escape(&b, r->meta_model);
    buf_puts(&b, " at ");
    report_escape(&b, r->meta_url);
    buf_puts(&b, "\ninitial instruction = ");
    report_escape(&b, o->ninstr ? o->instr[0] : "");
    buf_puts(&b, "</pre>\n</main>\n<script>");
    buf_puts(&b, sort_script);
    if (live)
        buf_puts(&b, live_script);
    buf_puts(&b, "</script>\n</body></html>\n");
    return buf_steal(&b);
}
