/*
 * journeyd: entry point. Dispatches to the subcommands in jd_cmd_*.c; all
 * of the work lives in the journeyd_core library so tests and the bench
 * link the same code.
 */
#include <stdio.h>
#include <string.h>

#include "jd_cmd.h"

static void jd_main_usage(FILE *f)
{
    fprintf(f,
            "journeyd %s - customer journeys from product events, per event\n\n"
            "usage: journeyd COMMAND [options]   (journeyd COMMAND --help for details)\n\n"
            "commands:\n"
            "  run        consume events, keep journey state in Redis, publish triggers\n"
            "  broker     run the embedded Kafka cluster (demos, tests, bench)\n"
            "  simulate   produce synthetic customer telemetry\n"
            "  inspect    print an account's signals\n"
            "  rules      check a rules file, or test it against fixture tables\n"
            "  replay     compare two rule sets over an Avro file of events\n"
            "  config     check, show or list configuration\n"
            "  version    print the version\n",
            JD_VERSION);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"run", jd_cmd_run},         {"broker", jd_cmd_broker},
        {"simulate", jd_cmd_simulate}, {"inspect", jd_cmd_inspect},
        {"rules", jd_cmd_rules},     {"config", jd_cmd_config},
        {"replay", jd_cmd_replay},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        jd_main_usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("journeyd %s\n", JD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "journeyd: unknown command '%s'\n\n", argv[1]);
    jd_main_usage(stderr);
    return 2;
}
