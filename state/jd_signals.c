/*
 * jd_signals: the signal table, derivation from raw aggregates, and JSON
 * (contract in jd_signals.h).
 *
 * The table below is the single source of truth for signal names, types and
 * meanings: the rules compiler resolves names through jd_signals_lookup(),
 * `inspect --json` and the docs walk it in enum order. Adding a signal means
 * adding an enum value in jd_signals.h, a row here, and a line in
 * jd_signals_derive(); nothing else needs to know the list.
 *
 * Derivation is kept here, away from Redis, so the arithmetic the rules
 * depend on (ratios, fractional day differences, nulls) is unit-tested with
 * plain structs. The state shell's only job is to fill jd_signals_raw_t.
 *
 * Pure: no I/O, no allocation, no global mutable state; any thread.
 */
#include "jd_signals.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_window.h"

typedef struct jd_signal_def {
    const char   *sd_name;
    jd_val_type_t sd_type;
    int           sd_is_ts;
    const char   *sd_doc;
} jd_signal_def_t;

#define NUM JD_VAL_NUM
#define STR JD_VAL_STR

static const jd_signal_def_t jd_signals_table[JD_SIG__COUNT] = {
    [JD_SIG_ACTIVE_USERS_1D] = {"active_users_1d", NUM, 0,
        "distinct users with a usage event on the as-of UTC day D"},
    [JD_SIG_ACTIVE_USERS_7D] = {"active_users_7d", NUM, 0,
        "distinct users with a usage event in the days [D-6, D]"},
    [JD_SIG_ACTIVE_USERS_28D] = {"active_users_28d", NUM, 0,
        "distinct users with a usage event in the days [D-27, D]"},
    [JD_SIG_WAU_PREV4_AVG] = {"wau_prev4_avg", NUM, 0,
        "mean distinct users of the 7-day blocks [D-13,D-7] .. [D-34,D-28]"},
    [JD_SIG_USAGE_CHANGE_7D] = {"usage_change_7d", NUM, 0,
        "active_users_7d / wau_prev4_avg - 1; null when wau_prev4_avg is 0"},
    [JD_SIG_EVENTS_7D] = {"events_7d", NUM, 0,
        "usage events (distinct event_id) in [D-6, D]"},
    [JD_SIG_EVENTS_28D] = {"events_28d", NUM, 0,
        "usage events (distinct event_id) in [D-27, D]"},
    [JD_SIG_DAYS_ACTIVE_28D] = {"days_active_28d", NUM, 0,
        "days of [D-27, D] with at least one usage event"},
    [JD_SIG_POWER_USERS_28D] = {"power_users_28d", NUM, 0,
        "users active on at least state.power_user_days days of [D-27, D]"},
    [JD_SIG_CORE_FEATURES_USED_28D] = {"core_features_used_28d", NUM, 0,
        "configured core features used in [D-27, D]"},
    [JD_SIG_FEATURE_BREADTH_28D] = {"feature_breadth_28d", NUM, 0,
        "core_features_used_28d / number of core features; null without any"},
    [JD_SIG_LAST_USAGE_AT] = {"last_usage_at", NUM, 1,
        "latest occurred_at of a usage event"},
    [JD_SIG_DAYS_SINCE_LAST_USAGE] = {"days_since_last_usage", NUM, 0,
        "(as_of - last_usage_at) in days, fractional"},
    [JD_SIG_SEGMENT] = {"segment", STR, 0,
        "customer segment (account_updated attribute `segment`)"},
    [JD_SIG_PLAN] = {"plan", STR, 0,
        "commercial plan (account_updated attribute `plan`)"},
    [JD_SIG_SEATS] = {"seats", NUM, 0,
        "licensed seats (account_updated attribute `seats`)"},
    [JD_SIG_ARR] = {"arr", NUM, 0,
        "annual recurring revenue (account_updated attribute `arr`)"},
    [JD_SIG_STATUS] = {"status", STR, 0,
        "account status (account_updated attribute `status`)"},
    [JD_SIG_RENEWAL_AT] = {"renewal_at", NUM, 1,
        "renewal date, UTC midnight (account_updated attribute `renewal_at`)"},
    [JD_SIG_UTILIZATION] = {"utilization", NUM, 0,
        "active_users_28d / seats; null without seats"},
    [JD_SIG_DAYS_TO_RENEWAL] = {"days_to_renewal", NUM, 0,
        "(renewal_at - as_of) in days, fractional, negative when past"},
    [JD_SIG_START_AT] = {"start_at", NUM, 1,
        "earliest account_created or contract_signed"},
    [JD_SIG_KICKOFF_AT] = {"kickoff_at", NUM, 1, "earliest kickoff"},
    [JD_SIG_GO_LIVE_AT] = {"go_live_at", NUM, 1, "earliest go_live"},
    [JD_SIG_FIRST_VALUE_AT] = {"first_value_at", NUM, 1,
        "earliest first_value event or use of a value feature"},
    [JD_SIG_HEALTHY_ADOPTION_AT] = {"healthy_adoption_at", NUM, 1,
        "first as-of instant with utilization and feature breadth healthy "
        "(log order)"},
    [JD_SIG_VALUE_REALIZED_AT] = {"value_realized_at", NUM, 1,
        "earliest value_realized"},
    [JD_SIG_TTFV_DAYS] = {"ttfv_days", NUM, 0,
        "time to first value: (first_value_at - start_at) in days"},
    [JD_SIG_DAYS_SINCE_START] = {"days_since_start", NUM, 0,
        "(as_of - start_at) in days, fractional"},
    [JD_SIG_STAGE] = {"stage", STR, 0,
        "journey stage: churned, renewal, value_realization, adoption, "
        "activation or onboarding (first match wins)"},
    [JD_SIG_PREVIOUS_STAGE] = {"previous_stage", STR, 0,
        "the stage before the last stage change (log order)"},
    [JD_SIG_STAGE_CHANGED_AT] = {"stage_changed_at", NUM, 1,
        "as-of instant of the last stage change (log order)"},
    [JD_SIG_NPS_LAST] = {"nps_last", NUM, 0,
        "latest nps_response value (last-writer-wins)"},
    [JD_SIG_NPS_CATEGORY] = {"nps_category", STR, 0,
        "promoter (nps_last >= 9), passive (>= 7) or detractor"},
    [JD_SIG_NPS_AVG_90D] = {"nps_avg_90d", NUM, 0,
        "mean nps_response value in [D-89, D]; null without answers"},
    [JD_SIG_CSAT_LAST] = {"csat_last", NUM, 0,
        "latest csat_response value (last-writer-wins)"},
    [JD_SIG_CASES_OPEN] = {"cases_open", NUM, 0,
        "distinct case_id whose latest case event is case_opened"},
    [JD_SIG_CASES_OPENED_7D] = {"cases_opened_7d", NUM, 0,
        "distinct case_id opened in [D-6, D]"},
    [JD_SIG_CASES_OPENED_28D] = {"cases_opened_28d", NUM, 0,
        "distinct case_id opened in [D-27, D]"},
    [JD_SIG_SEV1_OPEN] = {"sev1_open", NUM, 0,
        "open cases of severity sev1"},
    [JD_SIG_SPONSOR_CHANGED_AT] = {"sponsor_changed_at", NUM, 1,
        "latest sponsor_changed"},
    [JD_SIG_DAYS_SINCE_SPONSOR_CHANGE] = {"days_since_sponsor_change", NUM, 0,
        "(as_of - sponsor_changed_at) in days, fractional"},
    [JD_SIG_HEALTH_SCORE] = {"health_score", NUM, 0,
        "0-100, weighted composite of the segment's health profile"},
    [JD_SIG_LAST_EVENT_AT] = {"last_event_at", NUM, 1,
        "latest occurred_at of any event"},
    [JD_SIG_AS_OF] = {"as_of", NUM, 1,
        "the instant the signals describe: the latest occurred_at seen"},
};

#undef NUM
#undef STR

/* Storage slot of each string signal in sg_str (-1: not a string). */
static int jd_signals_slot(jd_signal_id_t id)
{
    switch (id) {
    case JD_SIG_SEGMENT:        return 0;
    case JD_SIG_PLAN:           return 1;
    case JD_SIG_STATUS:         return 2;
    case JD_SIG_STAGE:          return 3;
    case JD_SIG_PREVIOUS_STAGE: return 4;
    case JD_SIG_NPS_CATEGORY:   return 5;
    default:                    return -1;
    }
}

static int jd_signals_valid(jd_signal_id_t id)
{
    return (int)id >= 0 && id < JD_SIG__COUNT;
}

const char *jd_signals_name(jd_signal_id_t id)
{
    return jd_signals_valid(id) ? jd_signals_table[id].sd_name : NULL;
}

jd_val_type_t jd_signals_type(jd_signal_id_t id)
{
    return jd_signals_valid(id) ? jd_signals_table[id].sd_type : JD_VAL_NULL;
}

const char *jd_signals_doc(jd_signal_id_t id)
{
    return jd_signals_valid(id) ? jd_signals_table[id].sd_doc : NULL;
}

int jd_signals_is_timestamp(jd_signal_id_t id)
{
    return jd_signals_valid(id) ? jd_signals_table[id].sd_is_ts : 0;
}

int jd_signals_lookup(const char *name, size_t len)
{
    if (!name)
        return -1;
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        const char *n = jd_signals_table[i].sd_name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return i;
    }
    return -1;
}

void jd_signals_copy(jd_signals_t *dst, const jd_signals_t *src)
{
    if (dst == src)
        return;
    memcpy(dst, src, sizeof *dst);
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        int slot = jd_signals_slot((jd_signal_id_t)i);
        if (dst->sg_val[i].type == JD_VAL_STR && slot >= 0)
            dst->sg_val[i].str = dst->sg_str[slot];
    }
}

void jd_signals_clear(jd_signals_t *sg)
{
    for (int i = 0; i < JD_SIG__COUNT; i++)
        jd_signals_set_null(sg, (jd_signal_id_t)i);
    memset(&sg->sg_health, 0, sizeof sg->sg_health);
    sg->sg_stage_stored[0] = '\0';
    sg->sg_stage_seq = 0;
    sg->sg_stage_cause = NULL;
    sg->sg_stage_cause_at = JD_SIGNALS_NO_TS;
}

void jd_signals_set_num(jd_signals_t *sg, jd_signal_id_t id, double v)
{
    if (!jd_signals_valid(id))
        return;
    sg->sg_val[id].type = JD_VAL_NUM;
    sg->sg_val[id].num = v;
    sg->sg_val[id].str = NULL;
}

/* Copies s into the signal's backing store, cut to JD_SIG_STR_MAX-1 bytes
 * without splitting a UTF-8 sequence (the JSON output must stay valid).
 * A signal that is not a string has no store: s is then ignored. */
void jd_signals_set_str(jd_signals_t *sg, jd_signal_id_t id, const char *s)
{
    int slot = jd_signals_valid(id) ? jd_signals_slot(id) : -1;
    if (slot < 0)
        return;
    if (!s) {
        jd_signals_set_null(sg, id);
        return;
    }
    size_t n = strlen(s);
    if (n > JD_SIG_STR_MAX - 1) {
        n = JD_SIG_STR_MAX - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] continues a sequence: cut before its lead byte */
    }
    memcpy(sg->sg_str[slot], s, n);
    sg->sg_str[slot][n] = '\0';
    sg->sg_val[id].type = JD_VAL_STR;
    sg->sg_val[id].num = 0;
    sg->sg_val[id].str = sg->sg_str[slot];
}

void jd_signals_set_null(jd_signals_t *sg, jd_signal_id_t id)
{
    if (!jd_signals_valid(id))
        return;
    int slot = jd_signals_slot(id);
    sg->sg_val[id].type = JD_VAL_NULL;
    sg->sg_val[id].num = 0;
    sg->sg_val[id].str = NULL;
    if (slot >= 0)
        sg->sg_str[slot][0] = '\0';
}

const jd_value_t *jd_signals_get(const jd_signals_t *sg, jd_signal_id_t id)
{
    return jd_signals_valid(id) ? &sg->sg_val[id] : NULL;
}

/* ---- JSON ------------------------------------------------------------- */

/* Output cursor: counts every byte it would write, stores what fits. */
typedef struct jd_jout {
    char  *jo_buf;
    size_t jo_cap;
    size_t jo_len;
} jd_jout_t;

static void jd_jout_mem(jd_jout_t *jo, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, jo->jo_len++)
        if (jo->jo_len + 1 < jo->jo_cap)
            jo->jo_buf[jo->jo_len] = s[i];
}

static void jd_jout_str(jd_jout_t *jo, const char *s)
{
    jd_jout_mem(jo, s, strlen(s));
}

/* A JSON string literal: quote, backslash and control bytes escaped; other
 * bytes (UTF-8 included) copied as they are. */
static void jd_jout_quoted(jd_jout_t *jo, const char *s)
{
    jd_jout_mem(jo, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':  jd_jout_str(jo, "\\\""); break;
        case '\\': jd_jout_str(jo, "\\\\"); break;
        case '\n': jd_jout_str(jo, "\\n"); break;
        case '\r': jd_jout_str(jo, "\\r"); break;
        case '\t': jd_jout_str(jo, "\\t"); break;
        case '\b': jd_jout_str(jo, "\\b"); break;
        case '\f': jd_jout_str(jo, "\\f"); break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                jd_jout_str(jo, esc);
            } else {
                jd_jout_mem(jo, (const char *)p, 1);
            }
        }
    }
    jd_jout_mem(jo, "\"", 1);
}

/* Numbers round-trip exactly: integral values without decimals, others in
 * the shortest %.*g form (15 to 17 digits) that reads back as the same
 * double, so a consumer of `inspect --json` sees what the rules saw. */
static void jd_jout_num(jd_jout_t *jo, double v)
{
    char tmp[40];
    if (!isfinite(v)) {
        snprintf(tmp, sizeof tmp, "null");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
    }
    jd_jout_str(jo, tmp);
}

static void jd_jout_value(jd_jout_t *jo, const jd_value_t *v)
{
    switch (v->type) {
    case JD_VAL_NUM:  jd_jout_num(jo, v->num); break;
    case JD_VAL_STR:  jd_jout_quoted(jo, v->str ? v->str : ""); break;
    case JD_VAL_BOOL: jd_jout_str(jo, v->num != 0 ? "true" : "false"); break;
    default:          jd_jout_str(jo, "null"); break;
    }
}

/* `"<name>_iso":"2024-01-31T00:00:00.000Z"` (or null) after a timestamp. */
static void jd_jout_iso(jd_jout_t *jo, const char *name, const jd_value_t *v)
{
    char iso[64];
    jd_jout_str(jo, ",\"");
    jd_jout_str(jo, name);
    jd_jout_str(jo, "_iso\":");
    if (v->type == JD_VAL_NUM && isfinite(v->num) && fabs(v->num) < 9e15) {
        jd_window_format_iso((int64_t)v->num, iso, sizeof iso);
        jd_jout_quoted(jo, iso);
    } else {
        jd_jout_str(jo, "null");
    }
}

/* `,"<key>":<num or null>` */
static void jd_jout_field_num(jd_jout_t *jo, const char *key, int present,
                              double v)
{
    jd_jout_str(jo, ",\"");
    jd_jout_str(jo, key);
    jd_jout_str(jo, "\":");
    if (present)
        jd_jout_num(jo, v);
    else
        jd_jout_str(jo, "null");
}

/* `"<key>":ms,"<key>_iso":"..."` for a timestamp that may be unknown. */
static void jd_jout_ts(jd_jout_t *jo, const char *key, int64_t ts)
{
    jd_value_t v = {JD_VAL_NULL, 0, NULL};
    if (ts != JD_SIGNALS_NO_TS) {
        v.type = JD_VAL_NUM;
        v.num = (double)ts;
    }
    jd_jout_quoted(jo, key);
    jd_jout_str(jo, ":");
    jd_jout_value(jo, &v);
    jd_jout_iso(jo, key, &v);
}

static void jd_jout_signals(jd_jout_t *jo, const jd_signals_t *sg)
{
    jd_jout_str(jo, "\"signals\":{");
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        const char *name = jd_signals_table[i].sd_name;
        if (i)
            jd_jout_str(jo, ",");
        jd_jout_quoted(jo, name);
        jd_jout_str(jo, ":");
        jd_jout_value(jo, &sg->sg_val[i]);
        if (jd_signals_table[i].sd_is_ts)
            jd_jout_iso(jo, name, &sg->sg_val[i]);
    }
    jd_jout_str(jo, "}");
}

static int64_t jd_signals_ts_of(const jd_signals_t *sg, jd_signal_id_t id)
{
    const jd_value_t *v = &sg->sg_val[id];
    return v->type == JD_VAL_NUM && fabs(v->num) < 9e15 ? (int64_t)v->num
                                                         : JD_SIGNALS_NO_TS;
}

static void jd_jout_journey(jd_jout_t *jo, const jd_signals_t *sg)
{
    static const struct { const char *name; jd_signal_id_t id; } ms[] = {
        {"start", JD_SIG_START_AT}, {"kickoff", JD_SIG_KICKOFF_AT},
        {"go_live", JD_SIG_GO_LIVE_AT}, {"first_value", JD_SIG_FIRST_VALUE_AT},
        {"healthy_adoption", JD_SIG_HEALTHY_ADOPTION_AT},
        {"value_realized", JD_SIG_VALUE_REALIZED_AT}};
    jd_value_t cause = {JD_VAL_NULL, 0, sg->sg_stage_cause};

    cause.type = sg->sg_stage_cause ? JD_VAL_STR : JD_VAL_NULL;
    jd_jout_str(jo, ",\"journey\":{\"stage\":");
    jd_jout_value(jo, &sg->sg_val[JD_SIG_STAGE]);
    jd_jout_str(jo, ",\"cause\":");
    jd_jout_value(jo, &cause);
    jd_jout_str(jo, ",");
    jd_jout_ts(jo, "cause_at", sg->sg_stage_cause_at);
    jd_jout_str(jo, ",\"previous_stage\":");
    jd_jout_value(jo, &sg->sg_val[JD_SIG_PREVIOUS_STAGE]);
    jd_jout_str(jo, ",");
    jd_jout_ts(jo, "stage_changed_at",
               jd_signals_ts_of(sg, JD_SIG_STAGE_CHANGED_AT));
    jd_jout_str(jo, ",\"milestones\":{");
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int64_t at = jd_signals_ts_of(sg, ms[i].id);
        jd_jout_str(jo, i ? ",\"" : "\"");
        jd_jout_str(jo, ms[i].name);
        jd_jout_str(jo, "\":{");
        jd_jout_ts(jo, "at", at);
        jd_jout_str(jo, "}");
    }
    jd_jout_str(jo, "}}");
}

static void jd_jout_health(jd_jout_t *jo, const jd_signals_t *sg)
{
    const jd_health_result_t *hr = &sg->sg_health;

    jd_jout_str(jo, ",\"health\":{\"score\":");
    jd_jout_value(jo, &sg->sg_val[JD_SIG_HEALTH_SCORE]);
    jd_jout_str(jo, ",\"profile\":");
    if (hr->hr_profile[0])
        jd_jout_quoted(jo, hr->hr_profile);
    else
        jd_jout_str(jo, "null");
    jd_jout_str(jo, ",\"contributions\":{");
    for (int m = 0; m < JD_HM__COUNT; m++) {
        const jd_health_part_t *hp = &hr->hr_parts[m];
        jd_jout_str(jo, m ? ",\"" : "\"");
        jd_jout_str(jo, jd_health_measure_name((jd_health_measure_t)m));
        jd_jout_str(jo, "\":{\"weight\":");
        jd_jout_num(jo, hp->hp_weight);
        jd_jout_field_num(jo, "value", hp->hp_present, hp->hp_value);
        jd_jout_field_num(jo, "score", hp->hp_present, hp->hp_score);
        jd_jout_field_num(jo, "points", hp->hp_present, hp->hp_points);
        jd_jout_str(jo, "}");
    }
    jd_jout_str(jo, "}}");
}

size_t jd_signals_to_json(const jd_signals_t *sg, const char *account,
                          char *buf, size_t cap)
{
    jd_jout_t jo = {buf, cap, 0};

    jd_jout_str(&jo, "{\"account_id\":");
    if (account)
        jd_jout_quoted(&jo, account);
    else
        jd_jout_str(&jo, "null");
    jd_jout_str(&jo, ",");
    jd_jout_signals(&jo, sg);
    jd_jout_journey(&jo, sg);
    jd_jout_health(&jo, sg);
    jd_jout_str(&jo, "}");
    if (cap)
        buf[jo.jo_len < cap ? jo.jo_len : cap - 1] = '\0';
    return jo.jo_len;
}

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
