/*
 * jd_decode_wait: waiting out a schema registry outage for one message.
 *
 * jd_decoder_decode answers JD_ERR_RETRY when a message's writer schema
 * could not be fetched because the registry gave no answer (connection
 * refused, timeout, HTTP 5xx). Such a message may well be valid, so it
 * is not dead-lettered: the batch waits here, with the partitions paused
 * and the consumer kept in its group (jd_wait), and decodes it again
 * after each back-off until the registry answers. Only a definite answer
 * (404, a schema that does not parse or resolve) makes it a dead letter.
 *
 * Threads: the pipeline thread. Ownership: borrows everything.
 */
#ifndef JD_DECODE_WAIT_H
#define JD_DECODE_WAIT_H

#include <stddef.h>

#include "jd_codec.h"
#include "jd_err.h"
#include "jd_wait.h"

/* Call after jd_decoder_decode(dec, buf, len, ar, ev, err) answered
 * JD_ERR_RETRY (err holds why). Logs a warning, then decodes again after
 * each back-off of `wt` while the answer is JD_ERR_RETRY, and an info line
 * once the registry answers. Returns what jd_decoder_decode finally
 * returned (0, JD_ERR_SKIP: dead-letter it, JD_ERR_FATAL), with ev and
 * err as it left them; or JD_ERR_RETRY when a stop request gives up
 * (jd_wait_give_up): the caller abandons the batch, which is replayed by
 * the next run. */
int jd_decode_wait(jd_wait_t *wt, jd_decoder_t *dec, const void *buf, size_t len,
                   jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

#endif
