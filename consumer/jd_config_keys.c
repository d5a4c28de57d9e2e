/*
 * jd_config_keys: the key table of jd_config (jd_config_int.h): every
 * typed key journeyd knows, with its type, default (as text), bounds or
 * choices and the one line of documentation `journeyd config keys` and
 * docs/configuration.md print; and the librdkafka properties journeyd sets
 * unless the user does, each with the reason for its value.
 *
 * Data only: adding a key means a field in jd_config_t and a row here;
 * the loaders, validation of its type and the docs follow from the row.
 * The tables are constant: any thread may read them.
 */
#include "jd_config_int.h"

#include <limits.h>

const jd_config_key_t jd__config_keys[] = {
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
    {"cloudevents.source", JD_CFG_STR, "", JD_OFF(cf_ce_source), 0, 0, NULL,
     "CloudEvents `source` of every trigger, stage event and dead letter (the ce_source "
     "header; a URI reference, printable ASCII). Empty: /journeyd/<kafka group.id>."},
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
    {"schemas.registry.bearer_token", JD_CFG_STR, "", JD_OFF(cf_registry_bearer), 0, 0, NULL,
     "Registry bearer token (HTTP Authorization: Bearer), instead of basic auth; better from "
     "JOURNEYD_SCHEMAS_REGISTRY_BEARER_TOKEN or schemas.registry.bearer_token_file."},
    {"schemas.registry.bearer_token_file", JD_CFG_STR, "", JD_OFF(cf_registry_bearer_file), 0, 0,
     NULL, "File whose first line is the registry bearer token; mode 0600 or 0400 (a file "
     "readable by group or others is refused)."},
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
     NULL, "1: register trigger_event.avsc for each trigger topic and journey_stage.avsc for "
     "the stage topic at start-up, under the subjects of schemas.registry.subject_strategy, and "
     "frame with the ids returned; 0: use schemas.trigger_schema_id and "
     "schemas.stage_schema_id."},
    {"schemas.registry.subject_strategy", JD_CFG_STR, "topic", JD_OFF(cf_registry_subject_strategy),
     0, 0, "topic|record|topic_record",
     "Subjects the outbound schemas are registered under, as the Confluent serializers name "
     "them: topic `<topic>-value` (TopicNameStrategy), record the record's full name "
     "`journeyd.TriggerEvent` (RecordNameStrategy), topic_record "
     "`<topic>-journeyd.TriggerEvent` (TopicRecordNameStrategy)."},
    {"schemas.registry.input_subjects", JD_CFG_LIST, "", JD_OFF(cf_registry_input_subjects), 0,
     0, NULL, "Input subjects (list of SUBJECT or SUBJECT@VERSION, default latest) whose "
     "writer schemas are looked up by subject and version at start-up and known before the "
     "first message (no fetch by id for them); e.g. product-events-value."},
    {"schemas.registry.plain_subject", JD_CFG_STR, "", JD_OFF(cf_registry_plain_subject), 0, 0,
     NULL, "SUBJECT or SUBJECT@VERSION whose writer schema reads plain (unframed) Avro "
     "messages, looked up at start-up; empty: plain messages are product_event.avsc."},
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
    {"state.lateness_days", JD_CFG_INT, "7", JD_OFF(cf_lateness_days), 1, 3650, NULL,
     "Allowed lateness: days up to the as-of day whose event ids are kept, so that a "
     "duplicate of them is recognised (at most state.retention_days). A usage event of an "
     "earlier day is too late: it counts in no window (the other days of the retention keep "
     "only their counts)."},
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
     "Memory journeyd's heap may hold (MiB): the account records, the partitions' deadline "
     "indexes and, as the allocator reports them, librdkafka's prefetched messages and the "
     "writes in flight; clean records past it are evicted least recently used first and read "
     "again from Redis (they keep at least 1/8 of it, docs/state.md)."},
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
    {"pipeline.threads", JD_CFG_INT, "1", JD_OFF(cf_threads), 1, 64, NULL,
     "Pipeline threads: each is a member of the consumer group with its own partitions, "
     "account cache (an equal share of state.cache_mb), Redis connection and producer, as "
     "separate instances would be, so the input must be keyed by account (or "
     "topics.repartition set). About one per core journeyd may use; more threads than input "
     "partitions leave some idle."},
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

const size_t jd__config_nkeys = sizeof jd__config_keys / sizeof jd__config_keys[0];

/* librdkafka properties journeyd sets unless the user does. */
const char *const jd__config_kafka_defaults[][2] = {
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

const size_t jd__config_nkafka_defaults =
    sizeof jd__config_kafka_defaults / sizeof jd__config_kafka_defaults[0];
