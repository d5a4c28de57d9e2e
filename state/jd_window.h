/*
 * jd_window: event-time day arithmetic, pure.
 *
 * journeyd's windows are UTC days of occurred_at. A "day" here is the number
 * of whole days since 1970-01-01T00:00:00Z, by floor division, so instants
 * before the epoch get negative days and every day is exactly 86 400 000 ms
 * (UTC has no DST; leap seconds do not exist in Unix time).
 *
 * An account's as-of day D is the day of the latest occurred_at seen for it.
 * A window of N days ending at D covers the days [D-N+1, D]; the retention
 * horizon of R days keeps the day keys of [D-R+1, D] (R >= the longest
 * window, checked by jd_state_new).
 *
 * Everything here is a pure function of its arguments: no I/O, no clock, no
 * allocation, any thread.
 */
#ifndef JD_WINDOW_H
#define JD_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define JD_WINDOW_DAY_MS INT64_C(86400000)

/* The longest window any signal reads (active_users_28d). */
#define JD_WINDOW_MAX_DAYS 28

/* UTC day of `ms` (ms since the epoch): floor(ms / 86400000), also for
 * negative ms (-1 ms is day -1). */
int64_t jd_window_day(int64_t ms);

/* First ms of `day` (day * 86400000). */
int64_t jd_window_day_start(int64_t day);

/* The days [*first, *last] of a window of n_days (>= 1) ending at day. */
void jd_window_bounds(int64_t day, int n_days, int64_t *first, int64_t *last);

/* 1 when `day` lies in the window of n_days ending at as_of_day, else 0.
 * Days after as_of_day are outside. */
int jd_window_contains(int64_t as_of_day, int n_days, int64_t day);

/* (to_ms - from_ms) in days, fractional (negative when to < from). */
double jd_window_days_between(int64_t from_ms, int64_t to_ms);

/* Days since the epoch of the proleptic Gregorian date y-m-d (m 1..12,
 * d 1..31; not validated here). */
int64_t jd_window_days_from_civil(int64_t y, int m, int d);

/* Inverse of jd_window_days_from_civil. */
void jd_window_civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/* Parses an ISO-8601 UTC date "YYYY-MM-DD" or timestamp
 * "YYYY-MM-DDTHH:MM:SS[.fff...]Z" into the ms of UTC midnight of that date
 * (the time of day, if present, is checked and then dropped: renewal dates
 * are whole days). Returns 0, or -1 (and *ms untouched) when the text is
 * anything else: wrong shape, month 13, Feb 30, hour 24, trailing bytes. */
int jd_window_parse_date(const char *s, int64_t *ms);

/* Writes `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" (like JavaScript's
 * toISOString) into buf (NUL-terminated, cut to cap). Returns the length it
 * needed, like snprintf. */
size_t jd_window_format_iso(int64_t ms, char *buf, size_t cap);

#endif
