/*
 * jd_cache: the account records an instance holds in memory, bounded by
 * a byte budget (state.cache_mb).
 *
 * Each entry is one jd_account_t and the input partition it belongs to
 * (the partition its events come from: an account has one owner). Lookup
 * by account id is O(1) (open addressing on XXH3 of the id); entries are
 * kept in least-recently-used order (jd_cache_get and jd_cache_put move an
 * entry to the front). A dirty entry (changed since it was last written to
 * Redis) is never evicted; jd_cache_evict drops clean entries from the
 * back until the bytes held (jd_account_bytes of every entry, measured
 * when it is put and when it turns clean, plus the entry's own overhead)
 * are within the budget.
 *
 * Pure: no I/O. Ownership: the cache owns the records put into it and
 * destroys them when they are evicted, dropped or replaced, and in
 * jd_cache_destroy. Pointers returned by jd_cache_get stay valid until
 * the next jd_cache_put, jd_cache_evict or jd_cache_drop_* call. Pipeline
 * thread only.
 */
#ifndef JD_CACHE_H
#define JD_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "jd_account.h"

typedef struct jd_cache jd_cache_t;

/* A cache holding up to budget bytes of clean records. NULL when out of
 * memory. */
jd_cache_t *jd_cache_new(size_t budget);
void jd_cache_destroy(jd_cache_t *c);

/* The record of account id, or NULL; moves it to the front. */
jd_account_t *jd_cache_get(jd_cache_t *c, const char *id);

/* Puts ac (ownership passes to the cache) as the record of its ac_id,
 * belonging to partition (topic_hash, partition); a record already there
 * for the same id is destroyed and replaced (its dirty mark with it). 0,
 * or -1 when out of memory (ac is then still the caller's). */
int jd_cache_put(jd_cache_t *c, jd_account_t *ac, uint64_t topic_hash,
                 int32_t partition);

/* Marks a cached record dirty (1) or clean (0); turning clean measures
 * its size again. A record not in the cache is ignored. */
void jd_cache_set_dirty(jd_cache_t *c, const jd_account_t *ac, int dirty);

/* Drops (destroys) every record of partition (topic_hash, partition),
 * dirty or not. */
void jd_cache_drop_partition(jd_cache_t *c, uint64_t topic_hash, int32_t partition);

/* Drops every record. */
void jd_cache_drop_all(jd_cache_t *c);

/* Memory held elsewhere that counts against the budget (the partitions'
 * deadline indexes, or everything the heap holds beyond the records:
 * consumer/jd_commit.c): jd_cache_evict keeps the records within budget -
 * reserved. */
void jd_cache_set_reserved(jd_cache_t *c, size_t bytes);

/* Evicts clean records, least recently used first, until the bytes held
 * are within the budget (or only dirty ones are left). Returns how many
 * were evicted. */
size_t jd_cache_evict(jd_cache_t *c);

size_t jd_cache_count(const jd_cache_t *c);   /* records held */
size_t jd_cache_bytes(const jd_cache_t *c);   /* bytes held, as counted */
uint64_t jd_cache_evictions(const jd_cache_t *c); /* evicted so far */

#endif
