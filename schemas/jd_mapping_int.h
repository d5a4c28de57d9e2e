/*
 * jd_mapping_int.h: the field mapping's configuration as jd_mapping.c
 * builds it and jd_mapping_fill.c reads it. Private to schemas/.
 */
#ifndef JD_MAPPING_INT_H
#define JD_MAPPING_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jd_mapping.h"

typedef struct jd_map_path {
    char  *pa_text;                     /* as configured, for messages */
    char  *pa_buf;                      /* steps point into it */
    char  *pa_steps[JD_MAP_MAX_STEPS];
    size_t pa_n;                        /* 0: not mapped */
} jd_map_path_t;

typedef enum jd_map_field {
    JD_MF_EVENT_ID, JD_MF_USER_ID, JD_MF_TYPE, JD_MF_FEATURE,
    JD_MF_OCCURRED_AT, JD_MF_VALUE, JD_MF_ATTRIBUTES, JD_MF__COUNT
} jd_map_field_t;

typedef struct jd_map_event {
    char *me_name, *me_type, *me_feature;
} jd_map_event_t;

typedef struct jd_map_attr {
    char         *ma_name;
    jd_map_path_t ma_path;
} jd_map_attr_t;

struct jd_mapping {
    int             mp_active;
    jd_map_path_t   mp_fields[JD_MF__COUNT];
    jd_map_path_t   mp_account[JD_MAP_MAX_ACCOUNT_PATHS];
    size_t          mp_naccount;
    char           *mp_account_text;
    char           *mp_default_account;
    int64_t         mp_unit_num, mp_unit_den;   /* ms = v * num / den */
    char           *mp_unit_text;
    char           *mp_format;                   /* NULL: iso8601 */
    jd_map_event_t *mp_events;
    size_t          mp_nevents;
    jd_map_attr_t  *mp_attrs;
    size_t          mp_nattrs;
};

/* The configured path of `slot` (jd_mapping_slot_count order), or NULL. */
const jd_map_path_t *jd__mapping_slot(const jd_mapping_t *mp, size_t slot);

#endif
