/*
 * jd_bench: the bench driver. One binary, one subcommand per measurement;
 * bench/run.sh sequences them against one embedded broker and one
 * redis-server and bench/report.py turns their JSON lines into the table.
 *
 *   produce   generate and produce a workload (jd_sim, mix, distinct)
 *   consume   the baselines: --mode raw (bare consumer) or decode
 *   full      the journeyd pipeline, in-process (jd_pipeline_run)
 *   latency   fixed-rate producer + trigger consumer, against a running
 *             pipeline
 *
 * The micro-benchmarks (decode, rules, state apply) are jd_bench_micro.
 * Main thread; subcommands start their own threads where they say so.
 */
#include <stdio.h>
#include <string.h>

#include "jd_bench.h"

static void jd_bench_usage(FILE *f)
{
    fprintf(f, "usage: jd_bench produce|consume|full|latency [options]  (--help per command)\n"
               "The bench suite's driver; see bench/README.md, or just run bench/run.sh.\n");
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"produce", jd_bench_cmd_produce},
        {"consume", jd_bench_cmd_consume},
        {"full", jd_bench_cmd_full},
        {"latency", jd_bench_cmd_latency},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        jd_bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "jd_bench: unknown command '%s'\n", argv[1]);
    jd_bench_usage(stderr);
    return 2;
}
