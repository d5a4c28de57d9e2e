/*
 * test_signals_journey: the signals of issue 3 derived from raw aggregates
 * (usage windows, sentiment, support, stakeholders), the stage (first match
 * wins), jd_signals_observe (healthy adoption, stage changes and their
 * sequence) and the journey stage event codec. Pure: no Redis, no Kafka.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "jd_signals.h"
#include "jd_stage.h"
#include "jd_window.h"

#define DAY JD_WINDOW_DAY_MS
#define T0 (INT64_C(20000) * DAY + DAY / 2)   /* noon of day 20000 */

static jd_signals_raw_t base_raw(void)
{
    jd_signals_raw_t raw;
    jd_signals_raw_init(&raw);
    raw.sr_as_of = T0;
    raw.sr_last_event_at = T0;
    return raw;
}

static double num(const jd_signals_t *sg, jd_signal_id_t id)
{
    cr_assert_eq(sg->sg_val[id].type, JD_VAL_NUM, "%s is not a number",
                 jd_signals_name(id));
    return sg->sg_val[id].num;
}

static int is_null(const jd_signals_t *sg, jd_signal_id_t id)
{
    return sg->sg_val[id].type == JD_VAL_NULL;
}

static const char *str(const jd_signals_t *sg, jd_signal_id_t id)
{
    cr_assert_eq(sg->sg_val[id].type, JD_VAL_STR, "%s is not a string",
                 jd_signals_name(id));
    return sg->sg_val[id].str;
}

/* ---- windows ---- */

Test(journey, window_specs_are_the_issue_windows)
{
    jd_window_spec_t ws[JD_W__COUNT];
    static const int want[JD_W__COUNT][2] = {
        [JD_W_USERS_1D] = {0, 0}, [JD_W_USERS_7D] = {0, 6},
        [JD_W_USERS_28D] = {0, 27}, [JD_W_USERS_PREV1] = {7, 13},
        [JD_W_USERS_PREV2] = {14, 20}, [JD_W_USERS_PREV3] = {21, 27},
        [JD_W_USERS_PREV4] = {28, 34}, [JD_W_EVENTS_7D] = {0, 6},
        [JD_W_EVENTS_28D] = {0, 27}, [JD_W_DAYS_ACTIVE_28D] = {0, 27},
        [JD_W_POWER_USERS_28D] = {0, 27}, [JD_W_CORE_FEATURES_28D] = {0, 27},
        [JD_W_CASES_OPENED_7D] = {0, 6}, [JD_W_CASES_OPENED_28D] = {0, 27}};
    jd_signals_windows(8, ws);
    for (int w = 0; w < JD_W__COUNT; w++) {
        cr_assert_eq(ws[w].ws_back_first, want[w][0], "window %d", w);
        cr_assert_eq(ws[w].ws_back_last, want[w][1], "window %d", w);
        cr_assert_lt(ws[w].ws_back_last, JD_WINDOW_MAX_DAYS);
    }
    cr_assert_eq(ws[JD_W_POWER_USERS_28D].ws_kind, JD_WINDOW_POWER);
    cr_assert_eq(ws[JD_W_POWER_USERS_28D].ws_param, 8);
    cr_assert_eq(ws[JD_W_EVENTS_7D].ws_kind, JD_WINDOW_EVENTS);
    cr_assert_eq(ws[JD_W_DAYS_ACTIVE_28D].ws_kind, JD_WINDOW_ACTIVE);
    cr_assert_eq(ws[JD_W_CASES_OPENED_28D].ws_kind, JD_WINDOW_CASES);
}

Test(journey, usage_signals)
{
    jd_signals_raw_t raw = base_raw();
    jd_signals_conf_t conf;
    jd_signals_t sg;

    jd_signals_conf_default(&conf);
    conf.sgc_core_feature_cnt = 4;
    raw.sr_win[JD_W_USERS_1D] = 2;
    raw.sr_win[JD_W_USERS_7D] = 6;
    raw.sr_win[JD_W_USERS_28D] = 9;
    raw.sr_win[JD_W_USERS_PREV1] = 4;
    raw.sr_win[JD_W_USERS_PREV2] = 4;
    raw.sr_win[JD_W_USERS_PREV3] = 3;
    raw.sr_win[JD_W_USERS_PREV4] = 1;
    raw.sr_win[JD_W_EVENTS_7D] = 40;
    raw.sr_win[JD_W_EVENTS_28D] = 90;
    raw.sr_win[JD_W_DAYS_ACTIVE_28D] = 20;
    raw.sr_win[JD_W_POWER_USERS_28D] = 3;
    raw.sr_win[JD_W_CORE_FEATURES_28D] = 3;
    raw.sr_last_usage_at = T0 - DAY / 4;
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert_eq(num(&sg, JD_SIG_WAU_PREV4_AVG), 3.0);
    cr_assert_float_eq(num(&sg, JD_SIG_USAGE_CHANGE_7D), 1.0, 1e-12);
    cr_assert_eq(num(&sg, JD_SIG_EVENTS_7D), 40);
    cr_assert_eq(num(&sg, JD_SIG_EVENTS_28D), 90);
    cr_assert_eq(num(&sg, JD_SIG_DAYS_ACTIVE_28D), 20);
    cr_assert_eq(num(&sg, JD_SIG_POWER_USERS_28D), 3);
    cr_assert_eq(num(&sg, JD_SIG_CORE_FEATURES_USED_28D), 3);
    cr_assert_float_eq(num(&sg, JD_SIG_FEATURE_BREADTH_28D), 0.75, 1e-12);
    cr_assert_float_eq(num(&sg, JD_SIG_DAYS_SINCE_LAST_USAGE), 0.25, 1e-12);
}

Test(journey, windows_reaching_before_any_data)
{
    /* a three-day-old account: the four previous weeks hold nobody */
    jd_signals_raw_t raw = base_raw();
    jd_signals_t sg;

    raw.sr_win[JD_W_USERS_7D] = 5;
    raw.sr_win[JD_W_USERS_28D] = 5;
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_eq(num(&sg, JD_SIG_WAU_PREV4_AVG), 0);
    cr_assert(is_null(&sg, JD_SIG_USAGE_CHANGE_7D), "no baseline: null, not +inf");
    cr_assert(is_null(&sg, JD_SIG_FEATURE_BREADTH_28D), "no core features configured");
    cr_assert(is_null(&sg, JD_SIG_LAST_USAGE_AT));
    cr_assert(is_null(&sg, JD_SIG_DAYS_SINCE_LAST_USAGE));
    cr_assert_eq(num(&sg, JD_SIG_CASES_OPEN), 0);
    cr_assert(is_null(&sg, JD_SIG_NPS_AVG_90D));
}

Test(journey, sentiment_support_stakeholders)
{
    jd_signals_raw_t raw = base_raw();
    jd_signals_t sg;
    static const struct { const char *v; const char *cat; } nps[] = {
        {"10", "promoter"}, {"9", "promoter"}, {"8.999", "passive"},
        {"7", "passive"}, {"6.5", "detractor"}, {"0", "detractor"}};

    for (size_t i = 0; i < sizeof nps / sizeof nps[0]; i++) {
        cr_assert_eq(jd_signals_raw_set_attr(&raw, "nps_last", nps[i].v), 1);
        jd_signals_derive(&sg, &raw, NULL);
        cr_assert_str_eq(str(&sg, JD_SIG_NPS_CATEGORY), nps[i].cat, "nps %s", nps[i].v);
    }
    raw.sr_nps_count = 3;
    raw.sr_nps_sum = 20;
    jd_signals_raw_set_attr(&raw, "csat_last", "4");
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "cases_open", "3"), 1);
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "sev1_open", "1"), 1);
    raw.sr_win[JD_W_CASES_OPENED_7D] = 2;
    raw.sr_win[JD_W_CASES_OPENED_28D] = 5;
    raw.sr_sponsor_changed_at = T0 - 10 * DAY;
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_float_eq(num(&sg, JD_SIG_NPS_AVG_90D), 20.0 / 3, 1e-12);
    cr_assert_eq(num(&sg, JD_SIG_CSAT_LAST), 4);
    cr_assert_eq(num(&sg, JD_SIG_CASES_OPEN), 3);
    cr_assert_eq(num(&sg, JD_SIG_SEV1_OPEN), 1);
    cr_assert_eq(num(&sg, JD_SIG_CASES_OPENED_7D), 2);
    cr_assert_eq(num(&sg, JD_SIG_CASES_OPENED_28D), 5);
    cr_assert_float_eq(num(&sg, JD_SIG_DAYS_SINCE_SPONSOR_CHANGE), 10, 1e-12);
}

Test(journey, meta_fields_parse_strictly)
{
    jd_signals_raw_t raw;
    jd_signals_raw_init(&raw);
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "kickoff_at", "1700000000000"), 1);
    cr_assert_eq(raw.sr_kickoff_at, INT64_C(1700000000000));
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "go_live_at", "17x"), 0);
    cr_assert_eq(raw.sr_go_live_at, JD_SIGNALS_NO_TS);
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "stage", "adoption"), 1);
    cr_assert_str_eq(raw.sr_stage, "adoption");
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "stage_seq", "4"), 1);
    cr_assert_eq(raw.sr_stage_seq, 4);
    cr_assert_eq(jd_signals_raw_set_meta(&raw, "as_of_day", "20000"), 0, "not a signal input");
    cr_assert_eq(jd_signals_raw_set_meta(&raw, NULL, "1"), 0);
}

Test(journey, milestones_after_the_as_of_read_null)
{
    /* only with inspect --as-of: the instant is before the milestone */
    jd_signals_raw_t raw = base_raw();
    jd_signals_t sg;

    raw.sr_start_at = T0 - 40 * DAY;
    raw.sr_first_value_at = T0 + DAY;
    raw.sr_go_live_at = T0;
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert(is_null(&sg, JD_SIG_FIRST_VALUE_AT));
    cr_assert(is_null(&sg, JD_SIG_TTFV_DAYS));
    cr_assert_eq(num(&sg, JD_SIG_GO_LIVE_AT), (double)T0, "at the instant counts");
    cr_assert_str_eq(str(&sg, JD_SIG_STAGE), "activation");
}

/* ---- stage ---- */

static void stage_is(jd_signals_raw_t *raw, const char *want, const char *cause)
{
    jd_signals_t sg;
    jd_signals_derive(&sg, raw, NULL);
    cr_assert_str_eq(str(&sg, JD_SIG_STAGE), want);
    cr_assert_str_eq(sg.sg_stage_cause, cause);
}

Test(journey, stage_first_match_wins)
{
    jd_signals_raw_t raw = base_raw();

    stage_is(&raw, "onboarding", "start");
    raw.sr_go_live_at = T0 - 20 * DAY;
    stage_is(&raw, "activation", "go_live");
    raw.sr_first_value_at = T0 - 10 * DAY;
    stage_is(&raw, "adoption", "first_value");
    raw.sr_healthy_adoption_at = T0 - 5 * DAY;
    stage_is(&raw, "value_realization", "healthy_adoption");
    raw.sr_renewal_at = T0 + 120 * DAY;          /* exactly the window */
    stage_is(&raw, "renewal", "renewal_window");
    raw.sr_renewal_at = T0 + 120 * DAY + 1;      /* one ms past it */
    stage_is(&raw, "value_realization", "healthy_adoption");
    raw.sr_renewal_at = T0 - 3 * DAY;            /* overdue: still renewal */
    stage_is(&raw, "renewal", "renewal_window");
    jd_signals_raw_set_attr(&raw, "status", "churned");
    stage_is(&raw, "churned", "status");
    jd_signals_raw_set_attr(&raw, "status", "Churned");  /* exact match */
    stage_is(&raw, "renewal", "renewal_window");
}

Test(journey, healthy_adoption_and_stage_change_are_observed)
{
    jd_signals_raw_t raw = base_raw();
    jd_signals_conf_t conf;
    jd_signals_change_t ch;
    jd_signals_t sg;

    jd_signals_conf_default(&conf);
    conf.sgc_core_feature_cnt = 10;
    raw.sr_first_value_at = T0 - 30 * DAY;
    raw.sr_stage = "adoption";
    raw.sr_stage_seq = 2;
    raw.sr_stage_changed_at = T0 - 30 * DAY;
    jd_signals_raw_set_attr(&raw, "seats", "10");
    raw.sr_win[JD_W_USERS_28D] = 7;              /* utilization 0.7 */
    raw.sr_win[JD_W_CORE_FEATURES_28D] = 6;      /* breadth 0.6: not yet */
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert_eq(jd_signals_observe(&sg, &conf, &ch), 0, "nothing changed");
    cr_assert_str_eq(str(&sg, JD_SIG_STAGE), "adoption");

    raw.sr_win[JD_W_CORE_FEATURES_28D] = 7;      /* both at the threshold */
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert(is_null(&sg, JD_SIG_HEALTHY_ADOPTION_AT), "derive never sets it");
    cr_assert_eq(jd_signals_observe(&sg, &conf, &ch), 1);
    cr_assert(ch.ch_healthy_adoption && ch.ch_stage);
    cr_assert_eq(ch.ch_at, T0);
    cr_assert_eq(ch.ch_seq, 3);
    cr_assert_str_eq(ch.ch_stage_name, "value_realization");
    cr_assert_str_eq(ch.ch_previous, "adoption");
    cr_assert_str_eq(ch.ch_cause, "healthy_adoption");
    cr_assert_eq(ch.ch_cause_at, T0);
    cr_assert_eq(num(&sg, JD_SIG_HEALTHY_ADOPTION_AT), (double)T0);
    cr_assert_eq(num(&sg, JD_SIG_STAGE_CHANGED_AT), (double)T0);
    cr_assert_str_eq(str(&sg, JD_SIG_PREVIOUS_STAGE), "adoption");
    cr_assert_eq(jd_signals_observe(&sg, &conf, &ch), 0, "observing twice: no change");

    /* stored healthy adoption stays, even when usage drops later */
    raw.sr_healthy_adoption_at = T0;
    raw.sr_stage = "value_realization";
    raw.sr_stage_seq = 3;
    raw.sr_win[JD_W_USERS_28D] = 1;
    jd_signals_derive(&sg, &raw, &conf);
    cr_assert_eq(jd_signals_observe(&sg, &conf, &ch), 0);
    cr_assert_str_eq(str(&sg, JD_SIG_STAGE), "value_realization");
}

Test(journey, first_stage_has_no_previous_and_sequence_one)
{
    jd_signals_raw_t raw = base_raw();
    jd_signals_change_t ch;
    jd_signals_t sg;

    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_eq(jd_signals_observe(&sg, NULL, &ch), 1);
    cr_assert(ch.ch_stage && !ch.ch_healthy_adoption);
    cr_assert_null(ch.ch_previous);
    cr_assert_eq(ch.ch_seq, 1);
    cr_assert_str_eq(ch.ch_stage_name, "onboarding");
    cr_assert(is_null(&sg, JD_SIG_PREVIOUS_STAGE));

    jd_signals_raw_init(&raw); /* no state: nothing to observe */
    jd_signals_derive(&sg, &raw, NULL);
    cr_assert_eq(jd_signals_observe(&sg, NULL, &ch), 0);
}

/* ---- the stage event ---- */

Test(journey, stage_event_ids_are_deterministic_and_distinct)
{
    char a[JD_STAGE_ID_LEN + 1], b[JD_STAGE_ID_LEN + 1], c[JD_STAGE_ID_LEN + 1];
    jd_stage_event_make_id(a, "acme", 3, "adoption", T0);
    jd_stage_event_make_id(b, "acme", 3, "adoption", T0);
    cr_assert_str_eq(a, b);
    cr_assert_eq(strlen(a), JD_STAGE_ID_LEN);
    cr_assert_eq(strspn(a, "0123456789abcdef"), JD_STAGE_ID_LEN);
    /* back to the same stage at the same instant: another change */
    jd_stage_event_make_id(c, "acme", 5, "adoption", T0);
    cr_assert_str_neq(a, c);
    jd_stage_event_make_id(c, "acme", 3, "adoption", T0 + 1);
    cr_assert_str_neq(a, c);
    jd_stage_event_make_id(c, "acm", 3, "eadoption", T0);
    cr_assert_str_neq(a, c);
}

/* The stage event id is a public contract like the trigger id: XXH3-128
 * (canonical hex) of "account\x1fsequence\x1fstage\x1fchanged_at",
 * computed here with the one-shot API, and pinned. */
Test(journey, stage_event_id_definition_is_frozen)
{
    static const char bytes[] = "acme\x1f" "3\x1f" "adoption\x1f" "1728043200000";
    XXH128_canonical_t c;
    char want[JD_STAGE_ID_LEN + 1], got[JD_STAGE_ID_LEN + 1];

    XXH128_canonicalFromHash(&c, XXH3_128bits(bytes, sizeof bytes - 1));
    for (int i = 0; i < 16; i++)
        snprintf(want + 2 * i, 3, "%02x", c.digest[i]);
    cr_assert_eq(T0, INT64_C(1728043200000));
    jd_stage_event_make_id(got, "acme", 3, "adoption", T0);
    cr_assert_str_eq(got, want);
    cr_assert_str_eq(got, "03c1c785333edcbdaf19b78f44cddeb2");
    jd_stage_event_make_id(got, NULL, -7, NULL, 0); /* NULL strings count as "" */
    cr_assert_str_eq(got, "f01480485807d2ad3aab706d21b732a9");
}

Test(journey, stage_event_round_trip)
{
    jd_err_t err;
    jd_stage_codec_t *sc = jd_stage_codec_new(&err);
    jd_stage_event_t se, back;
    jd_buf_t buf = {0};

    cr_assert_not_null(sc, "%s", err.err_msg);
    memset(&se, 0, sizeof se);
    jd_stage_event_make_id(se.se_id, "acme", 2, "adoption", T0);
    strcpy(se.se_account, "acme");
    se.se_sequence = 2;
    strcpy(se.se_stage, "adoption");
    strcpy(se.se_previous, "activation");
    se.se_has_previous = 1;
    se.se_changed_at = T0;
    strcpy(se.se_cause, "first_value");
    se.se_cause_at = T0 - 1;
    se.se_has_cause_at = 1;
    se.se_evidence_cnt = 2;
    strcpy(se.se_evidence[0].evd_name, "utilization");
    se.se_evidence[0].evd_value = 0.25;
    strcpy(se.se_evidence[1].evd_name, "days_since_start");
    se.se_evidence[1].evd_value = 12.5;
    strcpy(se.se_source_topic, "product-events");
    se.se_source_partition = 3;
    se.se_source_offset = 77;
    cr_assert_eq(jd_stage_encode(sc, &se, 3, &buf, &err), 0, "%s", err.err_msg);
    cr_assert_eq(buf.b_data[0], 0);
    cr_assert_eq(buf.b_data[4], 3, "schema id in the frame");
    cr_assert_eq(jd_stage_decode(sc, buf.b_data, buf.b_len, &back, &err), 0, "%s",
                 err.err_msg);
    cr_assert_str_eq(back.se_id, se.se_id);
    cr_assert_eq(back.se_sequence, 2);
    cr_assert_str_eq(back.se_previous, "activation");
    cr_assert(back.se_has_previous && back.se_has_cause_at && !back.se_has_segment);
    cr_assert_eq(back.se_cause_at, T0 - 1);
    cr_assert_eq(back.se_evidence_cnt, 2);
    cr_assert_eq(back.se_source_offset, 77);

    /* plain, no previous stage; then truncated input is an error */
    se.se_has_previous = 0;
    se.se_has_cause_at = 0;
    cr_assert_eq(jd_stage_encode(sc, &se, -1, &buf, &err), 0, "%s", err.err_msg);
    cr_assert_eq(jd_stage_decode(sc, buf.b_data, buf.b_len, &back, &err), 0);
    cr_assert(!back.se_has_previous && !back.se_has_cause_at);
    cr_assert_eq(jd_stage_decode(sc, buf.b_data, buf.b_len - 3, &back, &err), JD_ERR_SKIP);
    cr_assert_eq(jd_stage_decode(sc, buf.b_data, 0, &back, &err), JD_ERR_SKIP);
    jd_buf_free(&buf);
    jd_stage_codec_destroy(sc);
}
