/*
 * jd_mapping: upstream record -> jd_event_t (contract in jd_mapping.h).
 *
 * Design: paths are split into steps once, at configuration; extraction
 * walks avro-c generic values by name (avro_value_get_by_name works on
 * records and maps alike), resolving unions to their current branch at
 * every step. Because lookups are by name in the writer's own shape, a
 * writer schema that adds, removes or reorders fields needs no resolution
 * step: an absent path is simply "no value" (and an error only for the
 * required fields). Every string that leaves here went through the same
 * length/UTF-8 checks as the product-event decoder (jd__codec_check_str).
 *
 * Pure; the caller's thread.
 */
#include "jd_mapping.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_codec_int.h"
#include "jd_window.h"


typedef struct jd_map_path {
    char  *pa_text;                     /* as configured, for messages */
    char  *pa_buf;                      /* steps point into it */
    char  *pa_steps[JD_MAP_MAX_STEPS];
    size_t pa_n;                        /* 0: not mapped */
} jd_map_path_t;

typedef enum jd_map_field {
    JD_MF_EVENT_ID, JD_MF_USER_ID, JD_MF_TYPE, JD_MF_FEATURE,
    JD_MF_OCCURRED_AT, JD_MF_VALUE, JD_MF_ATTRIBUTES, JD_MF__COUNT
} jd_map_field_t;

static const char *const jd_map_field_names[JD_MF__COUNT] = {
    "event_id", "user_id", "type", "feature", "occurred_at", "value", "attributes"};

typedef struct jd_map_event {
    char *me_name, *me_type, *me_feature;
} jd_map_event_t;

typedef struct jd_map_attr {
    char         *ma_name;
    jd_map_path_t ma_path;
} jd_map_attr_t;

struct jd_mapping {
    int             mp_active;
    jd_map_path_t   mp_fields[JD_MF__COUNT];
    jd_map_path_t   mp_account[JD_MAP_MAX_ACCOUNT_PATHS];
    size_t          mp_naccount;
    char           *mp_account_text;
    char           *mp_default_account;
    int64_t         mp_unit_num, mp_unit_den;   /* ms = v * num / den */
    char           *mp_unit_text;
    char           *mp_format;                   /* NULL: iso8601 */
    jd_map_event_t *mp_events;
    size_t          mp_nevents;
    jd_map_attr_t  *mp_attrs;
    size_t          mp_nattrs;
};

jd_mapping_t *jd_mapping_new(void)
{
    jd_mapping_t *mp = calloc(1, sizeof *mp);
    if (mp) {
        mp->mp_unit_num = 1;
        mp->mp_unit_den = 1;
    }
    return mp;
}

static void jd_map_path_free(jd_map_path_t *pa)
{
    free(pa->pa_text);
    free(pa->pa_buf);
    memset(pa, 0, sizeof *pa);
}

void jd_mapping_destroy(jd_mapping_t *mp)
{
    if (!mp)
        return;
    for (int f = 0; f < JD_MF__COUNT; f++)
        jd_map_path_free(&mp->mp_fields[f]);
    for (size_t i = 0; i < mp->mp_naccount; i++)
        jd_map_path_free(&mp->mp_account[i]);
    for (size_t i = 0; i < mp->mp_nevents; i++) {
        free(mp->mp_events[i].me_name);
        free(mp->mp_events[i].me_type);
        free(mp->mp_events[i].me_feature);
    }
    for (size_t i = 0; i < mp->mp_nattrs; i++) {
        free(mp->mp_attrs[i].ma_name);
        jd_map_path_free(&mp->mp_attrs[i].ma_path);
    }
    free(mp->mp_events);
    free(mp->mp_attrs);
    free(mp->mp_account_text);
    free(mp->mp_default_account);
    free(mp->mp_unit_text);
    free(mp->mp_format);
    free(mp);
}

/* ---- configuration ------------------------------------------------------- */

static int jd_map_nomem(jd_err_t *err)
{
    return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
}

/* Parses "a.b.c" (surrounding blanks ignored) into `pa`. */
static int jd_map_path_parse(jd_map_path_t *pa, const char *key, const char *text,
                             jd_err_t *err)
{
    jd_map_path_t np = {0};
    while (*text == ' ')
        text++;
    size_t len = strlen(text);
    while (len && text[len - 1] == ' ')
        len--;
    if (!(np.pa_text = strndup(text, len)) || !(np.pa_buf = strndup(text, len))) {
        jd_map_path_free(&np);
        return jd_map_nomem(err);
    }
    for (char *p = np.pa_buf; len;) {
        size_t n = strcspn(p, ".");
        if (n == 0 || np.pa_n == JD_MAP_MAX_STEPS) {
            jd_map_path_free(&np);
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "mapping.%s: '%.*s' is not a path (steps a.b.c, at most %d, "
                              "none empty)", key, (int)strlen(text), text, JD_MAP_MAX_STEPS);
        }
        np.pa_steps[np.pa_n++] = p;
        if (!p[n])
            break;
        p[n] = '\0';
        p += n + 1;
        if (!*p) {
            jd_map_path_free(&np);
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "mapping.%s: path '%s' ends with '.'", key, text);
        }
    }
    jd_map_path_free(pa);
    *pa = np;
    return 0;
}

static int jd_map_set_account(jd_mapping_t *mp, const char *key, const char *val,
                              jd_err_t *err)
{
    for (size_t i = 0; i < mp->mp_naccount; i++)
        jd_map_path_free(&mp->mp_account[i]);
    mp->mp_naccount = 0;
    for (const char *p = val; *p;) {
        size_t n = strcspn(p, ",");
        char *one = strndup(p, n);
        int rc;
        if (!one)
            return jd_map_nomem(err);
        if (mp->mp_naccount == JD_MAP_MAX_ACCOUNT_PATHS)
            rc = jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                            "mapping.%s: at most %d paths", key, JD_MAP_MAX_ACCOUNT_PATHS);
        else
            rc = jd_map_path_parse(&mp->mp_account[mp->mp_naccount], key, one, err);
        free(one);
        if (rc)
            return rc;
        mp->mp_naccount++;
        p += n + (p[n] == ',');
    }
    free(mp->mp_account_text);
    return (mp->mp_account_text = strdup(val)) ? 0 : jd_map_nomem(err);
}

static int jd_map_set_str(char **slot, const char *val, jd_err_t *err)
{
    char *c = strdup(val);
    if (!c)
        return jd_map_nomem(err);
    free(*slot);
    *slot = c;
    return 0;
}

static int jd_map_set_unit(jd_mapping_t *mp, const char *val, jd_err_t *err)
{
    static const struct { const char *name; int64_t num, den; } units[] = {
        {"s", 1000, 1}, {"ms", 1, 1}, {"us", 1, 1000}, {"ns", 1, 1000000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(val, units[i].name) == 0) {
            mp->mp_unit_num = units[i].num;
            mp->mp_unit_den = units[i].den;
            return jd_map_set_str(&mp->mp_unit_text, val, err);
        }
    return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                      "mapping.timestamp.unit: '%s' is not one of s|ms|us|ns", val);
}

/* "events.<name>.type|feature": the name may itself contain dots. */
static int jd_map_set_event(jd_mapping_t *mp, const char *key, const char *val,
                            jd_err_t *err)
{
    const char *rest = key + 7, *dot = strrchr(rest, '.');
    int is_type = dot && strcmp(dot, ".type") == 0;
    if (!dot || dot == rest || (!is_type && strcmp(dot, ".feature") != 0))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "mapping.%s: expected mapping.events.<event name>.type or .feature",
                          key);
    if (is_type && jd_event_type_parse(val) == JD_EV_UNKNOWN)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "mapping.%s: '%s' is not a journeyd event type "
                          "(feature_used, login, account_updated, ...)", key, val);
    size_t nlen = (size_t)(dot - rest), i = 0;
    while (i < mp->mp_nevents && !(strlen(mp->mp_events[i].me_name) == nlen &&
                                   strncmp(mp->mp_events[i].me_name, rest, nlen) == 0))
        i++;
    if (i == mp->mp_nevents) {
        jd_map_event_t *ne = realloc(mp->mp_events, (i + 1) * sizeof *ne);
        if (!ne)
            return jd_map_nomem(err);
        mp->mp_events = ne;
        memset(&ne[i], 0, sizeof ne[i]);
        if (!(ne[i].me_name = strndup(rest, nlen)))
            return jd_map_nomem(err);
        mp->mp_nevents++;
    }
    return jd_map_set_str(is_type ? &mp->mp_events[i].me_type : &mp->mp_events[i].me_feature,
                          val, err);
}

static int jd_map_set_attr(jd_mapping_t *mp, const char *key, const char *val,
                           jd_err_t *err)
{
    const char *name = key + 11;
    size_t i = 0;
    if (!*name)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "mapping.%s: expected mapping.attributes.<name>", key);
    while (i < mp->mp_nattrs && strcmp(mp->mp_attrs[i].ma_name, name) != 0)
        i++;
    if (i == mp->mp_nattrs && i == JD_MAP_MAX_ATTRS)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "mapping.%s: at most %d mapping.attributes entries", key,
                          JD_MAP_MAX_ATTRS);
    if (i == mp->mp_nattrs) {
        jd_map_attr_t *na = realloc(mp->mp_attrs, (i + 1) * sizeof *na);
        if (!na)
            return jd_map_nomem(err);
        mp->mp_attrs = na;
        memset(&na[i], 0, sizeof na[i]);
        if (!(na[i].ma_name = strdup(name)))
            return jd_map_nomem(err);
        mp->mp_nattrs++;
    }
    return jd_map_path_parse(&mp->mp_attrs[i].ma_path, key, val, err);
}

int jd_mapping_set(jd_mapping_t *mp, const char *key, const char *val, jd_err_t *err)
{
    mp->mp_active = 1;
    if (strncmp(key, "fields.", 7) == 0) {
        if (strcmp(key + 7, "account_id") == 0)
            return jd_map_set_account(mp, key, val, err);
        for (int f = 0; f < JD_MF__COUNT; f++)
            if (strcmp(key + 7, jd_map_field_names[f]) == 0)
                return jd_map_path_parse(&mp->mp_fields[f], key, val, err);
    } else if (strcmp(key, "default_account") == 0)
        return jd_map_set_str(&mp->mp_default_account, val, err);
    else if (strcmp(key, "timestamp.unit") == 0)
        return jd_map_set_unit(mp, val, err);
    else if (strcmp(key, "timestamp.format") == 0)
        return jd_map_set_str(&mp->mp_format, val, err);
    else if (strncmp(key, "events.", 7) == 0)
        return jd_map_set_event(mp, key, val, err);
    else if (strncmp(key, "attributes.", 11) == 0)
        return jd_map_set_attr(mp, key, val, err);
    return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                      "mapping.%s: unknown key (fields.<event_id|account_id|user_id|type|"
                      "feature|occurred_at|value|attributes>, default_account, timestamp.unit, "
                      "timestamp.format, events.<name>.type|feature, attributes.<name>)", key);
}

int jd_mapping_active(const jd_mapping_t *mp)
{
    return mp && mp->mp_active;
}

int jd_mapping_check(const jd_mapping_t *mp, jd_err_t *err)
{
    static const jd_map_field_t required[] = {JD_MF_EVENT_ID, JD_MF_TYPE, JD_MF_OCCURRED_AT};
    if (!jd_mapping_active(mp))
        return 0;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!mp->mp_fields[required[i]].pa_n)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "mapping.fields.%s: required when a mapping is configured",
                              jd_map_field_names[required[i]]);
    if (!mp->mp_naccount && !(mp->mp_default_account && *mp->mp_default_account))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "mapping.fields.account_id: required (or mapping.default_account)");
    for (size_t i = 0; i < mp->mp_nevents; i++)
        if (!mp->mp_events[i].me_type)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "mapping.events.%s.type: required", mp->mp_events[i].me_name);
    return 0;
}

/* ---- schema check -------------------------------------------------------- */

/* 1 when steps[i..n) can be followed from schema `s`. */
static int jd_map_schema_has(avro_schema_t s, char *const *steps, size_t i, size_t n)
{
    if (avro_typeof(s) == AVRO_UNION) {
        for (size_t b = 0; b < avro_schema_union_size(s); b++)
            if (jd_map_schema_has(avro_schema_union_branch(s, (int)b), steps, i, n))
                return 1;
        return 0;
    }
    if (i == n)
        return avro_typeof(s) != AVRO_NULL;
    if (avro_typeof(s) == AVRO_RECORD) {
        /* by index: avro_schema_record_field_get reads garbage for a
         * name the record does not have */
        int fi = avro_schema_record_field_get_index(s, steps[i]);
        return fi >= 0 &&
               jd_map_schema_has(avro_schema_record_field_get_by_index(s, fi), steps, i + 1, n);
    }
    if (avro_typeof(s) == AVRO_MAP)
        return jd_map_schema_has(avro_schema_map_values(s), steps, i + 1, n);
    return 0;
}

int jd_mapping_check_schema(const jd_mapping_t *mp, avro_schema_t schema, const char *what,
                            jd_err_t *err)
{
    static const jd_map_field_t required[] = {JD_MF_EVENT_ID, JD_MF_TYPE, JD_MF_OCCURRED_AT};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        const jd_map_path_t *pa = &mp->mp_fields[required[i]];
        if (!jd_map_schema_has(schema, pa->pa_steps, 0, pa->pa_n))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "%s has no '%s' (mapping.fields.%s)", what, pa->pa_text,
                              jd_map_field_names[required[i]]);
    }
    int account = mp->mp_default_account && *mp->mp_default_account;
    for (size_t i = 0; i < mp->mp_naccount && !account; i++)
        account = jd_map_schema_has(schema, mp->mp_account[i].pa_steps, 0,
                                    mp->mp_account[i].pa_n);
    if (!account)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "%s has none of the paths of mapping.fields.account_id (%s)", what,
                          mp->mp_account_text ? mp->mp_account_text : "");
    return 0;
}

/* ---- slots: the paths extraction reads ----------------------------------- */

size_t jd_mapping_slot_count(const jd_mapping_t *mp)
{
    return JD_MAP_SLOT_ACCOUNT + mp->mp_naccount + mp->mp_nattrs;
}

static const jd_map_path_t *jd_map_slot(const jd_mapping_t *mp, size_t slot)
{
    if (slot < JD_MAP_SLOT_ACCOUNT)
        return &mp->mp_fields[slot];
    slot -= JD_MAP_SLOT_ACCOUNT;
    if (slot < mp->mp_naccount)
        return &mp->mp_account[slot];
    slot -= mp->mp_naccount;
    return slot < mp->mp_nattrs ? &mp->mp_attrs[slot].ma_path : NULL;
}

size_t jd_mapping_slot_path(const jd_mapping_t *mp, size_t slot, char *const **steps)
{
    const jd_map_path_t *pa = jd_map_slot(mp, slot);
    *steps = pa ? pa->pa_steps : NULL;
    return pa ? pa->pa_n : 0;
}

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
        if (jd_map_lookup(rec, jd_map_slot(mp, i), &v))
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

/* ---- printing ------------------------------------------------------------ */

void jd_mapping_print(const jd_mapping_t *mp, FILE *out)
{
    if (!jd_mapping_active(mp))
        return;
    for (int f = 0; f < JD_MF__COUNT; f++)
        if (mp->mp_fields[f].pa_n)
            fprintf(out, "mapping.fields.%s: \"%s\"\n", jd_map_field_names[f],
                    mp->mp_fields[f].pa_text);
    if (mp->mp_account_text)
        fprintf(out, "mapping.fields.account_id: \"%s\"\n", mp->mp_account_text);
    if (mp->mp_default_account)
        fprintf(out, "mapping.default_account: \"%s\"\n", mp->mp_default_account);
    fprintf(out, "mapping.timestamp.unit: \"%s\"\n", mp->mp_unit_text ? mp->mp_unit_text : "ms");
    fprintf(out, "mapping.timestamp.format: \"%s\"\n", mp->mp_format ? mp->mp_format : "iso8601");
    for (size_t i = 0; i < mp->mp_nevents; i++) {
        const jd_map_event_t *me = &mp->mp_events[i];
        fprintf(out, "mapping.events.%s.type: \"%s\"\n", me->me_name,
                me->me_type ? me->me_type : "");
        if (me->me_feature)
            fprintf(out, "mapping.events.%s.feature: \"%s\"\n", me->me_name, me->me_feature);
    }
    for (size_t i = 0; i < mp->mp_nattrs; i++)
        fprintf(out, "mapping.attributes.%s: \"%s\"\n", mp->mp_attrs[i].ma_name,
                mp->mp_attrs[i].ma_path.pa_text);
}
