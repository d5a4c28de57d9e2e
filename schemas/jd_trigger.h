/*
 * jd_trigger: an outbound trigger event (schemas/trigger_event.avsc) as a
 * plain C struct with fixed-size storage, so a trigger can be built, copied
 * and encoded without allocation. Strings longer than their buffer are cut
 * (ids are bounded well below these sizes by the limits and the rules
 * loader).
 */
#ifndef JD_TRIGGER_H
#define JD_TRIGGER_H

#include <stddef.h>
#include <stdint.h>

typedef enum jd_kind {
    JD_KIND_RISK = 0,
    JD_KIND_RENEWAL_READINESS = 1,
    JD_KIND_EXPANSION = 2,
    JD_KIND__COUNT
} jd_kind_t;

typedef enum jd_severity {
    JD_SEV_LOW = 0,
    JD_SEV_MEDIUM = 1,
    JD_SEV_HIGH = 2,
    JD_SEV_CRITICAL = 3,
    JD_SEV__COUNT
} jd_severity_t;

#define JD_TRIGGER_ID_LEN    32   /* hex chars of a trigger_id */
#define JD_TRIGGER_STR_MAX   256
#define JD_TRIGGER_REASON_MAX 1024
#define JD_EVIDENCE_MAX      32

typedef enum jd_trigger_status {
    JD_STATUS_FIRED = 0,
    JD_STATUS_RESOLVED = 1,
} jd_trigger_status_t;

typedef struct jd_evidence {
    char   evd_name[64];
    double evd_value;
} jd_evidence_t;

typedef struct jd_trigger {
    char          tr_id[JD_TRIGGER_ID_LEN + 1];
    char          tr_account[JD_TRIGGER_STR_MAX];
    jd_kind_t     tr_kind;
    char          tr_rule_id[128];
    char          tr_rule_version[32];
    jd_severity_t tr_severity;
    char          tr_play[JD_TRIGGER_STR_MAX];
    char          tr_segment[JD_TRIGGER_STR_MAX];
    int           tr_has_segment;
    int64_t       tr_fired_at;     /* ms, event time */
    size_t        tr_evidence_cnt;
    jd_evidence_t tr_evidence[JD_EVIDENCE_MAX];
    char          tr_reason[JD_TRIGGER_REASON_MAX];
    char          tr_source_topic[JD_TRIGGER_STR_MAX];
    int32_t       tr_source_partition;
    int64_t       tr_source_offset;
    jd_trigger_status_t tr_status;
    int32_t       tr_priority;
    char          tr_owner[JD_TRIGGER_STR_MAX];   /* "" = null */
    char          tr_channel[JD_TRIGGER_STR_MAX]; /* "" = null */
    char          tr_level[64];                   /* "" = null */
    int           tr_shadow;
} jd_trigger_t;

/* "RISK", "RENEWAL_READINESS", "EXPANSION" (the Avro enum symbols). */
const char *jd_kind_symbol(jd_kind_t k);
/* "risk", "renewal_readiness", "expansion" (the rules-file spelling). */
const char *jd_kind_name(jd_kind_t k);
/* Parses the rules-file spelling; -1 if unknown. */
int jd_kind_parse(const char *s);

/* "LOW" ... "CRITICAL" (Avro symbols). */
const char *jd_severity_symbol(jd_severity_t s);
/* Parses "low".."critical", case-insensitive; -1 if unknown. */
int jd_severity_parse(const char *s);

/* "FIRED" or "RESOLVED". */
const char *jd_trigger_status_symbol(jd_trigger_status_t s);

/* Deterministic trigger id: 32 hex chars of XXH3-128 over
 * account_id, rule_id and episode number. Writes JD_TRIGGER_ID_LEN+1 bytes.
 * A RESOLVED trigger's id is made the same way with rule_id + "/resolved". */
void jd_trigger_make_id(char *out, const char *account, const char *rule_id,
                        uint64_t episode);

/* The frozen id definition behind jd_trigger_make_id() and
 * jd_stage_event_make_id(): XXH3-128 (seed 0) over the n parts joined by
 * 0x1f bytes (a NULL part counts as ""), as 32 lowercase hex digits, high
 * 64 bits first. Writes JD_TRIGGER_ID_LEN+1 bytes. */
void jd_trigger_hash_id(char *out, const char *const *parts, size_t n);

#endif
