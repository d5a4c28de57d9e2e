/*
 * jd_segment: where in each input partition rules are decided.
 *
 * An account's rules are decided from the state its events have built up
 * to some point of the log. If that point were the end of whichever batch
 * the events happened to arrive in, a restart, a rebalance or a fetch of
 * another size would cut the log elsewhere, see a condition that holds
 * only between two events in one run and not in the other, and publish
 * different triggers. So the points are fixed by the log itself: each
 * partition is cut into segments: before every offset that is a multiple
 * of `interval`, where the consumer reached the end of the partition, and
 * before the first message whose event time moves the partition's timer
 * clock to its earliest timer deadline or across a tick (timers.tick_s)
 * while accounts are dirty; every account with events in a
 * segment is decided once, when the segment closes, with exactly the
 * events before the cut applied, and the partition's due timers run
 * there. The partition's clock (latest event time read) and its earliest
 * deadline are kept here; the clock is also stored where a segment closes
 * and loaded again by the next owner (jd_seg_load), so every cut falls at
 * the same place of the log in every run.
 *
 * Until its segment closes an account is "dirty": the segment remembers
 * it, with its latest event time and the offset of its last event (the
 * source named in what it triggers). Offsets are stored only up to the
 * first message that made an account dirty, so a restarted or new owner
 * of the partition re-reads the open segment, re-applies its events as
 * duplicates and rebuilds the same dirty set.
 *
 * Pure: no librdkafka or Redis. Ownership: jd_segs_t is owned by its
 * creator (jd_segs_destroy) and owns every jd_seg_t it hands out, the
 * topic names and the account ids (copied; valid until the segment
 * closes or resets).
 */
#ifndef JD_SEGMENT_H
#define JD_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

typedef struct jd_segs jd_segs_t;
typedef struct jd_seg jd_seg_t;

/* An account of the open segment. */
typedef struct jd_seg_acct {
    const char *sa_account;
    int64_t     sa_at;      /* latest occurred_at of its events here */
    int64_t     sa_offset;  /* offset of its last event here */
} jd_seg_acct_t;

#define JD_SEG_NO_TIME INT64_MIN

/* interval >= 1 offsets per segment. NULL when out of memory. */
jd_segs_t *jd_segs_new(int64_t interval);
void jd_segs_destroy(jd_segs_t *s);

/* The partition's segment state, created empty on first use; NULL when
 * out of memory. */
jd_seg_t *jd_segs_get(jd_segs_t *s, const char *topic, int32_t partition);

/* Forgets every partition for which keep(topic, partition, opaque) is 0
 * (no longer assigned: its new owner re-reads what was open). */
void jd_segs_retain(jd_segs_t *s, int (*keep)(const char *, int32_t, void *), void *opaque);

/* Calls fn for every partition known (open segments included). */
void jd_segs_each(jd_segs_t *s, void (*fn)(jd_seg_t *, void *), void *opaque);

const char *jd_seg_topic(const jd_seg_t *g);
int32_t jd_seg_partition(const jd_seg_t *g);

/* A batch starts reading the partition at `offset`. Reading again from
 * before the next expected offset (a replay), or from anywhere else after
 * a rebalance, starts afresh: the dirty set of an interrupted read is
 * rebuilt by re-reading it, and the clock must be loaded again. A forward
 * gap without a rebalance (compacted or transaction-marker offsets) keeps
 * the open segment. */
void jd_seg_begin(jd_seg_t *g, int64_t offset, int rebalanced);

/* 1 once jd_seg_load gave the stored clock (since creation or a reset). */
int jd_seg_loaded(const jd_seg_t *g);

/* A cut recorded by an earlier owner: before `position`, timers to
 * `watermark` (JD_SEG_NO_TIME: none). */
typedef struct jd_seg_cut {
    int64_t sc_position;
    int64_t sc_watermark;
    int     sc_done;      /* its decisions and timers completed already */
} jd_seg_cut_t;

/* Sets the clock to the one stored where the last recorded cut before the
 * read position was (JD_SEG_NO_TIME: none), the earliest deadline of the partition's
 * timer index (INT64_MAX: none) and the recorded cuts from the read
 * position on (cuts[n], in order; copied): until they are used up, the
 * partition is cut exactly there and nowhere else (the state in Redis is
 * ahead of the replay, so the live rules could cut elsewhere). 0, or -1
 * when out of memory. */
int jd_seg_load(jd_seg_t *g, int64_t time, int64_t deadline, const jd_seg_cut_t *cuts,
                size_t n);

/* 1 while recorded cuts remain to replay. */
int jd_seg_replaying(const jd_seg_t *g);

/* 1 when the next recorded cut falls before a message at `offset` (or an
 * end-of-partition notice there): it is used up, *watermark and *done
 * set (done: close the segment without deciding anything again). */
int jd_seg_recorded(jd_seg_t *g, int64_t offset, int64_t *watermark, int *done);

/* The next offset expected (-1: nothing read). */
int64_t jd_seg_next(const jd_seg_t *g);

/* The earliest timer deadline known; jd_seg_timers_ran records that the
 * timers ran up to watermark (INT64_MIN: they did not run) and that `next`
 * is now the earliest deadline of the index. */
int64_t jd_seg_deadline(const jd_seg_t *g);
void jd_seg_timers_ran(jd_seg_t *g, int64_t watermark, int64_t next);
int64_t jd_seg_timer_w(const jd_seg_t *g); /* INT64_MIN: never ran */

/* 1 when the event time `at` (JD_SEG_NO_TIME: none) moves the clock, less
 * `lateness`, to the earliest deadline (past where timers last ran), or,
 * with accounts dirty, across a multiple of `tick` ms (0: none): those
 * accounts are then decided before time passes their next tick, so the
 * deadlines their decision sets are not already behind the clock.
 * *watermark is that clock. */
int jd_seg_due_before(const jd_seg_t *g, int64_t at, int64_t lateness, int64_t tick,
                      int64_t *watermark);

/* 1 when a message at `offset` starts a new segment by offset: one was
 * read before it in the open segment, with another offset / interval. */
int jd_seg_cuts_before(const jd_seg_t *g, int64_t offset);

/* A message at `offset` was read, with its event time (JD_SEG_NO_TIME
 * for a dead letter): moves the position and the clock. */
void jd_seg_message(jd_seg_t *g, int64_t offset, int64_t occurred_at);

/* The end of the partition was reached: the open segment ends here, and
 * the partition is caught up until its next message. */
void jd_seg_eof(jd_seg_t *g);
int jd_seg_caught_up(const jd_seg_t *g);

/* The message at `offset` holds an event of account at occurred_at: the
 * account is dirty. 0, or -1 when out of memory. */
int jd_seg_note(jd_seg_t *g, const char *account, int64_t offset, int64_t occurred_at);

/* The dirty accounts of the open segment, in no particular order. */
size_t jd_seg_dirty(const jd_seg_t *g, const jd_seg_acct_t **out);

/* The open segment was decided: forgets its accounts; the next message
 * opens a new one. */
void jd_seg_close(jd_seg_t *g);

/* The offset to store: the first message that made an account dirty in
 * the open segment, or the next offset to read when none is dirty; -1
 * before anything was read. */
int64_t jd_seg_store_offset(const jd_seg_t *g);

/* The partition's clock: the latest event time read (JD_SEG_NO_TIME:
 * none). */
int64_t jd_seg_time(const jd_seg_t *g);

#endif
