/*
 * jd_replay: two rule sets over the same events, and the difference
 * (contract in jd_replay.h).
 *
 * The loop mirrors jd_pipeline's, without Kafka: read a batch of records
 * from the file (re-encoded to Avro binary with a Confluent frame so the
 * decoder reads them with the file's own writer schema), evaluate the
 * accounts whose timers the batch's watermark passed (held back where the
 * batch has earlier events of theirs), apply the batch to the scratch
 * state, decide each touched account with both rule sets, then the timers
 * again. Journey changes (healthy adoption, stage) are committed to the
 * scratch state as `run` would, because rules read them. Rule states,
 * deadlines and the instant each account's rules stand at are per rule set
 * and in memory.
 *
 * The report matches triggers by (account, rule, status, n-th occurrence):
 * present in one set only = added / removed; in both with another
 * fired_at, play, severity or level = changed.
 */
#include "jd_replay.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "jd_arena.h"
#include "jd_codec.h"
#include "jd_log.h"
#include "jd_state.h"
#include "jd_window.h"

/* One rule set's side of the replay. */
typedef struct jd_side {
    const jd_ruleset_t *sd_rs;
    const char        **sd_ids;     /* rule ids, for jd_state (unused) */
    size_t              sd_cnt;
    jd_rule_state_t    *sd_states;  /* accounts x sd_cnt */
    int64_t            *sd_dl;      /* next deadline per account */
    int64_t            *sd_at;      /* rules stand at (JD_SIGNALS_NO_TS) */
    jd_trigger_t       *sd_trs;     /* everything fired, in order */
    size_t              sd_ntr, sd_captr;
    jd_trigger_t       *sd_tmp;     /* sd_cnt */
} jd_side_t;

typedef struct jd_replay {
    const jd_config_t *rp_cf;
    const jd_replay_opts_t *rp_o;
    jd_state_t        *rp_st;
    jd_decoder_t      *rp_dec;
    jd_arena_t         rp_arena;
    jd_side_t          rp_side[2];  /* 0: new, 1: baseline */
    char             **rp_names;    /* account ids, by index */
    int64_t           *rp_last;     /* latest occurred_at applied */
    size_t             rp_nacct, rp_capacct;
    size_t            *rp_slots;    /* open addressing: index + 1 */
    size_t             rp_nslots;
    int64_t            rp_max_seen;
    size_t             rp_events;
    int64_t            rp_tick, rp_late;
    jd_account_batch_t *rp_abs;     /* batch slices */
    size_t            *rp_aidx;     /* account index of each slice */
    int64_t           *rp_hold;     /* earliest event of each account in
                                       the batch being read, or INT64_MAX */
} jd_replay_t;

/* ---- accounts --------------------------------------------------------------- */

static int jd_replay_grow(jd_replay_t *rp)
{
    size_t cap = rp->rp_capacct ? 2 * rp->rp_capacct : 256;
    char **nm = realloc(rp->rp_names, cap * sizeof *nm);
    int64_t *last = nm ? realloc(rp->rp_last, cap * sizeof *last) : NULL;
    int64_t *hold = last ? realloc(rp->rp_hold, cap * sizeof *hold) : NULL;

    if (nm)
        rp->rp_names = nm;
    if (last)
        rp->rp_last = last;
    if (hold)
        rp->rp_hold = hold;
    if (!hold)
        return -1;
    for (int s = 0; s < 2; s++) {
        jd_side_t *sd = &rp->rp_side[s];
        jd_rule_state_t *st = realloc(sd->sd_states, cap * sd->sd_cnt * sizeof *st);
        int64_t *dl = st ? realloc(sd->sd_dl, cap * sizeof *dl) : NULL;
        int64_t *at = dl ? realloc(sd->sd_at, cap * sizeof *at) : NULL;
        if (st)
            sd->sd_states = st;
        if (dl)
            sd->sd_dl = dl;
        if (at)
            sd->sd_at = at;
        if (!at)
            return -1;
    }
    rp->rp_capacct = cap;
    free(rp->rp_slots); /* rehash */
    rp->rp_nslots = 4 * cap;
    if (!(rp->rp_slots = calloc(rp->rp_nslots, sizeof *rp->rp_slots)))
        return -1;
    for (size_t i = 0; i < rp->rp_nacct; i++) {
        size_t h = (size_t)XXH3_64bits(rp->rp_names[i], strlen(rp->rp_names[i]));
        while (rp->rp_slots[h % rp->rp_nslots])
            h++;
        rp->rp_slots[h % rp->rp_nslots] = i + 1;
    }
    return 0;
}

/* The index of an account, added (with fresh states) on first sight. */
static long jd_replay_account(jd_replay_t *rp, const char *name)
{
    size_t h;

    if (rp->rp_nacct == rp->rp_capacct && jd_replay_grow(rp) < 0)
        return -1;
    h = (size_t)XXH3_64bits(name, strlen(name));
    for (;; h++) {
        size_t s = rp->rp_slots[h % rp->rp_nslots];
        if (!s)
            break;
        if (!strcmp(rp->rp_names[s - 1], name))
            return (long)(s - 1);
    }
    size_t i = rp->rp_nacct;
    if (!(rp->rp_names[i] = strdup(name)))
        return -1;
    rp->rp_last[i] = JD_SIGNALS_NO_TS;
    for (int s = 0; s < 2; s++) {
        jd_side_t *sd = &rp->rp_side[s];
        memset(&sd->sd_states[i * sd->sd_cnt], 0, sd->sd_cnt * sizeof *sd->sd_states);
        sd->sd_dl[i] = INT64_MAX;
        sd->sd_at[i] = JD_SIGNALS_NO_TS;
    }
    rp->rp_slots[h % rp->rp_nslots] = i + 1;
    rp->rp_nacct++;
    return (long)i;
}

/* ---- deciding ------------------------------------------------------------------- */

static int jd_replay_keep(jd_side_t *sd, const jd_trigger_t *tr, size_t n)
{
    if (sd->sd_ntr + n > sd->sd_captr) {
        size_t cap = sd->sd_captr ? 2 * sd->sd_captr : 256;
        while (cap < sd->sd_ntr + n)
            cap *= 2;
        jd_trigger_t *t = realloc(sd->sd_trs, cap * sizeof *t);
        if (!t)
            return -1;
        sd->sd_trs = t;
        sd->sd_captr = cap;
    }
    memcpy(&sd->sd_trs[sd->sd_ntr], tr, n * sizeof *tr);
    sd->sd_ntr += n;
    return 0;
}

/* Decides account i on side s with signals sg (skipped, only moving the
 * deadline on, when its rules stand at a later instant or stale is set),
 * then sets its next deadline. */
static int jd_replay_decide(jd_replay_t *rp, int s, size_t i, jd_signals_t *sg, int stale)
{
    jd_side_t *sd = &rp->rp_side[s];
    jd_rule_state_t *st = &sd->sd_states[i * sd->sd_cnt];
    const jd_value_t *as_of = jd_signals_get(sg, JD_SIG_AS_OF);
    int64_t at;

    if (as_of->type != JD_VAL_NUM) {
        sd->sd_dl[i] = INT64_MAX;
        return 0;
    }
    at = (int64_t)as_of->num;
    if (stale || (sd->sd_at[i] != JD_SIGNALS_NO_TS && at < sd->sd_at[i])) {
        int64_t to = stale ? rp->rp_last[i] : sd->sd_at[i];
        if (sd->sd_at[i] != JD_SIGNALS_NO_TS && sd->sd_at[i] > to)
            to = sd->sd_at[i];
        at = to;
    } else {
        size_t n = jd_rules_decide(sd->sd_rs, rp->rp_names[i], sg, st, NULL, sd->sd_tmp,
                                   sd->sd_cnt);
        for (size_t k = 0; k < n; k++) {
            sd->sd_tmp[k].tr_source_partition = -1;
            sd->sd_tmp[k].tr_source_offset = -1;
        }
        if (jd_replay_keep(sd, sd->sd_tmp, n) < 0)
            return -1;
    }
    sd->sd_at[i] = at;
    jd_signals_set_num(sg, JD_SIG_AS_OF, (double)at);
    sd->sd_dl[i] = rp->rp_cf->cf_timers_enabled
                       ? jd_rules_next_deadline(sd->sd_rs, sg, st, rp->rp_tick)
                       : INT64_MAX;
    return 0;
}

/* ---- timers -------------------------------------------------------------------- */

/* The earliest due deadline not held back by the batch, or INT64_MAX. */
static int64_t jd_replay_next_due(const jd_replay_t *rp, int64_t watermark)
{
    int64_t best = INT64_MAX;

    for (size_t i = 0; i < rp->rp_nacct; i++)
        for (int s = 0; s < 2; s++) {
            int64_t d = rp->rp_side[s].sd_dl[i];
            if (d <= watermark && d < rp->rp_hold[i] && d < best)
                best = d;
        }
    return best;
}

/* Evaluates, at instant d, every account with a side due at d. */
static int jd_replay_timer_round(jd_replay_t *rp, int64_t d, jd_err_t *err)
{
    size_t n = 0;
    int rc;

    for (size_t i = 0; i < rp->rp_nacct && n < rp->rp_o->rp_batch; i++)
        if ((rp->rp_side[0].sd_dl[i] == d || rp->rp_side[1].sd_dl[i] == d) &&
            d < rp->rp_hold[i]) {
            memset(&rp->rp_abs[n], 0, sizeof rp->rp_abs[n]);
            rp->rp_abs[n].ab_account = rp->rp_names[i];
            rp->rp_aidx[n++] = i;
        }
    if ((rc = jd_state_read_at(rp->rp_st, rp->rp_abs, n, d, NULL, 0, err)))
        return rc;
    for (size_t k = 0; k < n; k++) {
        size_t i = rp->rp_aidx[k];
        int stale = rp->rp_last[i] == JD_SIGNALS_NO_TS || rp->rp_last[i] >= d;
        for (int s = 0; s < 2; s++) {
            jd_signals_t sg;
            if (rp->rp_side[s].sd_dl[i] != d)
                continue;
            jd_signals_copy(&sg, &rp->rp_abs[k].ab_signals);
            if (jd_replay_decide(rp, s, i, &sg, stale || (rp->rp_side[s].sd_at[i] !=
                                                          JD_SIGNALS_NO_TS &&
                                                          rp->rp_side[s].sd_at[i] >= d)) < 0)
                return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        }
    }
    return 0;
}

static int jd_replay_timers(jd_replay_t *rp, jd_err_t *err)
{
    int64_t watermark = rp->rp_max_seen - rp->rp_late, d;
    int rc;

    if (!rp->rp_cf->cf_timers_enabled || rp->rp_max_seen == JD_SIGNALS_NO_TS)
        return 0;
    while ((d = jd_replay_next_due(rp, watermark)) != INT64_MAX)
        if ((rc = jd_replay_timer_round(rp, d, err)))
            return rc;
    return 0;
}

/* ---- batches -------------------------------------------------------------------- */

static int jd_replay_ev_cmp(const void *a, const void *b)
{
    const jd_event_t *x = *(const jd_event_t *const *)a, *y = *(const jd_event_t *const *)b;
    int c = strcmp(x->ev_account, y->ev_account);
    return c ? c : (x < y ? -1 : x > y);
}

/* Groups the batch's events by account into rp_abs; returns the count. */
static long jd_replay_group(jd_replay_t *rp, jd_event_t *evs, size_t n, const jd_event_t **sorted)
{
    size_t na = 0;

    for (size_t e = 0; e < n; e++)
        sorted[e] = &evs[e];
    qsort(sorted, n, sizeof *sorted, jd_replay_ev_cmp);
    for (size_t e = 0; e < n;) {
        size_t f = e;
        long i = jd_replay_account(rp, sorted[e]->ev_account);
        if (i < 0)
            return -1;
        while (f < n && !strcmp(sorted[f]->ev_account, sorted[e]->ev_account))
            f++;
        memset(&rp->rp_abs[na], 0, sizeof rp->rp_abs[na]);
        rp->rp_abs[na].ab_account = rp->rp_names[i];
        rp->rp_abs[na].ab_events = &sorted[e];
        rp->rp_abs[na].ab_event_cnt = f - e;
        rp->rp_aidx[na++] = (size_t)i;
        e = f;
    }
    return (long)na;
}

/* Applies a grouped batch and decides its accounts on both sides. */
static int jd_replay_apply(jd_replay_t *rp, size_t na, jd_err_t *err)
{
    int rc = jd_state_apply(rp->rp_st, rp->rp_abs, na, NULL, 0, err);
    jd_signals_change_t *chs = rc ? NULL : calloc(na ? na : 1, sizeof *chs);
    jd_state_commit_t *cms = chs ? calloc(na ? na : 1, sizeof *cms) : NULL;
    size_t ncm = 0;

    if (!rc && !cms)
        rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    for (size_t k = 0; !rc && k < na; k++) {
        jd_account_batch_t *ab = &rp->rp_abs[k];
        size_t i = rp->rp_aidx[k];
        const jd_value_t *last = jd_signals_get(&ab->ab_signals, JD_SIG_LAST_EVENT_AT);
        if (last->type == JD_VAL_NUM)
            rp->rp_last[i] = (int64_t)last->num;
        if (jd_signals_observe(&ab->ab_signals, jd_state_signals_conf(rp->rp_st), &chs[k])) {
            cms[ncm].cm_account = ab->ab_account;
            cms[ncm].cm_claim = ab->ab_claim;
            cms[ncm++].cm_change = &chs[k];
        }
        for (int s = 0; s < 2 && !rc; s++) {
            jd_signals_t sg;
            jd_signals_copy(&sg, &ab->ab_signals);
            if (jd_replay_decide(rp, s, i, &sg, 0) < 0)
                rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        }
    }
    if (!rc && ncm)
        rc = jd_state_commit(rp->rp_st, cms, ncm, NULL, err);
    free(chs);
    free(cms);
    return rc;
}

static int jd_replay_batch(jd_replay_t *rp, jd_event_t *evs, size_t n, jd_err_t *err)
{
    const jd_event_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    long na;
    int rc;

    if (!sorted || (na = jd_replay_group(rp, evs, n, sorted)) < 0) {
        free(sorted);
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rp->rp_nacct; i++)
        rp->rp_hold[i] = INT64_MAX;
    for (size_t e = 0; e < n; e++) {
        long i = jd_replay_account(rp, evs[e].ev_account);
        if (evs[e].ev_occurred_at < rp->rp_hold[i])
            rp->rp_hold[i] = evs[e].ev_occurred_at;
        if (rp->rp_max_seen == JD_SIGNALS_NO_TS || evs[e].ev_occurred_at > rp->rp_max_seen)
            rp->rp_max_seen = evs[e].ev_occurred_at;
    }
    na = jd_replay_group(rp, evs, n, sorted); /* the timers reuse the slices */
    rc = jd_replay_timers(rp, err);
    if (!rc)
        na = jd_replay_group(rp, evs, n, sorted);
    if (!rc)
        rc = jd_replay_apply(rp, (size_t)na, err);
    for (size_t i = 0; i < rp->rp_nacct; i++)
        rp->rp_hold[i] = INT64_MAX;
    if (!rc)
        rc = jd_replay_timers(rp, err);
    free(sorted);
    return rc;
}

/* ---- the report ------------------------------------------------------------- */

static int jd_replay_tr_cmp(const void *a, const void *b)
{
    const jd_trigger_t *x = a, *y = b;
    int c = strcmp(x->tr_account, y->tr_account);
    if (!c)
        c = strcmp(x->tr_rule_id, y->tr_rule_id);
    if (!c)
        c = (int)x->tr_status - (int)y->tr_status;
    if (!c)
        c = x->tr_fired_at < y->tr_fired_at ? -1 : x->tr_fired_at > y->tr_fired_at;
    return c;
}

/* Same (account, rule, status): 0 when equal. */
static int jd_replay_key_cmp(const jd_trigger_t *x, const jd_trigger_t *y)
{
    int c = strcmp(x->tr_account, y->tr_account);
    if (!c)
        c = strcmp(x->tr_rule_id, y->tr_rule_id);
    return c ? c : (int)x->tr_status - (int)y->tr_status;
}

static int jd_replay_same(const jd_trigger_t *x, const jd_trigger_t *y)
{
    return x->tr_fired_at == y->tr_fired_at && !strcmp(x->tr_play, y->tr_play) &&
           x->tr_severity == y->tr_severity && !strcmp(x->tr_level, y->tr_level);
}

/* Per-rule counts, by rule id (both sets' ids). */
typedef struct jd_rule_count {
    const char *rc_id;
    size_t      rc_n[2], rc_add, rc_rem, rc_chg;
} jd_rule_count_t;

static jd_rule_count_t *jd_replay_count(jd_rule_count_t *rc, size_t *n, const char *id)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(rc[i].rc_id, id))
            return &rc[i];
    memset(&rc[*n], 0, sizeof rc[*n]);
    rc[*n].rc_id = id;
    return &rc[(*n)++];
}

static void jd_replay_line(FILE *out, const char *what, const jd_trigger_t *t,
                           const jd_trigger_t *old)
{
    char at[40], was[40];

    jd_window_format_iso(t->tr_fired_at, at, sizeof at);
    fprintf(out, "  %-8s %-20s %-28s %-8s %s", what, t->tr_account, t->tr_rule_id,
            jd_trigger_status_symbol(t->tr_status), at);
    if (old) {
        jd_window_format_iso(old->tr_fired_at, was, sizeof was);
        fprintf(out, " (baseline %s play %s%s%s)", was, old->tr_play,
                old->tr_level[0] ? " level " : "", old->tr_level);
    }
    fprintf(out, " play %s%s%s\n", t->tr_play, t->tr_level[0] ? " level " : "", t->tr_level);
}

/* Walks both sorted lists, matching the n-th trigger of each key. */
static void jd_replay_diff(jd_replay_t *rp, FILE *out, jd_replay_result_t *res,
                           jd_rule_count_t *rc, size_t *nrc)
{
    jd_side_t *nw = &rp->rp_side[0], *bs = &rp->rp_side[1];
    size_t i = 0, j = 0;

    qsort(nw->sd_trs, nw->sd_ntr, sizeof *nw->sd_trs, jd_replay_tr_cmp);
    qsort(bs->sd_trs, bs->sd_ntr, sizeof *bs->sd_trs, jd_replay_tr_cmp);
    for (size_t k = 0; k < nw->sd_ntr; k++)
        jd_replay_count(rc, nrc, nw->sd_trs[k].tr_rule_id)->rc_n[0]++;
    for (size_t k = 0; k < bs->sd_ntr; k++)
        jd_replay_count(rc, nrc, bs->sd_trs[k].tr_rule_id)->rc_n[1]++;
    while (i < nw->sd_ntr || j < bs->sd_ntr) {
        const jd_trigger_t *a = i < nw->sd_ntr ? &nw->sd_trs[i] : NULL;
        const jd_trigger_t *b = j < bs->sd_ntr ? &bs->sd_trs[j] : NULL;
        int c = !a ? 1 : !b ? -1 : jd_replay_key_cmp(a, b);
        if (c < 0) {
            res->rr_added++;
            jd_replay_count(rc, nrc, a->tr_rule_id)->rc_add++;
            if (rp->rp_o->rp_list)
                jd_replay_line(out, "ADDED", a, NULL);
            i++;
        } else if (c > 0) {
            res->rr_removed++;
            jd_replay_count(rc, nrc, b->tr_rule_id)->rc_rem++;
            if (rp->rp_o->rp_list)
                jd_replay_line(out, "REMOVED", b, NULL);
            j++;
        } else {
            if (!jd_replay_same(a, b)) {
                res->rr_changed++;
                jd_replay_count(rc, nrc, a->tr_rule_id)->rc_chg++;
                if (rp->rp_o->rp_list)
                    jd_replay_line(out, "CHANGED", a, b);
            }
            i++;
            j++;
        }
    }
}

static int jd_replay_report(jd_replay_t *rp, FILE *out, jd_replay_result_t *res)
{
    size_t cap = rp->rp_side[0].sd_cnt + rp->rp_side[1].sd_cnt + 1, nrc = 0;
    jd_rule_count_t *rc = calloc(cap, sizeof *rc);

    if (!rc)
        return -1;
    /* every rule of both sets, new first, even without triggers */
    for (int s = 0; s < 2; s++)
        for (size_t r = 0; r < rp->rp_side[s].sd_cnt; r++)
            jd_replay_count(rc, &nrc, jd_rule_id(jd_rules_at(rp->rp_side[s].sd_rs, r)));
    res->rr_new = rp->rp_side[0].sd_ntr;
    res->rr_base = rp->rp_side[1].sd_ntr;
    if (rp->rp_o->rp_list)
        fprintf(out, "triggers that differ (new rules vs baseline):\n");
    jd_replay_diff(rp, out, res, rc, &nrc);
    fprintf(out, "\n%-32s %9s %9s %7s %7s %7s\n", "rule", "baseline", "new", "added", "removed",
            "changed");
    for (size_t i = 0; i < nrc; i++)
        fprintf(out, "%-32s %9zu %9zu %7zu %7zu %7zu\n", rc[i].rc_id, rc[i].rc_n[1],
                rc[i].rc_n[0], rc[i].rc_add, rc[i].rc_rem, rc[i].rc_chg);
    fprintf(out, "%-32s %9zu %9zu %7zu %7zu %7zu\n", "total", res->rr_base, res->rr_new,
            res->rr_added, res->rr_removed, res->rr_changed);
    free(rc);
    return 0;
}

/* ---- set-up and the loop ---------------------------------------------------- */

static int jd_replay_side(jd_side_t *sd, const jd_ruleset_t *rs)
{
    sd->sd_rs = rs;
    sd->sd_cnt = jd_rules_count(rs);
    sd->sd_tmp = calloc(sd->sd_cnt ? sd->sd_cnt : 1, sizeof *sd->sd_tmp);
    return sd->sd_tmp ? 0 : -1;
}

static int jd_replay_setup(jd_replay_t *rp, char *prefix, size_t cap, jd_err_t *err)
{
    jd_state_conf_t sc;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(prefix, cap, "%s:replay-%ld-%lld", rp->rp_cf->cf_redis_prefix, (long)getpid(),
             (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    jd_config_state(rp->rp_cf, &sc);
    sc.sc_prefix = prefix;
    sc.sc_idle_expiry_ms = 3600 * 1000; /* a crashed replay cleans itself up */
    rp->rp_tick = (int64_t)rp->rp_cf->cf_timers_tick_s * 1000;
    rp->rp_late = (int64_t)rp->rp_cf->cf_timers_lateness_s * 1000;
    rp->rp_max_seen = JD_SIGNALS_NO_TS;
    jd_arena_init(&rp->rp_arena, 256 * 1024);
    if (jd_replay_side(&rp->rp_side[0], rp->rp_o->rp_new) ||
        jd_replay_side(&rp->rp_side[1], rp->rp_o->rp_base) ||
        !(rp->rp_abs = calloc(rp->rp_o->rp_batch, sizeof *rp->rp_abs)) ||
        !(rp->rp_aidx = calloc(rp->rp_o->rp_batch, sizeof *rp->rp_aidx)) ||
        jd_replay_grow(rp) < 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    if (!(rp->rp_st = jd_state_new(&sc, err)))
        return err->err_class ? err->err_class : JD_ERR_FATAL;
    return 0;
}

static void jd_replay_teardown(jd_replay_t *rp)
{
    jd_err_t err;

    if (rp->rp_st && jd_state_drop_all(rp->rp_st, &err) < 0)
        JD_WARN("replay", "scratch state not removed: %s", err.err_msg);
    jd_state_destroy(rp->rp_st);
    jd_decoder_destroy(rp->rp_dec);
    jd_arena_destroy(&rp->rp_arena);
    for (int s = 0; s < 2; s++) {
        free(rp->rp_side[s].sd_states);
        free(rp->rp_side[s].sd_dl);
        free(rp->rp_side[s].sd_at);
        free(rp->rp_side[s].sd_trs);
        free(rp->rp_side[s].sd_tmp);
    }
    for (size_t i = 0; i < rp->rp_nacct; i++)
        free(rp->rp_names[i]);
    free(rp->rp_names);
    free(rp->rp_last);
    free(rp->rp_hold);
    free(rp->rp_slots);
    free(rp->rp_abs);
    free(rp->rp_aidx);
}

/* Reads and processes the whole source; counts undecodable messages. */
static int jd_replay_loop(jd_replay_t *rp, jd_replay_src_t *src, size_t *bad, jd_err_t *err)
{
    jd_event_t *evs = calloc(rp->rp_o->rp_batch, sizeof *evs);
    size_t n = 0;
    long len;
    const void *buf;
    int rc = evs ? 0 : jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");

    while (!rc && (len = jd_replay_src_next(src, &buf, err)) != 0) {
        jd_err_t derr;
        if (len < 0) {
            rc = err->err_class ? err->err_class : JD_ERR_FATAL;
            break;
        }
        if (jd_decoder_decode(rp->rp_dec, buf, (size_t)len, &rp->rp_arena, &evs[n], &derr)) {
            (*bad)++;
            continue;
        }
        rp->rp_events++;
        if (++n == rp->rp_o->rp_batch) {
            rc = jd_replay_batch(rp, evs, n, err);
            jd_arena_reset(&rp->rp_arena);
            n = 0;
        }
    }
    if (!rc && n)
        rc = jd_replay_batch(rp, evs, n, err);
    free(evs);
    return rc;
}

int jd_replay_run(const jd_config_t *cf, const jd_replay_opts_t *ro, FILE *out,
                  jd_replay_result_t *res, jd_err_t *err)
{
    jd_replay_t rp;
    jd_replay_src_t *src = NULL;
    char prefix[256];
    size_t bad = 0;
    int rc;

    memset(&rp, 0, sizeof rp);
    memset(res, 0, sizeof *res);
    rp.rp_cf = cf;
    rp.rp_o = ro;
    rc = jd_replay_setup(&rp, prefix, sizeof prefix, err);
    if (!rc && !(src = jd_replay_src_open(cf, ro, &rp.rp_dec, err)))
        rc = JD_ERR_FATAL;
    if (!rc)
        rc = jd_replay_loop(&rp, src, &bad, err);
    if (!rc) {
        res->rr_accounts = rp.rp_nacct;
        res->rr_events = rp.rp_events;
        fprintf(out, "replay %s: %zu event(s), %zu account(s)%s",
                ro->rp_topic ? ro->rp_topic : ro->rp_file, rp.rp_events, rp.rp_nacct,
                bad ? "" : "\n");
        if (bad)
            fprintf(out, ", %zu record(s) that do not decode skipped\n", bad);
        if (jd_replay_report(&rp, out, res))
            rc = jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    jd_replay_src_close(src);
    jd_replay_teardown(&rp);
    return rc;
}
