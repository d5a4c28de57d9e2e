/* jd_segment: decision points per partition, dirty accounts, store offsets. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "jd_segment.h"

/* Reads offsets [from, to) of one partition, one account per offset
 * (account "a<offset % accts>", time = offset * 1000), closing wherever a
 * cut is due; returns how many closes, and the dirty counts at each in
 * sizes[]. */
static size_t feed(jd_seg_t *g, int64_t from, int64_t to, int accts, size_t *sizes)
{
    size_t closes = 0;
    for (int64_t o = from; o < to; o++) {
        char acct[16];
        const jd_seg_acct_t *d;
        if (jd_seg_cuts_before(g, o)) {
            sizes[closes++] = jd_seg_dirty(g, &d);
            jd_seg_close(g);
        }
        snprintf(acct, sizeof acct, "a%d", (int)(o % accts));
        jd_seg_message(g, o, o * 1000);
        cr_assert_eq(jd_seg_note(g, acct, o, o * 1000), 0);
    }
    return closes;
}

Test(segment, cuts_at_multiples_of_the_interval)
{
    jd_segs_t *s = jd_segs_new(10);
    jd_seg_t *g = jd_segs_get(s, "in", 3);
    size_t sizes[8];
    cr_assert_not_null(g);
    cr_assert_eq(jd_seg_store_offset(g), -1, "nothing read yet");
    cr_assert_eq(feed(g, 5, 27, 4, sizes), 2, "cuts before 10 and 20");
    cr_assert_eq(sizes[0], 4, "offsets 5..9: four accounts");
    cr_assert_eq(sizes[1], 4);
    cr_assert_eq(jd_seg_store_offset(g), 20, "first dirty message of the open segment");
    cr_assert_eq(jd_seg_time(g), 26000);
    jd_segs_destroy(s);
}

Test(segment, same_cuts_however_the_reads_are_split)
{
    jd_segs_t *s = jd_segs_new(7);
    jd_seg_t *a = jd_segs_get(s, "in", 0), *b = jd_segs_get(s, "in", 1);
    size_t sa[16], sb[16], na, nb = 0;
    na = feed(a, 0, 50, 5, sa);
    for (int64_t from = 0; from < 50; from += 3) /* batches of 3 */
        nb += feed(b, from, from + 3 > 50 ? 50 : from + 3, 5, sb + nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_eq(sa[i], sb[i], "close %zu", i);
    jd_segs_destroy(s);
}

Test(segment, dirty_account_keeps_latest_time_and_last_offset)
{
    jd_segs_t *s = jd_segs_new(100);
    jd_seg_t *g = jd_segs_get(s, "in", 0);
    const jd_seg_acct_t *d;
    jd_seg_message(g, 1, 5000);
    jd_seg_note(g, "x", 1, 5000);
    jd_seg_message(g, 2, 3000);
    jd_seg_note(g, "x", 2, 3000); /* older event, later offset */
    cr_assert_eq(jd_seg_dirty(g, &d), 1);
    cr_assert_str_eq(d[0].sa_account, "x");
    cr_assert_eq(d[0].sa_at, 5000);
    cr_assert_eq(d[0].sa_offset, 2);
    cr_assert_eq(jd_seg_store_offset(g), 1);
    jd_seg_close(g);
    cr_assert_eq(jd_seg_dirty(g, &d), 0);
    cr_assert_eq(jd_seg_store_offset(g), 3, "nothing dirty: the next offset");
    jd_segs_destroy(s);
}

Test(segment, end_of_partition_cuts_and_replay_starts_afresh)
{
    jd_segs_t *s = jd_segs_new(100);
    jd_seg_t *g = jd_segs_get(s, "in", 0);
    const jd_seg_acct_t *d;
    jd_seg_message(g, 10, 1);
    jd_seg_note(g, "x", 10, 1);
    jd_seg_eof(g);
    cr_assert(jd_seg_caught_up(g));
    cr_assert(!jd_seg_cuts_before(g, 11), "the end closed it; the caller closes at the notice");
    jd_seg_begin(g, 11, 0);
    cr_assert_eq(jd_seg_dirty(g, &d), 1, "a continued read keeps the open segment");
    jd_seg_begin(g, 30, 0);
    cr_assert_eq(jd_seg_dirty(g, &d), 1, "a forward gap without a rebalance keeps it");
    jd_seg_begin(g, 30, 1);
    cr_assert_eq(jd_seg_dirty(g, &d), 0, "elsewhere after a rebalance: afresh");
    jd_seg_message(g, 30, 2);
    jd_seg_note(g, "y", 30, 2);
    jd_seg_begin(g, 5, 0);
    cr_assert_eq(jd_seg_dirty(g, &d), 0, "a replay starts afresh");
    cr_assert_eq(jd_seg_time(g), JD_SEG_NO_TIME);
    cr_assert_eq(jd_seg_store_offset(g), -1);
    jd_segs_destroy(s);
}

static int keep_even(const char *topic, int32_t partition, void *opaque)
{
    (void)topic;
    (void)opaque;
    return partition % 2 == 0;
}

Test(segment, retain_forgets_partitions_given_up_and_grows)
{
    jd_segs_t *s = jd_segs_new(1000000);
    jd_seg_t *g = NULL;
    for (int p = 0; p < 40; p++)
        cr_assert_not_null(g = jd_segs_get(s, "in", p));
    for (int i = 0; i < 5000; i++) {
        char acct[16];
        snprintf(acct, sizeof acct, "acct-%d", i);
        jd_seg_message(g, i, i);
        cr_assert_eq(jd_seg_note(g, acct, i, i), 0);
    }
    const jd_seg_acct_t *d;
    cr_assert_eq(jd_seg_dirty(g, &d), 5000);
    jd_segs_retain(s, keep_even, NULL);
    cr_assert_eq(jd_seg_partition(jd_segs_get(s, "in", 2)), 2);
    cr_assert_eq(jd_seg_dirty(jd_segs_get(s, "in", 39), &d), 0, "re-created empty");
    jd_segs_destroy(s);
}

Test(segment, timers_are_due_where_the_clock_reaches_the_earliest_deadline)
{
    jd_segs_t *s = jd_segs_new(1000);
    jd_seg_t *g = jd_segs_get(s, "in", 0);
    int64_t w = 0;
    cr_assert(!jd_seg_loaded(g));
    jd_seg_load(g, 100, 150, NULL, 0); /* clock 100 stored, a deadline at 150 */
    cr_assert(jd_seg_loaded(g));
    cr_assert_eq(jd_seg_time(g), 100);
    cr_assert(!jd_seg_due_before(g, 155, 10, 0, &w), "145 < 150");
    cr_assert(jd_seg_due_before(g, 160, 10, 0, &w));
    cr_assert_eq(w, 150);
    jd_seg_message(g, 0, 160);
    jd_seg_timers_ran(g, 150, INT64_MAX);
    cr_assert(!jd_seg_due_before(g, 170, 10, 0, &w), "nothing left");
    jd_seg_timers_ran(g, INT64_MIN, 150); /* decisions wrote 150 again */
    cr_assert(!jd_seg_due_before(g, 160, 10, 0, &w), "not past where timers last ran");
    cr_assert(jd_seg_due_before(g, 161, 10, 0, &w));
    cr_assert(jd_seg_due_before(g, JD_SEG_NO_TIME, 0, 0, &w), "the clock alone: 160");
    jd_seg_begin(g, 0, 0); /* a replay */
    cr_assert(!jd_seg_loaded(g), "reset: the clock must be loaded again");
    jd_segs_destroy(s);
}

Test(segment, dirty_accounts_are_decided_before_the_clock_passes_a_tick)
{
    jd_segs_t *s = jd_segs_new(1000);
    jd_seg_t *g = jd_segs_get(s, "in", 0);
    int64_t w = 0;
    jd_seg_load(g, JD_SEG_NO_TIME, INT64_MAX, NULL, 0);
    jd_seg_message(g, 0, 90);
    cr_assert(!jd_seg_due_before(g, 120, 0, 100, &w), "nothing dirty: no cut");
    jd_seg_note(g, "x", 0, 90);
    cr_assert(!jd_seg_due_before(g, 99, 0, 100, &w), "same tick");
    cr_assert(jd_seg_due_before(g, 120, 0, 100, &w), "crosses 100 with x dirty");
    cr_assert_eq(w, 120);
    cr_assert(!jd_seg_due_before(g, 120, 0, 0, &w), "no tick");
    jd_segs_destroy(s);
}

Test(segment, recorded_cuts_replay_exactly_then_the_live_rules_resume)
{
    jd_segs_t *s = jd_segs_new(1000);
    jd_seg_t *g = jd_segs_get(s, "in", 0);
    jd_seg_cut_t cuts[] = {{15, 700, 1}, {18, JD_SEG_NO_TIME, 0}};
    int64_t w = 0;
    int done = 0;
    cr_assert_eq(jd_seg_load(g, 500, INT64_MAX, cuts, 2), 0);
    cr_assert(jd_seg_replaying(g));
    cr_assert(!jd_seg_recorded(g, 14, &w, &done));
    cr_assert(jd_seg_recorded(g, 15, &w, &done));
    cr_assert_eq(w, 700);
    cr_assert(done, "completed before: not decided again");
    cr_assert(!jd_seg_recorded(g, 17, &w, &done));
    cr_assert(jd_seg_recorded(g, 20, &w, &done), "a gap: the cut falls before the next message");
    cr_assert_eq(w, JD_SEG_NO_TIME);
    cr_assert(!done);
    cr_assert(!jd_seg_replaying(g));
    cr_assert_eq(jd_seg_time(g), 500);
    jd_segs_destroy(s);
}
