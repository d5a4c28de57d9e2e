/* jd_sighash: the downstream signals hash's pairs, formatting and change
 * detection. */
#include <criterion/criterion.h>
#include <string.h>

#include "jd_sighash.h"

static const char *value_of(const jd_sighash_t *sh, const char *field)
{
    for (size_t i = 0; i < JD_SIGHASH_FIELDS; i++)
        if (strcmp(sh->sh_pairs[2 * i], field) == 0)
            return sh->sh_pairs[2 * i + 1];
    return NULL;
}

static void base(jd_signals_t *sg)
{
    jd_signals_clear(sg);
    jd_signals_set_num(sg, JD_SIG_HEALTH_SCORE, 72);
    jd_signals_set_str(sg, JD_SIG_STAGE, "adoption");
    jd_signals_set_num(sg, JD_SIG_UTILIZATION, 0.725);
    jd_signals_set_num(sg, JD_SIG_RENEWAL_AT, 1798761600000.0);
    jd_signals_set_num(sg, JD_SIG_SEATS, -3);
    jd_signals_set_num(sg, JD_SIG_EVENTS_7D, 10);
}

Test(sighash, pairs_are_the_documented_fields_formatted)
{
    jd_signals_t sg;
    jd_sighash_t sh;
    base(&sg);
    jd_sighash_build(&sg, &sh);
    for (size_t i = 0; i < JD_SIGHASH_FIELDS; i++)
        cr_assert_str_eq(sh.sh_pairs[2 * i], jd_sighash_field(i));
    cr_assert_null(jd_sighash_field(JD_SIGHASH_FIELDS));
    cr_assert_str_eq(value_of(&sh, "health_score"), "72");
    cr_assert_str_eq(value_of(&sh, "stage"), "adoption");
    cr_assert_str_eq(value_of(&sh, "utilization"), "0.725");
    cr_assert_str_eq(value_of(&sh, "renewal_at"), "1798761600000");
    cr_assert_str_eq(value_of(&sh, "seats"), "-3");
    cr_assert_str_eq(value_of(&sh, "plan"), "");          /* null */
    cr_assert_null(value_of(&sh, "events_7d"));            /* moves every event: not kept */
    cr_assert_neq(sh.sh_hash, 0);
}

Test(sighash, the_hash_follows_the_kept_fields_only)
{
    jd_signals_t sg;
    jd_sighash_t a, b;
    base(&sg);
    jd_sighash_build(&sg, &a);
    jd_signals_set_num(&sg, JD_SIG_EVENTS_7D, 11);
    jd_signals_set_num(&sg, JD_SIG_AS_OF, 1798000000000.0);
    jd_sighash_build(&sg, &b);
    cr_assert_eq(a.sh_hash, b.sh_hash, "a field outside the hash changed it");
    jd_signals_set_num(&sg, JD_SIG_HEALTH_SCORE, 71);
    jd_sighash_build(&sg, &b);
    cr_assert_neq(a.sh_hash, b.sh_hash);
    /* values are separated: moving text from one field to the next is a change */
    base(&sg);
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, "ab");
    jd_sighash_build(&sg, &a);
    jd_signals_set_str(&sg, JD_SIG_SEGMENT, "a");
    jd_signals_set_str(&sg, JD_SIG_PLAN, "b");
    jd_sighash_build(&sg, &b);
    cr_assert_neq(a.sh_hash, b.sh_hash);
}

Test(sighash, only_changed_fields_are_written_again)
{
    jd_signals_t sg;
    jd_sighash_t sh;
    uint32_t last[JD_SIGHASH_FIELDS] = {0};
    base(&sg);
    jd_sighash_build(&sg, &sh);
    cr_assert_eq(jd_sighash_changed(&sh, last), JD_SIGHASH_FIELDS); /* unknown: all */
    jd_sighash_build(&sg, &sh);
    cr_assert_eq(jd_sighash_changed(&sh, last), 0);
    jd_signals_set_num(&sg, JD_SIG_CASES_OPEN, 2);
    jd_signals_set_num(&sg, JD_SIG_EVENTS_7D, 99);
    jd_sighash_build(&sg, &sh);
    cr_assert_eq(jd_sighash_changed(&sh, last), 1);
    cr_assert_str_eq(sh.sh_changed[0], "cases_open");
    cr_assert_str_eq(sh.sh_changed[1], "2");
}
