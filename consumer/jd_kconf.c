/*
 * jd_kconf: jd_config_t -> rd_kafka_conf_t (contract in jd_kconf.h).
 *
 * The guarantees journeyd makes rest on three librdkafka settings that the
 * user must not be able to turn off by accident: the consumer stores offsets
 * only when told (enable.auto.offset.store=false: the pipeline stores a
 * message's offset after its state and triggers are acknowledged), and the
 * producer is idempotent with acks=all (a retried produce cannot duplicate
 * or reorder). They are therefore set after the user's properties, with
 * enable.partition.eof=true, whose notices tell the engine a partition
 * was read to its end (the group's caught-up clock, jd_engine.c).
 * Main thread, start-up only.
 */
#include "jd_kconf.h"

#include <string.h>

#include "jd_log.h"
#include "jd_ops.h"

static const char *const jd_kconf_consumer_only[] = {
    "group.id", "group.instance.id", "auto.offset.reset", "enable.auto.commit",
    "auto.commit.interval.ms", "enable.auto.offset.store", "session.timeout.ms",
    "heartbeat.interval.ms", "max.poll.interval.ms", "partition.assignment.strategy",
    "fetch.min.bytes", "fetch.max.bytes", "fetch.wait.max.ms",
    "max.partition.fetch.bytes", "queued.min.messages", "queued.max.messages.kbytes",
    "isolation.level", "enable.partition.eof", "check.crcs",
};

/* Producer properties journeyd sets by default: kept off the consumer
 * (librdkafka would warn that it ignores them). */
static const char *const jd_kconf_producer_only[] = {
    "linger.ms", "queue.buffering.max.ms",
};

static int jd_kconf_in(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0)
            return 1;
    return 0;
}

static int jd_kconf_is_consumer_only(const char *key)
{
    return jd_kconf_in(key, jd_kconf_consumer_only,
                       sizeof jd_kconf_consumer_only / sizeof *jd_kconf_consumer_only);
}

static int jd_kconf_is_producer_only(const char *key)
{
    return jd_kconf_in(key, jd_kconf_producer_only,
                       sizeof jd_kconf_producer_only / sizeof *jd_kconf_producer_only);
}

void jd_kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    jd_log_level_t lvl = level <= 3 ? JD_LOG_ERROR : level == 4 ? JD_LOG_WARN
                       : level <= 6 ? JD_LOG_INFO : JD_LOG_DEBUG;
    JD_LOG(lvl, "kafka", "%s: %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

int jd_kconf_set(rd_kafka_conf_t *conf, const char *key, const char *val,
                 jd_err_t *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "kafka.%s: %s", key, errstr);
    return 0;
}

rd_kafka_conf_t *jd_kconf_new(const jd_config_t *cf, jd_kconf_role_t role,
                              const char *bootstrap, jd_err_t *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;

    rd_kafka_conf_set_log_cb(conf, jd_kconf_log);

    for (size_t i = 0; i < cf->cf_kafka_cnt && !rc; i++) {
        const char *k = cf->cf_kafka[i].kv_key, *v = cf->cf_kafka[i].kv_val;
        if (role == JD_KCONF_PRODUCER && jd_kconf_is_consumer_only(k))
            continue;
        if (role != JD_KCONF_PRODUCER && jd_kconf_is_producer_only(k))
            continue;
        if (strcmp(k, "bootstrap.servers") == 0 && (bootstrap || !*v))
            continue;
        rc = jd_kconf_set(conf, k, v, err);
    }
    if (!rc && bootstrap)
        rc = jd_kconf_set(conf, "bootstrap.servers", bootstrap, err);
    if (!rc && role == JD_KCONF_CONSUMER) {
        rc = jd_kconf_set(conf, "enable.auto.offset.store", "false", err);
        if (!rc) /* end-of-partition notices: caught up */
            rc = jd_kconf_set(conf, "enable.partition.eof", "true", err);
        jd_ops_kconf(conf, cf);
    }
    if (!rc && role == JD_KCONF_PRODUCER) {
        rc = jd_kconf_set(conf, "enable.idempotence", "true", err);
        if (!rc)
            rc = jd_kconf_set(conf, "acks", "all", err);
    }
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int jd_kconf_check(const jd_config_t *cf, jd_err_t *err)
{
    static const jd_kconf_role_t roles[] = {JD_KCONF_CONSUMER, JD_KCONF_PRODUCER};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++) {
        rd_kafka_conf_t *conf = jd_kconf_new(cf, roles[i], NULL, err);
        if (!conf)
            return -1;
        rd_kafka_conf_destroy(conf);
    }
    return 0;
}
