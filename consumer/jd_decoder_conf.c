/*
 * jd_decoder_conf: the inbound decoder built from the configuration
 * (contract in jd_decoder_conf.h).
 *
 * `journeyd run`, `journeyd replay --topic` and the benchmarks must decode
 * a message the same way, so the settings that shape decoding (wire
 * format, limits, mapping, which schema an id means) are applied here
 * only. The schema registry client is not created here: its owner
 * outlives the decoder and connects it with jd_decoder_set_fetch(); the
 * input subjects are looked up through it (jd_decoder_input_subjects).
 * Set-up only: no I/O beyond reading the schemas.ids.* files and those
 * lookups.
 */
#include "jd_decoder_conf.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "jd_log.h"
#include "jd_registry.h"

static jd_wire_t jd_decoder_conf_wire(const char *name)
{
    if (!strcmp(name, "confluent"))
        return JD_WIRE_CONFLUENT;
    if (!strcmp(name, "plain"))
        return JD_WIRE_PLAIN;
    return JD_WIRE_AUTO;
}

jd_decoder_t *jd_decoder_from_config(const jd_config_t *cf, jd_err_t *err)
{
    jd_limits_t lim;
    jd_decoder_t *dec;

    jd_limits_default(&lim);
    lim.lim_max_message_bytes = (size_t)cf->cf_max_message_bytes;
    lim.lim_max_string_bytes = (size_t)cf->cf_max_string_bytes;
    lim.lim_max_attributes = (size_t)cf->cf_max_attributes;
    if (!(dec = jd_decoder_new(jd_decoder_conf_wire(cf->cf_wire_format), &lim, err)))
        return NULL;
    jd_decoder_set_mapping(dec, cf->cf_mapping); /* before any schema is added */
    jd_decoder_set_cache_max(dec, (size_t)cf->cf_registry_cache_max);
    if (!cf->cf_registry_url[0] &&
        jd_decoder_add_schema(dec, cf->cf_product_schema_id, jd_codec_product_schema_json(),
                              err))
        goto fail;
    for (size_t i = 0; i < cf->cf_schema_id_cnt; i++) {
        int32_t id = (int32_t)strtol(cf->cf_schema_ids[i].kv_key, NULL, 10);
        if (jd_decoder_add_schema_file(dec, id, cf->cf_schema_ids[i].kv_val, err)) {
            jd_err_prefix(err, "schemas.ids.%d", id);
            goto fail;
        }
    }
    return dec;
fail:
    jd_decoder_destroy(dec);
    return NULL;
}

/* One SUBJECT[@VERSION] entry of `key`: looked up and added; its id in
 * *id. */
static int jd_decoder_subject(jd_decoder_t *dec, jd_registry_t *reg, const char *key,
                              const char *entry, int32_t *id, jd_err_t *err)
{
    char subject[512], version[16], *json = NULL;
    int rc;

    if (jd_config_subject_ref(entry, subject, sizeof subject, version, sizeof version))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "%s: '%s' is not SUBJECT[@VERSION]",
                          key, entry);
    if ((rc = jd_registry_lookup(reg, subject, version, id, &json, err)) == 0 &&
        (rc = jd_decoder_add_schema(dec, *id, json, err)) != 0)
        rc = JD_ERR_FATAL;
    free(json);
    if (rc == JD_ERR_FATAL)
        jd_err_prefix(err, "%s: subject %s", key, subject);
    else if (rc == 0)
        JD_INFO("registry", "%s: subject %s version %s is schema id %" PRId32 " (%s)", key,
                subject, version, *id,
                jd_decoder_fast(dec, *id) ? "fast path" : "avro-c's generic reader");
    return rc;
}

int jd_decoder_input_subjects(jd_decoder_t *dec, struct jd_registry *reg, const jd_config_t *cf,
                              jd_err_t *err)
{
    int32_t id;
    int rc;

    for (size_t i = 0; i < cf->cf_registry_input_subject_n; i++) {
        if ((rc = jd_decoder_subject(dec, reg, "schemas.registry.input_subjects",
                                     cf->cf_registry_input_subject_v[i], &id, err)))
            return rc;
    }
    if (!cf->cf_registry_plain_subject[0])
        return 0;
    if ((rc = jd_decoder_subject(dec, reg, "schemas.registry.plain_subject",
                                 cf->cf_registry_plain_subject, &id, err)))
        return rc;
    return jd_decoder_set_plain(dec, id, err);
}
