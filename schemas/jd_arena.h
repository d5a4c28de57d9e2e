/*
 * jd_arena: a bump allocator for the strings of one batch of events.
 *
 * Decoded events point into an arena instead of owning heap strings, so the
 * hot path does no per-event malloc: the arena grows in chunks while a batch
 * is decoded and jd_arena_reset() makes all of it reusable for the next one.
 * Ownership: the arena owns every byte it hands out; pointers are valid until
 * the next jd_arena_reset() or jd_arena_destroy(). Not thread-safe: one arena
 * per thread.
 */
#ifndef JD_ARENA_H
#define JD_ARENA_H

#include <stddef.h>

typedef struct jd_arena_chunk jd_arena_chunk_t;

typedef struct jd_arena {
    jd_arena_chunk_t *ar_head;       /* current chunk (list of chunks) */
    size_t            ar_chunk_size; /* default size of a new chunk */
    size_t            ar_used;       /* bytes handed out since last reset */
} jd_arena_t;

/* Initialises an empty arena; nothing is allocated until first use. */
void jd_arena_init(jd_arena_t *ar, size_t chunk_size);

/* Returns `n` bytes aligned to 8, or NULL when out of memory. */
void *jd_arena_alloc(jd_arena_t *ar, size_t n);

/* Copies `len` bytes and appends a NUL; NULL when out of memory. */
char *jd_arena_strndup(jd_arena_t *ar, const char *s, size_t len);

/* Keeps the largest chunk, frees the others, marks everything free. */
void jd_arena_reset(jd_arena_t *ar);

/* Frees every chunk; `ar` may be NULL. The arena can be re-initialised. */
void jd_arena_destroy(jd_arena_t *ar);

#endif
