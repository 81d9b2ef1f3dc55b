/* classify.h: the mock LLM's "model". Deterministic and pure: the same
 * messages always give the same answer.
 *
 * A classification prompt (it carries "Customer Query:", an intent list or
 * the classify tool) is answered with the intent whose name and few-shot
 * demonstrations are most similar to the query (bag-of-words cosine), plus
 * the hints of the system instruction ("If the customer mentions a, b or c,
 * choose label."); so better demonstrations and instructions give measurably
 * higher accuracy. Any other prompt (a meta-prompt asking for an instruction)
 * gets deterministic, varied instruction text, with a hint for each
 * "Query: ... / Intent: ..." example it shows. */
#ifndef B77_MOCK_CLASSIFY_H
#define B77_MOCK_CLASSIFY_H

#include <jansson.h>

#include "sim.h"

typedef struct mock_answer {
    int classification; /* 1 when the prompt asks for an intent */
    char *intent;       /* the predicted intent, when classification */
    char *text;         /* free text, otherwise */
} mock_answer;

/* Answers the messages of a chat request (a JSON array; anything else is
 * read as an empty conversation). tools_offered: the request lists tools.
 * A query the simulated model knows (model not NULL, the query a dataset
 * row) is answered by it (sim.h); any other by the word-similarity model
 * below. A prompt that asks for no intent gets meta_write's text (meta.h).
 * Free with mock_answer_free. */
void mock_answer_for(const sim *model, const json_t *messages, int tools_offered, mock_answer *out);
void mock_answer_free(mock_answer *a);

#endif
