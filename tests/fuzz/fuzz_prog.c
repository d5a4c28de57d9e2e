/*
 * fuzz_prog: libFuzzer target comparing the decoder's fast path
 * (schemas/jd_prog.c) with avro-c's generic reader on random bytes.
 *
 * The first input byte picks one of the writer schemas below (the reader
 * schema itself, the v2 fixture, and evolved shapes: reordered fields,
 * ["string","null"] unions, int/long/float promotions, writer-only nested
 * records, arrays, maps, enums, fixed, a recursive record, writer unions
 * with branches the reader cannot take); the rest is
 * the Avro body, framed with that schema's id. Two more values of the byte
 * pick an upstream record read through a field mapping (jd_prog_map.c):
 * the shipped Segment example with its mapping, and a record whose
 * attributes container is a map of unions holding maps (repeated keys,
 * branch switches). Each input is decoded on both paths; the target aborts when they disagree on accept/reject, on
 * the error code, or on any field of the event. Run under ASan + UBSan by
 * tests/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_codec_int.h"
#include "jd_mapping.h"

#define PE "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
#define REQ "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"}," \
            "{\"name\":\"type\",\"type\":\"string\"}"

static const char *const jd_fuzz_schemas[] = {
    NULL, /* product_event.avsc */
    PE "{\"name\":\"occurred_at\",\"type\":\"int\"}," REQ ","
       "{\"name\":\"user_id\",\"type\":[\"string\",\"null\"]},"
       "{\"name\":\"value\",\"type\":[\"float\",\"null\"]},"
       "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}",
    PE REQ ",{\"name\":\"x\",\"type\":{\"type\":\"record\",\"name\":\"X\",\"fields\":["
       "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"long\",\"bytes\"]}},"
       "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"enum\",\"name\":\"E\","
       "\"symbols\":[\"A\",\"B\"]}}},"
       "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
       "{\"name\":\"b\",\"type\":\"boolean\"},{\"name\":\"d\",\"type\":\"double\"}]}},"
       "{\"name\":\"occurred_at\",\"type\":\"long\"},"
       "{\"name\":\"feature\",\"type\":\"string\"},{\"name\":\"value\",\"type\":\"long\"}]}",
    PE "{\"name\":\"n\",\"type\":{\"type\":\"record\",\"name\":\"Node\",\"fields\":["
       "{\"name\":\"v\",\"type\":\"null\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}},"
       REQ ",{\"name\":\"occurred_at\",\"type\":\"long\"},"
       "{\"name\":\"value\",\"type\":[\"null\",\"int\"]},"
       "{\"name\":\"nulls\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}",
    /* writer unions with branches the reader field cannot take */
    PE "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]},"
       "{\"name\":\"account_id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":\"string\"},"
       "{\"name\":\"occurred_at\",\"type\":[\"long\",\"null\"]},"
       "{\"name\":\"user_id\",\"type\":[\"null\",\"string\",\"long\"]},"
       "{\"name\":\"value\",\"type\":[\"null\",\"string\",\"float\"]},"
       "{\"name\":\"attributes\",\"type\":[\"null\",{\"type\":\"map\",\"values\":[\"null\",\"string\"]}]}]}",
};
#define JD_FUZZ_NSCHEMAS (sizeof jd_fuzz_schemas / sizeof jd_fuzz_schemas[0] + 1)
#define JD_FUZZ_NMAPPED 2

static const char jd_fuzz_rep[] =
    "{\"type\":\"record\",\"name\":\"Rep\",\"fields\":["
    "{\"name\":\"messageId\",\"type\":\"string\"},{\"name\":\"event\",\"type\":\"string\"},"
    "{\"name\":\"timestamp\",\"type\":[\"long\",\"string\"]},"
    "{\"name\":\"properties\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"null\",{\"type\":\"map\",\"values\":[\"string\",\"double\"]},\"string\",\"boolean\"]}}]}";

/* mapping.KEY=VALUE lines of both mapped schemas (paths that miss are
 * harmless: they have no value) */
static const char *const jd_fuzz_mapping[][2] = {
    {"fields.event_id", "messageId"}, {"fields.account_id", "context.groupId,properties.accountId"},
    {"fields.user_id", "userId"}, {"fields.type", "event"}, {"fields.feature", "properties.feature"},
    {"fields.occurred_at", "timestamp"}, {"fields.value", "properties.score"},
    {"fields.attributes", "properties"}, {"attributes.library", "context.library.name"},
    {"attributes.deep", "properties.p.u"}, {"events.Signed In.type", "login"}, {"default_account", "acme"},
};

static jd_decoder_t *jd_fuzz_dec, *jd_fuzz_mdec;
static jd_mapping_t *jd_fuzz_mp;
static jd_arena_t jd_fuzz_ar;

/* The mapped decoder: ids 0 (segment_track.avsc) and 1 (jd_fuzz_rep). */
static void jd_fuzz_init_mapped(const jd_limits_t *lim)
{
    jd_err_t err;
    char path[1024];
    if (!(jd_fuzz_mp = jd_mapping_new()))
        abort();
    for (size_t i = 0; i < sizeof jd_fuzz_mapping / sizeof jd_fuzz_mapping[0]; i++) {
        if (jd_mapping_set(jd_fuzz_mp, jd_fuzz_mapping[i][0], jd_fuzz_mapping[i][1], &err))
            abort();
    }
    if (!(jd_fuzz_mdec = jd_decoder_new(JD_WIRE_CONFLUENT, lim, &err)))
        abort();
    jd_decoder_set_mapping(jd_fuzz_mdec, jd_fuzz_mp);
    snprintf(path, sizeof path, "%s/schemas/examples/segment_track.avsc", JD_SOURCE_DIR);
    if (jd_decoder_add_schema_file(jd_fuzz_mdec, 0, path, &err) ||
        !jd_decoder_fast(jd_fuzz_mdec, 0)) {
        fprintf(stderr, "fuzz_prog: segment_track.avsc: %s\n", err.err_msg);
        abort();
    }
    if (jd_decoder_add_schema(jd_fuzz_mdec, 1, jd_fuzz_rep, &err) ||
        !jd_decoder_fast(jd_fuzz_mdec, 1)) {
        fprintf(stderr, "fuzz_prog: Rep: %s\n", err.err_msg);
        abort();
    }
}

static void jd_fuzz_init(void)
{
    jd_err_t err;
    char path[1024];
    jd_limits_t lim;
    jd_limits_default(&lim);
    lim.lim_max_string_bytes = 64;
    lim.lim_max_attributes = 8;
    lim.lim_min_occurred_at = 0;
    jd_fuzz_dec = jd_decoder_new(JD_WIRE_CONFLUENT, &lim, &err);
    if (!jd_fuzz_dec)
        abort();
    for (size_t i = 0; i < JD_FUZZ_NSCHEMAS - 1; i++) {
        const char *json = jd_fuzz_schemas[i] ? jd_fuzz_schemas[i] : jd_codec_product_schema_json();
        if (jd_decoder_add_schema(jd_fuzz_dec, (int32_t)i, json, &err) ||
            !jd_decoder_fast(jd_fuzz_dec, (int32_t)i)) {
            fprintf(stderr, "fuzz_prog: schema %zu: %s\n", i, err.err_msg);
            abort();
        }
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/codec/product_event_v2.avsc", JD_SOURCE_DIR);
    if (jd_decoder_add_schema_file(jd_fuzz_dec, (int32_t)(JD_FUZZ_NSCHEMAS - 1), path, &err))
        abort();
    jd_fuzz_init_mapped(&lim);
    jd_arena_init(&jd_fuzz_ar, 64 * 1024);
}

static void jd_fuzz_same(const char *a, const char *b)
{
    if ((!a) != (!b) || (a && strcmp(a, b)))
        abort();
}

static void jd_fuzz_compare(const jd_event_t *a, const jd_event_t *b)
{
    jd_fuzz_same(a->ev_id, b->ev_id);
    jd_fuzz_same(a->ev_account, b->ev_account);
    jd_fuzz_same(a->ev_user, b->ev_user);
    jd_fuzz_same(a->ev_type_name, b->ev_type_name);
    jd_fuzz_same(a->ev_feature, b->ev_feature);
    if (a->ev_type != b->ev_type || a->ev_occurred_at != b->ev_occurred_at ||
        a->ev_has_value != b->ev_has_value ||
        memcmp(&a->ev_value, &b->ev_value, sizeof a->ev_value) ||
        a->ev_attr_cnt != b->ev_attr_cnt)
        abort();
    for (size_t i = 0; i < a->ev_attr_cnt; i++) {
        jd_fuzz_same(a->ev_attrs[i].at_key, b->ev_attrs[i].at_key);
        jd_fuzz_same(a->ev_attrs[i].at_val, b->ev_attrs[i].at_val);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char msg[8192];
    jd_event_t fe, ge;
    jd_err_t ferr, gerr;

    if (!jd_fuzz_dec)
        jd_fuzz_init();
    if (size < 1 || size > sizeof msg - 4)
        return 0;
    int32_t id = (int32_t)(data[0] % (JD_FUZZ_NSCHEMAS + JD_FUZZ_NMAPPED));
    jd_decoder_t *dec = jd_fuzz_dec;
    if (id >= (int32_t)JD_FUZZ_NSCHEMAS) {
        dec = jd_fuzz_mdec;
        id -= (int32_t)JD_FUZZ_NSCHEMAS;
    }
    jd__codec_frame_put(msg, id);
    memcpy(msg + 5, data + 1, size - 1);
    jd__decoder_set_generic(dec, 0);
    int frc = jd_decoder_decode(dec, msg, size + 4, &jd_fuzz_ar, &fe, &ferr);
    jd__decoder_set_generic(dec, 1);
    int grc = jd_decoder_decode(dec, msg, size + 4, &jd_fuzz_ar, &ge, &gerr);
    if (frc != grc || (frc && ferr.err_code != gerr.err_code)) {
        fprintf(stderr, "fuzz_prog: fast %d '%s' vs generic %d '%s'\n", frc,
                frc ? ferr.err_msg : "", grc, grc ? gerr.err_msg : "");
        abort();
    }
    if (!frc)
        jd_fuzz_compare(&fe, &ge);
    jd_arena_reset(&jd_fuzz_ar);
    return 0;
}
