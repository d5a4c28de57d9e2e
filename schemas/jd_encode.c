/*
 * jd_encode: the encoder of jd_codec.h - product events (for producers,
 * tests and the bench) and trigger events (the outbound contract) to Avro
 * binary, plus the reverse for triggers (tests, the outbox, tools).
 *
 * One generic value per schema is built at construction and reset before
 * each use; sizes come from avro_value_sizeof(), so the output buffer is
 * grown once to the exact size and avro-c writes straight into it through
 * a reused memory writer. avro-c copies every string it is given
 * (avro_value_set_string), so encoding allocates inside avro-c; that is
 * fine for trigger volumes. The encoder does not apply the decoder's
 * limits: it encodes what it is given (an empty event_id included), which
 * lets tests craft invalid-but-well-formed messages.
 *
 * Trigger decoding copies into the fixed-size fields of jd_trigger_t,
 * cutting over-long strings at a UTF-8 character boundary; more evidence
 * entries than JD_EVIDENCE_MAX, or enum values out of range, are errors.
 * Input goes through the same scan and allocation guard as the decoder's.
 *
 * Thread: one encoder per thread.
 */
#include "jd_codec_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "product_event_avsc.h"
#include "trigger_event_avsc.h"

struct jd_encoder {
    jd_codec_rec_t en_ev;
    int            en_ev_idx[JD_PF__COUNT];
    jd_codec_rec_t en_tr;
    int            en_tr_idx[JD_TF__COUNT];
    jd_codec_io_t  en_io; /* writer re-pointed per call; reader for trigger decoding */
};

/* ---- construction -------------------------------------------------------- */

/* The Avro enums must list their symbols in jd_kind_t / jd_severity_t
 * order, since values travel as indexes. */
static int jd_encoder_check_enums(const jd_encoder_t *enc, jd_err_t *err)
{
    avro_schema_t r = enc->en_tr.cr_schema;
    avro_schema_t kind = avro_schema_record_field_get_by_index(
        r, enc->en_tr_idx[JD_TF_KIND]);
    avro_schema_t sev = avro_schema_record_field_get_by_index(
        r, enc->en_tr_idx[JD_TF_SEVERITY]);

    if (avro_schema_enum_number_of_symbols(kind) != JD_KIND__COUNT ||
        avro_schema_enum_number_of_symbols(sev) != JD_SEV__COUNT)
        goto bad;
    for (int k = 0; k < JD_KIND__COUNT; k++) {
        if (strcmp(avro_schema_enum_get(kind, k), jd_kind_symbol(k)) != 0)
            goto bad;
    }
    for (int s = 0; s < JD_SEV__COUNT; s++) {
        if (strcmp(avro_schema_enum_get(sev, s), jd_severity_symbol(s)) != 0)
            goto bad;
    }
    return 0;
bad:
    return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                      "trigger_event.avsc: kind/severity symbols do not match "
                      "jd_trigger.h");
}

static int jd_encoder_schemas(jd_encoder_t *enc, jd_err_t *err)
{
    int rc;
    if ((rc = jd__codec_rec_open(&enc->en_ev, jd_product_event_avsc,
                                 sizeof jd_product_event_avsc - 1,
                                 "product_event.avsc", jd__codec_pf_spec,
                                 JD_PF__COUNT, enc->en_ev_idx, err)) ||
        (rc = jd__codec_rec_open(&enc->en_tr, jd_trigger_event_avsc,
                                 sizeof jd_trigger_event_avsc - 1,
                                 "trigger_event.avsc", jd__codec_tf_spec,
                                 JD_TF__COUNT, enc->en_tr_idx, err)) ||
        (rc = jd_encoder_check_enums(enc, err)))
        return rc;
    for (int f = 0; f < JD_PF__COUNT; f++) {
        if (enc->en_ev_idx[f] < 0)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "product_event.avsc: field '%s' is missing",
                              jd__codec_pf_spec[f].fs_name);
    }
    return 0;
}

jd_encoder_t *jd_encoder_new(jd_err_t *err)
{
    jd_encoder_t *enc;

    jd__codec_init();
    if (!(enc = calloc(1, sizeof *enc))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate encoder");
        return NULL;
    }
    if (jd_encoder_schemas(enc, err) || jd__codec_io_open(&enc->en_io, err)) {
        jd_encoder_destroy(enc);
        return NULL;
    }
    return enc;
}

void jd_encoder_destroy(jd_encoder_t *enc)
{
    if (!enc)
        return;
    jd__codec_rec_close(&enc->en_ev);
    jd__codec_rec_close(&enc->en_tr);
    jd__codec_io_close(&enc->en_io);
    free(enc);
}

/* ---- setting fields ------------------------------------------------------ */
/* Each helper returns avro-c's status (0 or an errno value); the callers
 * OR them together and report one error, as any failure here means a
 * programming error (the schemas were checked at construction). */

static int jd_set_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t v;
    return avro_value_get_by_index(rec, (size_t)idx, &v, NULL) ||
           avro_value_set_string(&v, s);
}

static int jd_set_long(avro_value_t *rec, int idx, int64_t l)
{
    avro_value_t v;
    return avro_value_get_by_index(rec, (size_t)idx, &v, NULL) ||
           avro_value_set_long(&v, l);
}

/* A ["null", string] field: NULL selects the null branch. */
static int jd_set_opt_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t u, b;
    if (avro_value_get_by_index(rec, (size_t)idx, &u, NULL) ||
        avro_value_set_branch(&u, s ? 1 : 0, &b))
        return 1;
    return s ? avro_value_set_string(&b, s) : avro_value_set_null(&b);
}

static int jd_set_opt_double(avro_value_t *rec, int idx, int has, double d)
{
    avro_value_t u, b;
    if (avro_value_get_by_index(rec, (size_t)idx, &u, NULL) ||
        avro_value_set_branch(&u, has ? 1 : 0, &b))
        return 1;
    return has ? avro_value_set_double(&b, d) : avro_value_set_null(&b);
}

static int jd_set_enum(avro_value_t *rec, int idx, int sym)
{
    avro_value_t v;
    return avro_value_get_by_index(rec, (size_t)idx, &v, NULL) ||
           avro_value_set_enum(&v, sym);
}

static int jd_set_attrs(avro_value_t *rec, int idx, const jd_event_t *ev)
{
    avro_value_t map, child;
    if (avro_value_get_by_index(rec, (size_t)idx, &map, NULL))
        return 1;
    for (size_t i = 0; i < ev->ev_attr_cnt; i++) {
        const jd_attr_t *at = &ev->ev_attrs[i];
        if (avro_value_add(&map, at->at_key, &child, NULL, NULL) ||
            avro_value_set_string(&child, at->at_val))
            return 1;
    }
    return 0;
}

static int jd_set_evidence(avro_value_t *rec, int idx, const jd_trigger_t *tr)
{
    avro_value_t map, child;
    if (avro_value_get_by_index(rec, (size_t)idx, &map, NULL))
        return 1;
    for (size_t i = 0; i < tr->tr_evidence_cnt; i++) {
        if (avro_value_add(&map, tr->tr_evidence[i].evd_name, &child, NULL,
                           NULL) ||
            avro_value_set_double(&child, tr->tr_evidence[i].evd_value))
            return 1;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------- */

static int jd_encoder_check_event(const jd_event_t *ev, jd_err_t *err)
{
    const char *missing = !ev->ev_id ? "event_id"
                          : !ev->ev_account ? "account_id"
                          : !ev->ev_type_name ? "type" : NULL;
    if (missing)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "cannot encode: %s is NULL", missing);
    for (size_t i = 0; i < ev->ev_attr_cnt; i++) {
        if (!ev->ev_attrs[i].at_key || !ev->ev_attrs[i].at_val)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                              "cannot encode: attribute %zu has a NULL "
                              "key or value", i);
    }
    return 0;
}

int jd_encoder_event(jd_encoder_t *enc, const jd_event_t *ev,
                     int32_t schema_id, jd_buf_t *out, jd_err_t *err)
{
    avro_value_t *r = &enc->en_ev.cr_val;
    const int *ix = enc->en_ev_idx;
    int rc, bad;

    if ((rc = jd_encoder_check_event(ev, err)))
        return rc;
    bad = avro_value_reset(r) ||
          jd_set_str(r, ix[JD_PF_EVENT_ID], ev->ev_id) ||
          jd_set_str(r, ix[JD_PF_ACCOUNT_ID], ev->ev_account) ||
          jd_set_opt_str(r, ix[JD_PF_USER_ID], ev->ev_user) ||
          jd_set_str(r, ix[JD_PF_TYPE], ev->ev_type_name) ||
          jd_set_opt_str(r, ix[JD_PF_FEATURE], ev->ev_feature) ||
          jd_set_long(r, ix[JD_PF_OCCURRED_AT], ev->ev_occurred_at) ||
          jd_set_opt_double(r, ix[JD_PF_VALUE], ev->ev_has_value,
                            ev->ev_value) ||
          jd_set_attrs(r, ix[JD_PF_ATTRIBUTES], ev);
    if (bad)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot fill product event: %s", avro_strerror());
    return jd__codec_write(enc->en_io.io_out, r, schema_id, out, "record",
                           err);
}

int jd_encoder_trigger(jd_encoder_t *enc, const jd_trigger_t *tr,
                       int32_t schema_id, jd_buf_t *out, jd_err_t *err)
{
    avro_value_t *r = &enc->en_tr.cr_val;
    const int *ix = enc->en_tr_idx;

    if ((int)tr->tr_kind < 0 || tr->tr_kind >= JD_KIND__COUNT ||
        (int)tr->tr_severity < 0 || tr->tr_severity >= JD_SEV__COUNT ||
        tr->tr_evidence_cnt > JD_EVIDENCE_MAX)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot encode trigger: kind %d, severity %d or "
                          "evidence count %zu out of range", (int)tr->tr_kind,
                          (int)tr->tr_severity, tr->tr_evidence_cnt);
    int bad = avro_value_reset(r) ||
              jd_set_str(r, ix[JD_TF_TRIGGER_ID], tr->tr_id) ||
              jd_set_str(r, ix[JD_TF_ACCOUNT_ID], tr->tr_account) ||
              jd_set_enum(r, ix[JD_TF_KIND], (int)tr->tr_kind) ||
              jd_set_str(r, ix[JD_TF_RULE_ID], tr->tr_rule_id) ||
              jd_set_str(r, ix[JD_TF_RULE_VERSION], tr->tr_rule_version) ||
              jd_set_enum(r, ix[JD_TF_SEVERITY], (int)tr->tr_severity) ||
              jd_set_str(r, ix[JD_TF_PLAY], tr->tr_play) ||
              jd_set_opt_str(r, ix[JD_TF_SEGMENT],
                             tr->tr_has_segment ? tr->tr_segment : NULL) ||
              jd_set_long(r, ix[JD_TF_FIRED_AT], tr->tr_fired_at) ||
              jd_set_evidence(r, ix[JD_TF_EVIDENCE], tr) ||
              jd_set_str(r, ix[JD_TF_REASON], tr->tr_reason) ||
              jd_set_str(r, ix[JD_TF_SOURCE_TOPIC], tr->tr_source_topic) ||
              jd_set_long(r, ix[JD_TF_SOURCE_OFFSET], tr->tr_source_offset);
    avro_value_t part, prio, shadow;
    bad = bad ||
          avro_value_get_by_index(r, (size_t)ix[JD_TF_SOURCE_PARTITION], &part,
                                  NULL) ||
          avro_value_set_int(&part, tr->tr_source_partition) ||
          jd_set_enum(r, ix[JD_TF_STATUS], (int)tr->tr_status) ||
          avro_value_get_by_index(r, (size_t)ix[JD_TF_PRIORITY], &prio, NULL) ||
          avro_value_set_int(&prio, tr->tr_priority) ||
          jd_set_opt_str(r, ix[JD_TF_OWNER], tr->tr_owner[0] ? tr->tr_owner : NULL) ||
          jd_set_opt_str(r, ix[JD_TF_CHANNEL],
                         tr->tr_channel[0] ? tr->tr_channel : NULL) ||
          jd_set_opt_str(r, ix[JD_TF_LEVEL], tr->tr_level[0] ? tr->tr_level : NULL) ||
          avro_value_get_by_index(r, (size_t)ix[JD_TF_SHADOW], &shadow, NULL) ||
          avro_value_set_boolean(&shadow, tr->tr_shadow ? 1 : 0);
    if (bad)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot fill trigger: %s", avro_strerror());
    return jd__codec_write(enc->en_io.io_out, r, schema_id, out, "record",
                           err);
}

/* ---- trigger decoding ---------------------------------------------------- */

/* Copies a C string into dst[cap], cutting at a UTF-8 character boundary
 * when it does not fit. */
static void jd_copy_cut(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* s[n] would be a continuation byte: back off */
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int jd_get_field(avro_value_t *rec, const int *ix, jd_tf_t f,
                        avro_value_t *out)
{
    return avro_value_get_by_index(rec, (size_t)ix[f], out, NULL);
}

static int jd_get_str(avro_value_t *rec, const int *ix, jd_tf_t f, char *dst,
                      size_t cap)
{
    avro_value_t v;
    const char *s = NULL;
    size_t size;
    if (jd_get_field(rec, ix, f, &v) || avro_value_get_string(&v, &s, &size) ||
        !s)
        return 1;
    jd_copy_cut(dst, cap, s);
    return 0;
}

/* A ["null", string] field into dst[cap] ("" for null); *has (may be
 * NULL) tells whether it was a string. */
static int jd_get_opt_str(avro_value_t *rec, const int *ix, jd_tf_t f,
                          char *dst, size_t cap, int *has)
{
    avro_value_t u, b;
    int disc;
    const char *s = NULL;
    size_t size;
    if (jd_get_field(rec, ix, f, &u) || avro_value_get_discriminant(&u, &disc))
        return 1;
    if (has)
        *has = disc == 1;
    dst[0] = '\0';
    if (disc != 1)
        return 0;
    if (avro_value_get_current_branch(&u, &b) ||
        avro_value_get_string(&b, &s, &size) || !s)
        return 1;
    jd_copy_cut(dst, cap, s);
    return 0;
}

static int jd_get_segment(avro_value_t *rec, const int *ix, jd_trigger_t *tr)
{
    return jd_get_opt_str(rec, ix, JD_TF_SEGMENT, tr->tr_segment,
                          sizeof tr->tr_segment, &tr->tr_has_segment) ||
           jd_get_opt_str(rec, ix, JD_TF_OWNER, tr->tr_owner,
                          sizeof tr->tr_owner, NULL) ||
           jd_get_opt_str(rec, ix, JD_TF_CHANNEL, tr->tr_channel,
                          sizeof tr->tr_channel, NULL) ||
           jd_get_opt_str(rec, ix, JD_TF_LEVEL, tr->tr_level,
                          sizeof tr->tr_level, NULL);
}

static int jd_get_evidence(avro_value_t *rec, const int *ix, jd_trigger_t *tr,
                           jd_err_t *err)
{
    avro_value_t map, child;
    size_t n;
    if (jd_get_field(rec, ix, JD_TF_EVIDENCE, &map) ||
        avro_value_get_size(&map, &n))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "trigger: evidence is not a map");
    if (n > JD_EVIDENCE_MAX)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_MANY_ATTRS,
                          "trigger: %zu evidence entries, limit %d", n,
                          JD_EVIDENCE_MAX);
    for (size_t i = 0; i < n; i++) {
        jd_evidence_t *evd = &tr->tr_evidence[i];
        const char *key = NULL;
        if (avro_value_get_by_index(&map, i, &child, &key) || !key ||
            avro_value_get_double(&child, &evd->evd_value))
            return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                              "trigger: bad evidence entry %zu", i);
        jd_copy_cut(evd->evd_name, sizeof evd->evd_name, key);
    }
    tr->tr_evidence_cnt = n;
    return 0;
}

static int jd_get_scalars(avro_value_t *r, const int *ix, jd_trigger_t *tr,
                          jd_err_t *err)
{
    avro_value_t v;
    int kind = -1, sev = -1, status = -1, shadow = 0;
    int bad = jd_get_field(r, ix, JD_TF_STATUS, &v) || avro_value_get_enum(&v, &status) ||
              jd_get_field(r, ix, JD_TF_PRIORITY, &v) ||
              avro_value_get_int(&v, &tr->tr_priority) ||
              jd_get_field(r, ix, JD_TF_SHADOW, &v) ||
              avro_value_get_boolean(&v, &shadow) ||
              jd_get_field(r, ix, JD_TF_KIND, &v) || avro_value_get_enum(&v, &kind) ||
              jd_get_field(r, ix, JD_TF_SEVERITY, &v) || avro_value_get_enum(&v, &sev) ||
              jd_get_field(r, ix, JD_TF_FIRED_AT, &v) ||
              avro_value_get_long(&v, &tr->tr_fired_at) ||
              jd_get_field(r, ix, JD_TF_SOURCE_PARTITION, &v) ||
              avro_value_get_int(&v, &tr->tr_source_partition) ||
              jd_get_field(r, ix, JD_TF_SOURCE_OFFSET, &v) ||
              avro_value_get_long(&v, &tr->tr_source_offset);
    if (bad)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "trigger: cannot read scalar fields");
    tr->tr_shadow = shadow != 0;
    tr->tr_status = status == 1 ? JD_STATUS_RESOLVED : JD_STATUS_FIRED;
    if (kind < 0 || kind >= JD_KIND__COUNT || sev < 0 || sev >= JD_SEV__COUNT ||
        status < 0 || status > 1)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MALFORMED,
                          "trigger: kind %d or severity %d out of range", kind,
                          sev);
    tr->tr_kind = (jd_kind_t)kind;
    tr->tr_severity = (jd_severity_t)sev;
    return 0;
}

static int jd_encoder_trigger_fields(jd_encoder_t *enc, jd_trigger_t *tr,
                                     jd_err_t *err)
{
    avro_value_t *r = &enc->en_tr.cr_val;
    const int *ix = enc->en_tr_idx;
    int rc;
    int bad =
        jd_get_str(r, ix, JD_TF_TRIGGER_ID, tr->tr_id, sizeof tr->tr_id) ||
        jd_get_str(r, ix, JD_TF_ACCOUNT_ID, tr->tr_account, sizeof tr->tr_account) ||
        jd_get_str(r, ix, JD_TF_RULE_ID, tr->tr_rule_id, sizeof tr->tr_rule_id) ||
        jd_get_str(r, ix, JD_TF_RULE_VERSION, tr->tr_rule_version,
                   sizeof tr->tr_rule_version) ||
        jd_get_str(r, ix, JD_TF_PLAY, tr->tr_play, sizeof tr->tr_play) ||
        jd_get_str(r, ix, JD_TF_REASON, tr->tr_reason, sizeof tr->tr_reason) ||
        jd_get_str(r, ix, JD_TF_SOURCE_TOPIC, tr->tr_source_topic,
                   sizeof tr->tr_source_topic) ||
        jd_get_segment(r, ix, tr);
    if (bad)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "trigger: cannot read string fields");
    if ((rc = jd_get_scalars(r, ix, tr, err)))
        return rc;
    return jd_get_evidence(r, ix, tr, err);
}

int jd_encoder_trigger_decode(jd_encoder_t *enc, const void *buf, size_t len,
                              jd_trigger_t *tr, jd_err_t *err)
{
    const unsigned char *p = buf;
    size_t off = 0;
    int rc;

    memset(tr, 0, sizeof *tr);
    if (len == 0 || !buf)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_EMPTY, "empty trigger");
    if (p[0] == 0x00) {
        if (len < JD_CODEC_FRAME_LEN)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_MAGIC,
                              "Confluent frame of %zu bytes is shorter than "
                              "its 5-byte header", len);
        off = JD_CODEC_FRAME_LEN;
    }
    if ((rc = jd__codec_read(enc->en_io.io_in, &enc->en_tr.cr_val, enc->en_tr.cr_schema, NULL,
                             p + off, len - off, "trigger", err)) ||
        (rc = jd_encoder_trigger_fields(enc, tr, err))) {
        memset(tr, 0, sizeof *tr);
        return rc;
    }
    return 0;
}
