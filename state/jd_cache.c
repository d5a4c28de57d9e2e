/*
 * jd_cache: the account records held in memory (contract in jd_cache.h).
 *
 * Each record sits in a heap entry that never moves: the entry is on the
 * LRU list (c_head most recently used, c_tail least) and one slot of the
 * hash table points at it. The table is open addressing with linear
 * probing on the XXH3 of the account id (jd_account_hash, kept in the
 * entry so probing and growing never hash again), at most half full, so
 * a lookup is a few probes. Deletion shifts the following entries of the
 * probe run back into the hole (backward-shift deletion): no tombstones,
 * so lookups stay short however many records come and go.
 *
 * Bytes: an entry counts jd_account_bytes of its record, measured when it
 * is put and when it turns clean (a dirty record grows while the pipeline
 * applies events to it; its size is taken again once written), plus
 * CACHE_OVERHEAD for the entry and its share of the table. c_bytes is the
 * sum over entries, adjusted on every change, so jd_cache_bytes is O(1).
 *
 * Eviction walks the list from the tail and frees clean entries only:
 * a dirty record holds changes Redis does not have yet.
 *
 * Pipeline thread only; the cache owns every record in it.
 */
#include "jd_cache.h"

#include <stdlib.h>
#include <string.h>

typedef struct cache_ent {
    jd_account_t     *ce_ac;
    uint64_t          ce_hash;       /* jd_account_hash(ce_ac->ac_id) */
    uint64_t          ce_topic;
    int32_t           ce_partition;
    int               ce_dirty;
    size_t            ce_bytes;      /* as counted in c_bytes */
    struct cache_ent *ce_prev, *ce_next;
} cache_ent_t;

/* The entry and two table slots (the table is at most half full). */
#define CACHE_OVERHEAD (sizeof(cache_ent_t) + 2 * sizeof(cache_ent_t *))
#define CACHE_MIN_SLOTS 16

struct jd_cache {
    cache_ent_t **c_slots;
    size_t        c_mask;            /* slots - 1, a power of two minus 1 */
    size_t        c_count, c_bytes, c_budget, c_reserved;
    uint64_t      c_evictions;
    cache_ent_t  *c_head, *c_tail;
};

jd_cache_t *jd_cache_new(size_t budget)
{
    jd_cache_t *c = calloc(1, sizeof *c);
    if (!c || !(c->c_slots = calloc(CACHE_MIN_SLOTS, sizeof *c->c_slots))) {
        free(c);
        return NULL;
    }
    c->c_mask = CACHE_MIN_SLOTS - 1;
    c->c_budget = budget;
    return c;
}

void jd_cache_destroy(jd_cache_t *c)
{
    if (!c)
        return;
    jd_cache_drop_all(c);
    free(c->c_slots);
    free(c);
}

/* ---- the LRU list ------------------------------------------------------------ */

static void cache_unlink(jd_cache_t *c, cache_ent_t *e)
{
    if (e->ce_prev)
        e->ce_prev->ce_next = e->ce_next;
    else
        c->c_head = e->ce_next;
    if (e->ce_next)
        e->ce_next->ce_prev = e->ce_prev;
    else
        c->c_tail = e->ce_prev;
    e->ce_prev = e->ce_next = NULL;
}

static void cache_push_front(jd_cache_t *c, cache_ent_t *e)
{
    e->ce_prev = NULL;
    e->ce_next = c->c_head;
    if (c->c_head)
        c->c_head->ce_prev = e;
    else
        c->c_tail = e;
    c->c_head = e;
}

static void cache_touch(jd_cache_t *c, cache_ent_t *e)
{
    if (c->c_head == e)
        return;
    cache_unlink(c, e);
    cache_push_front(c, e);
}

/* ---- the table ----------------------------------------------------------------- */

/* The slot of id (hash h), or the empty slot where it would go. */
static size_t cache_slot(const jd_cache_t *c, uint64_t h, const char *id)
{
    size_t i = (size_t)h & c->c_mask;
    for (;;) {
        const cache_ent_t *e = c->c_slots[i];
        if (!e || (e->ce_hash == h && strcmp(e->ce_ac->ac_id, id) == 0))
            return i;
        i = (i + 1) & c->c_mask;
    }
}

static cache_ent_t *cache_find(const jd_cache_t *c, const char *id)
{
    return c->c_slots[cache_slot(c, jd_account_hash(id), id)];
}

/* Doubles the table when one more entry would fill it beyond half. */
static int cache_reserve(jd_cache_t *c)
{
    size_t slots = c->c_mask + 1;
    if ((c->c_count + 1) * 2 <= slots)
        return 0;
    cache_ent_t **ns = calloc(slots * 2, sizeof *ns);
    if (!ns)
        return -1;
    free(c->c_slots);
    c->c_slots = ns;
    c->c_mask = slots * 2 - 1;
    for (cache_ent_t *e = c->c_head; e; e = e->ce_next)
        c->c_slots[cache_slot(c, e->ce_hash, e->ce_ac->ac_id)] = e;
    return 0;
}

/* Empties slot i and moves the rest of its probe run back over the hole,
 * each entry to the first free slot at or after its home. */
static void cache_slot_clear(jd_cache_t *c, size_t i)
{
    size_t j = i;
    c->c_slots[i] = NULL;
    for (;;) {
        j = (j + 1) & c->c_mask;
        cache_ent_t *e = c->c_slots[j];
        if (!e)
            return;
        size_t home = (size_t)e->ce_hash & c->c_mask;
        /* e may move to i when its home is not cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            c->c_slots[i] = e;
            c->c_slots[j] = NULL;
            i = j;
        }
    }
}

/* Unlinks e from table and list, destroys it and its record. */
static void cache_remove(jd_cache_t *c, cache_ent_t *e)
{
    cache_slot_clear(c, cache_slot(c, e->ce_hash, e->ce_ac->ac_id));
    cache_unlink(c, e);
    c->c_count--;
    c->c_bytes -= e->ce_bytes;
    jd_account_destroy(e->ce_ac);
    free(e);
}

/* The entry holding ac, found through its back pointer (no hashing). */
static cache_ent_t *cache_home(const jd_account_t *ac)
{
    cache_ent_t *e = ac->ac_home;
    return e && e->ce_ac == ac ? e : NULL;
}

/* ---- the API -------------------------------------------------------------------- */

jd_account_t *jd_cache_get(jd_cache_t *c, const char *id)
{
    cache_ent_t *e = cache_find(c, id);
    if (!e)
        return NULL;
    cache_touch(c, e);
    return e->ce_ac;
}

/* Counts e's record at its present size. */
static void cache_measure(jd_cache_t *c, cache_ent_t *e)
{
    c->c_bytes -= e->ce_bytes;
    e->ce_bytes = jd_account_bytes(e->ce_ac) + CACHE_OVERHEAD;
    c->c_bytes += e->ce_bytes;
}

/* The same id again: the new record takes the entry, clean (the same
 * record put again keeps its mark: its changes are still unwritten). */
static void cache_replace(jd_cache_t *c, cache_ent_t *e, jd_account_t *ac)
{
    if (e->ce_ac != ac) {
        jd_account_destroy(e->ce_ac);
        e->ce_ac = ac;
        ac->ac_home = e;
        e->ce_dirty = 0;
    }
    cache_measure(c, e);
    cache_touch(c, e);
}

int jd_cache_put(jd_cache_t *c, jd_account_t *ac, uint64_t topic_hash,
                 int32_t partition)
{
    uint64_t h = jd_account_hash(ac->ac_id);
    cache_ent_t *e = c->c_slots[cache_slot(c, h, ac->ac_id)];
    if (!e) {
        if (cache_reserve(c) != 0 || !(e = calloc(1, sizeof *e)))
            return -1;
        e->ce_ac = ac;
        ac->ac_home = e;
        e->ce_hash = h;
        c->c_slots[cache_slot(c, h, ac->ac_id)] = e;
        cache_push_front(c, e);
        c->c_count++;
    }
    e->ce_topic = topic_hash;
    e->ce_partition = partition;
    cache_replace(c, e, ac);
    return 0;
}

void jd_cache_set_dirty(jd_cache_t *c, const jd_account_t *ac, int dirty)
{
    cache_ent_t *e = cache_home(ac);
    if (!e)
        return;
    e->ce_dirty = dirty != 0;
    if (!dirty)
        cache_measure(c, e);
}

void jd_cache_drop_partition(jd_cache_t *c, uint64_t topic_hash, int32_t partition)
{
    cache_ent_t *e = c->c_head;
    while (e) {
        cache_ent_t *next = e->ce_next;
        if (e->ce_topic == topic_hash && e->ce_partition == partition)
            cache_remove(c, e);
        e = next;
    }
}

void jd_cache_drop_all(jd_cache_t *c)
{
    cache_ent_t *e = c->c_head;
    while (e) {
        cache_ent_t *next = e->ce_next;
        jd_account_destroy(e->ce_ac);
        free(e);
        e = next;
    }
    memset(c->c_slots, 0, (c->c_mask + 1) * sizeof *c->c_slots);
    c->c_head = c->c_tail = NULL;
    c->c_count = c->c_bytes = 0;
}

void jd_cache_set_reserved(jd_cache_t *c, size_t bytes)
{
    c->c_reserved = bytes;
}

size_t jd_cache_evict(jd_cache_t *c)
{
    size_t n = 0, budget = c->c_budget > c->c_reserved ? c->c_budget - c->c_reserved : 0;
    cache_ent_t *e = c->c_tail;
    while (e && c->c_bytes > budget) {
        cache_ent_t *prev = e->ce_prev;
        if (!e->ce_dirty) {
            cache_remove(c, e);
            n++;
        }
        e = prev;
    }
    c->c_evictions += n;
    return n;
}

size_t jd_cache_count(const jd_cache_t *c)
{
    return c->c_count;
}

size_t jd_cache_bytes(const jd_cache_t *c)
{
    return c->c_bytes;
}

uint64_t jd_cache_evictions(const jd_cache_t *c)
{
    return c->c_evictions;
}
