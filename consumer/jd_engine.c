/*
 * jd_engine: the run loop of the in-memory state engine (contract in
 * jd_engine.h; the batch cycle itself is jd_batch).
 *
 * Set-up order: the schema registry's outbound ids, the producer (warmed
 * on every outbound topic), the state store (waits while Redis is down),
 * then the consumer, last, so that partitions are not assigned to an
 * instance that cannot yet work on them.
 *
 * Timers while idle. A partition's clock moves only with its messages, so
 * an account whose partition is quiet would never see its deadlines pass.
 * Once every partition this instance owns was read to its end, the loop
 * reads every input partition's stored entry (position and clock) and the
 * end offsets: when each partition is stored up to its end, every
 * instance of the group sees the same latest clock, and every owned
 * partition's clock is moved to it (jd_batch_timers). Until then it asks
 * again every 500 ms. The result is a point of the log, so a re-run or a
 * different split of the partitions fires the same timers. With
 * timers.wall_clock_idle_s set, an idle instance moves the clocks with
 * the wall clock instead (live use; not repeatable by a replay).
 *
 * A poll that returns nothing is not idleness: at tens of thousands of
 * events a second the input has gaps of pipeline.batch_timeout_ms (a
 * fetch answered late), and waiting there for the open group's
 * acknowledgements and write (up to ~100 ms) held back every message
 * fetched meanwhile. Such a poll only moves the groups on without waiting
 * (jd_batch_idle); everything is awaited when partitions were given up,
 * before idle timers and before stopping (jd_batch_settle).
 *
 * Memory: one batch of messages (pl_msgs) plus what jd_batch and the
 * account cache hold (state.cache_mb). Pipeline thread only.
 */
#include "jd_engine.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_batch.h"
#include "jd_consumer.h"
#include "jd_decoder_conf.h"
#include "jd_log.h"
#include "jd_ops.h"
#include "jd_outbound.h"
#include "jd_outcomes.h"
#include "jd_producer.h"
#include "jd_registry.h"
#include "jd_stage.h"
#include "jd_store.h"
#include "jd_wait.h"
#include "jd_writer.h"

typedef struct jd_engine {
    const jd_config_t        *en_cf;
    const jd_ruleset_t       *en_rs;
    const jd_pipeline_opts_t *en_opts;
    jd_engine_share_t        *en_share;
    jd_pipeline_stats_t      *en_stats;
    jd_wait_t                 en_wait;
    jd_decoder_t             *en_decoder;
    jd_registry_t            *en_registry;
    jd_registry_ids_t         en_ids;
    jd_encoder_t             *en_encoder;
    jd_stage_codec_t         *en_stage;
    jd_producer_t            *en_producer;
    jd_store_t               *en_store;
    jd_writer_t              *en_writer;   /* the batches' record writes */
    jd_outcomes_t            *en_outcomes;
    jd_outbound_t            *en_out;
    jd_consumer_t            *en_consumer;
    jd_batch_t               *en_batch;
    rd_kafka_message_t      **en_msgs;     /* polled, not yet processed */
    size_t                    en_nmsgs;    /* the batch: en_msgs[0..nmsgs) */
    size_t                    en_nleft;    /* cut off after it, in order */
    int                       en_group_wait; /* caught up, the group is not */
} jd_engine_t;

/* ---- set-up ------------------------------------------------------------------ */

static int en_codecs(jd_engine_t *en, jd_err_t *err)
{
    int rc;
    if (!(en->en_decoder = jd_decoder_from_config(en->en_cf, err)) ||
        !(en->en_encoder = jd_encoder_new(err)) || !(en->en_stage = jd_stage_codec_new(err)))
        return -1;
    if (en->en_cf->cf_registry_url[0]) {
        if (!(en->en_registry = jd_registry_new(en->en_cf, err)))
            return -1;
        jd_decoder_set_fetch(en->en_decoder, jd_registry_fetch_cb, en->en_registry);
        while ((rc = jd_decoder_input_subjects(en->en_decoder, en->en_registry, en->en_cf,
                                               err)) == JD_ERR_RETRY &&
               !jd_wait_give_up(&en->en_wait))
            jd_wait_backoff(&en->en_wait, "looking up the input subjects", err);
        jd_wait_ok(&en->en_wait);
        if (rc)
            return -1;
    }
    while ((rc = jd_registry_outbound_ids(en->en_registry, en->en_cf, &en->en_ids, err)) ==
               JD_ERR_RETRY && !jd_wait_give_up(&en->en_wait))
        jd_wait_backoff(&en->en_wait, "registering outbound schemas", err);
    jd_wait_ok(&en->en_wait);
    return rc ? -1 : 0;
}

static int en_store(jd_engine_t *en, jd_err_t *err)
{
    jd_store_conf_t stc;
    int rc;
    jd_config_store_conf(en->en_cf, &stc);
    if (!(en->en_store = jd_store_new(&stc, err)) || !(en->en_writer = jd_writer_new(&stc, err)))
        return -1;
    while ((rc = jd_store_connect(en->en_store, err)) == JD_ERR_RETRY &&
           !jd_wait_give_up(&en->en_wait))
        jd_wait_backoff(&en->en_wait, "connecting to Redis", err);
    jd_wait_ok(&en->en_wait);
    return rc ? -1 : 0;
}

static int en_outbound(jd_engine_t *en, const char *bootstrap, jd_err_t *err)
{
    const jd_config_t *cf = en->en_cf;
    if (!(en->en_producer = jd_producer_new(cf, bootstrap, err)))
        return -1;
    const char *out[] = {cf->cf_topic_risk, cf->cf_topic_renewal, cf->cf_topic_expansion,
                         cf->cf_topic_stage, cf->cf_topic_dlq};
    jd_producer_warm(en->en_producer, out, sizeof out / sizeof *out, 2000);
    jd_outbound_conf_t oc = {cf,           en->en_rs,     en->en_producer,
                             en->en_encoder, en->en_stage, &en->en_ids,
                             en->en_stats,  en->en_opts->po_trigger_out};
    if (!(en->en_out = jd_outbound_new(&oc)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    return 0;
}

/* topics.repartition's partitions (0: the input is keyed by account):
 * as many as each input topic's, so the re-keyed log has one partition per
 * input partition, as a keyed input would. */
static int en_repartition(jd_engine_t *en, int32_t *n, jd_err_t *err)
{
    const jd_config_t *cf = en->en_cf;
    char list[4096];
    *n = 0;
    if (!cf->cf_topic_repartition[0])
        return 0;
    if (!(*n = jd_producer_partitions(en->en_producer, cf->cf_topic_repartition, 10000, err)))
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA,
                          "topics.repartition: %s (create it with as many partitions as the "
                          "input topics; docs/scaling.md)", err->err_msg);
    snprintf(list, sizeof list, "%s", cf->cf_topics_input);
    for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int m = jd_producer_partitions(en->en_producer, t, 10000, err);
        if (m && m != *n)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_CONFIG,
                              "topics.repartition: %s has %d partitions, input topic %s has "
                              "%d: they must have as many", cf->cf_topic_repartition, (int)*n,
                              t, m);
    }
    JD_INFO("engine", "input re-keyed by account through %s (%d partitions)",
            cf->cf_topic_repartition, (int)*n);
    return 0;
}

/* Several engines join the group together: each waits here, before its
 * consumer subscribes, until every engine has set up (or failed to), so
 * that all join in one round. One that joined later would take
 * partitions from the others in a second round, and the messages they had
 * read without committing would be read again (skipped, but read). */
static void en_join_together(jd_engine_t *en)
{
    jd_engine_share_t *sh = en->en_share;
    if (sh->es_threads < 2)
        return;
    __atomic_fetch_add(&sh->es_ready, 1, __ATOMIC_RELAXED);
    while (__atomic_load_n(&sh->es_ready, __ATOMIC_RELAXED) < sh->es_threads &&
           !jd_wait_stopping()) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static int en_setup(jd_engine_t *en, const char *bootstrap, jd_err_t *err)
{
    size_t rules = jd_rules_count(en->en_rs);
    en->en_stats->ps_triggers_by_rule = calloc(rules ? rules : 1, sizeof(uint64_t));
    en->en_msgs = calloc((size_t)en->en_cf->cf_batch_size, sizeof *en->en_msgs);
    int rc = !en->en_stats->ps_triggers_by_rule || !en->en_msgs
                 ? jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory")
                 : en_codecs(en, err) || en_store(en, err) || en_outbound(en, bootstrap, err) ||
                       !(en->en_outcomes = jd_outcomes_new(en->en_cf, en->en_rs, err));
    en_join_together(en); /* failed or not: the others wait for it */
    if (rc || !(en->en_consumer = jd_consumer_new(en->en_cf, bootstrap, err)))
        return -1;
    int32_t nrep;
    if (en_repartition(en, &nrep, err))
        return -1;
    en->en_wait.wt_consumer = en->en_consumer;
    jd_batch_conf_t bc = {en->en_cf,  en->en_rs,       en->en_stats,   &en->en_wait,
                          en->en_consumer, en->en_out, en->en_decoder, en->en_store,
                          en->en_writer,   en->en_outcomes, nrep};
    return (en->en_batch = jd_batch_new(&bc, err)) ? 0 : -1;
}

/* Frees the batch's messages and moves those cut off it to the front. */
static void en_free_msgs(jd_engine_t *en)
{
    for (size_t i = 0; i < en->en_nmsgs; i++)
        rd_kafka_message_destroy(en->en_msgs[i]);
    memmove(en->en_msgs, en->en_msgs + en->en_nmsgs, en->en_nleft * sizeof *en->en_msgs);
    en->en_nmsgs = 0;
}

static void en_teardown(jd_engine_t *en)
{
    if (en->en_msgs) {
        en_free_msgs(en);
        en->en_nmsgs = en->en_nleft; /* never processed: replayed by the next run */
        en->en_nleft = 0;
        en_free_msgs(en);
    }
    jd_batch_destroy(en->en_batch);
    jd_writer_destroy(en->en_writer);
    jd_consumer_close(en->en_consumer);
    jd_outbound_destroy(en->en_out);
    jd_producer_destroy(en->en_producer);
    jd_outcomes_destroy(en->en_outcomes);
    jd_store_destroy(en->en_store);
    jd_decoder_destroy(en->en_decoder);
    jd_registry_destroy(en->en_registry);
    jd_encoder_destroy(en->en_encoder);
    jd_stage_codec_destroy(en->en_stage);
    free(en->en_msgs);
}

/* ---- idle timers ------------------------------------------------------------- */

/* The group's clock when every input partition is stored up to its end:
 * 1 with *clock set, 0 while some partition is not (or nothing is
 * stored yet), or a negative jd_err class. */
static int en_group_clock(jd_engine_t *en, int64_t *clock)
{
    rd_kafka_topic_partition_list_t *ends = jd_consumer_ends(en->en_consumer, 2000);
    size_t n = ends ? (size_t)ends->cnt : 0;
    jd_store_claim_t *cl = calloc(n ? n : 1, sizeof *cl);
    int rc_ = cl ? 0 : JD_ERR_FATAL, final = ends != NULL;
    jd_err_t err_;
    if (!ends)
        JD_WARN("pipeline", "cannot read the input topics' end offsets yet; asking again");
    for (size_t i = 0; cl && i < n; i++)
        cl[i] = (jd_store_claim_t){ends->elems[i].topic, ends->elems[i].partition, 0, -1,
                                   INT64_MIN};
    if (!rc_ && n) {
        JD_WAIT_RETRY(&en->en_wait, "reading the partitions' stored clocks",
                      jd_store_parts_read(en->en_store, cl, n, &err_));
    }
    *clock = INT64_MIN;
    for (size_t i = 0; !rc_ && i < n; i++) {
        int64_t end = ends->elems[i].offset;
        if (end < 0 || (end > 0 && cl[i].cl_position < end - 1))
            final = 0;
        else if (cl[i].cl_clock != INT64_MIN && cl[i].cl_clock > *clock)
            *clock = cl[i].cl_clock;
    }
    if (ends)
        rd_kafka_topic_partition_list_destroy(ends);
    free(cl);
    return rc_ ? rc_ : final && *clock != INT64_MIN;
}

static int64_t en_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Idle: the timers of caught-up partitions (wall: of every partition, to
 * the wall clock). 0 or a negative jd_err class. */
static int en_idle_timers(jd_engine_t *en, int wall)
{
    const jd_config_t *cf = en->en_cf;
    int64_t clock;
    int rc;
    en->en_group_wait = 0;
    if (!cf->cf_timers_enabled || !jd_rules_count(en->en_rs))
        return 0;
    if (wall) {
        int64_t latest = jd_batch_latest(en->en_batch), now = en_wall_ms();
        clock = (latest != INT64_MIN && latest > now ? latest : now) -
                (int64_t)cf->cf_timers_lateness_s * 1000;
        return jd_batch_timers(en->en_batch, clock);
    }
    if (!jd_batch_caught_up(en->en_batch))
        return 0;
    if ((rc = en_group_clock(en, &clock)) <= 0) {
        en->en_group_wait = rc == 0;
        return rc;
    }
    return jd_batch_timers(en->en_batch, clock);
}

/* ---- the loop ---------------------------------------------------------------- */

/* Takes n polled messages as the batch, cut at limits.max_batch_bytes
 * (never below one message). */
static void en_cut(jd_engine_t *en, size_t n)
{
    size_t k = 0, bytes = 0, max = (size_t)en->en_cf->cf_max_batch_bytes;
    while (k < n && (k == 0 || bytes + en->en_msgs[k]->len <= max))
        bytes += en->en_msgs[k++]->len;
    en->en_nmsgs = k;
    en->en_nleft = n - k;
}

/* ---- what the engines of a run share ------------------------------------- */

static int64_t en_get(int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int64_t en_add(int64_t *p, int64_t v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

/* *p = v when v is later (or *p is 0, when `first`: v earlier). */
static void en_mark(int64_t *p, int64_t v, int first)
{
    int64_t c = en_get(p);
    while ((first ? (c == 0 || v < c) : v > c) &&
           !__atomic_compare_exchange_n(p, &c, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* Takes up to n messages of the --max-events budget; returns how many. */
static size_t en_reserve(jd_engine_t *en, size_t n)
{
    int64_t max = en->en_opts->po_max_events, had;
    if (!max || !n)
        return n;
    had = en_add(&en->en_share->es_budget, (int64_t)n);
    int64_t over = had + (int64_t)n - max;
    if (over <= 0)
        return n;
    over = over > (int64_t)n ? (int64_t)n : over;
    en_add(&en->en_share->es_budget, -over);
    return n - (size_t)over;
}

/* The messages polled: the budget not used goes back. */
static void en_took(jd_engine_t *en, size_t asked, rd_kafka_message_t **m, size_t got)
{
    int64_t data = 0;
    for (size_t i = 0; i < got; i++)
        data += !m[i]->err;
    en_add(&en->en_share->es_taken, data);
    if (en->en_opts->po_max_events)
        en_add(&en->en_share->es_budget, data - (int64_t)asked);
    if (data)
        en_mark(&en->en_share->es_last_ms, jd_wait_now_ms(), 0);
}

/* 1 when --max-events messages were taken (by any engine). */
static int en_spent(jd_engine_t *en)
{
    int64_t max = en->en_opts->po_max_events;
    return max && en_get(&en->en_share->es_taken) >= max;
}

/* pipeline.max_rate: sleeps (at most 100 ms at a time, so the consumer
 * is polled often enough to stay in its group) while ahead of the rate
 * (the run's, over all its engines). */
static void en_throttle(jd_engine_t *en)
{
    int rate = en->en_cf->cf_max_rate;
    int64_t first = en_get(&en->en_share->es_first_ms);
    if (!rate || !first)
        return;
    int64_t due = first + en_get(&en->en_share->es_taken) * 1000 / rate;
    int64_t ahead = due - jd_wait_now_ms();
    if (ahead > 0) {
        struct timespec ts = {0, (long)(ahead < 100 ? ahead : 100) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Polls the next batch into en_msgs[0..en_nmsgs). */
static void en_poll(jd_engine_t *en)
{
    size_t want = (size_t)en->en_cf->cf_batch_size, left = en->en_nleft;
    size_t ask = en_reserve(en, left >= want ? 0 : want - left);
    jd_consumer_resume(en->en_consumer);
    size_t got = !ask ? 0
                      : jd_consumer_poll(en->en_consumer, en->en_msgs + left, ask,
                                         left ? 0 : en->en_cf->cf_batch_timeout_ms);
    en_took(en, ask, en->en_msgs + left, got);
    en_cut(en, left + got);
}

/* 1 when this batch is the engine's last: the --max-events budget is
 * spent and nothing polled is left over. */
static int en_ends(jd_engine_t *en)
{
    return !en->en_nleft && en_spent(en);
}

typedef struct en_clock {
    int64_t ck_first, ck_done, ck_group_at, ck_accounts_at;
    unsigned ck_rebalances;
} en_clock_t;

/* No message: timers, idle exit. Returns 1 to stop, 0 to go on, or a
 * negative jd_err class. */
static int en_idle(jd_engine_t *en, en_clock_t *ck)
{
    const jd_config_t *cf = en->en_cf;
    int exit_idle = en->en_opts->po_exit_idle_ms, rc;
    int64_t now = jd_wait_now_ms(), *last = &en->en_share->es_last_ms;
    /* joining or rebalancing can take seconds, and that is not idleness */
    unsigned reb = jd_consumer_rebalances(en->en_consumer);
    if (!jd_consumer_assigned(en->en_consumer) || reb != ck->ck_rebalances)
        en_mark(last, now, 0);
    ck->ck_rebalances = reb;
    if (en_spent(en) || __atomic_load_n(&en->en_share->es_idle_exit, __ATOMIC_RELAXED))
        return 1; /* another engine took the last message, or saw the idleness */
    int64_t idle = now - en_get(last);
    if (cf->cf_timers_wall_idle_s && idle >= (int64_t)cf->cf_timers_wall_idle_s * 1000)
        rc = en_idle_timers(en, 1);
    else if (now - ck->ck_group_at >= 500) {
        ck->ck_group_at = now;
        rc = en_idle_timers(en, 0);
    } else
        rc = 0;
    if (rc)
        return rc;
    /* idle means nothing more to read: every partition at its end (not a
     * broker that is down for a while), and the group's timers done */
    int settled = jd_batch_caught_up(en->en_batch) && !en->en_group_wait;
    if (exit_idle && idle >= exit_idle && (settled || idle >= exit_idle + 60000)) {
        if (!settled)
            JD_WARN("pipeline", "stopping before every partition was read to its end and "
                    "its timers run (another instance, or a broker, is behind)");
        if (!__atomic_exchange_n(&en->en_share->es_idle_exit, 1, __ATOMIC_RELAXED))
            JD_INFO("pipeline", "idle for %d ms: stopping", exit_idle);
        return 1;
    }
    return 0;
}

/* The accounts gauge, at most once a second while batches come, and once
 * when they stop (idle: once the last batches' records are written). */
static void en_count_accounts(jd_engine_t *en, en_clock_t *ck, int idle)
{
    jd_err_t err;
    if (idle ? ck->ck_accounts_at >= ck->ck_done || !jd_batch_quiet(en->en_batch)
             : ck->ck_done - ck->ck_accounts_at < 1000)
        return;
    ck->ck_accounts_at = ck->ck_done;
    jd_ops_accounts(jd_store_account_count(en->en_store, &err));
}

/* 1 when the polled batch holds a message (not only notices). */
static int en_has_message(const jd_engine_t *en)
{
    for (size_t i = 0; i < en->en_nmsgs; i++)
        if (!en->en_msgs[i]->err)
            return 1;
    return 0;
}

static int en_loop(jd_engine_t *en)
{
    en_clock_t ck = {0, 0, 0, 0, 0};
    int rc = 0;
    en_mark(&en->en_share->es_last_ms, jd_wait_now_ms(), 0);
    while (!jd_wait_stopping()) {
        en_throttle(en);
        en_poll(en);
        if (!en->en_nmsgs) {
            unsigned outages = en->en_wait.wt_backoffs;
            if ((rc = jd_batch_idle(en->en_batch)) != 0)
                break;
            if (en->en_wait.wt_backoffs != outages) {
                /* it waited for Redis or Kafka to come back: not idleness */
                en_mark(&en->en_share->es_last_ms, jd_wait_now_ms(), 0);
                continue;
            }
            en_count_accounts(en, &ck, 1);
            if ((rc = en_idle(en, &ck)) != 0)
                break;
            continue;
        }
        int ended = en_ends(en);
        if (!ck.ck_first && en_has_message(en)) {
            ck.ck_first = jd_wait_now_ms(); /* not at the end-of-partition notices of
                                               an empty topic */
            en_mark(&en->en_share->es_first_ms, ck.ck_first, 1);
        }
        uint64_t seen = en->en_stats->ps_messages;
        rc = jd_batch_run(en->en_batch, en->en_msgs, en->en_nmsgs, ended);
        en_free_msgs(en);
        __atomic_fetch_add(&en->en_share->es_total->ps_messages, en->en_stats->ps_messages - seen,
                           __ATOMIC_RELAXED);
        if (!rc)
            jd_outcomes_publish(en->en_outcomes, en->en_store, en->en_producer, 0);
        ck.ck_done = jd_wait_now_ms();
        en_mark(&en->en_share->es_last_ms, ck.ck_done, 0); /* a long batch is not idleness */
        en_mark(&en->en_share->es_done_ms, ck.ck_done, 0);
        if (rc || ended)
            break;
        en_count_accounts(en, &ck, 0);
    }
    if (rc == 1)
        rc = 0;
    if (!rc)
        rc = jd_batch_settle(en->en_batch);
    if (!rc && ck.ck_first)
        jd_outcomes_publish(en->en_outcomes, en->en_store, en->en_producer, 1);
    en->en_stats->ps_seconds = ck.ck_first ? (double)(ck.ck_done - ck.ck_first) / 1000.0 : 0.0;
    if (rc == JD_ERR_RETRY && !jd_wait_stopping()) {
        JD_ERROR("pipeline", "a batch was given up without a stop request");
        return JD_ERR_FATAL;
    }
    return rc == JD_ERR_RETRY ? 0 : rc;
}

/* Several engines: each commits what it stored while the group is
 * stable, then waits (serving its consumer, at most 5 s) until every
 * engine got there, and only then do they leave the group. The first to
 * leave makes the group rebalance, and a commit during a rebalance fails
 * (REBALANCE_IN_PROGRESS): the next run would replay that interval. */
static void en_leave(jd_engine_t *en)
{
    jd_engine_share_t *sh = en->en_share;
    if (sh->es_threads < 2)
        return;
    if (en->en_consumer)
        jd_consumer_commit_stored(en->en_consumer, 5000);
    __atomic_fetch_add(&sh->es_leaving, 1, __ATOMIC_RELAXED);
    int64_t until = jd_wait_now_ms() + 5000;
    while (__atomic_load_n(&sh->es_leaving, __ATOMIC_RELAXED) < sh->es_threads &&
           jd_wait_now_ms() < until) {
        if (en->en_consumer)
            jd_consumer_keepalive(en->en_consumer, 20);
        else {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
}

/* The batch's large buffers (the Redis command of a batch's records, the
 * producer's queues) are allocated and freed once per batch. With glibc's
 * defaults the biggest come from mmap and go back to the kernel at every
 * free, so each batch faults its pages in again (~8% of the CPU, measured
 * with perf). Keeping up to 32 MiB of freed heap avoids it.
 *
 * One arena for every thread: glibc gives each thread an arena of its
 * own, and memory freed in one stays there. librdkafka's fetch thread
 * allocates every prefetched message (a 296-byte block each beyond its
 * payload) and the pipeline frees it, so that arena kept the highest
 * prefetch ever reached, the writer thread's kept the largest write, and
 * the pipeline's the records evicted, none reusable by the others (1M
 * one-event accounts: two 64 MiB arenas resident besides the main one).
 * The threads contend little: the pipeline does nearly all the
 * allocating. With pipeline.threads = N there are N arenas, one per
 * pipeline doing that allocating. A GLIBC_TUNABLES setting in the
 * environment wins. */
static void en_malloc_tune(int threads)
{
    const char *t = getenv("GLIBC_TUNABLES");
    if (t && strstr(t, "glibc.malloc."))
        return;
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_ARENA_MAX, threads > 1 ? threads : 1);
}

int jd_engine_run(const jd_config_t *cf, const char *bootstrap, const jd_ruleset_t *rs,
                  const jd_pipeline_opts_t *opts, jd_engine_share_t *share,
                  jd_pipeline_stats_t *stats, jd_err_t *err)
{
    jd_engine_t en;
    int rc;
    memset(&en, 0, sizeof en);
    memset(stats, 0, sizeof *stats);
    en.en_cf = cf;
    en.en_rs = rs;
    en.en_opts = opts;
    en.en_share = share;
    en.en_stats = stats;
    en.en_wait.wt_cf = cf;
    en_malloc_tune(cf->cf_threads);
    rc = en_setup(&en, bootstrap, err);
    if (!rc) {
        JD_INFO("pipeline", "consuming %s (batch %d, %zu rules, state in memory: cache %d MiB)",
                cf->cf_topics_input, cf->cf_batch_size, jd_rules_count(rs), cf->cf_cache_mb);
        if ((rc = en_loop(&en)))
            jd_err_set(err, JD_ERR_FATAL, JD_E_INTERNAL, "pipeline stopped on an error");
        jd_err_t cerr;
        stats->ps_accounts = jd_store_account_count(en.en_store, &cerr);
        jd_ops_accounts(stats->ps_accounts);
    }
    en_leave(&en);
    en_teardown(&en);
    return rc ? JD_ERR_FATAL : 0;
}
