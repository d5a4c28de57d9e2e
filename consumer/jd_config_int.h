/*
 * jd_config_int: the key table and what the pieces of jd_config share:
 * consumer/jd_config_keys.c (the table of typed keys and the librdkafka
 * defaults), consumer/jd_config.c (setting a key, life cycle,
 * validation, the views other modules take), consumer/jd_config_load.c
 * (YAML file and environment) and consumer/jd_config_print.c (`config
 * keys` and `config show`). Not for other modules.
 *
 * Every typed key is one row of jd__config_keys[] with the offset of its
 * field in jd_config_t; its default is text, parsed like any other value.
 * The tables are constant: any thread may read them.
 */
#ifndef JD_CONFIG_INT_H
#define JD_CONFIG_INT_H

#include <stddef.h>

#include "jd_config.h"

typedef enum { JD_CFG_STR, JD_CFG_INT, JD_CFG_LIST, JD_CFG_NUM } jd_cfg_type_t;

typedef struct jd_config_key {
    const char   *ck_name;
    jd_cfg_type_t ck_type;
    const char   *ck_default;
    size_t        ck_offset;
    long          ck_min, ck_max;      /* JD_CFG_INT and JD_CFG_NUM */
    const char   *ck_choices;          /* JD_CFG_STR: "a|b|c" or NULL */
    const char   *ck_doc;
} jd_config_key_t;

#define JD_OFF(f) offsetof(jd_config_t, f)

/* The typed keys, in the order `config keys` and `config show` list them
 * (jd_config_keys.c). */
extern const jd_config_key_t jd__config_keys[];
extern const size_t jd__config_nkeys;
#define JD_CONFIG_NKEYS jd__config_nkeys

/* librdkafka properties journeyd sets unless the user does: {name, value}
 * (jd_config_keys.c). */
extern const char *const jd__config_kafka_defaults[][2];
extern const size_t jd__config_nkafka_defaults;

/* The environment variable of a key: "JOURNEYD_" and the key upper-cased
 * with '.' as '_' (jd_config_load.c). */
void jd__config_env_name(const char *key, char *out, size_t cap);

#endif
