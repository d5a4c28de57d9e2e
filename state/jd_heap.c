/*
 * jd_heap: the process's heap in use (contract in jd_heap.h).
 *
 * glibc's mallinfo2 sums every arena: uordblks is the bytes of blocks in
 * use (with their headers), hblkhd those of blocks mmapped on their own,
 * fordblks the free blocks the allocator keeps for reuse. mallinfo2 is
 * glibc 2.33 and later (Debian bookworm has 2.36); elsewhere (and under
 * AddressSanitizer, whose allocator glibc does not count) both are 0 and the cache reserves only what it models itself (the deadline
 * indexes).
 */
#include "jd_heap.h"

#include <stdatomic.h>
#include <stdlib.h> /* defines __GLIBC__ */

static atomic_size_t jd_heap_budget_all, jd_heap_held_all;

void jd_heap_share_set(jd_heap_share_t *hs, size_t budget, size_t held)
{
    /* unsigned wrap-around makes the difference right either way */
    atomic_fetch_add_explicit(&jd_heap_budget_all, budget - hs->hs_budget,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&jd_heap_held_all, held - hs->hs_held, memory_order_relaxed);
    hs->hs_budget = budget;
    hs->hs_held = held;
}

void jd_heap_share_totals(size_t *budget, size_t *held)
{
    *budget = atomic_load_explicit(&jd_heap_budget_all, memory_order_relaxed);
    *held = atomic_load_explicit(&jd_heap_held_all, memory_order_relaxed);
}

/* Under AddressSanitizer malloc is the sanitizer's, which glibc's counts
 * do not see: the heap cannot be told there either. */
#if defined(__SANITIZE_ADDRESS__)
#define JD_HEAP_GLIBC 0
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define JD_HEAP_GLIBC 1
#else
#define JD_HEAP_GLIBC 0
#endif

#if JD_HEAP_GLIBC
#include <malloc.h>

void jd_heap_measure(jd_heap_t *hp)
{
    struct mallinfo2 mi = mallinfo2();
    hp->hp_in_use = mi.uordblks + mi.hblkhd;
    hp->hp_free = mi.fordblks;
}
#else
void jd_heap_measure(jd_heap_t *hp)
{
    hp->hp_in_use = hp->hp_free = 0;
}
#endif
