/*
 * jd_config: the key table and its three loaders (file, environment, flags).
 *
 * Design: every typed key is one row of jd_config_keys[] with the offset of
 * its field in jd_config_t. Defaults are written as text and go through the
 * same parser as file, environment and flag values, so a default can never
 * be a value the parser would refuse. The YAML file is loaded with libyaml's
 * document API and flattened to dotted keys ("redis.port"); a sequence
 * becomes a comma-separated list. Three key families are open-ended:
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

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "jd_secret.h"

typedef enum { JD_CFG_STR, JD_CFG_INT, JD_CFG_LIST, JD_CFG_NUM } jd_cfg_type_t;

typedef struct jd_config_key {
    const char   *ck_name;
    jd_cfg_type_t ck_type;
    const char   *ck_default;
    size_t        ck_offset;
    long          ck_min, ck_max;      /* JD_CFG_INT and JD_CFG_NUM */
    const char   *ck_choices;          /* JD_CFG_STR: "a|b|c" or NULL */
    const char   *ck_doc;
} jd_config_key_t;

#define JD_OFF(f) offsetof(jd_config_t, f)

static const jd_config_key_t jd_config_keys[] = {
    {"topics.input", JD_CFG_LIST, "product-events", JD_OFF(cf_topics_input), 0, 0, NULL,
     "Topics of product events to consume (list)."},
    {"topics.dead_letter", JD_CFG_STR, "product-events.dlq", JD_OFF(cf_topic_dlq), 0, 0, NULL,
     "Topic that receives undecodable messages with the reason in headers."},
    {"topics.risk", JD_CFG_STR, "cs.trigger.risk", JD_OFF(cf_topic_risk), 0, 0, NULL,
     "Topic of RISK triggers."},
    {"topics.renewal_readiness", JD_CFG_STR, "cs.trigger.renewal", JD_OFF(cf_topic_renewal), 0, 0, NULL,
     "Topic of RENEWAL_READINESS triggers."},
    {"topics.expansion", JD_CFG_STR, "cs.trigger.expansion", JD_OFF(cf_topic_expansion), 0, 0, NULL,
     "Topic of EXPANSION triggers."},
    {"topics.journey_stage", JD_CFG_STR, "cs.journey.stage", JD_OFF(cf_topic_stage), 0, 0, NULL,
     "Topic of journey stage changes (schemas/journey_stage.avsc)."},
    {"topics.shadow", JD_CFG_STR, "", JD_OFF(cf_topic_shadow), 0, 0, NULL,
     "Topic of triggers of rules in shadow mode (empty: shadow triggers are only counted and "
     "logged). Never one of the trigger topics."},
    {"topics.rule_outcomes", JD_CFG_STR, "cs.rule.outcomes", JD_OFF(cf_topic_outcomes), 0, 0, NULL,
     "Topic of the periodic per-rule outcome records (schemas/rule_outcome.avsc)."},
    {"topics.repartition", JD_CFG_STR, "", JD_OFF(cf_topic_repartition), 0, 0, NULL,
     "Internal topic through which input that is not keyed by account is re-keyed (empty: "
     "the input topics are keyed by account_id). Each message of topics.input is decoded "
     "and forwarded to it unchanged, keyed by account_id (partition: murmur2 of the key, as "
     "Java clients choose it); the state is computed from this topic alone. It needs as many "
     "partitions as each input topic; the embedded cluster creates it."},
    {"topics.embedded_partitions", JD_CFG_INT, "4", JD_OFF(cf_embedded_partitions), 1, 256, NULL,
     "Partitions per topic created in the embedded (mock) cluster."},
    {"redis.host", JD_CFG_STR, "127.0.0.1", JD_OFF(cf_redis_host), 0, 0, NULL,
     "Redis host."},
    {"redis.port", JD_CFG_INT, "6379", JD_OFF(cf_redis_port), 1, 65535, NULL,
     "Redis TCP port."},
    {"redis.socket", JD_CFG_STR, "", JD_OFF(cf_redis_socket), 0, 0, NULL,
     "Redis unix socket path; used instead of host:port when set."},
    {"redis.prefix", JD_CFG_STR, "jd", JD_OFF(cf_redis_prefix), 0, 0, NULL,
     "Prefix of every Redis key journeyd writes."},
    {"redis.timeout_ms", JD_CFG_INT, "2000", JD_OFF(cf_redis_timeout_ms), 10, 600000, NULL,
     "Redis connect and command timeout."},
    {"redis.user", JD_CFG_STR, "", JD_OFF(cf_redis_user), 0, 0, NULL,
     "Redis ACL user to AUTH as (with redis.password); empty = the default user."},
    {"redis.password", JD_CFG_STR, "", JD_OFF(cf_redis_password), 0, 0, NULL,
     "Redis AUTH password; better from JOURNEYD_REDIS_PASSWORD or redis.password_file. "
     "Never printed."},
    {"redis.password_file", JD_CFG_STR, "", JD_OFF(cf_redis_password_file), 0, 0, NULL,
     "File whose first line is the Redis AUTH password (e.g. a mounted secret); mode 0600 or "
     "0400 (a file readable by group or others is refused)."},
    {"redis.cluster", JD_CFG_STR, "auto", JD_OFF(cf_redis_cluster), 0, 0, "auto|on|off",
     "Redis Cluster: auto (asks CLUSTER SLOTS at connect time), on (required), off (one node)."},
    {"redis.nodes", JD_CFG_STR, "", JD_OFF(cf_redis_nodes), 0, 0, NULL,
     "More Redis Cluster seed nodes, \"host:port,host:port\" (redis.host:port is tried first)."},
    {"schemas.wire_format", JD_CFG_STR, "auto", JD_OFF(cf_wire_format), 0, 0, "auto|confluent|plain",
     "Inbound framing: auto (0x00 = Confluent, else plain Avro), confluent, plain."},
    {"schemas.product_schema_id", JD_CFG_INT, "1", JD_OFF(cf_product_schema_id), 0, INT_MAX, NULL,
     "Confluent id under which product_event.avsc itself is accepted (and used by simulate); "
     "ignored by run when schemas.registry.url is set (the registry says what an id is)."},
    {"schemas.trigger_schema_id", JD_CFG_INT, "2", JD_OFF(cf_trigger_schema_id), 0, INT_MAX, NULL,
     "Confluent id written in the framing of outbound triggers."},
    {"schemas.stage_schema_id", JD_CFG_INT, "3", JD_OFF(cf_stage_schema_id), 0, INT_MAX, NULL,
     "Confluent id written in the framing of journey stage events."},
    {"schemas.registry.url", JD_CFG_STR, "", JD_OFF(cf_registry_url), 0, 0, NULL,
     "Confluent Schema Registry base URL (http:// or https://); writer schemas of unknown "
     "ids are fetched from it and cached. Empty: no registry."},
    {"schemas.registry.username", JD_CFG_STR, "", JD_OFF(cf_registry_username), 0, 0, NULL,
     "Registry HTTP basic auth user (empty: no auth)."},
    {"schemas.registry.password", JD_CFG_STR, "", JD_OFF(cf_registry_password), 0, 0, NULL,
     "Registry HTTP basic auth password; better from JOURNEYD_SCHEMAS_REGISTRY_PASSWORD or "
     "schemas.registry.password_file."},
    {"schemas.registry.password_file", JD_CFG_STR, "", JD_OFF(cf_registry_password_file), 0, 0,
     NULL, "File whose first line is the registry password; mode 0600 or 0400 (a file readable "
     "by group or others is refused)."},
    {"schemas.registry.ca_location", JD_CFG_STR, "", JD_OFF(cf_registry_ca), 0, 0, NULL,
     "CA bundle (PEM) that signs the registry's TLS certificate; empty: system CAs."},
    {"schemas.registry.cert_location", JD_CFG_STR, "", JD_OFF(cf_registry_cert), 0, 0, NULL,
     "TLS client certificate (PEM) for the registry."},
    {"schemas.registry.key_location", JD_CFG_STR, "", JD_OFF(cf_registry_key), 0, 0, NULL,
     "TLS client key (PEM) for the registry."},
    {"schemas.registry.ssl_verify", JD_CFG_INT, "1", JD_OFF(cf_registry_verify), 0, 1, NULL,
     "1: verify the registry's TLS certificate and host name; 0: do not (testing only)."},
    {"schemas.registry.timeout_ms", JD_CFG_INT, "5000", JD_OFF(cf_registry_timeout_ms), 100, 600000,
     NULL, "Registry connect and request timeout."},
    {"schemas.registry.retry_ms", JD_CFG_INT, "1000", JD_OFF(cf_registry_retry_ms), 0, 86400000,
     NULL, "While the registry is unreachable (refused, timeout, HTTP 5xx), the shortest pause "
     "between two requests for the same schema id. Messages with that id are not dead-lettered: "
     "the pipeline pauses and retries with back-off (pipeline.retry_backoff_max_ms) until the "
     "registry answers."},
    {"schemas.registry.negative_ttl_ms", JD_CFG_INT, "60000", JD_OFF(cf_registry_negative_ttl_ms),
     0, 86400000, NULL, "A schema id the registry answered 404 (not found) to is not asked "
     "for again for this long: its messages are dead-lettered as unknown_schema_id."},
    {"schemas.registry.cache_max", JD_CFG_INT, "1024", JD_OFF(cf_registry_cache_max), 1, 1000000,
     NULL, "Most schema ids remembered from the registry (fetched, refused or not found); past "
     "it the oldest is forgotten and asked for again when a message carries it."},
    {"schemas.registry.auto_register", JD_CFG_INT, "1", JD_OFF(cf_registry_auto_register), 0, 1,
     NULL, "1: register trigger_event.avsc under `<trigger topic>-value` and journey_stage.avsc "
     "under `<stage topic>-value` at start-up and frame with the ids returned; 0: use "
     "schemas.trigger_schema_id and schemas.stage_schema_id."},
    {"limits.max_message_bytes", JD_CFG_INT, "1048576", JD_OFF(cf_max_message_bytes), 64, 64 << 20, NULL,
     "Largest inbound message accepted; larger ones are dead-lettered."},
    {"limits.max_string_bytes", JD_CFG_INT, "1024", JD_OFF(cf_max_string_bytes), 16, 1 << 20, NULL,
     "Longest string field (ids, names, attribute values) accepted."},
    {"limits.max_attributes", JD_CFG_INT, "64", JD_OFF(cf_max_attributes), 0, 4096, NULL,
     "Most entries accepted in an event's attributes map."},
    {"limits.max_batch_bytes", JD_CFG_INT, "67108864", JD_OFF(cf_max_batch_bytes), 1024, INT_MAX, NULL,
     "Most message bytes in one batch (with pipeline.batch_size, bounds the memory in flight); "
     "a batch is cut before the message that would pass it."},
    {"state.retention_days", JD_CFG_INT, "35", JD_OFF(cf_retention_days), 35, 3650, NULL,
     "Days of per-day state kept up to the as-of day; older late usage events do not count "
     "in windows (35 covers every window)."},
    {"state.value_features", JD_CFG_LIST, "", JD_OFF(cf_value_features), 0, 0, NULL,
     "Features whose first feature_used counts as first value (list)."},
    {"state.usage_events", JD_CFG_LIST, "feature_used,login", JD_OFF(cf_usage_events), 0, 0, NULL,
     "Event types that are usage (active users, events, days active) (list)."},
    {"state.core_features", JD_CFG_LIST, "", JD_OFF(cf_core_features), 0, 0, NULL,
     "Core features of feature_breadth_28d (list; empty: breadth is null)."},
    {"state.power_user_days", JD_CFG_INT, "8", JD_OFF(cf_power_user_days), 1, 28, NULL,
     "power_users_28d: users active on at least this many days of the 28."},
    {"state.signals_hash", JD_CFG_INT, "1", JD_OFF(cf_signals_hash), 0, 1, NULL,
     "1: keep <prefix>:{T}:sig, a hash of each account's current health, stage, profile and "
     "28-day adoption signals for downstream services (docs/state.md), written with the "
     "record when one of them changed; 0: not kept."},
    {"state.cache_mb", JD_CFG_INT, "256", JD_OFF(cf_cache_mb), 1, 1048576, NULL,
     "Memory for the account state journeyd holds (MiB): the account "
     "records and the partitions' deadline indexes; clean records past it are evicted least "
     "recently used first and read again from Redis."},
    {"state.renewal_window_days", JD_CFG_INT, "120", JD_OFF(cf_renewal_window_days), 0, 3650, NULL,
     "Stage renewal when days_to_renewal is at most this."},
    {"state.ttfv_target_days", JD_CFG_INT, "30", JD_OFF(cf_ttfv_target_days), 0, 3650, NULL,
     "Health measure milestones: first value expected within this many days of start."},
    {"state.healthy_adoption.utilization", JD_CFG_NUM, "0.7", JD_OFF(cf_healthy_utilization),
     0, 1000, NULL, "Healthy adoption: utilization at least this."},
    {"state.healthy_adoption.feature_breadth", JD_CFG_NUM, "0.7", JD_OFF(cf_healthy_breadth),
     0, 1, NULL, "Healthy adoption: feature_breadth_28d at least this."},
    {"rules.file", JD_CFG_STR, "", JD_OFF(cf_rules_file), 0, 0, NULL,
     "Rules file; empty means the rules/default.yaml shipped with journeyd."},
    {"pipeline.batch_size", JD_CFG_INT, "2000", JD_OFF(cf_batch_size), 1, 1000000, NULL,
     "Most messages processed per batch (at most one Redis read per batch, for the "
     "accounts not cached)."},
    {"pipeline.max_rate", JD_CFG_INT, "0", JD_OFF(cf_max_rate), 0, INT_MAX, NULL,
     "Most messages consumed per second, on average since the first (a backfill that "
     "must leave room to others); 0: no limit."},
    {"pipeline.batch_timeout_ms", JD_CFG_INT, "10", JD_OFF(cf_batch_timeout_ms), 1, 60000, NULL,
     "Longest wait for the first message of a batch; a batch takes what is queued then "
     "(up to pipeline.batch_size) without waiting to fill."},
    {"pipeline.commit_interval_ms", JD_CFG_INT, "1000", JD_OFF(cf_commit_interval_ms), 0, 600000,
     NULL,
     "Longest time between two writes of the changed account records and the offsets: an "
     "account changed many times in it is written once (triggers are published as they are "
     "decided, whatever this is); a crash replays at most about this much. 0: after every "
     "batch."},
    {"pipeline.retry_backoff_max_ms", JD_CFG_INT, "5000", JD_OFF(cf_retry_backoff_max_ms), 10, 600000, NULL,
     "Cap of the exponential back-off while Redis or Kafka is unavailable."},
    {"pipeline.flush_timeout_ms", JD_CFG_INT, "30000", JD_OFF(cf_flush_timeout_ms), 100, 3600000, NULL,
     "Longest wait for the trigger and dead-letter deliveries of a group of batches (one "
     "pipeline.commit_interval_ms) before retrying them with back-off."},
    {"timers.enabled", JD_CFG_INT, "1", JD_OFF(cf_timers_enabled), 0, 1, NULL,
     "1: evaluate accounts whose next deadline has passed even when they send nothing "
     "(silence, no first value by day 30, renewal windows, `for`); 0: only on events."},
    {"timers.tick_s", JD_CFG_INT, "86400", JD_OFF(cf_timers_tick_s), 0, 31622400, NULL,
     "Every account is re-evaluated at each multiple of this many seconds of event time "
     "(UTC midnights by default); 0: only at `for` deadlines."},
    {"timers.allowed_lateness_s", JD_CFG_INT, "3600", JD_OFF(cf_timers_lateness_s), 0, 31622400,
     NULL, "The timer clock (watermark) is the latest occurred_at seen minus this."},
    {"timers.wall_clock_idle_s", JD_CFG_INT, "0", JD_OFF(cf_timers_wall_idle_s), 0, 31622400, NULL,
     "When no message arrives for this many seconds, the watermark also advances with the "
     "wall clock (minus the allowed lateness); 0: event time only (replays are exact)."},
    {"outcomes.interval_s", JD_CFG_INT, "60", JD_OFF(cf_outcomes_interval_s), 0, 86400, NULL,
     "Seconds between two publications of the per-rule outcomes (and one at the end of a "
     "run); 0: never."},
    {"schemas.outcome_schema_id", JD_CFG_INT, "4", JD_OFF(cf_outcome_schema_id), 0, INT_MAX, NULL,
     "Schema id written in the Confluent frame of rule outcome records."},
    {"pipeline.shutdown_timeout_ms", JD_CFG_INT, "15000", JD_OFF(cf_shutdown_timeout_ms), 0, 3600000, NULL,
     "On SIGTERM/SIGINT: longest time spent finishing the batch in flight before "
     "giving it up (it is then replayed on restart)."},
    {"log.level", JD_CFG_STR, "info", JD_OFF(cf_log_level), 0, 0, "error|warn|info|debug",
     "Log level."},
    {"log.format", JD_CFG_STR, "text", JD_OFF(cf_log_format), 0, 0, "text|json",
     "Log lines on stderr: text, or json (one JSON object per line: ts, level, module, msg)."},
    {"http.address", JD_CFG_STR, "127.0.0.1", JD_OFF(cf_http_address), 0, 0, NULL,
     "Address of the /metrics, /healthz, /readyz server (IPv4 or IPv6 literal; loopback "
     "by default, 0.0.0.0 to expose it)."},
    {"http.port", JD_CFG_INT, "0", JD_OFF(cf_http_port), 0, 65535, NULL,
     "Port of the /metrics, /healthz, /readyz server of `journeyd run`; 0 turns it off."},
};

#define JD_CONFIG_NKEYS (sizeof jd_config_keys / sizeof jd_config_keys[0])

/* librdkafka properties journeyd sets unless the user does. */
static const char *const jd_config_kafka_defaults[][2] = {
    {"bootstrap.servers", ""},
    {"group.id", "journeyd"},
    {"auto.offset.reset", "earliest"},
    /* latency: librdkafka's 500 ms fetch wait and 5 ms linger put
     * hundreds of ms between an event and its trigger at low rates
     * (bench/README.md, "The in-memory state engine") */
    {"fetch.wait.max.ms", "10"},
    {"linger.ms", "1"},
    /* memory: librdkafka prefetches up to 64 MiB by default, the whole of
     * the margin over state.cache_mb (docs/operations.md, "Memory") */
    {"queued.max.messages.kbytes", "16384"},
    /* throughput: librdkafka 2.0 stops fetching when this many messages
     * are queued (all partitions together, not one) and looks again only
     * a second later, so its 100000 starved a consumer taking more than
     * 100000 messages a second; the kbytes bound above is the one meant */
    {"queued.min.messages", "10000000"},
};

static const jd_config_key_t *jd_config_find(const char *name)
{
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++)
        if (strcmp(jd_config_keys[i].ck_name, name) == 0)
            return &jd_config_keys[i];
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
        if (jd_config_set(cf, jd_config_keys[i].ck_name,
                          jd_config_keys[i].ck_default, "default", &err)) {
            jd_config_destroy(cf);
            return NULL;
        }
    }
    for (size_t i = 0; i < sizeof jd_config_kafka_defaults / sizeof jd_config_kafka_defaults[0]; i++)
        if (jd_kv_put(&cf->cf_kafka, &cf->cf_kafka_cnt, jd_config_kafka_defaults[i][0],
                      jd_config_kafka_defaults[i][1])) {
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
        if (jd_config_keys[i].ck_type == JD_CFG_STR ||
            jd_config_keys[i].ck_type == JD_CFG_LIST)
            free(*(char **)((char *)cf + jd_config_keys[i].ck_offset));
    jd_kv_free(cf->cf_kafka, cf->cf_kafka_cnt);
    jd_kv_free(cf->cf_schema_ids, cf->cf_schema_id_cnt);
    jd_mapping_destroy(cf->cf_mapping);
    for (size_t i = 0; i < JD_CONFIG_NLISTS; i++)
        jd_config_free_list(cf, &jd_config_lists[i]);
    free(cf);
}

/* ---- YAML file ------------------------------------------------------- */

/*
 * libyaml's document API resolves an alias to the node of its anchor, so a
 * loaded document is a graph, not a tree: `a: &x {b: *x}` is a cycle, and
 * a few anchors each used many times (the "billion laughs") expand a few
 * hundred bytes into millions of keys. The walk therefore keeps the chain
 * of mappings it is inside (a mapping met again on that chain is a cycle),
 * bounds that chain's length, and marks every node it visits: a node
 * visited again was reached through an alias, and those repeats are
 * counted (an alias costs the values under its anchor; a bomb stops after
 * JD_YAML_MAX_AGAIN repeated values, before the open-ended key families
 * such as kafka.* have grown). All visits together are bounded too. A configuration file
 * has a few hundred nodes and four levels; the bounds are far above that.
 */
#define JD_YAML_MAX_DEPTH 32
#define JD_YAML_MAX_AGAIN 1000
#define JD_YAML_MAX_NODES 10000

typedef struct jd_yaml_walk {
    jd_config_t     *yw_cf;
    yaml_document_t *yw_doc;
    const char      *yw_path;
    jd_err_t        *yw_err;
    yaml_node_t     *yw_chain[JD_YAML_MAX_DEPTH];  /* mappings being walked */
    size_t           yw_depth;
    unsigned char   *yw_seen;                      /* per node: visited */
    const yaml_mark_t *yw_alias_at;  /* key of the outermost alias being walked */
    size_t           yw_again;                     /* visits of a seen node */
    size_t           yw_nodes;                     /* all visits */
} jd_yaml_walk_t;

static int jd_yaml_node(jd_yaml_walk_t *w, yaml_node_t *node, const char *key);

/* "FILE:LINE:COLUMN" of a mark, for error messages. */
static void jd_yaml_origin(const jd_yaml_walk_t *w, const yaml_mark_t *mark,
                           char *out, size_t cap)
{
    snprintf(out, cap, "%s:%zu:%zu", w->yw_path, mark->line + 1, mark->column + 1);
}

/* A sequence of scalars becomes "a,b,c". */
static int jd_yaml_list(jd_yaml_walk_t *w, yaml_node_t *node, const char *key,
                        const char *origin)
{
    char buf[4096] = "";
    size_t n = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start;
         it < node->data.sequence.items.top; it++) {
        yaml_node_t *item = yaml_document_get_node(w->yw_doc, *it);
        if (!item || item->type != YAML_SCALAR_NODE)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: list items must be plain values", origin, key);
        n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s",
                              n ? "," : "", (const char *)item->data.scalar.value);
    }
    if (n >= sizeof buf)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: list is too long", origin, key);
    return jd_config_set(w->yw_cf, key, buf, origin, w->yw_err);
}

/* Before walking `v`, the value of the key at `at`: refuses a cycle, a
 * nesting past JD_YAML_MAX_DEPTH and an expansion past JD_YAML_MAX_NODES,
 * each with the position of the key that leads there. */
static int jd_yaml_enter(jd_yaml_walk_t *w, const yaml_node_t *v, const char *key,
                         const yaml_mark_t *at)
{
    char origin[600];

    size_t id = (size_t)(v - w->yw_doc->nodes.start);

    jd_yaml_origin(w, at, origin, sizeof origin);
    if (w->yw_seen[id] && ++w->yw_again > JD_YAML_MAX_AGAIN)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: aliases repeat more than %d values (an alias bomb?)",
                          origin, key, JD_YAML_MAX_AGAIN);
    w->yw_seen[id] = 1;
    if (++w->yw_nodes > JD_YAML_MAX_NODES)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: the file has more than %d values", origin, key,
                          JD_YAML_MAX_NODES);
    if (v->type != YAML_MAPPING_NODE)
        return 0;
    for (size_t i = 0; i < w->yw_depth; i++)
        if (w->yw_chain[i] == v)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: %s: alias cycle (an alias refers to a mapping "
                              "that contains it)", origin, key);
    if (w->yw_depth == JD_YAML_MAX_DEPTH)
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: nested deeper than %d levels", origin, key,
                          JD_YAML_MAX_DEPTH);
    return 0;
}

/* Walks `v`, the value of the key at `at`. libyaml keeps no position of
 * an alias, so errors inside a value reached through one name the key
 * whose value is the outermost alias: that is the line to fix. */
static int jd_yaml_value(jd_yaml_walk_t *w, yaml_node_t *v, const char *key,
                         const yaml_mark_t *at)
{
    int outer = !w->yw_alias_at && w->yw_seen[v - w->yw_doc->nodes.start];
    int rc;

    if (outer)
        w->yw_alias_at = at;
    rc = jd_yaml_enter(w, v, key, w->yw_alias_at ? w->yw_alias_at : at) ||
         jd_yaml_node(w, v, key);
    if (outer)
        w->yw_alias_at = NULL;
    return rc;
}

static int jd_yaml_mapping(jd_yaml_walk_t *w, yaml_node_t *node, const char *key)
{
    int rc = 0;

    w->yw_chain[w->yw_depth++] = node;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         !rc && p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->yw_doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->yw_doc, p->value);
        char full[512], origin[600];
        if (!k || k->type != YAML_SCALAR_NODE || !v) {
            jd_yaml_origin(w, &node->start_mark, origin, sizeof origin);
            rc = jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                            "%s: keys must be plain names", origin);
            break;
        }
        int n = snprintf(full, sizeof full, "%s%s%s", key, *key ? "." : "",
                         (const char *)k->data.scalar.value);
        if (n < 0 || (size_t)n >= sizeof full) {
            jd_yaml_origin(w, &k->start_mark, origin, sizeof origin);
            rc = jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                            "%s: key is longer than %zu bytes", origin, sizeof full - 1);
            break;
        }
        rc = jd_yaml_value(w, v, full, &k->start_mark);
    }
    w->yw_depth--;
    return rc ? JD_ERR_FATAL : 0;
}

static int jd_yaml_node(jd_yaml_walk_t *w, yaml_node_t *node, const char *key)
{
    char origin[600];

    jd_yaml_origin(w, &node->start_mark, origin, sizeof origin);
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return jd_yaml_mapping(w, node, key);
    case YAML_SEQUENCE_NODE:
        return jd_yaml_list(w, node, key, origin);
    case YAML_SCALAR_NODE:
        if (!*key)
            return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                              "%s: the file must be a mapping of keys", origin);
        return jd_config_set(w->yw_cf, key, (const char *)node->data.scalar.value,
                             origin, w->yw_err);
    default:
        return jd_err_set(w->yw_err, JD_ERR_FATAL, JD_E_CONFIG,
                          "%s: %s: unsupported YAML node", origin, key);
    }
}

/* Loads the first document of a parser whose input is set; `name` is the
 * file name of error messages. */
static int jd_config_load_parser(jd_config_t *cf, yaml_parser_t *parser,
                                 const char *name, jd_err_t *err)
{
    yaml_document_t doc;
    int rc = 0;

    if (!yaml_parser_load(parser, &doc))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s:%zu:%zu: %s", name,
                          parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                          parser->problem ? parser->problem : "YAML syntax error");
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        jd_yaml_walk_t w = {.yw_cf = cf, .yw_doc = &doc, .yw_path = name, .yw_err = err};
        w.yw_seen = calloc((size_t)(doc.nodes.top - doc.nodes.start), 1);
        rc = w.yw_seen ? jd_yaml_node(&w, root, "")
                       : jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        free(w.yw_seen);
    }
    yaml_document_delete(&doc);
    return rc;
}

int jd_config_load_file(jd_config_t *cf, const char *path, jd_err_t *err)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t parser;
    int rc;

    if (!f)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "cannot open config file %s: %s", path, strerror(errno));
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    rc = jd_config_load_parser(cf, &parser, path, err);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int jd_config_load_buffer(jd_config_t *cf, const char *text, size_t len,
                          const char *name, jd_err_t *err)
{
    yaml_parser_t parser;
    int rc;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    rc = jd_config_load_parser(cf, &parser, name, err);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- environment ------------------------------------------------------ */

static void jd_config_env_name(const char *key, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "JOURNEYD_");
    for (const char *p = key; *p && n + 1 < cap; p++)
        out[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

/* JOURNEYD_KAFKA_<PROPERTY>: any librdkafka property from the
 * environment (how secrets such as JOURNEYD_KAFKA_SASL_PASSWORD reach a
 * container); the property is the rest lower-cased with '_' as '.', which
 * is exact because librdkafka property names contain no '_'. */
static int jd_config_env_kafka(jd_config_t *cf, jd_err_t *err)
{
    extern char **environ;
    static const char pfx[] = "JOURNEYD_KAFKA_";
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        char key[256], name[256];
        size_t n = 6;
        if (strncmp(*e, pfx, sizeof pfx - 1) != 0 || !eq || eq == *e + sizeof pfx - 1 ||
            (size_t)(eq - *e) >= sizeof name)
            continue;
        memcpy(key, "kafka.", 6);
        for (const char *p = *e + sizeof pfx - 1; p < eq && n + 1 < sizeof key; p++)
            key[n++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        key[n] = '\0';
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        if (jd_config_set(cf, key, eq + 1, name, err))
            return JD_ERR_FATAL;
    }
    return 0;
}

int jd_config_load_env(jd_config_t *cf, jd_err_t *err)
{
    char name[256];
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        jd_config_env_name(jd_config_keys[i].ck_name, name, sizeof name);
        const char *v = getenv(name);
        if (v && jd_config_set(cf, jd_config_keys[i].ck_name, v, name, err))
            return JD_ERR_FATAL;
    }
    return jd_config_env_kafka(cf, err);
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
    if (jd_config_check_repartition(cf, err))
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

void jd_config_print_keys(FILE *out)
{
    static const char *const tn[] = {"string", "integer", "list", "number"};
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        const jd_config_key_t *ck = &jd_config_keys[i];
        char env[256];
        jd_config_env_name(ck->ck_name, env, sizeof env);
        char choices[128] = "", dflt[160] = "(empty)";
        for (size_t j = 0, n = 0; ck->ck_choices && ck->ck_choices[j] && n + 3 < sizeof choices; j++)
            n += (size_t)snprintf(choices + n, sizeof choices - n, "%s%c",
                                  ck->ck_choices[j] == '|' ? "\\" : "", ck->ck_choices[j]);
        if (ck->ck_default[0])
            snprintf(dflt, sizeof dflt, "`%s`", ck->ck_default);
        fprintf(out, "| `%s` | %s%s%s | %s | %s Env: `%s`. |\n", ck->ck_name, tn[ck->ck_type],
                ck->ck_choices ? ": " : "", choices, dflt, ck->ck_doc, env);
    }
    for (size_t i = 0; i < sizeof jd_config_kafka_defaults / sizeof jd_config_kafka_defaults[0]; i++)
        fprintf(out, "| `kafka.%s` | string | `%s` | librdkafka property%s. |\n",
                jd_config_kafka_defaults[i][0], jd_config_kafka_defaults[i][1],
                i == 0 ? "; empty starts the embedded mock cluster" : "");
    fprintf(out, "| `kafka.<property>` | string | | Any other librdkafka property, passed through. |\n"
                 "| `kafka.<secret>_file` | string | | File whose first line is the librdkafka "
                 "one-line secret property <secret> (a password or secret, e.g. "
                 "`kafka.sasl.password_file`, env "
                 "`JOURNEYD_KAFKA_SASL_PASSWORD_FILE`); mode 0600 or 0400. |\n"
                 "| `schemas.ids.<id>` | string | | Writer schema (.avsc) of Confluent schema id <id>. |\n"
                 "| `mapping.fields.<field>` | string | | Path (a.b.c through records, maps, unions) "
                 "in an upstream record of event_id, account_id (list: first with a value), "
                 "user_id, type, feature, occurred_at, value, attributes; see docs/mapping.md. |\n"
                 "| `mapping.default_account` | string | | Account of events none of whose "
                 "account_id paths has a value. |\n"
                 "| `mapping.timestamp.unit` | string: s\\|ms\\|us\\|ns | `ms` | Unit of numeric "
                 "upstream timestamps. |\n"
                 "| `mapping.timestamp.format` | string | `iso8601` | Format of text timestamps: "
                 "iso8601 or a strptime(3) format, UTC. |\n"
                 "| `mapping.events.<name>.type`, `.feature` | string | | Upstream event name -> "
                 "journeyd event type (and feature). |\n"
                 "| `mapping.attributes.<name>` | string | | Path of one more attribute. |\n"
                 "| `health.<segment>.<measure>.<weight\\|bad\\|good>` | number | see "
                 "docs/signals.md | Health profile of a segment (`default` for the others); "
                 "measures utilization, usage_change_7d, nps, cases_open, milestones; "
                 "weights sum to 100. |\n");
}

static void jd_config_print_health(const char *key, double v, void *opaque)
{
    fprintf((FILE *)opaque, "%s: %.15g\n", key, v);
}

/* A value as `config show` prints it: the userinfo of a URL masked. */
static const char *jd_config_show(const char *v, char *buf, size_t cap)
{
    return strstr(v, "://") ? jd_secret_mask_url(v, buf, cap) : v;
}

void jd_config_print(const jd_config_t *cf, FILE *out)
{
    char url[4096];
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        const jd_config_key_t *ck = &jd_config_keys[i];
        const char *base = (const char *)cf + ck->ck_offset;
        if (ck->ck_type == JD_CFG_INT)
            fprintf(out, "%s: %d\n", ck->ck_name, *(const int *)base);
        else if (ck->ck_type == JD_CFG_NUM)
            fprintf(out, "%s: %.15g\n", ck->ck_name, *(const double *)(const void *)base);
        else
            fprintf(out, "%s: \"%s\"\n", ck->ck_name,
                    jd_secret_key(ck->ck_name) && **(char *const *)base
                        ? JD_SECRET_MASK
                        : jd_config_show(*(char *const *)base, url, sizeof url));
    }
    for (size_t i = 0; i < cf->cf_kafka_cnt; i++)
        fprintf(out, "kafka.%s: \"%s\"\n", cf->cf_kafka[i].kv_key,
                jd_secret_key(cf->cf_kafka[i].kv_key)
                    ? JD_SECRET_MASK
                    : jd_config_show(cf->cf_kafka[i].kv_val, url, sizeof url));
    for (size_t i = 0; i < cf->cf_schema_id_cnt; i++)
        fprintf(out, "schemas.ids.%s: \"%s\"\n", cf->cf_schema_ids[i].kv_key,
                cf->cf_schema_ids[i].kv_val);
    jd_mapping_print(cf->cf_mapping, out);
    jd_health_conf_print(&cf->cf_health, jd_config_print_health, out);
}
