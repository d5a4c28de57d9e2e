/*
 * test_prog_mapped: the decoder's fast path for upstream records read
 * through the field mapping (schemas/jd_prog_map.c) against avro-c's
 * generic reader with jd_mapping_extract, message by message: the same
 * accept/reject, the same error code, the same event.
 *   (a) the shipped example: segment_track.avsc read through the mapping
 *       section of segment_mapping.yaml, loaded from the file;
 *   (b) upstream schemas generated at random (the mapped fields as scalars
 *       of any type, unions, records and maps around them, extra fields of
 *       every type) with random mappings over them: paths through records,
 *       unions and map keys, paths that lead nowhere, several account
 *       paths, a default account, units, a strptime format, event names,
 *       an attributes container that is a map, a record, a scalar or
 *       absent, extra attributes;
 *   (c) repeated map keys, hand-written (avro-c never writes them): a
 *       later value overwrites, a nested map adds up, a union that switches
 *       branch starts afresh.
 * Values are random and written by avro-c, then mutated (prog_diff.h).
 */
#include <avro.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_codec_int.h"
#include "jd_config.h"
#include "jd_mapping.h"

#include "prog_diff.h"

static const char *const words[] = {
    "Signed In", "Report Exported", "2026-10-03T12:30:00.250Z", "2026-10-03 12:30:00",
    "1790000000000", "12.5", "nan", "-3", "a", "login", "x", "2026-10-03T12:30:00Z"};
static const char *const keys[] = {"a", "b", "c"};

/* ---- mappings ------------------------------------------------------------ */

typedef struct kvs {
    char   k[24][64];
    char   v[24][256];
    size_t n;
} kvs_t;

static void kv_add(kvs_t *m, const char *k, const char *v)
{
    cr_assert_lt(m->n, 24);
    snprintf(m->k[m->n], sizeof m->k[0], "%s", k);
    snprintf(m->v[m->n], sizeof m->v[0], "%s", v);
    m->n++;
}

/* A random path from `s` into `out` (steps joined by '.'): record fields,
 * map keys from keys[], unions passed through; sometimes a step that leads
 * nowhere. */
static void gen_path(avro_schema_t s, char *out, size_t cap, int depth)
{
    size_t len = strlen(out);
    switch (avro_typeof(s)) {
    case AVRO_UNION: {
        size_t nb = avro_schema_union_size(s);
        gen_path(avro_schema_union_branch(s, (int)rn((unsigned)nb)), out, cap, depth);
        return;
    }
    case AVRO_LINK:
        gen_path(avro_schema_link_target(s), out, cap, depth);
        return;
    case AVRO_RECORD:
        if (depth > 0 && (avro_schema_record_size(s) == 0 || rn(4) == 0))
            return;
        if (rn(12) == 0) {
            snprintf(out + len, cap - len, "%szz", len ? "." : "");
            return;
        }
        {
            int i = (int)rn((unsigned)avro_schema_record_size(s));
            snprintf(out + len, cap - len, "%s%s", len ? "." : "",
                     avro_schema_record_field_name(s, i));
            gen_path(avro_schema_record_field_get_by_index(s, i), out, cap, depth + 1);
        }
        return;
    case AVRO_MAP:
        if (rn(4) == 0)
            return;
        snprintf(out + len, cap - len, "%s%s", len ? "." : "", keys[rn(3)]);
        gen_path(avro_schema_map_values(s), out, cap, depth + 1);
        return;
    default:
        return;
    }
}

static void gen_mapping(avro_schema_t s, kvs_t *m)
{
    static const char *const units[] = {"s", "ms", "us", "ns"};
    char p[256];
    m->n = 0;
#define PATH(key, base)                                         \
    do {                                                        \
        snprintf(p, sizeof p, "%s", rn(3) ? (base) : "");       \
        if (!p[0])                                              \
            gen_path(s, p, sizeof p, 0);                        \
        if (p[0])                                               \
            kv_add(m, key, p);                                  \
    } while (0)
    PATH("fields.event_id", "eid");
    PATH("fields.type", "ev");
    PATH("fields.occurred_at", "ts");
    if (rn(2))
        PATH("fields.user_id", "");
    if (rn(2))
        PATH("fields.feature", "");
    if (rn(2))
        PATH("fields.value", "num");
    if (rn(4))
        PATH("fields.attributes", rn(2) ? "props" : "ctx");
    char acc[256] = "";
    for (unsigned i = 0, n = 1 + rn(3); i < n; i++) {
        p[0] = '\0';
        gen_path(s, p, sizeof p, 0);
        if (p[0] && strlen(acc) + strlen(p) + 2 < sizeof acc)
            snprintf(acc + strlen(acc), sizeof acc - strlen(acc), "%s%s", acc[0] ? "," : "", p);
    }
    if (acc[0])
        kv_add(m, "fields.account_id", acc);
    if (!acc[0] || rn(3) == 0)
        kv_add(m, "default_account", "acme");
    kv_add(m, "timestamp.unit", rn(2) ? "ms" : units[rn(4)]);
    if (rn(4) == 0)
        kv_add(m, "timestamp.format", "%Y-%m-%d %H:%M:%S");
    if (rn(2)) {
        kv_add(m, "events.Signed In.type", "login");
        kv_add(m, "events.Report Exported.type", "feature_used");
        kv_add(m, "events.Report Exported.feature", "reports.export");
    }
    for (unsigned i = 0, n = rn(4); i < n; i++) {
        char k[32];
        p[0] = '\0';
        gen_path(s, p, sizeof p, 0);
        snprintf(k, sizeof k, "attributes.x%u", i);
        if (p[0])
            kv_add(m, k, p);
    }
#undef PATH
}

/* ---- schemas --------------------------------------------------------------- */

/* A scalar-ish type for a mapped field: any scalar, a union with null, an
 * enum, sometimes something that is not a scalar at all. */
static void gen_mapped_type(sb_t *b, const char *usual)
{
    static const char *const t[] = {
        "\"string\"", "\"string\"", "\"long\"", "\"int\"", "\"double\"", "\"float\"",
        "\"boolean\"", "[\"null\",\"string\"]", "[\"string\",\"long\",\"null\"]",
        "[\"null\",\"double\",\"string\"]", "\"bytes\"", "\"null\""};
    unsigned k = rn(14);
    if (usual && rn(2))
        sb_put(b, "%s", usual);
    else if (k < 12)
        sb_put(b, "%s", t[k]);
    else if (k == 12)
        sb_put(b, "{\"type\":\"enum\",\"name\":\"n%d\",\"symbols\":[\"Signed In\",\"B\",\"login\"]}",
               ++b->names);
    else
        gen_type(b, 2);
}

static void gen_container(sb_t *b, const char *name)
{
    sb_put(b, ",{\"name\":\"%s\",\"type\":", name);
    switch (rn(4)) {
    case 0:
        sb_put(b, "{\"type\":\"map\",\"values\":[\"null\",\"string\",\"long\",\"double\","
                  "\"boolean\"]}");
        break;
    case 1:
        sb_put(b, "[\"null\",{\"type\":\"map\",\"values\":");
        gen_type(b, 2);
        sb_put(b, "}]");
        break;
    case 2:
        sb_put(b, "{\"type\":\"record\",\"name\":\"n%d\",\"fields\":[", ++b->names);
        for (unsigned i = 0, n = 1 + rn(4); i < n; i++) {
            if (i < 3)
                sb_put(b, "%s{\"name\":\"%s\",\"type\":", i ? "," : "", keys[i]);
            else
                sb_put(b, ",{\"name\":\"d%u\",\"type\":", i);
            gen_mapped_type(b, NULL);
            sb_put(b, "}");
        }
        sb_put(b, "]}");
        break;
    default:
        gen_type(b, 1);
    }
    sb_put(b, "}");
}

static void gen_upstream(sb_t *b)
{
    static const char *const mapped[] = {"eid", "ev", "ts", "num"};
    static const char *const usual[] = {"\"string\"", "\"string\"", "\"long\"", NULL};
    b->n = 0;
    b->names = 0;
    sb_put(b, "{\"type\":\"record\",\"name\":\"Up\",\"fields\":[{\"name\":\"x0\",\"type\":");
    gen_type(b, 1);
    sb_put(b, "}");
    for (unsigned i = 0; i < 4; i++) {
        sb_put(b, ",{\"name\":\"%s\",\"type\":", mapped[i]);
        gen_mapped_type(b, usual[i]);
        sb_put(b, "}");
        if (rn(3) == 0) {
            sb_put(b, ",{\"name\":\"y%u\",\"type\":", i);
            gen_type(b, 1);
            sb_put(b, "}");
        }
    }
    gen_container(b, "props");
    gen_container(b, "ctx");
    sb_put(b, "]}");
}

/* ---- comparison ------------------------------------------------------------ */

static size_t tot_schemas, tot_ok, tot_bad;
static char refused_why[sizeof ((jd_err_t *)0)->err_msg];

typedef struct mfx {
    jd_mapping_t *mp;
    jd_config_t  *cf; /* when the mapping comes from a file: owns mp */
    diff_t        d;
    jd_limits_t   lim;
} mfx_t;

/* A decoder reading `json` as id 7 through mapping `m`, or through the
 * mapping section of the configuration file `yaml` (under
 * JD_SOURCE_DIR) when m is NULL; 0 when the mapping or the registration
 * refuses it (the reason in refused_why). */
static int mfx_open(mfx_t *f, const char *json, const kvs_t *m, const char *yaml,
                    int must_be_fast)
{
    jd_err_t err;
    char path[1024];
    memset(f, 0, sizeof *f);
    jd_limits_default(&f->lim);
    f->lim.lim_max_string_bytes = 32;
    f->lim.lim_max_attributes = 3;
    if (!m) {
        const char *root = getenv("JD_SOURCE_DIR");
        snprintf(path, sizeof path, "%s/%s", root ? root : JD_SOURCE_DIR, yaml);
        cr_assert_not_null(f->cf = jd_config_new());
        cr_assert_eq(jd_config_load_file(f->cf, path, &err), 0, "%s", err.err_msg);
        f->mp = f->cf->cf_mapping;
    } else {
        cr_assert_not_null(f->mp = jd_mapping_new());
    }
    for (size_t i = 0; m && i < m->n; i++)
        cr_assert_eq(jd_mapping_set(f->mp, m->k[i], m->v[i], &err), 0, "%s=%s: %s", m->k[i],
                     m->v[i], err.err_msg);
    cr_assert_not_null(f->d.df_dec = jd_decoder_new(JD_WIRE_CONFLUENT, &f->lim, &err));
    jd_arena_init(&f->d.df_ar, 4096);
    jd_decoder_set_mapping(f->d.df_dec, f->mp);
    if (jd_mapping_check(f->mp, &err) || jd_decoder_add_schema(f->d.df_dec, 7, json, &err)) {
        snprintf(refused_why, sizeof refused_why, "%s", err.err_msg);
        return 0;
    }
    if (must_be_fast)
        cr_assert(jd_decoder_fast(f->d.df_dec, 7), "no fast path for %s", json);
    return 1;
}

static void mfx_close(mfx_t *f)
{
    tot_ok += f->d.df_ok;
    tot_bad += f->d.df_bad;
    jd_arena_destroy(&f->d.df_ar);
    jd_decoder_destroy(f->d.df_dec);
    if (f->cf)
        jd_config_destroy(f->cf);
    else
        jd_mapping_destroy(f->mp);
}

/* Compares `msgs` random messages of `json` read through `m` (or the
 * mapping of `yaml`, as mfx_open). */
static int diff_mapped(const char *json, const kvs_t *m, const char *yaml, int msgs)
{
    mfx_t f;

    if (!mfx_open(&f, json, m, yaml, 1)) {
        mfx_close(&f);
        return 0;
    }
    diff_messages(&f.d, json, msgs);
    tot_schemas++;
    mfx_close(&f);
    return 1;
}

/* ---- (a) the shipped example ---------------------------------------------- */

/* The example's own configuration file: what test_mapping.sh runs. */
Test(prog_mapped, segment_example_agrees)
{
    static const char *const seg_keys[] = {"feature", "score", "accountId", "plan"};
    static const char *const seg_words[] = {"2026-10-03T12:30:00.250Z", "2026-10-01T09:00:00Z",
                                            "Signed In", "Report Exported", "globex", "8"};
    gen_words = seg_words;
    gen_nwords = sizeof seg_words / sizeof seg_words[0];
    gen_word_odds = 2;
    gen_keys = seg_keys;
    gen_nkeys = 4;
    rnd_state = 42;
    cr_assert(diff_mapped(read_text("schemas/examples/segment_track.avsc"), NULL,
                          "schemas/examples/segment_mapping.yaml", 3000),
              "%s", refused_why);
    fprintf(stderr, "segment example: %zu accepted, %zu rejected alike\n", tot_ok, tot_bad);
    cr_assert_gt(tot_ok, 200, "enough messages decode for the comparison to mean something");
}

/* ---- (b) random upstream schemas and mappings ------------------------------ */

Test(prog_mapped, random_schemas_and_mappings_agree, .timeout = 120)
{
    static sb_t b;
    kvs_t m;
    avro_schema_t s;
    gen_words = words;
    gen_nwords = sizeof words / sizeof words[0];
    gen_word_odds = 4;
    gen_keys = keys;
    gen_nkeys = 3;
    /* JD_PROG_SEED: another reproducible run (tests/fuzz/run.sh soaks) */
    const char *seed = getenv("JD_PROG_SEED");
    rnd_state = seed ? strtoull(seed, NULL, 0) : 0x5eed;
    for (int i = 0; i < 600; i++) {
        gen_upstream(&b);
        cr_assert_eq(avro_schema_from_json_length(b.s, b.n, &s), 0, "%s: %s", b.s,
                     avro_strerror());
        gen_mapping(s, &m);
        avro_schema_decref(s);
        diff_mapped(b.s, &m, NULL, 40);
    }
    fprintf(stderr, "random mapped: %zu of 600 registered, %zu accepted, %zu rejected alike\n",
            tot_schemas, tot_ok, tot_bad);
    cr_assert_gt(tot_schemas, 300);
    cr_assert_gt(tot_ok, 1000);
}

/* ---- (c) repeated map keys ---------------------------------------------- */

/* {"id": string, "ts": long, "m": map<union{null, map<string>, string}>}:
 * key "p" holds a nested map or a string, "q" a string. */
static const char rep_schema[] =
    "{\"type\":\"record\",\"name\":\"Rep\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"null\",{\"type\":\"map\",\"values\":\"string\"},\"string\"]}}]}";

static void rep_case(const unsigned char *entries, size_t n, const char *what)
{
    kvs_t m = {.n = 0};
    mfx_t f;
    unsigned char msg[256];
    kv_add(&m, "fields.event_id", "id");
    kv_add(&m, "fields.type", "m.q");
    kv_add(&m, "fields.occurred_at", "ts");
    kv_add(&m, "fields.user_id", "m.p.u");
    kv_add(&m, "fields.attributes", "m.p");
    kv_add(&m, "default_account", "acme");
    cr_assert(mfx_open(&f, rep_schema, &m, NULL, 1), "%s", refused_why);
    static const unsigned char head[] = {2, 'e', 0x80, 0xc0, 0xa8, 0xa9, 0xd6, 0x66};
    jd__codec_frame_put(msg, 7);
    memcpy(msg + 5, head, sizeof head);
    memcpy(msg + 5 + sizeof head, entries, n);
    diff_one(&f.d, msg, 5 + sizeof head + n, what);
    jd_event_t ev;
    jd_err_t err;
    int rc = jd_decoder_decode(f.d.df_dec, msg, 5 + sizeof head + n, &f.d.df_ar, &ev, &err);
    cr_assert_eq(f.d.df_ok, 1, "%s: accepted by both (%s)", what, rc ? err.err_msg : "");
    mfx_close(&f);
}

Test(prog_mapped, repeated_keys_agree)
{
    /* q twice: the last value; p a map twice: its keys add up */
    static const unsigned char add[] = {
        8, 2, 'q', 4, 2, 'x', 2, 'p', 2, 2, 2, 'u', 2, 'A', 0,
        2, 'p', 2, 2, 2, 'v', 2, 'B', 0, 2, 'q', 4, 2, 'y', 0};
    /* p a map, then a string: the union switches, the map is gone */
    static const unsigned char sw[] = {
        6, 2, 'q', 4, 2, 'x', 2, 'p', 2, 2, 2, 'u', 2, 'A', 0, 2, 'p', 4, 2, 'S', 0};
    /* p a map, then null, then a map again: only the last map's keys */
    static const unsigned char again[] = {
        8, 2, 'q', 4, 2, 'x', 2, 'p', 2, 2, 2, 'u', 2, 'A', 0, 2, 'p', 0,
        2, 'p', 2, 2, 2, 'v', 2, 'B', 0, 0};
    /* "q\0z" is q */
    static const unsigned char nul[] = {4, 2, 'q', 4, 2, 'x', 6, 'q', 0, 'z', 4, 2, 'y', 0};
    rep_case(add, sizeof add, "nested map under a repeated key");
    rep_case(sw, sizeof sw, "union switching branch");
    rep_case(again, sizeof again, "map, null, map");
    rep_case(nul, sizeof nul, "key with a NUL");
}

/* More distinct container keys than the fast path's scratch keeps: the
 * message goes to avro-c's generic reader and still decodes the same. */
Test(prog_mapped, many_container_keys_fall_back)
{
    kvs_t m = {.n = 0};
    mfx_t f;
    unsigned char msg[512];
    size_t n = 0;
    kv_add(&m, "fields.event_id", "id");
    kv_add(&m, "fields.type", "id");
    kv_add(&m, "fields.occurred_at", "ts");
    kv_add(&m, "fields.attributes", "m");
    kv_add(&m, "default_account", "acme");
    cr_assert(mfx_open(&f, rep_schema, &m, NULL, 1), "%s", refused_why);
    jd__codec_frame_put(msg, 7);
    n = 5;
    static const unsigned char head[] = {2, 'e', 0x80, 0xc0, 0xa8, 0xa9, 0xd6, 0x66};
    memcpy(msg + n, head, sizeof head);
    n += sizeof head;
    msg[n++] = 2 * 40; /* 40 entries, all null: over 4 x (3 + 1) distinct keys */
    for (int i = 0; i < 40; i++) {
        msg[n++] = 4;
        msg[n++] = (unsigned char)('A' + i / 10);
        msg[n++] = (unsigned char)('0' + i % 10);
        msg[n++] = 0;
    }
    msg[n++] = 0;
    diff_one(&f.d, msg, n, "40 null entries");
    cr_assert_eq(f.d.df_ok, 1, "accepted by both (no scalar attributes)");
    /* the fast path handed it to the generic reader: counted */
    jd_event_t ev;
    jd_err_t err;
    jd__decoder_set_generic(f.d.df_dec, 0);
    uint64_t before = jd_decoder_generic_count(f.d.df_dec);
    cr_assert_eq(jd_decoder_decode(f.d.df_dec, msg, n, &f.d.df_ar, &ev, &err), 0, "%s",
                 err.err_msg);
    cr_assert_eq(jd_decoder_generic_count(f.d.df_dec), before + 1);
    msg[5 + sizeof head] = 0; /* an empty map: the fast path keeps it */
    cr_assert_eq(jd_decoder_decode(f.d.df_dec, msg, 5 + sizeof head + 1, &f.d.df_ar, &ev, &err), 0,
                 "%s", err.err_msg);
    cr_assert_eq(jd_decoder_generic_count(f.d.df_dec), before + 1);
    mfx_close(&f);
}
