/*
 * jd_rules: the rules file (YAML) compiled into an immutable ruleset.
 *
 * A ruleset is built once at start-up and then only read, so any thread may
 * evaluate it concurrently. Compilation resolves every signal name, checks
 * types, and reports the first error as "FILE:LINE:COLUMN: rule 'ID': ..."
 * (JD_ERR_FATAL, code JD_E_RULES). Evaluation allocates nothing.
 *
 * Ownership: jd_rules_load_* return a ruleset the caller frees with
 * jd_rules_destroy(); rules and strings obtained from it are borrowed and
 * live as long as the ruleset.
 */
#ifndef JD_RULES_H
#define JD_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "jd_decide.h"
#include "jd_err.h"
#include "jd_signals.h"
#include "jd_trigger.h"

typedef struct jd_rule jd_rule_t;
typedef struct jd_ruleset jd_ruleset_t;

/* Both return 0 and *out, or JD_ERR_FATAL with err set (JD_E_RULES for a
 * bad file, JD_E_IO when it cannot be read, JD_E_NOMEM). The file format
 * and every check are described in rules/default.yaml and jd_rules.c. */
int jd_rules_load_file(const char *path, jd_ruleset_t **out, jd_err_t *err);
/* `name` is used in error messages in place of a file name. `text` need not
 * be NUL-terminated and is not kept. */
int jd_rules_load_buffer(const char *text, size_t len, const char *name,
                         jd_ruleset_t **out, jd_err_t *err);
/* Frees the ruleset; NULL is fine. */
void jd_rules_destroy(jd_ruleset_t *rs);

/* Rules in file order; jd_rules_at() returns NULL when i is out of range. */
size_t           jd_rules_count(const jd_ruleset_t *rs);
const jd_rule_t *jd_rules_at(const jd_ruleset_t *rs, size_t i);
/* The rule with this id, or NULL. Linear: for tools and tests. */
const jd_rule_t *jd_rules_find(const jd_ruleset_t *rs, const char *id);

const char   *jd_rule_id(const jd_rule_t *r);
jd_kind_t     jd_rule_kind(const jd_rule_t *r);
jd_severity_t jd_rule_severity(const jd_rule_t *r);
const char   *jd_rule_play(const jd_rule_t *r); /* NULL: from plays */
int64_t       jd_rule_cooldown_ms(const jd_rule_t *r);
const char   *jd_rule_when(const jd_rule_t *r);    /* normalised text */
const char   *jd_rule_version(const jd_rule_t *r); /* 16 hex chars */
const char   *jd_rule_description(const jd_rule_t *r); /* NULL if none */
/* The signals the condition reads, in order of first appearance; *ids is
 * borrowed. Returns the count. */
size_t        jd_rule_signals(const jd_rule_t *r, const jd_signal_id_t **ids);

int64_t       jd_rule_for_ms(const jd_rule_t *r);   /* 0 without `for` */
int           jd_rule_is_shadow(const jd_rule_t *r); /* mode: shadow */
int           jd_rule_resolves(const jd_rule_t *r);  /* resolve: true */
int32_t       jd_rule_priority(const jd_rule_t *r);

/* 1 when the rule's condition holds on `sg`, else 0 (null -> false). The
 * rule's segments are not checked here (jd_rules_decide does). */
int jd_rule_eval(const jd_rule_t *r, const jd_signals_t *sg);

/* Evaluates every rule against one account's signals and states (an array
 * of jd_rules_count() entries, updated in place), with now = the as_of
 * signal, in two passes: first the rules without `suppressed_by`, then
 * those with it, which are suppressed while an episode of an ACTIVE rule
 * they name (by id or kind) is open after the first pass. A rule whose
 * `segments` do not include the account's segment tier is evaluated as
 * false (so an open episode ends when the account changes segment).
 * jd_decide_ex() decides each rule (`for`, cooldown, suppression).
 *
 * For each rule whose state changed, changed[i] is set to 1 (else 0;
 * changed may be NULL); decisions[i] (may be NULL) gets the decision.
 * Each FIRE writes a trigger into out[] (up to max_out; source_* fields
 * left zero; tr_shadow set for shadow rules) with tr_id =
 * jd_trigger_make_id(account, rule id, episode), kind, severity,
 * priority, play/owner/channel from the rule or the plays section for the
 * account's tier, tr_segment = the account's segment value (its tier
 * is in the reason), fired_at = as_of, evidence
 * (every numeric, non-null signal the rule reads, then the score parts and
 * `score` of a scored rule; at most JD_EVIDENCE_MAX), tr_level for a rule
 * with levels, and a reason:
 *   "usage_change_7d -0.52 <= -0.4 for 7d; segment mid_touch; play
 *    scaled_outreach[; score 72 level needs_attention][. DESCRIPTION]"
 * (the normalised condition with each signal followed by its value). The
 * CLOSE of an episode that fired, for a rule with resolve: true, writes a
 * RESOLVED trigger (id from rule id + "/resolved" and the same episode)
 * whose reason starts "resolved: ... no longer holds".
 * When out[] is full, a rule that would fire or resolve is left untouched
 * (its state unchanged, changed[i] = 0) so it acts on a later evaluation:
 * max_out >= jd_rules_count() never hits this. When as_of is null,
 * nothing is decided. Returns the number of triggers written. Allocates
 * nothing; any thread. */
size_t jd_rules_decide_ex(const jd_ruleset_t *rs, const char *account,
                          const jd_signals_t *sg, jd_rule_state_t *states,
                          unsigned char *changed, jd_decision_t *decisions,
                          jd_trigger_t *out, size_t max_out);

/* jd_rules_decide_ex() without decisions. */
size_t jd_rules_decide(const jd_ruleset_t *rs, const char *account,
                       const jd_signals_t *sg, jd_rule_state_t *states,
                       unsigned char *changed, jd_trigger_t *out,
                       size_t max_out);

/* The next event time at which this account must be evaluated again even
 * if it sends nothing (the timer index, docs/rules.md "Time"): the next
 * multiple of tick_ms strictly after as_of (so "silent for 14 days" and
 * "renewal in 90 days" are seen within one tick, at instants that do not
 * depend on when the stream was read), or earlier, the instant a pending
 * `for` elapses (rs_since + for). tick_ms <= 0: `for` deadlines only.
 * INT64_MAX when there is none or as_of is null. Pure; any thread. */
int64_t jd_rules_next_deadline(const jd_ruleset_t *rs, const jd_signals_t *sg,
                               const jd_rule_state_t *states, int64_t tick_ms);

#endif
