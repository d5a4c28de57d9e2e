/*
 * test_window: UTC day arithmetic and ISO-8601 dates (state/jd_window.c).
 * Pure: no Redis, no clock.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "jd_window.h"

#define DAY JD_WINDOW_DAY_MS

Test(window, day_of_epoch_and_boundaries)
{
    cr_assert_eq(jd_window_day(0), 0);
    cr_assert_eq(jd_window_day(1), 0);
    cr_assert_eq(jd_window_day(DAY - 1), 0);
    cr_assert_eq(jd_window_day(DAY), 1);
    cr_assert_eq(jd_window_day(DAY + 1), 1);
    cr_assert_eq(jd_window_day(INT64_C(1700000000000)), 19675);
}

Test(window, day_of_negative_ms_floors)
{
    cr_assert_eq(jd_window_day(-1), -1);
    cr_assert_eq(jd_window_day(-DAY + 1), -1);
    cr_assert_eq(jd_window_day(-DAY), -1);
    cr_assert_eq(jd_window_day(-DAY - 1), -2);
    cr_assert_eq(jd_window_day(INT64_MIN), INT64_MIN / DAY - 1);
    cr_assert_eq(jd_window_day(INT64_MAX), INT64_MAX / DAY);
}

Test(window, day_start_round_trip)
{
    for (int64_t d = -1000; d <= 1000; d += 7) {
        cr_assert_eq(jd_window_day(jd_window_day_start(d)), d);
        cr_assert_eq(jd_window_day(jd_window_day_start(d) - 1), d - 1);
        cr_assert_eq(jd_window_day(jd_window_day_start(d) + DAY - 1), d);
    }
}

Test(window, bounds_and_contains)
{
    int64_t first, last;

    jd_window_bounds(100, 7, &first, &last);
    cr_assert_eq(first, 94);
    cr_assert_eq(last, 100);
    jd_window_bounds(100, 1, &first, &last);
    cr_assert_eq(first, 100);
    jd_window_bounds(-3, 28, &first, &last);
    cr_assert_eq(first, -30);
    cr_assert_eq(last, -3);
    cr_assert(!jd_window_contains(100, 7, 93));
    cr_assert(jd_window_contains(100, 7, 94));
    cr_assert(jd_window_contains(100, 7, 100));
    cr_assert(!jd_window_contains(100, 7, 101), "the future is outside");
    cr_assert(jd_window_contains(100, 28, 73));
    cr_assert(!jd_window_contains(100, 28, 72));
}

Test(window, days_between_is_fractional_and_signed)
{
    cr_assert_float_eq(jd_window_days_between(0, DAY / 2), 0.5, 1e-12);
    cr_assert_float_eq(jd_window_days_between(DAY * 3, 0), -3.0, 1e-12);
    cr_assert_float_eq(jd_window_days_between(5, 5), 0.0, 1e-12);
}

Test(window, civil_known_dates)
{
    cr_assert_eq(jd_window_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(jd_window_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(jd_window_days_from_civil(2000, 3, 1), 11017);
    cr_assert_eq(jd_window_days_from_civil(2000, 2, 29), 11016);
    cr_assert_eq(jd_window_days_from_civil(2100, 1, 1), 47482);
    cr_assert_eq(jd_window_days_from_civil(1600, 1, 1), -135140);
}

Test(window, civil_round_trip)
{
    for (int64_t d = -800000; d <= 800000; d += 13) {
        int64_t y;
        int m, dd;
        jd_window_civil_from_days(d, &y, &m, &dd);
        cr_assert(m >= 1 && m <= 12 && dd >= 1 && dd <= 31);
        cr_assert_eq(jd_window_days_from_civil(y, m, dd), d, "day %lld",
                     (long long)d);
    }
}

static int64_t parse_ok(const char *s)
{
    int64_t ms = -42;
    cr_assert_eq(jd_window_parse_date(s, &ms), 0, "should parse: %s", s);
    return ms;
}

static void parse_bad(const char *s)
{
    int64_t ms = -42;
    cr_assert_eq(jd_window_parse_date(s, &ms), -1, "should fail: %s",
                 s ? s : "(null)");
    cr_assert_eq(ms, -42, "output untouched on failure");
}

Test(window, parse_dates)
{
    cr_assert_eq(parse_ok("1970-01-01"), 0);
    cr_assert_eq(parse_ok("1970-01-02"), DAY);
    cr_assert_eq(parse_ok("1969-12-31"), -DAY);
    cr_assert_eq(parse_ok("2024-02-29"), 19782 * DAY);
    cr_assert_eq(parse_ok("2000-02-29"), 11016 * DAY);
    cr_assert_eq(parse_ok("2025-12-31"), jd_window_days_from_civil(2025, 12, 31) * DAY);
}

Test(window, parse_timestamps_to_midnight)
{
    int64_t midnight = parse_ok("2024-03-10");
    cr_assert_eq(parse_ok("2024-03-10T00:00:00Z"), midnight);
    cr_assert_eq(parse_ok("2024-03-10T23:59:59Z"), midnight);
    cr_assert_eq(parse_ok("2024-03-10T12:30:00.123Z"), midnight);
    cr_assert_eq(parse_ok("2024-03-10T12:30:60Z"), midnight, "leap second");
}

Test(window, parse_rejects_bad_input)
{
    const char *bad[] = {
        NULL, "", "2024", "2024-01", "2024-1-01", "2024-01-1", "24-01-01",
        "2024/01/01", "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32",
        "2023-02-29", "1900-02-29", "2024-04-31", "2024-01-01 ",
        " 2024-01-01", "2024-01-01Z", "2024-01-01T", "2024-01-01T10:00:00",
        "2024-01-01T10:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:61Z", "2024-01-01T10:00:00+01:00",
        "2024-01-01T10:00:00.Z", "2024-01-01T10:00:00Zjunk",
        "2024-01-01t10:00:00z", "abcd-ef-gh", "2024-01-01\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_bad(bad[i]);
}

Test(window, format_iso)
{
    char buf[64];

    cr_assert_eq(jd_window_format_iso(0, buf, sizeof buf), 24);
    cr_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    jd_window_format_iso(-1, buf, sizeof buf);
    cr_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
    jd_window_format_iso(INT64_C(1700000000123), buf, sizeof buf);
    cr_assert_str_eq(buf, "2023-11-14T22:13:20.123Z");
    jd_window_format_iso(parse_ok("2024-02-29"), buf, sizeof buf);
    cr_assert_str_eq(buf, "2024-02-29T00:00:00.000Z");
}

Test(window, format_iso_cuts_and_reports_length)
{
    char buf[11];
    cr_assert_eq(jd_window_format_iso(0, buf, sizeof buf), 24);
    cr_assert_str_eq(buf, "1970-01-01");
    cr_assert_eq(jd_window_format_iso(0, NULL, 0), 24);
}

/* ---- window specs, weekly blocks, the horizon (issue 3) ---- */

Test(window, spec_bounds_are_days_back_from_the_as_of_day)
{
    jd_window_spec_t ws = {JD_WINDOW_USERS, 0, 6, 0};
    int64_t first, last;

    jd_window_spec_bounds(&ws, 100, &first, &last);
    cr_assert_eq(first, 94);
    cr_assert_eq(last, 100);
    ws.ws_back_first = 7;
    ws.ws_back_last = 13;
    jd_window_spec_bounds(&ws, 100, &first, &last);
    cr_assert_eq(first, 87);
    cr_assert_eq(last, 93);
    /* a window may reach before the epoch (or before any data) */
    ws.ws_back_first = 0;
    ws.ws_back_last = 27;
    jd_window_spec_bounds(&ws, 3, &first, &last);
    cr_assert_eq(first, -24);
    cr_assert_eq(last, 3);
}

Test(window, week_blocks_tile_the_35_days_without_overlap)
{
    int64_t seen[JD_WINDOW_MAX_DAYS] = {0};
    for (int k = 0; k <= 4; k++) {
        jd_window_spec_t ws = jd_window_week_block(JD_WINDOW_USERS, k);
        int64_t first, last;
        cr_assert_eq(ws.ws_kind, JD_WINDOW_USERS);
        jd_window_spec_bounds(&ws, 1000, &first, &last);
        cr_assert_eq(last - first, 6, "7 days");
        for (int64_t d = first; d <= last; d++)
            seen[1000 - d]++;
    }
    for (int i = 0; i < JD_WINDOW_MAX_DAYS; i++)
        cr_assert_eq(seen[i], 1, "day D-%d covered once", i);
    /* the blocks of wau_prev4_avg as issue 3 spells them */
    jd_window_spec_t b4 = jd_window_week_block(JD_WINDOW_USERS, 4);
    cr_assert_eq(b4.ws_back_first, 28);
    cr_assert_eq(b4.ws_back_last, 34);
}

Test(window, horizon_late_and_too_late)
{
    /* R = 35 keeps [D-34, D]: D-34 is late but counted, D-35 too late */
    cr_assert_eq(jd_window_horizon(100, 35), 66);
    cr_assert(jd_window_contains(100, 35, 66));
    cr_assert(!jd_window_contains(100, 35, 65));
    cr_assert_eq(jd_window_horizon(100, 90), 11);
    /* the day boundary decides, not 35 x 24 h: the last ms of day D-35
     * is too late, the first ms of D-34 is not */
    int64_t D = 20000;
    int64_t h = jd_window_horizon(D, 35);
    cr_assert_lt(jd_window_day(jd_window_day_start(h) - 1), h);
    cr_assert_eq(jd_window_day(jd_window_day_start(h)), h);
}

Test(window, parse_instants)
{
    int64_t ms = 42;
    cr_assert_eq(jd_window_parse_instant("1767225600000", &ms), 0);
    cr_assert_eq(ms, INT64_C(1767225600000));
    cr_assert_eq(jd_window_parse_instant("2026-01-01", &ms), 0);
    cr_assert_eq(ms, INT64_C(1767225600000));
    cr_assert_eq(jd_window_parse_instant("2026-01-01T12:34:56Z", &ms), 0);
    cr_assert_eq(ms, INT64_C(1767225600000) + (12 * 3600 + 34 * 60 + 56) * 1000);
    cr_assert_eq(jd_window_parse_instant("2026-01-01T00:00:00.5Z", &ms), 0);
    cr_assert_eq(ms, INT64_C(1767225600500));
    cr_assert_eq(jd_window_parse_instant("2026-01-01T00:00:00.123456Z", &ms), 0);
    cr_assert_eq(ms, INT64_C(1767225600123));
    ms = 42;
    const char *bad[] = {"", "-5", "12a", "2026-13-01", "2026-01-01T24:00:00Z",
                         "2026-01-01T00:00:00", "1234567890123456", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(jd_window_parse_instant(bad[i], &ms), -1, "%s", bad[i]);
    cr_assert_eq(jd_window_parse_instant(NULL, &ms), -1);
    cr_assert_eq(ms, 42, "untouched on error");
}
