/*
 * jd_outcome: what became of a rule's fired episodes, per rule (the
 * measurement step of the CS loop: which plays work). Pure.
 *
 * Three counts per rule, each a set of fired episodes (identified by the
 * trigger id of their firing, so counting is idempotent under replays):
 *   fired         the episode fired;
 *   resolved_30d  it ended (its condition stopped holding) within 30 days
 *                 of firing;
 *   churned       it was open when the account's status was "churned".
 */
#ifndef JD_OUTCOME_H
#define JD_OUTCOME_H

#include <stdint.h>

#include "jd_decide.h"

#define JD_OUTCOME_RESOLVE_MS (30LL * 86400000LL)

enum {
    JD_OUTCOME_FIRED = 1u << 0,
    JD_OUTCOME_RESOLVED_30D = 1u << 1,
    JD_OUTCOME_CHURNED = 1u << 2,
};

/* The outcome sets one evaluation of a rule adds its episode to, given the
 * states before and after the decision d at event time now, and whether
 * the account's status is "churned". Returns a mask of JD_OUTCOME_* and
 * sets *episode to the episode number they are about. Any thread. */
unsigned jd_outcome_of(const jd_rule_state_t *before, const jd_rule_state_t *after,
                       jd_decision_t d, int64_t now, int churned, uint64_t *episode);

/* "fired", "resolved_30d", "churned" for one JD_OUTCOME_* bit. */
const char *jd_outcome_name(unsigned bit);

#endif
