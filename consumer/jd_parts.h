/*
 * jd_parts: the input partitions this instance owns, each with its
 * ownership epoch, its event-time clock and the deadline index of its
 * accounts (the timers of rules about silence and deadlines).
 *
 * The clock of a partition is the latest occurred_at read from it minus
 * timers.allowed_lateness_s; it only moves at messages, so the instant
 * every timer fires at is a point of the partition's log. The deadline
 * index holds, for every account of the partition with a deadline, its
 * next one (the account record's ac_timer_at); jd_parts_due pops due
 * accounts in (deadline, account id) order, so the same log fires the
 * same timers in the same order. The index is loaded from Redis when the
 * partition is claimed and its changes are written with each batch
 * (jd_part_t.pt_changes).
 *
 * Pure: no I/O. Ownership: a jd_parts_t owns its partitions, their
 * strings and indexes; account ids passed in are copied. Pipeline thread
 * only.
 */
#ifndef JD_PARTS_H
#define JD_PARTS_H

#include <stddef.h>
#include <stdint.h>

#define JD_PARTS_NO_CLOCK INT64_MIN

/* One change of the deadline index: deadline 0 removes the account. */
typedef struct jd_part_change {
    const char *pc_account;  /* borrowed from the map, which keeps an
                                account's string as long as the part */
    int64_t pc_deadline;
} jd_part_change_t;

typedef struct jd_part_heap_ent {
    int64_t     he_deadline;
    const char *he_account;  /* the map entry's string (the map owns it and
                                keeps it until the partition is freed) */
} jd_part_heap_ent_t;

typedef struct jd_part_map_ent {
    char   *me_account;      /* owned; NULL: empty slot */
    int64_t me_deadline;     /* 0: tombstone (removed) */
} jd_part_map_ent_t;

typedef struct jd_part {
    char               *pt_topic;
    int32_t             pt_partition;
    uint64_t            pt_topic_hash;   /* jd_account_hash(pt_topic) */
    int                 pt_claimed;      /* pt_epoch and pt_clock are valid */
    uint64_t            pt_epoch;
    int64_t             pt_clock;        /* JD_PARTS_NO_CLOCK: none yet */
    int64_t             pt_latest;       /* latest occurred_at read */
    int64_t             pt_last;         /* last offset of the batch, -1 none */
    int                 pt_eof;          /* the consumer reached its end (and
                                            read nothing after) */
    /* the deadline index: a binary heap with lazy deletion, checked
     * against the map of current deadlines */
    jd_part_heap_ent_t *pt_heap;
    size_t              pt_nheap, pt_heap_cap;
    jd_part_map_ent_t  *pt_map;
    size_t              pt_nmap, pt_map_cap; /* live entries, slots */
    size_t              pt_bytes;        /* heap the index holds (map, heap,
                                            ids: as the allocator counts) */
    jd_part_change_t   *pt_changes;      /* since the last write */
    size_t              pt_nchanges, pt_changes_cap;
} jd_part_t;

typedef struct jd_parts jd_parts_t;

jd_parts_t *jd_parts_new(void);
void jd_parts_destroy(jd_parts_t *ps);

/* The partition, or NULL; jd_parts_add creates it (unclaimed) when
 * missing (NULL when out of memory). */
jd_part_t *jd_parts_find(jd_parts_t *ps, const char *topic, int32_t partition);
jd_part_t *jd_parts_add(jd_parts_t *ps, const char *topic, int32_t partition);
/* Forgets one partition (revoked or fenced). */
void jd_parts_remove(jd_parts_t *ps, const char *topic, int32_t partition);
/* Bytes held by the deadline indexes of every partition: they count
 * against state.cache_mb (jd_cache_set_reserved). */
size_t jd_parts_bytes(const jd_parts_t *ps);
size_t jd_parts_count(const jd_parts_t *ps);
jd_part_t *jd_parts_at(jd_parts_t *ps, size_t i);

/* Sets account's deadline (0: none) in the index and, with record != 0,
 * notes the change for the next write. 0, or -1 when out of memory. */
int jd_part_deadline_set(jd_part_t *pt, const char *account, int64_t deadline,
                         int record);
/* The account's deadline in the index, 0 for none. */
int64_t jd_part_deadline(const jd_part_t *pt, const char *account);

/* The earliest deadline, INT64_MAX when none. */
int64_t jd_part_next(jd_part_t *pt);
/* Pops the earliest entry if its deadline is <= upto: copies the account
 * id into buf (cut to cap) and returns its deadline, removing it from the
 * index; 0 when nothing is due. */
int64_t jd_part_pop_due(jd_part_t *pt, int64_t upto, char *buf, size_t cap);
/* Calls fn for every live entry due at or before upto, in no set order
 * (an account may come more than once), without removing anything (to
 * load the accounts a batch will wake); it visits only the due part of
 * the heap, not the whole index. */
void jd_part_each_due(jd_part_t *pt, int64_t upto,
                      void (*fn)(const char *account, int64_t deadline, void *opaque),
                      void *opaque);

/* Forgets the recorded changes (after they were written). */
void jd_part_changes_clear(jd_part_t *pt);

#endif
