/*
 * jd_idmap: an open-addressing hash table from int32 ids (Confluent schema
 * ids) to pointers - the O(1) lookup of the decoder's schema table and of
 * the schema registry client's cache.
 *
 * Linear probing over a power-of-two table kept at most half full;
 * deletion shifts the following entries back (no tombstones), so a table
 * that sees many inserts and deletes (a bounded cache) never degrades.
 * Values are non-NULL (NULL marks an empty slot). The table owns its
 * arrays, not the values. Not thread-safe: one owner thread.
 */
#ifndef JD_IDMAP_H
#define JD_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "jd_err.h"

typedef struct jd_idmap {
    int32_t *im_keys;
    void   **im_vals; /* NULL: empty slot */
    size_t   im_cap;  /* 0 or a power of two */
    size_t   im_n;
} jd_idmap_t;

/* An empty table (zero-initialising it is the same). */
void jd_idmap_init(jd_idmap_t *im);

/* Frees the arrays (not the values); the table is empty again. */
void jd_idmap_fini(jd_idmap_t *im);

/* The value of `id`, or NULL. */
void *jd_idmap_get(const jd_idmap_t *im, int32_t id);

/* Sets `id` to `val` (non-NULL), replacing a previous value. Grows the
 * table as needed: JD_ERR_FATAL/JD_E_NOMEM. */
int jd_idmap_put(jd_idmap_t *im, int32_t id, void *val, jd_err_t *err);

/* Removes `id` (absent: nothing happens). */
void jd_idmap_del(jd_idmap_t *im, int32_t id);

#endif
