/*
 * jd_commit: sealing a processed batch and completing it (steps 5 to 7
 * of jd_batch.h) while the next batches are processed; the design is in
 * jd_commit.c.
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

/* Batches sealed together at most: past it, the next one waits for their
 * acknowledgements. */
#define JD_COMMIT_MAX_SEALED 4

/* Seals the batch just processed onto bt_sealed. */
int jd_commit_seal(jd_batch_t *bt);

/* 1 when bt_sealed should be launched now: its deliveries are all
 * acknowledged (checked without waiting), or it holds
 * JD_COMMIT_MAX_SEALED batches. */
int jd_commit_ready(jd_batch_t *bt);

/* bt_sealed's deliveries acknowledged, its write handed to the writer
 * (bt_flying, which must be empty). */
int jd_commit_launch(jd_batch_t *bt);

/* bt_flying written (waits for the writer), its offsets stored. */
int jd_commit_land(jd_batch_t *bt);

/* Both: everything sealed is written and its offsets stored. */
int jd_commit_drain(jd_batch_t *bt);

/* A sealed batch emptied (its memory kept), and freed. */
void jd_commit_clear(bt_pend_t *pd);
void jd_commit_free(bt_pend_t *pd);

#endif
