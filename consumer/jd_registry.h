/*
 * jd_registry: a Confluent Schema Registry client (libcurl, jansson).
 *
 * Three calls of the registry's REST API are used:
 *   GET  /schemas/ids/{id}              -> {"schema": "<writer schema JSON>"}
 *   POST /subjects/{subject}/versions   {"schema": "..."} -> {"id": N}
 *   GET  /subjects/{subject}/versions/{version|latest}
 *                                       -> {"id": N, "schema": "...", ...}
 * Writer schemas fetched by id are cached (a schema id is immutable in the
 * registry; the decoder keeps its own compiled copy), so once a schema is
 * known a registry outage does not affect decoding. The cache holds at
 * most schemas.registry.cache_max ids (the oldest goes first) and finds
 * one in O(1). An id the registry answered 404 to (or answered without
 * a schema) is remembered for schemas.registry.negative_ttl_ms: one
 * request per such id per period, not one per message. A fetch that got
 * no answer (outage) is remembered only for schemas.registry.retry_ms, a
 * short pause before the id may be asked again.
 *
 * Configuration (schemas.registry.*): url, username/password (HTTP basic
 * auth), ca_location, cert_location/key_location (TLS client
 * certificate), ssl_verify, timeout_ms.
 *
 * Errors: the registry unreachable, timing out or answering 5xx is
 * JD_ERR_RETRY/JD_E_IO; an id the registry does not know (404) or a
 * malformed answer is JD_ERR_SKIP/JD_E_UNKNOWN_SCHEMA; a refused
 * registration (4xx) is JD_ERR_FATAL/JD_E_SCHEMA; a bad URL or TLS setup
 * (unsupported scheme, certificate that does not verify, unreadable CA or
 * client certificate) is JD_ERR_FATAL/JD_E_CONFIG.
 *
 * Threads: one client per thread (it owns one curl easy handle, reused so
 * connections are kept alive). Ownership: jd_registry_new() returns a
 * client freed by jd_registry_destroy() (NULL accepted); schema text
 * returned by jd_registry_schema() belongs to the client's cache.
 */
#ifndef JD_REGISTRY_H
#define JD_REGISTRY_H

#include <stdint.h>

#include "jd_config.h"
#include "jd_err.h"

typedef struct jd_registry jd_registry_t;

/* A client for cf's schemas.registry.* settings (cf->cf_registry_url must
 * be set); NULL with err set when libcurl cannot be initialised. `cf`
 * must outlive the client. */
jd_registry_t *jd_registry_new(const jd_config_t *cf, jd_err_t *err);
void jd_registry_destroy(jd_registry_t *r);

/* The writer schema of `id` (cached). Returns 0 and *json, or an error as
 * described above. */
int jd_registry_schema(jd_registry_t *r, int32_t id, const char **json, jd_err_t *err);

/* Parses a registry answer to GET /schemas/ids/{id}: the writer schema
 * text of its "schema" string into *json (malloc'd, the caller frees it).
 * JD_ERR_SKIP/JD_E_UNKNOWN_SCHEMA naming `what` when the body is not JSON
 * or has no such string; JD_ERR_FATAL/JD_E_NOMEM. Pure (fuzz_registry). */
int jd_registry_parse_schema(const char *body, size_t len, const char *what, char **json,
                             jd_err_t *err);

/* Parses a registry answer to POST /subjects/{subject}/versions: its "id"
 * (an integer in [0, INT32_MAX]) into *id, untouched on error.
 * JD_ERR_RETRY/JD_E_IO naming `what` when the body is not JSON or has no
 * such id (the registry did not really answer: registration is retried as
 * at an outage). Pure, any thread (tests/unit/test_registry.c,
 * fuzz_registry). */
int jd_registry_parse_id(const char *body, size_t len, const char *what, int32_t *id,
                         jd_err_t *err);

/* Registers `schema_json` under `subject` (idempotent in the registry: an
 * identical schema gets its existing id) and returns the id in *id. */
int jd_registry_register(jd_registry_t *r, const char *subject, const char *schema_json,
                         int32_t *id, jd_err_t *err);

/* The Confluent ids outbound records are framed with: from the config
 * (schemas.trigger_schema_id, schemas.stage_schema_id), or, with a
 * registry and schemas.registry.auto_register, the ids the registry gives
 * trigger_event.avsc for each trigger topic and journey_stage.avsc for the
 * stage topic, under the subjects of jd_registry_subject(). `r` may be
 * NULL. */
typedef struct jd_registry_ids {
    int32_t ri_trigger[3];   /* by jd_kind_t */
    int32_t ri_stage;
} jd_registry_ids_t;

/* The subject schema `record` (its full name, "journeyd.TriggerEvent")
 * is registered under for `topic`, by strategy (topic, record or
 * topic_record, as schemas.registry.subject_strategy): "<topic>-value",
 * "<record>" or "<topic>-<record>". Cut to cap bytes (NUL included);
 * returns the length it needed, like snprintf. Pure. */
#define JD_REGISTRY_TRIGGER_RECORD "journeyd.TriggerEvent"     /* trigger_event.avsc */
#define JD_REGISTRY_STAGE_RECORD   "journeyd.JourneyStageEvent" /* journey_stage.avsc */

size_t jd_registry_subject(const char *strategy, const char *topic, const char *record,
                           char *out, size_t cap);

int jd_registry_outbound_ids(jd_registry_t *r, const jd_config_t *cf,
                             jd_registry_ids_t *ids, jd_err_t *err);

/* Parses a registry answer to GET /subjects/{subject}/versions/{version}:
 * its "id" into *id and its "schema" text into *json (malloc'd, the
 * caller frees it). JD_ERR_RETRY/JD_E_IO naming `what` when either is
 * missing (as for jd_registry_parse_id). Pure. */
int jd_registry_parse_version(const char *body, size_t len, const char *what, int32_t *id,
                              char **json, jd_err_t *err);

/* The writer schema registered as `version` ("latest" or a number) of
 * `subject`: its id in *id, its text in *json (malloc'd, the caller frees
 * it). An answer >= 300 (no such subject or version, not allowed) is
 * JD_ERR_FATAL/JD_E_CONFIG naming both; an outage JD_ERR_RETRY. */
int jd_registry_lookup(jd_registry_t *r, const char *subject, const char *version, int32_t *id,
                       char **json, jd_err_t *err);

/* Adapter for jd_decoder_set_fetch(): opaque is a jd_registry_t. */
int jd_registry_fetch_cb(void *opaque, int32_t id, const char **json, jd_err_t *err);

#endif
