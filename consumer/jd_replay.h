/*
 * jd_replay: `journeyd replay FILE --rules NEW.yaml --baseline OLD.yaml`:
 * evaluates two rule sets over the same product events (an Avro object
 * container file, or a topic range: `--topic T [--from TIME] [--to TIME]`,
 * messages decoded as `journeyd run` decodes them) and reports the triggers the new set would add, remove
 * or change, with counts per rule, before it goes live.
 *
 * The events are stepped through in memory, once per rule set, as the
 * state engine steps through a partition (jd_step: every event applied
 * and decided; timers fired by the same clock, the latest occurred_at
 * minus timers.allowed_lateness_s); Redis is not touched. Both rule sets
 * see the same events at the same points, so a replay of the same input
 * always gives the same result.
 *
 * Ownership: the caller owns both rule sets and the configuration.
 * Main thread.
 */
#ifndef JD_REPLAY_H
#define JD_REPLAY_H

#include <stddef.h>
#include <stdio.h>

#include "jd_codec.h"
#include "jd_config.h"
#include "jd_err.h"
#include "jd_rules.h"

typedef struct jd_replay_opts {
    const char         *rp_file;     /* Avro object container file, or */
    const char         *rp_topic;    /* a topic (every partition, up to its
                                        end when the replay starts) */
    int64_t             rp_from_ms;  /* topic: from this message timestamp
                                        (0: the beginning) */
    int64_t             rp_to_ms;    /* topic: before this one (0: the end) */
    const jd_ruleset_t *rp_new;
    const jd_ruleset_t *rp_base;
    size_t              rp_batch;    /* events whose strings are held at a
                                        time, >= 1 */
    int                 rp_list;     /* print each differing trigger */
} jd_replay_opts_t;

typedef struct jd_replay_result {
    size_t rr_events;
    size_t rr_accounts;
    size_t rr_new;       /* triggers of the new rule set */
    size_t rr_base;      /* triggers of the baseline */
    size_t rr_added, rr_removed, rr_changed;
} jd_replay_result_t;

/* Runs the replay and prints the report on out. Returns 0, or a negative
 * jd_err class with err set (file, Kafka or memory errors: a record that
 * does not decode is counted and skipped, not an error). */
int jd_replay_run(const jd_config_t *cf, const jd_replay_opts_t *ro, FILE *out,
                  jd_replay_result_t *res, jd_err_t *err);

/* ---- sources (jd_replay_src.c) ---------------------------------------------- */

typedef struct jd_replay_src jd_replay_src_t;

/* Opens the file or the topic range of ro; the decoder gets the schemas
 * the source needs. NULL with err set on failure. */
jd_replay_src_t *jd_replay_src_open(const jd_config_t *cf, const jd_replay_opts_t *ro,
                                    jd_decoder_t **dec, jd_err_t *err);

/* The next message (borrowed until the next call): its length, 0 at the
 * end, or -1 with err set. */
long jd_replay_src_next(jd_replay_src_t *src, const void **buf, jd_err_t *err);

void jd_replay_src_close(jd_replay_src_t *src);

#endif
