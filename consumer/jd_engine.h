/*
 * jd_engine: the run loop of `journeyd run`: the
 * accounts' journeys are computed in journeyd, per event, and Redis keeps
 * one record per account (docs/state.md).
 *
 * The loop polls a batch (pipeline.batch_size messages, cut at
 * limits.max_batch_bytes), runs it through jd_batch (decode, load, apply
 * and decide per event, publish, write, store offsets) and, while no
 * message comes, lets the timers of rules about silence and deadlines run
 * on: once every partition of the group was read to its end (the group's
 * latest clock, read from the partitions' stored entries), or with the
 * wall clock after timers.wall_clock_idle_s.
 *
 * Stop (SIGTERM/SIGINT through jd_pipeline_stop): the batch in flight is
 * finished, bounded by pipeline.shutdown_timeout_ms (then given up and
 * replayed by the next run); the consumer closes with a commit.
 *
 * Several engines may run in one process (pipeline.threads), each on its
 * own thread and a member of the consumer group of its own. What they
 * share is a jd_engine_share_t: the --max-events budget (messages are
 * taken from it before they are polled, so the engines together stop at
 * exactly that many), the time of the last message any of them saw (so
 * that --exit-idle means the whole process was idle: the engine that sees
 * it asks every engine to stop) and the run's progress.
 *
 * Same contract as jd_pipeline_run (jd_pipeline.h): blocks the calling
 * thread until stopped; fills stats in either case.
 */
#ifndef JD_ENGINE_H
#define JD_ENGINE_H

#include "jd_config.h"
#include "jd_err.h"
#include "jd_pipeline.h"
#include "jd_rules.h"

/* Shared by the engines of one run; zeroed by the caller, who sets
 * es_total. Fields are read and written with atomic builtins only. */
typedef struct jd_engine_share {
    jd_pipeline_stats_t *es_total; /* ps_messages kept current for readers
                                      (the bench's sampler) */
    int64_t es_budget;   /* messages taken or being polled (--max-events) */
    int64_t es_taken;    /* messages taken */
    int64_t es_first_ms; /* first message of the run, 0 = none yet */
    int64_t es_done_ms;  /* last batch done */
    int64_t es_last_ms;  /* last message seen, or a (re)join: not idleness */
    int     es_idle_exit; /* an engine stopped on --exit-idle: all do */
    int     es_threads;   /* engines of the run (set by the caller) */
    int     es_ready;     /* engines set up, about to join the group */
    int     es_leaving;   /* engines done, about to leave the group */
} jd_engine_share_t;

/* `stats` is the engine's own (zeroed here); `share` is not owned. */
int jd_engine_run(const jd_config_t *cf, const char *bootstrap, const jd_ruleset_t *rs,
                  const jd_pipeline_opts_t *opts, jd_engine_share_t *share,
                  jd_pipeline_stats_t *stats, jd_err_t *err);

#endif
