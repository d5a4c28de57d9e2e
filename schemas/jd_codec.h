/*
 * jd_codec: Avro decoding of product events and encoding of product and
 * trigger events, on top of avro-c.
 *
 * Wire formats. Confluent framing is byte 0x00, a 4-byte big-endian schema
 * id, then Avro binary written with that schema; the id must have been
 * registered with jd_decoder_add_schema(). Plain Avro binary is written with
 * the reader schema itself (product_event.avsc). In JD_WIRE_AUTO a leading
 * 0x00 means Confluent: a plain record cannot start with 0x00 because its
 * first field, event_id, must not be empty.
 *
 * Schema evolution: every registered writer schema is resolved against the
 * reader schema with avro-c's resolved reader, so fields added with
 * defaults, removed, reordered or promoted decode into the same jd_event_t.
 *
 * Bounds: message size, string lengths, map entries and timestamp range are
 * checked against jd_limits_t; every violation is JD_ERR_SKIP with a
 * distinct code (jd_err.h) and a message naming the field.
 *
 * Hostile input: every message is first checked against its writer schema
 * by an allocation-free scan (jd_prog.h), so avro-c only ever decodes
 * structurally valid bytes; a process-wide avro-c allocator (installed by
 * the first jd_decoder_new/jd_encoder_new) refuses single allocations over
 * 64 MiB as a second line. Create the first codec object before starting
 * threads that use avro-c.
 *
 * Threads: a decoder or encoder is used by one thread at a time; create
 * one per thread. Ownership is stated per function.
 */
#ifndef JD_CODEC_H
#define JD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "jd_arena.h"
#include "jd_err.h"
#include "jd_event.h"
#include "jd_mapping.h"
#include "jd_trigger.h"

typedef enum jd_wire {
    JD_WIRE_AUTO = 0,   /* 0x00 -> Confluent, anything else -> plain */
    JD_WIRE_CONFLUENT,  /* Confluent framing required */
    JD_WIRE_PLAIN,      /* plain Avro binary of the reader schema only */
} jd_wire_t;

/* Growable byte buffer. Zero-initialise; jd_buf_free releases it. */
typedef struct jd_buf {
    unsigned char *b_data;
    size_t         b_len;
    size_t         b_cap;
} jd_buf_t;

void jd_buf_free(jd_buf_t *b);

/* Embedded copies of schemas/product_event.avsc and trigger_event.avsc. */
const char *jd_codec_product_schema_json(void);
const char *jd_codec_trigger_schema_json(void);

/* ---- decoding ---------------------------------------------------------- */

typedef struct jd_decoder jd_decoder_t;

/* New decoder whose reader schema is the embedded product_event.avsc.
 * `lim` is copied. Returns NULL with err set on failure. */
jd_decoder_t *jd_decoder_new(jd_wire_t wire, const jd_limits_t *lim,
                             jd_err_t *err);
void jd_decoder_destroy(jd_decoder_t *dec);

/* Registers Confluent schema id `id` with a writer schema given as JSON
 * text (or read from a file). The writer schema must resolve against the
 * reader schema; otherwise JD_ERR_FATAL/JD_E_SCHEMA naming the problem. */
int jd_decoder_add_schema(jd_decoder_t *dec, int32_t id, const char *json,
                          jd_err_t *err);
int jd_decoder_add_schema_file(jd_decoder_t *dec, int32_t id,
                               const char *path, jd_err_t *err);

/* Where the decoder gets the writer schema of a Confluent id it does not
 * have (a schema registry): returns 0 and *json (owned by the source,
 * valid until the next call), or an error: JD_ERR_SKIP (a definite
 * answer: the message is dead-lettered as unknown_schema_id with that
 * message) or JD_ERR_RETRY (no answer: jd_decoder_decode returns
 * JD_ERR_RETRY and the id is asked again next time). Called on the
 * decoder's thread; a schema it returns is registered with
 * jd_decoder_add_schema() and not asked for again while it stays in the
 * decoder (jd_decoder_set_cache_max). */
typedef int (*jd_schema_fetch_fn)(void *opaque, int32_t id, const char **json,
                                  jd_err_t *err);
void jd_decoder_set_fetch(jd_decoder_t *dec, jd_schema_fetch_fn fn, void *opaque);

/* Bounds the schemas kept from the fetch source to `n` (0: unbounded, the
 * default): past it, the one fetched longest ago is forgotten (and asked
 * for again if a message still carries its id). A writer schema the
 * source returned but that does not parse or resolve is remembered as
 * refused (and counts against `n`): its messages are dead-lettered as
 * unknown_schema_id without asking or parsing again. Lookups by id are
 * O(1). Schemas added with jd_decoder_add_schema() are never forgotten. */
void jd_decoder_set_cache_max(jd_decoder_t *dec, size_t n);

/* Records of other names than ProductEvent are mapped with `mp`
 * (jd_mapping.h) instead of being refused: a writer schema registered
 * afterwards (jd_decoder_add_schema, or fetched) whose record is not
 * ProductEvent is read as it is and its messages go through
 * jd_mapping_extract. Call before adding schemas; `mp` must outlive the
 * decoder. An inactive mapping (no key set) changes nothing. */
void jd_decoder_set_mapping(jd_decoder_t *dec, const jd_mapping_t *mp);

/* Plain (unframed) messages are read with the writer schema of `id`, a
 * schema added before (jd_decoder_add_schema), instead of the reader
 * schema itself. JD_ERR_FATAL/JD_E_SCHEMA when `id` is not registered. */
int jd_decoder_set_plain(jd_decoder_t *dec, int32_t id, jd_err_t *err);

/* 1 when messages of schema id `id` (-1: plain) take the fast path (a
 * compiled decode program, jd_prog.h); 0 when avro-c's generic reader
 * decodes them (a writer shape the compiler leaves alone) or the id is
 * not known. */
int jd_decoder_fast(const jd_decoder_t *dec, int32_t id);

/* Messages decoded so far by avro-c's generic reader (schemas without a
 * fast path, and mapped messages the fast path handed back); for the
 * journeyd_decoded_generic_total metric. */
uint64_t jd_decoder_generic_count(const jd_decoder_t *dec);

/* Decodes one message into `ev`; strings are copied into `ar`. Returns 0,
 * or JD_ERR_SKIP with err naming the reason (the message is bad: dead-
 * letter it), or JD_ERR_RETRY when the fetch source could not be reached
 * for the message's writer schema (the message may be good: decode it
 * again later). Never aborts on bad input. Only running out of memory (the
 * arena, or avro-c) gives JD_ERR_FATAL/JD_E_NOMEM. On any error `ev` is
 * zeroed; bytes already copied into `ar` stay until its next reset. */
int jd_decoder_decode(jd_decoder_t *dec, const void *buf, size_t len,
                      jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* ---- encoding ---------------------------------------------------------- */

typedef struct jd_encoder jd_encoder_t;

jd_encoder_t *jd_encoder_new(jd_err_t *err);
void jd_encoder_destroy(jd_encoder_t *enc);

/* Encodes a product event with product_event.avsc, replacing out's content.
 * schema_id >= 0 adds Confluent framing with that id; < 0 writes plain. */
int jd_encoder_event(jd_encoder_t *enc, const jd_event_t *ev,
                     int32_t schema_id, jd_buf_t *out, jd_err_t *err);

/* Encodes a trigger with trigger_event.avsc (framing as above). */
int jd_encoder_trigger(jd_encoder_t *enc, const jd_trigger_t *tr,
                       int32_t schema_id, jd_buf_t *out, jd_err_t *err);

/* Decodes a trigger (framed or plain, detected by the leading 0x00) -
 * for tests, the outbox and tools. */
int jd_encoder_trigger_decode(jd_encoder_t *enc, const void *buf, size_t len,
                              jd_trigger_t *tr, jd_err_t *err);

#endif
