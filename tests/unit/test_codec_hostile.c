/*
 * Hostile-input tests of the codec: lying lengths and counts, truncation
 * at every byte, trailing garbage, random mutations, deep nesting. The
 * contract under test: every bad message is JD_ERR_SKIP, nothing crashes,
 * nothing leaks (run under ASan/LSan), and the decoder keeps working.
 *
 * Also pins two avro-c 1.11.1 behaviours the codec works around: huge
 * claimed lengths become huge allocations (the allocation guard refuses
 * them), and a short read leaks the buffer allocated for the claim (the
 * pre-scan keeps such messages away from avro-c).
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "avro_wb.h"
#include "jd_codec.h"
#include "jd_codec_int.h"

static jd_decoder_t *dec;
static jd_encoder_t *enc;
static jd_arena_t ar;
static jd_err_t err;
static jd_buf_t out;

static void setup(void)
{
    dec = jd_decoder_new(JD_WIRE_AUTO, NULL, &err);
    enc = jd_encoder_new(&err);
    cr_assert(dec && enc, "%s", err.err_msg);
    cr_assert_eq(jd_decoder_add_schema(dec, 1, jd_codec_product_schema_json(), &err), 0);
    jd_arena_init(&ar, 0);
}

static void teardown(void)
{
    jd_decoder_destroy(dec);
    jd_encoder_destroy(enc);
    jd_arena_destroy(&ar);
    jd_buf_free(&out);
}

TestSuite(hostile, .init = setup, .fini = teardown);

static jd_attr_t sample_attrs[] = {
    {"segment", "enterprise"}, {"seats", "250"}, {"renewal_at", "2025-03-31"},
    {"plan", "scale"},         {"status", "active"},
};

static const jd_event_t sample = {
    .ev_id = "evt-0001", .ev_account = "acct-42", .ev_user = "user-7",
    .ev_type_name = "case_opened", .ev_feature = "tickets",
    .ev_occurred_at = INT64_C(1717171717171), .ev_value = 2.5, .ev_has_value = 1,
    .ev_attr_cnt = 5, .ev_attrs = sample_attrs,
};

static int decode(const void *p, size_t n, jd_event_t *ev)
{
    jd_err_clear(&err);
    return jd_decoder_decode(dec, p, n, &ar, ev, &err);
}

static void assert_sample(const jd_event_t *ev)
{
    cr_assert_str_eq(ev->ev_id, "evt-0001");
    cr_assert_str_eq(ev->ev_account, "acct-42");
    cr_assert_str_eq(ev->ev_user, "user-7");
    cr_assert_eq(ev->ev_type, JD_EV_CASE_OPENED);
    cr_assert_str_eq(ev->ev_feature, "tickets");
    cr_assert_eq(ev->ev_occurred_at, INT64_C(1717171717171));
    cr_assert_eq(ev->ev_value, 2.5);
    cr_assert_eq(ev->ev_attr_cnt, 5);
    cr_assert_str_eq(jd_event_attr(ev, "status"), "active");
}

/* The sample, plain (id < 0) or framed, into `w`. */
static void sample_bytes(wb_t *w, int32_t id)
{
    cr_assert_eq(jd_encoder_event(enc, &sample, id, &out, &err), 0, "%s", err.err_msg);
    w->n = 0;
    wb_raw(w, out.b_data, out.b_len);
}

static void good_still_decodes(void)
{
    wb_t w;
    jd_event_t ev;
    sample_bytes(&w, 1);
    cr_assert_eq(decode(w.b, w.n, &ev), 0, "%s", err.err_msg);
    assert_sample(&ev);
}

static void expect(const wb_t *w, jd_err_code_t code, const char *needle)
{
    jd_event_t ev;
    int rc = decode(w->b, w->n, &ev);
    cr_assert_eq(rc, JD_ERR_SKIP, "rc %d", rc);
    cr_assert_eq(err.err_code, code, "want %s got %s: %s", jd_err_code_name(code),
                 jd_err_code_name(err.err_code), err.err_msg);
    if (needle)
        cr_assert(strstr(err.err_msg, needle), "'%s' not in '%s'", needle, err.err_msg);
    good_still_decodes();
}

/* A plain event whose event_id has the claimed length `len`, followed by a
 * few real bytes. */
static void event_id_claim(wb_t *w, int64_t len)
{
    w->n = 0;
    wb_long(w, len);
    wb_raw(w, "evt-0001acct", 12);
}

Test(hostile, huge_string_lengths)
{
    const int64_t claims[] = {INT64_C(1) << 32, INT64_MAX, INT64_C(32) << 20,
                              INT64_C(1) << 20, 13};
    for (size_t i = 0; i < sizeof claims / sizeof *claims; i++) {
        wb_t w;
        event_id_claim(&w, claims[i]);
        expect(&w, JD_E_MALFORMED, "string length is negative or exceeds input");
    }
}

Test(hostile, negative_string_lengths)
{
    const int64_t claims[] = {-1, -2, -1000, INT64_MIN};
    for (size_t i = 0; i < sizeof claims / sizeof *claims; i++) {
        wb_t w;
        event_id_claim(&w, claims[i]);
        expect(&w, JD_E_MALFORMED, "string length");
    }
}

/* A framed sample up to (not including) the attributes map. */
static void head_until_attrs(wb_t *w)
{
    w->n = 0;
    wb_frame(w, 1);
    wb_str(w, "e"); wb_str(w, "a"); wb_long(w, 0); wb_str(w, "login");
    wb_long(w, 0); wb_long(w, INT64_C(1700000000000)); wb_long(w, 0);
}

Test(hostile, lying_lengths_inside_attributes)
{
    wb_t w;
    head_until_attrs(&w); /* key claims 2^40 */
    wb_long(&w, 1); wb_long(&w, INT64_C(1) << 40); wb_raw(&w, "k", 1);
    expect(&w, JD_E_MALFORMED, "string length");
    head_until_attrs(&w); /* value claims -5 */
    wb_long(&w, 1); wb_str(&w, "k"); wb_long(&w, -5); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "string length");
}

Test(hostile, huge_and_negative_block_counts)
{
    wb_t w;
    head_until_attrs(&w); /* 2^62 entries, one present */
    wb_long(&w, INT64_C(1) << 62); wb_str(&w, "k"); wb_str(&w, "v"); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "block count exceeds remaining input");
    head_until_attrs(&w); /* negative count, absurd byte size */
    wb_long(&w, -(INT64_C(1) << 40)); wb_long(&w, INT64_C(1) << 60);
    wb_str(&w, "k"); wb_str(&w, "v"); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "block byte size exceeds input");
    head_until_attrs(&w); /* INT64_MIN: -count overflows */
    wb_long(&w, INT64_MIN); wb_long(&w, 4); wb_str(&w, "k"); wb_str(&w, "v"); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "block count out of range");
    head_until_attrs(&w); /* negative count, byte size that lies */
    wb_long(&w, -1); wb_long(&w, 3); wb_str(&w, "k"); wb_str(&w, "v"); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "block byte size does not match");
    head_until_attrs(&w); /* negative count, honest byte size: valid Avro */
    wb_long(&w, -1); wb_long(&w, 4); wb_str(&w, "k"); wb_str(&w, "v"); wb_long(&w, 0);
    jd_event_t ev;
    cr_assert_eq(decode(w.b, w.n, &ev), 0, "%s", err.err_msg);
    cr_assert_str_eq(jd_event_attr(&ev, "k"), "v");
}

Test(hostile, many_attributes_within_size)
{
    wb_t w;
    head_until_attrs(&w);
    wb_long(&w, 500);
    for (int i = 0; i < 500; i++) {
        char k[8];
        snprintf(k, sizeof k, "%d", i);
        wb_str(&w, k); wb_str(&w, "");
    }
    wb_long(&w, 0);
    expect(&w, JD_E_TOO_MANY_ATTRS, "500 entries");
}

Test(hostile, bad_varints_unions_enums)
{
    wb_t w = {.n = 0};
    for (int i = 0; i < 11; i++)
        wb_raw(&w, "\xff", 1);
    expect(&w, JD_E_MALFORMED, "varint longer than 10 bytes");
    w.n = 0;
    wb_raw(&w, "\x02" "e\x02" "a\x04", 5); /* user_id branch 2 of 2 */
    expect(&w, JD_E_MALFORMED, "union branch out of range (2)");
    w.n = 0;
    wb_raw(&w, "\x02" "e\x02" "a\x01", 5); /* branch -1 */
    expect(&w, JD_E_MALFORMED, "union branch out of range (-1)");
}

Test(hostile, int_out_of_range_in_writer)
{
    const char *s = "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
                    "{\"name\":\"event_id\",\"type\":\"string\"},"
                    "{\"name\":\"account_id\",\"type\":\"string\"},"
                    "{\"name\":\"type\",\"type\":\"string\"},"
                    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
                    "{\"name\":\"value\",\"type\":\"int\"}]}";
    cr_assert_eq(jd_decoder_add_schema(dec, 30, s, &err), 0, "%s", err.err_msg);
    wb_t w = {.n = 0};
    wb_frame(&w, 30);
    wb_str(&w, "e"); wb_str(&w, "a"); wb_str(&w, "t"); wb_long(&w, INT64_C(1700000000000));
    wb_long(&w, INT64_C(1) << 31);
    expect(&w, JD_E_MALFORMED, "int out of range");
}

/* A writer-only field of a recursive type: input decides the depth. */
Test(hostile, deep_nesting_in_writer_only_field)
{
    const char *s = "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
                    "{\"name\":\"event_id\",\"type\":\"string\"},"
                    "{\"name\":\"account_id\",\"type\":\"string\"},"
                    "{\"name\":\"type\",\"type\":\"string\"},"
                    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
                    "{\"name\":\"chain\",\"type\":{\"type\":\"record\",\"name\":\"Node\","
                    "\"fields\":[{\"name\":\"next\",\"type\":[\"null\",\"Node\"]}]}}]}";
    cr_assert_eq(jd_decoder_add_schema(dec, 31, s, &err), 0, "%s", err.err_msg);
    for (int depth = 3; depth <= 200; depth += 197) {
        wb_t w = {.n = 0};
        wb_frame(&w, 31);
        wb_str(&w, "e"); wb_str(&w, "a"); wb_str(&w, "t"); wb_long(&w, INT64_C(1700000000000));
        for (int i = 0; i < depth; i++)
            wb_long(&w, 1);
        wb_long(&w, 0);
        jd_event_t ev;
        int rc = decode(w.b, w.n, &ev);
        if (depth == 3) {
            cr_assert_eq(rc, 0, "%s", err.err_msg);
            cr_assert_str_eq(ev.ev_type_name, "t");
        } else {
            cr_assert_eq(rc, JD_ERR_SKIP);
            cr_assert_eq(err.err_code, JD_E_MALFORMED);
            cr_assert(strstr(err.err_msg, "nesting too deep"), "%s", err.err_msg);
        }
    }
}

/* Zero-byte items cannot bound a loop by input size: counts above the
 * bytes left are refused (otherwise avro-c would loop 2^60 times). No
 * Criterion .timeout here or anywhere: in Criterion 2.4.1 it leaks 48
 * bytes in the runner, which fails the whole executable under LSan;
 * ctest's own timeout covers a hang. */
Test(hostile, array_of_nulls_with_huge_count)
{
    const char *s = "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
                    "{\"name\":\"event_id\",\"type\":\"string\"},"
                    "{\"name\":\"account_id\",\"type\":\"string\"},"
                    "{\"name\":\"type\",\"type\":\"string\"},"
                    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
                    "{\"name\":\"nothing\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}";
    cr_assert_eq(jd_decoder_add_schema(dec, 32, s, &err), 0, "%s", err.err_msg);
    wb_t w = {.n = 0};
    wb_frame(&w, 32);
    wb_str(&w, "e"); wb_str(&w, "a"); wb_str(&w, "t"); wb_long(&w, INT64_C(1700000000000));
    wb_long(&w, INT64_C(1) << 60); wb_long(&w, 0);
    expect(&w, JD_E_MALFORMED, "block count exceeds remaining input");
}

/* Every strict prefix of a valid message is an error; the whole decodes. */
static void truncate_everywhere(const wb_t *full)
{
    jd_event_t ev;
    for (size_t n = 0; n < full->n; n++) {
        int rc = decode(full->b, n, &ev);
        cr_assert_eq(rc, JD_ERR_SKIP, "prefix %zu of %zu decoded", n, full->n);
        jd_err_code_t want = n == 0 ? JD_E_EMPTY
                           : full->b[0] == 0 && n < 5 ? JD_E_BAD_MAGIC
                           : JD_E_MALFORMED;
        cr_assert_eq(err.err_code, want, "prefix %zu: %s", n, err.err_msg);
        cr_assert_null(ev.ev_id);
    }
    cr_assert_eq(decode(full->b, full->n, &ev), 0, "%s", err.err_msg);
    assert_sample(&ev);
}

static const char *const schema_v2 =
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"value\",\"type\":[\"null\",\"float\"]},"
    "{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"extra\",\"type\":[\"null\",\"string\",\"bytes\"]},"
    "{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"feature\",\"type\":[\"null\",\"string\"]}]}";

static void sample_v2(wb_t *w)
{
    w->n = 0;
    wb_frame(w, 2);
    wb_t items = {.n = 0}; /* one block: -count, byte size, entries */
    for (size_t i = 0; i < 5; i++) {
        wb_str(&items, sample_attrs[i].at_key);
        wb_str(&items, sample_attrs[i].at_val);
    }
    wb_long(w, -5);
    wb_long(w, (int64_t)items.n);
    wb_raw(w, items.b, items.n);
    wb_long(w, 0);
    float f = 2.5f;
    wb_long(w, 1); wb_raw(w, &f, 4);
    wb_long(w, INT64_C(1717171717171));
    wb_str(w, "evt-0001");
    wb_long(w, 2); wb_str(w, "opaque");
    wb_str(w, "acct-42");
    wb_long(w, 1); wb_str(w, "user-7");
    wb_str(w, "case_opened");
    wb_long(w, 1); wb_str(w, "tickets");
}

Test(hostile, truncation_at_every_byte)
{
    wb_t w;
    sample_bytes(&w, -1);
    truncate_everywhere(&w);
    sample_bytes(&w, 1);
    truncate_everywhere(&w);
    cr_assert_eq(jd_decoder_add_schema(dec, 2, schema_v2, &err), 0, "%s", err.err_msg);
    sample_v2(&w);
    truncate_everywhere(&w);
}

Test(hostile, trailing_bytes_of_every_length)
{
    wb_t w, x;
    sample_bytes(&w, 1);
    for (size_t extra = 1; extra <= 16; extra++) {
        x = w;
        for (size_t i = 0; i < extra; i++)
            wb_raw(&x, i % 2 ? "\x00" : "\x7f", 1);
        expect(&x, JD_E_TRAILING_BYTES, "follow the");
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void check_decoded(const jd_event_t *ev)
{
    cr_assert(ev->ev_id && *ev->ev_id && strlen(ev->ev_id) <= 1024);
    cr_assert(ev->ev_account && *ev->ev_account && strlen(ev->ev_account) <= 1024);
    cr_assert(ev->ev_type_name && *ev->ev_type_name);
    cr_assert_leq(ev->ev_attr_cnt, 64);
    cr_assert_geq(ev->ev_occurred_at, INT64_C(946684800000));
    for (size_t i = 0; i < ev->ev_attr_cnt; i++)
        cr_assert(ev->ev_attrs[i].at_key && ev->ev_attrs[i].at_val);
}

/* Deterministic mutation fuzzing: flip, replace, insert, delete and cut
 * bytes of valid messages (plain, framed, evolved writer). */
Test(hostile, mutation_fuzz)
{
    wb_t base[3], w;
    int ok = 0, skipped = 0;
    cr_assert_eq(jd_decoder_add_schema(dec, 2, schema_v2, &err), 0, "%s", err.err_msg);
    sample_bytes(&base[0], -1);
    sample_bytes(&base[1], 1);
    sample_v2(&base[2]);
    for (int iter = 0; iter < 30000; iter++) {
        w = base[iter % 3];
        int edits = 1 + (int)(next_rand() % 4);
        for (int e = 0; e < edits && w.n > 1; e++) {
            size_t at = next_rand() % w.n;
            switch (next_rand() % 5) {
            case 0: w.b[at] ^= (unsigned char)(1u << (next_rand() % 8)); break;
            case 1: w.b[at] = (unsigned char)next_rand(); break;
            case 2: w.n = at + 1; break;
            case 3: memmove(w.b + at, w.b + at + 1, w.n - at - 1); w.n--; break;
            case 4: memmove(w.b + at + 1, w.b + at, w.n - at); w.b[at] = (unsigned char)next_rand(); w.n++; break;
            }
        }
        jd_event_t ev;
        int rc = decode(w.b, w.n, &ev);
        cr_assert(rc == 0 || rc == JD_ERR_SKIP, "iter %d: rc %d (%s)", iter, rc, err.err_msg);
        if (rc == 0) {
            check_decoded(&ev);
            ok++;
        } else {
            cr_assert_neq(err.err_code, JD_E_NONE);
            skipped++;
        }
        if (iter % 500 == 0) {
            jd_arena_reset(&ar);
            good_still_decodes();
        }
    }
    cr_assert_gt(skipped, 20000);
    cr_assert_gt(ok, 0); /* some mutations (e.g. inside strings) stay valid */
}

/* The allocation guard itself, below the scan: avro-c asked to read a
 * string claiming 2^62 bytes must fail with ENOMEM instead of reaching
 * malloc (where ASan would abort: allocation-size-too-big). */
Test(hostile, allocation_guard_refuses_huge_claims)
{
    avro_schema_t s;
    avro_value_iface_t *cls;
    avro_value_t v;
    cr_assert_eq(avro_schema_from_json_length("\"string\"", 8, &s), 0);
    cls = avro_generic_class_from_schema(s);
    cr_assert_eq(avro_generic_value_new(cls, &v), 0);
    const unsigned char claims[][11] = {
        {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, /* INT64_MAX */
        {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40},       /* 2^62 */
        {0x03},                                                       /* -2 */
    };
    for (size_t i = 0; i < 3; i++) {
        uint64_t before = jd__codec_alloc_refused();
        avro_reader_t in = avro_reader_memory((const char *)claims[i], sizeof claims[i]);
        cr_assert_neq(avro_value_read(in, &v), 0);
        cr_assert_eq(jd__codec_alloc_refused(), before + 1, "claim %zu", i);
        avro_reader_free(in);
    }
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(s);
}

/* Regression for avro-c 1.11.1's leak on short reads: 64 messages each
 * claiming a 32 MiB string must not leave 64 mappings behind. (mallinfo2
 * is meaningful without ASan; under ASan, LeakSanitizer checks the same.) */
Test(hostile, no_leak_on_short_reads)
{
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 64; i++) {
        wb_t w;
        event_id_claim(&w, INT64_C(32) << 20);
        jd_event_t ev;
        cr_assert_eq(decode(w.b, w.n, &ev), JD_ERR_SKIP);
    }
    struct mallinfo2 after = mallinfo2();
    cr_assert_lt(after.hblkhd, before.hblkhd + ((size_t)8 << 20),
                 "mmapped grew from %zu to %zu", before.hblkhd, after.hblkhd);
}

static int trig_decode(const void *p, size_t n)
{
    jd_trigger_t tr;
    jd_err_clear(&err);
    return jd_encoder_trigger_decode(enc, p, n, &tr, &err);
}

Test(hostile, trigger_decode_truncation_and_fuzz)
{
    jd_trigger_t tr = {.tr_kind = JD_KIND_EXPANSION, .tr_severity = JD_SEV_HIGH,
                       .tr_has_segment = 1, .tr_fired_at = 1, .tr_evidence_cnt = 2};
    strcpy(tr.tr_id, "0123456789abcdef0123456789abcdef");
    strcpy(tr.tr_account, "acct");
    strcpy(tr.tr_segment, "smb");
    strcpy(tr.tr_evidence[0].evd_name, "seats_used_ratio");
    strcpy(tr.tr_evidence[1].evd_name, "logins_7d");
    cr_assert_eq(jd_encoder_trigger(enc, &tr, 3, &out, &err), 0, "%s", err.err_msg);
    wb_t w = {.n = 0};
    wb_raw(&w, out.b_data, out.b_len);
    for (size_t n = 0; n < w.n; n++)
        cr_assert_eq(trig_decode(w.b, n), JD_ERR_SKIP, "prefix %zu", n);
    cr_assert_eq(trig_decode(w.b, w.n), 0, "%s", err.err_msg);
    for (int iter = 0; iter < 5000; iter++) {
        wb_t m = w;
        m.b[5 + next_rand() % (m.n - 5)] = (unsigned char)next_rand();
        int rc = trig_decode(m.b, m.n);
        cr_assert(rc == 0 || rc == JD_ERR_SKIP);
    }
    /* kind index 3 of 3 symbols */
    size_t kind_at = 5 + 1 + 32 + 1 + 4;
    cr_assert_eq(w.b[kind_at], 4); /* EXPANSION = 2, zig-zag 4 */
    w.b[kind_at] = 6;
    cr_assert_eq(trig_decode(w.b, w.n), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_MALFORMED);
    cr_assert(strstr(err.err_msg, "enum index out of range (3)"), "%s", err.err_msg);
}
