/* proposer.c: see proposer.h. */
#include "proposer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *const proposer_system =
    "You are an expert prompt engineer who writes instructions for language models.";

static const char *const tips[] = {
    "Be creative: try a fresh angle on the task.",
    "Keep the instruction simple and clear.",
    "Make the instruction descriptive: explain what distinguishes similar intents.",
    "The stakes are high: make the instruction precise and unambiguous.",
    "Give the model a persona that fits the task.",
};

const char *proposer_tip(size_t i)
{
    return tips[i % B77_ARRAY_LEN(tips)];
}

static void one_line(buf *b, const char *s)
{
    for (; *s; s++)
        buf_putc(b, *s == '\n' || *s == '\r' ? ' ' : *s);
}

char *proposer_prompt(const mipro_config *c, const char *current, double score, size_t nscore,
                      const feedback *mis, size_t nmis, const demo *ex, size_t nex, const char *tip,
                      size_t k, size_t of)
{
    buf b = {0};
    buf_puts(&b, "Task: a language model reads one message from a bank's customer and must answer "
                 "with exactly one of 77 banking intent labels (for example card_arrival, "
                 "exchange_rate, top_up_failed).\n\nCurrent instruction:\n");
    one_line(&b, current);
    buf_puts(&b, "\n\n");
    if (!isnan(score))
        buf_printf(&b, "Its accuracy: %.3f on %zu validation examples.\n\n", score, nscore);
    if (nmis) {
        buf_puts(&b, "Mistakes it makes on training examples (the customer's query, the intent it "
                     "should have chosen, the intent the model chose):\n\n");
        for (size_t i = 0; i < nmis; i++) {
            buf_puts(&b, "Query: ");
            one_line(&b, mis[i].query);
            buf_printf(&b, "\nExpected intent: %s\nPredicted intent: %s\n\n", mis[i].label,
                       mis[i].predicted);
        }
    } else {
        buf_puts(&b, "Examples from the training data:\n\n");
        for (size_t i = 0; i < nex; i++) {
            buf_puts(&b, "Query: ");
            one_line(&b, ex[i].query);
            buf_printf(&b, "\nIntent: %s\n\n", ex[i].label);
        }
    }
    buf_printf(&b, "Tip: %s\n\n", tip);
    buf_printf(&b,
               "Write one improved instruction for the classifier (proposal %zu of %zu).%s Keep what "
               "already works in the current instruction, and keep the whole instruction under %ld "
               "characters. Reply with the instruction text only.",
               k, of,
               nmis ? " For each mistake, explain how the expected intent differs from the one it "
                      "was mistaken for."
                    : "",
               c->max_instruction_chars);
    return buf_steal(&b);
}

size_t proposer_mistakes(uint64_t *rng, const char *const *query, const char *const *label,
                         const char *const *pred, const double *reward, size_t n, feedback *out,
                         size_t want)
{
    size_t *idx = xmalloc((n + 1) * sizeof *idx), k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(reward[i]) && reward[i] < 1.0 && query[i] && label[i] && pred[i] && *pred[i])
            idx[k++] = i;
    for (size_t i = k; i > 1; i--) {
        size_t j = (size_t)(splitmix64(rng) % i), t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    size_t *count = xcalloc(k + 1, sizeof *count);
    for (size_t a = 0; a < k; a++)
        for (size_t b = 0; b < k; b++)
            count[a] += strcmp(label[idx[a]], label[idx[b]]) == 0 && strcmp(pred[idx[a]], pred[idx[b]]) == 0;
    size_t got = 0;
    while (got < want) {
        size_t best = (size_t)-1;
        for (size_t a = 0; a < k; a++)
            if (count[a] && (best == (size_t)-1 || count[a] > count[best]))
                best = a;
        if (best == (size_t)-1)
            break;
        size_t i = idx[best];
        out[got++] = (feedback){query[i], label[i], pred[i]};
        for (size_t a = 0; a < k; a++) /* one per pair */
            if (strcmp(label[idx[a]], label[i]) == 0 && strcmp(pred[idx[a]], pred[i]) == 0)
                count[a] = 0;
    }
    free(idx);
    free(count);
    return got;
}
