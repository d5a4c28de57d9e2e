/*
 * jd_decode_wait: a registry outage pauses the batch on the message it
 * hit (contract in jd_decode_wait.h). The message is decoded again, not
 * only its schema fetched, so whatever the decoder concludes once the
 * registry answers (event, refusal, unknown id) is exactly what it would
 * have concluded without the outage; the registry client keeps a short
 * pause between two asks for one id (schemas.registry.retry_ms), the
 * back-off here sets the pace. The warning and the info line bracket the
 * outage in the log; jd_wait_backoff logs each retry in between.
 *
 * Pipeline thread only.
 */
#include "jd_decode_wait.h"

#include "jd_log.h"

int jd_decode_wait(jd_wait_t *wt, jd_decoder_t *dec, const void *buf, size_t len,
                   jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    int64_t t0 = jd_wait_now_ms();
    int rc = JD_ERR_RETRY;

    JD_WARN("registry", "schema registry outage: %s; consumption paused until it answers "
            "(no message is dead-lettered meanwhile)", err->err_msg);
    while (rc == JD_ERR_RETRY) {
        if (jd_wait_give_up(wt)) {
            JD_WARN("registry", "stopping during the schema registry outage: the batch is "
                    "abandoned and replayed by the next run");
            return JD_ERR_RETRY;
        }
        jd_wait_backoff(wt, "fetching a writer schema", err);
        rc = jd_decoder_decode(dec, buf, len, ar, ev, err);
    }
    jd_wait_ok(wt);
    JD_INFO("registry", "schema registry answers again after %lld ms: consumption resumes",
            (long long)(jd_wait_now_ms() - t0));
    return rc;
}
