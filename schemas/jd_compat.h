/*
 * jd_compat: a pure pre-check of a writer/reader schema pair, run before
 * avro_resolved_writer_new() so that avro-c never sees a pair it would
 * crash on.
 *
 * avro-c 1.11.1 dereferences NULL on the failure path of its map and
 * array resolvers: when a writer map (array) meets a reader map (array)
 * whose values (items) do not resolve - map<double> against map<string>,
 * at any depth, in any writer union branch, in a reader union branch it
 * tries - avro_resolved_writer_new() frees a half-built resolver and
 * SEGVs instead of returning NULL. jd_compat walks the pair the way
 * avro-c's resolver does and refuses exactly those containers.
 *
 * Thread: any; keeps no state.
 */
#ifndef JD_COMPAT_H
#define JD_COMPAT_H

#include <avro.h>

#include "jd_err.h"

/* Returns 0 when avro_resolved_writer_new(writer, reader) is safe to call
 * (it may still refuse the pair, cleanly). Otherwise JD_ERR_FATAL with
 * JD_E_SCHEMA and a message "field 'a.b': writer map<double> does not
 * resolve to reader map<string> (map values double cannot be read as
 * string)". Borrows both schemas. */
int jd_compat_check(avro_schema_t writer, avro_schema_t reader, jd_err_t *err);

/* 1 when values written with `writer` can be read as `reader` under the
 * resolution rules avro-c 1.11.1 implements: the same type; int -> long,
 * float, double; long -> float, double; float -> double; records, enums
 * and fixed by name (fixed: and size), records field by field with every
 * reader field present in the writer (avro-c ignores defaults); a writer
 * union when some branch resolves, a reader union when some branch
 * accepts the writer. Not string <-> bytes: the Avro specification allows
 * it but avro-c refuses it ("Cannot store bytes into string"), and
 * accepting more than avro-c would let the crash through. */
int jd_compat_resolves(avro_schema_t writer, avro_schema_t reader);

#endif
