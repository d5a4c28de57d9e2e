/*
 * test_rules: the rules file loader and the per-account decision
 * (rules/jd_rules.c): rules/default.yaml loads and each default rule fires
 * on its fixture account and not on a healthy one; every load error points
 * at FILE:LINE:COLUMN; rule_version is stable under reformatting;
 * jd_rules_decide fires once per episode, honours cooldowns and produces
 * deterministic trigger ids, evidence and reasons. No Kafka, no Redis.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_fixture.h"
#include "jd_rules.h"

#ifndef JD_SOURCE_DIR
#define JD_SOURCE_DIR "."
#endif

#define DAY  86400000.0
#define HOUR 3600000.0
#define T0   1772582400000.0 /* 2026-03-04T00:00:00Z */

/* ---- helpers ----------------------------------------------------------- */

static const char *source_dir(void)
{
    const char *d = getenv("JD_SOURCE_DIR");
    return d && *d ? d : JD_SOURCE_DIR;
}

static void source_path(char *buf, size_t cap, const char *rel)
{
    snprintf(buf, cap, "%s/%s", source_dir(), rel);
}

static jd_ruleset_t *load_ok(const char *yaml)
{
    jd_ruleset_t *rs = NULL;
    jd_err_t err = {0};
    int rc = jd_rules_load_buffer(yaml, strlen(yaml), "t.yaml", &rs, &err);

    cr_assert_eq(rc, 0, "load failed: %s", err.err_msg);
    cr_assert_not_null(rs);
    return rs;
}

static jd_ruleset_t *load_default(void)
{
    char path[4096];
    jd_ruleset_t *rs = NULL;
    jd_err_t err = {0};

    source_path(path, sizeof path, "rules/default.yaml");
    cr_assert_eq(jd_rules_load_file(path, &rs, &err), 0, "%s", err.err_msg);
    return rs;
}

/* Loading `yaml` (named t.yaml) must fail with exactly `want`. */
static void expect_error(const char *yaml, const char *want)
{
    jd_ruleset_t *rs = (jd_ruleset_t *)0x1;
    jd_err_t err = {0};
    int rc = jd_rules_load_buffer(yaml, strlen(yaml), "t.yaml", &rs, &err);

    cr_assert_eq(rc, JD_ERR_FATAL, "loaded, expected: %s", want);
    cr_assert_null(rs);
    cr_assert_eq(err.err_code, JD_E_RULES, "code %d: %s", err.err_code,
                 err.err_msg);
    cr_assert_str_eq(err.err_msg, want);
}

/* 1-based column of the first `tok` on 1-based line `line` of `text`. */
static size_t col_of(const char *text, int line, const char *tok)
{
    const char *p = text, *hit;

    while (--line > 0)
        p = strchr(p, '\n') + 1;
    hit = strstr(p, tok);
    cr_assert(hit && (!strchr(p, '\n') || hit < strchr(p, '\n')));
    return (size_t)(hit - p) + 1;
}

/* A complete rule; `extra` lines are appended (4-space indented). */
#define RULE(id, when, extra)                                          \
    "  - id: " id "\n    kind: risk\n    when: " when "\n"             \
    "    severity: low\n    play: p\n" extra

/* A healthy account on which no default rule holds. */
static void healthy(jd_signals_t *sg)
{
    jd_signals_clear(sg);
    jd_signals_set_num(sg, JD_SIG_AS_OF, T0);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_1D, 8);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_7D, 11);
    jd_signals_set_num(sg, JD_SIG_ACTIVE_USERS_28D, 12);
    jd_signals_set_num(sg, JD_SIG_SEATS, 20);
    jd_signals_set_num(sg, JD_SIG_UTILIZATION, 0.6);
    jd_signals_set_str(sg, JD_SIG_SEGMENT, "mid_market");
    jd_signals_set_str(sg, JD_SIG_PLAN, "pro");
    jd_signals_set_str(sg, JD_SIG_STATUS, "active");
    jd_signals_set_num(sg, JD_SIG_ARR, 24000);
    jd_signals_set_num(sg, JD_SIG_START_AT, T0 - 200 * DAY);
    jd_signals_set_num(sg, JD_SIG_DAYS_SINCE_START, 200);
    jd_signals_set_num(sg, JD_SIG_FIRST_VALUE_AT, T0 - 190 * DAY);
    jd_signals_set_num(sg, JD_SIG_TTFV_DAYS, 10);
    jd_signals_set_num(sg, JD_SIG_RENEWAL_AT, T0 + 165 * DAY);
    jd_signals_set_num(sg, JD_SIG_DAYS_TO_RENEWAL, 165);
    jd_signals_set_num(sg, JD_SIG_LAST_EVENT_AT, T0 - HOUR);
}

/* Runs jd_rules_decide from fresh states and returns the ids of the rules
 * that fired, space-separated, in rule order. */
static const char *fired(const jd_ruleset_t *rs, const jd_signals_t *sg)
{
    static char out[1024];
    jd_rule_state_t st[16] = {0};
    unsigned char changed[16];
    jd_trigger_t tr[16];
    size_t n;

    cr_assert_leq(jd_rules_count(rs), 16);
    n = jd_rules_decide(rs, "acct-1", sg, st, changed, tr, 16);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, tr[i].tr_rule_id);
    }
    return out;
}

/* ---- the default rules ------------------------------------------------- */
/* Each default rule's behaviour is in its fixture table
 * (tests/fixtures/rules/default/, run below and by `journeyd rules test`);
 * these tests cover what the tables cannot: the file's shape and a
 * healthy account. */

Test(rules_default, loads_with_expected_rules)
{
    static const struct { const char *id; jd_kind_t kind; } want[] = {
        {"usage_drop", JD_KIND_RISK}, {"low_utilization", JD_KIND_RISK},
        {"silence", JD_KIND_RISK}, {"no_first_value_30d", JD_KIND_RISK},
        {"detractor_nps", JD_KIND_RISK}, {"case_spike", JD_KIND_RISK},
        {"sponsor_change", JD_KIND_RISK}, {"health_below_40", JD_KIND_RISK},
        {"renewal_120d", JD_KIND_RENEWAL_READINESS},
        {"renewal_90d", JD_KIND_RENEWAL_READINESS},
        {"renewal_60d", JD_KIND_RENEWAL_READINESS},
        {"expansion_high_utilization", JD_KIND_EXPANSION},
        {"expansion_promoter", JD_KIND_EXPANSION},
        {"expansion_power_users", JD_KIND_EXPANSION},
        {"expansion_feature_breadth", JD_KIND_EXPANSION},
    };
    jd_ruleset_t *rs = load_default();
    const jd_rule_t *r;

    cr_assert_eq(jd_rules_count(rs), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        r = jd_rules_find(rs, want[i].id);
        cr_assert_not_null(r, "%s", want[i].id);
        cr_assert_eq(jd_rule_kind(r), want[i].kind, "%s", want[i].id);
        cr_assert_eq(strlen(jd_rule_version(r)), 16);
    }
    r = jd_rules_find(rs, "usage_drop");
    cr_assert_eq(jd_rule_for_ms(r), 7 * 86400000LL);
    cr_assert(jd_rule_resolves(r));
    cr_assert_str_eq(jd_rule_when(jd_rules_find(rs, "low_utilization")),
                     "utilization < 0.3 and days_since_start >= 30");
    cr_assert_null(jd_rules_at(rs, jd_rules_count(rs)));
    cr_assert_null(jd_rules_find(rs, "no_such_rule"));
    jd_rules_destroy(rs);
}

Test(rules_default, nothing_fires_on_a_healthy_account)
{
    jd_ruleset_t *rs = load_default();
    jd_signals_t sg;

    healthy(&sg);
    cr_assert_str_eq(fired(rs, &sg), "");
    jd_rules_destroy(rs);
}

Test(rules_default, fixture_tables_pass_and_cover_every_rule)
{
    jd_ruleset_t *rs = load_default();
    unsigned char tested[32] = {0};
    jd_fixture_report_t rep = {0};
    char dir[4096];
    jd_err_t err;

    rep.fr_tested = tested;
    source_path(dir, sizeof dir, "tests/fixtures/rules/default");
    cr_assert_eq(jd_fixture_run_dir(rs, dir, NULL, &rep, &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(rep.fr_failed, 0);
    cr_assert_geq(rep.fr_cases, 2 * jd_rules_count(rs));
    for (size_t i = 0; i < jd_rules_count(rs); i++)
        cr_assert(tested[i], "no fixture for %s",
                  jd_rule_id(jd_rules_at(rs, i)));
    jd_rules_destroy(rs);
}

Test(rules_default, reason_explains_the_values)
{
    jd_ruleset_t *rs = load_default();
    jd_rule_state_t st[16] = {0};
    jd_trigger_t tr[16];
    jd_signals_t sg;

    healthy(&sg);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.12);
    jd_signals_set_num(&sg, JD_SIG_DAYS_SINCE_START, 41);
    cr_assert_eq(jd_rules_decide(rs, "acme", &sg, st, NULL, tr, 16), 1);
    cr_assert_str_eq(tr[0].tr_reason, "utilization 0.12 < 0.3 and "
                     "days_since_start 41 >= 30; segment mid_touch; play "
                     "scaled_outreach. Seat utilization is below 30% after "
                     "the first month.");
    cr_assert_str_eq(tr[0].tr_owner, "scaled_cs");
    cr_assert_str_eq(tr[0].tr_channel, "email_sequence");
    cr_assert_str_eq(tr[0].tr_segment, "mid_market");
    cr_assert_eq(tr[0].tr_priority, 60);
    jd_rules_destroy(rs);
}

/* ---- load errors ------------------------------------------------------- */

Test(rules_errors, missing_required_key)
{
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: seats > 1\n"
                 "    severity: low\n",
                 "t.yaml:2:9: rule 'a': no play: give the rule a 'play', or "
                 "add a plays entry for rule 'a' or kind 'risk' without a "
                 "segment");
    expect_error("rules:\n  - kind: risk\n    when: seats > 1\n"
                 "    severity: low\n    play: p\n",
                 "t.yaml:2:5: rule #1: missing required key 'id'");
}

Test(rules_errors, unknown_key_is_named)
{
    expect_error("rules:\n" RULE("a", "seats > 1", "    colour: red\n"),
                 "t.yaml:7:5: rule 'a': unknown key 'colour' (allowed: id, "
                 "kind, when, severity, play, cooldown, description, for, "
                 "priority, segments, resolve, suppressed_by, mode, score, "
                 "levels)");
}

Test(rules_errors, duplicate_key)
{
    expect_error("rules:\n" RULE("a", "seats > 1", "    kind: expansion\n"),
                 "t.yaml:7:5: rule 'a': duplicate key 'kind' (first at "
                 "line 3)");
}

Test(rules_errors, bad_kind_lists_allowed_values)
{
    expect_error("rules:\n  - id: a\n    kind: risky\n    when: seats > 1\n"
                 "    severity: low\n    play: p\n",
                 "t.yaml:3:11: rule 'a': unknown kind 'risky' (expected risk, "
                 "renewal_readiness or expansion)");
}

Test(rules_errors, bad_severity_lists_allowed_values)
{
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: seats > 1\n"
                 "    severity: urgent\n    play: p\n",
                 "t.yaml:5:15: rule 'a': unknown severity 'urgent' (expected "
                 "low, medium, high or critical)");
}

Test(rules_errors, bad_duration)
{
    expect_error("rules:\n" RULE("a", "seats > 1", "    cooldown: 2 weeks\n"),
                 "t.yaml:7:15: rule 'a': bad duration '2 weeks' for 'cooldown' "
                 "(expected a number with a unit d, h, m or s, such as 14d, "
                 "12h, 30m, 10s; or 0)");
    expect_error("rules:\n" RULE("a", "seats > 1", "    cooldown: 14\n"),
                 "t.yaml:7:15: rule 'a': bad duration '14' for 'cooldown' "
                 "(expected a number with a unit d, h, m or s, such as 14d, "
                 "12h, 30m, 10s; or 0)");
}

Test(rules_errors, duplicate_id_names_the_first_line)
{
    expect_error("rules:\n" RULE("a", "seats > 1", "")
                 RULE("b", "seats > 1", "") RULE("a", "seats > 2", ""),
                 "t.yaml:12:9: rule 'a': duplicate id 'a' (first defined at "
                 "line 2)");
}

Test(rules_errors, bad_id)
{
    expect_error("rules:\n" RULE("Bad Id", "seats > 1", ""),
                 "t.yaml:2:9: rule #1: id 'Bad Id' must be 1 to 100 characters "
                 "from a-z, 0-9, '_', '.' and '-'");
    expect_error("rules:\n" RULE("ok", "seats > 1", "") RULE("a/b", "seats > 1",
                                                            ""),
                 "t.yaml:7:9: rule #2: id 'a/b' must be 1 to 100 characters "
                 "from a-z, 0-9, '_', '.' and '-'");
}

Test(rules_errors, long_id)
{
    char yaml[1024], id[128];

    memset(id, 'a', 101);
    id[101] = '\0';
    snprintf(yaml, sizeof yaml, "rules:\n" RULE("%s", "seats > 1", ""), id);
    jd_ruleset_t *rs;
    jd_err_t err;
    cr_assert_eq(jd_rules_load_buffer(yaml, strlen(yaml), "t.yaml", &rs, &err),
                 JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "t.yaml:2:9: rule #1: id 'aaaa"), "%s",
              err.err_msg);
    id[100] = '\0'; /* 100 is fine */
    snprintf(yaml, sizeof yaml, "rules:\n" RULE("%s", "seats > 1", ""), id);
    jd_rules_destroy(load_ok(yaml));
}

Test(rules_errors, when_error_plain_points_into_the_condition)
{
    const char *y = "rules:\n" RULE("a", "seats > 1 and utilisation < 0.3", "");
    char want[256];

    cr_assert_eq(col_of(y, 4, "utilisation"), 25);
    snprintf(want, sizeof want, "t.yaml:4:25: rule 'a': unknown signal "
             "'utilisation' (did you mean 'utilization'?)");
    expect_error(y, want);
}

Test(rules_errors, when_error_double_quoted_with_escapes)
{
    const char *y = "rules:\n" RULE("a", "\"segment == \\\"smb\\\" and seats "
                                    "+ plan > 1\"", "");
    char want[256];

    snprintf(want, sizeof want, "t.yaml:4:%zu: rule 'a': '+' needs numbers, "
             "but 'plan' is a string", col_of(y, 4, "plan"));
    cr_assert_eq(col_of(y, 4, "plan"), 43);
    expect_error(y, want);
}

Test(rules_errors, when_error_single_quoted_with_escapes)
{
    const char *y = "rules:\n" RULE("a", "'plan == \"it''s\" and utilisation "
                                    "> 1'", "");
    char want[256];

    snprintf(want, sizeof want, "t.yaml:4:%zu: rule 'a': unknown signal "
             "'utilisation' (did you mean 'utilization'?)",
             col_of(y, 4, "utilisation"));
    expect_error(y, want);
}

Test(rules_errors, when_error_at_end_of_quoted_condition)
{
    const char *y = "rules:\n" RULE("a", "\"seats > 1 and (arr > 2\"", "");
    char want[256];

    /* the column of the closing quote, where ')' was expected */
    snprintf(want, sizeof want, "t.yaml:4:%zu: rule 'a': expected ')' to "
             "close '(', got end of expression", col_of(y, 4, "2\"") + 1);
    expect_error(y, want);
}

Test(rules_errors, when_error_in_block_scalar_gives_condition_column)
{
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: >\n"
                 "      seats > 1 and\n      utilisation < 1\n"
                 "    severity: low\n    play: p\n",
                 "t.yaml:4:11: rule 'a': unknown signal 'utilisation' (did "
                 "you mean 'utilization'?) (column 15 of 'when')");
}

Test(rules_errors, when_must_be_boolean)
{
    expect_error("rules:\n" RULE("a", "seats + 1", ""),
                 "t.yaml:4:11: rule 'a': 'when' must be a condition "
                 "(true/false), but 'seats + 1' is a number");
}

Test(rules_errors, empty_values)
{
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: seats > 1\n"
                 "    severity: low\n    play:\n",
                 "t.yaml:6:10: rule 'a': 'play' must not be empty");
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: \"\"\n"
                 "    severity: low\n    play: p\n",
                 "t.yaml:4:11: rule 'a': 'when' must not be empty");
}

Test(rules_errors, non_scalar_values_and_bad_text)
{
    expect_error("rules:\n  - id: a\n    kind: [risk]\n    when: seats > 1\n"
                 "    severity: low\n    play: p\n",
                 "t.yaml:3:11: rule 'a': 'kind' must be a single value, not a "
                 "list");
    expect_error("rules:\n" RULE("a", "\"seats > 1\\0\"", ""),
                 "t.yaml:4:11: rule 'a': 'when' contains a NUL character");
    expect_error("rules:\n  - id: a\n    kind: risk\n    when: seats > 1\n"
                 "    severity: low\n    play: \"p\\x01\"\n",
                 "t.yaml:6:11: rule 'a': 'play' contains a control character");
}

Test(rules_errors, file_level_errors)
{
    expect_error("rules: []\n", "t.yaml:1:8: the 'rules' list is empty");
    expect_error("rules:\n", "t.yaml:1:7: the 'rules' list is empty");
    expect_error("", "t.yaml:1:1: empty rules file (expected a top-level "
                 "'rules' list)");
    expect_error("# only a comment\n", "t.yaml:1:1: empty rules file (expected "
                 "a top-level 'rules' list)");
    expect_error("rules: 3\n", "t.yaml:1:8: 'rules' must be a list of rules");
    expect_error("rulez:\n  - id: a\n",
                 "t.yaml:1:1: unknown top-level key 'rulez' (expected rules, "
                 "segments, default_segment or plays)");
    expect_error("- a\n- b\n", "t.yaml:1:1: expected a mapping with a 'rules' "
                 "list at the top level");
    expect_error("rules:\n  - just a string\n", "t.yaml:2:5: rule #1: expected "
                 "a mapping with keys id, kind, when, severity");
    expect_error("rules:\n" RULE("a", "seats > 1", "") "extra: 1\n",
                 "t.yaml:7:1: unknown top-level key 'extra' (expected rules, "
                 "segments, default_segment or plays)");
    expect_error("rules:\n" RULE("a", "seats > 1", "") "---\nrules: []\n",
                 "t.yaml:8:1: only one YAML document is allowed in a rules "
                 "file");
}

Test(rules_errors, yaml_syntax_errors_carry_the_mark)
{
    expect_error("rules:\n  - id: a\n   kind: risk\n",
                 "t.yaml:3:4: invalid YAML: did not find expected '-' "
                 "indicator (while parsing a block collection at line 2)");
    expect_error("rules: [a, b\n",
                 "t.yaml:2:1: invalid YAML: did not find expected ',' or ']' "
                 "(while parsing a flow sequence at line 1)");
    expect_error("rules:\n\t- id: a\n",
                 "t.yaml:2:1: invalid YAML: found character that cannot start "
                 "any token (while scanning for the next token at line 2)");
}

Test(rules_errors, file_errors_name_the_file)
{
    char path[4096], want[4200];
    jd_ruleset_t *rs = (jd_ruleset_t *)0x1;
    jd_err_t err = {0};

    source_path(path, sizeof path, "tests/fixtures/rules/unknown_signal.yaml");
    cr_assert_eq(jd_rules_load_file(path, &rs, &err), JD_ERR_FATAL);
    cr_assert_null(rs);
    snprintf(want, sizeof want, "%s:7:38: rule 'low_utilization': unknown "
             "signal 'utilisation' (did you mean 'utilization'?)", path);
    cr_assert_str_eq(err.err_msg, want);

    source_path(path, sizeof path, "tests/fixtures/rules/no_such_file.yaml");
    cr_assert_eq(jd_rules_load_file(path, &rs, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_IO);
    cr_assert(strstr(err.err_msg, "no_such_file.yaml"), "%s", err.err_msg);

    source_path(path, sizeof path, "tests/fixtures/rules/valid_minimal.yaml");
    cr_assert_eq(jd_rules_load_file(path, &rs, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_rules_count(rs), 1);
    cr_assert_eq(jd_rule_cooldown_ms(jd_rules_at(rs, 0)), 0);
    cr_assert_null(jd_rule_description(jd_rules_at(rs, 0)));
    jd_rules_destroy(rs);
}

/* ---- accessors and versions -------------------------------------------- */

Test(rules_load, accessors)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - id: r.1-x\n"
        "    kind: renewal_readiness\n"
        "    when: ( days_to_renewal<=90 )\n"
        "    severity: CRITICAL\n"
        "    play: renewal_prep\n"
        "    cooldown: 12h\n"
        "    description: >\n"
        "      Renewal soon,\n"
        "      act now\n");
    const jd_rule_t *r = jd_rules_at(rs, 0);

    cr_assert_eq(jd_rules_count(rs), 1);
    cr_assert_str_eq(jd_rule_id(r), "r.1-x");
    cr_assert_eq(jd_rule_kind(r), JD_KIND_RENEWAL_READINESS);
    cr_assert_eq(jd_rule_severity(r), JD_SEV_CRITICAL);
    cr_assert_str_eq(jd_rule_play(r), "renewal_prep");
    cr_assert_eq(jd_rule_cooldown_ms(r), 12 * 3600000LL);
    cr_assert_str_eq(jd_rule_when(r), "days_to_renewal <= 90");
    cr_assert_str_eq(jd_rule_description(r), "Renewal soon, act now");
    cr_assert_eq(jd_rules_find(rs, "r.1-x"), r);
    jd_rules_destroy(rs);
    jd_rules_destroy(NULL);
}

static void version_of(const char *when, const char *extra, char out[17])
{
    char yaml[1024];
    jd_ruleset_t *rs;

    snprintf(yaml, sizeof yaml, "rules:\n  - id: a\n    kind: risk\n"
             "    when: %s\n    severity: high\n    play: p\n%s", when, extra);
    rs = load_ok(yaml);
    strcpy(out, jd_rule_version(jd_rules_at(rs, 0)));
    jd_rules_destroy(rs);
}

Test(rules_load, version_ignores_formatting)
{
    char a[17], b[17], c[17];

    version_of("utilization < 0.3 and days_since_start >= 30", "", a);
    version_of("utilization<0.3 and days_since_start>=30", "", b);
    version_of("\"(utilization  <  0.3) and (days_since_start >= 30)\"", "", c);
    cr_assert_str_eq(a, b);
    cr_assert_str_eq(a, c);
    cr_assert_eq(strspn(a, "0123456789abcdef"), 16);
}

Test(rules_load, version_changes_with_meaning)
{
    char base[17], v[17];

    version_of("utilization < 0.3", "", base);
    version_of("utilization < 0.31", "", v);
    cr_assert_str_neq(base, v, "when");
    version_of("utilization <= 0.3", "", v);
    cr_assert_str_neq(base, v, "operator");
    version_of("utilization < 0.3", "    cooldown: 1d\n", v);
    cr_assert_str_neq(base, v, "cooldown");
    version_of("utilization < 0.3", "    description: hi\n", v);
    cr_assert_str_neq(base, v, "description");
    version_of("utilization < 0.3", "    cooldown: 0\n", v);
    cr_assert_str_eq(base, v, "cooldown 0 is the default");
}

/* The version is a documented hash: it must not drift between releases. */
Test(rules_load, version_is_xxh3_of_the_normalised_rule)
{
    const char *canon = "id=a\nkind=risk\nwhen=utilization < 0.3\n"
                        "severity=high\nplay=p\ncooldown_ms=86400000\n"
                        "description=";
    char want[17], got[17];

    snprintf(want, sizeof want, "%016llx",
             (unsigned long long)XXH3_64bits(canon, strlen(canon)));
    version_of("utilization<0.3", "    cooldown: 1d\n", got);
    cr_assert_str_eq(got, want);
}

/* ---- decisions --------------------------------------------------------- */

static const char *const one_rule =
    "rules:\n"
    "  - id: low_util\n"
    "    kind: risk\n"
    "    when: utilization < 0.3\n"
    "    severity: high\n"
    "    play: csm_adoption_review\n"
    "    cooldown: 10d\n"
    "    description: Low utilization\n";

/* One evaluation at time t with utilization u; returns triggers written. */
static size_t step(const jd_ruleset_t *rs, jd_rule_state_t *st,
                   unsigned char *changed, jd_trigger_t *tr, double t,
                   double u)
{
    jd_signals_t sg;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, t);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, u);
    return jd_rules_decide(rs, "acct-1", &sg, st, changed, tr, 1);
}

Test(rules_decide, fires_once_per_episode_and_respects_cooldown)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    jd_rule_state_t st = {0};
    unsigned char ch = 9;
    jd_trigger_t tr;
    char id1[JD_TRIGGER_ID_LEN + 1], want[JD_TRIGGER_ID_LEN + 1];

    /* opens and fires: episode 1 */
    cr_assert_eq(step(rs, &st, &ch, &tr, T0, 0.1), 1);
    cr_assert_eq(ch, 1);
    cr_assert_eq(st.rs_open, 1);
    cr_assert_eq(st.rs_episode, 1);
    jd_trigger_make_id(want, "acct-1", "low_util", 1);
    cr_assert_str_eq(tr.tr_id, want);
    strcpy(id1, tr.tr_id);
    /* still true: nothing */
    cr_assert_eq(step(rs, &st, &ch, &tr, T0 + HOUR, 0.05), 0);
    cr_assert_eq(ch, 0);
    /* false: closes, no trigger */
    cr_assert_eq(step(rs, &st, &ch, &tr, T0 + 2 * DAY, 0.5), 0);
    cr_assert_eq(ch, 1);
    cr_assert_eq(st.rs_open, 0);
    /* true again inside the 10d cooldown: quiet episode */
    cr_assert_eq(step(rs, &st, &ch, &tr, T0 + 3 * DAY, 0.1), 0);
    cr_assert_eq(ch, 1);
    cr_assert_eq(st.rs_open, 1);
    cr_assert_eq(st.rs_episode, 1);
    cr_assert_eq(step(rs, &st, &ch, &tr, T0 + 4 * DAY, 0.5), 0);
    /* after the cooldown: fires as episode 2, with a new id */
    cr_assert_eq(step(rs, &st, &ch, &tr, T0 + 10 * DAY, 0.1), 1);
    cr_assert_eq(st.rs_episode, 2);
    jd_trigger_make_id(want, "acct-1", "low_util", 2);
    cr_assert_str_eq(tr.tr_id, want);
    cr_assert_str_neq(tr.tr_id, id1);
    jd_rules_destroy(rs);
}

Test(rules_decide, replay_gives_the_same_ids)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    const double us[] = {0.1, 0.5, 0.1, 0.5, 0.2};
    char ids[2][8][JD_TRIGGER_ID_LEN + 1];
    size_t cnt[2] = {0, 0};

    for (int run = 0; run < 2; run++) {
        jd_rule_state_t st = {0};
        for (size_t i = 0; i < 5; i++) {
            jd_trigger_t tr;
            if (step(rs, &st, NULL, &tr, T0 + (double)i * 11 * DAY, us[i]))
                strcpy(ids[run][cnt[run]++], tr.tr_id);
        }
    }
    cr_assert_eq(cnt[0], 3);
    cr_assert_eq(cnt[1], 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(ids[0][i], ids[1][i]);
    cr_assert_str_neq(ids[0][0], ids[0][1]);
    cr_assert_str_neq(ids[0][1], ids[0][2]);
    jd_rules_destroy(rs);
}

Test(rules_decide, trigger_contents)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - id: mixed\n"
        "    kind: expansion\n"
        "    when: utilization > 0.5 and segment == \"smb\" and "
        "first_value_at is null and now > 0\n"
        "    severity: medium\n"
        "    play: seat_expansion_offer\n"
        "    description: Ready to grow.\n");
    jd_rule_state_t st = {0};
    jd_signals_t sg;
    jd_trigger_t tr;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0 + 1234);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.75);
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, "smb");
    cr_assert_eq(jd_rules_decide(rs, "acme", &sg, &st, NULL, &tr, 1), 1);
    cr_assert_str_eq(tr.tr_account, "acme");
    cr_assert_eq(tr.tr_kind, JD_KIND_EXPANSION);
    cr_assert_eq(tr.tr_severity, JD_SEV_MEDIUM);
    cr_assert_str_eq(tr.tr_rule_id, "mixed");
    cr_assert_str_eq(tr.tr_rule_version, jd_rule_version(jd_rules_at(rs, 0)));
    cr_assert_str_eq(tr.tr_play, "seat_expansion_offer");
    cr_assert_eq(tr.tr_has_segment, 1);
    cr_assert_str_eq(tr.tr_segment, "smb");
    cr_assert_eq(tr.tr_fired_at, (int64_t)T0 + 1234);
    /* evidence: numeric, non-null signals read, in order of use */
    cr_assert_eq(tr.tr_evidence_cnt, 2);
    cr_assert_str_eq(tr.tr_evidence[0].evd_name, "utilization");
    cr_assert_eq(tr.tr_evidence[0].evd_value, 0.75);
    cr_assert_str_eq(tr.tr_evidence[1].evd_name, "as_of");
    cr_assert_eq(tr.tr_evidence[1].evd_value, T0 + 1234);
    cr_assert_str_eq(tr.tr_reason,
                     "utilization 0.75 > 0.5 and segment \"smb\" == \"smb\" "
                     "and first_value_at null is null and now "
                     "2026-03-04T00:00:01.234Z > 0; segment smb; play "
                     "seat_expansion_offer. Ready to grow.");
    cr_assert_str_empty(tr.tr_source_topic);
    cr_assert_eq(tr.tr_source_offset, 0);
    jd_rules_destroy(rs);
}

Test(rules_decide, reason_without_description_and_timestamps_as_iso)
{
    jd_ruleset_t *rs = load_ok("rules:\n" RULE("quiet", "now - last_event_at "
                                               ">= 14d", ""));
    jd_rule_state_t st = {0};
    jd_signals_t sg;
    jd_trigger_t tr;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0);
    jd_signals_set_num(&sg, JD_SIG_LAST_EVENT_AT, T0 - 15 * DAY);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 1);
    cr_assert_str_eq(tr.tr_reason, "now 2026-03-04T00:00:00Z - last_event_at "
                     "2026-02-17T00:00:00Z >= 14d; segment unknown; play p");
    cr_assert_eq(tr.tr_has_segment, 0);
    jd_rules_destroy(rs);
}

Test(rules_decide, full_output_leaves_the_rule_to_fire_later)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    jd_rule_state_t st = {0};
    unsigned char ch = 9;
    jd_signals_t sg;
    jd_trigger_t tr;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.1);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, &ch, &tr, 0), 0);
    cr_assert_eq(ch, 0);
    cr_assert_eq(st.rs_open, 0);
    cr_assert_eq(st.rs_episode, 0);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, &ch, &tr, 1), 1);
    cr_assert_eq(ch, 1);
    cr_assert_eq(st.rs_episode, 1);
    jd_rules_destroy(rs);
}

Test(rules_decide, null_as_of_decides_nothing)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    jd_rule_state_t st = {0};
    unsigned char ch = 9;
    jd_signals_t sg;
    jd_trigger_t tr;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.1);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, &ch, &tr, 1), 0);
    cr_assert_eq(ch, 0);
    cr_assert_eq(st.rs_open, 0);
    jd_rules_destroy(rs);
}

Test(rules_decide, ids_differ_per_account)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    jd_rule_state_t a = {0}, b = {0};
    jd_signals_t sg;
    jd_trigger_t ta, tb;

    jd_signals_clear(&sg);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.1);
    cr_assert_eq(jd_rules_decide(rs, "acct-a", &sg, &a, NULL, &ta, 1), 1);
    cr_assert_eq(jd_rules_decide(rs, "acct-b", &sg, &b, NULL, &tb, 1), 1);
    cr_assert_str_neq(ta.tr_id, tb.tr_id);
    cr_assert_eq(strlen(ta.tr_id), JD_TRIGGER_ID_LEN);
    jd_rules_destroy(rs);
}

Test(rules_decide, rule_eval_null_is_false)
{
    jd_ruleset_t *rs = load_ok(one_rule);
    jd_signals_t sg;

    jd_signals_clear(&sg);
    cr_assert_eq(jd_rule_eval(jd_rules_at(rs, 0), &sg), 0);
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.2);
    cr_assert_eq(jd_rule_eval(jd_rules_at(rs, 0), &sg), 1);
    jd_rules_destroy(rs);
}

/* ---- for, segments, plays, suppression, shadow, resolve, score ---------- */

static const char *const touch_model =
    "segments:\n"
    "  high_touch: [enterprise]\n"
    "  low_touch: [smb]\n"
    "default_segment: low_touch\n"
    "plays:\n"
    "  - {kind: risk, segment: high_touch, play: csm_task, owner: csm, "
    "channel: crm_task}\n"
    "  - {kind: risk, play: auto_email, owner: digital, channel: email}\n"
    "  - {rule: r2, play: special}\n"
    "  - {kind: expansion, play: upsell}\n";

static void acct(jd_signals_t *sg, double at, const char *segment)
{
    jd_signals_clear(sg);
    jd_signals_set_num(sg, JD_SIG_AS_OF, at);
    if (segment)
        jd_signals_set_str(sg, JD_SIG_SEGMENT, segment);
}

Test(rules_features, plays_by_tier_and_rule)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%srules:\n"
             "  - {id: r1, kind: risk, severity: low, when: seats > 1}\n"
             "  - {id: r2, kind: risk, severity: low, when: seats > 1}\n",
             touch_model);
    jd_ruleset_t *rs = load_ok(yaml);
    jd_rule_state_t st[2] = {0};
    jd_trigger_t tr[2];
    jd_signals_t sg;

    acct(&sg, T0, "enterprise");
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, st, NULL, tr, 2), 2);
    cr_assert_str_eq(tr[0].tr_play, "csm_task");
    cr_assert_str_eq(tr[0].tr_owner, "csm");
    cr_assert_str_eq(tr[0].tr_channel, "crm_task");
    cr_assert_str_eq(tr[1].tr_play, "special");
    cr_assert_str_empty(tr[1].tr_owner);
    cr_assert(strstr(tr[0].tr_reason, "; segment high_touch; play csm_task"));
    memset(st, 0, sizeof st);
    acct(&sg, T0, "Unlisted Co");  /* the default tier */
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, st, NULL, tr, 2), 2);
    cr_assert_str_eq(tr[0].tr_play, "auto_email");
    cr_assert(strstr(tr[0].tr_reason, "; segment low_touch; play auto_email"),
              "%s", tr[0].tr_reason);
    cr_assert_str_eq(tr[0].tr_segment, "Unlisted Co");
    jd_rules_destroy(rs);
}

Test(rules_features, segments_restrict_a_rule)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml, "%srules:\n"
             "  - {id: r1, kind: risk, severity: low, when: seats > 1, "
             "segments: [high_touch]}\n"
             "  - {id: r2, kind: risk, severity: low, when: seats > 1, "
             "segments: [smb]}\n", touch_model);
    jd_ruleset_t *rs = load_ok(yaml);
    jd_rule_state_t st[2] = {0};
    jd_trigger_t tr[2];
    jd_signals_t sg;

    acct(&sg, T0, "smb"); /* a segment value matches too */
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, st, NULL, tr, 2), 1);
    cr_assert_str_eq(tr[0].tr_rule_id, "r2");
    acct(&sg, T0 + DAY, "enterprise"); /* r2 closes, r1 opens */
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, st, NULL, tr, 2), 1);
    cr_assert_str_eq(tr[0].tr_rule_id, "r1");
    cr_assert_eq(st[1].rs_open, 0);
    jd_rules_destroy(rs);
}

Test(rules_features, suppressed_by_kind_and_rule_and_not_by_shadow)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - {id: risky, kind: risk, severity: low, play: p, when: seats > 10}\n"
        "  - {id: shadowy, kind: risk, severity: low, play: p, mode: shadow,"
        " when: seats > 1}\n"
        "  - {id: grow, kind: expansion, severity: low, play: p, when: seats > 1,"
        " suppressed_by: [risk]}\n"
        "  - {id: grow2, kind: expansion, severity: low, play: p, when: seats > 1,"
        " suppressed_by: risky}\n");
    jd_rule_state_t st[4] = {0};
    jd_decision_t d[4];
    jd_trigger_t tr[4];
    jd_signals_t sg;
    size_t n;

    acct(&sg, T0, NULL);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 20); /* risky opens now */
    n = jd_rules_decide_ex(rs, "a", &sg, st, NULL, d, tr, 4);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(tr[0].tr_rule_id, "risky");
    cr_assert_str_eq(tr[1].tr_rule_id, "shadowy");
    cr_assert(tr[1].tr_shadow);
    cr_assert_eq(d[2], JD_DECIDE_SUPPRESSED);
    cr_assert_eq(d[3], JD_DECIDE_SUPPRESSED);
    acct(&sg, T0 + DAY, NULL);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5); /* risky closes; shadow open */
    n = jd_rules_decide_ex(rs, "a", &sg, st, NULL, d, tr, 4);
    cr_assert_eq(n, 2, "a shadow episode never suppresses");
    cr_assert_str_eq(tr[0].tr_rule_id, "grow");
    cr_assert_str_eq(tr[1].tr_rule_id, "grow2");
    jd_rules_destroy(rs);
}

Test(rules_features, for_and_resolve)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - {id: r, kind: risk, severity: low, play: p, when: seats > 1,"
        " for: 2d, resolve: true}\n");
    jd_rule_state_t st = {0};
    jd_trigger_t tr;
    jd_signals_t sg;
    char id[JD_TRIGGER_ID_LEN + 1];

    acct(&sg, T0, NULL);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 0);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0 + 2 * DAY - 1);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 0);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0 + 2 * DAY);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 1);
    cr_assert_eq(tr.tr_status, JD_STATUS_FIRED);
    cr_assert(strstr(tr.tr_reason, "seats 5 > 1 for 2d;"), "%s", tr.tr_reason);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, T0 + 3 * DAY);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 1);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 1);
    cr_assert_eq(tr.tr_status, JD_STATUS_RESOLVED);
    cr_assert_eq(tr.tr_fired_at, (int64_t)(T0 + 3 * DAY));
    jd_trigger_make_id(id, "a", "r/resolved", 1);
    cr_assert_str_eq(tr.tr_id, id);
    cr_assert(!strncmp(tr.tr_reason, "resolved: seats 1 > 1 no longer holds",
                       37), "%s", tr.tr_reason);
    jd_rules_destroy(rs);
}

Test(rules_features, score_levels_and_priority)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - id: r\n    kind: renewal_readiness\n    severity: low\n"
        "    play: p\n    priority: 7\n    when: seats > 0\n"
        "    score:\n      a: seats * 10\n      b: if(arr > 100, 5, 0)\n"
        "      c: arr * null\n"
        "    levels: {ok: 50, meh: 20, bad: 0}\n");
    jd_rule_state_t st = {0};
    jd_trigger_t tr;
    jd_signals_t sg;

    acct(&sg, T0, NULL);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 3);
    jd_signals_set_num(&sg, JD_SIG_ARR, 500);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, &tr, 1), 1);
    cr_assert_eq(tr.tr_priority, 7);
    cr_assert_str_eq(tr.tr_level, "meh");
    cr_assert(strstr(tr.tr_reason, "; score 35 level meh"), "%s",
              tr.tr_reason);
    /* evidence: seats, arr, then the parts (a null part scores 0), score */
    cr_assert_eq(tr.tr_evidence_cnt, 6);
    cr_assert_str_eq(tr.tr_evidence[2].evd_name, "score.a");
    cr_assert_eq(tr.tr_evidence[2].evd_value, 30);
    cr_assert_str_eq(tr.tr_evidence[4].evd_name, "score.c");
    cr_assert_eq(tr.tr_evidence[4].evd_value, 0);
    cr_assert_str_eq(tr.tr_evidence[5].evd_name, "score");
    cr_assert_eq(tr.tr_evidence[5].evd_value, 35);
    jd_rules_destroy(rs);
}

Test(rules_features, new_keys_change_the_version)
{
    const char *base = "rules:\n  - {id: r, kind: risk, severity: low, "
                       "play: p, when: seats > 1%s}\n";
    const char *extra[] = {"", ", for: 1d", ", priority: 3", ", resolve: true",
                           ", segments: [x]", ", score: {a: seats}"};
    char v[6][17], yaml[512];

    for (int i = 0; i < 6; i++) {
        snprintf(yaml, sizeof yaml, base, extra[i]);
        jd_ruleset_t *rs = load_ok(yaml);
        snprintf(v[i], sizeof v[i], "%s", jd_rule_version(jd_rules_at(rs, 0)));
        jd_rules_destroy(rs);
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(v[i], v[j], "'%s' keeps the version", extra[i]);
    }
}

Test(rules_errors, feature_errors_point_at_the_node)
{
    expect_error("rules:\n" RULE("a", "seats > 1", "    for: 7 days\n"),
                 "t.yaml:7:10: rule 'a': bad duration '7 days' for 'for' "
                 "(expected a number with a unit d, h, m or s, such as 14d, "
                 "12h, 30m, 10s; or 0)");
    expect_error("rules:\n" RULE("a", "seats > 1", "    mode: draft\n"),
                 "t.yaml:7:11: rule 'a': 'mode' must be active or shadow, "
                 "not 'draft'");
    expect_error("rules:\n" RULE("a", "seats > 1", "    resolve: yes\n"),
                 "t.yaml:7:14: rule 'a': 'resolve' must be false or true, "
                 "not 'yes'");
    expect_error("rules:\n" RULE("a", "seats > 1", "    priority: high\n"),
                 "t.yaml:7:15: rule 'a': 'priority' must be a whole number "
                 "from -1000000 to 1000000, not 'high'");
    expect_error("rules:\n" RULE("a", "seats > 1",
                                 "    suppressed_by: [risk, nope]\n"),
                 "t.yaml:7:27: rule 'a': 'suppressed_by' names 'nope', which "
                 "is neither a kind (risk, renewal_readiness, expansion) nor "
                 "the id of another rule");
    expect_error("rules:\n" RULE("a", "seats > 1",
                                 "    score: {x: seats > 1}\n"),
                 "t.yaml:7:16: rule 'a': 'x' must be a number, but 'seats > "
                 "1' is a condition (true/false)");
    expect_error("rules:\n" RULE("a", "seats > 1",
                                 "    score: {x: seets}\n"),
                 "t.yaml:7:16: rule 'a': unknown signal 'seets' (did you "
                 "mean 'seats'?)");
    expect_error("rules:\n" RULE("a", "seats > 1",
                                 "    levels: {ok: 1}\n"),
                 "t.yaml:7:13: rule 'a': 'levels' needs a 'score' to grade");
    expect_error("segments: {hi: [enterprise]}\nrules:\n"
                 RULE("a", "seats > 1", "    segments: [lo]\n"),
                 "t.yaml:3:9: rule 'a': unknown segment 'lo' (the segments "
                 "section defines hi)");
    expect_error("plays:\n  - {kind: risk, play: x}\n  - {rule: zz, play: y}\n"
                 "rules:\n" RULE("a", "seats > 1", ""),
                 "t.yaml:3:5: plays entry for unknown rule 'zz'");
    expect_error("plays:\n  - {kind: risk, rule: a, play: x}\nrules:\n"
                 RULE("a", "seats > 1", ""),
                 "t.yaml:2:5: a plays entry needs exactly one of 'kind' and "
                 "'rule'");
    expect_error("plays:\n  - {kind: risk, play: x, colour: red}\nrules:\n"
                 RULE("a", "seats > 1", ""),
                 "t.yaml:2:27: unknown key 'colour' in a plays entry (allowed: "
                 "kind, rule, segment, play, owner, channel)");
    expect_error("segments: {hi: [a], hi: [b]}\nrules:\n" RULE("a", "seats > 1", ""),
                 "t.yaml:1:21: duplicate segment tier 'hi'");
    expect_error("segments: {hi: [a]}\ndefault_segment: lo\nrules:\n"
                 RULE("a", "seats > 1", ""),
                 "t.yaml:2:18: unknown segment 'lo' (the segments section "
                 "defines hi)");
    expect_error("plays:\n  - {kind: risk, segment: hi, play: x}\nrules:\n"
                 "  - {id: a, kind: risk, severity: low, when: seats > 1}\n",
                 "t.yaml:4:10: rule 'a': no play: give the rule a 'play', or "
                 "add a plays entry for rule 'a' or kind 'risk' without a "
                 "segment");
}

Test(rules_features, next_deadline_is_the_next_tick_or_a_pending_for)
{
    jd_ruleset_t *rs = load_ok(
        "rules:\n"
        "  - {id: r, kind: risk, severity: low, play: p, when: seats > 1,"
        " for: 6h}\n");
    jd_rule_state_t st = {0};
    jd_signals_t sg;

    acct(&sg, T0 + 5 * HOUR, NULL); /* T0 is a UTC midnight */
    cr_assert_eq(jd_rules_next_deadline(rs, &sg, &st, (int64_t)DAY),
                 (int64_t)(T0 + DAY));
    cr_assert_eq(jd_rules_next_deadline(rs, &sg, &st, 0), INT64_MAX);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    cr_assert_eq(jd_rules_decide(rs, "a", &sg, &st, NULL, NULL, 0), 0);
    cr_assert_eq(st.rs_since, (int64_t)(T0 + 5 * HOUR));
    cr_assert_eq(jd_rules_next_deadline(rs, &sg, &st, (int64_t)DAY),
                 (int64_t)(T0 + 11 * HOUR));
    acct(&sg, T0 + DAY, NULL); /* exactly on a tick: the next one */
    cr_assert_eq(jd_rules_next_deadline(rs, &sg, &st, (int64_t)DAY),
                 (int64_t)(T0 + 2 * DAY));
    jd_signals_set_null(&sg, JD_SIG_AS_OF);
    cr_assert_eq(jd_rules_next_deadline(rs, &sg, &st, (int64_t)DAY), INT64_MAX);
    jd_rules_destroy(rs);
}
