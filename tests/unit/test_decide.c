/*
 * test_decide: the per-rule episode state machine and its Redis text form
 * (rules/jd_decide.c), pure: no Kafka, no Redis.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "jd_decide.h"

#define DAY 86400000LL
#define T0  1767225600000LL /* 2026-01-01T00:00:00Z */

static void assert_state(const jd_rule_state_t *st, int open, int64_t opened,
                         int64_t fired, uint64_t episode)
{
    cr_assert_eq(st->rs_open, open, "open %d, want %d", st->rs_open, open);
    cr_assert_eq(st->rs_opened_at, opened, "opened_at %lld, want %lld",
                 (long long)st->rs_opened_at, (long long)opened);
    cr_assert_eq(st->rs_last_fired_at, fired, "last_fired_at %lld, want %lld",
                 (long long)st->rs_last_fired_at, (long long)fired);
    cr_assert_eq(st->rs_episode, episode, "episode %llu, want %llu",
                 (unsigned long long)st->rs_episode,
                 (unsigned long long)episode);
}

Test(decide, first_true_fires)
{
    jd_rule_state_t st = {0};

    cr_assert_eq(jd_decide(1, T0, 14 * DAY, &st), JD_DECIDE_FIRE);
    assert_state(&st, 1, T0, T0, 1);
}

Test(decide, false_when_closed_does_nothing)
{
    jd_rule_state_t st = {0};

    cr_assert_eq(jd_decide(0, T0, 0, &st), JD_DECIDE_NONE);
    assert_state(&st, 0, 0, 0, 0);
}

Test(decide, no_refire_while_true_then_close)
{
    jd_rule_state_t st = {0};

    cr_assert_eq(jd_decide(1, T0, 0, &st), JD_DECIDE_FIRE);
    for (int i = 1; i <= 5; i++)
        cr_assert_eq(jd_decide(1, T0 + i * DAY, 0, &st), JD_DECIDE_NONE);
    assert_state(&st, 1, T0, T0, 1);
    cr_assert_eq(jd_decide(0, T0 + 6 * DAY, 0, &st), JD_DECIDE_CLOSE);
    assert_state(&st, 0, 0, T0, 1);
    cr_assert_eq(jd_decide(0, T0 + 7 * DAY, 0, &st), JD_DECIDE_NONE);
}

Test(decide, zero_cooldown_fires_every_episode)
{
    jd_rule_state_t st = {0};

    for (uint64_t ep = 1; ep <= 3; ep++) {
        int64_t t = T0 + (int64_t)ep * 1000;
        cr_assert_eq(jd_decide(1, t, 0, &st), JD_DECIDE_FIRE);
        assert_state(&st, 1, t, t, ep);
        cr_assert_eq(jd_decide(0, t + 1, 0, &st), JD_DECIDE_CLOSE);
    }
}

Test(decide, inside_cooldown_opens_quietly_and_never_fires)
{
    jd_rule_state_t st = {0};

    jd_decide(1, T0, 14 * DAY, &st);
    jd_decide(0, T0 + DAY, 14 * DAY, &st);
    cr_assert_eq(jd_decide(1, T0 + 2 * DAY, 14 * DAY, &st),
                 JD_DECIDE_OPEN_QUIET);
    assert_state(&st, 1, T0 + 2 * DAY, T0, 1);
    /* the quiet episode stays quiet even after the cooldown has passed */
    cr_assert_eq(jd_decide(1, T0 + 30 * DAY, 14 * DAY, &st), JD_DECIDE_NONE);
    assert_state(&st, 1, T0 + 2 * DAY, T0, 1);
    cr_assert_eq(jd_decide(0, T0 + 31 * DAY, 14 * DAY, &st), JD_DECIDE_CLOSE);
    /* a new episode after the cooldown fires, as episode 2 */
    cr_assert_eq(jd_decide(1, T0 + 32 * DAY, 14 * DAY, &st), JD_DECIDE_FIRE);
    assert_state(&st, 1, T0 + 32 * DAY, T0 + 32 * DAY, 2);
}

Test(decide, cooldown_boundary_is_inclusive)
{
    jd_rule_state_t a = {0, 0, T0, 1, 0}, b = {0, 0, T0, 1, 0};

    cr_assert_eq(jd_decide(1, T0 + 14 * DAY - 1, 14 * DAY, &a),
                 JD_DECIDE_OPEN_QUIET);
    cr_assert_eq(jd_decide(1, T0 + 14 * DAY, 14 * DAY, &b), JD_DECIDE_FIRE);
    cr_assert_eq(b.rs_episode, 2);
}

Test(decide, never_fired_ignores_cooldown)
{
    /* episode 0 means never fired, even at time 0 */
    jd_rule_state_t st = {0};

    cr_assert_eq(jd_decide(1, 0, 365 * DAY, &st), JD_DECIDE_FIRE);
    cr_assert_eq(st.rs_episode, 1);
}

Test(decide, extreme_times_do_not_overflow)
{
    jd_rule_state_t st = {0, 0, INT64_MIN, 1, 0};

    cr_assert_eq(jd_decide(1, INT64_MAX, INT64_MAX, &st), JD_DECIDE_FIRE);
    st = (jd_rule_state_t){0, 0, INT64_MAX, 1, 0};
    cr_assert_eq(jd_decide(1, INT64_MIN, 0, &st), JD_DECIDE_OPEN_QUIET);
    /* event time going backwards counts as inside the cooldown */
    st = (jd_rule_state_t){0, 0, T0, 1, 0};
    cr_assert_eq(jd_decide(1, T0 - 1, 0, &st), JD_DECIDE_OPEN_QUIET);
}

/* ---- text form --------------------------------------------------------- */

Test(decide, format_exact_text)
{
    jd_rule_state_t st = {1, T0, T0 - DAY, 3, 0};
    char buf[JD_RULE_STATE_TEXT_MAX];
    size_t n = jd_rule_state_format(&st, buf, sizeof buf);

    cr_assert_str_eq(buf, "1|1767225600000|1767139200000|3");
    cr_assert_eq(n, strlen(buf));
    st = (jd_rule_state_t){0};
    jd_rule_state_format(&st, buf, sizeof buf);
    cr_assert_str_eq(buf, "0|0|0|0");
}

Test(decide, format_cut_returns_needed_length)
{
    jd_rule_state_t st = {1, T0, T0, 12, 0};
    char buf[8];
    size_t n = jd_rule_state_format(&st, buf, sizeof buf);

    cr_assert_eq(n, strlen("1|1767225600000|1767225600000|12"));
    cr_assert_str_eq(buf, "1|17672");
}

Test(decide, round_trip)
{
    const jd_rule_state_t cases[] = {
        {0, 0, 0, 0, 0},
        {1, T0, T0, 1, 0},
        {0, 0, T0 - 5, 42, 0},
        {1, -1, -T0, 7, 0},
        {1, INT64_MIN, INT64_MAX, UINT64_MAX, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[JD_RULE_STATE_TEXT_MAX];
        jd_rule_state_t back;
        size_t n = jd_rule_state_format(&cases[i], buf, sizeof buf);
        cr_assert_lt(n, sizeof buf, "case %zu does not fit", i);
        cr_assert_eq(jd_rule_state_parse(buf, &back), 0, "'%s'", buf);
        assert_state(&back, cases[i].rs_open, cases[i].rs_opened_at,
                     cases[i].rs_last_fired_at, cases[i].rs_episode);
    }
}

Test(decide, empty_parses_as_initial_state)
{
    jd_rule_state_t st = {1, 2, 3, 4, 0};

    cr_assert_eq(jd_rule_state_parse(NULL, &st), 0);
    assert_state(&st, 0, 0, 0, 0);
    st = (jd_rule_state_t){1, 2, 3, 4, 0};
    cr_assert_eq(jd_rule_state_parse("", &st), 0);
    assert_state(&st, 0, 0, 0, 0);
}

Test(decide, malformed_text_is_rejected_and_zeroes)
{
    static const char *const bad[] = {
        "x", "1", "1|2|3", "1|2|3|4|5|6", "1|2|3|4|0", "1|2|3|4|", "2|0|0|0", "-1|0|0|0", "1|a|0|0",
        " 1|0|0|0", "1|0|0|0 ", "1|0|0|-1", "1|0|0|", "1||0|0", "1|0|0|4x",
        "+1|0|0|0", "1|+5|0|0", "1|99999999999999999999|0|0",
        "1|0|0|18446744073709551616", "1|0|-|0", "1|0x10|0|0", "1;0;0;0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jd_rule_state_t st = {1, 2, 3, 4, 0};
        cr_assert_eq(jd_rule_state_parse(bad[i], &st), -1, "'%s' accepted",
                     bad[i]);
        assert_state(&st, 0, 0, 0, 0);
    }
}

Test(decide, parse_then_decide_continues_the_episode_count)
{
    jd_rule_state_t st;
    char buf[JD_RULE_STATE_TEXT_MAX];

    cr_assert_eq(jd_rule_state_parse("0|0|1767225600000|4", &st), 0);
    cr_assert_eq(jd_decide(1, T0 + DAY, 0, &st), JD_DECIDE_FIRE);
    jd_rule_state_format(&st, buf, sizeof buf);
    cr_assert_str_eq(buf, "1|1767312000000|1767312000000|5");
}

/* ---- `for`, suppression, resolve -------------------------------------- */

static jd_decision_t step(jd_rule_state_t *st, int cond, int supp, int64_t now,
                          int64_t for_ms)
{
    jd_decide_in_t in = {cond, supp, now, 0, for_ms};
    return jd_decide_ex(&in, st);
}

Test(decide, for_fires_only_after_the_duration)
{
    jd_rule_state_t st = {0};

    cr_assert_eq(step(&st, 1, 0, T0, 7 * DAY), JD_DECIDE_PENDING);
    cr_assert_eq(st.rs_since, T0);
    cr_assert_eq(step(&st, 1, 0, T0 + 6 * DAY, 7 * DAY), JD_DECIDE_PENDING);
    cr_assert_eq(step(&st, 1, 0, T0 + 7 * DAY - 1, 7 * DAY), JD_DECIDE_PENDING);
    cr_assert_eq(step(&st, 1, 0, T0 + 7 * DAY, 7 * DAY), JD_DECIDE_FIRE);
    assert_state(&st, 1, T0 + 7 * DAY, T0 + 7 * DAY, 1);
}

Test(decide, for_clock_restarts_when_the_condition_breaks)
{
    jd_rule_state_t st = {0};

    step(&st, 1, 0, T0, 7 * DAY);
    cr_assert_eq(step(&st, 0, 0, T0 + 3 * DAY, 7 * DAY), JD_DECIDE_NONE);
    cr_assert_eq(st.rs_since, 0);
    cr_assert_eq(step(&st, 1, 0, T0 + 4 * DAY, 7 * DAY), JD_DECIDE_PENDING);
    cr_assert_eq(step(&st, 1, 0, T0 + 8 * DAY, 7 * DAY), JD_DECIDE_PENDING);
    cr_assert_eq(step(&st, 1, 0, T0 + 11 * DAY, 7 * DAY), JD_DECIDE_FIRE);
}

Test(decide, suppression_blocks_opening_not_an_open_episode)
{
    jd_rule_state_t st = {0};

    cr_assert_eq(step(&st, 1, 1, T0, 0), JD_DECIDE_SUPPRESSED);
    assert_state(&st, 0, 0, 0, 0);
    cr_assert_eq(step(&st, 1, 0, T0 + DAY, 0), JD_DECIDE_FIRE);
    cr_assert_eq(step(&st, 1, 1, T0 + 2 * DAY, 0), JD_DECIDE_NONE);
    cr_assert(st.rs_open);
}

Test(decide, fired_open_tells_fired_from_quiet)
{
    jd_rule_state_t st = {0};
    jd_decide_in_t in = {1, 0, T0, 30 * DAY, 0};

    cr_assert_eq(jd_decide_ex(&in, &st), JD_DECIDE_FIRE);
    cr_assert(jd_rule_state_fired_open(&st));
    in.di_cond = 0;
    in.di_now = T0 + DAY;
    cr_assert_eq(jd_decide_ex(&in, &st), JD_DECIDE_CLOSE);
    cr_assert_not(jd_rule_state_fired_open(&st));
    in.di_cond = 1;
    in.di_now = T0 + 2 * DAY;
    cr_assert_eq(jd_decide_ex(&in, &st), JD_DECIDE_OPEN_QUIET);
    cr_assert_not(jd_rule_state_fired_open(&st));
}

Test(decide, since_round_trips_in_a_fifth_field)
{
    jd_rule_state_t st = {0, 0, 0, 2, T0}, back;
    char buf[JD_RULE_STATE_TEXT_MAX];

    jd_rule_state_format(&st, buf, sizeof buf);
    cr_assert_str_eq(buf, "0|0|0|2|1767225600000");
    cr_assert_eq(jd_rule_state_parse(buf, &back), 0);
    assert_state(&back, 0, 0, 0, 2);
    cr_assert_eq(back.rs_since, T0);
}
