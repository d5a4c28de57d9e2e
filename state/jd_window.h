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
 * horizon of R days keeps the days [D-R+1, D] (R >= the longest reach of
 * any window, JD_WINDOW_MAX_DAYS: state.retention_days is at least 35).
 *
 * Windows are described by a jd_window_spec_t: a kind (what is counted over
 * the per-day sets, see below) and a span of days *back from D*, so the
 * same spec means the same days whatever D is; which days belong to which
 * signal is decided here and in jd_signals_derive.c, and the account
 * record (jd_account_apply.c) counts them.
 *
 * Everything here is a pure function of its arguments: no I/O, no clock, no
 * allocation, any thread.
 */
#ifndef JD_WINDOW_H
#define JD_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define JD_WINDOW_DAY_MS INT64_C(86400000)

/* The farthest back any window reaches, in days including D: the fourth
 * weekly block before the current week of wau_prev4_avg, [D-34, D-28]. */
#define JD_WINDOW_MAX_DAYS 35

/* What a window spec counts over the per-day sets of its days. */
typedef enum jd_window_kind {
    JD_WINDOW_USERS = 'U',     /* distinct users (union of user sets) */
    JD_WINDOW_EVENTS = 'E',    /* usage events (sum of per-day id sets) */
    JD_WINDOW_ACTIVE = 'A',    /* days with at least one usage event */
    JD_WINDOW_POWER = 'P',     /* users active on >= ws_param distinct days */
    JD_WINDOW_FEATURES = 'F',  /* distinct core features used */
    JD_WINDOW_CASES = 'C',     /* distinct case ids opened */
} jd_window_kind_t;

/* The days [D - ws_back_last, D - ws_back_first] (0 <= first <= last <
 * JD_WINDOW_MAX_DAYS), counted as ws_kind. */
typedef struct jd_window_spec {
    jd_window_kind_t ws_kind;
    int              ws_back_first;
    int              ws_back_last;
    int              ws_param;     /* JD_WINDOW_POWER: the day threshold */
} jd_window_spec_t;

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

/* The days [*first, *last] that spec covers when the as-of day is day. */
void jd_window_spec_bounds(const jd_window_spec_t *ws, int64_t day,
                           int64_t *first, int64_t *last);

/* The k-th 7-day block back from day: k = 0 is [day-6, day] (the current
 * week), k = 1 is [day-13, day-7], ..., k = 4 is [day-34, day-28]. Returned
 * as a spec of kind `kind`. */
jd_window_spec_t jd_window_week_block(jd_window_kind_t kind, int k);

/* First day of the retention horizon of R days ending at as_of_day:
 * as_of_day - R + 1. Per-day state older than this is dropped, and an event
 * older than this is "too late" for the windows. */
int64_t jd_window_horizon(int64_t as_of_day, int retention_days);

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

/* Parses an instant: decimal ms since the epoch ("1767225600000"), an
 * ISO-8601 UTC date "YYYY-MM-DD" (its midnight) or timestamp
 * "YYYY-MM-DDTHH:MM:SS[.fff]Z" (to the millisecond; further digits are
 * dropped). Returns 0, or -1 (and *ms untouched) for anything else. */
int jd_window_parse_instant(const char *s, int64_t *ms);

/* Writes `ms` as "YYYY-MM-DDTHH:MM:SS.mmmZ" (like JavaScript's
 * toISOString) into buf (NUL-terminated, cut to cap). Returns the length it
 * needed, like snprintf. */
size_t jd_window_format_iso(int64_t ms, char *buf, size_t cap);

#endif
