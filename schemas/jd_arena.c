/*
 * jd_arena: chunked bump allocation (contract in jd_arena.h).
 *
 * Chunks form a singly linked list, newest first. A request larger than the
 * chunk size gets a chunk of its own, so one oversize string never forces a
 * huge default. reset() keeps only the newest chunk if it is of default size
 * (the steady state is one chunk, reused batch after batch, no malloc).
 */
#include "jd_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jd_arena_chunk {
    jd_arena_chunk_t *ch_next;
    size_t            ch_size;
    size_t            ch_used;
    unsigned char     ch_data[];
};

void jd_arena_init(jd_arena_t *ar, size_t chunk_size)
{
    ar->ar_head = NULL;
    ar->ar_chunk_size = chunk_size ? chunk_size : 64 * 1024;
    ar->ar_used = 0;
}

static jd_arena_chunk_t *jd_arena_chunk_new(size_t size)
{
    jd_arena_chunk_t *ch = malloc(sizeof *ch + size);
    if (!ch)
        return NULL;
    ch->ch_next = NULL;
    ch->ch_size = size;
    ch->ch_used = 0;
    return ch;
}

void *jd_arena_alloc(jd_arena_t *ar, size_t n)
{
    jd_arena_chunk_t *ch = ar->ar_head;
    size_t need = (n + 7) & ~(size_t)7;

    if (need < n)
        return NULL;
    if (!ch || ch->ch_size - ch->ch_used < need) {
        size_t size = need > ar->ar_chunk_size ? need : ar->ar_chunk_size;
        jd_arena_chunk_t *fresh = jd_arena_chunk_new(size);
        if (!fresh)
            return NULL;
        fresh->ch_next = ch;
        ar->ar_head = ch = fresh;
    }
    void *p = ch->ch_data + ch->ch_used;
    ch->ch_used += need;
    ar->ar_used += need;
    return p;
}

char *jd_arena_strndup(jd_arena_t *ar, const char *s, size_t len)
{
    char *p = jd_arena_alloc(ar, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void jd_arena_reset(jd_arena_t *ar)
{
    jd_arena_chunk_t *keep = ar->ar_head;
    if (!keep)
        return;
    /* Keep the newest chunk unless it was an oversize one-off. */
    if (keep->ch_size > ar->ar_chunk_size) {
        jd_arena_destroy(ar);
        return;
    }
    jd_arena_chunk_t *ch = keep->ch_next;
    while (ch) {
        jd_arena_chunk_t *next = ch->ch_next;
        free(ch);
        ch = next;
    }
    keep->ch_next = NULL;
    keep->ch_used = 0;
    ar->ar_used = 0;
}

void jd_arena_destroy(jd_arena_t *ar)
{
    if (!ar)
        return;
    jd_arena_chunk_t *ch = ar->ar_head;
    while (ch) {
        jd_arena_chunk_t *next = ch->ch_next;
        free(ch);
        ch = next;
    }
    ar->ar_head = NULL;
    ar->ar_used = 0;
}
