/* merge.h: GEPA's merge for instructions, sentence by sentence. Pure.
 *
 * Two descendants of one ancestor each changed it: the merge keeps a's
 * sentences in a's order and adds the sentences b wrote that neither a nor
 * the ancestor has, so two children that each learned a different
 * distinction give one that has both. */
#ifndef B77_MERGE_H
#define B77_MERGE_H

#include <stddef.h>

/* The merged instruction (the caller frees it), or NULL when it would add
 * nothing to a or be longer than max_chars. */
char *merge_instructions(const char *ancestor, const char *a, const char *b, size_t max_chars);

/* The sentences of s: ends at ". ", "! ", "? ", a newline or the end; each
 * trimmed. Returns how many (at most max) and points out[i] into copies the
 * caller frees with free(out[i]). */
size_t merge_sentences(const char *s, char **out, size_t max);

#endif
