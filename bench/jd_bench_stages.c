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
 * The poll wrapper also notes each message's input lag (the wall clock
 * when the poll returned it minus its Kafka timestamp, which the bench
 * producer's librdkafka sets at produce time: the producer's linger, the
 * broker, the fetch and the wait in the consumer's queue) and each
 * batch's time (from the poll that returned it to the next poll: its
 * processing, during which its triggers are sent). Both are reported as
 * p50/p99 (input_lag_ms; batch_ms over batches, batch_ms_per_message
 * over the messages they held), next to event-to-trigger latency
 * (jd_bench latency) they split it into the hop in and journeyd's share.
 *
 * writer_wait is the pipeline thread's wait for the writer thread (a
 * group's write landing) and settle the engine's jd_batch_settle calls
 * (a poll that returned nothing: the open group is written at once);
 * both contain calls timed in other stages and are not subtracted from
 * process_and_rest. idle_ends is the engine's jd_consumer_ends (the end
 * offsets, asked every 500 ms while caught up: idle timers).
 *
 * Threads: the wrapped functions are called by every pipeline thread
 * (pipeline.threads) and the writer threads; the counters and samples are
 * shared under one lock (taken once per call, not per event), what
 * belongs to one pipeline's poll loop is thread-local. With N pipeline
 * threads the stage seconds are summed over them, and process_and_rest
 * is N x the wall time less that sum. jd_bench_stages_json is called
 * after the pipeline has returned.
 */
#include "jd_bench.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jd_batch.h"
#include "jd_consumer.h"
#include "jd_producer.h"
#include "jd_record.h"
#include "jd_store.h"
#include "jd_writer.h"

enum {
    JD_ST_POLL, JD_ST_LOAD, JD_ST_ENCODE, JD_ST_SEND, JD_ST_WAIT, JD_ST_WRITE, JD_ST_STORE,
    JD_ST_WRITER_WAIT, JD_ST_SETTLE, JD_ST_ENDS, JD_ST__COUNT
};

static const char *const jd_bench_stage_names[JD_ST__COUNT] = {
    "poll_wait", "redis_load", "record_encode", "kafka_send", "kafka_wait_acks",
    "redis_write", "offsets_store", "writer_wait", "settle", "idle_ends"};

static pthread_mutex_t jd_bench_stage_lock = PTHREAD_MUTEX_INITIALIZER;
static double jd_bench_stage_s[JD_ST__COUNT];
static uint64_t jd_bench_stage_n[JD_ST__COUNT];
static _Thread_local int jd_bench_stage_started;

/* samples of input lag per message and of batch time, in ms */
typedef struct jd_bench_samples {
    double *sm_v;
    size_t  sm_n, sm_cap;
} jd_bench_samples_t;
static jd_bench_samples_t jd_bench_lag, jd_bench_batch, jd_bench_batch_msg;
static _Thread_local double jd_bench_poll_end;
static _Thread_local size_t jd_bench_poll_n;

/* Adds dt to a stage; any thread. */
static void jd_bench_stage_add(int stage, double dt)
{
    pthread_mutex_lock(&jd_bench_stage_lock);
    jd_bench_stage_s[stage] += dt;
    jd_bench_stage_n[stage]++;
    pthread_mutex_unlock(&jd_bench_stage_lock);
}

/* Under jd_bench_stage_lock. */
static void jd_bench_sample(jd_bench_samples_t *sm, double v)
{
    if (sm->sm_n == sm->sm_cap) {
        size_t cap = sm->sm_cap ? 2 * sm->sm_cap : 65536;
        double *nv = realloc(sm->sm_v, cap * sizeof *nv);
        if (!nv)
            return;
        sm->sm_v = nv;
        sm->sm_cap = cap;
    }
    sm->sm_v[sm->sm_n++] = v;
}

static void jd_bench_lags(rd_kafka_message_t **msgs, size_t n)
{
    double now_ms = (double)jd_bench_wall_us() / 1000.0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_timestamp_type_t tt;
        int64_t ts = msgs[i]->err ? -1 : rd_kafka_message_timestamp(msgs[i], &tt);
        if (ts > 0) {
            pthread_mutex_lock(&jd_bench_stage_lock);
            jd_bench_sample(&jd_bench_lag, now_ms - (double)ts);
            pthread_mutex_unlock(&jd_bench_stage_lock);
        }
    }
}

#define JD_BENCH_TIMED(stage, call)                    \
    do {                                               \
        double t0_ = jd_bench_now();                   \
        call;                                          \
        jd_bench_stage_add(stage, jd_bench_now() - t0_); \
    } while (0)

size_t __real_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms);
size_t __wrap_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms);
size_t __wrap_jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                               int timeout_ms)
{
    double t0 = jd_bench_now();
    if (jd_bench_stage_started && jd_bench_poll_end > 0) {
        double ms = (t0 - jd_bench_poll_end) * 1000.0;
        pthread_mutex_lock(&jd_bench_stage_lock);
        jd_bench_sample(&jd_bench_batch, ms);
        for (size_t i = 0; i < jd_bench_poll_n; i++)
            jd_bench_sample(&jd_bench_batch_msg, ms);
        pthread_mutex_unlock(&jd_bench_stage_lock);
    }
    size_t n = __real_jd_consumer_poll(c, msgs, max, timeout_ms);
    if (jd_bench_stage_started) {
        jd_bench_stage_add(JD_ST_POLL, jd_bench_now() - t0);
    } else if (n) {
        jd_bench_stage_started = 1;
    }
    jd_bench_poll_end = n ? jd_bench_now() : 0;
    jd_bench_poll_n = n;
    if (n)
        jd_bench_lags(msgs, n);
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

int __real_jd_writer_wait(jd_writer_t *w, jd_err_t *err);
int __wrap_jd_writer_wait(jd_writer_t *w, jd_err_t *err);
int __wrap_jd_writer_wait(jd_writer_t *w, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_WRITER_WAIT, rc = __real_jd_writer_wait(w, err));
    return rc;
}

int __real_jd_batch_settle(jd_batch_t *bt);
int __wrap_jd_batch_settle(jd_batch_t *bt);
int __wrap_jd_batch_settle(jd_batch_t *bt)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_SETTLE, rc = __real_jd_batch_settle(bt));
    return rc;
}

rd_kafka_topic_partition_list_t *__real_jd_consumer_ends(jd_consumer_t *c, int timeout_ms);
rd_kafka_topic_partition_list_t *__wrap_jd_consumer_ends(jd_consumer_t *c, int timeout_ms);
rd_kafka_topic_partition_list_t *__wrap_jd_consumer_ends(jd_consumer_t *c, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *tl;
    JD_BENCH_TIMED(JD_ST_ENDS, tl = __real_jd_consumer_ends(c, timeout_ms));
    return tl;
}

void jd_bench_stages_json(double wall_s, char *buf, size_t cap)
{
    double sum = 0;
    size_t n = (size_t)snprintf(buf, cap, "{");
    for (int i = 0; i < JD_ST__COUNT && n < cap; i++) {
        if (i < JD_ST_WRITER_WAIT) /* the last two contain calls timed above */
            sum += jd_bench_stage_s[i];
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\":[%.4f,%llu]", i ? "," : "",
                              jd_bench_stage_names[i], jd_bench_stage_s[i],
                              (unsigned long long)jd_bench_stage_n[i]);
    }
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, ",\"process_and_rest\":[%.4f,0]",
                              wall_s > sum ? wall_s - sum : 0.0);
    jd_bench_samples_t *sm[3] = {&jd_bench_lag, &jd_bench_batch, &jd_bench_batch_msg};
    const char *name[3] = {"input_lag_ms", "batch_ms", "batch_ms_per_message"};
    for (int i = 0; i < 3 && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, ",\"%s\":[%.1f,%.1f,%zu]", name[i],
                              sm[i]->sm_n ? jd_bench_quantile(sm[i]->sm_v, sm[i]->sm_n, 0.5) : 0,
                              sm[i]->sm_n ? jd_bench_quantile(sm[i]->sm_v, sm[i]->sm_n, 0.99) : 0,
                              sm[i]->sm_n);
    if (n < cap)
        snprintf(buf + n, cap - n, "}");
}
