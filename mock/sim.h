/* sim.h: the mock's simulated classifier, with the headroom of a real model
 * on Banking77. Pure: built once from the dataset, then read-only (any
 * thread may call it).
 *
 * It knows each dataset query's label, and answers the way a small model
 * does: each intent has a base accuracy and a few confusable intents (the
 * ones whose training queries are most alike), a wrong answer lands on one
 * of those, and each row has a fixed difficulty. What the prompt shows moves
 * the per-intent accuracy:
 *
 * - the system instruction naming the task (intent, classify, label; exactly
 *   one) helps every intent a little;
 * - a sentence explaining how an intent differs from one of its confusables
 *   (both labels in one sentence, best with a contrast word: "not", "rather
 *   than", "unlike"...) helps those intents most; a sentence describing one
 *   intent helps less; a label that is only listed helps hardly at all;
 * - a demonstration of the query's intent helps, one of its confusables
 *   helps a little; more than 8 demonstrations cost a little each;
 * - an instruction longer than 1,500 characters costs a little.
 *
 * The answer is deterministic per (prompt, row): a row is answered right when
 * its difficulty (mostly fixed, a little mixed with the prompt's hash) is
 * below the intent's accuracy under that prompt. */
#ifndef B77_MOCK_SIM_H
#define B77_MOCK_SIM_H

#include <jansson.h>
#include <stddef.h>

#include "dataset.h"

typedef struct sim sim;

/* Builds the model from the dataset's two splits (ds is only read during
 * the call). */
sim *sim_new(const dataset *ds);
void sim_free(sim *s);

/* The intent for a classification request whose last user message carries a
 * dataset query ("Customer Query: ..." or the bare text): the label name,
 * borrowed from s; NULL when the query is not in the dataset. */
const char *sim_classify(const sim *s, const json_t *messages);

/* What sim_classify would get right: the probability that rows of label
 * `label` are answered correctly under these messages (the last user message
 * is ignored). For calibration and tests. */
double sim_accuracy(const sim *s, const json_t *messages, int label);

/* The labels and their confusables (for the meta-model and tests). */
size_t sim_num_labels(const sim *s);
const char *sim_label(const sim *s, int label);
int sim_find_label(const sim *s, const char *name, size_t n);
/* Up to 3 confusable labels of label, most confusable first; returns how many. */
size_t sim_confusables(const sim *s, int label, int out[3]);

#endif
