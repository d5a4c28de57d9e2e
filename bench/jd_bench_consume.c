/*
 * jd_bench_consume: `jd_bench consume --mode raw|decode`, the two
 * baselines the full pipeline is compared with.
 *
 * raw     a bare librdkafka consumer: poll batches, free the messages. It is
 *         the ceiling on this machine: the embedded broker, the client's
 *         fetch path and the message hand-off, and nothing else.
 * decode  the same loop plus jd_decoder_decode of every message into a
 *         per-batch arena (the decoder and limits of `journeyd run`).
 *
 * Both use journeyd's own librdkafka configuration (jd_kconf: the same
 * kafka.* pass-through, so a fetch knob moves all three modes alike) and
 * its batch call, rd_kafka_consume_batch_queue with pipeline.batch_size and
 * pipeline.batch_timeout_ms. They assign every partition directly instead
 * of joining a group: a fresh group takes ~3 s to get its assignment on the
 * embedded broker, and that is not consumption.
 *
 * Throughput is measured from the first message to the last one of the
 * run; CPU (this process, every thread) over the same interval.
 * Main thread only.
 */
#include "jd_bench.h"

#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "jd_kconf.h"
#include <unistd.h>

static const char *jd_bench_c_mode, *jd_bench_c_topic, *jd_bench_c_max, *jd_bench_c_label,
    *jd_bench_c_idle, *jd_bench_c_watch;
static const jd_cli_flag_t jd_bench_c_flags[] = {
    {"mode", 1, &jd_bench_c_mode, "raw (default) or decode"},
    {"topic", 1, &jd_bench_c_topic, "topic (default: first of topics.input)"},
    {"max-events", 1, &jd_bench_c_max, "stop after N messages (default: the topic's end)"},
    {"exit-idle", 1, &jd_bench_c_idle, "stop after N seconds without messages (default 5)"},
    {"label", 1, &jd_bench_c_label, "label in the JSON result"},
    {"watch-pid", 1, &jd_bench_c_watch, "also report the CPU of this process (the broker)"},
};
#define JD_BENCH_C_NFLAGS (sizeof jd_bench_c_flags / sizeof *jd_bench_c_flags)

typedef struct jd_bench_cons {
    const jd_config_t *bc_cf;
    rd_kafka_t        *bc_rk;
    rd_kafka_queue_t  *bc_q;
    jd_decoder_t      *bc_dec;     /* decode mode only */
    jd_arena_t         bc_arena;
    uint64_t           bc_msgs, bc_bytes, bc_bad;
} jd_bench_cons_t;

static int jd_bench_cons_open(jd_bench_cons_t *bc, const char *topic)
{
    char errstr[512], group[64];
    jd_err_t err;
    rd_kafka_conf_t *conf = jd_kconf_new(bc->bc_cf, JD_KCONF_CONSUMER, NULL, &err);
    snprintf(group, sizeof group, "jd-bench-%d", (int)getpid());
    if (!conf || jd_kconf_set(conf, "group.id", group, &err) ||
        jd_kconf_set(conf, "enable.auto.commit", "false", &err)) {
        fprintf(stderr, "bench: %s\n", err.err_msg);
        return -1;
    }
    if (!(bc->bc_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, "bench: consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(bc->bc_rk);
    int parts = jd_bench_partitions(bc->bc_rk, topic);
    if (parts < 1)
        return -1;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(bc->bc_rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e) {
        fprintf(stderr, "bench: assign: %s\n", rd_kafka_err2str(e));
        return -1;
    }
    bc->bc_q = rd_kafka_queue_get_consumer(bc->bc_rk);
    return 0;
}

/* One batch: decode (in decode mode) and free every message. */
static void jd_bench_cons_batch(jd_bench_cons_t *bc, rd_kafka_message_t **msgs, size_t n,
                                jd_event_t *evs)
{
    jd_err_t err;
    jd_arena_reset(&bc->bc_arena);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (!m->err) {
            bc->bc_msgs++;
            bc->bc_bytes += m->len;
            if (bc->bc_dec && jd_decoder_decode(bc->bc_dec, m->payload, m->len,
                                                &bc->bc_arena, &evs[i], &err))
                bc->bc_bad++;
        }
        rd_kafka_message_destroy(m);
    }
}

typedef struct jd_bench_span {
    double sp_t0, sp_t1, sp_cpu0, sp_cpu1, sp_w0, sp_w1;
} jd_bench_span_t;

static void jd_bench_cons_loop(jd_bench_cons_t *bc, uint64_t max, double idle,
                               int watch, jd_bench_span_t *sp)
{
    size_t bs = (size_t)bc->bc_cf->cf_batch_size;
    rd_kafka_message_t **msgs = calloc(bs, sizeof *msgs);
    jd_event_t *evs = calloc(bs, sizeof *evs);
    double last = jd_bench_now(), start = last;
    memset(sp, 0, sizeof *sp);
    while (msgs && evs && bc->bc_msgs < max) {
        size_t want = bs < max - bc->bc_msgs ? bs : (size_t)(max - bc->bc_msgs);
        ssize_t n = rd_kafka_consume_batch_queue(bc->bc_q, bc->bc_cf->cf_batch_timeout_ms,
                                                 msgs, want);
        double now = jd_bench_now();
        if (n <= 0) {
            if (now - last > idle && (sp->sp_t0 > 0 || now - start > 30 + idle))
                break;
            continue;
        }
        if (sp->sp_t0 == 0) {
            sp->sp_t0 = now;
            sp->sp_cpu0 = jd_bench_cpu_self();
            sp->sp_w0 = watch ? jd_bench_cpu_pid(watch) : 0;
        }
        jd_bench_cons_batch(bc, msgs, (size_t)n, evs);
        last = sp->sp_t1 = jd_bench_now();
    }
    sp->sp_cpu1 = jd_bench_cpu_self();
    sp->sp_w1 = watch ? jd_bench_cpu_pid(watch) : 0;
    free(msgs);
    free(evs);
}

static void jd_bench_cons_close(jd_bench_cons_t *bc)
{
    if (bc->bc_q)
        rd_kafka_queue_destroy(bc->bc_q);
    if (bc->bc_rk) {
        rd_kafka_consumer_close(bc->bc_rk);
        rd_kafka_destroy(bc->bc_rk);
    }
    jd_decoder_destroy(bc->bc_dec);
    jd_arena_destroy(&bc->bc_arena);
}

static void jd_bench_cons_report(const jd_bench_cons_t *bc, const char *mode,
                                 const jd_bench_span_t *sp, int watch)
{
    jd_bench_json_t js;
    double secs = sp->sp_t1 - sp->sp_t0, m = (double)bc->bc_msgs / 1e6;
    jd_bench_json_begin(&js, mode, jd_bench_c_label);
    jd_bench_json_int(&js, "events", (long long)bc->bc_msgs);
    jd_bench_json_int(&js, "bytes", (long long)bc->bc_bytes);
    jd_bench_json_int(&js, "decode_errors", (long long)bc->bc_bad);
    jd_bench_json_num(&js, "seconds", secs);
    jd_bench_json_num(&js, "events_per_s", secs > 0 ? (double)bc->bc_msgs / secs : 0);
    jd_bench_json_num(&js, "cpu_s_per_m", m > 0 ? (sp->sp_cpu1 - sp->sp_cpu0) / m : 0);
    if (watch)
        jd_bench_json_num(&js, "broker_cpu_s_per_m", m > 0 ? (sp->sp_w1 - sp->sp_w0) / m : 0);
    jd_bench_json_num(&js, "peak_rss_mib", jd_bench_peak_rss_mib());
    jd_bench_json_int(&js, "batch_size", bc->bc_cf->cf_batch_size);
    jd_bench_json_end(&js);
}

int jd_bench_cmd_consume(int argc, char **argv)
{
    jd_cli_t cli;
    jd_bench_cons_t bc;
    jd_bench_span_t sp;
    char topic[256];
    int rc = 1;

    if (jd_cli_parse(&cli, "bench consume", argc, argv, jd_bench_c_flags, JD_BENCH_C_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench consume", "[options]",
                     "Consume a topic with a bare consumer (raw) or consume + decode.",
                     jd_bench_c_flags, JD_BENCH_C_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli))
        return 2;
    const char *mode = jd_bench_c_mode ? jd_bench_c_mode : "raw";
    long long max = jd_bench_c_max ? jd_cli_number("max-events", jd_bench_c_max) : 1LL << 40;
    long long idle = jd_bench_c_idle ? jd_cli_number("exit-idle", jd_bench_c_idle) : 5;
    long long watch = jd_bench_c_watch ? jd_cli_number("watch-pid", jd_bench_c_watch) : 0;
    if ((strcmp(mode, "raw") && strcmp(mode, "decode")) || max < 1 || idle < 0 || watch < 0) {
        fprintf(stderr, "bench consume: bad arguments\n");
        jd_cli_free(&cli);
        return 2;
    }
    snprintf(topic, sizeof topic, "%s", jd_bench_c_topic ? jd_bench_c_topic
                                                        : cli.cl_cf->cf_topics_input);
    topic[strcspn(topic, ",")] = '\0';
    memset(&bc, 0, sizeof bc);
    bc.bc_cf = cli.cl_cf;
    jd_arena_init(&bc.bc_arena, 256 * 1024);
    if ((strcmp(mode, "decode") || (bc.bc_dec = jd_bench_decoder(cli.cl_cf))) &&
        jd_bench_cons_open(&bc, topic) == 0) {
        jd_bench_cons_loop(&bc, (uint64_t)max, (double)idle, (int)watch, &sp);
        jd_bench_cons_report(&bc, mode, &sp, (int)watch);
        rc = bc.bc_msgs ? 0 : 1;
    }
    jd_bench_cons_close(&bc);
    jd_cli_free(&cli);
    return rc;
}
