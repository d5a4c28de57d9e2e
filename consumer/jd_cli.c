/*
 * jd_cli: flag parsing and configuration assembly (contract in jd_cli.h).
 *
 * Flags are collected first and applied after the file and environment, so
 * `--redis` beats JOURNEYD_REDIS_PORT beats the YAML file, whatever order
 * the user typed them in. The common flags are sugar over `--set KEY=VALUE`
 * so they go through the one validation path of jd_config.
 */
#include "jd_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_log.h"
#include "jd_secret.h"

static const char *jd_cli_common_help =
    "  --config FILE        YAML configuration file (or JOURNEYD_CONFIG)\n"
    "  --brokers LIST       Kafka bootstrap servers (kafka.bootstrap.servers);\n"
    "                       empty starts the embedded cluster where it applies\n"
    "  --redis ADDR         Redis as HOST:PORT or a unix socket path\n"
    "  --rules FILE         rules file (rules.file)\n"
    "  --set KEY=VALUE      any configuration key (see `journeyd config keys`)\n"
    "  --log-level LEVEL    error, warn, info or debug\n"
    "  --help               this text\n";

/* The command line holds at most JD_CLI_MAX_SET settings: a clear error
 * past that (a configuration that long belongs in the --config file). */
static int jd_cli_full(const jd_cli_t *cli)
{
    if (cli->cl_nset < JD_CLI_MAX_SET)
        return 0;
    fprintf(stderr, "journeyd %s: more than %d settings on the command line (--set and the "
                    "flags that stand for one); put them in the --config file\n",
            cli->cl_cmd, JD_CLI_MAX_SET);
    return 1;
}

static int jd_cli_add_set(jd_cli_t *cli, const char *k, const char *v)
{
    if (jd_cli_full(cli))
        return -1;
    cli->cl_set[cli->cl_nset][0] = k;
    cli->cl_set[cli->cl_nset++][1] = v;
    return 0;
}

/* --set KEY=VALUE: the key is copied into the cli (slot of the setting),
 * the value stays in argv. */
static int jd_cli_set(jd_cli_t *cli, const char *val)
{
    const char *eq = strchr(val, '=');
    size_t klen = eq ? (size_t)(eq - val) : 0;
    if (!klen) {
        fprintf(stderr, "journeyd %s: --set wants KEY=VALUE, not '%s'\n", cli->cl_cmd, val);
        return -1;
    }
    if (klen >= sizeof cli->cl_set_key[0]) {
        fprintf(stderr, "journeyd %s: --set: key longer than %zu bytes: '%.40s...'\n",
                cli->cl_cmd, sizeof cli->cl_set_key[0] - 1, val);
        return -1;
    }
    if (jd_cli_full(cli))
        return -1;
    char *key = cli->cl_set_key[cli->cl_nset];
    memcpy(key, val, klen);
    key[klen] = '\0';
    return jd_cli_add_set(cli, key, eq + 1);
}

/* --redis: "host:port" or a socket path. Splits into redis.* settings. */
static int jd_cli_redis(jd_cli_t *cli, const char *v)
{
    static char host[256];
    const char *colon = strrchr(v, ':');
    if (v[0] == '/' || strncmp(v, "unix:", 5) == 0)
        return jd_cli_add_set(cli, "redis.socket", v[0] == '/' ? v : v + 5);
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof host) {
        fprintf(stderr, "journeyd %s: --redis wants HOST:PORT or a socket path, not '%s'\n",
                cli->cl_cmd, v);
        return -1;
    }
    memcpy(host, v, (size_t)(colon - v));
    host[colon - v] = '\0';
    return jd_cli_add_set(cli, "redis.host", host) ||
           jd_cli_add_set(cli, "redis.port", colon + 1);
}

static int jd_cli_common(jd_cli_t *cli, const char *name, const char *val)
{
    if (strcmp(name, "config") == 0)
        cli->cl_config_path = val;
    else if (strcmp(name, "brokers") == 0)
        return jd_cli_add_set(cli, "kafka.bootstrap.servers", val);
    else if (strcmp(name, "redis") == 0)
        return jd_cli_redis(cli, val);
    else if (strcmp(name, "rules") == 0)
        return jd_cli_add_set(cli, "rules.file", val);
    else if (strcmp(name, "log-level") == 0)
        return jd_cli_add_set(cli, "log.level", val);
    else if (strcmp(name, "set") == 0)
        return jd_cli_set(cli, val);
    else
        return 1;
    return 0;
}

static const jd_cli_flag_t *jd_cli_find(const jd_cli_flag_t *flags, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(flags[i].fl_name, name) == 0)
            return &flags[i];
    return NULL;
}

static int jd_cli_is_common(const char *name)
{
    static const char *const c[] = {"config", "brokers", "redis", "rules", "set", "log-level"};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (strcmp(c[i], name) == 0)
            return 1;
    return 0;
}

/* One "--name[=value]" word (value may come from the next word). */
static int jd_cli_flag(jd_cli_t *cli, int argc, char **argv, int *i,
                       const jd_cli_flag_t *flags, size_t nflags)
{
    char name[64];
    const char *word = argv[*i] + 2, *eq = strchr(word, '='), *val = NULL;
    size_t len = eq ? (size_t)(eq - word) : strlen(word);
    if (len >= sizeof name)
        len = sizeof name - 1;
    memcpy(name, word, len);
    name[len] = '\0';
    if (strcmp(name, "help") == 0)
        return cli->cl_help = 1, 0;
    const jd_cli_flag_t *fl = jd_cli_find(flags, nflags, name);
    int common = jd_cli_is_common(name);
    if (!fl && !common) {
        fprintf(stderr, "journeyd %s: unknown option --%s (see journeyd %s --help)\n",
                cli->cl_cmd, name, cli->cl_cmd);
        return -1;
    }
    if (common || fl->fl_has_arg) {
        val = eq ? eq + 1 : (*i + 1 < argc ? argv[++*i] : NULL);
        if (!val) {
            fprintf(stderr, "journeyd %s: --%s needs a value\n", cli->cl_cmd, name);
            return -1;
        }
    } else
        val = "1";
    if (common)
        return jd_cli_common(cli, name, val);
    *fl->fl_value = val;
    return 0;
}

int jd_cli_parse(jd_cli_t *cli, const char *cmd, int argc, char **argv,
                 const jd_cli_flag_t *flags, size_t nflags)
{
    memset(cli, 0, sizeof *cli);
    cli->cl_cmd = cmd;
    cli->cl_config_path = getenv("JOURNEYD_CONFIG");
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            if (jd_cli_flag(cli, argc, argv, &i, flags, nflags))
                return -1;
        } else if (strcmp(argv[i], "-h") == 0) {
            cli->cl_help = 1;
        } else if (cli->cl_npos < JD_CLI_MAX_POS) {
            cli->cl_pos[cli->cl_npos++] = argv[i];
        } else {
            fprintf(stderr, "journeyd %s: too many arguments\n", cmd);
            return -1;
        }
    }
    return 0;
}

void jd_cli_config_error(const char *cmd, const jd_err_t *err)
{
    char msg[4 * sizeof err->err_msg];
    jd_log_escape(msg, sizeof msg, err->err_msg);
    fprintf(stderr, "journeyd %s: configuration error: %s\n", cmd, msg);
}

int jd_cli_config(jd_cli_t *cli)
{
    jd_err_t err;
    cli->cl_cf = jd_config_new();
    if (!cli->cl_cf) {
        fprintf(stderr, "journeyd: out of memory\n");
        return -1;
    }
    if (cli->cl_config_path && jd_config_load_file(cli->cl_cf, cli->cl_config_path, &err))
        goto bad;
    if (jd_config_load_env(cli->cl_cf, &err))
        goto bad;
    for (size_t i = 0; i < cli->cl_nset; i++) {
        char origin[80];
        snprintf(origin, sizeof origin, "command line (%s)", cli->cl_set[i][0]);
        if (jd_config_set(cli->cl_cf, cli->cl_set[i][0], cli->cl_set[i][1], origin, &err))
            goto bad;
    }
    if (jd_config_validate(cli->cl_cf, &err) || jd_secret_resolve(cli->cl_cf, &err))
        goto bad;
    jd_log_set_level((jd_log_level_t)jd_log_level_parse(cli->cl_cf->cf_log_level));
    jd_log_set_json(strcmp(cli->cl_cf->cf_log_format, "json") == 0);
    return 0;
bad:
    jd_cli_config_error(cli->cl_cmd, &err);
    return -1;
}

/* The shipped default rules: next to the binary's data directory when
 * installed, or in the source tree when run from a build directory. */
static const char *jd_cli_default_rules(void)
{
    static const char *const cands[] = {JD_DATADIR "/rules/default.yaml",
                                        JD_SOURCE_DIR "/rules/default.yaml"};
    for (size_t i = 0; i < sizeof cands / sizeof *cands; i++)
        if (access(cands[i], R_OK) == 0)
            return cands[i];
    return NULL;
}

jd_ruleset_t *jd_cli_rules(const jd_cli_t *cli)
{
    const char *path = cli->cl_cf->cf_rules_file[0] ? cli->cl_cf->cf_rules_file
                                                     : jd_cli_default_rules();
    jd_ruleset_t *rs = NULL;
    jd_err_t err;
    if (!path) {
        fprintf(stderr, "journeyd %s: no rules.file configured and the default rules "
                        "(%s/rules/default.yaml) are not installed\n", cli->cl_cmd, JD_DATADIR);
        return NULL;
    }
    if (jd_rules_load_file(path, &rs, &err)) {
        fprintf(stderr, "journeyd %s: %s\n", cli->cl_cmd, err.err_msg);
        return NULL;
    }
    JD_INFO("rules", "loaded %zu rule(s) from %s", jd_rules_count(rs), path);
    return rs;
}

void jd_cli_usage(const char *cmd, const char *usage, const char *summary,
                  const jd_cli_flag_t *flags, size_t nflags)
{
    printf("usage: journeyd %s %s\n\n%s\n\noptions:\n", cmd, usage, summary);
    for (size_t i = 0; i < nflags; i++) {
        /* A help text "WORD: ..." names the argument WORD instead of N. */
        const char *help = flags[i].fl_help, *arg = "N";
        char left[64], word[16];
        size_t wl = strspn(help, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (flags[i].fl_has_arg && wl && wl < sizeof word && help[wl] == ':') {
            snprintf(word, sizeof word, "%.*s", (int)wl, help);
            arg = word;
            help += wl + 1 + (help[wl + 1] == ' ');
        }
        snprintf(left, sizeof left, "--%s%s%s", flags[i].fl_name,
                 flags[i].fl_has_arg ? " " : "", flags[i].fl_has_arg ? arg : "");
        printf("  %-20s %s\n", left, help);
    }
    fputs(jd_cli_common_help, stdout);
}

long long jd_cli_number(const char *flag, const char *val)
{
    char *end;
    errno = 0;
    long long v = strtoll(val, &end, 10);
    if (errno || end == val || *end || v < 0) {
        fprintf(stderr, "journeyd: --%s wants a non-negative integer, not '%s'\n", flag, val);
        return -1;
    }
    return v;
}

void jd_cli_free(jd_cli_t *cli)
{
    jd_config_destroy(cli->cl_cf);
    cli->cl_cf = NULL;
}
