/*
 * jd_probe: the Redis readiness probe behind /readyz.
 *
 * A thread of its own connects to Redis (redis.socket, or redis.host and
 * redis.port), authenticates like the pipeline (redis.user with
 * redis.password or redis.password_file), PINGs, and keeps the result;
 * it probes again every JD_PROBE_INTERVAL_MS. Connect, AUTH and PING each
 * time out after min(redis.timeout_ms, 1000) ms. jd_probe_redis() only
 * reads the kept result, so an HTTP request never waits for Redis: a dead
 * or black-holed Redis makes /readyz answer 503 at once.
 *
 * Threads: new/destroy from the main thread; jd_probe_redis from any
 * thread. Ownership: jd_probe_new copies the password (zeroed when
 * destroyed); `cf` must outlive the probe. jd_probe_destroy accepts NULL
 * and joins the thread (at most one probe timeout later).
 */
#ifndef JD_PROBE_H
#define JD_PROBE_H

#include <stddef.h>

#include "jd_config.h"
#include "jd_err.h"

#define JD_PROBE_INTERVAL_MS 1000

typedef struct jd_probe jd_probe_t;

/* Reads redis.password_file (if set) and starts the thread. Returns NULL
 * with err when the password file cannot be read or no thread starts. */
jd_probe_t *jd_probe_new(const jd_config_t *cf, jd_err_t *err);

void jd_probe_destroy(jd_probe_t *probe);

/* The latest result: 1 when Redis answered PONG after AUTH, else 0 with
 * the reason in why (cap bytes; never a credential). 0 ("not probed
 * yet") before the first probe ends. */
int jd_probe_redis(jd_probe_t *probe, char *why, size_t cap);

#endif
