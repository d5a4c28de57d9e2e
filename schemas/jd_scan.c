/*
 * jd_scan: an allocation-free structural check of Avro binary against its
 * writer schema, run before avro-c touches the bytes.
 *
 * Why. avro-c 1.11.1 reads a string by reading its length, allocating
 * length+1 bytes, then reading the bytes; when the input is shorter than
 * the claimed length the read fails and the buffer is never freed. Every
 * truncated or lying message would leak up to its claimed length (the
 * allocation guard in jd_codec.c bounds one claim to 64 MiB, not the sum):
 * 200 messages claiming 64 MiB each leave 200 mappings and 12.8 GB of
 * address space behind. Rather than patch around avro-c, we never hand it
 * a message it could fail on half-way: this scanner walks the writer
 * schema over the bytes exactly as the Avro spec (and avro-c) decodes
 * them and rejects, with the byte offset:
 *   - a varint longer than 10 bytes, or an int outside int32;
 *   - a string/bytes length that is negative or exceeds the bytes left;
 *   - a union branch or enum index outside the schema;
 *   - a map/array block count that is negative-overflowing or exceeds the
 *     bytes left (every entry of a map takes at least one byte; an array
 *     of zero-byte items that long is not a real message), and a block
 *     byte-size (negative counts) that does not match the items, since
 *     avro-c skips writer-only fields by that size while reading others
 *     item by item - both must land on the same byte;
 *   - nesting deeper than JD_SCAN_DEPTH (recursive writer schemas);
 *   - input left over after the record (JD_E_TRAILING_BYTES).
 * Passing the scan, avro-c's read can no longer fail on input length, so
 * its leaking path is unreachable, and the record's exact length is known.
 *
 * Pure: no allocation, no global state, any thread. Cost: one pass of
 * varint decoding over the message (tens of ns for a typical event).
 */
#include "jd_codec_int.h"

#include <inttypes.h>
#include <limits.h>

#define JD_SCAN_DEPTH 32

typedef struct jd_scan {
    const unsigned char *sc_p;
    size_t               sc_len;
    size_t               sc_pos;
    jd_err_t            *sc_err;
} jd_scan_t;

static int jd_scan_fail(jd_scan_t *sc, const char *what, int64_t v)
{
    return jd_err_set(sc->sc_err, JD_ERR_SKIP, JD_E_MALFORMED,
                      "Avro binary does not decode: %s (%" PRId64
                      ") at byte offset %zu of %zu",
                      what, v, sc->sc_pos, sc->sc_len);
}

static size_t jd_scan_left(const jd_scan_t *sc)
{
    return sc->sc_len - sc->sc_pos;
}

/* Zig-zag varint, at most 10 bytes (as avro-c: extra high bits dropped). */
static int jd_scan_long(jd_scan_t *sc, int64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (sc->sc_pos >= sc->sc_len)
            return jd_scan_fail(sc, "input ends inside a varint", i);
        unsigned char b = sc->sc_p[sc->sc_pos++];
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return jd_scan_fail(sc, "varint longer than 10 bytes", 10);
}

static int jd_scan_skip(jd_scan_t *sc, int64_t n, const char *what)
{
    if (n < 0 || (uint64_t)n > jd_scan_left(sc))
        return jd_scan_fail(sc, what, n);
    sc->sc_pos += (size_t)n;
    return 0;
}

/* A value read as a long and checked against [lo, hi). */
static int jd_scan_index(jd_scan_t *sc, int64_t lo, int64_t hi,
                         const char *what, int64_t *out)
{
    int rc = jd_scan_long(sc, out);
    if (rc)
        return rc;
    if (*out < lo || *out >= hi)
        return jd_scan_fail(sc, what, *out);
    return 0;
}

/* String or bytes: a length, then that many bytes. */
static int jd_scan_string(jd_scan_t *sc)
{
    int64_t n;
    int rc = jd_scan_long(sc, &n);
    if (rc)
        return rc;
    return jd_scan_skip(sc, n, "string length is negative or exceeds input");
}

static int jd_scan_datum(jd_scan_t *sc, avro_schema_t s, int depth);

/* Map or array blocks: count, [byte size when count < 0], items, ..., 0. */
static int jd_scan_blocks(jd_scan_t *sc, avro_schema_t item, int is_map,
                          int depth)
{
    int64_t count, size;
    int rc;

    for (;;) {
        if ((rc = jd_scan_long(sc, &count)))
            return rc;
        if (count == 0)
            return 0;
        size = -1;
        if (count < 0) {
            if (count == INT64_MIN)
                return jd_scan_fail(sc, "block count out of range", count);
            count = -count;
            if ((rc = jd_scan_index(sc, 0, (int64_t)jd_scan_left(sc) + 1,
                                    "block byte size exceeds input", &size)))
                return rc;
        }
        if ((uint64_t)count > jd_scan_left(sc))
            return jd_scan_fail(sc, "block count exceeds remaining input", count);
        size_t start = sc->sc_pos;
        for (int64_t i = 0; i < count; i++) {
            if ((is_map && (rc = jd_scan_string(sc))) ||
                (rc = jd_scan_datum(sc, item, depth)))
                return rc;
        }
        if (size >= 0 && (uint64_t)size != sc->sc_pos - start)
            return jd_scan_fail(sc, "block byte size does not match its items",
                                size);
    }
}

static int jd_scan_record(jd_scan_t *sc, avro_schema_t s, int depth)
{
    size_t n = avro_schema_record_size(s);
    for (size_t i = 0; i < n; i++) {
        int rc = jd_scan_datum(sc, avro_schema_record_field_get_by_index(s, (int)i),
                               depth);
        if (rc)
            return rc;
    }
    return 0;
}

/* One datum of schema `s`. Long by nature: one case per Avro type. */
static int jd_scan_datum(jd_scan_t *sc, avro_schema_t s, int depth)
{
    int64_t v;
    int rc;

    if (depth > JD_SCAN_DEPTH)
        return jd_scan_fail(sc, "nesting too deep", depth);
    switch (avro_typeof(s)) {
    case AVRO_NULL:
        return 0;
    case AVRO_BOOLEAN:
        return jd_scan_skip(sc, 1, "input ends inside a boolean");
    case AVRO_INT32:
        return jd_scan_index(sc, INT32_MIN, (int64_t)INT32_MAX + 1,
                             "int out of range", &v);
    case AVRO_INT64:
        return jd_scan_long(sc, &v);
    case AVRO_FLOAT:
        return jd_scan_skip(sc, 4, "input ends inside a float");
    case AVRO_DOUBLE:
        return jd_scan_skip(sc, 8, "input ends inside a double");
    case AVRO_STRING:
    case AVRO_BYTES:
        return jd_scan_string(sc);
    case AVRO_FIXED:
        return jd_scan_skip(sc, avro_schema_fixed_size(s),
                            "input ends inside a fixed");
    case AVRO_ENUM:
        return jd_scan_index(sc, 0, avro_schema_enum_number_of_symbols(s),
                             "enum index out of range", &v);
    case AVRO_UNION:
        if ((rc = jd_scan_index(sc, 0, (int64_t)avro_schema_union_size(s),
                                "union branch out of range", &v)))
            return rc;
        return jd_scan_datum(sc, avro_schema_union_branch(s, v), depth + 1);
    case AVRO_RECORD:
        return jd_scan_record(sc, s, depth + 1);
    case AVRO_MAP:
        return jd_scan_blocks(sc, avro_schema_map_values(s), 1, depth + 1);
    case AVRO_ARRAY:
        return jd_scan_blocks(sc, avro_schema_array_items(s), 0, depth + 1);
    case AVRO_LINK:
        return jd_scan_datum(sc, avro_schema_link_target(s), depth + 1);
    }
    return jd_scan_fail(sc, "unknown schema type", (int64_t)avro_typeof(s));
}

int jd__codec_scan(avro_schema_t schema, const void *buf, size_t len,
                   jd_err_t *err)
{
    jd_scan_t sc = {.sc_p = buf, .sc_len = len, .sc_pos = 0, .sc_err = err};
    int rc = jd_scan_datum(&sc, schema, 0);
    if (rc)
        return rc;
    if (sc.sc_pos != len)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TRAILING_BYTES,
                          "%zu bytes follow the %zu-byte record",
                          len - sc.sc_pos, sc.sc_pos);
    return 0;
}
