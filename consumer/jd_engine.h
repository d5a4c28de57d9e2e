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
 * Same contract as jd_pipeline_run (jd_pipeline.h): blocks the calling
 * thread until stopped; fills stats in either case.
 */
#ifndef JD_ENGINE_H
#define JD_ENGINE_H

#include "jd_config.h"
#include "jd_err.h"
#include "jd_pipeline.h"
#include "jd_rules.h"

int jd_engine_run(const jd_config_t *cf, const char *bootstrap, const jd_ruleset_t *rs,
                  const jd_pipeline_opts_t *opts, jd_pipeline_stats_t *stats, jd_err_t *err);

#endif
