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

static const jd_signal_def_t jd_signals_table[JD_SIG__COUNT] = {
    [JD_SIG_ACTIVE_USERS_1D] = {"active_users_1d", JD_VAL_NUM, 0,
        "distinct users with a login or feature_used on the as-of UTC day"},
    [JD_SIG_ACTIVE_USERS_7D] = {"active_users_7d", JD_VAL_NUM, 0,
        "distinct active users over the 7 UTC days ending on the as-of day"},
    [JD_SIG_ACTIVE_USERS_28D] = {"active_users_28d", JD_VAL_NUM, 0,
        "distinct active users over the 28 UTC days ending on the as-of day"},
    [JD_SIG_SEATS] = {"seats", JD_VAL_NUM, 0,
        "licensed seats (account_updated attribute `seats`)"},
    [JD_SIG_UTILIZATION] = {"utilization", JD_VAL_NUM, 0,
        "active_users_28d / seats; null without seats"},
    [JD_SIG_SEGMENT] = {"segment", JD_VAL_STR, 0,
        "customer segment (account_updated attribute `segment`)"},
    [JD_SIG_PLAN] = {"plan", JD_VAL_STR, 0,
        "commercial plan (account_updated attribute `plan`)"},
    [JD_SIG_STATUS] = {"status", JD_VAL_STR, 0,
        "account status (account_updated attribute `status`)"},
    [JD_SIG_ARR] = {"arr", JD_VAL_NUM, 0,
        "annual recurring revenue (account_updated attribute `arr`)"},
    [JD_SIG_RENEWAL_AT] = {"renewal_at", JD_VAL_NUM, 1,
        "renewal date, UTC midnight (account_updated attribute `renewal_at`)"},
    [JD_SIG_DAYS_TO_RENEWAL] = {"days_to_renewal", JD_VAL_NUM, 0,
        "(renewal_at - as_of) in days, fractional, negative when past"},
    [JD_SIG_START_AT] = {"start_at", JD_VAL_NUM, 1,
        "earliest account_created or contract_signed"},
    [JD_SIG_DAYS_SINCE_START] = {"days_since_start", JD_VAL_NUM, 0,
        "(as_of - start_at) in days, fractional"},
    [JD_SIG_FIRST_VALUE_AT] = {"first_value_at", JD_VAL_NUM, 1,
        "earliest first_value event or use of a value feature"},
    [JD_SIG_TTFV_DAYS] = {"ttfv_days", JD_VAL_NUM, 0,
        "time to first value: (first_value_at - start_at) in days"},
    [JD_SIG_LAST_EVENT_AT] = {"last_event_at", JD_VAL_NUM, 1,
        "latest occurred_at of any event"},
    [JD_SIG_AS_OF] = {"as_of", JD_VAL_NUM, 1,
        "the instant the signals describe: the latest occurred_at seen"},
};

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
    for (int i = 0; i < JD_SIG__COUNT; i++)
        if (dst->sg_val[i].type == JD_VAL_STR)
            dst->sg_val[i].str = dst->sg_str[i];
}

void jd_signals_clear(jd_signals_t *sg)
{
    for (int i = 0; i < JD_SIG__COUNT; i++)
        jd_signals_set_null(sg, (jd_signal_id_t)i);
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
 * without splitting a UTF-8 sequence (the JSON output must stay valid). */
void jd_signals_set_str(jd_signals_t *sg, jd_signal_id_t id, const char *s)
{
    if (!jd_signals_valid(id))
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
    memcpy(sg->sg_str[id], s, n);
    sg->sg_str[id][n] = '\0';
    sg->sg_val[id].type = JD_VAL_STR;
    sg->sg_val[id].num = 0;
    sg->sg_val[id].str = sg->sg_str[id];
}

void jd_signals_set_null(jd_signals_t *sg, jd_signal_id_t id)
{
    if (!jd_signals_valid(id))
        return;
    sg->sg_val[id].type = JD_VAL_NULL;
    sg->sg_val[id].num = 0;
    sg->sg_val[id].str = NULL;
    sg->sg_str[id][0] = '\0';
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

size_t jd_signals_to_json(const jd_signals_t *sg, const char *account,
                          char *buf, size_t cap)
{
    jd_jout_t jo = {buf, cap, 0};

    jd_jout_str(&jo, "{\"account_id\":");
    if (account)
        jd_jout_quoted(&jo, account);
    else
        jd_jout_str(&jo, "null");
    jd_jout_str(&jo, ",\"signals\":{");
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        const char *name = jd_signals_table[i].sd_name;
        if (i)
            jd_jout_str(&jo, ",");
        jd_jout_quoted(&jo, name);
        jd_jout_str(&jo, ":");
        jd_jout_value(&jo, &sg->sg_val[i]);
        if (jd_signals_table[i].sd_is_ts)
            jd_jout_iso(&jo, name, &sg->sg_val[i]);
    }
    jd_jout_str(&jo, "}}");
    if (cap)
        buf[jo.jo_len < cap ? jo.jo_len : cap - 1] = '\0';
    return jo.jo_len;
}

/* ---- Derivation ------------------------------------------------------- */

void jd_signals_raw_init(jd_signals_raw_t *raw)
{
    memset(raw, 0, sizeof *raw);
    raw->sr_as_of = JD_SIGNALS_NO_TS;
    raw->sr_start_at = JD_SIGNALS_NO_TS;
    raw->sr_first_value_at = JD_SIGNALS_NO_TS;
    raw->sr_last_event_at = JD_SIGNALS_NO_TS;
    raw->sr_renewal_at = JD_SIGNALS_NO_TS;
}

/* A finite decimal number >= 0, the whole string, no blanks; 0 or -1. */
static int jd_signals_parse_amount(const char *s, double *out)
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
static int jd_signals_parse_i64(const char *s, int64_t *out)
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

/* days between two known timestamps, else null. */
static void jd_signals_set_days(jd_signals_t *sg, jd_signal_id_t id,
                                int64_t from, int64_t to)
{
    if (from == JD_SIGNALS_NO_TS || to == JD_SIGNALS_NO_TS)
        jd_signals_set_null(sg, id);
    else
        jd_signals_set_num(sg, id, jd_window_days_between(from, to));
}

void jd_signals_derive(jd_signals_t *sg, const jd_signals_raw_t *raw)
{
    jd_signals_clear(sg);
    if (raw->sr_as_of == JD_SIGNALS_NO_TS)
        return;
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_1D, (double)raw->sr_users_1d);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_7D, (double)raw->sr_users_7d);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_28D, (double)raw->sr_users_28d);
    if (raw->sr_has_seats) {
        jd_signals_set_num(sg, JD_SIG_SEATS, raw->sr_seats);
        if (raw->sr_seats > 0)
            jd_signals_set_num(sg, JD_SIG_UTILIZATION,
                               (double)raw->sr_users_28d / raw->sr_seats);
    }
    jd_signals_set_str(sg, JD_SIG_SEGMENT, raw->sr_segment);
    jd_signals_set_str(sg, JD_SIG_PLAN, raw->sr_plan);
    jd_signals_set_str(sg, JD_SIG_STATUS, raw->sr_status);
    if (raw->sr_has_arr)
        jd_signals_set_num(sg, JD_SIG_ARR, raw->sr_arr);
    jd_signals_set_ts(sg, JD_SIG_RENEWAL_AT, raw->sr_renewal_at);
    jd_signals_set_days(sg, JD_SIG_DAYS_TO_RENEWAL, raw->sr_as_of,
                        raw->sr_renewal_at);
    jd_signals_set_ts(sg, JD_SIG_START_AT, raw->sr_start_at);
    jd_signals_set_days(sg, JD_SIG_DAYS_SINCE_START, raw->sr_start_at,
                        raw->sr_as_of);
    jd_signals_set_ts(sg, JD_SIG_FIRST_VALUE_AT, raw->sr_first_value_at);
    jd_signals_set_days(sg, JD_SIG_TTFV_DAYS, raw->sr_start_at,
                        raw->sr_first_value_at);
    jd_signals_set_ts(sg, JD_SIG_LAST_EVENT_AT, raw->sr_last_event_at);
    jd_signals_set_ts(sg, JD_SIG_AS_OF, raw->sr_as_of);
}
