/*
 * jd_outbound: the Kafka records one batch produces (triggers, journey
 * stage events, dead letters), sent as they are decided and awaited
 * before the batch's state is written.
 *
 * Every record is queued to the producer the moment it is decided (so the
 * event-to-trigger latency is the decision plus the producer's linger, not
 * the batch), with a delivery slot of its own. jd_outbound_flush waits for
 * every slot; a failed delivery is re-sent (the same bytes: trigger ids are
 * deterministic, so a re-send is an identical copy), a delivery still in
 * flight after a timeout is waited for again and never re-sent, and a
 * dead letter is re-sent like a trigger: nothing is dropped and nothing
 * acknowledged is sent twice. Only when everything is acknowledged does
 * the batch write its records and store its offsets.
 *
 * A record is held (its payload, key and delivery slot, ~1 KB plus the
 * payload) only until it is acknowledged; triggers and stage events are
 * counted and printed when they are sent.
 *
 * Ownership: jd_outbound_t owns the encoded payloads and copies of the
 * dead-lettered messages' bytes; it borrows the configuration, producer,
 * codecs, framing ids, stats and the output stream. Pipeline thread only.
 */
#ifndef JD_OUTBOUND_H
#define JD_OUTBOUND_H

#include <librdkafka/rdkafka.h>
#include <stdio.h>

#include "jd_codec.h"
#include "jd_config.h"
#include "jd_err.h"
#include "jd_pipeline.h"
#include "jd_producer.h"
#include "jd_registry.h"
#include "jd_rules.h"
#include "jd_stage.h"
#include "jd_wait.h"

/* Where a decision came from: the message, or ("", -1, -1) for a timer. */
typedef struct jd_src {
    const char *sr_topic;
    int32_t     sr_partition;
    int64_t     sr_offset;
} jd_src_t;

typedef struct jd_outbound jd_outbound_t;

typedef struct jd_outbound_conf {
    const jd_config_t       *oc_cf;
    const jd_ruleset_t      *oc_rs;
    jd_producer_t           *oc_producer;
    jd_encoder_t            *oc_encoder;
    jd_stage_codec_t        *oc_stage;
    const jd_registry_ids_t *oc_ids;
    jd_pipeline_stats_t     *oc_stats;
    FILE                    *oc_print;   /* one line per record, or NULL */
} jd_outbound_conf_t;

/* NULL when out of memory. conf is copied (its pointers borrowed). */
jd_outbound_t *jd_outbound_new(const jd_outbound_conf_t *conf);
void jd_outbound_destroy(jd_outbound_t *ob);

/* Encodes and sends one decided trigger (a shadow trigger without a shadow
 * topic is only counted and printed). 0 or a negative jd_err class. */
int jd_outbound_trigger(jd_outbound_t *ob, const jd_trigger_t *tr, const jd_src_t *src);

/* Builds, encodes and sends the stage event of a journey change. */
int jd_outbound_stage(jd_outbound_t *ob, const char *account,
                      const jd_signals_change_t *ch, const jd_signals_t *sg,
                      const jd_src_t *src);

/* Sends message m (undecodable: derr says why) to the dead-letter topic,
 * with the reason and source in headers; counts it. */
int jd_outbound_dead_letter(jd_outbound_t *ob, const rd_kafka_message_t *m,
                            const jd_err_t *derr);

/* Forwards input message m unchanged to topics.repartition, keyed by its
 * account, to partition (the state is computed from there). */
int jd_outbound_forward(jd_outbound_t *ob, const rd_kafka_message_t *m, const char *account,
                        int32_t partition);

/* Records queued in this batch. */
size_t jd_outbound_count(const jd_outbound_t *ob);

/* Waits until every record held is acknowledged, re-sending failures
 * only. 0; JD_ERR_RETRY when a stop gave up; JD_ERR_FATAL. (Triggers and
 * stage events are counted and printed as they are sent.) */
int jd_outbound_flush(jd_outbound_t *ob, jd_wait_t *wt);

/* jd_outbound_flush for the first n records only: waits for their
 * acknowledgements by polling the producer, without waiting for the
 * records queued after them, re-sends their failures, then forgets them;
 * the later records move to the front. Same returns as
 * jd_outbound_flush. */
int jd_outbound_flush_first(jd_outbound_t *ob, size_t n, jd_wait_t *wt);

/* 1 when the first n records are all acknowledged, after serving the
 * delivery reports that are in (no wait). */
int jd_outbound_acked_first(jd_outbound_t *ob, size_t n);

/* Forgets the longest run of records, from the first,
 * that are all acknowledged (after serving the delivery reports that are
 * in, no wait), so the records held are only those still in flight.
 * Returns how many. */
size_t jd_outbound_retire(jd_outbound_t *ob);

/* Forgets the batch's records (after the flush, or when it is given up). */
void jd_outbound_reset(jd_outbound_t *ob);

#endif
