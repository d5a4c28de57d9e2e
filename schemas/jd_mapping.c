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

#define JD_MAP_MAX_STEPS 16
#define JD_MAP_MAX_ACCOUNT_PATHS 4

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

/* ---- extraction ---------------------------------------------------------- */

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

/* A scalar as text in buf (or pointing into avro-c's value for strings).
 * 0, or -1 when the value is not a scalar. */
static int jd_map_text(avro_value_t *v, char *buf, size_t cap, const char **s, size_t *n)
{
    int32_t i32 = 0;
    int64_t i64 = 0;
    double d = 0;
    float f = 0;
    int b = 0, sym = 0, rc;
    const char *name;

    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        if (avro_value_get_string(v, s, n) || !*s)
            return -1;
        *n = *n ? *n - 1 : 0; /* avro-c counts the terminating NUL */
        return 0;
    case AVRO_INT32:
        rc = avro_value_get_int(v, &i32);
        snprintf(buf, cap, "%" PRId32, i32);
        break;
    case AVRO_INT64:
        rc = avro_value_get_long(v, &i64);
        snprintf(buf, cap, "%" PRId64, i64);
        break;
    case AVRO_DOUBLE:
        rc = avro_value_get_double(v, &d);
        snprintf(buf, cap, "%.17g", d);
        break;
    case AVRO_FLOAT:
        rc = avro_value_get_float(v, &f);
        snprintf(buf, cap, "%.9g", (double)f);
        break;
    case AVRO_BOOLEAN:
        rc = avro_value_get_boolean(v, &b);
        snprintf(buf, cap, "%s", b ? "true" : "false");
        break;
    case AVRO_ENUM:
        rc = avro_value_get_enum(v, &sym);
        name = rc ? NULL : avro_schema_enum_get(avro_value_get_schema(v), sym);
        snprintf(buf, cap, "%s", name ? name : "");
        break;
    default:
        return -1;
    }
    if (rc)
        return -1;
    *s = buf;
    *n = strlen(buf);
    return 0;
}

/* A mapped scalar, checked and copied into the arena; *out NULL when the
 * path has no value. */
static int jd_map_string(const jd_map_path_t *pa, avro_value_t *rec, const char *field,
                         const char *key, const jd_limits_t *lim, jd_arena_t *ar,
                         const char **out, jd_err_t *err)
{
    avro_value_t v;
    char buf[64];
    const char *s;
    size_t n;
    int rc;

    *out = NULL;
    if (!jd_map_lookup(rec, pa, &v))
        return 0;
    if (jd_map_text(&v, buf, sizeof buf, &s, &n))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE, "%s ('%s') is not a scalar",
                          field, pa->pa_text);
    if ((rc = jd__codec_check_str(lim, s, n, field, key, err)))
        return rc;
    if (!(*out = jd_arena_strndup(ar, s, n)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: cannot allocate %zu bytes", n);
    return 0;
}

static int jd_map_required(const jd_map_path_t *pa, avro_value_t *rec, const char *field,
                           const jd_limits_t *lim, jd_arena_t *ar, const char **out,
                           jd_err_t *err)
{
    int rc = jd_map_string(pa, rec, field, NULL, lim, ar, out, err);
    if (!rc && (!*out || !**out))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "%s ('%s') is absent or empty", field, pa->pa_text);
    return rc;
}

static int jd_map_account(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                          jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    int rc;
    for (size_t i = 0; i < mp->mp_naccount; i++) {
        if ((rc = jd_map_string(&mp->mp_account[i], rec, "account_id", NULL, lim, ar,
                                &ev->ev_account, err)))
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

static int jd_map_time(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                       jd_event_t *ev, jd_err_t *err)
{
    const jd_map_path_t *pa = &mp->mp_fields[JD_MF_OCCURRED_AT];
    avro_value_t v;
    char buf[64];
    const char *s;
    size_t n;
    double d;

    if (!jd_map_lookup(rec, pa, &v))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD, "occurred_at ('%s') is absent",
                          pa->pa_text);
    if (avro_value_get_type(&v) == AVRO_STRING) {
        if (jd_map_text(&v, buf, sizeof buf, &s, &n) || n >= sizeof buf)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                              "occurred_at ('%s') is not a timestamp", pa->pa_text);
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (jd_map_time_text(mp, buf, &ev->ev_occurred_at))
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                              "occurred_at ('%s'): '%s' does not match %s", pa->pa_text, buf,
                              mp->mp_format ? mp->mp_format : "iso8601");
    } else if (jd_map_text(&v, buf, sizeof buf, &s, &n) == 0 &&
               avro_value_get_type(&v) != AVRO_BOOLEAN && avro_value_get_type(&v) != AVRO_ENUM) {
        d = strtod(s, NULL) * (double)mp->mp_unit_num / (double)mp->mp_unit_den;
        if (!isfinite(d) || fabs(d) > 9e15)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                              "occurred_at ('%s') %s is out of range", pa->pa_text, s);
        ev->ev_occurred_at = (int64_t)floor(d);
    } else
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "occurred_at ('%s') is neither a number nor text", pa->pa_text);
    if (ev->ev_occurred_at < lim->lim_min_occurred_at ||
        ev->ev_occurred_at >= lim->lim_max_occurred_at)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                          "occurred_at %" PRId64 " is outside [%" PRId64 ", %" PRId64 ") ms",
                          ev->ev_occurred_at, lim->lim_min_occurred_at,
                          lim->lim_max_occurred_at);
    return 0;
}

static int jd_map_value(const jd_mapping_t *mp, avro_value_t *rec, jd_event_t *ev,
                        jd_err_t *err)
{
    const jd_map_path_t *pa = &mp->mp_fields[JD_MF_VALUE];
    avro_value_t v;
    char buf[64];
    const char *s;
    size_t n;
    char *end;

    if (!jd_map_lookup(rec, pa, &v))
        return 0;
    if (jd_map_text(&v, buf, sizeof buf, &s, &n) || avro_value_get_type(&v) == AVRO_BOOLEAN ||
        avro_value_get_type(&v) == AVRO_ENUM || n >= sizeof buf)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE, "value ('%s') is not a number",
                          pa->pa_text);
    memcpy(buf, s, n);
    buf[n] = '\0';
    ev->ev_value = strtod(buf, &end);
    if (end == buf || *end || !isfinite(ev->ev_value))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "value ('%s') '%s' is not a number", pa->pa_text, buf);
    ev->ev_has_value = 1;
    return 0;
}

/* Appends one attribute; entries that are not scalars are skipped. */
static int jd_map_attr_put(avro_value_t *v, const char *key, const jd_limits_t *lim,
                           jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    char buf[64];
    const char *s;
    size_t n;
    int rc;

    if (!jd_map_deunion(v) || jd_map_text(v, buf, sizeof buf, &s, &n))
        return 0;
    if (ev->ev_attr_cnt == lim->lim_max_attributes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_MANY_ATTRS,
                          "more than %zu attributes", lim->lim_max_attributes);
    if ((rc = jd__codec_check_str(lim, key, strlen(key), "attributes key", NULL, err)) ||
        (rc = jd__codec_check_str(lim, s, n, "attributes", key, err)))
        return rc;
    jd_attr_t *at = &ev->ev_attrs[ev->ev_attr_cnt];
    if (!(at->at_key = jd_arena_strndup(ar, key, strlen(key))) ||
        !(at->at_val = jd_arena_strndup(ar, s, n)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: out of memory");
    ev->ev_attr_cnt++;
    return 0;
}

static int jd_map_attrs(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                        jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    avro_value_t all, v;
    size_t n = 0;
    int rc, has_all = jd_map_lookup(rec, &mp->mp_fields[JD_MF_ATTRIBUTES], &all);
    avro_type_t t = has_all ? avro_value_get_type(&all) : AVRO_NULL;

    if (t == AVRO_MAP || t == AVRO_RECORD)
        avro_value_get_size(&all, &n);
    if (n + mp->mp_nattrs == 0)
        return 0;
    size_t cap = n + mp->mp_nattrs;
    if (cap > lim->lim_max_attributes + 1)
        cap = lim->lim_max_attributes + 1;
    if (!(ev->ev_attrs = jd_arena_alloc(ar, cap * sizeof *ev->ev_attrs)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        if (avro_value_get_by_index(&all, i, &v, &key) || !key)
            continue;
        if ((rc = jd_map_attr_put(&v, key, lim, ar, ev, err)))
            return rc;
    }
    for (size_t i = 0; i < mp->mp_nattrs; i++)
        if (jd_map_lookup(rec, &mp->mp_attrs[i].ma_path, &v) &&
            (rc = jd_map_attr_put(&v, mp->mp_attrs[i].ma_name, lim, ar, ev, err)))
            return rc;
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

int jd_mapping_extract(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    const jd_map_path_t *f = mp->mp_fields;
    int rc;

    memset(ev, 0, sizeof *ev);
    if ((rc = jd_map_required(&f[JD_MF_EVENT_ID], rec, "event_id", lim, ar, &ev->ev_id, err)) ||
        (rc = jd_map_account(mp, rec, lim, ar, ev, err)) ||
        (rc = jd_map_string(&f[JD_MF_USER_ID], rec, "user_id", NULL, lim, ar, &ev->ev_user,
                            err)) ||
        (rc = jd_map_required(&f[JD_MF_TYPE], rec, "type", lim, ar, &ev->ev_type_name, err)) ||
        (rc = jd_map_string(&f[JD_MF_FEATURE], rec, "feature", NULL, lim, ar, &ev->ev_feature,
                            err)) ||
        (rc = jd_map_time(mp, rec, lim, ev, err)) || (rc = jd_map_value(mp, rec, ev, err)) ||
        (rc = jd_map_attrs(mp, rec, lim, ar, ev, err))) {
        memset(ev, 0, sizeof *ev);
        return rc;
    }
    jd_map_event_name(mp, ev);
    return 0;
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
