/*
 * jd_decode_int.h: the decoder's internals shared by jd_decode.c (schema
 * table, framing, the fast path) and jd_decode_generic.c (fields read from
 * avro-c's generic values). Private to schemas/.
 */
#ifndef JD_DECODE_INT_H
#define JD_DECODE_INT_H

#include "jd_codec_int.h"
#include "jd_idmap.h"
#include "jd_prog.h"

typedef struct jd_wschema {
    int32_t             ws_id;
    avro_schema_t       ws_writer;   /* NULL for the plain entry */
    avro_schema_t       ws_reader;   /* reader schema, or its subset */
    avro_value_iface_t *ws_class;    /* generic class of ws_reader */
    avro_value_t        ws_value;    /* decoded record, reused */
    avro_value_iface_t *ws_resolver; /* NULL: read straight into ws_value */
    avro_value_t        ws_resolved; /* wraps ws_value, reused */
    size_t              ws_fed;      /* bytes read through ws_resolved */
    int                 ws_mapped;   /* an upstream record: jd_mapping */
    jd_prog_t          *ws_prog;     /* fast path, or NULL: generic */
    jd_prog_t          *ws_scan;     /* generic path: the pre-read scan */
    int                 ws_fetched;  /* from the fetch source: evictable */
    uint64_t            ws_seq;      /* order of fetching, for eviction */
    jd_err_t           *ws_refused;  /* the schema text was refused: why */
    int                 ws_idx[JD_PF__COUNT]; /* -1: absent, use default */
} jd_wschema_t;

struct jd_decoder {
    jd_wire_t      dc_wire;
    jd_limits_t    dc_lim;
    avro_schema_t  dc_reader;  /* product_event.avsc */
    avro_reader_t  dc_in;      /* memory reader, re-pointed per message */
    jd_wschema_t   dc_plain;   /* plain Avro = the reader schema itself */
    int32_t        dc_plain_id; /* or, >= 0: plain Avro is this id's writer */
    jd_wschema_t **dc_ws;      /* registered Confluent ids */
    size_t         dc_ws_cnt;
    size_t         dc_ws_cap;
    jd_idmap_t     dc_idx;     /* id -> dc_ws entry */
    size_t         dc_fetched; /* entries with ws_fetched */
    size_t         dc_fetched_max;
    uint64_t       dc_seq;
    jd_schema_fetch_fn dc_fetch; /* unknown ids, or NULL */
    const jd_mapping_t *dc_mapping; /* other records, or NULL */
    void          *dc_fetch_opaque;
    jd_prog_state_t dc_ps;     /* scratch of the fast path */
    int            dc_generic; /* tests: always avro-c's generic reader */
    uint64_t       dc_generic_count; /* messages read by avro-c's generic reader */
};

/* The generic path's field extraction from ws->ws_value, checked against
 * the limits in reader field order (jd_decode_generic.c). */
int jd__decode_fields(const jd_decoder_t *dec, const jd_wschema_t *ws,
                      jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

#endif
