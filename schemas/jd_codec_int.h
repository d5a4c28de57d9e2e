/*
 * jd_codec_int.h: internals shared by jd_codec.c (common), jd_decode.c
 * (product-event decoder), jd_encode.c (encoder, trigger decoder) and
 * jd_stage.c (stage event codec).
 * Not part of the public API: only schemas/ and the codec tests include it.
 * Names are jd__codec_* (double underscore = private to the module).
 */
#ifndef JD_CODEC_INT_H
#define JD_CODEC_INT_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_codec.h"

/* Largest single allocation avro-c may make once the guard is installed.
 * Far above anything a bounded message needs (1 MiB by default), far below
 * what makes ASan abort or the kernel OOM-kill us. */
#define JD_CODEC_ALLOC_CAP ((size_t)64 << 20)

/* Confluent framing: magic byte 0x00 + big-endian int32 schema id. */
#define JD_CODEC_FRAME_LEN 5

/* Fields of product_event.avsc that the codec reads or writes. */
typedef enum jd_pf {
    JD_PF_EVENT_ID,
    JD_PF_ACCOUNT_ID,
    JD_PF_USER_ID,
    JD_PF_TYPE,
    JD_PF_FEATURE,
    JD_PF_OCCURRED_AT,
    JD_PF_VALUE,
    JD_PF_ATTRIBUTES,
    JD_PF__COUNT
} jd_pf_t;

/* Fields of trigger_event.avsc, in schema order. */
typedef enum jd_tf {
    JD_TF_TRIGGER_ID,
    JD_TF_ACCOUNT_ID,
    JD_TF_KIND,
    JD_TF_RULE_ID,
    JD_TF_RULE_VERSION,
    JD_TF_SEVERITY,
    JD_TF_PLAY,
    JD_TF_SEGMENT,
    JD_TF_FIRED_AT,
    JD_TF_EVIDENCE,
    JD_TF_REASON,
    JD_TF_SOURCE_TOPIC,
    JD_TF_SOURCE_PARTITION,
    JD_TF_SOURCE_OFFSET,
    JD_TF_STATUS,
    JD_TF_PRIORITY,
    JD_TF_OWNER,
    JD_TF_CHANNEL,
    JD_TF_LEVEL,
    JD_TF_SHADOW,
    JD_TF__COUNT
} jd_tf_t;

/* Expected shape of one field. `fs_inner` is the value type of a map or
 * the non-null branch of a ["null", X] union (ignored otherwise).
 * `fs_required` fields must be present in every writer schema; the others
 * have defaults in the reader schema (null, or {} for maps). */
typedef struct jd_field_spec {
    const char *fs_name;
    avro_type_t fs_type;
    avro_type_t fs_inner;
    int         fs_required;
} jd_field_spec_t;

extern const jd_field_spec_t jd__codec_pf_spec[JD_PF__COUNT];
extern const jd_field_spec_t jd__codec_tf_spec[JD_TF__COUNT];

/* Installs the avro-c allocation guard (once per process; idempotent and
 * thread-safe). Called by jd_decoder_new and jd_encoder_new. */
void jd__codec_init(void);

/* Number of allocations the guard has refused since start-up. */
uint64_t jd__codec_alloc_refused(void);

/* Parses schema JSON. JD_ERR_FATAL/JD_E_SCHEMA naming `what` on failure. */
int jd__codec_schema_parse(const char *json, size_t len, const char *what,
                           avro_schema_t *out, jd_err_t *err);

/* Looks up each field of `spec` in record schema `rec` and checks its
 * type. idx[i] is the field's index in `rec`, or -1 if the field is absent
 * and not required. JD_ERR_FATAL/JD_E_SCHEMA otherwise. */
int jd__codec_index(avro_schema_t rec, const jd_field_spec_t *spec,
                    size_t n, int *idx, const char *what, jd_err_t *err);

/* Creates a generic value of `schema` (owned by the caller: decref both). */
int jd__codec_value_new(avro_schema_t schema, avro_value_iface_t **cls,
                        avro_value_t *val, jd_err_t *err);

/* One record schema with a generic value of it, built once and reset
 * before each use (the encoder's product and trigger records, the stage
 * codec's record). All-zero means "not built". */
typedef struct jd_codec_rec {
    avro_schema_t       cr_schema;
    avro_value_iface_t *cr_class;
    avro_value_t        cr_val;
} jd_codec_rec_t;

/* Parses `json` (len bytes; `what` names it in errors), looks up the n
 * fields of `spec` into idx (jd__codec_index) and creates the value. On
 * failure what was built stays in rec: jd__codec_rec_close() frees it.
 * JD_ERR_FATAL (JD_E_SCHEMA, JD_E_NOMEM). */
int jd__codec_rec_open(jd_codec_rec_t *rec, const char *json, size_t len,
                       const char *what, const jd_field_spec_t *spec,
                       size_t n, int *idx, jd_err_t *err);

/* Frees what jd__codec_rec_open built (an all-zero rec is fine) and
 * zeroes rec. */
void jd__codec_rec_close(jd_codec_rec_t *rec);

/* A codec's memory writer and reader, re-pointed at each call's buffer. */
typedef struct jd_codec_io {
    avro_writer_t io_out;
    avro_reader_t io_in;
} jd_codec_io_t;

/* Creates both (JD_ERR_FATAL/JD_E_NOMEM); on failure jd__codec_io_close()
 * frees what was made. */
int jd__codec_io_open(jd_codec_io_t *io, jd_err_t *err);
void jd__codec_io_close(jd_codec_io_t *io);

/* Writes `v` as Avro binary into `out` (replacing its content) through
 * memory writer `w`, behind a Confluent header for `id` when id >= 0. The
 * buffer grows once, to the exact size. JD_ERR_FATAL (JD_E_INTERNAL naming
 * `what`, JD_E_NOMEM). */
int jd__codec_write(avro_writer_t w, avro_value_t *v, int32_t id,
                    jd_buf_t *out, const char *what, jd_err_t *err);

/* Scans `len` bytes against `schema` (the writer schema) with `scan`, its
 * scan program (jd_prog_scan), or - NULL - one compiled for this call,
 * then reads them into `val` through `in`. JD_ERR_SKIP with
 * JD_E_MALFORMED (avro-c's message after `what`), JD_E_WORK_LIMIT or
 * JD_E_TRAILING_BYTES. */
struct jd_prog;
int jd__codec_read(avro_reader_t in, avro_value_t *val, avro_schema_t schema,
                   const struct jd_prog *scan, const void *buf, size_t len,
                   const char *what, jd_err_t *err);

/* Length, NUL and UTF-8 checks of one string against lim (jd_decode.c);
 * `key` names the map entry of an attribute value, or NULL.
 * JD_ERR_SKIP with JD_E_OVERSIZE_FIELD or JD_E_BAD_UTF8 naming `field`. */
int jd__codec_check_str(const jd_limits_t *lim, const char *s, size_t n,
                        const char *field, const char *key, jd_err_t *err);

/* Tests: 1 makes `dec` decode every message with avro-c's generic
 * reader (the reference the fast path is compared with), 0 restores the
 * fast path. */
void jd__decoder_set_generic(jd_decoder_t *dec, int on);

/* Makes room for `need` bytes in `b` (keeps content). JD_E_NOMEM. */
int jd__codec_buf_reserve(jd_buf_t *b, size_t need, jd_err_t *err);

/* Writes the 5-byte Confluent header for `id` into `p`. */
void jd__codec_frame_put(unsigned char *p, int32_t id);

/* Reads the schema id of a Confluent header (p has >= 5 bytes). */
int32_t jd__codec_frame_id(const unsigned char *p);

#endif
