/*
 * jd_batch_int: the state of one state engine (struct jd_batch), shared by
 * the two halves of the batch cycle: consumer/jd_batch.c (partitions,
 * decode, load, deciding: steps 1 to 4 of jd_batch.h) and
 * consumer/jd_commit.c (grouping processed batches and completing each
 * group: steps 5 to 7). Not for other modules.
 *
 * Ownership: jd_batch_t owns every array and the group's write here;
 * bt_c's pointers are borrowed. Pipeline thread only, except that the
 * store batch of bt_flying is read by the writer thread between
 * jd_writer_submit and jd_writer_wait.
 */
#ifndef JD_BATCH_INT_H
#define JD_BATCH_INT_H

#include <time.h>

#include "jd_account.h"
#include "jd_arena.h"
#include "jd_batch.h"
#include "jd_cache.h"
#include "jd_heap.h"
#include "jd_parts.h"
#include "jd_sighash.h"
#include "jd_step.h"

/* An account to read, with the partition it belongs to. */
typedef struct bt_want {
    const char *wn_id;
    jd_part_t  *wn_pt;
} bt_want_t;

typedef struct bt_dirty {
    jd_account_t *dt_ac;
    jd_part_t    *dt_pt;
    int64_t       dt_pos;        /* its partition's last offset at the group's cut */
} bt_dirty_t;

/* An offset to store once a sealed batch is written. */
typedef struct bt_off {
    jd_part_t *of_pt;
    int64_t    of_next;          /* the next offset to read */
} bt_off_t;

/* A group's write: its records and partition entries encoded in pd_sb,
 * in the order of pd_dirty and pd_parts (the indexes of pd_sb's refusal
 * flags). From its cut, pd_dirty[0, pd_nenc) are encoded and the rest wait
 * (ac_enc); once all are, it is handed to the writer (pd_sent). */
typedef struct bt_pend {
    int               pd_on, pd_sent;
    size_t            pd_nenc, pd_enc_bytes;
    uint64_t          pd_seq;    /* the group's number (ac_seq) */
    jd_store_batch_t *pd_sb;
    bt_dirty_t       *pd_dirty;  /* its accounts, in the order of pd_sb */
    size_t            pd_ndirty, pd_dirty_cap;
    jd_part_t       **pd_parts;  /* its partition entries, in the order of pd_sb */
    bt_off_t         *pd_offs;
    size_t            pd_nparts, pd_noffs, pd_parts_cap;
    size_t            pd_nbatches; /* batches in the group */
    double            pd_encode_s; /* its encoding, on the pipeline thread (debug log) */
    double            pd_encode_max_s; /* its longest slice (debug log) */
} bt_pend_t;

struct jd_batch {
    jd_batch_conf_t     bt_c;
    jd_account_conf_t   bt_acf;
    jd_signals_conf_t   bt_sgc;
    jd_step_t          *bt_step;
    jd_cache_t         *bt_cache;
    jd_parts_t         *bt_parts;
    jd_arena_t          bt_arena;       /* decoded events of the batch */
    int                 bt_generic_said; /* the generic-reader note was logged */
    size_t              bt_cap;         /* messages the arrays hold */
    jd_event_t         *bt_ev;
    unsigned char      *bt_has;         /* message i has a decoded event */
    jd_part_t         **bt_pt;          /* message i's partition (NULL: not ours) */
    jd_account_t      **bt_acc;         /* message i's record when it was cached
                                           before the batch's load, else NULL */
    bt_dirty_t         *bt_dirty;       /* the open group's changed accounts */
    size_t              bt_ndirty, bt_dirty_cap;
    size_t              bt_group_n;     /* batches in the open group */
    int64_t             bt_group_at;    /* when its first batch was noted (ms) */
    bt_want_t          *bt_want;        /* accounts to read this batch */
    const char        **bt_want_ids;    /* their ids, for jd_store_load */
    size_t              bt_nwant, bt_want_cap;
    uint64_t            bt_seq;         /* the open group's number, from 1 */
    int64_t             bt_lateness;    /* ms */
    int64_t             bt_latest;      /* latest occurred_at read */
    size_t              bt_nloaded;     /* accounts read by the last batch */
    size_t              bt_nwritten;    /* records written by the last group */
    size_t              bt_max_records; /* changed accounts that cut a group: from the
                                           last group's encoded size (jd_commit.c) */
    jd_buf_t            bt_rec;         /* one encoded record */
    jd_signals_t        bt_sg;          /* one account's signals, for bt_sh */
    jd_sighash_t        bt_sh;          /* its downstream hash */
    bt_pend_t           bt_flying;      /* being written by bc_writer */
    jd_heap_share_t     bt_share;       /* the cache's part of the process's heap */
};

/* Forgets a partition and every cached record of it (jd_batch.c). */
void jd__batch_forget(jd_batch_t *bt, const char *topic, int32_t partition);

/* Monotonic seconds, for the Redis latency histograms. */
static inline double jd__batch_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
