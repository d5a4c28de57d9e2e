/*
 * jd_commit: the second half of the batch cycle (jd_batch.h, steps 5 to
 * 7): the batches processed in one commit interval form a group that is
 * written to Redis once, while the next group is processed.
 *
 * Groups. Every batch processed joins the open group: the accounts it
 * changed are marked (once per group: ac_seq is the group's number), its
 * partitions' last offsets and deadline changes accumulate, and its
 * outbound records are published at once. When the group is
 * pipeline.commit_interval_ms old, the previous write has finished and
 * every record it published is acknowledged (checked between batches
 * and at polls that return nothing, without waiting), it is cut: its partitions' entries are encoded, the
 * next group opens, and each changed account is encoded once, with the
 * position of the cut, then the whole is handed to the writer thread. The
 * records are encoded a slice at a time between the batches that follow
 * (JD_COMMIT_SLICE_MS each), so no batch waits behind the encoding of a
 * whole group; an account that a batch is about to change is encoded
 * first (jd_commit_before_change), so every record holds the state of
 * the cut. An account changed a
 * hundred times in the interval costs one encode and one write, which is
 * what keeps Redis and the encoder off the per-event path. A group whose
 * write cannot start (Redis slower than the interval) keeps growing, so
 * the coalescing adapts to the store's speed; at four intervals old, or
 * when its dirty records fill state.cache_mb, it waits for the write and
 * the acknowledgements instead. A group is also cut, due or not, when
 * its records would encode to about JD_COMMIT_MAX_BYTES (the previous
 * group's mean record size times its changed accounts, kept between
 * JD_COMMIT_MIN_RECORDS and JD_COMMIT_MAX_RECORDS): the encoded write is
 * held until written (hiredis formats it a round of ~2 MiB at a time,
 * jd_store_batch.c), so this bounds it (~16 MiB) when most events touch
 * an account of their own (a backfill of many accounts), while a few
 * thousand busy accounts still coalesce over the whole interval. The cut
 * is also at 1/32 of state.cache_mb of changed records, which stay
 * in the cache until written.
 *
 * Memory. Once a group is written, the cache is evicted down to
 * state.cache_mb less what the rest of the heap holds, as the allocator
 * reports it (bt_reserve, jd_heap): librdkafka's prefetch, the deadline
 * indexes, the write and the batch are not records but are the same
 * memory, and librdkafka's prefetch alone can be half the budget (about
 * 300 bytes per message that its queue bound, in payload bytes, does not
 * count).
 *
 * The order of a group's completion is the one of the synchronous cycle:
 * published, acknowledged, written, offsets stored. So a crash or a
 * given-up group loses nothing: what was not stored is replayed from the
 * stored offsets (at most about one interval and the write), decided
 * again on the same state, with the same ids.
 *
 * bt_flying is being written by the writer thread (jd_writer: a Redis
 * connection of its own); once written, its offsets are stored and its
 * accounts turn clean unless the open group changed them since.
 *
 * Fencing. A refused write means another instance owns the partition: it
 * is forgotten (records dropped, offsets not stored), and its accounts
 * are taken out of the open group.
 *
 * Pipeline thread only; bt_flying's store batch belongs to the writer
 * thread between submit and wait.
 */
#include "jd_commit.h"

#include <stdlib.h>
#include <string.h>

#include "jd_batch_int.h"
#include "jd_heap.h"
#include "jd_log.h"
#include "jd_ops.h"
#include "jd_record.h"
#include "jd_sighash.h"
#include "jd_writer.h"

void jd_commit_free(bt_pend_t *pd)
{
    jd_store_batch_destroy(pd->pd_sb);
    free(pd->pd_dirty);
    free(pd->pd_parts);
    free(pd->pd_offs);
}

/* Takes the accounts of partition pt out of the current batch's changes
 * (pt is being forgotten: its records leave the cache). */
static void bt_unmark_partition(jd_batch_t *bt, const jd_part_t *pt)
{
    size_t k = 0;
    for (size_t i = 0; i < bt->bt_ndirty; i++)
        if (bt->bt_dirty[i].dt_pt != pt)
            bt->bt_dirty[k++] = bt->bt_dirty[i];
    bt->bt_ndirty = k;
}

/* ---- a group's write, encoded --------------------------------------------------------- */

/* Fenced: another instance owns pt now. */
static void bt_fenced(jd_batch_t *bt, jd_part_t *pt)
{
    JD_WARN("pipeline", "%s[%d]: another instance took it over (epoch %llu refused); "
            "dropping its state here", pt->pt_topic, (int)pt->pt_partition,
            (unsigned long long)pt->pt_epoch);
    bt->bt_c.bc_stats->ps_fenced++;
    jd__batch_forget(bt, pt->pt_topic, pt->pt_partition);
}

/* An index change and its place in the partition's list of changes. */
typedef struct bt_change {
    jd_store_timer_t ch_tm;
    size_t           ch_seq;
} bt_change_t;

/* Orders index changes by account, the latest change of each first. */
static int bt_change_cmp(const void *a, const void *b)
{
    const bt_change_t *x = a, *y = b;
    int c = strcmp(x->ch_tm.tm_account, y->ch_tm.tm_account);
    return c ? c : (x->ch_seq < y->ch_seq) - (x->ch_seq > y->ch_seq);
}

/* One partition's entry: position, clock and deadline index changes (the
 * last change of each account only: an account's deadline moves with
 * most of its events). */
static int bt_write_part(jd_store_batch_t *sb, const jd_part_t *pt)
{
    size_t n = pt->pt_nchanges, k = 0;
    bt_change_t *ch = calloc(n ? n : 1, sizeof *ch);
    jd_store_timer_t *tm = calloc(n ? n : 1, sizeof *tm);
    int rc = -1;
    if (ch && tm) {
        for (size_t i = 0; i < n; i++)
            ch[i] = (bt_change_t){{pt->pt_changes[i].pc_account, pt->pt_changes[i].pc_deadline},
                                  i};
        qsort(ch, n, sizeof *ch, bt_change_cmp);
        for (size_t i = 0; i < n; i++)
            if (k == 0 || strcmp(tm[k - 1].tm_account, ch[i].ch_tm.tm_account) != 0)
                tm[k++] = ch[i].ch_tm;
        rc = jd_store_batch_part(sb, pt->pt_topic, pt->pt_partition, pt->pt_epoch, pt->pt_last,
                                 pt->pt_clock, tm, k);
    }
    free(ch);
    free(tm);
    return rc;
}

/* The fields of the account's signals hash that differ from those last
 * written (NULL: none, or state.signals_hash 0). */
static const char *const *bt_sighash(jd_batch_t *bt, jd_account_t *ac, size_t *n)
{
    *n = 0;
    if (!bt->bt_c.bc_cf->cf_signals_hash)
        return NULL;
    jd_account_signals(ac, &bt->bt_acf, JD_SIGNALS_NO_TS, &bt->bt_sg);
    jd_sighash_build(&bt->bt_sg, &bt->bt_sh);
    *n = jd_sighash_changed(&bt->bt_sh, ac->ac_sig_fh);
    return *n ? bt->bt_sh.sh_changed : NULL;
}

/* The changed accounts that cut the next group: JD_COMMIT_MAX_BYTES at
 * the mean write size of this one's records (bytes over n), and no more
 * than 1/32 of state.cache_mb at the mean size of a cached record: a
 * changed record cannot be evicted until written, and what a group adds
 * between two evictions (its new records, its write) is the part of the
 * heap the budget does not see in time. */
static void bt_size_groups(jd_batch_t *bt, size_t bytes, size_t n)
{
    size_t held = jd_cache_count(bt->bt_cache);
    if (!n || !held)
        return;
    size_t mean = bytes / n + 1, max = JD_COMMIT_MAX_BYTES / mean;
    size_t mem = (((size_t)bt->bt_c.bc_cf->cf_cache_mb << 20) / 32) /
                 (jd_cache_bytes(bt->bt_cache) / held + 1);
    if (mem < max)
        max = mem;
    bt->bt_max_records = max < JD_COMMIT_MIN_RECORDS   ? JD_COMMIT_MIN_RECORDS
                         : max > JD_COMMIT_MAX_RECORDS ? JD_COMMIT_MAX_RECORDS
                                                       : max;
}

/* Encodes pd_dirty[j] (at or after pd_nenc) as the next record of the
 * group's write: it trades places with pd_dirty[pd_nenc] first, so the
 * encoded ones stay a prefix in the order of pd_sb. The record holds the
 * position of the group's cut. */
static int bt_encode_at(jd_batch_t *bt, size_t j)
{
    bt_pend_t *pd = &bt->bt_flying;
    size_t k = pd->pd_nenc;
    if (j != k) {
        bt_dirty_t d = pd->pd_dirty[j];
        pd->pd_dirty[j] = pd->pd_dirty[k];
        pd->pd_dirty[k] = d;
        pd->pd_dirty[j].dt_ac->ac_enc = (uint32_t)j + 1;
    }
    jd_account_t *ac = pd->pd_dirty[k].dt_ac;
    jd_part_t *pt = pd->pd_dirty[k].dt_pt;
    int64_t pos = pd->pd_dirty[k].dt_pos;
    jd_err_t err;
    ac->ac_enc = 0;
    pd->pd_nenc++;
    if (pos >= 0 && jd_account_position_set(ac, pt->pt_topic_hash, pt->pt_partition, pos))
        return JD_ERR_FATAL;
    int is_new = ac->ac_epoch == 0; /* never written: a new account */
    ac->ac_epoch = pt->pt_epoch;
    size_t sig_n;
    const char *const *sig = bt_sighash(bt, ac, &sig_n);
    if (jd_record_encode(ac, &bt->bt_rec, &err) ||
        jd_store_batch_record(pd->pd_sb, ac->ac_id, bt->bt_rec.b_data, bt->bt_rec.b_len,
                              pt->pt_epoch, is_new, sig, sig_n))
        return JD_ERR_FATAL;
    /* what the write holds of it: the record, its key and its signal pairs */
    pd->pd_enc_bytes += bt->bt_rec.b_len + strlen(ac->ac_id);
    for (size_t i = 0; i < 2 * sig_n; i++)
        pd->pd_enc_bytes += strlen(sig[i]);
    return 0;
}

int jd_commit_before_change(jd_batch_t *bt, jd_account_t *ac)
{
    return ac->ac_enc ? bt_encode_at(bt, ac->ac_enc - 1) : 0;
}

/* Encodes the cut group's records for about JD_COMMIT_SLICE_MS (all of
 * them with all set) and, once every one is, hands the write to the
 * writer thread. */
static int bt_encode_slice(jd_batch_t *bt, int all)
{
    bt_pend_t *pd = &bt->bt_flying;
    if (!pd->pd_on || pd->pd_sent)
        return 0;
    double t0 = jd__batch_now_s(), limit = JD_COMMIT_SLICE_MS / 1e3;
    for (size_t n = 0; pd->pd_nenc < pd->pd_ndirty; n++) {
        if (!all && (n & 63) == 63 && jd__batch_now_s() - t0 >= limit)
            break;
        if (bt_encode_at(bt, pd->pd_nenc))
            return JD_ERR_FATAL;
    }
    double took = jd__batch_now_s() - t0;
    pd->pd_encode_s += took;
    if (took > pd->pd_encode_max_s)
        pd->pd_encode_max_s = took;
    if (pd->pd_nenc < pd->pd_ndirty)
        return 0;
    bt_size_groups(bt, pd->pd_enc_bytes, pd->pd_ndirty);
    pd->pd_sent = 1;
    jd_writer_submit(bt->bt_c.bc_writer, pd->pd_sb);
    return 0;
}

/* The open group's changed accounts, with the position each record will
 * hold (its partition's last offset now, before bt_seal_parts clears it). */
static void bt_note_positions(jd_batch_t *bt)
{
    for (size_t i = 0; i < bt->bt_ndirty; i++)
        bt->bt_dirty[i].dt_pos = bt->bt_dirty[i].dt_pt->pt_last;
}

/* Room for n more partitions in a group's lists. */
static int bt_pend_reserve(bt_pend_t *pd, size_t n)
{
    n += pd->pd_nparts;
    if (n <= pd->pd_parts_cap)
        return 0;
    jd_part_t **pp = realloc(pd->pd_parts, n * sizeof *pp);
    if (pp)
        pd->pd_parts = pp;
    bt_off_t *po = realloc(pd->pd_offs, n * sizeof *po);
    if (po)
        pd->pd_offs = po;
    if (!pp || !po)
        return -1;
    pd->pd_parts_cap = n;
    return 0;
}

/* The offset to store for pt (once per partition and group). */
static void bt_pend_offset(bt_pend_t *pd, jd_part_t *pt, int64_t next)
{
    for (size_t i = 0; i < pd->pd_noffs; i++)
        if (pd->pd_offs[i].of_pt == pt) {
            pd->pd_offs[i].of_next = next;
            return;
        }
    pd->pd_offs[pd->pd_noffs++] = (bt_off_t){pt, next};
}

/* Each claimed partition's entry into pd_sb and its offset to store; the
 * partitions start the next batch with no changes and no last offset. */
static int bt_seal_parts(jd_batch_t *bt, bt_pend_t *pd)
{
    size_t np = jd_parts_count(bt->bt_parts);
    if (bt_pend_reserve(pd, np))
        return JD_ERR_FATAL;
    for (size_t p = 0; p < np; p++) {
        jd_part_t *pt = jd_parts_at(bt->bt_parts, p);
        if (!pt->pt_claimed)
            continue;
        if (bt_write_part(pd->pd_sb, pt))
            return JD_ERR_FATAL;
        pd->pd_parts[pd->pd_nparts++] = pt;
        if (pt->pt_last >= 0)
            bt_pend_offset(pd, pt, pt->pt_last + 1);
        jd_part_changes_clear(pt);
        pt->pt_last = -1;
    }
    return 0;
}

void jd_commit_clear(bt_pend_t *pd)
{
    for (size_t i = pd->pd_nenc; i < pd->pd_ndirty; i++)
        pd->pd_dirty[i].dt_ac->ac_enc = 0;
    pd->pd_on = pd->pd_sent = 0;
    pd->pd_nenc = pd->pd_enc_bytes = 0;
    pd->pd_encode_s = pd->pd_encode_max_s = 0;
    pd->pd_ndirty = pd->pd_nparts = pd->pd_noffs = pd->pd_nbatches = 0;
    if (pd->pd_sb)
        jd_store_batch_clear(pd->pd_sb);
}

/* The batch's changed accounts appended to pd's. */
static int bt_pend_accounts(jd_batch_t *bt, bt_pend_t *pd)
{
    size_t need = pd->pd_ndirty + bt->bt_ndirty;
    if (need > pd->pd_dirty_cap) {
        size_t cap = pd->pd_dirty_cap ? pd->pd_dirty_cap : 256;
        while (cap < need)
            cap *= 2;
        bt_dirty_t *d = realloc(pd->pd_dirty, cap * sizeof *d);
        if (!d)
            return JD_ERR_FATAL;
        pd->pd_dirty = d;
        pd->pd_dirty_cap = cap;
    }
    if (bt->bt_ndirty)
        memcpy(pd->pd_dirty + pd->pd_ndirty, bt->bt_dirty, bt->bt_ndirty * sizeof *bt->bt_dirty);
    pd->pd_ndirty = need;
    bt->bt_ndirty = 0;
    return 0;
}

/* The open group, cut: its partition entries encoded into bt_flying's
 * store batch (the state as of the last batch processed), its changed
 * accounts moved there to be encoded (bt_encode_slice; each one before
 * the next group changes it), the next group numbered. */
static int bt_cut_group(jd_batch_t *bt)
{
    bt_pend_t *pd = &bt->bt_flying;
    if (!pd->pd_sb && !(pd->pd_sb = jd_store_batch_new(bt->bt_c.bc_store)))
        return JD_ERR_FATAL;
    bt_note_positions(bt);
    int rc = bt_seal_parts(bt, pd);
    if (rc || (rc = bt_pend_accounts(bt, pd)))
        return rc;
    for (size_t i = 0; i < pd->pd_ndirty; i++)
        pd->pd_dirty[i].dt_ac->ac_enc = (uint32_t)i + 1;
    pd->pd_seq = bt->bt_seq++;
    pd->pd_nbatches = bt->bt_group_n;
    pd->pd_on = 1;
    bt->bt_group_n = 0;
    bt->bt_group_at = 0;
    return 0;
}

int jd_commit_note(jd_batch_t *bt)
{
    if (!bt->bt_group_n++)
        bt->bt_group_at = jd_wait_now_ms();
    jd_outbound_retire(bt->bt_c.bc_out); /* only what is in flight stays held */
    return 0;
}

/* ---- the open group, acknowledged and handed to the writer -------------------------------- */

/* Waits for every record published so far (all the open group's), records
 * the outcomes, encodes the group and hands its write to the writer thread
 * (bt_flying, which must be landed). */
static int bt_launch(jd_batch_t *bt)
{
    int rc;
    if (!bt->bt_group_n)
        return 0;
    jd_outbound_t *ob = bt->bt_c.bc_out;
    if ((rc = jd_outbound_flush_first(ob, jd_outbound_count(ob), bt->bt_c.bc_wait)))
        return rc;
    if (bt->bt_c.bc_outcomes) {
        int rc_ = 0;
        jd_err_t err_;
        JD_WAIT_RETRY(bt->bt_c.bc_wait, "recording rule outcomes",
                      jd_outcomes_flush(bt->bt_c.bc_outcomes, bt->bt_c.bc_store, &err_));
        if (rc_)
            return rc_;
    }
    if ((rc = bt_cut_group(bt)))
        return rc;
    return bt_encode_slice(bt, 0);
}

/* 1 when the open group must be written now whatever it costs: it is
 * four intervals old, it holds bt_max_records changed accounts, or
 * its dirty records fill the cache. */
static int bt_group_must(const jd_batch_t *bt, int64_t age)
{
    const jd_config_t *cf = bt->bt_c.bc_cf;
    return age >= 4 * (int64_t)cf->cf_commit_interval_ms ||
           bt->bt_ndirty >= bt->bt_max_records ||
           jd_cache_bytes(bt->bt_cache) > ((size_t)cf->cf_cache_mb << 20);
}

int jd_commit_tick(jd_batch_t *bt)
{
    int rc;
    if ((rc = bt_encode_slice(bt, 0)))
        return rc;
    if (!bt->bt_group_n)
        return 0;
    int64_t age = jd_wait_now_ms() - bt->bt_group_at;
    if (age < bt->bt_c.bc_cf->cf_commit_interval_ms && bt->bt_ndirty < bt->bt_max_records)
        return 0;
    int must = bt_group_must(bt, age);
    /* a write still in progress: the group grows (Redis is behind, so
     * coalescing more is what helps) until it must go */
    if (!must && (!bt->bt_flying.pd_sent ? bt->bt_flying.pd_on
                                         : !jd_writer_done(bt->bt_c.bc_writer)))
        return 0;
    if ((rc = jd_commit_land(bt)))
        return rc;
    jd_outbound_t *ob = bt->bt_c.bc_out;
    if (!must && !jd_outbound_acked_first(ob, jd_outbound_count(ob)))
        return 0; /* the acknowledgements are on their way: next batch */
    return bt_launch(bt);
}

int jd_commit_idle(jd_batch_t *bt)
{
    const bt_pend_t *pd = &bt->bt_flying;
    int rc;
    if (pd->pd_on && pd->pd_sent && jd_writer_done(bt->bt_c.bc_writer) &&
        (rc = jd_commit_land(bt)))
        return rc;
    return jd_commit_tick(bt);
}

int jd_commit_quiet(const jd_batch_t *bt)
{
    return !bt->bt_group_n && !bt->bt_flying.pd_on;
}

/* ---- the write in flight, done: refusals, offsets, clean records -------------------------- */

/* Waits for the writer; resubmits while Redis is unreachable (the write is
 * idempotent), as JD_WAIT_RETRY does for a call in line. */
static int bt_write_wait(jd_batch_t *bt)
{
    jd_wait_t *wt = bt->bt_c.bc_wait;
    double t0 = jd__batch_now_s();
    for (;;) {
        jd_err_t err;
        int rc = jd_writer_wait(bt->bt_c.bc_writer, &err);
        if (rc != JD_ERR_RETRY) {
            jd_ops_redis("write", jd__batch_now_s() - t0, rc == 0);
            if (rc)
                JD_ERROR("pipeline", "writing account records: %s", err.err_msg);
            else
                jd_wait_ok(wt);
            return rc;
        }
        if (jd_wait_give_up(wt))
            return JD_ERR_RETRY;
        jd_wait_backoff(wt, "writing account records", &err);
        jd_writer_submit(bt->bt_c.bc_writer, bt->bt_flying.pd_sb);
    }
}

static int bt_part_gone(jd_part_t *const *gone, size_t ng, const jd_part_t *pt)
{
    for (size_t g = 0; g < ng; g++)
        if (gone[g] == pt)
            return 1;
    return 0;
}

/* The partitions whose write was refused (any refused partition entry or
 * record) into gone[]; returns how many. */
static size_t bt_refusals(const bt_pend_t *pd, jd_part_t **gone)
{
    size_t ng = 0;
    for (size_t k = 0; k < pd->pd_nparts; k++) {
        jd_part_t *pt = pd->pd_parts[k];
        if (pt && jd_store_batch_part_refused(pd->pd_sb, k) && !bt_part_gone(gone, ng, pt))
            gone[ng++] = pt;
    }
    for (size_t i = 0; i < pd->pd_ndirty; i++) {
        jd_part_t *pt = pd->pd_dirty[i].dt_pt;
        if (pt && jd_store_batch_record_refused(pd->pd_sb, i) && !bt_part_gone(gone, ng, pt))
            gone[ng++] = pt;
    }
    return ng;
}

/* Stores the written batch's offsets, except those of fenced partitions. */
static int bt_store_offsets(jd_batch_t *bt, jd_part_t *const *gone, size_t ng)
{
    const bt_pend_t *pd = &bt->bt_flying;
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(16);
    int rc_ = 0;
    jd_err_t err_;
    for (size_t i = 0; i < pd->pd_noffs; i++) {
        const jd_part_t *pt = pd->pd_offs[i].of_pt;
        if (pt && !bt_part_gone(gone, ng, pt))
            rd_kafka_topic_partition_list_add(tl, pt->pt_topic, pt->pt_partition)->offset =
                pd->pd_offs[i].of_next;
    }
    if (tl->cnt) {
        JD_WAIT_RETRY(bt->bt_c.bc_wait, "storing offsets",
                      jd_consumer_store_offsets(bt->bt_c.bc_consumer, tl, &err_));
    }
    rd_kafka_topic_partition_list_destroy(tl);
    return rc_;
}

/* The written batch's accounts turn clean unless a later batch changed
 * them; fenced partitions are forgotten, out of the later batches too. */
static void bt_settle_accounts(jd_batch_t *bt, jd_part_t **gone, size_t ng)
{
    bt_pend_t *pd = &bt->bt_flying;
    for (size_t i = 0; i < pd->pd_ndirty; i++) {
        jd_account_t *ac = pd->pd_dirty[i].dt_ac;
        if (ac && ac->ac_seq <= pd->pd_seq) /* no later batch changed it */
            jd_cache_set_dirty(bt->bt_cache, ac, 0);
    }
    for (size_t g = 0; g < ng; g++) {
        bt_unmark_partition(bt, gone[g]);
        bt_fenced(bt, gone[g]);
    }
}

/* What the cache leaves to memory other than its records: the deadline
 * indexes (modelled, jd_parts_bytes) or, when the allocator can tell,
 * everything the heap holds beyond the records as counted (librdkafka's
 * prefetched messages, the write buffers, the deadline indexes, and the
 * free blocks the allocator keeps, resident too, up to
 * 1/JD_COMMIT_FREE_SHARE of the budget), so that state.cache_mb bounds the
 * heap and not only the records. The free blocks are capped because an
 * eviction adds to them: counted whole, every eviction would shrink the
 * cache again at the next group. With several pipelines in the process
 * (each its own cache and budget), each reserves its budget's part of
 * the rest (jd_heap_share_t). Records keep at least
 * 1/JD_COMMIT_RECORDS_MIN_SHARE of the budget, or a cache smaller than
 * the rest of the process would evict every record at every group and
 * read it again. */
static void bt_reserve(jd_batch_t *bt)
{
    size_t budget = (size_t)bt->bt_c.bc_cf->cf_cache_mb << 20, all, held_all;
    size_t most = budget - budget / JD_COMMIT_RECORDS_MIN_SHARE;
    size_t parts = jd_parts_bytes(bt->bt_parts), outside = 0;
    jd_heap_t hp;
    jd_heap_share_set(&bt->bt_share, budget, jd_cache_bytes(bt->bt_cache));
    jd_heap_share_totals(&all, &held_all);
    jd_heap_measure(&hp);
    size_t heap = hp.hp_in_use + (hp.hp_free < all / JD_COMMIT_FREE_SHARE
                                      ? hp.hp_free
                                      : all / JD_COMMIT_FREE_SHARE);
    if (hp.hp_in_use > held_all && all)
        outside = (size_t)((double)(heap - held_all) * ((double)budget / (double)all));
    if (outside > most)
        outside = most;
    jd_cache_set_reserved(bt->bt_cache, outside > parts ? outside : parts);
}

/* Steps 6 and 7 (jd_batch.h) for the write in flight, if any. */
int jd_commit_land(jd_batch_t *bt)
{
    bt_pend_t *pd = &bt->bt_flying;
    int rc;
    if (!pd->pd_on)
        return 0;
    if ((rc = bt_encode_slice(bt, 1)) || (rc = bt_write_wait(bt)))
        return rc;
    jd_part_t **gone = calloc(pd->pd_nparts + pd->pd_ndirty + 1, sizeof *gone);
    if (!gone)
        return JD_ERR_FATAL;
    size_t ng = bt_refusals(pd, gone);
    if (!(rc = bt_store_offsets(bt, gone, ng)))
        bt_settle_accounts(bt, gone, ng);
    free(gone);
    if (rc)
        return rc;
    bt->bt_nwritten = pd->pd_ndirty;
    JD_DEBUG("pipeline", "group %llu stored: %zu batches, %zu records (encoded in %.1f ms, "
             "at most %.1f ms at once), %zu offsets; next cut at %zu records",
             (unsigned long long)pd->pd_seq, pd->pd_nbatches, pd->pd_ndirty,
             pd->pd_encode_s * 1e3, pd->pd_encode_max_s * 1e3, pd->pd_noffs,
             bt->bt_max_records);
    jd_commit_clear(pd);
    bt_reserve(bt);
    jd_cache_evict(bt->bt_cache);
    return 0;
}

/* Everything processed, acknowledged, written and its offsets stored. */
int jd_commit_drain(jd_batch_t *bt)
{
    int rc;
    if ((rc = jd_commit_land(bt)) || (rc = bt_launch(bt)) || (rc = jd_commit_land(bt)))
        return rc;
    return 0;
}
