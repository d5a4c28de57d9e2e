/*
 * jd_broker: the embedded Kafka cluster (librdkafka's in-process mock).
 *
 * For demos, tests and the bench only: in memory, no SSL/SASL, a bounded
 * log per partition. It is served by librdkafka's own threads; the handle
 * just keeps it alive. jd_broker_new returns an object owned by the caller,
 * freed with jd_broker_destroy (which accepts NULL).
 */
#ifndef JD_BROKER_H
#define JD_BROKER_H

#include "jd_config.h"
#include "jd_err.h"

typedef struct jd_broker jd_broker_t;

/* Starts a mock cluster of `brokers` brokers and creates the input,
 * dead-letter and trigger topics of `cf` with `partitions` partitions. */
jd_broker_t *jd_broker_new(const jd_config_t *cf, int brokers, int partitions,
                           jd_err_t *err);

/* "127.0.0.1:PORT,..." valid while the broker lives. */
const char *jd_broker_bootstraps(const jd_broker_t *b);

/* The mock cluster itself, for fault injection (jd_faults); owned by b. */
struct rd_kafka_mock_cluster_s *jd_broker_mock(jd_broker_t *b);

void jd_broker_destroy(jd_broker_t *b);

#endif
