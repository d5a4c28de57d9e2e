/*
 * jd_prog_event: the end of a product program's run (jd_prog_run, contract
 * in jd_prog.h): the values the walk kept are checked against the limits
 * in reader field order - exactly as jd_decode_generic.c checks avro-c's
 * values, so both paths reject with the same reason - and the strings are
 * copied into the caller's arena in one allocation.
 *
 * Pure; one thread per jd_prog_state_t.
 */
#include "jd_prog.h"

#include <inttypes.h>
#include <string.h>

#include "jd_codec_int.h"
#include "jd_prog_int.h"

#define JD_STR_FIELDS ((1u << JD_PF_EVENT_ID) | (1u << JD_PF_ACCOUNT_ID) | \
                       (1u << JD_PF_USER_ID) | (1u << JD_PF_TYPE) | (1u << JD_PF_FEATURE))

/* ---- field checks and copies --------------------------------------------- */

static int jd_run_check_str(const jd_run_t *r, const jd_limits_t *lim, jd_pf_t f,
                            jd_err_t *err)
{
    const char *name = jd__codec_pf_spec[f].fs_name;
    int set = (r->r_set >> f) & 1, rc;

    if (!set) {
        if (!jd__codec_pf_spec[f].fs_required)
            return 0;
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD, "field '%s' is absent", name);
    }
    if ((rc = jd__codec_check_str(lim, (const char *)r->r_str[f], r->r_strn[f], name, NULL,
                                  err)))
        return rc;
    if (jd__codec_pf_spec[f].fs_required && r->r_strn[f] == 0)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD, "field '%s' is empty", name);
    return 0;
}

static int jd_run_check_attrs(const jd_run_t *r, const jd_limits_t *lim, jd_arena_t *ar,
                              jd_err_t *err)
{
    int rc;
    if (r->r_kv_n > lim->lim_max_attributes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_MANY_ATTRS,
                          "attributes has %zu entries, limit %zu",
                          r->r_kv_n < r->r_kv_cap ? r->r_kv_n : r->r_kv_seen,
                          lim->lim_max_attributes);
    for (size_t i = 0; i < r->r_kv_n; i++) {
        const jd_prog_kv_t *kv = &r->r_kv[i];
        if ((rc = jd__codec_check_str(lim, (const char *)kv->kv_key, kv->kv_klen,
                                      "attributes key", NULL, err)))
            return rc;
        if (jd__codec_check_str(lim, (const char *)kv->kv_val, kv->kv_vlen, "attributes",
                                "", NULL) == 0)
            continue;
        /* The error path only: name the entry by its (checked) key. */
        const char *key = jd_arena_strndup(ar, (const char *)kv->kv_key, kv->kv_klen);
        return jd__codec_check_str(lim, (const char *)kv->kv_val, kv->kv_vlen, "attributes",
                                   key ? key : "?", err);
    }
    return 0;
}

/* The checks of jd_decode.c's jd_decode_fields, in the same order. */
static int jd_run_check(const jd_run_t *r, const jd_limits_t *lim, jd_arena_t *ar,
                        jd_err_t *err)
{
    static const jd_pf_t order[] = {JD_PF_EVENT_ID, JD_PF_ACCOUNT_ID, JD_PF_USER_ID,
                                    JD_PF_TYPE, JD_PF_FEATURE};
    int rc;

    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if ((rc = jd_run_check_str(r, lim, order[i], err)))
            return rc;
    }
    if (!((r->r_set >> JD_PF_OCCURRED_AT) & 1))
        return jd_err_set(err, JD_ERR_SKIP, JD_E_MISSING_FIELD,
                          "field 'occurred_at' is absent");
    if (r->r_ts < lim->lim_min_occurred_at || r->r_ts >= lim->lim_max_occurred_at)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_TIMESTAMP,
                          "occurred_at %" PRId64 " is outside [%" PRId64 ", %" PRId64 ") ms",
                          r->r_ts, lim->lim_min_occurred_at, lim->lim_max_occurred_at);
    return jd_run_check_attrs(r, lim, ar, err);
}

static const char *jd_run_copy(char **at, const unsigned char *s, size_t n)
{
    char *d = *at;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *at = d + n + 1;
    return d;
}

/* Copies the checked values into the arena (one allocation) and fills ev. */
static int jd_run_emit(const jd_run_t *r, jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    const char **dst[JD_PF__COUNT] = {
        [JD_PF_EVENT_ID] = &ev->ev_id, [JD_PF_ACCOUNT_ID] = &ev->ev_account,
        [JD_PF_USER_ID] = &ev->ev_user, [JD_PF_TYPE] = &ev->ev_type_name,
        [JD_PF_FEATURE] = &ev->ev_feature};
    size_t total = r->r_kv_n * sizeof(jd_attr_t);

    for (int f = 0; f < JD_PF__COUNT; f++) {
        if ((JD_STR_FIELDS >> f & 1) && (r->r_set >> f & 1))
            total += r->r_strn[f] + 1;
    }
    for (size_t i = 0; i < r->r_kv_n; i++)
        total += r->r_kv[i].kv_klen + r->r_kv[i].kv_vlen + 2;
    char *mem = jd_arena_alloc(ar, total ? total : 1);
    if (!mem)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "arena: cannot allocate %zu bytes",
                          total);
    char *at = mem + r->r_kv_n * sizeof(jd_attr_t);
    for (int f = 0; f < JD_PF__COUNT; f++) {
        if ((JD_STR_FIELDS >> f & 1) && (r->r_set >> f & 1))
            *dst[f] = jd_run_copy(&at, r->r_str[f], r->r_strn[f]);
    }
    if (r->r_kv_n) {
        ev->ev_attrs = (jd_attr_t *)(void *)mem;
        ev->ev_attr_cnt = r->r_kv_n;
        for (size_t i = 0; i < r->r_kv_n; i++) {
            ev->ev_attrs[i].at_key = jd_run_copy(&at, r->r_kv[i].kv_key, r->r_kv[i].kv_klen);
            ev->ev_attrs[i].at_val = jd_run_copy(&at, r->r_kv[i].kv_val, r->r_kv[i].kv_vlen);
        }
    }
    ev->ev_occurred_at = r->r_ts;
    if (r->r_set >> JD_PF_VALUE & 1) {
        ev->ev_value = r->r_val;
        ev->ev_has_value = 1;
    }
    ev->ev_type = jd_event_type_parse(ev->ev_type_name);
    return 0;
}

int jd_prog_run(const jd_prog_t *pg, const jd_limits_t *lim, jd_prog_state_t *ps,
                const unsigned char *p, size_t len, jd_arena_t *ar, jd_event_t *ev,
                jd_err_t *err)
{
    jd_run_t r;
    int rc;

    memset(ev, 0, sizeof *ev);
    if ((rc = jd__prog_walk(&r, pg, ps, p, len, err)))
        return rc;
    if ((rc = jd_run_check(&r, lim, ar, err)) || (rc = jd_run_emit(&r, ar, ev, err))) {
        memset(ev, 0, sizeof *ev);
        return rc;
    }
    return 0;
}
