/*
 * jd_decode: the product-event decoder of jd_codec.h - Kafka payload bytes
 * in, a validated jd_event_t (strings in the caller's arena) out.
 *
 * Shape. Every wire schema the decoder accepts is a jd_wschema_t: the
 * plain one (the embedded reader schema, product_event.avsc) and one per
 * registered Confluent id. A jd_wschema_t owns, for its whole life, the
 * parsed writer schema, a generic value of the reader-side schema and -
 * unless the writer schema equals the reader schema, when bytes are read
 * straight into the generic value - an avro-c "resolved writer" value that
 * wraps it. avro_value_read() drives the resolved value with the writer's
 * bytes, and avro-c's resolver stores each field into the reader value
 * (skipping writer-only fields, promoting int/long/float to double,
 * mapping union branches; ~2.5x slower than a direct read). These values, and
 * the one memory reader, are reused for every message: steady-state
 * decoding allocates only what avro-c allocates inside the generic values
 * (a buffer per string and per map key); our copies go to the arena.
 *
 * Defaults. avro-c 1.11.1 does not implement reader defaults: resolving a
 * writer that lacks a reader field fails ("Reader field X doesn't appear
 * in writer"). So for such a writer we build the reader side as a copy of
 * the reader schema without the fields the writer lacks, provided each of
 * them is optional (has a default: user_id, feature, value -> null,
 * attributes -> {}); its field index is then -1 and extraction applies the
 * default. A writer lacking a required field is refused at registration.
 * So is a pair avro-c would crash on instead of refusing (a map or array
 * whose values/items do not resolve, jd_compat.h): jd_compat_check runs
 * before avro_resolved_writer_new and names the field and both types.
 *
 * Renewal. avro-c 1.11.1's resolved map value caches one wrapper per map
 * entry in an internal array that its reset never empties (resolved-
 * writer.c: avro_resolved_map_writer_reset runs `done` on each child but
 * does not clear `children`), so a long-lived resolved value grows by 16
 * bytes per attribute decoded, forever: about 80 bytes per typical event,
 * or "Couldn't expand map" once the allocation guard's cap is reached
 * (~1M events). Every map entry takes at least 2 bytes of input, so we
 * count the bytes fed through each resolved value and replace it with a
 * fresh one past JD_RESOLVED_BUDGET: the hidden array then stays under
 * 8 x budget bytes, and the renewal (one small malloc/free) is amortised
 * over ~1000 typical events.
 *
 * Validation happens after avro-c has decoded the record, field by field
 * in schema order; the first violation is reported (JD_ERR_SKIP, distinct
 * code, message naming the field). A failed decode leaves nothing behind
 * but arena bytes: the next message starts from avro_value_reset().
 * Hostile input never reaches avro-c: a scan program (jd_prog_scan)
 * checks the bytes against the writer schema first (avro-c leaks on short
 * reads), and the allocation guard (jd_codec.c) backs it up.
 *
 * Fast path. Everything above is the generic path. For the writer shapes
 * it covers (strings, int/long/float/double promotions, any writer-only
 * fields, writer unions around any reader field - a branch avro-c cannot
 * resolve for the field fails the message that takes it, as avro-c does)
 * each jd_wschema_t also holds a compiled decode program (jd_prog.h), and
 * messages of that schema are decoded by it alone: one pass over the
 * bytes, no avro-c call, no malloc, the same accept/reject and the same
 * fields (tests/unit/test_prog.c compares the two). The generic values are
 * still built at registration - avro-c's resolution is what accepts or
 * refuses a writer schema - and serve the schemas the compiler leaves to
 * them and the differential tests (jd__decoder_set_generic). Upstream
 * records read through the field mapping get a mapped program
 * (jd_prog_compile_mapped: the mapping's paths followed through the
 * writer's own shape, jd_mapping_fill shared with the generic path;
 * tests/unit/test_prog_mapped.c compares them); a message whose attributes
 * container has more distinct keys than the scratch keeps is handed to the
 * generic path (counted in dc_generic_count with the rest).
 *
 * Thread: one decoder per thread (avro-c values are not shareable).
 */
#include "jd_codec_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jd_compat.h"
#include "jd_decode_int.h"
#include "jd_prog.h"
#include "product_event_avsc.h"

#define JD_SCHEMA_FILE_MAX ((size_t)1 << 20)
#define JD_RESOLVED_BUDGET ((size_t)256 << 10) /* input bytes per value */

/* ---- writer schemas ------------------------------------------------------ */

static void jd_wschema_fini(jd_wschema_t *ws)
{
    jd_prog_destroy(ws->ws_prog);
    jd_prog_destroy(ws->ws_scan);
    free(ws->ws_refused);
    if (ws->ws_resolved.iface)
        avro_value_decref(&ws->ws_resolved);
    if (ws->ws_resolver)
        avro_value_iface_decref(ws->ws_resolver);
    if (ws->ws_value.iface)
        avro_value_decref(&ws->ws_value);
    if (ws->ws_class)
        avro_value_iface_decref(ws->ws_class);
    if (ws->ws_reader)
        avro_schema_decref(ws->ws_reader);
    if (ws->ws_writer)
        avro_schema_decref(ws->ws_writer);
    memset(ws, 0, sizeof *ws);
}

static void jd_wschema_free(jd_wschema_t *ws)
{
    if (ws) {
        jd_wschema_fini(ws);
        free(ws);
    }
}

/* Fills `ws`, taking ownership of both schema references (released by
 * jd_wschema_fini even on failure). `writer` NULL means plain: the bytes
 * are read with `reader` itself. */
static int jd_wschema_init(jd_wschema_t *ws, int32_t id, avro_schema_t writer,
                           avro_schema_t reader, jd_err_t *err)
{
    char what[64];
    int rc;

    memset(ws, 0, sizeof *ws);
    ws->ws_id = id;
    ws->ws_writer = writer;
    ws->ws_reader = reader;
    if (writer)
        snprintf(what, sizeof what, "schema id %" PRId32, id);
    else
        snprintf(what, sizeof what, "reader schema");
    if ((rc = jd__codec_index(reader, jd__codec_pf_spec, JD_PF__COUNT,
                              ws->ws_idx, what, err)))
        return rc;
    if ((rc = jd__codec_value_new(reader, &ws->ws_class, &ws->ws_value, err)))
        return rc;
    /* The fast path (jd_prog.c); 1 = a shape it leaves to avro-c. */
    if ((rc = jd_prog_compile(writer ? writer : reader, &ws->ws_prog, err)) < 0 ||
        (rc = jd_prog_compile_scan(writer ? writer : reader, &ws->ws_scan, err)))
        return rc;
    /* Plain, or a writer identical to the reader (the usual Confluent
     * registration): no resolution needed, and reading straight into the
     * generic value is 2.5x faster than through avro-c's resolver. */
    if (!writer || avro_schema_equal(writer, reader))
        return 0;
    /* avro-c crashes on some pairs it should refuse (jd_compat.h). */
    if ((rc = jd_compat_check(writer, reader, err))) {
        jd_err_prefix(err, "%s does not resolve against the reader schema", what);
        return rc;
    }
    ws->ws_resolver = avro_resolved_writer_new(writer, reader);
    if (!ws->ws_resolver)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "%s does not resolve against the reader schema: %s",
                          what, avro_strerror());
    if (avro_resolved_writer_new_value(ws->ws_resolver, &ws->ws_resolved))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "%s: cannot allocate a resolved value", what);
    avro_resolved_writer_set_dest(&ws->ws_resolved, &ws->ws_value);
    return 0;
}

/* Replaces ws_resolved with a fresh value (see "Renewal" above). On
 * failure the old value is kept (JD_ERR_FATAL/JD_E_NOMEM, as for the
 * arena). */
static int jd_wschema_renew(jd_wschema_t *ws, jd_err_t *err)
{
    avro_value_t fresh;
    if (avro_resolved_writer_new_value(ws->ws_resolver, &fresh))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "schema id %" PRId32 ": cannot renew resolved value",
                          ws->ws_id);
    avro_resolved_writer_set_dest(&fresh, &ws->ws_value);
    avro_value_decref(&ws->ws_resolved);
    ws->ws_resolved = fresh;
    ws->ws_fed = 0;
    return 0;
}

static int jd_pf_required(const char *name)
{
    for (int f = 0; f < JD_PF__COUNT; f++) {
        if (strcmp(jd__codec_pf_spec[f].fs_name, name) == 0)
            return jd__codec_pf_spec[f].fs_required;
    }
    return 0; /* a field we do not read: harmless to leave out */
}

/* The reader side for `writer`: the reader schema itself when the writer
 * has all its fields, else a copy without the (optional) missing ones. */
static int jd_decoder_reader_for(const jd_decoder_t *dec, avro_schema_t writer,
                                 int32_t id, avro_schema_t *out, jd_err_t *err)
{
    avro_schema_t rd = dec->dc_reader;
    size_t n = avro_schema_record_size(rd), missing = 0;

    for (size_t i = 0; i < n; i++) {
        const char *name = avro_schema_record_field_name(rd, (int)i);
        if (avro_schema_record_field_get_index(writer, name) >= 0)
            continue;
        if (jd_pf_required(name))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                              "schema id %" PRId32 " lacks required field '%s'",
                              id, name);
        missing++;
    }
    if (!missing) {
        *out = avro_schema_incref(rd);
        return 0;
    }
    avro_schema_t sub = avro_schema_record(avro_schema_name(rd),
                                           avro_schema_namespace(rd));
    for (size_t i = 0; sub && i < n; i++) {
        const char *name = avro_schema_record_field_name(rd, (int)i);
        if (avro_schema_record_field_get_index(writer, name) >= 0 &&
            avro_schema_record_field_append(
                sub, name, avro_schema_record_field_get_by_index(rd, (int)i))) {
            avro_schema_decref(sub);
            sub = NULL;
        }
    }
    if (!sub)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "schema id %" PRId32 ": cannot build reader view: %s",
                          id, avro_strerror());
    *out = sub;
    return 0;
}

/* ---- construction -------------------------------------------------------- */

jd_decoder_t *jd_decoder_new(jd_wire_t wire, const jd_limits_t *lim,
                             jd_err_t *err)
{
    jd_decoder_t *dec;

    jd__codec_init();
    if (wire != JD_WIRE_AUTO && wire != JD_WIRE_CONFLUENT &&
        wire != JD_WIRE_PLAIN) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG, "unknown wire format %d",
                   (int)wire);
        return NULL;
    }
    if (!(dec = calloc(1, sizeof *dec))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate decoder");
        return NULL;
    }
    dec->dc_wire = wire;
    dec->dc_plain_id = -1;
    if (lim)
        dec->dc_lim = *lim;
    else
        jd_limits_default(&dec->dc_lim);
    if (jd__codec_schema_parse(jd_product_event_avsc,
                               sizeof jd_product_event_avsc - 1,
                               "product_event.avsc", &dec->dc_reader, err) ||
        jd_wschema_init(&dec->dc_plain, -1, NULL,
                        avro_schema_incref(dec->dc_reader), err))
        goto fail;
    for (int f = 0; f < JD_PF__COUNT; f++) {
        if (dec->dc_plain.ws_idx[f] < 0) {
            jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                       "product_event.avsc: field '%s' is missing",
                       jd__codec_pf_spec[f].fs_name);
            goto fail;
        }
    }
    if (jd_prog_state_init(&dec->dc_ps, &dec->dc_lim, err))
        goto fail;
    if (!(dec->dc_in = avro_reader_memory("", 0))) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot allocate reader");
        goto fail;
    }
    return dec;
fail:
    jd_decoder_destroy(dec);
    return NULL;
}

void jd_decoder_destroy(jd_decoder_t *dec)
{
    if (!dec)
        return;
    for (size_t i = 0; i < dec->dc_ws_cnt; i++)
        jd_wschema_free(dec->dc_ws[i]);
    free(dec->dc_ws);
    jd_idmap_fini(&dec->dc_idx);
    jd_wschema_fini(&dec->dc_plain);
    jd_prog_state_fini(&dec->dc_ps);
    if (dec->dc_in)
        avro_reader_free(dec->dc_in);
    if (dec->dc_reader)
        avro_schema_decref(dec->dc_reader);
    free(dec);
}

/* The entry of `id` (a usable schema, or a refused one), or NULL. O(1). */
static jd_wschema_t *jd_decoder_find(const jd_decoder_t *dec, int32_t id)
{
    return jd_idmap_get(&dec->dc_idx, id);
}

/* Removes entry i of dc_ws (its id too) and frees it. */
static void jd_decoder_drop(jd_decoder_t *dec, size_t i)
{
    jd_wschema_t *ws = dec->dc_ws[i];
    jd_idmap_del(&dec->dc_idx, ws->ws_id);
    dec->dc_fetched -= (size_t)(ws->ws_fetched != 0);
    dec->dc_ws[i] = dec->dc_ws[--dec->dc_ws_cnt];
    jd_wschema_free(ws);
}

/* Past dc_fetched_max fetched entries, the one fetched longest ago goes
 * (it is fetched again if a message still needs it). The scan is O(n),
 * but runs only when a schema was just fetched, i.e. after an HTTP
 * request. Configured schemas are never evicted. */
static void jd_decoder_evict(jd_decoder_t *dec)
{
    while (dec->dc_fetched_max && dec->dc_fetched > dec->dc_fetched_max) {
        size_t old = SIZE_MAX;
        for (size_t i = 0; i < dec->dc_ws_cnt; i++) {
            if (dec->dc_ws[i]->ws_fetched &&
                (old == SIZE_MAX || dec->dc_ws[i]->ws_seq < dec->dc_ws[old]->ws_seq))
                old = i;
        }
        jd_decoder_drop(dec, old);
    }
}

/* Stores `ws` under its id, replacing (and freeing) a previous entry. */
static int jd_decoder_put(jd_decoder_t *dec, jd_wschema_t *ws, jd_err_t *err)
{
    for (size_t i = 0; i < dec->dc_ws_cnt; i++) {
        if (dec->dc_ws[i]->ws_id == ws->ws_id) {
            jd_decoder_drop(dec, i);
            break;
        }
    }
    if (jd_idmap_put(&dec->dc_idx, ws->ws_id, ws, err))
        return JD_ERR_FATAL;
    if (dec->dc_ws_cnt == dec->dc_ws_cap) {
        size_t cap = dec->dc_ws_cap ? dec->dc_ws_cap * 2 : 4;
        jd_wschema_t **p = realloc(dec->dc_ws, cap * sizeof *p);
        if (!p) {
            jd_idmap_del(&dec->dc_idx, ws->ws_id);
            return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                              "cannot grow schema table");
        }
        dec->dc_ws = p;
        dec->dc_ws_cap = cap;
    }
    dec->dc_ws[dec->dc_ws_cnt++] = ws;
    return 0;
}

/* avro-c resolves records by unqualified name and ignores aliases; say
 * so plainly instead of its "Cannot store record into ProductEvent". */
static int jd_decoder_check_name(const jd_decoder_t *dec, avro_schema_t w,
                                 int32_t id, jd_err_t *err)
{
    const char *want = avro_schema_name(dec->dc_reader);
    if (strcmp(avro_schema_name(w), want) == 0)
        return 0;
    return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                      "schema id %" PRId32 " is record '%s', expected '%s' "
                      "(record names must match; aliases are not supported)",
                      id, avro_schema_name(w), want);
}

void jd_decoder_set_mapping(jd_decoder_t *dec, const jd_mapping_t *mp)
{
    dec->dc_mapping = jd_mapping_active(mp) ? mp : NULL;
}

/* A writer schema of another record, read as it is (a generic value of
 * the writer schema, no resolution) and mapped by dc_mapping. Takes the
 * writer reference. */
static int jd_decoder_add_mapped(jd_decoder_t *dec, int32_t id, avro_schema_t writer,
                                 const char *what, jd_err_t *err)
{
    jd_wschema_t *ws = calloc(1, sizeof *ws);
    int rc;

    if (!ws) {
        avro_schema_decref(writer);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "%s: no memory", what);
    }
    ws->ws_id = id;
    ws->ws_writer = writer;
    ws->ws_reader = avro_schema_incref(writer);
    ws->ws_mapped = 1;
    if ((rc = jd_mapping_check_schema(dec->dc_mapping, writer, what, err)) ||
        (rc = jd_prog_compile_mapped(writer, dec->dc_mapping, &ws->ws_prog, err)) < 0 ||
        (rc = jd_prog_compile_scan(writer, &ws->ws_scan, err)) ||
        (rc = jd__codec_value_new(writer, &ws->ws_class, &ws->ws_value, err)) ||
        (rc = jd_decoder_put(dec, ws, err))) {
        jd_wschema_free(ws);
        return rc;
    }
    return 0;
}

int jd_decoder_add_schema(jd_decoder_t *dec, int32_t id, const char *json,
                          jd_err_t *err)
{
    char what[48];
    avro_schema_t writer = NULL, reader = NULL;
    jd_wschema_t *ws;
    int rc;

    snprintf(what, sizeof what, "schema id %" PRId32, id);
    if ((rc = jd__codec_schema_parse(json, json ? strlen(json) : 0, what,
                                     &writer, err)))
        return rc;
    if (dec->dc_mapping && avro_typeof(writer) == AVRO_RECORD &&
        strcmp(avro_schema_name(writer), avro_schema_name(dec->dc_reader)) != 0)
        return jd_decoder_add_mapped(dec, id, writer, what, err);
    if ((rc = jd_decoder_check_name(dec, writer, id, err)) ||
        (rc = jd_decoder_reader_for(dec, writer, id, &reader, err))) {
        avro_schema_decref(writer);
        return rc;
    }
    if (!(ws = malloc(sizeof *ws))) {
        avro_schema_decref(writer);
        avro_schema_decref(reader);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "%s: no memory", what);
    }
    if ((rc = jd_wschema_init(ws, id, writer, reader, err)) ||
        (rc = jd_decoder_put(dec, ws, err))) {
        jd_wschema_free(ws);
        return rc;
    }
    return 0;
}

int jd_decoder_add_schema_file(jd_decoder_t *dec, int32_t id,
                               const char *path, jd_err_t *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot open %s: %s",
                          path, strerror(errno));
    char *text = malloc(JD_SCHEMA_FILE_MAX + 1);
    size_t n = text ? fread(text, 1, JD_SCHEMA_FILE_MAX + 1, fp) : 0;
    int bad = ferror(fp);
    fclose(fp);
    int rc;
    if (!text)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "%s: no memory", path);
    else if (bad)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_IO, "cannot read %s", path);
    else if (n > JD_SCHEMA_FILE_MAX)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                        "%s: larger than %zu bytes", path, JD_SCHEMA_FILE_MAX);
    else {
        text[n] = '\0';
        rc = jd_decoder_add_schema(dec, id, text, err);
        if (rc)
            jd_err_prefix(err, "%s", path);
    }
    free(text);
    return rc;
}

/* ---- decoding ------------------------------------------------------------ */

void jd_decoder_set_fetch(jd_decoder_t *dec, jd_schema_fetch_fn fn, void *opaque)
{
    dec->dc_fetch = fn;
    dec->dc_fetch_opaque = opaque;
}

void jd_decoder_set_cache_max(jd_decoder_t *dec, size_t n)
{
    dec->dc_fetched_max = n;
    jd_decoder_evict(dec);
}

/* Remembers that the schema text of `id` was refused (it does not parse,
 * or does not resolve against the reader schema): ids are immutable, so
 * asking again or parsing again would give the same answer. Counts as a
 * fetched entry (bounded, evictable). */
static void jd_decoder_refuse(jd_decoder_t *dec, int32_t id, const jd_err_t *why)
{
    jd_wschema_t *ws = calloc(1, sizeof *ws);
    jd_err_t ignore;
    if (!ws || !(ws->ws_refused = malloc(sizeof *ws->ws_refused))) {
        free(ws);
        return; /* no memory: the next message asks again */
    }
    *ws->ws_refused = *why;
    ws->ws_id = id;
    ws->ws_fetched = 1;
    ws->ws_seq = ++dec->dc_seq;
    if (jd_decoder_put(dec, ws, &ignore)) {
        jd_wschema_free(ws);
        return;
    }
    dec->dc_fetched++;
    jd_decoder_evict(dec);
}

/* Asks the fetch source for the writer schema of `id` and registers it.
 * A definite failure (the source answered, or the schema does not
 * resolve against the reader) makes this message an unknown_schema_id
 * dead letter; a schema text that was refused is remembered as such
 * (jd_decoder_refuse). No answer at all (the source's JD_ERR_RETRY: the
 * registry is unreachable) is passed on as JD_ERR_RETRY and remembers
 * nothing: the message is valid as far as we know, and the caller waits
 * and decodes it again. */
static int jd_decoder_fetch(jd_decoder_t *dec, int32_t id, jd_wschema_t **ws,
                            jd_err_t *err)
{
    const char *json = NULL;
    jd_err_t ferr;
    int rc;

    rc = dec->dc_fetch(dec->dc_fetch_opaque, id, &json, &ferr);
    if (!rc && (rc = jd_decoder_add_schema(dec, id, json, &ferr)) != 0) {
        jd_err_prefix(&ferr, "from the schema registry");
        if (rc == JD_ERR_FATAL && ferr.err_code != JD_E_NOMEM)
            jd_decoder_refuse(dec, id, &ferr);
    }
    if (!rc && (*ws = jd_decoder_find(dec, id)) != NULL) {
        (*ws)->ws_fetched = 1;
        (*ws)->ws_seq = ++dec->dc_seq;
        dec->dc_fetched++;
        jd_decoder_evict(dec); /* never the newest: it has the largest seq */
        return 0;
    }
    if (!rc)
        return JD_ERR_FATAL;
    if (rc == JD_ERR_FATAL && ferr.err_code == JD_E_NOMEM)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "%s", ferr.err_msg);
    if (rc == JD_ERR_RETRY) /* no answer (outage): the caller waits, nothing is refused */
        return jd_err_set(err, JD_ERR_RETRY, ferr.err_code, "schema id %" PRId32 ": %s", id,
                          ferr.err_msg);
    return jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA, "schema id %" PRId32 ": %s",
                      id, ferr.err_msg);
}

/* Picks the wire schema for a message and the offset of its Avro body. */
static int jd_decoder_frame(jd_decoder_t *dec, const unsigned char *p,
                            size_t len, jd_wschema_t **ws, size_t *off,
                            jd_err_t *err)
{
    int framed = dec->dc_wire == JD_WIRE_CONFLUENT ||
                 (dec->dc_wire == JD_WIRE_AUTO && p[0] == 0x00);

    if (!framed) {
        *ws = dec->dc_plain_id >= 0 ? jd_decoder_find(dec, dec->dc_plain_id) : NULL;
        if (!*ws)
            *ws = (jd_wschema_t *)&dec->dc_plain;
        *off = 0;
        return 0;
    }
    if (p[0] != 0x00)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_MAGIC,
                          "expected Confluent magic byte 0x00, got 0x%02x",
                          p[0]);
    if (len < JD_CODEC_FRAME_LEN)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_BAD_MAGIC,
                          "Confluent frame of %zu bytes is shorter than its "
                          "5-byte header", len);
    int32_t id = jd__codec_frame_id(p);
    *ws = jd_decoder_find(dec, id);
    if (*ws && (*ws)->ws_refused) {
        *off = JD_CODEC_FRAME_LEN;
        return jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA, "schema id %" PRId32 ": %s", id,
                          (*ws)->ws_refused->err_msg);
    }
    if (!*ws) {
        int rc = dec->dc_fetch ? jd_decoder_fetch(dec, id, ws, err) : 1;
        *off = JD_CODEC_FRAME_LEN;
        if (rc <= 0)
            return rc;
        return jd_err_set(err, JD_ERR_SKIP, JD_E_UNKNOWN_SCHEMA,
                          "schema id %" PRId32 " is not registered", id);
    }
    *off = JD_CODEC_FRAME_LEN;
    return 0;
}

int jd_decoder_decode(jd_decoder_t *dec, const void *buf, size_t len,
                      jd_arena_t *ar, jd_event_t *ev, jd_err_t *err)
{
    const unsigned char *p = buf;
    jd_wschema_t *ws;
    size_t off;
    int rc;

    memset(ev, 0, sizeof *ev);
    if (len == 0 || !buf)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_EMPTY, "empty message");
    if (len > dec->dc_lim.lim_max_message_bytes)
        return jd_err_set(err, JD_ERR_SKIP, JD_E_TOO_LARGE,
                          "message of %zu bytes exceeds limit %zu", len,
                          dec->dc_lim.lim_max_message_bytes);
    if ((rc = jd_decoder_frame(dec, p, len, &ws, &off, err)))
        return rc;
    if (ws->ws_prog && !dec->dc_generic) {
        rc = ws->ws_mapped ? jd_prog_run_mapped(ws->ws_prog, dec->dc_mapping, &dec->dc_lim,
                                                &dec->dc_ps, p + off, len - off, ar, ev, err)
                           : jd_prog_run(ws->ws_prog, &dec->dc_lim, &dec->dc_ps, p + off,
                                         len - off, ar, ev, err);
        if (rc < 0 && err && (err->err_code == JD_E_MALFORMED || err->err_code == JD_E_TRAILING_BYTES ||
                          err->err_code == JD_E_WORK_LIMIT)) {
            jd_err_prefix(err, "product event");
            if (ws->ws_writer)
                jd_err_prefix(err, "schema id %" PRId32, ws->ws_id);
        }
        if (rc != 1)
            return rc; /* 1: a container too large for the scratch */
    }
    dec->dc_generic_count++;
    if (ws->ws_resolver && ws->ws_fed > JD_RESOLVED_BUDGET &&
        (rc = jd_wschema_renew(ws, err)))
        return rc;
    ws->ws_fed += len - off;
    if ((rc = jd__codec_read(dec->dc_in,
                             ws->ws_resolver ? &ws->ws_resolved : &ws->ws_value,
                             ws->ws_writer ? ws->ws_writer : ws->ws_reader, ws->ws_scan,
                             p + off, len - off, "product event", err))) {
        if (ws->ws_writer)
            jd_err_prefix(err, "schema id %" PRId32, ws->ws_id);
        return rc;
    }
    if (ws->ws_mapped)
        return jd_mapping_extract(dec->dc_mapping, &ws->ws_value, &dec->dc_lim, ar, ev, err);
    if ((rc = jd__decode_fields(dec, ws, ar, ev, err))) {
        memset(ev, 0, sizeof *ev);
        return rc;
    }
    return 0;
}

void jd__decoder_set_generic(jd_decoder_t *dec, int on)
{
    dec->dc_generic = on;
}

int jd_decoder_set_plain(jd_decoder_t *dec, int32_t id, jd_err_t *err)
{
    const jd_wschema_t *ws = jd_decoder_find(dec, id);
    if (!ws || ws->ws_refused)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_SCHEMA,
                          "schema id %" PRId32 " is not registered: it cannot read plain "
                          "messages", id);
    dec->dc_plain_id = id;
    return 0;
}

uint64_t jd_decoder_generic_count(const jd_decoder_t *dec)
{
    return dec->dc_generic_count;
}

int jd_decoder_fast(const jd_decoder_t *dec, int32_t id)
{
    const jd_wschema_t *ws = id < 0 ? &dec->dc_plain : jd_decoder_find(dec, id);
    return ws && !ws->ws_refused && ws->ws_prog != NULL;
}
