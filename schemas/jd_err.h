/*
 * jd_err: the one error type of journeyd.
 *
 * Every fallible function takes a `jd_err_t *err` (which may be NULL) and
 * returns 0 on success or the negative class on failure. The class alone
 * drives what the caller does next:
 *   JD_ERR_SKIP   this input is bad: dead-letter it with err->msg, go on;
 *   JD_ERR_RETRY  a dependency is unavailable: back off and try again;
 *   JD_ERR_FATAL  configuration or programming error: stop cleanly.
 * `code` narrows the reason (a stable short name from jd_err_code_name(),
 * used as the dead-letter reason header and as a metrics label).
 *
 * Thread-safety: a jd_err_t belongs to the caller; the functions here keep
 * no global state.
 */
#ifndef JD_ERR_H
#define JD_ERR_H

#include <stddef.h>

typedef enum jd_err_class {
    JD_OK        = 0,
    JD_ERR_SKIP  = -1,
    JD_ERR_RETRY = -2,
    JD_ERR_FATAL = -3,
} jd_err_class_t;

typedef enum jd_err_code {
    JD_E_NONE = 0,
    /* input (skip-this-message) */
    JD_E_EMPTY,            /* zero-length message */
    JD_E_TOO_LARGE,        /* message over limits.max_message_bytes */
    JD_E_BAD_MAGIC,        /* framing byte not understood */
    JD_E_UNKNOWN_SCHEMA,   /* Confluent schema id not configured */
    JD_E_MALFORMED,        /* Avro binary does not decode */
    JD_E_TRAILING_BYTES,   /* decoded record followed by extra bytes */
    JD_E_MISSING_FIELD,    /* required field absent or empty */
    JD_E_OVERSIZE_FIELD,   /* string over limits.max_string_bytes */
    JD_E_TOO_MANY_ATTRS,   /* map over limits.max_attributes */
    JD_E_BAD_UTF8,         /* string is not valid UTF-8 */
    JD_E_BAD_TIMESTAMP,    /* occurred_at outside limits */
    JD_E_WRONG_TYPE,       /* field has the wrong Avro type */
    JD_E_WORK_LIMIT,       /* decoding would take more than the per-message
                              work limit (blocks of empty items) */
    /* environment */
    JD_E_REDIS,            /* Redis unreachable or replied with an error */
    JD_E_KAFKA,            /* Kafka client error */
    JD_E_IO,               /* file or socket error */
    JD_E_NOMEM,
    /* configuration */
    JD_E_CONFIG,           /* bad configuration key or value */
    JD_E_RULES,            /* bad rules file */
    JD_E_SCHEMA,           /* bad .avsc file */
    JD_E_INTERNAL,
    JD_E__COUNT
} jd_err_code_t;

#define JD_ERR_MSG_MAX 512

typedef struct jd_err {
    jd_err_class_t err_class;
    jd_err_code_t  err_code;
    char           err_msg[JD_ERR_MSG_MAX];
} jd_err_t;

/* Records an error in `err` (ignored when NULL) and returns `cls`, so the
 * usual form is `return jd_err_set(err, JD_ERR_SKIP, JD_E_MALFORMED, ...);` */
int jd_err_set(jd_err_t *err, jd_err_class_t cls, jd_err_code_t code,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prefixes err->msg with "prefix: " (for adding context on the way up). */
void jd_err_prefix(jd_err_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void jd_err_clear(jd_err_t *err);

/* Stable snake_case name of a code ("malformed_avro", ...). Never NULL. */
const char *jd_err_code_name(jd_err_code_t code);

/* "skip", "retry", "fatal" or "ok". */
const char *jd_err_class_name(jd_err_class_t cls);

#endif
