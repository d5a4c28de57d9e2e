/*
 * test_prog: the decoder's fast path (schemas/jd_prog.c) against avro-c's
 * generic reader (the same decoder with jd__decoder_set_generic), message
 * by message: the same accept/reject, the same error code, the same
 * fields.
 *   (a) the writer schemas the codec tests and test_registry.sh use,
 *       evolution and hostile-input cases included;
 *   (b) writer schemas generated at random: the reader fields in random
 *       order with random compatible shapes (plain or union, either branch
 *       order, int/long/float/double promotions, optional fields left
 *       out), between extra fields of random types (nested records,
 *       unions, enums, fixed, arrays, maps, recursion, defaults).
 * Values are random and written by avro-c (avro_value_write), then each
 * message is also mutated (byte flips, truncation, insertion) to compare
 * the two paths on broken input. Small limits make the checks fire.
 */
#include <avro.h>
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_codec_int.h"
#include "codec_schemas.h"

#include "prog_diff.h"

/* A compatible writer shape for reader field f (NULL: leave it out):
 * plain, or a union with branches avro-c resolves and branches it cannot
 * (a message taking one of those fails on both paths). */
static const char *gen_reader_shape(int f)
{
    static const char *const opt_str[] = {"[\"null\",\"string\"]", "[\"string\",\"null\"]",
                                          "\"string\"", "\"null\"", NULL,
                                          "[\"null\",\"string\",\"long\"]"};
    static const char *const num[] = {"[\"null\",\"double\"]", "[\"double\",\"null\"]",
                                      "[\"null\",\"int\"]", "[\"long\",\"null\"]",
                                      "[\"null\",\"float\"]", "\"double\"", "\"float\"",
                                      "\"int\"", "\"long\"", "\"null\"", NULL,
                                      "[\"null\",\"string\",\"double\"]"};
    static const char *const req_str[] = {"\"string\"", "\"string\"", "\"string\"", "\"string\"",
                                          "[\"null\",\"string\"]", "[\"string\",\"boolean\"]"};
    static const char *const ts[] = {"\"long\"", "\"long\"", "\"long\"", "\"int\"",
                                     "[\"long\",\"null\"]", "[\"null\",\"int\",\"string\"]"};
    static const char *const attrs[] = {
        "{\"type\":\"map\",\"values\":\"string\"}", "{\"type\":\"map\",\"values\":\"string\"}",
        "{\"type\":\"map\",\"values\":[\"null\",\"string\"]}",
        "[\"null\",{\"type\":\"map\",\"values\":\"string\"}]", NULL};
    switch (f) {
    case JD_PF_USER_ID:
    case JD_PF_FEATURE: return opt_str[rn(6)];
    case JD_PF_OCCURRED_AT: return ts[rn(6)];
    case JD_PF_VALUE: return num[rn(12)];
    case JD_PF_ATTRIBUTES: return attrs[rn(5)];
    default: return req_str[rn(6)];
    }
}

static void gen_schema(sb_t *b)
{
    int order[JD_PF__COUNT], nf = 0;
    for (int i = 0; i < JD_PF__COUNT; i++)
        order[i] = i;
    for (int i = JD_PF__COUNT - 1; i > 0; i--) {
        int j = (int)rn((unsigned)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    b->n = 0;
    b->names = 0;
    sb_put(b, "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":[");
    for (int i = 0; i < JD_PF__COUNT; i++) {
        while (rn(3) == 0) { /* extra writer-only fields */
            sb_put(b, "%s{\"name\":\"x%d\",\"type\":", nf ? "," : "", nf);
            nf++;
            gen_type(b, 1);
            sb_put(b, "}");
        }
        const char *shape = gen_reader_shape(order[i]);
        if (shape)
            sb_put(b, "%s{\"name\":\"%s\",\"type\":%s}", nf++ ? "," : "",
                   jd__codec_pf_spec[order[i]].fs_name, shape);
    }
    sb_put(b, "]}");
}

static size_t tot_schemas, tot_ok, tot_bad;
/* why diff_schema refused its last schema */
static char refused_why[sizeof ((jd_err_t *)0)->err_msg];

/* Registers `json` as id 7 and compares `msgs` random messages of it.
 * Returns 1 when compared, 0 when registration refused the schema (the
 * reason in refused_why): registration is shared by both paths, so then
 * neither decodes anything and there is nothing to compare. */
static int diff_schema(const char *json, int msgs, int must_be_fast)
{
    jd_limits_t lim;
    jd_err_t err;
    diff_t d = {0};

    jd_limits_default(&lim);
    lim.lim_max_string_bytes = 32;
    lim.lim_max_attributes = 8;
    cr_assert_not_null(d.df_dec = jd_decoder_new(JD_WIRE_CONFLUENT, &lim, &err), "%s",
                       err.err_msg);
    jd_arena_init(&d.df_ar, 4096);
    if (jd_decoder_add_schema(d.df_dec, 7, json, &err) != 0) {
        /* avro-c refuses the resolution (or the schema): nothing to compare. */
        snprintf(refused_why, sizeof refused_why, "%s", err.err_msg);
        jd_decoder_destroy(d.df_dec);
        return 0;
    }
    if (must_be_fast)
        cr_assert(jd_decoder_fast(d.df_dec, 7), "no fast path for %s", json);
    diff_messages(&d, json, msgs);
    tot_schemas++;
    tot_ok += d.df_ok;
    tot_bad += d.df_bad;
    jd_arena_destroy(&d.df_ar);
    jd_decoder_destroy(d.df_dec);
    return 1;
}

/* ---- (a) the schemas of the codec tests --------------------------------- */

#define PE_HEAD "{\"type\":\"record\",\"name\":\"ProductEvent\",\"namespace\":\"journeyd\",\"fields\":["
static const char *const known_schemas[] = {
    /* test_codec: evolution_added_reordered_promoted_float */
    NULL, /* schema_v2, filled in below */
    /* evolution_missing_optional_fields_and_int_promotion */
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":[\"null\",\"int\"]}]}",
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":[\"null\",\"long\"]}]}",
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":\"double\"}]}",
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":\"int\"}]}",
    /* evolution_plain_string_into_union */
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":\"int\"}]}",
    /* resolved_map_does_not_grow_without_bound: a writer-only "null" field */
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"]},{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"feature\",\"type\":[\"null\",\"string\"]},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"extra\",\"type\":\"null\"}]}",
    /* test_codec_hostile: deep_nesting_in_writer_only_field (a recursive
     * Node chain; fill() ends it with the null branch past depth 4) */
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"chain\",\"type\":{\"type\":\"record\",\"name\":\"Node\","
    "\"fields\":[{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}}]}",
    /* unions around required and optional fields, with branches avro-c
     * resolves and branches it cannot (taking one fails the message) */
    PE_HEAD "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"account_id\",\"type\":\"string\"},{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":[\"long\",\"null\"]},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\",\"long\"]},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\"]}}]}",
    PE_HEAD "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"value\",\"type\":[\"null\",\"string\",\"float\"]},"
    "{\"name\":\"attributes\",\"type\":[\"null\",{\"type\":\"map\",\"values\":\"string\"}]}]}",
    /* a writer-only field that nests the record itself: its values must
     * not land in the top-level fields */
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"parent\",\"type\":[\"null\",\"ProductEvent\"]}]}",
    /* test_codec_hostile: array_of_nulls_with_huge_count */
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"nothing\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}",
};

/* tests/integration/test_registry.sh's v3 (v2 without `feature`) and v4
 * (v2 plus a string `extra` with a default), made from the v2 fixture the
 * same way the script makes them. Returns malloc'd JSON text. */
static char *registry_variant(int v)
{
    json_error_t jerr;
    json_t *doc = json_loads(read_text("tests/fixtures/codec/product_event_v2.avsc"), 0, &jerr);
    json_t *fields = json_object_get(doc, "fields");
    cr_assert(json_is_array(fields), "product_event_v2.avsc: %s", jerr.text);
    if (v == 3) {
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) {
            if (strcmp(json_string_value(json_object_get(f, "name")), "feature") == 0)
                break;
        }
        cr_assert_eq(json_array_remove(fields, i), 0, "no feature field in v2");
    } else {
        json_array_append_new(fields, json_pack("{s:s,s:s,s:s}", "name", "extra",
                                                "type", "string", "default", ""));
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    cr_assert_not_null(text);
    return text;
}

Test(prog, known_schemas_agree)
{
    const size_t n = sizeof known_schemas / sizeof known_schemas[0];
    char *v3 = registry_variant(3), *v4 = registry_variant(4);

    /* every one of them is accepted by the tests that use it: a refusal
     * here is a regression, not a schema to skip */
    cr_assert(diff_schema(jd_codec_product_schema_json(), 400, 1), "%s", refused_why);
    cr_assert(diff_schema(read_text("tests/fixtures/codec/product_event_v2.avsc"), 400, 1),
              "v2 fixture: %s", refused_why);
    for (size_t i = 0; i < n; i++)
        cr_assert(diff_schema(known_schemas[i] ? known_schemas[i] : schema_v2, 400, 1),
                  "known_schemas[%zu]: %s", i, refused_why);
    cr_assert(diff_schema(v3, 400, 1), "test_registry.sh v3: %s", refused_why);
    cr_assert(diff_schema(v4, 400, 1), "test_registry.sh v4: %s", refused_why);
    fprintf(stderr, "known schemas: %zu compared, %zu accepted, %zu rejected alike\n",
            tot_schemas, tot_ok, tot_bad);
    cr_assert_eq(tot_schemas, 4 + n);
    cr_assert_gt(tot_ok, 500);
    free(v3);
    free(v4);
}

/* ---- (b) random writer schemas ------------------------------------------ */

Test(prog, random_schemas_agree, .timeout = 120)
{
    static sb_t b;
    rnd_state = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 300; i++) {
        gen_schema(&b);
        diff_schema(b.s, 60, 1);
    }
    fprintf(stderr, "random schemas: %zu of 300 resolved, %zu accepted, %zu rejected alike\n",
            tot_schemas, tot_ok, tot_bad);
    cr_assert_gt(tot_schemas, 150);
    cr_assert_gt(tot_ok, 1000);
}

/* ---- the work limit: a block of nulls that claims a huge count --------- */

Test(prog, zero_byte_items_hit_the_work_limit)
{
    const char *json = PE_HEAD
        "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
        "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"junk\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}";
    jd_err_t err;
    jd_event_t ev;
    jd_arena_t ar;
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);
    unsigned char m[4096];
    size_t n = 0;

    cr_assert_not_null(dec);
    cr_assert_eq(jd_decoder_add_schema(dec, 3, json, &err), 0, "%s", err.err_msg);
    jd_arena_init(&ar, 4096);
    jd__codec_frame_put(m, 3);
    n = 5;
    const unsigned char head[] = {2, 'e', 2, 'a', 2, 't', 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    memcpy(m + n, head, sizeof head);
    n += sizeof head;
    /* ~1000 blocks of 2000 nulls each (a count may not exceed the bytes
     * left): 2 million steps in 4 KiB, where the limit is ~37000. */
    while (n + 3 < sizeof m) {
        m[n++] = 0xa0; m[n++] = 0x1f; /* block count 2000 */
    }
    m[n++] = 0;
    for (int generic = 0; generic < 2; generic++) {
        jd__decoder_set_generic(dec, generic);
        cr_assert_eq(jd_decoder_decode(dec, m, n, &ar, &ev, &err), JD_ERR_SKIP);
        cr_assert_eq(err.err_code, JD_E_WORK_LIMIT, "%s", err.err_msg);
        cr_assert_str_eq(jd_err_code_name(err.err_code), "work_limit");
    }
    jd_arena_destroy(&ar);
    jd_decoder_destroy(dec);
}

/* Map keys as avro-c keeps them: repeated keys keep the first position and
 * the last value, a key ends at its first NUL, and an earlier bad value
 * replaced by a good one is accepted - on both paths. */
Test(prog, repeated_and_nul_keys_agree)
{
    jd_err_t err;
    jd_limits_t lim;
    diff_t d = {0};
    unsigned char m[256];
    jd_limits_default(&lim);
    cr_assert_not_null(d.df_dec = jd_decoder_new(JD_WIRE_CONFLUENT, &lim, &err));
    cr_assert_eq(jd_decoder_add_schema(d.df_dec, 7, jd_codec_product_schema_json(), &err), 0);
    jd_arena_init(&d.df_ar, 4096);
    static const unsigned char body[] = {
        2, 'e', 2, 'a', 0, 2, 't', 0, 0x80, 0xc0, 0xa8, 0xa9, 0xd6, 0x66 /* 2026 */, 0,
        8,                      /* 4 entries */
        2, 'k', 2, 0xff,        /* k -> invalid UTF-8 ... */
        6, 'k', 0, 'x', 2, 'v', /* "k\0x" is k: replaces it */
        2, 'j', 2, 'w',
        2, 'j', 2, 'z',         /* j -> z, in j's place */
        0};
    jd__codec_frame_put(m, 7);
    memcpy(m + 5, body, sizeof body);
    diff_one(&d, m, 5 + sizeof body, "repeated keys");
    cr_assert_eq(d.df_ok, 1, "accepted by both");
    jd_arena_destroy(&d.df_ar);
    jd_decoder_destroy(d.df_dec);
}
