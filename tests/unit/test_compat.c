/*
 * jd_compat: the pre-check that keeps avro-c's resolver from crashing on
 * a map or array whose values/items do not resolve (jd_compat.h). The
 * rule table (jd_compat_resolves), the refusals with their messages
 * (jd_compat_check), and the decoder: a registry schema with
 * attributes map<double> - which SEGV'd inside avro_resolved_writer_new -
 * is refused as a schema error, its messages dead-lettered as
 * unknown_schema_id, and the refusal remembered.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_compat.h"

static avro_schema_t parse(const char *json)
{
    avro_schema_t s;
    cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &s), 0, "%s: %s", json,
                 avro_strerror());
    return s;
}

/* A record R with one field f of type `type` (JSON). */
static avro_schema_t rec(const char *type)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "{\"type\":\"record\",\"name\":\"R\",\"fields\":"
             "[{\"name\":\"f\",\"type\":%s}]}", type);
    return parse(buf);
}

static int resolves(const char *w, const char *r)
{
    avro_schema_t ws = parse(w), rs = parse(r);
    int ok = jd_compat_resolves(ws, rs);
    avro_schema_decref(ws);
    avro_schema_decref(rs);
    return ok;
}

/* jd_compat_check on R{f: w} against R{f: r}; err filled. */
static int check(const char *w, const char *r, jd_err_t *err)
{
    avro_schema_t ws = rec(w), rs = rec(r);
    int rc = jd_compat_check(ws, rs, err);
    avro_schema_decref(ws);
    avro_schema_decref(rs);
    return rc;
}

#define MAP(v) "{\"type\":\"map\",\"values\":" v "}"
#define ARR(v) "{\"type\":\"array\",\"items\":" v "}"

Test(compat, resolution_rules)
{
    cr_assert(resolves("\"int\"", "\"int\""));
    cr_assert(resolves("\"int\"", "\"long\""));
    cr_assert(resolves("\"int\"", "\"float\""));
    cr_assert(resolves("\"int\"", "\"double\""));
    cr_assert(resolves("\"long\"", "\"float\""));
    cr_assert(resolves("\"long\"", "\"double\""));
    cr_assert(resolves("\"float\"", "\"double\""));
    cr_assert(!resolves("\"long\"", "\"int\""));
    cr_assert(!resolves("\"double\"", "\"float\""));
    cr_assert(!resolves("\"double\"", "\"string\""));
    /* allowed by the specification, refused by avro-c 1.11.1 */
    cr_assert(!resolves("\"bytes\"", "\"string\""));
    cr_assert(!resolves("\"string\"", "\"bytes\""));
    cr_assert(resolves(MAP("\"int\""), MAP("\"double\"")));
    cr_assert(!resolves(MAP("\"double\""), MAP("\"string\"")));
    cr_assert(!resolves(MAP("\"string\""), ARR("\"string\"")));
    cr_assert(resolves("\"string\"", "[\"null\",\"string\"]"));
    cr_assert(!resolves("\"int\"", "[\"null\",\"string\"]"));
    cr_assert(resolves("[\"null\",\"string\"]", "\"string\""), "a branch resolves");
    cr_assert(!resolves("[\"null\",\"int\"]", "\"string\""));
    cr_assert(resolves("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
                       "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}"));
    cr_assert(!resolves("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
                        "{\"type\":\"enum\",\"name\":\"F\",\"symbols\":[\"A\"]}"));
    cr_assert(!resolves("{\"type\":\"fixed\",\"name\":\"X\",\"size\":2}",
                        "{\"type\":\"fixed\",\"name\":\"X\",\"size\":3}"));
    cr_assert(resolves("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
                       "{\"name\":\"b\",\"type\":\"int\"}]}",
                       "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"}]}"));
    cr_assert(!resolves("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
                        "{\"type\":\"record\",\"name\":\"Y\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"));
    cr_assert(!resolves("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
                        "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"b\",\"type\":\"int\"}]}"));
}

/* Every shape that crashed avro_resolved_writer_new (tried one by one in
 * a child process against libavro 1.11.1) is refused; the message names
 * the field path and both types. */
Test(compat, crashing_shapes_are_refused)
{
    static const struct { const char *w, *r, *path; } bad[] = {
        {MAP("\"double\""), MAP("\"string\""), "'f'"},
        {ARR("\"double\""), ARR("\"string\""), "'f'"},
        {MAP("\"bytes\""), MAP("\"string\""), "'f'"},
        {MAP("\"long\""), MAP("\"int\""), "'f'"},
        {MAP("\"null\""), MAP("\"string\""), "'f'"},
        {MAP("\"int\""), MAP("[\"null\",\"string\"]"), "'f'"},
        {MAP("[\"null\",\"double\"]"), MAP("\"string\""), "'f'"},
        {MAP("\"double\""), "[\"null\"," MAP("\"string\"") "]", "'f'"},
        {"[\"null\"," MAP("\"double\"") "]", MAP("\"string\""), "'f'"},
        {"[" MAP("\"string\"") "," MAP("\"double\"") "]", MAP("\"string\""), "'f'"},
        {MAP(MAP("\"int\"")), MAP(MAP("\"string\"")), "'f{}'"},
        {ARR(MAP("\"int\"")), ARR(MAP("\"string\"")), "'f[]'"},
        {MAP("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"),
         MAP("{\"type\":\"record\",\"name\":\"Y\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}"), "'f'"},
        {"{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":" MAP("\"int\"") "}]}",
         "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":" MAP("\"string\"") "}]}",
         "'f.a'"},
        {MAP("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}"), MAP("\"string\""), "'f'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jd_err_t err;
        cr_assert_eq(check(bad[i].w, bad[i].r, &err), JD_ERR_FATAL, "case %zu", i);
        cr_assert_eq(err.err_code, JD_E_SCHEMA);
        cr_assert(strstr(err.err_msg, bad[i].path), "case %zu: %s", i, err.err_msg);
        cr_assert(strstr(err.err_msg, "writer") && strstr(err.err_msg, "reader"), "%s",
                  err.err_msg);
    }
    jd_err_t err;
    cr_assert_eq(check(MAP("\"double\""), MAP("\"string\""), &err), JD_ERR_FATAL);
    cr_assert_str_eq(err.err_msg, "field 'f': writer map<double> does not resolve to reader "
                     "map<string> (map values double cannot be read as string)");
}

/* What avro-c resolves is left to it. */
Test(compat, safe_pairs_pass)
{
    static const struct { const char *w, *r; } ok[] = {
        {MAP("\"string\""), MAP("\"string\"")},
        {MAP("\"int\""), MAP("\"double\"")},
        {MAP("[\"null\",\"string\"]"), MAP("\"string\"")},
        {MAP("\"string\""), MAP("[\"null\",\"string\"]")},
        {"[\"null\",\"string\"]", "[\"null\",\"string\"]"},
        {"[\"null\",\"string\"]", "\"string\""},
        {"\"int\"", "[\"null\",\"double\"]"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        jd_err_t err;
        cr_assert_eq(check(ok[i].w, ok[i].r, &err), 0, "case %zu: %s", i, err.err_msg);
    }
}

/* A record that does not resolve is refused before avro-c, whose
 * clean-up of a half-resolved record double-frees (below). */
Test(compat, unresolvable_records_are_refused)
{
    jd_err_t err;
    cr_assert_eq(check("\"double\"", "\"string\"", &err), JD_ERR_FATAL);
    cr_assert_str_eq(err.err_msg, "field 'f': writer double does not resolve to reader string");
    cr_assert_eq(check(MAP("\"string\""), ARR("\"string\""), &err), JD_ERR_FATAL);
    cr_assert_eq(check("{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
                       "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"b\",\"type\":\"int\"}]}",
                       &err), JD_ERR_FATAL);
    cr_assert_str_eq(err.err_msg, "field 'f.b' (reader int): the writer has no such field");
}

/* fuzz_registry's double free inside avro_resolved_writer_new: union
 * fields resolved, then occurred_at ([null, string] against long) fails
 * and avro-c's clean-up frees a shared resolver twice. */
Test(compat, decoder_refuses_half_resolving_record)
{
    static const char *w =
        "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
        "{\"name\":\"event_id\",\"type\":[\"null\",\"string\"]},{\"name\":\"type\",\"type\":\"string\"},"
        "{\"name\":\"user_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"feature\",\"type\":[\"long\",\"string\"]},"
        "{\"name\":\"occurred_at\",\"type\":[\"null\",\"string\"]}]}";
    jd_err_t err;
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);
    cr_assert(dec);
    cr_assert_eq(jd_decoder_add_schema(dec, 6, w, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_SCHEMA);
    cr_assert(strstr(err.err_msg, "schema id 6") && strstr(err.err_msg, "'occurred_at'"), "%s",
              err.err_msg);
    jd_decoder_destroy(dec);
}

static const char *a1 =
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"namespace\":\"journeyd\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},"
    "{\"name\":\"occurred_at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"attributes\",\"type\":{\"type\":\"map\",\"values\":\"double\"},\"default\":{}}]}";

Test(compat, decoder_refuses_map_double_attributes)
{
    jd_err_t err;
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);
    cr_assert(dec);
    cr_assert_eq(jd_decoder_add_schema(dec, 5, a1, &err), JD_ERR_FATAL);
    cr_assert_eq(err.err_code, JD_E_SCHEMA);
    cr_assert(strstr(err.err_msg, "schema id 5") && strstr(err.err_msg, "'attributes'") &&
              strstr(err.err_msg, "map<double>") && strstr(err.err_msg, "map<string>"),
              "%s", err.err_msg);
    jd_decoder_destroy(dec);
}

static int fetch_calls;

static int fetch_a1(void *opaque, int32_t id, const char **json, jd_err_t *err)
{
    (void)opaque;
    (void)id;
    (void)err;
    fetch_calls++;
    *json = a1;
    return 0;
}

Test(compat, fetched_crashing_schema_is_dead_lettered_and_remembered)
{
    jd_err_t err;
    jd_arena_t ar;
    jd_event_t ev;
    jd_buf_t msg = {0};
    jd_encoder_t *enc = jd_encoder_new(&err);
    jd_event_t in = {.ev_id = "e1", .ev_account = "acme", .ev_type_name = "login",
                     .ev_occurred_at = 1790000000000LL};
    jd_decoder_t *dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err);

    cr_assert(enc && dec);
    cr_assert_eq(jd_encoder_event(enc, &in, 9, &msg, &err), 0, "%s", err.err_msg);
    jd_arena_init(&ar, 0);
    jd_decoder_set_fetch(dec, fetch_a1, NULL);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(jd_decoder_decode(dec, msg.b_data, msg.b_len, &ar, &ev, &err), JD_ERR_SKIP);
        cr_assert_eq(err.err_code, JD_E_UNKNOWN_SCHEMA);
        cr_assert(strstr(err.err_msg, "'attributes'"), "%s", err.err_msg);
    }
    cr_assert_eq(fetch_calls, 1, "the refusal is remembered");
    jd_buf_free(&msg);
    jd_encoder_destroy(enc);
    jd_decoder_destroy(dec);
    jd_arena_destroy(&ar);
}
