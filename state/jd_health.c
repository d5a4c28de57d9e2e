/*
 * jd_health: health profiles and scoring (contract in jd_health.h).
 *
 * A profile stores only what its configuration named; inheritance from
 * `default` happens in jd_health_resolve(), at scoring time, so the order
 * in which keys are set (file, environment, flags) never matters: setting
 * default's weight after a segment's threshold still reaches that segment.
 * Resolution copies two small arrays, cheap next to the Redis round trip
 * that precedes every scoring.
 *
 * Pure: no I/O, no allocation; the conf is read-only after start-up.
 */
#include "jd_health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const jd_health_measures[JD_HM__COUNT] = {
    [JD_HM_UTILIZATION] = "utilization",
    [JD_HM_USAGE_CHANGE] = "usage_change_7d",
    [JD_HM_NPS] = "nps",
    [JD_HM_CASES_OPEN] = "cases_open",
    [JD_HM_MILESTONES] = "milestones",
};

static const char *const jd_health_fields[JD_HF__COUNT] = {
    [JD_HF_WEIGHT] = "weight",
    [JD_HF_BAD] = "bad",
    [JD_HF_GOOD] = "good",
};

/* weight, bad, good of the built-in default profile */
static const double jd_health_defaults[JD_HM__COUNT][JD_HF__COUNT] = {
    [JD_HM_UTILIZATION] = {30, 0.2, 0.8},
    [JD_HM_USAGE_CHANGE] = {20, -0.5, 0.0},
    [JD_HM_NPS] = {20, 4, 9},
    [JD_HM_CASES_OPEN] = {15, 5, 0},
    [JD_HM_MILESTONES] = {15, 0, 1},
};

const char *jd_health_measure_name(jd_health_measure_t m)
{
    return (int)m >= 0 && m < JD_HM__COUNT ? jd_health_measures[m] : NULL;
}

const char *jd_health_field_name(jd_health_field_t f)
{
    return (int)f >= 0 && f < JD_HF__COUNT ? jd_health_fields[f] : NULL;
}

void jd_health_conf_init(jd_health_conf_t *hc)
{
    memset(hc, 0, sizeof *hc);
    hc->hc_cnt = 1;
    snprintf(hc->hc_profiles[0].hp_segment, JD_HEALTH_SEGMENT_MAX, "default");
    memcpy(hc->hc_profiles[0].hp_val, jd_health_defaults,
           sizeof jd_health_defaults);
    memset(hc->hc_profiles[0].hp_set, 1, sizeof hc->hc_profiles[0].hp_set);
}

static int jd_health_lookup(const char *const *names, int n, const char *s,
                            size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

static jd_health_profile_t *jd_health_profile_get(jd_health_conf_t *hc,
                                                  const char *seg, size_t len)
{
    for (size_t i = 0; i < hc->hc_cnt; i++) {
        const char *s = hc->hc_profiles[i].hp_segment;
        if (strlen(s) == len && memcmp(s, seg, len) == 0)
            return &hc->hc_profiles[i];
    }
    if (hc->hc_cnt == JD_HEALTH_PROFILES_MAX || len >= JD_HEALTH_SEGMENT_MAX)
        return NULL;
    jd_health_profile_t *p = &hc->hc_profiles[hc->hc_cnt++];
    memset(p, 0, sizeof *p);
    memcpy(p->hp_segment, seg, len);
    return p;
}

/* A finite decimal number, the whole string; 0 or -1. */
static int jd_health_number(const char *s, double *out)
{
    char *end;
    if (!s || !*s || strpbrk(s, "xXpP \t"))
        return -1;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int jd_health_conf_set(jd_health_conf_t *hc, const char *key,
                       const char *value, jd_err_t *err)
{
    const char *fdot = key ? strrchr(key, '.') : NULL, *mdot = NULL;
    double v;

    for (const char *p = key; fdot && p < fdot; p++)
        if (*p == '.')
            mdot = p;
    if (!fdot || !mdot || mdot == key)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "health.%s: want health.<segment>.<measure>.<field>",
                          key ? key : "");
    int m = jd_health_lookup(jd_health_measures, JD_HM__COUNT, mdot + 1,
                             (size_t)(fdot - mdot - 1));
    int f = jd_health_lookup(jd_health_fields, JD_HF__COUNT, fdot + 1,
                             strlen(fdot + 1));
    if (m < 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "health.%s: unknown measure (utilization, "
                          "usage_change_7d, nps, cases_open, milestones)", key);
    if (f < 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "health.%s: unknown field (weight, bad, good)", key);
    if (jd_health_number(value, &v) || (f == JD_HF_WEIGHT && v < 0))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "health.%s: '%s' is not a %snumber", key,
                          value ? value : "", f == JD_HF_WEIGHT ? "non-negative " : "");
    jd_health_profile_t *p = jd_health_profile_get(hc, key, (size_t)(mdot - key));
    if (!p)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                          "health.%s: too many segments (at most %d) or segment "
                          "name too long", key, JD_HEALTH_PROFILES_MAX);
    p->hp_val[m][f] = v;
    p->hp_set[m][f] = 1;
    return 0;
}

void jd_health_resolve(const jd_health_conf_t *hc, const char *segment,
                       jd_health_profile_t *out)
{
    const jd_health_profile_t *own = NULL;

    if (!hc) {
        memset(out, 0, sizeof *out);
        snprintf(out->hp_segment, sizeof out->hp_segment, "default");
        memcpy(out->hp_val, jd_health_defaults, sizeof jd_health_defaults);
        memset(out->hp_set, 1, sizeof out->hp_set);
        return;
    }
    const jd_health_profile_t *def = &hc->hc_profiles[0];
    for (size_t i = 1; segment && i < hc->hc_cnt && !own; i++)
        if (strcmp(hc->hc_profiles[i].hp_segment, segment) == 0)
            own = &hc->hc_profiles[i];
    *out = *def;
    if (!own)
        return;
    memcpy(out->hp_segment, own->hp_segment, sizeof out->hp_segment);
    for (int m = 0; m < JD_HM__COUNT; m++)
        for (int f = 0; f < JD_HF__COUNT; f++)
            if (own->hp_set[m][f])
                out->hp_val[m][f] = own->hp_val[m][f];
}

int jd_health_conf_check(const jd_health_conf_t *hc, jd_err_t *err)
{
    for (size_t i = 0; i < hc->hc_cnt; i++) {
        jd_health_profile_t p;
        double sum = 0;
        jd_health_resolve(hc, i ? hc->hc_profiles[i].hp_segment : NULL, &p);
        for (int m = 0; m < JD_HM__COUNT; m++) {
            sum += p.hp_val[m][JD_HF_WEIGHT];
            if (p.hp_val[m][JD_HF_BAD] == p.hp_val[m][JD_HF_GOOD])
                return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                                  "health.%s.%s: bad and good are both %g",
                                  p.hp_segment, jd_health_measures[m],
                                  p.hp_val[m][JD_HF_BAD]);
        }
        if (fabs(sum - 100.0) > 1e-9)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "health.%s: weights sum to %g, not 100",
                              p.hp_segment, sum);
    }
    return 0;
}

void jd_health_conf_print(const jd_health_conf_t *hc,
                          void (*line)(const char *key, double v, void *opaque),
                          void *opaque)
{
    char key[JD_HEALTH_SEGMENT_MAX + 64];
    for (size_t i = 0; i < hc->hc_cnt; i++) {
        const jd_health_profile_t *p = &hc->hc_profiles[i];
        for (int m = 0; m < JD_HM__COUNT; m++)
            for (int f = 0; f < JD_HF__COUNT; f++) {
                if (!p->hp_set[m][f])
                    continue;
                snprintf(key, sizeof key, "health.%s.%s.%s", p->hp_segment,
                         jd_health_measures[m], jd_health_fields[f]);
                line(key, p->hp_val[m][f], opaque);
            }
    }
}

double jd_health_map(double value, double bad, double good)
{
    double s = (value - bad) / (good - bad);
    if (!(s > 0)) /* also NaN */
        return 0;
    return s >= 1 ? 100 : 100 * s;
}

void jd_health_score(const jd_health_profile_t *p, const double *values,
                     const int *present, jd_health_result_t *out)
{
    double wsum = 0, total = 0;

    memset(out, 0, sizeof *out);
    memcpy(out->hr_profile, p->hp_segment, sizeof out->hr_profile);
    for (int m = 0; m < JD_HM__COUNT; m++) {
        jd_health_part_t *hp = &out->hr_parts[m];
        hp->hp_weight = p->hp_val[m][JD_HF_WEIGHT];
        if (!present[m] || !isfinite(values[m]))
            continue;
        hp->hp_present = 1;
        hp->hp_value = values[m];
        hp->hp_score = jd_health_map(values[m], p->hp_val[m][JD_HF_BAD],
                                     p->hp_val[m][JD_HF_GOOD]);
        wsum += hp->hp_weight;
    }
    if (!(wsum > 0))
        return;
    for (int m = 0; m < JD_HM__COUNT; m++) {
        jd_health_part_t *hp = &out->hr_parts[m];
        if (!hp->hp_present)
            continue;
        hp->hp_points = hp->hp_weight * hp->hp_score / wsum;
        total += hp->hp_points;
    }
    out->hr_present = 1;
    out->hr_score = total;
}
