/*
 * test_outcome: which outcome sets an evaluation adds a fired episode to
 * (rules/jd_outcome.c), pure.
 */
#include <criterion/criterion.h>

#include "jd_outcome.h"

#define DAY 86400000LL
#define T0  1767225600000LL

static unsigned step(jd_rule_state_t *st, int cond, int64_t now, int churned,
                     uint64_t *ep)
{
    jd_rule_state_t before = *st;
    jd_decide_in_t in = {cond, 0, now, 30 * DAY, 0};
    jd_decision_t d = jd_decide_ex(&in, st);
    return jd_outcome_of(&before, st, d, now, churned, ep);
}

Test(outcome, fired_then_resolved_within_30_days)
{
    jd_rule_state_t st = {0};
    uint64_t ep;

    cr_assert_eq(step(&st, 1, T0, 0, &ep), JD_OUTCOME_FIRED);
    cr_assert_eq(ep, 1);
    cr_assert_eq(step(&st, 1, T0 + DAY, 0, &ep), 0);
    cr_assert_eq(step(&st, 0, T0 + 30 * DAY, 0, &ep), JD_OUTCOME_RESOLVED_30D);
    cr_assert_eq(ep, 1);
}

Test(outcome, resolved_later_than_30_days_is_not_counted)
{
    jd_rule_state_t st = {0};
    uint64_t ep;

    step(&st, 1, T0, 0, &ep);
    cr_assert_eq(step(&st, 0, T0 + 30 * DAY + 1, 0, &ep), 0);
}

Test(outcome, quiet_episode_has_no_outcome)
{
    jd_rule_state_t st = {0};
    uint64_t ep;

    step(&st, 1, T0, 0, &ep);
    step(&st, 0, T0 + DAY, 0, &ep);
    cr_assert_eq(step(&st, 1, T0 + 2 * DAY, 0, &ep), 0); /* inside cooldown */
    cr_assert_eq(step(&st, 0, T0 + 3 * DAY, 1, &ep), 0);
}

Test(outcome, open_fired_episode_ends_in_churn)
{
    jd_rule_state_t st = {0};
    uint64_t ep;

    step(&st, 1, T0, 0, &ep);
    cr_assert_eq(step(&st, 1, T0 + DAY, 1, &ep), JD_OUTCOME_CHURNED);
    cr_assert_eq(ep, 1);
    /* the churn closes it (condition false) on the same evaluation */
    jd_rule_state_t st2 = {0};
    step(&st2, 1, T0, 0, &ep);
    cr_assert_eq(step(&st2, 0, T0 + 40 * DAY, 1, &ep), JD_OUTCOME_CHURNED);
    cr_assert_eq(ep, 1);
    cr_assert_str_eq(jd_outcome_name(JD_OUTCOME_RESOLVED_30D), "resolved_30d");
}
