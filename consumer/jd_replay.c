/*
 * jd_replay: two rule sets over the same events, and the difference
 * (contract in jd_replay.h).
 *
 * The loop is the state engine's (consumer/jd_batch.c) without Kafka or
 * Redis: every account has one record per rule set, in memory, and the
 * events are stepped through in file order with jd_step, as `run` steps
 * through a partition. Before each event the clock (the latest occurred_at
 * read, minus timers.allowed_lateness_s) fires every deadline it passed,
 * in (deadline, account) order, at the deadline; then the event is applied
 * and decided. The records of the two sides see the same events at the
 * same points, so their signals are equal and only the rule states (and
 * what follows from them) differ. At the end the deadlines up to the last
 * clock fire.
 *
 * The report matches triggers by (account, rule, status, n-th occurrence):
 * present in one set only = added / removed; in both with another
 * fired_at, play, severity or level = changed.
 */
#include "jd_replay.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_account.h"
#include "jd_arena.h"
#include "jd_codec.h"
#include "jd_log.h"
#include "jd_step.h"

/* A deadline of one account (index) on one side. */
typedef struct jd_due {
    int64_t du_at;
    size_t  du_i;
} jd_due_t;

/* One rule set's side of the replay. */
typedef struct jd_side {
    const jd_ruleset_t *sd_rs;
    jd_step_t          *sd_step;
    jd_account_t      **sd_ac;      /* by account index */
    jd_due_t           *sd_heap;    /* min-heap of deadlines; an entry whose
                                       account has moved on is skipped */
    size_t              sd_nheap, sd_capheap;
    jd_trigger_t       *sd_trs;     /* everything fired, in order */
    size_t              sd_ntr, sd_captr;
} jd_side_t;

typedef struct jd_replay {
    const jd_config_t *rp_cf;
    const jd_replay_opts_t *rp_o;
    jd_decoder_t      *rp_dec;
    jd_arena_t         rp_arena;
    jd_account_conf_t  rp_acf;
    jd_signals_conf_t  rp_sgc;
    jd_side_t          rp_side[2];  /* 0: new, 1: baseline */
    char             **rp_names;    /* account ids, by index */
    size_t             rp_nacct, rp_capacct;
    size_t            *rp_slots;    /* open addressing: index + 1 */
    size_t             rp_nslots;
    int64_t            rp_clock;    /* JD_SIGNALS_NO_TS before the first event */
    size_t             rp_events;
    int64_t            rp_late;
} jd_replay_t;

/* ---- accounts --------------------------------------------------------------- */

static int jd_replay_grow(jd_replay_t *rp)
{
    size_t cap = rp->rp_capacct ? 2 * rp->rp_capacct : 256;
    char **nm = realloc(rp->rp_names, cap * sizeof *nm);
    if (!nm)
        return -1;
    rp->rp_names = nm;
    for (int s = 0; s < 2; s++) {
        jd_account_t **ac = realloc(rp->rp_side[s].sd_ac, cap * sizeof *ac);
        if (!ac)
            return -1;
        rp->rp_side[s].sd_ac = ac;
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

/* The index of an account, added (with a fresh record per side) on first
 * sight; -1 when out of memory. */
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
    for (int s = 0; s < 2; s++)
        if (!(rp->rp_side[s].sd_ac[i] = jd_account_new(name)))
            return -1;
    rp->rp_slots[h % rp->rp_nslots] = i + 1;
    rp->rp_nacct++;
    return (long)i;
}

/* ---- deadlines -------------------------------------------------------------------- */

static int jd_due_less(const jd_due_t *x, const jd_due_t *y)
{
    return x->du_at < y->du_at || (x->du_at == y->du_at && x->du_i < y->du_i);
}

static int jd_replay_push(jd_side_t *sd, int64_t at, size_t i)
{
    if (sd->sd_nheap == sd->sd_capheap) {
        size_t cap = sd->sd_capheap ? 2 * sd->sd_capheap : 256;
        jd_due_t *h = realloc(sd->sd_heap, cap * sizeof *h);
        if (!h)
            return -1;
        sd->sd_heap = h;
        sd->sd_capheap = cap;
    }
    size_t k = sd->sd_nheap++;
    jd_due_t d = {at, i};
    for (; k > 0 && jd_due_less(&d, &sd->sd_heap[(k - 1) / 2]); k = (k - 1) / 2)
        sd->sd_heap[k] = sd->sd_heap[(k - 1) / 2];
    sd->sd_heap[k] = d;
    return 0;
}

static jd_due_t jd_replay_pop(jd_side_t *sd)
{
    jd_due_t top = sd->sd_heap[0], last = sd->sd_heap[--sd->sd_nheap];
    size_t k = 0, n = sd->sd_nheap;
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && jd_due_less(&sd->sd_heap[c + 1], &sd->sd_heap[c]))
            c++;
        if (!jd_due_less(&sd->sd_heap[c], &last))
            break;
        sd->sd_heap[k] = sd->sd_heap[c];
        k = c;
    }
    if (n)
        sd->sd_heap[k] = last;
    return top;
}

/* ---- deciding ------------------------------------------------------------------- */

/* Keeps the step's triggers and indexes the account's next deadline when
 * it moved (before: its deadline before the step). */
static int jd_replay_keep(jd_replay_t *rp, jd_side_t *sd, size_t i, int n, int64_t before)
{
    const jd_step_t *sp = sd->sd_step;
    if (n < 0)
        return -1;
    if (sd->sd_ntr + (size_t)n > sd->sd_captr) {
        size_t cap = sd->sd_captr ? 2 * sd->sd_captr : 256;
        while (cap < sd->sd_ntr + (size_t)n)
            cap *= 2;
        jd_trigger_t *t = realloc(sd->sd_trs, cap * sizeof *t);
        if (!t)
            return -1;
        sd->sd_trs = t;
        sd->sd_captr = cap;
    }
    for (int k = 0; k < n; k++) {
        jd_trigger_t *t = &sd->sd_trs[sd->sd_ntr++];
        *t = sp->sp_out[k];
        t->tr_source_partition = -1;
        t->tr_source_offset = -1;
    }
    int64_t at = sd->sd_ac[i]->ac_timer_at;
    if (!rp->rp_cf->cf_timers_enabled || at <= 0 || at == before)
        return 0;
    return jd_replay_push(sd, at, i);
}

/* Every deadline of side sd the clock passed, in (deadline, account)
 * order, decided at its deadline. */
static int jd_replay_fire(jd_replay_t *rp, jd_side_t *sd)
{
    while (sd->sd_nheap && sd->sd_heap[0].du_at <= rp->rp_clock) {
        jd_due_t d = jd_replay_pop(sd);
        jd_account_t *ac = sd->sd_ac[d.du_i];
        if (ac->ac_timer_at != d.du_at)
            continue; /* moved on since: indexed again */
        int n = jd_step_timer(sd->sd_step, ac, d.du_at);
        if (jd_replay_keep(rp, sd, d.du_i, n, d.du_at) < 0)
            return -1;
    }
    return 0;
}

/* One event: the clock moves, due timers fire, then the event is applied
 * and decided on both sides. */
static int jd_replay_event(jd_replay_t *rp, const jd_event_t *ev)
{
    long i = jd_replay_account(rp, ev->ev_account);
    int64_t c = ev->ev_occurred_at - rp->rp_late;
    if (i < 0)
        return -1;
    if (rp->rp_clock == JD_SIGNALS_NO_TS || c > rp->rp_clock)
        rp->rp_clock = c;
    for (int s = 0; s < 2; s++) {
        jd_side_t *sd = &rp->rp_side[s];
        jd_account_t *ac = sd->sd_ac[i];
        if (rp->rp_cf->cf_timers_enabled && jd_replay_fire(rp, sd) < 0)
            return -1;
        int64_t before = ac->ac_timer_at;
        if (jd_replay_keep(rp, sd, (size_t)i, jd_step_event(sd->sd_step, ac, ev), before) < 0)
            return -1;
    }
    return 0;
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
    size_t cap = jd_rules_count(rp->rp_side[0].sd_rs) + jd_rules_count(rp->rp_side[1].sd_rs) + 1, nrc = 0;
    jd_rule_count_t *rc = calloc(cap, sizeof *rc);

    if (!rc)
        return -1;
    /* every rule of both sets, new first, even without triggers */
    for (int s = 0; s < 2; s++)
        for (size_t r = 0; r < jd_rules_count(rp->rp_side[s].sd_rs); r++)
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

static int jd_replay_setup(jd_replay_t *rp, jd_err_t *err)
{
    int64_t tick = (int64_t)rp->rp_cf->cf_timers_tick_s * 1000;
    rp->rp_late = (int64_t)rp->rp_cf->cf_timers_lateness_s * 1000;
    rp->rp_clock = JD_SIGNALS_NO_TS;
    jd_config_account(rp->rp_cf, &rp->rp_acf, &rp->rp_sgc);
    jd_arena_init(&rp->rp_arena, 256 * 1024);
    const jd_ruleset_t *rs[2] = {rp->rp_o->rp_new, rp->rp_o->rp_base};
    for (int s = 0; s < 2; s++) {
        rp->rp_side[s].sd_rs = rs[s];
        if (!(rp->rp_side[s].sd_step = jd_step_new(rs[s], &rp->rp_acf, tick)))
            return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    }
    if (jd_replay_grow(rp) < 0)
        return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    return 0;
}

static void jd_replay_teardown(jd_replay_t *rp)
{
    jd_decoder_destroy(rp->rp_dec);
    jd_arena_destroy(&rp->rp_arena);
    for (int s = 0; s < 2; s++) {
        jd_side_t *sd = &rp->rp_side[s];
        for (size_t i = 0; sd->sd_ac && i < rp->rp_nacct; i++)
            jd_account_destroy(sd->sd_ac[i]);
        free(sd->sd_ac);
        free(sd->sd_heap);
        free(sd->sd_trs);
        jd_step_destroy(sd->sd_step);
    }
    for (size_t i = 0; i < rp->rp_nacct; i++)
        free(rp->rp_names[i]);
    free(rp->rp_names);
    free(rp->rp_slots);
}

/* Reads and processes the whole source; counts undecodable messages. The
 * arena (decoded strings) is reset every --batch events. */
static int jd_replay_loop(jd_replay_t *rp, jd_replay_src_t *src, size_t *bad, jd_err_t *err)
{
    size_t n = 0;
    long len;
    const void *buf;

    while ((len = jd_replay_src_next(src, &buf, err)) != 0) {
        jd_err_t derr;
        jd_event_t ev;
        if (len < 0)
            return err->err_class ? err->err_class : JD_ERR_FATAL;
        if (jd_decoder_decode(rp->rp_dec, buf, (size_t)len, &rp->rp_arena, &ev, &derr)) {
            (*bad)++;
            continue;
        }
        rp->rp_events++;
        if (jd_replay_event(rp, &ev) < 0)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
        if (++n == rp->rp_o->rp_batch) {
            jd_arena_reset(&rp->rp_arena);
            n = 0;
        }
    }
    for (int s = 0; s < 2 && rp->rp_cf->cf_timers_enabled; s++)
        if (jd_replay_fire(rp, &rp->rp_side[s]) < 0)
            return jd_err_set(err, JD_ERR_FATAL, JD_E_NOMEM, "out of memory");
    return 0;
}

int jd_replay_run(const jd_config_t *cf, const jd_replay_opts_t *ro, FILE *out,
                  jd_replay_result_t *res, jd_err_t *err)
{
    jd_replay_t rp;
    jd_replay_src_t *src = NULL;
    size_t bad = 0;
    int rc;

    memset(&rp, 0, sizeof rp);
    memset(res, 0, sizeof *res);
    rp.rp_cf = cf;
    rp.rp_o = ro;
    rc = jd_replay_setup(&rp, err);
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
