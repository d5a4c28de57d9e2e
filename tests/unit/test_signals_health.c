/*
 * test_signals_health: health profiles (configuration keys, inheritance
 * from `default`, validation) and the score with its contributions
 * (state/jd_health.c), and how jd_signals_derive feeds it. Pure.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "jd_health.h"
#include "jd_signals.h"
#include "jd_window.h"

#define DAY JD_WINDOW_DAY_MS

static void set_ok(jd_health_conf_t *hc, const char *k, const char *v)
{
    jd_err_t err;
    cr_assert_eq(jd_health_conf_set(hc, k, v, &err), 0, "%s: %s", k, err.err_msg);
}

static void set_bad(jd_health_conf_t *hc, const char *k, const char *v, const char *why)
{
    jd_err_t err;
    cr_assert_eq(jd_health_conf_set(hc, k, v, &err), JD_ERR_FATAL, "%s=%s", k, v);
    cr_assert_eq(err.err_code, JD_E_CONFIG);
    cr_assert(strstr(err.err_msg, why), "%s", err.err_msg);
    cr_assert(strstr(err.err_msg, k), "names the key: %s", err.err_msg);
}

Test(health, default_profile_is_valid_and_sums_to_100)
{
    jd_health_conf_t hc;
    jd_health_profile_t p;
    jd_err_t err;
    double sum = 0;

    jd_health_conf_init(&hc);
    cr_assert_eq(jd_health_conf_check(&hc, &err), 0, "%s", err.err_msg);
    jd_health_resolve(&hc, "anything", &p);
    cr_assert_str_eq(p.hp_segment, "default");
    for (int m = 0; m < JD_HM__COUNT; m++)
        sum += p.hp_val[m][JD_HF_WEIGHT];
    cr_assert_eq(sum, 100);
    jd_health_profile_t q;
    jd_health_resolve(NULL, NULL, &q);
    cr_assert_eq(memcmp(p.hp_val, q.hp_val, sizeof p.hp_val), 0, "NULL conf = built-in");
}

Test(health, segments_inherit_what_they_do_not_set)
{
    jd_health_conf_t hc;
    jd_health_profile_t p;
    jd_err_t err;

    jd_health_conf_init(&hc);
    set_ok(&hc, "mid.market.utilization.weight", "40");   /* dots in a segment */
    set_ok(&hc, "mid.market.nps.weight", "10");
    set_ok(&hc, "default.cases_open.bad", "8");           /* after the segment */
    cr_assert_eq(jd_health_conf_check(&hc, &err), 0, "%s", err.err_msg);
    jd_health_resolve(&hc, "mid.market", &p);
    cr_assert_str_eq(p.hp_segment, "mid.market");
    cr_assert_eq(p.hp_val[JD_HM_UTILIZATION][JD_HF_WEIGHT], 40);
    cr_assert_eq(p.hp_val[JD_HM_UTILIZATION][JD_HF_BAD], 0.2, "inherited");
    cr_assert_eq(p.hp_val[JD_HM_CASES_OPEN][JD_HF_BAD], 8, "default's later change reaches it");
    jd_health_resolve(&hc, "smb", &p);
    cr_assert_str_eq(p.hp_segment, "default");
}

Test(health, bad_keys_and_values_name_the_key)
{
    jd_health_conf_t hc;
    jd_health_conf_init(&hc);
    set_bad(&hc, "smb.happiness.weight", "10", "unknown measure");
    set_bad(&hc, "smb.nps.colour", "10", "unknown field");
    set_bad(&hc, "smb.nps.weight", "-1", "non-negative");
    set_bad(&hc, "smb.nps.good", "nine", "not a");
    set_bad(&hc, "smb.nps.good", "0x10", "not a");
    set_bad(&hc, "nps.weight", "10", "health.<segment>");
}

Test(health, check_catches_sums_and_equal_thresholds)
{
    jd_health_conf_t hc;
    jd_err_t err;

    jd_health_conf_init(&hc);
    set_ok(&hc, "enterprise.nps.weight", "25");
    cr_assert_eq(jd_health_conf_check(&hc, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "health.enterprise: weights sum to 105"), "%s", err.err_msg);
    set_ok(&hc, "enterprise.utilization.weight", "25");
    cr_assert_eq(jd_health_conf_check(&hc, &err), 0, "%s", err.err_msg);
    set_ok(&hc, "default.milestones.good", "0");
    cr_assert_eq(jd_health_conf_check(&hc, &err), JD_ERR_FATAL);
    cr_assert(strstr(err.err_msg, "milestones"), "%s", err.err_msg);
}

Test(health, thresholds_map_linearly_both_ways)
{
    cr_assert_eq(jd_health_map(0.2, 0.2, 0.8), 0);
    cr_assert_eq(jd_health_map(0.1, 0.2, 0.8), 0);
    cr_assert_float_eq(jd_health_map(0.5, 0.2, 0.8), 50, 1e-9);
    cr_assert_eq(jd_health_map(0.8, 0.2, 0.8), 100);
    cr_assert_eq(jd_health_map(3, 0.2, 0.8), 100);
    /* lower is better: 5 open cases is 0 points, none is 100 */
    cr_assert_eq(jd_health_map(5, 5, 0), 0);
    cr_assert_float_eq(jd_health_map(1, 5, 0), 80, 1e-9);
    cr_assert_eq(jd_health_map(0, 5, 0), 100);
    cr_assert_eq(jd_health_map(NAN, 0, 1), 0);
}

Test(health, unknown_measures_are_left_out_and_points_add_up)
{
    jd_health_profile_t p;
    jd_health_result_t r;
    double v[JD_HM__COUNT] = {0.5, 0, 0, 1, 1};
    int has[JD_HM__COUNT] = {1, 0, 0, 1, 1};   /* no usage baseline, no NPS */

    jd_health_resolve(NULL, NULL, &p);
    jd_health_score(&p, v, has, &r);
    cr_assert(r.hr_present);
    /* (30 x 50 + 15 x 80 + 15 x 100) / 60 */
    cr_assert_float_eq(r.hr_score, (30 * 50.0 + 15 * 80.0 + 15 * 100.0) / 60, 1e-9);
    double sum = 0;
    for (int m = 0; m < JD_HM__COUNT; m++)
        sum += r.hr_parts[m].hp_points;
    cr_assert_float_eq(sum, r.hr_score, 1e-9);
    cr_assert(!r.hr_parts[JD_HM_NPS].hp_present);
    cr_assert_eq(r.hr_parts[JD_HM_NPS].hp_weight, 20);
    memset(has, 0, sizeof has);
    jd_health_score(&p, v, has, &r);
    cr_assert(!r.hr_present, "nothing known: no score");
}

Test(health, derive_scores_with_the_segment_profile)
{
    jd_health_conf_t hc;
    jd_signals_conf_t conf;
    jd_signals_raw_t raw;
    jd_signals_t sg;
    char json[8192];

    jd_health_conf_init(&hc);
    set_ok(&hc, "enterprise.utilization.weight", "40");
    set_ok(&hc, "enterprise.nps.weight", "10");
    jd_signals_conf_default(&conf);
    conf.sgc_health = &hc;
    jd_signals_raw_init(&raw);
    raw.sr_as_of = 20000 * DAY;
    raw.sr_start_at = raw.sr_as_of - 45 * DAY;   /* past ttfv target, no value */
    jd_signals_raw_set_attr(&raw, "seats", "10");
    jd_signals_raw_set_attr(&raw, "segment", "enterprise");
    raw.sr_win[JD_W_USERS_28D] = 5;              /* utilization 0.5 -> 50 */
    raw.sr_nps_count = 2;
    raw.sr_nps_sum = 13;                          /* 6.5 -> 50 */
    raw.sr_cases_open = 0;
    jd_signals_derive(&sg, &raw, &conf);
    /* usage_change unknown: weights 40 + 10 + 15 + 15 = 80 */
    double want = (40 * 50.0 + 10 * 50.0 + 15 * 100.0 + 15 * 0.0) / 80;
    cr_assert_float_eq(sg.sg_val[JD_SIG_HEALTH_SCORE].num, want, 1e-9);
    cr_assert_str_eq(sg.sg_health.hr_profile, "enterprise");
    cr_assert_eq(sg.sg_health.hr_parts[JD_HM_MILESTONES].hp_value, 0, "off track");
    jd_signals_to_json(&sg, "a", json, sizeof json);
    cr_assert(strstr(json, "\"health\":{\"score\":"), "%s", json);
    cr_assert(strstr(json, "\"profile\":\"enterprise\""), "%s", json);
    cr_assert(strstr(json, "\"usage_change_7d\":{\"weight\":20,\"value\":null,"
                           "\"score\":null,\"points\":null}"), "%s", json);
    cr_assert(strstr(json, "\"milestones\":{\"weight\":15,\"value\":0,\"score\":0,"
                           "\"points\":0}"), "%s", json);

    raw.sr_start_at = raw.sr_as_of - 10 * DAY;   /* inside the target */
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert_eq(sg.sg_health.hr_parts[JD_HM_MILESTONES].hp_value, 1);
    raw.sr_start_at = JD_SIGNALS_NO_TS;
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert(!sg.sg_health.hr_parts[JD_HM_MILESTONES].hp_present, "no start: unknown");
}
