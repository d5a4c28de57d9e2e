/*
 * jd_cmd_rules: `journeyd rules check FILE` (compile a rules file, list its
 * rules; FILE:LINE:COLUMN and the message on an error, exit 1) and
 * `journeyd rules test FILE --fixtures DIR` (run the fixture tables of
 * rules/jd_fixture.h; exit 1 when a case fails). Neither needs Kafka or
 * Redis. `journeyd run` loads its rules with the same loader, so it
 * refuses exactly the files `check` refuses, with the same message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_cmd.h"
#include "jd_fixture.h"
#include "jd_rules.h"

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
