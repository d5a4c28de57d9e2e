/*
 * jd_rules_eval: runs a loaded ruleset on one account (contract in
 * jd_rules.h): conditions, segments, suppression, `for`, episodes and
 * cooldowns (jd_decide), plays, scores, and the trigger each decision
 * produces, with its evidence and reason.
 *
 * Hot path, any thread, ruleset shared read-only. Nothing allocates: the
 * trigger is filled in the caller's storage, and its reason and evidence
 * are formatted only for rules that fire or resolve.
 *
 * Why two passes: `suppressed_by` asks "is an episode of that rule (or of
 * any rule of that kind) open?", and the answer must include what this
 * very evaluation decided (a risk that opens now suppresses an expansion
 * that would open now). Rules without `suppressed_by` cannot depend on
 * others, so they go first; rules with it see the first pass's result
 * (and, among themselves, the result of those before them in file order).
 * Only active rules suppress: a shadow rule must never change what goes
 * live, so its episodes are invisible to the others.
 *
 * The reason is built from the normalised condition text: each signal
 * name (not a function, not inside a string literal) is followed by its
 * value, so "usage_change_7d <= -0.4" reads "usage_change_7d -0.52 <=
 * -0.4". Evidence is a map of doubles (the Avro contract): string signals
 * and nulls appear in the reason only.
 */
#include "jd_rules.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jd_rules_int.h"

/* Length of s[0..len) without a trailing incomplete UTF-8 sequence (left
 * when a longer text was cut to fit a buffer). */
static size_t jd_rules_utf8_trim(const char *s, size_t len)
{
    size_t k = len, need;
    unsigned char lead;

    while (k > 0 && len - k < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0)
        return len;
    lead = (unsigned char)s[k - 1];
    need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return len - (k - 1) < need ? k - 1 : len;
}

/* Copies src into dst[cap], cut (on a UTF-8 character boundary) to fit. */
static void jd_rules_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        n = jd_rules_utf8_trim(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Appends to buf[cap] at *len; output that does not fit is dropped and
 * *len stops at cap - 1 (the caller repairs a cut UTF-8 sequence). */
static void jd_rules_append(char *buf, size_t cap, size_t *len,
                            const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void jd_rules_append(char *buf, size_t cap, size_t *len,
                            const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= cap - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n >= cap ? cap - 1 : *len + (size_t)n;
}

/* "2026-03-04T00:00:00Z", with ".mmm" when the milliseconds are not 0. */
static void jd_rules_iso(char *buf, size_t cap, double ms)
{
    int64_t t = (int64_t)ms, msec = t % 1000, secs = t / 1000;
    time_t tt;
    struct tm tm;
    size_t n;

    if (msec < 0) {
        msec += 1000;
        secs--;
    }
    tt = (time_t)secs;
    if (!gmtime_r(&tt, &tm) ||
        !(n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm))) {
        snprintf(buf, cap, "%.0f", ms);
        return;
    }
    if (msec)
        snprintf(buf + n, cap - n, ".%03dZ", (int)msec);
    else
        snprintf(buf + n, cap - n, "Z");
}

/* A signal value as shown in a reason: 41, 0.12, "smb", null, or an ISO
 * time for timestamps. */
static void jd_rules_fmt_value(char *buf, size_t cap, jd_signal_id_t id,
                               const jd_value_t *v)
{
    if (v->type == JD_VAL_STR)
        snprintf(buf, cap, "\"%.100s\"", v->str);
    else if (v->type != JD_VAL_NUM)
        snprintf(buf, cap, "null");
    else if (jd_signals_is_timestamp(id) && fabs(v->num) < 1e15)
        jd_rules_iso(buf, cap, v->num);
    else if (v->num == floor(v->num) && fabs(v->num) < 1e15)
        snprintf(buf, cap, "%.0f", v->num);
    else
        snprintf(buf, cap, "%.6g", v->num);
}

/* Appends the condition text with each signal followed by its value. */
static void jd_rules_explain(const jd_expr_t *e, const jd_signals_t *sg,
                             char *buf, size_t cap, size_t *len)
{
    const char *t = jd_expr_text(e);
    char val[128];

    for (size_t i = 0; t[i];) {
        size_t j = i;
        if (t[i] == '"') { /* a string literal, escapes \" and \\ */
            for (j = i + 1; t[j] && t[j] != '"'; j++)
                if (t[j] == '\\' && t[j + 1])
                    j++;
            j += t[j] == '"';
            jd_rules_append(buf, cap, len, "%.*s", (int)(j - i), t + i);
            i = j;
            continue;
        }
        if (!(isalpha((unsigned char)t[i]) || t[i] == '_') ||
            (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '.'))) {
            jd_rules_append(buf, cap, len, "%c", t[i++]);
            continue;
        }
        while (isalnum((unsigned char)t[j]) || t[j] == '_')
            j++;
        jd_rules_append(buf, cap, len, "%.*s", (int)(j - i), t + i);
        int id = j - i == 3 && !memcmp(t + i, "now", 3)
                     ? (int)JD_SIG_AS_OF : jd_signals_lookup(t + i, j - i);
        if (id >= 0 && t[j] != '(') {
            jd_rules_fmt_value(val, sizeof val, (jd_signal_id_t)id,
                               jd_signals_get(sg, (jd_signal_id_t)id));
            jd_rules_append(buf, cap, len, " %s", val);
        }
        i = j;
    }
}

/* Adds one evidence entry if there is room and no entry of that name. */
static void jd_rules_add_evidence(jd_trigger_t *tr, const char *name,
                                  double v)
{
    for (size_t i = 0; i < tr->tr_evidence_cnt; i++)
        if (!strcmp(tr->tr_evidence[i].evd_name, name))
            return;
    if (tr->tr_evidence_cnt == JD_EVIDENCE_MAX)
        return;
    jd_rules_copy(tr->tr_evidence[tr->tr_evidence_cnt].evd_name,
                  sizeof tr->tr_evidence[0].evd_name, name);
    tr->tr_evidence[tr->tr_evidence_cnt++].evd_value = v;
}

static void jd_rules_expr_evidence(const jd_expr_t *e, const jd_signals_t *sg,
                                   jd_trigger_t *tr)
{
    const jd_signal_id_t *ids;
    size_t cnt = jd_expr_signals(e, &ids);

    for (size_t i = 0; i < cnt; i++) {
        const jd_value_t *v = jd_signals_get(sg, ids[i]);
        if (v->type == JD_VAL_NUM)
            jd_rules_add_evidence(tr, jd_signals_name(ids[i]), v->num);
    }
}

/* Every numeric, non-null signal the rule reads (condition, then score
 * parts), then each part's value ("score.NAME") and "score". Writes the
 * score and its level (NULL without levels) for the reason. */
static void jd_rules_evidence(const jd_rule_t *r, const jd_signals_t *sg,
                              jd_trigger_t *tr, double *score,
                              const char **level)
{
    char name[64];

    jd_rules_expr_evidence(r->r_when, sg, tr);
    for (size_t i = 0; i < r->r_part_cnt; i++)
        jd_rules_expr_evidence(r->r_parts[i].rp_expr, sg, tr);
    *score = 0;
    *level = NULL;
    if (!r->r_part_cnt)
        return;
    for (size_t i = 0; i < r->r_part_cnt; i++) {
        jd_value_t v = jd_expr_eval(r->r_parts[i].rp_expr, sg);
        double x = v.type == JD_VAL_NUM ? v.num : 0; /* unknown: no points */
        snprintf(name, sizeof name, "score.%s", r->r_parts[i].rp_name);
        jd_rules_add_evidence(tr, name, x);
        *score += x;
    }
    jd_rules_add_evidence(tr, "score", *score);
    for (size_t i = 0; i < r->r_level_cnt; i++) {
        *level = r->r_levels[i].rl_name; /* highest minimum reached, */
        if (*score >= r->r_levels[i].rl_min)
            break;                       /* else the lowest level */
    }
}

/* The reason sentence of a FIRED or RESOLVED trigger. */
static void jd_rules_reason(const jd_rule_t *r, const jd_signals_t *sg,
                            const jd_trigger_t *tr, const char *tier,
                            double score, char *buf, size_t cap)
{
    size_t len = 0;

    if (tr->tr_status == JD_STATUS_RESOLVED)
        jd_rules_append(buf, cap, &len, "resolved: ");
    jd_rules_explain(r->r_when, sg, buf, cap, &len);
    if (tr->tr_status == JD_STATUS_RESOLVED)
        jd_rules_append(buf, cap, &len, " no longer holds");
    else if (r->r_for_text)
        jd_rules_append(buf, cap, &len, " for %s", r->r_for_text);
    jd_rules_append(buf, cap, &len, "; segment %s; play %s",
                    tier ? tier : "unknown", tr->tr_play);
    if (r->r_part_cnt)
        jd_rules_append(buf, cap, &len, "; score %.4g", score);
    if (tr->tr_level[0])
        jd_rules_append(buf, cap, &len, " level %s", tr->tr_level);
    if (r->r_description) {
        size_t dn = strlen(r->r_description);
        int stop = dn && strchr(".!?", r->r_description[dn - 1]);
        jd_rules_append(buf, cap, &len, ". %s%s", r->r_description,
                        stop ? "" : ".");
    }
    buf[jd_rules_utf8_trim(buf, len)] = '\0';
}

static void jd_rules_fill(const jd_ruleset_t *rs, const jd_rule_t *r,
                          const char *account, const jd_signals_t *sg,
                          const char *segment, const char *tier,
                          double as_of, uint64_t episode,
                          jd_trigger_status_t status, jd_trigger_t *tr)
{
    const jd_play_t *pl = jd__rules_play(rs, r, tier);
    const char *level;
    char rid[JD_TRIGGER_STR_MAX];
    double score;

    memset(tr, 0, sizeof *tr);
    tr->tr_status = status;
    snprintf(rid, sizeof rid, "%s%s", r->r_id,
             status == JD_STATUS_RESOLVED ? "/resolved" : "");
    jd_trigger_make_id(tr->tr_id, account, rid, episode);
    jd_rules_copy(tr->tr_account, sizeof tr->tr_account, account);
    tr->tr_kind = r->r_kind;
    jd_rules_copy(tr->tr_rule_id, sizeof tr->tr_rule_id, r->r_id);
    jd_rules_copy(tr->tr_rule_version, sizeof tr->tr_rule_version,
                  r->r_version);
    tr->tr_severity = r->r_severity;
    tr->tr_priority = r->r_priority;
    tr->tr_shadow = r->r_shadow;
    jd_rules_copy(tr->tr_play, sizeof tr->tr_play,
                  pl ? pl->pl_play : r->r_play ? r->r_play : "");
    if (pl && pl->pl_owner)
        jd_rules_copy(tr->tr_owner, sizeof tr->tr_owner, pl->pl_owner);
    if (pl && pl->pl_channel)
        jd_rules_copy(tr->tr_channel, sizeof tr->tr_channel, pl->pl_channel);
    if (segment) {
        jd_rules_copy(tr->tr_segment, sizeof tr->tr_segment, segment);
        tr->tr_has_segment = 1;
    }
    tr->tr_fired_at = (int64_t)as_of;
    jd_rules_evidence(r, sg, tr, &score, &level);
    if (level)
        jd_rules_copy(tr->tr_level, sizeof tr->tr_level, level);
    jd_rules_reason(r, sg, tr, tier, score, tr->tr_reason,
                    sizeof tr->tr_reason);
}

/* 1 when the rule applies to an account of this segment value / tier. */
static int jd_rules_in_segments(const jd_rule_t *r, const char *segment,
                                const char *tier)
{
    if (!r->r_segment_cnt)
        return 1;
    for (size_t i = 0; i < r->r_segment_cnt; i++)
        if ((tier && !strcmp(r->r_segments[i], tier)) ||
            (segment && !strcmp(r->r_segments[i], segment)))
            return 1;
    return 0;
}

/* 1 when an episode of an active rule that r names is open. */
static int jd_rules_suppressed(const jd_ruleset_t *rs, const jd_rule_t *r,
                               const jd_rule_state_t *states)
{
    for (size_t j = 0; j < rs->rs_count; j++) {
        const jd_rule_t *o = &rs->rs_rules[j];
        if (o == r || o->r_shadow || !states[j].rs_open)
            continue;
        if (r->r_supp_kinds & (1u << o->r_kind))
            return 1;
        for (size_t k = 0; k < r->r_supp_rule_cnt; k++)
            if (r->r_supp_rules[k] == j)
                return 1;
    }
    return 0;
}

/* The evaluation context of one account. */
typedef struct jd_eval {
    const jd_ruleset_t *ev_rs;
    const char         *ev_account;
    const jd_signals_t *ev_sg;
    const char         *ev_segment;
    const char         *ev_tier;
    double              ev_as_of;
    jd_rule_state_t    *ev_states;
    unsigned char      *ev_changed;
    jd_decision_t      *ev_decisions;
    jd_trigger_t       *ev_out;
    size_t              ev_max, ev_fired;
} jd_eval_t;

static void jd_rules_decide_one(jd_eval_t *ev, size_t i)
{
    const jd_rule_t *r = &ev->ev_rs->rs_rules[i];
    jd_rule_state_t st = ev->ev_states[i];
    int was_fired = jd_rule_state_fired_open(&st);
    jd_decide_in_t in = {
        jd_rules_in_segments(r, ev->ev_segment, ev->ev_tier) &&
            jd_rule_eval(r, ev->ev_sg),
        0, (int64_t)ev->ev_as_of, r->r_cooldown_ms, r->r_for_ms};
    jd_decision_t d;

    if (in.di_cond && (r->r_supp_kinds || r->r_supp_rule_cnt))
        in.di_suppressed = jd_rules_suppressed(ev->ev_rs, r, ev->ev_states);
    d = jd_decide_ex(&in, &st);
    if (ev->ev_decisions)
        ev->ev_decisions[i] = d;
    if (d == JD_DECIDE_FIRE || (d == JD_DECIDE_CLOSE && was_fired &&
                                r->r_resolve)) {
        if (!ev->ev_out || ev->ev_fired == ev->ev_max) {
            if (ev->ev_decisions)
                ev->ev_decisions[i] = JD_DECIDE_NONE;
            return; /* no room: leave the state, act next time */
        }
        jd_rules_fill(ev->ev_rs, r, ev->ev_account, ev->ev_sg, ev->ev_segment,
                      ev->ev_tier,
                      ev->ev_as_of, st.rs_episode,
                      d == JD_DECIDE_FIRE ? JD_STATUS_FIRED
                                          : JD_STATUS_RESOLVED,
                      &ev->ev_out[ev->ev_fired++]);
    }
    if (!jd_rule_state_equal(&st, &ev->ev_states[i]) && ev->ev_changed)
        ev->ev_changed[i] = 1;
    ev->ev_states[i] = st;
}

size_t jd_rules_decide_ex(const jd_ruleset_t *rs, const char *account,
                          const jd_signals_t *sg, jd_rule_state_t *states,
                          unsigned char *changed, jd_decision_t *decisions,
                          jd_trigger_t *out, size_t max_out)
{
    const jd_value_t *as_of = jd_signals_get(sg, JD_SIG_AS_OF);
    const jd_value_t *seg = jd_signals_get(sg, JD_SIG_SEGMENT);
    jd_eval_t ev = {rs, account ? account : "", sg, NULL, NULL, 0, states,
                    changed, decisions, out, max_out, 0};

    if (changed)
        memset(changed, 0, rs->rs_count);
    for (size_t i = 0; decisions && i < rs->rs_count; i++)
        decisions[i] = JD_DECIDE_NONE;
    if (as_of->type != JD_VAL_NUM || !(fabs(as_of->num) < 9e18))
        return 0; /* no event time: nothing can be decided */
    ev.ev_as_of = as_of->num;
    ev.ev_segment = seg->type == JD_VAL_STR ? seg->str : NULL;
    ev.ev_tier = jd__rules_tier(rs, ev.ev_segment);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < rs->rs_count; i++) {
            const jd_rule_t *r = &rs->rs_rules[i];
            int has_supp = r->r_supp_kinds || r->r_supp_rule_cnt;
            if (has_supp == pass)
                jd_rules_decide_one(&ev, i);
        }
    return ev.ev_fired;
}

size_t jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                       const jd_signals_t *sg, jd_rule_state_t *states,
                       unsigned char *changed, jd_trigger_t *out,
                       size_t max_out)
{
    return jd_rules_decide_ex(rs, account, sg, states, changed, NULL, out,
                              max_out);
}

int64_t jd_rules_next_deadline(const jd_ruleset_t *rs, const jd_signals_t *sg,
                               const jd_rule_state_t *states, int64_t tick_ms)
{
    const jd_value_t *as_of = jd_signals_get(sg, JD_SIG_AS_OF);
    int64_t now, next = INT64_MAX;

    if (as_of->type != JD_VAL_NUM || !(fabs(as_of->num) < 9e15))
        return INT64_MAX;
    now = (int64_t)as_of->num;
    if (tick_ms > 0) { /* the next multiple of the tick, strictly after now */
        int64_t k = now / tick_ms + 1;
        if (now < 0 && now % tick_ms)
            k--;
        next = k * tick_ms;
    }
    for (size_t i = 0; i < rs->rs_count; i++) {
        const jd_rule_t *r = &rs->rs_rules[i];
        const jd_rule_state_t *st = &states[i];
        if (r->r_for_ms > 0 && !st->rs_open && st->rs_since != 0 &&
            st->rs_since <= now && st->rs_since < INT64_MAX - r->r_for_ms &&
            st->rs_since + r->r_for_ms > now &&
            st->rs_since + r->r_for_ms < next)
            next = st->rs_since + r->r_for_ms;
    }
    return next;
}
