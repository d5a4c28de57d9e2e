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

/* ---- random numbers (splitmix64, fixed seeds: reproducible) ----------- */

static uint64_t rnd_state = 88172645463325252ull;

/* splitmix64 */
static uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static unsigned rn(unsigned n) { return (unsigned)(rnd() % n); }

/* ---- schema text ------------------------------------------------------- */

typedef struct sb {
    char   s[65536];
    size_t n;
    int    names;
} sb_t;

static void sb_put(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sb_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof b->s - b->n, fmt, ap);
    va_end(ap);
    cr_assert(k >= 0 && (size_t)k < sizeof b->s - b->n, "schema text too long");
    b->n += (size_t)k;
}

static void gen_type(sb_t *b, int depth);

static void gen_union(sb_t *b, int depth)
{
    static const char *const prim[] = {"\"null\"", "\"int\"", "\"string\"", "\"double\"",
                                       "\"boolean\"", "\"bytes\"", "\"long\"", "\"float\""};
    unsigned n = 1 + rn(3), first = rn(8);
    sb_put(b, "[");
    for (unsigned i = 0; i < n; i++)
        sb_put(b, "%s%s", i ? "," : "", prim[(first + i) % 8]);
    if (depth < 3 && rn(2)) /* one named branch: a record */
        sb_put(b, ","), gen_type(b, depth + 1);
    sb_put(b, "]");
}

/* A random type; names are unique per schema (n1, n2, ...). */
static void gen_type(sb_t *b, int depth)
{
    unsigned k = depth >= 3 ? rn(8) : rn(14);
    switch (k) {
    case 0: sb_put(b, "\"null\""); return;
    case 1: sb_put(b, "\"boolean\""); return;
    case 2: sb_put(b, "\"int\""); return;
    case 3: sb_put(b, "\"long\""); return;
    case 4: sb_put(b, "\"float\""); return;
    case 5: sb_put(b, "\"double\""); return;
    case 6: sb_put(b, "\"string\""); return;
    case 7: sb_put(b, "\"bytes\""); return;
    case 8:
        sb_put(b, "{\"type\":\"enum\",\"name\":\"n%d\",\"symbols\":[\"A\",\"B\",\"C\"]}",
               ++b->names);
        return;
    case 9:
        sb_put(b, "{\"type\":\"fixed\",\"name\":\"n%d\",\"size\":%u}", ++b->names, rn(5));
        return;
    case 10: sb_put(b, "{\"type\":\"array\",\"items\":"); gen_type(b, depth + 1); sb_put(b, "}"); return;
    case 11: sb_put(b, "{\"type\":\"map\",\"values\":"); gen_type(b, depth + 1); sb_put(b, "}"); return;
    case 12: gen_union(b, depth); return;
    default: {
        int me = ++b->names;
        unsigned n = rn(4);
        sb_put(b, "{\"type\":\"record\",\"name\":\"n%d\",\"fields\":[", me);
        for (unsigned i = 0; i < n; i++) {
            sb_put(b, "%s{\"name\":\"f%u\",\"type\":", i ? "," : "", i);
            gen_type(b, depth + 1);
            sb_put(b, "}");
        }
        if (rn(3) == 0) /* recursion through a link */
            sb_put(b, "%s{\"name\":\"next\",\"type\":[\"null\",\"n%d\"],\"default\":null}",
                   n ? "," : "", me);
        sb_put(b, "]}");
        return;
    }
    }
}

/* A compatible writer shape for reader field f (NULL: leave it out). */
static const char *gen_reader_shape(int f)
{
    static const char *const opt_str[] = {"[\"null\",\"string\"]", "[\"string\",\"null\"]",
                                          "\"string\"", "\"null\"", NULL};
    static const char *const num[] = {"[\"null\",\"double\"]", "[\"double\",\"null\"]",
                                      "[\"null\",\"int\"]", "[\"long\",\"null\"]",
                                      "[\"null\",\"float\"]", "\"double\"", "\"float\"",
                                      "\"int\"", "\"long\"", "\"null\"", NULL};
    switch (f) {
    case JD_PF_USER_ID:
    case JD_PF_FEATURE: return opt_str[rn(5)];
    case JD_PF_OCCURRED_AT: return rn(4) ? "\"long\"" : "\"int\"";
    case JD_PF_VALUE: return num[rn(11)];
    case JD_PF_ATTRIBUTES:
        return rn(4) ? "{\"type\":\"map\",\"values\":\"string\"}" : NULL;
    default: return "\"string\"";
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

/* ---- random values, written by avro-c ---------------------------------- */

static void gen_string(char *s, size_t *n)
{
    static const char *const types[] = {"login", "feature_used", "nps_response", "x"};
    unsigned k = rn(10);
    if (k == 0) {
        *n = 0;
    } else if (k == 1) {
        strcpy(s, types[rn(4)]);
        *n = strlen(s);
    } else {
        *n = rn(k == 2 ? 48 : 12);
        for (size_t i = 0; i < *n; i++)
            s[i] = (char)('a' + rn(6));
        if (*n && rn(12) == 0)
            s[rn((unsigned)*n)] = (char)(rn(2) ? 0xff : 0x00);
    }
    s[*n] = '\0';
}

static void fill(avro_value_t *v, int depth)
{
    avro_schema_t sch = avro_value_get_schema(v);
    avro_value_t c;
    char s[64];
    size_t n, cnt = 0;

    switch (avro_value_get_type(v)) {
    case AVRO_NULL: avro_value_set_null(v); return;
    case AVRO_BOOLEAN: avro_value_set_boolean(v, (int)rn(2)); return;
    case AVRO_INT32: avro_value_set_int(v, (int32_t)(rn(3) ? rn(100) : (uint32_t)rnd())); return;
    case AVRO_INT64: {
        int64_t t = rn(4) ? (int64_t)(946684800000ull + rnd() % 4000000000000ull)
                          : (int64_t)rnd();
        avro_value_set_long(v, t);
        return;
    }
    case AVRO_FLOAT: avro_value_set_float(v, (float)rn(1000) / 8.0f); return;
    case AVRO_DOUBLE: avro_value_set_double(v, (double)(int64_t)rnd() / 3.0); return;
    case AVRO_STRING:
        gen_string(s, &n);
        avro_value_set_string_len(v, s, n + 1);
        return;
    case AVRO_BYTES:
        gen_string(s, &n);
        avro_value_set_bytes(v, s, n);
        return;
    case AVRO_FIXED:
        memset(s, 'f', sizeof s);
        avro_value_set_fixed(v, s, (size_t)avro_schema_fixed_size(sch));
        return;
    case AVRO_ENUM: avro_value_set_enum(v, (int)rn(3)); return;
    case AVRO_UNION: {
        int nb = (int)avro_schema_union_size(sch), br = (int)rn((unsigned)nb);
        if (depth > 4) /* stop recursion: the null branch when there is one */
            for (int i = 0; i < nb; i++)
                if (is_avro_null(avro_schema_union_branch(sch, i)))
                    br = i;
        avro_value_set_branch(v, br, &c);
        fill(&c, depth + 1);
        return;
    }
    case AVRO_RECORD:
        avro_value_get_size(v, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            avro_value_get_by_index(v, i, &c, NULL);
            fill(&c, depth + 1);
        }
        return;
    case AVRO_ARRAY:
        for (unsigned i = 0, k = depth > 4 ? 0 : rn(4); i < k; i++) {
            avro_value_append(v, &c, NULL);
            fill(&c, depth + 1);
        }
        return;
    case AVRO_MAP:
        for (unsigned i = 0, k = depth > 4 ? 0 : rn(rn(8) ? 5 : 12); i < k; i++) {
            gen_string(s, &n);
            if (n && !memchr(s, 0, n)) { /* C-string keys only */
                avro_value_add(v, s, &c, NULL, NULL);
                fill(&c, depth + 1);
            }
        }
        return;
    default:
        return;
    }
}

/* ---- comparison -------------------------------------------------------- */

static void same_str(const char *a, const char *b, const char *what)
{
    if (!a || !b)
        cr_assert(a == b, "%s: one side is NULL", what);
    else
        cr_assert_str_eq(a, b, "%s differs", what);
}

static void same_event(const jd_event_t *a, const jd_event_t *b)
{
    same_str(a->ev_id, b->ev_id, "event_id");
    same_str(a->ev_account, b->ev_account, "account_id");
    same_str(a->ev_user, b->ev_user, "user_id");
    same_str(a->ev_type_name, b->ev_type_name, "type");
    same_str(a->ev_feature, b->ev_feature, "feature");
    cr_assert_eq(a->ev_type, b->ev_type);
    cr_assert_eq(a->ev_occurred_at, b->ev_occurred_at);
    cr_assert_eq(a->ev_has_value, b->ev_has_value);
    cr_assert(memcmp(&a->ev_value, &b->ev_value, sizeof a->ev_value) == 0, "value differs");
    cr_assert_eq(a->ev_attr_cnt, b->ev_attr_cnt);
    for (size_t i = 0; i < a->ev_attr_cnt; i++) {
        same_str(a->ev_attrs[i].at_key, b->ev_attrs[i].at_key, "attribute key");
        same_str(a->ev_attrs[i].at_val, b->ev_attrs[i].at_val, "attribute value");
    }
}

typedef struct diff {
    jd_decoder_t *df_dec;
    jd_arena_t    df_ar;
    size_t        df_ok, df_bad, df_fast;
} diff_t;

static void diff_one(diff_t *d, const unsigned char *p, size_t n, const char *schema)
{
    jd_event_t fe, ge;
    jd_err_t ferr, gerr;

    jd__decoder_set_generic(d->df_dec, 0);
    int frc = jd_decoder_decode(d->df_dec, p, n, &d->df_ar, &fe, &ferr);
    jd__decoder_set_generic(d->df_dec, 1);
    int grc = jd_decoder_decode(d->df_dec, p, n, &d->df_ar, &ge, &gerr);
    cr_assert_eq(frc, grc, "fast %d (%s) vs generic %d (%s) for %s", frc,
                 frc ? ferr.err_msg : "", grc, grc ? gerr.err_msg : "", schema);
    if (frc) {
        cr_assert_eq(ferr.err_code, gerr.err_code, "fast '%s' vs generic '%s' for %s",
                     ferr.err_msg, gerr.err_msg, schema);
        d->df_bad++;
    } else {
        same_event(&fe, &ge);
        d->df_ok++;
    }
    jd_arena_reset(&d->df_ar);
}

/* Mutations of one message: a flipped byte, a cut, an inserted byte. */
static void diff_mutants(diff_t *d, const unsigned char *p, size_t n, const char *schema)
{
    unsigned char m[4200];
    if (n + 1 > sizeof m || n < 6)
        return;
    for (int k = 0; k < 6; k++) {
        memcpy(m, p, n);
        size_t at = 5 + rn((unsigned)(n - 5)), len = n;
        switch (k % 3) {
        case 0: m[at] ^= (unsigned char)(1u << rn(8)); break;
        case 1: len = at; break;
        default:
            memmove(m + at + 1, m + at, n - at);
            m[at] = (unsigned char)rnd();
            len = n + 1;
        }
        diff_one(d, m, len, schema);
    }
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
    avro_schema_t ws;
    avro_value_iface_t *cls;
    avro_value_t v;
    jd_limits_t lim;
    jd_err_t err;
    diff_t d = {0};
    static char buf[4096];

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
        cr_assert(jd__decoder_fast(d.df_dec, 7), "no fast path for %s", json);
    cr_assert_eq(avro_schema_from_json_length(json, strlen(json), &ws), 0);
    cr_assert_not_null(cls = avro_generic_class_from_schema(ws));
    cr_assert_eq(avro_generic_value_new(cls, &v), 0);
    avro_writer_t w = avro_writer_memory(buf + 5, sizeof buf - 5);
    for (int i = 0; i < msgs; i++) {
        avro_value_reset(&v);
        fill(&v, 0);
        avro_writer_reset(w);
        if (avro_value_write(w, &v) != 0)
            continue; /* too large for the buffer */
        size_t n = 5 + (size_t)avro_writer_tell(w);
        jd__codec_frame_put((unsigned char *)buf, 7);
        diff_one(&d, (unsigned char *)buf, n, json);
        diff_mutants(&d, (unsigned char *)buf, n, json);
    }
    tot_schemas++;
    tot_ok += d.df_ok;
    tot_bad += d.df_bad;
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(ws);
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
    /* test_codec_hostile: array_of_nulls_with_huge_count */
    "{\"type\":\"record\",\"name\":\"ProductEvent\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},{\"name\":\"account_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":\"string\"},{\"name\":\"occurred_at\",\"type\":\"long\"},"
    "{\"name\":\"nothing\",\"type\":{\"type\":\"array\",\"items\":\"null\"}}]}",
};

static char *read_text(const char *rel)
{
    char path[1024];
    const char *root = getenv("JD_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", root ? root : JD_SOURCE_DIR, rel);
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return text;
}

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
        diff_schema(b.s, 40, 1);
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
