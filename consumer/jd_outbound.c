/*
 * jd_outbound: the batch's outbound records (contract in jd_outbound.h).
 *
 * Delivery discipline, walked through. A record is queued with its own
 * jd_delivery_t (dl_done 0). jd_producer_wait returns when every queued
 * record was reported, or after the flush timeout. After it, a record is in
 * one of three states: acknowledged (done, err 0), failed (done, err != 0)
 * or still in flight (not done). Only failed ones are sent again: a record
 * in flight may yet be acknowledged, and sending it again would publish a
 * second copy for every timeout that passes. A dead letter is held the same
 * way (its bytes are copied here, since the message is freed with the
 * batch) so a failure before a timeout is not forgotten. The loop ends when
 * all are acknowledged; meanwhile the consumer is paused (jd_wait).
 *
 * Records are counted and printed only once the batch is acknowledged, so
 * the summary says what was published, not what was attempted.
 */
#include "jd_outbound.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_cloudevent.h"
#include "jd_log.h"
#include "jd_ops.h"
#include "jd_window.h"

typedef enum jd_out_kind {
    JD_OUT_TRIGGER = 0,
    JD_OUT_STAGE,
    JD_OUT_DLQ,
    JD_OUT_FORWARD,  /* an input message re-keyed to topics.repartition */
} jd_out_kind_t;

typedef struct jd_out {
    jd_out_kind_t    ot_kind;
    const char      *ot_topic_to; /* the topic it goes to (a configuration string) */
    jd_buf_t         ot_payload;
    jd_buf_t         ot_key;      /* DLQ: the original key, else the account
                                     (NUL-terminated; empty: no key) */
    int32_t          ot_partition; /* FORWARD */
    jd_delivery_t    ot_dl;
    jd_cloudevent_t  ot_ce;       /* TRIGGER, STAGE, DLQ: its ce_* headers */
    /* DLQ: headers */
    char             ot_reason[64], ot_error[sizeof(((jd_err_t *)0)->err_msg)], ot_topic[256];
    char             ot_part[16], ot_off[24];
} jd_out_t;

struct jd_outbound {
    jd_outbound_conf_t ob_c;
    jd_trigger_t       ob_tr;       /* the trigger being encoded */
    jd_stage_event_t   ob_se;       /* the stage event being encoded */
    char               ob_source[JD_CE_SOURCE_MAX]; /* ce_source of every record */
    jd_out_t         **ob_outs;     /* each allocated once: the producer holds
                                       &ot_dl until the record is reported */
    size_t             ob_n, ob_cap;
};

jd_outbound_t *jd_outbound_new(const jd_outbound_conf_t *conf)
{
    jd_outbound_t *ob = calloc(1, sizeof *ob);
    if (!ob)
        return NULL;
    ob->ob_c = *conf;
    jd_cloudevent_source(conf->oc_cf->cf_ce_source, jd_config_kafka(conf->oc_cf, "group.id"),
                         ob->ob_source, sizeof ob->ob_source);
    return ob;
}

void jd_outbound_destroy(jd_outbound_t *ob)
{
    if (!ob)
        return;
    for (size_t i = 0; i < ob->ob_cap; i++) {
        jd_buf_free(&ob->ob_outs[i]->ot_payload);
        jd_buf_free(&ob->ob_outs[i]->ot_key);
        free(ob->ob_outs[i]);
    }
    free(ob->ob_outs);
    free(ob);
}

size_t jd_outbound_count(const jd_outbound_t *ob)
{
    return ob->ob_n;
}

void jd_outbound_reset(jd_outbound_t *ob)
{
    ob->ob_n = 0;
}

static const char *jd_outbound_topic(const jd_outbound_t *ob, jd_out_kind_t kind,
                                     const jd_trigger_t *tr);

/* A slot for a record of kind `kind` (tr: its trigger, for JD_OUT_TRIGGER). */
static jd_out_t *jd_outbound_add(jd_outbound_t *ob, jd_out_kind_t kind, const jd_trigger_t *tr)
{
    if (ob->ob_n == ob->ob_cap) {
        size_t cap = ob->ob_cap ? 2 * ob->ob_cap : 64;
        jd_out_t **no = realloc(ob->ob_outs, cap * sizeof *no);
        if (!no)
            return NULL;
        ob->ob_outs = no;
        for (; ob->ob_cap < cap; ob->ob_cap++)
            if (!(no[ob->ob_cap] = calloc(1, sizeof **no)))
                return NULL;
    }
    jd_out_t *o = ob->ob_outs[ob->ob_n++];
    o->ot_kind = kind;
    o->ot_topic_to = jd_outbound_topic(ob, kind, tr);
    o->ot_payload.b_len = 0;
    o->ot_key.b_len = 0;
    return o;
}

/* The topic of a record of kind `kind` (tr: the trigger, for JD_OUT_TRIGGER). */
static const char *jd_outbound_topic(const jd_outbound_t *ob, jd_out_kind_t kind,
                                     const jd_trigger_t *tr)
{
    const jd_config_t *cf = ob->ob_c.oc_cf;
    if (kind == JD_OUT_DLQ)
        return cf->cf_topic_dlq;
    if (kind == JD_OUT_FORWARD)
        return cf->cf_topic_repartition;
    if (kind == JD_OUT_STAGE)
        return cf->cf_topic_stage;
    if (tr->tr_shadow)
        return cf->cf_topic_shadow; /* never a trigger topic */
    switch (tr->tr_kind) {
    case JD_KIND_RISK: return cf->cf_topic_risk;
    case JD_KIND_RENEWAL_READINESS: return cf->cf_topic_renewal;
    default: return cf->cf_topic_expansion;
    }
}

/* Queues o (again); a queueing failure marks its slot failed. */
static void jd_outbound_send(jd_outbound_t *ob, jd_out_t *o)
{
    jd_err_t err;
    o->ot_dl.dl_done = 0;
    o->ot_dl.dl_err = 0;
    const char *key = o->ot_key.b_len ? (const char *)o->ot_key.b_data : NULL;
    if (o->ot_kind == JD_OUT_FORWARD) {
        jd_producer_send_to(ob->ob_c.oc_producer, o->ot_topic_to, o->ot_partition, key,
                            o->ot_payload.b_data, o->ot_payload.b_len, NULL, 0, &o->ot_dl, &err);
        return;
    }
    jd_header_t h[5 + JD_CE_HEADERS];
    size_t n = jd_cloudevent_headers(&o->ot_ce, h);
    if (o->ot_kind == JD_OUT_DLQ) {
        h[n++] = (jd_header_t){"jd.reason", o->ot_reason, strlen(o->ot_reason)};
        h[n++] = (jd_header_t){"jd.error", o->ot_error, strlen(o->ot_error)};
        h[n++] = (jd_header_t){"jd.source.topic", o->ot_topic, strlen(o->ot_topic)};
        h[n++] = (jd_header_t){"jd.source.partition", o->ot_part, strlen(o->ot_part)};
        h[n++] = (jd_header_t){"jd.source.offset", o->ot_off, strlen(o->ot_off)};
    }
    jd_producer_send(ob->ob_c.oc_producer, o->ot_topic_to, key, o->ot_payload.b_data,
                     o->ot_payload.b_len, h, n, &o->ot_dl, &err);
}

static int jd_outbound_nomem(void)
{
    JD_ERROR("pipeline", "out of memory for an outbound record");
    return JD_ERR_FATAL;
}

/* ---- triggers and stage events ----------------------------------------------- */

static void jd_outbound_print_trigger(const jd_outbound_t *ob, const jd_trigger_t *tr)
{
    FILE *f = ob->ob_c.oc_print;
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

static void jd_outbound_print_stage(const jd_outbound_t *ob, const jd_stage_event_t *se)
{
    FILE *f = ob->ob_c.oc_print;
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
static void jd_outbound_count_rule(jd_outbound_t *ob, const jd_trigger_t *tr)
{
    size_t n = jd_rules_count(ob->ob_c.oc_rs);
    if (tr->tr_status != JD_STATUS_FIRED)
        return;
    for (size_t r = 0; r < n; r++)
        if (strcmp(jd_rule_id(jd_rules_at(ob->ob_c.oc_rs, r)), tr->tr_rule_id) == 0)
            ob->ob_c.oc_stats->ps_triggers_by_rule[r]++;
}

static int jd_outbound_copy(jd_buf_t *b, const void *p, size_t len, int nul)
{
    if (b->b_cap < len + 1) {
        unsigned char *nb = realloc(b->b_data, len + 1);
        if (!nb)
            return -1;
        b->b_data = nb;
        b->b_cap = len + 1;
    }
    if (len)
        memcpy(b->b_data, p, len);
    if (nul)
        b->b_data[len] = '\0';
    b->b_len = len;
    return 0;
}

/* Counts and prints a trigger as it is sent: it is re-sent until it is
 * acknowledged, never dropped, so what is counted is what is published
 * (a crash before its acknowledgement publishes it again on replay). */
static void jd_outbound_tally_trigger(jd_outbound_t *ob, const jd_trigger_t *tr)
{
    jd_pipeline_stats_t *ps = ob->ob_c.oc_stats;
    jd_outbound_count_rule(ob, tr);
    if (tr->tr_shadow)
        ps->ps_shadow++;
    else if (tr->tr_status == JD_STATUS_RESOLVED)
        ps->ps_resolved++;
    else {
        ps->ps_triggers++;
        ps->ps_triggers_by_kind[tr->tr_kind]++;
        jd_ops_trigger(jd_kind_symbol(tr->tr_kind), tr->tr_rule_id);
    }
    jd_outbound_print_trigger(ob, tr);
}

int jd_outbound_trigger(jd_outbound_t *ob, const jd_trigger_t *tr, const jd_src_t *src)
{
    jd_err_t err;
    if (tr->tr_shadow && !ob->ob_c.oc_cf->cf_topic_shadow[0]) {
        ob->ob_c.oc_stats->ps_shadow++;
        jd_outbound_count_rule(ob, tr);
        JD_INFO("rules", "shadow %s %s %s: %s", jd_trigger_status_symbol(tr->tr_status),
                tr->tr_rule_id, tr->tr_account, tr->tr_reason);
        jd_outbound_print_trigger(ob, tr);
        return 0;
    }
    jd_trigger_t *t = &ob->ob_tr;
    *t = *tr;
    snprintf(t->tr_source_topic, sizeof t->tr_source_topic, "%s", src->sr_topic);
    t->tr_source_partition = src->sr_partition;
    t->tr_source_offset = src->sr_offset;
    jd_out_t *o = jd_outbound_add(ob, JD_OUT_TRIGGER, t);
    if (!o || jd_outbound_copy(&o->ot_key, t->tr_account, strlen(t->tr_account), 1))
        return jd_outbound_nomem();
    if (jd_encoder_trigger(ob->ob_c.oc_encoder, t, ob->ob_c.oc_ids->ri_trigger[t->tr_kind],
                           &o->ot_payload, &err)) {
        JD_ERROR("pipeline", "encoding trigger %s: %s", t->tr_id, err.err_msg);
        return err.err_class;
    }
    jd_cloudevent_trigger(&o->ot_ce, t, ob->ob_source);
    jd_outbound_send(ob, o);
    jd_outbound_tally_trigger(ob, t);
    return 0;
}

/* The numeric signals behind stage decisions, as a stage event's evidence. */
static void jd_outbound_stage_evidence(const jd_signals_t *sg, jd_stage_event_t *se)
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

static void jd_outbound_stage_fill(jd_stage_event_t *se, const char *account,
                                   const jd_signals_change_t *ch, const jd_signals_t *sg,
                                   const jd_src_t *src)
{
    const jd_value_t *seg = jd_signals_get(sg, JD_SIG_SEGMENT);
    memset(se, 0, sizeof *se);
    jd_stage_event_make_id(se->se_id, account, ch->ch_seq, ch->ch_stage_name, ch->ch_at);
    se->se_sequence = ch->ch_seq;
    snprintf(se->se_account, sizeof se->se_account, "%s", account);
    snprintf(se->se_stage, sizeof se->se_stage, "%s", ch->ch_stage_name);
    if ((se->se_has_previous = ch->ch_previous != NULL))
        snprintf(se->se_previous, sizeof se->se_previous, "%s", ch->ch_previous);
    se->se_changed_at = ch->ch_at;
    snprintf(se->se_cause, sizeof se->se_cause, "%s", ch->ch_cause ? ch->ch_cause : "");
    if ((se->se_has_cause_at = ch->ch_cause_at != JD_SIGNALS_NO_TS))
        se->se_cause_at = ch->ch_cause_at;
    if ((se->se_has_segment = seg->type == JD_VAL_STR))
        snprintf(se->se_segment, sizeof se->se_segment, "%s", seg->str);
    jd_outbound_stage_evidence(sg, se);
    snprintf(se->se_source_topic, sizeof se->se_source_topic, "%s", src->sr_topic);
    se->se_source_partition = src->sr_partition;
    se->se_source_offset = src->sr_offset;
}

int jd_outbound_stage(jd_outbound_t *ob, const char *account,
                      const jd_signals_change_t *ch, const jd_signals_t *sg,
                      const jd_src_t *src)
{
    jd_err_t err;
    jd_stage_event_t *se = &ob->ob_se;
    jd_outbound_stage_fill(se, account, ch, sg, src);
    jd_out_t *o = jd_outbound_add(ob, JD_OUT_STAGE, NULL);
    if (!o || jd_outbound_copy(&o->ot_key, se->se_account, strlen(se->se_account), 1))
        return jd_outbound_nomem();
    if (jd_stage_encode(ob->ob_c.oc_stage, se, ob->ob_c.oc_ids->ri_stage, &o->ot_payload,
                        &err)) {
        JD_ERROR("pipeline", "encoding stage event %s: %s", se->se_id, err.err_msg);
        return err.err_class;
    }
    jd_cloudevent_stage(&o->ot_ce, se, ob->ob_source);
    jd_outbound_send(ob, o);
    ob->ob_c.oc_stats->ps_stage_events++;
    jd_ops_stage_event(se->se_stage);
    jd_outbound_print_stage(ob, se);
    return 0;
}

/* ---- dead letters ------------------------------------------------------------- */

int jd_outbound_dead_letter(jd_outbound_t *ob, const rd_kafka_message_t *m,
                            const jd_err_t *derr)
{
    const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
    jd_out_t *o = jd_outbound_add(ob, JD_OUT_DLQ, NULL);
    if (!o || jd_outbound_copy(&o->ot_payload, m->payload, m->len, 0) ||
        jd_outbound_copy(&o->ot_key, m->key, m->key && m->key_len < 512 ? m->key_len : 0, 1))
        return jd_outbound_nomem();
    snprintf(o->ot_reason, sizeof o->ot_reason, "%s", jd_err_code_name(derr->err_code));
    snprintf(o->ot_error, sizeof o->ot_error, "%s", derr->err_msg);
    snprintf(o->ot_topic, sizeof o->ot_topic, "%s", topic);
    snprintf(o->ot_part, sizeof o->ot_part, "%d", (int)m->partition);
    snprintf(o->ot_off, sizeof o->ot_off, "%lld", (long long)m->offset);
    rd_kafka_timestamp_type_t tst;
    jd_cloudevent_dead_letter(&o->ot_ce, topic, m->partition, m->offset,
                              rd_kafka_message_timestamp(m, &tst), m->key, m->key_len,
                              ob->ob_source);
    ob->ob_c.oc_stats->ps_dead_letters++;
    ob->ob_c.oc_stats->ps_dlq_by_reason[derr->err_code]++;
    jd_ops_decode_error(derr->err_code);
    JD_WARN("pipeline", "dead-letter %s[%d]@%lld: %s: %s", topic, (int)m->partition,
            (long long)m->offset, o->ot_reason, derr->err_msg);
    jd_outbound_send(ob, o);
    return 0;
}

int jd_outbound_forward(jd_outbound_t *ob, const rd_kafka_message_t *m, const char *account,
                        int32_t partition)
{
    jd_out_t *o = jd_outbound_add(ob, JD_OUT_FORWARD, NULL);
    if (!o || jd_outbound_copy(&o->ot_payload, m->payload, m->len, 0) ||
        jd_outbound_copy(&o->ot_key, account, strlen(account), 1))
        return jd_outbound_nomem();
    o->ot_partition = partition;
    ob->ob_c.oc_stats->ps_forwarded++;
    jd_outbound_send(ob, o);
    return 0;
}

/* ---- flush ---------------------------------------------------------------------- */

/* Re-sends every failed record of the first n; returns how many of them
 * are not acknowledged. */
static size_t jd_outbound_resend(jd_outbound_t *ob, size_t n)
{
    size_t pending = 0;
    for (size_t i = 0; i < n; i++) {
        jd_out_t *o = ob->ob_outs[i];
        if (o->ot_dl.dl_done && o->ot_dl.dl_err == 0)
            continue;
        pending++;
        if (o->ot_dl.dl_done)
            jd_outbound_send(ob, o); /* failed: send again; in flight: wait */
    }
    return pending;
}

int jd_outbound_flush(jd_outbound_t *ob, jd_wait_t *wt)
{
    for (;;) {
        jd_err_t err;
        int rc = jd_producer_wait(ob->ob_c.oc_producer,
                                  jd_wait_bound(wt, ob->ob_c.oc_cf->cf_flush_timeout_ms), &err);
        if (rc == JD_ERR_FATAL)
            return rc;
        size_t pending = jd_outbound_resend(ob, ob->ob_n);
        if (!pending)
            break;
        if (jd_wait_give_up(wt))
            return JD_ERR_RETRY;
        if (rc >= 0)
            jd_err_set(&err, JD_ERR_RETRY, JD_E_KAFKA, "%zu deliveries failed", pending);
        jd_wait_backoff(wt, rc == JD_ERR_RETRY ? "waiting for Kafka acknowledgements"
                                               : "publishing triggers", &err);
    }
    jd_wait_ok(wt);
    jd_ops_dead_letters_delivered();
    return 0;
}

/* 1 while one of the first n records has no delivery report; *from:
 * those before it have one (reports come mostly in order, so a wait
 * scans the records about once). */
static int jd_outbound_in_flight(const jd_outbound_t *ob, size_t n, size_t *from)
{
    while (*from < n && ob->ob_outs[*from]->ot_dl.dl_done)
        ++*from;
    for (size_t i = *from; i < n; i++)
        if (!ob->ob_outs[i]->ot_dl.dl_done)
            return 1;
    return 0;
}

/* Reverses ob_outs[a..b). */
static void jd_outbound_reverse(jd_outbound_t *ob, size_t a, size_t b)
{
    while (a + 1 < b) {
        jd_out_t *t = ob->ob_outs[a];
        ob->ob_outs[a++] = ob->ob_outs[--b];
        ob->ob_outs[b] = t;
    }
}

/* The first n records, acknowledged, are forgotten: their slots go to the
 * back (rotation), so the records queued after them keep their slots,
 * which the producer points into. */
static void jd_outbound_forget_first(jd_outbound_t *ob, size_t n)
{
    jd_ops_dead_letters_delivered();
    jd_outbound_reverse(ob, 0, n);
    jd_outbound_reverse(ob, n, ob->ob_cap);
    jd_outbound_reverse(ob, 0, ob->ob_cap);
    ob->ob_n -= n;
}

int jd_outbound_acked_first(jd_outbound_t *ob, size_t n)
{
    jd_err_t err;
    size_t from = 0;
    if (n > ob->ob_n)
        n = ob->ob_n;
    if (jd_outbound_in_flight(ob, n, &from) &&
        (jd_producer_poll(ob->ob_c.oc_producer, 0, &err) < 0 ||
         jd_outbound_in_flight(ob, n, &from)))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ob->ob_outs[i]->ot_dl.dl_err)
            return 0; /* failed: the flush re-sends it */
    return 1;
}

int jd_outbound_flush_first(jd_outbound_t *ob, size_t n, jd_wait_t *wt)
{
    if (n > ob->ob_n)
        n = ob->ob_n;
    for (;;) {
        jd_err_t err;
        int64_t until = jd_wait_now_ms() + jd_wait_bound(wt, ob->ob_c.oc_cf->cf_flush_timeout_ms);
        size_t from = 0;
        while (jd_outbound_in_flight(ob, n, &from) && jd_wait_now_ms() < until)
            if (jd_producer_poll(ob->ob_c.oc_producer, 1, &err) == JD_ERR_FATAL)
                return JD_ERR_FATAL;
        int late = jd_outbound_in_flight(ob, n, &from);
        size_t pending = jd_outbound_resend(ob, n);
        if (!pending)
            break;
        if (jd_wait_give_up(wt))
            return JD_ERR_RETRY;
        if (late)
            jd_err_set(&err, JD_ERR_RETRY, JD_E_KAFKA, "%zu record(s) not acknowledged", pending);
        else
            jd_err_set(&err, JD_ERR_RETRY, JD_E_KAFKA, "%zu deliveries failed", pending);
        jd_wait_backoff(wt, late ? "waiting for Kafka acknowledgements" : "publishing triggers",
                        &err);
    }
    jd_wait_ok(wt);
    jd_outbound_forget_first(ob, n);
    return 0;
}

size_t jd_outbound_retire(jd_outbound_t *ob)
{
    jd_err_t err;
    size_t k = 0;
    if (!ob->ob_n)
        return 0;
    if (jd_producer_poll(ob->ob_c.oc_producer, 0, &err) < 0)
        return 0; /* the flush reports it */
    while (k < ob->ob_n && ob->ob_outs[k]->ot_dl.dl_done && !ob->ob_outs[k]->ot_dl.dl_err)
        k++;
    if (k)
        jd_outbound_forget_first(ob, k);
    return k;
}
