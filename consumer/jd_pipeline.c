/*
 * jd_pipeline: the batch loop of `journeyd run` (contract in jd_pipeline.h).
 *
 * Invariant: a message's offset is stored only after (1) its event's state
 * update is acknowledged by Redis, (2) the rule states and outbox entries
 * decided from that state are acknowledged by Redis, (3) every trigger and
 * dead-letter record of the batch is acknowledged by Kafka. Walk through a
 * crash between (2) and (3): the restarted process re-publishes the outbox
 * (same bytes, same trigger_id), then re-consumes the batch; the events are
 * duplicates, the rule states already say "open", so nothing fires twice
 * under a new id. A crash between (1) and (2): the replayed events change
 * nothing but the signals read back are the same, so the same decisions
 * are made with the same episode numbers and ids.
 *
 * Journey stage events ride the same path as triggers: after the state
 * update, jd_signals_observe() decides (pure) whether the account reached
 * healthy adoption or changed stage; the change is stored by the same
 * commit script that puts the encoded stage event in the outbox (id
 * "s:<event id>"), and it is published, acknowledged and removed from the
 * outbox with the batch's triggers. A replay finds the stage already
 * stored, so it decides nothing again; an undelivered event is re-sent
 * from the outbox with its deterministic id.
 *
 * A dependency down mid-batch (Redis unreachable, Kafka not acknowledging):
 * the step is retried with capped exponential back-off, and meanwhile the
 * assigned partitions are paused and the consumer keeps being polled
 * (jd_consumer_keepalive), so the instance stays in its group and serves
 * rebalances; nothing new is fetched, so memory stays at one batch. The
 * partitions are resumed before the next poll. A revoke served while paused
 * gives the partitions up at once (their offsets for the batch in flight are
 * not stored, so the new owner replays it: state updates are idempotent and
 * trigger ids deterministic); outside an outage a revoke can only be served
 * between batches, i.e. after the batch is finished, flushed and stored.
 *
 * Stop (SIGTERM/SIGINT): the batch in flight is finished - applied,
 * committed, published, acknowledged, its offsets stored - and the consumer
 * closes with a synchronous commit. If that takes longer than
 * pipeline.shutdown_timeout_ms (a dependency is down), the batch is given up
 * and replayed by the next run; either way the exit status is 0.
 *
 * Memory is bounded by pipeline.batch_size and limits.max_batch_bytes (a
 * batch is cut before the message that would pass it; the rest wait in
 * pl_msgs for the next batch, in order, their offsets not stored): messages, decoded events (in an
 * arena reset per batch) and per-account slices are sized for one batch and
 * reused. Runs on one thread; librdkafka's threads only call back into
 * jd_producer inside jd_producer_wait().
 */
#include "jd_pipeline.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "jd_arena.h"
#include "jd_codec.h"
#include "jd_engine.h"
#include "jd_consumer.h"
#include "jd_decoder_conf.h"
#include "jd_log.h"
#include "jd_ops.h"
#include "jd_outcomes.h"
#include "jd_producer.h"
#include "jd_registry.h"
#include "jd_segment.h"
#include "jd_stage.h"
#include "jd_state.h"
#include "jd_store.h"
#include "jd_wait.h"
#include "jd_window.h"

static volatile sig_atomic_t jd_pipeline_stopping;

void jd_pipeline_stop(void)
{
    jd_pipeline_stopping = 1;
    jd_wait_request_stop(); /* the in-memory engine's flag */
}

/* A decided trigger or stage event on its way out. */
typedef struct jd_out {
    int              ot_stage;      /* a stage event (ot_se), else ot_tr */
    jd_trigger_t     ot_tr;
    jd_stage_event_t ot_se;
    char             ot_oid[JD_STAGE_ID_LEN + 8]; /* its outbox id */
    jd_buf_t         ot_payload;
    jd_delivery_t    ot_dl;
    size_t           ot_account;    /* index into pl_abs */
} jd_out_t;

/* The message a decision names as its source. */
typedef struct jd_src {
    const char *sr_topic;
    int32_t     sr_partition;
    int64_t     sr_offset;
} jd_src_t;

/* A segment that closes after the round being planned, and the timer
 * watermark its partition's timers then run to (JD_SEG_NO_TIME: none). */
typedef struct jd_close {
    jd_seg_t *cl_seg;
    int64_t   cl_position;   /* the first offset after the cut */
    int64_t   cl_clock;      /* the partition's clock before it */
    int64_t   cl_watermark;
    int       cl_done;       /* completed by an earlier owner: no decisions */
} jd_close_t;

/* A partition of the batch. */
typedef struct jd_touch {
    jd_seg_t *tc_seg;
    int       tc_begun;  /* a message of it was read */
    int       tc_stop;   /* the round being planned ends for it */
    int64_t   tc_from;   /* its first offset in the batch */
} jd_touch_t;

#define JD_PIPELINE_TIDX 300 /* "timers:" + a topic name (<= 249) + ":" + partition */

typedef struct jd_pipeline {
    const jd_config_t   *pl_cf;
    const jd_ruleset_t  *pl_rs;
    const jd_pipeline_opts_t *pl_opts;
    jd_pipeline_stats_t *pl_stats;
    jd_consumer_t       *pl_consumer;
    jd_producer_t       *pl_producer;
    jd_state_t          *pl_state;
    jd_store_t          *pl_store;     /* the rule outcome sets */
    jd_decoder_t        *pl_decoder;
    jd_encoder_t        *pl_encoder;
    jd_stage_codec_t    *pl_stage_codec;
    jd_registry_t       *pl_registry;   /* NULL without schemas.registry.url */
    jd_registry_ids_t    pl_ids;        /* framing ids of outbound records */
    jd_arena_t           pl_arena;
    jd_arena_t           pl_tarena;     /* account ids of a timer round */
    size_t               pl_max;        /* batch size */
    rd_kafka_message_t **pl_msgs;
    size_t               pl_nmsgs;
    size_t               pl_nleft;      /* polled, cut off the batch: after pl_nmsgs */
    jd_event_t          *pl_events;
    size_t              *pl_ev_msg;     /* event -> message index */
    size_t              *pl_ev_acct;    /* event -> account index */
    size_t               pl_nevents;
    const jd_event_t   **pl_ev_sorted;  /* events grouped by account */
    jd_account_batch_t  *pl_abs;
    size_t              *pl_cursor;     /* per account: grouping cursor */
    size_t               pl_acap;       /* capacity of the per-account arrays */
    unsigned char       *pl_decide;     /* per account: decided this round */
    jd_src_t            *pl_src;        /* per account: its decision's source */
    size_t               pl_naccts;
    size_t              *pl_slots;      /* open addressing: account index+1 */
    size_t               pl_nslots;
    jd_rule_state_t     *pl_rstates;    /* naccts x rule_cnt */
    unsigned char       *pl_changed;    /* naccts x rule_cnt */
    jd_signals_change_t *pl_journey;    /* per account: stage/adoption */
    const char         **pl_rule_ids;
    size_t               pl_rule_cnt;
    jd_out_t            *pl_outs;
    size_t               pl_nouts, pl_outs_cap;
    jd_delivery_t       *pl_dlq_dl;     /* one per message */
    jd_err_t            *pl_dlq_err;    /* one per message */
    jd_segs_t           *pl_segs;       /* per-partition decision points */
    jd_seg_t           **pl_msg_seg;    /* message -> its partition's segment */
    size_t              *pl_msg_round;  /* message -> round of the batch
                                           (SIZE_MAX: not planned yet) */
    size_t              *pl_msg_ev;     /* message -> event (SIZE_MAX: none) */
    size_t               pl_nrounds;
    jd_close_t          *pl_closes;     /* segments closing after the round */
    size_t               pl_nclose, pl_close_cap;
    jd_touch_t          *pl_touch;      /* partitions of this batch */
    size_t               pl_ntouch;
    unsigned             pl_rebalances; /* jd_consumer_rebalances at the last plan */
    size_t               pl_out0;       /* first out of the decision in progress */
    char               (*pl_tidx)[JD_PIPELINE_TIDX]; /* per account: its timer
                                           index, "timers:TOPIC:PARTITION" */
    const char          *pl_round_idx;  /* the index a timer round reads */
    int                  pl_group_wait; /* caught up, waiting for the group's
                                           other partitions (timers_all) */
    int                  pl_ended;      /* --max-events reached: input ends;
                                           every open segment closes */
    unsigned char       *pl_skip;       /* per account: rules not decided
                                           (already decided at a later
                                           event time, by a timer) */
    int                  pl_timer_pass; /* deciding for timers, not events */
    jd_outcomes_t       *pl_outcomes;   /* per-rule outcome measurement */
    jd_rule_state_t     *pl_before;     /* one account's states before deciding */
    jd_decision_t       *pl_dec;        /* and each rule's decision */
    int                  pl_backoff_ms;
    int64_t              pl_stop_deadline; /* set at the first check after a stop */
} jd_pipeline_t;

static int64_t jd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds since t0 (jd_now_ms clock, microsecond resolution). */
static double jd_since(const struct timespec *t0)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - t0->tv_sec) + (double)(ts.tv_nsec - t0->tv_nsec) / 1e9;
}

static void jd_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* True once a stop was requested and pipeline.shutdown_timeout_ms has
 * passed since: retry loops then give the batch in flight up. */
static int jd_pipeline_give_up(jd_pipeline_t *pl)
{
    int64_t now;
    if (!jd_pipeline_stopping)
        return 0;
    now = jd_now_ms();
    if (!pl->pl_stop_deadline) {
        pl->pl_stop_deadline = now + pl->pl_cf->cf_shutdown_timeout_ms;
        JD_INFO("pipeline", "stopping: finishing the batch in flight (at most %d ms)",
                pl->pl_cf->cf_shutdown_timeout_ms);
    }
    return now >= pl->pl_stop_deadline;
}

/* Milliseconds a wait may last: `ms`, or less when a stop is pending. */
static int jd_pipeline_wait_bound(jd_pipeline_t *pl, int ms)
{
    int64_t left;
    if (!jd_pipeline_stopping || jd_pipeline_give_up(pl))
        return jd_pipeline_stopping ? 0 : ms;
    left = pl->pl_stop_deadline - jd_now_ms();
    return left < ms ? (int)left : ms;
}

/* Waits ms: sleeping before the consumer exists; afterwards with the
 * partitions paused, polling the consumer so the group keeps us. */
static void jd_pipeline_wait(jd_pipeline_t *pl, int ms)
{
    int64_t end = jd_now_ms() + ms, now;
    if (!pl->pl_consumer) {
        jd_sleep_ms(ms);
        return;
    }
    jd_consumer_pause(pl->pl_consumer);
    while ((now = jd_now_ms()) < end && !jd_pipeline_give_up(pl)) {
        int slice = end - now < 200 ? (int)(end - now) : 200; /* notice a stop soon */
        jd_consumer_keepalive(pl->pl_consumer, jd_pipeline_wait_bound(pl, slice));
    }
}

/* Exponential back-off for dependencies that are down; reset on success. */
static void jd_pipeline_backoff(jd_pipeline_t *pl, const char *what, const jd_err_t *err)
{
    pl->pl_backoff_ms = pl->pl_backoff_ms ? pl->pl_backoff_ms * 2 : 100;
    if (pl->pl_backoff_ms > pl->pl_cf->cf_retry_backoff_max_ms)
        pl->pl_backoff_ms = pl->pl_cf->cf_retry_backoff_max_ms;
    JD_WARN("pipeline", "%s: %s; retrying in %d ms", what, err->err_msg, pl->pl_backoff_ms);
    jd_pipeline_wait(pl, jd_pipeline_wait_bound(pl, pl->pl_backoff_ms));
}

/* ---- set-up ------------------------------------------------------------ */

/* Grows a per-account array of `each`-byte items from old to cap items. */
static int jd_grow(void *pp, size_t each, size_t old, size_t cap)
{
    void **p = pp;
    unsigned char *np = realloc(*p, cap * each);
    if (!np)
        return -1;
    memset(np + old * each, 0, (cap - old) * each);
    *p = np;
    return 0;
}

/* Makes room for `need` accounts in one round: the per-account arrays and
 * the hash table (emptied: call before grouping). */
static int jd_pipeline_reserve(jd_pipeline_t *pl, size_t need)
{
    size_t old = pl->pl_acap, cap = old, rc = pl->pl_rule_cnt ? pl->pl_rule_cnt : 1;
    if (need <= old)
        return 0;
    while (cap < need)
        cap = cap ? 2 * cap : 64;
    if (jd_grow(&pl->pl_abs, sizeof *pl->pl_abs, old, cap) ||
        jd_grow(&pl->pl_cursor, sizeof *pl->pl_cursor, old, cap) ||
        jd_grow(&pl->pl_rstates, rc * sizeof *pl->pl_rstates, old, cap) ||
        jd_grow(&pl->pl_changed, rc, old, cap) ||
        jd_grow(&pl->pl_journey, sizeof *pl->pl_journey, old, cap) ||
        jd_grow(&pl->pl_tidx, sizeof *pl->pl_tidx, old, cap) ||
        jd_grow(&pl->pl_skip, 1, old, cap) || jd_grow(&pl->pl_decide, 1, old, cap) ||
        jd_grow(&pl->pl_src, sizeof *pl->pl_src, old, cap))
        return JD_ERR_FATAL;
    pl->pl_acap = cap;
    free(pl->pl_slots);
    for (pl->pl_nslots = 1; pl->pl_nslots < 2 * cap;)
        pl->pl_nslots <<= 1;
    pl->pl_slots = calloc(pl->pl_nslots, sizeof *pl->pl_slots);
    return pl->pl_slots ? 0 : JD_ERR_FATAL;
}

static int jd_pipeline_alloc(jd_pipeline_t *pl, jd_err_t *err)
{
    size_t n = pl->pl_max, rc = pl->pl_rule_cnt ? pl->pl_rule_cnt : 1;
    pl->pl_msgs = calloc(n, sizeof *pl->pl_msgs);
    pl->pl_events = calloc(n, sizeof *pl->pl_events);
    pl->pl_ev_msg = calloc(n, sizeof *pl->pl_ev_msg);
    pl->pl_ev_sorted = calloc(n, sizeof *pl->pl_ev_sorted);
    pl->pl_ev_acct = calloc(n, sizeof *pl->pl_ev_acct);
    pl->pl_msg_seg = calloc(n, sizeof *pl->pl_msg_seg);
    pl->pl_msg_round = calloc(n, sizeof *pl->pl_msg_round);
    pl->pl_msg_ev = calloc(n, sizeof *pl->pl_msg_ev);
    pl->pl_touch = calloc(n, sizeof *pl->pl_touch);
    pl->pl_rule_ids = calloc(rc, sizeof *pl->pl_rule_ids);
    pl->pl_dlq_dl = calloc(n, sizeof *pl->pl_dlq_dl);
    pl->pl_dlq_err = calloc(n, sizeof *pl->pl_dlq_err);
    pl->pl_before = calloc(rc, sizeof *pl->pl_before);
    pl->pl_dec = calloc(rc, sizeof *pl->pl_dec);
    pl->pl_segs = jd_segs_new(pl->pl_cf->cf_decision_interval);
    if (!pl->pl_before || !pl->pl_dec || !pl->pl_msgs || !pl->pl_events || !pl->pl_ev_msg ||
        !pl->pl_ev_sorted || !pl->pl_ev_acct || !pl->pl_msg_seg || !pl->pl_msg_round ||
        !pl->pl_touch || !pl->pl_rule_ids || !pl->pl_dlq_dl || !pl->pl_dlq_err ||
        !pl->pl_msg_ev || !pl->pl_segs || jd_pipeline_reserve(pl, n))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM,
                          "out of memory for a batch of %zu", n);
    for (size_t i = 0; i < pl->pl_rule_cnt; i++)
        pl->pl_rule_ids[i] = jd_rule_id(jd_rules_at(pl->pl_rs, i));
    jd_arena_init(&pl->pl_arena, 256 * 1024);
    jd_arena_init(&pl->pl_tarena, 16 * 1024);
    return 0;
}

static int jd_pipeline_decoder(jd_pipeline_t *pl, jd_err_t *err)
{
    if (!(pl->pl_decoder = jd_decoder_from_config(pl->pl_cf, err)))
        return -1;
    pl->pl_encoder = jd_encoder_new(err);
    if (pl->pl_encoder)
        pl->pl_stage_codec = jd_stage_codec_new(err);
    return pl->pl_encoder && pl->pl_stage_codec ? 0 : -1;
}

/* The schema registry (when configured): unknown ids are fetched from it,
 * and the outbound framing ids come from it; waits while it is down. */
static int jd_pipeline_registry(jd_pipeline_t *pl, jd_err_t *err)
{
    int rc;
    if (pl->pl_cf->cf_registry_url[0]) {
        if (!(pl->pl_registry = jd_registry_new(pl->pl_cf, err)))
            return -1;
        jd_decoder_set_fetch(pl->pl_decoder, jd_registry_fetch_cb, pl->pl_registry);
    }
    while ((rc = jd_registry_outbound_ids(pl->pl_registry, pl->pl_cf, &pl->pl_ids, err)) ==
               JD_ERR_RETRY && !jd_pipeline_give_up(pl))
        jd_pipeline_backoff(pl, "registering outbound schemas", err);
    pl->pl_backoff_ms = 0;
    return rc ? -1 : 0;
}

static int jd_pipeline_state(jd_pipeline_t *pl, jd_err_t *err)
{
    jd_state_conf_t sc;

    jd_config_state(pl->pl_cf, &sc);
    for (;;) {
        pl->pl_state = jd_state_new(&sc, err);
        if (pl->pl_state || err->err_class != JD_ERR_RETRY || jd_pipeline_stopping)
            break;
        jd_pipeline_backoff(pl, "connecting to Redis", err);
    }
    pl->pl_backoff_ms = 0;
    if (!pl->pl_state)
        return -1;
    jd_store_conf_t stc;
    jd_config_store_conf(pl->pl_cf, &stc);
    return (pl->pl_store = jd_store_new(&stc, err)) ? 0 : -1;
}

static const char *jd_pipeline_topic(const jd_pipeline_t *pl, const jd_out_t *o)
{
    if (o->ot_stage)
        return pl->pl_cf->cf_topic_stage;
    if (o->ot_tr.tr_shadow)
        return pl->pl_cf->cf_topic_shadow; /* never a trigger topic */
    switch (o->ot_tr.tr_kind) {
    case JD_KIND_RISK: return pl->pl_cf->cf_topic_risk;
    case JD_KIND_RENEWAL_READINESS: return pl->pl_cf->cf_topic_renewal;
    default: return pl->pl_cf->cf_topic_expansion;
    }
}

/* ---- decode and dead-letter -------------------------------------------- */

/* Sends message mi, with the reason in pl_dlq_err[mi], to the dead-letter
 * topic: original key and value, the reason and source in headers. */
static void jd_pipeline_dlq_send(jd_pipeline_t *pl, size_t mi)
{
    rd_kafka_message_t *m = pl->pl_msgs[mi];
    const jd_err_t *derr = &pl->pl_dlq_err[mi];
    char part[16], off[24], key[512] = "";
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    const char *reason = jd_err_code_name(derr->err_code);
    jd_header_t h[5] = {
        {"jd.reason", reason, strlen(reason)},
        {"jd.error", derr->err_msg, strlen(derr->err_msg)},
        {"jd.source.topic", topic, strlen(topic)},
        {"jd.source.partition", part, 0},
        {"jd.source.offset", off, 0},
    };
    jd_err_t err;

    h[3].hd_len = (size_t)snprintf(part, sizeof part, "%d", (int)m->partition);
    h[4].hd_len = (size_t)snprintf(off, sizeof off, "%lld", (long long)m->offset);
    if (m->key && m->key_len < sizeof key) {
        memcpy(key, m->key, m->key_len);
        key[m->key_len] = '\0';
    }
    jd_producer_send(pl->pl_producer, pl->pl_cf->cf_topic_dlq, key[0] ? key : NULL,
                     m->payload, m->len, h, 5, &pl->pl_dlq_dl[mi], &err);
}

static void jd_pipeline_dead_letter(jd_pipeline_t *pl, size_t mi, const jd_err_t *derr)
{
    rd_kafka_message_t *m = pl->pl_msgs[mi];
    pl->pl_dlq_err[mi] = *derr;
    pl->pl_stats->ps_dead_letters++;
    pl->pl_stats->ps_dlq_by_reason[derr->err_code]++;
    jd_ops_decode_error(derr->err_code);
    JD_WARN("pipeline", "dead-letter %s[%d]@%lld: %s: %s",
            m->rkt ? rd_kafka_topic_name(m->rkt) : "", (int)m->partition,
            (long long)m->offset, jd_err_code_name(derr->err_code), derr->err_msg);
    jd_pipeline_dlq_send(pl, mi);
}

static void jd_pipeline_decode(jd_pipeline_t *pl)
{
    jd_arena_reset(&pl->pl_arena);
    pl->pl_nevents = 0;
    for (size_t i = 0; i < pl->pl_nmsgs; i++) {
        rd_kafka_message_t *m = pl->pl_msgs[i];
        jd_event_t *ev = &pl->pl_events[pl->pl_nevents];
        jd_err_t err;
        pl->pl_dlq_dl[i].dl_done = 1;
        pl->pl_dlq_dl[i].dl_err = 0;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                JD_WARN("consumer", "consume error: %s", rd_kafka_message_errstr(m));
            continue;
        }
        pl->pl_stats->ps_messages++;
        jd_ops_consumed(m->rkt ? rd_kafka_topic_name(m->rkt) : "", (int)m->partition);
        if (jd_decoder_decode(pl->pl_decoder, m->payload, m->len, &pl->pl_arena, ev, &err)) {
            jd_pipeline_dead_letter(pl, i, &err);
            continue;
        }
        jd_ops_event_time(ev->ev_occurred_at);
        if (ev->ev_type == JD_EV_UNKNOWN)
            pl->pl_stats->ps_unknown_types++;
        pl->pl_ev_msg[pl->pl_nevents++] = i;
    }
    pl->pl_stats->ps_events += pl->pl_nevents;
}

/* ---- group by account -------------------------------------------------- */

static size_t jd_pipeline_account_index(jd_pipeline_t *pl, const char *account)
{
    size_t mask = pl->pl_nslots - 1;
    size_t h = (size_t)XXH3_64bits(account, strlen(account)) & mask;
    for (;; h = (h + 1) & mask) {
        size_t s = pl->pl_slots[h];
        if (!s) {
            size_t idx = pl->pl_naccts++;
            pl->pl_slots[h] = idx + 1;
            memset(&pl->pl_abs[idx], 0, sizeof pl->pl_abs[idx]);
            pl->pl_abs[idx].ab_account = account;
            pl->pl_abs[idx].ab_rule_states = &pl->pl_rstates[idx * pl->pl_rule_cnt];
            pl->pl_decide[idx] = 0;
            return idx;
        }
        if (strcmp(pl->pl_abs[s - 1].ab_account, account) == 0)
            return s - 1;
    }
}

/* Counting sort of round r's events by account, keeping arrival order
 * within an account (ev_acct is SIZE_MAX for events of other rounds). */
static void jd_pipeline_group(jd_pipeline_t *pl, size_t r)
{
    size_t *cursor = pl->pl_cursor, *ev_acct = pl->pl_ev_acct;

    memset(pl->pl_slots, 0, pl->pl_nslots * sizeof *pl->pl_slots);
    pl->pl_naccts = 0;
    for (size_t i = 0; i < pl->pl_nevents; i++) {
        if (pl->pl_msg_round[pl->pl_ev_msg[i]] != r) {
            ev_acct[i] = SIZE_MAX;
            continue;
        }
        size_t a = jd_pipeline_account_index(pl, pl->pl_events[i].ev_account);
        ev_acct[i] = a;
        pl->pl_abs[a].ab_event_cnt++;
    }
    size_t off = 0;
    for (size_t a = 0; a < pl->pl_naccts; a++) {
        cursor[a] = off;
        pl->pl_abs[a].ab_events = &pl->pl_ev_sorted[off];
        off += pl->pl_abs[a].ab_event_cnt;
    }
    for (size_t i = 0; i < pl->pl_nevents; i++)
        if (ev_acct[i] != SIZE_MAX)
            pl->pl_ev_sorted[cursor[ev_acct[i]]++] = &pl->pl_events[i];
}

/* ---- state and decisions ----------------------------------------------- */

/* Retries a Redis step until it succeeds or a stop is requested. */
#define JD_PIPELINE_RETRY(pl, what, call)                                   \
    do {                                                                    \
        jd_err_t err_;                                                      \
        int rc_;                                                            \
        while ((rc_ = (call)) == JD_ERR_RETRY && !jd_pipeline_give_up(pl)) \
            jd_pipeline_backoff((pl), (what), &err_);                       \
        if (rc_ == 0)                                                       \
            (pl)->pl_backoff_ms = 0;                                        \
        else if (rc_ != JD_ERR_RETRY) {                                     \
            JD_ERROR("pipeline", "%s: %s", (what), err_.err_msg);           \
            return rc_;                                                     \
        } else                                                              \
            return JD_ERR_RETRY;                                            \
    } while (0)

/* One attempt of the apply round trip, timed for the metrics. */
static int jd_pipeline_apply_once(jd_pipeline_t *pl, jd_err_t *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = jd_state_apply(pl->pl_state, pl->pl_abs, pl->pl_naccts, pl->pl_rule_ids,
                            pl->pl_rule_cnt, err);
    jd_ops_redis("apply", jd_since(&t0), rc == 0);
    return rc;
}

static int jd_pipeline_apply(jd_pipeline_t *pl)
{
    JD_PIPELINE_RETRY(pl, "applying events to Redis", jd_pipeline_apply_once(pl, &err_));
    for (size_t a = 0; a < pl->pl_naccts; a++) {
        pl->pl_stats->ps_applied += pl->pl_abs[a].ab_applied;
        pl->pl_stats->ps_duplicates += pl->pl_abs[a].ab_duplicates;
        pl->pl_stats->ps_late += pl->pl_abs[a].ab_late_dropped;
    }
    return 0;
}

static const char *jd_out_account(const jd_out_t *o)
{
    return o->ot_stage ? o->ot_se.se_account : o->ot_tr.tr_account;
}

static jd_out_t *jd_pipeline_out_new(jd_pipeline_t *pl)
{
    if (pl->pl_nouts == pl->pl_outs_cap) {
        size_t cap = pl->pl_outs_cap ? 2 * pl->pl_outs_cap : 64;
        jd_out_t *no = realloc(pl->pl_outs, cap * sizeof *no);
        if (!no)
            return NULL;
        memset(no + pl->pl_outs_cap, 0, (cap - pl->pl_outs_cap) * sizeof *no);
        pl->pl_outs = no;
        pl->pl_outs_cap = cap;
    }
    return &pl->pl_outs[pl->pl_nouts++];
}

/* The numeric signals behind stage decisions, as a stage event's evidence. */
static void jd_pipeline_stage_evidence(const jd_signals_t *sg, jd_stage_event_t *se)
{
    static const jd_signal_id_t ids[] = {
        JD_SIG_DAYS_TO_RENEWAL, JD_SIG_UTILIZATION, JD_SIG_FEATURE_BREADTH_28D,
        JD_SIG_DAYS_SINCE_START, JD_SIG_TTFV_DAYS, JD_SIG_HEALTH_SCORE};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        const jd_value_t *v = jd_signals_get(sg, ids[i]);
        jd_evidence_t *evd = &se->se_evidence[se->se_evidence_cnt];
        if (v->type != JD_VAL_NUM || se->se_evidence_cnt == JD_STAGE_EVIDENCE_MAX)
            continue;
        snprintf(evd->evd_name, sizeof evd->evd_name, "%s", jd_signals_name(ids[i]));
        evd->evd_value = v->num;
        se->se_evidence_cnt++;
    }
}

/* Builds and encodes account a's stage event (its journey changed stage). */
static int jd_pipeline_stage_out(jd_pipeline_t *pl, size_t a, const jd_src_t *src)
{
    const jd_account_batch_t *ab = &pl->pl_abs[a];
    const jd_signals_change_t *ch = &pl->pl_journey[a];
    const jd_value_t *seg = jd_signals_get(&ab->ab_signals, JD_SIG_SEGMENT);
    jd_out_t *o = jd_pipeline_out_new(pl);
    jd_stage_event_t *se;
    jd_err_t err;

    if (!o)
        return jd_err_set(&err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    o->ot_stage = 1;
    o->ot_account = a;
    se = &o->ot_se;
    memset(se, 0, sizeof *se);
    jd_stage_event_make_id(se->se_id, ab->ab_account, ch->ch_seq, ch->ch_stage_name,
                           ch->ch_at);
    se->se_sequence = ch->ch_seq;
    snprintf(o->ot_oid, sizeof o->ot_oid, "%s%s", JD_STATE_STAGE_PREFIX, se->se_id);
    snprintf(se->se_account, sizeof se->se_account, "%s", ab->ab_account);
    snprintf(se->se_stage, sizeof se->se_stage, "%s", ch->ch_stage_name);
    if ((se->se_has_previous = ch->ch_previous != NULL))
        snprintf(se->se_previous, sizeof se->se_previous, "%s", ch->ch_previous);
    se->se_changed_at = ch->ch_at;
    snprintf(se->se_cause, sizeof se->se_cause, "%s", ch->ch_cause ? ch->ch_cause : "");
    if ((se->se_has_cause_at = ch->ch_cause_at != JD_SIGNALS_NO_TS))
        se->se_cause_at = ch->ch_cause_at;
    if ((se->se_has_segment = seg->type == JD_VAL_STR))
        snprintf(se->se_segment, sizeof se->se_segment, "%s", seg->str);
    jd_pipeline_stage_evidence(&ab->ab_signals, se);
    snprintf(se->se_source_topic, sizeof se->se_source_topic, "%s", src->sr_topic);
    se->se_source_partition = src->sr_partition;
    se->se_source_offset = src->sr_offset;
    if (jd_stage_encode(pl->pl_stage_codec, se, pl->pl_ids.ri_stage,
                        &o->ot_payload, &err)) {
        JD_ERROR("pipeline", "encoding stage event %s: %s", se->se_id, err.err_msg);
        return err.err_class;
    }
    return 0;
}

static void jd_pipeline_print_trigger(const jd_pipeline_t *pl, const jd_trigger_t *tr);
static void jd_pipeline_count_rule(jd_pipeline_t *pl, const jd_trigger_t *tr);

/* A shadow trigger with no shadow topic: counted and logged, never sent. */
static void jd_pipeline_shadow_only(jd_pipeline_t *pl, const jd_trigger_t *tr)
{
    pl->pl_stats->ps_shadow++;
    jd_pipeline_count_rule(pl, tr);
    JD_INFO("rules", "shadow %s %s %s: %s", jd_trigger_status_symbol(tr->tr_status),
            tr->tr_rule_id, tr->tr_account, tr->tr_reason);
    jd_pipeline_print_trigger(pl, tr);
}

/* Observes one account's journey (healthy adoption, stage), then decides
 * its triggers on the observed signals, and encodes both into pl_outs. */
static int jd_pipeline_decide_account(jd_pipeline_t *pl, size_t a, jd_trigger_t *tmp)
{
    jd_account_batch_t *ab = &pl->pl_abs[a];
    const jd_src_t *src = pl->pl_timer_pass ? NULL : &pl->pl_src[a];
    int rc;

    memset(&pl->pl_journey[a], 0, sizeof pl->pl_journey[a]);
    if (src) /* a timer leaves the journey to the account's next event */
        jd_signals_observe(&ab->ab_signals, jd_state_signals_conf(pl->pl_state),
                           &pl->pl_journey[a]);
    if (pl->pl_journey[a].ch_stage && (rc = jd_pipeline_stage_out(pl, a, src)))
        return rc;
    if (pl->pl_skip[a]) {
        memset(&pl->pl_changed[a * pl->pl_rule_cnt], 0, pl->pl_rule_cnt);
        return 0;
    }
    memcpy(pl->pl_before, ab->ab_rule_states, pl->pl_rule_cnt * sizeof *pl->pl_before);
    size_t nt = jd_rules_decide_ex(pl->pl_rs, ab->ab_account, &ab->ab_signals,
                                   ab->ab_rule_states, &pl->pl_changed[a * pl->pl_rule_cnt],
                                   pl->pl_dec, tmp, pl->pl_rule_cnt);
    if (jd_outcomes_note(pl->pl_outcomes, ab->ab_account, &ab->ab_signals, pl->pl_before,
                         ab->ab_rule_states, pl->pl_dec)) {
        jd_err_t err;
        return jd_err_set(&err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    for (size_t t = 0; t < nt; t++) {
        if (tmp[t].tr_shadow && !pl->pl_cf->cf_topic_shadow[0]) {
            jd_pipeline_shadow_only(pl, &tmp[t]);
            continue;
        }
        jd_out_t *o = jd_pipeline_out_new(pl);
        jd_err_t err;
        if (!o)
            return jd_err_set(&err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        o->ot_stage = 0;
        o->ot_tr = tmp[t];
        o->ot_account = a;
        snprintf(o->ot_oid, sizeof o->ot_oid, "%s", o->ot_tr.tr_id);
        snprintf(o->ot_tr.tr_source_topic, sizeof o->ot_tr.tr_source_topic, "%s",
                 src ? src->sr_topic : "");
        o->ot_tr.tr_source_partition = src ? src->sr_partition : -1;
        o->ot_tr.tr_source_offset = src ? src->sr_offset : -1;
        if (jd_encoder_trigger(pl->pl_encoder, &o->ot_tr, pl->pl_ids.ri_trigger[o->ot_tr.tr_kind],
                               &o->ot_payload, &err)) {
            JD_ERROR("pipeline", "encoding trigger %s: %s", o->ot_tr.tr_id, err.err_msg);
            return err.err_class;
        }
    }
    return 0;
}

/* Decides the accounts of the closing segments (pl_decide); the others
 * of the round wait for their own segment to close. */
static int jd_pipeline_decide(jd_pipeline_t *pl)
{
    jd_trigger_t *tmp = calloc(pl->pl_rule_cnt ? pl->pl_rule_cnt : 1, sizeof *tmp);
    int rc = tmp ? 0 : JD_ERR_FATAL;
    pl->pl_out0 = pl->pl_nouts;
    for (size_t a = 0; a < pl->pl_naccts && !rc; a++) {
        if (!pl->pl_decide[a]) {
            memset(&pl->pl_changed[a * pl->pl_rule_cnt], 0, pl->pl_rule_cnt);
            memset(&pl->pl_journey[a], 0, sizeof pl->pl_journey[a]);
            continue;
        }
        /* rules move forward in event time only: a timer decided this
         * account at a later instant; these late events count at the next
         * deadline */
        const jd_value_t *as_of = jd_signals_get(&pl->pl_abs[a].ab_signals, JD_SIG_AS_OF);
        int64_t ra = pl->pl_abs[a].ab_rules_at;
        pl->pl_skip[a] = ra != JD_SIGNALS_NO_TS && as_of->type == JD_VAL_NUM &&
                         as_of->num < (double)ra;
        rc = jd_pipeline_decide_account(pl, a, tmp);
    }
    free(tmp);
    return rc;
}

/* Scratch for one batch's commits: flat arrays that jd_state_commit_t
 * entries point into. */
typedef struct jd_commit_buf {
    jd_state_commit_t    *cb_cms;
    const char          **cb_rule_ids;
    jd_rule_state_t      *cb_states;
    const char          **cb_tids;
    const unsigned char **cb_payloads;
    size_t               *cb_lens;
    size_t               *cb_acct;      /* entry -> account index */
    unsigned char        *cb_conflicts; /* entry lost its claim */
} jd_commit_buf_t;

static void jd_commit_buf_free(jd_commit_buf_t *cb)
{
    free(cb->cb_cms);
    free(cb->cb_rule_ids);
    free(cb->cb_states);
    free(cb->cb_tids);
    free(cb->cb_payloads);
    free(cb->cb_lens);
    free(cb->cb_acct);
    free(cb->cb_conflicts);
}

static int jd_commit_buf_alloc(jd_commit_buf_t *cb, const jd_pipeline_t *pl)
{
    size_t na = pl->pl_naccts ? pl->pl_naccts : 1;
    size_t cap = na * (pl->pl_rule_cnt ? pl->pl_rule_cnt : 1);
    size_t nouts = pl->pl_nouts ? pl->pl_nouts : 1;

    cb->cb_cms = calloc(na, sizeof *cb->cb_cms);
    cb->cb_rule_ids = calloc(cap, sizeof *cb->cb_rule_ids);
    cb->cb_states = calloc(cap, sizeof *cb->cb_states);
    cb->cb_tids = calloc(nouts, sizeof *cb->cb_tids);
    cb->cb_payloads = calloc(nouts, sizeof *cb->cb_payloads);
    cb->cb_lens = calloc(nouts, sizeof *cb->cb_lens);
    cb->cb_acct = calloc(na, sizeof *cb->cb_acct);
    cb->cb_conflicts = calloc(na, 1);
    return cb->cb_cms && cb->cb_rule_ids && cb->cb_states && cb->cb_tids &&
                   cb->cb_payloads && cb->cb_lens && cb->cb_acct && cb->cb_conflicts
               ? 0 : -1;
}

/* Fills cb with one entry per account whose rule states or journey
 * changed, or that has events for the outbox; only the accounts marked in
 * `only` when it is not NULL. pl_outs is in account order. Each entry
 * claims the account at the commit count it was read with. */
static size_t jd_pipeline_commits(jd_pipeline_t *pl, jd_commit_buf_t *cb,
                                  const unsigned char *only)
{
    size_t nr = 0, nt = 0, ncm = 0, o = pl->pl_out0;
    for (size_t a = 0; a < pl->pl_naccts; a++) {
        jd_state_commit_t *cm = &cb->cb_cms[ncm];
        while (o < pl->pl_nouts && pl->pl_outs[o].ot_account < a)
            o++;
        if (only && !only[a])
            continue;
        memset(cm, 0, sizeof *cm);
        cm->cm_account = pl->pl_abs[a].ab_account;
        cm->cm_claim = pl->pl_abs[a].ab_claim;
        cm->cm_rule_ids = &cb->cb_rule_ids[nr];
        cm->cm_states = &cb->cb_states[nr];
        for (size_t r = 0; r < pl->pl_rule_cnt; r++) {
            if (!pl->pl_changed[a * pl->pl_rule_cnt + r])
                continue;
            cb->cb_rule_ids[nr] = pl->pl_rule_ids[r];
            cb->cb_states[nr++] = pl->pl_abs[a].ab_rule_states[r];
            cm->cm_rule_cnt++;
        }
        cm->cm_trigger_ids = &cb->cb_tids[nt];
        cm->cm_payloads = &cb->cb_payloads[nt];
        cm->cm_payload_lens = &cb->cb_lens[nt];
        for (; o < pl->pl_nouts && pl->pl_outs[o].ot_account == a; o++) {
            cb->cb_tids[nt] = pl->pl_outs[o].ot_oid;
            cb->cb_payloads[nt] = pl->pl_outs[o].ot_payload.b_data;
            cb->cb_lens[nt++] = pl->pl_outs[o].ot_payload.b_len;
            cm->cm_trigger_cnt++;
        }
        if (pl->pl_journey[a].ch_stage || pl->pl_journey[a].ch_healthy_adoption)
            cm->cm_change = &pl->pl_journey[a];
        if (cm->cm_rule_cnt || cm->cm_trigger_cnt || cm->cm_change)
            cb->cb_acct[ncm++] = a;
    }
    return ncm;
}

/* One commit of the accounts marked in `only` (NULL: all): the rule
 * outcomes first, then the states and outbox entries. lost[a] is set for
 * each account whose claim was lost (nothing of it written), cleared for
 * the others; *nlost counts them. */
static int jd_pipeline_commit_once(jd_pipeline_t *pl, const unsigned char *only,
                                   unsigned char *lost, size_t *nlost)
{
    jd_commit_buf_t cb;
    int rc = 0;

    *nlost = 0;
    if (jd_commit_buf_alloc(&cb, pl)) {
        jd_commit_buf_free(&cb);
        JD_ERROR("pipeline", "out of memory building commits");
        return JD_ERR_FATAL;
    }
    size_t ncm = jd_pipeline_commits(pl, &cb, only);
    /* outcomes first: a crash before the commit repeats the same decisions */
    do {
        jd_err_t err_;
        while ((rc = jd_outcomes_flush(pl->pl_outcomes, pl->pl_store, &err_)) == JD_ERR_RETRY &&
               !jd_pipeline_give_up(pl))
            jd_pipeline_backoff(pl, "recording rule outcomes", &err_);
    } while (0);
    if (!rc && ncm) {
        jd_err_t err_;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while ((rc = jd_state_commit(pl->pl_state, cb.cb_cms, ncm, cb.cb_conflicts, &err_)) ==
                   JD_ERR_RETRY && !jd_pipeline_give_up(pl)) {
            jd_ops_redis("commit", 0, 0);
            jd_pipeline_backoff(pl, "committing rule states to Redis", &err_);
            clock_gettime(CLOCK_MONOTONIC, &t0);
        }
        jd_ops_redis("commit", jd_since(&t0), rc == 0);
        if (rc && rc != JD_ERR_RETRY)
            JD_ERROR("pipeline", "committing rule states: %s", err_.err_msg);
    }
    memset(lost, 0, pl->pl_naccts);
    for (size_t i = 0; !rc && i < ncm; i++)
        if (cb.cb_conflicts[i]) {
            lost[cb.cb_acct[i]] = 1;
            (*nlost)++;
        }
    jd_commit_buf_free(&cb);
    return rc;
}

/* ---- lost claims ---------------------------------------------------------
 *
 * With unkeyed input, or while a rebalance hands partitions over, two
 * instances may decide the same account at once. commit.lua stores a
 * decision only when the account had no other commit since the read it
 * was made from (state/commit.lua, "The claim"), so the other decision
 * wins or this one does, never both. A lost account's decided outs are
 * dropped (they were never stored, so they must not be published); the
 * account is read again - with every event both instances applied, and
 * the rule states the winner stored - decided again and committed again,
 * at most JD_PIPELINE_CLAIM_TRIES times. Should that commit lose too (a
 * rarity: the account lost every race), nothing is decided for it in this
 * batch; its events are in
 * its state and count at its next event or timer. Keyed input never
 * loses a claim: one instance decides each account, one batch at a time. */

#define JD_PIPELINE_CLAIM_TRIES 3

/* Drops the outs of the decision in progress (from pl_out0) of the
 * accounts marked in lost, keeping them in account order (entries are
 * swapped, so each keeps its own buffer). */
static void jd_pipeline_drop_outs(jd_pipeline_t *pl, const unsigned char *lost)
{
    size_t k = pl->pl_out0;
    for (size_t i = pl->pl_out0; i < pl->pl_nouts; i++) {
        if (lost[pl->pl_outs[i].ot_account])
            continue;
        if (i != k) {
            jd_out_t t = pl->pl_outs[k];
            pl->pl_outs[k] = pl->pl_outs[i];
            pl->pl_outs[i] = t;
        }
        k++;
    }
    pl->pl_nouts = k;
}

/* pl_outs[pl_out0..from) and [from..pl_nouts) are each in account order:
 * merges them into one. Returns 0 or -1 (out of memory). */
static int jd_pipeline_merge_outs(jd_pipeline_t *pl, size_t from)
{
    size_t n = pl->pl_nouts, i = pl->pl_out0, j = from, k = 0;
    jd_out_t *m = from < n ? malloc((n - i) * sizeof *m) : NULL;

    if (from >= n)
        return 0;
    if (!m)
        return -1;
    while (i < from || j < n)
        m[k++] = j == n || (i < from && pl->pl_outs[i].ot_account <= pl->pl_outs[j].ot_account)
                     ? pl->pl_outs[i++] : pl->pl_outs[j++];
    memcpy(pl->pl_outs + pl->pl_out0, m, k * sizeof *m);
    free(m);
    return 0;
}

/* Reads lost account a again, at the instant it was decided at for a
 * timer, else at its own latest event, and decides whether its rules are
 * to be decided (pl_skip, as the first decision did). */
static int jd_pipeline_reread(jd_pipeline_t *pl, size_t a)
{
    jd_account_batch_t *ab = &pl->pl_abs[a];
    const jd_value_t *v = jd_signals_get(&ab->ab_signals, JD_SIG_AS_OF);
    int64_t at = pl->pl_timer_pass && v->type == JD_VAL_NUM ? (int64_t)v->num
                                                            : JD_SIGNALS_NO_TS;

    JD_PIPELINE_RETRY(pl, "reading an account again after a lost claim",
                      jd_state_read_at(pl->pl_state, ab, 1, at, pl->pl_rule_ids,
                                       pl->pl_rule_cnt, &err_));
    const jd_value_t *as_of = jd_signals_get(&ab->ab_signals, JD_SIG_AS_OF);
    const jd_value_t *last = jd_signals_get(&ab->ab_signals, JD_SIG_LAST_EVENT_AT);
    int64_t ra = ab->ab_rules_at;
    if (pl->pl_timer_pass) /* stale now: events or an evaluation since */
        pl->pl_skip[a] = last->type != JD_VAL_NUM || last->num >= (double)at ||
                         (ra != JD_SIGNALS_NO_TS && ra >= at);
    else
        pl->pl_skip[a] = ra != JD_SIGNALS_NO_TS && as_of->type == JD_VAL_NUM &&
                         as_of->num < (double)ra;
    return 0;
}

/* One more try for the lost accounts: drop their outs, read them again
 * and, with `decide`, decide them again (their outs are appended, then
 * merged into account order); without it, leave them undecided. */
static int jd_pipeline_redecide(jd_pipeline_t *pl, const unsigned char *lost, int decide)
{
    jd_trigger_t *tmp = calloc(pl->pl_rule_cnt ? pl->pl_rule_cnt : 1, sizeof *tmp);
    size_t from;
    int rc = tmp ? 0 : JD_ERR_FATAL;

    jd_pipeline_drop_outs(pl, lost);
    from = pl->pl_nouts;
    for (size_t a = 0; a < pl->pl_naccts && !rc; a++) {
        if (!lost[a] || (rc = jd_pipeline_reread(pl, a)))
            continue;
        if (decide) {
            rc = jd_pipeline_decide_account(pl, a, tmp);
        } else {
            memset(&pl->pl_changed[a * pl->pl_rule_cnt], 0, pl->pl_rule_cnt);
            memset(&pl->pl_journey[a], 0, sizeof pl->pl_journey[a]);
        }
    }
    free(tmp);
    if (!rc && jd_pipeline_merge_outs(pl, from))
        rc = JD_ERR_FATAL;
    return rc;
}

/* Commits the batch's decisions; accounts that lose their claim are
 * decided again (see "lost claims" above). */
static int jd_pipeline_commit(jd_pipeline_t *pl)
{
    unsigned char *lost = calloc(pl->pl_naccts ? pl->pl_naccts : 1, 1);
    size_t nlost = 0;
    int rc = lost ? jd_pipeline_commit_once(pl, NULL, lost, &nlost) : JD_ERR_FATAL;

    for (int t = 1; !rc && nlost; t++) {
        int again = t <= JD_PIPELINE_CLAIM_TRIES;
        pl->pl_stats->ps_claims_lost += nlost;
        jd_ops_claims_lost(again ? "decided_again" : "given_up", nlost);
        if (!again) {
            pl->pl_stats->ps_claims_given_up += nlost;
            JD_WARN("pipeline", "%zu account(s) lost the claim to their rule states %d times "
                    "in a row: left undecided until their next event or timer", nlost, t);
        } else
            JD_DEBUG("pipeline", "%zu account(s) lost the claim to their rule states: "
                     "deciding them again", nlost);
        rc = jd_pipeline_redecide(pl, lost, again);
        if (!rc && again)
            rc = jd_pipeline_commit_once(pl, lost, lost, &nlost);
        else
            nlost = 0;
    }
    free(lost);
    return rc;
}

/* ---- publish ------------------------------------------------------------ */

static void jd_pipeline_print_trigger(const jd_pipeline_t *pl, const jd_trigger_t *tr)
{
    FILE *f = pl->pl_opts->po_trigger_out;
    char day[32];
    time_t t = (time_t)(tr->tr_fired_at / 1000);
    struct tm tm;
    if (!f)
        return;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "%-8s%-17s %-28s %-14s %-8s play=%s fired_at=%s id=%s\n        %s\n",
            tr->tr_shadow ? "SHADOW" : tr->tr_status == JD_STATUS_RESOLVED ? "RESOLVED"
                                                                          : "TRIGGER",
            jd_kind_symbol(tr->tr_kind), tr->tr_rule_id, tr->tr_account,
            jd_severity_symbol(tr->tr_severity), tr->tr_play, day, tr->tr_id, tr->tr_reason);
    fflush(f);
}

/* Sends every undelivered trigger of the batch and waits until all of them
 * and the batch's dead-letter records are acknowledged, re-sending failures.
 * Returns 0, or JD_ERR_RETRY when stopped before everything was delivered. */
static int jd_pipeline_publish(jd_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->pl_nouts; i++)
        pl->pl_outs[i].ot_dl.dl_done = 0, pl->pl_outs[i].ot_dl.dl_err = -1;
    for (;;) {
        jd_err_t err;
        for (size_t i = 0; i < pl->pl_nouts; i++) {
            jd_out_t *o = &pl->pl_outs[i];
            if (o->ot_dl.dl_done && o->ot_dl.dl_err == 0)
                continue;
            jd_producer_send(pl->pl_producer, jd_pipeline_topic(pl, o),
                             jd_out_account(o), o->ot_payload.b_data, o->ot_payload.b_len,
                             NULL, 0, &o->ot_dl, &err);
        }
        int rc = jd_producer_wait(pl->pl_producer,
                                  jd_pipeline_wait_bound(pl, pl->pl_cf->cf_flush_timeout_ms), &err);
        if (rc == 0)
            break;
        if (rc == JD_ERR_FATAL)
            return rc;
        if (jd_pipeline_give_up(pl))
            return JD_ERR_RETRY;
        if (rc == JD_ERR_RETRY) {
            jd_pipeline_backoff(pl, "waiting for Kafka acknowledgements", &err);
            continue; /* still in flight: keep waiting, re-send nothing yet */
        }
        jd_err_set(&err, JD_ERR_RETRY, JD_E_KAFKA, "%d deliveries failed", rc);
        jd_pipeline_backoff(pl, "publishing triggers", &err);
        for (size_t i = 0; i < pl->pl_nmsgs; i++)
            if (pl->pl_dlq_dl[i].dl_done && pl->pl_dlq_dl[i].dl_err)
                jd_pipeline_dlq_send(pl, i);
    }
    pl->pl_backoff_ms = 0;
    return 0;
}

static int jd_pipeline_ack(jd_pipeline_t *pl)
{
    const char **accts, **tids;
    if (!pl->pl_nouts)
        return 0;
    accts = calloc(pl->pl_nouts, sizeof *accts);
    tids = calloc(pl->pl_nouts, sizeof *tids);
    if (!accts || !tids) {
        free(accts);
        free(tids);
        return JD_ERR_FATAL;
    }
    for (size_t i = 0; i < pl->pl_nouts; i++) {
        accts[i] = jd_out_account(&pl->pl_outs[i]);
        tids[i] = pl->pl_outs[i].ot_oid;
    }
    int rc;
    jd_err_t err;
    while ((rc = jd_state_outbox_ack(pl->pl_state, accts, tids, pl->pl_nouts, &err)) ==
               JD_ERR_RETRY && !jd_pipeline_give_up(pl))
        jd_pipeline_backoff(pl, "removing delivered triggers from the outbox", &err);
    free(accts);
    free(tids);
    return rc;
}

static void jd_pipeline_print_stage(const jd_pipeline_t *pl, const jd_stage_event_t *se)
{
    FILE *f = pl->pl_opts->po_trigger_out;
    char at[40];
    if (!f)
        return;
    jd_window_format_iso(se->se_changed_at, at, sizeof at);
    fprintf(f, "STAGE   %-17s %s -> %s (%s) changed_at=%s id=%s\n", se->se_account,
            se->se_has_previous ? se->se_previous : "-", se->se_stage, se->se_cause, at,
            se->se_id);
    fflush(f);
}

/* Counts a FIRED trigger for its rule (shadow rules included). */
static void jd_pipeline_count_rule(jd_pipeline_t *pl, const jd_trigger_t *tr)
{
    if (tr->tr_status != JD_STATUS_FIRED)
        return;
    for (size_t r = 0; r < pl->pl_rule_cnt; r++)
        if (strcmp(pl->pl_rule_ids[r], tr->tr_rule_id) == 0)
            pl->pl_stats->ps_triggers_by_rule[r]++;
}

static void jd_pipeline_count_triggers(jd_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->pl_nouts; i++) {
        const jd_trigger_t *tr = &pl->pl_outs[i].ot_tr;
        if (pl->pl_outs[i].ot_stage) {
            pl->pl_stats->ps_stage_events++;
            jd_ops_stage_event(pl->pl_outs[i].ot_se.se_stage);
            jd_pipeline_print_stage(pl, &pl->pl_outs[i].ot_se);
            continue;
        }
        jd_pipeline_count_rule(pl, tr);
        if (tr->tr_shadow)
            pl->pl_stats->ps_shadow++;
        else if (tr->tr_status == JD_STATUS_RESOLVED)
            pl->pl_stats->ps_resolved++;
        else {
            pl->pl_stats->ps_triggers++;
            pl->pl_stats->ps_triggers_by_kind[tr->tr_kind]++;
            jd_ops_trigger(jd_kind_symbol(tr->tr_kind), tr->tr_rule_id);
        }
        jd_pipeline_print_trigger(pl, tr);
    }
}

static int jd_pipeline_deadlines(jd_pipeline_t *pl);
static int jd_pipeline_load(jd_pipeline_t *pl, jd_seg_t **segs, const int64_t *from, size_t n);
static int jd_pipeline_record_cuts(jd_pipeline_t *pl);
static int jd_pipeline_cuts_done(jd_pipeline_t *pl);
static int jd_pipeline_timers_seg(jd_pipeline_t *pl, jd_seg_t *g, int64_t watermark);
static int jd_pipeline_timers_all(jd_pipeline_t *pl, int wall);
static int jd_pipeline_assigned_segs(jd_pipeline_t *pl, jd_seg_t ***out);

/* Publishes every decided out (and the batch's dead letters), waits for
 * the acknowledgements, clears them from the outbox and counts them. */
static int jd_pipeline_flush(jd_pipeline_t *pl)
{
    int rc;
    if ((rc = jd_pipeline_publish(pl)) || (rc = jd_pipeline_ack(pl)))
        return rc;
    jd_pipeline_count_triggers(pl);
    pl->pl_nouts = pl->pl_out0 = 0;
    return 0;
}

/* ---- decision points (jd_segment.h) ------------------------------------ */

static int jd_pipeline_add_close(jd_pipeline_t *pl, jd_seg_t *g, int64_t position,
                                 int64_t watermark, int done)
{
    if (pl->pl_nclose == pl->pl_close_cap) {
        size_t cap = pl->pl_close_cap ? 2 * pl->pl_close_cap : 64;
        jd_close_t *nc = realloc(pl->pl_closes, cap * sizeof *nc);
        if (!nc)
            return JD_ERR_FATAL;
        pl->pl_closes = nc;
        pl->pl_close_cap = cap;
    }
    pl->pl_closes[pl->pl_nclose++] =
        (jd_close_t){g, position, jd_seg_time(g), watermark, done};
    return 0;
}

/* The timer watermark of g's clock as it stands. */
static int64_t jd_pipeline_seg_watermark(const jd_pipeline_t *pl, const jd_seg_t *g)
{
    int64_t t = jd_seg_time(g);
    return t == JD_SEG_NO_TIME ? t : t - (int64_t)pl->pl_cf->cf_timers_lateness_s * 1000;
}

static jd_touch_t *jd_pipeline_touch(jd_pipeline_t *pl, jd_seg_t *g)
{
    for (size_t i = pl->pl_ntouch; i-- > 0;)
        if (pl->pl_touch[i].tc_seg == g)
            return &pl->pl_touch[i];
    pl->pl_touch[pl->pl_ntouch] = (jd_touch_t){g, 0, 0, INT64_MIN};
    return &pl->pl_touch[pl->pl_ntouch++];
}

static int jd_pipeline_assigned(const char *topic, int32_t partition, void *opaque)
{
    const rd_kafka_topic_partition_list_t *parts = opaque;
    return rd_kafka_topic_partition_list_find(parts, topic, partition) != NULL;
}

/* Finds each message's partition segment (forgetting partitions given up
 * after a rebalance, starting afresh where a partition is re-read) and
 * loads the clocks of partitions new to this instance. */
static int jd_pipeline_begin(jd_pipeline_t *pl)
{
    unsigned reb = jd_consumer_rebalances(pl->pl_consumer);
    int rebalanced = reb != pl->pl_rebalances;
    rd_kafka_topic_partition_list_t *parts;
    jd_seg_t **segs;
    int64_t *from;
    int rc;

    pl->pl_rebalances = reb;
    if (rebalanced && (parts = jd_consumer_assignment(pl->pl_consumer))) {
        jd_segs_retain(pl->pl_segs, jd_pipeline_assigned, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    pl->pl_ntouch = 0;
    for (size_t i = 0; i < pl->pl_nmsgs; i++) {
        const rd_kafka_message_t *m = pl->pl_msgs[i];
        jd_touch_t *t;
        pl->pl_msg_seg[i] = NULL;
        pl->pl_msg_round[i] = SIZE_MAX;
        pl->pl_msg_ev[i] = SIZE_MAX;
        if (!m->rkt || (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF))
            continue;
        if (!(pl->pl_msg_seg[i] = jd_segs_get(pl->pl_segs, rd_kafka_topic_name(m->rkt),
                                              m->partition)))
            return JD_ERR_FATAL;
        t = jd_pipeline_touch(pl, pl->pl_msg_seg[i]);
        if (t->tc_from == INT64_MIN)
            t->tc_from = m->offset; /* where this batch reads it from */
        if (!m->err && !t->tc_begun) {
            jd_seg_begin(t->tc_seg, m->offset, rebalanced);
            t->tc_begun = 1;
        }
    }
    for (size_t e = 0; e < pl->pl_nevents; e++)
        pl->pl_msg_ev[pl->pl_ev_msg[e]] = e;
    segs = calloc(pl->pl_ntouch ? pl->pl_ntouch : 1, sizeof *segs);
    from = calloc(pl->pl_ntouch ? pl->pl_ntouch : 1, sizeof *from);
    for (size_t i = 0; segs && from && i < pl->pl_ntouch; i++) {
        segs[i] = pl->pl_touch[i].tc_seg;
        from[i] = pl->pl_touch[i].tc_from;
    }
    rc = segs && from ? jd_pipeline_load(pl, segs, from, pl->pl_ntouch) : JD_ERR_FATAL;
    free(segs);
    free(from);
    return rc;
}

/* 1 when the live rules cut partition g before a message at `offset`
 * with event time `at` (JD_SEG_NO_TIME: a dead letter): an offset
 * boundary, or a timer due (jd_seg_due_before); *w is then the timer
 * watermark of the cut. */
static int jd_pipeline_cut_live(const jd_pipeline_t *pl, const jd_seg_t *g, int64_t at,
                                int64_t offset, int64_t *w)
{
    const jd_config_t *cf = pl->pl_cf;
    int64_t lateness = (int64_t)cf->cf_timers_lateness_s * 1000;
    if (cf->cf_timers_enabled && pl->pl_rule_cnt &&
        jd_seg_due_before(g, at, lateness, (int64_t)cf->cf_timers_tick_s * 1000, w))
        return 1;
    *w = jd_pipeline_seg_watermark(pl, g);
    return jd_seg_cuts_before(g, offset);
}

/* Plans round r: each partition's next messages up to its next cut (an
 * offset boundary, the end of the partition, or a message whose event
 * time makes a timer due), their accounts noted dirty; the segments cut
 * go to pl_closes. Returns 1 when the round has something to do, 0 when
 * the batch is done, or JD_ERR_FATAL. */
static int jd_pipeline_plan(jd_pipeline_t *pl, size_t r)
{
    int64_t w;
    int work = 0, done;

    pl->pl_nclose = 0;
    for (size_t i = 0; i < pl->pl_ntouch; i++)
        pl->pl_touch[i].tc_stop = 0;
    for (size_t i = 0; i < pl->pl_nmsgs; i++) {
        const rd_kafka_message_t *m = pl->pl_msgs[i];
        jd_seg_t *g = pl->pl_msg_seg[i];
        size_t e = pl->pl_msg_ev[i];
        const jd_event_t *ev = e == SIZE_MAX ? NULL : &pl->pl_events[e];
        int64_t at = ev ? ev->ev_occurred_at : JD_SEG_NO_TIME;
        jd_touch_t *t;

        if (pl->pl_msg_round[i] != SIZE_MAX)
            continue;
        if (!g) { /* a consume error: nothing to apply */
            pl->pl_msg_round[i] = r;
            continue;
        }
        if ((t = jd_pipeline_touch(pl, g))->tc_stop)
            continue;
        done = 0;
        if (jd_seg_replaying(g) ? jd_seg_recorded(g, m->offset, &w, &done)
                                : m->err ? (w = jd_pipeline_seg_watermark(pl, g), 1)
                                         : jd_pipeline_cut_live(pl, g, at, m->offset, &w)) {
            if (jd_pipeline_add_close(pl, g, m->offset, w, done))
                return JD_ERR_FATAL;
            t->tc_stop = 1;
            work = 1;
            if (!m->err)
                continue; /* the message opens the next segment */
        }
        if (m->err) { /* the end of the partition */
            jd_seg_eof(g);
            pl->pl_msg_round[i] = r;
            continue;
        }
        jd_seg_message(g, m->offset, at);
        if (ev && jd_seg_note(g, ev->ev_account, m->offset, at))
            return JD_ERR_FATAL;
        pl->pl_msg_round[i] = r;
        work = 1;
    }
    return work;
}

/* The input ended (--max-events): every open segment closes. */
static void jd_pipeline_close_each(jd_seg_t *g, void *opaque)
{
    jd_pipeline_t *pl = opaque;
    if (jd_pipeline_add_close(pl, g, jd_seg_next(g), jd_pipeline_seg_watermark(pl, g), 0))
        pl->pl_nclose = SIZE_MAX; /* out of memory: reported by the caller */
}

static int jd_pipeline_plan_end(jd_pipeline_t *pl)
{
    jd_seg_t **segs = NULL;
    int n = jd_pipeline_assigned_segs(pl, &segs); /* loads the untouched ones */
    free(segs);
    pl->pl_nclose = 0;
    jd_segs_each(pl->pl_segs, jd_pipeline_close_each, pl);
    return n < 0 || pl->pl_nclose == SIZE_MAX ? JD_ERR_FATAL : 0;
}

/* Round r's accounts: those with events in it, and those of the segments
 * closing after it, to be decided (read, when without events here). */
static int jd_pipeline_round_accounts(jd_pipeline_t *pl, size_t r)
{
    size_t need = 0;
    for (size_t i = 0; i < pl->pl_nevents; i++)
        need += pl->pl_msg_round[pl->pl_ev_msg[i]] == r;
    for (size_t c = 0; c < pl->pl_nclose; c++) {
        const jd_seg_acct_t *d;
        need += jd_seg_dirty(pl->pl_closes[c].cl_seg, &d);
    }
    if (jd_pipeline_reserve(pl, need))
        return JD_ERR_FATAL;
    jd_pipeline_group(pl, r);
    for (size_t c = 0; c < pl->pl_nclose; c++) {
        jd_seg_t *g = pl->pl_closes[c].cl_seg;
        const jd_seg_acct_t *d;
        size_t n = pl->pl_closes[c].cl_done ? 0 : jd_seg_dirty(g, &d);
        for (size_t k = 0; k < n; k++) {
            size_t a = jd_pipeline_account_index(pl, d[k].sa_account);
            pl->pl_decide[a] = 1;
            pl->pl_src[a] = (jd_src_t){jd_seg_topic(g), jd_seg_partition(g), d[k].sa_offset};
            snprintf(pl->pl_tidx[a], sizeof pl->pl_tidx[a], "timers:%s:%d", jd_seg_topic(g),
                     (int)jd_seg_partition(g));
        }
    }
    return 0;
}

/* One round: apply its events; decide, commit and close the segments cut
 * after it, store their clocks and run their partitions' due timers. */
static int jd_pipeline_round(jd_pipeline_t *pl, size_t r)
{
    int rc;
    if ((rc = jd_pipeline_round_accounts(pl, r)) || (rc = jd_pipeline_record_cuts(pl)))
        return rc;
    if (pl->pl_naccts && (rc = jd_pipeline_apply(pl)))
        return rc;
    if (!pl->pl_nclose)
        return 0;
    if ((rc = jd_pipeline_decide(pl)) || (rc = jd_pipeline_commit(pl)) ||
        (rc = jd_pipeline_deadlines(pl)))
        return rc;
    for (size_t c = 0; c < pl->pl_nclose; c++) {
        jd_seg_close(pl->pl_closes[c].cl_seg);
        pl->pl_stats->ps_decision_points++;
        if (!pl->pl_closes[c].cl_done &&
            (rc = jd_pipeline_timers_seg(pl, pl->pl_closes[c].cl_seg,
                                         pl->pl_closes[c].cl_watermark)))
            return rc;
    }
    return jd_pipeline_cuts_done(pl);
}

/* Stores, for each partition of the batch, the offset its open segment
 * must be re-read from (jd_seg_store_offset). */
static int jd_pipeline_store(jd_pipeline_t *pl)
{
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)pl->pl_ntouch);
    jd_err_t err;
    int rc;

    for (size_t i = 0; i < pl->pl_ntouch; i++) {
        const jd_seg_t *g = pl->pl_touch[i].tc_seg;
        rd_kafka_topic_partition_list_add(tl, jd_seg_topic(g), jd_seg_partition(g))->offset =
            jd_seg_store_offset(g);
    }
    while ((rc = jd_consumer_store_offsets(pl->pl_consumer, tl, &err)) == JD_ERR_RETRY &&
           !jd_pipeline_give_up(pl))
        jd_pipeline_backoff(pl, "storing offsets", &err);
    rd_kafka_topic_partition_list_destroy(tl);
    return rc;
}

/* One batch through every stage. Returns 0 when its offsets are stored,
 * JD_ERR_RETRY when a stop interrupted it (offsets not stored: the batch is
 * replayed on restart), JD_ERR_FATAL on an unrecoverable error. */
static int jd_pipeline_batch(jd_pipeline_t *pl)
{
    int rc, more;
    int64_t t0 = jd_now_ms(), t1, t2, t3;
    size_t r = 0;

    pl->pl_nouts = pl->pl_out0 = 0;
    jd_pipeline_decode(pl);
    if (pl->pl_opts->po_max_events &&
        (int64_t)pl->pl_stats->ps_messages >= pl->pl_opts->po_max_events)
        pl->pl_ended = 1; /* the input ends here: every segment closes */
    if ((rc = jd_pipeline_begin(pl)))
        return rc;
    t1 = jd_now_ms();
    for (; (more = jd_pipeline_plan(pl, r)) > 0; r++)
        if ((rc = jd_pipeline_round(pl, r)))
            return rc;
    if (more < 0 || (pl->pl_ended && ((rc = jd_pipeline_plan_end(pl)) ||
                                      (rc = jd_pipeline_round(pl, r++)))))
        return more < 0 ? more : rc;
    if ((rc = jd_pipeline_timers_all(pl, 0)))
        return rc;
    pl->pl_nrounds = r;
    t2 = jd_now_ms();
    if ((rc = jd_pipeline_flush(pl)))
        return rc;
    jd_ops_dead_letters_delivered();
    rc = jd_pipeline_store(pl);
    pl->pl_stats->ps_batches++;
    jd_ops_batch(pl->pl_nmsgs);
    t3 = jd_now_ms();
    JD_DEBUG("pipeline", "batch %llu done: %zu messages in %zu rounds; ms: decode %lld, "
             "apply+decide+commit %lld, publish+ack+store %lld",
             (unsigned long long)pl->pl_stats->ps_batches, pl->pl_nmsgs, pl->pl_nrounds,
             (long long)(t1 - t0), (long long)(t2 - t1), (long long)(t3 - t2));
    return rc;
}

/* ---- start-up: re-publish the outbox ----------------------------------- */

/* Decodes one outbox entry into o (a trigger, or a stage event when its id
 * has the stage prefix); 0 or -1. */
static int jd_pipeline_outbox_decode(jd_pipeline_t *pl, jd_out_t *o, const char *tid,
                                     const unsigned char *payload, size_t len)
{
    size_t plen = strlen(JD_STATE_STAGE_PREFIX);
    jd_err_t err;
    int rc;

    o->ot_stage = strncmp(tid, JD_STATE_STAGE_PREFIX, plen) == 0;
    snprintf(o->ot_oid, sizeof o->ot_oid, "%s", tid);
    rc = o->ot_stage ? jd_stage_decode(pl->pl_stage_codec, payload, len, &o->ot_se, &err)
                     : jd_encoder_trigger_decode(pl->pl_encoder, payload, len, &o->ot_tr,
                                                 &err);
    if (rc)
        JD_ERROR("pipeline", "outbox entry %s does not decode (%s); left in place",
                 tid, err.err_msg);
    return rc ? -1 : 0;
}

static void jd_pipeline_outbox_entry(const char *account, const char *tid,
                                     const unsigned char *payload, size_t len, void *opaque)
{
    jd_pipeline_t *pl = opaque;
    jd_out_t *o = jd_pipeline_out_new(pl);
    (void)account;
    if (!o)
        return;
    if (jd_pipeline_outbox_decode(pl, o, tid, payload, len)) {
        pl->pl_nouts--;
        return;
    }
    o->ot_payload.b_len = 0;
    if (o->ot_payload.b_cap < len) {
        unsigned char *nb = realloc(o->ot_payload.b_data, len);
        if (!nb) {
            pl->pl_nouts--;
            return;
        }
        o->ot_payload.b_data = nb;
        o->ot_payload.b_cap = len;
    }
    memcpy(o->ot_payload.b_data, payload, len);
    o->ot_payload.b_len = len;
}

static int jd_pipeline_republish(jd_pipeline_t *pl)
{
    jd_err_t err;
    int n;
    pl->pl_nouts = 0;
    pl->pl_nmsgs = 0;
    while ((n = jd_state_outbox_scan(pl->pl_state, jd_pipeline_outbox_entry, pl, &err)) ==
               JD_ERR_RETRY && !jd_pipeline_give_up(pl)) {
        pl->pl_nouts = 0;
        jd_pipeline_backoff(pl, "reading the outbox", &err);
    }
    if (n < 0)
        return n;
    if (!pl->pl_nouts)
        return 0;
    JD_INFO("pipeline", "re-publishing %zu trigger(s) left in the outbox", pl->pl_nouts);
    int rc = jd_pipeline_publish(pl);
    if (!rc)
        rc = jd_pipeline_ack(pl);
    if (!rc)
        pl->pl_stats->ps_republished += pl->pl_nouts;
    pl->pl_nouts = 0;
    return rc;
}

/* After a rebalance the outbox is re-published as at start-up: an
 * instance killed between its commit and its publish left entries there,
 * and the instance that takes its partitions over replays that batch
 * without deciding them again (the rule states already record them), so
 * nobody else would send them before a restart. Entries another live
 * instance is about to publish go out twice, byte-identical. Called
 * between batches (no message is held in pl_msgs[0..pl_nmsgs)). */
static int jd_pipeline_republish_rebalanced(jd_pipeline_t *pl, unsigned *seen)
{
    unsigned reb = jd_consumer_rebalances(pl->pl_consumer);
    if (reb == *seen || !jd_consumer_assigned(pl->pl_consumer))
        return 0;
    *seen = reb;
    return jd_pipeline_republish(pl);
}

/* ---- timers: accounts that send nothing ---------------------------------
 *
 * After each decision every decided account's next deadline goes into the
 * timer index of its partition (jd_rules_next_deadline: the next tick of
 * event time, or a pending `for`). The clock of a partition is the latest
 * event time read from it, minus timers.allowed_lateness_s, taken where
 * one of its segments closes (jd_segment.h), so the instant a timer runs
 * at is a point of the log, not of the batching (optionally the wall
 * clock, minus the same lateness, after timers.wall_clock_idle_s without
 * messages). This assumes each account's events come on one partition
 * (input keyed by account id): the clock of one partition says nothing
 * of events waiting on another. Every account whose
 * deadline is at or before the watermark is read at its deadline (not at the watermark: the instant depends on
 * the account's own history only, so a replay of the same log decides the
 * same things at the same event times), decided, committed and published
 * like a batch, with source_topic "" and partition/offset -1, and gets its
 * next deadline. A deadline at or before the account's own latest event is
 * stale (events came after it was set): it is only moved on. Journey
 * stages are left to the account's next event. Crash-safe like a batch:
 * the outbox holds what was decided, and the rule states make a repeated
 * evaluation decide nothing new. */

/* The event time account a's rules stand at after this pass: its as_of,
 * or (skipped) its latest event, and never before its previous rules_at. */
static int64_t jd_pipeline_rules_at(const jd_pipeline_t *pl, size_t a)
{
    const jd_account_batch_t *ab = &pl->pl_abs[a];
    const jd_value_t *v = jd_signals_get(&ab->ab_signals, pl->pl_skip[a] && pl->pl_timer_pass
                                                              ? JD_SIG_LAST_EVENT_AT
                                                              : JD_SIG_AS_OF);
    int64_t at = v->type == JD_VAL_NUM ? (int64_t)v->num : JD_SIGNALS_NO_TS;

    return ab->ab_rules_at != JD_SIGNALS_NO_TS && ab->ab_rules_at > at ? ab->ab_rules_at : at;
}

static int jd_pipeline_deadlines(jd_pipeline_t *pl)
{
    const jd_config_t *cf = pl->pl_cf;
    const char **accts, **idx;
    int64_t *dl, *ra, *prev;
    jd_signals_t *sg = malloc(sizeof *sg);
    int rc = 0;

    if (!cf->cf_timers_enabled || !pl->pl_naccts) {
        free(sg);
        return 0;
    }
    accts = calloc(pl->pl_naccts, sizeof *accts);
    dl = calloc(pl->pl_naccts, sizeof *dl);
    ra = calloc(pl->pl_naccts, sizeof *ra);
    prev = calloc(pl->pl_naccts, sizeof *prev);
    idx = calloc(pl->pl_naccts, sizeof *idx);
    if (!sg || !accts || !dl || !ra || !prev || !idx)
        rc = JD_ERR_FATAL;
    size_t k = 0;
    for (size_t a = 0; !rc && a < pl->pl_naccts; a++) {
        jd_account_batch_t *ab = &pl->pl_abs[a];
        if (!pl->pl_timer_pass && !pl->pl_decide[a])
            continue; /* not decided yet: its deadline follows its decision */
        accts[k] = ab->ab_account;
        ra[k] = jd_pipeline_rules_at(pl, a);
        jd_signals_copy(sg, &ab->ab_signals);
        if (ra[k] == JD_SIGNALS_NO_TS)
            jd_signals_set_null(sg, JD_SIG_AS_OF); /* no state: no deadline */
        else
            jd_signals_set_num(sg, JD_SIG_AS_OF, (double)ra[k]);
        dl[k] = jd_rules_next_deadline(pl->pl_rs, sg, ab->ab_rule_states,
                                   (int64_t)cf->cf_timers_tick_s * 1000);
        if (ra[k] == JD_SIGNALS_NO_TS)
            ra[k] = 0;
        /* rules_at is only worth a write when a timer decided the account
         * past its latest event; otherwise as_of and last_event_at already
         * say it (every reader takes the later of them) */
        if (!pl->pl_timer_pass || pl->pl_skip[a])
            ra[k] = -1;
        /* a timer round always rewrites the entry it read: with unkeyed
         * input the account's meta timer_at may come from another
         * partition's index, and skipping the write would leave this
         * entry due for ever */
        prev[k] = pl->pl_timer_pass ? JD_SIGNALS_NO_TS : ab->ab_timer_at;
        idx[k++] = pl->pl_tidx[a];
    }
    jd_err_t err;
    if (!rc)
        while ((rc = jd_state_timers_set(pl->pl_state, accts, idx, dl, prev, ra, k, &err)) ==
                   JD_ERR_RETRY && !jd_pipeline_give_up(pl))
            jd_pipeline_backoff(pl, "updating the timer index", &err);
    free(sg);
    free(accts);
    free(dl);
    free(ra);
    free(prev);
    free(idx);
    return rc;
}

typedef struct jd_due {
    jd_pipeline_t *du_pl;
    int64_t       *du_at;   /* deadline per account index */
    size_t         du_seen; /* due accounts listed */
} jd_due_t;

static void jd_pipeline_due_one(const char *account, int64_t deadline, void *opaque)
{
    jd_due_t *du = opaque;
    jd_pipeline_t *pl = du->du_pl;
    size_t len = strlen(account) + 1;
    char *copy;
    jd_account_batch_t *ab;

    du->du_seen++;
    if (pl->pl_naccts == pl->pl_max || !(copy = jd_arena_alloc(&pl->pl_tarena, len)))
        return;
    memcpy(copy, account, len);
    snprintf(pl->pl_tidx[pl->pl_naccts], sizeof pl->pl_tidx[0], "%s", pl->pl_round_idx);
    du->du_at[pl->pl_naccts] = deadline;
    ab = &pl->pl_abs[pl->pl_naccts++];
    memset(ab, 0, sizeof *ab);
    ab->ab_account = copy;
}

/* Reads the due accounts at their deadlines (one round trip per distinct
 * deadline) and marks stale ones to skip: no state, or events or an
 * evaluation at or after the deadline. */
static int jd_pipeline_due_read(jd_pipeline_t *pl, const int64_t *at, unsigned char *skip)
{
    for (size_t a = 0; a < pl->pl_naccts; a++)
        pl->pl_abs[a].ab_rule_states = &pl->pl_rstates[a * pl->pl_rule_cnt];
    for (size_t a = 0, b; a < pl->pl_naccts; a = b) {
        for (b = a + 1; b < pl->pl_naccts && at[b] == at[a]; b++)
            ;
        JD_PIPELINE_RETRY(pl, "reading accounts for timers",
                          jd_state_read_at(pl->pl_state, &pl->pl_abs[a], b - a, at[a],
                                           pl->pl_rule_ids, pl->pl_rule_cnt, &err_));
    }
    for (size_t a = 0; a < pl->pl_naccts; a++) {
        const jd_value_t *last = jd_signals_get(&pl->pl_abs[a].ab_signals,
                                                JD_SIG_LAST_EVENT_AT);
        int64_t ra = pl->pl_abs[a].ab_rules_at;
        skip[a] = last->type != JD_VAL_NUM || last->num >= (double)at[a] ||
                  (ra != JD_SIGNALS_NO_TS && ra >= at[a]);
    }
    return 0;
}

/* Decides the accounts not skipped (skipped ones decide nothing: their
 * states are left as read). */
static int jd_pipeline_due_decide(jd_pipeline_t *pl, const unsigned char *skip)
{
    jd_trigger_t *tmp = calloc(pl->pl_rule_cnt ? pl->pl_rule_cnt : 1, sizeof *tmp);
    int rc = tmp ? 0 : JD_ERR_FATAL;

    pl->pl_out0 = pl->pl_nouts;
    for (size_t a = 0; a < pl->pl_naccts && !rc; a++) {
        if (skip[a]) {
            memset(&pl->pl_changed[a * pl->pl_rule_cnt], 0, pl->pl_rule_cnt);
            memset(&pl->pl_journey[a], 0, sizeof pl->pl_journey[a]);
            continue;
        }
        pl->pl_stats->ps_timer_evals++;
        rc = jd_pipeline_decide_account(pl, a, tmp);
    }
    free(tmp);
    return rc;
}

/* One round of due accounts; returns how many were due (0: none), or a
 * negative jd_err class. */
static int jd_pipeline_timer_round(jd_pipeline_t *pl, int64_t watermark)
{
    int64_t *at = calloc(pl->pl_max, sizeof *at);
    unsigned char *skip = pl->pl_skip;
    jd_due_t du = {pl, at, 0};
    int rc = 0, n;
    jd_err_t err;

    if (!at)
        return JD_ERR_FATAL;
    jd_arena_reset(&pl->pl_tarena);
    pl->pl_naccts = 0;
    while ((n = jd_state_timers_due(pl->pl_state, pl->pl_round_idx, watermark, pl->pl_max,
                                    jd_pipeline_due_one, &du, &err)) == JD_ERR_RETRY &&
           !jd_pipeline_give_up(pl)) {
        pl->pl_naccts = 0;
        du.du_seen = 0;
        jd_pipeline_backoff(pl, "reading the timer index", &err);
    }
    if (n < 0)
        rc = n;
    else if (pl->pl_naccts) {
        pl->pl_timer_pass = 1;
        if (!(rc = jd_pipeline_due_read(pl, at, skip)) &&
            !(rc = jd_pipeline_due_decide(pl, skip)) && !(rc = jd_pipeline_commit(pl)) &&
            !(rc = jd_pipeline_deadlines(pl)) && pl->pl_nouts > pl->pl_max)
            rc = jd_pipeline_flush(pl); /* bounds what waits for the batch's end */
        pl->pl_timer_pass = 0;
    }
    free(at);
    /* progress: some account evaluated */
    return rc ? rc : (int)pl->pl_naccts;
}

static void jd_pipeline_first_due(const char *account, int64_t deadline, void *opaque)
{
    (void)account;
    *(int64_t *)opaque = deadline;
}

/* Evaluates the due accounts of partition g's timer index up to
 * `watermark`, then reads its earliest deadline (decisions just moved
 * some): the next time cut of the partition depends on the index alone,
 * as a restarted owner would load it. */
static int jd_pipeline_timers_seg(jd_pipeline_t *pl, jd_seg_t *g, int64_t watermark)
{
    char idx[JD_PIPELINE_TIDX];
    int64_t next = INT64_MAX;
    int rc = 0, run;

    if (!pl->pl_cf->cf_timers_enabled || !pl->pl_rule_cnt)
        return 0;
    run = watermark != JD_SEG_NO_TIME && watermark >= jd_seg_deadline(g) &&
          watermark > jd_seg_timer_w(g);
    snprintf(idx, sizeof idx, "timers:%s:%d", jd_seg_topic(g), (int)jd_seg_partition(g));
    pl->pl_round_idx = idx;
    while (run && !jd_pipeline_stopping && (rc = jd_pipeline_timer_round(pl, watermark)) > 0)
        ;
    pl->pl_round_idx = NULL;
    if (rc < 0 || (run && jd_pipeline_stopping))
        return rc < 0 ? rc : JD_ERR_RETRY;
    jd_err_t err;
    while ((rc = jd_state_timers_due(pl->pl_state, idx, INT64_MAX, 1, jd_pipeline_first_due,
                                     &next, &err)) == JD_ERR_RETRY &&
           !jd_pipeline_give_up(pl))
        jd_pipeline_backoff(pl, "reading the timer index", &err);
    if (rc < 0)
        return rc;
    jd_seg_timers_ran(g, run ? watermark : INT64_MIN, next);
    return 0;
}

/* The partition names ("TOPIC:PARTITION") of segs[n], in buf. */
static const char **jd_pipeline_part_names(jd_seg_t *const *segs, size_t n, char (*buf)[JD_PIPELINE_TIDX])
{
    const char **names = calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s:%d", jd_seg_topic(segs[i]),
                 (int)jd_seg_partition(segs[i]));
        names[i] = buf[i];
    }
    return names;
}

/* Loads what the segments not loaded yet among segs[n] resume from (the
 * clock, the earliest deadline and the recorded cuts ahead: jd_seg_load),
 * each read from from[i] (INT64_MAX: not read yet). */
static int jd_pipeline_load(jd_pipeline_t *pl, jd_seg_t **segs, const int64_t *from, size_t n)
{
    jd_state_part_t *pts = calloc(n ? n : 1, sizeof *pts);
    char (*buf)[JD_PIPELINE_TIDX] = calloc(n ? n : 1, sizeof *buf);
    const char **names = buf ? jd_pipeline_part_names(segs, n, buf) : NULL;
    size_t k = 0;
    int rc = pts && names ? 0 : JD_ERR_FATAL;
    jd_err_t err;

    for (size_t i = 0; !rc && i < n; i++)
        if (!jd_seg_loaded(segs[i])) {
            pts[k].pt_name = names[i];
            pts[k].pt_from = from[i];
            segs[k++] = segs[i];
        }
    if (!rc && k)
        while ((rc = jd_state_cuts_load(pl->pl_state, pts, k, &err)) == JD_ERR_RETRY &&
               !jd_pipeline_give_up(pl))
            jd_pipeline_backoff(pl, "reading decision cuts", &err);
    for (size_t i = 0; !rc && i < k; i++) {
        jd_seg_cut_t *cuts = calloc(pts[i].pt_ncuts ? pts[i].pt_ncuts : 1, sizeof *cuts);
        for (size_t c = 0; cuts && c < pts[i].pt_ncuts; c++)
            cuts[c] = (jd_seg_cut_t){pts[i].pt_cuts[c].cu_position,
                                     pts[i].pt_cuts[c].cu_watermark == INT64_MIN
                                         ? JD_SEG_NO_TIME
                                         : pts[i].pt_cuts[c].cu_watermark,
                                     pts[i].pt_cuts[c].cu_position <= pts[i].pt_done};
        if (!cuts || jd_seg_load(segs[i], pts[i].pt_clock == INT64_MIN ? JD_SEG_NO_TIME
                                                                       : pts[i].pt_clock,
                                 pts[i].pt_deadline, cuts, pts[i].pt_ncuts))
            rc = JD_ERR_FATAL;
        if (pts[i].pt_ncuts)
            JD_INFO("pipeline", "%s: replaying %zu recorded decision cut(s) from offset %lld",
                    pts[i].pt_name, pts[i].pt_ncuts, (long long)pts[i].pt_from);
        free(cuts);
    }
    for (size_t i = 0; pts && i < k; i++)
        free(pts[i].pt_cuts);
    free(pts);
    free(buf);
    free(names);
    return rc;
}

/* Records the cuts of this round (done: 0) before anything is decided at
 * them, so a restart, or the next owner, replays them
 * (jd_state_cuts_load); or (done: 1) marks them completed, so a replay
 * does not decide at them again. Cuts completed earlier are left as
 * they are. */
static int jd_pipeline_cuts_write(jd_pipeline_t *pl, int done)
{
    size_t n = pl->pl_nclose, k = 0;
    jd_seg_t **segs = calloc(n ? n : 1, sizeof *segs);
    char (*buf)[JD_PIPELINE_TIDX] = calloc(n ? n : 1, sizeof *buf);
    jd_state_cut_t *cuts = calloc(n ? n : 1, sizeof *cuts);
    int64_t *pos = calloc(n ? n : 1, sizeof *pos);
    const char **names = NULL;
    int rc = JD_ERR_FATAL;
    jd_err_t err;

    for (size_t c = 0; segs && cuts && pos && c < n; c++) {
        const jd_close_t *cl = &pl->pl_closes[c];
        if (cl->cl_done)
            continue;
        segs[k] = cl->cl_seg;
        pos[k] = cl->cl_position;
        cuts[k++] = (jd_state_cut_t){cl->cl_position, cl->cl_clock, cl->cl_watermark};
    }
    if (segs && buf && cuts && pos && (names = jd_pipeline_part_names(segs, k, buf)))
        while ((rc = done ? jd_state_cuts_done(pl->pl_state, names, pos, k, &err)
                          : jd_state_cuts_record(pl->pl_state, names, cuts, k, &err)) ==
                   JD_ERR_RETRY && !jd_pipeline_give_up(pl))
            jd_pipeline_backoff(pl, "recording decision cuts", &err);
    free(segs);
    free(buf);
    free(cuts);
    free(pos);
    free(names);
    return rc;
}

static int jd_pipeline_record_cuts(jd_pipeline_t *pl)
{
    return jd_pipeline_cuts_write(pl, 0);
}

static int jd_pipeline_cuts_done(jd_pipeline_t *pl)
{
    return jd_pipeline_cuts_write(pl, 1);
}

/* The assigned partitions' segments (loaded), in *out; how many, or -1. */
static int jd_pipeline_assigned_segs(jd_pipeline_t *pl, jd_seg_t ***out)
{
    rd_kafka_topic_partition_list_t *parts = jd_consumer_assignment(pl->pl_consumer);
    jd_seg_t **segs = parts ? calloc(parts->cnt ? (size_t)parts->cnt : 1, sizeof *segs) : NULL;
    int n = 0;
    for (int i = 0; segs && i < parts->cnt; i++)
        if (!(segs[n++] = jd_segs_get(pl->pl_segs, parts->elems[i].topic,
                                      parts->elems[i].partition)))
            n = -1, i = parts->cnt;
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (!segs || n < 0) {
        free(segs);
        return -1;
    }
    jd_seg_t **copy = calloc(n ? (size_t)n : 1, sizeof *copy);
    int64_t *from = calloc(n ? (size_t)n : 1, sizeof *from);
    for (int i = 0; from && i < n; i++)
        from[i] = INT64_MAX; /* not read from: no cuts ahead */
    if (!copy || !from ||
        jd_pipeline_load(pl, memcpy(copy, segs, (size_t)n * sizeof *segs), from, (size_t)n)) {
        free(copy);
        free(from);
        free(segs);
        return -1;
    }
    free(copy);
    free(from);
    *out = segs;
    return n;
}

/* 1 when every partition of the input topics has been decided to its end
 * (its latest recorded cut at or past its end offset): the group's clock,
 * the latest of theirs, is then the same for every instance however the
 * partitions are shared; 0 while another instance is still reading, or a
 * negative jd_err class. */
static int jd_pipeline_group_final(jd_pipeline_t *pl, int64_t *latest)
{
    rd_kafka_topic_partition_list_t *ends = jd_consumer_ends(pl->pl_consumer, 2000);
    size_t n = ends ? (size_t)ends->cnt : 0;
    char (*buf)[JD_PIPELINE_TIDX] = calloc(n ? n : 1, sizeof *buf);
    const char **names = calloc(n ? n : 1, sizeof *names);
    jd_state_cut_t *last = calloc(n ? n : 1, sizeof *last);
    int rc = buf && names && last ? 0 : JD_ERR_FATAL, final = ends != NULL;
    jd_err_t err;

    if (!ends)
        JD_WARN("pipeline", "cannot read the input topics' end offsets yet; asking again");
    for (size_t i = 0; !rc && i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "%s:%d", ends->elems[i].topic,
                 (int)ends->elems[i].partition);
        names[i] = buf[i];
    }
    if (!rc)
        while ((rc = jd_state_cuts_last(pl->pl_state, names, n, last, &err)) == JD_ERR_RETRY &&
               !jd_pipeline_give_up(pl))
            jd_pipeline_backoff(pl, "reading decision cuts", &err);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t end = ends->elems[i].offset;
        if (end < 0 || (end > 0 && last[i].cu_position < end))
            final = 0;
        else if (last[i].cu_clock != INT64_MIN && last[i].cu_clock > *latest)
            *latest = last[i].cu_clock;
    }
    if (ends)
        rd_kafka_topic_partition_list_destroy(ends);
    free(buf);
    free(names);
    free(last);
    return rc ? rc : final;
}

/* Once every assigned partition is caught up (or the input ended), the
 * clock of each is the latest of all: a partition whose accounts are
 * quiet still sees time pass. With several instances, "all" means the
 * whole group's partitions (jd_pipeline_group_final); until they are
 * decided to their end pl_group_wait is set and the loop asks again. At
 * the end of a log this is the same point in every run; live, it is
 * where the consumers have caught up. Idle past timers.wall_clock_idle_s
 * (wall), the wall clock counts too. */
static int jd_pipeline_timers_all(jd_pipeline_t *pl, int wall)
{
    int64_t lateness = (int64_t)pl->pl_cf->cf_timers_lateness_s * 1000, latest = JD_SEG_NO_TIME;
    jd_seg_t **segs = NULL;
    int n, rc = 0, all = 1;

    if (!pl->pl_cf->cf_timers_enabled || !pl->pl_rule_cnt)
        return 0;
    if ((n = jd_pipeline_assigned_segs(pl, &segs)) < 0)
        return JD_ERR_FATAL;
    for (int i = 0; i < n; i++) {
        all &= pl->pl_ended || wall || jd_seg_caught_up(segs[i]);
        if (jd_seg_time(segs[i]) != JD_SEG_NO_TIME && jd_seg_time(segs[i]) > latest)
            latest = jd_seg_time(segs[i]);
    }
    pl->pl_group_wait = 0;
    if (all && n && !pl->pl_ended && !wall && (rc = jd_pipeline_group_final(pl, &latest)) <= 0) {
        pl->pl_group_wait = rc == 0;
        free(segs);
        return rc;
    }
    rc = 0;
    if (wall) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if ((int64_t)ts.tv_sec * 1000 > latest)
            latest = (int64_t)ts.tv_sec * 1000;
    }
    for (int i = 0; all && latest != JD_SEG_NO_TIME && i < n && !rc; i++)
        rc = jd_pipeline_timers_seg(pl, segs[i], latest - lateness);
    free(segs);
    return rc;
}

/* ---- the loop ----------------------------------------------------------- */

/* Frees the batch's messages and moves those cut off it to the front. */
static void jd_pipeline_free_msgs(jd_pipeline_t *pl)
{
    for (size_t i = 0; i < pl->pl_nmsgs; i++)
        rd_kafka_message_destroy(pl->pl_msgs[i]);
    memmove(pl->pl_msgs, pl->pl_msgs + pl->pl_nmsgs, pl->pl_nleft * sizeof *pl->pl_msgs);
    pl->pl_nmsgs = 0;
}

/* Takes n polled messages as the batch, cut at limits.max_batch_bytes
 * (never below one message). */
static void jd_pipeline_cut(jd_pipeline_t *pl, size_t n)
{
    size_t k = 0, bytes = 0, max = (size_t)pl->pl_cf->cf_max_batch_bytes;
    while (k < n && (k == 0 || bytes + pl->pl_msgs[k]->len <= max))
        bytes += pl->pl_msgs[k++]->len;
    pl->pl_nmsgs = k;
    pl->pl_nleft = n - k;
}

static void jd_pipeline_teardown(jd_pipeline_t *pl)
{
    jd_pipeline_free_msgs(pl);
    pl->pl_nmsgs = pl->pl_nleft; /* cut off and never processed: replayed next run */
    pl->pl_nleft = 0;
    jd_pipeline_free_msgs(pl);
    jd_consumer_close(pl->pl_consumer);
    jd_producer_destroy(pl->pl_producer);
    jd_state_destroy(pl->pl_state);
    jd_store_destroy(pl->pl_store);
    jd_decoder_destroy(pl->pl_decoder);
    jd_registry_destroy(pl->pl_registry);
    jd_encoder_destroy(pl->pl_encoder);
    jd_stage_codec_destroy(pl->pl_stage_codec);
    jd_arena_destroy(&pl->pl_arena);
    jd_arena_destroy(&pl->pl_tarena);
    jd_segs_destroy(pl->pl_segs);
    free(pl->pl_msg_seg);
    free(pl->pl_msg_round);
    free(pl->pl_msg_ev);
    free(pl->pl_closes);
    free(pl->pl_touch);
    free(pl->pl_decide);
    free(pl->pl_src);
    free(pl->pl_tidx);
    for (size_t i = 0; i < pl->pl_outs_cap; i++)
        jd_buf_free(&pl->pl_outs[i].ot_payload);
    free(pl->pl_outs);
    free(pl->pl_msgs);
    free(pl->pl_events);
    free(pl->pl_ev_msg);
    free(pl->pl_ev_acct);
    free(pl->pl_ev_sorted);
    free(pl->pl_abs);
    free(pl->pl_cursor);
    free(pl->pl_slots);
    free(pl->pl_rstates);
    free(pl->pl_changed);
    free(pl->pl_journey);
    free(pl->pl_rule_ids);
    free(pl->pl_dlq_dl);
    free(pl->pl_dlq_err);
    free(pl->pl_skip);
    free(pl->pl_before);
    free(pl->pl_dec);
    jd_outcomes_destroy(pl->pl_outcomes);
}

static int jd_pipeline_setup(jd_pipeline_t *pl, const char *bootstrap, jd_err_t *err)
{
    pl->pl_stats->ps_triggers_by_rule =
        calloc(pl->pl_rule_cnt ? pl->pl_rule_cnt : 1, sizeof(uint64_t));
    if (!pl->pl_stats->ps_triggers_by_rule)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    if (jd_pipeline_alloc(pl, err) || jd_pipeline_decoder(pl, err) ||
        jd_pipeline_registry(pl, err) || jd_pipeline_state(pl, err))
        return -1;
    pl->pl_producer = jd_producer_new(pl->pl_cf, bootstrap, err);
    if (!pl->pl_producer || !(pl->pl_outcomes = jd_outcomes_new(pl->pl_cf, pl->pl_rs, err)))
        return -1;
    const char *out[] = {pl->pl_cf->cf_topic_risk, pl->pl_cf->cf_topic_renewal,
                         pl->pl_cf->cf_topic_expansion, pl->pl_cf->cf_topic_stage,
                         pl->pl_cf->cf_topic_dlq};
    jd_producer_warm(pl->pl_producer, out, sizeof out / sizeof *out, 2000);
    if (jd_pipeline_republish(pl))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA,
                          "could not re-publish the trigger outbox");
    pl->pl_consumer = jd_consumer_new(pl->pl_cf, bootstrap, err);
    return pl->pl_consumer ? 0 : -1;
}

/* The accounts gauge, refreshed at most once a second after a batch (one
 * SCARD; a failure leaves the previous value). */
static void jd_pipeline_count_accounts(jd_pipeline_t *pl, int64_t now, int64_t *at)
{
    jd_err_t err;
    if (now - *at < 1000)
        return;
    *at = now;
    jd_ops_accounts(jd_state_account_count(pl->pl_state, &err));
}

static int jd_pipeline_loop(jd_pipeline_t *pl)
{
    const jd_pipeline_opts_t *po = pl->pl_opts;
    int64_t first = 0, last_msg = jd_now_ms(), done = 0, accounts_at = 0, group_at = 0;
    unsigned rebalances = 0, republished = 0;
    int rc = 0;

    while (!jd_pipeline_stopping) {
        size_t want = pl->pl_max;
        if ((rc = jd_pipeline_republish_rebalanced(pl, &republished)))
            break;
        if (po->po_max_events && (int64_t)pl->pl_stats->ps_messages + (int64_t)want > po->po_max_events)
            want = (size_t)(po->po_max_events - (int64_t)pl->pl_stats->ps_messages);
        size_t left = pl->pl_nleft;
        jd_consumer_resume(pl->pl_consumer);
        jd_pipeline_cut(pl, left + (left >= want ? 0
                                    : jd_consumer_poll(pl->pl_consumer, pl->pl_msgs + left,
                                                       want - left,
                                                       left ? 0 : pl->pl_cf->cf_batch_timeout_ms)));
        int64_t now = jd_now_ms();
        if (!pl->pl_nmsgs) {
            /* Idle time counts only while partitions are assigned and the
             * group is settled: joining or rebalancing can take seconds,
             * and that is not idleness. */
            unsigned reb = jd_consumer_rebalances(pl->pl_consumer);
            if (!jd_consumer_assigned(pl->pl_consumer) || reb != rebalances)
                last_msg = now;
            rebalances = reb;
            if (pl->pl_cf->cf_timers_wall_idle_s &&
                now - last_msg >= (int64_t)pl->pl_cf->cf_timers_wall_idle_s * 1000 &&
                ((rc = jd_pipeline_timers_all(pl, 1)) || (rc = jd_pipeline_flush(pl))))
                break;
            if (pl->pl_group_wait && now - group_at >= 500) {
                group_at = now;
                if ((rc = jd_pipeline_timers_all(pl, 0)) || (rc = jd_pipeline_flush(pl)))
                    break;
            }
            if (po->po_exit_idle_ms && now - last_msg >= po->po_exit_idle_ms &&
                (!pl->pl_group_wait || now - last_msg >= po->po_exit_idle_ms + 60000)) {
                if (pl->pl_group_wait)
                    JD_WARN("pipeline", "stopping before the other instances of the group "
                            "finished their partitions: timers past their clocks not run");
                JD_INFO("pipeline", "idle for %d ms: stopping", po->po_exit_idle_ms);
                break;
            }
            continue;
        }
        if (!first)
            first = now;
        last_msg = now;
        rc = jd_pipeline_batch(pl);
        jd_pipeline_free_msgs(pl);
        if (!rc)
            jd_outcomes_publish(pl->pl_outcomes, pl->pl_store, pl->pl_producer, 0);
        done = last_msg = jd_now_ms(); /* a long batch (an outage) is not idleness */
        if (rc)
            break;
        jd_pipeline_count_accounts(pl, done, &accounts_at);
        if (pl->pl_ended)
            break; /* --max-events: the batch closed every segment */
    }
    if (!rc && first)
        jd_outcomes_publish(pl->pl_outcomes, pl->pl_store, pl->pl_producer, 1);
    pl->pl_stats->ps_seconds = first ? (double)(done - first) / 1000.0 : 0.0;
    if (rc == JD_ERR_RETRY && !jd_pipeline_stopping) {
        /* only a stop may give a batch up: anything else is a bug, and
         * exiting 0 would hide it */
        JD_ERROR("pipeline", "a batch was given up without a stop request");
        return JD_ERR_FATAL;
    }
    return rc == JD_ERR_RETRY ? 0 : rc;
}

int jd_pipeline_run(const jd_config_t *cf, const char *bootstrap,
                    const jd_ruleset_t *rs, const jd_pipeline_opts_t *opts,
                    jd_pipeline_stats_t *stats, jd_err_t *err)
{
    jd_pipeline_t pl;
    int rc;

    if (strcmp(cf->cf_state_engine, "memory") == 0)
        return jd_engine_run(cf, bootstrap, rs, opts, stats, err);
    memset(&pl, 0, sizeof pl);
    memset(stats, 0, sizeof *stats);
    pl.pl_cf = cf;
    pl.pl_rs = rs;
    pl.pl_opts = opts;
    pl.pl_stats = stats;
    pl.pl_max = (size_t)cf->cf_batch_size;
    pl.pl_rule_cnt = jd_rules_count(rs);
    jd_pipeline_stopping = 0;
    rc = jd_pipeline_setup(&pl, bootstrap, err);
    if (!rc) {
        JD_INFO("pipeline", "consuming %s (batch %d, %zu rules)", cf->cf_topics_input,
                cf->cf_batch_size, pl.pl_rule_cnt);
        rc = jd_pipeline_loop(&pl);
        if (rc)
            jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL, "pipeline stopped on an error");
        jd_err_t cerr;
        stats->ps_accounts = pl.pl_state ? jd_state_account_count(pl.pl_state, &cerr) : -1;
        jd_ops_accounts(stats->ps_accounts);
    }
    jd_pipeline_teardown(&pl);
    return rc ? JD_ERR_FATAL : 0;
}

void jd_pipeline_print_summary(const jd_pipeline_stats_t *ps, const jd_ruleset_t *rs,
                               FILE *out)
{
    fprintf(out, "\n== journeyd summary ==\n");
    fprintf(out, "events consumed      %llu in %.2f s (%.0f events/s)\n",
            (unsigned long long)ps->ps_messages, ps->ps_seconds,
            ps->ps_seconds > 0 ? (double)ps->ps_messages / ps->ps_seconds : 0.0);
    fprintf(out, "decoded              %llu (%llu new, %llu duplicates, %llu of unknown type)\n",
            (unsigned long long)ps->ps_events, (unsigned long long)ps->ps_applied,
            (unsigned long long)ps->ps_duplicates, (unsigned long long)ps->ps_unknown_types);
    if (ps->ps_forwarded)
        fprintf(out, "forwarded            %llu (re-keyed by account)\n",
                (unsigned long long)ps->ps_forwarded);
    fprintf(out, "too late for windows %llu\n", (unsigned long long)ps->ps_late);
    fprintf(out, "dead-lettered        %llu\n", (unsigned long long)ps->ps_dead_letters);
    for (int c = 0; c < JD_E__COUNT; c++)
        if (ps->ps_dlq_by_reason[c])
            fprintf(out, "  %-20s %llu\n", jd_err_code_name((jd_err_code_t)c),
                    (unsigned long long)ps->ps_dlq_by_reason[c]);
    fprintf(out, "accounts in state    %lld\n", (long long)ps->ps_accounts);
    fprintf(out, "batches              %llu\n", (unsigned long long)ps->ps_batches);
    fprintf(out, "triggers published   %llu", (unsigned long long)ps->ps_triggers);
    if (ps->ps_republished)
        fprintf(out, " (+%llu re-published from the outbox)",
                (unsigned long long)ps->ps_republished);
    fprintf(out, "\n");
    for (int k = 0; k < JD_KIND__COUNT; k++)
        fprintf(out, "  %-20s %llu\n", jd_kind_symbol((jd_kind_t)k),
                (unsigned long long)ps->ps_triggers_by_kind[k]);
    fprintf(out, "resolved published   %llu\n", (unsigned long long)ps->ps_resolved);
    fprintf(out, "shadow triggers      %llu (never on the trigger topics)\n",
            (unsigned long long)ps->ps_shadow);
    fprintf(out, "stage changes        %llu\n", (unsigned long long)ps->ps_stage_events);
    fprintf(out, "timer evaluations    %llu\n", (unsigned long long)ps->ps_timer_evals);
    fprintf(out, "claims lost          %llu (given up %llu)\n",
            (unsigned long long)ps->ps_claims_lost, (unsigned long long)ps->ps_claims_given_up);
    fprintf(out, "redis redirections   moved %llu, ask %llu; script reloads %llu, reconnects %llu, "
            "slot map refreshes %llu\n",
            (unsigned long long)jd_redis_count(JD_REDIS_C_MOVED),
            (unsigned long long)jd_redis_count(JD_REDIS_C_ASK),
            (unsigned long long)jd_redis_count(JD_REDIS_C_NOSCRIPT),
            (unsigned long long)jd_redis_count(JD_REDIS_C_RECONNECT),
            (unsigned long long)jd_redis_count(JD_REDIS_C_MAP_REFRESH));
    fprintf(out, "by rule\n");
    for (size_t r = 0; rs && r < jd_rules_count(rs); r++)
        fprintf(out, "  %-32s %llu%s\n", jd_rule_id(jd_rules_at(rs, r)),
                (unsigned long long)(ps->ps_triggers_by_rule ? ps->ps_triggers_by_rule[r] : 0),
                jd_rule_is_shadow(jd_rules_at(rs, r)) ? " (shadow)" : "");
}
