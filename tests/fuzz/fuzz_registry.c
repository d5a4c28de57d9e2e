/*
 * fuzz_registry: libFuzzer target for what the schema registry sends us.
 *
 * The first input byte, modulo 4, picks the form of the rest:
 *   0  an answer to GET /schemas/ids/{id} (jd_registry_parse_schema,
 *      jansson);
 *   1  a writer schema's JSON text as that answer carries it;
 *   2  an answer to POST /subjects/{subject}/versions, {"id": N}
 *      (jd_registry_parse_id): an id in [0, INT32_MAX], or a retriable
 *      error with a message and the id left as it was;
 *   3  an answer to GET /subjects/{subject}/versions/{version}
 *      (jd_registry_parse_version): an id and a schema, or a retriable
 *      error with neither.
 * The schema text of forms 0, 1 and 3 goes where a fetched schema goes -
 * jd_decoder_add_schema (avro-c's parser, the resolution against
 * product_event.avsc, the decode program compiler) - on a decoder with a
 * mapping, and a fixed product event is decoded with it when it was
 * accepted. Errors must be skip or fatal with a message, never a crash, a
 * leak or undefined behaviour. Seeds: corpus/registry/answer_* (form 0),
 * schema_* (1), id_* (2), version_* (3).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_codec.h"
#include "jd_mapping.h"
#include "jd_registry.h"

static jd_decoder_t *jd_fuzz_dec;
static jd_mapping_t *jd_fuzz_map;
static jd_arena_t jd_fuzz_ar;
static jd_buf_t jd_fuzz_msg;

static void jd_fuzz_init(void)
{
    jd_err_t err;
    jd_encoder_t *enc = jd_encoder_new(&err);
    jd_event_t ev = {.ev_id = "e1", .ev_account = "acme", .ev_type_name = "login",
                     .ev_user = "u1", .ev_occurred_at = 1790000000000LL};
    if (!enc || jd_encoder_event(enc, &ev, 1, &jd_fuzz_msg, &err))
        abort();
    jd_encoder_destroy(enc);
    if (!(jd_fuzz_map = jd_mapping_new()) ||
        jd_mapping_set(jd_fuzz_map, "fields.event_id", "messageId", &err) ||
        jd_mapping_set(jd_fuzz_map, "fields.type", "event", &err) ||
        jd_mapping_set(jd_fuzz_map, "fields.occurred_at", "timestamp", &err) ||
        jd_mapping_set(jd_fuzz_map, "fields.account_id", "context.groupId", &err))
        abort();
    if (!(jd_fuzz_dec = jd_decoder_new(JD_WIRE_CONFLUENT, NULL, &err)))
        abort();
    jd_decoder_set_mapping(jd_fuzz_dec, jd_fuzz_map);
    jd_arena_init(&jd_fuzz_ar, 4096);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jd_err_t err;
    jd_event_t ev;
    char *json = NULL;

    if (!jd_fuzz_dec)
        jd_fuzz_init();
    if (size < 1)
        return 0;
    if (data[0] % 4 == 3) {
        int32_t id = -1;
        int rc = jd_registry_parse_version((const char *)data + 1, size - 1, "fuzz", &id, &json,
                                           &err);
        if (rc ? rc != JD_ERR_RETRY || !err.err_msg[0] || json : id < 0 || !json)
            abort();
    } else if (data[0] % 4 == 2) {
        int32_t id = -1;
        int rc = jd_registry_parse_id((const char *)data + 1, size - 1, "fuzz", &id, &err);
        if (rc ? rc != JD_ERR_RETRY || !err.err_msg[0] || id != -1 : id < 0)
            abort();
    } else if (data[0] % 4 == 0) {
        int rc = jd_registry_parse_schema((const char *)data + 1, size - 1, "fuzz", &json, &err);
        if (rc && (rc != JD_ERR_SKIP || !err.err_msg[0]))
            abort();
    } else if ((json = malloc(size))) {
        memcpy(json, data + 1, size - 1);
        json[size - 1] = '\0';
    }
    if (json) {
        int rc = jd_decoder_add_schema(jd_fuzz_dec, 1, json, &err);
        if (rc && (rc != JD_ERR_FATAL || !err.err_msg[0]))
            abort();
        if (!rc) {
            rc = jd_decoder_decode(jd_fuzz_dec, jd_fuzz_msg.b_data, jd_fuzz_msg.b_len,
                                   &jd_fuzz_ar, &ev, &err);
            if (rc && rc != JD_ERR_SKIP)
                abort();
        }
        free(json);
    }
    jd_arena_reset(&jd_fuzz_ar);
    return 0;
}
