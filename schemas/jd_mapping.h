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

/* Fills `ev` from a decoded record. JD_ERR_SKIP with the reason
 * (missing_field, wrong_type, bad_timestamp, oversize_field, bad_utf8,
 * too_many_attributes) naming the mapped field; JD_ERR_FATAL/JD_E_NOMEM
 * when the arena is exhausted. */
int jd_mapping_extract(const jd_mapping_t *mp, avro_value_t *rec, const jd_limits_t *lim,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* Writes every set key as "mapping.KEY: \"VALUE\"" lines. */
void jd_mapping_print(const jd_mapping_t *mp, FILE *out);

#endif
