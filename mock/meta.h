/* meta.h: the mock as a meta-model: the instruction text it writes when a
 * prompt does not ask for an intent. Pure and deterministic.
 *
 * It uses only what the request shows, as a model would:
 * - "Current instruction:" followed by the text: its sentences that name a
 *   label (an underscore word) are kept;
 * - "Query: ..." with "Expected intent: X" and "Predicted intent: Y" lines
 *   (a mistake): a sentence telling X from Y ("Choose X, not Y, when the
 *   customer mentions ...");
 * - "Query: ..." with "Intent: X" (an example): a sentence about X ("If the
 *   customer mentions ..., choose X.");
 * - "under N characters": sentences are dropped (examples first, then the
 *   oldest kept ones) until the text fits.
 * About a quarter of the mistakes and examples are left out, varying with
 * the request, so proposals differ. */
#ifndef B77_MOCK_META_H
#define B77_MOCK_META_H

#include <jansson.h>

/* The instruction for a chat request's messages; the caller frees it. */
char *meta_write(const json_t *messages);

#endif
