/*
 * jd_event: the decoded product event (schemas/product_event.avsc) as a
 * plain C struct.
 *
 * Strings are NUL-terminated and point into the jd_arena_t the decoder was
 * given (the event owns nothing); an absent optional string is NULL. Sizes
 * are bounded by jd_limits_t, enforced by the decoder.
 */
#ifndef JD_EVENT_H
#define JD_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Well-known values of the `type` field. Anything else is JD_EV_UNKNOWN:
 * accepted, counted, and otherwise only advances last_event_at. */
typedef enum jd_event_type {
    JD_EV_UNKNOWN = 0,
    JD_EV_FEATURE_USED,
    JD_EV_LOGIN,
    JD_EV_ACCOUNT_CREATED,
    JD_EV_CONTRACT_SIGNED,
    JD_EV_KICKOFF,
    JD_EV_GO_LIVE,
    JD_EV_FIRST_VALUE,
    JD_EV_VALUE_REALIZED,
    JD_EV_ACCOUNT_UPDATED,
    JD_EV_NPS_RESPONSE,
    JD_EV_CSAT_RESPONSE,
    JD_EV_CASE_OPENED,
    JD_EV_CASE_CLOSED,
    JD_EV_SPONSOR_CHANGED,
    JD_EV__COUNT
} jd_event_type_t;

typedef struct jd_attr {
    const char *at_key;
    const char *at_val;
} jd_attr_t;

typedef struct jd_event {
    const char     *ev_id;          /* event_id, non-empty */
    const char     *ev_account;     /* account_id, non-empty */
    const char     *ev_user;        /* user_id or NULL */
    const char     *ev_type_name;   /* type, as sent */
    jd_event_type_t ev_type;        /* type, classified */
    const char     *ev_feature;     /* feature or NULL */
    int64_t         ev_occurred_at; /* ms since the Unix epoch, UTC */
    double          ev_value;       /* valid when ev_has_value */
    int             ev_has_value;
    size_t          ev_attr_cnt;
    jd_attr_t      *ev_attrs;       /* ev_attr_cnt entries, in the arena */
} jd_event_t;

/* Bounds enforced on every decoded event (defaults in jd_limits_default). */
typedef struct jd_limits {
    size_t  lim_max_message_bytes; /* default 1 MiB */
    size_t  lim_max_string_bytes;  /* default 1024, any single string */
    size_t  lim_max_attributes;    /* default 64 map entries */
    int64_t lim_min_occurred_at;   /* default 2000-01-01T00:00:00Z */
    int64_t lim_max_occurred_at;   /* default 2100-01-01T00:00:00Z */
} jd_limits_t;

void jd_limits_default(jd_limits_t *lim);

/* Maps a type string to its enum (JD_EV_UNKNOWN if not well-known). */
jd_event_type_t jd_event_type_parse(const char *s);

/* The canonical type string of a well-known type ("unknown" otherwise). */
const char *jd_event_type_name(jd_event_type_t t);

/* Value of attribute `key`, or NULL. */
const char *jd_event_attr(const jd_event_t *ev, const char *key);

#endif
