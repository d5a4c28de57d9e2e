/*
 * jd_cmd_tools: the read-only commands: `inspect` (an account's signals,
 * journey and health from Redis, now or --as-of another instant; one
 * account or --all) and `config check|keys|show|docs` (`rules` is in
 * jd_cmd_rules.c). They share the configuration path of `run`,
 * so what they accept or refuse is exactly what `run` would.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_cli.h"
#include "jd_cmd.h"
#include "jd_record.h"
#include "jd_store.h"
#include "jd_window.h"

static const char *jd_inspect_json, *jd_inspect_as_of, *jd_inspect_all, *jd_inspect_rules;
static const jd_cli_flag_t jd_inspect_flags[] = {
    {"json", 0, &jd_inspect_json, "print JSON (one object per account) instead of a summary"},
    {"as-of", 1, &jd_inspect_as_of,
     "evaluate at TIME (ISO-8601 date or timestamp, or ms) instead of the account's "
     "latest event; writes nothing"},
    {"all", 0, &jd_inspect_all, "every account with state, sorted by id"},
    {"rule-states", 0, &jd_inspect_rules,
     "print the account's rule states instead: one line, the "
     "record's key, then each rule id and its state, tab-separated"},
};
#define JD_INSPECT_NFLAGS (sizeof jd_inspect_flags / sizeof jd_inspect_flags[0])

/* Section titles of the summary, by the first signal of each section. */
static const struct { jd_signal_id_t first; const char *title; } jd_inspect_sections[] = {
    {JD_SIG_ACTIVE_USERS_1D, "usage"},      {JD_SIG_SEGMENT, "account"},
    {JD_SIG_START_AT, "milestones"},        {JD_SIG_STAGE, "stage"},
    {JD_SIG_NPS_LAST, "sentiment"},         {JD_SIG_CASES_OPEN, "support"},
    {JD_SIG_SPONSOR_CHANGED_AT, "stakeholders"}, {JD_SIG_HEALTH_SCORE, "health"},
    {JD_SIG_LAST_EVENT_AT, "time"},
};

static void jd_inspect_value(jd_signal_id_t id, const jd_value_t *v)
{
    const char *name = jd_signals_name(id);
    char iso[40];
    if (v->type == JD_VAL_NULL)
        printf("    %-28s -\n", name);
    else if (v->type == JD_VAL_STR)
        printf("    %-28s %s\n", name, v->str);
    else if (jd_signals_is_timestamp(id) && fabs(v->num) < 9e15) {
        jd_window_format_iso((int64_t)v->num, iso, sizeof iso);
        printf("    %-28s %s\n", name, iso);
    } else
        printf("    %-28s %.6g\n", name, v->num);
}

/* What inspect tells besides the signals. */
typedef struct jd_inspect_info {
    int64_t si_state_as_of;      /* the account's own as-of instant T */
    int     si_windows_complete; /* every window day is inside the kept
                                    horizon (or after T): exact windows */
} jd_inspect_info_t;

static void jd_inspect_health(const jd_signals_t *sg)
{
    const jd_health_result_t *hr = &sg->sg_health;
    printf("    contributions (profile %s): measure value -> score x weight = points\n",
           hr->hr_profile[0] ? hr->hr_profile : "default");
    for (int m = 0; m < JD_HM__COUNT; m++) {
        const jd_health_part_t *hp = &hr->hr_parts[m];
        if (hp->hp_present)
            printf("      %-18s %10.4g -> %5.1f x %g%% = %.2f\n",
                   jd_health_measure_name((jd_health_measure_t)m), hp->hp_value,
                   hp->hp_score, hp->hp_weight, hp->hp_points);
        else
            printf("      %-18s %10s    (unknown: not counted, weight %g%%)\n",
                   jd_health_measure_name((jd_health_measure_t)m), "-", hp->hp_weight);
    }
}

static void jd_inspect_summary(const jd_signals_t *sg, const char *account,
                               const jd_inspect_info_t *info)
{
    size_t sec = 0;
    char iso[40];

    printf("account %s\n", account);
    if (jd_inspect_as_of) {
        jd_window_format_iso(info->si_state_as_of, iso, sizeof iso);
        printf("  (evaluated at --as-of %s; the account's own as-of is %s%s)\n",
               jd_inspect_as_of, iso,
               info->si_windows_complete ? "" : "; windows reach before the kept days");
    }
    for (int i = 0; i < JD_SIG__COUNT; i++) {
        jd_signal_id_t id = (jd_signal_id_t)i;
        if (sec < sizeof jd_inspect_sections / sizeof jd_inspect_sections[0] &&
            jd_inspect_sections[sec].first == id)
            printf("  %s\n", jd_inspect_sections[sec++].title);
        jd_inspect_value(id, jd_signals_get(sg, id));
        if (id == JD_SIG_STAGE_CHANGED_AT && sg->sg_stage_cause)
            printf("    %-28s %s\n", "(stage because)", sg->sg_stage_cause);
        if (id == JD_SIG_HEALTH_SCORE)
            jd_inspect_health(sg);
    }
}

/* Prints the JSON of one account; with --as-of (the as_of signal is then
 * the requested instant), an "evaluated" object is added at the end: the
 * account's own as-of, and whether every window day is still kept. */
static void jd_inspect_print_json(const jd_signals_t *sg, const char *account,
                                  const jd_inspect_info_t *info)
{
    size_t need = jd_signals_to_json(sg, account, NULL, 0);
    char *buf = malloc(need + 1);
    if (!buf)
        return;
    jd_signals_to_json(sg, account, buf, need + 1);
    if (jd_inspect_as_of && need > 0) {
        char iso[40];
        jd_window_format_iso(info->si_state_as_of, iso, sizeof iso);
        buf[need - 1] = '\0'; /* the closing brace */
        printf("%s,\"evaluated\":{\"state_as_of\":%lld,"
               "\"state_as_of_iso\":\"%s\",\"windows_complete\":%s}}\n", buf,
               (long long)info->si_state_as_of, iso,
               info->si_windows_complete ? "true" : "false");
    } else {
        puts(buf);
    }
    free(buf);
}

/* Where inspect reads: the account records. */
typedef struct jd_inspect_src {
    const jd_ruleset_t *is_rs;        /* --rule-states: names of the rule states */
    const char        *is_prefix;
    jd_store_t        *is_store;
    jd_account_conf_t  is_acf;
    jd_signals_conf_t  is_sgc;
} jd_inspect_src_t;

/* --rule-states: the line of one account (rules of the rules file that have a
 * state in its record). */
static void jd_inspect_rule_line(const jd_inspect_src_t *is, const jd_account_t *ac)
{
    char tag[1100], st[256];
    jd_store_key_tag(ac->ac_id, tag, sizeof tag);
    printf("%s:{%s}:rules\t", is->is_prefix, tag);
    for (size_t r = 0; r < jd_rules_count(is->is_rs); r++) {
        const char *id = jd_rule_id(jd_rules_at(is->is_rs, r));
        uint64_t h = jd_account_hash(id);
        for (uint32_t k = 0; k < ac->ac_nrules; k++)
            if (ac->ac_rules[k].ar_hash == h) {
                jd_rule_state_format(&ac->ac_rules[k].ar_state, st, sizeof st);
                printf("%s\t%s\t", id, st);
            }
    }
    printf("\n");
}

/* The signals of account from its record, at `at` (JD_SIGNALS_NO_TS: its
 * own as-of): the windows are exact when every day they reach is kept. */
static int jd_inspect_record(jd_inspect_src_t *is, const char *account, int64_t at,
                             jd_signals_t *sg, jd_inspect_info_t *info, jd_err_t *err)
{
    jd_store_rec_t rec;
    jd_account_t *ac;
    int rc;
    if ((rc = jd_store_load(is->is_store, &account, 1, &rec, err)))
        return rc;
    if (!rec.sr_len) {
        jd_store_recs_free(&rec, 1);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL, "account '%s' has no state",
                          account);
    }
    ac = jd_record_decode(rec.sr_data, rec.sr_len, is->is_acf.acf_lateness_days, err);
    jd_store_recs_free(&rec, 1);
    if (!ac)
        return JD_ERR_FATAL;
    if (is->is_rs) {
        jd_inspect_rule_line(is, ac);
        jd_account_destroy(ac);
        return 1; /* printed */
    }
    jd_account_signals(ac, &is->is_acf, at, sg);
    info->si_state_as_of = ac->ac_as_of;
    if (at != JD_SIGNALS_NO_TS && ac->ac_as_of != JD_SIGNALS_NO_TS && at < ac->ac_as_of)
        info->si_windows_complete =
            jd_window_day(at) - JD_ACCOUNT_REACH + 1 >=
            jd_window_day(ac->ac_as_of) - is->is_acf.acf_retention_days + 1;
    jd_account_destroy(ac);
    return 0;
}

static int jd_inspect_one(jd_inspect_src_t *is, const char *account, int64_t at)
{
    jd_signals_t *sg = malloc(sizeof *sg);
    jd_inspect_info_t info = {0, 1};
    jd_err_t err;
    int rc = 1;

    if (!sg)
        return 1;
    int got = jd_inspect_record(is, account, at, sg, &info, &err);
    if (got == 1) {
        rc = 0; /* --rule-states: printed */
    } else if (got) {
        fprintf(stderr, "journeyd inspect: %s\n", err.err_msg);
    } else {
        if (jd_inspect_json)
            jd_inspect_print_json(sg, account, &info);
        else
            jd_inspect_summary(sg, account, &info);
        rc = 0;
    }
    free(sg);
    return rc;
}

typedef struct jd_inspect_ids {
    char  **ii_ids;
    size_t  ii_n, ii_cap;
    int     ii_oom;
} jd_inspect_ids_t;

static void jd_inspect_collect(const char *account, void *opaque)
{
    jd_inspect_ids_t *ii = opaque;
    if (ii->ii_n == ii->ii_cap) {
        size_t cap = ii->ii_cap ? 2 * ii->ii_cap : 256;
        char **n = realloc(ii->ii_ids, cap * sizeof *n);
        if (!n) {
            ii->ii_oom = 1;
            return;
        }
        ii->ii_ids = n;
        ii->ii_cap = cap;
    }
    if (!(ii->ii_ids[ii->ii_n] = strdup(account)))
        ii->ii_oom = 1;
    else
        ii->ii_n++;
}

static int jd_inspect_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int jd_inspect_every(jd_inspect_src_t *is, int64_t at)
{
    jd_inspect_ids_t ii = {NULL, 0, 0, 0};
    jd_err_t err;
    int rc = 0;

    if (jd_store_accounts(is->is_store, jd_inspect_collect, &ii, &err) < 0 ||
        ii.ii_oom) {
        fprintf(stderr, "journeyd inspect: %s\n", ii.ii_oom ? "out of memory" : err.err_msg);
        rc = 1;
    }
    if (ii.ii_n)
        qsort(ii.ii_ids, ii.ii_n, sizeof *ii.ii_ids, jd_inspect_cmp);
    for (size_t i = 0; i < ii.ii_n; i++) {
        if (!rc && i && !jd_inspect_json && !jd_inspect_rules)
            printf("\n");
        rc = rc ? rc : jd_inspect_one(is, ii.ii_ids[i], at);
        free(ii.ii_ids[i]);
    }
    free(ii.ii_ids);
    return rc;
}

static int jd_inspect_open(jd_inspect_src_t *is, const jd_config_t *cf, jd_err_t *err)
{
    jd_store_conf_t stc;
    jd_config_store_conf(cf, &stc);
    jd_config_account(cf, &is->is_acf, &is->is_sgc);
    if (!(is->is_store = jd_store_new(&stc, err)))
        return -1;
    return jd_store_connect(is->is_store, err) ? -1 : 0;
}

int jd_cmd_inspect(int argc, char **argv)
{
    jd_cli_t cli;
    jd_err_t err;
    jd_inspect_src_t is = {0};
    jd_ruleset_t *rs = NULL;
    int64_t at = JD_SIGNALS_NO_TS;
    int rc = 2;

    jd_inspect_json = jd_inspect_as_of = jd_inspect_all = jd_inspect_rules = NULL;
    if (jd_cli_parse(&cli, "inspect", argc, argv, jd_inspect_flags, JD_INSPECT_NFLAGS))
        return 2;
    if (cli.cl_help || cli.cl_npos != (jd_inspect_all ? 0u : 1u)) {
        jd_cli_usage("inspect", "ACCOUNT | --all  [--json] [--as-of TIME]",
                     "Print an account's signals, milestones, stage and health (with\n"
                     "each measure's contribution), read from Redis. docs/signals.md\n"
                     "defines every signal.", jd_inspect_flags, JD_INSPECT_NFLAGS);
        rc = cli.cl_help ? 0 : 2;
        goto out;
    }
    if (jd_inspect_as_of && jd_window_parse_instant(jd_inspect_as_of, &at) != 0) {
        fprintf(stderr, "journeyd inspect: --as-of wants an ISO-8601 date or timestamp "
                        "(2026-10-01, 2026-10-01T12:00:00Z) or ms, not '%s'\n",
                jd_inspect_as_of);
        goto out;
    }
    if (jd_cli_config(&cli))
        goto out;
    rc = 1;
    if (jd_inspect_rules) {
        if (!(rs = jd_cli_rules(&cli)))
            goto out;
        is.is_rs = rs;
        is.is_prefix = cli.cl_cf->cf_redis_prefix;
    }
    if (jd_inspect_open(&is, cli.cl_cf, &err)) {
        fprintf(stderr, "journeyd inspect: %s\n", err.err_msg);
        goto out;
    }
    rc = jd_inspect_all ? jd_inspect_every(&is, at) : jd_inspect_one(&is, cli.cl_pos[0], at);
out:
    jd_store_destroy(is.is_store);
    jd_rules_destroy(rs);
    jd_cli_free(&cli);
    return rc;
}

/* docs/configuration.md: generated from the key table, so the reference
 * cannot drift from the code (tests/integration/test_docs.sh diffs it). */
static void jd_cmd_config_docs(FILE *out)
{
    fputs(
          "# journeyd configuration reference\n"
          "\n"
          "<!-- Generated by `journeyd config docs` from the key table in consumer/jd_config_keys.c;\n"
          "     do not edit by hand (tests/integration/test_docs.sh checks it is current). -->\n"
          "\n"
          "Configuration is assembled in this order, each step overriding the previous:\n"
          "\n"
          "1. the defaults below;\n"
          "2. one YAML file (`--config FILE` or `JOURNEYD_CONFIG`), nested or dotted keys\n"
          "   (`redis: {port: 6380}` is `redis.port`); a YAML list is a list value;\n"
          "3. environment variables `JOURNEYD_<KEY>`, the key upper-cased with `.` as `_`\n"
          "   (`JOURNEYD_REDIS_PORT=6380`, `JOURNEYD_KAFKA_BOOTSTRAP_SERVERS=host:9092`);\n"
          "4. flags: `--set KEY=VALUE` (any key), `--brokers`, `--redis`, `--rules`,\n"
          "   `--log-level`.\n"
          "\n"
          "Everything is validated before a command starts; an unknown key or a bad value\n"
          "stops it with a message naming the key (and FILE:LINE:COLUMN for the file).\n"
          "`journeyd config check FILE` validates a file, `journeyd config show` prints the\n"
          "effective configuration with secrets masked, `journeyd config keys` prints the\n"
          "table below. `deploy/journeyd.example.yaml` is a complete example;\n"
          "docs/security.md says how secrets are given (every one has a `*_file` form)\n"
          "and what is and is not encrypted;\n"
          "docs/operations.md, docs/mapping.md and docs/signals.md explain the `http`,\n"
          "`mapping` and `health` families.\n"
          "\n"
          "## Keys\n"
          "\n",
          out);
    jd_config_print_keys(out);
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
    if (!strcmp(sub, "docs")) {
        jd_cmd_config_docs(stdout);
        return 0;
    }
    if (strcmp(sub, "check") && strcmp(sub, "show")) {
        printf("usage: journeyd config check FILE | show [options] | keys | docs\n\n"
               "check: validate a configuration file (exit 0 when valid)\n"
               "show:  print the effective configuration (file + env + flags)\n"
               "keys:  print every key with its type, default and meaning\n"
               "docs:  print docs/configuration.md (generated from the same table)\n");
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
