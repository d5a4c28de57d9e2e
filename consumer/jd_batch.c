/*
 * jd_batch: one batch of the state engine (contract and the seven steps in
 * jd_batch.h).
 *
 * Positions. Every record carries, per input partition, the offset up to
 * which it includes that partition's log: the last offset of the batch
 * that wrote it. An event at offset o of an account whose record says
 * position P >= o is already in the record; so is a timer that fired
 * before message o. Walk through a crash after the records of a batch were
 * written but before its offsets were stored: the next owner re-reads the
 * batch from the stored offsets, skips every event and timer of the
 * accounts that were written (their position is the batch's last offset)
 * and decides the others again, on the same state and the same clock, so
 * it publishes the same trigger ids (copies of what may already be out).
 * Nothing is lost either way, since records are written only after every
 * trigger of the batch was acknowledged.
 *
 * The clock. A partition's clock (latest occurred_at read minus
 * timers.allowed_lateness_s) moves only at messages, and is written with
 * the partition's position after the records; a new owner resumes from
 * that clock, so timers fire at the same messages whoever reads the
 * partition. Before message o, every account whose deadline the clock
 * passed is decided at its deadline, in (deadline, account) order.
 *
 * Fencing. Records and partition entries are written with the
 * partition's ownership epoch (taken when it was claimed); Redis refuses a
 * write whose epoch is older than the stored one. A refused partition was
 * taken over by another instance meanwhile (this one was paused or cut
 * off): its records leave the cache, its offsets are not stored, and it is
 * claimed again only if the group assigns it again. What this instance
 * published before the refusal was decided on the partition's true prefix,
 * so it carries the same ids the new owner publishes.
 *
 * This file is steps 1 to 4 and the cycle; grouping the processed batches
 * of a commit interval and completing each group while the next is
 * processed (steps 5 to 7) is consumer/jd_commit.c; both share struct
 * jd_batch (jd_batch_int.h).
 *
 * Memory: the cache holds records up to state.cache_mb less what the
 * rest of the heap holds (measured after each group, jd_commit.c); the
 * records a group touches stay in it until the group is written (dirty
 * records are never evicted): the open group's and the one in flight. A
 * group whose dirty records fill the budget is written at once
 * (jd_commit.c).
 */
#include "jd_batch.h"
#include "jd_batch_int.h"
#include "jd_commit.h"
#include "jd_decode_wait.h"

#include <stdlib.h>
#include <string.h>

#include "jd_log.h"
#include "jd_ops.h"
#include "jd_record.h"

#define BT_ID_MAX 1024  /* an account id (limits.max_string_bytes caps it) */

/* ---- set-up -------------------------------------------------------------------- */

static int bt_nomem(jd_err_t *err)
{
    return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
}

jd_batch_t *jd_batch_new(const jd_batch_conf_t *conf, jd_err_t *err)
{
    jd_batch_t *bt = calloc(1, sizeof *bt);
    if (!bt) {
        bt_nomem(err);
        return NULL;
    }
    bt->bt_c = *conf;
    const jd_config_t *cf = conf->bc_cf;
    jd_config_account(cf, &bt->bt_acf, &bt->bt_sgc);
    bt->bt_lateness = (int64_t)cf->cf_timers_lateness_s * 1000;
    bt->bt_latest = JD_PARTS_NO_CLOCK;
    bt->bt_seq = 1;
    bt->bt_max_records = JD_COMMIT_MAX_BYTES / 2048; /* until a group measures it */
    bt->bt_step = jd_step_new(conf->bc_rs, &bt->bt_acf,
                              cf->cf_timers_enabled ? (int64_t)cf->cf_timers_tick_s * 1000 : 0);
    bt->bt_cache = jd_cache_new((size_t)cf->cf_cache_mb << 20);
    bt->bt_parts = jd_parts_new();
    jd_arena_init(&bt->bt_arena, 256 * 1024);
    if (!bt->bt_step || !bt->bt_cache || !bt->bt_parts) {
        jd_batch_destroy(bt);
        bt_nomem(err);
        return NULL;
    }
    return bt;
}

void jd_batch_destroy(jd_batch_t *bt)
{
    if (!bt)
        return;
    jd_step_destroy(bt->bt_step);
    jd_cache_destroy(bt->bt_cache);
    jd_heap_share_set(&bt->bt_share, 0, 0);
    jd_parts_destroy(bt->bt_parts);
    jd_arena_destroy(&bt->bt_arena);
    jd_buf_free(&bt->bt_rec);
    jd_err_t err;
    jd_writer_wait(bt->bt_c.bc_writer, &err); /* it may be reading bt_flying */
    jd_commit_free(&bt->bt_flying);
    free(bt->bt_ev);
    free(bt->bt_has);
    free(bt->bt_pt);
    free(bt->bt_acc);
    free(bt->bt_dirty);
    free(bt->bt_want);
    free(bt->bt_want_ids);
    free(bt);
}

int64_t jd_batch_latest(const jd_batch_t *bt)
{
    return bt->bt_latest;
}

static int bt_reserve(jd_batch_t *bt, size_t n)
{
    if (n <= bt->bt_cap)
        return 0;
    size_t cap = bt->bt_cap ? bt->bt_cap : 256;
    while (cap < n)
        cap *= 2;
    jd_event_t *ev = realloc(bt->bt_ev, cap * sizeof *ev);
    if (ev)
        bt->bt_ev = ev;
    unsigned char *has = realloc(bt->bt_has, cap);
    if (has)
        bt->bt_has = has;
    jd_part_t **pt = realloc(bt->bt_pt, cap * sizeof *pt);
    if (pt)
        bt->bt_pt = pt;
    jd_account_t **acc = realloc(bt->bt_acc, cap * sizeof *acc);
    if (acc)
        bt->bt_acc = acc;
    if (!ev || !has || !pt || !acc)
        return -1;
    bt->bt_cap = cap;
    return 0;
}

/* ---- the accounts a batch changed ------------------------------------------------ */

/* Adds ac to the batch's changed accounts once (ac_seq says whether it
 * is there: the batch numbers only grow). */
static int bt_mark(jd_batch_t *bt, jd_account_t *ac, jd_part_t *pt)
{
    if (ac->ac_seq == bt->bt_seq)
        return 0;
    if (bt->bt_ndirty == bt->bt_dirty_cap) {
        size_t cap = bt->bt_dirty_cap ? 2 * bt->bt_dirty_cap : 256;
        bt_dirty_t *d = realloc(bt->bt_dirty, cap * sizeof *d);
        if (!d)
            return -1;
        bt->bt_dirty = d;
        bt->bt_dirty_cap = cap;
    }
    ac->ac_seq = bt->bt_seq;
    bt->bt_dirty[bt->bt_ndirty++] = (bt_dirty_t){ac, pt, -1};
    jd_cache_set_dirty(bt->bt_cache, ac, 1);
    return 0;
}

static void bt_marks_clear(jd_batch_t *bt)
{
    bt->bt_ndirty = 0;
}

/* ---- partitions: revoked, claimed ---------------------------------------------- */

/* Forgets a partition and every cached record of it. */
void jd__batch_forget(jd_batch_t *bt, const char *topic, int32_t partition)
{
    jd_part_t *pt = jd_parts_find(bt->bt_parts, topic, partition);
    if (!pt)
        return;
    jd_cache_drop_partition(bt->bt_cache, pt->pt_topic_hash, partition);
    jd_parts_remove(bt->bt_parts, topic, partition);
}

static void bt_timer_loaded(const char *account, int64_t deadline, void *opaque)
{
    jd_part_deadline_set(opaque, account, deadline, 0);
}

/* The partition's deadline index into pt: 0 or a negative jd_err class. */
static int bt_timers_load(jd_batch_t *bt, jd_part_t *pt, jd_err_t *err)
{
    int rc = jd_store_timers_load(bt->bt_c.bc_store, pt->pt_topic, pt->pt_partition,
                                  bt_timer_loaded, pt, err);
    return rc > 0 ? 0 : rc;
}

/* Claims the partitions of the batch that are assigned but not claimed:
 * a new epoch, the stored clock and deadline index. One round trip for the
 * claims (plus one per index read). */
static int bt_claim(jd_batch_t *bt, jd_part_t **todo, size_t n)
{
    jd_store_claim_t *cl = calloc(n ? n : 1, sizeof *cl);
    int rc_ = 0;
    jd_err_t err_;
    if (!cl)
        return JD_ERR_FATAL;
    for (size_t i = 0; i < n; i++) {
        cl[i].cl_topic = todo[i]->pt_topic;
        cl[i].cl_partition = todo[i]->pt_partition;
    }
    JD_WAIT_RETRY(bt->bt_c.bc_wait, "claiming partitions in Redis",
                  jd_store_claim(bt->bt_c.bc_store, cl, n, &err_));
    for (size_t i = 0; !rc_ && i < n; i++) {
        jd_part_t *pt = todo[i];
        pt->pt_epoch = cl[i].cl_epoch;
        pt->pt_clock = cl[i].cl_clock;
        JD_WAIT_RETRY(bt->bt_c.bc_wait, "reading a timer index",
                      bt_timers_load(bt, pt, &err_));
        if (!rc_) {
            pt->pt_claimed = 1;
            JD_INFO("pipeline", "claimed %s[%d]: epoch %llu, stored position %lld",
                    pt->pt_topic, (int)pt->pt_partition, (unsigned long long)pt->pt_epoch,
                    (long long)cl[i].cl_position);
        }
    }
    free(cl);
    if (rc_ && rc_ != JD_ERR_RETRY)
        JD_ERROR("pipeline", "claiming partitions: %s", err_.err_msg);
    return rc_;
}

/* 1 when (topic, partition) is in the consumer's assignment. */
static int bt_assigned(const rd_kafka_topic_partition_list_t *as, const char *topic,
                       int32_t partition)
{
    return as && rd_kafka_topic_partition_list_find(as, topic, partition) != NULL;
}

/* Maps every message to its owned partition (claiming new ones); messages
 * of partitions not assigned any more map to NULL and are left alone. */
static int bt_partitions(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n)
{
    rd_kafka_topic_partition_list_t *as = jd_consumer_assignment(bt->bt_c.bc_consumer);
    jd_part_t **todo = calloc(n ? n : 1, sizeof *todo);
    size_t nt = 0;
    int rc = todo ? 0 : JD_ERR_FATAL;
    for (size_t i = 0; !rc && i < n; i++) {
        const char *topic = msgs[i]->rkt ? rd_kafka_topic_name(msgs[i]->rkt) : "";
        int eof = msgs[i]->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
        bt->bt_pt[i] = NULL;
        if ((msgs[i]->err && !eof) || !bt_assigned(as, topic, msgs[i]->partition))
            continue;
        jd_part_t *pt = jd_parts_add(bt->bt_parts, topic, msgs[i]->partition);
        if (!pt) {
            rc = JD_ERR_FATAL;
            break;
        }
        pt->pt_eof = eof; /* in partition order: the last message says */
        bt->bt_pt[i] = pt;
        if (!pt->pt_claimed && (nt == 0 || todo[nt - 1] != pt)) {
            size_t k = 0;
            while (k < nt && todo[k] != pt)
                k++;
            if (k == nt)
                todo[nt++] = pt;
        }
    }
    if (!rc && nt)
        rc = bt_claim(bt, todo, nt);
    free(todo);
    if (as)
        rd_kafka_topic_partition_list_destroy(as);
    return rc;
}

/* ---- decode ------------------------------------------------------------------------- */

/* 1 when m is a message of an input topic (not of topics.repartition). */
static int bt_is_input(const jd_batch_t *bt, const rd_kafka_message_t *m)
{
    return strcmp(rd_kafka_topic_name(m->rkt), bt->bt_c.bc_cf->cf_topic_repartition) != 0;
}

/* An input message re-keyed: forwarded to topics.repartition, to the
 * partition murmur2 gives its account (the partition a Java producer keyed
 * by account would choose), acknowledged before its offset is stored. */
static int bt_forward(jd_batch_t *bt, const rd_kafka_message_t *m, const jd_event_t *ev)
{
    const char *id = ev->ev_account;
    int32_t p = rd_kafka_msg_partitioner_murmur2(NULL, id, strlen(id), bt->bt_c.bc_repartition,
                                                 NULL, NULL);
    return jd_outbound_forward(bt->bt_c.bc_out, m, id, p);
}

static int bt_decode_all(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n,
                         jd_pipeline_stats_t *ps)
{
    jd_arena_reset(&bt->bt_arena);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        jd_err_t err;
        bt->bt_has[i] = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                JD_WARN("consumer", "consume error: %s", rd_kafka_message_errstr(m));
            continue;
        }
        if (!bt->bt_pt[i])
            continue; /* not ours any more: the new owner reads it */
        ps->ps_messages++;
        jd_ops_consumed(m->rkt ? rd_kafka_topic_name(m->rkt) : "", (int)m->partition);
        int rc = jd_decoder_decode(bt->bt_c.bc_decoder, m->payload, m->len, &bt->bt_arena,
                                   &bt->bt_ev[i], &err);
        if (rc == JD_ERR_RETRY && (rc = jd_decode_wait(bt->bt_c.bc_wait, bt->bt_c.bc_decoder,
                                                       m->payload, m->len, &bt->bt_arena,
                                                       &bt->bt_ev[i], &err)) == JD_ERR_RETRY)
            return JD_ERR_RETRY; /* registry outage and a stop: replayed, not dead-lettered */
        if (rc) {
            if (jd_outbound_dead_letter(bt->bt_c.bc_out, m, &err))
                return JD_ERR_FATAL;
            continue;
        }
        if (bt->bt_c.bc_repartition && bt_is_input(bt, m)) {
            if (bt_forward(bt, m, &bt->bt_ev[i]))
                return JD_ERR_FATAL;
            continue;
        }
        bt->bt_has[i] = 1;
        ps->ps_events++;
        jd_ops_event_time(bt->bt_ev[i].ev_occurred_at);
        if (bt->bt_ev[i].ev_type == JD_EV_UNKNOWN)
            ps->ps_unknown_types++;
    }
    return 0;
}

/* Messages of the batch that avro-c's generic reader decoded: counted,
 * and said once per thread (a writer shape outside the fast path). */
static void bt_generic(jd_batch_t *bt, uint64_t before)
{
    uint64_t n = jd_decoder_generic_count(bt->bt_c.bc_decoder) - before;
    if (!n)
        return;
    jd_ops_decoded_generic(n);
    if (!bt->bt_generic_said) {
        bt->bt_generic_said = 1;
        JD_INFO("decoder", "some input is decoded by avro-c's generic reader, not the fast "
                           "path (a writer shape it leaves alone: slower, allocates per "
                           "message); journeyd_decoded_generic_total counts them");
    }
}

static int bt_decode(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n)
{
    jd_pipeline_stats_t *ps = bt->bt_c.bc_stats;
    uint64_t generic = jd_decoder_generic_count(bt->bt_c.bc_decoder);
    int rc = bt_decode_all(bt, msgs, n, ps);
    bt_generic(bt, generic);
    return rc;
}

/* ---- load ------------------------------------------------------------------------------ */

/* Notes account to be read unless it is cached; *hit (when not NULL) is
 * its cached record or NULL. */
static int bt_want(jd_batch_t *bt, const char *account, jd_part_t *pt, jd_account_t **hit)
{
    jd_account_t *ac = jd_cache_get(bt->bt_cache, account);
    if (hit)
        *hit = ac;
    if (ac)
        return 0;
    for (size_t i = bt->bt_nwant; i > 0 && i + 64 > bt->bt_nwant; i--)
        if (strcmp(bt->bt_want[i - 1].wn_id, account) == 0)
            return 0; /* cheap de-duplication of neighbours; the rest below */
    if (bt->bt_nwant == bt->bt_want_cap) {
        size_t cap = bt->bt_want_cap ? 2 * bt->bt_want_cap : 256;
        bt_want_t *w = realloc(bt->bt_want, cap * sizeof *w);
        if (w)
            bt->bt_want = w;
        const char **ids = realloc(bt->bt_want_ids, cap * sizeof *ids);
        if (ids)
            bt->bt_want_ids = ids;
        if (!w || !ids)
            return -1;
        bt->bt_want_cap = cap;
    }
    char *copy = jd_arena_strndup(&bt->bt_arena, account, strlen(account));
    if (!copy)
        return -1;
    bt->bt_want[bt->bt_nwant++] = (bt_want_t){copy, pt};
    return 0;
}

static int bt_want_cmp(const void *a, const void *b)
{
    return strcmp(((const bt_want_t *)a)->wn_id, ((const bt_want_t *)b)->wn_id);
}

/* Sorts and de-duplicates the accounts to read. */
static void bt_want_unique(jd_batch_t *bt)
{
    size_t k = 0;
    if (!bt->bt_nwant)
        return;
    qsort(bt->bt_want, bt->bt_nwant, sizeof *bt->bt_want, bt_want_cmp);
    for (size_t i = 0; i < bt->bt_nwant; i++)
        if (k == 0 || strcmp(bt->bt_want[k - 1].wn_id, bt->bt_want[i].wn_id) != 0)
            bt->bt_want[k++] = bt->bt_want[i];
    bt->bt_nwant = k;
    for (size_t i = 0; i < k; i++)
        bt->bt_want_ids[i] = bt->bt_want[i].wn_id;
}

typedef struct bt_due_ctx {
    jd_batch_t *dc_bt;
    jd_part_t  *dc_pt;
    int         dc_rc;
} bt_due_ctx_t;

static void bt_due_want(const char *account, int64_t deadline, void *opaque)
{
    bt_due_ctx_t *dc = opaque;
    (void)deadline;
    if (bt_want(dc->dc_bt, account, dc->dc_pt, NULL))
        dc->dc_rc = -1;
}

/* The clock each partition reaches by the end of the batch: the timers
 * the batch will fire are known before it runs. */
static int64_t bt_clock_of(const jd_batch_t *bt, int64_t clock, int64_t t)
{
    int64_t c = t - bt->bt_lateness;
    return clock == JD_PARTS_NO_CLOCK || c > clock ? c : clock;
}

static int bt_collect(jd_batch_t *bt, size_t n, int64_t end_clock)
{
    bt_due_ctx_t dc = {bt, NULL, 0};
    bt->bt_nwant = 0;
    for (size_t i = 0; i < n; i++) {
        if (!bt->bt_has[i])
            continue;
        jd_part_t *pt = bt->bt_pt[i];
        int64_t t = bt->bt_ev[i].ev_occurred_at;
        if (pt->pt_latest == JD_PARTS_NO_CLOCK || t > pt->pt_latest)
            pt->pt_latest = t;
        if (bt_want(bt, bt->bt_ev[i].ev_account, pt, &bt->bt_acc[i]))
            return -1;
    }
    for (size_t p = 0; bt->bt_c.bc_cf->cf_timers_enabled && p < jd_parts_count(bt->bt_parts);
         p++) {
        jd_part_t *pt = jd_parts_at(bt->bt_parts, p);
        int64_t upto = end_clock != JD_PARTS_NO_CLOCK ? end_clock
                       : pt->pt_latest == JD_PARTS_NO_CLOCK ? JD_PARTS_NO_CLOCK
                       : bt_clock_of(bt, pt->pt_clock, pt->pt_latest);
        dc.dc_pt = pt;
        if (upto != JD_PARTS_NO_CLOCK && pt->pt_claimed)
            jd_part_each_due(pt, upto, bt_due_want, &dc);
    }
    bt_want_unique(bt);
    return dc.dc_rc;
}

/* Reads the wanted accounts' records (one round trip) into the cache; an
 * account without a record starts empty. */
static int bt_load(jd_batch_t *bt)
{
    jd_store_rec_t *recs;
    int rc_ = 0;
    jd_err_t err_;
    bt->bt_nloaded = bt->bt_nwant;
    if (!bt->bt_nwant)
        return 0;
    if (!(recs = calloc(bt->bt_nwant, sizeof *recs)))
        return JD_ERR_FATAL;
    double t0 = jd__batch_now_s();
    JD_WAIT_RETRY(bt->bt_c.bc_wait, "reading account records",
                  jd_store_load(bt->bt_c.bc_store, bt->bt_want_ids, bt->bt_nwant, recs, &err_));
    jd_ops_redis("load", jd__batch_now_s() - t0, rc_ == 0);
    for (size_t i = 0; !rc_ && i < bt->bt_nwant; i++) {
        jd_account_t *ac = NULL;
        jd_err_t err;
        if (recs[i].sr_len) {
            ac = jd_record_decode(recs[i].sr_data, recs[i].sr_len,
                                  bt->bt_acf.acf_lateness_days, &err);
            if (!ac) {
                JD_ERROR("pipeline", "the stored record of account %s does not decode (%s): "
                         "refusing to overwrite it", bt->bt_want[i].wn_id, err.err_msg);
                rc_ = JD_ERR_FATAL;
                break;
            }
        } else if (!(ac = jd_account_new(bt->bt_want[i].wn_id))) {
            rc_ = JD_ERR_FATAL;
            break;
        }
        jd_part_t *pt = bt->bt_want[i].wn_pt;
        if (jd_cache_put(bt->bt_cache, ac, pt->pt_topic_hash, pt->pt_partition) != 0) {
            jd_account_destroy(ac);
            rc_ = JD_ERR_FATAL;
        }
    }
    jd_store_recs_free(recs, bt->bt_nwant);
    free(recs);
    return rc_;
}

/* ---- deciding -------------------------------------------------------------------------- */

static const jd_src_t bt_timer_src = {"", -1, -1};

/* Sends what the step decided for ac and notes it for the outcomes. */
static int bt_emit(jd_batch_t *bt, jd_account_t *ac, const jd_src_t *src)
{
    jd_step_t *sp = bt->bt_step;
    int rc;
    if (sp->sp_journey && sp->sp_change.ch_stage &&
        (rc = jd_outbound_stage(bt->bt_c.bc_out, ac->ac_id, &sp->sp_change, &sp->sp_sg, src)))
        return rc;
    for (size_t t = 0; t < sp->sp_nout; t++)
        if ((rc = jd_outbound_trigger(bt->bt_c.bc_out, &sp->sp_out[t], src)))
            return rc;
    if (bt->bt_c.bc_outcomes &&
        jd_outcomes_note(bt->bt_c.bc_outcomes, ac->ac_id, &sp->sp_sg, sp->sp_before,
                         sp->sp_states, sp->sp_dec))
        return JD_ERR_FATAL;
    return 0;
}

/* After a decision: the index follows the record's deadline; a deadline
 * not after the instant just decided would wake it again at once and is
 * dropped. */
static int bt_reindex(jd_batch_t *bt, jd_part_t *pt, jd_account_t *ac, int64_t at)
{
    if (!bt->bt_c.bc_cf->cf_timers_enabled)
        return 0;
    if (ac->ac_timer_at && ac->ac_timer_at <= at)
        ac->ac_timer_at = 0;
    return jd_part_deadline_set(pt, ac->ac_id, ac->ac_timer_at, 1);
}

static jd_account_t *bt_account(jd_batch_t *bt, const char *id)
{
    jd_account_t *ac = jd_cache_get(bt->bt_cache, id);
    if (!ac)
        JD_ERROR("pipeline", "account %s was not loaded for its batch", id);
    return ac;
}

/* Fires the timers of pt whose deadline the clock `upto` passed, before
 * message `point` (INT64_MAX: after the last one). An account whose record
 * already includes that point is left for a later point. */
static int bt_fire(jd_batch_t *bt, jd_part_t *pt, int64_t upto, int64_t point)
{
    char id[BT_ID_MAX];
    char **later = NULL;
    int64_t *later_dl = NULL;
    size_t nl = 0, cl = 0;
    int rc = 0;
    for (int64_t dl; !rc && (dl = jd_part_pop_due(pt, upto, id, sizeof id));) {
        jd_account_t *ac = bt_account(bt, id);
        if (!ac)
            return JD_ERR_FATAL;
        if (point <= jd_account_position(ac, pt->pt_topic_hash, pt->pt_partition)) {
            if (nl == cl) {
                cl = cl ? 2 * cl : 16;
                char **nv = realloc(later, cl * sizeof *nv);
                int64_t *nd = realloc(later_dl, cl * sizeof *nd);
                if (nv)
                    later = nv;
                if (nd)
                    later_dl = nd;
                if (!nv || !nd) {
                    rc = JD_ERR_FATAL;
                    break;
                }
            }
            later[nl] = ac->ac_id;
            later_dl[nl++] = dl;
            continue;
        }
        if (jd_commit_before_change(bt, ac)) {
            rc = JD_ERR_FATAL;
            break;
        }
        int n = jd_step_timer(bt->bt_step, ac, dl);
        if (n < 0)
            rc = JD_ERR_FATAL;
        else {
            bt->bt_c.bc_stats->ps_timer_evals++;
            if ((rc = bt_emit(bt, ac, &bt_timer_src)) == 0 &&
                (bt_reindex(bt, pt, ac, dl) || bt_mark(bt, ac, pt)))
                rc = JD_ERR_FATAL;
        }
    }
    for (size_t i = 0; i < nl; i++)
        if (jd_part_deadline_set(pt, later[i], later_dl[i], 0))
            rc = JD_ERR_FATAL;
    free(later);
    free(later_dl);
    return rc;
}

static void bt_count(jd_batch_t *bt, int apply_rc)
{
    jd_pipeline_stats_t *ps = bt->bt_c.bc_stats;
    if (apply_rc == JD_ACCOUNT_APPLIED)
        ps->ps_applied++;
    else if (apply_rc == JD_ACCOUNT_DUPLICATE)
        ps->ps_duplicates++;
    else if (apply_rc == JD_ACCOUNT_LATE)
        ps->ps_late++, ps->ps_applied++;
}

/* Message i: its partition's timers, then its event. */
static int bt_message(jd_batch_t *bt, rd_kafka_message_t *m, size_t i)
{
    jd_part_t *pt = bt->bt_pt[i];
    const jd_event_t *ev = &bt->bt_ev[i];
    int rc;
    if (ev->ev_occurred_at > bt->bt_latest || bt->bt_latest == JD_PARTS_NO_CLOCK)
        bt->bt_latest = ev->ev_occurred_at;
    pt->pt_clock = bt_clock_of(bt, pt->pt_clock, ev->ev_occurred_at);
    if (bt->bt_c.bc_cf->cf_timers_enabled && (rc = bt_fire(bt, pt, pt->pt_clock, m->offset)))
        return rc;
    jd_account_t *ac = bt->bt_acc[i] ? bt->bt_acc[i] : bt_account(bt, ev->ev_account);
    if (!ac)
        return JD_ERR_FATAL;
    if (m->offset <= jd_account_position(ac, pt->pt_topic_hash, pt->pt_partition)) {
        bt->bt_c.bc_stats->ps_replayed++;
        return 0;
    }
    if (jd_commit_before_change(bt, ac))
        return JD_ERR_FATAL;
    int n = jd_step_event(bt->bt_step, ac, ev);
    if (n < 0)
        return JD_ERR_FATAL;
    bt_count(bt, bt->bt_step->sp_apply_rc);
    if (bt->bt_step->sp_apply_rc == JD_ACCOUNT_DUPLICATE ||
        bt->bt_step->sp_apply_rc == JD_ACCOUNT_REJECTED)
        return 0;
    jd_src_t src = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
    if ((rc = bt_emit(bt, ac, &src)))
        return rc;
    if (bt_reindex(bt, pt, ac, ac->ac_as_of) || bt_mark(bt, ac, pt))
        return JD_ERR_FATAL;
    return 0;
}

/* The record of message j, when it has one resolved (else NULL). */
static const jd_account_t *bt_ahead(const jd_batch_t *bt, size_t j, size_t n)
{
    return j < n && bt->bt_has[j] ? bt->bt_acc[j] : NULL;
}

static int bt_process(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        jd_account_prefetch(bt_ahead(bt, i + 8, n), 0); /* the misses of */
        jd_account_prefetch(bt_ahead(bt, i + 4, n), 1); /* later events */
        if (bt->bt_pt[i] && !msgs[i]->err && msgs[i]->offset > bt->bt_pt[i]->pt_last)
            bt->bt_pt[i]->pt_last = msgs[i]->offset;
        if (!bt->bt_has[i])
            continue;
        int rc = bt_message(bt, msgs[i], i);
        if (rc)
            return rc;
    }
    return 0;
}

/* Every claimed partition's clock to upto; their timers fire. */
static int bt_fire_all(jd_batch_t *bt, int64_t upto)
{
    for (size_t p = 0; p < jd_parts_count(bt->bt_parts); p++) {
        jd_part_t *pt = jd_parts_at(bt->bt_parts, p);
        int rc;
        if (!pt->pt_claimed)
            continue;
        if (pt->pt_clock == JD_PARTS_NO_CLOCK || upto > pt->pt_clock)
            pt->pt_clock = upto;
        if ((rc = bt_fire(bt, pt, pt->pt_clock, INT64_MAX)))
            return rc;
    }
    return 0;
}

/* ---- the cycle --------------------------------------------------------------------------- */

/* A batch given up or failed: nothing of it (nor of its group, nor of the
 * group in flight) is kept (the cache may hold records they changed, which
 * must not survive: they are dropped, and read again from Redis by the
 * replay). */
static int bt_abandon(jd_batch_t *bt, int rc)
{
    jd_err_t err;
    jd_writer_wait(bt->bt_c.bc_writer, &err); /* it reads bt_flying's batch */
    jd_commit_clear(&bt->bt_flying); /* before its accounts leave the cache */
    /* clock and index too: claimed again from Redis by the next batch */
    for (size_t p = jd_parts_count(bt->bt_parts); p > 0; p--) {
        jd_part_t *pt = jd_parts_at(bt->bt_parts, p - 1);
        jd_cache_drop_partition(bt->bt_cache, pt->pt_topic_hash, pt->pt_partition);
        jd_parts_remove(bt->bt_parts, pt->pt_topic, pt->pt_partition);
    }
    bt_marks_clear(bt);
    bt->bt_group_n = 0;
    jd_outbound_reset(bt->bt_c.bc_out);
    return rc;
}

/* The batch just processed joins the open group, which is drained. */
static int bt_finish(jd_batch_t *bt)
{
    int rc = jd_commit_note(bt);
    if (rc || (rc = jd_commit_drain(bt)))
        return bt_abandon(bt, rc);
    return 0;
}

/* The partitions given up since the last batch are forgotten, once the
 * batches before (which may hold their records) are written. */
static int bt_revoked(jd_batch_t *bt)
{
    rd_kafka_topic_partition_list_t *tl = jd_consumer_take_revoked(bt->bt_c.bc_consumer);
    int rc = tl && tl->cnt ? jd_commit_drain(bt) : 0;
    for (int i = 0; !rc && tl && i < tl->cnt; i++)
        jd__batch_forget(bt, tl->elems[i].topic, tl->elems[i].partition);
    if (tl)
        rd_kafka_topic_partition_list_destroy(tl);
    return rc ? bt_abandon(bt, rc) : 0;
}

/* The clock the input reaches when it ends with this batch (run
 * --max-events): the latest event time read, minus the lateness. */
static int64_t bt_end_clock(const jd_batch_t *bt, size_t n)
{
    int64_t end_clock = JD_PARTS_NO_CLOCK;
    for (size_t i = 0; i < n; i++)
        if (bt->bt_has[i] && (end_clock == JD_PARTS_NO_CLOCK ||
                              bt->bt_ev[i].ev_occurred_at > end_clock))
            end_clock = bt->bt_ev[i].ev_occurred_at;
    if (bt->bt_latest != JD_PARTS_NO_CLOCK && bt->bt_latest > end_clock)
        end_clock = bt->bt_latest;
    if (end_clock != JD_PARTS_NO_CLOCK)
        end_clock -= bt->bt_lateness;
    return end_clock;
}

/* Steps 1 to 4 (jd_batch.h): 0 or a negative jd_err class. */
static int bt_run(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n, int ended)
{
    int rc;
    if ((rc = bt_partitions(bt, msgs, n)) || (rc = bt_decode(bt, msgs, n)))
        return rc;
    /* the input ends here: every partition's clock goes to the latest
     * event time read (minus the lateness), as when caught up */
    int64_t end_clock = ended ? bt_end_clock(bt, n) : JD_PARTS_NO_CLOCK;
    if (bt_collect(bt, n, end_clock))
        return JD_ERR_FATAL;
    if ((rc = bt_load(bt)) || (rc = bt_process(bt, msgs, n)))
        return rc;
    if (ended && end_clock != JD_PARTS_NO_CLOCK && bt->bt_c.bc_cf->cf_timers_enabled)
        return bt_fire_all(bt, end_clock);
    return 0;
}

int jd_batch_run(jd_batch_t *bt, rd_kafka_message_t **msgs, size_t n, int ended)
{
    int rc;
    if (bt_reserve(bt, n))
        return JD_ERR_FATAL;
    if ((rc = bt_revoked(bt)))
        return rc;
    /* the open group goes to the writer when it is due (its interval,
     * the previous write and its acknowledgements); this batch then
     * starts the next one */
    if ((rc = jd_commit_tick(bt)) || (rc = bt_run(bt, msgs, n, ended)) ||
        (rc = jd_commit_note(bt)) || (ended && (rc = jd_commit_drain(bt))))
        return bt_abandon(bt, rc);
    bt->bt_c.bc_stats->ps_batches++;
    jd_ops_batch(n);
    JD_DEBUG("pipeline", "batch %llu done: %zu messages, %zu accounts read, %zu written, "
             "%zu cached", (unsigned long long)bt->bt_c.bc_stats->ps_batches, n,
             bt->bt_nloaded, bt->bt_nwritten, jd_cache_count(bt->bt_cache));
    return 0;
}

int jd_batch_settle(jd_batch_t *bt)
{
    int rc = jd_commit_drain(bt);
    return rc ? bt_abandon(bt, rc) : 0;
}

int jd_batch_idle(jd_batch_t *bt)
{
    int rc;
    if ((rc = bt_revoked(bt))) /* a rebalance: what was read is stored first */
        return rc;
    if ((rc = jd_commit_idle(bt)))
        return bt_abandon(bt, rc);
    return 0;
}

int jd_batch_quiet(const jd_batch_t *bt)
{
    return jd_commit_quiet(bt);
}

int jd_batch_timers(jd_batch_t *bt, int64_t upto)
{
    int rc;
    if (!bt->bt_c.bc_cf->cf_timers_enabled || upto == JD_PARTS_NO_CLOCK)
        return 0;
    if ((rc = bt_revoked(bt)) || (rc = jd_batch_settle(bt)))
        return rc;
    bt->bt_nwant = 0;
    jd_arena_reset(&bt->bt_arena);
    bt_due_ctx_t dc = {bt, NULL, 0};
    for (size_t p = 0; p < jd_parts_count(bt->bt_parts); p++) {
        jd_part_t *pt = jd_parts_at(bt->bt_parts, p);
        dc.dc_pt = pt;
        if (pt->pt_claimed)
            jd_part_each_due(pt, upto, bt_due_want, &dc);
    }
    bt_want_unique(bt);
    if (dc.dc_rc || (rc = bt_load(bt)))
        return bt_abandon(bt, dc.dc_rc ? JD_ERR_FATAL : rc);
    if ((rc = bt_fire_all(bt, upto)))
        return bt_abandon(bt, rc);
    if (!bt->bt_ndirty)
        return 0;
    return bt_finish(bt);
}

int jd_batch_caught_up(jd_batch_t *bt)
{
    rd_kafka_topic_partition_list_t *as = jd_consumer_assignment(bt->bt_c.bc_consumer);
    int all = as && as->cnt > 0;
    for (int i = 0; all && i < as->cnt; i++) {
        jd_part_t *pt = jd_parts_find(bt->bt_parts, as->elems[i].topic, as->elems[i].partition);
        all = pt && pt->pt_claimed && pt->pt_eof;
    }
    if (as)
        rd_kafka_topic_partition_list_destroy(as);
    return all;
}
