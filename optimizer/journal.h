/* journal.h: the run's log of paid results (the results folder's
 * rollouts.jsonl), for --resume: every rollout and meta-model reply is
 * written under a hash of its request as it arrives, and a resumed run takes
 * the logged result instead of calling again. Single-threaded. */
#ifndef B77_JOURNAL_H
#define B77_JOURNAL_H

#include <stdint.h>
#include <stdio.h>

typedef struct journal_entry {
    uint64_t key;
    double reward;
    long prompt_tokens, completion_tokens;
    char *text;                    /* a meta-model reply */
    char *query, *label, *predicted; /* a rollout: its example and answer */
    int used;                      /* slot taken */
    int seen;                      /* used by this process already (a repeat costs nothing) */
} journal_entry;

typedef struct journal {
    journal_entry *tab;
    size_t cap, n;
    FILE *log;
    long loaded; /* entries read from an earlier run */
} journal;

/* Opens path for appending (resume: after loading its entries) or anew.
 * Returns 0, or -1 when the file cannot be written (errno set). */
int journal_open(journal *j, const char *path, int resume);
journal_entry *journal_find(journal *j, uint64_t key);
/* Records e (strings copied) under e->key and logs it; a key already there
 * is kept as it is. Returns the stored entry. */
journal_entry *journal_add(journal *j, const journal_entry *e);
void journal_close(journal *j);

#endif
