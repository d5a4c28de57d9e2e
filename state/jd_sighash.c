/*
 * jd_sighash: the downstream signals hash (contract in jd_sighash.h).
 *
 * The field set leaves out what moves with every event (event counts, the
 * as-of and last-event instants, days-since counters): with it the hash
 * would be rewritten for every changed account of every batch, and Redis
 * would spend more on it than on the records (measured on the bench: a
 * 45-field HSET per record doubles Redis CPU per event). What is kept
 * changes when a profile attribute, a milestone, the stage, the health or
 * a 28-day window does. A hash of each formatted value (kept in the
 * account, not stored) says which fields the stored hash lacks, so only
 * those are written (HSET), and an unchanged account costs the hashing
 * and no Redis command.
 *
 * Numbers are formatted by hand when integral (the usual case: counts and
 * instants), snprintf only for fractions.
 */
#include "jd_sighash.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

static const jd_signal_id_t sh_ids[JD_SIGHASH_FIELDS] = {
    JD_SIG_HEALTH_SCORE,     JD_SIG_STAGE,           JD_SIG_PREVIOUS_STAGE,
    JD_SIG_STAGE_CHANGED_AT, JD_SIG_SEGMENT,         JD_SIG_PLAN,
    JD_SIG_STATUS,           JD_SIG_SEATS,           JD_SIG_ARR,
    JD_SIG_UTILIZATION,      JD_SIG_RENEWAL_AT,      JD_SIG_ACTIVE_USERS_28D,
    JD_SIG_CORE_FEATURES_USED_28D, JD_SIG_FIRST_VALUE_AT, JD_SIG_TTFV_DAYS,
    JD_SIG_NPS_LAST,         JD_SIG_CSAT_LAST,       JD_SIG_CASES_OPEN,
    JD_SIG_SEV1_OPEN,
};

const char *jd_sighash_field(size_t i)
{
    return i < JD_SIGHASH_FIELDS ? jd_signals_name(sh_ids[i]) : NULL;
}

/* Decimal of an integral v (|v| < 2^63) into buf. */
static void sh_int(char *buf, double v)
{
    char tmp[24];
    int64_t x = (int64_t)v;
    uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    size_t n = 0, len = 0;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10));
    if (x < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
}

static void sh_value(const jd_value_t *v, char *buf)
{
    if (v->type == JD_VAL_STR && v->str) {
        size_t n = strlen(v->str);
        if (n >= JD_SIGHASH_VAL_MAX)
            n = JD_SIGHASH_VAL_MAX - 1;
        memcpy(buf, v->str, n);
        buf[n] = '\0';
    } else if ((v->type == JD_VAL_NUM || v->type == JD_VAL_BOOL) && isfinite(v->num)) {
        if (v->num == floor(v->num) && fabs(v->num) < 9.2e18)
            sh_int(buf, v->num);
        else
            snprintf(buf, JD_SIGHASH_VAL_MAX, "%.10g", v->num);
    } else {
        buf[0] = '\0';
    }
}

void jd_sighash_build(const jd_signals_t *sg, jd_sighash_t *sh)
{
    char all[JD_SIGHASH_FIELDS * JD_SIGHASH_VAL_MAX];
    size_t len = 0;
    for (size_t i = 0; i < JD_SIGHASH_FIELDS; i++) {
        sh_value(jd_signals_get(sg, sh_ids[i]), sh->sh_val[i]);
        sh->sh_pairs[2 * i] = jd_signals_name(sh_ids[i]);
        sh->sh_pairs[2 * i + 1] = sh->sh_val[i];
        size_t n = strlen(sh->sh_val[i]) + 1; /* with its NUL: "a","" != "","a" */
        memcpy(all + len, sh->sh_val[i], n);
        sh->sh_fh[i] = (uint32_t)XXH3_64bits(all + len, n) | 1;
        len += n;
    }
    sh->sh_hash = XXH3_64bits(all, len) | 1; /* never 0: 0 is "not written" */
}

size_t jd_sighash_changed(jd_sighash_t *sh, uint32_t last[JD_SIGHASH_FIELDS])
{
    size_t n = 0;
    for (size_t i = 0; i < JD_SIGHASH_FIELDS; i++) {
        if (last[i] == sh->sh_fh[i])
            continue;
        last[i] = sh->sh_fh[i];
        sh->sh_changed[2 * n] = sh->sh_pairs[2 * i];
        sh->sh_changed[2 * n + 1] = sh->sh_pairs[2 * i + 1];
        n++;
    }
    return n;
}
