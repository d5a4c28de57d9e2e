/*
 * jd_cmd_run: `journeyd run` and `journeyd broker`, the two commands that
 * own Kafka: the processor itself, and the embedded cluster as a process.
 *
 * With no bootstrap servers configured, `run` starts the embedded cluster
 * in-process and logs its address, so one command gives a working demo;
 * `broker` runs the same cluster alone and prints the address on stdout
 * (first line) for the simulator, kcat, tests and the bench. Both stop on
 * SIGINT/SIGTERM: `run` finishes its batch, waits for deliveries, commits
 * and prints its summary.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_broker.h"
#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_faults.h"
#include "jd_kconf.h"
#include "jd_log.h"
#include "jd_ops.h"
#include "jd_pipeline.h"

static void (*jd_cmd_signal_fn)(void);

static void jd_cmd_signal(int sig)
{
    (void)sig;
    if (jd_cmd_signal_fn)
        jd_cmd_signal_fn();
}

void jd_cmd_on_signal(void (*fn)(void))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    jd_cmd_signal_fn = fn;
    sa.sa_handler = jd_cmd_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static const char *jd_run_max, *jd_run_idle, *jd_run_print, *jd_run_quiet;
static const jd_cli_flag_t jd_run_flags[] = {
    {"max-events", 1, &jd_run_max, "stop after N messages (default: run until stopped)"},
    {"exit-idle", 1, &jd_run_idle, "stop after N seconds without messages"},
    {"print-triggers", 0, &jd_run_print, "print each published trigger on stdout"},
    {"quiet", 0, &jd_run_quiet, "no summary at the end"},
};

static int jd_run_opts(jd_pipeline_opts_t *po)
{
    long long v;
    memset(po, 0, sizeof *po);
    if (jd_run_max) {
        if ((v = jd_cli_number("max-events", jd_run_max)) < 0)
            return -1;
        po->po_max_events = v;
    }
    if (jd_run_idle) {
        if ((v = jd_cli_number("exit-idle", jd_run_idle)) < 0)
            return -1;
        po->po_exit_idle_ms = (int)(v * 1000);
    }
    po->po_trigger_out = jd_run_print ? stdout : NULL;
    return 0;
}

int jd_cmd_run(int argc, char **argv)
{
    jd_cli_t cli;
    jd_pipeline_opts_t po;
    jd_pipeline_stats_t ps;
    jd_broker_t *broker = NULL;
    jd_ops_t *ops = NULL;
    jd_ruleset_t *rs = NULL;
    const char *bootstrap = NULL;
    char redis[600];
    jd_err_t err;
    int rc = 2;

    if (jd_cli_parse(&cli, "run", argc, argv, jd_run_flags, 4))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("run", "[options]",
                     "Consume product events, keep journey state in Redis, publish triggers.",
                     jd_run_flags, 4);
        return 0;
    }
    if (jd_cli_config(&cli) || jd_run_opts(&po) || !(rs = jd_cli_rules(&cli)))
        goto out;
    if (jd_kconf_check(cli.cl_cf, &err)) { /* nothing is started yet */
        jd_cli_config_error("run", &err);
        goto out;
    }
    if (!jd_config_kafka(cli.cl_cf, "bootstrap.servers")[0]) {
        broker = jd_broker_new(cli.cl_cf, 1, cli.cl_cf->cf_embedded_partitions, &err);
        if (!broker) {
            fprintf(stderr, "journeyd run: %s\n", err.err_msg);
            goto out;
        }
        bootstrap = jd_broker_bootstraps(broker);
        JD_INFO("broker", "no kafka.bootstrap.servers configured: embedded cluster at %s "
                          "(in memory, for demos and tests only)", bootstrap);
    }
    if (!(ops = jd_ops_new(cli.cl_cf, &err))) {
        fprintf(stderr, "journeyd run: %s\n", err.err_msg);
        goto out;
    }
    jd_ops_install(ops);
    jd_cmd_on_signal(jd_pipeline_stop);
    if (cli.cl_cf->cf_redis_socket[0])
        snprintf(redis, sizeof redis, "%s", cli.cl_cf->cf_redis_socket);
    else
        snprintf(redis, sizeof redis, "%s:%d", cli.cl_cf->cf_redis_host, cli.cl_cf->cf_redis_port);
    JD_INFO("run", "journeyd %s starting: topics %s, group %s, brokers %s, redis %s", JD_VERSION,
            cli.cl_cf->cf_topics_input, jd_config_kafka(cli.cl_cf, "group.id"),
            bootstrap ? bootstrap : jd_config_kafka(cli.cl_cf, "bootstrap.servers"), redis);
    rc = jd_pipeline_run(cli.cl_cf, bootstrap, rs, &po, &ps, &err) ? 1 : 0;
    if (rc)
        fprintf(stderr, "journeyd run: %s\n", err.err_msg);
    JD_LOG(rc ? JD_LOG_ERROR : JD_LOG_INFO, "run",
           "stopped%s%s: %llu messages, %llu dead letters, %llu triggers in %.2f s",
           rc ? " on an error: " : "", rc ? err.err_msg : "", (unsigned long long)ps.ps_messages,
           (unsigned long long)ps.ps_dead_letters, (unsigned long long)ps.ps_triggers,
           ps.ps_seconds);
    if (!jd_run_quiet)
        jd_pipeline_print_summary(&ps, rs, stdout);
    free(ps.ps_triggers_by_rule);
out:
    jd_ops_destroy(ops);
    jd_rules_destroy(rs);
    jd_broker_destroy(broker);
    jd_cli_free(&cli);
    return rc;
}

static volatile sig_atomic_t jd_broker_stopping;
static void jd_broker_stop(void) { jd_broker_stopping = 1; }

#define JD_BROKER_IND "                       " /* continues a flag's help */
static const char *jd_broker_parts, *jd_broker_count, *jd_broker_faults;
static const jd_cli_flag_t jd_broker_flags[] = {
    {"partitions", 1, &jd_broker_parts, "partitions per topic (topics.embedded_partitions)"},
    {"broker-count", 1, &jd_broker_count, "number of brokers in the cluster (default 1)"},
    {"faults", 1, &jd_broker_faults,
     "FILE: fault injection for tests. When FILE appears (write it elsewhere,"
     "\n" JD_BROKER_IND "then mv), its lines are applied and it is deleted:"
     "\n" JD_BROKER_IND "  errors API COUNT [ERROR]  fail the next COUNT requests of API"
     "\n" JD_BROKER_IND "     (produce, fetch, offsetcommit, heartbeat, joingroup, ...) with ERROR"
     "\n" JD_BROKER_IND "     (a librdkafka name, e.g. NOT_LEADER_FOR_PARTITION)"
     "\n" JD_BROKER_IND "  down BROKER SECONDS  take broker BROKER (1..N) down that long"
     "\n" JD_BROKER_IND "  up BROKER            bring it back now"},
};
#define JD_BROKER_NFLAGS (sizeof jd_broker_flags / sizeof jd_broker_flags[0])

int jd_cmd_broker(int argc, char **argv)
{
    jd_cli_t cli;
    jd_err_t err;
    long long parts, count = 1;
    jd_broker_t *b;

    if (jd_cli_parse(&cli, "broker", argc, argv, jd_broker_flags, JD_BROKER_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("broker", "[options]",
                     "Run the embedded Kafka cluster and print its bootstrap address on stdout.\n"
                     "In memory, no SSL/SASL: for demos, tests and the bench only.",
                     jd_broker_flags, JD_BROKER_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli))
        return 2;
    parts = jd_broker_parts ? jd_cli_number("partitions", jd_broker_parts)
                            : cli.cl_cf->cf_embedded_partitions;
    if (jd_broker_count)
        count = jd_cli_number("broker-count", jd_broker_count);
    if (parts < 1 || count < 1) {
        jd_cli_free(&cli);
        return 2;
    }
    b = jd_broker_new(cli.cl_cf, (int)count, (int)parts, &err);
    if (!b) {
        fprintf(stderr, "journeyd broker: %s\n", err.err_msg);
        jd_cli_free(&cli);
        return 1;
    }
    jd_faults_t *fs = jd_broker_faults ? jd_faults_new(b, jd_broker_faults) : NULL;
    jd_cmd_on_signal(jd_broker_stop);
    printf("%s\n", jd_broker_bootstraps(b));
    fflush(stdout);
    JD_INFO("broker", "embedded cluster at %s, %lld partition(s) per topic; stop with SIGTERM",
            jd_broker_bootstraps(b), parts);
    while (!jd_broker_stopping) {
        usleep(100 * 1000);
        if (fs)
            jd_faults_tick(fs);
    }
    if (fs)
        JD_INFO("faults", "%d fault(s) injected", jd_faults_count(fs));
    jd_faults_destroy(fs);
    jd_broker_destroy(b);
    jd_cli_free(&cli);
    return 0;
}
