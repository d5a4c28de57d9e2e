/*
 * jd_decoder_conf: builds the inbound decoder from jd_config_t, the one
 * way `journeyd run`, `journeyd replay --topic` and the benchmarks read
 * product events off a topic.
 */
#ifndef JD_DECODER_CONF_H
#define JD_DECODER_CONF_H

#include "jd_codec.h"
#include "jd_config.h"
#include "jd_err.h"

/* A decoder set up from cf: wire format (schemas.wire_format), limits.*
 * (max_message_bytes, max_string_bytes, max_attributes), the field mapping
 * (cf->cf_mapping), the embedded product schema under its configured id
 * unless schemas.registry.url is set (then the registry's ids are the
 * truth: the caller connects its jd_registry_t with jd_decoder_set_fetch()
 * and jd_registry_fetch_cb), and every schemas.ids.<id> file.
 *
 * Ownership: returns a decoder owned by the caller, freed with
 * jd_decoder_destroy(); it points into cf (the mapping), so cf must
 * outlive it. NULL with err set on failure (a bad schema file is named by
 * its key, schemas.ids.<id>). Any thread; cf is only read. */
jd_decoder_t *jd_decoder_from_config(const jd_config_t *cf, jd_err_t *err);

struct jd_registry;

/* Looks up schemas.registry.input_subjects and plain_subject in `reg` by
 * subject and version and adds each writer schema to `dec` under its id
 * (so no message of it waits for a fetch); plain (unframed) messages are
 * then read with plain_subject's. 0; JD_ERR_RETRY while the registry is
 * unreachable (the caller backs off and calls again); JD_ERR_FATAL naming
 * the key and subject (not in the registry, a schema that is refused).
 * The caller's thread. */
int jd_decoder_input_subjects(jd_decoder_t *dec, struct jd_registry *reg, const jd_config_t *cf,
                              jd_err_t *err);

#endif
