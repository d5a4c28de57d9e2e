/*
 * jd_consumer: the group consumer of product events.
 *
 * Offsets are stored only by jd_consumer_store_offsets(), which the
 * pipeline calls after a batch's Redis writes and Kafka deliveries are
 * acknowledged;
 * librdkafka's auto-commit then commits stored offsets in the background,
 * and jd_consumer_close() commits synchronously. On a rebalance, stored
 * offsets are committed before partitions are given up; the pipeline
 * processes a batch completely before polling again, so nothing in flight
 * belongs to a revoked partition when the revoke is served. Both the eager
 * and the cooperative (cooperative-sticky) protocols are handled.
 *
 * Threads: every function from the pipeline thread.
 */
#ifndef JD_CONSUMER_H
#define JD_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "jd_config.h"
#include "jd_err.h"

typedef struct jd_consumer jd_consumer_t;

/* Subscribes to cf->cf_topics_input. `bootstrap` overrides the config's
 * servers when non-NULL. */
jd_consumer_t *jd_consumer_new(const jd_config_t *cf, const char *bootstrap,
                               jd_err_t *err);

/* Polls up to `max` messages: waits at most timeout_ms for the first, then
 * takes what is queued behind it without waiting. The caller owns the returned messages
 * and frees each with rd_kafka_message_destroy(). */
size_t jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                        int timeout_ms);

/* Stores the offsets given in tl (the next offset to read per partition;
 * entries below 0 are skipped). tl stays the caller's. */
int jd_consumer_store_offsets(jd_consumer_t *c, rd_kafka_topic_partition_list_t *tl,
                              jd_err_t *err);

/* Pauses every assigned partition (and any assigned later, until
 * jd_consumer_resume). Returns 1 when it paused, 0 when already paused. */
int jd_consumer_pause(jd_consumer_t *c);

/* While paused: serves the group (heartbeat, rebalances) for up to
 * timeout_ms. Returns early when an event arrives; call it in a loop. */
void jd_consumer_keepalive(jd_consumer_t *c, int timeout_ms);

/* Commits the stored offsets now and waits for the result, at most
 * timeout_ms. Returns 0 (nothing to commit included) or -1 (logged).
 * For leaving the group: call it last before jd_consumer_close, with no
 * offset stored after it (librdkafka's own commit when the partitions are
 * given up then commits nothing new, and its failure is logged at debug). */
int jd_consumer_commit_stored(jd_consumer_t *c, int timeout_ms);

/* Resumes what jd_consumer_pause paused; no-op when not paused. */
void jd_consumer_resume(jd_consumer_t *c);

/* Number of rebalance events (assign or revoke) served so far. */
unsigned jd_consumer_rebalances(const jd_consumer_t *c);

/* The partitions revoked since the previous call (even those assigned
 * again since), or NULL for none; the caller destroys the list. The
 * pipeline drops what it holds of them: another owner may have moved them
 * on meanwhile. */
rd_kafka_topic_partition_list_t *jd_consumer_take_revoked(jd_consumer_t *c);

/* Number of partitions currently assigned. */
int jd_consumer_assigned(const jd_consumer_t *c);

/* The partitions currently assigned (rd_kafka_assignment), or NULL;
 * the caller destroys the list. */
rd_kafka_topic_partition_list_t *jd_consumer_assignment(jd_consumer_t *c);

/* Every partition of the subscribed topics, assigned or not, with its
 * end (high watermark) offset in .offset: from the last fetch for the
 * assigned ones, asked of the brokers for the others (-1: unknown). The
 * caller destroys the list; NULL when the metadata cannot be read. */
rd_kafka_topic_partition_list_t *jd_consumer_ends(jd_consumer_t *c, int timeout_ms);
/* Commits stored offsets, leaves the group and frees; NULL is accepted. */
void jd_consumer_close(jd_consumer_t *c);

#endif
