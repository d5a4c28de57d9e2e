/*
 * jd_producer: the idempotent producer that publishes triggers and
 * dead-letter records.
 *
 * Delivery is tracked per message: jd_producer_send() takes a caller-owned
 * jd_delivery_t that the delivery report fills in; jd_producer_wait() blocks
 * until every outstanding message is reported (or the timeout passes).
 * When librdkafka raises a fatal error (librdkafka 2.0.2's idempotent
 * producer can, after broker timeouts), the producer is rebuilt in place and
 * everything still outstanding is reported failed, so the caller re-sends
 * it; trigger ids make a re-send an identical copy.
 *
 * Threads: send/wait from one thread; delivery reports run inside wait().
 */
#ifndef JD_PRODUCER_H
#define JD_PRODUCER_H

#include <stddef.h>

#include "jd_config.h"
#include "jd_err.h"

typedef struct jd_delivery {
    int dl_done;   /* set to 1 when reported */
    int dl_err;    /* rd_kafka_resp_err_t, 0 = acknowledged */
} jd_delivery_t;

typedef struct jd_header {
    const char *hd_name;
    const void *hd_value;
    size_t      hd_len;
} jd_header_t;

typedef struct jd_producer jd_producer_t;

jd_producer_t *jd_producer_new(const jd_config_t *cf, const char *bootstrap,
                               jd_err_t *err);
void jd_producer_destroy(jd_producer_t *p);

/* Queues one message (payload and key are copied). `dl` (or NULL when the
 * caller does not track this message) must stay valid until
 * jd_producer_wait() has reported it. Returns 0, or JD_ERR_RETRY
 * when the local queue is full or the producer failed (dl is then marked
 * failed). */
int jd_producer_send(jd_producer_t *p, const char *topic, const char *key,
                     const void *payload, size_t len, const jd_header_t *hdrs,
                     size_t hdr_cnt, jd_delivery_t *dl, jd_err_t *err);

/* jd_producer_send to one partition (RD_KAFKA_PARTITION_UA: the
 * partitioner's choice). */
int jd_producer_send_to(jd_producer_t *p, const char *topic, int32_t partition,
                        const char *key, const void *payload, size_t len,
                        const jd_header_t *hdrs, size_t hdr_cnt, jd_delivery_t *dl,
                        jd_err_t *err);

/* Partitions of topic as the cluster's metadata says (waits up to
 * timeout_ms): > 0, or 0 with err set (unknown topic, no answer). */
int jd_producer_partitions(jd_producer_t *p, const char *topic, int timeout_ms,
                           jd_err_t *err);

/* Best effort, before the first send: fetches the metadata of `topics`
 * (n names) so the first batch does not pay for the topic lookups (~0.6 s
 * on the embedded cluster, measured by bench/run.sh). Blocks up to
 * timeout_ms per topic, and stops at the first timeout; failures are only
 * logged (sends look the topics up again). Pipeline thread. */
void jd_producer_warm(jd_producer_t *p, const char *const *topics, size_t n,
                      int timeout_ms);

/* Waits for every outstanding delivery report. Returns the number of
 * messages reported failed since the previous wait (0 = all delivered):
 * failed deliveries, and tracked messages (dl != NULL) that send() could
 * not queue; or JD_ERR_RETRY on timeout. */
int jd_producer_wait(jd_producer_t *p, int timeout_ms, jd_err_t *err);

/* Serves the delivery reports that arrive within timeout_ms (returning at
 * the first), without waiting for the rest of the queue: the caller checks
 * its own jd_delivery_t slots. Returns the number of failures reported
 * since the previous wait or poll, or JD_ERR_FATAL when the producer
 * could not be rebuilt after a fatal error. */
int jd_producer_poll(jd_producer_t *p, int timeout_ms, jd_err_t *err);

#endif
