/* util.h: memory, growable buffers, time and small string helpers shared by
 * every program of the project.
 *
 * Out-of-memory policy (the only one in the project): the x* allocators abort
 * the process with a message, so callers never check their result. */
#ifndef B77_UTIL_H
#define B77_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define B77_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define B77_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocate or abort. xfree is free; both accept NULL where free does. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A new string formatted like printf; the caller frees it. */
char *xasprintf(const char *fmt, ...) B77_PRINTF(1, 2);

/* A growable byte buffer, always NUL-terminated once anything is appended.
 * Zero-initialise ({0}) to get an empty buffer; buf_free releases it. */
typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

/* Makes room for extra more bytes and the NUL; the slow path of the three
 * below, which are inline: a rollout appends to buffers a few hundred
 * times, mostly a few bytes each. */
void buf_grow(buf *b, size_t extra);

static inline void buf_reserve(buf *b, size_t extra)
{
    if (b->len + extra + 1 > b->cap)
        buf_grow(b, extra);
}

static inline void buf_append(buf *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void buf_putc(buf *b, char c)
{
    buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) B77_PRINTF(2, 3);
/* Appends code point c (at most U+10FFFF) as UTF-8. */
void buf_put_utf8(buf *b, uint32_t c);
void buf_reset(buf *b);
void buf_free(buf *b);
/* Hands the buffer's string to the caller (never NULL) and empties b. */
char *buf_steal(buf *b);

/* Milliseconds (microseconds) of CLOCK_MONOTONIC, and of the wall clock. */
int64_t now_ms(void);
int64_t now_us(void);
/* The wall clock, ms since the epoch (for timestamps people read). */
int64_t wall_ms(void);
double now_wall(void);

/* Case-insensitive ASCII comparisons. */
int ascii_casecmp(const char *a, const char *b);
int ascii_ncasecmp(const char *a, const char *b, size_t n);
int str_ends_with(const char *s, const char *suffix);

/* Compares two byte strings in time that depends only on their lengths,
 * not on where they differ. Returns 1 when equal. */
int ct_equal(const char *a, size_t alen, const char *b, size_t blen);

/* 64-bit FNV-1a, for hashing request bodies and the like. */
uint64_t fnv1a64(const void *p, size_t n, uint64_t seed);

/* splitmix64: a tiny seeded PRNG (state advanced in place). */
uint64_t splitmix64(uint64_t *state);

/* Length of the valid UTF-8 sequence at p (avail bytes there, at least 1),
 * or 0: no overlongs, no surrogates, nothing above U+10FFFF. */
size_t utf8_seq_len(const unsigned char *p, size_t avail);
/* 1 when s[0..n) is valid UTF-8. */
int utf8_valid(const char *s, size_t n);
/* Makes the NUL-terminated s valid UTF-8 in place: each byte that does not
 * start a valid sequence becomes '?' (a message cut mid-character by a
 * "%.80s", say). Returns s. */
char *utf8_scrub(char *s);

/* Writes a random version-4 UUID (36 chars + NUL) into out. */
void uuid_string(char out[37]);

#endif
