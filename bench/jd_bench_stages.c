/*
 * jd_bench_stages: where the pipeline's wall time goes, batch by batch,
 * without touching the pipeline's code.
 *
 * jd_bench is linked with `-Wl,--wrap=SYMBOL` for the calls the state
 * engine (consumer/jd_batch.c, consumer/jd_outbound.c) makes into other
 * modules once per batch (or per record / outbound record): the linker
 * sends those calls to the __wrap_ functions below, which time the real
 * function (__real_) and add the time to the stage's counter. The object
 * code is the one journeyd ships; only the calls across module boundaries
 * are observed. Whatever is not inside a wrapped call (decoding, applying
 * and deciding, which are per event and too fine to time without cost,
 * the loop itself) is reported as "process_and_rest".
 *
 * The poll stage is the time spent in jd_consumer_poll (waiting for the
 * first message of a batch, up to pipeline.batch_timeout_ms) once
 * messages have started to flow; the poll that returned the first batch
 * (it includes the group join) is left out. kafka_wait_acks is the time
 * spent polling the producer for the acknowledgements of the group of
 * batches about to be written (pipeline.commit_interval_ms).
 *
 * Threads: the wrapped functions are called by the pipeline thread only;
 * jd_bench_stages_json is called after the pipeline has returned.
 */
#include "jd_bench.h"

#include <string.h>

#include "jd_consumer.h"
#include "jd_producer.h"
#include "jd_record.h"
#include "jd_store.h"

enum {
    JD_ST_POLL, JD_ST_LOAD, JD_ST_ENCODE, JD_ST_SEND, JD_ST_WAIT, JD_ST_WRITE, JD_ST_STORE,
    JD_ST__COUNT
};

static const char *const jd_bench_stage_names[JD_ST__COUNT] = {
    "poll_wait", "redis_load", "record_encode", "kafka_send", "kafka_wait_acks",
    "redis_write", "offsets_store"};

static double jd_bench_stage_s[JD_ST__COUNT];
static uint64_t jd_bench_stage_n[JD_ST__COUNT];
static int jd_bench_stage_started;

#define JD_BENCH_TIMED(stage, call)                    \
    do {                                               \
        double t0_ = jd_bench_now();                   \
        call;                                          \
        jd_bench_stage_s[stage] += jd_bench_now() - t0_; \
        jd_bench_stage_n[stage]++;                     \
    } while (0)

size_t __real_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms);
size_t __wrap_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms);
size_t __wrap_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms)
{
    double t0 = jd_bench_now();
    size_t n = __real_jd_consumer_poll(c, msgs, max, timeout_ms);
    if (jd_bench_stage_started) {
        jd_bench_stage_s[JD_ST_POLL] += jd_bench_now() - t0;
        jd_bench_stage_n[JD_ST_POLL]++;
    } else if (n) {
        jd_bench_stage_started = 1;
    }
    return n;
}

int __real_jd_store_load(jd_store_t *st, const char *const *ids, size_t n, jd_store_rec_t *recs,
                         jd_err_t *err);
int __wrap_jd_store_load(jd_store_t *st, const char *const *ids, size_t n, jd_store_rec_t *recs,
                         jd_err_t *err);
int __wrap_jd_store_load(jd_store_t *st, const char *const *ids, size_t n, jd_store_rec_t *recs,
                         jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_LOAD, rc = __real_jd_store_load(st, ids, n, recs, err));
    return rc;
}

int __real_jd_record_encode(const jd_account_t *ac, jd_buf_t *out, jd_err_t *err);
int __wrap_jd_record_encode(const jd_account_t *ac, jd_buf_t *out, jd_err_t *err);
int __wrap_jd_record_encode(const jd_account_t *ac, jd_buf_t *out, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_ENCODE, rc = __real_jd_record_encode(ac, out, err));
    return rc;
}

int __real_jd_producer_send(jd_producer_t *p, const char *topic, const char *key,
                            const void *payload, size_t len, const jd_header_t *hdrs,
                            size_t hdr_cnt, jd_delivery_t *dl, jd_err_t *err);
int __wrap_jd_producer_send(jd_producer_t *p, const char *topic, const char *key,
                            const void *payload, size_t len, const jd_header_t *hdrs,
                            size_t hdr_cnt, jd_delivery_t *dl, jd_err_t *err);
int __wrap_jd_producer_send(jd_producer_t *p, const char *topic, const char *key,
                            const void *payload, size_t len, const jd_header_t *hdrs,
                            size_t hdr_cnt, jd_delivery_t *dl, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_SEND, rc = __real_jd_producer_send(p, topic, key, payload, len, hdrs,
                                                            hdr_cnt, dl, err));
    return rc;
}

int __real_jd_producer_poll(jd_producer_t *p, int timeout_ms, jd_err_t *err);
int __wrap_jd_producer_poll(jd_producer_t *p, int timeout_ms, jd_err_t *err);
int __wrap_jd_producer_poll(jd_producer_t *p, int timeout_ms, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_WAIT, rc = __real_jd_producer_poll(p, timeout_ms, err));
    return rc;
}

int __real_jd_store_batch_send(jd_store_t *st, jd_store_batch_t *sb, jd_err_t *err);
int __wrap_jd_store_batch_send(jd_store_t *st, jd_store_batch_t *sb, jd_err_t *err);
int __wrap_jd_store_batch_send(jd_store_t *st, jd_store_batch_t *sb, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_WRITE, rc = __real_jd_store_batch_send(st, sb, err));
    return rc;
}

int __real_jd_consumer_store_offsets(jd_consumer_t *c, rd_kafka_topic_partition_list_t *tl,
                                     jd_err_t *err);
int __wrap_jd_consumer_store_offsets(jd_consumer_t *c, rd_kafka_topic_partition_list_t *tl,
                                     jd_err_t *err);
int __wrap_jd_consumer_store_offsets(jd_consumer_t *c, rd_kafka_topic_partition_list_t *tl,
                                     jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_STORE, rc = __real_jd_consumer_store_offsets(c, tl, err));
    return rc;
}

void jd_bench_stages_json(double wall_s, char *buf, size_t cap)
{
    double sum = 0;
    size_t n = (size_t)snprintf(buf, cap, "{");
    for (int i = 0; i < JD_ST__COUNT && n < cap; i++) {
        sum += jd_bench_stage_s[i];
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":[%.4f,%llu]", i ? "," : "",
                              jd_bench_stage_names[i], jd_bench_stage_s[i],
                              (unsigned long long)jd_bench_stage_n[i]);
    }
    if (n < cap)
        snprintf(buf + n, cap - n, ",\"process_and_rest\":[%.4f,0]}",
                 wall_s > sum ? wall_s - sum : 0.0);
}
