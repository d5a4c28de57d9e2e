/*
 * Configuration files written to hurt: alias cycles, alias bombs, deep
 * nesting and over-long keys are refused with FILE:LINE:COLUMN, in bounded
 * time and memory, instead of recursing until the stack ends.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "jd_config.h"

/* Loads `text` as the file "hostile.yaml"; returns the loader's result. */
static int load(const char *text, jd_err_t *err)
{
    jd_config_t *cf = jd_config_new();
    cr_assert(cf);
    int rc = jd_config_load_buffer(cf, text, strlen(text), "hostile.yaml", err);
    jd_config_destroy(cf);
    return rc;
}

Test(config_hostile, alias_cycle_is_an_error_with_position)
{
    jd_err_t err;
    cr_assert_eq(load("kafka: &x\n  a: *x\n", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "hostile.yaml:2:3:"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "alias cycle"), "%s", err.err_msg);
}

Test(config_hostile, indirect_alias_cycle)
{
    jd_err_t err;
    cr_assert_eq(load("kafka: &a\n  b: &b\n    c:\n      d: *a\n", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "hostile.yaml:4:7:"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "alias cycle"), "%s", err.err_msg);
}

/* Nine levels of ten aliases: 10^9 pass-through keys if expanded. */
Test(config_hostile, alias_bomb_is_bounded, .timeout = 10)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "kafka:\n  l0: &l0 {p: 1, q: 1, r: 1, "
                                "s: 1, t: 1, u: 1, v: 1, w: 1, x: 1, y: 1}\n");
    for (int i = 1; i < 10; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "  l%d: &l%d {", i, i);
        for (const char *c = "pqrstuvwxy"; *c; c++)
            n += (size_t)snprintf(text + n, sizeof text - n, "%c: *l%d%s", *c, i - 1,
                                  c[1] ? ", " : "}\n");
    }
    cr_assert_lt(n, sizeof text);
    jd_err_t err;
    cr_assert_eq(load(text, &err), JD_ERR_FATAL);
    /* named: the key of the alias in l2 (line 4) that passes the bound */
    cr_assert(strstr(err.err_msg, "hostile.yaml:4:"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "aliases repeat more than 1000 values"), "%s", err.err_msg);
}

/* Aliases used a reasonable number of times still work. */
Test(config_hostile, shared_anchor_is_followed)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    const char *text = "redis: &r\n  port: 6390\nkafka:\n  client.id: &id journeyd-a\n"
                       "  group.id: *id\n";
    cr_assert_eq(jd_config_load_buffer(cf, text, strlen(text), "ok.yaml", &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(cf->cf_redis_port, 6390);
    cr_assert_str_eq(jd_config_kafka(cf, "group.id"), "journeyd-a");
    jd_config_destroy(cf);
}

Test(config_hostile, deep_nesting_is_refused)
{
    char text[8192];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%*sk%d:\n", 2 * i, "", i);
    snprintf(text + n, sizeof text - n, "%*sleaf: 1\n", 80, "");
    jd_err_t err;
    cr_assert_eq(load(text, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "nested deeper than 32"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "hostile.yaml:32:"), "%s", err.err_msg);
}

Test(config_hostile, over_long_key_is_refused_not_truncated)
{
    char text[2048];
    snprintf(text, sizeof text, "kafka:\n  %0600d: 1\n", 7);
    jd_err_t err;
    cr_assert_eq(load(text, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "hostile.yaml:2:3: key is longer than"), "%s", err.err_msg);
}

Test(config_hostile, buffer_syntax_error_names_the_buffer)
{
    jd_err_t err;
    cr_assert_eq(load("redis: [\n", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "hostile.yaml:"), "%s", err.err_msg);
    cr_assert_eq(load("*undefined\n", &err), JD_ERR_FATAL);
}
