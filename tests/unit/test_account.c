/*
 * test_account: the per-account record and its per-event apply, pure.
 *
 * The windows kept per event must equal the windows counted from scratch
 * after every event of a random log (users, core features, cases,
 * duplicates, out-of-order and too-late events), and the record must not
 * depend on the order of the events inside the horizon.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_account.h"
#include "account_tev.h"

TestSuite(account, .init = tev_setup);

static int apply(jd_account_t *ac, tev_t *t)
{
    return jd_account_apply(ac, &g_cf, &t->ev);
}

static void check_windows(const jd_account_t *ac)
{
    int64_t w[JD_W__COUNT];
    int64_t day = jd_window_day(ac->ac_as_of);
    cr_assert_eq(ac->ac_win_day, day);
    jd_account_windows(ac, &g_cf, day, w);
    for (int k = 0; k < JD_W__COUNT; k++)
        cr_assert_eq(ac->ac_win[k], w[k], "window %d: kept %lld, counted %lld",
                     k, (long long)ac->ac_win[k], (long long)w[k]);
}

static double sig(const jd_account_t *ac, jd_signal_id_t id)
{
    jd_signals_t sg;
    jd_account_signals(ac, &g_cf, JD_SIGNALS_NO_TS, &sg);
    return sg.sg_val[id].type == JD_VAL_NUM ? sg.sg_val[id].num : NAN;
}

Test(account, usage_windows_and_duplicates)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    tev_init(&t, "e1", "login", T0 + 10 * DAY);
    tev_user(&t, "u1", NULL);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_DUPLICATE);
    tev_init(&t, "e2", "feature_used", T0 + 9 * DAY);
    tev_user(&t, "u2", "dashboards");
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    check_windows(ac);
    cr_assert_eq(sig(ac, JD_SIG_ACTIVE_USERS_1D), 1);
    cr_assert_eq(sig(ac, JD_SIG_ACTIVE_USERS_7D), 2);
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_7D), 2);
    cr_assert_eq(sig(ac, JD_SIG_DAYS_ACTIVE_28D), 2);
    cr_assert_eq(sig(ac, JD_SIG_CORE_FEATURES_USED_28D), 1);
    cr_assert_eq(sig(ac, JD_SIG_LAST_USAGE_AT), (double)(T0 + 10 * DAY));
    jd_account_destroy(ac);
}

/* The retention rule alone (L = R): usage before D-R+1 is too late. */
Test(account, too_late_usage_keeps_its_other_effects)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    g_cf.acf_lateness_days = g_cf.acf_retention_days;
    tev_init(&t, "e1", "login", T0 + 100 * DAY);
    tev_user(&t, "u1", NULL);
    apply(ac, &t);
    tev_init(&t, "old", "feature_used", T0 + 10 * DAY);
    tev_user(&t, "u9", "reports");
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_LATE);
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_28D), 1);
    cr_assert_eq(sig(ac, JD_SIG_FIRST_VALUE_AT), (double)(T0 + 10 * DAY));
    /* inside the horizon it counts, even arriving late */
    tev_init(&t, "late", "login", T0 + 80 * DAY);
    tev_user(&t, "u2", NULL);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_28D), 2);
    check_windows(ac);
    jd_account_destroy(ac);
}

Test(account, rejects_what_it_cannot_hold)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    tev_init(&t, "", "login", T0);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_REJECTED);
    tev_init(&t, "x", "login", -1);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_REJECTED);
    cr_assert_eq(ac->ac_as_of, JD_SIGNALS_NO_TS);
    jd_account_destroy(ac);
}

Test(account, last_writer_wins_by_time_then_event_id)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    tev_init(&t, "b", "account_updated", T0);
    tev_attr(&t, "seats", "10");
    tev_attr(&t, "segment", "smb");
    apply(ac, &t);
    tev_init(&t, "a", "account_updated", T0);          /* same time, smaller id */
    tev_attr(&t, "seats", "99");
    apply(ac, &t);
    cr_assert_eq(sig(ac, JD_SIG_SEATS), 10);
    tev_init(&t, "c", "account_updated", T0);          /* same time, greater id */
    tev_attr(&t, "seats", "20");
    tev_attr(&t, "seats", "bad");                      /* invalid never wins */
    apply(ac, &t);
    cr_assert_eq(sig(ac, JD_SIG_SEATS), 20);
    tev_init(&t, "0", "account_updated", T0 - 1);      /* older */
    tev_attr(&t, "segment", "enterprise");
    tev_attr(&t, "renewal_at", "2026-06-30");
    apply(ac, &t);
    jd_signals_t sg;
    jd_account_signals(ac, &g_cf, JD_SIGNALS_NO_TS, &sg);
    cr_assert_str_eq(sg.sg_val[JD_SIG_SEGMENT].str, "smb");
    cr_assert(sg.sg_val[JD_SIG_RENEWAL_AT].type == JD_VAL_NUM);
    jd_account_destroy(ac);
}

Test(account, cases_follow_their_latest_event)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    tev_init(&t, "o1", "case_opened", T0);
    tev_attr(&t, "case_id", "c1");
    tev_attr(&t, "severity", "SEV1");
    apply(ac, &t);
    tev_init(&t, "o2", "case_opened", T0 + 1);
    tev_attr(&t, "case_id", "c2");
    apply(ac, &t);
    cr_assert_eq(ac->ac_cases_open, 2);
    cr_assert_eq(ac->ac_sev1_open, 1);
    tev_init(&t, "c1x", "case_closed", T0 + 5);
    tev_attr(&t, "case_id", "c1");
    apply(ac, &t);
    cr_assert_eq(ac->ac_cases_open, 1);
    cr_assert_eq(ac->ac_sev1_open, 0);
    tev_init(&t, "o1old", "case_opened", T0 + 2);        /* older than the close */
    tev_attr(&t, "case_id", "c1");
    apply(ac, &t);
    cr_assert_eq(ac->ac_cases_open, 1);
    cr_assert_eq(sig(ac, JD_SIG_CASES_OPENED_7D), 2);
    check_windows(ac);
    jd_account_destroy(ac);
}

Test(account, nps_average_over_ninety_days)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    tev_init(&t, "n1", "nps_response", T0);
    t.ev.ev_has_value = 1;
    t.ev.ev_value = 9;
    apply(ac, &t);
    tev_init(&t, "n2", "nps_response", T0 + 50 * DAY);
    t.ev.ev_has_value = 1;
    t.ev.ev_value = 5;
    apply(ac, &t);
    cr_assert_eq(sig(ac, JD_SIG_NPS_AVG_90D), 7);
    cr_assert_eq(sig(ac, JD_SIG_NPS_LAST), 5);
    tev_init(&t, "x", "login", T0 + 95 * DAY);  /* n1 leaves the 90 days */
    apply(ac, &t);
    cr_assert_eq(sig(ac, JD_SIG_NPS_AVG_90D), 5);
    jd_account_destroy(ac);
}

Test(account, as_of_another_day)
{
    jd_account_t *ac = jd_account_new("acme");
    tev_t t;
    for (int d = 0; d < 10; d++) {
        char id[16];
        snprintf(id, sizeof id, "e%d", d);
        tev_init(&t, id, "login", T0 + d * DAY);
        tev_user(&t, d % 2 ? "u1" : "u2", NULL);
        apply(ac, &t);
    }
    jd_signals_t sg;
    jd_account_signals(ac, &g_cf, T0 + 3 * DAY + 5, &sg);
    cr_assert_eq(sg.sg_val[JD_SIG_EVENTS_7D].num, 4);  /* days 0..3 */
    jd_account_signals(ac, &g_cf, T0 + 40 * DAY, &sg);
    cr_assert_eq(sg.sg_val[JD_SIG_EVENTS_7D].num, 0);
    cr_assert_eq(sg.sg_val[JD_SIG_ACTIVE_USERS_28D].num, 0);
    cr_assert_eq(sg.sg_val[JD_SIG_WAU_PREV4_AVG].num, 0.5); /* [D-34, D-28] */
    jd_account_destroy(ac);
}

Test(account, rules_and_positions)
{
    jd_account_t *ac = jd_account_new("acme");
    jd_rule_state_t rs = {1, 5, 5, 2, 0};
    cr_assert_eq(jd_account_rule(ac, 42).rs_episode, 0);
    cr_assert_eq(jd_account_rule_set(ac, 42, &rs), 0);
    cr_assert_eq(jd_account_rule_set(ac, 7, &rs), 0);
    cr_assert_eq(jd_account_rule(ac, 42).rs_episode, 2);
    cr_assert_eq(ac->ac_rules[0].ar_hash, 7);
    cr_assert_eq(jd_account_position(ac, 1, 3), -1);
    jd_account_position_set(ac, 1, 3, 100);
    jd_account_position_set(ac, 1, 3, 50);
    cr_assert_eq(jd_account_position(ac, 1, 3), 100);
    cr_assert(jd_account_bytes(ac) > sizeof *ac);
    jd_account_destroy(ac);
    jd_account_destroy(NULL);
}

Test(account, kept_windows_equal_counted_windows)
{
    static const int lateness[] = {1, 7, 35};
    for (int round = 0; round < 21; round++) {
        g_cf.acf_lateness_days = lateness[round % 3];
        jd_account_t *ac = jd_account_new("acme");
        for (int i = 0; i < 400; i++) {
            tev_t t;
            random_event(&t, i);
            cr_assert(apply(ac, &t) >= 0);
            check_windows(ac);
        }
        jd_account_destroy(ac);
    }
}

/* Inside the lateness horizon the order of events does not matter: a log
 * of `span` days under lateness L >= span, forwards and backwards. */
static void assert_order_free(int lateness, int span)
{
    enum { N = 300 };
    static tev_t evs[N];
    g_cf.acf_lateness_days = lateness;
    for (int i = 0; i < N; i++) {
        random_event(&evs[i], i);
        evs[i].ev.ev_occurred_at = T0 + (evs[i].ev.ev_occurred_at - T0) % (span * DAY);
        evs[i].ev.ev_id = evs[i].id;
        evs[i].ev.ev_user = evs[i].user;
        evs[i].ev.ev_feature = evs[i].feature;
        evs[i].ev.ev_type_name = evs[i].type;
        evs[i].ev.ev_attrs = evs[i].attrs;
        for (size_t k = 0; k < evs[i].ev.ev_attr_cnt; k++) {
            evs[i].attrs[k].at_key = evs[i].akey[k];
            evs[i].attrs[k].at_val = evs[i].aval[k];
        }
    }
    jd_account_t *a = jd_account_new("acme"), *b = jd_account_new("acme");
    for (int i = 0; i < N; i++)
        jd_account_apply(a, &g_cf, &evs[i].ev);
    for (int i = N - 1; i >= 0; i--)
        jd_account_apply(b, &g_cf, &evs[i].ev);
    jd_signals_t sa, sb;
    char ja[8192], jb[8192];
    jd_account_signals(a, &g_cf, JD_SIGNALS_NO_TS, &sa);
    jd_account_signals(b, &g_cf, JD_SIGNALS_NO_TS, &sb);
    jd_signals_to_json(&sa, "acme", ja, sizeof ja);
    jd_signals_to_json(&sb, "acme", jb, sizeof jb);
    cr_assert_str_eq(ja, jb);
    jd_account_destroy(a);
    jd_account_destroy(b);
}

Test(account, order_inside_the_horizon_does_not_matter)
{
    assert_order_free(35, 30);
    assert_order_free(7, 7);
}

/* ---- the lateness horizon (state.lateness_days = 7) ------------------------ */

static void usage_at(jd_account_t *ac, const char *id, int64_t at, int want)
{
    tev_t t;
    tev_init(&t, id, "login", at);
    tev_user(&t, "u1", "reports");
    cr_assert_eq(apply(ac, &t), want, "%s", id);
}

static jd_day_t *day_of(jd_account_t *ac, int64_t d)
{
    for (uint32_t i = 0; i < ac->ac_ndays; i++)
        if (ac->ac_days[i].dy_day == d)
            return &ac->ac_days[i];
    return NULL;
}

Test(account, duplicates_exact_inside_the_lateness_horizon)
{
    jd_account_t *ac = jd_account_new("acme");
    char id[16];
    for (int d = 0; d < 7; d++) {
        snprintf(id, sizeof id, "e%d", d);
        usage_at(ac, id, T0 + (20 - d) * DAY, JD_ACCOUNT_APPLIED);
    }
    tev_t t;
    tev_init(&t, "case", "case_opened", T0 + 14 * DAY);
    tev_attr(&t, "case_id", "c1");
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    for (int d = 0; d < 7; d++) {                 /* D-6 .. D: every re-send */
        snprintf(id, sizeof id, "e%d", d);
        usage_at(ac, id, T0 + (20 - d) * DAY, JD_ACCOUNT_DUPLICATE);
    }
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_DUPLICATE);
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_7D), 7);
    cr_assert_eq(sig(ac, JD_SIG_DAYS_ACTIVE_28D), 7);
    check_windows(ac);
    jd_account_destroy(ac);
}

Test(account, usage_before_the_lateness_horizon_is_late)
{
    jd_account_t *ac = jd_account_new("acme");
    int64_t win[JD_W__COUNT];
    usage_at(ac, "now", T0 + 20 * DAY, JD_ACCOUNT_APPLIED);
    memcpy(win, ac->ac_win, sizeof win);
    tev_t t;
    tev_init(&t, "old", "feature_used", T0 + 13 * DAY + 5);   /* D-7 */
    tev_user(&t, "u9", "reports");
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_LATE);
    cr_assert_eq(memcmp(win, ac->ac_win, sizeof win), 0, "a window moved");
    check_windows(ac);
    cr_assert_eq(sig(ac, JD_SIG_ACTIVE_USERS_28D), 1);
    cr_assert_eq(sig(ac, JD_SIG_FIRST_VALUE_AT), (double)(T0 + 13 * DAY + 5));
    cr_assert_null(day_of(ac, jd_window_day(T0) + 13), "a late event opened a day");
    /* D-6 still counts */
    usage_at(ac, "edge", T0 + 14 * DAY, JD_ACCOUNT_APPLIED);
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_7D), 2);
    /* an event of another type before D-6 applies what it does, idempotently */
    tev_init(&t, "oldcase", "case_opened", T0 + 10 * DAY);
    tev_attr(&t, "case_id", "c7");
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
    cr_assert_eq(ac->ac_cases_open, 1);
    cr_assert_eq(sig(ac, JD_SIG_CASES_OPENED_28D), 1);
    check_windows(ac);
    jd_account_destroy(ac);
}

/* When D moves, the days that leave [D-6, D] keep their counts and lose
 * their ids; the cache's byte count follows. */
Test(account, ids_trimmed_counts_kept_when_the_day_moves)
{
    jd_account_t *ac = jd_account_new("acme"), *all = jd_account_new("acme");
    char id[16];
    for (int d = 0; d < 10; d++)
        for (int k = 0; k < 3; k++) {
            tev_t t;
            snprintf(id, sizeof id, "e%d.%d", d, k);
            tev_init(&t, id, "login", T0 + d * DAY + k);
            tev_user(&t, "u1", NULL);
            cr_assert_eq(apply(ac, &t), JD_ACCOUNT_APPLIED);
            g_cf.acf_lateness_days = 35;
            cr_assert_eq(apply(all, &t), JD_ACCOUNT_APPLIED);
            g_cf.acf_lateness_days = 7;
        }
    tev_t t;
    tev_init(&t, "other", "page_viewed", T0 + 2 * DAY);  /* a day without usage */
    g_cf.acf_lateness_days = 35;
    cr_assert_eq(apply(all, &t), JD_ACCOUNT_APPLIED);
    g_cf.acf_lateness_days = 7;
    int64_t d0 = jd_window_day(T0);
    size_t freed = 0;
    for (int d = 0; d < 10; d++) {
        jd_day_t *dy = day_of(ac, d0 + d);
        cr_assert(dy, "day %d", d);
        cr_assert_eq(dy->dy_usage, 3, "day %d", d);
        cr_assert_eq(dy->dy_sealed, d < 3, "day %d", d);
        cr_assert_eq(dy->dy_n, d < 3 ? 0 : 3, "day %d", d);
        cr_assert_eq(dy->dy_ids == NULL, d < 3, "day %d", d);
        if (d < 3) {  /* what the ids took: a heap block as jd_account_bytes counts it */
            size_t n = day_of(all, d0 + d)->dy_cap * sizeof(uint64_t);
            freed += (n + 8 + 15) & ~(size_t)15;
        }
    }
    cr_assert_eq(ac->ac_ndays, 10);
    cr_assert_eq(all->ac_ndays, 10);  /* page_viewed shares day 2 */
    cr_assert_eq(jd_account_bytes(ac) + freed, jd_account_bytes(all));
    cr_assert_eq(sig(ac, JD_SIG_EVENTS_28D), 30);
    cr_assert_eq(sig(ac, JD_SIG_DAYS_ACTIVE_28D), 10);
    check_windows(ac);
    /* a day that had ids only for other events is dropped when sealed */
    jd_account_t *o = jd_account_new("acme");
    tev_init(&t, "pv", "page_viewed", T0);
    cr_assert_eq(apply(o, &t), JD_ACCOUNT_APPLIED);
    usage_at(o, "later", T0 + 7 * DAY, JD_ACCOUNT_APPLIED);
    cr_assert_eq(o->ac_ndays, 1);
    cr_assert_eq(o->ac_days[0].dy_day, d0 + 7);
    jd_account_destroy(o);
    jd_account_destroy(ac);
    jd_account_destroy(all);
}
