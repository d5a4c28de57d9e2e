/*
 * jd_event: limits, event-type classification and attribute lookup for the
 * decoded product event (contract in jd_event.h).
 *
 * Everything here is pure and allocation-free, safe from any thread. The
 * type table is the single place that spells the well-known type names: it
 * is indexed by jd_event_type_t, so adding a type means adding the enum
 * value and its name in the same position. Type names are matched exactly
 * (case-sensitive): the names are part of the producer contract documented
 * in product_event.avsc, and "Login" is an unknown type, not a login.
 */
#include "jd_event.h"

#include <string.h>

/* 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z in ms since the epoch. */
#define JD_MS_2000 INT64_C(946684800000)
#define JD_MS_2100 INT64_C(4102444800000)

static const char *const jd_event_type_names[JD_EV__COUNT] = {
    [JD_EV_UNKNOWN] = "unknown",
    [JD_EV_FEATURE_USED] = "feature_used",
    [JD_EV_LOGIN] = "login",
    [JD_EV_ACCOUNT_CREATED] = "account_created",
    [JD_EV_CONTRACT_SIGNED] = "contract_signed",
    [JD_EV_KICKOFF] = "kickoff",
    [JD_EV_GO_LIVE] = "go_live",
    [JD_EV_FIRST_VALUE] = "first_value",
    [JD_EV_VALUE_REALIZED] = "value_realized",
    [JD_EV_ACCOUNT_UPDATED] = "account_updated",
    [JD_EV_NPS_RESPONSE] = "nps_response",
    [JD_EV_CSAT_RESPONSE] = "csat_response",
    [JD_EV_CASE_OPENED] = "case_opened",
    [JD_EV_CASE_CLOSED] = "case_closed",
    [JD_EV_SPONSOR_CHANGED] = "sponsor_changed",
};

void jd_limits_default(jd_limits_t *lim)
{
    lim->lim_max_message_bytes = 1024 * 1024;
    lim->lim_max_string_bytes = 1024;
    lim->lim_max_attributes = 64;
    lim->lim_min_occurred_at = JD_MS_2000;
    lim->lim_max_occurred_at = JD_MS_2100;
}

/* A linear scan of 14 short names: cheaper than hashing for strings this
 * short, and the common types (feature_used, login) come first. */
jd_event_type_t jd_event_type_parse(const char *s)
{
    if (!s)
        return JD_EV_UNKNOWN;
    for (int t = JD_EV_UNKNOWN + 1; t < JD_EV__COUNT; t++) {
        if (strcmp(s, jd_event_type_names[t]) == 0)
            return (jd_event_type_t)t;
    }
    return JD_EV_UNKNOWN;
}

const char *jd_event_type_name(jd_event_type_t t)
{
    if ((int)t <= JD_EV_UNKNOWN || t >= JD_EV__COUNT)
        return jd_event_type_names[JD_EV_UNKNOWN];
    return jd_event_type_names[t];
}

/* Linear: events carry at most lim_max_attributes (64) entries, usually a
 * handful. Keys are unique (the Avro map keeps the last duplicate). */
const char *jd_event_attr(const jd_event_t *ev, const char *key)
{
    if (!ev || !key)
        return NULL;
    for (size_t i = 0; i < ev->ev_attr_cnt; i++) {
        if (strcmp(ev->ev_attrs[i].at_key, key) == 0)
            return ev->ev_attrs[i].at_val;
    }
    return NULL;
}
