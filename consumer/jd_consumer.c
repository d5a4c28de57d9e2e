/*
 * jd_consumer: librdkafka high-level consumer (contract in jd_consumer.h).
 *
 * Batches come from rd_kafka_consume_batch_queue() on the consumer queue
 * (after rd_kafka_poll_set_consumer): one call waits for the first
 * message, a second takes what is queued behind it without waiting, so a
 * batch costs two calls instead of one per message and never waits to
 * fill (its size follows the load: what arrived while the previous batch
 * was processed).
 *
 * Rebalance: the callback commits what is stored before an assignment is
 * taken away. The race this prevents: without it, the new owner of a
 * partition starts from the last auto-commit, up to auto.commit.interval.ms
 * old, and re-processes events whose state is already in Redis - harmless
 * for state (updates are idempotent) but wasted work.
 *
 * Pause (a dependency is down while a batch is in flight): every assigned
 * partition is paused and the pipeline keeps calling
 * jd_consumer_keepalive(), so the group still sees a live member (past
 * max.poll.interval.ms without a poll it would leave the group) and
 * rebalances are still served. Partitions assigned while paused are
 * paused at once. Pausing makes librdkafka drop what it had fetched for
 * those partitions and fetch again from the application's position on
 * resume, so nothing is consumed twice and memory stays at one batch. Should
 * a message still arrive while paused, it is dropped and its partition
 * rewound to it on resume (cs_rewind), so it is not lost either.
 */
#include "jd_consumer.h"

#include <stdlib.h>
#include <string.h>

#include "jd_kconf.h"
#include "jd_log.h"

struct jd_consumer {
    rd_kafka_t       *cs_rk;
    rd_kafka_queue_t *cs_queue;
    int               cs_assigned;
    int               cs_paused;
    int               cs_closing;     /* inside rd_kafka_consumer_close */
    int               cs_left_committed; /* stored offsets committed before
                                            leaving (atomic: log threads read it) */
    unsigned          cs_rebalances;  /* assign and revoke events served */
    rd_kafka_topic_partition_list_t *cs_rewind; /* offsets to seek back to on resume */
    rd_kafka_topic_partition_list_t *cs_revoked; /* given up since the last
                                                    jd_consumer_take_revoked */
    rd_kafka_topic_partition_list_t *cs_assignment; /* rd_kafka_assignment as of the
                                                       last rebalance; NULL: ask again */
};

static void jd_consumer_log_parts(const char *what, rd_kafka_topic_partition_list_t *parts)
{
    char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < parts->cnt && n < sizeof buf - 64; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s[%d]", i ? " " : "",
                              parts->elems[i].topic, parts->elems[i].partition);
    JD_INFO("consumer", "%s %d partition(s): %s", what, parts->cnt, buf);
}

/* librdkafka's log, but for the commit it makes itself when the
 * partitions are given up: after jd_consumer_commit_stored, a failure of
 * it (the group is rebalancing because another member of this process
 * left first) commits nothing new, so it is not a warning. */
static void jd_consumer_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const jd_consumer_t *c = rd_kafka_opaque(rk);
    if (level <= 4 && c && strcmp(fac, "COMMITFAIL") == 0 &&
        __atomic_load_n(&c->cs_left_committed, __ATOMIC_RELAXED) &&
        strstr(buf, "unassigned partitions"))
        level = 7;
    jd_kconf_log(rk, level, fac, buf);
}

static void jd_consumer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                                  rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    jd_consumer_t *c = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;

    c->cs_rebalances++;
    if (c->cs_assignment) /* the assignment changes below: asked again when next wanted */
        rd_kafka_topic_partition_list_destroy(c->cs_assignment);
    c->cs_assignment = NULL;

    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        jd_consumer_log_parts("assigned", parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        c->cs_assigned = coop ? c->cs_assigned + parts->cnt : parts->cnt;
        if (c->cs_paused)
            rd_kafka_pause_partitions(rk, parts);
        return;
    }
    jd_consumer_log_parts("revoked", parts);
    if (!c->cs_revoked)
        c->cs_revoked = rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; c->cs_revoked && i < parts->cnt; i++)
        rd_kafka_topic_partition_list_add(c->cs_revoked, parts->elems[i].topic,
                                          parts->elems[i].partition);
    /* While closing, asynchronous: the close commits what is stored
     * itself, and a synchronous commit here was seen to wait without end
     * (rd_kafka_consumer_close -> this callback -> rd_kafka_commit) when
     * two instances of one group were stopped at the same moment. */
    rd_kafka_resp_err_t ce = rd_kafka_commit(rk, NULL, c->cs_closing);
    if (ce && ce != RD_KAFKA_RESP_ERR__NO_OFFSET)
        JD_WARN("consumer", "commit before giving partitions up: %s (the new owner "
                "replays from the previous commit)", rd_kafka_err2str(ce));
    if (coop) {
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        c->cs_assigned -= parts->cnt;
    } else {
        rd_kafka_assign(rk, NULL);
        c->cs_assigned = 0;
    }
}

static int jd_consumer_subscribe(jd_consumer_t *c, const char *topics, jd_err_t *err)
{
    char list[4096];
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(4);
    snprintf(list, sizeof list, "%s", topics);
    for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save))
        rd_kafka_topic_partition_list_add(tl, t, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->cs_rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    if (e)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "subscribe to %s: %s",
                          topics, rd_kafka_err2str(e));
    return 0;
}

jd_consumer_t *jd_consumer_new(const jd_config_t *cf, const char *bootstrap,
                               jd_err_t *err)
{
    char errstr[512];
    jd_consumer_t *c = calloc(1, sizeof *c);
    rd_kafka_conf_t *conf;

    if (!c) {
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    conf = jd_kconf_new(cf, JD_KCONF_CONSUMER, bootstrap, err);
    if (!conf) {
        free(c);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, jd_consumer_rebalance);
    rd_kafka_conf_set_log_cb(conf, jd_consumer_log);
    rd_kafka_conf_set_opaque(conf, c);
    c->cs_rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c->cs_rk) {
        rd_kafka_conf_destroy(conf);
        jd_err_set(err, JD_ERR_FATAL, JD_E_KAFKA, "consumer: %s", errstr);
        free(c);
        return NULL;
    }
    rd_kafka_poll_set_consumer(c->cs_rk);
    c->cs_queue = rd_kafka_queue_get_consumer(c->cs_rk);
    char topics[4096];
    snprintf(topics, sizeof topics, "%s%s%s", cf->cf_topics_input,
             cf->cf_topic_repartition[0] ? "," : "", cf->cf_topic_repartition);
    if (jd_consumer_subscribe(c, topics, err)) {
        jd_consumer_close(c);
        return NULL;
    }
    return c;
}

rd_kafka_topic_partition_list_t *jd_consumer_take_revoked(jd_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *tl = c->cs_revoked;
    c->cs_revoked = NULL;
    return tl;
}

size_t jd_consumer_poll(jd_consumer_t *c, rd_kafka_message_t **msgs, size_t max,
                        int timeout_ms)
{
    /* rd_kafka_consume_batch_queue waits for `max` messages or the
     * timeout, whichever comes first: at low rates every batch would wait
     * the whole timeout. So the wait is for the first message only, and
     * the rest is what is queued by then. */
    ssize_t n = rd_kafka_consume_batch_queue(c->cs_queue, timeout_ms, msgs, 1);
    if (n == 1 && max > 1) {
        ssize_t more = rd_kafka_consume_batch_queue(c->cs_queue, 0, msgs + 1, max - 1);
        n += more > 0 ? more : 0;
    }
    return n < 0 ? 0 : (size_t)n;
}

int jd_consumer_store_offsets(jd_consumer_t *c, rd_kafka_topic_partition_list_t *tl,
                              jd_err_t *err)
{
    rd_kafka_topic_partition_list_t *ok = rd_kafka_topic_partition_list_new(tl->cnt);
    for (int i = 0; i < tl->cnt; i++)
        if (tl->elems[i].offset >= 0)
            rd_kafka_topic_partition_list_add(ok, tl->elems[i].topic, tl->elems[i].partition)
                ->offset = tl->elems[i].offset;
    rd_kafka_resp_err_t e = ok->cnt ? rd_kafka_offsets_store(c->cs_rk, ok) : 0;
    rd_kafka_topic_partition_list_destroy(ok);
    /* _STATE: the partition was revoked meanwhile; its new owner replays
     * from the last commit, which is safe because updates are idempotent. */
    if (e && e != RD_KAFKA_RESP_ERR__STATE)
        return jd_err_set(err, JD_ERR_RETRY, JD_E_KAFKA, "offsets store: %s",
                          rd_kafka_err2str(e));
    return 0;
}

/* Appends every partition of `topic` with its end offset to out. */
static int jd_consumer_topic_ends(jd_consumer_t *c, const char *topic,
                                  const rd_kafka_topic_partition_list_t *mine,
                                  rd_kafka_topic_partition_list_t *out, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->cs_rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int rc = -1;

    if (rkt && rd_kafka_metadata(c->cs_rk, 0, rkt, &md, timeout_ms) == 0 &&
        md->topic_cnt == 1 && !md->topics[0].err) {
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            int32_t id = md->topics[0].partitions[p].id;
            int64_t lo = -1, hi = -1;
            if (mine && rd_kafka_topic_partition_list_find(mine, topic, id))
                rd_kafka_get_watermark_offsets(c->cs_rk, topic, id, &lo, &hi);
            else if (rd_kafka_query_watermark_offsets(c->cs_rk, topic, id, &lo, &hi, timeout_ms))
                hi = -1;
            rd_kafka_topic_partition_list_add(out, topic, id)->offset = hi;
        }
        rc = 0;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return rc;
}

rd_kafka_topic_partition_list_t *jd_consumer_ends(jd_consumer_t *c, int timeout_ms)
{
    rd_kafka_topic_partition_list_t *subs = NULL, *mine = jd_consumer_assignment(c);
    rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(16);
    int rc = rd_kafka_subscription(c->cs_rk, &subs) ? -1 : 0;

    for (int i = 0; !rc && i < subs->cnt; i++)
        rc = jd_consumer_topic_ends(c, subs->elems[i].topic, mine, out, timeout_ms);
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (mine)
        rd_kafka_topic_partition_list_destroy(mine);
    if (rc) {
        rd_kafka_topic_partition_list_destroy(out);
        return NULL;
    }
    return out;
}

/* rd_kafka_assignment is a round trip to librdkafka's main thread (an
 * operation queued and waited for), and the batch cycle asks for the
 * assignment every batch; it only changes in jd_consumer_rebalance, which
 * runs on this thread inside a poll, so the answer is kept until then. */
rd_kafka_topic_partition_list_t *jd_consumer_assignment(jd_consumer_t *c)
{
    if (!c->cs_assignment && rd_kafka_assignment(c->cs_rk, &c->cs_assignment))
        c->cs_assignment = NULL;
    return c->cs_assignment ? rd_kafka_topic_partition_list_copy(c->cs_assignment) : NULL;
}

int jd_consumer_pause(jd_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (c->cs_paused)
        return 0;
    if (rd_kafka_assignment(c->cs_rk, &parts) == 0) {
        rd_kafka_pause_partitions(c->cs_rk, parts);
        JD_WARN("consumer", "paused %d partition(s) until the batch in flight completes",
                parts->cnt);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    c->cs_paused = 1;
    return 1;
}

/* Remembers the lowest offset per partition of a message that arrived
 * while paused, to seek back to it on resume. */
static void jd_consumer_rewind_add(jd_consumer_t *c, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    rd_kafka_topic_partition_t *tp;
    if (!c->cs_rewind)
        c->cs_rewind = rd_kafka_topic_partition_list_new(4);
    tp = rd_kafka_topic_partition_list_find(c->cs_rewind, topic, m->partition);
    if (!tp) {
        tp = rd_kafka_topic_partition_list_add(c->cs_rewind, topic, m->partition);
        tp->offset = m->offset;
    } else if (m->offset < tp->offset)
        tp->offset = m->offset;
}

void jd_consumer_keepalive(jd_consumer_t *c, int timeout_ms)
{
    rd_kafka_message_t *msgs[16];
    ssize_t n = rd_kafka_consume_batch_queue(c->cs_queue, timeout_ms, msgs, 16);
    for (ssize_t i = 0; i < n; i++) {
        if (!msgs[i]->err && msgs[i]->rkt)
            jd_consumer_rewind_add(c, msgs[i]);
        rd_kafka_message_destroy(msgs[i]);
    }
}

void jd_consumer_resume(jd_consumer_t *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (!c->cs_paused)
        return;
    if (c->cs_rewind) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(c->cs_rk, c->cs_rewind, 5000);
        JD_WARN("consumer", "rewound %d partition(s) to messages fetched while paused%s%s",
                c->cs_rewind->cnt, e ? ": " : "", e ? rd_kafka_error_string(e) : "");
        rd_kafka_error_destroy(e);
        rd_kafka_topic_partition_list_destroy(c->cs_rewind);
        c->cs_rewind = NULL;
    }
    if (rd_kafka_assignment(c->cs_rk, &parts) == 0) {
        rd_kafka_resume_partitions(c->cs_rk, parts);
        JD_INFO("consumer", "resumed %d partition(s)", parts->cnt);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    c->cs_paused = 0;
}

unsigned jd_consumer_rebalances(const jd_consumer_t *c)
{
    return c->cs_rebalances;
}

int jd_consumer_assigned(const jd_consumer_t *c)
{
    return c->cs_assigned;
}

int jd_consumer_commit_stored(jd_consumer_t *c, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->cs_rk);
    rd_kafka_resp_err_t e = rd_kafka_commit_queue(c->cs_rk, NULL, q, NULL, NULL);
    if (!e) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
        e = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    if (!e || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        __atomic_store_n(&c->cs_left_committed, 1, __ATOMIC_RELAXED);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        JD_WARN("consumer", "offset commit before leaving the group: %s", rd_kafka_err2str(e));
    return e && e != RD_KAFKA_RESP_ERR__NO_OFFSET ? -1 : 0;
}

void jd_consumer_close(jd_consumer_t *c)
{
    if (!c)
        return;
    if (c->cs_rk && c->cs_queue) {
        /* Leave the group first and serve the revoke here: librdkafka
         * 2.0.2 aborts in rd_kafka_consumer_close (rd_kafka_cgrp_terminated:
         * assert !rd_kafka_assignment_in_progress) when the group is
         * rebalancing at that moment (seen after a member came back from a
         * freeze). Messages polled here are dropped, never processed:
         * their offsets are not stored. */
        c->cs_closing = 1;
        rd_kafka_unsubscribe(c->cs_rk);
        for (int i = 0; i < 30 && c->cs_assigned > 0; i++)
            jd_consumer_keepalive(c, 100);
    }
    if (c->cs_queue)
        rd_kafka_queue_destroy(c->cs_queue);
    if (c->cs_rewind)
        rd_kafka_topic_partition_list_destroy(c->cs_rewind);
    if (c->cs_rk) {
        /* Asynchronous: a synchronous commit has no bound when the
         * brokers are gone, and the close below commits what is stored
         * and waits for it, bounded by session.timeout.ms. */
        rd_kafka_commit(c->cs_rk, NULL, 1);
        c->cs_closing = 1;
        rd_kafka_consumer_close(c->cs_rk);
        rd_kafka_destroy(c->cs_rk);
    }
    /* After the close: its revoke callback still adds to the list. */
    if (c->cs_revoked)
        rd_kafka_topic_partition_list_destroy(c->cs_revoked);
    if (c->cs_assignment)
        rd_kafka_topic_partition_list_destroy(c->cs_assignment);
    free(c);
}
