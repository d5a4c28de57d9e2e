/*
 * jd_outcomes: per-rule outcome sets in Redis and their periodic
 * publication (contract in jd_outcomes.h).
 *
 * Each noted outcome is a pair (set name, trigger id of the fired
 * episode); flush SADDs them in one pipelined round trip. Publication
 * SCARDs the three sets of every rule, encodes one RuleOutcome per rule
 * with avro-c (Confluent frame, schemas.outcome_schema_id) and waits for
 * the deliveries. Counts are cumulative, so a lost publication loses
 * nothing: the next one carries them.
 */
#include "jd_outcomes.h"

#include <avro.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jd_codec_int.h"
#include "jd_log.h"
#include "jd_outcome.h"
#include "rule_outcome_avsc.h"

typedef struct jd_note {
    size_t no_name;                      /* rule * 3 + outcome index */
    char   no_member[JD_TRIGGER_ID_LEN + 1];
} jd_note_t;

struct jd_outcomes {
    const jd_config_t  *oc_cf;
    const jd_ruleset_t *oc_rs;
    size_t              oc_cnt;
    char              **oc_names;        /* "outcomes:<rule>:<outcome>" */
    jd_note_t          *oc_notes;
    size_t              oc_nnotes, oc_cap;
    avro_schema_t       oc_schema;
    avro_value_iface_t *oc_class;
    avro_value_t        oc_value;
    int64_t             oc_last_ms;      /* wall clock of the last publication */
};

static const unsigned jd_outcome_bits[3] = {JD_OUTCOME_FIRED, JD_OUTCOME_RESOLVED_30D,
                                            JD_OUTCOME_CHURNED};

static int64_t jd_outcomes_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void jd_outcomes_destroy(jd_outcomes_t *oc)
{
    if (!oc)
        return;
    for (size_t i = 0; oc->oc_names && i < 3 * oc->oc_cnt; i++)
        free(oc->oc_names[i]);
    free(oc->oc_names);
    free(oc->oc_notes);
    if (oc->oc_class) {
        avro_value_decref(&oc->oc_value);
        avro_value_iface_decref(oc->oc_class);
    }
    if (oc->oc_schema)
        avro_schema_decref(oc->oc_schema);
    free(oc);
}

jd_outcomes_t *jd_outcomes_new(const jd_config_t *cf, const jd_ruleset_t *rs, jd_err_t *err)
{
    jd_outcomes_t *oc = calloc(1, sizeof *oc);

    if (!oc || !(oc->oc_names = calloc(3 * jd_rules_count(rs) + 1, sizeof *oc->oc_names))) {
        jd_outcomes_destroy(oc);
        jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        return NULL;
    }
    oc->oc_cf = cf;
    oc->oc_rs = rs;
    oc->oc_cnt = jd_rules_count(rs);
    oc->oc_last_ms = jd_outcomes_wall_ms();
    for (size_t r = 0; r < oc->oc_cnt; r++)
        for (size_t k = 0; k < 3; k++) {
            const char *id = jd_rule_id(jd_rules_at(rs, r));
            size_t len = strlen(id) + 32;
            if (!(oc->oc_names[3 * r + k] = malloc(len))) {
                jd_outcomes_destroy(oc);
                jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
                return NULL;
            }
            snprintf(oc->oc_names[3 * r + k], len, "outcomes:%s:%s", id,
                     jd_outcome_name(jd_outcome_bits[k]));
        }
    if (jd__codec_schema_parse(jd_rule_outcome_avsc, sizeof jd_rule_outcome_avsc - 1,
                               "rule_outcome.avsc", &oc->oc_schema, err) ||
        jd__codec_value_new(oc->oc_schema, &oc->oc_class, &oc->oc_value, err)) {
        jd_outcomes_destroy(oc);
        return NULL;
    }
    return oc;
}

int jd_outcomes_note(jd_outcomes_t *oc, const char *account, const jd_signals_t *sg,
                     const jd_rule_state_t *before, const jd_rule_state_t *after,
                     const jd_decision_t *decisions)
{
    const jd_value_t *status = jd_signals_get(sg, JD_SIG_STATUS);
    const jd_value_t *as_of = jd_signals_get(sg, JD_SIG_AS_OF);
    int churned = status->type == JD_VAL_STR && !strcmp(status->str, "churned");

    if (!oc || as_of->type != JD_VAL_NUM)
        return 0;
    for (size_t r = 0; r < oc->oc_cnt; r++) {
        uint64_t ep;
        unsigned m = jd_outcome_of(&before[r], &after[r], decisions[r], (int64_t)as_of->num,
                                   churned, &ep);
        for (size_t k = 0; k < 3; k++) {
            if (!(m & jd_outcome_bits[k]))
                continue;
            if (oc->oc_nnotes == oc->oc_cap) {
                size_t cap = oc->oc_cap ? 2 * oc->oc_cap : 256;
                jd_note_t *nn = realloc(oc->oc_notes, cap * sizeof *nn);
                if (!nn)
                    return -1;
                oc->oc_notes = nn;
                oc->oc_cap = cap;
            }
            jd_note_t *no = &oc->oc_notes[oc->oc_nnotes++];
            no->no_name = 3 * r + k;
            jd_trigger_make_id(no->no_member, account, jd_rule_id(jd_rules_at(oc->oc_rs, r)),
                               ep);
        }
    }
    return 0;
}

int jd_outcomes_flush(jd_outcomes_t *oc, jd_store_t *st, jd_err_t *err)
{
    const char **names, **members;
    int rc = 0;

    if (!oc || !oc->oc_nnotes)
        return 0;
    names = calloc(oc->oc_nnotes, sizeof *names);
    members = calloc(oc->oc_nnotes, sizeof *members);
    if (!names || !members)
        rc = jd_err_set(err, JD_ERR_RETRY, JD_E_NOMEM, "out of memory");
    for (size_t i = 0; !rc && i < oc->oc_nnotes; i++) {
        names[i] = oc->oc_names[oc->oc_notes[i].no_name];
        members[i] = oc->oc_notes[i].no_member;
    }
    if (!rc && !(rc = jd_store_sadd(st, names, members, oc->oc_nnotes, err)))
        oc->oc_nnotes = 0;
    free(names);
    free(members);
    return rc;
}

/* One record into buf (Confluent frame). 0 or -1. */
static int jd_outcomes_encode(jd_outcomes_t *oc, size_t r, const int64_t *n, int64_t now,
                              jd_buf_t *buf)
{
    const jd_rule_t *rule = jd_rules_at(oc->oc_rs, r);
    avro_value_t *v = &oc->oc_value, f;
    size_t size;
    int32_t id = oc->oc_cf->cf_outcome_schema_id;
    int bad = avro_value_reset(v) ||
              avro_value_get_by_name(v, "rule_id", &f, NULL) ||
              avro_value_set_string(&f, jd_rule_id(rule)) ||
              avro_value_get_by_name(v, "rule_version", &f, NULL) ||
              avro_value_set_string(&f, jd_rule_version(rule)) ||
              avro_value_get_by_name(v, "kind", &f, NULL) ||
              avro_value_set_string(&f, jd_kind_name(jd_rule_kind(rule))) ||
              avro_value_get_by_name(v, "mode", &f, NULL) ||
              avro_value_set_string(&f, jd_rule_is_shadow(rule) ? "shadow" : "active") ||
              avro_value_get_by_name(v, "fired", &f, NULL) || avro_value_set_long(&f, n[0]) ||
              avro_value_get_by_name(v, "resolved_30d", &f, NULL) ||
              avro_value_set_long(&f, n[1]) ||
              avro_value_get_by_name(v, "churned", &f, NULL) || avro_value_set_long(&f, n[2]) ||
              avro_value_get_by_name(v, "published_at", &f, NULL) ||
              avro_value_set_long(&f, now) || avro_value_sizeof(v, &size);
    if (bad)
        return -1;
    if (buf->b_cap < size + 5) {
        unsigned char *nb = realloc(buf->b_data, size + 5);
        if (!nb)
            return -1;
        buf->b_data = nb;
        buf->b_cap = size + 5;
    }
    buf->b_data[0] = 0;
    buf->b_data[1] = (unsigned char)(id >> 24);
    buf->b_data[2] = (unsigned char)(id >> 16);
    buf->b_data[3] = (unsigned char)(id >> 8);
    buf->b_data[4] = (unsigned char)id;
    avro_writer_t w = avro_writer_memory((char *)buf->b_data + 5, (int64_t)size);
    bad = avro_value_write(w, v);
    avro_writer_free(w);
    buf->b_len = size + 5;
    return bad ? -1 : 0;
}

int jd_outcomes_publish(jd_outcomes_t *oc, jd_store_t *st, jd_producer_t *p, int force)
{
    int64_t now = jd_outcomes_wall_ms(), *n;
    jd_delivery_t *dl;
    jd_buf_t buf = {0};
    jd_err_t err;
    int sent = 0, rc;

    if (!oc || !oc->oc_cnt || !oc->oc_cf->cf_outcomes_interval_s ||
        (!force && now - oc->oc_last_ms < (int64_t)oc->oc_cf->cf_outcomes_interval_s * 1000))
        return 0;
    oc->oc_last_ms = now;
    n = calloc(3 * oc->oc_cnt, sizeof *n);
    dl = calloc(oc->oc_cnt, sizeof *dl);
    if (!n || !dl || jd_store_scard(st, (const char *const *)oc->oc_names, 3 * oc->oc_cnt, n,
                                    &err)) {
        JD_WARN("outcomes", "cannot read the outcome counts%s", n && dl ? "" : ": no memory");
        free(n);
        free(dl);
        return 0;
    }
    for (size_t r = 0; r < oc->oc_cnt; r++) {
        if (jd_outcomes_encode(oc, r, &n[3 * r], now, &buf) ||
            jd_producer_send(p, oc->oc_cf->cf_topic_outcomes, jd_rule_id(jd_rules_at(oc->oc_rs, r)),
                             buf.b_data, buf.b_len, NULL, 0, &dl[r], &err))
            continue;
        sent++;
    }
    rc = jd_producer_wait(p, oc->oc_cf->cf_flush_timeout_ms, &err);
    if (rc)
        JD_WARN("outcomes", "rule outcomes not all delivered (%d); the next publication "
                            "carries the same counts", rc);
    else
        JD_INFO("outcomes", "published the outcomes of %d rule(s) on %s", sent,
                oc->oc_cf->cf_topic_outcomes);
    free(buf.b_data);
    free(n);
    free(dl);
    return rc ? 0 : sent;
}
