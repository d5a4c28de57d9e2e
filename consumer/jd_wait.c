/*
 * jd_wait: back-off while a dependency is down, and the stop request
 * (contract in jd_wait.h). The stop flag is the only state shared with a
 * signal handler: a sig_atomic_t written there and read here.
 */
#include "jd_wait.h"

#include <signal.h>
#include <time.h>

#include "jd_log.h"

static volatile sig_atomic_t jd_wait_stop_flag;

void jd_wait_request_stop(void)
{
    jd_wait_stop_flag = 1;
}

void jd_wait_clear_stop(void)
{
    jd_wait_stop_flag = 0;
}

int jd_wait_stopping(void)
{
    return jd_wait_stop_flag != 0;
}

int64_t jd_wait_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void jd_wait_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int jd_wait_give_up(jd_wait_t *wt)
{
    if (!jd_wait_stop_flag)
        return 0;
    int64_t now = jd_wait_now_ms();
    if (!wt->wt_deadline) {
        wt->wt_deadline = now + wt->wt_cf->cf_shutdown_timeout_ms;
        JD_INFO("pipeline", "stopping: finishing the batch in flight (at most %d ms)",
                wt->wt_cf->cf_shutdown_timeout_ms);
    }
    return now >= wt->wt_deadline;
}

int jd_wait_bound(jd_wait_t *wt, int ms)
{
    if (!jd_wait_stop_flag || jd_wait_give_up(wt))
        return jd_wait_stop_flag ? 0 : ms;
    int64_t left = wt->wt_deadline - jd_wait_now_ms();
    return left < ms ? (int)left : ms;
}

/* Waits ms: sleeping before the consumer exists; afterwards with the
 * partitions paused, polling the consumer so the group keeps us. */
static void jd_wait_paused(jd_wait_t *wt, int ms)
{
    int64_t end = jd_wait_now_ms() + ms, now;
    if (!wt->wt_consumer) {
        jd_wait_sleep_ms(ms);
        return;
    }
    jd_consumer_pause(wt->wt_consumer);
    while ((now = jd_wait_now_ms()) < end && !jd_wait_give_up(wt)) {
        int slice = end - now < 200 ? (int)(end - now) : 200; /* notice a stop soon */
        jd_consumer_keepalive(wt->wt_consumer, jd_wait_bound(wt, slice));
    }
}

void jd_wait_backoff(jd_wait_t *wt, const char *what, const jd_err_t *err)
{
    wt->wt_backoffs++;
    wt->wt_backoff_ms = wt->wt_backoff_ms ? wt->wt_backoff_ms * 2 : 100;
    if (wt->wt_backoff_ms > wt->wt_cf->cf_retry_backoff_max_ms)
        wt->wt_backoff_ms = wt->wt_cf->cf_retry_backoff_max_ms;
    JD_WARN("pipeline", "%s: %s; retrying in %d ms", what, err->err_msg, wt->wt_backoff_ms);
    jd_wait_paused(wt, jd_wait_bound(wt, wt->wt_backoff_ms));
}

void jd_wait_ok(jd_wait_t *wt)
{
    wt->wt_backoff_ms = 0;
}
