/*
 * jd_bench_broker: `jd_bench broker`, the embedded cluster of `journeyd
 * broker` (jd_broker_new: the same topics and partitions), with one
 * diagnostic option.
 *
 * --nodelay sets TCP_NODELAY on every connection the mock brokers accept.
 * librdkafka's mock cluster leaves Nagle's algorithm on for its sockets,
 * which real Kafka brokers turn off; with it on, a client that has several
 * produce requests in flight (one per partition: a batch of triggers for
 * several accounts) waits for the kernel's delayed ACK, about 40 ms, on
 * almost every flush. The option exists to measure how much of the
 * trigger-publish wait is that artifact. It works by interposition: this
 * executable defines accept(), which the dynamic linker binds librdkafka's
 * call to; it accepts with accept4() and sets the option. Every other
 * subcommand leaves the flag off, so their accept() (none call it) would
 * behave as glibc's.
 *
 * Main thread; the cluster is served by librdkafka's mock thread.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jd_bench.h"
#include "jd_broker.h"
#include "jd_cli.h"
#include "jd_cmd.h"

static volatile int jd_bench_nodelay;
static volatile sig_atomic_t jd_bench_broker_stopping;

int accept(int fd, struct sockaddr *addr, socklen_t *len);
int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    int s = accept4(fd, addr, len, 0);
    if (s >= 0 && jd_bench_nodelay) {
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return s;
}

static void jd_bench_broker_stop(void)
{
    jd_bench_broker_stopping = 1;
}

static const char *jd_bench_b_parts, *jd_bench_b_nodelay;
static const jd_cli_flag_t jd_bench_b_flags[] = {
    {"partitions", 1, &jd_bench_b_parts, "partitions per topic (topics.embedded_partitions)"},
    {"nodelay", 0, &jd_bench_b_nodelay, "set TCP_NODELAY on accepted connections (diagnosis)"},
};
#define JD_BENCH_B_NFLAGS (sizeof jd_bench_b_flags / sizeof *jd_bench_b_flags)

int jd_bench_cmd_broker(int argc, char **argv)
{
    jd_cli_t cli;
    jd_err_t err;
    jd_broker_t *b;

    if (jd_cli_parse(&cli, "bench broker", argc, argv, jd_bench_b_flags, JD_BENCH_B_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench broker", "[options]",
                     "The embedded cluster (as `journeyd broker`), optionally with TCP_NODELAY.",
                     jd_bench_b_flags, JD_BENCH_B_NFLAGS);
        return 0;
    }
    if (jd_cli_config(&cli))
        return 2;
    long long parts = jd_bench_b_parts ? jd_cli_number("partitions", jd_bench_b_parts)
                                       : cli.cl_cf->cf_embedded_partitions;
    jd_bench_nodelay = jd_bench_b_nodelay != NULL;
    if (parts < 1 || !(b = jd_broker_new(cli.cl_cf, 1, (int)parts, &err))) {
        fprintf(stderr, "bench broker: %s\n", parts < 1 ? "bad --partitions" : err.err_msg);
        jd_cli_free(&cli);
        return 1;
    }
    jd_cmd_on_signal(jd_bench_broker_stop);
    printf("%s\n", jd_broker_bootstraps(b));
    fflush(stdout);
    while (!jd_bench_broker_stopping)
        usleep(100 * 1000);
    jd_broker_destroy(b);
    jd_cli_free(&cli);
    return 0;
}
