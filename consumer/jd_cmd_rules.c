/*
 * jd_cmd_rules: `journeyd rules check FILE` (compile a rules file, list its
 * rules; FILE:LINE:COLUMN and the message on an error, exit 1) and
 * `journeyd rules test FILE --fixtures DIR` (run the fixture tables of
 * rules/jd_fixture.h; exit 1 when a case fails). Neither needs Kafka or
 * Redis. `journeyd run` loads its rules with the same loader, so it
 * refuses exactly the files `check` refuses, with the same message.
 * Also `journeyd replay FILE --rules NEW --baseline OLD` (consumer/jd_replay.c):
 * the triggers a rule change adds, removes or changes, before it goes live.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_replay.h"
#include "jd_fixture.h"
#include "jd_rules.h"
#include "jd_window.h"

static int jd_rules_usage(int rc)
{
    printf("usage: journeyd rules check FILE\n"
           "       journeyd rules test FILE --fixtures DIR\n\n"
           "check: compile a rules file; print each rule, or FILE:LINE:COLUMN and the error.\n"
           "test:  run every DIR/*.yaml fixture table (signals in, expected trigger or none\n"
           "       out) against the rules of FILE; exit 1 when a case fails or a rule\n"
           "       has no fixture file.\n");
    return rc;
}

static int jd_rules_check(const char *path)
{
    jd_ruleset_t *rs = NULL;
    jd_err_t err;

    if (jd_rules_load_file(path, &rs, &err)) {
        fprintf(stderr, "%s\n", err.err_msg);
        return 1;
    }
    printf("%s: %zu rule(s) OK\n", path, jd_rules_count(rs));
    for (size_t i = 0; i < jd_rules_count(rs); i++) {
        const jd_rule_t *r = jd_rules_at(rs, i);
        printf("  %-32s %-17s %-8s v=%s%s when %s\n", jd_rule_id(r),
               jd_kind_name(jd_rule_kind(r)), jd_severity_symbol(jd_rule_severity(r)),
               jd_rule_version(r), jd_rule_is_shadow(r) ? " shadow" : "", jd_rule_when(r));
    }
    jd_rules_destroy(rs);
    return 0;
}

static int jd_rules_test(const char *path, const char *dir)
{
    jd_fixture_report_t rep = {0};
    jd_ruleset_t *rs = NULL;
    jd_err_t err;
    int rc;

    if (jd_rules_load_file(path, &rs, &err)) {
        fprintf(stderr, "%s\n", err.err_msg);
        return 1;
    }
    if (!(rep.fr_tested = calloc(jd_rules_count(rs), 1))) {
        jd_rules_destroy(rs);
        return 1;
    }
    rc = jd_fixture_run_dir(rs, dir, stdout, &rep, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.err_msg);
    else
        printf("%s: %zu fixture file(s), %zu case(s), %zu step(s), %zu failed\n", path,
               rep.fr_files, rep.fr_cases, rep.fr_steps, rep.fr_failed);
    for (size_t i = 0; !rc && i < jd_rules_count(rs); i++)
        if (!rep.fr_tested[i]) {
            printf("  FAIL %s: no fixture file tests this rule\n",
                   jd_rule_id(jd_rules_at(rs, i)));
            rep.fr_failed++;
        }
    free(rep.fr_tested);
    jd_rules_destroy(rs);
    return rc || rep.fr_failed ? 1 : 0;
}

int jd_cmd_rules(int argc, char **argv)
{
    const char *sub = argc ? argv[0] : "";

    if (!strcmp(sub, "--help") || !strcmp(sub, "-h"))
        return jd_rules_usage(0);
    if (!strcmp(sub, "check") && argc == 2)
        return jd_rules_check(argv[1]);
    if (!strcmp(sub, "test") && argc == 4 && !strcmp(argv[2], "--fixtures"))
        return jd_rules_test(argv[1], argv[3]);
    return jd_rules_usage(2);
}

static const char *jd_replay_base, *jd_replay_batch, *jd_replay_quiet, *jd_replay_topic,
                  *jd_replay_from, *jd_replay_to;
static const jd_cli_flag_t jd_replay_flags[] = {
    {"topic", 1, &jd_replay_topic, "read this topic (every partition, up to its end now) "
                                   "instead of a FILE; needs --brokers"},
    {"from", 1, &jd_replay_from, "with --topic: from this message time (ISO-8601)"},
    {"to", 1, &jd_replay_to, "with --topic: before this message time (ISO-8601)"},
    {"baseline", 1, &jd_replay_base, "the rules to compare with (the ones live now)"},
    {"batch", 1, &jd_replay_batch, "events whose strings are held at a time (default 500); "
                                   "the result does not depend on it"},
    {"counts-only", 0, &jd_replay_quiet, "only the counts per rule, not each trigger"},
};
#define JD_REPLAY_NFLAGS (sizeof jd_replay_flags / sizeof jd_replay_flags[0])

int jd_cmd_replay(int argc, char **argv)
{
    jd_replay_opts_t ro = {0};
    jd_replay_result_t res;
    jd_ruleset_t *base = NULL, *rs = NULL;
    jd_cli_t cli;
    jd_err_t err;
    long long batch = 500;
    int rc = 2;

    if (jd_cli_parse(&cli, "replay", argc, argv, jd_replay_flags, JD_REPLAY_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("replay", "FILE|--topic T --rules NEW.yaml --baseline OLD.yaml [options]",
                     "Evaluate two rule sets over the product events of an Avro file or a topic (in "
                     "memory, as run decides; Redis is not touched) and print the triggers the new "
                     "rules add, remove or change, with counts per rule.",
                     jd_replay_flags, JD_REPLAY_NFLAGS);
        rc = 0;
        goto out;
    }
    if (cli.cl_npos != (jd_replay_topic ? 0u : 1u) || !jd_replay_base) {
        fprintf(stderr, "usage: journeyd replay FILE|--topic T --rules NEW.yaml "
                        "--baseline OLD.yaml\n");
        goto out;
    }
    if ((jd_replay_from && jd_window_parse_instant(jd_replay_from, &ro.rp_from_ms)) ||
        (jd_replay_to && jd_window_parse_instant(jd_replay_to, &ro.rp_to_ms))) {
        fprintf(stderr, "journeyd replay: --from and --to take an ISO-8601 date or time\n");
        goto out;
    }
    if (jd_replay_batch && (batch = jd_cli_number("batch", jd_replay_batch)) < 1)
        goto out;
    rc = 1;
    if (jd_cli_config(&cli) || !(rs = jd_cli_rules(&cli)))
        goto out;
    if (jd_rules_load_file(jd_replay_base, &base, &err)) {
        fprintf(stderr, "%s\n", err.err_msg);
        goto out;
    }
    ro.rp_file = jd_replay_topic ? NULL : cli.cl_pos[0];
    ro.rp_topic = jd_replay_topic;
    ro.rp_new = rs;
    ro.rp_base = base;
    ro.rp_batch = (size_t)batch;
    ro.rp_list = !jd_replay_quiet;
    if (jd_replay_run(cli.cl_cf, &ro, stdout, &res, &err)) {
        fprintf(stderr, "journeyd replay: %s\n", err.err_msg);
        goto out;
    }
    rc = 0;
out:
    jd_rules_destroy(rs);
    jd_rules_destroy(base);
    jd_cli_free(&cli);
    return rc;
}
