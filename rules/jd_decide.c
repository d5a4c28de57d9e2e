/*
 * jd_decide: the per-rule, per-account episode state machine (contract in
 * jd_decide.h), and its text form stored in Redis.
 *
 *   closed --cond--> open    FIRE       (never fired, or cooldown elapsed)
 *   closed --cond--> open    OPEN_QUIET (fired less than cooldown ago)
 *   open   --cond--> open    NONE       (no re-fire while the episode lasts)
 *   open   --!cond-> closed  CLOSE
 *   closed --!cond-> closed  NONE
 *   closed --cond--> closed  PENDING    (`for` not elapsed since rs_since)
 *   closed --cond--> closed  SUPPRESSED (a suppressing episode is open)
 *
 * Why `for` counts from rs_since, kept in the state: the condition is only
 * evaluated when something happens to the account (an event or a timer),
 * so "held continuously for 7d" means: it held at every evaluation since
 * rs_since, and the evaluation that finds now - rs_since >= 7d opens the
 * episode. A single evaluation where it does not hold resets the clock.
 *
 * Why episodes and not "fire while true": the condition is re-evaluated on
 * every event of the account, so "fire while true" would publish one
 * trigger per event. Why the cooldown counts from the last FIRING, not from
 * the close: a condition that flaps (utilization 0.29, 0.31, 0.29 ...)
 * opens and closes episodes quickly; counting from the last firing lets the
 * first one through and silences the flapping for `cooldown`.
 *
 * All times are event time (the account's as_of), so replaying a log gives
 * the same decisions and, through rs_episode, the same trigger ids. The
 * comparison `now - last_fired_at >= cooldown` is done without overflow
 * because parsed states may hold any int64.
 *
 * Pure: no I/O, no allocation, no global state; any thread.
 */
#include "jd_decide.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* now - last >= cooldown, for any int64 values. */
static int jd_decide_cooled(int64_t now, int64_t last, int64_t cooldown_ms)
{
    int64_t elapsed;

    if (__builtin_sub_overflow(now, last, &elapsed))
        return now > last; /* huge gap: past any cooldown iff forward */
    return elapsed >= cooldown_ms;
}

jd_decision_t jd_decide(int cond, int64_t now, int64_t cooldown_ms,
                        jd_rule_state_t *st)
{
    jd_decide_in_t in = {cond, 0, now, cooldown_ms, 0};

    return jd_decide_ex(&in, st);
}

int jd_rule_state_fired_open(const jd_rule_state_t *st)
{
    /* A quiet episode opens after the last firing; a fired one opens at
     * it. (A quiet re-open at the very instant of the previous firing
     * reads as fired: its RESOLVED repeats the previous episode's id, so
     * consumers de-duplicate it.) */
    return st->rs_open && st->rs_episode > 0 &&
           st->rs_opened_at == st->rs_last_fired_at;
}

jd_decision_t jd_decide_ex(const jd_decide_in_t *in, jd_rule_state_t *st)
{
    int64_t now = in->di_now;

    if (!in->di_cond) {
        st->rs_since = 0;
        if (!st->rs_open)
            return JD_DECIDE_NONE;
        st->rs_open = 0;
        st->rs_opened_at = 0;
        return JD_DECIDE_CLOSE;
    }
    if (st->rs_open)
        return JD_DECIDE_NONE;
    if (in->di_suppressed) {
        st->rs_since = 0;
        return JD_DECIDE_SUPPRESSED;
    }
    if (st->rs_since == 0 || st->rs_since > now)
        st->rs_since = now;
    if (in->di_for_ms > 0 &&
        !jd_decide_cooled(now, st->rs_since, in->di_for_ms))
        return JD_DECIDE_PENDING;
    st->rs_since = 0; /* only a closed rule waits */
    st->rs_open = 1;
    st->rs_opened_at = now;
    if (st->rs_episode > 0 &&
        !jd_decide_cooled(now, st->rs_last_fired_at, in->di_cooldown_ms))
        return JD_DECIDE_OPEN_QUIET;
    st->rs_last_fired_at = now;
    st->rs_episode++;
    return JD_DECIDE_FIRE;
}

int jd_rule_state_equal(const jd_rule_state_t *a, const jd_rule_state_t *b)
{
    return a->rs_open == b->rs_open && a->rs_opened_at == b->rs_opened_at &&
           a->rs_last_fired_at == b->rs_last_fired_at &&
           a->rs_episode == b->rs_episode && a->rs_since == b->rs_since;
}

size_t jd_rule_state_format(const jd_rule_state_t *st, char *buf, size_t cap)
{
    int n = st->rs_since == 0
        ? snprintf(buf, cap, "%d|%" PRId64 "|%" PRId64 "|%" PRIu64,
                   st->rs_open ? 1 : 0, st->rs_opened_at,
                   st->rs_last_fired_at, st->rs_episode)
        : snprintf(buf, cap, "%d|%" PRId64 "|%" PRId64 "|%" PRIu64 "|%" PRId64,
                   st->rs_open ? 1 : 0, st->rs_opened_at,
                   st->rs_last_fired_at, st->rs_episode, st->rs_since);

    return n < 0 ? 0 : (size_t)n;
}

/* One signed decimal field ending at `end` ('|' or NUL). Strict: no
 * spaces, no '+', no empty field, no overflow. */
static int jd_rule_state_field(const char **s, char end, int64_t *out)
{
    const char *p = *s;
    char *stop;
    long long v;

    if (!(*p >= '0' && *p <= '9') && !(*p == '-' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    errno = 0;
    v = strtoll(p, &stop, 10);
    if (errno == ERANGE || *stop != end)
        return -1;
    *out = (int64_t)v;
    *s = *stop ? stop + 1 : stop;
    return 0;
}

int jd_rule_state_parse(const char *text, jd_rule_state_t *st)
{
    int64_t open, opened, fired, since = 0;
    const char *s = text;
    unsigned long long ep;
    char *stop;

    memset(st, 0, sizeof *st);
    if (!text || !*text)
        return 0;
    if (jd_rule_state_field(&s, '|', &open) < 0 || (open != 0 && open != 1) ||
        jd_rule_state_field(&s, '|', &opened) < 0 ||
        jd_rule_state_field(&s, '|', &fired) < 0 || !(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    ep = strtoull(s, &stop, 10);
    if (errno == ERANGE || (*stop != '\0' && *stop != '|'))
        return -1;
    if (*stop == '|') {
        s = stop + 1;
        if (jd_rule_state_field(&s, '\0', &since) < 0 || since == 0)
            return -1;
    }
    st->rs_open = (int)open;
    st->rs_opened_at = opened;
    st->rs_last_fired_at = fired;
    st->rs_episode = (uint64_t)ep;
    st->rs_since = since;
    return 0;
}
