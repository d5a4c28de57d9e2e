/*
 * jd_ops: journeyd's operational surface - its Prometheus metrics, its
 * health and readiness, and the HTTP endpoints that expose them.
 *
 * jd_ops_new() declares every metric family (names are a contract: the
 * Grafana dashboard and alerts use them, see docs/operations.md) and, when
 * http.port is set, starts the HTTP server (jd_http) on http.address:
 *   /metrics  Prometheus text format;
 *   /healthz  200 while the process serves requests (liveness);
 *   /readyz   200 when Redis answered the latest probe (jd_probe: AUTH as
 *             redis.user, then PING, once a second on its own thread; the
 *             request only reads the cached result) and librdkafka's
 *             latest statistics show a Kafka broker up, else 503 naming
 *             which.
 *
 * The pipeline reports through the jd_ops_* hooks below. They act on the
 * process-wide instance set by jd_ops_install() and do nothing when none
 * is installed, so commands and tests that do not want metrics need no
 * plumbing. Consumer lag per partition and broker state come from
 * librdkafka's statistics callback (jd_ops_kconf sets it up; JSON parsed
 * with jansson).
 *
 * Threads: hooks from any thread (the pipeline thread, librdkafka's
 * statistics thread); HTTP callbacks run on libmicrohttpd's thread.
 * jd_ops_new/install/destroy from the main thread, destroy after the
 * pipeline has stopped. Ownership: jd_ops_destroy (NULL accepted) frees
 * everything, uninstalling the instance if installed. `cf` must outlive it.
 */
#ifndef JD_OPS_H
#define JD_OPS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_config.h"
#include "jd_err.h"
#include "jd_metrics.h"

typedef struct jd_ops jd_ops_t;

jd_ops_t *jd_ops_new(const jd_config_t *cf, jd_err_t *err);
void jd_ops_destroy(jd_ops_t *ops);

/* Makes `ops` the instance the hooks report to (NULL: none). */
void jd_ops_install(jd_ops_t *ops);

/* The registry (for tests and tools). */
jd_metrics_t *jd_ops_metrics(jd_ops_t *ops);

/* The HTTP port bound, or 0 when the server is off. */
int jd_ops_http_port(const jd_ops_t *ops);

/* Writes /metrics; returns the HTTP status. Also the body of the route. */
int jd_ops_render(jd_ops_t *ops, FILE *out);

/* Readiness: 1 when Redis and Kafka are reachable, else 0 with `why`
 * naming the unreachable dependency. Probes Redis (PING). */
int jd_ops_ready(jd_ops_t *ops, char *why, size_t cap);

/* Parses one librdkafka statistics JSON document: consumer lag per
 * partition and whether any broker is up. Returns 0, or -1 when the JSON
 * does not parse (the previous values stay). */
int jd_ops_stats(jd_ops_t *ops, const char *json, size_t len);

/* Consumer configuration: installs the statistics callback and, unless
 * kafka.statistics.interval.ms is configured, sets it to 5000, when an
 * instance is installed. */
void jd_ops_kconf(rd_kafka_conf_t *conf, const jd_config_t *cf);

/* ---- hooks (no-ops without an installed instance) ---------------------- */

void jd_ops_consumed(const char *topic, int partition);
void jd_ops_decode_error(jd_err_code_t code);       /* also a pending dead letter */
void jd_ops_dead_letters_delivered(void);           /* the pending ones are acked */
void jd_ops_trigger(const char *kind, const char *rule);
void jd_ops_stage_event(const char *stage);
void jd_ops_batch(size_t messages);
void jd_ops_redis(const char *op, double seconds, int ok);
void jd_ops_event_time(int64_t occurred_at_ms);
void jd_ops_accounts(int64_t n);
void jd_ops_decoded_generic(uint64_t n);            /* on avro-c's generic reader */

#endif
