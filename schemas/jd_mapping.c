/*
 * jd_mapping: the field mapping's configuration (contract in
 * jd_mapping.h): keys set one by one, paths split into steps once, the
 * completeness check, the check of required paths against a writer
 * schema, the slots both decode paths read, and printing. Extraction is
 * jd_mapping_fill.c.
 *
 * Pure; configuration happens on one thread before any extraction.
 */
#include "jd_mapping.h"

#include <stdlib.h>
#include <string.h>

#include "jd_mapping_int.h"

static const char *const jd_map_field_names[JD_MF__COUNT] = {
    "event_id", "user_id", "type", "feature", "occurred_at", "value", "attributes"};

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

const jd_map_path_t *jd__mapping_slot(const jd_mapping_t *mp, size_t slot)
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
    const jd_map_path_t *pa = jd__mapping_slot(mp, slot);
    *steps = pa ? pa->pa_steps : NULL;
    return pa ? pa->pa_n : 0;
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
