/*
 * jd_broker: librdkafka's mock cluster as journeyd's embedded Kafka.
 *
 * rd_kafka_mock_cluster_new() needs an rd_kafka_t to hang off; a producer
 * handle with no bootstrap servers serves, and must outlive the cluster.
 * Topics are created explicitly (the mock has no admin API) so consumers
 * that subscribe before anything is produced see every partition.
 */
#include "jd_broker.h"

#include "jd_kconf.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

struct jd_broker {
    rd_kafka_t              *bk_rk;
    rd_kafka_mock_cluster_t *bk_mcluster;
};

static int jd_broker_topic(jd_broker_t *b, const char *topic, int partitions,
                           jd_err_t *err)
{
    rd_kafka_resp_err_t e =
        rd_kafka_mock_topic_create(b->bk_mcluster, topic, partitions, 1);
    if (e)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA,
                          "embedded cluster: cannot create topic %s: %s", topic,
                          rd_kafka_err2str(e));
    return 0;
}

static int jd_broker_topics(jd_broker_t *b, const jd_config_t *cf, int partitions,
                            jd_err_t *err)
{
    char list[4096];
    snprintf(list, sizeof list, "%s", cf->cf_topics_input);
    for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if (jd_broker_topic(b, t, partitions, err))
            return -1;
    const char *out[] = {cf->cf_topic_dlq, cf->cf_topic_risk, cf->cf_topic_renewal,
                         cf->cf_topic_expansion, cf->cf_topic_stage};
    for (size_t i = 0; i < sizeof out / sizeof *out; i++)
        if (jd_broker_topic(b, out[i], partitions, err))
            return -1;
    return 0;
}

jd_broker_t *jd_broker_new(const jd_config_t *cf, int brokers, int partitions,
                           jd_err_t *err)
{
    char errstr[512];
    jd_broker_t *b = calloc(1, sizeof *b);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (!b) {
        rd_kafka_conf_destroy(conf);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_conf_set_log_cb(conf, jd_kconf_log);
    b->bk_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!b->bk_rk) {
        rd_kafka_conf_destroy(conf);
        jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "embedded cluster: %s", errstr);
        free(b);
        return NULL;
    }
    b->bk_mcluster = rd_kafka_mock_cluster_new(b->bk_rk, brokers);
    if (!b->bk_mcluster) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "embedded cluster: cannot start");
        jd_broker_destroy(b);
        return NULL;
    }
    if (jd_broker_topics(b, cf, partitions, err)) {
        jd_broker_destroy(b);
        return NULL;
    }
    return b;
}

const char *jd_broker_bootstraps(const jd_broker_t *b)
{
    return rd_kafka_mock_cluster_bootstraps(b->bk_mcluster);
}

rd_kafka_mock_cluster_t *jd_broker_mock(jd_broker_t *b)
{
    return b->bk_mcluster;
}

void jd_broker_destroy(jd_broker_t *b)
{
    if (!b)
        return;
    if (b->bk_mcluster)
        rd_kafka_mock_cluster_destroy(b->bk_mcluster);
    if (b->bk_rk)
        rd_kafka_destroy(b->bk_rk);
    free(b);
}
