/*
 * jd_codec: what the decoder (jd_decode.c) and the encoder (jd_encode.c)
 * share, and the stage codec (jd_stage.c) with them - the embedded
 * schemas, the field tables, the avro-c allocation guard, record and I/O
 * set-up and teardown, whole-buffer reads and writes, Confluent framing.
 *
 * The allocation guard. avro-c trusts the length prefix of a string: it
 * mallocs the claimed length (+1) before checking that the input holds that
 * many bytes, and in 1.11.1 it does not even reject negative lengths (-2
 * becomes malloc(SIZE_MAX)). A 10-byte message can therefore ask for 2^63
 * bytes: glibc fails it, but ASan aborts the process (allocation-size-too-
 * big) and a claim just under physical memory can succeed and OOM. So we
 * install, once per process, an avro_set_allocator() hook that refuses any
 * single request above JD_CODEC_ALLOC_CAP. avro-c turns the NULL into
 * ENOMEM ("Cannot allocate buffer for string value"), which surfaces as
 * JD_E_MALFORMED: the message is dead-lettered, nothing crashes. A claim
 * below the cap costs one short-lived allocation that is freed as soon as
 * the read runs out of input (mmap-backed, its pages are never touched
 * except the last one). The hook is realloc/free-compatible with avro-c's
 * default allocator, so memory allocated before installation is freed
 * correctly after it.
 *
 * avro-c error text lives in two process-global static buffers (not
 * thread-local in 1.11.1), so concurrent decoders may mix up each other's
 * avro_strerror() text; the error codes we return never depend on it.
 * Memory readers also *prefix* to the previous error text, so every read
 * starts by clearing it.
 *
 * The guard stops huge claims, but not the leak that follows a short read
 * in avro-c 1.11.1 (see jd_prog.h): that is why every read is preceded by
 * the structural scan, and the guard is only the second line of defence.
 */
#include "jd_codec_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "jd_prog.h"
#include "product_event_avsc.h"
#include "trigger_event_avsc.h"

const jd_field_spec_t jd__codec_pf_spec[JD_PF__COUNT] = {
    [JD_PF_EVENT_ID] = {"event_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_PF_ACCOUNT_ID] = {"account_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_PF_USER_ID] = {"user_id", AVRO_UNION, AVRO_STRING, 0},
    [JD_PF_TYPE] = {"type", AVRO_STRING, AVRO_NULL, 1},
    [JD_PF_FEATURE] = {"feature", AVRO_UNION, AVRO_STRING, 0},
    [JD_PF_OCCURRED_AT] = {"occurred_at", AVRO_INT64, AVRO_NULL, 1},
    [JD_PF_VALUE] = {"value", AVRO_UNION, AVRO_DOUBLE, 0},
    [JD_PF_ATTRIBUTES] = {"attributes", AVRO_MAP, AVRO_STRING, 0},
};

const jd_field_spec_t jd__codec_tf_spec[JD_TF__COUNT] = {
    [JD_TF_TRIGGER_ID] = {"trigger_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_ACCOUNT_ID] = {"account_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_KIND] = {"kind", AVRO_ENUM, AVRO_NULL, 1},
    [JD_TF_RULE_ID] = {"rule_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_RULE_VERSION] = {"rule_version", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_SEVERITY] = {"severity", AVRO_ENUM, AVRO_NULL, 1},
    [JD_TF_PLAY] = {"play", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_SEGMENT] = {"segment", AVRO_UNION, AVRO_STRING, 1},
    [JD_TF_FIRED_AT] = {"fired_at", AVRO_INT64, AVRO_NULL, 1},
    [JD_TF_EVIDENCE] = {"evidence", AVRO_MAP, AVRO_DOUBLE, 1},
    [JD_TF_REASON] = {"reason", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_SOURCE_TOPIC] = {"source_topic", AVRO_STRING, AVRO_NULL, 1},
    [JD_TF_SOURCE_PARTITION] = {"source_partition", AVRO_INT32, AVRO_NULL, 1},
    [JD_TF_SOURCE_OFFSET] = {"source_offset", AVRO_INT64, AVRO_NULL, 1},
    [JD_TF_STATUS] = {"status", AVRO_ENUM, AVRO_NULL, 1},
    [JD_TF_PRIORITY] = {"priority", AVRO_INT32, AVRO_NULL, 1},
    [JD_TF_OWNER] = {"owner", AVRO_UNION, AVRO_STRING, 1},
    [JD_TF_CHANNEL] = {"channel", AVRO_UNION, AVRO_STRING, 1},
    [JD_TF_LEVEL] = {"level", AVRO_UNION, AVRO_STRING, 1},
    [JD_TF_SHADOW] = {"shadow", AVRO_BOOLEAN, AVRO_NULL, 1},
};

const char *jd_codec_product_schema_json(void)
{
    return jd_product_event_avsc;
}

const char *jd_codec_trigger_schema_json(void)
{
    return jd_trigger_event_avsc;
}

void jd_buf_free(jd_buf_t *b)
{
    if (!b)
        return;
    free(b->b_data);
    b->b_data = NULL;
    b->b_len = 0;
    b->b_cap = 0;
}

/* ---- allocation guard ---------------------------------------------------- */

static atomic_uint_fast64_t jd_codec_refused;
static pthread_once_t jd_codec_once = PTHREAD_ONCE_INIT;

/* avro_allocator_t: realloc semantics; nsize == 0 frees and returns NULL.
 * A refused request leaves `ptr` untouched, like a failed realloc. */
static void *jd_codec_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > JD_CODEC_ALLOC_CAP) {
        atomic_fetch_add_explicit(&jd_codec_refused, 1, memory_order_relaxed);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static void jd_codec_install(void)
{
    avro_set_allocator(jd_codec_alloc, NULL);
}

void jd__codec_init(void)
{
    pthread_once(&jd_codec_once, jd_codec_install);
}

uint64_t jd__codec_alloc_refused(void)
{
    return atomic_load_explicit(&jd_codec_refused, memory_order_relaxed);
}

/* ---- schemas ------------------------------------------------------------- */

int jd__codec_schema_parse(const char *json, size_t len, const char *what,
                           avro_schema_t *out, jd_err_t *err)
{
    *out = NULL;
    if (!json)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA, "%s: no schema text",
                          what);
    if (avro_schema_from_json_length(json, len, out) != 0) {
        *out = NULL;
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "%s: invalid Avro schema: %s", what, avro_strerror());
    }
    if (!is_avro_record(*out)) {
        avro_schema_decref(*out);
        *out = NULL;
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "%s: top-level schema is not a record", what);
    }
    return 0;
}

/* True when `s` has the shape `fs` describes (unions must be exactly
 * ["null", X], in that order, as in our schemas). */
static int jd_codec_shape_ok(avro_schema_t s, const jd_field_spec_t *fs)
{
    if (avro_typeof(s) != fs->fs_type)
        return 0;
    if (fs->fs_type == AVRO_MAP)
        return avro_typeof(avro_schema_map_values(s)) == fs->fs_inner;
    if (fs->fs_type == AVRO_UNION)
        return avro_schema_union_size(s) == 2 &&
               is_avro_null(avro_schema_union_branch(s, 0)) &&
               avro_typeof(avro_schema_union_branch(s, 1)) == fs->fs_inner;
    return 1;
}

int jd__codec_index(avro_schema_t rec, const jd_field_spec_t *spec,
                    size_t n, int *idx, const char *what, jd_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const jd_field_spec_t *fs = &spec[i];
        idx[i] = avro_schema_record_field_get_index(rec, fs->fs_name);
        if (idx[i] < 0) {
            if (!fs->fs_required)
                continue;
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "%s: required field '%s' is missing", what,
                              fs->fs_name);
        }
        avro_schema_t fsch = avro_schema_record_field_get_by_index(rec, idx[i]);
        if (!jd_codec_shape_ok(fsch, fs))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "%s: field '%s' has unexpected type %s", what,
                              fs->fs_name, avro_schema_type_name(fsch));
    }
    return 0;
}

int jd__codec_value_new(avro_schema_t schema, avro_value_iface_t **cls,
                        avro_value_t *val, jd_err_t *err)
{
    *cls = avro_generic_class_from_schema(schema);
    if (!*cls)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "cannot build a value class: %s", avro_strerror());
    if (avro_generic_value_new(*cls, val) != 0) {
        avro_value_iface_decref(*cls);
        *cls = NULL;
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "cannot allocate a value: %s", avro_strerror());
    }
    return 0;
}

int jd__codec_rec_open(jd_codec_rec_t *rec, const char *json, size_t len,
                       const char *what, const jd_field_spec_t *spec,
                       size_t n, int *idx, jd_err_t *err)
{
    int rc;
    if ((rc = jd__codec_schema_parse(json, len, what, &rec->cr_schema, err)) ||
        (rc = jd__codec_index(rec->cr_schema, spec, n, idx, what, err)))
        return rc;
    return jd__codec_value_new(rec->cr_schema, &rec->cr_class, &rec->cr_val,
                               err);
}

void jd__codec_rec_close(jd_codec_rec_t *rec)
{
    if (rec->cr_val.iface)
        avro_value_decref(&rec->cr_val);
    if (rec->cr_class)
        avro_value_iface_decref(rec->cr_class);
    if (rec->cr_schema)
        avro_schema_decref(rec->cr_schema);
    memset(rec, 0, sizeof *rec);
}

int jd__codec_io_open(jd_codec_io_t *io, jd_err_t *err)
{
    io->io_out = avro_writer_memory("", 0);
    io->io_in = avro_reader_memory("", 0);
    if (!io->io_out || !io->io_in)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "cannot allocate avro I/O");
    return 0;
}

void jd__codec_io_close(jd_codec_io_t *io)
{
    if (io->io_out)
        avro_writer_free(io->io_out);
    if (io->io_in)
        avro_reader_free(io->io_in);
    io->io_out = NULL;
    io->io_in = NULL;
}

/* ---- reading, writing and framing ---------------------------------------- */

/* The scan (jd_prog_scan) guarantees avro-c never meets a short read,
 * which is where it leaks; it also finds trailing bytes. The skip after the read
 * double-checks that avro-c stopped where the scan did (avro-c has no
 * "bytes left" query: avro_reader_is_eof always answers 0 for memory
 * readers), so a disagreement between the two can never pass silently. */
int jd__codec_read(avro_reader_t in, avro_value_t *val, avro_schema_t schema,
                   const jd_prog_t *scan, const void *buf, size_t len,
                   const char *what, jd_err_t *err)
{
    jd_prog_t *own = NULL;
    int rc = scan ? 0 : jd_prog_compile_scan(schema, &own, err);
    if (!rc)
        rc = jd_prog_scan(scan ? scan : own, buf, len, err);
    jd_prog_destroy(own);
    if (rc) {
        jd_err_prefix(err, "%s", what);
        return rc;
    }
    avro_set_error("%s", "");
    avro_reader_memory_set_source(in, (const char *)buf, (int64_t)len);
    if (avro_value_read(in, val) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MALFORMED,
                          "%s: Avro binary does not decode: %s", what,
                          avro_strerror());
    if (avro_skip(in, 1) == 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TRAILING_BYTES,
                          "%s: decoded record is followed by extra bytes",
                          what);
    return 0;
}

int jd__codec_write(avro_writer_t w, avro_value_t *v, int32_t id,
                    jd_buf_t *out, const char *what, jd_err_t *err)
{
    size_t hdr = id >= 0 ? JD_CODEC_FRAME_LEN : 0, body = 0;
    int rc;

    out->b_len = 0;
    if (avro_value_sizeof(v, &body) != 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot size %s: %s", what, avro_strerror());
    if ((rc = jd__codec_buf_reserve(out, hdr + body, err)))
        return rc;
    if (hdr)
        jd__codec_frame_put(out->b_data, id);
    avro_writer_memory_set_dest(w, (const char *)out->b_data + hdr,
                                (int64_t)body);
    if (avro_value_write(w, v) != 0 || avro_writer_tell(w) != (int64_t)body)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot write %s: %s", what, avro_strerror());
    out->b_len = hdr + body;
    return 0;
}

int jd__codec_buf_reserve(jd_buf_t *b, size_t need, jd_err_t *err)
{
    if (need <= b->b_cap)
        return 0;
    size_t cap = b->b_cap ? b->b_cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *p = realloc(b->b_data, cap);
    if (!p)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "cannot grow output buffer to %zu bytes", cap);
    b->b_data = p;
    b->b_cap = cap;
    return 0;
}

void jd__codec_frame_put(unsigned char *p, int32_t id)
{
    uint32_t u = (uint32_t)id;
    p[0] = 0x00;
    p[1] = (unsigned char)(u >> 24);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 8);
    p[4] = (unsigned char)u;
}

int32_t jd__codec_frame_id(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 8 | (uint32_t)p[4];
    return (int32_t)u;
}
