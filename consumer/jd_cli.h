/*
 * jd_cli: command-line parsing shared by every journeyd subcommand.
 *
 * Each subcommand declares its own flags in a small table; the common ones
 * (--config, --brokers, --redis, --rules, --set, --log-level) are accepted
 * everywhere. Configuration is assembled in the documented order -
 * defaults, YAML file (--config or JOURNEYD_CONFIG), JOURNEYD_* environment,
 * flags - and validated before any command starts work.
 *
 * Ownership: jd_cli_t owns the config it builds (jd_cli_free). Main thread.
 */
#ifndef JD_CLI_H
#define JD_CLI_H

#include <stddef.h>

#include "jd_config.h"
#include "jd_rules.h"

typedef struct jd_cli_flag {
    const char  *fl_name;     /* without the leading "--" */
    int          fl_has_arg;
    const char **fl_value;    /* set to the argument, or "1" for switches */
    const char  *fl_help;
} jd_cli_flag_t;

#define JD_CLI_MAX_POS 8
#define JD_CLI_MAX_SET 64    /* settings (--set and its sugar) per command line */
#define JD_CLI_KEY_MAX 256   /* longest key of a --set, with its NUL */

typedef struct jd_cli {
    const char  *cl_cmd;                  /* "run", "rules check", ... */
    const char  *cl_config_path;
    const char  *cl_pos[JD_CLI_MAX_POS];  /* positional arguments */
    size_t       cl_npos;
    const char  *cl_set[JD_CLI_MAX_SET][2];   /* key, value */
    size_t       cl_nset;
    char         cl_set_key[JD_CLI_MAX_SET][JD_CLI_KEY_MAX];  /* keys of --set */
    int          cl_help;
    jd_config_t *cl_cf;
} jd_cli_t;

/* Parses argv[0..argc) (the words after the subcommand). Prints a clear
 * message and returns -1 on an unknown flag, a missing argument or more
 * than JD_CLI_MAX_SET settings. Values point into argv, which must outlive
 * the cli; --set keys are copied into it (the cli must not be moved). */
int jd_cli_parse(jd_cli_t *cli, const char *cmd, int argc, char **argv,
                 const jd_cli_flag_t *flags, size_t nflags);

/* Builds and validates the configuration; prints the error and returns -1
 * when anything is wrong. */
int jd_cli_config(jd_cli_t *cli);

/* Prints "journeyd CMD: configuration error: MSG" on stderr, control
 * characters of MSG escaped (a value quoted from the file may hold any). */
void jd_cli_config_error(const char *cmd, const jd_err_t *err);

/* Loads rules.file, or the default rules; prints errors; NULL on failure. */
jd_ruleset_t *jd_cli_rules(const jd_cli_t *cli);

/* Prints "usage: journeyd CMD USAGE", the summary, and every flag. */
void jd_cli_usage(const char *cmd, const char *usage, const char *summary,
                  const jd_cli_flag_t *flags, size_t nflags);

/* Parses a non-negative integer flag value; prints an error and returns
 * -1 when it is not one. */
long long jd_cli_number(const char *flag, const char *val);

void jd_cli_free(jd_cli_t *cli);

#endif
