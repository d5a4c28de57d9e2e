/*
 * jd_signals_json: one account's signals as JSON (jd_signals_to_json,
 * contract in jd_signals.h): the signals in table order, then the journey
 * (stage, previous stage, cause) and the health score with its
 * components: what `inspect --json` prints.
 *
 * The writer counts every byte it would write and stores what fits, so a
 * caller can size its buffer from a first call; strings are escaped so
 * the output stays valid JSON whatever the account's attributes hold.
 *
 * Pure: no I/O, no allocation; any thread. The buffer is the caller's.
 */
#include "jd_signals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        const char *name = jd_signals_name((jd_signal_id_t)i);
        if (i)
            jd_jout_str(jo, ",");
        jd_jout_quoted(jo, name);
        jd_jout_str(jo, ":");
        jd_jout_value(jo, &sg->sg_val[i]);
        if (jd_signals_is_timestamp((jd_signal_id_t)i))
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
