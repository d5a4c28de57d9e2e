/*
 * jd_mapping_fill: the field mapping's extraction (contract in
 * jd_mapping.h): slot values -> a checked jd_event_t, and the generic
 * path's slot values read off avro-c's values.
 *
 * Design: both decode paths end in jd_mapping_fill, so converting (text,
 * numbers, timestamps in the configured unit or format), the limits of
 * jd_limits_t (through jd__codec_check_str, as for product events) and
 * the order of the checks - hence which error a bad record gets - are the
 * same whichever path read the record. The generic path walks avro-c's
 * generic values by name (avro_value_get_by_name works on records and
 * maps alike), resolving unions to their current branch at every step;
 * because lookups are by name in the writer's own shape, a writer schema
 * that adds, removes or reorders fields needs no resolution step: an
 * absent path is simply "no value". The fast path (jd_prog_map.c) fills
 * the slots from the message bytes itself.
 *
 * Pure; the caller's thread.
 */
#include "jd_mapping.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_codec_int.h"
#include "jd_mapping_int.h"
#include "jd_window.h"

/* ---- filling the event from slot values ---------------------------------- */

/* A scalar as text: strings and enum symbols as they are, numbers and
 * booleans printed into buf. 0, or -1 when the value is not a scalar. */
static int jd_map_text(const jd_map_val_t *v, char *buf, size_t cap, const char **s, size_t *n)
{
    switch ((jd_map_kind_t)v->mv_kind) {
    case JD_MV_STRING:
    case JD_MV_ENUM:
        *s = v->mv_s ? v->mv_s : "";
        *n = v->mv_s ? v->mv_n : 0;
        return 0;
    case JD_MV_INT:
    case JD_MV_LONG: snprintf(buf, cap, "%" PRId64, v->mv_l); break;
    case JD_MV_DOUBLE: snprintf(buf, cap, "%.17g", v->mv_d); break;
    case JD_MV_FLOAT: snprintf(buf, cap, "%.9g", v->mv_d); break;
    case JD_MV_BOOL: snprintf(buf, cap, "%s", v->mv_l ? "true" : "false"); break;
    case JD_MV_NONE:
    case JD_MV_OTHER: return -1;
    }
    *s = buf;
    *n = strlen(buf);
    return 0;
}

/* A mapped scalar, checked and copied into the arena; *out NULL when the
 * path has no value. */
static int jd_map_string(const jd_map_path_t *pa, const jd_map_val_t *v, const char *field,
                         const jd_limits_t *lim, jd_arena_t *ar, const char **out,
                         jd_err_t *err)
{
    char buf[64];
    const char *s;
    size_t n;
    int rc;

    *out = NULL;
    if (v->mv_kind == JD_MV_NONE)
        return 0;
    if (jd_map_text(v, buf, sizeof buf, &s, &n))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE, "%s ('%s') is not a scalar",
                          field, pa->pa_text);
    if ((rc = jd__codec_check_str(lim, s, n, field, NULL, err)))
        return rc;
    if (!(*out = jd_arena_strndup(ar, s, n)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: cannot allocate %zu bytes", n);
    return 0;
}

static int jd_map_required(const jd_map_path_t *pa, const jd_map_val_t *v, const char *field,
                           const jd_limits_t *lim, jd_arena_t *ar, const char **out,
                           jd_err_t *err)
{
    int rc = jd_map_string(pa, v, field, lim, ar, out, err);
    if (!rc && (!*out || !**out))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "%s ('%s') is absent or empty", field, pa->pa_text);
    return rc;
}

static int jd_map_account(const jd_mapping_t *mp, const jd_map_src_t *src,
                          const jd_limits_t *lim, jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    int rc;
    for (size_t i = 0; i < mp->mp_naccount; i++) {
        if ((rc = jd_map_string(&mp->mp_account[i], &src->ms_slot[JD_MAP_SLOT_ACCOUNT + i],
                                "account_id", lim, ar, &ev->ev_account, err)))
            return rc;
        if (ev->ev_account && *ev->ev_account)
            return 0;
    }
    if (mp->mp_default_account && *mp->mp_default_account) {
        ev->ev_account = mp->mp_default_account;
        return 0;
    }
    return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                      "account_id ('%s') is absent or empty",
                      mp->mp_account_text ? mp->mp_account_text : "");
}

/* Timestamp text with the configured format (default ISO-8601). */
static int jd_map_time_text(const jd_mapping_t *mp, const char *s, int64_t *ms)
{
    struct tm tm;
    const char *end;
    if (!mp->mp_format || strcmp(mp->mp_format, "iso8601") == 0)
        return jd_window_parse_instant(s, ms);
    memset(&tm, 0, sizeof tm);
    end = strptime(s, mp->mp_format, &tm);
    if (!end || *end)
        return -1;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* A number as a double, as strtod would read its printed text: ints, longs
 * and doubles exactly (integers round to nearest either way, and %.17g
 * round-trips), floats through their %.9g text. 0, or -1 when the value
 * is not a number. */
static int jd_map_number(const jd_map_val_t *v, char *buf, size_t cap, double *d)
{
    const char *s;
    size_t n;
    switch ((jd_map_kind_t)v->mv_kind) {
    case JD_MV_INT:
    case JD_MV_LONG: *d = (double)v->mv_l; return 0;
    case JD_MV_DOUBLE: *d = v->mv_d; return 0;
    case JD_MV_FLOAT:
        jd_map_text(v, buf, cap, &s, &n);
        *d = strtod(buf, NULL);
        return 0;
    default: return -1;
    }
}

static int jd_map_time_num(const jd_mapping_t *mp, const jd_map_path_t *pa,
                           const jd_map_val_t *v, jd_event_t *ev, jd_err_t *err)
{
    char buf[64];
    const char *s;
    size_t n;
    double d;

    if (jd_map_number(v, buf, sizeof buf, &d))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "occurred_at ('%s') is neither a number nor text", pa->pa_text);
    d = d * (double)mp->mp_unit_num / (double)mp->mp_unit_den;
    if (!isfinite(d) || fabs(d) > 9e15) {
        jd_map_text(v, buf, sizeof buf, &s, &n);
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                          "occurred_at ('%s') %s is out of range", pa->pa_text, s);
    }
    ev->ev_occurred_at = (int64_t)floor(d);
    return 0;
}

static int jd_map_time(const jd_mapping_t *mp, const jd_map_val_t *v, const jd_limits_t *lim,
                       jd_event_t *ev, jd_err_t *err)
{
    const jd_map_path_t *pa = &mp->mp_fields[JD_MF_OCCURRED_AT];
    char buf[64];
    int rc;

    if (v->mv_kind == JD_MV_NONE)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD, "occurred_at ('%s') is absent",
                          pa->pa_text);
    if (v->mv_kind == JD_MV_STRING) {
        if (v->mv_n >= sizeof buf)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                              "occurred_at ('%s') is not a timestamp", pa->pa_text);
        memcpy(buf, v->mv_s, v->mv_n);
        buf[v->mv_n] = '\0';
        if (jd_map_time_text(mp, buf, &ev->ev_occurred_at))
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                              "occurred_at ('%s'): '%s' does not match %s", pa->pa_text, buf,
                              mp->mp_format ? mp->mp_format : "iso8601");
    } else if ((rc = jd_map_time_num(mp, pa, v, ev, err))) {
        return rc;
    }
    if (ev->ev_occurred_at < lim->lim_min_occurred_at ||
        ev->ev_occurred_at >= lim->lim_max_occurred_at)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                          "occurred_at %" PRId64 " is outside [%" PRId64 ", %" PRId64 ") ms",
                          ev->ev_occurred_at, lim->lim_min_occurred_at,
                          lim->lim_max_occurred_at);
    return 0;
}

static int jd_map_value(const jd_mapping_t *mp, const jd_map_val_t *v, jd_event_t *ev,
                        jd_err_t *err)
{
    const jd_map_path_t *pa = &mp->mp_fields[JD_MF_VALUE];
    char buf[64];
    const char *s;
    size_t n;
    char *end;

    if (v->mv_kind == JD_MV_NONE)
        return 0;
    if (jd_map_number(v, buf, sizeof buf, &ev->ev_value) == 0) {
        if (!isfinite(ev->ev_value)) {
            jd_map_text(v, buf, sizeof buf, &s, &n);
            return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                              "value ('%s') '%s' is not a number", pa->pa_text, s);
        }
        ev->ev_has_value = 1;
        return 0;
    }
    if (v->mv_kind != JD_MV_STRING || v->mv_n >= sizeof buf)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE, "value ('%s') is not a number",
                          pa->pa_text);
    memcpy(buf, v->mv_s, v->mv_n);
    buf[v->mv_n] = '\0';
    ev->ev_value = strtod(buf, &end);
    if (end == buf || *end || !isfinite(ev->ev_value))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "value ('%s') '%s' is not a number", pa->pa_text, buf);
    ev->ev_has_value = 1;
    return 0;
}

/* Appends one attribute; entries that are not scalars are skipped. */
static int jd_map_attr_put(const char *key, size_t klen, const jd_map_val_t *v,
                           const jd_limits_t *lim, jd_arena_t *ar, jd_event_t *ev,
                           jd_err_t *err)
{
    char buf[64];
    const char *s, *k;
    size_t n;
    int rc;

    if (jd_map_text(v, buf, sizeof buf, &s, &n))
        return 0;
    if (ev->ev_attr_cnt == lim->lim_max_attributes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_MANY_ATTRS,
                          "more than %zu attributes", lim->lim_max_attributes);
    if ((rc = jd__codec_check_str(lim, key, klen, "attributes key", NULL, err)))
        return rc;
    if (!(k = jd_arena_strndup(ar, key, klen)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: out of memory");
    if ((rc = jd__codec_check_str(lim, s, n, "attributes", k, err)))
        return rc;
    jd_attr_t *at = &ev->ev_attrs[ev->ev_attr_cnt];
    at->at_key = k;
    if (!(at->at_val = jd_arena_strndup(ar, s, n)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: out of memory");
    ev->ev_attr_cnt++;
    return 0;
}

static int jd_map_attrs(const jd_mapping_t *mp, const jd_map_src_t *src,
                        const jd_limits_t *lim, jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    const jd_map_val_t *extra = src->ms_slot + JD_MAP_SLOT_ACCOUNT + mp->mp_naccount;
    size_t n = src->ms_nentries;
    jd_map_kv_t kv;
    int rc;

    if (n + mp->mp_nattrs == 0)
        return 0;
    size_t cap = n + mp->mp_nattrs;
    if (cap > lim->lim_max_attributes + 1)
        cap = lim->lim_max_attributes + 1;
    if (!(ev->ev_attrs = jd_arena_alloc(ar, cap * sizeof *ev->ev_attrs)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (src->ms_entry(src->ms_ctx, i, &kv) == 0 &&
            (rc = jd_map_attr_put(kv.mk_key, kv.mk_klen, &kv.mk_val, lim, ar, ev, err)))
            return rc;
    }
    for (size_t i = 0; i < mp->mp_nattrs; i++) {
        const char *name = mp->mp_attrs[i].ma_name;
        if ((rc = jd_map_attr_put(name, strlen(name), &extra[i], lim, ar, ev, err)))
            return rc;
    }
    return 0;
}

/* Event name -> type (and feature) through mapping.events. */
static void jd_map_event_name(const jd_mapping_t *mp, jd_event_t *ev)
{
    for (size_t i = 0; i < mp->mp_nevents; i++) {
        if (strcmp(mp->mp_events[i].me_name, ev->ev_type_name) != 0)
            continue;
        ev->ev_type_name = mp->mp_events[i].me_type;
        if (mp->mp_events[i].me_feature)
            ev->ev_feature = mp->mp_events[i].me_feature;
        break;
    }
    ev->ev_type = jd_event_type_parse(ev->ev_type_name);
}

int jd_mapping_fill(const jd_mapping_t *mp, const jd_map_src_t *src, const jd_limits_t *lim,
                    jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    const jd_map_path_t *f = mp->mp_fields;
    const jd_map_val_t *v = src->ms_slot;
    int rc;

    memset(ev, 0, sizeof *ev);
    if ((rc = jd_map_required(&f[JD_MF_EVENT_ID], &v[JD_MF_EVENT_ID], "event_id", lim, ar,
                              &ev->ev_id, err)) ||
        (rc = jd_map_account(mp, src, lim, ar, ev, err)) ||
        (rc = jd_map_string(&f[JD_MF_USER_ID], &v[JD_MF_USER_ID], "user_id", lim, ar,
                            &ev->ev_user, err)) ||
        (rc = jd_map_required(&f[JD_MF_TYPE], &v[JD_MF_TYPE], "type", lim, ar,
                              &ev->ev_type_name, err)) ||
        (rc = jd_map_string(&f[JD_MF_FEATURE], &v[JD_MF_FEATURE], "feature", lim, ar,
                            &ev->ev_feature, err)) ||
        (rc = jd_map_time(mp, &v[JD_MF_OCCURRED_AT], lim, ev, err)) ||
        (rc = jd_map_value(mp, &v[JD_MF_VALUE], ev, err)) ||
        (rc = jd_map_attrs(mp, src, lim, ar, ev, err))) {
        memset(ev, 0, sizeof *ev);
        return rc;
    }
    jd_map_event_name(mp, ev);
    return 0;
}

/* ---- the generic path: slot values from avro-c's values ----------------- */

/* Resolves unions to their current branch; 0 when the result is null. */
static int jd_map_deunion(avro_value_t *v)
{
    while (avro_value_get_type(v) == AVRO_UNION) {
        avro_value_t b;
        if (avro_value_get_current_branch(v, &b))
            return 0;
        *v = b;
    }
    return avro_value_get_type(v) != AVRO_NULL;
}

/* Follows `pa` from `rec`: 1 with *out when it leads to a non-null value,
 * 0 when any step is absent or null. */
static int jd_map_lookup(avro_value_t *rec, const jd_map_path_t *pa, avro_value_t *out)
{
    avro_value_t cur = *rec;
    if (!pa->pa_n)
        return 0;
    for (size_t i = 0; i < pa->pa_n; i++) {
        avro_value_t next;
        avro_type_t t;
        if (!jd_map_deunion(&cur))
            return 0;
        t = avro_value_get_type(&cur);
        if ((t != AVRO_RECORD && t != AVRO_MAP) ||
            avro_value_get_by_name(&cur, pa->pa_steps[i], &next, NULL) != 0)
            return 0;
        cur = next;
    }
    if (!jd_map_deunion(&cur))
        return 0;
    *out = cur;
    return 1;
}

/* An avro-c value (unions resolved) as a slot value. */
static void jd_map_from_avro(avro_value_t *v, jd_map_val_t *out)
{
    int32_t i32 = 0;
    float f = 0;
    int b = 0, sym = 0;

    memset(out, 0, sizeof *out);
    out->mv_kind = JD_MV_OTHER;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        if (avro_value_get_string(v, &out->mv_s, &out->mv_n) == 0 && out->mv_s) {
            out->mv_n = out->mv_n ? out->mv_n - 1 : 0; /* avro-c counts the NUL */
            out->mv_kind = JD_MV_STRING;
        }
        return;
    case AVRO_INT32:
        if (avro_value_get_int(v, &i32) == 0)
            out->mv_kind = JD_MV_INT, out->mv_l = i32;
        return;
    case AVRO_INT64:
        if (avro_value_get_long(v, &out->mv_l) == 0)
            out->mv_kind = JD_MV_LONG;
        return;
    case AVRO_DOUBLE:
        if (avro_value_get_double(v, &out->mv_d) == 0)
            out->mv_kind = JD_MV_DOUBLE;
        return;
    case AVRO_FLOAT:
        if (avro_value_get_float(v, &f) == 0)
            out->mv_kind = JD_MV_FLOAT, out->mv_d = (double)f;
        return;
    case AVRO_BOOLEAN:
        if (avro_value_get_boolean(v, &b) == 0)
            out->mv_kind = JD_MV_BOOL, out->mv_l = b != 0;
        return;
    case AVRO_ENUM:
        if (avro_value_get_enum(v, &sym) == 0) {
            out->mv_kind = JD_MV_ENUM;
            out->mv_s = avro_schema_enum_get(avro_value_get_schema(v), sym);
            out->mv_n = out->mv_s ? strlen(out->mv_s) : 0;
        }
        return;
    default:
        return;
    }
}

/* Entry i of the attributes container (a map or record value). */
static int jd_map_avro_entry(void *ctx, size_t i, jd_map_kv_t *kv)
{
    avro_value_t v, *all = ctx;
    const char *key = NULL;
    if (avro_value_get_by_index(all, i, &v, &key) || !key)
        return 1;
    kv->mk_key = key;
    kv->mk_klen = strlen(key);
    if (jd_map_deunion(&v))
        jd_map_from_avro(&v, &kv->mk_val);
    else
        memset(&kv->mk_val, 0, sizeof kv->mk_val);
    return 0;
}

int jd_mapping_extract(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    jd_map_val_t slot[JD_MAP_SLOT_ACCOUNT + JD_MAP_MAX_ACCOUNT_PATHS + JD_MAP_MAX_ATTRS];
    jd_map_src_t src = {.ms_slot = slot, .ms_entry = jd_map_avro_entry};
    size_t n = jd_mapping_slot_count(mp);
    avro_value_t v, all;

    for (size_t i = 0; i < n; i++) {
        if (jd_map_lookup(rec, jd__mapping_slot(mp, i), &v))
            jd_map_from_avro(&v, &slot[i]);
        else
            memset(&slot[i], 0, sizeof slot[i]);
    }
    if (jd_map_lookup(rec, &mp->mp_fields[JD_MF_ATTRIBUTES], &all) &&
        (avro_value_get_type(&all) == AVRO_MAP || avro_value_get_type(&all) == AVRO_RECORD)) {
        avro_value_get_size(&all, &src.ms_nentries);
        src.ms_ctx = &all;
    }
    return jd_mapping_fill(mp, &src, lim, ar, ev, err);
}

