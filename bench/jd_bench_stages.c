/*
 * jd_bench_stages: where the pipeline's wall time goes, batch by batch,
 * without touching the pipeline's code.
 *
 * jd_bench is linked with `-Wl,--wrap=SYMBOL` for the calls jd_pipeline.c
 * makes into other modules once per batch (or per account / trigger): the
 * linker sends those calls to the __wrap_ functions below, which time the
 * real function (__real_) and add the time to the stage's counter. The
 * pipeline object code is the one journeyd ships; only the calls across
 * module boundaries are observed. Whatever is not inside a wrapped call
 * (decoding, which is per event and too fine to time without cost, grouping
 * by account, the loop itself) is reported as "decode_and_rest".
 *
 * The poll stage is the time spent waiting in rd_kafka_consume_batch_queue
 * for a batch to fill (up to pipeline.batch_timeout_ms) once messages have
 * started to flow; the poll that returned the first batch (it includes the
 * group join) is left out.
 *
 * Threads: the wrapped functions are called by the pipeline thread only;
 * jd_bench_stages_json is called after the pipeline has returned.
 */
#include "jd_bench.h"

#include <string.h>

#include "jd_consumer.h"
#include "jd_producer.h"
#include "jd_rules.h"
#include "jd_state.h"

enum {
    JD_ST_POLL, JD_ST_APPLY, JD_ST_DECIDE, JD_ST_ENCODE, JD_ST_COMMIT, JD_ST_SEND,
    JD_ST_WAIT, JD_ST_ACK, JD_ST_STORE, JD_ST__COUNT
};

static const char *const jd_bench_stage_names[JD_ST__COUNT] = {
    "poll_wait", "redis_apply", "rules_decide", "trigger_encode", "redis_commit",
    "kafka_send", "kafka_wait_acks", "redis_outbox_ack", "offsets_store"};

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

int __real_jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                          const char *const *rule_ids, size_t rule_cnt, jd_err_t *err);
int __wrap_jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                          const char *const *rule_ids, size_t rule_cnt, jd_err_t *err);
int __wrap_jd_state_apply(jd_state_t *st, jd_account_batch_t *abs, size_t n,
                          const char *const *rule_ids, size_t rule_cnt, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_APPLY, rc = __real_jd_state_apply(st, abs, n, rule_ids, rule_cnt, err));
    return rc;
}

size_t __real_jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                              const jd_signals_t *sg, jd_rule_state_t *states,
                              unsigned char *changed, jd_trigger_t *out, size_t max_out);
size_t __wrap_jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                              const jd_signals_t *sg, jd_rule_state_t *states,
                              unsigned char *changed, jd_trigger_t *out, size_t max_out);
size_t __wrap_jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                              const jd_signals_t *sg, jd_rule_state_t *states,
                              unsigned char *changed, jd_trigger_t *out, size_t max_out)
{
    size_t n;
    JD_BENCH_TIMED(JD_ST_DECIDE,
                   n = __real_jd_rules_decide(rs, account, sg, states, changed, out, max_out));
    return n;
}

int __real_jd_encoder_trigger(jd_encoder_t *enc, const jd_trigger_t *tr, int32_t schema_id,
                              jd_buf_t *out, jd_err_t *err);
int __wrap_jd_encoder_trigger(jd_encoder_t *enc, const jd_trigger_t *tr, int32_t schema_id,
                              jd_buf_t *out, jd_err_t *err);
int __wrap_jd_encoder_trigger(jd_encoder_t *enc, const jd_trigger_t *tr, int32_t schema_id,
                              jd_buf_t *out, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_ENCODE, rc = __real_jd_encoder_trigger(enc, tr, schema_id, out, err));
    return rc;
}

int __real_jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                           unsigned char *conflicts, jd_err_t *err);
int __wrap_jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                           unsigned char *conflicts, jd_err_t *err);
int __wrap_jd_state_commit(jd_state_t *st, const jd_state_commit_t *cms, size_t n,
                           unsigned char *conflicts, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_COMMIT, rc = __real_jd_state_commit(st, cms, n, conflicts, err));
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

int __real_jd_producer_wait(jd_producer_t *p, int timeout_ms, jd_err_t *err);
int __wrap_jd_producer_wait(jd_producer_t *p, int timeout_ms, jd_err_t *err);
int __wrap_jd_producer_wait(jd_producer_t *p, int timeout_ms, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_WAIT, rc = __real_jd_producer_wait(p, timeout_ms, err));
    return rc;
}

int __real_jd_state_outbox_ack(jd_state_t *st, const char *const *accounts,
                               const char *const *trigger_ids, size_t n, jd_err_t *err);
int __wrap_jd_state_outbox_ack(jd_state_t *st, const char *const *accounts,
                               const char *const *trigger_ids, size_t n, jd_err_t *err);
int __wrap_jd_state_outbox_ack(jd_state_t *st, const char *const *accounts,
                               const char *const *trigger_ids, size_t n, jd_err_t *err)
{
    int rc;
    JD_BENCH_TIMED(JD_ST_ACK, rc = __real_jd_state_outbox_ack(st, accounts, trigger_ids, n, err));
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
        snprintf(buf + n, cap - n, ",\"decode_and_rest\":[%.4f,0]}",
                 wall_s > sum ? wall_s - sum : 0.0);
}
