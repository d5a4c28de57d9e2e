/*
 * test_signals: the signal table, derivation from raw aggregates, attribute
 * normalisation and JSON output (state/jd_signals*.c). Pure: no Redis.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jd_signals.h"
#include "jd_window.h"

#define DAY JD_WINDOW_DAY_MS

/* ---- a small strict JSON checker (RFC 8259 syntax, no semantics) ---- */

static const char *js_value(const char *p);

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *js_string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    while (*p && *p != '"') {
        if ((unsigned char)*p < 0x20)
            return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return *p == '"' ? p + 1 : NULL;
}

static const char *js_number(const char *p)
{
    const char *s = p;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p > s ? p : NULL;
}

static const char *js_container(const char *p, char close, int object)
{
    p = js_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (object) {
            if (!(p = js_string(js_ws(p))))
                return NULL;
            p = js_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if (!(p = js_value(p)))
            return NULL;
        p = js_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *js_value(const char *p)
{
    p = js_ws(p);
    switch (*p) {
    case '{': return js_container(p, '}', 1);
    case '[': return js_container(p, ']', 0);
    case '"': return js_string(p);
    case 't': return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f': return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n': return strncmp(p, "null", 4) ? NULL : p + 4;
    default:  return js_number(p);
    }
}

static int json_valid(const char *s)
{
    const char *end = js_value(s);
    return end && *js_ws(end) == '\0';
}

/* ---- table and lookup ---- */

Test(signals, every_name_looks_up_to_itself)
{
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        const char *n = jd_signals_name((jd_signal_id_t)i);
        cr_assert_not_null(n);
        cr_assert_eq(jd_signals_lookup(n, strlen(n)), i, "%s", n);
        cr_assert_not_null(jd_signals_doc((jd_signal_id_t)i));
    }
}

Test(signals, names_match_the_enum)
{
    /* the names of issue 3 and docs/signals.md, in docs order */
    static const char *const want[JD_SIG__COUNT] = {
        "active_users_1d", "active_users_7d", "active_users_28d",
        "wau_prev4_avg", "usage_change_7d", "events_7d", "events_28d",
        "days_active_28d", "power_users_28d", "core_features_used_28d",
        "feature_breadth_28d", "last_usage_at", "days_since_last_usage",
        "segment", "plan", "seats", "arr", "status", "renewal_at",
        "utilization", "days_to_renewal",
        "start_at", "kickoff_at", "go_live_at", "first_value_at",
        "healthy_adoption_at", "value_realized_at", "ttfv_days",
        "days_since_start",
        "stage", "previous_stage", "stage_changed_at",
        "nps_last", "nps_category", "nps_avg_90d", "csat_last",
        "cases_open", "cases_opened_7d", "cases_opened_28d", "sev1_open",
        "sponsor_changed_at", "days_since_sponsor_change",
        "health_score", "last_event_at", "as_of"};
    for (int i = 0; i < JD_SIG__COUNT; i++)
        cr_assert_str_eq(jd_signals_name((jd_signal_id_t)i), want[i]);
}

Test(signals, lookup_uses_length_and_rejects_unknown)
{
    cr_assert_eq(jd_signals_lookup("seatsXYZ", 5), JD_SIG_SEATS);
    cr_assert_eq(jd_signals_lookup("seats", 4), -1);
    cr_assert_eq(jd_signals_lookup("active_users", 12), -1);
    cr_assert_eq(jd_signals_lookup("", 0), -1);
    cr_assert_eq(jd_signals_lookup(NULL, 3), -1);
    cr_assert_null(jd_signals_name(JD_SIG__COUNT));
    cr_assert_null(jd_signals_name((jd_signal_id_t)-1));
}

Test(signals, types_and_timestamps)
{
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        jd_val_type_t want = (i == JD_SIG_SEGMENT || i == JD_SIG_PLAN ||
                              i == JD_SIG_STATUS || i == JD_SIG_STAGE ||
                              i == JD_SIG_PREVIOUS_STAGE ||
                              i == JD_SIG_NPS_CATEGORY) ? JD_VAL_STR : JD_VAL_NUM;
        cr_assert_eq(jd_signals_type((jd_signal_id_t)i), want);
    }
    cr_assert(jd_signals_is_timestamp(JD_SIG_AS_OF));
    cr_assert(jd_signals_is_timestamp(JD_SIG_HEALTHY_ADOPTION_AT));
    cr_assert(jd_signals_is_timestamp(JD_SIG_SPONSOR_CHANGED_AT));
    cr_assert(!jd_signals_is_timestamp(JD_SIG_DAYS_SINCE_SPONSOR_CHANGE));
    cr_assert(jd_signals_is_timestamp(JD_SIG_RENEWAL_AT));
    cr_assert(!jd_signals_is_timestamp(JD_SIG_TTFV_DAYS));
    cr_assert(!jd_signals_is_timestamp(JD_SIG_SEATS));
}

/* ---- setters ---- */

Test(signals, setters_and_clear)
{
    jd_signals_t sg;
    jd_signals_clear(&sg);
    for (int i = 0; i < JD_SIG__COUNT; i++)
        cr_assert_eq(jd_signals_get(&sg, (jd_signal_id_t)i)->type, JD_VAL_NULL);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 12);
    cr_assert_eq(jd_signals_get(&sg, JD_SIG_SEATS)->type, JD_VAL_NUM);
    cr_assert_eq(jd_signals_get(&sg, JD_SIG_SEATS)->num, 12);
    jd_signals_set_str(&sg, JD_SIG_PLAN, "pro");
    cr_assert_str_eq(jd_signals_get(&sg, JD_SIG_PLAN)->str, "pro");
    jd_signals_set_str(&sg, JD_SIG_PLAN, NULL);
    cr_assert_eq(jd_signals_get(&sg, JD_SIG_PLAN)->type, JD_VAL_NULL);
    cr_assert_null(jd_signals_get(&sg, JD_SIG__COUNT));
}

Test(signals, set_str_cuts_on_a_utf8_boundary)
{
    jd_signals_t sg;
    char s[600];
    /* "ab" then 2-byte sequences: a cut at 255 bytes would split one */
    s[0] = 'a';
    s[1] = 'b';
    for (int i = 2; i < 598; i += 2) {
        s[i] = (char)0xC3;
        s[i + 1] = (char)0xA9; /* é */
    }
    s[598] = '\0';
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, s);
    const char *got = jd_signals_get(&sg, JD_SIG_SEGMENT)->str;
    cr_assert_eq(strlen(got), 254, "cut before the split sequence");
    cr_assert_eq((unsigned char)got[253], 0xA9);

    memset(s, 'x', sizeof s - 1);
    s[sizeof s - 1] = '\0'; /* the memset overwrote the terminator above */
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, s);
    cr_assert_eq(strlen(jd_signals_get(&sg, JD_SIG_SEGMENT)->str),
                 JD_SIG_STR_MAX - 1);
}

/* ---- derivation ---- */

static jd_signals_raw_t full_raw(void)
{
    jd_signals_raw_t raw;
    jd_signals_raw_init(&raw);
    raw.sr_as_of = 20000 * DAY + DAY / 2;        /* noon of day 20000 */
    raw.sr_win[JD_W_USERS_1D] = 3;
    raw.sr_win[JD_W_USERS_7D] = 7;
    raw.sr_win[JD_W_USERS_28D] = 10;
    raw.sr_start_at = 19900 * DAY;
    raw.sr_first_value_at = 19900 * DAY + DAY / 4;
    raw.sr_last_event_at = raw.sr_as_of;
    raw.sr_renewal_at = 20030 * DAY;
    jd_signals_raw_set_attr(&raw, "seats", "40");
    jd_signals_raw_set_attr(&raw, "arr", "120000.5");
    jd_signals_raw_set_attr(&raw, "segment", "mid \"market\"");
    jd_signals_raw_set_attr(&raw, "plan", "pro");
    jd_signals_raw_set_attr(&raw, "status", "active");
    return raw;
}

static double num(const jd_signals_t *sg, jd_signal_id_t id)
{
    cr_assert_eq(sg->sg_val[id].type, JD_VAL_NUM, "%s is not a number",
                 jd_signals_name(id));
    return sg->sg_val[id].num;
}

Test(signals, derive_without_state_is_all_null)
{
    jd_signals_raw_t raw;
    jd_signals_t sg;
    jd_signals_raw_init(&raw);
    raw.sr_win[JD_W_USERS_28D] = 5; /* ignored without as_of */
    jd_signals_derive(&sg, &raw, NULL);
    for (int i = 0; i < JD_SIG__COUNT; i++)
        cr_assert_eq(sg.sg_val[i].type, JD_VAL_NULL);
}

Test(signals, derive_everything)
{
    jd_signals_raw_t raw = full_raw();
    jd_signals_t sg;
    jd_signals_derive(&sg, &raw, NULL);

    cr_assert_eq(num(&sg, JD_SIG_ACTIVE_USERS_1D), 3);
    cr_assert_eq(num(&sg, JD_SIG_ACTIVE_USERS_7D), 7);
    cr_assert_eq(num(&sg, JD_SIG_ACTIVE_USERS_28D), 10);
    cr_assert_eq(num(&sg, JD_SIG_SEATS), 40);
    cr_assert_float_eq(num(&sg, JD_SIG_UTILIZATION), 0.25, 1e-12);
    cr_assert_float_eq(num(&sg, JD_SIG_ARR), 120000.5, 1e-9);
    cr_assert_str_eq(sg.sg_val[JD_SIG_SEGMENT].str, "mid \"market\"");
    cr_assert_str_eq(sg.sg_val[JD_SIG_PLAN].str, "pro");
    cr_assert_str_eq(sg.sg_val[JD_SIG_STATUS].str, "active");
    cr_assert_eq(num(&sg, JD_SIG_RENEWAL_AT), (double)(20030 * DAY));
    cr_assert_float_eq(num(&sg, JD_SIG_DAYS_TO_RENEWAL), 29.5, 1e-12);
    cr_assert_float_eq(num(&sg, JD_SIG_DAYS_SINCE_START), 100.5, 1e-12);
    cr_assert_float_eq(num(&sg, JD_SIG_TTFV_DAYS), 0.25, 1e-12);
    cr_assert_eq(num(&sg, JD_SIG_START_AT), (double)(19900 * DAY));
    cr_assert_eq(num(&sg, JD_SIG_AS_OF), (double)raw.sr_as_of);
    cr_assert_eq(num(&sg, JD_SIG_LAST_EVENT_AT), (double)raw.sr_as_of);
}

Test(signals, derive_nulls_and_negative_days)
{
    jd_signals_raw_t raw = full_raw();
    jd_signals_t sg;

    raw.sr_seats = 0;
    raw.sr_first_value_at = JD_SIGNALS_NO_TS;
    raw.sr_renewal_at = raw.sr_as_of - 3 * DAY;
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_eq(num(&sg, JD_SIG_SEATS), 0);
    cr_assert_eq(sg.sg_val[JD_SIG_UTILIZATION].type, JD_VAL_NULL, "seats 0");
    cr_assert_eq(sg.sg_val[JD_SIG_TTFV_DAYS].type, JD_VAL_NULL);
    cr_assert_eq(sg.sg_val[JD_SIG_FIRST_VALUE_AT].type, JD_VAL_NULL);
    cr_assert_float_eq(num(&sg, JD_SIG_DAYS_TO_RENEWAL), -3.0, 1e-12);

    raw.sr_has_seats = 0;
    raw.sr_start_at = JD_SIGNALS_NO_TS;
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_eq(sg.sg_val[JD_SIG_SEATS].type, JD_VAL_NULL);
    cr_assert_eq(sg.sg_val[JD_SIG_UTILIZATION].type, JD_VAL_NULL);
    cr_assert_eq(sg.sg_val[JD_SIG_DAYS_SINCE_START].type, JD_VAL_NULL);
}

/* ---- attributes ---- */

static int norm(const char *k, const char *v, const char **out)
{
    static char buf[32];
    return jd_signals_attr_normalize(k, v, out, buf, sizeof buf);
}

Test(signals, attr_normalize_numbers)
{
    const char *out;
    const char *good[] = {"12", "0", "1e3", "12.5", ".5", "+3"};
    const char *bad[] = {"", "abc", "12abc", "-1", " 12", "12 ", "nan",
                         "inf", "-inf", "0x10", "1e999", "1,5"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        cr_assert_eq(norm("seats", good[i], &out), 1, "%s", good[i]);
        cr_assert_str_eq(out, good[i]);
        cr_assert_eq(norm("arr", good[i], &out), 1, "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(norm("seats", bad[i], &out), -1, "%s", bad[i]);
        cr_assert_eq(norm("arr", bad[i], &out), -1, "%s", bad[i]);
    }
}

Test(signals, attr_normalize_dates_strings_unknown)
{
    const char *out = NULL;
    char want[32];

    snprintf(want, sizeof want, "%lld",
             (long long)(jd_window_days_from_civil(2025, 6, 30) * DAY));
    cr_assert_eq(norm("renewal_at", "2025-06-30", &out), 1);
    cr_assert_str_eq(out, want);
    cr_assert_eq(norm("renewal_at", "2025-06-30T17:00:00Z", &out), 1);
    cr_assert_str_eq(out, want);
    cr_assert_eq(norm("renewal_at", "2025-02-30", &out), -1);
    cr_assert_eq(norm("renewal_at", "soon", &out), -1);
    cr_assert_eq(norm("segment", "enterprise", &out), 1);
    cr_assert_str_eq(out, "enterprise");
    cr_assert_eq(norm("plan", "", &out), 1);
    cr_assert_eq(norm("status", "churned", &out), 1);
    cr_assert_eq(norm("favourite_colour", "blue", &out), 0);
    cr_assert_eq(norm("Seats", "12", &out), 0, "keys are case-sensitive");
    cr_assert_eq(norm(NULL, "12", &out), 0);
    cr_assert_eq(norm("seats", NULL, &out), 0);
}

Test(signals, raw_set_attr)
{
    jd_signals_raw_t raw;
    jd_signals_raw_init(&raw);
    cr_assert_eq(jd_signals_raw_set_attr(&raw, "seats", "12"), 1);
    cr_assert(raw.sr_has_seats && raw.sr_seats == 12);
    cr_assert_eq(jd_signals_raw_set_attr(&raw, "renewal_at", "86400000"), 1);
    cr_assert_eq(raw.sr_renewal_at, DAY);
    cr_assert_eq(jd_signals_raw_set_attr(&raw, "renewal_at", "x"), 0);
    cr_assert_eq(jd_signals_raw_set_attr(&raw, "nope", "1"), 0);
    cr_assert_eq(jd_signals_raw_set_attr(&raw, "arr", "bad"), 0);
    cr_assert(!raw.sr_has_arr);
}

/* ---- JSON ---- */

Test(signals, json_of_empty_state_is_nulls)
{
    jd_signals_t sg;
    char buf[4096];
    jd_signals_clear(&sg);
    size_t n = jd_signals_to_json(&sg, "acme", buf, sizeof buf);
    cr_assert_eq(n, strlen(buf));
    cr_assert(json_valid(buf), "%s", buf);
    cr_assert(strstr(buf, "{\"account_id\":\"acme\",\"signals\":{"
                          "\"active_users_1d\":null,"));
    cr_assert(strstr(buf, "\"as_of\":null,\"as_of_iso\":null},\"journey\":{"
                          "\"stage\":null,\"cause\":null,"), "%s", buf);
    cr_assert(strstr(buf, "\"health\":{\"score\":null,\"profile\":null,"), "%s", buf);
}

Test(signals, json_values_and_iso)
{
    jd_signals_raw_t raw = full_raw();
    jd_signals_t sg;
    char buf[4096];

    jd_signals_derive(&sg, &raw, NULL);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 2.0 / 3.0);
    jd_signals_to_json(&sg, "a", buf, sizeof buf);
    cr_assert(json_valid(buf), "%s", buf);
    cr_assert(strstr(buf, "\"active_users_28d\":10,"), "%s", buf);
    cr_assert(strstr(buf, "\"utilization\":0.6666666666666666,"), "%s", buf); /* round-trips */
    cr_assert(strstr(buf, "\"seats\":40,"), "%s", buf);
    cr_assert(strstr(buf, "\"segment\":\"mid \\\"market\\\"\","), "%s", buf);
    cr_assert(strstr(buf, "\"days_to_renewal\":29.5,"), "%s", buf);
    cr_assert(strstr(buf, "\"arr\":120000.5,"), "%s", buf);
    cr_assert(strstr(buf, "\"renewal_at\":1730592000000,"
                          "\"renewal_at_iso\":\"2024-11-03T00:00:00.000Z\""),
              "%s", buf);
    cr_assert(strstr(buf, "\"as_of_iso\":\"2024-10-04T12:00:00.000Z\"},"
                          "\"journey\":{\"stage\":\"renewal\",\"cause\":\"renewal_window\","
                          "\"cause_at\":1730592000000,"), "%s", buf);
    cr_assert_null(strstr(buf, "e+"), "no exponent for timestamps: %s", buf);
}

Test(signals, json_escapes_strings)
{
    jd_signals_t sg;
    char buf[4096];
    jd_signals_clear(&sg);
    jd_signals_set_str(&sg, JD_SIG_PLAN, "a\"b\\c\nd\te\x01" "f\x1f" "g/é");
    jd_signals_to_json(&sg, "x\"}{:\b\f\r", buf, sizeof buf);
    cr_assert(json_valid(buf), "%s", buf);
    cr_assert(strstr(buf, "\"account_id\":\"x\\\"}{:\\b\\f\\r\""), "%s", buf);
    cr_assert(strstr(buf, "\"plan\":\"a\\\"b\\\\c\\nd\\te\\u0001f\\u001fg/é\""),
              "%s", buf);
}

Test(signals, json_non_finite_and_null_account)
{
    jd_signals_t sg;
    char buf[4096];
    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, NAN);
    jd_signals_set_num(&sg, JD_SIG_ARR, INFINITY);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, 1e300);
    jd_signals_to_json(&sg, NULL, buf, sizeof buf);
    cr_assert(json_valid(buf), "%s", buf);
    cr_assert(strstr(buf, "{\"account_id\":null,"));
    cr_assert(strstr(buf, "\"utilization\":null,"));
    cr_assert(strstr(buf, "\"arr\":null,"));
    cr_assert(strstr(buf, "\"as_of_iso\":null"));
}

Test(signals, json_cut_reports_full_length)
{
    jd_signals_raw_t raw = full_raw();
    jd_signals_t sg;
    char full[4096], small[40];

    jd_signals_derive(&sg, &raw, NULL);
    size_t n = jd_signals_to_json(&sg, "acme", full, sizeof full);
    size_t m = jd_signals_to_json(&sg, "acme", small, sizeof small);
    cr_assert_eq(n, m);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(full, small, sizeof small - 1), 0);
    cr_assert_eq(jd_signals_to_json(&sg, "acme", NULL, 0), n);
}

Test(signals, copy_repoints_strings)
{
    jd_signals_t a, b;
    jd_signals_clear(&a);
    jd_signals_set_str(&a, JD_SIG_PLAN, "pro");
    jd_signals_set_num(&a, JD_SIG_SEATS, 3);
    jd_signals_copy(&b, &a);
    jd_signals_set_str(&a, JD_SIG_PLAN, "basic");
    cr_assert_str_eq(b.sg_val[JD_SIG_PLAN].str, "pro");
    cr_assert(b.sg_val[JD_SIG_PLAN].str >= (const char *)b.sg_str &&
              b.sg_val[JD_SIG_PLAN].str < (const char *)(&b.sg_str + 1),
              "points into the copy's own storage");
    cr_assert_eq(b.sg_val[JD_SIG_SEATS].num, 3);
}
