/*
 * jd_heap: how much the process's heap holds, as the allocator counts it.
 *
 * state.cache_mb bounds the memory journeyd holds, not only its records:
 * librdkafka's prefetched messages, the deadline indexes, the write in
 * flight and hiredis's buffers live in the same heap and are not evicted
 * with the records. The cache makes room for them by reserving what the
 * heap holds beyond the records it counts (consumer/jd_commit.c); this
 * module is the one place that asks the allocator.
 *
 * Any thread; no state of its own.
 */
#ifndef JD_HEAP_H
#define JD_HEAP_H

#include <stddef.h>

/* What the allocator counts for the whole process (every thread: the
 * pipeline, the Redis writer, librdkafka's threads). */
typedef struct jd_heap {
    size_t hp_in_use; /* bytes of blocks in use, with the allocator's
                       * headers and the blocks mapped on their own */
    size_t hp_free;   /* bytes it holds free for reuse (resident) */
} jd_heap_t;

/* Fills *hp; both 0 when the allocator cannot tell (not glibc, or
 * AddressSanitizer's). Walks the allocator's free lists under their
 * locks: a few ms on a heap of millions of blocks, so it is meant for
 * once per group written, not once per event. */
void jd_heap_measure(jd_heap_t *hp);

/* One cache's part of the process's memory. Several pipelines in one
 * process each hold a cache of their own, and the heap measured is all of
 * theirs: each one reserves, of what the heap holds beyond every cache's
 * records, the part its budget is of all the budgets. A share starts
 * zeroed; jd_heap_share_set records its cache's budget and records held
 * (both 0 when the cache goes) in the process's totals. Any thread (the
 * totals are atomic); one share is set by one thread. */
typedef struct jd_heap_share {
    size_t hs_budget;
    size_t hs_held;
} jd_heap_share_t;

void jd_heap_share_set(jd_heap_share_t *hs, size_t budget, size_t held);
/* Every share's budget and records held, summed. */
void jd_heap_share_totals(size_t *budget, size_t *held);

#endif
