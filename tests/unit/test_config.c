/*
 * Configuration: defaults, YAML loading with positions in errors, env
 * overrides, pass-through of librdkafka properties, and the example file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_config.h"

static const char *src_dir(void)
{
    const char *d = getenv("JD_SOURCE_DIR");
    return d ? d : JD_SOURCE_DIR;
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/jd-config-test-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(config, defaults)
{
    jd_config_t *cf = jd_config_new();
    cr_assert(cf);
    cr_assert_str_eq(cf->cf_topics_input, "product-events");
    cr_assert_str_eq(cf->cf_topic_dlq, "product-events.dlq");
    cr_assert_str_eq(cf->cf_topic_risk, "cs.trigger.risk");
    cr_assert_eq(cf->cf_redis_port, 6379);
    cr_assert_str_eq(jd_config_kafka(cf, "group.id"), "journeyd");
    cr_assert_str_eq(jd_config_kafka(cf, "bootstrap.servers"), "");
    jd_config_destroy(cf);
}

Test(config, yaml_nested_lists_and_passthrough)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char *p = write_tmp("kafka:\n  bootstrap.servers: k1:9092,k2:9092\n"
                        "  security.protocol: SASL_SSL\n"
                        "topics:\n  input: [a, b]\nredis:\n  port: 6380\n"
                        "schemas:\n  ids:\n    7: /tmp/x.avsc\n");
    cr_assert_eq(jd_config_load_file(cf, p, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(cf->cf_topics_input, "a,b");
    cr_assert_eq(cf->cf_redis_port, 6380);
    cr_assert_str_eq(jd_config_kafka(cf, "security.protocol"), "SASL_SSL");
    cr_assert_str_eq(jd_config_kafka(cf, "bootstrap.servers"), "k1:9092,k2:9092");
    cr_assert_eq(cf->cf_schema_id_cnt, 1);
    cr_assert_str_eq(cf->cf_schema_ids[0].kv_key, "7");
    jd_config_destroy(cf);
    unlink(p);
}

Test(config, unknown_key_names_file_line_column)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char *p = write_tmp("redis:\n  port: 6380\n  hots: x\n");
    cr_assert_eq(jd_config_load_file(cf, p, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, ":3:9:"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "redis.hots"), "%s", err.err_msg);
    jd_config_destroy(cf);
    unlink(p);
}

Test(config, bad_values)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    cr_assert_eq(jd_config_set(cf, "redis.port", "70000", "t", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "out of range"), "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "redis.port", "12x", "t", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "not an integer"), "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "schemas.wire_format", "xml", "t", &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "auto|confluent|plain"), "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "schemas.ids.x", "f", "t", &err), JD_ERR_FATAL);
    jd_config_destroy(cf);
}

Test(config, yaml_syntax_error_has_position)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char *p = write_tmp("redis:\n  port: [6380\n");
    cr_assert_eq(jd_config_load_file(cf, p, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, p), "%s", err.err_msg);
    jd_config_destroy(cf);
    unlink(p);
}

Test(config, env_overrides)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    setenv("JOURNEYD_REDIS_PORT", "6390", 1);
    setenv("JOURNEYD_KAFKA_BOOTSTRAP_SERVERS", "b:1", 1);
    cr_assert_eq(jd_config_load_env(cf, &err), 0, "%s", err.err_msg);
    cr_assert_eq(cf->cf_redis_port, 6390);
    cr_assert_str_eq(jd_config_kafka(cf, "bootstrap.servers"), "b:1");
    setenv("JOURNEYD_REDIS_PORT", "nope", 1);
    cr_assert_eq(jd_config_load_env(cf, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "JOURNEYD_REDIS_PORT"), "%s", err.err_msg);
    unsetenv("JOURNEYD_REDIS_PORT");
    unsetenv("JOURNEYD_KAFKA_BOOTSTRAP_SERVERS");
    jd_config_destroy(cf);
}

Test(config, example_file_is_valid)
{
    char path[1024];
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    snprintf(path, sizeof path, "%s/deploy/journeyd.example.yaml", src_dir());
    cr_assert_eq(jd_config_load_file(cf, path, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_config_validate(cf, &err), 0, "%s", err.err_msg);
    cr_assert_eq(cf->cf_batch_size, 2000);
    jd_config_destroy(cf);
}

Test(config, lateness_at_most_the_retention)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    cr_assert_eq(cf->cf_lateness_days, 7);
    cr_assert_eq(jd_config_set(cf, "topics.input", "events", "test", &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "state.lateness_days", "36", "test", &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(jd_config_validate(cf, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "state.lateness_days") &&
              strstr(err.err_msg, "state.retention_days"), "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "state.retention_days", "36", "test", &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(jd_config_validate(cf, &err), 0, "%s", err.err_msg);
    cr_assert_neq(jd_config_set(cf, "state.lateness_days", "0", "test", &err), 0);
    jd_config_destroy(cf);
}

Test(config, value_features_feed_the_account_config)
{
    jd_config_t *cf = jd_config_new();
    jd_account_conf_t acf;
    jd_signals_conf_t sgc;
    jd_store_conf_t stc;
    jd_err_t err;
    cr_assert_eq(jd_config_set(cf, "state.value_features", "reports.export,,workflows", "t",
                               &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "redis.port", "7001", "t", &err), 0);
    jd_config_account(cf, &acf, &sgc);
    cr_assert_eq(acf.acf_value_cnt, 2);
    cr_assert_str_eq(acf.acf_value_features[0], "reports.export");
    cr_assert_str_eq(acf.acf_value_features[1], "workflows");
    jd_config_store_conf(cf, &stc);
    cr_assert_eq(stc.stc_port, 7001);
    cr_assert_eq(jd_config_set(cf, "state.value_features", "", "t", &err), 0);
    jd_config_account(cf, &acf, &sgc);
    cr_assert_eq(acf.acf_value_cnt, 0);
    jd_config_destroy(cf);
}
