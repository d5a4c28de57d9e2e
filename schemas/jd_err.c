/*
 * jd_err: error values carried up the stack (see jd_err.h for the contract).
 *
 * The message is formatted once, where the error is detected, because that
 * is where the context (field name, offset, key) is known; callers going up
 * may add a prefix but never reformat. Nothing here allocates.
 */
#include "jd_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int jd_err_set(jd_err_t *err, jd_err_class_t cls, jd_err_code_t code,
               const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->err_class = cls;
        err->err_code = code;
        va_start(ap, fmt);
        vsnprintf(err->err_msg, sizeof err->err_msg, fmt, ap);
        va_end(ap);
    }
    return cls;
}

void jd_err_prefix(jd_err_t *err, const char *fmt, ...)
{
    char head[JD_ERR_MSG_MAX];
    char old[JD_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->err_msg, sizeof old);
    /* Truncation only drops the tail of the old message; the return value
     * is checked to say so (and to keep -Wformat-truncation quiet). */
    if (snprintf(err->err_msg, sizeof err->err_msg, "%s: %s", head, old) >=
        (int)sizeof err->err_msg)
        return;
}

void jd_err_clear(jd_err_t *err)
{
    if (err) {
        err->err_class = JD_OK;
        err->err_code = JD_E_NONE;
        err->err_msg[0] = '\0';
    }
}

static const char *const jd_err_names[JD_E__COUNT] = {
    [JD_E_NONE] = "none",
    [JD_E_EMPTY] = "empty_message",
    [JD_E_TOO_LARGE] = "message_too_large",
    [JD_E_BAD_MAGIC] = "bad_magic_byte",
    [JD_E_UNKNOWN_SCHEMA] = "unknown_schema_id",
    [JD_E_MALFORMED] = "malformed_avro",
    [JD_E_TRAILING_BYTES] = "trailing_bytes",
    [JD_E_MISSING_FIELD] = "missing_field",
    [JD_E_OVERSIZE_FIELD] = "oversize_field",
    [JD_E_TOO_MANY_ATTRS] = "too_many_attributes",
    [JD_E_BAD_UTF8] = "invalid_utf8",
    [JD_E_BAD_TIMESTAMP] = "timestamp_out_of_range",
    [JD_E_WRONG_TYPE] = "wrong_type",
    [JD_E_WORK_LIMIT] = "work_limit",
    [JD_E_REDIS] = "redis",
    [JD_E_KAFKA] = "kafka",
    [JD_E_IO] = "io",
    [JD_E_NOMEM] = "out_of_memory",
    [JD_E_CONFIG] = "config",
    [JD_E_RULES] = "rules",
    [JD_E_SCHEMA] = "schema",
    [JD_E_INTERNAL] = "internal",
};

const char *jd_err_code_name(jd_err_code_t code)
{
    if ((int)code < 0 || code >= JD_E__COUNT || !jd_err_names[code])
        return "unknown";
    return jd_err_names[code];
}

const char *jd_err_class_name(jd_err_class_t cls)
{
    switch (cls) {
    case JD_OK: return "ok";
    case JD_ERR_SKIP: return "skip";
    case JD_ERR_RETRY: return "retry";
    case JD_ERR_FATAL: return "fatal";
    }
    return "unknown";
}
