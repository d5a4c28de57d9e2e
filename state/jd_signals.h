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
 * shell reads out of Redis. Pure: no I/O, no allocation, any thread.
 */
#ifndef JD_SIGNALS_H
#define JD_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

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

/* Every signal. Timestamps are numbers: ms since the Unix epoch, UTC. */
typedef enum jd_signal_id {
    JD_SIG_ACTIVE_USERS_1D = 0,
    JD_SIG_ACTIVE_USERS_7D,
    JD_SIG_ACTIVE_USERS_28D,
    JD_SIG_SEATS,
    JD_SIG_UTILIZATION,
    JD_SIG_SEGMENT,          /* string */
    JD_SIG_PLAN,             /* string */
    JD_SIG_STATUS,           /* string */
    JD_SIG_ARR,
    JD_SIG_RENEWAL_AT,
    JD_SIG_DAYS_TO_RENEWAL,
    JD_SIG_START_AT,
    JD_SIG_DAYS_SINCE_START,
    JD_SIG_FIRST_VALUE_AT,
    JD_SIG_TTFV_DAYS,
    JD_SIG_LAST_EVENT_AT,
    JD_SIG_AS_OF,
    JD_SIG__COUNT
} jd_signal_id_t;

#define JD_SIG_STR_MAX 256

typedef struct jd_signals {
    jd_value_t sg_val[JD_SIG__COUNT];
    char       sg_str[JD_SIG__COUNT][JD_SIG_STR_MAX]; /* backing for STR */
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

/* Setters; set_str copies (cut to JD_SIG_STR_MAX-1 bytes); NULL -> null. */
void jd_signals_set_num(jd_signals_t *sg, jd_signal_id_t id, double v);
void jd_signals_set_str(jd_signals_t *sg, jd_signal_id_t id, const char *s);
void jd_signals_set_null(jd_signals_t *sg, jd_signal_id_t id);

/* Borrowed pointer to the value of a signal. */
const jd_value_t *jd_signals_get(const jd_signals_t *sg, jd_signal_id_t id);

/* 1 when the signal is a timestamp (ms since the epoch), else 0. */
int jd_signals_is_timestamp(jd_signal_id_t id);

/* Writes {"account_id":...,"signals":{name:value|null,...}} as JSON with
 * timestamps also rendered as ISO-8601 under "<name>_iso". Returns the length
 * it needed (like snprintf); the output is cut but NUL-terminated when the
 * buffer is too small. `account` may be NULL (written as null).
 * Numbers: integral values without decimals ("12"), others with 6
 * significant digits ("0.666667") but at least 3 after the point for large
 * values ("120000.5"); NaN and infinities as null. Strings are escaped per RFC 8259
 * (quote, backslash, control characters). */
size_t jd_signals_to_json(const jd_signals_t *sg, const char *account,
                          char *buf, size_t cap);

/* ---- Raw aggregates -> signals -------------------------------------------
 *
 * The state shell reads an account's raw aggregates out of Redis into a
 * jd_signals_raw_t and derives every signal from it here, in pure C, so the
 * arithmetic (windows, ratios, day differences) is unit-tested without
 * Redis. Timestamps are ms since the epoch, JD_SIGNALS_NO_TS when unknown.
 */
#define JD_SIGNALS_NO_TS INT64_MIN

typedef struct jd_signals_raw {
    int64_t     sr_as_of;          /* latest occurred_at seen (T) */
    int64_t     sr_users_1d;       /* distinct users, days [D, D] */
    int64_t     sr_users_7d;       /* distinct users, days [D-6, D] */
    int64_t     sr_users_28d;      /* distinct users, days [D-27, D] */
    int64_t     sr_start_at;       /* min occurred_at of created/signed */
    int64_t     sr_first_value_at; /* min occurred_at of value events */
    int64_t     sr_last_event_at;  /* max occurred_at of any event */
    int64_t     sr_renewal_at;     /* attribute renewal_at, UTC midnight */
    int         sr_has_seats;
    double      sr_seats;
    int         sr_has_arr;
    double      sr_arr;
    const char *sr_segment;        /* borrowed; NULL when unknown */
    const char *sr_plan;
    const char *sr_status;
} jd_signals_raw_t;

/* An empty raw record: no timestamps, zero users, no attributes. */
void jd_signals_raw_init(jd_signals_raw_t *raw);

/* Stores one account attribute as kept in Redis (the output of
 * jd_signals_attr_normalize) into raw; the string is borrowed. Unknown
 * names and values that do not parse are ignored. Returns 1 if stored. */
int jd_signals_raw_set_attr(jd_signals_raw_t *raw, const char *name,
                            const char *value);

/* Fills every signal of sg from raw. Without an as-of time (an account with
 * no state) every signal is null. ttfv_days, days_since_start,
 * days_to_renewal are fractional days; utilization is users_28d / seats,
 * null when seats is unknown or 0. */
void jd_signals_derive(jd_signals_t *sg, const jd_signals_raw_t *raw);

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
