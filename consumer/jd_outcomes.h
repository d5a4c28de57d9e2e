/*
 * jd_outcomes: the measurement step of `journeyd run`: per rule, how many
 * fired episodes resolved within 30 days or ended in churn
 * (rules/jd_outcome.h decides, pure), kept in Redis as sets of trigger ids
 * (<prefix>:outcomes:<rule>:fired|resolved_30d|churned: idempotent under
 * replays) and published every outcomes.interval_s as one
 * journeyd.RuleOutcome record per rule (schemas/rule_outcome.avsc) on
 * topics.rule_outcomes, keyed by rule id.
 *
 * Ownership: jd_outcomes_new returns an object freed by jd_outcomes_destroy
 * (NULL is fine); it borrows cf and rs, which must outlive it. Main thread.
 */
#ifndef JD_OUTCOMES_H
#define JD_OUTCOMES_H

#include "jd_config.h"
#include "jd_decide.h"
#include "jd_err.h"
#include "jd_producer.h"
#include "jd_rules.h"
#include "jd_store.h"

typedef struct jd_outcomes jd_outcomes_t;

jd_outcomes_t *jd_outcomes_new(const jd_config_t *cf, const jd_ruleset_t *rs, jd_err_t *err);
void jd_outcomes_destroy(jd_outcomes_t *oc);

/* Notes one account's evaluation (states before and after, the decision
 * of each rule, its signals for the status). Buffered; returns 0 or -1 on
 * out of memory. */
int jd_outcomes_note(jd_outcomes_t *oc, const char *account, const jd_signals_t *sg,
                     const jd_rule_state_t *before, const jd_rule_state_t *after,
                     const jd_decision_t *decisions);

/* Writes what was noted to Redis (call before the rule states are
 * committed: a crash in between repeats the same decisions, and the sets
 * ignore repeats). Returns 0 or a negative jd_err class. */
int jd_outcomes_flush(jd_outcomes_t *oc, jd_store_t *st, jd_err_t *err);

/* Publishes one record per rule when outcomes.interval_s has passed since
 * the last publication, or now with force. A failure is logged (the next
 * publication carries the same cumulative counts). Returns the number of
 * records published. */
int jd_outcomes_publish(jd_outcomes_t *oc, jd_store_t *st, jd_producer_t *p, int force);

#endif
