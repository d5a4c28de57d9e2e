/*
 * jd_window: UTC day arithmetic and ISO-8601 dates (contract in jd_window.h).
 *
 * Days are computed with integer floor division, never with floating point
 * or the C library's time functions: gmtime/timegm depend on the platform's
 * time_t and locale, and we need identical answers in the shell, in the tests
 * and in the Lua scripts (which receive the day from C and never compute it).
 * Calendar conversion uses Howard Hinnant's days_from_civil/civil_from_days,
 * exact for the whole proleptic Gregorian calendar.
 *
 * Pure: no I/O, no allocation, no global state; any thread.
 */
#include "jd_window.h"

#include <stdio.h>
#include <string.h>

int64_t jd_window_day(int64_t ms)
{
    int64_t q = ms / JD_WINDOW_DAY_MS;
    /* C division truncates toward zero; step down for negative remainders. */
    if (ms % JD_WINDOW_DAY_MS < 0)
        q--;
    return q;
}

int64_t jd_window_day_start(int64_t day)
{
    return day * JD_WINDOW_DAY_MS;
}

void jd_window_bounds(int64_t day, int n_days, int64_t *first, int64_t *last)
{
    *first = day - (n_days > 0 ? n_days : 1) + 1;
    *last = day;
}

int jd_window_contains(int64_t as_of_day, int n_days, int64_t day)
{
    int64_t first, last;
    jd_window_bounds(as_of_day, n_days, &first, &last);
    return day >= first && day <= last;
}

void jd_window_spec_bounds(const jd_window_spec_t *ws, int64_t day,
                           int64_t *first, int64_t *last)
{
    *first = day - ws->ws_back_last;
    *last = day - ws->ws_back_first;
}

jd_window_spec_t jd_window_week_block(jd_window_kind_t kind, int k)
{
    jd_window_spec_t ws = {kind, 7 * k, 7 * k + 6, 0};
    return ws;
}

int64_t jd_window_horizon(int64_t as_of_day, int retention_days)
{
    return as_of_day - retention_days + 1;
}

double jd_window_days_between(int64_t from_ms, int64_t to_ms)
{
    return (double)(to_ms - from_ms) / (double)JD_WINDOW_DAY_MS;
}

int64_t jd_window_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void jd_window_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n ASCII digits at s into *out; 0 or -1. */
static int jd_window_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int jd_window_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int jd_window_month_days(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && jd_window_leap(y) ? 29 : len[m - 1];
}

/* Checks "THH:MM:SS[.f+]Z" and nothing after it; 0 or -1. */
static int jd_window_parse_time(const char *s)
{
    int hh, mm, ss;
    if (s[0] != 'T' || jd_window_digits(s + 1, 2, &hh) || s[3] != ':' ||
        jd_window_digits(s + 4, 2, &mm) || s[6] != ':' ||
        jd_window_digits(s + 7, 2, &ss))
        return -1;
    if (hh > 23 || mm > 59 || ss > 60) /* 60: a leap second, as ISO allows */
        return -1;
    s += 9;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return -1;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return s[0] == 'Z' && s[1] == '\0' ? 0 : -1;
}

int jd_window_parse_date(const char *s, int64_t *ms)
{
    int y, m, d;

    if (!s || jd_window_digits(s, 4, &y) || s[4] != '-' ||
        jd_window_digits(s + 5, 2, &m) || s[7] != '-' ||
        jd_window_digits(s + 8, 2, &d))
        return -1;
    if (m < 1 || m > 12 || d < 1 || d > jd_window_month_days(y, m))
        return -1;
    if (s[10] != '\0' && jd_window_parse_time(s + 10) != 0)
        return -1;
    *ms = jd_window_day_start(jd_window_days_from_civil(y, m, d));
    return 0;
}

int jd_window_parse_instant(const char *s, int64_t *ms)
{
    int64_t day_ms, v = 0;
    int hh = 0, mm = 0, ss = 0, frac = 0;

    if (s && *s >= '0' && *s <= '9' && s[strspn(s, "0123456789")] == '\0') {
        if (strlen(s) > 15)
            return -1;
        for (; *s; s++)
            v = v * 10 + (*s - '0');
        *ms = v;
        return 0;
    }
    if (jd_window_parse_date(s, &day_ms) != 0)
        return -1;
    if (s[10] == '\0') {
        *ms = day_ms;
        return 0;
    }
    /* parse_date checked the shape "THH:MM:SS[.f+]Z" already */
    jd_window_digits(s + 11, 2, &hh);
    jd_window_digits(s + 14, 2, &mm);
    jd_window_digits(s + 17, 2, &ss);
    for (int i = 0, scale = 100; s[19] == '.' && i < 3 && s[20 + i] >= '0' &&
                                 s[20 + i] <= '9'; i++, scale /= 10)
        frac += (s[20 + i] - '0') * scale;
    *ms = day_ms + ((int64_t)hh * 3600 + mm * 60 + ss) * 1000 + frac;
    return 0;
}

size_t jd_window_format_iso(int64_t ms, char *buf, size_t cap)
{
    int64_t day = jd_window_day(ms);
    int64_t in_day = ms - jd_window_day_start(day);
    int64_t y;
    int m, d;
    char tmp[64];

    jd_window_civil_from_days(day, &y, &m, &d);
    int n = snprintf(tmp, sizeof tmp, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                     (long long)y, m, d, (int)(in_day / 3600000),
                     (int)(in_day / 60000 % 60), (int)(in_day / 1000 % 60),
                     (int)(in_day % 1000));
    if (n < 0)
        n = 0;
    if (cap)
        snprintf(buf, cap, "%s", tmp);
    return (size_t)n;
}
