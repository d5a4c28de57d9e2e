/*
 * jd_writer: a thread that sends the state engine's batch writes to Redis
 * over a connection of its own, so that the pipeline thread processes the
 * next batch while Redis works on this one.
 *
 * One write at a time: jd_writer_submit hands a sealed batch's
 * jd_store_batch_t to the thread and returns at once; jd_writer_wait
 * blocks until that write is done and returns its result (the batch's
 * refusal flags are then readable). The thread makes one attempt per
 * submission; retrying after an outage is the caller's (it resubmits the
 * same batch: every write is idempotent).
 *
 * Ownership: jd_writer_t owns its thread and its jd_store_t (made from
 * the configuration given, which jd_store_new copies). A submitted batch is borrowed until
 * jd_writer_wait returns; the caller must not touch it meanwhile.
 * Threads: jd_writer_new, submit, wait, busy, done and destroy are for one
 * thread (the pipeline's); the writer's thread touches only its store and
 * the batch submitted.
 */
#ifndef JD_WRITER_H
#define JD_WRITER_H

#include "jd_err.h"
#include "jd_store.h"

typedef struct jd_writer jd_writer_t;

/* NULL with err set (out of memory, or the thread could not start). The
 * connection is opened by the first write. */
jd_writer_t *jd_writer_new(const jd_store_conf_t *sc, jd_err_t *err);

/* Waits for a write in progress, stops the thread, frees everything. */
void jd_writer_destroy(jd_writer_t *w);

/* Starts writing sb (jd_store_batch_send on the writer's connection). The
 * writer must be idle (no submission without its wait). */
void jd_writer_submit(jd_writer_t *w, jd_store_batch_t *sb);

/* 1 while a submitted write has not been waited for. */
int jd_writer_busy(const jd_writer_t *w);

/* 1 when nothing is submitted or the submitted write has finished
 * (jd_writer_wait then returns at once), 0 while it is in progress. */
int jd_writer_done(jd_writer_t *w);

/* Waits for the submitted write: 0, or its negative jd_err class with err
 * set (JD_ERR_RETRY: Redis unreachable, the caller may submit it again).
 * 0 at once when nothing was submitted. */
int jd_writer_wait(jd_writer_t *w, jd_err_t *err);

#endif
