/*
 * jd_decoder_from_config: the one decoder set-up of run, replay --topic
 * and the benchmarks. Checks each setting it applies: the product schema
 * id (and its absence when a schema registry is configured), the wire
 * format, limits.max_message_bytes, schemas.ids.* files (a bad one named
 * by its key). Pure: no Kafka, no registry server.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jd_codec.h"
#include "jd_config.h"
#include "jd_decoder_conf.h"

static jd_config_t *cf;
static jd_encoder_t *enc;
static jd_buf_t out;
static jd_arena_t ar;
static jd_err_t err;

static void setup(void)
{
    cf = jd_config_new();
    enc = jd_encoder_new(&err);
    cr_assert(cf && enc);
    jd_arena_init(&ar, 4096);
}

static void teardown(void)
{
    jd_buf_free(&out);
    jd_arena_destroy(&ar);
    jd_encoder_destroy(enc);
    jd_config_destroy(cf);
}

TestSuite(decoder_conf, .init = setup, .fini = teardown);

static void set(const char *key, const char *val)
{
    cr_assert_eq(jd_config_set(cf, key, val, "test", &err), 0, "%s", err.err_msg);
}

/* Encodes an event naming `feature` under `id` (-1: plain Avro) into `out`. */
static void encode_feature(int32_t id, const char *feature)
{
    jd_event_t ev = {
        .ev_id = "evt-1",
        .ev_account = "acct-1",
        .ev_type_name = "feature_used",
        .ev_feature = feature,
        .ev_occurred_at = INT64_C(1717171717171),
    };
    cr_assert_eq(jd_encoder_event(enc, &ev, id, &out, &err), 0, "%s", err.err_msg);
}

static void encode(int32_t id)
{
    encode_feature(id, "dashboards");
}

/* Decodes `out`: 0, or the error code. */
static int decode(jd_decoder_t *dec)
{
    jd_event_t ev;
    jd_err_clear(&err);
    if (jd_decoder_decode(dec, out.b_data, out.b_len, &ar, &ev, &err))
        return err.err_code;
    cr_assert_str_eq(ev.ev_account, "acct-1");
    return 0;
}

static jd_decoder_t *build(void)
{
    jd_decoder_t *dec = jd_decoder_from_config(cf, &err);
    cr_assert_not_null(dec, "%s", err.err_msg);
    return dec;
}

static const char *write_tmp(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/jd-decoder-conf-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(decoder_conf, product_schema_under_its_configured_id)
{
    set("schemas.product_schema_id", "7");
    jd_decoder_t *dec = build();
    encode(7);
    cr_assert_eq(decode(dec), 0, "%s", err.err_msg);
    encode(1);
    cr_assert_eq(decode(dec), JD_E_UNKNOWN_SCHEMA);
    encode(-1); /* schemas.wire_format auto: plain Avro is the product schema */
    cr_assert_eq(decode(dec), 0, "%s", err.err_msg);
    jd_decoder_destroy(dec);
}

Test(decoder_conf, registry_ids_are_not_preloaded)
{
    set("schemas.registry.url", "http://127.0.0.1:1");
    jd_decoder_t *dec = build();
    encode(1);
    cr_assert_eq(decode(dec), JD_E_UNKNOWN_SCHEMA); /* no fetch function: the caller's */
    jd_decoder_destroy(dec);
}

Test(decoder_conf, wire_format_and_limits)
{
    set("schemas.wire_format", "confluent");
    set("limits.max_message_bytes", "64");
    jd_decoder_t *dec = build();
    encode(-1);
    cr_assert_eq(decode(dec), JD_E_BAD_MAGIC, "%s", err.err_msg);
    encode(1);
    cr_assert_eq(decode(dec), 0, "%s", err.err_msg);
    encode_feature(1, "a feature name long enough to pass sixty-four bytes in all");
    cr_assert_gt(out.b_len, 64);
    cr_assert_eq(decode(dec), JD_E_TOO_LARGE, "%s", err.err_msg);
    jd_decoder_destroy(dec);
}

Test(decoder_conf, schema_files_by_id)
{
    set("schemas.ids.12", write_tmp("ok.avsc", jd_codec_product_schema_json()));
    jd_decoder_t *dec = build();
    encode(12);
    cr_assert_eq(decode(dec), 0, "%s", err.err_msg);
    jd_decoder_destroy(dec);

    set("schemas.ids.13", write_tmp("bad.avsc", "{\"type\": \"record\""));
    cr_assert_null(jd_decoder_from_config(cf, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "schemas.ids.13"), "%s", err.err_msg);
    unlink(write_tmp("ok.avsc", ""));
    unlink(write_tmp("bad.avsc", ""));
}
