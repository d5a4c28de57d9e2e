/*
 * Unit tests for the product-event codec (jd_codec.h): encode -> decode
 * round trips in both wire formats, one crafted message per error code,
 * decoder state after errors, and writer-schema evolution through avro-c's
 * resolver (fields added, removed, reordered, promoted).
 *
 * Messages are built either with jd_encoder_event() or byte by byte with
 * the small Avro writer of avro_wb.h (wb_*), which lets a test write what the
 * encoder would refuse or what a different writer schema would produce.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_wb.h"
#include "jd_codec.h"

#ifndef JD_SOURCE_DIR
#define JD_SOURCE_DIR "."
#endif

/* ---- fixtures -------------------------------------------------------------- */

static jd_decoder_t *dec;
static jd_encoder_t *enc;
static jd_arena_t ar;
static jd_err_t err;
static jd_buf_t out;

static void setup(void)
{
    dec = jd_decoder_new(JD_WIRE_AUTO, NULL, &err);
    cr_assert_not_null(dec, "%s", err.err_msg);
    enc = jd_encoder_new(&err);
    cr_assert_not_null(enc, "%s", err.err_msg);
    jd_arena_init(&ar, 0);
    jd_err_clear(&err);
}

static void teardown(void)
{
    jd_decoder_destroy(dec);
    jd_encoder_destroy(enc);
    jd_arena_destroy(&ar);
    jd_buf_free(&out);
}

TestSuite(codec, .init = setup, .fini = teardown);

static jd_attr_t sample_attrs[] = {
    {"segment", "enterprise"}, {"seats", "250"}, {"renewal_at", "2025-03-31"},
    {"plan", "scale"},         {"status", "active"},
};

static jd_event_t sample_event(void)
{
    jd_event_t ev = {
        .ev_id = "evt-0001",
        .ev_account = "acct-42",
        .ev_user = "user-7",
        .ev_type_name = "account_updated",
        .ev_feature = "dashboards",
        .ev_occurred_at = INT64_C(1717171717171),
        .ev_value = 9.5,
        .ev_has_value = 1,
        .ev_attr_cnt = 5,
        .ev_attrs = sample_attrs,
    };
    return ev;
}

static void assert_ostr_eq(const char *got, const char *want, const char *what)
{
    if (!want)
        cr_assert_null(got, "%s: expected NULL, got '%s'", what, got);
    else {
        cr_assert_not_null(got, "%s: expected '%s', got NULL", what, want);
        cr_assert_str_eq(got, want, "%s", what);
    }
}

static void assert_event_eq(const jd_event_t *got, const jd_event_t *want)
{
    cr_assert_str_eq(got->ev_id, want->ev_id);
    cr_assert_str_eq(got->ev_account, want->ev_account);
    assert_ostr_eq(got->ev_user, want->ev_user, "user_id");
    cr_assert_str_eq(got->ev_type_name, want->ev_type_name);
    cr_assert_eq(got->ev_type, jd_event_type_parse(want->ev_type_name));
    assert_ostr_eq(got->ev_feature, want->ev_feature, "feature");
    cr_assert_eq(got->ev_occurred_at, want->ev_occurred_at);
    cr_assert_eq(got->ev_has_value, want->ev_has_value);
    if (want->ev_has_value)
        cr_assert_eq(got->ev_value, want->ev_value);
    cr_assert_eq(got->ev_attr_cnt, want->ev_attr_cnt);
    for (size_t i = 0; i < want->ev_attr_cnt; i++) {
        cr_assert_str_eq(got->ev_attrs[i].at_key, want->ev_attrs[i].at_key);
        cr_assert_str_eq(got->ev_attrs[i].at_val, want->ev_attrs[i].at_val);
    }
}

static void encode(const jd_event_t *ev, int32_t id)
{
    cr_assert_eq(jd_encoder_event(enc, ev, id, &out, &err), 0, "%s", err.err_msg);
}

static int decode(const void *p, size_t n, jd_event_t *ev)
{
    jd_err_clear(&err);
    return jd_decoder_decode(dec, p, n, &ar, ev, &err);
}

static void decode_ok(const void *p, size_t n, jd_event_t *ev)
{
    cr_assert_eq(decode(p, n, ev), 0, "%s: %s", jd_err_code_name(err.err_code),
                 err.err_msg);
}

/* Asserts a skip with `code` and (when non-NULL) `needle` in the message;
 * also checks the event was left zeroed. */
static void decode_fails(const void *p, size_t n, jd_err_code_t code,
                         const char *needle)
{
    jd_event_t ev;
    int rc = decode(p, n, &ev);
    cr_assert_eq(rc, JD_ERR_SKIP, "rc %d (%s)", rc, err.err_msg);
    cr_assert_eq(err.err_class, JD_ERR_SKIP);
    cr_assert_eq(err.err_code, code, "want %s, got %s: %s",
                 jd_err_code_name(code), jd_err_code_name(err.err_code),
                 err.err_msg);
    if (needle)
        cr_assert(strstr(err.err_msg, needle), "'%s' not in '%s'", needle,
                  err.err_msg);
    cr_assert_null(ev.ev_id);
    cr_assert_eq(ev.ev_attr_cnt, 0);
}

static void add_schema(int32_t id, const char *json)
{
    cr_assert_eq(jd_decoder_add_schema(dec, id, json, &err), 0, "%s",
                 err.err_msg);
}

/* ---- round trips ----------------------------------------------------------- */

Test(codec, roundtrip_plain_all_fields)
{
    jd_event_t want = sample_event(), got;
    encode(&want, -1);
    cr_assert_gt(out.b_len, 0);
    cr_assert_neq(out.b_data[0], 0x00, "plain record starts with event_id length");
    decode_ok(out.b_data, out.b_len, &got);
    assert_event_eq(&got, &want);
    cr_assert_eq(got.ev_type, JD_EV_ACCOUNT_UPDATED);
    cr_assert_str_eq(jd_event_attr(&got, "renewal_at"), "2025-03-31");
    /* the event points into the arena, not into the input */
    cr_assert(got.ev_id < (const char *)out.b_data ||
              got.ev_id >= (const char *)out.b_data + out.b_len);
}

Test(codec, roundtrip_confluent)
{
    jd_event_t want = sample_event(), got;
    add_schema(0x01020304, jd_codec_product_schema_json());
    encode(&want, 0x01020304);
    static const unsigned char hdr[5] = {0x00, 0x01, 0x02, 0x03, 0x04};
    cr_assert_eq(memcmp(out.b_data, hdr, 5), 0);
    decode_ok(out.b_data, out.b_len, &got);
    assert_event_eq(&got, &want);
}

Test(codec, roundtrip_nulls_and_unknown_type)
{
    jd_event_t want = {.ev_id = "e", .ev_account = "a", .ev_type_name = "widget_spun",
                       .ev_occurred_at = INT64_C(946684800000)};
    jd_event_t got;
    encode(&want, -1);
    decode_ok(out.b_data, out.b_len, &got);
    assert_event_eq(&got, &want);
    cr_assert_eq(got.ev_type, JD_EV_UNKNOWN);
    cr_assert_null(got.ev_attrs);
}

Test(codec, roundtrip_unicode_and_edge_values)
{
    jd_attr_t at[] = {{"名前", "Zoë 👋"}, {"", "empty key"}, {"k", ""}};
    jd_event_t want = {
        .ev_id = "é-\xF4\x8F\xBF\xBF", .ev_account = "日本-acct",
        .ev_user = "", .ev_type_name = "nps_response", .ev_feature = "",
        .ev_occurred_at = INT64_C(4102444799999), .ev_value = -0.0,
        .ev_has_value = 1, .ev_attr_cnt = 3, .ev_attrs = at,
    };
    jd_event_t got;
    encode(&want, -1);
    decode_ok(out.b_data, out.b_len, &got);
    assert_event_eq(&got, &want);
    cr_assert_str_eq(got.ev_user, "", "empty is not null");
}

Test(codec, decode_many_with_arena_reset)
{
    jd_event_t want = sample_event(), got;
    encode(&want, -1);
    for (int i = 0; i < 2000; i++) {
        decode_ok(out.b_data, out.b_len, &got);
        if (i % 100 == 99) {
            assert_event_eq(&got, &want);
            jd_arena_reset(&ar);
        }
    }
    cr_assert_lt(ar.ar_used, 64 * 1024);
}

Test(codec, wire_modes)
{
    jd_event_t ev = sample_event(), got;
    jd_decoder_t *conf = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);
    jd_decoder_t *plain = jd_decoder_new(JD_WIRE_PLAIN, NULL, &err);
    cr_assert(conf && plain);
    cr_assert_eq(jd_decoder_add_schema(conf, 5, jd_codec_product_schema_json(), &err), 0);

    encode(&ev, -1); /* plain bytes */
    cr_assert_eq(jd_decoder_decode(plain, out.b_data, out.b_len, &ar, &got, &err), 0);
    cr_assert_eq(jd_decoder_decode(conf, out.b_data, out.b_len, &ar, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_BAD_MAGIC);
    cr_assert(strstr(err.err_msg, "0x10"), "%s", err.err_msg); /* len 8 zigzag */

    encode(&ev, 5); /* framed bytes */
    cr_assert_eq(jd_decoder_decode(conf, out.b_data, out.b_len, &ar, &got, &err), 0);
    /* 00 00 00 00 05 read as event_id "", account_id "", ... : garbage */
    cr_assert_eq(jd_decoder_decode(plain, out.b_data, out.b_len, &ar, &got, &err), JD_ERR_SKIP);
    cr_assert_neq(err.err_code, JD_E_NONE);
    jd_decoder_destroy(conf);
    jd_decoder_destroy(plain);
}

Test(codec, new_rejects_bad_wire_and_destroy_accepts_null)
{
    cr_assert_null(jd_decoder_new((jd_wire_t)9, NULL, &err));
    cr_assert_eq(err.err_class, JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
    jd_decoder_destroy(NULL);
    jd_encoder_destroy(NULL);
    jd_buf_free(NULL);
}

Test(codec, embedded_schemas_match_files)
{
    const char *dir = getenv("JD_SOURCE_DIR") ? getenv("JD_SOURCE_DIR") : JD_SOURCE_DIR;
    const char *names[2] = {"product_event.avsc", "trigger_event.avsc"};
    const char *emb[2] = {jd_codec_product_schema_json(), jd_codec_trigger_schema_json()};
    for (int i = 0; i < 2; i++) {
        char path[4096], text[65536];
        snprintf(path, sizeof path, "%s/schemas/%s", dir, names[i]);
        FILE *fp = fopen(path, "rb");
        cr_assert_not_null(fp, "%s", path);
        size_t n = fread(text, 1, sizeof text - 1, fp);
        fclose(fp);
        text[n] = '\0';
        cr_assert_str_eq(emb[i], text, "%s", names[i]);
    }
    cr_assert(strstr(emb[0], "\"ProductEvent\""));
    cr_assert(strstr(emb[1], "\"TriggerEvent\""));
}

/* ---- one crafted message per error code ------------------------------------ */

Test(codec, err_empty)
{
    decode_fails("", 0, JD_E_EMPTY, NULL);
    decode_fails(NULL, 0, JD_E_EMPTY, NULL);
}

Test(codec, err_too_large)
{
    jd_event_t ev = sample_event(), got;
    jd_limits_t lim;
    encode(&ev, -1);
    jd_limits_default(&lim);
    lim.lim_max_message_bytes = out.b_len;
    jd_decoder_t *d = jd_decoder_new(JD_WIRE_AUTO, &lim, &err);
    cr_assert_eq(jd_decoder_decode(d, out.b_data, out.b_len, &ar, &got, &err), 0);
    jd_decoder_destroy(d);

    lim.lim_max_message_bytes = out.b_len - 1;
    d = jd_decoder_new(JD_WIRE_AUTO, &lim, &err);
    cr_assert_eq(jd_decoder_decode(d, out.b_data, out.b_len, &ar, &got, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_TOO_LARGE);
    jd_decoder_destroy(d);

    static unsigned char big[(1 << 20) + 1];
    big[0] = 0x02;
    decode_fails(big, sizeof big, JD_E_TOO_LARGE, "1048577");
}

Test(codec, err_bad_magic)
{
    static const unsigned char f1[] = {0x00}, f4[] = {0x00, 0, 0, 1};
    decode_fails(f1, 1, JD_E_BAD_MAGIC, "1 bytes");
    decode_fails(f4, 4, JD_E_BAD_MAGIC, "4 bytes");
    jd_decoder_t *conf = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);
    static const unsigned char m1[] = {0x01, 0, 0, 0, 1, 2, 3};
    jd_event_t ev;
    cr_assert_eq(jd_decoder_decode(conf, m1, sizeof m1, &ar, &ev, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_BAD_MAGIC);
    cr_assert(strstr(err.err_msg, "0x01"), "%s", err.err_msg);
    jd_decoder_destroy(conf);
}

Test(codec, err_unknown_schema)
{
    jd_event_t ev = sample_event();
    add_schema(1, jd_codec_product_schema_json());
    encode(&ev, 98765);
    decode_fails(out.b_data, out.b_len, JD_E_UNKNOWN_SCHEMA, "98765");
    encode(&ev, -1); /* negative ids cannot be framed: plain */
    wb_t w = {.n = 0};
    wb_frame(&w, -7);
    wb_raw(&w, out.b_data, out.b_len);
    decode_fails(w.b, w.n, JD_E_UNKNOWN_SCHEMA, "-7");
}

Test(codec, err_malformed)
{
    static const unsigned char cut[] = {0x06, 'a', 'b'};
    decode_fails(cut, sizeof cut, JD_E_MALFORMED, "string length is negative or exceeds input (3) at byte offset 1");
    /* union branch 5 of ["null","string"] */
    wb_t w = {.n = 0};
    wb_str(&w, "e"); wb_str(&w, "a"); wb_long(&w, 5); wb_str(&w, "u");
    decode_fails(w.b, w.n, JD_E_MALFORMED, NULL);
    /* framed: the message names the schema id */
    add_schema(44, jd_codec_product_schema_json());
    w.n = 0;
    wb_frame(&w, 44);
    wb_raw(&w, cut, sizeof cut);
    decode_fails(w.b, w.n, JD_E_MALFORMED, "schema id 44");
}

Test(codec, err_trailing_bytes)
{
    jd_event_t ev = sample_event();
    encode(&ev, -1);
    wb_t w = {.n = 0};
    wb_raw(&w, out.b_data, out.b_len);
    wb_raw(&w, "\x00", 1);
    decode_fails(w.b, w.n, JD_E_TRAILING_BYTES, NULL);
    add_schema(3, jd_codec_product_schema_json());
    encode(&ev, 3);
    w.n = 0;
    wb_raw(&w, out.b_data, out.b_len);
    wb_raw(&w, "junk", 4);
    decode_fails(w.b, w.n, JD_E_TRAILING_BYTES, "schema id 3");
}

/* A plain record with an empty event_id starts with 0x00, which JD_WIRE_AUTO
 * reads as Confluent framing (see jd_codec.h), so these go framed. */
Test(codec, err_missing_field)
{
    const char *fields[] = {"event_id", "account_id", "type"};
    add_schema(2, jd_codec_product_schema_json());
    for (int i = 0; i < 3; i++) {
        jd_event_t ev = sample_event();
        if (i == 0) ev.ev_id = "";
        if (i == 1) ev.ev_account = "";
        if (i == 2) ev.ev_type_name = "";
        encode(&ev, 2);
        char needle[64];
        snprintf(needle, sizeof needle, "'%s' is empty", fields[i]);
        decode_fails(out.b_data, out.b_len, JD_E_MISSING_FIELD, needle);
    }
    /* the encoder refuses NULL required strings */
    jd_event_t ev = sample_event();
    ev.ev_account = NULL;
    cr_assert_eq(jd_encoder_event(enc, &ev, -1, &out, &err), JD_ERR_SKIP);
    cr_assert_eq(err.err_code, JD_E_MISSING_FIELD);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(codec, err_oversize_field)
{
    char *s1024 = repeat('x', 1024), *s1025 = repeat('x', 1025);
    jd_event_t ev = sample_event(), got;

    ev.ev_id = s1024; /* exactly at the limit: fine */
    encode(&ev, -1);
    decode_ok(out.b_data, out.b_len, &got);
    cr_assert_eq(strlen(got.ev_id), 1024);

    ev.ev_id = s1025;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_OVERSIZE_FIELD, "event_id is 1025 bytes");

    ev = sample_event();
    ev.ev_user = s1025;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_OVERSIZE_FIELD, "user_id");

    jd_attr_t k[] = {{"a", "b"}, {s1025, "v"}};
    ev = sample_event();
    ev.ev_attrs = k;
    ev.ev_attr_cnt = 2;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_OVERSIZE_FIELD, "attributes key");

    jd_attr_t v[] = {{"note", s1025}};
    ev.ev_attrs = v;
    ev.ev_attr_cnt = 1;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_OVERSIZE_FIELD, "attributes['note'] is 1025");
    free(s1024);
    free(s1025);
}

static void fill_attrs(jd_attr_t *at, char (*keys)[8], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(keys[i], 8, "k%u", (unsigned)(i % 1000));
        at[i].at_key = keys[i];
        at[i].at_val = "v";
    }
}

Test(codec, err_too_many_attrs)
{
    jd_attr_t at[65];
    char keys[65][8];
    jd_event_t ev = sample_event(), got;
    fill_attrs(at, keys, 65);
    ev.ev_attrs = at;
    ev.ev_attr_cnt = 64;
    encode(&ev, -1);
    decode_ok(out.b_data, out.b_len, &got);
    cr_assert_eq(got.ev_attr_cnt, 64);
    cr_assert_str_eq(jd_event_attr(&got, "k63"), "v");
    ev.ev_attr_cnt = 65;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_TOO_MANY_ATTRS, "65 entries");
}

static const char *const bad_utf8[] = {
    "\x80",             /* stray continuation byte */
    "a\xbf",            /* stray continuation after ASCII */
    "\xc0\x80",         /* overlong NUL */
    "\xc1\xbf",         /* overlong 2-byte */
    "\xe0\x80\xaf",     /* overlong 3-byte */
    "\xe0\x9f\xbf",     /* overlong 3-byte, upper edge */
    "\xf0\x8f\xbf\xbf", /* overlong 4-byte */
    "\xed\xa0\x80",     /* U+D800, high surrogate */
    "\xed\xbf\xbf",     /* U+DFFF, low surrogate */
    "\xf4\x90\x80\x80", /* U+110000 */
    "\xf5\x80\x80\x80", /* lead byte F5 */
    "\xff",             /* never valid */
    "\xe2\x82",         /* truncated 3-byte sequence */
    "\xe2\x28\xa1",     /* bad continuation */
    "\xf0\x9f\x98",     /* truncated 4-byte sequence */
    "ok\xc3",           /* truncated at end */
};

static const char *const good_utf8[] = {
    "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf",
    "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
};

Test(codec, err_bad_utf8)
{
    jd_event_t ev = sample_event(), got;
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof *bad_utf8; i++) {
        ev = sample_event();
        ev.ev_feature = bad_utf8[i];
        encode(&ev, -1);
        decode_fails(out.b_data, out.b_len, JD_E_BAD_UTF8, "feature is not valid UTF-8");
    }
    for (size_t i = 0; i < sizeof good_utf8 / sizeof *good_utf8; i++) {
        ev.ev_feature = good_utf8[i];
        encode(&ev, -1);
        decode_ok(out.b_data, out.b_len, &got);
        cr_assert_str_eq(got.ev_feature, good_utf8[i]);
    }
    jd_attr_t k[] = {{"\xed\xa0\x80", "v"}};
    ev = sample_event();
    ev.ev_attrs = k;
    ev.ev_attr_cnt = 1;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_BAD_UTF8, "attributes key");
    jd_attr_t v[] = {{"plan", "x\xc0\xaf"}};
    ev.ev_attrs = v;
    encode(&ev, -1);
    decode_fails(out.b_data, out.b_len, JD_E_BAD_UTF8, "attributes['plan'] is not valid UTF-8 (byte offset 1)");
}

/* NUL inside a string would silently cut the C string: rejected. */
Test(codec, err_embedded_nul)
{
    wb_t w = {.n = 0};
    wb_strn(&w, "ev\0il", 5); wb_str(&w, "a"); wb_ostr(&w, NULL);
    wb_str(&w, "login"); wb_ostr(&w, NULL); wb_long(&w, INT64_C(1700000000000));
    wb_long(&w, 0); wb_long(&w, 0);
    decode_fails(w.b, w.n, JD_E_BAD_UTF8, "event_id contains a NUL byte (byte offset 2)");
}

Test(codec, err_bad_timestamp)
{
    const int64_t min = INT64_C(946684800000), max = INT64_C(4102444800000);
    const int64_t ok[] = {min, max - 1, INT64_C(1717171717171)};
    const int64_t bad[] = {min - 1, max, 0, -1, INT64_MIN, INT64_MAX,
                           INT64_C(1717171717)}; /* seconds, not ms */
    jd_event_t ev = sample_event(), got;
    for (size_t i = 0; i < 3; i++) {
        ev.ev_occurred_at = ok[i];
        encode(&ev, -1);
        decode_ok(out.b_data, out.b_len, &got);
        cr_assert_eq(got.ev_occurred_at, ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ev.ev_occurred_at = bad[i];
        encode(&ev, -1);
        decode_fails(out.b_data, out.b_len, JD_E_BAD_TIMESTAMP, "occurred_at");
    }
}

/* Bad messages of every kind, each followed by a valid one, on one decoder:
 * nothing from a failed decode may leak into the next. */
Test(codec, no_poisoned_state_after_errors)
{
    jd_event_t good = sample_event(), other = sample_event(), got;
    jd_buf_t gp = {0}, gf = {0};
    add_schema(9, jd_codec_product_schema_json());
    encode(&good, -1);
    gp = out; out = (jd_buf_t){0};
    encode(&good, 9);
    gf = out; out = (jd_buf_t){0};

    wb_t bad[10];
    memset(bad, 0, sizeof bad);
    wb_raw(&bad[0], "\x06" "ab", 3);                         /* malformed */
    wb_frame(&bad[1], 12345); wb_raw(&bad[1], gp.b_data, gp.b_len); /* unknown id */
    wb_raw(&bad[2], gp.b_data, gp.b_len); wb_raw(&bad[2], "x", 1);   /* trailing */
    wb_raw(&bad[3], "\x00\x00", 2);                          /* bad magic */
    other.ev_feature = "\xed\xa0\x80";                       /* bad utf8 */
    encode(&other, 9); wb_raw(&bad[4], out.b_data, out.b_len);
    other = sample_event(); other.ev_occurred_at = 5;        /* bad timestamp */
    encode(&other, -1); wb_raw(&bad[5], out.b_data, out.b_len);
    other = sample_event(); other.ev_type_name = "";         /* missing */
    encode(&other, 9); wb_raw(&bad[6], out.b_data, out.b_len);
    /* huge string length (allocation guard) */
    wb_raw(&bad[7], "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", 9);
    /* truncated inside the attributes map, after several entries */
    wb_raw(&bad[8], gf.b_data, gf.b_len - 3);
    /* different event, user_id null, no attributes: must not inherit */
    other = (jd_event_t){.ev_id = "x", .ev_account = "y", .ev_type_name = "login",
                         .ev_occurred_at = INT64_C(1700000000000)};
    encode(&other, 9); wb_raw(&bad[9], out.b_data, out.b_len);

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10; i++) {
            int rc = decode(bad[i].b, bad[i].n, &got);
            if (i == 9) {
                cr_assert_eq(rc, 0, "%s", err.err_msg);
                assert_event_eq(&got, &other);
            } else {
                cr_assert_eq(rc, JD_ERR_SKIP, "bad[%d] decoded", i);
            }
            decode_ok(i % 2 ? gf.b_data : gp.b_data, i % 2 ? gf.b_len : gp.b_len, &got);
            assert_event_eq(&got, &good);
        }
    }
    jd_buf_free(&gp);
    jd_buf_free(&gf);
}

/* ---- writer-schema evolution ------------------------------------------------ */

#include "codec_schemas.h" /* schema_v2 */

static void wb_v2(wb_t *w, int32_t id, const char *user, int has_value,
                  float value)
{
    wb_frame(w, id);
    wb_long(w, INT64_C(1717171717171));
    wb_str(w, "evt-v2");
    wb_ostr(w, user);
    wb_str(w, "acct-v2");
    wb_str(w, "mobile");
    wb_str(w, "feature_used");
    wb_ostr(w, "exports");
    wb_long(w, has_value);
    if (has_value)
        wb_float(w, value);
    wb_long(w, 2);
    wb_str(w, "plan"); wb_str(w, "pro");
    wb_str(w, "seats"); wb_str(w, "9");
    wb_long(w, 0);
    wb_long(w, -2); wb_long(w, 6); /* a negative-count block, with byte size */
    wb_str(w, "t1"); wb_str(w, "t2");
    wb_long(w, 0);
}

Test(codec, evolution_added_reordered_promoted_float)
{
    jd_event_t got;
    wb_t w = {.n = 0};
    add_schema(7, schema_v2);
    wb_v2(&w, 7, "u-1", 1, 7.25f);
    decode_ok(w.b, w.n, &got);
    cr_assert_str_eq(got.ev_id, "evt-v2");
    cr_assert_str_eq(got.ev_account, "acct-v2");
    cr_assert_str_eq(got.ev_user, "u-1");
    cr_assert_str_eq(got.ev_type_name, "feature_used");
    cr_assert_eq(got.ev_type, JD_EV_FEATURE_USED);
    cr_assert_str_eq(got.ev_feature, "exports");
    cr_assert_eq(got.ev_occurred_at, INT64_C(1717171717171));
    cr_assert_eq(got.ev_has_value, 1);
    cr_assert_eq(got.ev_value, 7.25);
    cr_assert_eq(got.ev_attr_cnt, 2);
    cr_assert_str_eq(jd_event_attr(&got, "seats"), "9");

    w.n = 0;
    wb_v2(&w, 7, NULL, 0, 0);
    decode_ok(w.b, w.n, &got);
    cr_assert_null(got.ev_user);
    cr_assert_eq(got.ev_has_value, 0);
}

static char *schema_with_value(const char *value_type)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
             "{\"name\":\"event_id\",\"type\":\"string\"},"
             "{\"name\":\"account_id\",\"type\":\"string\"},"
             "{\"name\":\"type\",\"type\":\"string\"},"
             "{\"name\":\"occurred_at\",\"type\":\"long\"},"
             "{\"name\":\"value\",\"type\":%s}]}", value_type);
    return buf;
}

static void wb_head(wb_t *w, int32_t id)
{
    w->n = 0;
    wb_frame(w, id);
    wb_str(w, "e1"); wb_str(w, "a1"); wb_str(w, "csat_response");
    wb_long(w, INT64_C(1700000000000));
}

/* A writer without user_id, feature and attributes (an older producer):
 * avro-c cannot apply reader defaults, the decoder must. Also: value
 * written as int, long, plain double (no union) -> promoted to double. */
Test(codec, evolution_missing_optional_fields_and_int_promotion)
{
    jd_event_t got;
    wb_t w;
    add_schema(10, schema_with_value("[\"null\",\"int\"]"));
    add_schema(11, schema_with_value("[\"null\",\"long\"]"));
    add_schema(12, schema_with_value("\"double\""));
    add_schema(13, schema_with_value("\"int\""));

    wb_head(&w, 10); wb_long(&w, 1); wb_long(&w, 4);
    decode_ok(w.b, w.n, &got);
    cr_assert_eq(got.ev_has_value, 1);
    cr_assert_eq(got.ev_value, 4.0);
    cr_assert_null(got.ev_user);
    cr_assert_null(got.ev_feature);
    cr_assert_eq(got.ev_attr_cnt, 0);
    cr_assert_eq(got.ev_type, JD_EV_CSAT_RESPONSE);

    wb_head(&w, 10); wb_long(&w, 0);
    decode_ok(w.b, w.n, &got);
    cr_assert_eq(got.ev_has_value, 0);

    wb_head(&w, 11); wb_long(&w, 1); wb_long(&w, INT64_C(-5000000000));
    decode_ok(w.b, w.n, &got);
    cr_assert_eq(got.ev_value, -5e9);

    wb_head(&w, 12); wb_double(&w, 3.5);
    decode_ok(w.b, w.n, &got);
    cr_assert_eq(got.ev_has_value, 1);
    cr_assert_eq(got.ev_value, 3.5);

    wb_head(&w, 13); wb_long(&w, -3);
    decode_ok(w.b, w.n, &got);
    cr_assert_eq(got.ev_value, -3.0);
}

Test(codec, evolution_plain_string_into_union)
{
    const char *s =
        "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"account_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},"
        "{\"name\":\"type\",\"type\":\"string\"},"
        "{\"name\":\"occurred_at\",\"type\":\"int\"}]}";
    jd_event_t got;
    wb_t w = {.n = 0};
    jd_limits_t lim;
    jd_limits_default(&lim);
    lim.lim_min_occurred_at = 0; /* an int cannot hold ms since 2000 */
    jd_decoder_t *d = jd_decoder_new(JD_WIRE_AUTO, &lim, &err);
    cr_assert_eq(jd_decoder_add_schema(d, 21, s, &err), 0, "%s", err.err_msg);
    wb_frame(&w, 21);
    wb_str(&w, "e"); wb_str(&w, "a"); wb_str(&w, "u-plain"); wb_str(&w, "login");
    wb_long(&w, 123456);
    cr_assert_eq(jd_decoder_decode(d, w.b, w.n, &ar, &got, &err), 0, "%s", err.err_msg);
    cr_assert_str_eq(got.ev_user, "u-plain");
    cr_assert_eq(got.ev_occurred_at, 123456);
    jd_decoder_destroy(d);
}

static void add_schema_fails(int32_t id, const char *json, jd_err_code_t code,
                             const char *needle)
{
    cr_assert_eq(jd_decoder_add_schema(dec, id, json, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, code, "%s", err.err_msg);
    if (needle)
        cr_assert(strstr(err.err_msg, needle), "'%s' not in '%s'", needle, err.err_msg);
}

Test(codec, evolution_incompatible_writers_are_refused)
{
    add_schema_fails(1, "{not json", JD_E_SCHEMA, "schema id 1");
    add_schema_fails(1, NULL, JD_E_SCHEMA, NULL);
    add_schema_fails(1, "\"string\"", JD_E_SCHEMA, "not a record");
    /* lacks a required field */
    add_schema_fails(2, "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
                        "{\"name\":\"event_id\",\"type\":\"string\"},"
                        "{\"name\":\"type\",\"type\":\"string\"},"
                        "{\"name\":\"occurred_at\",\"type\":\"long\"}]}",
                     JD_E_SCHEMA, "lacks required field 'account_id'");
    /* a type that does not promote */
    add_schema_fails(3, "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
                        "{\"name\":\"event_id\",\"type\":\"long\"},"
                        "{\"name\":\"account_id\",\"type\":\"string\"},"
                        "{\"name\":\"type\",\"type\":\"string\"},"
                        "{\"name\":\"occurred_at\",\"type\":\"long\"}]}",
                     JD_E_SCHEMA, "does not resolve");
    add_schema_fails(4, schema_with_value("\"string\""), JD_E_SCHEMA, "does not resolve");
    /* a record of another name */
    add_schema_fails(5, "{\"type\":\"record\",\"name\":\"Click\",\"fields\":["
                        "{\"name\":\"event_id\",\"type\":\"string\"}]}",
                     JD_E_SCHEMA, "'Click'");
    /* refused ids stay unknown */
    wb_t w;
    wb_head(&w, 2);
    decode_fails(w.b, w.n, JD_E_UNKNOWN_SCHEMA, NULL);
}

Test(codec, evolution_reregister_replaces_and_ids_interleave)
{
    jd_event_t got;
    wb_t a, b;
    add_schema(7, schema_with_value("\"int\""));
    add_schema(8, schema_v2);
    wb_head(&a, 7); wb_long(&a, 2);
    b.n = 0; wb_v2(&b, 8, "u", 1, 1.5f);
    for (int i = 0; i < 4; i++) {
        decode_ok(a.b, a.n, &got);
        cr_assert_eq(got.ev_value, 2.0);
        decode_ok(b.b, b.n, &got);
        cr_assert_eq(got.ev_value, 1.5);
    }
    /* id 7 now means a double writer */
    add_schema(7, schema_with_value("\"double\""));
    wb_head(&a, 7); wb_double(&a, 8.5);
    decode_ok(a.b, a.n, &got);
    cr_assert_eq(got.ev_value, 8.5);
    /* a failed re-registration keeps the previous schema */
    add_schema_fails(7, "{", JD_E_SCHEMA, NULL);
    decode_ok(a.b, a.n, &got);
    cr_assert_eq(got.ev_value, 8.5);
}

/* Regression: avro-c 1.11.1's resolved map value never empties its cache
 * of entry wrappers, so it grew by 16 bytes per attribute until the
 * allocation guard refused it ("Couldn't expand map") after ~4.2M entries.
 * 50000 framed events of 64 attributes = 3.2M entries (it failed at 40960). */
Test(codec, resolved_map_does_not_grow_without_bound)
{
    jd_attr_t at[64];
    char keys[64][8];
    jd_event_t ev = sample_event(), got;
    fill_attrs(at, keys, 64);
    ev.ev_attrs = at;
    ev.ev_attr_cnt = 64;
    /* differs from the reader (so avro-c's resolver is used) only by a
     * trailing null field, which takes no bytes: the encoder's output is
     * valid for it */
    add_schema(8,
        "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":\"string\"},"
        "{\"name\":\"account_id\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"type\",\"type\":\"string\"},"
        "{\"name\":\"feature\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"occurred_at\",\"type\":\"long\"},"
        "{\"name\":\"value\",\"type\":[\"null\",\"double\"]},"
        "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
        "{\"name\":\"extra\",\"type\":\"null\"}]}");
    encode(&ev, 8);
    for (int i = 0; i < 50000; i++) {
        cr_assert_eq(decode(out.b_data, out.b_len, &got), 0, "event %d: %s", i,
                     err.err_msg);
        if (i % 64 == 63)
            jd_arena_reset(&ar);
    }
    assert_event_eq(&got, &ev);
}

Test(codec, add_schema_file)
{
    const char *dir = getenv("JD_SOURCE_DIR") ? getenv("JD_SOURCE_DIR") : JD_SOURCE_DIR;
    char path[4096];
    jd_event_t got;
    snprintf(path, sizeof path, "%s/tests/fixtures/codec/product_event_v2.avsc", dir);
    cr_assert_eq(jd_decoder_add_schema_file(dec, 7, path, &err), 0, "%s", err.err_msg);
    wb_t w = {.n = 0};
    wb_v2(&w, 7, "u-file", 1, 0.5f);
    decode_ok(w.b, w.n, &got);
    cr_assert_str_eq(got.ev_user, "u-file");
    cr_assert_eq(got.ev_value, 0.5);

    snprintf(path, sizeof path, "%s/tests/fixtures/codec/no_such.avsc", dir);
    cr_assert_eq(jd_decoder_add_schema_file(dec, 8, path, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_IO);
    cr_assert(strstr(err.err_msg, "no_such.avsc"), "%s", err.err_msg);
}
