/*
 * jd_signals_derive: the derivation of signals from raw aggregates
 * (contract in jd_signals.h): the window specs, jd_signals_raw_t and the
 * parsing of its attributes, jd_signals_derive (usage, account,
 * milestones, sentiment, health, stage), and the journey stage and
 * healthy adoption that jd_signals_observe applies in arrival order.
 *
 * Derivation is kept here, away from Redis, so the arithmetic the rules
 * depend on (ratios, fractional day differences, nulls) is unit-tested
 * with plain structs. The state shell's only job is to fill
 * jd_signals_raw_t.
 *
 * Pure: no I/O, no allocation, no global mutable state; any thread. The
 * strings of a jd_signals_raw_t are borrowed; jd_signals_derive copies
 * them into the jd_signals_t.
 */
#include "jd_signals.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_window.h"

/* ---- Derivation ------------------------------------------------------- */

void jd_signals_windows(int power_user_days, jd_window_spec_t *specs)
{
    static const jd_window_spec_t fixed[JD_W__COUNT] = {
        [JD_W_USERS_1D] = {JD_WINDOW_USERS, 0, 0, 0},
        [JD_W_USERS_7D] = {JD_WINDOW_USERS, 0, 6, 0},
        [JD_W_USERS_28D] = {JD_WINDOW_USERS, 0, 27, 0},
        [JD_W_EVENTS_7D] = {JD_WINDOW_EVENTS, 0, 6, 0},
        [JD_W_EVENTS_28D] = {JD_WINDOW_EVENTS, 0, 27, 0},
        [JD_W_DAYS_ACTIVE_28D] = {JD_WINDOW_ACTIVE, 0, 27, 0},
        [JD_W_POWER_USERS_28D] = {JD_WINDOW_POWER, 0, 27, 0},
        [JD_W_CORE_FEATURES_28D] = {JD_WINDOW_FEATURES, 0, 27, 0},
        [JD_W_CASES_OPENED_7D] = {JD_WINDOW_CASES, 0, 6, 0},
        [JD_W_CASES_OPENED_28D] = {JD_WINDOW_CASES, 0, 27, 0},
    };
    memcpy(specs, fixed, sizeof fixed);
    for (int k = 1; k <= 4; k++)
        specs[JD_W_USERS_PREV1 + k - 1] = jd_window_week_block(JD_WINDOW_USERS, k);
    specs[JD_W_POWER_USERS_28D].ws_param = power_user_days;
}

void jd_signals_raw_init(jd_signals_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    raw->sr_as_of = JD_SIGNALS_NO_TS;
    raw->sr_start_at = JD_SIGNALS_NO_TS;
    raw->sr_kickoff_at = JD_SIGNALS_NO_TS;
    raw->sr_go_live_at = JD_SIGNALS_NO_TS;
    raw->sr_first_value_at = JD_SIGNALS_NO_TS;
    raw->sr_value_realized_at = JD_SIGNALS_NO_TS;
    raw->sr_healthy_adoption_at = JD_SIGNALS_NO_TS;
    raw->sr_last_event_at = JD_SIGNALS_NO_TS;
    raw->sr_last_usage_at = JD_SIGNALS_NO_TS;
    raw->sr_sponsor_changed_at = JD_SIGNALS_NO_TS;
    raw->sr_renewal_at = JD_SIGNALS_NO_TS;
    raw->sr_stage_changed_at = JD_SIGNALS_NO_TS;
}

/* A finite decimal number >= 0, the whole string, no blanks; 0 or -1. */
int jd_signals_parse_amount(const char *s, double *out)
{
    char *end;
    if (!s || !((*s >= '0' && *s <= '9') || *s == '.' || *s == '+'))
        return -1;
    if (strpbrk(s, "xXpP")) /* strtod would take C99 hex floats */
        return -1;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Strict decimal int64 ("-12", "1700000000000"); 0 or -1. */
int jd_signals_parse_i64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !((*s >= '0' && *s <= '9') || *s == '-'))
        return -1;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

int jd_signals_raw_set_attr(jd_signals_raw_t *raw, const char *name,
                            const char *value)
{
    if (!name || !value)
        return 0;
    if (strcmp(name, "seats") == 0)
        return (raw->sr_has_seats =
                    jd_signals_parse_amount(value, &raw->sr_seats) == 0);
    if (strcmp(name, "arr") == 0)
        return (raw->sr_has_arr =
                    jd_signals_parse_amount(value, &raw->sr_arr) == 0);
    if (strcmp(name, "renewal_at") == 0)
        return jd_signals_parse_i64(value, &raw->sr_renewal_at) == 0;
    if (strcmp(name, "segment") == 0)
        return (raw->sr_segment = value) != NULL;
    if (strcmp(name, "plan") == 0)
        return (raw->sr_plan = value) != NULL;
    if (strcmp(name, "status") == 0)
        return (raw->sr_status = value) != NULL;
    if (strcmp(name, "nps_last") == 0)
        return (raw->sr_has_nps_last =
                    jd_signals_parse_amount(value, &raw->sr_nps_last) == 0);
    if (strcmp(name, "csat_last") == 0)
        return (raw->sr_has_csat_last =
                    jd_signals_parse_amount(value, &raw->sr_csat_last) == 0);
    return 0;
}

int jd_signals_raw_set_meta(jd_signals_raw_t *raw, const char *name,
                            const char *value)
{
    static const struct { const char *name; size_t off; } ts[] = {
        {"start_at", offsetof(jd_signals_raw_t, sr_start_at)},
        {"kickoff_at", offsetof(jd_signals_raw_t, sr_kickoff_at)},
        {"go_live_at", offsetof(jd_signals_raw_t, sr_go_live_at)},
        {"first_value_at", offsetof(jd_signals_raw_t, sr_first_value_at)},
        {"value_realized_at", offsetof(jd_signals_raw_t, sr_value_realized_at)},
        {"healthy_adoption_at", offsetof(jd_signals_raw_t, sr_healthy_adoption_at)},
        {"last_event_at", offsetof(jd_signals_raw_t, sr_last_event_at)},
        {"last_usage_at", offsetof(jd_signals_raw_t, sr_last_usage_at)},
        {"sponsor_changed_at", offsetof(jd_signals_raw_t, sr_sponsor_changed_at)},
        {"stage_changed_at", offsetof(jd_signals_raw_t, sr_stage_changed_at)},
        {"cases_open", offsetof(jd_signals_raw_t, sr_cases_open)},
        {"sev1_open", offsetof(jd_signals_raw_t, sr_sev1_open)},
        {"stage_seq", offsetof(jd_signals_raw_t, sr_stage_seq)},
    };
    if (!name || !value)
        return 0;
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        if (strcmp(name, ts[i].name) == 0)
            return jd_signals_parse_i64(value,
                       (int64_t *)(void *)((char *)raw + ts[i].off)) == 0;
    if (strcmp(name, "stage") == 0)
        return (raw->sr_stage = value) != NULL;
    if (strcmp(name, "previous_stage") == 0)
        return (raw->sr_previous_stage = value) != NULL;
    return 0;
}

int jd_signals_attr_normalize(const char *name, const char *value,
                              const char **out, char *buf, size_t cap)
{
    double num;
    int64_t ms;

    if (!name || !value)
        return 0;
    if (strcmp(name, "seats") == 0 || strcmp(name, "arr") == 0) {
        if (jd_signals_parse_amount(value, &num) != 0)
            return -1;
        *out = value;
        return 1;
    }
    if (strcmp(name, "renewal_at") == 0) {
        if (jd_window_parse_date(value, &ms) != 0)
            return -1;
        snprintf(buf, cap, "%lld", (long long)ms);
        *out = buf;
        return 1;
    }
    if (strcmp(name, "segment") == 0 || strcmp(name, "plan") == 0 ||
        strcmp(name, "status") == 0) {
        *out = value;
        return 1;
    }
    return 0;
}

static void jd_signals_set_ts(jd_signals_t *sg, jd_signal_id_t id, int64_t ts)
{
    if (ts == JD_SIGNALS_NO_TS)
        jd_signals_set_null(sg, id);
    else
        jd_signals_set_num(sg, id, (double)ts);
}

/* A milestone: unknown, or later than the as-of instant (only possible
 * with inspect --as-of), reads null. */
static void jd_signals_set_milestone(jd_signals_t *sg, jd_signal_id_t id,
                                     int64_t ts, int64_t as_of)
{
    jd_signals_set_ts(sg, id, ts != JD_SIGNALS_NO_TS && ts <= as_of
                                  ? ts : JD_SIGNALS_NO_TS);
}

/* days between two known timestamps, else null. */
static void jd_signals_set_days(jd_signals_t *sg, jd_signal_id_t id,
                                int64_t from, int64_t to)
{
    if (from == JD_SIGNALS_NO_TS || to == JD_SIGNALS_NO_TS)
        jd_signals_set_null(sg, id);
    else
        jd_signals_set_num(sg, id, jd_window_days_between(from, to));
}

/* The signal as a timestamp (milestones read back after derivation). */
static int64_t jd_signals_ts(const jd_signals_t *sg, jd_signal_id_t id)
{
    const jd_value_t *v = &sg->sg_val[id];
    return v->type == JD_VAL_NUM ? (int64_t)v->num : JD_SIGNALS_NO_TS;
}

static int jd_signals_num(const jd_signals_t *sg, jd_signal_id_t id, double *out)
{
    const jd_value_t *v = &sg->sg_val[id];
    if (v->type != JD_VAL_NUM)
        return 0;
    *out = v->num;
    return 1;
}

void jd_signals_conf_default(jd_signals_conf_t *sgc)
{
    memset(sgc, 0, sizeof *sgc);
    sgc->sgc_renewal_window_days = 120;
    sgc->sgc_healthy_utilization = 0.7;
    sgc->sgc_healthy_breadth = 0.7;
    sgc->sgc_ttfv_target_days = 30;
}

static void jd_signals_usage(jd_signals_t *sg, const jd_signals_raw_t *raw,
                             const jd_signals_conf_t *conf)
{
    const int64_t *w = raw->sr_win;
    double prev = (double)(w[JD_W_USERS_PREV1] + w[JD_W_USERS_PREV2] +
                           w[JD_W_USERS_PREV3] + w[JD_W_USERS_PREV4]) / 4.0;

    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_1D, (double)w[JD_W_USERS_1D]);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_7D, (double)w[JD_W_USERS_7D]);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_28D, (double)w[JD_W_USERS_28D]);
    jd_signals_set_num(sg, JD_SIG_WAU_PREV4_AVG, prev);
    if (prev > 0)
        jd_signals_set_num(sg, JD_SIG_USAGE_CHANGE_7D,
                           (double)w[JD_W_USERS_7D] / prev - 1.0);
    jd_signals_set_num(sg, JD_SIG_EVENTS_7D, (double)w[JD_W_EVENTS_7D]);
    jd_signals_set_num(sg, JD_SIG_EVENTS_28D, (double)w[JD_W_EVENTS_28D]);
    jd_signals_set_num(sg, JD_SIG_DAYS_ACTIVE_28D,
                       (double)w[JD_W_DAYS_ACTIVE_28D]);
    jd_signals_set_num(sg, JD_SIG_POWER_USERS_28D,
                       (double)w[JD_W_POWER_USERS_28D]);
    jd_signals_set_num(sg, JD_SIG_CORE_FEATURES_USED_28D,
                       (double)w[JD_W_CORE_FEATURES_28D]);
    if (conf->sgc_core_feature_cnt)
        jd_signals_set_num(sg, JD_SIG_FEATURE_BREADTH_28D,
                           (double)w[JD_W_CORE_FEATURES_28D] /
                               (double)conf->sgc_core_feature_cnt);
    jd_signals_set_ts(sg, JD_SIG_LAST_USAGE_AT, raw->sr_last_usage_at);
    jd_signals_set_days(sg, JD_SIG_DAYS_SINCE_LAST_USAGE, raw->sr_last_usage_at,
                        raw->sr_as_of);
}

static void jd_signals_account(jd_signals_t *sg, const jd_signals_raw_t *raw)
{
    jd_signals_set_str(sg, JD_SIG_SEGMENT, raw->sr_segment);
    jd_signals_set_str(sg, JD_SIG_PLAN, raw->sr_plan);
    jd_signals_set_str(sg, JD_SIG_STATUS, raw->sr_status);
    if (raw->sr_has_seats) {
        jd_signals_set_num(sg, JD_SIG_SEATS, raw->sr_seats);
        if (raw->sr_seats > 0)
            jd_signals_set_num(sg, JD_SIG_UTILIZATION,
                               (double)raw->sr_win[JD_W_USERS_28D] / raw->sr_seats);
    }
    if (raw->sr_has_arr)
        jd_signals_set_num(sg, JD_SIG_ARR, raw->sr_arr);
    jd_signals_set_ts(sg, JD_SIG_RENEWAL_AT, raw->sr_renewal_at);
    jd_signals_set_days(sg, JD_SIG_DAYS_TO_RENEWAL, raw->sr_as_of,
                        raw->sr_renewal_at);
}

static void jd_signals_milestones(jd_signals_t *sg, const jd_signals_raw_t *raw)
{
    int64_t t = raw->sr_as_of;

    jd_signals_set_milestone(sg, JD_SIG_START_AT, raw->sr_start_at, t);
    jd_signals_set_milestone(sg, JD_SIG_KICKOFF_AT, raw->sr_kickoff_at, t);
    jd_signals_set_milestone(sg, JD_SIG_GO_LIVE_AT, raw->sr_go_live_at, t);
    jd_signals_set_milestone(sg, JD_SIG_FIRST_VALUE_AT, raw->sr_first_value_at, t);
    jd_signals_set_milestone(sg, JD_SIG_HEALTHY_ADOPTION_AT,
                             raw->sr_healthy_adoption_at, t);
    jd_signals_set_milestone(sg, JD_SIG_VALUE_REALIZED_AT,
                             raw->sr_value_realized_at, t);
    jd_signals_set_days(sg, JD_SIG_TTFV_DAYS, jd_signals_ts(sg, JD_SIG_START_AT),
                        jd_signals_ts(sg, JD_SIG_FIRST_VALUE_AT));
    jd_signals_set_days(sg, JD_SIG_DAYS_SINCE_START,
                        jd_signals_ts(sg, JD_SIG_START_AT), t);
}

static void jd_signals_sentiment(jd_signals_t *sg, const jd_signals_raw_t *raw)
{
    if (raw->sr_has_nps_last) {
        double v = raw->sr_nps_last;
        jd_signals_set_num(sg, JD_SIG_NPS_LAST, v);
        jd_signals_set_str(sg, JD_SIG_NPS_CATEGORY,
                           v >= 9 ? "promoter" : v >= 7 ? "passive" : "detractor");
    }
    if (raw->sr_nps_count > 0)
        jd_signals_set_num(sg, JD_SIG_NPS_AVG_90D,
                           raw->sr_nps_sum / (double)raw->sr_nps_count);
    if (raw->sr_has_csat_last)
        jd_signals_set_num(sg, JD_SIG_CSAT_LAST, raw->sr_csat_last);
    jd_signals_set_num(sg, JD_SIG_CASES_OPEN, (double)raw->sr_cases_open);
    jd_signals_set_num(sg, JD_SIG_CASES_OPENED_7D,
                       (double)raw->sr_win[JD_W_CASES_OPENED_7D]);
    jd_signals_set_num(sg, JD_SIG_CASES_OPENED_28D,
                       (double)raw->sr_win[JD_W_CASES_OPENED_28D]);
    jd_signals_set_num(sg, JD_SIG_SEV1_OPEN, (double)raw->sr_sev1_open);
    jd_signals_set_ts(sg, JD_SIG_SPONSOR_CHANGED_AT, raw->sr_sponsor_changed_at);
    jd_signals_set_days(sg, JD_SIG_DAYS_SINCE_SPONSOR_CHANGE,
                        raw->sr_sponsor_changed_at, raw->sr_as_of);
}

/* The measures of the health score, from the derived signals. The
 * milestone measure is 1 when first value is reached, or while the
 * account is within its ttfv target; 0 once it is past it without one;
 * unknown without a start. */
static void jd_signals_health(jd_signals_t *sg, const jd_signals_conf_t *conf)
{
    double v[JD_HM__COUNT] = {0}, since;
    int has[JD_HM__COUNT] = {0};
    jd_health_profile_t prof;

    has[JD_HM_UTILIZATION] = jd_signals_num(sg, JD_SIG_UTILIZATION, &v[JD_HM_UTILIZATION]);
    has[JD_HM_USAGE_CHANGE] = jd_signals_num(sg, JD_SIG_USAGE_CHANGE_7D,
                                             &v[JD_HM_USAGE_CHANGE]);
    has[JD_HM_NPS] = jd_signals_num(sg, JD_SIG_NPS_AVG_90D, &v[JD_HM_NPS]);
    has[JD_HM_CASES_OPEN] = jd_signals_num(sg, JD_SIG_CASES_OPEN, &v[JD_HM_CASES_OPEN]);
    if (sg->sg_val[JD_SIG_FIRST_VALUE_AT].type == JD_VAL_NUM) {
        has[JD_HM_MILESTONES] = 1;
        v[JD_HM_MILESTONES] = 1;
    } else if (jd_signals_num(sg, JD_SIG_DAYS_SINCE_START, &since)) {
        has[JD_HM_MILESTONES] = 1;
        v[JD_HM_MILESTONES] = since <= conf->sgc_ttfv_target_days ? 1 : 0;
    }
    jd_health_resolve(conf->sgc_health, sg->sg_val[JD_SIG_SEGMENT].str, &prof);
    jd_health_score(&prof, v, has, &sg->sg_health);
    if (sg->sg_health.hr_present)
        jd_signals_set_num(sg, JD_SIG_HEALTH_SCORE, sg->sg_health.hr_score);
}

/* Sets the stage signal and its cause from the other signals. */
static void jd_signals_set_stage(jd_signals_t *sg, const jd_signals_conf_t *conf)
{
    const char *cause;
    int64_t cause_at;
    jd_stage_t st = jd_signals_stage(sg, conf, &cause, &cause_at);

    jd_signals_set_str(sg, JD_SIG_STAGE, jd_signals_stage_name(st));
    sg->sg_stage_cause = cause;
    sg->sg_stage_cause_at = cause_at;
}

void jd_signals_derive(jd_signals_t *sg, const jd_signals_raw_t *raw,
                       const jd_signals_conf_t *conf)
{
    jd_signals_conf_t def;

    if (!conf) {
        jd_signals_conf_default(&def);
        conf = &def;
    }
    jd_signals_clear(sg);
    if (raw->sr_as_of == JD_SIGNALS_NO_TS)
        return;
    jd_signals_usage(sg, raw, conf);
    jd_signals_account(sg, raw);
    jd_signals_milestones(sg, raw);
    jd_signals_sentiment(sg, raw);
    jd_signals_health(sg, conf);
    jd_signals_set_ts(sg, JD_SIG_LAST_EVENT_AT, raw->sr_last_event_at);
    jd_signals_set_ts(sg, JD_SIG_AS_OF, raw->sr_as_of);
    jd_signals_set_stage(sg, conf);
    jd_signals_set_str(sg, JD_SIG_PREVIOUS_STAGE, raw->sr_previous_stage);
    jd_signals_set_ts(sg, JD_SIG_STAGE_CHANGED_AT, raw->sr_stage_changed_at);
    snprintf(sg->sg_stage_stored, sizeof sg->sg_stage_stored, "%s",
             raw->sr_stage ? raw->sr_stage : "");
    sg->sg_stage_seq = raw->sr_stage_seq;
}

/* ---- Stage and healthy adoption ------------------------------------------ */

static const char *const jd_signals_stages[JD_STAGE__COUNT] = {
    [JD_STAGE_ONBOARDING] = "onboarding",
    [JD_STAGE_ACTIVATION] = "activation",
    [JD_STAGE_ADOPTION] = "adoption",
    [JD_STAGE_VALUE_REALIZATION] = "value_realization",
    [JD_STAGE_RENEWAL] = "renewal",
    [JD_STAGE_CHURNED] = "churned",
};

const char *jd_signals_stage_name(jd_stage_t st)
{
    return (int)st >= 0 && st < JD_STAGE__COUNT ? jd_signals_stages[st] : NULL;
}

jd_stage_t jd_signals_stage(const jd_signals_t *sg,
                            const jd_signals_conf_t *conf,
                            const char **cause, int64_t *cause_at)
{
    const jd_value_t *status = &sg->sg_val[JD_SIG_STATUS];
    double dtr;
    const char *c = "start";
    int64_t at = jd_signals_ts(sg, JD_SIG_START_AT);
    jd_stage_t st = JD_STAGE_ONBOARDING;

    if (status->type == JD_VAL_STR && strcmp(status->str, "churned") == 0) {
        st = JD_STAGE_CHURNED, c = "status", at = JD_SIGNALS_NO_TS;
    } else if (jd_signals_num(sg, JD_SIG_DAYS_TO_RENEWAL, &dtr) &&
               dtr <= conf->sgc_renewal_window_days) {
        st = JD_STAGE_RENEWAL, c = "renewal_window";
        at = jd_signals_ts(sg, JD_SIG_RENEWAL_AT);
    } else if (sg->sg_val[JD_SIG_HEALTHY_ADOPTION_AT].type == JD_VAL_NUM) {
        st = JD_STAGE_VALUE_REALIZATION, c = "healthy_adoption";
        at = jd_signals_ts(sg, JD_SIG_HEALTHY_ADOPTION_AT);
    } else if (sg->sg_val[JD_SIG_FIRST_VALUE_AT].type == JD_VAL_NUM) {
        st = JD_STAGE_ADOPTION, c = "first_value";
        at = jd_signals_ts(sg, JD_SIG_FIRST_VALUE_AT);
    } else if (sg->sg_val[JD_SIG_GO_LIVE_AT].type == JD_VAL_NUM) {
        st = JD_STAGE_ACTIVATION, c = "go_live";
        at = jd_signals_ts(sg, JD_SIG_GO_LIVE_AT);
    }
    if (cause)
        *cause = c;
    if (cause_at)
        *cause_at = at;
    return st;
}

int jd_signals_healthy(const jd_signals_t *sg, const jd_signals_conf_t *conf)
{
    double u, b;
    return jd_signals_num(sg, JD_SIG_UTILIZATION, &u) &&
           jd_signals_num(sg, JD_SIG_FEATURE_BREADTH_28D, &b) &&
           u >= conf->sgc_healthy_utilization && b >= conf->sgc_healthy_breadth;
}

int jd_signals_observe(jd_signals_t *sg, const jd_signals_conf_t *conf,
                       jd_signals_change_t *ch)
{
    const jd_value_t *as_of = &sg->sg_val[JD_SIG_AS_OF];
    jd_signals_conf_t def;

    memset(ch, 0, sizeof *ch);
    ch->ch_cause_at = JD_SIGNALS_NO_TS;
    if (as_of->type != JD_VAL_NUM)
        return 0;
    if (!conf) {
        jd_signals_conf_default(&def);
        conf = &def;
    }
    ch->ch_at = (int64_t)as_of->num;
    if (sg->sg_val[JD_SIG_HEALTHY_ADOPTION_AT].type == JD_VAL_NULL &&
        jd_signals_healthy(sg, conf)) {
        ch->ch_healthy_adoption = 1;
        jd_signals_set_num(sg, JD_SIG_HEALTHY_ADOPTION_AT, as_of->num);
        jd_signals_set_stage(sg, conf);
    }
    const char *stage = sg->sg_val[JD_SIG_STAGE].str;
    if (stage && strcmp(stage, sg->sg_stage_stored) != 0) {
        ch->ch_stage = 1;
        jd_signals_set_str(sg, JD_SIG_PREVIOUS_STAGE,
                           sg->sg_stage_stored[0] ? sg->sg_stage_stored : NULL);
        jd_signals_set_num(sg, JD_SIG_STAGE_CHANGED_AT, as_of->num);
        snprintf(sg->sg_stage_stored, sizeof sg->sg_stage_stored, "%.*s",
                 (int)sizeof sg->sg_stage_stored - 1, stage);
        ch->ch_seq = ++sg->sg_stage_seq;
        ch->ch_stage_name = sg->sg_val[JD_SIG_STAGE].str;
        ch->ch_previous = sg->sg_val[JD_SIG_PREVIOUS_STAGE].str;
        ch->ch_cause = sg->sg_stage_cause;
        ch->ch_cause_at = sg->sg_stage_cause_at;
    }
    return ch->ch_healthy_adoption || ch->ch_stage;
}
