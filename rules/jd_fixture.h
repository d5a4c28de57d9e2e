/*
 * jd_fixture: fixture tables for rules: (signals in, expected trigger or
 * none out), run against a ruleset with no Kafka and no Redis. This is
 * `journeyd rules test FILE --fixtures DIR` and the suite's rule tests.
 *
 * A fixture file (YAML) tests one rule:
 *
 *   rule: usage_drop
 *   cases:
 *     - name: a drop that lasts a week fires
 *       steps:                    # evaluations of one account, in order
 *         - at: 2026-03-01        # the as_of instant (date or timestamp)
 *           signals: {usage_change_7d: -0.52, segment: mid-market}
 *           expect: none          # none | fired | resolved (this rule)
 *         - at: 2026-03-08
 *           expect: fired
 *           play: scaled_outreach # optional checks of the trigger:
 *           reason: "for 7d"      #   play, owner, channel, level,
 *           evidence: {usage_change_7d: -0.52}  # reason (a substring),
 *                                 #   evidence (a subset, exact values)
 *     - name: one step            # a case without steps is one step
 *       at: 2026-03-01
 *       signals: {usage_change_7d: -0.1}
 *       expect: none
 *
 * Signals carry over from step to step within a case (a step lists what
 * changes); every rule of the file is evaluated with its state carried
 * too, so suppression and `for` behave as in production. Values: numbers,
 * "strings", null, and ISO dates/timestamps for timestamp signals.
 *
 * Ownership: nothing is kept; the caller owns rs and out.
 */
#ifndef JD_FIXTURE_H
#define JD_FIXTURE_H

#include <stddef.h>
#include <stdio.h>

#include "jd_err.h"
#include "jd_rules.h"

typedef struct jd_fixture_report {
    size_t fr_files;
    size_t fr_cases;
    size_t fr_steps;
    size_t fr_failed;   /* steps whose expectation did not hold */
    unsigned char *fr_tested; /* caller's jd_rules_count() flags, or NULL:
                                 set for each rule a fixture file tests */
} jd_fixture_report_t;

/* Runs one fixture file against rs, adding to *rep; writes one line per
 * case ("ok" or "FAIL" with what differed) to out (may be NULL). Returns 0
 * (failures are counted, not errors), or JD_ERR_FATAL with err set
 * (JD_E_RULES with FILE:LINE:COLUMN) for a fixture that cannot be read:
 * bad YAML, an unknown rule or signal, a bad value. */
int jd_fixture_run_file(const jd_ruleset_t *rs, const char *path, FILE *out,
                        jd_fixture_report_t *rep, jd_err_t *err);

/* Every *.yaml file of dir, in name order; stops at the first error.
 * A directory without fixtures is an error (nothing would be tested). */
int jd_fixture_run_dir(const jd_ruleset_t *rs, const char *dir, FILE *out,
                       jd_fixture_report_t *rep, jd_err_t *err);

#endif
