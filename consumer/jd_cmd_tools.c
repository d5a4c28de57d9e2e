/*
 * jd_cmd_tools: the read-only commands: `inspect` (an account's signals
 * from Redis), `rules check` (compile a rules file and list its rules) and
 * `config check|keys|show`. They share the configuration path of `run`,
 * so what they accept or refuse is exactly what `run` would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_state.h"

static const char *jd_inspect_json;
static const jd_cli_flag_t jd_inspect_flags[] = {
    {"json", 0, &jd_inspect_json, "print JSON instead of a table"},
};

static void jd_inspect_table(const jd_signals_t *sg, const char *account)
{
    printf("account %s\n", account);
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        const jd_value_t *v = jd_signals_get(sg, (jd_signal_id_t)i);
        const char *name = jd_signals_name((jd_signal_id_t)i);
        if (v->type == JD_VAL_NULL)
            printf("  %-20s null\n", name);
        else if (v->type == JD_VAL_STR)
            printf("  %-20s %s\n", name, v->str);
        else if (strcmp(name + strlen(name) - 3, "_at") == 0 || strcmp(name, "as_of") == 0) {
            char buf[32];
            time_t t = (time_t)(v->num / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("  %-20s %s\n", name, buf);
        } else
            printf("  %-20s %.6g\n", name, v->num);
    }
}

int jd_cmd_inspect(int argc, char **argv)
{
    jd_cli_t cli;
    jd_err_t err;
    jd_signals_t sg;
    jd_state_t *st = NULL;
    int rc = 2;

    if (jd_cli_parse(&cli, "inspect", argc, argv, jd_inspect_flags, 1))
        return 2;
    if (cli.cl_help || cli.cl_npos != 1) {
        jd_cli_usage("inspect", "ACCOUNT [--json]",
                     "Print every signal of one account, read from Redis.", jd_inspect_flags, 1);
        return cli.cl_help ? 0 : 2;
    }
    if (jd_cli_config(&cli))
        goto out;
    rc = 1;
    jd_state_conf_t sc;
    jd_config_state(cli.cl_cf, &sc);
    if (!(st = jd_state_new(&sc, &err)) || jd_state_inspect(st, cli.cl_pos[0], &sg, &err)) {
        fprintf(stderr, "journeyd inspect: %s\n", err.err_msg);
        goto out;
    }
    if (jd_inspect_json) {
        size_t need = jd_signals_to_json(&sg, cli.cl_pos[0], NULL, 0);
        char *buf = malloc(need + 1);
        if (buf) {
            jd_signals_to_json(&sg, cli.cl_pos[0], buf, need + 1);
            puts(buf);
            free(buf);
        }
    } else
        jd_inspect_table(&sg, cli.cl_pos[0]);
    rc = 0;
out:
    jd_state_destroy(st);
    jd_cli_free(&cli);
    return rc;
}

int jd_cmd_rules(int argc, char **argv)
{
    jd_ruleset_t *rs = NULL;
    jd_err_t err;

    if (argc < 1 || strcmp(argv[0], "check") != 0 || argc != 2) {
        printf("usage: journeyd rules check FILE\n\n"
               "Compile a rules file; print each rule, or FILE:LINE:COLUMN and the error.\n");
        return argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? 0 : 2;
    }
    if (jd_rules_load_file(argv[1], &rs, &err)) {
        fprintf(stderr, "%s\n", err.err_msg);
        return 1;
    }
    printf("%s: %zu rule(s) OK\n", argv[1], jd_rules_count(rs));
    for (size_t i = 0; i < jd_rules_count(rs); i++) {
        const jd_rule_t *r = jd_rules_at(rs, i);
        printf("  %-32s %-17s %-8s v=%s when %s\n", jd_rule_id(r), jd_kind_name(jd_rule_kind(r)),
               jd_severity_symbol(jd_rule_severity(r)), jd_rule_version(r), jd_rule_when(r));
    }
    jd_rules_destroy(rs);
    return 0;
}

int jd_cmd_config(int argc, char **argv)
{
    jd_cli_t cli;
    const char *sub = argc ? argv[0] : "";
    int rc;

    if (!strcmp(sub, "keys")) {
        jd_config_print_keys(stdout);
        return 0;
    }
    if (strcmp(sub, "check") && strcmp(sub, "show")) {
        printf("usage: journeyd config check FILE | show [options] | keys\n\n"
               "check: validate a configuration file (exit 0 when valid)\n"
               "show:  print the effective configuration (file + env + flags)\n"
               "keys:  print every key with its type, default and meaning\n");
        return !strcmp(sub, "--help") || !strcmp(sub, "-h") ? 0 : 2;
    }
    if (jd_cli_parse(&cli, "config", argc - 1, argv + 1, NULL, 0))
        return 2;
    if (!strcmp(sub, "check")) {
        if (cli.cl_npos != 1) {
            fprintf(stderr, "usage: journeyd config check FILE\n");
            return 2;
        }
        cli.cl_config_path = cli.cl_pos[0];
    }
    rc = jd_cli_config(&cli) ? 1 : 0;
    if (!rc && !strcmp(sub, "check"))
        printf("%s: OK\n", cli.cl_config_path);
    else if (!rc)
        jd_config_print(cli.cl_cf, stdout);
    jd_cli_free(&cli);
    return rc;
}
