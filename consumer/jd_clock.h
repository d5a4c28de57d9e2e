/*
 * jd_clock: the event-time watermark of the partitions a consumer reads.
 *
 * The timer clock must not run ahead of any partition that still has
 * events to deliver, or an account on a slow partition would be judged
 * silent while its events wait in the backlog (and a replay, cut into
 * other fetches, would decide differently). So each partition keeps the
 * latest occurred_at read from it and whether it is caught up (its last
 * end-of-partition notice came at the offset it stands at); the watermark
 * is the earliest latest-time of the partitions still behind, or, when
 * every partition is caught up, the latest time of all.
 *
 * Pure: no librdkafka types; the caller feeds offsets and notices.
 *
 * Ownership: jd_clock_t is owned by its creator (jd_clock_destroy);
 * topic strings passed in are copied.
 */
#ifndef JD_CLOCK_H
#define JD_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct jd_clock jd_clock_t;

/* A partition named by topic and number. */
typedef struct jd_clock_tp {
    const char *tp_topic;
    int32_t     tp_partition;
} jd_clock_tp_t;

/* NULL when out of memory. */
jd_clock_t *jd_clock_new(void);
void jd_clock_destroy(jd_clock_t *clk);

/* A message at `offset` was read; occurred_at is its event time, or
 * JD_CLOCK_NO_TIME when it carried none (a dead letter). 0 or -1 (out of
 * memory: the partition is then unknown, which only holds the clock). */
#define JD_CLOCK_NO_TIME INT64_MIN
int jd_clock_message(jd_clock_t *clk, const char *topic, int32_t partition, int64_t offset,
                     int64_t occurred_at);

/* The consumer reached the end of the partition; `offset` is the next
 * offset it would read. */
int jd_clock_eof(jd_clock_t *clk, const char *topic, int32_t partition, int64_t offset);

/* The watermark over the assigned partitions `tps` (others are ignored).
 * 0 and *out set; or -1 when there is none yet: an assigned partition
 * has neither delivered a message nor reported its end, or no event time
 * was read at all. */
int jd_clock_watermark(const jd_clock_t *clk, const jd_clock_tp_t *tps, size_t n, int64_t *out);

/* The latest event time read from the partitions `tps`, as if every one
 * were caught up (the input ends here: `run --max-events`). 0 or -1 (no
 * event time read). */
int jd_clock_latest(const jd_clock_t *clk, const jd_clock_tp_t *tps, size_t n, int64_t *out);

#endif
