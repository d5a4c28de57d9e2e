/*
 * Command-line parsing: the number of settings a command line may carry
 * is bounded (a clear error, not a write past a buffer), and --set keys
 * and values arrive intact.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "stderr_cap.h"

/* argv of n "--set kafka.pN=vN" pairs (2n words), freed by free_argv. */
static char **set_argv(int n)
{
    char **argv = calloc((size_t)(2 * n + 1), sizeof *argv);
    cr_assert(argv);
    for (int i = 0; i < n; i++) {
        argv[2 * i] = strdup("--set");
        cr_assert(asprintf(&argv[2 * i + 1], "kafka.p%d=v%d", i, i) > 0);
    }
    return argv;
}

static void free_argv(char **argv, int n)
{
    for (int i = 0; i < 2 * n; i++)
        free(argv[i]);
    free(argv);
}

/* Runs jd_cli_parse with stderr captured into `out`. */
static int parse_capture(jd_cli_t *cli, int argc, char **argv, char *out, size_t cap)
{
    stderr_cap_t c;
    stderr_cap_begin(&c);
    int rc = jd_cli_parse(cli, "test", argc, argv, NULL, 0);
    stderr_cap_end(&c, out, cap);
    return rc;
}

Test(cli, max_settings_are_kept)
{
    jd_cli_t *cli = calloc(1, sizeof *cli);
    char **argv = set_argv(JD_CLI_MAX_SET), err[512];
    cr_assert_eq(parse_capture(cli, 2 * JD_CLI_MAX_SET, argv, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cli->cl_nset, JD_CLI_MAX_SET);
    cr_assert_str_eq(cli->cl_set[0][0], "kafka.p0");
    cr_assert_str_eq(cli->cl_set[0][1], "v0");
    cr_assert_str_eq(cli->cl_set[JD_CLI_MAX_SET - 1][0], "kafka.p63");
    cr_assert_str_eq(cli->cl_set[JD_CLI_MAX_SET - 1][1], "v63");
    free_argv(argv, JD_CLI_MAX_SET);
    free(cli);
}

Test(cli, one_setting_too_many_is_a_clear_error)
{
    jd_cli_t *cli = calloc(1, sizeof *cli);
    int n = JD_CLI_MAX_SET + 1;
    char **argv = set_argv(n), err[512];
    cr_assert_eq(parse_capture(cli, 2 * n, argv, err, sizeof err), -1);
    cr_assert(strstr(err, "more than 64 settings"), "%s", err);
    cr_assert_eq(cli->cl_nset, JD_CLI_MAX_SET);
    free_argv(argv, n);
    free(cli);
}

/* The flags that stand for settings count too: --redis is two. */
Test(cli, sugar_flags_count_against_the_bound)
{
    jd_cli_t *cli = calloc(1, sizeof *cli);
    int n = JD_CLI_MAX_SET - 1;
    char **argv = set_argv(n), err[512];
    argv = realloc(argv, (size_t)(2 * n + 3) * sizeof *argv);
    argv[2 * n] = strdup("--redis");
    argv[2 * n + 1] = strdup("localhost:6380");
    argv[2 * n + 2] = NULL;
    cr_assert_eq(parse_capture(cli, 2 * n + 2, argv, err, sizeof err), -1);
    cr_assert(strstr(err, "more than 64 settings"), "%s", err);
    free_argv(argv, n + 1);
    free(cli);
}

Test(cli, set_wants_a_key_and_a_short_one)
{
    jd_cli_t *cli = calloc(1, sizeof *cli);
    char *noeq[] = {"--set", "redis.port"}, *nokey[] = {"--set", "=1"}, err[512];
    char big[600], *longkey[] = {"--set", big};
    cr_assert_eq(parse_capture(cli, 2, noeq, err, sizeof err), -1);
    cr_assert(strstr(err, "--set wants KEY=VALUE"), "%s", err);
    cr_assert_eq(parse_capture(cli, 2, nokey, err, sizeof err), -1);
    memset(big, 'k', sizeof big);
    strcpy(big + 500, "=1");
    cr_assert_eq(parse_capture(cli, 2, longkey, err, sizeof err), -1);
    cr_assert(strstr(err, "key longer than 255 bytes"), "%s", err);
    free(cli);
}

Test(cli, long_value_is_kept_whole)
{
    jd_cli_t *cli = calloc(1, sizeof *cli);
    static char word[2100];
    char *argv[] = {"--set", word}, err[512];
    memcpy(word, "kafka.sasl.jaas.config=", 23);
    memset(word + 23, 'v', 2000);
    cr_assert_eq(parse_capture(cli, 2, argv, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(cli->cl_set[0][0], "kafka.sasl.jaas.config");
    cr_assert_eq(strlen(cli->cl_set[0][1]), 2000);
    free(cli);
}
