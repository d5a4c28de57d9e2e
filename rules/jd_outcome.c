/*
 * jd_outcome: outcome of fired episodes (contract in jd_outcome.h).
 *
 * An episode is known by its rule state: FIRE starts a fired episode
 * (episode number after the decision); a CLOSE ends the episode that was
 * open before it, which had fired when jd_rule_state_fired_open() said so
 * (a quiet episode fired nothing, so it has no outcome). Churn is read on
 * every evaluation: an episode open before or after it, while the status
 * is churned, ended in churn.
 */
#include "jd_outcome.h"

unsigned jd_outcome_of(const jd_rule_state_t *before, const jd_rule_state_t *after,
                       jd_decision_t d, int64_t now, int churned, uint64_t *episode)
{
    unsigned m = 0;

    *episode = after->rs_episode;
    if (d == JD_DECIDE_FIRE)
        m |= JD_OUTCOME_FIRED;
    if (d == JD_DECIDE_CLOSE && jd_rule_state_fired_open(before)) {
        *episode = before->rs_episode;
        if (now - before->rs_opened_at <= JD_OUTCOME_RESOLVE_MS)
            m |= JD_OUTCOME_RESOLVED_30D;
    }
    if (churned) {
        if (jd_rule_state_fired_open(after))
            m |= JD_OUTCOME_CHURNED;
        else if (jd_rule_state_fired_open(before)) {
            *episode = before->rs_episode;
            m |= JD_OUTCOME_CHURNED;
        }
    }
    return m;
}

const char *jd_outcome_name(unsigned bit)
{
    return bit == JD_OUTCOME_FIRED ? "fired"
         : bit == JD_OUTCOME_RESOLVED_30D ? "resolved_30d"
         : bit == JD_OUTCOME_CHURNED ? "churned" : "?";
}
