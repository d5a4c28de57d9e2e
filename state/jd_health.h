/*
 * jd_health: the health score, a weighted composite of five measures that
 * can always be explained measure by measure.
 *
 * Configuration is a set of profiles, one per customer segment, plus the
 * `default` profile used for accounts whose segment has none (or no
 * segment). Each profile gives every measure a weight and two thresholds:
 *   bad   the measure value worth 0 points or less,
 *   good  the value worth 100 points or more,
 * linear in between (bad > good for measures where lower is better, such as
 * open cases). A segment profile only names what it changes; everything
 * else is inherited from `default`. Weights of every profile, after
 * inheritance, sum to 100.
 *
 * Scoring: each measure with a value maps to a 0-100 score; the health
 * score is the weighted mean over the measures that have a value, so an
 * unknown measure (no seats, no NPS answer) neither helps nor hurts. Each
 * measure's points are its share of that mean (weight x score / sum of the
 * weights present), so the points add up to the score exactly. No measure
 * with a value: the score is null.
 *
 * Configuration keys (jd_config passes every `health.*` key here):
 *   health.<segment>.<measure>.<weight|bad|good>
 * The segment is everything before the last two dots, so segment names may
 * contain dots. Pure: no I/O; the configuration is built at start-up on
 * one thread, then only read (any thread).
 */
#ifndef JD_HEALTH_H
#define JD_HEALTH_H

#include <stddef.h>

#include "jd_err.h"

typedef enum jd_health_measure {
    JD_HM_UTILIZATION = 0,   /* utilization (active_users_28d / seats) */
    JD_HM_USAGE_CHANGE,      /* usage_change_7d */
    JD_HM_NPS,               /* nps_avg_90d */
    JD_HM_CASES_OPEN,        /* cases_open */
    JD_HM_MILESTONES,        /* milestone on track: 1 or 0 */
    JD_HM__COUNT
} jd_health_measure_t;

typedef enum jd_health_field {
    JD_HF_WEIGHT = 0,
    JD_HF_BAD,
    JD_HF_GOOD,
    JD_HF__COUNT
} jd_health_field_t;

#define JD_HEALTH_SEGMENT_MAX 64
#define JD_HEALTH_PROFILES_MAX 64

/* One profile as configured: only the fields marked in hp_set are its own;
 * the others come from `default` (jd_health_resolve). */
typedef struct jd_health_profile {
    char   hp_segment[JD_HEALTH_SEGMENT_MAX];
    double hp_val[JD_HM__COUNT][JD_HF__COUNT];
    unsigned char hp_set[JD_HM__COUNT][JD_HF__COUNT];
} jd_health_profile_t;

/* Profile 0 is always `default`, fully set. Plain value: copy freely. */
typedef struct jd_health_conf {
    size_t              hc_cnt;
    jd_health_profile_t hc_profiles[JD_HEALTH_PROFILES_MAX];
} jd_health_conf_t;

/* The built-in default profile (docs/signals.md lists its values). */
void jd_health_conf_init(jd_health_conf_t *hc);

/* Sets "<segment>.<measure>.<field>" (the key without "health.") to the
 * decimal number `value`. Returns 0, or JD_ERR_FATAL/JD_E_CONFIG naming
 * the key: unknown measure or field, not a finite number, a negative
 * weight, too many segments. */
int jd_health_conf_set(jd_health_conf_t *hc, const char *key,
                       const char *value, jd_err_t *err);

/* Checks every profile after inheritance: weights sum to 100 (within
 * 1e-9), bad != good. Returns 0 or JD_ERR_FATAL/JD_E_CONFIG naming the
 * segment and what is wrong. */
int jd_health_conf_check(const jd_health_conf_t *hc, jd_err_t *err);

/* The profile for `segment` (NULL or unknown: `default`) with inherited
 * fields filled in, written to *out. hc NULL: the built-in default. */
void jd_health_resolve(const jd_health_conf_t *hc, const char *segment,
                       jd_health_profile_t *out);

/* Writes every configured value as "health.<segment>.<measure>.<field>:
 * value" lines (the explicitly set ones; default's are all set). */
void jd_health_conf_print(const jd_health_conf_t *hc,
                          void (*line)(const char *key, double v, void *opaque),
                          void *opaque);

const char *jd_health_measure_name(jd_health_measure_t m);
const char *jd_health_field_name(jd_health_field_t f);

/* One measure's part of a score. */
typedef struct jd_health_part {
    int    hp_present;  /* the measure had a value */
    double hp_value;    /* the measure's value */
    double hp_score;    /* 0-100 from the thresholds */
    double hp_weight;   /* configured weight */
    double hp_points;   /* share of the health score; the parts add up */
} jd_health_part_t;

typedef struct jd_health_result {
    int              hr_present;               /* score is not null */
    double           hr_score;                 /* 0-100 */
    char             hr_profile[JD_HEALTH_SEGMENT_MAX]; /* profile used */
    jd_health_part_t hr_parts[JD_HM__COUNT];
} jd_health_result_t;

/* Maps a value to 0-100 with the thresholds of (bad, good). */
double jd_health_map(double value, double bad, double good);

/* Scores the measures values[m] (present[m] = 0 when unknown) with a
 * resolved profile. */
void jd_health_score(const jd_health_profile_t *p, const double *values,
                     const int *present, jd_health_result_t *out);

#endif
