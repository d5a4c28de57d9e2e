/*
 * account_tev: the event builder and random event logs the account and
 * record tests share (header-only; each test file gets its own copy of
 * the generator state).
 */
#ifndef ACCOUNT_TEV_H
#define ACCOUNT_TEV_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jd_account.h"

#define DAY JD_WINDOW_DAY_MS
#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static const char *const tev_usage[] = {"feature_used", "login"};
static const char *const tev_values[] = {"reports"};
static const char *const tev_core[] = {"reports", "dashboards", "alerts"};
static jd_signals_conf_t g_sgc;
static jd_account_conf_t g_cf;

/* The configuration both tests apply with (TestSuite .init). */
static inline void tev_setup(void)
{
    jd_signals_conf_default(&g_sgc);
    g_sgc.sgc_core_feature_cnt = 3;
    memset(&g_cf, 0, sizeof g_cf);
    g_cf.acf_retention_days = 35;
    g_cf.acf_lateness_days = 7;
    g_cf.acf_power_user_days = 3;
    g_cf.acf_usage_events = tev_usage;
    g_cf.acf_usage_cnt = 2;
    g_cf.acf_value_features = tev_values;
    g_cf.acf_value_cnt = 1;
    g_cf.acf_core_features = tev_core;
    g_cf.acf_core_cnt = 3;
    g_cf.acf_signals = &g_sgc;
    jd_account_conf_ready(&g_cf);
}

/* A small event builder: strings are copied into the event's own slots. */
typedef struct tev {
    jd_event_t ev;
    char       id[32], user[16], feature[16], type[24];
    jd_attr_t  attrs[4];
    char       akey[4][16], aval[4][32];
} tev_t;

static inline void tev_init(tev_t *t, const char *id, const char *type, int64_t at)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->type, sizeof t->type, "%s", type);
    t->ev.ev_id = t->id;
    t->ev.ev_account = "acme";
    t->ev.ev_type_name = t->type;
    t->ev.ev_type = jd_event_type_parse(type);
    t->ev.ev_occurred_at = at;
    t->ev.ev_attrs = t->attrs;
}

static inline void tev_user(tev_t *t, const char *user, const char *feature)
{
    snprintf(t->user, sizeof t->user, "%s", user);
    t->ev.ev_user = t->user;
    if (feature) {
        snprintf(t->feature, sizeof t->feature, "%s", feature);
        t->ev.ev_feature = t->feature;
    }
}

static inline void tev_attr(tev_t *t, const char *k, const char *v)
{
    size_t i = t->ev.ev_attr_cnt++;
    snprintf(t->akey[i], sizeof t->akey[i], "%s", k);
    snprintf(t->aval[i], sizeof t->aval[i], "%s", v);
    t->attrs[i].at_key = t->akey[i];
    t->attrs[i].at_val = t->aval[i];
}

/* ---- random logs ------------------------------------------------------------ */

static uint64_t g_rng = 88172645463325252ULL;

static inline uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* Event i of a random log of one account over ~120 days. */
static inline void random_event(tev_t *t, int i)
{
    static const char *const types[] = {
        "login", "feature_used", "feature_used", "case_opened", "case_closed",
        "nps_response", "account_updated", "go_live", "custom_thing"};
    static const char *const feats[] = {"reports", "dashboards", "alerts", "other"};
    char id[32], user[16];
    int64_t at = T0 + (int64_t)(rnd() % (120 * DAY));
    snprintf(id, sizeof id, "ev%d", rnd() % 8 == 0 ? i / 2 : i); /* dups */
    tev_init(t, id, types[rnd() % 9], at);
    snprintf(user, sizeof user, "u%d", (int)(rnd() % 12));
    tev_user(t, user, feats[rnd() % 4]);
    if (t->ev.ev_type == JD_EV_CASE_OPENED || t->ev.ev_type == JD_EV_CASE_CLOSED) {
        char c[8];
        snprintf(c, sizeof c, "c%d", (int)(rnd() % 5));
        tev_attr(t, "case_id", c);
        tev_attr(t, "severity", rnd() % 2 ? "sev1" : "sev3");
    }
    if (t->ev.ev_type == JD_EV_NPS_RESPONSE) {
        t->ev.ev_has_value = 1;
        t->ev.ev_value = (double)(rnd() % 11);
    }
    if (t->ev.ev_type == JD_EV_ACCOUNT_UPDATED)
        tev_attr(t, "seats", rnd() % 2 ? "5" : "12");
}

#endif
