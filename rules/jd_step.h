/*
 * jd_step: one decision step of one account, pure: apply an event (or let
 * event time pass, for a timer), derive the signals, observe the journey
 * (healthy adoption, stage change) and decide every rule.
 *
 * This is the per-event core of the state engine: the pipeline calls it
 * for every event in partition order, so the output (rule states,
 * triggers, stage changes, the next deadline) is a function of the log
 * alone. Nothing here does I/O: the caller turns the step's results into
 * Kafka records and writes the changed record once per batch.
 *
 * Ownership: jd_step_new copies nothing it is given; the ruleset and the
 * account configuration are borrowed and must outlive the step. The
 * results (sp_sg, sp_change, sp_out[0..n)) are owned by the step and
 * valid until the next call. One step per thread.
 */
#ifndef JD_STEP_H
#define JD_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "jd_account.h"
#include "jd_decide.h"
#include "jd_rules.h"
#include "jd_signals.h"
#include "jd_trigger.h"

typedef struct jd_step {
    const jd_ruleset_t      *sp_rs;
    const jd_account_conf_t *sp_acf;
    int64_t                  sp_tick_ms;   /* timers.tick_s in ms; <= 0:
                                              deadlines of `for` only */
    size_t                   sp_rule_cnt;
    uint64_t                *sp_hash;      /* rule i: hash of its id */
    uint32_t                *sp_order;     /* the rules by ascending hash */
    jd_rule_state_t         *sp_before;    /* states before the decision */
    jd_rule_state_t         *sp_states;    /* and after */
    unsigned char           *sp_changed;   /* rule i changed */
    jd_decision_t           *sp_dec;       /* rule i's decision */
    jd_trigger_t            *sp_out;       /* sp_rule_cnt slots */
    size_t                   sp_nout;      /* triggers of the last step */
    int                      sp_apply_rc;  /* jd_account_apply's result */
    int                      sp_journey;   /* sp_change holds a change */
    jd_signals_change_t      sp_change;
    jd_signals_t             sp_sg;        /* the signals decided on */
} jd_step_t;

/* NULL when out of memory. tick_ms: timers.tick_s * 1000. */
jd_step_t *jd_step_new(const jd_ruleset_t *rs, const jd_account_conf_t *acf,
                       int64_t tick_ms);

/* Frees the step; NULL is fine. */
void jd_step_destroy(jd_step_t *sp);

/* Applies ev to ac and, unless it was a duplicate or rejected, decides:
 * the journey is observed (stage changes go to sp_change and into ac),
 * the rules decided with now = the as-of instant, their new states
 * stored in ac, the triggers in sp_out, and ac_timer_at moved to the
 * next deadline. Returns the number of triggers, or JD_ACCOUNT_NOMEM (< 0);
 * sp_apply_rc says what the apply did. */
int jd_step_event(jd_step_t *sp, jd_account_t *ac, const jd_event_t *ev);

/* Lets event time pass to at_ms for an account that sent nothing: the
 * rules are decided on the signals at at_ms (the journey is left to the
 * account's next event), and the next deadline is set. Returns the number
 * of triggers, 0 when at_ms is not after the account's own as-of instant
 * (its events already decided it), or JD_ACCOUNT_NOMEM. */
int jd_step_timer(jd_step_t *sp, jd_account_t *ac, int64_t at_ms);

#endif
