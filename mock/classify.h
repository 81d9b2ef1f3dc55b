/* classify.h: which of the mock's models answers a request, and the
 * fallback one. Deterministic and pure: the same messages always give the
 * same answer.
 *
 * A classification prompt (it carries "Customer Query:", an intent list or
 * the classify tool) whose query is a dataset row is answered by the
 * simulated model (sim.h). Any other query gets the intent whose name and
 * few-shot demonstrations are most similar to it (bag-of-words cosine), plus
 * the hints of the system instruction ("If the customer mentions a, b or c,
 * choose label."). A prompt that asks for no intent (a meta-prompt) gets
 * meta_write's instruction text (meta.h). */
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
