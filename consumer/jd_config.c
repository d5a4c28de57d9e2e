/*
 * jd_config: the key table's loaders and checks (contract in jd_config.h):
 * setting one key from text (jd_config_set: a typed key of the table,
 * or one of the open-ended families), the life cycle of a jd_config_t,
 * validation, and the views other modules take of it (jd_store_conf_t,
 * jd_account_conf_t, librdkafka properties).
 *
 * Design: every typed key is one row of jd__config_keys[]
 * (jd_config_keys.c) with the offset of its field in jd_config_t. Defaults
 * are written as text and go through the same parser as file, environment
 * and flag values, so a default can never be a value the parser would
 * refuse. The file and environment loaders are in jd_config_load.c, the
 * text output in jd_config_print.c. Three key families are open-ended:
 * `kafka.<property>` (librdkafka properties, passed through),
 * `schemas.ids.<id>` (Confluent schema id -> .avsc file) and
 * `health.<segment>.<measure>.<field>` (health profiles, parsed and checked
 * by state/jd_health.c: weights of every profile sum to 100). Any other unknown
 * key is an error naming FILE:LINE:COLUMN, because a misspelt key silently
 * ignored is the most expensive kind of configuration bug.
 *
 * Runs on the main thread at start-up only.
 */
#include "jd_config.h"
#include "jd_cloudevent.h"
#include "jd_config_int.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const jd_config_key_t *jd_config_find(const char *name)
{
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++)
        if (strcmp(jd__config_keys[i].ck_name, name) == 0)
            return &jd__config_keys[i];
    return NULL;
}

static int jd_kv_put(jd_kv_t **arr, size_t *cnt, const char *k, const char *v)
{
    for (size_t i = 0; i < *cnt; i++) {
        if (strcmp((*arr)[i].kv_key, k) == 0) {
            char *nv = strdup(v);
            if (!nv)
                return -1;
            free((*arr)[i].kv_val);
            (*arr)[i].kv_val = nv;
            return 0;
        }
    }
    /* the capacity is the count rounded up to a power of two, so growing
     * is amortised O(1) without a capacity field */
    jd_kv_t *na = *arr;
    if ((*cnt & (*cnt - 1)) == 0) {
        na = realloc(*arr, (*cnt ? 2 * *cnt : 1) * sizeof **arr);
        if (!na)
            return -1;
        *arr = na;
    }
    na[*cnt].kv_key = strdup(k);
    na[*cnt].kv_val = strdup(v);
    if (!na[*cnt].kv_key || !na[*cnt].kv_val) {
        free(na[*cnt].kv_key);
        free(na[*cnt].kv_val);
        return -1;
    }
    (*cnt)++;
    return 0;
}

static void jd_kv_free(jd_kv_t *arr, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        free(arr[i].kv_key);
        free(arr[i].kv_val);
    }
    free(arr);
}

/* Parses `val` for one typed key and stores it. */
static int jd_config_store(jd_config_t *cf, const jd_config_key_t *ck,
                           const char *val, const char *origin, jd_err_t *err)
{
    char *base = (char *)cf + ck->ck_offset;

    if (ck->ck_type == JD_CFG_NUM) {
        char *end;
        double v = strtod(val, &end);
        if (end == val || *end != '\0' || !isfinite(v) || strpbrk(val, "xXpP"))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: '%s' is not a number", origin, ck->ck_name, val);
        if (v < (double)ck->ck_min || v > (double)ck->ck_max)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: %g is out of range [%ld, %ld]", origin,
                              ck->ck_name, v, ck->ck_min, ck->ck_max);
        *(double *)(void *)base = v;
        return 0;
    }
    if (ck->ck_type == JD_CFG_INT) {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end != '\0')
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: '%s' is not an integer", origin,
                              ck->ck_name, val);
        if (v < ck->ck_min || v > ck->ck_max)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: %ld is out of range [%ld, %ld]", origin,
                              ck->ck_name, v, ck->ck_min, ck->ck_max);
        *(int *)base = (int)v;
        return 0;
    }
    if (ck->ck_choices) {
        size_t n = strlen(val);
        const char *p = ck->ck_choices;
        int ok = 0;
        while (*p && !ok) {
            size_t w = strcspn(p, "|");
            ok = (w == n && strncmp(p, val, n) == 0);
            p += w + (p[w] == '|');
        }
        if (!ok)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: '%s' is not one of %s", origin,
                              ck->ck_name, val, ck->ck_choices);
    }
    char *copy = strdup(val);
    if (!copy)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    free(*(char **)base);
    *(char **)base = copy;
    return 0;
}

/* The list keys whose comma-separated text is kept split as well. */
typedef struct jd_config_list {
    size_t cl_text, cl_vec, cl_cnt;   /* offsets in jd_config_t */
} jd_config_list_t;

static const jd_config_list_t jd_config_lists[] = {
    {JD_OFF(cf_value_features), JD_OFF(cf_value_feature_v), JD_OFF(cf_value_feature_n)},
    {JD_OFF(cf_usage_events), JD_OFF(cf_usage_event_v), JD_OFF(cf_usage_event_n)},
    {JD_OFF(cf_core_features), JD_OFF(cf_core_feature_v), JD_OFF(cf_core_feature_n)},
    {JD_OFF(cf_registry_input_subjects), JD_OFF(cf_registry_input_subject_v),
     JD_OFF(cf_registry_input_subject_n)},
};
#define JD_CONFIG_NLISTS (sizeof jd_config_lists / sizeof jd_config_lists[0])

static void jd_config_free_list(jd_config_t *cf, const jd_config_list_t *cl)
{
    char ***vec = (char ***)(void *)((char *)cf + cl->cl_vec);
    size_t *cnt = (size_t *)(void *)((char *)cf + cl->cl_cnt);
    for (size_t i = 0; i < *cnt; i++)
        free((*vec)[i]);
    free(*vec);
    *vec = NULL;
    *cnt = 0;
}

/* Keeps the split vector of a list key in step with its text; empty
 * items ("a,,b") are dropped. */
static int jd_config_split(jd_config_t *cf, const jd_config_list_t *cl)
{
    const char *p = *(char **)(void *)((char *)cf + cl->cl_text);
    char ***vec = (char ***)(void *)((char *)cf + cl->cl_vec);
    size_t *cnt = (size_t *)(void *)((char *)cf + cl->cl_cnt);

    jd_config_free_list(cf, cl);
    while (*p) {
        size_t n = strcspn(p, ",");
        char **nv = realloc(*vec, (*cnt + 1) * sizeof *nv);
        if (!nv)
            return -1;
        *vec = nv;
        if (n && !(nv[(*cnt)++] = strndup(p, n)))
            return -1;
        p += n + (p[n] == ',');
    }
    return 0;
}

int jd_config_set(jd_config_t *cf, const char *key, const char *val,
                  const char *origin, jd_err_t *err)
{
    const jd_config_key_t *ck = jd_config_find(key);
    int rc = 0;

    if (ck) {
        rc = jd_config_store(cf, ck, val, origin, err);
        for (size_t i = 0; !rc && i < JD_CONFIG_NLISTS; i++)
            if (ck->ck_offset == jd_config_lists[i].cl_text &&
                jd_config_split(cf, &jd_config_lists[i]))
                return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return rc;
    }
    if (strncmp(key, "health.", 7) == 0) {
        if (jd_health_conf_set(&cf->cf_health, key + 7, val, err)) {
            jd_err_prefix(err, "%s", origin);
            return JD_ERR_FATAL;
        }
        return 0;
    }
    if (strncmp(key, "mapping.", 8) == 0) {
        if (jd_mapping_set(cf->cf_mapping, key + 8, val, err)) {
            jd_err_prefix(err, "%s", origin);
            return JD_ERR_FATAL;
        }
        return 0;
    }
    if (strncmp(key, "kafka.", 6) == 0 && key[6])
        rc = jd_kv_put(&cf->cf_kafka, &cf->cf_kafka_cnt, key + 6, val);
    else if (strncmp(key, "schemas.ids.", 12) == 0 && key[12]) {
        char *end;
        long id = strtol(key + 12, &end, 10);
        if (*end || id < 0 || id > INT_MAX)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: schema id must be a non-negative integer",
                              origin, key);
        rc = jd_kv_put(&cf->cf_schema_ids, &cf->cf_schema_id_cnt, key + 12, val);
    } else
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: unknown key '%s' (see `journeyd config keys`)",
                          origin, key);
    if (rc)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    return 0;
}

jd_config_t *jd_config_new(void)
{
    jd_config_t *cf = calloc(1, sizeof *cf);
    jd_err_t err;

    if (!cf)
        return NULL;
    jd_health_conf_init(&cf->cf_health);
    if (!(cf->cf_mapping = jd_mapping_new())) {
        free(cf);
        return NULL;
    }
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        if (jd_config_set(cf, jd__config_keys[i].ck_name,
                          jd__config_keys[i].ck_default, "default", &err)) {
            jd_config_destroy(cf);
            return NULL;
        }
    }
    for (size_t i = 0; i < jd__config_nkafka_defaults; i++)
        if (jd_kv_put(&cf->cf_kafka, &cf->cf_kafka_cnt, jd__config_kafka_defaults[i][0],
                      jd__config_kafka_defaults[i][1])) {
            jd_config_destroy(cf);
            return NULL;
        }
    return cf;
}

void jd_config_destroy(jd_config_t *cf)
{
    if (!cf)
        return;
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++)
        if (jd__config_keys[i].ck_type == JD_CFG_STR ||
            jd__config_keys[i].ck_type == JD_CFG_LIST)
            free(*(char **)((char *)cf + jd__config_keys[i].ck_offset));
    jd_kv_free(cf->cf_kafka, cf->cf_kafka_cnt);
    jd_kv_free(cf->cf_schema_ids, cf->cf_schema_id_cnt);
    jd_mapping_destroy(cf->cf_mapping);
    for (size_t i = 0; i < JD_CONFIG_NLISTS; i++)
        jd_config_free_list(cf, &jd_config_lists[i]);
    free(cf);
}

/* topics.repartition is none of the topics journeyd reads or writes. */
static int jd_config_check_repartition(const jd_config_t *cf, jd_err_t *err)
{
    const char *rp = cf->cf_topic_repartition;
    if (!rp[0])
        return 0;
    const char *out[] = {cf->cf_topic_dlq, cf->cf_topic_risk, cf->cf_topic_renewal,
                         cf->cf_topic_expansion, cf->cf_topic_stage, cf->cf_topic_shadow,
                         cf->cf_topic_outcomes};
    int clash = 0;
    for (size_t i = 0; i < sizeof out / sizeof *out; i++)
        clash |= !strcmp(out[i], rp);
    size_t n = strlen(rp);
    for (const char *t = cf->cf_topics_input; (t = strstr(t, rp)); t += n)
        clash |= (t == cf->cf_topics_input || t[-1] == ',') && (t[n] == ',' || !t[n]);
    if (clash)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "topics.repartition: '%s' is already an input or output topic; "
                          "the repartition topic must be a topic of its own", rp);
    return 0;
}

int jd_config_subject_ref(const char *entry, char *subject, size_t cap, char *version,
                          size_t vcap)
{
    const char *at = strrchr(entry, '@');
    size_t n = at ? (size_t)(at - entry) : strlen(entry);
    const char *v = at ? at + 1 : "latest";
    size_t vn = strlen(v);
    int digits = vn > 0 && vn <= 10 && strspn(v, "0123456789") == vn && v[0] != '0';

    if (!n || n >= cap || (!digits && strcmp(v, "latest")) ||
        (digits && strtoll(v, NULL, 10) > INT32_MAX) || vn >= vcap)
        return -1;
    memcpy(subject, entry, n);
    subject[n] = '\0';
    memcpy(version, v, vn + 1);
    return 0;
}

/* schemas.registry.input_subjects and plain_subject: SUBJECT[@VERSION]
 * entries, looked up in the registry at start-up. */
static int jd_config_check_subjects(const jd_config_t *cf, jd_err_t *err)
{
    char subject[512], version[16];
    const char *key = "schemas.registry.input_subjects";
    for (size_t i = 0; i <= cf->cf_registry_input_subject_n; i++) {
        const char *e = i < cf->cf_registry_input_subject_n ? cf->cf_registry_input_subject_v[i]
                                                             : cf->cf_registry_plain_subject;
        if (i == cf->cf_registry_input_subject_n)
            key = "schemas.registry.plain_subject";
        if (!e[0])
            continue;
        if (!cf->cf_registry_url[0])
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: needs schemas.registry.url (the subjects are looked up "
                              "there)", key);
        if (jd_config_subject_ref(e, subject, sizeof subject, version, sizeof version))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: '%s' is not SUBJECT or SUBJECT@VERSION (a version number "
                              "or latest)", key, e);
    }
    return 0;
}

/* state.lateness_days: ids are kept for a part of the retention horizon. */
static int jd_config_check_lateness(const jd_config_t *cf, jd_err_t *err)
{
    if (cf->cf_lateness_days > cf->cf_retention_days)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "state.lateness_days (%d) is larger than state.retention_days "
                          "(%d): the event ids of a day are kept only while its counts are",
                          cf->cf_lateness_days, cf->cf_retention_days);
    return 0;
}

int jd_config_validate(const jd_config_t *cf, jd_err_t *err)
{
    if (!cf->cf_topics_input[0])
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "topics.input: at least one input topic is required");
    if (cf->cf_rules_file[0] && access(cf->cf_rules_file, R_OK) != 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "rules.file: cannot read %s: %s", cf->cf_rules_file,
                          strerror(errno));
    if (cf->cf_redis_password[0] && cf->cf_redis_password_file[0])
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.password and redis.password_file are both set: keep one");
    if (cf->cf_redis_password_file[0] && access(cf->cf_redis_password_file, R_OK) != 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.password_file: cannot read %s: %s",
                          cf->cf_redis_password_file, strerror(errno));
    if (cf->cf_redis_user[0] && !cf->cf_redis_password[0] && !cf->cf_redis_password_file[0])
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "redis.user is set without redis.password or redis.password_file");
    for (size_t i = 0; i < cf->cf_schema_id_cnt; i++)
        if (access(cf->cf_schema_ids[i].kv_val, R_OK) != 0)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "schemas.ids.%s: cannot read %s: %s",
                              cf->cf_schema_ids[i].kv_key,
                              cf->cf_schema_ids[i].kv_val, strerror(errno));
    if (cf->cf_topic_shadow[0] && (!strcmp(cf->cf_topic_shadow, cf->cf_topic_risk) ||
                                   !strcmp(cf->cf_topic_shadow, cf->cf_topic_renewal) ||
                                   !strcmp(cf->cf_topic_shadow, cf->cf_topic_expansion)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "topics.shadow: '%s' is a trigger topic; shadow triggers must "
                          "never reach the trigger topics", cf->cf_topic_shadow);
    char why[160];
    if (jd_cloudevent_source_check(cf->cf_ce_source, why, sizeof why))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "cloudevents.source %s", why);
    if (jd_config_check_repartition(cf, err) || jd_config_check_lateness(cf, err) ||
        jd_config_check_subjects(cf, err))
        return JD_ERR_FATAL;
    if (cf->cf_core_feature_n > 1000)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "state.core_features: at most 1000, not %zu",
                          cf->cf_core_feature_n);
    if (jd_mapping_check(cf->cf_mapping, err))
        return JD_ERR_FATAL;
    return jd_health_conf_check(&cf->cf_health, err);
}

const char *jd_config_kafka(const jd_config_t *cf, const char *key)
{
    for (size_t i = 0; i < cf->cf_kafka_cnt; i++)
        if (strcmp(cf->cf_kafka[i].kv_key, key) == 0)
            return cf->cf_kafka[i].kv_val;
    return NULL;
}

void jd_config_store_conf(const jd_config_t *cf, jd_store_conf_t *sc)
{
    jd_store_conf_default(sc);
    sc->stc_host = cf->cf_redis_host;
    sc->stc_port = cf->cf_redis_port;
    sc->stc_unix_path = cf->cf_redis_socket[0] ? cf->cf_redis_socket : NULL;
    sc->stc_seeds = cf->cf_redis_nodes[0] ? cf->cf_redis_nodes : NULL;
    sc->stc_user = cf->cf_redis_user;
    sc->stc_password = cf->cf_redis_password;
    sc->stc_password_file = cf->cf_redis_password_file;
    sc->stc_timeout_ms = cf->cf_redis_timeout_ms;
    sc->stc_mode = strcmp(cf->cf_redis_cluster, "on") == 0    ? JD_REDIS_CLUSTER
                   : strcmp(cf->cf_redis_cluster, "off") == 0 ? JD_REDIS_SINGLE
                                                              : JD_REDIS_AUTO;
    sc->stc_prefix = cf->cf_redis_prefix;
}

void jd_config_account(const jd_config_t *cf, jd_account_conf_t *acf,
                       jd_signals_conf_t *sgc)
{
    jd_signals_conf_default(sgc);
    sgc->sgc_renewal_window_days = cf->cf_renewal_window_days;
    sgc->sgc_ttfv_target_days = cf->cf_ttfv_target_days;
    sgc->sgc_healthy_utilization = cf->cf_healthy_utilization;
    sgc->sgc_healthy_breadth = cf->cf_healthy_breadth;
    sgc->sgc_health = &cf->cf_health;
    sgc->sgc_core_feature_cnt = cf->cf_core_feature_n;
    memset(acf, 0, sizeof *acf);
    acf->acf_retention_days = cf->cf_retention_days;
    acf->acf_lateness_days = cf->cf_lateness_days;
    acf->acf_power_user_days = cf->cf_power_user_days;
    acf->acf_usage_events = (const char *const *)cf->cf_usage_event_v;
    acf->acf_usage_cnt = cf->cf_usage_event_n;
    acf->acf_value_features = (const char *const *)cf->cf_value_feature_v;
    acf->acf_value_cnt = cf->cf_value_feature_n;
    acf->acf_core_features = (const char *const *)cf->cf_core_feature_v;
    acf->acf_core_cnt = cf->cf_core_feature_n;
    acf->acf_signals = sgc;
    jd_account_conf_ready(acf);
}
