/*
 * jd_account_read: reading an account record out (contract in
 * jd_account.h): jd_account_raw fills the raw inputs of the derivation
 * (jd_signals_raw_t) at the as-of instant or another one, with the kept
 * windows when the day is the kept one and counted from scratch
 * otherwise; jd_account_signals derives the signals from them; and
 * jd_account_observe stores back what the derivation changed (the
 * journey stage, the healthy adoption milestone).
 *
 * Pure: no I/O, no clock; any thread, one account at a time. The strings
 * of a jd_signals_raw_t point into the record (borrowed: valid until the
 * record next changes).
 */
#include "jd_account.h"
#include "jd_account_int.h"

#include <string.h>

/* ---- reading it out ---------------------------------------------------------------- */

/* An amount of a last-writer-wins value, parsed when it was set. */
static int ac_raw_num(const jd_lww_t *lw, double *out)
{
    if (lw->lw_num_ok)
        *out = lw->lw_num;
    return lw->lw_num_ok;
}

/* jd_signals_raw_set_attr by id: the same fields and parsing (done when
 * the value was set), without looking the name up (it runs for every
 * attribute of every event). */
static void ac_raw_attr(jd_signals_raw_t *raw, jd_lww_id_t k, const jd_lww_t *lw)
{
    switch (k) {
    case JD_LWW_SEGMENT: raw->sr_segment = lw->lw_val; break;
    case JD_LWW_PLAN: raw->sr_plan = lw->lw_val; break;
    case JD_LWW_STATUS: raw->sr_status = lw->lw_val; break;
    case JD_LWW_SEATS: raw->sr_has_seats = ac_raw_num(lw, &raw->sr_seats); break;
    case JD_LWW_ARR: raw->sr_has_arr = ac_raw_num(lw, &raw->sr_arr); break;
    case JD_LWW_RENEWAL_AT:
        if (lw->lw_int_ok)
            raw->sr_renewal_at = lw->lw_int;
        break;
    case JD_LWW_NPS_LAST: raw->sr_has_nps_last = ac_raw_num(lw, &raw->sr_nps_last); break;
    case JD_LWW_CSAT_LAST: raw->sr_has_csat_last = ac_raw_num(lw, &raw->sr_csat_last); break;
    default: break;
    }
}

void jd_account_raw(const jd_account_t *ac, const jd_account_conf_t *cf,
                    int64_t at_ms, jd_signals_raw_t *raw)
{
    jd_signals_raw_init(raw);
    if (ac->ac_as_of == JD_SIGNALS_NO_TS)
        return;
    int64_t day = jd_window_day(at_ms == JD_SIGNALS_NO_TS ? ac->ac_as_of : at_ms);
    raw->sr_as_of = at_ms == JD_SIGNALS_NO_TS ? ac->ac_as_of : at_ms;
    if (day == ac->ac_win_day) {
        memcpy(raw->sr_win, ac->ac_win, sizeof raw->sr_win);
        raw->sr_nps_count = ac->ac_nps_cnt;
        raw->sr_nps_sum = ac->ac_nps_sum;
    } else {
        jd_account_windows(ac, cf, day, raw->sr_win);
        jd_account_t tmp = *ac;  /* the NPS totals at another day */
        jd__account_nps_total(&tmp, day);
        raw->sr_nps_count = tmp.ac_nps_cnt;
        raw->sr_nps_sum = tmp.ac_nps_sum;
    }
    raw->sr_start_at = ac->ac_start_at;
    raw->sr_kickoff_at = ac->ac_kickoff_at;
    raw->sr_go_live_at = ac->ac_go_live_at;
    raw->sr_first_value_at = ac->ac_first_value_at;
    raw->sr_value_realized_at = ac->ac_value_realized_at;
    raw->sr_healthy_adoption_at = ac->ac_healthy_adoption_at;
    raw->sr_last_event_at = ac->ac_last_event_at;
    raw->sr_last_usage_at = ac->ac_last_usage_at;
    raw->sr_sponsor_changed_at = ac->ac_sponsor_changed_at;
    for (int k = 0; k < JD_LWW__COUNT; k++)
        if (ac->ac_lww[k].lw_val)
            ac_raw_attr(raw, (jd_lww_id_t)k, &ac->ac_lww[k]);
    raw->sr_cases_open = ac->ac_cases_open;
    raw->sr_sev1_open = ac->ac_sev1_open;
    raw->sr_stage = ac->ac_stage >= 0
                        ? jd_signals_stage_name((jd_stage_t)ac->ac_stage) : NULL;
    raw->sr_previous_stage = ac->ac_prev_stage >= 0
                        ? jd_signals_stage_name((jd_stage_t)ac->ac_prev_stage)
                        : NULL;
    raw->sr_stage_changed_at = ac->ac_stage_changed_at;
    raw->sr_stage_seq = ac->ac_stage_seq;
}

void jd_account_signals(const jd_account_t *ac, const jd_account_conf_t *cf,
                        int64_t at_ms, jd_signals_t *sg)
{
    jd_signals_raw_t raw;
    jd_account_raw(ac, cf, at_ms, &raw);
    jd_signals_derive(sg, &raw, cf->acf_signals);
}

void jd_account_observe(jd_account_t *ac, const jd_signals_change_t *ch)
{
    if (ch->ch_healthy_adoption && ac->ac_healthy_adoption_at == JD_SIGNALS_NO_TS)
        ac->ac_healthy_adoption_at = ch->ch_at;
    if (!ch->ch_stage)
        return;
    ac->ac_prev_stage = jd_account_stage_parse(ch->ch_previous);
    ac->ac_stage = jd_account_stage_parse(ch->ch_stage_name);
    ac->ac_stage_changed_at = ch->ch_at;
    ac->ac_stage_seq = ch->ch_seq;
}
