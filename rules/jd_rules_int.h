/*
 * jd_rules_int: the compiled ruleset, shared by the loader (jd_rules.c)
 * and the evaluation (jd_rules_eval.c). Not for other modules: they use
 * the accessors of jd_rules.h.
 */
#ifndef JD_RULES_INT_H
#define JD_RULES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jd_expr.h"
#include "jd_rules.h"

/* A named part of a rule's score (e.g. renewal readiness `health`). */
typedef struct jd_rule_part {
    char      *rp_name;
    jd_expr_t *rp_expr;   /* numeric */
} jd_rule_part_t;

/* A level of a scored rule: the score reaches it at rl_min or more. */
typedef struct jd_rule_level {
    char  *rl_name;
    double rl_min;
} jd_rule_level_t;

struct jd_rule {
    char          *r_id;
    jd_kind_t      r_kind;
    jd_severity_t  r_severity;
    char          *r_play;        /* NULL: taken from the plays section */
    char          *r_description; /* NULL when absent */
    int64_t        r_cooldown_ms;
    int64_t        r_for_ms;      /* 0: fires as soon as `when` holds */
    char          *r_for_text;    /* as written ("7d"), NULL without */
    int32_t        r_priority;
    int            r_resolve;     /* publish RESOLVED when an episode ends */
    int            r_shadow;      /* mode: shadow */
    char         **r_segments;    /* applies only to these tiers/segments */
    size_t         r_segment_cnt;
    char         **r_supp_names;  /* suppressed_by, as written */
    size_t        *r_supp_lines;  /* their positions, for errors */
    size_t        *r_supp_cols;
    size_t         r_supp_cnt;
    unsigned       r_supp_kinds;  /* bit k: any open rule of kind k */
    size_t        *r_supp_rules;  /* indexes of the rules named */
    size_t         r_supp_rule_cnt;
    jd_rule_part_t *r_parts;      /* score: summed into `score` */
    size_t         r_part_cnt;
    jd_rule_level_t *r_levels;    /* sorted by rl_min, highest first */
    size_t         r_level_cnt;
    jd_expr_t     *r_when;
    size_t         r_line;        /* line and column of the rule's id */
    size_t         r_col;
    char           r_version[17];
};

/* A segment tier of the touch model: the segment values it groups. */
typedef struct jd_tier {
    char   *ti_name;
    char  **ti_values;
    size_t  ti_value_cnt;
} jd_tier_t;

/* One entry of the plays section: (kind or rule, tier) -> play. */
typedef struct jd_play {
    int     pl_has_kind;
    jd_kind_t pl_kind;
    char   *pl_rule;       /* NULL: matches by kind */
    char   *pl_tier;       /* NULL: any segment */
    char   *pl_play;
    char   *pl_owner;      /* NULL when absent */
    char   *pl_channel;    /* NULL when absent */
    size_t  pl_line, pl_col;
} jd_play_t;

struct jd_ruleset {
    jd_rule_t *rs_rules;
    size_t     rs_count;
    jd_tier_t *rs_tiers;
    size_t     rs_tier_cnt;
    char      *rs_default_tier; /* NULL: an unlisted segment is its own tier */
    jd_play_t *rs_plays;
    size_t     rs_play_cnt;
};

/* The tier of an account's segment value (NULL when unknown): the tier
 * that lists it, else a tier of that very name, else the default tier,
 * else the value itself. NULL only when segment is NULL and there is no
 * default tier. */
const char *jd__rules_tier(const jd_ruleset_t *rs, const char *segment);

/* The plays entry for rule r in tier (may be NULL), most specific first:
 * rule + tier, rule, kind + tier, kind. NULL when none matches. */
const jd_play_t *jd__rules_play(const jd_ruleset_t *rs, const jd_rule_t *r,
                                const char *tier);

#endif
