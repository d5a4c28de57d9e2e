/*
 * jd_cmd_simulate: `journeyd simulate`, the telemetry simulator's Kafka
 * shell: jd_sim generates events, jd_codec encodes them (Confluent framing
 * with schemas.product_schema_id, or plain Avro), and they are produced
 * keyed by account_id (or, with `--key-by event`, by event_id, so one
 * account's events spread over every partition: unkeyed input for the
 * scale-out tests), at a target rate or as fast as possible, with a
 * progress line every second. `--poison N` mixes N malformed messages of
 * six kinds (see jd_sim_poison_msg) into the stream, for trying out the dead-letter path.
 * `--corpus DIR` mixes in every message listed in DIR/MANIFEST (jd_corpus),
 * keyed by its name, spread the same way, the rest sent at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_codec.h"
#include "jd_corpus.h"
#include "jd_log.h"
#include "jd_producer.h"
#include "jd_sim.h"

static volatile int jd_sim_stopping;
static void jd_sim_stop(void) { jd_sim_stopping = 1; }

static const char *jd_sim_accounts, *jd_sim_days, *jd_sim_seed, *jd_sim_rate,
    *jd_sim_wire, *jd_sim_poison, *jd_sim_topic, *jd_sim_end, *jd_sim_corpus,
    *jd_sim_key_by;
static const jd_cli_flag_t jd_sim_flags[] = {
    {"accounts", 1, &jd_sim_accounts, "number of accounts (default 150)"},
    {"days", 1, &jd_sim_days, "days of history to generate (default 60)"},
    {"end", 1, &jd_sim_end, "end of the simulated period, YYYY-MM-DD (default 2026-11-01)"},
    {"seed", 1, &jd_sim_seed, "random seed (default 42)"},
    {"rate", 1, &jd_sim_rate, "events per second, 0 = as fast as possible (default 0)"},
    {"wire", 1, &jd_sim_wire, "confluent (default) or plain"},
    {"poison", 1, &jd_sim_poison, "mix N malformed messages into the stream (default 0)"},
    {"topic", 1, &jd_sim_topic, "topic to produce to (default: first of topics.input)"},
    {"corpus", 1, &jd_sim_corpus,
     "DIR: also send each message listed in DIR/MANIFEST (DIR/NAME.bin, key NAME)"},
    {"key-by", 1, &jd_sim_key_by,
     "account (default) or event: key messages by event_id, spreading each account's "
     "events over every partition"},
};
#define JD_SIM_NFLAGS (sizeof jd_sim_flags / sizeof *jd_sim_flags)

static double jd_sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int jd_sim_parse_end(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end || *end) {
        fprintf(stderr, "journeyd simulate: --end wants YYYY-MM-DD, not '%s'\n", s);
        return -1;
    }
    *out = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int jd_sim_conf(jd_sim_conf_t *sm, long long *rate, long long *poison)
{
    long long v;
    jd_sim_conf_default(sm);
    *rate = *poison = 0;
#define JD_SIM_NUM(flag, name, dst)                          \
    if (flag) {                                              \
        if ((v = jd_cli_number(name, flag)) < 0)             \
            return -1;                                       \
        dst = v;                                             \
    }
    JD_SIM_NUM(jd_sim_accounts, "accounts", sm->sm_accounts)
    JD_SIM_NUM(jd_sim_days, "days", sm->sm_days)
    JD_SIM_NUM(jd_sim_seed, "seed", sm->sm_seed)
    JD_SIM_NUM(jd_sim_rate, "rate", *rate)
    JD_SIM_NUM(jd_sim_poison, "poison", *poison)
#undef JD_SIM_NUM
    if (jd_sim_end && jd_sim_parse_end(jd_sim_end, &sm->sm_end_ms))
        return -1;
    if (jd_sim_wire && strcmp(jd_sim_wire, "plain") && strcmp(jd_sim_wire, "confluent")) {
        fprintf(stderr, "journeyd simulate: --wire is confluent or plain, not '%s'\n", jd_sim_wire);
        return -1;
    }
    if (jd_sim_key_by && strcmp(jd_sim_key_by, "account") && strcmp(jd_sim_key_by, "event")) {
        fprintf(stderr, "journeyd simulate: --key-by is account or event, not '%s'\n",
                jd_sim_key_by);
        return -1;
    }
    return 0;
}

/* Builds malformed message number k from a valid event: empty, truncated,
 * unknown schema id, garbage, no account_id, timestamp out of range. */
static void jd_sim_poison_msg(long long k, jd_encoder_t *enc, const jd_event_t *ev,
                              int32_t schema_id, jd_buf_t *b)
{
    jd_event_t bad = *ev;
    jd_err_t err;
    if (k % 6 == 4)
        bad.ev_account = "";
    if (k % 6 == 5)
        bad.ev_occurred_at = 1;
    jd_encoder_event(enc, &bad, schema_id, b, &err);
    switch (k % 6) {
    case 0: b->b_len = 0; break;
    case 1: b->b_len /= 2; break;
    case 2: /* Confluent id 999, or a plain record cut after its first byte */
        if (schema_id >= 0 && b->b_len > 5)
            b->b_data[3] = 0x03, b->b_data[4] = 0xE7;
        else
            b->b_len = 1;
        break;
    case 3:
        for (size_t i = 1; i < b->b_len; i++)
            b->b_data[i] = (unsigned char)(0xF1 ^ (i * 37));
        break;
    default: break;
    }
}

typedef struct jd_sim_run {
    jd_producer_t *sr_prod;
    jd_encoder_t  *sr_enc;
    const char    *sr_topic;
    int32_t        sr_schema_id;
    long long      sr_rate, sr_poison, sr_poison_every, sr_poisoned;
    uint64_t       sr_sent;
    jd_corpus_t   *sr_corpus;
    size_t         sr_corpus_sent;
    uint64_t       sr_corpus_every;
} jd_sim_run_t;

/* Sends the next corpus message, if any is left. */
static void jd_sim_corpus_next(jd_sim_run_t *sr)
{
    jd_err_t err;
    if (!sr->sr_corpus || sr->sr_corpus_sent == sr->sr_corpus->cp_cnt)
        return;
    const jd_corpus_msg_t *cm = &sr->sr_corpus->cp_msgs[sr->sr_corpus_sent++];
    while (jd_producer_send(sr->sr_prod, sr->sr_topic, cm->cm_name, cm->cm_data, cm->cm_len,
                            NULL, 0, NULL, &err) == JD_ERR_RETRY)
        ;
}

static int jd_sim_send(jd_sim_run_t *sr, const jd_event_t *ev, jd_buf_t *buf)
{
    jd_err_t err;
    if (jd_encoder_event(sr->sr_enc, ev, sr->sr_schema_id, buf, &err)) {
        fprintf(stderr, "journeyd simulate: %s\n", err.err_msg);
        return -1;
    }
    if (sr->sr_poison_every && sr->sr_poisoned < sr->sr_poison &&
        sr->sr_sent % (uint64_t)sr->sr_poison_every == (uint64_t)sr->sr_poison_every / 2) {
        jd_buf_t bad = {0};
        jd_sim_poison_msg(sr->sr_poisoned++, sr->sr_enc, ev, sr->sr_schema_id, &bad);
        while (jd_producer_send(sr->sr_prod, sr->sr_topic, ev->ev_account, bad.b_data,
                                bad.b_len, NULL, 0, NULL, &err) == JD_ERR_RETRY)
            ;
        jd_buf_free(&bad);
    }
    if (sr->sr_corpus_every && sr->sr_sent % sr->sr_corpus_every == sr->sr_corpus_every / 2)
        jd_sim_corpus_next(sr);
    const char *key = jd_sim_key_by && !strcmp(jd_sim_key_by, "event") ? ev->ev_id
                                                                       : ev->ev_account;
    while (jd_producer_send(sr->sr_prod, sr->sr_topic, key, buf->b_data,
                            buf->b_len, NULL, 0, NULL, &err) == JD_ERR_RETRY)
        ; /* queue full: jd_producer_send already polled for room */
    sr->sr_sent++;
    return 0;
}

static int jd_sim_loop(jd_sim_run_t *sr, jd_sim_t *sim)
{
    jd_arena_t ar;
    jd_buf_t buf = {0};
    jd_event_t ev;
    double t0 = jd_sim_now(), last = t0;
    int r = 0;

    jd_arena_init(&ar, 64 * 1024);
    while (!jd_sim_stopping && (r = jd_sim_next(sim, &ev, &ar)) == 1) {
        if (jd_sim_send(sr, &ev, &buf))
            break;
        if ((sr->sr_sent & 1023) == 0)
            jd_arena_reset(&ar);
        double now = jd_sim_now();
        if (sr->sr_rate && (double)sr->sr_sent > (now - t0) * (double)sr->sr_rate) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (now - last >= 1.0) {
            fprintf(stderr, "simulate: %llu events sent (%.0f/s)\n",
                    (unsigned long long)sr->sr_sent, (double)sr->sr_sent / (now - t0));
            last = now;
        }
    }
    jd_arena_destroy(&ar);
    jd_buf_free(&buf);
    return r < 0 ? -1 : 0;
}

int jd_cmd_simulate(int argc, char **argv)
{
    jd_cli_t cli;
    jd_sim_conf_t sm;
    jd_sim_run_t sr;
    jd_sim_t *sim = NULL;
    jd_err_t err;
    int rc = 2;

    memset(&sr, 0, sizeof sr);
    if (jd_cli_parse(&cli, "simulate", argc, argv, jd_sim_flags, JD_SIM_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("simulate", "[options]",
                     "Produce synthetic customer telemetry (Avro product events) to Kafka.",
                     jd_sim_flags, JD_SIM_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli) || jd_sim_conf(&sm, &sr.sr_rate, &sr.sr_poison))
        goto out;
    if (!jd_config_kafka(cli.cl_cf, "bootstrap.servers")[0]) {
        fprintf(stderr, "journeyd simulate: no broker: pass --brokers or set "
                        "kafka.bootstrap.servers (start one with `journeyd broker`)\n");
        goto out;
    }
    rc = 1;
    char topic[256];
    snprintf(topic, sizeof topic, "%s", jd_sim_topic ? jd_sim_topic : cli.cl_cf->cf_topics_input);
    topic[strcspn(topic, ",")] = '\0';
    sr.sr_topic = topic;
    sr.sr_schema_id = jd_sim_wire && !strcmp(jd_sim_wire, "plain") ? -1
                                                                   : cli.cl_cf->cf_product_schema_id;
    sim = jd_sim_new(&sm);
    sr.sr_enc = jd_encoder_new(&err);
    sr.sr_prod = sr.sr_enc ? jd_producer_new(cli.cl_cf, NULL, &err) : NULL;
    if (!sim || !sr.sr_prod) {
        fprintf(stderr, "journeyd simulate: %s\n", sim ? err.err_msg : "out of memory");
        goto out;
    }
    if (jd_sim_corpus && !(sr.sr_corpus = jd_corpus_load(jd_sim_corpus, &err))) {
        fprintf(stderr, "journeyd simulate: %s\n", err.err_msg);
        goto out;
    }
    /* spread the poison and the corpus over roughly the first 20k events */
    sr.sr_poison_every = sr.sr_poison ? 1 + 20000 / (sr.sr_poison + 1) : 0;
    sr.sr_corpus_every = sr.sr_corpus ? 1 + 20000 / (sr.sr_corpus->cp_cnt + 1) : 0;
    jd_cmd_on_signal(jd_sim_stop);
    double t0 = jd_sim_now();
    if (jd_sim_loop(&sr, sim) == 0) {
        while (sr.sr_corpus && sr.sr_corpus_sent < sr.sr_corpus->cp_cnt)
            jd_sim_corpus_next(&sr);
        int failed = jd_producer_wait(sr.sr_prod, 60000, &err);
        double secs = jd_sim_now() - t0;
        fprintf(stderr, "simulate: %llu events and %lld malformed messages to %s in %.2f s "
                        "(%.0f events/s)%s\n",
                (unsigned long long)sr.sr_sent, sr.sr_poisoned + (long long)sr.sr_corpus_sent,
                topic, secs,
                secs > 0 ? (double)sr.sr_sent / secs : 0.0,
                failed ? " - some deliveries FAILED" : "");
        if (failed < 0)
            fprintf(stderr, "journeyd simulate: %s\n", err.err_msg);
        else if (failed > 0)
            fprintf(stderr, "journeyd simulate: %d deliveries failed\n", failed);
        rc = failed ? 1 : 0;
    }
out:
    jd_corpus_destroy(sr.sr_corpus);
    jd_producer_destroy(sr.sr_prod);
    jd_encoder_destroy(sr.sr_enc);
    jd_sim_destroy(sim);
    jd_cli_free(&cli);
    return rc;
}
