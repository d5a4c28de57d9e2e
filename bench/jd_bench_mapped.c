/*
 * jd_bench_mapped: the micro-benchmark of decoding upstream records
 * through the field mapping (`jd_bench_micro --only mapped`).
 *
 * The corpus is jd_sim's events rewritten as Segment-style track calls
 * (schemas/examples/segment_track.avsc, written by avro-c: event name,
 * ISO-8601 timestamp, properties map, context record) and read with the
 * mapping of schemas/examples/segment_mapping.yaml, loaded from the file,
 * as a data platform would run it. Both decode paths run over the same corpus, alternately:
 * the compiled program (jd_prog_map.c) and avro-c's generic reader with
 * jd_mapping_extract; each reports ns/event (median of the runs) and heap
 * allocations per event. Main thread only.
 */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_bench.h"
#include "jd_codec_int.h"
#include "jd_config.h"
#include "jd_window.h"

#ifdef JD_BENCH_COUNT_MALLOC
extern uint64_t jd_bench_malloc_count;
#define JD_BENCH_MP_MALLOCS() __atomic_load_n(&jd_bench_malloc_count, __ATOMIC_RELAXED)
#else
#define JD_BENCH_MP_MALLOCS() UINT64_C(0)
#endif

#define JD_BENCH_MP_ID 77

/* A file of schemas/examples/, under JD_SOURCE_DIR. */
static const char *jd_bench_mp_path(char *buf, size_t cap, const char *name)
{
    const char *root = getenv("JD_SOURCE_DIR");
    snprintf(buf, cap, "%s/schemas/examples/%s", root ? root : JD_SOURCE_DIR, name);
    return buf;
}

static int jd_bench_mp_schema(avro_schema_t *s)
{
    static char text[1 << 16];
    char path[1024];
    FILE *fp = fopen(jd_bench_mp_path(path, sizeof path, "segment_track.avsc"), "rb");
    size_t n = fp ? fread(text, 1, sizeof text - 1, fp) : 0;
    if (fp)
        fclose(fp);
    return n ? avro_schema_from_json_length(text, n, s) : -1;
}

static void jd_bench_mp_str(avro_value_t *rec, const char *name, const char *s)
{
    avro_value_t v, b = {NULL, NULL}; /* clang: set_branch is a macro with a ?: */
    int branch = s ? 1 : 0;
    avro_value_get_by_name(rec, name, &v, NULL);
    if (avro_value_get_type(&v) == AVRO_UNION) {
        avro_value_set_branch(&v, branch, &b);
        v = b;
    }
    if (s)
        avro_value_set_string(&v, s);
    else
        avro_value_set_null(&v);
}

/* One sim event as a track call in `rec` (reset by the caller). */
static void jd_bench_mp_track(avro_value_t *rec, const jd_event_t *ev)
{
    avro_value_t props, ctx, lib = {NULL, NULL}, v, b = {NULL, NULL};
    char when[40];

    jd_window_format_iso(ev->ev_occurred_at, when, sizeof when);
    jd_bench_mp_str(rec, "messageId", ev->ev_id);
    jd_bench_mp_str(rec, "type", "track");
    jd_bench_mp_str(rec, "event", ev->ev_type_name);
    jd_bench_mp_str(rec, "userId", ev->ev_user);
    jd_bench_mp_str(rec, "anonymousId", NULL);
    jd_bench_mp_str(rec, "timestamp", when);
    avro_value_get_by_name(rec, "properties", &props, NULL);
    for (size_t i = 0; i < ev->ev_attr_cnt; i++) {
        avro_value_add(&props, ev->ev_attrs[i].at_key, &v, NULL, NULL);
        avro_value_set_branch(&v, 1, &b);
        avro_value_set_string(&b, ev->ev_attrs[i].at_val);
    }
    if (ev->ev_feature) {
        avro_value_add(&props, "feature", &v, NULL, NULL);
        avro_value_set_branch(&v, 1, &b);
        avro_value_set_string(&b, ev->ev_feature);
    }
    if (ev->ev_has_value) {
        avro_value_add(&props, "score", &v, NULL, NULL);
        avro_value_set_branch(&v, 3, &b);
        avro_value_set_double(&b, ev->ev_value);
    }
    avro_value_get_by_name(rec, "context", &ctx, NULL);
    jd_bench_mp_str(&ctx, "groupId", ev->ev_account);
    jd_bench_mp_str(&ctx, "ip", NULL);
    avro_value_get_by_name(&ctx, "library", &v, NULL);
    avro_value_set_branch(&v, 1, &lib);
    jd_bench_mp_str(&lib, "name", "analytics.js");
    jd_bench_mp_str(&lib, "version", "4.1.0");
}

/* n framed track calls, back to back; offsets in off[0..n]. */
static int jd_bench_mp_corpus(avro_schema_t s, size_t n, unsigned char **data, size_t *off)
{
    avro_value_iface_t *cls = avro_generic_class_from_schema(s);
    avro_value_t rec;
    jd_bench_gen_t g;
    jd_event_t ev;
    size_t cap = n * 256, len = 0, i = 0;

    if (!cls || avro_generic_value_new(cls, &rec) || !(*data = malloc(cap)) ||
        jd_bench_gen_init(&g, JD_BENCH_GEN_SIM, 2000, 30, 42, 0))
        return -1;
    while (i < n && jd_bench_gen_next(&g, &ev) == 1) {
        avro_value_reset(&rec);
        jd_bench_mp_track(&rec, &ev);
        if (len + 4096 > cap && !(*data = realloc(*data, cap *= 2)))
            return -1;
        avro_writer_t w = avro_writer_memory((char *)*data + len + 5, 4096 - 5);
        int rc = avro_value_write(w, &rec);
        size_t body = (size_t)avro_writer_tell(w);
        avro_writer_free(w);
        if (rc)
            continue;
        jd__codec_frame_put(*data + len, JD_BENCH_MP_ID);
        off[i++] = len;
        len += 5 + body;
    }
    off[i] = len;
    jd_bench_gen_free(&g);
    avro_value_decref(&rec);
    avro_value_iface_decref(cls);
    return i == n ? 0 : -1;
}

/* The decoder `journeyd run --config schemas/examples/segment_mapping.yaml`
 * builds for id 77: the example's own mapping section, loaded from the
 * file (cf owns it). */
static jd_decoder_t *jd_bench_mp_decoder(jd_config_t **cf)
{
    char path[1024];
    jd_err_t err = {0};
    jd_decoder_t *dec = NULL;

    if (!(*cf = jd_config_new()) ||
        jd_config_load_file(*cf, jd_bench_mp_path(path, sizeof path, "segment_mapping.yaml"),
                            &err) ||
        !(dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err)))
        goto fail;
    jd_decoder_set_mapping(dec, (*cf)->cf_mapping);
    if (jd_decoder_add_schema_file(dec, JD_BENCH_MP_ID,
                                   jd_bench_mp_path(path, sizeof path, "segment_track.avsc"),
                                   &err) == 0 &&
        jd_decoder_fast(dec, JD_BENCH_MP_ID))
        return dec;
fail:
    fprintf(stderr, "bench micro: mapped decoder: %s\n", err.err_msg);
    jd_decoder_destroy(dec);
    return NULL;
}

typedef struct jd_bench_mp_run {
    double   mr_ns[16];
    uint64_t mr_mallocs;
    size_t   mr_bad;
} jd_bench_mp_run_t;

static void jd_bench_mp_pass(jd_decoder_t *dec, const unsigned char *data, const size_t *off,
                             size_t n, jd_arena_t *ar, jd_bench_mp_run_t *run, int r)
{
    jd_event_t ev;
    jd_err_t err;
    uint64_t m0 = JD_BENCH_MP_MALLOCS();
    double t0 = jd_bench_now();
    for (size_t i = 0; i < n; i++) {
        if (i % 1000 == 0)
            jd_arena_reset(ar);
        run->mr_bad += jd_decoder_decode(dec, data + off[i], off[i + 1] - off[i], ar, &ev,
                                         &err) != 0;
    }
    run->mr_ns[r] = (jd_bench_now() - t0) * 1e9 / (double)n;
    run->mr_mallocs += JD_BENCH_MP_MALLOCS() - m0;
}

int jd_bench_micro_mapped(size_t n, int reps)
{
    jd_config_t *cf = NULL;
    jd_decoder_t *dec = jd_bench_mp_decoder(&cf);
    jd_bench_mp_run_t fast = {0}, gen = {0};
    unsigned char *data = NULL;
    size_t *off = calloc(n + 1, sizeof *off);
    avro_schema_t s = NULL;
    jd_arena_t ar;
    jd_bench_json_t js;
    int rc = 1;

    reps = reps > 16 ? 16 : reps;
    if (!dec || !off || jd_bench_mp_schema(&s) ||
        jd_bench_mp_corpus(s, n, &data, off)) {
        fprintf(stderr, "bench micro: mapped set-up failed\n");
        goto out;
    }
    jd_arena_init(&ar, 1 << 20);
    jd_bench_mp_pass(dec, data, off, n, &ar, &fast, 0); /* warm-up */
    fast.mr_mallocs = 0;
    for (int r = 0; r < reps; r++) {
        jd__decoder_set_generic(dec, 0);
        jd_bench_mp_pass(dec, data, off, n, &ar, &fast, r);
        jd__decoder_set_generic(dec, 1);
        jd_bench_mp_pass(dec, data, off, n, &ar, &gen, r);
    }
    jd_bench_json_begin(&js, "micro_decode_mapped", "");
    jd_bench_json_int(&js, "events", (long long)n);
    jd_bench_json_num(&js, "bytes_per_event", (double)off[n] / (double)n);
    jd_bench_json_num(&js, "ns_per_event", jd_bench_quantile(fast.mr_ns, (size_t)reps, 0.5));
    jd_bench_json_num(&js, "generic_ns_per_event", jd_bench_quantile(gen.mr_ns, (size_t)reps, 0.5));
#ifdef JD_BENCH_COUNT_MALLOC
    jd_bench_json_num(&js, "mallocs_per_event", (double)fast.mr_mallocs / ((double)n * reps));
    jd_bench_json_num(&js, "generic_mallocs_per_event",
                      (double)gen.mr_mallocs / ((double)n * reps));
#endif
    jd_bench_json_int(&js, "decode_errors", (long long)(fast.mr_bad + gen.mr_bad));
    jd_bench_json_end(&js);
    jd_arena_destroy(&ar);
    rc = fast.mr_bad || gen.mr_bad;
out:
    if (s)
        avro_schema_decref(s);
    free(data);
    free(off);
    jd_decoder_destroy(dec);
    jd_config_destroy(cf);
    return rc;
}
