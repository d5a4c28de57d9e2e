/*
 * jd_kconf: builds librdkafka configurations from jd_config_t.
 *
 * Every `kafka.*` property of the config is applied; a property librdkafka
 * rejects is reported by name (JD_ERR_FATAL/JD_E_CONFIG). Consumer-only
 * properties are left out of producer configurations so librdkafka does
 * not warn about them. journeyd's own settings (manual offset store,
 * idempotence) are applied last and cannot be overridden, because the
 * delivery guarantees depend on them.
 */
#ifndef JD_KCONF_H
#define JD_KCONF_H

#include <librdkafka/rdkafka.h>

#include "jd_config.h"
#include "jd_err.h"

typedef enum { JD_KCONF_CONSUMER, JD_KCONF_PRODUCER } jd_kconf_role_t;

/* Returns a new conf owned by the caller (rd_kafka_new takes it over), or
 * NULL with err set. `bootstrap` overrides kafka.bootstrap.servers when
 * non-NULL (the embedded cluster's address). */
rd_kafka_conf_t *jd_kconf_new(const jd_config_t *cf, jd_kconf_role_t role,
                              const char *bootstrap, jd_err_t *err);

/* librdkafka log callback that writes through jd_log (syslog levels 0-3
 * error, 4 warn, 5-6 info, 7 debug). Runs on librdkafka's threads. */
void jd_kconf_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Sets one property or fills err naming it. */
int jd_kconf_set(rd_kafka_conf_t *conf, const char *key, const char *val,
                 jd_err_t *err);

/* Builds (and drops) the consumer and producer configurations, so a bad
 * kafka.* property is reported at start-up, before anything connects.
 * Returns 0, or -1 with err naming the property. */
int jd_kconf_check(const jd_config_t *cf, jd_err_t *err);

#endif
