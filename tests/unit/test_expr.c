/*
 * test_expr: the rule condition language (rules/jd_expr.c), with no Kafka
 * or Redis: literals, operators, precedence, null semantics, functions,
 * compile-time type errors with their columns, "did you mean", limits, the
 * normalised text and its stability, evaluation on hand-built signals.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_expr.h"

/* ---- helpers ----------------------------------------------------------- */

static jd_signals_t sg; /* reset before each test */

static void setup(void)
{
    jd_signals_clear(&sg);
}

TestSuite(expr, .init = setup);

static jd_expr_t *compile_ok(const char *text)
{
    jd_expr_t *e = NULL;
    jd_err_t err = {0};
    size_t col = 0;
    int rc = jd_expr_compile(text, &e, &col, &err);

    cr_assert_eq(rc, 0, "compile '%s' failed: %s", text, err.err_msg);
    cr_assert_not_null(e);
    return e;
}

static jd_value_t eval(const char *text)
{
    jd_expr_t *e = compile_ok(text);
    jd_value_t v = jd_expr_eval(e, &sg);

    /* strings may point into e: tests only look at numbers and types */
    cr_assert(v.type != JD_VAL_STR, "eval() helper is for non-strings");
    jd_expr_destroy(e);
    return v;
}

static void expect_num(const char *text, double want)
{
    jd_value_t v = eval(text);

    cr_assert_eq(v.type, JD_VAL_NUM, "'%s': type %d, want number", text,
                 v.type);
    cr_assert(fabs(v.num - want) <= 1e-9 * fabs(want),
              "'%s' = %.17g, want %.17g", text, v.num, want);
}

static void expect_bool(const char *text, int want)
{
    jd_value_t v = eval(text);

    cr_assert_eq(v.type, JD_VAL_BOOL, "'%s': type %d, want bool", text,
                 v.type);
    cr_assert_eq(v.num != 0, want != 0, "'%s' = %s, want %s", text,
                 v.num ? "true" : "false", want ? "true" : "false");
}

static void expect_null(const char *text)
{
    jd_value_t v = eval(text);

    cr_assert_eq(v.type, JD_VAL_NULL, "'%s': type %d (num %g), want null",
                 text, v.type, v.num);
}

/* Compilation must fail with exactly `msg` (which includes "column N: ")
 * and report column `col`. */
static void expect_error(const char *text, size_t col, const char *msg)
{
    jd_expr_t *e = (jd_expr_t *)0x1;
    jd_err_t err = {0};
    size_t got_col = 0;
    int rc = jd_expr_compile(text, &e, &got_col, &err);

    cr_assert_eq(rc, JD_ERR_FATAL, "'%s' compiled, expected: %s", text, msg);
    cr_assert_null(e, "*out must be NULL on error");
    cr_assert_eq(err.err_code, JD_E_RULES);
    cr_assert_str_eq(err.err_msg, msg, "'%s'", text);
    cr_assert_eq(got_col, col, "'%s': column %zu, want %zu", text, got_col,
                 col);
}

static void expect_norm(const char *text, const char *want)
{
    jd_expr_t *e = compile_ok(text);

    cr_assert_str_eq(jd_expr_text(e), want, "normalising '%s'", text);
    jd_expr_destroy(e);
}

/* ---- literals ---------------------------------------------------------- */

Test(expr, numbers)
{
    expect_num("123", 123);
    expect_num("0.9", 0.9);
    expect_num("1e3", 1000);
    expect_num("2.5E-2", 0.025);
    expect_num("1e+2", 100);
    expect_num("007", 7);
}

Test(expr, durations_are_milliseconds)
{
    expect_num("30d", 30.0 * 86400000);
    expect_num("12h", 12.0 * 3600000);
    expect_num("15m", 15.0 * 60000);
    expect_num("10s", 10000);
    expect_num("1.5h", 5400000);
    expect_num("0d", 0);
    expect_bool("14d == 336h", 1);
    expect_bool("1d > 23h", 1);
}

Test(expr, now_minus_timestamp_compares_with_duration)
{
    jd_signals_set_num(&sg, JD_SIG_AS_OF, 1772582400000.0);
    jd_signals_set_num(&sg, JD_SIG_LAST_EVENT_AT,
                       1772582400000.0 - 15 * 86400000.0);
    expect_bool("now - last_event_at > 14d", 1);
    expect_bool("as_of - last_event_at > 16d", 0);
    jd_signals_set_num(&sg, JD_SIG_LAST_EVENT_AT,
                       1772582400000.0 - 14 * 86400000.0);
    expect_bool("now - last_event_at > 14d", 0);
    expect_bool("now - last_event_at >= 14d", 1);
}

Test(expr, strings_booleans_null)
{
    jd_expr_t *e = compile_ok("coalesce(null, \"a \\\"b\\\" \\\\ c\")");
    jd_value_t v = jd_expr_eval(e, &sg);

    cr_assert_eq(v.type, JD_VAL_STR);
    cr_assert_str_eq(v.str, "a \"b\" \\ c");
    jd_expr_destroy(e);
    expect_bool("true", 1);
    expect_bool("false", 0);
    expect_null("null");
    expect_bool("\"abc\" == \"abc\"", 1);
    expect_bool("\"abc\" != \"abd\"", 1);
    expect_bool("true == (1 < 2)", 1);
    expect_bool("true != false", 1);
}

/* ---- operators and precedence ------------------------------------------ */

Test(expr, arithmetic_precedence_and_associativity)
{
    expect_num("1 + 2 * 3", 7);
    expect_num("(1 + 2) * 3", 9);
    expect_num("10 - 4 - 3", 3);      /* left-associative */
    expect_num("10 - (4 - 3)", 9);
    expect_num("8 / 4 / 2", 1);
    expect_num("2 * -3", -6);
    expect_num("-2 * 3", -6);
    expect_num("- -4", 4);
    expect_num("-(1 + 2) * 2", -6);
    expect_num("1 - -1", 2);
    expect_num("7 / 2", 3.5);
}

Test(expr, comparison_operators)
{
    expect_bool("1 < 2", 1);
    expect_bool("2 < 2", 0);
    expect_bool("2 <= 2", 1);
    expect_bool("3 > 2", 1);
    expect_bool("2 > 2", 0);
    expect_bool("2 >= 2", 1);
    expect_bool("2 == 2", 1);
    expect_bool("2 != 2", 0);
    expect_bool("1 + 1 == 2", 1);     /* arithmetic binds tighter */
}

Test(expr, logic_precedence)
{
    expect_bool("true or false and false", 1);      /* and before or */
    expect_bool("(true or false) and false", 0);
    expect_bool("not false and false", 0);          /* not before and */
    expect_bool("not (false and false)", 1);
    expect_bool("not 1 > 2", 1);                    /* not (1 > 2) */
    expect_bool("not not true", 1);
    expect_bool("1 < 2 and 3 < 4", 1);
    expect_bool("1 > 2 or 3 < 4", 1);
}

Test(expr, in_lists)
{
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, "smb");
    jd_signals_set_num(&sg, JD_SIG_SEATS, 25);
    expect_bool("segment in [\"smb\", \"mid_market\"]", 1);
    expect_bool("segment in [\"enterprise\"]", 0);
    expect_bool("seats in [10, 25, 50]", 1);
    expect_bool("seats in [-25, 26]", 0);
    expect_bool("-seats in [-25]", 1);
    expect_bool("seats * 1d in [25d]", 1);
    expect_bool("not (segment in [\"smb\"])", 0);
}

Test(expr, is_null_and_is_not_null)
{
    jd_signals_set_num(&sg, JD_SIG_ARR, 1200);
    expect_bool("arr is null", 0);
    expect_bool("arr is not null", 1);
    expect_bool("first_value_at is null", 1);
    expect_bool("first_value_at is not null", 0);
    expect_bool("arr + first_value_at is null", 1);
    expect_bool("null is null", 1);
    expect_bool("segment is null and plan is null", 1);
}

Test(expr, functions)
{
    jd_signals_set_num(&sg, JD_SIG_SEATS, 10);
    expect_num("min(3, 1, 2)", 1);
    expect_num("max(3, 1, 2)", 3);
    expect_num("min(5)", 5);
    expect_num("abs(-3.5)", 3.5);
    expect_num("abs(2)", 2);
    expect_num("coalesce(arr, seats, 7)", 10);
    expect_num("coalesce(arr, 7)", 7);
    expect_num("max(seats, 1) * 2", 20);
    expect_num("min(max(1, 2), abs(-5))", 2);
    expect_null("coalesce(arr, null)");
}

/* ---- null semantics ---------------------------------------------------- */

Test(expr, null_propagates_through_arithmetic)
{
    /* utilization is null (not set) */
    expect_null("utilization + 1");
    expect_null("1 - utilization");
    expect_null("utilization * 0");
    expect_null("utilization / 2");
    expect_null("-utilization");
    expect_null("abs(utilization)");
    expect_null("min(1, utilization)");
    expect_null("max(utilization, 1)");
    expect_null("null + 1");
}

Test(expr, division_by_zero_and_overflow_give_null)
{
    jd_signals_set_num(&sg, JD_SIG_SEATS, 0);
    jd_signals_set_num(&sg, JD_SIG_ARR, 1e308);
    expect_null("10 / seats");
    expect_null("0 / 0");
    expect_null("arr * 10");
    expect_bool("10 / seats > 1", 0);
    expect_bool("coalesce(10 / seats, -1) == -1", 1);
}

Test(expr, comparison_with_null_is_false)
{
    expect_bool("utilization < 0.3", 0);
    expect_bool("utilization <= 0.3", 0);
    expect_bool("utilization > 0.3", 0);
    expect_bool("utilization >= 0.3", 0);
    expect_bool("utilization == 0.3", 0);
    expect_bool("utilization != 0.3", 0);
    expect_bool("segment == \"smb\"", 0);
    expect_bool("segment != \"smb\"", 0);
    expect_bool("segment in [\"smb\"]", 0);
    expect_bool("utilization in [1, 2]", 0);
    /* ... so negating a comparison on null is TRUE (documented) */
    expect_bool("not (utilization > 1)", 1);
    expect_bool("not (utilization <= 1)", 1);
    expect_bool("utilization < 0.3 or utilization >= 0.3", 0);
}

/* ---- signals ----------------------------------------------------------- */

Test(expr, evaluation_on_signals)
{
    jd_signals_set_num(&sg, JD_SIG_UTILIZATION, 0.12);
    jd_signals_set_num(&sg, JD_SIG_DAYS_SINCE_START, 41);
    jd_signals_set_str(&sg, JD_SIG_PLAN, "pro");
    expect_bool("utilization < 0.3 and days_since_start >= 30", 1);
    jd_signals_set_num(&sg, JD_SIG_DAYS_SINCE_START, 29);
    expect_bool("utilization < 0.3 and days_since_start >= 30", 0);
    expect_bool("plan == \"pro\" and utilization * 100 < 13", 1);
    expect_num("utilization * days_since_start", 0.12 * 29);
}

Test(expr, string_result_borrows_from_signals)
{
    jd_expr_t *e = compile_ok("coalesce(plan, \"none\")");
    jd_value_t v = jd_expr_eval(e, &sg);

    cr_assert_eq(v.type, JD_VAL_STR);
    cr_assert_str_eq(v.str, "none");
    jd_signals_set_str(&sg, JD_SIG_PLAN, "enterprise");
    v = jd_expr_eval(e, &sg);
    cr_assert_str_eq(v.str, "enterprise");
    cr_assert_eq(jd_expr_type(e), JD_VAL_STR);
    jd_expr_destroy(e);
}

Test(expr, signal_list_in_order_of_first_use)
{
    jd_expr_t *e = compile_ok("utilization < 0.3 and days_since_start >= 30 "
                              "and utilization > 0");
    const jd_signal_id_t *ids;
    size_t n = jd_expr_signals(e, &ids);

    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], JD_SIG_UTILIZATION);
    cr_assert_eq(ids[1], JD_SIG_DAYS_SINCE_START);
    jd_expr_destroy(e);

    e = compile_ok("now - last_event_at > 14d and as_of > 0");
    n = jd_expr_signals(e, &ids);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], JD_SIG_AS_OF);
    cr_assert_eq(ids[1], JD_SIG_LAST_EVENT_AT);
    jd_expr_destroy(e);

    e = compile_ok("1 < 2");
    cr_assert_eq(jd_expr_signals(e, &ids), 0);
    jd_expr_destroy(e);
}

Test(expr, static_types)
{
    const struct { const char *text; jd_val_type_t type; } cases[] = {
        {"seats * 2", JD_VAL_NUM}, {"segment", JD_VAL_STR},
        {"seats > 2", JD_VAL_BOOL}, {"arr is null", JD_VAL_BOOL},
        {"null", JD_VAL_NULL}, {"coalesce(null, 1)", JD_VAL_NUM},
        {"coalesce(null, null)", JD_VAL_NULL}, {"min(1, null)", JD_VAL_NUM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        jd_expr_t *e = compile_ok(cases[i].text);
        cr_assert_eq(jd_expr_type(e), cases[i].type, "'%s'", cases[i].text);
        jd_expr_destroy(e);
    }
}

Test(expr, truthy)
{
    jd_value_t t = {JD_VAL_BOOL, 1, NULL}, f = {JD_VAL_BOOL, 0, NULL};
    jd_value_t n = {JD_VAL_NULL, 1, NULL}, z = {JD_VAL_NUM, 0, NULL};
    jd_value_t one = {JD_VAL_NUM, 1, NULL}, s = {JD_VAL_STR, 0, "x"};
    jd_value_t es = {JD_VAL_STR, 0, ""};

    cr_assert(jd_expr_truthy(t));
    cr_assert(!jd_expr_truthy(f));
    cr_assert(!jd_expr_truthy(n));
    cr_assert(!jd_expr_truthy(z));
    cr_assert(jd_expr_truthy(one));
    cr_assert(jd_expr_truthy(s));
    cr_assert(!jd_expr_truthy(es));
}

/* ---- errors ------------------------------------------------------------ */

Test(expr, type_errors_name_the_column)
{
    expect_error("segment < 3", 1,
                 "column 1: '<' needs numbers, but 'segment' is a string");
    expect_error("utilization + plan", 15,
                 "column 15: '+' needs numbers, but 'plan' is a string");
    expect_error("utilization and true", 1, "column 1: 'and' needs true/false "
                 "operands, but 'utilization' is a number");
    expect_error("seats > 1 or arr", 14, "column 14: 'or' needs true/false "
                 "operands, but 'arr' is a number");
    expect_error("segment == 3", 9, "column 9: cannot compare 'segment' "
                 "(a string) with '3' (a number)");
    expect_error("not utilization", 5, "column 5: 'not' needs true/false "
                 "operands, but 'utilization' is a number");
    expect_error("-segment", 2, "column 2: unary '-' needs numbers, but "
                 "'segment' is a string");
    expect_error("min(seats, plan)", 12, "column 12: 'min' needs numbers, but "
                 "'plan' is a string");
    expect_error("coalesce(seats, \"x\")", 17, "column 17: coalesce() "
                 "arguments must have one type, but '\"x\"' is a string, not "
                 "a number");
    expect_error("utilization in [\"a\"]", 17, "column 17: 'utilization' is a "
                 "number, but this list element is a string");
    expect_error("(seats > 1) in [1]", 1, "column 1: 'in' needs a number or a "
                 "string on its left, but 'seats > 1' is true/false");
    expect_error("arr == null", 8, "column 8: a comparison with null is never "
                 "true; use 'is null' or 'is not null'");
    expect_error("null < arr", 1, "column 1: a comparison with null is never "
                 "true; use 'is null' or 'is not null'");
}

Test(expr, unknown_names_suggest_the_closest)
{
    expect_error("utilisation < 0.3", 1, "column 1: unknown signal "
                 "'utilisation' (did you mean 'utilization'?)");
    expect_error("seats > 1 and days_since_strat >= 30", 15, "column 15: "
                 "unknown signal 'days_since_strat' (did you mean "
                 "'days_since_start'?)");
    expect_error("active_users_7 > 3", 1, "column 1: unknown signal "
                 "'active_users_7' (did you mean 'active_users_7d'?)");
    expect_error("Seats > 3", 1, "column 1: unknown signal 'Seats' (did you "
                 "mean 'seats'?)");
    expect_error("zzzzzz > 1", 1, "column 1: unknown signal 'zzzzzz'");
    expect_error("mxa(1, 2)", 1, "column 1: unknown function 'mxa' (did you "
                 "mean 'max'?)");
    expect_error("foo(1)", 1, "column 1: unknown function 'foo'");
}

Test(expr, syntax_errors)
{
    expect_error("min(seats, 1 seats)", 14,
                 "column 14: expected ')' after function arguments");
    expect_error("(seats + 1", 11, "column 11: expected ')' to close '(', "
                 "got end of expression");
    expect_error("(seats + 1]", 11, "column 11: expected ')' to close '(', "
                 "got ']'");
    expect_error("seats >", 8, "column 8: expected a value, got end of "
                 "expression");
    expect_error("seats > )", 9, "column 9: expected a value, got ')'");
    expect_error("1 < 2 < 3", 7,
                 "column 7: comparisons cannot be chained; add parentheses");
    expect_error("arr is null is null", 13,
                 "column 13: comparisons cannot be chained; add parentheses");
    expect_error("", 1, "column 1: empty expression");
    expect_error("seats 3", 7, "column 7: expected an operator or end of "
                 "expression, got '3'");
    expect_error("seats > 1 AND arr > 1", 11, "column 11: expected an "
                 "operator or end of expression, got 'AND' (keywords are "
                 "lower case)");
    expect_error("segment == \"smb", 12, "column 12: unterminated string");
    expect_error("segment == \"a\\n\"", 14, "column 14: bad escape in string "
                 "(only \\\" and \\\\ are allowed)");
    expect_error("segment == 'smb'", 12,
                 "column 12: strings use double quotes");
    expect_error("seats = 1", 7, "column 7: unexpected '='; use '==' to "
                 "compare");
    expect_error("seats > 1 && arr > 1", 11,
                 "column 11: unexpected '&&'; use 'and'");
    expect_error("seats > 1 || arr > 1", 11,
                 "column 11: unexpected '||'; use 'or'");
    expect_error("!(seats > 1)", 1,
                 "column 1: unexpected '!'; use '!=' or 'not'");
    expect_error("seats # 1", 7, "column 7: unexpected character '#'");
    expect_error("arr is 3", 8, "column 8: expected 'null' after 'is'");
    expect_error("arr is not 3", 12,
                 "column 12: expected 'null' after 'is not'");
    expect_error("seats in 3", 10, "column 10: expected '[' after 'in'");
    expect_error("seats in []", 11, "column 11: expected a number or a string "
                 "in the list, got ']'");
    expect_error("seats in [1 2]", 13, "column 13: expected ',' or ']' in the "
                 "list, got '2'");
    expect_error("segment not in [\"a\"]", 9, "column 9: 'not' goes before a "
                 "condition: write 'not (X in [...])' or 'X is not null'");
    expect_error("abs(1, 2)", 1,
                 "column 1: abs() takes exactly 1 argument, got 2");
    expect_error("min()", 1,
                 "column 1: min() takes at least 1 argument, got 0");
    expect_error("min + 1", 5,
                 "column 5: expected '(' after function name 'min'");
}

Test(expr, bad_numbers_and_durations)
{
    expect_error("last_event_at > 3w", 18,
                 "column 18: unknown duration unit 'w' (use d, h, m or s)");
    expect_error("seats > 3days", 10,
                 "column 10: unknown duration unit 'days' (use d, h, m or s)");
    expect_error("seats > 1e999", 9,
                 "column 9: number '1e999' is out of range");
    expect_error("seats > 1.", 10, "column 10: unexpected character '.'");
}

Test(expr, columns_count_characters_not_bytes)
{
    /* "é" is two bytes but one column */
    expect_error("segment == \"\xc3\xa9\" and zz > 1", 20,
                 "column 20: unknown signal 'zz'");
}

Test(expr, limits)
{
    char deep[512], longtext[JD_EXPR_TEXT_MAX + 8], args[1024];
    size_t n = 0;

    /* parentheses are bounded by the parser's recursion limit, twice the
     * tree-depth limit, so normalised text (which may add parentheses)
     * always compiles again */
    for (int i = 0; i < 2 * JD_EXPR_DEPTH_MAX + 3; i++)
        deep[n++] = '(';
    deep[n++] = '1';
    for (int i = 0; i < 2 * JD_EXPR_DEPTH_MAX + 3; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    expect_error(deep, 2 * JD_EXPR_DEPTH_MAX + 3,
                 "column 131: expression is nested too deeply "
                 "(limit 130 levels)");
    deep[1] = '\0'; /* nesting below the limit compiles */
    memset(deep, '-', 60);
    strcpy(deep + 60, "1");
    jd_expr_destroy(compile_ok(deep));

    memset(longtext, ' ', JD_EXPR_TEXT_MAX);
    strcpy(longtext + JD_EXPR_TEXT_MAX, "1 > 0"); /* 4101 bytes */
    expect_error(longtext, 1, "column 1: expression is longer than 4096 bytes");

    strcpy(args, "max(1");
    for (int i = 0; i < JD_EXPR_DEPTH_MAX + 1; i++)
        strcat(args, ",1");
    strcat(args, ")");
    expect_error(args, 133, "column 133: too many arguments");
}

Test(expr, left_chains_are_bounded_by_depth)
{
    char buf[1024] = "1";

    for (int i = 0; i < 62; i++)
        strcat(buf, " + 1");
    jd_expr_destroy(compile_ok(buf)); /* depth 63 */
    strcat(buf, " + 1 + 1");
    expect_error(buf, 1,
                 "column 1: expression is nested too deeply (limit 64 levels)");
}

Test(expr, err_what_strips_the_column)
{
    jd_err_t err = {0};
    jd_expr_t *e;

    cr_assert_neq(jd_expr_compile("seats >", &e, NULL, &err), 0);
    cr_assert_str_eq(jd_expr_err_what(&err),
                     "expected a value, got end of expression");
    snprintf(err.err_msg, sizeof err.err_msg, "no column here");
    cr_assert_str_eq(jd_expr_err_what(&err), "no column here");
    snprintf(err.err_msg, sizeof err.err_msg, "col");
    cr_assert_str_eq(jd_expr_err_what(&err), "col");
}

Test(expr, compile_with_null_err_is_safe)
{
    jd_expr_t *e;

    cr_assert_eq(jd_expr_compile("seats >", &e, NULL, NULL), JD_ERR_FATAL);
    cr_assert_null(e);
    cr_assert_eq(jd_expr_compile(NULL, &e, NULL, NULL), JD_ERR_FATAL);
    jd_expr_destroy(NULL);
}

/* ---- durations as config values ---------------------------------------- */

Test(expr, parse_duration)
{
    int64_t ms = -1;

    cr_assert_eq(jd_expr_parse_duration("14d", &ms), 0);
    cr_assert_eq(ms, 14LL * 86400000);
    cr_assert_eq(jd_expr_parse_duration("12h", &ms), 0);
    cr_assert_eq(ms, 12LL * 3600000);
    cr_assert_eq(jd_expr_parse_duration("15m", &ms), 0);
    cr_assert_eq(ms, 900000);
    cr_assert_eq(jd_expr_parse_duration("10s", &ms), 0);
    cr_assert_eq(ms, 10000);
    cr_assert_eq(jd_expr_parse_duration("1.5s", &ms), 0);
    cr_assert_eq(ms, 1500);
    cr_assert_eq(jd_expr_parse_duration("0", &ms), 0);
    cr_assert_eq(ms, 0);
    ms = 5;
    cr_assert_eq(jd_expr_parse_duration("0d", &ms), 0);
    cr_assert_eq(ms, 0);
    const char *bad[] = {"", "14", "-1d", "14 d", "d", "2w", "1dd", " 1d",
                         "1d ", "1e999d", "99999999999d", "0x10s", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(jd_expr_parse_duration(bad[i], &ms), -1, "'%s'", bad[i]);
    cr_assert_eq(jd_expr_parse_duration(NULL, &ms), -1);
}

/* ---- normalised text --------------------------------------------------- */

Test(expr, normalised_text)
{
    expect_norm("utilization<0.3   and\n\tdays_since_start>=30",
                "utilization < 0.3 and days_since_start >= 30");
    expect_norm("((utilization))", "utilization");
    expect_norm("(1 + 2) * 3", "(1 + 2) * 3");
    expect_norm("1 + (2 * 3)", "1 + 2 * 3");
    expect_norm("(10 - 4) - 3", "10 - 4 - 3");
    expect_norm("10 - (4 - 3)", "10 - (4 - 3)");
    expect_norm("true or (false and true)", "true or false and true");
    expect_norm("(true or false) and true", "(true or false) and true");
    expect_norm("not seats > 1", "not (seats > 1)");
    expect_norm("not(arr is null)", "not (arr is null)");
    expect_norm("not not true", "not not true");
    expect_norm("-(-seats)", "- -seats");
    expect_norm("- - -seats", "- - -seats");
    expect_norm("- seats * 2", "-seats * 2");
    expect_norm("-(seats * 2)", "-(seats * 2)");
    expect_norm("(seats > 1) == (arr > 2)", "(seats > 1) == (arr > 2)");
    expect_norm("1e3 + 0.50 + 1E21 + 007", "1000 + 0.5 + 1e+21 + 7");
    expect_norm("now-last_event_at>14d", "now - last_event_at > 14d");
    expect_norm("336h == 14.0d", "336h == 14d");
    expect_norm("segment in [\"smb\",\"mid\"]",
                "segment in [\"smb\", \"mid\"]");
    expect_norm("seats in [ -1 , 2.50 ]", "seats in [-1, 2.5]");
    expect_norm("min( 1,max(2 ,3) )", "min(1, max(2, 3))");
    expect_norm("coalesce(plan,\"a\\\"b\")", "coalesce(plan, \"a\\\"b\")");
    expect_norm("(seats + 1) is not null", "seats + 1 is not null");
    expect_norm("(arr is null) == true", "(arr is null) == true");
    expect_norm("0.1 + 0.2", "0.1 + 0.2");
    expect_norm("0.30000000000000004", "0.30000000000000004");
}

/* normalise(x) compiles and normalises to itself, and means the same. */
Test(expr, normalisation_is_stable)
{
    static const char *const texts[] = {
        "utilization < 0.3 and days_since_start >= 30",
        "days_since_start >= 30 and first_value_at is null",
        "days_to_renewal <= 90 and days_to_renewal >= 0",
        "((seats)) * (2 + arr) / -(3) - - 4 > 1 or not (arr is null)",
        "not not (seats > 1 and (arr < 2 or plan == \"x\\\\y\"))",
        "((seats > 1) == (arr > 2)) != true",
        "coalesce(null, seats, 1e-7, 2.5e300) in [1, -2, 3d, 0.1h]",
        "max(min(seats, arr), abs(-arr), coalesce(arr, 0)) >= 1.5",
        "segment in [\"a\", \"b\\\"c\"] or plan is not null",
        "now - last_event_at >= 14d and last_event_at is not null",
        "-(-(-seats)) + (-seats) * -seats < 0",
        "not (1 > 2) and not not (2 > 1) or false",
    };
    jd_signals_set_num(&sg, JD_SIG_SEATS, 3);
    jd_signals_set_num(&sg, JD_SIG_ARR, 0.5);
    jd_signals_set_str(&sg, JD_SIG_PLAN, "x\\y");
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        jd_expr_t *a = compile_ok(texts[i]);
        jd_expr_t *b = compile_ok(jd_expr_text(a));
        jd_value_t va = jd_expr_eval(a, &sg), vb = jd_expr_eval(b, &sg);
        cr_assert_str_eq(jd_expr_text(b), jd_expr_text(a), "'%s'", texts[i]);
        cr_assert_eq(va.type, vb.type, "'%s'", texts[i]);
        cr_assert_eq(va.num, vb.num, "'%s'", texts[i]);
        jd_expr_destroy(a);
        jd_expr_destroy(b);
    }
}

/* Evaluation must not depend on the expression text staying alive. */
Test(expr, compiled_expression_owns_its_strings)
{
    char text[64];
    jd_expr_t *e;

    strcpy(text, "segment in [\"smb\"]");
    e = compile_ok(text);
    memset(text, 'x', sizeof text - 1);
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, "smb");
    cr_assert(jd_expr_truthy(jd_expr_eval(e, &sg)));
    cr_assert_str_eq(jd_expr_text(e), "segment in [\"smb\"]");
    jd_expr_destroy(e);
}

/* Found by tests/fuzz/fuzz_rules.c: a chain of unary minus normalised to
 * "-(-(-...))", one parenthesis level per minus, which then exceeded the
 * nesting limit, so the normalised text of a valid rule did not compile. */
Test(expr, long_minus_chain_normalises_to_compilable_text)
{
    char text[256] = "5*25/56/11111111111110+111111111111>1111111111111111111";
    size_t n = strlen(text);
    for (int i = 0; i < 38; i++)
        text[n++] = '-';
    strcpy(text + n, "55");
    jd_expr_t *e = compile_ok(text);
    jd_expr_t *again = compile_ok(jd_expr_text(e));
    cr_assert_str_eq(jd_expr_text(again), jd_expr_text(e));
    jd_expr_destroy(again);
    jd_expr_destroy(e);
}

/* ---- if() ----------------------------------------------------------------- */

Test(expr, if_chooses_by_its_condition)
{
    expect_num("if(1 < 2, 10, 20)", 10);
    expect_num("if(1 > 2, 10, 20)", 20);
    /* a null comparison is false, so the else branch is taken */
    expect_num("if(seats > 3, 1, 0)", 0);
    jd_signals_set_num(&sg, JD_SIG_SEATS, 5);
    expect_num("if(seats > 3, 1, 0) + if(first_value_at is null, 0, 5)", 1);
    expect_null("if(true, seats * null, 1)");
    expect_bool("if(seats > 3, true, false)", 1);
    expect_norm("if( seats>3 ,1,2 )", "if(seats > 3, 1, 2)");
}

Test(expr, if_type_errors_name_the_column)
{
    expect_error("if(seats, 1, 2)", 4, "column 4: if() condition needs "
                 "true/false operands, but 'seats' is a number");
    expect_error("if(seats > 1, 1, \"x\")", 18, "column 18: if() arguments "
                 "must have one type, but '\"x\"' is a string, not a number");
    expect_error("if(seats > 1, 1)", 1, "column 1: if() takes exactly 3 "
                 "arguments, got 2");
}
