/*
 * Configuration keys of the platform integration: any librdkafka property
 * from JOURNEYD_KAFKA_* (secrets for containers), the registry password
 * masked by `config show`, http/log/registry validation naming the key,
 * and the mapping family through the YAML loader (event names with spaces,
 * lists of account paths) with a bad mapping key named with its position.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_config.h"

static char *show(const jd_config_t *cf)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    jd_config_print(cf, f);
    fclose(f);
    return buf;
}

Test(config_platform, kafka_properties_and_secrets_from_the_environment)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    setenv("JOURNEYD_KAFKA_SASL_PASSWORD", "hunter2", 1);
    setenv("JOURNEYD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL", 1);
    setenv("JOURNEYD_KAFKA_BOOTSTRAP_SERVERS", "k1:9092", 1);
    setenv("JOURNEYD_SCHEMAS_REGISTRY_PASSWORD", "s3cret", 1);
    cr_assert_eq(jd_config_load_env(cf, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(jd_config_kafka(cf, "sasl.password"), "hunter2");
    cr_assert_str_eq(jd_config_kafka(cf, "security.protocol"), "SASL_SSL");
    cr_assert_str_eq(jd_config_kafka(cf, "bootstrap.servers"), "k1:9092");
    cr_assert_str_eq(cf->cf_registry_password, "s3cret");
    char *text = show(cf);
    cr_assert_null(strstr(text, "hunter2"), "%s", text);
    cr_assert_null(strstr(text, "s3cret"), "%s", text);
    cr_assert(strstr(text, "schemas.registry.password: \"*****\""), "%s", text);
    free(text);
    unsetenv("JOURNEYD_KAFKA_SASL_PASSWORD");
    unsetenv("JOURNEYD_KAFKA_SECURITY_PROTOCOL");
    unsetenv("JOURNEYD_KAFKA_BOOTSTRAP_SERVERS");
    unsetenv("JOURNEYD_SCHEMAS_REGISTRY_PASSWORD");
    jd_config_destroy(cf);
}

Test(config_platform, bad_values_name_the_key)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    cr_assert_neq(jd_config_set(cf, "http.port", "70000", "flag", &err), 0);
    cr_assert(strstr(err.err_msg, "http.port"), "%s", err.err_msg);
    cr_assert_neq(jd_config_set(cf, "log.format", "xml", "flag", &err), 0);
    cr_assert(strstr(err.err_msg, "log.format"), "%s", err.err_msg);
    cr_assert_neq(jd_config_set(cf, "schemas.registry.ssl_verify", "2", "flag", &err), 0);
    cr_assert(strstr(err.err_msg, "schemas.registry.ssl_verify"), "%s", err.err_msg);
    cr_assert_neq(jd_config_set(cf, "mapping.fields.when", "x", "flag", &err), 0);
    cr_assert(strstr(err.err_msg, "mapping.fields.when"), "%s", err.err_msg);
    jd_config_destroy(cf);
}

Test(config_platform, mapping_from_yaml)
{
    char path[64];
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    FILE *f;
    snprintf(path, sizeof path, "/tmp/jd-config-platform-%d.yaml", (int)getpid());
    f = fopen(path, "w");
    fputs("mapping:\n"
          "  fields:\n"
          "    event_id: messageId\n"
          "    account_id: [context.groupId, properties.accountId]\n"
          "    type: event\n"
          "    occurred_at: timestamp\n"
          "  events:\n"
          "    \"Report Exported\": {type: feature_used, feature: reports.export}\n", f);
    fclose(f);
    cr_assert_eq(jd_config_load_file(cf, path, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_config_validate(cf, &err), 0, "%s", err.err_msg);
    char *text = show(cf);
    cr_assert(strstr(text, "mapping.fields.account_id: \"context.groupId,properties.accountId\""),
              "%s", text);
    cr_assert(strstr(text, "mapping.events.Report Exported.feature: \"reports.export\""), "%s", text);
    free(text);
    jd_config_destroy(cf);

    cf = jd_config_new();
    f = fopen(path, "w");
    fputs("mapping:\n  fields:\n    type: event\n  timestamp:\n    unit: days\n", f);
    fclose(f);
    cr_assert_neq(jd_config_load_file(cf, path, &err), 0);
    cr_assert(strstr(err.err_msg, ":5:") && strstr(err.err_msg, "mapping.timestamp.unit"), "%s",
              err.err_msg);
    jd_config_destroy(cf);

    cf = jd_config_new();
    f = fopen(path, "w");
    fputs("mapping:\n  fields:\n    type: event\n", f);
    fclose(f);
    cr_assert_eq(jd_config_load_file(cf, path, &err), 0, "%s", err.err_msg);
    cr_assert_neq(jd_config_validate(cf, &err), 0, "an incomplete mapping is refused");
    cr_assert(strstr(err.err_msg, "mapping.fields.event_id"), "%s", err.err_msg);
    jd_config_destroy(cf);
    unlink(path);
}
