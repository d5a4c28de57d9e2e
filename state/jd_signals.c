/*
 * jd_signals: the signal table and the values of a jd_signals_t (contract
 * in jd_signals.h). The derivation from raw aggregates is in
 * jd_signals_derive.c, the JSON output in jd_signals_json.c.
 *
 * The table below is the single source of truth for signal names, types and
 * meanings: the rules compiler resolves names through jd_signals_lookup(),
 * `inspect --json` and the docs walk it in enum order. Adding a signal means
 * adding an enum value in jd_signals.h, a row here, and a line in
 * jd_signals_derive() (jd_signals_derive.c); nothing else needs to know the
 * list.
 *
 * String signals are stored in the jd_signals_t itself, one slot each
 * (jd_signals_slot), so a jd_signals_t is a plain value.
 *
 * Pure: no I/O, no allocation, no global mutable state; any thread.
 */
#include "jd_signals.h"

#include <stddef.h>
#include <string.h>

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
