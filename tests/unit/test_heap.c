/*
 * test_heap: the allocator's counts (state/jd_heap.c), glibc only.
 *
 * A block allocated shows in the bytes in use, and freed it leaves them,
 * for a block from the arena and for one mapped on its own: the cache
 * reserves what these count (consumer/jd_commit.c). The shares of several
 * caches in one process sum, and a cache gone leaves the sums.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "jd_heap.h"

#if !defined(__SANITIZE_ADDRESS__) && defined(__GLIBC__)
static void grows_by(size_t n)
{
    jd_heap_t a, b, c;
    jd_heap_measure(&a);
    char *p = malloc(n);
    cr_assert(p);
    memset(p, 1, n);
    jd_heap_measure(&b);
    cr_assert_geq(b.hp_in_use, a.hp_in_use + n, "%zu bytes: %zu -> %zu", n, a.hp_in_use,
                  b.hp_in_use);
    free(p);
    jd_heap_measure(&c);
    cr_assert_leq(c.hp_in_use + n, b.hp_in_use, "%zu bytes freed: %zu -> %zu", n,
                  b.hp_in_use, c.hp_in_use);
}
#endif

Test(heap, a_block_counts_while_it_is_held)
{
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
    /* not glibc's allocator: the documented answer is "cannot tell" */
    jd_heap_t h;
    char *p = malloc(1 << 20);
    cr_assert(p);
    jd_heap_measure(&h);
    free(p);
    cr_assert_eq(h.hp_in_use, 0);
    cr_assert_eq(h.hp_free, 0);
#else
    grows_by(64 << 10);   /* from the arena */
    grows_by(64 << 20);   /* mapped on its own (above any mmap threshold) */
#endif
}

Test(heap, shares_sum_over_the_process_and_leave_it)
{
    jd_heap_share_t a = {0}, b = {0};
    size_t budget, held, budget0, held0;
    jd_heap_share_totals(&budget0, &held0);
    jd_heap_share_set(&a, 100, 40);
    jd_heap_share_set(&b, 300, 10);
    jd_heap_share_totals(&budget, &held);
    cr_assert_eq(budget - budget0, 400);
    cr_assert_eq(held - held0, 50);
    jd_heap_share_set(&a, 100, 25);  /* fewer records held */
    jd_heap_share_totals(&budget, &held);
    cr_assert_eq(held - held0, 35);
    jd_heap_share_set(&a, 0, 0);     /* its cache is gone */
    jd_heap_share_set(&b, 0, 0);
    jd_heap_share_totals(&budget, &held);
    cr_assert_eq(budget, budget0);
    cr_assert_eq(held, held0);
}
