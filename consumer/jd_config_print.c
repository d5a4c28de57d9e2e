/*
 * jd_config_print: the configuration as text (contract in jd_config.h):
 * jd_config_print_keys, the reference table of every key (`journeyd
 * config keys`, and the body of docs/configuration.md), and
 * jd_config_print, the values in effect (`journeyd config show`) with
 * secrets and the userinfo of URLs masked.
 *
 * Runs on the main thread; the config is only read, the stream is the
 * caller's.
 */
#include "jd_config_int.h"

#include <string.h>

#include "jd_secret.h"

void jd_config_print_keys(FILE *out)
{
    static const char *const tn[] = {"string", "integer", "list", "number"};
    fprintf(out, "| key | type | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        const jd_config_key_t *ck = &jd__config_keys[i];
        char env[256];
        jd__config_env_name(ck->ck_name, env, sizeof env);
        char choices[128] = "", dflt[160] = "(empty)";
        for (size_t j = 0, n = 0; ck->ck_choices && ck->ck_choices[j] && n + 3 < sizeof choices; j++)
            n += (size_t)snprintf(choices + n, sizeof choices - n, "%s%c",
                                  ck->ck_choices[j] == '|' ? "\\" : "", ck->ck_choices[j]);
        if (ck->ck_default[0])
            snprintf(dflt, sizeof dflt, "`%s`", ck->ck_default);
        fprintf(out, "| `%s` | %s%s%s | %s | %s Env: `%s`. |\n", ck->ck_name, tn[ck->ck_type],
                ck->ck_choices ? ": " : "", choices, dflt, ck->ck_doc, env);
    }
    for (size_t i = 0; i < jd__config_nkafka_defaults; i++)
        fprintf(out, "| `kafka.%s` | string | `%s` | librdkafka property%s. |\n",
                jd__config_kafka_defaults[i][0], jd__config_kafka_defaults[i][1],
                i == 0 ? "; empty starts the embedded mock cluster" : "");
    fprintf(out, "| `kafka.<property>` | string | | Any other librdkafka property, passed through. |\n"
                 "| `kafka.<secret>_file` | string | | File whose first line is the librdkafka "
                 "one-line secret property <secret> (a password or secret, e.g. "
                 "`kafka.sasl.password_file`, env "
                 "`JOURNEYD_KAFKA_SASL_PASSWORD_FILE`); mode 0600 or 0400. |\n"
                 "| `schemas.ids.<id>` | string | | Writer schema (.avsc) of Confluent schema id <id>. |\n"
                 "| `mapping.fields.<field>` | string | | Path (a.b.c through records, maps, unions) "
                 "in an upstream record of event_id, account_id (list: first with a value), "
                 "user_id, type, feature, occurred_at, value, attributes; see docs/mapping.md. |\n"
                 "| `mapping.default_account` | string | | Account of events none of whose "
                 "account_id paths has a value. |\n"
                 "| `mapping.timestamp.unit` | string: s\\|ms\\|us\\|ns | `ms` | Unit of numeric "
                 "upstream timestamps. |\n"
                 "| `mapping.timestamp.format` | string | `iso8601` | Format of text timestamps: "
                 "iso8601 or a strptime(3) format, UTC. |\n"
                 "| `mapping.events.<name>.type`, `.feature` | string | | Upstream event name -> "
                 "journeyd event type (and feature). |\n"
                 "| `mapping.attributes.<name>` | string | | Path of one more attribute. |\n"
                 "| `health.<segment>.<measure>.<weight\\|bad\\|good>` | number | see "
                 "docs/signals.md | Health profile of a segment (`default` for the others); "
                 "measures utilization, usage_change_7d, nps, cases_open, milestones; "
                 "weights sum to 100. |\n");
}

static void jd_config_print_health(const char *key, double v, void *opaque)
{
    fprintf((FILE *)opaque, "%s: %.15g\n", key, v);
}

/* A value as `config show` prints it: the userinfo of a URL masked. */
static const char *jd_config_show(const char *v, char *buf, size_t cap)
{
    return strstr(v, "://") ? jd_secret_mask_url(v, buf, cap) : v;
}

void jd_config_print(const jd_config_t *cf, FILE *out)
{
    char url[4096];
    for (size_t i = 0; i < JD_CONFIG_NKEYS; i++) {
        const jd_config_key_t *ck = &jd__config_keys[i];
        const char *base = (const char *)cf + ck->ck_offset;
        if (ck->ck_type == JD_CFG_INT)
            fprintf(out, "%s: %d\n", ck->ck_name, *(const int *)base);
        else if (ck->ck_type == JD_CFG_NUM)
            fprintf(out, "%s: %.15g\n", ck->ck_name, *(const double *)(const void *)base);
        else
            fprintf(out, "%s: \"%s\"\n", ck->ck_name,
                    jd_secret_key(ck->ck_name) && **(char *const *)base
                        ? JD_SECRET_MASK
                        : jd_config_show(*(char *const *)base, url, sizeof url));
    }
    for (size_t i = 0; i < cf->cf_kafka_cnt; i++)
        fprintf(out, "kafka.%s: \"%s\"\n", cf->cf_kafka[i].kv_key,
                jd_secret_key(cf->cf_kafka[i].kv_key)
                    ? JD_SECRET_MASK
                    : jd_config_show(cf->cf_kafka[i].kv_val, url, sizeof url));
    for (size_t i = 0; i < cf->cf_schema_id_cnt; i++)
        fprintf(out, "schemas.ids.%s: \"%s\"\n", cf->cf_schema_ids[i].kv_key,
                cf->cf_schema_ids[i].kv_val);
    jd_mapping_print(cf->cf_mapping, out);
    jd_health_conf_print(&cf->cf_health, jd_config_print_health, out);
}
