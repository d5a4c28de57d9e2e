/*
 * jd_bench_gen: the bench workloads (contract in jd_bench.h).
 *
 * SIM is jd_sim itself, the generator behind `journeyd simulate`: realistic
 * journeys (logins, feature use, milestones, NPS, cases), day by day. Its
 * triggers come in bursts (renewals on the day an account starts, expansions
 * a few days later), which is fine for throughput but gives few latency
 * samples in a ten-second run.
 *
 * MIX adds, every `every` events, the account_updated of a brand-new account
 * whose renewal is due in 30 days: exactly one renewal_within_90d trigger
 * per new account, at a steady rate, through the whole path (decode, state,
 * rules, outbox, publish). Latency percentiles then rest on thousands of
 * samples spread over the run.
 *
 * DISTINCT gives every event its own account (one login each): the
 * 1M-account memory check, with events as small as the schema allows.
 *
 * Strings of the returned event live in bg_arena or in the generator and
 * stay valid until the next call. One thread per generator.
 */
#include "jd_bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JD_BENCH_DAY_MS 86400000LL
/* 2026-10-01T00:00:00Z: DISTINCT events start here, a millisecond apart. */
#define JD_BENCH_DISTINCT_T0 1790812800000LL

int jd_bench_gen_parse(const char *s)
{
    return !strcmp(s, "sim") ? JD_BENCH_GEN_SIM
         : !strcmp(s, "distinct") ? JD_BENCH_GEN_DISTINCT
         : !strcmp(s, "mix") ? JD_BENCH_GEN_MIX : -1;
}

int jd_bench_gen_init(jd_bench_gen_t *g, jd_bench_gen_kind_t kind, int accounts,
                      int days, uint64_t seed, int every)
{
    jd_sim_conf_t sm;
    memset(g, 0, sizeof *g);
    g->bg_kind = kind;
    g->bg_seed = seed;
    g->bg_every = every > 1 ? every : 50;
    jd_arena_init(&g->bg_arena, 64 * 1024);
    if (kind == JD_BENCH_GEN_DISTINCT)
        return 0;
    jd_sim_conf_default(&sm);
    sm.sm_accounts = accounts;
    sm.sm_days = days;
    sm.sm_seed = seed;
    g->bg_last_at = sm.sm_end_ms - (int64_t)days * JD_BENCH_DAY_MS;
    g->bg_sim = jd_sim_new(&sm);
    return g->bg_sim ? 0 : -1;
}

void jd_bench_gen_free(jd_bench_gen_t *g)
{
    jd_sim_destroy(g->bg_sim);
    jd_arena_destroy(&g->bg_arena);
    g->bg_sim = NULL;
}

static void jd_bench_gen_distinct(jd_bench_gen_t *g, jd_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    snprintf(g->bg_acct, sizeof g->bg_acct, "acct-%07llu", (unsigned long long)g->bg_count);
    snprintf(g->bg_id, sizeof g->bg_id, "d%llu", (unsigned long long)g->bg_count);
    ev->ev_id = g->bg_id;
    ev->ev_account = g->bg_acct;
    ev->ev_user = "u1";
    ev->ev_type = JD_EV_LOGIN;
    ev->ev_type_name = "login";
    ev->ev_occurred_at = JD_BENCH_DISTINCT_T0 + (int64_t)g->bg_count;
}

/* The account_updated of new account number bg_new: seats, segment and a
 * renewal 30 days after the current event time. */
static void jd_bench_gen_new_account(jd_bench_gen_t *g, jd_event_t *ev)
{
    time_t t = (time_t)((g->bg_last_at + 30 * JD_BENCH_DAY_MS) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(g->bg_date, sizeof g->bg_date, "%Y-%m-%d", &tm);
    memset(ev, 0, sizeof *ev);
    snprintf(g->bg_acct, sizeof g->bg_acct, "new-%llu-%llu", (unsigned long long)g->bg_seed,
             (unsigned long long)g->bg_new);
    snprintf(g->bg_id, sizeof g->bg_id, "%s-0", g->bg_acct);
    g->bg_attrs[0] = (jd_attr_t){"seats", "10"};
    g->bg_attrs[1] = (jd_attr_t){"segment", "smb"};
    g->bg_attrs[2] = (jd_attr_t){"renewal_at", g->bg_date};
    ev->ev_id = g->bg_id;
    ev->ev_account = g->bg_acct;
    ev->ev_type = JD_EV_ACCOUNT_UPDATED;
    ev->ev_type_name = "account_updated";
    ev->ev_occurred_at = g->bg_last_at;
    ev->ev_attrs = g->bg_attrs;
    ev->ev_attr_cnt = 3;
    g->bg_new++;
}

int jd_bench_gen_next(jd_bench_gen_t *g, jd_event_t *ev)
{
    int r;
    if (g->bg_kind == JD_BENCH_GEN_DISTINCT) {
        jd_bench_gen_distinct(g, ev);
        g->bg_count++;
        return 1;
    }
    if (g->bg_kind == JD_BENCH_GEN_MIX && g->bg_count % (uint64_t)g->bg_every ==
                                              (uint64_t)g->bg_every - 1) {
        jd_bench_gen_new_account(g, ev);
        g->bg_count++;
        return 1;
    }
    if ((g->bg_count & 1023) == 0)
        jd_arena_reset(&g->bg_arena);
    r = jd_sim_next(g->bg_sim, ev, &g->bg_arena);
    if (r == 1) {
        g->bg_last_at = ev->ev_occurred_at;
        g->bg_count++;
    }
    return r;
}
