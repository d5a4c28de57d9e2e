/*
 * jd_signals: the named, typed values that describe one account at one
 * instant (its as-of time), read by rules and shown by `inspect`.
 *
 * The table of signals (name, type, meaning) lives in jd_signals.c and is
 * the single source for rule compilation, `inspect --json` and the docs.
 * A jd_signals_t is a plain value that owns its string storage. It can be
 * copied with jd_signals_copy() (a plain memcpy leaves the copy's string
 * values pointing into the source's storage).
 * It is filled by jd_signals_derive() from the raw aggregates that the state
 * shell reads out of Redis, then jd_signals_observe() applies the two
 * things that depend on arrival order (healthy_adoption_at and the stored
 * stage). docs/signals.md is the definition of every signal.
 * Pure: no I/O, no allocation, any thread.
 */
#ifndef JD_SIGNALS_H
#define JD_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#include "jd_health.h"
#include "jd_window.h"

typedef enum jd_val_type {
    JD_VAL_NULL = 0,
    JD_VAL_NUM,
    JD_VAL_STR,
    JD_VAL_BOOL,
} jd_val_type_t;

/* A dynamically typed value. `str` is borrowed (never freed by users). */
typedef struct jd_value {
    jd_val_type_t type;
    double        num;   /* JD_VAL_NUM; JD_VAL_BOOL as 0/1 */
    const char   *str;   /* JD_VAL_STR, NUL-terminated */
} jd_value_t;

/* Every signal, grouped as in docs/signals.md (one entry per signal there,
 * same order). Timestamps are numbers: ms since the Unix epoch, UTC. */
typedef enum jd_signal_id {
    /* usage */
    JD_SIG_ACTIVE_USERS_1D = 0,
    JD_SIG_ACTIVE_USERS_7D,
    JD_SIG_ACTIVE_USERS_28D,
    JD_SIG_WAU_PREV4_AVG,
    JD_SIG_USAGE_CHANGE_7D,
    JD_SIG_EVENTS_7D,
    JD_SIG_EVENTS_28D,
    JD_SIG_DAYS_ACTIVE_28D,
    JD_SIG_POWER_USERS_28D,
    JD_SIG_CORE_FEATURES_USED_28D,
    JD_SIG_FEATURE_BREADTH_28D,
    JD_SIG_LAST_USAGE_AT,
    JD_SIG_DAYS_SINCE_LAST_USAGE,
    /* account (last-writer-wins attributes of account_updated) */
    JD_SIG_SEGMENT,          /* string */
    JD_SIG_PLAN,             /* string */
    JD_SIG_SEATS,
    JD_SIG_ARR,
    JD_SIG_STATUS,           /* string */
    JD_SIG_RENEWAL_AT,
    JD_SIG_UTILIZATION,
    JD_SIG_DAYS_TO_RENEWAL,
    /* milestones (earliest occurrence) */
    JD_SIG_START_AT,
    JD_SIG_KICKOFF_AT,
    JD_SIG_GO_LIVE_AT,
    JD_SIG_FIRST_VALUE_AT,
    JD_SIG_HEALTHY_ADOPTION_AT,
    JD_SIG_VALUE_REALIZED_AT,
    JD_SIG_TTFV_DAYS,
    JD_SIG_DAYS_SINCE_START,
    /* stage */
    JD_SIG_STAGE,            /* string */
    JD_SIG_PREVIOUS_STAGE,   /* string */
    JD_SIG_STAGE_CHANGED_AT,
    /* sentiment */
    JD_SIG_NPS_LAST,
    JD_SIG_NPS_CATEGORY,     /* string */
    JD_SIG_NPS_AVG_90D,
    JD_SIG_CSAT_LAST,
    /* support */
    JD_SIG_CASES_OPEN,
    JD_SIG_CASES_OPENED_7D,
    JD_SIG_CASES_OPENED_28D,
    JD_SIG_SEV1_OPEN,
    /* stakeholders */
    JD_SIG_SPONSOR_CHANGED_AT,
    JD_SIG_DAYS_SINCE_SPONSOR_CHANGE,
    /* health */
    JD_SIG_HEALTH_SCORE,
    /* time */
    JD_SIG_LAST_EVENT_AT,
    JD_SIG_AS_OF,
    JD_SIG__COUNT
} jd_signal_id_t;

#define JD_SIG_STR_MAX 256
#define JD_SIG_STR_SLOTS 6   /* string-typed signals in the table */

typedef struct jd_signals {
    jd_value_t sg_val[JD_SIG__COUNT];
    /* backing for the string signals, one slot each (jd_signals.c maps) */
    char       sg_str[JD_SIG_STR_SLOTS][JD_SIG_STR_MAX];
    /* the health score explained: each measure's value, score and points */
    jd_health_result_t sg_health;
    /* the last stage stored for the account ("" when none yet): the
     * stage signal is derived, this is what was last published */
    char       sg_stage_stored[32];
    int64_t    sg_stage_seq;     /* stage changes stored so far (0: none) */
    /* why the account is in its (derived) stage: the milestone or
     * condition of the first rule that matched, and its time */
    const char *sg_stage_cause;   /* static string; NULL without state */
    int64_t     sg_stage_cause_at;/* JD_SIGNALS_NO_TS when it has none */
} jd_signals_t;

/* Name of a signal ("active_users_7d"); NULL if id is out of range. */
const char *jd_signals_name(jd_signal_id_t id);

/* Declared type of a signal (JD_VAL_NUM or JD_VAL_STR). */
jd_val_type_t jd_signals_type(jd_signal_id_t id);

/* One-line meaning, for docs and --help. */
const char *jd_signals_doc(jd_signal_id_t id);

/* Id of the signal called name[0..len), or -1 if there is none. */
int jd_signals_lookup(const char *name, size_t len);

/* Copies src into dst, re-pointing string values at dst's own storage. */
void jd_signals_copy(jd_signals_t *dst, const jd_signals_t *src);

/* Sets every signal to null. */
void jd_signals_clear(jd_signals_t *sg);

/* Setters; set_str copies (cut to JD_SIG_STR_MAX-1 bytes) and only works
 * on string-typed signals (others are left as they are); NULL -> null. */
void jd_signals_set_num(jd_signals_t *sg, jd_signal_id_t id, double v);
void jd_signals_set_str(jd_signals_t *sg, jd_signal_id_t id, const char *s);
void jd_signals_set_null(jd_signals_t *sg, jd_signal_id_t id);

/* Borrowed pointer to the value of a signal. */
const jd_value_t *jd_signals_get(const jd_signals_t *sg, jd_signal_id_t id);

/* 1 when the signal is a timestamp (ms since the epoch), else 0. */
int jd_signals_is_timestamp(jd_signal_id_t id);

/* Writes the account as JSON:
 *   {"account_id":...,
 *    "signals":{name:value|null,...},          every signal, table order;
 *                                              timestamps also as
 *                                              "<name>_iso" (ISO-8601)
 *    "journey":{"stage","cause","cause_at","cause_at_iso",
 *               "previous_stage","stage_changed_at","stage_changed_at_iso",
 *               "milestones":{"start":{"at","iso"},...}},
 *    "health":{"score","profile","contributions":{measure:{"value",
 *               "score","weight","points"},...}}}
 * Returns the length it needed (like snprintf); the output is cut but
 * NUL-terminated when the buffer is too small. `account` may be NULL
 * (written as null). Numbers round-trip exactly (integral values without
 * decimals, others in the shortest %.15g-%.17g form that reads back as the
 * same double); NaN and infinities as null. Strings are escaped per RFC
 * 8259 (quote, backslash, control characters). */
size_t jd_signals_to_json(const jd_signals_t *sg, const char *account,
                          char *buf, size_t cap);

/* ---- Raw aggregates -> signals -------------------------------------------
 *
 * The state shell reads an account's raw aggregates out of Redis into a
 * jd_signals_raw_t and derives every signal from it here, in pure C, so the
 * arithmetic (windows, ratios, day differences, stage, health) is
 * unit-tested without Redis. Timestamps are ms since the epoch,
 * JD_SIGNALS_NO_TS when unknown.
 */
#define JD_SIGNALS_NO_TS INT64_MIN

/* The windows counted for the signals, by index into sr_win[].
 * jd_signals_windows() gives each one's jd_window_spec_t. */
typedef enum jd_signals_win {
    JD_W_USERS_1D = 0,     /* distinct users [D, D] */
    JD_W_USERS_7D,         /* [D-6, D] */
    JD_W_USERS_28D,        /* [D-27, D] */
    JD_W_USERS_PREV1,      /* [D-13, D-7] */
    JD_W_USERS_PREV2,      /* [D-20, D-14] */
    JD_W_USERS_PREV3,      /* [D-27, D-21] */
    JD_W_USERS_PREV4,      /* [D-34, D-28] */
    JD_W_EVENTS_7D,        /* usage events [D-6, D] */
    JD_W_EVENTS_28D,       /* usage events [D-27, D] */
    JD_W_DAYS_ACTIVE_28D,  /* days with usage in [D-27, D] */
    JD_W_POWER_USERS_28D,  /* users active >= power_user_days of [D-27, D] */
    JD_W_CORE_FEATURES_28D,/* distinct core features [D-27, D] */
    JD_W_CASES_OPENED_7D,  /* distinct cases opened [D-6, D] */
    JD_W_CASES_OPENED_28D, /* distinct cases opened [D-27, D] */
    JD_W__COUNT
} jd_signals_win_t;

/* Fills specs[JD_W__COUNT]; power_user_days is the threshold of
 * JD_W_POWER_USERS_28D (1..28). */
void jd_signals_windows(int power_user_days, jd_window_spec_t *specs);

typedef struct jd_signals_raw {
    int64_t     sr_as_of;          /* T: latest occurred_at seen, or the
                                      instant inspect --as-of asked for */
    int64_t     sr_win[JD_W__COUNT];
    /* milestones: min occurred_at of their events */
    int64_t     sr_start_at;       /* account_created / contract_signed */
    int64_t     sr_kickoff_at;
    int64_t     sr_go_live_at;
    int64_t     sr_first_value_at; /* first_value or a value feature used */
    int64_t     sr_value_realized_at;
    int64_t     sr_healthy_adoption_at; /* first as-of instant healthy */
    /* latest-of */
    int64_t     sr_last_event_at;
    int64_t     sr_last_usage_at;
    int64_t     sr_sponsor_changed_at;
    /* last-writer-wins values */
    int64_t     sr_renewal_at;     /* attribute renewal_at, UTC midnight */
    int         sr_has_seats;
    double      sr_seats;
    int         sr_has_arr;
    double      sr_arr;
    const char *sr_segment;        /* borrowed; NULL when unknown */
    const char *sr_plan;
    const char *sr_status;
    int         sr_has_nps_last;
    double      sr_nps_last;
    int         sr_has_csat_last;
    double      sr_csat_last;
    /* NPS answers of [D-89, D] */
    int64_t     sr_nps_count;
    double      sr_nps_sum;
    /* support */
    int64_t     sr_cases_open;
    int64_t     sr_sev1_open;
    /* the stage last stored (published) */
    const char *sr_stage;          /* borrowed; NULL when none yet */
    const char *sr_previous_stage;
    int64_t     sr_stage_changed_at;
    int64_t     sr_stage_seq;      /* stage changes stored so far */
} jd_signals_raw_t;

/* An empty raw record: no timestamps, zero counts, no attributes. */
void jd_signals_raw_init(jd_signals_raw_t *raw);

/* The parsers of stored values: a finite decimal number >= 0 (the whole
 * string, no blanks, no hex) and a strict decimal int64. 0, or -1 with
 * *out unchanged. */
int jd_signals_parse_amount(const char *s, double *out);
int jd_signals_parse_i64(const char *s, int64_t *out);

/* Stores one last-writer-wins value as kept in Redis (the output of
 * jd_signals_attr_normalize, plus nps_last and csat_last) into raw; the
 * string is borrowed. Unknown names and values that do not parse are
 * ignored. Returns 1 if stored. */
int jd_signals_raw_set_attr(jd_signals_raw_t *raw, const char *name,
                            const char *value);

/* Stores one field of the account's meta hash (decimal ms timestamps:
 * start_at, kickoff_at, go_live_at, first_value_at, value_realized_at,
 * healthy_adoption_at, last_event_at, last_usage_at, sponsor_changed_at,
 * stage_changed_at; counts cases_open, sev1_open, stage_seq; strings stage,
 * previous_stage). Unknown names are ignored. Returns 1 if stored. */
int jd_signals_raw_set_meta(jd_signals_raw_t *raw, const char *name,
                            const char *value);

/* Thresholds and sizes the derivation needs (from configuration). */
typedef struct jd_signals_conf {
    int    sgc_renewal_window_days;   /* renewal stage, default 120 */
    double sgc_healthy_utilization;   /* healthy adoption, default 0.7 */
    double sgc_healthy_breadth;       /* healthy adoption, default 0.7 */
    int    sgc_ttfv_target_days;      /* milestone on track, default 30 */
    size_t sgc_core_feature_cnt;      /* 0: feature_breadth_28d is null */
    const jd_health_conf_t *sgc_health; /* NULL: the built-in default */
} jd_signals_conf_t;

void jd_signals_conf_default(jd_signals_conf_t *sgc);

/* Fills every signal of sg from raw (conf NULL: defaults). Without an
 * as-of time (an account with no state) every signal is null. Day counts
 * (ttfv_days, days_since_*, days_to_renewal) are fractional days;
 * utilization is users_28d / seats, null when seats is unknown or 0;
 * milestones later than the as-of instant read null (only possible with
 * inspect --as-of). The stage is derived (first match wins, see
 * jd_signals_stage); previous_stage and stage_changed_at are the stored
 * ones. docs/signals.md defines each signal. */
void jd_signals_derive(jd_signals_t *sg, const jd_signals_raw_t *raw,
                       const jd_signals_conf_t *conf);

/* ---- Stage and healthy adoption ------------------------------------------ */

typedef enum jd_stage {
    JD_STAGE_ONBOARDING = 0,
    JD_STAGE_ACTIVATION,
    JD_STAGE_ADOPTION,
    JD_STAGE_VALUE_REALIZATION,
    JD_STAGE_RENEWAL,
    JD_STAGE_CHURNED,
    JD_STAGE__COUNT
} jd_stage_t;

/* "onboarding", "activation", ... ; NULL out of range. */
const char *jd_signals_stage_name(jd_stage_t st);

/* The stage of sg, first match wins: churned (status "churned"), renewal
 * (days_to_renewal <= renewal window), value_realization (healthy
 * adoption reached), adoption (first value reached), activation (go-live
 * reached), onboarding. *cause names what matched ("status",
 * "renewal_window", "healthy_adoption", "first_value", "go_live",
 * "start") and *cause_at its time (the milestone, renewal_at, or
 * JD_SIGNALS_NO_TS for status); either may be NULL. */
jd_stage_t jd_signals_stage(const jd_signals_t *sg,
                            const jd_signals_conf_t *conf,
                            const char **cause, int64_t *cause_at);

/* 1 when utilization >= sgc_healthy_utilization and feature_breadth_28d
 * >= sgc_healthy_breadth (both known), else 0. */
int jd_signals_healthy(const jd_signals_t *sg, const jd_signals_conf_t *conf);

/* What jd_signals_observe found. Strings are static or point into sg. */
typedef struct jd_signals_change {
    int         ch_healthy_adoption; /* reached now: store ch_at */
    int         ch_stage;            /* the stage changed: store, publish */
    int64_t     ch_at;               /* the as-of instant */
    int64_t     ch_seq;              /* the account's stage change number:
                                        1 for its first stage, then +1 */
    const char *ch_stage_name;
    const char *ch_previous;         /* NULL: the account had no stage */
    const char *ch_cause;
    int64_t     ch_cause_at;
} jd_signals_change_t;

/* The arrival-order part of the journey, applied after each update of an
 * account (pure; the caller stores what changed): healthy_adoption_at is
 * set to the as-of instant the first time jd_signals_healthy() holds, and
 * the derived stage is compared with the stored one (sg_stage_stored);
 * on a difference previous_stage, stage_changed_at, sg_stage_stored and
 * sg_stage_seq move on. Returns 1 when anything changed (see *ch), else 0. */
int jd_signals_observe(jd_signals_t *sg, const jd_signals_conf_t *conf,
                       jd_signals_change_t *ch);

/* The account attributes (account_updated `attributes` map keys) that feed
 * signals: seats, segment, plan, status, arr, renewal_at. Validates and
 * normalises one attribute before it is stored:
 *   seats, arr   a finite decimal number >= 0, kept as sent;
 *   renewal_at   an ISO-8601 date or timestamp, stored as the decimal ms of
 *                UTC midnight of that date (written into buf);
 *   segment, plan, status   any string, kept as sent.
 * Returns 1 and sets *out (to value or to buf) for a valid attribute, 0 for
 * a key that feeds no signal, -1 for a known key with a bad value (the
 * update of that attribute is ignored). buf needs at least 24 bytes. */
int jd_signals_attr_normalize(const char *name, const char *value,
                              const char **out, char *buf, size_t cap);

#endif
