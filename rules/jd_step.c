/*
 * jd_step: one decision step of one account (contract in jd_step.h).
 *
 * Rules move forward in event time only. A timer decides an account at an
 * instant after its latest event (ac_rules_at records it); an event that
 * arrives later but is older than that instant updates the state and the
 * journey, but the rules wait for the next instant after ac_rules_at (the
 * next event past it, or the next deadline), so cooldowns and `for`
 * durations never see time run backwards. The journey is observed at
 * events only: a stage change needs something to have happened.
 *
 * Rule states live in the account record by hash of the rule id; the step
 * copies them into ruleset order before the decision and back after it
 * (only those that changed).
 */
#include "jd_step.h"

#include <stdlib.h>
#include <string.h>

jd_step_t *jd_step_new(const jd_ruleset_t *rs, const jd_account_conf_t *acf,
                       int64_t tick_ms)
{
    jd_step_t *sp = calloc(1, sizeof *sp);
    size_t n = jd_rules_count(rs), c = n ? n : 1;
    if (!sp)
        return NULL;
    sp->sp_rs = rs;
    sp->sp_acf = acf;
    sp->sp_tick_ms = tick_ms;
    sp->sp_rule_cnt = n;
    sp->sp_hash = calloc(c, sizeof *sp->sp_hash);
    sp->sp_order = calloc(c, sizeof *sp->sp_order);
    sp->sp_before = calloc(c, sizeof *sp->sp_before);
    sp->sp_states = calloc(c, sizeof *sp->sp_states);
    sp->sp_changed = calloc(c, 1);
    sp->sp_dec = calloc(c, sizeof *sp->sp_dec);
    sp->sp_out = calloc(c, sizeof *sp->sp_out);
    if (!sp->sp_hash || !sp->sp_order || !sp->sp_before || !sp->sp_states || !sp->sp_changed ||
        !sp->sp_dec || !sp->sp_out) {
        jd_step_destroy(sp);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        sp->sp_hash[i] = jd_account_hash(jd_rule_id(jd_rules_at(rs, i)));
        size_t k = i; /* insertion sort: a ruleset is small */
        for (; k > 0 && sp->sp_hash[sp->sp_order[k - 1]] > sp->sp_hash[i]; k--)
            sp->sp_order[k] = sp->sp_order[k - 1];
        sp->sp_order[k] = (uint32_t)i;
    }
    return sp;
}

void jd_step_destroy(jd_step_t *sp)
{
    if (!sp)
        return;
    free(sp->sp_hash);
    free(sp->sp_order);
    free(sp->sp_before);
    free(sp->sp_states);
    free(sp->sp_changed);
    free(sp->sp_dec);
    free(sp->sp_out);
    free(sp);
}

/* The next deadline from the signals decided on (as-of = the decision's
 * instant) and the new states; 0 for none. */
static void jd_step_deadline(jd_step_t *sp, jd_account_t *ac)
{
    int64_t dl = jd_rules_next_deadline(sp->sp_rs, &sp->sp_sg, sp->sp_states,
                                        sp->sp_tick_ms);
    ac->ac_timer_at = dl == INT64_MAX ? 0 : dl;
}

/* Decides every rule on sp_sg at instant now; stores the changed states. */
static int jd_step_decide(jd_step_t *sp, jd_account_t *ac, int64_t now)
{
    jd_account_rules_read(ac, sp->sp_hash, sp->sp_order, sp->sp_rule_cnt,
                          sp->sp_states);
    memcpy(sp->sp_before, sp->sp_states, sp->sp_rule_cnt * sizeof *sp->sp_before);
    sp->sp_nout = jd_rules_decide_ex(sp->sp_rs, ac->ac_id, &sp->sp_sg, sp->sp_states,
                                     sp->sp_changed, sp->sp_dec, sp->sp_out,
                                     sp->sp_rule_cnt);
    for (size_t i = 0; i < sp->sp_rule_cnt; i++)
        if (sp->sp_changed[i] &&
            jd_account_rule_set(ac, sp->sp_hash[i], &sp->sp_states[i]) != 0)
            return JD_ACCOUNT_NOMEM;
    ac->ac_rules_at = now;
    jd_step_deadline(sp, ac);
    return (int)sp->sp_nout;
}

static void jd_step_reset(jd_step_t *sp)
{
    sp->sp_nout = 0;
    sp->sp_journey = 0;
    memset(&sp->sp_change, 0, sizeof sp->sp_change);
    memset(sp->sp_changed, 0, sp->sp_rule_cnt);
}

int jd_step_event(jd_step_t *sp, jd_account_t *ac, const jd_event_t *ev)
{
    jd_step_reset(sp);
    sp->sp_apply_rc = jd_account_apply(ac, sp->sp_acf, ev);
    if (sp->sp_apply_rc == JD_ACCOUNT_NOMEM)
        return JD_ACCOUNT_NOMEM;
    if (sp->sp_apply_rc == JD_ACCOUNT_DUPLICATE ||
        sp->sp_apply_rc == JD_ACCOUNT_REJECTED)
        return 0;
    jd_account_signals(ac, sp->sp_acf, JD_SIGNALS_NO_TS, &sp->sp_sg);
    sp->sp_journey = jd_signals_observe(&sp->sp_sg, sp->sp_acf->acf_signals,
                                        &sp->sp_change);
    if (sp->sp_journey)
        jd_account_observe(ac, &sp->sp_change);
    if (ac->ac_rules_at != JD_SIGNALS_NO_TS && ac->ac_as_of < ac->ac_rules_at)
        return 0; /* a timer decided it later than this: wait */
    return jd_step_decide(sp, ac, ac->ac_as_of);
}

int jd_step_timer(jd_step_t *sp, jd_account_t *ac, int64_t at_ms)
{
    jd_step_reset(sp);
    sp->sp_apply_rc = JD_ACCOUNT_APPLIED;
    if (ac->ac_as_of == JD_SIGNALS_NO_TS || at_ms <= ac->ac_as_of ||
        (ac->ac_rules_at != JD_SIGNALS_NO_TS && at_ms <= ac->ac_rules_at))
        return 0;
    jd_account_signals(ac, sp->sp_acf, at_ms, &sp->sp_sg);
    return jd_step_decide(sp, ac, at_ms);
}
