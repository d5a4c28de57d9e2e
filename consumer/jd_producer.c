/*
 * jd_producer: librdkafka idempotent producer with per-message delivery
 * tracking (contract in jd_producer.h).
 *
 * The delivery report callback writes into the jd_delivery_t passed as the
 * message opaque; it runs on the thread calling rd_kafka_poll/flush, which
 * is the pipeline thread inside jd_producer_wait(), so no locking is needed.
 * Fatal errors: a fatal idempotent-producer error makes every later produce
 * fail. We then destroy the handle without waiting (purging the queue so
 * the purged messages are reported failed through the same callback) and
 * create a fresh one with the same configuration.
 */
#include "jd_producer.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

#include "jd_kconf.h"
#include "jd_log.h"

struct jd_producer {
    rd_kafka_t        *pr_rk;
    const jd_config_t *pr_cf;
    char              *pr_bootstrap;
    int                pr_failed;   /* failures since last wait */
};

static void jd_producer_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jd_producer_t *p = opaque;
    jd_delivery_t *dl = m->_private;
    (void)rk;
    if (dl) {
        dl->dl_done = 1;
        dl->dl_err = m->err;
    }
    if (m->err) {
        p->pr_failed++;
        JD_WARN("producer", "delivery to %s failed: %s",
                rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

static rd_kafka_t *jd_producer_handle(jd_producer_t *p, jd_err_t *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = jd_kconf_new(p->pr_cf, JD_KCONF_PRODUCER,
                                         p->pr_bootstrap, err);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_dr_msg_cb(conf, jd_producer_dr);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "producer: %s", errstr);
    }
    return rk;
}

jd_producer_t *jd_producer_new(const jd_config_t *cf, const char *bootstrap,
                               jd_err_t *err)
{
    jd_producer_t *p = calloc(1, sizeof *p);
    if (!p) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    p->pr_cf = cf;
    p->pr_bootstrap = bootstrap ? strdup(bootstrap) : NULL;
    p->pr_rk = jd_producer_handle(p, err);
    if (!p->pr_rk) {
        jd_producer_destroy(p);
        return NULL;
    }
    return p;
}

void jd_producer_destroy(jd_producer_t *p)
{
    if (!p)
        return;
    if (p->pr_rk) {
        rd_kafka_flush(p->pr_rk, 10000);
        rd_kafka_destroy(p->pr_rk);
    }
    free(p->pr_bootstrap);
    free(p);
}

/* Replaces a producer that hit a fatal error. Outstanding messages are
 * purged, which reports each of them failed to its jd_delivery_t. */
static int jd_producer_rebuild(jd_producer_t *p, jd_err_t *err)
{
    char reason[512];
    rd_kafka_fatal_error(p->pr_rk, reason, sizeof reason);
    JD_ERROR("producer", "fatal producer error (%s): rebuilding the producer", reason);
    rd_kafka_purge(p->pr_rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->pr_rk, 0);
    rd_kafka_destroy_flags(p->pr_rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    p->pr_rk = jd_producer_handle(p, err);
    return p->pr_rk ? 0 : -1;
}

int jd_producer_send(jd_producer_t *p, const char *topic, const char *key,
                     const void *payload, size_t len, const jd_header_t *hdrs,
                     size_t hdr_cnt, jd_delivery_t *dl, jd_err_t *err)
{
    return jd_producer_send_to(p, topic, RD_KAFKA_PARTITION_UA, key, payload, len, hdrs,
                               hdr_cnt, dl, err);
}

int jd_producer_send_to(jd_producer_t *p, const char *topic, int32_t partition,
                        const char *key, const void *payload, size_t len,
                        const jd_header_t *hdrs, size_t hdr_cnt, jd_delivery_t *dl,
                        jd_err_t *err)
{
    rd_kafka_headers_t *h = hdr_cnt ? rd_kafka_headers_new(hdr_cnt) : NULL;
    for (size_t i = 0; i < hdr_cnt; i++)
        rd_kafka_header_add(h, hdrs[i].hd_name, -1, hdrs[i].hd_value,
                            (ssize_t)hdrs[i].hd_len);
    if (dl) {
        dl->dl_done = 0;
        dl->dl_err = 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->pr_rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
        RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(dl), RD_KAFKA_V_END);
    if (e) {
        if (h)
            rd_kafka_headers_destroy(h);
        if (dl) {
            dl->dl_done = 1;
            dl->dl_err = e;
        }
        /* A tracked message that never got queued counts as failed, so
         * wait() tells the caller to re-send it. An untracked one (dl NULL,
         * the simulator) is reported by the return value only: its caller
         * retries the send, and counting it made a run whose local queue
         * filled up once end "some deliveries FAILED" although every
         * message was delivered. */
        if (dl)
            p->pr_failed++;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p->pr_rk, 100);
        return jd_err_set(err, JD_ERR_RETRY, JD_E_KAFKA, "produce to %s: %s", topic,
                          rd_kafka_err2str(e));
    }
    rd_kafka_poll(p->pr_rk, 0);
    return 0;
}

int jd_producer_partitions(jd_producer_t *p, const char *topic, int timeout_ms,
                           jd_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->pr_rk, topic, NULL);
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(p->pr_rk, 0, rkt, &md, timeout_ms)
                                : rd_kafka_last_error();
    int n = 0;
    if (!e && md && md->topic_cnt == 1) {
        e = md->topics[0].err;
        n = e ? 0 : md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (n <= 0)
        jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "topic %s: no partitions known (%s)", topic,
                   rd_kafka_err2str(e ? e : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
    return n > 0 ? n : 0;
}

void jd_producer_warm(jd_producer_t *p, const char *const *topics, size_t n,
                      int timeout_ms)
{
    for (size_t i = 0; i < n; i++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->pr_rk, topics[i], NULL);
        rd_kafka_resp_err_t e =
            rkt ? rd_kafka_metadata(p->pr_rk, 0, rkt, &md, timeout_ms)
                : rd_kafka_last_error();
        if (e)
            JD_DEBUG("producer", "metadata of %s: %s", topics[i], rd_kafka_err2str(e));
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
            break; /* Kafka is not there yet: do not wait once per topic */
    }
}

int jd_producer_wait(jd_producer_t *p, int timeout_ms, jd_err_t *err)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p->pr_rk, timeout_ms);
    int failed;

    if (rd_kafka_fatal_error(p->pr_rk, NULL, 0) && jd_producer_rebuild(p, err))
        return JD_ERR_FATAL;
    failed = p->pr_failed;
    p->pr_failed = 0;
    if (e == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_KAFKA,
                          "%d message(s) not acknowledged after %d ms",
                          rd_kafka_outq_len(p->pr_rk), timeout_ms);
    return failed;
}

int jd_producer_poll(jd_producer_t *p, int timeout_ms, jd_err_t *err)
{
    rd_kafka_poll(p->pr_rk, timeout_ms);
    if (rd_kafka_fatal_error(p->pr_rk, NULL, 0) && jd_producer_rebuild(p, err))
        return JD_ERR_FATAL;
    int failed = p->pr_failed;
    p->pr_failed = 0;
    return failed;
}
