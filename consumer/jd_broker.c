/*
 * jd_broker: librdkafka's mock cluster as journeyd's embedded Kafka.
 *
 * rd_kafka_mock_cluster_new() needs an rd_kafka_t to hang off; a producer
 * handle with no bootstrap servers serves, and must outlive the cluster.
 * Topics are created explicitly (the mock has no admin API) so consumers
 * that subscribe before anything is produced see every partition.
 *
 * TCP_NODELAY. Real Kafka brokers disable Nagle's algorithm on their
 * sockets; librdkafka 2.0.2's mock leaves it on. Walk through a trigger
 * publish: the producer has produce requests for several partitions in
 * flight on one connection; the mock answers the first, and its answer to
 * the second is a small write behind an unacknowledged one, so the kernel
 * holds it until the client's delayed ACK, ~40 ms later. Every batch that
 * publishes triggers then waits ~40-50 ms in rd_kafka_flush (measured with
 * bench/run.sh: 48 ms per such batch, 3-8 ms without Nagle). The mock has
 * no socket option hook, so this file defines accept(): the dynamic
 * linker binds librdkafka's call to it (the executable comes first), and
 * once a cluster has been started in this process every accepted TCP
 * connection gets TCP_NODELAY. Before that it is accept4(..., 0), which is
 * what glibc's accept() does.
 */
#include "jd_broker.h"

#include "jd_kconf.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct jd_broker {
    rd_kafka_t              *bk_rk;
    rd_kafka_mock_cluster_t *bk_mcluster;
};

static volatile int jd_broker_nodelay;

int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int s = accept4(fd, addr, len, 0);
    if (s >= 0 && jd_broker_nodelay) {
        int one = 1;
        (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* not TCP: ignored */
    }
    return s;
}

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
                         cf->cf_topic_expansion, cf->cf_topic_stage, cf->cf_topic_shadow,
                         cf->cf_topic_outcomes, cf->cf_topic_repartition};
    for (size_t i = 0; i < sizeof out / sizeof *out; i++)
        if (out[i][0] && jd_broker_topic(b, out[i], partitions, err))
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
    jd_broker_nodelay = 1;
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
