/* jd_registry_subject: the subject name strategies of the outbound
 * schemas (schemas.registry.subject_strategy). */
#include <criterion/criterion.h>

#include "jd_registry.h"

Test(registry_subject, the_three_confluent_strategies)
{
    char s[128];
    jd_registry_subject("topic", "cs.trigger.risk", JD_REGISTRY_TRIGGER_RECORD, s, sizeof s);
    cr_assert_str_eq(s, "cs.trigger.risk-value");
    jd_registry_subject("record", "cs.trigger.risk", JD_REGISTRY_TRIGGER_RECORD, s, sizeof s);
    cr_assert_str_eq(s, "journeyd.TriggerEvent");
    jd_registry_subject("topic_record", "cs.journey.stage", JD_REGISTRY_STAGE_RECORD, s,
                        sizeof s);
    cr_assert_str_eq(s, "cs.journey.stage-journeyd.JourneyStageEvent");
}

Test(registry_subject, default_is_the_topic_strategy_and_long_names_are_cut)
{
    char s[16];
    cr_assert_eq(jd_registry_subject(NULL, "abc", "x.Y", s, sizeof s), 9);
    cr_assert_str_eq(s, "abc-value");
    cr_assert_eq(jd_registry_subject("topic", "a-rather-long-topic", "x.Y", s, sizeof s), 25);
    cr_assert_str_eq(s, "a-rather-long-t");
}
