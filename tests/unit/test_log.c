/*
 * Log lines: text from the input (an account id, a config value) cannot
 * start a new line or send terminal escapes; every event is one line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "jd_log.h"
#include "stderr_cap.h"

Test(log, escape_controls)
{
    char out[128];
    jd_log_escape(out, sizeof out, "a\nb\rc\td\x1b[31me\x7f" "f\x01");
    cr_assert_str_eq(out, "a\\nb\\rc\\td\\x1b[31me\\x7ff\\x01");
}

Test(log, escape_unicode_line_breakers_keeps_other_utf8)
{
    char out[128];
    jd_log_escape(out, sizeof out, "x\xc2\x85y\xe2\x80\xa8z\xe2\x80\xa9 caf\xc3\xa9 \xe2\x82\xac");
    cr_assert_str_eq(out, "x\\u0085y\\u2028z\\u2029 caf\xc3\xa9 \xe2\x82\xac");
}

Test(log, escape_never_splits_an_escape)
{
    char out[5];
    cr_assert_eq(jd_log_escape(out, sizeof out, "abc\n"), 3);
    cr_assert_str_eq(out, "abc");
    cr_assert_eq(jd_log_escape(out, sizeof out, "ab\n"), 4);
    cr_assert_str_eq(out, "ab\\n");
    cr_assert_eq(jd_log_escape(out, 0, "x"), 0);
}

/* Writes one JD_WARN with `value` in it and returns what reached stderr. */
static void log_capture(const char *value, char *out, size_t cap)
{
    stderr_cap_t c;
    stderr_cap_begin(&c);
    JD_WARN("state", "account %s: unknown event type", value);
    stderr_cap_end(&c, out, cap);
}

Test(log, forged_line_stays_on_one_line)
{
    char out[4096];
    jd_log_set_json(0);
    log_capture("acme\n2026-01-01T00:00:00.000Z ERROR ops: forged\r\x1b[2K", out, sizeof out);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "%s", out);
    cr_assert_null(strchr(out, '\r'));
    cr_assert_null(strchr(out, '\x1b'));
    cr_assert(strstr(out, "WARN  state: account acme\\n2026-01-01T00:00:00.000Z ERROR ops: "
                          "forged\\r\\x1b[2K: unknown event type\n"), "%s", out);
}

Test(log, json_line_stays_on_one_line)
{
    char out[4096];
    jd_log_set_json(1);
    log_capture("acme\n{\"level\":\"error\"}", out, sizeof out);
    jd_log_set_json(0);
    cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "%s", out);
    cr_assert(strstr(out, "\"msg\":\"account acme\\n{\\\"level\\\":\\\"error\\\"}"), "%s", out);
}

/* A long message full of controls is cut, never past the line buffer. */
Test(log, long_escaped_line_is_cut_whole)
{
    char value[1900], out[8192];
    memset(value, '\n', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    log_capture(value, out, sizeof out);
    size_t n = strlen(out);
    cr_assert_lt(n, 2048);
    cr_assert_eq(out[n - 1], '\n');
    cr_assert_eq(strchr(out, '\n'), out + n - 1);
    cr_assert_eq(out[n - 2], 'n', "%s", out + n - 8);
    cr_assert_eq(out[n - 3], '\\', "%s", out + n - 8);
}
