/*
 * jd_stage: the journey stage event (schemas/journey_stage.avsc) as a plain
 * C struct with fixed-size storage, its deterministic id, and its Avro
 * codec (encode, and decode for the outbox, tests and tools).
 *
 * The codec is an object of its own (jd_stage_codec_t) over the shared
 * codec internals (jd_codec_int.h): the same schema parsing, structural
 * scan, allocation guard and Confluent framing as product events and
 * triggers. Strings longer than their buffer are cut at a UTF-8 character
 * boundary when decoding.
 *
 * Threads: one codec per thread. Ownership is stated per function.
 */
#ifndef JD_STAGE_H
#define JD_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "jd_codec.h"
#include "jd_err.h"
#include "jd_trigger.h"

#define JD_STAGE_ID_LEN      32   /* hex chars of an event_id */
#define JD_STAGE_NAME_MAX    32
#define JD_STAGE_EVIDENCE_MAX 16

typedef struct jd_stage_event {
    char          se_id[JD_STAGE_ID_LEN + 1];
    char          se_account[JD_TRIGGER_STR_MAX];
    int64_t       se_sequence;       /* 1, 2, ... per account */
    char          se_stage[JD_STAGE_NAME_MAX];
    char          se_previous[JD_STAGE_NAME_MAX];
    int           se_has_previous;
    int64_t       se_changed_at;     /* ms, event time */
    char          se_cause[JD_STAGE_NAME_MAX];
    int64_t       se_cause_at;       /* valid when se_has_cause_at */
    int           se_has_cause_at;
    char          se_segment[JD_TRIGGER_STR_MAX];
    int           se_has_segment;
    size_t        se_evidence_cnt;
    jd_evidence_t se_evidence[JD_STAGE_EVIDENCE_MAX];
    char          se_source_topic[JD_TRIGGER_STR_MAX];
    int32_t       se_source_partition;
    int64_t       se_source_offset;
} jd_stage_event_t;

/* Deterministic event id: 32 hex chars of XXH3-128 over account, sequence,
 * stage and changed_at (decimals). Writes JD_STAGE_ID_LEN+1 bytes. */
void jd_stage_event_make_id(char *out, const char *account, int64_t sequence,
                            const char *stage, int64_t changed_at);

/* Embedded copy of schemas/journey_stage.avsc. */
const char *jd_stage_schema_json(void);

typedef struct jd_stage_codec jd_stage_codec_t;

/* Returns NULL with err set (JD_E_SCHEMA, JD_E_NOMEM) on failure. */
jd_stage_codec_t *jd_stage_codec_new(jd_err_t *err);
void jd_stage_codec_destroy(jd_stage_codec_t *sc);

/* Encodes se, replacing out's content; schema_id >= 0 adds Confluent
 * framing with that id, < 0 writes plain Avro. JD_ERR_FATAL on an
 * internal error (evidence count out of range, avro-c failure). */
int jd_stage_encode(jd_stage_codec_t *sc, const jd_stage_event_t *se,
                    int32_t schema_id, jd_buf_t *out, jd_err_t *err);

/* Decodes a stage event (framed or plain, told apart by a leading 0x00).
 * JD_ERR_SKIP on malformed input (se is then zeroed). */
int jd_stage_decode(jd_stage_codec_t *sc, const void *buf, size_t len,
                    jd_stage_event_t *se, jd_err_t *err);

#endif
