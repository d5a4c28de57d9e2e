/*
 * jd_bench_micro: micro-benchmarks of journeyd's stages, on journeyd_core's
 * own functions (never copies):
 *
 *   decode  jd_decoder_decode of jd_sim product events (Confluent-framed, as
 *           `journeyd simulate` writes them) into a per-batch arena, one
 *           thread: ns/event, events/s on one core, heap allocations per
 *           event (counted by interposing malloc, jd_bench_malloc.c).
 *   rules   jd_signals_derive + jd_rules_decide of the default rules over
 *           10k accounts: ns/account, on a firing pass (fresh rule
 *           states, triggers built) and on steady passes (nothing new).
 *   engine  the state engine's per-event step (jd_bench_engine.c):
 *           jd_step_event on in-memory account records, jd_sim events
 *           of 10k accounts: ns/event, mallocs/event, heap per account.
 *   state   jd_state_apply, the per-batch aggregation into Redis (one
 *           EVALSHA of apply.lua per account, pipelined), on jd_sim
 *           batches of pipeline.batch_size, by day of account history:
 *           wall and Redis time per account, split by Redis command (from
 *           INFO commandstats: the script's own Lua time is EVALSHA's time
 *           minus the commands it ran). Needs --redis.
 *   window  a what-if on Redis itself, not journeyd code: the 1d/7d/28d
 *           distinct-user counts as apply.lua computes them (SCARD + two
 *           SUNIONs over per-day sets) against a per-account sorted set
 *           user -> last active day read with three ZCOUNTs. Needs --redis.
 *
 * The batch grouping of the state bench (a small hash table here) only
 * prepares jd_state_apply's input and is outside the timed part; the
 * pipeline's own grouping is static in jd_pipeline.c.
 *
 * --smoke runs decode, rules and engine with a few iterations (ctest runs it: it
 * checks that the code runs, never how fast). One JSON line per bench.
 * Main thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "jd_bench.h"
#include "jd_cli.h"
#include "jd_rules.h"
#include "jd_signals.h"
#include "jd_state.h"

#ifdef JD_BENCH_COUNT_MALLOC
extern uint64_t jd_bench_malloc_count;
#define JD_BENCH_MALLOCS() __atomic_load_n(&jd_bench_malloc_count, __ATOMIC_RELAXED)
#else
#define JD_BENCH_MALLOCS() UINT64_C(0)
#endif

#define JD_BENCH_DAY_MS 86400000LL

static const char *jd_bench_m_smoke, *jd_bench_m_only, *jd_bench_m_events, *jd_bench_m_flush,
    *jd_bench_m_accounts, *jd_bench_m_days;
static const jd_cli_flag_t jd_bench_m_flags[] = {
    {"smoke", 0, &jd_bench_m_smoke, "a few iterations only (ctest)"},
    {"only", 1, &jd_bench_m_only, "comma-separated: decode,rules,engine,state,window"},
    {"events", 1, &jd_bench_m_events, "decode: events (default 200000)"},
    {"accounts", 1, &jd_bench_m_accounts, "state: simulated accounts (default 300)"},
    {"days", 1, &jd_bench_m_days, "state: simulated days (default 30)"},
    {"flush", 0, &jd_bench_m_flush, "state/window: FLUSHALL Redis first"},
};
#define JD_BENCH_M_NFLAGS (sizeof jd_bench_m_flags / sizeof *jd_bench_m_flags)

static int jd_bench_m_want(const char *name)
{
    if (!jd_bench_m_only)
        return !jd_bench_m_smoke || !strcmp(name, "decode") || !strcmp(name, "rules") ||
               !strcmp(name, "engine");
    size_t n = strlen(name);
    for (const char *p = jd_bench_m_only; (p = strstr(p, name)); p += n)
        if ((p == jd_bench_m_only || p[-1] == ',') && (p[n] == ',' || !p[n]))
            return 1;
    return 0;
}

/* ---- decode ----------------------------------------------------------------- */

/* n encoded events, back to back in one buffer. */
typedef struct jd_bench_corpus {
    unsigned char *co_data;
    size_t        *co_off;   /* n + 1 offsets */
    size_t         co_n;
} jd_bench_corpus_t;

static int jd_bench_corpus_build(jd_bench_corpus_t *co, const jd_config_t *cf, size_t n)
{
    jd_bench_gen_t g;
    jd_encoder_t *enc;
    jd_buf_t buf = {0};
    jd_event_t ev;
    jd_err_t err;
    size_t cap = n * 128, len = 0;
    memset(co, 0, sizeof *co);
    co->co_data = malloc(cap);
    co->co_off = malloc((n + 1) * sizeof *co->co_off);
    if (!co->co_data || !co->co_off || !(enc = jd_encoder_new(&err)))
        return -1;
    if (jd_bench_gen_init(&g, JD_BENCH_GEN_SIM, 2000, 30, 42, 0)) {
        jd_encoder_destroy(enc);
        return -1;
    }
    while (co->co_n < n && jd_bench_gen_next(&g, &ev) == 1 &&
           !jd_encoder_event(enc, &ev, cf->cf_product_schema_id, &buf, &err)) {
        if (len + buf.b_len > cap) {
            unsigned char *nd = realloc(co->co_data, cap *= 2);
            if (!nd)
                break;
            co->co_data = nd;
        }
        co->co_off[co->co_n++] = len;
        memcpy(co->co_data + len, buf.b_data, buf.b_len);
        len += buf.b_len;
    }
    co->co_off[co->co_n] = len;
    jd_buf_free(&buf);
    jd_encoder_destroy(enc);
    jd_bench_gen_free(&g);
    return co->co_n == n ? 0 : -1;
}

/* One pass over the corpus; returns decode errors. */
static size_t jd_bench_decode_pass(jd_decoder_t *dec, const jd_bench_corpus_t *co,
                                   jd_arena_t *ar, size_t batch)
{
    jd_event_t ev;
    jd_err_t err;
    size_t bad = 0;
    for (size_t i = 0; i < co->co_n; i++) {
        if (i % batch == 0)
            jd_arena_reset(ar);
        bad += jd_decoder_decode(dec, co->co_data + co->co_off[i],
                                 co->co_off[i + 1] - co->co_off[i], ar, &ev, &err) != 0;
    }
    return bad;
}

static int jd_bench_micro_decode(const jd_config_t *cf, size_t n, int reps)
{
    jd_bench_corpus_t co;
    jd_bench_json_t js;
    jd_arena_t ar;
    jd_decoder_t *dec = jd_bench_decoder(cf);
    double best = 1e30, *ns = calloc((size_t)reps, sizeof *ns);
    size_t bad = 0, batch = (size_t)cf->cf_batch_size;

    if (!dec || !ns || jd_bench_corpus_build(&co, cf, n)) {
        fprintf(stderr, "bench micro: decode set-up failed\n");
        return 1;
    }
    jd_arena_init(&ar, 256 * 1024);
    jd_bench_decode_pass(dec, &co, &ar, batch); /* warm-up: arena, caches */
    uint64_t m0 = JD_BENCH_MALLOCS();
    for (int r = 0; r < reps; r++) {
        double t0 = jd_bench_now();
        bad += jd_bench_decode_pass(dec, &co, &ar, batch);
        ns[r] = (jd_bench_now() - t0) * 1e9 / (double)co.co_n;
        best = ns[r] < best ? ns[r] : best;
    }
    uint64_t mallocs = JD_BENCH_MALLOCS() - m0;
    double med = jd_bench_quantile(ns, (size_t)reps, 0.5);
    jd_bench_json_begin(&js, "micro_decode", "");
    jd_bench_json_int(&js, "events", (long long)co.co_n);
    jd_bench_json_num(&js, "bytes_per_event", (double)co.co_off[co.co_n] / (double)co.co_n);
    jd_bench_json_num(&js, "ns_per_event", med);
    jd_bench_json_num(&js, "ns_per_event_best", best);
    jd_bench_json_num(&js, "events_per_s_one_core", 1e9 / med);
#ifdef JD_BENCH_COUNT_MALLOC
    jd_bench_json_num(&js, "mallocs_per_event", (double)mallocs / ((double)co.co_n * reps));
#else
    (void)mallocs;
    jd_bench_json_num(&js, "mallocs_per_event", -1);
#endif
    jd_bench_json_int(&js, "decode_errors", (long long)bad);
    jd_bench_json_end(&js);
    jd_arena_destroy(&ar);
    jd_decoder_destroy(dec);
    free(co.co_data);
    free(co.co_off);
    free(ns);
    return bad ? 1 : 0;
}

/* ---- rules ---------------------------------------------------------------- */

/* Sets signal `name` when this build has it (the signal table grows). */
static void jd_bench_sig(jd_signals_t *sg, const char *name, double v)
{
    int id = jd_signals_lookup(name, strlen(name));
    if (id >= 0)
        jd_signals_set_num(sg, (jd_signal_id_t)id, v);
}

/* Signals of synthetic account i, set through the public setters: a spread
 * of utilizations, ages, renewal distances and first values, so every
 * default rule takes both branches. */
static void jd_bench_signals(jd_signals_t *sg, size_t i)
{
    const double t = 1793491200000.0 + (double)i * 1000, day = 86400000.0;
    double seats = 10 + (double)(i % 40), u28 = (double)(i % 50);
    int id;
    jd_signals_clear(sg);
    jd_bench_sig(sg, "as_of", t);
    jd_bench_sig(sg, "last_event_at", t);
    jd_bench_sig(sg, "active_users_28d", u28);
    jd_bench_sig(sg, "active_users_7d", u28 * 3 / 4);
    jd_bench_sig(sg, "active_users_1d", u28 / 3);
    jd_bench_sig(sg, "seats", seats);
    jd_bench_sig(sg, "utilization", u28 / seats);
    jd_bench_sig(sg, "start_at", t - (double)(i % 90) * day);
    jd_bench_sig(sg, "days_since_start", (double)(i % 90));
    if (i % 10) {
        jd_bench_sig(sg, "first_value_at", t - (double)(i % 90) * day + day);
        jd_bench_sig(sg, "ttfv_days", 1);
    }
    jd_bench_sig(sg, "renewal_at", t + (double)(i % 300) * day);
    jd_bench_sig(sg, "days_to_renewal", (double)(i % 300));
    if ((id = jd_signals_lookup("segment", 7)) >= 0)
        jd_signals_set_str(sg, (jd_signal_id_t)id, i % 3 ? "smb" : "enterprise");
}

typedef struct jd_bench_rules {
    const jd_ruleset_t *br_rs;
    size_t              br_n, br_rules;
    jd_signals_t       *br_sg;
    jd_rule_state_t    *br_st;
    unsigned char      *br_changed;
    jd_trigger_t       *br_out;
    char              **br_acct;
} jd_bench_rules_t;

/* One pass of jd_rules_decide over every account; returns triggers. */
static size_t jd_bench_rules_pass(jd_bench_rules_t *br)
{
    size_t fired = 0;
    for (size_t i = 0; i < br->br_n; i++)
        fired += jd_rules_decide(br->br_rs, br->br_acct[i], &br->br_sg[i],
                                 &br->br_st[i * br->br_rules], &br->br_changed[i * br->br_rules],
                                 br->br_out, br->br_rules);
    return fired;
}

static void jd_bench_rules_fill(jd_bench_rules_t *br)
{
    for (size_t i = 0; i < br->br_n; i++) {
        br->br_acct[i] = malloc(32);
        if (br->br_acct[i])
            snprintf(br->br_acct[i], 32, "acct-%06zu", i);
        jd_bench_signals(&br->br_sg[i], i);
    }
}

static int jd_bench_micro_rules(const jd_ruleset_t *rs, size_t n, int reps)
{
    jd_bench_rules_t br = {rs, n, jd_rules_count(rs), NULL, NULL, NULL, NULL, NULL};
    jd_bench_json_t js;
    br.br_sg = calloc(n, sizeof *br.br_sg);
    br.br_st = calloc(n * br.br_rules, sizeof *br.br_st);
    br.br_changed = calloc(n * br.br_rules, 1);
    br.br_out = calloc(br.br_rules, sizeof *br.br_out);
    br.br_acct = calloc(n, sizeof *br.br_acct);
    if (!br.br_sg || !br.br_st || !br.br_changed || !br.br_out || !br.br_acct)
        return 1;
    jd_bench_rules_fill(&br);
    double t0 = jd_bench_now();
    size_t fired = jd_bench_rules_pass(&br);
    double first_ns = (jd_bench_now() - t0) * 1e9 / (double)n;
    double *ns = calloc((size_t)reps, sizeof *ns);
    for (int r = 0; ns && r < reps; r++) {
        t0 = jd_bench_now();
        jd_bench_rules_pass(&br);
        ns[r] = (jd_bench_now() - t0) * 1e9 / (double)n;
    }
    jd_bench_json_begin(&js, "micro_rules", "");
    jd_bench_json_int(&js, "accounts", (long long)n);
    jd_bench_json_int(&js, "rules", (long long)br.br_rules);
    jd_bench_json_num(&js, "firing_pass_ns_per_account", first_ns);
    jd_bench_json_num(&js, "fired_per_account", (double)fired / (double)n);
    jd_bench_json_num(&js, "steady_ns_per_account", ns ? jd_bench_quantile(ns, (size_t)reps, 0.5) : 0);
    jd_bench_json_end(&js);
    for (size_t i = 0; i < n; i++)
        free(br.br_acct[i]);
    free(br.br_acct);
    free(br.br_sg);
    free(br.br_st);
    free(br.br_changed);
    free(br.br_out);
    free(ns);
    return fired ? 0 : 1;
}

/* ---- state ------------------------------------------------------------------ */

/* A batch of events copied into an arena, grouped by account. */
typedef struct jd_bench_batch {
    jd_arena_t          bb_ar;
    jd_event_t         *bb_ev;
    const jd_event_t  **bb_sorted;
    size_t             *bb_acct;     /* event -> account index */
    jd_account_batch_t *bb_abs;
    size_t             *bb_slots;
    size_t              bb_n, bb_naccts, bb_cap, bb_nslots;
    jd_rule_state_t    *bb_states;
} jd_bench_batch_t;

static void jd_bench_batch_add(jd_bench_batch_t *bb, const jd_event_t *src)
{
    jd_bench_event_copy(&bb->bb_ar, &bb->bb_ev[bb->bb_n++], src);
}

static size_t jd_bench_batch_account(jd_bench_batch_t *bb, const char *acct)
{
    size_t mask = bb->bb_nslots - 1, h = (size_t)XXH3_64bits(acct, strlen(acct)) & mask;
    for (;; h = (h + 1) & mask) {
        size_t s = bb->bb_slots[h];
        if (!s) {
            size_t a = bb->bb_naccts++;
            bb->bb_slots[h] = a + 1;
            memset(&bb->bb_abs[a], 0, sizeof bb->bb_abs[a]);
            bb->bb_abs[a].ab_account = acct;
            return a;
        }
        if (!strcmp(bb->bb_abs[s - 1].ab_account, acct))
            return s - 1;
    }
}

/* Counting sort by account, arrival order kept (as jd_pipeline does). */
static void jd_bench_batch_group(jd_bench_batch_t *bb, size_t rule_cnt)
{
    size_t off = 0;
    memset(bb->bb_slots, 0, bb->bb_nslots * sizeof *bb->bb_slots);
    bb->bb_naccts = 0;
    for (size_t i = 0; i < bb->bb_n; i++) {
        bb->bb_acct[i] = jd_bench_batch_account(bb, bb->bb_ev[i].ev_account);
        bb->bb_abs[bb->bb_acct[i]].ab_event_cnt++;
    }
    for (size_t a = 0; a < bb->bb_naccts; a++) {
        bb->bb_abs[a].ab_events = &bb->bb_sorted[off];
        bb->bb_abs[a].ab_rule_states = &bb->bb_states[a * rule_cnt];
        off += bb->bb_abs[a].ab_event_cnt;
        bb->bb_abs[a].ab_event_cnt = 0;
    }
    for (size_t i = 0; i < bb->bb_n; i++) {
        jd_account_batch_t *ab = &bb->bb_abs[bb->bb_acct[i]];
        ((const jd_event_t **)ab->ab_events)[ab->ab_event_cnt++] = &bb->bb_ev[i];
    }
}

static int jd_bench_batch_init(jd_bench_batch_t *bb, size_t cap, size_t rule_cnt)
{
    memset(bb, 0, sizeof *bb);
    bb->bb_cap = cap;
    for (bb->bb_nslots = 1; bb->bb_nslots < 2 * cap; bb->bb_nslots <<= 1)
        ;
    jd_arena_init(&bb->bb_ar, 256 * 1024);
    bb->bb_ev = calloc(cap, sizeof *bb->bb_ev);
    bb->bb_sorted = calloc(cap, sizeof *bb->bb_sorted);
    bb->bb_acct = calloc(cap, sizeof *bb->bb_acct);
    bb->bb_abs = calloc(cap, sizeof *bb->bb_abs);
    bb->bb_slots = calloc(bb->bb_nslots, sizeof *bb->bb_slots);
    bb->bb_states = calloc(cap * (rule_cnt ? rule_cnt : 1), sizeof *bb->bb_states);
    return bb->bb_ev && bb->bb_sorted && bb->bb_acct && bb->bb_abs && bb->bb_slots &&
                   bb->bb_states ? 0 : -1;
}

static void jd_bench_batch_free(jd_bench_batch_t *bb)
{
    jd_arena_destroy(&bb->bb_ar);
    free(bb->bb_ev);
    free(bb->bb_sorted);
    free(bb->bb_acct);
    free(bb->bb_abs);
    free(bb->bb_slots);
    free(bb->bb_states);
}

/* Per history day: totals over the batches whose last event is that day. */
typedef struct jd_bench_day {
    uint64_t dy_batches, dy_events, dy_accounts;
    double   dy_wall_us;
    jd_bench_rstat_t dy_delta;   /* INFO counters summed over the batches */
} jd_bench_day_t;

/* acc += b - a, command by command. */
static void jd_bench_rstat_accumulate(jd_bench_rstat_t *acc, const jd_bench_rstat_t *a,
                                      const jd_bench_rstat_t *b)
{
    for (size_t i = 0; i < b->rs_n; i++) {
        size_t j, k;
        for (j = 0; j < a->rs_n && strcmp(a->rs_name[j], b->rs_name[i]); j++)
            ;
        for (k = 0; k < acc->rs_n && strcmp(acc->rs_name[k], b->rs_name[i]); k++)
            ;
        if (k == JD_BENCH_MAX_CMDS)
            continue;
        if (k == acc->rs_n)
            snprintf(acc->rs_name[acc->rs_n++], sizeof acc->rs_name[0], "%s", b->rs_name[i]);
        acc->rs_calls[k] += b->rs_calls[i] - (j < a->rs_n ? a->rs_calls[j] : 0);
        acc->rs_usec[k] += b->rs_usec[i] - (j < a->rs_n ? a->rs_usec[j] : 0);
    }
}

static double jd_bench_usec(const jd_bench_rstat_t *d, const char *n)
{
    for (size_t i = 0; i < d->rs_n; i++)
        if (!strcmp(d->rs_name[i], n))
            return (double)d->rs_usec[i];
    return 0;
}

/* One day's JSON: [day, batches, events/account, wall us/account, Redis us
 * per account for EVALSHA, SUNION, SADD, the rest of the nested commands,
 * and the script's own Lua time]. */
static size_t jd_bench_day_json(const jd_bench_day_t *d, int day, char *buf, size_t cap)
{
    static const char *const skip[] = {"evalsha", "info", "flushall", "script|load", "ping"};
    double acc = d->dy_accounts ? (double)d->dy_accounts : 1, nested = 0;
    const jd_bench_rstat_t *r = &d->dy_delta;
    for (size_t i = 0; i < r->rs_n; i++) {
        int s = 0;
        for (size_t k = 0; k < sizeof skip / sizeof *skip; k++)
            s |= !strcmp(r->rs_name[i], skip[k]);
        if (!s)
            nested += (double)r->rs_usec[i];
    }
    double ev = jd_bench_usec(r, "evalsha");
    double su = jd_bench_usec(r, "sunion");
    double sa = jd_bench_usec(r, "sadd");
    return (size_t)snprintf(buf, cap, "[%d,%llu,%.2f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f]", day,
                            (unsigned long long)d->dy_batches, (double)d->dy_events / acc,
                            d->dy_wall_us / acc, ev / acc, su / acc, sa / acc,
                            (nested - su - sa) / acc, (ev - nested) / acc);
}

static int jd_bench_state_batch(jd_state_t *st, redisContext *rc, jd_bench_batch_t *bb,
                                const char *const *rule_ids, size_t rule_cnt,
                                jd_bench_day_t *d)
{
    jd_bench_rstat_t r0, r1;
    jd_err_t err;
    jd_bench_batch_group(bb, rule_cnt);
    if (jd_bench_rstat_take(rc, &r0))
        return -1;
    double t0 = jd_bench_now();
    if (jd_state_apply(st, bb->bb_abs, bb->bb_naccts, rule_ids, rule_cnt, &err)) {
        fprintf(stderr, "bench micro: apply: %s\n", err.err_msg);
        return -1;
    }
    d->dy_wall_us += (jd_bench_now() - t0) * 1e6;
    if (jd_bench_rstat_take(rc, &r1))
        return -1;
    jd_bench_rstat_accumulate(&d->dy_delta, &r0, &r1);
    d->dy_batches++;
    d->dy_events += bb->bb_n;
    d->dy_accounts += bb->bb_naccts;
    return 0;
}

typedef struct jd_bench_sctx {
    jd_state_t         *sx_st;
    redisContext       *sx_rc;
    const char *const  *sx_ids;
    size_t              sx_rules;
    jd_bench_day_t     *sx_days;
    int                 sx_ndays;
    int64_t             sx_t0;
} jd_bench_sctx_t;

/* Feeds the simulation through jd_state_apply in batches. */
static int jd_bench_state_feed(jd_bench_sctx_t *sx, jd_bench_gen_t *g, size_t batch)
{
    jd_bench_batch_t bb;
    jd_event_t ev;
    int rc = 0;
    if (jd_bench_batch_init(&bb, batch, sx->sx_rules))
        return -1;
    for (int more = 1; more && !rc;) {
        jd_arena_reset(&bb.bb_ar);
        bb.bb_n = 0;
        while (bb.bb_n < batch && (more = jd_bench_gen_next(g, &ev)) == 1)
            jd_bench_batch_add(&bb, &ev);
        if (!bb.bb_n)
            break;
        int day = (int)((bb.bb_ev[bb.bb_n - 1].ev_occurred_at - sx->sx_t0) / JD_BENCH_DAY_MS);
        day = day < 0 ? 0 : day >= sx->sx_ndays ? sx->sx_ndays - 1 : day;
        rc = jd_bench_state_batch(sx->sx_st, sx->sx_rc, &bb, sx->sx_ids, sx->sx_rules,
                                  &sx->sx_days[day]);
    }
    jd_bench_batch_free(&bb);
    return rc;
}

static void jd_bench_state_report(const jd_bench_sctx_t *sx, int accounts, size_t batch)
{
    char *buf = malloc(65536);
    jd_bench_json_t js;
    size_t n = 0;
    if (!buf)
        return;
    n += (size_t)snprintf(buf, 65536, "[");
    for (int d = 0; d < sx->sx_ndays && n < 60000; d++) {
        if (!sx->sx_days[d].dy_batches)
            continue;
        n += (size_t)snprintf(buf + n, 65536 - n, "%s", n > 1 ? "," : "");
        n += jd_bench_day_json(&sx->sx_days[d], d, buf + n, 65536 - n);
    }
    snprintf(buf + n, 65536 - n, "]");
    jd_bench_json_begin(&js, "micro_state", "");
    jd_bench_json_int(&js, "accounts", accounts);
    jd_bench_json_int(&js, "batch_size", (long long)batch);
    jd_bench_json_str(&js, "columns", "day,batches,events_per_account,wall_us_per_account,"
                                      "evalsha_us,sunion_us,sadd_us,other_cmds_us,lua_us");
    jd_bench_json_raw(&js, "by_day", buf);
    jd_bench_json_end(&js);
    free(buf);
}

static int jd_bench_micro_state(const jd_config_t *cf, const jd_ruleset_t *rs, int accounts,
                                int days)
{
    jd_state_conf_t sc;
    jd_bench_sctx_t sx;
    jd_bench_gen_t g;
    jd_err_t err;
    int rc = 1;

    memset(&sx, 0, sizeof sx);
    jd_config_state(cf, &sc);
    sc.sc_prefix = "jdmicro";
    sx.sx_rules = jd_rules_count(rs);
    const char **ids = calloc(sx.sx_rules + 1, sizeof *ids);
    for (size_t i = 0; ids && i < sx.sx_rules; i++)
        ids[i] = jd_rule_id(jd_rules_at(rs, i));
    sx.sx_ids = ids;
    sx.sx_ndays = days;
    sx.sx_days = calloc((size_t)days, sizeof *sx.sx_days);
    if (!ids || !sx.sx_days || !(sx.sx_rc = jd_bench_redis_connect(cf)) ||
        !(sx.sx_st = jd_state_new(&sc, &err)) ||
        jd_bench_gen_init(&g, JD_BENCH_GEN_SIM, accounts, days, 42, 0)) {
        fprintf(stderr, "bench micro: state set-up failed\n");
    } else {
        jd_sim_conf_t sm;
        jd_sim_conf_default(&sm);
        sx.sx_t0 = sm.sm_end_ms - (int64_t)days * JD_BENCH_DAY_MS;
        if (jd_bench_state_feed(&sx, &g, (size_t)cf->cf_batch_size) == 0) {
            jd_bench_state_report(&sx, accounts, (size_t)cf->cf_batch_size);
            rc = 0;
        }
        jd_bench_gen_free(&g);
    }
    jd_state_destroy(sx.sx_st);
    redisFree(sx.sx_rc);
    free(sx.sx_days);
    free(ids);
    return rc;
}

/* ---- window (what-if on Redis primitives) ---------------------------------- */

static const char *jd_bench_sunion_lua =
    "local n = 0\n"
    "for i = 1, tonumber(ARGV[1]) do\n"
    "  n = n + redis.call('SCARD', KEYS[1])\n"
    "  n = n + #redis.call('SUNION', unpack(KEYS, 1, 7))\n"
    "  n = n + #redis.call('SUNION', unpack(KEYS, 1, 28))\n"
    "end\n"
    "return n\n";

static const char *jd_bench_zcount_lua =
    "local n = 0\n"
    "for i = 1, tonumber(ARGV[1]) do\n"
    "  n = n + redis.call('ZCOUNT', KEYS[1], ARGV[2], '+inf')\n"
    "  n = n + redis.call('ZCOUNT', KEYS[1], ARGV[3], '+inf')\n"
    "  n = n + redis.call('ZCOUNT', KEYS[1], ARGV[4], '+inf')\n"
    "end\n"
    "return n\n";

/* 28 day sets of a 40-seat account (about 24 of 60 users a day) and the
 * equivalent zset user -> last active day. */
static void jd_bench_window_fill(redisContext *rc)
{
    for (int d = 0; d < 28; d++)
        for (int u = 0; u < 60; u++)
            if ((u * 7 + d * 13) % 10 < 4) {
                redisAppendCommand(rc, "SADD jdmicro:w:u:%d user-%03d", d, u);
                redisAppendCommand(rc, "ZADD jdmicro:w:z GT %d user-%03d", 100 - d, u);
            }
    for (int d = 0; d < 28; d++)
        for (int u = 0; u < 60; u++)
            if ((u * 7 + d * 13) % 10 < 4) {
                void *r;
                for (int k = 0; k < 2; k++)
                    if (redisGetReply(rc, &r) == REDIS_OK)
                        freeReplyObject(r);
            }
}

static double jd_bench_window_time(redisContext *rc, int sunion, int iters, long long *out)
{
    double t0 = jd_bench_now();
    redisReply *r;
    if (sunion) {
        const char *argv[32];
        char keys[28][32], it[16];
        argv[0] = "EVAL";
        argv[1] = jd_bench_sunion_lua;
        argv[2] = "28";
        for (int d = 0; d < 28; d++) {
            snprintf(keys[d], sizeof keys[d], "jdmicro:w:u:%d", d);
            argv[3 + d] = keys[d];
        }
        snprintf(it, sizeof it, "%d", iters);
        argv[31] = it;
        r = redisCommandArgv(rc, 32, argv, NULL);
    } else {
        r = redisCommand(rc, "EVAL %s 1 jdmicro:w:z %d 100 94 73", jd_bench_zcount_lua, iters);
    }
    double us = (jd_bench_now() - t0) * 1e6 / iters;
    *out = r && r->type == REDIS_REPLY_INTEGER ? r->integer / iters : -1;
    if (r)
        freeReplyObject(r);
    return us;
}

static int jd_bench_micro_window(const jd_config_t *cf, int iters)
{
    jd_bench_json_t js;
    long long n_sunion, n_zcount;
    redisContext *rc = jd_bench_redis_connect(cf);
    if (!rc)
        return 1;
    jd_bench_window_fill(rc);
    jd_bench_window_time(rc, 1, 10, &n_sunion);
    double us_sunion = jd_bench_window_time(rc, 1, iters, &n_sunion);
    double us_zcount = jd_bench_window_time(rc, 0, iters, &n_zcount);
    redisReply *r = redisCommand(rc, "EVAL %s 0", "for _, k in ipairs(redis.call('KEYS', "
                                                  "'jdmicro:w:*')) do redis.call('DEL', k) end");
    if (r)
        freeReplyObject(r);
    jd_bench_json_begin(&js, "micro_window", "");
    jd_bench_json_int(&js, "iterations", iters);
    jd_bench_json_num(&js, "sunion_us_per_account", us_sunion);
    jd_bench_json_num(&js, "zcount_us_per_account", us_zcount);
    jd_bench_json_int(&js, "users_1d_7d_28d_sum_sunion", n_sunion);
    jd_bench_json_int(&js, "users_1d_7d_28d_sum_zcount", n_zcount);
    jd_bench_json_end(&js);
    redisFree(rc);
    return n_sunion == n_zcount ? 0 : 1;
}

/* ---- main ------------------------------------------------------------------ */

static int jd_bench_micro_all(jd_cli_t *cli, jd_ruleset_t *rs)
{
    int smoke = jd_bench_m_smoke != NULL, rc = 0;
    long long events = jd_bench_m_events ? jd_cli_number("events", jd_bench_m_events)
                                         : smoke ? 2000 : 200000;
    long long accounts = jd_bench_m_accounts ? jd_cli_number("accounts", jd_bench_m_accounts)
                                             : 300;
    long long days = jd_bench_m_days ? jd_cli_number("days", jd_bench_m_days) : 30;
    if (events < 1 || accounts < 1 || days < 1)
        return 2;
    if (jd_bench_m_flush && (jd_bench_m_want("state") || jd_bench_m_want("window"))) {
        redisContext *rc = jd_bench_redis_connect(cli->cl_cf);
        redisReply *r = rc ? redisCommand(rc, "FLUSHALL") : NULL;
        if (r)
            freeReplyObject(r);
        redisFree(rc);
    }
    if (jd_bench_m_want("decode"))
        rc |= jd_bench_micro_decode(cli->cl_cf, (size_t)events, smoke ? 2 : 7);
    if (jd_bench_m_want("rules"))
        rc |= jd_bench_micro_rules(rs, smoke ? 200 : 10000, smoke ? 2 : 7);
    if (jd_bench_m_want("engine"))
        rc |= jd_bench_micro_engine(cli->cl_cf, rs, smoke ? 200 : 10000, (int)days,
                                    smoke ? (size_t)5000 : (size_t)events * 2);
    if (jd_bench_m_want("state"))
        rc |= jd_bench_micro_state(cli->cl_cf, rs, (int)accounts, (int)days);
    if (jd_bench_m_want("window"))
        rc |= jd_bench_micro_window(cli->cl_cf, smoke ? 10 : 2000);
    return rc;
}

int main(int argc, char **argv)
{
    jd_cli_t cli;
    jd_ruleset_t *rs = NULL;
    int rc = 2;
    if (jd_cli_parse(&cli, "bench micro", argc - 1, argv + 1, jd_bench_m_flags,
                     JD_BENCH_M_NFLAGS))
        return 2;
    if (cli.cl_help) {
        jd_cli_usage("bench micro", "[options]",
                     "Micro-benchmarks: decode, rules, state apply (Redis), windows (Redis).",
                     jd_bench_m_flags, JD_BENCH_M_NFLAGS);
        return 0;
    }
    if (!jd_cli_config(&cli) && (rs = jd_cli_rules(&cli)))
        rc = jd_bench_micro_all(&cli, rs);
    jd_rules_destroy(rs);
    jd_cli_free(&cli);
    return rc;
}
