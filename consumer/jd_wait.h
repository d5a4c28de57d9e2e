/*
 * jd_wait: waiting out a dependency that is down, and the stop request.
 *
 * Every step of the batch cycle that talks to Redis or Kafka is retried
 * with capped exponential back-off (pipeline.retry_backoff_max_ms) while
 * the call answers JD_ERR_RETRY. Meanwhile the assigned partitions are
 * paused and the consumer keeps being served (jd_consumer_keepalive), so
 * the instance stays in its group. A stop request (SIGTERM, SIGINT) lets
 * the batch in flight finish for at most pipeline.shutdown_timeout_ms;
 * past that every retry loop gives up (JD_ERR_RETRY up to the loop), and
 * the batch is replayed by the next run.
 *
 * Ownership: jd_wait_t borrows the configuration and the consumer (which
 * may be set later, NULL until then). Pipeline thread only, except
 * jd_wait_request_stop, which a signal handler may call.
 */
#ifndef JD_WAIT_H
#define JD_WAIT_H

#include <stdint.h>

#include "jd_config.h"
#include "jd_consumer.h"
#include "jd_err.h"

typedef struct jd_wait {
    const jd_config_t *wt_cf;
    jd_consumer_t     *wt_consumer;   /* NULL before it exists */
    int                wt_backoff_ms; /* the next back-off; 0 after a success */
    unsigned           wt_backoffs;   /* back-offs so far (an outage is not
                                         idleness: consumer/jd_engine.c) */
    int64_t            wt_deadline;   /* give-up instant after a stop request */
} jd_wait_t;

/* Async-signal-safe. */
void jd_wait_request_stop(void);
/* Clears a stop request (at the start of a run). */
void jd_wait_clear_stop(void);
/* 1 once a stop was requested. */
int jd_wait_stopping(void);

/* Monotonic milliseconds. */
int64_t jd_wait_now_ms(void);

/* 1 once a stop was requested and the shutdown timeout has passed. */
int jd_wait_give_up(jd_wait_t *wt);
/* ms, or less when a stop is pending (0 once past the timeout). */
int jd_wait_bound(jd_wait_t *wt, int ms);
/* Logs `what` and err, then waits the next back-off (paused, serving the
 * group). */
void jd_wait_backoff(jd_wait_t *wt, const char *what, const jd_err_t *err);
/* A success: the next back-off starts small again. */
void jd_wait_ok(jd_wait_t *wt);

/* Retries call (an int expression that sets err_) while it answers
 * JD_ERR_RETRY and no give-up is due; the result is left in rc_. */
#define JD_WAIT_RETRY(wt, what, call)                                  \
    for (;;) {                                                         \
        rc_ = (call);                                                  \
        if (rc_ != JD_ERR_RETRY || jd_wait_give_up(wt))                \
            break;                                                     \
        jd_wait_backoff((wt), (what), &err_);                          \
    }                                                                  \
    if (rc_ == 0)                                                      \
        jd_wait_ok(wt)

#endif
