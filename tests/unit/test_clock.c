/* jd_clock: the event-time watermark over assigned partitions. */
#include <criterion/criterion.h>

#include "jd_clock.h"

static const jd_clock_tp_t two[] = {{"in", 0}, {"in", 1}};

Test(clock, unknown_partition_holds_the_clock)
{
    jd_clock_t *c = jd_clock_new();
    int64_t wm = 0;
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), -1);
    jd_clock_message(c, "in", 0, 10, 1000);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), -1, "partition 1 not heard from");
    jd_clock_eof(c, "in", 1, 0); /* empty partition */
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 1000);
    jd_clock_destroy(c);
}

Test(clock, slowest_partition_behind_bounds_the_watermark)
{
    jd_clock_t *c = jd_clock_new();
    int64_t wm = 0;
    jd_clock_message(c, "in", 0, 5, 9000);
    jd_clock_message(c, "in", 1, 7, 2000);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 2000, "both behind: the earlier one");
    jd_clock_eof(c, "in", 1, 8);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 9000, "partition 1 caught up: no longer holds");
    jd_clock_eof(c, "in", 0, 6);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 9000, "all caught up: the latest of all");
    jd_clock_message(c, "in", 1, 8, 3000);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 3000, "a new message puts partition 1 behind again");
    jd_clock_destroy(c);
}

Test(clock, stale_eof_does_not_catch_up)
{
    jd_clock_t *c = jd_clock_new();
    int64_t wm = 0;
    jd_clock_message(c, "in", 0, 20, 5000);
    jd_clock_message(c, "in", 1, 3, 100);
    jd_clock_eof(c, "in", 1, 2); /* notice from before offset 3 was read */
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 100);
    jd_clock_destroy(c);
}

Test(clock, unassigned_and_timeless_partitions)
{
    jd_clock_t *c = jd_clock_new();
    int64_t wm = 0;
    jd_clock_message(c, "in", 0, 1, 4000);
    jd_clock_message(c, "in", 1, 1, JD_CLOCK_NO_TIME); /* a dead letter */
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 4000, "a partition with no event time is passed over");
    jd_clock_message(c, "in", 2, 1, 10); /* revoked since: not in the list */
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 4000);
    cr_assert_eq(jd_clock_watermark(c, &two[1], 1, &wm), -1, "no event time at all");
    jd_clock_destroy(c);
}

Test(clock, latest_treats_every_partition_as_caught_up)
{
    jd_clock_t *c = jd_clock_new();
    int64_t wm = 0;
    jd_clock_message(c, "in", 0, 5, 9000);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), -1);
    cr_assert_eq(jd_clock_latest(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 9000);
    jd_clock_message(c, "in", 1, 5, 2000);
    cr_assert_eq(jd_clock_watermark(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 2000);
    cr_assert_eq(jd_clock_latest(c, two, 2, &wm), 0);
    cr_assert_eq(wm, 9000);
    jd_clock_destroy(c);
}
