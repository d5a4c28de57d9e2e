/*
 * jd_decide: the trigger decision for one rule on one account, pure.
 *
 * Episode model: a rule's condition is evaluated each time the account's
 * signals change. When it becomes true an episode opens; the rule FIREs at
 * that moment unless the last firing is less than `cooldown` ago (in event
 * time), in which case the episode opens quietly and never fires. While the
 * condition stays true nothing happens; when it turns false the episode
 * closes. The episode counter counts fired episodes and feeds the
 * deterministic trigger_id, so replaying the same log yields the same ids.
 */
#ifndef JD_DECIDE_H
#define JD_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "jd_signals.h"
#include "jd_trigger.h"

typedef struct jd_rule_state {
    int      rs_open;          /* an episode is open */
    int64_t  rs_opened_at;     /* event time the open episode began, or 0 */
    int64_t  rs_last_fired_at; /* event time of the last firing, or 0 */
    uint64_t rs_episode;       /* number of fired episodes so far */
    int64_t  rs_since;         /* event time since which the condition has
                                  held while no episode is open (a `for`
                                  rule waiting out its duration), or 0 */
} jd_rule_state_t;

typedef enum jd_decision {
    JD_DECIDE_NONE = 0,   /* nothing changed */
    JD_DECIDE_FIRE,       /* episode opened and fires: publish a trigger */
    JD_DECIDE_OPEN_QUIET, /* episode opened inside the cooldown: no trigger */
    JD_DECIDE_CLOSE,      /* open episode ended */
    JD_DECIDE_PENDING,    /* condition holds, `for` not elapsed yet */
    JD_DECIDE_SUPPRESSED, /* condition holds, but a suppressing episode is
                             open: no episode opens */
} jd_decision_t;

/* One evaluation of a rule on an account. */
typedef struct jd_decide_in {
    int     di_cond;        /* the condition holds */
    int     di_suppressed;  /* a rule named in suppressed_by is open */
    int64_t di_now;         /* event time of the evaluation */
    int64_t di_cooldown_ms;
    int64_t di_for_ms;      /* the condition must hold this long first */
} jd_decide_in_t;

/* The full decision: `for`, suppression, episodes and cooldown.
 *   - cond false: rs_since = 0; an open episode CLOSEs.
 *   - cond true, episode open: NONE (suppression never closes an episode).
 *   - cond true, closed, suppressed: SUPPRESSED, rs_since = 0 (the `for`
 *     clock restarts once the suppression ends).
 *   - cond true, closed: rs_since = now if it was 0; when now - rs_since
 *     >= for_ms the episode opens (FIRE or OPEN_QUIET as below), else
 *     PENDING.
 * Pure; any thread. */
jd_decision_t jd_decide_ex(const jd_decide_in_t *in, jd_rule_state_t *st);

/* 1 when the open episode of st fired (it did not open quietly inside a
 * cooldown): its close is worth a RESOLVED trigger. */
int jd_rule_state_fired_open(const jd_rule_state_t *st);

/* jd_decide_ex() without `for` or suppression: applies one evaluation
 * (cond = the rule's condition at event time `now`) to `st`, which is
 * updated in place. Returns what happened. */
jd_decision_t jd_decide(int cond, int64_t now, int64_t cooldown_ms,
                        jd_rule_state_t *st);

/* Cooldown rule: an episode fires iff the rule never fired (rs_episode == 0)
 * or now - rs_last_fired_at >= cooldown_ms. CLOSE resets rs_opened_at to 0.
 * Pure; any thread. */

/* 1 when both states hold the same values. */
int jd_rule_state_equal(const jd_rule_state_t *a, const jd_rule_state_t *b);

/* Longest text form, NUL included: "1|" + 3 int64 + uint64 + separators. */
#define JD_RULE_STATE_TEXT_MAX 96

/* Text form stored in Redis: "open|opened_at|last_fired_at|episode", e.g.
 * "1|1767225600000|1767225600000|3" (decimal, open is 0 or 1), followed by
 * "|since" only when rs_since is not 0 (so states written before `for`
 * existed read back unchanged).
 * format writes at most `cap` bytes (NUL included) and returns the length
 * of the full text, like snprintf (>= cap means it was cut; a buffer of
 * JD_RULE_STATE_TEXT_MAX never cuts). parse is strict (no spaces, signs
 * only on the two times, no trailing bytes, no overflow) and returns 0, or
 * -1 on malformed text (st is then zeroed). NULL or "" parses as the
 * initial state. */
size_t jd_rule_state_format(const jd_rule_state_t *st, char *buf, size_t cap);
int jd_rule_state_parse(const char *text, jd_rule_state_t *st);

#endif
