/*
 * jd_mapping: maps an upstream Avro record (any schema a data platform
 * already has, e.g. a Segment-style track event) onto journeyd's event
 * model (jd_event_t), as configured in the `mapping` section:
 *
 *   mapping.fields.<field>: PATH    event_id, account_id, user_id, type,
 *                                   feature, occurred_at, value, attributes
 *   mapping.default_account: TEXT   account when no account path has a value
 *   mapping.timestamp.unit: ms      s | ms | us | ns, for numeric timestamps
 *   mapping.timestamp.format: iso8601   or a strptime(3) format (UTC), for
 *                                   string timestamps
 *   mapping.events.<event name>.type: TYPE       event name -> journeyd type
 *   mapping.events.<event name>.feature: NAME    (and the feature it means)
 *   mapping.attributes.<name>: PATH  one more attribute from anywhere
 *
 * A PATH is dot-separated steps through records (by field name), maps (by
 * key) and unions (the branch present; a null branch ends the path with no
 * value). account_id may list several paths ("context.groupId,
 * properties.accountId"): the first with a value wins. `attributes` names a
 * map or record whose scalar entries become string attributes. Event names
 * without an entry in `events` are used as the type as they are.
 *
 * Values are converted: strings, numbers, booleans and enum symbols to
 * text; numbers and numeric strings to the double `value`; timestamps from
 * int/long/double (with the unit) or from text (with the format). The
 * result is checked against jd_limits_t like a decoded product event.
 *
 * Pure: no I/O, no logging. Ownership: jd_mapping_new() returns a mapping
 * freed by jd_mapping_destroy() (NULL accepted); extracted strings go to
 * the caller's arena. Read-only after configuration: any thread may
 * extract with it.
 */
#ifndef JD_MAPPING_H
#define JD_MAPPING_H

#include <avro.h>
#include <stdint.h>
#include <stdio.h>

#include "jd_arena.h"
#include "jd_err.h"
#include "jd_event.h"

typedef struct jd_mapping jd_mapping_t;

jd_mapping_t *jd_mapping_new(void);
void jd_mapping_destroy(jd_mapping_t *mp);

/* Sets one key, given without the "mapping." prefix ("fields.type",
 * "events.Report Exported.feature"). JD_ERR_FATAL/JD_E_CONFIG naming the
 * key when it is unknown or its value is bad. */
int jd_mapping_set(jd_mapping_t *mp, const char *key, const char *val, jd_err_t *err);

/* 1 when any mapping key was set (the mapping is in use). */
int jd_mapping_active(const jd_mapping_t *mp);

/* Checks a mapping in use is complete: event_id, type, occurred_at and
 * account_id (or default_account) are mapped. */
int jd_mapping_check(const jd_mapping_t *mp, jd_err_t *err);

/* Checks that the required paths can exist in writer schema `schema`
 * (`what` names it in the message). JD_ERR_FATAL/JD_E_SCHEMA otherwise. */
int jd_mapping_check_schema(const jd_mapping_t *mp, avro_schema_t schema, const char *what,
                            jd_err_t *err);

/* ---- the values extraction reads ----------------------------------------
 * Extraction reads one value per slot: a configured path. Slots are
 * numbered: the fields first (JD_MAP_SLOT_EVENT_ID .. JD_MAP_SLOT_ATTRIBUTES,
 * unmapped ones have no steps), then the account_id paths in order, then
 * the mapping.attributes entries in order. Both decode paths produce slot
 * values - avro-c's generic values (jd_mapping_extract) or the compiled
 * program (jd_prog_run_mapped) - and jd_mapping_fill turns them into the
 * event, so the two convert, check and fail alike. */

#define JD_MAP_MAX_STEPS 16         /* steps of one path */
#define JD_MAP_MAX_ACCOUNT_PATHS 4  /* paths of mapping.fields.account_id */
#define JD_MAP_MAX_ATTRS 48         /* mapping.attributes entries */
#define JD_MAP_SLOT_EVENT_ID 0
#define JD_MAP_SLOT_ATTRIBUTES 6    /* the container of mapping.fields.attributes */
#define JD_MAP_SLOT_ACCOUNT 7       /* the first account_id path */
#define JD_MAP_SLOTS_MAX (JD_MAP_SLOT_ACCOUNT + JD_MAP_MAX_ACCOUNT_PATHS + JD_MAP_MAX_ATTRS)

typedef enum jd_map_kind {
    JD_MV_NONE,   /* the path is absent or ends in null */
    JD_MV_STRING, /* mv_s, mv_n: the text (not NUL-terminated) */
    JD_MV_INT,    /* mv_l */
    JD_MV_LONG,   /* mv_l */
    JD_MV_FLOAT,  /* mv_d: the float widened */
    JD_MV_DOUBLE, /* mv_d */
    JD_MV_BOOL,   /* mv_l: 0 or 1 */
    JD_MV_ENUM,   /* mv_s, mv_n: the symbol */
    JD_MV_OTHER,  /* present, not a scalar: record, map, array, bytes, fixed */
} jd_map_kind_t;

/* One value; strings borrowed from the decoded message or avro-c's value,
 * valid until the next decode. */
typedef struct jd_map_val {
    int         mv_kind; /* jd_map_kind_t */
    const char *mv_s;
    size_t      mv_n;
    int64_t     mv_l;
    double      mv_d;
} jd_map_val_t;

/* One entry of the attributes container: a map key or a record field. */
typedef struct jd_map_kv {
    const char  *mk_key;  /* borrowed, not NUL-terminated */
    size_t       mk_klen;
    jd_map_val_t mk_val;  /* unions resolved; NONE for null */
} jd_map_kv_t;

/* What one message gave the slots. */
typedef struct jd_map_src {
    const jd_map_val_t *ms_slot;    /* jd_mapping_slot_count() values */
    size_t ms_nentries;             /* entries of the attributes container,
                                       0 unless its path is a map or record */
    /* entry i: 0 and *kv, or 1 when there is none at i (skipped) */
    int  (*ms_entry)(void *ctx, size_t i, jd_map_kv_t *kv);
    void  *ms_ctx;
} jd_map_src_t;

/* Number of slots (at most JD_MAP_SLOTS_MAX). */
size_t jd_mapping_slot_count(const jd_mapping_t *mp);

/* The steps of `slot` in *steps (borrowed from the mapping); returns their
 * count, 0 when the slot is not mapped. */
size_t jd_mapping_slot_path(const jd_mapping_t *mp, size_t slot, char *const **steps);

/* Fills `ev` from slot values: conversions, checks against `lim`, the
 * event-name translation. Errors as jd_mapping_extract. */
int jd_mapping_fill(const jd_mapping_t *mp, const jd_map_src_t *src, const jd_limits_t *lim,
                    jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* Fills `ev` from a decoded record (avro-c's generic value). JD_ERR_SKIP with the reason
 * (missing_field, wrong_type, bad_timestamp, oversize_field, bad_utf8,
 * too_many_attributes) naming the mapped field; JD_ERR_FATAL/JD_E_NOMEM
 * when the arena is exhausted. */
int jd_mapping_extract(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* Writes every set key as "mapping.KEY: \"VALUE\"" lines. */
void jd_mapping_print(const jd_mapping_t *mp, FILE *out);

#endif
