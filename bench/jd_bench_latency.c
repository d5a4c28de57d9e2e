/*
 * jd_bench_latency: `jd_bench latency`, event-to-trigger latency at a fixed
 * offered rate, against a journeyd pipeline running concurrently (bench/
 * run.sh starts `jd_bench full` on the same topic and waits until it has its
 * partitions before starting this).
 *
 * The producer (main thread) sends the MIX workload at the offered rate and
 * records, per event, the wall-clock time just before produce and, from the
 * delivery report, its (partition, offset). A trigger names the event that
 * fired it: source_partition/source_offset are those of the account's last
 * message in the batch that fired. A consumer thread reads the three
 * trigger topics from their ends (assigned directly, no group join), polls
 * one message at a time and stamps its arrival. Latency = arrival - produce
 * time of the source event: produce, broker, journeyd's fetch and batch
 * wait, decode, Redis, rules, outbox, trigger publish and acknowledgement,
 * and our fetch of it. The trigger's own Kafka timestamp (set when journeyd
 * produced it) gives a second figure that leaves out the trigger's
 * delivery and our fetch (created_*), and the difference of the two is
 * that delivery alone (delivery_*: journeyd's producer queue, the broker,
 * our fetch). The clocks are one machine's.
 *
 * The trigger consumer fetches with fetch.wait.max.ms = 5 (default here):
 * the embedded broker answers an empty fetch only after fetch.wait.max.ms
 * even when data arrives meanwhile, so the observer's own wait would
 * otherwise dominate. Triggers whose source event was produced in the first
 * --warmup seconds are left out.
 *
 * Threads: producer on the main thread, trigger consumer on its own thread
 * with its own encoder (decoding triggers) and its own result arrays, read
 * by the main thread only after join.
 */
#include "jd_bench.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_cli.h"
#include "jd_kconf.h"

static const char *jd_bench_l_topic, *jd_bench_l_rate, *jd_bench_l_events, *jd_bench_l_accounts,
    *jd_bench_l_days, *jd_bench_l_seed, *jd_bench_l_every, *jd_bench_l_label, *jd_bench_l_warmup,
    *jd_bench_l_drain, *jd_bench_l_fetchwait, *jd_bench_l_gen, *jd_bench_l_input;
static const jd_cli_flag_t jd_bench_l_flags[] = {
    {"topic", 1, &jd_bench_l_topic, "input topic (default: first of topics.input)"},
    {"rate", 1, &jd_bench_l_rate, "offered events per second (default 10000)"},
    {"events", 1, &jd_bench_l_events, "events to send (default 10 s worth)"},
    {"gen", 1, &jd_bench_l_gen, "workload: mix (default) or sim"},
    {"accounts", 1, &jd_bench_l_accounts, "simulated accounts (default 10000)"},
    {"days", 1, &jd_bench_l_days, "simulated days (default 8)"},
    {"seed", 1, &jd_bench_l_seed, "seed (default 7)"},
    {"every", 1, &jd_bench_l_every, "mix: one new account per N events (default 50)"},
    {"warmup", 1, &jd_bench_l_warmup, "seconds left out at the start (default 1)"},
    {"drain", 1, &jd_bench_l_drain, "stop N s after the last trigger (default 3)"},
    {"fetch-wait-ms", 1, &jd_bench_l_fetchwait, "trigger consumer fetch.wait.max.ms (default 5)"},
    {"label", 1, &jd_bench_l_label, "label in the JSON result"},
    {"observe-input", 0, &jd_bench_l_input,
     "baseline: time the input events themselves (no pipeline needed)"},
};
#define JD_BENCH_L_NFLAGS (sizeof jd_bench_l_flags / sizeof *jd_bench_l_flags)

typedef struct jd_bench_tsample {
    int32_t ts_part;
    int64_t ts_off;
    int64_t ts_arrival_us;
    int64_t ts_created_ms;   /* the trigger message's timestamp */
} jd_bench_tsample_t;

typedef struct jd_bench_tcons {
    const jd_config_t  *tc_cf;
    const char         *tc_topic;     /* input topic: sources must match */
    int                 tc_input;     /* observe the input topic itself */
    rd_kafka_t         *tc_rk;
    pthread_t           tc_thread;
    volatile int        tc_stop;
    volatile double     tc_last;      /* jd_bench_now() of the last trigger */
    jd_encoder_t       *tc_enc;
    jd_bench_tsample_t *tc_s;
    size_t              tc_n, tc_cap;
    uint64_t            tc_other, tc_bad;
} jd_bench_tcons_t;

/* Assigns every partition of the trigger topics at its current end. */
static int jd_bench_tcons_assign(jd_bench_tcons_t *tc)
{
    const char *topics[3] = {tc->tc_cf->cf_topic_risk, tc->tc_cf->cf_topic_renewal,
                             tc->tc_cf->cf_topic_expansion};
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(64);
    if (tc->tc_input)
        topics[0] = tc->tc_topic;
    for (int t = 0; t < (tc->tc_input ? 1 : 3); t++) {
        int parts = jd_bench_partitions(tc->tc_rk, topics[t]);
        for (int p = 0; p < parts; p++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(tc->tc_rk, topics[t], p, &lo, &hi, 10000))
                hi = RD_KAFKA_OFFSET_END;
            rd_kafka_topic_partition_list_add(tl, topics[t], p)->offset = hi;
        }
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(tc->tc_rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    return e ? -1 : 0;
}

static int jd_bench_tcons_open(jd_bench_tcons_t *tc, int fetch_wait_ms)
{
    char errstr[512], group[64], fw[16];
    jd_err_t err;
    rd_kafka_conf_t *conf = jd_kconf_new(tc->tc_cf, JD_KCONF_CONSUMER, NULL, &err);
    snprintf(group, sizeof group, "jd-bench-lat-%d", (int)getpid());
    snprintf(fw, sizeof fw, "%d", fetch_wait_ms);
    if (!conf || jd_kconf_set(conf, "group.id", group, &err) ||
        jd_kconf_set(conf, "enable.auto.commit", "false", &err) ||
        jd_kconf_set(conf, "fetch.wait.max.ms", fw, &err) ||
        jd_kconf_set(conf, "fetch.error.backoff.ms", "5", &err)) {
        fprintf(stderr, "bench: %s\n", err.err_msg);
        return -1;
    }
    if (!(tc->tc_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        fprintf(stderr, "bench: trigger consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(tc->tc_rk);
    if (!(tc->tc_enc = jd_encoder_new(&err))) {
        fprintf(stderr, "bench: %s\n", err.err_msg);
        return -1;
    }
    return jd_bench_tcons_assign(tc);
}

static void jd_bench_tcons_take(jd_bench_tcons_t *tc, const rd_kafka_message_t *m,
                                int64_t arrival, jd_trigger_t *tr)
{
    jd_err_t err;
    if (tc->tc_input) {
        tr->tr_source_partition = m->partition;
        tr->tr_source_offset = m->offset;
        snprintf(tr->tr_source_topic, sizeof tr->tr_source_topic, "%s", tc->tc_topic);
    } else if (jd_encoder_trigger_decode(tc->tc_enc, m->payload, m->len, tr, &err)) {
        tc->tc_bad++;
        return;
    }
    if (strcmp(tr->tr_source_topic, tc->tc_topic)) {
        tc->tc_other++;
        return;
    }
    if (tc->tc_n == tc->tc_cap) {
        size_t cap = tc->tc_cap ? 2 * tc->tc_cap : 4096;
        jd_bench_tsample_t *ns = realloc(tc->tc_s, cap * sizeof *ns);
        if (!ns)
            return;
        tc->tc_s = ns;
        tc->tc_cap = cap;
    }
    rd_kafka_timestamp_type_t tt;
    tc->tc_s[tc->tc_n++] = (jd_bench_tsample_t){tr->tr_source_partition, tr->tr_source_offset,
                                                arrival, rd_kafka_message_timestamp(m, &tt)};
}

static void *jd_bench_tcons_main(void *arg)
{
    jd_bench_tcons_t *tc = arg;
    jd_trigger_t *tr = malloc(sizeof *tr);
    while (tr && !tc->tc_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(tc->tc_rk, 50);
        if (!m)
            continue;
        int64_t arrival = jd_bench_wall_us();
        if (!m->err) {
            jd_bench_tcons_take(tc, m, arrival, tr);
            tc->tc_last = jd_bench_now();
        }
        rd_kafka_message_destroy(m);
    }
    free(tr);
    return NULL;
}

static void jd_bench_tcons_close(jd_bench_tcons_t *tc)
{
    if (tc->tc_rk) {
        rd_kafka_consumer_close(tc->tc_rk);
        rd_kafka_destroy(tc->tc_rk);
    }
    jd_encoder_destroy(tc->tc_enc);
    free(tc->tc_s);
}

/* p50 and p99 of each second of the run (by the source event's produce
 * time) as a JSON array of [p50, p99] pairs: shows a latency that grows
 * while the run lasts (a broker falling behind) apart from one that is
 * high throughout. sec[i] is sample i's second. Returns a malloc'd
 * string (NULL when out of memory). */
static char *jd_bench_latency_by_s(const double *v, const int *sec, size_t n)
{
    int nsec = 0;
    for (size_t i = 0; i < n; i++)
        if (sec[i] + 1 > nsec)
            nsec = sec[i] + 1;
    double *one = malloc((n + 1) * sizeof *one);
    char *out = malloc((size_t)nsec * 32 + 4);
    size_t len = 0;
    if (!one || !out) {
        free(one);
        free(out);
        return NULL;
    }
    out[len++] = '[';
    for (int s = 0; s < nsec; s++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (sec[i] == s)
                one[k++] = v[i];
        if (!k)
            continue;
        double p50 = jd_bench_quantile(one, k, 0.50), p99 = jd_bench_quantile(one, k, 0.99);
        len += (size_t)snprintf(out + len, 32, "%s[%.1f,%.1f]", len > 1 ? "," : "", p50, p99);
    }
    out[len++] = ']';
    out[len] = '\0';
    free(one);
    return out;
}

/* Percentiles of arrival- and creation-based latency, in ms. */
static void jd_bench_latency_report(jd_bench_tcons_t *tc, jd_bench_prod_t *bp, double rate,
                                    double secs, double warmup_s)
{
    double *arr = malloc((tc->tc_n + 1) * sizeof *arr);
    double *cre = malloc((tc->tc_n + 1) * sizeof *cre);
    double *out = malloc((tc->tc_n + 1) * sizeof *out);
    int *sec = malloc((tc->tc_n + 1) * sizeof *sec);
    size_t n = 0, unmatched = 0;
    int64_t t_first = bp->bp_t_us ? bp->bp_t_us[0] : 0;
    jd_bench_json_t js;
    for (size_t i = 0; arr && cre && out && sec && i < tc->tc_n; i++) {
        int64_t t = jd_bench_prod_lookup(bp, tc->tc_s[i].ts_part, tc->tc_s[i].ts_off);
        if (t < 0) {
            unmatched++;
            continue;
        }
        if ((double)(t - t_first) < warmup_s * 1e6)
            continue;
        sec[n] = (int)((t - t_first) / 1000000);
        arr[n] = (double)(tc->tc_s[i].ts_arrival_us - t) / 1000.0;
        out[n] = (double)(tc->tc_s[i].ts_arrival_us - tc->tc_s[i].ts_created_ms * 1000) / 1000.0;
        cre[n++] = (double)(tc->tc_s[i].ts_created_ms * 1000 - t) / 1000.0;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += arr[i];
    char *by_s = sec ? jd_bench_latency_by_s(arr, sec, n) : NULL; /* before the sorts */
    jd_bench_json_begin(&js, tc->tc_input ? "latency_raw" : "latency", jd_bench_l_label);
    jd_bench_json_num(&js, "offered_rate", rate);
    jd_bench_json_num(&js, "produced_rate", secs > 0 ? (double)bp->bp_sent / secs : 0);
    jd_bench_json_int(&js, "events", (long long)bp->bp_acked);
    jd_bench_json_int(&js, "triggers", (long long)tc->tc_n);
    jd_bench_json_int(&js, "samples", (long long)n);
    jd_bench_json_int(&js, "unmatched", (long long)unmatched);
    jd_bench_json_int(&js, "foreign_triggers", (long long)tc->tc_other);
    jd_bench_json_num(&js, "p50_ms", jd_bench_quantile(arr, n, 0.50));
    jd_bench_json_num(&js, "p90_ms", jd_bench_quantile(arr, n, 0.90));
    jd_bench_json_num(&js, "p99_ms", jd_bench_quantile(arr, n, 0.99));
    jd_bench_json_num(&js, "p999_ms", jd_bench_quantile(arr, n, 0.999));
    jd_bench_json_num(&js, "max_ms", jd_bench_quantile(arr, n, 1.0));
    jd_bench_json_num(&js, "mean_ms", n ? sum / (double)n : 0);
    jd_bench_json_num(&js, "created_p50_ms", jd_bench_quantile(cre, n, 0.50));
    jd_bench_json_num(&js, "created_p99_ms", jd_bench_quantile(cre, n, 0.99));
    jd_bench_json_num(&js, "delivery_p50_ms", jd_bench_quantile(out, n, 0.50));
    jd_bench_json_num(&js, "delivery_p99_ms", jd_bench_quantile(out, n, 0.99));
    jd_bench_json_raw(&js, "by_second_ms", by_s);
    jd_bench_json_end(&js);
    free(by_s);
    free(arr);
    free(cre);
    free(out);
    free(sec);
}

typedef struct jd_bench_lopts {
    long long lo_rate, lo_events, lo_accounts, lo_days, lo_seed, lo_every;
    long long lo_warmup, lo_drain, lo_fetchwait;
    int       lo_gen;
} jd_bench_lopts_t;

static int jd_bench_latency_opts(jd_bench_lopts_t *lo)
{
#define JD_BENCH_LNUM(f, name, dflt) (f ? jd_cli_number(name, f) : (dflt))
    lo->lo_rate = JD_BENCH_LNUM(jd_bench_l_rate, "rate", 10000);
    lo->lo_events = JD_BENCH_LNUM(jd_bench_l_events, "events", lo->lo_rate * 10);
    lo->lo_accounts = JD_BENCH_LNUM(jd_bench_l_accounts, "accounts", 10000);
    lo->lo_days = JD_BENCH_LNUM(jd_bench_l_days, "days", 8);
    lo->lo_seed = JD_BENCH_LNUM(jd_bench_l_seed, "seed", 7);
    lo->lo_every = JD_BENCH_LNUM(jd_bench_l_every, "every", 50);
    lo->lo_warmup = JD_BENCH_LNUM(jd_bench_l_warmup, "warmup", 1);
    lo->lo_drain = JD_BENCH_LNUM(jd_bench_l_drain, "drain", 3);
    lo->lo_fetchwait = JD_BENCH_LNUM(jd_bench_l_fetchwait, "fetch-wait-ms", 5);
#undef JD_BENCH_LNUM
    lo->lo_gen = jd_bench_gen_parse(jd_bench_l_gen ? jd_bench_l_gen : "mix");
    return lo->lo_rate < 1 || lo->lo_events < 1 || lo->lo_accounts < 1 || lo->lo_days < 1 ||
                   lo->lo_seed < 0 || lo->lo_every < 2 || lo->lo_warmup < 0 ||
                   lo->lo_drain < 0 || lo->lo_fetchwait < 0 || lo->lo_gen < 0
               ? -1 : 0;
}

static int jd_bench_latency_run(const jd_config_t *cf, const char *topic,
                                const jd_bench_lopts_t *lo)
{
    jd_bench_tcons_t tc;
    jd_bench_prod_t bp;
    jd_bench_gen_t g;
    double secs = 0;
    int rc = 1;

    memset(&tc, 0, sizeof tc);
    memset(&bp, 0, sizeof bp);
    tc.tc_cf = cf;
    tc.tc_topic = topic;
    tc.tc_input = jd_bench_l_input != NULL;
    if (jd_bench_gen_init(&g, (jd_bench_gen_kind_t)lo->lo_gen, (int)lo->lo_accounts,
                          (int)lo->lo_days, (uint64_t)lo->lo_seed, (int)lo->lo_every) == 0 &&
        jd_bench_prod_init(&bp, cf, topic, (size_t)lo->lo_events, 1) == 0 &&
        jd_bench_tcons_open(&tc, (int)lo->lo_fetchwait) == 0 &&
        pthread_create(&tc.tc_thread, NULL, jd_bench_tcons_main, &tc) == 0) {
        tc.tc_last = jd_bench_now();
        int64_t n = jd_bench_prod_run(&bp, &g, (size_t)lo->lo_events, (double)lo->lo_rate, 1,
                                      &secs);
        double end = jd_bench_now();
        /* wait for the tail: until no trigger for `drain` s (at most 120 s) */
        while (jd_bench_now() - tc.tc_last < (double)lo->lo_drain &&
               jd_bench_now() - end < 120)
            jd_bench_sleep(0.1);
        tc.tc_stop = 1;
        pthread_join(tc.tc_thread, NULL);
        if (n >= 0) {
            jd_bench_latency_report(&tc, &bp, (double)lo->lo_rate, secs, (double)lo->lo_warmup);
            rc = 0;
        }
    }
    jd_bench_tcons_close(&tc);
    jd_bench_prod_free(&bp);
    jd_bench_gen_free(&g);
    return rc;
}

int jd_bench_cmd_latency(int argc, char **argv)
{
    jd_cli_t cli;
    jd_bench_lopts_t lo;
    char topic[256];
    int rc = 2;

    if (jd_cli_parse(&cli, "bench latency", argc, argv, jd_bench_l_flags, JD_BENCH_L_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench latency", "[options]",
                     "Produce at a fixed rate and measure event-to-trigger latency\n"
                     "(run a pipeline on the same topic meanwhile).",
                     jd_bench_l_flags, JD_BENCH_L_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli))
        return 2;
    if (jd_bench_latency_opts(&lo)) {
        fprintf(stderr, "bench latency: bad arguments\n");
    } else {
        snprintf(topic, sizeof topic, "%s", jd_bench_l_topic ? jd_bench_l_topic
                                                            : cli.cl_cf->cf_topics_input);
        topic[strcspn(topic, ",")] = '\0';
        rc = jd_bench_latency_run(cli.cl_cf, topic, &lo);
    }
    jd_cli_free(&cli);
    return rc;
}
