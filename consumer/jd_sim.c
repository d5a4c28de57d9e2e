/*
 * jd_sim: the telemetry simulator (contract in jd_sim.h).
 *
 * Generation is one simulated day at a time: every account's events of the
 * day are built into a buffer, sorted by occurred_at, and handed out one by
 * one, so memory is bounded by one day of traffic whatever the length of
 * the run. Randomness comes from a splitmix64 stream seeded per account and
 * day, so an account's events do not depend on how many accounts there are.
 */
#include "jd_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JD_DAY_MS 86400000LL

typedef enum { JD_ARCH_HEALTHY, JD_ARCH_DRIFTING, JD_ARCH_EXPANDING, JD_ARCH_STALLED } jd_arch_t;

typedef struct jd_sim_account {
    char      sa_id[32];
    jd_arch_t sa_arch;
    int       sa_segment;      /* 0 enterprise, 1 mid-market, 2 smb */
    int       sa_seats;
    int       sa_start_day;    /* day index of account_created */
    int       sa_value_day;    /* day of first_value, -1 = never */
    int       sa_renewal_days; /* renewal, days after the end of the run */
    uint64_t  sa_seq;          /* event counter, for event ids */
} jd_sim_account_t;

/* An event of the current day, before strings are copied to the arena. */
typedef struct jd_sim_ev {
    int64_t sv_at;
    int     sv_account;
    int     sv_type;          /* jd_event_type_t, or -1 for "page_viewed" */
    int     sv_user;          /* -1 = none */
    int     sv_feature;       /* -1 = none */
    double  sv_value;
    int     sv_has_value;
    int     sv_case;
    uint64_t sv_seq;          /* per-account sequence, for the event id */
    size_t  sv_order;         /* position when built, for a stable sort */
} jd_sim_ev_t;

struct jd_sim {
    jd_sim_conf_t     sm_conf;
    jd_sim_account_t *sm_accounts;
    int               sm_day;       /* next day to generate */
    jd_sim_ev_t      *sm_buf;
    size_t            sm_len, sm_pos, sm_cap;
    uint64_t          sm_count;
};

static const char *const jd_sim_segments[] = {"enterprise", "mid-market", "smb"};
static const char *const jd_sim_plans[] = {"enterprise", "business", "starter"};
static const char *const jd_sim_features[] = {"dashboards", "reports.export", "alerts",
                                              "integrations.salesforce", "workflows",
                                              "api"};
#define JD_SIM_NFEATURES 6

static uint64_t jd_sim_mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double jd_sim_unit(uint64_t *s)
{
    return (double)(jd_sim_mix(s) >> 11) / 9007199254740992.0;
}

static int jd_sim_range(uint64_t *s, int lo, int hi)
{
    return lo + (int)(jd_sim_unit(s) * (double)(hi - lo + 1));
}

void jd_sim_conf_default(jd_sim_conf_t *sm)
{
    sm->sm_accounts = 150;
    sm->sm_days = 60;
    sm->sm_end_ms = 1793491200000LL; /* 2026-11-01T00:00:00Z */
    sm->sm_seed = 42;
}

static void jd_sim_account_init(jd_sim_t *sim, int i)
{
    jd_sim_account_t *a = &sim->sm_accounts[i];
    uint64_t s = sim->sm_conf.sm_seed * 1000003ULL + (uint64_t)i;
    static const int seat_lo[] = {40, 15, 5}, seat_hi[] = {120, 40, 15};
    int roll = jd_sim_range(&s, 0, 99);

    snprintf(a->sa_id, sizeof a->sa_id, "acct-%05d", i);
    a->sa_segment = i % 10 < 2 ? 0 : i % 10 < 6 ? 1 : 2;
    a->sa_arch = roll < 50 ? JD_ARCH_HEALTHY : roll < 75 ? JD_ARCH_DRIFTING
               : roll < 90 ? JD_ARCH_EXPANDING : JD_ARCH_STALLED;
    a->sa_seats = jd_sim_range(&s, seat_lo[a->sa_segment], seat_hi[a->sa_segment]);
    a->sa_start_day = jd_sim_range(&s, 0, sim->sm_conf.sm_days / 4);
    a->sa_value_day = a->sa_arch == JD_ARCH_STALLED
                          ? -1 : a->sa_start_day + jd_sim_range(&s, 3, 20);
    a->sa_renewal_days = jd_sim_range(&s, 0, 9) < 3 ? jd_sim_range(&s, 10, 85)
                                                    : jd_sim_range(&s, 120, 330);
    a->sa_seq = 0;
}

jd_sim_t *jd_sim_new(const jd_sim_conf_t *sm)
{
    jd_sim_t *sim = calloc(1, sizeof *sim);
    if (!sim)
        return NULL;
    sim->sm_conf = *sm;
    sim->sm_accounts = calloc((size_t)(sm->sm_accounts > 0 ? sm->sm_accounts : 1),
                              sizeof *sim->sm_accounts);
    if (!sim->sm_accounts) {
        free(sim);
        return NULL;
    }
    for (int i = 0; i < sm->sm_accounts; i++)
        jd_sim_account_init(sim, i);
    return sim;
}

void jd_sim_destroy(jd_sim_t *sim)
{
    if (!sim)
        return;
    free(sim->sm_accounts);
    free(sim->sm_buf);
    free(sim);
}

uint64_t jd_sim_count(const jd_sim_t *sim)
{
    return sim->sm_count;
}

static jd_sim_ev_t *jd_sim_push(jd_sim_t *sim, int account, int type, int64_t at)
{
    if (sim->sm_len == sim->sm_cap) {
        size_t cap = sim->sm_cap ? 2 * sim->sm_cap : 4096;
        jd_sim_ev_t *nb = realloc(sim->sm_buf, cap * sizeof *nb);
        if (!nb)
            return NULL;
        sim->sm_buf = nb;
        sim->sm_cap = cap;
    }
    jd_sim_ev_t *sv = &sim->sm_buf[sim->sm_len];
    memset(sv, 0, sizeof *sv);
    sv->sv_at = at;
    sv->sv_account = account;
    sv->sv_type = type;
    sv->sv_user = sv->sv_feature = -1;
    sv->sv_seq = sim->sm_accounts[account].sa_seq++;
    sv->sv_order = sim->sm_len++;
    return sv;
}

/* Users of the account's pool active today, and how likely each one is. */
static void jd_sim_usage_shape(const jd_sim_account_t *a, int day, int *pool, double *p)
{
    double seats = (double)a->sa_seats;
    *pool = 0;
    *p = 0.0;
    switch (a->sa_arch) {
    case JD_ARCH_HEALTHY: *pool = (int)(0.7 * seats); *p = 0.45; break;
    case JD_ARCH_EXPANDING: *pool = (int)(1.1 * seats) + 1; *p = 0.5; break;
    case JD_ARCH_STALLED: *pool = (int)(0.25 * seats) + 1; *p = 0.2; break;
    case JD_ARCH_DRIFTING:
        if (day < a->sa_start_day + 7) { *pool = (int)(0.6 * seats); *p = 0.45; }
        else { *pool = (int)(0.1 * seats) + 1; *p = 0.3; }
        break;
    }
}

static int jd_sim_usage(jd_sim_t *sim, int ai, int day, int64_t day_ms, uint64_t *s)
{
    const jd_sim_account_t *a = &sim->sm_accounts[ai];
    int pool;
    double p;
    jd_sim_usage_shape(a, day, &pool, &p);
    for (int u = 0; u < pool; u++) {
        if (jd_sim_unit(s) >= p)
            continue;
        int64_t at = day_ms + 8 * 3600000LL + (int64_t)(jd_sim_unit(s) * 10 * 3600000.0);
        jd_sim_ev_t *sv = jd_sim_push(sim, ai, JD_EV_LOGIN, at);
        if (!sv)
            return -1;
        sv->sv_user = u;
        for (int k = jd_sim_range(s, 1, 3); k > 0; k--) {
            at += jd_sim_range(s, 1000, 600000);
            if (!(sv = jd_sim_push(sim, ai, JD_EV_FEATURE_USED, at)))
                return -1;
            sv->sv_user = u;
            sv->sv_feature = jd_sim_range(s, 0, JD_SIM_NFEATURES - 1);
        }
    }
    return 0;
}

/* Lifecycle, sentiment and support events of one account on one day. */
static int jd_sim_milestones(jd_sim_t *sim, int ai, int day, int64_t day_ms, uint64_t *s)
{
    const jd_sim_account_t *a = &sim->sm_accounts[ai];
    static const int nps_lo[] = {9, 2, 8, 5}, nps_hi[] = {10, 6, 10, 7};
    int64_t at = day_ms + 7 * 3600000LL + jd_sim_range(s, 0, 3600000);
    jd_sim_ev_t *sv;

    if (day == a->sa_start_day) {
        if (!jd_sim_push(sim, ai, JD_EV_ACCOUNT_CREATED, at) ||
            !jd_sim_push(sim, ai, JD_EV_ACCOUNT_UPDATED, at + 1000))
            return -1;
    }
    if (day == a->sa_value_day && !jd_sim_push(sim, ai, JD_EV_FIRST_VALUE, at + 5000))
        return -1;
    if (day == a->sa_start_day + 14 || day == a->sa_start_day + 44) {
        if (!(sv = jd_sim_push(sim, ai, JD_EV_NPS_RESPONSE, at + 9000)))
            return -1;
        sv->sv_value = jd_sim_range(s, nps_lo[a->sa_arch], nps_hi[a->sa_arch]);
        sv->sv_has_value = 1;
        sv->sv_user = 0;
    }
    if (jd_sim_unit(s) < 0.03) {
        if (!(sv = jd_sim_push(sim, ai, JD_EV_CASE_OPENED, at + 20000)))
            return -1;
        sv->sv_case = jd_sim_range(s, 1000, 9999);
    }
    if (jd_sim_unit(s) < 0.05 && !jd_sim_push(sim, ai, -1, at + 30000))
        return -1;
    return 0;
}

static int jd_sim_cmp(const void *x, const void *y)
{
    const jd_sim_ev_t *a = x, *b = y;
    if (a->sv_at != b->sv_at)
        return a->sv_at < b->sv_at ? -1 : 1;
    return a->sv_order < b->sv_order ? -1 : a->sv_order > b->sv_order;
}

static int jd_sim_day(jd_sim_t *sim)
{
    const jd_sim_conf_t *c = &sim->sm_conf;
    int day = sim->sm_day++;
    int64_t day_ms = c->sm_end_ms - (int64_t)(c->sm_days - day) * JD_DAY_MS;

    sim->sm_len = sim->sm_pos = 0;
    for (int ai = 0; ai < c->sm_accounts; ai++) {
        const jd_sim_account_t *a = &sim->sm_accounts[ai];
        uint64_t s = (c->sm_seed << 20) ^ ((uint64_t)ai << 12) ^ (uint64_t)day;
        if (day < a->sa_start_day)
            continue;
        if (jd_sim_milestones(sim, ai, day, day_ms, &s) ||
            jd_sim_usage(sim, ai, day, day_ms, &s))
            return -1;
    }
    if (sim->sm_len > 1)
        qsort(sim->sm_buf, sim->sm_len, sizeof *sim->sm_buf, jd_sim_cmp);
    return 0;
}

static char *jd_sim_fmt(jd_arena_t *ar, const char *fmt, long long v)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, fmt, v);
    return jd_arena_strndup(ar, buf, (size_t)n);
}

static char *jd_sim_date(jd_arena_t *ar, int64_t ms)
{
    char buf[16];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return jd_arena_strndup(ar, buf, strlen(buf));
}

/* attributes of the account_updated sent when the account is created */
static int jd_sim_profile(const jd_sim_t *sim, const jd_sim_account_t *a,
                          jd_event_t *ev, jd_arena_t *ar)
{
    static const int arr_per_seat[] = {1200, 700, 400};
    jd_attr_t *at = jd_arena_alloc(ar, 6 * sizeof *at);
    if (!at)
        return -1;
    at[0] = (jd_attr_t){"segment", jd_sim_segments[a->sa_segment]};
    at[1] = (jd_attr_t){"seats", jd_sim_fmt(ar, "%lld", a->sa_seats)};
    at[2] = (jd_attr_t){"plan", jd_sim_plans[a->sa_segment]};
    at[3] = (jd_attr_t){"arr", jd_sim_fmt(ar, "%lld",
                                          (long long)a->sa_seats * arr_per_seat[a->sa_segment])};
    at[4] = (jd_attr_t){"renewal_at",
                        jd_sim_date(ar, sim->sm_conf.sm_end_ms +
                                            (int64_t)a->sa_renewal_days * JD_DAY_MS)};
    at[5] = (jd_attr_t){"status", "active"};
    ev->ev_attrs = at;
    ev->ev_attr_cnt = 6;
    return 0;
}

static int jd_sim_case(const jd_sim_ev_t *sv, jd_event_t *ev, jd_arena_t *ar)
{
    jd_attr_t *at = jd_arena_alloc(ar, 2 * sizeof *at);
    if (!at)
        return -1;
    at[0] = (jd_attr_t){"case_id", jd_sim_fmt(ar, "CASE-%lld", sv->sv_case)};
    at[1] = (jd_attr_t){"severity", sv->sv_case % 7 == 0 ? "sev1" : "sev3"};
    ev->ev_attrs = at;
    ev->ev_attr_cnt = 2;
    return 0;
}

int jd_sim_next(jd_sim_t *sim, jd_event_t *ev, jd_arena_t *ar)
{
    while (sim->sm_pos == sim->sm_len) {
        if (sim->sm_day >= sim->sm_conf.sm_days)
            return 0;
        if (jd_sim_day(sim))
            return -1;
    }
    const jd_sim_ev_t *sv = &sim->sm_buf[sim->sm_pos++];
    const jd_sim_account_t *a = &sim->sm_accounts[sv->sv_account];
    char id[64];

    memset(ev, 0, sizeof *ev);
    snprintf(id, sizeof id, "%s-%llu", a->sa_id, (unsigned long long)sv->sv_seq);
    ev->ev_id = jd_arena_strndup(ar, id, strlen(id));
    ev->ev_account = a->sa_id;
    ev->ev_type = sv->sv_type < 0 ? JD_EV_UNKNOWN : (jd_event_type_t)sv->sv_type;
    ev->ev_type_name = sv->sv_type < 0 ? "page_viewed" : jd_event_type_name(ev->ev_type);
    ev->ev_occurred_at = sv->sv_at;
    if (sv->sv_user >= 0)
        ev->ev_user = jd_sim_fmt(ar, "user-%03lld", sv->sv_user);
    if (sv->sv_feature >= 0)
        ev->ev_feature = jd_sim_features[sv->sv_feature];
    ev->ev_value = sv->sv_value;
    ev->ev_has_value = sv->sv_has_value;
    if (!ev->ev_id || (sv->sv_user >= 0 && !ev->ev_user))
        return -1;
    if (ev->ev_type == JD_EV_ACCOUNT_UPDATED && jd_sim_profile(sim, a, ev, ar))
        return -1;
    if (ev->ev_type == JD_EV_CASE_OPENED && jd_sim_case(sv, ev, ar))
        return -1;
    sim->sm_count++;
    return 1;
}
