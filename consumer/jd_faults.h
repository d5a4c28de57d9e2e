/*
 * jd_faults: broker fault injection for the embedded cluster (tests only).
 *
 * A fault is one line of text, parsed by jd_fault_parse (pure):
 *   errors API COUNT [ERROR]   the next COUNT requests of API (produce,
 *                              fetch, offsetcommit, offsetfetch, heartbeat,
 *                              joingroup, syncgroup, metadata, initproducerid,
 *                              findcoordinator, listoffsets) fail with ERROR,
 *                              a librdkafka error name without its
 *                              RD_KAFKA_RESP_ERR_ prefix or a number
 *                              (default NOT_LEADER_FOR_PARTITION, or
 *                              NOT_COORDINATOR for group APIs)
 *   down BROKER SECONDS        broker BROKER (1-based id) is down that long
 *   up BROKER                  broker BROKER is up again now
 * `#` starts a comment; blank lines are ignored.
 *
 * jd_faults_t watches a control file: `journeyd broker --faults FILE`
 * checks every 100 ms whether FILE exists; if so it renames it away, applies
 * its lines in order and deletes it. Write it with a rename (echo > tmp;
 * mv tmp FILE) so it is never read half-written. Ownership: jd_faults_new
 * returns an object owned by the caller (jd_faults_destroy accepts NULL);
 * the broker must outlive it. Main thread only.
 */
#ifndef JD_FAULTS_H
#define JD_FAULTS_H

#include <stdint.h>

#include "jd_broker.h"
#include "jd_err.h"

typedef enum { JD_FAULT_NONE, JD_FAULT_ERRORS, JD_FAULT_DOWN, JD_FAULT_UP } jd_fault_kind_t;

typedef struct jd_fault {
    jd_fault_kind_t ft_kind;
    int16_t         ft_api;      /* Kafka ApiKey (errors) */
    int             ft_count;    /* requests to fail (errors) */
    int             ft_error;    /* rd_kafka_resp_err_t (errors) */
    int32_t         ft_broker;   /* down, up */
    int             ft_secs;     /* down */
} jd_fault_t;

/* Parses one line into f. Returns 0 (f->ft_kind is JD_FAULT_NONE for a
 * blank or comment line) or JD_ERR_FATAL with the reason in err. */
int jd_fault_parse(const char *line, jd_fault_t *f, jd_err_t *err);

typedef struct jd_faults jd_faults_t;

jd_faults_t *jd_faults_new(jd_broker_t *b, const char *path);

/* Applies a pending control file and brings back brokers whose down time
 * is over. Call it often (every 100 ms). */
void jd_faults_tick(jd_faults_t *fs);

/* Faults applied so far (one per non-blank line). */
int jd_faults_count(const jd_faults_t *fs);

void jd_faults_destroy(jd_faults_t *fs);

#endif
