/*
 * jd_batch: one batch of the state engine's cycle, from polled messages
 * to stored offsets.
 *
 *   1. partitions given up since the last batch are forgotten (their
 *      records leave the cache); newly assigned ones are claimed in Redis
 *      (a new ownership epoch, the stored clock, the deadline index);
 *   2. every message is decoded (undecodable ones are dead-lettered); with
 *      topics.repartition, a message of an input topic is forwarded there,
 *      keyed by its account, and goes no further: the state is computed
 *      from the repartition topic's messages, in which every account has
 *      one partition;
 *   3. the accounts the batch touches and that are not cached, and those
 *      its timers will wake, are read from Redis in one round trip;
 *   4. in partition order, each message first lets its partition's clock
 *      fire the timers it passes, then its event is applied and decided
 *      (jd_step); triggers and stage events are sent as they are decided;
 *      an event or timer at or below an account's stored position is a
 *      replay and is skipped;
 *   then the batch joins the open group: the batches processed in one
 *   commit interval (pipeline.commit_interval_ms). Once the group is due
 *   (checked between batches, consumer/jd_commit.c), every account it
 *   changed is encoded once as one record with the partition position it
 *   includes, each partition's clock, position and deadline changes with
 *   it, and the group completes while the next one is processed:
 *   5. every record it published is awaited (most acknowledgements came
 *      in while it was open; those are retired batch by batch);
 *   6. its records and partition entries are written by the writer
 *      thread, fenced by each partition's epoch;
 *   7. its offsets are stored.
 * Triggers go out as they are decided; Redis follows within about one
 * interval, and nothing is stored before it was published.
 * A crash anywhere replays from the stored offsets: what was written is
 * skipped by position, what was not is decided again, giving the same
 * trigger ids. docs/reliability.md walks through each crash point.
 *
 * Ownership: jd_batch_t borrows everything in jd_batch_conf_t; it owns the
 * account cache, the partition table and the per-batch arrays. Pipeline
 * thread only.
 */
#ifndef JD_BATCH_H
#define JD_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_codec.h"
#include "jd_config.h"
#include "jd_consumer.h"
#include "jd_outbound.h"
#include "jd_outcomes.h"
#include "jd_pipeline.h"
#include "jd_rules.h"
#include "jd_store.h"
#include "jd_wait.h"
#include "jd_writer.h"

typedef struct jd_batch_conf {
    const jd_config_t   *bc_cf;
    const jd_ruleset_t  *bc_rs;
    jd_pipeline_stats_t *bc_stats;
    jd_wait_t           *bc_wait;
    jd_consumer_t       *bc_consumer;
    jd_outbound_t       *bc_out;
    jd_decoder_t        *bc_decoder;
    jd_store_t          *bc_store;
    jd_writer_t         *bc_writer;     /* sends the records (jd_batch_run) */
    jd_outcomes_t       *bc_outcomes;   /* may be NULL */
    int32_t              bc_repartition; /* partitions of topics.repartition;
                                            0: the input is keyed by account */
} jd_batch_conf_t;

typedef struct jd_batch jd_batch_t;

/* NULL with err set (out of memory). */
jd_batch_t *jd_batch_new(const jd_batch_conf_t *conf, jd_err_t *err);
void jd_batch_destroy(jd_batch_t *bt);

/* Launches the open group when it is due, then runs the messages
 * msgs[0..n) (borrowed; the caller frees them, they are not needed after
 * the call) through steps 1 to 4; the batch joins the open group. ended:
 * the input ends with this batch (run --max-events): the timers then run
 * to the latest event time read, and everything completes. Returns 0,
 * JD_ERR_RETRY when a stop gave the batches up (replayed by the next run:
 * the group in flight and the open one), JD_ERR_FATAL. */
int jd_batch_run(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n, int ended);

/* Completes the open group and the one in flight, if any (steps 5 to 7),
 * waiting for their acknowledgements and writes: called before stopping
 * and before idle timers, so what was read is stored. Same returns as
 * jd_batch_run. */
int jd_batch_settle(jd_batch_t *bt);

/* A poll that returned nothing: the open group and the write in flight
 * move on as between two batches (the group is written once it is due,
 * a finished write is landed and its offsets stored), without waiting
 * for Redis or Kafka, so the next message is taken as soon as it comes.
 * Partitions given up since the last batch are the exception: everything
 * before them is completed first, as jd_batch_run does. Same returns as
 * jd_batch_run. */
int jd_batch_idle(jd_batch_t *bt);

/* 1 when every batch processed is written and its offsets stored. */
int jd_batch_quiet(const jd_batch_t *bt);

/* Between batches, when no message came: lets every owned partition's
 * clock reach `upto` (ms, a clock: an event time minus the lateness; the
 * group's latest clock once the input is read to its end, or the wall
 * clock's) and runs the timers it passes, as a batch
 * of no messages. 0 or a negative jd_err class. */
int jd_batch_timers(jd_batch_t *bt, int64_t upto);

/* 1 when every partition assigned to this instance was read to its end
 * and nothing came after (the consumer's end-of-partition events). */
int jd_batch_caught_up(jd_batch_t *bt);

/* The latest event time read by this instance (JD_PARTS_NO_CLOCK: none). */
int64_t jd_batch_latest(const jd_batch_t *bt);

#endif
