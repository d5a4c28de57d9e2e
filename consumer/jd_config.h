/*
 * jd_config: journeyd's configuration: one YAML file, JOURNEYD_* environment
 * overrides, then command-line flags, validated once at start-up.
 *
 * Every key journeyd knows is a row of one table in jd_config_keys.c
 * (name, type, default, meaning); the YAML loader, the environment
 * overrides, `--set`, validation and `journeyd config keys` all read that
 * table. Keys under `kafka.` are librdkafka properties: the known ones
 * have defaults, any other is passed through to librdkafka unchanged
 * (SASL/SSL included).
 *
 * Precedence: defaults < file < environment < flags. Errors name the key
 * and, for the file, FILE:LINE:COLUMN; they are JD_ERR_FATAL/JD_E_CONFIG.
 *
 * Ownership: jd_config_new() returns a config freed by jd_config_destroy();
 * every string in it belongs to the config. Read-only after validation, so
 * any thread may read it.
 */
#ifndef JD_CONFIG_H
#define JD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jd_err.h"
#include "jd_mapping.h"
#include "jd_account.h"
#include "jd_store.h"

typedef struct jd_kv {
    char *kv_key;
    char *kv_val;
} jd_kv_t;

typedef struct jd_config {
    /* kafka.* : librdkafka properties (known keys and pass-through) */
    jd_kv_t *cf_kafka;
    size_t   cf_kafka_cnt;
    /* topics.* */
    char *cf_topics_input;          /* comma-separated */
    char *cf_topic_dlq;
    char *cf_ce_source;        /* cloudevents.source ("": the default) */
    char *cf_topic_risk;
    char *cf_topic_renewal;
    char *cf_topic_expansion;
    char *cf_topic_stage;
    char *cf_topic_shadow;     /* "" = shadow triggers are not published */
    int   cf_timers_enabled;     /* timers.* (time-driven rules) */
    int   cf_timers_tick_s;
    int   cf_timers_lateness_s;
    int   cf_timers_wall_idle_s;
    char *cf_topic_outcomes;     /* rule outcomes */
    char *cf_topic_repartition;  /* "" = the input is keyed by account */
    int   cf_outcomes_interval_s;
    int   cf_outcome_schema_id;
    int   cf_embedded_partitions;
    /* redis.* */
    char *cf_redis_host;
    int   cf_redis_port;
    char *cf_redis_socket;
    char *cf_redis_prefix;
    char *cf_redis_user;
    char *cf_redis_password;
    char *cf_redis_password_file;
    char *cf_redis_cluster;
    char *cf_redis_nodes;
    int   cf_redis_timeout_ms;
    /* schemas.* */
    char *cf_wire_format;           /* auto | confluent | plain */
    int   cf_product_schema_id;
    int   cf_trigger_schema_id;
    int   cf_stage_schema_id;
    jd_kv_t *cf_schema_ids;         /* "id" -> .avsc path */
    size_t   cf_schema_id_cnt;
    char *cf_registry_url;          /* "" = no schema registry */
    char *cf_registry_username;
    char *cf_registry_password;
    char *cf_registry_password_file;
    char *cf_registry_bearer;          /* schemas.registry.bearer_token (a secret) */
    char *cf_registry_bearer_file;
    char *cf_registry_ca;
    char *cf_registry_cert;
    char *cf_registry_key;
    int   cf_registry_verify;
    int   cf_registry_timeout_ms;
    int   cf_registry_retry_ms;
    int   cf_registry_negative_ttl_ms;
    int   cf_registry_cache_max;
    int   cf_registry_auto_register;
    char *cf_registry_subject_strategy; /* topic | record | topic_record */
    char *cf_registry_input_subjects;   /* comma-separated SUBJECT[@VERSION] */
    char **cf_registry_input_subject_v; /* the same, split (kept in sync) */
    size_t cf_registry_input_subject_n;
    char *cf_registry_plain_subject;    /* SUBJECT[@VERSION] or "" */
    /* limits.* */
    int   cf_max_message_bytes;
    int   cf_max_string_bytes;
    int   cf_max_attributes;
    int   cf_max_batch_bytes;
    /* state.* */
    int   cf_retention_days;
    int   cf_lateness_days;         /* <= cf_retention_days (validated) */
    char *cf_value_features;        /* comma-separated */
    char **cf_value_feature_v;      /* the same, split (kept in sync) */
    size_t cf_value_feature_n;
    char *cf_usage_events;          /* comma-separated */
    char **cf_usage_event_v;
    size_t cf_usage_event_n;
    char *cf_core_features;         /* comma-separated */
    char **cf_core_feature_v;
    size_t cf_core_feature_n;
    int   cf_power_user_days;
    int   cf_cache_mb;
    int   cf_signals_hash;
    int   cf_renewal_window_days;
    int   cf_ttfv_target_days;
    double cf_healthy_utilization;
    double cf_healthy_breadth;
    /* mapping.* (open family, parsed by schemas/jd_mapping.c); owned */
    jd_mapping_t *cf_mapping;
    /* health.<segment>.<measure>.<field> (open family) */
    jd_health_conf_t cf_health;
    /* rules.* */
    char *cf_rules_file;
    /* pipeline.* */
    int   cf_batch_size;
    int   cf_batch_timeout_ms;
    int   cf_commit_interval_ms;
    int   cf_threads;               /* pipeline threads (consumer group members) */
    int   cf_max_rate;              /* messages/s, 0 = no limit */
    int   cf_retry_backoff_max_ms;
    int   cf_flush_timeout_ms;
    int   cf_shutdown_timeout_ms;
    /* log.* */
    char *cf_log_level;
    char *cf_log_format;            /* text | json */
    /* http.* */
    char *cf_http_address;
    int   cf_http_port;             /* 0 = off */
} jd_config_t;

/* A config holding every default. NULL only when out of memory. */
jd_config_t *jd_config_new(void);
void jd_config_destroy(jd_config_t *cf);

/* Loads a YAML file over the current values. Anchors and aliases are
 * followed, but an alias cycle, nesting deeper than 32 mappings, aliases
 * that repeat more than 1000 values (an alias bomb) and more than 10000
 * values in all are refused with FILE:LINE:COLUMN of the key that leads
 * there. Returns 0 or
 * JD_ERR_FATAL with `err` set; keys set before the error stay set. */
int jd_config_load_file(jd_config_t *cf, const char *path, jd_err_t *err);

/* The same for YAML text in memory (`len` bytes, need not end in NUL);
 * `name` stands for the file name in error messages. The text is only
 * read during the call. */
int jd_config_load_buffer(jd_config_t *cf, const char *text, size_t len,
                          const char *name, jd_err_t *err);

/* Applies JOURNEYD_<KEY> variables (key upper-cased, '.' -> '_'), e.g.
 * JOURNEYD_REDIS_PORT=6380, JOURNEYD_KAFKA_BOOTSTRAP_SERVERS=host:9092; any
 * JOURNEYD_KAFKA_<PROPERTY> sets librdkafka property <property> ('_' as
 * '.', lower case), e.g. JOURNEYD_KAFKA_SASL_PASSWORD. */
int jd_config_load_env(jd_config_t *cf, jd_err_t *err);

/* Sets one key from text ("redis.port", "6380"), as a flag would; `origin`
 * names where it came from in error messages. */
int jd_config_set(jd_config_t *cf, const char *key, const char *val,
                  const char *origin, jd_err_t *err);

/* Splits an entry of schemas.registry.input_subjects or plain_subject,
 * "SUBJECT" or "SUBJECT@VERSION" (VERSION a positive number or "latest",
 * the default), into subject and version. 0, or -1 when the entry is not
 * of that form or does not fit. Pure. */
int jd_config_subject_ref(const char *entry, char *subject, size_t cap, char *version,
                          size_t vcap);

/* Cross-key checks after everything is loaded (rules file readable, ...). */
int jd_config_validate(const jd_config_t *cf, jd_err_t *err);

/* Value of librdkafka property `key`, or NULL. */
const char *jd_config_kafka(const jd_config_t *cf, const char *key);

/* The state store's configuration from redis.* (strings point into cf,
 * which must outlive sc). */
void jd_config_store_conf(const jd_config_t *cf, jd_store_conf_t *sc);

/* The account engine's configuration from cf: acf borrows cf's lists and
 * points at sgc (filled here), so cf and sgc must outlive acf. Ready for
 * use (jd_account_conf_ready is called). */
void jd_config_account(const jd_config_t *cf, jd_account_conf_t *acf,
                       jd_signals_conf_t *sgc);

/* Writes the key table (name, type, default, meaning) as Markdown. */
void jd_config_print_keys(FILE *out);

/* Writes the effective configuration as YAML: secrets (jd_secret_key:
 * passwords, secrets, private keys) and the userinfo of URLs are masked. */
void jd_config_print(const jd_config_t *cf, FILE *out);

#endif
