/*
 * jd_bench_produce: the bench producer and `jd_bench produce` (contract in
 * jd_bench.h).
 *
 * The producer is configured by jd_kconf like journeyd's own (same
 * kafka.* pass-through, idempotent, acks=all), so the bench's input looks
 * like `journeyd simulate`'s: Confluent-framed Avro keyed by account.
 * Delivery is checked by counting reports, not by trusting a return code:
 * a full local queue is waited out (poll, then retry) and never counted as
 * a failure.
 *
 * Pacing for a fixed offered rate: event i is due at t0 + i/rate; the loop
 * sleeps only when more than half a millisecond ahead, so the rate holds
 * with nanosleep's granularity and bursts stay below a millisecond's worth.
 * The produce timestamp recorded is the wall clock just before
 * rd_kafka_producev, i.e. it includes the producer's own batching (linger).
 *
 * Threads: one thread drives a producer; delivery reports run inside
 * rd_kafka_poll/flush on that thread, so the arrays need no lock.
 */
#include "jd_bench.h"

#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "jd_kconf.h"

static void jd_bench_prod_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    jd_bench_prod_t *bp = opaque;
    size_t seq = (size_t)(uintptr_t)m->_private;
    (void)rk;
    if (m->err) {
        bp->bp_failed++;
        return;
    }
    bp->bp_acked++;
    if (bp->bp_record && seq < bp->bp_cap) {
        bp->bp_part[seq] = m->partition;
        bp->bp_off[seq] = m->offset;
    }
}

int jd_bench_prod_init(jd_bench_prod_t *bp, const jd_config_t *cf, const char *topic,
                       size_t max, int record)
{
    char errstr[512];
    jd_err_t err;
    memset(bp, 0, sizeof *bp);
    bp->bp_schema_id = cf->cf_product_schema_id;
    bp->bp_record = record;
    rd_kafka_conf_t *conf = jd_kconf_new(cf, JD_KCONF_PRODUCER, NULL, &err);
    if (!conf || !(bp->bp_enc = jd_encoder_new(&err))) {
        fprintf(stderr, "bench: %s\n", err.err_msg);
        if (conf)
            rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, jd_bench_prod_dr);
    rd_kafka_conf_set_opaque(conf, bp);
    if (!(bp->bp_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, "bench: producer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    bp->bp_rkt = rd_kafka_topic_new(bp->bp_rk, topic, NULL);
    if (record) {
        bp->bp_cap = max;
        bp->bp_t_us = calloc(max ? max : 1, sizeof *bp->bp_t_us);
        bp->bp_part = malloc((max ? max : 1) * sizeof *bp->bp_part);
        bp->bp_off = calloc(max ? max : 1, sizeof *bp->bp_off);
        if (!bp->bp_t_us || !bp->bp_part || !bp->bp_off)
            return -1;
        memset(bp->bp_part, 0xff, (max ? max : 1) * sizeof *bp->bp_part);
    }
    return 0;
}

static int jd_bench_prod_send(jd_bench_prod_t *bp, const jd_event_t *ev)
{
    jd_err_t err;
    size_t seq = (size_t)bp->bp_sent;
    if (jd_encoder_event(bp->bp_enc, ev, bp->bp_schema_id, &bp->bp_buf, &err)) {
        fprintf(stderr, "bench: encode: %s\n", err.err_msg);
        return -1;
    }
    for (;;) {
        if (bp->bp_record)
            bp->bp_t_us[seq] = jd_bench_wall_us();
        if (rd_kafka_produce(bp->bp_rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                             bp->bp_buf.b_data, bp->bp_buf.b_len, ev->ev_account,
                             strlen(ev->ev_account), (void *)(uintptr_t)seq) == 0)
            break;
        if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            return -1;
        }
        rd_kafka_poll(bp->bp_rk, 10);
    }
    bp->bp_sent++;
    rd_kafka_poll(bp->bp_rk, 0);
    return 0;
}

int64_t jd_bench_prod_run(jd_bench_prod_t *bp, jd_bench_gen_t *g, size_t max, double rate,
                          int progress, double *seconds)
{
    jd_event_t ev;
    double t0 = jd_bench_now(), last = t0;
    int r = 1;
    while (bp->bp_sent < max && (r = jd_bench_gen_next(g, &ev)) == 1) {
        if (rate > 0) {
            double ahead = t0 + (double)bp->bp_sent / rate - jd_bench_now();
            if (ahead > 0.0005)
                jd_bench_sleep(ahead);
        }
        if (jd_bench_prod_send(bp, &ev))
            return -1;
        if (progress && (bp->bp_sent & 4095) == 0 && jd_bench_now() - last >= 1.0) {
            last = jd_bench_now();
            fprintf(stderr, "bench: produced %llu events (%.0f/s)\n",
                    (unsigned long long)bp->bp_sent, (double)bp->bp_sent / (last - t0));
        }
    }
    *seconds = jd_bench_now() - t0;
    if (r < 0)
        return -1;
    while (rd_kafka_outq_len(bp->bp_rk) > 0 && jd_bench_now() - t0 < 600)
        rd_kafka_flush(bp->bp_rk, 1000);
    if (bp->bp_failed || bp->bp_acked != bp->bp_sent)
        fprintf(stderr, "bench: %llu of %llu deliveries failed\n",
                (unsigned long long)(bp->bp_sent - bp->bp_acked),
                (unsigned long long)bp->bp_sent);
    return (int64_t)bp->bp_acked;
}

/* Dense per-partition arrays: offsets of one partition are consecutive. */
static int jd_bench_prod_index(jd_bench_prod_t *bp)
{
    int np = 0;
    for (size_t i = 0; i < bp->bp_sent && i < bp->bp_cap; i++)
        if (bp->bp_part[i] >= np)
            np = bp->bp_part[i] + 1;
    bp->bp_nparts = np;
    bp->bp_base = calloc((size_t)np + 1, sizeof *bp->bp_base);
    bp->bp_len = calloc((size_t)np + 1, sizeof *bp->bp_len);
    bp->bp_idx = calloc((size_t)np + 1, sizeof *bp->bp_idx);
    if (!bp->bp_base || !bp->bp_len || !bp->bp_idx)
        return -1;
    int64_t *hi = calloc((size_t)np + 1, sizeof *hi);
    for (int p = 0; p < np; p++)
        bp->bp_base[p] = INT64_MAX, hi[p] = -1;
    for (size_t i = 0; i < bp->bp_sent && i < bp->bp_cap; i++) {
        int p = bp->bp_part[i];
        if (p < 0)
            continue;
        if (bp->bp_off[i] < bp->bp_base[p])
            bp->bp_base[p] = bp->bp_off[i];
        if (bp->bp_off[i] > hi[p])
            hi[p] = bp->bp_off[i];
    }
    for (int p = 0; p < np; p++) {
        if (hi[p] < 0)
            continue;
        bp->bp_len[p] = (size_t)(hi[p] - bp->bp_base[p] + 1);
        bp->bp_idx[p] = malloc(bp->bp_len[p] * sizeof **bp->bp_idx);
        if (!bp->bp_idx[p])
            break;
        memset(bp->bp_idx[p], 0xff, bp->bp_len[p] * sizeof **bp->bp_idx);
    }
    free(hi);
    for (size_t i = 0; i < bp->bp_sent && i < bp->bp_cap; i++) {
        int p = bp->bp_part[i];
        if (p >= 0 && bp->bp_idx[p])
            bp->bp_idx[p][bp->bp_off[i] - bp->bp_base[p]] = bp->bp_t_us[i];
    }
    return 0;
}

int64_t jd_bench_prod_lookup(jd_bench_prod_t *bp, int32_t partition, int64_t offset)
{
    if (!bp->bp_record)
        return -1;
    if (!bp->bp_idx && jd_bench_prod_index(bp))
        return -1;
    if (partition < 0 || partition >= bp->bp_nparts || !bp->bp_idx[partition] ||
        offset < bp->bp_base[partition] ||
        (size_t)(offset - bp->bp_base[partition]) >= bp->bp_len[partition])
        return -1;
    return bp->bp_idx[partition][offset - bp->bp_base[partition]];
}

void jd_bench_prod_free(jd_bench_prod_t *bp)
{
    if (bp->bp_rkt)
        rd_kafka_topic_destroy(bp->bp_rkt);
    if (bp->bp_rk) {
        rd_kafka_flush(bp->bp_rk, 10000);
        rd_kafka_destroy(bp->bp_rk);
    }
    jd_encoder_destroy(bp->bp_enc);
    jd_buf_free(&bp->bp_buf);
    for (int p = 0; bp->bp_idx && p < bp->bp_nparts; p++)
        free(bp->bp_idx[p]);
    free(bp->bp_idx);
    free(bp->bp_base);
    free(bp->bp_len);
    free(bp->bp_t_us);
    free(bp->bp_part);
    free(bp->bp_off);
    memset(bp, 0, sizeof *bp);
}

/* ---- jd_bench produce ------------------------------------------------------ */

static const char *jd_bench_p_topic, *jd_bench_p_gen, *jd_bench_p_accounts, *jd_bench_p_days,
    *jd_bench_p_seed, *jd_bench_p_max, *jd_bench_p_rate, *jd_bench_p_every, *jd_bench_p_skip;
static const jd_cli_flag_t jd_bench_p_flags[] = {
    {"topic", 1, &jd_bench_p_topic, "topic (default: first of topics.input)"},
    {"gen", 1, &jd_bench_p_gen, "sim (default), mix or distinct"},
    {"accounts", 1, &jd_bench_p_accounts, "sim/mix: accounts (default 10000)"},
    {"days", 1, &jd_bench_p_days, "sim/mix: days of history (default 1)"},
    {"seed", 1, &jd_bench_p_seed, "seed (default 42)"},
    {"max-events", 1, &jd_bench_p_max, "stop after N events (default: end of the simulation)"},
    {"rate", 1, &jd_bench_p_rate, "events per second, 0 = as fast as possible"},
    {"every", 1, &jd_bench_p_every, "mix: one new account per N events (default 50)"},
    {"skip", 1, &jd_bench_p_skip, "generate and drop the first N events (default 0)"},
};
#define JD_BENCH_P_NFLAGS (sizeof jd_bench_p_flags / sizeof *jd_bench_p_flags)

static long long jd_bench_num(const char *flag, const char *v, long long dflt)
{
    return v ? jd_cli_number(flag, v) : dflt;
}

int jd_bench_cmd_produce(int argc, char **argv)
{
    jd_cli_t cli;
    jd_bench_gen_t g;
    jd_bench_prod_t bp;
    jd_bench_json_t js;
    char topic[256];
    memset(&bp, 0, sizeof bp);
    double secs = 0;
    int rc = 1;

    if (jd_cli_parse(&cli, "bench produce", argc, argv, jd_bench_p_flags, JD_BENCH_P_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench produce", "[options]", "Produce a bench workload.",
                     jd_bench_p_flags, JD_BENCH_P_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli))
        return 2;
    snprintf(topic, sizeof topic, "%s", jd_bench_p_topic ? jd_bench_p_topic
                                                        : cli.cl_cf->cf_topics_input);
    topic[strcspn(topic, ",")] = '\0';
    int kind = jd_bench_gen_parse(jd_bench_p_gen ? jd_bench_p_gen : "sim");
    long long accounts = jd_bench_num("accounts", jd_bench_p_accounts, 10000);
    long long days = jd_bench_num("days", jd_bench_p_days, 1);
    long long seed = jd_bench_num("seed", jd_bench_p_seed, 42);
    long long max = jd_bench_num("max-events", jd_bench_p_max, 1LL << 40);
    long long rate = jd_bench_num("rate", jd_bench_p_rate, 0);
    long long every = jd_bench_num("every", jd_bench_p_every, 50);
    long long skip = jd_bench_num("skip", jd_bench_p_skip, 0);
    if (kind < 0 || accounts < 1 || days < 1 || seed < 0 || max < 1 || rate < 0 || every < 2 ||
        skip < 0) {
        fprintf(stderr, "bench produce: bad arguments\n");
        jd_cli_free(&cli);
        return 2;
    }
    jd_event_t ev;
    int ok = jd_bench_gen_init(&g, (jd_bench_gen_kind_t)kind, (int)accounts, (int)days,
                               (uint64_t)seed, (int)every) == 0;
    for (long long i = 0; ok && i < skip; i++)
        ok = jd_bench_gen_next(&g, &ev) == 1;
    if (ok && jd_bench_prod_init(&bp, cli.cl_cf, topic, 0, 0) == 0) {
        int64_t n = jd_bench_prod_run(&bp, &g, (size_t)max, (double)rate, 1, &secs);
        if (n >= 0) {
            jd_bench_json_begin(&js, "produce", topic);
            jd_bench_json_int(&js, "events", n);
            jd_bench_json_int(&js, "failed", (long long)(bp.bp_sent - bp.bp_acked));
            jd_bench_json_int(&js, "new_accounts", (long long)g.bg_new);
            jd_bench_json_num(&js, "seconds", secs);
            jd_bench_json_num(&js, "events_per_s", secs > 0 ? (double)n / secs : 0);
            jd_bench_json_end(&js);
            rc = bp.bp_acked == bp.bp_sent ? 0 : 1;
        }
    }
    jd_bench_prod_free(&bp);
    jd_bench_gen_free(&g);
    jd_cli_free(&cli);
    return rc;
}
