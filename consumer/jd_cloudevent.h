/*
 * jd_cloudevent: the CloudEvents 1.0 attributes of what journeyd publishes,
 * in the Kafka protocol binding's binary mode (the payload stays the Avro
 * record; the attributes travel as `ce_*` headers, plus `content-type`), so
 * that CloudEvents-aware consumers (Knative, Dapr, Azure Event Grid, the
 * CloudEvents SDKs) route and filter the records without decoding them.
 *
 *   attribute     trigger                  stage event              dead letter
 *   ce_id         trigger_id               event_id                 <topic>/<partition>/<offset>
 *   ce_type       io.journeyd.trigger.<kind> (.shadow.<kind> for a shadow rule)
 *                                          io.journeyd.journey_stage.changed
 *                                                                   io.journeyd.dead_letter
 *   ce_time       fired_at                 changed_at               the input message's timestamp
 *   ce_subject    account_id               account_id               the input key, when printable
 *   content-type  application/avro         application/avro         application/octet-stream
 * ce_specversion is 1.0 and ce_source the instance's `cloudevents.source`
 * (default /journeyd/<kafka group.id>). Times are RFC 3339 UTC to the
 * millisecond. Every attribute derives from the log and the configuration,
 * never the wall clock, so a replay publishes the same headers.
 *
 * Pure: no I/O, no allocation, any thread. A jd_cloudevent_t is a plain
 * value; jd_cloudevent_headers() points into it and into static strings,
 * valid while it is neither changed nor freed. ce_source is borrowed.
 */
#ifndef JD_CLOUDEVENT_H
#define JD_CLOUDEVENT_H

#include <stddef.h>
#include <stdint.h>

#include "jd_producer.h"
#include "jd_stage.h"
#include "jd_trigger.h"

#define JD_CE_HEADERS 7       /* headers jd_cloudevent_headers() writes, at most */
#define JD_CE_SOURCE_MAX 256  /* cloudevents.source, bytes with the NUL */

typedef struct jd_cloudevent {
    char        ce_id[320];
    char        ce_type[64];
    char        ce_time[32];      /* "" when unknown (then not sent) */
    char        ce_subject[256];  /* "" when none (then not sent) */
    const char *ce_source;        /* borrowed */
    const char *ce_content_type;  /* static */
} jd_cloudevent_t;

/* The attributes of a trigger (its id, kind, shadow flag, fired_at,
 * account) and of a stage event. */
void jd_cloudevent_trigger(jd_cloudevent_t *ce, const jd_trigger_t *tr, const char *source);
void jd_cloudevent_stage(jd_cloudevent_t *ce, const jd_stage_event_t *se, const char *source);

/* The attributes of the dead letter of input message (topic, partition,
 * offset); ts_ms its Kafka timestamp (< 0: unknown); key its key (len
 * bytes, may be NULL): the subject only when it is printable ASCII, as
 * an account id is. */
void jd_cloudevent_dead_letter(jd_cloudevent_t *ce, const char *topic, int32_t partition,
                               int64_t offset, int64_t ts_ms, const void *key, size_t len,
                               const char *source);

/* Writes the headers into h[0..JD_CE_HEADERS) and returns how many (the
 * optional ce_time and ce_subject are left out when empty). */
size_t jd_cloudevent_headers(const jd_cloudevent_t *ce, jd_header_t *h);

/* The source the instance publishes with: `configured` when set, else
 * "/journeyd/" and the consumer group id, percent-encoded where it is not
 * an RFC 3986 unreserved character. Cut to cap bytes (NUL included). */
void jd_cloudevent_source(const char *configured, const char *group_id, char *out,
                          size_t cap);

/* 0 when s is a usable configured source (empty: the default; else 1 to
 * JD_CE_SOURCE_MAX-1 bytes of printable ASCII without spaces, as a URI
 * reference is); -1 with the reason in why otherwise. */
int jd_cloudevent_source_check(const char *s, char *why, size_t cap);

#endif
