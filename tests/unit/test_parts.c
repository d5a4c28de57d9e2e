/*
 * test_parts: the partition table and its deadline index, pure.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "jd_parts.h"

Test(parts, add_find_remove)
{
    jd_parts_t *ps = jd_parts_new();
    jd_part_t *a = jd_parts_add(ps, "events", 0), *b = jd_parts_add(ps, "events", 1);
    cr_assert(a && b && a != b);
    cr_assert_eq(jd_parts_add(ps, "events", 0), a);
    cr_assert_eq(jd_parts_find(ps, "events", 1), b);
    cr_assert_null(jd_parts_find(ps, "other", 1));
    cr_assert_eq(a->pt_clock, JD_PARTS_NO_CLOCK);
    jd_parts_remove(ps, "events", 0);
    cr_assert_null(jd_parts_find(ps, "events", 0));
    cr_assert_eq(jd_parts_count(ps), 1);
    jd_parts_destroy(ps);
    jd_parts_destroy(NULL);
}

Test(parts, due_in_deadline_then_account_order)
{
    jd_parts_t *ps = jd_parts_new();
    jd_part_t *pt = jd_parts_add(ps, "events", 3);
    char buf[64];
    jd_part_deadline_set(pt, "b", 100, 1);
    jd_part_deadline_set(pt, "a", 100, 1);
    jd_part_deadline_set(pt, "c", 50, 1);
    jd_part_deadline_set(pt, "d", 500, 1);
    jd_part_deadline_set(pt, "c", 70, 1);      /* moved: the 50 entry is stale */
    cr_assert_eq(pt->pt_nchanges, 5);
    cr_assert_eq(jd_part_next(pt), 70);
    cr_assert_eq(jd_part_pop_due(pt, 100, buf, sizeof buf), 70);
    cr_assert_str_eq(buf, "c");
    cr_assert_eq(jd_part_pop_due(pt, 100, buf, sizeof buf), 100);
    cr_assert_str_eq(buf, "a");
    cr_assert_eq(jd_part_pop_due(pt, 100, buf, sizeof buf), 100);
    cr_assert_str_eq(buf, "b");
    cr_assert_eq(jd_part_pop_due(pt, 100, buf, sizeof buf), 0);
    cr_assert_eq(jd_part_deadline(pt, "d"), 500);
    cr_assert_eq(jd_part_deadline(pt, "a"), 0);
    jd_part_deadline_set(pt, "d", 0, 1);        /* removed */
    cr_assert_eq(jd_part_next(pt), INT64_MAX);
    jd_part_changes_clear(pt);
    cr_assert_eq(pt->pt_nchanges, 0);
    jd_parts_destroy(ps);
}

static void count_due(const char *account, int64_t deadline, void *opaque)
{
    (void)account;
    cr_assert(deadline <= 5000);
    (*(int *)opaque)++;
}

Test(parts, many_accounts_and_each_due)
{
    jd_parts_t *ps = jd_parts_new();
    jd_part_t *pt = jd_parts_add(ps, "events", 0);
    char id[32], buf[32];
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 20000; i++) {
            snprintf(id, sizeof id, "acct-%d", i);
            cr_assert_eq(jd_part_deadline_set(pt, id, 1 + (i * 7919 + round) % 10000, 0), 0);
        }
    cr_assert(pt->pt_nheap <= 3 * 20000);
    int n = 0;
    jd_part_each_due(pt, 5000, count_due, &n);
    int64_t last = 0;
    int popped = 0;
    for (int64_t dl; (dl = jd_part_pop_due(pt, 5000, buf, sizeof buf)); popped++) {
        cr_assert(dl >= last);
        last = dl;
    }
    cr_assert_eq(popped, n);
    cr_assert(n > 9000 && n < 11000);
    jd_parts_destroy(ps);
}
