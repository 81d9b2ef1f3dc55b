/* Unit tests: the mock's simulated model (mock/sim.c) and meta-model
 * (mock/meta.c): its calibration on the real dataset, as the README states
 * it, and the levers an optimizer must find. */
#include <stdlib.h>

#include "dataset.h"
#include "dataset_load.h"
#include "meta.h"
#include "sim.h"
#include "test.h"
#include "util.h"

static dataset *ds;
static sim *model;

static int setup(void)
{
    if (model)
        return 1;
    char err[300];
    ds = dataset_load(test_data_dir(), 1, err, sizeof err);
    if (!ds) {
        fprintf(stderr, "  test_sim: %s\n", err);
        return 0;
    }
    model = sim_new(ds);
    return 1;
}

/* Accuracy of the prompt (system text, then demos as user/assistant pairs)
 * on every test row. */
static double accuracy(const char *system, const char *const *demos, size_t ndemos)
{
    size_t n = dataset_size(ds, 1), right = 0;
    json_t *prefix = json_array();
    json_array_append_new(prefix, json_pack("{s:s,s:s}", "role", "system", "content", system));
    for (size_t i = 0; i + 1 < 2 * ndemos; i += 2) {
        char *u = xasprintf("Customer Query: %s", demos[i]);
        json_array_append_new(prefix, json_pack("{s:s,s:s}", "role", "user", "content", u));
        json_array_append_new(prefix, json_pack("{s:s,s:s}", "role", "assistant", "content", demos[i + 1]));
        free(u);
    }
    for (size_t r = 0; r < n; r++) {
        json_t *m = json_copy(prefix);
        char *u = xasprintf("Customer Query: %s\n\nAvailable Intents:\n...", dataset_text(ds, 1, r));
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "user", "content", u));
        free(u);
        const char *a = sim_classify(model, m);
        right += a && strcmp(a, dataset_label_name(ds, dataset_label(ds, 1, r))) == 0;
        json_decref(m);
    }
    json_decref(prefix);
    return (double)right / (double)n;
}

/* Contrast sentences for the intents with the lowest base accuracy, up to
 * max characters. */
static char *contrasts(size_t max, int with_cue)
{
    json_t *empty = json_array();
    int order[DATASET_NUM_LABELS];
    double base[DATASET_NUM_LABELS];
    size_t nl = sim_num_labels(model);
    for (size_t l = 0; l < nl; l++) {
        order[l] = (int)l;
        base[l] = sim_accuracy(model, empty, (int)l);
    }
    json_decref(empty);
    for (size_t i = 0; i < nl; i++)
        for (size_t j = i + 1; j < nl; j++)
            if (base[order[j]] < base[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    buf b = {0};
    buf_puts(&b, "Classify the customer's message into exactly one intent label.");
    for (size_t i = 0; i < nl; i++) {
        int c[3];
        sim_confusables(model, order[i], c);
        char *s = xasprintf(with_cue ? " Choose %s, not %s, when the card is new." : " Choose %s or %s by the card.",
                            sim_label(model, order[i]), sim_label(model, c[0]));
        if (b.len + strlen(s) > max) {
            free(s);
            break;
        }
        buf_puts(&b, s);
        free(s);
    }
    return buf_steal(&b);
}

TEST(sim_calibration)
{
    if (!setup()) {
        CHECK(!"dataset loads");
        return;
    }
    double walk = accuracy("You are a banking assistant ...", NULL, 0);
    CHECK(walk > 0.42 && walk < 0.48); /* the README: about 0.45 */
    double task = accuracy("Classify the customer's message into exactly one intent label.", NULL, 0);
    CHECK(task > walk + 0.03); /* naming the task helps every intent */
    char *best = contrasts(1500, 1);
    double top = accuracy(best, NULL, 0);
    CHECK(strlen(best) <= 1500);
    CHECK(top >= 0.60); /* the headroom */
    /* the same intents only listed help far less */
    buf list = {0};
    buf_puts(&list, "Classify the customer's message into exactly one intent label. Labels: ");
    for (size_t l = 0; l < 40; l++)
        buf_printf(&list, "%s, ", sim_label(model, (int)l));
    double listed = accuracy(list.data, NULL, 0);
    CHECK(listed < task + 0.02);
    buf_free(&list);
    /* without a contrast word, less */
    char *plain = contrasts(1500, 0);
    CHECK(accuracy(plain, NULL, 0) < top);
    free(plain);
    /* overlong: the same sentences again, past 1,500 characters, cost a little */
    char *twice = xasprintf("%s %s", best, best);
    double longer = accuracy(twice, NULL, 0);
    CHECK(longer < top && longer > top - 0.1);
    free(twice);
    free(best);
    /* a demonstration of the query's own intent helps that intent */
    const char *demo[2] = {"I am still waiting on my card?", "card_arrival"};
    int l = sim_find_label(model, "card_arrival", 12);
    json_t *msgs = json_pack("[{s:s,s:s}]", "role", "system", "content", "You are a banking assistant ...");
    double before = sim_accuracy(model, msgs, l);
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", demo[0]));
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "assistant", "content", demo[1]));
    json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", "x"));
    CHECK(sim_accuracy(model, msgs, l) > before + 0.1);
    json_decref(msgs);
}

TEST(sim_answers_deterministically_and_wrong_on_confusables)
{
    if (!setup())
        return;
    size_t wrong = 0, on_conf = 0;
    for (size_t r = 0; r < 500; r++) {
        char *u = xasprintf("Customer Query: %s", dataset_text(ds, 1, r));
        json_t *m = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content",
                              "You are a banking assistant ...", "role", "user", "content", u);
        free(u);
        const char *a = sim_classify(model, m), *b = sim_classify(model, m);
        CHECK(a && a == b);
        int y = dataset_label(ds, 1, r), c[3];
        size_t nc = sim_confusables(model, y, c);
        if (a && strcmp(a, dataset_label_name(ds, y)) != 0) {
            wrong++;
            for (size_t k = 0; k < nc; k++)
                on_conf += strcmp(a, sim_label(model, c[k])) == 0;
        }
        json_decref(m);
    }
    CHECK(wrong > 0 && on_conf * 10 >= wrong * 8); /* most mistakes land on confusables */
    /* a query the dataset does not hold is not the simulated model's */
    json_t *m = json_pack("[{s:s,s:s}]", "role", "user", "content", "Customer Query: zzz qqq never seen");
    CHECK(sim_classify(model, m) == NULL);
    json_decref(m);
}

TEST(meta_writes_from_mistakes_and_keeps_the_limit)
{
    const char *req =
        "Current instruction:\nBe brief. Choose top_up_failed, not top_up_reverted, when money.\n\n"
        "Mistakes:\n\nQuery: where is my new card\nExpected intent: card_arrival\n"
        "Predicted intent: card_delivery_estimate\n\n"
        "Query: my top up did not work\nExpected intent: top_up_failed\nPredicted intent: pending_top_up\n\n"
        "Keep the whole instruction under 600 characters.";
    json_t *m = json_pack("[{s:s,s:s}]", "role", "user", "content", req);
    char *t = meta_write(m);
    CHECK(strlen(t) <= 600);
    CHECK(strstr(t, "top_up_failed, not top_up_reverted") != NULL); /* kept */
    CHECK(strstr(t, "intent") != NULL);
    char *again = meta_write(m);
    CHECK_STR(t, again);
    free(again);
    free(t);
    json_decref(m);
    /* many mistakes: at least one distinction written */
    buf b = {0};
    buf_puts(&b, "Current instruction:\nClassify.\n\n");
    for (int i = 0; i < 12; i++)
        buf_printf(&b, "Query: question %d about cards\nExpected intent: card_arrival\nPredicted intent: label_%d\n\n", i, i);
    m = json_pack("[{s:s,s:s}]", "role", "user", "content", b.data);
    t = meta_write(m);
    CHECK(strstr(t, "Choose card_arrival, not label_") != NULL);
    free(t);
    json_decref(m);
    buf_free(&b);
}
