/*
 * jd_sighash: the per-account hash of current signals that journeyd keeps
 * in Redis for downstream services (<prefix>:{T}:sig, docs/state.md):
 * a fixed, documented set of slowly changing signals (health, stage,
 * profile, adoption, renewal, sentiment, cases), so that the hash is
 * rewritten only when one of them changed, not at every event.
 *
 * Values are strings as a service would read them with HGETALL: integers
 * in decimal, other numbers with up to 10 significant digits, strings as
 * they are, null as "" (the field is always there).
 *
 * Pure: no I/O, any thread. Ownership: jd_sighash_t is the caller's (no
 * heap); its pairs point into it and into static field names, valid until
 * it is built again.
 */
#ifndef JD_SIGHASH_H
#define JD_SIGHASH_H

#include <stddef.h>
#include <stdint.h>

#include "jd_signals.h"

#define JD_SIGHASH_FIELDS 19
#define JD_SIGHASH_VAL_MAX 64  /* a longer string value is cut */

typedef struct jd_sighash {
    const char *sh_pairs[2 * JD_SIGHASH_FIELDS];   /* field, value, ... */
    char        sh_val[JD_SIGHASH_FIELDS][JD_SIGHASH_VAL_MAX];
    uint32_t    sh_fh[JD_SIGHASH_FIELDS];  /* each value's hash: never 0 */
    uint64_t    sh_hash;      /* XXH3 of the pairs: never 0 */
    const char *sh_changed[2 * JD_SIGHASH_FIELDS]; /* jd_sighash_changed's */
} jd_sighash_t;

/* Fills sh from sg (the pairs and their hash). */
void jd_sighash_build(const jd_signals_t *sg, jd_sighash_t *sh);

/* The pairs of sh whose value hash differs from last[] (0: unknown, so
 * every field), into sh_changed; last[] takes sh's hashes. Returns how
 * many pairs. */
size_t jd_sighash_changed(jd_sighash_t *sh, uint32_t last[JD_SIGHASH_FIELDS]);

/* The field names, in order (for docs and tests). */
const char *jd_sighash_field(size_t i);

#endif
