/*
 * Secrets: *_file forms (read once, refused when group or others can read
 * them, with a message naming key, path and mode), URL userinfo masking,
 * and `config show` never printing a secret.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jd_config.h"
#include "jd_secret.h"

static const char *secret_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/jd-secret-test-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

Test(secret, reads_the_first_line_of_an_owner_only_file)
{
    jd_err_t err;
    const char *p = secret_file("ok", "hunter2\nsecond line\n", 0600);
    char *s = jd_secret_read("redis.password_file", p, &err);
    cr_assert(s, "%s", err.err_msg);
    cr_assert_str_eq(s, "hunter2");
    jd_secret_free(s);
    p = secret_file("crlf", "pw\r\n", 0400);
    cr_assert(s = jd_secret_read("k", p, &err), "%s", err.err_msg);
    cr_assert_str_eq(s, "pw");
    jd_secret_free(s);
    jd_secret_free(NULL);
    unlink(p);
}

Test(secret, refuses_group_or_other_readable_files_with_a_clear_message)
{
    jd_err_t err;
    const char *p = secret_file("open", "hunter2\n", 0644);
    cr_assert_null(jd_secret_read("kafka.sasl.password_file", p, &err));
    cr_assert(strstr(err.err_msg, "kafka.sasl.password_file"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "readable by group and others (mode 0644)"), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, "chmod 600"), "%s", err.err_msg);
    cr_assert_null(strstr(err.err_msg, "hunter2"), "the secret is never in a message");
    chmod(p, 0640);
    cr_assert_neq(jd_secret_check("redis.password_file", p, &err), 0);
    cr_assert(strstr(err.err_msg, "readable by group (mode 0640)"), "%s", err.err_msg);
    chmod(p, 0604);
    cr_assert_neq(jd_secret_check("redis.password_file", p, &err), 0);
    cr_assert(strstr(err.err_msg, "readable by others (mode 0604)"), "%s", err.err_msg);
    chmod(p, 0600);
    cr_assert_eq(jd_secret_check("redis.password_file", p, &err), 0, "%s", err.err_msg);
    unlink(p);
    cr_assert_neq(jd_secret_check("redis.password_file", p, &err), 0, "missing file");
    cr_assert(strstr(err.err_msg, "cannot read"), "%s", err.err_msg);
    p = secret_file("empty", "\nx\n", 0600);
    cr_assert_null(jd_secret_read("k", p, &err));
    cr_assert(strstr(err.err_msg, "empty"), "%s", err.err_msg);
    unlink(p);
    cr_assert_neq(jd_secret_check("k", "/tmp", &err), 0, "a directory is refused");
}

Test(secret, masks_url_userinfo)
{
    char out[256];
    cr_assert_str_eq(jd_secret_mask_url("https://u:p%40ss@reg.example:8081/x?y=1", out, sizeof out),
                     "https://*****@reg.example:8081/x?y=1");
    cr_assert_str_eq(jd_secret_mask_url("http://token@h/a@b", out, sizeof out), "http://*****@h/a@b");
    cr_assert_str_eq(jd_secret_mask_url("http://h:8081", out, sizeof out), "http://h:8081");
    cr_assert_str_eq(jd_secret_mask_url("not a url @ all", out, sizeof out), "not a url @ all");
    cr_assert(jd_secret_key("sasl.password") && jd_secret_key("redis.password") &&
              jd_secret_key("schemas.registry.password") && jd_secret_key("sasl.oauthbearer.client.secret"));
    cr_assert(!jd_secret_key("redis.password_file") && !jd_secret_key("sasl.password.file") &&
              !jd_secret_key("redis.host"));
}

Test(secret, resolve_reads_kafka_and_registry_files)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char *p = strdup(secret_file("kafka", "kpw\n", 0600));
    const char *q = secret_file("reg", "rpw\n", 0400);
    cr_assert_eq(jd_config_set(cf, "kafka.sasl.password_file", p, "t", &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_config_set(cf, "schemas.registry.password_file", q, "t", &err), 0);
    cr_assert_eq(jd_secret_resolve(cf, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(jd_config_kafka(cf, "sasl.password"), "kpw");
    cr_assert_null(jd_config_kafka(cf, "sasl.password_file"), "not passed to librdkafka");
    cr_assert_str_eq(cf->cf_registry_password, "rpw");
    jd_config_destroy(cf);

    /* the environment's spelling (JOURNEYD_KAFKA_SASL_PASSWORD_FILE) */
    cf = jd_config_new();
    cr_assert_eq(jd_config_set(cf, "kafka.sasl.password.file", p, "t", &err), 0);
    cr_assert_eq(jd_secret_resolve(cf, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(jd_config_kafka(cf, "sasl.password"), "kpw");
    jd_config_destroy(cf);

    cf = jd_config_new();
    cr_assert_eq(jd_config_set(cf, "kafka.ssl.key.pem_file", p, "t", &err), 0);
    cr_assert_eq(jd_secret_resolve(cf, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(jd_config_kafka(cf, "ssl.key.pem_file"), p,
                     "multi-line secrets have no _file form: left for librdkafka to refuse");
    jd_config_destroy(cf);

    cf = jd_config_new();
    jd_config_set(cf, "kafka.sasl.password", "inline", "t", &err);
    jd_config_set(cf, "kafka.sasl.password_file", p, "t", &err);
    cr_assert_neq(jd_secret_resolve(cf, &err), 0, "value and file both set");
    cr_assert(strstr(err.err_msg, "both set"), "%s", err.err_msg);
    jd_config_destroy(cf);

    cf = jd_config_new();
    chmod(q, 0644);
    jd_config_set(cf, "schemas.registry.password_file", q, "t", &err);
    cr_assert_neq(jd_secret_resolve(cf, &err), 0);
    cr_assert(strstr(err.err_msg, "schemas.registry.password_file"), "%s", err.err_msg);
    jd_config_destroy(cf);

    cf = jd_config_new();
    jd_config_set(cf, "redis.password_file", q, "t", &err);
    cr_assert_neq(jd_secret_resolve(cf, &err), 0, "redis.password_file is checked too");
    cr_assert(strstr(err.err_msg, "redis.password_file"), "%s", err.err_msg);
    jd_config_destroy(cf);
    unlink(p);
    unlink(q);
    free(p);
}

Test(secret, config_show_masks_secrets_and_url_userinfo)
{
    jd_config_t *cf = jd_config_new();
    jd_err_t err;
    char *text = NULL;
    size_t len = 0;
    jd_config_set(cf, "schemas.registry.url", "https://reguser:regpw@reg:8081", "t", &err);
    jd_config_set(cf, "schemas.registry.password", "regpw2", "t", &err);
    jd_config_set(cf, "redis.password", "redispw", "t", &err);
    jd_config_set(cf, "kafka.sasl.password", "kafkapw", "t", &err);
    FILE *f = open_memstream(&text, &len);
    jd_config_print(cf, f);
    fclose(f);
    cr_assert(strstr(text, "schemas.registry.url: \"https://*****@reg:8081\"\n"), "%s", text);
    cr_assert(strstr(text, "kafka.sasl.password: \"*****\"\n"));
    cr_assert_null(strstr(text, "regpw"));
    cr_assert_null(strstr(text, "redispw"));
    cr_assert_null(strstr(text, "kafkapw"));
    free(text);
    jd_config_destroy(cf);
}
