/*
 * jd_stage: the journey stage event codec (contract in jd_stage.h).
 *
 * Built like the trigger half of jd_encode.c: one generic avro-c value of
 * journey_stage.avsc, created once and reset before each use; sizes come
 * from avro_value_sizeof() so the output buffer grows once to the exact
 * size; field positions are looked up by name at construction (and their
 * types checked), so reordering the schema's fields needs no code change.
 * Decoding goes through the structural scan and allocation guard of
 * jd_codec.c like every other input.
 *
 * The event id is frozen like the trigger id (jd_trigger_hash_id): XXH3-128
 * (seed 0) over account_id 0x1f decimal(sequence) 0x1f stage 0x1f
 * decimal(changed_at), 32 lowercase hex digits, high 64 bits first. The
 * sequence is there because (account, stage, changed_at) alone is not
 * unique: with shuffled input a late account_updated can move an account
 * out of a stage and back without its as-of instant moving, and a
 * downstream de-duplication on such an id would drop a real change. A
 * replay reads the stored sequence, so it re-sends the same id.
 *
 * Thread: one codec per thread.
 */
#include "jd_stage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec_int.h"
#include "journey_stage_avsc.h"

typedef enum jd_sf {
    JD_SF_EVENT_ID,
    JD_SF_ACCOUNT_ID,
    JD_SF_SEQUENCE,
    JD_SF_STAGE,
    JD_SF_PREVIOUS,
    JD_SF_CHANGED_AT,
    JD_SF_CAUSE,
    JD_SF_CAUSE_AT,
    JD_SF_SEGMENT,
    JD_SF_EVIDENCE,
    JD_SF_SOURCE_TOPIC,
    JD_SF_SOURCE_PARTITION,
    JD_SF_SOURCE_OFFSET,
    JD_SF__COUNT
} jd_sf_t;

static const jd_field_spec_t jd_stage_spec[JD_SF__COUNT] = {
    [JD_SF_EVENT_ID] = {"event_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_SF_ACCOUNT_ID] = {"account_id", AVRO_STRING, AVRO_NULL, 1},
    [JD_SF_SEQUENCE] = {"sequence", AVRO_INT64, AVRO_NULL, 1},
    [JD_SF_STAGE] = {"stage", AVRO_STRING, AVRO_NULL, 1},
    [JD_SF_PREVIOUS] = {"previous_stage", AVRO_UNION, AVRO_STRING, 1},
    [JD_SF_CHANGED_AT] = {"changed_at", AVRO_INT64, AVRO_NULL, 1},
    [JD_SF_CAUSE] = {"cause", AVRO_STRING, AVRO_NULL, 1},
    [JD_SF_CAUSE_AT] = {"cause_at", AVRO_UNION, AVRO_INT64, 1},
    [JD_SF_SEGMENT] = {"segment", AVRO_UNION, AVRO_STRING, 1},
    [JD_SF_EVIDENCE] = {"evidence", AVRO_MAP, AVRO_DOUBLE, 1},
    [JD_SF_SOURCE_TOPIC] = {"source_topic", AVRO_STRING, AVRO_NULL, 1},
    [JD_SF_SOURCE_PARTITION] = {"source_partition", AVRO_INT32, AVRO_NULL, 1},
    [JD_SF_SOURCE_OFFSET] = {"source_offset", AVRO_INT64, AVRO_NULL, 1},
};

struct jd_stage_codec {
    jd_codec_rec_t sc_rec;
    int            sc_idx[JD_SF__COUNT];
    jd_codec_io_t  sc_io;
};

_Static_assert(JD_STAGE_ID_LEN == JD_TRIGGER_ID_LEN, "stage ids are made like trigger ids");

void jd_stage_event_make_id(char *out, const char *account, int64_t sequence,
                            const char *stage, int64_t changed_at)
{
    char num[24], seq[24];
    snprintf(num, sizeof num, "%" PRId64, changed_at);
    snprintf(seq, sizeof seq, "%" PRId64, sequence);
    const char *parts[] = {account, seq, stage, num};
    jd_trigger_hash_id(out, parts, 4);
}

const char *jd_stage_schema_json(void)
{
    return jd_journey_stage_avsc;
}

jd_stage_codec_t *jd_stage_codec_new(jd_err_t *err)
{
    jd_stage_codec_t *sc;

    jd__codec_init();
    if (!(sc = calloc(1, sizeof *sc))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate stage codec");
        return NULL;
    }
    if (jd__codec_rec_open(&sc->sc_rec, jd_journey_stage_avsc,
                           sizeof jd_journey_stage_avsc - 1, "journey_stage.avsc",
                           jd_stage_spec, JD_SF__COUNT, sc->sc_idx, err) ||
        jd__codec_io_open(&sc->sc_io, err)) {
        jd_stage_codec_destroy(sc);
        return NULL;
    }
    return sc;
}

void jd_stage_codec_destroy(jd_stage_codec_t *sc)
{
    if (!sc)
        return;
    jd__codec_rec_close(&sc->sc_rec);
    jd__codec_io_close(&sc->sc_io);
    free(sc);
}

/* ---- encoding ---------------------------------------------------------- */

static int jd_stage_field(jd_stage_codec_t *sc, jd_sf_t f, avro_value_t *out)
{
    return avro_value_get_by_index(&sc->sc_rec.cr_val, (size_t)sc->sc_idx[f], out, NULL);
}

static int jd_stage_set_str(jd_stage_codec_t *sc, jd_sf_t f, const char *s)
{
    avro_value_t v;
    return jd_stage_field(sc, f, &v) || avro_value_set_string(&v, s);
}

static int jd_stage_set_long(jd_stage_codec_t *sc, jd_sf_t f, int64_t l)
{
    avro_value_t v;
    return jd_stage_field(sc, f, &v) || avro_value_set_long(&v, l);
}

/* A ["null", X] field: !has selects the null branch. */
static int jd_stage_set_opt(jd_stage_codec_t *sc, jd_sf_t f, int has,
                            const char *s, int64_t l)
{
    avro_value_t u, b;
    if (jd_stage_field(sc, f, &u) || avro_value_set_branch(&u, has ? 1 : 0, &b))
        return 1;
    if (!has)
        return avro_value_set_null(&b);
    return s ? avro_value_set_string(&b, s) : avro_value_set_long(&b, l);
}

static int jd_stage_set_rest(jd_stage_codec_t *sc, const jd_stage_event_t *se)
{
    avro_value_t map, child, part;
    if (jd_stage_field(sc, JD_SF_EVIDENCE, &map))
        return 1;
    for (size_t i = 0; i < se->se_evidence_cnt; i++)
        if (avro_value_add(&map, se->se_evidence[i].evd_name, &child, NULL, NULL) ||
            avro_value_set_double(&child, se->se_evidence[i].evd_value))
            return 1;
    return jd_stage_field(sc, JD_SF_SOURCE_PARTITION, &part) ||
           avro_value_set_int(&part, se->se_source_partition);
}

int jd_stage_encode(jd_stage_codec_t *sc, const jd_stage_event_t *se,
                    int32_t schema_id, jd_buf_t *out, jd_err_t *err)
{
    if (se->se_evidence_cnt > JD_STAGE_EVIDENCE_MAX)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "stage event: %zu evidence entries", se->se_evidence_cnt);
    int bad = avro_value_reset(&sc->sc_rec.cr_val) ||
              jd_stage_set_str(sc, JD_SF_EVENT_ID, se->se_id) ||
              jd_stage_set_str(sc, JD_SF_ACCOUNT_ID, se->se_account) ||
              jd_stage_set_long(sc, JD_SF_SEQUENCE, se->se_sequence) ||
              jd_stage_set_str(sc, JD_SF_STAGE, se->se_stage) ||
              jd_stage_set_opt(sc, JD_SF_PREVIOUS, se->se_has_previous,
                               se->se_previous, 0) ||
              jd_stage_set_long(sc, JD_SF_CHANGED_AT, se->se_changed_at) ||
              jd_stage_set_str(sc, JD_SF_CAUSE, se->se_cause) ||
              jd_stage_set_opt(sc, JD_SF_CAUSE_AT, se->se_has_cause_at, NULL,
                               se->se_cause_at) ||
              jd_stage_set_opt(sc, JD_SF_SEGMENT, se->se_has_segment,
                               se->se_segment, 0) ||
              jd_stage_set_str(sc, JD_SF_SOURCE_TOPIC, se->se_source_topic) ||
              jd_stage_set_long(sc, JD_SF_SOURCE_OFFSET, se->se_source_offset) ||
              jd_stage_set_rest(sc, se);
    if (bad)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL,
                          "cannot fill stage event: %s", avro_strerror());
    return jd__codec_write(sc->sc_io.io_out, &sc->sc_rec.cr_val, schema_id, out,
                           "stage event", err);
}

/* ---- decoding ---------------------------------------------------------- */

/* Copies s into dst[cap], cut at a UTF-8 character boundary. */
static void jd_stage_copy(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int jd_stage_get_str(avro_value_t *v, char *dst, size_t cap)
{
    const char *s = NULL;
    size_t size;
    if (avro_value_get_string(v, &s, &size) || !s)
        return 1;
    jd_stage_copy(dst, cap, s);
    return 0;
}

static int jd_stage_get_field_str(jd_stage_codec_t *sc, jd_sf_t f, char *dst,
                                  size_t cap)
{
    avro_value_t v;
    return jd_stage_field(sc, f, &v) || jd_stage_get_str(&v, dst, cap);
}

/* A ["null", X] field into (has, string) or (has, long). */
static int jd_stage_get_opt(jd_stage_codec_t *sc, jd_sf_t f, int *has,
                            char *dst, size_t cap, int64_t *l)
{
    avro_value_t u, b;
    int disc;
    if (jd_stage_field(sc, f, &u) || avro_value_get_discriminant(&u, &disc))
        return 1;
    *has = disc == 1;
    if (!*has)
        return 0;
    if (avro_value_get_current_branch(&u, &b))
        return 1;
    return dst ? jd_stage_get_str(&b, dst, cap) : avro_value_get_long(&b, l);
}

static int jd_stage_get_evidence(jd_stage_codec_t *sc, jd_stage_event_t *se)
{
    avro_value_t map, child;
    size_t n;
    if (jd_stage_field(sc, JD_SF_EVIDENCE, &map) || avro_value_get_size(&map, &n) ||
        n > JD_STAGE_EVIDENCE_MAX)
        return 1;
    for (size_t i = 0; i < n; i++) {
        const char *key = NULL;
        if (avro_value_get_by_index(&map, i, &child, &key) || !key ||
            avro_value_get_double(&child, &se->se_evidence[i].evd_value))
            return 1;
        jd_stage_copy(se->se_evidence[i].evd_name,
                      sizeof se->se_evidence[i].evd_name, key);
    }
    se->se_evidence_cnt = n;
    return 0;
}

static int jd_stage_get_all(jd_stage_codec_t *sc, jd_stage_event_t *se)
{
    avro_value_t v;
    return jd_stage_get_field_str(sc, JD_SF_EVENT_ID, se->se_id, sizeof se->se_id) ||
           jd_stage_get_field_str(sc, JD_SF_ACCOUNT_ID, se->se_account,
                                  sizeof se->se_account) ||
           jd_stage_field(sc, JD_SF_SEQUENCE, &v) ||
           avro_value_get_long(&v, &se->se_sequence) ||
           jd_stage_get_field_str(sc, JD_SF_STAGE, se->se_stage, sizeof se->se_stage) ||
           jd_stage_get_opt(sc, JD_SF_PREVIOUS, &se->se_has_previous,
                            se->se_previous, sizeof se->se_previous, NULL) ||
           jd_stage_field(sc, JD_SF_CHANGED_AT, &v) ||
           avro_value_get_long(&v, &se->se_changed_at) ||
           jd_stage_get_field_str(sc, JD_SF_CAUSE, se->se_cause, sizeof se->se_cause) ||
           jd_stage_get_opt(sc, JD_SF_CAUSE_AT, &se->se_has_cause_at, NULL, 0,
                            &se->se_cause_at) ||
           jd_stage_get_opt(sc, JD_SF_SEGMENT, &se->se_has_segment,
                            se->se_segment, sizeof se->se_segment, NULL) ||
           jd_stage_get_evidence(sc, se) ||
           jd_stage_get_field_str(sc, JD_SF_SOURCE_TOPIC, se->se_source_topic,
                                  sizeof se->se_source_topic) ||
           jd_stage_field(sc, JD_SF_SOURCE_PARTITION, &v) ||
           avro_value_get_int(&v, &se->se_source_partition) ||
           jd_stage_field(sc, JD_SF_SOURCE_OFFSET, &v) ||
           avro_value_get_long(&v, &se->se_source_offset);
}

int jd_stage_decode(jd_stage_codec_t *sc, const void *buf, size_t len,
                    jd_stage_event_t *se, jd_err_t *err)
{
    const unsigned char *p = buf;
    size_t off = 0;
    int rc;

    memset(se, 0, sizeof *se);
    if (!buf || len == 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_EMPTY, "empty stage event");
    if (p[0] == 0x00) {
        if (len < JD_CODEC_FRAME_LEN)
            return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_MAGIC,
                              "Confluent frame of %zu bytes is shorter than "
                              "its 5-byte header", len);
        off = JD_CODEC_FRAME_LEN;
    }
    if ((rc = jd__codec_read(sc->sc_io.io_in, &sc->sc_rec.cr_val, sc->sc_rec.cr_schema, NULL, p + off,
                             len - off, "stage event", err)))
        return rc;
    if (jd_stage_get_all(sc, se)) {
        memset(se, 0, sizeof *se);
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "stage event: cannot read its fields");
    }
    return 0;
}
