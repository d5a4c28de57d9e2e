/*
 * jd_decode_generic: the generic path of the product-event decoder - the
 * fields of a record avro-c has read (a generic value of the reader
 * schema, or of the subset the writer has), checked against the limits
 * field by field in schema order; the first violation is reported
 * (JD_ERR_SKIP, distinct code, message naming the field). Strings are
 * copied into the caller's arena. The fast path (jd_prog.c) applies the
 * same checks in the same order; tests/unit/test_prog.c compares them.
 * One decoder per thread.
 */
#include "jd_decode_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- field extraction ---------------------------------------------------- */

static int jd_decode_check(const jd_decoder_t *dec, const char *s, size_t n,
                           const char *field, const char *key, jd_err_t *err)
{
    return jd__codec_check_str(&dec->dc_lim, s, n, field, key, err);
}

static int jd_decode_copy(jd_arena_t *ar, const char *s, size_t n,
                          const char **out, jd_err_t *err)
{
    if (!(*out = jd_arena_strndup(ar, s, n)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "arena: cannot allocate %zu bytes", n + 1);
    return 0;
}

/* A string value: checked, then copied into the arena. */
static int jd_decode_str(const jd_decoder_t *dec, avro_value_t *v,
                         const char *field, const char *key, jd_arena_t *ar,
                         const char **out, jd_err_t *err)
{
    const char *s = NULL;
    size_t size = 0;
    int rc;

    if (avro_value_get_string(v, &s, &size) != 0 || !s)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "%s is not a string", field);
    size = size ? size - 1 : 0; /* avro-c counts the terminating NUL */
    if ((rc = jd_decode_check(dec, s, size, field, key, err)))
        return rc;
    return jd_decode_copy(ar, s, size, out, err);
}

/* Field `f` of the record: 1 when present in this writer's view, 0 when
 * absent (the caller applies the default), <0 on error. */
static int jd_decode_field(const jd_wschema_t *ws, jd_pf_t f, avro_value_t *out,
                           jd_err_t *err)
{
    if (ws->ws_idx[f] < 0)
        return 0;
    avro_value_t rec = ws->ws_value;
    if (avro_value_get_by_index(&rec, (size_t)ws->ws_idx[f], out, NULL) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_INTERNAL,
                          "cannot access field '%s': %s",
                          jd__codec_pf_spec[f].fs_name, avro_strerror());
    return 1;
}

/* The non-null branch of a ["null", X] field: 1 when set, 0 when null or
 * absent, <0 on error. */
static int jd_decode_branch(const jd_wschema_t *ws, jd_pf_t f,
                            avro_value_t *out, jd_err_t *err)
{
    avro_value_t u;
    int disc = 0;
    int rc = jd_decode_field(ws, f, &u, err);

    if (rc <= 0)
        return rc;
    if (avro_value_get_discriminant(&u, &disc) != 0 || disc < 0 || disc > 1)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "field '%s' has no valid union branch",
                          jd__codec_pf_spec[f].fs_name);
    if (disc == 0)
        return 0;
    if (avro_value_get_current_branch(&u, out) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "field '%s': cannot read union branch",
                          jd__codec_pf_spec[f].fs_name);
    return 1;
}

/* event_id, account_id, type: present in every view, must be non-empty. */
static int jd_decode_required(const jd_decoder_t *dec, const jd_wschema_t *ws,
                              jd_pf_t f, jd_arena_t *ar, const char **out,
                              jd_err_t *err)
{
    const char *name = jd__codec_pf_spec[f].fs_name;
    avro_value_t v;
    int rc = jd_decode_field(ws, f, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "field '%s' is absent", name);
    if ((rc = jd_decode_str(dec, &v, name, NULL, ar, out, err)))
        return rc;
    if (**out == '\0')
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "field '%s' is empty", name);
    return 0;
}

/* user_id, feature: NULL when null or absent from the writer. */
static int jd_decode_optional(const jd_decoder_t *dec, const jd_wschema_t *ws,
                              jd_pf_t f, jd_arena_t *ar, const char **out,
                              jd_err_t *err)
{
    avro_value_t v;
    int rc = jd_decode_branch(ws, f, &v, err);

    *out = NULL;
    if (rc <= 0)
        return rc;
    return jd_decode_str(dec, &v, jd__codec_pf_spec[f].fs_name, NULL, ar, out,
                         err);
}

static int jd_decode_time_value(const jd_decoder_t *dec,
                                const jd_wschema_t *ws, jd_event_t *ev,
                                jd_err_t *err)
{
    const jd_limits_t *lim = &dec->dc_lim;
    avro_value_t v;
    int rc = jd_decode_field(ws, JD_PF_OCCURRED_AT, &v, err);

    if (rc < 0)
        return rc;
    if (rc == 0 || avro_value_get_long(&v, &ev->ev_occurred_at) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "field 'occurred_at' is absent");
    if (ev->ev_occurred_at < lim->lim_min_occurred_at ||
        ev->ev_occurred_at >= lim->lim_max_occurred_at)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                          "occurred_at %" PRId64 " is outside [%" PRId64
                          ", %" PRId64 ") ms",
                          ev->ev_occurred_at, lim->lim_min_occurred_at,
                          lim->lim_max_occurred_at);
    if ((rc = jd_decode_branch(ws, JD_PF_VALUE, &v, err)) <= 0)
        return rc;
    if (avro_value_get_double(&v, &ev->ev_value) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "field 'value' is not a double");
    ev->ev_has_value = 1;
    return 0;
}

/* One map entry: the key is checked before it is used in any message. */
static int jd_decode_attr(const jd_decoder_t *dec, avro_value_t *map, size_t i,
                          jd_arena_t *ar, jd_attr_t *at, jd_err_t *err)
{
    avro_value_t child;
    const char *key = NULL;
    int rc;

    if (avro_value_get_by_index(map, i, &child, &key) != 0 || !key)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_INTERNAL,
                          "cannot access attribute %zu", i);
    if ((rc = jd_decode_check(dec, key, strlen(key), "attributes key", NULL,
                              err)) ||
        (rc = jd_decode_copy(ar, key, strlen(key), &at->at_key, err)))
        return rc;
    return jd_decode_str(dec, &child, "attributes", at->at_key, ar,
                         &at->at_val, err);
}

static int jd_decode_attrs(const jd_decoder_t *dec, const jd_wschema_t *ws,
                           jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    avro_value_t map;
    size_t n = 0;
    int rc = jd_decode_field(ws, JD_PF_ATTRIBUTES, &map, err);

    if (rc <= 0)
        return rc; /* absent from the writer: default {} */
    if (avro_value_get_size(&map, &n) != 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_WRONG_TYPE,
                          "field 'attributes' is not a map");
    if (n > dec->dc_lim.lim_max_attributes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_MANY_ATTRS,
                          "attributes has %zu entries, limit %zu", n,
                          dec->dc_lim.lim_max_attributes);
    if (n == 0)
        return 0;
    if (!(ev->ev_attrs = jd_arena_alloc(ar, n * sizeof *ev->ev_attrs)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "arena: cannot allocate %zu attributes", n);
    for (size_t i = 0; i < n; i++) {
        if ((rc = jd_decode_attr(dec, &map, i, ar, &ev->ev_attrs[i], err)))
            return rc;
        ev->ev_attr_cnt = i + 1;
    }
    return 0;
}

int jd__decode_fields(const jd_decoder_t *dec, const jd_wschema_t *ws,
                      jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    int rc;

    if ((rc = jd_decode_required(dec, ws, JD_PF_EVENT_ID, ar, &ev->ev_id, err)) ||
        (rc = jd_decode_required(dec, ws, JD_PF_ACCOUNT_ID, ar,
                                 &ev->ev_account, err)) ||
        (rc = jd_decode_optional(dec, ws, JD_PF_USER_ID, ar, &ev->ev_user,
                                 err)) ||
        (rc = jd_decode_required(dec, ws, JD_PF_TYPE, ar, &ev->ev_type_name,
                                 err)) ||
        (rc = jd_decode_optional(dec, ws, JD_PF_FEATURE, ar, &ev->ev_feature,
                                 err)) ||
        (rc = jd_decode_time_value(dec, ws, ev, err)) ||
        (rc = jd_decode_attrs(dec, ws, ar, ev, err)))
        return rc;
    ev->ev_type = jd_event_type_parse(ev->ev_type_name);
    return 0;
}

