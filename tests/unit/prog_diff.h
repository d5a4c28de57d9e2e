/*
 * prog_diff.h: what the differential tests of the decoder's fast path
 * (test_prog.c: product events; test_prog_mapped.c: mapped upstream
 * records) share: reproducible random numbers, random Avro types as
 * schema text, random values written by avro-c, and the comparison of
 * one message decoded by the fast path and by avro-c's generic reader
 * (the same decoder with jd__decoder_set_generic), mutants included.
 * Header-only; each test includes it once.
 */
#ifndef PROG_DIFF_H
#define PROG_DIFF_H

#include <avro.h>
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_codec_int.h"

/* Words gen_string picks from one time in ten (event names, timestamps). */
static const char *const *gen_words;
static unsigned gen_nwords;
static unsigned gen_word_odds = 10; /* a word one time in this many */
/* Map keys fill() picks from half the time, when set (paths through maps). */
static const char *const *gen_keys;
static unsigned gen_nkeys;

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

/* ---- random values, written by avro-c ---------------------------------- */

static void gen_string(char *s, size_t *n)
{
    static const char *const types[] = {"login", "feature_used", "nps_response", "x"};
    unsigned k = rn(10);
    if (rn(gen_word_odds) == 0)
        k = 1;
    else if (k == 1)
        k = 2;
    if (!gen_words) {
        gen_words = types;
        gen_nwords = 4;
    }
    if (k == 0) {
        *n = 0;
    } else if (k == 1) {
        strcpy(s, gen_words[rn(gen_nwords)]);
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
            if (gen_nkeys && rn(2)) {
                strcpy(s, gen_keys[rn(gen_nkeys)]);
                n = strlen(s);
            } else {
                gen_string(s, &n);
            }
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

/* `msgs` random messages of writer schema `json` (framed as id 7), each
 * and its mutants compared on both paths of d's decoder. */
static void diff_messages(diff_t *d, const char *json, int msgs)
{
    avro_schema_t ws;
    avro_value_iface_t *cls;
    avro_value_t v;
    static char buf[4096];

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
        diff_one(d, (unsigned char *)buf, n, json);
        diff_mutants(d, (unsigned char *)buf, n, json);
    }
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(ws);
}

/* A file of the source tree (JD_SOURCE_DIR), in a static buffer. */
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

#endif
