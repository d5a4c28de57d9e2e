/*
 * jd_parts: owned partitions, their clocks and deadline indexes (contract
 * in jd_parts.h).
 *
 * The deadline index is a binary min-heap of (deadline, account id) with
 * lazy deletion: setting an account's deadline pushes a new entry and
 * records the deadline in an open-addressing map; a popped entry counts
 * only if the map still holds that deadline for that account. Stale
 * entries are dropped as they surface, and the heap is rebuilt from the
 * map when it holds more than twice the live entries, so memory stays
 * proportional to the accounts with deadlines. Ties are broken by account
 * id (strcmp), which makes the firing order a function of the log.
 */
#include "jd_parts.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "jd_account.h"

struct jd_parts {
    jd_part_t **ps_v;
    size_t      ps_n, ps_cap;
};

jd_parts_t *jd_parts_new(void)
{
    return calloc(1, sizeof(jd_parts_t));
}

static void jd_part_free(jd_part_t *pt)
{
    if (!pt)
        return;
    for (size_t i = 0; i < pt->pt_map_cap; i++)
        free(pt->pt_map[i].me_account); /* the heap's strings are these */
    jd_part_changes_clear(pt);
    free(pt->pt_changes);
    free(pt->pt_heap);
    free(pt->pt_map);
    free(pt->pt_topic);
    free(pt);
}

void jd_parts_destroy(jd_parts_t *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->ps_n; i++)
        jd_part_free(ps->ps_v[i]);
    free(ps->ps_v);
    free(ps);
}

jd_part_t *jd_parts_find(jd_parts_t *ps, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ps->ps_n; i++)
        if (ps->ps_v[i]->pt_partition == partition &&
            strcmp(ps->ps_v[i]->pt_topic, topic) == 0)
            return ps->ps_v[i];
    return NULL;
}

jd_part_t *jd_parts_add(jd_parts_t *ps, const char *topic, int32_t partition)
{
    jd_part_t *pt = jd_parts_find(ps, topic, partition);
    if (pt)
        return pt;
    if (ps->ps_n == ps->ps_cap) {
        size_t cap = ps->ps_cap ? 2 * ps->ps_cap : 16;
        jd_part_t **v = realloc(ps->ps_v, cap * sizeof *v);
        if (!v)
            return NULL;
        ps->ps_v = v;
        ps->ps_cap = cap;
    }
    if (!(pt = calloc(1, sizeof *pt)) || !(pt->pt_topic = strdup(topic))) {
        free(pt);
        return NULL;
    }
    pt->pt_partition = partition;
    pt->pt_topic_hash = jd_account_hash(topic);
    pt->pt_clock = JD_PARTS_NO_CLOCK;
    pt->pt_latest = JD_PARTS_NO_CLOCK;
    pt->pt_last = -1;
    ps->ps_v[ps->ps_n++] = pt;
    return pt;
}

void jd_parts_remove(jd_parts_t *ps, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < ps->ps_n; i++) {
        jd_part_t *pt = ps->ps_v[i];
        if (pt->pt_partition == partition && strcmp(pt->pt_topic, topic) == 0) {
            jd_part_free(pt);
            ps->ps_v[i] = ps->ps_v[--ps->ps_n];
            return;
        }
    }
}

size_t jd_parts_bytes(const jd_parts_t *ps)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->ps_n; i++)
        n += ps->ps_v[i]->pt_bytes;
    return n;
}

size_t jd_parts_count(const jd_parts_t *ps)
{
    return ps->ps_n;
}

jd_part_t *jd_parts_at(jd_parts_t *ps, size_t i)
{
    return i < ps->ps_n ? ps->ps_v[i] : NULL;
}

/* ---- the map: account -> current deadline ------------------------------------ */

/* What a heap block of n bytes takes (glibc: +8, rounded to 16, >= 32). */
static size_t jd_part_block(size_t n)
{
    n = (n + 8 + 15) & ~(size_t)15;
    return n < 32 ? 32 : n;
}

static uint64_t jd_part_hash(const char *account)
{
    return XXH3_64bits(account, strlen(account));
}

static size_t jd_part_slot(const jd_part_t *pt, const char *account,
                           uint64_t h, int *found)
{
    size_t mask = pt->pt_map_cap - 1;
    size_t i = (size_t)h & mask;
    for (; pt->pt_map[i].me_account; i = (i + 1) & mask)
        if (strcmp(pt->pt_map[i].me_account, account) == 0) {
            *found = 1;
            return i;
        }
    *found = 0;
    return i;
}

static int jd_part_map_grow(jd_part_t *pt)
{
    size_t cap = pt->pt_map_cap ? 2 * pt->pt_map_cap : 64;
    jd_part_map_ent_t *old = pt->pt_map;
    size_t ocap = pt->pt_map_cap;
    if (!(pt->pt_map = calloc(cap, sizeof *pt->pt_map))) {
        pt->pt_map = old;
        return -1;
    }
    pt->pt_map_cap = cap;
    pt->pt_bytes += (cap - ocap) * sizeof *pt->pt_map;
    for (size_t i = 0; i < ocap; i++) {
        int found;
        if (!old[i].me_account)
            continue;
        pt->pt_map[jd_part_slot(pt, old[i].me_account, jd_part_hash(old[i].me_account),
                                &found)] = old[i];
    }
    free(old);
    return 0;
}

int64_t jd_part_deadline(const jd_part_t *pt, const char *account)
{
    int found;
    if (!pt->pt_map_cap)
        return 0;
    size_t i = jd_part_slot(pt, account, jd_part_hash(account), &found);
    return found ? pt->pt_map[i].me_deadline : 0;
}

/* ---- the heap ------------------------------------------------------------------- */

static int jd_part_less(const jd_part_heap_ent_t *a, const jd_part_heap_ent_t *b)
{
    if (a->he_deadline != b->he_deadline)
        return a->he_deadline < b->he_deadline;
    return strcmp(a->he_account, b->he_account) < 0;
}

static void jd_part_sift_up(jd_part_t *pt, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!jd_part_less(&pt->pt_heap[i], &pt->pt_heap[p]))
            break;
        jd_part_heap_ent_t t = pt->pt_heap[i];
        pt->pt_heap[i] = pt->pt_heap[p];
        pt->pt_heap[p] = t;
        i = p;
    }
}

static void jd_part_sift_down(jd_part_t *pt, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < pt->pt_nheap && jd_part_less(&pt->pt_heap[l], &pt->pt_heap[m]))
            m = l;
        if (r < pt->pt_nheap && jd_part_less(&pt->pt_heap[r], &pt->pt_heap[m]))
            m = r;
        if (m == i)
            return;
        jd_part_heap_ent_t t = pt->pt_heap[i];
        pt->pt_heap[i] = pt->pt_heap[m];
        pt->pt_heap[m] = t;
        i = m;
    }
}

/* account: the map's string (the heap borrows it). */
static int jd_part_push(jd_part_t *pt, const char *account, int64_t deadline)
{
    if (pt->pt_nheap == pt->pt_heap_cap) {
        size_t cap = pt->pt_heap_cap ? 2 * pt->pt_heap_cap : 64;
        jd_part_heap_ent_t *h = realloc(pt->pt_heap, cap * sizeof *h);
        if (!h)
            return -1;
        pt->pt_heap = h;
        pt->pt_bytes += (cap - pt->pt_heap_cap) * sizeof *h;
        pt->pt_heap_cap = cap;
    }
    pt->pt_heap[pt->pt_nheap] = (jd_part_heap_ent_t){deadline, account};
    jd_part_sift_up(pt, pt->pt_nheap++);
    return 0;
}

static void jd_part_pop(jd_part_t *pt)
{
    pt->pt_heap[0] = pt->pt_heap[--pt->pt_nheap];
    jd_part_sift_down(pt, 0);
}

/* 1 when the top of the heap is the account's current deadline. */
static int jd_part_top_live(const jd_part_t *pt)
{
    const jd_part_heap_ent_t *he = &pt->pt_heap[0];
    return jd_part_deadline(pt, he->he_account) == he->he_deadline;
}

/* Rebuilds the heap from the map when stale entries outnumber live ones. */
static int jd_part_compact(jd_part_t *pt)
{
    if (pt->pt_nheap < 1024 || pt->pt_nheap <= 2 * pt->pt_nmap)
        return 0;
    pt->pt_nheap = 0;
    for (size_t i = 0; i < pt->pt_map_cap; i++) {
        const jd_part_map_ent_t *me = &pt->pt_map[i];
        if (me->me_account && me->me_deadline &&
            jd_part_push(pt, me->me_account, me->me_deadline) != 0)
            return -1;
    }
    return 0;
}

static int jd_part_record(jd_part_t *pt, const char *account, int64_t deadline)
{
    if (pt->pt_nchanges == pt->pt_changes_cap) {
        size_t cap = pt->pt_changes_cap ? 2 * pt->pt_changes_cap : 64;
        jd_part_change_t *c = realloc(pt->pt_changes, cap * sizeof *c);
        if (!c)
            return -1;
        pt->pt_changes = c;
        pt->pt_changes_cap = cap;
    }
    pt->pt_changes[pt->pt_nchanges++] = (jd_part_change_t){account, deadline};
    return 0;
}

int jd_part_deadline_set(jd_part_t *pt, const char *account, int64_t deadline,
                         int record)
{
    int found = 0;
    size_t i = 0;
    uint64_t h = jd_part_hash(account);
    if (deadline < 0)
        deadline = 0;
    if (pt->pt_map_cap)
        i = jd_part_slot(pt, account, h, &found);
    if (found && pt->pt_map[i].me_deadline == deadline)
        return 0;
    if (!found && !deadline)
        return 0;
    if (!found) {
        if (2 * (pt->pt_nmap + 1) > pt->pt_map_cap) {
            if (jd_part_map_grow(pt) != 0)
                return -1;
        }
        i = jd_part_slot(pt, account, h, &found);
        if (!(pt->pt_map[i].me_account = strdup(account)))
            return -1;
        pt->pt_bytes += jd_part_block(strlen(account) + 1);
        pt->pt_nmap++;
    }
    pt->pt_map[i].me_deadline = deadline;
    if (record && jd_part_record(pt, pt->pt_map[i].me_account, deadline) != 0)
        return -1;
    if (deadline && jd_part_push(pt, pt->pt_map[i].me_account, deadline) != 0)
        return -1;
    return jd_part_compact(pt);
}

int64_t jd_part_next(jd_part_t *pt)
{
    while (pt->pt_nheap && !jd_part_top_live(pt))
        jd_part_pop(pt);
    return pt->pt_nheap ? pt->pt_heap[0].he_deadline : INT64_MAX;
}

int64_t jd_part_pop_due(jd_part_t *pt, int64_t upto, char *buf, size_t cap)
{
    int64_t dl = jd_part_next(pt);
    if (dl == INT64_MAX || dl > upto || cap == 0)
        return 0;
    const char *acct = pt->pt_heap[0].he_account;
    size_t len = strlen(acct);
    if (len >= cap)
        len = cap - 1;
    memcpy(buf, acct, len);
    buf[len] = '\0';
    int found;
    size_t i = jd_part_slot(pt, acct, jd_part_hash(acct), &found);
    if (found)
        pt->pt_map[i].me_deadline = 0;
    jd_part_pop(pt);
    return dl;
}

/* The live heap entries at or below upto in the subtree of node i: a
 * node after upto has no due entry below it (a min-heap). */
static void jd_part_due_from(const jd_part_t *pt, size_t i, int64_t upto,
                             void (*fn)(const char *account, int64_t deadline, void *opaque),
                             void *opaque)
{
    if (i >= pt->pt_nheap || pt->pt_heap[i].he_deadline > upto)
        return;
    const jd_part_heap_ent_t *he = &pt->pt_heap[i];
    if (jd_part_deadline(pt, he->he_account) == he->he_deadline)
        fn(he->he_account, he->he_deadline, opaque);
    jd_part_due_from(pt, 2 * i + 1, upto, fn, opaque);
    jd_part_due_from(pt, 2 * i + 2, upto, fn, opaque);
}

void jd_part_each_due(jd_part_t *pt, int64_t upto,
                      void (*fn)(const char *account, int64_t deadline, void *opaque),
                      void *opaque)
{
    jd_part_due_from(pt, 0, upto, fn, opaque);
}

void jd_part_changes_clear(jd_part_t *pt)
{
    pt->pt_nchanges = 0;
}
