/*
 * jd_commit: grouping the processed batches of a commit interval and
 * completing each group (steps 5 to 7 of jd_batch.h) while the next is
 * processed; the design is in jd_commit.c.
 *
 * Every function returns 0 or a negative jd_err class; after an error the
 * caller abandons the batches (jd_batch.c's bt_abandon). Ownership: they
 * work on the jd_batch_t given (jd_batch_int.h) and own nothing. Pipeline
 * thread only.
 */
#ifndef JD_COMMIT_H
#define JD_COMMIT_H

#include "jd_batch.h"

typedef struct bt_pend bt_pend_t;

/* Encoded bytes of records at which a group is written, whether its
 * interval is over or not, and the bounds of the record count this gives
 * (from the previous group's mean record size; jd_commit.c). */
#define JD_COMMIT_MAX_BYTES       (16u << 20)
#define JD_COMMIT_MIN_RECORDS     1024
#define JD_COMMIT_MAX_RECORDS     65536

/* Longest stretch of record encoding between two batches (jd_commit.c). */
#define JD_COMMIT_SLICE_MS 2
/* The records keep at least 1/JD_COMMIT_RECORDS_MIN_SHARE of state.cache_mb
 * whatever else the heap holds (jd_commit.c, bt_reserve). */
#define JD_COMMIT_RECORDS_MIN_SHARE 8
/* The allocator's free blocks count against state.cache_mb up to
 * 1/JD_COMMIT_FREE_SHARE of it (jd_commit.c, bt_reserve). */
#define JD_COMMIT_FREE_SHARE 8

/* Before ac changes: encoded first when the group being encoded holds it. */
int jd_commit_before_change(jd_batch_t *bt, jd_account_t *ac);

/* The batch just processed joins the open group (its first batch starts
 * the group's interval); the records already acknowledged are retired. */
int jd_commit_note(jd_batch_t *bt);

/* Between batches: launches the open group when it is due (see
 * jd_commit.c), landing the previous write first; does nothing, without
 * waiting, when it is not due or its write or acknowledgements are not
 * ready (unless it must go). */
int jd_commit_tick(jd_batch_t *bt);

/* A poll that returned nothing: jd_commit_tick's work, and the write in
 * flight landed if the writer is done with it; never waits (unless the
 * open group must go, as in jd_commit_tick). */
int jd_commit_idle(jd_batch_t *bt);

/* 1 when nothing is open or in flight: every batch processed is written
 * and its offsets stored. */
int jd_commit_quiet(const jd_batch_t *bt);

/* bt_flying written (waits for the writer), its offsets stored. */
int jd_commit_land(jd_batch_t *bt);

/* Everything processed is acknowledged, written and its offsets stored. */
int jd_commit_drain(jd_batch_t *bt);

/* A group's write emptied (its memory kept), and freed. */
void jd_commit_clear(bt_pend_t *pd);
void jd_commit_free(bt_pend_t *pd);

#endif
