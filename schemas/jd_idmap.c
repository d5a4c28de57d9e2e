/*
 * jd_idmap: id -> pointer hash table (contract in jd_idmap.h).
 *
 * Ids are hashed with a multiplicative (Fibonacci) hash, because schema
 * ids are often small consecutive numbers that would otherwise fill one
 * run of slots. Deletion is the backward-shift variant of linear probing:
 * after emptying a slot, every following entry of the same probe run
 * whose home slot is not between the hole and itself moves into the hole,
 * so lookups never need tombstones. Pure; one thread.
 */
#include "jd_idmap.h"

#include <stdlib.h>

static size_t jd_idmap_home(const jd_idmap_t *im, int32_t id)
{
    uint64_t h = (uint64_t)(uint32_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (im->im_cap - 1);
}

void jd_idmap_init(jd_idmap_t *im)
{
    im->im_keys = NULL;
    im->im_vals = NULL;
    im->im_cap = 0;
    im->im_n = 0;
}

void jd_idmap_fini(jd_idmap_t *im)
{
    free(im->im_keys);
    free(im->im_vals);
    jd_idmap_init(im);
}

void *jd_idmap_get(const jd_idmap_t *im, int32_t id)
{
    if (!im->im_cap)
        return NULL;
    for (size_t i = jd_idmap_home(im, id);; i = (i + 1) & (im->im_cap - 1)) {
        if (!im->im_vals[i])
            return NULL;
        if (im->im_keys[i] == id)
            return im->im_vals[i];
    }
}

/* Puts into a table known to have room. Returns 1 when the id was new. */
static int jd_idmap_place(jd_idmap_t *im, int32_t id, void *val)
{
    size_t i = jd_idmap_home(im, id);
    while (im->im_vals[i] && im->im_keys[i] != id)
        i = (i + 1) & (im->im_cap - 1);
    int fresh = !im->im_vals[i];
    im->im_keys[i] = id;
    im->im_vals[i] = val;
    return fresh;
}

static int jd_idmap_grow(jd_idmap_t *im, jd_err_t *err)
{
    jd_idmap_t big = {0};
    big.im_cap = im->im_cap ? im->im_cap * 2 : 16;
    big.im_keys = calloc(big.im_cap, sizeof *big.im_keys);
    big.im_vals = calloc(big.im_cap, sizeof *big.im_vals);
    if (!big.im_keys || !big.im_vals) {
        jd_idmap_fini(&big);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "cannot grow an id table");
    }
    for (size_t i = 0; i < im->im_cap; i++) {
        if (im->im_vals[i])
            big.im_n += (size_t)jd_idmap_place(&big, im->im_keys[i], im->im_vals[i]);
    }
    jd_idmap_fini(im);
    *im = big;
    return 0;
}

int jd_idmap_put(jd_idmap_t *im, int32_t id, void *val, jd_err_t *err)
{
    int rc;
    if ((im->im_n + 1) * 2 > im->im_cap && (rc = jd_idmap_grow(im, err)))
        return rc;
    im->im_n += (size_t)jd_idmap_place(im, id, val);
    return 0;
}

void jd_idmap_del(jd_idmap_t *im, int32_t id)
{
    size_t mask = im->im_cap - 1, hole, i;
    if (!im->im_cap)
        return;
    for (hole = jd_idmap_home(im, id);; hole = (hole + 1) & mask) {
        if (!im->im_vals[hole])
            return;
        if (im->im_keys[hole] == id)
            break;
    }
    im->im_vals[hole] = NULL;
    im->im_n--;
    for (i = (hole + 1) & mask; im->im_vals[i]; i = (i + 1) & mask) {
        size_t home = jd_idmap_home(im, im->im_keys[i]);
        /* Stays when its home lies cyclically in (hole, i]. */
        if (((i - home) & mask) < ((i - hole) & mask))
            continue;
        im->im_keys[hole] = im->im_keys[i];
        im->im_vals[hole] = im->im_vals[i];
        im->im_vals[i] = NULL;
        hole = i;
    }
}
