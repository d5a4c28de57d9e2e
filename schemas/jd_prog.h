/*
 * jd_prog: compiled decode programs - the product-event decoder's fast
 * path (jd_decode.c).
 *
 * A program is compiled once per writer schema, after avro-c has parsed it
 * and accepted its resolution against product_event.avsc: a flat array of
 * operations, one per datum of the writer schema (records, unions, arrays
 * and maps refer to contiguous ranges of the same array), each carrying
 * where its value goes in the event (a reader field, or nowhere: skipped)
 * and how it is promoted (int -> long, int/long/float -> double, a plain
 * writer type into a ["null", X] reader union, union branches by type).
 * Running it walks the message bytes once: zig-zag varints, strings kept
 * as slices into the message, every read bounds-checked, the structural
 * rules of jd_prog_scan and the per-message work limit enforced inline; then
 * the limits of docs/limits.md are checked in reader field order and the
 * strings are copied into the caller's arena in one allocation. No avro-c
 * call and no malloc per message.
 *
 * Ownership: jd_prog_compile() returns a program owned by the caller,
 * freed by jd_prog_destroy() (NULL accepted); it keeps no reference to the
 * schema. A jd_prog_state_t is per decoder (one thread): scratch space
 * for map entries, sized from the limits once.
 */
#ifndef JD_PROG_H
#define JD_PROG_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

#include "jd_arena.h"
#include "jd_err.h"
#include "jd_event.h"
#include "jd_mapping.h"

typedef struct jd_prog jd_prog_t;

/* One attribute seen in the message: slices into the message bytes. */
typedef struct jd_prog_kv {
    const unsigned char *kv_key;
    const unsigned char *kv_val;
    size_t               kv_klen;
    size_t               kv_vlen;
} jd_prog_kv_t;

/* Per-decoder scratch. Zero-initialise, then jd_prog_state_init. */
typedef struct jd_prog_state {
    jd_prog_kv_t *ps_kv;      /* distinct attribute keys of one message */
    size_t        ps_kv_cap;  /* lim_max_attributes + 1 */
    jd_map_kv_t  *ps_mkv;     /* mapped programs: the container's entries */
    size_t        ps_mkv_cap; /* 4 x ps_kv_cap */
} jd_prog_state_t;

/* Allocates the scratch for `lim`. JD_ERR_FATAL/JD_E_NOMEM. */
int jd_prog_state_init(jd_prog_state_t *ps, const jd_limits_t *lim,
                       jd_err_t *err);
void jd_prog_state_fini(jd_prog_state_t *ps);

/* Compiles the program that reads Avro binary written with `writer` (a
 * record already known to resolve against product_event.avsc) into a
 * jd_event_t. Returns 0 and *out; 1 when the writer uses a shape for a
 * reader field that the fast path does not cover (the caller keeps
 * avro-c's generic reader for it; *out is NULL); JD_ERR_FATAL/JD_E_NOMEM. */
int jd_prog_compile(avro_schema_t writer, jd_prog_t **out, jd_err_t *err);
void jd_prog_destroy(jd_prog_t *pg);

/* Compiles a scan program for any record schema: every value skipped,
 * only the structural rules checked (jd_prog_scan). 0 and *out, or
 * JD_ERR_FATAL (JD_E_NOMEM; JD_E_SCHEMA past 1024 records). */
int jd_prog_compile_scan(avro_schema_t schema, jd_prog_t **out, jd_err_t *err);

/* Checks that `len` bytes are exactly one well-formed datum of the
 * program's schema, without allocating: JD_ERR_SKIP with JD_E_MALFORMED
 * (naming the byte offset), JD_E_WORK_LIMIT or JD_E_TRAILING_BYTES. This
 * is what makes the bytes safe to hand to avro-c on the generic path: a
 * short read inside avro-c leaks the buffer it allocated for the claimed
 * length, so avro-c must never meet one. */
int jd_prog_scan(const jd_prog_t *pg, const void *buf, size_t len, jd_err_t *err);

/* Decodes `len` bytes (the Avro body, framing removed) into `ev`, strings
 * copied into `ar`. Returns 0, or JD_ERR_SKIP with the same code the
 * generic reader gives (JD_E_MALFORMED, JD_E_TRAILING_BYTES,
 * JD_E_WORK_LIMIT, then the field checks in reader order), or
 * JD_ERR_FATAL/JD_E_NOMEM when the arena is exhausted. `ev` is zeroed on
 * error. */
int jd_prog_run(const jd_prog_t *pg, const jd_limits_t *lim,
                jd_prog_state_t *ps, const unsigned char *p, size_t len,
                jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* Compiles the program that reads an upstream record written with
 * `writer` and fills the slots of mapping `mp` (jd_mapping.h): the paths
 * followed through the writer's own shape, every other value skipped.
 * Returns 0 and *out; 1 when the fast path does not cover the pair (more
 * than 64 slots or a schema too large for it: the caller keeps avro-c's
 * generic reader); JD_ERR_FATAL/JD_E_NOMEM. The program keeps no reference
 * to `mp` or `writer`. */
int jd_prog_compile_mapped(avro_schema_t writer, const jd_mapping_t *mp, jd_prog_t **out,
                           jd_err_t *err);

/* Decodes an upstream record with a mapped program and fills `ev` through
 * jd_mapping_fill: 0, JD_ERR_SKIP (the structural errors of jd_prog_run,
 * then those of jd_mapping_extract), JD_ERR_FATAL/JD_E_NOMEM; or 1 when
 * this message's attributes container holds more distinct keys than the
 * scratch keeps (ps_mkv_cap): decode it with avro-c's generic reader. */
int jd_prog_run_mapped(const jd_prog_t *pg, const jd_mapping_t *mp, const jd_limits_t *lim,
                       jd_prog_state_t *ps, const unsigned char *p, size_t len,
                       jd_arena_t *ar, jd_event_t *ev, jd_err_t *err);

/* The per-message work limit (fast path and scan alike): datums visited
 * (every value, map key and block header counts one) may not exceed it. */
/* Deepest nesting of a writer datum (recursive schemas). */
#define JD_PROG_DEPTH_MAX 32

#define JD_PROG_WORK_BASE     ((uint64_t)4096)
#define JD_PROG_WORK_PER_BYTE ((uint64_t)8)
#define JD_PROG_WORK_MAX(len) (JD_PROG_WORK_BASE + JD_PROG_WORK_PER_BYTE * (uint64_t)(len))

#endif
