/*
 * jd_pipeline: `journeyd run`'s contract: its options, the statistics it
 * fills, the stop request and the end-of-run summary. The loop itself is
 * the state engine's (consumer/jd_engine.h).
 *
 * Threads: jd_pipeline_run blocks on the calling thread until stopped
 * (jd_pipeline_stop from a signal handler, max events, or idle exit).
 */
#ifndef JD_PIPELINE_H
#define JD_PIPELINE_H

#include <stdint.h>
#include <stdio.h>

#include "jd_config.h"
#include "jd_err.h"
#include "jd_rules.h"

typedef struct jd_pipeline_opts {
    int64_t po_max_events;     /* stop after this many messages; 0 = no limit */
    int     po_exit_idle_ms;   /* stop after this long without messages; 0 = never */
    FILE   *po_trigger_out;    /* one line per published trigger, or NULL */
} jd_pipeline_opts_t;

typedef struct jd_pipeline_stats {
    uint64_t  ps_messages;      /* messages consumed */
    uint64_t  ps_events;        /* decoded events */
    uint64_t  ps_applied;       /* events that changed state (not duplicates) */
    uint64_t  ps_duplicates;
    uint64_t  ps_late;          /* usage events too old for the windows */
    uint64_t  ps_unknown_types;
    uint64_t  ps_dead_letters;
    uint64_t  ps_dlq_by_reason[JD_E__COUNT];
    uint64_t  ps_batches;
    uint64_t  ps_triggers;
    uint64_t  ps_triggers_by_kind[JD_KIND__COUNT];
    uint64_t *ps_triggers_by_rule; /* jd_rules_count() entries, owned */
    uint64_t  ps_stage_events;     /* journey stage changes published */
    uint64_t  ps_resolved;         /* RESOLVED triggers published */
    uint64_t  ps_shadow;           /* triggers of shadow rules (never on the
                                      trigger topics) */
    uint64_t  ps_timer_evals;      /* accounts evaluated by the timer clock */
    uint64_t  ps_replayed;         /* events skipped: already in their
                                      account's stored record */
    uint64_t  ps_fenced;           /* partitions lost to a newer owner */
    uint64_t  ps_forwarded;        /* input messages re-keyed to
                                      topics.repartition */
    int64_t   ps_accounts;         /* accounts with state at the end */
    double    ps_seconds;          /* first message to last batch done */
} jd_pipeline_stats_t;

/* Runs jd_engine_run (consumer/jd_engine.h) until stopped.
 * `bootstrap` overrides the configured servers (the embedded cluster).
 * Returns 0 on a clean stop, or JD_ERR_FATAL. `stats` is filled in either
 * case; free ps_triggers_by_rule with free(). */
int jd_pipeline_run(const jd_config_t *cf, const char *bootstrap,
                    const jd_ruleset_t *rs, const jd_pipeline_opts_t *opts,
                    jd_pipeline_stats_t *stats, jd_err_t *err);

/* Asks a running pipeline to finish its batch and stop (async-signal-safe). */
void jd_pipeline_stop(void);

/* Prints the end-of-run summary. */
void jd_pipeline_print_summary(const jd_pipeline_stats_t *ps,
                               const jd_ruleset_t *rs, FILE *out);

#endif
